//! Timeline tests of the DHCPv4 core: virtual time, hand-built plans, one
//! test per RFC 2131 §4.3 case or rule, each asserting the exact outcome
//! (message, yiaddr, destination, option bytes, store changes, silence).
//!
//! The plan: a local subnet 192.168.1.0/24 on ifindex 2 where we are .1,
//! our range .100-.149 (tag `lan`, 1 h), the peer's range .150-.199; and a
//! relayed subnet 10.9.0.0/24 (range .10-.200, 2 h) behind relay 10.9.0.1.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::{Mono, UnixTime};
use crate::dhcp::binding::{ClientKey, HwAddr, Lease};
use crate::dhcp::bindings::packed::PackedLease;
use crate::dhcp::config::{Boot, LeaseTime, parse_host};
use crate::dhcp::leases::Change;
use crate::dhcp::options::parse_dhcp_option;
use crate::dhcp::subnet::{Range, Reservations, Span, Subnet};
use crate::net::IfAddr;
use crate::testkit::{Rng, dhcp_req};
use crate::vrrp::Role;

// ---- fixtures ---------------------------------------------------------------

const WALL0: u64 = 1_750_000_000;
const ME: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const RELAY: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const ZERO: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
const MASK24: [u8; 4] = [255, 255, 255, 0];
const LAN_BCAST: [u8; 4] = [192, 168, 1, 255];

fn lan(d: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 1, d)
}

fn net9(d: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 9, 0, d)
}

/// Virtual time `ms` after the start; the wall clock runs in step.
fn at(ms: u64) -> Now {
    Now {
        mono: Mono(ms),
        wall: UnixTime(WALL0 + ms / 1000),
    }
}

fn secs(s: u64) -> Now {
    at(s * 1000)
}

fn in_pool(ip: Ipv4Addr, lo: u8, hi: u8) -> bool {
    ip.octets()[..3] == [192, 168, 1] && (lo..=hi).contains(&ip.octets()[3])
}

fn local_subnet(pool: (u8, u8)) -> Subnet {
    Subnet {
        network: lan(0),
        prefix: 24,
        local: Some(IfAddr {
            name: "eth0".into(),
            index: 2,
            addr: ME,
            prefix: 24,
        }),
        ranges: vec![Range {
            span: Span::new(lan(pool.0), lan(pool.1)),
            lease: LeaseTime::Secs(3600),
            tag: Some("lan".into()),
        }],
        peer: vec![Span::new(lan(150), lan(199))],
        vip: None,
        vrrp: None,
    }
}

fn relayed_subnet() -> Subnet {
    Subnet {
        network: net9(0),
        prefix: 24,
        local: None,
        ranges: vec![Range {
            span: Span::new(net9(10), net9(200)),
            lease: LeaseTime::Secs(7200),
            tag: None,
        }],
        peer: Vec::new(),
        vip: None,
        vrrp: None,
    }
}

fn plan_with(pool: (u8, u8), hosts: &[&str], options: &[&str]) -> Plan {
    Plan {
        subnets: vec![local_subnet(pool), relayed_subnet()],
        reservations: Reservations::new(hosts.iter().map(|h| parse_host(h).unwrap()).collect()),
        options: options
            .iter()
            .map(|o| parse_dhcp_option(o, false).unwrap())
            .collect(),
        boot: None,
        lease_max: 1000,
        authoritative: false,
        decline_time: Duration::from_secs(600),
        offer_time: Duration::from_secs(30),
        server_id: None,
        local_addrs: Vec::new(),
        dns_server: false,
        domain: None,
        mclt: None,
    }
}

fn plan() -> Plan {
    plan_with((100, 149), &[], &[])
}

fn server(p: Plan) -> Server {
    Server::new(p, Vec::new())
}

/// Client `n`'s hardware address: 02:00 followed by `n` big-endian.
fn mac(n: u32) -> HwAddr {
    let b = n.to_be_bytes();
    HwAddr::ether([2, 0, b[0], b[1], b[2], b[3]])
}

fn req(msg: MsgType, n: u32) -> Req {
    dhcp_req(msg, 0x5eed_0000 ^ n, mac(n))
}

fn discover(n: u32) -> Req {
    req(MsgType::Discover, n)
}

fn selecting(n: u32, ip: Ipv4Addr) -> Req {
    Req {
        requested: Some(ip),
        server_id: Some(ME),
        ..req(MsgType::Request, n)
    }
}

fn init_reboot(n: u32, ip: Ipv4Addr) -> Req {
    Req {
        requested: Some(ip),
        ..req(MsgType::Request, n)
    }
}

fn renewing(n: u32, ip: Ipv4Addr) -> Req {
    Req {
        ciaddr: ip,
        unicast: true,
        ..req(MsgType::Request, n)
    }
}

fn rebinding(n: u32, ip: Ipv4Addr) -> Req {
    Req {
        ciaddr: ip,
        ..req(MsgType::Request, n)
    }
}

fn decline(n: u32, ip: Ipv4Addr) -> Req {
    Req {
        requested: Some(ip),
        server_id: Some(ME),
        ..req(MsgType::Decline, n)
    }
}

fn release(n: u32, ip: Ipv4Addr) -> Req {
    Req {
        ciaddr: ip,
        server_id: Some(ME),
        unicast: true,
        ..req(MsgType::Release, n)
    }
}

fn inform(n: u32, ip: Ipv4Addr) -> Req {
    Req {
        ciaddr: ip,
        unicast: true,
        ..req(MsgType::Inform, n)
    }
}

fn lease(ip: Ipv4Addr, n: u32, name: Option<&str>, expires: u64) -> Lease {
    Lease {
        ip,
        hw: mac(n),
        client_id: None,
        hostname: name.map(str::to_string),
        expires: UnixTime(expires),
    }
}

fn be32(v: u32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

fn opt(a: &Answer, code: u8) -> Option<&[u8]> {
    a.options
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, d)| d.as_slice())
}

fn codes(a: &Answer) -> Vec<u8> {
    a.options.iter().map(|(c, _)| *c).collect()
}

