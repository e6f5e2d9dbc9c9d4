//! The DHCPv4 wire format: bytes in, [`Packet`] out; [`Reply`] in, bytes
//! out. Sans-IO and pure: no sockets, no clock, no logging, no policy. The
//! server decides what to answer; this module only guarantees that whatever
//! arrives is parsed without a panic and whatever leaves is well-formed.
//!
//! # Decisions, and the RFC text behind each
//!
//! * **Fixed header** (RFC 2131 §2, Figure 1): 236 bytes, then the options
//!   field starting with the magic cookie 99.130.83.99 (RFC 2131 §3, RFC 2132
//!   §2). Fewer than 236 bytes is [`DecodeError::Truncated`]; a missing or
//!   different cookie is [`DecodeError::NoCookie`]: without it the vendor
//!   area is RFC 951 BOOTP "vend" data, not DHCP options.
//! * **op** (RFC 2131 §2): a server only acts on BOOTREQUEST (1);
//!   [`Packet::decode`] refuses anything else with
//!   [`DecodeError::NotBootRequest`] (our own replies looped back by a
//!   bridge, or another server's). [`Packet::decode_any`] also takes
//!   BOOTREPLY (2), for tests and the round-trip check.
//! * **hlen** (RFC 2131 §2: `chaddr` is 16 bytes): `hlen > 16` cannot
//!   describe the field and is [`DecodeError::BadHlen`]. `htype` is not
//!   judged here (RFC 1700 types; `htype = 0` is kept as sent): the identity
//!   rules in [`super::ClientKey`] (RFC 6842, RFC 4361) decide what it means.
//! * **flags** (RFC 2131 §2, Figure 2): only the top bit (B, broadcast) has a
//!   meaning; the others MUST be ignored by servers and are kept as sent so
//!   [`Reply::for_request`] can copy `flags` back (RFC 2131 §4.1, Table 3).
//! * **Options** (RFC 2132 §2): pad (0) is skipped, end (255) ends a field;
//!   any other code has a length byte. An option whose length runs past the
//!   end of its field is [`DecodeError::OptionPastEnd`]: the rest of the
//!   field cannot be trusted, so the whole packet is dropped. A field that
//!   simply runs out without an end option is accepted when its last option
//!   is complete ([`Packet::end_seen`] tells which): RFC 2131 §4.1 asks
//!   senders for an end option, but Kea, ISC dhcpd and dnsmasq all accept
//!   its absence, and refusing it would only lock out odd clients.
//! * **Overload** (RFC 2132 §9.3, RFC 2131 §4.1): option 52 in the options
//!   field says that options continue in `file` (1), `sname` (2) or both (3).
//!   Other lengths or values are [`DecodeError::BadOverload`]. An option 52
//!   inside `file` or `sname` is ignored (it has no meaning there).
//! * **Long options** (RFC 3396 §§5-6): all instances of a code, wherever
//!   they are, are concatenated in the order options field, `file`, `sname`;
//!   the option then sits in the list at the place of its first instance.
//!   This also covers RFC 3396's "split to use overload" case.
//! * **Message type** (RFC 2132 §9.6): option 53 with exactly one byte is
//!   required; without it the packet is plain BOOTP (RFC 951), which hamasq
//!   does not serve ([`DecodeError::MissingMessageType`]); another length is
//!   [`DecodeError::BadMessageType`]. The value is not judged here.
//! * **Maximum message size** (RFC 2132 §9.10, RFC 2131 §2): option 57 counts
//!   the whole IP datagram and is at least 576; a smaller value is raised to
//!   576. The DHCP payload may then be 28 bytes less (20 IP + 8 UDP): 576
//!   gives 548 = 236 + 312 option bytes, RFC 2131 §2's numbers, and the same
//!   arithmetic as ISC dhcpd. [`Packet::max_reply_len`] is that payload size.
//! * **Replies** (RFC 2131 §4.1, Table 3): op = 2, hops = 0, secs = 0; the
//!   cookie; the options in the caller's order, each value over 255 bytes
//!   split into consecutive instances of the same code (RFC 3396 §5); option
//!   82 always last, just before end, as the relay placed it (RFC 3046 §2.1,
//!   echoed by the server §2.2; dnsmasq does the same); end; then zero
//!   padding up to the BOOTP minimum of 300 bytes (RFC 1542 §2.1, RFC 951).
//!   A reply never exceeds the caller's `max_len`: options are dropped from
//!   the end of the list, except the mandatory ones (53, 54, 51, 1, and the
//!   echoes 82 and 61 - RFC 2131 Table 3, RFC 6842, RFC 3046), and the
//!   dropped codes are returned for counting. The encoder never overloads
//!   `file`/`sname`.
//! * **sname / file** (RFC 2131 §2): 64 and 128 bytes. A value that does not
//!   fit is refused when the [`BootField`] is built (a configuration error,
//!   caught at config load), so encoding cannot fail or panic on it. A
//!   128-byte boot file name fills the field with no NUL; clients read the
//!   fixed field, as with ISC dhcpd and dnsmasq.
//!
//! # Why not dhcproto's decoder
//!
//! `dhcproto` 0.15 is used for the message-type vocabulary
//! ([`dhcproto::v4::MessageType`]) and the cookie constant, and the tests
//! check our encodings against its decoder. Its decoders are not used on
//! peer input; the unit test `dhcproto_decoders_are_unsound_on_peer_input`
//! pins each reason:
//! * `v4::Message::decode` accepts `hlen = 255`, after which
//!   `Message::chaddr()` panics (slice past the 16-byte array); the borrowed
//!   `v4::borrowed::Message::chaddr()` panics the same way on a short packet.
//! * It does not check the magic cookie.
//! * `sname`/`file` are cut at the first NUL and dropped entirely when they
//!   have none, so a 128-byte boot file name and overloaded options vanish;
//!   option 52 is not honoured at all.
//! * Options go into a map keyed by code: order is lost, and a repeated
//!   non-adjacent code replaces the earlier value instead of being
//!   concatenated (RFC 3396). The borrowed iterator only joins adjacent
//!   instances.
//! * A typed option that fails to parse (a host name that is not UTF-8)
//!   silently ends option parsing, so option 53 after it is lost; an option
//!   running past the end also ends parsing silently instead of failing.
//! * It `debug_assert!`s the length of options 80, 94 and 152-155: a peer
//!   sending option 94 (PXE clients do) with a wrong length panics it in
//!   debug builds, tests and fuzzing, and is misread in release.
//!
//! Decoding here is one pass over the bytes to size the option arena and one
//! to fill it: two allocations per packet, O(1) lookups by code.

