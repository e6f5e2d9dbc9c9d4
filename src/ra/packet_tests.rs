use super::*;
use crate::testkit::{Rng, mutate, never_panics};

/// `fe80::LAST`, a link-local address for the tests.
pub(crate) fn ll(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, last)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Produced independently at test-writing time by scapy 2.5.0
/// (`/usr/bin/python3`): `ICMPv6ND_RA(chlim=64, O=1, prf=0, routerlifetime=1800)
/// / ICMPv6NDOptSrcLLAddr(lladdr="02:00:5e:00:02:01") /
/// ICMPv6NDOptMTU(mtu=1500) / ICMPv6NDOptPrefixInfo(prefixlen=64, L=1, A=1,
/// validlifetime=86400, preferredlifetime=14400, prefix="2001:db8:1::") /
/// ICMPv6NDOptRDNSS(lifetime=1800, dns=["fd00::1","fe80::1"]) /
/// ICMPv6NDOptDNSSL(lifetime=1800, searchlist=["lan","example.org"])`,
/// the ICMPv6 part of the packet, with scapy's checksum (b208) zeroed
/// because the kernel fills it.
const SCAPY_RA: &str = "860000004040070800000000000000000101\
02005e00020105010000000005dc030440c000015180000038400000000020010db8\
0001000000000000000000001905000000000708fd00000000000000000000000000\
0001fe8000000000000000000000000000011f04000000000708036c616e00076578\
616d706c65036f726700000000000000";

/// scapy: `ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:02")`.
const SCAPY_RS: &str = "85007a2a000000000101020000000002";

pub(crate) fn sample() -> Ra {
    Ra {
        cur_hop_limit: 64,
        managed: false,
        other_config: true,
        router_lifetime: 1800,
        reachable_time: 0,
        retrans_timer: 0,
        source_lla: Some([0x02, 0, 0x5e, 0, 0x02, 0x01]),
        mtu: Some(1500),
        prefixes: vec![PrefixInfo {
            prefix: "2001:db8:1::".parse().unwrap(),
            len: 64,
            on_link: true,
            autonomous: true,
            valid: 86400,
            preferred: 14400,
        }],
        rdnss: vec![Rdnss {
            lifetime: 1800,
            servers: vec!["fd00::1".parse().unwrap(), ll(1)],
        }],
        dnssl: vec![Dnssl {
            lifetime: 1800,
            domains: vec!["lan".into(), "example.org".into()],
        }],
    }
}

#[test]
fn encodes_the_same_bytes_as_scapy() {
    assert_eq!(encode_ra(&sample()), hex(SCAPY_RA));
}

#[test]
fn decodes_scapy_bytes() {
    assert_eq!(decode_ra(ll(1), 255, &hex(SCAPY_RA)), Ok(sample()));
    let rs = decode_rs(ll(2), 255, &hex(SCAPY_RS)).unwrap();
    assert_eq!(rs.source_lla, Some(vec![2, 0, 0, 0, 0, 2]));
}

