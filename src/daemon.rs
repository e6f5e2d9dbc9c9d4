//! The spine: channels, tasks, signals, reload and the shutdown order
//! (design §1).
//!
//! ```text
//!   vrrp (one per instance) --watch<Role>--> dhcp --watch<Arc<HostTable>>--> dns
//!   daemon --watch<Arc<Config>>--> every task (reload)
//!   daemon --Shutdown (one per stage)--> every task
//! ```
//!
//! * One task per configured subsystem, each owning its state. A task that
//!   returns (with an error or not) or panics before shutdown is a failure:
//!   it is logged with its cause and the daemon stops with exit code 1.
//! * SIGTERM / SIGINT: ordered shutdown by [`Stage`] (DHCP goes silent, VRRP
//!   steps down and releases the VIP, leases are flushed, DNS stops), exit 0.
//! * SIGHUP: reload through the same [`config::load`] as `--test`; an
//!   invalid file is logged error by error and the old config stays.
//! * SIGUSR1: a state and statistics summary in the log.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::config::{self, Config, Resolved};
use crate::daemonize::Ready;
use crate::dhcp::HostTable;
use crate::log::{self, Level};
use crate::pidfile::PidFile;
use crate::stats::{self, Counter};
use crate::task::{SHUTDOWN_BUDGET, Stage, Supervisor, TaskEnd};
use crate::vrrp::Role;
use crate::{event, metrics, privilege, sd_notify};

/// Exit codes (documented in README and `hamasq --help`).
pub mod exit {
    pub const OK: u8 = 0;
    /// Start-up or runtime failure: a task failed, a port was busy, ...
    pub const FAILURE: u8 = 1;
    /// The config (or the command line) is invalid.
    pub const CONFIG: u8 = 2;
}

/// The channels of design §1. Subsystems take the ends they need.
pub struct Channels {
    /// vrrp → dhcp: one per `[vrrp]` instance, in config order (each DHCP
    /// subnet follows the instance that owns its VIP, design §4).
    pub roles: Vec<watch::Sender<Role>>,
    /// dhcp → dns.
    pub hosts: watch::Sender<Arc<HostTable>>,
    /// daemon → dns, on reload: the new `[dns]` (none once removed).
    pub dns_config: watch::Sender<Option<Arc<crate::dns::config::DnsConfig>>>,
    /// daemon → dhcp: the re-resolved plan after a reload.
    pub dhcp_plan: watch::Sender<Option<Arc<crate::dhcp::server::Plan>>>,
}

impl Channels {
    pub fn new(config: Arc<Config>, vrrp_instances: usize) -> Channels {
        Channels {
            roles: (0..vrrp_instances)
                .map(|_| watch::Sender::new(Role::initial(true)))
                .collect(),
            hosts: watch::Sender::new(Arc::new(HostTable::default())),
            dns_config: watch::Sender::new(config.dns.clone().map(Arc::new)),
            dhcp_plan: watch::Sender::new(None),
        }
    }
}

/// What `main` hands the daemon.
pub struct Options {
    pub config_path: PathBuf,
    /// `--log-level`, which wins over the file, also after a reload.
    pub log_level: Option<Level>,
    /// `--foreground`: where logs go when `log-target` is not set.
    pub foreground: bool,
}

struct Daemon {
    opts: Options,
    sigs: Signals,
    current: Resolved,
    channels: Channels,
    tasks: Supervisor,
    started: Instant,
    board: crate::status::Board,
    reloads: Counter,
    reload_failures: Counter,
}

/// Applies `[general]` logging settings (the CLI level wins).
pub fn apply_logging(cfg: &Config, cli_level: Option<Level>, foreground: bool) {
    let g = &cfg.general;
    log::configure(
        g.log_target_for(foreground),
        cli_level.unwrap_or(g.log_level),
        g.log_rate_limit,
    );
}

