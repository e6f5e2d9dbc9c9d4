//! Unit tests of the wire layer: the malformed inputs of checklist item 20,
//! item 21's hostile PRL, item 22's boot fields, real-looking client
//! packets, the encoder's rules, dhcproto's shortcomings, and a bounded
//! property test.

use std::net::Ipv4Addr;

use dhcproto::v4::MessageType;

use super::check::check_encoding;
use super::*;
use crate::dhcp::HwAddr;
use crate::testkit::dhcp_wire::{finish, head, opt};
use crate::testkit::{Rng, junk, never_panics};

// ---------------------------------------------------------------------------
// Building requests by hand.

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// A DISCOVER with only option 53, plus `extra` options.
fn discover_with(extra: &[(u8, &[u8])]) -> Vec<u8> {
    let mut b = head(1, 0x1234_5678, 0, MAC);
    opt(&mut b, 53, &[1]);
    for (c, v) in extra {
        opt(&mut b, *c, v);
    }
    finish(b)
}

/// ISC dhclient 4.4 (Debian 12) DISCOVER, with a remembered lease: byte for
/// byte what `dhclient -v eth0` sends, padded to 300 bytes with zeros
/// (dhclient's BOOTP_MIN_LEN). Option order as dhclient writes it: 53, 50,
/// 12, 55 (its default `request` list from dhclient.conf), end.
fn dhclient_discover() -> Vec<u8> {
    #[rustfmt::skip]
    const FIXED: [u8; 44] = [
        0x01, 0x01, 0x06, 0x00,             // BOOTREQUEST, Ethernet, hlen 6, hops 0
        0x5a, 0x3c, 0x91, 0x0e,             // xid
        0x00, 0x03, 0x00, 0x00,             // secs 3, flags 0: dhclient takes unicast
        0, 0, 0, 0,  0, 0, 0, 0,            // ciaddr, yiaddr
        0, 0, 0, 0,  0, 0, 0, 0,            // siaddr, giaddr
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // chaddr
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0,       // chaddr padding
    ];
    #[rustfmt::skip]
    const OPTIONS: [u8; 37] = [
        0x63, 0x82, 0x53, 0x63,             // cookie
        0x35, 0x01, 0x01,                   // 53 DHCPDISCOVER
        0x32, 0x04, 192, 168, 1, 100,       // 50 requested 192.168.1.100
        0x0c, 0x06, b'd', b'e', b'b', b'i', b'a', b'n', // 12 "debian"
        0x37, 0x0d, 1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42, // 55
        0xff,                               // end
    ];
    let mut b = FIXED.to_vec();
    b.resize(HEADER_LEN, 0); // sname, file: empty
    b.extend_from_slice(&OPTIONS);
    b.resize(300, 0);
    b
}

/// BusyBox 1.36 udhcpc DISCOVER (`udhcpc -i eth0 -x hostname:openwrt`), as
/// `send_discover` builds it: 53, 61 (type 1 + MAC, its default client
/// id), 57 = 576 (IP_UDP_DHCP_SIZE), 55 (its default request list: subnet,
/// router, dns, hostname, domain, broadcast, ntp), 60 "udhcp 1.36.1",
/// 12 "openwrt", end. `-B` sets the broadcast flag.
fn udhcpc_discover(broadcast: bool) -> Vec<u8> {
    #[rustfmt::skip]
    const FIXED: [u8; 34] = [
        0x01, 0x01, 0x06, 0x00,             // BOOTREQUEST, Ethernet, hlen 6, hops 0
        0xde, 0xad, 0xbe, 0xef,             // xid
        0x00, 0x00, 0x00, 0x00,             // secs 0, flags (patched below)
        0, 0, 0, 0,  0, 0, 0, 0,            // ciaddr, yiaddr
        0, 0, 0, 0,  0, 0, 0, 0,            // siaddr, giaddr
        0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc, // chaddr (locally administered)
    ];
    #[rustfmt::skip]
    const OPTIONS: [u8; 53] = [
        0x63, 0x82, 0x53, 0x63,             // cookie
        0x35, 0x01, 0x01,                   // 53 DHCPDISCOVER
        0x3d, 0x07, 0x01, 0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc, // 61 client id
        0x39, 0x02, 0x02, 0x40,             // 57 max size 576
        0x37, 0x07, 1, 3, 6, 12, 15, 28, 42, // 55
        0x3c, 0x0c, b'u', b'd', b'h', b'c', b'p', b' ',
        b'1', b'.', b'3', b'6', b'.', b'1', // 60 vendor class
        0x0c, 0x07, b'o', b'p', b'e', b'n', b'w', b'r', b't', // 12
        0xff,                               // end
    ];
    let mut b = FIXED.to_vec();
    if broadcast {
        b[10] = 0x80;
    }
    b.resize(HEADER_LEN, 0);
    b.extend_from_slice(&OPTIONS);
    b.resize(300, 0);
    b
}

