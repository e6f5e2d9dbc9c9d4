//! The replication stream over the pair link, sans-IO (design §9): each
//! box numbers the lease changes it committed, sends them to its peer,
//! and the peer acknowledges what it has stored durably; on every new
//! connection the receiver says where it stands and the sender resumes
//! from there, or sends everything it holds.
//!
//! * **Sequence numbers** belong to an *epoch*: a random number drawn at
//!   every start of a box ([`super::state`]), since the numbers start
//!   again then. A peer that never saw the epoch gets a full transfer, so
//!   it cannot mistake "nothing" or "change 1 of another stream" for "up to
//!   date".
//! * **Remaining lifetimes** travel, not absolute times, so the clocks of
//!   the two boxes need not agree (a Raspberry Pi has no RTC). The sender
//!   also sends its wall clock; the receiver reports the skew.
//! * **Lazy**: a client's ACK never waits for the peer. The window of
//!   unacknowledged frames is bounded, and so is the ring of recent
//!   changes kept for a resume; past it, the resume is a full transfer,
//!   streamed from the lease table, never held whole in memory.
//!
//! Frame bodies (inside authenticated link frames, [`super::link`]):
//!
//! ```text
//! RESUME (32)  epoch_of_sender:u64 | epoch_seen:u64 | seq_seen:u64 | wall:u64
//! CHANGE (33)  seq:u64 | record
//! FULL   (34)  seq_at_start:u64 | count:u64   (the records follow as CHANGE with seq 0)
//! DONE   (35)  seq:u64                         (a full transfer ended)
//! ACK    (36)  epoch:u64 | seq:u64
//! record       op:u8 (1 upsert, 2 remove) | ip:4 | remaining_s:u32 (u32::MAX = infinite)
//!              | htype:u8 | hwlen:u8 | hw | cidlen:u8 (255 = none) | cid | namelen:u8 | name
//! ```

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use crate::clock::UnixTime;
use crate::dhcp::binding::{HwAddr, Lease};
use crate::dhcp::leases::Change;

pub const KIND_RESUME: u8 = 32;
pub const KIND_CHANGE: u8 = 33;
pub const KIND_FULL: u8 = 34;
pub const KIND_DONE: u8 = 35;
pub const KIND_ACK: u8 = 36;

const INFINITE: u32 = u32::MAX;

/// A change as it travels: a lease with its remaining lifetime, or a
/// removal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Upsert {
        ip: Ipv4Addr,
        hw: HwAddr,
        client_id: Option<Vec<u8>>,
        hostname: Option<String>,
        /// Seconds left; `None` is infinite (a reservation).
        remaining: Option<u32>,
    },
    Remove(Ipv4Addr),
}

