//! The DHCP task: the only owner of the bindings and the lease store.
//!
//! A few dozen lines of I/O around the sans-IO [`Server`] (design §3): it
//! drains a batch of datagrams, lets the core decide on each, **commits the
//! whole batch's lease changes with one fdatasync**, and only then sends the
//! replies of that batch (design §5, group commit). If the commit fails no
//! reply that carried a change is sent, so no ACK ever leaves for a lease
//! that is not on disk. After each committed change the host table is
//! published to DNS.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::commit::{Commit, Written};
use super::gate::{Gate, gate};
use super::host_table::HostTable;
use super::lease_hook::{Context, Note};
use super::leases::{Change, LeaseStore};
use super::packed::PackedLease;
use super::ping::{PROBE_WAIT, Pinger};
use super::server::{Answer, Destination, MsgType, Now, Outcome, Plan, Req, Server, Silence};
use super::socket::{CLIENT_PORT, DhcpSocket, Envelope, SERVER_PORT, SendFailure, ifname};
use super::wire::{self, BootFile, Packet, Reply, Sname};
use crate::clock::{Mono, UnixTime};
use crate::stats::{self, Counter};
use crate::task::{Shutdown, TaskError};
use crate::vrrp::Role;
use crate::{event, event_limited};

/// At most this many datagrams per batch.
pub const BATCH: usize = super::commit::FULL;

/// Counters, with Kea's `pkt4-*` names under our prefix.
pub struct Counters {
    pub received: Counter,
    pub parse_failed: Counter,
    pub discover: Counter,
    pub request: Counter,
    pub decline: Counter,
    pub release: Counter,
    pub inform: Counter,
    pub offer_sent: Counter,
    pub ack_sent: Counter,
    pub nak_sent: Counter,
    pub send_failed: Counter,
    pub not_for_us: Counter,
    pub silent_other: Counter,
    pub pool_exhausted: Counter,
    pub lease_max: Counter,
    pub commit_failed: Counter,
    pub arp_fallback: Counter,
    pub gated: Counter,
    pub options_dropped: Counter,
    pub ping_sent: Counter,
    pub ping_conflict: Counter,
}

impl Counters {
    pub fn register() -> Counters {
        let r = stats::global();
        Counters {
            received: r.counter(
                "hamasq_dhcp_pkt4_received_total",
                "DHCP datagrams received.",
            ),
            parse_failed: r.counter(
                "hamasq_dhcp_pkt4_parse_failed_total",
                "Datagrams dropped as malformed.",
            ),
            discover: r.counter(
                "hamasq_dhcp_pkt4_discover_received_total",
                "DHCPDISCOVER received.",
            ),
            request: r.counter(
                "hamasq_dhcp_pkt4_request_received_total",
                "DHCPREQUEST received.",
            ),
            decline: r.counter(
                "hamasq_dhcp_pkt4_decline_received_total",
                "DHCPDECLINE received.",
            ),
            release: r.counter(
                "hamasq_dhcp_pkt4_release_received_total",
                "DHCPRELEASE received.",
            ),
            inform: r.counter(
                "hamasq_dhcp_pkt4_inform_received_total",
                "DHCPINFORM received.",
            ),
            offer_sent: r.counter("hamasq_dhcp_pkt4_offer_sent_total", "DHCPOFFER sent."),
            ack_sent: r.counter("hamasq_dhcp_pkt4_ack_sent_total", "DHCPACK sent."),
            nak_sent: r.counter("hamasq_dhcp_pkt4_nak_sent_total", "DHCPNAK sent."),
            send_failed: r.counter(
                "hamasq_dhcp_pkt4_send_failed_total",
                "Replies the kernel refused to send.",
            ),
            not_for_us: r.counter(
                "hamasq_dhcp_not_for_us_total",
                "Requests for no subnet of ours.",
            ),
            silent_other: r.counter(
                "hamasq_dhcp_silent_total",
                "Requests answered with silence by the RFC rules.",
            ),
            pool_exhausted: r.counter(
                "hamasq_dhcp_pool_exhausted_total",
                "DISCOVERs with no free address.",
            ),
            lease_max: r.counter(
                "hamasq_dhcp_lease_max_total",
                "Requests refused by dhcp-lease-max.",
            ),
            commit_failed: r.counter(
                "hamasq_dhcp_lease_commit_failed_total",
                "Batches whose leases could not be stored (replies withheld).",
            ),
            arp_fallback: r.counter(
                "hamasq_dhcp_arp_fallback_total",
                "Unicast replies broadcast because the ARP entry could not be set.",
            ),
            gated: r.counter(
                "hamasq_dhcp_gated_total",
                "Requests not answered because this box is not Active.",
            ),
            ping_sent: r.counter(
                "hamasq_dhcp_ping_sent_total",
                "Addresses probed with ICMP echo before an OFFER.",
            ),
            ping_conflict: r.counter(
                "hamasq_dhcp_ping_conflict_total",
                "Probed addresses that answered: in use without a lease.",
            ),
            options_dropped: r.counter(
                "hamasq_dhcp_options_dropped_total",
                "Reply options left out to fit the client's maximum message size.",
            ),
        }
    }
}

