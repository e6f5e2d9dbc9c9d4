//! DHCPv4 options: dnsmasq's names, the `dhcp-option` value grammar, the
//! encoding of each value kind, and which options go into a reply.
//!
//! # Names
//!
//! [`OPTIONS`] maps dnsmasq's option names (its `opttab`, written
//! `option:NAME`, matched case-insensitively as dnsmasq does) to codes and
//! value [`Kind`]s. One name is hamasq's own: `ms-classless-static-route`
//! (249, which dnsmasq has no name for). dnsmasq's
//! `server-ip-address` is not an option at all (it sets the BOOTP `siaddr`
//! header field) and is refused with a pointer to the boot settings; option
//! 150 is `tftp-server-address`.
//!
//! # Value grammar (`dhcp-option` / `dhcp-option-force`)
//!
//! `[tag:TAG,]...[tag:TAG,]OPTION[,VALUE...]`, where OPTION is
//! `option:NAME` or a decimal code 1-254. `net:TAG` is accepted as
//! dnsmasq's old spelling of `tag:TAG`; `tag:!TAG` (sent only when TAG is
//! *not* set) is kept with its `!`. `encap:`, `vi-encap:`, `vendor:` and
//! `option6:` are refused with a reason. Commas inside double quotes do not
//! split; inside quotes `\"` and `\\` are escapes and every other backslash
//! is literal (Windows boot paths survive).
//!
//! Values by kind:
//!
//! - addresses: `192.168.1.1[,192.168.1.2...]`; an address with a prefix
//!   length is refused outside 121/249. dnsmasq's `0.0.0.0` = "this server"
//!   is kept literally here and substituted when a reply is built
//!   ([`substitute_self_address`]).
//! - numbers: decimal, range-checked per option (e.g. `mtu` ≥ 68, RFC 2132
//!   §5.1); times (`T1`, `T2`, `ipv6-only`) also take `s/m/h/d/w` suffixes
//!   and `infinite`.
//! - text: `"quoted"` or bare; a bare text is the rest of the line, commas
//!   included (`option:posix-timezone,EST5EDT,M3.2.0,M11.1.0`). Because the
//!   table knows the kind, `option:tftp-server,1.2.3.4` is the *text*
//!   "1.2.3.4": dnsmasq needs quotes there, we accept both. NVT ASCII
//!   without a trailing NUL (RFC 2132 §2).
//! - domain lists (119): RFC 1035 §3.1 wire names without compression
//!   (RFC 3397 §2 allows but does not require it).
//! - SIP servers (120): all addresses (enc 1) or all names (enc 0), RFC
//!   3361 §3; never mixed.
//! - classless routes (121, 249): `DEST/WIDTH,ROUTER[,DEST/WIDTH,ROUTER...]`
//!   encoded as RFC 3442's width byte + ceil(width/8) significant octets +
//!   router; widths over 32 and host bits set beyond the width are refused.
//! - `static-route` (33) and `policy-filter` (21): address pairs; a 0.0.0.0
//!   destination in 33 is refused (RFC 2132 §5.8).
//! - bytes (43, 125): colon hex `01:04:c0:a8:01:02`, or a quoted string.
//! - unknown codes: guessed like dnsmasq: all IPv4 → address list, one
//!   colon-hex token → bytes, one decimal → the smallest of 1/2/4 bytes
//!   (`b`/`s`/`i` suffix forces the size), one quoted token → its text,
//!   anything else → the bare text.
//!
//! Encoded values may exceed 255 bytes (the wire layer splits them, RFC
//! 3396) but are capped at [`MAX_VALUE_LEN`].
//!
//! # No value
//!
//! `option:router` alone (dnsmasq: "don't include this option"). dnsmasq
//! treats an empty value as *do not send* for the options it has defaults
//! for (1, 3, 6, 12, 15, 28) and as *send zero-length* for every other code.
//! hamasq keeps the first half and narrows the second: an empty value means
//! *do not send* for every known option whose RFC gives it a minimum length
//! (a zero-length router or NTP list is malformed), and *send zero-length*
//! only for byte-valued and unknown codes. Either way, under first-wins
//! precedence an empty value at a more specific level masks a value (or a
//! server default) at a less specific one.
//!
//! # Codes the server owns
//!
//! Refused with a reason ([`Kind::Refused`]): 0 and 255 (framing), 50, 55,
//! 57, 61, 77, 93, 94, 97, 118 (sent by clients or relays), 51 (the lease
//! time comes from the range or reservation: RFC 2131 §4.3.1 Table 3
//! requires it in OFFER and ACK-to-REQUEST and forbids it in ACK-to-INFORM,
//! so only the server can place it), 52, 53, 54, 56 (Table 3: MUST NOT in
//! OFFER/ACK), 80 (rapid commit is a setting, RFC 4039), 81 (built from the
//! client's own option 81, RFC 4702), 82 (relays add it, servers only echo
//! it, RFC 3046 §2.2). Option 12 is accepted only without a value ("do not
//! send the host name"); the name itself comes from the reservation.
//!
//! # Reply selection ([`select_options`], [`select`])
//!
//! - First one per code wins; the caller passes candidates most specific
//!   first (reservation > range > subnet > global > server defaults).
//! - With a parameter request list (55): requested options first, in the
//!   order requested (RFC 2132 §9.8: the server "MUST try to insert the
//!   requested options in the order requested by the client"), each once
//!   (RFC 2131 §4.3.1); then `dhcp-option-force` options not requested
//!   (ascending code); then [`ALWAYS_SEND`] (1 and 28) if not yet sent.
//!   That last set follows dnsmasq, which sends its netmask and broadcast
//!   defaults unrequested but router, DNS and domain only when requested.
//! - Without option 55: every applicable option, ascending code (dnsmasq:
//!   "if no requested options, send everything").
//! - 108 (IPv6-only preferred) is never sent unless requested, even when
//!   forced (RFC 8925 §3.3: MUST NOT).
//! - A client that requests 249 (Microsoft's pre-standard code, same format,
//!   MS-DHCPE §2.2.8) while 249 is not configured gets 121's value as 249;
//!   that copy is never sent unrequested.
//! - RFC 3442 ("DHCP Client Behavior"): a client that gets 121 MUST ignore
//!   3 and 33, and "the server SHOULD NOT include the Router or Static
//!   Routes options" when the client requested 121 and it is being sent. We
//!   follow the SHOULD NOT (dnsmasq sends both). A router that only 3
//!   carries is therefore lost on such clients: [`classless_lacks_default`]
//!   lets config validation warn that 121 needs a `0.0.0.0/0` route.
//! - RFC 2132 §3.3: if both 1 and 3 are sent, 1 comes first.
//! - 0, 255, [`SERVER_COMPUTED`] (58, 59: the reply builder computes T1/T2
//!   from the lease, RFC 2131 §4.4.5, using a configured value from
//!   [`first_wins`] if any, as dnsmasq does) and every refused code are never
//!   emitted here even if a caller built such a spec by hand.

