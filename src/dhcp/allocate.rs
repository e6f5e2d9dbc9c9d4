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

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;

use super::binding::{ClientKey, Lease};
use super::gate;
use super::packed::{KeyParts, PackedLease};
use super::subnet::{Reservations, Subnet};
use crate::clock::{Mono, UnixTime};
use crate::vrrp::Role;

/// All bindings, indexed by address, by client and by name.
///
/// Memory (design §5; 50,000 leases must fit a small router): the leases
/// live packed in one dense vector ([`PackedLease`], 48 bytes each). The
/// indexes hold only 32-bit numbers: address → position, and for clients
/// and names a 32-bit keyed hash → address, checked against the lease
/// itself; the rare keys whose hash collides with another one's go to a
/// small exact map instead. The expiry index packs (expiry, address) into
/// one u64. About 75 bytes per lease in all, against ~400 for maps of
/// owned [`Lease`]s.
#[derive(Clone, Debug, Default)]
pub struct LeaseDb {
    /// Dense: a removal moves the last lease into the hole.
    slots: Vec<PackedLease>,
    /// Address → position in `slots`.
    by_ip: HashMap<u32, u32, Mix>,
    /// Client → address.
    by_key: HashIndex,
    /// Host name → address, for the one-name-one-client rule and the DNS
    /// host table, without scanning every lease. When loaded leases share
    /// a name, the one inserted last holds it.
    by_name: HashIndex,
    /// Every finite expiry, for counting active leases and finding the
    /// next expiry without a scan.
    expiry: ExpiryIndex,
    /// Bound addresses, so a free one is found without a probe per
    /// address even in a pool with 50,000 leases.
    bound: AddrBitmap,
    /// Keys the client and name hashes (per process: unpredictable, so
    /// collisions cannot be forced; they stay correct anyway).
    seed: RandomState,
    /// Bumped whenever the DNS view of the names may have changed.
    names_gen: u64,
    /// When that view was last taken ([`LeaseDb::names_published`]).
    names_seen: u64,
    /// Tests: every client and name hashes to this (all keys collide).
    #[cfg(test)]
    fixed_hash: Option<u32>,
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
        db.slots.reserve_exact(v.len());
        db.by_ip.reserve(v.len());
        db.by_key.reserve(v.len());
        for l in v {
            db.put(PackedLease::new(&l), false);
        }
        // Built in bulk: full B-tree nodes, not the half-full ones that
        // one-by-one inserts of sorted keys leave behind.
        db.expiry = ExpiryIndex::build(db.slots.iter().map(|l| (l.expires().0, l.ip_u32())));
        db
    }

    fn slot(&self, ip: u32) -> Option<&PackedLease> {
        lease_at(&self.slots, &self.by_ip, ip)
    }

    pub fn get(&self, ip: Ipv4Addr) -> Option<&PackedLease> {
        self.slot(u32::from(ip))
    }

    fn key_hash(&self, k: KeyParts<'_>) -> u32 {
        #[cfg(test)]
        if let Some(h) = self.fixed_hash {
            return h;
        }
        let mut h = self.seed.build_hasher();
        k.hash_into(&mut h);
        h.finish() as u32
    }

    fn name_hash(&self, name: &str) -> u32 {
        #[cfg(test)]
        if let Some(h) = self.fixed_hash {
            return h;
        }
        let mut h = self.seed.build_hasher();
        h.write_u8(2);
        h.write(name.as_bytes());
        h.finish() as u32
    }

    fn find_client(&self, k: KeyParts<'_>) -> Option<u32> {
        self.by_key.get(
            self.key_hash(k),
            |ip| self.slot(ip).is_some_and(|l| l.key_parts() == k),
            || key_bytes(k),
        )
    }

    pub fn of_client(&self, key: &ClientKey) -> Option<&PackedLease> {
        self.find_client(KeyParts::of(key))
            .and_then(|ip| self.slot(ip))
    }

    /// Inserts or replaces; returns the bindings this displaced (the
    /// client's old address, or another client's binding of this address).
    pub fn insert(&mut self, lease: Lease) -> Vec<Lease> {
        self.put(PackedLease::new(&lease), true)
            .into_iter()
            .map(|l| l.to_lease())
            .collect()
    }

    /// [`LeaseDb::insert`] of a packed lease; `expiry`: keep the expiry
    /// index (off while loading, which builds it at the end).
    fn put(&mut self, new: PackedLease, expiry: bool) -> Vec<PackedLease> {
        let mut displaced = Vec::new();
        let ip = new.ip_u32();
        let k = new.key_parts();
        if let Some(old_ip) = self.find_client(k)
            && old_ip != ip
            && let Some(old) = self.take(old_ip, expiry)
        {
            displaced.push(old);
        }
        match self.by_ip.get(&ip).map(|i| *i as usize) {
            Some(i) if self.slots[i].key_parts() == k => {
                // The client's own binding: replaced in place.
                let old = &self.slots[i];
                let (on, nn) = (old.hostname(), new.hostname());
                if (on.is_some() || nn.is_some())
                    && !(on == nn
                        && extends(old.expires().0, new.expires().0)
                        && old.is_active(UnixTime(self.names_seen)))
                {
                    self.names_gen += 1;
                }
                let old = std::mem::replace(&mut self.slots[i], new);
                self.unindex(&old, expiry);
                self.index(i, expiry);
            }
            other => {
                if other.is_some()
                    && let Some(old) = self.take(ip, expiry)
                {
                    displaced.push(old);
                }
                let i = self.slots.len();
                if new.hostname().is_some() {
                    self.names_gen += 1;
                }
                self.slots.push(new);
                self.by_ip.insert(ip, i as u32);
                self.bound.set(ip);
                self.index(i, expiry);
            }
        }
        displaced
    }

    /// Adds the client, name and expiry entries of `slots[i]`.
    fn index(&mut self, i: usize, expiry: bool) {
        let l = &self.slots[i];
        let ip = l.ip_u32();
        let (slots, by_ip) = (&self.slots, &self.by_ip);
        let k = l.key_parts();
        let kh = self.key_hash(k);
        self.by_key.insert(
            kh,
            ip,
            |other| lease_at(slots, by_ip, other).is_some_and(|o| o.key_parts() == k),
            || key_bytes(k),
        );
        if let Some(n) = l.hostname() {
            let nh = self.name_hash(n);
            self.by_name.insert(
                nh,
                ip,
                |other| lease_at(slots, by_ip, other).is_some_and(|o| o.hostname() == Some(n)),
                || n.as_bytes().into(),
            );
        }
        if expiry {
            self.expiry.insert(l.expires().0, ip);
        }
    }

    /// Drops the client, name and expiry entries of `old`.
    fn unindex(&mut self, old: &PackedLease, expiry: bool) {
        let ip = old.ip_u32();
        let k = old.key_parts();
        self.by_key.remove(self.key_hash(k), ip, || key_bytes(k));
        if let Some(n) = old.hostname() {
            self.by_name
                .remove(self.name_hash(n), ip, || n.as_bytes().into());
        }
        if expiry {
            self.expiry.remove(old.expires().0, ip);
        }
    }

    /// Removes the binding of `ip` from the vector and every index.
    fn take(&mut self, ip: u32, expiry: bool) -> Option<PackedLease> {
        let i = self.by_ip.remove(&ip)? as usize;
        let old = self.slots.swap_remove(i);
        if let Some(moved) = self.slots.get(i) {
            self.by_ip.insert(moved.ip_u32(), i as u32);
        }
        self.unindex(&old, expiry);
        self.bound.release(ip);
        if old.hostname().is_some() {
            self.names_gen += 1;
        }
        Some(old)
    }

    pub fn remove(&mut self, ip: Ipv4Addr) -> Option<Lease> {
        self.take(u32::from(ip), true).map(|l| l.to_lease())
    }

    /// Bindings, active or not.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Leases still holding their address at `now`.
    pub fn active_count(&self, now: UnixTime) -> usize {
        self.slots.len() - self.expiry.expired(now.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &PackedLease> {
        self.slots.iter()
    }

    /// A copy of every lease (for a compaction on another thread): one
    /// block of 48 bytes per lease, copied in a few milliseconds.
    pub fn snapshot(&self) -> Vec<PackedLease> {
        self.slots.clone()
    }

    /// The lease holding host name `name`, if any.
    pub fn by_name(&self, name: &str) -> Option<&PackedLease> {
        self.by_name
            .get(
                self.name_hash(name),
                |ip| self.slot(ip).is_some_and(|l| l.hostname() == Some(name)),
                || name.as_bytes().into(),
            )
            .and_then(|ip| self.slot(ip))
    }

    /// Leases with a host name (for the DNS host table).
    pub fn named(&self) -> impl Iterator<Item = &PackedLease> {
        self.by_name.ips().filter_map(|ip| self.slot(ip))
    }

    /// Changes whenever the set of (name, address) of active named leases
    /// may have changed other than by time passing their expiry, so the
    /// host table need not be rebuilt after every commit.
    pub fn names_generation(&self) -> u64 {
        self.names_gen
    }

    /// The host table was built at `at`: a named lease active then and
    /// renewed later (same name and address) leaves it unchanged.
    pub fn names_published(&mut self, at: UnixTime) {
        self.names_seen = at.0;
    }

    /// The first expiry later than `now`, in O(log n).
    pub fn next_expiry_after(&self, now: UnixTime) -> Option<UnixTime> {
        self.expiry.next_after(now.0).map(UnixTime)
    }

    /// The first address in `from..=to` with no binding at all.
    pub fn first_unbound(&self, from: u32, to: u32) -> Option<u32> {
        self.first_free(from, to, &AddrBitmap::default())
    }

    /// The first address in `from..=to` with no binding and not in
    /// `also` (e.g. outstanding offers).
    pub fn first_free(&self, from: u32, to: u32, also: &AddrBitmap) -> Option<u32> {
        self.bound.first_clear(from, to, also)
    }

    /// Whether `ip` is actively leased to a client other than `key`.
    pub fn held_by_other(&self, ip: Ipv4Addr, key: &ClientKey, now: UnixTime) -> bool {
        self.get(ip)
            .is_some_and(|l| l.is_active(now) && !l.is_client(key))
    }

    /// Approximate heap bytes held (leases and indexes), for tests and
    /// the memory budget; hash tables counted at their bucket count.
    pub fn heap_bytes(&self) -> usize {
        fn table<K, V, S>(m: &HashMap<K, V, S>) -> usize {
            buckets(m.capacity()) * (std::mem::size_of::<(K, V)>() + 1)
        }
        self.slots.capacity() * std::mem::size_of::<PackedLease>()
            + self
                .slots
                .iter()
                .map(PackedLease::heap_bytes)
                .sum::<usize>()
            + table(&self.by_ip)
            + self.by_key.heap_bytes()
            + self.by_name.heap_bytes()
            + self.expiry.heap_bytes()
            + self.bound.heap_bytes()
    }
}

/// The lease at `ip`, given the db's vector and address index (a free
/// function so index updates can borrow them beside another field).
fn lease_at<'a>(
    slots: &'a [PackedLease],
    by_ip: &HashMap<u32, u32, Mix>,
    ip: u32,
) -> Option<&'a PackedLease> {
    by_ip.get(&ip).map(|i| &slots[*i as usize])
}

