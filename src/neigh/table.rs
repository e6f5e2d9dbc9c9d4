//! The neighbour watcher's core, sans-IO: it reads what the kernel says
//! about IPv6 neighbours and keeps the usable global and ULA addresses
//! per MAC, for AAAA names of DHCPv4 clients (design §10).
//!
//! What is kept, and why:
//! * Addresses: global unicast `2000::/3` (RFC 4291 §2.4) and unique
//!   local `fc00::/7` (RFC 4193) only. Link-local addresses are
//!   meaningless off the link and without a scope, multicast and
//!   loopback are never a host's name.
//! * States: REACHABLE, STALE, DELAY and PROBE (RFC 4861 §7.3.2: the
//!   neighbour was heard from; STALE only means "not confirmed lately",
//!   and a client that is idle for a minute is still there), and
//!   PERMANENT (an administrator's static entry). INCOMPLETE and FAILED
//!   (resolution failed: the address is gone) remove the address, as
//!   RTM_DELNEIGH does. NOARP entries are the kernel's own (multicast
//!   mappings, NOARP links), never learnt from a client.
//! * Aging: Linux keeps STALE entries for ever while the table holds
//!   fewer than `gc_thresh1` (128) entries, so an abandoned privacy
//!   address would keep its name for good. An entry not confirmed for
//!   [`MAX_UNCONFIRMED`] is dropped here (a live client is confirmed
//!   whenever the router talks to it, which forwarding its traffic does).
//! * Resync: a dump at start, [`REDUMP_EVERY`] after, and at once when
//!   the socket overflowed (ENOBUFS or NLMSG_OVERRUN: notifications were
//!   lost). A dump replaces the table when its NLMSG_DONE arrives.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

use super::Neighbours;
use super::wire::{self, Malformed, Message, Neigh, nud};
use crate::clock::Mono;

/// An entry unconfirmed for this long is dropped (see the module doc).
pub const MAX_UNCONFIRMED: Duration = Duration::from_secs(3600);
/// The whole table is dumped again this often.
pub const REDUMP_EVERY: Duration = Duration::from_secs(60);
/// A dump that has not finished in this long is asked again.
const DUMP_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether an address may name a host: global unicast or ULA.
pub fn nameable(a: Ipv6Addr) -> bool {
    let top = a.segments()[0];
    top & 0xe000 == 0x2000 || top & 0xfe00 == 0xfc00
}

/// Whether a neighbour state means the address is in use.
pub fn usable(state: u16) -> bool {
    state & (nud::REACHABLE | nud::STALE | nud::DELAY | nud::PROBE | nud::PERMANENT) != 0
}

/// What the driver counts and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A message that could not be read, dropped.
    Malformed(Malformed),
    /// Notifications were lost (ENOBUFS / NLMSG_OVERRUN): dumping again.
    Overflow,
    /// The kernel refused the dump request (errno).
    DumpFailed(i32),
    /// A dump finished with this many usable addresses.
    Dumped(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    mac: [u8; 6],
    /// When the neighbour was last confirmed; `None` for PERMANENT.
    confirmed: Option<Mono>,
}

/// Usable entries by (interface index, address).
type Entries = HashMap<(u32, Ipv6Addr), Entry>;

/// The watcher (one per daemon; the `neigh` task owns it).
pub struct Watcher {
    /// The interfaces whose neighbours count; empty = every interface.
    ifindexes: Vec<u32>,
    live: Entries,
    /// A dump in flight: its sequence number, what it has said so far,
    /// and when it is given up.
    dump: Option<(u32, Entries, Mono)>,
    seq: u32,
    /// A dump request to send.
    transmit: Option<Vec<u8>>,
    next_dump: Mono,
    changed: bool,
    events: VecDeque<Event>,
}

impl Watcher {
    /// Watches the neighbours of `ifindexes` (every interface if empty);
    /// the first dump goes out at once.
    pub fn new(now: Mono, ifindexes: Vec<u32>) -> Watcher {
        let mut w = Watcher {
            ifindexes,
            live: HashMap::new(),
            dump: None,
            seq: 0,
            transmit: None,
            next_dump: now,
            changed: true,
            events: VecDeque::new(),
        };
        w.start_dump(now);
        w
    }

    fn start_dump(&mut self, now: Mono) {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.transmit = Some(wire::dump_request(self.seq));
        self.dump = Some((self.seq, HashMap::new(), now + DUMP_TIMEOUT));
        self.next_dump = now + REDUMP_EVERY;
    }

