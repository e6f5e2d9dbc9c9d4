//! One dnsmasq option line to hamasq `key = value` entries.
//!
//! hamasq's `[dns]` and `[dhcp]` keys carry dnsmasq's names and value
//! syntax, so most lines move over as they are; dnsmasq's bare flags
//! (`domain-needed`) become `key = true`. Where dnsmasq's grammar is wider
//! than hamasq's, the value is rewritten to the same meaning (a bare tag
//! `lan` becomes `tag:lan`, a list becomes one entry per item); where no
//! rewrite keeps the meaning, the line is refused with the reason.

use std::net::{IpAddr, Ipv4Addr};

/// The hamasq section an entry goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sec {
    General,
    Dns,
    Dhcp,
}

/// What one line became.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Out {
    pub entries: Vec<(Sec, String, String)>,
    /// Set when the meaning changed on the way (something dropped).
    pub note: Option<String>,
}

impl Out {
    fn one(sec: Sec, key: &str, value: impl Into<String>) -> Out {
        Out {
            entries: vec![(sec, key.to_string(), value.into())],
            note: None,
        }
    }
}

/// Where a dnsmasq option goes.
enum Rule {
    /// Same key and value in this section (value rewritten by `value`).
    Same(Sec),
    /// A dnsmasq flag: `key = true` in this section.
    Flag(Sec),
    /// Not converted, with the reason.
    Skip(&'static str),
}

fn rule(key: &str) -> Rule {
    use Rule::*;
    use Sec::*;
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
        | "use-stale-cache"
        | "rev-server" => Same(Dns),
        "no-resolv"
        | "strict-order"
        | "all-servers"
        | "no-hosts"
        | "expand-hosts"
        | "domain-needed"
        | "bogus-priv"
        | "stop-dns-rebind"
        | "rebind-localhost-ok"
        | "local-service"
        | "log-queries" => Flag(Dns),
        "dhcp-range" | "dhcp-host" | "dhcp-option" | "dhcp-option-force" | "dhcp-lease-max"
        | "dhcp-boot" | "dhcp-script" | "dhcp-leasefile" => Same(Dhcp),
        "dhcp-authoritative" | "log-dhcp" | "script-on-renewal" => Flag(Dhcp),
        "interface" | "user" | "log-facility" => Same(General),
        "pid-file" => Skip(
            "hamasq keeps its own pid file (pid-file in [general], default /run/hamasq.pid); \
             sharing dnsmasq's would make the two lock each other out during the switch",
        ),
        "no-ping" => {
            Skip("not needed: hamasq does not ping before offering unless dhcp-ping = true")
        }
        "bind-interfaces" | "bind-dynamic" => Skip(
            "not needed: hamasq listens on the wildcard address and answers from the address \
             queried, which also covers addresses (a VIP) added later",
        ),
        "no-daemon" | "keep-in-foreground" => {
            Skip("use `hamasq --foreground` (command line, not config)")
        }
        "conf-file" | "conf-dir" => Skip(
            "not followed when converting text alone; `hamasq import-dnsmasq FILE` follows includes",
        ),
        "conf-script" => Skip("not run: hamasq does not execute programs while converting"),
        "servers-file" => Skip(
            "hamasq has no servers file re-read at run time; copy its server= lines into [dns]",
        ),
        "group" => Skip("not needed: hamasq runs with the primary group of `user`"),
        "edns-packet-max" => Skip("not needed: hamasq always advertises 1232 (DNS Flag Day 2020)"),
        "dhcp-luascript" => Skip("Lua hooks are not supported; use dhcp-script"),
        "enable-ra" | "dhcp-range6" | "ra-param" | "quiet-ra" => {
            Skip("IPv6 router advertisements and DHCPv6 are not supported")
        }
        "dnssec"
        | "trust-anchor"
        | "dnssec-check-unsigned"
        | "proxy-dnssec"
        | "dnssec-no-timecheck" => Skip("DNSSEC validation is not supported"),
        "except-interface" | "no-dhcp-interface" => {
            Skip("not supported: list the interfaces to serve with `interface` instead")
        }
        "localise-queries" | "read-ethers" | "enable-ubus" | "enable-dbus" | "enable-tftp"
        | "tftp-root" | "script-arp" | "dhcp-rapid-commit" | "quiet-dhcp" | "dhcp-fqdn"
        | "no-negcache" | "log-async" | "cache-rr" => Skip("no hamasq equivalent"),
        "dhcp-broadcast" | "dhcp-ignore-names" | "dhcp-name-match" | "dhcp-mac"
        | "dhcp-vendorclass" | "dhcp-userclass" | "dhcp-match" | "tag-if" | "dhcp-ignore"
        | "dhcp-circuitid" | "dhcp-remoteid" | "dhcp-subscrid" => Skip(
            "DHCP client classification by tags is not supported (only set:TAG on ranges and hosts)",
        ),
        _ => Skip("no hamasq equivalent"),
    }
}

