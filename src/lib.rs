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
//! * [`daemon`]: channels, tasks, signals, reload, shutdown order; the only
//!   module that imports the task drivers. [`task`]: `Shutdown`,
//!   `TaskError` and the `Supervisor` (a leaf).
//! * [`config`]: INI in three stages (parse, validate, resolve); `section`:
//!   the grammar each subsystem reads its `[section]` with (a leaf).
//! * [`clock`]: `Mono` for protocol timers, `UnixTime` for lease expiry,
//!   both read through tokio's clock so driver tests run on virtual time.
//! * [`log`]: one greppable line per event, rate-limited for bad input.
//! * `stats`: the one counter registry; `status`: the one status board
//!   (each task publishes over a `watch`; the control socket, SIGUSR1
//!   summary and `metrics` endpoint read it). Each protocol's `error.rs`
//!   maps its error classes to a counter and a [`log::Fault`] (design §8).
//! * Protocol cores, sans-IO, one contract (`handle_*(now, input)`,
//!   `poll_timeout`, `handle_timeout`, `poll_transmit`/`poll_action`),
//!   each beside the driver that does its I/O:
//!   * [`dns`]: `resolver` / `forward` / `cache` / `local`, driver `dns::driver`;
//!   * [`dhcp`]: `server` (RFC 2131 cases) with `gate` (the HA table),
//!     `allocate`, `bindings`, `commit` (group commit), `merge` (a peer's
//!     change); driver `dhcp::driver` (opened by `dhcp::open`);
//!   * [`dhcp6`]: stateless DHCPv6 (RFC 8415 §6.1): `core` with `gate`
//!     (answered only by the Active), driver `dhcp6::driver`;
//!   * [`vrrp`]: `router` (RFC 9568), driver `vrrp::driver`;
//!   * [`ra`]: router advertisements (RFC 4861, RFC 8106): `packet`
//!     (RS/RA codec), `core` (the scheduler, gated by the VRRP role);
//!   * [`ha`]: the pair link (design §9): `link` (authenticated frames),
//!     `stream` and `replica` (the replication stream), driver `ha::driver`.
//! * [`neigh`]: the kernel's IPv6 neighbour table over rtnetlink (`wire`,
//!   the sans-IO `table`, driver `neigh::driver`): MAC → addresses, joined
//!   by the DHCP task with its leases into AAAA names (design §10).
//! * [`net`]: sockets with PKTINFO and this machine's interfaces.
//! * [`import`]: `hamasq import-dnsmasq`.
//! * `pidfile`, `privilege`, [`daemonize`], `sd_notify`, [`rlimit`],
//!   [`memory`]: the process life of a daemon on a router.
//! * [`testkit`] (hidden): the seeded PRNG, packet and query builders the
//!   tests share; `pair_sim` (tests only): two whole boxes on a virtual
//!   LAN, thousands of seeded schedules.

// The docs are read with --document-private-items: modules the binary and
// tests do not use are pub(crate), and their docs link each other.
#![allow(rustdoc::private_intra_doc_links)]

pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod daemonize;
pub mod dhcp;
pub mod dhcp6;
pub mod dns;
pub mod ha;
pub mod import;
pub mod log;
pub mod memory;
pub(crate) mod metrics;
pub mod neigh;
pub mod net;
#[cfg(test)]
mod pair_sim;
pub(crate) mod pidfile;
pub(crate) mod privilege;
pub mod ra;
pub mod rlimit;
pub(crate) mod sd_notify;
pub(crate) mod section;
pub(crate) mod stats;
pub(crate) mod status;
pub mod task;
#[doc(hidden)]
pub mod testkit;
pub mod vrrp;
