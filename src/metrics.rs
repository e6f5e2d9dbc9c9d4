//! `metrics-listen`: a minimal HTTP/1.0 endpoint serving `GET /metrics` as
//! Prometheus text, for Prometheus, node_exporter's textfile habits and
//! `curl`. It never reads a body. Bounded, so no LAN host can hold it
//! (issue 17, item 9: eight idle connections from one host blocked every
//! scrape):
//! * `metrics-allow`: only these client networks (none listed = anyone
//!   who can reach `metrics-listen`); others are closed at accept;
//! * at most [`MAX_PER_CLIENT`] connections per client address, and
//!   [`MAX_CONNS`] in all;
//! * the request head (at most [`MAX_HEAD`] bytes) must arrive within
//!   [`HEAD_TIMEOUT`] (a scraper sends it at once), the whole exchange
//!   within [`IO_TIMEOUT`]; one request per connection.
//!
//! Refusals are counted (`hamasq_metrics_refused_total`) and logged,
//! rate-limited.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::event;
use crate::task::{Shutdown, TaskError};

pub const MAX_CONNS: usize = 8;
pub const MAX_PER_CLIENT: usize = 2;
pub const MAX_HEAD: usize = 4096;
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One `metrics-allow` entry: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Net {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// `ADDR` or `ADDR/PREFIX`, IPv4 or IPv6 (a `metrics-allow` value).
pub fn parse_net(v: &str) -> Result<Net, String> {
    let (a, p) = v.split_once('/').map_or((v, None), |(a, p)| (a, Some(p)));
    let addr: IpAddr = a
        .trim()
        .parse()
        .map_err(|_| format!("{a:?} is not an IP address; expected ADDR or ADDR/PREFIX"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        None => max,
        Some(p) => p
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("prefix {p:?} is not 0 to {max}"))?,
    };
    Ok(Net { addr, prefix })
}

/// Why a connection was closed at accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotAllowed,
    PerClient,
    Busy,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotAllowed => "not in metrics-allow",
            Refusal::PerClient => "too many connections from this address",
            Refusal::Busy => "too many connections",
        }
    }
}

/// Who may connect now: the allow-list and the open connections per
/// client address. Pure; the listener holds it behind a mutex because
/// each connection task gives its slot back when it ends.
#[derive(Debug, Default)]
pub struct Admission {
    allow: Vec<Net>,
    open: HashMap<IpAddr, usize>,
    total: usize,
}

impl Admission {
    pub fn new(allow: Vec<Net>) -> Admission {
        Admission {
            allow,
            ..Admission::default()
        }
    }

    /// Takes a slot for `peer`, or says why not.
    pub fn admit(&mut self, peer: IpAddr) -> Result<(), Refusal> {
        if !self.allow.is_empty() && !self.allow.iter().any(|n| n.contains(peer)) {
            return Err(Refusal::NotAllowed);
        }
        let n = self.open.get(&peer).copied().unwrap_or(0);
        if n >= MAX_PER_CLIENT {
            return Err(Refusal::PerClient);
        }
        if self.total >= MAX_CONNS {
            return Err(Refusal::Busy);
        }
        self.open.insert(peer, n + 1);
        self.total += 1;
        Ok(())
    }

    /// Gives back the slot [`Admission::admit`] took for `peer`.
    pub fn release(&mut self, peer: IpAddr) {
        if let Some(n) = self.open.get_mut(&peer) {
            *n -= 1;
            if *n == 0 {
                self.open.remove(&peer);
            }
            self.total -= 1;
        }
    }
}

/// Gives a slot back when its connection task ends, however it ends.
struct Slot(Arc<Mutex<Admission>>, IpAddr);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut a) = self.0.lock() {
            a.release(self.1);
        }
    }
}

/// Binds the listener (at start-up, so a busy port fails the start).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, TaskError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| TaskError::new(format!("cannot listen for metrics on {addr}: {e}")))
}

