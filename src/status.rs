//! The status board: the one place `hamasq status`, `hamasq leases`, the
//! SIGUSR1 summary and the metrics endpoint read from.
//!
//! Every task publishes to it one way: counters and gauges go to the
//! metrics [`Registry`] the board holds, and a
//! task's state goes over a `watch` channel it owns the sending end of (one
//! per VRRP instance, the DNS task's counters). The leases, which only the
//! DHCP task holds and which would cost a pass over the table to publish
//! after every commit, are asked for on request over the channel the board
//! holds. Readers never block a task: a `watch` read is a copy, and the
//! DHCP answer is waited for at most [`REQUEST_TIME`].

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::dhcp::report::Query;
use crate::stats::Registry;
// Each VRRP task owns its status channel; the type lives with VRRP so that
// VRRP never imports this module (no cycle: status -> vrrp, dhcp).
pub use crate::vrrp::status::VrrpStatus;

/// How long a reader waits for the DHCP task's part.
pub const REQUEST_TIME: Duration = Duration::from_secs(2);

impl VrrpStatus {
    /// keepalived exporter's `vrrp_state` number: 0 init, 1 backup,
    /// 2 master, 3 fault.
    pub fn state_number(&self) -> u64 {
        match self.state {
            "BACKUP" => 1,
            "MASTER" => 2,
            "FAULT" => 3,
            _ => 0,
        }
    }
}

/// The board: the registry and every task's published state. Cheap to
/// clone (each reader task holds its own copy).
#[derive(Clone)]
pub struct Board {
    registry: &'static Registry,
    vrrp: Vec<watch::Receiver<VrrpStatus>>,
    dhcp: Option<mpsc::Sender<Query>>,
    /// `[ha]`: the pair link's state.
    peer: Option<watch::Receiver<crate::ha::PeerState>>,
    dns: Option<mpsc::Sender<crate::dns::querylog::Command>>,
}

impl Board {
    pub fn new(registry: &'static Registry) -> Board {
        Board {
            registry,
            vrrp: Vec::new(),
            dhcp: None,
            peer: None,
            dns: None,
        }
    }

