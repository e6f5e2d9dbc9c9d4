//! Names of DHCP clients and reservations, as DNS answers them.
//!
//! DHCP builds a new table after each committed change and publishes it
//! whole (dnsmasq's `lease_update_dns`); DNS only ever reads a snapshot, so
//! no lock is shared between the two tasks.

use std::collections::HashMap;
use std::net::Ipv4Addr;

/// An immutable snapshot of `name -> addresses` and `address -> name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostTable {
    by_name: HashMap<String, Vec<Ipv4Addr>>,
    by_addr: HashMap<Ipv4Addr, String>,
}

impl HostTable {
    /// Builds a table from `(unqualified name, address)` pairs. Names are
    /// case-insensitive (stored lower-case); the first name given for an
    /// address is its PTR name.
    pub fn new<I, S>(entries: I) -> HostTable
    where
        I: IntoIterator<Item = (S, Ipv4Addr)>,
        S: AsRef<str>,
    {
        let mut t = HostTable::default();
        for (name, addr) in entries {
            let name = name.as_ref().to_ascii_lowercase();
            let addrs = t.by_name.entry(name.clone()).or_default();
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
            t.by_addr.entry(addr).or_insert(name);
        }
        t
    }

    /// Addresses of an unqualified name (any case).
    pub fn addrs(&self, name: &str) -> &[Ipv4Addr] {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_name
                .get(&name.to_ascii_lowercase())
                .map_or(&[], Vec::as_slice)
        } else {
            self.by_name.get(name).map_or(&[], Vec::as_slice)
        }
    }

    /// The name for an address, for PTR answers.
    pub fn name(&self, addr: Ipv4Addr) -> Option<&str> {
        self.by_addr.get(&addr).map(String::as_str)
    }

    /// Every `(name, address)` pair.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Ipv4Addr)> {
        self.by_name
            .iter()
            .flat_map(|(n, addrs)| addrs.iter().map(move |a| (n.as_str(), *a)))
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_reverse() {
        let a = Ipv4Addr::new(192, 168, 1, 20);
        let b = Ipv4Addr::new(192, 168, 1, 21);
        let t = HostTable::new([("Laptop", a), ("laptop", b), ("printer", b)]);
        assert_eq!(t.addrs("LAPTOP"), &[a, b]);
        assert_eq!(t.addrs("printer"), &[b]);
        assert_eq!(t.addrs("nobody"), &[] as &[Ipv4Addr]);
        assert_eq!(t.name(a), Some("laptop"));
        assert_eq!(t.name(b), Some("laptop"));
        assert_eq!(t.len(), 2);
        assert!(HostTable::default().is_empty());
    }
}