/// Whether a renewal from expiry `old` to `new` keeps the lease active at
/// least as long (0 = infinite).
fn extends(old: u64, new: u64) -> bool {
    new == 0 || (old != 0 && new >= old)
}

/// The exact bytes of a client key, for the collision map.
fn key_bytes(k: KeyParts<'_>) -> Box<[u8]> {
    match k {
        KeyParts::ClientId(id) => [&[0u8][..], id].concat().into(),
        KeyParts::Hw(t, hw) => [&[1u8, t][..], hw].concat().into(),
    }
}

/// Hash-table buckets for `cap` usable entries (hashbrown: 7/8 load,
/// power of two).
fn buckets(cap: usize) -> usize {
    if cap == 0 {
        0
    } else if cap < 8 {
        (cap + 1).next_power_of_two()
    } else {
        (cap * 8 / 7).next_power_of_two()
    }
}

/// Key (client, name) → u32 (an address here; a name's position in
/// [`super::HostTable`]) through a 32-bit keyed hash of the key, so the
/// index owns no copy of the keys: each key is in exactly one of
/// `primary`, under its hash, verified against what it points to, or
/// `overflow` (exact bytes), when another key with the same hash held
/// that entry first.
#[derive(Clone, Debug, Default)]
pub(crate) struct HashIndex {
    primary: HashMap<u32, u32, Mix>,
    overflow: HashMap<Box<[u8]>, u32>,
}

