//! `[vrrp NAME]`: one virtual router instance, keepalived's knobs under
//! INI names (`virtual_router_id` → `virtual-router-id`, ...), so lines
//! move over with few edits.
//!
//! ```ini
//! [vrrp lan]
//! interface = eth0
//! virtual-router-id = 51
//! priority = 150
//! advert-int = 1
//! virtual-ipaddress = 192.168.1.1/24
//!
//! [vrrp lan6]
//! interface = eth0
//! virtual-router-id = 51
//! virtual-ipaddress = fe80::1/64
//! virtual-ipaddress = 2001:db8:1::1/64
//! ```
//!
//! An instance is IPv4 or IPv6 by its virtual addresses (RFC 9568 §7.3: a
//! virtual router serves one family; an IPv4 and an IPv6 one may share an
//! interface and even a VRID).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::packet::ChecksumMode;
use crate::section::{SectionReader, absolute_path, parse_bool, parse_ifname, parse_u32_in};

/// A tracked interface: down lowers the priority by `weight` (0 = the
/// instance goes to Backup / releases the VIP, keepalived's meaning).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackInterface {
    pub name: String,
    pub weight: i16,
}

/// `vip-lifetime`: the kernel lifetime of the VIPs this box adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VipLifetime {
    /// `down-timer-adverts` × `advert-int`, at least 2 s
    /// ([`super::router::auto_vip_lifetime`]).
    Auto,
    /// Permanent addresses, as keepalived adds them.
    Off,
    /// This many seconds.
    Secs(u16),
}

fn parse_vip_lifetime(v: &str) -> Result<VipLifetime, String> {
    match v {
        "auto" => Ok(VipLifetime::Auto),
        "off" => Ok(VipLifetime::Off),
        _ => match crate::section::parse_duration_secs(v) {
            Some(s) if (2..=3600).contains(&s) => Ok(VipLifetime::Secs(s as u16)),
            Some(_) => Err("out of range; expected auto, off, or 2s to 3600s".into()),
            None => Err("expected auto, off, or a duration such as 3, 3s or 1m".into()),
        },
    }
}

/// One `[vrrp NAME]` section, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpConfig {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub priority: u8,
    /// In centiseconds (RFC 9568 §5.2.7: 12 bits); whole seconds for v2.
    pub advert_int_cs: u16,
    pub version: u8,
    /// The IPv4 virtual addresses (empty for an IPv6 instance).
    pub vips: Vec<(Ipv4Addr, u8)>,
    /// The IPv6 virtual addresses, the first link-local (RFC 9568 §5.2.9);
    /// empty for an IPv4 instance.
    pub vips6: Vec<(Ipv6Addr, u8)>,
    pub preempt: bool,
    pub preempt_delay: Duration,
    pub unicast_src: Option<Ipv4Addr>,
    pub unicast_peers: Vec<Ipv4Addr>,
    /// The same for an IPv6 instance (keepalived accepts IPv6 peers too).
    pub unicast_src6: Option<Ipv6Addr>,
    pub unicast_peers6: Vec<Ipv6Addr>,
    /// Checksum form of the v3 adverts we send; both are accepted on
    /// receive (RFC 9568 §5.2.8 vs keepalived's pseudo-header form).
    pub checksum: ChecksumMode,
    pub garp_repeat: u32,
    pub garp_delay: Duration,
    pub garp_refresh: Duration,
    pub startup_delay: Duration,
    pub down_timer_adverts: u32,
    pub track_interfaces: Vec<TrackInterface>,
    pub track_scripts: Vec<super::hooks::TrackScript>,
    /// keepalived-style notify script and how long one run may take.
    pub notify: Option<std::path::PathBuf>,
    pub notify_timeout: Duration,
    pub vip_lifetime: VipLifetime,
    /// With `[ha]`: how long a box that is behind its peer holds back
    /// preemption after start while the peer is unreachable.
    pub sync_wait: Duration,
}

impl VrrpConfig {
    /// An IPv6 instance (its virtual addresses are IPv6, RFC 9568 §7.3).
    pub fn is_v6(&self) -> bool {
        !self.vips6.is_empty()
    }

    /// The family's name, for messages.
    pub fn family(&self) -> &'static str {
        if self.is_v6() { "IPv6" } else { "IPv4" }
    }

    /// Every virtual address as `ADDR/PREFIX`, for status and logs.
    pub fn vip_strings(&self) -> Vec<String> {
        let v4 = self.vips.iter().map(|(a, p)| format!("{a}/{p}"));
        v4.chain(self.vips6.iter().map(|(a, p)| format!("{a}/{p}")))
            .collect()
    }
}