/// Runs the daemon to the end; returns the process exit code.
pub async fn run(opts: Options, resolved: Resolved, mut ready: Ready) -> u8 {
    match start(opts, resolved).await {
        Ok((mut d, _pid)) => {
            event!(
                Info,
                "daemon.ready",
                "pid={} version={} config={} tasks={}",
                std::process::id(),
                env!("CARGO_PKG_VERSION"),
                d.opts.config_path.display(),
                log::list(d.tasks.names())
            );
            ready.report(exit::OK);
            sd_notify::notify("READY=1\nSTATUS=running");
            let code = d.main_loop().await;
            sd_notify::notify("STOPPING=1");
            let ended = d.tasks.shutdown(SHUTDOWN_BUDGET).await;
            for (name, end) in ended {
                match end {
                    TaskEnd::Ok => event!(Debug, "task.stopped", "task={name}"),
                    other => event!(
                        Warn,
                        "task.stop_unclean",
                        "task={name} end={}",
                        log::q(describe(other))
                    ),
                }
            }
            event!(
                Info,
                "daemon.stopped",
                "exit={code} uptime_s={}",
                d.started.elapsed().as_secs()
            );
            code
            // _pid dropped here: the pid file is removed last.
        }
        Err(cause) => {
            event!(Error, "daemon.start_failed", "cause={}", log::q(&cause));
            // The command that started a background daemon still has its
            // stderr until the start is reported: say why there too.
            if log::target() != log::Target::Stderr {
                eprintln!("hamasq: cannot start: {cause}");
            }
            ready.report(exit::FAILURE);
            exit::FAILURE
        }
    }
}

/// The signals the daemon acts on.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
}

/// A config read, checked and resolved off the loop (boxed: it is large).
type Loaded = Result<Box<Resolved>, Vec<config::ConfigError>>;

