//! The pair link's driver: the TCP connection, reconnects with backoff,
//! and the channels to the DHCP task (design §1, §9). The decisions are
//! in [`super::link`] and [`super::stream`]; this file only moves bytes
//! and messages.
//!
//! * One connection between the boxes' own addresses, never the VIP: the
//!   box with the lower address connects, the other accepts, and only
//!   from the configured peer (anything else is refused and counted).
//! * The DHCP task hands over its committed changes on an unbounded
//!   channel that this task drains at once into the bounded ring of the
//!   [`Outbox`], so a slow or dead peer never holds up DHCP; past the
//!   ring, the peer gets a full transfer when it comes back.
//! * Peer changes go to the DHCP task, which owns the lease store; each
//!   batch is acknowledged to the peer only once the DHCP task reports it
//!   durably stored.

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

use super::PeerState;
use super::auth::{End, NONCE_LEN, Psk};
use super::link::{Close, Event, Link, Timers};
use super::neigh_sync::{KIND_NEIGH, NeighSync};
use super::replica::{Event as ReplicaEvent, Replica, SKEW_WARN_S};
use super::stream::Position;
use crate::clock::{Mono, UnixTime};
use crate::dhcp::binding::Lease;
use crate::dhcp::leases::Change;
use crate::dhcp::peer::{LinkEnds, PeerBatch, PeerStored};
use crate::stats::Counter;
use crate::task::{Shutdown, TaskError};
use crate::{event, event_limited};

/// Bytes queued on the link past which no more changes are pulled.
const HIGH_WATER: usize = 256 * 1024;
/// Reconnect backoff: from this, doubling, to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// `ha.state` is rewritten at most this often while peer changes arrive.
const STATE_SAVE: Duration = Duration::from_secs(1);

/// Settings of the link.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This box's own address (never the VIP).
    pub me: Ipv4Addr,
    pub peer: Ipv4Addr,
    pub port: u16,
    pub psk: Psk,
    pub timers: Timers,
    /// This start's epoch of our outgoing stream ([`super::state`]).
    pub epoch: u64,
    /// Where this box stood in the peer's stream when it last stored a
    /// peer change.
    pub seen: Position,
    /// Where `ha.state` is kept (none in tests).
    pub state_dir: Option<std::path::PathBuf>,
}

/// The DHCP task's ends, and the link's state for VRRP and status.
pub struct Channels {
    pub dhcp: LinkEnds,
    /// What the link knows, for VRRP (sync-aware preemption) and status.
    pub state: watch::Sender<PeerState>,
    /// `ipv6-names`: the neighbours this box learnt, and the peer's.
    pub neigh: Option<NeighLink>,
}

/// The `neigh` task's ends of the pair link ([`super::neigh_sync`]).
pub struct NeighLink {
    /// This box's own neighbour table (never the peer's: no echo).
    pub own: watch::Receiver<Arc<crate::neigh::Neighbours>>,
    /// What the peer's kernel learnt, for the `neigh` task to merge.
    pub peer: watch::Sender<Arc<crate::neigh::Neighbours>>,
}

struct Counters {
    frames_in: Counter,
    frames_out: Counter,
    bytes_in: Counter,
    bytes_out: Counter,
    auth_failures: Counter,
    refused: Counter,
    connects: Counter,
    conflicts: Counter,
    protocol_errors: Counter,
}

impl Counters {
    fn register() -> Counters {
        let r = crate::stats::global();
        Counters {
            frames_in: r.counter(
                "hamasq_ha_frames_received_total",
                "Pair link frames received.",
            ),
            frames_out: r.counter("hamasq_ha_frames_sent_total", "Pair link frames sent."),
            bytes_in: r.counter(
                "hamasq_ha_bytes_received_total",
                "Pair link bytes received (authenticated or not).",
            ),
            bytes_out: r.counter("hamasq_ha_bytes_sent_total", "Pair link bytes sent."),
            auth_failures: r.counter(
                "hamasq_ha_auth_failures_total",
                "Pair link connections closed for a wrong key or a bad frame tag.",
            ),
            refused: r.counter(
                "hamasq_ha_connections_refused_total",
                "Pair link connections refused: not from the configured peer.",
            ),
            connects: r.counter(
                "hamasq_ha_connections_total",
                "Pair link connections authenticated.",
            ),
            protocol_errors: r.counter(
                "hamasq_ha_protocol_errors_total",
                "Pair link connections closed for junk, another version or a malformed frame, and authenticated frame bodies refused as malformed.",
            ),
            conflicts: r.counter(
                "hamasq_ha_conflicts_total",
                "Addresses both boxes had given to different clients (resolved per address).",
            ),
        }
    }
}

