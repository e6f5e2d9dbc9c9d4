//! The upstream forwarder: sans-IO core for cache misses (design §3, §6).
//!
//! A client query that missed the cache and the local data goes to
//! [`Forwarder::handle_query`]. The core picks the upstream group by the
//! longest matching `server=/domain/IP` suffix, asks for sockets with
//! [`Action::SendUdp`] / [`Action::SendTcp`], matches every reply against
//! what it sent (RFC 5452 §9.1) and finally hands its caller (the
//! resolver) an [`Action::Answer`] (cache it, [`relay`] it to each client)
//! or an [`Action::Fail`] (serve stale or SERVFAIL), which the resolver
//! turns into [`Action::Reply`]s.
//!
//! `dns-forward-max` ([`ForwardConfig::max_inflight`]) bounds the questions
//! outstanding at each upstream: a full server is left out of a new query,
//! and a query whose servers are all full is handed back at once
//! ([`Submitted::Overloaded`]), so a dead `server=/domain/` never starves
//! the others.
//!
//! The core never reads a clock, a socket or the OS random source: `now` and
//! an [`Entropy`] come in with every call, and the driver wakes it at
//! [`Forwarder::poll_timeout`].
//!
//! # Spoofing resistance (RFC 5452)
//! * Every send (first try, retry, other server, TCP) gets a fresh random
//!   16-bit ID and its own [`Token`]; the driver opens a fresh socket per UDP
//!   token on a random source port, so port and ID are both unguessable
//!   (§9.2).
//! * A reply is accepted only if it came in on the token's socket, from the
//!   upstream's IP *and* port, with our ID, QR=1, opcode QUERY, exactly one
//!   question equal to ours (name case-insensitively, RFC 4343 §3, or
//!   exactly when 0x20 is on), type and class (§9.1). Anything else is
//!   dropped and counted by [`DropReason`], and the query stays outstanding,
//!   so the genuine answer is still taken when it arrives.
//! * Identical outstanding questions (same cache key: lower-cased name,
//!   type, class, DO) share one upstream query (§5, birthday attacks);
//!   at most [`DEFAULT_MAX_CLIENTS_PER_QUERY`] clients wait on one question.
//! * The query sent upstream is rebuilt from the question: RD=1, the QNAME
//!   as the first client wrote it, and our own OPT (payload 1232, the
//!   client's DO bit). The client's OPT is never forwarded (RFC 6891
//!   §6.1.1: OPT is hop-by-hop), nor its CD bit: the cache key has no CD,
//!   so an unvalidated answer must not be cached for validating clients.
//!
//! # Server selection (dnsmasq's three modes)
//! * [`Policy::Fastest`] (default): the up server with the lowest smoothed
//!   RTT (RFC 6298 §2 estimator, α = 1/8), then the others; every
//!   [`DEFAULT_PROBE_EVERY`] queries or [`DEFAULT_PROBE_INTERVAL`] per group
//!   (dnsmasq's `FORWARD_TEST` / `FORWARD_TIME`), and while no server of the
//!   group has a measurement, the query goes to every server at once to
//!   re-measure. A server that times out is down for 1 s, doubling per
//!   consecutive failure up to 60 s, and is tried after every up server.
//!   As in dnsmasq, a probe's first answer wins and the other sockets close,
//!   so only the winner gets an RTT sample; slower servers keep their old
//!   SRTT until they win a probe or are tried after a timeout.
//! * [`Policy::StrictOrder`]: the configured order, always.
//! * [`Policy::AllServers`]: every server at once; the first answer wins.
//!
//! A single-server step waits `3 × SRTT` clamped to [250 ms, 1500 ms]
//! (500 ms before the first measurement), doubled for each earlier round
//! through the servers (RFC 6298 §5.5 back-off); a broadcast step the
//! longest of its servers'. Then the next step starts; the earlier sockets
//! stay open, so a late genuine answer is still accepted. Each server is
//! tried at most [`ROUNDS`] times (a broadcast is sent [`ROUNDS`] times).
//! When every try is spent, the query stays open with its sockets until
//! [`DEFAULT_QUERY_TIMEOUT`] (5 s) after it started, and only then fails:
//! an upstream slower than every per-try timeout is still answered, and the
//! late answer teaches its RTT (RFC 6298 §2.2: the first sample sets SRTT),
//! so the next query waits long enough from the start.
//!
//! # Replies
//! * NOERROR / NXDOMAIN: delivered; cacheable unless TC=1.
//! * SERVFAIL, REFUSED, FORMERR, NOTIMP or any extended RCODE: that server
//!   is out for this query and the next one is tried; when none is left,
//!   the last such reply is delivered, not cacheable.
//! * TC=1 over UDP: not delivered; the question goes again to the same
//!   server over TCP with a new ID (RFC 7766 §5, RFC 1035 §4.2.1), and the
//!   TCP reply goes through the same matching. A TCP failure moves on to the
//!   next server.
//!
//! Counters: [`ForwardStats`] and, per server, [`ServerStats`] with
//! dnsmasq's `servers.bind` format in [`Forwarder::servers_bind_txt`].

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use super::cache::Question;
use super::message::{
    HEADER_LEN, MAX_MESSAGE, QueryView, Transport, at, flag, get_u16, match_name_lower, opt_len,
    push_opt, put_u16, rcode, rtype, walk_record,
};
use super::querylog::Source;
use crate::clock::Mono;

/// dnsmasq's `dns-forward-max` default: distinct questions outstanding
/// at one upstream.
pub const DEFAULT_MAX_INFLIGHT: usize = 150;
/// Clients waiting on one outstanding question; more are refused.
pub const DEFAULT_MAX_CLIENTS_PER_QUERY: usize = 64;
/// The longest a forwarded query lives before [`Action::Fail`].
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Per-try timeout before a server has an RTT measurement.
pub const DEFAULT_TRY_TIMEOUT: Duration = Duration::from_millis(500);
/// Floor of the per-try timeout (`3 × SRTT` is clamped to it).
pub const DEFAULT_TRY_TIMEOUT_MIN: Duration = Duration::from_millis(250);
/// Ceiling of the per-try timeout.
pub const DEFAULT_TRY_TIMEOUT_MAX: Duration = Duration::from_millis(1500);
/// How long a TCP exchange (connect, query, answer) may take.
pub const DEFAULT_TCP_TIMEOUT: Duration = Duration::from_secs(2);
/// [`Policy::Fastest`] sends to every server once per this many queries of
/// a group (dnsmasq's `FORWARD_TEST`).
pub const DEFAULT_PROBE_EVERY: u32 = 50;
/// ... or once per this long (dnsmasq's `FORWARD_TIME`).
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(20);
/// How many times each server (or each broadcast) is tried per query.
pub const ROUNDS: u32 = 2;
/// The per-try timeout is this many SRTTs (before clamping).
pub const RTO_SRTTS: u64 = 3;
/// First back-off of a server that timed out; doubles per consecutive
/// failure up to [`DOWN_MAX`].
pub const DOWN_MIN: Duration = Duration::from_secs(1);
/// Longest back-off.
pub const DOWN_MAX: Duration = Duration::from_secs(60);
/// Servers per group that a query can use (the rest are ignored).
pub const MAX_GROUP: usize = 64;

