//! Bindings in memory, and the choice of an address for a client.
//!
//! Address choice is stable per client (RFC 2131 §4.3.1, in this order):
//! 1. a reservation's fixed address (the operator's word wins, so that a
//!    changed `dhcp-host` takes effect);
//! 2. the client's previous binding, even if expired, unless it is an
//!    expired one in the peer's range (the peer may have handed that address
//!    out since: it is not ours to give, design §4);
//! 3. the address it asks for (option 50), if free in one of our ranges;
//! 4. a free address chosen by a hash of the client's key, so the same
//!    client tends to get the same address even after its binding is gone:
//!    first one never bound, then one whose binding expired longest ago.
//!
//! New addresses come only from our own ranges, never the peer's (design
//! §4, split scope). "Free" excludes addresses actively leased, offered or
//! reserved for another client, and DECLINEd ones under quarantine
//! (RFC 2131 §4.3.3).

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::net::Ipv4Addr;

use super::binding::ClientKey;
use super::bindings::{AddrBitmap, LeaseDb};
use super::gate;
use super::subnet::{Reservations, Subnet};
use crate::clock::{Mono, UnixTime};
use crate::vrrp::Role;

/// Short-lived state the choice must respect besides bindings.
#[derive(Clone, Debug, Default)]
pub struct Holds {
    /// Outstanding offers.
    pub offers: Offers,
    /// DECLINEd addresses: address → quarantined until.
    quarantine: HashMap<Ipv4Addr, Mono>,
    /// The same, by deadline, to end them without a scan.
    quarantine_ends: BTreeSet<(Mono, Ipv4Addr)>,
}

impl Holds {
    pub fn offered_to_other(&self, ip: Ipv4Addr, key: &ClientKey, now: Mono) -> bool {
        self.offers
            .get(ip)
            .is_some_and(|(k, until)| k != key && until > now)
    }

    pub fn quarantined(&self, ip: Ipv4Addr, now: Mono) -> bool {
        self.quarantine.get(&ip).is_some_and(|until| *until > now)
    }

    /// Quarantines `ip` until `until` (RFC 2131 §4.3.3).
    pub fn quarantine(&mut self, ip: Ipv4Addr, until: Mono) {
        if let Some(old) = self.quarantine.insert(ip, until) {
            self.quarantine_ends.remove(&(old, ip));
        }
        self.quarantine_ends.insert((until, ip));
    }

    /// Addresses under quarantine (some possibly ended, not yet swept),
    /// with their end.
    pub fn quarantined_addrs(&self) -> impl Iterator<Item = (Ipv4Addr, Mono)> + '_ {
        self.quarantine.iter().map(|(ip, until)| (*ip, *until))
    }

    /// The next offer or quarantine to end.
    pub fn next_deadline(&self) -> Option<Mono> {
        let q = self.quarantine_ends.first().map(|(t, _)| *t);
        match (self.offers.next_deadline(), q) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Drops the offers and quarantines that ended by `now`: O(ended).
    pub fn expire(&mut self, now: Mono) {
        self.offers.expire(now);
        while let Some(&(until, ip)) = self.quarantine_ends.first()
            && until <= now
        {
            self.quarantine_ends.pop_first();
            self.quarantine.remove(&ip);
        }
        // A DECLINE burst grew this; do not keep its peak for good.
        shrink(&mut self.quarantine);
    }
}

/// Outstanding offers, the one index of them (RFC 2131 §4.3.1: an offered
/// address is reserved for its client for `dhcp-offer-time`): by address,
/// by client (one offer per client), by deadline (to end them and find the
/// oldest without a scan), and as a bitmap, so the free-address search
/// skips offered addresses in bulk during a DISCOVER flood. All four change
/// together, only here.
#[derive(Clone, Debug, Default)]
pub struct Offers {
    by_ip: HashMap<Ipv4Addr, (ClientKey, Mono)>,
    by_client: HashMap<ClientKey, Ipv4Addr>,
    by_deadline: BTreeSet<(Mono, Ipv4Addr)>,
    bits: AddrBitmap,
}

impl Offers {
    /// The offer of `ip`: to whom, until when (ended or not).
    pub fn get(&self, ip: Ipv4Addr) -> Option<(&ClientKey, Mono)> {
        self.by_ip.get(&ip).map(|(k, t)| (k, *t))
    }

