//! DNS wire helpers for the fast path (design §6): the few header, name and
//! EDNS operations a cache hit needs, done on bytes without building a
//! message.
//!
//! Full decoding, and with it every validation of upstream data, is
//! hickory-proto's job ([`hickory_proto::op::Message`]). These helpers only
//! walk bytes that hickory has already accepted, or read a client query and
//! refuse (with a [`QueryError`]) anything unusual, which then takes the slow
//! path. Every access is bounds-checked: no input panics.

use std::fmt;

/// Length of the fixed header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
/// The UDP payload size we advertise and the most we send over UDP to an
/// EDNS client: DNS Flag Day 2020, dnsmasq's `edns-packet-max` default.
pub const EDNS_UDP_PAYLOAD: u16 = 1232;
/// The UDP limit without EDNS (RFC 1035 §4.2.1), and the floor for a
/// smaller advertised size (RFC 6891 §6.2.5).
pub const PLAIN_UDP_MAX: usize = 512;
/// Longest name in wire form (RFC 1035 §2.3.4).
pub const MAX_NAME_WIRE: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;
/// Longest DNS message (the TCP length prefix is 16 bits, RFC 1035 §4.2.2).
pub const MAX_MESSAGE: usize = 65_535;

/// Header flag bits of the second 16-bit word (RFC 1035 §4.1.1, RFC 4035 §3.2).
pub mod flag {
    pub const QR: u16 = 0x8000;
    pub const OPCODE: u16 = 0x7800;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const Z: u16 = 0x0040;
    pub const AD: u16 = 0x0020;
    pub const CD: u16 = 0x0010;
    pub const RCODE: u16 = 0x000F;
}

/// Header field offsets.
pub mod at {
    pub const ID: usize = 0;
    pub const FLAGS: usize = 2;
    pub const QDCOUNT: usize = 4;
    pub const ANCOUNT: usize = 6;
    pub const NSCOUNT: usize = 8;
    pub const ARCOUNT: usize = 10;
}

/// The record types the fast path needs by number.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const OPT: u16 = 41;
    pub const RRSIG: u16 = 46;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const MAILB: u16 = 253;
    pub const MAILA: u16 = 254;
    pub const ANY: u16 = 255;
}

/// Class IN.
pub const CLASS_IN: u16 = 1;

/// Response codes the cache handles (RFC 1035 §4.1.1).
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;
}

/// EDNS option code of Extended DNS Errors (RFC 8914 §2).
pub const EDNS_OPTION_EDE: u16 = 15;
/// EDE INFO-CODE 3, "Stale Answer" (RFC 8914 §4.4).
pub const EDE_STALE_ANSWER: u16 = 3;

/// How the answer travels back, which bounds its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

/// A big-endian u16 at `at`, if the buffer holds it.
#[inline]
pub fn get_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// A big-endian u32 at `at`, if the buffer holds it.
#[inline]
pub fn get_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Writes a big-endian u16 at `at`; does nothing out of bounds.
#[inline]
pub fn put_u16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = at.checked_add(2).and_then(|end| b.get_mut(at..end)) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// Writes a big-endian u32 at `at`; does nothing out of bounds.
#[inline]
pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = at.checked_add(4).and_then(|end| b.get_mut(at..end)) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// The position just after the (possibly compressed) name starting at
/// `pos`. Pointers are not followed, so this cannot loop; each step moves
/// forward. `None` for a name running off the buffer, a reserved label type
/// (0x40, 0x80: RFC 6891 §5 deprecates extended labels), or a name longer
/// than 255 octets before its pointer.
pub fn skip_name(buf: &[u8], pos: usize) -> Option<usize> {
    let mut p = pos;
    let mut len = 0usize;
    loop {
        let b = *buf.get(p)?;
        match b & 0xC0 {
            0x00 => {
                let l = b as usize;
                len += l + 1;
                if len > MAX_NAME_WIRE {
                    return None;
                }
                p += 1;
                if l == 0 {
                    return Some(p);
                }
                p += l;
                if p > buf.len() {
                    return None;
                }
            }
            0xC0 => {
                buf.get(p + 1)?;
                return Some(p + 2);
            }
            _ => return None,
        }
    }
}

/// An uncompressed wire name (as in a cache key) in presentation form,
/// lower-case as given, without the trailing dot; bytes outside
/// `[A-Za-z0-9_-]` are escaped `\DDD` so a name in a log line cannot forge
/// anything. The root is "".
pub fn name_text(wire: &[u8]) -> String {
    let mut s = String::with_capacity(wire.len());
    let mut p = 0;
    while let Some(&l) = wire.get(p) {
        if l == 0 || l as usize > MAX_LABEL {
            break;
        }
        let Some(label) = wire.get(p + 1..p + 1 + l as usize) else {
            break;
        };
        if !s.is_empty() {
            s.push('.');
        }
        for &b in label {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                s.push(b as char);
            } else {
                s.push_str(&format!("\\{b:03}"));
            }
        }
        p += 1 + l as usize;
    }
    s
}

