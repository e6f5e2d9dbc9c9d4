//! Stateless DHCPv6 (RFC 8415 §6.1), answered only by the Active box
//! (design §10): Information-request → DNS servers (RFC 3646 §3), the
//! domain search list (RFC 3646 §4) and the information refresh time
//! (RFC 8415 §21.23), to clients on the link and behind relays (§19.3).
//!
//! * [`config`]: the `[dhcpv6 NAME]` section.
//! * [`core`]: the sans-IO server (RFC 8415 §16 validation, §18.3.6
//!   Reply), asking [`gate`] (the HA table) before it answers.
//! * [`driver`]: the UDP socket on port 547, joined to ff02::1:2 on the
//!   interface, and the task that runs the core.

pub mod config;
pub mod core;
pub mod driver;
pub mod gate;
