//! The DNS task's error classes: for each, whose fault it is (and so its
//! log level, [`Fault`]), the driver counter it bumps (published as
//! `hamasq_dns_*`, see [`super::metrics`]) and the event name (design §8).
//! The resolver, cache and forwarder count their own protocol outcomes
//! (FORMERR, SERVFAIL, RFC 5452 drops); these are the driver's.

use std::fmt;

use super::metrics::DriverStats;
use crate::log::{Fault, Level, emit_limited};

/// What went wrong in the DNS driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsError {
    /// A client datagram larger than the receive buffer (truncated by the
    /// kernel): dropped.
    Oversized,
    /// A query refused by `interface` / `listen-address` /
    /// `local-service`.
    AclRefused,
    /// A TCP connection closed at `max-tcp-connections`.
    TcpLimit,
    /// The UDP socket would not give us datagrams.
    UdpReceive,
    /// The kernel refused to send a reply to a client.
    UdpSend,
    /// `accept` on the TCP listener failed.
    TcpAccept,
    /// The interface list could not be read (for the ACL).
    Interfaces,
    /// A socket to an upstream server could not be opened.
    UpstreamSocket,
}

impl DnsError {
    /// Every class, for tests.
    #[cfg(test)]
    pub const ALL: [DnsError; 8] = [
        DnsError::Oversized,
        DnsError::AclRefused,
        DnsError::TcpLimit,
        DnsError::UdpReceive,
        DnsError::UdpSend,
        DnsError::TcpAccept,
        DnsError::Interfaces,
        DnsError::UpstreamSocket,
    ];

    /// Whose fault it is.
    pub fn fault(self) -> Fault {
        match self {
            DnsError::Oversized => Fault::PeerJunk,
            DnsError::AclRefused => Fault::Refused,
            DnsError::TcpLimit => Fault::Capacity,
            DnsError::UdpReceive
            | DnsError::UdpSend
            | DnsError::TcpAccept
            | DnsError::Interfaces
            | DnsError::UpstreamSocket => Fault::OwnIo,
        }
    }

    /// The level it is logged at.
    pub fn level(self) -> Level {
        self.fault().level()
    }

    /// The log event name.
    pub fn event(self) -> &'static str {
        match self {
            DnsError::Oversized => "dns.oversized",
            DnsError::AclRefused => "dns.query_refused",
            DnsError::TcpLimit => "dns.tcp_limit",
            DnsError::UdpReceive => "dns.udp_receive_failed",
            DnsError::UdpSend => "dns.udp_send_failed",
            DnsError::TcpAccept => "dns.tcp_accept_failed",
            DnsError::Interfaces => "dns.interfaces_unreadable",
            DnsError::UpstreamSocket => "dns.upstream_socket_failed",
        }
    }

    /// The driver counter it bumps, if any (its metric name is in
    /// [`super::metrics`]).
    fn counter(self, st: &mut DriverStats) -> Option<&mut u64> {
        match self {
            DnsError::Oversized => Some(&mut st.udp_oversized),
            DnsError::AclRefused => Some(&mut st.refused_acl),
            DnsError::TcpLimit => Some(&mut st.tcp_refused_limit),
            DnsError::UdpSend => Some(&mut st.udp_send_errors),
            DnsError::UpstreamSocket => Some(&mut st.upstream_socket_errors),
            DnsError::UdpReceive | DnsError::TcpAccept | DnsError::Interfaces => None,
        }
    }

    /// Counts `n` occurrences without a log line (a batch whose failures
    /// are not told one by one, or a class counted on the hot path).
    pub fn count(self, st: &mut DriverStats, n: u64) {
        if let Some(c) = self.counter(st) {
            *c += n;
        }
    }

    /// Counts one occurrence and logs it at its class's level,
    /// rate-limited per event; `detail` is the rest of the line.
    pub fn record(self, st: &mut DriverStats, detail: fmt::Arguments<'_>) {
        self.count(st, 1);
        emit_limited(self.level(), self.event(), detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Design §8: junk at debug, a refused client at info, an operator
    /// limit and our own I/O at warn; each counted class bumps its own
    /// driver counter and no other.
    #[test]
    fn each_class_has_its_level_and_counter() {
        use DnsError::*;
        assert_eq!(Oversized.level(), Level::Debug);
        assert_eq!(AclRefused.level(), Level::Info);
        assert_eq!(TcpLimit.level(), Level::Warn);
        for e in [UdpReceive, UdpSend, TcpAccept, Interfaces, UpstreamSocket] {
            assert_eq!(e.fault(), Fault::OwnIo, "{e:?}");
            assert_eq!(e.level(), Level::Warn, "{e:?}");
        }
        let mut st = DriverStats::default();
        AclRefused.record(&mut st, format_args!("client=x"));
        UdpSend.count(&mut st, 3);
        Oversized.count(&mut st, 1);
        TcpLimit.count(&mut st, 1);
        UpstreamSocket.count(&mut st, 2);
        UdpReceive.record(&mut st, format_args!("error=x"));
        assert_eq!(st.refused_acl, 1);
        assert_eq!(st.udp_send_errors, 3);
        assert_eq!(st.udp_oversized, 1);
        assert_eq!(st.tcp_refused_limit, 1);
        assert_eq!(st.upstream_socket_errors, 2);
        assert_eq!(
            (st.udp_received, st.udp_sent, st.tcp_accepted),
            (0, 0, 0),
            "an error never counts as traffic"
        );
        for e in DnsError::ALL {
            assert!(e.event().starts_with("dns."), "{e:?}");
        }
    }
}
