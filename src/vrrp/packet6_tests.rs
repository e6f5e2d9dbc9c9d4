//! IPv6 codec tests: one packet built byte by byte with its checksum summed
//! here independently of the codec, each receive check of RFC 9568 §7.1,
//! a bounded round-trip property and a hostile-input loop (seeded by
//! `crate::testkit::Rng`).
//!
//! The scapy vectors were generated once with Debian's python3-scapy 2.5.0
//! (`scapy.layers.vrrp.VRRPv3` over `IPv6`) and pasted here; scapy is not
//! needed to run the tests.

use std::net::Ipv6Addr;

use super::*;
use crate::testkit::{Rng, junk, mutate, never_panics};

/// The real router's link-local source address.
const SRC: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
const LL_VIP: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const GLOBAL_VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

fn ip(dst: Ipv6Addr, hop_limit: u8) -> Ip6Header {
    Ip6Header {
        src: SRC,
        dst,
        hop_limit,
    }
}

fn mcast() -> Ip6Header {
    ip(MULTICAST_V6, 255)
}

/// The RFC 1071 sum written out again for the tests: 32-bit words of the
/// pseudo-header (RFC 8200 §8.1) and the message in a u64, folded once at
/// the end, complemented.
fn test_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut all = Vec::new();
    all.extend_from_slice(&src.octets());
    all.extend_from_slice(&dst.octets());
    all.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    all.extend_from_slice(&[0, 0, 0, 112]);
    all.extend_from_slice(msg);
    if all.len() % 2 == 1 {
        all.push(0);
    }
    let mut sum: u64 = 0;
    for (i, byte) in all.iter().enumerate() {
        sum += u64::from(*byte) << if i % 2 == 0 { 8 } else { 0 };
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Rewrites the checksum of a tampered message so that only the tampering
/// is wrong.
fn fix_checksum(src: Ipv6Addr, dst: Ipv6Addr, b: &mut [u8]) {
    b[6] = 0;
    b[7] = 0;
    let c = test_checksum(src, dst, b);
    b[6..8].copy_from_slice(&c.to_be_bytes());
}

fn advert() -> Advert6 {
    Advert6 {
        vrid: 7,
        priority: 200,
        interval: Centis::new(100).unwrap(),
        addrs: vec![LL_VIP, GLOBAL_VIP],
    }
}

/// The known answer: VRID 7, priority 200, 1 s (100 cs), two addresses,
/// written out by hand from RFC 9568 §5.1.
fn hand_packet() -> Vec<u8> {
    let mut b = vec![
        0x31, // version 3, type 1
        7,    // VRID
        200,  // priority
        2,    // count
        0x00, 0x64, // reserved 0, interval 100 cs
        0, 0, // checksum, filled below
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // fe80::1
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // 2001:db8::1
    ];
    let c = test_checksum(SRC, MULTICAST_V6, &b);
    // The same sum done in Python (struct.unpack of the pseudo-header and
    // message as 16-bit words) when this test was written.
    assert_eq!(c, 0xdc25);
    b[6..8].copy_from_slice(&c.to_be_bytes());
    b
}

#[test]
fn known_answer_encodes_and_decodes() {
    let b = hand_packet();
    assert_eq!(b.len(), 40);
    assert_eq!(advert().wire_len(), 40);
    assert_eq!(encode(&advert(), SRC, MULTICAST_V6), b);
    assert_eq!(decode(mcast(), None, &b), Ok(advert()));
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Cross-check against scapy 2.5.0:
/// `raw(IPv6(src="fe80::2", dst=DST, hlim=255)/VRRPv3(vrid=.., priority=..,
/// ipcount=.., adv=.., addrlist=[..]))[40:]`.
#[test]
fn scapy_bytes_decode_and_encode_the_same() {
    let three = Advert6 {
        vrid: 51,
        priority: 150,
        interval: Centis::new(100).unwrap(),
        addrs: vec![
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x51),
            Ipv6Addr::new(0x2001, 0xdb8, 0x51, 0, 0, 0, 0, 1),
            Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x51),
        ],
    };
    let scapy = hex(concat!(
        "3133960300640ff6",
        "fe800000000000000000000000000051",
        "20010db8005100000000000000000001",
        "fd000000000000000000000000000051",
    ));
    assert_eq!(decode(mcast(), None, &scapy), Ok(three.clone()));
    assert_eq!(encode(&three, SRC, MULTICAST_V6), scapy);

    // Unicast to fe80::9, owner priority, the longest interval.
    let me = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9);
    let owner = Advert6 {
        vrid: 1,
        priority: 255,
        interval: Centis::MAX,
        addrs: vec![LL_VIP],
    };
    let scapy = hex("3101ff010fffc3e6fe800000000000000000000000000001");
    assert_eq!(decode(ip(me, 255), Some(me), &scapy), Ok(owner.clone()));
    assert_eq!(encode(&owner, SRC, me), scapy);
}

