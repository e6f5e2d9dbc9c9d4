//! Stage 2 of 3: typed values, and every error at once.
//!
//! Each section is read through a [`SectionReader`]: a subsystem asks for
//! its keys by name and type; whatever was not asked for is an unknown key.
//! Scalar keys given twice are errors naming both lines; list keys keep all
//! their values in order. No error stops validation: the operator sees the
//! whole list in one `hamasq --test` run.

use std::path::Path;

use super::raw::{RawConfig, RawSection};
use super::{Config, ConfigError, General};
use crate::log::{Facility, Level, Target};
pub use crate::section::{
    SectionReader, absolute_path, closest, parse_bool, parse_duration_secs, parse_ifname, parse_ip,
    parse_socket_addr, parse_u32_in,
};

/// Turns a parsed file into a [`Config`], or every error in it.
pub fn validate(raw: &RawConfig) -> Result<Config, Vec<ConfigError>> {
    let mut errs = Vec::new();
    for e in &raw.top_level {
        errs.push(ConfigError {
            file: raw.file.clone(),
            line: e.line,
            section: None,
            key: Some(e.key.clone()),
            value: Some(e.value.clone()),
            message:
                "key outside any section; put it under [general], [dns], [dhcp], [vrrp NAME], [ha], [ra NAME] or [dhcpv6 NAME]"
                    .into(),
        });
    }

    let mut general_entries: Vec<&RawSection> = Vec::new();
    let mut dhcp_entries: Vec<&RawSection> = Vec::new();
    let mut dns_entries: Vec<&RawSection> = Vec::new();
    let mut vrrp_sections: Vec<(&str, &RawSection)> = Vec::new();
    let mut ha_entries: Vec<&RawSection> = Vec::new();
    let mut ra_sections: Vec<(&str, &RawSection)> = Vec::new();
    let mut dhcpv6_sections: Vec<(&str, &RawSection)> = Vec::new();
    for s in &raw.sections {
        let (kind, name) = match s.name.split_once(char::is_whitespace) {
            Some((k, n)) => (k, Some(n.trim())),
            None => (s.name.as_str(), None),
        };
        match (kind, name) {
            ("general", None) => general_entries.push(s),
            ("dhcp", None) => dhcp_entries.push(s),
            ("vrrp", n) => add_instance(raw, s, "VRRP", n, &mut vrrp_sections, &mut errs),
            ("dns", None) => dns_entries.push(s),
            ("ha", None) => ha_entries.push(s),
            ("ra", n) => add_instance(raw, s, "RA", n, &mut ra_sections, &mut errs),
            ("dhcpv6", n) => add_instance(raw, s, "DHCPv6", n, &mut dhcpv6_sections, &mut errs),
            _ => errs.push(section_error(
                raw,
                s,
                "unknown section; expected [general], [dns], [dhcp], [vrrp NAME], [ha], [ra NAME] or [dhcpv6 NAME]".into(),
            )),
        }
    }

    // A section given twice is merged: its keys are checked as one section,
    // so a scalar repeated across the two headers is still reported.
    let merged = merge("general", &general_entries);
    let mut r = SectionReader::new(&raw.file, &merged);
    let general = read_general(&mut r);
    errs.extend(r.finish(known_keys));

    let mut vrrp: Vec<crate::vrrp::config::VrrpConfig> = Vec::new();
    for (name, sec) in &vrrp_sections {
        let mut r = SectionReader::new(&raw.file, sec);
        let v = crate::vrrp::config::read(name, &mut r);
        errs.extend(r.finish(known_keys));
        // RFC 9568 §7.3: an IPv4 and an IPv6 virtual router are separate
        // even with the same VRID on the same interface.
        if let Some(other) = vrrp
            .iter()
            .find(|o| o.interface == v.interface && o.vrid == v.vrid && o.is_v6() == v.is_v6())
        {
            errs.push(section_error(
                raw,
                sec,
                format!(
                    "virtual-router-id {} on {} is already used by the {} instance [vrrp {}]: one VRID per interface and family (RFC 9568 §5.2.3, §7.3)",
                    v.vrid,
                    v.interface,
                    v.family(),
                    other.name
                ),
            ));
        }
        vrrp.push(v);
    }

    let mut dhcpv6: Vec<crate::dhcp6::config::Dhcp6Config> = Vec::new();
    for (name, sec) in &dhcpv6_sections {
        let mut r = SectionReader::new(&raw.file, sec);
        let d = crate::dhcp6::config::read(name, &mut r);
        if let Some(v) = d.vrrp.as_deref()
            && !vrrp_sections.iter().any(|(n, _)| *n == v)
        {
            r.error_on("vrrp", format!("there is no [vrrp {v}] section"));
        }
        errs.extend(r.finish(known_keys));
        if let Some(other) = dhcpv6
            .iter()
            .find(|o| !d.interface.is_empty() && o.interface == d.interface)
        {
            errs.push(section_error(
                raw,
                sec,
                format!(
                    "interface {} is already served by [dhcpv6 {}]: one DHCPv6 server per link",
                    d.interface, other.name
                ),
            ));
        }
        dhcpv6.push(d);
    }

    let dhcp = if dhcp_entries.is_empty() {
        None
    } else {
        let merged = merge("dhcp", &dhcp_entries);
        let mut r = SectionReader::new(&raw.file, &merged);
        let mut cross = Vec::new();
        let d = crate::dhcp::config::read(&mut r, &mut cross, &raw.file);
        errs.extend(r.finish(known_keys));
        errs.extend(cross);
        Some(d)
    };

    let dns = if dns_entries.is_empty() {
        None
    } else {
        let merged = merge("dns", &dns_entries);
        let mut r = SectionReader::new(&raw.file, &merged);
        let d = crate::dns::config::read(&mut r);
        errs.extend(r.finish(known_keys));
        Some(d)
    };

    let ha = if ha_entries.is_empty() {
        None
    } else {
        let merged = merge("ha", &ha_entries);
        let mut r = SectionReader::new(&raw.file, &merged);
        let h = crate::ha::config::read(&mut r);
        errs.extend(r.finish(known_keys));
        Some(h)
    };

    let ra = read_ra_sections(raw, &ra_sections, &vrrp, &mut errs);

    if errs.is_empty() {
        let mut key_lines = std::collections::BTreeMap::new();
        for sec in &raw.sections {
            let name = sec.name.split_whitespace().collect::<Vec<_>>().join(" ");
            for e in &sec.entries {
                if let Some(l) = e.line {
                    key_lines.entry((name.clone(), e.key.clone())).or_insert(l);
                }
            }
        }
        Ok(Config {
            file: raw.file.clone(),
            general,
            dhcp,
            dns,
            vrrp,
            ha,
            ra,
            dhcpv6,
            key_lines,
        })
    } else {
        errs.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        Err(super::collapse_repeats(errs))
    }
}

