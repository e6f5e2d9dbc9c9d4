//! VRRP advertisements on the wire, IPv4: VRRPv3 (RFC 9568 §5) and VRRPv2
//! (RFC 3768 §5), for peers that still speak it (keepalived's IPv4 default).
//!
//! ```text
//!  VRRPv3, RFC 9568 §5.1                  VRRPv2, RFC 3768 §5.1
//!  0       4       8       16      24     0       4       8       16      24
//! +-------+-------+-------+-------+      +-------+-------+-------+-------+
//! |Ver=3  |Type=1 | VRID  | Prio  |Count  |Ver=2  |Type=1 | VRID  | Prio  |Count
//! +-------+-------+-------+-------+      +-------+-------+-------+-------+
//! |Rsvd(4)| Max Adver Int (12, cs)|Cksum  |AuthTyp|AdvInt(s)|   Checksum    |
//! +-------+-----------------------+      +---------------+---------------+
//! | IPv4 address (Count times)    |      | IPv4 address (Count times)    |
//! +-------------------------------+      +-------------------------------+
//!                                        | Authentication data (8 bytes) |
//!                                        +-------------------------------+
//! ```
//!
//! [`decode`] runs every receive check of RFC 9568 §7.1 that needs only the
//! packet and its IP header (TTL, version, type, length, checksum, a
//! non-zero count and interval); the checks against an instance's settings
//! (VRID, configured version, v2 interval and authentication, address list,
//! unicast allow-list) run in [`super::router::Router::receive`]. Every
//! rejection is an [`RxError`] whose [`RxError::counter_name`] is the
//! statistic operators already scrape from keepalived.
//!
//! The checksum of VRRPv3 over IPv4 exists in two forms (see
//! [`ChecksumMode`]). We send the configured one and accept either.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

/// IP protocol number of VRRP (RFC 9568 §5.1.1.4).
pub const IPPROTO_VRRP: u8 = 112;
/// The only TTL sent and accepted (RFC 9568 §5.1.1.3, GTSM RFC 5082).
pub const TTL: u8 = 255;
/// The IPv4 multicast group of VRRP (RFC 9568 §5.1.1.2).
pub const MULTICAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Most addresses one advert can carry: Count is one octet (RFC 9568 §5.2.5).
pub const MAX_ADDRS: usize = 255;

/// Version, type, VRID, priority, count, interval, checksum.
const FIXED_LEN: usize = 8;
/// VRRPv2 authentication data (RFC 3768 §5.3.10).
const V2_AUTH_LEN: usize = 8;
/// The only packet type (RFC 9568 §5.2.2).
const TYPE_ADVERTISEMENT: u8 = 1;

// ---------------------------------------------------------------------------
// Units.

/// A VRRPv3 interval in centiseconds: 12 bits, 1..=4095 (RFC 9568 §5.2.7,
/// range per erratum 8301). The constructor is the only way in, so a zero or
/// a 13-bit interval cannot exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Centis(u16);

impl Centis {
    pub const MIN: Centis = Centis(1);
    pub const MAX: Centis = Centis(4095);
    /// Advertisement_Interval default, 1 s (RFC 9568 §6.1).
    pub const DEFAULT: Centis = Centis(100);

    /// `cs` centiseconds, if it fits the 12-bit field and is not zero.
    pub const fn new(cs: u16) -> Option<Centis> {
        if cs >= Centis::MIN.0 && cs <= Centis::MAX.0 {
            Some(Centis(cs))
        } else {
            None
        }
    }

    pub const fn get(self) -> u16 {
        self.0
    }

    pub const fn as_millis(self) -> u64 {
        self.0 as u64 * 10
    }
}

impl fmt::Display for Centis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}cs", self.0)
    }
}

/// A VRRPv2 interval in whole seconds: 8 bits, 1..=255 (RFC 3768 §5.3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Secs(u8);

impl Secs {
    /// Advertisement_Interval default, 1 s (RFC 3768 §6.1).
    pub const DEFAULT: Secs = Secs(1);

    /// `s` seconds, if not zero.
    pub const fn new(s: u8) -> Option<Secs> {
        if s == 0 { None } else { Some(Secs(s)) }
    }

    pub const fn get(self) -> u8 {
        self.0
    }

    pub const fn as_millis(self) -> u64 {
        self.0 as u64 * 1000
    }
}

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

/// An advertisement interval with its unit, which also fixes the protocol
/// version: VRRPv3 counts centiseconds, VRRPv2 whole seconds. Converting
/// between the two is explicit ([`Interval::as_millis`]), never implied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interval {
    /// RFC 9568 Max Adver Int.
    V3(Centis),
    /// RFC 3768 Adver Int.
    V2(Secs),
}

