//! The DHCP plan: `[dhcp]` config joined with this machine's interfaces.
//!
//! Each `dhcp-range` belongs to a subnet. A subnet is *local* when one of
//! the served interfaces has an address in it (clients broadcast to us
//! there), or *relayed* when none does: then the range must carry its
//! netmask and the subnet is chosen by `giaddr` or RFC 3011/3527
//! (RFC 2131 §4.3.1: "the server MUST select a subnet ... based on giaddr").
//! [`plan`] is pure: it takes the interface list, so it is unit-tested;
//! [`crate::net::local_interfaces`] reads the system (config stage 3 only).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::binding::HwAddr;
use super::config::{DhcpConfig, HostCfg, LeaseTime, prefix_len};
use crate::net::IfAddr;
use crate::section::ConfigError;

/// A contiguous run of addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: Ipv4Addr, end: Ipv4Addr) -> Span {
        Span {
            start: start.into(),
            end: end.into(),
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (self.start..=self.end).contains(&u32::from(ip))
    }

    pub fn len(&self) -> u32 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// One of our own ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    pub span: Span,
    pub lease: LeaseTime,
    pub tag: Option<String>,
}

/// A subnet we serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
    /// The interface and our address on it, for a local subnet.
    pub local: Option<IfAddr>,
    pub ranges: Vec<Range>,
    /// The HA peer's ranges in this subnet (split scope, design §4).
    pub peer: Vec<Span>,
    /// The VRRP virtual address in this subnet, when a `[vrrp]` instance
    /// runs on its interface: our server identifier and default router,
    /// so renewals follow whichever box is Active (design §4).
    pub vip: Option<Ipv4Addr>,
    /// The `[vrrp]` instance (its index in the config) whose role gates
    /// this subnet: the one whose VIP lies in it, else the first instance;
    /// `None` without VRRP (design §4: each subnet follows the instance
    /// that owns its VIP).
    pub vrrp: Option<usize>,
}

impl Subnet {
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask_bits(self.prefix))
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask_bits(self.prefix))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask_bits(self.prefix) == u32::from(self.network)
    }

    /// The range of ours holding `ip`.
    pub fn own_range(&self, ip: Ipv4Addr) -> Option<&Range> {
        self.ranges.iter().find(|r| r.span.contains(ip))
    }

    pub fn in_peer_range(&self, ip: Ipv4Addr) -> bool {
        self.peer.iter().any(|s| s.contains(ip))
    }

    /// Whether `ip` may be bound to a client at all: inside the subnet, not
    /// its network or broadcast address, not our own address.
    pub fn usable(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip)
            && (self.prefix >= 31 || (ip != self.network && ip != self.broadcast()))
            && self.local.as_ref().is_none_or(|l| l.addr != ip)
            && self.vip != Some(ip)
    }
}

pub fn mask_bits(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

/// Reservations, indexed the three ways a client can be matched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reservations {
    pub hosts: Vec<HostCfg>,
    by_hw: HashMap<HwAddr, usize>,
    by_id: HashMap<Vec<u8>, usize>,
    by_name: HashMap<String, usize>,
    by_ip: HashMap<Ipv4Addr, usize>,
}

impl Reservations {
    pub fn new(hosts: Vec<HostCfg>) -> Reservations {
        let mut r = Reservations::default();
        for (i, h) in hosts.iter().enumerate() {
            for hw in &h.hw {
                r.by_hw.entry(*hw).or_insert(i);
            }
            if let Some(id) = &h.client_id {
                r.by_id.entry(id.clone()).or_insert(i);
            }
            if h.hw.is_empty()
                && h.client_id.is_none()
                && let Some(n) = &h.name
            {
                r.by_name.entry(n.clone()).or_insert(i);
            }
            if let Some(ip) = h.ip {
                r.by_ip.entry(ip).or_insert(i);
            }
        }
        r.hosts = hosts;
        r
    }

    /// The reservation for a client: client-id first, then hardware
    /// address, then the host name it sent (dnsmasq's order).
    pub fn find(
        &self,
        client_id: Option<&[u8]>,
        hw: &HwAddr,
        name: Option<&str>,
    ) -> Option<&HostCfg> {
        let i = client_id
            .and_then(|id| self.by_id.get(id))
            .or_else(|| self.by_hw.get(hw))
            .or_else(|| name.and_then(|n| self.by_name.get(n)))?;
        self.hosts.get(*i)
    }

