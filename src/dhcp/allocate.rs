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
use std::net::Ipv4Addr;

use super::binding::{ClientKey, Lease};
use super::subnet::{Reservations, Subnet};
use crate::clock::{Mono, UnixTime};

/// All bindings, indexed by address and by client.
#[derive(Clone, Debug, Default)]
pub struct LeaseDb {
    by_ip: HashMap<Ipv4Addr, Lease>,
    by_key: HashMap<ClientKey, Ipv4Addr>,
    /// (expiry, ip) of every finite lease, for counting active ones and
    /// finding the next expiry without a scan.
    expiry: BTreeSet<(u64, Ipv4Addr)>,
    /// Host name → address, for the one-name-one-client rule and the DNS
    /// host table, without scanning every lease.
    by_name: HashMap<String, Ipv4Addr>,
    /// A sparse bitmap of bound addresses (word = address / 64), so a free
    /// address is found 64 at a time even in a pool with 50,000 leases.
    bound: HashMap<u32, u64>,
}

impl LeaseDb {
    /// Builds the db from loaded leases; for one client or one address the
    /// lease that expires last wins.
    pub fn from_leases(leases: impl IntoIterator<Item = Lease>) -> LeaseDb {
        let mut v: Vec<Lease> = leases.into_iter().collect();
        v.sort_by_key(|l| {
            if l.expires.0 == 0 {
                u64::MAX
            } else {
                l.expires.0
            }
        });
        let mut db = LeaseDb::default();
        for l in v {
            db.insert(l);
        }
        db
    }

    pub fn get(&self, ip: Ipv4Addr) -> Option<&Lease> {
        self.by_ip.get(&ip)
    }

    pub fn of_client(&self, key: &ClientKey) -> Option<&Lease> {
        self.by_key.get(key).and_then(|ip| self.by_ip.get(ip))
    }

    /// Inserts or replaces; returns the bindings this displaced (the
    /// client's old address, or another client's binding of this address).
    pub fn insert(&mut self, lease: Lease) -> Vec<Lease> {
        let mut displaced = Vec::new();
        let key = lease.key();
        if let Some(old_ip) = self.by_key.get(&key).copied()
            && old_ip != lease.ip
            && let Some(old) = self.remove(old_ip)
        {
            displaced.push(old);
        }
        if let Some(prev) = self.by_ip.get(&lease.ip) {
            if prev.key() != key {
                if let Some(old) = self.remove(lease.ip) {
                    displaced.push(old);
                }
            } else {
                self.expiry.remove(&(prev.expires.0, prev.ip));
            }
        }
        if lease.expires.0 != 0 {
            self.expiry.insert((lease.expires.0, lease.ip));
        }
        if let Some(old) = self.by_ip.get(&lease.ip).and_then(|l| l.hostname.as_ref())
            && self.by_name.get(old) == Some(&lease.ip)
        {
            self.by_name.remove(old);
        }
        if let Some(n) = &lease.hostname {
            self.by_name.insert(n.clone(), lease.ip);
        }
        let ip = u32::from(lease.ip);
        *self.bound.entry(ip >> 6).or_insert(0) |= 1 << (ip & 63);
        self.by_key.insert(key, lease.ip);
        self.by_ip.insert(lease.ip, lease);
        displaced
    }

    pub fn remove(&mut self, ip: Ipv4Addr) -> Option<Lease> {
        let l = self.by_ip.remove(&ip)?;
        self.expiry.remove(&(l.expires.0, ip));
        if let Some(n) = &l.hostname
            && self.by_name.get(n) == Some(&ip)
        {
            self.by_name.remove(n);
        }
        let x = u32::from(ip);
        if let Some(w) = self.bound.get_mut(&(x >> 6)) {
            *w &= !(1 << (x & 63));
            if *w == 0 {
                self.bound.remove(&(x >> 6));
            }
        }
        if self.by_key.get(&l.key()) == Some(&ip) {
            self.by_key.remove(&l.key());
        }
        Some(l)
    }

    /// Bindings, active or not.
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// Leases still holding their address at `now`.
    pub fn active_count(&self, now: UnixTime) -> usize {
        let expired = self
            .expiry
            .range(..(now.0.saturating_add(1), Ipv4Addr::UNSPECIFIED))
            .count();
        self.by_ip.len() - expired
    }

    pub fn iter(&self) -> impl Iterator<Item = &Lease> {
        self.by_ip.values()
    }

    /// The lease holding host name `name`, if any.
    pub fn by_name(&self, name: &str) -> Option<&Lease> {
        self.by_name.get(name).and_then(|ip| self.by_ip.get(ip))
    }

    /// Leases with a host name (for the DNS host table).
    pub fn named(&self) -> impl Iterator<Item = &Lease> {
        self.by_name.values().filter_map(|ip| self.by_ip.get(ip))
    }

    /// The first expiry later than `now`, in O(log n).
    pub fn next_expiry_after(&self, now: UnixTime) -> Option<UnixTime> {
        self.expiry
            .range((now.0.saturating_add(1), Ipv4Addr::UNSPECIFIED)..)
            .next()
            .map(|(e, _)| UnixTime(*e))
    }

