//! The round-trip check shared by the unit tests and the fuzz target
//! (`fuzz/fuzz_targets/dhcp_decode_encode.rs`): decode a datagram, echo it
//! as a reply, encode, decode the encoding, and compare. It states the
//! layer's contract as code:
//!
//! * decoding any bytes returns, never panics;
//! * a reply never exceeds the size the client allows, has the cookie, is at
//!   least 300 bytes, ends its options with end, and carries option 82 last;
//! * the encoder drops only non-mandatory options, and only from the end of
//!   the list;
//! * what was encoded decodes to the same fields and options, and encoding
//!   that again gives the same bytes.

use std::fmt;

use super::{
    BootFile, DecodeError, Dropped, EncodeError, MAGIC_COOKIE, MIN_REPLY_LEN, OPTIONS_START,
    Packet, Reply, Sname, code, decode::Area, decode::walk, encode, is_mandatory,
};

/// What [`roundtrip_check`] found, when the layer kept its contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoundTrip {
    /// The input is not a DHCP request: nothing to echo.
    Rejected(DecodeError),
    /// The echo cannot fit the client's size limit even with only the
    /// mandatory options (a legitimate outcome for hostile input).
    Unencodable(EncodeError),
    /// Echoed and checked: the reply's length and what was dropped.
    Checked { len: usize, dropped: Dropped },
}

/// The wire layer broke its own contract: a bug in hamasq, never the
/// peer's fault. The fuzz target panics on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundTripError(String);

impl RoundTripError {
    fn new(msg: String) -> RoundTripError {
        RoundTripError(msg)
    }
}

impl fmt::Display for RoundTripError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bug in hamasq's DHCP wire layer: {}", self.0)
    }
}

impl std::error::Error for RoundTripError {}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(RoundTripError::new(format!($($arg)+)));
        }
    };
}

/// Decodes `bytes`; if it is a request, echoes it as a reply (same header
/// fields, every option but 52, boot fields when not overloaded) within the
/// client's own size limit, and checks the encoding against the contract
/// above.
pub fn roundtrip_check(bytes: &[u8]) -> Result<RoundTrip, RoundTripError> {
    let req = match Packet::decode(bytes) {
        Ok(p) => p,
        Err(e) => {
            // The lenient decoder must not accept what the strict one did not,
            // except for op = 2.
            if let Ok(p) = Packet::decode_any(bytes) {
                ensure!(
                    p.op == super::BOOTREPLY,
                    "decode_any accepted op={} which decode refused ({e})",
                    p.op
                );
            }
            return Ok(RoundTrip::Rejected(e));
        }
    };
    ensure!(
        Packet::decode_any(bytes).as_ref() == Ok(&req),
        "decode_any disagrees with decode"
    );
    let reply = echo(&req)?;
    let max_len = req.max_reply_len();
    let (out, dropped) = match encode(&reply, max_len) {
        Ok(x) => x,
        Err(e @ EncodeError::MandatoryTooLarge { .. }) => return Ok(RoundTrip::Unencodable(e)),
        Err(e) => return Err(RoundTripError::new(format!("echo refused: {e}"))),
    };
    check_encoding(&reply, max_len, &out, dropped)?;
    Ok(RoundTrip::Checked {
        len: out.len(),
        dropped,
    })
}

/// A reply echoing `req`, as described at [`roundtrip_check`].
fn echo(req: &Packet) -> Result<Reply, RoundTripError> {
    let mut reply = Reply::for_request(req);
    reply.ciaddr = req.ciaddr;
    reply.yiaddr = req.requested_ip().unwrap_or(req.yiaddr);
    reply.siaddr = req.siaddr;
    reply.sname = Sname::new(req.sname().unwrap_or(&[]))
        .map_err(|e| RoundTripError::new(format!("decoded sname does not fit: {e}")))?;
    reply.file = BootFile::new(req.file().unwrap_or(&[]))
        .map_err(|e| RoundTripError::new(format!("decoded file does not fit: {e}")))?;
    reply.options = req
        .options()
        .filter(|&(c, _)| c != code::OVERLOAD)
        .map(|(c, v)| (c, v.to_vec()))
        .collect();
    Ok(reply)
}

