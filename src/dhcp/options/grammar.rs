//! The `dhcp-option` / `dhcp-option-force` value grammar (see the module
//! doc of [`super`]): tags, the option token, and each kind's values.

use std::net::Ipv4Addr;

use super::encode::*;
use super::table::*;

/// The largest encoded value accepted (RFC 3396 splits values over 255
/// bytes on the wire; this bound only refuses nonsense).
pub const MAX_VALUE_LEN: usize = 1024;

/// One `dhcp-option` / `dhcp-option-force` line, parsed and encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionSpec {
    /// `tag:` names in order; a leading `!` means "sent only without it".
    pub tags: Vec<String>,
    pub code: u8,
    /// The encoded value; empty = no value given (see the module docs).
    pub data: Vec<u8>,
    /// `dhcp-option-force`: sent even if the client did not request it.
    pub force: bool,
}

// ---- parsing ---------------------------------------------------------------

/// Parses one `dhcp-option` (`force = false`) or `dhcp-option-force`
/// (`force = true`) value. The error names the option and the offending
/// part; the caller adds file, line, section and key.
pub fn parse_dhcp_option(value: &str, force: bool) -> Result<OptionSpec, String> {
    let spans = split_commas(value)?;
    let mut tags = Vec::new();
    let mut i = 0;
    let opt_tok = loop {
        let Some(&(s, e)) = spans.get(i) else {
            return Err(
                "no option given; expected [tag:TAG,]OPTION[,VALUE...] with OPTION \
                 option:NAME or a code 1-254"
                    .into(),
            );
        };
        let tok = value[s..e].trim();
        if let Some(t) = strip_prefix_ci(tok, "tag:").or_else(|| strip_prefix_ci(tok, "net:")) {
            tags.push(parse_tag(t)?);
            i += 1;
            continue;
        }
        for p in ["encap:", "vi-encap:", "vendor:"] {
            if strip_prefix_ci(tok, p).is_some() {
                return Err(format!(
                    "{p} (encapsulated vendor options) is not supported; give option 43 as colon \
                     hex instead, e.g. 43,01:04:c0:a8:01:02"
                ));
            }
        }
        if strip_prefix_ci(tok, "set:").is_some() {
            return Err(format!(
                "{tok:?}: set: does not belong in dhcp-option; use tag:NAME to select clients"
            ));
        }
        break tok;
    };
    let code = parse_option_token(opt_tok)?;
    let what = display(code);
    let kind = by_code(code).map(|d| d.kind);
    if let Some(Kind::Refused(why)) = kind {
        return Err(format!("{what} ({code}) cannot be configured: {why}"));
    }
    let rest = spans.get(i + 1).map_or("", |&(s, _)| &value[s..]).trim();
    let toks: Vec<&str> = spans
        .get(i + 1..)
        .unwrap_or(&[])
        .iter()
        .map(|&(s, e)| value[s..e].trim())
        .collect();
    let data = if rest.is_empty() {
        Vec::new()
    } else {
        encode_value(code, kind, &what, rest, &toks)?
    };
    if data.len() > MAX_VALUE_LEN {
        return Err(format!(
            "{what}: the value encodes to {} bytes; the limit is {MAX_VALUE_LEN}",
            data.len()
        ));
    }
    Ok(OptionSpec {
        tags,
        code,
        data,
        force,
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn parse_tag(t: &str) -> Result<String, String> {
    let name = t.strip_prefix('!').unwrap_or(t);
    if name.is_empty() {
        return Err("tag: needs a name, e.g. tag:lan".into());
    }
    if name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(format!(
            "tag {t:?}: a tag is 1-64 letters, digits, '-', '_' or '.' (optionally after '!')"
        ));
    }
    Ok(t.to_string())
}

fn parse_option_token(tok: &str) -> Result<u8, String> {
    if let Some(name) = strip_prefix_ci(tok, "option:") {
        if name.eq_ignore_ascii_case("server-ip-address") {
            return Err(
                "option:server-ip-address is dnsmasq's way to set the BOOTP next-server (siaddr) \
                 header field, not an option; set the boot server address in the boot settings \
                 (option 150 is option:tftp-server-address)"
                    .into(),
            );
        }
        return match by_name(name) {
            Some(d) => Ok(d.code),
            None => Err(match suggest(name) {
                Some(s) => format!("unknown option name {tok:?}; did you mean option:{s}?"),
                None => format!("unknown option name {tok:?}; use option:NAME or a code 1-254"),
            }),
        };
    }
    if strip_prefix_ci(tok, "option6:").is_some() {
        return Err(format!(
            "{tok:?}: hamasq serves DHCPv4 only; option6: is not supported"
        ));
    }
    if tok.is_empty() {
        return Err("no option given; expected option:NAME or a code 1-254".into());
    }
    if !tok.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{tok:?} is not an option; expected option:NAME or a decimal code 1-254"
        ));
    }
    match tok.parse::<u32>() {
        Ok(n) if n <= 255 => Ok(n as u8),
        _ => Err(format!(
            "option code {tok} is out of range; expected 1 to 254"
        )),
    }
}

