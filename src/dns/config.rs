//! The `[dns]` section: typed keys, dnsmasq's names and value syntax
//! (design §7; anchors §a.1), so lines move over from dnsmasq.conf.
//!
//! Validation is pure. Files named here (`resolv-file`, `addn-hosts`,
//! `/etc/hosts`) are read by the DNS task at start and on reload, so a
//! missing hosts file is a warning at run time, not a config error (dnsmasq
//! behaves the same way).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::cache::{CacheConfig, DEFAULT_CACHE_SIZE, DEFAULT_MAX_TTL};
use super::grammar::{
    self, AddressRule, CnameRecord, HostRecord, MAX_TTL, PtrRecord, SrvRecord, TxtRecord,
};
use crate::section::{SectionReader, absolute_path, parse_bool, parse_ifname, parse_u32_in};

/// The DNS port.
pub const DEFAULT_PORT: u16 = 53;
/// dnsmasq's `dns-forward-max` default.
pub const DEFAULT_FORWARD_MAX: u32 = 150;
/// dnsmasq's `max-tcp-connections` default.
pub const DEFAULT_MAX_TCP: u32 = 20;
/// The resolv.conf read for upstreams unless `no-resolv`.
pub const DEFAULT_RESOLV_FILE: &str = "/etc/resolv.conf";
/// The system hosts file, read unless `no-hosts`.
pub const SYSTEM_HOSTS: &str = "/etc/hosts";

/// One `server=` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLine {
    /// Empty: a default upstream. Otherwise `server=/d1/d2/IP`: only names
    /// in these domains go there (the longest match wins).
    pub domains: Vec<String>,
    /// `None`: `server=/d/` with no address, dnsmasq's spelling of
    /// `local=/d/` (answered locally, never forwarded).
    pub addr: Option<SocketAddr>,
    /// `fe80::1%eth0`: the interface a link-local upstream is on, turned
    /// into its index (the address's scope id, RFC 4007 §11) when the DNS
    /// task starts or reloads, so the interface need not exist at
    /// `--test` time.
    pub scope: Option<String>,
    pub line: Option<usize>,
}

/// `[dns]`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsConfig {
    /// `port`; 0 turns the DNS server off (dnsmasq's `port=0`).
    pub port: u16,
    /// `listen-address`: answer only queries sent to these addresses.
    pub listen_addresses: Vec<IpAddr>,
    /// `interface`: answer only queries that arrive on these interfaces.
    pub interfaces: Vec<String>,
    /// `local-service`: without `interface`/`listen-address`, answer only
    /// clients on a directly connected subnet (and loopback).
    pub local_service: bool,
    pub servers: Vec<ServerLine>,
    /// `local=/d/` (and `server=/d/`), each line's domains.
    pub locals: Vec<Vec<String>>,
    /// `resolv-file`: upstreams from its `nameserver` lines, re-read when it
    /// changes.
    pub resolv_file: PathBuf,
    /// `no-resolv`.
    pub no_resolv: bool,
    pub strict_order: bool,
    pub all_servers: bool,
    pub cache_size: u32,
    pub min_cache_ttl: u32,
    pub max_cache_ttl: u32,
    pub neg_ttl: Option<u32>,
    /// `use-stale-cache`: the RFC 8767 window; `None` = off.
    pub use_stale_cache: Option<Duration>,
    pub no_hosts: bool,
    pub addn_hosts: Vec<PathBuf>,
    pub addresses: Vec<AddressRule>,
    pub host_records: Vec<HostRecord>,
    pub cnames: Vec<CnameRecord>,
    pub srv_hosts: Vec<SrvRecord>,
    pub txt_records: Vec<TxtRecord>,
    pub ptr_records: Vec<PtrRecord>,
    pub domain: Option<String>,
    pub expand_hosts: bool,
    pub domain_needed: bool,
    pub bogus_priv: bool,
    pub stop_dns_rebind: bool,
    pub rebind_localhost_ok: bool,
    pub rebind_domain_ok: Vec<String>,
    pub forward_max: u32,
    pub max_tcp_connections: u32,
    pub local_ttl: u32,
    /// `dhcp-ttl`; `None` = `local-ttl`.
    pub dhcp_ttl: Option<u32>,
    /// `chaos-stats`: answer the CHAOS `*.bind` names.
    pub chaos_stats: bool,
    /// `log-queries`: one log line per answered query (client, name, type,
    /// where the answer came from, RCODE). `hamasq log-queries on|off`
    /// switches it until the next reload.
    pub log_queries: bool,
}

