//! VRRP codec: any bytes as a VRRP payload (with a valid TTL-255 header,
//! and also as a whole raw IPv4 datagram) → decode must never panic; an
//! accepted advert re-encodes in the form it came in and decodes back to
//! the same advert.

#![no_main]

use std::net::Ipv4Addr;

use hamasq::vrrp::driver::split_ip;
use hamasq::vrrp::packet::{IpHeader, MULTICAST_V4, decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = Ipv4Addr::new(10, 0, 0, 2);
    let hdr = IpHeader { src, dst: MULTICAST_V4, ttl: 255 };
    if let Ok(d) = decode(hdr, data) {
        let again = encode(&d.advert, d.checksum, src, MULTICAST_V4);
        let back = decode(hdr, &again).expect("our own encoding decodes");
        assert_eq!(back.advert, d.advert);
    }
    if let Some((ip, s, e)) = split_ip(data) {
        let _ = decode(ip, &data[s..e]);
    }
});