/// What woke the main loop.
enum Wake {
    Stop(&'static str),
    Reload,
    /// The reload's parse, validation and resolution finished off the loop.
    Reloaded(Result<Loaded, tokio::task::JoinError>),
    Summary,
    TaskEnded(&'static str, TaskEnd),
}

async fn start(opts: Options, resolved: Resolved) -> Result<(Daemon, Option<PidFile>), String> {
    // Signal handlers first, so a SIGTERM during start-up is not lost.
    let mk = |k: SignalKind, n: &str| {
        signal(k).map_err(|e| format!("cannot install the {n} handler: {e}"))
    };
    let sigs = Signals {
        term: mk(SignalKind::terminate(), "SIGTERM")?,
        int: mk(SignalKind::interrupt(), "SIGINT")?,
        hup: mk(SignalKind::hangup(), "SIGHUP")?,
        usr1: mk(SignalKind::user_defined1(), "SIGUSR1")?,
    };

    let g = resolved.config.general.clone();
    for w in &resolved.warnings {
        event!(Warn, "config.warning", "{w}");
    }
    if let Some(dir) = g.pid_file.as_deref().and_then(std::path::Path::parent)
        && !dir.as_os_str().is_empty()
        && !dir.is_dir()
    {
        // `--test` accepted it because its parent exists (/run/hamasq
        // outside a systemd unit's RuntimeDirectory=).
        std::fs::create_dir(dir).map_err(|e| {
            format!(
                "pid file directory {}: cannot create it: {e}",
                dir.display()
            )
        })?;
    }
    let pid = match &g.pid_file {
        Some(p) => Some(
            PidFile::acquire(p, std::process::id())
                .map_err(|e| format!("pid file {}: {e}", p.display()))?,
        ),
        None => None,
    };
    prepare_state_dir(&resolved)?;

    let cfg = Arc::new(resolved.config.clone());
    let channels = Channels::new(cfg, resolved.vrrp.len());
    let mut tasks = Supervisor::default();
    // What the control socket, the metrics endpoint and SIGUSR1 read.
    let mut board = crate::status::Board::new(stats::global());

    // Sockets are bound before privileges are dropped.
    let control = match g.control_socket.clone() {
        Some(path) => Some((crate::control::bind(&path)?, path)),
        None => None,
    };
    if let Some(addr) = g.metrics_listen {
        let listener = metrics::bind(addr).await.map_err(|e| e.0)?;
        let allow = g.metrics_allow.clone();
        let board = board.clone();
        tasks.spawn("metrics", Stage::Service, move |sd| {
            metrics::serve(listener, allow, board, sd)
        });
    }

    // Each instance publishes its role; the DHCP subnets follow the
    // instance that owns their VIP (design §4, `config::resolve::join_vrrp`).
    // [ha] (design §9): the pair link's state feeds VRRP (no preemption
    // until caught up) and status; its ends go to the DHCP task.
    let mut ha = resolved.ha.map(|pair| HaWiring {
        pair,
        state: watch::Sender::new(crate::ha::PeerState::default()),
        sync: watch::Sender::new(crate::vrrp::router::PeerSync::default()),
        ends: Some(crate::dhcp::peer::channel()),
    });
    if let Some(w) = &ha {
        board.set_peer(w.state.subscribe());
        let reg = board.registry();
        let rx = w.state.subscribe();
        reg.gauge(
            "hamasq_ha_connected",
            "1 while the pair link to the peer is up and authenticated.",
            move || u64::from(rx.borrow().connected),
        );
        let rx = w.state.subscribe();
        reg.gauge(
            "hamasq_ha_caught_up",
            "1 once this box has stored everything its peer had when they connected.",
            move || u64::from(rx.borrow().caught_up),
        );
        let rx = w.state.subscribe();
        reg.gauge(
            "hamasq_ha_lag_changes",
            "This box's changes the peer has not acknowledged yet.",
            move || rx.borrow().lag,
        );
        let (rx, sync) = (w.state.subscribe(), w.sync.clone());
        tasks.spawn("ha-sync", Stage::Service, move |sd| {
            forward_peer_sync(rx, sync, sd)
        });
    }

    for (v, role) in resolved.vrrp.iter().zip(&channels.roles) {
        let role = Some(role.clone());
        // IPv4 or IPv6 by the instance's addresses (RFC 9568 §7.3).
        let mut task =
            crate::vrrp::driver::AnyTask::open(v.config.clone(), v.ifindex, v.primary, role)?;
        if let Some(w) = &ha {
            task = task.with_peer_sync(w.sync.subscribe());
        }
        board.add_vrrp(task.status());
        let name: &'static str = Box::leak(format!("vrrp-{}", v.config.name).into_boxed_str());
        tasks.spawn(name, Stage::Vrrp, move |sd| task.run(sd));
    }

    // [ra NAME]: router advertisements (issue 15 item 3), stopped with
    // DHCP (stage 1), before VRRP steps down. Gated by the instance
    // `v6_service_gate` picks (RFC 9568 §6.4.2, §6.4.3: only the Active
    // advertises); an IPv6 instance also gives the source, its virtual
    // link-local, and the default RDNSS, its VIPs (design §10).
    for ra in &resolved.config.ra {
        let (index, gate6) =
            config::resolve::v6_service_gate(&resolved.vrrp, ra.vrrp.as_deref(), &ra.interface);
        let domain = resolved
            .config
            .dns
            .as_ref()
            .and_then(|d| d.domain.as_deref());
        let wiring = crate::ra::driver::Wiring {
            role: index.map(|i| channels.roles[i].subscribe()),
            source: gate6.as_ref().map(|g| g.link_local),
            dns: gate6.map(|g| g.dns_servers()).unwrap_or_default(),
            dhcpv6: resolved
                .dhcpv6
                .iter()
                .any(|d| d.config.interface == ra.interface),
        };
        let task = crate::ra::driver::RaTask::open(ra, domain, wiring)?;
        let name: &'static str = Box::leak(format!("ra-{}", ra.name).into_boxed_str());
        tasks.spawn(name, Stage::Dhcp, move |sd| task.run(sd));
    }

    if let Some(plan) = &resolved.dhcp {
        let dhcp = resolved
            .config
            .dhcp
            .as_ref()
            .expect("a DHCP plan comes from a [dhcp] section");
        let domain = resolved.config.dns.as_ref().and_then(|d| d.domain.clone());
        let links = crate::dhcp::driver::Links {
            hosts: channels.hosts.clone(),
            roles: channels
                .roles
                .iter()
                .map(watch::Sender::subscribe)
                .collect(),
            plans: channels.dhcp_plan.subscribe(),
            counts: address_gauges(),
            peer: None,
            neigh: None,
        };
        let mut links = links;
        let link_ends = match ha.as_mut().and_then(|w| w.ends.take()) {
            Some((dhcp_end, link_end)) => {
                links.peer = Some(dhcp_end);
                Some(link_end)
            }
            None => None,
        };
        // ipv6-names: the neighbour watcher feeds the DHCP task (design
        // §10); with [ha], its own entries go to the peer and the peer's
        // come back to be merged.
        let mut neigh_link = None;
        if dhcp.ipv6_names {
            let tx = watch::Sender::new(Arc::default());
            links.neigh = Some(tx.subscribe());
            let mut task = crate::neigh::driver::NeighTask::open(&dhcp.interfaces, tx)?;
            if link_ends.is_some() {
                let own = watch::Sender::new(Arc::default());
                let peer = watch::Sender::new(Arc::default());
                neigh_link = Some(crate::ha::driver::NeighLink {
                    own: own.subscribe(),
                    peer: peer.clone(),
                });
                task = task.with_peer(own, peer.subscribe());
            }
            tasks.spawn("neigh", Stage::Dhcp, move |sd| task.run(sd));
        }
        let opened =
            crate::dhcp::driver::DhcpTask::open(&g.state_dir, dhcp, plan.clone(), domain, links)?;
        if let (Some(w), Some(ends), Some(h)) = (ha.take(), link_ends, resolved.config.ha.as_ref())
        {
            let task = open_ha(&g.state_dir, h, w.pair, opened.store_created).await?;
            let ch = crate::ha::driver::Channels {
                dhcp: ends,
                state: w.state,
                neigh: neigh_link,
            };
            tasks.spawn("ha", Stage::Leases, move |sd| task.run(ch, sd));
        }
        // dhcp-script: its own task, stopped after DHCP and VRRP.
        if let Some((hook_cfg, rx)) = opened.hook {
            tasks.spawn("dhcp-script", Stage::Leases, move |sd| {
                crate::dhcp::lease_hook::run(hook_cfg, rx, sd)
            });
        }
        let task = opened.task;
        tasks.spawn("dhcp", Stage::Dhcp, move |sd| task.run(sd));
        board.set_dhcp(opened.queries);
    }
    // [dhcpv6 NAME]: stateless DHCPv6, gated like the RAs (design §10).
    for d in &resolved.dhcpv6 {
        let (index, _) = config::resolve::v6_service_gate(
            &resolved.vrrp,
            d.config.vrrp.as_deref(),
            &d.config.interface,
        );
        let role = index.map(|i| channels.roles[i].subscribe());
        let task = crate::dhcp6::driver::Dhcp6Task::open(d, role)?;
        let name: &'static str = Box::leak(format!("dhcpv6-{}", d.config.name).into_boxed_str());
        tasks.spawn(name, Stage::Dhcp, move |sd| task.run(sd));
    }
    if let Some(dns) = resolved.config.dns.as_ref().filter(|d| d.port != 0) {
        let task = crate::dns::driver::DnsTask::open(
            dns,
            channels.hosts.subscribe(),
            channels.dns_config.subscribe(),
        )?;
        board.set_dns(task.commands());
        tasks.spawn("dns", Stage::Dns, move |sd| task.run(sd));
    }
    // After DHCP and DNS: the board it reads holds their channels.
    if let Some((listener, path)) = control {
        let board = board.clone();
        tasks.spawn("control", Stage::Service, move |sd| {
            crate::control::serve(listener, path, board, sd)
        });
    }

    if let Some(run_as) = &resolved.run_as {
        if nix::unistd::Uid::effective().is_root() {
            privilege::drop_to(run_as)
                .map_err(|e| format!("cannot drop privileges to user {}: {e}", run_as.name))?;
            event!(
                Info,
                "daemon.privileges_dropped",
                "user={} uid={} gid={} caps=net_bind_service,net_admin,net_raw",
                run_as.name,
                run_as.uid,
                run_as.gid
            );
        } else if nix::unistd::Uid::effective() != run_as.uid {
            return Err(format!(
                "user = {} needs hamasq to be started as root",
                run_as.name
            ));
        }
    }

    let reg = board.registry();
    let started = Instant::now();
    reg.gauge(
        "hamasq_uptime_seconds",
        "Seconds since the daemon started.",
        move || started.elapsed().as_secs(),
    );
    reg.gauge(
        "hamasq_log_suppressed_total",
        "Log lines held back by log-rate-limit.",
        || log::SUPPRESSED_TOTAL.load(std::sync::atomic::Ordering::Relaxed),
    );
    let d = Daemon {
        opts,
        sigs,
        current: resolved,
        channels,
        tasks,
        started,
        board,
        reloads: reg.counter(
            "hamasq_config_reloads_total",
            "Successful config reloads (SIGHUP).",
        ),
        reload_failures: reg.counter(
            "hamasq_config_reload_failures_total",
            "Reloads refused because the new config was invalid.",
        ),
    };
    Ok((d, pid))
}

/// What `[ha]` wires between the tasks.
struct HaWiring {
    pair: config::resolve::HaPair,
    state: watch::Sender<crate::ha::PeerState>,
    sync: watch::Sender<crate::vrrp::router::PeerSync>,
    ends: Option<(crate::dhcp::peer::PeerEnds, crate::dhcp::peer::LinkEnds)>,
}

/// VRRP sees the pair link as [`crate::vrrp::router::PeerSync`] (RFC 9568
/// Preempt_Mode held while this box is behind its peer, design §9).
async fn forward_peer_sync(
    mut rx: watch::Receiver<crate::ha::PeerState>,
    sync: watch::Sender<crate::vrrp::router::PeerSync>,
    mut sd: crate::task::Shutdown,
) -> Result<(), crate::task::TaskError> {
    loop {
        let s = rx.borrow_and_update().clone();
        let new = crate::vrrp::router::PeerSync {
            connected: s.connected,
            caught_up: s.caught_up,
        };
        sync.send_if_modified(|v| std::mem::replace(v, new) != new);
        tokio::select! {
            _ = sd.wait() => return Ok(()),
            r = rx.changed() => if r.is_err() { return Ok(()) },
        }
    }
}

/// The pair link (design §9): its key, its epoch and where it stood in
/// the peer's stream (forgotten when the lease store is new), and its
/// listening socket, bound before privileges are dropped.
async fn open_ha(
    state_dir: &std::path::Path,
    h: &crate::ha::config::HaConfig,
    pair: config::resolve::HaPair,
    store_created: bool,
) -> Result<crate::ha::driver::HaTask, String> {
    let psk = crate::ha::auth::Psk::load(&h.key_file)
        .map_err(|e| format!("[ha] key-file {}: {e}", h.key_file.display()))?;
    let (st, lost) = crate::ha::state::load(state_dir, store_created).map_err(|e| {
        format!(
            "[ha] cannot keep {} in {}: {e}",
            crate::ha::state::FILE,
            state_dir.display()
        )
    })?;
    event!(
        Info,
        "ha.starting",
        "me={} peer={} port={} epoch={:016x} position_lost={lost} mclt_s={}",
        pair.me,
        pair.peer,
        h.port,
        st.epoch,
        h.mclt.as_secs()
    );
    crate::ha::driver::HaTask::open(crate::ha::driver::Settings {
        me: pair.me,
        peer: pair.peer,
        port: h.port,
        psk,
        timers: crate::ha::link::Timers::default(),
        epoch: st.epoch,
        seen: st.seen,
        state_dir: Some(state_dir.to_path_buf()),
    })
    .await
}

/// Creates `state-dir` if needed, owned by `user`, mode 0750.
fn prepare_state_dir(r: &Resolved) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = &r.config.general.state_dir;
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        format!("state-dir {}: cannot {what}: {e}", dir.display())
    };
    if !dir.is_dir() {
        std::fs::create_dir(dir).map_err(|e| fail("create it", &e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))
            .map_err(|e| fail("set its mode", &e))?;
    }
    if let Some(ra) = &r.run_as
        && nix::unistd::Uid::effective().is_root()
    {
        nix::unistd::chown(dir, Some(ra.uid), Some(ra.gid))
            .map_err(|e| fail("give it to the user", &e))?;
    }
    Ok(())
}

