//! `[dhcp]`: the keys of the DHCPv4 server, dnsmasq's grammar where one
//! exists, so lines move over with few edits.
//!
//! ```ini
//! [dhcp]
//! interface = eth0
//! dhcp-range = set:lan,192.168.1.100,192.168.1.149,255.255.255.0,12h
//! dhcp-peer-range = 192.168.1.150,192.168.1.199      ; the HA peer's half
//! dhcp-host = 00:11:22:33:44:55,192.168.1.10,printer,infinite
//! dhcp-option = option:router,192.168.1.1
//! ```
//!
//! Validation here is pure and reports every error; what needs the
//! machine (interface addresses, netmasks of directly connected subnets)
//! is done by [`resolve`].

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use crate::dhcp::binding::{HwAddr, parse_colon_hex};
use crate::dhcp::options::{OptionSpec, parse_dhcp_option};
pub use crate::net::prefix_len;
use crate::section::ConfigError;
pub use crate::section::parse_duration_secs;
use crate::section::{SectionReader, absolute_path, parse_bool, parse_ifname, parse_u32_in};

/// A lease length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseTime {
    Secs(u32),
    Infinite,
}

impl LeaseTime {
    /// dnsmasq's default lease time: one hour.
    pub const DEFAULT: LeaseTime = LeaseTime::Secs(3600);
    /// dnsmasq refuses lease times under two minutes; so do we.
    pub const MIN_SECS: u32 = 120;

    /// Option 51's value (RFC 2132 §9.2): 0xffffffff means infinite.
    pub fn wire(self) -> u32 {
        match self {
            LeaseTime::Secs(s) => s,
            LeaseTime::Infinite => u32::MAX,
        }
    }
}

/// `12h`, `30m`, `45s`, `2d`, `1w`, plain seconds, or `infinite`.
pub fn parse_lease_time(v: &str) -> Result<LeaseTime, String> {
    if v.eq_ignore_ascii_case("infinite") {
        return Ok(LeaseTime::Infinite);
    }
    let secs = parse_duration_secs(v).ok_or_else(|| {
        format!("{v:?} is not a lease time; expected e.g. 3600, 45m, 12h, 2d, 1w or infinite")
    })?;
    if secs < LeaseTime::MIN_SECS as u64 {
        return Err(format!(
            "lease time {v:?} is under the minimum of 2 minutes"
        ));
    }
    u32::try_from(secs)
        .ok()
        .filter(|s| *s != u32::MAX)
        .map(LeaseTime::Secs)
        .ok_or_else(|| format!("lease time {v:?} is too long; use infinite"))
}

/// One `dhcp-range` (our own addresses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeCfg {
    pub line: Option<usize>,
    /// `set:TAG`: options with `tag:TAG` apply to clients of this range.
    pub tag: Option<String>,
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
    /// Needed for a relayed subnet; otherwise taken from the interface.
    pub netmask: Option<Ipv4Addr>,
    pub lease: LeaseTime,
}

/// One `dhcp-peer-range`: the HA peer's addresses in one of our subnets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRangeCfg {
    pub line: Option<usize>,
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

/// One `dhcp-host` reservation.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HostCfg {
    pub line: Option<usize>,
    pub hw: Vec<HwAddr>,
    pub client_id: Option<Vec<u8>>,
    /// Matches a client that sends this host name (option 12), when no
    /// hardware address or client-id is given; also the name to give it.
    pub name: Option<String>,
    pub ip: Option<Ipv4Addr>,
    pub lease: Option<LeaseTime>,
    pub set_tags: Vec<String>,
    pub ignore: bool,
}

/// `dhcp-boot = FILE[,SERVERNAME[,SERVERADDR]]`: PXE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boot {
    pub file: String,
    pub server_name: Option<String>,
    pub server_addr: Option<Ipv4Addr>,
}

