//! Codec tests: byte vectors for every checksum form (worked by hand),
//! keepalived-format packets, each receive check, and a bounded property
//! test (seeded by `crate::testkit::Rng`).
//!
//! The keepalived packets below are built from the RFC layouts and
//! keepalived's `vrrp_build_vrrp_v2/v3` field choices with its sample
//! configuration (VRID 51, priority 150, VIPs 192.168.200.16-18,
//! `auth_pass 1111`). The byte capture from a real keepalived in the lab
//! arrives with the driver issue (tests/lab), where a real peer exists.

use std::net::Ipv4Addr;

use super::*;
use crate::testkit::{Rng, never_panics};

const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);

fn ip(src: Ipv4Addr) -> IpHeader {
    IpHeader {
        src,
        dst: MULTICAST_V4,
        ttl: 255,
    }
}

fn v3(vrid: u8, priority: u8, cs: u16, addrs: &[Ipv4Addr]) -> Advert {
    Advert {
        vrid,
        priority,
        interval: Interval::V3(Centis::new(cs).unwrap()),
        auth: Auth::None,
        addrs: addrs.to_vec(),
    }
}

const VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);

// ---------------------------------------------------------------------------
// Byte vectors, worked by hand.
//
// VRRPv3, VRID 51, priority 100, one address 192.168.1.1, 100 cs:
//
//   31 33 64 01 | 00 64 [cs cs] | c0 a8 01 01
//
// 16-bit words with the checksum as zero:
//   0x3133 + 0x6401 = 0x9534
//   0x9534 + 0x0064 = 0x9598
//   0x9598 + 0x0000 = 0x9598
//   0x9598 + 0xc0a8 = 0x15640 -> fold the carry: 0x5640 + 1 = 0x5641
//   0x5641 + 0x0101 = 0x5742
// Message-only (RFC 9568 §5.2.8): !0x5742 = 0xa8bd.
//
// Pseudo-header, src 192.168.1.10, dst 224.0.0.18, zero, 112, length 12:
//   c0a8 + 010a + e000 + 0012 + 0070 + 000c
//   0xc0a8 + 0x010a = 0xc1b2; + 0xe000 = 0x1a1b2 -> 0xa1b3
//   0xa1b3 + 0x0012 = 0xa1c5; + 0x0070 = 0xa235; + 0x000c = 0xa241
// Pseudo-header form (keepalived): 0xa241 + 0x5742 = 0xf983, !0xf983 = 0x067c.
//
// VRRPv2, same VRID, priority and address, Auth Type 0, 1 s, 8 zero bytes:
//   21 33 64 01 | 00 01 [cs cs] | c0 a8 01 01 | 00 x 8
//   0x2133 + 0x6401 = 0x8534; + 0x0001 = 0x8535; + 0xc0a8 = 0x145dd -> 0x45de
//   0x45de + 0x0101 = 0x46df; !0x46df = 0xb920.

const V3_RFC9568: [u8; 12] = [
    0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0xa8, 0xbd, 0xc0, 0xa8, 0x01, 0x01,
];
const V3_PSEUDO: [u8; 12] = [
    0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x06, 0x7c, 0xc0, 0xa8, 0x01, 0x01,
];
const V2_NONE: [u8; 20] = [
    0x21, 0x33, 0x64, 0x01, 0x00, 0x01, 0xb9, 0x20, 0xc0, 0xa8, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
];

#[test]
fn v3_message_only_checksum_by_hand() {
    let a = v3(51, 100, 100, &[VIP]);
    assert_eq!(
        encode(&a, ChecksumMode::Rfc9568, SRC, MULTICAST_V4),
        V3_RFC9568
    );
    let d = decode(ip(SRC), &V3_RFC9568).unwrap();
    assert_eq!(d.advert, a);
    assert_eq!(d.checksum, ChecksumMode::Rfc9568);
    // The message-only form does not depend on the addresses.
    let d = decode(ip(Ipv4Addr::new(10, 9, 9, 9)), &V3_RFC9568).unwrap();
    assert_eq!(d.checksum, ChecksumMode::Rfc9568);
}

#[test]
fn v3_pseudo_header_checksum_by_hand() {
    let a = v3(51, 100, 100, &[VIP]);
    assert_eq!(
        encode(&a, ChecksumMode::PseudoHeader, SRC, MULTICAST_V4),
        V3_PSEUDO
    );
    let d = decode(ip(SRC), &V3_PSEUDO).unwrap();
    assert_eq!(d.advert, a);
    assert_eq!(d.checksum, ChecksumMode::PseudoHeader);
    // The pseudo-header binds source and destination: another source, or a
    // unicast destination, no longer matches.
    assert_eq!(
        decode(ip(Ipv4Addr::new(192, 168, 1, 11)), &V3_PSEUDO),
        Err(RxError::ChecksumErr)
    );
    let unicast = IpHeader {
        dst: Ipv4Addr::new(192, 168, 1, 20),
        ..ip(SRC)
    };
    assert_eq!(decode(unicast, &V3_PSEUDO), Err(RxError::ChecksumErr));
}

