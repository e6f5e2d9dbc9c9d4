//! `dhcp-script`: the lease-change hook, with dnsmasq's contract
//! (dnsmasq(8), `--dhcp-script`) so existing scripts keep working.
//!
//! * **argv:** `add|old|del MAC IP [HOSTNAME]`. MAC is written as in the
//!   lease file (a non-Ethernet hardware type is prefixed, `06-…`).
//!   * `add`: an address was bound to a client that did not hold it;
//!   * `old`: a lease changed its host name or hardware address (or, with
//!     `script-on-renewal`, its expiry); also every lease at start-up and
//!     on SIGHUP;
//!   * `del`: a lease was released, declined, taken by another client, or
//!     ran out.
//! * **env:** `DNSMASQ_LEASE_EXPIRES` (0 = infinite), `DNSMASQ_TIME_REMAINING`,
//!   `DNSMASQ_DOMAIN`, `DNSMASQ_CLIENT_ID`, `DNSMASQ_SUPPLIED_HOSTNAME`,
//!   `DNSMASQ_OLD_HOSTNAME`, `DNSMASQ_INTERFACE`, `DNSMASQ_RELAY_ADDRESS`,
//!   `DNSMASQ_REQUESTED_OPTIONS`, `DNSMASQ_CIRCUIT_ID`, `DNSMASQ_REMOTE_ID`,
//!   `DNSMASQ_SUBSCRIBER_ID`, `DNSMASQ_DATA_MISSING` (the request's data is
//!   not known: start-up and SIGHUP) and `DNSMASQ_LOG_DHCP`. Values a client
//!   chose (its host name) only ever travel in argv or env, never through a
//!   shell.
//! * **Serialised and coalesced:** never two runs at once. Events queue per
//!   lease (address + hardware address); a lease that changes again while
//!   queued keeps its place and only its last state runs ("earlier states
//!   are discarded"), except that an `add` the script has not seen yet stays
//!   an `add`. The queue is therefore bounded by the number of leases.
//! * **Never blocks the server:** the DHCP task only hands *committed*
//!   changes down a channel, after their fdatasync, so the script never
//!   hears of a lease that is not on disk; this task owns the queue.
//! * **Least privilege:** the script runs as the daemon's user with no
//!   capabilities (dnsmasq runs it as root). stdin is `/dev/null`; the first
//!   lines of stdout and stderr are logged.
//! * **Start-up:** `old` for every active lease and `del` for every expired
//!   one, as dnsmasq does. At shutdown queued runs get [`STOP_GRACE`];
//!   anything left is counted in the log, and the next start's replay
//!   brings a script's view back in step.
//!
//! [`HookQueue`] is the sans-IO core (it takes `now`); [`run`] is the task.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;
use tokio::sync::mpsc;

use super::binding::{HwAddr, Lease};
use super::leases::Change;
use super::server::Req;
use crate::clock::UnixTime;
use crate::stats::{self, Counter};
use crate::task::{Shutdown, TaskError};
use crate::{event, event_limited};

/// How long queued runs may go on once the daemon is told to stop (the
/// whole ordered shutdown has [`crate::task::SHUTDOWN_BUDGET`]).
pub const STOP_GRACE: Duration = Duration::from_millis(400);

/// A run still going after this is logged (once); it is not killed, as
/// dnsmasq does not kill its script either.
const SLOW_RUN: Duration = Duration::from_secs(60);

/// Bytes of a run's stdout and of its stderr that are logged.
const OUTPUT_LOGGED: u64 = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Add,
    Old,
    Del,
}

impl Action {
    pub fn word(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Old => "old",
            Action::Del => "del",
        }
    }
}