fn merge(name: &str, parts: &[&RawSection]) -> RawSection {
    RawSection {
        name: name.into(),
        line: parts.first().and_then(|s| s.line),
        entries: parts
            .iter()
            .flat_map(|s| s.entries.iter().cloned())
            .collect(),
    }
}

fn read_general(r: &mut SectionReader<'_>) -> General {
    let d = General::default();
    let target_kind = r.scalar("log-target", None, |v| match v {
        "stderr" => Ok(Some(false)),
        "syslog" => Ok(Some(true)),
        _ => Err("expected stderr or syslog".into()),
    });
    let log_facility = r.scalar("log-facility", d.log_facility, |v| {
        Facility::parse(v).ok_or_else(|| format!("expected one of {}", Facility::NAMES))
    });
    let log_target = target_kind.map(|syslog| {
        if syslog {
            Target::Syslog(log_facility)
        } else {
            Target::Stderr
        }
    });
    let log_level = r.scalar("log-level", d.log_level, |v| {
        Level::parse(v).ok_or_else(|| format!("expected one of {}", Level::NAMES))
    });
    let log_rate_limit = r.scalar("log-rate-limit", d.log_rate_limit, |v| {
        parse_u32_in(v, 0, 100_000)
    });
    let pid_file = r.scalar("pid-file", d.pid_file.clone(), |v| {
        if v == "none" {
            Ok(None)
        } else {
            absolute_path(v).map(Some)
        }
    });
    let state_dir = r.scalar("state-dir", d.state_dir.clone(), absolute_path);
    let user = r.scalar("user", None, |v| {
        if v.is_empty() {
            Ok(None)
        } else if v.len() > 32
            || v.starts_with('-')
            || !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            Err("expected a user name (letters, digits, '.', '_' or '-')".into())
        } else {
            Ok(Some(v.to_string()))
        }
    });
    let metrics_listen = r.scalar("metrics-listen", None, |v| {
        if v == "none" {
            Ok(None)
        } else {
            parse_socket_addr(v).map(Some)
        }
    });
    let metrics_allow = r.list("metrics-allow", crate::metrics::parse_net);
    // sun_path holds 108 bytes with the terminating NUL.
    const SUN_PATH_MAX: usize = 107;
    let default_socket = Some(state_dir.join(crate::control::DEFAULT_NAME))
        .filter(|p| p.as_os_str().len() <= SUN_PATH_MAX);
    let control_socket = r.scalar("control-socket", default_socket, |v| {
        if v == "none" {
            Ok(None)
        } else if v.len() > SUN_PATH_MAX {
            Err(format!(
                "longer than {SUN_PATH_MAX} bytes, the limit of a Unix socket path"
            ))
        } else {
            absolute_path(v).map(Some)
        }
    });
    General {
        log_target,
        log_facility,
        log_level,
        log_rate_limit,
        pid_file,
        state_dir,
        user,
        metrics_listen,
        metrics_allow,
        control_socket,
    }
}

