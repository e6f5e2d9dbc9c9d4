//! Local data tests: each record kind, each precedence rule, the
//! special-use names, DHCP names, response building, and random queries.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use super::*;
use crate::dns::grammar::{
    parse_address, parse_cname, parse_host_record, parse_local, parse_ptr_record, parse_srv_host,
    parse_txt_record,
};
use crate::testkit::{dns_query, mutate, never_panics};

/// Case-preserving (`Name::from_str` lower-cases, via IDNA).
fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn hosts(text: &str) -> HostsFile {
    HostsFile::parse("/etc/hosts", text.as_bytes())
}

fn dhcp() -> HostTable {
    HostTable::new([
        ("laptop", Ipv4Addr::new(192, 168, 1, 20)),
        ("Phone", Ipv4Addr::new(192, 168, 1, 21)),
        ("nas", Ipv4Addr::new(192, 168, 1, 99)),
    ])
}

fn ask(d: &LocalData, q: &str, t: RecordType) -> Option<LocalAnswer> {
    d.answer(&dhcp(), &name(q), t, DNSClass::IN)
}

/// The answer section as presentation strings.
fn rdata(a: &LocalAnswer) -> Vec<String> {
    a.answers.iter().map(|r| r.data.to_string()).collect()
}

fn owners(a: &LocalAnswer) -> Vec<String> {
    a.answers.iter().map(|r| r.name.to_string()).collect()
}

fn is_nxdomain(a: &Option<LocalAnswer>) -> bool {
    a.as_ref()
        .is_some_and(|a| a.rcode == ResponseCode::NXDomain && a.answers.is_empty())
}

fn is_nodata(a: &Option<LocalAnswer>) -> bool {
    a.as_ref()
        .is_some_and(|a| a.rcode == ResponseCode::NoError && a.answers.is_empty())
}

fn lan() -> LocalSources {
    LocalSources {
        domain: Some("lan".into()),
        locals: vec![parse_local("/lan/").unwrap()],
        ..LocalSources::default()
    }
}

#[test]
fn hosts_file_names_addresses_and_ptr() {
    let src = LocalSources {
        hosts: vec![hosts(
            "192.168.1.10 NAS files # comment\n\
             fd00::10 nas\n\
             192.168.1.11 printer\n\
             192.168.1.10 other-name\n",
        )],
        local_ttl: 5,
        ..LocalSources::default()
    };
    let d = LocalData::build(&src);
    let a = ask(&d, "nas", RecordType::A).unwrap();
    assert_eq!(rdata(&a), ["192.168.1.10"]);
    assert!(a.authoritative);
    assert_eq!(a.answers[0].ttl, 5);
    assert_eq!(
        rdata(&ask(&d, "FILES", RecordType::A).unwrap()),
        ["192.168.1.10"]
    );
    assert_eq!(
        rdata(&ask(&d, "nas", RecordType::AAAA).unwrap()),
        ["fd00::10"]
    );
    // The first name of the first line owns the PTR.
    let p = ask(&d, "10.1.168.192.in-addr.arpa", RecordType::PTR).unwrap();
    assert_eq!(rdata(&p), ["nas."]);
    let p = ask(
        &d,
        &reverse_name("fd00::10".parse().unwrap()),
        RecordType::PTR,
    )
    .unwrap();
    assert_eq!(rdata(&p), ["nas."]);
    // A local name with another type: NODATA, never forwarded.
    assert!(is_nodata(&ask(&d, "printer", RecordType::AAAA)));
    assert!(is_nodata(&ask(&d, "printer", RecordType::MX)));
    // Unknown names are not local.
    assert_eq!(ask(&d, "example.com", RecordType::A), None);
}

#[test]
fn answers_keep_the_query_case() {
    let src = LocalSources {
        hosts: vec![hosts("10.0.0.1 mixed.example\n")],
        ..LocalSources::default()
    };
    let d = LocalData::build(&src);
    let a = ask(&d, "MiXeD.ExAmPlE.", RecordType::A).unwrap();
    assert!(a.answers[0].name.eq_case(&name("MiXeD.ExAmPlE.")));
}

#[test]
fn expand_hosts_qualifies_bare_names() {
    let src = LocalSources {
        hosts: vec![hosts("192.168.1.11 printer\n10.0.0.5 already.qualified\n")],
        expand_hosts: true,
        ..lan()
    };
    let d = LocalData::build(&src);
    assert_eq!(
        rdata(&ask(&d, "printer", RecordType::A).unwrap()),
        ["192.168.1.11"]
    );
    assert_eq!(
        rdata(&ask(&d, "printer.lan", RecordType::A).unwrap()),
        ["192.168.1.11"]
    );
    assert_eq!(
        ask(&d, "already.qualified.lan", RecordType::A).map(|a| a.rcode),
        Some(ResponseCode::NXDomain)
    );
    let p = ask(&d, "11.1.168.192.in-addr.arpa", RecordType::PTR).unwrap();
    assert_eq!(rdata(&p), ["printer.lan."]);
    // Without expand-hosts only the bare name exists.
    let d = LocalData::build(&LocalSources {
        expand_hosts: false,
        ..src
    });
    assert!(is_nxdomain(&ask(&d, "printer.lan", RecordType::A)));
}

