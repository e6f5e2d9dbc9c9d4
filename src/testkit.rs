//! The test kit: the pieces every test shares. One seeded PRNG, so a
//! failing seed reproduces the same run everywhere; one hostile-input loop
//! ([`never_panics`]) with its byte mutations; one DNS query builder
//! ([`dns_query`]); one DHCP request for the core ([`dhcp_req`]).
//!
//! Not part of the daemon: it is `#[doc(hidden)] pub` only so the
//! integration tests in `tests/` (which see the library as an outside
//! crate and cannot reach `cfg(test)` items) share the same code as the
//! unit tests instead of keeping their own copies. Nothing in the daemon
//! calls it, so the binary does not carry it.

use std::net::Ipv4Addr;

use crate::dhcp::HwAddr;
use crate::dhcp::server::{MsgType, Req};

/// xorshift64* (Vigna): small, fast, good enough for schedules and junk
/// inputs; seeded, so the same seed gives the same run every time.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Rng {
        // One splitmix64 step spreads small seeds (1, 2, 3...) apart.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)).max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `0..n` as an index (`n` > 0).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// One random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Runs `check` on `count` inputs that `make` draws from one generator
/// seeded with `seed` (it also gets the case number `0..count`). The
/// hostile-input property tests use it: a panic inside `check` is re-raised
/// after printing the seed, the case number and the input, so the failing
/// case can be replayed and minimised without rerunning the whole loop.
pub fn never_panics<T: std::fmt::Debug>(
    seed: u64,
    count: u64,
    mut make: impl FnMut(&mut Rng, u64) -> T,
    mut check: impl FnMut(u64, &T),
) {
    let mut rng = Rng::new(seed);
    for case in 0..count {
        let input = make(&mut rng, case);
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(case, &input)));
        if let Err(panic) = run {
            eprintln!("never_panics: seed {seed:#x}, case {case} of {count}, input {input:02x?}");
            std::panic::resume_unwind(panic);
        }
    }
}

/// `len` random bytes for a random `len` in `0..max_len`.
pub fn junk(rng: &mut Rng, max_len: usize) -> Vec<u8> {
    let len = rng.index(max_len.max(1));
    rng.bytes(len)
}

/// `good` with up to four bytes overwritten, then one time in four cut
/// short at a random point and one time in four extended with up to 40
/// junk bytes: inputs that get past the first checks of a parser.
pub fn mutate(rng: &mut Rng, good: &[u8]) -> Vec<u8> {
    let mut m = good.to_vec();
    for _ in 0..rng.below(5) {
        if !m.is_empty() {
            let at = rng.index(m.len());
            m[at] = rng.byte();
        }
    }
    match rng.below(4) {
        0 => m.truncate(rng.index(m.len() + 1)),
        1 => m.extend(junk(rng, 41)),
        _ => {}
    }
    m
}

/// A DHCP request as the core sees it (the driver's [`Req`]): `msg` from
/// `hw` with transaction `xid`, broadcast on interface 2 by a client with
/// no address, no relay and no options beyond option 53; callers override
/// what their case needs with struct update syntax.
pub fn dhcp_req(msg: MsgType, xid: u32, hw: HwAddr) -> Req {
    Req {
        msg,
        xid,
        flags: 0,
        ciaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        hw,
        client_id: None,
        requested: None,
        server_id: None,
        prl: None,
        max_len: 548,
        hostname: None,
        fqdn: None,
        relay_info: None,
        subnet_select: None,
        unicast: false,
        ifindex: Some(2),
    }
}

/// DHCP packets byte by byte (RFC 2131 §2 layout, RFC 2132 options), with
/// no validation so tests can build what a real client would not.
pub mod dhcp_wire {
    use crate::dhcp::wire::{MAGIC_COOKIE, OPTIONS_START};

    /// The 236-byte header and the magic cookie: `op`, Ethernet (htype 1,
    /// hlen 6), `xid`, `flags` and `chaddr` = `mac`; all else zero.
    pub fn head(op: u8, xid: u32, flags: u16, mac: [u8; 6]) -> Vec<u8> {
        let mut b = vec![0u8; OPTIONS_START];
        b[0] = op;
        b[1] = 1;
        b[2] = 6;
        b[4..8].copy_from_slice(&xid.to_be_bytes());
        b[10..12].copy_from_slice(&flags.to_be_bytes());
        b[28..34].copy_from_slice(&mac);
        b[236..240].copy_from_slice(&MAGIC_COOKIE);
        b
    }

    /// Appends one option instance (no splitting: at most 255 bytes).
    pub fn opt(b: &mut Vec<u8>, code: u8, value: &[u8]) {
        assert!(value.len() <= 255, "test bug: use several opt() calls");
        b.push(code);
        b.push(value.len() as u8);
        b.extend_from_slice(value);
    }

    /// The end option, then zero padding to the BOOTP minimum of 300
    /// bytes (RFC 1542 §2.1).
    pub fn finish(mut b: Vec<u8>) -> Vec<u8> {
        b.push(255);
        if b.len() < 300 {
            b.resize(300, 0);
        }
        b
    }
}

/// A DNS query as a client would send it, written byte by byte (no
/// validation, so over-long labels and names can be built on purpose):
/// one question of class IN, RD=1, no OPT unless [`DnsQuery::edns`].
#[derive(Clone, Debug)]
pub struct DnsQuery {
    id: u16,
    name: String,
    qtype: u16,
    checking_disabled: bool,
    /// Payload size, DO bit, EDNS version.
    edns: Option<(u16, bool, u8)>,
}

