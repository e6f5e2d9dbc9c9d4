//! Stage 3 of 3: the only stage that looks at the running system.
//!
//! It checks what a valid-looking config still needs from the machine: that
//! the `user` exists, that `state-dir` is (or can become) a directory, that
//! the pid file's directory exists. Interfaces named by subsystems are
//! resolved here too as the subsystems arrive. Nothing is created or changed
//! here, so `hamasq --test` is safe to run on a live box.

use std::path::Path;

use nix::unistd::User;

use super::{Config, ConfigError};
use crate::dhcp::Plan;
use crate::net::local_interfaces;

pub use crate::privilege::{RunAs, check_executable};

/// A config checked against this machine.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub config: Config,
    pub run_as: Option<RunAs>,
    /// `[dhcp]` joined with the interfaces.
    pub dhcp: Option<Plan>,
    /// Each `[vrrp NAME]` with its interface index and primary address.
    pub vrrp: Vec<VrrpInstance>,
    /// `[ha]`: this box's own address and its peer's (design §9).
    pub ha: Option<HaPair>,
    /// Each `[dhcpv6 NAME]` with its interface and defaults filled in.
    pub dhcpv6: Vec<crate::dhcp6::config::Dhcp6Instance>,
    /// What will start but probably not as meant (dnsmasq warns in the
    /// same cases): printed by `--test`, logged at start and reload.
    pub warnings: Vec<ConfigError>,
}

/// `[ha]` resolved against this machine's addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HaPair {
    pub me: std::net::Ipv4Addr,
    pub peer: std::net::Ipv4Addr,
}

/// A VRRP instance bound to this machine's interface.
#[derive(Clone, Debug)]
pub struct VrrpInstance {
    pub config: crate::vrrp::config::VrrpConfig,
    pub ifindex: u32,
    /// The advert source and tie-break address (RFC 9568 §6.1, §7.2):
    /// `unicast-src-ip`, else the interface's first IPv4 address; for an
    /// IPv6 instance the interface's link-local address (RFC 9568 §5.1.2.1,
    /// §6.4.3).
    pub primary: std::net::IpAddr,
}

/// Which IPv6 instance a router-advertisement or DHCPv6 section follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vrrp6Key<'a> {
    /// The IPv6 instance on this interface.
    Interface(&'a str),
    /// The instance `[vrrp NAME]` (it must be an IPv6 one).
    Name(&'a str),
}

/// An IPv6 VRRP instance as RA and DHCPv6 need it (design §10): whose
/// role gates them and which addresses are the virtual router's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vrrp6Gate {
    pub name: String,
    pub interface: String,
    pub ifindex: u32,
    /// Index into `daemon::Channels::roles` (and `Resolved::vrrp`).
    pub role_index: usize,
    /// The virtual link-local address, the RA source (RFC 9568 §5.2.9,
    /// §6.4.3).
    pub link_local: std::net::Ipv6Addr,
    /// The other virtual addresses (global, ULA) with their prefixes.
    pub others: Vec<(std::net::Ipv6Addr, u8)>,
}

/// The IPv6 instance named by `key`, if any. Pure: reads the resolved
/// instances only.
pub fn vrrp6_gate(vrrp: &[VrrpInstance], key: Vrrp6Key<'_>) -> Option<Vrrp6Gate> {
    let (i, v) = vrrp.iter().enumerate().find(|(_, v)| {
        v.config.is_v6()
            && match key {
                Vrrp6Key::Interface(n) => v.config.interface == n,
                Vrrp6Key::Name(n) => v.config.name == n,
            }
    })?;
    let (first, others) = v.config.vips6.split_first()?;
    Some(Vrrp6Gate {
        name: v.config.name.clone(),
        interface: v.config.interface.clone(),
        ifindex: v.ifindex,
        role_index: i,
        link_local: first.0,
        others: others.to_vec(),
    })
}

impl Vrrp6Gate {
    /// The DNS servers clients are told about by default (RA RDNSS, DHCPv6
    /// `dns-server`): the instance's global and ULA VIPs, which move with
    /// the Active (DNS listens on every address, design §10), else the
    /// virtual link-local.
    pub fn dns_servers(&self) -> Vec<std::net::Ipv6Addr> {
        let others: Vec<_> = self.others.iter().map(|&(a, _)| a).collect();
        if others.is_empty() {
            vec![self.link_local]
        } else {
            others
        }
    }
}

/// Which `[vrrp]` instance gates an IPv6 service (`[ra NAME]`,
/// `[dhcpv6 NAME]`) on `interface`, and the IPv6 virtual router it speaks
/// for, if the gate is one (design §10: only the Active sends RAs, RFC 9568
/// §6.4.2/§6.4.3, and answers DHCPv6).
///
/// `named` (the section's `vrrp` key) wins. Otherwise: the IPv6 instance
/// on the interface, else an IPv4 one on it, else the first instance (a
/// pair must never have both boxes advertise); none without `[vrrp]`.
pub fn v6_service_gate(
    vrrp: &[VrrpInstance],
    named: Option<&str>,
    interface: &str,
) -> (Option<usize>, Option<Vrrp6Gate>) {
    let index = match named {
        Some(n) => vrrp.iter().position(|v| v.config.name == n),
        None => vrrp
            .iter()
            .position(|v| v.config.is_v6() && v.config.interface == interface)
            .or_else(|| vrrp.iter().position(|v| v.config.interface == interface))
            .or_else(|| (!vrrp.is_empty()).then_some(0)),
    };
    let gate6 = index.and_then(|i| vrrp6_gate(vrrp, Vrrp6Key::Name(&vrrp[i].config.name)));
    (index, gate6)
}

