//! The DNS task: sockets, clock and entropy around the sans-IO
//! [`Resolver`] (design §1, §6). It owns the cache, local data and
//! forwarder; nothing else touches them.
//!
//! * Listeners: one wildcard UDP socket with IP_PKTINFO and one TCP
//!   listener on the DNS port, and the same pair for IPv6 (IPV6_V6ONLY, so
//!   IPv4 stays on its own sockets; IPV6_RECVPKTINFO, RFC 3542 §6, so a
//!   reply leaves from the global, ULA or link-local address asked, by the
//!   interface the query came in on). Replies leave from the address the client
//!   queried, so the VIP is served the moment VRRP adds it, with no
//!   re-bind (dnsmasq needs `bind-dynamic` for that). [`Acl`] decides who
//!   may ask.
//! * Fast path: the UDP socket is drained in batches; a cache hit costs one
//!   `recvmsg`, one lookup and one `sendmsg` (design §6).
//! * TCP (RFC 7766): at most `max-tcp-connections` connections; a
//!   connection idle for [`TCP_IDLE`] or slower than [`TCP_IO`] to send a
//!   query or take a reply is closed (§6.2.3); queries on one connection are
//!   answered in order.
//! * Upstreams (RFC 5452 §9.2): every query gets its own UDP socket on a
//!   random source port (from the kernel's CSPRNG, `getrandom(2)`),
//!   `connect()`ed to the server; a small task relays what arrives to the
//!   resolver, which checks every reply. TCP retries get a connection each.
//! * Inputs from the rest of the daemon: the DHCP host table
//!   (`watch<Arc<HostTable>>`), reloads (`watch<Option<Arc<DnsConfig>>>`: hosts files
//!   re-read, cache cleared), and `resolv-file`, polled for changes every
//!   [`RESOLV_POLL`].
//! * After each turn of the loop it does what the resolver asks
//!   ([`Resolver::poll_action`]: upstream sockets, replies to forwarded
//!   queries) and logs what it reports ([`Resolver::poll_event`]). What
//!   the configuration means for the cores lives in `setup`, the counters'
//!   names in `metrics`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::{sleep_until, timeout};

use super::acl::{Acl, Ifaces};
use super::config::DnsConfig;
use super::error::DnsError;
use super::forward::{Action, Entropy, Peer, Token};
use super::message::Transport;
use super::metrics::{DriverStats, Snapshot, register_metrics};
use super::querylog::{QueryLine, Source};
use super::resolver::{Event, Outcome, Resolver};
use super::setup::{ResolvWatch, build_local, forward_config, options, upstreams};
use crate::clock::Mono;
use crate::dhcp::HostTable;
use crate::net::{BATCH, Envelope, Envelope6, Family, PktinfoSocket, V4, V6};
use crate::net::{Pktinfo6Socket, is_link_local6, local_interfaces, local_interfaces6};
use crate::net::{RecvBatch, RecvBatch6, RecvBatchOf, SendBatch, SendBatch6, SendBatchOf};
use crate::task::{Shutdown, TaskError};
use crate::{event, event_limited};

/// A TCP connection with no query for this long is closed (RFC 7766
/// §6.2.3 asks for idle timeouts of seconds, not minutes).
pub const TCP_IDLE: Duration = Duration::from_secs(10);
/// A query must arrive, and a reply be taken, within this once started.
pub const TCP_IO: Duration = Duration::from_secs(5);
/// How long a forwarded query over TCP may wait for the resolver.
const TCP_ANSWER_WAIT: Duration = Duration::from_secs(10);
/// How long an upstream UDP socket lives at most (the forwarder closes it
/// sooner; this bounds a socket whose close was lost).
const UPSTREAM_SOCKET_LIFE: Duration = Duration::from_secs(30);
/// Upstream TCP: connect, send and read one message within this.
const UPSTREAM_TCP_LIFE: Duration = Duration::from_secs(5);
/// Datagrams handled per wake before other work gets a turn.
const UDP_BATCH: usize = 256;
/// How often `resolv-file` is checked for a change (dnsmasq polls too).
pub const RESOLV_POLL: Duration = Duration::from_secs(2);
/// The interface list (for [`Acl`]) is refreshed at most this often when a
/// query is refused, and at least this often anyway.
const IFACES_RETRY: Duration = Duration::from_secs(1);
const IFACES_REFRESH: Duration = Duration::from_secs(30);
/// Largest UDP datagram read (queries are small; anything larger is junk).
const UDP_BUF: usize = 4096;