#[test]
fn host_record_sets_a_aaaa_ptr_and_ttl_and_wins_the_ptr() {
    let src = LocalSources {
        host_records: vec![parse_host_record("router,router.lan,192.168.1.1,fd00::1,600").unwrap()],
        hosts: vec![hosts("192.168.1.1 gateway\n")],
        ..LocalSources::default()
    };
    let d = LocalData::build(&src);
    let a = ask(&d, "router.lan", RecordType::A).unwrap();
    assert_eq!(rdata(&a), ["192.168.1.1"]);
    assert_eq!(a.answers[0].ttl, 600);
    assert_eq!(
        rdata(&ask(&d, "router", RecordType::AAAA).unwrap()),
        ["fd00::1"]
    );
    let p = ask(&d, "1.1.168.192.in-addr.arpa", RecordType::PTR).unwrap();
    assert_eq!(rdata(&p), ["router."]);
    assert_eq!(p.answers[0].ttl, 600);
    assert_eq!(
        rdata(&ask(&d, "gateway", RecordType::A).unwrap()),
        ["192.168.1.1"]
    );
}

#[test]
fn address_rules_match_the_domain_and_below() {
    let src = LocalSources {
        addresses: vec![
            parse_address("/ads.example/0.0.0.0").unwrap(),
            parse_address("/v6.example/::1").unwrap(),
            parse_address("/null.example/#").unwrap(),
            parse_address("/sink.example/").unwrap(),
            parse_address("/void.example/").unwrap(),
        ],
        hosts: vec![hosts(
            "192.0.2.7 ok.ads.example\n192.0.2.8 kept.sink.example\n",
        )],
        ..LocalSources::default()
    };
    let d = LocalData::build(&src);
    for q in ["ads.example", "x.ads.example", "a.b.ADS.example"] {
        let a = ask(&d, q, RecordType::A).unwrap();
        assert_eq!(rdata(&a), ["0.0.0.0"], "{q}");
        assert!(a.answers[0].name.eq_case(&name(q)));
    }
    // Other types go upstream (dnsmasq since 2.86).
    assert_eq!(ask(&d, "x.ads.example", RecordType::AAAA), None);
    assert_eq!(ask(&d, "x.ads.example", RecordType::MX), None);
    assert_eq!(ask(&d, "notads.example", RecordType::A), None);
    assert_eq!(
        rdata(&ask(&d, "v6.example", RecordType::AAAA).unwrap()),
        ["::1"]
    );
    assert_eq!(
        rdata(&ask(&d, "a.null.example", RecordType::A).unwrap()),
        ["0.0.0.0"]
    );
    assert_eq!(
        rdata(&ask(&d, "a.null.example", RecordType::AAAA).unwrap()),
        ["::"]
    );
    // address=/d/ is a sinkhole: NXDOMAIN for the domain and below ...
    assert!(is_nxdomain(&ask(&d, "void.example", RecordType::A)));
    assert!(is_nxdomain(&ask(&d, "x.void.example", RecordType::A)));
    // ... except where a local name lives: its ancestors exist (RFC 8020).
    assert!(is_nodata(&ask(&d, "sink.example", RecordType::A)));
    assert!(is_nxdomain(&ask(
        &d,
        "deep.x.sink.example",
        RecordType::TXT
    )));
    // Hosts entries override address rules for their own names ...
    assert_eq!(
        rdata(&ask(&d, "ok.ads.example", RecordType::A).unwrap()),
        ["192.0.2.7"]
    );
    assert_eq!(
        rdata(&ask(&d, "kept.sink.example", RecordType::A).unwrap()),
        ["192.0.2.8"]
    );
    // ... and their type-less siblings are NODATA.
    assert!(is_nodata(&ask(&d, "kept.sink.example", RecordType::AAAA)));
}

#[test]
fn address_for_every_domain() {
    let src = LocalSources {
        addresses: vec![parse_address("/#/10.9.9.9").unwrap()],
        hosts: vec![hosts("10.0.0.1 real\n")],
        ..LocalSources::default()
    };
    let d = LocalData::build(&src);
    assert_eq!(
        rdata(&ask(&d, "anything.example", RecordType::A).unwrap()),
        ["10.9.9.9"]
    );
    assert_eq!(
        rdata(&ask(&d, "real", RecordType::A).unwrap()),
        ["10.0.0.1"]
    );
    assert_eq!(ask(&d, "anything.example", RecordType::AAAA), None);
}

