//! Decoding a datagram into a [`Packet`]. The rules, with their RFC
//! sections, are in the [module docs](super).

use std::fmt;
use std::net::Ipv4Addr;

use dhcproto::v4::MessageType;

use super::{
    BOOTREPLY, BOOTREQUEST, CHADDR_AT, FILE_AT, FILE_LEN, FLAG_BROADCAST, HEADER_LEN,
    IP_UDP_OVERHEAD, MAGIC_COOKIE, MIN_MAX_MESSAGE_SIZE, OPTIONS_START, SNAME_AT, SNAME_LEN, code,
};
use crate::dhcp::binding::HwAddr;

/// The field of the packet an option was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Area {
    /// The options field after the cookie.
    Options,
    /// `file`, overloaded by option 52 (RFC 2132 §9.3).
    File,
    /// `sname`, overloaded by option 52.
    Sname,
}

impl Area {
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Options => "options",
            Area::File => "file",
            Area::Sname => "sname",
        }
    }
}

/// Why a datagram was not accepted. Every variant is the sender's fault;
/// the server drops the datagram, counts [`DecodeError::reason`] and goes
/// on serving.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// Shorter than the 236-byte fixed header (RFC 2131 §2).
    Truncated { len: usize },
    /// No magic cookie after the header, or a different one (RFC 2131 §3).
    NoCookie,
    /// `op` is not BOOTREQUEST: a server reply, not for a server to answer.
    NotBootRequest { op: u8 },
    /// `op` is neither BOOTREQUEST nor BOOTREPLY ([`Packet::decode_any`]).
    BadOp { op: u8 },
    /// `hlen` larger than the 16-byte `chaddr` field.
    BadHlen { hlen: u8 },
    /// An option's length byte (or the length byte itself) runs past the end
    /// of the field it is in.
    OptionPastEnd { code: u8, area: Area },
    /// Option 52 not exactly one byte of value 1, 2 or 3 (RFC 2132 §9.3).
    BadOverload,
    /// No option 53: a BOOTP (RFC 951) request, which hamasq does not serve.
    MissingMessageType,
    /// Option 53 not exactly one byte long (RFC 2132 §9.6).
    BadMessageType { len: usize },
}

