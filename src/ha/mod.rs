//! The pair link (design §9, issue 13): one authenticated TCP connection
//! between the two boxes of a pair, over which each streams its committed
//! lease changes to the other.
//!
//! * [`auth`]: the pre-shared key, per-connection session keys from both
//!   sides' fresh nonces, and a MAC on every frame (HMAC-SHA-256).
//! * [`link`]: one connection, sans-IO: handshake, framing, heartbeat,
//!   the dead-peer timer, and why a link closed.
//! * [`stream`]: the frames of the replication stream: numbered changes
//!   with remaining lifetimes (taken when sent), acknowledgements, the
//!   bounded window and ring of the outbox.
//! * [`replica`]: one box's side of the stream over any number of
//!   connections, sans-IO: resume or full transfer, batches for the store
//!   acknowledged once durable, catch-up. The pair simulation drives it
//!   too.
//! * [`neigh_sync`]: the IPv6 neighbours each box's kernel learnt (for
//!   AAAA names, design §10), one frame per MAC, soft state.
//! * [`driver`]: the TCP connection, reconnects and the DHCP task's ends.
//! * [`config`]: the `[ha]` section; [`state`]: this start's epoch and the
//!   position in the peer's stream, kept beside the lease store.
//!
//! What a box does with a peer's change is the DHCP core's decision
//! ([`crate::dhcp::merge`]): the DHCP task owns the leases; this module
//! depends on `dhcp`, never the other way round.

pub mod auth;
pub(crate) mod config;
pub(crate) mod driver;
pub(crate) mod link;
pub(crate) mod neigh_sync;
pub(crate) mod replica;
pub(crate) mod state;
pub(crate) mod stream;

/// The link as status, metrics and VRRP see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerState {
    pub connected: bool,
    /// This box has stored everything the peer had when they connected.
    pub caught_up: bool,
    /// Our changes the peer has not acknowledged.
    pub lag: u64,
    /// The peer's wall clock minus ours, seconds, at the last connect.
    pub skew_s: i64,
    /// Why the last connection ended.
    pub last_close: Option<&'static str>,
    /// Unix time of the last connect or disconnect.
    pub since: u64,
    /// Addresses both boxes had given to different clients, resolved.
    pub conflicts: u64,
    /// The last of them: address, the client kept, the client refused.
    pub last_conflict: Option<String>,
}
