//! Group commit, sans-IO (design §5): which lease changes are written
//! together, when a write may start, and which replies a finished write
//! releases.
//!
//! A batch moves through four states:
//!
//! 1. **staged** ([`Commit::stage`]): the core decided a request; its
//!    changes and its reply wait in the pending batch;
//! 2. **ready to write** ([`Commit::poll_write`]): no write in flight, and
//!    [`COMMIT_SPACING`] passed since the last one started or [`FULL`]
//!    replies wait; the pending batch becomes the one in flight and its
//!    changes go to the caller, which writes and fdatasyncs them;
//! 3. **written** ([`Commit::handle_written`] with `Ok`): the replies and
//!    `dhcp-script` notes of that batch are released, never before;
//! 4. or **failed** (`Err`): every reply not yet released is withheld (the
//!    one in flight and the pending one, whose bindings sit on top of it
//!    in memory) and the caller rolls memory back to what is on disk
//!    ([`super::server::Server::roll_back`]).
//!
//! The module reads no clock: `now` comes in, [`Commit::poll_timeout`]
//! says when a held-back write is due. A failure is reported once per
//! burst ([`Written::Failed::first`]); the first success after it reports
//! the burst ([`Burst`]), so a full disk under a flood of clients makes two
//! log lines, not one per packet.

use std::time::Duration;

use super::lease_hook::Note;
use super::leases::Change;
use crate::clock::Mono;

/// A write starts at once, spacing or not, when this many replies wait
/// (and the driver reads at most this many datagrams per turn).
pub const FULL: usize = 64;

/// Least time between the starts of two writes, unless [`FULL`]
/// replies wait. An fdatasync here takes ~0.2 ms, so under load the
/// pipeline used to commit every 2-3 ACKs: ~3,000 fsyncs and thread
/// hand-offs a second at 8,000 DORA/s, the costliest thing the task did.
/// Holding a write back at most this long makes each one carry a
/// millisecond's worth of requests; an idle server still commits at once
/// (the first change after a quiet spell finds the deadline passed), and
/// no reply leaves before its write, as before.
pub const COMMIT_SPACING: Duration = Duration::from_millis(1);

/// Changes kept allocated in the pending batch between writes; a burst
/// that queued more (a slow fsync under load) gives the rest back.
const PENDING_KEEP: usize = 4 * FULL;

/// The staged batch: the changes, and the replies and notes waiting on them.
struct Batch<R> {
    changes: Vec<Change>,
    replies: Vec<R>,
    notes: Vec<Note>,
    /// This box's own changes, for the peer once durable (design §9).
    replicate: Vec<Change>,
}

impl<R> Default for Batch<R> {
    fn default() -> Self {
        Batch {
            changes: Vec::new(),
            replies: Vec::new(),
            notes: Vec::new(),
            replicate: Vec::new(),
        }
    }
}

/// The batch being written: its changes were handed out; what waits on
/// them, and the caller's undo mark taken when they were.
struct InFlight<R> {
    changes: usize,
    replies: Vec<R>,
    notes: Vec<Note>,
    replicate: Vec<Change>,
    undo_mark: u64,
}

/// Group commit for replies of type `R`.
pub struct Commit<R> {
    pending: Batch<R>,
    inflight: Option<InFlight<R>>,
    /// No write starts before this unless [`FULL`] replies wait.
    not_before: Option<Mono>,
    /// Failed writes since the last one that succeeded.
    burst: Option<Burst>,
    /// A pair link takes this box's changes ([`Commit::set_replicate`]).
    replicate: bool,
}

impl<R> Default for Commit<R> {
    fn default() -> Self {
        Commit {
            pending: Batch::default(),
            inflight: None,
            not_before: None,
            burst: None,
            replicate: false,
        }
    }
}

/// A run of failed writes, reported when writes succeed again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Burst {
    /// When the first write of the run failed.
    pub since: Mono,
    /// Writes that failed.
    pub failures: u64,
    /// Replies withheld over the run.
    pub withheld: u64,
    /// Lease changes not stored (and undone in memory) over the run.
    pub rolled_back: u64,
}