/// What the request that caused a change adds to the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// Option 15 of the reply, if it had one.
    pub domain: Option<String>,
    /// Option 12 exactly as the client sent it.
    pub supplied_hostname: Option<Vec<u8>>,
    /// The arrival interface: its index from the request, its name filled
    /// in by the hook task (a system call kept off the DHCP task).
    pub ifindex: Option<u32>,
    pub interface: Option<String>,
    /// `giaddr`, for a relayed request.
    pub relay: Option<Ipv4Addr>,
    /// Option 55.
    pub requested_options: Option<Vec<u8>>,
    /// Option 82 (RFC 3046), whole.
    pub relay_info: Option<Vec<u8>>,
}

impl Context {
    /// The request's data; `reply_options` gives the domain the client got.
    pub fn of(req: &Req, reply_options: &[(u8, Vec<u8>)]) -> Context {
        Context {
            domain: reply_options
                .iter()
                .find(|(c, _)| *c == 15)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned()),
            supplied_hostname: req.hostname.clone(),
            ifindex: req.ifindex,
            interface: None,
            relay: Some(req.giaddr).filter(|g| !g.is_unspecified()),
            requested_options: req.prl.clone(),
            relay_info: req.relay_info.clone(),
        }
    }
}

/// What the DHCP task tells the hook.
#[derive(Debug)]
pub enum Note {
    /// The leases as loaded at start-up, each with its subnet's domain.
    Loaded(Vec<(Lease, Option<String>)>),
    /// One change that is now on disk, with the request behind it (none
    /// for a change of the server's own making).
    Committed(Change, Option<Box<Context>>),
    /// SIGHUP: `old` for every lease.
    Reload,
}

/// One run of the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub action: Action,
    pub lease: Lease,
    pub old_hostname: Option<String>,
    pub domain: Option<String>,
    pub context: Option<Box<Context>>,
    pub data_missing: bool,
}

/// The sans-IO core: what the script has been told, and what it is still
/// to be told.
pub struct HookQueue {
    /// Active leases as last announced, by address, with their domain.
    known: HashMap<Ipv4Addr, (Lease, Option<String>)>,
    /// Finite expiries of `known`, earliest first.
    expiries: BTreeSet<(UnixTime, Ipv4Addr)>,
    order: VecDeque<(Ipv4Addr, HwAddr)>,
    queued: HashMap<(Ipv4Addr, HwAddr), Event>,
    on_renewal: bool,
    /// `[dns] domain`, when a request did not carry option 15.
    default_domain: Option<String>,
}

impl HookQueue {
    pub fn new(on_renewal: bool, default_domain: Option<String>) -> HookQueue {
        HookQueue {
            known: HashMap::new(),
            expiries: BTreeSet::new(),
            order: VecDeque::new(),
            queued: HashMap::new(),
            on_renewal,
            default_domain,
        }
    }

    pub fn apply(&mut self, note: Note, now: UnixTime) {
        match note {
            Note::Loaded(leases) => {
                for (l, domain) in leases {
                    if l.is_active(now) {
                        self.remember(&l, domain.clone());
                        self.push(Action::Old, l, None, None, domain, true);
                    } else {
                        self.push(Action::Del, l, None, None, domain, true);
                    }
                }
            }
            Note::Committed(Change::Upsert(l), ctx) => self.upsert(l, ctx, now),
            Note::Committed(Change::Remove(ip), ctx) => {
                if let Some((p, d)) = self.forget(ip) {
                    self.push(Action::Del, p, None, ctx, d, false);
                }
            }
            Note::Reload => {
                let mut all: Vec<(Lease, Option<String>)> = self.known.values().cloned().collect();
                all.sort_by_key(|(l, _)| l.ip);
                for (l, d) in all {
                    self.push(Action::Old, l, None, None, d, true);
                }
            }
        }
    }