impl HashIndex {
    pub(crate) fn reserve(&mut self, n: usize) {
        self.primary.reserve(n);
    }

    /// The address of the key hashing to `h`; `is_at(ip)`: whether the
    /// lease at `ip` has this key; `bytes()`: the key's exact bytes.
    pub(crate) fn get(
        &self,
        h: u32,
        is_at: impl Fn(u32) -> bool,
        bytes: impl FnOnce() -> Box<[u8]>,
    ) -> Option<u32> {
        match self.primary.get(&h) {
            Some(ip) if is_at(*ip) => Some(*ip),
            _ if self.overflow.is_empty() => None,
            _ => self.overflow.get(&bytes()).copied(),
        }
    }

    /// Points the key at `ip`, replacing its previous entry (the last
    /// writer wins); `is_at` and `bytes` as for [`HashIndex::get`].
    pub(crate) fn insert(
        &mut self,
        h: u32,
        ip: u32,
        is_at: impl Fn(u32) -> bool,
        bytes: impl FnOnce() -> Box<[u8]>,
    ) {
        let mut bytes = Some(bytes);
        let mut key = || bytes.take().map(|f| f()).unwrap_or_default();
        let mut held = None;
        if !self.overflow.is_empty() {
            let k = key();
            self.overflow.remove(&k);
            held = Some(k);
        }
        match self.primary.entry(h) {
            Entry::Vacant(e) => {
                e.insert(ip);
            }
            Entry::Occupied(mut e) => {
                if is_at(*e.get()) {
                    e.insert(ip);
                } else {
                    let k = held.unwrap_or_else(key);
                    self.overflow.insert(k, ip);
                }
            }
        }
    }

