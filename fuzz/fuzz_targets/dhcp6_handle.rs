//! Stateless DHCPv6: any bytes as a datagram to port 547, in every role →
//! the server never panics, and whatever it queues is a Reply carrying
//! the request's transaction ID and our Server Identifier.

#![no_main]

use std::net::SocketAddrV6;

use hamasq::dhcp6::core::{Inbound, Server, Settings, duid_ll, parse};
use hamasq::vrrp::Role;
use libfuzzer_sys::fuzz_target;

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
            let reply = parse(&t.data).expect("our Reply parses");
            assert_eq!(reply.msg_type, 7);
            assert_eq!(reply.xid, data[1..4]);
            assert_eq!(reply.server_id.as_deref(), Some(&settings.duid[..]));
            assert!(role.serves());
        }
    }
});