/// The caller's random source (the driver seeds it from `/dev/urandom`).
/// Every closure `FnMut() -> u64` is one.
pub trait Entropy {
    fn next_u64(&mut self) -> u64;
}

impl<F: FnMut() -> u64> Entropy for F {
    fn next_u64(&mut self) -> u64 {
        self()
    }
}

/// How a query picks its upstreams (dnsmasq's default, `strict-order`,
/// `all-servers`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// The up server with the lowest smoothed RTT, with periodic re-probes
    /// of the whole group.
    #[default]
    Fastest,
    /// In the configured order, moving on at each per-try timeout.
    StrictOrder,
    /// Every server at once; the first accepted answer wins.
    AllServers,
}

/// One upstream: `server=IP#port` (empty `domains`, a default server) or
/// `server=/d1/d2/IP#port` (only for names under `d1` or `d2`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UpstreamSpec {
    pub addr: SocketAddr,
    /// Presentation names (`"lan"`, `".example.com."`); case and leading or
    /// trailing dots do not matter. Invalid names are ignored (config
    /// validation reports them).
    pub domains: Vec<String>,
}

impl UpstreamSpec {
    /// A default server.
    pub fn new(addr: SocketAddr) -> UpstreamSpec {
        UpstreamSpec {
            addr,
            domains: Vec::new(),
        }
    }

    /// A server only for names under `domains`.
    pub fn for_domains<S: Into<String>>(
        addr: SocketAddr,
        domains: impl IntoIterator<Item = S>,
    ) -> UpstreamSpec {
        UpstreamSpec {
            addr,
            domains: domains.into_iter().map(Into::into).collect(),
        }
    }
}

/// The forwarder's settings; [`Default`] gives the documented numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardConfig {
    pub upstreams: Vec<UpstreamSpec>,
    pub policy: Policy,
    /// `dns-forward-max`: distinct questions outstanding per upstream (a
    /// query counts against every server it may still be sent to).
    pub max_inflight: usize,
    /// Clients coalesced onto one question.
    pub max_clients_per_query: usize,
    /// Overall life of a forwarded query.
    pub query_timeout: Duration,
    /// Per-try timeout without an RTT measurement.
    pub try_timeout: Duration,
    pub try_timeout_min: Duration,
    pub try_timeout_max: Duration,
    pub tcp_timeout: Duration,
    pub probe_every: u32,
    pub probe_interval: Duration,
    /// 0x20 case randomisation of the QNAME sent upstream
    /// (draft-vixie-dnsext-dns0x20: more bits than ID and port alone);
    /// replies must then echo the case exactly. Off by default: some
    /// upstreams do not preserve case.
    pub randomize_case: bool,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            upstreams: Vec::new(),
            policy: Policy::Fastest,
            max_inflight: DEFAULT_MAX_INFLIGHT,
            max_clients_per_query: DEFAULT_MAX_CLIENTS_PER_QUERY,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            try_timeout: DEFAULT_TRY_TIMEOUT,
            try_timeout_min: DEFAULT_TRY_TIMEOUT_MIN,
            try_timeout_max: DEFAULT_TRY_TIMEOUT_MAX,
            tcp_timeout: DEFAULT_TCP_TIMEOUT,
            probe_every: DEFAULT_PROBE_EVERY,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            randomize_case: false,
        }
    }
}

/// Names one upstream send (one socket). Unique per send, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub u64);

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What [`Forwarder::handle_query`] did with a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Submitted<C> {
    /// A new upstream query: actions are queued.
    Sent,
    /// Joined an identical outstanding question (RFC 5452 §5).
    Coalesced,
    /// No upstream serves this name: the caller answers REFUSED or SERVFAIL.
    NoServer(C),
    /// Every server for this name holds `dns-forward-max` questions, or
    /// too many clients wait on this question: the caller answers at once
    /// (stale data or SERVFAIL) rather than leaving the client to time out.
    Overloaded(C),
    /// Not a query [`QueryView::parse`] accepts: the caller's slow path
    /// answers it (FORMERR, BADVERS...).
    Invalid(C),
}

/// What the driver does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<C> {
    /// Open a fresh UDP socket on a random source port, `connect()` it to
    /// `to`, send `packet`, and feed every datagram it receives to
    /// [`Forwarder::handle_udp_reply`] with `token` until [`Action::Close`].
    SendUdp {
        token: Token,
        to: SocketAddr,
        packet: Vec<u8>,
    },
    /// Connect over TCP to `to`, send `packet` with its 2-byte length
    /// prefix (RFC 1035 §4.2.2), read one message and feed it (or the
    /// failure) to [`Forwarder::handle_tcp_reply`].
    SendTcp {
        token: Token,
        to: SocketAddr,
        packet: Vec<u8>,
    },
    /// Forget the socket of `token`. Every token gets exactly one Close.
    Close { token: Token },
    /// The accepted upstream response, as received (upstream's ID and OPT):
    /// insert it into the cache when `cacheable`, and build each client's
    /// reply with [`relay`]. `question` is `None` for questions the cache
    /// does not key (ANY, non-IN class...). `server` sent it.
    Answer {
        question: Option<Question>,
        response: Vec<u8>,
        clients: Vec<C>,
        cacheable: bool,
        server: SocketAddr,
    },
    /// Every upstream failed or timed out: serve stale if possible, else
    /// SERVFAIL (RFC 8767 §5).
    Fail { clients: Vec<C> },
    /// A finished reply for a client that waited on a forwarded query:
    /// send `packet` as [`Peer`] `to` says (quinn's `Transmit`: the
    /// destination and the source address come with it, the driver keeps
    /// nothing beside the core). Only the resolver makes these, from
    /// [`Action::Answer`] and [`Action::Fail`]; one type serves both cores,
    /// so the driver has one queue to drain. `source` says where the
    /// answer came from (for the query log).
    Reply {
        to: Peer,
        packet: Vec<u8>,
        source: Source,
    },
}

