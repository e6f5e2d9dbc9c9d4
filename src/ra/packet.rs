//! Router Solicitation and Router Advertisement messages (RFC 4861 §4.1,
//! §4.2) with the options a LAN router sends: Source Link-Layer Address
//! (§4.6.1), Prefix Information (§4.6.2), MTU (§4.6.4), and the DNS options
//! of RFC 8106 (RDNSS §5.1, DNSSL §5.2). Sans-IO: bytes in, values out.
//!
//! The codec sees the ICMPv6 message only (the kernel strips the IPv6
//! header of a raw ICMPv6 socket and hands the hop limit and source over as
//! ancillary data). The checksum is left zero on encode: the kernel fills
//! it on a raw ICMPv6 socket (RFC 3542 §3.1) and verifies it on receive.
//!
//! ```text
//!  RFC 4861 §4.2 Router Advertisement
//!  0       8       16              31
//! +-------+-------+---------------+
//! | 134   | 0     | Checksum      |
//! +-------+-+-+---+---------------+
//! |CurHop |M|O|rsv| Router Lifetime (s)
//! +-------+-+-+---+---------------+
//! | Reachable Time (ms)           |
//! +-------------------------------+
//! | Retrans Timer (ms)            |
//! +-------------------------------+
//! | Options (type, length in 8-octet units, value) ...
//! ```

use std::fmt;
use std::net::Ipv6Addr;

/// ICMPv6 type of a Router Solicitation (RFC 4861 §4.1).
pub const TYPE_RS: u8 = 133;
/// ICMPv6 type of a Router Advertisement (RFC 4861 §4.2).
pub const TYPE_RA: u8 = 134;
/// The only hop limit ND messages are sent and accepted with (RFC 4861
/// §6.1.1, §6.1.2: proof that the sender is on the link).
pub const HOP_LIMIT: u8 = 255;
/// All-nodes multicast, where unsolicited RAs go (RFC 4861 §6.2.4).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// All-routers multicast, where hosts send RSs (RFC 4861 §6.3.7).
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// Option types (RFC 4861 §4.6, RFC 8106 §5).
const OPT_SOURCE_LLA: u8 = 1;
const OPT_PREFIX: u8 = 3;
const OPT_MTU: u8 = 5;
const OPT_RDNSS: u8 = 25;
const OPT_DNSSL: u8 = 31;

/// RS: type, code, checksum, reserved (RFC 4861 §4.1).
const RS_FIXED: usize = 8;
/// RA: type, code, checksum, hop limit, flags, lifetime, reachable, retrans
/// (RFC 4861 §4.2).
const RA_FIXED: usize = 16;
/// M flag: addresses from DHCPv6 (RFC 4861 §4.2).
const FLAG_MANAGED: u8 = 0x80;
/// O flag: other configuration from DHCPv6 (RFC 4861 §4.2).
const FLAG_OTHER: u8 = 0x40;
/// L flag of a prefix: on-link (RFC 4861 §4.6.2).
const FLAG_ON_LINK: u8 = 0x80;
/// A flag of a prefix: use it for SLAAC (RFC 4861 §4.6.2, RFC 4862 §5.5.3).
const FLAG_AUTONOMOUS: u8 = 0x40;
/// The longest domain name (RFC 1035 §2.3.4), and label.
const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;

/// A valid Router Solicitation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rs {
    /// The sender's link-layer address from its option (RFC 4861 §4.1), as
    /// carried (6 bytes on Ethernet).
    pub source_lla: Option<Vec<u8>>,
}

/// One Prefix Information option (RFC 4861 §4.6.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixInfo {
    pub prefix: Ipv6Addr,
    pub len: u8,
    /// L: the prefix is on-link.
    pub on_link: bool,
    /// A: hosts may form addresses in it (SLAAC).
    pub autonomous: bool,
    /// Valid lifetime in seconds (0xffffffff = infinity).
    pub valid: u32,
    /// Preferred lifetime in seconds, never above `valid` (§4.6.2).
    pub preferred: u32,
}

/// One RDNSS option (RFC 8106 §5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rdnss {
    /// Seconds the servers may be used (0 = no longer).
    pub lifetime: u32,
    pub servers: Vec<Ipv6Addr>,
}

/// One DNSSL option (RFC 8106 §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dnssl {
    pub lifetime: u32,
    /// Domain names in dotted text, without the trailing dot.
    pub domains: Vec<String>,
}

