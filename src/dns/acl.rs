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
//! The same rules hold over IPv6: `local-service` takes the on-link
//! prefixes of our IPv6 addresses, and a link-local source (fe80::/10) is
//! on-link by definition (RFC 4291 §2.5.6: routers never forward it).
//!
//! Pure: the interface lists are passed in; the driver refreshes them.

use std::net::{IpAddr, Ipv4Addr};

use crate::net::{IfAddr, IfAddr6, is_link_local6, same_prefix6};

/// This machine's addresses, as last read (both families).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ifaces {
    pub v4: Vec<IfAddr>,
    pub v6: Vec<IfAddr6>,
}

/// The rule in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acl {
    Any,
    LocalService,
    Interfaces(Vec<String>),
    Addresses(Vec<IpAddr>),
}

/// As a log value: `any`, `local-service`, `interface:eth0,eth1`,
/// `listen-address:127.0.0.1,fd00::1`.
impl std::fmt::Display for Acl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Acl::Any => f.write_str("any"),
            Acl::LocalService => f.write_str("local-service"),
            Acl::Interfaces(v) => write!(f, "interface:{}", v.join(",")),
            Acl::Addresses(v) => {
                let v: Vec<String> = v.iter().map(ToString::to_string).collect();
                write!(f, "listen-address:{}", v.join(","))
            }
        }
    }
}

