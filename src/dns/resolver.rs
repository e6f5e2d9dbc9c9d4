//! The DNS server's decisions, sans-IO (design §3, §6): what to answer to
//! each client query, and what to do with each upstream reply. The driver
//! ([`super::driver`]) owns the sockets and the clock and passes `now` in.
//!
//! A client query goes, in order:
//! 1. [`QueryView::parse`], once: every later step reads that view (only
//!    the slow paths that build records decode the QNAME, never the whole
//!    message); a message that is not a well-formed query gets
//!    FORMERR, NOTIMP (another opcode, RFC 1035 §4.1.1) or BADVERS
//!    (RFC 6891 §6.1.3), and a response (QR=1) or a runt is dropped: a
//!    reply to a reply could start a loop.
//! 2. CHAOS TXT `*.bind`: the statistics names, answered locally in
//!    dnsmasq's formats (or REFUSED with `chaos-stats = false`).
//! 3. The cache fast path ([`Cache::lookup_parsed`]): one lookup, one
//!    copy into `out`.
//! 4. Local data ([`LocalData::answer`], with the DHCP host table): local
//!    names shadow upstream answers, and never go upstream.
//! 5. ANY (class IN) is answered with RFC 8482's HINFO, not forwarded.
//! 6. `domain-needed`: a name without a dot is not forwarded (NXDOMAIN), as
//!    dnsmasq does; a public resolver would only leak it.
//! 7. The forwarder ([`Forwarder::handle_query`]): RFC 5452 matching,
//!    coalescing, upstream policies. A cache entry within its stale window
//!    is served stale if every upstream fails (RFC 8767 §5), or at once
//!    when every upstream for the name holds `dns-forward-max` questions
//!    (else SERVFAIL, at once too).
//!
//! Replies to forwarded queries, and the upstream socket work, come out of
//! [`Resolver::poll_action`]; what deserves a log line comes out of
//! [`Resolver::poll_event`].
//!
//! Upstream answers pass `stop-dns-rebind` (an answer for a public name that
//! points into private address space is blocked: NOERROR without records,
//! never cached, as dnsmasq does), then go to the cache and to every waiting
//! client through [`relay`].
//!
//! The cache holds only forwarded answers, so when the DHCP host table
//! changes, entries for its names are purged: a name that appears with a
//! new lease is not hidden behind an NXDOMAIN cached earlier.

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::cache::{Cache, CacheConfig, Lookup};
use super::forward::{
    Action, Entropy, ForwardConfig, Forwarder, Peer, Submitted, Token, UpstreamSpec, relay,
};
use super::local::{LocalAnswer, LocalData, respond};
use super::message::{
    HEADER_LEN, QueryError, QueryView, Transport, at, flag, get_u16, put_u16, rcode, rtype,
    skip_name, walk_record, wire_name,
};
use super::querylog::Source;
use super::special_use::in_domain;
use crate::clock::Mono;
use crate::dhcp::HostTable;

/// CHAOS class (RFC 1035 §3.2.4).
const CLASS_CH: u16 = 3;

/// A client waiting for an upstream answer: its raw query (its reply is
/// built from it) and who it is.
#[derive(Debug, PartialEq, Eq)]
pub struct Waiting {
    query: Vec<u8>,
    peer: Peer,
}

/// What [`Resolver::handle_query`] did with a client query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `out` holds the reply: send it. The [`Source`] says where it came
    /// from (for the query log).
    Reply(Source),
    /// Forwarded (or joined an identical outstanding query); the reply comes
    /// later as an [`Action::Reply`] from [`Resolver::poll_action`].
    Forwarded,
    /// Nothing to send.
    Dropped(Drop),
}

/// Why a client query got no reply. Each is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// Too short for a header, or a response (QR=1).
    Malformed,
}

/// Policy switches of the `[dns]` section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub chaos_stats: bool,
    pub domain_needed: bool,
    pub stop_dns_rebind: bool,
    pub rebind_localhost_ok: bool,
    /// Lower-case domains exempt from rebind protection.
    pub rebind_domain_ok: Vec<String>,
}

