//! One box's side of the replication stream, sans-IO (design §3, §9):
//! what it sends its peer and what it does with what the peer sends, over
//! any number of connections. The driver ([`super::driver`]) moves the
//! frames over an authenticated [`super::link::Link`] and the changes to
//! and from the DHCP task; the pair simulation drives the same core over
//! a virtual link.
//!
//! Per connection:
//! 1. Both sides send RESUME: their own epoch, where they stand in the
//!    other's stream, their wall clock ([`Replica::connected`]).
//! 2. On the peer's RESUME, the sender resumes from where the peer stands
//!    or, when the peer never saw this epoch or is behind the ring, asks
//!    for a snapshot of the lease table and streams it as a full transfer
//!    ([`Replica::poll_snapshot`], [`Replica::snapshot`]); changes
//!    committed meanwhile wait until the snapshot is queued, so nothing
//!    older overwrites them. Then DONE, naming the last change sent.
//! 3. The receiver hands the peer's changes to the lease store in batches
//!    ([`Replica::poll_store`]) and acknowledges each one only once the
//!    store reports it durable ([`Replica::stored`]), in order. When the
//!    DONE is stored, this box has caught up with its peer.

use std::collections::VecDeque;

use super::stream::{self, Frame, Inbound, Malformed, Outbox, Position, Record};
use crate::clock::UnixTime;
use crate::dhcp::binding::Lease;
use crate::dhcp::leases::Change;

/// Changes kept for a resume; an older peer gets a full transfer.
pub const RING: usize = 65_536;
/// Frames in flight before an acknowledgement.
pub const WINDOW: u64 = 4096;
/// Peer changes handed to the store in one batch at most.
const BATCH: usize = 512;
/// Clock skew worth a warning, seconds.
pub const SKEW_WARN_S: i64 = 30;

/// What happened, for the driver to log and publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer's RESUME: the clock skew (peer minus us, seconds), and
    /// whether we send it everything (`full`) or resume.
    Resumed { skew_s: i64, full: bool },
    /// The peer starts a full transfer of `count` leases.
    FullTransferStart { count: u64 },
    /// Our full transfer of `count` leases is queued.
    FullTransferSent { count: u64 },
    /// Everything the peer had when we connected is stored here.
    CaughtUp { at: Position },
    /// A frame the peer authenticated but that makes no sense (its bug or
    /// another version): dropped.
    Malformed(&'static str),
    /// The peer fell further behind than the ring of recent changes
    /// reaches: it gets a full transfer.
    Overrun,
    /// The store could not keep a batch: the connection must close
    /// (nothing is acknowledged; the peer sends it again next time).
    StoreFailed,
}

/// A batch handed to the store, in order, and what its durability means.
#[derive(Clone, Copy, Debug)]
enum Pending {
    /// Acknowledge at this position once durable (none: full-transfer
    /// records, which the DONE acknowledges).
    Batch(Option<Position>),
    /// The DONE: acknowledge `at`, and this box has caught up.
    Done(Position),
}

/// A frame waiting to be sent; a full transfer's leases are encoded when
/// sent, so their remaining lifetimes are as of then.
enum Out {
    Frame(Frame),
    Lease(Lease),
}

/// One box's replication state.
pub struct Replica {
    outbox: Outbox,
    /// Where we stand in the peer's stream: everything up to it is
    /// durable here.
    seen: Position,
    /// `seen` moved since [`Replica::take_seen_changed`].
    seen_changed: bool,
    up: bool,
    /// The peer's RESUME came on this connection: we know where it stands.
    resumed: bool,
    /// Frames to send before the outbox's changes (RESUME, ACK, a full
    /// transfer).
    control: VecDeque<Out>,
    /// A full transfer is to be streamed: ask for the snapshot, then hold
    /// the outbox's changes until it is queued.
    snapshot_asked: bool,
    snapshot_wanted: bool,
    /// Send DONE once the outbox has sent up to this.
    done_after: Option<u64>,
    /// Peer changes read, not yet handed to the store, and the stream
    /// position they bring us to.
    incoming: Vec<Change>,
    incoming_at: Option<Position>,
    /// Batches ready for the store, each with its entry in `pending`.
    ready: VecDeque<Vec<Change>>,
    /// Handed to (or ready for) the store, awaiting [`Replica::stored`].
    pending: VecDeque<Pending>,
    caught_up: bool,
    events: VecDeque<Event>,
}