/// Who asked, and so where a reply goes and where it leaves from: what the
/// driver passes in with a client query, and what comes back out on its
/// [`Action::Reply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// A UDP client: reply to `client`, from `local`, the address the
    /// client asked (the VIP in an HA pair), so its resolver accepts the
    /// reply; unspecified (a query to a broadcast address) leaves the
    /// choice to the kernel. The interface is routing's choice for `local`.
    Udp {
        client: SocketAddrV4,
        local: Ipv4Addr,
    },
    /// A UDP client over IPv6: as `Udp`; `ifindex` is the interface the
    /// query came in on, which a link-local `local` or `client` needs to
    /// leave by (RFC 4291 §2.5.6), 0 otherwise.
    Udp6 {
        client: SocketAddrV6,
        local: Ipv6Addr,
        ifindex: u32,
    },
    /// A query read from a TCP connection from `client`; `id` names the
    /// waiting query in the driver, which answers on its connection.
    Tcp { client: SocketAddr, id: u64 },
}

impl Peer {
    pub fn transport(&self) -> Transport {
        match self {
            Peer::Udp { .. } | Peer::Udp6 { .. } => Transport::Udp,
            Peer::Tcp { .. } => Transport::Tcp,
        }
    }

    /// The client's address (for the query log).
    pub fn client_ip(&self) -> IpAddr {
        match self {
            Peer::Udp { client, .. } => IpAddr::V4(*client.ip()),
            Peer::Udp6 { client, .. } => IpAddr::V6(*client.ip()),
            Peer::Tcp { client, .. } => client.ip(),
        }
    }
}

/// Why a reply was dropped. The query it claimed to answer stays
/// outstanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// No such token (closed already: a late or duplicate reply), or a
    /// UDP reply on a TCP token.
    UnknownToken,
    /// Not from the upstream's address and port (RFC 5452 §9.1).
    WrongSource,
    /// Another message ID.
    WrongId,
    /// QR=0, or an opcode other than QUERY.
    NotResponse,
    /// QDCOUNT=0: nothing ties it to our question.
    NoQuestion,
    /// Another name, type or class, or several questions.
    WrongQuestion,
    /// Shorter than a header, or records that do not parse.
    Malformed,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::UnknownToken => "unknown_token",
            DropReason::WrongSource => "wrong_source",
            DropReason::WrongId => "wrong_id",
            DropReason::NotResponse => "not_response",
            DropReason::NoQuestion => "no_question",
            DropReason::WrongQuestion => "wrong_question",
            DropReason::Malformed => "malformed",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of one reply handed to the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It matched its query (or, for TCP, reported its failure); the
    /// consequences are queued as actions.
    Accepted,
    Dropped(DropReason),
}

/// Replies dropped, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropStats {
    pub unknown_token: u64,
    pub wrong_source: u64,
    pub wrong_id: u64,
    pub not_response: u64,
    pub no_question: u64,
    pub wrong_question: u64,
    pub malformed: u64,
}

impl DropStats {
    fn count(&mut self, r: DropReason) {
        let c = match r {
            DropReason::UnknownToken => &mut self.unknown_token,
            DropReason::WrongSource => &mut self.wrong_source,
            DropReason::WrongId => &mut self.wrong_id,
            DropReason::NotResponse => &mut self.not_response,
            DropReason::NoQuestion => &mut self.no_question,
            DropReason::WrongQuestion => &mut self.wrong_question,
            DropReason::Malformed => &mut self.malformed,
        };
        *c += 1;
    }

    pub fn total(&self) -> u64 {
        self.unknown_token
            + self.wrong_source
            + self.wrong_id
            + self.not_response
            + self.no_question
            + self.wrong_question
            + self.malformed
    }
}

/// Forwarder counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardStats {
    /// Client queries submitted (all outcomes).
    pub queries: u64,
    /// UDP queries sent upstream.
    pub sent: u64,
    /// TCP queries sent upstream (after TC=1).
    pub tcp_sent: u64,
    /// Sends after a query's first step (timeouts, failures).
    pub retries: u64,
    /// Sends that got no reply within their per-try timeout.
    pub timeouts: u64,
    /// Clients that joined an outstanding question.
    pub coalesced: u64,
    /// Clients refused by the per-upstream `dns-forward-max` or the
    /// per-question bound.
    pub overloaded: u64,
    /// Clients with no upstream for their name.
    pub no_server: u64,
    /// Queries [`QueryView::parse`] refused.
    pub invalid: u64,
    /// Replies that matched their query (any RCODE, TC or not).
    pub accepted: u64,
    /// Matched replies with TC=1 over UDP (answered by a TCP retry).
    pub truncated: u64,
    /// Matched SERVFAIL/REFUSED/... replies and TCP failures.
    pub rejected: u64,
    /// [`Action::Answer`]s delivered.
    pub answered: u64,
    /// [`Action::Fail`]s delivered.
    pub failed: u64,
    pub drops: DropStats,
    /// Distinct questions outstanding now.
    pub inflight: u64,
}

/// One upstream's counters (dnsmasq's `servers.bind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerStats {
    pub addr: SocketAddr,
    /// Queries sent to it, UDP and TCP.
    pub queries: u64,
    /// Timeouts, SERVFAIL/REFUSED-like replies and TCP failures.
    pub failed: u64,
    /// Smoothed RTT in ms, once measured.
    pub srtt_ms: Option<u32>,
    /// Skipped by [`Policy::Fastest`] until then (while another is up).
    pub down_until: Option<Mono>,
    /// Outstanding questions that may still be sent to it.
    pub inflight: u64,
}

struct Server {
    addr: SocketAddr,
    queries: u64,
    failed: u64,
    srtt: Option<u32>,
    /// Consecutive timeouts / TCP failures.
    streak: u32,
    down_until: Option<Mono>,
    /// Outstanding questions with this server in their `order`: bounded by
    /// `dns-forward-max`, so a dead upstream fills only its own quota.
    inflight: usize,
}

impl Server {
    fn new(addr: SocketAddr) -> Server {
        Server {
            addr,
            queries: 0,
            failed: 0,
            srtt: None,
            streak: 0,
            down_until: None,
            inflight: 0,
        }
    }

    fn is_down(&self, now: Mono) -> bool {
        self.down_until.is_some_and(|t| now < t)
    }

    fn alive(&mut self) {
        self.streak = 0;
        self.down_until = None;
    }

    /// RFC 6298 §2.3: SRTT ← 7/8 SRTT + 1/8 R (no ambiguity to avoid, Karn:
    /// every send has its own socket and ID).
    fn sample(&mut self, rtt: Duration) {
        let r = rtt.as_millis().min(u32::MAX as u128 / 8) as u32;
        self.srtt = Some(match self.srtt {
            None => r,
            Some(s) => ((7 * s as u64 + r as u64 + 4) / 8) as u32,
        });
    }