#[test]
fn v2_checksum_by_hand() {
    let a = Advert {
        vrid: 51,
        priority: 100,
        interval: Interval::V2(Secs::new(1).unwrap()),
        auth: Auth::None,
        addrs: vec![VIP],
    };
    // VRRPv2 ignores the mode: always the message-only form.
    for mode in [ChecksumMode::Rfc9568, ChecksumMode::PseudoHeader] {
        assert_eq!(encode(&a, mode, SRC, MULTICAST_V4), V2_NONE);
    }
    let d = decode(ip(SRC), &V2_NONE).unwrap();
    assert_eq!(d.advert, a);
    assert_eq!(d.checksum, ChecksumMode::Rfc9568);
    // A v2 packet carrying a pseudo-header checksum is refused.
    let mut b = V2_NONE;
    let with_pseudo = !fold(
        sum16(&V2_NONE[..6], 0)
            + sum16(&V2_NONE[8..], 0)
            + pseudo_header_sum(SRC, MULTICAST_V4, 20),
    );
    b[6..8].copy_from_slice(&with_pseudo.to_be_bytes());
    assert_eq!(decode(ip(SRC), &b), Err(RxError::ChecksumErr));
}

/// keepalived 2.x, `vrrp_version 3` (default checksum), the sample
/// `keepalived.conf` instance: VRID 51, priority 150, advert_int 1, VIPs
/// 192.168.200.16-18, sent from 192.168.1.2 to 224.0.0.18.
///
/// Words: 3133 9603 0064 0000 c0a8 c810 c0a8 c811 c0a8 c812 = 0x561c5;
/// pseudo-header c0a8 0102 e000 0012 0070 0014 = 0x1a240; total 0x70405,
/// folded 0x040c, checksum !0x040c = 0xfbf3.
#[test]
fn keepalived_v3_pseudo_header_packet() {
    let pkt: [u8; 20] = [
        0x31, 0x33, 0x96, 0x03, 0x00, 0x64, 0xfb, 0xf3, 0xc0, 0xa8, 0xc8, 0x10, 0xc0, 0xa8, 0xc8,
        0x11, 0xc0, 0xa8, 0xc8, 0x12,
    ];
    let src = Ipv4Addr::new(192, 168, 1, 2);
    let d = decode(ip(src), &pkt).unwrap();
    assert_eq!(d.checksum, ChecksumMode::PseudoHeader);
    let vips = [
        Ipv4Addr::new(192, 168, 200, 16),
        Ipv4Addr::new(192, 168, 200, 17),
        Ipv4Addr::new(192, 168, 200, 18),
    ];
    assert_eq!(d.advert, v3(51, 150, 100, &vips));
    assert_eq!(
        encode(&d.advert, ChecksumMode::PseudoHeader, src, MULTICAST_V4),
        pkt
    );
    // Our RFC 9568 form of the same advert: 0x9e35 (keepalived accepts it
    // only with `v3_checksum_as_v2`).
    let ours = encode(&d.advert, ChecksumMode::Rfc9568, src, MULTICAST_V4);
    assert_eq!(ours[6..8], [0x9e, 0x35]);
    assert_eq!(ours[..6], pkt[..6]);
    assert_eq!(ours[8..], pkt[8..]);
}

/// keepalived, `vrrp_version 2` with the sample `auth_type PASS`,
/// `auth_pass 1111`: the password is copied after the addresses, zero
/// padded to 8 bytes, and covered by the checksum (0x4b36). Without
/// authentication the same advert checksums to 0xae98.
#[test]
fn keepalived_v2_packets() {
    let mut pkt: Vec<u8> = vec![
        0x21, 0x33, 0x96, 0x03, 0x01, 0x01, 0x4b, 0x36, 0xc0, 0xa8, 0xc8, 0x10, 0xc0, 0xa8, 0xc8,
        0x11, 0xc0, 0xa8, 0xc8, 0x12,
    ];
    pkt.extend_from_slice(b"1111\0\0\0\0");
    let src = Ipv4Addr::new(192, 168, 1, 2);
    let d = decode(ip(src), &pkt).unwrap();
    let pass = Auth::Pass(*b"1111\0\0\0\0");
    assert_eq!(d.advert.auth, pass);
    assert_eq!(d.advert.interval, Interval::V2(Secs::new(1).unwrap()));
    assert_eq!(d.advert.priority, 150);
    assert_eq!(d.advert.addrs.len(), 3);
    assert_eq!(
        encode(&d.advert, ChecksumMode::Rfc9568, src, MULTICAST_V4),
        pkt
    );

    let none = Advert {
        auth: Auth::None,
        ..d.advert.clone()
    };
    let b = encode(&none, ChecksumMode::Rfc9568, src, MULTICAST_V4);
    assert_eq!(b[4..8], [0x00, 0x01, 0xae, 0x98]);
    assert_eq!(b[20..], [0; 8]);
    assert_eq!(decode(ip(src), &b).unwrap().advert, none);
}