    /// The registry every task registers its counters in.
    pub fn registry(&self) -> &'static Registry {
        self.registry
    }

    /// Adds a VRRP instance's status channel.
    pub fn add_vrrp(&mut self, rx: watch::Receiver<VrrpStatus>) {
        self.vrrp.push(rx);
    }

    /// Sets the pair link's state (`[ha]`).
    pub fn set_peer(&mut self, rx: watch::Receiver<crate::ha::PeerState>) {
        self.peer = Some(rx);
    }

    /// Sets the channel the DHCP task answers lease requests on.
    pub fn set_dhcp(&mut self, tx: mpsc::Sender<Query>) {
        self.dhcp = Some(tx);
    }

    /// Sets the channel the DNS task takes commands on.
    pub fn set_dns(&mut self, tx: mpsc::Sender<crate::dns::querylog::Command>) {
        self.dns = Some(tx);
    }

    /// `hamasq log-queries [on|off]`: the DNS task switches its query log
    /// (or only says its state) and answers.
    pub async fn log_queries(&self, switch: Option<bool>) -> String {
        let Some(tx) = &self.dns else {
            return "error: DNS is not running (no [dns] section, or port = 0)\n".to_string();
        };
        let (rtx, rrx) = oneshot::channel();
        let cmd = crate::dns::querylog::Command::LogQueries(switch, rtx);
        if tx.send(cmd).await.is_err() {
            return "error: the DNS task has stopped\n".to_string();
        }
        match tokio::time::timeout(REQUEST_TIME, rrx).await {
            Ok(Ok(text)) => text,
            _ => "error: the DNS task did not answer in time\n".to_string(),
        }
    }

    /// The VRRP instances, in the order they were added.
    pub fn vrrp(&self) -> Vec<VrrpStatus> {
        self.vrrp.iter().map(|rx| rx.borrow().clone()).collect()
    }

    /// Asks the DHCP task; `None` without DHCP or when it does not answer
    /// in time.
    async fn ask_dhcp(
        &self,
        make: impl FnOnce(oneshot::Sender<String>) -> Query,
    ) -> Option<String> {
        let tx = self.dhcp.as_ref()?;
        let (rtx, rrx) = oneshot::channel();
        tx.send(make(rtx)).await.ok()?;
        tokio::time::timeout(REQUEST_TIME, rrx).await.ok()?.ok()
    }

    /// The text of `hamasq status`.
    pub async fn status_text(&self, now: Instant) -> String {
        let metrics = self.registry.snapshot();
        let mut text = render(now, &self.vrrp(), &metrics);
        if let Some(p) = &self.peer {
            text.push_str(&render_peer(&p.borrow(), crate::clock::UnixTime::now().0));
        }
        if let Some(r) = self.ask_dhcp(Query::Ranges).await {
            text.push_str(&r);
        }
        text.push_str(&render_counters(
            &self.registry.snapshot(),
            &self.registry.labelled_snapshot(),
        ));
        text
    }

    /// The text of `hamasq leases`.
    pub async fn leases_text(&self) -> String {
        match self.ask_dhcp(Query::Leases).await {
            Some(l) => l,
            None if self.dhcp.is_none() => "error: DHCP is not configured\n".to_string(),
            None => "error: the DHCP task did not answer in time\n".to_string(),
        }
    }

    /// `hamasq leases --delete IP`: the DHCP task drops the lease and says
    /// what it did.
    pub async fn delete_lease(&self, ip: std::net::Ipv4Addr) -> String {
        match self.ask_dhcp(|tx| Query::Delete(ip, tx)).await {
            Some(r) => r,
            None if self.dhcp.is_none() => "error: DHCP is not configured\n".to_string(),
            None => "error: the DHCP task did not answer in time\n".to_string(),
        }
    }

    /// The SIGUSR1 summary lines (see [`summary_lines`]).
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        summary_lines(
            &self.registry.snapshot(),
            &self.registry.labelled_snapshot(),
        )
    }

    /// Every metric as `name value` (unlabelled first), for the debug dump.
    pub fn all_metrics(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .registry
            .snapshot()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
        out.extend(self.registry.labelled_snapshot());
        out
    }

    /// The metrics endpoint's page.
    pub fn prometheus(&self) -> String {
        self.registry.render_prometheus()
    }
}

fn ago(t: Option<Instant>, now: Instant) -> String {
    match t {
        Some(t) => format!("{:.1}s ago", now.saturating_duration_since(t).as_secs_f64()),
        None => "never".into(),
    }
}

/// The text of `hamasq status`: VRRP instances from the board, then DHCP
/// and DNS figures from the metrics registry (`metrics` is its snapshot).
/// The `ha:` line of `hamasq status` (design §9, issue 13 item 7).
pub fn render_peer(p: &crate::ha::PeerState, wall_now: u64) -> String {
    let since = if p.since == 0 {
        "never connected".to_string()
    } else {
        format!(
            "{} for {}s",
            if p.connected {
                "connected"
            } else {
                "disconnected"
            },
            wall_now.saturating_sub(p.since)
        )
    };
    let mut line = format!(
        "ha: peer {since}, caught up {}, lag {} changes, clock skew {}s, conflicts {}",
        if p.caught_up { "yes" } else { "no" },
        p.lag,
        p.skew_s,
        p.conflicts
    );
    if let Some(c) = &p.last_conflict {
        let _ = write!(line, " (last {c})");
    }
    if let Some(why) = p.last_close.filter(|_| !p.connected) {
        let _ = write!(line, ", last close {why}");
    }
    line.push('\n');
    line
}