    /// Whether `ip` is (or was, until swept) offered to `key`.
    pub fn is_offered_to(&self, ip: Ipv4Addr, key: &ClientKey) -> bool {
        self.by_ip.get(&ip).is_some_and(|(k, _)| k == key)
    }

    /// The address offered to `key`, if any.
    pub fn of_client(&self, key: &ClientKey) -> Option<Ipv4Addr> {
        self.by_client.get(key).copied()
    }

    /// Offers `ip` to `key` until `until`; the client's previous offer
    /// and any other (ended) offer of `ip` go.
    pub fn offer(&mut self, ip: Ipv4Addr, key: ClientKey, until: Mono) {
        self.withdraw(&key);
        self.unoffer(ip);
        self.bits.set(u32::from(ip));
        self.by_deadline.insert((until, ip));
        self.by_client.insert(key.clone(), ip);
        self.by_ip.insert(ip, (key, until));
    }

    /// Takes back the offer of `ip`, whoever it was for.
    pub fn unoffer(&mut self, ip: Ipv4Addr) -> Option<(ClientKey, Mono)> {
        let (key, until) = self.by_ip.remove(&ip)?;
        self.bits.clear(u32::from(ip));
        self.by_deadline.remove(&(until, ip));
        if self.by_client.get(&key) == Some(&ip) {
            self.by_client.remove(&key);
        }
        Some((key, until))
    }

    /// Takes back the offer made to `key`, if any.
    pub fn withdraw(&mut self, key: &ClientKey) {
        if let Some(ip) = self.by_client.get(key).copied() {
            self.unoffer(ip);
        }
    }

    /// When the next offer ends.
    pub fn next_deadline(&self) -> Option<Mono> {
        self.by_deadline.first().map(|(t, _)| *t)
    }

    /// The live offer (ending after `now`) that ends first among those
    /// ending by `ends_before` whose address `eligible` accepts: with
    /// one offer time for all, the one made longest ago.
    pub fn oldest(
        &self,
        now: Mono,
        ends_before: Mono,
        mut eligible: impl FnMut(Ipv4Addr) -> bool,
    ) -> Option<Ipv4Addr> {
        self.by_deadline
            .range((Mono(now.0.saturating_add(1)), Ipv4Addr::UNSPECIFIED)..)
            .take_while(|(t, _)| *t <= ends_before)
            .map(|(_, ip)| *ip)
            .find(|ip| eligible(*ip))
    }

    /// Drops the offers that ended by `now`.
    pub fn expire(&mut self, now: Mono) {
        while let Some(&(until, ip)) = self.by_deadline.first()
            && until <= now
        {
            self.unoffer(ip);
        }
        self.bits.sweep();
        // A DISCOVER burst grew these; do not keep its peak for good.
        shrink(&mut self.by_ip);
        shrink(&mut self.by_client);
    }

    /// Every offer, ended or not: address, client, deadline.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Addr, &ClientKey, Mono)> + '_ {
        self.by_ip.iter().map(|(ip, (k, t))| (*ip, k, *t))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }
}

/// Gives back a map's memory once it holds far less than it can.
pub(crate) fn shrink<K: Eq + std::hash::Hash, V, S: BuildHasher>(m: &mut HashMap<K, V, S>) {
    if m.capacity() > 64 && m.capacity() > 4 * m.len() {
        m.shrink_to_fit();
    }
}

/// Where a chosen address came from (logged, and counted in tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Reservation,
    Previous,
    Requested,
    Hashed,
    /// The oldest outstanding offer to another client ([`reclaim`]).
    Reclaimed,
}

/// The inputs of one choice.
pub struct Ask<'a> {
    pub key: &'a ClientKey,
    /// The reservation's fixed address, if it has one in this subnet.
    pub reserved: Option<Ipv4Addr>,
    pub requested: Option<Ipv4Addr>,
    pub mono: Mono,
    pub wall: UnixTime,
    /// The role of the subnet's VRRP instance (the HA gate's first column).
    pub role: Role,
    /// `dhcp-authoritative`: a binding outside every range (the range was
    /// shrunk) is not offered again (the HA gate's DISCOVER rows).
    pub authoritative: bool,
}