#[test]
fn checksum_covers_the_pseudo_header() {
    // The message alone does not sum to zero: the checksum is not the
    // IPv4 message-only form.
    let b = encode(&advert(), SRC, MULTICAST_V6);
    let mut message_only = b.clone();
    message_only[6] = 0;
    message_only[7] = 0;
    let mut sum: u32 = message_only
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    assert_ne!(u16::from_be_bytes([b[6], b[7]]), !(sum as u16));
    // The same bytes from another source fail: the source is summed.
    let other_src = Ip6Header {
        src: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 3),
        ..mcast()
    };
    assert_eq!(
        decode(other_src, None, &b),
        Err(Rx6Error::Packet(RxError::ChecksumErr))
    );
    // To a unicast destination, the destination is summed too.
    let peer = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9);
    let uni = encode(&advert(), SRC, peer);
    assert_ne!(uni, b);
    assert_eq!(decode(ip(peer, 255), Some(peer), &uni), Ok(advert()));
}

#[test]
fn hop_limit_must_be_255() {
    let b = hand_packet();
    for hl in [0, 1, 64, 254] {
        assert_eq!(
            decode(ip(MULTICAST_V6, hl), None, &b),
            Err(Rx6Error::Packet(RxError::IpTtlErr)),
            "hop limit {hl}"
        );
    }
    assert!(decode(ip(MULTICAST_V6, 255), None, &b).is_ok());
}

#[test]
fn destination_is_the_group_or_our_unicast_address() {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let me = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9);
    for dst in [all_nodes, me] {
        let mut b = hand_packet();
        fix_checksum(SRC, dst, &mut b);
        assert_eq!(decode(ip(dst, 255), None, &b), Err(Rx6Error::DstErr));
    }
    // Unicast to us is accepted only when configured, and only to us.
    let mut b = hand_packet();
    fix_checksum(SRC, me, &mut b);
    assert_eq!(decode(ip(me, 255), Some(me), &b), Ok(advert()));
    assert_eq!(
        decode(ip(me, 255), Some(GLOBAL_VIP), &b),
        Err(Rx6Error::DstErr)
    );
    // With unicast configured the group is still accepted.
    assert_eq!(decode(mcast(), Some(me), &hand_packet()), Ok(advert()));
}

#[test]
fn version_must_be_3() {
    for v in [0u8, 1, 2, 4, 15] {
        let mut b = hand_packet();
        b[0] = v << 4 | 1;
        fix_checksum(SRC, MULTICAST_V6, &mut b);
        assert_eq!(
            decode(mcast(), None, &b),
            Err(Rx6Error::Packet(RxError::VersionErr)),
            "version {v}"
        );
    }
}

#[test]
fn type_must_be_advertisement() {
    for t in [0u8, 2, 15] {
        let mut b = hand_packet();
        b[0] = 0x30 | t;
        fix_checksum(SRC, MULTICAST_V6, &mut b);
        assert_eq!(
            decode(mcast(), None, &b),
            Err(Rx6Error::Packet(RxError::InvalidTypeRcvd)),
            "type {t}"
        );
    }
}

#[test]
fn length_must_match_the_count_of_16_byte_addresses() {
    let len_err = Err(Rx6Error::Packet(RxError::PacketLenErr));
    // Shorter than the fixed fields.
    for n in 0..8 {
        assert_eq!(decode(mcast(), None, &hand_packet()[..n]), len_err);
    }
    // Count says 3, two addresses present; count says 1, two present.
    for count in [1u8, 3, 255] {
        let mut b = hand_packet();
        b[3] = count;
        fix_checksum(SRC, MULTICAST_V6, &mut b);
        assert_eq!(decode(mcast(), None, &b), len_err, "count {count}");
    }
    // IPv4-sized addresses: count 2, 8 + 2 * 4 bytes.
    let mut b = hand_packet();
    b.truncate(16);
    fix_checksum(SRC, MULTICAST_V6, &mut b);
    assert_eq!(decode(mcast(), None, &b), len_err);
    // Trailing bytes (checksum made right over them).
    let mut b = hand_packet();
    b.extend_from_slice(&[0, 0]);
    fix_checksum(SRC, MULTICAST_V6, &mut b);
    assert_eq!(decode(mcast(), None, &b), len_err);
}

#[test]
fn checksum_must_be_right() {
    let good = hand_packet();
    for at in 0..good.len() {
        let mut b = good.clone();
        b[at] ^= 0x01;
        let r = decode(mcast(), None, &b);
        // A flipped bit in the first bytes may fail an earlier check; it
        // must never pass.
        assert!(r.is_err(), "bit flip at {at} accepted");
        if at >= 4 {
            assert_eq!(r, Err(Rx6Error::Packet(RxError::ChecksumErr)), "at {at}");
        }
    }
}