impl Default for DnsConfig {
    fn default() -> DnsConfig {
        DnsConfig {
            port: DEFAULT_PORT,
            listen_addresses: Vec::new(),
            interfaces: Vec::new(),
            local_service: true,
            servers: Vec::new(),
            locals: Vec::new(),
            resolv_file: PathBuf::from(DEFAULT_RESOLV_FILE),
            no_resolv: false,
            strict_order: false,
            all_servers: false,
            cache_size: DEFAULT_CACHE_SIZE as u32,
            min_cache_ttl: 0,
            max_cache_ttl: DEFAULT_MAX_TTL,
            neg_ttl: None,
            use_stale_cache: None,
            no_hosts: false,
            addn_hosts: Vec::new(),
            addresses: Vec::new(),
            host_records: Vec::new(),
            cnames: Vec::new(),
            srv_hosts: Vec::new(),
            txt_records: Vec::new(),
            ptr_records: Vec::new(),
            domain: None,
            expand_hosts: false,
            domain_needed: false,
            bogus_priv: false,
            stop_dns_rebind: false,
            rebind_localhost_ok: false,
            rebind_domain_ok: Vec::new(),
            forward_max: DEFAULT_FORWARD_MAX,
            max_tcp_connections: DEFAULT_MAX_TCP,
            local_ttl: 0,
            dhcp_ttl: None,
            chaos_stats: true,
            log_queries: false,
        }
    }
}

impl DnsConfig {
    /// The cache settings these keys give.
    pub fn cache(&self) -> CacheConfig {
        CacheConfig {
            size: self.cache_size as usize,
            min_ttl: self.min_cache_ttl,
            max_ttl: self.max_cache_ttl,
            neg_ttl: self.neg_ttl,
            stale_window: self.use_stale_cache,
            ..CacheConfig::default()
        }
    }

    /// The upstreams given by `server=` lines (with an address): domains,
    /// address, and the interface of a link-local one.
    pub fn configured_upstreams(
        &self,
    ) -> impl Iterator<Item = (&[String], SocketAddr, Option<&str>)> {
        self.servers.iter().filter_map(|s| {
            s.addr
                .map(|a| (s.domains.as_slice(), a, s.scope.as_deref()))
        })
    }

    /// Whether resolv-file supplies the default upstreams: not with
    /// `no-resolv`, and not when `server=` lines already name default
    /// upstreams (dnsmasq reads both; we keep it predictable: explicit
    /// default servers win).
    pub fn uses_resolv_file(&self) -> bool {
        !self.no_resolv
            && !self
                .servers
                .iter()
                .any(|s| s.domains.is_empty() && s.addr.is_some())
    }
}

/// `IP[%IFNAME][#port]`: the address, and for a link-local IPv6 address
/// the interface it is on (required: fe80::1 is on every link).
pub fn parse_upstream(v: &str) -> Result<(SocketAddr, Option<String>), String> {
    let (ip, port) = match v.split_once('#') {
        Some((ip, p)) => (
            ip,
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("bad port {p:?}; expected IP[#PORT], port 1-65535"))?,
        ),
        None => (v, DEFAULT_PORT),
    };
    let (ip, scope) = match ip.trim().split_once('%') {
        Some((ip, s)) => (ip, Some(parse_ifname(s).map_err(|e| format!("%{s}: {e}"))?)),
        None => (ip.trim(), None),
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("{ip:?} is not an IP address; expected IP[%IFNAME][#PORT]"))?;
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(format!("{ip} cannot be an upstream server"));
    }
    let link_local = matches!(ip, IpAddr::V6(a) if crate::net::is_link_local6(a));
    match (link_local, &scope) {
        (true, None) => Err(format!(
            "{ip} is link-local: name its interface, as {ip}%eth0 (RFC 4007 §11)"
        )),
        (false, Some(s)) => Err(format!(
            "%{s}: an interface is given only for link-local (fe80::/10) addresses"
        )),
        _ => Ok((SocketAddr::new(ip, port), scope)),
    }
}

