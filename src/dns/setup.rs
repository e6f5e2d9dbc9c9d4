//! From `[dns]` to the cores: the resolver's options, the forwarder's
//! settings and upstream list (`server=` lines plus `resolv-file`), and the
//! local data (the keys plus hosts files). Reading files here is start-up
//! and reload work; the driver calls it and keeps only the sockets.

use std::net::{SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use super::config::{DnsConfig, SYSTEM_HOSTS, parse_resolv_conf};
use super::forward::{ForwardConfig, Policy, UpstreamSpec};
use super::hosts::HostsFile;
use super::local::{LocalData, LocalSources};
use super::resolver::Options;
use crate::event;

/// Reads the `[dns]` local-data sources: the keys plus hosts files.
/// Unreadable hosts files are logged and skipped (dnsmasq does the same).
pub fn local_sources(cfg: &DnsConfig) -> LocalSources {
    let mut hosts = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    if !cfg.no_hosts {
        files.push(PathBuf::from(SYSTEM_HOSTS));
    }
    files.extend(cfg.addn_hosts.iter().cloned());
    for f in &files {
        match HostsFile::load(f) {
            Ok(list) => {
                for h in list {
                    h.log();
                    hosts.push(h);
                }
            }
            Err(e) => event!(
                Warn,
                "dns.hosts_unreadable",
                "file={} error={}",
                f.display(),
                crate::log::q(e)
            ),
        }
    }
    LocalSources {
        hosts,
        addresses: cfg.addresses.clone(),
        locals: cfg.locals.clone(),
        host_records: cfg.host_records.clone(),
        cnames: cfg.cnames.clone(),
        srv_hosts: cfg.srv_hosts.clone(),
        txt_records: cfg.txt_records.clone(),
        ptr_records: cfg.ptr_records.clone(),
        domain: cfg.domain.clone(),
        expand_hosts: cfg.expand_hosts,
        bogus_priv: cfg.bogus_priv,
        local_ttl: cfg.local_ttl,
        dhcp_ttl: cfg.dhcp_ttl,
        forward_domains: cfg
            .servers
            .iter()
            .filter(|s| s.addr.is_some())
            .flat_map(|s| s.domains.iter().cloned())
            .collect(),
    }
}

pub(super) fn build_local(cfg: &DnsConfig) -> Arc<LocalData> {
    let local = LocalData::build(&local_sources(cfg));
    for w in local.warnings() {
        event!(Warn, "dns.local_data", "warning={}", crate::log::q(w));
    }
    Arc::new(local)
}

pub(super) fn options(cfg: &DnsConfig) -> Options {
    Options {
        chaos_stats: cfg.chaos_stats,
        domain_needed: cfg.domain_needed,
        stop_dns_rebind: cfg.stop_dns_rebind,
        rebind_localhost_ok: cfg.rebind_localhost_ok,
        rebind_domain_ok: cfg.rebind_domain_ok.clone(),
    }
}

/// The index of interface `name`, `None` when there is none.
pub(super) fn if_index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok().filter(|i| *i != 0)
}

/// `server=` upstreams plus, unless `no-resolv` (or explicit defaults),
/// those of `resolv-file`. A link-local upstream gets the index of its
/// interface as its scope (RFC 4007 §11); one whose interface does not
/// exist is left out, and logged (a reload brings it in once it exists).
pub(super) fn upstreams(cfg: &DnsConfig, resolv: &[SocketAddr]) -> Vec<UpstreamSpec> {
    upstreams_with(cfg, resolv, if_index)
}

