//! The pair link (design §9, issue 13): one authenticated TCP connection
//! between the two boxes of a pair, over which each streams its committed
//! lease changes to the other.
//!
//! * [`auth`]: the pre-shared key, per-connection session keys from both
//!   sides' fresh nonces, and a MAC on every frame (HMAC-SHA-256).
//! * [`link`]: one connection, sans-IO: handshake, framing, heartbeat,
//!   the dead-peer timer, and why a link closed.
//! * [`merge`]: what a box does with a peer's change at an address it
//!   may hold itself: the same decision on both boxes, conflicts counted,
//!   never two clients bound to one address.
//! * [`config`]: the `[ha]` section.
//! * [`driver`]: the TCP connection, reconnects and the DHCP task's ends.
//! * [`stream`]: the replication stream over a link: numbered changes
//!   with remaining lifetimes, acknowledgements, a bounded window, and the
//!   resume (or full transfer) on every new connection.

pub mod auth;
pub mod config;
pub mod driver;
pub mod link;
pub mod merge;
pub mod state;
pub mod stream;