use std::net::Ipv4Addr;

/// The largest encoded value accepted (RFC 3396 splits values over 255
/// bytes on the wire; this bound only refuses nonsense).
pub const MAX_VALUE_LEN: usize = 1024;

/// Sent even when the client's option 55 does not list them (dnsmasq's
/// behaviour for its netmask and broadcast defaults).
pub const ALWAYS_SEND: [u8; 2] = [1, 28];

/// T1 and T2: the reply builder computes them; [`select_options`] skips them.
pub const SERVER_COMPUTED: [u8; 2] = [58, 59];

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

/// How an option's value is written in the config and encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One IPv4 address.
    Ip,
    /// One or more IPv4 addresses.
    IpList,
    /// Pairs of IPv4 addresses (33: destination, router; 21: address, mask).
    IpPairs,
    U8,
    U16,
    U32,
    I32,
    /// A 32-bit count of seconds; accepts `s/m/h/d/w` suffixes and `infinite`.
    Seconds,
    /// One byte, 0 or 1.
    Bool,
    /// NVT ASCII text.
    Str,
    /// One domain name as ASCII text (option 15).
    Domain,
    /// RFC 1035 wire-format names (option 119, RFC 3397).
    DomainList,
    /// RFC 3361 SIP servers (option 120).
    Sip,
    /// RFC 3442 classless routes (121, 249).
    Classless,
    /// Opaque bytes (colon hex).
    Bytes,
    /// Option 12: only "no value" (do not send the host name) is accepted.
    HostName,
    /// Not configurable; the reason says why.
    Refused(&'static str),
}

/// One row of the name table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionDef {
    pub code: u8,
    /// dnsmasq's name, without `option:`.
    pub name: &'static str,
    pub kind: Kind,
}

const fn def(code: u8, name: &'static str, kind: Kind) -> OptionDef {
    OptionDef { code, name, kind }
}

const CLIENT_ONLY: &str = "clients send it; a server does not";