#[test]
fn address_with_local_restores_nodata_for_other_types() {
    let src = LocalSources {
        addresses: vec![parse_address("/ads.example/0.0.0.0").unwrap()],
        locals: vec![parse_local("/ads.example/").unwrap()],
        ..LocalSources::default()
    };
    let d = LocalData::build(&src);
    assert!(is_nodata(&ask(&d, "x.ads.example", RecordType::AAAA)));
}

#[test]
fn local_domains_never_forward() {
    let d = LocalData::build(&lan());
    let a = ask(&d, "unknown.lan", RecordType::A).unwrap();
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    assert!(a.authoritative);
    // RFC 2308 §3: the zone's SOA, with local-ttl (0) as TTL and MINIMUM.
    assert_eq!(a.authority.len(), 1);
    assert_eq!(a.authority[0].name, name("lan."));
    assert_eq!(a.authority[0].ttl, 0);
    // The apex exists (NODATA), as do empty non-terminals.
    assert!(is_nodata(&ask(&d, "lan", RecordType::A)));
    // DHCP names answer below it.
    assert_eq!(
        rdata(&ask(&d, "laptop.lan", RecordType::A).unwrap()),
        ["192.168.1.20"]
    );
    assert!(is_nodata(&ask(&d, "laptop.lan", RecordType::AAAA)));
    // Names outside are not ours.
    assert_eq!(ask(&d, "lan.example", RecordType::A), None);
}

#[test]
fn empty_non_terminals_are_nodata() {
    let src = LocalSources {
        hosts: vec![hosts("10.0.0.1 a.b.corp\n")],
        locals: vec![parse_local("/corp/").unwrap()],
        ..LocalSources::default()
    };
    let d = LocalData::build(&src);
    assert!(is_nodata(&ask(&d, "b.corp", RecordType::A)));
    assert!(is_nxdomain(&ask(&d, "c.corp", RecordType::A)));
}

#[test]
fn a_more_specific_server_domain_is_forwarded() {
    let src = LocalSources {
        forward_domains: vec!["sub.lan".into(), HOME_ARPA.into()],
        ..lan()
    };
    let d = LocalData::build(&src);
    assert_eq!(ask(&d, "x.sub.lan", RecordType::A), None);
    assert!(is_nxdomain(&ask(&d, "x.lan", RecordType::A)));
    // server=/home.arpa/ overrides the built-in local zone.
    assert_eq!(ask(&d, "x.home.arpa", RecordType::A), None);
}

#[test]
fn cname_follows_local_targets() {
    let src = LocalSources {
        hosts: vec![hosts("192.168.1.5 server.lan\n")],
        cnames: vec![
            parse_cname("www.lan,web.lan,server.lan,120").unwrap(),
            parse_cname("chain.lan,www.lan").unwrap(),
            parse_cname("out.lan,example.com").unwrap(),
            parse_cname("loop1.lan,loop2.lan").unwrap(),
            parse_cname("loop2.lan,loop1.lan").unwrap(),
            parse_cname("dhcp.lan,laptop.lan").unwrap(),
        ],
        ..lan()
    };
    let d = LocalData::build(&src);
    assert!(d.warnings().is_empty(), "{:?}", d.warnings());
    let a = ask(&d, "www.lan.", RecordType::A).unwrap();
    assert_eq!(rdata(&a), ["server.lan.", "192.168.1.5"]);
    assert_eq!(owners(&a), ["www.lan.", "server.lan."]);
    assert_eq!(a.answers[0].ttl, 120);
    let a = ask(&d, "chain.lan", RecordType::A).unwrap();
    assert_eq!(rdata(&a), ["www.lan.", "server.lan.", "192.168.1.5"]);
    // QTYPE CNAME: only the alias.
    assert_eq!(
        rdata(&ask(&d, "web.lan", RecordType::CNAME).unwrap()),
        ["server.lan."]
    );
    // The target has no AAAA: the CNAME alone.
    assert_eq!(
        rdata(&ask(&d, "www.lan", RecordType::AAAA).unwrap()),
        ["server.lan."]
    );
    // A target elsewhere: the CNAME alone, the client follows it.
    assert_eq!(
        rdata(&ask(&d, "out.lan", RecordType::A).unwrap()),
        ["example.com."]
    );
    // A loop ends.
    let a = ask(&d, "loop1.lan", RecordType::A).unwrap();
    assert_eq!(a.answers.len(), 1 + MAX_CNAME_CHAIN as usize);
    // A DHCP name as target.
    assert_eq!(
        rdata(&ask(&d, "dhcp.lan", RecordType::A).unwrap()),
        ["laptop.lan.", "192.168.1.20"]
    );
}

