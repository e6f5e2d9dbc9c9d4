//! Answers that never go upstream.
//!
//! Every source (hosts files, `address=`, `local=`, `host-record`, `cname`,
//! `srv-host`, `txt-record`, `ptr-record`, `domain=` with `expand-hosts`,
//! the RFC 6761/6303/8375 names) is merged into one immutable
//! [`LocalData`], rebuilt on reload and shared as `Arc<LocalData>`. The
//! DHCP [`HostTable`] changes with every lease, so it is passed to each
//! [`LocalData::answer`] call instead of being merged.
//!
//! Precedence, most specific first (dnsmasq's, made explicit):
//! 1. `invalid` (RFC 6761 §6.4): NXDOMAIN; `localhost` (§6.3): loopback.
//! 2. Names with local data: static records, then DHCP names
//!    (`name` and `name.domain`, A, and PTR for their addresses). A name
//!    that exists locally never goes upstream: another type is NODATA
//!    (RFC 2308 §2.2); a CNAME is followed through local data.
//! 3. Domain rules, the longest matching domain first:
//!    `address=/d/IP` answers A/AAAA of its family; `address=/d/` and
//!    `local=/d/` (and `home.arpa`, RFC 8375, and with `bogus-priv` the
//!    RFC 6303 reverse zones) answer NXDOMAIN, or NODATA for the zone apex
//!    of `local=` and for empty non-terminals (RFC 8020 §2), with the
//!    zone's SOA in the authority section (RFC 2308 §3). A `server=/d/`
//!    domain (given in [`LocalSources::forward_domains`]) that is more
//!    specific than any of these is forwarded; one naming a built-in zone
//!    (`home.arpa`, a private reverse zone) overrides it.
//! 4. Anything else: `None`, forward.
//!
//! `ANY` gets one RRset (RFC 8482 §4.1), or a synthesized HINFO (§4.2).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, HINFO, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::grammar::{
    AddressRule, AddressTarget, CnameRecord, HostRecord, PtrRecord, SrvRecord, TxtRecord,
};
use super::hosts::HostsFile;
use super::message::{EDNS_UDP_PAYLOAD, Transport, response_limit};
use super::special_use::{
    HOME_ARPA, INVALID, LOCALHOST, in_domain, parse_reverse_v4, parse_reverse_v6,
    private_reverse_zones, reverse_name, rfc6303_soa, suffixes,
};
use crate::dhcp::HostTable;

/// Longest CNAME chain followed through local data.
const MAX_CNAME_CHAIN: u8 = 8;

/// Everything [`LocalData::build`] merges, as the config stage reads it.
#[derive(Clone, Debug, Default)]
pub struct LocalSources {
    /// `/etc/hosts` (unless `no-hosts`) and `addn-hosts`, in order.
    pub hosts: Vec<HostsFile>,
    pub addresses: Vec<AddressRule>,
    /// `local=/d/`, each the list of its domains.
    pub locals: Vec<Vec<String>>,
    pub host_records: Vec<HostRecord>,
    pub cnames: Vec<CnameRecord>,
    pub srv_hosts: Vec<SrvRecord>,
    pub txt_records: Vec<TxtRecord>,
    pub ptr_records: Vec<PtrRecord>,
    /// `domain=`: qualifies DHCP names, `expand-hosts` names and bare
    /// `srv-host` names.
    pub domain: Option<String>,
    /// `expand-hosts`.
    pub expand_hosts: bool,
    /// `bogus-priv`: the RFC 6303 reverse zones are answered locally.
    pub bogus_priv: bool,
    /// `local-ttl` (dnsmasq default 0: clients should not cache).
    pub local_ttl: u32,
    /// `dhcp-ttl`; `None` = `local-ttl`.
    pub dhcp_ttl: Option<u32>,
    /// Domains of `server=/d/IP` lines: forwarded even inside a less
    /// specific local domain (dnsmasq's longest-match rule).
    pub forward_domains: Vec<String>,
}