/// The option table, by code.
pub const OPTIONS: &[OptionDef] = &[
    def(
        0,
        "pad",
        Kind::Refused("it is wire framing, not an option (RFC 2132 §3.1)"),
    ),
    def(1, "netmask", Kind::Ip),
    def(2, "time-offset", Kind::I32),
    def(3, "router", Kind::IpList),
    def(6, "dns-server", Kind::IpList),
    def(7, "log-server", Kind::IpList),
    def(9, "lpr-server", Kind::IpList),
    def(12, "hostname", Kind::HostName),
    def(13, "boot-file-size", Kind::U16),
    def(15, "domain-name", Kind::Domain),
    def(16, "swap-server", Kind::Ip),
    def(17, "root-path", Kind::Str),
    def(18, "extension-path", Kind::Str),
    def(19, "ip-forward-enable", Kind::Bool),
    def(20, "non-local-source-routing", Kind::Bool),
    def(21, "policy-filter", Kind::IpPairs),
    def(22, "max-datagram-reassembly", Kind::U16),
    def(23, "default-ttl", Kind::U8),
    def(26, "mtu", Kind::U16),
    def(27, "all-subnets-local", Kind::Bool),
    def(28, "broadcast", Kind::Ip),
    def(31, "router-discovery", Kind::Bool),
    def(32, "router-solicitation", Kind::Ip),
    def(33, "static-route", Kind::IpPairs),
    def(34, "trailer-encapsulation", Kind::Bool),
    def(35, "arp-timeout", Kind::U32),
    def(36, "ethernet-encap", Kind::Bool),
    def(37, "tcp-ttl", Kind::U8),
    def(38, "tcp-keepalive", Kind::U32),
    def(40, "nis-domain", Kind::Str),
    def(41, "nis-server", Kind::IpList),
    def(42, "ntp-server", Kind::IpList),
    def(43, "vendor-encap", Kind::Bytes),
    def(44, "netbios-ns", Kind::IpList),
    def(45, "netbios-dd", Kind::IpList),
    def(46, "netbios-nodetype", Kind::U8),
    def(47, "netbios-scope", Kind::Str),
    def(48, "x-windows-fs", Kind::IpList),
    def(49, "x-windows-dm", Kind::IpList),
    def(50, "requested-address", Kind::Refused(CLIENT_ONLY)),
    def(
        51,
        "lease-time",
        Kind::Refused(
            "the lease time comes from the range or reservation; the server places it \
             (RFC 2131 §4.3.1 Table 3)",
        ),
    ),
    def(
        52,
        "option-overload",
        Kind::Refused("the wire layer sets it (RFC 2132 §9.3)"),
    ),
    def(
        53,
        "message-type",
        Kind::Refused("the server sets it (RFC 2132 §9.6)"),
    ),
    def(
        54,
        "server-identifier",
        Kind::Refused("the server sets it to its own address (RFC 2131 §4.3.1)"),
    ),
    def(55, "parameter-request", Kind::Refused(CLIENT_ONLY)),
    def(
        56,
        "message",
        Kind::Refused(
            "it carries DHCPNAK error text; RFC 2131 Table 3 forbids it in OFFER and ACK",
        ),
    ),
    def(57, "max-message-size", Kind::Refused(CLIENT_ONLY)),
    def(58, "T1", Kind::Seconds),
    def(59, "T2", Kind::Seconds),
    def(60, "vendor-class", Kind::Str),
    def(
        61,
        "client-id",
        Kind::Refused("it is the client's; the server echoes it unaltered (RFC 6842)"),
    ),
    def(64, "nis+-domain", Kind::Str),
    def(65, "nis+-server", Kind::IpList),
    def(66, "tftp-server", Kind::Str),
    def(67, "bootfile-name", Kind::Str),
    def(68, "mobile-ip-home", Kind::IpList),
    def(69, "smtp-server", Kind::IpList),
    def(70, "pop3-server", Kind::IpList),
    def(71, "nntp-server", Kind::IpList),
    def(74, "irc-server", Kind::IpList),
    def(77, "user-class", Kind::Refused(CLIENT_ONLY)),
    def(
        80,
        "rapid-commit",
        Kind::Refused("rapid commit is a server setting (RFC 4039), not an option value"),
    ),
    def(
        81,
        "FQDN",
        Kind::Refused("the server builds it from the client's own option 81 (RFC 4702)"),
    ),
    def(
        82,
        "agent-id",
        Kind::Refused("relay agents add it and servers only echo it (RFC 3046 §2.2)"),
    ),
    def(93, "client-arch", Kind::Refused(CLIENT_ONLY)),
    def(94, "client-interface-id", Kind::Refused(CLIENT_ONLY)),
    def(97, "client-machine-id", Kind::Refused(CLIENT_ONLY)),
    def(100, "posix-timezone", Kind::Str),
    def(101, "tzdb-timezone", Kind::Str),
    def(108, "ipv6-only", Kind::Seconds),
    def(114, "captive-portal", Kind::Str),
    def(
        118,
        "subnet-select",
        Kind::Refused("clients and relays send it (RFC 3011)"),
    ),
    def(119, "domain-search", Kind::DomainList),
    def(120, "sip-server", Kind::Sip),
    def(121, "classless-static-route", Kind::Classless),
    def(125, "vendor-id-encap", Kind::Bytes),
    def(150, "tftp-server-address", Kind::IpList),
    def(249, "ms-classless-static-route", Kind::Classless),
    def(
        255,
        "end",
        Kind::Refused("it is wire framing, not an option (RFC 2132 §3.2)"),
    ),
];

