//! Stage 3 of 3: the only stage that looks at the running system.
//!
//! It checks what a valid-looking config still needs from the machine: that
//! the `user` exists, that `state-dir` is (or can become) a directory, that
//! the pid file's directory exists. Interfaces named by subsystems are
//! resolved here too as the subsystems arrive. Nothing is created or changed
//! here, so `hamasq --test` is safe to run on a live box.

use std::path::Path;

use nix::unistd::{Gid, Uid, User};

use super::{Config, ConfigError};
use crate::dhcp::server::Plan;
use crate::dhcp::subnet::{local_interfaces, plan};

/// The user to drop to after start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
}

/// A config checked against this machine.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub config: Config,
    pub run_as: Option<RunAs>,
    /// `[dhcp]` joined with the interfaces.
    pub dhcp: Option<Plan>,
    /// Each `[vrrp NAME]` with its interface index and primary address.
    pub vrrp: Vec<VrrpInstance>,
}

/// A VRRP instance bound to this machine's interface.
#[derive(Clone, Debug)]
pub struct VrrpInstance {
    pub config: crate::vrrp::config::VrrpConfig,
    pub ifindex: u32,
    /// The advert source and tie-break address (RFC 9568 §6.1, §7.2):
    /// `unicast-src-ip`, else the interface's first IPv4 address.
    pub primary: std::net::Ipv4Addr,
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

    if let Some(pf) = &g.pid_file {
        if !pf.parent().is_some_and(Path::is_dir) {
            errs.push(err(
                "pid-file",
                pf.display().to_string(),
                "its directory does not exist".into(),
            ));
        } else if pf.is_dir() {
            errs.push(err(
                "pid-file",
                pf.display().to_string(),
                "is a directory".into(),
            ));
        }
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
            Ok(ifaces) => match plan(d, &ifaces, &config.file) {
                Ok(subnets) => {
                    let mut p = Plan::new(d, subnets);
                    p.local_addrs = ifaces;
                    // dnsmasq's default: when this box serves DNS on the
                    // standard port, clients get it as their DNS server.
                    p.dns_server = config
                        .dns
                        .as_ref()
                        .is_some_and(|dns| dns.port == crate::dns::config::DEFAULT_PORT);
                    Some(p)
                }
                Err(e) => {
                    errs.extend(e);
                    None
                }
            },
        },
    };

    let mut vrrp = Vec::new();
    if !config.vrrp.is_empty() {
        let ifaces = local_interfaces().unwrap_or_default();
        for v in &config.vrrp {
            let on_if: Vec<_> = ifaces.iter().filter(|i| i.name == v.interface).collect();
            let verr = |key: &str, value: String, message: String| ConfigError {
                file: config.file.clone(),
                line: None,
                section: Some(format!("vrrp {}", v.name)),
                key: Some(key.into()),
                value: Some(value),
                message,
            };
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
            if let Some(e) = crate::vrrp::config::owner_error(v, primary, &on_if) {
                errs.push(verr("virtual-ipaddress", e.0, e.1));
                continue;
            }
            vrrp.push(VrrpInstance {
                config: v.clone(),
                ifindex: first.index,
                primary,
            });
        }
    }

    if let Some(p) = dhcp.as_mut() {
        errs.extend(join_vrrp(&mut p.subnets, &vrrp, &config.file));
    }

    if errs.is_empty() {
        Ok(Resolved {
            config,
            run_as,
            dhcp,
            vrrp,
        })
    } else {
        Err(errs)
    }
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
    for s in subnets {
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
        s.vrrp = owner
            .map(|(i, _)| i)
            .or_else(|| (!vrrp.is_empty()).then_some(0));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_and_validate;

    fn res(text: &str) -> Result<Resolved, Vec<ConfigError>> {
        resolve(parse_and_validate(Path::new("t.conf"), text).unwrap())
    }

    #[test]
    fn each_dhcp_subnet_follows_the_instance_whose_vip_it_holds() {
        use crate::dhcp::subnet::{IfAddr, Span, Subnet};
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
                primary: std::net::Ipv4Addr::UNSPECIFIED,
            })
            .collect();
        let subnet = |c: u8, ifname: Option<&str>| Subnet {
            network: [192, 168, c, 0].into(),
            prefix: 24,
            local: ifname.map(|n| IfAddr {
                name: n.into(),
                index: 2,
                addr: [192, 168, c, 2].into(),
                prefix: 24,
            }),
            ranges: Vec::new(),
            peer: Vec::new(),
            vip: None,
            vrrp: None,
        };
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

    #[test]
    fn existing_user_resolves_to_ids() {
        let r = res("[general]\nuser = root\nstate-dir = /\npid-file = none\n").unwrap();
        let ra = r.run_as.unwrap();
        assert_eq!(ra.uid, Uid::from_raw(0));
    }

    #[test]
    fn machine_problems_are_all_reported() {
        let errs = res(
            "[general]\nuser = no-such-user-hq\nstate-dir = /nonexistent-hq/a/b\npid-file = /nonexistent-hq/x.pid\n",
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
}