/// Converts one `key[=value]` line.
pub fn convert_line(key: &str, value: Option<&str>) -> Result<Out, String> {
    match (rule(key), value) {
        (Rule::Skip(reason), _) => Err(reason.to_string()),
        (Rule::Flag(sec), None) => Ok(Out::one(sec, key, "true")),
        // dnsmasq 2.90's local-service=host|net: hamasq has the subnet
        // form only.
        (Rule::Flag(sec), Some(_)) if key == "local-service" => Ok(Out {
            entries: vec![(sec, key.into(), "true".into())],
            note: Some("answers clients on directly connected subnets (local-service=net)".into()),
        }),
        // log-queries=extra|proto|auth: dnsmasq's more detailed forms.
        (Rule::Flag(sec), Some(_)) if key == "log-queries" => Ok(Out {
            entries: vec![(sec, key.into(), "true".into())],
            note: Some("one line per query; dnsmasq's extra fields are not logged".into()),
        }),
        (Rule::Flag(_), Some(_)) => Err("a flag in dnsmasq; a value here is not understood".into()),
        (Rule::Same(_), None) => Err("needs a value".into()),
        (Rule::Same(sec), Some(v)) => value_of(sec, key, v),
    }
}

fn value_of(sec: Sec, key: &str, v: &str) -> Result<Out, String> {
    match key {
        "listen-address" => listen_addresses(v),
        // dnsmasq's interface takes a list; it selects both DNS and DHCP.
        "interface" => {
            let names: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            if let Some(n) = names.iter().find(|n| n.contains('*')) {
                return Err(format!(
                    "{n}: interface wildcards are not supported; name each interface"
                ));
            }
            Ok(Out {
                entries: [Sec::Dns, Sec::Dhcp]
                    .into_iter()
                    .flat_map(|s| {
                        names
                            .iter()
                            .map(move |n| (s, "interface".to_string(), n.to_string()))
                    })
                    .collect(),
                note: None,
            })
        }
        "log-facility" => log_facility(v),
        "user" => Ok(Out::one(sec, key, v)),
        "dhcp-leasefile" => Ok(Out {
            entries: vec![(Sec::Dhcp, "dhcp-import-dnsmasq".into(), v.into())],
            note: Some(
                "dnsmasq's leases are imported once at first start (dhcp-import-dnsmasq); \
                 hamasq keeps its own leases in state-dir"
                    .into(),
            ),
        }),
        // dnsmasq's `domain=lan,192.168.1.0/24[,local]`: the subnet-scoped
        // forms are not supported; a plain domain moves as is.
        "domain" if v.contains(',') => {
            Err("domain with a subnet is not supported; use a plain domain".into())
        }
        // server=/d/#: "use the default servers for d".
        "server" | "local" if v.ends_with("/#") => {
            Err("'#' (default servers for a domain) is not supported".into())
        }
        // server=IP@interface / IP#port@source: source selection.
        "server" if v.contains('@') => {
            Err("a source address or interface after '@' is not supported".into())
        }
        "rev-server" => rev_server(v),
        "dhcp-boot" if v.starts_with("tag:") || v.starts_with("net:") => Err(
            "tag: conditions on dhcp-boot are not supported: hamasq has one dhcp-boot for every \
             client"
                .into(),
        ),
        // OpenWrt writes rebind_domain entries without slashes.
        "rebind-domain-ok" if !v.starts_with('/') => Ok(Out::one(sec, key, format!("/{v}/"))),
        "use-stale-cache" if v == "0" => Ok(Out::one(sec, key, "true")),
        "dhcp-range" => dhcp_range(v),
        "dhcp-host" => dhcp_host(v),
        "dhcp-option" | "dhcp-option-force" => Ok(Out::one(sec, key, dhcp_option(v))),
        _ => Ok(Out::one(sec, key, v)),
    }
}