impl Replica {
    /// `epoch` names this start's outgoing stream; `seen` is where this
    /// box stood in the peer's stream (from [`super::state`]).
    pub fn new(epoch: u64, seen: Position) -> Replica {
        Replica::with_limits(epoch, seen, RING, WINDOW)
    }

    pub fn with_limits(epoch: u64, seen: Position, ring: usize, window: u64) -> Replica {
        Replica {
            outbox: Outbox::new(epoch, ring, window),
            seen,
            seen_changed: false,
            up: false,
            resumed: false,
            control: VecDeque::new(),
            snapshot_asked: false,
            snapshot_wanted: false,
            done_after: None,
            incoming: Vec::new(),
            incoming_at: None,
            ready: VecDeque::new(),
            pending: VecDeque::new(),
            caught_up: false,
            events: VecDeque::new(),
        }
    }

    /// Where this box stands in the peer's stream.
    pub fn seen(&self) -> Position {
        self.seen
    }

    /// Whether `seen` moved since the last call (to save it).
    pub fn take_seen_changed(&mut self) -> bool {
        std::mem::take(&mut self.seen_changed)
    }

    /// Whether this box has stored everything the peer had when this
    /// connection came up.
    #[cfg(test)]
    pub fn caught_up(&self) -> bool {
        self.caught_up
    }

    /// Our changes the peer has not acknowledged.
    pub fn lag(&self) -> u64 {
        self.outbox.lag()
    }

    /// Changes this box committed (after its own fdatasync), in order;
    /// kept for the peer whether it is connected or not.
    pub fn committed(&mut self, changes: &[Change]) {
        for c in changes {
            self.outbox.push(c.clone());
        }
    }

    /// A connection authenticated: send our RESUME.
    pub fn connected(&mut self, wall: UnixTime) {
        self.disconnected();
        self.up = true;
        self.control.push_back(Out::Frame(stream::resume_frame(
            self.outbox.epoch(),
            self.seen,
            wall,
        )));
    }

    /// The connection ended: what was in flight is forgotten (the next
    /// RESUME says what to send again), and so are the batches handed to
    /// the store and not yet reported: they may still become durable, but
    /// are not acknowledged (the peer sends them again; applying a change
    /// twice changes nothing).
    pub fn disconnected(&mut self) {
        self.up = false;
        self.resumed = false;
        self.caught_up = false;
        self.control.clear();
        self.snapshot_asked = false;
        self.snapshot_wanted = false;
        self.done_after = None;
        self.incoming.clear();
        self.incoming_at = None;
        self.ready.clear();
        self.pending.clear();
    }

    /// A frame from the peer (already authenticated by the link).
    pub fn handle_frame(&mut self, kind: u8, body: &[u8], wall: UnixTime) {
        if !self.up {
            return;
        }
        let inbound = match stream::decode(kind, body, self.seen.epoch) {
            Ok(i) => i,
            Err(Malformed(why)) => {
                self.events.push_back(Event::Malformed(why));
                return;
            }
        };
        match inbound {
            Inbound::Resume {
                seen,
                peer_epoch,
                wall: theirs,
            } => {
                if self.seen.epoch != peer_epoch {
                    // A new stream from the peer (it restarted, or its
                    // store is new): our position in the old one means
                    // nothing, and our RESUME already asked for everything.
                    self.seen = Position {
                        epoch: peer_epoch,
                        seq: 0,
                    };
                    self.seen_changed = true;
                }
                let skew_s = theirs.0 as i64 - wall.0 as i64;
                self.resumed = true;
                self.outbox.resume(seen.epoch, seen.seq);
                let full = self.outbox.take_full();
                if full {
                    self.snapshot_asked = true;
                    self.snapshot_wanted = true;
                } else {
                    self.done_after = Some(self.outbox.last());
                }
                self.events.push_back(Event::Resumed { skew_s, full });
            }
            Inbound::Apply { rec, ack } => {
                self.incoming.push(rec.to_change(wall));
                if ack.is_some() {
                    self.incoming_at = ack;
                }
                if self.incoming.len() >= BATCH {
                    self.hand_over();
                }
            }
            Inbound::FullStart { count } => {
                self.events.push_back(Event::FullTransferStart { count });
            }
            Inbound::FullDone { at } => {
                self.hand_over();
                // An empty batch keeps the DONE in the store's order.
                self.ready.push_back(Vec::new());
                self.pending.push_back(Pending::Done(at));
            }
            Inbound::Acked(at) => self.outbox.ack(at.epoch, at.seq),
        }
    }

