//! VRRPv3 advertisements carried in IPv6 (RFC 9568 §5.1.2, §5.2): the
//! sans-IO codec and the receive checks of §7.1 that need only the packet
//! and its IPv6 header. No sockets here; the driver
//! ([`super::driver`]) reads the header fields from the socket's control
//! messages.
//!
//! ```text
//!  RFC 9568 §5.1 (the same message as over IPv4, with 16-byte addresses)
//!  0       4       8       16      24
//! +-------+-------+-------+-------+
//! |Ver=3  |Type=1 | VRID  | Prio  |Count IPvX Addr
//! +-------+-------+-------+-------+
//! |Rsvd(4)| Max Adver Int (12, cs)|Checksum
//! +-------+-----------------------+
//! | IPv6 address (Count times, 16 bytes each)
//! +-------------------------------+
//! ```
//!
//! Unlike IPv4 there is one checksum form only: over the IPv6
//! pseudo-header of RFC 8200 §8.1 (source, destination, upper-layer length
//! as 32 bits, three zero bytes, next header 112) and then the message
//! (RFC 9568 §5.2.8). VRRPv2 has no IPv6 form, so version 3 is the only one
//! accepted (RFC 9568 §7.1).
//!
//! The units ([`Centis`]) and the rejection counters ([`RxError`]) are the
//! IPv4 codec's, so one advert interval and one set of statistics cover
//! both families; [`Rx6Error::DstErr`] is the one check IPv4 has no twin
//! for here.

use std::fmt;
use std::net::Ipv6Addr;

use super::packet::{Centis, IPPROTO_VRRP, MAX_ADDRS, RxError, TTL};
use crate::net::inet_checksum;

/// The IPv6 multicast group of VRRP, link-local scope (RFC 9568 §5.1.2.2).
pub const MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The only hop limit sent and accepted (RFC 9568 §5.1.2.3, GTSM RFC 5082):
/// the same 255 as the IPv4 TTL.
pub const HOP_LIMIT: u8 = TTL;

/// Version, type, VRID, priority, count, interval, checksum (RFC 9568 §5.1).
const FIXED_LEN: usize = 8;
/// One IPv6 address (RFC 9568 §5.2.9).
const ADDR_LEN: usize = 16;
/// VRRPv3 is the only version over IPv6 (RFC 9568 §5.2.1, §7.1).
const VERSION: u8 = 3;
/// The only packet type (RFC 9568 §5.2.2).
const TYPE_ADVERTISEMENT: u8 = 1;

/// One VRRPv3 advertisement for IPv6.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Advert6 {
    /// Virtual Router ID (RFC 9568 §5.2.3).
    pub vrid: u8,
    /// 0 = the Active router is leaving, 255 = the address owner
    /// (RFC 9568 §5.2.4).
    pub priority: u8,
    /// Max Adver Int in centiseconds (RFC 9568 §5.2.7).
    pub interval: Centis,
    /// The virtual addresses, at least one, the first link-local
    /// (RFC 9568 §5.2.5, §5.2.9; see [`first_vip_is_link_local`]).
    pub addrs: Vec<Ipv6Addr>,
}

impl From<Advert6> for super::packet::Advert<Ipv6Addr> {
    /// The router core's form (RFC 9568 §6 is the same for both families).
    fn from(a: Advert6) -> Self {
        super::packet::Advert {
            vrid: a.vrid,
            priority: a.priority,
            interval: super::packet::Interval::V3(a.interval),
            auth: super::packet::Auth::None,
            addrs: a.addrs,
        }
    }
}

impl Advert6 {
    /// The codec's form of the core's advert ([`super::router::Router::advert`]
    /// of an IPv6 router, always VRRPv3).
    pub fn from_core(a: &super::packet::Advert<Ipv6Addr>) -> Advert6 {
        let interval = match a.interval {
            super::packet::Interval::V3(c) => c,
            super::packet::Interval::V2(_) => Centis::DEFAULT,
        };
        Advert6 {
            vrid: a.vrid,
            priority: a.priority,
            interval,
            addrs: a.addrs.clone(),
        }
    }

    /// The length of the encoded VRRP message.
    pub fn wire_len(&self) -> usize {
        message_len(self.addrs.len().min(MAX_ADDRS))
    }
}

fn message_len(count: usize) -> usize {
    FIXED_LEN + ADDR_LEN * count
}

/// The fields of the IPv6 header that the receive checks need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ip6Header {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
}

/// Why a received IPv6 advert was dropped: one counter per variant, named
/// by [`Rx6Error::counter_name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rx6Error {
    /// A check IPv4 shares, counted under the same name: hop limit
    /// ([`RxError::IpTtlErr`]), version, type, length, checksum, a zero
    /// count or interval.
    Packet(RxError),
    /// Destination neither `ff02::12` nor the unicast address this
    /// instance receives on (RFC 9568 §5.1.2.2; unicast is keepalived's
    /// extension).
    DstErr,
}

impl Rx6Error {
    /// The statistic this rejection counts under.
    pub const fn counter_name(self) -> &'static str {
        match self {
            Rx6Error::Packet(e) => e.counter_name(),
            Rx6Error::DstErr => "dst_err",
        }
    }
}

impl From<RxError> for Rx6Error {
    fn from(e: RxError) -> Rx6Error {
        Rx6Error::Packet(e)
    }
}

impl fmt::Display for Rx6Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.counter_name())
    }
}

impl std::error::Error for Rx6Error {}