impl Daemon {
    /// Waits for a stop signal or a task failure. Returns the exit code.
    async fn main_loop(&mut self) -> u8 {
        // systemd's watchdog: pinged from this loop, which shares the one
        // runtime thread with every task, so a task that wedges the runtime
        // stops the pings and systemd restarts the daemon.
        let wd = sd_notify::watchdog_interval();
        let mut watchdog = tokio::time::interval(wd.unwrap_or(Duration::from_secs(3600)));
        if let Some(i) = wd {
            event!(Info, "daemon.watchdog", "interval_ms={}", i.as_millis());
        }
        // A reload reads, validates and resolves the file on a blocking
        // thread: the runtime has one thread, and a large file (40,000
        // dhcp-host lines) must not stall DNS answers, DHCP or VRRP adverts
        // meanwhile. Only the finished result is applied here. A SIGHUP
        // during a reload asks for one more after it.
        let mut pending: Option<tokio::task::JoinHandle<_>> = None;
        let mut again = false;
        loop {
            let wake = tokio::select! {
                _ = watchdog.tick(), if wd.is_some() => {
                    sd_notify::notify("WATCHDOG=1");
                    continue;
                }
                _ = self.sigs.term.recv() => Wake::Stop("SIGTERM"),
                _ = self.sigs.int.recv() => Wake::Stop("SIGINT"),
                _ = self.sigs.hup.recv() => Wake::Reload,
                _ = self.sigs.usr1.recv() => Wake::Summary,
                (name, end) = self.tasks.next_end() => Wake::TaskEnded(name, end),
                r = async { pending.as_mut().expect("guarded").await }, if pending.is_some() => {
                    Wake::Reloaded(r)
                }
            };
            match wake {
                Wake::Stop(sig) => {
                    event!(Info, "daemon.stopping", "signal={sig}");
                    return exit::OK;
                }
                Wake::Reload if pending.is_some() => again = true,
                Wake::Reload => pending = Some(self.begin_reload()),
                Wake::Reloaded(r) => {
                    pending = None;
                    match r {
                        Ok(loaded) => self.finish_reload(loaded),
                        Err(e) => {
                            self.reload_failures.inc();
                            event!(
                                Error,
                                "config.reload_failed",
                                "file={} cause={} running=previous-config",
                                self.opts.config_path.display(),
                                log::q(format_args!("the reload thread failed: {e}"))
                            );
                            sd_notify::notify(
                                "READY=1\nSTATUS=reload failed: kept the previous config",
                            );
                        }
                    }
                    if std::mem::take(&mut again) {
                        pending = Some(self.begin_reload());
                    }
                }
                Wake::Summary => self.summary(),
                Wake::TaskEnded(name, end) => {
                    let cause = match end {
                        TaskEnd::Ok | TaskEnd::Aborted => {
                            "stopped on its own before shutdown".into()
                        }
                        other => describe(other),
                    };
                    event!(Error, "task.failed", "task={name} cause={}", log::q(cause));
                    return exit::FAILURE;
                }
            }
        }
    }