#[track_caller]
fn reply(o: Outcome) -> Answer {
    match o {
        Outcome::Reply(a) => a,
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[track_caller]
fn offer(o: Outcome) -> Answer {
    let a = reply(o);
    assert_eq!(a.msg, MsgType::Offer);
    assert_eq!(opt(&a, 53), Some(&[2][..]));
    assert!(
        a.changes.is_empty(),
        "an OFFER is never stored: {:?}",
        a.changes
    );
    assert_eq!(a.ciaddr, ZERO);
    a
}

#[track_caller]
fn ack(o: Outcome) -> Answer {
    let a = reply(o);
    assert_eq!(a.msg, MsgType::Ack, "{a:?}");
    assert_eq!(opt(&a, 53), Some(&[5][..]));
    a
}

/// A NAK, with the fields Table 3 fixes checked.
#[track_caller]
fn nak(o: Outcome) -> Answer {
    let a = reply(o);
    assert_eq!(a.msg, MsgType::Nak, "{a:?}");
    assert_eq!((a.ciaddr, a.yiaddr, a.siaddr), (ZERO, ZERO, ZERO));
    assert_eq!(&codes(&a)[..3], &[53, 54, 56]);
    assert_eq!(opt(&a, 53), Some(&[6][..]));
    assert!(opt(&a, 51).is_none());
    assert!(a.changes.is_empty());
    assert_eq!((a.sname.as_deref(), a.file.as_deref()), (None, None));
    a
}

fn nak_reason(a: &Answer) -> &str {
    std::str::from_utf8(opt(a, 56).unwrap()).unwrap()
}

/// DISCOVER then REQUEST (SELECTING) for the offered address.
#[track_caller]
fn dora(s: &mut Server, now: Now, n: u32) -> Answer {
    let y = offer(s.handle(now, &discover(n))).yiaddr;
    let a = ack(s.handle(now, &selecting(n, y)));
    assert_eq!(a.yiaddr, y);
    a
}

fn silent(s: Silence) -> Outcome {
    Outcome::Silent(s)
}

// ---- §4.3.1 DISCOVER ----------------------------------------------------------

#[test]
fn with_dns_on_clients_get_this_server_as_dns_server_unless_configured() {
    let d = Req {
        prl: Some(vec![6, 3]),
        ..discover(1)
    };
    let dns = |opts: &[&str], on: bool| {
        let mut p = plan_with((100, 149), &[], opts);
        p.dns_server = on;
        let a = offer(server(p).handle(at(0), &d));
        a.options.iter().find(|o| o.0 == 6).map(|o| o.1.clone())
    };
    assert_eq!(dns(&[], true), Some(ME.octets().to_vec()));
    assert_eq!(dns(&[], false), None);
    assert_eq!(
        dns(&["option:dns-server,192.0.2.53"], true),
        Some(vec![192, 0, 2, 53])
    );
}

#[test]
fn the_dns_domain_is_sent_as_option_15_unless_a_dhcp_option_says_otherwise() {
    let d = Req {
        prl: Some(vec![15, 119]),
        ..discover(1)
    };
    let sent = |opts: &[&str], domain: Option<&str>| {
        let mut p = plan_with((100, 149), &[], opts);
        p.domain = domain.map(String::from);
        let mut s = server(p);
        let a = offer(s.handle(at(0), &d));
        let get = |c: u8| a.options.iter().find(|o| o.0 == c).map(|o| o.1.clone());
        (get(15), get(119), s.domain_of(a.yiaddr))
    };
    // dnsmasq's `domain=`: option 15 only; no search list (119) unless set.
    assert_eq!(
        sent(&[], Some("lan")),
        (Some(b"lan".to_vec()), None, Some("lan".into()))
    );
    assert_eq!(sent(&[], None), (None, None, None));
    // A configured domain-name wins; an empty one masks it.
    assert_eq!(
        sent(&["option:domain-name,office.example"], Some("lan")),
        (
            Some(b"office.example".to_vec()),
            None,
            Some("office.example".into())
        )
    );
    assert_eq!(
        sent(&["option:domain-name"], Some("lan")),
        (None, None, None)
    );
    // A configured search list is sent next to it.
    assert_eq!(
        sent(&["option:domain-search,lan"], Some("lan")).1,
        Some(b"\x03lan\x00".to_vec())
    );
}

#[test]
fn discover_offers_an_own_range_address_with_the_table_3_options() {
    let mut s = server(plan_with(
        (100, 149),
        &[],
        &["option:dns-server,0.0.0.0", "option:domain-name,lan"],
    ));
    let d = Req {
        prl: Some(vec![6, 1, 28, 3, 51, 54]),
        ..discover(1)
    };
    let a = offer(s.handle(at(0), &d));
    let y = a.yiaddr;
    assert!(in_pool(y, 100, 149), "{y}");
    // 53, 54, 51, T1 = 0.5 × lease, T2 = 0.875 × lease, then the requested
    // options in the order asked; 0.0.0.0 in dns-server means us; the
    // unrequested domain name (15) is left out.
    assert_eq!(
        a.options,
        vec![
            (53, vec![2]),
            (54, ME.octets().to_vec()),
            (51, be32(3600)),
            (58, be32(1800)),
            (59, be32(3150)),
            (6, ME.octets().to_vec()),
            (1, MASK24.to_vec()),
            (28, LAN_BCAST.to_vec()),
            (3, ME.octets().to_vec()),
        ]
    );
    assert_eq!((a.xid, a.flags, a.hw), (d.xid, 0, mac(1)));
    assert_eq!((a.siaddr, a.giaddr), (ZERO, ZERO));
    assert_eq!((a.sname.as_deref(), a.file.as_deref()), (None, None));
    assert_eq!(a.to, Destination::Hardware(y, mac(1)));
    assert_eq!(a.max_len, 548);
    assert!(s.db().is_empty(), "an offer is not a binding");

    // The same client asking again gets the same address; others another.
    assert_eq!(offer(s.handle(at(2000), &d)).yiaddr, y);
    let y2 = offer(s.handle(at(2100), &discover(2))).yiaddr;
    let y3 = offer(s.handle(at(2200), &discover(3))).yiaddr;
    assert!(in_pool(y2, 100, 149) && in_pool(y3, 100, 149));
    assert!(y2 != y && y3 != y && y2 != y3);

    // The mask moves ahead of the router (RFC 2132 §3.3); otherwise the
    // request order holds. Without option 55: everything, ascending.
    let a = offer(s.handle(
        at(3000),
        &Req {
            prl: Some(vec![28, 3, 6, 1]),
            ..discover(1)
        },
    ));
    assert_eq!(codes(&a), vec![53, 54, 51, 58, 59, 28, 1, 3, 6]);
    let a = offer(s.handle(at(3000), &discover(1)));
    assert_eq!(codes(&a), vec![53, 54, 51, 58, 59, 1, 3, 6, 15, 28]);
    assert_eq!(opt(&a, 15), Some(&b"lan"[..]));
    assert!(s.db().is_empty());
}

#[test]
fn configured_t1_t2_boot_fields_and_the_vip_as_server_id() {
    let mut p = plan_with((100, 149), &[], &["option:T1,1000", "option:T2,3000"]);
    p.boot = Some(Boot {
        file: "pxelinux.0".into(),
        server_name: Some("boot".into()),
        server_addr: None,
    });
    let vip = lan(254);
    p.server_id = Some(vip);
    let mut s = server(p);
    let a = offer(s.handle(at(0), &discover(1)));
    assert_eq!(opt(&a, 54), Some(&vip.octets()[..]));
    assert_eq!(
        opt(&a, 3),
        Some(&vip.octets()[..]),
        "the router is the VIP too"
    );
    assert_eq!(
        (opt(&a, 58), opt(&a, 59)),
        (Some(&be32(1000)[..]), Some(&be32(3000)[..]))
    );
    assert_eq!(a.siaddr, vip);
    assert_eq!(
        (a.sname.as_deref(), a.file.as_deref()),
        (Some("boot"), Some("pxelinux.0"))
    );
    // A REQUEST naming the VIP is for us; so is one naming our own address.
    let y = a.yiaddr;
    let r = Req {
        server_id: Some(vip),
        ..selecting(1, y)
    };
    assert_eq!(ack(s.handle(at(10), &r)).yiaddr, y);
    assert_eq!(ack(s.handle(at(20), &selecting(1, y))).yiaddr, y);
}

#[test]
fn an_offer_holds_its_address_for_offer_time_only() {
    // Two clients, two addresses, and nobody else asking.
    let mut s = server(plan_with((100, 101), &[], &[]));
    let a = offer(s.handle(at(0), &discover(1))).yiaddr;
    let b = offer(s.handle(at(100), &discover(2))).yiaddr;
    assert_ne!(a, b);
    s.handle_timeout(at(29_999));
    assert_eq!(s.holds.offers.len(), 2);
    // Client 1's offer (t = 0) ends at t = 30 s, client 2's at 30.1 s;
    // the timer says when.
    assert_eq!(s.poll_timeout(), Some(Mono(30_000)));
    s.handle_timeout(at(30_000));
    assert_eq!(s.holds.offers.of_client(&ClientKey::Hw(mac(1))), None);
    assert_eq!(s.holds.offers.of_client(&ClientKey::Hw(mac(2))), Some(b));
    // Rounded up to the whole second: one wake-up per second at most.
    assert_eq!(s.poll_timeout(), Some(Mono(31_000)));
    s.handle_timeout(at(31_000));
    assert!(s.holds.offers.is_empty());
    assert_eq!(s.poll_timeout(), None);
    assert!(s.db().is_empty());
}

/// Issue 17, item 3: when the pool is exhausted, the oldest outstanding
/// offer goes to the new client, but never one younger than OFFER_GUARD
/// (its client is about to REQUEST it).
#[test]
fn an_exhausted_pool_reclaims_the_oldest_offer_but_never_a_fresh_one() {
    let mut s = server(plan_with((100, 101), &[], &[]));
    let a = offer(s.handle(at(0), &discover(1))).yiaddr;
    let b = offer(s.handle(at(100), &discover(2))).yiaddr;
    assert_ne!(a, b);
    // Both offers are younger than two seconds: client 3 waits.
    assert_eq!(
        s.handle(at(200), &discover(3)),
        silent(Silence::PoolExhausted)
    );
    assert_eq!(
        s.handle(at(1_999), &discover(3)),
        silent(Silence::PoolExhausted)
    );
    // Client 1's offer (t = 0) is the oldest and two seconds old: it goes
    // to client 3, and is probed like any new address.
    let o = offer(s.handle(at(2_000), &discover(3)));
    assert_eq!((o.yiaddr, o.probe), (a, true));
    // Client 1 REQUESTs it late: NAKed, it starts over (RFC 2131 §4.3.2).
    nak(s.handle(at(2_050), &selecting(1, a)));
    // Client 3's fresh offer is safe; client 2's (t = 0.1 s) goes at 2.1 s.
    assert_eq!(
        s.handle(at(2_060), &discover(1)),
        silent(Silence::PoolExhausted)
    );
    assert_eq!(offer(s.handle(at(2_100), &discover(1))).yiaddr, b);
    // Client 3 REQUESTs its offer: ACKed.
    assert_eq!(ack(s.handle(at(2_200), &selecting(3, a))).yiaddr, a);
    assert_eq!(s.db().len(), 1);
}

#[test]
fn a_discover_flood_stores_nothing_and_locks_out_neither_reservations_nor_later_clients() {
    let mut p = plan_with((100, 109), &["02:00:00:00:ff:01,192.168.1.10,printer"], &[]);
    p.lease_max = 50;
    let mut s = server(p);
    let (mut offers, mut exhausted) = (0, 0);
    // 10,000 DISCOVERs from distinct MACs in 60 s against a pool of 10.
    for i in 0..10_000u32 {
        let now = at(u64::from(i) * 6);
        match s.handle(now, &discover(1_000_000 + i)) {
            Outcome::Reply(a) => {
                let a = offer(Outcome::Reply(a));
                assert!(in_pool(a.yiaddr, 100, 109));
                offers += 1;
            }
            Outcome::Silent(Silence::PoolExhausted) => exhausted += 1,
            other => panic!("step {i}: {other:?}"),
        }
        if i == 5_000 {
            // The pool is full of offers; the reservation is still served.
            let a = offer(s.handle(now, &discover(0xff01)));
            assert_eq!(a.yiaddr, lan(10));
            let a = ack(s.handle(now, &selecting(0xff01, lan(10))));
            assert_eq!(a.changes.len(), 1);
        }
        assert!(s.db().active_count(now.wall) <= 1);
    }
    // Ten offers at t = 0; then each offer, once two seconds old, goes to
    // the next DISCOVER (reclaimed): ten every two seconds.
    assert_eq!((offers, exhausted), (300, 9_700));
    assert_eq!(s.db().len(), 1, "only the reservation's lease was stored");
    // After the flood the held addresses come back within offer_time.
    let a = dora(&mut s, at(60_000 + 30_000), 7);
    assert!(in_pool(a.yiaddr, 100, 109));
    assert_eq!(s.db().len(), 2);
}

// ---- §4.3.2 REQUEST, SELECTING -------------------------------------------------

#[test]
fn selecting_with_our_id_is_acked_and_recorded() {
    let mut s = server(plan());
    let y = offer(s.handle(at(0), &discover(1))).yiaddr;
    let r = Req {
        hostname: Some(b"Laptop".to_vec()),
        prl: Some(vec![1, 3]),
        ..selecting(1, y)
    };
    let a = ack(s.handle(at(1500), &r));
    assert_eq!((a.yiaddr, a.ciaddr), (y, ZERO));
    assert_eq!(a.to, Destination::Hardware(y, mac(1)));
    assert_eq!(
        a.options,
        vec![
            (53, vec![5]),
            (54, ME.octets().to_vec()),
            (51, be32(3600)),
            (58, be32(1800)),
            (59, be32(3150)),
            (1, MASK24.to_vec()),
            (3, ME.octets().to_vec()),
            (28, LAN_BCAST.to_vec()),
        ]
    );
    let want = lease(y, 1, Some("laptop"), WALL0 + 1 + 3600);
    assert_eq!(a.changes, vec![Change::Upsert(want.clone())]);
    assert_eq!(s.db().get(y).map(PackedLease::to_lease), Some(want.clone()));
    assert_eq!(s.db().active_count(at(1500).wall), 1);
    assert!(s.holds.offers.is_empty(), "the offer became the binding");
    // A retransmitted REQUEST is ACKed again with the same binding.
    let a = ack(s.handle(at(1500), &r));
    assert_eq!(a.changes, vec![Change::Upsert(want)]);
    assert_eq!(s.db().len(), 1);
}

#[test]
fn selecting_another_server_is_silent_and_frees_our_offer() {
    let mut s = server(plan_with((100, 100), &[], &[]));
    let x = offer(s.handle(at(0), &discover(1))).yiaddr;
    assert_eq!(
        s.handle(at(10), &discover(2)),
        silent(Silence::PoolExhausted)
    );
    let r = Req {
        server_id: Some(lan(2)),
        ..selecting(1, x)
    };
    assert_eq!(s.handle(at(20), &r), silent(Silence::OtherServer));
    assert!(s.db().is_empty());
    assert_eq!(offer(s.handle(at(30), &discover(2))).yiaddr, x);
}

#[test]
fn selecting_without_a_requested_address_or_for_a_foreign_one_is_naked() {
    let mut s = server(plan());
    let r = Req {
        requested: None,
        ..selecting(1, ZERO)
    };
    assert_eq!(
        nak_reason(&nak(s.handle(at(0), &r))),
        "selecting without a requested address"
    );
    // The client named us: even outside our ranges we answer (not silence).
    let n = nak(s.handle(at(0), &selecting(1, lan(50))));
    assert_eq!(nak_reason(&n), "address outside our ranges");
    assert_eq!(n.to, Destination::Broadcast);
    assert!(s.db().is_empty());
}

#[test]
fn an_expired_offer_never_cancels_another_clients_offer() {
    let mut s = server(plan_with((100, 101), &[], &[]));
    let x = offer(s.handle(at(0), &discover(1))).yiaddr;
    // Client 1's offer runs out and x is offered to client 2.
    let r2 = Req {
        requested: Some(x),
        ..discover(2)
    };
    assert_eq!(offer(s.handle(at(30_000), &r2)).yiaddr, x);
    // Client 1, still remembered as offered x, picks another server and
    // DISCOVERs again: neither may drop client 2's hold.
    let r1 = Req {
        server_id: Some(lan(2)),
        ..selecting(1, x)
    };
    assert_eq!(s.handle(at(30_010), &r1), silent(Silence::OtherServer));
    let y = offer(s.handle(at(30_020), &discover(1))).yiaddr;
    assert_ne!(y, x);
    let r3 = Req {
        requested: Some(x),
        ..discover(3)
    };
    assert_eq!(s.handle(at(30_030), &r3), silent(Silence::PoolExhausted));
    assert_eq!(ack(s.handle(at(30_040), &selecting(2, x))).yiaddr, x);
}

// ---- §4.3.2 REQUEST, INIT-REBOOT ---------------------------------------------

#[test]
fn init_reboot_with_a_binding_is_acked() {
    let mut s = server(plan());
    let x = dora(&mut s, secs(0), 1).yiaddr;
    let a = ack(s.handle(secs(600), &init_reboot(1, x)));
    assert_eq!((a.yiaddr, a.ciaddr), (x, ZERO));
    assert_eq!(a.to, Destination::Hardware(x, mac(1)));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(lease(x, 1, None, WALL0 + 600 + 3600))]
    );
}

#[test]
fn init_reboot_on_the_wrong_network_is_naked_even_when_not_authoritative() {
    let mut s = server(plan());
    let n = nak(s.handle(at(0), &init_reboot(1, Ipv4Addr::new(10, 1, 2, 3))));
    assert_eq!(
        n.options,
        vec![
            (53, vec![6]),
            (54, ME.octets().to_vec()),
            (56, b"address not on this network".to_vec()),
        ]
    );
    assert_eq!(
        (n.to, n.flags, n.xid),
        (Destination::Broadcast, 0, init_reboot(1, ZERO).xid)
    );
    // Our other subnet is still the wrong network for a client on eth0.
    nak(s.handle(at(0), &init_reboot(1, net9(50))));
    // Behind a relay: NAK to the relay with the broadcast bit set.
    let r = Req {
        giaddr: RELAY,
        ..init_reboot(2, lan(120))
    };
    let n = nak(s.handle(at(0), &r));
    assert_eq!(
        (n.to, n.flags, n.giaddr),
        (Destination::Relay(RELAY), FLAG_BROADCAST, RELAY)
    );
    assert!(s.db().is_empty());
}

