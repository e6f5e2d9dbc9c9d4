//! `[ra NAME]`: router advertisements on one interface (RFC 4861 §6.2.1's
//! router configuration variables under radvd-like names).
//!
//! ```ini
//! [ra lan]
//! interface = eth0
//! prefix = 2001:db8:1::/64
//! rdnss = fe80::1
//! dnssl = lan
//! ```
//!
//! Without an `[ra NAME]` section hamasq sends no RAs at all, so another
//! daemon (odhcpd on OpenWrt, radvd) can own them.

use std::net::Ipv6Addr;
use std::time::Duration;

use super::core::Timing;
use super::packet::{PrefixInfo, Ra, Rdnss, is_encodable_name};
use crate::net::{IfAddr6, same_prefix6};
use crate::section::{SectionReader, parse_bool, parse_duration_secs, parse_ifname, parse_u32_in};

/// RFC 4861 §6.2.1 limits.
const MAX_INTERVAL_RANGE: (u64, u64) = (4, 1800);
const MIN_INTERVAL_FLOOR: u64 = 3;
const MAX_DEFAULT_LIFETIME: u64 = 9000;
/// The IPv6 minimum link MTU (RFC 8200 §5).
const MIN_MTU: u32 = 1280;

/// `other-config`: the O flag (RFC 4861 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtherConfig {
    On,
    Off,
    /// On when this box answers stateless DHCPv6 on the interface (a
    /// `[dhcpv6 NAME]` section for it; decided by the daemon's wiring).
    Auto,
}

/// One `[ra NAME]` section, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaConfig {
    pub name: String,
    pub interface: String,
    /// `prefix`; empty = the interface's global and ULA /64s at start.
    pub prefixes: Vec<(Ipv6Addr, u8)>,
    /// `rdnss`; empty = the source address (virtual link-local or the
    /// interface's own).
    pub rdnss: Vec<Ipv6Addr>,
    /// `dnssl`; empty = `[dns] domain` if set.
    pub dnssl: Vec<String>,
    /// `managed`: the M flag.
    pub managed: bool,
    pub other_config: OtherConfig,
    /// `router-lifetime` (AdvDefaultLifetime), seconds.
    pub router_lifetime: u16,
    pub max_interval: Duration,
    pub min_interval: Duration,
    /// `mtu`: the MTU option; `None` = not sent.
    pub mtu: Option<u32>,
    /// `hop-limit` (AdvCurHopLimit).
    pub hop_limit: u8,
    /// `vrrp`: the `[vrrp NAME]` instance that gates and sources the RAs.
    pub vrrp: Option<String>,
    /// `valid-lifetime`, `preferred-lifetime` of every prefix, seconds.
    pub valid_lifetime: u32,
    pub preferred_lifetime: u32,
}

impl RaConfig {
    /// MinRtrAdvInterval and MaxRtrAdvInterval for the scheduler.
    pub fn timing(&self) -> Timing {
        Timing {
            min_interval: self.min_interval,
            max_interval: self.max_interval,
        }
    }

