//! `hamasq import-dnsmasq FILE`: a dnsmasq.conf turned into hamasq's INI.
//!
//! hamasq's `[dns]` and `[dhcp]` keys carry dnsmasq's names and value
//! syntax, so most lines move over as they are; dnsmasq's bare flags
//! (`domain-needed`) become `key = true`. `interface` feeds both sections,
//! as it does in dnsmasq. Every line that cannot be converted is listed with
//! its line number and the reason, never dropped silently; the operator
//! decides. The conversion is pure: the caller reads the file and writes
//! the result (and runs `hamasq --test` on it).

use std::fmt::Write as _;

/// A dnsmasq line left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// The converted config and what was left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Converted {
    pub ini: String,
    pub skipped: Vec<Skipped>,
}

/// Where a dnsmasq option goes.
enum Rule {
    /// Same key and value in this section.
    Dns,
    Dhcp,
    General,
    /// A dnsmasq flag: `key = true` in this section.
    DnsFlag,
    DhcpFlag,
    /// Both `[dns]` and `[dhcp]` (dnsmasq's `interface`).
    Both,
    /// Renamed: (section, hamasq key).
    Renamed(&'static str, &'static str),
    /// Not converted, with the reason.
    Skip(&'static str),
}

fn rule(key: &str) -> Rule {
    use Rule::*;
    match key {
        "port"
        | "listen-address"
        | "server"
        | "local"
        | "resolv-file"
        | "cache-size"
        | "min-cache-ttl"
        | "max-cache-ttl"
        | "neg-ttl"
        | "addn-hosts"
        | "address"
        | "host-record"
        | "cname"
        | "srv-host"
        | "txt-record"
        | "ptr-record"
        | "domain"
        | "rebind-domain-ok"
        | "dns-forward-max"
        | "max-tcp-connections"
        | "local-ttl"
        | "dhcp-ttl"
        | "use-stale-cache" => Dns,
        "no-resolv"
        | "strict-order"
        | "all-servers"
        | "no-hosts"
        | "expand-hosts"
        | "domain-needed"
        | "bogus-priv"
        | "stop-dns-rebind"
        | "rebind-localhost-ok"
        | "local-service" => DnsFlag,
        "dhcp-range" | "dhcp-host" | "dhcp-option" | "dhcp-option-force" | "dhcp-lease-max"
        | "dhcp-boot" | "dhcp-script" => Dhcp,
        "dhcp-authoritative" | "log-dhcp" | "script-on-renewal" => DhcpFlag,
        "interface" => Both,
        "user" => General,
        "log-facility" => Renamed("general", "log-facility"),
        "pid-file" => General,
        "dhcp-leasefile" => Renamed("dhcp", "dhcp-import-dnsmasq"),
        "no-ping" => Skip("hamasq does not ping before offering unless dhcp-ping = true"),
        "bind-interfaces" | "bind-dynamic" => Skip(
            "not needed: hamasq listens on the wildcard address and answers from the address \
             queried, which also covers addresses (a VIP) added later",
        ),
        "no-daemon" | "keep-in-foreground" => {
            Skip("use `hamasq --foreground` (command line, not config)")
        }
        "conf-file" | "conf-dir" | "servers-file" => {
            Skip("included files are not followed; convert each file and merge them")
        }
        "group" => Skip("hamasq runs with the primary group of `user`"),
        "log-queries" => Skip("use log-level = debug"),
        "edns-packet-max" => Skip("hamasq always advertises 1232 (DNS Flag Day 2020)"),
        "dhcp-luascript" => Skip("Lua hooks are not supported; use dhcp-script"),
        "enable-ra" | "dhcp-range6" | "ra-param" | "quiet-ra" => {
            Skip("IPv6 router advertisements and DHCPv6 are not supported")
        }
        "dnssec" | "trust-anchor" | "dnssec-check-unsigned" | "proxy-dnssec" => {
            Skip("DNSSEC validation is not supported")
        }
        "except-interface" | "no-dhcp-interface" => {
            Skip("not supported: list the interfaces to serve with `interface` instead")
        }
        "localise-queries" | "read-ethers" | "enable-ubus" | "enable-dbus" => {
            Skip("not supported by hamasq")
        }
        "dhcp-broadcast" | "dhcp-ignore-names" | "dhcp-name-match" | "dhcp-mac"
        | "dhcp-vendorclass" | "dhcp-userclass" | "dhcp-match" | "tag-if" | "dhcp-ignore" => Skip(
            "DHCP client classification by tags is not supported (only set:TAG on ranges and hosts)",
        ),
        _ => Skip("no hamasq equivalent"),
    }
}

/// Converts dnsmasq.conf text.
pub fn convert(text: &str) -> Converted {
    let mut general: Vec<String> = Vec::new();
    let mut dns: Vec<String> = Vec::new();
    let mut dhcp: Vec<String> = Vec::new();
    let mut skipped = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (line, None),
        };
        let skip = |reason: &str, skipped: &mut Vec<Skipped>| {
            skipped.push(Skipped {
                line: i + 1,
                text: line.to_string(),
                reason: reason.to_string(),
            })
        };
        let kv = |k: &str, v: Option<&str>| match v {
            Some(v) => format!("{k} = {v}"),
            None => format!("{k} = true"),
        };
        match (rule(key), value) {
            (Rule::Skip(reason), _) => skip(reason, &mut skipped),
            (Rule::DnsFlag, None) => dns.push(kv(key, None)),
            (Rule::DhcpFlag, None) => dhcp.push(kv(key, None)),
            (Rule::DnsFlag | Rule::DhcpFlag, Some(_)) if key == "local-service" => {
                // dnsmasq 2.90's local-service=host|net: hamasq has the
                // subnet form only.
                dns.push(kv(key, None));
            }
            (Rule::DnsFlag | Rule::DhcpFlag, Some(_)) => skip(
                "a flag in dnsmasq; a value here is not understood",
                &mut skipped,
            ),
            (_, None) => skip("needs a value", &mut skipped),
            (Rule::Dns, Some(v)) => match dns_value(key, v) {
                Ok(v) => dns.push(kv(key, Some(&v))),
                Err(r) => skip(&r, &mut skipped),
            },
            (Rule::Dhcp, Some(v)) => match dhcp_value(key, v) {
                Ok(v) => dhcp.push(kv(key, Some(&v))),
                Err(r) => skip(&r, &mut skipped),
            },
            (Rule::General, Some(v)) => general.push(kv(key, Some(v))),
            (Rule::Both, Some(v)) => {
                dns.push(kv(key, Some(v)));
                dhcp.push(kv(key, Some(v)));
            }
            (Rule::Renamed(section, k), Some(v)) => match section {
                "general" => general.push(kv(k, Some(v))),
                _ => dhcp.push(kv(k, Some(v))),
            },
        }
    }
    let mut ini = String::from(
        "# Converted from a dnsmasq config by `hamasq import-dnsmasq`.\n\
         # Check it with `hamasq --test -c FILE` before use.\n",
    );
    for (name, lines) in [("general", &general), ("dns", &dns), ("dhcp", &dhcp)] {
        if lines.is_empty() && name != "dns" {
            continue;
        }
        let _ = writeln!(ini, "\n[{name}]");
        for l in lines {
            let _ = writeln!(ini, "{l}");
        }
    }
    if !skipped.is_empty() {
        let _ = writeln!(ini, "\n# Not converted:");
        for s in &skipped {
            let _ = writeln!(ini, "#   line {}: {} -- {}", s.line, s.text, s.reason);
        }
    }
    Converted { ini, skipped }
}