/// The table row for a code.
pub fn by_code(code: u8) -> Option<&'static OptionDef> {
    OPTIONS.iter().find(|d| d.code == code)
}

/// The table row for a name (without `option:`), case-insensitively.
pub fn by_name(name: &str) -> Option<&'static OptionDef> {
    OPTIONS.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// `option:router` for a known code, `option 224` otherwise.
pub fn display(code: u8) -> String {
    match by_code(code) {
        Some(d) => format!("option:{}", d.name),
        None => format!("option {code}"),
    }
}

/// Whether an empty value means "do not send" (see the module docs).
pub fn empty_means_do_not_send(code: u8) -> bool {
    !matches!(by_code(code).map(|d| d.kind), None | Some(Kind::Bytes))
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

// ---- encoders ----------------------------------------------------------------

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("has an empty label".into());
    }
    if label.len() > 63 {
        return Err(format!("label {label:?} is longer than 63 bytes"));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "label {label:?} contains {c:?}; use letters, digits, '-' or '_'"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label {label:?} starts or ends with '-'"));
    }
    Ok(())
}

/// A domain name as text (no trailing dot): labels 1-63, at most 253 bytes.
fn check_domain(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an empty domain name".into());
    }
    if name.len() > 253 {
        return Err(format!(
            "{name:?} is not a domain name: longer than 253 bytes (RFC 1035 §2.3.4)"
        ));
    }
    for l in name.split('.') {
        check_label(l).map_err(|e| format!("{name:?} is not a domain name: {e}"))?;
    }
    Ok(())
}

/// RFC 1035 §3.1 wire names, one after another, uncompressed (RFC 3397
/// §2). Each name: labels of 1-63 letters, digits, '-' or '_', at most 255
/// bytes encoded; a trailing dot is allowed.
pub fn encode_domain_list(names: &[&str]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for raw in names {
        let name = raw.strip_suffix('.').unwrap_or(raw);
        check_domain(name)?;
        let start = out.len();
        for l in name.split('.') {
            out.push(l.len() as u8);
            out.extend_from_slice(l.as_bytes());
        }
        out.push(0);
        if out.len() - start > 255 {
            return Err(format!(
                "{name:?} is not a domain name: longer than 255 bytes encoded (RFC 1035 §2.3.4)"
            ));
        }
    }
    Ok(out)
}

/// RFC 3442 routes `(destination, width, router)`: width byte, the
/// ceil(width/8) significant octets of the destination, then the router.
/// Refuses widths over 32 and destinations with bits set beyond the width.
pub fn encode_classless(routes: &[(Ipv4Addr, u8, Ipv4Addr)]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(routes.len() * 9);
    for &(net, width, router) in routes {
        if width > 32 {
            return Err(format!("{net}/{width}: the prefix length must be 0 to 32"));
        }
        let mask = if width == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(width))
        };
        let n = u32::from(net);
        if n & !mask != 0 {
            return Err(format!(
                "{net}/{width} has host bits set beyond /{width} (did you mean {}/{width}?)",
                Ipv4Addr::from(n & mask)
            ));
        }
        out.push(width);
        out.extend_from_slice(&net.octets()[..usize::from(width).div_ceil(8)]);
        out.extend_from_slice(&router.octets());
    }
    Ok(out)
}

