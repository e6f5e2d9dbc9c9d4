use super::*;
use crate::testkit::{Rng, junk, mutate, never_panics};
use dhcproto::Decodable;

const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const CLIENT_DUID: &[u8] = &[0, 3, 0, 1, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];

fn settings() -> Settings {
    Settings {
        duid: duid_ll(MAC),
        dns_servers: vec!["fd00::1".parse().unwrap(), "fd00::2".parse().unwrap()],
        domains: vec!["lan.example.com".into(), "example.com".into()],
        refresh: 3600,
    }
}

fn opt(code: u16, body: &[u8]) -> Vec<u8> {
    let mut o = code.to_be_bytes().to_vec();
    o.extend_from_slice(&(body.len() as u16).to_be_bytes());
    o.extend_from_slice(body);
    o
}

fn oro(codes: &[u16]) -> Vec<u8> {
    let body: Vec<u8> = codes.iter().flat_map(|c| c.to_be_bytes()).collect();
    opt(code::ORO, &body)
}

fn msg(msg_type: u8, opts: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![msg_type, 0x12, 0x34, 0x56];
    for o in opts {
        m.extend_from_slice(o);
    }
    m
}

const ALL_ORO: &[u16] = &[
    code::DNS_SERVERS,
    code::DOMAIN_LIST,
    code::INFORMATION_REFRESH_TIME,
];

fn info_req(extra: &[Vec<u8>]) -> Vec<u8> {
    let mut opts = vec![opt(code::CLIENTID, CLIENT_DUID), oro(ALL_ORO)];
    opts.extend_from_slice(extra);
    msg(11, &opts)
}

fn from() -> SocketAddrV6 {
    SocketAddrV6::new("fe80::aa:bbff:fecc:ddee".parse().unwrap(), 546, 0, 7)
}

fn run(server: &mut Server, role: Role, data: &[u8]) -> Result<Transmit, Discard> {
    server.handle_datagram(
        role,
        Inbound {
            data,
            from: from(),
            ifindex: 7,
        },
    )?;
    Ok(server.poll_transmit().expect("a reply was queued"))
}

fn answer(data: &[u8]) -> Result<Message, Discard> {
    let mut s = Server::new(settings());
    let t = run(&mut s, Role::Standalone, data)?;
    Ok(Message::decode(&mut dhcproto::Decoder::new(&t.data)).expect("our reply decodes"))
}

/// The information refresh time of a Reply: dhcproto 0.15 encodes the
/// option but decodes it as an unknown one, so read its 4 bytes here.
fn refresh(m: &Message) -> Option<u32> {
    match m.opts().get(OptionCode::InformationRefreshTime)? {
        DhcpOption::InformationRefreshTime(t) => Some(*t),
        DhcpOption::Unknown(u) => Some(u32::from_be_bytes(u.data().try_into().ok()?)),
        o => panic!("not a refresh time: {o:?}"),
    }
}

fn codes(m: &Message) -> Vec<u16> {
    m.opts()
        .iter()
        .map(|o| u16::from(OptionCode::from(o)))
        .collect()
}

#[test]
fn information_request_gets_every_option_it_asks_for() {
    let mut s = Server::new(settings());
    let t = run(&mut s, Role::Standalone, &info_req(&[])).unwrap();
    // §7.2: to the client's address, port 546, out of the interface the
    // request came in on.
    assert_eq!(t.to, SocketAddrV6::new(*from().ip(), 546, 0, 7));
    assert_eq!(t.ifindex, 7);
    let m = Message::decode(&mut dhcproto::Decoder::new(&t.data)).unwrap();
    assert_eq!(m.msg_type(), MessageType::Reply);
    // §18.3.6: the transaction ID of the request.
    assert_eq!(m.xid(), [0x12, 0x34, 0x56]);
    assert_eq!(
        m.opts().get(OptionCode::ServerId),
        Some(&DhcpOption::ServerId(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 1]))
    );
    assert_eq!(
        m.opts().get(OptionCode::ClientId),
        Some(&DhcpOption::ClientId(CLIENT_DUID.to_vec()))
    );
    assert_eq!(
        m.opts().get(OptionCode::DomainNameServers),
        Some(&DhcpOption::DomainNameServers(settings().dns_servers))
    );
    assert_eq!(refresh(&m), Some(3600));
    let Some(DhcpOption::DomainSearchList(names)) = m.opts().get(OptionCode::DomainSearchList)
    else {
        panic!("no domain list in {:?}", codes(&m));
    };
    let names: Vec<String> = names.iter().map(|n| n.to_ascii()).collect();
    assert_eq!(names, ["lan.example.com.", "example.com."]);
}

