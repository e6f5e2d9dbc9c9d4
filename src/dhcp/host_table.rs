//! Names of DHCP clients and reservations, as DNS answers them.
//!
//! DHCP builds a new table when a committed change may have altered it
//! and publishes it whole (dnsmasq's `lease_update_dns`); DNS only ever
//! reads a snapshot, so no lock is shared between the two tasks.
//!
//! Memory: with 50,000 named leases, maps of owned strings took ~10 MB
//! (a `String` and a `Vec` per name, and the name again per address).
//! Here every name is stored once in one string, and the indexes hold only
//! u32s: ~55 bytes a name.
//!
//! IPv6 addresses (AAAA names, design §10) come from the kernel's
//! neighbour table joined with the leases by MAC ([`crate::neigh`]); they
//! sit in maps of their own, empty (no heap) without them.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::bindings::{HashIndex, Mix};

/// An immutable snapshot of `name -> addresses` and `address -> name`.
#[derive(Clone, Default)]
pub struct HostTable {
    /// Every distinct name, lower-case, one after the other.
    text: String,
    /// Per distinct name, in order of first appearance.
    names: Vec<NameSlot>,
    /// The addresses of each name, grouped by name.
    addrs: Vec<Ipv4Addr>,
    /// Name → position in `names`.
    by_name: HashIndex,
    /// Address → position in `names` of its PTR name.
    by_addr: HashMap<u32, u32, Mix>,
    /// Name position → its IPv6 addresses, in the order given.
    addrs6: HashMap<u32, Vec<Ipv6Addr>, Mix>,
    /// IPv6 address → position in `names` of its PTR name.
    by_addr6: HashMap<Ipv6Addr, u32>,
    seed: RandomState,
    /// Tests: every name hashes alike (all collide).
    #[cfg(test)]
    collide: bool,
}

#[derive(Clone, Copy, Debug)]
struct NameSlot {
    /// `text[at..at + len]`.
    at: u32,
    len: u32,
    /// `addrs[first..first + count]`.
    first: u32,
    count: u32,
}

impl HostTable {
    /// Builds a table from `(unqualified name, address)` pairs. Names are
    /// case-insensitive (stored lower-case); the first name given for an
    /// address is its PTR name.
    pub fn new<I, S>(entries: I) -> HostTable
    where
        I: IntoIterator<Item = (S, Ipv4Addr)>,
        S: AsRef<str>,
    {
        HostTable::default().fill(entries)
    }

    fn fill<I, S>(mut self, entries: I) -> HostTable
    where
        I: IntoIterator<Item = (S, Ipv4Addr)>,
        S: AsRef<str>,
    {
        let t = &mut self;
        // (name position, address) in input order, then grouped by name.
        let mut pairs: Vec<(u32, Ipv4Addr)> = Vec::new();
        for (name, addr) in entries {
            let name = name.as_ref();
            let i = match t.find(name) {
                Some(i) => i,
                None => t.add_name(name),
            };
            pairs.push((i, addr));
            t.names[i as usize].count += 1;
            t.by_addr.entry(u32::from(addr)).or_insert(i);
        }
        // A counting sort by name keeps each name's addresses in input
        // order; repeats of an address under one name are dropped.
        let mut next = 0u32;
        for s in &mut t.names {
            s.first = next;
            next += s.count;
            s.count = 0;
        }
        t.addrs = vec![Ipv4Addr::UNSPECIFIED; next as usize];
        for (i, addr) in pairs {
            let s = &mut t.names[i as usize];
            let group = &mut t.addrs[s.first as usize..(s.first + s.count) as usize];
            if !group.contains(&addr) {
                t.addrs[(s.first + s.count) as usize] = addr;
                s.count += 1;
            }
        }
        // Close the gaps the dropped repeats left.
        let mut to = 0u32;
        for s in &mut t.names {
            t.addrs
                .copy_within(s.first as usize..(s.first + s.count) as usize, to as usize);
            s.first = to;
            to += s.count;
        }
        t.addrs.truncate(to as usize);
        t.addrs.shrink_to_fit();
        t.names.shrink_to_fit();
        t.text.shrink_to_fit();
        self
    }

