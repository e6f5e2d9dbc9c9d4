//! What the DNS task publishes: its counters, the cores' counters copied
//! out after each batch of work ([`Snapshot`], sent over a `watch` channel
//! the registry's gauges read, see [`crate::status`]), and their Prometheus
//! names (`hamasq_dns_*`), registered once at start. Kept out of the driver
//! so that the driver is I/O.

use tokio::sync::watch;

use super::cache::CacheStats;
use super::forward::ForwardStats;
use super::resolver::ResolverStats;
use crate::stats;

/// Driver counters (the resolver, cache and forwarder keep theirs).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct DriverStats {
    pub(super) udp_received: u64,
    pub(super) udp_sent: u64,
    pub(super) udp_send_errors: u64,
    pub(super) udp_oversized: u64,
    pub(super) refused_acl: u64,
    pub(super) tcp_accepted: u64,
    pub(super) tcp_refused_limit: u64,
    pub(super) upstream_socket_errors: u64,
    pub(super) resolv_reloads: u64,
}

/// Everything the metrics endpoint and SIGUSR1 show, copied out of the task
/// after each batch of work.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Snapshot {
    pub(super) cache: CacheStats,
    pub(super) resolver: ResolverStats,
    pub(super) forward: ForwardStats,
    pub(super) driver: DriverStats,
    pub(super) tcp_open: u64,
}