    fn upsert(&mut self, l: Lease, ctx: Option<Box<Context>>, now: UnixTime) {
        let prev = self.forget(l.ip);
        // The domain the client was just given, else the one it had.
        let domain = ctx
            .as_ref()
            .and_then(|c| c.domain.clone())
            .or_else(|| prev.as_ref().and_then(|(_, d)| d.clone()));
        if !l.is_active(now) {
            // RELEASE (kept for affinity with an expiry in the past).
            if let Some((p, d)) = prev {
                self.push(Action::Del, p, None, ctx, d, false);
            }
            return;
        }
        self.remember(&l, domain.clone());
        match prev {
            None => self.push(Action::Add, l, None, ctx, domain, false),
            Some((p, d)) if p.key() != l.key() => {
                // The address moved to another client.
                self.push(Action::Del, p, None, None, d, false);
                self.push(Action::Add, l, None, ctx, domain, false);
            }
            Some((p, _)) if p.hostname != l.hostname => {
                self.push(Action::Old, l, p.hostname, ctx, domain, false)
            }
            Some((p, _)) if p.hw != l.hw || (self.on_renewal && p.expires != l.expires) => {
                self.push(Action::Old, l, None, ctx, domain, false)
            }
            Some(_) => {}
        }
    }

    fn remember(&mut self, l: &Lease, domain: Option<String>) {
        if l.expires.0 != 0 {
            self.expiries.insert((l.expires, l.ip));
        }
        self.known.insert(l.ip, (l.clone(), domain));
    }

    fn forget(&mut self, ip: Ipv4Addr) -> Option<(Lease, Option<String>)> {
        let p = self.known.remove(&ip)?;
        self.expiries.remove(&(p.0.expires, ip));
        Some(p)
    }

    fn push(
        &mut self,
        action: Action,
        lease: Lease,
        old_hostname: Option<String>,
        context: Option<Box<Context>>,
        domain: Option<String>,
        data_missing: bool,
    ) {
        let key = (lease.ip, lease.hw);
        let domain = domain.or_else(|| self.default_domain.clone());
        let mut ev = Event {
            action,
            lease,
            old_hostname,
            domain,
            context,
            data_missing,
        };
        match self.queued.get_mut(&key) {
            Some(q) => {
                if q.action == Action::Add && ev.action == Action::Old {
                    // The script has not seen this lease yet.
                    ev.action = Action::Add;
                    ev.old_hostname = None;
                    ev.data_missing &= q.data_missing;
                    if ev.context.is_none() {
                        ev.context = q.context.take();
                    }
                }
                *q = ev;
            }
            None => {
                self.queued.insert(key, ev);
                self.order.push_back(key);
            }
        }
    }

    /// `del` for every lease whose expiry is at or before `now`.
    pub fn expire(&mut self, now: UnixTime) {
        while let Some(&(t, ip)) = self.expiries.first() {
            if t > now {
                break;
            }
            if let Some((p, d)) = self.forget(ip) {
                self.push(Action::Del, p, None, None, d, false);
            }
        }
    }