/// `1`, `0.1`, `0.01` seconds → centiseconds.
pub fn parse_advert_int(v: &str) -> Result<u16, String> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 2
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err("expected seconds with at most two decimals, e.g. 1, 0.1 or 0.01".into());
    }
    let whole: u64 = int.parse().map_err(|_| "too large".to_string())?;
    let cs = whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(format!("{frac:0<2}").parse::<u64>().unwrap_or(0)))
        .ok_or("too large")?;
    if !(1..=4095).contains(&cs) {
        return Err("out of range; expected 0.01 to 40.95 seconds (RFC 9568 §5.2.7)".into());
    }
    Ok(cs as u16)
}

/// An IPv4 `ADDR/PREFIX` (alone: /32) or an IPv6 one (alone: /128, as
/// keepalived).
pub fn parse_vip_any(v: &str) -> Result<(IpAddr, u8), String> {
    let (a, p) = match v.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    let addr: IpAddr = a
        .trim()
        .parse()
        .map_err(|_| format!("{a:?} is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        Some(p) => parse_u32_in(p.trim(), 1, max)? as u8,
        None => max as u8,
    };
    let bad = match addr {
        IpAddr::V4(a) => a.is_unspecified() || a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_unspecified() || a.is_multicast() || a.is_loopback(),
    };
    if bad {
        return Err(format!("{addr} cannot be a virtual address"));
    }
    Ok((addr, prefix))
}

fn parse_ip(v: &str) -> Result<IpAddr, String> {
    v.parse().map_err(|_| format!("{v:?} is not an IP address"))
}

fn parse_secs(lo: u64, hi: u64) -> impl Fn(&str) -> Result<Duration, String> {
    move |v| match crate::section::parse_duration_secs(v) {
        Some(s) if (lo..=hi).contains(&s) => Ok(Duration::from_secs(s)),
        Some(_) => Err(format!("out of range; expected {lo}s to {hi}s")),
        None => Err("expected a duration such as 5, 5s or 1m".into()),
    }
}

/// `IFNAME` or `IFNAME weight N` (keepalived's `track_interface` line).
fn parse_track(v: &str) -> Result<TrackInterface, String> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    let bad = || "expected IFNAME or IFNAME weight N (N from -253 to 253)".to_string();
    let weight = match parts.as_slice() {
        [_] => 0,
        [_, "weight", n] => n
            .parse::<i16>()
            .ok()
            .filter(|w| (-253..=253).contains(w))
            .ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    Ok(TrackInterface {
        name: parts[0].to_string(),
        weight,
    })
}

/// Reads one `[vrrp NAME]` section; missing required keys are errors.
pub fn read(name: &str, r: &mut SectionReader<'_>) -> VrrpConfig {
    let interface = r.required("interface", String::new(), parse_ifname);
    let vrid = r.required("virtual-router-id", 0, |v| {
        parse_u32_in(v, 1, 255).map(|n| n as u8)
    });
    let priority = r.scalar("priority", 100, |v| {
        parse_u32_in(v, 1, 255).map(|n| n as u8)
    });
    let version = r.scalar("version", 3, |v| match v {
        "2" => Ok(2),
        "3" => Ok(3),
        _ => Err("expected 2 or 3".into()),
    });
    let mut advert_int_cs = r.scalar("advert-int", 100, parse_advert_int);
    if version == 2 && !advert_int_cs.is_multiple_of(100) {
        r.error_on(
            "advert-int",
            "VRRPv2 (RFC 3768 §5.3.7) counts the interval in whole seconds".into(),
        );
        advert_int_cs = 100;
    }
    let all_vips = r.list("virtual-ipaddress", parse_vip_any);
    // An invalid address was reported as such: not also as "missing".
    if all_vips.is_empty() && !r.has("virtual-ipaddress") {
        r.missing("virtual-ipaddress");
    }
    // The first address decides the family (RFC 9568 §7.3: one virtual
    // router per family; a v4 and a v6 instance may share the VRID).
    let v6 = matches!(all_vips.first(), Some((IpAddr::V6(_), _)));
    let (mut vips, mut vips6) = (Vec::new(), Vec::new());
    for (a, p) in &all_vips {
        match a {
            IpAddr::V4(a) if !v6 => vips.push((*a, *p)),
            IpAddr::V6(a) if v6 => vips6.push((*a, *p)),
            _ => r.error_on(
                "virtual-ipaddress",
                format!(
                    "{a}/{p}: an instance is IPv4 or IPv6 by its first address ({}); \
                     put the other family in its own [vrrp NAME] (RFC 9568 §7.3)",
                    all_vips[0].0
                ),
            ),
        }
    }
    if v6 {
        let addrs: Vec<Ipv6Addr> = vips6.iter().map(|(a, _)| *a).collect();
        // RFC 9568 §5.2.9: the first IPv6 address is the link-local one.
        if !super::packet6::first_vip_is_link_local(&addrs) {
            r.error_on(
                "virtual-ipaddress",
                format!(
                    "{}: the first IPv6 virtual address must be the virtual router's \
                     link-local address, e.g. fe80::1/64 (RFC 9568 §5.2.9)",
                    all_vips[0].0
                ),
            );
        }
        if version == 2 {
            r.error_on(
                "version",
                "VRRPv2 has no IPv6 form; an IPv6 instance runs version 3 (RFC 9568 §1, §5.2.1)"
                    .into(),
            );
        }
    }
    let nopreempt = r.scalar("nopreempt", false, parse_bool);
    let preempt_delay = r.scalar("preempt-delay", Duration::ZERO, parse_secs(0, 1000));
    let src_any = r.scalar("unicast-src-ip", None, |v| parse_ip(v).map(Some));
    let peers_any = r.list("unicast-peer", parse_ip);
    let family = if v6 { "IPv6" } else { "IPv4" };
    let (mut unicast_src, mut unicast_src6) = (None, None);
    match src_any {
        Some(IpAddr::V4(a)) if !v6 => unicast_src = Some(a),
        Some(IpAddr::V6(a)) if v6 => unicast_src6 = Some(a),
        Some(a) => r.error_on(
            "unicast-src-ip",
            format!("{a} is not an {family} address, and this is an {family} instance"),
        ),
        None => {}
    }
    let (mut unicast_peers, mut unicast_peers6) = (Vec::new(), Vec::new());
    for a in peers_any {
        match a {
            IpAddr::V4(a) if !v6 => unicast_peers.push(a),
            IpAddr::V6(a) if v6 => unicast_peers6.push(a),
            a => r.error_on(
                "unicast-peer",
                format!("{a} is not an {family} address, and this is an {family} instance"),
            ),
        }
    }
    let checksum = r.scalar("checksum", ChecksumMode::PseudoHeader, |v| match v {
        "rfc9568" => Ok(ChecksumMode::Rfc9568),
        "pseudo-header" => Ok(ChecksumMode::PseudoHeader),
        _ => Err("expected rfc9568 or pseudo-header".into()),
    });
    let garp_repeat = r.scalar("garp-master-repeat", 5, |v| parse_u32_in(v, 1, 255));
    let garp_delay = r.scalar(
        "garp-master-delay",
        Duration::from_secs(5),
        parse_secs(0, 3600),
    );
    let garp_refresh = r.scalar("garp-master-refresh", Duration::ZERO, parse_secs(0, 86_400));
    let startup_delay = r.scalar("startup-delay", Duration::ZERO, parse_secs(0, 3600));
    let down_timer_adverts = r.scalar("down-timer-adverts", 3, |v| parse_u32_in(v, 1, 100));
    let track_interfaces = r.list("track-interface", parse_track);
    let track_scripts = r.list("track-script", super::hooks::parse_track_script);
    let notify = r.scalar("notify", None, |v| absolute_path(v).map(Some));
    let notify_timeout = r.scalar(
        "notify-timeout",
        Duration::from_secs(10),
        parse_secs(1, 3600),
    );
    let vip_lifetime = r.scalar("vip-lifetime", VipLifetime::Auto, parse_vip_lifetime);
    let sync_wait = r.scalar("sync-wait", Duration::from_secs(10), parse_secs(0, 3600));
    VrrpConfig {
        name: name.to_string(),
        interface,
        vrid,
        priority,
        advert_int_cs,
        version,
        vips,
        vips6,
        preempt: !nopreempt,
        preempt_delay,
        unicast_src,
        unicast_peers,
        unicast_src6,
        unicast_peers6,
        checksum,
        garp_repeat,
        garp_delay,
        garp_refresh,
        startup_delay,
        down_timer_adverts,
        track_interfaces,
        track_scripts,
        notify,
        notify_timeout,
        vip_lifetime,
        sync_wait,
    }
}

/// The address-owner rule against the interface's addresses, as
/// `(value, message)` for `virtual-ipaddress`. RFC 9568 §1.6 (Definitions)
/// calls the router that has the virtual addresses as real interface
/// addresses their owner, and §5.2.4 gives the owner priority 255 and
/// every other router 1..=254. So priority 255 needs every VIP on the
/// interface already (hamasq then never adds or removes them), and a
/// lower priority must not list the box's own primary address (hamasq
/// would delete it at start and stop, issue 17 item 6).
pub fn owner_error(c: &VrrpConfig, primary: IpAddr, on_if: &[IpAddr]) -> Option<(String, String)> {
    let owner = c.priority == super::router::PRIORITY_OWNER;
    let v4 = c.vips.iter().map(|(a, p)| (IpAddr::V4(*a), *p));
    let v6 = c.vips6.iter().map(|(a, p)| (IpAddr::V6(*a), *p));
    for (addr, prefix) in v4.chain(v6) {
        let present = on_if.contains(&addr);
        if owner && !present {
            return Some((
                format!("{addr}/{prefix}"),
                format!(
                    "priority 255 means this box owns the address (RFC 9568 §1.6, §5.2.4), \
                     but it is not an address of {}; use priority 1..254 for a virtual address",
                    c.interface
                ),
            ));
        }
        if !owner && addr == primary {
            return Some((
                format!("{addr}/{prefix}"),
                format!(
                    "is this box's own address on {} (its VRRP source); only the address \
                     owner may list it, with priority = 255 (RFC 9568 §5.2.4), and then \
                     hamasq never adds or removes it",
                    c.interface
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advert_intervals_in_centiseconds() {
        assert_eq!(parse_advert_int("1"), Ok(100));
        assert_eq!(parse_advert_int("0.1"), Ok(10));
        assert_eq!(parse_advert_int("0.01"), Ok(1));
        assert_eq!(parse_advert_int("40.95"), Ok(4095));
        assert!(parse_advert_int("41").is_err());
        assert!(parse_advert_int("0").is_err());
        assert!(parse_advert_int("0.001").is_err());
        assert!(parse_advert_int("1s").is_err());
    }

    #[test]
    fn vips_and_tracks() {
        assert_eq!(
            parse_vip_any("192.168.1.1/24"),
            Ok((Ipv4Addr::new(192, 168, 1, 1).into(), 24))
        );
        assert_eq!(
            parse_vip_any("192.168.1.1"),
            Ok((Ipv4Addr::new(192, 168, 1, 1).into(), 32))
        );
        assert!(parse_vip_any("224.0.0.18/32").is_err());
        assert!(parse_vip_any("192.168.1.1/33").is_err());
        assert_eq!(parse_track("wan0 weight -50").unwrap().weight, -50);
        assert_eq!(parse_track("wan0").unwrap().weight, 0);
        assert!(parse_track("wan0 weight 300").is_err());
    }

    fn read_str(text: &str) -> (VrrpConfig, Vec<String>) {
        let raw = crate::section::raw::parse(std::path::Path::new("t.conf"), text).unwrap();
        let mut r = SectionReader::new(std::path::Path::new("t.conf"), &raw.sections[0]);
        let c = read("x", &mut r);
        let errs = r.finish(Vec::new).iter().map(|e| e.to_string()).collect();
        (c, errs)
    }

    #[test]
    fn an_instance_is_ipv6_by_its_addresses() {
        let (c, errs) = read_str(
            "[vrrp x]\ninterface = eth0\nvirtual-router-id = 51\n\
             virtual-ipaddress = fe80::1/64\nvirtual-ipaddress = 2001:db8:1::1/64\n\
             unicast-peer = fe80::2\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert!(c.is_v6() && c.vips.is_empty());
        assert_eq!(
            c.vips6,
            [
                ("fe80::1".parse().unwrap(), 64),
                ("2001:db8:1::1".parse().unwrap(), 64)
            ]
        );
        assert_eq!(c.unicast_peers6, ["fe80::2".parse::<Ipv6Addr>().unwrap()]);
        // An address alone is a host route, as keepalived.
        assert_eq!(
            parse_vip_any("fe80::1"),
            Ok(("fe80::1".parse().unwrap(), 128))
        );
        assert!(parse_vip_any("ff02::12/64").is_err());
        assert!(parse_vip_any("fe80::1/129").is_err());
    }

    #[test]
    fn ipv6_mistakes_are_named_all_at_once() {
        let (_, errs) = read_str(
            "[vrrp x]\ninterface = eth0\nvirtual-router-id = 51\nversion = 2\n\
             virtual-ipaddress = 2001:db8:1::1/64\nvirtual-ipaddress = 10.0.0.1/24\n\
             unicast-src-ip = 10.0.0.2\nunicast-peer = 10.0.0.3\n",
        );
        let has = |key: &str, what: &str| {
            errs.iter()
                .any(|e| e.contains("t.conf") && e.contains(key) && e.contains(what))
        };
        assert!(
            has(
                "virtual-ipaddress",
                "must be the virtual router's link-local"
            ),
            "{errs:?}"
        );
        assert!(
            has(
                "virtual-ipaddress",
                "10.0.0.1/24: an instance is IPv4 or IPv6"
            ),
            "{errs:?}"
        );
        assert!(has("version", "VRRPv2 has no IPv6 form"), "{errs:?}");
        assert!(
            has("unicast-src-ip", "10.0.0.2 is not an IPv6 address"),
            "{errs:?}"
        );
        assert!(
            has("unicast-peer", "10.0.0.3 is not an IPv6 address"),
            "{errs:?}"
        );
        assert_eq!(errs.len(), 5, "{errs:?}");
        // And the other way round: IPv6 unicast on an IPv4 instance.
        let (c, errs) = read_str(
            "[vrrp x]\ninterface = eth0\nvirtual-router-id = 51\n\
             virtual-ipaddress = 10.0.0.1/24\nunicast-peer = fe80::2\n",
        );
        assert!(!c.is_v6());
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("fe80::2 is not an IPv4 address"),
            "{errs:?}"
        );
    }

    #[test]
    fn vip_lifetimes() {
        assert_eq!(parse_vip_lifetime("auto"), Ok(VipLifetime::Auto));
        assert_eq!(parse_vip_lifetime("off"), Ok(VipLifetime::Off));
        assert_eq!(parse_vip_lifetime("5"), Ok(VipLifetime::Secs(5)));
        assert_eq!(parse_vip_lifetime("1m"), Ok(VipLifetime::Secs(60)));
        // 1 s cannot be refreshed safely: the kernel counts whole seconds.
        assert!(parse_vip_lifetime("1").is_err());
        assert!(parse_vip_lifetime("0").is_err());
        assert!(parse_vip_lifetime("2h").is_err());
        assert!(parse_vip_lifetime("forever").is_err());
    }

    #[test]
    fn the_owner_must_hold_its_addresses_and_only_the_owner_may() {
        let (own, other) = (IpAddr::from([10, 0, 0, 2]), IpAddr::from([10, 0, 0, 9]));
        let on_if = [own, other];
        let mut c = VrrpConfig {
            name: "lan".into(),
            interface: "eth0".into(),
            vrid: 51,
            priority: 255,
            advert_int_cs: 100,
            version: 3,
            vips: vec![(Ipv4Addr::new(10, 0, 0, 2), 24)],
            vips6: vec![],
            preempt: true,
            preempt_delay: Duration::ZERO,
            unicast_src: None,
            unicast_peers: vec![],
            unicast_src6: None,
            unicast_peers6: vec![],
            checksum: ChecksumMode::PseudoHeader,
            garp_repeat: 5,
            garp_delay: Duration::ZERO,
            garp_refresh: Duration::ZERO,
            startup_delay: Duration::ZERO,
            down_timer_adverts: 3,
            track_interfaces: vec![],
            track_scripts: vec![],
            notify: None,
            notify_timeout: Duration::from_secs(10),
            vip_lifetime: VipLifetime::Auto,
            sync_wait: Duration::from_secs(10),
        };
        let primary = own;
        // The owner with its own address: fine.
        assert_eq!(owner_error(&c, primary, &on_if), None);
        // The owner of an address the box does not have: refused.
        c.vips = vec![(Ipv4Addr::new(10, 0, 0, 254), 24)];
        let e = owner_error(&c, primary, &on_if).unwrap();
        assert!(e.1.contains("not an address of eth0"), "{e:?}");
        // A backup listing the box's own primary address: refused.
        c.priority = 100;
        c.vips = vec![(Ipv4Addr::new(10, 0, 0, 2), 24)];
        let e = owner_error(&c, primary, &on_if).unwrap();
        assert_eq!(e.0, "10.0.0.2/24");
        assert!(e.1.contains("priority = 255"), "{e:?}");
        // A backup with a real virtual address: fine.
        c.vips = vec![(Ipv4Addr::new(10, 0, 0, 254), 24)];
        assert_eq!(owner_error(&c, primary, &on_if), None);
    }
}