/// A `[KIND NAME]` section (`[vrrp lan]`, `[ra lan]`, `[dhcpv6 lan]`): its name must
/// be given, well formed and not used twice; the first of a name is kept.
fn add_instance<'a>(
    raw: &RawConfig,
    s: &'a RawSection,
    what: &str,
    name: Option<&'a str>,
    seen: &mut Vec<(&'a str, &'a RawSection)>,
    errs: &mut Vec<ConfigError>,
) {
    let kind = s.name.split_whitespace().next().unwrap_or("");
    let message = match name {
        None => format!("a {what} section needs an instance name, e.g. [{kind} lan]"),
        Some(n) if !valid_instance_name(n) => {
            format!("bad instance name {n:?}: use 1-32 letters, digits, '-', '_' or '.'")
        }
        Some(n) => match seen.iter().find(|(name, _)| *name == n) {
            Some(first) => {
                let at = first
                    .1
                    .line
                    .map_or_else(String::new, |l| format!(" (first on line {l})"));
                format!("instance {n:?} is defined twice{at}")
            }
            None => {
                seen.push((n, s));
                return;
            }
        },
    };
    errs.push(section_error(raw, s, message));
}

/// Every `[ra NAME]`: its keys, then what it needs of the rest (one per
/// interface; `vrrp` names a `[vrrp NAME]` section).
fn read_ra_sections(
    raw: &RawConfig,
    sections: &[(&str, &RawSection)],
    vrrp: &[crate::vrrp::config::VrrpConfig],
    errs: &mut Vec<ConfigError>,
) -> Vec<crate::ra::config::RaConfig> {
    let mut out: Vec<crate::ra::config::RaConfig> = Vec::new();
    for (name, sec) in sections {
        let mut r = SectionReader::new(&raw.file, sec);
        let ra = crate::ra::config::read(name, &mut r);
        if let Some(v) = &ra.vrrp
            && !vrrp.iter().any(|o| &o.name == v)
        {
            r.error_on(
                "vrrp",
                format!("no [vrrp {v}] section; name the instance that gates these RAs"),
            );
        }
        errs.extend(r.finish(known_keys));
        if let Some(other) = out.iter().find(|o| o.interface == ra.interface) {
            errs.push(section_error(
                raw,
                sec,
                format!(
                    "interface {} already has [ra {}]: one router advertisement section per interface",
                    ra.interface, other.name
                ),
            ));
        }
        out.push(ra);
    }
    out
}

