//! What a VRRP instance publishes for the status board
//! ([`crate::status::Board`]), over a `watch` the instance's task owns.

use std::net::IpAddr;
use std::time::Instant;

use tokio::sync::watch;

/// One VRRP instance, as its task last saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    /// `INIT`, `BACKUP`, `MASTER` (keepalived's words) or `FAULT` (link down).
    pub state: &'static str,
    pub priority: u8,
    pub vips: Vec<(IpAddr, u8)>,
    /// The Active router we follow (Backup).
    pub active_router: Option<IpAddr>,
    /// When an advert from another router was last accepted.
    pub last_heard: Option<Instant>,
    /// When the state last changed.
    pub since: Instant,
}

/// Publishes an instance's status on its channel, keeping `since` while
/// the state does not change. Readers are woken only on a change.
pub fn publish_vrrp(tx: &watch::Sender<VrrpStatus>, mut s: VrrpStatus) {
    tx.send_if_modified(|cur| {
        if cur.state == s.state {
            s.since = cur.since;
        }
        if *cur == s {
            return false;
        }
        *cur = s;
        true
    });
}