    /// The first address in `from..=to` with no binding at all.
    pub fn first_unbound(&self, from: u32, to: u32) -> Option<u32> {
        self.first_free(from, to, |_| 0)
    }

    /// The first address in `from..=to` with no binding and not in the
    /// extra bitmap `also(word index)` (e.g. outstanding offers).
    pub fn first_free(&self, from: u32, to: u32, also: impl Fn(u32) -> u64) -> Option<u32> {
        let mut ip = from;
        while ip <= to {
            let word = self.bound.get(&(ip >> 6)).copied().unwrap_or(0) | also(ip);
            let free = !word & (u64::MAX << (ip & 63));
            if free != 0 {
                let found = (ip & !63) | free.trailing_zeros();
                return (found <= to).then_some(found);
            }
            ip = (ip | 63).checked_add(1)?;
        }
        None
    }

    /// Whether `ip` is actively leased to a client other than `key`.
    pub fn held_by_other(&self, ip: Ipv4Addr, key: &ClientKey, now: UnixTime) -> bool {
        self.by_ip
            .get(&ip)
            .is_some_and(|l| l.is_active(now) && &l.key() != key)
    }
}

/// Short-lived state the choice must respect besides bindings.
#[derive(Clone, Debug, Default)]
pub struct Holds {
    /// Outstanding offers: address → (client, until). Change it only
    /// through [`Holds::offer`] / [`Holds::unoffer`], which keep `offered`.
    pub offers: HashMap<Ipv4Addr, (ClientKey, Mono)>,
    /// DECLINEd addresses: address → quarantined until.
    pub quarantine: HashMap<Ipv4Addr, Mono>,
    /// Sparse bitmap of addresses in `offers`, so the free-address search
    /// skips 64 offered addresses at a time during a DISCOVER flood.
    offered: HashMap<u32, u64>,
}

impl Holds {
    pub fn offered_to_other(&self, ip: Ipv4Addr, key: &ClientKey, now: Mono) -> bool {
        self.offers
            .get(&ip)
            .is_some_and(|(k, until)| k != key && *until > now)
    }

    pub fn quarantined(&self, ip: Ipv4Addr, now: Mono) -> bool {
        self.quarantine.get(&ip).is_some_and(|until| *until > now)
    }

    pub fn offer(&mut self, ip: Ipv4Addr, key: ClientKey, until: Mono) {
        let x = u32::from(ip);
        *self.offered.entry(x >> 6).or_insert(0) |= 1 << (x & 63);
        self.offers.insert(ip, (key, until));
    }

    pub fn unoffer(&mut self, ip: Ipv4Addr) -> Option<(ClientKey, Mono)> {
        let r = self.offers.remove(&ip);
        if r.is_some() {
            clear_bit(&mut self.offered, u32::from(ip));
        }
        r
    }

    /// Whether `ip` is in the offer bitmap (live or not yet swept).
    fn offered_bit(&self, x: u32) -> u64 {
        self.offered.get(&(x >> 6)).copied().unwrap_or(0)
    }

    /// Drops expired offers and quarantines.
    pub fn expire(&mut self, now: Mono) {
        let offered = &mut self.offered;
        self.offers.retain(|ip, (_, until)| {
            let keep = *until > now;
            if !keep {
                clear_bit(offered, u32::from(*ip));
            }
            keep
        });
        self.quarantine.retain(|_, until| *until > now);
    }
}

fn clear_bit(map: &mut HashMap<u32, u64>, x: u32) {
    if let Some(w) = map.get_mut(&(x >> 6)) {
        *w &= !(1 << (x & 63));
        if *w == 0 {
            map.remove(&(x >> 6));
        }
    }
}

/// Where a chosen address came from (logged, and counted in tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Reservation,
    Previous,
    Requested,
    Hashed,
}

/// The inputs of one choice.
pub struct Ask<'a> {
    pub key: &'a ClientKey,
    /// The reservation's fixed address, if it has one in this subnet.
    pub reserved: Option<Ipv4Addr>,
    pub requested: Option<Ipv4Addr>,
    /// The address of our outstanding offer to this client, if any.
    pub offered: Option<Ipv4Addr>,
    pub mono: Mono,
    pub wall: UnixTime,
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
    subnet.usable(ip)
        && !db.held_by_other(ip, ask.key, ask.wall)
        && !holds.offered_to_other(ip, ask.key, ask.mono)
        && !holds.quarantined(ip, ask.mono)
        && res
            .owner_of(ip)
            .is_none_or(|h| Some(ip) == ask.reserved && h.ip == Some(ip))
}