/// What a finished write means.
#[derive(Debug)]
pub enum Written<R> {
    /// On disk: send these replies, tell the hook these notes, and forget
    /// the undo entries before `undo_mark` (they are durable now).
    Durable {
        replies: Vec<R>,
        notes: Vec<Note>,
        /// This box's own changes of the batch, in order, for the peer
        /// (design §9: sent after our own fdatasync, never before; empty
        /// without [`Commit::set_replicate`]). The peer's own changes
        /// that we stored are not among them: no echo.
        replicate: Vec<Change>,
        undo_mark: u64,
        /// The run of failures this success ends, if any.
        recovered: Option<Burst>,
    },
    /// Not on disk: roll memory back to the last durable state. Nothing
    /// is released; `withheld` replies and `changes` changes are gone.
    Failed {
        withheld: usize,
        /// The withheld replies themselves, to be answered as failures
        /// where someone waits on them (the peer, the control socket);
        /// client replies among them must never be sent.
        dropped: Vec<R>,
        changes: usize,
        /// The first failure after a success: log it (the others of the
        /// run are counted and reported with [`Written::Durable::recovered`]).
        first: bool,
    },
    /// No write was in flight (a caller's mistake; nothing changed).
    Unexpected,
}

impl<R> Commit<R> {
    /// With a pair link, this box's own changes are handed back for the
    /// peer once durable ([`Written::Durable::replicate`]).
    pub fn set_replicate(&mut self, on: bool) {
        self.replicate = on;
    }

    /// Stages the changes of one of this box's decisions, with its reply
    /// and its notes.
    pub fn stage(
        &mut self,
        changes: impl IntoIterator<Item = Change>,
        reply: Option<R>,
        notes: impl IntoIterator<Item = Note>,
    ) {
        let from = self.pending.changes.len();
        self.pending.changes.extend(changes);
        if self.replicate {
            let new = &self.pending.changes[from..];
            self.pending.replicate.extend_from_slice(new);
        }
        self.pending.replies.extend(reply);
        self.pending.notes.extend(notes);
    }

    /// Stages the peer's changes as this box decided to store them
    /// ([`crate::dhcp::server::Server::apply_peer`]), and what to release
    /// once they are durable: written like ours, never sent back.
    pub fn stage_peer(&mut self, changes: impl IntoIterator<Item = Change>, release: R) {
        self.pending.changes.extend(changes);
        self.pending.replies.push(release);
    }

    /// Whether a write is in flight.
    #[cfg(test)]
    pub fn in_flight(&self) -> bool {
        self.inflight.is_some()
    }