    /// A datagram from the netlink socket.
    pub fn handle_datagram(&mut self, now: Mono, buf: &[u8]) {
        for m in wire::parse(buf) {
            match m {
                Err(e) => self.events.push_back(Event::Malformed(e)),
                Ok(Message::Neigh(n)) => self.neigh(now, n),
                Ok(Message::Done(seq)) => {
                    if let Some((s, entries, _)) = self.dump.take_if(|d| d.0 == seq) {
                        debug_assert_eq!(s, seq);
                        self.events.push_back(Event::Dumped(entries.len()));
                        // Published only when an address or its MAC
                        // changed: the periodic re-dump moves every
                        // confirmation time, and each publication makes
                        // the DHCP task rebuild its host table.
                        let same = entries.len() == self.live.len()
                            && entries
                                .iter()
                                .all(|(k, e)| self.live.get(k).is_some_and(|l| l.mac == e.mac));
                        self.live = entries;
                        self.changed |= !same;
                    }
                }
                Ok(Message::Error { seq, errno }) => {
                    if errno != 0 && self.dump.take_if(|d| d.0 == seq).is_some() {
                        self.events.push_back(Event::DumpFailed(errno));
                    }
                }
                Ok(Message::Overrun) => self.handle_overflow(now),
            }
        }
        self.expire(now);
    }

    /// The socket overflowed (ENOBUFS): notifications were lost, so the
    /// table is dumped again.
    pub fn handle_overflow(&mut self, now: Mono) {
        self.events.push_back(Event::Overflow);
        self.start_dump(now);
    }

    fn neigh(&mut self, now: Mono, n: Neigh) {
        let Some(dst) = n.dst.filter(|d| nameable(*d)) else {
            return;
        };
        if !self.ifindexes.is_empty() && !self.ifindexes.contains(&n.ifindex) {
            return;
        }
        let key = (n.ifindex, dst);
        let entry = match n.lladdr {
            Some(mac) if !n.deleted && usable(n.state) => Some(Entry {
                mac,
                confirmed: (n.state & nud::PERMANENT == 0).then(|| {
                    let ago = n.confirmed_ago.unwrap_or_default().as_millis() as u64;
                    Mono(now.0.saturating_sub(ago))
                }),
            }),
            _ => None,
        };
        let fresh = |e: &Entry| e.confirmed.is_none_or(|c| now.since(c) < MAX_UNCONFIRMED);
        let entry = entry.filter(fresh);
        // A dump reply belongs to its dump; a notification also updates a
        // dump in flight (it may be newer than what the dump said).
        if let Some((seq, entries, _)) = &mut self.dump
            && (n.seq == *seq || n.seq == 0)
        {
            match entry {
                Some(e) => entries.insert(key, e),
                None => entries.remove(&key),
            };
        }
        if n.seq != 0 {
            return;
        }
        let before = match entry {
            Some(e) => self.live.insert(key, e),
            None => self.live.remove(&key),
        };
        if before.map(|b| b.mac) != entry.map(|e| e.mac) {
            self.changed = true;
        }
    }

    fn expire(&mut self, now: Mono) {
        let before = self.live.len();
        self.live
            .retain(|_, e| e.confirmed.is_none_or(|c| now.since(c) < MAX_UNCONFIRMED));
        if self.live.len() != before {
            self.changed = true;
        }
    }

    /// The next deadline: a dump due or overdue, or an entry's expiry.
    pub fn poll_timeout(&self) -> Option<Mono> {
        let expiry = self
            .live
            .values()
            .filter_map(|e| e.confirmed)
            .min()
            .map(|c| c + MAX_UNCONFIRMED);
        let dump = match &self.dump {
            Some((_, _, until)) => *until,
            None => self.next_dump,
        };
        Some(expiry.map_or(dump, |e| e.min(dump)))
    }

    pub fn handle_timeout(&mut self, now: Mono) {
        let due = match &self.dump {
            Some((_, _, until)) => *until <= now,
            None => self.next_dump <= now,
        };
        if due {
            self.start_dump(now);
        }
        self.expire(now);
    }

