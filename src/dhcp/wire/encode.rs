//! Encoding a [`Reply`]. The rules, with their RFC sections, are in the
//! [module docs](super).

use std::fmt;
use std::net::Ipv4Addr;

use super::Packet;
use super::{BOOTREPLY, FILE_LEN, MAGIC_COOKIE, MIN_REPLY_LEN, OPTIONS_START, SNAME_LEN, code};
use crate::dhcp::binding::HwAddr;

/// A fixed-size, NUL-padded header field: `sname` (64) or `file` (128).
/// Only [`BootField::new`] makes one, and it refuses values that do not fit,
/// so encoding never has to truncate or panic (checklist item 22).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BootField<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

/// The `sname` field (server host name, RFC 2131 §2).
pub type Sname = BootField<SNAME_LEN>;
/// The `file` field (boot file name, RFC 2131 §2).
pub type BootFile = BootField<FILE_LEN>;

impl<const N: usize> BootField<N> {
    /// An all-zero field.
    pub const fn empty() -> Self {
        BootField {
            bytes: [0; N],
            len: 0,
        }
    }

    /// `value` exactly, NUL-padded; up to `N` bytes (a full field has no
    /// terminating NUL, which clients accept).
    pub fn new(value: &[u8]) -> Result<Self, FieldTooLong> {
        let mut bytes = [0u8; N];
        let dst = bytes.get_mut(..value.len()).ok_or(FieldTooLong {
            field: Self::NAME,
            len: value.len(),
            max: N,
        })?;
        dst.copy_from_slice(value);
        Ok(BootField {
            bytes,
            len: value.len(),
        })
    }

    const NAME: &'static str = if N == SNAME_LEN { "sname" } else { "file" };

    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole field as sent, NUL-padded.
    pub fn padded(&self) -> &[u8; N] {
        &self.bytes
    }
}

impl<const N: usize> Default for BootField<N> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<const N: usize> fmt::Debug for BootField<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.as_bytes().escape_ascii())
    }
}

/// A boot field value longer than the field: a configuration error, to be
/// reported at config load (`hamasq --test`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldTooLong {
    pub field: &'static str,
    pub len: usize,
    pub max: usize,
}

impl fmt::Display for FieldTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "configuration error: the {} value is {} bytes, but the BOOTP `{}` field holds \
             at most {} (RFC 2131 §2)",
            self.field, self.len, self.field, self.max
        )
    }
}

impl std::error::Error for FieldTooLong {}

/// A reply to send: op = BOOTREPLY, hops = 0 and secs = 0 are implied (RFC
/// 2131 §4.1, Table 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub xid: u32,
    /// Copied from the request; set [`super::FLAG_BROADCAST`] for a NAK
    /// through a relay (RFC 2131 §4.3.2).
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    /// Next server (TFTP), RFC 2131 §2.
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: HwAddr,
    pub sname: Sname,
    pub file: BootFile,
    /// In priority order: when the reply is too big, options go from the end
    /// (mandatory ones excepted). Each code at most once; 0, 52 and 255 are
    /// the encoder's own. Option 82 is written last wherever it is here.
    pub options: Vec<(u8, Vec<u8>)>,
}

impl Reply {
    /// A reply to `req` with the fields RFC 2131 Table 3 copies from the
    /// request (`xid`, `flags`, `giaddr`, `chaddr`); the addresses, boot
    /// fields and options are the caller's to fill.
    pub fn for_request(req: &Packet) -> Reply {
        Reply {
            xid: req.xid,
            flags: req.flags,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: req.giaddr,
            chaddr: req.chaddr,
            sname: Sname::empty(),
            file: BootFile::empty(),
            options: Vec::new(),
        }
    }
}

/// Why a reply could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// The caller listed pad, end or overload, which the encoder writes
    /// itself: a bug in the caller.
    ReservedCode { code: u8 },
    /// The caller listed a code twice: a bug in the caller (RFC 3396 would
    /// make the client join the two values).
    DuplicateCode { code: u8 },
    /// `max_len` below the 300-byte BOOTP minimum: a bug in the caller.
    MaxLenTooSmall { max_len: usize },
    /// The mandatory options alone (53, 54, 51, 1, 61, 82) exceed `max_len`.
    /// Usually the peer's doing (a huge client id or relay agent option with
    /// a small maximum message size): drop the request and count it.
    MandatoryTooLarge { need: usize, max_len: usize },
}