impl DecodeError {
    /// A short stable name, for a counter label and the log's `reason=`.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::NoCookie => "no_cookie",
            DecodeError::NotBootRequest { .. } => "not_boot_request",
            DecodeError::BadOp { .. } => "bad_op",
            DecodeError::BadHlen { .. } => "bad_hlen",
            DecodeError::OptionPastEnd { .. } => "option_past_end",
            DecodeError::BadOverload => "bad_overload",
            DecodeError::MissingMessageType => "missing_message_type",
            DecodeError::BadMessageType { .. } => "bad_message_type",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed DHCP packet from the sender: ")?;
        match self {
            DecodeError::Truncated { len } => write!(
                f,
                "only {len} bytes, the fixed header alone is {HEADER_LEN} (RFC 2131 §2)"
            ),
            DecodeError::NoCookie => {
                f.write_str("no DHCP magic cookie 99.130.83.99 after the header (RFC 2131 §3)")
            }
            DecodeError::NotBootRequest { op } => write!(
                f,
                "op={op} is not BOOTREQUEST (1); replies are not for a server to answer"
            ),
            DecodeError::BadOp { op } => {
                write!(f, "op={op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)")
            }
            DecodeError::BadHlen { hlen } => write!(
                f,
                "hlen={hlen} does not fit the 16-byte chaddr field (RFC 2131 §2)"
            ),
            DecodeError::OptionPastEnd { code, area } => write!(
                f,
                "option {code} runs past the end of the {} field",
                area.as_str()
            ),
            DecodeError::BadOverload => {
                f.write_str("option 52 is not one byte of 1, 2 or 3 (RFC 2132 §9.3)")
            }
            DecodeError::MissingMessageType => {
                f.write_str("no option 53 (a plain BOOTP request; hamasq serves DHCP only)")
            }
            DecodeError::BadMessageType { len } => {
                write!(f, "option 53 is {len} bytes long, RFC 2132 §9.6 says 1")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Where one option's (concatenated) value sits in [`Packet::data`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    code: u8,
    start: usize,
    len: usize,
}

/// A decoded DHCP message. Header fields are public; options are read
/// through [`Packet::option`] and the typed accessors. Every value is as the
/// sender put it: the server judges meaning, this type only structure.
#[derive(Clone, PartialEq, Eq)]
pub struct Packet {
    /// 1 = BOOTREQUEST, 2 = BOOTREPLY.
    pub op: u8,
    pub hops: u8,
    pub xid: u32,
    pub secs: u16,
    /// All 16 bits as sent; see [`Packet::is_broadcast`].
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    /// `htype` and the first `hlen` bytes of `chaddr`.
    pub chaddr: HwAddr,
    sname: [u8; SNAME_LEN],
    file: [u8; FILE_LEN],
    /// Option 52's value, 0 when absent.
    overload: u8,
    end_seen: bool,
    /// `index[code]` = 1 + position in `opts`, 0 if the code is absent.
    index: [u8; 256],
    opts: Vec<Span>,
    data: Vec<u8>,
}

impl Packet {
    /// Decodes a datagram sent to a server: BOOTREQUEST only.
    pub fn decode(bytes: &[u8]) -> Result<Packet, DecodeError> {
        Packet::decode_inner(bytes, false)
    }

    /// Like [`Packet::decode`] but also accepts BOOTREPLY, for tests and
    /// [`super::roundtrip_check`].
    pub fn decode_any(bytes: &[u8]) -> Result<Packet, DecodeError> {
        Packet::decode_inner(bytes, true)
    }

    fn decode_inner(bytes: &[u8], allow_reply: bool) -> Result<Packet, DecodeError> {
        let Some(head) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(DecodeError::Truncated { len: bytes.len() });
        };
        if bytes.get(HEADER_LEN..OPTIONS_START) != Some(&MAGIC_COOKIE[..]) {
            return Err(DecodeError::NoCookie);
        }
        let op = head[0];
        match op {
            BOOTREQUEST => {}
            BOOTREPLY if allow_reply => {}
            _ if allow_reply => return Err(DecodeError::BadOp { op }),
            _ => return Err(DecodeError::NotBootRequest { op }),
        }
        let hlen = head[2];
        let chaddr = head
            .get(CHADDR_AT..CHADDR_AT + usize::from(hlen))
            .filter(|_| hlen <= 16)
            .and_then(|a| HwAddr::new(head[1], a))
            .ok_or(DecodeError::BadHlen { hlen })?;
        let mut sname = [0u8; SNAME_LEN];
        sname.copy_from_slice(&head[SNAME_AT..SNAME_AT + SNAME_LEN]);
        let mut file = [0u8; FILE_LEN];
        file.copy_from_slice(&head[FILE_AT..FILE_AT + FILE_LEN]);
        let main = bytes.get(OPTIONS_START..).unwrap_or(&[]);

        // Pass 1: validate every field, find option 52, and size each code's
        // concatenated value (RFC 3396) in first-appearance order.
        let mut index = [0u8; 256];
        let mut opts: Vec<Span> = Vec::with_capacity(16);
        let mut overload_len = 0usize;
        let mut overload_seen = false;
        let mut overload = 0u8;
        let mut tally = |c: u8, v: &[u8]| {
            let i = usize::from(index[usize::from(c)]);
            if i == 0 {
                opts.push(Span {
                    code: c,
                    start: 0,
                    len: v.len(),
                });
                // At most 254 distinct codes (1..=254): fits a u8.
                index[usize::from(c)] = opts.len() as u8;
            } else if let Some(s) = opts.get_mut(i - 1) {
                s.len += v.len();
            }
        };
        let end_seen = walk(main, Area::Options, |c, v| {
            if c == code::OVERLOAD {
                overload_seen = true;
                overload_len += v.len();
                overload = v.first().copied().unwrap_or(0);
            }
            tally(c, v);
        })?;
        if overload_seen && (overload_len != 1 || !(1..=3).contains(&overload)) {
            return Err(DecodeError::BadOverload);
        }
        // RFC 3396 order: options field, then file, then sname.
        let extra: [(bool, &[u8], Area); 2] = [
            (overload & 1 != 0, &file, Area::File),
            (overload & 2 != 0, &sname, Area::Sname),
        ];
        for &(used, field, area) in &extra {
            if used {
                walk(field, area, |c, v| {
                    if c != code::OVERLOAD {
                        tally(c, v)
                    }
                })?;
            }
        }
        match index[usize::from(code::MESSAGE_TYPE)] {
            0 => return Err(DecodeError::MissingMessageType),
            i => match opts.get(usize::from(i) - 1) {
                Some(s) if s.len == 1 => {}
                Some(s) => return Err(DecodeError::BadMessageType { len: s.len }),
                None => return Err(DecodeError::MissingMessageType),
            },
        }

        // Pass 2: lay the values out back to back and copy them in. The walk
        // is over the same bytes, so it finds the same instances; the
        // `get_mut`s only keep a logic slip from becoming a panic.
        let mut total = 0usize;
        for s in &mut opts {
            s.start = total;
            total += s.len;
            // Refilled below; ends where pass 1 left it.
            s.len = 0;
        }
        let mut data = vec![0u8; total];
        let mut copy = |c: u8, v: &[u8]| {
            let i = usize::from(index[usize::from(c)]);
            if let Some(s) = i.checked_sub(1).and_then(|i| opts.get_mut(i))
                && let Some(dst) = data.get_mut(s.start + s.len..s.start + s.len + v.len())
            {
                dst.copy_from_slice(v);
                s.len += v.len();
            }
        };
        walk(main, Area::Options, &mut copy)?;
        for &(used, field, area) in &extra {
            if used {
                walk(field, area, |c, v| {
                    if c != code::OVERLOAD {
                        copy(c, v)
                    }
                })?;
            }
        }

        Ok(Packet {
            op,
            hops: head[3],
            xid: u32::from_be_bytes([head[4], head[5], head[6], head[7]]),
            secs: u16::from_be_bytes([head[8], head[9]]),
            flags: u16::from_be_bytes([head[10], head[11]]),
            ciaddr: Ipv4Addr::new(head[12], head[13], head[14], head[15]),
            yiaddr: Ipv4Addr::new(head[16], head[17], head[18], head[19]),
            siaddr: Ipv4Addr::new(head[20], head[21], head[22], head[23]),
            giaddr: Ipv4Addr::new(head[24], head[25], head[26], head[27]),
            chaddr,
            sname,
            file,
            overload,
            end_seen,
            index,
            opts,
            data,
        })
    }

    /// Hardware type (RFC 1700), as sent.
    pub fn htype(&self) -> u8 {
        self.chaddr.htype
    }

    /// Hardware address length, at most 16.
    pub fn hlen(&self) -> u8 {
        self.chaddr.as_bytes().len() as u8
    }

    /// The raw message type byte (option 53); always present after decoding.
    pub fn msg_type_code(&self) -> u8 {
        self.option(code::MESSAGE_TYPE)
            .and_then(|v| v.first().copied())
            .unwrap_or(0)
    }

    /// The message type (option 53). Unknown values come back as
    /// `MessageType::Unknown(n)`: the server decides what to do with them.
    pub fn msg_type(&self) -> MessageType {
        MessageType::from(self.msg_type_code())
    }

    /// The value of option `code`, all its instances concatenated (RFC 3396).
    /// Never `Some` for pad (0) or end (255).
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        let i = usize::from(self.index[usize::from(code)]).checked_sub(1)?;
        let s = self.opts.get(i)?;
        self.data.get(s.start..s.start + s.len)
    }