/// Random numbers from the kernel (the `getrandom` crate, `getrandom(2)`
/// on Linux), buffered: the IDs and source ports of RFC 5452 must not be
/// predictable.
pub struct OsEntropy {
    buf: [u8; 512],
    left: usize,
}

impl OsEntropy {
    pub fn new() -> OsEntropy {
        OsEntropy {
            buf: [0; 512],
            left: 0,
        }
    }

    fn refill(&mut self) {
        if getrandom::fill(&mut self.buf).is_err() {
            // getrandom cannot fail for <= 256 bytes per call once the
            // pool is initialised (man 2 getrandom) and the crate retries
            // longer reads; if it ever does, mix the clock in rather than
            // repeat numbers.
            let t = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            for (i, c) in self.buf.chunks_exact_mut(8).enumerate() {
                let v = t.rotate_left(i as u32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                for (b, x) in c.iter_mut().zip(v.to_le_bytes()) {
                    *b ^= x;
                }
            }
        }
        self.left = self.buf.len();
    }
}

impl Default for OsEntropy {
    fn default() -> Self {
        OsEntropy::new()
    }
}

impl Entropy for OsEntropy {
    fn next_u64(&mut self) -> u64 {
        if self.left == 0 {
            self.refill();
        }
        self.left -= 8;
        let mut v = [0u8; 8];
        v.copy_from_slice(&self.buf[self.left..self.left + 8]);
        u64::from_le_bytes(v)
    }
}

/// What the per-upstream tasks report.
enum UpEvent {
    Udp {
        token: Token,
        from: SocketAddr,
        data: Vec<u8>,
    },
    Tcp {
        token: Token,
        result: Result<Vec<u8>, ()>,
    },
}

/// A query read from a TCP connection.
struct TcpQuery {
    query: Vec<u8>,
    peer: SocketAddr,
    reply: oneshot::Sender<Vec<u8>>,
}

pub use super::querylog::Command;

/// The DNS task.
pub struct DnsTask {
    cfg: Arc<DnsConfig>,
    udp: PktinfoSocket,
    tcp: TcpListener,
    /// The IPv6 listeners; `None` on a box without IPv6 (logged at start).
    udp6: Option<Pktinfo6Socket>,
    tcp6: Option<TcpListener>,
    resolver: Resolver,
    /// TCP queries the resolver forwarded, by [`Peer::Tcp`] id: where its
    /// [`Action::Reply`] goes. Entries whose connection gave up waiting
    /// are swept every [`RESOLV_POLL`].
    tcp_waiting: HashMap<u64, oneshot::Sender<Vec<u8>>>,
    next_tcp_id: u64,
    acl: Acl,
    ifaces: Ifaces,
    ifaces_at: Option<Mono>,
    resolv: Option<ResolvWatch>,
    hosts: watch::Receiver<Arc<HostTable>>,
    config: watch::Receiver<Option<Arc<DnsConfig>>>,
    ports: OsEntropy,
    stats: DriverStats,
    snapshot: watch::Sender<Snapshot>,
    /// One permit per TCP connection allowed (`max-tcp-connections`, fixed
    /// at start), as the metrics endpoint bounds its connections.
    tcp_slots: Arc<Semaphore>,
    tcp_max: usize,
    /// `log-queries`: one line per answered query. Set from the config at
    /// start and on every reload, switched at run time by [`Command`].
    log_queries: bool,
    commands: mpsc::Receiver<Command>,
    commands_tx: mpsc::Sender<Command>,
}

impl DnsTask {
    /// Binds the listeners (before privileges are dropped) and builds the
    /// resolver.
    pub fn open(
        cfg: &DnsConfig,
        hosts: watch::Receiver<Arc<HostTable>>,
        config: watch::Receiver<Option<Arc<DnsConfig>>>,
    ) -> Result<DnsTask, String> {
        let port = cfg.port;
        let udp =
            bind_udp(port).map_err(|e| format!("cannot listen for DNS on UDP port {port}: {e}"))?;
        let tcp =
            bind_tcp(port).map_err(|e| format!("cannot listen for DNS on TCP port {port}: {e}"))?;
        // IPv6 may be off (disable_ipv6, ipv6.disable=1): then DNS is
        // served over IPv4 only, and the log says why. Any other failure
        // (the port taken) is the operator's to fix, as for IPv4.
        let (udp6, tcp6) = match (bind_udp6(port), bind_tcp6(port)) {
            (Ok(u), Ok(t)) => (Some(u), Some(t)),
            (Err(e), _) | (_, Err(e)) if ipv6_unavailable(&e) => {
                event!(
                    Warn,
                    "dns.no_ipv6",
                    "port={port} error={} note=\"IPv6 is off on this host: DNS over IPv4 only\"",
                    crate::log::q(e)
                );
                (None, None)
            }
            (Err(e), _) => {
                return Err(format!(
                    "cannot listen for DNS on UDP port {port} over IPv6: {e}"
                ));
            }
            (_, Err(e)) => {
                return Err(format!(
                    "cannot listen for DNS on TCP port {port} over IPv6: {e}"
                ));
            }
        };
        let mut resolv = cfg
            .uses_resolv_file()
            .then(|| ResolvWatch::new(cfg.resolv_file.clone()));
        if let Some(r) = &mut resolv {
            r.poll();
        }
        let ups = upstreams(cfg, resolv.as_ref().map_or(&[], |r| &r.servers));
        if ups.is_empty() {
            event!(
                Warn,
                "dns.no_upstreams",
                "note=\"no server= lines and no nameserver in resolv-file: only local names will resolve\""
            );
        }
        let resolver = Resolver::new(
            options(cfg),
            cfg.cache(),
            build_local(cfg),
            forward_config(cfg, ups),
            Box::new(OsEntropy::new()),
        );
        let snapshot = watch::Sender::new(Snapshot::default());
        register_metrics(&snapshot.subscribe());
        let (commands_tx, commands) = mpsc::channel(4);
        Ok(DnsTask {
            cfg: Arc::new(cfg.clone()),
            udp,
            tcp,
            udp6,
            tcp6,
            resolver,
            tcp_waiting: HashMap::new(),
            next_tcp_id: 0,
            acl: Acl::from_config(cfg),
            ifaces: Ifaces::default(),
            ifaces_at: None,
            resolv,
            hosts,
            config,
            ports: OsEntropy::new(),
            stats: DriverStats::default(),
            snapshot,
            tcp_slots: Arc::new(Semaphore::new(cfg.max_tcp_connections as usize)),
            tcp_max: cfg.max_tcp_connections as usize,
            log_queries: cfg.log_queries,
            commands,
            commands_tx,
        })
    }

