//! Client names: option 12 (host name) and option 81 (client FQDN).
//!
//! A name a client sends is hostile input: it ends up in DNS answers, the
//! lease file, the hook's argv/environment and log lines. Nothing here
//! passes client bytes through; every name that leaves this module is a
//! single DNS label of `[a-z0-9-]` (plus, for option 81, an optional
//! domain of such labels), or nothing.
//!
//! # Host name rules ([`sanitize_hostname`])
//!
//! Option 12 is "the name of the client", "may or may not be qualified
//! with the local domain name" (RFC 2132 §3.14), so:
//!
//! 1. The name ends at the first NUL. RFC 2132 §2 tells receivers to drop
//!    trailing NULs; whatever follows an embedded NUL is what a C consumer
//!    would never see, and we do not either.
//! 2. Only the first label counts: everything from the first `.` on is
//!    dropped (the domain is ours to choose, not the client's).
//! 3. Byte by byte: `A-Z` is lower-cased; `a-z`, `0-9` and `-` are kept;
//!    space and `_` become `-` (so "John's iPhone" → `johns-iphone`);
//!    every other byte is dropped: punctuation, shell metacharacters
//!    (`;$(reboot)` → `reboot`), control characters (no forged log lines),
//!    and every byte ≥ 0x80 (invalid UTF-8 needs no special case).
//! 4. Leading and trailing `-` are removed (RFC 952 / RFC 1123 §2.1: a
//!    label neither starts nor ends with a hyphen; RFC 1123 allows a
//!    leading digit). The result is cut to 63 bytes (RFC 1035 §2.3.4) and
//!    trailing `-` removed again.
//! 5. Empty → `None`. So are [`REFUSED_NAMES`]: `localhost` (RFC 6761 §6.3:
//!    it must always mean loopback) and `wpad` / `isatap` (a client naming
//!    itself so would capture proxy auto-discovery: dnsmasq's man page
//!    suggests `dhcp-ignore-names` for `wpad`).
//!
//! # Option 81 (RFC 4702)
//!
//! [`parse_fqdn`] reads the flags (the four low bits S, O, E, N of RFC 4702
//! §2.1; MBZ bits ignored), skips RCODE1/RCODE2 (servers MUST ignore them,
//! §2.2) and decodes the name in the encoding the E bit gives: E=1 is the
//! canonical RFC 1035 wire format without compression (§2.1, §2.3; a name
//! without the terminating root label is a partial name), E=0 the
//! deprecated ASCII form (§2.3.1). The first label goes through the host
//! name rules above; the rest is kept as the client's domain only if every
//! label is a valid lower-cased LDH label. Malformed wire encoding
//! (compression pointers, labels over 63 bytes, truncation, bytes after the
//! root label, over 255 bytes) → `None`.
//!
//! [`fqdn_reply`] builds the server's option 81: RCODE1 = RCODE2 = 255
//! (§2.2: a server SHOULD set them to 255), the name in the encoding the
//! client used (§2.1: "A server MUST use the same encoding as that used by
//! the client"), and flags per §2.1:
//!
//! - `server_updates = true` (the default: hamasq registers the name in its
//!   own DNS, so the client need not update): S=1 ("the server has taken
//!   responsibility for A RR updates"), N=0.
//! - `server_updates = false` (dnsmasq's `dhcp-client-update`: let the
//!   client update e.g. Active Directory itself): S=0, N=0 (we still serve
//!   the name and its PTR in our own view).
//! - O=1 exactly when the S we send differs from the client's S ("A server
//!   MUST set this bit to 1 if the S bit in its reply to the client does not
//!   match the S bit received from the client"). N=1 is never sent, so the
//!   "if N is 1, S MUST be 0" rule cannot be broken.
//!
//! # A client that sends both 12 and 81
//!
//! RFC 4702 §3.1: clients that send option 81 "MUST NOT also send the Host
//! Name option", so such a client is already off-spec and the RFC gives the
//! server no rule. [`client_hostname`] prefers option 81 (the richer
//! option, and dnsmasq's order) and falls back to option 12 when 81 carries
//! no usable name.

/// A label's maximum length (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Names a client may not take (module docs, rule 5).
pub const REFUSED_NAMES: &[&str] = &["localhost", "wpad", "isatap"];

