//! IPv6 neighbours of the LAN, learnt from the kernel's neighbour table
//! over rtnetlink, for AAAA names of DHCPv4 clients (design §10, issue 15
//! item 5): a client's DHCPv4 name answers AAAA with every global or ULA
//! address its MAC uses, privacy addresses included, instead of guessing
//! EUI-64 addresses (dnsmasq's `ra-names`).
//!
//! * [`wire`]: RTM_NEWNEIGH / RTM_DELNEIGH parsing (never panics) and the
//!   dump request;
//! * [`table`]: the sans-IO [`table::Watcher`] (which addresses and
//!   states count, aging, resync after an overflow);
//! * [`driver`]: the `neigh` task, which owns the socket and the watcher
//!   and publishes `watch<Arc<Neighbours>>` to the DHCP task, which joins
//!   it with its leases by MAC into the host table.

pub mod driver;
pub mod table;
pub mod wire;

use std::collections::HashMap;
use std::net::Ipv6Addr;

/// The next table from `rx`; pending for ever without a receiver or once
/// its sender is gone (the `select!` branch of each task that reads one).
pub async fn changed(
    rx: Option<&mut tokio::sync::watch::Receiver<std::sync::Arc<Neighbours>>>,
) -> Option<std::sync::Arc<Neighbours>> {
    if let Some(r) = rx
        && r.changed().await.is_ok()
    {
        return Some(r.borrow_and_update().clone());
    }
    std::future::pending().await
}

/// A snapshot: MAC → the IPv6 addresses it uses, each list sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Neighbours {
    by_mac: HashMap<[u8; 6], Vec<Ipv6Addr>>,
}

impl Neighbours {
    /// From `(MAC, address)` pairs (repeats folded).
    pub fn new(pairs: impl IntoIterator<Item = ([u8; 6], Ipv6Addr)>) -> Neighbours {
        let mut by_mac: HashMap<[u8; 6], Vec<Ipv6Addr>> = HashMap::new();
        for (mac, a) in pairs {
            by_mac.entry(mac).or_default().push(a);
        }
        for v in by_mac.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        Neighbours { by_mac }
    }

    /// The addresses of `mac` (any other length than 6 has none).
    pub fn addrs(&self, mac: &[u8]) -> &[Ipv6Addr] {
        <[u8; 6]>::try_from(mac)
            .ok()
            .and_then(|m| self.by_mac.get(&m))
            .map_or(&[], Vec::as_slice)
    }

    /// Every `(MAC, address)` pair.
    pub fn pairs(&self) -> impl Iterator<Item = ([u8; 6], Ipv6Addr)> + '_ {
        self.by_mac
            .iter()
            .flat_map(|(m, v)| v.iter().map(move |a| (*m, *a)))
    }

    /// Each MAC and its addresses.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8; 6], &[Ipv6Addr])> {
        self.by_mac.iter().map(|(m, v)| (m, v.as_slice()))
    }

    /// This table and `other` in one (a box's own entries and its peer's).
    pub fn merged(&self, other: &Neighbours) -> Neighbours {
        Neighbours::new(self.pairs().chain(other.pairs()))
    }

    /// Number of MACs with an address.
    pub fn len(&self) -> usize {
        self.by_mac.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_mac.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boxs_entries_merge_with_its_peers() {
        let (m1, m2) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let a = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        let own = Neighbours::new([(m1, a("2001:db8::1")), (m1, a("2001:db8::1"))]);
        let peer = Neighbours::new([
            (m1, a("fd00::1")),
            (m1, a("2001:db8::1")),
            (m2, a("fd00::2")),
        ]);
        let m = own.merged(&peer);
        assert_eq!(m.addrs(&m1), &[a("2001:db8::1"), a("fd00::1")]);
        assert_eq!(m.addrs(&m2), &[a("fd00::2")]);
        assert_eq!(m.len(), 2);
        assert_eq!(own.addrs(&m1), &[a("2001:db8::1")], "repeats folded");
        assert_eq!(m.addrs(&[1, 2, 3]), &[] as &[Ipv6Addr], "not a MAC");
        assert_eq!(own.merged(&Neighbours::default()), own);
    }
}