/// The closest table name within two edits, for "did you mean".
fn suggest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    OPTIONS
        .iter()
        .filter(|d| !matches!(d.kind, Kind::Refused(_)))
        .map(|d| (edit_distance(&lower, &d.name.to_ascii_lowercase()), d.name))
        .filter(|(dist, _)| *dist <= 2)
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() > 64 || b.len() > 64 {
        return usize::MAX;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Byte spans of the comma-separated fields, commas inside quotes kept.
fn split_commas(s: &str) -> Result<Vec<(usize, usize)>, String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
        } else if b == b'"' {
            in_quote = true;
        } else if b == b',' {
            out.push((start, i));
            start = i + 1;
        }
    }
    if in_quote {
        return Err("unterminated quote: a '\"' has no closing '\"'".into());
    }
    out.push((start, s.len()));
    Ok(out)
}

/// A text field: `"quoted"` (escapes `\"`, `\\`) or bare (no quotes).
fn text(what: &str, t: &str) -> Result<String, String> {
    let t = t.trim();
    let Some(inner) = t.strip_prefix('"') else {
        if t.contains('"') {
            return Err(format!(
                "{what}: {t:?} has a stray '\"'; quote the whole value"
            ));
        }
        return Ok(t.to_string());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    loop {
        match chars.next() {
            None => return Err(format!("{what}: {t:?} has no closing '\"'")),
            Some('"') => break,
            Some('\\') => match chars.next() {
                Some(c @ ('"' | '\\')) => out.push(c),
                Some(c) => {
                    out.push('\\');
                    out.push(c);
                }
                None => return Err(format!("{what}: {t:?} has no closing '\"'")),
            },
            Some(c) => out.push(c),
        }
    }
    if !chars.as_str().trim().is_empty() {
        return Err(format!(
            "{what}: {t:?} has text after the closing quote; quote the whole value"
        ));
    }
    Ok(out)
}

fn ascii_text(what: &str, raw: &str) -> Result<Vec<u8>, String> {
    let s = text(what, raw)?;
    if s.is_empty() {
        return Err(format!(
            "{what}: the text is empty; give no value at all to stop sending the option"
        ));
    }
    if let Some(c) = s.chars().find(|c| !c.is_ascii() || c.is_ascii_control()) {
        return Err(format!(
            "{what}: {s:?} contains {c:?}; option text is printable ASCII (RFC 2132 §2)"
        ));
    }
    Ok(s.into_bytes())
}

fn ipv4(what: &str, t: &str) -> Result<Ipv4Addr, String> {
    if t.is_empty() {
        return Err(format!("{what}: an empty field between commas"));
    }
    if t.contains('/') {
        return Err(format!(
            "{what}: {t:?} has a prefix length; routes with prefix lengths go in \
             option:classless-static-route (121)"
        ));
    }
    t.parse()
        .map_err(|_| format!("{what}: {t:?} is not an IPv4 address"))
}

fn ip_list(what: &str, toks: &[&str]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(toks.len() * 4);
    for t in toks {
        out.extend_from_slice(&ipv4(what, t)?.octets());
    }
    Ok(out)
}

fn single<'a>(what: &str, toks: &[&'a str]) -> Result<&'a str, String> {
    match toks {
        [one] => Ok(one),
        _ => Err(format!(
            "{what}: takes one value, got {} ({:?})",
            toks.len(),
            toks.join(",")
        )),
    }
}

