//! `[dhcpv6 NAME]`: stateless DHCPv6 on one interface (RFC 8415 §6.1).
//!
//! ```ini
//! [dhcpv6 lan]
//! interface = eth0
//! mode = stateless
//! dns-server = fd00::1
//! domain-search = lan
//! information-refresh-time = 86400
//! vrrp = lan6
//! ```

use std::net::Ipv6Addr;

use super::core::{IRT_DEFAULT, IRT_MINIMUM, Settings};
use crate::section::{SectionReader, parse_duration_secs, parse_ifname};

/// The most `dns-server` lines: a Reply must stay well inside one
/// datagram (64 × 16 bytes).
pub const MAX_DNS_SERVERS: usize = 64;
/// The most `domain-search` lines (32 names of at most 255 bytes).
pub const MAX_DOMAINS: usize = 32;

/// `mode`: what the server offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Configuration only, no addresses (RFC 8415 §6.1).
    Stateless,
}

/// One `[dhcpv6 NAME]` section, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dhcp6Config {
    pub name: String,
    pub interface: String,
    pub mode: Mode,
    /// `dns-server`; empty = the VIPs of the gating IPv6 `[vrrp]`
    /// instance, else the interface's own address (see [`default_dns_server`]).
    pub dns_servers: Vec<Ipv6Addr>,
    /// `domain-search`; empty = `[dns] domain`, if set.
    pub domain_search: Vec<String>,
    /// `information-refresh-time` in seconds (RFC 8415 §21.23).
    pub refresh: u32,
    /// `vrrp`: the `[vrrp NAME]` instance whose role gates the answers.
    pub vrrp: Option<String>,
}

fn parse_mode(v: &str) -> Result<Mode, String> {
    match v {
        "stateless" => Ok(Mode::Stateless),
        "stateful" => Err(
            "stateful DHCPv6 (address assignment, RFC 8415 §6.2) is not supported yet; \
             use stateless"
                .into(),
        ),
        _ => Err("expected stateless".into()),
    }
}

fn parse_dns_server(v: &str) -> Result<Ipv6Addr, String> {
    let a: Ipv6Addr = v
        .parse()
        .map_err(|_| format!("{v:?} is not an IPv6 address"))?;
    if a.is_unspecified() || a.is_multicast() || a.is_loopback() {
        return Err(format!("{a} cannot be a DNS server for clients"));
    }
    Ok(a)
}

/// `information-refresh-time`: a duration of at least IRT_MINIMUM
/// (RFC 8415 §21.23: a client uses 600 s for anything smaller), at most
/// 0xffffffff (infinity).
fn parse_refresh(v: &str) -> Result<u32, String> {
    match parse_duration_secs(v) {
        Some(s) if (u64::from(IRT_MINIMUM)..=u64::from(u32::MAX)).contains(&s) => Ok(s as u32),
        Some(_) => Err(format!(
            "out of range; expected {IRT_MINIMUM}s (IRT_MINIMUM, RFC 8415 §21.23) to {}s",
            u32::MAX
        )),
        None => Err("expected a duration such as 86400, 3600s or 1d".into()),
    }
}

/// Reads one `[dhcpv6 NAME]` section; a missing `interface` is an error.
pub fn read(name: &str, r: &mut SectionReader<'_>) -> Dhcp6Config {
    let interface = r.required("interface", String::new(), parse_ifname);
    let mode = r.scalar("mode", Mode::Stateless, parse_mode);
    let mut dns_servers = r.list("dns-server", parse_dns_server);
    if dns_servers.len() > MAX_DNS_SERVERS {
        r.error_on(
            "dns-server",
            format!("{} lines; at most {MAX_DNS_SERVERS}", dns_servers.len()),
        );
        dns_servers.truncate(MAX_DNS_SERVERS);
    }
    let mut domain_search = r.list("domain-search", crate::dns::grammar::parse_dns_name);
    if domain_search.len() > MAX_DOMAINS {
        r.error_on(
            "domain-search",
            format!("{} lines; at most {MAX_DOMAINS}", domain_search.len()),
        );
        domain_search.truncate(MAX_DOMAINS);
    }
    let refresh = r.scalar("information-refresh-time", IRT_DEFAULT, parse_refresh);
    let vrrp = r.scalar("vrrp", None, |v| Ok(Some(v.to_string())));
    Dhcp6Config {
        name: name.to_string(),
        interface,
        mode,
        dns_servers,
        domain_search,
        refresh,
        vrrp,
    }
}

/// The DNS server a client is given when `dns-server` is not set: the
/// interface's first global or unique-local address, else its link-local
/// one. `None` when it has no IPv6 address at all.
pub fn default_dns_server(on_if: &[Ipv6Addr]) -> Option<Ipv6Addr> {
    on_if
        .iter()
        .find(|a| !crate::net::is_link_local6(**a) && !a.is_loopback())
        .or_else(|| on_if.iter().find(|a| crate::net::is_link_local6(**a)))
        .copied()
}