pub(super) fn register_metrics(snap: &watch::Receiver<Snapshot>) {
    type Get = fn(&Snapshot) -> u64;
    const METRICS: &[(&str, &str, Get)] = &[
        (
            "hamasq_dns_cache_size",
            "cache-size: most cached answers.",
            |s| s.cache.cachesize,
        ),
        (
            "hamasq_dns_cache_entries",
            "Answers in the cache now.",
            |s| s.cache.entries,
        ),
        (
            "hamasq_dns_cache_insertions_total",
            "Answers cached (dnsmasq insertions.bind).",
            |s| s.cache.insertions,
        ),
        (
            "hamasq_dns_cache_evictions_total",
            "Live answers evicted for room (dnsmasq evictions.bind).",
            |s| s.cache.evictions,
        ),
        (
            "hamasq_dns_cache_hits_total",
            "Queries answered from the cache (dnsmasq hits.bind).",
            |s| s.cache.hits,
        ),
        (
            "hamasq_dns_cache_misses_total",
            "Cacheable queries not in the cache (dnsmasq misses.bind).",
            |s| s.cache.misses,
        ),
        (
            "hamasq_dns_stale_served_total",
            "Stale answers served (RFC 8767).",
            |s| s.resolver.stale_served,
        ),
        (
            "hamasq_dns_queries_total",
            "Client queries received.",
            |s| s.resolver.queries,
        ),
        (
            "hamasq_dns_local_answers_total",
            "Queries answered from local data.",
            |s| s.resolver.local_answers,
        ),
        (
            "hamasq_dns_forwarded_total",
            "Queries forwarded (or coalesced).",
            |s| s.resolver.forwarded,
        ),
        (
            "hamasq_dns_malformed_total",
            "Client datagrams dropped as malformed.",
            |s| s.resolver.malformed + s.driver.udp_oversized,
        ),
        ("hamasq_dns_formerr_total", "FORMERR replies.", |s| {
            s.resolver.formerr
        }),
        ("hamasq_dns_notimp_total", "NOTIMP replies.", |s| {
            s.resolver.notimp
        }),
        (
            "hamasq_dns_refused_total",
            "REFUSED replies (no upstream, CHAOS off).",
            |s| s.resolver.refused,
        ),
        (
            "hamasq_dns_acl_refused_total",
            "Queries ignored by interface/listen-address/local-service.",
            |s| s.driver.refused_acl,
        ),
        (
            "hamasq_dns_domain_needed_total",
            "Dotless names not forwarded (domain-needed).",
            |s| s.resolver.domain_needed,
        ),
        (
            "hamasq_dns_rebind_blocked_total",
            "Upstream answers blocked by stop-dns-rebind.",
            |s| s.resolver.rebind_blocked,
        ),
        (
            "hamasq_dns_servfail_total",
            "SERVFAIL replies after every upstream failed.",
            |s| s.resolver.servfail,
        ),
        (
            "hamasq_dns_overloaded_total",
            "Queries answered at once (stale or SERVFAIL) because every upstream for the name held dns-forward-max questions.",
            |s| s.resolver.overloaded,
        ),
        (
            "hamasq_dns_upstream_sent_total",
            "Queries sent upstream over UDP.",
            |s| s.forward.sent,
        ),
        (
            "hamasq_dns_upstream_tcp_sent_total",
            "Queries retried upstream over TCP after TC=1.",
            |s| s.forward.tcp_sent,
        ),
        (
            "hamasq_dns_upstream_retries_total",
            "Upstream sends after the first try.",
            |s| s.forward.retries,
        ),
        (
            "hamasq_dns_upstream_timeouts_total",
            "Upstream tries that timed out.",
            |s| s.forward.timeouts,
        ),
        (
            "hamasq_dns_upstream_coalesced_total",
            "Client queries joined to an identical outstanding one.",
            |s| s.forward.coalesced,
        ),
        (
            "hamasq_dns_upstream_accepted_total",
            "Upstream replies that matched their query.",
            |s| s.forward.accepted,
        ),
        (
            "hamasq_dns_upstream_inflight",
            "Distinct questions outstanding upstream.",
            |s| s.forward.inflight,
        ),
        (
            "hamasq_dns_reply_dropped_wrong_source_total",
            "Upstream replies from the wrong address or port (RFC 5452).",
            |s| s.forward.drops.wrong_source,
        ),
        (
            "hamasq_dns_reply_dropped_wrong_id_total",
            "Upstream replies with the wrong ID (RFC 5452).",
            |s| s.forward.drops.wrong_id,
        ),
        (
            "hamasq_dns_reply_dropped_wrong_question_total",
            "Upstream replies for another question (RFC 5452).",
            |s| s.forward.drops.wrong_question,
        ),
        (
            "hamasq_dns_reply_dropped_no_question_total",
            "Upstream replies without a question.",
            |s| s.forward.drops.no_question,
        ),
        (
            "hamasq_dns_reply_dropped_malformed_total",
            "Upstream replies that do not parse or are not responses.",
            |s| s.forward.drops.malformed + s.forward.drops.not_response,
        ),
        (
            "hamasq_dns_reply_dropped_late_total",
            "Upstream replies for a query already answered.",
            |s| s.forward.drops.unknown_token,
        ),
        (
            "hamasq_dns_udp_received_total",
            "Client datagrams received.",
            |s| s.driver.udp_received,
        ),
        (
            "hamasq_dns_udp_send_errors_total",
            "Replies the kernel refused to send.",
            |s| s.driver.udp_send_errors,
        ),
        (
            "hamasq_dns_tcp_accepted_total",
            "TCP connections accepted.",
            |s| s.driver.tcp_accepted,
        ),
        (
            "hamasq_dns_tcp_refused_total",
            "TCP connections closed at max-tcp-connections.",
            |s| s.driver.tcp_refused_limit,
        ),
        ("hamasq_dns_tcp_open", "TCP connections open now.", |s| {
            s.tcp_open
        }),
        (
            "hamasq_dns_upstream_socket_errors_total",
            "Upstream sockets that could not be opened.",
            |s| s.driver.upstream_socket_errors,
        ),
        (
            "hamasq_dns_resolv_reloads_total",
            "Times resolv-file changed its servers.",
            |s| s.driver.resolv_reloads,
        ),
    ];
    let reg = stats::global();
    for &(name, help, get) in METRICS {
        let s = snap.clone();
        reg.gauge(name, help, move || get(&s.borrow()));
    }
}