#[test]
fn init_reboot_for_a_free_address_in_our_or_the_peer_range_is_adopted() {
    let mut s = server(plan());
    let r = Req {
        hostname: Some(b"NAS".to_vec()),
        ..init_reboot(5, lan(120))
    };
    let a = ack(s.handle(secs(10), &r));
    assert_eq!(a.yiaddr, lan(120));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(lease(
            lan(120),
            5,
            Some("nas"),
            WALL0 + 10 + 3600
        ))]
    );
    // The peer's range: kept across the failover, with the subnet's lease.
    let a = ack(s.handle(secs(20), &init_reboot(6, lan(170))));
    assert_eq!(opt(&a, 51), Some(&be32(3600)[..]));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(lease(lan(170), 6, None, WALL0 + 20 + 3600))]
    );
    assert_eq!(s.db().active_count(secs(20).wall), 2);
}

#[test]
fn a_box_that_is_not_active_answers_nothing_and_changes_nothing() {
    // Design §4, the gate's first rows: Backup and Initialize are silent,
    // never NAK, and touch no binding, offer or quarantine.
    let mut p = Plan {
        authoritative: true,
        ..plan()
    };
    for sn in &mut p.subnets {
        sn.vrrp = Some(0);
    }
    let mut s = server(p);
    s.set_role(0, Role::Active);
    let x = dora(&mut s, secs(0), 1).yiaddr;
    let o = offer(s.handle(secs(1), &discover(2))).yiaddr;
    for role in [Role::Backup, Role::Initialize] {
        s.set_role(0, role);
        let reqs = [
            discover(3),
            selecting(2, o),
            Req {
                server_id: Some(lan(254)),
                ..selecting(2, o)
            },
            init_reboot(3, x), // another client's: NAK when Active
            init_reboot(4, Ipv4Addr::new(10, 1, 0, 9)), // wrong network
            renewing(1, x),
            decline(1, x),
            release(1, x),
            inform(1, x),
        ];
        for r in &reqs {
            assert_eq!(
                s.handle(secs(2), r),
                Outcome::Silent(Silence::Gated),
                "{role}: {r:?}"
            );
        }
    }
    // Nothing changed: the binding, the offer to client 2, no quarantine.
    assert_eq!(s.db().active_count(secs(2).wall), 1);
    assert!(s.db().get(x).is_some_and(|l| l.is_active(secs(2).wall)));
    assert_eq!(s.quarantined().count(), 0);
    s.set_role(0, Role::Active);
    assert_eq!(ack(s.handle(secs(3), &selecting(2, o))).yiaddr, o);
    assert_eq!(nak(s.handle(secs(3), &init_reboot(3, x))).msg, MsgType::Nak);
}

#[test]
fn each_subnet_follows_the_vrrp_instance_that_owns_its_vip() {
    // Design §4: the LAN (ifindex 2) follows instance 0, a guest VLAN
    // 192.168.2.0/24 on ifindex 3 follows instance 1, and the relayed
    // subnet (no VIP of its own) the first instance.
    let guest = |d: u8| Ipv4Addr::new(192, 168, 2, d);
    let mut p = plan();
    p.subnets[0].vrrp = Some(0);
    p.subnets[1].vrrp = Some(0);
    p.subnets.push(Subnet {
        network: guest(0),
        local: Some(IfAddr {
            name: "eth0.20".into(),
            index: 3,
            addr: guest(1),
            prefix: 24,
        }),
        ranges: vec![Range {
            span: Span::new(guest(100), guest(149)),
            lease: LeaseTime::Secs(3600),
            tag: None,
        }],
        peer: vec![Span::new(guest(150), guest(199))],
        vrrp: Some(1),
        ..local_subnet((100, 149))
    });
    let mut s = server(p);
    let on_guest = |r: Req| Req {
        ifindex: Some(3),
        ..r
    };
    let relayed = |r: Req| Req { giaddr: RELAY, ..r };
    // Instance 1 not heard from yet: Initialize, silent on the guest VLAN.
    s.set_role(0, Role::Active);
    assert_eq!(
        s.handle(secs(0), &on_guest(discover(1))),
        silent(Silence::Gated)
    );
    // LAN Active, guest Backup.
    s.set_role(1, Role::Backup);
    let lan_lease = dora(&mut s, secs(1), 2).yiaddr;
    assert!(in_pool(lan_lease, 100, 149));
    assert_eq!(
        offer(s.handle(secs(1), &relayed(discover(3))))
            .yiaddr
            .octets()[..3],
        [10, 9, 0]
    );
    for r in [
        on_guest(discover(4)),
        on_guest(init_reboot(4, guest(160))),
        on_guest(rebinding(4, guest(120))),
    ] {
        assert_eq!(s.handle(secs(1), &r), silent(Silence::Gated), "{r:?}");
    }
    // The guest instance fails over to us; the LAN one to the peer.
    s.set_role(1, Role::Active);
    s.set_role(0, Role::Backup);
    let g = offer(s.handle(secs(2), &on_guest(discover(4)))).yiaddr;
    let sel = Req {
        server_id: Some(guest(1)),
        ..on_guest(selecting(4, g))
    };
    assert_eq!(ack(s.handle(secs(2), &sel)).yiaddr, g);
    assert_eq!(g.octets()[..3], [192, 168, 2]);
    assert!((100..=149).contains(&g.octets()[3]));
    // A guest client of the peer's range is adopted (design §4).
    let a = ack(s.handle(secs(2), &on_guest(init_reboot(5, guest(160)))));
    assert_eq!(a.yiaddr, guest(160));
    for r in [
        discover(6),
        renewing(2, lan_lease),
        relayed(discover(3)),
        // No subnet of ours: the first instance decides (silent, not NAK).
        Req {
            ifindex: Some(9),
            ..init_reboot(7, lan(120))
        },
    ] {
        assert_eq!(s.handle(secs(2), &r), silent(Silence::Gated), "{r:?}");
    }
    // The LAN comes back: renewals there are answered again.
    s.set_role(0, Role::Active);
    assert_eq!(
        ack(s.handle(secs(3), &renewing(2, lan_lease))).yiaddr,
        lan_lease
    );
}

#[test]
fn init_reboot_for_an_address_another_client_holds_is_naked() {
    let mut s = server(plan());
    let x = dora(&mut s, secs(0), 1).yiaddr;
    let n = nak(s.handle(secs(5), &init_reboot(2, x)));
    assert_eq!(nak_reason(&n), "address is leased to another client");
    assert_eq!(n.to, Destination::Broadcast);
    assert_eq!(s.db().get(x).map(|l| l.hw()), Some(mac(1)));
    // Adopted peer-range addresses are protected the same way.
    ack(s.handle(secs(6), &init_reboot(3, lan(170))));
    nak(s.handle(secs(7), &init_reboot(4, lan(170))));
}

#[test]
fn init_reboot_outside_our_ranges_is_silent_unless_authoritative() {
    let mut s = server(plan());
    assert_eq!(
        s.handle(at(0), &init_reboot(1, lan(50))),
        silent(Silence::NoRecord)
    );
    assert_eq!(
        s.handle(at(0), &init_reboot(1, lan(220))),
        silent(Silence::NoRecord)
    );
    assert_eq!(
        s.handle(at(0), &init_reboot(1, lan(255))),
        silent(Silence::NoRecord)
    );
    let mut p = plan();
    p.authoritative = true;
    let mut s = server(p);
    let n = nak(s.handle(at(0), &init_reboot(1, lan(50))));
    assert_eq!(nak_reason(&n), "address outside our ranges");
    assert_eq!(n.to, Destination::Broadcast);
    assert!(s.db().is_empty());
}

#[test]
fn init_reboot_without_option_50_is_not_a_request() {
    let mut s = server(plan());
    let r = req(MsgType::Request, 1);
    assert_eq!(s.handle(at(0), &r), silent(Silence::NotARequest));
    for m in [
        MsgType::Offer,
        MsgType::Ack,
        MsgType::Nak,
        MsgType::Other(13),
    ] {
        assert_eq!(s.handle(at(0), &req(m, 1)), silent(Silence::NotARequest));
    }
}

// ---- §4.3.2 REQUEST, RENEWING / REBINDING -------------------------------------

#[test]
fn renewing_and_rebinding_extend_the_lease_and_reply_to_ciaddr() {
    let mut s = server(plan());
    let x = dora(&mut s, secs(0), 1).yiaddr;
    let a = ack(s.handle(secs(1800), &renewing(1, x)));
    assert_eq!(
        (a.yiaddr, a.ciaddr, a.to.clone()),
        (x, x, Destination::Client(x))
    );
    assert_eq!(opt(&a, 51), Some(&be32(3600)[..]));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(lease(x, 1, None, WALL0 + 1800 + 3600))]
    );
    // REBINDING: broadcast, ciaddr set; the ACK still goes to ciaddr.
    let a = ack(s.handle(secs(4950), &rebinding(1, x)));
    assert_eq!((a.yiaddr, a.to.clone()), (x, Destination::Client(x)));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(lease(x, 1, None, WALL0 + 4950 + 3600))]
    );
    // Another client claiming x: NAK, broadcast because giaddr is 0.
    for r in [renewing(2, x), rebinding(2, x)] {
        let n = nak(s.handle(secs(5000), &r));
        assert_eq!(n.to, Destination::Broadcast);
        assert_eq!(nak_reason(&n), "address is leased to another client");
    }
    // A lease that ran out, nobody else took the address: renewed again.
    let a = ack(s.handle(secs(9000), &renewing(1, x)));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(lease(x, 1, None, WALL0 + 9000 + 3600))]
    );
    // Unknown, outside our ranges: not ours to answer.
    assert_eq!(
        s.handle(secs(9001), &renewing(3, lan(60))),
        silent(Silence::NoRecord)
    );
    assert_eq!(
        s.handle(secs(9001), &rebinding(3, lan(60))),
        silent(Silence::NoRecord)
    );
    // Rebinding on the wrong network: NAK (we know the link it came from).
    nak(s.handle(secs(9002), &rebinding(3, Ipv4Addr::new(172, 16, 0, 9))));
}

#[test]
fn a_relayed_client_renews_by_unicast_without_a_relay() {
    let mut s = server(plan());
    let d = Req {
        giaddr: RELAY,
        ..discover(7)
    };
    let y = offer(s.handle(secs(0), &d)).yiaddr;
    let r = Req {
        giaddr: RELAY,
        ..selecting(7, y)
    };
    assert_eq!(ack(s.handle(secs(0), &r)).to, Destination::Relay(RELAY));
    // RENEWING is unicast straight to us, so it arrives on eth0 with giaddr
    // 0; ciaddr says which subnet it belongs to.
    let a = ack(s.handle(secs(3600), &renewing(7, y)));
    assert_eq!(a.to, Destination::Client(y));
    assert_eq!(opt(&a, 51), Some(&be32(7200)[..]));
    assert_eq!(opt(&a, 28), Some(&[10, 9, 0, 255][..]));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(lease(y, 7, None, WALL0 + 3600 + 7200))]
    );
    // REBINDING comes through the relay again.
    let r = Req {
        giaddr: RELAY,
        ..rebinding(7, y)
    };
    let a = ack(s.handle(secs(6400), &r));
    assert_eq!(a.to, Destination::Relay(RELAY));
    // A unicast RENEW for an address in none of our subnets: we cannot
    // tell where the client is, so only an authoritative server NAKs.
    let far = Ipv4Addr::new(172, 16, 0, 9);
    assert_eq!(
        s.handle(secs(6500), &renewing(8, far)),
        silent(Silence::NoRecord)
    );
    let mut p = plan();
    p.authoritative = true;
    s.reconfigure(p);
    nak(s.handle(secs(6500), &renewing(8, far)));
}

// ---- §4.3.3 DECLINE ------------------------------------------------------------

#[test]
fn decline_removes_the_binding_and_quarantines_the_address() {
    let mut s = server(plan_with((100, 100), &[], &[]));
    let x = dora(&mut s, at(0), 1).yiaddr;
    // Someone else's, or another server's, DECLINE changes nothing.
    assert_eq!(s.handle(at(500), &decline(2, x)), silent(Silence::NoRecord));
    let r = Req {
        server_id: Some(lan(2)),
        ..decline(1, x)
    };
    assert_eq!(s.handle(at(500), &r), silent(Silence::OtherServer));
    assert_eq!(
        s.handle(at(1000), &decline(1, x)),
        Outcome::Store(vec![Change::Remove(x)], Silence::NoReplyNeeded)
    );
    assert!(s.db().get(x).is_none());
    // Nobody gets it for decline_time, not even the client that declined.
    for n in [1, 2] {
        assert_eq!(
            s.handle(at(2000), &discover(n)),
            silent(Silence::PoolExhausted)
        );
    }
    assert_eq!(
        nak_reason(&nak(s.handle(at(2000), &selecting(2, x)))),
        "address is not available"
    );
    assert_eq!(
        s.handle(at(2000), &init_reboot(1, x)),
        silent(Silence::NoRecord)
    );
    assert_eq!(
        s.handle(at(600_999), &discover(2)),
        silent(Silence::PoolExhausted)
    );
    // Quarantine over (t = 1 s + 600 s).
    assert_eq!(offer(s.handle(at(601_000), &discover(2))).yiaddr, x);
}