/// Decodes an RFC 3442 value; `None` if it is malformed (truncated, width
/// over 32, or bits set beyond the width).
pub fn decode_classless(data: &[u8]) -> Option<Vec<(Ipv4Addr, u8, Ipv4Addr)>> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&width, tail)) = rest.split_first() {
        if width > 32 {
            return None;
        }
        let n = usize::from(width).div_ceil(8);
        if tail.len() < n + 4 {
            return None;
        }
        let mut dest = [0u8; 4];
        dest[..n].copy_from_slice(&tail[..n]);
        let mask = if width == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(width))
        };
        if u32::from_be_bytes(dest) & !mask != 0 {
            return None;
        }
        let router = Ipv4Addr::new(tail[n], tail[n + 1], tail[n + 2], tail[n + 3]);
        out.push((Ipv4Addr::from(dest), width, router));
        rest = &tail[n + 4..];
    }
    Some(out)
}

/// Whether an option-121 value has no default route (`0.0.0.0/0`). A
/// client that receives 121 ignores option 3 (RFC 3442), so with a router
/// configured this deserves a config warning. Malformed data counts as
/// lacking one.
pub fn classless_lacks_default(data: &[u8]) -> bool {
    decode_classless(data).is_none_or(|routes| !routes.iter().any(|r| r.1 == 0))
}

/// dnsmasq's "0.0.0.0 means this server": replaces each 0.0.0.0 in an
/// address or address-list option (by the table) with `me`. Other kinds
/// and unknown codes are returned unchanged.
pub fn substitute_self_address(code: u8, data: &[u8], me: Ipv4Addr) -> Vec<u8> {
    let addr_kind = matches!(by_code(code).map(|d| d.kind), Some(Kind::Ip | Kind::IpList));
    if !addr_kind || !data.len().is_multiple_of(4) {
        return data.to_vec();
    }
    data.chunks(4)
        .flat_map(|c| {
            if c == [0, 0, 0, 0] {
                me.octets()
            } else {
                [c[0], c[1], c[2], c[3]]
            }
        })
        .collect()
}

// ---- reply selection ---------------------------------------------------------

/// Whether a spec's tags match a client's: every `TAG` set, every `!TAG`
/// not set (case-sensitive, as dnsmasq).
pub fn tags_match(spec_tags: &[String], client_tags: &[&str]) -> bool {
    spec_tags.iter().all(|t| match t.strip_prefix('!') {
        Some(neg) => !client_tags.contains(&neg),
        None => client_tags.contains(&t.as_str()),
    })
}

/// The first spec for `code` in precedence order (e.g. a configured T1).
pub fn first_wins<'a, I>(applicable: I, code: u8) -> Option<&'a OptionSpec>
where
    I: IntoIterator<Item = &'a OptionSpec>,
{
    applicable.into_iter().find(|s| s.code == code)
}

#[derive(Clone, Copy)]
struct Cand<'a> {
    data: &'a [u8],
    force: bool,
}

/// The options to send, in order (module docs, "Reply selection").
/// `applicable` must already be filtered by tag and ordered most specific
/// first; the first spec per code wins.
pub fn select_options<'a, I>(prl: Option<&[u8]>, applicable: I) -> Vec<(u8, Vec<u8>)>
where
    I: IntoIterator<Item = &'a OptionSpec>,
{
    select_cands(
        prl,
        applicable.into_iter().map(|s| {
            (
                s.code,
                Cand {
                    data: &s.data,
                    force: s.force,
                },
            )
        }),
    )
}

/// [`select_options`] over a whole configured list: keeps the specs whose
/// tags match `client_tags`, ranks tagged matches above untagged ones
/// (dnsmasq: a matching tagged option overrides an untagged one; within a
/// rank, file order), then the server's `defaults` (netmask, router, DNS,
/// ...) last, so any configured value or empty mask overrides them.
pub fn select(
    prl: Option<&[u8]>,
    configured: &[OptionSpec],
    client_tags: &[&str],
    defaults: &[(u8, Vec<u8>)],
) -> Vec<(u8, Vec<u8>)> {
    let matching = || {
        configured
            .iter()
            .filter(|s| tags_match(&s.tags, client_tags))
    };
    let tagged = matching().filter(|s| !s.tags.is_empty());
    let untagged = matching().filter(|s| s.tags.is_empty());
    let specs = tagged.chain(untagged).map(|s| {
        (
            s.code,
            Cand {
                data: &s.data,
                force: s.force,
            },
        )
    });
    let defs = defaults
        .iter()
        .map(|(code, data)| (*code, Cand { data, force: false }));
    select_cands(prl, specs.chain(defs))
}