/// Option 81 flag S: the server SHOULD (request) / did (reply) take the A RR update.
pub const FQDN_S: u8 = 0x01;
/// Option 81 flag O: the server overrode the client's S.
pub const FQDN_O: u8 = 0x02;
/// Option 81 flag E: the name is in canonical wire format.
pub const FQDN_E: u8 = 0x04;
/// Option 81 flag N: no DNS updates by the server.
#[cfg(test)]
pub const FQDN_N: u8 = 0x08;

/// Option 12 → a safe, unqualified host name, or `None` (module docs).
pub fn sanitize_hostname(raw: &[u8]) -> Option<String> {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let first = raw[..end].split(|&b| b == b'.').next().unwrap_or(&[]);
    sanitize_label(first)
}

/// Rules 1 and 3-5 on one label.
fn sanitize_label(raw: &[u8]) -> Option<String> {
    let mut s = String::with_capacity(raw.len().min(MAX_LABEL_LEN * 2));
    for &b in raw {
        match b {
            0 => break,
            b'A'..=b'Z' => s.push(char::from(b.to_ascii_lowercase())),
            b'a'..=b'z' | b'0'..=b'9' | b'-' => s.push(char::from(b)),
            b' ' | b'_' => s.push('-'),
            _ => {}
        }
    }
    let t = s.trim_matches('-');
    let t = t[..t.len().min(MAX_LABEL_LEN)].trim_end_matches('-');
    if t.is_empty() || REFUSED_NAMES.contains(&t) {
        None
    } else {
        Some(t.to_string())
    }
}

/// A client's option 81, decoded and sanitised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientFqdn {
    /// The S, O, E and N bits ([`FQDN_S`] ...); MBZ bits cleared.
    pub flags: u8,
    /// Sanitised first label, then `.domain` if the client gave a valid one;
    /// empty if the client sent no usable name (it wants one from us).
    pub name: String,
}

impl ClientFqdn {
    /// The first label ("" if none).
    pub fn host(&self) -> &str {
        self.name.split('.').next().unwrap_or("")
    }

    /// The client's domain, if it sent a valid one.
    #[cfg(test)]
    pub fn domain(&self) -> Option<&str> {
        self.name.split_once('.').map(|(_, d)| d)
    }

    /// E=1: canonical wire format.
    #[cfg(test)]
    pub fn wire_format(&self) -> bool {
        self.flags & FQDN_E != 0
    }
}

/// Decodes option 81's value (module docs); `None` if it is malformed.
pub fn parse_fqdn(data: &[u8]) -> Option<ClientFqdn> {
    let (&flags, rest) = data.split_first()?;
    let name = rest.get(2..)?;
    let flags = flags & 0x0f;
    let labels = if flags & FQDN_E != 0 {
        wire_labels(name)?
    } else {
        ascii_labels(name)
    };
    Some(ClientFqdn {
        flags,
        name: build_name(&labels),
    })
}

/// RFC 1035 §3.1 labels, no compression; a missing root label = partial name.
fn wire_labels(mut b: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut total = 1;
    while let Some((&len, rest)) = b.split_first() {
        if len == 0 {
            return rest.is_empty().then_some(out);
        }
        // 64-255: compression pointers (0xc0) and reserved label types.
        if usize::from(len) > MAX_LABEL_LEN {
            return None;
        }
        let label = rest.get(..usize::from(len))?;
        total += 1 + usize::from(len);
        if total > 255 {
            return None;
        }
        out.push(label);
        b = &rest[usize::from(len)..];
    }
    Some(out)
}

/// The deprecated ASCII form: up to a NUL, one trailing dot allowed.
fn ascii_labels(b: &[u8]) -> Vec<&[u8]> {
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    let b = &b[..end];
    let b = b.strip_suffix(b".").unwrap_or(b);
    if b.is_empty() {
        return Vec::new();
    }
    b.split(|&x| x == b'.').collect()
}

fn build_name(labels: &[&[u8]]) -> String {
    let Some((first, rest)) = labels.split_first() else {
        return String::new();
    };
    let Some(host) = sanitize_label(first) else {
        return String::new();
    };
    match domain_of(rest) {
        Some(d) if host.len() + 1 + d.len() <= 253 => format!("{host}.{d}"),
        _ => host,
    }
}

/// Valid LDH labels, lower-cased and joined; `None` if any is not.
fn domain_of(labels: &[&[u8]]) -> Option<String> {
    if labels.is_empty() {
        return None;
    }
    let mut out = String::new();
    for l in labels {
        let ok = !l.is_empty()
            && l.len() <= MAX_LABEL_LEN
            && l.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && l.first() != Some(&b'-')
            && l.last() != Some(&b'-');
        if !ok {
            return None;
        }
        if !out.is_empty() {
            out.push('.');
        }
        out.extend(l.iter().map(|b| char::from(b.to_ascii_lowercase())));
    }
    Some(out)
}