    /// The reservation that owns `ip`, if any.
    pub fn owner_of(&self, ip: Ipv4Addr) -> Option<&HostCfg> {
        self.by_ip.get(&ip).and_then(|i| self.hosts.get(*i))
    }
}

/// Joins the config with the interfaces. Returns every problem found.
pub fn plan(
    cfg: &DhcpConfig,
    ifaces: &[IfAddr],
    file: &std::path::Path,
) -> Result<Vec<Subnet>, Vec<ConfigError>> {
    let mut errs = Vec::new();
    let err = |line: Option<usize>, key: &str, value: String, message: String| ConfigError {
        file: file.to_path_buf(),
        line,
        section: Some("dhcp".into()),
        key: Some(key.into()),
        value: Some(value),
        message,
    };
    for name in &cfg.interfaces {
        if !ifaces.iter().any(|i| &i.name == name) {
            errs.push(err(
                None,
                "interface",
                name.clone(),
                "no such interface with an IPv4 address on this system".into(),
            ));
        }
    }
    let served: Vec<&IfAddr> = ifaces
        .iter()
        .filter(|i| {
            if cfg.interfaces.is_empty() {
                !i.addr.is_loopback()
            } else {
                cfg.interfaces.contains(&i.name)
            }
        })
        .collect();

    let mut subnets: Vec<Subnet> = Vec::new();
    for r in &cfg.ranges {
        let rv = format!("{},{}", r.start, r.end);
        let local = served
            .iter()
            .find(|i| {
                let m = mask_bits(i.prefix);
                u32::from(i.addr) & m == u32::from(r.start) & m
                    && r.netmask.is_none_or(|nm| prefix_len(nm) == Some(i.prefix))
            })
            .map(|i| (*i).clone());
        let prefix = match (&local, r.netmask) {
            (Some(l), _) => l.prefix,
            (None, Some(m)) => prefix_len(m).unwrap_or(32),
            (None, None) => {
                errs.push(err(
                    r.line,
                    "dhcp-range",
                    rv,
                    "no served interface has an address in this range's subnet; for a relayed subnet give the netmask".into(),
                ));
                continue;
            }
        };
        let network = Ipv4Addr::from(u32::from(r.start) & mask_bits(prefix));
        let sn = match subnets
            .iter_mut()
            .find(|s| s.network == network && s.prefix == prefix)
        {
            Some(s) => s,
            None => {
                subnets.push(Subnet {
                    network,
                    prefix,
                    local,
                    ranges: Vec::new(),
                    peer: Vec::new(),
                    vip: None,
                    vrrp: None,
                });
                subnets.last_mut().expect("just pushed")
            }
        };
        if !sn.contains(r.end) {
            errs.push(err(
                r.line,
                "dhcp-range",
                rv.clone(),
                format!("end {} leaves the subnet {}/{}", r.end, network, prefix),
            ));
        }
        if let Some(l) = &sn.local
            && Span::new(r.start, r.end).contains(l.addr)
        {
            errs.push(err(
                r.line,
                "dhcp-range",
                rv,
                format!(
                    "contains this server's own address {} on {}",
                    l.addr, l.name
                ),
            ));
        }
        sn.ranges.push(Range {
            span: Span::new(r.start, r.end),
            lease: r.lease,
            tag: r.tag.clone(),
        });
    }
    for p in &cfg.peer_ranges {
        let pv = format!("{},{}", p.start, p.end);
        match subnets
            .iter_mut()
            .find(|s| s.contains(p.start) && s.contains(p.end))
        {
            Some(s) => s.peer.push(Span::new(p.start, p.end)),
            None => errs.push(err(
                p.line,
                "dhcp-peer-range",
                pv,
                "is not inside the subnet of any dhcp-range".into(),
            )),
        }
    }
    for h in &cfg.hosts {
        if let Some(ip) = h.ip
            && !subnets.iter().any(|s| s.contains(ip))
        {
            errs.push(err(
                h.line,
                "dhcp-host",
                ip.to_string(),
                "the address is not in the subnet of any dhcp-range".into(),
            ));
        }
    }
    if errs.is_empty() {
        Ok(subnets)
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::config::{PeerRangeCfg, RangeCfg, parse_host, parse_range};
    use std::path::Path;

    fn cfg(ranges: &[&str], peers: &[(&str, &str)], hosts: &[&str]) -> DhcpConfig {
        DhcpConfig {
            interfaces: vec!["eth0".into()],
            ranges: ranges
                .iter()
                .map(|r| parse_range(r).unwrap())
                .collect::<Vec<RangeCfg>>(),
            peer_ranges: peers
                .iter()
                .map(|(a, b)| PeerRangeCfg {
                    line: None,
                    start: a.parse().unwrap(),
                    end: b.parse().unwrap(),
                })
                .collect(),
            hosts: hosts.iter().map(|h| parse_host(h).unwrap()).collect(),
            options: vec![],
            lease_max: 1000,
            authoritative: false,
            boot: None,
            lease_fsync: true,
            decline_time: std::time::Duration::from_secs(600),
            offer_time: std::time::Duration::from_secs(30),
            ping: false,
            import_dnsmasq: None,
            log_dhcp: false,
            quiet_dhcp: false,
            script: None,
            script_on_renewal: false,
            ipv6_names: true,
        }
    }

    fn eth0() -> Vec<IfAddr> {
        vec![
            IfAddr {
                name: "lo".into(),
                index: 1,
                addr: Ipv4Addr::LOCALHOST,
                prefix: 8,
            },
            IfAddr {
                name: "eth0".into(),
                index: 2,
                addr: Ipv4Addr::new(192, 168, 1, 1),
                prefix: 24,
            },
        ]
    }

    #[test]
    fn local_and_relayed_subnets() {
        let c = cfg(
            &[
                "192.168.1.100,192.168.1.149",
                "10.9.0.10,10.9.0.200,255.255.255.0,2h",
            ],
            &[("192.168.1.150", "192.168.1.199")],
            &["00:11:22:33:44:55,192.168.1.10"],
        );
        let s = plan(&c, &eth0(), Path::new("t")).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].local.as_ref().map(|l| l.name.as_str()), Some("eth0"));
        assert_eq!(s[0].mask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(s[0].broadcast(), Ipv4Addr::new(192, 168, 1, 255));
        assert!(s[0].in_peer_range(Ipv4Addr::new(192, 168, 1, 160)));
        assert!(s[1].local.is_none());
        assert_eq!(s[1].network, Ipv4Addr::new(10, 9, 0, 0));
        assert!(!s[0].usable(Ipv4Addr::new(192, 168, 1, 1)));
        assert!(!s[0].usable(Ipv4Addr::new(192, 168, 1, 255)));
        assert!(s[0].usable(Ipv4Addr::new(192, 168, 1, 2)));
    }

    #[test]
    fn problems_are_all_reported() {
        let mut c = cfg(
            &["172.16.0.10,172.16.0.20", "192.168.1.1,192.168.1.20"],
            &[("10.1.1.1", "10.1.1.2")],
            &["00:11:22:33:44:55,10.200.0.1"],
        );
        c.interfaces.push("wlan9".into());
        let e = plan(&c, &eth0(), Path::new("t")).unwrap_err();
        let msgs: Vec<_> = e.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(e.len(), 5, "{msgs:#?}");
        assert!(msgs[0].contains("no such interface"));
        assert!(msgs[1].contains("relayed subnet give the netmask"));
        assert!(msgs[2].contains("own address 192.168.1.1"));
        assert!(msgs[3].contains("not inside the subnet"));
        assert!(msgs[4].contains("not in the subnet of any dhcp-range"));
    }

    #[test]
    fn reservations_match_by_id_then_hw_then_name() {
        let r = Reservations::new(vec![
            parse_host("00:11:22:33:44:55,192.168.1.10,printer").unwrap(),
            parse_host("id:01:aa:bb,192.168.1.11").unwrap(),
            parse_host("laptop,192.168.1.12").unwrap(),
        ]);
        let hw = HwAddr::ether([0, 0x11, 0x22, 0x33, 0x44, 0x55]);
        let other = HwAddr::ether([9; 6]);
        assert_eq!(
            r.find(None, &hw, None).unwrap().ip,
            Some(Ipv4Addr::new(192, 168, 1, 10))
        );
        assert_eq!(
            r.find(Some(&[1, 0xaa, 0xbb]), &hw, None).unwrap().ip,
            Some(Ipv4Addr::new(192, 168, 1, 11))
        );
        assert_eq!(
            r.find(None, &other, Some("laptop")).unwrap().ip,
            Some(Ipv4Addr::new(192, 168, 1, 12))
        );
        assert!(r.find(None, &other, Some("printer")).is_none());
        assert_eq!(
            r.owner_of(Ipv4Addr::new(192, 168, 1, 12))
                .unwrap()
                .name
                .as_deref(),
            Some("laptop")
        );
    }
}
