//! Router Solicitation / Advertisement codec (RFC 4861 §4.1, §4.2, RFC
//! 8106): any bytes as an ICMPv6 message → both decoders must never panic;
//! an accepted RA whose DNSSL names are encodable re-encodes and decodes
//! back to itself; the scheduler takes any bytes as an RS or RA.

#![no_main]

use std::net::Ipv6Addr;

use hamasq::clock::Mono;
use hamasq::ra::core::{Scheduler, Timing};
use hamasq::ra::packet::{Ra, decode_ra, decode_rs, encode_ra, is_encodable_name};
use hamasq::vrrp::Role;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
    let _ = decode_rs(src, 255, data);
    let _ = decode_rs(Ipv6Addr::UNSPECIFIED, 255, data);
    if let Ok(ra) = decode_ra(src, 255, data) {
        let clean = ra
            .dnssl
            .iter()
            .all(|d| !d.domains.is_empty() && d.domains.iter().all(|n| is_encodable_name(n)));
        if clean {
            let again = encode_ra(&ra);
            assert_eq!(decode_ra(src, 255, &again).as_ref(), Ok(&ra));
        }
    }
    let timing = Timing {
        min_interval: std::time::Duration::from_secs(200),
        max_interval: std::time::Duration::from_secs(600),
    };
    let mut s = Scheduler::new(timing, Ra::default(), Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), 1);
    s.set_role(Mono(0), Role::Standalone);
    let _ = s.handle_rs(Mono(1), src, 255, data);
    let _ = s.handle_ra(Mono(2), src, 255, data);
    if let Some(at) = s.poll_timeout() {
        s.handle_timeout(at);
    }
    while s.poll_transmit().is_some() {}
});