/// Whether `ip` can go to this client in `subnet`.
pub fn available(
    ip: Ipv4Addr,
    subnet: &Subnet,
    res: &Reservations,
    db: &LeaseDb,
    holds: &Holds,
    ask: &Ask<'_>,
) -> bool {
    !holds.offered_to_other(ip, ask.key, ask.mono)
        && free_of_bindings(ip, subnet, res, db, holds, ask)
}

/// [`available`] but for offers to other clients.
fn free_of_bindings(
    ip: Ipv4Addr,
    subnet: &Subnet,
    res: &Reservations,
    db: &LeaseDb,
    holds: &Holds,
    ask: &Ask<'_>,
) -> bool {
    subnet.usable(ip)
        && !db.held_by_other(ip, ask.key, ask.wall)
        && !holds.quarantined(ip, ask.mono)
        && res
            .owner_of(ip)
            .is_none_or(|h| Some(ip) == ask.reserved && h.ip == Some(ip))
}

/// An offer is never taken back from its client sooner than this after
/// it was made: a client REQUESTs within milliseconds of the OFFER (a
/// slow one within a second or two), so a flood, however fast, cannot
/// take an offer away from a client about to use it.
pub const OFFER_GUARD: std::time::Duration = std::time::Duration::from_secs(2);

/// When [`choose`] finds nothing (issue 17, item 3): the address of the
/// live offer made longest ago (at least [`OFFER_GUARD`] ago), in the
/// subnet's own ranges, that would be free for this client but for that
/// offer. Without it, DISCOVERs from random MACs (which never REQUEST)
/// hold the whole pool in offers and a real client waits for one to run
/// out (`dhcp-offer-time`) in a race it loses to the flood; dnsmasq holds
/// no offers at all. A client that REQUESTs its reclaimed offer later is
/// NAKed and starts again (RFC 2131 §4.3.2), as with any offer it lost.
pub fn reclaim(
    subnet: &Subnet,
    res: &Reservations,
    db: &LeaseDb,
    holds: &Holds,
    ask: &Ask<'_>,
    offer_time: std::time::Duration,
) -> Option<Ipv4Addr> {
    let ends_before = ask.mono + offer_time.saturating_sub(OFFER_GUARD);
    holds.offers.oldest(ask.mono, ends_before, |ip| {
        subnet.own_range(ip).is_some() && free_of_bindings(ip, subnet, res, db, holds, ask)
    })
}

/// Chooses an address for a DISCOVER, or `None` if the pool is exhausted.
pub fn choose(
    subnet: &Subnet,
    res: &Reservations,
    db: &LeaseDb,
    holds: &Holds,
    ask: &Ask<'_>,
) -> Option<(Ipv4Addr, Source)> {
    // The HA gate's DISCOVER rows say which candidate may be offered
    // (design §4): the reservation, the client's binding (an adopted
    // peer-range address only while its lease runs: once expired, the peer
    // owns it again), and otherwise our own ranges only.
    let offerable = |ip: Ipv4Addr| {
        let claim = gate::classify(ip, subnet, res, db, holds, ask, true);
        gate::decide(
            ask.role,
            gate::Msg::Discover,
            Some(claim),
            ask.authoritative,
        ) == gate::Verdict::Answer
    };
    if let Some(ip) = ask.reserved {
        // A reserved address held by someone else is still refused: the
        // conflict is logged by the caller and the client gets a dynamic one.
        if offerable(ip) {
            return Some((ip, Source::Reservation));
        }
    }
    if let Some(prev) = db.of_client(ask.key)
        && offerable(prev.ip())
    {
        return Some((prev.ip(), Source::Previous));
    }
    // A client that DISCOVERs again gets the offer it already has.
    if let Some(ip) = holds.offers.of_client(ask.key)
        && holds
            .offers
            .get(ip)
            .is_some_and(|(_, until)| until > ask.mono)
        && offerable(ip)
    {
        return Some((ip, Source::Hashed));
    }
    if let Some(ip) = ask.requested
        && offerable(ip)
    {
        return Some((ip, Source::Requested));
    }
    // Our own ranges only, by construction: the table's (own, free) row.
    hashed(subnet, res, db, holds, ask).map(|ip| (ip, Source::Hashed))
}

