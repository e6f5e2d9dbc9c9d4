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
            vrrp.push(VrrpInstance {
                config: v.clone(),
                ifindex: first.index,
                primary,
            });
        }
    }

    // HA: a DHCP subnet on a VRRP interface that holds one of the
    // instance's VIPs identifies itself by the VIP (design §4).
    if let Some(p) = dhcp.as_mut() {
        for s in &mut p.subnets {
            let Some(l) = &s.local else { continue };
            let vip = vrrp
                .iter()
                .filter(|v| v.config.interface == l.name)
                .flat_map(|v| v.config.vips.iter().map(|(a, _)| *a))
                .find(|a| s.contains(*a));
            if let Some(v) = vip
                && (s.own_range(v).is_some() || s.in_peer_range(v))
            {
                errs.push(ConfigError {
                    file: config.file.clone(),
                    line: None,
                    section: Some("dhcp".into()),
                    key: Some("dhcp-range".into()),
                    value: Some(v.to_string()),
                    message: "a DHCP range contains the VRRP virtual address".into(),
                });
            }
            s.vip = vip;
        }
    }

    if errs.is_empty() {
        Ok(Resolved {
            config,
            run_as,
            dhcp,
            vrrp,
        })
    } else {
        Err(super::collapse_repeats(errs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_and_validate;

    fn res(text: &str) -> Result<Resolved, Vec<ConfigError>> {
        resolve(parse_and_validate(Path::new("t.conf"), text).unwrap())
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
