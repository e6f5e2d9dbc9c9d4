//! The pair link (design §9, issue 13): one authenticated TCP connection
//! between the two boxes of a pair, over which each streams its committed
//! lease changes to the other.
//!
//! * [`auth`]: the pre-shared key, per-connection session keys from both
//!   sides' fresh nonces, and a MAC on every frame (HMAC-SHA-256).
//! * [`link`]: one connection, sans-IO: handshake, framing, heartbeat,
//!   the dead-peer timer, and why a link closed.
//! * [`config`]: the `[ha]` section.
//! * [`state`]: the epoch and the position in the peer's stream, kept
//!   beside the lease store.
//!
//! What a box does with a peer's change is the DHCP core's decision
//! ([`crate::dhcp::merge`]): the DHCP task owns the leases; this module
//! depends on `dhcp`, never the other way round.
//! * [`driver`]: the TCP connection, reconnects and the DHCP task's ends.
//! * [`stream`]: the replication stream over a link: numbered changes
//!   with remaining lifetimes, acknowledgements, a bounded window, and the
//!   resume (or full transfer) on every new connection.

pub mod auth;
pub mod config;
pub mod driver;
pub mod link;
pub mod state;
pub mod stream;