/// The server's option 81 for a client that sent `req` (module docs):
/// flags, RCODE1 = RCODE2 = 255, then `name` (plus `.domain` if given) in
/// the client's encoding. With a domain the E=1 name is fully qualified;
/// without one it is a partial name (RFC 4702 §2.3). Labels longer than 63
/// bytes are cut and the domain is dropped if the name would exceed 255
/// bytes, so any input gives a well-formed option.
pub fn fqdn_reply(
    req: &ClientFqdn,
    server_updates: bool,
    name: &str,
    domain: Option<&str>,
) -> Vec<u8> {
    let s = if server_updates { FQDN_S } else { 0 };
    let o = if req.flags & FQDN_S != s { FQDN_O } else { 0 };
    let e = req.flags & FQDN_E;
    let mut out = vec![s | o | e, 255, 255];

    let split = |t: &str| -> Vec<Vec<u8>> {
        t.split('.')
            .filter(|l| !l.is_empty())
            .map(|l| l.as_bytes()[..l.len().min(MAX_LABEL_LEN)].to_vec())
            .collect()
    };
    let host = split(name);
    if host.is_empty() {
        // No name to give: a domain alone names nothing.
        return out;
    }
    let dom = domain.map(split).unwrap_or_default();
    let wire_len = |ls: &[Vec<u8>]| ls.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
    let mut labels: Vec<Vec<u8>> = host.iter().chain(dom.iter()).cloned().collect();
    let mut qualified = !dom.is_empty();
    if wire_len(&labels) > 255 {
        labels = host;
        qualified = false;
    }
    while wire_len(&labels) > 255 {
        labels.pop();
    }
    if e != 0 {
        for l in &labels {
            out.push(l.len() as u8);
            out.extend_from_slice(l);
        }
        if qualified {
            out.push(0);
        }
    } else {
        out.extend_from_slice(&labels.join(&b'.'));
    }
    out
}