    fn timed_out(&mut self, now: Mono) {
        self.failed += 1;
        self.streak = self.streak.saturating_add(1);
        let back = DOWN_MIN
            .saturating_mul(1u32 << (self.streak - 1).min(16))
            .min(DOWN_MAX);
        self.down_until = Some(now + back);
    }
}

/// Servers sharing one routing key (a domain, or the default).
struct Group {
    servers: Vec<SocketAddr>,
    /// Queries since the last probe (Fastest).
    count: u32,
    last_probe: Option<Mono>,
}

struct Send {
    qid: u64,
    to: SocketAddr,
    /// Index into the query's `order`.
    cand: usize,
    id: u16,
    tcp: bool,
    sent_at: Mono,
    timed_out: bool,
    /// The QNAME exactly as sent, when 0x20 is on.
    sent_name: Option<Box<[u8]>>,
}

struct Pending<C> {
    /// Lower-cased wire QNAME, QTYPE, QCLASS, DO.
    key: Box<[u8]>,
    question: Option<Question>,
    /// QNAME as the first client wrote it.
    name: Box<[u8]>,
    qtype: u16,
    qclass: u16,
    dnssec_ok: bool,
    clients: Vec<C>,
    /// Candidate servers, in the order they are tried.
    order: Vec<SocketAddr>,
    broadcast: bool,
    /// Steps started.
    step: u32,
    max_steps: u32,
    /// Bit i: `order[i]` refused or failed this query.
    out: u64,
    /// Open sends.
    tokens: Vec<Token>,
    deadline: Mono,
    /// The current entry in the timer set.
    timer: Mono,
    /// The last SERVFAIL-like reply and its server, delivered if nothing
    /// better comes.
    kept: Option<(Vec<u8>, SocketAddr)>,
}

impl<C> Pending<C> {
    fn lower_name(&self) -> &[u8] {
        &self.key[..self.key.len() - 5]
    }

    fn is_out(&self, cand: usize) -> bool {
        self.out & (1u64 << cand) != 0
    }

    fn all_out(&self) -> bool {
        let n = self.order.len();
        let all = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
        self.out & all == all
    }
}

/// What a matched reply says.
struct ReplyInfo {
    tc: bool,
    /// Full RCODE: header bits and the OPT's upper 8 bits (RFC 6891 §6.1.3).
    rcode: u16,
}

/// The upstream forwarder. `C` is the driver's client handle (its raw
/// query, address, transport): the core only stores and returns it.
pub struct Forwarder<C> {
    cfg: ForwardConfig,
    servers: Vec<Server>,
    server_idx: HashMap<SocketAddr, usize>,
    groups: Vec<Group>,
    by_domain: HashMap<Box<[u8]>, usize>,
    default_group: Option<usize>,
    pending: HashMap<u64, Pending<C>>,
    by_key: HashMap<Box<[u8]>, u64>,
    timers: BTreeSet<(Mono, u64)>,
    sends: HashMap<Token, Send>,
    actions: VecDeque<Action<C>>,
    next_token: u64,
    next_qid: u64,
    stats: ForwardStats,
}

impl<C> fmt::Debug for Forwarder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forwarder")
            .field("policy", &self.cfg.policy)
            .field("servers", &self.servers())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Lower-case wire form of a `server=/domain/` name, dots at either end
/// ignored.
fn domain_wire(d: &str) -> Option<Box<[u8]>> {
    let t = d.trim_matches('.');
    super::message::wire_name(t).map(Into::into)
}

/// An IPv4-mapped IPv6 address compares equal to its IPv4 form (a
/// dual-stack socket reports the mapped one). An IPv6 address keeps its
/// scope only when it is link-local (RFC 4007 §6: the same fe80:: address
/// on another link is another host), and no flow label: a reply from
/// fe80::1 on the wrong interface is another source (RFC 5452 §9.1).
fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => {
                let scope = if crate::net::is_link_local6(*v6.ip()) {
                    v6.scope_id()
                } else {
                    0
                };
                SocketAddr::V6(SocketAddrV6::new(*v6.ip(), v6.port(), 0, scope))
            }
        },
        v4 => v4,
    }
}

impl<C> Forwarder<C> {
    pub fn new(cfg: ForwardConfig) -> Self {
        let upstreams = cfg.upstreams.clone();
        let mut f = Forwarder {
            cfg,
            servers: Vec::new(),
            server_idx: HashMap::new(),
            groups: Vec::new(),
            by_domain: HashMap::new(),
            default_group: None,
            pending: HashMap::new(),
            by_key: HashMap::new(),
            timers: BTreeSet::new(),
            sends: HashMap::new(),
            actions: VecDeque::new(),
            next_token: 1,
            next_qid: 1,
            stats: ForwardStats::default(),
        };
        f.set_upstreams(upstreams);
        f
    }

    pub fn config(&self) -> &ForwardConfig {
        &self.cfg
    }

    /// Replaces the upstream list (resolv-file re-read, SIGHUP). Servers
    /// that stay keep their counters, SRTT and back-off. Outstanding queries
    /// finish with the servers they had, minus the removed ones.
    pub fn set_upstreams(&mut self, ups: Vec<UpstreamSpec>) {
        let mut old: HashMap<SocketAddr, Server> =
            self.servers.drain(..).map(|s| (s.addr, s)).collect();
        self.server_idx.clear();
        self.groups.clear();
        self.by_domain.clear();
        self.default_group = None;
        for u in &ups {
            let addr = canonical(u.addr);
            if !self.server_idx.contains_key(&addr) {
                self.server_idx.insert(addr, self.servers.len());
                let s = old.remove(&addr).unwrap_or_else(|| Server::new(addr));
                self.servers.push(s);
            }
            let mut groups = Vec::new();
            if u.domains.is_empty() {
                let g = *self.default_group.get_or_insert_with(|| {
                    self.groups.push(Group {
                        servers: Vec::new(),
                        count: 0,
                        last_probe: None,
                    });
                    self.groups.len() - 1
                });
                groups.push(g);
            }
            for d in &u.domains {
                let Some(w) = domain_wire(d) else { continue };
                let n = self.groups.len();
                let g = *self.by_domain.entry(w).or_insert(n);
                if g == n {
                    self.groups.push(Group {
                        servers: Vec::new(),
                        count: 0,
                        last_probe: None,
                    });
                }
                groups.push(g);
            }
            for g in groups {
                let list = &mut self.groups[g].servers;
                if !list.contains(&addr) && list.len() < MAX_GROUP {
                    list.push(addr);
                }
            }
        }
        self.cfg.upstreams = ups;
    }

