//! Forwarder tests: virtual time, scripted entropy, forged replies, the
//! three policies, TCP fallback, `relay`, and random input that must never
//! panic.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::dns::message::{self, flag, get_u16, put_u16, skip_name};
use crate::testkit::{Rng, dns_query, junk, mutate, never_panics};

const T0: Mono = Mono(1_000_000);

fn ms(n: u64) -> Mono {
    T0 + Duration::from_millis(n)
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const A1: &str = "192.0.2.1:53";
const A2: &str = "192.0.2.2:53";
const A3: &str = "192.0.2.3:5353";

/// Scripted entropy: 0x1001, 0x1002, ... so IDs are known and distinct.
struct Seq(u64);

impl Entropy for Seq {
    fn next_u64(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

fn rng() -> Seq {
    Seq(0x1000)
}

fn q_a(name: &str) -> Vec<u8> {
    dns_query(0x4242, name, 1u16).bytes()
}

fn question_end(p: &[u8]) -> usize {
    skip_name(p, HEADER_LEN).unwrap() + 4
}

/// A reply to `packet` (what we sent): its ID and question, QR, RA, `rc`,
/// one A record per address (owner compressed to the question).
fn reply(packet: &[u8], rc: u8, ips: &[[u8; 4]]) -> Vec<u8> {
    let qend = question_end(packet);
    let mut r = packet[..qend].to_vec();
    put_u16(
        &mut r,
        at::FLAGS,
        flag::QR | flag::RD | flag::RA | rc as u16,
    );
    put_u16(&mut r, at::ANCOUNT, ips.len() as u16);
    put_u16(&mut r, at::ARCOUNT, 0);
    for ip in ips {
        r.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4]);
        r.extend_from_slice(ip);
    }
    r
}

fn ok_reply(packet: &[u8]) -> Vec<u8> {
    reply(packet, 0, &[[10, 0, 0, 1]])
}

/// Appends an upstream OPT: payload 4096, `ext` extended RCODE, DO set,
/// with a 4-byte option, to show that none of it reaches the client.
fn with_upstream_opt(mut r: Vec<u8>, ext: u8) -> Vec<u8> {
    r.extend_from_slice(&[0, 0, 41, 0x10, 0x00, ext, 0, 0x80, 0, 0, 8]);
    r.extend_from_slice(&[0, 10, 0, 4, 1, 2, 3, 4]);
    let ar = get_u16(&r, at::ARCOUNT).unwrap();
    put_u16(&mut r, at::ARCOUNT, ar + 1);
    r
}

fn cfg(policy: Policy, servers: &[&str]) -> ForwardConfig {
    ForwardConfig {
        upstreams: servers.iter().map(|s| UpstreamSpec::new(sa(s))).collect(),
        policy,
        ..ForwardConfig::default()
    }
}

fn fwd(policy: Policy, servers: &[&str]) -> Forwarder<u32> {
    Forwarder::new(cfg(policy, servers))
}

fn drain(f: &mut Forwarder<u32>) -> Vec<Action<u32>> {
    std::iter::from_fn(|| f.poll_action()).collect()
}

#[derive(Clone, Debug)]
struct Sent {
    token: Token,
    to: SocketAddr,
    packet: Vec<u8>,
    tcp: bool,
}

fn sends(actions: &[Action<u32>]) -> Vec<Sent> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendUdp { token, to, packet } => Some(Sent {
                token: *token,
                to: *to,
                packet: packet.clone(),
                tcp: false,
            }),
            Action::SendTcp { token, to, packet } => Some(Sent {
                token: *token,
                to: *to,
                packet: packet.clone(),
                tcp: true,
            }),
            _ => None,
        })
        .collect()
}

fn closes(actions: &[Action<u32>]) -> Vec<Token> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Close { token } => Some(*token),
            _ => None,
        })
        .collect()
}

/// The single Answer among `actions`: (response, clients, cacheable).
fn answer(actions: &[Action<u32>]) -> (Vec<u8>, Vec<u32>, bool) {
    let mut it = actions.iter().filter_map(|a| match a {
        Action::Answer {
            response,
            clients,
            cacheable,
            ..
        } => Some((response.clone(), clients.clone(), *cacheable)),
        _ => None,
    });
    let a = it.next().expect("an answer");
    assert!(it.next().is_none(), "one answer");
    a
}

fn failed(actions: &[Action<u32>]) -> Option<Vec<u32>> {
    actions.iter().find_map(|a| match a {
        Action::Fail { clients } => Some(clients.clone()),
        _ => None,
    })
}

fn id_of(p: &[u8]) -> u16 {
    get_u16(p, at::ID).unwrap()
}

/// Submits one client query and returns the single UDP send it caused.
fn submit_one(f: &mut Forwarder<u32>, now: Mono, q: &[u8], client: u32, r: &mut Seq) -> Sent {
    assert_eq!(f.submit(now, q, client, r), Submitted::Sent);
    let s = sends(&drain(f));
    assert_eq!(s.len(), 1, "{s:?}");
    s[0].clone()
}

// ---- the query we send (RFC 5452 §9.2, RFC 6891 §6.1.1) ----

#[test]
fn query_sent_upstream_is_rebuilt_from_the_question() {
    let mut f = fwd(Policy::StrictOrder, &[A1]);
    let mut r = rng();
    let mut q = dns_query(0xBEEF, "WwW.Example.COM", 28u16)
        .edns(4096, true)
        .bytes();
    q[3] |= flag::CD as u8; // the client's CD is not forwarded
    let s = submit_one(&mut f, T0, &q, 1, &mut r);
    assert_eq!(s.to, sa(A1));
    assert!(!s.tcp);
    let p = &s.packet;
    assert_eq!(id_of(p), 0x1001, "ID from the caller's entropy");
    assert_eq!(get_u16(p, at::FLAGS), Some(flag::RD), "RD=1 only");
    assert_eq!(get_u16(p, at::QDCOUNT), Some(1));
    assert_eq!(get_u16(p, at::ANCOUNT), Some(0));
    assert_eq!(get_u16(p, at::NSCOUNT), Some(0));
    assert_eq!(get_u16(p, at::ARCOUNT), Some(1));
    let qend = question_end(p);
    assert_eq!(&p[12..qend], &q[12..qend], "QNAME as the client wrote it");
    // Our OPT: payload 1232, version 0, the client's DO; not the client's
    // payload.
    assert_eq!(&p[qend..], &[0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]);
    let v = QueryView::parse(p).unwrap();
    assert_eq!(v.edns.unwrap().payload, message::EDNS_UDP_PAYLOAD);
    assert!(v.dnssec_ok());

    // Without client EDNS: still our OPT, DO clear; another ID.
    let s2 = submit_one(
        &mut f,
        T0,
        &dns_query(1, "b.example", 1u16).bytes(),
        2,
        &mut r,
    );
    let qend = question_end(&s2.packet);
    assert_eq!(
        &s2.packet[qend..],
        &[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]
    );
    assert_ne!(id_of(&s2.packet), id_of(p));
    assert_ne!(s2.token, s.token);
}

#[test]
fn invalid_client_query_is_handed_back() {
    let mut f = fwd(Policy::Fastest, &[A1]);
    let mut q = q_a("a.example");
    q.push(0);
    assert_eq!(
        f.submit(T0, &q, 7, &mut rng()),
        Submitted::Invalid(7),
        "trailing bytes"
    );
    assert!(drain(&mut f).is_empty());
    assert_eq!(f.stats().invalid, 1);
}

// ---- matching (RFC 5452 §9.1) ----

#[test]
fn genuine_reply_is_accepted_and_delivered() {
    let mut f = fwd(Policy::StrictOrder, &[A1]);
    let mut r = rng();
    let s = submit_one(&mut f, T0, &q_a("a.example"), 1, &mut r);
    assert_eq!(f.poll_timeout(), Some(ms(500)), "initial per-try timeout");
    let resp = ok_reply(&s.packet);
    assert_eq!(
        f.handle_udp_reply(ms(20), s.token, sa(A1), &resp, &mut r),
        Verdict::Accepted
    );
    let acts = drain(&mut f);
    let (got, clients, cacheable) = answer(&acts);
    assert_eq!(got, resp, "as received");
    assert_eq!(clients, vec![1]);
    assert!(cacheable);
    assert_eq!(closes(&acts), vec![s.token]);
    assert!(matches!(&acts[0], Action::Answer { question: Some(q), .. }
        if q.qtype() == 1 && !q.dnssec_ok()));
    assert_eq!(f.poll_timeout(), None);
    assert_eq!(f.inflight(), 0);
    let st = f.stats();
    assert_eq!(
        (st.sent, st.accepted, st.answered, st.inflight),
        (1, 1, 1, 0)
    );
    let sv = f.servers();
    assert_eq!(sv[0].queries, 1);
    assert_eq!(sv[0].srtt_ms, Some(20));
    // The token is gone: a duplicate is late.
    assert_eq!(
        f.handle_udp_reply(ms(21), s.token, sa(A1), &resp, &mut r),
        Verdict::Dropped(DropReason::UnknownToken)
    );
    assert_eq!(f.stats().drops.unknown_token, 1);
}