/// RFC 9568 §5.2.9: for IPv6 the first virtual address MUST be the
/// link-local one of the virtual router. A config check: false for an
/// empty list too, since an instance needs at least one address.
pub fn first_vip_is_link_local(addrs: &[Ipv6Addr]) -> bool {
    addrs.first().is_some_and(Ipv6Addr::is_unicast_link_local)
}

// ---------------------------------------------------------------------------
// Decoding.

/// Checks and parses one VRRP message carried in IPv6 (the upper-layer
/// payload, exactly as long as the IPv6 payload length says, extension
/// headers removed). Never panics, whatever the input.
///
/// `unicast_dst` is this instance's own address when it receives unicast
/// adverts (keepalived's `unicast_peer`), `None` for multicast only.
///
/// Checks, in the order of RFC 9568 §7.1: hop limit 255 (§5.1.2.3),
/// destination (§5.1.2.2), version 3, type 1 (§5.2.2), the complete packet
/// (count × 16 bytes, §5.2.5, §5.2.9), the checksum over the IPv6
/// pseudo-header (§5.2.8, RFC 8200 §8.1), then a non-zero count (erratum
/// 8299) and interval (erratum 8301).
pub fn decode(
    ip: Ip6Header,
    unicast_dst: Option<Ipv6Addr>,
    payload: &[u8],
) -> Result<Advert6, Rx6Error> {
    // RFC 9568 §5.1.2.3: a packet whose hop limit is not 255 MUST be
    // discarded.
    if ip.hop_limit != HOP_LIMIT {
        return Err(RxError::IpTtlErr.into());
    }
    // RFC 9568 §5.1.2.2: adverts go to ff02::12 (or, unicast, to us).
    if ip.dst != MULTICAST_V6 && Some(ip.dst) != unicast_dst {
        return Err(Rx6Error::DstErr);
    }
    let Some(fixed) = payload.first_chunk::<FIXED_LEN>() else {
        return Err(RxError::PacketLenErr.into());
    };
    // RFC 9568 §7.1 "MUST verify that the VRRP version is 3".
    if fixed[0] >> 4 != VERSION {
        return Err(RxError::VersionErr.into());
    }
    // RFC 9568 §5.2.2: a packet with unknown type MUST be discarded.
    if fixed[0] & 0x0f != TYPE_ADVERTISEMENT {
        return Err(RxError::InvalidTypeRcvd.into());
    }
    let count = usize::from(fixed[3]);
    // RFC 9568 §7.1: the complete packet; trailing bytes refused as in the
    // IPv4 codec (the checksum covers the whole payload).
    if payload.len() != message_len(count) {
        return Err(RxError::PacketLenErr.into());
    }
    // RFC 9568 §7.1 "MUST verify the VRRP checksum" (§5.2.8): over the
    // pseudo-header and the message, the sum of a correct packet is 0.
    if checksum(ip.src, ip.dst, payload) != 0 {
        return Err(RxError::ChecksumErr.into());
    }
    // RFC 9568 §5.2.5 and erratum 8299: a count of 0 MUST be ignored.
    if count == 0 {
        return Err(RxError::AddrListErr.into());
    }
    // RFC 9568 §5.2.6: the 4 reserved bits are ignored on reception;
    // erratum 8301: an interval of 0 MUST be discarded.
    let cs = u16::from_be_bytes([fixed[4], fixed[5]]) & 0x0fff;
    let interval = Centis::new(cs).ok_or(RxError::AdvertIntervalErr)?;
    let addrs = payload[FIXED_LEN..]
        .chunks_exact(ADDR_LEN)
        .map(|a| {
            let mut o = [0u8; ADDR_LEN];
            o.copy_from_slice(a);
            Ipv6Addr::from(o)
        })
        .collect();
    Ok(Advert6 {
        vrid: fixed[1],
        priority: fixed[2],
        interval,
        addrs,
    })
}

// ---------------------------------------------------------------------------
// Encoding.

/// The VRRP message for `advert` (the IPv6 upper-layer payload; the
/// driver's socket adds the IPv6 header with hop limit 255 and next header
/// 112, RFC 9568 §5.1.2). `src` and `dst` are the addresses the packet will
/// carry (the virtual router's link-local source, `ff02::12` or a unicast
/// peer); they enter the checksum (RFC 9568 §5.2.8, RFC 8200 §8.1). At most
/// [`MAX_ADDRS`] addresses are encoded: Count is one octet.
pub fn encode(advert: &Advert6, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let addrs = &advert.addrs[..advert.addrs.len().min(MAX_ADDRS)];
    let mut b = Vec::with_capacity(message_len(addrs.len()));
    b.push(VERSION << 4 | TYPE_ADVERTISEMENT);
    b.push(advert.vrid);
    b.push(advert.priority);
    b.push(addrs.len() as u8);
    // RFC 9568 §5.2.6: reserved bits sent as zero (Centis is 12 bits).
    b.extend_from_slice(&advert.interval.get().to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    for a in addrs {
        b.extend_from_slice(&a.octets());
    }
    let sum = checksum(src, dst, &b);
    b[6..8].copy_from_slice(&sum.to_be_bytes());
    b
}

/// The Internet checksum (RFC 1071) over the IPv6 pseudo-header of
/// RFC 8200 §8.1 and `message`: 0 for a received message whose checksum
/// field is right, the value to store when that field is zero.
fn checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    let mut b = Vec::with_capacity(40 + message.len());
    b.extend_from_slice(&src.octets());
    b.extend_from_slice(&dst.octets());
    b.extend_from_slice(&(message.len() as u32).to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, IPPROTO_VRRP]);
    b.extend_from_slice(message);
    inet_checksum(&b)
}

#[cfg(test)]
#[path = "packet6_tests.rs"]
mod tests;