/// `IP[#port]` or `/domain[/domain...]/[IP[#port]]`.
pub fn parse_server(v: &str) -> Result<ServerLine, String> {
    if v.starts_with('/') {
        let (domains, last) = grammar::slash_domains(v, "/domain/IP[#PORT]")?;
        let (addr, scope) = if last.is_empty() {
            (None, None)
        } else if last == "#" {
            return Err(
                "'#' (use the default servers) is not supported; leave the domain out of \
                 server= lines instead"
                    .into(),
            );
        } else {
            let (a, s) = parse_upstream(last)?;
            (Some(a), s)
        };
        Ok(ServerLine {
            domains,
            addr,
            scope,
            line: None,
        })
    } else {
        let (addr, scope) = parse_upstream(v)?;
        Ok(ServerLine {
            domains: Vec::new(),
            addr: Some(addr),
            scope,
            line: None,
        })
    }
}

fn parse_ttl(v: &str) -> Result<u32, String> {
    parse_u32_in(v, 0, MAX_TTL)
}

/// Reads `[dns]`.
pub fn read(r: &mut SectionReader<'_>) -> DnsConfig {
    let d = DnsConfig::default();
    let port = r.scalar("port", d.port, |v| {
        parse_u32_in(v, 0, 65_535).map(|p| p as u16)
    });
    let listen_addresses = r.list("listen-address", |v| {
        v.parse::<IpAddr>()
            .map_err(|_| "not an IP address; expected IPv4 or IPv6 (without %scope)".to_string())
    });
    let interfaces = r.list("interface", parse_ifname);
    let local_service = r.scalar("local-service", d.local_service, parse_bool);
    let servers = r.list_with_line("server", parse_server, |s, l| s.line = l);
    let mut locals = r.list("local", grammar::parse_local);
    locals.extend(
        servers
            .iter()
            .filter(|s| s.addr.is_none())
            .map(|s| s.domains.clone()),
    );
    let resolv_file = r.scalar("resolv-file", d.resolv_file.clone(), absolute_path);
    let no_resolv = r.scalar("no-resolv", d.no_resolv, parse_bool);
    let strict_order = r.scalar("strict-order", d.strict_order, parse_bool);
    let all_servers = r.scalar("all-servers", d.all_servers, parse_bool);
    if strict_order && all_servers {
        r.error_on(
            "all-servers",
            "strict-order and all-servers exclude each other; set one".into(),
        );
    }
    let cache_size = r.scalar("cache-size", d.cache_size, |v| {
        parse_u32_in(v, 0, 1_000_000)
    });
    // dnsmasq caps min-cache-ttl at one hour: longer would pin answers the
    // zone owner wants refreshed.
    let min_cache_ttl = r.scalar("min-cache-ttl", d.min_cache_ttl, |v| {
        parse_u32_in(v, 0, 3600)
    });
    let max_cache_ttl = r.scalar("max-cache-ttl", d.max_cache_ttl, parse_ttl);
    if min_cache_ttl > max_cache_ttl {
        r.error_on(
            "min-cache-ttl",
            format!("larger than max-cache-ttl ({max_cache_ttl})"),
        );
    }
    let neg_ttl = r.scalar("neg-ttl", d.neg_ttl, |v| parse_ttl(v).map(Some));
    let use_stale_cache = r.scalar("use-stale-cache", d.use_stale_cache, |v| {
        match parse_bool(v) {
            Ok(true) => Ok(Some(super::cache::DEFAULT_STALE_WINDOW)),
            Ok(false) => Ok(None),
            Err(_) => parse_u32_in(v, 1, MAX_TTL)
                .map(|s| Some(Duration::from_secs(s as u64)))
                .map_err(|_| "expected true, false or a number of seconds".to_string()),
        }
    });
    let no_hosts = r.scalar("no-hosts", d.no_hosts, parse_bool);
    let addn_hosts = r.list("addn-hosts", absolute_path);
    let addresses = r.list("address", grammar::parse_address);
    let host_records = r.list("host-record", grammar::parse_host_record);
    let cnames = r.list("cname", grammar::parse_cname);
    let srv_hosts = r.list("srv-host", grammar::parse_srv_host);
    let txt_records = r.list("txt-record", grammar::parse_txt_record);
    let ptr_records = r.list("ptr-record", grammar::parse_ptr_record);
    let domain = r.scalar("domain", d.domain.clone(), |v| {
        grammar::parse_domain(v).map(Some)
    });
    let expand_hosts = r.scalar("expand-hosts", d.expand_hosts, parse_bool);
    if expand_hosts && domain.is_none() {
        r.error_on("expand-hosts", "needs domain = to expand names with".into());
    }
    let domain_needed = r.scalar("domain-needed", d.domain_needed, parse_bool);
    let bogus_priv = r.scalar("bogus-priv", d.bogus_priv, parse_bool);
    let stop_dns_rebind = r.scalar("stop-dns-rebind", d.stop_dns_rebind, parse_bool);
    let rebind_localhost_ok = r.scalar("rebind-localhost-ok", d.rebind_localhost_ok, parse_bool);
    let rebind_domain_ok: Vec<String> = r
        .list("rebind-domain-ok", |v| {
            let (doms, last) = grammar::slash_domains(v, "/domain/")?;
            if last.is_empty() {
                Ok(doms)
            } else {
                Err(format!("nothing may follow the last '/' (got {last:?})"))
            }
        })
        .into_iter()
        .flatten()
        .collect();
    let forward_max = r.scalar("dns-forward-max", d.forward_max, |v| {
        parse_u32_in(v, 1, 10_000)
    });
    let max_tcp_connections = r.scalar("max-tcp-connections", d.max_tcp_connections, |v| {
        parse_u32_in(v, 1, 1024)
    });
    let local_ttl = r.scalar("local-ttl", d.local_ttl, parse_ttl);
    let dhcp_ttl = r.scalar("dhcp-ttl", d.dhcp_ttl, |v| parse_ttl(v).map(Some));
    let chaos_stats = r.scalar("chaos-stats", d.chaos_stats, parse_bool);
    let log_queries = r.scalar("log-queries", d.log_queries, parse_bool);
    DnsConfig {
        port,
        listen_addresses,
        interfaces,
        local_service,
        servers,
        locals,
        resolv_file,
        no_resolv,
        strict_order,
        all_servers,
        cache_size,
        min_cache_ttl,
        max_cache_ttl,
        neg_ttl,
        use_stale_cache,
        no_hosts,
        addn_hosts,
        addresses,
        host_records,
        cnames,
        srv_hosts,
        txt_records,
        ptr_records,
        domain,
        expand_hosts,
        domain_needed,
        bogus_priv,
        stop_dns_rebind,
        rebind_localhost_ok,
        rebind_domain_ok,
        forward_max,
        max_tcp_connections,
        local_ttl,
        dhcp_ttl,
        chaos_stats,
        log_queries,
    }
}