#[test]
fn declining_an_offered_address_quarantines_it_without_a_store_change() {
    let mut s = server(plan_with((100, 101), &[], &[]));
    let x = offer(s.handle(at(0), &discover(1))).yiaddr;
    assert_eq!(
        s.handle(at(10), &decline(1, x)),
        Outcome::Store(Vec::new(), Silence::NoReplyNeeded)
    );
    let y = offer(s.handle(at(20), &discover(1))).yiaddr;
    assert_ne!(y, x);
    assert_eq!(
        s.handle(at(30), &discover(2)),
        silent(Silence::PoolExhausted)
    );
    // Without option 50 a DECLINE names nothing.
    let r = Req {
        requested: None,
        ..decline(1, y)
    };
    assert_eq!(s.handle(at(40), &r), silent(Silence::NotARequest));
}

// ---- §4.3.4 RELEASE ------------------------------------------------------------

#[test]
fn release_keeps_the_binding_expired_for_affinity() {
    let mut s = server(plan_with((100, 102), &[], &[]));
    let x = dora(&mut s, secs(0), 1).yiaddr;
    let want = lease(x, 1, None, WALL0 + 100);
    assert_eq!(
        s.handle(secs(100), &release(1, x)),
        Outcome::Store(vec![Change::Upsert(want.clone())], Silence::NoReplyNeeded)
    );
    assert_eq!(s.db().get(x).map(PackedLease::to_lease), Some(want.clone()));
    assert_eq!(s.db().active_count(secs(100).wall), 0);
    // Released twice, or by someone else: nothing to do.
    assert_eq!(
        s.handle(secs(101), &release(1, x)),
        silent(Silence::NoRecord)
    );
    assert_eq!(
        s.handle(secs(101), &release(2, x)),
        silent(Silence::NoRecord)
    );
    // Others get never-used addresses while there are any ...
    let b = offer(s.handle(secs(102), &discover(2))).yiaddr;
    let c = offer(s.handle(secs(102), &discover(3))).yiaddr;
    assert!(b != x && c != x && b != c);
    // ... and the client that released x gets it back.
    assert_eq!(offer(s.handle(secs(103), &discover(1))).yiaddr, x);
    let a = ack(s.handle(secs(103), &selecting(1, x)));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(lease(x, 1, None, WALL0 + 103 + 3600))]
    );
}

// ---- §4.3.5 INFORM -------------------------------------------------------------

#[test]
fn inform_gets_configuration_only() {
    let mut s = server(plan_with(
        (100, 149),
        &[],
        &[
            "option:dns-server,0.0.0.0",
            "tag:lan,option:ntp-server,192.168.1.5",
        ],
    ));
    let a = ack(s.handle(at(0), &inform(1, lan(50))));
    assert_eq!(
        (a.yiaddr, a.ciaddr, a.to.clone()),
        (ZERO, lan(50), Destination::Client(lan(50)))
    );
    assert_eq!(
        a.options,
        vec![
            (53, vec![5]),
            (54, ME.octets().to_vec()),
            (1, MASK24.to_vec()),
            (3, ME.octets().to_vec()),
            (6, ME.octets().to_vec()),
            (28, LAN_BCAST.to_vec()),
        ]
    );
    assert!(a.changes.is_empty() && s.db().is_empty());
    // A client in the `lan` range gets that range's tagged options.
    let a = ack(s.handle(at(0), &inform(1, lan(120))));
    assert_eq!(opt(&a, 42), Some(&[192, 168, 1, 5][..]));
    assert!(opt(&a, 51).is_none() && opt(&a, 58).is_none() && opt(&a, 59).is_none());
    // Through a relay: to the relay, the relayed subnet's options.
    let r = Req {
        giaddr: RELAY,
        unicast: false,
        ..inform(2, net9(77))
    };
    let a = ack(s.handle(at(0), &r));
    assert_eq!((a.yiaddr, a.to.clone()), (ZERO, Destination::Relay(RELAY)));
    assert_eq!(opt(&a, 28), Some(&[10, 9, 0, 255][..]));
    assert!(opt(&a, 3).is_none() && opt(&a, 51).is_none());
    // Unicast straight from a relayed-subnet client: its own subnet too.
    let a = ack(s.handle(at(0), &inform(2, net9(77))));
    assert_eq!(
        (a.to.clone(), opt(&a, 28)),
        (Destination::Client(net9(77)), Some(&[10, 9, 0, 255][..]))
    );
}

// ---- §4.1 addressing ---------------------------------------------------------------

#[test]
fn replies_are_addressed_per_section_4_1() {
    let y = lan(120);
    let b = discover(1);
    let with = |giaddr: Ipv4Addr, ciaddr: Ipv4Addr, flags: u16| Req {
        giaddr,
        ciaddr,
        flags,
        ..b.clone()
    };
    let bc = FLAG_BROADCAST;
    let cases = [
        (
            with(RELAY, ZERO, 0),
            MsgType::Offer,
            Destination::Relay(RELAY),
        ),
        (with(RELAY, y, bc), MsgType::Ack, Destination::Relay(RELAY)),
        (
            with(RELAY, ZERO, 0),
            MsgType::Nak,
            Destination::Relay(RELAY),
        ),
        (with(ZERO, y, 0), MsgType::Ack, Destination::Client(y)),
        (with(ZERO, y, bc), MsgType::Ack, Destination::Client(y)),
        (with(ZERO, y, 0), MsgType::Nak, Destination::Broadcast),
        (with(ZERO, ZERO, bc), MsgType::Offer, Destination::Broadcast),
        (
            with(ZERO, ZERO, 0),
            MsgType::Offer,
            Destination::Hardware(y, mac(1)),
        ),
        (
            with(ZERO, ZERO, 0),
            MsgType::Ack,
            Destination::Hardware(y, mac(1)),
        ),
    ];
    for (r, m, want) in cases {
        assert_eq!(
            destination(&r, m, y),
            want,
            "{m:?} giaddr={} ciaddr={} flags={:x}",
            r.giaddr,
            r.ciaddr,
            r.flags
        );
    }
    assert_eq!(
        destination(&with(ZERO, ZERO, 0), MsgType::Ack, ZERO),
        Destination::Broadcast
    );

    // End to end: the flags are echoed; only a relayed NAK gains the bit.
    let mut s = server(plan());
    let a = offer(s.handle(at(0), &with(ZERO, ZERO, bc)));
    assert_eq!((a.to, a.flags), (Destination::Broadcast, bc));
    let a = ack(s.handle(
        at(0),
        &Req {
            flags: bc,
            ..selecting(1, a.yiaddr)
        },
    ));
    assert_eq!((a.to, a.flags), (Destination::Broadcast, bc));
    let r = Req {
        giaddr: RELAY,
        ..discover(2)
    };
    let a = offer(s.handle(at(0), &r));
    assert_eq!(
        (a.to, a.flags, a.giaddr),
        (Destination::Relay(RELAY), 0, RELAY)
    );
    let r = Req {
        giaddr: RELAY,
        ..init_reboot(2, lan(120))
    };
    let n = nak(s.handle(at(0), &r));
    assert_eq!((n.to, n.flags), (Destination::Relay(RELAY), bc));
}

// ---- subnet selection ----------------------------------------------------------------

#[test]
fn the_subnet_is_chosen_by_giaddr_option_118_or_the_interface() {
    let mut s = server(plan());
    let r = Req {
        giaddr: RELAY,
        prl: Some(vec![1, 3, 28]),
        ..discover(1)
    };
    let a = offer(s.handle(at(0), &r));
    let y = a.yiaddr;
    assert!(
        y.octets()[..3] == [10, 9, 0] && (10..=200).contains(&y.octets()[3]),
        "{y}"
    );
    assert_eq!(a.to, Destination::Relay(RELAY));
    // Our address on the first local interface names us; no default router
    // for a relayed subnet unless configured.
    assert_eq!(
        a.options,
        vec![
            (53, vec![2]),
            (54, ME.octets().to_vec()),
            (51, be32(7200)),
            (58, be32(3600)),
            (59, be32(6300)),
            (1, MASK24.to_vec()),
            (28, vec![10, 9, 0, 255]),
        ]
    );
    let a = ack(s.handle(
        at(0),
        &Req {
            giaddr: RELAY,
            ..selecting(1, y)
        },
    ));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(lease(y, 1, None, WALL0 + 7200))]
    );

    // Option 118 / RAI sub-option 5 wins over giaddr; the reply still goes
    // to the relay that sent it.
    let r = Req {
        giaddr: lan(254),
        subnet_select: Some(net9(0)),
        ..discover(2)
    };
    let a = offer(s.handle(at(0), &r));
    assert_eq!(a.yiaddr.octets()[..3], [10, 9, 0]);
    assert_eq!(a.to, Destination::Relay(lan(254)));
    // ... and over the arrival interface.
    let r = Req {
        subnet_select: Some(net9(1)),
        ..discover(3)
    };
    let a = offer(s.handle(at(0), &r));
    assert_eq!(a.yiaddr.octets()[..3], [10, 9, 0]);
    assert_eq!(a.to, Destination::Hardware(a.yiaddr, mac(3)));

    // Nothing of ours.
    let foreign = Ipv4Addr::new(172, 16, 0, 1);
    let cases = [
        Req {
            giaddr: foreign,
            ..discover(4)
        },
        Req {
            giaddr: RELAY,
            subnet_select: Some(foreign),
            ..discover(4)
        },
        Req {
            ifindex: Some(9),
            ..discover(4)
        },
        Req {
            ifindex: None,
            ..discover(4)
        },
        Req {
            giaddr: foreign,
            ..selecting(4, lan(120))
        },
        Req {
            giaddr: foreign,
            ..init_reboot(4, lan(120))
        },
        Req {
            giaddr: foreign,
            ..rebinding(4, lan(120))
        },
    ];
    for r in cases {
        assert_eq!(s.handle(at(0), &r), silent(Silence::NotForUs), "{r:?}");
    }
}

// ---- identity, echoed options ------------------------------------------------------

#[test]
fn option_61_and_option_82_are_echoed_unaltered() {
    // An RFC 4361 client-id (type 255, IAID, DUID): an opaque blob.
    let id = vec![
        0xff, 0, 0, 0, 1, 0, 4, 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        13,
    ];
    let ri = vec![
        1, 4, b'e', b't', b'h', b'3', 2, 6, 0, 0x11, 0x22, 0x33, 0x44, 0x55,
    ];
    let with = |r: Req| Req {
        client_id: Some(id.clone()),
        relay_info: Some(ri.clone()),
        giaddr: RELAY,
        ..r
    };
    let mut s = server(plan());
    let o = offer(s.handle(at(0), &with(discover(1))));
    assert_eq!((opt(&o, 61), opt(&o, 82)), (Some(&id[..]), Some(&ri[..])));
    assert_eq!(codes(&o).last(), Some(&82));
    let a = ack(s.handle(at(0), &with(selecting(1, o.yiaddr))));
    assert_eq!((opt(&a, 61), opt(&a, 82)), (Some(&id[..]), Some(&ri[..])));
    let Change::Upsert(l) = &a.changes[0] else {
        panic!()
    };
    assert_eq!((l.client_id.as_deref(), l.hw), (Some(&id[..]), mac(1)));
    let n = nak(s.handle(at(0), &with(init_reboot(1, lan(120)))));
    assert_eq!((opt(&n, 61), opt(&n, 82)), (Some(&id[..]), Some(&ri[..])));
    // Nothing echoed that the client did not send.
    let a = offer(s.handle(at(0), &discover(2)));
    assert!(opt(&a, 61).is_none() && opt(&a, 82).is_none());
}

