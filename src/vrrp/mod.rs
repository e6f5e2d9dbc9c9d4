//! VRRP (RFC 9568): [`packet`] (codec, both checksum forms) and
//! [`packet6`] (its IPv6 twin), [`router`] (the sans-IO §6 state machine,
//! one for both families), `na` (unsolicited Neighbor Advertisements),
//! [`vip`] (netlink and gratuitous ARP / NA), [`driver`] (the task),
//! [`config`] (`[vrrp NAME]`), `error` (each error class's fault, level and
//! counter), and the [`Role`] published on the spine's
//! `watch<Role>` channel that the DHCP gate reads (design §1, §4).

pub(crate) mod config;
pub mod driver;
mod error;
pub(crate) mod hooks;
pub(crate) mod na;
pub mod packet;
pub mod packet6;
mod role;
pub mod router;
#[cfg(test)]
mod sim;
pub mod vip;

pub(crate) mod status;
pub use role::Role;