    /// The next run, in queue order.
    pub fn pop(&mut self) -> Option<Event> {
        let key = self.order.pop_front()?;
        self.queued.remove(&key)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// `aa:bb:..` hex, as dnsmasq prints client-ids and relay sub-options.
fn hex_colon(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// An env value from bytes: cut at the first NUL, which no C string (and
/// no `execve` environment) can carry.
fn env_bytes(b: &[u8]) -> OsString {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    OsString::from_vec(b[..end].to_vec())
}

/// The script's arguments.
pub fn argv(ev: &Event) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![
        ev.action.word().into(),
        ev.lease.hw.to_string().into(),
        ev.lease.ip.to_string().into(),
    ];
    if let Some(h) = &ev.lease.hostname {
        v.push(h.into());
    }
    v
}

/// The `DNSMASQ_*` variables of one run.
pub fn environment(ev: &Event, now: UnixTime, log_dhcp: bool) -> Vec<(&'static str, OsString)> {
    let mut e: Vec<(&'static str, OsString)> = Vec::new();
    let l = &ev.lease;
    e.push(("DNSMASQ_LEASE_EXPIRES", l.expires.0.to_string().into()));
    if ev.action != Action::Del && l.expires.0 != 0 && l.expires > now {
        e.push((
            "DNSMASQ_TIME_REMAINING",
            (l.expires.0 - now.0).to_string().into(),
        ));
    }
    if let Some(d) = &ev.domain {
        e.push(("DNSMASQ_DOMAIN", env_bytes(d.as_bytes())));
    }
    if let Some(id) = l.client_id.as_deref().filter(|id| !id.is_empty()) {
        e.push(("DNSMASQ_CLIENT_ID", hex_colon(id).into()));
    }
    if let Some(h) = &ev.old_hostname {
        e.push(("DNSMASQ_OLD_HOSTNAME", h.into()));
    }
    if let Some(c) = &ev.context {
        if let Some(h) = &c.supplied_hostname {
            e.push(("DNSMASQ_SUPPLIED_HOSTNAME", env_bytes(h)));
        }
        if let Some(i) = &c.interface {
            e.push(("DNSMASQ_INTERFACE", env_bytes(i.as_bytes())));
        }
        if let Some(r) = c.relay {
            e.push(("DNSMASQ_RELAY_ADDRESS", r.to_string().into()));
        }
        if let Some(p) = &c.requested_options {
            let list: Vec<String> = p.iter().map(u8::to_string).collect();
            e.push(("DNSMASQ_REQUESTED_OPTIONS", list.join(",").into()));
        }
        if let Some(rai) = &c.relay_info {
            // RFC 3046 §3.1 circuit-id, §3.2 remote-id; RFC 3993 subscriber-id.
            for (code, name) in [
                (1, "DNSMASQ_CIRCUIT_ID"),
                (2, "DNSMASQ_REMOTE_ID"),
                (6, "DNSMASQ_SUBSCRIBER_ID"),
            ] {
                if let Some(v) = super::adapt::rai_suboption(rai, code) {
                    e.push((name, hex_colon(v).into()));
                }
            }
        }
    }
    if ev.data_missing {
        e.push(("DNSMASQ_DATA_MISSING", "1".into()));
    }
    if log_dhcp {
        e.push(("DNSMASQ_LOG_DHCP", "1".into()));
    }
    e
}

/// The hook's settings.
#[derive(Clone, Debug)]
pub struct HookConfig {
    pub script: PathBuf,
    pub on_renewal: bool,
    pub default_domain: Option<String>,
    pub log_dhcp: bool,
}

struct Counters {
    runs: Counter,
    failed: Counter,
    unrun: Counter,
}

impl Counters {
    fn register() -> Counters {
        let r = stats::global();
        Counters {
            runs: r.counter("hamasq_dhcp_script_runs_total", "dhcp-script runs started."),
            failed: r.counter(
                "hamasq_dhcp_script_failed_total",
                "dhcp-script runs that could not start or exited non-zero.",
            ),
            unrun: r.counter(
                "hamasq_dhcp_script_unrun_total",
                "dhcp-script events still queued when the daemon stopped.",
            ),
        }
    }
}

/// A run in progress.
struct Running {
    child: Child,
    args: Vec<OsString>,
    slow_at: tokio::time::Instant,
    slow_logged: bool,
}

/// The hook task: owns the queue, runs the script one event at a time.
/// The DHCP task holds the sender; when it is dropped (DHCP stopped) and
/// the daemon says stop, the queue gets [`STOP_GRACE`] to drain.
pub async fn run(
    cfg: HookConfig,
    mut rx: mpsc::UnboundedReceiver<Note>,
    mut shutdown: Shutdown,
) -> Result<(), TaskError> {
    let counters = Counters::register();
    let mut q = HookQueue::new(cfg.on_renewal, cfg.default_domain.clone());
    let mut running: Option<Running> = None;
    let mut rx_open = true;
    let mut stop_at: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if running.is_none()
            && let Some(ev) = q.pop()
        {
            running = start(&cfg, &ev, &counters);
        }
        if stop_at.is_some() && running.is_none() && q.is_empty() && !rx_open {
            return Ok(());
        }
        tokio::select! {
            n = rx.recv(), if rx_open => match n {
                Some(mut n) => {
                    if let Note::Committed(_, Some(ctx)) = &mut n
                        && ctx.interface.is_none()
                    {
                        ctx.interface = ctx.ifindex.and_then(super::socket::ifname);
                    }
                    q.apply(n, UnixTime::now())
                }
                None => rx_open = false,
            },
            st = wait(&mut running) => {
                if let Some(r) = running.take() {
                    finished(&r.args, st, &counters, &cfg);
                }
            }
            _ = tick.tick(), if stop_at.is_none() => q.expire(UnixTime::now()),
            _ = shutdown.wait(), if stop_at.is_none() => {
                stop_at = Some(tokio::time::Instant::now() + STOP_GRACE);
            }
            _ = sleep_until(stop_at) => {
                // Out of time: what is left is replayed at the next start.
                while rx.try_recv().is_ok() {}
                let left = q.len() + usize::from(running.is_some());
                if left > 0 {
                    counters.unrun.add(left as u64);
                    event!(
                        Warn,
                        "dhcp.script_unrun",
                        "script={} events={left} note=\"the next start replays every lease\"",
                        cfg.script.display()
                    );
                }
                // A run still going is killed with its handle (kill_on_drop).
                return Ok(());
            }
        }
        if let Some(r) = running.as_mut()
            && !r.slow_logged
            && tokio::time::Instant::now() >= r.slow_at
        {
            r.slow_logged = true;
            event!(
                Warn,
                "dhcp.script_slow",
                "script={} args={} running_s={} queued={}",
                cfg.script.display(),
                crate::log::q(words(&r.args)),
                SLOW_RUN.as_secs(),
                q.len()
            );
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn wait(r: &mut Option<Running>) -> std::io::Result<std::process::ExitStatus> {
    match r {
        // Wake at least at the slow-run mark so it can be logged.
        Some(r) if !r.slow_logged => {
            match tokio::time::timeout_at(r.slow_at, r.child.wait()).await {
                Ok(st) => st,
                Err(_) => std::future::pending().await,
            }
        }
        Some(r) => r.child.wait().await,
        None => std::future::pending().await,
    }
}

fn start(cfg: &HookConfig, ev: &Event, counters: &Counters) -> Option<Running> {
    let args = argv(ev);
    let mut cmd = crate::privilege::hook_command(&cfg.script);
    cmd.args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Nothing of an earlier run's, or of our own environment's, DNSMASQ_*
    // may leak into this one.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("DNSMASQ_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in environment(ev, UnixTime::now(), cfg.log_dhcp) {
        cmd.env(k, v);
    }
    counters.runs.inc();
    match cmd.spawn() {
        Ok(mut child) => {
            if let Some(o) = child.stdout.take() {
                tokio::spawn(log_output(o, "stdout", cfg.script.clone()));
            }
            if let Some(o) = child.stderr.take() {
                tokio::spawn(log_output(o, "stderr", cfg.script.clone()));
            }
            Some(Running {
                child,
                args,
                slow_at: tokio::time::Instant::now() + SLOW_RUN,
                slow_logged: false,
            })
        }
        Err(e) => {
            // Our side (or the operator's path): logged, the event dropped;
            // the next start replays every lease.
            failed(cfg, &args, &e, counters);
            None
        }
    }
}

fn finished(
    args: &[OsString],
    st: std::io::Result<std::process::ExitStatus>,
    counters: &Counters,
    cfg: &HookConfig,
) {
    match st {
        Ok(s) if s.success() => {
            if cfg.log_dhcp {
                event!(
                    Info,
                    "dhcp.script_done",
                    "script={} args={}",
                    cfg.script.display(),
                    crate::log::q(words(args))
                );
            }
        }
        Ok(s) => failed(cfg, args, &s, counters),
        Err(e) => failed(cfg, args, &e, counters),
    }
}

/// A run that could not start, or exited non-zero: counted and logged.
fn failed(cfg: &HookConfig, args: &[OsString], why: &dyn std::fmt::Display, counters: &Counters) {
    counters.failed.inc();
    event_limited!(
        Warn,
        "dhcp.script_failed",
        "script={} args={} cause={}",
        cfg.script.display(),
        crate::log::q(words(args)),
        crate::log::q(why)
    );
}

/// A script's arguments as one line of words, for the log.
fn words(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Logs the first [`OUTPUT_LOGGED`] bytes of a run's output line by line,
/// and reads the rest to the end so the script never blocks on a full pipe.
async fn log_output(mut r: impl AsyncRead + Unpin, stream: &'static str, script: PathBuf) {
    let mut head = Vec::new();
    let _ = (&mut r).take(OUTPUT_LOGGED).read_to_end(&mut head).await;
    for line in String::from_utf8_lossy(&head).lines() {
        event!(
            Info,
            "dhcp.script_output",
            "script={} stream={stream} line={}",
            script.display(),
            crate::log::q(line)
        );
    }
    let _ = tokio::io::copy(&mut r, &mut tokio::io::sink()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(ip: [u8; 4], mac: u8, name: Option<&str>, expires: u64) -> Lease {
        Lease {
            ip: Ipv4Addr::from(ip),
            hw: HwAddr::ether([2, 0, 0, 0, 0, mac]),
            client_id: None,
            hostname: name.map(str::to_string),
            expires: UnixTime(expires),
        }
    }

    fn drain(q: &mut HookQueue) -> Vec<String> {
        std::iter::from_fn(|| q.pop())
            .map(|e| {
                argv(&e)
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    const NOW: UnixTime = UnixTime(1_000_000);

    #[test]
    fn start_up_replays_old_for_active_and_del_for_expired() {
        let mut q = HookQueue::new(false, Some("lan".into()));
        q.apply(
            Note::Loaded(vec![
                (lease([10, 0, 0, 5], 1, Some("a"), 1_000_100), None),
                (lease([10, 0, 0, 6], 2, None, 999_000), None),
                (lease([10, 0, 0, 7], 3, None, 0), Some("iot".into())),
            ]),
            NOW,
        );
        let e = q.pop().unwrap();
        assert_eq!((e.action, e.data_missing), (Action::Old, true));
        assert_eq!(e.domain.as_deref(), Some("lan"));
        let e = q.pop().unwrap();
        assert_eq!(
            (e.action, e.lease.ip, e.data_missing),
            (Action::Del, Ipv4Addr::new(10, 0, 0, 6), true)
        );
        let e = q.pop().unwrap();
        assert_eq!(
            (e.action, e.lease.ip, e.domain.as_deref()),
            (Action::Old, Ipv4Addr::new(10, 0, 0, 7), Some("iot"))
        );
        // The active ones are known: they expire with a `del`.
        q.expire(UnixTime(1_000_100));
        assert_eq!(drain(&mut q), ["del 02:00:00:00:00:01 10.0.0.5 a"]);
    }

    #[test]
    fn add_renew_rename_release_and_expiry() {
        let mut q = HookQueue::new(false, None);
        let up = |l: Lease| Note::Committed(Change::Upsert(l), None);
        q.apply(up(lease([10, 0, 0, 5], 1, Some("a"), 1_000_600)), NOW);
        assert_eq!(drain(&mut q), ["add 02:00:00:00:00:01 10.0.0.5 a"]);
        // A renewal that changes nothing else is silent...
        q.apply(up(lease([10, 0, 0, 5], 1, Some("a"), 1_001_200)), NOW);
        assert!(q.is_empty());
        // ... a new name is `old`, with the previous one in the env.
        q.apply(up(lease([10, 0, 0, 5], 1, Some("b"), 1_001_200)), NOW);
        let e = q.pop().unwrap();
        assert_eq!(e.action, Action::Old);
        let env = environment(&e, NOW, false);
        assert!(env.contains(&("DNSMASQ_OLD_HOSTNAME", "a".into())));
        assert!(env.contains(&("DNSMASQ_TIME_REMAINING", "1200".into())));
        assert!(env.contains(&("DNSMASQ_LEASE_EXPIRES", "1001200".into())));
        // RELEASE: kept with an expiry in the past → `del`.
        q.apply(up(lease([10, 0, 0, 5], 1, Some("b"), 999_999)), NOW);
        assert_eq!(drain(&mut q), ["del 02:00:00:00:00:01 10.0.0.5 b"]);
        // Nothing more at its old expiry.
        q.expire(UnixTime(2_000_000));
        assert!(q.is_empty());
        // A lease that runs out gets `del` once, at its expiry, not before.
        q.apply(up(lease([10, 0, 0, 9], 4, None, 1_000_060)), NOW);
        drain(&mut q);
        q.expire(UnixTime(1_000_059));
        assert!(q.is_empty());
        q.expire(UnixTime(1_000_060));
        q.expire(UnixTime(1_000_061));
        assert_eq!(drain(&mut q), ["del 02:00:00:00:00:04 10.0.0.9"]);
    }

    #[test]
    fn an_address_taken_by_another_client_is_del_then_add() {
        let mut q = HookQueue::new(false, None);
        q.apply(
            Note::Committed(
                Change::Upsert(lease([10, 0, 0, 5], 1, None, 1_000_600)),
                None,
            ),
            NOW,
        );
        drain(&mut q);
        q.apply(
            Note::Committed(
                Change::Upsert(lease([10, 0, 0, 5], 2, None, 1_000_600)),
                None,
            ),
            NOW,
        );
        assert_eq!(
            drain(&mut q),
            [
                "del 02:00:00:00:00:01 10.0.0.5",
                "add 02:00:00:00:00:02 10.0.0.5"
            ]
        );
        q.apply(
            Note::Committed(Change::Remove([10, 0, 0, 5].into()), None),
            NOW,
        );
        assert_eq!(drain(&mut q), ["del 02:00:00:00:00:02 10.0.0.5"]);
    }

    #[test]
    fn queued_states_coalesce_per_lease_and_keep_their_place() {
        let mut q = HookQueue::new(true, None);
        let up = |l: Lease| Note::Committed(Change::Upsert(l), None);
        // 100 leases, each renamed and renewed several times while the
        // script is busy: one event per lease, in first-change order, with
        // the final state; an unseen lease stays `add`.
        for round in 0..5u64 {
            for i in 0..100u8 {
                let name = format!("h{i}-{round}");
                q.apply(
                    up(lease([10, 0, 1, i], i, Some(&name), 1_000_600 + round)),
                    NOW,
                );
            }
        }
        assert_eq!(q.len(), 100);
        let evs: Vec<Event> = std::iter::from_fn(|| q.pop()).collect();
        for (i, e) in evs.iter().enumerate() {
            assert_eq!(e.action, Action::Add);
            assert_eq!(e.lease.ip, Ipv4Addr::new(10, 0, 1, i as u8));
            assert_eq!(e.lease.hostname.as_deref(), Some(&*format!("h{i}-4")));
            assert_eq!(e.old_hostname, None);
        }
        // With script-on-renewal, a renewal of a seen lease is `old`.
        q.apply(up(lease([10, 0, 1, 0], 0, Some("h0-4"), 1_009_000)), NOW);
        assert_eq!(drain(&mut q), ["old 02:00:00:00:00:00 10.0.1.0 h0-4"]);
        // add then del while queued: only the final `del` runs.
        q.apply(up(lease([10, 0, 2, 1], 7, None, 1_000_600)), NOW);
        q.apply(
            Note::Committed(Change::Remove([10, 0, 2, 1].into()), None),
            NOW,
        );
        assert_eq!(drain(&mut q), ["del 02:00:00:00:00:07 10.0.2.1"]);
        // SIGHUP: `old` for every known lease, marked data-missing.
        q.apply(Note::Reload, NOW);
        assert_eq!(q.len(), 100);
        assert!(q.pop().unwrap().data_missing);
    }

    #[test]
    fn request_data_reaches_the_environment_without_a_shell() {
        let ctx = Context {
            domain: Some("lan".into()),
            supplied_hostname: Some(b";$(reboot)\0tail".to_vec()),
            ifindex: None,
            interface: Some("eth1".into()),
            relay: Some(Ipv4Addr::new(10, 9, 0, 1)),
            requested_options: Some(vec![1, 3, 6, 15]),
            relay_info: Some(vec![1, 2, 0xab, 0xcd, 2, 1, 7]),
        };
        let mut l = lease([10, 0, 0, 5], 1, Some("x"), 1_000_600);
        l.client_id = Some(vec![1, 2, 0, 0, 0, 0, 1]);
        let mut q = HookQueue::new(false, Some("other".into()));
        q.apply(Note::Committed(Change::Upsert(l), Some(Box::new(ctx))), NOW);
        let e = q.pop().unwrap();
        let env = environment(&e, NOW, true);
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(get("DNSMASQ_DOMAIN").as_deref(), Some("lan"));
        assert_eq!(
            get("DNSMASQ_SUPPLIED_HOSTNAME").as_deref(),
            Some(";$(reboot)")
        );
        assert_eq!(get("DNSMASQ_INTERFACE").as_deref(), Some("eth1"));
        assert_eq!(get("DNSMASQ_RELAY_ADDRESS").as_deref(), Some("10.9.0.1"));
        assert_eq!(
            get("DNSMASQ_REQUESTED_OPTIONS").as_deref(),
            Some("1,3,6,15")
        );
        assert_eq!(get("DNSMASQ_CIRCUIT_ID").as_deref(), Some("ab:cd"));
        assert_eq!(get("DNSMASQ_REMOTE_ID").as_deref(), Some("07"));
        assert_eq!(
            get("DNSMASQ_CLIENT_ID").as_deref(),
            Some("01:02:00:00:00:00:01")
        );
        assert_eq!(get("DNSMASQ_LOG_DHCP").as_deref(), Some("1"));
        assert_eq!(get("DNSMASQ_DATA_MISSING"), None);
        assert_eq!(
            argv(&e),
            ["add", "02:00:00:00:00:01", "10.0.0.5", "x"].map(OsString::from)
        );
    }

    #[tokio::test]
    async fn the_task_runs_serialised_and_drains_at_shutdown() {
        let dir = std::env::temp_dir().join(format!("hamasq-lease-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rec = dir.join("rec");
        let script = dir.join("hook.sh");
        // start/end lines alternate only if runs never overlap.
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"start $* $DNSMASQ_TIME_REMAINING\" >> {0}\nsleep 0.05\necho end >> {0}\n",
                rec.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let cfg = HookConfig {
            script,
            on_renewal: false,
            default_domain: None,
            log_dhcp: false,
        };
        let mut tasks = crate::task::Supervisor::default();
        tasks.spawn("dhcp-script", crate::task::Stage::Leases, move |sd| {
            run(cfg, rx, sd)
        });
        let far = UnixTime::now().0 + 3600;
        for i in 1..=3u8 {
            tx.send(Note::Committed(
                Change::Upsert(lease([10, 0, 0, i], i, None, far)),
                None,
            ))
            .unwrap();
        }
        drop(tx);
        // Bounded wait for the three runs, then an ordered stop.
        for _ in 0..200 {
            let n = std::fs::read_to_string(&rec).map_or(0, |r| r.lines().count());
            if n >= 6 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let ended = tasks.shutdown(Duration::from_secs(5)).await;
        assert_eq!(ended, [("dhcp-script", crate::task::TaskEnd::Ok)]);
        let r = std::fs::read_to_string(&rec).unwrap();
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines.len(), 6, "{r}");
        for (i, pair) in lines.chunks(2).enumerate() {
            assert!(
                pair[0].starts_with(&format!(
                    "start add 02:00:00:00:00:0{} 10.0.0.{} 3",
                    i + 1,
                    i + 1
                )),
                "{r}"
            );
            assert_eq!(pair[1], "end");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