    /// A client query that missed the cache and the local data. `query` is
    /// the client's raw query; it must pass [`QueryView::parse`].
    pub fn submit(
        &mut self,
        now: Mono,
        query: &[u8],
        client: C,
        rng: &mut dyn Entropy,
    ) -> Submitted<C> {
        let Ok(q) = QueryView::parse(query) else {
            self.stats.queries += 1;
            self.stats.invalid += 1;
            return Submitted::Invalid(client);
        };
        self.handle_query(now, &q, query, client, rng)
    }

    /// [`Forwarder::submit`] for a query the caller has parsed already
    /// (the resolver parses each client query once): `q` is
    /// `QueryView::parse(query)`.
    pub fn handle_query(
        &mut self,
        now: Mono,
        q: &QueryView,
        query: &[u8],
        client: C,
        rng: &mut dyn Entropy,
    ) -> Submitted<C> {
        self.stats.queries += 1;
        // RFC 5452 §5 (birthday attacks): one upstream query per question.
        if let Some(&qid) = self.by_key.get(q.key())
            && let Some(p) = self.pending.get_mut(&qid)
        {
            if p.clients.len() >= self.cfg.max_clients_per_query {
                self.stats.overloaded += 1;
                return Submitted::Overloaded(client);
            }
            p.clients.push(client);
            self.stats.coalesced += 1;
            return Submitted::Coalesced;
        }
        let Some(g) = self.route(q.name()) else {
            self.stats.no_server += 1;
            return Submitted::NoServer(client);
        };
        let (mut order, broadcast) = self.plan(g, now);
        if order.is_empty() {
            self.stats.no_server += 1;
            return Submitted::NoServer(client);
        }
        // `dns-forward-max` is per upstream (as in dnsmasq): a server that
        // holds its quota is left out of this query, so a dead
        // `server=/corp/` fills only its own quota and never starves the
        // other upstreams (issue 17). When every server of the group is
        // full the client is answered at once by the caller.
        let max = self.cfg.max_inflight;
        order.retain(|a| self.server(*a).is_some_and(|s| s.inflight < max));
        if order.is_empty() {
            self.stats.overloaded += 1;
            return Submitted::Overloaded(client);
        }
        for a in &order {
            if let Some(s) = self.server_mut(*a) {
                s.inflight += 1;
            }
        }
        let n = order.len() as u32;
        let qid = self.next_qid;
        self.next_qid += 1;
        let mut p = Pending {
            key: q.key().into(),
            question: Question::from_view(q),
            name: query[HEADER_LEN..q.question_end - 4].into(),
            qtype: q.qtype,
            qclass: q.qclass,
            dnssec_ok: q.dnssec_ok(),
            clients: vec![client],
            order,
            broadcast,
            step: 0,
            max_steps: if broadcast { ROUNDS } else { ROUNDS * n },
            out: 0,
            tokens: Vec::new(),
            deadline: now + self.cfg.query_timeout,
            timer: Mono(0),
            kept: None,
        };
        self.by_key.insert(p.key.clone(), qid);
        if self.start_step(qid, &mut p, now, rng) {
            self.pending.insert(qid, p);
        } else {
            // Cannot happen with a non-empty order; keep the bookkeeping
            // right anyway.
            self.finish(qid, p, None);
        }
        Submitted::Sent
    }

    /// A datagram that arrived on the socket of `token` from `from`.
    pub fn handle_udp_reply(
        &mut self,
        now: Mono,
        token: Token,
        from: SocketAddr,
        reply: &[u8],
        rng: &mut dyn Entropy,
    ) -> Verdict {
        let checked = match self.sends.get(&token) {
            None => Err(DropReason::UnknownToken),
            Some(s) if s.tcp => Err(DropReason::UnknownToken),
            // RFC 5452 §9.1: the server's address and port.
            Some(s) if canonical(from) != s.to => Err(DropReason::WrongSource),
            Some(s) => match self.pending.get(&s.qid) {
                None => Err(DropReason::UnknownToken),
                Some(p) => check_reply(p, s, reply),
            },
        };
        self.matched(now, token, reply, checked, rng)
    }

    /// The one message read from the TCP connection of `token`, or `Err`
    /// when it could not be connected, written or read (or timed out on
    /// the driver's side).
    pub fn handle_tcp_reply(
        &mut self,
        now: Mono,
        token: Token,
        reply: Result<&[u8], ()>,
        rng: &mut dyn Entropy,
    ) -> Verdict {
        let Some(send) = self.sends.get(&token).filter(|s| s.tcp) else {
            self.stats.drops.count(DropReason::UnknownToken);
            return Verdict::Dropped(DropReason::UnknownToken);
        };
        let qid = send.qid;
        let cand = send.cand;
        let Ok(reply) = reply else {
            let Some(p) = self.pending.remove(&qid) else {
                return Verdict::Dropped(DropReason::UnknownToken);
            };
            self.stats.rejected += 1;
            if let Some(s) = self.server_mut(p.order[cand]) {
                s.timed_out(now);
            }
            self.reject(now, qid, p, token, cand, rng);
            return Verdict::Accepted;
        };
        let checked = match self.pending.get(&qid) {
            None => Err(DropReason::UnknownToken),
            Some(p) => check_reply(p, send, reply),
        };
        self.matched(now, token, reply, checked, rng)
    }

    /// Runs the timers due at `now`: per-try timeouts (next server) and
    /// query deadlines ([`Action::Fail`]).
    pub fn handle_timeout(&mut self, now: Mono, rng: &mut dyn Entropy) {
        while let Some(&(t, qid)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            let Some(mut p) = self.pending.remove(&qid) else {
                continue;
            };
            p.timer = Mono(0);
            // Every open send that has not answered by now has timed out.
            for tok in &p.tokens {
                if let Some(s) = self.sends.get_mut(tok)
                    && !s.timed_out
                {
                    s.timed_out = true;
                    self.stats.timeouts += 1;
                    let addr = s.to;
                    if let Some(srv) = self.server_mut(addr) {
                        srv.timed_out(now);
                    }
                }
            }
            if now >= p.deadline || !self.start_step(qid, &mut p, now, rng) {
                self.linger_or_finish(qid, p, now);
            } else {
                self.pending.insert(qid, p);
            }
        }
    }