/// Chooses an address for a DISCOVER, or `None` if the pool is exhausted.
pub fn choose(
    subnet: &Subnet,
    res: &Reservations,
    db: &LeaseDb,
    holds: &Holds,
    ask: &Ask<'_>,
) -> Option<(Ipv4Addr, Source)> {
    if let Some(ip) = ask.reserved {
        // A reserved address held by someone else is still refused: the
        // conflict is logged by the caller and the client gets a dynamic one.
        if available(ip, subnet, res, db, holds, ask) {
            return Some((ip, Source::Reservation));
        }
    }
    if let Some(prev) = db.of_client(ask.key) {
        let ip = prev.ip;
        // An address we adopted from the peer's range stays the client's
        // while its lease runs; once expired, the peer owns it again.
        let ours = prev.is_active(ask.wall) || !subnet.in_peer_range(ip);
        if ours && subnet.contains(ip) && available(ip, subnet, res, db, holds, ask) {
            return Some((ip, Source::Previous));
        }
    }
    // A client that DISCOVERs again gets the offer it already has.
    if let Some(ip) = ask.offered
        && holds
            .offers
            .get(&ip)
            .is_some_and(|(k, until)| k == ask.key && *until > ask.mono)
        && subnet.own_range(ip).is_some()
        && available(ip, subnet, res, db, holds, ask)
    {
        return Some((ip, Source::Hashed));
    }
    if let Some(ip) = ask.requested
        && subnet.own_range(ip).is_some()
        && available(ip, subnet, res, db, holds, ask)
    {
        return Some((ip, Source::Requested));
    }
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
        while let Some(x) = db.first_free(from, to, |w| holds.offered_bit(w)) {
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
            Some(l) if &l.key() == ask.key => return Some(ip),
            Some(l) => {
                if best_expired.is_none_or(|(e, _)| l.expires.0 < e) {
                    best_expired = Some((l.expires.0, ip));
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
    use crate::dhcp::binding::HwAddr;
    use crate::dhcp::config::{LeaseTime, parse_host};
    use crate::dhcp::subnet::{IfAddr, Range, Span};

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
        }
    }

    fn key(n: u8) -> ClientKey {
        ClientKey::Hw(HwAddr::ether([2, 0, 0, 0, 0, n]))
    }

    fn lease(ip: [u8; 4], n: u8, expires: u64) -> Lease {
        Lease {
            ip: ip.into(),
            hw: HwAddr::ether([2, 0, 0, 0, 0, n]),
            client_id: None,
            hostname: None,
            expires: UnixTime(expires),
        }
    }

    fn ask(k: &ClientKey) -> Ask<'_> {
        Ask {
            key: k,
            reserved: None,
            requested: None,
            offered: None,
            mono: Mono(1000),
            wall: UnixTime(5000),
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
            .insert(Ipv4Addr::new(10, 0, 0, 11), (key(2), Mono(9000)));
        h.quarantine.insert(Ipv4Addr::new(10, 0, 0, 12), Mono(5000));
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

    #[test]
    fn the_bound_bitmap_finds_free_addresses_and_follows_removals() {
        let mut db = LeaseDb::default();
        let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
        for n in 0..200u32 {
            let mut l = lease([10, 0, 0, 0], 1, 500);
            l.ip = Ipv4Addr::from(base + n);
            l.hw = HwAddr::new(1, &n.to_be_bytes()).unwrap();
            db.insert(l);
        }
        assert_eq!(db.first_unbound(base, base + 300), Some(base + 200));
        assert_eq!(db.first_unbound(base, base + 199), None);
        db.remove(Ipv4Addr::from(base + 130));
        assert_eq!(db.first_unbound(base + 5, base + 300), Some(base + 130));
        assert_eq!(db.first_unbound(base + 131, base + 300), Some(base + 200));
        assert_eq!(db.first_unbound(u32::MAX - 1, u32::MAX), Some(u32::MAX - 1));
        assert_eq!(db.next_expiry_after(UnixTime(0)), Some(UnixTime(500)));
        assert_eq!(db.next_expiry_after(UnixTime(500)), None);
    }

    #[test]
    fn db_keeps_one_address_per_client_and_one_client_per_address() {
        let mut db = LeaseDb::default();
        assert!(db.insert(lease([10, 0, 0, 10], 1, 500)).is_empty());
        let d = db.insert(lease([10, 0, 0, 11], 1, 600));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].ip, Ipv4Addr::new(10, 0, 0, 10));
        assert_eq!(db.len(), 1);
        let d = db.insert(lease([10, 0, 0, 11], 2, 700));
        assert_eq!(d[0].hw, HwAddr::ether([2, 0, 0, 0, 0, 1]));
        assert!(db.of_client(&key(1)).is_none());
        assert_eq!(
            db.of_client(&key(2)).unwrap().ip,
            Ipv4Addr::new(10, 0, 0, 11)
        );
        assert_eq!(db.active_count(UnixTime(0)), 1);
        let db = LeaseDb::from_leases(vec![
            lease([10, 0, 0, 5], 1, 900),
            lease([10, 0, 0, 6], 1, 100),
        ]);
        assert_eq!(
            db.of_client(&key(1)).unwrap().ip,
            Ipv4Addr::new(10, 0, 0, 5)
        );
    }
}