/// `(min, max)` of a numeric option; RFC 2132 minimums where it has them.
fn numeric_range(code: u8, kind: Kind) -> (i64, i64) {
    match code {
        22 => (576, 65535),            // RFC 2132 §4.4
        23 | 37 => (1, 255),           // RFC 2132 §4.5, §7.1
        26 => (68, 65535),             // RFC 2132 §5.1
        108 => (300, u32::MAX as i64), // RFC 8925: MIN_V6ONLY_WAIT, clients never wait less
        _ => match kind {
            Kind::U8 => (0, 255),
            Kind::U16 => (0, 65535),
            Kind::I32 => (i32::MIN as i64, i32::MAX as i64),
            _ => (0, u32::MAX as i64),
        },
    }
}

fn number(what: &str, code: u8, kind: Kind, t: &str) -> Result<Vec<u8>, String> {
    let (min, max) = numeric_range(code, kind);
    let n = if kind == Kind::Seconds {
        if t.eq_ignore_ascii_case("infinite") {
            u32::MAX as i64
        } else {
            seconds(t).ok_or_else(|| {
                format!("{what}: {t:?} is not a time; expected seconds, or e.g. 45m, 12h, 2d, 1w")
            })?
        }
    } else {
        let width = match kind {
            Kind::U8 => 'b',
            Kind::U16 => 's',
            _ => 'i',
        };
        let digits = match t.strip_suffix(['b', 's', 'i']) {
            Some(d) if t.ends_with(width) => d,
            Some(_) => {
                return Err(format!(
                    "{what}: the size suffix of {t:?} does not match the option's size"
                ));
            }
            None => t,
        };
        digits
            .parse::<i64>()
            .map_err(|_| format!("{what}: {t:?} is not a whole number; expected {min} to {max}"))?
    };
    if n < min || n > max {
        return Err(format!(
            "{what}: {n} is out of range; expected {min} to {max}"
        ));
    }
    if code == 46 && ![1, 2, 4, 8].contains(&n) {
        return Err(format!(
            "{what}: {n} is not a NetBIOS node type; expected 1 (B), 2 (P), 4 (M) or 8 (H) \
             (RFC 2132 §8.7)"
        ));
    }
    Ok(match kind {
        Kind::U8 => vec![n as u8],
        Kind::U16 => (n as u16).to_be_bytes().to_vec(),
        Kind::I32 => (n as i32).to_be_bytes().to_vec(),
        _ => (n as u32).to_be_bytes().to_vec(),
    })
}