/// A Router Advertisement (RFC 4861 §4.2) with the options hamasq sends.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Ra {
    /// Cur Hop Limit for hosts' packets (0 = unspecified).
    pub cur_hop_limit: u8,
    /// M flag.
    pub managed: bool,
    /// O flag.
    pub other_config: bool,
    /// Router Lifetime in seconds; 0 = not a default router (§4.2, §6.2.5).
    pub router_lifetime: u16,
    /// Reachable Time in milliseconds (0 = unspecified).
    pub reachable_time: u32,
    /// Retrans Timer in milliseconds (0 = unspecified).
    pub retrans_timer: u32,
    /// Source Link-Layer Address (§4.6.1): the interface (virtual) MAC.
    pub source_lla: Option<[u8; 6]>,
    /// MTU option (§4.6.4).
    pub mtu: Option<u32>,
    pub prefixes: Vec<PrefixInfo>,
    pub rdnss: Vec<Rdnss>,
    pub dnssl: Vec<Dnssl>,
}

/// Why a received Router Solicitation or Advertisement was dropped; one
/// counter each, named by [`NdError::counter_name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NdError {
    /// Hop limit other than 255 (RFC 4861 §6.1.1, §6.1.2).
    HopLimit,
    /// Not the ICMPv6 type asked for.
    Type,
    /// ICMP code other than 0 (RFC 4861 §6.1.1, §6.1.2).
    Code,
    /// Shorter than the fixed part: 8 bytes for an RS, 16 for an RA
    /// (RFC 4861 §6.1.1, §6.1.2).
    TooShort,
    /// An option with length 0 (RFC 4861 §6.1.1, §6.1.2, §4.6).
    OptionZeroLength,
    /// An option running past the end of the message (RFC 4861 §4.6).
    OptionTruncated,
    /// An RS from the unspecified address with a Source Link-Layer Address
    /// option (RFC 4861 §6.1.1).
    UnspecifiedWithLla,
    /// An RA not from a link-local address (RFC 4861 §6.1.2).
    SourceNotLinkLocal,
    /// A known option whose length or contents break its own format
    /// (a prefix option not 32 bytes or its length > 128, an RDNSS length
    /// < 3 or even, a DNSSL name that is not a name, an MTU or Ethernet
    /// link-layer option of the wrong size: RFC 4861 §4.6, RFC 8106 §5).
    BadOption,
}

impl NdError {
    pub const ALL: [NdError; 9] = [
        NdError::HopLimit,
        NdError::Type,
        NdError::Code,
        NdError::TooShort,
        NdError::OptionZeroLength,
        NdError::OptionTruncated,
        NdError::UnspecifiedWithLla,
        NdError::SourceNotLinkLocal,
        NdError::BadOption,
    ];

    /// The statistic this drop counts under.
    pub const fn counter_name(self) -> &'static str {
        match self {
            NdError::HopLimit => "hop_limit",
            NdError::Type => "icmp_type",
            NdError::Code => "icmp_code",
            NdError::TooShort => "too_short",
            NdError::OptionZeroLength => "option_zero_length",
            NdError::OptionTruncated => "option_truncated",
            NdError::UnspecifiedWithLla => "unspecified_with_lla",
            NdError::SourceNotLinkLocal => "source_not_link_local",
            NdError::BadOption => "bad_option",
        }
    }
}

impl fmt::Display for NdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NdError::HopLimit => "hop limit is not 255",
            NdError::Type => "not the expected ICMPv6 type",
            NdError::Code => "ICMPv6 code is not 0",
            NdError::TooShort => "shorter than the fixed header",
            NdError::OptionZeroLength => "an option has length 0",
            NdError::OptionTruncated => "an option runs past the end",
            NdError::UnspecifiedWithLla => {
                "unspecified source with a source link-layer address option"
            }
            NdError::SourceNotLinkLocal => "source is not link-local",
            NdError::BadOption => "an option is malformed",
        })
    }
}

impl std::error::Error for NdError {}

/// Walks the options after the fixed part: `(type, whole option bytes)`.
/// Fails on a zero length or an option past the end (RFC 4861 §4.6).
fn options(mut rest: &[u8]) -> Result<Vec<(u8, &[u8])>, NdError> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 2 {
            return Err(NdError::OptionTruncated);
        }
        let len = usize::from(rest[1]) * 8;
        if len == 0 {
            return Err(NdError::OptionZeroLength);
        }
        if len > rest.len() {
            return Err(NdError::OptionTruncated);
        }
        out.push((rest[0], &rest[..len]));
        rest = &rest[len..];
    }
    Ok(out)
}

