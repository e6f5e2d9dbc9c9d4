use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::*;
use crate::dns::cache::CacheConfig;
use crate::dns::forward::{ForwardConfig, UpstreamSpec};
use crate::dns::grammar::parse_host_record;
use crate::dns::local::{LocalData, LocalSources};
use crate::testkit::{Rng, dns_query, junk, mutate, never_panics};

const UP: &str = "192.0.2.53:53";

/// The UDP client of query `q` in these tests: 192.0.2.99, its port the
/// query's ID, so a reply's [`Peer`] says which query it answers.
fn peer_of(q: &[u8]) -> Peer {
    let id = q.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    Peer::Udp {
        client: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 99), id),
        local: Ipv4Addr::UNSPECIFIED,
    }
}

fn up() -> SocketAddr {
    UP.parse().unwrap()
}

fn resolver(opts: Options, cache: CacheConfig) -> Resolver {
    resolver_with(opts, cache, ForwardConfig::default())
}

/// [`resolver`] with forwarder settings; the upstream is always [`UP`].
fn resolver_with(opts: Options, cache: CacheConfig, fwd: ForwardConfig) -> Resolver {
    let src = LocalSources {
        host_records: vec![parse_host_record("router.lan,192.168.1.1").unwrap()],
        locals: vec![vec!["lan".into()]],
        domain: Some("lan".into()),
        ..LocalSources::default()
    };
    let mut rng = Rng::new(0x1234_5678_9abc_def0);
    Resolver::new(
        opts,
        cache,
        Arc::new(LocalData::build(&src)),
        ForwardConfig {
            upstreams: vec![UpstreamSpec::new(up())],
            ..fwd
        },
        Box::new(move || rng.next_u64()),
    )
}

fn default_resolver() -> Resolver {
    resolver(
        Options {
            chaos_stats: true,
            ..Options::default()
        },
        CacheConfig::default(),
    )
}

fn ask(r: &mut Resolver, now: Mono, q: &[u8]) -> (Outcome, Vec<u8>) {
    let mut out = Vec::new();
    let o = r.handle_query(now, q, peer_of(q), &mut out);
    (o, out)
}

/// The upstream sends of the last step.
fn sends(r: &mut Resolver) -> Vec<(Token, Vec<u8>)> {
    std::iter::from_fn(|| r.poll_action())
        .filter_map(|a| match a {
            Action::SendUdp { token, to, packet } => {
                assert_eq!(to, up());
                Some((token, packet))
            }
            _ => None,
        })
        .collect()
}

/// Upstream's answer to `packet`: `addrs` as A records, or NXDOMAIN with
/// an SOA when empty.
fn answer(packet: &[u8], addrs: &[Ipv4Addr], ttl: u32) -> Vec<u8> {
    let q = Message::from_vec(packet).unwrap();
    let mut m = Message::response(q.metadata.id, OpCode::Query);
    m.metadata.message_type = MessageType::Response;
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.add_query(q.queries[0].clone());
    let name = q.queries[0].name().clone();
    if addrs.is_empty() {
        m.metadata.response_code = ResponseCode::NXDomain;
        let zone = name.base_name();
        m.add_authority(Record::from_rdata(
            zone.clone(),
            ttl,
            RData::SOA(SOA::new(zone.clone(), zone, 1, 3600, 600, 86400, 60)),
        ));
    }
    for a in addrs {
        m.add_answer(Record::from_rdata(name.clone(), ttl, RData::A(A(*a))));
    }
    let mut e = Edns::new();
    e.set_max_payload(1232);
    m.set_edns(e);
    m.to_vec().unwrap()
}

fn deliver_all(r: &mut Resolver, now: Mono, token: Token, reply: &[u8]) -> Vec<(Peer, Vec<u8>)> {
    r.handle_udp_reply(now, token, up(), reply);
    replies(r)
}

/// The replies to clients among the pending actions: (client, reply).
fn replies(r: &mut Resolver) -> Vec<(Peer, Vec<u8>)> {
    std::iter::from_fn(|| r.poll_action())
        .filter_map(|a| match a {
            Action::Reply { to, packet, .. } => Some((to, packet)),
            _ => None,
        })
        .collect()
}

