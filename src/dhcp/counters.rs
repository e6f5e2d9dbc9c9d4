//! The DHCP task's counters, with Kea's `pkt4-*` names under our prefix
//! (design §8): registered once in the one registry, counted by the
//! driver ([`super::driver`]) as it receives, decides and sends.

use super::error::{DhcpError, Errors};
use super::server::MsgType;
use super::socket::SendFailure;
use crate::stats::{self, Counter};

/// Counters, with Kea's `pkt4-*` names under our prefix.
pub struct Counters {
    pub received: Counter,
    pub discover: Counter,
    pub request: Counter,
    pub decline: Counter,
    pub release: Counter,
    pub inform: Counter,
    pub offer_sent: Counter,
    pub ack_sent: Counter,
    pub nak_sent: Counter,
    pub commit_failed: Counter,
    pub arp_fallback: Counter,
    pub gated: Counter,
    pub options_dropped: Counter,
    pub ping_sent: Counter,
    pub ping_conflict: Counter,
    /// The error classes' counters ([`super::error`]).
    pub errors: Errors,
}

impl Counters {
    pub fn register() -> Counters {
        let r = stats::global();
        Counters {
            errors: Errors::register(r),
            received: r.counter(
                "hamasq_dhcp_pkt4_received_total",
                "DHCP datagrams received.",
            ),
            discover: r.counter(
                "hamasq_dhcp_pkt4_discover_received_total",
                "DHCPDISCOVER received.",
            ),
            request: r.counter(
                "hamasq_dhcp_pkt4_request_received_total",
                "DHCPREQUEST received.",
            ),
            decline: r.counter(
                "hamasq_dhcp_pkt4_decline_received_total",
                "DHCPDECLINE received.",
            ),
            release: r.counter(
                "hamasq_dhcp_pkt4_release_received_total",
                "DHCPRELEASE received.",
            ),
            inform: r.counter(
                "hamasq_dhcp_pkt4_inform_received_total",
                "DHCPINFORM received.",
            ),
            offer_sent: r.counter("hamasq_dhcp_pkt4_offer_sent_total", "DHCPOFFER sent."),
            ack_sent: r.counter("hamasq_dhcp_pkt4_ack_sent_total", "DHCPACK sent."),
            nak_sent: r.counter("hamasq_dhcp_pkt4_nak_sent_total", "DHCPNAK sent."),
            commit_failed: r.counter(
                "hamasq_dhcp_lease_commit_failed_total",
                "Batches whose leases could not be stored (replies withheld).",
            ),
            arp_fallback: r.counter(
                "hamasq_dhcp_arp_fallback_total",
                "Unicast replies broadcast because the ARP entry could not be set.",
            ),
            gated: r.counter(
                "hamasq_dhcp_gated_total",
                "Requests not answered because this box is not Active.",
            ),
            ping_sent: r.counter(
                "hamasq_dhcp_ping_sent_total",
                "Addresses probed with ICMP echo before an OFFER.",
            ),
            ping_conflict: r.counter(
                "hamasq_dhcp_ping_conflict_total",
                "Probed addresses that answered: in use without a lease.",
            ),
            options_dropped: r.counter(
                "hamasq_dhcp_options_dropped_total",
                "Reply options left out to fit the client's maximum message size.",
            ),
        }
    }
}

/// Counts a reply the socket sent or could not send.
pub fn count_sent(c: &Counters, msg: MsgType, r: Result<(), SendFailure>) {
    match r {
        Ok(()) => match msg {
            MsgType::Offer => c.offer_sent.inc(),
            MsgType::Ack => c.ack_sent.inc(),
            MsgType::Nak => c.nak_sent.inc(),
            _ => {}
        },
        Err(f) => c.errors.record(
            DhcpError::Send,
            format_args!("to={} error={}", f.to, crate::log::q(&f.error)),
        ),
    }
}