    /// Drops the key's entry if it points at `ip`.
    pub(crate) fn remove(&mut self, h: u32, ip: u32, bytes: impl FnOnce() -> Box<[u8]>) {
        if self.primary.get(&h) == Some(&ip) {
            self.primary.remove(&h);
        } else if !self.overflow.is_empty() {
            let k = bytes();
            if self.overflow.get(&k) == Some(&ip) {
                self.overflow.remove(&k);
            }
        }
    }

    pub(crate) fn ips(&self) -> impl Iterator<Item = u32> + '_ {
        self.primary.values().chain(self.overflow.values()).copied()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        buckets(self.primary.capacity()) * 9
            + self.overflow.keys().map(|k| k.len() + 24).sum::<usize>()
    }
}

/// A set of addresses as a bitmap in pages of 4,096 addresses, each with
/// a summary of its full 64-address words: the first address in neither
/// of two bitmaps is found with a word or two per 4,096 addresses, not a
/// hash lookup per 64 (a pool 76 % leased took ~800 lookups per DISCOVER).
#[derive(Clone, Debug, Default)]
pub struct AddrBitmap {
    pages: HashMap<u32, Box<Page>, Mix>,
}

/// The summary first: it shares a cache line with the first words.
#[derive(Clone, Debug)]
#[repr(C)]
struct Page {
    /// Bit w: `words[w]` is all ones.
    full: u64,
    /// Addresses set.
    count: u32,
    words: [u64; 64],
}

impl AddrBitmap {
    pub fn set(&mut self, ip: u32) {
        let p = self.pages.entry(ip >> 12).or_insert_with(|| {
            Box::new(Page {
                words: [0; 64],
                full: 0,
                count: 0,
            })
        });
        let (w, bit) = (((ip >> 6) & 63) as usize, 1u64 << (ip & 63));
        if p.words[w] & bit == 0 {
            p.words[w] |= bit;
            p.count += 1;
            if p.words[w] == u64::MAX {
                p.full |= 1 << w;
            }
        }
    }

    /// Clears `ip`, keeping its page even when empty: an address offered
    /// and taken back again and again (each DORA) allocates nothing. See
    /// [`AddrBitmap::sweep`] and [`AddrBitmap::release`].
    pub fn clear(&mut self, ip: u32) {
        let Some(p) = self.pages.get_mut(&(ip >> 12)) else {
            return;
        };
        let (w, bit) = (((ip >> 6) & 63) as usize, 1u64 << (ip & 63));
        if p.words[w] & bit != 0 {
            p.words[w] &= !bit;
            p.full &= !(1 << w);
            p.count -= 1;
        }
    }

    /// Clears `ip` and drops its page if that left it empty.
    pub fn release(&mut self, ip: u32) {
        self.clear(ip);
        if self.pages.get(&(ip >> 12)).is_some_and(|p| p.count == 0) {
            self.pages.remove(&(ip >> 12));
        }
    }

    /// Drops every empty page.
    pub fn sweep(&mut self) {
        self.pages.retain(|_, p| p.count > 0);
    }

    pub fn contains(&self, ip: u32) -> bool {
        self.pages
            .get(&(ip >> 12))
            .is_some_and(|p| p.words[((ip >> 6) & 63) as usize] & (1 << (ip & 63)) != 0)
    }