impl Interval {
    /// The VRRP version this interval is sent with: 3 or 2.
    pub const fn version(self) -> u8 {
        match self {
            Interval::V3(_) => 3,
            Interval::V2(_) => 2,
        }
    }

    pub const fn as_millis(self) -> u64 {
        match self {
            Interval::V3(c) => c.as_millis(),
            Interval::V2(s) => s.as_millis(),
        }
    }

    pub const fn as_duration(self) -> Duration {
        Duration::from_millis(self.as_millis())
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interval::V3(c) => c.fmt(f),
            Interval::V2(s) => s.fmt(f),
        }
    }
}

// ---------------------------------------------------------------------------
// The message.

/// VRRPv2 authentication. RFC 3768 §5.3.6 keeps only type 0; types 1
/// (simple text password) and 2 (IP AH) are RFC 2338's, and keepalived
/// still speaks the first. VRRPv3 has no authentication: its adverts carry
/// [`Auth::None`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Auth {
    /// Type 0; the data octets are sent as zero and ignored on receipt.
    #[default]
    None,
    /// Type 1: eight octets of password, zero-padded.
    Pass([u8; 8]),
    /// Type 2, recognised only so that it counts as a type mismatch (as
    /// keepalived does) rather than an invalid type; never configured.
    Ah,
}

impl Auth {
    /// The Auth Type octet.
    pub const fn code(self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::Pass(_) => 1,
            Auth::Ah => 2,
        }
    }
}

/// One advertisement, version-independent. The version is the one of
/// [`Advert::interval`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Advert<A = Ipv4Addr> {
    /// Virtual Router ID (RFC 9568 §5.2.3).
    pub vrid: u8,
    /// 0 = the Active router is leaving, 255 = the address owner
    /// (RFC 9568 §5.2.4).
    pub priority: u8,
    pub interval: Interval,
    /// VRRPv2 only; ignored when encoding a VRRPv3 advert.
    pub auth: Auth,
    /// The virtual addresses, at least one (RFC 9568 §5.2.5, §5.2.9):
    /// IPv4 here, IPv6 for an advert carried in IPv6 (the router core
    /// handles both, [`super::packet6::Advert6`] is the IPv6 codec's form).
    pub addrs: Vec<A>,
}

impl<A> Advert<A> {
    pub const fn version(&self) -> u8 {
        self.interval.version()
    }
}

impl Advert {
    /// The length of the encoded VRRP message.
    pub fn wire_len(&self) -> usize {
        message_len(self.version(), self.addrs.len().min(MAX_ADDRS))
    }
}

fn message_len(version: u8, count: usize) -> usize {
    let auth = if version == 2 { V2_AUTH_LEN } else { 0 };
    FIXED_LEN + 4 * count + auth
}

/// How the VRRPv3 checksum over IPv4 is computed.
///
/// RFC 5798 §5.2.8 was read as including the IPv4 pseudo-header, and the
/// deployed base does so: keepalived by default, tcpdump and Wireshark.
/// RFC 9568 §5.2.8 computes it over the VRRP message alone, as VRRPv2 did
/// (RFC 3768 §5.3.8), and so do Cisco, Juniper, holo and keepalived with
/// `v3_checksum_as_v2`. We send the configured form and accept both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ChecksumMode {
    /// Over the VRRP message only (RFC 9568 §5.2.8). Always the form of
    /// VRRPv2 (RFC 3768 §5.3.8).
    Rfc9568,
    /// Over the IPv4 pseudo-header (source, destination, zero, protocol
    /// 112, VRRP length) and then the message: keepalived's default, and
    /// what a keepalived peer expects unless told otherwise.
    #[default]
    PseudoHeader,
}

impl ChecksumMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ChecksumMode::Rfc9568 => "rfc9568",
            ChecksumMode::PseudoHeader => "pseudo-header",
        }
    }
}

/// The fields of the IP header that the receive checks need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpHeader {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
}

/// A packet that passed the wire checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub advert: Advert,
    /// The checksum form that matched; always [`ChecksumMode::Rfc9568`]
    /// for VRRPv2, which has no other.
    pub checksum: ChecksumMode,
}