    /// When to call [`Forwarder::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Mono> {
        self.timers.first().map(|&(t, _)| t)
    }

    pub fn poll_action(&mut self) -> Option<Action<C>> {
        self.actions.pop_front()
    }

    /// Distinct questions outstanding.
    pub fn inflight(&self) -> usize {
        self.pending.len()
    }

    pub fn stats(&self) -> ForwardStats {
        ForwardStats {
            inflight: self.pending.len() as u64,
            ..self.stats
        }
    }

    /// Per-upstream counters, in configured order.
    pub fn servers(&self) -> Vec<ServerStats> {
        self.servers
            .iter()
            .map(|s| ServerStats {
                addr: s.addr,
                queries: s.queries,
                failed: s.failed,
                srtt_ms: s.srtt,
                down_until: s.down_until,
                inflight: s.inflight as u64,
            })
            .collect()
    }

    /// dnsmasq's CHAOS `servers.bind` TXT strings, one per upstream:
    /// `"IP#port queries failed"` (dnsmasq `cache.c`, `TXT_STAT_SERVERS`).
    pub fn servers_bind_txt(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|s| {
                let ip = match s.addr {
                    SocketAddr::V6(a) if a.scope_id() != 0 => {
                        format!("{}%{}", a.ip(), a.scope_id())
                    }
                    a => a.ip().to_string(),
                };
                format!("{ip}#{} {} {}", s.addr.port(), s.queries, s.failed)
            })
            .collect()
    }

    // ---- internals ----

    fn server(&self, addr: SocketAddr) -> Option<&Server> {
        self.server_idx.get(&addr).map(|&i| &self.servers[i])
    }

    fn server_mut(&mut self, addr: SocketAddr) -> Option<&mut Server> {
        self.server_idx.get(&addr).map(|&i| &mut self.servers[i])
    }

    /// The group for a lower-case wire name: the longest `server=/domain/`
    /// suffix (dnsmasq), else the default servers.
    fn route(&self, name: &[u8]) -> Option<usize> {
        let mut i = 0;
        while let Some(&l) = name.get(i) {
            if let Some(&g) = self.by_domain.get(&name[i..]) {
                return Some(g);
            }
            if l == 0 {
                break;
            }
            i += 1 + l as usize;
        }
        self.default_group
    }

    /// The servers of group `g` in try order, and whether to send to all at
    /// once.
    fn plan(&mut self, g: usize, now: Mono) -> (Vec<SocketAddr>, bool) {
        let policy = self.cfg.policy;
        let (every, interval) = (self.cfg.probe_every, self.cfg.probe_interval);
        let mut order = self.groups[g].servers.clone();
        match policy {
            Policy::StrictOrder => (order, false),
            Policy::AllServers => (order, true),
            Policy::Fastest => {
                let measured = order
                    .iter()
                    .any(|a| self.server(*a).is_some_and(|s| s.srtt.is_some()));
                let grp = &mut self.groups[g];
                grp.count += 1;
                let probe = order.len() > 1
                    && (!measured
                        || grp.count >= every
                        || grp.last_probe.is_none_or(|t| now.since(t) >= interval));
                if probe {
                    grp.count = 0;
                    grp.last_probe = Some(now);
                    return (order, true);
                }
                // Up servers by SRTT, unmeasured ones after them, then the
                // down ones; ties keep the configured order (stable sort).
                order.sort_by_key(|a| match self.server(*a) {
                    Some(s) => (s.is_down(now), s.srtt.unwrap_or(u32::MAX)),
                    None => (true, u32::MAX),
                });
                (order, false)
            }
        }
    }

    fn try_timeout(&self, addr: SocketAddr) -> Duration {
        match self.server(addr).and_then(|s| s.srtt) {
            None => self.cfg.try_timeout,
            Some(ms) => Duration::from_millis(ms as u64 * RTO_SRTTS)
                .max(self.cfg.try_timeout_min)
                .min(self.cfg.try_timeout_max),
        }
    }

    fn set_timer(&mut self, qid: u64, p: &mut Pending<C>, t: Mono) {
        self.timers.remove(&(p.timer, qid));
        p.timer = t.min(p.deadline);
        self.timers.insert((p.timer, qid));
    }

    /// Starts the next step of `p`: one server, or all of them. `false`
    /// when none is left.
    fn start_step(
        &mut self,
        qid: u64,
        p: &mut Pending<C>,
        now: Mono,
        rng: &mut dyn Entropy,
    ) -> bool {
        let n = p.order.len();
        while p.step < p.max_steps {
            let retry = p.step > 0;
            let first = p.step as usize % n.max(1);
            // Each round through the servers waits twice as long as the
            // one before (RFC 6298 §5.5's back-off; unbound and dnsmasq
            // back off too), so an upstream slower than its first timeout
            // still gets a wait that covers it.
            let round = if p.broadcast {
                p.step
            } else {
                p.step / n.max(1) as u32
            };
            p.step += 1;
            let cands = if p.broadcast { 0..n } else { first..first + 1 };
            let mut tmo = Duration::ZERO;
            let mut sent = false;
            for cand in cands {
                let addr = p.order[cand];
                // Removed by set_upstreams, or refused this query already.
                if p.is_out(cand) || self.server(addr).is_none() {
                    continue;
                }
                tmo = tmo.max(self.try_timeout(addr).saturating_mul(1 << round.min(8)));
                self.send(qid, p, cand, false, now, rng);
                sent = true;
                if retry {
                    self.stats.retries += 1;
                }
            }
            if sent {
                self.set_timer(qid, p, now + tmo);
                return true;
            }
        }
        false
    }

    /// Queues one query to `p.order[cand]`: a fresh ID and token, RD=1, our
    /// OPT (RFC 5452 §9.2, RFC 6891 §6.1.1).
    fn send(
        &mut self,
        qid: u64,
        p: &mut Pending<C>,
        cand: usize,
        tcp: bool,
        now: Mono,
        rng: &mut dyn Entropy,
    ) {
        let to = p.order[cand];
        let id = rng.next_u64() as u16;
        let token = Token(self.next_token);
        self.next_token += 1;
        let sent_name: Option<Box<[u8]>> = self.cfg.randomize_case.then(|| {
            let mut name: Box<[u8]> = p.name.clone();
            let mut bits = 0u64;
            for (i, b) in name.iter_mut().enumerate() {
                if i % 64 == 0 {
                    bits = rng.next_u64();
                }
                // Length octets are at most 63, below 'A': only letters flip.
                if b.is_ascii_alphabetic() {
                    *b = if bits & 1 == 1 {
                        b.to_ascii_uppercase()
                    } else {
                        b.to_ascii_lowercase()
                    };
                }
                bits >>= 1;
            }
            name
        });
        let mut packet = Vec::with_capacity(HEADER_LEN + p.name.len() + 4 + opt_len(None));
        build_query(
            id,
            sent_name.as_deref().unwrap_or(&p.name),
            p.qtype,
            p.qclass,
            p.dnssec_ok,
            &mut packet,
        );
        self.sends.insert(
            token,
            Send {
                qid,
                to,
                cand,
                id,
                tcp,
                sent_at: now,
                timed_out: false,
                sent_name,
            },
        );
        p.tokens.push(token);
        if let Some(s) = self.server_mut(to) {
            s.queries += 1;
        }
        if tcp {
            self.stats.tcp_sent += 1;
            self.actions
                .push_back(Action::SendTcp { token, to, packet });
        } else {
            self.stats.sent += 1;
            self.actions
                .push_back(Action::SendUdp { token, to, packet });
        }
    }

    fn close(&mut self, p: &mut Pending<C>, token: Token) {
        self.sends.remove(&token);
        p.tokens.retain(|t| *t != token);
        self.actions.push_back(Action::Close { token });
    }

    /// Ends `p`: an answer (`Some((reply, cacheable, server))`), else the
    /// kept SERVFAIL-like reply, else [`Action::Fail`]; then closes its
    /// sockets.
    fn finish(&mut self, qid: u64, p: Pending<C>, answer: Option<(Vec<u8>, bool, SocketAddr)>) {
        self.by_key.remove(&p.key);
        self.timers.remove(&(p.timer, qid));
        for a in &p.order {
            if let Some(s) = self.server_mut(*a) {
                // A server re-added by set_upstreams starts from 0.
                s.inflight = s.inflight.saturating_sub(1);
            }
        }
        match answer.or(p.kept.map(|(r, from)| (r, false, from))) {
            Some((response, cacheable, server)) => {
                self.stats.answered += 1;
                self.actions.push_back(Action::Answer {
                    question: p.question,
                    response,
                    clients: p.clients,
                    cacheable,
                    server,
                });
            }
            None => {
                self.stats.failed += 1;
                self.actions.push_back(Action::Fail { clients: p.clients });
            }
        }
        for token in p.tokens {
            self.sends.remove(&token);
            self.actions.push_back(Action::Close { token });
        }
    }

    /// A server refused or failed this query: it is out; move on if it was
    /// the last live send, and end the query when nobody is left.
    fn reject(
        &mut self,
        now: Mono,
        qid: u64,
        mut p: Pending<C>,
        token: Token,
        cand: usize,
        rng: &mut dyn Entropy,
    ) {
        p.out |= 1u64 << cand;
        self.close(&mut p, token);
        if p.all_out() {
            return self.finish(qid, p, None);
        }
        let live = p
            .tokens
            .iter()
            .any(|t| self.sends.get(t).is_some_and(|s| !s.timed_out));
        if live || self.start_step(qid, &mut p, now, rng) {
            self.pending.insert(qid, p);
        } else {
            self.linger_or_finish(qid, p, now);
        }
    }

    /// Every try of `p` is spent. A send that timed out may still be
    /// answered late by a slow upstream: keep its socket open until the
    /// query's deadline (the documented give-up), so that the genuine
    /// answer is delivered and its RTT learned (issue 17 item 4). With no
    /// send left open, or at the deadline, the query fails.
    fn linger_or_finish(&mut self, qid: u64, mut p: Pending<C>, now: Mono) {
        if now < p.deadline && !p.tokens.is_empty() {
            let deadline = p.deadline;
            self.set_timer(qid, &mut p, deadline);
            self.pending.insert(qid, p);
        } else {
            self.finish(qid, p, None);
        }
    }

    /// Acts on a reply checked against its send.
    fn matched(
        &mut self,
        now: Mono,
        token: Token,
        reply: &[u8],
        checked: Result<ReplyInfo, DropReason>,
        rng: &mut dyn Entropy,
    ) -> Verdict {
        let info = match checked {
            Ok(i) => i,
            Err(r) => {
                self.stats.drops.count(r);
                return Verdict::Dropped(r);
            }
        };
        let Some(send) = self.sends.get(&token) else {
            return Verdict::Dropped(DropReason::UnknownToken);
        };
        let (qid, cand, tcp, to, rtt) = (
            send.qid,
            send.cand,
            send.tcp,
            send.to,
            now.since(send.sent_at),
        );
        let Some(mut p) = self.pending.remove(&qid) else {
            return Verdict::Dropped(DropReason::UnknownToken);
        };
        self.stats.accepted += 1;
        if let Some(s) = self.server_mut(to) {
            s.alive();
            // TCP RTTs include the handshake: not comparable.
            if !tcp {
                s.sample(rtt);
            }
        }
        if info.tc && !tcp {
            // RFC 7766 §5 / RFC 1035 §4.2.1: the same question over TCP, to
            // the same server, with a new ID; the UDP socket is done.
            self.stats.truncated += 1;
            self.close(&mut p, token);
            self.send(qid, &mut p, cand, true, now, rng);
            let t = (now + self.cfg.tcp_timeout).max(p.timer);
            self.set_timer(qid, &mut p, t);
            self.pending.insert(qid, p);
            return Verdict::Accepted;
        }
        let rc = info.rcode;
        if rc == rcode::NOERROR as u16 || rc == rcode::NXDOMAIN as u16 {
            let cacheable = !info.tc && p.question.is_some();
            self.finish(qid, p, Some((reply.to_vec(), cacheable, to)));
            return Verdict::Accepted;
        }
        // SERVFAIL, REFUSED and the rest say nothing about the name: try
        // the next server, deliver this if none is left.
        self.stats.rejected += 1;
        if let Some(s) = self.server_mut(to) {
            s.failed += 1;
        }
        p.kept = Some((reply.to_vec(), to));
        self.reject(now, qid, p, token, cand, rng);
        Verdict::Accepted
    }
}