#[test]
fn rs_validity_checks_each_have_their_own_reason() {
    let good = hex(SCAPY_RS);
    assert!(decode_rs(ll(2), 255, &good).is_ok());
    // §6.1.1: hop limit 255.
    assert_eq!(decode_rs(ll(2), 64, &good), Err(NdError::HopLimit));
    // §6.1.1: code 0.
    let mut b = good.clone();
    b[1] = 1;
    assert_eq!(decode_rs(ll(2), 255, &b), Err(NdError::Code));
    // Not an RS at all.
    let mut b = good.clone();
    b[0] = TYPE_RA;
    assert_eq!(decode_rs(ll(2), 255, &b), Err(NdError::Type));
    // §6.1.1: ICMP length 8 or more.
    assert_eq!(decode_rs(ll(2), 255, &good[..7]), Err(NdError::TooShort));
    // §6.1.1: every option length > 0.
    let mut b = good.clone();
    b[9] = 0;
    assert_eq!(decode_rs(ll(2), 255, &b), Err(NdError::OptionZeroLength));
    // §4.6: an option past the end.
    let mut b = good.clone();
    b[9] = 2;
    assert_eq!(decode_rs(ll(2), 255, &b), Err(NdError::OptionTruncated));
    assert_eq!(
        decode_rs(ll(2), 255, &good[..9]),
        Err(NdError::OptionTruncated)
    );
    // §6.1.1: the unspecified source carries no link-layer address option.
    assert_eq!(
        decode_rs(Ipv6Addr::UNSPECIFIED, 255, &good),
        Err(NdError::UnspecifiedWithLla)
    );
    assert_eq!(
        decode_rs(Ipv6Addr::UNSPECIFIED, 255, &good[..8]),
        Ok(Rs { source_lla: None })
    );
    // Unknown options are skipped (§4.1).
    let mut b = good[..8].to_vec();
    b.extend_from_slice(&[200, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(decode_rs(ll(2), 255, &b), Ok(Rs { source_lla: None }));
}

#[test]
fn ra_validity_checks() {
    let good = hex(SCAPY_RA);
    assert_eq!(decode_ra(ll(1), 254, &good), Err(NdError::HopLimit));
    // §6.1.2: the source of an RA is link-local.
    assert_eq!(
        decode_ra("2001:db8::1".parse().unwrap(), 255, &good),
        Err(NdError::SourceNotLinkLocal)
    );
    assert_eq!(decode_ra(ll(1), 255, &good[..15]), Err(NdError::TooShort));
    let mut b = good.clone();
    b[1] = 3;
    assert_eq!(decode_ra(ll(1), 255, &b), Err(NdError::Code));
    // A prefix length past 128.
    let mut b = good.clone();
    b[34] = 129;
    assert_eq!(decode_ra(ll(1), 255, &b), Err(NdError::BadOption));
    // A DNSSL with junk after the padding started.
    let mut b = good.clone();
    let last = b.len() - 1;
    b[last] = 7;
    assert_eq!(decode_ra(ll(1), 255, &b), Err(NdError::BadOption));
}

#[test]
fn every_reason_has_a_distinct_counter() {
    let mut names: Vec<_> = NdError::ALL.iter().map(|e| e.counter_name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), NdError::ALL.len());
}

#[test]
fn dnssl_names_are_zero_padded_to_eight_bytes() {
    let ra = Ra {
        dnssl: vec![Dnssl {
            lifetime: 5,
            domains: vec!["a.b".into()],
        }],
        ..Ra::default()
    };
    let b = encode_ra(&ra);
    // 16 fixed + 8 (type, len, reserved, lifetime) + 8 (name 5 + 3 pad).
    assert_eq!(b.len(), 32);
    assert_eq!(&b[16..18], &[31, 2]);
    assert_eq!(&b[24..], &[1, b'a', 1, b'b', 0, 0, 0, 0]);
    // A name that cannot be a name stays out of the option.
    assert!(!is_encodable_name("a..b"));
    assert!(!is_encodable_name(&"x".repeat(64)));
    assert!(is_encodable_name("lan."));
}

fn random_name(rng: &mut Rng) -> String {
    let labels = rng.between(1, 4);
    (0..labels)
        .map(|_| {
            let n = rng.between(1, 12) as usize;
            (0..n)
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn random_addr(rng: &mut Rng) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&rng.bytes(16));
    Ipv6Addr::from(a)
}

fn random_ra(rng: &mut Rng) -> Ra {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&rng.bytes(6));
    Ra {
        cur_hop_limit: rng.byte(),
        managed: rng.chance(50),
        other_config: rng.chance(50),
        router_lifetime: rng.next_u64() as u16,
        reachable_time: rng.next_u64() as u32,
        retrans_timer: rng.next_u64() as u32,
        source_lla: rng.chance(70).then_some(mac),
        mtu: rng.chance(50).then(|| rng.next_u64() as u32),
        prefixes: (0..rng.below(4))
            .map(|_| {
                let valid = rng.next_u64() as u32;
                PrefixInfo {
                    prefix: random_addr(rng),
                    len: rng.below(129) as u8,
                    on_link: rng.chance(50),
                    autonomous: rng.chance(50),
                    valid,
                    preferred: valid.saturating_sub(rng.next_u64() as u32),
                }
            })
            .collect(),
        rdnss: (0..rng.below(3))
            .map(|_| Rdnss {
                lifetime: rng.next_u64() as u32,
                servers: (0..rng.between(1, 4)).map(|_| random_addr(rng)).collect(),
            })
            .collect(),
        dnssl: (0..rng.below(3))
            .map(|_| Dnssl {
                lifetime: rng.next_u64() as u32,
                domains: (0..rng.between(1, 4)).map(|_| random_name(rng)).collect(),
            })
            .collect(),
    }
}

#[test]
fn random_ras_round_trip() {
    let mut rng = Rng::new(0x5a_0001);
    for _ in 0..2000 {
        let ra = random_ra(&mut rng);
        let b = encode_ra(&ra);
        assert_eq!(b.len() % 8, 0, "RA length is 16 + options of 8-byte units");
        assert_eq!(decode_ra(ll(1), 255, &b), Ok(ra));
    }
}

#[test]
fn decoders_never_panic_on_junk_or_mutations() {
    let good_ra = encode_ra(&sample());
    let good_rs = hex(SCAPY_RS);
    never_panics(
        0x5a_0002,
        20_000,
        |rng, case| match case % 3 {
            0 => mutate(rng, &good_ra),
            1 => mutate(rng, &good_rs),
            _ => crate::testkit::junk(rng, 300),
        },
        |_, input| {
            let _ = decode_rs(ll(2), 255, input);
            let _ = decode_rs(Ipv6Addr::UNSPECIFIED, 255, input);
            if let Ok(ra) = decode_ra(ll(1), 255, input) {
                // What decodes re-encodes to something that decodes the
                // same, so the driver can log what it saw faithfully.
                let again = encode_ra(&ra);
                let back = decode_ra(ll(1), 255, &again);
                if ra.dnssl.iter().all(|d| {
                    !d.domains.is_empty() && d.domains.iter().all(|n| is_encodable_name(n))
                }) {
                    assert_eq!(back, Ok(ra));
                }
            }
        },
    );
}