/// [`name_text`] of the (possibly compressed) name at `pos` in `msg`,
/// lower-cased; pointers are followed backwards only, so it cannot loop.
pub fn name_text_at(msg: &[u8], pos: usize) -> Option<String> {
    let mut wire = Vec::with_capacity(64);
    let mut p = pos;
    loop {
        let b = *msg.get(p)?;
        match b & 0xC0 {
            0x00 => {
                let l = b as usize;
                wire.extend_from_slice(msg.get(p..p + 1 + l)?);
                if wire.len() > MAX_NAME_WIRE {
                    return None;
                }
                if l == 0 {
                    break;
                }
                p += 1 + l;
            }
            0xC0 => {
                let target = (get_u16(msg, p)? & 0x3FFF) as usize;
                if target >= p {
                    return None;
                }
                p = target;
            }
            _ => return None,
        }
    }
    wire.make_ascii_lowercase();
    Some(name_text(&wire))
}

/// Where the parts of one resource record sit in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordPos {
    /// The owner name's first byte.
    pub start: usize,
    pub rtype: u16,
    pub class: u16,
    /// The TTL field's first byte.
    pub ttl_at: usize,
    pub ttl: u32,
    pub rdata_at: usize,
    pub rdlen: usize,
    /// Just past the RDATA.
    pub end: usize,
}

/// Walks one resource record (RFC 1035 §4.1.3) at `pos`.
pub fn walk_record(buf: &[u8], pos: usize) -> Option<RecordPos> {
    let fixed = skip_name(buf, pos)?;
    let rtype = get_u16(buf, fixed)?;
    let class = get_u16(buf, fixed + 2)?;
    let ttl = get_u32(buf, fixed + 4)?;
    let rdlen = get_u16(buf, fixed + 8)? as usize;
    let rdata_at = fixed + 10;
    let end = rdata_at + rdlen;
    if end > buf.len() {
        return None;
    }
    Some(RecordPos {
        start: pos,
        rtype,
        class,
        ttl_at: fixed + 4,
        ttl,
        rdata_at,
        rdlen,
        end,
    })
}

/// The EDNS(0) parameters of a client query (RFC 6891 §6.1.2-6.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns0 {
    /// The requestor's UDP payload size, as sent.
    pub payload: u16,
    pub version: u8,
    /// The DO bit (RFC 3225 §3).
    pub dnssec_ok: bool,
}

/// Why a client query cannot take the fast path. Not necessarily an error:
/// the slow path answers several of these (FORMERR, BADVERS, NOTIMP, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// Shorter than a header and a question.
    Short,
    /// QR=1: a response, not a query.
    NotQuery,
    /// An opcode other than QUERY.
    Opcode,
    /// QDCOUNT is not 1, or an answer or authority section is present.
    Counts,
    /// The question name is compressed, too long or runs off the packet.
    Name,
    /// An additional record that is not a single well-formed OPT (TSIG,
    /// several OPTs, ...).
    Additional,
    /// An EDNS version we do not speak: the slow path answers BADVERS
    /// (RFC 6891 §6.1.3).
    EdnsVersion,
    /// Bytes after the last record.
    Trailing,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueryError::Short => "short",
            QueryError::NotQuery => "not_query",
            QueryError::Opcode => "opcode",
            QueryError::Counts => "counts",
            QueryError::Name => "name",
            QueryError::Additional => "additional",
            QueryError::EdnsVersion => "edns_version",
            QueryError::Trailing => "trailing",
        })
    }
}

/// Most bytes of a cache key: name, type, class, DO.
pub const KEY_MAX: usize = MAX_NAME_WIRE + 5;

/// A client query, read in place for the fast path.
///
/// Holds the cache key (lower-cased wire QNAME, QTYPE, QCLASS, DO) in a
/// fixed array, so reading a query allocates nothing.
#[derive(Clone)]
pub struct QueryView {
    pub id: u16,
    pub flags: u16,
    /// Offset just past the question (QNAME, QTYPE, QCLASS).
    pub question_end: usize,
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns0>,
    key: [u8; KEY_MAX],
    key_len: usize,
}

