//! The pure adapters between the wire and the core (no socket, no clock,
//! no store): a decoded packet becomes the core's [`Req`], an [`Answer`]
//! becomes bytes, and [`process_datagram`] runs the whole per-datagram
//! path (decode → core → encode) for the fuzz target and the property
//! test, with exactly the calls the driver makes.

use std::net::Ipv4Addr;

use super::server::{Answer, MsgType, Now, Outcome, Req, Server};
use super::socket::Envelope;
use super::wire::{self, BootFile, Packet, Reply, Sname};

/// The wire form of a reply (RFC 2131 §2). sname/file lengths were
/// checked when the config was loaded (`dhcp-boot`), so they always fit.
/// The options are lent to the encoder and given back, so encoding a
/// reply copies no option value (this runs for every packet answered).
pub fn encode_answer(
    a: &mut Answer,
    out: &mut Vec<u8>,
) -> Result<wire::Dropped, wire::EncodeError> {
    let mut reply = Reply {
        xid: a.xid,
        flags: a.flags,
        ciaddr: a.ciaddr,
        yiaddr: a.yiaddr,
        siaddr: a.siaddr,
        giaddr: a.giaddr,
        chaddr: a.hw,
        sname: a
            .sname
            .as_deref()
            .and_then(|s| Sname::new(s.as_bytes()).ok())
            .unwrap_or_default(),
        file: a
            .file
            .as_deref()
            .and_then(|s| BootFile::new(s.as_bytes()).ok())
            .unwrap_or_default(),
        options: std::mem::take(&mut a.options),
    };
    let r = wire::encode_into(&reply, a.max_len.max(wire::MIN_REPLY_LEN), out);
    a.options = std::mem::take(&mut reply.options);
    r
}

/// The whole per-datagram path without sockets or storage: bytes →
/// decode → core → encode, exactly the calls the batch makes. For the
/// fuzz target and the property test; `None` when the datagram was
/// malformed or got no reply.
pub fn process_datagram(
    server: &mut Server,
    now: Now,
    bytes: &[u8],
    env: &Envelope,
    out: &mut Vec<u8>,
) -> Option<Outcome> {
    let pkt = Packet::decode(bytes).ok()?;
    let req = to_req(&pkt, env);
    let mut o = server.handle(now, &req);
    // As if every change were written at once: nothing to undo later.
    server.committed(server.undo_mark());
    if let Outcome::Reply(a) = &mut o {
        encode_answer(a, out).ok()?;
    }
    Some(o)
}

/// Builds the core's view of a decoded packet.
pub fn to_req(p: &Packet, env: &Envelope) -> Req {
    let relay = p.relay_agent_info();
    Req {
        msg: MsgType::from_u8(p.msg_type_code()),
        xid: p.xid,
        flags: p.flags,
        ciaddr: p.ciaddr,
        giaddr: p.giaddr,
        hw: p.chaddr,
        client_id: p.client_id().map(<[u8]>::to_vec),
        requested: p.requested_ip(),
        server_id: p.server_id(),
        prl: p.param_request_list().map(<[u8]>::to_vec),
        max_len: p.max_reply_len(),
        hostname: p.hostname().map(<[u8]>::to_vec),
        fqdn: p.option(81).map(<[u8]>::to_vec),
        relay_info: relay.map(<[u8]>::to_vec),
        subnet_select: p
            .option(118)
            .and_then(ip4)
            .or_else(|| relay.and_then(|r| rai_suboption(r, 5)).and_then(ip4)),
        unicast: !env.dst.is_broadcast() && !env.dst.is_unspecified(),
        ifindex: Some(env.ifindex).filter(|i| *i != 0),
    }
}

fn ip4(b: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(b).ok().map(Ipv4Addr::from)
}