    /// Where the control socket sends its [`Command`]s.
    pub fn commands(&self) -> mpsc::Sender<Command> {
        self.commands_tx.clone()
    }

    pub async fn run(mut self, mut sd: Shutdown) -> Result<(), TaskError> {
        let (up_tx, mut up_rx) = mpsc::channel::<UpEvent>(1024);
        let (tcp_tx, mut tcp_rx) = mpsc::channel::<TcpQuery>(256);
        let mut upstream_tasks: HashMap<Token, AbortHandle> = HashMap::new();
        let mut rb = RecvBatch::new();
        let mut sb = SendBatch::new();
        let mut out = Vec::with_capacity(1500);
        let mut rb6 = RecvBatch6::new();
        let mut sb6 = SendBatch6::new();
        let mut resolv_tick = tokio::time::interval(RESOLV_POLL);
        resolv_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.resolver
            .set_host_table(self.hosts.borrow_and_update().clone());
        event!(
            Info,
            "dns.listening",
            "port={} ipv6={} acl={} cache_size={} upstreams={} log_queries={}",
            self.cfg.port,
            on_off(self.udp6.is_some()),
            self.acl,
            self.cfg.cache_size,
            self.resolver.forwarder().servers().len(),
            on_off(self.log_queries)
        );
        loop {
            let wake = self.resolver.poll_timeout();
            let timer = async {
                match wake {
                    Some(t) => sleep_until(t.to_instant().into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sd.wait() => break,
                r = self.udp.readable() => {
                    r.map_err(|e| TaskError::new(format!("DNS UDP socket failed: {e}")))?;
                    self.drain_udp::<V4>(&mut rb, &mut sb);
                }
                r = readable6(self.udp6.as_ref()) => {
                    r.map_err(|e| TaskError::new(format!("DNS UDP socket (IPv6) failed: {e}")))?;
                    self.drain_udp::<V6>(&mut rb6, &mut sb6);
                }
                acc = self.tcp.accept() => {
                    match acc {
                        Ok((stream, peer)) => self.accept_tcp(stream, peer, &tcp_tx),
                        Err(e) => DnsError::TcpAccept.record(&mut self.stats, format_args!("error={}", crate::log::q(&e))),
                    }
                }
                acc = accept6(self.tcp6.as_ref()) => {
                    match acc {
                        Ok((stream, peer)) => self.accept_tcp(stream, peer, &tcp_tx),
                        Err(e) => DnsError::TcpAccept.record(&mut self.stats, format_args!("error={}", crate::log::q(&e))),
                    }
                }
                Some(q) = tcp_rx.recv() => self.tcp_query(q, &mut out),
                Some(ev) = up_rx.recv() => {
                    let now = Mono::now();
                    match ev {
                        UpEvent::Udp { token, from, data } => {
                            self.resolver.handle_udp_reply(now, token, from, &data)
                        }
                        UpEvent::Tcp { token, result } => self.resolver.handle_tcp_reply(
                            now,
                            token,
                            result.as_deref().map_err(|_| ()),
                        ),
                    }
                }
                _ = timer => self.resolver.handle_timeout(Mono::now()),
                Ok(()) = self.hosts.changed() => {
                    let t = self.hosts.borrow_and_update().clone();
                    self.resolver.set_host_table(t);
                }
                Ok(()) = self.config.changed() => {
                    let c = self.config.borrow_and_update().clone();
                    self.reload(c.as_deref());
                }
                _ = resolv_tick.tick() => {
                    self.poll_resolv();
                    self.tcp_waiting.retain(|_, tx| !tx.is_closed());
                }
                Some(c) = self.commands.recv() => self.command(c),
            }
            self.drain_actions(&up_tx, &mut upstream_tasks);
            self.publish();
        }
        for (_, h) in upstream_tasks.drain() {
            h.abort();
        }
        Ok(())
    }

    /// The fast path, for either family: datagrams in batches of [`BATCH`]
    /// (`recvmmsg`), the replies of a batch in one `sendmmsg`.
    fn drain_udp<F: Listener>(&mut self, rb: &mut RecvBatchOf<F>, sb: &mut SendBatchOf<F>) {
        let now = Mono::now();
        for _ in 0..UDP_BATCH.div_ceil(BATCH) {
            let n = match F::recv(self, rb) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let e = format_args!("error={}", crate::log::q(&e));
                    DnsError::UdpReceive.record(&mut self.stats, e);
                    break;
                }
            };
            for i in 0..n {
                self.stats.udp_received += 1;
                let Some((query, env)) = rb.get(i) else {
                    DnsError::Oversized.count(&mut self.stats, 1);
                    continue;
                };
                let r = F::route(&env);
                if !self.allowed(now, r.client, r.dst, r.ifindex) {
                    continue;
                }
                let Some(out) = sb.slot() else {
                    break;
                };
                let outcome = self.resolver.handle_query(now, query, r.peer, out);
                if let Outcome::Reply(source) = outcome {
                    if self.log_queries {
                        log_query(r.client, false, query, out, source);
                    }
                    sb.commit_via(r.to, r.from, r.out_if);
                }
            }
            let replies = sb.len() as u64;
            let failed = F::send(self, sb) as u64;
            self.stats.udp_sent += replies - failed;
            DnsError::UdpSend.count(&mut self.stats, failed);
            if n < BATCH {
                break;
            }
        }
    }