    /// Replies waiting for a write, in flight or not yet started.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.pending.replies.len() + self.inflight.as_ref().map_or(0, |b| b.replies.len())
    }

    /// Whether a write may start at `now`: something staged, none in
    /// flight, and [`COMMIT_SPACING`] passed since the last start or
    /// [`FULL`] replies waiting.
    pub fn may_start(&self, now: Mono) -> bool {
        self.inflight.is_none()
            && !self.pending.changes.is_empty()
            && (self.pending.replies.len() >= FULL || self.not_before.is_none_or(|t| now >= t))
    }

    /// When a held-back write is due: something staged, none in flight.
    pub fn poll_timeout(&self) -> Option<Mono> {
        if self.inflight.is_some() || self.pending.changes.is_empty() {
            return None;
        }
        self.not_before
    }

    /// Starts a write if one may start at `now`: the staged batch goes in
    /// flight and its changes are handed out, to be written and synced
    /// before [`Commit::handle_written`]. `undo_mark` is the caller's undo
    /// position after the last staged change, returned when the write is
    /// durable.
    pub fn poll_write(&mut self, now: Mono, undo_mark: u64) -> Option<std::vec::Drain<'_, Change>> {
        if !self.may_start(now) {
            return None;
        }
        self.not_before = Some(now + COMMIT_SPACING);
        Some(self.start(undo_mark))
    }

    /// At shutdown: the staged batch goes in flight at once, spacing or
    /// not (none may be in flight).
    pub fn write_now(&mut self, undo_mark: u64) -> Option<std::vec::Drain<'_, Change>> {
        if self.inflight.is_some() || self.pending.changes.is_empty() {
            return None;
        }
        Some(self.start(undo_mark))
    }

    fn start(&mut self, undo_mark: u64) -> std::vec::Drain<'_, Change> {
        let b = InFlight {
            changes: self.pending.changes.len(),
            replies: std::mem::take(&mut self.pending.replies),
            notes: std::mem::take(&mut self.pending.notes),
            replicate: std::mem::take(&mut self.pending.replicate),
            undo_mark,
        };
        self.inflight = Some(b);
        self.pending.changes.drain(..)
    }

    /// The write in flight ended with `result`.
    pub fn handle_written<E>(&mut self, now: Mono, result: Result<(), E>) -> Written<R> {
        let Some(b) = self.inflight.take() else {
            return Written::Unexpected;
        };
        self.pending.changes.shrink_to(PENDING_KEEP);
        match result {
            Ok(()) => Written::Durable {
                replies: b.replies,
                notes: b.notes,
                replicate: b.replicate,
                undo_mark: b.undo_mark,
                recovered: self.burst.take(),
            },
            Err(_) => {
                // What is pending was decided on top of the batch that
                // failed (a client's old binding moved, a name taken): it
                // cannot stand without it. Both go; the clients retry.
                let withheld = b.replies.len() + self.pending.replies.len();
                let changes = b.changes + self.pending.changes.len();
                let mut dropped = b.replies;
                dropped.append(&mut self.pending.replies);
                self.pending.changes.clear();
                self.pending.notes.clear();
                self.pending.replicate.clear();
                let first = self.burst.is_none();
                let burst = self.burst.get_or_insert(Burst {
                    since: now,
                    failures: 0,
                    withheld: 0,
                    rolled_back: 0,
                });
                burst.failures += 1;
                burst.withheld += withheld as u64;
                burst.rolled_back += changes as u64;
                Written::Failed {
                    withheld,
                    dropped,
                    changes,
                    first,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::net::Ipv4Addr;

    use super::*;

    fn change(n: u32) -> Change {
        Change::Remove(Ipv4Addr::from(n))
    }

    fn ip_of(c: &Change) -> u32 {
        match c {
            Change::Remove(ip) => u32::from(*ip),
            Change::Upsert(l) => u32::from(l.ip),
        }
    }

    /// Design §9: the peer gets this box's own changes of a batch once
    /// it is durable, in order; never the peer's own (no echo), nothing
    /// of a failed write, nothing at all without a pair link.
    #[test]
    fn only_our_durable_changes_go_to_the_peer() {
        let mut c: Commit<&str> = Commit::default();
        c.set_replicate(true);
        let now = Mono(1_000);
        c.stage([change(1), change(2)], Some("ack 1"), []);
        c.stage_peer([change(9)], "peer batch stored");
        c.stage([change(3)], None, []);
        let written: Vec<Change> = c.poll_write(now, 0).unwrap().collect();
        assert_eq!(written, vec![change(1), change(2), change(9), change(3)]);
        match c.handle_written::<()>(now, Ok(())) {
            Written::Durable {
                replies, replicate, ..
            } => {
                assert_eq!(replies, vec!["ack 1", "peer batch stored"]);
                assert_eq!(replicate, vec![change(1), change(2), change(3)]);
            }
            other => panic!("{other:?}"),
        }
        // A failed write sends nothing, and what was staged on top goes too.
        let later = Mono(now.0 + 10);
        c.stage([change(4)], Some("ack 4"), []);
        assert!(c.poll_write(later, 1).is_some());
        c.stage([change(5)], Some("ack 5"), []);
        assert!(matches!(
            c.handle_written(later, Err("ENOSPC")),
            Written::Failed { .. }
        ));
        c.stage([change(6)], Some("ack 6"), []);
        let later = Mono(later.0 + 10);
        assert!(c.poll_write(later, 2).is_some());
        match c.handle_written::<()>(later, Ok(())) {
            Written::Durable { replicate, .. } => assert_eq!(replicate, vec![change(6)]),
            other => panic!("{other:?}"),
        }
        // Without a pair link nothing is kept for a peer.
        let mut solo: Commit<&str> = Commit::default();
        solo.stage([change(7)], Some("ack 7"), []);
        assert!(solo.poll_write(later, 0).is_some());
        match solo.handle_written::<()>(later, Ok(())) {
            Written::Durable { replicate, .. } => assert!(replicate.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    /// A pipeline run on virtual time against a model disk: requests
    /// arrive at random, each write takes a random time and sometimes
    /// fails. A reply (here the number of the change it carries) may only
    /// come out of a write reported done, and only if its change is on the
    /// model disk by then (so a reply of a failed write never comes out).
    #[test]
    fn no_reply_before_the_write_of_its_batch_is_done() {
        let mut rng = crate::testkit::Rng::new(0x2545_f491_4f6c_dd1d);
        let mut rnd = move |n: u64| rng.below(n);
        let mut c: Commit<u32> = Commit::default();
        let mut now = Mono(1_000);
        // The write in flight: its changes, when it ends, whether it fails.
        let mut writing: Option<(Vec<u32>, Mono, bool)> = None;
        let mut disk: HashSet<u32> = HashSet::new();
        let (mut next, mut released, mut failed_writes) = (0u32, 0usize, 0usize);
        for _ in 0..20_000 {
            now = Mono(now.0 + rnd(3));
            // Zero to three requests decided in this turn.
            for _ in 0..rnd(4) {
                next += 1;
                c.stage([change(next)], Some(next), []);
            }
            if let Some((changes, at, fails)) = &writing
                && now >= *at
            {
                let result = if *fails { Err("ENOSPC") } else { Ok(()) };
                if !*fails {
                    disk.extend(changes.iter().copied());
                }
                match c.handle_written(now, result) {
                    Written::Durable { replies, .. } => {
                        for r in replies {
                            assert!(
                                disk.contains(&r),
                                "reply {r} left before its change was written"
                            );
                            released += 1;
                        }
                    }
                    // Its replies, and those staged since, are gone: were
                    // one released later, it would not be on the disk.
                    Written::Failed { .. } => failed_writes += 1,
                    Written::Unexpected => panic!("a write was in flight"),
                }
                writing = None;
            }
            if writing.is_none() {
                assert!(c.poll_timeout().is_none_or(|t| t > now) || c.may_start(now));
                if let Some(changes) = c.poll_write(now, 0) {
                    let changes: Vec<u32> = changes.map(|ch| ip_of(&ch)).collect();
                    let fails = rnd(10) == 0;
                    writing = Some((changes, Mono(now.0 + 1 + rnd(3)), fails));
                }
            } else {
                assert!(c.poll_write(now, 0).is_none(), "one write at a time");
            }
        }
        assert!(
            released > 10_000 && failed_writes > 50,
            "{released} {failed_writes}"
        );
    }

    #[test]
    fn writes_are_spaced_under_load_but_never_held_when_idle() {
        let t0 = Mono(5_000);
        let mut c: Commit<u32> = Commit::default();
        // Nothing staged: nothing to start, nothing due.
        assert!(!c.may_start(t0));
        assert_eq!(c.poll_timeout(), None);
        c.stage([change(1)], Some(1), []);
        // The first change after a quiet spell is written at once.
        assert_eq!(c.poll_write(t0, 1).map(|d| d.count()), Some(1));
        // While it is written, the next batch waits, and no timer is due.
        c.stage([change(2)], Some(2), []);
        assert!(c.poll_write(t0, 2).is_none());
        assert_eq!(c.poll_timeout(), None);
        assert!(
            matches!(c.handle_written::<()>(t0, Ok(())), Written::Durable { ref replies, .. } if replies == &[1])
        );
        // Written fast: the next start is held until the spacing passed,
        // and the driver is told when.
        let half = t0 + COMMIT_SPACING / 2;
        assert!(c.poll_write(half, 2).is_none());
        assert_eq!(c.poll_timeout(), Some(t0 + COMMIT_SPACING));
        assert_eq!(
            c.poll_write(t0 + COMMIT_SPACING, 2).map(|d| d.count()),
            Some(1)
        );
    }

    #[test]
    fn a_full_batch_of_replies_is_written_without_waiting_for_the_spacing() {
        let t0 = Mono(5_000);
        let mut c: Commit<u32> = Commit::default();
        c.stage([change(0)], Some(0), []);
        assert!(c.poll_write(t0, 1).is_some());
        assert!(matches!(
            c.handle_written::<()>(t0, Ok(())),
            Written::Durable { .. }
        ));
        for n in 1..FULL as u32 {
            c.stage([change(n)], Some(n), []);
        }
        // 63 replies wait: held for the spacing.
        assert!(!c.may_start(t0));
        c.stage([change(64)], Some(64), []);
        // 64: written at once.
        assert!(c.may_start(t0));
        assert_eq!(c.poll_write(t0, 2).map(|d| d.count()), Some(FULL));
        assert_eq!(c.waiting(), FULL);
    }

    #[test]
    fn a_failed_write_withholds_everything_unwritten_and_is_reported_once_per_run() {
        let t0 = Mono(5_000);
        let mut c: Commit<u32> = Commit::default();
        c.stage([change(1), change(2)], Some(1), []);
        c.stage([change(3)], None, []);
        assert_eq!(c.poll_write(t0, 3).map(|d| d.count()), Some(3));
        // Decided while that batch is written, on top of it in memory.
        c.stage([change(4)], Some(4), []);
        match c.handle_written(t0, Err("No space left on device")) {
            Written::Failed {
                withheld,
                dropped,
                changes,
                first,
            } => {
                assert_eq!((withheld, changes, first), (2, 4, true));
                // Handed back to be answered as failures, oldest first.
                assert_eq!(dropped, vec![1, 4]);
            }
            other => panic!("{other:?}"),
        }
        // Nothing left to write, nothing due, nothing in flight.
        assert!(!c.in_flight());
        assert_eq!(c.waiting(), 0);
        assert_eq!(c.poll_timeout(), None);
        assert!(c.poll_write(t0 + COMMIT_SPACING, 9).is_none());
        // The disk stays full: the second failure is not "first".
        let t1 = t0 + Duration::from_secs(1);
        c.stage([change(5)], Some(5), []);
        assert!(c.poll_write(t1, 4).is_some());
        assert!(matches!(
            c.handle_written(t1, Err("No space left on device")),
            Written::Failed {
                first: false,
                withheld: 1,
                changes: 1,
                ..
            }
        ));
        // Space again: the next write succeeds, releases its reply, and
        // reports the run of failures it ends, once.
        let t2 = t1 + Duration::from_secs(2);
        c.stage([change(6)], Some(6), []);
        assert!(c.poll_write(t2, 5).is_some());
        match c.handle_written::<()>(t2, Ok(())) {
            Written::Durable {
                replies,
                undo_mark,
                recovered,
                ..
            } => {
                assert_eq!(replies, vec![6]);
                assert_eq!(undo_mark, 5);
                assert_eq!(
                    recovered,
                    Some(Burst {
                        since: t0,
                        failures: 2,
                        withheld: 3,
                        rolled_back: 5
                    })
                );
            }
            other => panic!("{other:?}"),
        }
        c.stage([change(7)], Some(7), []);
        assert!(c.poll_write(t2 + COMMIT_SPACING, 6).is_some());
        assert!(matches!(
            c.handle_written::<()>(t2 + COMMIT_SPACING, Ok(())),
            Written::Durable {
                recovered: None,
                ..
            }
        ));
        // Nothing in flight: a report of a write is a caller's mistake.
        assert!(matches!(
            c.handle_written::<()>(t2, Ok(())),
            Written::Unexpected
        ));
    }
}
