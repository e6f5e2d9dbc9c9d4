//! The stateless DHCPv6 server (RFC 8415 §6.1), sans-IO.
//!
//! One decision per datagram: [`Server::handle_datagram`] checks it
//! (generic §16 validation, then the rules of its message type), asks the
//! HA [`gate`](super::gate) and queues at most one Reply, which the driver
//! takes with [`Server::poll_transmit`]. A stateless server keeps no
//! per-client state and arms no timer, so no decision depends on the time
//! and there is no `poll_timeout`.
//!
//! The request is read with our own strict option walk, not dhcproto's
//! decoder: dhcproto 0.15 subtracts from a declared length without
//! checking it (a Status Code option shorter than 2 bytes underflows, a
//! panic in a debug build) and reads fixed-size options whatever their
//! declared length. The Reply is built with dhcproto's `v6` message model.

use std::collections::VecDeque;
use std::net::{Ipv6Addr, SocketAddrV6};

use dhcproto::v6::{DhcpOption, Message, MessageType, OptionCode, UnknownOption};
use dhcproto::{Encodable, Encoder};

use super::gate::{self, Kind, Verdict};
use crate::vrrp::Role;

/// The UDP port clients listen on (RFC 8415 §7.2).
pub const CLIENT_PORT: u16 = 546;
/// The UDP port servers listen on (RFC 8415 §7.2).
pub const SERVER_PORT: u16 = 547;
/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1).
pub const ALL_AGENTS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
/// IRT_DEFAULT (RFC 8415 §7.6, §21.23): 86400 s.
pub const IRT_DEFAULT: u32 = 86_400;
/// IRT_MINIMUM (RFC 8415 §7.6, §21.23): 600 s.
pub const IRT_MINIMUM: u32 = 600;
/// HOP_COUNT_LIMIT (RFC 8415 §7.6): the most relays a message crosses.
pub const HOP_COUNT_LIMIT: usize = 8;
/// A DUID is at most 128 octets (RFC 8415 §11.1).
pub const DUID_MAX: usize = 128;

/// Option codes this server reads or writes (RFC 8415 §24.3, RFC 3646).
mod code {
    pub const CLIENTID: u16 = 1;
    pub const SERVERID: u16 = 2;
    pub const IA_NA: u16 = 3;
    pub const IA_TA: u16 = 4;
    pub const ORO: u16 = 6;
    pub const RELAY_MSG: u16 = 9;
    pub const INTERFACE_ID: u16 = 18;
    pub const DNS_SERVERS: u16 = 23;
    pub const DOMAIN_LIST: u16 = 24;
    pub const IA_PD: u16 = 25;
    pub const INFORMATION_REFRESH_TIME: u16 = 32;
}

/// What this server hands out, fixed at start (and reload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Our DUID, sent as the Server Identifier (RFC 8415 §21.3).
    pub duid: Vec<u8>,
    /// OPTION_DNS_SERVERS (RFC 3646 §3).
    pub dns_servers: Vec<Ipv6Addr>,
    /// OPTION_DOMAIN_LIST (RFC 3646 §4), names as text without the
    /// trailing dot, already checked by the config reader.
    pub domains: Vec<String>,
    /// OPTION_INFORMATION_REFRESH_TIME in seconds (RFC 8415 §21.23).
    pub refresh: u32,
}

/// DUID-LL (RFC 8415 §11.4) for an Ethernet interface (hardware type 1,
/// RFC 826 / IANA ARP hardware types). Chosen over DUID-LLT (§11.2)
/// because it needs no clock and no state file: a router's LAN port is
/// the "permanently connected, non-removable interface" §11.4 names, so
/// the identifier is the same after a restart or a reinstall, and each
/// box of a pair has its own.
pub fn duid_ll(mac: [u8; 6]) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(&mac);
    d
}

/// One received datagram, as the driver saw it.
#[derive(Clone, Copy, Debug)]
pub struct Inbound<'a> {
    pub data: &'a [u8],
    /// The sender (a link-local one carries its scope).
    pub from: SocketAddrV6,
    /// The interface it arrived on (IPV6_PKTINFO).
    pub ifindex: u32,
}

/// A Reply (or Relay-reply) to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The client's address, port 546 (RFC 8415 §7.2), or the relay's
    /// address and port.
    pub to: SocketAddrV6,
    /// Out of the interface the request came in on.
    pub ifindex: u32,
    pub data: Vec<u8>,
}