/// RFC 5452 §9.1: is `reply` the answer to `send`?
fn check_reply<C>(p: &Pending<C>, send: &Send, reply: &[u8]) -> Result<ReplyInfo, DropReason> {
    if reply.len() < HEADER_LEN || reply.len() > MAX_MESSAGE {
        return Err(DropReason::Malformed);
    }
    let word = |at| get_u16(reply, at).unwrap_or(0);
    if word(at::ID) != send.id {
        return Err(DropReason::WrongId);
    }
    let flags = word(at::FLAGS);
    if flags & flag::QR == 0 || flags & flag::OPCODE != 0 {
        return Err(DropReason::NotResponse);
    }
    match word(at::QDCOUNT) {
        0 => return Err(DropReason::NoQuestion),
        1 => {}
        _ => return Err(DropReason::WrongQuestion),
    }
    let lower = p.lower_name();
    let qname_end = HEADER_LEN + lower.len();
    if reply.len() < qname_end + 4 {
        return Err(DropReason::Malformed);
    }
    let same_name = match &send.sent_name {
        // 0x20: the case must come back exactly as sent.
        Some(exact) => reply.get(HEADER_LEN..qname_end) == Some(&exact[..]),
        None => match_name_lower(reply, HEADER_LEN, lower).is_some(),
    };
    if !same_name || word(qname_end) != p.qtype || word(qname_end + 2) != p.qclass {
        return Err(DropReason::WrongQuestion);
    }
    let tc = flags & flag::TC != 0;
    let mut ext = 0u16;
    // A truncated message may end anywhere (RFC 2181 §9); otherwise every
    // record must parse, so that what we relay and cache is walkable.
    if !tc {
        let an = word(at::ANCOUNT) as usize;
        let total = an + word(at::NSCOUNT) as usize + word(at::ARCOUNT) as usize;
        let first_additional = an + word(at::NSCOUNT) as usize;
        let mut pos = qname_end + 4;
        for i in 0..total {
            let r = walk_record(reply, pos).ok_or(DropReason::Malformed)?;
            if i >= first_additional && r.rtype == rtype::OPT {
                ext = (r.ttl >> 24) as u16;
            }
            pos = r.end;
        }
    }
    Ok(ReplyInfo {
        tc,
        rcode: (flags & flag::RCODE) | (ext << 4),
    })
}