fn msg(b: &[u8]) -> Message {
    Message::from_vec(b).unwrap()
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

#[test]
fn a_forwarded_answer_reaches_the_client_and_the_next_one_is_a_cache_hit() {
    let mut r = default_resolver();
    let t0 = Mono(1_000);
    let q = dns_query(0x1111, "www.example.com.", RecordType::A).bytes();
    assert_eq!(ask(&mut r, t0, &q).0, Outcome::Forwarded);
    let s = sends(&mut r);
    assert_eq!(s.len(), 1);
    let up_id = u16::from_be_bytes([s[0].1[0], s[0].1[1]]);
    let reply = answer(&s[0].1, &[Ipv4Addr::new(198, 51, 100, 10)], 300);
    let got = deliver_all(&mut r, t0 + Duration::from_millis(20), s[0].0, &reply);
    assert_eq!(got.len(), 1);
    let m = msg(&got[0].1);
    assert_eq!(
        m.metadata.id, 0x1111,
        "the client's ID, not upstream's {up_id:#x}"
    );
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(198, 51, 100, 10)]);

    // 10 s later: from the cache, TTL counted down, nothing sent.
    let q2 = dns_query(0x2222, "WWW.example.COM.", RecordType::A).bytes();
    let (o, out) = ask(&mut r, t0 + Duration::from_millis(10_020), &q2);
    assert_eq!(o, Outcome::Reply(Source::Cache));
    assert!(sends(&mut r).is_empty());
    let m = msg(&out);
    assert_eq!(m.metadata.id, 0x2222);
    assert_eq!(m.answers[0].ttl, 290);
    let qlen = q2.len() - 12;
    assert_eq!(
        &out[12..12 + qlen],
        &q2[12..],
        "the question as the client wrote it"
    );
    assert_eq!(r.cache().stats().hits, 1);
}

#[test]
fn local_names_are_answered_here_and_never_forwarded() {
    let mut r = default_resolver();
    let now = Mono(1);
    let (o, out) = ask(
        &mut r,
        now,
        &dns_query(1, "router.lan.", RecordType::A).bytes(),
    );
    assert_eq!(o, Outcome::Reply(Source::Local));
    assert_eq!(a_records(&msg(&out)), vec![Ipv4Addr::new(192, 168, 1, 1)]);
    let (o, out) = ask(
        &mut r,
        now,
        &dns_query(2, "unknown.lan.", RecordType::A).bytes(),
    );
    assert_eq!(o, Outcome::Reply(Source::Local));
    assert_eq!(msg(&out).metadata.response_code, ResponseCode::NXDomain);
    let (o, out) = ask(
        &mut r,
        now,
        &dns_query(3, "localhost.", RecordType::A).bytes(),
    );
    assert_eq!(o, Outcome::Reply(Source::Local));
    assert_eq!(a_records(&msg(&out)), vec![Ipv4Addr::LOCALHOST]);
    assert!(sends(&mut r).is_empty());
    assert_eq!(r.stats().local_answers, 3);
}

#[test]
fn a_new_dhcp_name_is_not_hidden_by_an_answer_cached_before_its_lease() {
    // No local=/lan/ here: the name was forwarded (and NXDOMAIN cached)
    // before the laptop got its lease.
    let mut r = default_resolver();
    r.reconfigure(
        Options::default(),
        CacheConfig {
            neg_ttl: Some(600),
            ..CacheConfig::default()
        },
        Arc::new(LocalData::build(&LocalSources {
            domain: Some("home".into()),
            ..LocalSources::default()
        })),
        vec![UpstreamSpec::new(up())],
    );
    let now = Mono(5);
    let q = dns_query(7, "laptop.home.", RecordType::A).bytes();
    assert_eq!(ask(&mut r, now, &q).0, Outcome::Forwarded);
    let s = sends(&mut r);
    let got = deliver_all(&mut r, now, s[0].0, &answer(&s[0].1, &[], 600));
    assert_eq!(
        msg(&got[0].1).metadata.response_code,
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(&mut r, now, &q).0,
        Outcome::Reply(Source::Cache),
        "cached NXDOMAIN"
    );

    let laptop = Ipv4Addr::new(192, 168, 1, 77);
    r.set_host_table(Arc::new(HostTable::new([("laptop", laptop)])));
    let (o, out) = ask(&mut r, now, &q);
    assert!(matches!(o, Outcome::Reply(_)), "{o:?}");
    assert_eq!(a_records(&msg(&out)), vec![laptop]);
    let (_, out) = ask(
        &mut r,
        now,
        &dns_query(8, "77.1.168.192.in-addr.arpa.", RecordType::PTR).bytes(),
    );
    assert_eq!(msg(&out).answers.len(), 1, "PTR for the lease");
    // The lease goes: the name goes with it (forwarded again).
    r.set_host_table(Arc::new(HostTable::default()));
    assert_eq!(ask(&mut r, now, &q).0, Outcome::Forwarded);
}