/// The name a client gave itself: option 81's host label if usable, else
/// option 12 sanitised (module docs, "both 12 and 81").
pub fn client_hostname(opt12: Option<&[u8]>, opt81: Option<&ClientFqdn>) -> Option<String> {
    opt81
        .map(ClientFqdn::host)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .or_else(|| opt12.and_then(sanitize_hostname))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_sanitised() {
        let a63 = "a".repeat(63);
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"laptop", Some("laptop")),
            (b"Laptop.example.com", Some("laptop")),
            (b"DESKTOP-4F2K9QX", Some("desktop-4f2k9qx")),
            (b"John's iPhone", Some("johns-iphone")),
            (b"my_pc", Some("my-pc")),
            (b"-lead-and-trail-", Some("lead-and-trail")),
            (b"--", None),
            (b"", None),
            (b".", None),
            (b".hidden", None),
            (b"1234", Some("1234")),
            (b";$(reboot)", Some("reboot")),
            (b"`id`;rm -rf /", Some("idrm--rf")),
            (b"a|b&c>d<e", Some("abcde")),
            (b"line\r\nINFO fake entry", Some("lineinfo-fake-entry")),
            (b"evil\0.attacker", Some("evil")),
            (b"name\0\0\0", Some("name")),
            (b"\0hidden", None),
            (b"ok\0;$(reboot)", Some("ok")),
            (&[0xff, 0xfe, b'o', b'k'], Some("ok")),
            (&[0xc3, 0x28], None),
            ("J\u{f6}rg".as_bytes(), Some("jrg")),
            (b"localhost", None),
            (b"LocalHost.lan", None),
            (b"WPAD", None),
            (b"isatap", None),
            (b"wpad2", Some("wpad2")),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize_hostname(raw).as_deref(), *want, "{raw:?}");
        }
        assert_eq!(
            sanitize_hostname(&[b'A'; 255]).as_deref(),
            Some(a63.as_str())
        );
        assert_eq!(sanitize_hostname(&[0xff; 255]), None);
        assert_eq!(
            sanitize_hostname(&b"x;".repeat(127)).as_deref(),
            Some(&"x".repeat(63)[..])
        );
        // A cut at 63 never leaves a trailing hyphen.
        let mut edge = vec![b'a'; 62];
        edge.extend_from_slice(b"-b");
        assert_eq!(
            sanitize_hostname(&edge).as_deref(),
            Some(&"a".repeat(62)[..])
        );
    }

    /// Every output of any input is a valid label: a tiny LCG fuzz.
    #[test]
    fn any_bytes_give_a_valid_label_or_none() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..5000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let len = (x >> 56) as usize;
            let mut raw = Vec::with_capacity(len);
            for _ in 0..len {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                raw.push((x >> 33) as u8);
            }
            if let Some(n) = sanitize_hostname(&raw) {
                assert!(!n.is_empty() && n.len() <= 63, "{raw:?} -> {n:?}");
                assert!(
                    n.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                );
                assert!(!n.starts_with('-') && !n.ends_with('-'));
            }
            let mut opt = vec![(x >> 8) as u8, 0, 0];
            opt.extend_from_slice(&raw);
            if let Some(f) = parse_fqdn(&opt) {
                assert!(f.name.len() <= 253);
                assert!(
                    f.name.bytes().all(|b| b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b"-.".contains(&b))
                );
                let reply = fqdn_reply(&f, true, &f.name.clone(), Some("lan"));
                assert!(reply.len() <= 3 + 255);
            }
        }
    }

    fn wire(labels: &[&str], root: bool) -> Vec<u8> {
        let mut v = Vec::new();
        for l in labels {
            v.push(l.len() as u8);
            v.extend_from_slice(l.as_bytes());
        }
        if root {
            v.push(0);
        }
        v
    }

    fn opt81(flags: u8, name: &[u8]) -> Vec<u8> {
        let mut v = vec![flags, 0, 0];
        v.extend_from_slice(name);
        v
    }

    type Parsed<'a> = Option<(u8, &'a str)>;

    #[test]
    fn fqdn_parses_both_encodings() {
        let cases: Vec<(Vec<u8>, Parsed)> = vec![
            // E=1, fully qualified and partial.
            (
                opt81(0x05, &wire(&["Laptop", "Example", "com"], true)),
                Some((0x05, "laptop.example.com")),
            ),
            (
                opt81(0x04, &wire(&["laptop"], false)),
                Some((0x04, "laptop")),
            ),
            (
                opt81(0x04, &wire(&["laptop"], true)),
                Some((0x04, "laptop")),
            ),
            (opt81(0x04, b""), Some((0x04, ""))),
            (
                opt81(0x0c, &wire(&[";$(reboot)", "lan"], true)),
                Some((0x0c, "reboot.lan")),
            ),
            (
                opt81(0x04, &wire(&["host", "l;n"], true)),
                Some((0x04, "host")),
            ),
            (
                opt81(0x04, &wire(&["host", "-lan"], true)),
                Some((0x04, "host")),
            ),
            (
                opt81(0x04, &wire(&["localhost", "lan"], true)),
                Some((0x04, "")),
            ),
            (opt81(0xf5, &wire(&["a"], true)), Some((0x05, "a"))),
            // E=1 malformed.
            (opt81(0x04, &[0xc0, 0x0c]), None),
            (opt81(0x04, &[64]), None),
            (opt81(0x04, &[10, b'a']), None),
            (opt81(0x04, &[1, b'a', 0, 5]), None),
            (opt81(0x04, &[63; 300]), None),
            (vec![0x04, 0], None),
            (vec![], None),
            // E=0, the deprecated ASCII form.
            (
                opt81(0x01, b"Laptop.Example.com"),
                Some((0x01, "laptop.example.com")),
            ),
            (opt81(0x00, b"laptop.lan.\0"), Some((0x00, "laptop.lan"))),
            (opt81(0x00, b"laptop"), Some((0x00, "laptop"))),
            (opt81(0x00, b""), Some((0x00, ""))),
            (opt81(0x00, b"x;$(reboot).lan"), Some((0x00, "xreboot.lan"))),
            (opt81(0x00, &[0xff, b'a', b'.', 0xff]), Some((0x00, "a"))),
            (opt81(0x00, b"a..b"), Some((0x00, "a"))),
        ];
        for (data, want) in cases {
            let got = parse_fqdn(&data).map(|f| (f.flags, f.name));
            assert_eq!(got, want.map(|(f, n)| (f, n.to_string())), "{data:?}");
        }
        let f = parse_fqdn(&opt81(0x05, &wire(&["pc", "lan"], true))).unwrap();
        assert_eq!(
            (f.host(), f.domain(), f.wire_format()),
            ("pc", Some("lan"), true)
        );
    }

    #[test]
    fn fqdn_reply_flags() {
        // (client flags, server_updates) -> reply flags.
        let cases: &[(u8, bool, u8)] = &[
            (FQDN_E, true, FQDN_E | FQDN_S | FQDN_O), // client S=0: we override
            (FQDN_E | FQDN_S, true, FQDN_E | FQDN_S), // client asked us: no override
            (FQDN_E | FQDN_N, true, FQDN_E | FQDN_S | FQDN_O), // client asked for no updates
            (0, true, FQDN_S | FQDN_O),               // E=0 kept
            (FQDN_S, true, FQDN_S),
            (FQDN_E | FQDN_S, false, FQDN_E | FQDN_O), // dhcp-client-update
            (FQDN_E, false, FQDN_E),
            (FQDN_E | FQDN_O | FQDN_S, true, FQDN_E | FQDN_S), // a client's O is ignored
        ];
        for &(client, updates, want) in cases {
            let req = ClientFqdn {
                flags: client,
                name: "pc".into(),
            };
            let r = fqdn_reply(&req, updates, "pc", None);
            assert_eq!(r[0], want, "client {client:#x} updates {updates}");
            assert_eq!(r[0] & FQDN_N, 0);
            assert_eq!(&r[1..3], &[255, 255]);
        }
    }

    #[test]
    fn fqdn_reply_bytes_and_round_trips() {
        let e1 = parse_fqdn(&opt81(FQDN_E, &wire(&["Laptop"], false))).unwrap();
        assert_eq!(
            fqdn_reply(&e1, true, "laptop", Some("lan")),
            [
                0x07, 255, 255, 6, b'l', b'a', b'p', b't', b'o', b'p', 3, b'l', b'a', b'n', 0
            ]
        );
        assert_eq!(
            fqdn_reply(&e1, true, "laptop", None),
            [0x07, 255, 255, 6, b'l', b'a', b'p', b't', b'o', b'p']
        );
        let e0 = parse_fqdn(&opt81(FQDN_S, b"laptop")).unwrap();
        assert_eq!(
            fqdn_reply(&e0, true, "laptop", Some("lan")),
            b"\x01\xff\xfflaptop.lan"
        );
        assert_eq!(fqdn_reply(&e0, true, "", Some("lan")), [0x01, 255, 255]);

        for req in [e1, e0] {
            let r = fqdn_reply(&req, true, "laptop", Some("home.arpa"));
            let back = parse_fqdn(&r).unwrap();
            assert_eq!(back.name, "laptop.home.arpa");
            assert_eq!(back.flags & FQDN_E, req.flags & FQDN_E);
            assert_eq!(back.flags & FQDN_S, FQDN_S);
        }
    }

    #[test]
    fn fqdn_reply_never_exceeds_255_name_bytes() {
        let req = ClientFqdn {
            flags: FQDN_E,
            name: String::new(),
        };
        let long_label = "x".repeat(100);
        let long_domain = vec!["d".repeat(60); 6].join(".");
        let r = fqdn_reply(&req, true, &long_label, Some(&long_domain));
        // The domain is dropped and the label cut to 63: a partial name.
        assert_eq!(r.len(), 3 + 1 + 63);
        assert_eq!(r[3], 63);
        let many = vec!["a"; 200].join(".");
        let r = fqdn_reply(&req, true, &many, None);
        assert!(r.len() - 3 < 255);
        assert!(parse_fqdn(&r).is_some());
    }

    #[test]
    fn option_81_wins_over_option_12() {
        let f = parse_fqdn(&opt81(FQDN_E, &wire(&["fromfqdn", "lan"], true))).unwrap();
        let empty = parse_fqdn(&opt81(FQDN_E, b"")).unwrap();
        type Case<'a> = (Option<&'a [u8]>, Option<&'a ClientFqdn>, Option<&'a str>);
        let cases: &[Case] = &[
            (Some(b"from12"), Some(&f), Some("fromfqdn")),
            (Some(b"from12"), Some(&empty), Some("from12")),
            (Some(b"from12"), None, Some("from12")),
            (None, Some(&f), Some("fromfqdn")),
            (Some(b";;;"), Some(&empty), None),
            (None, None, None),
        ];
        for (h, q, want) in cases {
            assert_eq!(client_hostname(*h, *q).as_deref(), *want, "{h:?} {q:?}");
        }
    }
}