    /// The first address in `from..=to` set in neither `self` nor `other`.
    pub fn first_clear(&self, from: u32, to: u32, other: &AddrBitmap) -> Option<u32> {
        let mut ip = from;
        while ip <= to {
            let page = ip >> 12;
            let (a, b) = (self.pages.get(&page), other.pages.get(&page));
            if a.is_none() && b.is_none() {
                return Some(ip);
            }
            let word = |w: u32| {
                a.map_or(0, |p| p.words[w as usize]) | b.map_or(0, |p| p.words[w as usize])
            };
            // Words full in either bitmap cannot hold a free address.
            let full = a.map_or(0, |p| p.full) | b.map_or(0, |p| p.full);
            let mut w = (ip >> 6) & 63;
            let mut low = ip & 63;
            loop {
                let open = !full & (u64::MAX << w);
                if open == 0 {
                    break;
                }
                if open.trailing_zeros() != w {
                    w = open.trailing_zeros();
                    low = 0;
                }
                let free = !word(w) & (u64::MAX << low);
                if free != 0 {
                    let found = (page << 12) | (w << 6) | free.trailing_zeros();
                    return (found <= to).then_some(found);
                }
                if w == 63 {
                    break;
                }
                w += 1;
                low = 0;
            }
            ip = page.checked_add(1)?.checked_mul(4096)?;
        }
        None
    }

    fn heap_bytes(&self) -> usize {
        self.pages.len() * (std::mem::size_of::<Page>() + 16) + buckets(self.pages.capacity()) * 13
    }
}

/// Expiries of the finite leases. `near` packs (expiry, address) into one
/// u64 for expiries up to 2106 (u32 seconds); later ones (only from a
/// hand-edited lease file) go to `far`.
#[derive(Clone, Debug, Default)]
struct ExpiryIndex {
    near: BTreeSet<u64>,
    far: BTreeSet<(u64, u32)>,
}

impl ExpiryIndex {
    fn build(entries: impl Iterator<Item = (u64, u32)>) -> ExpiryIndex {
        let mut far = BTreeSet::new();
        let near = entries
            .filter(|(e, ip)| match u32::try_from(*e) {
                Ok(_) => *e != 0,
                Err(_) => {
                    far.insert((*e, *ip));
                    false
                }
            })
            .map(|(e, ip)| (e << 32) | ip as u64)
            .collect();
        ExpiryIndex { near, far }
    }

    fn insert(&mut self, expires: u64, ip: u32) {
        match expires {
            0 => {}
            e if e <= u32::MAX as u64 => {
                self.near.insert((e << 32) | ip as u64);
            }
            e => {
                self.far.insert((e, ip));
            }
        }
    }

    fn remove(&mut self, expires: u64, ip: u32) {
        match expires {
            0 => {}
            e if e <= u32::MAX as u64 => {
                self.near.remove(&((e << 32) | ip as u64));
            }
            e => {
                self.far.remove(&(e, ip));
            }
        }
    }

    /// Leases whose expiry is `<= now`.
    fn expired(&self, now: u64) -> usize {
        match u32::try_from(now) {
            Ok(n) => self
                .near
                .range(..=((n as u64) << 32 | u32::MAX as u64))
                .count(),
            Err(_) => self.near.len() + self.far.range(..=(now, u32::MAX)).count(),
        }
    }

    /// The first expiry later than `now`.
    fn next_after(&self, now: u64) -> Option<u64> {
        let after = now.checked_add(1)?;
        u32::try_from(after)
            .ok()
            .and_then(|a| self.near.range((a as u64) << 32..).next())
            .map(|k| k >> 32)
            .or_else(|| self.far.range((after, 0)..).next().map(|(e, _)| *e))
    }

    fn heap_bytes(&self) -> usize {
        // B-tree leaves: up to 11 keys plus ~16 bytes of node header.
        self.near.len() * 8 * 12 / 11 + self.far.len() * 24
    }
}

/// A hasher for u32 keys that are addresses or already keyed hashes: one
/// multiplication (Fibonacci hashing). Its low bits are a bijection of
/// the key's low bits, so consecutive addresses fill consecutive buckets.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Mix;

pub(crate) struct MixHasher(u64);