/// Everything under `[dhcp]`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpConfig {
    pub interfaces: Vec<String>,
    pub ranges: Vec<RangeCfg>,
    pub peer_ranges: Vec<PeerRangeCfg>,
    pub hosts: Vec<HostCfg>,
    /// `dhcp-option` and `dhcp-option-force`, in file order.
    pub options: Vec<OptionSpec>,
    pub lease_max: u32,
    pub authoritative: bool,
    pub boot: Option<Boot>,
    pub lease_fsync: bool,
    pub decline_time: Duration,
    pub offer_time: Duration,
    /// `dhcp-ping`: probe new addresses with ICMP echo before offering.
    pub ping: bool,
    pub import_dnsmasq: Option<PathBuf>,
    pub log_dhcp: bool,
    /// `quiet-dhcp`: no info line per DHCP message (dnsmasq's option).
    pub quiet_dhcp: bool,
    /// `dhcp-script`: the lease-change hook ([`super::lease_hook`]).
    pub script: Option<PathBuf>,
    /// `script-on-renewal`: also run it (`old`) when a lease is renewed.
    pub script_on_renewal: bool,
    /// `ipv6-names`: a named lease's name also answers AAAA with the IPv6
    /// addresses its MAC uses, from the kernel's neighbour table
    /// ([`crate::neigh`]).
    pub ipv6_names: bool,
}

impl DhcpConfig {
    pub const DEFAULT_LEASE_MAX: u32 = 1000;
    pub const DEFAULT_DECLINE_SECS: u64 = 600;
    pub const DEFAULT_OFFER_SECS: u64 = 30;
}

fn parse_ip4(v: &str) -> Result<Ipv4Addr, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{:?} is not an IPv4 address", v.trim()))
}

