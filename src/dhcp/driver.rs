//! The DHCP task: the only owner of the bindings and the lease store.
//!
//! I/O around sans-IO cores (design §3): it drains a batch of datagrams
//! ([`super::adapt`] turns bytes into requests and replies into bytes),
//! lets the [`Server`] decide on each, and hands the lease changes to
//! [`Commit`] (design §5, group commit), which says when to write; the
//! task runs the write and fdatasync on the blocking pool and feeds the
//! result back, and only then sends the replies it releases. If the write
//! fails no reply that carried a change is sent and the bindings are
//! rolled back, so no ACK ever leaves for a lease that is not on disk and
//! memory holds what the disk holds. The task sleeps until the earliest of
//! the cores' `poll_timeout()`s. After each committed change the host
//! table is published to DNS, and with `[ha]` this box's own changes go to
//! the pair link while the peer's are merged ([`Server::apply_peer`]) and
//! committed like ours. Opening the task is [`super::open`]; its counters
//! and log lines are [`super::counters`] and [`super::logline`].

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::adapt::{encode_answer, to_req};
use super::bindings::packed::PackedLease;
use super::commit::{Commit, Written};
use super::counters::{Counters, count_sent};
use super::error::DhcpError;
use super::host_table::HostTable;
use super::lease_hook::{Context, Note};
use super::leases::{Change, LeaseStore};
pub use super::open::Links;
use super::peer::{PeerBatch, PeerEnds, PeerStored};
use super::ping::{PROBE_WAIT, Pinger};
use super::server::{
    Answer, Destination, MsgType, Now, Outcome, PeerConflict, Plan, Req, Server, Silence,
};
use super::socket::{CLIENT_PORT, DhcpSocket, SERVER_PORT, ifname};
use super::wire::Packet;
use crate::clock::{Mono, UnixTime};
use crate::log;
use crate::task::{Shutdown, TaskError};
use crate::vrrp::Role;
use crate::{event, event_limited};

/// At most this many datagrams per batch.
pub const BATCH: usize = super::commit::FULL;

/// Everything the task owns.
pub struct DhcpTask {
    pub socket: DhcpSocket,
    pub server: Server,
    /// `None` while a commit runs on the blocking pool.
    pub store: Option<LeaseStore>,
    pub hosts: watch::Sender<Arc<HostTable>>,
    /// Each `[vrrp]` instance's role, by index (none without VRRP).
    pub roles: Vec<watch::Receiver<Role>>,
    pub plans: watch::Receiver<Option<Arc<Plan>>>,
    pub log_dhcp: bool,
    /// `quiet-dhcp`: no [`DhcpTask::log_message`] lines.
    pub quiet_dhcp: bool,
    pub counters: Counters,
    /// `dhcp-ping`: the probe socket, and the OFFERs waiting on it.
    pub pinger: Option<Pinger>,
    pub probing: HashMap<Ipv4Addr, Probe>,
    pub commit: Pipeline,
    /// Requests from the control socket (`hamasq leases`, `status`).
    pub control: Option<tokio::sync::mpsc::Receiver<super::report::Query>>,
    /// `dhcp-script`: committed changes go to the hook task.
    pub hook: Option<tokio::sync::mpsc::UnboundedSender<Note>>,
    /// Address counts per pool for the metrics endpoint, refreshed
    /// once a second.
    pub counts: watch::Sender<Arc<Vec<super::report::PoolCount>>>,
    /// `[ha]`: the pair link's ends (design §9).
    pub peer: Option<PeerEnds>,
    /// `ipv6-names`: the neighbour table (design §10).
    pub neigh: Option<watch::Receiver<Arc<crate::neigh::Neighbours>>>,
}

/// The write in flight on the blocking pool (design §5): the store comes
/// back with the result.
type Writing = tokio::task::JoinHandle<(LeaseStore, std::io::Result<()>)>;

/// What a durable write releases.
pub enum Release {
    /// A reply to a client.
    Reply(Answer),
    /// A batch of the peer's changes is stored: tell the pair link, with
    /// the conflicts it resolved.
    Peer(tokio::sync::oneshot::Sender<PeerStored>, Vec<PeerConflict>),
    /// `hamasq leases --delete`: the answer, once the removal is on disk.
    Control(tokio::sync::oneshot::Sender<String>, String),
}