/// `listen-address=127.0.0.1,192.168.1.1,::1`: one entry per address,
/// IPv4 or IPv6.
fn listen_addresses(v: &str) -> Result<Out, String> {
    let mut out = Out::default();
    for a in v.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if a.parse::<IpAddr>().is_err() {
            return Err(format!("{a:?} is not an IP address"));
        }
        out.entries
            .push((Sec::Dns, "listen-address".into(), a.into()));
    }
    if out.entries.is_empty() {
        return Err("no address given".into());
    }
    Ok(out)
}

/// `log-facility=`: `-` is stderr, a facility name is syslog, a path is a
/// log file (which hamasq does not write).
fn log_facility(v: &str) -> Result<Out, String> {
    if v == "-" {
        return Ok(Out::one(Sec::General, "log-target", "stderr"));
    }
    if v.contains('/') {
        return Err(format!(
            "hamasq logs to syslog or stderr, not to a file: keep log-target = syslog (or stderr \
             under systemd) and let syslog write {v} if it is still wanted"
        ));
    }
    let f = v.to_ascii_lowercase();
    if crate::log::Facility::parse(&f).is_none() {
        return Err(format!(
            "syslog facility {v:?} is not offered; expected one of {}",
            crate::log::Facility::NAMES
        ));
    }
    Ok(Out {
        entries: vec![
            (Sec::General, "log-target".into(), "syslog".into()),
            (Sec::General, "log-facility".into(), f),
        ],
        note: None,
    })
}

/// `rev-server=NET/LEN,SERVER`: `server=/REVERSE-ZONE/SERVER` when LEN is a
/// whole number of octets (the zone is then exactly the subnet).
fn rev_server(v: &str) -> Result<Out, String> {
    let (net, server) = v.split_once(',').ok_or("expected NET/LEN,SERVER")?;
    let (addr, len) = net.split_once('/').unwrap_or((net, "32"));
    let addr: Ipv4Addr = addr
        .trim()
        .parse()
        .map_err(|_| "only IPv4 subnets are converted".to_string())?;
    let len: u8 = len
        .trim()
        .parse()
        .map_err(|_| format!("{len:?} is not a prefix length"))?;
    if !matches!(len, 8 | 16 | 24 | 32) {
        return Err(
            "only /8, /16, /24 and /32 map onto one reverse zone; give server=/ZONE/IP lines"
                .into(),
        );
    }
    let o = addr.octets();
    let zone: Vec<String> = o[..usize::from(len / 8)]
        .iter()
        .rev()
        .map(u8::to_string)
        .collect();
    Ok(Out::one(
        Sec::Dns,
        "server",
        format!("/{}.in-addr.arpa/{}", zone.join("."), server.trim()),
    ))
}

/// dnsmasq reads a leading field of `dhcp-range` that is not an address
/// as a tag to set (its old `network-id` form, as older OpenWrt writes
/// `dhcp-range=lan,...`): that is hamasq's `set:lan`.
fn dhcp_range(v: &str) -> Result<Out, String> {
    let mut parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let first = parts.first().copied().unwrap_or("");
    if first.starts_with("tag:") || first.starts_with("net:") {
        return Err("tag: on a range is not supported (set:TAG is)".into());
    }
    let rest_first = if first.starts_with("set:") {
        parts.get(1).copied().unwrap_or("")
    } else {
        first
    };
    if rest_first.contains(':') || parts.iter().any(|p| p.starts_with("constructor:")) {
        return Err("an IPv6 range (DHCPv6) is not supported".into());
    }
    if parts.contains(&"proxy") {
        return Err("proxy DHCP ranges are not supported".into());
    }
    if parts.contains(&"static") {
        return Err(
            "a static range (addresses for dhcp-host reservations only): hamasq serves \
             reservations without a range, so the dhcp-host lines are enough"
                .into(),
        );
    }
    if !first.is_empty() && !first.starts_with("set:") && first.parse::<Ipv4Addr>().is_err() {
        parts[0] = "";
        return Ok(Out {
            entries: vec![(
                Sec::Dhcp,
                "dhcp-range".into(),
                format!("set:{first}{}", parts.join(",")),
            )],
            note: Some(format!("the bare tag {first} is written set:{first}")),
        });
    }
    Ok(Out::one(Sec::Dhcp, "dhcp-range", parts.join(",")))
}