#[test]
fn rebinding_answers_are_blocked_unless_the_domain_is_allowed() {
    let opts = Options {
        stop_dns_rebind: true,
        rebind_domain_ok: vec!["corp.example".into()],
        ..Options::default()
    };
    let mut r = resolver(opts, CacheConfig::default());
    let now = Mono(9);
    let evil = Ipv4Addr::new(192, 168, 1, 10);
    for (name, blocked) in [("evil.example.", true), ("files.corp.example.", false)] {
        let q = dns_query(5, name, RecordType::A).bytes();
        assert_eq!(ask(&mut r, now, &q).0, Outcome::Forwarded);
        let s = sends(&mut r);
        let got = deliver_all(&mut r, now, s[0].0, &answer(&s[0].1, &[evil], 300));
        let m = msg(&got[0].1);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        if blocked {
            assert!(a_records(&m).is_empty(), "{name}");
            // Reported as an event for the driver to log, once.
            assert_eq!(
                r.poll_event(),
                Some(Event::RebindBlocked {
                    name: "evil.example".into()
                })
            );
            assert_eq!(r.poll_event(), None);
            assert_eq!(ask(&mut r, now, &q).0, Outcome::Forwarded, "never cached");
            sends(&mut r);
        } else {
            assert_eq!(a_records(&m), vec![evil]);
        }
    }
    assert_eq!(r.stats().rebind_blocked, 1);
    assert_eq!(r.poll_event(), None, "the allowed domain is not reported");
    assert!(private_v4(Ipv4Addr::LOCALHOST, false));
    assert!(!private_v4(Ipv4Addr::LOCALHOST, true));
    assert!(private_v4(Ipv4Addr::new(100, 64, 0, 1), false));
    assert!(!private_v4(Ipv4Addr::new(8, 8, 8, 8), false));
}

#[test]
fn domain_needed_keeps_dotless_names_home() {
    let mut r = resolver(
        Options {
            domain_needed: true,
            ..Options::default()
        },
        CacheConfig::default(),
    );
    let (o, out) = ask(
        &mut r,
        Mono(1),
        &dns_query(1, "printer.", RecordType::A).bytes(),
    );
    assert_eq!(o, Outcome::Reply(Source::Blocked));
    assert_eq!(msg(&out).metadata.response_code, ResponseCode::NXDomain);
    assert!(sends(&mut r).is_empty());
    assert_eq!(
        ask(
            &mut r,
            Mono(1),
            &dns_query(2, "printer.example.", RecordType::A).bytes()
        )
        .0,
        Outcome::Forwarded
    );
}

#[test]
fn chaos_statistics_names() {
    let mut r = default_resolver();
    let mut m = Message::query();
    m.metadata.id = 3;
    let mut q = Query::query(Name::from_str("cachesize.bind.").unwrap(), RecordType::TXT);
    q.set_query_class(DNSClass::CH);
    m.add_query(q);
    let bytes = m.to_vec().unwrap();
    let (o, out) = ask(&mut r, Mono(1), &bytes);
    assert!(matches!(o, Outcome::Reply(_)), "{o:?}");
    let reply = msg(&out);
    assert_eq!(reply.answers.len(), 1);
    assert_eq!(reply.answers[0].dns_class, DNSClass::CH);
    match &reply.answers[0].data {
        RData::TXT(t) => assert_eq!(t.to_string(), "150"),
        other => panic!("{other:?}"),
    }
    let mut off = resolver(Options::default(), CacheConfig::default());
    let (_, out) = ask(&mut off, Mono(1), &bytes);
    assert_eq!(msg(&out).metadata.response_code, ResponseCode::Refused);
}