mod check;
mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use check::{RoundTrip, RoundTripError, roundtrip_check};
pub use decode::{Area, DecodeError, Packet};
pub use encode::{
    BootField, BootFile, Dropped, EncodeError, FieldTooLong, Reply, Sname, encode, encode_into,
    is_mandatory,
};

/// The magic cookie that starts the options field (RFC 2131 §3).
pub const MAGIC_COOKIE: [u8; 4] = dhcproto::v4::MAGIC;

/// Bytes before the cookie: op .. file (RFC 2131 §2, Figure 1).
pub const HEADER_LEN: usize = 236;
/// Header plus cookie: where options start.
pub const OPTIONS_START: usize = HEADER_LEN + 4;
/// Length of the `sname` field.
pub const SNAME_LEN: usize = 64;
/// Length of the `file` field.
pub const FILE_LEN: usize = 128;
/// Offset of `chaddr`.
const CHADDR_AT: usize = 28;
/// Offset of `sname`.
const SNAME_AT: usize = 44;
/// Offset of `file`.
const FILE_AT: usize = 108;

/// The smallest BOOTP/DHCP message a server sends (RFC 1542 §2.1).
pub const MIN_REPLY_LEN: usize = 300;
/// The smallest maximum message size a client may announce, as an IP
/// datagram (RFC 2132 §9.10, RFC 2131 §2).
pub const MIN_MAX_MESSAGE_SIZE: usize = 576;
/// IPv4 header (no options) + UDP header: what separates option 57's
/// datagram size from the DHCP payload.
pub const IP_UDP_OVERHEAD: usize = 28;
/// The reply payload every client must accept: 576 - 28 = 548 bytes.
pub const DEFAULT_MAX_REPLY_LEN: usize = MIN_MAX_MESSAGE_SIZE - IP_UDP_OVERHEAD;

/// BOOTREQUEST (RFC 2131 §2).
pub const BOOTREQUEST: u8 = 1;
/// BOOTREPLY (RFC 2131 §2).
pub const BOOTREPLY: u8 = 2;
/// The broadcast bit of `flags` (RFC 2131 §2, Figure 2).
pub const FLAG_BROADCAST: u16 = 0x8000;

/// Option codes this layer itself looks at (RFC 2132 unless noted).
pub mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const HOSTNAME: u8 = 12;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const CLIENT_ID: u8 = 61;
    /// RFC 3046.
    pub const RELAY_AGENT_INFO: u8 = 82;
    /// RFC 3442.
    pub const CLASSLESS_ROUTES: u8 = 121;
    pub const END: u8 = 255;
}