/// Upstreams from resolv.conf text: every `nameserver` line with an IPv4
/// or IPv6 address, skipping loopback and the unspecified address, which
/// would be this box itself (dnsmasq skips its own addresses the same way;
/// a loop would turn one query into a storm). A link-local IPv6 address
/// needs its scope, `fe80::1%eth0` or `fe80::1%2` (as glibc reads it);
/// `if_index` turns an interface name into its index, and a line whose
/// scope is missing or unknown is skipped.
pub fn parse_resolv_conf(text: &str, if_index: impl Fn(&str) -> Option<u32>) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(word) = words.next() else {
            continue;
        };
        let (ip, scope) = match word.split_once('%') {
            Some((ip, s)) => (ip, Some(s)),
            None => (word, None),
        };
        let a = match (ip.parse::<IpAddr>(), scope) {
            (Ok(IpAddr::V4(ip)), None) => SocketAddr::new(IpAddr::V4(ip), DEFAULT_PORT),
            (Ok(IpAddr::V6(ip)), scope) => {
                let index = match scope {
                    None => 0,
                    Some(s) => match s.parse::<u32>().ok().or_else(|| if_index(s)) {
                        Some(i) => i,
                        None => continue,
                    },
                };
                if crate::net::is_link_local6(ip) != (index != 0) {
                    continue;
                }
                SocketAddr::V6(std::net::SocketAddrV6::new(ip, DEFAULT_PORT, 0, index))
            }
            _ => continue,
        };
        if a.ip().is_loopback() || a.ip().is_unspecified() || a.ip().is_multicast() {
            continue;
        }
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_and_validate;
    use std::path::Path;

    fn dns(text: &str) -> Result<DnsConfig, Vec<String>> {
        parse_and_validate(Path::new("/t.conf"), text)
            .map(|c| c.dns.expect("a [dns] section"))
            .map_err(|es| es.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn listen_address_takes_both_families() {
        let c = dns("[dns]\nlisten-address = 192.168.1.1\nlisten-address = fd00:1::1\nlisten-address = fe80::1\n")
            .unwrap();
        let want: Vec<IpAddr> = vec![
            "192.168.1.1".parse().unwrap(),
            "fd00:1::1".parse().unwrap(),
            "fe80::1".parse().unwrap(),
        ];
        assert_eq!(c.listen_addresses, want);
        let e = dns("[dns]\nlisten-address = fe80::1%eth0\n").unwrap_err();
        assert!(
            e[0].contains("listen-address") && e[0].contains("%scope"),
            "{e:?}"
        );
    }

    #[test]
    fn an_empty_section_gives_dnsmasq_defaults() {
        let c = dns("[dns]\n").unwrap();
        assert_eq!(c, DnsConfig::default());
        assert_eq!(c.port, 53);
        assert_eq!(c.cache_size, 150);
        assert!(c.local_service && c.chaos_stats && c.uses_resolv_file());
    }

    #[test]
    fn servers_default_and_per_domain() {
        let c = dns(
            "[dns]\nserver = 192.0.2.1\nserver = 192.0.2.2#5353\nserver = /corp.example/lab.example/10.0.0.1\nserver = /only.local/\n",
        )
        .unwrap();
        let ups: Vec<_> = c.configured_upstreams().collect();
        assert_eq!(ups.len(), 3);
        assert!(ups.iter().all(|u| u.2.is_none()));
        assert_eq!(ups[0].1, "192.0.2.1:53".parse().unwrap());
        assert_eq!(ups[1].1, "192.0.2.2:5353".parse().unwrap());
        assert_eq!(
            ups[2].0,
            &["corp.example".to_string(), "lab.example".into()]
        );
        assert_eq!(c.locals, vec![vec!["only.local".to_string()]]);
        assert!(!c.uses_resolv_file());
        assert_eq!(c.servers[2].line, Some(4));
    }

    #[test]
    fn every_bad_value_is_reported_at_once_with_its_line() {
        let errs = dns(
            "[dns]\nserver = 999.1.1.1\nserver = 192.0.2.1#0\ncache-size = lots\nstrict-order = true\nall-servers = true\nexpand-hosts = true\naddress = ads.example\nmin-cache-ttl = 7200\nbogus = 1\n",
        )
        .unwrap_err();
        let all = errs.join("\n");
        for needle in [
            "/t.conf:2: [dns] server = \"999.1.1.1\"",
            "/t.conf:3: [dns] server = \"192.0.2.1#0\": bad port",
            "/t.conf:4: [dns] cache-size",
            "exclude each other",
            "needs domain",
            "/t.conf:8: [dns] address",
            "/t.conf:9: [dns] min-cache-ttl",
            "/t.conf:10: [dns] bogus = \"1\": unknown key",
        ] {
            assert!(all.contains(needle), "{needle:?} missing from:\n{all}");
        }
    }

    #[test]
    fn stale_cache_takes_a_flag_or_seconds() {
        assert_eq!(
            dns("[dns]\nuse-stale-cache = false\n")
                .unwrap()
                .use_stale_cache,
            None
        );
        assert_eq!(
            dns("[dns]\nuse-stale-cache = true\n")
                .unwrap()
                .use_stale_cache,
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            dns("[dns]\nuse-stale-cache = 3600\n")
                .unwrap()
                .use_stale_cache,
            Some(Duration::from_secs(3600))
        );
    }

    #[test]
    fn ipv6_servers_global_per_domain_and_link_local_with_its_interface() {
        let c = dns(
            "[dns]\nserver = 2001:db8::53\nserver = fe80::1%eth0#5353\nserver = /corp.example/2001:db8::54\n",
        )
        .unwrap();
        let ups: Vec<_> = c.configured_upstreams().collect();
        assert_eq!(ups[0].1, "[2001:db8::53]:53".parse().unwrap());
        assert_eq!(ups[0].2, None);
        assert_eq!(ups[1].1, "[fe80::1]:5353".parse().unwrap());
        assert_eq!(ups[1].2, Some("eth0"));
        assert_eq!(ups[2].0, &["corp.example".to_string()]);
        assert_eq!(ups[2].1, "[2001:db8::54]:53".parse().unwrap());
        let errs = dns(
            "[dns]\nserver = fe80::1\nserver = 2001:db8::53%eth0\nserver = 192.0.2.1%eth0\nserver = fe80::1%\n",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(
            errs[0].contains("link-local: name its interface"),
            "{errs:?}"
        );
        assert!(errs[1].contains("only for link-local"), "{errs:?}");
        assert!(errs[2].contains("only for link-local"), "{errs:?}");
        assert!(errs[3].contains("not an interface name"), "{errs:?}");
    }

    #[test]
    fn resolv_conf_takes_ipv6_nameservers_link_local_with_a_known_scope() {
        let idx = |n: &str| (n == "eth0").then_some(2);
        let ups = parse_resolv_conf(
            "nameserver 2001:db8::53\nnameserver fe80::1%eth0\nnameserver fe80::2%3\nnameserver fe80::3\nnameserver fe80::4%nosuch\nnameserver 2001:db8::9%eth0\nnameserver ::1\nnameserver ::\n",
            idx,
        );
        let v6 = |ip: &str, scope| {
            SocketAddr::V6(std::net::SocketAddrV6::new(
                ip.parse().unwrap(),
                53,
                0,
                scope,
            ))
        };
        assert_eq!(
            ups,
            vec![v6("2001:db8::53", 0), v6("fe80::1", 2), v6("fe80::2", 3)]
        );
    }

    #[test]
    fn resolv_conf_skips_ourselves_and_junk() {
        let ups = parse_resolv_conf(
            "# generated\nnameserver 127.0.0.1\nnameserver 192.0.2.53 # isp\nsearch lan\nnameserver ::1\nnameserver 198.51.100.1\nnameserver 192.0.2.53\nnameserver\nnameserver bogus\n",
            |_| None,
        );
        assert_eq!(
            ups,
            vec![
                "192.0.2.53:53".parse::<SocketAddr>().unwrap(),
                "198.51.100.1:53".parse().unwrap()
            ]
        );
    }
}
