//! Cache tests: virtual time, wire patching, RFC 2308 negative caching,
//! eviction, serve-stale, hostile input, a random-operation property test
//! and a hit-path micro-benchmark (prints ns/hit, asserts no timing).

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::*;
use crate::dns::message::{Transport, rtype};
use crate::testkit::{Rng, dns_query, junk, mutate, never_panics};

const T0: Mono = Mono(1_000_000);

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn secs(s: u64) -> Mono {
    T0 + Duration::from_secs(s)
}

fn question(qname: &str, qtype: RecordType) -> Question {
    Question::new(&name(qname), qtype.into(), 1, false).unwrap()
}

fn a(owner: &str, ttl: u32, ip: [u8; 4]) -> Record {
    Record::from_rdata(name(owner), ttl, RData::A(A(Ipv4Addr::from(ip))))
}

fn cname(owner: &str, ttl: u32, target: &str) -> Record {
    Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
}

fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
    let rdata = SOA::new(
        name(&format!("ns.{zone}")),
        name(&format!("hostmaster.{zone}")),
        1,
        3600,
        600,
        86400,
        minimum,
    );
    Record::from_rdata(name(zone), ttl, RData::SOA(rdata))
}

struct Resp {
    msg: Message,
}

impl Resp {
    fn new(qname: &str, qtype: RecordType, rcode: ResponseCode) -> Resp {
        let mut msg = Message::new(0x7777, MessageType::Response, OpCode::Query);
        msg.metadata.recursion_desired = true;
        msg.metadata.recursion_available = true;
        msg.metadata.response_code = rcode;
        msg.add_query(Query::query(name(qname), qtype));
        Resp { msg }
    }
    fn answer(mut self, r: Record) -> Resp {
        self.msg.add_answer(r);
        self
    }
    fn authority(mut self, r: Record) -> Resp {
        self.msg.add_authority(r);
        self
    }
    fn additional(mut self, r: Record) -> Resp {
        self.msg.add_additional(r);
        self
    }
    fn edns(mut self) -> Resp {
        self.msg.set_edns(Edns::new());
        self
    }
    fn bytes(&self) -> Vec<u8> {
        self.msg.to_vec().unwrap()
    }
}

fn ok_a(qname: &str, ttl: u32) -> Vec<u8> {
    Resp::new(qname, RecordType::A, ResponseCode::NoError)
        .answer(a(qname, ttl, [192, 0, 2, 1]))
        .bytes()
}

fn cache() -> Cache {
    Cache::new(CacheConfig::default())
}

fn hit(c: &mut Cache, q: &[u8], now: Mono) -> Message {
    let mut out = Vec::new();
    assert_eq!(c.lookup(q, Transport::Udp, now, &mut out), Lookup::Hit);
    Message::from_vec(&out).expect("a hit decodes")
}

fn ttls(m: &Message) -> Vec<u32> {
    m.answers
        .iter()
        .chain(&m.authorities)
        .map(|r| r.ttl)
        .collect()
}

#[test]
fn hit_patches_id_rd_and_question_case() {
    let mut c = cache();
    c.insert(
        &question("www.example.com", RecordType::A),
        &ok_a("www.example.com", 300),
        T0,
    )
    .unwrap();
    let mut qm =
        Message::from_vec(&dns_query(0xBEEF, "WwW.ExAmPlE.cOm", RecordType::A).bytes()).unwrap();
    qm.metadata.recursion_desired = false;
    let q = qm.to_vec().unwrap();
    let mut out = Vec::new();
    assert_eq!(c.lookup(&q, Transport::Udp, secs(1), &mut out), Lookup::Hit);
    let m = Message::from_vec(&out).unwrap();
    assert_eq!(m.metadata.id, 0xBEEF);
    assert!(!m.metadata.recursion_desired);
    assert!(m.metadata.recursion_available);
    assert!(!m.metadata.authoritative);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert!(
        m.queries[0]
            .name()
            .eq_case(&Name::from_ascii("WwW.ExAmPlE.cOm.").unwrap())
    );
    // The question bytes are the client's, byte for byte.
    assert_eq!(&out[12..q.len()], &q[12..]);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.edns, None);
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.insertions, s.entries), (1, 0, 1, 1));
}

#[test]
fn ttl_counts_down_in_virtual_time() {
    let mut c = cache();
    c.insert(
        &question("a.example", RecordType::A),
        &ok_a("a.example", 300),
        T0,
    )
    .unwrap();
    let q = dns_query(1, "a.example", RecordType::A).bytes();
    assert_eq!(ttls(&hit(&mut c, &q, T0)), [300]);
    assert_eq!(
        ttls(&hit(&mut c, &q, T0 + Duration::from_millis(10_500))),
        [290]
    );
    assert_eq!(
        ttls(&hit(&mut c, &q, T0 + Duration::from_millis(299_999))),
        [1]
    );
    let mut out = Vec::new();
    assert_eq!(
        c.lookup(&q, Transport::Udp, secs(300), &mut out),
        Lookup::Miss
    );
    // Expired and no stale window: gone.
    assert!(c.is_empty());
    assert_eq!(c.stats().misses, 1);
}

