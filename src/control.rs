//! The control socket: `hamasq status`, `hamasq leases` and
//! `hamasq log-queries` ask the running daemon over a Unix stream socket
//! (mode 0600: root and the daemon's user only). One request line per
//! connection (`status`, `leases`, `leases delete IP`, `log-queries`,
//! `log-queries on` or `log-queries off`), one text answer, then close. Bounded: a few connections at once, a 64-byte
//! request, 2 s to send it; the answer is read from the status board
//! ([`crate::status::Board`]).

use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use crate::status::{Board, REQUEST_TIME};
use crate::task::{Shutdown, TaskError};
use crate::{event, event_limited};

/// The socket's name in `state-dir` unless `control-socket` says otherwise.
pub const DEFAULT_NAME: &str = "control.sock";
const MAX_CONNECTIONS: usize = 4;
const MAX_REQUEST: usize = 64;

/// Binds the socket (at start-up, after the pid-file lock: a file left by
/// a dead daemon is ours to remove).
pub fn bind(path: &Path) -> Result<UnixListener, String> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_socket() {
            return Err(format!(
                "control-socket {}: exists and is not a socket; remove it or set another path",
                path.display()
            ));
        }
        let _ = std::fs::remove_file(path);
    }
    // Created 0600 by the umask, not chmod'ed after: a chmod by path would
    // follow a symbolic link that the owner of the state directory swapped
    // in between bind and chmod. Start-up is single-threaded here, so the
    // process-wide umask affects nothing else.
    use nix::sys::stat::{Mode, umask};
    let old = umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    umask(old);
    bound.map_err(|e| format!("control-socket {}: cannot listen: {e}", path.display()))
}

/// Serves requests until shutdown, then removes the socket file.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    board: Board,
    mut sd: Shutdown,
) -> Result<(), TaskError> {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            _ = sd.wait() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        continue; // dropped: closed at once
                    };
                    let board = board.clone();
                    tokio::spawn(async move {
                        let _permit = permit;
                        answer(stream, board).await;
                    });
                }
                Err(e) => event_limited!(Warn, "control.accept_failed", "error={}", crate::log::q(e)),
            }
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

async fn answer(mut s: UnixStream, board: Board) {
    let mut req = Vec::with_capacity(MAX_REQUEST);
    let read = tokio::time::timeout(REQUEST_TIME, async {
        let mut b = [0u8; MAX_REQUEST];
        while !req.contains(&b'\n') && req.len() < MAX_REQUEST {
            match s.read(&mut b[..MAX_REQUEST - req.len()]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => req.extend_from_slice(&b[..n]),
            }
        }
    })
    .await;
    if read.is_err() {
        return;
    }
    let cmd = String::from_utf8_lossy(&req);
    let reply = match cmd.trim() {
        "status" => board.status_text(Instant::now()).await,
        "leases" => board.leases_text().await,
        other if other.starts_with("leases delete ") => {
            match other["leases delete ".len()..].trim().parse() {
                Err(_) => format!("error: {other:?}: not an IPv4 address\n"),
                Ok(ip) => board.delete_lease(ip).await,
            }
        }
        "log-queries" => board.log_queries(None).await,
        "log-queries on" => board.log_queries(Some(true)).await,
        "log-queries off" => board.log_queries(Some(false)).await,
        other => {
            event!(
                Info,
                "control.unknown_command",
                "command={}",
                crate::log::q(other)
            );
            format!(
                "error: unknown command {other:?}; expected status, leases, leases delete IP \
                 or log-queries [on|off]\n"
            )
        }
    };
    let _ = tokio::time::timeout(REQUEST_TIME, s.write_all(reply.as_bytes())).await;
}

/// The client side, for `hamasq status`: sends `cmd`, returns the answer.
pub fn request(path: &Path, cmd: &str) -> io::Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{cmd}\n").as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}
