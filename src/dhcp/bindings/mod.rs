//! The lease table in memory: [`LeaseDb`] and its indexes.
//!
//! [`packed`] is a lease as memory holds it; `HashIndex`, [`AddrBitmap`],
//! the expiry index and the `Mix` hasher are the indexes over it. The
//! choice of an address for a client is [`super::allocate`]'s.

pub mod packed;

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;

use super::binding::{ClientKey, Lease};
use crate::clock::UnixTime;
use packed::{KeyParts, PackedLease};

/// Seconds an ended lease still keeps its address from another client.
/// Expiry is kept in whole seconds, rounded down, while a client counts
/// its lease from when it sent its request (RFC 2131 §4.4.1), so for up to
/// a second after the stored expiry the client may rightly still use the
/// address. (Found by the pair simulation under pool pressure.)
pub const REUSE_GRACE_S: u64 = 2;

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

    /// Whether `ip` is actively leased to a client other than `key`, or
    /// was until less than [`REUSE_GRACE_S`] ago.
    pub fn held_by_other(&self, ip: Ipv4Addr, key: &ClientKey, now: UnixTime) -> bool {
        let then = UnixTime(now.0.saturating_sub(REUSE_GRACE_S));
        self.get(ip)
            .is_some_and(|l| l.is_active(then) && !l.is_client(key))
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

#[cfg(test)]
pub(crate) mod tests;