/// Why a received advert was dropped. Each variant is one counter; its
/// name ([`RxError::counter_name`]) is keepalived's statistic where
/// keepalived exports one (`keepalived --signum=JSON`, keepalived-exporter),
/// otherwise the VRRP MIB object in the same style (RFC 6527
/// `vrrpv3RouterChecksumErrors` -> `checksum_err`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RxError {
    /// TTL other than 255 (RFC 9568 §5.1.1.3, §7.1).
    IpTtlErr,
    /// Version neither 2 nor 3, or not the instance's version (RFC 9568 §7.1).
    VersionErr,
    /// Type other than 1 (RFC 9568 §5.2.2).
    InvalidTypeRcvd,
    /// Shorter or longer than the fixed fields, addresses and (v2)
    /// authentication data (RFC 9568 §7.1 "complete VRRP packet").
    PacketLenErr,
    /// Neither checksum form matches (RFC 9568 §7.1, §5.2.8).
    ChecksumErr,
    /// No instance for this VRID on the interface (RFC 9568 §7.1).
    VridErr,
    /// Count of zero (RFC 9568 §5.2.5, erratum 8299), or count or list
    /// different from the configured VIPs (RFC 9568 §7.1, see
    /// `Router::receive`).
    AddrListErr,
    /// Interval of zero (RFC 9568 §7.1, erratum 8301), or a VRRPv2
    /// interval that differs from ours (RFC 3768 §7.1).
    AdvertIntervalErr,
    /// VRRPv2 Auth Type not 0, 1 or 2 (RFC 3768 §5.3.6).
    InvalidAuthtype,
    /// VRRPv2 Auth Type other than the configured one (RFC 3768 §7.1).
    AuthtypeMismatch,
    /// VRRPv2 password mismatch (RFC 2338 §7.1).
    AuthFailure,
    /// With unicast peers configured, a source that is none of them. Unicast
    /// VRRP is a keepalived extension; the TTL check does not protect it.
    SrcNotAllowed,
}

impl RxError {
    pub const ALL: [RxError; 12] = [
        RxError::IpTtlErr,
        RxError::VersionErr,
        RxError::InvalidTypeRcvd,
        RxError::PacketLenErr,
        RxError::ChecksumErr,
        RxError::VridErr,
        RxError::AddrListErr,
        RxError::AdvertIntervalErr,
        RxError::InvalidAuthtype,
        RxError::AuthtypeMismatch,
        RxError::AuthFailure,
        RxError::SrcNotAllowed,
    ];

    /// The statistic this rejection counts under.
    pub const fn counter_name(self) -> &'static str {
        match self {
            RxError::IpTtlErr => "ip_ttl_err",
            RxError::VersionErr => "version_err",
            RxError::InvalidTypeRcvd => "invalid_type_rcvd",
            RxError::PacketLenErr => "packet_len_err",
            RxError::ChecksumErr => "checksum_err",
            RxError::VridErr => "vrid_err",
            RxError::AddrListErr => "addr_list_err",
            RxError::AdvertIntervalErr => "advert_interval_err",
            RxError::InvalidAuthtype => "invalid_authtype",
            RxError::AuthtypeMismatch => "authtype_mismatch",
            RxError::AuthFailure => "auth_failure",
            RxError::SrcNotAllowed => "src_not_allowed",
        }
    }

    /// Position in [`RxError::ALL`], for counter arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.counter_name())
    }
}

impl std::error::Error for RxError {}

// ---------------------------------------------------------------------------
// Decoding.

/// Checks and parses one VRRP message (the IP payload, exactly as long as
/// the IP total length says). Never panics, whatever the input.
///
/// Checks, in the order of RFC 9568 §7.1: TTL, version, type, complete
/// packet, checksum, then a non-zero count (erratum 8299) and interval
/// (erratum 8301) and, for VRRPv2, a known Auth Type.
pub fn decode(ip: IpHeader, payload: &[u8]) -> Result<Decoded, RxError> {
    // RFC 9568 §5.1.1.3: a packet whose TTL is not 255 MUST be discarded.
    if ip.ttl != TTL {
        return Err(RxError::IpTtlErr);
    }
    let Some(fixed) = payload.first_chunk::<FIXED_LEN>() else {
        return Err(RxError::PacketLenErr);
    };
    // RFC 9568 §7.1 "MUST verify that the VRRP version is 3"; VRRPv2 per
    // RFC 3768 §7.1. Which one the instance runs is checked by the router.
    let version = fixed[0] >> 4;
    if version != 2 && version != 3 {
        return Err(RxError::VersionErr);
    }
    // RFC 9568 §5.2.2: a packet with unknown type MUST be discarded.
    if fixed[0] & 0x0f != TYPE_ADVERTISEMENT {
        return Err(RxError::InvalidTypeRcvd);
    }
    let count = usize::from(fixed[3]);
    // RFC 9568 §7.1: the complete packet, fixed fields and addresses. Like
    // keepalived we also refuse trailing bytes: the checksum covers the
    // whole payload, so a longer packet was not built by a VRRP speaker.
    if payload.len() != message_len(version, count) {
        return Err(RxError::PacketLenErr);
    }
    // RFC 9568 §7.1 "MUST verify the VRRP checksum", in either form for v3.
    let message_ok = fold(sum16(payload, 0)) == 0xffff;
    let checksum = if message_ok {
        ChecksumMode::Rfc9568
    } else if version == 3
        && fold(sum16(
            payload,
            pseudo_header_sum(ip.src, ip.dst, payload.len()),
        )) == 0xffff
    {
        ChecksumMode::PseudoHeader
    } else {
        return Err(RxError::ChecksumErr);
    };
    // RFC 9568 §5.2.5 and erratum 8299: a count of 0 MUST be ignored.
    if count == 0 {
        return Err(RxError::AddrListErr);
    }
    let (interval, auth) = if version == 3 {
        // RFC 9568 §5.2.6: the 4 reserved bits are ignored on reception;
        // erratum 8301: an interval of 0 MUST be discarded.
        let cs = u16::from_be_bytes([fixed[4], fixed[5]]) & 0x0fff;
        let c = Centis::new(cs).ok_or(RxError::AdvertIntervalErr)?;
        (Interval::V3(c), Auth::None)
    } else {
        let s = Secs::new(fixed[5]).ok_or(RxError::AdvertIntervalErr)?;
        let data_at = FIXED_LEN + 4 * count;
        let auth = match fixed[4] {
            0 => Auth::None,
            1 => {
                let mut pw = [0u8; V2_AUTH_LEN];
                pw.copy_from_slice(&payload[data_at..data_at + V2_AUTH_LEN]);
                Auth::Pass(pw)
            }
            2 => Auth::Ah,
            _ => return Err(RxError::InvalidAuthtype),
        };
        (Interval::V2(s), auth)
    };
    let addrs = payload[FIXED_LEN..FIXED_LEN + 4 * count]
        .chunks_exact(4)
        .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]))
        .collect();
    Ok(Decoded {
        advert: Advert {
            vrid: fixed[1],
            priority: fixed[2],
            interval,
            auth,
            addrs,
        },
        checksum,
    })
}