    /// Every option, in order of first appearance, values concatenated.
    pub fn options(&self) -> impl ExactSizeIterator<Item = (u8, &[u8])> + '_ {
        self.opts.iter().map(|s| {
            let v = self.data.get(s.start..s.start + s.len).unwrap_or(&[]);
            (s.code, v)
        })
    }

    /// Number of distinct option codes.
    pub fn option_count(&self) -> usize {
        self.opts.len()
    }

    /// Option 50 when it is exactly 4 bytes (RFC 2132 §9.1).
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.ipv4_option(code::REQUESTED_IP)
    }

    /// Option 54 when it is exactly 4 bytes (RFC 2132 §9.7).
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        self.ipv4_option(code::SERVER_ID)
    }

    fn ipv4_option(&self, code: u8) -> Option<Ipv4Addr> {
        let v: [u8; 4] = self.option(code)?.try_into().ok()?;
        Some(Ipv4Addr::from(v))
    }

    /// Option 61 exactly as sent, to be compared as an opaque blob and echoed
    /// unaltered (RFC 6842, RFC 4361). Length rules (RFC 2132 §9.14's
    /// minimum of 2) are the caller's to apply.
    pub fn client_id(&self) -> Option<&[u8]> {
        self.option(code::CLIENT_ID)
    }

    /// Option 55 as sent: may hold duplicates, 0 and 255 (checklist item 21),
    /// which the caller must skip. [`super::encode`] refuses 0, 52 and 255.
    pub fn param_request_list(&self) -> Option<&[u8]> {
        self.option(code::PARAMETER_REQUEST_LIST)
    }

    /// Option 57: the largest IP datagram the client accepts, raised to the
    /// RFC 2132 §9.10 minimum of 576. Absent or not 2 bytes: 576.
    pub fn max_message_size(&self) -> usize {
        let announced = self
            .option(code::MAX_MESSAGE_SIZE)
            .and_then(|v| <[u8; 2]>::try_from(v).ok())
            .map(|v| usize::from(u16::from_be_bytes(v)))
            .unwrap_or(0);
        announced.max(MIN_MAX_MESSAGE_SIZE)
    }

    /// The largest DHCP payload a reply may have: [`Packet::max_message_size`]
    /// less the IP and UDP headers (548 by default). Pass it to
    /// [`super::encode`], capped by the interface MTU less 28 if that is
    /// smaller: replies are never fragmented.
    pub fn max_reply_len(&self) -> usize {
        self.max_message_size() - IP_UDP_OVERHEAD
    }

    /// Option 12, raw bytes: untrusted, sanitise before any use.
    pub fn hostname(&self) -> Option<&[u8]> {
        self.option(code::HOSTNAME)
    }

    /// Option 82, raw, to be echoed whole (RFC 3046 §2.2).
    pub fn relay_agent_info(&self) -> Option<&[u8]> {
        self.option(code::RELAY_AGENT_INFO)
    }

    /// The B flag: the client cannot receive unicast before it is configured
    /// (RFC 2131 §4.1).
    pub fn is_broadcast(&self) -> bool {
        self.flags & FLAG_BROADCAST != 0
    }

    /// Option 52's value: 0 = none, 1 = `file`, 2 = `sname`, 3 = both hold
    /// options.
    pub fn overload(&self) -> u8 {
        self.overload
    }

    /// Whether the options field ended with an end option (it need not; see
    /// the module docs).
    pub fn end_seen(&self) -> bool {
        self.end_seen
    }

    /// `sname` up to its first NUL; `None` when empty or when it holds options.
    pub fn sname(&self) -> Option<&[u8]> {
        text_field(&self.sname, self.overload & 2 != 0)
    }

    /// `file` up to its first NUL; `None` when empty or when it holds options.
    pub fn file(&self) -> Option<&[u8]> {
        text_field(&self.file, self.overload & 1 != 0)
    }

    /// The 64 raw bytes of `sname`.
    pub fn sname_raw(&self) -> &[u8; SNAME_LEN] {
        &self.sname
    }

    /// The 128 raw bytes of `file`.
    pub fn file_raw(&self) -> &[u8; FILE_LEN] {
        &self.file
    }
}