#[test]
fn min_and_max_cache_ttl_clamp() {
    let mut c = Cache::new(CacheConfig {
        min_ttl: 60,
        max_ttl: 100,
        ..CacheConfig::default()
    });
    c.insert(
        &question("short.example", RecordType::A),
        &ok_a("short.example", 5),
        T0,
    )
    .unwrap();
    c.insert(
        &question("long.example", RecordType::A),
        &ok_a("long.example", 3600),
        T0,
    )
    .unwrap();
    assert_eq!(
        ttls(&hit(
            &mut c,
            &dns_query(1, "short.example", RecordType::A).bytes(),
            secs(10)
        )),
        [50]
    );
    assert_eq!(
        ttls(&hit(
            &mut c,
            &dns_query(1, "long.example", RecordType::A).bytes(),
            secs(10)
        )),
        [90]
    );
    let mut out = Vec::new();
    assert_eq!(
        c.lookup(
            &dns_query(1, "long.example", RecordType::A).bytes(),
            Transport::Udp,
            secs(100),
            &mut out
        ),
        Lookup::Miss
    );
}

#[test]
fn rrset_ttls_are_unified_and_the_entry_lives_for_the_lowest() {
    let mut c = cache();
    let r = Resp::new("www.example", RecordType::A, ResponseCode::NoError)
        .answer(cname("www.example", 600, "web.example"))
        .answer(a("web.example", 100, [192, 0, 2, 1]))
        .answer(a("web.example", 200, [192, 0, 2, 2]))
        .bytes();
    c.insert(&question("www.example", RecordType::A), &r, T0)
        .unwrap();
    let q = dns_query(1, "www.example", RecordType::A).bytes();
    assert_eq!(ttls(&hit(&mut c, &q, secs(1))), [599, 99, 99]);
    let mut out = Vec::new();
    assert_eq!(
        c.lookup(&q, Transport::Udp, secs(100), &mut out),
        Lookup::Miss
    );
}

#[test]
fn msb_ttl_is_zero_and_zero_is_not_cached() {
    let mut c = cache();
    // RFC 2181 §8: 0x80000000 and above mean 0.
    let r = ok_a("z.example", 0x8000_0001);
    assert_eq!(
        c.insert(&question("z.example", RecordType::A), &r, T0),
        Err(NotCached::ZeroTtl)
    );
    assert_eq!(
        c.insert(
            &question("z.example", RecordType::A),
            &ok_a("z.example", 0),
            T0
        ),
        Err(NotCached::ZeroTtl)
    );
    let mut c = Cache::new(CacheConfig {
        min_ttl: 30,
        ..CacheConfig::default()
    });
    c.insert(&question("z.example", RecordType::A), &r, T0)
        .unwrap();
    assert_eq!(
        ttls(&hit(
            &mut c,
            &dns_query(1, "z.example", RecordType::A).bytes(),
            T0
        )),
        [30]
    );
}

#[test]
fn nxdomain_with_soa_is_cached_for_every_type() {
    let mut c = cache();
    // RFC 2308 §5: min(SOA TTL 3600, MINIMUM 60) = 60.
    let r = Resp::new("gone.example", RecordType::A, ResponseCode::NXDomain)
        .authority(soa("example", 3600, 60))
        .bytes();
    c.insert(&question("gone.example", RecordType::A), &r, T0)
        .unwrap();
    assert_eq!(
        c.peek(&dns_query(1, "gone.example", RecordType::AAAA).bytes()),
        Some((true, 3))
    );
    let m = hit(
        &mut c,
        &dns_query(9, "GONE.example", RecordType::AAAA).bytes(),
        secs(10),
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.metadata.id, 9);
    assert_eq!(m.queries[0].query_type(), RecordType::AAAA);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(ttls(&m), [50]);
    let mut out = Vec::new();
    assert_eq!(
        c.lookup(
            &dns_query(1, "gone.example", RecordType::MX).bytes(),
            Transport::Udp,
            secs(60),
            &mut out
        ),
        Lookup::Miss
    );
}

#[test]
fn soa_ttl_lower_than_minimum_wins() {
    let mut c = cache();
    let r = Resp::new("gone.example", RecordType::A, ResponseCode::NXDomain)
        .authority(soa("example", 20, 900))
        .bytes();
    c.insert(&question("gone.example", RecordType::A), &r, T0)
        .unwrap();
    assert_eq!(
        ttls(&hit(
            &mut c,
            &dns_query(1, "gone.example", RecordType::A).bytes(),
            T0
        )),
        [20]
    );
}

