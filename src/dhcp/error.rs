//! The DHCP task's error classes: for each, whose fault it is (and so its
//! log level, [`Fault`]), the counter operators scrape and the event name
//! (design §8). The driver records an error through [`Errors::record`]
//! instead of bumping a counter and choosing a level at each call site.

use std::fmt;

use crate::log::{Fault, Level, emit_limited};
use crate::stats::{Counter, Registry};

/// What went wrong with one datagram or one reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DhcpError {
    /// A datagram that does not decode as BOOTP/DHCP.
    Malformed,
    /// A request for no subnet of ours (no interface address, no relay
    /// agent address we serve).
    NotForUs,
    /// A request the RFC 2131 rules answer with silence (other than the
    /// HA gate, which is counted as normal operation).
    Silent,
    /// A DISCOVER with no free address left.
    PoolExhausted,
    /// A new client refused by `dhcp-lease-max`.
    LeaseMax,
    /// The socket would not give us a datagram.
    Receive,
    /// The kernel refused to send a reply.
    Send,
    /// A reply that could not be encoded.
    Encode,
    /// The `dhcp-ping` probe socket failed.
    Ping,
}

impl DhcpError {
    /// Every class, for registration and tests.
    pub const ALL: [DhcpError; 9] = [
        DhcpError::Malformed,
        DhcpError::NotForUs,
        DhcpError::Silent,
        DhcpError::PoolExhausted,
        DhcpError::LeaseMax,
        DhcpError::Receive,
        DhcpError::Send,
        DhcpError::Encode,
        DhcpError::Ping,
    ];

    /// Whose fault it is.
    pub fn fault(self) -> Fault {
        match self {
            DhcpError::Malformed => Fault::PeerJunk,
            DhcpError::NotForUs | DhcpError::Silent => Fault::NotForUs,
            DhcpError::PoolExhausted | DhcpError::LeaseMax => Fault::Capacity,
            DhcpError::Receive | DhcpError::Send | DhcpError::Encode | DhcpError::Ping => {
                Fault::OwnIo
            }
        }
    }

    /// The level it is logged at.
    pub fn level(self) -> Level {
        self.fault().level()
    }

    /// The log event name.
    pub fn event(self) -> &'static str {
        match self {
            DhcpError::Malformed => "dhcp.malformed",
            DhcpError::NotForUs => "dhcp.not_for_us",
            DhcpError::Silent => "dhcp.silent",
            DhcpError::PoolExhausted => "dhcp.pool_exhausted",
            DhcpError::LeaseMax => "dhcp.lease_max",
            DhcpError::Receive => "dhcp.recv_failed",
            DhcpError::Send => "dhcp.send_failed",
            DhcpError::Encode => "dhcp.encode_failed",
            DhcpError::Ping => "dhcp.ping_failed",
        }
    }

    /// The counter (Kea's `pkt4-*` names under our prefix) and its help
    /// text; `None` for the classes only logged.
    pub fn metric(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            DhcpError::Malformed => (
                "hamasq_dhcp_pkt4_parse_failed_total",
                "Datagrams dropped as malformed.",
            ),
            DhcpError::NotForUs => (
                "hamasq_dhcp_not_for_us_total",
                "Requests for no subnet of ours.",
            ),
            DhcpError::Silent => (
                "hamasq_dhcp_silent_total",
                "Requests answered with silence by the RFC rules.",
            ),
            DhcpError::PoolExhausted => (
                "hamasq_dhcp_pool_exhausted_total",
                "DISCOVERs with no free address.",
            ),
            DhcpError::LeaseMax => (
                "hamasq_dhcp_lease_max_total",
                "Requests refused by dhcp-lease-max.",
            ),
            DhcpError::Send => (
                "hamasq_dhcp_pkt4_send_failed_total",
                "Replies the kernel refused to send.",
            ),
            DhcpError::Receive | DhcpError::Encode | DhcpError::Ping => return None,
        })
    }
}

/// The counters of every class, registered once.
pub struct Errors {
    counters: [Option<Counter>; DhcpError::ALL.len()],
}

impl Errors {
    pub fn register(reg: &Registry) -> Errors {
        Errors {
            counters: DhcpError::ALL
                .map(|e| e.metric().map(|(name, help)| reg.counter(name, help))),
        }
    }

    /// Counts one occurrence and logs it at its class's level,
    /// rate-limited per event; `detail` is the rest of the line.
    pub fn record(&self, e: DhcpError, detail: fmt::Arguments<'_>) {
        if let Some(c) = &self.counters[e as usize] {
            c.inc();
        }
        emit_limited(e.level(), e.event(), detail);
    }

    /// Counts one occurrence without a log line (a class whose every
    /// instance is already told by another line).
    #[cfg(test)]
    pub fn count(&self, e: DhcpError) {
        if let Some(c) = &self.counters[e as usize] {
            c.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Design §8: peer junk and wrong-for-us at debug, our own I/O and an
    /// exhausted limit at warn; every counted class keeps the name
    /// operators scrape.
    #[test]
    fn each_class_has_its_level_counter_and_event() {
        use DhcpError::*;
        assert_eq!(Malformed.level(), Level::Debug);
        assert_eq!(NotForUs.level(), Level::Debug);
        assert_eq!(Silent.level(), Level::Debug);
        assert_eq!(PoolExhausted.level(), Level::Warn);
        assert_eq!(LeaseMax.level(), Level::Warn);
        for e in [Receive, Send, Encode, Ping] {
            assert_eq!(e.fault(), Fault::OwnIo, "{e:?}");
            assert_eq!(e.level(), Level::Warn, "{e:?}");
        }
        assert_eq!(
            Malformed.metric().unwrap().0,
            "hamasq_dhcp_pkt4_parse_failed_total"
        );
        assert_eq!(
            PoolExhausted.metric().unwrap().0,
            "hamasq_dhcp_pool_exhausted_total"
        );
        assert_eq!(
            Send.metric().unwrap().0,
            "hamasq_dhcp_pkt4_send_failed_total"
        );
        assert!(Receive.metric().is_none());
        for (i, e) in DhcpError::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i, "ALL is in declaration order");
            assert!(e.event().starts_with("dhcp."), "{e:?}");
        }
    }

    #[test]
    fn record_bumps_the_class_counter_only() {
        let reg = Registry::default();
        let errors = Errors::register(&reg);
        errors.record(DhcpError::NotForUs, format_args!("mac=x"));
        errors.record(DhcpError::NotForUs, format_args!("mac=y"));
        errors.count(DhcpError::Send);
        errors.record(DhcpError::Receive, format_args!("error=x"));
        let snap = reg.snapshot();
        let v = |n: &str| snap.iter().find(|(m, _)| *m == n).map(|(_, v)| *v);
        assert_eq!(v("hamasq_dhcp_not_for_us_total"), Some(2));
        assert_eq!(v("hamasq_dhcp_pkt4_send_failed_total"), Some(1));
        assert_eq!(v("hamasq_dhcp_pkt4_parse_failed_total"), Some(0));
        assert_eq!(snap.len(), 6, "{snap:?}");
    }
}