fn valid_instance_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 32
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn section_error(raw: &RawConfig, s: &RawSection, message: String) -> ConfigError {
    ConfigError {
        file: raw.file.clone(),
        line: s.line,
        section: Some(s.name.clone()),
        key: None,
        value: None,
        message,
    }
}

/// Every key each section understands, in the order its reader asks for
/// them: `[general]`, `[dns]`, `[dhcp]`, `[vrrp NAME]` (as `vrrp`), `[ha]`
/// and `[ra NAME]` (as `ra`). The
/// them: `[general]`, `[dns]`, `[dhcp]`, `[vrrp NAME]` (as `vrrp`), `[ha]` and
/// `[dhcpv6 NAME]` (as `dhcpv6`). The
/// sample config and the manual page are checked against this list, so
/// neither can drift from the parser.
pub fn known_keys() -> Vec<(&'static str, Vec<String>)> {
    let file = Path::new("/known-keys");
    let empty = |name: &str| RawSection {
        name: name.into(),
        line: None,
        entries: Vec::new(),
    };
    let mut out = Vec::new();
    let s = empty("general");
    let mut r = SectionReader::new(file, &s);
    read_general(&mut r);
    out.push(("general", r.into_asked()));
    let s = empty("dns");
    let mut r = SectionReader::new(file, &s);
    crate::dns::config::read(&mut r);
    out.push(("dns", r.into_asked()));
    let s = empty("dhcp");
    let mut r = SectionReader::new(file, &s);
    crate::dhcp::config::read(&mut r, &mut Vec::new(), file);
    out.push(("dhcp", r.into_asked()));
    let s = empty("vrrp x");
    let mut r = SectionReader::new(file, &s);
    crate::vrrp::config::read("x", &mut r);
    out.push(("vrrp", r.into_asked()));
    let s = empty("ha");
    let mut r = SectionReader::new(file, &s);
    crate::ha::config::read(&mut r);
    out.push(("ha", r.into_asked()));
    let s = empty("ra x");
    let mut r = SectionReader::new(file, &s);
    crate::ra::config::read("x", &mut r);
    out.push(("ra", r.into_asked()));
    let s = empty("dhcpv6 x");
    let mut r = SectionReader::new(file, &s);
    crate::dhcp6::config::read("x", &mut r);
    out.push(("dhcpv6", r.into_asked()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_and_validate;
    use std::path::PathBuf;

    fn check(text: &str) -> Result<Config, Vec<ConfigError>> {
        parse_and_validate(Path::new("/etc/hamasq.conf"), text)
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = check("").unwrap();
        assert_eq!(c.general, General::default());
    }

    #[test]
    fn general_keys_are_typed() {
        let c = check(
            "[general]\nlog-target = syslog\nlog-facility = local3\nlog-level = debug\nlog-rate-limit = 0\n\
             pid-file = none\nstate-dir = /tmp/hq\nuser = hamasq\nmetrics-listen = 127.0.0.1:9153\n",
        )
        .unwrap();
        let g = c.general;
        assert_eq!(g.log_target, Some(Target::Syslog(Facility::Local(3))));
        assert_eq!(g.log_level, Level::Debug);
        assert_eq!(g.log_rate_limit, 0);
        assert_eq!(g.pid_file, None);
        assert_eq!(g.state_dir, PathBuf::from("/tmp/hq"));
        assert_eq!(g.user.as_deref(), Some("hamasq"));
        assert_eq!(g.metrics_listen, Some("127.0.0.1:9153".parse().unwrap()));
    }

    #[test]
    fn three_mistakes_three_errors_each_with_section_key_value_and_line() {
        let errs = check(
            "[general]\nlog-levle = info\nmetrics-listen = 10.0.0.300:9153\nlog-rate-limit = 100001\n",
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 3, "{text:#?}");
        assert_eq!(
            text[0],
            "/etc/hamasq.conf:2: [general] log-levle = \"info\": unknown key; did you mean log-level?"
        );
        assert_eq!(
            text[1],
            "/etc/hamasq.conf:3: [general] metrics-listen = \"10.0.0.300:9153\": not a valid address; expected IP:PORT or [IPv6]:PORT"
        );
        assert_eq!(
            text[2],
            "/etc/hamasq.conf:4: [general] log-rate-limit = \"100001\": out of range; expected 0 to 100000"
        );
    }

    #[test]
    fn vrrp_instances_are_checked_together() {
        let errs = check(
            "[vrrp a]\ninterface = eth0\nvirtual-router-id = 51\nvirtual-ipaddress = 10.0.0.1/24\n\
             [vrrp b]\ninterface = eth0\nvirtual-router-id = 51\nvirtual-ipaddress = 10.0.0.2/24\nadvert-int = 50\n\
             [vrrp a]\n\
             [vrrp c]\nvirtual-router-id = 0\n\
             [vrrp a6]\ninterface = eth0\nvirtual-router-id = 51\nvirtual-ipaddress = fe80::1/64\n\
             [vrrp b6]\ninterface = eth0\nvirtual-router-id = 51\nvirtual-ipaddress = fe80::2/64\n",
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter().any(|t| t.contains("[vrrp b]")
                && t.contains("already used by the IPv4 instance [vrrp a]")),
            "{text:#?}"
        );
        // RFC 9568 §7.3: the IPv6 a6 may share VRID 51 with the IPv4 a;
        // b6 may not share it with a6.
        assert!(
            text.iter().any(|t| t.contains("[vrrp b6]")
                && t.contains("already used by the IPv6 instance [vrrp a6]")),
            "{text:#?}"
        );
        assert!(!text.iter().any(|t| t.contains(": [vrrp a6]")), "{text:#?}");
        assert!(
            text.iter()
                .any(|t| t.contains("[vrrp b] advert-int = \"50\": out of range")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("instance \"a\" is defined twice (first on line 1)")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("[vrrp c] interface: required, but missing")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("[vrrp c] virtual-router-id = \"0\": out of range")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("[vrrp c] virtual-ipaddress: required, but missing")),
            "{text:#?}"
        );
        let ok = check("[vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\npriority = 150\nadvert-int = 0.1\nvirtual-ipaddress = 10.0.0.1/24\n").unwrap();
        assert_eq!(ok.vrrp[0].advert_int_cs, 10);
        assert_eq!(ok.vrrp[0].priority, 150);
    }

    /// Issue 17 item 11: an invalid VIP is named as invalid, not "missing".
    #[test]
    fn an_invalid_vip_is_reported_as_invalid_and_not_as_missing() {
        for (vip, says) in [
            ("0.0.0.0/24", "cannot be a virtual address"),
            ("224.0.0.18/24", "cannot be a virtual address"),
            ("10.0.0.1/0", "out of range; expected 1 to 32"),
        ] {
            let errs = check(&format!(
                "[vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\nvirtual-ipaddress = {vip}\n"
            ))
            .unwrap_err();
            let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            assert_eq!(errs.len(), 1, "{vip}: {text:#?}");
            assert!(
                text[0].contains(&format!(":4: [vrrp lan] virtual-ipaddress = \"{vip}\""))
                    && text[0].contains(says),
                "{text:#?}"
            );
        }
    }

    /// Issue 14 item 5: errors that teach.
    #[test]
    fn unknown_keys_name_their_section_or_the_closest_key() {
        let errs = check(
            "[general]\ncache-size = 100\n[dns]\nservr = 1.1.1.1\ndhcp-range = 1,2\nfrobnicate = 1\n\
             [vrrp a]\ninterface = eth0\nvirtual-router-id = 3\nvirtual-ipaddress = 10.1.1.1/24\nprioriy = 4\n\
             [dhcp]\ndhcp-range = 10.0.0.10,10.0.0.20\nadvert-int = 1\n",
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            text,
            vec![
                "/etc/hamasq.conf:2: [general] cache-size = \"100\": unknown key in [general]; it belongs in [dns]",
                "/etc/hamasq.conf:4: [dns] servr = \"1.1.1.1\": unknown key; did you mean server?",
                "/etc/hamasq.conf:5: [dns] dhcp-range = \"1,2\": unknown key in [dns]; it belongs in [dhcp]",
                "/etc/hamasq.conf:6: [dns] frobnicate = \"1\": unknown key",
                "/etc/hamasq.conf:11: [vrrp a] prioriy = \"4\": unknown key; did you mean priority?",
                "/etc/hamasq.conf:14: [dhcp] advert-int = \"1\": unknown key in [dhcp]; it belongs in [vrrp NAME]",
            ]
        );
        assert_eq!(
            closest("log-levle", ["log-level", "log-target"].into_iter()),
            Some("log-level")
        );
        assert_eq!(closest("port", ["user", "sort"].into_iter()), Some("sort"));
        assert_eq!(closest("xyz", ["user"].into_iter()), None);
    }

    #[test]
    fn an_inline_comment_that_breaks_a_value_gets_a_hint() {
        let errs =
            check("[dns]\ncache-size = 10000   # bigger\nport = 53 ; the default\n").unwrap_err();
        assert_eq!(errs.len(), 2);
        for (e, c) in errs.iter().zip(["# bigger", "; the default"]) {
            assert!(
                e.message.contains(&format!("{c:?} is part of the value")),
                "{e}"
            );
        }
        // The whole value is shown, commas and all.
        assert_eq!(errs[0].value.as_deref(), Some("10000   # bigger"));
    }

    #[test]
    fn a_bad_range_gives_one_error_and_no_follow_on() {
        let errs = check("[dhcp]\ndhcp-range = 10.0.0.1,10.0.0.300,12h\n").unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            text,
            vec![
                "/etc/hamasq.conf:2: [dhcp] dhcp-range = \"10.0.0.1,10.0.0.300,12h\": \"10.0.0.300\" is not an IPv4 address"
            ]
        );
        // With no dhcp-range line at all, the error names the section's line.
        let errs = check("[general]\n[dhcp]\ndhcp-lease-max = 5\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, Some(2), "{}", errs[0]);
        assert!(errs[0].message.contains("needs at least one dhcp-range"));
    }

    #[test]
    fn a_conflict_shows_the_whole_value_as_written() {
        let errs = check(
            "[dhcp]\ndhcp-range = 10.0.0.10,10.0.0.50,255.255.255.0,12h\ndhcp-range = set:b,10.0.0.40,10.0.0.60,1h\n",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].value.as_deref(),
            Some("set:b,10.0.0.40,10.0.0.60,1h")
        );
    }

    #[test]
    fn unknown_sections_and_stray_keys_are_errors() {
        let errs = check("stray = 1\n[genral]\nx = 1\n[vrrp]\n[vrrp bad name!]\n").unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 4, "{text:#?}");
        assert!(text[0].contains("key outside any section"));
        assert!(text[1].contains("[genral]: unknown section"));
        assert!(text[2].contains("[vrrp]: a VRRP section needs an instance name"));
        assert!(text[3].contains("bad instance name"));
    }

    #[test]
    fn a_dns_section_given_twice_is_merged_and_checked_as_one() {
        let errs = check("[dns]\nport = 53\n[dns]\nport = 5353\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].message.contains("first set on line 2"),
            "{}",
            errs[0]
        );
        assert!(check("[dns]\nport = 5353\n[dns]\ncache-size = 0\n").is_ok());
    }

    #[test]
    fn a_scalar_given_twice_names_both_lines_even_across_repeated_sections() {
        let errs =
            check("[general]\nlog-level = info\n[general]\nlog-level = debug\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, Some(4));
        assert!(
            errs[0].message.contains("first set on line 2"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn dhcpv6_sections_are_checked_together() {
        let errs = check(
            "[vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\nvirtual-ipaddress = 10.0.0.1/24\n\
             [dhcpv6 a]\ninterface = eth0\nmode = stateful\ninformation-refresh-time = 599\nvrrp = guest\n\
             [dhcpv6 b]\ninterface = eth0\ndomain-search = bad..name\n\
             [dhcpv6 a]\n\
             [dhcpv6 c]\ndns-server = ff02::1\n\
             [dhcpv6]\n",
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let has = |s: &str| text.iter().any(|t| t.contains(s));
        assert!(
            has(":7: [dhcpv6 a] mode = \"stateful\": stateful DHCPv6"),
            "{text:#?}"
        );
        assert!(has(
            ":8: [dhcpv6 a] information-refresh-time = \"599\": out of range"
        ));
        assert!(has(
            ":9: [dhcpv6 a] vrrp = \"guest\": there is no [vrrp guest] section"
        ));
        assert!(has(
            "[dhcpv6 b]: interface eth0 is already served by [dhcpv6 a]"
        ));
        assert!(has(":12: [dhcpv6 b] domain-search = \"bad..name\""));
        assert!(
            has(":13: [dhcpv6 a]: instance \"a\" is defined twice (first on line 5)"),
            "{text:#?}"
        );
        assert!(has("[dhcpv6 c] interface: required, but missing"));
        assert!(has(":15: [dhcpv6 c] dns-server = \"ff02::1\""));
        assert!(has("[dhcpv6]: a DHCPv6 section needs an instance name"));
        let ok = check(
            "[vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\nvirtual-ipaddress = 10.0.0.1/24\n\
             [dhcpv6 lan]\ninterface = eth0\ndns-server = fd00::1\ndns-server = fd00::2\n\
             domain-search = lan\ninformation-refresh-time = 1h\nvrrp = lan\n",
        )
        .unwrap();
        let d = &ok.dhcpv6[0];
        assert_eq!(d.dns_servers.len(), 2);
        assert_eq!(d.domain_search, ["lan"]);
        assert_eq!(d.refresh, 3600);
        assert_eq!(d.vrrp.as_deref(), Some("lan"));
    }

    #[test]
    fn the_control_socket_lives_in_state_dir_unless_set() {
        let g = |t: &str| check(t).unwrap().general.control_socket;
        assert_eq!(
            g("[general]\nstate-dir = /srv/hq\n"),
            Some(PathBuf::from("/srv/hq/control.sock"))
        );
        assert_eq!(g("[general]\ncontrol-socket = none\n"), None);
        // A default path too long for sun_path turns the socket off rather
        // than failing the start; an explicit one is an error.
        let long = format!("/{}", "d".repeat(110));
        assert_eq!(g(&format!("[general]\nstate-dir = {long}\n")), None);
        let errs = check(&format!("[general]\ncontrol-socket = {long}/s\n")).unwrap_err();
        assert!(errs[0].message.contains("107 bytes"), "{}", errs[0]);
    }

    #[test]
    fn value_parsers() {
        assert_eq!(parse_bool("Yes"), Ok(true));
        assert_eq!(parse_ifname("br-lan"), Ok("br-lan".into()));
        for bad in ["", "a/b", "a b", "a,b", "sixteen-chars-xx"] {
            assert!(parse_ifname(bad).is_err(), "{bad:?}");
        }
        assert!(parse_bool("maybe").is_err());
        assert_eq!(parse_u32_in("7", 1, 10), Ok(7));
        assert!(
            parse_u32_in("-1", 1, 10)
                .unwrap_err()
                .contains("whole number")
        );
        assert!(
            parse_u32_in("11", 1, 10)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(parse_ip("192.168.1.256").is_err());
        assert_eq!(
            parse_socket_addr("[::1]:53"),
            Ok("[::1]:53".parse().unwrap())
        );
        assert!(
            parse_socket_addr("127.0.0.1")
                .unwrap_err()
                .contains("missing the port")
        );
        assert!(absolute_path("var/lib").is_err());
    }

    #[test]
    fn bad_user_names_are_rejected() {
        for bad in [
            "-root",
            "a b",
            "x;reboot",
            "a234567890123456789012345678901234",
        ] {
            let text = format!("[general]\nuser = {bad}\n");
            assert!(check(&text).is_err(), "{bad:?} should fail");
        }
    }

    /// `(section, key)` of every `key = value` / `#key = value` line of the
    /// sample config (`[vrrp NAME]` as `vrrp`).
    fn documented_keys() -> Vec<(String, String)> {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/etc/hamasq.conf"))
            .unwrap();
        let mut section = String::new();
        let mut out = Vec::new();
        for l in text.lines() {
            let l = l.strip_prefix('#').unwrap_or(l);
            if let Some(h) = l.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                section = h.split_whitespace().next().unwrap_or("").to_string();
            } else if let Some((k, _)) = l.split_once('=')
                && let k = k.trim_end()
                && !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-' || b.is_ascii_digit())
            {
                out.push((section.clone(), k.to_string()));
            }
        }
        out
    }

    #[test]
    fn every_key_the_parser_knows_is_documented_and_nothing_else() {
        let documented = documented_keys();
        let mut known = Vec::new();
        for (section, keys) in known_keys() {
            for k in keys {
                assert!(
                    documented.iter().any(|(s, d)| s == section && *d == k),
                    "[{section}] {k} is read by the parser but not documented in etc/hamasq.conf"
                );
                known.push((section.to_string(), k));
            }
        }
        for d in &documented {
            assert!(
                known.contains(d),
                "etc/hamasq.conf documents [{}] {}, which the parser does not read",
                d.0,
                d.1
            );
        }
    }

    #[test]
    fn the_sample_config_with_every_example_uncommented_is_valid() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/etc/hamasq.conf"))
            .unwrap();
        let uncommented: String = text
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => {
                    rest
                }
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = check(&uncommented).unwrap_or_else(|e| panic!("{e:#?}"));
        assert_eq!(c.vrrp.len(), 1, "the sample documents [vrrp NAME]");
        let dns = c.dns.expect("the sample documents [dns]");
        assert!(
            !dns.servers.is_empty()
                && !dns.locals.is_empty()
                && !dns.addresses.is_empty()
                && dns.domain.is_some()
        );
        let d = c.dhcp.expect("the sample documents [dhcp]");
        assert!(
            !d.ranges.is_empty()
                && !d.peer_ranges.is_empty()
                && d.hosts.len() >= 3
                && d.boot.is_some()
        );
    }

    #[test]
    fn dhcp_conflicts_name_both_lines() {
        let errs = check(
            "[dhcp]\n\
             dhcp-range = 10.0.0.10,10.0.0.50\n\
             dhcp-range = 10.0.0.40,10.0.0.60\n\
             dhcp-peer-range = 10.0.0.55,10.0.0.70\n\
             dhcp-host = 00:11:22:33:44:55,10.0.0.5,a\n\
             dhcp-host = 00:11:22:33:44:55,10.0.0.6,b\n\
             dhcp-host = 00:11:22:33:44:66,10.0.0.5,c\n\
             dhcp-lease-max = 0\n",
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 5, "{text:#?}");
        assert!(
            text[0].contains(":3: [dhcp] dhcp-range")
                && text[0].contains("overlaps the dhcp-range on line 2"),
            "{text:#?}"
        );
        assert!(
            text[1].contains(":4: [dhcp] dhcp-peer-range")
                && text[1].contains("our own dhcp-range on line 3"),
            "{text:#?}"
        );
        assert!(
            text[2].contains(":6:")
                && text[2]
                    .contains("same hardware address 00:11:22:33:44:55 as the dhcp-host on line 5"),
            "{text:#?}"
        );
        assert!(
            text[3].contains(":7:")
                && text[3].contains("same address 10.0.0.5 as the dhcp-host on line 5"),
            "{text:#?}"
        );
        assert!(
            text[4].contains(":8: [dhcp] dhcp-lease-max = \"0\": out of range"),
            "{text:#?}"
        );
    }
}