fn upstreams_with(
    cfg: &DnsConfig,
    resolv: &[SocketAddr],
    if_index: impl Fn(&str) -> Option<u32>,
) -> Vec<UpstreamSpec> {
    let mut v: Vec<UpstreamSpec> = cfg
        .configured_upstreams()
        .filter_map(|(doms, addr, scope)| {
            let addr = match (addr, scope) {
                (SocketAddr::V6(a), Some(ifname)) => match if_index(ifname) {
                    Some(i) => SocketAddr::V6(SocketAddrV6::new(*a.ip(), a.port(), 0, i)),
                    None => {
                        event!(
                            Warn,
                            "dns.upstream_no_interface",
                            "server={}%{ifname} note=\"no such interface: this upstream is unused until a reload finds it\"",
                            a.ip()
                        );
                        return None;
                    }
                },
                (a, _) => a,
            };
            Some(UpstreamSpec::for_domains(addr, doms.iter().cloned()))
        })
        .collect();
    if cfg.uses_resolv_file() {
        v.extend(resolv.iter().map(|a| UpstreamSpec::new(*a)));
    }
    v
}

pub(super) fn forward_config(cfg: &DnsConfig, ups: Vec<UpstreamSpec>) -> ForwardConfig {
    ForwardConfig {
        upstreams: ups,
        policy: if cfg.strict_order {
            Policy::StrictOrder
        } else if cfg.all_servers {
            Policy::AllServers
        } else {
            Policy::Fastest
        },
        max_inflight: cfg.forward_max as usize,
        ..ForwardConfig::default()
    }
}

/// `resolv-file` and what was last read from it.
pub(super) struct ResolvWatch {
    pub(super) path: PathBuf,
    pub(super) stamp: Option<(SystemTime, u64)>,
    pub(super) servers: Vec<SocketAddr>,
}

impl ResolvWatch {
    pub(super) fn new(path: PathBuf) -> ResolvWatch {
        ResolvWatch {
            path,
            stamp: None,
            servers: Vec::new(),
        }
    }

    /// Re-reads the file if its mtime or size changed; `true` when the
    /// server list changed.
    pub(super) fn poll(&mut self) -> bool {
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if stamp == self.stamp {
            return false;
        }
        self.stamp = stamp;
        let servers = match std::fs::read_to_string(&self.path) {
            Ok(t) => parse_resolv_conf(&t, if_index),
            Err(e) => {
                event!(
                    Warn,
                    "dns.resolv_unreadable",
                    "file={} error={}",
                    self.path.display(),
                    crate::log::q(e)
                );
                Vec::new()
            }
        };
        if servers == self.servers {
            return false;
        }
        event!(
            Info,
            "dns.resolv_read",
            "file={} servers={}",
            self.path.display(),
            crate::log::list(servers.iter().map(|s| s.to_string()))
        );
        self.servers = servers;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_feeds_default_upstreams_unless_server_lines_do() {
        let r: Vec<SocketAddr> = vec!["192.0.2.53:53".parse().unwrap()];
        let mut cfg = DnsConfig::default();
        assert_eq!(upstreams(&cfg, &r), vec![UpstreamSpec::new(r[0])]);
        cfg.servers = vec![super::super::config::parse_server("198.51.100.1").unwrap()];
        let ups = upstreams(&cfg, &r);
        assert_eq!(ups.len(), 1);
        assert_eq!(ups[0].addr, "198.51.100.1:53".parse().unwrap());
    }

    #[test]
    fn a_link_local_upstream_gets_its_interface_index_as_scope() {
        let cfg = DnsConfig {
            servers: ["fe80::1%lan", "/corp.example/fe80::2%wan", "2001:db8::53"]
                .iter()
                .map(|s| super::super::config::parse_server(s).unwrap())
                .collect(),
            ..DnsConfig::default()
        };
        let idx = |n: &str| (n == "lan").then_some(4);
        let ups = upstreams_with(&cfg, &[], idx);
        let want: SocketAddr = SocketAddrV6::new("fe80::1".parse().unwrap(), 53, 0, 4).into();
        // fe80::2%wan: no such interface here, so not used.
        assert_eq!(ups.len(), 2, "{ups:?}");
        assert_eq!(ups[0].addr, want);
        assert_eq!(ups[1].addr, "[2001:db8::53]:53".parse().unwrap());
    }
}