    fn allowed(&mut self, now: Mono, src: IpAddr, dst: IpAddr, ifindex: u32) -> bool {
        if self.acl.uses_interfaces()
            && self
                .ifaces_at
                .is_none_or(|t| now.since(t) >= IFACES_REFRESH)
        {
            self.refresh_ifaces(now);
        }
        if self.acl.allows(&self.ifaces, src, dst, ifindex) {
            return true;
        }
        // An address added since the last look (a new VIP, DHCP on the WAN)
        // must not make us refuse for long.
        if self.acl.uses_interfaces() && self.ifaces_at.is_none_or(|t| now.since(t) >= IFACES_RETRY)
        {
            self.refresh_ifaces(now);
            if self.acl.allows(&self.ifaces, src, dst, ifindex) {
                return true;
            }
        }
        DnsError::AclRefused.record(
            &mut self.stats,
            format_args!("client={src} to={dst} ifindex={ifindex} rule={}", self.acl),
        );
        false
    }

    fn refresh_ifaces(&mut self, now: Mono) {
        self.ifaces_at = Some(now);
        match local_interfaces() {
            Ok(l) => self.ifaces.v4 = l,
            Err(e) => DnsError::Interfaces
                .record(&mut self.stats, format_args!("error={}", crate::log::q(&e))),
        }
        if self.udp6.is_some() {
            match local_interfaces6() {
                Ok(l) => self.ifaces.v6 = l,
                Err(e) => DnsError::Interfaces
                    .record(&mut self.stats, format_args!("error={}", crate::log::q(&e))),
            }
        }
    }