/// `3600`, `45s`, `30m`, `12h`, `2d`, `1w` → seconds (at most u32::MAX).
fn seconds(t: &str) -> Option<i64> {
    let (digits, mult) = match t.as_bytes().last()? {
        b's' | b'S' => (&t[..t.len() - 1], 1),
        b'm' | b'M' => (&t[..t.len() - 1], 60),
        b'h' | b'H' => (&t[..t.len() - 1], 3600),
        b'd' | b'D' => (&t[..t.len() - 1], 86_400),
        b'w' | b'W' => (&t[..t.len() - 1], 604_800),
        _ => (t, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    n.checked_mul(mult).filter(|&v| v <= u32::MAX as i64)
}

fn boolean(what: &str, t: &str) -> Result<Vec<u8>, String> {
    match t.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(vec![1]),
        "0" | "false" | "no" | "off" => Ok(vec![0]),
        _ => Err(format!("{what}: {t:?} is not a flag; expected 0 or 1")),
    }
}

/// `01:02:ab` → bytes; `None` unless every group is one or two hex digits.
fn colon_hex(t: &str) -> Option<Vec<u8>> {
    t.split(':')
        .map(|g| {
            if g.is_empty() || g.len() > 2 {
                None
            } else {
                u8::from_str_radix(g, 16).ok()
            }
        })
        .collect()
}

fn bytes_value(what: &str, rest: &str) -> Result<Vec<u8>, String> {
    if rest.starts_with('"') {
        return Ok(text(what, rest)?.into_bytes());
    }
    colon_hex(rest).ok_or_else(|| {
        format!("{what}: {rest:?} is not colon-separated hex (e.g. 01:04:c0:a8:01:02)")
    })
}

fn encode_value(
    code: u8,
    kind: Option<Kind>,
    what: &str,
    rest: &str,
    toks: &[&str],
) -> Result<Vec<u8>, String> {
    let Some(kind) = kind else {
        return guess(what, rest, toks);
    };
    match kind {
        Kind::Ip => {
            let a = ipv4(what, single(what, toks)?)?;
            if code == 1 && !is_contiguous_mask(a) {
                return Err(format!(
                    "{what}: {a} is not a netmask (its one bits are not contiguous)"
                ));
            }
            Ok(a.octets().to_vec())
        }
        Kind::IpList => ip_list(what, toks),
        Kind::IpPairs => {
            if !toks.len().is_multiple_of(2) {
                return Err(format!(
                    "{what}: takes pairs of addresses ({}), got {} addresses",
                    if code == 33 {
                        "destination,router"
                    } else {
                        "address,mask"
                    },
                    toks.len()
                ));
            }
            let data = ip_list(what, toks)?;
            if code == 33 && data.chunks(8).any(|p| p[..4] == [0, 0, 0, 0]) {
                return Err(format!(
                    "{what}: 0.0.0.0 is not a valid static-route destination (RFC 2132 §5.8); \
                     use option:router, or 0.0.0.0/0 in option:classless-static-route"
                ));
            }
            Ok(data)
        }
        Kind::U8 | Kind::U16 | Kind::U32 | Kind::I32 | Kind::Seconds => {
            number(what, code, kind, single(what, toks)?)
        }
        Kind::Bool => boolean(what, single(what, toks)?),
        Kind::Str => ascii_text(what, rest),
        Kind::Domain => {
            let name = text(what, rest)?;
            let name = name.strip_suffix('.').unwrap_or(&name);
            check_domain(name).map_err(|e| format!("{what}: {e}"))?;
            Ok(name.as_bytes().to_vec())
        }
        Kind::DomainList => {
            let names = toks
                .iter()
                .map(|t| text(what, t))
                .collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            encode_domain_list(&refs).map_err(|e| format!("{what}: {e}"))
        }
        Kind::Sip => {
            let addrs = toks
                .iter()
                .filter(|t| t.parse::<Ipv4Addr>().is_ok())
                .count();
            if addrs == toks.len() {
                let mut out = vec![1];
                out.extend(ip_list(what, toks)?);
                Ok(out)
            } else if addrs == 0 {
                let names = toks
                    .iter()
                    .map(|t| text(what, t))
                    .collect::<Result<Vec<_>, _>>()?;
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let mut out = vec![0];
                out.extend(encode_domain_list(&refs).map_err(|e| format!("{what}: {e}"))?);
                Ok(out)
            } else {
                Err(format!(
                    "{what}: give either addresses or names, not both (RFC 3361 §3)"
                ))
            }
        }
        Kind::Classless => classless_value(what, toks),
        Kind::Bytes => bytes_value(what, rest),
        Kind::HostName => Err(format!(
            "{what}: the host name sent to a client is its reservation's name (dhcp-host); \
             give no value to stop sending it"
        )),
        Kind::Refused(why) => Err(format!("{what} ({code}) cannot be configured: {why}")),
    }
}

fn is_contiguous_mask(a: Ipv4Addr) -> bool {
    let m = u32::from(a);
    m.leading_ones() + m.trailing_zeros() == 32
}

fn classless_value(what: &str, toks: &[&str]) -> Result<Vec<u8>, String> {
    let mut routes = Vec::new();
    let mut it = toks.iter();
    while let Some(dest) = it.next() {
        let Some((addr, width)) = dest.split_once('/') else {
            return Err(format!(
                "{what}: {dest:?} needs a prefix length, e.g. 10.0.0.0/8 (RFC 3442)"
            ));
        };
        let net: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{what}: {addr:?} is not an IPv4 address"))?;
        let width: u8 = match width.parse::<u8>() {
            Ok(w) if w <= 32 && width.bytes().all(|b| b.is_ascii_digit()) => w,
            _ => {
                return Err(format!(
                    "{what}: {dest:?}: the prefix length must be 0 to 32"
                ));
            }
        };
        let Some(router) = it.next() else {
            return Err(format!("{what}: {dest:?} has no router after it"));
        };
        let router = ipv4(what, router)?;
        routes.push((net, width, router));
    }
    encode_classless(&routes).map_err(|e| format!("{what}: {e}"))
}

/// An unknown code's value, guessed like dnsmasq (module docs).
fn guess(what: &str, rest: &str, toks: &[&str]) -> Result<Vec<u8>, String> {
    if toks.iter().all(|t| t.parse::<Ipv4Addr>().is_ok()) {
        return ip_list(what, toks);
    }
    if toks.iter().all(|t| {
        t.split_once('/')
            .is_some_and(|(a, _)| a.parse::<Ipv4Addr>().is_ok())
            || t.parse::<Ipv4Addr>().is_ok()
    }) {
        return Err(format!(
            "{what}: prefix lengths are only understood for option 121 and 249"
        ));
    }
    if let [one] = toks {
        if one.contains(':')
            && let Some(b) = colon_hex(one)
        {
            return Ok(b);
        }
        if let Some(d) = one.strip_suffix(['b', 's', 'i']).or(Some(one))
            && !d.is_empty()
            && d.bytes().all(|b| b.is_ascii_digit())
        {
            let n: u64 = d
                .parse()
                .ok()
                .filter(|&n| n <= u32::MAX as u64)
                .ok_or_else(|| format!("{what}: {one} does not fit in 4 bytes"))?;
            let size = match one.as_bytes().last() {
                Some(b'b') => 1,
                Some(b's') => 2,
                Some(b'i') => 4,
                _ if n > 0xffff => 4,
                _ if n > 0xff => 2,
                _ => 1,
            };
            if n >= 1u64 << (8 * size) {
                return Err(format!("{what}: {n} does not fit in {size} byte(s)"));
            }
            return Ok(n.to_be_bytes()[8 - size..].to_vec());
        }
    }
    ascii_text(what, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::options::encode::decode_classless;
    use crate::dhcp::options::fixtures::*;

    #[test]
    fn each_kind_encodes_exactly() {
        let cases: &[(&str, &[u8])] = &[
            ("option:router,192.168.1.1", &[192, 168, 1, 1]),
            ("3, 10.0.0.1 , 10.0.0.2", &[10, 0, 0, 1, 10, 0, 0, 2]),
            ("option:netmask,255.255.255.0", &[255, 255, 255, 0]),
            ("option:mtu,1500", &[0x05, 0xdc]),
            ("option:mtu,1500s", &[0x05, 0xdc]),
            ("option:default-ttl,64", &[64]),
            ("option:time-offset,-3600", &[0xff, 0xff, 0xf1, 0xf0]),
            ("option:arp-timeout,60", &[0, 0, 0, 60]),
            ("option:T1,1h", &[0, 0, 0x0e, 0x10]),
            ("option:T2,infinite", &[0xff; 4]),
            ("option:ipv6-only,30m", &[0, 0, 0x07, 0x08]),
            ("option:ip-forward-enable,0", &[0]),
            ("option:router-discovery,yes", &[1]),
            ("option:netbios-nodetype,8", &[8]),
            ("option:domain-name,lan.example", b"lan.example"),
            ("option:domain-name,\"lan.example.\"", b"lan.example"),
            ("option:root-path,/srv/nfs", b"/srv/nfs"),
            (
                "option:posix-timezone,EST5EDT,M3.2.0,M11.1.0",
                b"EST5EDT,M3.2.0,M11.1.0",
            ),
            ("option:tftp-server,1.2.3.4", b"1.2.3.4"),
            ("66,\"1.2.3.4\"", b"1.2.3.4"),
            ("67,\"boot\\x64\\wdsnbp.com\"", b"boot\\x64\\wdsnbp.com"),
            ("67,\"say \\\"hi\\\"\"", b"say \"hi\""),
            (
                "option:captive-portal,https://portal.example/api",
                b"https://portal.example/api",
            ),
            (
                "option:domain-search,eng.example.com,example.com",
                b"\x03eng\x07example\x03com\x00\x07example\x03com\x00",
            ),
            ("option:sip-server,10.0.0.5", &[1, 10, 0, 0, 5]),
            (
                "option:sip-server,sip.example",
                b"\x00\x03sip\x07example\x00",
            ),
            (
                "option:static-route,10.1.0.0,10.0.0.1",
                &[10, 1, 0, 0, 10, 0, 0, 1],
            ),
            (
                "option:vendor-encap,01:04:c0:a8:01:02",
                &[1, 4, 192, 168, 1, 2],
            ),
            ("43,\"ab\"", b"ab"),
            ("option:tftp-server-address,10.0.0.9", &[10, 0, 0, 9]),
            // Unknown codes: dnsmasq's guesses.
            ("224,10.0.0.1,10.0.0.2", &[10, 0, 0, 1, 10, 0, 0, 2]),
            ("224,01:02:ab", &[1, 2, 0xab]),
            ("224,5", &[5]),
            ("224,300", &[1, 0x2c]),
            ("224,70000", &[0, 1, 0x11, 0x70]),
            ("224,5i", &[0, 0, 0, 5]),
            ("224,5s", &[0, 5]),
            ("224,\"1.2.3.4\"", b"1.2.3.4"),
            ("252,http://wpad.lan/wpad.dat", b"http://wpad.lan/wpad.dat"),
            ("224,a,b", b"a,b"),
        ];
        for (v, want) in cases {
            assert_eq!(data(v), *want, "{v}");
        }
    }

    #[test]
    fn rfc3442_examples_encode_exactly() {
        let cases: &[(&str, &[u8])] = &[
            ("121,10.0.0.0/8,10.0.0.1", &[8, 10, 10, 0, 0, 1]),
            ("121,0.0.0.0/0,192.168.1.1", &[0, 192, 168, 1, 1]),
            (
                "option:classless-static-route,10.17.0.0/16,10.0.0.1",
                &[16, 10, 17, 10, 0, 0, 1],
            ),
            (
                "121,10.27.129.0/24,10.0.0.1",
                &[24, 10, 27, 129, 10, 0, 0, 1],
            ),
            (
                "121,10.229.0.128/25,10.0.0.1",
                &[25, 10, 229, 0, 128, 10, 0, 0, 1],
            ),
            (
                "121,10.198.122.47/32,10.0.0.1",
                &[32, 10, 198, 122, 47, 10, 0, 0, 1],
            ),
            (
                "121,10.0.0.0/8,10.0.0.1,0.0.0.0/0,10.0.0.254",
                &[8, 10, 10, 0, 0, 1, 0, 10, 0, 0, 254],
            ),
            ("249,10.0.0.0/8,10.0.0.1", &[8, 10, 10, 0, 0, 1]),
        ];
        for (v, want) in cases {
            let d = data(v);
            assert_eq!(d, *want, "{v}");
            assert!(decode_classless(&d).is_some(), "{v}");
        }
    }

    #[test]
    fn errors_name_the_problem_precisely() {
        let cases: &[(&str, &str)] = &[
            (
                "option:router,192.168.1.300",
                "option:router: \"192.168.1.300\" is not an IPv4 address",
            ),
            (
                "option:router,10.0.0.1,,10.0.0.2",
                "option:router: an empty field between commas",
            ),
            (
                "option:netmask,255.0.255.0",
                "option:netmask: 255.0.255.0 is not a netmask (its one bits are not contiguous)",
            ),
            (
                "option:netmask,255.255.255.0,255.255.0.0",
                "option:netmask: takes one value, got 2 (\"255.255.255.0,255.255.0.0\")",
            ),
            (
                "option:mtu,67",
                "option:mtu: 67 is out of range; expected 68 to 65535",
            ),
            (
                "option:mtu,big",
                "option:mtu: \"big\" is not a whole number; expected 68 to 65535",
            ),
            (
                "option:mtu,1500b",
                "option:mtu: the size suffix of \"1500b\" does not match the option's size",
            ),
            (
                "option:default-ttl,0",
                "option:default-ttl: 0 is out of range; expected 1 to 255",
            ),
            (
                "option:ipv6-only,60",
                "option:ipv6-only: 60 is out of range; expected 300 to 4294967295",
            ),
            (
                "option:T1,soon",
                "option:T1: \"soon\" is not a time; expected seconds, or e.g. 45m, 12h, 2d, 1w",
            ),
            (
                "option:T1,8000w",
                "option:T1: \"8000w\" is not a time; expected seconds, or e.g. 45m, 12h, 2d, 1w",
            ),
            (
                "option:netbios-nodetype,3",
                "option:netbios-nodetype: 3 is not a NetBIOS node type; expected 1 (B), 2 (P), 4 (M) or 8 (H) (RFC 2132 §8.7)",
            ),
            (
                "option:ip-forward-enable,2",
                "option:ip-forward-enable: \"2\" is not a flag; expected 0 or 1",
            ),
            (
                "option:classless-static-route,10.0.0.1/8,10.0.0.1",
                "option:classless-static-route: 10.0.0.1/8 has host bits set beyond /8 (did you mean 10.0.0.0/8?)",
            ),
            (
                "121,10.0.0.0/33,10.0.0.1",
                "option:classless-static-route: \"10.0.0.0/33\": the prefix length must be 0 to 32",
            ),
            (
                "121,10.0.0.0,10.0.0.1",
                "option:classless-static-route: \"10.0.0.0\" needs a prefix length, e.g. 10.0.0.0/8 (RFC 3442)",
            ),
            (
                "121,10.0.0.0/8",
                "option:classless-static-route: \"10.0.0.0/8\" has no router after it",
            ),
            (
                "121,10.0.0.0/8,10.0.0.1/32",
                "option:classless-static-route: \"10.0.0.1/32\" has a prefix length; routes with prefix lengths go in option:classless-static-route (121)",
            ),
            (
                "option:router,10.0.0.0/8",
                "option:router: \"10.0.0.0/8\" has a prefix length; routes with prefix lengths go in option:classless-static-route (121)",
            ),
            (
                "option:static-route,10.0.0.0,10.0.0.1,10.1.0.0",
                "option:static-route: takes pairs of addresses (destination,router), got 3 addresses",
            ),
            (
                "option:static-route,0.0.0.0,10.0.0.1",
                "option:static-route: 0.0.0.0 is not a valid static-route destination (RFC 2132 §5.8); use option:router, or 0.0.0.0/0 in option:classless-static-route",
            ),
            (
                "option:domain-search,exa mple.com",
                "option:domain-search: \"exa mple.com\" is not a domain name: label \"exa mple\" contains ' '; use letters, digits, '-' or '_'",
            ),
            (
                "option:domain-search,a..b",
                "option:domain-search: \"a..b\" is not a domain name: has an empty label",
            ),
            (
                "option:domain-name,-bad.example",
                "option:domain-name: \"-bad.example\" is not a domain name: label \"-bad\" starts or ends with '-'",
            ),
            (
                "option:sip-server,10.0.0.1,sip.example",
                "option:sip-server: give either addresses or names, not both (RFC 3361 §3)",
            ),
            (
                "option:vendor-encap,zz:01",
                "option:vendor-encap: \"zz:01\" is not colon-separated hex (e.g. 01:04:c0:a8:01:02)",
            ),
            (
                "option:root-path,\"/srv",
                "unterminated quote: a '\"' has no closing '\"'",
            ),
            (
                "option:root-path,\"/srv\" x",
                "option:root-path: \"\\\"/srv\\\" x\" has text after the closing quote; quote the whole value",
            ),
            (
                "option:root-path,a\"b\"",
                "option:root-path: \"a\\\"b\\\"\" has a stray '\"'; quote the whole value",
            ),
            (
                "option:root-path,\"\"",
                "option:root-path: the text is empty; give no value at all to stop sending the option",
            ),
            (
                "option:root-path,\"caf\u{e9}\"",
                "option:root-path: \"caf\u{e9}\" contains '\u{e9}'; option text is printable ASCII (RFC 2132 §2)",
            ),
            (
                "option:rooter,10.0.0.1",
                "unknown option name \"option:rooter\"; did you mean option:router?",
            ),
            (
                "option:frobnicate,1",
                "unknown option name \"option:frobnicate\"; use option:NAME or a code 1-254",
            ),
            (
                "256,1",
                "option code 256 is out of range; expected 1 to 254",
            ),
            (
                "router,10.0.0.1",
                "\"router\" is not an option; expected option:NAME or a decimal code 1-254",
            ),
            (
                "224,10.0.0.0/8,10.0.0.1",
                "option 224: prefix lengths are only understood for option 121 and 249",
            ),
            (
                "224,99999999999",
                "option 224: 99999999999 does not fit in 4 bytes",
            ),
            ("224,300b", "option 224: 300 does not fit in 1 byte(s)"),
            ("tag:,3,10.0.0.1", "tag: needs a name, e.g. tag:lan"),
            (
                "tag:a b,3,10.0.0.1",
                "tag \"a b\": a tag is 1-64 letters, digits, '-', '_' or '.' (optionally after '!')",
            ),
            (
                "tag:lan",
                "no option given; expected [tag:TAG,]OPTION[,VALUE...] with OPTION option:NAME or a code 1-254",
            ),
            (
                "option:hostname,foo",
                "option:hostname: the host name sent to a client is its reservation's name (dhcp-host); give no value to stop sending it",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(err(v), *want, "{v}");
        }
    }

    #[test]
    fn long_values_are_bounded() {
        let many: Vec<String> = (0..255).map(|i| format!("10.0.{i}.1")).collect();
        let v = format!("option:router,{}", many.join(","));
        assert_eq!(data(&v).len(), 1020);
        let v = format!("option:router,{},10.1.0.1,10.1.0.2", many.join(","));
        assert_eq!(
            err(&v),
            "option:router: the value encodes to 1028 bytes; the limit is 1024"
        );
        // Over 255 is fine (RFC 3396 splits it on the wire).
        let names: Vec<String> = (0..40).map(|i| format!("d{i}.example.com")).collect();
        let d = data(&format!("option:domain-search,{}", names.join(",")));
        assert!(d.len() > 255 && d.len() <= MAX_VALUE_LEN);
        let long_label = "a".repeat(64);
        assert!(err(&format!("option:domain-search,{long_label}.com")).contains("longer than 63"));
    }

    #[test]
    fn tags_and_prefixes() {
        let s = ok("tag:lan,tag:!guest,net:old,option:dns-server,10.0.0.1");
        assert_eq!(s.tags, ["lan", "!guest", "old"]);
        assert_eq!(s.code, 6);
        assert!(!s.force);
        assert!(parse_dhcp_option("TAG:x,3,1.2.3.4", true).unwrap().force);
        for (v, needle) in [
            (
                "encap:175,1,1.2.3.4",
                "encap: (encapsulated vendor options) is not supported",
            ),
            (
                "vi-encap:9,1,1.2.3.4",
                "vi-encap: (encapsulated vendor options)",
            ),
            (
                "vendor:PXEClient,1,0.0.0.0",
                "vendor: (encapsulated vendor options)",
            ),
            ("set:foo,3,1.2.3.4", "set: does not belong in dhcp-option"),
            ("option6:dns-server,[::1]", "DHCPv4 only"),
        ] {
            assert!(err(v).contains(needle), "{v}: {}", err(v));
        }
    }

    #[test]
    fn server_owned_codes_are_refused_with_a_reason() {
        for (v, needle) in [
            (
                "0",
                "option:pad (0) cannot be configured: it is wire framing",
            ),
            (
                "255,1",
                "option:end (255) cannot be configured: it is wire framing",
            ),
            (
                "50,1.2.3.4",
                "option:requested-address (50) cannot be configured: clients send it",
            ),
            (
                "option:lease-time,3600",
                "option:lease-time (51) cannot be configured: the lease time comes from the range or reservation",
            ),
            ("52,3", "option:option-overload (52) cannot be configured"),
            ("53,5", "option:message-type (53) cannot be configured"),
            (
                "54,10.0.0.1",
                "option:server-identifier (54) cannot be configured",
            ),
            (
                "55,1:3",
                "option:parameter-request (55) cannot be configured",
            ),
            ("56,hello", "RFC 2131 Table 3 forbids it in OFFER and ACK"),
            (
                "57,1500",
                "option:max-message-size (57) cannot be configured",
            ),
            ("61,01:02", "RFC 6842"),
            ("80", "RFC 4039"),
            ("81,x", "RFC 4702"),
            ("82,01:02", "RFC 3046"),
            ("118,1.2.3.4", "RFC 3011"),
            ("option:server-ip-address,10.0.0.1", "siaddr"),
        ] {
            let e = err(v);
            assert!(e.contains(needle), "{v}: {e}");
        }
    }

    #[test]
    fn no_value_means_do_not_send_or_empty_by_kind() {
        for v in [
            "option:router",
            "3",
            "option:router,",
            "option:ntp-server",
            "option:hostname",
        ] {
            let s = ok(v);
            assert!(s.data.is_empty(), "{v}");
            assert!(empty_means_do_not_send(s.code), "{v}");
        }
        for v in ["43", "224"] {
            let s = ok(v);
            assert!(s.data.is_empty());
            assert!(!empty_means_do_not_send(s.code), "{v}");
        }
    }

    #[test]
    fn no_panic_on_odd_input() {
        for v in [
            "",
            ",",
            ",,,",
            "\"",
            "tag:",
            "option:",
            "option:router,\"",
            "1,\u{0}",
            "224,\u{7f}",
            "224,:",
            "224,1:",
            "option:mtu,",
            "option:mtu,-1",
            "option:time-offset,-2147483649",
            "121,/",
            "121,1.2.3.4/",
            "121,1.2.3.4/x,1.1.1.1",
            "é",
            "option:é",
            "tag:é,3",
            "224,18446744073709551616",
            "224,\"a\\",
            "option:T1,s",
            "option:T1,-1h",
        ] {
            let _ = parse_dhcp_option(v, false);
        }
        for d in [&[][..], &[255], &[32, 1, 2, 3], &[0, 1, 2, 3]] {
            let _ = decode_classless(d);
        }
    }
}