#[test]
fn forged_replies_are_dropped_and_counted_and_the_genuine_one_still_wins() {
    let mut f = fwd(Policy::StrictOrder, &[A1]);
    let mut r = rng();
    let s = submit_one(&mut f, T0, &q_a("www.example.com"), 1, &mut r);
    let good = ok_reply(&s.packet);
    let qend = question_end(&s.packet);

    let mut forged: Vec<(&str, SocketAddr, Vec<u8>, DropReason)> = Vec::new();
    forged.push((
        "other ip",
        sa("192.0.2.99:53"),
        good.clone(),
        DropReason::WrongSource,
    ));
    forged.push((
        "other port",
        sa("192.0.2.1:54"),
        good.clone(),
        DropReason::WrongSource,
    ));
    let mut m = good.clone();
    put_u16(&mut m, at::ID, id_of(&good) ^ 0x0100);
    forged.push(("id", sa(A1), m, DropReason::WrongId));
    let mut m = good.clone();
    m[2] &= 0x7F;
    forged.push(("qr=0", sa(A1), m, DropReason::NotResponse));
    let mut m = good.clone();
    m[2] |= 0x10; // opcode 2 (STATUS)
    forged.push(("opcode", sa(A1), m, DropReason::NotResponse));
    let mut m = good.clone();
    put_u16(&mut m, at::QDCOUNT, 0);
    m.drain(12..qend);
    m.truncate(12);
    put_u16(&mut m, at::ANCOUNT, 0);
    forged.push(("no question", sa(A1), m, DropReason::NoQuestion));
    let mut m = good.clone();
    m[13] = b'x'; // wwx.example.com
    forged.push(("name", sa(A1), m, DropReason::WrongQuestion));
    let mut m = good.clone();
    put_u16(&mut m, qend - 4, 28);
    forged.push(("type", sa(A1), m, DropReason::WrongQuestion));
    let mut m = good.clone();
    put_u16(&mut m, qend - 2, 3);
    forged.push(("class", sa(A1), m, DropReason::WrongQuestion));
    let mut m = good.clone();
    put_u16(&mut m, at::QDCOUNT, 2);
    forged.push(("two questions", sa(A1), m, DropReason::WrongQuestion));
    forged.push((
        "short header",
        sa(A1),
        good[..11].to_vec(),
        DropReason::Malformed,
    ));
    forged.push((
        "question cut",
        sa(A1),
        good[..qend - 1].to_vec(),
        DropReason::Malformed,
    ));
    forged.push((
        "record cut",
        sa(A1),
        good[..good.len() - 1].to_vec(),
        DropReason::Malformed,
    ));
    let mut m = good.clone();
    put_u16(&mut m, at::ANCOUNT, 5);
    forged.push(("counts lie", sa(A1), m, DropReason::Malformed));

    let mut expect = DropStats::default();
    for (what, from, bytes, reason) in forged {
        assert_eq!(
            f.handle_udp_reply(ms(5), s.token, from, &bytes, &mut r),
            Verdict::Dropped(reason),
            "{what}"
        );
        assert!(drain(&mut f).is_empty(), "{what}: no action");
        expect.count(reason);
    }
    // A reply on a token that never existed.
    assert_eq!(
        f.handle_udp_reply(ms(5), Token(999_999), sa(A1), &good, &mut r),
        Verdict::Dropped(DropReason::UnknownToken)
    );
    expect.count(DropReason::UnknownToken);
    assert_eq!(f.stats().drops, expect);
    assert_eq!(f.stats().accepted, 0);
    assert_eq!(f.inflight(), 1, "still outstanding");

    // Case differences are fine (RFC 4343), and the genuine answer wins.
    let mut upper = good.clone();
    upper[13..16].copy_from_slice(b"WWW");
    assert_eq!(
        f.handle_udp_reply(ms(30), s.token, sa(A1), &upper, &mut r),
        Verdict::Accepted
    );
    let (resp, clients, cacheable) = answer(&drain(&mut f));
    assert_eq!((resp, clients, cacheable), (upper, vec![1], true));
}

#[test]
fn ipv4_mapped_source_matches() {
    let mut f = fwd(Policy::StrictOrder, &[A1]);
    let mut r = rng();
    let s = submit_one(&mut f, T0, &q_a("a.example"), 1, &mut r);
    assert_eq!(
        f.handle_udp_reply(
            ms(1),
            s.token,
            sa("[::ffff:192.0.2.1]:53"),
            &ok_reply(&s.packet),
            &mut r
        ),
        Verdict::Accepted
    );
}

#[test]
fn randomized_case_must_come_back_exactly() {
    let mut c = cfg(Policy::StrictOrder, &[A1]);
    c.randomize_case = true;
    let mut f: Forwarder<u32> = Forwarder::new(c);
    // Entropy: the ID, then case bits 0b1010... for the name.
    let mut vals = vec![0x7777u64, 0xAAAA_AAAA_AAAA_AAAA].into_iter();
    let mut r = move || vals.next().unwrap_or(0);
    assert_eq!(
        f.submit(T0, &q_a("abcd.example"), 1, &mut r),
        Submitted::Sent
    );
    let s = sends(&drain(&mut f)).remove(0);
    let qend = question_end(&s.packet);
    let name = &s.packet[12..qend - 4];
    assert_eq!(name, b"\x04AbCd\x07eXaMpLe\x00");
    let mut lower = ok_reply(&s.packet);
    lower[12..qend - 4].make_ascii_lowercase();
    assert_eq!(
        f.handle_udp_reply(ms(1), s.token, sa(A1), &lower, &mut r),
        Verdict::Dropped(DropReason::WrongQuestion)
    );
    assert_eq!(
        f.handle_udp_reply(ms(2), s.token, sa(A1), &ok_reply(&s.packet), &mut r),
        Verdict::Accepted
    );
}

// ---- coalescing (RFC 5452 §5) and limits ----

#[test]
fn identical_questions_share_one_upstream_query() {
    let mut f = fwd(Policy::StrictOrder, &[A1]);
    let mut r = rng();
    let q1 = dns_query(0x0001, "a.example", 1u16).bytes();
    let s = submit_one(&mut f, T0, &q1, 1, &mut r);
    let cases = ["A.example", "a.EXAMPLE", "A.EXAMPLE", "a.example"];
    let mut queries = vec![q1];
    for (i, n) in cases.iter().enumerate() {
        let q = dns_query(0x0100 + i as u16, n, 1u16).bytes();
        assert_eq!(
            f.submit(ms(1), &q, 2 + i as u32, &mut r),
            Submitted::Coalesced
        );
        queries.push(q);
    }
    assert!(drain(&mut f).is_empty(), "no more sends");
    assert_eq!(f.stats().coalesced, 4);
    assert_eq!(f.stats().sent, 1);
    assert_eq!(
        f.handle_udp_reply(ms(9), s.token, sa(A1), &ok_reply(&s.packet), &mut r),
        Verdict::Accepted
    );
    let (resp, clients, _) = answer(&drain(&mut f));
    assert_eq!(clients, vec![1, 2, 3, 4, 5]);
    // Each client gets its own ID and case back.
    let mut out = Vec::new();
    for q in &queries {
        assert!(relay(q, &resp, Transport::Udp, &mut out));
        assert_eq!(id_of(&out), id_of(q));
        let qend = question_end(q);
        assert_eq!(&out[12..qend], &q[12..qend]);
    }
}

#[test]
fn different_do_bit_is_a_different_question() {
    let mut f = fwd(Policy::StrictOrder, &[A1]);
    let mut r = rng();
    submit_one(
        &mut f,
        T0,
        &dns_query(1, "a.example", 1u16).edns(1232, false).bytes(),
        1,
        &mut r,
    );
    submit_one(
        &mut f,
        T0,
        &dns_query(2, "a.example", 1u16).edns(1232, true).bytes(),
        2,
        &mut r,
    );
    // No OPT and an OPT without DO are the same question.
    assert_eq!(
        f.submit(T0, &dns_query(3, "a.example", 1u16).bytes(), 3, &mut r),
        Submitted::Coalesced
    );
    // Another type is another question.
    submit_one(
        &mut f,
        T0,
        &dns_query(4, "a.example", 28u16).bytes(),
        4,
        &mut r,
    );
    assert_eq!(f.inflight(), 3);
}