#[test]
fn nodata_is_cached_per_type() {
    let mut c = cache();
    let r = Resp::new("v4only.example", RecordType::AAAA, ResponseCode::NoError)
        .authority(soa("example", 300, 120))
        .bytes();
    c.insert(&question("v4only.example", RecordType::AAAA), &r, T0)
        .unwrap();
    let m = hit(
        &mut c,
        &dns_query(1, "v4only.example", RecordType::AAAA).bytes(),
        secs(20),
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(ttls(&m), [100]);
    let mut out = Vec::new();
    assert_eq!(
        c.lookup(
            &dns_query(1, "v4only.example", RecordType::A).bytes(),
            Transport::Udp,
            secs(20),
            &mut out
        ),
        Lookup::Miss
    );
}

#[test]
fn negative_without_soa_needs_neg_ttl() {
    let r = Resp::new("nosoa.example", RecordType::A, ResponseCode::NXDomain).bytes();
    let q = question("nosoa.example", RecordType::A);
    assert_eq!(cache().insert(&q, &r, T0), Err(NotCached::NoSoa));
    let mut c = Cache::new(CacheConfig {
        neg_ttl: Some(30),
        ..CacheConfig::default()
    });
    c.insert(&q, &r, T0).unwrap();
    let m = hit(
        &mut c,
        &dns_query(1, "nosoa.example", RecordType::A).bytes(),
        secs(29),
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    let mut out = Vec::new();
    assert_eq!(
        c.lookup(
            &dns_query(1, "nosoa.example", RecordType::A).bytes(),
            Transport::Udp,
            secs(30),
            &mut out
        ),
        Lookup::Miss
    );
}

#[test]
fn negative_ttl_is_capped() {
    let mut c = Cache::new(CacheConfig {
        max_neg_ttl: 600,
        ..CacheConfig::default()
    });
    let r = Resp::new("gone.example", RecordType::A, ResponseCode::NXDomain)
        .authority(soa("example", 86400, 86400))
        .bytes();
    c.insert(&question("gone.example", RecordType::A), &r, T0)
        .unwrap();
    assert_eq!(
        ttls(&hit(
            &mut c,
            &dns_query(1, "gone.example", RecordType::A).bytes(),
            T0
        )),
        [600]
    );
}

#[test]
fn nxdomain_behind_a_cname_is_keyed_by_the_question_only() {
    let mut c = cache();
    let r = Resp::new("alias.example", RecordType::A, ResponseCode::NXDomain)
        .answer(cname("alias.example", 300, "nowhere.example"))
        .authority(soa("example", 300, 60))
        .bytes();
    c.insert(&question("alias.example", RecordType::A), &r, T0)
        .unwrap();
    let m = hit(
        &mut c,
        &dns_query(1, "alias.example", RecordType::A).bytes(),
        T0,
    );
    assert_eq!(m.answers.len(), 1);
    assert_eq!(ttls(&m), [300, 60]);
    let mut out = Vec::new();
    assert_eq!(
        c.lookup(
            &dns_query(1, "alias.example", RecordType::AAAA).bytes(),
            Transport::Udp,
            T0,
            &mut out
        ),
        Lookup::Miss
    );
    // The entry lives for the shortest TTL, the negative one.
    assert_eq!(
        c.lookup(
            &dns_query(1, "alias.example", RecordType::A).bytes(),
            Transport::Udp,
            secs(60),
            &mut out
        ),
        Lookup::Miss
    );
}

#[test]
fn refuses_tc_servfail_refused_and_mismatches() {
    let mut c = cache();
    let q = question("x.example", RecordType::A);
    let mut tc = Resp::new("x.example", RecordType::A, ResponseCode::NoError).answer(a(
        "x.example",
        300,
        [1, 2, 3, 4],
    ));
    tc.msg.metadata.truncation = true;
    assert_eq!(c.insert(&q, &tc.bytes(), T0), Err(NotCached::Truncated));
    for (rc, n) in [
        (ResponseCode::ServFail, 2),
        (ResponseCode::Refused, 5),
        (ResponseCode::FormErr, 1),
    ] {
        let r = Resp::new("x.example", RecordType::A, rc).bytes();
        assert_eq!(c.insert(&q, &r, T0), Err(NotCached::Rcode(n)));
    }
    // Another name, another type, another class, no question.
    assert_eq!(
        c.insert(&q, &ok_a("y.example", 300), T0),
        Err(NotCached::QuestionMismatch)
    );
    let other_type = Resp::new("x.example", RecordType::AAAA, ResponseCode::NoError).bytes();
    assert_eq!(
        c.insert(&q, &other_type, T0),
        Err(NotCached::QuestionMismatch)
    );
    let mut other_class = Resp::new("x.example", RecordType::A, ResponseCode::NoError).answer(a(
        "x.example",
        300,
        [1, 2, 3, 4],
    ));
    other_class.msg.queries[0].set_query_class(DNSClass::CH);
    assert_eq!(
        c.insert(&q, &other_class.bytes(), T0),
        Err(NotCached::QuestionMismatch)
    );
    let mut empty = Resp::new("x.example", RecordType::A, ResponseCode::NoError);
    empty.msg.queries.clear();
    assert_eq!(
        c.insert(&q, &empty.bytes(), T0),
        Err(NotCached::QuestionMismatch)
    );
    // A query is not an answer.
    assert_eq!(
        c.insert(&q, &dns_query(1, "x.example", RecordType::A).bytes(), T0),
        Err(NotCached::NotResponse)
    );
    // Upper case in the reply is fine (RFC 4343).
    c.insert(&q, &ok_a("X.EXAMPLE", 300), T0).unwrap();
    assert_eq!(c.len(), 1);
    let mut off = Cache::new(CacheConfig {
        size: 0,
        ..CacheConfig::default()
    });
    assert_eq!(
        off.insert(&q, &ok_a("x.example", 300), T0),
        Err(NotCached::Disabled)
    );
}

#[test]
fn additional_section_and_upstream_opt_are_not_kept() {
    let mut c = cache();
    let r = Resp::new("a.example", RecordType::A, ResponseCode::NoError)
        .answer(a("a.example", 300, [192, 0, 2, 1]))
        .authority(Record::from_rdata(
            name("example"),
            300,
            RData::NS(hickory_proto::rr::rdata::NS(name("ns.example"))),
        ))
        .additional(a("ns.example", 300, [192, 0, 2, 53]))
        .edns()
        .bytes();
    c.insert(&question("a.example", RecordType::A), &r, T0)
        .unwrap();
    let m = hit(
        &mut c,
        &dns_query(1, "a.example", RecordType::A).bytes(),
        T0,
    );
    assert_eq!(
        (m.answers.len(), m.authorities.len(), m.additionals.len()),
        (1, 0, 0)
    );
    assert_eq!(m.edns, None);
}

#[test]
fn edns_clients_get_our_opt_with_their_do_bit() {
    let mut c = cache();
    c.insert(
        &question("a.example", RecordType::A),
        &ok_a("a.example", 300),
        T0,
    )
    .unwrap();
    let mut out = Vec::new();
    let q = dns_query(5, "a.example", RecordType::A)
        .edns(4096, false)
        .bytes();
    assert_eq!(c.lookup(&q, Transport::Udp, T0, &mut out), Lookup::Hit);
    let m = Message::from_vec(&out).unwrap();
    let e = m.edns.expect("OPT echoed (RFC 6891 §6.1.1)");
    assert_eq!(e.max_payload(), 1232);
    assert!(!e.flags().dnssec_ok);
    // A DO query is another key (its answer would carry signatures).
    let q = dns_query(5, "a.example", RecordType::A)
        .edns(4096, true)
        .bytes();
    assert_eq!(c.lookup(&q, Transport::Udp, T0, &mut out), Lookup::Miss);
    let dq = Question::from_query(&q).unwrap();
    assert!(dq.dnssec_ok());
    c.insert(&dq, &ok_a("a.example", 300), T0).unwrap();
    assert_eq!(c.lookup(&q, Transport::Udp, T0, &mut out), Lookup::Hit);
    assert!(
        Message::from_vec(&out)
            .unwrap()
            .edns
            .unwrap()
            .flags()
            .dnssec_ok
    );
}

#[test]
fn ad_bit_only_for_clients_that_ask() {
    let mut c = cache();
    let mut r = Resp::new("s.example", RecordType::A, ResponseCode::NoError).answer(a(
        "s.example",
        300,
        [192, 0, 2, 1],
    ));
    r.msg.metadata.authentic_data = true;
    c.insert(&question("s.example", RecordType::A), &r.bytes(), T0)
        .unwrap();
    let plain = hit(
        &mut c,
        &dns_query(1, "s.example", RecordType::A).bytes(),
        T0,
    );
    assert!(!plain.metadata.authentic_data);
    let mut qm = Message::from_vec(&dns_query(1, "s.example", RecordType::A).bytes()).unwrap();
    qm.metadata.authentic_data = true;
    let asked = hit(&mut c, &qm.to_vec().unwrap(), T0);
    assert!(asked.metadata.authentic_data);
}

fn big_answer(qname: &str, n: u8) -> Vec<u8> {
    let mut r = Resp::new(qname, RecordType::A, ResponseCode::NoError);
    for i in 0..n {
        r = r.answer(a(qname, 300, [10, 0, 0, i]));
    }
    r.bytes()
}

#[test]
fn oversized_answers_are_truncated_for_udp() {
    let mut c = cache();
    // 60 A records: about 60 * 16 = 960 bytes.
    let r = big_answer("many.example", 60);
    assert!(r.len() > 512 && r.len() < 1232);
    c.insert(&question("many.example", RecordType::A), &r, T0)
        .unwrap();
    let mut out = Vec::new();
    let q = dns_query(3, "many.example", RecordType::A).bytes();
    assert_eq!(c.lookup(&q, Transport::Udp, T0, &mut out), Lookup::Hit);
    let m = Message::from_vec(&out).unwrap();
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    assert_eq!(m.queries.len(), 1);
    assert!(out.len() <= 512);
    assert_eq!(c.lookup(&q, Transport::Tcp, T0, &mut out), Lookup::Hit);
    let m = Message::from_vec(&out).unwrap();
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 60);
    let q = dns_query(3, "many.example", RecordType::A)
        .edns(1232, false)
        .bytes();
    assert_eq!(c.lookup(&q, Transport::Udp, T0, &mut out), Lookup::Hit);
    let m = Message::from_vec(&out).unwrap();
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 60);
    assert!(m.edns.is_some());
}