/// Checks `out`, the encoding of `reply` with `dropped` left out.
pub(super) fn check_encoding(
    reply: &Reply,
    max_len: usize,
    out: &[u8],
    dropped: Dropped,
) -> Result<(), RoundTripError> {
    ensure!(
        out.len() <= max_len,
        "reply is {} bytes, limit {max_len}",
        out.len()
    );
    ensure!(
        out.len() >= MIN_REPLY_LEN,
        "reply is {} bytes, under the BOOTP minimum",
        out.len()
    );
    ensure!(
        out.get(OPTIONS_START - 4..OPTIONS_START) == Some(&MAGIC_COOKIE[..]),
        "reply has no cookie"
    );

    // Dropped: never mandatory, never listed, and only a tail of the
    // non-mandatory options.
    let mut seen_dropped = false;
    for (c, _) in &reply.options {
        let gone = dropped.contains(*c);
        ensure!(!(gone && is_mandatory(*c)), "mandatory option {c} dropped");
        if !is_mandatory(*c) {
            ensure!(
                gone || !seen_dropped,
                "option {c} kept after an earlier one was dropped"
            );
            seen_dropped |= gone;
        }
    }
    ensure!(
        dropped
            .iter()
            .all(|c| reply.options.iter().any(|(o, _)| *o == c)),
        "dropped set {dropped:?} names options the reply did not have"
    );

    // Raw layout: end present, 82 the last option before it.
    let mut last = None;
    let main = out.get(OPTIONS_START..).unwrap_or(&[]);
    let end_seen = walk(main, Area::Options, |c, _| last = Some(c))
        .map_err(|e| RoundTripError::new(format!("own reply does not walk: {e}")))?;
    ensure!(end_seen, "reply has no end option");
    if reply
        .options
        .iter()
        .any(|(c, _)| *c == code::RELAY_AGENT_INFO)
    {
        ensure!(
            last == Some(code::RELAY_AGENT_INFO),
            "option 82 is not last (last is {last:?})"
        );
    }

    // Decoded again: same fields, same options (82 moved last).
    let back = Packet::decode_any(out)
        .map_err(|e| RoundTripError::new(format!("own reply does not decode: {e}")))?;
    ensure!(back.op == super::BOOTREPLY, "op {} in a reply", back.op);
    ensure!(back.hops == 0 && back.secs == 0, "hops/secs not zero");
    ensure!(
        (back.xid, back.flags, back.chaddr) == (reply.xid, reply.flags, reply.chaddr),
        "xid/flags/chaddr changed"
    );
    ensure!(
        [back.ciaddr, back.yiaddr, back.siaddr, back.giaddr]
            == [reply.ciaddr, reply.yiaddr, reply.siaddr, reply.giaddr],
        "addresses changed"
    );
    ensure!(
        back.sname_raw()[..] == reply.sname.padded()[..]
            && back.file_raw()[..] == reply.file.padded()[..],
        "sname/file changed"
    );
    ensure!(back.overload() == 0, "reply claims overload");
    let kept = || {
        let normal = reply
            .options
            .iter()
            .filter(|(c, _)| *c != code::RELAY_AGENT_INFO && !dropped.contains(*c));
        let relay = reply
            .options
            .iter()
            .filter(|(c, _)| *c == code::RELAY_AGENT_INFO);
        normal.chain(relay).map(|(c, v)| (*c, v.as_slice()))
    };
    ensure!(
        back.options().eq(kept()),
        "options changed:\n sent {:?}\n back {:?}",
        kept().collect::<Vec<_>>(),
        back.options().collect::<Vec<_>>()
    );

    // Encoding what came back gives the same bytes.
    let mut again = Reply::for_request(&back);
    (again.ciaddr, again.yiaddr, again.siaddr) = (back.ciaddr, back.yiaddr, back.siaddr);
    (again.sname, again.file) = (reply.sname, reply.file);
    again.options = back.options().map(|(c, v)| (c, v.to_vec())).collect();
    match encode(&again, max_len) {
        Ok((bytes, d)) => {
            ensure!(d.is_empty(), "re-encoding dropped {d:?}");
            ensure!(bytes == out, "re-encoding gave different bytes");
        }
        Err(e) => return Err(RoundTripError::new(format!("re-encoding failed: {e}"))),
    }
    Ok(())
}