fn check_head(data: &[u8], hop_limit: u8, ty: u8, fixed: usize) -> Result<(), NdError> {
    if hop_limit != HOP_LIMIT {
        return Err(NdError::HopLimit);
    }
    if data.len() < fixed {
        return Err(NdError::TooShort);
    }
    if data[0] != ty {
        return Err(NdError::Type);
    }
    if data[1] != 0 {
        return Err(NdError::Code);
    }
    Ok(())
}

/// Checks and parses a Router Solicitation (the ICMPv6 message; `src` and
/// `hop_limit` from the IPv6 header) with the validity checks of RFC 4861
/// §6.1.1 that the kernel has not made already (it verified the checksum).
/// Unknown options are skipped (§4.1). Never panics.
pub fn decode_rs(src: Ipv6Addr, hop_limit: u8, data: &[u8]) -> Result<Rs, NdError> {
    check_head(data, hop_limit, TYPE_RS, RS_FIXED)?;
    let mut source_lla = None;
    for (ty, opt) in options(&data[RS_FIXED..])? {
        if ty == OPT_SOURCE_LLA {
            source_lla = Some(opt[2..].to_vec());
        }
    }
    if src.is_unspecified() && source_lla.is_some() {
        return Err(NdError::UnspecifiedWithLla);
    }
    Ok(Rs { source_lla })
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

/// Checks and parses a Router Advertisement (RFC 4861 §6.1.2: hop limit
/// 255, link-local source, code 0, at least 16 bytes, no zero-length
/// option). Options hamasq does not know are skipped (§4.2). Never panics.
pub fn decode_ra(src: Ipv6Addr, hop_limit: u8, data: &[u8]) -> Result<Ra, NdError> {
    check_head(data, hop_limit, TYPE_RA, RA_FIXED)?;
    if !src.is_unicast_link_local() {
        return Err(NdError::SourceNotLinkLocal);
    }
    let mut ra = Ra {
        cur_hop_limit: data[4],
        managed: data[5] & FLAG_MANAGED != 0,
        other_config: data[5] & FLAG_OTHER != 0,
        router_lifetime: u16::from_be_bytes([data[6], data[7]]),
        reachable_time: be32(&data[8..]),
        retrans_timer: be32(&data[12..]),
        ..Ra::default()
    };
    for (ty, opt) in options(&data[RA_FIXED..])? {
        match ty {
            // Ethernet only: a 6-byte address fills one 8-byte unit.
            OPT_SOURCE_LLA if opt.len() == 8 => {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&opt[2..8]);
                ra.source_lla = Some(mac);
            }
            OPT_MTU if opt.len() == 8 => ra.mtu = Some(be32(&opt[4..])),
            OPT_PREFIX => {
                if opt.len() != 32 || opt[2] > 128 {
                    return Err(NdError::BadOption);
                }
                let p = PrefixInfo {
                    len: opt[2],
                    on_link: opt[3] & FLAG_ON_LINK != 0,
                    autonomous: opt[3] & FLAG_AUTONOMOUS != 0,
                    valid: be32(&opt[4..]),
                    preferred: be32(&opt[8..]),
                    prefix: addr(&opt[16..]),
                };
                ra.prefixes.push(p);
            }
            OPT_RDNSS => {
                // RFC 8106 §5.1: length 3 + 2 per extra address, odd.
                if opt.len() < 24 || (opt.len() - 8) % 16 != 0 {
                    return Err(NdError::BadOption);
                }
                ra.rdnss.push(Rdnss {
                    lifetime: be32(&opt[4..]),
                    servers: opt[8..].chunks(16).map(addr).collect(),
                });
            }
            OPT_DNSSL => {
                // RFC 8106 §5.2: length at least 2.
                if opt.len() < 16 {
                    return Err(NdError::BadOption);
                }
                ra.dnssl.push(Dnssl {
                    lifetime: be32(&opt[4..]),
                    domains: decode_names(&opt[8..])?,
                });
            }
            OPT_SOURCE_LLA | OPT_MTU => return Err(NdError::BadOption),
            _ => {}
        }
    }
    Ok(ra)
}