#[test]
fn clients_per_question_are_bounded() {
    let mut c = cfg(Policy::StrictOrder, &[A1]);
    c.max_clients_per_query = 3;
    let mut f: Forwarder<u32> = Forwarder::new(c);
    let mut r = rng();
    let q = q_a("a.example");
    assert_eq!(f.submit(T0, &q, 1, &mut r), Submitted::Sent);
    assert_eq!(f.submit(T0, &q, 2, &mut r), Submitted::Coalesced);
    assert_eq!(f.submit(T0, &q, 3, &mut r), Submitted::Coalesced);
    assert_eq!(f.submit(T0, &q, 4, &mut r), Submitted::Overloaded(4));
    assert_eq!(f.stats().overloaded, 1);
}

#[test]
fn dns_forward_max_bounds_distinct_questions_per_upstream() {
    let mut c = cfg(Policy::StrictOrder, &[A1]);
    c.max_inflight = 2;
    let mut f: Forwarder<u32> = Forwarder::new(c);
    let mut r = rng();
    let s = submit_one(&mut f, T0, &q_a("a.example"), 1, &mut r);
    submit_one(&mut f, T0, &q_a("b.example"), 2, &mut r);
    assert_eq!(f.servers()[0].inflight, 2);
    assert_eq!(
        f.submit(T0, &q_a("c.example"), 3, &mut r),
        Submitted::Overloaded(3)
    );
    // Joining an outstanding question is still fine.
    assert_eq!(
        f.submit(T0, &q_a("a.example"), 4, &mut r),
        Submitted::Coalesced
    );
    f.handle_udp_reply(ms(5), s.token, sa(A1), &ok_reply(&s.packet), &mut r);
    drain(&mut f);
    assert_eq!(
        f.servers()[0].inflight,
        1,
        "the answered question freed its slot"
    );
    submit_one(&mut f, ms(6), &q_a("c.example"), 5, &mut r);
    assert_eq!(f.stats().overloaded, 1);
}

/// Issue 17 item 2: a flood of random names under a domain whose server
/// never answers fills that server's quota only; names for the healthy
/// default upstream are still forwarded and answered, and the overflow is
/// handed back at once (the caller answers it), never queued in silence.
#[test]
fn a_dead_domain_upstream_does_not_starve_the_others() {
    const DEAD: &str = "10.9.9.9:53";
    let mut f: Forwarder<u32> = Forwarder::new(ForwardConfig {
        upstreams: vec![
            UpstreamSpec::new(sa(A1)),
            UpstreamSpec::for_domains(sa(DEAD), ["corp"]),
        ],
        max_inflight: 20,
        ..ForwardConfig::default()
    });
    let mut r = rng();
    let (mut forwarded, mut overloaded) = (0, 0);
    let mut healthy_answered = 0;
    // 200 queries a second for 3 s at the dead domain, and every 100 ms a
    // normal name through A1, answered 10 ms later.
    for i in 0..600u32 {
        let now = ms(5 * i as u64);
        f.handle_timeout(now, &mut r);
        drain(&mut f);
        match f.submit(now, &q_a(&format!("r{i}.corp")), i, &mut r) {
            Submitted::Sent => forwarded += 1,
            Submitted::Overloaded(c) => {
                assert_eq!(c, i);
                overloaded += 1;
            }
            other => panic!("{other:?}"),
        }
        for s in sends(&drain(&mut f)) {
            assert_eq!(s.to, sa(DEAD), "corp names go only to their server");
        }
        if i % 20 == 0 {
            let s = submit_one(
                &mut f,
                now,
                &q_a(&format!("n{i}.example")),
                10_000 + i,
                &mut r,
            );
            assert_eq!(s.to, sa(A1));
            let later = now + Duration::from_millis(10);
            assert_eq!(
                f.handle_udp_reply(later, s.token, sa(A1), &ok_reply(&s.packet), &mut r),
                Verdict::Accepted
            );
            assert_eq!(answer(&drain(&mut f)).1, vec![10_000 + i]);
            healthy_answered += 1;
        }
        assert!(f.servers()[1].inflight <= 20);
    }
    assert_eq!(healthy_answered, 30, "every normal name answered");
    assert!(overloaded > 0 && forwarded > 0, "{forwarded} {overloaded}");
    assert_eq!(forwarded + overloaded, 600);
    assert_eq!(f.stats().overloaded, overloaded);
}

// ---- routing (dnsmasq server=/domain/IP) ----

#[test]
fn longest_domain_suffix_wins_then_default() {
    let ups = vec![
        UpstreamSpec::new(sa("10.0.0.1:53")),
        UpstreamSpec::for_domains(sa("10.0.0.2:53"), ["lan"]),
        UpstreamSpec::for_domains(sa("10.0.0.3:53"), [".Sub.LAN.", "corp.example"]),
        UpstreamSpec::for_domains(sa("10.0.0.4:53"), ["corp.example"]),
    ];
    let mut f: Forwarder<u32> = Forwarder::new(ForwardConfig {
        upstreams: ups,
        policy: Policy::StrictOrder,
        ..ForwardConfig::default()
    });
    let mut r = rng();
    let cases = [
        ("x.sub.lan", "10.0.0.3:53"),
        ("SUB.lan", "10.0.0.3:53"),
        ("a.lan", "10.0.0.2:53"),
        ("lan", "10.0.0.2:53"),
        ("xsub.lan", "10.0.0.2:53"),
        ("notlan", "10.0.0.1:53"),
        ("example.com", "10.0.0.1:53"),
        ("h.corp.example", "10.0.0.3:53"),
    ];
    for (name, want) in cases {
        let s = submit_one(&mut f, T0, &q_a(name), 1, &mut r);
        assert_eq!(s.to, sa(want), "{name}");
    }
    // Both corp.example servers form one group, in configured order.
    let s = sends(&{
        f.handle_timeout(ms(500), &mut r);
        drain(&mut f)
    });
    assert!(
        s.iter().any(|x| x.to == sa("10.0.0.4:53")),
        "second corp.example server after the first timed out: {s:?}"
    );
}

#[test]
fn no_default_server_means_no_server() {
    let mut f: Forwarder<u32> = Forwarder::new(ForwardConfig {
        upstreams: vec![UpstreamSpec::for_domains(sa(A1), ["lan"])],
        ..ForwardConfig::default()
    });
    let mut r = rng();
    assert_eq!(
        f.submit(T0, &q_a("example.org"), 9, &mut r),
        Submitted::NoServer(9)
    );
    assert_eq!(f.stats().no_server, 1);
    submit_one(&mut f, T0, &q_a("pc.lan"), 1, &mut r);
    let mut empty: Forwarder<u32> = Forwarder::new(ForwardConfig::default());
    assert_eq!(
        empty.submit(T0, &q_a("pc.lan"), 2, &mut r),
        Submitted::NoServer(2)
    );
}

// ---- policies and timeouts ----

#[test]
fn strict_order_walks_the_list_on_timeouts_then_fails() {
    let mut f = fwd(Policy::StrictOrder, &[A1, A2, A3]);
    let mut r = rng();
    let q = q_a("a.example");
    let s1 = submit_one(&mut f, T0, &q, 1, &mut r);
    assert_eq!(f.submit(ms(100), &q, 2, &mut r), Submitted::Coalesced);
    assert_eq!(s1.to, sa(A1));
    let mut seen = vec![(0, s1.to)];
    let mut ids = HashSet::from([id_of(&s1.packet)]);
    let mut fail = None;
    while let Some(t) = f.poll_timeout() {
        f.handle_timeout(t, &mut r);
        let acts = drain(&mut f);
        for s in sends(&acts) {
            assert!(ids.insert(id_of(&s.packet)), "fresh ID per retry");
            seen.push((t.0 - T0.0, s.to));
        }
        if let Some(c) = failed(&acts) {
            fail = Some((t, c, closes(&acts).len()));
        }
    }
    let expect: Vec<(u64, SocketAddr)> = vec![
        (0, sa(A1)),
        (500, sa(A2)),
        (1000, sa(A3)),
        // The second round waits twice as long (RFC 6298 §5.5).
        (1500, sa(A1)),
        (2500, sa(A2)),
        (3500, sa(A3)),
    ];
    assert_eq!(seen, expect);
    // The last try timed out at 4500; its sockets stay open for a late
    // answer until the 5 s give-up.
    let (t, clients, closed) = fail.expect("Fail");
    assert_eq!(t, ms(5000));
    assert_eq!(clients, vec![1, 2]);
    assert_eq!(closed, 6, "every socket closed");
    let st = f.stats();
    assert_eq!((st.timeouts, st.retries, st.failed), (6, 5, 1));
    for s in f.servers() {
        assert_eq!((s.queries, s.failed), (2, 2), "{s:?}");
    }
}

