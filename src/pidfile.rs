//! The pid file, locked for the life of the daemon so that a second
//! instance with the same pid file refuses to start instead of fighting
//! over ports and leases.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// A written, locked pid file; removed on drop.
pub struct PidFile {
    path: PathBuf,
    _lock: Flock<File>,
}

/// Why the pid file could not be taken.
#[derive(Debug)]
pub enum PidFileError {
    /// Another live process holds the lock.
    Running {
        pid: Option<u32>,
    },
    Io(io::Error),
}

impl std::fmt::Display for PidFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PidFileError::Running { pid: Some(p) } => {
                write!(f, "another hamasq is running (pid {p})")
            }
            PidFileError::Running { pid: None } => write!(f, "another hamasq holds the lock"),
            PidFileError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl PidFile {
    /// Creates or takes over `path`, writes `pid`, and keeps it locked.
    pub fn acquire(path: &Path, pid: u32) -> Result<PidFile, PidFileError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map_err(PidFileError::Io)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, _)) => {
                let mut s = String::new();
                let _ = file.read_to_string(&mut s);
                return Err(PidFileError::Running {
                    pid: s.trim().parse().ok(),
                });
            }
        };
        // Stale content from a crashed run is overwritten under the lock.
        lock.set_len(0).map_err(PidFileError::Io)?;
        lock.rewind().map_err(PidFileError::Io)?;
        writeln!(lock, "{pid}").map_err(PidFileError::Io)?;
        lock.sync_data().map_err(PidFileError::Io)?;
        Ok(PidFile {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_file_is_removed_on_drop() {
        let p = std::env::temp_dir().join(format!("hamasq-pid-test-{}", std::process::id()));
        std::fs::write(&p, "999999\n").unwrap(); // stale content from a crash
        let a = PidFile::acquire(&p, 1234).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "1234\n");
        match PidFile::acquire(&p, 5678) {
            Err(PidFileError::Running { pid }) => assert_eq!(pid, Some(1234)),
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("a second instance took the lock"),
        }
        drop(a);
        assert!(!p.exists());
    }
}