fn never_selected(code: u8) -> bool {
    SERVER_COMPUTED.contains(&code)
        || matches!(by_code(code).map(|d| d.kind), Some(Kind::Refused(_)))
}

fn select_cands<'a>(
    prl: Option<&[u8]>,
    cands: impl Iterator<Item = (u8, Cand<'a>)>,
) -> Vec<(u8, Vec<u8>)> {
    let mut win: [Option<Cand<'a>>; 256] = [None; 256];
    for (code, c) in cands {
        let slot = &mut win[usize::from(code)];
        if slot.is_none() {
            *slot = Some(c);
        }
    }
    // The value to send for a code, if any.
    let value = |code: u8| -> Option<&'a [u8]> {
        if never_selected(code) {
            return None;
        }
        let c = win[usize::from(code)]?;
        if c.data.is_empty() && empty_means_do_not_send(code) {
            return None;
        }
        Some(c.data)
    };
    let requested = |code: u8| prl.is_some_and(|p| p.contains(&code));

    let mut out: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut sent = [false; 256];
    let mut push = |out: &mut Vec<(u8, Vec<u8>)>, code: u8, data: &[u8]| {
        if !sent[usize::from(code)] {
            sent[usize::from(code)] = true;
            out.push((code, data.to_vec()));
        }
    };
    match prl {
        Some(prl) => {
            for &code in prl {
                if code == 249 && win[249].is_none() {
                    // Microsoft's 249 has 121's format (MS-DHCPE §2.2.8).
                    if let Some(d) = value(121) {
                        push(&mut out, 249, d);
                    }
                } else if let Some(d) = value(code) {
                    push(&mut out, code, d);
                }
            }
            for code in 0..=255u8 {
                if win[usize::from(code)].is_some_and(|c| c.force)
                    && code != 108
                    && let Some(d) = value(code)
                {
                    push(&mut out, code, d);
                }
            }
            for code in ALWAYS_SEND {
                if let Some(d) = value(code) {
                    push(&mut out, code, d);
                }
            }
        }
        None => {
            for code in 0..=255u8 {
                // RFC 8925 §3.3: 108 only when listed in option 55.
                if code == 108 {
                    continue;
                }
                if let Some(d) = value(code) {
                    push(&mut out, code, d);
                }
            }
        }
    }
    // RFC 3442: when sending 121 to a client that asked for it, SHOULD NOT
    // include the Router or Static Routes options.
    if requested(121) && out.iter().any(|(c, _)| *c == 121) {
        out.retain(|(c, _)| *c != 3 && *c != 33);
    }
    // RFC 2132 §3.3: the subnet mask MUST come before the router option.
    let pos = |out: &[(u8, Vec<u8>)], code: u8| out.iter().position(|(c, _)| *c == code);
    if let (Some(m), Some(r)) = (pos(&out, 1), pos(&out, 3))
        && m > r
    {
        let mask = out.remove(m);
        out.insert(r, mask);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &str) -> OptionSpec {
        parse_dhcp_option(v, false).unwrap_or_else(|e| panic!("{v:?}: {e}"))
    }

    fn data(v: &str) -> Vec<u8> {
        ok(v).data
    }

    fn err(v: &str) -> String {
        match parse_dhcp_option(v, false) {
            Ok(s) => panic!("{v:?} parsed as {s:?}"),
            Err(e) => e,
        }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn table_codes_and_names_are_unique() {
        for (i, a) in OPTIONS.iter().enumerate() {
            for b in &OPTIONS[i + 1..] {
                assert_ne!(a.code, b.code, "{} / {}", a.name, b.name);
                assert!(!a.name.eq_ignore_ascii_case(b.name), "{}", a.name);
            }
        }
        assert_eq!(by_name("ROUTER").map(|d| d.code), Some(3));
        assert_eq!(by_name("t1").map(|d| d.code), Some(58));
        assert_eq!(display(3), "option:router");
        assert_eq!(display(224), "option 224");
    }

    #[test]
    fn names_map_to_dnsmasq_codes() {
        for (name, code) in [
            ("router", 3),
            ("dns-server", 6),
            ("domain-name", 15),
            ("domain-search", 119),
            ("ntp-server", 42),
            ("classless-static-route", 121),
            ("tftp-server", 66),
            ("bootfile-name", 67),
            ("vendor-encap", 43),
            ("netmask", 1),
            ("broadcast", 28),
            ("mtu", 26),
            ("static-route", 33),
            ("netbios-ns", 44),
            ("netbios-nodetype", 46),
            ("posix-timezone", 100),
            ("tzdb-timezone", 101),
            ("sip-server", 120),
            ("ipv6-only", 108),
            ("captive-portal", 114),
            ("T1", 58),
            ("T2", 59),
            ("router-discovery", 31),
            ("log-server", 7),
            ("lpr-server", 9),
            ("root-path", 17),
            ("ip-forward-enable", 19),
            ("time-offset", 2),
            ("nis-domain", 40),
            ("nis-server", 41),
            ("smtp-server", 69),
            ("pop3-server", 70),
            ("tftp-server-address", 150),
        ] {
            assert_eq!(ok(&format!("option:{name}")).code, code, "{name}");
        }
    }

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
    fn classless_round_trips_and_default_detection() {
        let routes = vec![
            (ip("10.0.0.0"), 8, ip("10.0.0.1")),
            (ip("192.168.4.0"), 22, ip("10.0.0.2")),
            (ip("0.0.0.0"), 0, ip("10.0.0.254")),
        ];
        let d = encode_classless(&routes).unwrap();
        assert_eq!(decode_classless(&d), Some(routes.clone()));
        assert!(!classless_lacks_default(&d));
        let no_default = encode_classless(&routes[..2]).unwrap();
        assert!(classless_lacks_default(&no_default));
        // Malformed data: truncated, width > 32, bits beyond the width.
        for bad in [
            &[8u8, 10, 10, 0][..],
            &[33, 1, 2, 3, 4, 5, 6, 7, 8],
            &[7, 11, 10, 0, 0, 1],
        ] {
            assert_eq!(decode_classless(bad), None, "{bad:?}");
            assert!(classless_lacks_default(bad));
        }
        assert_eq!(decode_classless(&[]), Some(vec![]));
        assert!(encode_classless(&[(ip("10.0.0.1"), 8, ip("1.1.1.1"))]).is_err());
        assert!(encode_classless(&[(ip("10.0.0.0"), 33, ip("1.1.1.1"))]).is_err());
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
    fn self_address_is_substituted_only_in_address_options() {
        let me = ip("192.168.1.1");
        assert_eq!(
            substitute_self_address(3, &data("3,0.0.0.0,10.0.0.2"), me),
            [192, 168, 1, 1, 10, 0, 0, 2]
        );
        assert_eq!(
            substitute_self_address(224, &[0, 0, 0, 0], me),
            [0, 0, 0, 0]
        );
        assert_eq!(
            substitute_self_address(121, &[0, 0, 0, 0, 0], me),
            [0, 0, 0, 0, 0]
        );
    }

    fn spec(code: u8, d: &[u8], force: bool) -> OptionSpec {
        OptionSpec {
            tags: vec![],
            code,
            data: d.to_vec(),
            force,
        }
    }

    fn codes(out: &[(u8, Vec<u8>)]) -> Vec<u8> {
        out.iter().map(|(c, _)| *c).collect()
    }

    #[test]
    fn prl_order_then_forced_then_always_sent() {
        let specs = [
            spec(6, &[10, 0, 0, 53], false),
            spec(42, &[10, 0, 0, 123], false),
            spec(15, b"lan", false),
            spec(1, &[255, 255, 255, 0], false),
            spec(28, &[10, 0, 0, 255], false),
            spec(100, b"UTC0", true),
            spec(66, b"tftp", false),
        ];
        let cases: &[(Option<&[u8]>, &[u8])] = &[
            (Some(&[15, 6, 42]), &[15, 6, 42, 100, 1, 28]),
            (Some(&[42, 42, 6]), &[42, 6, 100, 1, 28]),
            (Some(&[28, 1, 6]), &[28, 1, 6, 100]),
            (Some(&[]), &[100, 1, 28]),
            // Not requested and not forced: 66 is not sent.
            (Some(&[66]), &[66, 100, 1, 28]),
            (None, &[1, 6, 15, 28, 42, 66, 100]),
        ];
        for (prl, want) in cases {
            assert_eq!(codes(&select_options(*prl, &specs)), *want, "{prl:?}");
        }
    }

    #[test]
    fn first_spec_per_code_wins_and_empty_masks() {
        let reservation = spec(6, &[1, 1, 1, 1], false);
        let global = spec(6, &[9, 9, 9, 9], false);
        let out = select_options(Some(&[6]), [&reservation, &global]);
        assert_eq!(out, [(6, vec![1, 1, 1, 1])]);
        // An empty router at a more specific level masks the global one.
        let mask = spec(3, &[], false);
        let router = spec(3, &[10, 0, 0, 1], false);
        assert!(select_options(Some(&[3]), [&mask, &router]).is_empty());
        // Byte-valued options with no value are sent empty.
        let empty43 = spec(43, &[], true);
        assert_eq!(select_options(Some(&[]), [&empty43]), [(43, vec![])]);
        assert_eq!(first_wins([&reservation, &global], 6), Some(&reservation));
    }

    #[test]
    fn special_cases_in_selection() {
        // 108 only when requested, even if forced (RFC 8925 §3.3).
        let v6 = spec(108, &[0, 0, 7, 8], true);
        assert!(select_options(Some(&[1]), [&v6]).is_empty());
        assert!(select_options(None, [&v6]).is_empty());
        assert_eq!(codes(&select_options(Some(&[108]), [&v6])), [108]);
        // Server-owned and server-computed codes never come out.
        let bad = [
            spec(53, &[5], true),
            spec(58, &[0, 0, 0, 9], true),
            spec(255, &[], true),
        ];
        assert!(select_options(Some(&[53, 58, 255]), &bad).is_empty());
        // RFC 2132 §3.3: mask before router whatever the request order.
        let mr = [
            spec(3, &[10, 0, 0, 1], false),
            spec(1, &[255, 0, 0, 0], false),
        ];
        assert_eq!(codes(&select_options(Some(&[3, 6, 1]), &mr)), [1, 3]);
        assert_eq!(codes(&select_options(Some(&[3]), &mr)), [1, 3]);
    }

    #[test]
    fn classless_routes_in_selection() {
        let routes = [
            spec(121, &[0, 10, 0, 0, 1], false),
            spec(3, &[10, 0, 0, 1], false),
            spec(33, &[10, 1, 0, 0, 10, 0, 0, 1], false),
        ];
        // Requested 121: 3 and 33 are left out (RFC 3442 SHOULD NOT).
        assert_eq!(codes(&select_options(Some(&[121, 3, 33]), &routes)), [121]);
        // A client without 121 support gets 3 and 33.
        assert_eq!(codes(&select_options(Some(&[3, 33]), &routes)), [3, 33]);
        // 249 only if requested; it carries 121's value when not configured.
        let out = select_options(Some(&[249, 3]), &routes);
        assert_eq!(out, [(249, vec![0, 10, 0, 0, 1]), (3, vec![10, 0, 0, 1])]);
        assert_eq!(codes(&select_options(None, &routes)), [3, 33, 121]);
        let explicit = [spec(249, &[8, 10, 10, 0, 0, 1], false), routes[0].clone()];
        assert_eq!(
            select_options(Some(&[249]), &explicit),
            [(249, vec![8, 10, 10, 0, 0, 1])]
        );
    }

    #[test]
    fn select_filters_tags_and_ranks_defaults_last() {
        let mut tagged = spec(6, &[2, 2, 2, 2], false);
        tagged.tags = vec!["lan".into()];
        let mut not_guest = spec(42, &[3, 3, 3, 3], false);
        not_guest.tags = vec!["!guest".into()];
        let configured = [spec(6, &[1, 1, 1, 1], false), tagged, not_guest];
        let defaults = [
            (3, vec![10, 0, 0, 1]),
            (6, vec![10, 0, 0, 1]),
            (28, vec![10, 0, 0, 255]),
        ];
        let out = select(Some(&[6, 42, 3]), &configured, &["lan"], &defaults);
        assert_eq!(
            out,
            [
                (6, vec![2, 2, 2, 2]),
                (42, vec![3, 3, 3, 3]),
                (3, vec![10, 0, 0, 1]),
                (28, vec![10, 0, 0, 255])
            ]
        );
        let out = select(Some(&[6, 42]), &configured, &["guest"], &defaults);
        assert_eq!(out, [(6, vec![1, 1, 1, 1]), (28, vec![10, 0, 0, 255])]);
        assert!(tags_match(&[], &[]));
        assert!(!tags_match(&["a".into()], &[]));
    }

    #[test]
    fn domain_list_encoder() {
        assert_eq!(
            encode_domain_list(&["example.com.", "b"]).unwrap(),
            b"\x07example\x03com\x00\x01b\x00"
        );
        assert!(encode_domain_list(&[""]).is_err());
        let long = ["a"; 130].join(".");
        assert!(
            encode_domain_list(&[&long])
                .unwrap_err()
                .contains("longer than 253")
        );
        assert_eq!(encode_domain_list(&[]).unwrap(), b"");
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