/// Everything the task owns.
pub struct DhcpTask {
    pub socket: DhcpSocket,
    pub server: Server,
    /// `None` while a commit runs on the blocking pool.
    pub store: Option<LeaseStore>,
    pub hosts: watch::Sender<Arc<HostTable>>,
    pub role: watch::Receiver<Role>,
    pub plans: watch::Receiver<Option<Arc<Plan>>>,
    pub log_dhcp: bool,
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
}

/// The write in flight on the blocking pool (design §5): the store comes
/// back with the result.
type Writing = tokio::task::JoinHandle<(LeaseStore, std::io::Result<()>)>;

/// Group commit: the sans-IO rules ([`Commit`]) and the write they started.
#[derive(Default)]
pub struct Pipeline {
    /// What is staged, in flight, released.
    core: Commit<(Answer, Envelope)>,
    /// The write in flight, and whether it also compacts.
    writing: Option<Writing>,
    compacting: bool,
    /// Requests were handled since the last trim (see [`DhcpTask::run`]).
    busy: bool,
}

/// An OFFER held while its address is probed.
pub struct Probe {
    req: Req,
    env: Envelope,
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
                        event_limited!(Warn, "dhcp.ping_failed", "error={e:?}");
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
                    }
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
                event!(Warn, "dhcp.compaction_failed", "at=shutdown error={e:?}");
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
                    event_limited!(Warn, "dhcp.recv_failed", "error={e:?}");
                    break;
                }
            };
            self.counters.received.inc();
            let pkt = match Packet::decode(&buf[..env.len]) {
                Ok(p) => p,
                Err(e) => {
                    self.counters.parse_failed.inc();
                    event_limited!(
                        Debug,
                        "dhcp.malformed",
                        "src={} len={} reason={} detail={e:?}",
                        env.src,
                        env.len,
                        e.reason()
                    );
                    continue;
                }
            };
            let req = to_req(&pkt, &env);
            match req.msg {
                MsgType::Discover => self.counters.discover.inc(),
                MsgType::Request => self.counters.request.inc(),
                MsgType::Decline => self.counters.decline.inc(),
                MsgType::Release => self.counters.release.inc(),
                MsgType::Inform => self.counters.inform.inc(),
                _ => {}
            }
            if gate(*self.role.borrow(), req.msg) == Gate::Silent {
                // Backup / Initialize: silent, never a NAK (design §4).
                self.counters.gated.inc();
                continue;
            }
            match self.server.handle(n, &req) {
                Outcome::Silent(s) => self.count_silence(s, &req),
                Outcome::Store(changes, s) => {
                    let notes = self.notes(&changes, &req, &[]);
                    if self.log_dhcp {
                        event!(
                            Info,
                            "dhcp.stored",
                            "msg={:?} mac={} ip={} changes={}",
                            req.msg,
                            req.hw,
                            req.ciaddr,
                            changes.len()
                        );
                    }
                    self.commit.core.stage(changes, None, notes);
                    self.count_silence(s, &req);
                }
                Outcome::Reply(a) if a.probe && self.pinger.is_some() => {
                    self.probe(req, env, a, 1, n.mono)
                }
                Outcome::Reply(mut a) if a.changes.is_empty() => {
                    self.log_reply(&a);
                    self.send(&mut a, &env, out);
                }
                Outcome::Reply(a) => {
                    let notes = self.notes(&a.changes, &req, &a.options);
                    let changes = a.changes.clone();
                    self.commit.core.stage(changes, Some((a, env)), notes);
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
                event!(Warn, "dhcp.compaction_failed", "error={e:?}");
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
                if send {
                    for (mut a, env) in replies {
                        self.log_reply(&a);
                        self.send(&mut a, &env, out);
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
                changes,
                first,
            } => {
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

    fn log_reply(&self, a: &Answer) {
        if self.log_dhcp {
            event!(
                Info,
                "dhcp.reply",
                "msg={:?} mac={} ip={} xid={:#x} changes={}",
                a.msg,
                a.hw,
                a.yiaddr,
                a.xid,
                a.changes.len()
            );
        }
    }

    /// Holds an OFFER and pings its address (RFC 2131 §2.2).
    fn probe(&mut self, req: Req, env: Envelope, mut answer: Answer, tries: u8, now: Mono) {
        let ip = answer.yiaddr;
        if let Some(p) = self.pinger.as_mut()
            && let Err(e) = p.send(ip)
        {
            // Cannot probe: offer without it rather than not at all.
            event_limited!(Warn, "dhcp.ping_failed", "ip={ip} error={e:?}");
            let mut out = Vec::new();
            self.send(&mut answer, &env, &mut out);
            return;
        }
        self.counters.ping_sent.inc();
        self.probing.insert(
            ip,
            Probe {
                req,
                env,
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
                    event_limited!(Warn, "dhcp.ping_failed", "error={e:?}");
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
                    self.probe(p.req, p.env, a, p.tries + 1, n.mono)
                }
                Outcome::Reply(mut a) if a.changes.is_empty() => self.send(&mut a, &p.env, out),
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
                        "msg={:?} mac={} ip={} xid={:#x} changes=0 probed=true",
                        p.answer.msg,
                        p.answer.hw,
                        ip,
                        p.answer.xid
                    );
                }
                let mut p = p;
                self.send(&mut p.answer, &p.env, out);
            }
        }
    }

    fn count_silence(&self, s: Silence, req: &Req) {
        match s {
            Silence::NotForUs => {
                self.counters.not_for_us.inc();
                event_limited!(
                    Debug,
                    "dhcp.not_for_us",
                    "mac={} giaddr={} ifindex={:?}",
                    req.hw,
                    req.giaddr,
                    req.ifindex
                );
            }
            Silence::PoolExhausted => {
                self.counters.pool_exhausted.inc();
                event_limited!(Warn, "dhcp.pool_exhausted", "mac={}", req.hw);
            }
            Silence::LeaseMax => {
                self.counters.lease_max.inc();
                event_limited!(Warn, "dhcp.lease_max", "mac={}", req.hw);
            }
            Silence::NoReplyNeeded => {}
            other => {
                self.counters.silent_other.inc();
                event_limited!(
                    Debug,
                    "dhcp.silent",
                    "mac={} msg={:?} reason={other:?}",
                    req.hw,
                    req.msg
                );
            }
        }
    }

    fn send(&mut self, a: &mut Answer, env: &Envelope, out: &mut Vec<u8>) {
        match encode_answer(a, out) {
            Ok(dropped) if !dropped.is_empty() => {
                // The client's maximum message size (RFC 2132 §9.10) left
                // no room for these: counted, not silently lost.
                self.counters.options_dropped.add(dropped.len() as u64);
                event_limited!(
                    Debug,
                    "dhcp.options_dropped",
                    "mac={} codes={:?}",
                    a.hw,
                    dropped.iter().collect::<Vec<_>>()
                );
            }
            Ok(_) => {}
            Err(e) => {
                event_limited!(Warn, "dhcp.encode_failed", "mac={} error={e:?}", a.hw);
                return;
            }
        }
        let src = a
            .options
            .iter()
            .find(|(c, _)| *c == 54)
            .and_then(|(_, v)| <[u8; 4]>::try_from(v.as_slice()).ok())
            .map(Ipv4Addr::from)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let bcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT);
        let (to, ifindex) = match &a.to {
            Destination::Relay(g) => (SocketAddrV4::new(*g, SERVER_PORT), 0),
            Destination::Client(c) => (SocketAddrV4::new(*c, CLIENT_PORT), 0),
            Destination::Broadcast => (bcast, env.ifindex),
            Destination::Hardware(ip, hw) => {
                match ifname(env.ifindex).map(|n| self.socket.set_arp(&n, *ip, hw)) {
                    Some(Ok(())) => (SocketAddrV4::new(*ip, CLIENT_PORT), env.ifindex),
                    _ => {
                        self.counters.arp_fallback.inc();
                        (bcast, env.ifindex)
                    }
                }
            }
        };
        let c = &self.counters;
        self.socket
            .send(out, to, ifindex, src, a.msg, |m, r| count_sent(c, m, r));
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

/// Counts a reply the socket sent or could not send.
fn count_sent(c: &Counters, msg: MsgType, r: Result<(), SendFailure>) {
    match r {
        Ok(()) => match msg {
            MsgType::Offer => c.offer_sent.inc(),
            MsgType::Ack => c.ack_sent.inc(),
            MsgType::Nak => c.nak_sent.inc(),
            _ => {}
        },
        Err(f) => {
            c.send_failed.inc();
            event_limited!(Warn, "dhcp.send_failed", "to={} error={:?}", f.to, f.error);
        }
    }
}

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
    use super::*;

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
        use crate::dhcp::subnet::{IfAddr, plan};
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

    /// Encoding lends the options to the encoder and gives them back: the
    /// send path reads option 54 afterwards for the source address.
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
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
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