/// A `[dhcpv6 NAME]` joined with this machine: what the driver runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dhcp6Instance {
    pub config: Dhcp6Config,
    pub ifindex: u32,
    /// The core's settings, defaults filled in.
    pub settings: Settings,
}

/// Joins `c` with this machine: its interface's index, its MAC (for the
/// DUID-LL), and the defaults that come from it (`dns-server`) or from
/// `[dns] domain` (`domain-search`). Errors are `(key, value, message)`.
pub fn resolve(
    c: &Dhcp6Config,
    dns_domain: Option<&str>,
    ifaces6: &[crate::net::IfAddr6],
    vip_dns: Option<Vec<Ipv6Addr>>,
) -> Result<Dhcp6Instance, (&'static str, String, String)> {
    let no_if = || {
        (
            "interface",
            c.interface.clone(),
            "no such interface on this system".to_string(),
        )
    };
    let ifindex = nix::net::if_::if_nametoindex(c.interface.as_str()).map_err(|_| no_if())?;
    let mac = crate::net::mac_address(&c.interface).ok_or_else(|| {
        (
            "interface",
            c.interface.clone(),
            "has no Ethernet address to make the server's DUID-LL from (RFC 8415 §11.4)"
                .to_string(),
        )
    })?;
    let dns_servers = if !c.dns_servers.is_empty() {
        c.dns_servers.clone()
    } else if let Some(vips) = vip_dns {
        // Gated by an IPv6 instance: its VIPs, which follow the Active
        // (`config::resolve::Vrrp6Gate::dns_servers`).
        vips
    } else {
        let on_if: Vec<Ipv6Addr> = ifaces6
            .iter()
            .filter(|a| a.name == c.interface)
            .map(|a| a.addr)
            .collect();
        let d = default_dns_server(&on_if).ok_or_else(|| {
            (
                "dns-server",
                String::new(),
                format!(
                    "not set, and {} has no IPv6 address to give clients instead; \
                     set dns-server or enable IPv6 on the interface",
                    c.interface
                ),
            )
        })?;
        vec![d]
    };
    let domains = if c.domain_search.is_empty() {
        dns_domain.map(|d| vec![d.to_string()]).unwrap_or_default()
    } else {
        c.domain_search.clone()
    };
    Ok(Dhcp6Instance {
        config: c.clone(),
        ifindex,
        settings: Settings {
            duid: super::core::duid_ll(mac),
            dns_servers,
            domains,
            refresh: c.refresh,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_time_has_a_floor() {
        assert_eq!(parse_refresh("600"), Ok(600));
        assert_eq!(parse_refresh("1d"), Ok(86_400));
        assert!(parse_refresh("599").unwrap_err().contains("IRT_MINIMUM"));
        assert!(parse_refresh("soon").is_err());
    }

    #[test]
    fn only_stateless_for_now() {
        assert_eq!(parse_mode("stateless"), Ok(Mode::Stateless));
        assert!(
            parse_mode("stateful")
                .unwrap_err()
                .contains("not supported yet")
        );
        assert!(parse_mode("both").is_err());
    }

    #[test]
    fn lists_are_bounded() {
        use crate::section::raw;
        let mut text = String::from("[dhcpv6 lan]\ninterface = eth0\n");
        for i in 0..=MAX_DNS_SERVERS {
            text.push_str(&format!("dns-server = fd00::{:x}\n", i + 1));
        }
        for i in 0..=MAX_DOMAINS {
            text.push_str(&format!("domain-search = d{i}.test\n"));
        }
        let file = std::path::Path::new("/t.conf");
        let parsed = raw::parse(file, &text).unwrap();
        let mut r = SectionReader::new(file, &parsed.sections[0]);
        let c = read("lan", &mut r);
        assert_eq!(c.dns_servers.len(), MAX_DNS_SERVERS);
        assert_eq!(c.domain_search.len(), MAX_DOMAINS);
        let errs: Vec<String> = r.finish(Vec::new).iter().map(|e| e.to_string()).collect();
        assert!(
            errs.iter().any(|e| e.contains("65 lines; at most 64")),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.contains("33 lines; at most 32")),
            "{errs:?}"
        );
    }

    #[test]
    fn dns_servers_are_unicast() {
        assert!(parse_dns_server("fd00::1").is_ok());
        assert!(parse_dns_server("fe80::1").is_ok());
        for bad in ["::", "ff02::1", "::1", "10.0.0.1", "x"] {
            assert!(parse_dns_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_dns_server_prefers_a_routable_address() {
        let a = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(
            default_dns_server(&[a("fe80::1"), a("fd00::1"), a("2001:db8::1")]),
            Some(a("fd00::1"))
        );
        assert_eq!(default_dns_server(&[a("fe80::1")]), Some(a("fe80::1")));
        assert_eq!(default_dns_server(&[]), None);
    }
}