impl EncodeError {
    /// A short stable name, for a counter label and the log's `reason=`.
    pub fn reason(&self) -> &'static str {
        match self {
            EncodeError::ReservedCode { .. } => "reserved_code",
            EncodeError::DuplicateCode { .. } => "duplicate_code",
            EncodeError::MaxLenTooSmall { .. } => "max_len_too_small",
            EncodeError::MandatoryTooLarge { .. } => "mandatory_too_large",
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::ReservedCode { code } => write!(
                f,
                "bug in hamasq: reply lists option {code}, which only the encoder writes"
            ),
            EncodeError::DuplicateCode { code } => {
                write!(f, "bug in hamasq: reply lists option {code} twice")
            }
            EncodeError::MaxLenTooSmall { max_len } => write!(
                f,
                "bug in hamasq: reply size limit {max_len} is below the BOOTP minimum of \
                 {MIN_REPLY_LEN} bytes"
            ),
            EncodeError::MandatoryTooLarge { need, max_len } => write!(
                f,
                "reply needs {need} bytes for its mandatory options but the client accepts \
                 {max_len}: the request's client id or relay agent information is too large \
                 for its own maximum message size"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// A set of option codes: the ones [`encode`] dropped to fit.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Dropped {
    bits: [u64; 4],
}

impl Dropped {
    fn insert(&mut self, code: u8) {
        if let Some(w) = self.bits.get_mut(usize::from(code / 64)) {
            *w |= 1 << (code % 64);
        }
    }

    pub fn contains(&self, code: u8) -> bool {
        self.bits
            .get(usize::from(code / 64))
            .is_some_and(|w| w & (1 << (code % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.bits == [0; 4]
    }

    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The codes, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(|&c| self.contains(c))
    }
}

impl fmt::Debug for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Options a reply keeps whatever its size: message type, server id, lease
/// time and subnet mask (RFC 2131 Table 3), and the echoes of client id
/// (RFC 6842) and relay agent information (RFC 3046 §2.2).
pub fn is_mandatory(code: u8) -> bool {
    matches!(
        code,
        code::MESSAGE_TYPE
            | code::SERVER_ID
            | code::LEASE_TIME
            | code::SUBNET_MASK
            | code::CLIENT_ID
            | code::RELAY_AGENT_INFO
    )
}

/// Bytes one option takes on the wire, split per RFC 3396 §5.
fn wire_len(value: &[u8]) -> usize {
    if value.is_empty() {
        2
    } else {
        value.len() + 2 * value.len().div_ceil(255)
    }
}

/// Encodes `reply` into a new buffer of at most `max_len` bytes (the DHCP
/// payload: [`Packet::max_reply_len`], or [`super::DEFAULT_MAX_REPLY_LEN`]).
/// Returns the bytes and the options dropped to fit.
pub fn encode(reply: &Reply, max_len: usize) -> Result<(Vec<u8>, Dropped), EncodeError> {
    let mut out = Vec::new();
    let dropped = encode_into(reply, max_len, &mut out)?;
    Ok((out, dropped))
}

/// [`encode`] into `out`, which is cleared first (reuse it across replies
/// to avoid allocating). On error `out` is left as it was.
pub fn encode_into(
    reply: &Reply,
    max_len: usize,
    out: &mut Vec<u8>,
) -> Result<Dropped, EncodeError> {
    if max_len < MIN_REPLY_LEN {
        return Err(EncodeError::MaxLenTooSmall { max_len });
    }
    let mut seen = Dropped::default();
    let mut total = 0usize;
    for (c, v) in &reply.options {
        let c = *c;
        if matches!(c, code::PAD | code::OVERLOAD | code::END) {
            return Err(EncodeError::ReservedCode { code: c });
        }
        if seen.contains(c) {
            return Err(EncodeError::DuplicateCode { code: c });
        }
        seen.insert(c);
        total += wire_len(v);
    }
    // Room for options: everything but the header, cookie and end option.
    let budget = max_len - OPTIONS_START - 1;
    let mut dropped = Dropped::default();
    if total > budget {
        for (c, v) in reply.options.iter().rev() {
            if total <= budget {
                break;
            }
            if !is_mandatory(*c) {
                dropped.insert(*c);
                total -= wire_len(v);
            }
        }
        if total > budget {
            return Err(EncodeError::MandatoryTooLarge {
                need: OPTIONS_START + total + 1,
                max_len,
            });
        }
    }

    out.clear();
    out.reserve(MIN_REPLY_LEN.max(OPTIONS_START + total + 1));
    let hw = reply.chaddr.as_bytes();
    out.extend_from_slice(&[BOOTREPLY, reply.chaddr.htype, hw.len() as u8, 0]);
    out.extend_from_slice(&reply.xid.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // secs
    out.extend_from_slice(&reply.flags.to_be_bytes());
    for a in [reply.ciaddr, reply.yiaddr, reply.siaddr, reply.giaddr] {
        out.extend_from_slice(&a.octets());
    }
    let mut chaddr = [0u8; 16];
    if let Some(dst) = chaddr.get_mut(..hw.len()) {
        dst.copy_from_slice(hw);
    }
    out.extend_from_slice(&chaddr);
    out.extend_from_slice(&reply.sname.bytes);
    out.extend_from_slice(&reply.file.bytes);
    out.extend_from_slice(&MAGIC_COOKIE);
    let mut relay = None;
    for (c, v) in &reply.options {
        if *c == code::RELAY_AGENT_INFO {
            relay = Some(v);
        } else if !dropped.contains(*c) {
            put_option(out, *c, v);
        }
    }
    if let Some(v) = relay {
        put_option(out, code::RELAY_AGENT_INFO, v);
    }
    out.push(code::END);
    if out.len() < MIN_REPLY_LEN {
        out.resize(MIN_REPLY_LEN, code::PAD);
    }
    Ok(dropped)
}

/// One option, as consecutive instances of at most 255 bytes (RFC 3396 §5).
fn put_option(out: &mut Vec<u8>, code: u8, value: &[u8]) {
    if value.is_empty() {
        out.extend_from_slice(&[code, 0]);
    }
    for chunk in value.chunks(255) {
        out.extend_from_slice(&[code, chunk.len() as u8]);
        out.extend_from_slice(chunk);
    }
}