/// What a local name answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAnswer {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    /// The local zone's SOA for negative answers (RFC 2308 §3).
    pub authority: Vec<Record>,
    /// AA: we are the source of this data.
    pub authoritative: bool,
    /// A blocking rule answered, not data: `address=/d/` (NXDOMAIN),
    /// `address=/d/#` or an unspecified address (0.0.0.0, ::), and the
    /// RFC 6303 reverse zones that `bogus-priv` keeps from going upstream.
    /// Only the query log reads it.
    pub blocked: bool,
}

impl LocalAnswer {
    fn refused() -> LocalAnswer {
        LocalAnswer {
            rcode: ResponseCode::Refused,
            answers: Vec::new(),
            authority: Vec::new(),
            authoritative: false,
            blocked: false,
        }
    }
}

#[derive(Clone, Debug)]
struct Srv {
    priority: u16,
    weight: u16,
    port: u16,
    target: Name,
    ttl: u32,
}

/// The static records of one name.
#[derive(Clone, Debug, Default)]
struct NameData {
    a: Vec<(Ipv4Addr, u32)>,
    aaaa: Vec<(Ipv6Addr, u32)>,
    /// (target key, target name, ttl)
    cname: Option<(String, Name, u32)>,
    srv: Vec<Srv>,
    txt: Vec<(Vec<Vec<u8>>, u32)>,
    ptr: Vec<(Name, u32)>,
}

impl NameData {
    fn is_empty(&self) -> bool {
        self.a.is_empty()
            && self.aaaa.is_empty()
            && self.cname.is_none()
            && self.srv.is_empty()
            && self.txt.is_empty()
            && self.ptr.is_empty()
    }

    /// Pushes the records of `qtype` (for ANY: the first RRset there is,
    /// RFC 8482 §4.1, or a synthesized HINFO, §4.2).
    fn push(&self, owner: &Name, qtype: RecordType, hinfo_ttl: u32, out: &mut Vec<Record>) {
        let rec = |ttl: u32, rdata: RData| Record::from_rdata(owner.clone(), ttl, rdata);
        let a = || self.a.iter().map(|&(ip, t)| rec(t, RData::A(A(ip))));
        let aaaa = || {
            self.aaaa
                .iter()
                .map(|&(ip, t)| rec(t, RData::AAAA(AAAA(ip))))
        };
        let srv = || {
            self.srv.iter().map(|s| {
                rec(
                    s.ttl,
                    RData::SRV(SRV::new(s.priority, s.weight, s.port, s.target.clone())),
                )
            })
        };
        let txt = || {
            self.txt.iter().map(|(strings, t)| {
                let parts: Vec<&[u8]> = strings.iter().map(Vec::as_slice).collect();
                rec(*t, RData::TXT(TXT::from_bytes(parts)))
            })
        };
        let ptr = || {
            self.ptr
                .iter()
                .map(|(n, t)| rec(*t, RData::PTR(PTR(n.clone()))))
        };
        match qtype {
            RecordType::A => out.extend(a()),
            RecordType::AAAA => out.extend(aaaa()),
            RecordType::SRV => out.extend(srv()),
            RecordType::TXT => out.extend(txt()),
            RecordType::PTR => out.extend(ptr()),
            RecordType::ANY => {
                let before = out.len();
                if !self.a.is_empty() {
                    out.extend(a());
                } else if !self.aaaa.is_empty() {
                    out.extend(aaaa());
                } else if !self.srv.is_empty() {
                    out.extend(srv());
                } else if !self.txt.is_empty() {
                    out.extend(txt());
                } else if !self.ptr.is_empty() {
                    out.extend(ptr());
                }
                if out.len() == before {
                    out.push(hinfo_rfc8482(owner, hinfo_ttl));
                }
            }
            _ => {}
        }
    }
}

/// RFC 8482 §4.2: `HINFO "RFC8482" ""`.
pub fn hinfo_rfc8482(owner: &Name, ttl: u32) -> Record {
    Record::from_rdata(
        owner.clone(),
        ttl,
        RData::HINFO(HINFO::new("RFC8482".into(), String::new())),
    )
}

