//! Router advertisements from the Active box, sourced from the virtual
//! link-local address (issue 15 item 3, design §10; RFC 4861 §6.2, RFC
//! 8106, RFC 9568 §6.4.3).
//!
//! * [`packet`]: the RS/RA codec (RFC 4861 §4.1, §4.2, §4.6; RFC 8106 §5).
//! * [`config`]: the `[ra NAME]` section (RFC 4861 §6.2.1 limits).
//! * [`core`]: the sans-IO scheduler: when an RA goes out, gated by the
//!   VRRP role.
//! * [`driver`]: the task around it; [`socket`]: the raw ICMPv6 socket.
//!
//! RAs stay off unless an `[ra NAME]` section exists, so on OpenWrt odhcpd
//! can keep sending them.

pub mod config;
pub mod core;
pub mod driver;
pub mod packet;
pub mod socket;