fn hashed(
    subnet: &Subnet,
    res: &Reservations,
    db: &LeaseDb,
    holds: &Holds,
    ask: &Ask<'_>,
) -> Option<Ipv4Addr> {
    let total: u64 = subnet.ranges.iter().map(|r| r.span.len() as u64).sum();
    if total == 0 {
        return None;
    }
    let start = fnv1a(ask.key) % total;
    let nth = |n: u64| -> Ipv4Addr {
        let mut n = n;
        for r in &subnet.ranges {
            let len = r.span.len() as u64;
            if n < len {
                return Ipv4Addr::from(r.span.start + n as u32);
            }
            n -= len;
        }
        Ipv4Addr::UNSPECIFIED
    };
    // Pass 1: never bound, in probe order from the hash, found through
    // the bitmap 64 addresses at a time.
    let at = nth(start);
    let mut segments: Vec<(u32, u32)> = Vec::with_capacity(subnet.ranges.len() * 2);
    if let Some(ri) = subnet.ranges.iter().position(|r| r.span.contains(at)) {
        let n = subnet.ranges.len();
        segments.push((u32::from(at), subnet.ranges[ri].span.end));
        for k in 1..n {
            let r = &subnet.ranges[(ri + k) % n].span;
            segments.push((r.start, r.end));
        }
        if u32::from(at) > subnet.ranges[ri].span.start {
            segments.push((subnet.ranges[ri].span.start, u32::from(at) - 1));
        }
    }
    for (mut from, to) in segments {
        while let Some(x) = db.first_free(from, to, &holds.offers.bits) {
            let ip = Ipv4Addr::from(x);
            if available(ip, subnet, res, db, holds, ask) {
                return Some(ip);
            }
            match x.checked_add(1) {
                Some(n) if n <= to => from = n,
                _ => break,
            }
        }
    }
    // Pass 2 (the pool has no never-bound address left): the binding that
    // expired longest ago, or this client's own.
    let mut best_expired: Option<(u64, Ipv4Addr)> = None;
    for i in 0..total {
        let ip = nth((start + i) % total);
        if !available(ip, subnet, res, db, holds, ask) {
            continue;
        }
        match db.get(ip) {
            None => return Some(ip),
            Some(l) if l.is_client(ask.key) => return Some(ip),
            Some(l) => {
                if best_expired.is_none_or(|(e, _)| l.expires().0 < e) {
                    best_expired = Some((l.expires().0, ip));
                }
            }
        }
    }
    best_expired.map(|(_, ip)| ip)
}

