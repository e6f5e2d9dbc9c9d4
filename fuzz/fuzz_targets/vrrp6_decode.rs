//! VRRPv3-over-IPv6 codec: any bytes as the payload of a hop-limit-255
//! packet to ff02::12 (and to a configured unicast address) → decode must
//! never panic; an accepted advert re-encodes and decodes back to itself.

#![no_main]

use std::net::Ipv6Addr;

use hamasq::vrrp::packet6::{Ip6Header, MULTICAST_V6, decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
    let me = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9);
    for (dst, unicast) in [(MULTICAST_V6, None), (me, Some(me))] {
        let hdr = Ip6Header {
            src,
            dst,
            hop_limit: 255,
        };
        if let Ok(a) = decode(hdr, unicast, data) {
            let again = encode(&a, src, dst);
            let back = decode(hdr, unicast, &again).expect("our own encoding decodes");
            assert_eq!(back, a);
        }
    }
});