/// The domain names of a DNSSL option: uncompressed names one after the
/// other, then zero padding to the option's end (RFC 8106 §5.2, §5.3.1).
fn decode_names(mut b: &[u8]) -> Result<Vec<String>, NdError> {
    let mut names = Vec::new();
    // Zero bytes where a name would start are padding, and only padding
    // may follow (§5.3.1).
    while let Some(&first) = b.first() {
        if first == 0 {
            if b.iter().any(|&x| x != 0) {
                return Err(NdError::BadOption);
            }
            break;
        }
        let mut labels: Vec<String> = Vec::new();
        let mut wire_len = 1;
        loop {
            let Some(&n) = b.first() else {
                return Err(NdError::BadOption);
            };
            let n = usize::from(n);
            if n == 0 {
                b = &b[1..];
                break;
            }
            if n > MAX_LABEL || b.len() < 1 + n {
                return Err(NdError::BadOption);
            }
            wire_len += 1 + n;
            if wire_len > MAX_NAME {
                return Err(NdError::BadOption);
            }
            let label = &b[1..1 + n];
            if label.iter().any(|&c| c == b'.' || !c.is_ascii_graphic()) {
                return Err(NdError::BadOption);
            }
            labels.push(String::from_utf8_lossy(label).into_owned());
            b = &b[1 + n..];
        }
        names.push(labels.join("."));
    }
    Ok(names)
}

// ---------------------------------------------------------------------------
// Encoding.

/// Whether `name` fits a DNSSL option: dotted labels of 1..=63 printable
/// bytes without dots, at most 255 bytes on the wire (RFC 1035 §2.3.4).
/// The config checks names with this before they reach [`encode_ra`].
pub fn is_encodable_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() + 2 <= MAX_NAME
        && name.split('.').all(|l| {
            !l.is_empty() && l.len() <= MAX_LABEL && l.bytes().all(|c| c.is_ascii_graphic())
        })
}

fn push_option(out: &mut Vec<u8>, ty: u8, body: &[u8]) {
    // Pad to a multiple of 8 with zeros, counting type and length.
    let len = (2 + body.len()).div_ceil(8) * 8;
    out.push(ty);
    out.push((len / 8) as u8);
    out.extend_from_slice(body);
    out.resize(out.len() + len - 2 - body.len(), 0);
}

/// The Router Advertisement as an ICMPv6 message, checksum zero for the
/// kernel to fill (RFC 3542 §3.1). Options in the order of RFC 4861 §4.2's
/// list: source link-layer address, MTU, prefixes, then RDNSS and DNSSL.
/// Names that [`is_encodable_name`] refuses are left out of the DNSSL.
pub fn encode_ra(ra: &Ra) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&[TYPE_RA, 0, 0, 0, ra.cur_hop_limit]);
    let mut flags = 0;
    if ra.managed {
        flags |= FLAG_MANAGED;
    }
    if ra.other_config {
        flags |= FLAG_OTHER;
    }
    out.push(flags);
    out.extend_from_slice(&ra.router_lifetime.to_be_bytes());
    out.extend_from_slice(&ra.reachable_time.to_be_bytes());
    out.extend_from_slice(&ra.retrans_timer.to_be_bytes());
    if let Some(mac) = ra.source_lla {
        push_option(&mut out, OPT_SOURCE_LLA, &mac);
    }
    if let Some(mtu) = ra.mtu {
        let mut b = vec![0, 0];
        b.extend_from_slice(&mtu.to_be_bytes());
        push_option(&mut out, OPT_MTU, &b);
    }
    for p in &ra.prefixes {
        let mut b = vec![p.len.min(128), 0];
        if p.on_link {
            b[1] |= FLAG_ON_LINK;
        }
        if p.autonomous {
            b[1] |= FLAG_AUTONOMOUS;
        }
        b.extend_from_slice(&p.valid.to_be_bytes());
        b.extend_from_slice(&p.preferred.to_be_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&p.prefix.octets());
        push_option(&mut out, OPT_PREFIX, &b);
    }
    for r in ra.rdnss.iter().filter(|r| !r.servers.is_empty()) {
        let mut b = vec![0, 0];
        b.extend_from_slice(&r.lifetime.to_be_bytes());
        // The option length is one byte: at most 127 addresses.
        for s in r.servers.iter().take(127) {
            b.extend_from_slice(&s.octets());
        }
        push_option(&mut out, OPT_RDNSS, &b);
    }
    for d in &ra.dnssl {
        let mut b = vec![0, 0];
        b.extend_from_slice(&d.lifetime.to_be_bytes());
        let mut any = false;
        for name in d.domains.iter().filter(|n| is_encodable_name(n)) {
            // Stop before the option would pass its 255 * 8 byte limit.
            if b.len() + name.len() + 2 > 255 * 8 - 2 {
                break;
            }
            let name = name.strip_suffix('.').unwrap_or(name);
            for label in name.split('.') {
                b.push(label.len() as u8);
                b.extend_from_slice(label.as_bytes());
            }
            b.push(0);
            any = true;
        }
        if any {
            push_option(&mut out, OPT_DNSSL, &b);
        }
    }
    out
}

#[cfg(test)]
#[path = "packet_tests.rs"]
pub(crate) mod tests;