#[test]
fn cname_conflicts_are_reported() {
    let src = LocalSources {
        hosts: vec![hosts("10.0.0.1 taken\n")],
        cnames: vec![
            parse_cname("taken,elsewhere").unwrap(),
            parse_cname("dup,a").unwrap(),
            parse_cname("dup,b").unwrap(),
        ],
        ..LocalSources::default()
    };
    let d = LocalData::build(&src);
    assert_eq!(d.warnings().len(), 2, "{:?}", d.warnings());
    assert!(d.warnings()[0].contains("RFC 1034"));
    assert_eq!(
        rdata(&ask(&d, "taken", RecordType::A).unwrap()),
        ["10.0.0.1"]
    );
    assert_eq!(rdata(&ask(&d, "dup", RecordType::CNAME).unwrap()), ["a."]);
}

#[test]
fn srv_host_records() {
    let src = LocalSources {
        srv_hosts: vec![
            parse_srv_host("_ldap._tcp,ldap.lan,389,10,5").unwrap(),
            parse_srv_host("_ldap._tcp.lan,backup.lan,389,20").unwrap(),
            parse_srv_host("_sip._udp.example.com").unwrap(),
        ],
        ..lan()
    };
    let d = LocalData::build(&src);
    // `_ldap._tcp` is qualified with domain=.
    let a = ask(&d, "_ldap._tcp.lan", RecordType::SRV).unwrap();
    assert_eq!(rdata(&a), ["10 5 389 ldap.lan.", "20 0 389 backup.lan."]);
    // No target: the service is not available (RFC 2782 target ".").
    let a = ask(&d, "_sip._udp.example.com", RecordType::SRV).unwrap();
    assert_eq!(rdata(&a), ["0 0 1 ."]);
    assert!(is_nodata(&ask(&d, "_sip._udp.example.com", RecordType::A)));
}