#[test]
fn deadline_caps_the_query() {
    let mut c = cfg(Policy::StrictOrder, &[A1, A2, A3]);
    c.try_timeout = Duration::from_secs(2);
    let mut f: Forwarder<u32> = Forwarder::new(c);
    let mut r = rng();
    submit_one(&mut f, T0, &q_a("a.example"), 1, &mut r);
    let mut last = T0;
    while let Some(t) = f.poll_timeout() {
        last = t;
        f.handle_timeout(t, &mut r);
        drain(&mut f);
    }
    assert_eq!(last, ms(5000));
    assert_eq!(f.stats().sent, 3);
    assert_eq!(f.stats().failed, 1);
}

#[test]
fn late_answer_from_the_first_server_is_still_accepted() {
    let mut f = fwd(Policy::StrictOrder, &[A1, A2]);
    let mut r = rng();
    let s1 = submit_one(&mut f, T0, &q_a("a.example"), 1, &mut r);
    f.handle_timeout(ms(500), &mut r);
    let s2 = sends(&drain(&mut f)).remove(0);
    assert_eq!(s2.to, sa(A2));
    assert_ne!(s2.token, s1.token);
    assert_ne!(id_of(&s2.packet), id_of(&s1.packet));
    // A1's answer must carry A1's ID: A2's ID on A1's socket is forged.
    assert_eq!(
        f.handle_udp_reply(ms(600), s1.token, sa(A1), &ok_reply(&s2.packet), &mut r),
        Verdict::Dropped(DropReason::WrongId)
    );
    assert_eq!(
        f.handle_udp_reply(ms(700), s1.token, sa(A1), &ok_reply(&s1.packet), &mut r),
        Verdict::Accepted
    );
    let acts = drain(&mut f);
    assert_eq!(answer(&acts).1, vec![1]);
    let mut c = closes(&acts);
    c.sort();
    assert_eq!(c, vec![s1.token, s2.token]);
    // A1 timed out once but answered: counted failed, no longer down.
    let a1 = f.servers()[0];
    assert_eq!(a1.failed, 1);
    assert_eq!(a1.down_until, None);
    assert_eq!(a1.srtt_ms, Some(700));
}

/// Issue 17 item 4: an upstream that takes 1.2 s from the start. Before,
/// two 500 ms tries ended the query in SERVFAIL at 1 s and the late answer
/// was dropped, so its slowness was never learned. Now the first query is
/// answered by that late answer (the socket stays open until the 5 s
/// give-up), its RTT is learned, and every later query is answered by its
/// first send, with no retransmission.
#[test]
fn an_upstream_slower_than_a_second_is_answered_and_learned() {
    let mut f = fwd(Policy::Fastest, &[A1]);
    let mut r = rng();
    let slow = Duration::from_millis(1200);
    let mut now = T0;
    for i in 0..10u32 {
        let q = q_a(&format!("q{i}.example"));
        assert_eq!(f.submit(now, &q, i, &mut r), Submitted::Sent);
        // The upstream answers each send 1.2 s after it left.
        let mut in_flight: Vec<(Mono, Sent)> = sends(&drain(&mut f))
            .into_iter()
            .map(|s| (now + slow, s))
            .collect();
        let mut got = None;
        let mut sent = in_flight.len();
        while got.is_none() {
            let next_reply = in_flight.iter().map(|(t, _)| *t).min();
            let wake = f.poll_timeout();
            let reply_first = match (next_reply, wake) {
                (Some(t), Some(w)) => t < w,
                (Some(_), None) => true,
                (None, _) => false,
            };
            let acts = match (next_reply, wake) {
                (Some(t), _) if reply_first => {
                    let k = in_flight.iter().position(|(at, _)| *at == t).unwrap();
                    let (at, s) = in_flight.remove(k);
                    now = at;
                    assert_eq!(
                        f.handle_udp_reply(now, s.token, s.to, &ok_reply(&s.packet), &mut r),
                        Verdict::Accepted
                    );
                    drain(&mut f)
                }
                (_, Some(w)) => {
                    now = w;
                    f.handle_timeout(now, &mut r);
                    let acts = drain(&mut f);
                    for s in sends(&acts) {
                        sent += 1;
                        in_flight.push((now + slow, s));
                    }
                    acts
                }
                _ => panic!("query {i}: nothing left to happen"),
            };
            assert!(failed(&acts).is_none(), "query {i} failed at {now:?}");
            if acts.iter().any(|a| matches!(a, Action::Answer { .. })) {
                got = Some(answer(&acts).1);
            }
        }
        assert_eq!(got, Some(vec![i]), "query {i}");
        if i > 0 {
            assert_eq!(sent, 1, "query {i}: the learned RTT covers the wait");
        }
        now = now + Duration::from_millis(100);
    }
    let a1 = f.servers()[0];
    assert_eq!(a1.srtt_ms, Some(1200));
    assert_eq!(a1.down_until, None);
    assert_eq!(f.stats().answered, 10);
    assert_eq!(f.stats().failed, 0);
}

/// After the last try timed out, the query still waits for a late answer
/// until the 5 s give-up; after that, the sockets are closed.
#[test]
fn spent_tries_still_take_a_late_answer_until_the_give_up() {
    let mut f = fwd(Policy::StrictOrder, &[A1]);
    let mut r = rng();
    let s1 = submit_one(&mut f, T0, &q_a("a.example"), 1, &mut r);
    f.handle_timeout(ms(500), &mut r);
    let s2 = sends(&drain(&mut f)).remove(0);
    assert_eq!(f.poll_timeout(), Some(ms(1500)), "500 ms, then 1 s");
    f.handle_timeout(ms(1500), &mut r);
    assert!(drain(&mut f).is_empty(), "no more tries, no failure yet");
    assert_eq!(f.poll_timeout(), Some(ms(5000)));
    assert_eq!(
        f.handle_udp_reply(ms(3000), s1.token, sa(A1), &ok_reply(&s1.packet), &mut r),
        Verdict::Accepted
    );
    let acts = drain(&mut f);
    assert_eq!(answer(&acts).1, vec![1]);
    let mut c = closes(&acts);
    c.sort();
    assert_eq!(c, vec![s1.token, s2.token]);
    assert_eq!(
        f.servers()[0].srtt_ms,
        Some(3000),
        "learned from the late answer"
    );
    assert_eq!(f.poll_timeout(), None);
    // Never answered: Fail at 5 s, every socket closed.
    let s = submit_one(&mut f, ms(10_000), &q_a("b.example"), 2, &mut r);
    let mut tokens = vec![s.token];
    let mut last = None;
    while let Some(t) = f.poll_timeout() {
        f.handle_timeout(t, &mut r);
        let acts = drain(&mut f);
        tokens.extend(sends(&acts).iter().map(|s| s.token));
        if failed(&acts).is_some() {
            let mut c = closes(&acts);
            c.sort();
            tokens.sort();
            assert_eq!(c, tokens);
            last = Some(t);
        }
    }
    assert_eq!(last, Some(ms(15_000)));
}

#[test]
fn all_servers_sends_everywhere_and_first_answer_wins() {
    let mut f = fwd(Policy::AllServers, &[A1, A2, A3]);
    let mut r = rng();
    assert_eq!(f.submit(T0, &q_a("a.example"), 1, &mut r), Submitted::Sent);
    let s = sends(&drain(&mut f));
    let to: Vec<_> = s.iter().map(|x| x.to).collect();
    assert_eq!(to, vec![sa(A1), sa(A2), sa(A3)]);
    let ids: HashSet<u16> = s.iter().map(|x| id_of(&x.packet)).collect();
    assert_eq!(ids.len(), 3, "one ID per server");
    assert_eq!(
        f.handle_udp_reply(ms(10), s[1].token, sa(A2), &ok_reply(&s[1].packet), &mut r),
        Verdict::Accepted
    );
    let acts = drain(&mut f);
    answer(&acts);
    assert_eq!(closes(&acts).len(), 3);
    // The losers' answers are late.
    assert_eq!(
        f.handle_udp_reply(ms(11), s[0].token, sa(A1), &ok_reply(&s[0].packet), &mut r),
        Verdict::Dropped(DropReason::UnknownToken)
    );
    // Timeout: everyone again (waiting twice as long), then Fail at the
    // 5 s give-up.
    f.submit(ms(100), &q_a("b.example"), 2, &mut r);
    assert_eq!(sends(&drain(&mut f)).len(), 3);
    f.handle_timeout(ms(600), &mut r);
    assert_eq!(sends(&drain(&mut f)).len(), 3);
    assert_eq!(f.poll_timeout(), Some(ms(1600)));
    f.handle_timeout(ms(1600), &mut r);
    assert!(
        answer_free(&drain(&mut f)),
        "still waiting for a late answer"
    );
    assert_eq!(f.poll_timeout(), Some(ms(5100)));
    f.handle_timeout(ms(5100), &mut r);
    assert_eq!(failed(&drain(&mut f)), Some(vec![2]));
}