    fn accept_tcp(&mut self, stream: TcpStream, peer: SocketAddr, tx: &mpsc::Sender<TcpQuery>) {
        let Ok(local) = stream.local_addr() else {
            return;
        };
        // A link-local address names its interface in the scope id; other
        // TCP queries are judged by the address asked.
        let ifindex = match local {
            SocketAddr::V6(l) if is_link_local6(*l.ip()) => l.scope_id(),
            _ => 0,
        };
        if !self.allowed(
            Mono::now(),
            peer.ip().to_canonical(),
            local.ip().to_canonical(),
            ifindex,
        ) {
            return;
        }
        let Ok(permit) = self.tcp_slots.clone().try_acquire_owned() else {
            // Closing at once is the cheapest refusal; the client retries
            // (dnsmasq refuses the same way past max-tcp-connections).
            DnsError::TcpLimit.record(
                &mut self.stats,
                format_args!("client={peer} max-tcp-connections={}", self.tcp_max),
            );
            return;
        };
        self.stats.tcp_accepted += 1;
        tokio::spawn(serve_tcp(stream, peer, tx.clone(), permit));
    }

    fn tcp_query(&mut self, q: TcpQuery, out: &mut Vec<u8>) {
        let now = Mono::now();
        let id = self.next_tcp_id;
        self.next_tcp_id += 1;
        let peer = Peer::Tcp { client: q.peer, id };
        match self.resolver.handle_query(now, &q.query, peer, out) {
            Outcome::Reply(source) => {
                if self.log_queries {
                    log_query(q.peer.ip(), true, &q.query, out, source);
                }
                let _ = q.reply.send(out.clone());
            }
            Outcome::Forwarded => {
                self.tcp_waiting.insert(id, q.reply);
            }
            // Dropping the sender closes the connection.
            Outcome::Dropped(_) => {}
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::LogQueries(switch, reply) => {
                let was = self.log_queries;
                let text = match switch {
                    None => format!("log-queries {}\n", on_off(was)),
                    Some(on) => {
                        self.log_queries = on;
                        event!(
                            Info,
                            "dns.log_queries",
                            "state={} was={} by=control-socket",
                            on_off(on),
                            on_off(was)
                        );
                        format!(
                            "log-queries {} (was {}); a reload sets it to the config's value ({})\n",
                            on_off(on),
                            on_off(was),
                            on_off(self.cfg.log_queries)
                        )
                    }
                };
                let _ = reply.send(text);
            }
        }
    }

    fn reload(&mut self, new: Option<&DnsConfig>) {
        let Some(new) = new else {
            event!(
                Warn,
                "config.restart_needed",
                "section=dns note=\"removing [dns] takes effect at the next start\""
            );
            return;
        };
        if new.port != self.cfg.port {
            event!(
                Warn,
                "config.restart_needed",
                "section=dns key=port note=\"a new port takes effect at the next start\""
            );
        }
        let mut resolv = new
            .uses_resolv_file()
            .then(|| ResolvWatch::new(new.resolv_file.clone()));
        if let Some(r) = &mut resolv {
            r.poll();
        }
        let ups = upstreams(new, resolv.as_ref().map_or(&[], |r| &r.servers));
        self.resolver
            .reconfigure(options(new), new.cache(), build_local(new), ups);
        self.acl = Acl::from_config(new);
        self.ifaces_at = None;
        self.resolv = resolv;
        let port = self.cfg.port;
        let mut kept = new.clone();
        kept.port = port;
        self.cfg = Arc::new(kept);
        // A reload applies the file's value, over any run-time switch.
        self.log_queries = new.log_queries;
        event!(
            Info,
            "dns.reloaded",
            "cache=cleared upstreams={} log_queries={}",
            self.resolver.forwarder().servers().len(),
            on_off(self.log_queries)
        );
    }

