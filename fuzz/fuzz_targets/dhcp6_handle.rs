//! Stateless DHCPv6: any bytes as a datagram to port 547, in every role →
//! the server never panics, and whatever it queues is a Reply carrying
//! the request's transaction ID and our Server Identifier, inside one
//! Relay-reply per relay the request came through.

#![no_main]

use std::net::SocketAddrV6;

use hamasq::dhcp6::core::{Inbound, Server, Settings, duid_ll, parse, unwrap_relays};
use hamasq::vrrp::Role;
use libfuzzer_sys::fuzz_target;

/// The Relay Message option of a Relay-reply (RFC 8415 §21.10).
fn relay_message(m: &[u8]) -> &[u8] {
    let mut rest = &m[34..];
    loop {
        let code = u16::from_be_bytes([rest[0], rest[1]]);
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if code == 9 {
            return &rest[4..4 + len];
        }
        rest = &rest[4 + len..];
    }
}

fuzz_target!(|data: &[u8]| {
    let settings = Settings {
        duid: duid_ll([2, 0, 0, 0, 0, 1]),
        dns_servers: vec!["fd00::1".parse().unwrap()],
        domains: vec!["lan".into()],
        refresh: 86_400,
    };
    let mut server = Server::new(settings.clone());
    let from = SocketAddrV6::new("fe80::2".parse().unwrap(), 546, 0, 3);
    for role in [Role::Standalone, Role::Active, Role::Backup, Role::Initialize] {
        let input = Inbound {
            data,
            from,
            ifindex: 3,
        };
        if server.handle_datagram(role, input).is_ok() {
            let t = server.poll_transmit().expect("an answer is queued");
            assert!(role.serves());
            // A relayed request gets Relay-replies (13), one per relay.
            let (hops, request) = unwrap_relays(data).expect("it was accepted");
            let mut reply = &t.data[..];
            for _ in &hops {
                assert_eq!(reply[0], 13);
                reply = relay_message(reply);
            }
            let reply = parse(reply).expect("our Reply parses");
            assert_eq!(reply.msg_type, 7);
            assert_eq!(reply.xid, request[1..4]);
            assert_eq!(reply.server_id.as_deref(), Some(&settings.duid[..]));
        }
    }
});