/// A REQUEST via a relay: 53, 50, 54, 61, 12, 55, 82 (circuit id "eth1",
/// remote id MAC), end. giaddr set, as a relay forwards it.
fn relayed_request() -> Vec<u8> {
    let mut b = head(1, 0xcafe_f00d, 0, MAC);
    b[3] = 1; // hops
    b[24..28].copy_from_slice(&[10, 0, 5, 1]); // giaddr
    opt(&mut b, 53, &[3]);
    opt(&mut b, 50, &[10, 0, 5, 77]);
    opt(&mut b, 54, &[10, 0, 0, 1]);
    opt(&mut b, 61, &[1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    opt(&mut b, 12, b"laptop");
    opt(&mut b, 55, &[1, 3, 6, 15, 51, 54, 121]);
    opt(
        &mut b,
        82,
        &[
            1, 4, b'e', b't', b'h', b'1', 2, 6, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
        ],
    );
    finish(b)
}

fn assert_roundtrip_ok(bytes: &[u8]) -> RoundTrip {
    match roundtrip_check(bytes) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

// ---------------------------------------------------------------------------
// Checklist item 20: malformed DHCP.

#[test]
fn short_packets_are_truncated() {
    for len in [0, 1, 235] {
        let b = vec![1u8; len];
        assert_eq!(Packet::decode(&b), Err(DecodeError::Truncated { len }));
        assert_roundtrip_ok(&b);
    }
}

#[test]
fn header_without_cookie_is_refused() {
    let full = discover_with(&[]);
    assert_eq!(Packet::decode(&full[..236]), Err(DecodeError::NoCookie));
    assert_eq!(Packet::decode(&full[..239]), Err(DecodeError::NoCookie));
    let mut wrong = full.clone();
    wrong[239] = 0x64;
    assert_eq!(Packet::decode(&wrong), Err(DecodeError::NoCookie));
    assert_eq!(DecodeError::NoCookie.reason(), "no_cookie");
    assert_roundtrip_ok(&wrong);
}

#[test]
fn options_without_end_are_accepted_when_complete() {
    let mut b = head(1, 7, 0, MAC);
    opt(&mut b, 53, &[1]);
    opt(&mut b, 12, b"host");
    let p = Packet::decode(&b).unwrap();
    assert!(!p.end_seen());
    assert_eq!(p.hostname(), Some(&b"host"[..]));
    assert!(Packet::decode(&discover_with(&[])).unwrap().end_seen());
    assert!(matches!(assert_roundtrip_ok(&b), RoundTrip::Checked { .. }));
}

#[test]
fn option_length_past_the_end_is_refused() {
    let mut b = head(1, 7, 0, MAC);
    opt(&mut b, 53, &[1]);
    b.extend_from_slice(&[12, 10, b'a', b'b']); // says 10, has 2
    let e = Packet::decode(&b).unwrap_err();
    assert_eq!(
        e,
        DecodeError::OptionPastEnd {
            code: 12,
            area: Area::Options
        }
    );
    assert_eq!(e.reason(), "option_past_end");
    assert!(e.to_string().contains("from the sender"));
    // A code as the very last byte: the length itself is missing.
    let mut b = head(1, 7, 0, MAC);
    opt(&mut b, 53, &[1]);
    b.push(61);
    assert!(matches!(
        Packet::decode(&b),
        Err(DecodeError::OptionPastEnd { code: 61, .. })
    ));
    assert_roundtrip_ok(&b);
}

#[test]
fn overload_with_garbage_in_sname_and_file_is_refused() {
    let mut b = head(1, 7, 0, MAC);
    b[44..236].fill(0xab); // option 0xab, length 0xab: past the field's end
    opt(&mut b, 53, &[1]);
    opt(&mut b, 52, &[3]);
    let b = finish(b);
    assert_eq!(
        Packet::decode(&b),
        Err(DecodeError::OptionPastEnd {
            code: 0xab,
            area: Area::File
        })
    );
    // Garbage only in sname: file is walked first and fine.
    let mut b2 = b.clone();
    b2[108..236].fill(0);
    assert_eq!(
        Packet::decode(&b2),
        Err(DecodeError::OptionPastEnd {
            code: 0xab,
            area: Area::Sname
        })
    );
    // Without option 52 the same bytes are just odd names.
    let mut plain = head(1, 7, 0, MAC);
    plain[44..236].fill(0xab);
    opt(&mut plain, 53, &[1]);
    let p = Packet::decode(&finish(plain)).unwrap();
    assert_eq!(p.file().map(<[u8]>::len), Some(128));
    assert_eq!(p.sname().map(<[u8]>::len), Some(64));
    assert_roundtrip_ok(&b);
    assert_roundtrip_ok(&b2);
}

#[test]
fn overload_reads_file_then_sname() {
    let mut b = head(1, 7, 0, MAC);
    // file: 12 "fromfile", end; sname: 15 "fromsname", end.
    b[108..118].copy_from_slice(&[12, 8, b'f', b'r', b'o', b'm', b'f', b'i', b'l', b'e']);
    b[118] = 255;
    b[44..55].copy_from_slice(&[15, 9, b'f', b'r', b'o', b'm', b's', b'n', b'a', b'm', b'e']);
    b[55] = 255;
    opt(&mut b, 53, &[1]);
    opt(&mut b, 52, &[3]);
    let b = finish(b);
    let p = Packet::decode(&b).unwrap();
    assert_eq!(p.overload(), 3);
    assert_eq!(p.hostname(), Some(&b"fromfile"[..]));
    assert_eq!(p.option(15), Some(&b"fromsname"[..]));
    assert_eq!(p.sname(), None);
    assert_eq!(p.file(), None);
    let codes: Vec<u8> = p.options().map(|(c, _)| c).collect();
    assert_eq!(codes, [53, 52, 12, 15]);
    // Overload 1: sname is a name again, not options.
    let mut one = b.clone();
    let at = one.iter().rposition(|&x| x == 52).unwrap();
    one[at + 2] = 1;
    let p = Packet::decode(&one).unwrap();
    assert_eq!(p.option(15), None);
    assert_eq!(p.sname().map(|s| s[0]), Some(15));
    // The echo does not carry 52 and its options fit the normal field.
    assert!(matches!(assert_roundtrip_ok(&b), RoundTrip::Checked { .. }));
}

#[test]
fn overload_must_be_one_byte_of_1_to_3() {
    for v in [&[0u8][..], &[4], &[1, 2], &[]] {
        let b = discover_with(&[(52, v)]);
        assert_eq!(Packet::decode(&b), Err(DecodeError::BadOverload), "{v:?}");
    }
    // Two instances of 52 concatenate to 2 bytes: refused too.
    let b = discover_with(&[(52, &[1]), (52, &[1])]);
    assert_eq!(Packet::decode(&b), Err(DecodeError::BadOverload));
}

#[test]
fn split_option_121_in_three_parts_is_joined() {
    // 0.0.0.0/0 via 10.0.0.1, 10.1.0.0/16 via 10.0.0.2, 192.168.7.0/24 via
    // 10.0.0.3 (RFC 3442 encoding), split at arbitrary points.
    let routes: Vec<u8> = [
        &[0, 10, 0, 0, 1][..],
        &[16, 10, 1, 10, 0, 0, 2],
        &[24, 192, 168, 7, 10, 0, 0, 3],
    ]
    .concat();
    let (a, rest) = routes.split_at(3);
    let (b2, c) = rest.split_at(7);
    // Adjacent parts.
    let b = discover_with(&[(121, a), (121, b2), (121, c)]);
    assert_eq!(Packet::decode(&b).unwrap().option(121), Some(&routes[..]));
    // Parts apart, with other options in between.
    let b = discover_with(&[(121, a), (12, b"x"), (121, b2), (55, &[1]), (121, c)]);
    let p = Packet::decode(&b).unwrap();
    assert_eq!(p.option(121), Some(&routes[..]));
    let codes: Vec<u8> = p.options().map(|(c, _)| c).collect();
    assert_eq!(codes, [53, 121, 12, 55]);
    // One part in each of options, file and sname (RFC 3396 order).
    let mut b = head(1, 9, 0, MAC);
    b[108] = 121;
    b[109] = b2.len() as u8;
    b[110..110 + b2.len()].copy_from_slice(b2);
    b[44] = 121;
    b[45] = c.len() as u8;
    b[46..46 + c.len()].copy_from_slice(c);
    opt(&mut b, 53, &[1]);
    opt(&mut b, 52, &[3]);
    opt(&mut b, 121, a);
    let b = finish(b);
    assert_eq!(Packet::decode(&b).unwrap().option(121), Some(&routes[..]));
    assert_roundtrip_ok(&b);
}

#[test]
fn hlen_over_16_is_refused_and_htype_0_is_kept() {
    for hlen in [17u8, 255] {
        let mut b = discover_with(&[]);
        b[2] = hlen;
        assert_eq!(Packet::decode(&b), Err(DecodeError::BadHlen { hlen }));
        assert_roundtrip_ok(&b);
    }
    let mut b = discover_with(&[]);
    b[2] = 16;
    assert_eq!(Packet::decode(&b).unwrap().hlen(), 16);
    let mut b = discover_with(&[]);
    b[1] = 0;
    let p = Packet::decode(&b).unwrap();
    assert_eq!(p.htype(), 0);
    assert_eq!(p.chaddr, HwAddr::new(0, &MAC).unwrap());
    assert_roundtrip_ok(&b);
}

#[test]
fn a_64k_datagram_is_handled() {
    // Valid header, then 64 KiB of options: one code in 255-byte instances.
    let mut b = head(1, 7, 0, MAC);
    opt(&mut b, 53, &[1]);
    while b.len() + 257 <= 65_535 {
        opt(&mut b, 224, &[0x5a; 255]);
    }
    let n = (b.len() - OPTIONS_START - 3) / 257;
    let p = Packet::decode(&b).unwrap();
    assert_eq!(p.option(224).map(<[u8]>::len), Some(n * 255));
    // The echo cannot carry 16 KiB of option 224 in 548 bytes: dropped.
    match assert_roundtrip_ok(&b) {
        RoundTrip::Checked { len, dropped } => {
            assert_eq!(dropped.iter().collect::<Vec<_>>(), [224]);
            assert_eq!(len, 300);
        }
        other => panic!("{other:?}"),
    }
    // And 64 KiB of noise, of pads, of a single runaway option.
    let noise: Vec<u8> = Rng::new(7).bytes(65_535);
    assert_roundtrip_ok(&noise);
    let mut pads = head(1, 7, 0, MAC);
    opt(&mut pads, 53, &[1]);
    pads.resize(65_535, 0);
    assert!(Packet::decode(&pads).is_ok());
    let mut runaway = discover_with(&[]);
    runaway.resize(65_535, 0xfe);
    runaway[299] = 0xfe; // overwrite end: option 254, length 254, ... ok
    assert_roundtrip_ok(&runaway);
}

#[test]
fn op_and_message_type_are_checked() {
    let mut b = discover_with(&[]);
    b[0] = 2;
    assert_eq!(
        Packet::decode(&b),
        Err(DecodeError::NotBootRequest { op: 2 })
    );
    assert_eq!(Packet::decode_any(&b).unwrap().op, 2);
    b[0] = 3;
    assert_eq!(Packet::decode_any(&b), Err(DecodeError::BadOp { op: 3 }));
    assert_eq!(
        Packet::decode(&b),
        Err(DecodeError::NotBootRequest { op: 3 })
    );

    let bootp = finish(head(1, 7, 0, MAC));
    assert_eq!(Packet::decode(&bootp), Err(DecodeError::MissingMessageType));
    // Exactly 240 bytes: header and cookie, no options at all.
    assert_eq!(
        Packet::decode(&head(1, 7, 0, MAC)),
        Err(DecodeError::MissingMessageType)
    );
    let b = finish({
        let mut b = head(1, 7, 0, MAC);
        opt(&mut b, 53, &[1, 1]);
        b
    });
    assert_eq!(
        Packet::decode(&b),
        Err(DecodeError::BadMessageType { len: 2 })
    );
    // Unknown values are the server's business.
    let b = finish({
        let mut b = head(1, 7, 0, MAC);
        opt(&mut b, 53, &[200]);
        b
    });
    assert_eq!(
        Packet::decode(&b).unwrap().msg_type(),
        MessageType::Unknown(200)
    );
}

#[test]
fn every_error_has_a_distinct_reason() {
    let all = [
        DecodeError::Truncated { len: 0 },
        DecodeError::NoCookie,
        DecodeError::NotBootRequest { op: 2 },
        DecodeError::BadOp { op: 3 },
        DecodeError::BadHlen { hlen: 17 },
        DecodeError::OptionPastEnd {
            code: 1,
            area: Area::Sname,
        },
        DecodeError::BadOverload,
        DecodeError::MissingMessageType,
        DecodeError::BadMessageType { len: 0 },
    ];
    let mut reasons: Vec<&str> = all.iter().map(DecodeError::reason).collect();
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(reasons.len(), all.len());
    for e in &all {
        assert!(
            e.to_string()
                .starts_with("malformed DHCP packet from the sender")
        );
    }
}

// ---------------------------------------------------------------------------
// Real-looking clients and the accessors.

#[test]
fn dhclient_discover_decodes() {
    let b = dhclient_discover();
    assert_eq!(b.len(), 300);
    let p = Packet::decode(&b).unwrap();
    assert_eq!(p.op, 1);
    assert_eq!(p.msg_type(), MessageType::Discover);
    assert_eq!(p.xid, 0x5a3c_910e);
    assert_eq!(p.secs, 3);
    assert!(!p.is_broadcast());
    assert_eq!(p.chaddr, HwAddr::ether(MAC));
    assert_eq!(p.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(p.requested_ip(), Some(Ipv4Addr::new(192, 168, 1, 100)));
    assert_eq!(p.hostname(), Some(&b"debian"[..]));
    assert_eq!(
        p.param_request_list(),
        Some(&[1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42][..])
    );
    assert_eq!(p.client_id(), None);
    assert_eq!(p.server_id(), None);
    assert_eq!(p.relay_agent_info(), None);
    assert_eq!(p.max_message_size(), 576);
    assert_eq!(p.max_reply_len(), DEFAULT_MAX_REPLY_LEN);
    assert_eq!((p.sname(), p.file()), (None, None));
    assert!(p.end_seen());
    assert_eq!(p.option_count(), 4);
    assert_roundtrip_ok(&b);
}

#[test]
fn udhcpc_discover_decodes() {
    let b = udhcpc_discover(false);
    let p = Packet::decode(&b).unwrap();
    assert_eq!(p.msg_type(), MessageType::Discover);
    assert_eq!(p.xid, 0xdead_beef);
    assert!(!p.is_broadcast());
    assert_eq!(p.chaddr.to_string(), "02:00:00:aa:bb:cc");
    assert_eq!(
        p.client_id(),
        Some(&[1, 0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc][..])
    );
    assert_eq!(p.max_message_size(), 576);
    assert_eq!(p.param_request_list(), Some(&[1, 3, 6, 12, 15, 28, 42][..]));
    assert_eq!(p.option(60), Some(&b"udhcp 1.36.1"[..]));
    assert_eq!(p.hostname(), Some(&b"openwrt"[..]));
    assert_eq!(p.requested_ip(), None);
    let codes: Vec<u8> = p.options().map(|(c, _)| c).collect();
    assert_eq!(codes, [53, 61, 57, 55, 60, 12]);
    let p = Packet::decode(&udhcpc_discover(true)).unwrap();
    assert!(p.is_broadcast());
    assert_eq!(p.flags, FLAG_BROADCAST);
    assert_roundtrip_ok(&b);
}

#[test]
fn relayed_request_decodes() {
    let b = relayed_request();
    let p = Packet::decode(&b).unwrap();
    assert_eq!(p.msg_type(), MessageType::Request);
    assert_eq!(p.hops, 1);
    assert_eq!(p.giaddr, Ipv4Addr::new(10, 0, 5, 1));
    assert_eq!(p.server_id(), Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(p.requested_ip(), Some(Ipv4Addr::new(10, 0, 5, 77)));
    assert_eq!(p.relay_agent_info().map(<[u8]>::len), Some(14));
    assert_roundtrip_ok(&b);
}

#[test]
fn max_message_size_is_clamped_to_576() {
    let p = |v: &[u8]| Packet::decode(&discover_with(&[(57, v)])).unwrap();
    assert_eq!(p(&300u16.to_be_bytes()).max_message_size(), 576);
    assert_eq!(p(&0u16.to_be_bytes()).max_message_size(), 576);
    assert_eq!(p(&576u16.to_be_bytes()).max_message_size(), 576);
    assert_eq!(p(&1500u16.to_be_bytes()).max_message_size(), 1500);
    assert_eq!(p(&1500u16.to_be_bytes()).max_reply_len(), 1472);
    assert_eq!(p(&u16::MAX.to_be_bytes()).max_reply_len(), 65_507);
    // Wrong lengths are ignored rather than half-read.
    assert_eq!(p(&[5, 220, 0]).max_message_size(), 576);
    assert_eq!(p(&[5]).max_message_size(), 576);
}

#[test]
fn broadcast_flag_is_the_top_bit_only() {
    let mut b = discover_with(&[]);
    b[10..12].copy_from_slice(&0x7fffu16.to_be_bytes());
    assert!(!Packet::decode(&b).unwrap().is_broadcast());
    b[10..12].copy_from_slice(&0x8000u16.to_be_bytes());
    assert!(Packet::decode(&b).unwrap().is_broadcast());
}

#[test]
fn typed_accessors_ignore_wrong_lengths() {
    let p = Packet::decode(&discover_with(&[(50, &[1, 2, 3]), (54, &[1, 2, 3, 4, 5])])).unwrap();
    assert_eq!(p.requested_ip(), None);
    assert_eq!(p.server_id(), None);
    assert_eq!(p.option(50), Some(&[1, 2, 3][..]));
    assert_eq!(p.option(0), None);
    assert_eq!(p.option(255), None);
    // Zero-length options exist (rapid commit, RFC 4039).
    let p = Packet::decode(&discover_with(&[(80, &[])])).unwrap();
    assert_eq!(p.option(80), Some(&[][..]));
}

#[test]
fn hostile_prl_of_checklist_item_21() {
    // PRL with 108, 0 and 255, repeated 255 times: 765 bytes in 3 instances.
    let prl: Vec<u8> = [108u8, 0, 255].repeat(255);
    let mut b = head(1, 7, FLAG_BROADCAST, MAC);
    opt(&mut b, 53, &[1]);
    for part in prl.chunks(255) {
        opt(&mut b, 55, part);
    }
    let b = finish(b);
    let p = Packet::decode(&b).unwrap();
    assert_eq!(p.param_request_list(), Some(&prl[..]));
    assert_roundtrip_ok(&b);
    // A naive server echoing requested codes gets an error, not a panic.
    let mut reply = Reply::for_request(&p);
    reply.options.push((53, vec![2]));
    for &c in p.param_request_list().unwrap().iter().take(3) {
        reply.options.push((c, vec![]));
    }
    assert_eq!(
        encode(&reply, 548),
        Err(EncodeError::ReservedCode { code: 0 })
    );
}

// ---------------------------------------------------------------------------
// Encoding.

fn offer() -> Reply {
    let req = Packet::decode(&dhclient_discover()).unwrap();
    let mut r = Reply::for_request(&req);
    r.yiaddr = Ipv4Addr::new(192, 168, 1, 100);
    r.siaddr = Ipv4Addr::new(192, 168, 1, 1);
    r.options = vec![
        (53, vec![2]),
        (54, vec![192, 168, 1, 1]),
        (51, 3600u32.to_be_bytes().to_vec()),
        (1, vec![255, 255, 255, 0]),
        (3, vec![192, 168, 1, 1]),
        (6, vec![192, 168, 1, 1]),
    ];
    r
}

#[test]
fn an_offer_is_laid_out_as_rfc_2131_says() {
    let r = offer();
    let (b, dropped) = encode(&r, DEFAULT_MAX_REPLY_LEN).unwrap();
    assert!(dropped.is_empty());
    assert_eq!(b.len(), 300);
    assert_eq!(&b[..4], &[2, 1, 6, 0]);
    assert_eq!(&b[4..8], &0x5a3c_910eu32.to_be_bytes());
    assert_eq!(&b[8..12], &[0, 0, 0, 0]); // secs 0, flags as the client's
    assert_eq!(&b[16..20], &[192, 168, 1, 100]);
    assert_eq!(&b[20..24], &[192, 168, 1, 1]);
    assert_eq!(&b[28..34], &MAC);
    assert_eq!(&b[236..240], &MAGIC_COOKIE);
    #[rustfmt::skip]
    let expect: [u8; 37] = [
        53, 1, 2,  54, 4, 192, 168, 1, 1,  51, 4, 0, 0, 0x0e, 0x10,
        1, 4, 255, 255, 255, 0,  3, 4, 192, 168, 1, 1,  6, 4, 192, 168, 1, 1,
        255, 0, 0, 0,
    ];
    assert_eq!(&b[240..277], &expect);
    assert!(b[277..].iter().all(|&x| x == 0));
    check_encoding(&r, DEFAULT_MAX_REPLY_LEN, &b, dropped).unwrap();
}

#[test]
fn long_values_are_split_and_empty_ones_kept() {
    let mut r = offer();
    let routes: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
    r.options.push((121, routes.clone()));
    r.options.push((80, vec![]));
    let (b, d) = encode(&r, 1500).unwrap();
    assert!(d.is_empty());
    // 121 as 255 + 255 + 90 in consecutive instances, then 80 with length 0.
    let at = 240 + 33;
    assert_eq!(&b[at..at + 2], &[121, 255]);
    assert_eq!(&b[at + 257..at + 259], &[121, 255]);
    assert_eq!(&b[at + 514..at + 516], &[121, 90]);
    assert_eq!(&b[at + 606..at + 609], &[80, 0, 255]);
    let back = Packet::decode_any(&b).unwrap();
    assert_eq!(back.option(121), Some(&routes[..]));
    assert_eq!(back.option(80), Some(&[][..]));
    check_encoding(&r, 1500, &b, d).unwrap();
}

#[test]
fn relay_agent_info_is_always_last() {
    let mut r = offer();
    r.options.insert(0, (82, vec![1, 2, b'x', b'y']));
    r.options.insert(2, (61, vec![1, 2, 3]));
    let (b, d) = encode(&r, DEFAULT_MAX_REPLY_LEN).unwrap();
    let back = Packet::decode_any(&b).unwrap();
    let codes: Vec<u8> = back.options().map(|(c, _)| c).collect();
    assert_eq!(codes, [53, 61, 54, 51, 1, 3, 6, 82]);
    let end = b.iter().rposition(|&x| x == 255).unwrap();
    assert_eq!(&b[end - 6..=end], &[82, 4, 1, 2, b'x', b'y', 255]);
    check_encoding(&r, DEFAULT_MAX_REPLY_LEN, &b, d).unwrap();
}

#[test]
fn options_are_dropped_from_the_end_to_fit() {
    let mut r = offer();
    // 548 - 241 = 307 bytes of room; the offer's options take 33.
    r.options.push((15, vec![b'a'; 200])); // 202: fits (235)
    r.options.push((119, vec![b'b'; 100])); // 102: does not (337)
    r.options.push((42, vec![1, 2, 3, 4])); // 6: dropped too, it comes later
    r.options.push((82, vec![9; 30])); // 32, mandatory: stays
    let (b, d) = encode(&r, DEFAULT_MAX_REPLY_LEN).unwrap();
    assert_eq!(d.iter().collect::<Vec<_>>(), [42, 119]);
    assert_eq!(d.len(), 2);
    assert!(b.len() <= DEFAULT_MAX_REPLY_LEN);
    let back = Packet::decode_any(&b).unwrap();
    assert!(back.option(15).is_some() && back.option(82).is_some());
    check_encoding(&r, DEFAULT_MAX_REPLY_LEN, &b, d).unwrap();

    // Exactly full: 307 bytes of options fit, 308 do not.
    let mut r = offer();
    r.options.push((15, vec![b'a'; 200]));
    r.options.push((43, vec![b'v'; 307 - 33 - 202 - 2]));
    let (b, d) = encode(&r, DEFAULT_MAX_REPLY_LEN).unwrap();
    assert!(d.is_empty());
    assert_eq!(b.len(), DEFAULT_MAX_REPLY_LEN);
    r.options.last_mut().unwrap().1.push(b'v');
    let (b, d) = encode(&r, DEFAULT_MAX_REPLY_LEN).unwrap();
    assert_eq!(d.iter().collect::<Vec<_>>(), [43]);
    assert_eq!(b.len(), OPTIONS_START + 33 + 202 + 1);
}

#[test]
fn mandatory_options_that_cannot_fit_are_an_error() {
    let mut r = offer();
    r.options.push((61, vec![7; 600]));
    let e = encode(&r, DEFAULT_MAX_REPLY_LEN).unwrap_err();
    assert!(matches!(
        e,
        EncodeError::MandatoryTooLarge { max_len: 548, .. }
    ));
    assert_eq!(e.reason(), "mandatory_too_large");
    // With the client's larger limit it fits.
    assert!(encode(&r, 1500).is_ok());
}

#[test]
fn caller_mistakes_are_errors() {
    for c in [0u8, 52, 255] {
        let mut r = offer();
        r.options.push((c, vec![1]));
        assert_eq!(encode(&r, 548), Err(EncodeError::ReservedCode { code: c }));
    }
    let mut r = offer();
    r.options.push((3, vec![1, 2, 3, 4]));
    assert_eq!(encode(&r, 548), Err(EncodeError::DuplicateCode { code: 3 }));
    assert_eq!(
        encode(&offer(), 299),
        Err(EncodeError::MaxLenTooSmall { max_len: 299 })
    );
    assert!(encode(&offer(), 300).is_ok());
    let e = EncodeError::DuplicateCode { code: 3 };
    assert!(e.to_string().starts_with("bug in hamasq"));
}

#[test]
fn encode_into_reuses_the_buffer() {
    let mut buf = Vec::with_capacity(1500);
    let cap = buf.capacity();
    encode_into(&offer(), 548, &mut buf).unwrap();
    let first = buf.clone();
    encode_into(&offer(), 548, &mut buf).unwrap();
    assert_eq!(buf, first);
    assert_eq!(buf.capacity(), cap);
    // An error leaves the buffer alone.
    let mut bad = offer();
    bad.options.push((0, vec![]));
    assert!(encode_into(&bad, 548, &mut buf).is_err());
    assert_eq!(buf, first);
}

#[test]
fn boot_fields_at_the_boundary() {
    // Checklist item 22: 128-byte file and 64-byte sname are encoded whole.
    let file: Vec<u8> = (0..128).map(|i| b'a' + (i % 26) as u8).collect();
    let sname: Vec<u8> = (0..64).map(|i| b'A' + (i % 26) as u8).collect();
    let mut r = offer();
    r.file = BootFile::new(&file).unwrap();
    r.sname = Sname::new(&sname).unwrap();
    let (b, d) = encode(&r, 548).unwrap();
    assert_eq!(&b[44..108], &sname[..]);
    assert_eq!(&b[108..236], &file[..]);
    let back = Packet::decode_any(&b).unwrap();
    assert_eq!(back.file(), Some(&file[..]));
    assert_eq!(back.sname(), Some(&sname[..]));
    check_encoding(&r, 548, &b, d).unwrap();
    // 129 and 65 are refused when the value is built, with a clear message.
    let e = BootFile::new(&[b'a'; 129]).unwrap_err();
    assert_eq!(
        e,
        FieldTooLong {
            field: "file",
            len: 129,
            max: 128
        }
    );
    assert!(e.to_string().starts_with("configuration error"));
    assert_eq!(Sname::new(&[b'a'; 65]).unwrap_err().field, "sname");
    // Short values are NUL-padded.
    let r2 = {
        let mut r = offer();
        r.file = BootFile::new(b"pxelinux.0").unwrap();
        r
    };
    let (b, _) = encode(&r2, 548).unwrap();
    assert_eq!(&b[108..119], b"pxelinux.0\0");
    assert!(b[118..236].iter().all(|&x| x == 0));
}

// ---------------------------------------------------------------------------
// dhcproto: why its decoders are not used on peer input, and a cross-check
// of our encodings against it.

#[test]
fn dhcproto_decoders_are_unsound_on_peer_input() {
    use dhcproto::v4::{Message, OptionCode, borrowed};
    use dhcproto::{Decodable, Decoder};
    use std::panic::{AssertUnwindSafe, catch_unwind};

    // hlen = 255: accepted, then chaddr() panics (owned and borrowed).
    let mut b = discover_with(&[]);
    b[2] = 255;
    let m = Message::decode(&mut Decoder::new(&b)).expect("dhcproto accepts hlen 255");
    assert!(catch_unwind(AssertUnwindSafe(|| m.chaddr().len())).is_err());
    let short = &b[..240];
    let m = borrowed::Message::new(short).unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| m.chaddr().len())).is_err());
    assert_eq!(
        Packet::decode(short),
        Err(DecodeError::BadHlen { hlen: 255 })
    );

    // No cookie check.
    let mut b = discover_with(&[]);
    b[236..240].copy_from_slice(&[1, 2, 3, 4]);
    assert!(Message::decode(&mut Decoder::new(&b)).is_ok());

    // A full 128-byte file name (no NUL) is lost.
    let mut b = discover_with(&[]);
    b[108..236].fill(b'f');
    let m = Message::decode(&mut Decoder::new(&b)).unwrap();
    assert_eq!(m.fname(), None);
    assert_eq!(Packet::decode(&b).unwrap().file(), Some(&[b'f'; 128][..]));

    // A non-UTF-8 host name before option 53 silently loses option 53.
    let mut b = head(1, 7, 0, MAC);
    opt(&mut b, 12, &[0xff, 0xfe]);
    opt(&mut b, 53, &[1]);
    let b = finish(b);
    let m = Message::decode(&mut Decoder::new(&b)).unwrap();
    assert_eq!(m.opts().msg_type(), None);
    assert_eq!(
        Packet::decode(&b).unwrap().msg_type(),
        MessageType::Discover
    );

    // Non-adjacent instances are not joined (RFC 3396).
    let b = discover_with(&[(224, b"ab"), (12, b"h"), (224, b"cd")]);
    let n224 = borrowed::Message::new(&b)
        .unwrap()
        .opts()
        .filter(|o| u8::from(o.code()) == 224)
        .count();
    assert_eq!(n224, 2);
    let m = Message::decode(&mut Decoder::new(&b)).unwrap();
    match m.opts().get(OptionCode::Unknown(224)) {
        Some(dhcproto::v4::DhcpOption::Unknown(u)) => assert_eq!(u.data(), b"cd"),
        other => panic!("{other:?}"),
    }
    assert_eq!(Packet::decode(&b).unwrap().option(224), Some(&b"abcd"[..]));

    // Overloaded options are not read.
    let mut b = head(1, 7, 0, MAC);
    b[108..113].copy_from_slice(&[12, 3, b'a', b'b', b'c']);
    b[113] = 255;
    opt(&mut b, 53, &[1]);
    opt(&mut b, 52, &[1]);
    let b = finish(b);
    let m = Message::decode(&mut Decoder::new(&b)).unwrap();
    assert!(m.opts().get(OptionCode::Hostname).is_none());
    assert_eq!(Packet::decode(&b).unwrap().hostname(), Some(&b"abc"[..]));

    // Length assertions on options 80, 94 and 152-155: a panic in debug
    // builds (tests, fuzzing), a misread in release. PXE clients send 94.
    let b = discover_with(&[(94, &[1])]);
    let decoded = catch_unwind(|| Message::decode(&mut Decoder::new(&b)).is_ok());
    assert_eq!(decoded.is_err(), cfg!(debug_assertions));
    assert!(Packet::decode(&b).is_ok());

    // An option running past the end is not an error.
    let mut b = head(1, 7, 0, MAC);
    opt(&mut b, 53, &[1]);
    b.extend_from_slice(&[224, 10, 1, 2]);
    assert!(Message::decode(&mut Decoder::new(&b)).is_ok());
    assert!(Packet::decode(&b).is_err());
}

/// Our encodings read the same through dhcproto's decoders. Its owned
/// decoder is only asked when the options are well-typed (`typed`): it
/// asserts on some lengths (see above).
fn cross_check_with_dhcproto(bytes: &[u8], typed: bool) {
    use dhcproto::v4::{Message, borrowed};
    use dhcproto::{Decodable, Decoder};
    let ours = Packet::decode_any(bytes).unwrap();
    let theirs = borrowed::Message::new(bytes).unwrap();
    let their_opts: Vec<(u8, Vec<u8>)> = theirs
        .opts()
        .map(|o| (u8::from(o.code()), o.data().to_vec()))
        .collect();
    let our_opts: Vec<(u8, Vec<u8>)> = ours.options().map(|(c, v)| (c, v.to_vec())).collect();
    assert_eq!(their_opts, our_opts);
    assert_eq!(theirs.xid(), ours.xid);
    assert_eq!(theirs.chaddr(), ours.chaddr.as_bytes());
    assert_eq!(theirs.yiaddr(), ours.yiaddr);
    if !typed {
        return;
    }
    let owned = Message::decode(&mut Decoder::new(bytes)).unwrap();
    assert_eq!(owned.opts().msg_type(), Some(ours.msg_type()));
    assert_eq!(u16::from(owned.flags()), ours.flags);
}

#[test]
fn our_encodings_read_the_same_in_dhcproto() {
    let mut r = offer();
    r.options.push((121, vec![3; 600]));
    r.options.push((82, vec![1, 1, 1]));
    r.flags = FLAG_BROADCAST;
    let (b, _) = encode(&r, 1500).unwrap();
    cross_check_with_dhcproto(&b, true);
    cross_check_with_dhcproto(&encode(&offer(), 548).unwrap().0, true);
}

// ---------------------------------------------------------------------------
// Bounded property test: the test kit's seeded PRNG, no crates.

/// Mutates `b` in one of several ways a broken or hostile client might.
fn mutate(rng: &mut Rng, b: &mut Vec<u8>) {
    match rng.index(8) {
        // Bit flips anywhere.
        0 => {
            for _ in 0..1 + rng.index(8) {
                if !b.is_empty() {
                    let i = rng.index(b.len());
                    b[i] ^= 1 << rng.index(8);
                }
            }
        }
        // Truncation.
        1 => {
            let n = rng.index(b.len() + 1);
            b.truncate(n);
        }
        // Corrupt a length byte: find an option start by walking.
        2 => {
            let mut starts = Vec::new();
            let mut i = OPTIONS_START;
            while i + 1 < b.len() && b[i] != 255 {
                if b[i] == 0 {
                    i += 1;
                    continue;
                }
                starts.push(i);
                i += 2 + usize::from(b[i + 1]);
            }
            if !starts.is_empty() {
                let at = starts[rng.index(starts.len())];
                b[at + 1] = rng.byte();
            }
        }
        // Insert option 52 and fill sname/file with options or noise.
        3 => {
            if b.len() >= OPTIONS_START {
                let ov = [1u8, 2, 3, rng.byte()][rng.index(4)];
                b.splice(OPTIONS_START..OPTIONS_START, [52, 1, ov]);
                let (lo, hi) = [(44, 108), (108, 236), (44, 236)][rng.index(3)];
                if rng.index(2) == 0 {
                    for x in &mut b[lo..hi] {
                        *x = rng.byte();
                    }
                } else {
                    let len = rng.index(hi - lo - 2);
                    let code = 1 + rng.index(253) as u8;
                    b[lo] = code;
                    b[lo + 1] = len as u8;
                    b[lo + 2 + len] = 255;
                }
            }
        }
        // Insert a long option split into several instances at random places.
        4 => {
            let code = [121u8, 55, 61, 82, 12, 224][rng.index(6)];
            let total = rng.index(900);
            let value = rng.bytes(total);
            for part in value.chunks(1 + rng.index(255)) {
                let lo = OPTIONS_START.min(b.len());
                let at = lo + rng.index(b.len() - lo + 1);
                let mut ins = vec![code, part.len() as u8];
                ins.extend_from_slice(part);
                b.splice(at..at, ins);
            }
        }
        // Random header bytes (op, htype, hlen, flags ...).
        5 => {
            let i = rng.index(HEADER_LEN.min(b.len()).max(1));
            if i < b.len() {
                b[i] = rng.byte();
            }
        }
        // Append noise after the end option or in place of it.
        6 => {
            if rng.index(2) == 0 {
                b.pop();
            }
            let n = rng.index(64);
            b.extend(rng.bytes(n));
        }
        // A small max message size with a big option: forces drops.
        _ => {
            let lo = OPTIONS_START.min(b.len());
            let mms = (rng.index(1600) as u16).to_be_bytes();
            b.splice(lo..lo, [57, 2, mms[0], mms[1]]);
            let at = lo + 4;
            let mut big = vec![43u8, 255];
            big.extend(rng.bytes(255));
            b.splice(at..at, big);
        }
    }
}

#[test]
fn property_decode_encode_decode_never_breaks() {
    let seeds = [
        dhclient_discover(),
        udhcpc_discover(false),
        udhcpc_discover(true),
        relayed_request(),
        discover_with(&[(121, &[24, 10, 1, 2, 10, 0, 0, 1]), (80, &[])]),
    ];
    let (mut checked, mut rejected, mut unencodable, mut with_drops) = (0, 0, 0, 0);
    const N: usize = 20_000;
    never_panics(
        0x9e37_79b9_7f4a_7c15,
        N as u64,
        |rng, i| {
            if i % 10 == 0 {
                // Pure noise, sometimes behind a valid header prefix.
                let mut b = junk(rng, 700);
                if i % 20 == 0 && b.len() >= OPTIONS_START + 3 {
                    b[0] = 1;
                    b[2] = 6;
                    b[236..240].copy_from_slice(&MAGIC_COOKIE);
                    b[240..243].copy_from_slice(&[53, 1, 1]);
                }
                b
            } else {
                let mut b = seeds[rng.index(seeds.len())].clone();
                for _ in 0..1 + rng.index(3) {
                    mutate(rng, &mut b);
                }
                b
            }
        },
        |i, input| match roundtrip_check(input) {
            Ok(RoundTrip::Checked { dropped, .. }) => {
                checked += 1;
                with_drops += usize::from(!dropped.is_empty());
            }
            Ok(RoundTrip::Rejected(e)) => {
                rejected += 1;
                assert!(!e.reason().is_empty());
            }
            Ok(RoundTrip::Unencodable(_)) => unencodable += 1,
            Err(e) => panic!("input #{i}: {e}"),
        },
    );
    eprintln!(
        "checked={checked} rejected={rejected} unencodable={unencodable} with_drops={with_drops}"
    );
    // Not vacuous: most mutated packets still decode and get echoed, and
    // every path is taken.
    assert!(checked > N / 3, "only {checked} of {N} checked");
    assert!(rejected > N / 10, "only {rejected} rejected");
    assert!(with_drops > 100, "only {with_drops} with drops");
    assert!(unencodable > 0, "no unencodable input");
}

#[test]
fn property_random_replies_fit_or_fail_cleanly() {
    let mut rng = Rng::new(42);
    let req = Packet::decode(&relayed_request()).unwrap();
    for _ in 0..5_000 {
        let mut r = Reply::for_request(&req);
        r.flags = rng.next_u64() as u16;
        r.yiaddr = Ipv4Addr::from(rng.next_u64() as u32);
        // Option 53 first, as every DHCP reply has it.
        r.options.push((53, vec![2]));
        let mut used = [false; 256];
        used[53] = true;
        for _ in 0..rng.index(30) {
            let c = 1 + rng.index(254) as u8;
            if c == 52 || used[usize::from(c)] {
                continue;
            }
            used[usize::from(c)] = true;
            let len = [0, 1, 4, rng.index(64), rng.index(300), rng.index(800)][rng.index(6)];
            r.options.push((c, rng.bytes(len)));
        }
        let max_len = 300 + rng.index(1500);
        match encode(&r, max_len) {
            Ok((b, d)) => {
                if let Err(e) = check_encoding(&r, max_len, &b, d) {
                    panic!("{e}\n{r:?}");
                }
                cross_check_with_dhcproto(&b, false);
            }
            Err(EncodeError::MandatoryTooLarge { need, .. }) => {
                let mandatory: usize = r
                    .options
                    .iter()
                    .filter(|(c, _)| is_mandatory(*c))
                    .map(|(_, v)| {
                        if v.is_empty() {
                            2
                        } else {
                            v.len() + 2 * v.len().div_ceil(255)
                        }
                    })
                    .sum();
                assert_eq!(need, OPTIONS_START + mandatory + 1);
                assert!(need > max_len);
            }
            Err(e) => panic!("{e}"),
        }
    }
}