#[test]
fn lru_eviction_order() {
    let mut c = Cache::new(CacheConfig {
        size: 3,
        ..CacheConfig::default()
    });
    for n in ["a", "b", "c"] {
        let qn = format!("{n}.example");
        c.insert(&question(&qn, RecordType::A), &ok_a(&qn, 300), T0)
            .unwrap();
    }
    // Touch a: b is now the least recently used.
    hit(
        &mut c,
        &dns_query(1, "a.example", RecordType::A).bytes(),
        T0,
    );
    c.insert(
        &question("d.example", RecordType::A),
        &ok_a("d.example", 300),
        T0,
    )
    .unwrap();
    let order: Vec<Vec<u8>> = c
        .lru_order()
        .iter()
        .map(|k| k[..k.len() - 5].to_vec())
        .collect();
    let w = |s: &str| message::wire_name(s).unwrap();
    assert_eq!(order, [w("d.example"), w("a.example"), w("c.example")]);
    assert_eq!(c.stats().evictions, 1);
    let mut out = Vec::new();
    assert_eq!(
        c.lookup(
            &dns_query(1, "b.example", RecordType::A).bytes(),
            Transport::Udp,
            T0,
            &mut out
        ),
        Lookup::Miss
    );
    // An expired victim is not an eviction (dnsmasq counts live ones only).
    c.insert(
        &question("e.example", RecordType::A),
        &ok_a("e.example", 300),
        secs(400),
    )
    .unwrap();
    assert_eq!(c.stats().evictions, 1);
    assert_eq!(c.len(), 3);
    // Re-inserting a key replaces it in place.
    c.insert(
        &question("e.example", RecordType::A),
        &ok_a("e.example", 60),
        secs(400),
    )
    .unwrap();
    assert_eq!(c.len(), 3);
    assert_eq!(
        ttls(&hit(
            &mut c,
            &dns_query(1, "e.example", RecordType::A).bytes(),
            secs(400)
        )),
        [60]
    );
}

