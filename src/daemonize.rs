//! Going to the background the classic way (double fork, setsid), with a
//! readiness pipe: the command the operator ran returns only once the
//! daemon is really up, with the daemon's exit code if start-up failed. An
//! init script can therefore trust `$?`, as with dnsmasq.
//!
//! Must be called before any thread exists (before the tokio runtime).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;

use nix::unistd::{ForkResult, dup2_stderr, dup2_stdin, dup2_stdout, fork, pipe, setsid};

/// The daemon's end of the readiness pipe, and whether stderr is to be let
/// go once the start is reported.
pub struct Ready(Option<File>, bool);

impl Ready {
    /// A handle for a process that did not daemonize: reporting is a no-op.
    pub fn foreground() -> Ready {
        Ready(None, false)
    }

    /// Tells the waiting parent to exit with `code` (0 = up and running).
    /// A daemon that does not log to stderr then points it at /dev/null:
    /// until now it could still tell the operator why it did not start.
    pub fn report(&mut self, code: u8) {
        if let Some(mut f) = self.0.take() {
            let _ = f.write_all(&[code]);
            if std::mem::take(&mut self.1)
                && let Ok(null) = File::options().write(true).open("/dev/null")
            {
                let _ = dup2_stderr(&null);
            }
        }
    }
}

/// Forks into the background. Returns in the daemon only; the original
/// process exits with the code the daemon reports through [`Ready`], or 1
/// if the daemon died first. `keep_stderr` leaves fd 2 alone for
/// `log-target = stderr`; otherwise it goes to /dev/null like stdin/stdout
/// once the start is reported ([`Ready::report`]).
pub fn daemonize(keep_stderr: bool) -> io::Result<Ready> {
    let (rd, wr): (OwnedFd, OwnedFd) = pipe().map_err(io::Error::from)?;
    // SAFETY: called before any other thread exists (documented contract);
    // the child only continues single-threaded start-up code.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Parent { .. } => {
            drop(wr);
            let mut f = File::from(rd);
            let mut code = [1u8];
            let code = match f.read(&mut code) {
                Ok(1) => code[0],
                _ => 1,
            };
            std::process::exit(code as i32);
        }
        ForkResult::Child => {}
    }
    drop(rd);
    setsid().map_err(io::Error::from)?;
    // SAFETY: as above; still single-threaded.
    match unsafe { fork() }.map_err(io::Error::from)? {
        // The session leader exits so the daemon can never reacquire a tty.
        ForkResult::Parent { .. } => std::process::exit(0),
        ForkResult::Child => {}
    }
    std::env::set_current_dir("/")?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let null = File::options().read(true).write(true).open("/dev/null")?;
    dup2_stdin(&null).map_err(io::Error::from)?;
    dup2_stdout(&null).map_err(io::Error::from)?;
    Ok(Ready(Some(File::from(wr)), !keep_stderr))
}
