//! Opening the DHCP task (design §2: each task opens its own sockets and
//! files next to its driver, before privileges are dropped): the lease
//! store (importing dnsmasq's leases on a first start), port 67, the
//! `dhcp-ping` socket and the `dhcp-script` hook. The daemon spawns what
//! this returns.

use std::sync::Arc;

use tokio::sync::watch;

use super::counters::Counters;
use super::driver::{DhcpTask, Pipeline};
use super::host_table::HostTable;
use super::lease_hook::Note;
use super::peer::PeerEnds;
use super::server::{Plan, Server};
use crate::event;
use crate::vrrp::Role;

/// The channels the DHCP task is wired with (built by the daemon).
pub struct Links {
    /// The names it publishes to DNS.
    pub hosts: watch::Sender<Arc<HostTable>>,
    /// Each `[vrrp]` instance's role, by index (none without VRRP).
    pub roles: Vec<watch::Receiver<Role>>,
    /// A new plan on reload.
    pub plans: watch::Receiver<Option<Arc<Plan>>>,
    /// Address counts per pool, for the metrics endpoint.
    pub counts: watch::Sender<Arc<Vec<super::report::PoolCount>>>,
    /// `[ha]`: the pair link's ends.
    pub peer: Option<PeerEnds>,
    /// `ipv6-names`: the neighbour table, joined with the leases by MAC.
    pub neigh: Option<watch::Receiver<Arc<crate::neigh::Neighbours>>>,
}

/// What [`DhcpTask::open`] hands the daemon to spawn.
pub struct Opened {
    pub task: DhcpTask,
    /// `dhcp-script`: the hook task's settings and the notes it reads,
    /// told of every lease now (`old`/`del`) and of each change once it
    /// is on disk.
    pub hook: Option<(
        super::lease_hook::HookConfig,
        tokio::sync::mpsc::UnboundedReceiver<Note>,
    )>,
    /// The channel the control socket asks the task on.
    pub queries: tokio::sync::mpsc::Sender<super::report::Query>,
    /// The lease store was created now (first start, or a lost state
    /// directory): the pair link draws a new epoch.
    pub store_created: bool,
}

impl DhcpTask {
    /// Opens the lease store (importing dnsmasq's leases on a first
    /// start), binds port 67 and the `dhcp-ping` socket, and builds the
    /// task and its `dhcp-script` hook; the daemon spawns them. Errors are
    /// the operator's to fix and say which file or port.
    pub fn open(
        state_dir: &std::path::Path,
        cfg: &super::config::DhcpConfig,
        plan: Plan,
        dns_domain: Option<String>,
        links: Links,
    ) -> Result<Opened, String> {
        use super::{lease_hook, leases, socket};
        let (mut store, report) =
            leases::LeaseStore::open(state_dir, cfg.lease_fsync).map_err(|e| {
                format!(
                    "cannot open the lease store in {}: {e}",
                    state_dir.display()
                )
            })?;
        let mut leases = report.leases;
        let store_created = report.created;
        event!(
            Info,
            "dhcp.leases_loaded",
            "dir={} leases={} journal_records={} bad_records={} torn_tail={} durable={}",
            state_dir.display(),
            leases.len(),
            report.journal_records,
            report.bad_records,
            report.torn_tail,
            cfg.lease_fsync
        );
        if let (true, Some(path)) = (leases.is_empty(), &cfg.import_dnsmasq) {
            match leases::import_dnsmasq(path) {
                Ok((imported, counts)) => {
                    for l in &imported {
                        store.stage(&leases::Change::Upsert(l.clone()));
                    }
                    store
                        .commit()
                        .and_then(|()| store.compact(imported.iter()))
                        .map_err(|e| {
                            format!(
                                "cannot store the leases imported from {}: {e}",
                                path.display()
                            )
                        })?;
                    event!(
                        Info,
                        "dhcp.leases_imported",
                        "file={} leases={} bad_lines={}",
                        path.display(),
                        imported.len(),
                        counts.bad_lines
                    );
                    leases = imported;
                }
                // A missing dnsmasq file is normal after the first start.
                Err(e) => event!(
                    Warn,
                    "dhcp.import_skipped",
                    "file={} error={}",
                    path.display(),
                    crate::log::q(e)
                ),
            }
        }
        let sock = socket::DhcpSocket::bind(socket::SERVER_PORT).map_err(|e| {
            let ifaces: Vec<&str> = plan
                .subnets
                .iter()
                .filter_map(|s| s.local.as_ref().map(|l| l.name.as_str()))
                .collect();
            socket::bind_error(socket::SERVER_PORT, &ifaces, &e)
        })?;
        for s in &plan.subnets {
            event!(
                Info,
                "dhcp.subnet",
                "network={}/{} interface={} ranges={} peer_ranges={}",
                s.network,
                s.prefix,
                s.local.as_ref().map_or("relayed", |l| l.name.as_str()),
                s.ranges.len(),
                s.peer.len()
            );
        }
        let loaded = cfg.script.is_some().then(|| leases.clone());
        let server = Server::new(plan, leases);
        // dhcp-script: its own task (stopped after DHCP and VRRP), told of
        // every lease now (`old`/`del`) and of each change once it is on disk.
        let hook_parts = match &cfg.script {
            None => None,
            Some(script) => {
                crate::privilege::check_executable(script).map_err(|e| {
                    format!(
                        "dhcp-script {}: {e} (check the path in the config)",
                        script.display()
                    )
                })?;
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                let loaded = loaded
                    .unwrap_or_default()
                    .into_iter()
                    .map(|l| {
                        let d = server.domain_of(l.ip);
                        (l, d)
                    })
                    .collect();
                let _ = tx.send(lease_hook::Note::Loaded(loaded));
                let hook_cfg = lease_hook::HookConfig {
                    script: script.clone(),
                    on_renewal: cfg.script_on_renewal,
                    default_domain: dns_domain,
                    log_dhcp: cfg.log_dhcp,
                };
                Some((tx, (hook_cfg, rx)))
            }
        };
        let (query_tx, query_rx) = tokio::sync::mpsc::channel(4);
        // Loading freed the file buffer and the loaded list; hand those pages
        // back so a router's RSS reflects the leases, not the load.
        crate::memory::trim();
        let (hook, hook_task) = match hook_parts {
            Some((tx, t)) => (Some(tx), Some(t)),
            None => (None, None),
        };
        let task = DhcpTask {
            socket: sock,
            server,
            store: Some(store),
            hosts: links.hosts,
            roles: links.roles,
            plans: links.plans,
            log_dhcp: cfg.log_dhcp,
            quiet_dhcp: cfg.quiet_dhcp,
            counters: Counters::register(),
            pinger: if cfg.ping {
                Some(
                    crate::dhcp::ping::Pinger::open()
                        .map_err(|e| format!("dhcp-ping: cannot open an ICMP socket: {e}"))?,
                )
            } else {
                None
            },
            probing: Default::default(),
            commit: Pipeline::new(links.peer.is_some()),
            control: Some(query_rx),
            hook,
            counts: links.counts,
            peer: links.peer,
            neigh: links.neigh,
        };
        Ok(Opened {
            task,
            hook: hook_task,
            queries: query_tx,
            store_created,
        })
    }
}