/// A sub-option of option 82 (RFC 3046 §2.0 TLVs).
pub fn rai_suboption(rai: &[u8], code: u8) -> Option<&[u8]> {
    let mut i = 0;
    while i + 2 <= rai.len() {
        let (c, l) = (rai[i], rai[i + 1] as usize);
        let v = rai.get(i + 2..i + 2 + l)?;
        if c == code {
            return Some(v);
        }
        i += 2 + l;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddrV4;

    use super::*;
    use crate::clock::{Mono, UnixTime};
    use crate::dhcp::server::Plan;

    #[test]
    fn relay_suboptions() {
        // circuit-id "eth1", link-selection 10.9.0.0 (RFC 3527 sub-option 5).
        let rai = [1, 4, b'e', b't', b'h', b'1', 5, 4, 10, 9, 0, 0];
        assert_eq!(rai_suboption(&rai, 1), Some(&b"eth1"[..]));
        assert_eq!(
            rai_suboption(&rai, 5).and_then(ip4),
            Some(Ipv4Addr::new(10, 9, 0, 0))
        );
        assert_eq!(rai_suboption(&rai, 9), None);
        assert_eq!(rai_suboption(&[5, 40, 1], 5), None);
    }

    /// A server for the property test and the fuzz target: a local subnet
    /// with a peer range, a relayed subnet, a reservation and options.
    pub(crate) fn fixture() -> Server {
        use crate::dhcp::subnet::plan;
        use crate::net::IfAddr;
        let text = "[dhcp]\n\
            dhcp-range = set:lan,192.168.1.100,192.168.1.110,1h\n\
            dhcp-peer-range = 192.168.1.150,192.168.1.160\n\
            dhcp-range = 10.9.0.10,10.9.0.20,255.255.255.0,2h\n\
            dhcp-host = 02:00:00:00:00:01,192.168.1.10,printer\n\
            dhcp-option = option:dns-server,192.168.1.1\n\
            dhcp-option = tag:lan,option:domain-search,lan,example.com\n\
            dhcp-option = option:classless-static-route,10.0.0.0/8,192.168.1.2,0.0.0.0/0,192.168.1.1\n\
            dhcp-lease-max = 8\n";
        let cfg =
            crate::config::parse_and_validate(std::path::Path::new("fixture.conf"), text).unwrap();
        let d = cfg.dhcp.unwrap();
        let ifaces = vec![IfAddr {
            name: "eth0".into(),
            index: 2,
            addr: Ipv4Addr::new(192, 168, 1, 1),
            prefix: 24,
        }];
        let mut p = Plan::new(
            &d,
            plan(&d, &ifaces, std::path::Path::new("fixture.conf")).unwrap(),
        );
        p.local_addrs = ifaces;
        Server::new(p, Vec::new())
    }

    /// Encoding lends the options to the encoder and gives them back
    /// (notes and logs read them after the reply is encoded).
    #[test]
    fn encoding_an_answer_keeps_its_options() {
        let mut server = fixture();
        let seed = include_bytes!("../../fuzz/seeds/dhcp_decode_encode/dhclient-discover");
        let env = Envelope {
            len: seed.len(),
            src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
            ifindex: 2,
            dst: Ipv4Addr::BROADCAST,
        };
        let now = Now {
            mono: Mono(0),
            wall: UnixTime(1_800_000_000),
        };
        let Some(Outcome::Reply(mut a)) =
            process_datagram(&mut server, now, seed, &env, &mut Vec::new())
        else {
            panic!("the dhclient DISCOVER gets an OFFER");
        };
        let before = a.options.clone();
        let mut out = Vec::new();
        encode_answer(&mut a, &mut out).unwrap();
        assert_eq!(a.options, before);
        assert!(
            a.options
                .iter()
                .any(|(c, v)| *c == 54 && v == &[192, 168, 1, 1])
        );
        assert!(out.len() >= wire::MIN_REPLY_LEN);
    }

    /// Bytes → decode → core → encode on 20,000 mutated real requests,
    /// with time moving: never a panic, and every reply well-formed and
    /// inside our subnets (the same path as the fuzz target).
    #[test]
    fn random_datagrams_through_the_whole_path() {
        let seeds: [&[u8]; 5] = [
            include_bytes!("../../fuzz/seeds/dhcp_decode_encode/dhclient-discover"),
            include_bytes!("../../fuzz/seeds/dhcp_decode_encode/udhcpc-discover-broadcast"),
            include_bytes!("../../fuzz/seeds/dhcp_decode_encode/relayed-request"),
            include_bytes!("../../fuzz/seeds/dhcp_decode_encode/overload-split-121"),
            include_bytes!("../../fuzz/seeds/dhcp_decode_encode/prl-108-0-255"),
        ];
        let mut server = fixture();
        let mut rng = crate::testkit::Rng::new(0x9e37_79b9_7f4a_7c15);
        let mut rnd = move || rng.next_u64();
        let mut out = Vec::new();
        let (mut replies, mut acks) = (0, 0);
        for i in 0..20_000u64 {
            let mut b = seeds[(rnd() % 5) as usize].to_vec();
            match rnd() % 6 {
                0 => {}
                1 => {
                    for _ in 0..(rnd() % 8) {
                        let at = (rnd() as usize) % b.len();
                        b[at] ^= 1 << (rnd() % 8);
                    }
                }
                2 => b.truncate((rnd() as usize) % (b.len() + 1)),
                3 => {
                    // Message type and a random chaddr: new clients.
                    if b.len() > 250 {
                        b[28..34].copy_from_slice(&rnd().to_be_bytes()[..6]);
                        if let Some(p) = b.windows(3).position(|w| w[0] == 53 && w[1] == 1) {
                            b[p + 2] = (rnd() % 9) as u8;
                        }
                    }
                }
                4 => b.extend((0..(rnd() % 300)).map(|_| rnd() as u8)),
                _ => b = (0..(rnd() % 600)).map(|_| rnd() as u8).collect(),
            }
            let now = Now {
                mono: Mono(i * 50),
                wall: UnixTime(1_800_000_000 + i / 20),
            };
            let env = Envelope {
                len: b.len(),
                src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
                ifindex: 2,
                dst: Ipv4Addr::BROADCAST,
            };
            if let Some(Outcome::Reply(a)) = process_datagram(&mut server, now, &b, &env, &mut out)
            {
                replies += 1;
                assert!(
                    out.len() >= wire::MIN_REPLY_LEN
                        && out.len() <= a.max_len.max(wire::MIN_REPLY_LEN)
                );
                assert_eq!(&out[236..240], &wire::MAGIC_COOKIE);
                if a.msg == MsgType::Ack && !a.yiaddr.is_unspecified() {
                    acks += 1;
                    assert!(
                        server.plan().subnets.iter().any(|s| s.contains(a.yiaddr)),
                        "{a:?}"
                    );
                }
            }
            assert!(server.db().active_count(now.wall) <= 8);
        }
        assert!(
            replies > 1_000 && acks > 0,
            "the mutations must reach the core: {replies} replies, {acks} acks"
        );
    }
}