#[test]
fn count_and_interval_of_zero_are_refused() {
    let mut b = hand_packet();
    b[3] = 0;
    b.truncate(8);
    fix_checksum(SRC, MULTICAST_V6, &mut b);
    assert_eq!(
        decode(mcast(), None, &b),
        Err(Rx6Error::Packet(RxError::AddrListErr))
    );
    let mut b = hand_packet();
    b[4] = 0xf0; // reserved bits set, interval 0
    b[5] = 0;
    fix_checksum(SRC, MULTICAST_V6, &mut b);
    assert_eq!(
        decode(mcast(), None, &b),
        Err(Rx6Error::Packet(RxError::AdvertIntervalErr))
    );
}

#[test]
fn reserved_bits_are_ignored_on_receipt() {
    let mut b = hand_packet();
    b[4] |= 0xf0;
    fix_checksum(SRC, MULTICAST_V6, &mut b);
    assert_eq!(decode(mcast(), None, &b), Ok(advert()));
}

#[test]
fn counter_names_are_distinct_and_shared_with_ipv4() {
    let mut all: Vec<Rx6Error> = RxError::ALL.iter().map(|&e| e.into()).collect();
    all.push(Rx6Error::DstErr);
    let mut names: Vec<&str> = all.iter().map(|e| e.counter_name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len());
    assert_eq!(Rx6Error::from(RxError::IpTtlErr).to_string(), "ip_ttl_err");
    assert_eq!(Rx6Error::DstErr.to_string(), "dst_err");
}

#[test]
fn first_vip_must_be_link_local() {
    assert!(first_vip_is_link_local(&[LL_VIP]));
    assert!(first_vip_is_link_local(&[LL_VIP, GLOBAL_VIP]));
    assert!(!first_vip_is_link_local(&[GLOBAL_VIP, LL_VIP]));
    assert!(!first_vip_is_link_local(&[]));
    // fe80::/10 covers febf::, not fec0:: (old site-local) or ff02::12.
    assert!(first_vip_is_link_local(&[Ipv6Addr::new(
        0xfebf, 0, 0, 0, 0, 0, 0, 1
    )]));
    assert!(!first_vip_is_link_local(&[Ipv6Addr::new(
        0xfec0, 0, 0, 0, 0, 0, 0, 1
    )]));
    assert!(!first_vip_is_link_local(&[MULTICAST_V6]));
    // A ULA is not link-local either.
    assert!(!first_vip_is_link_local(&[Ipv6Addr::new(
        0xfd00, 0, 0, 0, 0, 0, 0, 1
    )]));
}

fn random_addr(rng: &mut Rng) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&rng.bytes(16));
    Ipv6Addr::from(o)
}

fn random_advert(rng: &mut Rng) -> Advert6 {
    let count = if rng.chance(10) {
        255
    } else {
        rng.between(1, 8) as usize
    };
    Advert6 {
        vrid: rng.between(1, 255) as u8,
        priority: rng.byte(),
        interval: Centis::new(rng.between(1, 4095) as u16).unwrap(),
        addrs: (0..count).map(|_| random_addr(rng)).collect(),
    }
}

#[test]
fn round_trip_property() {
    let mut rng = Rng::new(0x5eed_0006);
    for case in 0..2000 {
        let a = random_advert(&mut rng);
        let src = random_addr(&mut rng);
        let (dst, uni) = if rng.chance(50) {
            (MULTICAST_V6, None)
        } else {
            let d = random_addr(&mut rng);
            (d, Some(d))
        };
        let b = encode(&a, src, dst);
        assert_eq!(b.len(), a.wire_len(), "case {case}");
        assert_eq!(
            u16::from_be_bytes([b[6], b[7]]),
            {
                let mut z = b.clone();
                z[6] = 0;
                z[7] = 0;
                test_checksum(src, dst, &z)
            },
            "case {case}"
        );
        let hdr = Ip6Header {
            src,
            dst,
            hop_limit: 255,
        };
        assert_eq!(decode(hdr, uni, &b), Ok(a), "case {case}");
    }
}

#[test]
fn more_than_255_addresses_are_cut_to_the_count_octet() {
    let mut a = advert();
    a.addrs = (0..300u16)
        .map(|i| Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, i))
        .collect();
    let b = encode(&a, SRC, MULTICAST_V6);
    assert_eq!(b.len(), 8 + 16 * 255);
    let d = decode(mcast(), None, &b).unwrap();
    assert_eq!(d.addrs, a.addrs[..255]);
}

#[test]
fn decode_never_panics_on_hostile_bytes() {
    let good = hand_packet();
    never_panics(
        0x7672_7036,
        20_000,
        |rng, case| {
            let bytes = if case % 2 == 0 {
                junk(rng, 64)
            } else {
                mutate(rng, &good)
            };
            let hop_limit = if rng.chance(90) { 255 } else { rng.byte() };
            (bytes, hop_limit)
        },
        |_, (bytes, hop_limit)| {
            let hdr = ip(MULTICAST_V6, *hop_limit);
            if let Ok(a) = decode(hdr, None, bytes) {
                // Whatever passed re-encodes to bytes that decode the same.
                let again = encode(&a, SRC, MULTICAST_V6);
                assert_eq!(decode(hdr, None, &again), Ok(a));
            }
        },
    );
}