    /// The advertisement to send: `prefixes` (the configured ones, or
    /// those found on the interface), `rdnss` (the configured ones, or
    /// `source`), `dnssl` (the configured ones, or `domain`), `mac` as the
    /// source link-layer address, `other` the resolved O flag.
    pub fn advertisement(
        &self,
        prefixes: &[(Ipv6Addr, u8)],
        source: Ipv6Addr,
        dns: &[Ipv6Addr],
        domain: Option<&str>,
        mac: Option<[u8; 6]>,
        other: bool,
    ) -> Ra {
        // `rdnss` unset: `dns` (the gating IPv6 instance's VIPs), else the
        // source itself.
        let rdnss = match (self.rdnss.is_empty(), dns.is_empty()) {
            (false, _) => self.rdnss.clone(),
            (true, false) => dns.to_vec(),
            (true, true) => vec![source],
        };
        let dnssl: Vec<String> = if self.dnssl.is_empty() {
            domain.map(str::to_string).into_iter().collect()
        } else {
            self.dnssl.clone()
        };
        // RFC 8106 §5.1: the lifetime SHOULD be at least MaxRtrAdvInterval;
        // three intervals (radvd's default) survive two lost RAs.
        let dns_lifetime = (3 * self.max_interval.as_secs()).min(u64::from(u32::MAX)) as u32;
        Ra {
            cur_hop_limit: self.hop_limit,
            managed: self.managed,
            other_config: other,
            router_lifetime: self.router_lifetime,
            reachable_time: 0,
            retrans_timer: 0,
            source_lla: mac,
            mtu: self.mtu,
            prefixes: prefixes
                .iter()
                .map(|&(prefix, len)| PrefixInfo {
                    prefix,
                    len,
                    on_link: true,
                    // SLAAC forms 64-bit interface identifiers (RFC 4862
                    // §5.5.3 d, RFC 4291 §2.5.1).
                    autonomous: len == 64,
                    valid: self.valid_lifetime,
                    preferred: self.preferred_lifetime,
                })
                .collect(),
            rdnss: vec![Rdnss {
                lifetime: dns_lifetime,
                servers: rdnss,
            }],
            dnssl: if dnssl.is_empty() {
                Vec::new()
            } else {
                vec![super::packet::Dnssl {
                    lifetime: dns_lifetime,
                    domains: dnssl,
                }]
            },
        }
    }
}