/// `dhcp-host`: `id:*` ("ignore the client-id") is dropped where a MAC or
/// name still matches the client; dnsmasq's `net:TAG` is `set:TAG`; IPv6
/// addresses (`[::5]`) are left out.
fn dhcp_host(v: &str) -> Result<Out, String> {
    let mut items = Vec::new();
    let mut dropped = Vec::new();
    for item in v.split(',').map(str::trim) {
        if item.eq_ignore_ascii_case("id:*") {
            dropped.push("id:* (not needed: hamasq matches this reservation by its MAC whatever client-id the client sends)".to_string());
        } else if item.starts_with('[') {
            dropped.push(format!("the IPv6 address {item} (DHCPv6 is not supported)"));
        } else if let Some(t) = item.strip_prefix("net:") {
            items.push(format!("set:{t}"));
        } else if item.starts_with("tag:") {
            return Err("tag: conditions on dhcp-host are not supported (set:TAG is)".into());
        } else if item.contains(':') && item.contains('*') {
            return Err(format!(
                "{item}: wildcard hardware addresses are not supported"
            ));
        } else {
            items.push(item.to_string());
        }
    }
    // A hardware address or id:CLIENTID (both have ':'), or a host name.
    let matches_someone = items.iter().any(|i| {
        (i.contains(':') && !i.starts_with("set:"))
            || (i != "ignore"
                && !i.contains(':')
                && i.parse::<Ipv4Addr>().is_err()
                && !is_lease_time(i))
    });
    if !matches_someone {
        return Err(
            "names no hardware address, client-id or host name, so it matches no client \
             (in dnsmasq neither)"
                .into(),
        );
    }
    Ok(Out {
        entries: vec![(Sec::Dhcp, "dhcp-host".into(), items.join(","))],
        note: (!dropped.is_empty()).then(|| format!("left out: {}", dropped.join("; "))),
    })
}

fn is_lease_time(i: &str) -> bool {
    i == "infinite" || i.starts_with(|c: char| c.is_ascii_digit()) && !i.contains('.')
}

