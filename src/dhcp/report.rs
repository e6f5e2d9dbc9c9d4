//! What `hamasq leases` and the DHCP part of `hamasq status` print, from
//! the DHCP task's own state (it answers on request over the control
//! socket; nothing is copied until someone asks).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::binding::colon_hex;
use super::server::Server;
use super::subnet::Span;
use crate::clock::UnixTime;

/// A request from the control socket to the DHCP task.
pub enum Query {
    /// Active leases, one line each.
    Leases(tokio::sync::oneshot::Sender<String>),
    /// Leases per range.
    Ranges(tokio::sync::oneshot::Sender<String>),
    /// `hamasq leases --delete IP`: drop the lease, answer what was done.
    Delete(Ipv4Addr, tokio::sync::oneshot::Sender<String>),
}

/// Active leases in dnsmasq's lease-file form (`EXPIRY MAC IP NAME
/// CLIENT-ID`, `*` for none, expiry 0 = infinite), sorted by address.
///
/// In a split-scope pair (a subnet with `dhcp-peer-range`), a sixth field
/// says whose range the address is in: `own` (this box hands it out),
/// `peer` (the other box's: learned over the pair link, or adopted in a
/// failover) or `-` (neither, e.g. a reservation). Readers of dnsmasq's
/// format take the first five.
pub fn leases(server: &Server, now: UnixTime) -> String {
    let mut active: Vec<_> = server.db().iter().filter(|l| l.is_active(now)).collect();
    active.sort_by_key(|l| l.ip_u32());
    let subnets = &server.plan().subnets;
    let split = subnets.iter().any(|s| !s.peer.is_empty());
    let mut out = String::with_capacity(64 * active.len() + 32);
    for l in active {
        lease_line(
            &mut out,
            l.expires().0,
            l.hw(),
            l.ip(),
            l.hostname(),
            l.client_id(),
        );
        if split {
            let ip = l.ip();
            let range = match subnets.iter().find(|s| s.contains(ip)) {
                Some(s) if s.own_range(ip).is_some() => "own",
                Some(s) if s.in_peer_range(ip) => "peer",
                _ => "-",
            };
            out.pop();
            let _ = writeln!(out, " {range}");
        }
    }
    out
}

/// Active leases read from the store files (no daemon running), in the
/// same form as [`leases`].
pub fn stored_leases(stored: &[super::binding::Lease], now: UnixTime) -> String {
    let mut out = String::new();
    for l in stored.iter().filter(|l| l.is_active(now)) {
        lease_line(
            &mut out,
            l.expires.0,
            l.hw,
            l.ip,
            l.hostname.as_deref(),
            l.client_id.as_deref(),
        );
    }
    out
}

/// One line in dnsmasq's lease-file form.
fn lease_line(
    out: &mut String,
    expires: u64,
    hw: impl std::fmt::Display,
    ip: Ipv4Addr,
    hostname: Option<&str>,
    client_id: Option<&[u8]>,
) {
    let _ = writeln!(
        out,
        "{expires} {hw} {ip} {} {}",
        hostname.unwrap_or("*"),
        client_id.map_or_else(|| "*".to_string(), colon_hex)
    );
}

fn span_text(s: &Span) -> String {
    format!("{}-{}", Ipv4Addr::from(s.start), Ipv4Addr::from(s.end))
}

/// One pool's address counts, Kea's `total-addresses`,
/// `assigned-addresses` and `declined-addresses` (per pool rather than per
/// subnet, so the two halves of a split scope show apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolCount {
    /// `NETWORK/PREFIX`.
    pub subnet: String,
    /// `START-END`.
    pub pool: String,
    /// The HA peer's range (`dhcp-peer-range`): its leases are clients
    /// this box adopted after a failover.
    pub peer: bool,
    pub total: u64,
    pub assigned: u64,
    pub declined: u64,
}

impl PoolCount {
    /// Prometheus labels.
    pub fn labels(&self) -> String {
        format!(
            "subnet=\"{}\",pool=\"{}\",scope=\"{}\"",
            self.subnet,
            self.pool,
            if self.peer { "peer" } else { "own" }
        )
    }
}

/// Address counts of every pool, in one pass over the leases (the DHCP
/// task publishes them once a second for the metrics endpoint).
pub fn address_counts(server: &Server, now: UnixTime) -> Vec<PoolCount> {
    let mut spans: Vec<Span> = Vec::new();
    let mut out: Vec<PoolCount> = Vec::new();
    for sub in &server.plan().subnets {
        let subnet = format!("{}/{}", sub.network, sub.prefix);
        let own = sub.ranges.iter().map(|r| (r.span, false));
        for (span, peer) in own.chain(sub.peer.iter().map(|s| (*s, true))) {
            spans.push(span);
            out.push(PoolCount {
                subnet: subnet.clone(),
                pool: span_text(&span),
                peer,
                total: u64::from(span.len()),
                assigned: 0,
                declined: 0,
            });
        }
    }
    let pool_of = |ip: Ipv4Addr| spans.iter().position(|s| s.contains(ip));
    for l in server.db().iter().filter(|l| l.is_active(now)) {
        if let Some(i) = pool_of(l.ip()) {
            out[i].assigned += 1;
        }
    }
    for ip in server.quarantined() {
        if let Some(i) = pool_of(ip) {
            out[i].declined += 1;
        }
    }
    out
}

/// Per subnet: each own range's active leases of its size, and the leases
/// held in the peer's range (adopted after a failover); the same counts as
/// the metrics endpoint's, as text.
pub fn ranges(server: &Server, now: UnixTime) -> String {
    let counts = address_counts(server, now);
    let mut out = String::new();
    let mut i = 0;
    while i < counts.len() {
        let subnet = &counts[i].subnet;
        let n = counts[i..]
            .iter()
            .take_while(|p| &p.subnet == subnet)
            .count();
        let rows = &counts[i..i + n];
        i += n;
        let own: Vec<String> = rows
            .iter()
            .filter(|p| !p.peer)
            .map(|p| format!("{} {}/{}", p.pool, p.assigned, p.total))
            .collect();
        let peer: Vec<String> = rows
            .iter()
            .filter(|p| p.peer)
            .map(|p| format!("{} {}", p.pool, p.assigned))
            .collect();
        let _ = writeln!(
            out,
            "dhcp {subnet}: leased {}{}",
            own.join(", "),
            if peer.is_empty() {
                String::new()
            } else {
                format!("; in the peer's range {}", peer.join(", "))
            }
        );
    }
    out
}