/// Rules attached to a domain and everything below it.
#[derive(Clone, Debug, Default)]
struct Zone {
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
    /// `address=/d/`: NXDOMAIN for the domain and below.
    nxdomain: bool,
    /// `local=/d/`.
    local: bool,
    /// `home.arpa`, an RFC 6303 zone.
    builtin: bool,
    /// A private reverse zone answered only because of `bogus-priv`.
    bogus_priv: bool,
    /// `server=/d/IP`.
    forward: bool,
}

impl Zone {
    /// Answers NXDOMAIN/NODATA for names without data.
    fn negative(&self) -> bool {
        self.nxdomain || self.local || (self.builtin && !self.forward)
    }

    fn has_addresses(&self) -> bool {
        !self.v4.is_empty() || !self.v6.is_empty()
    }

    /// Whether its negative answer is a blocking rule's (for the query
    /// log): `address=/d/`, or a `bogus-priv` zone nobody made local.
    fn blocks(&self) -> bool {
        self.nxdomain || (self.bogus_priv && !self.local)
    }
}

/// The merged local data; immutable once built.
#[derive(Clone, Debug, Default)]
pub struct LocalData {
    names: HashMap<String, NameData>,
    /// Proper ancestors of local names: they exist, with no data (RFC 8020).
    nonterminals: HashSet<String>,
    zones: HashMap<String, Zone>,
    domain: Option<String>,
    local_ttl: u32,
    dhcp_ttl: u32,
    warnings: Vec<String>,
}

/// A name in presentation form as a [`Name`] (fully qualified).
fn fqdn(key: &str) -> Option<Name> {
    if key.is_empty() {
        return Some(Name::root());
    }
    let mut n = Name::from_ascii(key).ok()?;
    n.set_fqdn(true);
    Some(n)
}

/// The lookup key of a query name: lower-case labels joined by dots, any
/// byte outside `[a-z0-9_-]` escaped as `\DDD` so it cannot match a
/// configured name (which never contains `\`) nor fake a label boundary.
fn name_key(name: &Name) -> String {
    let mut s = String::with_capacity(name.len());
    for (i, label) in name.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        for &b in label {
            let b = b.to_ascii_lowercase();
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                s.push(b as char);
            } else {
                s.push_str(&format!("\\{b:03}"));
            }
        }
    }
    s
}

