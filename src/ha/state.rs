//! What the pair link remembers across restarts, in `ha.state` beside the
//! lease store: this box's epoch, and where it stands in the peer's
//! stream.
//!
//! ```text
//! epoch 5f2c0e7a91b3d4c8
//! peer 0a1b2c3d4e5f6071 1234
//! ```
//!
//! The epoch names this box's outgoing stream, whose sequence numbers
//! start again at every start (the ring of recent changes lives in
//! memory): so a new epoch is drawn at every start, and the peer, seeing
//! an epoch it never saw, gets a full transfer instead of resuming at a
//! sequence number that now means another change. The position in the
//! peer's stream is what survives a restart (the peer resumes from it);
//! it is dropped when the lease store itself was created anew (a lost
//! state directory), so the peer sends everything again.
//!
//! Losing or damaging this file is always safe: a missing position makes
//! the peer send everything again, and peer changes are idempotent. The
//! position is written only after what it covers is durable in the lease
//! store, so it is never ahead of it. So it is written without fsync, by
//! rename.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use super::stream::Position;
use crate::dhcp::leases::{check_dir, open_state_file};

pub const FILE: &str = "ha.state";
const TMP: &str = "ha.state.tmp";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    pub epoch: u64,
    pub seen: Position,
}

fn fresh_epoch() -> io::Result<u64> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| io::Error::other(e.to_string()))?;
    // 0 means "never saw the peer" on the wire.
    Ok(u64::from_be_bytes(b).max(1))
}

fn parse(text: &str) -> Option<State> {
    let mut epoch = None;
    let mut seen = Position::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["epoch", e] => epoch = Some(u64::from_str_radix(e, 16).ok()?),
            ["peer", e, s] => {
                seen = Position {
                    epoch: u64::from_str_radix(e, 16).ok()?,
                    seq: s.parse().ok()?,
                }
            }
            [] => {}
            _ => return None,
        }
    }
    Some(State {
        epoch: epoch.filter(|e| *e != 0)?,
        seen,
    })
}

/// Loads the position in the peer's stream (none when the lease store was
/// `created` now or the file is missing or damaged), draws this start's
/// epoch, and saves both. Returns the state and whether the position was
/// lost (the peer then sends everything).
pub fn load(dir: &Path, created: bool) -> io::Result<(State, bool)> {
    let owner = check_dir(dir)?;
    let mut seen = None;
    if !created {
        match open_state_file(&dir.join(FILE), OpenOptions::new().read(true), owner) {
            Ok(mut f) => {
                let mut text = String::new();
                // A few dozen bytes; anything longer is not ours.
                let _ = Read::by_ref(&mut f).take(4096).read_to_string(&mut text);
                seen = parse(&text).map(|s| s.seen);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let s = State {
        epoch: fresh_epoch()?,
        seen: seen.unwrap_or_default(),
    };
    save(dir, &s)?;
    Ok((s, seen.is_none()))
}

/// Replaces the file (temp file, rename; no fsync, see the module doc).
pub fn save(dir: &Path, s: &State) -> io::Result<()> {
    let owner = check_dir(dir)?;
    let tmp = dir.join(TMP);
    let _ = fs::remove_file(&tmp);
    let mut f = open_state_file(&tmp, OpenOptions::new().write(true).create_new(true), owner)?;
    writeln!(f, "epoch {:016x}", s.epoch)?;
    writeln!(f, "peer {:016x} {}", s.seen.epoch, s.seen.seq)?;
    drop(f);
    fs::rename(&tmp, dir.join(FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hamasq-ha-state-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir(&d).unwrap();
        d
    }

    #[test]
    fn it_survives_a_restart_and_a_new_store_draws_a_new_epoch() {
        let d = dir("restart");
        let (s, new) = load(&d, true).unwrap();
        assert!(new && s.epoch != 0 && s.seen == Position::default());
        let moved = State {
            seen: Position { epoch: 9, seq: 77 },
            ..s
        };
        save(&d, &moved).unwrap();
        // A restart keeps the position, with a new epoch for the new
        // stream (its sequence numbers start again).
        let (restarted, lost) = load(&d, false).unwrap();
        assert!(!lost);
        assert_eq!(restarted.seen, moved.seen);
        assert_ne!(restarted.epoch, moved.epoch);
        // The lease store was lost (created anew): no position.
        let (again, lost) = load(&d, true).unwrap();
        assert!(lost && again.epoch != restarted.epoch && again.seen == Position::default());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_damaged_or_planted_file_is_never_trusted() {
        let d = dir("damaged");
        fs::write(d.join(FILE), "epoch zz\n").unwrap();
        let (_, new) = load(&d, false).unwrap();
        assert!(new, "garbage means a fresh start");
        fs::write(d.join(FILE), "epoch 0\n").unwrap();
        assert!(load(&d, false).unwrap().1);
        // A symbolic link where the file belongs is refused, not followed.
        fs::remove_file(d.join(FILE)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join(FILE)).unwrap();
        let e = load(&d, false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        fs::remove_dir_all(&d).unwrap();
    }
}