#[test]
fn domain_names_are_written_uncompressed() {
    // RFC 8415 §10 / RFC 3646 §4: no compression pointers, even for a
    // shared suffix.
    let w = domain_list_wire(&["a.example".into(), "example".into()]);
    assert_eq!(w, b"\x01a\x07example\x00\x07example\x00".to_vec());
    assert!(domain_list_wire(&["x".repeat(64)]).is_empty());
}

#[test]
fn only_options_in_the_oro_are_sent() {
    // No ORO: the mandatory identifiers only (§18.3.6, §21.7).
    let m = answer(&msg(11, &[opt(code::CLIENTID, CLIENT_DUID)])).unwrap();
    assert_eq!(codes(&m), [code::CLIENTID, code::SERVERID]);
    // DNS servers only: no domain list and no refresh time (§21.23).
    let m = answer(&msg(
        11,
        &[opt(code::CLIENTID, CLIENT_DUID), oro(&[code::DNS_SERVERS])],
    ))
    .unwrap();
    assert_eq!(
        codes(&m),
        [code::CLIENTID, code::SERVERID, code::DNS_SERVERS]
    );
    let m = answer(&msg(11, &[oro(&[code::INFORMATION_REFRESH_TIME])])).unwrap();
    assert_eq!(codes(&m), [code::SERVERID, code::INFORMATION_REFRESH_TIME]);
}

#[test]
fn no_client_identifier_in_gives_none_out() {
    let m = answer(&msg(11, &[oro(ALL_ORO)])).unwrap();
    assert!(m.opts().get(OptionCode::ClientId).is_none());
    assert!(m.opts().get(OptionCode::ServerId).is_some());
}

#[test]
fn empty_lists_are_not_sent() {
    let mut st = settings();
    st.domains.clear();
    st.dns_servers.clear();
    let mut s = Server::new(st);
    let t = run(&mut s, Role::Standalone, &info_req(&[])).unwrap();
    let m = Message::decode(&mut dhcproto::Decoder::new(&t.data)).unwrap();
    assert_eq!(
        codes(&m),
        [
            code::CLIENTID,
            code::SERVERID,
            code::INFORMATION_REFRESH_TIME
        ]
    );
}

#[test]
fn an_ia_in_an_information_request_is_discarded() {
    for ia in [code::IA_NA, code::IA_TA, code::IA_PD] {
        let ia = opt(ia, &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            answer(&info_req(&[ia])).unwrap_err(),
            Discard::IaInInformationRequest
        );
    }
}

#[test]
fn a_server_identifier_must_be_ours() {
    let ours = opt(code::SERVERID, &duid_ll(MAC));
    assert!(answer(&info_req(&[ours])).is_ok());
    let theirs = opt(code::SERVERID, &duid_ll([2, 0, 0, 0, 0, 2]));
    assert_eq!(
        answer(&info_req(&[theirs])).unwrap_err(),
        Discard::OtherServer
    );
}