pub fn render(now: Instant, vrrp: &[VrrpStatus], metrics: &[(&str, u64)]) -> String {
    let m = |name: &str| metrics.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "hamasq {} up {}s",
        env!("CARGO_PKG_VERSION"),
        m("hamasq_uptime_seconds").unwrap_or(0)
    );
    if vrrp.is_empty() {
        let _ = writeln!(out, "vrrp: none configured (standalone)");
    }
    for v in vrrp {
        let vips: Vec<String> = v.vips.iter().map(|(a, p)| format!("{a}/{p}")).collect();
        let _ = writeln!(
            out,
            "vrrp {}: {} for {:.0}s, interface {} vrid {} priority {}, vip {}, peer {} last heard {}",
            v.name,
            v.state,
            now.saturating_duration_since(v.since).as_secs_f64(),
            v.interface,
            v.vrid,
            v.priority,
            vips.join(","),
            v.active_router.map_or("-".to_string(), |a| a.to_string()),
            ago(v.last_heard, now)
        );
    }
    if let Some(rx) = m("hamasq_dhcp_pkt4_received_total") {
        let _ = writeln!(
            out,
            "dhcp: received {rx}, offers {}, acks {}, naks {}, silent (gate) {}, pool exhausted {}",
            m("hamasq_dhcp_pkt4_offer_sent_total").unwrap_or(0),
            m("hamasq_dhcp_pkt4_ack_sent_total").unwrap_or(0),
            m("hamasq_dhcp_pkt4_nak_sent_total").unwrap_or(0),
            m("hamasq_dhcp_gated_total").unwrap_or(0),
            m("hamasq_dhcp_pool_exhausted_total").unwrap_or(0),
        );
    } else {
        let _ = writeln!(out, "dhcp: off");
    }
    // IPv6 services (design §10): only when configured; a Backup's
    // silence shows as `silent` / `gated`.
    if let Some(sent) = m("hamasq_ra_sent_total") {
        let _ = writeln!(
            out,
            "ra: sent {sent}, solicitations {}, silent (gate) {}, send errors {}",
            m("hamasq_ra_solicitations_total").unwrap_or(0),
            m("hamasq_ra_solicitations_silent_total").unwrap_or(0),
            m("hamasq_ra_send_errors_total").unwrap_or(0),
        );
    }
    if let Some(rx) = m("hamasq_dhcpv6_received_total") {
        let _ = writeln!(
            out,
            "dhcpv6: received {rx}, replies {}, silent (gate) {}, not served {}",
            m("hamasq_dhcpv6_replies_total").unwrap_or(0),
            m("hamasq_dhcpv6_gated_total").unwrap_or(0),
            m("hamasq_dhcpv6_not_served_total").unwrap_or(0),
        );
    }
    if let Some(size) = m("hamasq_dns_cache_size") {
        let _ = writeln!(
            out,
            "dns: queries {}, cache {}/{size} entries, hits {}, misses {}, insertions {}, evictions {}, forwarded {}, local {}, servfail {}",
            m("hamasq_dns_queries_total").unwrap_or(0),
            m("hamasq_dns_cache_entries").unwrap_or(0),
            m("hamasq_dns_cache_hits_total").unwrap_or(0),
            m("hamasq_dns_cache_misses_total").unwrap_or(0),
            m("hamasq_dns_cache_insertions_total").unwrap_or(0),
            m("hamasq_dns_cache_evictions_total").unwrap_or(0),
            m("hamasq_dns_forwarded_total").unwrap_or(0),
            m("hamasq_dns_local_answers_total").unwrap_or(0),
            m("hamasq_dns_servfail_total").unwrap_or(0),
        );
    } else {
        let _ = writeln!(out, "dns: off");
    }
    out
}

/// Every metric, one `name value` per line, labelled families included:
/// the tail of `hamasq status`, so the full counters are one command away
/// without a metrics endpoint.
pub fn render_counters(metrics: &[(&str, u64)], labelled: &[(String, u64)]) -> String {
    let mut out = String::from("counters:\n");
    for (n, v) in metrics {
        let _ = writeln!(out, "  {n} {v}");
    }
    for (n, v) in labelled {
        let _ = writeln!(out, "  {n} {v}");
    }
    out
}