    /// Starts reading the config file again on a blocking thread.
    fn begin_reload(&self) -> tokio::task::JoinHandle<Loaded> {
        sd_notify::notify(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}",
            sd_notify::monotonic_usec()
        ));
        let path = self.opts.config_path.clone();
        event!(Info, "config.reloading", "file={}", path.display());
        tokio::task::spawn_blocking(move || config::load(&path).map(Box::new))
    }

    /// Applies a reloaded config, or keeps the running one when it failed.
    fn finish_reload(&mut self, loaded: Loaded) {
        let path = &self.opts.config_path;
        match loaded.map(|b| *b) {
            Err(errs) => {
                for e in &errs {
                    event!(Error, "config.error", "{e}");
                }
                self.reload_failures.inc();
                event!(
                    Error,
                    "config.reload_failed",
                    "file={} errors={} running=previous-config",
                    path.display(),
                    errs.len()
                );
                sd_notify::notify("READY=1\nSTATUS=reload failed: kept the previous config");
            }
            Ok(new) => {
                for w in &new.warnings {
                    event!(Warn, "config.warning", "{w}");
                }
                for key in restart_needed(&self.current.config, &new.config) {
                    event!(
                        Warn,
                        "config.restart_needed",
                        "section=general key={key} note=\"takes effect at the next start; still using the old value\""
                    );
                }
                apply_logging(&new.config, self.opts.log_level, self.opts.foreground);
                // Keys that need a restart keep their running values.
                let mut merged = new;
                let old = &self.current.config.general;
                merged.config.general.pid_file = old.pid_file.clone();
                merged.config.general.state_dir = old.state_dir.clone();
                merged.config.general.user = old.user.clone();
                merged.config.general.metrics_listen = old.metrics_listen;
                merged.config.general.control_socket = old.control_socket.clone();
                merged.run_as = self.current.run_as.clone();
                // Sections whose tasks run as started: VRRP, router
                // advertisements (they keep going unchanged, so hosts lose
                // nothing on a reload) and DHCPv6.
                let cur = &self.current;
                keep_running("vrrp", &mut merged.config.vrrp, &cur.config.vrrp);
                merged.vrrp = cur.vrrp.clone();
                keep_running("ra", &mut merged.config.ra, &cur.config.ra);
                keep_running("dhcpv6", &mut merged.config.dhcpv6, &cur.config.dhcpv6);
                merged.dhcpv6 = cur.dhcpv6.clone();
                // New DNS limits must fit the open-file limit too (issue 17
                // item 8): raised within the hard limit, or the limits
                // lowered and logged when even that is short.
                crate::rlimit::fit_open_files(&mut merged.config);
                // The DHCP subnets follow the instances that keep running.
                if let Some(p) = merged.dhcp.as_mut() {
                    for e in config::resolve::join_vrrp(&mut p.subnets, &merged.vrrp, path) {
                        event!(
                            Warn,
                            "config.error",
                            "{e} (with the running [vrrp] instances)"
                        );
                    }
                }
                let script = |c: &Config| {
                    c.dhcp
                        .as_ref()
                        .map(|d| (d.script.clone(), d.script_on_renewal))
                };
                if script(&merged.config) != script(&self.current.config) {
                    event!(
                        Warn,
                        "config.restart_needed",
                        "section=dhcp key=dhcp-script note=\"takes effect at the next start\""
                    );
                }
                let v6_names = |c: &Config| c.dhcp.as_ref().map(|d| d.ipv6_names);
                if v6_names(&merged.config) != v6_names(&self.current.config) {
                    event!(
                        Warn,
                        "config.restart_needed",
                        "section=dhcp key=ipv6-names note=\"takes effect at the next start\""
                    );
                }
                if merged.config.dhcp.is_some() != self.current.config.dhcp.is_some() {
                    event!(
                        Warn,
                        "config.restart_needed",
                        "section=dhcp note=\"adding or removing [dhcp] takes effect at the next start\""
                    );
                }
                if let Some(p) = &merged.dhcp {
                    self.channels
                        .dhcp_plan
                        .send_replace(Some(Arc::new(p.clone())));
                }
                self.channels
                    .dns_config
                    .send_replace(merged.config.dns.clone().map(Arc::new));
                self.current = merged;
                self.reloads.inc();
                event!(Info, "config.reloaded", "file={}", path.display());
                sd_notify::notify("READY=1\nSTATUS=running");
            }
        }
    }

    /// Each instance's role, `lan:active,guest:backup`; `standalone`
    /// without VRRP.
    fn roles(&self) -> String {
        if self.channels.roles.is_empty() {
            return Role::Standalone.to_string();
        }
        let names = self.current.vrrp.iter().map(|v| v.config.name.as_str());
        names
            .zip(&self.channels.roles)
            .map(|(n, r)| format!("{n}:{}", *r.borrow()))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn summary(&self) {
        event!(
            Info,
            "stats.summary",
            "uptime_s={} config={} log_level={} role={} dhcp_names={} tasks={} reloads={} reload_failures={} log_suppressed={} more=\"hamasq status; metrics-listen\"",
            self.started.elapsed().as_secs(),
            self.opts.config_path.display(),
            log::level(),
            self.roles(),
            self.channels.hosts.borrow().len(),
            log::list(self.tasks.names()),
            self.reloads.get(),
            self.reload_failures.get(),
            log::SUPPRESSED_TOTAL.load(std::sync::atomic::Ordering::Relaxed)
        );
        for (event_name, text) in self.board.summary() {
            match event_name {
                "stats.dhcp" => event!(Info, "stats.dhcp", "{text}"),
                _ => event!(Info, "stats.dns", "{text}"),
            }
        }
        // Every counter too, but only for someone debugging: at info the
        // summary stays a few lines.
        if log::enabled(Level::Debug) {
            for (name, v) in self.board.all_metrics() {
                event!(Debug, "stats.metric", "{name}={v}");
            }
        }
    }
}