impl Acl {
    pub fn from_config(cfg: &super::config::DnsConfig) -> Acl {
        if !cfg.listen_addresses.is_empty() {
            Acl::Addresses(cfg.listen_addresses.clone())
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
    /// unknown, as for TCP over IPv4), may be answered.
    pub fn allows(&self, ifaces: &Ifaces, src: IpAddr, dst: IpAddr, ifindex: u32) -> bool {
        if src.is_loopback() {
            return true;
        }
        match (self, src, dst) {
            (Acl::Any, _, _) => true,
            (Acl::Addresses(list), _, _) => list.contains(&dst),
            (Acl::Interfaces(names), _, _) => {
                // By the interface the query came in on, or (TCP over
                // IPv4) by the address asked.
                let listed = |name: &String, index: u32, addr: IpAddr| {
                    names.contains(name)
                        && if ifindex != 0 {
                            index == ifindex
                        } else {
                            addr == dst
                        }
                };
                ifaces
                    .v4
                    .iter()
                    .any(|i| listed(&i.name, i.index, i.addr.into()))
                    || ifaces
                        .v6
                        .iter()
                        .any(|i| listed(&i.name, i.index, i.addr.into()))
            }
            (Acl::LocalService, IpAddr::V4(src), _) => {
                ifaces.v4.iter().any(|i| same_subnet(i.addr, src, i.prefix))
            }
            (Acl::LocalService, IpAddr::V6(src), _) => {
                is_link_local6(src)
                    || ifaces
                        .v6
                        .iter()
                        .any(|i| same_prefix6(i.addr, src, i.prefix))
            }
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

    fn v4(name: &str, index: u32, addr: Ipv4Addr, prefix: u8) -> IfAddr {
        IfAddr {
            name: name.into(),
            index,
            addr,
            prefix,
        }
    }

    fn v6(name: &str, index: u32, addr: &str, prefix: u8) -> IfAddr6 {
        IfAddr6 {
            name: name.into(),
            index,
            addr: addr.parse().unwrap(),
            prefix,
        }
    }

    fn ifaces() -> Ifaces {
        Ifaces {
            v4: vec![
                v4("lo", 1, Ipv4Addr::new(127, 0, 0, 1), 8),
                v4("lan", 2, Ipv4Addr::new(192, 168, 1, 1), 24),
                v4("lan", 2, Ipv4Addr::new(192, 168, 1, 254), 24),
                v4("wan", 3, Ipv4Addr::new(203, 0, 113, 7), 30),
            ],
            v6: vec![
                v6("lo", 1, "::1", 128),
                v6("lan", 2, "fe80::1", 64),
                v6("lan", 2, "fd00:1::1", 64),
                v6("lan", 2, "2001:db8:1::1", 64),
                v6("wan", 3, "2001:db8:ffff::7", 126),
            ],
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const LAN_CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 50);
    const STRANGER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);
    const LAN: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 254);

    #[test]
    fn local_service_answers_connected_subnets_and_loopback_only() {
        let i = ifaces();
        let a = Acl::LocalService;
        let lo = Ipv4Addr::LOCALHOST.into();
        assert!(a.allows(&i, LAN_CLIENT.into(), LAN.into(), 2));
        assert!(a.allows(&i, LAN_CLIENT.into(), VIP.into(), 2));
        assert!(a.allows(&i, lo, lo, 1));
        assert!(a.allows(&i, ip("203.0.113.6"), LAN.into(), 3));
        assert!(!a.allows(&i, STRANGER.into(), ip("203.0.113.7"), 3));
        assert!(!a.allows(&Ifaces::default(), LAN_CLIENT.into(), LAN.into(), 2));
    }

    #[test]
    fn local_service_over_ipv6_takes_on_link_prefixes_and_link_local() {
        let i = ifaces();
        let a = Acl::LocalService;
        assert!(a.allows(&i, ip("fd00:1::50"), ip("fd00:1::1"), 2));
        assert!(a.allows(&i, ip("2001:db8:1::99"), ip("fd00:1::1"), 2));
        assert!(a.allows(&i, ip("::1"), ip("::1"), 1));
        // Link-local senders are on-link by definition (RFC 4291 §2.5.6),
        // even before we have read any address.
        assert!(a.allows(&Ifaces::default(), ip("fe80::50"), ip("fe80::1"), 2));
        assert!(a.allows(&i, ip("2001:db8:ffff::6"), ip("2001:db8:ffff::7"), 3));
        // Off-link: another /64 of the same /48, and the world.
        assert!(!a.allows(&i, ip("2001:db8:2::50"), ip("2001:db8:1::1"), 2));
        assert!(!a.allows(&i, ip("2001:db8:ffff::9"), ip("2001:db8:ffff::7"), 3));
        assert!(!a.allows(&i, ip("2a00::1"), ip("2001:db8:1::1"), 2));
    }

    #[test]
    fn interface_and_address_rules() {
        let i = ifaces();
        let a = Acl::Interfaces(vec!["lan".into()]);
        assert!(a.allows(&i, STRANGER.into(), LAN.into(), 2));
        assert!(!a.allows(&i, STRANGER.into(), ip("203.0.113.7"), 3));
        // TCP: no ifindex, judged by the address queried.
        assert!(a.allows(&i, LAN_CLIENT.into(), VIP.into(), 0));
        assert!(!a.allows(&i, LAN_CLIENT.into(), ip("203.0.113.7"), 0));
        let b = Acl::Addresses(vec![VIP.into()]);
        assert!(b.allows(&i, LAN_CLIENT.into(), VIP.into(), 2));
        assert!(!b.allows(&i, LAN_CLIENT.into(), LAN.into(), 2));
        assert!(Acl::Any.allows(&Ifaces::default(), STRANGER.into(), LAN.into(), 9));
    }

    #[test]
    fn interface_and_address_rules_over_ipv6() {
        let i = ifaces();
        let a = Acl::Interfaces(vec!["lan".into()]);
        assert!(a.allows(&i, ip("2a00::1"), ip("2001:db8:1::1"), 2));
        assert!(a.allows(&i, ip("fe80::50"), ip("fe80::1"), 2));
        assert!(!a.allows(&i, ip("fe80::50"), ip("fe80::1"), 3));
        assert!(!a.allows(&i, ip("2a00::1"), ip("2001:db8:ffff::7"), 3));
        // TCP: judged by the address queried.
        assert!(a.allows(&i, ip("2a00::1"), ip("fd00:1::1"), 0));
        assert!(!a.allows(&i, ip("2a00::1"), ip("2001:db8:ffff::7"), 0));
        let b = Acl::Addresses(vec![ip("fd00:1::1")]);
        assert!(b.allows(&i, ip("fd00:1::50"), ip("fd00:1::1"), 2));
        assert!(!b.allows(&i, ip("fd00:1::50"), ip("2001:db8:1::1"), 2));
        assert!(!b.allows(&i, LAN_CLIENT.into(), LAN.into(), 2));
    }

    #[test]
    fn config_picks_the_rule() {
        let mut c = super::super::config::DnsConfig::default();
        assert_eq!(Acl::from_config(&c), Acl::LocalService);
        c.local_service = false;
        assert_eq!(Acl::from_config(&c), Acl::Any);
        c.interfaces = vec!["lan".into()];
        assert_eq!(Acl::from_config(&c), Acl::Interfaces(vec!["lan".into()]));
        c.listen_addresses = vec![VIP.into(), ip("fd00:1::1")];
        assert_eq!(
            Acl::from_config(&c),
            Acl::Addresses(vec![VIP.into(), ip("fd00:1::1")])
        );
    }
}