/// The SIGUSR1 summary: a few `key=value` lines, as dnsmasq's, each an
/// event name and its text (`stats.dhcp`, `stats.dns` only when on). The
/// full counters are on the metrics endpoint and in `hamasq status`.
pub fn summary_lines(
    metrics: &[(&str, u64)],
    labelled: &[(String, u64)],
) -> Vec<(&'static str, String)> {
    let m = |name: &str| metrics.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let v = |name: &str| m(name).unwrap_or(0);
    let family = |name: &str| -> u64 {
        let prefix = format!("{name}{{");
        labelled
            .iter()
            .filter(|(n, _)| n.starts_with(&prefix))
            .map(|(_, v)| v)
            .sum()
    };
    let mut out = Vec::new();
    if let Some(rx) = m("hamasq_dhcp_pkt4_received_total") {
        out.push((
            "stats.dhcp",
            format!(
                "received={rx} offers={} acks={} naks={} silent={} pool_exhausted={} leases={}/{} commit_failed={}",
                v("hamasq_dhcp_pkt4_offer_sent_total"),
                v("hamasq_dhcp_pkt4_ack_sent_total"),
                v("hamasq_dhcp_pkt4_nak_sent_total"),
                v("hamasq_dhcp_gated_total"),
                v("hamasq_dhcp_pool_exhausted_total"),
                family("hamasq_dhcp_addresses_assigned_total"),
                family("hamasq_dhcp_addresses_total"),
                v("hamasq_dhcp_lease_commit_failed_total"),
            ),
        ));
    }
    if let Some(size) = m("hamasq_dns_cache_size") {
        out.push((
            "stats.dns",
            format!(
                "queries={} cache={}/{size} hits={} misses={} forwarded={} local={} servfail={} refused={}",
                v("hamasq_dns_queries_total"),
                v("hamasq_dns_cache_entries"),
                v("hamasq_dns_cache_hits_total"),
                v("hamasq_dns_cache_misses_total"),
                v("hamasq_dns_forwarded_total"),
                v("hamasq_dns_local_answers_total"),
                v("hamasq_dns_servfail_total"),
                v("hamasq_dns_refused_total"),
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::status::publish_vrrp;

    #[test]
    fn the_ha_line_says_connected_since_caught_up_lag_and_conflicts() {
        let mut p = crate::ha::PeerState::default();
        assert_eq!(
            render_peer(&p, 1000),
            "ha: peer never connected, caught up no, lag 0 changes, clock skew 0s, conflicts 0\n"
        );
        p.connected = true;
        p.caught_up = true;
        p.since = 900;
        p.lag = 3;
        p.conflicts = 2;
        p.last_conflict =
            Some("192.168.1.40 kept=02:00:00:00:00:01 refused=02:00:00:00:00:02".into());
        p.last_close = Some("peer_silent");
        let line = render_peer(&p, 1000);
        assert!(
            line.starts_with("ha: peer connected for 100s, caught up yes, lag 3 changes"),
            "{line}"
        );
        assert!(
            line.contains("conflicts 2 (last 192.168.1.40 kept=02:00:00:00:00:01"),
            "{line}"
        );
        assert!(
            !line.contains("last close"),
            "only when disconnected: {line}"
        );
        p.connected = false;
        assert!(render_peer(&p, 1000).contains("disconnected for 100s"));
        assert!(render_peer(&p, 1000).contains("last close peer_silent"));
    }
    use std::net::Ipv4Addr;
    use std::time::Duration;

    #[test]
    fn status_text_names_role_vip_peer_and_cache() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(30);
        let v = VrrpStatus {
            name: "lan".into(),
            interface: "eth0".into(),
            vrid: 51,
            state: "BACKUP",
            priority: 100,
            vips: vec![(Ipv4Addr::new(192, 168, 1, 254).into(), 24)],
            active_router: Some(Ipv4Addr::new(192, 168, 1, 2).into()),
            last_heard: Some(now - Duration::from_millis(400)),
            since: t0,
        };
        let text = render(
            now,
            &[v],
            &[
                ("hamasq_uptime_seconds", 31),
                ("hamasq_dns_cache_size", 150),
                ("hamasq_dns_cache_entries", 7),
                ("hamasq_dns_cache_hits_total", 42),
            ],
        );
        assert!(text.contains("vrrp lan: BACKUP for 30s"), "{text}");
        assert!(text.contains("vip 192.168.1.254/24, peer 192.168.1.2 last heard 0.4s ago"));
        assert!(text.contains("dhcp: off"));
        assert!(text.contains("cache 7/150 entries, hits 42"));
        assert!(!text.contains("ra:") && !text.contains("dhcpv6:"), "{text}");
    }

    /// Issue 15: the IPv6 services have their lines once configured.
    #[test]
    fn router_advertisements_and_dhcpv6_have_a_line_each() {
        let now = Instant::now();
        let text = render(
            now,
            &[],
            &[
                ("hamasq_ra_sent_total", 12),
                ("hamasq_ra_solicitations_total", 3),
                ("hamasq_ra_solicitations_silent_total", 1),
                ("hamasq_dhcpv6_received_total", 5),
                ("hamasq_dhcpv6_replies_total", 4),
                ("hamasq_dhcpv6_gated_total", 1),
            ],
        );
        assert!(
            text.contains("ra: sent 12, solicitations 3, silent (gate) 1, send errors 0\n"),
            "{text}"
        );
        assert!(
            text.contains("dhcpv6: received 5, replies 4, silent (gate) 1, not served 0\n"),
            "{text}"
        );
    }

    /// Issue 14 item 4: SIGUSR1 logs a few lines, not every counter.
    #[test]
    fn the_summary_is_compact_and_adds_up_pools() {
        let metrics = [
            ("hamasq_dhcp_pkt4_received_total", 9),
            ("hamasq_dhcp_pkt4_ack_sent_total", 4),
            ("hamasq_dns_cache_size", 150),
            ("hamasq_dns_queries_total", 12),
            ("hamasq_dns_upstream_retries_total", 3),
        ];
        let labelled = [
            ("hamasq_dhcp_addresses_total{subnet=\"a\"}".to_string(), 50),
            ("hamasq_dhcp_addresses_total{subnet=\"b\"}".to_string(), 50),
            (
                "hamasq_dhcp_addresses_assigned_total{subnet=\"a\"}".to_string(),
                3,
            ),
        ];
        let lines = summary_lines(&metrics, &labelled);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].0, "stats.dhcp");
        assert!(
            lines[0].1.starts_with("received=9 offers=0 acks=4 "),
            "{lines:?}"
        );
        assert!(lines[0].1.contains(" leases=3/100 "), "{lines:?}");
        assert_eq!(lines[1].0, "stats.dns");
        assert!(
            lines[1].1.starts_with("queries=12 cache=0/150 "),
            "{lines:?}"
        );
        assert!(summary_lines(&[], &[]).is_empty());
        let all = render_counters(&metrics, &labelled);
        assert!(
            all.contains("  hamasq_dns_upstream_retries_total 3\n"),
            "{all}"
        );
        assert!(
            all.contains("  hamasq_dhcp_addresses_total{subnet=\"b\"} 50\n"),
            "{all}"
        );
    }

    #[test]
    fn publishing_keeps_since_while_the_state_holds() {
        let t0 = Instant::now();
        let mk = |state, since| VrrpStatus {
            name: "status-test".into(),
            interface: "x".into(),
            vrid: 1,
            state,
            priority: 1,
            vips: Vec::new(),
            active_router: None,
            last_heard: None,
            since,
        };
        let (tx, rx) = watch::channel(mk("INIT", t0));
        let mut board = Board::new(Box::leak(Box::default()));
        board.add_vrrp(rx);
        publish_vrrp(&tx, mk("BACKUP", t0));
        publish_vrrp(&tx, mk("BACKUP", t0 + Duration::from_secs(5)));
        let got = board.vrrp().pop().unwrap();
        assert_eq!(got.since, t0);
        publish_vrrp(&tx, mk("MASTER", t0 + Duration::from_secs(9)));
        let got = board.vrrp().pop().unwrap();
        assert_eq!(
            (got.state, got.since, got.state_number()),
            ("MASTER", t0 + Duration::from_secs(9), 2)
        );
    }

    /// The board reads the registry it was given, and a board without
    /// DHCP says so for `hamasq leases`.
    #[tokio::test]
    async fn the_board_reads_its_registry() {
        let reg: &'static Registry = Box::leak(Box::default());
        reg.counter("hamasq_dns_queries_total", "q").add(5);
        reg.gauge("hamasq_dns_cache_size", "s", || 150);
        let board = Board::new(reg);
        let text = board.status_text(Instant::now()).await;
        assert!(text.contains("dns: queries 5, cache 0/150"), "{text}");
        assert!(text.contains("vrrp: none configured"), "{text}");
        assert!(text.contains("  hamasq_dns_queries_total 5\n"), "{text}");
        assert_eq!(board.summary()[0].0, "stats.dns");
        assert!(board.prometheus().contains("hamasq_dns_queries_total 5\n"));
        assert_eq!(board.leases_text().await, "error: DHCP is not configured\n");
    }
}