impl fmt::Debug for QueryView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryView")
            .field("id", &self.id)
            .field("flags", &self.flags)
            .field("qtype", &self.qtype)
            .field("qclass", &self.qclass)
            .field("edns", &self.edns)
            .field("key", &self.key())
            .finish()
    }
}

impl QueryView {
    /// Reads a query: header, exactly one question with an uncompressed
    /// name, no answer or authority records, and at most one additional
    /// record, which must be an OPT with version 0.
    pub fn parse(buf: &[u8]) -> Result<QueryView, QueryError> {
        if buf.len() < HEADER_LEN + 5 {
            return Err(QueryError::Short);
        }
        let id = get_u16(buf, at::ID).ok_or(QueryError::Short)?;
        let flags = get_u16(buf, at::FLAGS).ok_or(QueryError::Short)?;
        if flags & flag::QR != 0 {
            return Err(QueryError::NotQuery);
        }
        if flags & flag::OPCODE != 0 {
            return Err(QueryError::Opcode);
        }
        let counts = (
            get_u16(buf, at::QDCOUNT),
            get_u16(buf, at::ANCOUNT),
            get_u16(buf, at::NSCOUNT),
            get_u16(buf, at::ARCOUNT),
        );
        let arcount = match counts {
            (Some(1), Some(0), Some(0), Some(ar)) => ar,
            _ => return Err(QueryError::Counts),
        };
        // Find the end of the (uncompressed) name, then copy and lower-case
        // it in one go: length bytes are at most 63, below 'A', so
        // lower-casing leaves them alone.
        let mut p = HEADER_LEN;
        loop {
            let l = *buf.get(p).ok_or(QueryError::Name)? as usize;
            if l > MAX_LABEL {
                // Also rejects pointers (0xC0) and the reserved types.
                return Err(QueryError::Name);
            }
            p += 1 + l;
            if p - HEADER_LEN > MAX_NAME_WIRE {
                return Err(QueryError::Name);
            }
            if l == 0 {
                break;
            }
        }
        let n = p - HEADER_LEN;
        let mut key = [0u8; KEY_MAX];
        let name = buf.get(HEADER_LEN..p).ok_or(QueryError::Name)?;
        key[..n].copy_from_slice(name);
        key[..n].make_ascii_lowercase();
        let qtype = get_u16(buf, p).ok_or(QueryError::Short)?;
        let qclass = get_u16(buf, p + 2).ok_or(QueryError::Short)?;
        let question_end = p + 4;
        let mut edns = None;
        let mut end = question_end;
        match arcount {
            0 => {}
            1 => {
                let r = walk_record(buf, question_end).ok_or(QueryError::Additional)?;
                if r.rtype != rtype::OPT || buf.get(r.start) != Some(&0) {
                    return Err(QueryError::Additional);
                }
                let version = (r.ttl >> 16) as u8;
                if version != 0 {
                    return Err(QueryError::EdnsVersion);
                }
                edns = Some(Edns0 {
                    payload: r.class,
                    version,
                    dnssec_ok: r.ttl & 0x8000 != 0,
                });
                end = r.end;
            }
            _ => return Err(QueryError::Additional),
        }
        if end != buf.len() {
            return Err(QueryError::Trailing);
        }
        key[n..n + 2].copy_from_slice(&qtype.to_be_bytes());
        key[n + 2..n + 4].copy_from_slice(&qclass.to_be_bytes());
        key[n + 4] = edns.is_some_and(|e| e.dnssec_ok) as u8;
        Ok(QueryView {
            id,
            flags,
            question_end,
            qtype,
            qclass,
            edns,
            key,
            key_len: n + 5,
        })
    }

    /// The cache key: lower-cased wire QNAME, QTYPE, QCLASS, DO.
    pub fn key(&self) -> &[u8] {
        &self.key[..self.key_len]
    }

    /// The lower-cased QNAME in wire form.
    pub fn name(&self) -> &[u8] {
        &self.key[..self.key_len - 5]
    }

    /// The key of a name-wide NXDOMAIN for this question: QTYPE 0
    /// (RFC 2308 §5: NXDOMAIN is cached per name, for all types).
    pub fn nxdomain_key(&self) -> ([u8; KEY_MAX], usize) {
        let mut k = self.key;
        let n = self.key_len - 5;
        k[n] = 0;
        k[n + 1] = 0;
        (k, self.key_len)
    }

    pub fn dnssec_ok(&self) -> bool {
        self.edns.is_some_and(|e| e.dnssec_ok)
    }

    pub fn recursion_desired(&self) -> bool {
        self.flags & flag::RD != 0
    }