#[test]
fn the_client_is_keyed_by_option_61_over_chaddr() {
    let id = vec![1, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];
    let with_id = |r: Req| Req {
        client_id: Some(id.clone()),
        ..r
    };
    let mut s = server(plan());
    let x = offer(s.handle(secs(0), &with_id(discover(1)))).yiaddr;
    ack(s.handle(secs(0), &with_id(selecting(1, x))));
    // Same client-id, another NIC: the same client and the same address.
    assert_eq!(offer(s.handle(secs(10), &with_id(discover(2)))).yiaddr, x);
    let a = ack(s.handle(secs(10), &with_id(renewing(2, x))));
    let mut want = lease(x, 2, None, WALL0 + 10 + 3600);
    want.client_id = Some(id.clone());
    assert_eq!(a.changes, vec![Change::Upsert(want)]);
    assert_eq!(s.db().len(), 1);
    assert_eq!(
        s.db()
            .of_client(&ClientKey::ClientId(id.clone()))
            .map(|l| l.ip()),
        Some(x)
    );
    // The first NIC without option 61 is another client.
    assert_ne!(offer(s.handle(secs(20), &discover(1))).yiaddr, x);
    nak(s.handle(secs(20), &renewing(1, x)));
}

// ---- reservations --------------------------------------------------------------------

const HOSTS: &[&str] = &[
    "02:00:00:00:00:0a,192.168.1.10,printer,infinite",
    "id:01:02:00:00:00:00:0b,192.168.1.11,2h",
    "tv,192.168.1.12",
    "02:00:00:00:00:0d,set:iot",
    "02:00:00:00:00:0e,ignore",
    "02:00:00:00:00:0f,192.168.1.140",
];

fn reserved_server() -> Server {
    server(plan_with(
        (100, 149),
        HOSTS,
        &["tag:iot,option:ntp-server,192.168.1.5"],
    ))
}

#[test]
fn reservations_by_mac_client_id_and_name() {
    let mut s = reserved_server();
    // By MAC: the fixed address, the operator's name, an infinite lease.
    let r = Req {
        hostname: Some(b"whatever".to_vec()),
        ..discover(0x0a)
    };
    let o = offer(s.handle(secs(0), &r));
    assert_eq!(o.yiaddr, lan(10));
    assert_eq!(opt(&o, 51), Some(&[0xff; 4][..]));
    assert!(opt(&o, 58).is_none() && opt(&o, 59).is_none());
    let r = Req {
        hostname: Some(b"whatever".to_vec()),
        ..selecting(0x0a, lan(10))
    };
    let a = ack(s.handle(secs(0), &r));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(lease(lan(10), 0x0a, Some("printer"), 0))]
    );

    // By client-id, whatever the chaddr: its address and lease time.
    let id = vec![1, 2, 0, 0, 0, 0, 0x0b];
    let r = Req {
        client_id: Some(id.clone()),
        ..discover(0x77)
    };
    let o = offer(s.handle(secs(0), &r));
    assert_eq!(o.yiaddr, lan(11));
    assert_eq!(
        (opt(&o, 51), opt(&o, 58), opt(&o, 59)),
        (
            Some(&be32(7200)[..]),
            Some(&be32(3600)[..]),
            Some(&be32(6300)[..])
        )
    );

    // By the name the client sends.
    let r = Req {
        hostname: Some(b"TV".to_vec()),
        ..discover(0x78)
    };
    assert_eq!(offer(s.handle(secs(0), &r)).yiaddr, lan(12));
    let r = Req {
        hostname: Some(b"TV".to_vec()),
        ..selecting(0x78, lan(12))
    };
    let a = ack(s.handle(secs(0), &r));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(lease(
            lan(12),
            0x78,
            Some("tv"),
            WALL0 + 3600
        ))]
    );
}

#[test]
fn set_tag_options_reach_only_their_host() {
    let mut s = reserved_server();
    let r = Req {
        prl: Some(vec![42, 1]),
        ..discover(0x0d)
    };
    let o = offer(s.handle(secs(0), &r));
    assert!(in_pool(o.yiaddr, 100, 149));
    assert_eq!(opt(&o, 42), Some(&[192, 168, 1, 5][..]));
    let a = ack(s.handle(
        secs(0),
        &Req {
            prl: Some(vec![42]),
            ..selecting(0x0d, o.yiaddr)
        },
    ));
    assert_eq!(opt(&a, 42), Some(&[192, 168, 1, 5][..]));
    let r = Req {
        prl: Some(vec![42, 1]),
        ..discover(0x79)
    };
    assert!(opt(&offer(s.handle(secs(0), &r)), 42).is_none());
}

#[test]
fn an_ignored_host_gets_silence() {
    let mut s = reserved_server();
    let n = 0x0e;
    for r in [
        discover(n),
        selecting(n, lan(120)),
        init_reboot(n, lan(120)),
        renewing(n, lan(120)),
        inform(n, lan(120)),
    ] {
        assert_eq!(
            s.handle(secs(0), &r),
            silent(Silence::Ignored),
            "{:?}",
            r.msg
        );
    }
    assert!(s.db().is_empty());
}

#[test]
fn reserved_addresses_go_to_their_owner_only() {
    let mut s = reserved_server();
    // Another client asking for a reserved address does not get it.
    let r = Req {
        requested: Some(lan(140)),
        ..discover(0x7a)
    };
    let y = offer(s.handle(secs(0), &r)).yiaddr;
    assert!(y != lan(140) && in_pool(y, 100, 149));
    assert_eq!(
        s.handle(secs(0), &init_reboot(0x7a, lan(140))),
        silent(Silence::NoRecord)
    );
    nak(s.handle(secs(0), &selecting(0x7a, lan(140))));
    // The owner asking for another address is told no.
    let n = nak(s.handle(secs(0), &init_reboot(0x0f, lan(120))));
    assert_eq!(
        nak_reason(&n),
        "client has a reservation for another address"
    );
    nak(s.handle(secs(0), &renewing(0x0f, lan(120))));
    assert_eq!(offer(s.handle(secs(0), &discover(0x0f))).yiaddr, lan(140));
    assert!(s.db().is_empty());
}

#[test]
fn a_reserved_address_held_by_another_client_does_not_lock_its_owner_out() {
    // .140 was leased to client 0x50 before the reservation was written.
    let held = lease(lan(140), 0x50, None, WALL0 + 3600);
    let mut s = Server::new(plan_with((100, 149), HOSTS, &[]), vec![held]);
    let y = offer(s.handle(secs(0), &discover(0x0f))).yiaddr;
    assert!(y != lan(140) && in_pool(y, 100, 149));
    // The dynamic address is ACKed (a NAK here would loop forever).
    assert_eq!(ack(s.handle(secs(0), &selecting(0x0f, y))).yiaddr, y);
    // Once .140 is free the owner is moved there at its next renewal.
    assert_eq!(ack(s.handle(secs(1800), &renewing(0x0f, y))).yiaddr, y);
    let n = nak(s.handle(secs(3700), &renewing(0x0f, y)));
    assert_eq!(
        nak_reason(&n),
        "client has a reservation for another address"
    );
    assert_eq!(
        offer(s.handle(secs(3701), &discover(0x0f))).yiaddr,
        lan(140)
    );
    let a = ack(s.handle(secs(3701), &selecting(0x0f, lan(140))));
    // The client's old binding is removed, the squatter's expired one too.
    assert_eq!(
        a.changes,
        vec![
            Change::Remove(y),
            Change::Remove(lan(140)),
            Change::Upsert(lease(lan(140), 0x0f, None, WALL0 + 3701 + 3600)),
        ]
    );
}

// ---- dhcp-lease-max --------------------------------------------------------------------

#[test]
fn lease_max_limits_new_clients_but_not_renewals() {
    let mut p = plan();
    p.lease_max = 2;
    let mut s = server(p);
    let x1 = dora(&mut s, secs(0), 1).yiaddr;
    let x2 = dora(&mut s, secs(0), 2).yiaddr;
    assert_eq!(s.handle(secs(1), &discover(3)), silent(Silence::LeaseMax));
    assert_eq!(
        s.handle(secs(1), &init_reboot(3, lan(120))),
        silent(Silence::LeaseMax)
    );
    assert_eq!(
        s.handle(secs(1), &selecting(3, lan(121))),
        silent(Silence::LeaseMax)
    );
    assert_eq!(
        s.handle(secs(1), &rebinding(3, lan(170))),
        silent(Silence::LeaseMax)
    );
    // Existing clients renew, and may even move.
    ack(s.handle(secs(2), &renewing(1, x1)));
    ack(s.handle(secs(2), &init_reboot(2, x2)));
    assert_eq!(offer(s.handle(secs(3), &discover(1))).yiaddr, x1);
    let free = [130, 131, 132]
        .map(lan)
        .into_iter()
        .find(|ip| *ip != x1 && *ip != x2)
        .unwrap();
    let a = ack(s.handle(secs(3), &init_reboot(1, free)));
    assert_eq!(a.changes[0], Change::Remove(x1));
    assert_eq!(s.db().active_count(secs(3).wall), 2);
    // A released binding no longer counts, so a new client fits ...
    assert!(matches!(
        s.handle(secs(4), &release(2, x2)),
        Outcome::Store(..)
    ));
    dora(&mut s, secs(5), 3);
    // ... and the client that released is new again: refused at the limit.
    assert_eq!(s.handle(secs(6), &discover(2)), silent(Silence::LeaseMax));
    assert_eq!(
        s.handle(secs(6), &init_reboot(2, x2)),
        silent(Silence::LeaseMax)
    );
    assert_eq!(s.db().active_count(secs(6).wall), 2);
}

// ---- host names ------------------------------------------------------------------------

#[test]
fn hostnames_are_sanitised_unique_and_published() {
    let mut s = server(plan_with(
        (100, 149),
        &["02:00:00:00:00:0a,192.168.1.10,printer"],
        &[],
    ));
    let named = |r: Req, name: &[u8]| Req {
        hostname: Some(name.to_vec()),
        ..r
    };
    // Hostile bytes: only the safe part of the first label is kept.
    let x1 = offer(s.handle(secs(0), &discover(1))).yiaddr;
    let a = ack(s.handle(
        secs(0),
        &named(selecting(1, x1), b"John's Laptop;$(reboot)\0.evil"),
    ));
    let name = "johns-laptopreboot";
    let l1 = lease(x1, 1, Some(name), WALL0 + 3600);
    assert_eq!(a.changes, vec![Change::Upsert(l1.clone())]);
    let t = s.host_table(secs(1).wall);
    assert_eq!(t.addrs(name), &[x1]);
    assert_eq!(
        t.addrs("printer"),
        &[lan(10)],
        "reservations are published without a lease"
    );

    // A second client claiming the name takes it; the older lease loses it.
    let x2 = offer(s.handle(secs(10), &discover(2))).yiaddr;
    let a = ack(s.handle(secs(10), &named(selecting(2, x2), b"JOHNS-LAPTOPREBOOT")));
    let l2 = lease(x2, 2, Some(name), WALL0 + 10 + 3600);
    let l1_unnamed = Lease {
        hostname: None,
        ..l1
    };
    assert_eq!(
        a.changes,
        vec![
            Change::Upsert(l1_unnamed.clone()),
            Change::Upsert(l2.clone())
        ]
    );
    assert_eq!(
        s.db().get(x1).map(PackedLease::to_lease),
        Some(l1_unnamed.clone())
    );
    let t = s.host_table(secs(11).wall);
    assert_eq!(t.addrs(name), &[x2]);
    assert_eq!(t.name(x1), None);

    // A renewal that does not repeat the name keeps it; the loser stays unnamed.
    let a = ack(s.handle(secs(1800), &renewing(2, x2)));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(Lease {
            expires: UnixTime(WALL0 + 1800 + 3600),
            ..l2
        })]
    );
    let a = ack(s.handle(secs(1800), &renewing(1, x1)));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(Lease {
            expires: UnixTime(WALL0 + 1800 + 3600),
            ..l1_unnamed
        })]
    );

    // A reservation's name is not for others to take.
    let x3 = offer(s.handle(secs(1900), &discover(3))).yiaddr;
    let a = ack(s.handle(secs(1900), &named(selecting(3, x3), b"Printer")));
    assert_eq!(
        a.changes,
        vec![Change::Upsert(lease(x3, 3, None, WALL0 + 1900 + 3600))]
    );
    assert_eq!(s.host_table(secs(1900).wall).addrs("printer"), &[lan(10)]);

    // Option 81 (E = 1, S = 0): the name is taken from it and we answer
    // that we do the update (S = 1, O = 1: we overrode the client).
    let fqdn = vec![0x04, 0, 0, 5, b'H', b'o', b's', b't', b'4'];
    let x4 = offer(s.handle(secs(1900), &discover(4))).yiaddr;
    let r = Req {
        fqdn: Some(fqdn),
        ..selecting(4, x4)
    };
    let a = ack(s.handle(secs(1900), &r));
    assert_eq!(
        opt(&a, 81),
        Some(&[0x07, 255, 255, 5, b'h', b'o', b's', b't', b'4'][..])
    );
    assert_eq!(s.db().get(x4).and_then(|l| l.hostname()), Some("host4"));

    // Expired leases leave the table; reservations stay.
    let later = UnixTime(WALL0 + 1800 + 3600);
    assert_eq!(s.next_expiry_after(secs(1900).wall), Some(later));
    let t = s.host_table(later);
    assert_eq!(t.addrs(name), &[] as &[Ipv4Addr]);
    assert_eq!(t.addrs("host4"), &[x4]);
    assert_eq!(t.addrs("printer"), &[lan(10)]);
    let t = s.host_table(UnixTime(WALL0 + 1900 + 3600));
    assert_eq!(t.addrs("host4"), &[] as &[Ipv4Addr]);
    assert_eq!(t.len(), 1);
}

