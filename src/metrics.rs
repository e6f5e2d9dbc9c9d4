//! `metrics-listen`: a minimal HTTP/1.0 endpoint serving `GET /metrics` as
//! Prometheus text, for Prometheus, node_exporter's textfile habits and
//! `curl`. Bounded: at most [`MAX_CONNS`] connections at once, a request
//! head of at most [`MAX_HEAD`] bytes, [`IO_TIMEOUT`] per connection, one
//! request per connection. It never reads a body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::event;
use crate::stats;
use crate::task::{Shutdown, TaskError};

pub const MAX_CONNS: usize = 8;
pub const MAX_HEAD: usize = 4096;
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds the listener (at start-up, so a busy port fails the start).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, TaskError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| TaskError::new(format!("cannot listen for metrics on {addr}: {e}")))
}

/// Serves until shutdown.
pub async fn serve(listener: TcpListener, mut shutdown: Shutdown) -> Result<(), TaskError> {
    let permits = Arc::new(Semaphore::new(MAX_CONNS));
    loop {
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            acc = listener.accept() => match acc {
                Ok((stream, peer)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        crate::event_limited!(Warn, "metrics.busy", "peer={peer} limit={MAX_CONNS}");
                        continue; // dropping the stream closes it
                    };
                    tokio::spawn(async move {
                        let _permit = permit;
                        let _ = tokio::time::timeout(IO_TIMEOUT, handle(stream)).await;
                    });
                }
                // EMFILE and friends: our resource problem; back off and go on.
                Err(e) => {
                    event!(Warn, "metrics.accept_failed", "error={e:?}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

async fn handle(mut s: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut n = 0;
    while n < buf.len() {
        let r = s.read(&mut buf[n..]).await?;
        if r == 0 {
            break;
        }
        n += r;
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n")
            || buf[..n].windows(2).any(|w| w == b"\n\n")
        {
            break;
        }
    }
    let (status, body) = route(&buf[..n]);
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body.as_bytes()).await?;
    s.shutdown().await
}

/// Pure routing of a request head to `(status line, body)`.
pub fn route(head: &[u8]) -> (&'static str, String) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some("GET"), Some("/metrics")) => ("200 OK", stats::global().render_prometheus()),
        (Some("GET"), Some(_)) => ("404 Not Found", "only /metrics is served here\n".into()),
        (Some(_), Some(_)) => ("405 Method Not Allowed", "only GET is served here\n".into()),
        _ => ("400 Bad Request", "bad request\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let (s, body) = route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(s, "200 OK");
        assert!(body.contains("hamasq_build_info"));
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n").0, "404 Not Found");
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n").0,
            "405 Method Not Allowed"
        );
        assert_eq!(route(b"\x00\xff").0, "400 Bad Request");
        assert_eq!(route(b"").0, "400 Bad Request");
    }
}