/// FNV-1a over the client key: cheap, stable across runs and builds.
fn fnv1a(key: &ClientKey) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for x in b {
            h ^= *x as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    match key {
        ClientKey::ClientId(id) => eat(id),
        ClientKey::Hw(hw) => {
            eat(&[hw.htype]);
            eat(hw.as_bytes());
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::bindings::tests::{key, lease};
    use crate::dhcp::config::{LeaseTime, parse_host};
    use crate::dhcp::subnet::{Range, Span};
    use crate::net::IfAddr;

    fn subnet(start: [u8; 4], end: [u8; 4]) -> Subnet {
        Subnet {
            network: Ipv4Addr::new(10, 0, 0, 0),
            prefix: 24,
            local: Some(IfAddr {
                name: "eth0".into(),
                index: 2,
                addr: Ipv4Addr::new(10, 0, 0, 1),
                prefix: 24,
            }),
            ranges: vec![Range {
                span: Span::new(start.into(), end.into()),
                lease: LeaseTime::DEFAULT,
                tag: None,
            }],
            peer: vec![Span::new([10, 0, 0, 200].into(), [10, 0, 0, 250].into())],
            vip: None,
            vrrp: None,
        }
    }

    fn ask(k: &ClientKey) -> Ask<'_> {
        Ask {
            key: k,
            reserved: None,
            requested: None,
            mono: Mono(1000),
            wall: UnixTime(5000),
            role: Role::Active,
            authoritative: false,
        }
    }

    #[test]
    fn same_client_same_hashed_address_and_never_the_peer_range() {
        let s = subnet([10, 0, 0, 10], [10, 0, 0, 19]);
        let (db, h, r) = (
            LeaseDb::default(),
            Holds::default(),
            Reservations::default(),
        );
        let k = key(7);
        let a = choose(&s, &r, &db, &h, &ask(&k)).unwrap();
        let b = choose(&s, &r, &db, &h, &ask(&k)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.1, Source::Hashed);
        assert!(s.own_range(a.0).is_some());
        // A request for a peer-range address is not honoured for a new client.
        let mut q = ask(&k);
        q.requested = Some(Ipv4Addr::new(10, 0, 0, 210));
        assert!(
            s.own_range(choose(&s, &r, &db, &h, &q).unwrap().0)
                .is_some()
        );
    }

    #[test]
    fn order_reservation_previous_requested() {
        let s = subnet([10, 0, 0, 10], [10, 0, 0, 19]);
        let k = key(1);
        let mut db = LeaseDb::default();
        db.insert(lease([10, 0, 0, 12], 1, 100)); // expired long ago: still "previous"
        let h = Holds::default();
        let r = Reservations::default();
        let mut q = ask(&k);
        q.requested = Some(Ipv4Addr::new(10, 0, 0, 15));
        assert_eq!(
            choose(&s, &r, &db, &h, &q),
            Some((Ipv4Addr::new(10, 0, 0, 12), Source::Previous))
        );
        q.reserved = Some(Ipv4Addr::new(10, 0, 0, 50));
        let r = Reservations::new(vec![parse_host("02:00:00:00:00:01,10.0.0.50").unwrap()]);
        assert_eq!(
            choose(&s, &r, &db, &h, &q),
            Some((Ipv4Addr::new(10, 0, 0, 50), Source::Reservation))
        );
        let k2 = key(2);
        let q2 = Ask {
            requested: Some(Ipv4Addr::new(10, 0, 0, 15)),
            ..ask(&k2)
        };
        assert_eq!(
            choose(&s, &r, &db, &h, &q2),
            Some((Ipv4Addr::new(10, 0, 0, 15), Source::Requested))
        );
    }

    #[test]
    fn an_expired_binding_in_the_peer_range_is_not_offered_again() {
        let s = subnet([10, 0, 0, 10], [10, 0, 0, 19]);
        let k = key(4);
        let (h, r) = (Holds::default(), Reservations::default());
        // Adopted from the peer and still running: the client keeps it.
        let db = LeaseDb::from_leases(vec![lease([10, 0, 0, 220], 4, 9000)]);
        assert_eq!(
            choose(&s, &r, &db, &h, &ask(&k)),
            Some((Ipv4Addr::new(10, 0, 0, 220), Source::Previous))
        );
        // Expired: the peer may have given it out since; a new one of ours.
        let db = LeaseDb::from_leases(vec![lease([10, 0, 0, 220], 4, 4000)]);
        let (ip, src) = choose(&s, &r, &db, &h, &ask(&k)).unwrap();
        assert_eq!(src, Source::Hashed);
        assert!(s.own_range(ip).is_some());
    }

    #[test]
    fn busy_offered_quarantined_and_reserved_addresses_are_skipped_until_exhausted() {
        let s = subnet([10, 0, 0, 10], [10, 0, 0, 13]);
        let mut db = LeaseDb::default();
        db.insert(lease([10, 0, 0, 10], 1, 9_999_999));
        let mut h = Holds::default();
        h.offers
            .offer(Ipv4Addr::new(10, 0, 0, 11), key(2), Mono(9000));
        h.quarantine(Ipv4Addr::new(10, 0, 0, 12), Mono(5000));
        let r = Reservations::new(vec![parse_host("02:00:00:00:00:09,10.0.0.13").unwrap()]);
        let k = key(3);
        assert_eq!(choose(&s, &r, &db, &h, &ask(&k)), None);
        // The quarantine ends: that address becomes usable.
        let mut q = ask(&k);
        q.mono = Mono(6000);
        assert_eq!(
            choose(&s, &r, &db, &h, &q).map(|x| x.0),
            Some(Ipv4Addr::new(10, 0, 0, 12))
        );
    }

    #[test]
    fn expired_bindings_of_others_are_reused_oldest_first() {
        let s = subnet([10, 0, 0, 10], [10, 0, 0, 11]);
        let mut db = LeaseDb::default();
        db.insert(lease([10, 0, 0, 10], 1, 300));
        db.insert(lease([10, 0, 0, 11], 2, 200));
        let (h, r) = (Holds::default(), Reservations::default());
        assert_eq!(
            choose(&s, &r, &db, &h, &ask(&key(3))).map(|x| x.0),
            Some(Ipv4Addr::new(10, 0, 0, 11))
        );
        assert_eq!(db.active_count(UnixTime(250)), 1);
        assert_eq!(db.active_count(UnixTime(5000)), 0);
    }
}