/// Counters of the resolver (the cache and the forwarder keep their own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResolverStats {
    pub queries: u64,
    pub local_answers: u64,
    pub forwarded: u64,
    pub malformed: u64,
    pub formerr: u64,
    pub notimp: u64,
    pub refused: u64,
    pub chaos: u64,
    pub domain_needed: u64,
    pub rebind_blocked: u64,
    pub servfail: u64,
    pub stale_served: u64,
    pub overloaded: u64,
    pub upstream_answers: u64,
    /// ANY queries answered with the RFC 8482 HINFO.
    pub minimal_any: u64,
}

/// Something the driver reports (logs); the core never logs itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `stop-dns-rebind` blocked an upstream answer for `name` (text form)
    /// that pointed into private address space.
    RebindBlocked { name: String },
}

/// The resolver: cache, local data and forwarder, one owner (the DNS task).
pub struct Resolver {
    opts: Options,
    cache: Cache,
    local: Arc<LocalData>,
    table: Arc<HostTable>,
    fwd: Forwarder<Waiting>,
    entropy: Box<dyn Entropy + Send>,
    /// For the driver: upstream sends and closes, and replies to clients
    /// whose query was forwarded. Never holds Answer or Fail.
    actions: VecDeque<Action<Waiting>>,
    events: VecDeque<Event>,
    stats: ResolverStats,
}

impl Resolver {
    pub fn new(
        opts: Options,
        cache: CacheConfig,
        local: Arc<LocalData>,
        fwd: ForwardConfig,
        entropy: Box<dyn Entropy + Send>,
    ) -> Resolver {
        Resolver {
            opts,
            cache: Cache::new(cache),
            local,
            table: Arc::new(HostTable::default()),
            fwd: Forwarder::new(fwd),
            entropy,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            stats: ResolverStats::default(),
        }
    }