/// Serves until shutdown; `allow` is `metrics-allow`.
pub async fn serve(
    listener: TcpListener,
    allow: Vec<Net>,
    board: crate::status::Board,
    mut shutdown: Shutdown,
) -> Result<(), TaskError> {
    let admission = Arc::new(Mutex::new(Admission::new(allow)));
    let refused = board.registry().counter(
        "hamasq_metrics_refused_total",
        "Metrics connections closed at accept (metrics-allow, per-client or total limit).",
    );
    loop {
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            acc = listener.accept() => match acc {
                Ok((stream, peer)) => {
                    let verdict = admission
                        .lock()
                        .map_err(|_| TaskError::new("metrics admission lock poisoned".to_string()))?
                        .admit(peer.ip());
                    if let Err(why) = verdict {
                        refused.inc();
                        crate::event_limited!(Warn, "metrics.refused", "peer={peer} reason=\"{}\"", why.as_str());
                        continue; // dropping the stream closes it
                    }
                    let slot = Slot(admission.clone(), peer.ip());
                    let board = board.clone();
                    tokio::spawn(async move {
                        let _slot = slot;
                        let _ = tokio::time::timeout(IO_TIMEOUT, handle(stream, &board)).await;
                    });
                }
                // EMFILE and friends: our resource problem; back off and go on.
                Err(e) => {
                    event!(Warn, "metrics.accept_failed", "error=\"{e}\"");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// Reads the request head; `None` when it does not come in time.
async fn read_head(s: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
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
    Ok(n)
}

async fn handle(mut s: TcpStream, board: &crate::status::Board) -> std::io::Result<()> {
    let mut buf = vec![0u8; MAX_HEAD];
    let n = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut s, &mut buf)).await {
        Ok(r) => r?,
        Err(_) => return Ok(()), // idle: close
    };
    let (status, body) = route(&buf[..n], board);
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body.as_bytes()).await?;
    s.shutdown().await
}

/// Pure routing of a request head to `(status line, body)`; the page is
/// the board's.
pub fn route(head: &[u8], board: &crate::status::Board) -> (&'static str, String) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some("GET"), Some("/metrics")) => ("200 OK", board.prometheus()),
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
        let board = crate::status::Board::new(crate::stats::global());
        let route = |head: &[u8]| super::route(head, &board);
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

    #[test]
    fn allow_list_and_per_client_bounds() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // No list: anyone, but two per address and eight in all.
        let mut a = Admission::new(vec![]);
        assert_eq!(a.admit(ip("10.0.0.9")), Ok(()));
        assert_eq!(a.admit(ip("10.0.0.9")), Ok(()));
        assert_eq!(a.admit(ip("10.0.0.9")), Err(Refusal::PerClient));
        for i in 1..=6 {
            assert_eq!(a.admit(ip(&format!("10.0.1.{i}"))), Ok(()));
        }
        assert_eq!(a.admit(ip("10.0.2.1")), Err(Refusal::Busy));
        a.release(ip("10.0.0.9"));
        assert_eq!(a.admit(ip("10.0.2.1")), Ok(()));
        // Releasing what was never admitted changes nothing.
        a.release(ip("10.9.9.9"));
        assert_eq!(a.admit(ip("10.0.2.2")), Err(Refusal::Busy));

        // A list: only its networks (IPv4-mapped IPv6 peers count as IPv4).
        let mut a = Admission::new(vec![
            parse_net("192.168.1.0/24").unwrap(),
            parse_net("fd00::1").unwrap(),
        ]);
        assert_eq!(a.admit(ip("192.168.1.77")), Ok(()));
        assert_eq!(a.admit(ip("::ffff:192.168.1.78")), Ok(()));
        assert_eq!(a.admit(ip("fd00::1")), Ok(()));
        assert_eq!(a.admit(ip("192.168.2.1")), Err(Refusal::NotAllowed));
        assert_eq!(a.admit(ip("fd00::2")), Err(Refusal::NotAllowed));
    }

    #[test]
    fn allow_entries_parse() {
        assert_eq!(
            parse_net("10.0.0.0/8"),
            Ok(Net {
                addr: "10.0.0.0".parse().unwrap(),
                prefix: 8
            })
        );
        assert_eq!(parse_net("10.1.2.3").unwrap().prefix, 32);
        assert_eq!(parse_net("::/0").unwrap().prefix, 0);
        assert!(
            parse_net("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("eth0").is_err());
    }
}