#[test]
fn bad_queries_get_the_right_error_or_nothing() {
    let mut r = default_resolver();
    let now = Mono(1);
    let good = dns_query(0x4242, "a.example.", RecordType::A).bytes();
    // A response is never answered (no reply loops), nor a runt.
    let mut resp = good.clone();
    resp[2] |= 0x80;
    assert_eq!(ask(&mut r, now, &resp).0, Outcome::Dropped(Drop::Malformed));
    assert_eq!(
        ask(&mut r, now, &good[..5]).0,
        Outcome::Dropped(Drop::Malformed)
    );
    // Another opcode: NOTIMP.
    let mut notify = good.clone();
    notify[2] |= 4 << 3;
    let (o, out) = ask(&mut r, now, &notify);
    assert!(matches!(o, Outcome::Reply(_)), "{o:?}");
    assert_eq!(out[3] & 0x0f, rcode::NOTIMP);
    assert_eq!(&out[..2], &[0x42, 0x42]);
    // Two questions: FORMERR.
    let mut two = Message::query();
    two.add_query(Query::query(Name::from_str("a.").unwrap(), RecordType::A));
    two.add_query(Query::query(Name::from_str("b.").unwrap(), RecordType::A));
    let (o, out) = ask(&mut r, now, &two.to_vec().unwrap());
    assert!(matches!(o, Outcome::Reply(_)), "{o:?}");
    assert_eq!(out[3] & 0x0f, rcode::FORMERR);
    // EDNS version 1: BADVERS (RFC 6891 §6.1.3).
    let mut v1 = Message::query();
    v1.add_query(Query::query(
        Name::from_str("a.example.").unwrap(),
        RecordType::A,
    ));
    let mut e = Edns::new();
    e.set_version(1);
    v1.set_edns(e);
    let (o, out) = ask(&mut r, now, &v1.to_vec().unwrap());
    assert!(matches!(o, Outcome::Reply(_)), "{o:?}");
    // 16 is BADVERS here (hickory names it BADSIG, the same number).
    assert_eq!(u16::from(msg(&out).metadata.response_code), 16);
    assert!(sends(&mut r).is_empty());
}

/// A resolver with a one-hour stale window that cached `stale.example`
/// (A 203.0.113.1, TTL 60) at `t0`: (resolver, that query, t0).
fn with_a_stale_candidate(fwd: ForwardConfig) -> (Resolver, Vec<u8>, Mono) {
    let mut r = resolver_with(
        Options::default(),
        CacheConfig {
            stale_window: Some(Duration::from_secs(3600)),
            ..CacheConfig::default()
        },
        fwd,
    );
    let t0 = Mono(1_000);
    let q = dns_query(9, "stale.example.", RecordType::A).bytes();
    assert_eq!(ask(&mut r, t0, &q).0, Outcome::Forwarded);
    let s = sends(&mut r);
    deliver_all(
        &mut r,
        t0,
        s[0].0,
        &answer(&s[0].1, &[Ipv4Addr::new(203, 0, 113, 1)], 60),
    );
    (r, q, t0)
}

#[test]
fn when_every_upstream_fails_the_client_gets_servfail_or_a_stale_answer() {
    let (mut r, q, t0) = with_a_stale_candidate(ForwardConfig::default());
    let never = dns_query(10, "never.example.", RecordType::A).bytes();
    // Past the TTL: both go upstream, which is dead.
    let t1 = t0 + Duration::from_secs(120);
    assert_eq!(ask(&mut r, t1, &q).0, Outcome::Forwarded);
    assert_eq!(ask(&mut r, t1, &never).0, Outcome::Forwarded);
    let mut got = Vec::new();
    let mut now = t1;
    for _ in 0..200 {
        let Some(w) = r.poll_timeout() else { break };
        now = w.max(now);
        r.handle_timeout(now);
        got.extend(replies(&mut r));
        if got.len() == 2 {
            break;
        }
    }
    assert_eq!(got.len(), 2, "both clients answered");
    assert!(now.since(t1) <= Duration::from_secs(6), "gave up in time");
    for (to, reply) in got {
        let m = msg(&reply);
        if to == peer_of(&q) {
            assert_eq!(m.metadata.response_code, ResponseCode::NoError);
            assert_eq!(m.answers[0].ttl, crate::dns::cache::STALE_TTL);
        } else {
            assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
        }
    }
    assert_eq!((r.stats().stale_served, r.stats().servfail), (1, 1));
}