#[test]
fn fastest_probes_then_follows_the_lowest_srtt() {
    let mut f = fwd(Policy::Fastest, &[A1, A2, A3]);
    let mut r = rng();
    // Nothing measured yet: the first query goes everywhere.
    f.submit(T0, &q_a("q1.example"), 1, &mut r);
    let s = sends(&drain(&mut f));
    assert_eq!(s.len(), 3);
    f.handle_udp_reply(ms(40), s[0].token, sa(A1), &ok_reply(&s[0].packet), &mut r);
    drain(&mut f);
    assert_eq!(f.servers()[0].srtt_ms, Some(40));
    // A1 is the only measured server: it gets the next queries alone.
    let t1 = ms(100);
    let s = submit_one(&mut f, t1, &q_a("q2.example"), 2, &mut r);
    assert_eq!(s.to, sa(A1));
    f.handle_udp_reply(ms(150), s.token, sa(A1), &ok_reply(&s.packet), &mut r);
    drain(&mut f);
    assert_eq!(f.servers()[0].srtt_ms, Some(41), "7/8·40 + 1/8·50");
    // 20 s later: a re-probe; A3 answers first and is faster.
    let t2 = T0 + DEFAULT_PROBE_INTERVAL;
    f.submit(t2, &q_a("q3.example"), 3, &mut r);
    let s = sends(&drain(&mut f));
    assert_eq!(s.len(), 3, "re-probe after 20 s");
    f.handle_udp_reply(
        t2 + Duration::from_millis(8),
        s[2].token,
        sa(A3),
        &ok_reply(&s[2].packet),
        &mut r,
    );
    drain(&mut f);
    let s = submit_one(
        &mut f,
        t2 + Duration::from_secs(1),
        &q_a("q4.example"),
        4,
        &mut r,
    );
    assert_eq!(s.to, sa(A3), "lowest SRTT");
    f.handle_udp_reply(
        t2 + Duration::from_millis(1010),
        s.token,
        sa(A3),
        &ok_reply(&s.packet),
        &mut r,
    );
    drain(&mut f);
    // Every 50th query of the group is a probe.
    let mut fanout = Vec::new();
    for i in 0..DEFAULT_PROBE_EVERY {
        let now = t2 + Duration::from_secs(2);
        f.submit(now, &q_a(&format!("n{i}.example")), 10 + i, &mut r);
        fanout.push(sends(&drain(&mut f)).len());
    }
    let probes: Vec<usize> = (0..fanout.len()).filter(|&i| fanout[i] == 3).collect();
    assert_eq!(probes, vec![DEFAULT_PROBE_EVERY as usize - 2], "{fanout:?}");
}

#[test]
fn fastest_skips_a_server_that_timed_out() {
    let mut f = fwd(Policy::Fastest, &[A1, A2]);
    let mut r = rng();
    // Measure both: A1 fast, A2 slow.
    f.submit(T0, &q_a("m1.example"), 1, &mut r);
    let s = sends(&drain(&mut f));
    f.handle_udp_reply(ms(10), s[0].token, sa(A1), &ok_reply(&s[0].packet), &mut r);
    drain(&mut f);
    f.submit(T0 + Duration::from_secs(20), &q_a("m2.example"), 2, &mut r);
    let s = sends(&drain(&mut f));
    let t = T0 + Duration::from_millis(20_030);
    f.handle_udp_reply(t, s[1].token, sa(A2), &ok_reply(&s[1].packet), &mut r);
    drain(&mut f);
    let sv = f.servers();
    assert_eq!((sv[0].srtt_ms, sv[1].srtt_ms), (Some(10), Some(30)));

    // A1 is preferred, times out (3·10 ms clamped to 250 ms): A2 next.
    let t = T0 + Duration::from_secs(21);
    let s = submit_one(&mut f, t, &q_a("x.example"), 3, &mut r);
    assert_eq!(s.to, sa(A1));
    assert_eq!(f.poll_timeout(), Some(t + Duration::from_millis(250)));
    f.handle_timeout(t + Duration::from_millis(250), &mut r);
    let s2 = sends(&drain(&mut f)).remove(0);
    assert_eq!(s2.to, sa(A2));
    let t = t + Duration::from_millis(280);
    f.handle_udp_reply(t, s2.token, sa(A2), &ok_reply(&s2.packet), &mut r);
    drain(&mut f);
    // A1 is down for 1 s: the next query goes to A2 first.
    let down = f.servers()[0].down_until.unwrap();
    assert_eq!(down, T0 + Duration::from_millis(21_250 + 1000));
    let s = submit_one(&mut f, t, &q_a("y.example"), 4, &mut r);
    assert_eq!(s.to, sa(A2));
    // After the back-off A1 leads again.
    let s = submit_one(&mut f, down, &q_a("z.example"), 5, &mut r);
    assert_eq!(s.to, sa(A1));
}

#[test]
fn per_try_timeout_follows_srtt_within_bounds() {
    let mut f = fwd(Policy::StrictOrder, &[A1]);
    let mut r = rng();
    let s = submit_one(&mut f, T0, &q_a("a.example"), 1, &mut r);
    f.handle_udp_reply(ms(200), s.token, sa(A1), &ok_reply(&s.packet), &mut r);
    drain(&mut f);
    submit_one(&mut f, ms(1000), &q_a("b.example"), 2, &mut r);
    assert_eq!(f.poll_timeout(), Some(ms(1600)), "3 × 200 ms");
    let mut f = fwd(Policy::StrictOrder, &[A1]);
    let s = submit_one(&mut f, T0, &q_a("a.example"), 1, &mut r);
    f.handle_udp_reply(ms(900), s.token, sa(A1), &ok_reply(&s.packet), &mut r);
    drain(&mut f);
    submit_one(&mut f, ms(1000), &q_a("b.example"), 2, &mut r);
    assert_eq!(f.poll_timeout(), Some(ms(2500)), "clamped to 1500 ms");
}

// ---- SERVFAIL, TC, TCP ----

#[test]
fn servfail_moves_on_at_once_and_is_delivered_when_nobody_is_left() {
    let mut f = fwd(Policy::StrictOrder, &[A1, A2]);
    let mut r = rng();
    let s1 = submit_one(&mut f, T0, &q_a("a.example"), 1, &mut r);
    let sf = reply(&s1.packet, rcode::SERVFAIL, &[]);
    assert_eq!(
        f.handle_udp_reply(ms(5), s1.token, sa(A1), &sf, &mut r),
        Verdict::Accepted
    );
    let acts = drain(&mut f);
    assert_eq!(closes(&acts), vec![s1.token]);
    let s2 = sends(&acts).remove(0);
    assert_eq!(s2.to, sa(A2), "no wait for the timer");
    f.handle_udp_reply(ms(9), s2.token, sa(A2), &ok_reply(&s2.packet), &mut r);
    let (_, _, cacheable) = answer(&drain(&mut f));
    assert!(cacheable);

    // Both refuse: the last refusal is delivered, not cacheable, and A1 is
    // not asked again.
    let s1 = submit_one(&mut f, ms(20), &q_a("b.example"), 2, &mut r);
    f.handle_udp_reply(
        ms(21),
        s1.token,
        sa(A1),
        &reply(&s1.packet, rcode::REFUSED, &[]),
        &mut r,
    );
    let s2 = sends(&drain(&mut f)).remove(0);
    let sf = reply(&s2.packet, rcode::SERVFAIL, &[]);
    f.handle_udp_reply(ms(22), s2.token, sa(A2), &sf, &mut r);
    let acts = drain(&mut f);
    assert!(sends(&acts).is_empty());
    let (resp, clients, cacheable) = answer(&acts);
    assert_eq!((resp, clients, cacheable), (sf, vec![2], false));
    assert_eq!(f.stats().rejected, 3);
    assert_eq!(f.servers()[0].failed, 2);

    // An extended RCODE (BADVERS) is a refusal too.
    let s1 = submit_one(&mut f, ms(30), &q_a("c.example"), 3, &mut r);
    let bad = with_upstream_opt(reply(&s1.packet, 0, &[]), 1);
    f.handle_udp_reply(ms(31), s1.token, sa(A1), &bad, &mut r);
    assert_eq!(sends(&drain(&mut f))[0].to, sa(A2));
}

