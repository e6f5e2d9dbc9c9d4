//! DHCPv4. The server arrives with its issue; this module already holds the
//! [`HostTable`] it publishes to DNS on the spine's
//! `watch<Arc<HostTable>>` channel (design §1), the client and lease types,
//! and the durable lease store.

pub mod binding;
mod host_table;
pub mod leases;

pub use binding::{ClientKey, HwAddr, Lease};
pub use host_table::HostTable;