    fn hand_over(&mut self) {
        if self.incoming.is_empty() {
            return;
        }
        self.ready.push_back(std::mem::take(&mut self.incoming));
        let at = self.incoming_at.take();
        self.pending.push_back(Pending::Batch(at));
    }

    /// The next batch of peer changes for the store, in order; each must
    /// be answered with [`Replica::stored`], in the same order. Changes
    /// read so far are handed over even if fewer than a full batch.
    pub fn poll_store(&mut self) -> Option<Vec<Change>> {
        if self.ready.is_empty() {
            self.hand_over();
        }
        self.ready.pop_front()
    }

    /// The oldest batch handed over is durable (`ok`) or not.
    pub fn stored(&mut self, ok: bool) {
        let Some(p) = self.pending.pop_front() else {
            return;
        };
        if !ok {
            self.events.push_back(Event::StoreFailed);
            return;
        }
        let at = match p {
            Pending::Batch(at) => at,
            Pending::Done(at) => Some(at),
        };
        if let Some(at) = at
            && at.epoch == self.seen.epoch
        {
            self.seen = at;
            self.seen_changed = true;
            self.control.push_back(Out::Frame(stream::ack_frame(at)));
        }
        if let Pending::Done(at) = p {
            self.caught_up = true;
            self.events.push_back(Event::CaughtUp { at });
        }
    }

    /// Whether the driver must fetch a snapshot of the lease table now
    /// (once per full transfer) and give it to [`Replica::snapshot`].
    pub fn poll_snapshot(&mut self) -> bool {
        std::mem::take(&mut self.snapshot_asked)
    }

    /// The lease table for a full transfer: queued, then DONE once the
    /// changes committed before it have been sent too.
    pub fn snapshot(&mut self, leases: Vec<Lease>) {
        if !self.snapshot_wanted || !self.up {
            return;
        }
        self.snapshot_wanted = false;
        let count = leases.len() as u64;
        self.control
            .push_back(Out::Frame(self.outbox.full_header(count)));
        self.control.extend(leases.into_iter().map(Out::Lease));
        self.done_after = Some(self.outbox.last());
        self.events.push_back(Event::FullTransferSent { count });
    }