    /// Adds `(unqualified name, IPv6 address)` pairs: AAAA for the name
    /// (a name new to the table gets no A record), and the first name
    /// given for an address is its ip6.arpa PTR name.
    pub fn with_v6<I, S>(mut self, entries: I) -> HostTable
    where
        I: IntoIterator<Item = (S, Ipv6Addr)>,
        S: AsRef<str>,
    {
        for (name, addr) in entries {
            let name = name.as_ref();
            let i = match self.find(name) {
                Some(i) => i,
                None => self.add_name(name),
            };
            let v = self.addrs6.entry(i).or_default();
            if !v.contains(&addr) {
                v.push(addr);
            }
            self.by_addr6.entry(addr).or_insert(i);
        }
        self
    }

    fn hash(&self, name: &str) -> u32 {
        #[cfg(test)]
        if self.collide {
            return 7;
        }
        let mut h = self.seed.build_hasher();
        // Lower-cased through a buffer: one `write` per 64 bytes, not one
        // per byte (no name longer than a label needs more than one).
        let mut buf = [0u8; 64];
        for chunk in name.as_bytes().chunks(buf.len()) {
            let lower = &mut buf[..chunk.len()];
            lower.copy_from_slice(chunk);
            lower.make_ascii_lowercase();
            h.write(lower);
        }
        h.finish() as u32
    }

    fn text_of(&self, i: u32) -> &str {
        let s = self.names[i as usize];
        &self.text[s.at as usize..(s.at + s.len) as usize]
    }

    /// The position of `name` (any case).
    fn find(&self, name: &str) -> Option<u32> {
        self.by_name.get(
            self.hash(name),
            |i| self.text_of(i).eq_ignore_ascii_case(name),
            || name.to_ascii_lowercase().into_bytes().into(),
        )
    }

    fn add_name(&mut self, name: &str) -> u32 {
        let i = self.names.len() as u32;
        let at = self.text.len() as u32;
        self.text.push_str(name);
        self.text[at as usize..].make_ascii_lowercase();
        self.names.push(NameSlot {
            at,
            len: name.len() as u32,
            first: 0,
            count: 0,
        });
        let h = self.hash(name);
        let (text, names) = (&self.text, &self.names);
        // A new name: an entry under the same hash is another name's.
        self.by_name.insert(
            h,
            i,
            |other| {
                let s = names[other as usize];
                text[s.at as usize..(s.at + s.len) as usize].eq_ignore_ascii_case(name)
            },
            || name.to_ascii_lowercase().into_bytes().into(),
        );
        i
    }

    /// Addresses of an unqualified name (any case).
    pub fn addrs(&self, name: &str) -> &[Ipv4Addr] {
        match self.find(name) {
            Some(i) => {
                let s = self.names[i as usize];
                &self.addrs[s.first as usize..(s.first + s.count) as usize]
            }
            None => &[],
        }
    }

    /// The name for an address, for PTR answers.
    pub fn name(&self, addr: Ipv4Addr) -> Option<&str> {
        self.by_addr.get(&u32::from(addr)).map(|i| self.text_of(*i))
    }

    /// IPv6 addresses of an unqualified name (any case), for AAAA.
    pub fn addrs6(&self, name: &str) -> &[Ipv6Addr] {
        self.find(name)
            .and_then(|i| self.addrs6.get(&i))
            .map_or(&[], Vec::as_slice)
    }

    /// The name for an IPv6 address, for ip6.arpa PTR answers.
    pub fn name6(&self, addr: Ipv6Addr) -> Option<&str> {
        self.by_addr6.get(&addr).map(|i| self.text_of(*i))
    }

    /// Whether the name has an address of either family.
    pub fn has(&self, name: &str) -> bool {
        !self.addrs(name).is_empty() || !self.addrs6(name).is_empty()
    }

    /// Every `(name, address)` pair.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Ipv4Addr)> {
        (0..self.names.len() as u32).flat_map(move |i| {
            let s = self.names[i as usize];
            self.addrs[s.first as usize..(s.first + s.count) as usize]
                .iter()
                .map(move |a| (self.text_of(i), *a))
        })
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Approximate heap bytes held (for tests and the memory budget).
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.names.capacity() * std::mem::size_of::<NameSlot>()
            + self.addrs.capacity() * 4
            + self.by_name.heap_bytes()
            + self.by_addr.capacity() * 8 / 7 * 9
            + self
                .addrs6
                .values()
                .map(|v| v.capacity() * 16 + 32)
                .sum::<usize>()
            + self.by_addr6.capacity() * 20 / 7 * 8
    }
}