/// The pair link task.
pub struct HaTask {
    s: Settings,
    listener: Option<TcpListener>,
    replica: Replica,
    /// The IPv6 neighbours exchanged with the peer (soft state).
    neigh: NeighSync,
    counters: Counters,
    /// When `ha.state` is due to be written: `seen` moved since.
    save_at: Option<tokio::time::Instant>,
    /// A new connection from the peer that arrived while a link was up
    /// (the peer restarted, or lost the old link first): served next.
    parked: Option<TcpStream>,
}

impl HaTask {
    /// Binds the listening socket when this box accepts (the higher
    /// address), before privileges are dropped.
    pub async fn open(s: Settings) -> Result<HaTask, String> {
        let listener = if s.me > s.peer {
            let at = SocketAddr::V4(SocketAddrV4::new(s.me, s.port));
            Some(
                TcpListener::bind(at)
                    .await
                    .map_err(|e| format!("[ha] cannot listen on {at}: {e}"))?,
            )
        } else {
            None
        };
        Ok(HaTask {
            replica: Replica::new(s.epoch, s.seen),
            neigh: NeighSync::default(),
            s,
            listener,
            counters: Counters::register(),
            save_at: None,
            parked: None,
        })
    }

    pub async fn run(mut self, mut ch: Channels, mut sd: Shutdown) -> Result<(), TaskError> {
        let mut backoff = BACKOFF_MIN;
        loop {
            let conn = match self.parked.take() {
                Some(s) => Ok(s),
                None => tokio::select! {
                    _ = sd.wait() => break,
                    c = self.connect() => c,
                    batch = ch.dhcp.committed.recv() => {
                        match batch {
                            Some(b) => self.committed(&b),
                            None => break,
                        }
                        continue;
                    }
                },
            };
            let stream = match conn {
                Ok(s) => s,
                Err(e) => {
                    event_limited!(Info, "ha.connect_failed", "peer={} error={e}", self.s.peer);
                    self.wait(&mut ch, &mut sd, backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            let why = self.serve(stream, &mut ch, &mut sd).await;
            self.replica.disconnected();
            self.neigh.disconnected();
            ch.dhcp.synced.send_replace(false);
            ch.state.send_modify(|st| {
                if st.connected {
                    st.since = UnixTime::now().0;
                }
                st.connected = false;
                // Whatever the peer does from now on, we do not see:
                // caught up no longer holds (status says so, and VRRP's
                // hold on preemption starts from "behind" again).
                st.caught_up = false;
                st.last_close = Some(why.as_str());
            });
            self.save_state();
            if sd.is_set() {
                break;
            }
            if why.is_protocol_error() {
                self.counters.protocol_errors.inc();
            }
            if why.is_auth_failure() {
                self.counters.auth_failures.inc();
                event!(
                    Warn,
                    "ha.auth_failed",
                    "peer={} reason={}",
                    self.s.peer,
                    why.as_str()
                );
            } else {
                event!(
                    Info,
                    "ha.disconnected",
                    "peer={} reason={}",
                    self.s.peer,
                    why.as_str()
                );
            }
            // A parked connection from the peer is served at once.
            if self.parked.is_none() {
                self.wait(&mut ch, &mut sd, backoff).await;
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
            if why == Close::PeerClosed || why == Close::Silent {
                backoff = BACKOFF_MIN;
            }
        }
        self.save_state();
        Ok(())
    }

    /// Keeps taking committed changes while waiting to reconnect.
    async fn wait(&mut self, ch: &mut Channels, sd: &mut Shutdown, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        loop {
            tokio::select! {
                _ = sd.wait() => return,
                _ = tokio::time::sleep_until(until) => return,
                b = ch.dhcp.committed.recv() => match b {
                    Some(b) => self.committed(&b),
                    None => return,
                },
            }
        }
    }

    async fn connect(&mut self) -> io::Result<TcpStream> {
        match &self.listener {
            None => {
                let to = SocketAddr::V4(SocketAddrV4::new(self.s.peer, self.s.port));
                let sock = tokio::net::TcpSocket::new_v4()?;
                sock.bind(SocketAddr::V4(SocketAddrV4::new(self.s.me, 0)))?;
                tokio::time::timeout(Duration::from_secs(3), sock.connect(to))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
            }
            Some(l) => loop {
                let (s, from) = l.accept().await?;
                if from.ip() == std::net::IpAddr::V4(self.s.peer) {
                    return Ok(s);
                }
                self.refuse(from);
            },
        }
    }

    /// A connection not from the configured peer: closed before a byte is
    /// read, counted and logged (the stranger's doing, or a misconfigured
    /// `pair`).
    fn refuse(&self, from: SocketAddr) {
        self.counters.refused.inc();
        event_limited!(
            Warn,
            "ha.connection_refused",
            "from={from} expected={} reason=not_the_configured_peer",
            self.s.peer
        );
    }

    /// One connection, until it closes: bytes in and out of the
    /// [`Link`], frames in and out of the [`Replica`], the peer's changes
    /// to the DHCP task and its results back.
    async fn serve(&mut self, stream: TcpStream, ch: &mut Channels, sd: &mut Shutdown) -> Close {
        let _ = stream.set_nodelay(true);
        let end = if self.listener.is_some() {
            End::Acceptor
        } else {
            End::Connector
        };
        let mut nonce = [0u8; NONCE_LEN];
        if getrandom::fill(&mut nonce).is_err() {
            return Close::Silent;
        }
        let mut link = Link::new(
            end,
            self.s.psk.clone(),
            nonce,
            self.s.me,
            self.s.timers,
            Mono::now(),
        );
        let mut out: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        // The DHCP task's answers for the batches handed to it, in order.
        // With debug logging, each batch's addresses for `ha.peer_stored`.
        let mut storing: VecDeque<(oneshot::Receiver<PeerStored>, Option<String>)> =
            VecDeque::new();
        let mut snapshot: Option<oneshot::Receiver<Vec<Lease>>> = None;
        let mut up = false;
        loop {
            while let Some(f) = link.poll_event() {
                match f {
                    Event::Closed(why) => {
                        // What the link still queued (our proof, after a
                        // wrong key, so the peer can say so too) goes out
                        // first, briefly.
                        while let Some(b) = link.poll_transmit() {
                            out.extend_from_slice(&b);
                        }
                        if !out.is_empty() {
                            use tokio::io::AsyncWriteExt;
                            let mut stream = stream;
                            let _ = tokio::time::timeout(
                                Duration::from_millis(500),
                                stream.write_all(&out),
                            )
                            .await;
                        }
                        return why;
                    }
                    Event::Up { peer } => {
                        up = true;
                        self.counters.connects.inc();
                        event!(
                            Info,
                            "ha.connected",
                            "peer={peer} epoch={:016x}",
                            self.s.epoch
                        );
                        self.replica.connected(UnixTime::now());
                        if let Some(n) = &mut ch.neigh {
                            self.neigh.set_ours(n.own.borrow_and_update().clone());
                        }
                        self.neigh.connected();
                        ch.state.send_modify(|st| {
                            st.connected = true;
                            st.caught_up = false;
                            st.since = UnixTime::now().0;
                        });
                    }
                    Event::Frame { kind, body } if kind == KIND_NEIGH => {
                        self.counters.frames_in.inc();
                        if let Err(why) = self.neigh.handle_frame(&body) {
                            self.counters.protocol_errors.inc();
                            event_limited!(
                                Warn,
                                "ha.bad_frame",
                                "peer={} reason={}",
                                self.s.peer,
                                why.0
                            );
                        }
                    }
                    Event::Frame { kind, body } => {
                        self.counters.frames_in.inc();
                        self.replica.handle_frame(kind, &body, UnixTime::now());
                    }
                }
            }
            if let Some(t) = self.neigh.poll_theirs()
                && let Some(n) = &ch.neigh
            {
                n.peer.send_replace(t);
            }
            if let Err(why) = self.events(ch) {
                return why;
            }
            if self.replica.poll_snapshot() {
                let (tx, rx) = oneshot::channel();
                if ch.dhcp.snapshot.send(tx).await.is_ok() {
                    snapshot = Some(rx);
                }
            }
            while let Some(changes) = self.replica.poll_store() {
                let what = crate::log::enabled(crate::log::Level::Debug)
                    .then(|| format!("changes={} addrs={}", changes.len(), addrs(&changes)));
                let (tx, rx) = oneshot::channel();
                // Bounded: a DHCP task busy with its disk slows the
                // peer's stream down (TCP backpressure), never DHCP.
                if ch
                    .dhcp
                    .apply
                    .send(PeerBatch { changes, done: tx })
                    .await
                    .is_err()
                {
                    return Close::Stopping;
                }
                storing.push_back((rx, what));
            }
            if up {
                let now = Mono::now();
                while link.queued() < HIGH_WATER {
                    let Some((k, b)) = self.replica.poll_frame(UnixTime::now()) else {
                        break;
                    };
                    link.send(now, k, &b);
                    self.counters.frames_out.inc();
                }
                while link.queued() < HIGH_WATER {
                    let Some((k, b)) = self.neigh.poll_frame() else {
                        break;
                    };
                    link.send(now, k, &b);
                    self.counters.frames_out.inc();
                }
                let lag = self.replica.lag();
                ch.state
                    .send_if_modified(|st| std::mem::replace(&mut st.lag, lag) != lag);
            }
            while let Some(b) = link.poll_transmit() {
                out.extend_from_slice(&b);
            }
            if self.replica.take_seen_changed() && self.save_at.is_none() {
                self.save_at = Some(tokio::time::Instant::now() + STATE_SAVE);
            }
            let deadline = link
                .poll_timeout()
                .map(|m| tokio::time::Instant::from_std(m.to_instant()));
            tokio::select! {
                _ = sd.wait() => return Close::Stopping,
                r = stream.readable() => {
                    if r.is_err() { link.handle_eof(); continue; }
                    match stream.try_read(&mut buf) {
                        Ok(0) => link.handle_eof(),
                        Ok(n) => {
                            self.counters.bytes_in.add(n as u64);
                            link.handle_input(Mono::now(), &buf[..n]);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => link.handle_eof(),
                    }
                }
                r = stream.writable(), if !out.is_empty() => {
                    if r.is_err() { link.handle_eof(); continue; }
                    match stream.try_write(&out) {
                        Ok(n) => {
                            self.counters.bytes_out.add(n as u64);
                            out.drain(..n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => link.handle_eof(),
                    }
                }
                _ = sleep_until_opt(deadline) => link.handle_timeout(Mono::now()),
                // The listener keeps answering while a link is up: a
                // stranger is refused at once (not left in the backlog
                // until this link ends), and a new connection from the
                // peer means it holds this one dead: it is served next.
                r = accept(self.listener.as_ref()) => match r {
                    Ok((s, from)) if from.ip() == std::net::IpAddr::V4(self.s.peer) => {
                        self.parked = Some(s);
                        return Close::PeerClosed;
                    }
                    Ok((_, from)) => self.refuse(from),
                    Err(_) => {}
                },
                b = ch.dhcp.committed.recv() => match b {
                    Some(b) => self.committed(&b),
                    None => return Close::Stopping,
                },
                Some(n) = crate::neigh::changed(ch.neigh.as_mut().map(|n| &mut n.own)) => {
                    self.neigh.set_ours(n)
                }
                r = front(&mut storing) => {
                    if let Some((_, Some(what))) = storing.pop_front().filter(|_| r.ok) {
                        event!(Debug, "ha.peer_stored", "wall_us={} {what}", wall_us());
                    }
                    self.conflicts(&ch.state, &r);
                    self.replica.stored(r.ok);
                }
                s = async { snapshot.as_mut().expect("guarded").await }, if snapshot.is_some() => {
                    snapshot = None;
                    self.replica.snapshot(s.unwrap_or_default());
                }
                _ = sleep_until_opt(self.save_at) => self.save_state(),
            }
        }
    }

    /// Logs what the replica reports and publishes it; a store failure
    /// ends the connection.
    fn events(&mut self, ch: &mut Channels) -> Result<(), Close> {
        while let Some(e) = self.replica.poll_event() {
            match e {
                ReplicaEvent::Resumed { skew_s, full } => {
                    if skew_s.abs() > SKEW_WARN_S {
                        event!(
                            Warn,
                            "ha.clock_skew",
                            "peer={} skew_s={skew_s}",
                            self.s.peer
                        );
                    }
                    event!(
                        Info,
                        "ha.resumed",
                        "peer={} sending={}",
                        self.s.peer,
                        if full {
                            "full_transfer"
                        } else {
                            "from_last_ack"
                        }
                    );
                    ch.state.send_modify(|st| st.skew_s = skew_s);
                }
                ReplicaEvent::FullTransferStart { count } => event!(
                    Info,
                    "ha.full_transfer_start",
                    "peer={} leases={count}",
                    self.s.peer
                ),
                ReplicaEvent::FullTransferSent { count } => event!(
                    Info,
                    "ha.full_transfer_sent",
                    "peer={} leases={count}",
                    self.s.peer
                ),
                ReplicaEvent::CaughtUp { at } => {
                    ch.state.send_modify(|st| st.caught_up = true);
                    ch.dhcp.synced.send_replace(true);
                    self.save_state();
                    event!(Info, "ha.caught_up", "peer={} at={}", self.s.peer, at.seq);
                }
                ReplicaEvent::Overrun => event!(
                    Warn,
                    "ha.peer_overrun",
                    "peer={} note=\"the peer fell behind the ring of recent changes: sending everything\"",
                    self.s.peer
                ),
                ReplicaEvent::Malformed(why) => {
                    self.counters.protocol_errors.inc();
                    event_limited!(Warn, "ha.bad_frame", "peer={} reason={why}", self.s.peer);
                }
                // The DHCP task could not store it: no ACK; the peer sends
                // it again on the next connection.
                ReplicaEvent::StoreFailed => return Err(Close::StoreFailed),
            }
        }
        Ok(())
    }

    /// This box's committed changes, for the peer (with `log-level =
    /// debug`, one line per batch with a microsecond wall clock and the
    /// addresses: `contrib/bench/harepl.sh` measures the link's lag from
    /// these and the peer's `ha.peer_stored`).
    fn committed(&mut self, batch: &[Change]) {
        event!(
            Debug,
            "ha.committed",
            "wall_us={} changes={} addrs={}",
            wall_us(),
            batch.len(),
            addrs(batch)
        );
        self.replica.committed(batch);
    }

    /// Counts and reports the conflicts a stored batch resolved.
    fn conflicts(&self, state: &watch::Sender<PeerState>, stored: &PeerStored) {
        let Some(last) = stored.conflicts.last() else {
            return;
        };
        self.counters.conflicts.add(stored.conflicts.len() as u64);
        let text = format!("{} kept={} refused={}", last.ip, last.kept, last.lost);
        state.send_modify(|st| {
            st.conflicts += stored.conflicts.len() as u64;
            st.last_conflict = Some(text);
        });
    }

    /// Where we stand in the peer's stream, for the next start (a lost
    /// or stale file only costs a resend: see [`super::state`]).
    fn save_state(&mut self) {
        self.save_at = None;
        let Some(dir) = &self.s.state_dir else {
            return;
        };
        let st = super::state::State {
            epoch: self.s.epoch,
            seen: self.replica.seen(),
        };
        if let Err(e) = super::state::save(dir, &st) {
            event_limited!(
                Warn,
                "ha.state_save_failed",
                "dir={} error={e}",
                dir.display()
            );
        }
    }
}

/// The DHCP task's answer for the oldest batch (pending forever when
/// none; a dropped answer counts as not stored).
async fn front(p: &mut VecDeque<(oneshot::Receiver<PeerStored>, Option<String>)>) -> PeerStored {
    match p.front_mut() {
        Some((rx, _)) => rx.await.unwrap_or_default(),
        None => std::future::pending().await,
    }
}

/// The next connection on the listener (pending forever without one).
async fn accept(l: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// The addresses of `changes`, comma-separated, for debug lines.
fn addrs(changes: &[Change]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(changes.len() * 16);
    for c in changes {
        let ip = match c {
            Change::Upsert(l) => l.ip,
            Change::Remove(ip) => *ip,
        };
        if !s.is_empty() {
            s.push(',');
        }
        let _ = write!(s, "{ip}");
    }
    s
}

/// Wall-clock time in microseconds since the Unix epoch: both boxes of a
/// lab on one machine share the clock, so their lines compare directly
/// (the log's own timestamps have milliseconds only).
fn wall_us() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::binding::HwAddr;
    use crate::neigh::Neighbours;
    use crate::task::Supervisor;

    fn free_port(ip: Ipv4Addr) -> u16 {
        std::net::TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn lease(i: u8) -> Lease {
        Lease {
            ip: Ipv4Addr::new(192, 168, 1, i),
            hw: HwAddr::ether([2, 0, 0, 0, 0, i]),
            client_id: None,
            hostname: Some(format!("host-{i}")),
            expires: UnixTime(UnixTime::now().0 + 3600),
        }
    }

    /// One box's link task with a fake DHCP task: it stores every peer
    /// change in `stored` and answers snapshots with `table`.
    struct Box {
        committed: tokio::sync::mpsc::UnboundedSender<Vec<Change>>,
        state: watch::Receiver<PeerState>,
        stored: std::sync::Arc<std::sync::Mutex<Vec<Change>>>,
        /// This box's own neighbours, and what it got of the peer's.
        neigh_own: watch::Sender<Arc<Neighbours>>,
        neigh_peer: watch::Receiver<Arc<Neighbours>>,
    }

    async fn start(
        tasks: &mut Supervisor,
        name: &'static str,
        me: Ipv4Addr,
        peer: Ipv4Addr,
        port: u16,
        key: u8,
        table: Vec<Lease>,
    ) -> Box {
        let s = Settings {
            me,
            peer,
            port,
            psk: Psk::from_hex(&format!("{key:02x}").repeat(32)).unwrap(),
            timers: Timers::default(),
            epoch: u64::from(u32::from(me)),
            seen: Position::default(),
            state_dir: None,
        };
        let task = HaTask::open(s).await.unwrap();
        let (mut dhcp, link) = crate::dhcp::peer::channel();
        let (state, state_rx) = watch::channel(PeerState::default());
        let stored = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let st = stored.clone();
        let committed = dhcp.committed.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    a = dhcp.apply.recv() => {
                        let Some(a) = a else { return };
                        st.lock().unwrap().extend(a.changes);
                        let _ = a.done.send(PeerStored { ok: true, conflicts: Vec::new() });
                    }
                    s = dhcp.snapshot.recv() => {
                        let Some(s) = s else { return };
                        let _ = s.send(table.clone());
                    }
                }
            }
        });
        let neigh_own = watch::Sender::new(Arc::default());
        let (peer_tx, neigh_peer) = watch::channel(Arc::default());
        let ch = Channels {
            dhcp: link,
            state,
            neigh: Some(NeighLink {
                own: neigh_own.subscribe(),
                peer: peer_tx,
            }),
        };
        tasks.spawn(name, crate::task::Stage::Leases, move |sd| task.run(ch, sd));
        Box {
            committed,
            state: state_rx,
            stored,
            neigh_own,
            neigh_peer,
        }
    }

    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        let t0 = std::time::Instant::now();
        while !f() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "waited 10 s for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[test]
    fn addrs_lists_every_change_in_order() {
        let v = [
            Change::Upsert(lease(7)),
            Change::Remove(Ipv4Addr::new(10, 0, 0, 1)),
            Change::Upsert(lease(3)),
        ];
        assert_eq!(addrs(&v), "192.168.1.7,10.0.0.1,192.168.1.3");
        assert_eq!(addrs(&[]), "");
    }

    const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

    /// The IPv6 neighbours one box learnt reach the other over the real
    /// link (design §10): known before the link comes up, changed while
    /// it is up, and gone when they go.
    #[tokio::test]
    async fn neighbours_cross_the_link_and_leave_with_them() {
        let port = free_port(B);
        let mut tasks = Supervisor::default();
        let mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
        let g: std::net::Ipv6Addr = "2001:db8::10".parse().unwrap();
        let tmp: std::net::Ipv6Addr = "2001:db8::8d1:2f3c:a01:77e4".parse().unwrap();
        let a = start(&mut tasks, "ha-a", A, B, port, 7, vec![]).await;
        a.neigh_own
            .send_replace(Arc::new(Neighbours::new([(mac, g)])));
        let b = start(&mut tasks, "ha-b", B, A, port, 7, vec![]).await;
        let peer = b.neigh_peer.clone();
        until("A's neighbour at B", || peer.borrow().addrs(&mac) == [g]).await;
        a.neigh_own
            .send_replace(Arc::new(Neighbours::new([(mac, g), (mac, tmp)])));
        until("a privacy address at B", || {
            peer.borrow().addrs(&mac) == [g, tmp]
        })
        .await;
        a.neigh_own
            .send_replace(Arc::new(Neighbours::new([(mac, tmp)])));
        until("one address gone at B", || {
            peer.borrow().addrs(&mac) == [tmp]
        })
        .await;
        a.neigh_own.send_replace(Arc::default());
        until("all gone at B", || peer.borrow().is_empty()).await;
        // B's own (none) never came back to A as A's.
        assert!(a.neigh_peer.borrow().is_empty());
        tasks.shutdown(Duration::from_secs(2)).await;
    }

    #[tokio::test]
    async fn changes_cross_the_link_and_a_new_peer_gets_everything() {
        let port = free_port(B);
        let mut tasks = Supervisor::default();
        // A already holds two leases; B starts empty (a lost store).
        let a = start(&mut tasks, "ha-a", A, B, port, 7, vec![lease(1), lease(2)]).await;
        let b = start(&mut tasks, "ha-b", B, A, port, 7, vec![lease(9)]).await;
        until("both caught up", || {
            b.state.borrow().caught_up && a.state.borrow().caught_up
        })
        .await;
        // The full transfers: B has A's table, A has B's.
        let got = |x: &Box| {
            let mut v: Vec<_> = x
                .stored
                .lock()
                .unwrap()
                .iter()
                .map(|c| match c {
                    Change::Upsert(l) => l.ip,
                    Change::Remove(ip) => *ip,
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(got(&b), vec![lease(1).ip, lease(2).ip]);
        assert_eq!(got(&a), vec![lease(9).ip]);
        // Then A's new commits, in order, with their names.
        a.committed
            .send(vec![Change::Upsert(lease(3)), Change::Remove(lease(1).ip)])
            .unwrap();
        until("B stored A's changes", || {
            b.stored.lock().unwrap().len() == 4
        })
        .await;
        let s = b.stored.lock().unwrap().clone();
        assert!(matches!(&s[2], Change::Upsert(l) if l.hostname.as_deref() == Some("host-3")));
        assert_eq!(s[3], Change::Remove(lease(1).ip));
        until("A's lag back to 0", || a.state.borrow().lag == 0).await;
        assert!(a.state.borrow().connected && b.state.borrow().connected);
        let ended = tasks.shutdown(Duration::from_secs(2)).await;
        assert!(
            ended.iter().all(|(_, e)| *e == crate::task::TaskEnd::Ok),
            "{ended:?}"
        );
    }

    #[tokio::test]
    async fn a_peer_with_another_key_gets_nothing() {
        let port = free_port(B);
        let mut tasks = Supervisor::default();
        let a = start(&mut tasks, "ha-a", A, B, port, 7, vec![lease(1)]).await;
        let b = start(&mut tasks, "ha-b", B, A, port, 8, vec![]).await;
        a.committed.send(vec![Change::Upsert(lease(3))]).unwrap();
        until("both refused the key", || {
            a.state.borrow().last_close == Some("wrong_key")
                && b.state.borrow().last_close == Some("wrong_key")
        })
        .await;
        assert!(b.stored.lock().unwrap().is_empty());
        assert!(!b.state.borrow().connected);
        tasks.shutdown(Duration::from_secs(2)).await;
    }

    #[tokio::test]
    async fn only_the_configured_peer_may_connect() {
        let port = free_port(B);
        let mut tasks = Supervisor::default();
        // B accepts from A only; a stranger at 127.0.0.9 with the right
        // key is refused before any byte is read.
        let b = start(&mut tasks, "ha-b", B, A, port, 7, vec![lease(1)]).await;
        let stranger = start(
            &mut tasks,
            "ha-x",
            Ipv4Addr::new(127, 0, 0, 1),
            B,
            port,
            7,
            vec![],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(stranger.stored.lock().unwrap().is_empty());
        assert!(!b.state.borrow().connected);
        assert!(!stranger.state.borrow().caught_up);
        tasks.shutdown(Duration::from_secs(2)).await;
    }

    #[tokio::test]
    async fn a_lost_link_is_no_longer_caught_up() {
        let port = free_port(B);
        let (mut ta, mut tb) = (Supervisor::default(), Supervisor::default());
        let a = start(&mut ta, "ha-a", A, B, port, 7, vec![lease(1)]).await;
        let b = start(&mut tb, "ha-b", B, A, port, 7, vec![]).await;
        until("both caught up", || {
            a.state.borrow().caught_up && b.state.borrow().caught_up
        })
        .await;
        // A goes away: B no longer claims to be caught up with it.
        ta.shutdown(Duration::from_secs(2)).await;
        until("B saw the link go", || !b.state.borrow().connected).await;
        let st = b.state.borrow().clone();
        assert!(!st.caught_up, "{st:?}");
        assert_eq!(st.last_close, Some("peer_closed"));
        tb.shutdown(Duration::from_secs(2)).await;
    }

    #[tokio::test]
    async fn while_the_link_is_up_a_stranger_is_refused_at_once_and_the_peer_reconnects_at_once() {
        use tokio::io::AsyncReadExt;
        let port = free_port(B);
        let mut tasks = Supervisor::default();
        let a = start(&mut tasks, "ha-a", A, B, port, 7, vec![lease(1)]).await;
        let b = start(&mut tasks, "ha-b", B, A, port, 7, vec![]).await;
        until("both caught up", || {
            a.state.borrow().caught_up && b.state.borrow().caught_up
        })
        .await;
        let dial = |from: Ipv4Addr| async move {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind(SocketAddr::from((from, 0))).unwrap();
            sock.connect(SocketAddr::from((B, port))).await.unwrap()
        };
        let mut buf = [0u8; 64];
        // A stranger: closed before a byte, not left in the backlog until
        // the link ends; the link stays up.
        let mut s = dial(Ipv4Addr::new(127, 0, 0, 9)).await;
        let r = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("the stranger waits in the backlog");
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        assert!(b.state.borrow().connected);
        // The peer's address connects anew (as after a restart): B serves
        // the new connection at once, its HELLO first.
        let mut s = dial(A).await;
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("the peer's new connection waits in the backlog")
            .unwrap();
        assert!(
            n >= 9 && buf[4] == 1 && &buf[5..9] == b"HQHA",
            "{:?}",
            &buf[..n]
        );
        tasks.shutdown(Duration::from_secs(2)).await;
    }
}