#[test]
fn nxdomain_is_delivered_and_cacheable() {
    let mut f = fwd(Policy::StrictOrder, &[A1, A2]);
    let mut r = rng();
    let s = submit_one(&mut f, T0, &q_a("nx.example"), 1, &mut r);
    f.handle_udp_reply(
        ms(1),
        s.token,
        sa(A1),
        &reply(&s.packet, rcode::NXDOMAIN, &[]),
        &mut r,
    );
    let acts = drain(&mut f);
    assert!(sends(&acts).is_empty());
    assert!(answer(&acts).2);
}

#[test]
fn truncated_udp_reply_is_retried_over_tcp() {
    let mut f = fwd(Policy::StrictOrder, &[A1, A2]);
    let mut r = rng();
    let s = submit_one(&mut f, T0, &q_a("big.example"), 1, &mut r);
    let mut tc = reply(&s.packet, 0, &[]);
    let flags = get_u16(&tc, at::FLAGS).unwrap();
    put_u16(&mut tc, at::FLAGS, flags | flag::TC);
    assert_eq!(
        f.handle_udp_reply(ms(10), s.token, sa(A1), &tc, &mut r),
        Verdict::Accepted
    );
    let acts = drain(&mut f);
    assert!(answer_free(&acts), "TC is not delivered");
    assert_eq!(closes(&acts), vec![s.token]);
    let t = sends(&acts).remove(0);
    assert!(t.tcp);
    assert_eq!(t.to, sa(A1), "same server");
    assert_ne!(id_of(&t.packet), id_of(&s.packet), "new ID");
    assert_eq!(&t.packet[12..], &s.packet[12..], "same question and OPT");
    assert_eq!(f.poll_timeout(), Some(ms(10) + DEFAULT_TCP_TIMEOUT));
    assert_eq!(f.stats().truncated, 1);
    // The TCP reply is matched the same way.
    assert_eq!(
        f.handle_tcp_reply(ms(20), t.token, Ok(&ok_reply(&s.packet)), &mut r),
        Verdict::Dropped(DropReason::WrongId)
    );
    assert_eq!(
        f.handle_udp_reply(ms(20), t.token, sa(A1), &ok_reply(&t.packet), &mut r),
        Verdict::Dropped(DropReason::UnknownToken),
        "a datagram on a TCP token"
    );
    let big = reply(&t.packet, 0, &[[10, 0, 0, 1]; 40]);
    assert_eq!(
        f.handle_tcp_reply(ms(30), t.token, Ok(&big), &mut r),
        Verdict::Accepted
    );
    let acts = drain(&mut f);
    let (resp, _, cacheable) = answer(&acts);
    assert_eq!(resp, big);
    assert!(cacheable);
    assert_eq!(closes(&acts), vec![t.token]);
    assert_eq!(f.servers()[0].queries, 2);
    assert_eq!(f.stats().tcp_sent, 1);
}

fn answer_free(acts: &[Action<u32>]) -> bool {
    !acts
        .iter()
        .any(|a| matches!(a, Action::Answer { .. } | Action::Fail { .. }))
}

#[test]
fn tcp_failure_moves_to_the_next_server() {
    let mut f = fwd(Policy::StrictOrder, &[A1, A2]);
    let mut r = rng();
    let s = submit_one(&mut f, T0, &q_a("big.example"), 1, &mut r);
    let mut tc = reply(&s.packet, 0, &[]);
    put_u16(&mut tc, at::FLAGS, flag::QR | flag::TC);
    f.handle_udp_reply(ms(10), s.token, sa(A1), &tc, &mut r);
    let t = sends(&drain(&mut f)).remove(0);
    assert!(t.tcp);
    assert_eq!(
        f.handle_tcp_reply(ms(15), t.token, Err(()), &mut r),
        Verdict::Accepted
    );
    let acts = drain(&mut f);
    assert_eq!(closes(&acts), vec![t.token]);
    let n = sends(&acts).remove(0);
    assert_eq!((n.to, n.tcp), (sa(A2), false));
    assert_eq!(f.servers()[0].failed, 1);
    // A TCP reply with TC=1 is delivered as is, not cacheable.
    let mut tc2 = reply(&n.packet, 0, &[]);
    put_u16(&mut tc2, at::FLAGS, flag::QR | flag::TC);
    f.handle_udp_reply(ms(20), n.token, sa(A2), &tc2, &mut r);
    let t2 = sends(&drain(&mut f)).remove(0);
    let mut tc3 = reply(&t2.packet, 0, &[]);
    put_u16(&mut tc3, at::FLAGS, flag::QR | flag::TC);
    f.handle_tcp_reply(ms(25), t2.token, Ok(&tc3), &mut r);
    let (_, _, cacheable) = answer(&drain(&mut f));
    assert!(!cacheable);
}

#[test]
fn everyone_failing_over_tcp_ends_in_fail() {
    let mut f = fwd(Policy::StrictOrder, &[A1]);
    let mut r = rng();
    let s = submit_one(&mut f, T0, &q_a("big.example"), 1, &mut r);
    let mut tc = reply(&s.packet, 0, &[]);
    put_u16(&mut tc, at::FLAGS, flag::QR | flag::TC);
    f.handle_udp_reply(ms(10), s.token, sa(A1), &tc, &mut r);
    let t = sends(&drain(&mut f)).remove(0);
    f.handle_tcp_reply(ms(15), t.token, Err(()), &mut r);
    let acts = drain(&mut f);
    assert_eq!(failed(&acts), Some(vec![1]));
    assert_eq!(f.inflight(), 0);
    assert_eq!(f.poll_timeout(), None);
}

// ---- upstream list and counters ----

#[test]
fn set_upstreams_keeps_the_stats_of_servers_that_stay() {
    let mut f = fwd(Policy::StrictOrder, &[A1, A2]);
    let mut r = rng();
    let s = submit_one(&mut f, T0, &q_a("a.example"), 1, &mut r);
    f.handle_timeout(ms(500), &mut r);
    let s2 = sends(&drain(&mut f)).remove(0);
    f.handle_udp_reply(ms(520), s2.token, sa(A2), &ok_reply(&s2.packet), &mut r);
    drain(&mut f);
    let _ = s;
    assert_eq!(
        f.servers_bind_txt(),
        vec!["192.0.2.1#53 1 1", "192.0.2.2#53 1 0"]
    );
    f.set_upstreams(vec![
        UpstreamSpec::new(sa(A3)),
        UpstreamSpec::new(sa(A2)),
        UpstreamSpec::for_domains(sa(A2), ["lan"]),
    ]);
    let sv = f.servers();
    assert_eq!(sv.len(), 2);
    assert_eq!((sv[0].addr, sv[0].queries), (sa(A3), 0));
    assert_eq!(
        (sv[1].addr, sv[1].queries, sv[1].srtt_ms),
        (sa(A2), 1, Some(20))
    );
    assert_eq!(
        f.servers_bind_txt(),
        vec!["192.0.2.3#5353 0 0", "192.0.2.2#53 1 0"]
    );
    assert_eq!(f.config().upstreams.len(), 3);
    let s = submit_one(&mut f, ms(600), &q_a("pc.lan"), 2, &mut r);
    assert_eq!(s.to, sa(A2));
}

#[test]
fn removed_server_is_not_retried() {
    let mut f = fwd(Policy::StrictOrder, &[A1, A2]);
    let mut r = rng();
    let s = submit_one(&mut f, T0, &q_a("a.example"), 1, &mut r);
    assert_eq!(s.to, sa(A1));
    f.set_upstreams(vec![UpstreamSpec::new(sa(A1))]);
    f.handle_timeout(ms(500), &mut r);
    let s2 = sends(&drain(&mut f)).remove(0);
    assert_eq!(s2.to, sa(A1), "A2 is gone: A1 again");
}

#[test]
fn servers_bind_format_for_ipv6() {
    let f: Forwarder<u32> = Forwarder::new(cfg(Policy::Fastest, &["[2001:db8::1]:53"]));
    assert_eq!(f.servers_bind_txt(), vec!["2001:db8::1#53 0 0"]);
}