/// AAAA names (design §10): a named lease's name gets the IPv6
/// addresses its MAC uses, each with its PTR; an unnamed or expired
/// lease, or another MAC, gets none; a new neighbour table rebuilds the
/// published one, the same table does not.
#[test]
fn a_named_lease_gets_the_ipv6_addresses_of_its_mac() {
    use crate::neigh::Neighbours;
    use std::net::Ipv6Addr;
    let mut s = server(plan_with((100, 149), &[], &[]));
    let x = offer(s.handle(secs(0), &discover(1))).yiaddr;
    ack(s.handle(
        secs(0),
        &Req {
            hostname: Some(b"laptop".to_vec()),
            ..selecting(1, x)
        },
    ));
    dora(&mut s, secs(0), 2); // unnamed
    let stable: Ipv6Addr = "2001:db8::5054:ff:fe12:3456".parse().unwrap();
    let privacy: Ipv6Addr = "2001:db8::8d1:2f3c:a01:77e4".parse().unwrap();
    let other: Ipv6Addr = "fd00::2".parse().unwrap();
    let m = |n: u32| <[u8; 6]>::try_from(mac(n).as_bytes()).unwrap();
    assert!(s.refresh_host_table(secs(1).wall).is_some());
    s.set_neighbours(Arc::new(Neighbours::new([
        (m(1), stable),
        (m(1), privacy),
        (m(2), other),
        (m(3), "fd00::3".parse().unwrap()),
    ])));
    let t = s.refresh_host_table(secs(1).wall).expect("new neighbours");
    assert_eq!(
        t.addrs6("laptop"),
        &[privacy, stable],
        "each MAC's addresses in order"
    );
    assert_eq!(t.addrs("laptop"), &[x]);
    assert_eq!(t.name6(privacy), Some("laptop"));
    assert_eq!(t.name6(stable), Some("laptop"));
    assert_eq!(t.name6(other), None, "client 2 has no name");
    // The same neighbours again: nothing to rebuild.
    s.set_neighbours(Arc::new(Neighbours::new([
        (m(2), other),
        (m(1), privacy),
        (m(1), stable),
        (m(3), "fd00::3".parse().unwrap()),
    ])));
    assert!(s.refresh_host_table(secs(2).wall).is_none());
    // The privacy address's entry goes: so does its AAAA and PTR.
    s.set_neighbours(Arc::new(Neighbours::new([(m(1), stable)])));
    let t = s
        .refresh_host_table(secs(3).wall)
        .expect("one address gone");
    assert_eq!(t.addrs6("laptop"), &[stable]);
    assert_eq!(t.name6(privacy), None);
    // The lease expires: the name and its IPv6 addresses go with it.
    let t = s.refresh_host_table(secs(3601).wall).expect("expired");
    assert_eq!(t.addrs6("laptop"), &[] as &[Ipv6Addr]);
    assert_eq!(t.name6(stable), None);
}

/// The table is rebuilt only when it may have changed: not for a commit
/// of an unnamed lease nor the renewal of an active named one.
#[test]
fn the_host_table_is_rebuilt_only_when_it_may_have_changed() {
    let mut s = server(plan_with(
        (100, 149),
        &["02:00:00:00:00:0a,192.168.1.10,printer"],
        &[],
    ));
    let t = s.refresh_host_table(secs(0).wall).expect("the first one");
    assert_eq!(t.addrs("printer"), &[lan(10)]);
    assert!(s.refresh_host_table(secs(0).wall).is_none());
    dora(&mut s, secs(1), 1);
    assert!(s.refresh_host_table(secs(1).wall).is_none(), "no name");
    let x = offer(s.handle(secs(2), &discover(2))).yiaddr;
    let r = Req {
        hostname: Some(b"tv".to_vec()),
        ..selecting(2, x)
    };
    ack(s.handle(secs(2), &r));
    let t = s.refresh_host_table(secs(2).wall).expect("a new name");
    assert_eq!(t.addrs("tv"), &[x]);
    ack(s.handle(secs(1800), &renewing(2, x)));
    assert!(s.refresh_host_table(secs(1800).wall).is_none(), "renewed");
    // The first lease ran out at 3602 s; the renewed one runs to 5400 s.
    let t = s.refresh_host_table(secs(3602).wall).expect("an expiry");
    assert_eq!(t.addrs("tv"), &[x]);
    let t = s.refresh_host_table(secs(5400).wall).expect("its expiry");
    assert_eq!(t.addrs("tv"), &[] as &[Ipv4Addr]);
    assert!(s.refresh_host_table(secs(5401).wall).is_none());
    s.reconfigure(plan_with((100, 149), &[], &[]));
    let t = s.refresh_host_table(secs(5402).wall).expect("a reload");
    assert!(t.is_empty());
    // A clock set back: a lease expired then may be active again.
    assert!(s.refresh_host_table(secs(10).wall).is_some());
}

/// Random named churn (names shared between clients, renewals, releases,
/// declines, hours passing, the clock set back, reloads): the table
/// published through `refresh_host_table` always equals one built from
/// scratch, so skipping rebuilds never hides a change from DNS.
#[test]
fn property_the_published_host_table_is_never_stale() {
    let hosts = ["02:00:00:00:00:0a,192.168.1.10,printer"];
    let mut s = server(plan_with((100, 119), &hosts, &[]));
    let mut rng = Rng::new(0x1234_5678_9abc_def1);
    let mut published = s.refresh_host_table(secs(0).wall).unwrap();
    let (mut ms, mut rebuilt) = (0u64, 0);
    for step in 0..4_000 {
        ms = match rng.below(100) {
            0 => ms.saturating_sub(rng.below(600_000)),
            1 => ms + rng.below(2 * 3_600_000),
            _ => ms + rng.below(30_000),
        };
        let now = at(ms);
        let n = rng.below(30) as u32;
        let name = (rng.below(3) > 0).then(|| format!("host{}", rng.below(12)).into_bytes());
        let mine = s
            .db()
            .of_client(&ClientKey::Hw(mac(n)))
            .map(|l| l.ip())
            .unwrap_or(lan(100 + rng.below(20) as u8));
        let r = match rng.below(10) {
            0..=3 => {
                let y = match s.handle(now, &discover(n)) {
                    Outcome::Reply(a) => a.yiaddr,
                    _ => continue,
                };
                selecting(n, y)
            }
            4..=6 => renewing(n, mine),
            7 => release(n, mine),
            8 => decline(n, mine),
            _ => {
                let hosts: &[&str] = if rng.below(2) == 0 { &hosts } else { &[] };
                s.reconfigure(plan_with((100, 119), hosts, &[]));
                init_reboot(n, mine)
            }
        };
        s.handle(
            now,
            &Req {
                hostname: name,
                ..r
            },
        );
        if rng.below(4) > 0 {
            // The driver publishes after most commits and every second.
            if let Some(t) = s.refresh_host_table(now.wall) {
                published = t;
                rebuilt += 1;
            }
            assert_eq!(published, s.host_table(now.wall), "step {step}");
        }
    }
    assert!(rebuilt > 100 && rebuilt < 2_500, "{rebuilt} rebuilds");
}

// ---- a bounded property test -------------------------------------------------------

/// Random DISCOVER / REQUEST (all four states) / DECLINE / RELEASE / INFORM
/// from 50 clients against a pool of 20, the peer's range and addresses
/// outside both, with time running. After every step: the lease store fed
/// only the emitted changes equals the bindings in memory; one address per
/// client and one client per address; no offer of a bound address to
/// someone else; nothing bound while quarantined; every upsert inside a
/// subnet with the right expiry; a new client is offered our own range
/// only; the active count stays within `dhcp-lease-max`.
#[test]
fn property_random_client_churn_keeps_the_invariants() {
    const CLIENTS: u32 = 50;
    const LEASE_MAX: usize = 25;
    let mut p = plan_with((100, 119), &[], &[]);
    p.lease_max = LEASE_MAX as u32;
    let mut s = server(p);
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut store: BTreeMap<Ipv4Addr, Lease> = BTreeMap::new();
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut ms: u64 = 0;
    let ids: Vec<Option<Vec<u8>>> = (0..CLIENTS)
        .map(|n| (n >= 40).then(|| vec![0xff, n as u8, 0x42]))
        .collect();

    for step in 0..5_000 {
        // Mostly seconds apart, sometimes a minute, rarely hours (when most
        // leases run out at once).
        ms += match rng.below(200) {
            0 => rng.below(2 * 3_600_000),
            1..=40 => rng.below(60_000),
            _ => rng.below(2_000),
        };
        let now = at(ms);
        let n = rng.below(u64::from(CLIENTS)) as u32;
        let with_id = |r: Req| Req {
            client_id: ids[n as usize].clone(),
            ..r
        };
        let key = ClientKey::new(ids[n as usize].as_deref(), mac(n));
        let bound = s.db().of_client(&key).map(PackedLease::to_lease);
        let mine = bound.as_ref().map(|l| l.ip);
        // An address: mostly the client's own or one of the pool, else the
        // peer's range, outside both, or another network.
        let addr = match rng.below(10) {
            0..=2 => mine.unwrap_or(lan(100 + rng.below(20) as u8)),
            3..=5 => lan(100 + rng.below(20) as u8),
            6 => lan(150 + rng.below(50) as u8),
            7 => lan(90 + rng.below(120) as u8),
            8 => net9(rng.below(256) as u8),
            _ => Ipv4Addr::new(172, 16, 0, 9),
        };
        let r = match rng.below(12) {
            0 | 1 => discover(n),
            2 => Req {
                requested: Some(addr),
                ..discover(n)
            },
            3 | 4 => {
                // A whole DISCOVER + REQUEST; the REQUEST is checked below.
                let o = s.handle(now, &with_id(discover(n)));
                check_step(&s, now, &o, bound.as_ref(), &mut store, LEASE_MAX);
                match o {
                    Outcome::Reply(a) if rng.below(8) == 0 => Req {
                        server_id: Some(lan(2)),
                        ..selecting(n, a.yiaddr)
                    },
                    Outcome::Reply(a) => selecting(n, a.yiaddr),
                    _ => discover(n),
                }
            }
            5 => selecting(n, addr),
            6 => init_reboot(n, addr),
            7 | 8 => renewing(n, addr),
            9 => rebinding(n, addr),
            10 => match rng.below(2) {
                0 => decline(n, addr),
                _ => release(n, addr),
            },
            _ => inform(n, addr),
        };
        let bound = s.db().of_client(&key).map(PackedLease::to_lease);
        let o = s.handle(now, &with_id(r.clone()));
        let what = match &o {
            Outcome::Reply(a) => format!("{:?}", a.msg),
            Outcome::Silent(x) | Outcome::Store(_, x) => format!("{x:?}"),
        };
        *seen.entry(what).or_default() += 1;
        check_step(&s, now, &o, bound.as_ref(), &mut store, LEASE_MAX);
        if let Outcome::Reply(a) = &o {
            assert_eq!(a.xid, r.xid, "step {step}");
        }
    }
    // Every path was taken, so the invariants were tested on each.
    for k in [
        "Offer",
        "Ack",
        "Nak",
        "NoReplyNeeded",
        "PoolExhausted",
        "LeaseMax",
        "NoRecord",
        "OtherServer",
    ] {
        assert!(
            seen.get(k).copied().unwrap_or(0) > 0,
            "never saw {k}: {seen:?}"
        );
    }
}