impl LocalData {
    /// Merges every source. Conflicts are resolved as documented on each
    /// field and reported in [`LocalData::warnings`].
    pub fn build(src: &LocalSources) -> LocalData {
        let mut d = LocalData {
            domain: src.domain.clone(),
            local_ttl: src.local_ttl,
            dhcp_ttl: src.dhcp_ttl.unwrap_or(src.local_ttl),
            ..LocalData::default()
        };
        d.zone_mut(HOME_ARPA).builtin = true;
        if src.bogus_priv {
            for z in private_reverse_zones() {
                let z = d.zone_mut(&z);
                z.builtin = true;
                z.bogus_priv = true;
            }
        }
        for rule in &src.addresses {
            for dom in &rule.domains {
                let z = d.zone_mut(dom);
                match rule.target {
                    AddressTarget::Nxdomain => z.nxdomain = true,
                    AddressTarget::Null => {
                        push_unique(&mut z.v4, Ipv4Addr::UNSPECIFIED);
                        push_unique(&mut z.v6, Ipv6Addr::UNSPECIFIED);
                    }
                    AddressTarget::Ip(IpAddr::V4(a)) => push_unique(&mut z.v4, a),
                    AddressTarget::Ip(IpAddr::V6(a)) => push_unique(&mut z.v6, a),
                }
            }
        }
        for doms in &src.locals {
            for dom in doms {
                d.zone_mut(dom).local = true;
            }
        }
        for dom in &src.forward_domains {
            d.zone_mut(dom).forward = true;
        }

        let ttl = src.local_ttl;
        // host-record before hosts files: its first address takes the PTR
        // (dnsmasq's rule).
        for r in &src.host_records {
            let t = r.ttl.unwrap_or(ttl);
            for n in &r.names {
                for &a in &r.v4 {
                    d.add_addr(n, IpAddr::V4(a), t);
                }
                for &a in &r.v6 {
                    d.add_addr(n, IpAddr::V6(a), t);
                }
            }
            if let Some(first) = r.names.first() {
                for a in
                    r.v4.iter()
                        .map(|&a| IpAddr::V4(a))
                        .chain(r.v6.iter().map(|&a| IpAddr::V6(a)))
                {
                    d.add_ptr_once(a, first, t);
                }
            }
        }
        for f in &src.hosts {
            for e in &f.entries {
                let mut canonical: Option<String> = None;
                for n in &e.names {
                    d.add_addr(n, e.addr, ttl);
                    let mut shown = n.clone();
                    if src.expand_hosts
                        && !n.contains('.')
                        && let Some(dom) = &src.domain
                    {
                        shown = format!("{n}.{dom}");
                        d.add_addr(&shown, e.addr, ttl);
                    }
                    canonical.get_or_insert(shown);
                }
                if let Some(c) = canonical {
                    d.add_ptr_once(e.addr, &c, ttl);
                }
            }
        }
        for s in &src.srv_hosts {
            let mut name = s.name.clone();
            if name.split('.').count() == 2
                && let Some(dom) = &src.domain
            {
                name = format!("{name}.{dom}");
            }
            let target = match &s.target {
                Some(t) => fqdn(t),
                None => Some(Name::root()),
            };
            match target {
                Some(target) => d.names.entry(name).or_default().srv.push(Srv {
                    priority: s.priority,
                    weight: s.weight,
                    port: s.port,
                    target,
                    ttl,
                }),
                None => d.warn(format!("srv-host {name}: bad target")),
            }
        }
        for t in &src.txt_records {
            d.names
                .entry(t.name.clone())
                .or_default()
                .txt
                .push((t.strings.clone(), ttl));
        }
        for p in &src.ptr_records {
            let entry = d.names.entry(p.name.clone()).or_default();
            if let Some(target) = p.target.as_deref().and_then(fqdn) {
                entry.ptr.push((target, ttl));
            }
        }
        // CNAMEs last: an alias may not have other data (RFC 1034 §3.6.2).
        for c in &src.cnames {
            let t = c.ttl.unwrap_or(ttl);
            let Some(target) = fqdn(&c.target) else {
                d.warn(format!("cname target {}: bad name", c.target));
                continue;
            };
            for alias in &c.aliases {
                let entry = d.names.entry(alias.clone()).or_default();
                if let Some((first, _, _)) = &entry.cname {
                    let first = first.clone();
                    d.warn(format!(
                        "cname {alias}: already an alias of {first}; keeping that one"
                    ));
                } else if !entry.is_empty() {
                    d.warn(format!(
                        "cname {alias}: the name has other records, which an alias cannot have \
                         (RFC 1034 §3.6.2); the cname is ignored"
                    ));
                } else {
                    entry.cname = Some((c.target.clone(), target.clone(), t));
                }
            }
        }
        let mut ents = HashSet::new();
        let domain_names = d.domain.iter().map(String::as_str);
        for n in d.names.keys().map(String::as_str).chain(domain_names) {
            for s in suffixes(n).skip(1).filter(|s| !s.is_empty()) {
                ents.insert(s.to_string());
            }
        }
        if let Some(dom) = &d.domain {
            // DHCP names live under the domain, so it exists.
            ents.insert(dom.clone());
        }
        d.nonterminals = ents;
        d
    }