impl Resolved {
    /// See [`vrrp6_gate`].
    pub fn vrrp6_gate(&self, key: Vrrp6Key<'_>) -> Option<Vrrp6Gate> {
        vrrp6_gate(&self.vrrp, key)
    }
}

pub fn resolve(config: Config) -> Result<Resolved, Vec<ConfigError>> {
    let mut errs = Vec::new();
    let err = |key: &str, value: String, message: String| ConfigError {
        file: config.file.clone(),
        line: None,
        section: Some("general".into()),
        key: Some(key.into()),
        value: Some(value),
        message,
    };
    let g = &config.general;

    let run_as = match &g.user {
        None => None,
        Some(name) => match User::from_name(name) {
            Ok(Some(u)) => Some(RunAs {
                name: name.clone(),
                uid: u.uid,
                gid: u.gid,
            }),
            Ok(None) => {
                errs.push(err(
                    "user",
                    name.clone(),
                    "no such user on this system".into(),
                ));
                None
            }
            Err(e) => {
                errs.push(err(
                    "user",
                    name.clone(),
                    format!("cannot look the user up: {e}"),
                ));
                None
            }
        },
    };

    let sd = &g.state_dir;
    if sd.exists() && !sd.is_dir() {
        errs.push(err(
            "state-dir",
            sd.display().to_string(),
            "exists but is not a directory".into(),
        ));
    } else if std::fs::metadata(sd).is_ok_and(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o002 != 0
    }) {
        // hamasq opens its lease files there as root: a directory every
        // user can write would let anyone plant files in it.
        errs.push(err(
            "state-dir",
            sd.display().to_string(),
            "is writable by every user (mode o+w); use a directory of its own, e.g. /var/lib/hamasq".into(),
        ));
    } else if !sd.exists() && !sd.parent().is_some_and(Path::is_dir) {
        errs.push(err(
            "state-dir",
            sd.display().to_string(),
            "neither it nor its parent directory exists".into(),
        ));
    }

    // The pid file's directory may be missing if its parent exists: it is
    // created at start (as /run/hamasq is, which systemd's
    // RuntimeDirectory= makes only while the unit runs).
    if let Some(pf) = &g.pid_file {
        let dir = pf.parent().filter(|d| !d.as_os_str().is_empty());
        if !dir.is_some_and(|d| d.is_dir() || d.parent().is_some_and(Path::is_dir)) {
            errs.push(err(
                "pid-file",
                pf.display().to_string(),
                "neither its directory nor that directory's parent exists".into(),
            ));
        } else if dir.is_some_and(|d| d.exists() && !d.is_dir()) {
            errs.push(err(
                "pid-file",
                pf.display().to_string(),
                "its directory exists but is not a directory".into(),
            ));
        } else if pf.is_dir() {
            errs.push(err(
                "pid-file",
                pf.display().to_string(),
                "is a directory".into(),
            ));
        }
    }

    // The control socket is bound at start: its directory must exist then
    // (state-dir is created at start, so a socket in it is fine).
    if let Some(cs) = &g.control_socket
        && let Some(dir) = cs.parent()
        && dir != sd.as_path()
        && !dir.is_dir()
    {
        errs.push(err(
            "control-socket",
            cs.display().to_string(),
            "its directory does not exist".into(),
        ));
    }

    let mut dhcp = match &config.dhcp {
        None => None,
        Some(d) => match local_interfaces() {
            Err(e) => {
                errs.push(ConfigError {
                    file: config.file.clone(),
                    line: None,
                    section: Some("dhcp".into()),
                    key: None,
                    value: None,
                    message: format!("cannot list this system's interfaces: {e}"),
                });
                None
            }
            Ok(ifaces) => {
                // dnsmasq's default: when this box serves DNS on the
                // standard port, clients get it as their DNS server.
                let dns_server = config
                    .dns
                    .as_ref()
                    .is_some_and(|dns| dns.port == crate::dns::config::DEFAULT_PORT);
                match crate::dhcp::plan_for(d, ifaces, dns_server, &config.file) {
                    Ok(mut p) => {
                        p.domain = config.dns.as_ref().and_then(|dns| dns.domain.clone());
                        Some(p)
                    }
                    Err(e) => {
                        errs.extend(e);
                        None
                    }
                }
            }
        },
    };

    let mut vrrp = Vec::new();
    if !config.vrrp.is_empty() {
        let ifaces = local_interfaces().unwrap_or_default();
        let ifaces6 = if config.vrrp.iter().any(|v| v.is_v6()) {
            crate::net::local_interfaces6().unwrap_or_default()
        } else {
            Vec::new()
        };
        for v in &config.vrrp {
            let verr = |key: &str, value: String, message: String| ConfigError {
                file: config.file.clone(),
                line: None,
                section: Some(format!("vrrp {}", v.name)),
                key: Some(key.into()),
                value: Some(value),
                message,
            };
            if v.is_v6() {
                match resolve_vrrp6(v, &ifaces6) {
                    Ok(i) => vrrp.push(i),
                    Err((key, value, message)) => errs.push(verr(key, value, message)),
                }
                continue;
            }
            let on_if: Vec<_> = ifaces.iter().filter(|i| i.name == v.interface).collect();
            let Some(first) = on_if.first() else {
                errs.push(verr(
                    "interface",
                    v.interface.clone(),
                    "no such interface with an IPv4 address on this system".into(),
                ));
                continue;
            };
            let primary = match v.unicast_src {
                Some(src) if !on_if.iter().any(|i| i.addr == src) => {
                    errs.push(verr(
                        "unicast-src-ip",
                        src.to_string(),
                        format!("is not an address of {}", v.interface),
                    ));
                    continue;
                }
                Some(src) => src,
                None => first.addr,
            };
            let present: Vec<std::net::IpAddr> = on_if.iter().map(|i| i.addr.into()).collect();
            if let Some(e) = crate::vrrp::config::owner_error(v, primary.into(), &present) {
                errs.push(verr("virtual-ipaddress", e.0, e.1));
                continue;
            }
            vrrp.push(VrrpInstance {
                config: v.clone(),
                ifindex: first.index,
                primary: primary.into(),
            });
        }
    }

    if let Some(p) = dhcp.as_mut() {
        errs.extend(join_vrrp(&mut p.subnets, &vrrp, &config.file));
    }

    let ha = config
        .ha
        .as_ref()
        .and_then(|h| resolve_ha(&config, h, dhcp.as_mut(), &mut errs));

    if !config.ra.is_empty() {
        let addrs = crate::net::local_interfaces6().unwrap_or_default();
        errs.extend(ra_errors(&config, &addrs));
    }
    let mut dhcpv6 = Vec::new();
    if !config.dhcpv6.is_empty() {
        let ifaces6 = crate::net::local_interfaces6().unwrap_or_default();
        let domain = config.dns.as_ref().and_then(|d| d.domain.as_deref());
        for d in &config.dhcpv6 {
            let (_, gate6) = v6_service_gate(&vrrp, d.vrrp.as_deref(), &d.interface);
            let vip_dns = gate6.map(|g| g.dns_servers());
            match crate::dhcp6::config::resolve(d, domain, &ifaces6, vip_dns) {
                Ok(i) => dhcpv6.push(i),
                Err((key, value, message)) => errs.push(ConfigError {
                    file: config.file.clone(),
                    line: None,
                    section: Some(format!("dhcpv6 {}", d.name)),
                    key: Some(key.into()),
                    value: Some(value).filter(|v| !v.is_empty()),
                    message,
                }),
            }
        }
    }

    start_checks(&config, dhcp.as_ref(), &mut errs);
    let mut warnings = warnings(&config);
    config.locate(&mut errs);
    config.locate(&mut warnings);

    if errs.is_empty() {
        Ok(Resolved {
            config,
            run_as,
            dhcp,
            vrrp,
            ha,
            dhcpv6,
            warnings,
        })
    } else {
        Err(super::collapse_repeats(errs))
    }
}