/// Issue 17 item 2: past `dns-forward-max` the client is answered at once
/// (stale data if any, else SERVFAIL), never left to time out in silence.
#[test]
fn overflow_is_answered_at_once_with_stale_data_or_servfail() {
    let (mut r, q, t0) = with_a_stale_candidate(ForwardConfig {
        max_inflight: 1,
        ..ForwardConfig::default()
    });
    // The one slot is taken by a question the upstream sits on.
    let t1 = t0 + Duration::from_secs(120);
    let slow = dns_query(10, "slow.example.", RecordType::A).bytes();
    assert_eq!(ask(&mut r, t1, &slow).0, Outcome::Forwarded);
    assert_eq!(sends(&mut r).len(), 1);
    // Expired in the cache, no slot: the stale answer, now.
    let (o, out) = ask(&mut r, t1, &q);
    assert_eq!(o, Outcome::Reply(Source::Stale));
    let m = msg(&out);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(203, 0, 113, 1)]);
    // Nothing cached, no slot: SERVFAIL with the client's ID, now.
    let (o, out) = ask(
        &mut r,
        t1,
        &dns_query(11, "other.example.", RecordType::A).bytes(),
    );
    assert_eq!(o, Outcome::Reply(Source::Failed));
    let m = msg(&out);
    assert_eq!(m.metadata.id, 11);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert!(sends(&mut r).is_empty(), "nothing more went upstream");
    let st = r.stats();
    assert_eq!((st.overloaded, st.stale_served, st.servfail), (2, 1, 1));
}

#[test]
fn no_upstream_is_refused() {
    let mut r = default_resolver();
    r.set_upstreams(Vec::new());
    let (o, out) = ask(
        &mut r,
        Mono(1),
        &dns_query(1, "x.example.", RecordType::A).bytes(),
    );
    assert_eq!(o, Outcome::Reply(Source::Failed));
    assert_eq!(out[3] & 0x0f, rcode::REFUSED);
}

#[test]
fn random_and_mutated_queries_never_panic() {
    let mut r = default_resolver();
    let base = dns_query(1, "www.example.com.", RecordType::A).bytes();
    never_panics(
        99,
        20_000,
        |rng, i| {
            // Half mutated queries, half mutated noise; then upstream junk
            // on a live token, which must not panic either.
            let q = if i % 2 == 0 {
                base.clone()
            } else {
                junk(rng, 80)
            };
            (mutate(rng, &q), Token(rng.below(8)), junk(rng, 64))
        },
        |i, (q, token, reply)| {
            let _ = ask(&mut r, Mono(i), q);
            while r.poll_action().is_some() {}
            r.handle_udp_reply(Mono(i), *token, up(), reply);
            while r.poll_action().is_some() {}
        },
    );
}

#[test]
fn error_replies_keep_id_and_question() {
    let q = dns_query(0xabcd, "x.example.", RecordType::AAAA).bytes();
    let mut out = Vec::new();
    error_reply_into(&q, rcode::SERVFAIL, &mut out);
    let m = msg(&out);
    assert_eq!(m.metadata.id, 0xabcd);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(m.queries[0].query_type(), RecordType::AAAA);
    assert!(m.metadata.recursion_available && m.metadata.recursion_desired);
    error_reply_into(&q[..11], rcode::SERVFAIL, &mut out);
    assert!(out.is_empty());
}

#[test]
fn any_is_answered_minimally_not_forwarded() {
    let mut r = default_resolver();
    let (o, out) = ask(
        &mut r,
        Mono(1),
        &dns_query(1, "big.example.", RecordType::ANY).bytes(),
    );
    assert!(matches!(o, Outcome::Reply(_)), "{o:?}");
    let m = msg(&out);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type(), RecordType::HINFO);
    assert!(sends(&mut r).is_empty());
    // Local names answer ANY from their own data (one RRset).
    let (_, out) = ask(
        &mut r,
        Mono(1),
        &dns_query(2, "router.lan.", RecordType::ANY).bytes(),
    );
    assert_eq!(a_records(&msg(&out)), vec![Ipv4Addr::new(192, 168, 1, 1)]);
}