    /// Problems found while merging, for the log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Number of names with static records.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    fn zone_mut(&mut self, dom: &str) -> &mut Zone {
        self.zones.entry(dom.to_string()).or_default()
    }

    fn add_addr(&mut self, name: &str, addr: IpAddr, ttl: u32) {
        let e = self.names.entry(name.to_string()).or_default();
        match addr {
            IpAddr::V4(a) if !e.a.iter().any(|x| x.0 == a) => e.a.push((a, ttl)),
            IpAddr::V6(a) if !e.aaaa.iter().any(|x| x.0 == a) => e.aaaa.push((a, ttl)),
            _ => {}
        }
    }

    /// A PTR for `addr` unless it already has one (first name wins).
    fn add_ptr_once(&mut self, addr: IpAddr, target: &str, ttl: u32) {
        let Some(t) = fqdn(target) else {
            return;
        };
        let e = self.names.entry(reverse_name(addr)).or_default();
        if e.ptr.is_empty() {
            e.ptr.push((t, ttl));
        }
    }

    /// `domain=`: the domain DHCP names are qualified with.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The local answer for a question, or `None` to forward it.
    pub fn answer(
        &self,
        dhcp: &HostTable,
        qname: &Name,
        qtype: RecordType,
        qclass: DNSClass,
    ) -> Option<LocalAnswer> {
        if !matches!(qclass, DNSClass::IN | DNSClass::ANY) {
            return None;
        }
        let key = name_key(qname);
        if in_domain(&key, INVALID) {
            return Some(self.negative(ResponseCode::NXDomain, Some((INVALID, true))));
        }
        if in_domain(&key, LOCALHOST) {
            return Some(self.localhost(qname, qtype));
        }
        if is_meta(qtype) {
            return self.is_local(dhcp, &key).then(LocalAnswer::refused);
        }
        let mut answers = Vec::new();
        if self.resolve(dhcp, &key, qname, qtype, &mut answers, 0) {
            let authority = if answers.is_empty() {
                self.enclosing_soa(&key)
            } else {
                Vec::new()
            };
            return Some(LocalAnswer {
                rcode: ResponseCode::NoError,
                answers,
                authority,
                authoritative: true,
                blocked: false,
            });
        }
        for dom in suffixes(&key) {
            let Some(z) = self.zones.get(dom) else {
                continue;
            };
            let addrs = self.zone_addresses(z, qname, qtype);
            if !addrs.is_empty() {
                // `address=/ads.example/0.0.0.0` (or `#`) is how blocking
                // lists are written.
                let blocked = z.v4.iter().all(Ipv4Addr::is_unspecified)
                    && z.v6.iter().all(Ipv6Addr::is_unspecified);
                return Some(LocalAnswer {
                    rcode: ResponseCode::NoError,
                    answers: addrs,
                    authority: Vec::new(),
                    authoritative: true,
                    blocked,
                });
            }
            if z.negative() {
                let exists = (dom == key && !z.nxdomain)
                    || self.nonterminals.contains(&key)
                    || z.has_addresses();
                let rcode = if exists {
                    ResponseCode::NoError
                } else {
                    ResponseCode::NXDomain
                };
                let mut a = self.negative(rcode, Some((dom, z.builtin && !z.local && !z.nxdomain)));
                a.blocked = z.blocks();
                return Some(a);
            }
            if z.forward {
                return None;
            }
            // An address rule of the other family: a less specific rule may
            // still answer (dnsmasq since 2.86 forwards other types).
        }
        None
    }

    /// A/AAAA records of an `address=` rule for `qtype`.
    fn zone_addresses(&self, z: &Zone, qname: &Name, qtype: RecordType) -> Vec<Record> {
        let ttl = self.local_ttl;
        let v4 = || {
            z.v4.iter()
                .map(|&a| Record::from_rdata(qname.clone(), ttl, RData::A(A(a))))
        };
        let v6 = || {
            z.v6.iter()
                .map(|&a| Record::from_rdata(qname.clone(), ttl, RData::AAAA(AAAA(a))))
        };
        match qtype {
            RecordType::A => v4().collect(),
            RecordType::AAAA => v6().collect(),
            RecordType::ANY if !z.v4.is_empty() => v4().collect(),
            RecordType::ANY => v6().collect(),
            _ => Vec::new(),
        }
    }

    /// Looks `key` up in static and DHCP data, following CNAMEs; pushes
    /// what answers `qtype`. Returns whether the name exists locally.
    fn resolve(
        &self,
        dhcp: &HostTable,
        key: &str,
        owner: &Name,
        qtype: RecordType,
        out: &mut Vec<Record>,
        depth: u8,
    ) -> bool {
        if let Some(nd) = self.names.get(key) {
            if let Some((target_key, target, ttl)) = &nd.cname {
                out.push(Record::from_rdata(
                    owner.clone(),
                    *ttl,
                    RData::CNAME(CNAME(target.clone())),
                ));
                if !matches!(qtype, RecordType::CNAME | RecordType::ANY) && depth < MAX_CNAME_CHAIN
                {
                    self.resolve(dhcp, target_key, target, qtype, out, depth + 1);
                }
                return true;
            }
            nd.push(owner, qtype, self.local_ttl, out);
            return true;
        }
        if let Some(label) = self.dhcp_label(key) {
            let (v4, v6) = (dhcp.addrs(label), dhcp.addrs6(label));
            if !v4.is_empty() || !v6.is_empty() {
                // ANY: one RRset (RFC 8482 §4.1), the A one when there is.
                let ttl = self.dhcp_ttl;
                match qtype {
                    RecordType::A | RecordType::ANY if !v4.is_empty() => out.extend(
                        v4.iter()
                            .map(|&a| Record::from_rdata(owner.clone(), ttl, RData::A(A(a)))),
                    ),
                    RecordType::AAAA | RecordType::ANY => out
                        .extend(v6.iter().map(|&a| {
                            Record::from_rdata(owner.clone(), ttl, RData::AAAA(AAAA(a)))
                        })),
                    _ => {}
                }
                return true;
            }
        }
        let host = match (parse_reverse_v4(key), parse_reverse_v6(key)) {
            (Some(a), _) => dhcp.name(a),
            (None, Some(a)) => dhcp.name6(a),
            (None, None) => None,
        };
        if let Some(host) = host {
            let target = match &self.domain {
                Some(dom) => fqdn(&format!("{host}.{dom}")),
                None => fqdn(host),
            };
            if let Some(target) = target
                && matches!(qtype, RecordType::PTR | RecordType::ANY)
            {
                out.push(Record::from_rdata(
                    owner.clone(),
                    self.dhcp_ttl,
                    RData::PTR(PTR(target)),
                ));
            }
            return true;
        }
        false
    }

    /// The DHCP host-table name for `key`: a bare name, or one directly
    /// under `domain=`.
    fn dhcp_label<'k>(&self, key: &'k str) -> Option<&'k str> {
        if !key.is_empty() && !key.contains('.') {
            return Some(key);
        }
        let dom = self.domain.as_deref()?;
        let bare = key.strip_suffix(dom)?.strip_suffix('.')?;
        (!bare.is_empty() && !bare.contains('.')).then_some(bare)
    }

    /// Whether any local source owns `key` (for refusing meta queries).
    fn is_local(&self, dhcp: &HostTable, key: &str) -> bool {
        self.names.contains_key(key)
            || self.dhcp_label(key).is_some_and(|l| dhcp.has(l))
            || parse_reverse_v4(key).is_some_and(|a| dhcp.name(a).is_some())
            || parse_reverse_v6(key).is_some_and(|a| dhcp.name6(a).is_some())
            || suffixes(key)
                .find_map(|d| self.zones.get(d))
                .is_some_and(|z| z.negative() || z.has_addresses())
    }

    /// RFC 6761 §6.3: loopback for `localhost` and every name below it.
    fn localhost(&self, qname: &Name, qtype: RecordType) -> LocalAnswer {
        let ttl = self.local_ttl;
        let answers = match qtype {
            RecordType::A | RecordType::ANY => vec![Record::from_rdata(
                qname.clone(),
                ttl,
                RData::A(A(Ipv4Addr::LOCALHOST)),
            )],
            RecordType::AAAA => vec![Record::from_rdata(
                qname.clone(),
                ttl,
                RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
            )],
            _ => Vec::new(),
        };
        let authority = if answers.is_empty() {
            self.soa(LOCALHOST, true).into_iter().collect()
        } else {
            Vec::new()
        };
        LocalAnswer {
            rcode: ResponseCode::NoError,
            answers,
            authority,
            authoritative: true,
            blocked: false,
        }
    }

    fn negative(&self, rcode: ResponseCode, zone: Option<(&str, bool)>) -> LocalAnswer {
        LocalAnswer {
            rcode,
            answers: Vec::new(),
            authority: zone
                .and_then(|(z, builtin)| self.soa(z, builtin))
                .into_iter()
                .collect(),
            authoritative: true,
            blocked: false,
        }
    }

    /// The SOA of the local zone enclosing `key`, for a NODATA answer.
    fn enclosing_soa(&self, key: &str) -> Vec<Record> {
        suffixes(key)
            .find_map(|d| {
                let z = self.zones.get(d)?;
                z.negative()
                    .then(|| self.soa(d, z.builtin && !z.local && !z.nxdomain))
                    .flatten()
            })
            .into_iter()
            .collect()
    }

    /// A zone's SOA with RFC 6303 §3's values; user zones use `local-ttl`
    /// for TTL and MINIMUM, so clients cache negative answers no longer
    /// than positive ones.
    fn soa(&self, zone: &str, builtin: bool) -> Option<Record> {
        use rfc6303_soa as r;
        let apex = fqdn(zone)?;
        let rname = Name::from_ascii(r::RNAME).ok()?;
        let (ttl, minimum) = if builtin {
            (r::TTL, r::MINIMUM)
        } else {
            (self.local_ttl, self.local_ttl)
        };
        let soa = SOA::new(
            apex.clone(),
            rname,
            r::SERIAL,
            r::REFRESH,
            r::RETRY,
            r::EXPIRE,
            minimum,
        );
        Some(Record::from_rdata(apex, ttl, RData::SOA(soa)))
    }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// Meta and obsolete query types a local name does not answer.