    fn poll_resolv(&mut self) {
        let Some(r) = &mut self.resolv else {
            return;
        };
        if r.poll() {
            self.stats.resolv_reloads += 1;
            let ups = upstreams(&self.cfg, &r.servers);
            self.resolver.set_upstreams(ups);
        }
    }

    /// Does what the resolver asks (upstream sockets, replies to clients
    /// whose query was forwarded) and logs what it reports.
    fn drain_actions(
        &mut self,
        tx: &mpsc::Sender<UpEvent>,
        tasks: &mut HashMap<Token, AbortHandle>,
    ) {
        while let Some(ev) = self.resolver.poll_event() {
            match ev {
                Event::RebindBlocked { name } => event_limited!(
                    Warn,
                    "dns.rebind_blocked",
                    "name={} note=\"an upstream answer for a public name points into private address space\"",
                    crate::log::q(&name)
                ),
            }
        }
        while let Some(a) = self.resolver.poll_action() {
            match a {
                Action::Reply { to, packet, source } => {
                    if self.log_queries {
                        // The reply repeats the client's question.
                        let tcp = to.transport() == Transport::Tcp;
                        log_query(to.client_ip(), tcp, &packet, &packet, source);
                    }
                    self.send_reply(to, &packet);
                }
                Action::SendUdp { token, to, packet } => {
                    match upstream_socket(&mut self.ports, to) {
                        Ok(sock) => {
                            let tx = tx.clone();
                            let h = tokio::spawn(upstream_udp(sock, token, packet, tx));
                            tasks.insert(token, h.abort_handle());
                        }
                        Err(e) => {
                            // The forwarder times this send out and moves on.
                            DnsError::UpstreamSocket.record(
                                &mut self.stats,
                                format_args!("server={to} error={}", crate::log::q(&e)),
                            );
                        }
                    }
                }
                Action::SendTcp { token, to, packet } => {
                    let tx = tx.clone();
                    let h = tokio::spawn(upstream_tcp(token, to, packet, tx));
                    tasks.insert(token, h.abort_handle());
                }
                Action::Close { token } => {
                    if let Some(h) = tasks.remove(&token) {
                        h.abort();
                    }
                }
                // The resolver turns these into replies.
                Action::Answer { .. } | Action::Fail { .. } => {}
            }
        }
    }

    /// Sends a reply where the resolver says.
    fn send_reply(&mut self, to: Peer, packet: &[u8]) {
        let sent = match to {
            Peer::Udp { client, local } => self.udp.send(packet, client, 0, local),
            Peer::Udp6 {
                client,
                local,
                ifindex,
            } => match &self.udp6 {
                Some(s) => s.send(packet, client, ifindex, local),
                None => return,
            },
            Peer::Tcp { id, .. } => {
                if let Some(tx) = self.tcp_waiting.remove(&id) {
                    let _ = tx.send(packet.to_vec());
                }
                return;
            }
        };
        match sent {
            Ok(()) => self.stats.udp_sent += 1,
            Err(_) => DnsError::UdpSend.count(&mut self.stats, 1),
        }
    }