#[test]
fn tokens_are_unique_and_each_is_closed_once() {
    let mut f = fwd(Policy::AllServers, &[A1, A2, A3]);
    let mut r = rng();
    let mut opened = HashSet::new();
    let mut closed: HashMap<Token, u32> = HashMap::new();
    let mut record = |acts: Vec<Action<u32>>, opened: &mut HashSet<Token>| {
        for a in acts {
            match a {
                Action::SendUdp { token, .. } | Action::SendTcp { token, .. } => {
                    assert!(opened.insert(token), "token reused");
                }
                Action::Close { token } => *closed.entry(token).or_default() += 1,
                _ => {}
            }
        }
    };
    let mut now = T0;
    for i in 0..40u32 {
        now = now + Duration::from_millis(50);
        f.submit(now, &q_a(&format!("h{}.example", i % 7)), i, &mut r);
        let acts = drain(&mut f);
        let s = sends(&acts);
        record(acts, &mut opened);
        if i % 3 == 0
            && let Some(x) = s.first()
        {
            f.handle_udp_reply(now, x.token, x.to, &ok_reply(&x.packet), &mut r);
        }
        f.handle_timeout(now, &mut r);
        record(drain(&mut f), &mut opened);
    }
    while let Some(t) = f.poll_timeout() {
        f.handle_timeout(t, &mut r);
        record(drain(&mut f), &mut opened);
    }
    assert!(!opened.is_empty());
    assert_eq!(opened.len(), closed.len());
    assert!(closed.values().all(|&n| n == 1));
    assert!(opened.iter().all(|t| closed.contains_key(t)));
}

// ---- relay ----

/// An upstream response carrying an upstream OPT and one glue record.
fn upstream_with_extras(packet: &[u8]) -> Vec<u8> {
    let mut r = reply(packet, 0, &[[10, 0, 0, 1], [10, 0, 0, 2]]);
    r[2] |= 0x04; // AA
    // Additional: an A record for the owner, before the OPT.
    r.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 9, 9]);
    put_u16(&mut r, at::ARCOUNT, 1);
    with_upstream_opt(r, 0)
}

#[test]
fn relay_restores_the_client_header_and_question() {
    let client = {
        let mut q = dns_query(0xABCD, "WwW.ExAmple.org", 1u16).bytes();
        q[2] &= !0x01; // RD=0
        q[3] |= 0x10; // CD=1
        q
    };
    let sent = {
        let mut p = Vec::new();
        build_query(0x1111, &wire("www.example.org"), 1, 1, false, &mut p);
        p
    };
    let up = upstream_with_extras(&sent);
    let mut out = Vec::new();
    assert!(relay(&client, &up, Transport::Udp, &mut out));
    assert_eq!(id_of(&out), 0xABCD);
    let flags = get_u16(&out, at::FLAGS).unwrap();
    assert_eq!(flags & flag::RD, 0, "client's RD");
    assert_ne!(flags & flag::CD, 0, "client's CD");
    assert_ne!(flags & flag::RA, 0);
    assert_eq!(flags & flag::AA, 0);
    assert_ne!(flags & flag::QR, 0);
    let qend = question_end(&client);
    assert_eq!(&out[12..qend], &client[12..qend], "client's case");
    assert_eq!(get_u16(&out, at::ANCOUNT), Some(2));
    // The glue is kept, the upstream OPT is not, and a non-EDNS client gets
    // no OPT.
    assert_eq!(get_u16(&out, at::ARCOUNT), Some(1));
    let opt_at = up.len() - 19;
    assert_eq!(out.len(), opt_at);
    assert_eq!(&out[qend..], &up[qend..opt_at]);

    // An EDNS client gets our OPT with its DO bit, never upstream's.
    let client = dns_query(0x0102, "www.example.org", 1u16)
        .edns(4096, true)
        .bytes();
    assert!(relay(&client, &up, Transport::Udp, &mut out));
    assert_eq!(get_u16(&out, at::ARCOUNT), Some(2));
    assert_eq!(
        &out[out.len() - 11..],
        &[0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]
    );
    assert_eq!(out.len(), opt_at + 11);
}

fn wire(name: &str) -> Vec<u8> {
    message::wire_name(name).unwrap()
}

#[test]
fn relay_truncates_for_a_small_client() {
    let sent = {
        let mut p = Vec::new();
        build_query(1, &wire("big.example"), 1, 1, false, &mut p);
        p
    };
    let up = reply(&sent, 0, &[[10, 0, 0, 1]; 40]); // 29 + 40·16 = 669 bytes
    assert!(up.len() > 512);
    let mut out = Vec::new();
    let plain = dns_query(7, "big.example", 1u16).bytes();
    assert!(relay(&plain, &up, Transport::Udp, &mut out));
    let flags = get_u16(&out, at::FLAGS).unwrap();
    assert_ne!(flags & flag::TC, 0);
    assert_eq!(out.len(), question_end(&plain));
    assert_eq!(get_u16(&out, at::ANCOUNT), Some(0));
    assert_eq!(get_u16(&out, at::ARCOUNT), Some(0));
    // The same over TCP, or to an EDNS client, fits.
    assert!(relay(&plain, &up, Transport::Tcp, &mut out));
    assert_eq!(get_u16(&out, at::FLAGS).unwrap() & flag::TC, 0);
    assert_eq!(get_u16(&out, at::ANCOUNT), Some(40));
    let edns = dns_query(7, "big.example", 1u16).edns(1232, false).bytes();
    assert!(relay(&edns, &up, Transport::Udp, &mut out));
    assert_eq!(get_u16(&out, at::ANCOUNT), Some(40));
    // A client advertising 512 gets TC=1 and its OPT.
    let small = dns_query(7, "big.example", 1u16).edns(512, false).bytes();
    assert!(relay(&small, &up, Transport::Udp, &mut out));
    assert_ne!(get_u16(&out, at::FLAGS).unwrap() & flag::TC, 0);
    assert_eq!(get_u16(&out, at::ARCOUNT), Some(1));
    assert_eq!(out.len(), question_end(&small) + 11);
}

#[test]
fn relay_drops_additional_data_before_truncating() {
    let sent = {
        let mut p = Vec::new();
        build_query(1, &wire("a.example"), 1, 1, false, &mut p);
        p
    };
    // 27 + 28·16 = 475 bytes of answer, then 4 glue records of 16.
    let mut up = reply(&sent, 0, &[[10, 0, 0, 1]; 28]);
    for i in 0..4u8 {
        up.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 9, i]);
    }
    put_u16(&mut up, at::ARCOUNT, 4);
    let mut out = Vec::new();
    assert!(relay(
        &dns_query(7, "a.example", 1u16).bytes(),
        &up,
        Transport::Udp,
        &mut out
    ));
    assert_eq!(get_u16(&out, at::FLAGS).unwrap() & flag::TC, 0);
    assert_eq!(get_u16(&out, at::ANCOUNT), Some(28));
    assert_eq!(get_u16(&out, at::ARCOUNT), Some(2), "two glue records fit");
    assert!(out.len() <= 512);
}

#[test]
fn relay_ad_bit_and_extended_rcode() {
    let sent = {
        let mut p = Vec::new();
        build_query(1, &wire("a.example"), 1, 1, true, &mut p);
        p
    };
    let mut up = ok_reply(&sent);
    up[3] |= flag::AD as u8;
    let mut out = Vec::new();
    assert!(relay(
        &dns_query(7, "a.example", 1u16).bytes(),
        &up,
        Transport::Udp,
        &mut out
    ));
    assert_eq!(
        get_u16(&out, at::FLAGS).unwrap() & flag::AD,
        0,
        "RFC 6840 §5.8"
    );
    assert!(relay(
        &dns_query(7, "a.example", 1u16).edns(1232, true).bytes(),
        &up,
        Transport::Udp,
        &mut out
    ));
    assert_ne!(get_u16(&out, at::FLAGS).unwrap() & flag::AD, 0);
    // BADVERS (extended RCODE 1 in the OPT) must not read as NOERROR.
    let bad = with_upstream_opt(reply(&sent, 0, &[]), 1);
    assert!(relay(
        &dns_query(7, "a.example", 1u16).bytes(),
        &bad,
        Transport::Udp,
        &mut out
    ));
    assert_eq!(get_u16(&out, at::FLAGS).unwrap() & flag::RCODE, 2);
    assert_eq!(out.len(), question_end(&out));
}

#[test]
fn relay_refuses_a_response_to_another_question() {
    let sent = {
        let mut p = Vec::new();
        build_query(1, &wire("a.example"), 1, 1, false, &mut p);
        p
    };
    let up = ok_reply(&sent);
    let mut out = vec![1, 2, 3];
    assert!(!relay(
        &dns_query(7, "b.example", 1u16).bytes(),
        &up,
        Transport::Udp,
        &mut out
    ));
    assert!(out.is_empty());
    assert!(!relay(
        &dns_query(7, "a.example", 28u16).bytes(),
        &up,
        Transport::Udp,
        &mut out
    ));
    assert!(!relay(&up, &up, Transport::Udp, &mut out), "not a query");
    assert!(
        !relay(
            &dns_query(7, "a.example", 1u16).bytes(),
            &sent,
            Transport::Udp,
            &mut out
        ),
        "QR=0"
    );
    let mut broken = up.clone();
    broken.pop();
    assert!(!relay(
        &dns_query(7, "a.example", 1u16).bytes(),
        &broken,
        Transport::Udp,
        &mut out
    ));
}