    /// The next frame to send, lifetimes as of `wall`: control frames
    /// first, then our changes within the window (held while a snapshot
    /// is awaited), then DONE.
    pub fn poll_frame(&mut self, wall: UnixTime) -> Option<Frame> {
        if !self.up {
            return None;
        }
        match self.control.pop_front() {
            Some(Out::Frame(f)) => return Some(f),
            Some(Out::Lease(l)) => {
                let rec = Record::of(&Change::Upsert(l), wall);
                return Some(stream::full_record(&rec));
            }
            None => {}
        }
        // Our changes wait for the peer's RESUME (where it stands), and
        // for a snapshot being taken (nothing older may overtake it).
        if !self.resumed || self.snapshot_wanted {
            return None;
        }
        if let Some(f) = self.outbox.poll_frame(wall) {
            return Some(f);
        }
        if self.outbox.take_full() {
            // Overrun: the peer fell further behind than the ring reaches.
            self.snapshot_asked = true;
            self.snapshot_wanted = true;
            self.done_after = None;
            self.events.push_back(Event::Overrun);
            return None;
        }
        match self.done_after {
            Some(d) if self.outbox.sent_through() >= d => {
                self.done_after = None;
                Some(self.outbox.full_done())
            }
            _ => None,
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    use super::*;
    use crate::dhcp::binding::HwAddr;

    const WALL: UnixTime = UnixTime(1_800_000_000);

    fn lease(i: u8, name: &str) -> Lease {
        Lease {
            ip: Ipv4Addr::new(192, 168, 1, i),
            hw: HwAddr::ether([2, 0, 0, 0, 0, i]),
            client_id: None,
            hostname: Some(name.into()),
            expires: UnixTime(WALL.0 + 3600),
        }
    }

    /// A box: its replica and its store (address → client's last byte).
    struct Side {
        r: Replica,
        store: BTreeMap<Ipv4Addr, String>,
        /// Batches handed over, not yet reported stored.
        writing: VecDeque<Vec<Change>>,
    }

    impl Side {
        fn new(epoch: u64) -> Side {
            Side {
                r: Replica::with_limits(epoch, Position::default(), 8, 4),
                store: BTreeMap::new(),
                writing: VecDeque::new(),
            }
        }
        fn commit(&mut self, c: Change) {
            self.apply(&c);
            self.r.committed(&[c]);
        }
        fn apply(&mut self, c: &Change) {
            match c {
                Change::Upsert(l) => {
                    self.store
                        .insert(l.ip, l.hostname.clone().unwrap_or_default());
                }
                Change::Remove(ip) => {
                    self.store.remove(ip);
                }
            }
        }
        fn table(&self) -> Vec<Lease> {
            self.store
                .iter()
                .map(|(ip, n)| lease(ip.octets()[3], n))
                .collect()
        }
    }

    /// Moves frames both ways until nothing moves; every batch handed to
    /// a store is durable at once unless `fail` (then every one fails).
    fn pump(a: &mut Side, b: &mut Side, fail: bool) {
        for _ in 0..1000 {
            let moved = step(a, b, fail) | step(b, a, fail);
            if !moved {
                return;
            }
        }
        panic!("the two sides never went quiet");
    }

    /// `x` sends what it has to `y`, which stores it.
    fn step(x: &mut Side, y: &mut Side, fail: bool) -> bool {
        let mut moved = false;
        if x.r.poll_snapshot() {
            let t = x.table();
            x.r.snapshot(t);
        }
        while let Some((k, body)) = x.r.poll_frame(WALL) {
            y.r.handle_frame(k, &body, WALL);
            moved = true;
        }
        // An overrun asks for a snapshot only once the ring runs dry.
        if x.r.poll_snapshot() {
            let t = x.table();
            x.r.snapshot(t);
            moved = true;
        }
        while let Some(batch) = y.r.poll_store() {
            y.writing.push_back(batch);
        }
        while let Some(batch) = y.writing.pop_front() {
            if !fail {
                for c in &batch {
                    y.apply(c);
                }
            }
            y.r.stored(!fail);
            moved = true;
        }
        moved
    }

    fn connect(a: &mut Side, b: &mut Side) {
        a.r.connected(WALL);
        b.r.connected(WALL);
    }

    fn events(s: &mut Side) -> Vec<Event> {
        std::iter::from_fn(|| s.r.poll_event()).collect()
    }

    #[test]
    fn both_stores_converge_and_each_side_catches_up() {
        let (mut a, mut b) = (Side::new(1), Side::new(2));
        a.commit(Change::Upsert(lease(10, "laptop")));
        b.commit(Change::Upsert(lease(20, "phone")));
        connect(&mut a, &mut b);
        pump(&mut a, &mut b, false);
        assert_eq!(a.store, b.store);
        assert!(a.r.caught_up() && b.r.caught_up());
        // First contact: each sends everything (neither saw the other).
        assert!(events(&mut a).contains(&Event::Resumed {
            skew_s: 0,
            full: true
        }));
        // Then changes stream in order.
        a.commit(Change::Remove(Ipv4Addr::new(192, 168, 1, 10)));
        pump(&mut a, &mut b, false);
        assert_eq!(a.store, b.store, "a removal travels in order");
        // More than the window and the ring at once: the peer falls
        // behind the ring and gets a full transfer. (A full transfer
        // merges; it cannot carry removals, which is why the store's
        // merge never relies on them: see dhcp::merge.)
        for i in 30..60 {
            a.commit(Change::Upsert(lease(i, "x")));
        }
        pump(&mut a, &mut b, false);
        assert_eq!(a.store, b.store);
        assert_eq!(a.r.lag(), 0);
        assert!(
            events(&mut a).contains(&Event::Overrun),
            "31 changes through a ring of 8: a full transfer"
        );
    }

    #[test]
    fn a_reconnect_resumes_and_a_new_stream_gets_a_full_transfer() {
        let (mut a, mut b) = (Side::new(1), Side::new(2));
        connect(&mut a, &mut b);
        pump(&mut a, &mut b, false);
        a.r.disconnected();
        b.r.disconnected();
        // Changes while apart travel on the next connection: a resume.
        a.commit(Change::Upsert(lease(11, "tv")));
        connect(&mut a, &mut b);
        events(&mut b);
        pump(&mut a, &mut b, false);
        assert!(events(&mut b).contains(&Event::Resumed {
            skew_s: 0,
            full: false
        }));
        assert_eq!(b.store.get(&Ipv4Addr::new(192, 168, 1, 11)).unwrap(), "tv");
        // A restarts: a new epoch (its sequence numbers start again). Its
        // new change 1 must not be taken for the old change 1 B has seen.
        let seen_by_a = a.r.seen();
        let store = std::mem::take(&mut a.store);
        a = Side::new(3);
        a.store = store;
        a.r = Replica::with_limits(3, seen_by_a, 8, 4);
        a.commit(Change::Upsert(lease(12, "printer")));
        b.r.disconnected();
        connect(&mut a, &mut b);
        pump(&mut a, &mut b, false);
        assert_eq!(a.store, b.store, "B has A's new change via a full transfer");
        assert!(b.r.caught_up());
    }

    #[test]
    fn nothing_is_acknowledged_that_the_store_did_not_keep() {
        let (mut a, mut b) = (Side::new(1), Side::new(2));
        a.commit(Change::Upsert(lease(10, "laptop")));
        connect(&mut a, &mut b);
        pump(&mut a, &mut b, true);
        assert!(b.store.is_empty());
        assert!(!b.r.caught_up());
        assert!(events(&mut b).contains(&Event::StoreFailed));
        assert!(a.r.lag() > 0, "A still holds its change for B");
        // The next connection brings it.
        a.r.disconnected();
        b.r.disconnected();
        connect(&mut a, &mut b);
        pump(&mut a, &mut b, false);
        assert_eq!(a.store, b.store);
        assert_eq!(a.r.lag(), 0);
    }

    /// Found by the pair simulation: a change queued through a partition
    /// must not come out with the lifetime it had when committed, or
    /// every lease granted during the partition would look fresh at the
    /// heal. Lifetimes are taken when the frame is sent.
    #[test]
    fn time_spent_queued_is_not_added_to_a_lease() {
        let (mut a, mut b) = (Side::new(1), Side::new(2));
        connect(&mut a, &mut b);
        pump(&mut a, &mut b, false);
        a.r.disconnected();
        b.r.disconnected();
        let granted = lease(10, "laptop"); // ends at WALL + 3600
        a.r.committed(&[Change::Upsert(granted.clone())]);
        // The link comes back 3000 s later; the lease has 600 s left.
        let later = UnixTime(WALL.0 + 3000);
        a.r.connected(later);
        b.r.connected(later);
        let mut got = Vec::new();
        for _ in 0..4 {
            while let Some((k, body)) = a.r.poll_frame(later) {
                b.r.handle_frame(k, &body, later);
            }
            while let Some((k, body)) = b.r.poll_frame(later) {
                a.r.handle_frame(k, &body, later);
            }
            got.extend(std::iter::from_fn(|| b.r.poll_store()).flatten());
        }
        assert!(events(&mut a).contains(&Event::Resumed {
            skew_s: 0,
            full: false
        }));
        assert_eq!(
            got,
            vec![Change::Upsert(granted)],
            "same end, not 3000 s later"
        );
    }

    #[test]
    fn junk_from_an_authenticated_peer_is_reported_not_applied() {
        let mut b = Side::new(2);
        b.r.connected(WALL);
        b.r.handle_frame(33, &[1, 2, 3], WALL);
        b.r.handle_frame(99, &[], WALL);
        assert!(b.r.poll_store().is_none());
        let ev = events(&mut b);
        assert!(ev.iter().all(|e| matches!(e, Event::Malformed(_))) && ev.len() == 2);
    }
}
