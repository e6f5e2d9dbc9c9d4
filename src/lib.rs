//! hamasq: one small process for a LAN gateway pair, doing what dnsmasq +
//! keepalived + a glue script do today.
//!
//! ```text
//!          LAN clients (DHCP, DNS)                     peer box (same config, other scope)
//!                  |                                            |
//!    ==============+=========== eth0 ===========================+=====
//!                  |   VIP (held by the Active box)              |
//!         +--------+---------------------------------------------------+
//!         | hamasq                                                     |
//!         |  vrrp --watch<Role>--> dhcp --watch<Arc<HostTable>>--> dns  |
//!         |   ^ raw IP proto 112     ^ UDP 67                ^ UDP/TCP 53 |
//!         +------------------------------------------------------------+
//! ```
//!
//! Module map (design §2):
//! * [`daemon`]: channels, tasks, signals, reload, shutdown order.
//! * [`config`]: INI in three stages (parse, validate, resolve); [`section`]:
//!   the grammar each subsystem reads its `[section]` with (a leaf).
//! * [`clock`]: `Mono` for protocol timers, `UnixTime` for lease expiry.
//! * [`log`]: one greppable line per event, rate-limited for bad input.
//! * [`stats`]: the one counter registry; [`status`]: the one status board
//!   (each task publishes over a `watch`; the control socket, SIGUSR1
//!   summary and [`metrics`] endpoint read it). Each protocol's `error.rs`
//!   maps its error classes to a counter and a [`log::Fault`] (design §8).
//! * [`vrrp`], [`dhcp`]: the types the spine carries between subsystems
//!   ([`vrrp::Role`], [`dhcp::HostTable`]); the protocol cores arrive with
//!   their issues.
//! * [`pidfile`], [`privilege`], [`daemonize`], [`sd_notify`]: the process
//!   life of a daemon on a router.

pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod daemonize;
pub mod dhcp;
pub mod dns;
pub mod ha;
pub mod import;
pub mod log;
pub mod memory;
pub(crate) mod metrics;
pub mod net;
#[cfg(test)]
mod pair_sim;
pub(crate) mod pidfile;
pub(crate) mod privilege;
pub mod rlimit;
pub(crate) mod sd_notify;
pub(crate) mod section;
pub(crate) mod stats;
pub(crate) mod status;
pub mod task;
#[doc(hidden)]
pub mod testkit;
pub mod vrrp;