fn text_field(field: &[u8], overloaded: bool) -> Option<&[u8]> {
    if overloaded {
        return None;
    }
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    field.get(..end).filter(|v| !v.is_empty())
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Opts<'a>(&'a Packet);
        impl fmt::Debug for Opts<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.options().map(|(c, v)| (c, v.escape_ascii())))
                    .finish()
            }
        }
        f.debug_struct("Packet")
            .field("op", &self.op)
            .field("msg_type", &self.msg_type())
            .field("xid", &format_args!("{:#010x}", self.xid))
            .field("secs", &self.secs)
            .field("flags", &format_args!("{:#06x}", self.flags))
            .field("ciaddr", &self.ciaddr)
            .field("yiaddr", &self.yiaddr)
            .field("siaddr", &self.siaddr)
            .field("giaddr", &self.giaddr)
            .field("chaddr", &self.chaddr)
            .field("overload", &self.overload)
            .field("options", &Opts(self))
            .finish()
    }
}

/// Walks one field's options, calling `f` for each instance (pad and end
/// excluded). Returns whether an end option closed the field.
pub(super) fn walk(
    field: &[u8],
    area: Area,
    mut f: impl FnMut(u8, &[u8]),
) -> Result<bool, DecodeError> {
    let mut i = 0;
    while let Some(&c) = field.get(i) {
        match c {
            code::PAD => i += 1,
            code::END => return Ok(true),
            _ => {
                let past_end = DecodeError::OptionPastEnd { code: c, area };
                let len = usize::from(*field.get(i + 1).ok_or(past_end.clone())?);
                let value = field.get(i + 2..i + 2 + len).ok_or(past_end)?;
                f(c, value);
                i += 2 + len;
            }
        }
    }
    Ok(false)
}