/// Values that need a change on the way over.
fn dns_value(key: &str, v: &str) -> Result<String, String> {
    match key {
        // dnsmasq's `domain=lan,192.168.1.0/24[,local]`: the subnet-scoped
        // forms are not supported; a plain domain moves as is.
        "domain" => match v.split_once(',') {
            None => Ok(v.to_string()),
            Some(_) => Err("domain with a subnet is not supported; use a plain domain".into()),
        },
        // server=/d/#: "use the default servers for d".
        "server" if v.ends_with("/#") => {
            Err("'#' (default servers for a domain) is not supported".into())
        }
        // server=IP@interface / IP#port@source: source selection is not
        // supported.
        "server" if v.contains('@') => {
            Err("a source address or interface after '@' is not supported".into())
        }
        "use-stale-cache" if v == "0" => Ok("true".into()),
        _ => Ok(v.to_string()),
    }
}

fn dhcp_value(key: &str, v: &str) -> Result<String, String> {
    if key == "dhcp-range" {
        let first = v.split(',').next().unwrap_or("");
        if first.contains(':') && !first.starts_with("set:") && !first.starts_with("tag:") {
            return Err("an IPv6 range (DHCPv6) is not supported".into());
        }
        if first.starts_with("tag:") {
            return Err("tag: on a range is not supported (set:TAG is)".into());
        }
        // dnsmasq's interface-name prefix (`dhcp-range=lan,START,...`)
        // and the `static` / `proxy` modes.
        if !first.is_empty()
            && !first.starts_with("set:")
            && first.parse::<std::net::Ipv4Addr>().is_err()
        {
            return Err("a range named by interface or tag is not supported".into());
        }
        if v.split(',').any(|p| matches!(p.trim(), "static" | "proxy")) {
            return Err("static and proxy ranges are not supported".into());
        }
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OpenWrt-style generated dnsmasq.conf (trimmed from
    /// /var/etc/dnsmasq.conf.cfg01411c on a stock 23.05 router) plus common
    /// hand-written lines; tests/import_dnsmasq.rs converts the same file
    /// and checks the result with `hamasq --test`.
    pub const OPENWRT: &str = include_str!("../tests/data/openwrt-dnsmasq.conf");

    #[test]
    fn openwrt_config_converts_and_lists_what_it_left_out() {
        let c = convert(OPENWRT);
        assert!(c.ini.contains("[dns]\n"));
        for l in [
            "domain-needed = true",
            "expand-hosts = true",
            "local-service = true",
            "server = /lan/",
            "domain = lan",
            "stop-dns-rebind = true",
            "bogus-priv = true",
            "server = 9.9.9.9",
            "cache-size = 1000",
            "interface = br-lan",
            "dhcp-authoritative = true",
            "dhcp-range = set:lan,192.168.1.100,192.168.1.249,255.255.255.0,12h",
            "dhcp-import-dnsmasq = /tmp/dhcp.leases",
            "user = dnsmasq",
            "dhcp-script = /usr/lib/dnsmasq/dhcp-script.sh",
        ] {
            assert!(c.ini.contains(l), "{l:?} missing:\n{}", c.ini);
        }
        let why = |k: &str| {
            c.skipped
                .iter()
                .find(|s| s.text.starts_with(k))
                .map(|s| s.reason.clone())
                .unwrap_or_else(|| panic!("{k} not listed"))
        };
        assert!(why("conf-file").contains("not followed"));
        assert!(why("bind-dynamic").contains("not needed"));
        assert!(why("enable-ra").contains("IPv6"));
        assert!(why("no-negcache").contains("no hamasq equivalent"));
        assert_eq!(
            c.skipped
                .iter()
                .find(|s| s.text == "group=dnsmasq")
                .map(|s| s.line),
            Some(23)
        );
        // Every non-comment line is either converted or listed.
        assert!(c.ini.contains("# Not converted:"));
    }

    #[test]
    fn the_converted_sections_validate() {
        let c = convert(OPENWRT);
        let cfg = crate::config::parse_and_validate(std::path::Path::new("/conv.conf"), &c.ini)
            .unwrap_or_else(|e| panic!("{e:#?}\n{}", c.ini));
        let dns = cfg.dns.expect("[dns]");
        assert!(dns.domain_needed && dns.stop_dns_rebind && dns.rebind_localhost_ok);
        assert_eq!(dns.locals, vec![vec!["lan".to_string()]]);
        let dhcp = cfg.dhcp.expect("[dhcp]");
        assert_eq!(dhcp.ranges.len(), 1);
        assert_eq!(dhcp.hosts.len(), 1);
    }

    #[test]
    fn unsupported_values_are_listed_not_dropped() {
        let c = convert(
            "dhcp-range=::1,::400,constructor:eth0\ndomain=lan,192.168.1.0/24\nserver=1.1.1.1@eth1\nstrict-order=yes\nport\n",
        );
        assert_eq!(c.skipped.len(), 5, "{:#?}", c.skipped);
        assert!(c.skipped[0].reason.contains("IPv6"));
    }
}