/// Group commit: the sans-IO rules ([`Commit`]) and the write they started.
#[derive(Default)]
pub struct Pipeline {
    /// What is staged, in flight, released.
    core: Commit<Release>,
    /// The write in flight, and whether it also compacts.
    writing: Option<Writing>,
    compacting: bool,
    /// Requests were handled since the last trim (see [`DhcpTask::run`]).
    busy: bool,
}

impl Pipeline {
    /// With a pair link, this box's own changes are handed to it once
    /// durable ([`Commit::set_replicate`]).
    pub fn new(replicate: bool) -> Pipeline {
        let mut core = Commit::default();
        core.set_replicate(replicate);
        Pipeline {
            core,
            ..Default::default()
        }
    }
}

/// An OFFER held while its address is probed.
pub struct Probe {
    req: Req,
    answer: Answer,
    until: Mono,
    tries: u8,
}

/// Probes per request before giving up on finding a free address.
const MAX_PROBES: u8 = 3;

async fn recv_query(
    rx: &mut Option<tokio::sync::mpsc::Receiver<super::report::Query>>,
) -> Option<super::report::Query> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// What the pair link asks of the DHCP task.
enum PeerIn {
    Batch(PeerBatch),
    Snapshot(tokio::sync::oneshot::Sender<Vec<super::binding::Lease>>),
}

