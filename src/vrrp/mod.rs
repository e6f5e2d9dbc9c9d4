//! VRRP (RFC 9568). The speaker itself arrives with its issue; this module
//! already holds the [`Role`] that it publishes on the spine's
//! `watch<Role>` channel and that the DHCP gate reads (design §1, §4).

mod role;
pub mod vip;

pub use role::Role;