/// The replies to clients among the pending actions, with their source.
fn sourced_replies(r: &mut Resolver) -> Vec<(Peer, Vec<u8>, Source)> {
    std::iter::from_fn(|| r.poll_action())
        .filter_map(|a| match a {
            Action::Reply { to, packet, source } => Some((to, packet, source)),
            _ => None,
        })
        .collect()
}

/// `log-queries` (issue 14 item 2): every reply says where its answer came
/// from (the driver writes the line; the core only says it).
#[test]
fn every_reply_says_where_its_answer_came_from() {
    use crate::dns::grammar::parse_address;
    let up1: SocketAddr = "192.0.2.53:53".parse().unwrap();
    let up2: SocketAddr = "192.0.2.54:5353".parse().unwrap();
    let src = LocalSources {
        host_records: vec![parse_host_record("router.lan,192.168.1.1").unwrap()],
        locals: vec![vec!["lan".into()]],
        addresses: ["/ads.example/#", "/zero.example/0.0.0.0", "/gone.example/"]
            .into_iter()
            .chain(["/nas.example/192.168.1.9"])
            .map(|a| parse_address(a).unwrap())
            .collect(),
        bogus_priv: true,
        ..LocalSources::default()
    };
    let mut rng = Rng::new(7);
    let mut r: Resolver = Resolver::new(
        Options {
            domain_needed: true,
            stop_dns_rebind: true,
            chaos_stats: false,
            ..Options::default()
        },
        CacheConfig {
            stale_window: Some(Duration::from_secs(3600)),
            ..CacheConfig::default()
        },
        Arc::new(LocalData::build(&src)),
        ForwardConfig {
            upstreams: vec![UpstreamSpec::new(up1), UpstreamSpec::new(up2)],
            ..ForwardConfig::default()
        },
        Box::new(move || rng.next_u64()),
    );
    let t0 = Mono(1_000);
    let at_once = |r: &mut Resolver, name: &str, t: RecordType| {
        let (o, out) = ask(r, t0, &dns_query(1, name, t).bytes());
        assert!(!out.is_empty(), "{name}: {o:?}");
        match o {
            Outcome::Reply(s) => s,
            other => panic!("{name}: {other:?}"),
        }
    };
    // Local data, and the rules that block.
    for (name, t, want) in [
        ("router.lan.", RecordType::A, Source::Local),
        ("nobody.lan.", RecordType::A, Source::Local),
        ("nas.example.", RecordType::A, Source::Local),
        ("localhost.", RecordType::A, Source::Local),
        ("ads.example.", RecordType::A, Source::Blocked),
        ("www.ads.example.", RecordType::AAAA, Source::Blocked),
        ("zero.example.", RecordType::A, Source::Blocked),
        ("gone.example.", RecordType::A, Source::Blocked),
        (
            "9.1.168.192.in-addr.arpa.",
            RecordType::PTR,
            Source::Blocked,
        ),
        ("printer.", RecordType::A, Source::Blocked),
    ] {
        assert_eq!(at_once(&mut r, name, t), want, "{name} {t}");
    }
    // CHAOS names refused by chaos-stats = false.
    let mut ch = dns_query(2, "hits.bind.", RecordType::TXT).bytes();
    let n = ch.len();
    ch[n - 1] = 3;
    assert_eq!(ask(&mut r, t0, &ch).0, Outcome::Reply(Source::Blocked));
    // A malformed query gets our own FORMERR.
    let mut two = dns_query(3, "x.example.", RecordType::A).bytes();
    two[5] = 2;
    assert_eq!(ask(&mut r, t0, &two).0, Outcome::Reply(Source::Local));
    assert!(sourced_replies(&mut r).is_empty(), "nothing was forwarded");

    // Upstream: the server that answered, then the cache.
    let q = dns_query(4, "www.example.com.", RecordType::A).bytes();
    assert_eq!(ask(&mut r, t0, &q).0, Outcome::Forwarded);
    let sent: Vec<_> = std::iter::from_fn(|| r.poll_action())
        .filter_map(|a| match a {
            Action::SendUdp { token, to, packet } => Some((token, to, packet)),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 2, "no RTT yet: both upstreams asked at once");
    let (tok, to, packet) = sent.iter().find(|s| s.1 == up2).unwrap();
    let ok = answer(packet, &[Ipv4Addr::new(93, 184, 216, 34)], 1);
    r.handle_udp_reply(t0, *tok, *to, &ok);
    let got = sourced_replies(&mut r);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, Source::Upstream(up2));
    assert_eq!(ask(&mut r, t0, &q).0, Outcome::Reply(Source::Cache));

    // stop-dns-rebind strips an upstream answer: blocked, not upstream.
    let evil = dns_query(5, "evil.example.", RecordType::A).bytes();
    assert_eq!(ask(&mut r, t0, &evil).0, Outcome::Forwarded);
    let (tok, to, packet) = std::iter::from_fn(|| r.poll_action())
        .find_map(|a| match a {
            Action::SendUdp { token, to, packet } => Some((token, to, packet)),
            _ => None,
        })
        .unwrap();
    let private = answer(&packet, &[Ipv4Addr::new(10, 0, 0, 1)], 60);
    r.handle_udp_reply(t0, tok, to, &private);
    let got = sourced_replies(&mut r);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, Source::Blocked);

    // Every upstream silent: the expired entry served stale; a name never
    // cached gets our SERVFAIL.
    let t1 = t0 + Duration::from_secs(30);
    let never = dns_query(6, "never.example.", RecordType::A).bytes();
    assert_eq!(ask(&mut r, t1, &q).0, Outcome::Forwarded);
    assert_eq!(ask(&mut r, t1, &never).0, Outcome::Forwarded);
    let mut got = Vec::new();
    let mut now = t1;
    while got.len() < 2 {
        let w = r.poll_timeout().expect("the queries are still open");
        now = w.max(now);
        r.handle_timeout(now);
        got.extend(sourced_replies(&mut r));
    }
    for (to, _, source) in got {
        let want = if to == peer_of(&q) {
            Source::Stale
        } else {
            Source::Failed
        };
        assert_eq!(source, want);
    }

    // No upstream at all: REFUSED, made here.
    r.set_upstreams(Vec::new());
    let other = dns_query(7, "x.example.", RecordType::A).bytes();
    assert_eq!(ask(&mut r, now, &other).0, Outcome::Reply(Source::Failed));
}