/// Writes the query we send upstream (RFC 5452 §9.2): `id`, RD=1, one
/// question, and our OPT with payload 1232 and the client's DO bit
/// (RFC 6891 §6.1.1-6.1.2, RFC 3225 §3).
pub fn build_query(
    id: u16,
    name: &[u8],
    qtype: u16,
    qclass: u16,
    dnssec_ok: bool,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&flag::RD.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
    out.extend_from_slice(name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&qclass.to_be_bytes());
    push_opt(out, dnssec_ok, None);
}

/// TSIG (RFC 8945): per-hop like OPT, never relayed.
const TSIG: u16 = 250;

/// Builds one client's reply in `out` from an accepted upstream response:
///
/// * the client's ID, and its question bytes as written (its case);
/// * RD and CD from the client, RA=1, AA and Z cleared (we are not the
///   authority), AD only if the client sent AD or DO (RFC 6840 §5.8), the
///   upstream's TC kept;
/// * the answer and authority sections as received; additional records
///   before the upstream's OPT kept while they fit (RFC 2181 §9: dropping
///   additional data needs no TC); the OPT and what follows it dropped
///   (hop-by-hop, RFC 6891 §6.1.1; later records could point into it);
/// * our OPT (payload 1232, the client's DO) only if the client sent one;
/// * TC=1 with every section emptied when answer and authority do not fit
///   the client's limit (RFC 1035 §4.2.1, RFC 6891 §7);
/// * an extended RCODE from the upstream OPT, which a client without our
///   OPT context could misread, becomes SERVFAIL.
///
/// Walks bytes only (no decoding, no allocation beyond `out`). `false` (and
/// `out` empty) when the client query does not parse or the response is
/// not a response to its question.
pub fn relay(
    client_query: &[u8],
    upstream: &[u8],
    transport: Transport,
    out: &mut Vec<u8>,
) -> bool {
    out.clear();
    let Ok(q) = QueryView::parse(client_query) else {
        return false;
    };
    let word = |at| get_u16(upstream, at);
    let (Some(uflags), Some(1), Some(an), Some(ns), Some(ar)) = (
        word(at::FLAGS),
        word(at::QDCOUNT),
        word(at::ANCOUNT),
        word(at::NSCOUNT),
        word(at::ARCOUNT),
    ) else {
        return false;
    };
    if uflags & flag::QR == 0 || uflags & flag::OPCODE != 0 || upstream.len() > MAX_MESSAGE {
        return false;
    }
    let Some(qname_end) = match_name_lower(upstream, HEADER_LEN, q.name()) else {
        return false;
    };
    if word(qname_end) != Some(q.qtype) || word(qname_end + 2) != Some(q.qclass) {
        return false;
    }
    let qend = qname_end + 4;
    if qend != q.question_end {
        return false;
    }
    // Answer and authority.
    let mut pos = qend;
    let mut whole = true;
    for _ in 0..an as usize + ns as usize {
        match walk_record(upstream, pos) {
            Some(r) => pos = r.end,
            None => {
                whole = false;
                break;
            }
        }
    }
    let upstream_tc = uflags & flag::TC != 0;
    if !whole && !upstream_tc {
        return false;
    }
    let body_end = pos;
    // Additional: find the OPT (for the extended RCODE) and what precedes
    // it.
    let mut ext = 0u8;
    let mut additional = 0usize;
    if whole {
        for _ in 0..ar {
            let Some(r) = walk_record(upstream, pos) else {
                break;
            };
            if r.rtype == rtype::OPT {
                ext = (r.ttl >> 24) as u8;
                break;
            }
            if r.rtype == TSIG {
                break;
            }
            additional += 1;
            pos = r.end;
        }
    }

    let opt = if q.edns.is_some() { opt_len(None) } else { 0 };
    let limit = q.response_limit(transport);
    let mut flags = uflags & !(flag::AA | flag::Z | flag::AD | flag::RD | flag::CD);
    flags |= flag::RA | (q.flags & (flag::RD | flag::CD));
    if uflags & flag::AD != 0 && (q.flags & flag::AD != 0 || q.dnssec_ok()) {
        flags |= flag::AD;
    }
    out.extend_from_slice(&client_query[..HEADER_LEN]);
    out.extend_from_slice(&client_query[HEADER_LEN..qend]);
    let (mut ancount, mut nscount, mut arcount) = (0u16, 0u16, 0u16);
    if ext != 0 {
        flags = (flags & !(flag::RCODE | flag::TC | flag::AD)) | rcode::SERVFAIL as u16;
    } else if !whole || body_end + opt > limit {
        flags |= flag::TC;
    } else {
        out.extend_from_slice(&upstream[qend..body_end]);
        (ancount, nscount) = (an, ns);
        let mut p = body_end;
        for _ in 0..additional {
            let Some(r) = walk_record(upstream, p) else {
                break;
            };
            if out.len() + (r.end - p) + opt > limit {
                break;
            }
            out.extend_from_slice(&upstream[p..r.end]);
            arcount += 1;
            p = r.end;
        }
    }
    put_u16(out, at::FLAGS, flags);
    put_u16(out, at::QDCOUNT, 1);
    put_u16(out, at::ANCOUNT, ancount);
    put_u16(out, at::NSCOUNT, nscount);
    if let Some(e) = q.edns {
        push_opt(out, e.dnssec_ok, None);
        arcount += 1;
    }
    put_u16(out, at::ARCOUNT, arcount);
    true
}

#[cfg(test)]
#[path = "forward_tests.rs"]
mod tests;