    /// The dump request to send, if one is due.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.take()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The table (MAC → addresses) if it changed since the last call.
    pub fn poll_table(&mut self) -> Option<Arc<Neighbours>> {
        if !std::mem::take(&mut self.changed) {
            return None;
        }
        Some(Arc::new(Neighbours::new(
            self.live.iter().map(|((_, a), e)| (e.mac, *a)),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::tests::{DEL, DUMP, MAC, NEW_FAILED, NEW_REACHABLE, NEW_STALE, hex};
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn at(s: u64) -> Mono {
        Mono(s * 1000)
    }

    /// A watcher whose first dump (seq 1) came back empty.
    fn watcher(ifs: Vec<u32>) -> Watcher {
        let mut w = Watcher::new(at(100), ifs);
        assert_eq!(w.poll_transmit(), Some(wire::dump_request(1)));
        let mut done = hex("140000000300020001000000840b000000000000");
        done.truncate(20);
        w.handle_datagram(at(100), &done);
        assert_eq!(w.poll_event(), Some(Event::Dumped(0)));
        let _ = w.poll_table();
        w
    }

    fn table(w: &mut Watcher) -> Vec<Ipv6Addr> {
        let t = w.poll_table().expect("changed");
        let mut v = t.addrs(&MAC).to_vec();
        v.sort();
        v
    }

    #[test]
    fn kernel_notifications_add_and_remove_addresses() {
        let mut w = watcher(vec![]);
        w.handle_datagram(at(101), &hex(NEW_REACHABLE));
        assert_eq!(table(&mut w), [a("2001:db8::10")]);
        w.handle_datagram(at(102), &hex(NEW_STALE));
        assert_eq!(table(&mut w), [a("2001:db8::10"), a("fd00::7")]);
        // The same entry again: nothing to publish.
        w.handle_datagram(at(103), &hex(NEW_STALE));
        assert!(w.poll_table().is_none());
        // FAILED removes the address, before the RTM_DELNEIGH.
        w.handle_datagram(at(104), &hex(NEW_FAILED));
        assert_eq!(table(&mut w), [a("fd00::7")]);
        w.handle_datagram(at(104), &hex(DEL));
        assert!(w.poll_table().is_none());
    }

    #[test]
    fn delneigh_removes_the_address() {
        let mut w = watcher(vec![]);
        w.handle_datagram(at(101), &hex(NEW_REACHABLE));
        let _ = w.poll_table();
        w.handle_datagram(at(102), &hex(DEL));
        assert_eq!(table(&mut w), [] as [Ipv6Addr; 0]);
    }

    /// A neighbour message for `dst` in `state`, built from a real one.
    fn with(dst: &str, state: u16, ifindex: u32) -> Vec<u8> {
        let mut b = hex(NEW_REACHABLE);
        b[16 + 4..16 + 8].copy_from_slice(&ifindex.to_ne_bytes());
        b[16 + 8..16 + 10].copy_from_slice(&state.to_ne_bytes());
        b[16 + 16..16 + 32].copy_from_slice(&a(dst).octets());
        b
    }

    #[test]
    fn only_global_and_ula_addresses_in_usable_states_are_kept() {
        let mut w = watcher(vec![]);
        for dst in ["fe80::1", "ff02::1", "::1", "::ffff:10.0.0.1", "fec0::1"] {
            w.handle_datagram(at(101), &with(dst, nud::REACHABLE, 3));
        }
        for s in [nud::INCOMPLETE, nud::FAILED, nud::NOARP, 0] {
            w.handle_datagram(at(101), &with("2001:db8::1", s, 3));
        }
        assert!(w.poll_table().is_none(), "nothing nameable");
        for (i, s) in [
            nud::REACHABLE,
            nud::STALE,
            nud::DELAY,
            nud::PROBE,
            nud::PERMANENT,
        ]
        .into_iter()
        .enumerate()
        {
            w.handle_datagram(at(101), &with(&format!("fd00::{}", i + 1), s, 3));
        }
        assert_eq!(table(&mut w).len(), 5);
    }

    #[test]
    fn other_interfaces_are_ignored() {
        let mut w = watcher(vec![5]);
        w.handle_datagram(at(101), &hex(NEW_REACHABLE));
        assert!(w.poll_table().is_none());
        w.handle_datagram(at(101), &with("2001:db8::10", nud::REACHABLE, 5));
        assert_eq!(table(&mut w), [a("2001:db8::10")]);
    }

    #[test]
    fn unconfirmed_entries_age_out_but_permanent_ones_stay() {
        let mut w = watcher(vec![]);
        w.handle_datagram(at(1000), &hex(NEW_STALE)); // confirmed 60 s ago
        w.handle_datagram(at(1000), &with("2001:db8::99", nud::PERMANENT, 3));
        assert_eq!(table(&mut w).len(), 2);
        let due = w.poll_timeout().unwrap();
        assert_eq!(due, at(160), "the periodic dump comes first");
        w.handle_timeout(at(1000 + 3600 - 61));
        assert!(w.poll_table().is_none());
        w.handle_timeout(at(1000 + 3600 - 60));
        assert_eq!(table(&mut w), [a("2001:db8::99")]);
        // A notification already too old is not taken.
        let mut old = hex(NEW_STALE);
        let i = old.len() - 16;
        old[i..i + 4].copy_from_slice(&(360_000u32 + 1).to_ne_bytes());
        w.handle_datagram(at(9000), &old);
        assert!(w.poll_table().is_none());
    }

    #[test]
    fn a_dump_replaces_the_table_and_an_overflow_dumps_again() {
        let mut w = watcher(vec![]);
        w.handle_datagram(at(101), &hex(NEW_REACHABLE));
        let _ = w.poll_table();
        // Notifications were lost (the DELNEIGH among them).
        w.handle_overflow(at(102));
        assert_eq!(w.poll_event(), Some(Event::Overflow));
        assert_eq!(w.poll_transmit(), Some(wire::dump_request(2)));
        w.handle_datagram(at(102), &dump(2));
        assert_eq!(w.poll_event(), Some(Event::Dumped(1)));
        assert_eq!(table(&mut w), [a("fd00::7")]);
        // The dump with the old number is no longer ours.
        w.handle_datagram(at(103), &hex(DUMP));
        assert!(w.poll_table().is_none());
        assert_eq!(w.poll_event(), None);
    }

    /// The kernel's dump (captured with seq 7), renumbered to `seq`.
    fn dump(seq: u32) -> Vec<u8> {
        let mut d = hex(DUMP);
        let mut i = 0;
        while i < d.len() {
            let len = u32::from_ne_bytes(d[i..i + 4].try_into().unwrap()) as usize;
            d[i + 8..i + 12].copy_from_slice(&seq.to_ne_bytes());
            i += len;
        }
        d
    }

    /// The periodic re-dump finds the same neighbours (only their
    /// confirmation times moved): nothing is published, so DHCP does not
    /// rebuild its host table every minute.
    #[test]
    fn a_repeated_dump_with_the_same_neighbours_publishes_nothing() {
        let mut w = watcher(vec![]);
        // Late enough that `now - confirmed ago` does not saturate at 0.
        w.handle_timeout(at(10_000));
        assert_eq!(w.poll_transmit(), Some(wire::dump_request(2)));
        w.handle_datagram(at(10_000), &dump(2));
        assert_eq!(table(&mut w), [a("fd00::7")]);
        w.handle_timeout(at(10_060));
        assert_eq!(w.poll_transmit(), Some(wire::dump_request(3)));
        w.handle_datagram(at(10_060), &dump(3));
        assert_eq!(w.poll_event(), Some(Event::Dumped(1)));
        assert_eq!(w.poll_event(), Some(Event::Dumped(1)));
        assert!(w.poll_table().is_none());
    }

    #[test]
    fn a_dump_is_repeated_and_a_lost_one_asked_again() {
        let mut w = watcher(vec![]);
        assert_eq!(w.poll_timeout(), Some(at(160)));
        w.handle_timeout(at(160));
        assert_eq!(w.poll_transmit(), Some(wire::dump_request(2)));
        // No answer: asked again after the dump timeout.
        assert_eq!(w.poll_timeout(), Some(at(165)));
        w.handle_timeout(at(165));
        assert_eq!(w.poll_transmit(), Some(wire::dump_request(3)));
        // A refused dump is reported.
        let mut e = vec![0u8; 36];
        e[0..4].copy_from_slice(&36u32.to_ne_bytes());
        e[4..6].copy_from_slice(&2u16.to_ne_bytes());
        e[8..12].copy_from_slice(&3u32.to_ne_bytes());
        e[16..20].copy_from_slice(&(-105i32).to_ne_bytes());
        w.handle_datagram(at(166), &e);
        assert_eq!(w.poll_event(), Some(Event::DumpFailed(105)));
    }
}
