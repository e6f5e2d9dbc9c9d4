//! Who may query us: dnsmasq's `interface`, `listen-address` and
//! `local-service` rules, applied to each query on the wildcard sockets.
//!
//! * `listen-address`: only queries sent to one of those addresses.
//! * `interface`: only queries that arrive on one of those interfaces (for
//!   TCP, sent to an address of one of them).
//! * Neither, with `local-service` (the default): only clients whose source
//!   address is on a directly connected subnet, so a box with a public
//!   address is not an open resolver.
//! * Loopback clients are always allowed (dnsmasq listens on `lo` too).
//!
//! Pure: the interface list is passed in; the driver refreshes it.

use std::net::Ipv4Addr;

use crate::net::IfAddr;

/// The rule in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acl {
    Any,
    LocalService,
    Interfaces(Vec<String>),
    Addresses(Vec<Ipv4Addr>),
}

impl Acl {
    pub fn from_config(cfg: &super::config::DnsConfig) -> Acl {
        if !cfg.listen_addresses.is_empty() {
            Acl::Addresses(
                cfg.listen_addresses
                    .iter()
                    .filter_map(|a| match a {
                        std::net::IpAddr::V4(v4) => Some(*v4),
                        std::net::IpAddr::V6(_) => None,
                    })
                    .collect(),
            )
        } else if !cfg.interfaces.is_empty() {
            Acl::Interfaces(cfg.interfaces.clone())
        } else if cfg.local_service {
            Acl::LocalService
        } else {
            Acl::Any
        }
    }

    /// Whether the answer depends on the interface list.
    pub fn uses_interfaces(&self) -> bool {
        matches!(self, Acl::LocalService | Acl::Interfaces(_))
    }

    /// Whether a query from `src` to `dst`, received on `ifindex` (0 when
    /// unknown, as for TCP), may be answered.
    pub fn allows(&self, ifaces: &[IfAddr], src: Ipv4Addr, dst: Ipv4Addr, ifindex: u32) -> bool {
        if src.is_loopback() {
            return true;
        }
        match self {
            Acl::Any => true,
            Acl::Addresses(list) => list.contains(&dst),
            Acl::Interfaces(names) => ifaces.iter().any(|i| {
                names.contains(&i.name)
                    && if ifindex != 0 {
                        i.index == ifindex
                    } else {
                        i.addr == dst
                    }
            }),
            Acl::LocalService => ifaces.iter().any(|i| same_subnet(i.addr, src, i.prefix)),
        }
    }
}

fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u32::MAX << (32 - prefix.min(32) as u32);
    u32::from(a) & mask == u32::from(b) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifaces() -> Vec<IfAddr> {
        vec![
            IfAddr {
                name: "lo".into(),
                index: 1,
                addr: Ipv4Addr::new(127, 0, 0, 1),
                prefix: 8,
            },
            IfAddr {
                name: "lan".into(),
                index: 2,
                addr: Ipv4Addr::new(192, 168, 1, 1),
                prefix: 24,
            },
            IfAddr {
                name: "lan".into(),
                index: 2,
                addr: Ipv4Addr::new(192, 168, 1, 254),
                prefix: 24,
            },
            IfAddr {
                name: "wan".into(),
                index: 3,
                addr: Ipv4Addr::new(203, 0, 113, 7),
                prefix: 30,
            },
        ]
    }

    const LAN_CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 50);
    const STRANGER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);
    const LAN: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 254);

    #[test]
    fn local_service_answers_connected_subnets_and_loopback_only() {
        let i = ifaces();
        let a = Acl::LocalService;
        assert!(a.allows(&i, LAN_CLIENT, LAN, 2));
        assert!(a.allows(&i, LAN_CLIENT, VIP, 2));
        assert!(a.allows(&i, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1));
        assert!(a.allows(&i, Ipv4Addr::new(203, 0, 113, 6), LAN, 3));
        assert!(!a.allows(&i, STRANGER, Ipv4Addr::new(203, 0, 113, 7), 3));
        assert!(!a.allows(&[], LAN_CLIENT, LAN, 2));
    }

    #[test]
    fn interface_and_address_rules() {
        let i = ifaces();
        let a = Acl::Interfaces(vec!["lan".into()]);
        assert!(a.allows(&i, STRANGER, LAN, 2));
        assert!(!a.allows(&i, STRANGER, Ipv4Addr::new(203, 0, 113, 7), 3));
        // TCP: no ifindex, judged by the address queried.
        assert!(a.allows(&i, LAN_CLIENT, VIP, 0));
        assert!(!a.allows(&i, LAN_CLIENT, Ipv4Addr::new(203, 0, 113, 7), 0));
        let b = Acl::Addresses(vec![VIP]);
        assert!(b.allows(&i, LAN_CLIENT, VIP, 2));
        assert!(!b.allows(&i, LAN_CLIENT, LAN, 2));
        assert!(Acl::Any.allows(&[], STRANGER, LAN, 9));
    }

    #[test]
    fn config_picks_the_rule() {
        let mut c = super::super::config::DnsConfig::default();
        assert_eq!(Acl::from_config(&c), Acl::LocalService);
        c.local_service = false;
        assert_eq!(Acl::from_config(&c), Acl::Any);
        c.interfaces = vec!["lan".into()];
        assert_eq!(Acl::from_config(&c), Acl::Interfaces(vec!["lan".into()]));
        c.listen_addresses = vec![VIP.into()];
        assert_eq!(Acl::from_config(&c), Acl::Addresses(vec![VIP]));
    }
}