// ---------------------------------------------------------------------------
// Encoding.

/// The VRRP message for `advert` (the IP payload; the driver's raw socket
/// adds the IPv4 header with TTL 255, protocol 112, RFC 9568 §5.1.1).
///
/// `src` and `dst` are the IP addresses the packet will carry; they enter
/// only the VRRPv3 [`ChecksumMode::PseudoHeader`] checksum. A VRRPv2
/// advert always uses the message-only checksum (RFC 3768 §5.3.8). At
/// most [`MAX_ADDRS`] addresses are encoded; `Router::new` refuses more.
pub fn encode(advert: &Advert, mode: ChecksumMode, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let version = advert.version();
    let addrs = &advert.addrs[..advert.addrs.len().min(MAX_ADDRS)];
    let mut b = Vec::with_capacity(message_len(version, addrs.len()));
    b.push(version << 4 | TYPE_ADVERTISEMENT);
    b.push(advert.vrid);
    b.push(advert.priority);
    b.push(addrs.len() as u8);
    match advert.interval {
        // RFC 9568 §5.2.6: reserved bits sent as zero (Centis is 12 bits).
        Interval::V3(c) => b.extend_from_slice(&c.get().to_be_bytes()),
        Interval::V2(s) => {
            b.push(advert.auth.code());
            b.push(s.get());
        }
    }
    b.extend_from_slice(&[0, 0]);
    for a in addrs {
        b.extend_from_slice(&a.octets());
    }
    if version == 2 {
        // RFC 3768 §5.3.10: zero unless a (legacy) password is configured.
        match advert.auth {
            Auth::Pass(pw) => b.extend_from_slice(&pw),
            Auth::None | Auth::Ah => b.extend_from_slice(&[0; V2_AUTH_LEN]),
        }
    }
    let initial = match (version, mode) {
        (3, ChecksumMode::PseudoHeader) => pseudo_header_sum(src, dst, b.len()),
        _ => 0,
    };
    let sum = !fold(sum16(&b, initial));
    b[6..8].copy_from_slice(&sum.to_be_bytes());
    b
}

// ---------------------------------------------------------------------------
// The Internet checksum (RFC 1071).

/// Adds `data` as big-endian 16-bit words to `acc` (an odd last byte is
/// padded with zero). Carries are folded later by [`fold`]; with at most
/// 64 KiB of input the u32 cannot overflow.
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// Folds the carries back in: the ones-complement sum.
fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The IPv4 pseudo-header (RFC 768 layout with protocol 112, as keepalived
/// builds it): source, destination, zero, protocol, VRRP message length.
fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> u32 {
    let mut p = [0u8; 12];
    p[0..4].copy_from_slice(&src.octets());
    p[4..8].copy_from_slice(&dst.octets());
    p[9] = IPPROTO_VRRP;
    p[10..12].copy_from_slice(&(len as u16).to_be_bytes());
    sum16(&p, 0)
}

#[cfg(test)]
#[path = "packet_tests.rs"]
pub(crate) mod tests;
