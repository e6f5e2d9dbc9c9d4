//! DHCPv4 server (RFC 2131).
//!
//! * [`config`]: the `[dhcp]` keys; [`subnet`]: joined with the interfaces.
//! * [`wire`]: bytes ⇄ packets; [`options`], [`names`]: option values and
//!   client names.
//! * [`server`]: the sans-IO core, one function per RFC 2131 §4.3 case;
//!   [`allocate`]: bindings in memory, the offers index and the address
//!   choice;
//!   [`packed`]: a lease as memory holds it.
//! * [`leases`]: the durable store (journal + dnsmasq-format snapshot);
//!   [`commit`]: group commit, sans-IO (what is written together, when,
//!   and which replies a write releases).
//! * [`adapt`]: the pure adapters, wire packet ⇄ core request and reply.
//! * [`driver`] and [`socket`]: the task and its socket (I/O only);
//!   [`error`]: each error class's fault, level and counter.
//! * [`lease_hook`]: `dhcp-script`, dnsmasq's lease-change hook.
//! * [`HostTable`]: the names published to DNS (design §1).

pub mod adapt;
pub mod allocate;
pub mod binding;
pub mod commit;
pub mod config;
pub mod driver;
pub mod error;
pub mod gate;
mod host_table;
pub mod lease_hook;
pub mod leases;
pub mod merge;
pub mod names;
pub mod options;
pub mod packed;
pub mod ping;
pub mod report;
pub mod server;
pub mod socket;
pub mod subnet;
pub mod wire;

pub use binding::{ClientKey, HwAddr, Lease};
pub use host_table::HostTable;