/// Why a frame body was refused: the peer's fault (it authenticated, so
/// this is a bug or another version, not an attack), counted and logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl Record {
    /// The record of a committed change, as seen at `now`.
    pub fn of(change: &Change, now: UnixTime) -> Record {
        match change {
            Change::Remove(ip) => Record::Remove(*ip),
            Change::Upsert(l) => Record::Upsert {
                ip: l.ip,
                hw: l.hw,
                client_id: l.client_id.clone(),
                hostname: l.hostname.clone(),
                remaining: (l.expires.0 != 0)
                    .then(|| l.expires.0.saturating_sub(now.0).min(INFINITE as u64 - 1) as u32),
            },
        }
    }

    /// The change this record makes on a box whose clock reads `now`.
    pub fn to_change(&self, now: UnixTime) -> Change {
        match self {
            Record::Remove(ip) => Change::Remove(*ip),
            Record::Upsert {
                ip,
                hw,
                client_id,
                hostname,
                remaining,
            } => Change::Upsert(Lease {
                ip: *ip,
                hw: *hw,
                client_id: client_id.clone(),
                hostname: hostname.clone(),
                // A lease that ends now is still a lease that ended: 1 s
                // in the past, never 0 (which means infinite).
                expires: match remaining {
                    None => UnixTime(0),
                    Some(r) => UnixTime((now.0 + *r as u64).max(1)),
                },
            }),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Record::Remove(ip) => {
                out.push(2);
                out.extend_from_slice(&ip.octets());
            }
            Record::Upsert {
                ip,
                hw,
                client_id,
                hostname,
                remaining,
            } => {
                out.push(1);
                out.extend_from_slice(&ip.octets());
                out.extend_from_slice(&remaining.unwrap_or(INFINITE).to_be_bytes());
                out.push(hw.htype);
                out.push(hw.as_bytes().len() as u8);
                out.extend_from_slice(hw.as_bytes());
                match client_id {
                    // A client identifier is at most 255 bytes (one option).
                    Some(c) => {
                        let c = &c[..c.len().min(254)];
                        out.push(c.len() as u8);
                        out.extend_from_slice(c);
                    }
                    None => out.push(255),
                }
                let n = hostname.as_deref().unwrap_or("").as_bytes();
                let n = &n[..n.len().min(255)];
                out.push(n.len() as u8);
                out.extend_from_slice(n);
            }
        }
    }

    pub fn decode(b: &[u8]) -> Result<Record, Malformed> {
        let mut r = Reader(b);
        let rec = match r.u8()? {
            2 => Record::Remove(r.ip()?),
            1 => {
                let ip = r.ip()?;
                let remaining = match r.u32()? {
                    INFINITE => None,
                    s => Some(s),
                };
                let htype = r.u8()?;
                let hwlen = r.u8()? as usize;
                let hw = HwAddr::new(htype, r.take(hwlen)?).ok_or(Malformed("hardware address"))?;
                let client_id = match r.u8()? {
                    255 => None,
                    n => Some(r.take(n as usize)?.to_vec()),
                };
                let n = r.u8()? as usize;
                let name = std::str::from_utf8(r.take(n)?).map_err(|_| Malformed("host name"))?;
                Record::Upsert {
                    ip,
                    hw,
                    client_id,
                    hostname: (!name.is_empty()).then(|| name.to_string()),
                    remaining,
                }
            }
            _ => return Err(Malformed("record type")),
        };
        if !r.0.is_empty() {
            return Err(Malformed("trailing bytes"));
        }
        Ok(rec)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed("short frame"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn ip(&mut self) -> Result<Ipv4Addr, Malformed> {
        let b = self.take(4)?;
        Ok(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }
}

/// A frame for the link: its kind and body.
pub type Frame = (u8, Vec<u8>);

/// The sending half: this box's committed changes, numbered.
pub struct Outbox {
    epoch: u64,
    /// The sequence number of the last change pushed.
    last: u64,
    /// Recent changes for a resume, oldest first, at most `ring_cap`;
    /// kept with their absolute expiry (our clock) and turned into
    /// remaining lifetimes only when sent, so time spent queued (a
    /// partition, a slow peer) is not added to the leases.
    ring: VecDeque<(u64, Change)>,
    ring_cap: usize,
    /// Highest sequence number the peer acknowledged in this epoch.
    acked: u64,
    /// Sent but not acknowledged yet, at most `window`.
    next_to_send: u64,
    window: u64,
    /// A full transfer is wanted; the driver streams the lease table.
    full_wanted: bool,
}

impl Outbox {
    pub fn new(epoch: u64, ring_cap: usize, window: u64) -> Outbox {
        Outbox {
            epoch,
            last: 0,
            ring: VecDeque::new(),
            ring_cap,
            acked: 0,
            next_to_send: 1,
            window,
            full_wanted: false,
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A change this box committed (after its own fdatasync).
    pub fn push(&mut self, r: Change) -> u64 {
        self.last += 1;
        if self.ring.len() == self.ring_cap {
            self.ring.pop_front();
        }
        self.ring.push_back((self.last, r));
        self.last
    }

    /// The sequence number of the last change pushed.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Every change up to this one has been handed to the link.
    pub fn sent_through(&self) -> u64 {
        self.next_to_send - 1
    }

    /// Changes not yet acknowledged: the replication lag in changes.
    pub fn lag(&self) -> u64 {
        self.last - self.acked
    }

    /// The peer's RESUME on a new connection: from where it stands, or a
    /// full transfer when it never saw this epoch or is further behind
    /// than the ring reaches.
    pub fn resume(&mut self, epoch_seen: u64, seq_seen: u64) {
        let oldest = self.ring.front().map_or(self.last + 1, |(s, _)| *s);
        if epoch_seen == self.epoch && seq_seen <= self.last && seq_seen + 1 >= oldest {
            self.acked = seq_seen;
            self.next_to_send = seq_seen + 1;
            self.full_wanted = false;
        } else {
            self.acked = 0;
            self.next_to_send = self.last + 1;
            self.full_wanted = true;
        }
    }

    /// Whether the driver must stream the whole lease table now; it then
    /// sends [`Outbox::full_header`], every lease as [`full_record`], and
    /// [`Outbox::full_done`]; later changes follow as usual.
    pub fn take_full(&mut self) -> bool {
        std::mem::take(&mut self.full_wanted)
    }

    pub fn full_header(&self, count: u64) -> Frame {
        let mut b = Vec::with_capacity(16);
        b.extend_from_slice(&self.last.to_be_bytes());
        b.extend_from_slice(&count.to_be_bytes());
        (KIND_FULL, b)
    }

    /// The end of a catch-up: every change up to the one this names has
    /// been handed to the link (a later one may still wait in the ring).
    pub fn full_done(&self) -> Frame {
        (KIND_DONE, self.sent_through().to_be_bytes().to_vec())
    }

    /// The peer acknowledged up to `seq` of `epoch`.
    pub fn ack(&mut self, epoch: u64, seq: u64) {
        if epoch == self.epoch && seq <= self.last {
            self.acked = self.acked.max(seq);
        }
    }

    /// The next change to send, within the window, with its remaining
    /// lifetime as of `wall`.
    pub fn poll_frame(&mut self, wall: UnixTime) -> Option<Frame> {
        if self.next_to_send > self.last || self.next_to_send > self.acked + self.window {
            return None;
        }
        let oldest = self.ring.front()?.0;
        if self.next_to_send < oldest {
            // The ring moved past what the peer has yet to get (a slow
            // peer, a burst of changes): it gets a full transfer instead,
            // and the stream goes on from the newest change.
            self.full_wanted = true;
            self.next_to_send = self.last + 1;
            return None;
        }
        let (seq, change) = &self.ring[(self.next_to_send - oldest) as usize];
        self.next_to_send += 1;
        Some(change_frame(*seq, &Record::of(change, wall)))
    }
}

fn change_frame(seq: u64, rec: &Record) -> Frame {
    let mut b = Vec::with_capacity(48);
    b.extend_from_slice(&seq.to_be_bytes());
    rec.encode(&mut b);
    (KIND_CHANGE, b)
}

/// A lease of a full transfer (sequence number 0: not in the ring).
pub fn full_record(rec: &Record) -> Frame {
    change_frame(0, rec)
}

/// The receiving half: where this box stands in its peer's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Position {
    pub epoch: u64,
    pub seq: u64,
}

/// What the receiver makes of a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// Store this change (after the local commit, acknowledge `ack`).
    Apply { rec: Record, ack: Option<Position> },
    /// A full transfer starts: the peer's leases not in it are gone.
    FullStart { count: u64 },
    /// A full transfer ended: acknowledge and remember `at`.
    FullDone { at: Position },
    /// The peer acknowledged our changes.
    Acked(Position),
    /// The peer's RESUME: where it stands in our stream, and its clock.
    Resume {
        seen: Position,
        peer_epoch: u64,
        wall: UnixTime,
    },
}

/// Decodes a frame of the stream.
pub fn decode(kind: u8, body: &[u8], peer_epoch: u64) -> Result<Inbound, Malformed> {
    let mut r = Reader(body);
    let out = match kind {
        KIND_RESUME => {
            let peer = r.u64()?;
            let epoch = r.u64()?;
            let seq = r.u64()?;
            let wall = UnixTime(r.u64()?);
            Inbound::Resume {
                seen: Position { epoch, seq },
                peer_epoch: peer,
                wall,
            }
        }
        KIND_CHANGE => {
            let seq = r.u64()?;
            let rec = Record::decode(r.0)?;
            r.0 = &[];
            Inbound::Apply {
                rec,
                ack: (seq != 0).then_some(Position {
                    epoch: peer_epoch,
                    seq,
                }),
            }
        }
        KIND_FULL => {
            let _seq = r.u64()?;
            Inbound::FullStart { count: r.u64()? }
        }
        KIND_DONE => Inbound::FullDone {
            at: Position {
                epoch: peer_epoch,
                seq: r.u64()?,
            },
        },
        KIND_ACK => Inbound::Acked(Position {
            epoch: r.u64()?,
            seq: r.u64()?,
        }),
        _ => return Err(Malformed("frame kind")),
    };
    if !r.0.is_empty() {
        return Err(Malformed("trailing bytes"));
    }
    Ok(out)
}

/// This box's RESUME: its own epoch, where it stands in the peer's
/// stream, and its wall clock.
pub fn resume_frame(my_epoch: u64, seen: Position, wall: UnixTime) -> Frame {
    let mut b = Vec::with_capacity(32);
    for v in [my_epoch, seen.epoch, seen.seq, wall.0] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    (KIND_RESUME, b)
}

pub fn ack_frame(at: Position) -> Frame {
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(&at.epoch.to_be_bytes());
    b.extend_from_slice(&at.seq.to_be_bytes());
    (KIND_ACK, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Rng;

    fn lease(i: u8, secs: u64) -> Lease {
        Lease {
            ip: Ipv4Addr::new(192, 168, 1, i),
            hw: HwAddr::ether([2, 0, 0, 0, 0, i]),
            client_id: (i & 1 == 0).then(|| vec![1, 2, 0, 0, 0, 0, i]),
            hostname: (i & 2 == 0).then(|| format!("host-{i}")),
            expires: if secs == 0 {
                UnixTime(0)
            } else {
                UnixTime(1_000_000 + secs)
            },
        }
    }

    #[test]
    fn records_carry_remaining_lifetimes_so_clocks_need_not_agree() {
        let l = lease(7, 3600);
        let r = Record::of(&Change::Upsert(l.clone()), UnixTime(1_000_000));
        let mut b = Vec::new();
        r.encode(&mut b);
        assert_eq!(Record::decode(&b), Ok(r.clone()));
        // A receiver whose clock is 500 s ahead stores the same hour.
        let Change::Upsert(got) = r.to_change(UnixTime(1_000_500)) else {
            panic!()
        };
        assert_eq!(got.expires, UnixTime(1_000_500 + 3600));
        assert_eq!(
            (got.hw, got.hostname, got.client_id),
            (l.hw, l.hostname, l.client_id)
        );
        // Infinite stays infinite; an ended lease stays ended, never 0.
        let inf = Record::of(&Change::Upsert(lease(8, 0)), UnixTime(1_000_000));
        assert_eq!(inf.to_change(UnixTime(5)), Change::Upsert(lease(8, 0)));
        let ended = Record::of(&Change::Upsert(lease(9, 1)), UnixTime(2_000_000));
        let Change::Upsert(e) = ended.to_change(UnixTime(0)) else {
            panic!()
        };
        assert_ne!(e.expires, UnixTime(0));
        let rm = Record::of(&Change::Remove(Ipv4Addr::new(1, 2, 3, 4)), UnixTime(0));
        let mut b = Vec::new();
        rm.encode(&mut b);
        assert_eq!(Record::decode(&b), Ok(rm));
    }

    #[test]
    fn junk_bodies_are_refused_never_a_panic() {
        let mut rng = Rng::new(11);
        for _ in 0..5000 {
            let n = rng.below(60) as usize;
            let b: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            let _ = Record::decode(&b);
            let _ = decode(32 + rng.below(6) as u8, &b, 1);
        }
        assert_eq!(Record::decode(&[3]), Err(Malformed("record type")));
        assert_eq!(Record::decode(&[2, 1, 2, 3]), Err(Malformed("short frame")));
        assert_eq!(
            Record::decode(&[2, 1, 2, 3, 4, 0]),
            Err(Malformed("trailing bytes"))
        );
    }

    /// Sends what the outbox offers through `decode`, as the peer sees it.
    fn drain(o: &mut Outbox) -> Vec<u64> {
        let epoch = o.epoch();
        std::iter::from_fn(|| o.poll_frame(UnixTime(0)))
            .map(|(k, b)| match decode(k, &b, epoch).unwrap() {
                Inbound::Apply { ack: Some(p), .. } => p.seq,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_window_bounds_what_is_in_flight_and_acks_open_it() {
        let mut o = Outbox::new(42, 100, 3);
        o.resume(42, 0);
        for i in 1..=5 {
            o.push(Change::Remove(Ipv4Addr::new(10, 0, 0, i)));
        }
        assert_eq!(drain(&mut o), vec![1, 2, 3]);
        assert_eq!(o.lag(), 5);
        o.ack(42, 2);
        assert_eq!(drain(&mut o), vec![4, 5]);
        // An ack of another epoch or from the future changes nothing.
        o.ack(41, 5);
        o.ack(42, 9);
        assert_eq!(o.lag(), 3);
        o.ack(42, 5);
        assert_eq!(o.lag(), 0);
    }

    #[test]
    fn a_resume_continues_where_the_peer_stands_or_falls_back_to_a_full_transfer() {
        let mut o = Outbox::new(7, 4, 100);
        for i in 1..=6 {
            o.push(Change::Remove(Ipv4Addr::new(10, 0, 0, i)));
        }
        // The ring holds 3..=6: a peer at 2 resumes at 3.
        o.resume(7, 2);
        assert!(!o.take_full());
        assert_eq!(drain(&mut o), vec![3, 4, 5, 6]);
        // A peer at 1 is behind the ring: full transfer, then new changes.
        o.resume(7, 1);
        assert!(o.take_full());
        assert!(drain(&mut o).is_empty());
        let (k, b) = o.full_header(50);
        assert_eq!(decode(k, &b, 7), Ok(Inbound::FullStart { count: 50 }));
        let (k, b) = o.full_done();
        assert_eq!(
            decode(k, &b, 7),
            Ok(Inbound::FullDone {
                at: Position { epoch: 7, seq: 6 }
            })
        );
        o.push(Change::Remove(Ipv4Addr::new(10, 0, 0, 7)));
        assert_eq!(drain(&mut o), vec![7]);
        // A peer that saw another epoch (our store was lost, or its was)
        // and one that claims more than we ever sent: full transfer.
        for (e, s) in [(6, 6), (7, 99)] {
            o.resume(e, s);
            assert!(o.take_full(), "epoch {e} seq {s}");
        }
        // A full record has no sequence number, so it is not acked alone.
        let (k, b) = full_record(&Record::Remove(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(matches!(
            decode(k, &b, 7),
            Ok(Inbound::Apply { ack: None, .. })
        ));
    }

    #[test]
    fn resume_and_ack_frames_round_trip() {
        let at = Position { epoch: 9, seq: 12 };
        let (k, b) = resume_frame(3, at, UnixTime(1_700_000_000));
        assert_eq!(
            decode(k, &b, 0),
            Ok(Inbound::Resume {
                seen: at,
                peer_epoch: 3,
                wall: UnixTime(1_700_000_000)
            })
        );
        let (k, b) = ack_frame(at);
        assert_eq!(decode(k, &b, 0), Ok(Inbound::Acked(at)));
        assert_eq!(decode(99, &[], 0), Err(Malformed("frame kind")));
    }
}