/// Issue 12 item 1 (quinn's `Transmit`): the reply to a forwarded query
/// comes out of the core with its destination and source, the [`Peer`]
/// the query came in with; the driver keeps nothing beside the core.
/// Two clients of one coalesced question, one over UDP to the VIP, one
/// over TCP, each get their own reply, the way they asked.
#[test]
fn a_forwarded_reply_carries_where_it_goes_and_where_it_leaves_from() {
    let mut r = default_resolver();
    let now = Mono(50);
    let udp = Peer::Udp {
        client: "10.0.0.5:40000".parse().unwrap(),
        local: Ipv4Addr::new(10, 0, 0, 1),
    };
    let tcp = Peer::Tcp {
        client: "10.0.0.6:50000".parse().unwrap(),
        id: 7,
    };
    let q1 = dns_query(0x0101, "www.example.com.", RecordType::A).bytes();
    let q2 = dns_query(0x0202, "www.example.com.", RecordType::A).bytes();
    let mut out = Vec::new();
    assert_eq!(r.handle_query(now, &q1, udp, &mut out), Outcome::Forwarded);
    assert_eq!(r.handle_query(now, &q2, tcp, &mut out), Outcome::Forwarded);
    let s = sends(&mut r);
    assert_eq!(s.len(), 1, "one upstream query for both");
    let ok = answer(&s[0].1, &[Ipv4Addr::new(93, 184, 216, 34)], 60);
    let got = deliver_all(&mut r, now, s[0].0, &ok);
    assert_eq!(got.len(), 2);
    for (to, id) in [(udp, 0x0101), (tcp, 0x0202)] {
        let (_, packet) = got.iter().find(|(t, _)| *t == to).expect("a reply each");
        assert_eq!(msg(packet).metadata.id, id);
    }
    assert_eq!(tcp.transport(), Transport::Tcp);
    assert_eq!(udp.client_ip(), Ipv4Addr::new(10, 0, 0, 5));
}
