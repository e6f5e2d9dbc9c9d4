//! DNS query handling and upstream-reply handling: the fuzzer's bytes are
//! a script of client queries (UDP and TCP), upstream replies (raw, and
//! mutations of a genuine answer to the last query sent upstream) and
//! clock steps, run through the sans-IO resolver (cache, local data,
//! forwarder). Nothing may panic, and every reply a client gets carries
//! that client's ID.

#![no_main]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use hamasq::clock::Mono;
use hamasq::dns::cache::CacheConfig;
use hamasq::dns::forward::{Action, ForwardConfig, Peer, Token, UpstreamSpec};
use hamasq::dns::local::{LocalData, LocalSources};
use hamasq::dns::message::Transport;
use hamasq::dns::resolver::{Options, Resolver};
use hamasq::dns::{parse_address, parse_host_record};
use libfuzzer_sys::fuzz_target;

/// Client `n` of this run: its peer (UDP port or TCP id `n`).
fn peer(n: u16, transport: Transport) -> Peer {
    match transport {
        Transport::Udp => Peer::Udp {
            client: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 9), n),
            local: Ipv4Addr::new(10, 0, 0, 1),
        },
        Transport::Tcp => Peer::Tcp {
            client: SocketAddr::new(Ipv4Addr::new(10, 0, 0, 9).into(), n),
            id: n as u64,
        },
    }
}

/// A reply to `query`, sent the way it came (`transport`).
fn check(query: &[u8], transport: Transport, reply: &[u8]) {
    assert!(reply.len() >= 12, "a reply has a header");
    assert_eq!(&reply[..2], &query[..2], "the client's ID");
    if transport == Transport::Udp {
        assert!(reply.len() <= 1232, "UDP replies fit 1232 bytes");
    }
}

fuzz_target!(|data: &[u8]| {
    let up: SocketAddr = "192.0.2.53:53".parse().unwrap();
    let local = LocalData::build(&LocalSources {
        host_records: vec![parse_host_record("router.lan,192.168.1.1").unwrap()],
        addresses: vec![parse_address("/ads.example/0.0.0.0").unwrap()],
        locals: vec![vec!["lan".into()]],
        domain: Some("lan".into()),
        bogus_priv: true,
        ..LocalSources::default()
    });
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut r = Resolver::new(
        Options {
            chaos_stats: true,
            stop_dns_rebind: true,
            domain_needed: true,
            ..Options::default()
        },
        CacheConfig {
            size: 64,
            neg_ttl: Some(30),
            stale_window: Some(Duration::from_secs(60)),
            ..CacheConfig::default()
        },
        Arc::new(local),
        ForwardConfig {
            upstreams: vec![UpstreamSpec::new(up)],
            ..ForwardConfig::default()
        },
        Box::new(move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }),
    );
    let mut now = Mono(1_000);
    let mut last_sent: Option<(Token, Vec<u8>)> = None;
    let mut out = Vec::new();
    // Every client asked so far, by peer: its query and transport.
    let mut clients: HashMap<Peer, (Vec<u8>, Transport)> = HashMap::new();
    let mut rest = data;
    // Client numbers are UDP ports and stay distinct.
    while rest.len() >= 2 && clients.len() < usize::from(u16::MAX) {
        let op = rest[0];
        let len = (rest[1] as usize).min(rest.len() - 2);
        let chunk = &rest[2..2 + len];
        rest = &rest[2 + len..];
        match op % 5 {
            0 | 1 => {
                let transport = if op % 5 == 0 {
                    Transport::Udp
                } else {
                    Transport::Tcp
                };
                let p = peer(clients.len() as u16, transport);
                clients.insert(p, (chunk.to_vec(), transport));
                let o = r.handle_query(now, chunk, p, &mut out);
                if matches!(o, hamasq::dns::resolver::Outcome::Reply(_)) {
                    check(chunk, transport, &out);
                }
            }
            2 => {
                if let Some((t, _)) = &last_sent {
                    r.handle_udp_reply(now, *t, up, chunk);
                }
            }
            3 => {
                // A genuine-looking answer: the query sent, QR set, with
                // the chunk's bytes appended as (probably broken) records.
                if let Some((t, q)) = &last_sent {
                    let mut reply = q.clone();
                    reply[2] |= 0x80;
                    if let Some(&n) = chunk.first() {
                        reply[7] = n % 4;
                    }
                    reply.extend_from_slice(chunk);
                    r.handle_udp_reply(now, *t, up, &reply);
                    r.handle_tcp_reply(now, *t, Ok(&reply));
                }
            }
            _ => {
                let step = chunk.first().copied().unwrap_or(1) as u64 * 50;
                now = now + Duration::from_millis(step);
                r.handle_timeout(now);
            }
        }
        while let Some(a) = r.poll_action() {
            match a {
                Action::SendUdp { token, packet, .. } | Action::SendTcp { token, packet, .. } => {
                    last_sent = Some((token, packet));
                }
                Action::Reply { to, packet, .. } => {
                    let (query, transport) = &clients[&to];
                    assert_eq!(to.transport(), *transport, "the way it came");
                    check(query, *transport, &packet);
                }
                _ => {}
            }
        }
    }
});