/// Why a datagram got no Reply; each is its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discard {
    /// Shorter than the 4-byte header (RFC 8415 §8).
    TooShort,
    /// A message type RFC 8415 §7.3 (and its updates) does not define:
    /// discarded (§16: a server discards what it cannot validate).
    UnknownType,
    /// An option running past the end of the message, an ORO of odd
    /// length (§21.7) or a DUID outside 1..=128 bytes (§11.1).
    BadOptions,
    /// A message only servers send (Advertise, Reply, Reconfigure,
    /// Relay-Repl, Leasequery-Reply...): servers discard them (§16.3,
    /// §16.10, §16.11).
    ServerMessage,
    /// Information-request with an IA option (§16.12).
    IaInInformationRequest,
    /// Information-request naming another server (§16.12).
    OtherServer,
    /// Solicit, Request, Renew...: address assignment, which a stateless
    /// server does not offer (§6.1); silence lets a stateful server on the
    /// link answer.
    NotServed,
    /// A Relay-forward without a Relay Message option (§21.10), or
    /// relays nested deeper than HOP_COUNT_LIMIT (§7.6).
    BadRelay,
    /// The HA gate: this box is not the Active (design §4, §10).
    Gated,
}

impl Discard {
    /// Every class, for registration and tests.
    pub const ALL: [Discard; 9] = [
        Discard::TooShort,
        Discard::UnknownType,
        Discard::BadOptions,
        Discard::ServerMessage,
        Discard::IaInInformationRequest,
        Discard::OtherServer,
        Discard::NotServed,
        Discard::BadRelay,
        Discard::Gated,
    ];

    /// Its counter's suffix and its log event's suffix.
    pub fn name(self) -> &'static str {
        match self {
            Discard::TooShort => "too_short",
            Discard::UnknownType => "unknown_type",
            Discard::BadOptions => "bad_options",
            Discard::ServerMessage => "server_message",
            Discard::IaInInformationRequest => "ia_in_information_request",
            Discard::OtherServer => "other_server",
            Discard::NotServed => "not_served",
            Discard::BadRelay => "bad_relay",
            Discard::Gated => "gated",
        }
    }

    /// Whose fault it is (design §8): junk from the wire, a valid message
    /// that is not for us, or normal operation (the gate).
    pub fn fault(self) -> Option<crate::log::Fault> {
        use crate::log::Fault;
        match self {
            Discard::TooShort | Discard::UnknownType | Discard::BadOptions | Discard::BadRelay => {
                Some(Fault::PeerJunk)
            }
            Discard::ServerMessage
            | Discard::IaInInformationRequest
            | Discard::OtherServer
            | Discard::NotServed => Some(Fault::NotForUs),
            Discard::Gated => None,
        }
    }

    /// The RFC rule behind it, for the log line.
    pub fn rule(self) -> &'static str {
        match self {
            Discard::TooShort => "RFC 8415 §8",
            Discard::UnknownType => "RFC 8415 §7.3, §16",
            Discard::BadOptions => "RFC 8415 §21.1, §16",
            Discard::ServerMessage => "RFC 8415 §16.3, §16.10, §16.11",
            Discard::IaInInformationRequest | Discard::OtherServer => "RFC 8415 §16.12",
            Discard::NotServed => "RFC 8415 §6.1",
            Discard::BadRelay => "RFC 8415 §7.6, §21.10",
            Discard::Gated => "design §4",
        }
    }
}

/// A request, as far as a stateless server reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub msg_type: u8,
    pub xid: [u8; 3],
    pub client_id: Option<Vec<u8>>,
    pub server_id: Option<Vec<u8>>,
    /// Any IA_NA, IA_TA or IA_PD option.
    pub has_ia: bool,
    /// The codes of the Option Request option, in order.
    pub oro: Vec<u16>,
}

/// Generic validation (RFC 8415 §8, §16, §21.1): the header, then every
/// option's length within the message. Only the options a stateless
/// server uses are interpreted; the others are skipped by their length.
pub fn parse(data: &[u8]) -> Result<Request, Discard> {
    let [msg_type, x0, x1, x2, ..] = *data else {
        return Err(Discard::TooShort);
    };
    let mut req = Request {
        msg_type,
        xid: [x0, x1, x2],
        client_id: None,
        server_id: None,
        has_ia: false,
        oro: Vec::new(),
    };
    match MessageType::from(msg_type) {
        MessageType::Unknown(_) => return Err(Discard::UnknownType),
        // A relay message has its own header (§9): see `unwrap_relays`.
        MessageType::RelayForw => return Err(Discard::BadRelay),
        _ => {}
    }
    for (code, body) in options(&data[4..])? {
        let duid = || {
            if (1..=DUID_MAX).contains(&body.len()) {
                Ok(body.to_vec())
            } else {
                Err(Discard::BadOptions)
            }
        };
        match code {
            // A second Client or Server Identifier: the first counts.
            code::CLIENTID if req.client_id.is_none() => req.client_id = Some(duid()?),
            code::SERVERID if req.server_id.is_none() => req.server_id = Some(duid()?),
            code::IA_NA | code::IA_TA | code::IA_PD => req.has_ia = true,
            code::ORO => {
                if !body.len().is_multiple_of(2) {
                    return Err(Discard::BadOptions);
                }
                req.oro
                    .extend(body.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])));
            }
            _ => {}
        }
    }
    Ok(req)
}