/// Kea's address statistics per pool as labelled gauges, fed by the DHCP
/// task over a watch channel (read at each scrape, never blocking it).
fn address_gauges() -> watch::Sender<Arc<Vec<crate::dhcp::report::PoolCount>>> {
    use crate::dhcp::report::PoolCount;
    let (tx, rx) = watch::channel(Arc::new(Vec::<PoolCount>::new()));
    let family = |name: &'static str, help: &'static str, get: fn(&PoolCount) -> u64| {
        let rx = rx.clone();
        stats::global().gauge_family(name, help, move || {
            rx.borrow().iter().map(|p| (p.labels(), get(p))).collect()
        });
    };
    family(
        "hamasq_dhcp_addresses_total",
        "Addresses in the pool (Kea's total-addresses).",
        |p| p.total,
    );
    family(
        "hamasq_dhcp_addresses_assigned_total",
        "Addresses of the pool with an active lease (Kea's assigned-addresses).",
        |p| p.assigned,
    );
    family(
        "hamasq_dhcp_addresses_declined_total",
        "Addresses of the pool under DECLINE quarantine (Kea's declined-addresses).",
        |p| p.declined,
    );
    tx
}

/// How a task ended, in words.
fn describe(end: TaskEnd) -> String {
    match end {
        TaskEnd::Ok => "stopped".into(),
        TaskEnd::Failed(e) => e.0,
        TaskEnd::Panicked(m) => format!("panic: {m}"),
        TaskEnd::Aborted => "aborted at the end of the shutdown budget".into(),
    }
}