/// `[ha]` (design §9): which of `pair` is this box, a key that loads, and
/// a `[dhcp]` to replicate; the DHCP plan learns the MCLT.
fn resolve_ha(
    config: &Config,
    h: &crate::ha::config::HaConfig,
    dhcp: Option<&mut Plan>,
    errs: &mut Vec<ConfigError>,
) -> Option<HaPair> {
    let e = |key: &str, value: String, message: String| ConfigError {
        file: config.file.clone(),
        line: None,
        section: Some("ha".into()),
        key: Some(key.into()),
        value: Some(value),
        message,
    };
    let mut ok = true;
    if let Err(k) = crate::ha::auth::Psk::load(&h.key_file) {
        errs.push(e(
            "key-file",
            h.key_file.display().to_string(),
            k.to_string(),
        ));
        ok = false;
    }
    match dhcp {
        Some(p) => p.mclt = Some(h.mclt),
        None => {
            errs.push(e(
                "pair",
                list(&h.pair),
                "[ha] replicates DHCP leases and names: it needs a [dhcp] section".into(),
            ));
            ok = false;
        }
    }
    let mine: Vec<(std::net::Ipv4Addr, u8)> = local_interfaces()
        .unwrap_or_default()
        .iter()
        .map(|i| (i.addr, i.prefix))
        .collect();
    let pair = crate::ha::config::resolve(h, &mine);
    if pair.is_none() {
        errs.push(e(
            "pair",
            list(&h.pair),
            if h.pair.len() == 2 {
                "exactly one of the two addresses must be this box's own (neither or both are)".into()
            } else {
                "no address of this box is in the peer's subnet: name both boxes, e.g. 192.168.1.2, 192.168.1.3".into()
            },
        ));
    }
    let (me, peer) = pair?;
    ok.then_some(HaPair { me, peer })
}