/// A query for `name` (dot-separated labels, written as given: case kept,
/// empty labels skipped) and `qtype` (a number or a hickory `RecordType`).
pub fn dns_query(id: u16, name: &str, qtype: impl Into<u16>) -> DnsQuery {
    DnsQuery {
        id,
        name: name.to_string(),
        qtype: qtype.into(),
        checking_disabled: false,
        edns: None,
    }
}

impl DnsQuery {
    /// Sets CD (RFC 4035 §3.2.2).
    pub fn cd(mut self) -> Self {
        self.checking_disabled = true;
        self
    }

    /// Adds an OPT record (RFC 6891 §6.1.2) with this UDP payload size and
    /// DO bit (RFC 3225 §3), version 0.
    pub fn edns(mut self, payload: u16, dnssec_ok: bool) -> Self {
        self.edns = Some((payload, dnssec_ok, 0));
        self
    }

    /// Sets the OPT's EDNS version (RFC 6891 §6.1.3); adds an OPT with
    /// payload 512 if there is none yet.
    pub fn edns_version(mut self, version: u8) -> Self {
        let (payload, dnssec_ok, _) = self.edns.unwrap_or((512, false, 0));
        self.edns = Some((payload, dnssec_ok, version));
        self
    }

    /// The wire bytes.
    pub fn bytes(&self) -> Vec<u8> {
        // RFC 1035 §4.1.1: RD=1 (0x0100), CD is bit 0x0010.
        let flags: u16 = 0x0100 | if self.checking_disabled { 0x0010 } else { 0 };
        let arcount = u16::from(self.edns.is_some());
        let mut q = Vec::with_capacity(32 + self.name.len());
        q.extend_from_slice(&self.id.to_be_bytes());
        q.extend_from_slice(&flags.to_be_bytes());
        q.extend_from_slice(&[0, 1, 0, 0, 0, 0]);
        q.extend_from_slice(&arcount.to_be_bytes());
        for label in self.name.split('.').filter(|l| !l.is_empty()) {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&self.qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        if let Some((payload, dnssec_ok, version)) = self.edns {
            // Root owner, type OPT (41), class = payload, TTL = extended
            // RCODE 0, version, DO in the top flag bit; no options.
            q.extend_from_slice(&[0, 0, 41]);
            q.extend_from_slice(&payload.to_be_bytes());
            q.extend_from_slice(&[0, version, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_run_and_seeds_differ() {
        let run = |s| {
            let mut r = Rng::new(s);
            (0..4).map(|_| r.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(1), run(2));
        assert_ne!(run(0)[0], 0);
        let mut r = Rng::new(3);
        assert!((0..1000).all(|_| (5..=9).contains(&r.between(5, 9))));
    }

    #[test]
    fn never_panics_sees_every_case_and_passes_a_panic_on() {
        let mut seen = Vec::new();
        never_panics(
            5,
            100,
            |rng, case| (case, rng.byte()),
            |case, &(c, _)| {
                assert_eq!(case, c);
                seen.push(case);
            },
        );
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        let caught = std::panic::catch_unwind(|| {
            never_panics(
                5,
                100,
                |rng, _| junk(rng, 8),
                |case, _| assert!(case != 42, "boom"),
            );
        });
        assert!(caught.is_err());
    }

    #[test]
    fn mutations_stay_close_to_the_original() {
        let good: Vec<u8> = (0..100).collect();
        let mut r = Rng::new(9);
        let (mut same, mut cut, mut longer) = (0, 0, 0);
        for _ in 0..1000 {
            let m = mutate(&mut r, &good);
            assert!(m.len() <= good.len() + 40);
            same += usize::from(m == good);
            cut += usize::from(m.len() < good.len());
            longer += usize::from(m.len() > good.len());
        }
        assert!(
            same < 300 && cut > 150 && longer > 150,
            "{same} {cut} {longer}"
        );
    }

    /// The byte-by-byte builder writes what hickory writes for the same
    /// query, so tests that moved from hickory's encoder to it send the
    /// same bytes as before.
    #[test]
    fn dns_query_matches_hickory() {
        use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
        use hickory_proto::rr::{Name, RecordType};
        for (cd, edns) in [
            (false, None),
            (true, None),
            (false, Some((4096, true, 0))),
            // hickory raises payloads under 512 to 512 when it encodes;
            // the builder writes them as given, so compare above 512.
            (true, Some((1232, false, 1))),
        ] {
            let mut m = Message::new(0xbeef, MessageType::Query, OpCode::Query);
            m.metadata.recursion_desired = true;
            m.metadata.checking_disabled = cd;
            let name = Name::from_ascii("WwW.Example.COM.").unwrap();
            m.add_query(Query::query(name, RecordType::AAAA));
            let mut ours = dns_query(0xbeef, "WwW.Example.COM.", RecordType::AAAA);
            if cd {
                ours = ours.cd();
            }
            if let Some((payload, dnssec_ok, version)) = edns {
                let mut e = Edns::new();
                e.set_max_payload(payload);
                e.set_dnssec_ok(dnssec_ok);
                e.set_version(version);
                m.set_edns(e);
                ours = ours.edns(payload, dnssec_ok).edns_version(version);
            }
            assert_eq!(ours.bytes(), m.to_vec().unwrap(), "cd {cd}, edns {edns:?}");
        }
    }
}