#[test]
fn byte_budget_evicts() {
    let r = big_answer("many.example", 60);
    let mut one = cache();
    one.insert(
        &question("a.example", RecordType::A),
        &big_answer("a.example", 60),
        T0,
    )
    .unwrap();
    let cost = one.stats().bytes as usize;
    let mut c = Cache::new(CacheConfig {
        max_bytes: 2 * cost + cost / 2,
        ..CacheConfig::default()
    });
    for n in ["a", "b", "c"] {
        let qn = format!("{n}.example");
        c.insert(&question(&qn, RecordType::A), &big_answer(&qn, 60), T0)
            .unwrap();
    }
    assert_eq!(c.len(), 2);
    assert!(c.stats().bytes as usize <= c.config().max_bytes);
    let mut tiny = Cache::new(CacheConfig {
        max_bytes: 100,
        ..CacheConfig::default()
    });
    assert_eq!(
        tiny.insert(&question("many.example", RecordType::A), &r, T0),
        Err(NotCached::TooBig)
    );
}

#[test]
fn serve_stale_within_the_window() {
    let mut c = Cache::new(CacheConfig {
        stale_window: Some(Duration::from_secs(3600)),
        ..CacheConfig::default()
    });
    c.insert(
        &question("s.example", RecordType::A),
        &ok_a("s.example", 60),
        T0,
    )
    .unwrap();
    let q = dns_query(4, "s.example", RecordType::A)
        .edns(1232, false)
        .bytes();
    let mut out = Vec::new();
    assert_eq!(
        c.lookup(&q, Transport::Udp, secs(61), &mut out),
        Lookup::Stale
    );
    assert!(out.is_empty());
    // Every upstream failed: serve it with TTL 30 and EDE 3.
    assert!(c.serve_stale(&q, Transport::Udp, secs(61), &mut out));
    let m = Message::from_vec(&out).unwrap();
    assert_eq!(ttls(&m), [30]);
    assert_eq!(m.metadata.id, 4);
    let ede = &out[out.len() - 6..];
    assert_eq!(ede, &[0, 15, 0, 2, 0, 3]);
    let s = c.stats();
    assert_eq!((s.hits, s.stale_served, s.misses), (1, 1, 1));
    // Without EDNS there is nowhere to put the EDE.
    let plain = dns_query(4, "s.example", RecordType::A).bytes();
    assert!(c.serve_stale(&plain, Transport::Udp, secs(100), &mut out));
    assert!(Message::from_vec(&out).unwrap().edns.is_none());
    // A fresh entry is served normally.
    c.insert(
        &question("f.example", RecordType::A),
        &ok_a("f.example", 60),
        T0,
    )
    .unwrap();
    assert!(c.serve_stale(
        &dns_query(1, "f.example", RecordType::A).bytes(),
        Transport::Udp,
        secs(10),
        &mut out
    ));
    assert_eq!(ttls(&Message::from_vec(&out).unwrap()), [50]);
    // Past the window: gone.
    assert!(!c.serve_stale(&q, Transport::Udp, secs(60 + 3600), &mut out));
    assert_eq!(
        c.lookup(&q, Transport::Udp, secs(60 + 3600), &mut out),
        Lookup::Miss
    );
    assert!(!c.serve_stale(&q, Transport::Udp, secs(60 + 3600), &mut out));
    // Never stale without a window.
    let mut c = cache();
    c.insert(
        &question("s.example", RecordType::A),
        &ok_a("s.example", 60),
        T0,
    )
    .unwrap();
    assert!(!c.serve_stale(&q, Transport::Udp, secs(61), &mut out));
}

