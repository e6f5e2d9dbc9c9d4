//! DHCPv4 server (RFC 2131).
//!
//! * [`config`]: the `[dhcp]` keys; [`subnet`]: joined with the interfaces.
//! * [`wire`]: bytes ⇄ packets; [`options`], [`names`]: option values and
//!   client names.
//! * [`server`]: the sans-IO core, one function per RFC 2131 §4.3 case;
//!   [`bindings`]: the lease table in memory, its indexes and the packed
//!   lease; [`allocate`]: the offers index and the address choice.
//! * [`leases`]: the durable store (journal + dnsmasq-format snapshot);
//!   [`commit`]: group commit, sans-IO (what is written together, when,
//!   and which replies a write releases).
//! * [`adapt`]: the pure adapters, wire packet ⇄ core request and reply.
//! * [`driver`] and [`socket`]: the task and its socket (I/O only);
//!   [`error`]: each error class's fault, level and counter.
//! * [`lease_hook`]: `dhcp-script`, dnsmasq's lease-change hook.
//! * [`HostTable`]: the names published to DNS (design §1).
//!
//! Dependencies: `dhcproto` stays, for its vocabulary (the message-type
//! enum and the magic cookie in [`wire`]) and as an independent decoder the
//! wire tests cross-check our encodings against. Its own decoders are not
//! used on peer input (see [`wire`]'s "Why not dhcproto's decoder"); with
//! fat LTO only the enum and the constant reach the binary: the release
//! binary measured 2,182,712 bytes with it and 2,182,872 without it (the
//! enum replaced by the raw code), so it costs nothing to keep.

pub mod adapt;
pub(crate) mod allocate;
pub mod binding;
pub(crate) mod bindings;
pub(crate) mod commit;
pub(crate) mod config;
pub(crate) mod counters;
pub(crate) mod driver;
pub(crate) mod error;
pub(crate) mod gate;
mod host_table;
pub(crate) mod lease_hook;
pub mod leases;
pub(crate) mod logline;
pub(crate) mod merge;
pub(crate) mod names;
pub(crate) mod open;
pub mod options;
pub(crate) mod peer;
pub(crate) mod ping;
pub mod report;
pub mod server;
pub mod socket;
pub mod subnet;
pub mod wire;

pub use binding::{ClientKey, HwAddr, Lease};
pub use host_table::HostTable;
pub use server::Plan;

/// Joins `[dhcp]` with this machine's interfaces into the server's plan
/// (config stage 3). `dns_server`: this box answers DNS on port 53, so
/// local subnets get it as their DNS server (dnsmasq's default).
pub fn plan_for(
    cfg: &config::DhcpConfig,
    ifaces: Vec<crate::net::IfAddr>,
    dns_server: bool,
    file: &std::path::Path,
) -> Result<Plan, Vec<crate::section::ConfigError>> {
    let subnets = subnet::plan(cfg, &ifaces, file)?;
    let mut p = Plan::new(cfg, subnets);
    p.local_addrs = ifaces;
    p.dns_server = dns_server;
    Ok(p)
}