/// The invariants of the property test, after one `handle`.
#[track_caller]
fn check_step(
    s: &Server,
    now: Now,
    o: &Outcome,
    bound: Option<&Lease>,
    store: &mut BTreeMap<Ipv4Addr, Lease>,
    lease_max: usize,
) {
    let in_subnet = |ip: Ipv4Addr| s.plan().subnets.iter().any(|sn| sn.usable(ip));
    let changes: &[Change] = match o {
        Outcome::Reply(a) => &a.changes,
        Outcome::Store(c, _) => c,
        Outcome::Silent(_) => &[],
    };
    for c in changes {
        match c {
            Change::Upsert(l) => {
                assert!(in_subnet(l.ip), "upsert outside our subnets: {l:?}");
                store.insert(l.ip, l.clone());
            }
            Change::Remove(ip) => {
                store.remove(ip);
            }
        }
    }
    if let Outcome::Reply(a) = o {
        let sn = s.plan().subnets.iter().find(|sn| sn.contains(a.yiaddr));
        match a.msg {
            MsgType::Offer => {
                let sn = sn.expect("offer inside a subnet");
                // New addresses come from our own range; the peer's range
                // only for a client still holding that address.
                let keeps = bound.is_some_and(|l| l.ip == a.yiaddr && l.is_active(now.wall));
                if bound.is_none() {
                    assert!(
                        sn.own_range(a.yiaddr).is_some(),
                        "new client offered {}",
                        a.yiaddr
                    );
                }
                assert!(
                    !sn.in_peer_range(a.yiaddr) || keeps,
                    "peer-range offer {} to {bound:?}",
                    a.yiaddr
                );
            }
            MsgType::Ack if !a.yiaddr.is_unspecified() => {
                let Some(Change::Upsert(l)) = a.changes.last() else {
                    panic!("ACK without its binding: {a:?}")
                };
                assert_eq!(l.ip, a.yiaddr);
                let secs = if l.ip.octets()[0] == 10 { 7200 } else { 3600 };
                assert_eq!(l.expires, UnixTime(now.wall.0 + secs));
                assert_eq!(opt(a, 51), Some(&be32(secs as u32)[..]));
            }
            _ => {}
        }
    }
    // The store, fed only the changes, is the memory.
    let mem: BTreeMap<Ipv4Addr, Lease> = s.db().iter().map(|l| (l.ip(), l.to_lease())).collect();
    assert_eq!(&mem, store);
    // One address per client, one client per address.
    for l in s.db().iter() {
        assert_eq!(
            s.db().of_client(&l.key()).map(|m| m.ip()),
            Some(l.ip()),
            "{l:?}"
        );
    }
    assert!(s.db().active_count(now.wall) <= lease_max);
    // Expired offers hold nothing (every check compares their deadline
    // with now) and are swept by handle_timeout(); only live ones must be
    // consistent, and the index agrees with itself.
    for (ip, k, until) in s.holds.offers.iter() {
        assert_eq!(
            s.holds.offers.of_client(k),
            Some(ip),
            "one offer per client"
        );
        if until > now.mono {
            assert!(
                !s.db().held_by_other(ip, k, now.wall),
                "{ip} offered to {k:?} but bound to another"
            );
        }
    }
    for (ip, until) in s.holds.quarantined_addrs() {
        if until > now.mono {
            assert!(s.db().get(ip).is_none(), "{ip} bound while quarantined");
        }
    }
}

/// A server with only a relayed subnet identifies itself by its address
/// on the interface the relay's packet came in by, and recognises that
/// identifier in the client's REQUEST (found by the dhcrelay lab test).
#[test]
fn relayed_only_server_uses_the_arrival_interface_address_as_its_id() {
    let upstream = Ipv4Addr::new(10, 1, 0, 1);
    let mut p = plan();
    p.subnets.retain(|s| s.local.is_none());
    p.local_addrs = vec![
        IfAddr {
            name: "lo".into(),
            index: 1,
            addr: Ipv4Addr::LOCALHOST,
            prefix: 8,
        },
        IfAddr {
            name: "eth0".into(),
            index: 7,
            addr: upstream,
            prefix: 24,
        },
    ];
    let mut srv = Server::new(p, Vec::new());
    let relayed = |r: Req| Req {
        giaddr: net9(1),
        ifindex: Some(7),
        ..r
    };
    let o = reply(srv.handle(at(0), &relayed(discover(1))));
    assert_eq!(opt(&o, 54), Some(&upstream.octets()[..]));
    assert_eq!(o.to, Destination::Relay(net9(1)));
    let r = Req {
        server_id: Some(upstream),
        ..relayed(selecting(1, o.yiaddr))
    };
    let a = reply(srv.handle(at(10), &r));
    assert_eq!(a.msg, MsgType::Ack);
    assert_eq!(a.yiaddr, o.yiaddr);
}

#[test]
fn address_counts_per_pool_follow_leases_adoption_and_declines() {
    use crate::dhcp::report::address_counts;
    let mut s = server(plan());
    let x = dora(&mut s, secs(0), 1).yiaddr;
    dora(&mut s, secs(1), 2);
    // A client of the peer's range adopted after a failover.
    ack(s.handle(secs(2), &init_reboot(3, lan(170))));
    // A DECLINEd address: quarantined, and its lease gone.
    s.handle(secs(3), &decline(1, x));
    let c = address_counts(&s, secs(4).wall);
    let row = |pool: &str| c.iter().find(|p| p.pool == pool).unwrap().clone();
    let own = row("192.168.1.100-192.168.1.149");
    assert_eq!(
        (own.total, own.assigned, own.declined, own.peer),
        (50, 1, 1, false)
    );
    assert_eq!(
        own.labels(),
        "subnet=\"192.168.1.0/24\",pool=\"192.168.1.100-192.168.1.149\",scope=\"own\""
    );
    let peer = row("192.168.1.150-192.168.1.199");
    assert_eq!((peer.total, peer.assigned, peer.peer), (50, 1, true));
    let relayed = row("10.9.0.10-10.9.0.200");
    assert_eq!((relayed.total, relayed.assigned), (191, 0));
    // `hamasq status` prints the same counts.
    assert_eq!(
        crate::dhcp::report::ranges(&s, secs(4).wall),
        "dhcp 192.168.1.0/24: leased 192.168.1.100-192.168.1.149 1/50; \
         in the peer's range 192.168.1.150-192.168.1.199 1\n\
         dhcp 10.9.0.0/24: leased 10.9.0.10-10.9.0.200 0/191\n"
    );
    // An hour later every lease has run out.
    let c = address_counts(&s, secs(4000).wall);
    assert!(c.iter().all(|p| p.assigned == 0), "{c:?}");
}

// ---- the HA peer's changes (design §9) --------------------------------------

/// The peer box's plan: the ranges swapped.
fn peer_plan() -> Plan {
    let mut p = plan();
    p.subnets[0].ranges[0].span = Span::new(lan(150), lan(199));
    p.subnets[0].peer = vec![Span::new(lan(100), lan(149))];
    p
}

fn named(r: Req, name: &str) -> Req {
    Req {
        hostname: Some(name.as_bytes().to_vec()),
        ..r
    }
}

#[test]
fn a_peers_lease_is_stored_named_and_renewed_on_this_box() {
    let mut a = server(plan());
    let mut b = server(peer_plan());
    let y = offer(a.handle(secs(0), &named(discover(1), "laptop"))).yiaddr;
    let granted = ack(a.handle(secs(0), &named(selecting(1, y), "laptop")));
    for c in &granted.changes {
        assert_eq!(b.apply_peer(secs(1).wall, c).store, vec![c.clone()]);
    }
    // B answers for the name at once, before any renewal reaches it.
    assert_eq!(
        b.host_table(secs(2).wall).addrs("laptop"),
        [y],
        "the name resolves on the peer"
    );
    // A failover: the client's renewal reaches B, which knows the binding.
    let r = ack(b.handle(secs(1800), &named(renewing(1, y), "laptop")));
    assert_eq!(r.yiaddr, y);
    // The same change again changes nothing (a resend after a reconnect).
    let again = b.apply_peer(secs(1801).wall, &granted.changes[0]);
    assert!(again.conflict.is_none());
}

#[test]
fn two_claims_on_one_address_end_with_the_same_winner_on_both_boxes() {
    let mut a = server(plan());
    let mut b = server(peer_plan());
    // During a partition both boxes bound .160 (B's range): A adopted it
    // for client 2's claim, B for client 1's.
    let on_a = ack(a.handle(secs(0), &init_reboot(2, lan(160))));
    let on_b = ack(b.handle(secs(0), &init_reboot(1, lan(160))));
    let from_b = b.apply_peer(secs(1).wall, &on_a.changes[0]);
    let from_a = a.apply_peer(secs(1).wall, &on_b.changes[0]);
    // Both are conflicts, and both boxes keep client 1 (the lower MAC).
    for got in [&from_a, &from_b] {
        let c = got.conflict.expect("a conflict");
        assert_eq!((c.ip, c.kept, c.lost), (lan(160), mac(1), mac(2)));
    }
    assert_eq!(a.db().get(lan(160)).unwrap().hw(), mac(1));
    assert_eq!(b.db().get(lan(160)).unwrap().hw(), mac(1));
    assert!(from_b.store.is_empty(), "B kept its own");
    // The loser's lease again (a resend, or its renewal during the
    // partition): still refused, but the conflict was already reported.
    let again = b.apply_peer(secs(2).wall, &on_a.changes[0]);
    assert_eq!((again.conflict, again.store.is_empty()), (None, true));
    assert_eq!(b.db().get(lan(160)).unwrap().hw(), mac(1));
    // The loser's next renewal is refused on either box.
    for s in [&mut a, &mut b] {
        nak(s.handle(secs(1800), &renewing(2, lan(160))));
    }
}

/// Issue 13 item 5 (draft-ietf-dhc-failover-12 §5.2.1): with `[ha]`, an
/// ACK lasts at most the MCLT while the peer is out of sync, and for a
/// claim that neither store knows; a known client with the peer in sync,
/// and a reservation, get their full lease.
#[test]
fn without_the_peer_in_sync_a_lease_lasts_at_most_the_mclt() {
    let mut p = plan_with((100, 149), &["02:00:00:00:00:09,192.168.1.140"], &[]);
    p.mclt = Some(Duration::from_secs(300));
    let mut s = server(p);
    let full = {
        let mut solo = server(plan());
        be32(
            match dora(&mut solo, secs(0), 1)
                .options
                .iter()
                .find(|o| o.0 == 51)
            {
                Some((_, v)) => u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
                None => panic!("no lease time"),
            },
        )
    };
    assert_ne!(
        full,
        be32(300),
        "the test needs a lease longer than the MCLT"
    );
    // The peer unreachable: a new client gets the MCLT.
    let a = dora(&mut s, secs(0), 1);
    assert_eq!(opt(&a, 51), Some(&be32(300)[..]), "new lease, peer away");
    // So does a renewal: the peer cannot know of the extension.
    let r = ack(s.handle(secs(100), &renewing(1, a.yiaddr)));
    assert_eq!(opt(&r, 51), Some(&be32(300)[..]), "renewal, peer away");
    // In sync: the known client's renewal gets its full lease...
    s.set_peer_synced(true);
    let r = ack(s.handle(secs(200), &renewing(1, a.yiaddr)));
    assert_eq!(opt(&r, 51), Some(&full[..]), "renewal, in sync");
    // ... a new client too (we offered it, the peer hears of it at once) ...
    let b = dora(&mut s, secs(200), 2);
    assert_eq!(opt(&b, 51), Some(&full[..]), "new lease, in sync");
    // ... but a claim neither store knows (a stale INIT-REBOOT) is cut.
    let stale = ack(s.handle(secs(200), &init_reboot(3, lan(130))));
    assert_eq!(
        opt(&stale, 51),
        Some(&be32(300)[..]),
        "unknown claim, in sync"
    );
    // A reservation is configured alike on both boxes: never cut.
    s.set_peer_synced(false);
    let res = dora(&mut s, secs(300), 9);
    assert_eq!(res.yiaddr, lan(140));
    assert_eq!(opt(&res, 51), Some(&full[..]), "reservation, peer away");
}