#[test]
fn generic_validation_has_its_own_counts() {
    for n in 0..4 {
        assert_eq!(answer(&info_req(&[])[..n]).unwrap_err(), Discard::TooShort);
    }
    for t in [0u8, 22, 200, 255] {
        assert_eq!(answer(&msg(t, &[])).unwrap_err(), Discard::UnknownType);
    }
    // An option longer than what is left.
    let mut cut = info_req(&[]);
    cut.truncate(cut.len() - 1);
    assert_eq!(answer(&cut).unwrap_err(), Discard::BadOptions);
    // Three bytes of an option header.
    let mut stub = info_req(&[]);
    stub.extend_from_slice(&[0, 1, 0]);
    assert_eq!(answer(&stub).unwrap_err(), Discard::BadOptions);
    // An ORO of odd length (§21.7).
    let odd = msg(11, &[opt(code::ORO, &[0, 23, 0])]);
    assert_eq!(answer(&odd).unwrap_err(), Discard::BadOptions);
    // A DUID of 0 or 129 bytes (§11.1).
    for d in [vec![], vec![1; 129]] {
        let m = msg(11, &[opt(code::CLIENTID, &d)]);
        assert_eq!(answer(&m).unwrap_err(), Discard::BadOptions);
    }
    // An unknown option is skipped by its length, not an error.
    assert!(answer(&info_req(&[opt(9999, b"xyz")])).is_ok());
}

#[test]
fn stateful_messages_are_not_served() {
    // Solicit, Request, Confirm, Renew, Rebind, Release, Decline,
    // Leasequery, Reconfigure-request, DHCPv4-query.
    for t in [1u8, 3, 4, 5, 6, 8, 9, 14, 18, 20] {
        assert_eq!(
            answer(&msg(t, &[opt(code::CLIENTID, CLIENT_DUID)])).unwrap_err(),
            Discard::NotServed,
            "type {t}"
        );
    }
}

#[test]
fn messages_only_servers_send_are_discarded() {
    for t in [2u8, 7, 10, 13, 15, 16, 17, 19, 21] {
        assert_eq!(
            answer(&msg(t, &[])).unwrap_err(),
            Discard::ServerMessage,
            "type {t}"
        );
    }
}

/// A Relay-forward (RFC 8415 §9) from relay `n` around `inner`.
fn relay_forw(n: u8, inner: &[u8], interface_id: Option<&[u8]>) -> Vec<u8> {
    let mut m = vec![12, n];
    m.extend_from_slice(&[0xfd, 0x79, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n]);
    m.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, n]);
    if let Some(id) = interface_id {
        m.extend_from_slice(&opt(code::INTERFACE_ID, id));
    }
    m.extend_from_slice(&opt(code::RELAY_MSG, inner));
    m
}

/// A Relay-reply's header fields, Interface-ID and inner message.
struct RelayRepl<'a> {
    hop: u8,
    link: &'a [u8],
    peer: &'a [u8],
    interface_id: Option<&'a [u8]>,
    inner: &'a [u8],
}

fn relay_repl(m: &[u8]) -> RelayRepl<'_> {
    assert_eq!(m[0], 13, "a Relay-reply");
    let opts = options(&m[34..]).unwrap();
    let find = |c: u16| opts.iter().find(|(code, _)| *code == c).map(|(_, b)| *b);
    RelayRepl {
        hop: m[1],
        link: &m[2..18],
        peer: &m[18..34],
        interface_id: find(code::INTERFACE_ID),
        inner: find(code::RELAY_MSG).expect("a Relay Message option"),
    }
}