#[test]
fn txt_and_ptr_records() {
    let src = LocalSources {
        txt_records: vec![
            parse_txt_record(r#"info.lan,"v=spf1 -all","second""#).unwrap(),
            parse_txt_record("empty.lan").unwrap(),
        ],
        ptr_records: vec![
            parse_ptr_record("_http._tcp.dns-sd.lan,web._http._tcp.dns-sd.lan").unwrap(),
            parse_ptr_record("7.0.0.10.in-addr.arpa,seven.lan").unwrap(),
            parse_ptr_record("nothing.lan").unwrap(),
        ],
        ..lan()
    };
    let d = LocalData::build(&src);
    let a = ask(&d, "info.lan", RecordType::TXT).unwrap();
    match &a.answers[0].data {
        RData::TXT(t) => {
            let parts: Vec<&[u8]> = t.txt_data.iter().map(|b| &b[..]).collect();
            assert_eq!(parts, [&b"v=spf1 -all"[..], b"second"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ask(&d, "empty.lan", RecordType::TXT).unwrap().answers.len(),
        1
    );
    assert_eq!(
        rdata(&ask(&d, "_http._tcp.dns-sd.lan", RecordType::PTR).unwrap()),
        ["web._http._tcp.dns-sd.lan."]
    );
    assert_eq!(
        rdata(&ask(&d, "7.0.0.10.in-addr.arpa", RecordType::PTR).unwrap()),
        ["seven.lan."]
    );
    assert!(is_nodata(&ask(&d, "nothing.lan", RecordType::PTR)));
}

#[test]
fn dhcp_names_forward_and_reverse() {
    let d = LocalData::build(&LocalSources {
        dhcp_ttl: Some(60),
        ..lan()
    });
    let a = ask(&d, "Laptop.LAN", RecordType::A).unwrap();
    assert_eq!(rdata(&a), ["192.168.1.20"]);
    assert_eq!(a.answers[0].ttl, 60);
    assert_eq!(
        rdata(&ask(&d, "phone", RecordType::A).unwrap()),
        ["192.168.1.21"]
    );
    let p = ask(&d, "20.1.168.192.in-addr.arpa", RecordType::PTR).unwrap();
    assert_eq!(rdata(&p), ["laptop.lan."]);
    assert!(is_nodata(&ask(
        &d,
        "20.1.168.192.in-addr.arpa",
        RecordType::A
    )));
    // Only one label below the domain.
    assert!(is_nxdomain(&ask(&d, "x.laptop.lan", RecordType::A)));
    // A name that leaves the table is gone at once.
    let empty = HostTable::default();
    assert!(is_nxdomain(&d.answer(
        &empty,
        &name("laptop.lan"),
        RecordType::A,
        DNSClass::IN
    )));
    // Without domain=, the PTR is the bare name.
    let d = LocalData::build(&LocalSources::default());
    let p = ask(&d, "20.1.168.192.in-addr.arpa", RecordType::PTR).unwrap();
    assert_eq!(rdata(&p), ["laptop."]);
}

/// AAAA names of DHCPv4 clients (design §10): every IPv6 address of the
/// name with the DHCP TTL, a PTR in ip6.arpa for each (also in a
/// `bogus-priv` RFC 6303 zone, as local data comes first), NODATA for
/// AAAA of a name without one, NXDOMAIN once the name is gone.
#[test]
fn dhcp_names_answer_aaaa_and_ip6_arpa_ptr() {
    let d = LocalData::build(&LocalSources {
        dhcp_ttl: Some(60),
        bogus_priv: true,
        ..lan()
    });
    let stable: Ipv6Addr = "2001:db8::5054:ff:fe12:3456".parse().unwrap();
    let privacy: Ipv6Addr = "2001:db8::8d1:2f3c:a01:77e4".parse().unwrap();
    let ula: Ipv6Addr = "fd00::20".parse().unwrap();
    let t = dhcp().with_v6([("laptop", stable), ("laptop", privacy), ("laptop", ula)]);
    let q = |n: &str, ty| d.answer(&t, &name(n), ty, DNSClass::IN);
    let a = q("laptop.lan", RecordType::AAAA).unwrap();
    assert_eq!(
        rdata(&a),
        [stable.to_string(), privacy.to_string(), ula.to_string()]
    );
    assert!(a.answers.iter().all(|r| r.ttl == 60));
    assert_eq!(
        rdata(&q("LAPTOP", RecordType::A).unwrap()),
        ["192.168.1.20"]
    );
    // ANY: one RRset, the A one.
    assert_eq!(
        rdata(&q("laptop", RecordType::ANY).unwrap()),
        ["192.168.1.20"]
    );
    for a in [stable, privacy, ula] {
        let p = q(&reverse_name(IpAddr::V6(a)), RecordType::PTR).unwrap();
        assert_eq!(rdata(&p), ["laptop.lan."], "{a}");
        assert!(is_nodata(&q(
            &reverse_name(IpAddr::V6(a)),
            RecordType::AAAA
        )));
    }
    // A name with no IPv6 address: NODATA, as before.
    assert!(is_nodata(&q("phone.lan", RecordType::AAAA)));
    // An address no client uses is not ours (forwarded, or the RFC 6303
    // zone's NXDOMAIN for a ULA).
    let unknown = reverse_name(IpAddr::V6("2a00:1450::99".parse().unwrap()));
    assert_eq!(q(&unknown, RecordType::PTR), None);
    let unknown_ula = reverse_name(IpAddr::V6("fd00::99".parse().unwrap()));
    assert!(is_nxdomain(&q(&unknown_ula, RecordType::PTR)));
    // Without the table's IPv6 side, the same questions are no longer
    // answered from it (2001:db8::/32 is an RFC 6303 zone).
    let p = ask(&d, &reverse_name(IpAddr::V6(stable)), RecordType::PTR);
    assert!(is_nxdomain(&p));
    assert!(is_nodata(&ask(&d, "laptop.lan", RecordType::AAAA)));
    // Meta queries for the reverse name are refused as for local data.
    assert_eq!(
        q(&reverse_name(IpAddr::V6(privacy)), RecordType::AXFR).map(|a| a.rcode),
        Some(ResponseCode::Refused)
    );
}

#[test]
fn static_names_shadow_dhcp_names() {
    let src = LocalSources {
        hosts: vec![hosts("10.0.0.99 nas.lan\n10.0.0.98 twenty\n")],
        ptr_records: vec![parse_ptr_record("20.1.168.192.in-addr.arpa,static.lan").unwrap()],
        ..lan()
    };
    let d = LocalData::build(&src);
    assert_eq!(
        rdata(&ask(&d, "nas.lan", RecordType::A).unwrap()),
        ["10.0.0.99"]
    );
    assert_eq!(
        rdata(&ask(&d, "20.1.168.192.in-addr.arpa", RecordType::PTR).unwrap()),
        ["static.lan."]
    );
}

#[test]
fn localhost_invalid_and_home_arpa() {
    let d = LocalData::build(&LocalSources::default());
    for q in ["localhost", "LOCALHOST.", "foo.localhost"] {
        assert_eq!(
            rdata(&ask(&d, q, RecordType::A).unwrap()),
            ["127.0.0.1"],
            "{q}"
        );
        assert_eq!(
            rdata(&ask(&d, q, RecordType::AAAA).unwrap()),
            ["::1"],
            "{q}"
        );
    }
    let mx = ask(&d, "localhost", RecordType::MX);
    assert!(is_nodata(&mx));
    assert_eq!(mx.unwrap().authority[0].ttl, 10_800);
    assert_eq!(ask(&d, "localhost.example", RecordType::A), None);
    for q in ["invalid", "x.invalid"] {
        let a = ask(&d, q, RecordType::A);
        assert!(is_nxdomain(&a), "{q}");
        assert_eq!(a.unwrap().authority[0].name, name("invalid."));
    }
    assert!(is_nxdomain(&ask(&d, "printer.home.arpa", RecordType::A)));
    assert!(is_nodata(&ask(&d, "home.arpa", RecordType::SOA)));
    // DHCP names may live under home.arpa.
    let d = LocalData::build(&LocalSources {
        domain: Some(HOME_ARPA.into()),
        ..LocalSources::default()
    });
    assert_eq!(
        rdata(&ask(&d, "laptop.home.arpa", RecordType::A).unwrap()),
        ["192.168.1.20"]
    );
}

#[test]
fn bogus_priv_covers_rfc6303_zones() {
    let off = LocalData::build(&LocalSources::default());
    assert_eq!(ask(&off, "5.1.168.192.in-addr.arpa", RecordType::PTR), None);
    let d = LocalData::build(&LocalSources {
        bogus_priv: true,
        ..LocalSources::default()
    });
    let private = [
        "5.1.168.192.in-addr.arpa",
        "1.0.0.10.in-addr.arpa",
        "1.0.16.172.in-addr.arpa",
        "1.0.31.172.in-addr.arpa",
        "1.0.0.127.in-addr.arpa",
        "1.1.254.169.in-addr.arpa",
        "1.0.64.100.in-addr.arpa",
        "9.2.0.192.in-addr.arpa",
        "255.255.255.255.in-addr.arpa",
        "10.in-addr.arpa",
    ];
    for q in private {
        let a = ask(&d, q, RecordType::PTR);
        assert!(a.is_some(), "{q}");
        assert_eq!(a.as_ref().unwrap().authority.len(), 1, "{q}");
    }
    assert!(is_nxdomain(&ask(
        &d,
        "5.1.168.192.in-addr.arpa",
        RecordType::PTR
    )));
    // The apex exists.
    assert!(is_nodata(&ask(&d, "168.192.in-addr.arpa", RecordType::PTR)));
    for v6 in ["fd12::1", "fe80::1", "febf::1", "2001:db8::5"] {
        let q = reverse_name(v6.parse().unwrap());
        assert!(is_nxdomain(&ask(&d, &q, RecordType::PTR)), "{v6}");
    }
    // ::1 and :: are zones of one name each: their apex exists.
    for v6 in ["::1", "::"] {
        let q = reverse_name(v6.parse().unwrap());
        assert!(is_nodata(&ask(&d, &q, RecordType::PTR)), "{v6}");
    }
    for public in [
        "8.8.8.8.in-addr.arpa",
        "1.0.15.172.in-addr.arpa",
        "1.0.32.172.in-addr.arpa",
        "1.0.128.100.in-addr.arpa",
    ] {
        assert_eq!(ask(&d, public, RecordType::PTR), None, "{public}");
    }
    let q = reverse_name("2606:4700::1111".parse().unwrap());
    assert_eq!(ask(&d, &q, RecordType::PTR), None);
    // A DHCP client in a private range keeps its PTR.
    assert_eq!(
        rdata(&ask(&d, "20.1.168.192.in-addr.arpa", RecordType::PTR).unwrap()),
        ["laptop."]
    );
}

#[test]
fn minimal_any() {
    let src = LocalSources {
        hosts: vec![hosts("10.0.0.1 both\nfd00::1 both\n")],
        txt_records: vec![parse_txt_record("t,x").unwrap()],
        ptr_records: vec![parse_ptr_record("bare").unwrap()],
        addresses: vec![parse_address("/ads/::2").unwrap()],
        ..LocalSources::default()
    };
    let d = LocalData::build(&src);
    // One RRset (RFC 8482 §4.1).
    assert_eq!(
        rdata(&ask(&d, "both", RecordType::ANY).unwrap()),
        ["10.0.0.1"]
    );
    assert_eq!(ask(&d, "t", RecordType::ANY).unwrap().answers.len(), 1);
    // Nothing to show: HINFO "RFC8482" (§4.2).
    let h = ask(&d, "bare", RecordType::ANY).unwrap();
    assert_eq!(h.answers[0].record_type(), RecordType::HINFO);
    assert_eq!(rdata(&ask(&d, "x.ads", RecordType::ANY).unwrap()), ["::2"]);
    assert_eq!(
        rdata(&ask(&d, "localhost", RecordType::ANY).unwrap()),
        ["127.0.0.1"]
    );
}

#[test]
fn classes_and_meta_types() {
    let src = LocalSources {
        hosts: vec![hosts("10.0.0.1 nas\n")],
        ..lan()
    };
    let d = LocalData::build(&src);
    assert_eq!(
        d.answer(&dhcp(), &name("nas"), RecordType::A, DNSClass::CH),
        None
    );
    assert!(
        d.answer(&dhcp(), &name("nas"), RecordType::A, DNSClass::ANY)
            .is_some()
    );
    for t in [RecordType::AXFR, RecordType::IXFR] {
        assert_eq!(ask(&d, "nas", t).unwrap().rcode, ResponseCode::Refused);
        assert_eq!(ask(&d, "x.lan", t).unwrap().rcode, ResponseCode::Refused);
        assert_eq!(ask(&d, "example.com", t), None);
    }
}

#[test]
fn weird_query_bytes_never_match_configured_names() {
    let src = LocalSources {
        hosts: vec![hosts("10.0.0.1 a.b\n")],
        ..lan()
    };
    let d = LocalData::build(&src);
    // One label "a.b" (with a dot inside) is not the two labels a, b.
    let dotted = Name::from_labels(vec![&b"a.b"[..]]).unwrap();
    assert_eq!(
        d.answer(&dhcp(), &dotted, RecordType::A, DNSClass::IN),
        None
    );
    let weird = Name::from_labels(vec![&b"\x00\xff"[..], b"lan"]).unwrap();
    assert!(is_nxdomain(&d.answer(
        &dhcp(),
        &weird,
        RecordType::A,
        DNSClass::IN
    )));
}

#[test]
fn respond_echoes_the_query_and_sets_flags() {
    let src = LocalSources {
        hosts: vec![hosts("10.0.0.1 nas\n")],
        ..LocalSources::default()
    };
    let d = LocalData::build(&src);
    let q = dns_query(0x4242, "NaS.", RecordType::A).cd().bytes();
    let a = ask(&d, "NaS.", RecordType::A).unwrap();
    let bytes = respond(&q, &a, Transport::Udp).unwrap();
    let m = Message::from_vec(&bytes).unwrap();
    assert_eq!(m.metadata.id, 0x4242);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert!(m.metadata.recursion_desired);
    assert!(m.metadata.recursion_available);
    assert!(m.metadata.authoritative);
    assert!(m.metadata.checking_disabled);
    assert!(!m.metadata.truncation);
    assert!(m.queries[0].name().eq_case(&name("NaS.")));
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.edns, None);

    // With EDNS: our OPT advertises 1232 and copies DO.
    let q = dns_query(0x4242, "nas", RecordType::A)
        .cd()
        .edns(4096, true)
        .bytes();
    let m = Message::from_vec(&respond(&q, &a, Transport::Udp).unwrap()).unwrap();
    let e = m.edns.unwrap();
    assert_eq!(e.max_payload(), 1232);
    assert!(e.flags().dnssec_ok);

    // RFC 6891 §6.1.3: an unknown version gets BADVERS and no data.
    let q = dns_query(0x4242, "nas", RecordType::A)
        .cd()
        .edns(4096, false)
        .edns_version(1)
        .bytes();
    let m = Message::from_vec(&respond(&q, &a, Transport::Udp).unwrap()).unwrap();
    // 16 is BADVERS (hickory names the shared code BADSIG).
    assert_eq!(u16::from(m.metadata.response_code), 16);
    assert!(m.answers.is_empty());

    let nx = LocalData::build(&lan());
    let q = dns_query(0x4242, "gone.lan", RecordType::A).cd().bytes();
    let a = nx
        .answer(&dhcp(), &name("gone.lan"), RecordType::A, DNSClass::IN)
        .unwrap();
    let m = Message::from_vec(&respond(&q, &a, Transport::Udp).unwrap()).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities.len(), 1);

    assert_eq!(respond(&[], &a, Transport::Udp), None);
    assert_eq!(respond(&[0; 12], &a, Transport::Udp), None);
    let mut resp = q.clone();
    resp[2] |= 0x80;
    assert_eq!(respond(&resp, &a, Transport::Udp), None);
}

#[test]
fn respond_truncates_for_the_client_size() {
    // 40 TXT records of ~40 bytes: about 2 KB.
    let txt: Vec<_> = (0..40)
        .map(|i| parse_txt_record(&format!("big,{}", "x".repeat(30 + i))).unwrap())
        .collect();
    let d = LocalData::build(&LocalSources {
        txt_records: txt,
        ..LocalSources::default()
    });
    let a = ask(&d, "big", RecordType::TXT).unwrap();
    for (edns, transport, truncated) in [
        (None, Transport::Udp, true),
        (Some((4096, false)), Transport::Udp, true),
        (None, Transport::Tcp, false),
    ] {
        let q = {
            let q = dns_query(0x4242, "big", RecordType::TXT).cd();
            match edns {
                Some((size, d)) => q.edns(size, d),
                None => q,
            }
            .bytes()
        };
        let bytes = respond(&q, &a, transport).unwrap();
        let m = Message::from_vec(&bytes).unwrap();
        assert_eq!(m.metadata.truncation, truncated);
        if truncated {
            assert!(m.answers.is_empty());
            assert!(bytes.len() <= if edns.is_some() { 1232 } else { 512 });
        } else {
            assert_eq!(m.answers.len(), 40);
        }
    }
    // A client advertising less than 512 still gets 512 (RFC 6891 §6.2.5).
    let small = LocalData::build(&LocalSources {
        txt_records: vec![parse_txt_record(&format!("mid,{}", "y".repeat(400))).unwrap()],
        ..LocalSources::default()
    });
    let a = ask(&small, "mid", RecordType::TXT).unwrap();
    let q = dns_query(0x4242, "mid", RecordType::TXT)
        .cd()
        .edns(100, false)
        .bytes();
    let m = Message::from_vec(&respond(&q, &a, Transport::Udp).unwrap()).unwrap();
    assert!(!m.metadata.truncation);
}

#[test]
fn random_queries_never_panic() {
    let src = LocalSources {
        hosts: vec![hosts(
            "10.0.0.1 nas nas.lan\nfd00::1 nas\n192.168.1.5 server.lan\n",
        )],
        addresses: vec![
            parse_address("/ads.example/0.0.0.0").unwrap(),
            parse_address("/sink.example/").unwrap(),
        ],
        cnames: vec![
            parse_cname("www.lan,server.lan").unwrap(),
            parse_cname("l1.lan,l2.lan").unwrap(),
            parse_cname("l2.lan,l1.lan").unwrap(),
        ],
        srv_hosts: vec![parse_srv_host("_ldap._tcp,server.lan,389").unwrap()],
        txt_records: vec![parse_txt_record("t.lan,a,b").unwrap()],
        bogus_priv: true,
        expand_hosts: true,
        ..lan()
    };
    let d = LocalData::build(&src);
    let table = dhcp();
    let labels: [&[u8]; 14] = [
        b"nas",
        b"lan",
        b"www",
        b"l1",
        b"ads",
        b"example",
        b"sink",
        b"localhost",
        b"invalid",
        b"in-addr",
        b"arpa",
        b"168",
        b"\xff.\x00",
        b"_ldap",
    ];
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::ANY,
        RecordType::CNAME,
        RecordType::PTR,
        RecordType::SRV,
        RecordType::TXT,
        RecordType::MX,
        RecordType::AXFR,
        RecordType::OPT,
        RecordType::Unknown(65_000),
    ];
    let classes = [
        DNSClass::IN,
        DNSClass::ANY,
        DNSClass::CH,
        DNSClass::Unknown(7),
    ];
    never_panics(
        0x1234_5678_9ABC_DEF1,
        20_000,
        |rng, _| {
            let n = rng.index(6);
            let parts: Vec<&[u8]> = (0..n).map(|_| labels[rng.index(labels.len())]).collect();
            let qname = Name::from_labels(parts).ok()?;
            let qtype = types[rng.index(types.len())];
            let qclass = classes[rng.index(classes.len())];
            let mut m = Message::new(rng.next_u64() as u16, MessageType::Query, OpCode::Query);
            m.add_query(Query::query(qname.clone(), qtype));
            let q = m.to_vec().ok();
            let mutated = q.as_ref().map(|q| (mutate(rng, q), mutate(rng, q)));
            Some((qname, qtype, qclass, q, mutated))
        },
        |_, input| {
            let Some((qname, qtype, qclass, q, mutated)) = input else {
                return;
            };
            if let Some(a) = d.answer(&table, qname, *qtype, *qclass)
                && let (Some(q), Some((udp, tcp))) = (q, mutated)
            {
                let _ = respond(q, &a, Transport::Udp);
                let _ = respond(udp, &a, Transport::Udp);
                let _ = respond(tcp, &a, Transport::Tcp);
            }
        },
    );
}

#[test]
fn ipv6_host_entries_have_ptr() {
    let d = LocalData::build(&LocalSources {
        hosts: vec![hosts("2001:db8::42 v6host\n")],
        ..LocalSources::default()
    });
    let q = reverse_name("2001:db8::42".parse::<Ipv6Addr>().unwrap().into());
    assert_eq!(rdata(&ask(&d, &q, RecordType::PTR).unwrap()), ["v6host."]);
}