/// A section whose tasks run as started (`[vrrp]`, `[ra]`, `[dhcpv6]`):
/// a reload keeps the running one and says a change needs a restart.
fn keep_running<T: PartialEq + Clone>(section: &str, new: &mut T, running: &T) {
    if new != running {
        event!(
            Warn,
            "config.restart_needed",
            "section={section} note=\"[{section}] changes take effect at the next start\""
        );
        *new = running.clone();
    }
}

/// `[general]` keys whose change only takes effect at the next start.
pub fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&old.general, &new.general);
    let mut v = Vec::new();
    if a.pid_file != b.pid_file {
        v.push("pid-file");
    }
    if a.state_dir != b.state_dir {
        v.push("state-dir");
    }
    if a.user != b.user {
        v.push("user");
    }
    if a.metrics_listen != b.metrics_listen {
        v.push("metrics-listen");
    }
    if a.metrics_allow != b.metrics_allow {
        v.push("metrics-allow");
    }
    if a.control_socket != b.control_socket {
        v.push("control-socket");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_have_one_role_per_instance_and_an_empty_host_table() {
        let cfg = Arc::new(config::parse_and_validate(std::path::Path::new("t.conf"), "").unwrap());
        let c = Channels::new(cfg.clone(), 0);
        assert!(c.roles.is_empty());
        assert!(c.hosts.subscribe().borrow().is_empty());
        // Two instances: each starts in Initialize and changes alone.
        let c = Channels::new(cfg, 2);
        let rx: Vec<_> = c.roles.iter().map(watch::Sender::subscribe).collect();
        assert!(rx.iter().all(|r| *r.borrow() == Role::Initialize));
        c.roles[1].send_replace(Role::Active);
        assert_eq!(*rx[0].borrow(), Role::Initialize);
        assert_eq!(*rx[1].borrow(), Role::Active);
    }

    #[test]
    fn restart_needed_lists_the_keys_that_changed() {
        let p = std::path::Path::new("t.conf");
        let a =
            config::parse_and_validate(p, "[general]\nstate-dir = /a\nlog-level = info\n").unwrap();
        let b = config::parse_and_validate(
            p,
            "[general]\nstate-dir = /b\nlog-level = debug\nmetrics-listen = 127.0.0.1:1\n",
        )
        .unwrap();
        // The control socket lives in state-dir by default, so it moves too.
        assert_eq!(
            restart_needed(&a, &b),
            vec!["state-dir", "metrics-listen", "control-socket"]
        );
        assert!(restart_needed(&a, &a).is_empty());
    }
}