fn parse_tag(v: &str) -> Result<String, String> {
    if !v.is_empty()
        && v.len() <= 32
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        Ok(v.to_string())
    } else {
        Err(format!(
            "bad tag {v:?}: use 1-32 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// `[set:TAG,]START,END[,NETMASK][,LEASETIME]`
pub fn parse_range(v: &str) -> Result<RangeCfg, String> {
    let mut parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let mut tag = None;
    if let Some(t) = parts.first().and_then(|p| p.strip_prefix("set:")) {
        tag = Some(parse_tag(t)?);
        parts.remove(0);
    }
    if parts.iter().any(|p| p.starts_with("tag:")) {
        return Err("tag: conditions on dhcp-range are not supported; use set:TAG".into());
    }
    if parts.len() < 2 || parts.len() > 4 {
        return Err("expected [set:TAG,]START,END[,NETMASK][,LEASETIME]".into());
    }
    let start = parse_ip4(parts[0])?;
    let end = parse_ip4(parts[1])?;
    if u32::from(start) > u32::from(end) {
        return Err(format!("start {start} is after end {end}"));
    }
    let mut netmask = None;
    let mut lease = LeaseTime::DEFAULT;
    for p in &parts[2..] {
        if p.contains('.') {
            if netmask.is_some() {
                return Err(format!("{p:?}: netmask given twice"));
            }
            let m = parse_ip4(p)?;
            if prefix_len(m).is_none() {
                return Err(format!("{m} is not a valid netmask"));
            }
            netmask = Some(m);
        } else {
            lease = parse_lease_time(p)?;
        }
    }
    if let Some(m) = netmask {
        let m = u32::from(m);
        if u32::from(start) & m != u32::from(end) & m {
            return Err(format!(
                "start {start} and end {end} are in different subnets for netmask {}",
                Ipv4Addr::from(m)
            ));
        }
    }
    Ok(RangeCfg {
        line: None,
        tag,
        start,
        end,
        netmask,
        lease,
    })
}

/// `START,END`
pub fn parse_peer_range(v: &str) -> Result<PeerRangeCfg, String> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.len() != 2 {
        return Err("expected START,END".into());
    }
    let start = parse_ip4(parts[0])?;
    let end = parse_ip4(parts[1])?;
    if u32::from(start) > u32::from(end) {
        return Err(format!("start {start} is after end {end}"));
    }
    Ok(PeerRangeCfg {
        line: None,
        start,
        end,
    })
}

/// dnsmasq's `dhcp-host`: comma-separated items in any order:
/// hardware addresses (`aa:bb:..`, several allowed), `id:CLIENTID` (hex
/// `01:aa:..` or a plain string), `set:TAG`, an IPv4 address, a lease time,
/// `ignore`, and a host name.
pub fn parse_host(v: &str) -> Result<HostCfg, String> {
    let mut h = HostCfg::default();
    for item in v.split(',').map(str::trim) {
        if item.is_empty() {
            return Err("empty item".into());
        }
        if let Some(id) = item.strip_prefix("id:") {
            if h.client_id.is_some() {
                return Err("client-id given twice".into());
            }
            if id == "*" {
                return Err("id:* (ignore client-id) is not supported".into());
            }
            let bytes = match parse_colon_hex(id) {
                Some(b) if id.contains(':') && !b.is_empty() => b,
                _ => id.as_bytes().to_vec(),
            };
            h.client_id = Some(bytes);
        } else if let Some(t) = item.strip_prefix("set:") {
            h.set_tags.push(parse_tag(t)?);
        } else if item.starts_with("tag:") {
            return Err("tag: conditions on dhcp-host are not supported; use set:TAG".into());
        } else if item == "ignore" {
            h.ignore = true;
        } else if let Ok(ip) = item.parse::<Ipv4Addr>() {
            if h.ip.is_some() {
                return Err(format!("{item}: a reservation has one address"));
            }
            h.ip = Some(ip);
        } else if item.contains(':') {
            let hw = HwAddr::parse_lease_string(item)
                .filter(|hw| !hw.as_bytes().is_empty())
                .ok_or_else(|| format!("{item:?} is not a hardware address"))?;
            h.hw.push(hw);
        } else if item == "infinite" || item.starts_with(|c: char| c.is_ascii_digit()) {
            if h.lease.is_some() {
                return Err(format!("{item:?}: lease time given twice"));
            }
            h.lease = Some(parse_lease_time(item)?);
        } else {
            if h.name.is_some() {
                return Err(format!("{item:?}: host name given twice"));
            }
            h.name = Some(valid_host_name(item)?);
        }
    }
    if h.hw.is_empty() && h.client_id.is_none() && h.name.is_none() {
        return Err("a reservation needs a hardware address, id:CLIENTID or a host name".into());
    }
    if h.ip.is_none() && h.name.is_none() && h.lease.is_none() && h.set_tags.is_empty() && !h.ignore
    {
        return Err(
            "a reservation needs an address, a name, a lease time, set:TAG or ignore".into(),
        );
    }
    Ok(h)
}

/// A host name as written in the config: one RFC 1123 label.
fn valid_host_name(n: &str) -> Result<String, String> {
    let ok = !n.is_empty()
        && n.len() <= 63
        && !n.starts_with('-')
        && !n.ends_with('-')
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(n.to_ascii_lowercase())
    } else {
        Err(format!(
            "{n:?} is not a host name (one label of letters, digits and '-', at most 63)"
        ))
    }
}

/// `FILE[,SERVERNAME[,SERVERADDR]]`; the BOOTP fields hold 128 and 64 bytes.
pub fn parse_boot(v: &str) -> Result<Boot, String> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.is_empty() || parts.len() > 3 || parts[0].is_empty() {
        return Err("expected FILE[,SERVERNAME[,SERVERADDR]]".into());
    }
    if parts[0].len() > 128 {
        return Err(format!(
            "boot file name is {} bytes; the BOOTP file field holds 128",
            parts[0].len()
        ));
    }
    let server_name = match parts.get(1) {
        Some(s) if s.len() > 64 => {
            return Err(format!(
                "server name is {} bytes; the BOOTP sname field holds 64",
                s.len()
            ));
        }
        Some(s) if !s.is_empty() => Some(s.to_string()),
        _ => None,
    };
    let server_addr = parts.get(2).map(|a| parse_ip4(a)).transpose()?;
    Ok(Boot {
        file: parts[0].to_string(),
        server_name,
        server_addr,
    })
}