#[test]
fn a_refresh_replaces_the_stale_entry_and_a_positive_answer_ends_nxdomain() {
    let mut c = Cache::new(CacheConfig {
        stale_window: Some(Duration::from_secs(3600)),
        ..CacheConfig::default()
    });
    let q = dns_query(1, "moved.example", RecordType::A).bytes();
    c.insert(
        &question("moved.example", RecordType::A),
        &ok_a("moved.example", 60),
        T0,
    )
    .unwrap();
    let mut out = Vec::new();
    assert_eq!(
        c.lookup(&q, Transport::Udp, secs(61), &mut out),
        Lookup::Stale
    );
    // The refresh says the name is gone: the stale A must not linger.
    let nx = Resp::new("moved.example", RecordType::A, ResponseCode::NXDomain)
        .authority(soa("example", 300, 300))
        .bytes();
    c.insert(&question("moved.example", RecordType::A), &nx, secs(61))
        .unwrap();
    assert_eq!(c.len(), 1);
    let m = hit(&mut c, &q, secs(62));
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // The name comes back for AAAA: the name-wide NXDOMAIN is gone too.
    let back = Resp::new("moved.example", RecordType::AAAA, ResponseCode::NoError)
        .answer(Record::from_rdata(
            name("moved.example"),
            300,
            RData::AAAA(hickory_proto::rr::rdata::AAAA(
                "2001:db8::1".parse().unwrap(),
            )),
        ))
        .bytes();
    c.insert(
        &question("moved.example", RecordType::AAAA),
        &back,
        secs(63),
    )
    .unwrap();
    assert_eq!(
        c.lookup(&q, Transport::Udp, secs(63), &mut out),
        Lookup::Miss
    );
    assert_eq!(c.len(), 1);
}

#[test]
fn clear_keeps_counters() {
    let mut c = cache();
    c.insert(
        &question("a.example", RecordType::A),
        &ok_a("a.example", 300),
        T0,
    )
    .unwrap();
    hit(
        &mut c,
        &dns_query(1, "a.example", RecordType::A).bytes(),
        T0,
    );
    c.clear();
    assert!(c.is_empty());
    let mut out = Vec::new();
    assert_eq!(
        c.lookup(
            &dns_query(1, "a.example", RecordType::A).bytes(),
            Transport::Udp,
            T0,
            &mut out
        ),
        Lookup::Miss
    );
    let s = c.stats();
    assert_eq!(
        (s.insertions, s.hits, s.misses, s.entries, s.bytes),
        (1, 1, 1, 0, 0)
    );
    c.insert(
        &question("a.example", RecordType::A),
        &ok_a("a.example", 300),
        T0,
    )
    .unwrap();
    hit(
        &mut c,
        &dns_query(1, "a.example", RecordType::A).bytes(),
        T0,
    );
}

#[test]
fn chaos_names() {
    let mut c = cache();
    c.insert(
        &question("a.example", RecordType::A),
        &ok_a("a.example", 300),
        T0,
    )
    .unwrap();
    let s = c.stats();
    assert_eq!(s.chaos_txt("cachesize.bind").as_deref(), Some("150"));
    assert_eq!(s.chaos_txt("insertions.bind").as_deref(), Some("1"));
    assert_eq!(s.chaos_txt("evictions.bind").as_deref(), Some("0"));
    assert_eq!(s.chaos_txt("hits.bind").as_deref(), Some("0"));
    assert_eq!(s.chaos_txt("misses.bind").as_deref(), Some("0"));
    assert_eq!(s.chaos_txt("servers.bind"), None);
}