/// dnsmasq's `dhcp-option` reads every field before the option (a number,
/// `option:`, `option6:`, `vendor:`, `encap:`, `vi-encap:`) as a tag,
/// with or without `tag:`/`net:`/`set:` (option.c, parse_dhcp_opt):
/// OpenWrt writes `dhcp-option=lan,6,192.168.1.1`. hamasq spells each
/// `tag:NAME`.
fn dhcp_option(v: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut fields = v.split(',');
    for f in fields.by_ref() {
        let t = f.trim();
        let is_opt = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
            || ["option:", "option6:", "vendor:", "encap:", "vi-encap:"]
                .iter()
                .any(|p| t.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)));
        if is_opt || t.is_empty() {
            out.push(t.to_string());
            break;
        }
        let name = ["tag:", "net:", "set:"]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .unwrap_or(t);
        out.push(format!("tag:{name}"));
    }
    out.extend(fields.map(str::to_string));
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(key: &str, v: &str) -> Vec<(Sec, String, String)> {
        convert_line(key, Some(v))
            .unwrap_or_else(|e| panic!("{key}={v}: {e}"))
            .entries
    }

    fn kv(o: &[(Sec, String, String)]) -> Vec<String> {
        o.iter().map(|(_, k, v)| format!("{k} = {v}")).collect()
    }

    #[test]
    fn a_bare_tag_before_an_option_becomes_tag() {
        assert_eq!(dhcp_option("lan,6,192.168.1.1"), "tag:lan,6,192.168.1.1");
        assert_eq!(
            dhcp_option("lan,guest,option:dns-server,0.0.0.0"),
            "tag:lan,tag:guest,option:dns-server,0.0.0.0"
        );
        assert_eq!(dhcp_option("net:old,set:x,3"), "tag:old,tag:x,3");
        assert_eq!(
            dhcp_option("tag:!known,option:router"),
            "tag:!known,option:router"
        );
        // The value keeps its commas and quotes.
        assert_eq!(
            dhcp_option("option:domain-search,lan,corp"),
            "option:domain-search,lan,corp"
        );
        assert_eq!(
            dhcp_option("Option:ntp-server,1.2.3.4"),
            "Option:ntp-server,1.2.3.4"
        );
    }

    #[test]
    fn id_star_is_dropped_or_the_line_listed() {
        let o = convert_line("dhcp-host", Some("id:*,ignore")).unwrap_err();
        assert!(o.contains("matches no client"), "{o}");
        let o = convert_line("dhcp-host", Some("00:11:22:33:44:55,id:*,192.168.1.60")).unwrap();
        assert_eq!(
            kv(&o.entries),
            ["dhcp-host = 00:11:22:33:44:55,192.168.1.60"]
        );
        assert!(o.note.unwrap().contains("id:*"));
        let o = convert_line(
            "dhcp-host",
            Some("aa:bb:cc:dd:ee:ff,net:lan,[::5],192.168.1.5,nas"),
        )
        .unwrap();
        assert_eq!(
            kv(&o.entries),
            ["dhcp-host = aa:bb:cc:dd:ee:ff,set:lan,192.168.1.5,nas"]
        );
        assert!(convert_line("dhcp-host", Some("00:11:22:*:*:*,ignore")).is_err());
    }

    #[test]
    fn log_queries_becomes_the_dns_query_log() {
        let o = convert_line("log-queries", None).unwrap();
        assert_eq!(kv(&o.entries), ["log-queries = true"]);
        assert!(o.note.is_none());
        let o = convert_line("log-queries", Some("extra")).unwrap();
        assert_eq!(kv(&o.entries), ["log-queries = true"]);
        assert!(o.note.unwrap().contains("extra fields"));
    }

    #[test]
    fn listen_address_and_interface_lists_split() {
        assert_eq!(
            kv(&entries("listen-address", "127.0.0.1,192.168.1.1")),
            ["listen-address = 127.0.0.1", "listen-address = 192.168.1.1"]
        );
        // IPv6 addresses too, now that DNS listens on IPv6.
        let o = convert_line("listen-address", Some("::1,127.0.0.1,fd00::1")).unwrap();
        assert_eq!(
            kv(&o.entries),
            [
                "listen-address = ::1",
                "listen-address = 127.0.0.1",
                "listen-address = fd00::1"
            ]
        );
        assert!(o.note.is_none());
        assert!(convert_line("listen-address", Some("::1,bogus")).is_err());
        let e = entries("interface", "eth0,eth1");
        assert_eq!(e.len(), 4);
        assert_eq!(e[0], (Sec::Dns, "interface".into(), "eth0".into()));
        assert_eq!(e[3], (Sec::Dhcp, "interface".into(), "eth1".into()));
    }

    #[test]
    fn log_facility_file_name_or_stderr() {
        let e = convert_line("log-facility", Some("/var/log/dnsmasq.log")).unwrap_err();
        assert!(e.contains("not to a file"), "{e}");
        assert_eq!(
            kv(&entries("log-facility", "LOCAL3")),
            ["log-target = syslog", "log-facility = local3"]
        );
        assert_eq!(kv(&entries("log-facility", "-")), ["log-target = stderr"]);
        assert!(convert_line("log-facility", Some("mail")).is_err());
    }

    #[test]
    fn ranges_rev_servers_and_rebind_domains() {
        let o = convert_line(
            "dhcp-range",
            Some("lan,192.168.1.100,192.168.1.249,255.255.255.0,12h"),
        )
        .unwrap();
        assert_eq!(
            kv(&o.entries),
            ["dhcp-range = set:lan,192.168.1.100,192.168.1.249,255.255.255.0,12h"]
        );
        assert!(
            convert_line(
                "dhcp-range",
                Some("set:lan,192.168.1.100,static,255.255.255.0,12h")
            )
            .unwrap_err()
            .contains("static")
        );
        assert!(
            convert_line(
                "dhcp-range",
                Some("set:lan,::1000,::ffff,constructor:br-lan,12h")
            )
            .is_err()
        );
        assert_eq!(
            kv(&entries("rev-server", "192.168.0.0/24,192.168.0.1")),
            ["server = /0.168.192.in-addr.arpa/192.168.0.1"]
        );
        assert_eq!(
            kv(&entries("rev-server", "10.0.0.0/8,10.0.0.1#5353")),
            ["server = /10.in-addr.arpa/10.0.0.1#5353"]
        );
        assert!(convert_line("rev-server", Some("192.168.0.0/23,192.168.0.1")).is_err());
        assert_eq!(
            kv(&entries("rebind-domain-ok", "plex.direct")),
            ["rebind-domain-ok = /plex.direct/"]
        );
    }
}