/// Reads `[dhcp]`. Cross-entry checks (overlaps, duplicate reservations)
/// report every conflict with both lines.
pub fn read(
    r: &mut SectionReader<'_>,
    errs: &mut Vec<ConfigError>,
    file: &std::path::Path,
) -> DhcpConfig {
    let interfaces = r.list("interface", parse_ifname);
    let ranges = r.list_with_line("dhcp-range", parse_range, |x, l| x.line = l);
    let peer_ranges = r.list_with_line("dhcp-peer-range", parse_peer_range, |x, l| x.line = l);
    let hosts = r.list_with_line("dhcp-host", parse_host, |x, l| x.line = l);
    let mut options = r.list("dhcp-option", |v| parse_dhcp_option(v, false));
    options.extend(r.list("dhcp-option-force", |v| parse_dhcp_option(v, true)));
    let lease_max = r.scalar("dhcp-lease-max", DhcpConfig::DEFAULT_LEASE_MAX, |v| {
        parse_u32_in(v, 1, 1_000_000)
    });
    let authoritative = r.scalar("dhcp-authoritative", false, parse_bool);
    let boot = r.scalar("dhcp-boot", None, |v| parse_boot(v).map(Some));
    let lease_fsync = r.scalar("dhcp-lease-fsync", true, parse_bool);
    let secs = |lo: u64, hi: u64| {
        move |v: &str| match parse_duration_secs(v) {
            Some(s) if (lo..=hi).contains(&s) => Ok(Duration::from_secs(s)),
            Some(_) => Err(format!("out of range; expected {lo}s to {hi}s")),
            None => Err("expected a duration such as 30, 45s, 10m or 1h".into()),
        }
    };
    let decline_time = r.scalar(
        "dhcp-decline-time",
        Duration::from_secs(DhcpConfig::DEFAULT_DECLINE_SECS),
        secs(0, 86_400),
    );
    let offer_time = r.scalar(
        "dhcp-offer-time",
        Duration::from_secs(DhcpConfig::DEFAULT_OFFER_SECS),
        secs(1, 600),
    );
    let ping = r.scalar("dhcp-ping", false, parse_bool);
    let import_dnsmasq = r.scalar("dhcp-import-dnsmasq", None, |v| absolute_path(v).map(Some));
    let log_dhcp = r.scalar("log-dhcp", false, parse_bool);
    let quiet_dhcp = r.scalar("quiet-dhcp", false, parse_bool);
    let script = r.scalar("dhcp-script", None, |v| absolute_path(v).map(Some));
    let script_on_renewal = r.scalar("script-on-renewal", false, parse_bool);
    let ipv6_names = r.scalar("ipv6-names", true, parse_bool);

    let cfg = DhcpConfig {
        interfaces,
        ranges,
        peer_ranges,
        hosts,
        options,
        lease_max,
        authoritative,
        boot,
        lease_fsync,
        decline_time,
        offer_time,
        ping,
        import_dnsmasq,
        log_dhcp,
        quiet_dhcp,
        script,
        script_on_renewal,
        ipv6_names,
    };
    // A bad dhcp-range or dhcp-host line was reported already: no
    // follow-on "needs at least one dhcp-range" for it.
    let unparsed =
        r.count("dhcp-range") > cfg.ranges.len() || r.count("dhcp-host") > cfg.hosts.len();
    cross_check(&cfg, errs, file, r, !unparsed);
    cfg
}

fn overlap(a: (Ipv4Addr, Ipv4Addr), b: (Ipv4Addr, Ipv4Addr)) -> bool {
    u32::from(a.0) <= u32::from(b.1) && u32::from(b.0) <= u32::from(a.1)
}

fn at(line: Option<usize>) -> String {
    line.map_or_else(|| "elsewhere".into(), |l| format!("line {l}"))
}