async fn recv_peer(p: &mut Option<PeerEnds>) -> Option<PeerIn> {
    match p {
        Some(p) => tokio::select! {
            Some(b) = p.apply.recv() => Some(PeerIn::Batch(b)),
            Some(s) = p.snapshot.recv() => Some(PeerIn::Snapshot(s)),
            else => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

fn now() -> Now {
    Now {
        mono: Mono::now(),
        wall: UnixTime::now(),
    }
}

impl DhcpTask {
    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), TaskError> {
        self.server.handle_timeout(now());
        self.publish_hosts();
        self.publish_counts();
        let mut buf = vec![0u8; 65_536];
        let mut out = Vec::with_capacity(1500);
        // Metrics only: the per-pool address counts (one pass over the
        // leases) and the heap trim; the core's deadlines are its own.
        let mut counts = tokio::time::interval(Duration::from_secs(1));
        counts.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.wait() => break,
                r = self.socket.readable() => {
                    r.map_err(|e| TaskError::new(format!("DHCP socket failed: {e}")))?;
                    self.batch(&mut buf, &mut out);
                    self.kick_commit();
                }
                _ = sleep_until_mono(self.commit.core.poll_timeout()) => self.kick_commit(),
                done = commit_done(&mut self.commit.writing) => {
                    self.commit_finished(done, &mut out, true);
                    self.kick_commit();
                }
                _ = sleep_until_mono(self.server.poll_timeout()) => {
                    self.server.handle_timeout(now());
                    // A named lease ran out: its name leaves DNS.
                    self.publish_hosts();
                }
                _ = counts.tick() => {
                    self.publish_counts();
                    if std::mem::take(&mut self.commit.busy) {
                        // Replies queued behind a slow fsync, offers and
                        // per-packet buffers of a burst were freed into the
                        // heap: give those pages back, at most once a second
                        // while busy (well under a millisecond) and once
                        // after, so RSS follows the leases, not the peak.
                        crate::memory::trim();
                    }
                }
                r = ping_readable(&self.pinger) => {
                    if let Err(e) = r {
                        let e = format_args!("error={}", crate::log::q(&e));
                        self.counters.errors.record(DhcpError::Ping, e);
                    }
                    self.ping_replies(&mut out);
                }
                _ = sleep_until_mono(self.probing.values().map(|p| p.until).min()) => {
                    self.probes_expired(&mut out);
                }
                Some(q) = recv_query(&mut self.control) => {
                    let now = UnixTime::now();
                    match q {
                        super::report::Query::Leases(tx) => {
                            let _ = tx.send(super::report::leases(&self.server, now));
                        }
                        super::report::Query::Ranges(tx) => {
                            let _ = tx.send(super::report::ranges(&self.server, now));
                        }
                        super::report::Query::Delete(ip, tx) => {
                            self.delete_lease(ip, tx);
                            self.kick_commit();
                        }
                    }
                }
                Some(p) = recv_peer(&mut self.peer) => match p {
                    PeerIn::Batch(b) => {
                        self.apply_peer(b);
                        self.kick_commit();
                    }
                    // A full transfer to the peer: every binding we hold.
                    PeerIn::Snapshot(tx) => {
                        let all = self.server.db().iter().map(PackedLease::to_lease).collect();
                        let _ = tx.send(all);
                    }
                },
                Some(n) = crate::neigh::changed(self.neigh.as_mut()) => {
                    self.server.set_neighbours(n);
                    self.publish_hosts();
                }
                Ok(()) = self.plans.changed() => {
                    let plan = self.plans.borrow_and_update().clone();
                    if let Some(p) = plan {
                        self.server.reconfigure((*p).clone());
                        self.publish_hosts();
                        // dnsmasq reruns the script with `old` for every lease on SIGHUP.
                        if let Some(h) = &self.hook {
                            let _ = h.send(Note::Reload);
                        }
                        event!(Info, "dhcp.reconfigured", "subnets={}", self.server.plan().subnets.len());
                    }
                }
            }
            // Whatever the branch queued leaves now, in one sendmmsg.
            self.flush();
        }
        // Stage "leases": the commit in flight and what is pending reach
        // the disk (their replies are not sent: DHCP has stopped), then the
        // journal is folded into the snapshot.
        if let Some(h) = self.commit.writing.take() {
            let done = h.await;
            self.commit_finished(done, &mut out, false);
        }
        if let Some(mut store) = self.store.take() {
            let staged = match self.commit.core.write_now(self.server.undo_mark()) {
                Some(changes) => {
                    changes.for_each(|c| store.stage(&c));
                    true
                }
                None => false,
            };
            let stored = if staged {
                let r = store.commit();
                let ok = r.is_ok();
                self.commit_finished(Ok((store, r)), &mut out, false);
                ok
            } else {
                self.store = Some(store);
                true
            };
            if let Some(store) = self.store.as_mut().filter(|_| stored)
                && let Err(e) = store.compact(self.server.db().iter().map(PackedLease::to_lease))
            {
                event!(
                    Warn,
                    "dhcp.compaction_failed",
                    "at=shutdown error={}",
                    crate::log::q(&e)
                );
            }
        }
        event!(Info, "dhcp.stopped", "leases={}", self.server.db().len());
        Ok(())
    }

    /// One batch: decide every queued request. Replies without lease
    /// changes go out now; the others wait for their commit.
    fn batch(&mut self, buf: &mut [u8], out: &mut Vec<u8>) {
        let n = now();
        self.commit.busy = true;
        for _ in 0..BATCH {
            let env = match self.socket.try_recv(buf) {
                Ok(Some(env)) => env,
                Ok(None) => break,
                Err(e) => {
                    let e = format_args!("error={}", crate::log::q(&e));
                    self.counters.errors.record(DhcpError::Receive, e);
                    break;
                }
            };
            self.counters.received.inc();
            let pkt = match Packet::decode(&buf[..env.len]) {
                Ok(p) => p,
                Err(e) => {
                    self.counters.errors.record(
                        DhcpError::Malformed,
                        format_args!(
                            "src={} len={} reason={} detail={}",
                            env.src,
                            env.len,
                            e.reason(),
                            crate::log::q(e)
                        ),
                    );
                    continue;
                }
            };
            let req = to_req(&pkt, &env);
            self.log_message(
                req.msg,
                req.ifindex.unwrap_or(0),
                req.giaddr,
                req.requested.unwrap_or(req.ciaddr),
                &req.hw,
                None,
            );
            match req.msg {
                MsgType::Discover => self.counters.discover.inc(),
                MsgType::Request => self.counters.request.inc(),
                MsgType::Decline => self.counters.decline.inc(),
                MsgType::Release => self.counters.release.inc(),
                MsgType::Inform => self.counters.inform.inc(),
                _ => {}
            }
            // The core asks the HA gate with the latest role of the
            // request's subnet (design §4).
            for (i, r) in self.roles.iter().enumerate() {
                self.server.set_role(i, *r.borrow());
            }
            if let Some(p) = &self.peer {
                self.server.set_peer_synced(*p.synced.borrow());
            }
            match self.server.handle(n, &req) {
                Outcome::Silent(s) => self.count_silence(s, &req),
                Outcome::Store(changes, s) => {
                    let notes = self.notes(&changes, &req, &[]);
                    if self.log_dhcp {
                        event!(
                            Info,
                            "dhcp.stored",
                            "msg={} mac={} ip={} changes={}",
                            req.msg.name(),
                            req.hw,
                            req.ciaddr,
                            changes.len()
                        );
                    }
                    self.commit.core.stage(changes, None, notes);
                    self.count_silence(s, &req);
                }
                Outcome::Reply(a) if a.probe && self.pinger.is_some() => {
                    self.probe(req, a, 1, n.mono)
                }
                Outcome::Reply(mut a) if a.changes.is_empty() => {
                    self.log_reply(&a);
                    self.send(&mut a, out);
                }
                Outcome::Reply(a) => {
                    let notes = self.notes(&a.changes, &req, &a.options);
                    let changes = a.changes.clone();
                    self.commit
                        .core
                        .stage(changes, Some(Release::Reply(a)), notes);
                }
            }
        }
    }

    /// Starts a write of everything staged, when the commit rules allow.
    fn kick_commit(&mut self) {
        let Some(mut store) = self.store.take() else {
            return; // a write is in flight
        };
        let Some(changes) = self
            .commit
            .core
            .poll_write(Mono::now(), self.server.undo_mark())
        else {
            self.store = Some(store);
            return; // if held back, `poll_timeout` brings `run` back
        };
        for c in changes {
            store.stage(&c);
        }
        // Compaction rewrites every lease: it runs on the writer thread
        // too, after the commit, from a copy of the state as of now (which
        // includes every change just staged): the packed leases, one
        // memcpy-like copy, unpacked one at a time as they are written.
        let snapshot: Option<Vec<PackedLease>> = store
            .needs_compaction(self.server.db().len())
            .then(|| self.server.db().snapshot());
        self.commit.compacting = snapshot.is_some();
        self.commit.writing = Some(tokio::task::spawn_blocking(move || {
            let r = store.commit();
            if let (Ok(()), Some(leases)) = (&r, snapshot)
                && let Err(e) = store.compact(leases.iter().map(PackedLease::to_lease))
            {
                event!(
                    Warn,
                    "dhcp.compaction_failed",
                    "error={}",
                    crate::log::q(&e)
                );
            }
            (store, r)
        }));
    }

    /// A write ended: send its replies and tell the hook, or withhold
    /// them and roll memory back to the disk; publish names.
    fn commit_finished(
        &mut self,
        done: Result<(LeaseStore, std::io::Result<()>), tokio::task::JoinError>,
        out: &mut Vec<u8>,
        send: bool,
    ) {
        self.commit.writing = None;
        let compacted = std::mem::take(&mut self.commit.compacting);
        let result = match done {
            Ok((store, r)) => {
                self.store = Some(store);
                r.map_err(|e| e.to_string())
            }
            Err(e) => {
                // The writer thread died: nothing can be stored any more.
                event!(Error, "dhcp.lease_store_lost", "error={e}");
                Err(e.to_string())
            }
        };
        if compacted {
            // The copy of every lease it wrote is gone: give the pages back.
            crate::memory::trim();
        }
        let error = result.as_ref().err().cloned();
        match self.commit.core.handle_written(Mono::now(), result) {
            Written::Durable {
                replies,
                notes,
                replicate,
                undo_mark,
                recovered,
            } => {
                self.server.committed(undo_mark);
                if let Some(b) = recovered {
                    event!(
                        Warn,
                        "dhcp.lease_commit_recovered",
                        "failed_commits={} withheld={} rolled_back={} for_ms={}",
                        b.failures,
                        b.withheld,
                        b.rolled_back,
                        Mono::now().since(b.since).as_millis()
                    );
                }
                // The peer hears of our changes only now, after our own
                // fdatasync (design §9), and never waits on them.
                if let Some(p) = &self.peer
                    && !replicate.is_empty()
                {
                    let _ = p.committed.send(replicate);
                }
                for r in replies {
                    match r {
                        Release::Reply(mut a) if send => {
                            self.log_reply(&a);
                            self.send(&mut a, out);
                        }
                        Release::Reply(_) => {}
                        Release::Peer(tx, conflicts) => {
                            let _ = tx.send(PeerStored {
                                ok: true,
                                conflicts,
                            });
                        }
                        Release::Control(tx, text) => {
                            let _ = tx.send(text);
                        }
                    }
                }
                if let Some(h) = &self.hook {
                    for n in notes {
                        let _ = h.send(n);
                    }
                }
            }
            Written::Failed {
                withheld,
                dropped,
                changes,
                first,
            } => {
                for r in dropped {
                    match r {
                        // Never sent: the client retries.
                        Release::Reply(_) => {}
                        // Not acknowledged: the peer sends it again.
                        Release::Peer(tx, _) => {
                            let _ = tx.send(PeerStored::default());
                        }
                        Release::Control(tx, _) => {
                            let _ = tx.send(format!(
                                "error: the lease store could not be written ({}); nothing was deleted\n",
                                error.as_deref().unwrap_or("unknown error")
                            ));
                        }
                    }
                }
                // Our disk's fault: withhold every reply not yet sent and
                // undo the bindings, so memory holds what the disk holds;
                // the clients will retry. The hook hears nothing of them.
                let undone = self.server.roll_back();
                self.counters.commit_failed.inc();
                if first {
                    event!(
                        Error,
                        "dhcp.lease_commit_failed",
                        "error=\"{}\" withheld={withheld} changes={changes} undone={undone} \
                         note=\"replies withheld and bindings undone until writes succeed; logged once per run of failures\"",
                        error.unwrap_or_default()
                    );
                }
            }
            Written::Unexpected => {}
        }
        self.publish_hosts();
    }

    /// `dhcp-script` notes for `changes`, to go out with their commit
    /// (none when no script is configured).
    fn notes(&self, changes: &[Change], req: &Req, reply_options: &[(u8, Vec<u8>)]) -> Vec<Note> {
        if self.hook.is_none() || changes.is_empty() {
            return Vec::new();
        }
        let ctx = Context::of(req, reply_options);
        changes
            .iter()
            .map(|c| Note::Committed(c.clone(), Some(Box::new(ctx.clone()))))
            .collect()
    }

    /// `hamasq leases --delete IP`: the binding leaves memory now and the
    /// store with the next group commit (staged like a release; a failed
    /// write undoes it as it undoes any change), the hook runs `del`.
    fn delete_lease(&mut self, ip: Ipv4Addr, tx: tokio::sync::oneshot::Sender<String>) {
        let Some((l, change)) = self.server.delete(ip) else {
            let _ = tx.send(format!("error: no lease for {ip}\n"));
            return;
        };
        let notes = match self.hook {
            Some(_) => vec![Note::Committed(change.clone(), None)],
            None => Vec::new(),
        };
        let name = l.hostname.as_deref().unwrap_or("*");
        // Answered once the removal is on disk (or failed to get there).
        let text = format!("deleted {ip} {} {name}\n", l.hw);
        self.commit
            .core
            .stage(vec![change], Some(Release::Control(tx, text)), notes);
        event!(
            Info,
            "dhcp.lease_deleted",
            "ip={ip} mac={} name={} by=control-socket",
            l.hw,
            log::q(name)
        );
    }

    /// A batch of the peer's changes (design §9): each one decided per
    /// address ([`Server::apply_peer`], [`super::merge`]), what it changed
    /// staged like our own changes but never sent back, and the link told
    /// once it is durable. Conflicts are resolved, counted and logged;
    /// they never stop service.
    fn apply_peer(&mut self, b: PeerBatch) {
        let wall = UnixTime::now();
        let mut store = Vec::new();
        let mut conflicts = Vec::new();
        for c in &b.changes {
            let r = self.server.apply_peer(wall, c);
            store.extend(r.store);
            if let Some(x) = r.conflict {
                event!(
                    Warn,
                    "ha.conflict",
                    "ip={} kept={} refused={} note=\"both boxes gave this address to a different client; the same client wins on both\"",
                    x.ip,
                    x.kept,
                    x.lost
                );
                conflicts.push(x);
            }
        }
        if store.is_empty() {
            // Nothing to write: stored as it is. (The link acknowledges
            // batches in order, so this never overtakes an earlier batch
            // still being written.)
            let _ = b.done.send(PeerStored {
                ok: true,
                conflicts,
            });
            return;
        }
        self.commit
            .core
            .stage_peer(store, Release::Peer(b.done, conflicts));
    }

    /// Holds an OFFER and pings its address (RFC 2131 §2.2).
    fn probe(&mut self, req: Req, mut answer: Answer, tries: u8, now: Mono) {
        let ip = answer.yiaddr;
        if let Some(p) = self.pinger.as_mut()
            && let Err(e) = p.send(ip)
        {
            // Cannot probe: offer without it rather than not at all.
            let e = format_args!("ip={ip} error={}", crate::log::q(&e));
            self.counters.errors.record(DhcpError::Ping, e);
            let mut out = Vec::new();
            self.send(&mut answer, &mut out);
            return;
        }
        self.counters.ping_sent.inc();
        self.probing.insert(
            ip,
            Probe {
                req,
                answer,
                until: now + PROBE_WAIT,
                tries,
            },
        );
    }

    /// Echo replies: those addresses are in use by someone without a lease.
    fn ping_replies(&mut self, out: &mut Vec<u8>) {
        loop {
            let ip = match self.pinger.as_ref().map(Pinger::try_recv) {
                Some(Ok(Some(ip))) => ip,
                Some(Err(e)) => {
                    let e = format_args!("error={}", crate::log::q(&e));
                    self.counters.errors.record(DhcpError::Ping, e);
                    return;
                }
                _ => return,
            };
            let Some(p) = self.probing.remove(&ip) else {
                continue;
            };
            let n = now();
            self.counters.ping_conflict.inc();
            event!(
                Warn,
                "dhcp.address_in_use",
                "ip={ip} note=\"answered a ping but has no lease; quarantined\""
            );
            self.server.mark_in_use(n, ip);
            match self.server.handle(n, &p.req) {
                Outcome::Reply(a) if a.probe && p.tries < MAX_PROBES => {
                    self.probe(p.req, a, p.tries + 1, n.mono)
                }
                Outcome::Reply(mut a) if a.changes.is_empty() => self.send(&mut a, out),
                Outcome::Reply(_) | Outcome::Store(..) => {}
                Outcome::Silent(s) => self.count_silence(s, &p.req),
            }
        }
    }

    /// Probes nobody answered: the addresses are free, send the OFFERs.
    fn probes_expired(&mut self, out: &mut Vec<u8>) {
        let now = Mono::now();
        let done: Vec<Ipv4Addr> = self
            .probing
            .iter()
            .filter(|(_, p)| p.until <= now)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in done {
            if let Some(p) = self.probing.remove(&ip) {
                if self.log_dhcp {
                    event!(
                        Info,
                        "dhcp.reply",
                        "msg={} mac={} ip={} xid={:#x} changes=0 probed=true",
                        p.answer.msg.name(),
                        p.answer.hw,
                        ip,
                        p.answer.xid
                    );
                }
                let mut p = p;
                self.send(&mut p.answer, out);
            }
        }
    }

    fn count_silence(&self, s: Silence, req: &Req) {
        match s {
            Silence::NotForUs => self.counters.errors.record(
                DhcpError::NotForUs,
                format_args!(
                    "mac={} giaddr={} ifindex={}",
                    req.hw,
                    req.giaddr,
                    req.ifindex
                        .map_or_else(|| "-".to_string(), |i| i.to_string())
                ),
            ),
            Silence::PoolExhausted => self
                .counters
                .errors
                .record(DhcpError::PoolExhausted, format_args!("mac={}", req.hw)),
            Silence::LeaseMax => self
                .counters
                .errors
                .record(DhcpError::LeaseMax, format_args!("mac={}", req.hw)),
            Silence::NoReplyNeeded => {}
            // Backup / Initialize: silent, never a NAK (design §4).
            Silence::Gated => self.counters.gated.inc(),
            other => self.counters.errors.record(
                DhcpError::Silent,
                format_args!(
                    "mac={} msg={} reason={}",
                    req.hw,
                    req.msg.name(),
                    other.name()
                ),
            ),
        }
    }

    fn send(&mut self, a: &mut Answer, out: &mut Vec<u8>) {
        let name = a.changes.iter().find_map(|c| match c {
            Change::Upsert(l) if l.ip == a.yiaddr => l.hostname.as_deref(),
            _ => None,
        });
        self.log_message(a.msg, a.origin.ifindex, a.giaddr, a.yiaddr, &a.hw, name);
        match encode_answer(a, out) {
            Ok(dropped) if !dropped.is_empty() => {
                // The client's maximum message size (RFC 2132 §9.10) left
                // no room for these: counted, not silently lost.
                self.counters.options_dropped.add(dropped.len() as u64);
                event_limited!(
                    Debug,
                    "dhcp.options_dropped",
                    "mac={} codes={}",
                    a.hw,
                    crate::log::list(dropped.iter())
                );
            }
            Ok(_) => {}
            Err(e) => {
                let e = format_args!("mac={} error={}", a.hw, crate::log::q(&e));
                self.counters.errors.record(DhcpError::Encode, e);
                return;
            }
        }
        // The core says where the reply leaves from (our identifier, and
        // for a reply on the link, the interface).
        let src = a.origin;
        let bcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT);
        let (to, ifindex) = match &a.to {
            Destination::Relay(g) => (SocketAddrV4::new(*g, SERVER_PORT), src.ifindex),
            Destination::Client(c) => (SocketAddrV4::new(*c, CLIENT_PORT), src.ifindex),
            Destination::Broadcast => (bcast, src.ifindex),
            Destination::Hardware(ip, hw) => {
                match ifname(src.ifindex).map(|n| self.socket.set_arp(&n, *ip, hw)) {
                    Some(Ok(())) => (SocketAddrV4::new(*ip, CLIENT_PORT), src.ifindex),
                    _ => {
                        self.counters.arp_fallback.inc();
                        (bcast, src.ifindex)
                    }
                }
            }
        };
        let c = &self.counters;
        self.socket.send(out, to, ifindex, src.addr, a.msg, |m, r| {
            count_sent(c, m, r)
        });
    }

    /// Sends the replies queued by [`DhcpTask::send`].
    fn flush(&mut self) {
        let c = &self.counters;
        self.socket.flush(|m, r| count_sent(c, m, r));
    }

    /// Publishes the address counts when they changed (one pass over the
    /// leases, once a second).
    fn publish_counts(&mut self) {
        let c = super::report::address_counts(&self.server, UnixTime::now());
        self.counts.send_if_modified(|cur| {
            if **cur == c {
                false
            } else {
                *cur = Arc::new(c);
                true
            }
        });
    }

    /// Publishes the host table if it may have changed (a commit of a
    /// named lease, a reload, an expiry); otherwise costs nothing.
    fn publish_hosts(&mut self) {
        let Some(t) = self.server.refresh_host_table(UnixTime::now()) else {
            return;
        };
        self.hosts.send_if_modified(|cur| {
            if **cur == t {
                false
            } else {
                *cur = Arc::new(t);
                true
            }
        });
    }
}

/// The end of the commit in flight; pending forever when there is none.
async fn commit_done(
    h: &mut Option<Writing>,
) -> Result<(LeaseStore, std::io::Result<()>), tokio::task::JoinError> {
    match h {
        Some(h) => h.await,
        None => std::future::pending().await,
    }
}

/// Readiness of the probe socket; pending forever without one.
async fn ping_readable(p: &Option<Pinger>) -> std::io::Result<()> {
    match p {
        Some(p) => p.readable().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_mono(at: Option<Mono>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.to_instant().into()).await,
        None => std::future::pending().await,
    }
}