/// The global and ULA /64 prefixes of `interface` among `addrs` (the
/// default of `prefix`), each once, in address order.
pub fn interface_prefixes(interface: &str, addrs: &[IfAddr6]) -> Vec<(Ipv6Addr, u8)> {
    let mut out: Vec<(Ipv6Addr, u8)> = addrs
        .iter()
        .filter(|a| a.name == interface && a.prefix == 64)
        .filter(|a| {
            let first = a.addr.segments()[0];
            // 2000::/3 global unicast, fc00::/7 unique local (RFC 4193).
            first & 0xe000 == 0x2000 || first & 0xfe00 == 0xfc00
        })
        .map(|a| (mask(a.addr, 64), 64))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The configured prefixes that no address of `interface` lies in: what
/// `hamasq --test` warns about (clients would form addresses in a prefix
/// the router does not route on this link).
pub fn prefixes_not_on_interface(cfg: &RaConfig, addrs: &[IfAddr6]) -> Vec<(Ipv6Addr, u8)> {
    cfg.prefixes
        .iter()
        .filter(|&&(p, len)| {
            !addrs
                .iter()
                .any(|a| a.name == cfg.interface && a.prefix <= len && same_prefix6(a.addr, p, len))
        })
        .copied()
        .collect()
}

fn mask(a: Ipv6Addr, len: u8) -> Ipv6Addr {
    if len == 0 {
        return Ipv6Addr::UNSPECIFIED;
    }
    Ipv6Addr::from(u128::from(a) & (u128::MAX << (128 - u32::from(len.min(128)))))
}

fn parse_prefix(v: &str) -> Result<(Ipv6Addr, u8), String> {
    let (a, l) = v
        .split_once('/')
        .ok_or("expected an IPv6 prefix such as 2001:db8:1::/64")?;
    let addr: Ipv6Addr = a
        .trim()
        .parse()
        .map_err(|_| format!("{a:?} is not an IPv6 address"))?;
    let len = parse_u32_in(l.trim(), 1, 128)? as u8;
    if mask(addr, len) != addr {
        return Err(format!(
            "has bits set past /{len}; the prefix is {}/{len}",
            mask(addr, len)
        ));
    }
    if addr.is_multicast() || addr.is_unicast_link_local() || addr.is_loopback() {
        return Err("a multicast, link-local or loopback prefix cannot be advertised".into());
    }
    Ok((addr, len))
}

fn parse_server(v: &str) -> Result<Ipv6Addr, String> {
    let a: Ipv6Addr = v
        .parse()
        .map_err(|_| format!("{v:?} is not an IPv6 address"))?;
    if a.is_unspecified() || a.is_multicast() {
        return Err("expected a unicast IPv6 address".into());
    }
    Ok(a)
}

fn parse_domain(v: &str) -> Result<String, String> {
    let d = v.strip_suffix('.').unwrap_or(v);
    if is_encodable_name(d)
        && d.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
    {
        Ok(d.to_ascii_lowercase())
    } else {
        Err("expected a domain name such as lan or home.example".into())
    }
}

fn parse_secs(v: &str) -> Result<u64, String> {
    parse_duration_secs(v).ok_or_else(|| "expected a duration such as 600, 600s or 10m".into())
}

/// A lifetime in seconds, or `infinity` (0xffffffff, RFC 4861 §4.6.2).
fn parse_lifetime(v: &str) -> Result<u32, String> {
    if v == "infinity" {
        return Ok(u32::MAX);
    }
    let s = parse_secs(v)?;
    u32::try_from(s)
        .ok()
        .filter(|&s| s < u32::MAX)
        .ok_or_else(|| "too large; use infinity".into())
}

/// Reads one `[ra NAME]` section with the RFC 4861 §6.2.1 limits; every
/// error is reported through `r`.
pub fn read(name: &str, r: &mut SectionReader<'_>) -> RaConfig {
    let interface = r.required("interface", String::new(), parse_ifname);
    let prefixes = r.list("prefix", parse_prefix);
    let rdnss = r.list("rdnss", parse_server);
    let dnssl = r.list("dnssl", parse_domain);
    let managed = r.scalar("managed", false, parse_bool);
    let other_config = r.scalar("other-config", OtherConfig::Auto, |v| match v {
        "auto" => Ok(OtherConfig::Auto),
        _ => parse_bool(v)
            .map(|b| if b { OtherConfig::On } else { OtherConfig::Off })
            .map_err(|_| "expected auto, true or false".into()),
    });
    let router_lifetime = r.scalar("router-lifetime", 1800, parse_secs);
    let max = r.scalar("max-interval", 600, parse_secs);
    let max_ok = (MAX_INTERVAL_RANGE.0..=MAX_INTERVAL_RANGE.1).contains(&max);
    if !max_ok {
        r.error_on(
            "max-interval",
            "out of range; expected 4s to 1800s (MaxRtrAdvInterval, RFC 4861 §6.2.1)".into(),
        );
    }
    let max = if max_ok { max } else { 600 };
    // RFC 4861 §6.2.1: MinRtrAdvInterval defaults to 0.33 × Max, and is
    // at least 3 s and at most 0.75 × Max.
    let default_min = (max * 33 / 100).max(MIN_INTERVAL_FLOOR);
    let mut min = r.scalar("min-interval", default_min, parse_secs);
    if min < MIN_INTERVAL_FLOOR || min * 4 > max * 3 {
        r.error_on(
            "min-interval",
            format!(
                "out of range; expected 3s to 0.75 × max-interval ({}s) (MinRtrAdvInterval, RFC 4861 §6.2.1)",
                max * 3 / 4
            ),
        );
        min = default_min;
    }
    // RFC 4861 §6.2.1: AdvDefaultLifetime is 0 or MaxRtrAdvInterval..9000 s.
    let lifetime_ok =
        router_lifetime == 0 || (max..=MAX_DEFAULT_LIFETIME).contains(&router_lifetime);
    if !lifetime_ok {
        r.error_on(
            "router-lifetime",
            format!(
                "out of range; expected 0 (not a default router) or max-interval ({max}s) to 9000s (AdvDefaultLifetime, RFC 4861 §6.2.1)"
            ),
        );
    }
    let mtu = r.scalar("mtu", None, |v| {
        if v == "off" {
            return Ok(None);
        }
        parse_u32_in(v, MIN_MTU, u32::MAX)
            .map(Some)
            .map_err(|_| "expected off or an MTU of at least 1280 (RFC 8200 §5)".to_string())
    });
    let hop_limit = r.scalar("hop-limit", 64, |v| {
        parse_u32_in(v, 0, 255).map(|n| n as u8)
    });
    let vrrp = r.scalar("vrrp", None, |v| Ok(Some(v.to_string())));
    let valid_lifetime = r.scalar("valid-lifetime", 86_400, parse_lifetime);
    let preferred_lifetime = r.scalar("preferred-lifetime", 14_400, parse_lifetime);
    if preferred_lifetime > valid_lifetime {
        r.error_on(
            "preferred-lifetime",
            "is longer than valid-lifetime; hosts ignore such a prefix (RFC 4862 §5.5.3 c)".into(),
        );
    }
    RaConfig {
        name: name.to_string(),
        interface,
        prefixes,
        rdnss,
        dnssl,
        managed,
        other_config,
        router_lifetime: if lifetime_ok {
            router_lifetime as u16
        } else {
            1800
        },
        max_interval: Duration::from_secs(max),
        min_interval: Duration::from_secs(min),
        mtu,
        hop_limit,
        vrrp,
        valid_lifetime,
        preferred_lifetime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_and_validate;
    use std::path::Path;

    fn check(text: &str) -> Result<crate::config::Config, Vec<String>> {
        parse_and_validate(Path::new("t.conf"), text)
            .map_err(|e| e.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn defaults_follow_rfc_4861() {
        let c = check("[ra lan]\ninterface = eth0\n").unwrap();
        let ra = &c.ra[0];
        assert_eq!(ra.name, "lan");
        assert_eq!(ra.router_lifetime, 1800);
        assert_eq!(ra.max_interval, Duration::from_secs(600));
        assert_eq!(ra.min_interval, Duration::from_secs(198));
        assert_eq!(ra.hop_limit, 64);
        assert_eq!(ra.mtu, None);
        assert_eq!(ra.other_config, OtherConfig::Auto);
        assert!(!ra.managed);
        assert_eq!((ra.valid_lifetime, ra.preferred_lifetime), (86_400, 14_400));
        // min-interval follows a smaller max-interval.
        let c =
            check("[ra lan]\ninterface = eth0\nmax-interval = 10\nrouter-lifetime = 30\n").unwrap();
        assert_eq!(c.ra[0].min_interval, Duration::from_secs(3));
    }

    #[test]
    fn every_limit_is_reported_at_once_with_file_key_and_value() {
        let errs = check(
            "[ra lan]\ninterface = eth0\nmax-interval = 2000\nmin-interval = 1\n\
             router-lifetime = 100\nprefix = 2001:db8:1::1/64\nprefix = fe80::/64\n\
             rdnss = ff02::1\ndnssl = a..b\nmtu = 1000\nhop-limit = 300\n\
             valid-lifetime = 100\npreferred-lifetime = 200\nother-config = maybe\n",
        )
        .unwrap_err();
        let want = [
            "t.conf:3: [ra lan] max-interval = \"2000\": out of range; expected 4s to 1800s",
            "t.conf:4: [ra lan] min-interval = \"1\": out of range",
            "t.conf:5: [ra lan] router-lifetime = \"100\": out of range",
            "t.conf:6: [ra lan] prefix = \"2001:db8:1::1/64\": has bits set past /64",
            "t.conf:7: [ra lan] prefix = \"fe80::/64\"",
            "t.conf:8: [ra lan] rdnss = \"ff02::1\"",
            "t.conf:9: [ra lan] dnssl = \"a..b\"",
            "t.conf:10: [ra lan] mtu = \"1000\"",
            "t.conf:11: [ra lan] hop-limit = \"300\"",
            "t.conf:13: [ra lan] preferred-lifetime = \"200\": is longer than valid-lifetime",
            "t.conf:14: [ra lan] other-config = \"maybe\"",
        ];
        for w in want {
            assert!(
                errs.iter().any(|e| e.starts_with(w)),
                "missing {w:?} in {errs:#?}"
            );
        }
        assert_eq!(errs.len(), want.len(), "{errs:#?}");
    }

    #[test]
    fn min_interval_is_at_most_three_quarters_of_max() {
        assert!(
            check("[ra lan]\ninterface = eth0\nmax-interval = 100\nmin-interval = 75\n").is_ok()
        );
        let errs = check("[ra lan]\ninterface = eth0\nmax-interval = 100\nmin-interval = 76\n")
            .unwrap_err();
        assert!(errs[0].contains("0.75 × max-interval (75s)"), "{errs:?}");
        // Lifetime 0 (not a default router) and max..9000 are fine.
        assert!(check("[ra lan]\ninterface = eth0\nrouter-lifetime = 0\n").is_ok());
        assert!(check("[ra lan]\ninterface = eth0\nrouter-lifetime = 9000\n").is_ok());
        assert!(check("[ra lan]\ninterface = eth0\nrouter-lifetime = 9001\n").is_err());
    }

    #[test]
    fn the_advertisement_carries_the_config_and_its_defaults() {
        let c = check("[ra lan]\ninterface = eth0\nmtu = 1500\nmanaged = true\n").unwrap();
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let p = ("2001:db8:1::".parse().unwrap(), 64);
        let ula = ("fd00:1::".parse().unwrap(), 56);
        let ra = c.ra[0].advertisement(
            &[p, ula],
            src,
            &[],
            Some("lan"),
            Some([2, 0, 0, 0, 0, 1]),
            true,
        );
        assert!(ra.managed && ra.other_config);
        assert_eq!(ra.mtu, Some(1500));
        assert_eq!(ra.router_lifetime, 1800);
        assert_eq!(
            ra.rdnss[0].servers,
            vec![src],
            "rdnss defaults to the source"
        );
        assert_eq!(ra.rdnss[0].lifetime, 1800);
        assert_eq!(ra.dnssl[0].domains, vec!["lan".to_string()]);
        assert!(ra.prefixes[0].autonomous && ra.prefixes[0].on_link);
        assert!(!ra.prefixes[1].autonomous, "SLAAC needs a /64");
        // No domain: no DNSSL option.
        let ra = c.ra[0].advertisement(&[p], src, &[], None, None, false);
        assert!(ra.dnssl.is_empty());
        // Gated by an IPv6 instance: its VIPs are the default RDNSS.
        let vip: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        let ra = c.ra[0].advertisement(&[p], src, &[vip], None, None, false);
        assert_eq!(ra.rdnss[0].servers, vec![vip]);
    }

    #[test]
    fn interface_prefixes_are_its_global_and_ula_64s() {
        let a = |name: &str, addr: &str, prefix| IfAddr6 {
            name: name.into(),
            index: 2,
            addr: addr.parse().unwrap(),
            prefix,
        };
        let addrs = [
            a("eth0", "fe80::1", 64),
            a("eth0", "2001:db8:1::1", 64),
            a("eth0", "2001:db8:1::2", 64),
            a("eth0", "fd00:1::1", 64),
            a("eth0", "2001:db8:9::1", 128),
            a("eth1", "2001:db8:2::1", 64),
        ];
        assert_eq!(
            interface_prefixes("eth0", &addrs),
            vec![
                ("2001:db8:1::".parse().unwrap(), 64),
                ("fd00:1::".parse().unwrap(), 64)
            ]
        );
        let c = check(
            "[ra lan]\ninterface = eth0\nprefix = 2001:db8:1::/64\nprefix = 2001:db8:2::/64\n",
        )
        .unwrap();
        assert_eq!(
            prefixes_not_on_interface(&c.ra[0], &addrs),
            vec![("2001:db8:2::".parse().unwrap(), 64)]
        );
    }
}
