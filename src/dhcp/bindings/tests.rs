//! The lease table's tests: one binding per client and per address, the
//! packed table against a map of owned leases, memory, and the bitmaps.

use super::*;
use crate::dhcp::binding::HwAddr;

pub(crate) fn key(n: u8) -> ClientKey {
    ClientKey::Hw(HwAddr::ether([2, 0, 0, 0, 0, n]))
}

pub(crate) fn lease(ip: [u8; 4], n: u8, expires: u64) -> Lease {
    Lease {
        ip: ip.into(),
        hw: HwAddr::ether([2, 0, 0, 0, 0, n]),
        client_id: None,
        hostname: None,
        expires: UnixTime(expires),
    }
}

/// RFC 2131 §4.4.1: a client counts its lease from its request, while
/// the stored end is in whole seconds rounded down; another client gets
/// the address only REUSE_GRACE_S after that end (found by the pair
/// simulation under pool pressure). Its own client is never kept out.
#[test]
fn an_ended_lease_keeps_its_address_from_others_for_the_grace() {
    let mut db = LeaseDb::default();
    db.insert(lease([10, 0, 0, 9], 1, 1_000));
    let ip = Ipv4Addr::new(10, 0, 0, 9);
    assert!(db.held_by_other(ip, &key(2), UnixTime(999)));
    assert!(db.held_by_other(ip, &key(2), UnixTime(1_000 + REUSE_GRACE_S - 1)));
    assert!(!db.held_by_other(ip, &key(2), UnixTime(1_000 + REUSE_GRACE_S)));
    assert!(!db.held_by_other(ip, &key(1), UnixTime(999)));
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
    let mut rng = crate::testkit::Rng::new(0x2545_f491_4f6c_dd1d);
    let mut rnd = move |n: u64| rng.below(n);
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
    let mut rng = crate::testkit::Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut rnd = move |n: u64| rng.below(n);
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