#[test]
fn relayed_requests_are_answered_through_their_relays() {
    let relay = SocketAddrV6::new("fd78::2".parse().unwrap(), 547, 0, 0);
    let mut s = Server::new(settings());
    // Two relays: relay 1 next to the client, relay 2 next to us.
    let req = relay_forw(2, &relay_forw(1, &info_req(&[]), Some(b"eth7")), None);
    s.handle_datagram(
        Role::Active,
        Inbound {
            data: &req,
            from: relay,
            ifindex: 7,
        },
    )
    .unwrap();
    let t = s.poll_transmit().unwrap();
    // §19.3: back to the relay that sent it, at its port.
    assert_eq!((t.to, t.ifindex), (relay, 7));
    let outer = relay_repl(&t.data);
    assert_eq!(
        (
            outer.hop,
            outer.link[15],
            outer.peer[15],
            outer.interface_id
        ),
        (2, 2, 2, None)
    );
    let r = relay_repl(outer.inner);
    assert_eq!((r.hop, r.link[0], r.peer[0]), (1, 0xfd, 0xfe));
    assert_eq!(r.link[15], 1);
    // §21.18: the Interface-ID comes back to the relay that sent it.
    assert_eq!(r.interface_id, Some(&b"eth7"[..]));
    let m = Message::decode(&mut dhcproto::Decoder::new(r.inner)).unwrap();
    assert_eq!(m.msg_type(), MessageType::Reply);
    assert_eq!(m.xid(), [0x12, 0x34, 0x56]);
    assert_eq!(
        m.opts().get(OptionCode::ClientId),
        Some(&DhcpOption::ClientId(CLIENT_DUID.to_vec()))
    );
    // The client's message inside follows the same rules, the gate too.
    let solicit = relay_forw(1, &msg(1, &[opt(code::CLIENTID, CLIENT_DUID)]), None);
    assert_eq!(answer(&solicit).unwrap_err(), Discard::NotServed);
    let ia = relay_forw(1, &info_req(&[opt(code::IA_NA, &[0; 12])]), None);
    assert_eq!(answer(&ia).unwrap_err(), Discard::IaInInformationRequest);
    let plain = relay_forw(1, &info_req(&[]), None);
    assert_eq!(
        run(&mut s, Role::Backup, &plain).unwrap_err(),
        Discard::Gated
    );
}

#[test]
fn broken_relay_messages_are_discarded() {
    // No Relay Message option (§21.10).
    let mut empty = relay_forw(1, &[], None);
    empty.truncate(34);
    assert_eq!(answer(&empty).unwrap_err(), Discard::BadRelay);
    // Shorter than the relay header.
    assert_eq!(answer(&empty[..33]).unwrap_err(), Discard::TooShort);
    // HOP_COUNT_LIMIT relays are fine, one more is not (§7.6).
    let mut m = info_req(&[]);
    for n in 0..HOP_COUNT_LIMIT as u8 {
        m = relay_forw(n, &m, None);
    }
    assert!(answer(&m).is_ok());
    assert_eq!(
        answer(&relay_forw(9, &m, None)).unwrap_err(),
        Discard::BadRelay
    );
    // A relay option running past the end.
    let mut cut = relay_forw(1, &info_req(&[]), None);
    cut.truncate(cut.len() - 1);
    assert!(answer(&cut).is_err());
}

#[test]
fn the_backup_is_silent_and_says_why() {
    let mut s = Server::new(settings());
    for role in [Role::Backup, Role::Initialize] {
        assert_eq!(
            run(&mut s, role, &info_req(&[])).unwrap_err(),
            Discard::Gated
        );
        assert_eq!(s.poll_transmit(), None);
    }
    // A request it would discard anyway is counted as that, not gated.
    let ia = opt(code::IA_NA, &[0; 12]);
    assert_eq!(
        run(&mut s, Role::Backup, &info_req(&[ia])).unwrap_err(),
        Discard::IaInInformationRequest
    );
    assert!(run(&mut s, Role::Active, &info_req(&[])).is_ok());
    let c = s.counts();
    assert_eq!((c.received, c.replies), (4, 1));
    assert_eq!(c.dropped(Discard::Gated), 2);
    assert_eq!(c.dropped(Discard::IaInInformationRequest), 1);
}

#[test]
fn every_discard_has_a_distinct_name() {
    let mut names: Vec<&str> = Discard::ALL.iter().map(|d| d.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), Discard::ALL.len());
    for (i, d) in Discard::ALL.iter().enumerate() {
        assert_eq!(*d as usize, i, "ALL is in declaration order");
    }
}

