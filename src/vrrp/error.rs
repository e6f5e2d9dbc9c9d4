//! The VRRP task's error classes: for each, whose fault it is (and so its
//! log level, [`Fault`]), where it is counted and the event name (design
//! §8, holo-vrrp's `error.rs`). Receive errors are counted by the router
//! core under keepalived's names (`RxError::counter_name`, the RFC 9568
//! statistics), so recording one hands it to the core.

use std::fmt;

use super::packet::RxError;
use super::router::{Family, Router};
use crate::log::{Fault, Level, emit_limited};

/// What went wrong with one advert or one send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VrrpError {
    /// An advert that does not decode or fails the RFC 9568 §7.1 header
    /// checks (TTL, version, type, length, checksum).
    Decode(RxError),
    /// A well-formed advert for our VRID that the RFC tells us to discard
    /// because it does not match our configuration (address list,
    /// authentication, source not among `unicast-peer`).
    Rejected(RxError),
    /// The VRRP socket would not give us a datagram.
    Receive,
    /// An advert could not be sent.
    Send,
    /// A gratuitous ARP could not be sent.
    Garp,
}

impl VrrpError {
    /// Whose fault it is.
    pub fn fault(self) -> Fault {
        match self {
            VrrpError::Decode(_) => Fault::PeerJunk,
            VrrpError::Rejected(_) => Fault::Refused,
            VrrpError::Receive | VrrpError::Send | VrrpError::Garp => Fault::OwnIo,
        }
    }

    /// The level it is logged at.
    pub fn level(self) -> Level {
        self.fault().level()
    }

    /// The log event name.
    pub fn event(self) -> &'static str {
        match self {
            VrrpError::Decode(_) | VrrpError::Rejected(_) => "vrrp.rejected",
            VrrpError::Receive => "vrrp.recv_failed",
            VrrpError::Send => "vrrp.send_failed",
            VrrpError::Garp => "vrrp.garp_failed",
        }
    }

    /// Counts one occurrence (in the core's statistics) and logs it at its
    /// class's level, rate-limited per event; `detail` is the rest of the
    /// line.
    pub fn record<A: Family>(self, router: &mut Router<A>, detail: fmt::Arguments<'_>) {
        if let VrrpError::Decode(e) | VrrpError::Rejected(e) = self {
            router.record_rx_error(e);
        }
        emit_limited(self.level(), self.event(), detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Design §8: junk from the link at debug, a peer our configuration
    /// turns away at info, our own socket failures at warn; every receive
    /// error keeps keepalived's statistic name.
    #[test]
    fn each_class_has_its_level_and_counter() {
        for e in RxError::ALL {
            assert_eq!(VrrpError::Decode(e).level(), Level::Debug, "{e:?}");
            assert_eq!(VrrpError::Rejected(e).level(), Level::Info, "{e:?}");
            assert_eq!(VrrpError::Rejected(e).event(), "vrrp.rejected");
        }
        for e in [VrrpError::Receive, VrrpError::Send, VrrpError::Garp] {
            assert_eq!(e.fault(), Fault::OwnIo, "{e:?}");
            assert_eq!(e.level(), Level::Warn, "{e:?}");
        }
    }

    /// Decode and rejection errors land in the core's statistics under
    /// their own keepalived name; our own I/O failures count none.
    #[test]
    fn recording_counts_in_the_core() {
        use std::net::Ipv4Addr;
        let cfg = super::super::router::Config::new(
            51,
            100,
            Ipv4Addr::new(10, 0, 0, 1),
            vec![super::super::router::Vip {
                addr: Ipv4Addr::new(10, 0, 0, 254),
                prefix_len: 24,
            }],
        );
        let mut r = Router::new(cfg).unwrap();
        VrrpError::Decode(RxError::ChecksumErr).record(&mut r, format_args!("x"));
        VrrpError::Rejected(RxError::AuthFailure).record(&mut r, format_args!("x"));
        VrrpError::Rejected(RxError::AuthFailure).record(&mut r, format_args!("x"));
        VrrpError::Send.record(&mut r, format_args!("x"));
        for e in RxError::ALL {
            let want = match e {
                RxError::ChecksumErr => 1,
                RxError::AuthFailure => 2,
                _ => 0,
            };
            assert_eq!(r.stats().rx_error(e), want, "{e:?}");
        }
    }
}