    /// Largest response we may send back (RFC 1035 §4.2.1, RFC 6891 §6.2.5,
    /// capped at [`EDNS_UDP_PAYLOAD`] to avoid IP fragmentation).
    pub fn response_limit(&self, transport: Transport) -> usize {
        response_limit(transport, self.edns.map(|e| e.payload))
    }
}

/// Largest response for a transport and the client's advertised EDNS UDP
/// payload size (`None` without EDNS).
pub fn response_limit(transport: Transport, edns_payload: Option<u16>) -> usize {
    match (transport, edns_payload) {
        (Transport::Tcp, _) => MAX_MESSAGE,
        (Transport::Udp, None) => PLAIN_UDP_MAX,
        (Transport::Udp, Some(p)) => (p as usize).clamp(PLAIN_UDP_MAX, EDNS_UDP_PAYLOAD as usize),
    }
}

/// Bytes of the OPT record [`push_opt`] appends.
pub fn opt_len(ede: Option<u16>) -> usize {
    11 + if ede.is_some() { 6 } else { 0 }
}

/// Appends our OPT record (RFC 6891 §6.1.2): root owner, payload
/// [`EDNS_UDP_PAYLOAD`], version 0, the client's DO bit copied (RFC 3225
/// §3), and optionally one Extended DNS Error with no EXTRA-TEXT
/// (RFC 8914 §2). The caller bumps ARCOUNT.
pub fn push_opt(out: &mut Vec<u8>, dnssec_ok: bool, ede: Option<u16>) {
    out.push(0);
    out.extend_from_slice(&rtype::OPT.to_be_bytes());
    out.extend_from_slice(&EDNS_UDP_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // extended RCODE, version
    out.extend_from_slice(&(if dnssec_ok { 0x8000u16 } else { 0 }).to_be_bytes());
    match ede {
        None => out.extend_from_slice(&[0, 0]),
        Some(code) => {
            out.extend_from_slice(&6u16.to_be_bytes());
            out.extend_from_slice(&EDNS_OPTION_EDE.to_be_bytes());
            out.extend_from_slice(&2u16.to_be_bytes());
            out.extend_from_slice(&code.to_be_bytes());
        }
    }
}

/// Compares the uncompressed name at `pos` with a lower-case wire name,
/// ignoring ASCII case (RFC 4343 §3). Returns the position after the name.
pub fn match_name_lower(buf: &[u8], pos: usize, lower: &[u8]) -> Option<usize> {
    let end = pos.checked_add(lower.len())?;
    let got = buf.get(pos..end)?;
    let mut i = 0;
    while i < lower.len() {
        let l = got[i];
        if l != lower[i] || l as usize > MAX_LABEL {
            return None;
        }
        let label_end = i + 1 + l as usize;
        if label_end > lower.len() {
            return None;
        }
        if !got[i + 1..label_end].eq_ignore_ascii_case(&lower[i + 1..label_end]) {
            return None;
        }
        if l == 0 {
            return (label_end == lower.len()).then_some(end);
        }
        i = label_end;
    }
    None
}

/// Lower-case wire form of a presentation name (`"Example.COM"`,
/// trailing dot optional), for keys and tests. `None` for an empty label,
/// a label over 63 octets or a name over 255.
pub fn wire_name(text: &str) -> Option<Vec<u8>> {
    let t = text.strip_suffix('.').unwrap_or(text);
    let mut out = Vec::with_capacity(t.len() + 2);
    if !t.is_empty() {
        for label in t.split('.') {
            if label.is_empty() || label.len() > MAX_LABEL {
                return None;
            }
            out.push(label.len() as u8);
            out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }
    out.push(0);
    (out.len() <= MAX_NAME_WIRE).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::dns_query;

    #[test]
    fn parses_a_plain_query_and_lowercases_the_key() {
        let q = QueryView::parse(&dns_query(0x1234, "WwW.Example.COM", 1u16).bytes()).unwrap();
        assert_eq!(q.id, 0x1234);
        assert!(q.recursion_desired());
        assert_eq!(q.name(), &wire_name("www.example.com").unwrap()[..]);
        assert_eq!(q.qtype, 1);
        assert_eq!(q.edns, None);
        assert_eq!(q.response_limit(Transport::Udp), 512);
        assert_eq!(q.response_limit(Transport::Tcp), 65_535);
        let k = q.key();
        assert_eq!(&k[k.len() - 5..], &[0, 1, 0, 1, 0]);
    }

    #[test]
    fn reads_edns_and_clamps_the_payload() {
        let q = QueryView::parse(
            &dns_query(0x1234, "a.example", 28u16)
                .edns(4096, true)
                .bytes(),
        )
        .unwrap();
        assert_eq!(
            q.edns,
            Some(Edns0 {
                payload: 4096,
                version: 0,
                dnssec_ok: true
            })
        );
        assert!(q.dnssec_ok());
        assert_eq!(q.response_limit(Transport::Udp), 1232);
        let q = QueryView::parse(
            &dns_query(0x1234, "a.example", 28u16)
                .edns(100, false)
                .bytes(),
        )
        .unwrap();
        assert_eq!(q.response_limit(Transport::Udp), 512);
        assert_eq!(*q.key().last().unwrap(), 0);
    }

    #[test]
    fn refuses_unusual_queries() {
        let good = dns_query(0x1234, "a.example", 1u16)
            .edns(1232, false)
            .bytes();
        let mut resp = good.clone();
        resp[2] |= 0x80;
        assert_eq!(QueryView::parse(&resp).unwrap_err(), QueryError::NotQuery);
        let mut op = good.clone();
        op[2] |= 0x28; // opcode 5 (UPDATE)
        assert_eq!(QueryView::parse(&op).unwrap_err(), QueryError::Opcode);
        let mut two = good.clone();
        two[5] = 2;
        assert_eq!(QueryView::parse(&two).unwrap_err(), QueryError::Counts);
        let mut ver = good.clone();
        let v = ver.len() - 5;
        ver[v] = 1;
        assert_eq!(QueryView::parse(&ver).unwrap_err(), QueryError::EdnsVersion);
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            QueryView::parse(&trailing).unwrap_err(),
            QueryError::Trailing
        );
        let mut ptr = dns_query(0x1234, "a.example", 1u16).bytes();
        ptr[12] = 0xC0;
        ptr[13] = 12;
        assert!(QueryView::parse(&ptr).is_err());
        for n in 0..good.len() {
            assert!(QueryView::parse(&good[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn long_names_are_bounded() {
        let l63 = "a".repeat(63);
        let ok = format!("{l63}.{l63}.{l63}.{}", "b".repeat(61)); // 255 octets
        assert!(QueryView::parse(&dns_query(0x1234, &ok, 1u16).bytes()).is_ok());
        let too_long = format!("{l63}.{l63}.{l63}.{}", "b".repeat(62));
        assert_eq!(
            QueryView::parse(&dns_query(0x1234, &too_long, 1u16).bytes()).unwrap_err(),
            QueryError::Name
        );
        assert!(wire_name(&ok).is_some());
        assert!(wire_name(&too_long).is_none());
        assert!(wire_name(&"x".repeat(64)).is_none());
        let label64 = dns_query(0x1234, &"x".repeat(64), 1u16).bytes();
        assert_eq!(QueryView::parse(&label64).unwrap_err(), QueryError::Name);
        // A bitstring label (0x41) is not a length.
        let mut bits = dns_query(0x1234, "a.example", 1u16).bytes();
        bits[12] = 0x41;
        assert_eq!(QueryView::parse(&bits).unwrap_err(), QueryError::Name);
        assert_eq!(wire_name(".").unwrap(), vec![0]);
    }

    #[test]
    fn skip_name_never_loops_or_overruns() {
        // A self-pointer is skipped, not followed.
        assert_eq!(skip_name(&[0xC0, 0x00], 0), Some(2));
        assert_eq!(skip_name(&[0xC0], 0), None);
        assert_eq!(skip_name(&[3, b'a', b'b'], 0), None);
        assert_eq!(skip_name(&[0x41, 0], 0), None);
        assert_eq!(skip_name(&[1, b'a', 0], 0), Some(3));
        assert_eq!(skip_name(&[], 0), None);
        assert_eq!(skip_name(&[0], 5), None);
    }

    #[test]
    fn name_match_ignores_case_only() {
        let lower = wire_name("ab.c").unwrap();
        assert_eq!(match_name_lower(b"\x02AB\x01C\x00xx", 0, &lower), Some(6));
        assert_eq!(match_name_lower(b"\x02AX\x01C\x00", 0, &lower), None);
        assert_eq!(match_name_lower(b"\x02AB\x01C", 0, &lower), None);
        assert_eq!(match_name_lower(b"\xC0\x0C", 0, &lower), None);
    }

    #[test]
    fn opt_record_layout() {
        let mut v = Vec::new();
        push_opt(&mut v, true, None);
        assert_eq!(v, [0, 0, 41, 4, 0xD0, 0, 0, 0x80, 0, 0, 0]);
        assert_eq!(v.len(), opt_len(None));
        v.clear();
        push_opt(&mut v, false, Some(EDE_STALE_ANSWER));
        assert_eq!(v.len(), opt_len(Some(3)));
        assert_eq!(&v[9..], &[0, 6, 0, 15, 0, 2, 0, 3]);
    }
}