// ---- hostile input ----

#[test]
fn random_and_mutated_replies_never_panic_and_never_block_the_genuine_one() {
    let mut r = rng();
    let mut out = Vec::new();
    // Each round draws its replies from its own generator (seeded from the
    // run's), since they depend on the query the forwarder just sent.
    never_panics(
        0x5EED_F0D0_0000_0001,
        300,
        |seeds, _| Rng::new(seeds.next_u64()),
        |round, noise| {
            let mut noise = noise.clone();
            let round = round as u32;
            let policy =
                [Policy::Fastest, Policy::StrictOrder, Policy::AllServers][round as usize % 3];
            let mut f = fwd(policy, &[A1, A2]);
            let client = dns_query(9, &format!("r{round}.Example.net"), 1 + round as u16 % 30)
                .edns(1232, round.is_multiple_of(2))
                .bytes();
            assert_eq!(f.submit(T0, &client, 1, &mut r), Submitted::Sent);
            let s = sends(&drain(&mut f)).remove(0);
            let good = upstream_with_extras(&s.packet);
            for _ in 0..30 {
                let junk = if noise.below(3) == 0 {
                    junk(&mut noise, 600)
                } else {
                    mutate(&mut noise, &good)
                };
                // relay must cope with anything on either side.
                let _ = relay(&client, &junk, Transport::Udp, &mut out);
                let _ = relay(&junk, &good, Transport::Tcp, &mut out);
                if junk == good {
                    continue;
                }
                let v = f.handle_udp_reply(ms(1), s.token, s.to, &junk, &mut r);
                // A mutation may still be a valid reply to our question (a
                // changed TTL, say): then it is accepted, which is fine.
                if v == Verdict::Accepted {
                    break;
                }
            }
            let acts = drain(&mut f);
            let answered = acts.iter().any(|a| matches!(a, Action::Answer { .. }));
            if !answered && f.inflight() == 1 {
                let v = f.handle_udp_reply(ms(2), s.token, s.to, &good, &mut r);
                if v == Verdict::Accepted {
                    let acts = drain(&mut f);
                    if let Some(Action::Answer { response, .. }) =
                        acts.iter().find(|a| matches!(a, Action::Answer { .. }))
                    {
                        assert!(relay(&client, response, Transport::Udp, &mut out));
                        assert_eq!(id_of(&out), 9);
                    }
                } else {
                    // The socket may have been closed by an accepted TC or
                    // SERVFAIL-like mutation that moved the query on.
                    assert_eq!(v, Verdict::Dropped(DropReason::UnknownToken));
                }
            }
            // Random junk on random tokens and TCP replies.
            for _ in 0..10 {
                let tok = Token(noise.below(8));
                let junk = junk(&mut noise, 100);
                let _ = f.handle_udp_reply(ms(3), tok, s.to, &junk, &mut r);
                let _ = f.handle_tcp_reply(ms(3), tok, Ok(&junk), &mut r);
            }
            while let Some(t) = f.poll_timeout() {
                f.handle_timeout(t, &mut r);
            }
            assert_eq!(f.inflight(), 0);
        },
    );
}

#[test]
fn genuine_reply_survives_a_flood_of_forgeries() {
    let mut noise = Rng::new(42);
    let mut f = fwd(Policy::StrictOrder, &[A1]);
    let mut r = rng();
    let s = submit_one(&mut f, T0, &q_a("victim.example"), 1, &mut r);
    let good = ok_reply(&s.packet);
    // Blind forgeries: every ID but ours, from the right address.
    let mut forged = 0;
    for id in 0..=u16::MAX {
        if id == id_of(&s.packet) {
            continue;
        }
        if noise.below(16) != 0 {
            continue;
        }
        let mut m = good.clone();
        put_u16(&mut m, at::ID, id);
        assert_eq!(
            f.handle_udp_reply(ms(1), s.token, sa(A1), &m, &mut r),
            Verdict::Dropped(DropReason::WrongId)
        );
        forged += 1;
    }
    assert_eq!(f.stats().drops.wrong_id, forged);
    assert_eq!(
        f.handle_udp_reply(ms(2), s.token, sa(A1), &good, &mut r),
        Verdict::Accepted
    );
}

#[test]
fn answer_feeds_the_cache_and_odd_questions_are_not_cacheable() {
    use crate::dns::cache::{Cache, CacheConfig, Lookup};
    let mut f = fwd(Policy::StrictOrder, &[A1]);
    let mut r = rng();
    let client = dns_query(0x0F0F, "Host.Example", 1u16)
        .edns(1232, false)
        .bytes();
    let s = submit_one(&mut f, T0, &client, 1, &mut r);
    f.handle_udp_reply(
        ms(3),
        s.token,
        sa(A1),
        &with_upstream_opt(ok_reply(&s.packet), 0),
        &mut r,
    );
    let acts = drain(&mut f);
    let Some(Action::Answer {
        question: Some(q),
        response,
        cacheable: true,
        ..
    }) = acts.into_iter().next()
    else {
        panic!("a cacheable answer first");
    };
    let mut cache = Cache::new(CacheConfig::default());
    assert_eq!(cache.insert(&q, &response, ms(3)), Ok(()));
    let mut out = Vec::new();
    assert_eq!(
        cache.lookup(&client, Transport::Udp, ms(4), &mut out),
        Lookup::Hit
    );

    // ANY and CHAOS are forwarded, but the cache has no key for them.
    for (qtype, class) in [(255u16, 1u16), (16, 3)] {
        let mut q = dns_query(1, "version.bind", qtype).bytes();
        let n = q.len();
        put_u16(&mut q, n - 2, class);
        let s = submit_one(&mut f, ms(10), &q, 2, &mut r);
        assert_eq!(get_u16(&s.packet, question_end(&s.packet) - 2), Some(class));
        f.handle_udp_reply(ms(11), s.token, sa(A1), &reply(&s.packet, 0, &[]), &mut r);
        let acts = drain(&mut f);
        assert!(matches!(
            &acts[0],
            Action::Answer {
                question: None,
                cacheable: false,
                ..
            }
        ));
    }
}

// ---- upstreams over IPv6 ----

#[test]
fn ipv6_upstreams_are_matched_by_address_port_and_link_local_scope() {
    let global = "[2001:db8::53]:53";
    let ll: SocketAddr = std::net::SocketAddrV6::new("fe80::53".parse().unwrap(), 53, 0, 7).into();
    let mut f = Forwarder::<u32>::new(ForwardConfig {
        upstreams: vec![UpstreamSpec::new(sa(global))],
        policy: Policy::StrictOrder,
        ..ForwardConfig::default()
    });
    let mut r = rng();
    let s = submit_one(&mut f, T0, &q_a("www.example.com"), 1, &mut r);
    assert_eq!(s.to, sa(global));
    let good = ok_reply(&s.packet);
    for (why, from) in [
        ("other address", sa("[2001:db8::54]:53")),
        ("other port", sa("[2001:db8::53]:5353")),
        ("the IPv4 world", sa("192.0.2.1:53")),
    ] {
        assert_eq!(
            f.handle_udp_reply(ms(1), s.token, from, &good, &mut r),
            Verdict::Dropped(DropReason::WrongSource),
            "{why}"
        );
    }
    assert!(matches!(
        f.handle_udp_reply(ms(2), s.token, sa(global), &good, &mut r),
        Verdict::Accepted
    ));

    // A link-local upstream: sent with its scope (the socket needs it to
    // reach the link), and a reply from the same address on another link
    // is another host (RFC 4007 §6).
    let mut f = Forwarder::<u32>::new(ForwardConfig {
        upstreams: vec![UpstreamSpec::new(ll)],
        policy: Policy::StrictOrder,
        ..ForwardConfig::default()
    });
    let s = submit_one(&mut f, T0, &q_a("www.example.com"), 1, &mut r);
    assert_eq!(s.to, ll);
    let good = ok_reply(&s.packet);
    let other_link: SocketAddr =
        std::net::SocketAddrV6::new("fe80::53".parse().unwrap(), 53, 0, 8).into();
    assert_eq!(
        f.handle_udp_reply(ms(1), s.token, other_link, &good, &mut r),
        Verdict::Dropped(DropReason::WrongSource)
    );
    // The kernel reports the flow label of the reply when asked; it is
    // no part of who sent it.
    let labelled: SocketAddr =
        std::net::SocketAddrV6::new("fe80::53".parse().unwrap(), 53, 0x12345, 7).into();
    assert!(matches!(
        f.handle_udp_reply(ms(2), s.token, labelled, &good, &mut r),
        Verdict::Accepted
    ));
}
