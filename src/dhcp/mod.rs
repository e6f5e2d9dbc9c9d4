//! DHCPv4. The server arrives with its issue; this module already holds the
//! [`HostTable`] it publishes to DNS on the spine's
//! `watch<Arc<HostTable>>` channel (design §1).

mod host_table;

pub use host_table::HostTable;