fn cross_check(
    c: &DhcpConfig,
    errs: &mut Vec<ConfigError>,
    file: &std::path::Path,
    r: &SectionReader<'_>,
    need_range: bool,
) {
    // The value as written, for the line named (else `summary`).
    let mut err = |line: Option<usize>, key: &str, summary: String, message: String| {
        errs.push(ConfigError {
            file: file.to_path_buf(),
            line: line.or(r.section_line()),
            section: Some("dhcp".into()),
            key: Some(key.into()),
            value: Some(r.value_at(line).unwrap_or(summary)),
            message,
        })
    };
    let rs = |r: &RangeCfg| format!("{},{}", r.start, r.end);
    for (i, a) in c.ranges.iter().enumerate() {
        for b in &c.ranges[..i] {
            if overlap((a.start, a.end), (b.start, b.end)) {
                err(
                    a.line,
                    "dhcp-range",
                    rs(a),
                    format!("overlaps the dhcp-range on {}", at(b.line)),
                );
            }
        }
    }
    for p in &c.peer_ranges {
        let ps = format!("{},{}", p.start, p.end);
        for r in &c.ranges {
            if overlap((p.start, p.end), (r.start, r.end)) {
                err(
                    p.line,
                    "dhcp-peer-range",
                    ps.clone(),
                    format!(
                        "overlaps our own dhcp-range on {}: the two boxes would hand out the same addresses",
                        at(r.line)
                    ),
                );
            }
        }
        let same_subnet = c.ranges.iter().any(|r| match r.netmask {
            Some(m) => {
                u32::from(p.start) & u32::from(m) == u32::from(r.start) & u32::from(m)
                    && u32::from(p.end) & u32::from(m) == u32::from(r.start) & u32::from(m)
            }
            None => true, // checked against the interface's subnet in resolve
        });
        if !same_subnet {
            err(
                p.line,
                "dhcp-peer-range",
                ps.clone(),
                "is not inside the subnet of any dhcp-range".into(),
            );
        }
    }
    for (a, b, what) in host_clashes(&c.hosts) {
        err(
            a.line,
            "dhcp-host",
            host_summary(a),
            format!(
                "reserves the same {what} as the dhcp-host on {}",
                at(b.line)
            ),
        );
    }
    if need_range && c.ranges.is_empty() && !c.hosts.iter().any(|h| h.ip.is_some()) {
        errs.push(ConfigError {
            file: file.to_path_buf(),
            line: r.section_line(),
            section: Some("dhcp".into()),
            key: Some("dhcp-range".into()),
            value: None,
            message: "[dhcp] needs at least one dhcp-range (or dhcp-host with an address)".into(),
        });
    }
}

/// Every reservation that repeats a key of an earlier one, paired with the
/// first reservation that holds that key: one pass with a map per key
/// kind, so 40,000 hosts cost 40,000 look-ups, not 800 million pairs. A
/// host clashing with several earlier ones is reported once per earlier
/// host, with the strongest key (hardware address, client-id, address,
/// name) it shares with it.
fn host_clashes(hosts: &[HostCfg]) -> Vec<(&HostCfg, &HostCfg, String)> {
    use std::collections::HashMap;
    let mut by_hw: HashMap<HwAddr, usize> = HashMap::new();
    let mut by_id: HashMap<&[u8], usize> = HashMap::new();
    let mut by_ip: HashMap<Ipv4Addr, usize> = HashMap::new();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, a) in hosts.iter().enumerate() {
        // (earlier host, what), strongest key first; one entry per earlier host.
        let mut found: Vec<(usize, String)> = Vec::new();
        let mut note = |j: usize, what: String| {
            if !found.iter().any(|(k, _)| *k == j) {
                found.push((j, what));
            }
        };
        for hw in &a.hw {
            match by_hw.get(hw) {
                Some(&j) => note(j, format!("hardware address {hw}")),
                None => {
                    by_hw.insert(*hw, i);
                }
            }
        }
        if let Some(id) = &a.client_id {
            match by_id.get(id.as_slice()) {
                Some(&j) => note(j, "client-id".to_string()),
                None => {
                    by_id.insert(id, i);
                }
            }
        }
        if let Some(ip) = a.ip {
            match by_ip.get(&ip) {
                Some(&j) => note(j, format!("address {ip}")),
                None => {
                    by_ip.insert(ip, i);
                }
            }
        }
        // A name identifies a client only in a reservation with no
        // hardware address and no client-id.
        if a.hw.is_empty()
            && a.client_id.is_none()
            && let Some(n) = &a.name
        {
            match by_name.get(n.as_str()) {
                Some(&j) => note(j, "host name".to_string()),
                None => {
                    by_name.insert(n, i);
                }
            }
        }
        found.sort_by_key(|(j, _)| *j);
        out.extend(found.into_iter().map(|(j, what)| (a, &hosts[j], what)));
    }
    out
}