    fn publish(&self) {
        // Nobody waits on this channel: the gauges read it at a scrape.
        self.snapshot.send_replace(Snapshot {
            cache: self.resolver.cache().stats(),
            resolver: self.resolver.stats(),
            forward: self.resolver.forwarder().stats(),
            driver: self.stats,
            tcp_open: (self.tcp_max - self.tcp_slots.available_permits()) as u64,
        });
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// One `log-queries` line (info, rate-limited as every per-packet log).
fn log_query(client: IpAddr, tcp: bool, query: &[u8], reply: &[u8], source: Source) {
    event_limited!(
        Info,
        "dns.query",
        "{}",
        QueryLine {
            client,
            tcp,
            query,
            reply,
            source,
        }
    );
}

fn bind_udp(port: u16) -> std::io::Result<PktinfoSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    // Bursts must queue, not drop: 1 MiB (the kernel caps it at rmem_max).
    let _ = s.set_recv_buffer_size(1 << 20);
    s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())?;
    PktinfoSocket::new(s)
}

/// Where a UDP query came from and where its reply goes.
struct Route<F: Family> {
    client: IpAddr,
    /// The address asked and the interface the query came in on (for
    /// [`Acl`]).
    dst: IpAddr,
    ifindex: u32,
    /// For the resolver (and a forwarded query's later reply).
    peer: Peer,
    /// For the batch: to, from, out of which interface (0 = routing).
    to: F::Peer,
    from: F::Ip,
    out_if: u32,
}

/// One family's UDP listener, as the fast path sees it.
trait Listener: Family + Sized {
    fn recv(t: &DnsTask, rb: &mut RecvBatchOf<Self>) -> std::io::Result<usize>;
    fn send(t: &DnsTask, sb: &mut SendBatchOf<Self>) -> usize;
    fn route(env: &Self::Envelope) -> Route<Self>;
}

impl Listener for V4 {
    fn recv(t: &DnsTask, rb: &mut RecvBatch) -> std::io::Result<usize> {
        t.udp.recv_batch(rb)
    }
    fn send(t: &DnsTask, sb: &mut SendBatch) -> usize {
        t.udp.send_batch(sb)
    }
    fn route(env: &Envelope) -> Route<V4> {
        // Replies leave from the address the client asked (the VIP in an
        // HA pair); a query to a broadcast address gets the kernel's
        // choice.
        let from = if env.dst.is_broadcast() || env.dst.is_multicast() {
            Ipv4Addr::UNSPECIFIED
        } else {
            env.dst
        };
        Route {
            client: (*env.src.ip()).into(),
            dst: env.dst.into(),
            ifindex: env.ifindex,
            peer: Peer::Udp {
                client: env.src,
                local: from,
            },
            to: env.src,
            from,
            out_if: 0,
        }
    }
}

impl Listener for V6 {
    fn recv(t: &DnsTask, rb: &mut RecvBatch6) -> std::io::Result<usize> {
        t.udp6.as_ref().map_or(Ok(0), |s| s.recv_batch(rb))
    }
    fn send(t: &DnsTask, sb: &mut SendBatch6) -> usize {
        match &t.udp6 {
            Some(s) => s.send_batch(sb),
            None => 0,
        }
    }
    fn route(env: &Envelope6) -> Route<V6> {
        let (from, out_if) = reply_from6(*env.src.ip(), env.dst, env.ifindex);
        Route {
            client: (*env.src.ip()).into(),
            dst: env.dst.into(),
            ifindex: env.ifindex,
            peer: Peer::Udp6 {
                client: env.src,
                local: from,
                ifindex: out_if,
            },
            to: env.src,
            from,
            out_if,
        }
    }
}

/// Where the reply to an IPv6 query from `src` to `dst` leaves from: the
/// address asked (a multicast destination leaves the choice to the
/// kernel), by the interface it came in on when either end is link-local
/// (RFC 4291 §2.5.6: a link-local address means nothing without its
/// link), else as routing decides (0).
fn reply_from6(src: Ipv6Addr, dst: Ipv6Addr, ifindex: u32) -> (Ipv6Addr, u32) {
    let local = if dst.is_multicast() {
        Ipv6Addr::UNSPECIFIED
    } else {
        dst
    };
    if is_link_local6(local) || is_link_local6(src) {
        (local, ifindex)
    } else {
        (local, 0)
    }
}

async fn readable6(s: Option<&Pktinfo6Socket>) -> std::io::Result<()> {
    match s {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

async fn accept6(l: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Whether a socket error means the host has no IPv6 at all.
fn ipv6_unavailable(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::EAFNOSUPPORT)
            | Some(nix::libc::EADDRNOTAVAIL)
            | Some(nix::libc::EPROTONOSUPPORT)
    )
}

/// The IPv6 UDP listener: `[::]:port`, IPV6_V6ONLY (RFC 3493 §5.3) so
/// IPv4 keeps its own socket, with IPV6_RECVPKTINFO.
fn bind_udp6(port: u16) -> std::io::Result<Pktinfo6Socket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    let _ = s.set_recv_buffer_size(1 << 20);
    s.bind(&SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0).into())?;
    Pktinfo6Socket::new(s)
}

fn bind_tcp6(port: u16) -> std::io::Result<TcpListener> {
    let s = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0).into())?;
    s.listen(64)?;
    TcpListener::from_std(s.into())
}

fn bind_tcp(port: u16) -> std::io::Result<TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())?;
    s.listen(64)?;
    TcpListener::from_std(s.into())
}

