//! The DHCP task's side of the pair link (design §9): the types it trades
//! with the link task. They live here, not in `ha`, because `ha` depends
//! on `dhcp` and never the other way round; the DHCP task owns the lease
//! store and decides what a peer change does to it ([`super::merge`]).

use tokio::sync::{mpsc, oneshot, watch};

use super::binding::Lease;
use super::leases::Change;
use super::server::PeerConflict;

/// A batch of the peer's changes, in its stream's order.
pub struct PeerBatch {
    pub changes: Vec<Change>,
    /// Answered once what the batch changed here is durable (or not).
    pub done: oneshot::Sender<PeerStored>,
}

/// What became of a [`PeerBatch`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStored {
    /// Durable here (the link may acknowledge it to the peer).
    pub ok: bool,
    /// Addresses both boxes had given to different clients (resolved,
    /// counted and logged by the DHCP task).
    pub conflicts: Vec<PeerConflict>,
}

/// The DHCP task's ends of the pair link.
pub struct PeerEnds {
    /// This box's committed changes, in commit order, after their
    /// fdatasync.
    pub committed: mpsc::UnboundedSender<Vec<Change>>,
    /// The peer's changes to store.
    pub apply: mpsc::Receiver<PeerBatch>,
    /// A full transfer asks for every lease this box holds.
    pub snapshot: mpsc::Receiver<oneshot::Sender<Vec<Lease>>>,
    /// The link is up and this box has caught up with the peer (for the
    /// MCLT rule, [`super::server::Server::set_peer_synced`]).
    pub synced: watch::Receiver<bool>,
}

/// The link task's ends, matching [`PeerEnds`].
pub struct LinkEnds {
    pub committed: mpsc::UnboundedReceiver<Vec<Change>>,
    pub apply: mpsc::Sender<PeerBatch>,
    pub snapshot: mpsc::Sender<oneshot::Sender<Vec<Lease>>>,
    pub synced: watch::Sender<bool>,
}

/// Batches of peer changes queued before the link waits for the DHCP
/// task (a slow disk slows the peer's stream, never DHCP).
const APPLY_QUEUE: usize = 256;

/// Both ends.
pub fn channel() -> (PeerEnds, LinkEnds) {
    let (committed_tx, committed_rx) = mpsc::unbounded_channel();
    let (apply_tx, apply_rx) = mpsc::channel(APPLY_QUEUE);
    let (snap_tx, snap_rx) = mpsc::channel(2);
    let (synced_tx, synced_rx) = watch::channel(false);
    (
        PeerEnds {
            committed: committed_tx,
            apply: apply_rx,
            snapshot: snap_rx,
            synced: synced_rx,
        },
        LinkEnds {
            committed: committed_rx,
            apply: apply_tx,
            snapshot: snap_tx,
            synced: synced_tx,
        },
    )
}