/// The same names with the same addresses (in the same order) and the
/// same PTR names, however the tables were laid out.
impl PartialEq for HostTable {
    fn eq(&self, other: &HostTable) -> bool {
        self.names.len() == other.names.len()
            && self.by_addr.len() == other.by_addr.len()
            && (0..self.names.len() as u32).all(|i| {
                let name = self.text_of(i);
                let s = self.names[i as usize];
                other.addrs(name) == &self.addrs[s.first as usize..(s.first + s.count) as usize]
            })
            && self
                .by_addr
                .iter()
                .all(|(a, i)| other.name(Ipv4Addr::from(*a)) == Some(self.text_of(*i)))
            && self.addrs6.len() == other.addrs6.len()
            && self
                .addrs6
                .iter()
                .all(|(i, v)| other.addrs6(self.text_of(*i)) == v.as_slice())
            && self.by_addr6.len() == other.by_addr6.len()
            && self
                .by_addr6
                .iter()
                .all(|(a, i)| other.name6(*a) == Some(self.text_of(*i)))
    }
}

impl Eq for HostTable {}

impl fmt::Debug for HostTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries((0..self.names.len() as u32).map(|i| {
                let s = self.names[i as usize];
                (
                    self.text_of(i),
                    (
                        &self.addrs[s.first as usize..(s.first + s.count) as usize],
                        self.addrs6.get(&i).map_or(&[][..], Vec::as_slice),
                    ),
                )
            }))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_reverse() {
        let a = Ipv4Addr::new(192, 168, 1, 20);
        let b = Ipv4Addr::new(192, 168, 1, 21);
        let t = HostTable::new([("Laptop", a), ("laptop", b), ("printer", b)]);
        assert_eq!(t.addrs("LAPTOP"), &[a, b]);
        assert_eq!(t.addrs("printer"), &[b]);
        assert_eq!(t.addrs("nobody"), &[] as &[Ipv4Addr]);
        assert_eq!(t.name(a), Some("laptop"));
        assert_eq!(t.name(b), Some("laptop"));
        assert_eq!(t.len(), 2);
        assert!(HostTable::default().is_empty());
    }

    #[test]
    fn ipv6_addresses_answer_aaaa_and_ptr() {
        let a = Ipv4Addr::new(192, 168, 1, 20);
        let g: Ipv6Addr = "2001:db8::20".parse().unwrap();
        let tmp: Ipv6Addr = "2001:db8::7d3a:1:2:3".parse().unwrap();
        let ula: Ipv6Addr = "fd00::20".parse().unwrap();
        let t = HostTable::new([("Laptop", a), ("printer", Ipv4Addr::new(192, 168, 1, 9))])
            .with_v6([
                ("LAPTOP", g),
                ("laptop", tmp),
                ("laptop", g),
                ("phone", ula),
            ])
            .with_v6([("printer", tmp)]);
        assert_eq!(t.addrs6("laptop"), &[g, tmp]);
        assert_eq!(t.addrs("laptop"), &[a]);
        // The first name for an address is its PTR name.
        assert_eq!(t.name6(tmp), Some("laptop"));
        assert_eq!(t.name6(g), Some("laptop"));
        assert_eq!(t.addrs6("printer"), &[tmp]);
        // A name with only IPv6 addresses: no A record, but it exists.
        assert_eq!(t.addrs("phone"), &[] as &[Ipv4Addr]);
        assert_eq!(t.addrs6("phone"), &[ula]);
        assert!(t.has("phone") && t.has("printer") && !t.has("nobody"));
        assert_eq!(t.name6("2001:db8::99".parse().unwrap()), None);
        // Equality sees the IPv6 side.
        let v4_only = HostTable::new([("Laptop", a), ("printer", Ipv4Addr::new(192, 168, 1, 9))]);
        assert_ne!(t, v4_only);
        assert_eq!(t, t.clone());
        assert_ne!(
            v4_only.clone().with_v6([("laptop", g)]),
            v4_only.clone().with_v6([("laptop", tmp)])
        );
        assert_ne!(
            v4_only.clone().with_v6([("laptop", g)]),
            v4_only.clone().with_v6([("printer", g)])
        );
    }

    /// The map-based table this one replaced: the oracle.
    fn oracle(
        entries: &[(String, Ipv4Addr)],
    ) -> (HashMap<String, Vec<Ipv4Addr>>, HashMap<Ipv4Addr, String>) {
        let (mut by_name, mut by_addr) = (HashMap::new(), HashMap::new());
        for (name, addr) in entries {
            let name = name.to_ascii_lowercase();
            let addrs: &mut Vec<Ipv4Addr> = by_name.entry(name.clone()).or_default();
            if !addrs.contains(addr) {
                addrs.push(*addr);
            }
            by_addr.entry(*addr).or_insert(name);
        }
        (by_name, by_addr)
    }

    /// Random names (shared, mixed case, repeated pairs) and addresses,
    /// with real hashing and with every name colliding: every lookup, the
    /// entries and equality agree with maps of owned strings; equality
    /// ignores the order the names came in.
    #[test]
    fn answers_like_maps_of_names() {
        let mut rng = crate::testkit::Rng::new(0x853c_49e6_748f_ea9b);
        let mut rnd = move |n: u64| rng.below(n);
        for round in 0..200 {
            let n = rnd(60) as usize;
            let entries: Vec<(String, Ipv4Addr)> = (0..n)
                .map(|_| {
                    let name = ["pc", "Pc", "tv", "NAS", "nas", "a-long-name-0123456789"]
                        [rnd(6) as usize]
                        .to_string()
                        + &rnd(4).to_string();
                    (name, Ipv4Addr::new(10, 0, 0, rnd(16) as u8))
                })
                .collect();
            let t = if round % 2 == 0 {
                HostTable::new(entries.iter().map(|(n, a)| (n.as_str(), *a)))
            } else {
                HostTable {
                    collide: true,
                    ..HostTable::default()
                }
                .fill(entries.iter().map(|(n, a)| (n.as_str(), *a)))
            };
            let (by_name, by_addr) = oracle(&entries);
            assert_eq!(t.len(), by_name.len(), "round {round}");
            for (name, addrs) in &by_name {
                assert_eq!(t.addrs(name), addrs.as_slice());
                assert_eq!(t.addrs(&name.to_ascii_uppercase()), addrs.as_slice());
            }
            assert_eq!(t.addrs("nobody"), &[] as &[Ipv4Addr]);
            for i in 0..16 {
                let a = Ipv4Addr::new(10, 0, 0, i);
                assert_eq!(t.name(a), by_addr.get(&a).map(String::as_str));
            }
            let mut got: Vec<(String, Ipv4Addr)> =
                t.entries().map(|(n, a)| (n.to_string(), a)).collect();
            let mut want: Vec<(String, Ipv4Addr)> = by_name
                .iter()
                .flat_map(|(n, v)| v.iter().map(move |a| (n.clone(), *a)))
                .collect();
            got.sort();
            want.sort();
            assert_eq!(got, want);
            assert_eq!(t, t.clone());
            // The same pairs grouped by name (names in another order, each
            // name's pairs in their order): the same table.
            let mut regrouped = entries.clone();
            regrouped.sort_by_key(|(n, _)| n.to_ascii_lowercase());
            let u = HostTable::new(regrouped.iter().map(|(n, a)| (n.as_str(), *a)));
            let (_, by_addr_u) = oracle(&regrouped);
            assert_eq!(t == u, by_addr == by_addr_u, "round {round}");
            if n > 0 {
                let fewer = HostTable::new(entries[1..].iter().map(|(n, a)| (n.as_str(), *a)));
                let (bn, ba) = oracle(&entries[1..]);
                assert_eq!(t == fewer, bn == by_name && ba == by_addr);
            }
        }
    }

    #[test]
    fn fifty_thousand_names_fit_in_a_few_megabytes() {
        let t = HostTable::new(
            (0..50_000u32).map(|n| (format!("host-{n}"), Ipv4Addr::from(0x0ac9_0000 + n))),
        );
        assert_eq!(t.len(), 50_000);
        assert_eq!(
            t.addrs("HOST-12345"),
            &[Ipv4Addr::from(0x0ac9_0000 + 12_345)]
        );
        assert_eq!(t.name(Ipv4Addr::from(0x0ac9_0000 + 7)), Some("host-7"));
        let per_name = t.heap_bytes() / t.len();
        // Maps of owned strings took ~200 bytes a name.
        assert!(per_name <= 64, "{per_name} bytes per name");
    }
}