/// One relay a request came through (RFC 8415 §9): what its Relay-reply
/// must carry back (§19.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayHop {
    pub hop_count: u8,
    pub link: [u8; 16],
    pub peer: [u8; 16],
    /// The Interface-ID option, copied into the Relay-reply (§21.18).
    pub interface_id: Option<Vec<u8>>,
}

/// Peels Relay-forward messages (RFC 8415 §9, §19.3) off `data`: the
/// relays, outermost first, and the client's message inside them. A
/// message from a client directly has no relays.
pub fn unwrap_relays(data: &[u8]) -> Result<(Vec<RelayHop>, &[u8]), Discard> {
    let mut hops = Vec::new();
    let mut msg = data;
    while msg.first() == Some(&12) {
        if hops.len() >= HOP_COUNT_LIMIT {
            return Err(Discard::BadRelay);
        }
        let head = msg.get(..34).ok_or(Discard::TooShort)?;
        let mut hop = RelayHop {
            hop_count: head[1],
            link: head[2..18].try_into().unwrap_or_default(),
            peer: head[18..34].try_into().unwrap_or_default(),
            interface_id: None,
        };
        let mut inner = None;
        for (code, body) in options(&msg[34..])? {
            match code {
                code::RELAY_MSG if inner.is_none() => inner = Some(body),
                code::INTERFACE_ID if hop.interface_id.is_none() => {
                    hop.interface_id = Some(body.to_vec())
                }
                _ => {}
            }
        }
        hops.push(hop);
        msg = inner.ok_or(Discard::BadRelay)?;
    }
    Ok((hops, msg))
}

/// The Relay-reply messages around `reply`, innermost relay first
/// (RFC 8415 §19.3): each copies its Relay-forward's hop count, link and
/// peer addresses and Interface-ID.
fn wrap_relays(hops: &[RelayHop], reply: Vec<u8>) -> Vec<u8> {
    hops.iter().rev().fold(reply, |inner, h| {
        let mut m = vec![13, h.hop_count];
        m.extend_from_slice(&h.link);
        m.extend_from_slice(&h.peer);
        if let Some(id) = &h.interface_id {
            put_option(&mut m, code::INTERFACE_ID, id);
        }
        put_option(&mut m, code::RELAY_MSG, &inner);
        m
    })
}

fn put_option(out: &mut Vec<u8>, code: u16, body: &[u8]) {
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// The options of a message body, each `(code, body)`; an option that
/// runs past the end is an error (RFC 8415 §21.1).
fn options(mut rest: &[u8]) -> Result<Vec<(u16, &[u8])>, Discard> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        let [c0, c1, l0, l1, ..] = *rest else {
            return Err(Discard::BadOptions);
        };
        let len = u16::from_be_bytes([l0, l1]) as usize;
        let body = rest.get(4..4 + len).ok_or(Discard::BadOptions)?;
        out.push((u16::from_be_bytes([c0, c1]), body));
        rest = &rest[4 + len..];
    }
    Ok(out)
}

/// How a message type is handled (RFC 8415 §7.3 names them).
fn classify(msg_type: u8) -> Result<Kind, Discard> {
    use MessageType as M;
    match MessageType::from(msg_type) {
        M::InformationRequest => Ok(Kind::InformationRequest),
        M::Solicit
        | M::Request
        | M::Confirm
        | M::Renew
        | M::Rebind
        | M::Release
        | M::Decline
        | M::LeaseQuery
        | M::ReconfigureRequest
        | M::DHCPv4Query => Ok(Kind::Stateful),
        M::RelayForw => Err(Discard::BadRelay),
        M::Unknown(_) => Err(Discard::UnknownType),
        M::Advertise
        | M::Reply
        | M::Reconfigure
        | M::RelayRepl
        | M::LeaseQueryReply
        | M::LeaseQueryDone
        | M::LeaseQueryData
        | M::ReconfigureReply
        | M::DHCPv4Response => Err(Discard::ServerMessage),
    }
}

/// Counts of what the server did, read by the driver's status line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub received: u64,
    pub replies: u64,
    /// Indexed like [`Discard::ALL`].
    pub dropped: [u64; Discard::ALL.len()],
}

impl Counts {
    pub fn dropped(&self, d: Discard) -> u64 {
        self.dropped[d as usize]
    }
}