fn list(a: &[std::net::Ipv4Addr]) -> String {
    a.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// HA (design §4): a DHCP subnet on a VRRP interface that holds one of
/// the instance's VIPs identifies itself by the VIP, and follows that
/// instance's role. A subnet no instance has a VIP in (a relayed subnet, a
/// link without a VIP) follows the first instance, so in a pair only one
/// box answers for it; without VRRP every subnet stands alone. Also run
/// on reload against the running instances (they need a restart).
pub fn join_vrrp(
    subnets: &mut [crate::dhcp::subnet::Subnet],
    vrrp: &[VrrpInstance],
    file: &Path,
) -> Vec<ConfigError> {
    let mut errs = Vec::new();
    // A subnet without a VIP follows the first IPv4 instance, or the first
    // instance at all when only IPv6 ones exist (so a pair still answers
    // DHCPv4 from one box only).
    let fallback = vrrp
        .iter()
        .position(|v| !v.config.is_v6())
        .or_else(|| (!vrrp.is_empty()).then_some(0));
    for s in subnets {
        // Only IPv4 instances hold DHCPv4 VIPs (an IPv6 one's `vips` is
        // empty): an IPv6 instance never owns a DHCPv4 subnet.
        let owner = s.local.as_ref().and_then(|l| {
            vrrp.iter().enumerate().find_map(|(i, v)| {
                let vip = v
                    .config
                    .vips
                    .iter()
                    .map(|(a, _)| *a)
                    .find(|a| s.contains(*a));
                vip.filter(|_| v.config.interface == l.name).map(|a| (i, a))
            })
        });
        if let Some((_, v)) = owner
            && (s.own_range(v).is_some() || s.in_peer_range(v))
        {
            errs.push(ConfigError {
                file: file.to_path_buf(),
                line: None,
                section: Some("dhcp".into()),
                key: Some("dhcp-range".into()),
                value: Some(v.to_string()),
                message: "a DHCP range contains the VRRP virtual address".into(),
            });
        }
        s.vip = owner.map(|(_, v)| v);
        s.vrrp = owner.map(|(i, _)| i).or(fallback);
    }
    errs
}

/// An IPv6 instance against the interface's IPv6 addresses: the source is
/// `unicast-src-ip` or the interface's own link-local address (RFC 9568
/// §5.1.2.1: the source is the link-local address of the interface).
fn resolve_vrrp6(
    v: &crate::vrrp::config::VrrpConfig,
    ifaces6: &[crate::net::IfAddr6],
) -> Result<VrrpInstance, (&'static str, String, String)> {
    let on_if: Vec<_> = ifaces6.iter().filter(|i| i.name == v.interface).collect();
    let Some(ll) = on_if
        .iter()
        .find(|i| crate::net::is_link_local6(i.addr) && !v.vips6.iter().any(|(a, _)| *a == i.addr))
    else {
        return Err((
            "interface",
            v.interface.clone(),
            "no such interface with an IPv6 link-local address of its own on this system \
             (an IPv6 instance sends from it, RFC 9568 §5.1.2.1)"
                .into(),
        ));
    };
    let primary = match v.unicast_src6 {
        Some(src) if !on_if.iter().any(|i| i.addr == src) => {
            return Err((
                "unicast-src-ip",
                src.to_string(),
                format!("is not an address of {}", v.interface),
            ));
        }
        Some(src) => src,
        None => ll.addr,
    };
    let present: Vec<std::net::IpAddr> = on_if.iter().map(|i| i.addr.into()).collect();
    if let Some(e) = crate::vrrp::config::owner_error(v, primary.into(), &present) {
        return Err(("virtual-ipaddress", e.0, e.1));
    }
    Ok(VrrpInstance {
        config: v.clone(),
        ifindex: ll.index,
        primary: primary.into(),
    })
}

/// What start-up would refuse or silently get wrong, checked without
/// binding anything, so that `--test` passing means the daemon starts.
fn start_checks(config: &Config, dhcp: Option<&Plan>, errs: &mut Vec<ConfigError>) {
    let e = |section: &str, line: Option<usize>, key: &str, value: String, message: String| {
        ConfigError {
            file: config.file.clone(),
            line,
            section: Some(section.into()),
            key: Some(key.into()),
            value: Some(value),
            message,
        }
    };
    // Hook scripts: the DHCP task and the VRRP instances refuse to start
    // without them.
    if let Some(script) = config.dhcp.as_ref().and_then(|d| d.script.as_ref())
        && let Err(m) = check_executable(script)
    {
        errs.push(e(
            "dhcp",
            None,
            "dhcp-script",
            script.display().to_string(),
            m,
        ));
    }
    for v in &config.vrrp {
        let section = format!("vrrp {}", v.name);
        if let Some(n) = &v.notify
            && let Err(m) = check_executable(n)
        {
            errs.push(e(&section, None, "notify", n.display().to_string(), m));
        }
        for t in &v.track_scripts {
            if let Err(m) = check_executable(&t.path) {
                errs.push(e(
                    &section,
                    None,
                    "track-script",
                    t.path.display().to_string(),
                    m,
                ));
            }
        }
    }
    // The metrics listener and DNS's TCP listener on one port: whichever
    // binds second fails the start.
    if let (Some(m), Some(dns)) = (config.general.metrics_listen, config.dns.as_ref())
        && dns.port != 0
        && m.port() == dns.port
        && (m.ip().is_unspecified()
            || dns.listen_addresses.is_empty()
            || dns.listen_addresses.contains(&m.ip()))
    {
        errs.push(e(
            "general",
            None,
            "metrics-listen",
            m.to_string(),
            format!(
                "port {} is the DNS port ([dns] port): the two listeners cannot share it",
                dns.port
            ),
        ));
    }
    // A reservation the server could never hand out.
    if let (Some(p), Some(d)) = (dhcp, config.dhcp.as_ref()) {
        for h in &d.hosts {
            let Some(ip) = h.ip else { continue };
            let Some(s) = p.subnets.iter().find(|s| s.contains(ip)) else {
                continue;
            };
            let why = if s.prefix < 31 && ip == s.network {
                Some(format!(
                    "is the network address of {}/{}",
                    s.network, s.prefix
                ))
            } else if s.prefix < 31 && ip == s.broadcast() {
                Some(format!(
                    "is the broadcast address of {}/{}",
                    s.network, s.prefix
                ))
            } else if s.vip == Some(ip) {
                Some("is the VRRP virtual address".to_string())
            } else if let Some(l) = s.local.as_ref().filter(|l| l.addr == ip) {
                Some(format!("is this server's own address on {}", l.name))
            } else if p.local_addrs.iter().any(|l| l.addr == ip) {
                Some("is an address of this server".to_string())
            } else {
                None
            };
            if let Some(why) = why {
                errs.push(e(
                    "dhcp",
                    h.line,
                    "dhcp-host",
                    ip.to_string(),
                    format!("{why}: no client can be given it"),
                ));
            }
        }
    }
}

/// Problems that do not stop the start (dnsmasq warns about them too).
fn warnings(config: &Config) -> Vec<ConfigError> {
    let mut out = Vec::new();
    if config.dhcp.is_none()
        && config.vrrp.is_empty()
        && config.ra.is_empty()
        && config.dns.as_ref().is_none_or(|d| d.port == 0)
    {
        out.push(ConfigError {
            file: config.file.clone(),
            line: None,
            section: None,
            key: None,
            value: None,
            message:
                "this config enables nothing: add [dns], [dhcp] or [vrrp NAME] (see hamasq.conf(5))"
                    .into(),
        });
    }
    if let Some(dns) = &config.dns {
        for name in &dns.interfaces {
            if nix::net::if_::if_nametoindex(name.as_str()).is_err() {
                out.push(ConfigError {
                    file: config.file.clone(),
                    line: None,
                    section: Some("dns".into()),
                    key: Some("interface".into()),
                    value: Some(name.clone()),
                    message: "no such interface on this system (yet): no query will be answered on it until it appears".into(),
                });
            }
        }
    }
    // Only with [ra]: listing the interfaces costs a netlink dump (and
    // qemu-user's big-endian MIPS netlink translation never finishes one
    // for IPv6 addresses: tests/packaging.rs runs a DNS-only config there).
    if !config.ra.is_empty() {
        out.extend(ra_warnings(
            config,
            &crate::net::local_interfaces6().unwrap_or_default(),
        ));
    }
    out
}

/// What would stop an `[ra NAME]` task at start: its interface missing,
/// or without the IPv6 link-local address RAs are sent from (RFC 4861
/// §6.1.2: hosts drop an RA from any other source).
fn ra_errors(config: &Config, addrs: &[crate::net::IfAddr6]) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for ra in &config.ra {
        let exists = nix::net::if_::if_nametoindex(ra.interface.as_str()).is_ok();
        let has_ll = addrs
            .iter()
            .any(|a| a.name == ra.interface && a.addr.is_unicast_link_local());
        let message = if !exists {
            "no such interface on this system"
        } else if !has_ll {
            "has no IPv6 link-local address to send router advertisements from; is IPv6 disabled on it?"
        } else {
            continue;
        };
        out.push(ConfigError {
            file: config.file.clone(),
            line: None,
            section: Some(format!("ra {}", ra.name)),
            key: Some("interface".into()),
            value: Some(ra.interface.clone()),
            message: message.into(),
        });
    }
    out
}