#[test]
fn skips_what_it_does_not_cache() {
    let mut c = cache();
    let mut out = Vec::new();
    for q in [
        dns_query(1, "a.example", RecordType::ANY).bytes(),
        dns_query(1, "a.example", RecordType::AXFR).bytes(),
        dns_query(1, "a.example", RecordType::IXFR).bytes(),
        vec![],
        vec![0; 11],
        vec![0xFF; 40],
    ] {
        assert_eq!(c.lookup(&q, Transport::Udp, T0, &mut out), Lookup::Skip);
        assert_eq!(Question::from_query(&q), None);
    }
    let mut ch = Message::from_vec(&dns_query(1, "hits.bind", RecordType::TXT).bytes()).unwrap();
    ch.queries[0].set_query_class(DNSClass::CH);
    assert_eq!(
        c.lookup(&ch.to_vec().unwrap(), Transport::Udp, T0, &mut out),
        Lookup::Skip
    );
    assert_eq!(
        Question::new(&name("a.example"), rtype::ANY, 1, false),
        None
    );
    assert_eq!(c.stats().misses, 0);
}

/// Raw upstream reply: header, question `\x01a\x00 A IN`, then `rest`.
fn raw_reply(ancount: u16, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 1, 0x81, 0x80, 0, 1];
    v.extend_from_slice(&ancount.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]);
    v.extend_from_slice(rest);
    v
}

#[test]
fn compression_loops_and_truncation_never_panic() {
    let q = question("a", RecordType::A);
    let rr_tail = [0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4];
    let cases: Vec<Vec<u8>> = vec![
        // Answer owner is a pointer to itself (offset 19).
        [&[0xC0, 19][..], &rr_tail].concat(),
        // A pointer forward.
        [&[0xC0, 40][..], &rr_tail].concat(),
        // Two pointers pointing at each other.
        [&[0xC0, 21, 0xC0, 19][..], &rr_tail].concat(),
        // A label running past the end.
        vec![63, b'x', b'y'],
        // A bitstring label (0x41, RFC 6891 §5 deprecated).
        [&[0x41, 0][..], &rr_tail].concat(),
        // RDLENGTH past the end.
        vec![0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 200, 1],
        // A 64-octet label.
        [&[64][..], &[b'x'; 64], &[0], &rr_tail].concat(),
    ];
    let mut c = cache();
    for rest in &cases {
        let r = raw_reply(1, rest);
        assert!(c.insert(&q, &r, T0).is_err(), "{r:?}");
    }
    // Odd but decodable, or not: an RRSIG shorter than its fixed part, an
    // EDNS option running past RDLENGTH. Whatever the verdict, no panic.
    let rrsig = [&[0xC0, 12][..], &[0, 46, 0, 1, 0, 0, 0, 60, 0, 2, 0, 1]].concat();
    let _ = c.insert(&q, &raw_reply(1, &rrsig), T0);
    let mut opt_past = raw_reply(1, &[&[0xC0, 12][..], &rr_tail].concat());
    opt_past[11] = 1; // ARCOUNT
    opt_past.extend_from_slice(&[0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 4, 0, 10, 0, 40]);
    let _ = c.insert(&q, &opt_past, T0);
    c.clear();
    // A valid reply, cut at every length.
    let good = raw_reply(1, &[&[0xC0, 12][..], &rr_tail].concat());
    for n in 0..good.len() {
        assert!(c.insert(&q, &good[..n], T0).is_err(), "prefix {n}");
    }
    c.insert(&q, &good, T0).unwrap();
    let mut out = Vec::new();
    let qb = dns_query(1, "A", RecordType::A).bytes();
    assert_eq!(c.lookup(&qb, Transport::Udp, T0, &mut out), Lookup::Hit);
    for n in 0..qb.len() {
        assert_eq!(
            c.lookup(&qb[..n], Transport::Udp, T0, &mut out),
            Lookup::Skip
        );
    }
}

#[test]
fn random_bytes_and_mutations_never_panic() {
    let mut c = Cache::new(CacheConfig {
        neg_ttl: Some(10),
        stale_window: Some(Duration::from_secs(60)),
        ..CacheConfig::default()
    });
    let seeds = [
        ok_a("a.example", 300),
        big_answer("many.example", 20),
        Resp::new("gone.example", RecordType::A, ResponseCode::NXDomain)
            .authority(soa("example", 3600, 60))
            .bytes(),
        Resp::new("t.example", RecordType::TXT, ResponseCode::NoError)
            .answer(Record::from_rdata(
                name("t.example"),
                60,
                RData::TXT(TXT::new(vec!["hello".into(), "world".into()])),
            ))
            .edns()
            .bytes(),
    ];
    let questions = [
        question("a.example", RecordType::A),
        question("many.example", RecordType::A),
        question("gone.example", RecordType::A),
        question("t.example", RecordType::TXT),
    ];
    let mut out = Vec::new();
    never_panics(
        0x9E37_79B9_7F4A_7C15,
        20_000,
        |rng, _| {
            let s = rng.index(seeds.len());
            (s, mutate(rng, &seeds[s]), junk(rng, 64))
        },
        |i, (s, b, junk)| {
            let now = T0 + Duration::from_millis(i * 50);
            let _ = c.insert(&questions[*s], b, now);
            let _ = Question::from_query(b);
            let _ = c.lookup(b, Transport::Udp, now, &mut out);
            let _ = c.serve_stale(b, Transport::Tcp, now, &mut out);
            let _ = c.lookup(junk, Transport::Udp, now, &mut out);
            let _ = c.insert(&questions[*s], junk, now);
        },
    );
}