/// Random settings and requests: what dhcproto (an independent decoder)
/// reads back from the Reply is exactly what was configured and asked.
#[test]
fn replies_round_trip_through_an_independent_decoder() {
    let mut rng = Rng::new(0x6d6c);
    for case in 0..500 {
        let label = |rng: &mut Rng| {
            let n = 1 + rng.index(12);
            (0..n)
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect::<String>()
        };
        let duid_len = 1 + rng.index(DUID_MAX);
        let st = Settings {
            duid: rng.bytes(duid_len),
            dns_servers: (0..rng.index(4))
                .map(|_| Ipv6Addr::from(rng.next_u64() as u128 | 0xfd00 << 112))
                .collect(),
            domains: (0..rng.index(4))
                .map(|_| {
                    (0..1 + rng.index(3))
                        .map(|_| label(&mut rng))
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .collect(),
            refresh: IRT_MINIMUM + rng.below(1 << 20) as u32,
        };
        let client_len = 1 + rng.index(DUID_MAX);
        let client = (rng.below(2) == 0).then(|| rng.bytes(client_len));
        let asked: Vec<u16> = ALL_ORO
            .iter()
            .copied()
            .filter(|_| rng.below(2) == 0)
            .collect();
        let xid = [rng.byte(), rng.byte(), rng.byte()];
        let mut req = vec![11, xid[0], xid[1], xid[2]];
        if let Some(c) = &client {
            req.extend_from_slice(&opt(code::CLIENTID, c));
        }
        req.extend_from_slice(&oro(&asked));
        let mut s = Server::new(st.clone());
        let t = run(&mut s, Role::Active, &req).unwrap_or_else(|e| panic!("case {case}: {e:?}"));
        let m = Message::decode(&mut dhcproto::Decoder::new(&t.data)).unwrap();
        assert_eq!(m.xid(), xid);
        assert_eq!(
            m.opts().get(OptionCode::ServerId),
            Some(&DhcpOption::ServerId(st.duid.clone()))
        );
        assert_eq!(
            m.opts().get(OptionCode::ClientId).cloned(),
            client.map(DhcpOption::ClientId)
        );
        let want_dns = asked.contains(&code::DNS_SERVERS) && !st.dns_servers.is_empty();
        assert_eq!(
            m.opts().get(OptionCode::DomainNameServers).cloned(),
            want_dns.then(|| DhcpOption::DomainNameServers(st.dns_servers.clone()))
        );
        let got_domains = match m.opts().get(OptionCode::DomainSearchList) {
            Some(DhcpOption::DomainSearchList(n)) => Some(
                n.iter()
                    .map(|n| n.to_ascii().trim_end_matches('.').to_string())
                    .collect::<Vec<_>>(),
            ),
            None => None,
            Some(o) => panic!("case {case}: {o:?}"),
        };
        let want_domains = asked.contains(&code::DOMAIN_LIST) && !st.domains.is_empty();
        assert_eq!(got_domains, want_domains.then(|| st.domains.clone()));
        assert_eq!(
            refresh(&m),
            asked
                .contains(&code::INFORMATION_REFRESH_TIME)
                .then_some(st.refresh)
        );
    }
}

#[test]
fn hostile_datagrams_never_panic() {
    let good = info_req(&[opt(code::SERVERID, &duid_ll(MAC))]);
    let relayed = relay_forw(1, &relay_forw(0, &good, Some(b"if")), None);
    let mut s = Server::new(settings());
    never_panics(
        0xd6c6,
        20_000,
        |rng, case| match case % 3 {
            0 => junk(rng, 300),
            1 => mutate(rng, &good),
            _ => mutate(rng, &relayed),
        },
        |case, data| {
            let role = [Role::Active, Role::Backup, Role::Standalone][case as usize % 3];
            let r = s.handle_datagram(
                role,
                Inbound {
                    data,
                    from: from(),
                    ifindex: 7,
                },
            );
            // A queued reply is always a well-formed Reply, in as many
            // Relay-replies as the request had relays.
            if r.is_ok() {
                let t = s.poll_transmit().unwrap();
                let mut inner = &t.data[..];
                while inner[0] == 13 {
                    inner = relay_repl(inner).inner;
                }
                let m = Message::decode(&mut dhcproto::Decoder::new(inner)).unwrap();
                assert_eq!(m.msg_type(), MessageType::Reply);
            }
        },
    );
    let c = s.counts();
    assert_eq!(c.received, 20_000);
    assert_eq!(c.replies + c.dropped.iter().sum::<u64>(), 20_000);
}