/// A UDP socket on a random source port (RFC 5452 §9.2), connected to the
/// upstream so the kernel drops datagrams from anyone else (the resolver
/// checks the source again).
fn upstream_socket(rng: &mut OsEntropy, to: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if to.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_nonblocking(true)?;
    let any: IpAddr = if to.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let mut bound = false;
    for _ in 0..16 {
        // 1024-65535, as dnsmasq's default min-port/max-port.
        let port = 1024 + (rng.next_u64() % (65_536 - 1024)) as u16;
        if s.bind(&SocketAddr::new(any, port).into()).is_ok() {
            bound = true;
            break;
        }
    }
    if !bound {
        // Every guess taken: let the kernel choose (still randomised).
        s.bind(&SocketAddr::new(any, 0).into())?;
    }
    s.connect(&to.into())?;
    UdpSocket::from_std(s.into())
}

async fn upstream_udp(sock: UdpSocket, token: Token, packet: Vec<u8>, tx: mpsc::Sender<UpEvent>) {
    if sock.send(&packet).await.is_err() {
        // Nothing sent: the forwarder's timer moves the query on.
        return;
    }
    let mut buf = vec![0u8; UDP_BUF];
    let deadline = tokio::time::Instant::now() + UPSTREAM_SOCKET_LIFE;
    loop {
        match tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await {
            Ok(Ok((n, from))) => {
                let ev = UpEvent::Udp {
                    token,
                    from,
                    data: buf[..n].to_vec(),
                };
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
            // ICMP port unreachable and the like: keep listening, the
            // forwarder's timer decides.
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(_) => return,
        }
    }
}

async fn upstream_tcp(token: Token, to: SocketAddr, packet: Vec<u8>, tx: mpsc::Sender<UpEvent>) {
    let r = timeout(UPSTREAM_TCP_LIFE, async {
        let mut s = TcpStream::connect(to).await.map_err(|_| ())?;
        let len = u16::try_from(packet.len()).map_err(|_| ())?;
        let mut msg = Vec::with_capacity(2 + packet.len());
        msg.extend_from_slice(&len.to_be_bytes());
        msg.extend_from_slice(&packet);
        s.write_all(&msg).await.map_err(|_| ())?;
        let n = s.read_u16().await.map_err(|_| ())? as usize;
        let mut body = vec![0u8; n];
        s.read_exact(&mut body).await.map_err(|_| ())?;
        Ok::<_, ()>(body)
    })
    .await
    .unwrap_or(Err(()));
    let _ = tx.send(UpEvent::Tcp { token, result: r }).await;
}

/// One client TCP connection (RFC 7766): length-prefixed queries, answered
/// in order; closed when idle, slow, or the client closes.
async fn serve_tcp(
    mut s: TcpStream,
    peer: SocketAddr,
    tx: mpsc::Sender<TcpQuery>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = s.set_nodelay(true);
    loop {
        let Ok(Ok(len)) = timeout(TCP_IDLE, s.read_u16()).await else {
            return;
        };
        let mut query = vec![0u8; len as usize];
        if !matches!(timeout(TCP_IO, s.read_exact(&mut query)).await, Ok(Ok(_))) {
            return;
        }
        let (rtx, rrx) = oneshot::channel();
        let q = TcpQuery {
            query,
            peer,
            reply: rtx,
        };
        if tx.send(q).await.is_err() {
            return;
        }
        // A dropped query (malformed) closes the connection:
        // the client cannot tell one unanswered query from another.
        let Ok(Ok(reply)) = timeout(TCP_ANSWER_WAIT, rrx).await else {
            return;
        };
        let Ok(n) = u16::try_from(reply.len()) else {
            return;
        };
        let mut msg = Vec::with_capacity(2 + reply.len());
        msg.extend_from_slice(&n.to_be_bytes());
        msg.extend_from_slice(&reply);
        if !matches!(timeout(TCP_IO, s.write_all(&msg)).await, Ok(Ok(()))) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_entropy_is_not_constant_across_refills() {
        let mut e = OsEntropy::new();
        let v: Vec<u64> = (0..200).map(|_| e.next_u64()).collect();
        let mut distinct = v.clone();
        distinct.sort_unstable();
        distinct.dedup();
        // 200 draws span three refills; a broken refill repeats or zeroes.
        assert_eq!(distinct.len(), v.len());
        assert!(!v.contains(&0));
    }
}