fn host_summary(h: &HostCfg) -> String {
    let mut parts: Vec<String> = h.hw.iter().map(|x| x.to_string()).collect();
    if let Some(ip) = h.ip {
        parts.push(ip.to_string());
    }
    if let Some(n) = &h.name {
        parts.push(n.clone());
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_times() {
        assert_eq!(parse_lease_time("12h"), Ok(LeaseTime::Secs(43_200)));
        assert_eq!(parse_lease_time("3600"), Ok(LeaseTime::Secs(3600)));
        assert_eq!(parse_lease_time("2d"), Ok(LeaseTime::Secs(172_800)));
        assert_eq!(parse_lease_time("infinite"), Ok(LeaseTime::Infinite));
        assert!(parse_lease_time("1m").unwrap_err().contains("minimum"));
        assert!(parse_lease_time("12x").is_err());
        assert!(parse_lease_time("h").is_err());
        assert!(parse_lease_time("99999999w").is_err());
    }

    #[test]
    fn ranges() {
        let r = parse_range("set:lan,192.168.1.100,192.168.1.149,255.255.255.0,12h").unwrap();
        assert_eq!(r.tag.as_deref(), Some("lan"));
        assert_eq!(r.start, Ipv4Addr::new(192, 168, 1, 100));
        assert_eq!(r.netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(r.lease, LeaseTime::Secs(43_200));
        let r = parse_range("10.0.0.10,10.0.0.20").unwrap();
        assert_eq!((r.netmask, r.lease), (None, LeaseTime::DEFAULT));
        assert!(
            parse_range("10.0.0.20,10.0.0.10")
                .unwrap_err()
                .contains("after")
        );
        assert!(
            parse_range("10.0.0.1,10.0.1.5,255.255.255.0")
                .unwrap_err()
                .contains("different subnets")
        );
        assert!(
            parse_range("10.0.0.1,10.0.0.5,255.0.255.0")
                .unwrap_err()
                .contains("not a valid netmask")
        );
        assert!(
            parse_range("10.0.0.300,10.0.0.5")
                .unwrap_err()
                .contains("not an IPv4 address")
        );
        assert!(parse_range("10.0.0.1").is_err());
    }

    #[test]
    fn hosts() {
        let h = parse_host("00:11:22:33:44:55,192.168.1.10,printer,infinite,set:iot").unwrap();
        assert_eq!(h.hw, vec![HwAddr::ether([0, 0x11, 0x22, 0x33, 0x44, 0x55])]);
        assert_eq!(h.ip, Some(Ipv4Addr::new(192, 168, 1, 10)));
        assert_eq!(h.name.as_deref(), Some("printer"));
        assert_eq!(h.lease, Some(LeaseTime::Infinite));
        assert_eq!(h.set_tags, vec!["iot".to_string()]);
        let h = parse_host("id:01:00:11:22:33:44:55,10.0.0.9").unwrap();
        assert_eq!(h.client_id, Some(vec![1, 0, 0x11, 0x22, 0x33, 0x44, 0x55]));
        let h = parse_host("id:myclient,10.0.0.9").unwrap();
        assert_eq!(h.client_id, Some(b"myclient".to_vec()));
        let h = parse_host("laptop,10.0.0.8").unwrap();
        assert!(h.hw.is_empty() && h.name.as_deref() == Some("laptop"));
        assert!(parse_host("00:11:22:33:44:55,ignore").unwrap().ignore);
        assert!(parse_host("00:11:22:33:44:55").is_err());
        assert!(parse_host("10.0.0.1").is_err());
        assert!(parse_host("bad_name!,10.0.0.1").is_err());
        assert!(parse_host("00:11:22:33:44:55,10.0.0.1,10.0.0.2").is_err());
    }

    #[test]
    fn boot_field_limits() {
        let f128 = "f".repeat(128);
        let s64 = "s".repeat(64);
        let b = parse_boot(&format!("{f128},{s64},10.0.0.2")).unwrap();
        assert_eq!(b.file.len(), 128);
        assert_eq!(b.server_name.as_deref().map(str::len), Some(64));
        assert!(
            parse_boot(&"f".repeat(129))
                .unwrap_err()
                .contains("holds 128")
        );
        assert!(
            parse_boot(&format!("pxelinux.0,{}", "s".repeat(65)))
                .unwrap_err()
                .contains("holds 64")
        );
    }

    fn host_lines(n: usize, line: impl Fn(usize) -> String) -> String {
        let mut t = String::from("[dhcp]\ndhcp-range = 10.0.0.10,10.0.0.50,255.0.0.0\n");
        for i in 0..n {
            t.push_str(&line(i));
            t.push('\n');
        }
        t
    }

    fn errors_of(text: &str) -> Vec<ConfigError> {
        crate::config::parse_and_validate(std::path::Path::new("t.conf"), text)
            .err()
            .unwrap_or_default()
    }

    /// Issue 17 item 5: 40,000 reservations are checked pair-free, and each
    /// of 100 planted clashes is reported once, against the right line.
    #[test]
    fn forty_thousand_hosts_each_clash_reported_once() {
        let mac = |i: usize| {
            format!(
                "02:00:00:{:02x}:{:02x}:{:02x}",
                i >> 16,
                (i >> 8) & 255,
                i & 255
            )
        };
        let ip = |i: usize| format!("10.{}.{}.{}", 1 + (i >> 16), (i >> 8) & 255, i & 255);
        // Host 39_900 + k takes host k's address: 100 clashes.
        let text = host_lines(40_000, |i| {
            let addr = if i >= 39_900 { ip(i - 39_900) } else { ip(i) };
            format!("dhcp-host = {},{addr},h{i}", mac(i))
        });
        let errs = errors_of(&text);
        assert_eq!(errs.len(), 100, "{:#?}", &errs[..errs.len().min(3)]);
        for (k, e) in errs.iter().enumerate() {
            // Header, the range, then host i on line i + 3.
            assert_eq!(e.line, Some(39_900 + k + 3));
            assert!(
                e.message.ends_with(&format!(
                    "address {} as the dhcp-host on line {}",
                    ip(k),
                    k + 3
                )),
                "{e}"
            );
        }
        let clean = host_lines(40_000, |i| format!("dhcp-host = {},{},h{i}", mac(i), ip(i)));
        assert!(errors_of(&clean).is_empty());
    }

    /// 1,000 copies of one line: one error that says how often it repeats
    /// (499,500 pairwise errors before).
    #[test]
    fn a_thousand_copies_of_one_host_are_one_error_with_a_count() {
        let text = host_lines(1000, |_| "dhcp-host = 00:11:22:33:44:55,10.0.0.5,a".into());
        let errs = errors_of(&text);
        assert_eq!(errs.len(), 1, "{:#?}", &errs[..errs.len().min(3)]);
        let msg = errs[0].to_string();
        assert_eq!(errs[0].line, Some(4), "{msg}");
        assert!(
            msg.contains(
                "as the dhcp-host on line 3 (the same on 998 more lines: line 5, 6, 7, 8, 9, ...)"
            ),
            "{msg}"
        );
    }

    /// A host clashing with two earlier ones is reported against each.
    #[test]
    fn a_host_clashing_with_two_earlier_ones_names_both() {
        let errs = errors_of(&host_lines(3, |i| {
            [
                "dhcp-host = 00:11:22:33:44:55,10.0.0.5,a",
                "dhcp-host = 00:11:22:33:44:66,10.0.0.6,b",
                "dhcp-host = 00:11:22:33:44:66,10.0.0.5,c",
            ][i]
                .into()
        }));
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 2, "{text:#?}");
        assert!(
            text[0].contains("same address 10.0.0.5 as the dhcp-host on line 3"),
            "{text:#?}"
        );
        assert!(
            text[1].contains("same hardware address 00:11:22:33:44:66 as the dhcp-host on line 4"),
            "{text:#?}"
        );
    }

    #[test]
    fn prefix_lengths() {
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(prefix_len(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 0, 255, 0)), None);
    }
}