    pub fn stats(&self) -> ResolverStats {
        self.stats
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    pub fn forwarder(&self) -> &Forwarder<Waiting> {
        &self.fwd
    }

    /// A reload: new local data, options and upstreams; the cache is
    /// cleared (dnsmasq clears it on SIGHUP too) and resized.
    pub fn reconfigure(
        &mut self,
        opts: Options,
        cache: CacheConfig,
        local: Arc<LocalData>,
        upstreams: Vec<UpstreamSpec>,
    ) {
        self.opts = opts;
        if *self.cache.config() != cache {
            self.cache = Cache::new(cache);
        } else {
            self.cache.clear();
        }
        self.local = local;
        self.fwd.set_upstreams(upstreams);
    }

    /// New upstreams (resolv-file changed); the cache stays.
    pub fn set_upstreams(&mut self, upstreams: Vec<UpstreamSpec>) {
        self.fwd.set_upstreams(upstreams);
    }

    /// A new DHCP host table. Cached entries for the names it adds (and
    /// their reverse names) are purged so local data is not shadowed. Only
    /// the pairs that are new are looked at: a table of 50,000 names
    /// changes by one lease at a time.
    pub fn set_host_table(&mut self, table: Arc<HostTable>) {
        if !self.cache.is_empty() && !table.is_empty() {
            let mut names: HashSet<Vec<u8>> = HashSet::new();
            let domain = self.local.domain();
            let old = &self.table;
            let added = table
                .entries()
                .filter(|(name, addr)| !old.addrs(name).contains(addr));
            for (name, addr) in added {
                if let Some(w) = wire_name(name) {
                    names.insert(w);
                }
                if let Some(d) = domain
                    && let Some(w) = wire_name(&format!("{name}.{d}"))
                {
                    names.insert(w);
                }
                if let Some(w) = wire_name(&super::special_use::reverse_name(IpAddr::V4(addr))) {
                    names.insert(w);
                }
            }
            if !names.is_empty() {
                self.cache.purge_names(|n| names.contains(n));
            }
        }
        self.table = table;
    }

    /// The driver's next job, in order: [`Action::SendUdp`],
    /// [`Action::SendTcp`], [`Action::Close`] (upstream sockets) and
    /// [`Action::Reply`] (a reply for a client whose query was forwarded).
    /// The forwarder's [`Action::Answer`] and [`Action::Fail`] are turned
    /// into replies here and never returned.
    pub fn poll_action(&mut self) -> Option<Action<Waiting>> {
        self.actions.pop_front()
    }

    /// The next thing worth a log line.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Resolver::handle_timeout`] wants to run next.
    pub fn poll_timeout(&self) -> Option<Mono> {
        self.fwd.poll_timeout()
    }

    /// Handles one client query from `peer`. On [`Outcome::Reply`], `out`
    /// holds the reply, to send back the way the query came; a forwarded
    /// query is answered later by an [`Action::Reply`] to `peer` (the query
    /// is copied only then).
    pub fn handle_query(
        &mut self,
        now: Mono,
        query: &[u8],
        peer: Peer,
        out: &mut Vec<u8>,
    ) -> Outcome {
        let transport = peer.transport();
        self.stats.queries += 1;
        // Parsed once; every step below reads this view.
        let q = match QueryView::parse(query) {
            Ok(q) => q,
            Err(e) => return self.bad_query(query, e, transport, out),
        };
        // The fast path first: a cached answer needs nothing else.
        if self.cache.lookup_parsed(&q, query, transport, now, out) == Lookup::Hit {
            return Outcome::Reply(Source::Cache);
        }
        if q.qclass == CLASS_CH {
            return self.chaos(query, &q, transport, out);
        }
        let qname = qname(query, &q);
        if let Some(answer) = qname.as_ref().and_then(|n| self.local_answer(n, &q)) {
            return match respond(query, &answer, transport) {
                Some(bytes) => {
                    self.stats.local_answers += 1;
                    *out = bytes;
                    Outcome::Reply(if answer.blocked {
                        Source::Blocked
                    } else {
                        Source::Local
                    })
                }
                None => self.error_reply(query, rcode::FORMERR, out, Source::Local),
            };
        }
        if q.qtype == rtype::ANY && q.qclass == super::message::CLASS_IN {
            return self.minimal_any(query, qname.as_ref(), transport, out);
        }
        if self.opts.domain_needed && !has_dot(q.name()) {
            self.stats.domain_needed += 1;
            return self.error_reply(query, rcode::NXDOMAIN, out, Source::Blocked);
        }
        match self.fwd.handle_query(
            now,
            &q,
            query,
            Waiting {
                query: query.to_vec(),
                peer,
            },
            &mut *self.entropy,
        ) {
            Submitted::Sent | Submitted::Coalesced => {
                self.stats.forwarded += 1;
                self.drain_forwarder(now);
                Outcome::Forwarded
            }
            Submitted::NoServer(_) => {
                // No upstream for this name: REFUSED, as dnsmasq answers.
                self.stats.refused += 1;
                self.error_reply(query, rcode::REFUSED, out, Source::Failed)
            }
            Submitted::Invalid(_) => self.error_reply(query, rcode::FORMERR, out, Source::Local),
            Submitted::Overloaded(_) => {
                // Every upstream for this name holds `dns-forward-max`
                // questions (or this question has too many waiting
                // clients). Answer now, never with silence: stale data if
                // the cache has it (RFC 8767 §5), else SERVFAIL, RFC 1035
                // §4.1.1's "unable to process this query due to a problem
                // with the name server", which is what the client would
                // get seconds later from the timeout anyway. Not REFUSED:
                // that says "policy", and would read as an ACL decision.
                self.stats.overloaded += 1;
                let source = self.stale_or_servfail(query, transport, now, out);
                if out.is_empty() {
                    self.stats.malformed += 1;
                    Outcome::Dropped(Drop::Malformed)
                } else {
                    Outcome::Reply(source)
                }
            }
        }
    }

    /// A datagram on upstream socket `token`.
    pub fn handle_udp_reply(&mut self, now: Mono, token: Token, from: SocketAddr, reply: &[u8]) {
        self.fwd
            .handle_udp_reply(now, token, from, reply, &mut *self.entropy);
        self.drain_forwarder(now);
    }

    /// One message (or a failure) on upstream TCP connection `token`.
    pub fn handle_tcp_reply(&mut self, now: Mono, token: Token, reply: Result<&[u8], ()>) {
        self.fwd
            .handle_tcp_reply(now, token, reply, &mut *self.entropy);
        self.drain_forwarder(now);
    }

    /// Timeouts and retries due at `now`.
    pub fn handle_timeout(&mut self, now: Mono) {
        self.fwd.handle_timeout(now, &mut *self.entropy);
        self.drain_forwarder(now);
    }

    /// Moves the forwarder's actions to ours: socket work as it is, an
    /// answer or a failure as one reply per waiting client.
    fn drain_forwarder(&mut self, now: Mono) {
        while let Some(a) = self.fwd.poll_action() {
            match a {
                a @ (Action::SendUdp { .. } | Action::SendTcp { .. } | Action::Close { .. }) => {
                    self.actions.push_back(a)
                }
                Action::Reply { .. } => debug_assert!(false, "the forwarder never replies"),
                Action::Answer {
                    question,
                    response,
                    clients,
                    cacheable,
                    server,
                } => {
                    self.stats.upstream_answers += 1;
                    let mut response = response;
                    let blocked = self.opts.stop_dns_rebind && self.rebinds(&response);
                    if blocked {
                        self.stats.rebind_blocked += 1;
                        self.events.push_back(Event::RebindBlocked {
                            name: question
                                .as_ref()
                                .map(|q| super::message::name_text(q.name()))
                                .unwrap_or_default(),
                        });
                        strip_records(&mut response);
                    } else if cacheable && let Some(q) = &question {
                        let _ = self.cache.insert(q, &response, now);
                    }
                    let source = if blocked {
                        Source::Blocked
                    } else {
                        Source::Upstream(server)
                    };
                    for w in clients {
                        let mut packet = Vec::new();
                        if relay(&w.query, &response, w.peer.transport(), &mut packet) {
                            self.actions.push_back(Action::Reply {
                                to: w.peer,
                                packet,
                                source,
                            });
                        }
                    }
                }
                Action::Fail { clients } => {
                    for w in clients {
                        let mut packet = Vec::new();
                        let source =
                            self.stale_or_servfail(&w.query, w.peer.transport(), now, &mut packet);
                        if !packet.is_empty() {
                            self.actions.push_back(Action::Reply {
                                to: w.peer,
                                packet,
                                source,
                            });
                        }
                    }
                }
            }
        }
    }

    /// RFC 8767 §5: a stale cached answer if there is one, else SERVFAIL.
    fn stale_or_servfail(
        &mut self,
        query: &[u8],
        transport: Transport,
        now: Mono,
        out: &mut Vec<u8>,
    ) -> Source {
        out.clear();
        if self.cache.serve_stale(query, transport, now, out) {
            self.stats.stale_served += 1;
            Source::Stale
        } else {
            self.stats.servfail += 1;
            error_reply_into(query, rcode::SERVFAIL, out);
            Source::Failed
        }
    }

    fn local_answer(&self, qname: &Name, q: &QueryView) -> Option<LocalAnswer> {
        self.local.answer(
            &self.table,
            qname,
            RecordType::from(q.qtype),
            DNSClass::from(q.qclass),
        )
    }

    fn bad_query(
        &mut self,
        query: &[u8],
        e: QueryError,
        transport: Transport,
        out: &mut Vec<u8>,
    ) -> Outcome {
        match e {
            QueryError::Short | QueryError::NotQuery => {
                self.stats.malformed += 1;
                Outcome::Dropped(Drop::Malformed)
            }
            QueryError::Opcode => {
                self.stats.notimp += 1;
                self.error_reply(query, rcode::NOTIMP, out, Source::Local)
            }
            QueryError::EdnsVersion => {
                // RFC 6891 §6.1.3: BADVERS, with our OPT (built by respond).
                let none = LocalAnswer {
                    rcode: ResponseCode::NoError,
                    answers: Vec::new(),
                    authority: Vec::new(),
                    authoritative: false,
                    blocked: false,
                };
                match respond(query, &none, transport) {
                    Some(b) => {
                        *out = b;
                        Outcome::Reply(Source::Local)
                    }
                    None => {
                        self.stats.formerr += 1;
                        self.error_reply(query, rcode::FORMERR, out, Source::Local)
                    }
                }
            }
            QueryError::Counts
            | QueryError::Name
            | QueryError::Additional
            | QueryError::Trailing => {
                self.stats.formerr += 1;
                self.error_reply(query, rcode::FORMERR, out, Source::Local)
            }
        }
    }

    fn error_reply(&mut self, query: &[u8], rc: u8, out: &mut Vec<u8>, source: Source) -> Outcome {
        error_reply_into(query, rc, out);
        if out.is_empty() {
            self.stats.malformed += 1;
            Outcome::Dropped(Drop::Malformed)
        } else {
            Outcome::Reply(source)
        }
    }

    /// RFC 8482 §4.2: ANY for a name without local data is answered here
    /// with one synthesized HINFO ("RFC8482"), never forwarded: ANY answers
    /// are an amplification tool and no client needs them.
    fn minimal_any(
        &mut self,
        query: &[u8],
        qname: Option<&Name>,
        transport: Transport,
        out: &mut Vec<u8>,
    ) -> Outcome {
        let Some(qname) = qname else {
            return self.error_reply(query, rcode::FORMERR, out, Source::Local);
        };
        let answer = LocalAnswer {
            rcode: ResponseCode::NoError,
            answers: vec![super::local::hinfo_rfc8482(qname, 3600)],
            authority: Vec::new(),
            authoritative: false,
            blocked: false,
        };
        self.stats.minimal_any += 1;
        self.respond_local(query, &answer, transport, out)
    }

    /// dnsmasq's CHAOS statistics names (`dig CH TXT hits.bind`).
    fn chaos(
        &mut self,
        query: &[u8],
        q: &QueryView,
        transport: Transport,
        out: &mut Vec<u8>,
    ) -> Outcome {
        self.stats.chaos += 1;
        let name = super::message::name_text(q.name());
        let texts: Option<Vec<String>> =
            if !self.opts.chaos_stats || !matches!(q.qtype, rtype::TXT | rtype::ANY) {
                None
            } else if name == "servers.bind" {
                Some(self.fwd.servers_bind_txt())
            } else {
                let mut s = self.cache.stats();
                s.cachesize = self.cache.config().size as u64;
                s.chaos_txt(&name).map(|t| vec![t])
            };
        let Some(texts) = texts else {
            self.stats.refused += 1;
            return self.error_reply(query, rcode::REFUSED, out, Source::Blocked);
        };
        let Ok(owner) = hickory_proto::rr::Name::from_ascii(format!("{name}.")) else {
            return self.error_reply(query, rcode::FORMERR, out, Source::Local);
        };
        let mut rec = Record::from_rdata(owner, 0, RData::TXT(TXT::new(texts)));
        rec.dns_class = DNSClass::CH;
        let answer = LocalAnswer {
            rcode: ResponseCode::NoError,
            answers: vec![rec],
            authority: Vec::new(),
            authoritative: true,
            blocked: false,
        };
        self.respond_local(query, &answer, transport, out)
    }

    /// A reply built from a synthesized local answer (FORMERR if the query
    /// cannot carry it).
    fn respond_local(
        &mut self,
        query: &[u8],
        answer: &LocalAnswer,
        transport: Transport,
        out: &mut Vec<u8>,
    ) -> Outcome {
        match respond(query, answer, transport) {
            Some(b) => {
                *out = b;
                Outcome::Reply(Source::Local)
            }
            None => self.error_reply(query, rcode::FORMERR, out, Source::Local),
        }
    }

    /// Whether an upstream answer is a DNS rebinding attempt: an A record in
    /// private, loopback (unless `rebind-localhost-ok`), link-local,
    /// shared or documentation space, for a name not in
    /// `rebind-domain-ok` (dnsmasq's `stop-dns-rebind` ranges).
    fn rebinds(&self, response: &[u8]) -> bool {
        let Some(qd) = get_u16(response, at::QDCOUNT) else {
            return false;
        };
        let Some(an) = get_u16(response, at::ANCOUNT) else {
            return false;
        };
        let mut p = HEADER_LEN;
        let mut qname = String::new();
        for i in 0..qd {
            if i == 0 {
                qname = super::message::name_text_at(response, p).unwrap_or_default();
            }
            let Some(e) = skip_name(response, p) else {
                return false;
            };
            p = e + 4;
        }
        if self
            .opts
            .rebind_domain_ok
            .iter()
            .any(|d| in_domain(&qname, d))
        {
            return false;
        }
        for _ in 0..an {
            let Some(r) = walk_record(response, p) else {
                return false;
            };
            if r.rtype == rtype::A
                && r.rdlen == 4
                && let Some(b) = response.get(r.rdata_at..r.rdata_at + 4)
            {
                let a = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
                if private_v4(a, self.opts.rebind_localhost_ok) {
                    return true;
                }
            }
            p = r.end;
        }
        false
    }
}

/// dnsmasq's private-address test for rebind protection.
pub fn private_v4(a: Ipv4Addr, localhost_ok: bool) -> bool {
    let o = a.octets();
    (a.is_loopback() && !localhost_ok)
        || o[0] == 0
        || a.is_private()
        || a.is_link_local()
        || (o[0] == 100 && (o[1] & 0xC0) == 64)
        || a.is_documentation()
        || a.is_broadcast()
}

/// The QNAME of a parsed query as the client wrote it (its case), for the
/// slow paths that work on records. Only the name is decoded, not the
/// whole message.
fn qname(query: &[u8], q: &QueryView) -> Option<Name> {
    let wire = query.get(HEADER_LEN..q.question_end - 4)?;
    Name::read(&mut BinDecoder::new(wire)).ok()
}

fn has_dot(wire: &[u8]) -> bool {
    // Wire form: the first label's length, then its bytes; a second label
    // means the name has a dot.
    wire.first()
        .is_some_and(|&l| wire.get(1 + l as usize).is_some_and(|&n| n != 0))
}

/// Cuts an answer down to its header and question, NOERROR: what a blocked
/// rebinding answer becomes (dnsmasq returns the name with no records).
fn strip_records(response: &mut Vec<u8>) {
    let Some(qd) = get_u16(response, at::QDCOUNT) else {
        return;
    };
    let mut p = HEADER_LEN;
    for _ in 0..qd {
        match skip_name(response, p) {
            Some(e) if e + 4 <= response.len() => p = e + 4,
            _ => return,
        }
    }
    response.truncate(p);
    for c in [at::ANCOUNT, at::NSCOUNT, at::ARCOUNT] {
        put_u16(response, c, 0);
    }
    if let Some(f) = get_u16(response, at::FLAGS) {
        put_u16(
            response,
            at::FLAGS,
            (f & !flag::RCODE) | rcode::NOERROR as u16,
        );
    }
}

/// A header-only error reply (with the question when it can be read):
/// the client's ID, opcode and RD; QR and RA set; `rc`. Empty `out` when
/// the query is too short to have an ID.
pub fn error_reply_into(query: &[u8], rc: u8, out: &mut Vec<u8>) {
    out.clear();
    if query.len() < HEADER_LEN {
        return;
    }
    out.extend_from_slice(&query[..HEADER_LEN]);
    let flags = get_u16(query, at::FLAGS).unwrap_or(0);
    let f = flag::QR | (flags & (flag::OPCODE | flag::RD | flag::CD)) | flag::RA | rc as u16;
    put_u16(out, at::FLAGS, f);
    for c in [at::QDCOUNT, at::ANCOUNT, at::NSCOUNT, at::ARCOUNT] {
        put_u16(out, c, 0);
    }
    if get_u16(query, at::QDCOUNT) == Some(1)
        && let Some(end) = skip_name(query, HEADER_LEN)
        && end + 4 <= query.len()
        && query[HEADER_LEN..end].last() == Some(&0)
    {
        out.extend_from_slice(&query[HEADER_LEN..end + 4]);
        put_u16(out, at::QDCOUNT, 1);
    }
}

#[cfg(test)]
#[path = "resolver_tests.rs"]
mod tests;
