//! Bytes → decode → the server core (a stateful `Server` that lives across
//! runs, so sequences of requests are explored) → encode: the issue's
//! "decode → handle → encode" path, via the same `process_datagram` the
//! property test `random_datagrams_through_the_whole_path` uses.

#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Mutex, OnceLock};

use hamasq::clock::{Mono, UnixTime};
use hamasq::dhcp::adapt::process_datagram;
use hamasq::dhcp::server::{Now, Plan, Server};
use hamasq::dhcp::socket::Envelope;
use hamasq::dhcp::subnet::plan;
use hamasq::net::IfAddr;
use libfuzzer_sys::fuzz_target;

fn server() -> Server {
    let text = "[dhcp]\n\
        dhcp-range = set:lan,192.168.1.100,192.168.1.110,1h\n\
        dhcp-peer-range = 192.168.1.150,192.168.1.160\n\
        dhcp-range = 10.9.0.10,10.9.0.20,255.255.255.0,2h\n\
        dhcp-host = 02:00:00:00:00:01,192.168.1.10,printer\n\
        dhcp-option = option:dns-server,192.168.1.1\n\
        dhcp-option = option:classless-static-route,10.0.0.0/8,192.168.1.2,0.0.0.0/0,192.168.1.1\n\
        dhcp-lease-max = 8\n";
    let cfg = hamasq::config::parse_and_validate(std::path::Path::new("fuzz.conf"), text).unwrap();
    let d = cfg.dhcp.unwrap();
    let ifaces = vec![IfAddr { name: "eth0".into(), index: 2, addr: Ipv4Addr::new(192, 168, 1, 1), prefix: 24 }];
    let mut p = Plan::new(&d, plan(&d, &ifaces, std::path::Path::new("fuzz.conf")).unwrap());
    p.local_addrs = ifaces;
    Server::new(p, Vec::new())
}

static STATE: OnceLock<Mutex<(Server, u64)>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let mut g = STATE.get_or_init(|| Mutex::new((server(), 0))).lock().unwrap();
    g.1 += 1;
    let t = g.1;
    let now = Now { mono: Mono(t * 100), wall: UnixTime(1_800_000_000 + t / 10) };
    let env = Envelope { len: data.len(), src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68), ifindex: 2, dst: Ipv4Addr::BROADCAST };
    let mut out = Vec::new();
    let _ = process_datagram(&mut g.0, now, data, &env, &mut out);
});