#[test]
fn property_random_insert_lookup_advance() {
    let mut rng = Rng::new(0xDEAD_BEEF_CAFE_F00D);
    let size = 16;
    let mut c = Cache::new(CacheConfig {
        size,
        neg_ttl: Some(5),
        stale_window: Some(Duration::from_secs(20)),
        ..CacheConfig::default()
    });
    let names: Vec<String> = (0..40).map(|i| format!("h{i}.Example")).collect();
    // What was inserted last for each name: (time, ttl).
    let mut model: Vec<Option<(Mono, u32)>> = vec![None; names.len()];
    let mut now = T0;
    let mut out = Vec::new();
    for _ in 0..20_000 {
        let i = rng.below(names.len() as u64) as usize;
        let n = &names[i];
        match rng.below(10) {
            0..=2 => {
                let ttl = 1 + rng.below(120) as u32;
                let r = if rng.below(5) == 0 {
                    Resp::new(n, RecordType::A, ResponseCode::NXDomain)
                        .authority(soa("example", ttl, ttl))
                        .bytes()
                } else {
                    ok_a(n, ttl)
                };
                c.insert(&question(n, RecordType::A), &r, now).unwrap();
                model[i] = Some((now, ttl));
            }
            3 => now = now + Duration::from_millis(rng.below(30_000)),
            _ => {
                let id = rng.next_u64() as u16;
                let q = dns_query(id, &n.to_uppercase(), RecordType::A).bytes();
                match c.lookup(&q, Transport::Udp, now, &mut out) {
                    Lookup::Hit => {
                        let (t, ttl) = model[i].expect("a hit was inserted");
                        let elapsed = now.since(t).as_secs() as u32;
                        assert!(elapsed < ttl, "served past its TTL");
                        let m = Message::from_vec(&out).unwrap();
                        assert_eq!(m.metadata.id, id);
                        assert!(
                            m.queries[0]
                                .name()
                                .eq_case(&Name::from_ascii(n.to_uppercase() + ".").unwrap())
                        );
                        for r in m.answers.iter().chain(&m.authorities) {
                            assert_eq!(r.ttl, ttl - elapsed);
                        }
                    }
                    Lookup::Stale => {
                        let (t, ttl) = model[i].expect("stale was inserted");
                        let age = now.since(t).as_secs();
                        assert!(age >= ttl as u64 && age < ttl as u64 + 20);
                        assert!(c.serve_stale(&q, Transport::Udp, now, &mut out));
                        let m = Message::from_vec(&out).unwrap();
                        assert!(m.answers.iter().chain(&m.authorities).all(|r| r.ttl == 30));
                    }
                    Lookup::Miss => {
                        if let Some((t, ttl)) = model[i] {
                            // Either expired past the stale window, or evicted.
                            let _ = (t, ttl);
                        }
                    }
                    Lookup::Skip => panic!("a plain A query is cacheable"),
                }
            }
        }
        assert!(c.len() <= size);
        assert_eq!(c.lru_order().len(), c.len());
    }
    let s = c.stats();
    assert!(s.hits > 0 && s.misses > 0 && s.insertions > 0 && s.evictions > 0);
}

/// Micro-benchmark of the hit path. Prints ns/hit; asserts nothing about
/// time. `cargo test --release --lib dns::cache -- --nocapture`.
#[test]
fn bench_hit_path() {
    let names: Vec<String> = (0..1000)
        .map(|i| format!("host{i}.bench.example"))
        .collect();
    let mut c = Cache::new(CacheConfig {
        size: 2000,
        ..CacheConfig::default()
    });
    for n in &names {
        c.insert(&question(n, RecordType::A), &ok_a(n, 3600), T0)
            .unwrap();
    }
    let queries: Vec<Vec<u8>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            dns_query(i as u16, n, RecordType::A)
                .edns(1232, false)
                .bytes()
        })
        .collect();
    let mut out = Vec::with_capacity(1500);
    let iters = if cfg!(debug_assertions) {
        100_000
    } else {
        2_000_000
    };
    let start = Instant::now();
    let mut hits = 0u64;
    for i in 0..iters {
        let q = &queries[i % queries.len()];
        if c.lookup(q, Transport::Udp, secs(10), &mut out) == Lookup::Hit {
            hits += 1;
        }
        std::hint::black_box(&out);
    }
    let dt = start.elapsed();
    assert_eq!(hits, iters as u64);
    println!(
        "dns cache hit path: {:.1} ns/hit over {iters} hits ({} names, {} bytes/answer)",
        dt.as_nanos() as f64 / iters as f64,
        names.len(),
        out.len()
    );
}