/// The stateless server.
#[derive(Debug)]
pub struct Server {
    settings: Settings,
    out: VecDeque<Transmit>,
    counts: Counts,
}

impl Server {
    pub fn new(settings: Settings) -> Server {
        Server {
            settings,
            out: VecDeque::new(),
            counts: Counts::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// New settings (a reload); the next Reply uses them.
    pub fn set_settings(&mut self, settings: Settings) {
        self.settings = settings;
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Handles one datagram received while this box plays `role`. `Ok`
    /// when a Reply was queued, else why not.
    pub fn handle_datagram(&mut self, role: Role, input: Inbound<'_>) -> Result<(), Discard> {
        self.counts.received += 1;
        let r = self.decide(role, input);
        match r {
            Ok(t) => {
                self.counts.replies += 1;
                self.out.push_back(t);
                Ok(())
            }
            Err(d) => {
                self.counts.dropped[d as usize] += 1;
                Err(d)
            }
        }
    }

    /// The next Reply to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn decide(&self, role: Role, input: Inbound<'_>) -> Result<Transmit, Discard> {
        let (hops, msg) = unwrap_relays(input.data)?;
        let req = parse(msg)?;
        let kind = classify(req.msg_type)?;
        match kind {
            // §6.1: a stateless server answers Information-request only.
            Kind::Stateful => return Err(Discard::NotServed),
            Kind::InformationRequest => {
                // §16.12: servers MUST discard an Information-request
                // that carries an IA option or another server's DUID.
                if req.has_ia {
                    return Err(Discard::IaInInformationRequest);
                }
                if req
                    .server_id
                    .as_ref()
                    .is_some_and(|s| *s != self.settings.duid)
                {
                    return Err(Discard::OtherServer);
                }
            }
        }
        if gate::decide(role, kind) == Verdict::Silent {
            return Err(Discard::Gated);
        }
        let data = wrap_relays(&hops, self.reply(&req));
        // A client listens on 546 (§7.2); a relay gets its Relay-reply
        // where its Relay-forward came from (§19.3; RFC 8357 lets a relay
        // use another port than 547).
        let port = if hops.is_empty() {
            CLIENT_PORT
        } else {
            input.from.port()
        };
        let to = SocketAddrV6::new(*input.from.ip(), port, 0, input.from.scope_id());
        Ok(Transmit {
            to,
            ifindex: input.ifindex,
            data,
        })
    }

    /// The Reply to an Information-request (§18.3.6): the transaction ID
    /// copied, our Server Identifier (§21.3), the client's Client
    /// Identifier if it sent one, and of the configuration options only
    /// those its ORO asks for (§18.3.6, §21.7).
    fn reply(&self, req: &Request) -> Vec<u8> {
        let s = &self.settings;
        let mut m = Message::new_with_id(MessageType::Reply, req.xid);
        let opts = m.opts_mut();
        opts.insert(DhcpOption::ServerId(s.duid.clone()));
        if let Some(c) = &req.client_id {
            opts.insert(DhcpOption::ClientId(c.clone()));
        }
        let asked = |c: u16| req.oro.contains(&c);
        if asked(code::DNS_SERVERS) && !s.dns_servers.is_empty() {
            opts.insert(DhcpOption::DomainNameServers(s.dns_servers.clone()));
        }
        if asked(code::DOMAIN_LIST) && !s.domains.is_empty() {
            // Our own encoding: RFC 8415 §10 / RFC 3646 §4 forbid the
            // compression a DNS name encoder may apply.
            opts.insert(DhcpOption::Unknown(UnknownOption::new(
                OptionCode::DomainSearchList,
                domain_list_wire(&s.domains),
            )));
        }
        // §21.23: sent only in a Reply to an Information-request, and
        // only when the client asked for it.
        if asked(code::INFORMATION_REFRESH_TIME) {
            opts.insert(DhcpOption::InformationRefreshTime(s.refresh));
        }
        let mut buf = Vec::with_capacity(128);
        // Encoding into a Vec only fails on a length over 65535, which the
        // config's bounds (64 DNS servers, 32 names, DUIDs of 128 bytes)
        // keep far away.
        let _ = m.encode(&mut Encoder::new(&mut buf));
        buf
    }
}

/// Names in DNS wire form, uncompressed, one after another (RFC 3646 §4,
/// RFC 8415 §10).
pub fn domain_list_wire(names: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in names {
        let labels: Vec<&str> = n.split('.').filter(|l| !l.is_empty()).collect();
        // A label over 63 bytes has no wire form (RFC 1035 §2.3.4); the
        // config reader refuses one, so this only guards the type.
        if labels.iter().any(|l| l.len() > 63) {
            continue;
        }
        for label in labels {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
    }
    out
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