#[test]
fn a_peers_removal_never_unbinds_a_live_lease_here() {
    let mut b = server(peer_plan());
    let live = ack(b.handle(secs(0), &init_reboot(1, lan(120))));
    let out = b.apply_peer(secs(1).wall, &Change::Remove(lan(120)));
    assert!(out.store.is_empty());
    assert_eq!(b.db().get(lan(120)).unwrap().hw(), mac(1));
    // An ended one goes.
    let ended = lease(lan(121), 3, None, WALL0 - 10);
    b.apply_peer(secs(1).wall, &Change::Upsert(ended));
    let out = b.apply_peer(secs(2).wall, &Change::Remove(lan(121)));
    assert_eq!(out.store, vec![Change::Remove(lan(121))]);
    assert!(b.db().get(lan(121)).is_none());
    drop(live);
}

// ---- design §5: memory follows the disk ---------------------------------------

fn bindings(s: &Server) -> Vec<Lease> {
    let mut v: Vec<Lease> = s.db().iter().map(PackedLease::to_lease).collect();
    v.sort_by_key(|l| l.ip);
    v
}

/// A failed commit undoes every binding change since the last durable
/// one: new leases go, a moved client is back at its old address, a
/// stolen name is back with its owner, a released or declined lease is
/// back as it was, and the freed addresses can be offered again. What
/// was committed before stays.
#[test]
fn a_failed_commit_rolls_the_bindings_back_to_the_disk() {
    let t = secs(10);
    let loaded = vec![
        lease(lan(120), 1, Some("alpha"), WALL0 + 3600),
        lease(lan(121), 2, Some("beta"), WALL0 + 3600),
        lease(lan(122), 3, None, WALL0 + 3600),
        lease(lan(123), 4, None, WALL0 + 3600),
    ];
    let mut s = Server::new(plan(), loaded);
    // One commit that succeeds: client 10 is bound.
    let first = dora(&mut s, t, 10).yiaddr;
    s.committed(s.undo_mark());
    let durable = bindings(&s);
    // The next batch, all of which fails to reach the disk:
    for n in 20..30 {
        dora(&mut s, t, n);
    }
    // client 1 moves to another address (INIT-REBOOT elsewhere in range),
    ack(s.handle(t, &init_reboot(1, lan(140))));
    // client 5 takes the name "beta" from client 2,
    let named = Req {
        hostname: Some(b"beta".to_vec()),
        ..discover(5)
    };
    let y = offer(s.handle(t, &named)).yiaddr;
    ack(s.handle(
        t,
        &Req {
            hostname: Some(b"beta".to_vec()),
            ..selecting(5, y)
        },
    ));
    // client 3 releases, client 4 declines.
    assert!(matches!(
        s.handle(t, &release(3, lan(122))),
        Outcome::Store(..)
    ));
    assert!(matches!(
        s.handle(t, &decline(4, lan(123))),
        Outcome::Store(..)
    ));
    assert_ne!(bindings(&s), durable);
    let undone = s.roll_back();
    assert!(undone >= 16, "{undone}");
    assert_eq!(bindings(&s), durable);
    assert_eq!(
        s.db().of_client(&ClientKey::Hw(mac(10))).map(|l| l.ip()),
        Some(first)
    );
    assert_eq!(s.db().by_name("beta").map(|l| l.ip()), Some(lan(121)));
    assert!(s.db().of_client(&ClientKey::Hw(mac(20))).is_none());
    // Nothing left to undo: a second failure changes nothing.
    assert_eq!(s.roll_back(), 0);
    assert_eq!(bindings(&s), durable);
    // The addresses of the undone leases are free: 45 more clients fit
    // (50 in the range, 5 bound; .123, quarantined by the DECLINE, is
    // bound again).
    for n in 100..145 {
        dora(&mut s, secs(11), n);
    }
    assert_eq!(
        s.handle(secs(11), &discover(200)),
        silent(Silence::PoolExhausted)
    );
}

/// The undo entries of a durable commit are forgotten: a later failure
/// only undoes what came after it.
#[test]
fn a_rollback_stops_at_the_last_durable_commit() {
    let mut s = server(plan());
    let mut marks = Vec::new();
    for n in 1..=3 {
        dora(&mut s, secs(1), n);
        marks.push((s.undo_mark(), bindings(&s)));
    }
    // The first two batches are on disk, the third fails.
    s.committed(marks[1].0);
    s.roll_back();
    assert_eq!(bindings(&s), marks[1].1);
    assert_eq!(s.undo_mark(), marks[2].0, "positions never go back");
    dora(&mut s, secs(2), 4);
    s.committed(s.undo_mark());
    assert_eq!(s.roll_back(), 0);
    assert_eq!(bindings(&s).len(), 3);
}

/// Issue 17, item 3, as the lab saw it: 30 DISCOVERs a second from
/// random MACs (which never REQUEST) hold the relayed pool of 191
/// addresses in offers; 60 real clients arrive meanwhile, one every half
/// second, and each REQUESTs its offer 20 ms after it (and, when it gets
/// none, DISCOVERs again after 4, 8, 16, 32 and 64 s, RFC 2131 §4.1).
/// Every real client gets an address, within its first DISCOVER.
#[test]
fn a_discover_only_flood_does_not_starve_clients_that_request() {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut s = server(plan());
    let relayed = |r: Req| Req { giaddr: RELAY, ..r };
    let mut rng = crate::testkit::Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut rnd = move || rng.next_u64();
    // (time in ms, client, what, address, try): what 0 = DISCOVER, 1 =
    // REQUEST of the address.
    type Event = (u64, u32, u8, Ipv4Addr, u32);
    const REAL: u32 = 60;
    let mut events: BinaryHeap<Reverse<Event>> = BinaryHeap::new();
    for c in 0..REAL {
        events.push(Reverse((10_000 + u64::from(c) * 500, c, 0, ZERO, 0)));
    }
    let mut next_flood = 0u64;
    let mut first_try: HashMap<u32, u64> = HashMap::new();
    let mut acked: HashMap<u32, (Ipv4Addr, u64)> = HashMap::new();
    let mut flood_offers = 0;
    let end = 200_000;
    let mut t = 0;
    while t < end {
        let real_at = events.peek().map_or(u64::MAX, |Reverse(e)| e.0);
        let timer_at = s.poll_timeout().map_or(u64::MAX, |m| m.0);
        t = next_flood.min(real_at).min(timer_at);
        if t >= end {
            break;
        }
        if timer_at == t {
            s.handle_timeout(at(t));
        }
        if next_flood == t {
            // A random MAC: never the same client twice.
            let n = 0x4000_0000 | (rnd() as u32 & 0x3fff_ffff);
            if let Outcome::Reply(_) = s.handle(at(t), &relayed(discover(n))) {
                flood_offers += 1;
            }
            next_flood += 33;
        }
        if real_at == t {
            let Reverse((_, c, what, ip, k)) = events.pop().unwrap();
            first_try.entry(c).or_insert(t);
            if what == 0 {
                match s.handle(at(t), &relayed(discover(c))) {
                    Outcome::Reply(a) => {
                        events.push(Reverse((t + 20, c, 1, offer(Outcome::Reply(a)).yiaddr, k)))
                    }
                    // Gives up after the sixth DISCOVER.
                    Outcome::Silent(Silence::PoolExhausted) => {
                        if k < 5 {
                            events.push(Reverse((t + (4_000 << k), c, 0, ZERO, k + 1)))
                        }
                    }
                    other => panic!("client {c} at {t} ms: {other:?}"),
                }
            } else {
                let a = ack(s.handle(at(t), &relayed(selecting(c, ip))));
                assert_eq!(a.yiaddr, ip);
                acked.insert(c, (ip, t - first_try[&c]));
            }
        }
    }
    let longest = acked.values().map(|(_, w)| *w).max().unwrap_or(0);
    assert!(
        flood_offers > 191,
        "the flood fills the pool: {flood_offers}"
    );
    assert_eq!(
        acked.len(),
        REAL as usize,
        "{} of {REAL} real clients got an address (longest wait {longest} ms)",
        acked.len()
    );
    // No address twice.
    let distinct: std::collections::HashSet<Ipv4Addr> = acked.values().map(|(ip, _)| *ip).collect();
    assert_eq!(distinct.len(), REAL as usize);
    assert!(
        longest < 1_000,
        "each within its first DISCOVER: {longest} ms"
    );
}

/// A reply says where it leaves from (design §3, like quinn-proto's
/// `Transmit`): our identifier as the source address, and the arrival
/// interface for a reply on the link; routed replies leave the interface
/// to the routing table.
#[test]
fn a_reply_carries_the_address_and_interface_it_leaves_from() {
    let on_link = |ifindex| Origin { addr: ME, ifindex };
    let mut s = server(plan());
    // Broadcast DISCOVER on the local link: OFFER to the hardware address.
    let o = offer(s.handle(secs(1), &discover(1)));
    assert!(matches!(o.to, Destination::Hardware(..)));
    assert_eq!(o.origin, on_link(2));
    let a = ack(s.handle(secs(1), &selecting(1, o.yiaddr)));
    assert_eq!(a.origin, on_link(2));
    // RENEWING, unicast to ciaddr: routed.
    let a = ack(s.handle(secs(2), &renewing(1, o.yiaddr)));
    assert_eq!(
        (a.to.clone(), a.origin),
        (Destination::Client(o.yiaddr), on_link(0))
    );
    // A NAK is broadcast on the link it came by.
    let n = nak(s.handle(secs(3), &selecting(2, net9(50))));
    assert_eq!(
        (n.to.clone(), n.origin),
        (Destination::Broadcast, on_link(2))
    );
    // Relayed: to the relay, routed.
    let r = Req {
        giaddr: RELAY,
        ..discover(3)
    };
    let o = offer(s.handle(secs(4), &r));
    assert_eq!(
        (o.to.clone(), o.origin),
        (Destination::Relay(RELAY), on_link(0))
    );
    // With a VIP on the subnet, the replies leave from the VIP.
    let vip = lan(254);
    let mut p = plan();
    p.subnets[0].vip = Some(vip);
    let mut s = server(p);
    let o = offer(s.handle(secs(1), &discover(1)));
    assert_eq!(
        o.origin,
        Origin {
            addr: vip,
            ifindex: 2
        }
    );
    assert_eq!(opt(&o, 54), Some(&vip.octets()[..]));
}

// ---- operator: `hamasq leases --delete` --------------------------------------

#[test]
fn delete_drops_the_binding_through_the_undo_log() {
    let mut s = server(plan());
    let y = dora(&mut s, at(0), 1).yiaddr;
    s.committed(s.undo_mark());
    assert!(s.delete(lan(200)).is_none(), "nothing bound there");
    let (l, change) = s.delete(y).expect("bound");
    assert_eq!((l.ip, l.hw), (y, mac(1)));
    assert_eq!(change, Change::Remove(y));
    // Gone, not kept expired: no record of the client is left.
    assert!(s.db().get(y).is_none());
    assert!(s.db().of_client(&ClientKey::Hw(mac(1))).is_none());
    assert!(s.delete(y).is_none());
    // A failed commit brings it back, as for every change.
    assert_eq!(s.roll_back(), 1);
    assert_eq!(s.db().get(y).map(|b| b.to_lease().hw), Some(mac(1)));
}

/// `hamasq leases` in a split-scope pair: whose range each lease is in
/// (issue 13 item 7), as a sixth field after dnsmasq's five; without a
/// peer range, dnsmasq's five alone.
#[test]
fn leases_say_whose_range_each_address_is_in() {
    let mut b = server(peer_plan());
    let mut a = server(plan());
    let own = dora(&mut b, secs(0), 1).yiaddr;
    // A's lease, learned over the link.
    let theirs = dora(&mut a, secs(0), 2);
    for c in &theirs.changes {
        b.apply_peer(secs(1).wall, c);
    }
    let text = crate::dhcp::report::leases(&b, secs(2).wall);
    let fields: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(fields.len(), 2, "{text}");
    let of = |ip: Ipv4Addr| {
        fields
            .iter()
            .find(|f| f[2] == ip.to_string())
            .map(|f| f[5])
            .unwrap_or_else(|| panic!("{ip} missing: {text}"))
    };
    assert_eq!(of(own), "own");
    assert_eq!(of(theirs.yiaddr), "peer");
    assert!(fields.iter().all(|f| f.len() == 6));
    // A box without a peer range prints dnsmasq's five fields.
    let mut p = plan();
    for s in &mut p.subnets {
        s.peer.clear();
    }
    let mut alone = server(p);
    dora(&mut alone, secs(0), 3);
    let solo = crate::dhcp::report::leases(&alone, secs(2).wall);
    assert!(!solo.is_empty());
    assert!(solo.lines().all(|l| l.split(' ').count() == 5), "{solo}");
}