// ---------------------------------------------------------------------------
// Each wire check, with its counter.

/// Re-computes the message-only checksum after a test edits the bytes.
fn fix_checksum(b: &mut [u8]) {
    b[6] = 0;
    b[7] = 0;
    let c = !fold(sum16(b, 0));
    b[6..8].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn ttl_other_than_255_is_refused_first() {
    for ttl in [0, 1, 64, 128, 254] {
        let h = IpHeader { ttl, ..ip(SRC) };
        assert_eq!(decode(h, &V3_RFC9568), Err(RxError::IpTtlErr));
        // Even garbage counts as a TTL error: it is the first check.
        assert_eq!(decode(h, &[]), Err(RxError::IpTtlErr));
    }
    assert_eq!(RxError::IpTtlErr.counter_name(), "ip_ttl_err");
}

#[test]
fn version_type_and_length_checks() {
    for v in [0u8, 1, 4, 15] {
        let mut b = V3_RFC9568;
        b[0] = v << 4 | 1;
        fix_checksum(&mut b);
        assert_eq!(decode(ip(SRC), &b), Err(RxError::VersionErr), "version {v}");
    }
    for t in [0u8, 2, 15] {
        let mut b = V3_RFC9568;
        b[0] = 0x30 | t;
        fix_checksum(&mut b);
        assert_eq!(
            decode(ip(SRC), &b),
            Err(RxError::InvalidTypeRcvd),
            "type {t}"
        );
    }
    // Truncated anywhere, or one byte too many.
    for n in 0..V3_RFC9568.len() {
        assert_eq!(
            decode(ip(SRC), &V3_RFC9568[..n]),
            Err(RxError::PacketLenErr),
            "len {n}"
        );
    }
    let mut long = V3_RFC9568.to_vec();
    long.extend_from_slice(&[0, 0]);
    assert_eq!(decode(ip(SRC), &long), Err(RxError::PacketLenErr));
    // A v2 packet without its 8 bytes of authentication data.
    assert_eq!(decode(ip(SRC), &V2_NONE[..12]), Err(RxError::PacketLenErr));
    // Count says 2, one address present.
    let mut b = V3_RFC9568;
    b[3] = 2;
    assert_eq!(decode(ip(SRC), &b), Err(RxError::PacketLenErr));
}

#[test]
fn checksum_errors() {
    for i in 0..V3_RFC9568.len() {
        let mut b = V3_RFC9568;
        b[i] ^= 0x01;
        let r = decode(ip(SRC), &b);
        assert!(r.is_err(), "flip in byte {i} accepted: {r:?}");
    }
    let mut b = V3_RFC9568;
    b[11] ^= 0x80;
    assert_eq!(decode(ip(SRC), &b), Err(RxError::ChecksumErr));
}

#[test]
fn zero_count_and_zero_interval_are_refused() {
    // Errata 8299 and 8301.
    let mut b = vec![0x31, 0x33, 0x64, 0x00, 0x00, 0x64, 0, 0];
    fix_checksum(&mut b);
    assert_eq!(decode(ip(SRC), &b), Err(RxError::AddrListErr));
    let mut b = V3_RFC9568;
    b[4] = 0;
    b[5] = 0;
    fix_checksum(&mut b);
    assert_eq!(decode(ip(SRC), &b), Err(RxError::AdvertIntervalErr));
    let mut b = V2_NONE;
    b[5] = 0;
    fix_checksum(&mut b);
    assert_eq!(decode(ip(SRC), &b), Err(RxError::AdvertIntervalErr));
}

#[test]
fn reserved_bits_are_ignored() {
    // RFC 9568 §5.2.6: reserved bits set by a sender do not change the
    // interval, and we always send them as zero.
    let mut b = V3_RFC9568;
    b[4] |= 0xf0;
    fix_checksum(&mut b);
    let d = decode(ip(SRC), &b).unwrap();
    assert_eq!(d.advert.interval, Interval::V3(Centis::new(100).unwrap()));
    assert_eq!(
        encode(&d.advert, ChecksumMode::Rfc9568, SRC, MULTICAST_V4)[4],
        0
    );
}

#[test]
fn v2_auth_types() {
    let mut b = V2_NONE;
    b[4] = 3;
    fix_checksum(&mut b);
    assert_eq!(decode(ip(SRC), &b), Err(RxError::InvalidAuthtype));
    b[4] = 2;
    fix_checksum(&mut b);
    assert_eq!(decode(ip(SRC), &b).unwrap().advert.auth, Auth::Ah);
    // Type 0: the data octets are ignored on receipt (RFC 3768 §5.3.10).
    let mut b = V2_NONE;
    b[19] = 0x55;
    fix_checksum(&mut b);
    assert_eq!(decode(ip(SRC), &b).unwrap().advert.auth, Auth::None);
}

#[test]
fn units_refuse_out_of_range() {
    assert_eq!(Centis::new(0), None);
    assert_eq!(Centis::new(4096), None);
    assert_eq!(Centis::new(4095), Some(Centis::MAX));
    assert_eq!(Centis::new(1).unwrap().as_millis(), 10);
    assert_eq!(Secs::new(0), None);
    assert_eq!(Secs::new(255).unwrap().as_millis(), 255_000);
    assert_eq!(Interval::V3(Centis::DEFAULT).as_millis(), 1000);
    assert_eq!(Interval::V2(Secs::DEFAULT).version(), 2);
    assert_eq!(Interval::V3(Centis::DEFAULT).to_string(), "100cs");
}

#[test]
fn counter_names_are_unique_and_indexed() {
    for (i, e) in RxError::ALL.iter().enumerate() {
        assert_eq!(e.index(), i);
        for f in &RxError::ALL[i + 1..] {
            assert_ne!(e.counter_name(), f.counter_name());
        }
    }
}

#[test]
fn encode_caps_the_address_count() {
    let addrs: Vec<Ipv4Addr> = (0..300u32).map(Ipv4Addr::from).collect();
    let a = v3(1, 100, 100, &addrs);
    let b = encode(&a, ChecksumMode::Rfc9568, SRC, MULTICAST_V4);
    assert_eq!(b.len(), 8 + 4 * 255);
    assert_eq!(b[3], 255);
    assert_eq!(a.wire_len(), b.len());
    assert_eq!(decode(ip(SRC), &b).unwrap().advert.addrs.len(), 255);
}

// ---------------------------------------------------------------------------
// Bounded property test: the test kit's seeded PRNG, no crates.

fn random_advert(rng: &mut Rng) -> Advert {
    let max = if rng.below(4) == 0 { 255 } else { 4 };
    let count = 1 + rng.below(max) as usize;
    let addrs = (0..count)
        .map(|_| Ipv4Addr::from(rng.next_u64() as u32))
        .collect();
    let (interval, auth) = if rng.below(2) == 0 {
        let cs = 1 + rng.below(4095) as u16;
        (Interval::V3(Centis::new(cs).unwrap()), Auth::None)
    } else {
        let s = Secs::new(1 + rng.below(255) as u8).unwrap();
        let auth = match rng.below(3) {
            0 => Auth::None,
            1 => Auth::Pass(rng.next_u64().to_be_bytes()),
            _ => Auth::Ah,
        };
        (Interval::V2(s), auth)
    };
    Advert {
        vrid: rng.byte(),
        priority: rng.byte(),
        interval,
        auth,
        addrs,
    }
}

fn mutate(rng: &mut Rng, b: &mut Vec<u8>) {
    match rng.below(6) {
        // Bit flips anywhere.
        0 => {
            for _ in 0..1 + rng.below(4) {
                if !b.is_empty() {
                    let i = rng.below(b.len() as u64) as usize;
                    b[i] ^= 1 << rng.below(8);
                }
            }
        }
        // Truncation.
        1 => {
            let n = rng.below(b.len() as u64 + 1) as usize;
            b.truncate(n);
        }
        // A lying count, checksum fixed so the length check is reached.
        2 => {
            if b.len() >= 8 {
                b[3] = rng.byte();
                fix_checksum(b);
            }
        }
        // Random version/type nibble or interval, checksum fixed.
        3 => {
            if b.len() >= 8 {
                let i = [0usize, 4, 5][rng.below(3) as usize];
                b[i] = rng.byte();
                fix_checksum(b);
            }
        }
        // Appended noise.
        4 => {
            for _ in 0..rng.below(16) {
                b.push(rng.byte());
            }
        }
        // Pure noise of any length.
        _ => {
            let n = rng.below(64) as usize;
            *b = (0..n).map(|_| rng.byte()).collect();
        }
    }
}

#[test]
fn property_decode_never_panics_and_round_trips() {
    let mut accepted = 0;
    never_panics(
        0x5eed_0f7a_11c0_de42,
        20_000,
        |rng, _| {
            let a = random_advert(rng);
            let src = Ipv4Addr::from(rng.next_u64() as u32);
            let dst = if rng.below(2) == 0 {
                MULTICAST_V4
            } else {
                Ipv4Addr::from(rng.next_u64() as u32)
            };
            let mode = if rng.below(2) == 0 {
                ChecksumMode::Rfc9568
            } else {
                ChecksumMode::PseudoHeader
            };
            let b = encode(&a, mode, src, dst);
            let mut mutated = b.clone();
            for _ in 0..1 + rng.below(3) {
                mutate(rng, &mut mutated);
            }
            (a, IpHeader { src, dst, ttl: 255 }, mode, b, mutated)
        },
        |i, (a, h, mode, b, mutated)| {
            assert_eq!(b.len(), a.wire_len());

            // Round trip of a valid advert: same advert, and the v3 form
            // that was sent is the one reported (unless both forms happen
            // to match, which needs a pseudo-header summing to zero).
            let d = decode(*h, b).unwrap_or_else(|e| panic!("case {i}: {e} for {a:?}"));
            assert_eq!(&d.advert, a, "case {i}");
            if a.version() == 2 || *mode == ChecksumMode::Rfc9568 {
                assert_eq!(d.checksum, ChecksumMode::Rfc9568);
            }

            // Mutated: decode must not panic; whatever it accepts
            // re-encodes to a packet that decodes to the same advert.
            if let Ok(d) = decode(*h, mutated) {
                accepted += 1;
                let again = encode(&d.advert, d.checksum, h.src, h.dst);
                assert_eq!(decode(*h, &again).map(|x| x.advert), Ok(d.advert));
            }
        },
    );
    // Some mutations (count/interval rewritten with a fixed checksum) must
    // still be valid packets; the test is not only exercising rejections.
    assert!(accepted > 100, "only {accepted} mutated packets accepted");
}

/// Adverts captured from a real keepalived 2.2.7 (Debian bookworm) in a
/// lab namespace with `tcpdump -x` (vrid 51, priority 100, advert_int 1,
/// VIP 10.77.0.254, source 10.77.0.2): whole IPv4 datagrams.
const KEEPALIVED_V3: [u8; 32] = [
    0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x4b, 0x0a, 0x4d, 0x00,
    0x02, //
    0xe0, 0x00, 0x00, 0x12, 0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x74, 0x3e, 0x0a, 0x4d, 0x00, 0xfe,
];
const KEEPALIVED_V2: [u8; 40] = [
    0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x43, 0x0a, 0x4d, 0x00,
    0x02, //
    0xe0, 0x00, 0x00, 0x12, 0x21, 0x33, 0x64, 0x01, 0x00, 0x01, 0x6f, 0x7f, 0x0a, 0x4d, 0x00,
    0xfe, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn real_keepalived_captures_decode_and_re_encode_byte_for_byte() {
    let src = Ipv4Addr::new(10, 77, 0, 2);
    let vip = Ipv4Addr::new(10, 77, 0, 254);
    for (dgram, version) in [(&KEEPALIVED_V3[..], 3u8), (&KEEPALIVED_V2[..], 2)] {
        let (hdr, start, end) = crate::vrrp::driver::split_ip(dgram).unwrap();
        assert_eq!((hdr.src, hdr.dst, hdr.ttl), (src, MULTICAST_V4, 255));
        let d = decode(hdr, &dgram[start..end]).unwrap();
        assert_eq!(d.advert.vrid, 51);
        assert_eq!(d.advert.priority, 100);
        assert_eq!(d.advert.addrs, vec![vip]);
        assert_eq!(d.advert.interval.version(), version);
        assert_eq!(d.advert.interval.as_millis(), 1000);
        // keepalived's v3 default is the pseudo-header form.
        let mode = if version == 3 {
            ChecksumMode::PseudoHeader
        } else {
            ChecksumMode::Rfc9568
        };
        assert_eq!(d.checksum, mode);
        // What we would send for the same advert is the same bytes.
        assert_eq!(
            encode(&d.advert, mode, src, MULTICAST_V4),
            &dgram[start..end]
        );
    }
}