/// `[ra NAME]` prefixes that no address of the interface lies in: hosts
/// would form addresses this router does not route on that link.
fn ra_warnings(config: &Config, addrs: &[crate::net::IfAddr6]) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for ra in &config.ra {
        for (p, len) in crate::ra::config::prefixes_not_on_interface(ra, addrs) {
            out.push(ConfigError {
                file: config.file.clone(),
                line: None,
                section: Some(format!("ra {}", ra.name)),
                key: Some("prefix".into()),
                value: Some(format!("{p}/{len}")),
                message: format!(
                    "no address of {} is in this prefix: hosts will form addresses that this router does not route on that link",
                    ra.interface
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_and_validate;

    fn res(text: &str) -> Result<Resolved, Vec<ConfigError>> {
        resolve(parse_and_validate(Path::new("t.conf"), text).unwrap())
    }

    /// 192.168.C.0/24, on `ifname` (this box at .2) or relayed.
    fn test_subnet(c: u8, ifname: Option<&str>) -> crate::dhcp::subnet::Subnet {
        crate::dhcp::subnet::Subnet {
            network: [192, 168, c, 0].into(),
            prefix: 24,
            local: ifname.map(|n| crate::net::IfAddr {
                name: n.into(),
                index: 2,
                addr: [192, 168, c, 2].into(),
                prefix: 24,
            }),
            ranges: Vec::new(),
            peer: Vec::new(),
            vip: None,
            vrrp: None,
        }
    }

    #[test]
    fn each_dhcp_subnet_follows_the_instance_whose_vip_it_holds() {
        use crate::dhcp::subnet::{Span, Subnet};
        let cfg = parse_and_validate(
            Path::new("t.conf"),
            "[vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\nvirtual-ipaddress = 192.168.1.1/24\n\n\
             [vrrp guest]\ninterface = eth1\nvirtual-router-id = 52\nvirtual-ipaddress = 192.168.2.1/24\n",
        )
        .unwrap();
        let vrrp: Vec<VrrpInstance> = cfg
            .vrrp
            .iter()
            .map(|v| VrrpInstance {
                config: v.clone(),
                ifindex: 0,
                primary: std::net::Ipv4Addr::UNSPECIFIED.into(),
            })
            .collect();
        let subnet = test_subnet;
        // The guest VLAN first, a LAN, a relayed subnet, a subnet on the
        // guest interface that no VIP lies in.
        let mut subnets = vec![
            subnet(2, Some("eth1")),
            subnet(1, Some("eth0")),
            subnet(9, None),
            subnet(3, Some("eth1")),
        ];
        assert!(join_vrrp(&mut subnets, &vrrp, Path::new("t.conf")).is_empty());
        let got: Vec<_> = subnets.iter().map(|s| (s.vip, s.vrrp)).collect();
        assert_eq!(
            got,
            vec![
                (Some([192, 168, 2, 1].into()), Some(1)),
                (Some([192, 168, 1, 1].into()), Some(0)),
                (None, Some(0)),
                (None, Some(0)),
            ]
        );
        // A VIP on another interface than the subnet's is not its own.
        let mut wrong_if = vec![subnet(2, Some("eth0"))];
        join_vrrp(&mut wrong_if, &vrrp, Path::new("t.conf"));
        assert_eq!((wrong_if[0].vip, wrong_if[0].vrrp), (None, Some(0)));
        // Without VRRP every subnet stands alone.
        join_vrrp(&mut subnets, &[], Path::new("t.conf"));
        assert!(subnets.iter().all(|s| s.vip.is_none() && s.vrrp.is_none()));
        // A range holding the VIP is refused.
        let mut bad = vec![Subnet {
            ranges: vec![crate::dhcp::subnet::Range {
                span: Span::new([192, 168, 1, 1].into(), [192, 168, 1, 50].into()),
                lease: crate::dhcp::config::LeaseTime::DEFAULT,
                tag: None,
            }],
            ..subnet(1, Some("eth0"))
        }];
        let errs = join_vrrp(&mut bad, &vrrp, Path::new("t.conf"));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().contains("dhcp-range"), "{}", errs[0]);
    }

    fn instances(text: &str) -> Vec<VrrpInstance> {
        parse_and_validate(Path::new("t.conf"), text)
            .unwrap()
            .vrrp
            .iter()
            .map(|v| VrrpInstance {
                config: v.clone(),
                ifindex: 7,
                primary: std::net::Ipv4Addr::UNSPECIFIED.into(),
            })
            .collect()
    }

    const DUAL: &str = "[vrrp lan6]\ninterface = eth0\nvirtual-router-id = 51\n\
        virtual-ipaddress = fe80::1/64\nvirtual-ipaddress = 2001:db8:1::1/64\n\
        virtual-ipaddress = fd00:1::1/64\n\n\
        [vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\nvirtual-ipaddress = 192.168.1.1/24\n\n\
        [vrrp guest6]\ninterface = eth1\nvirtual-router-id = 9\nvirtual-ipaddress = fe80::9/64\n";

    #[test]
    fn the_ipv6_instance_of_an_interface_or_name_is_found() {
        let vrrp = instances(DUAL);
        let lan6 = Vrrp6Gate {
            name: "lan6".into(),
            interface: "eth0".into(),
            ifindex: 7,
            role_index: 0,
            link_local: "fe80::1".parse().unwrap(),
            others: vec![
                ("2001:db8:1::1".parse().unwrap(), 64),
                ("fd00:1::1".parse().unwrap(), 64),
            ],
        };
        assert_eq!(
            vrrp6_gate(&vrrp, Vrrp6Key::Interface("eth0")),
            Some(lan6.clone())
        );
        assert_eq!(vrrp6_gate(&vrrp, Vrrp6Key::Name("lan6")), Some(lan6));
        let guest = vrrp6_gate(&vrrp, Vrrp6Key::Interface("eth1")).unwrap();
        assert_eq!((guest.role_index, guest.others.len()), (2, 0));
        // An IPv4 instance is no IPv6 gate, by name or interface.
        assert_eq!(vrrp6_gate(&vrrp, Vrrp6Key::Name("lan")), None);
        assert_eq!(vrrp6_gate(&vrrp, Vrrp6Key::Interface("eth2")), None);
    }

    #[test]
    fn ra_and_dhcpv6_follow_the_ipv6_instance_of_their_interface() {
        let vrrp = instances(DUAL);
        // Not named: the IPv6 instance on the interface, with its virtual
        // link-local as source and its global/ULA VIPs as DNS servers.
        let (i, g) = v6_service_gate(&vrrp, None, "eth0");
        let g = g.unwrap();
        assert_eq!((i, g.name.as_str()), (Some(0), "lan6"));
        assert_eq!(
            g.dns_servers(),
            ["2001:db8:1::1", "fd00:1::1"].map(|a| a.parse::<std::net::Ipv6Addr>().unwrap())
        );
        // Only a link-local VIP: it is the DNS server.
        let (i, g) = v6_service_gate(&vrrp, None, "eth1");
        assert_eq!(i, Some(2));
        assert_eq!(
            g.unwrap().dns_servers(),
            ["fe80::9".parse::<std::net::Ipv6Addr>().unwrap()]
        );
        // Named: that instance, even an IPv4 one (a gate, no v6 source).
        assert_eq!(v6_service_gate(&vrrp, Some("lan"), "eth0"), (Some(1), None));
        // An interface without an instance still follows one, so a pair
        // never has both boxes advertise; without [vrrp], nothing gates.
        assert_eq!(v6_service_gate(&vrrp, None, "eth9").0, Some(0));
        let only4 = instances(
            "[vrrp b]\ninterface = eth1\nvirtual-router-id = 2\nvirtual-ipaddress = 10.0.1.1/24\n\n\
             [vrrp a]\ninterface = eth0\nvirtual-router-id = 1\nvirtual-ipaddress = 10.0.0.1/24\n",
        );
        assert_eq!(v6_service_gate(&only4, None, "eth0"), (Some(1), None));
        assert_eq!(v6_service_gate(&[], None, "eth0"), (None, None));
    }

    #[test]
    fn an_ipv6_instance_never_owns_a_dhcpv4_subnet() {
        let subnet = |c: u8| test_subnet(c, Some("eth0"));
        // The IPv6 instance comes first in the file; the LAN and a subnet
        // without a VIP both follow the IPv4 one (index 1).
        let vrrp = instances(DUAL);
        let mut subnets = vec![subnet(1), subnet(5)];
        assert!(join_vrrp(&mut subnets, &vrrp, Path::new("t.conf")).is_empty());
        let got: Vec<_> = subnets.iter().map(|s| (s.vip, s.vrrp)).collect();
        assert_eq!(
            got,
            [(Some([192, 168, 1, 1].into()), Some(1)), (None, Some(1))]
        );
        // With IPv6 instances only, the subnet still follows one instance.
        let only6 = instances(
            "[vrrp lan6]\ninterface = eth0\nvirtual-router-id = 51\nvirtual-ipaddress = fe80::1/64\n",
        );
        let mut subnets = vec![subnet(1)];
        join_vrrp(&mut subnets, &only6, Path::new("t.conf"));
        assert_eq!((subnets[0].vip, subnets[0].vrrp), (None, Some(0)));
    }

    #[test]
    fn existing_user_resolves_to_ids() {
        let r = res("[general]\nuser = root\nstate-dir = /\npid-file = none\n").unwrap();
        let ra = r.run_as.unwrap();
        assert_eq!(ra.uid, nix::unistd::Uid::from_raw(0));
    }

    #[test]
    fn machine_problems_are_all_reported() {
        let errs = res(
            "[general]\nuser = no-such-user-hq\nstate-dir = /nonexistent-hq/a/b\npid-file = /nonexistent-hq/run/x.pid\n",
        )
        .unwrap_err();
        let keys: Vec<_> = errs.iter().map(|e| e.key.clone().unwrap()).collect();
        assert_eq!(keys, vec!["user", "state-dir", "pid-file"]);
    }

    #[test]
    fn state_dir_that_is_a_file_is_refused() {
        let f = std::env::temp_dir().join(format!("hamasq-resolve-{}", std::process::id()));
        std::fs::write(&f, b"x").unwrap();
        let errs = res(&format!(
            "[general]\nstate-dir = {}\npid-file = none\n",
            f.display()
        ));
        std::fs::remove_file(&f).unwrap();
        assert!(errs.unwrap_err()[0].message.contains("not a directory"));
    }

    #[test]
    fn state_dir_every_user_can_write_is_refused() {
        // /tmp is the classic: mode 1777.
        let errs = res("[general]\nstate-dir = /tmp\npid-file = none\n").unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].key.as_deref(), Some("state-dir"));
        assert!(
            errs[0].message.contains("writable by every user"),
            "{errs:?}"
        );
    }

    fn tmp(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hamasq-resolve-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn messages(errs: &[ConfigError]) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    /// Issue 14 item 3: what the start would refuse, `--test` refuses.
    #[test]
    fn hook_scripts_must_exist_and_be_executable() {
        use std::os::unix::fs::PermissionsExt;
        let d = tmp("hooks");
        let plain = d.join("plain.sh");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let errs = res(&format!(
            "[general]\nstate-dir = /\npid-file = none\n\
             [dhcp]\ndhcp-range = 10.99.0.10,10.99.0.20,255.255.255.0\ndhcp-script = {0}/missing.sh\n\
             [vrrp lan]\ninterface = lo\nvirtual-router-id = 9\nvirtual-ipaddress = 10.98.0.1/24\n\
             notify = {1}\ntrack-script = {0}\n",
            d.display(),
            plain.display()
        ))
        .unwrap_err();
        std::fs::remove_dir_all(&d).unwrap();
        let text = messages(&errs);
        assert_eq!(errs.len(), 3, "{text:#?}");
        assert!(
            text.iter()
                .any(|t| t.contains("dhcp-script") && t.contains("No such file")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("notify") && t.contains("not executable")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("track-script") && t.contains("not a regular file")),
            "{text:#?}"
        );
    }

    #[test]
    fn metrics_on_the_dns_port_is_refused() {
        let base = "[general]\nstate-dir = /\npid-file = none\n";
        let errs = res(&format!(
            "{base}metrics-listen = 127.0.0.1:5353\n[dns]\nport = 5353\n"
        ))
        .unwrap_err();
        assert!(errs[0].message.contains("is the DNS port"), "{}", errs[0]);
        // Another address than the ones DNS listens on is fine.
        assert!(
            res(&format!(
                "{base}metrics-listen = 127.0.0.2:5353\n[dns]\nport = 5353\nlisten-address = 127.0.0.1\n"
            ))
            .is_ok()
        );
    }

    #[test]
    fn reservations_on_network_broadcast_or_own_addresses_are_refused() {
        let errs = res(
            "[general]\nstate-dir = /\npid-file = none\n[dhcp]\ninterface = lo\n\
             dhcp-range = 127.0.0.10,127.0.0.20,255.0.0.0\n\
             dhcp-range = 10.99.0.10,10.99.0.20,255.255.255.0\n\
             dhcp-host = 02:00:00:00:00:01,10.99.0.0\n\
             dhcp-host = 02:00:00:00:00:02,10.99.0.255\n\
             dhcp-host = 02:00:00:00:00:03,127.0.0.1\n\
             dhcp-host = 02:00:00:00:00:04,10.99.0.30\n",
        )
        .unwrap_err();
        let text = messages(&errs);
        assert_eq!(errs.len(), 3, "{text:#?}");
        assert!(
            text[0].contains(":8:") && text[0].contains("network address of 10.99.0.0/24"),
            "{text:#?}"
        );
        assert!(
            text[1].contains(":9:") && text[1].contains("broadcast address"),
            "{text:#?}"
        );
        assert!(
            text[2].contains(":10:") && text[2].contains("own address on lo"),
            "{text:#?}"
        );
    }

    #[test]
    fn a_dns_interface_that_does_not_exist_is_a_warning() {
        let r = res("[general]\nstate-dir = /\npid-file = none\n[dns]\nport = 5353\ninterface = nosuch0\ninterface = lo\n").unwrap();
        assert_eq!(r.warnings.len(), 1, "{:?}", messages(&r.warnings));
        assert!(
            r.warnings[0]
                .to_string()
                .contains("interface = \"nosuch0\": no such interface")
        );
    }

    #[test]
    fn an_ra_interface_needs_a_link_local_and_its_prefixes_an_address() {
        let cfg = parse_and_validate(
            Path::new("t.conf"),
            "[ra lan]\ninterface = lo\nprefix = 2001:db8:77::/64\n",
        )
        .unwrap();
        let a = |addr: &str| crate::net::IfAddr6 {
            name: "lo".into(),
            index: 1,
            addr: addr.parse().unwrap(),
            prefix: 64,
        };
        // Loopback has no link-local: the RA task could not start.
        let e = messages(&ra_errors(&cfg, &[a("::1")]));
        assert!(
            e.len() == 1 && e[0].contains("[ra lan] interface = \"lo\": has no IPv6 link-local"),
            "{e:?}"
        );
        assert!(ra_errors(&cfg, &[a("fe80::1")]).is_empty());
        let mut missing = cfg.clone();
        missing.ra[0].interface = "nosuch0".into();
        assert!(messages(&ra_errors(&missing, &[]))[0].contains("no such interface"));
        // A prefix no address of the interface lies in: a warning.
        let w = messages(&ra_warnings(&cfg, &[a("fe80::1")]));
        assert!(
            w.len() == 1
                && w[0].contains("[ra lan] prefix = \"2001:db8:77::/64\": no address of lo"),
            "{w:?}"
        );
        assert!(ra_warnings(&cfg, &[a("fe80::1"), a("2001:db8:77::1")]).is_empty());
    }

    #[test]
    fn a_missing_pid_file_directory_is_created_at_start_if_its_parent_exists() {
        let d = tmp("pid");
        let ok = res(&format!(
            "[general]\nstate-dir = /\npid-file = {}/run/hamasq.pid\n",
            d.display()
        ));
        let bad = res(&format!(
            "[general]\nstate-dir = /\npid-file = {}/a/b/hamasq.pid\n",
            d.display()
        ));
        std::fs::remove_dir_all(&d).unwrap();
        assert!(ok.is_ok(), "{ok:?}");
        let errs = bad.unwrap_err();
        assert!(
            errs[0].message.contains("nor that directory's parent"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn errors_found_on_the_machine_name_their_line() {
        let errs = res("[general]\npid-file = none\n\nuser = no-such-user-hq\nstate-dir = /\n")
            .unwrap_err();
        assert_eq!(errs[0].line, Some(4), "{}", errs[0]);
        assert!(
            errs[0].to_string().starts_with("t.conf:4: [general] user"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn a_config_that_enables_nothing_is_a_warning() {
        let r = res("[general]\nstate-dir = /\npid-file = none\n").unwrap();
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].message.contains("enables nothing"));
        let r = res("[general]\nstate-dir = /\npid-file = none\n[dns]\nport = 5353\n").unwrap();
        assert!(r.warnings.is_empty(), "{:?}", messages(&r.warnings));
    }

    #[test]
    fn a_control_socket_in_a_missing_directory_is_refused() {
        let errs = res(
            "[general]\nstate-dir = /\npid-file = none\ncontrol-socket = /nonexistent-hq/c.sock\n",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1, "{:?}", messages(&errs));
        assert_eq!(errs[0].key.as_deref(), Some("control-socket"));
        assert_eq!(errs[0].line, Some(4));
        // In state-dir, which the start creates: fine.
        assert!(res("[general]\nstate-dir = /nonexistent-hq\npid-file = none\n").is_ok());
    }
}