fn is_meta(t: RecordType) -> bool {
    matches!(
        t,
        RecordType::AXFR | RecordType::IXFR | RecordType::OPT | RecordType::TSIG
    ) || matches!(u16::from(t), 249 | 253 | 254) // TKEY, MAILB, MAILA
}

/// Builds the response to `query` carrying `answer` (hickory-proto does the
/// encoding): the client's ID, question (as written) and RD; RA set (we
/// recurse for clients); AA as the answer says; CD copied; our OPT with
/// [`EDNS_UDP_PAYLOAD`] and the client's DO bit if the query had an OPT
/// (RFC 6891 §6.1.1, RFC 3225 §3), BADVERS for an EDNS version other than 0
/// (RFC 6891 §6.1.3); TC=1 with the records dropped if the answer does not
/// fit what the client can receive (RFC 1035 §4.2.1, RFC 6891 §7).
///
/// `None` for a query that does not decode or does not hold exactly one
/// question: the caller answers FORMERR or drops it.
pub fn respond(query: &[u8], answer: &LocalAnswer, transport: Transport) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    if q.metadata.message_type != MessageType::Query || q.queries.len() != 1 {
        return None;
    }
    let mut m = Message::response(q.metadata.id, q.metadata.op_code);
    m.metadata.recursion_desired = q.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    m.metadata.checking_disabled = q.metadata.checking_disabled;
    m.add_query(q.queries[0].clone());
    let bad_version = q.edns.as_ref().is_some_and(|e| e.version() != 0);
    if let Some(client) = &q.edns {
        let mut ours = Edns::new();
        ours.set_max_payload(EDNS_UDP_PAYLOAD);
        ours.set_version(0);
        ours.set_dnssec_ok(client.flags().dnssec_ok);
        m.set_edns(ours);
    }
    if bad_version {
        m.metadata.response_code = ResponseCode::BADVERS;
        return m.to_vec().ok();
    }
    m.metadata.authoritative = answer.authoritative;
    m.metadata.response_code = answer.rcode;
    m.add_answers(answer.answers.iter().cloned());
    m.add_authorities(answer.authority.iter().cloned());
    let limit = response_limit(transport, q.edns.as_ref().map(|e| e.max_payload()));
    let bytes = m.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    m.answers.clear();
    m.authorities.clear();
    m.additionals.clear();
    m.metadata.truncation = true;
    m.to_vec().ok()
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
