//! Neighbour netlink messages: any bytes as a datagram from the
//! rtnetlink socket → parsing must never panic, and the watcher fed with
//! them must only ever publish global or ULA addresses.

#![no_main]

use hamasq::clock::Mono;
use hamasq::neigh::table::{Watcher, nameable};
use hamasq::neigh::wire::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse(data);
    let mut w = Watcher::new(Mono(1000), Vec::new());
    let _ = w.poll_transmit();
    // As a notification, and again split in two datagrams.
    w.handle_datagram(Mono(1000), data);
    let (a, b) = data.split_at(data.len() / 2);
    w.handle_datagram(Mono(2000), a);
    w.handle_datagram(Mono(3000), b);
    w.handle_timeout(Mono(4_000_000));
    while w.poll_event().is_some() {}
    if let Some(t) = w.poll_table() {
        assert!(t.pairs().all(|(_, a)| nameable(a)));
    }
});