impl BuildHasher for Mix {
    type Hasher = MixHasher;
    fn build_hasher(&self) -> MixHasher {
        MixHasher(0)
    }
}

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u8(*b);
        }
    }
    fn write_u8(&mut self, x: u8) {
        self.write_u64(x as u64);
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(x as u64);
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(29) ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

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
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Addr, &ClientKey, Mono)> + '_ {
        self.by_ip.iter().map(|(ip, (k, t))| (*ip, k, *t))
    }

    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

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
        gate::decide(ask.role, gate::Msg::Discover, Some(claim), false) == gate::Verdict::Answer
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
    use crate::dhcp::binding::HwAddr;
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
            mono: Mono(1000),
            wall: UnixTime(5000),
            role: Role::Active,
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
            db.of_client(&key(2)).unwrap().ip(),
            Ipv4Addr::new(10, 0, 0, 11)
        );
        assert_eq!(db.active_count(UnixTime(0)), 1);
        let db = LeaseDb::from_leases(vec![
            lease([10, 0, 0, 5], 1, 900),
            lease([10, 0, 0, 6], 1, 100),
        ]);
        assert_eq!(
            db.of_client(&key(1)).unwrap().ip(),
            Ipv4Addr::new(10, 0, 0, 5)
        );
    }

    /// The map-of-owned-leases db this one replaced, kept as the oracle:
    /// the packed db must answer every question exactly as it did.
    #[derive(Default)]
    struct Oracle {
        by_ip: HashMap<Ipv4Addr, Lease>,
        by_key: HashMap<ClientKey, Ipv4Addr>,
        expiry: BTreeSet<(u64, Ipv4Addr)>,
        by_name: HashMap<String, Ipv4Addr>,
    }

    impl Oracle {
        fn insert(&mut self, lease: Lease) -> Vec<Lease> {
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
            self.by_key.insert(key, lease.ip);
            self.by_ip.insert(lease.ip, lease);
            displaced
        }

        fn remove(&mut self, ip: Ipv4Addr) -> Option<Lease> {
            let l = self.by_ip.remove(&ip)?;
            self.expiry.remove(&(l.expires.0, ip));
            if let Some(n) = &l.hostname
                && self.by_name.get(n) == Some(&ip)
            {
                self.by_name.remove(n);
            }
            if self.by_key.get(&l.key()) == Some(&ip) {
                self.by_key.remove(&l.key());
            }
            Some(l)
        }

        fn active_count(&self, now: u64) -> usize {
            let expired = self
                .expiry
                .range(..(now.saturating_add(1), Ipv4Addr::UNSPECIFIED))
                .count();
            self.by_ip.len() - expired
        }

        fn next_expiry_after(&self, now: u64) -> Option<u64> {
            self.expiry
                .range((now.saturating_add(1), Ipv4Addr::UNSPECIFIED)..)
                .next()
                .map(|(e, _)| *e)
        }
    }

    fn sorted(mut v: Vec<Lease>) -> Vec<Lease> {
        v.sort_by_key(|l| (l.ip, l.expires.0));
        v
    }

    /// Every answer of `db` equals the oracle's.
    fn same(db: &LeaseDb, o: &Oracle, keys: &[ClientKey], names: &[String]) {
        assert_eq!(db.len(), o.by_ip.len());
        for l in o.by_ip.values() {
            assert_eq!(db.get(l.ip).map(PackedLease::to_lease).as_ref(), Some(l));
        }
        assert_eq!(
            sorted(db.iter().map(PackedLease::to_lease).collect()),
            sorted(o.by_ip.values().cloned().collect())
        );
        for k in keys {
            let want = o.by_key.get(k).map(|ip| &o.by_ip[ip]);
            assert_eq!(
                db.of_client(k).map(PackedLease::to_lease).as_ref(),
                want,
                "{k:?}"
            );
        }
        for n in names {
            let want = o.by_name.get(n).map(|ip| &o.by_ip[ip]);
            assert_eq!(
                db.by_name(n).map(PackedLease::to_lease).as_ref(),
                want,
                "{n}"
            );
        }
        let mut named: Vec<Ipv4Addr> = db.named().map(PackedLease::ip).collect();
        named.sort();
        let mut want: Vec<Ipv4Addr> = o.by_name.values().copied().collect();
        want.sort();
        assert_eq!(named, want);
        for t in [
            0,
            99,
            100,
            150,
            250,
            1_000,
            u32::MAX as u64,
            u32::MAX as u64 + 5,
            u64::MAX,
        ] {
            assert_eq!(db.active_count(UnixTime(t)), o.active_count(t), "at {t}");
            assert_eq!(
                db.next_expiry_after(UnixTime(t)).map(|e| e.0),
                o.next_expiry_after(t),
                "after {t}"
            );
        }
        for ip in o.by_ip.keys() {
            let x = u32::from(*ip);
            assert_eq!(db.first_unbound(x, x), None, "{ip} is bound");
        }
    }

    /// Random inserts and removals over a few addresses, clients (by
    /// client id and by MAC, some with an empty client id) and names, with
    /// real hashing and with every hash colliding: the packed db and the
    /// oracle agree after every step, including the displaced bindings.
    #[test]
    fn packed_db_answers_like_the_map_of_leases() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let keys: Vec<ClientKey> = (0..12u8)
            .map(|n| match n % 3 {
                0 => ClientKey::ClientId(vec![1, 2, 0, 0, 0, 0, n]),
                1 => ClientKey::ClientId(vec![n; 40]),
                _ => key(n),
            })
            .collect();
        let names: Vec<String> = ["a", "b", "c", "desktop-0123456789abcdef"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for collide in [None, Some(7)] {
            let mut db = LeaseDb {
                fixed_hash: collide,
                ..LeaseDb::default()
            };
            let mut o = Oracle::default();
            let mut overflowed = false;
            for step in 0..4000 {
                if rnd(8) == 0 {
                    let ip = Ipv4Addr::new(10, 0, 0, rnd(20) as u8);
                    assert_eq!(db.remove(ip), o.remove(ip), "step {step}");
                } else {
                    let n = rnd(12) as u8;
                    let (client_id, hw) = match &keys[n as usize] {
                        ClientKey::ClientId(id) => (
                            Some(id.clone()),
                            HwAddr::ether([2, 0, 0, 0, 1, rnd(3) as u8]),
                        ),
                        // An empty client id keys by MAC as no client id does.
                        ClientKey::Hw(hw) => ((rnd(2) == 0).then(Vec::new), *hw),
                    };
                    let l = Lease {
                        ip: Ipv4Addr::new(10, 0, 0, rnd(20) as u8),
                        hw,
                        client_id,
                        hostname: (rnd(2) == 0).then(|| names[rnd(4) as usize].clone()),
                        expires: UnixTime(match rnd(6) {
                            0 => 0,
                            1 => u32::MAX as u64 + 1 + rnd(3),
                            _ => 100 + rnd(100),
                        }),
                    };
                    assert_eq!(
                        sorted(db.insert(l.clone())),
                        sorted(o.insert(l)),
                        "step {step}"
                    );
                }
                same(&db, &o, &keys, &names);
                overflowed |= !db.by_key.overflow.is_empty() && !db.by_name.overflow.is_empty();
            }
            assert_eq!(overflowed, collide.is_some(), "collisions exercised");
            // Loading: sorted by expiry, then one by one.
            let mut all: Vec<Lease> = o.by_ip.values().cloned().collect();
            all.sort_by_key(|l| l.ip);
            let loaded = LeaseDb::from_leases(all.iter().rev().cloned());
            let mut by_expiry = all.clone();
            by_expiry.reverse();
            by_expiry.sort_by_key(|l| {
                if l.expires.0 == 0 {
                    u64::MAX
                } else {
                    l.expires.0
                }
            });
            let mut lo = Oracle::default();
            for l in by_expiry {
                lo.insert(l);
            }
            same(&loaded, &lo, &keys, &names);
        }
    }

    #[test]
    fn fifty_thousand_leases_fit_in_a_few_megabytes() {
        let leases = (0..50_000u32).map(|n| {
            let mac = [2, 0x42, 0, (n >> 16) as u8, (n >> 8) as u8, n as u8];
            Lease {
                ip: Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 201, 0, 10)) + n),
                hw: HwAddr::ether(mac),
                client_id: Some([&[1u8][..], &mac].concat()),
                hostname: (n % 4 == 0).then(|| format!("host-{n}")),
                expires: UnixTime(1_800_000_000),
            }
        });
        let db = LeaseDb::from_leases(leases);
        assert_eq!(db.len(), 50_000);
        let per_lease = db.heap_bytes() / db.len();
        eprintln!("{per_lease} bytes per lease");
        // Maps of owned leases took ~400 bytes a lease.
        assert!(per_lease <= 100, "{per_lease} bytes per lease");
        let k = ClientKey::ClientId(vec![1, 2, 0x42, 0, 0, 0x30, 0x39]);
        assert_eq!(
            db.of_client(&k).map(PackedLease::ip),
            Some(Ipv4Addr::from(
                u32::from(Ipv4Addr::new(10, 201, 0, 10)) + 12_345
            ))
        );
        assert_eq!(
            db.by_name("host-12344").map(|l| l.key()),
            db.get(Ipv4Addr::from(
                u32::from(Ipv4Addr::new(10, 201, 0, 10)) + 12_344
            ))
            .map(|l| l.key())
        );
    }

    /// The DNS view changes with named leases, not with renewals of
    /// active ones nor with unnamed leases.
    #[test]
    fn names_generation_moves_only_when_the_dns_view_may_change() {
        let mut db = LeaseDb::default();
        let named = |n: u8, exp: u64, name: &str| Lease {
            hostname: Some(name.to_string()),
            ..lease([10, 0, 0, n], n, exp)
        };
        let g = |db: &LeaseDb| db.names_generation();
        let g0 = g(&db);
        db.insert(lease([10, 0, 0, 1], 1, 500));
        db.insert(lease([10, 0, 0, 1], 1, 900));
        db.remove(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(g(&db), g0, "unnamed leases are not in DNS");
        db.insert(named(2, 500, "pc"));
        let g1 = g(&db);
        assert_ne!(g1, g0, "a new name");
        db.names_published(UnixTime(100));
        db.insert(named(2, 900, "pc"));
        assert_eq!(g(&db), g1, "a renewal of an active lease");
        db.insert(named(2, 0, "pc"));
        assert_eq!(g(&db), g1, "renewed for ever");
        db.insert(named(2, 950, "pc"));
        assert_ne!(g(&db), g1, "infinite to finite");
        let g2 = g(&db);
        db.insert(named(2, 150, "pc"));
        assert_ne!(g(&db), g2, "shortened (a RELEASE)");
        let g3 = g(&db);
        db.names_published(UnixTime(200));
        db.insert(named(2, 900, "pc"));
        assert_ne!(g(&db), g3, "renewed after it left DNS");
        let g4 = g(&db);
        db.insert(named(2, 900, "laptop"));
        assert_ne!(g(&db), g4, "renamed");
        let g5 = g(&db);
        db.remove(Ipv4Addr::new(10, 0, 0, 2));
        assert_ne!(g(&db), g5, "removed");
    }

    /// Random sets and clears (dense runs, full words, page edges, the top
    /// of the address space) in two bitmaps: `first_clear` finds what a
    /// scan address by address finds.
    #[test]
    fn the_paged_bitmap_finds_the_first_clear_address_like_a_scan() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for base in [0x0a00_0000u32, u32::MAX - 3 * 4096 + 1] {
            let (mut a, mut b) = (AddrBitmap::default(), AddrBitmap::default());
            let (mut sa, mut sb) = (
                std::collections::HashSet::new(),
                std::collections::HashSet::new(),
            );
            let span = 3 * 4096u32;
            for step in 0..600 {
                let (m, set) = if rnd(2) == 0 {
                    (&mut a, &mut sa)
                } else {
                    (&mut b, &mut sb)
                };
                // Runs: mostly fill, so whole words and pages become full.
                let start = base + rnd(span as u64) as u32;
                let len = rnd(600) as u32;
                let clearing = rnd(6) == 0;
                for ip in start..=start.saturating_add(len).min(base + (span - 1)) {
                    if clearing || rnd(500) == 0 {
                        m.clear(ip);
                        set.remove(&ip);
                    } else {
                        m.set(ip);
                        set.insert(ip);
                    }
                }
                for _ in 0..5 {
                    let from = base + rnd(span as u64) as u32;
                    let to = from.saturating_add(rnd(span as u64) as u32);
                    let want = (from..=to).find(|ip| !sa.contains(ip) && !sb.contains(ip));
                    assert_eq!(
                        a.first_clear(from, to, &b),
                        want,
                        "step {step} {from}..={to}"
                    );
                    assert_eq!(a.contains(from), sa.contains(&from));
                }
            }
            assert!(
                a.pages
                    .values()
                    .chain(b.pages.values())
                    .any(|p| p.full != 0)
            );
            // Everything cleared: no page left.
            for ip in sa.drain() {
                a.release(ip);
            }
            assert!(a.pages.is_empty());
            for ip in sb.drain() {
                b.clear(ip);
            }
            assert!(!b.pages.is_empty());
            b.sweep();
            assert!(b.pages.is_empty());
        }
        let mut full = AddrBitmap::default();
        for ip in u32::MAX - 100..=u32::MAX {
            full.set(ip);
        }
        assert_eq!(
            full.first_clear(u32::MAX - 100, u32::MAX, &AddrBitmap::default()),
            None
        );
        assert_eq!(
            full.first_clear(u32::MAX - 101, u32::MAX, &AddrBitmap::default()),
            Some(u32::MAX - 101)
        );
    }
}
