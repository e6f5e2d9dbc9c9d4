//! The value grammar of the local-data keys, in dnsmasq's syntax so lines
//! move over unchanged (design §7): `address`, `local`, `host-record`,
//! `cname`, `srv-host`, `txt-record`, `ptr-record`, `domain`.
//!
//! Each parser takes the value (after `key =`) and returns a typed record or
//! an operator-facing reason, for [`crate::section::SectionReader`].
//! Names come back lower-case without the trailing dot; the root (dnsmasq's
//! `#` domain) is the empty string.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::message::MAX_LABEL;

/// Longest name in presentation form without the trailing dot (255 octets
/// in wire form, RFC 1035 §2.3.4).
pub const MAX_NAME_TEXT: usize = 253;
/// Largest TTL (RFC 2181 §8).
pub const MAX_TTL: u32 = 0x7FFF_FFFF;

/// What `address=/domain/...` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressTarget {
    /// `address=/domain/`: NXDOMAIN for the domain and every name below.
    Nxdomain,
    /// `address=/domain/#`: 0.0.0.0 and ::.
    Null,
    /// `address=/domain/IP`: A or AAAA queries get this address.
    Ip(IpAddr),
}

/// `address=/domain[/domain...]/[IP|#]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressRule {
    /// Lower-case; `""` is dnsmasq's `#` (every name).
    pub domains: Vec<String>,
    pub target: AddressTarget,
}

/// `host-record=name[,name...],[IPv4][,IPv6...][,TTL]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRecord {
    pub names: Vec<String>,
    pub v4: Vec<Ipv4Addr>,
    pub v6: Vec<Ipv6Addr>,
    pub ttl: Option<u32>,
}

/// `cname=alias[,alias...],target[,TTL]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CnameRecord {
    pub aliases: Vec<String>,
    pub target: String,
    pub ttl: Option<u32>,
}

/// `srv-host=_service._proto[.domain][,target[,port[,priority[,weight]]]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvRecord {
    /// As given: `_service._proto` alone is qualified with `domain=` later.
    pub name: String,
    /// `None`: the service is decidedly not available (target ".",
    /// RFC 2782).
    pub target: Option<String>,
    pub port: u16,
    pub priority: u16,
    pub weight: u16,
}

/// `txt-record=name[,"text"...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxtRecord {
    pub name: String,
    /// Character-strings of at most 255 bytes each (RFC 1035 §3.3.14).
    pub strings: Vec<Vec<u8>>,
}

/// `ptr-record=name[,target]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtrRecord {
    pub name: String,
    /// `None`: the name exists with no PTR (NODATA).
    pub target: Option<String>,
}

/// A host or domain name: letters, digits, `-` and `_`, labels of 1 to 63
/// characters, at most 253 characters, trailing dot optional. Returns it
/// lower-case without the dot (names compare case-insensitively, RFC 4343).
pub fn parse_dns_name(v: &str) -> Result<String, String> {
    let t = v.strip_suffix('.').unwrap_or(v);
    if t.is_empty() {
        return Err(if v.is_empty() {
            "empty name".into()
        } else {
            "the root \".\" is not a host name".into()
        });
    }
    if t.len() > MAX_NAME_TEXT {
        return Err(format!(
            "name is {} characters long; at most {MAX_NAME_TEXT}",
            t.len()
        ));
    }
    for label in t.split('.') {
        if label.is_empty() {
            return Err(format!(
                "empty label in {v:?} (two dots in a row, or a leading dot?)"
            ));
        }
        if label.len() > MAX_LABEL {
            return Err(format!(
                "label {label:?} is {} characters long; at most {MAX_LABEL}",
                label.len()
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "character {c:?} is not allowed in a name; use letters, digits, '-' and '_'"
            ));
        }
    }
    Ok(t.to_ascii_lowercase())
}

/// `domain=`: the local domain for DHCP names and `expand-hosts`.
pub fn parse_domain(v: &str) -> Result<String, String> {
    if v.contains(',') {
        return Err(
            "give just the domain; dnsmasq's per-subnet form (domain,range) is not supported"
                .into(),
        );
    }
    parse_dns_name(v.trim())
}

fn parse_ttl(v: &str) -> Result<u32, String> {
    match v.parse::<u64>() {
        Ok(n) if n <= MAX_TTL as u64 => Ok(n as u32),
        Ok(_) => Err(format!(
            "TTL {v} is too large; at most {MAX_TTL} (RFC 2181 §8)"
        )),
        Err(_) => Err(format!("{v:?} is not a TTL in seconds")),
    }
}

fn is_number(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// Splits `/a/b/c` into its slash-separated parts: the domains and the last
/// part (an address, or empty).
pub(crate) fn slash_domains<'a>(
    v: &'a str,
    example: &str,
) -> Result<(Vec<String>, &'a str), String> {
    let Some(rest) = v.strip_prefix('/') else {
        return Err(format!("expected {example}"));
    };
    let Some((domains, last)) = rest.rsplit_once('/') else {
        return Err(format!("missing the closing '/'; expected {example}"));
    };
    if domains.is_empty() {
        return Err(format!("no domain between the slashes; expected {example}"));
    }
    let mut out = Vec::new();
    for d in domains.split('/') {
        let d = d.trim();
        if d == "#" {
            out.push(String::new());
        } else if d.is_empty() {
            return Err(
                "empty domain (\"//\"): dnsmasq's form for unqualified names is not supported"
                    .into(),
            );
        } else {
            let name = parse_dns_name(d).map_err(|e| format!("domain {d:?}: {e}"))?;
            out.push(name);
        }
    }
    Ok((out, last.trim()))
}

/// `address=/domain[/domain...]/[IP|#]`. The domain matches itself and
/// every name below; `#` as a domain matches every name.
pub fn parse_address(v: &str) -> Result<AddressRule, String> {
    const EX: &str = "/domain/[IP], e.g. /ads.example/0.0.0.0";
    let (domains, last) = slash_domains(v, EX)?;
    let target = match last {
        "" => AddressTarget::Nxdomain,
        "#" => AddressTarget::Null,
        ip => AddressTarget::Ip(ip.parse().map_err(|_| {
            format!(
                "{ip:?} is not an IP address; expected IPv4 or IPv6, '#' for 0.0.0.0 and ::, \
                 or nothing for NXDOMAIN"
            )
        })?),
    };
    Ok(AddressRule { domains, target })
}

/// `local=/domain[/domain...]/`: answered from local data only, never
/// forwarded.
pub fn parse_local(v: &str) -> Result<Vec<String>, String> {
    let (domains, last) = slash_domains(v, "/domain/, e.g. /lan/")?;
    if !last.is_empty() {
        return Err(format!(
            "local takes no address after the last '/' (got {last:?}); use \
             address=/domain/IP to answer with an address"
        ));
    }
    Ok(domains)
}

fn items(v: &str) -> Vec<&str> {
    v.split(',').map(str::trim).collect()
}

/// `host-record=name[,name...],[IPv4][,IPv6...][,TTL]`: A, AAAA and PTR.
pub fn parse_host_record(v: &str) -> Result<HostRecord, String> {
    const EX: &str = "expected NAME[,NAME...],[IPv4],[IPv6][,TTL]";
    let mut parts = items(v);
    let mut ttl = None;
    if parts.len() > 1 && parts.last().is_some_and(|p| is_number(p)) {
        ttl = Some(parse_ttl(parts.pop().unwrap_or_default())?);
    }
    let mut rec = HostRecord {
        names: Vec::new(),
        v4: Vec::new(),
        v6: Vec::new(),
        ttl,
    };
    for p in parts {
        if p.is_empty() {
            continue;
        }
        match p.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => rec.v4.push(a),
            Ok(IpAddr::V6(a)) => rec.v6.push(a),
            Err(_) => {
                if !rec.v4.is_empty() || !rec.v6.is_empty() {
                    return Err(format!(
                        "{p:?} after an address is neither an address nor a TTL; names come first"
                    ));
                }
                rec.names
                    .push(parse_dns_name(p).map_err(|e| format!("name {p:?}: {e}"))?);
            }
        }
    }
    if rec.names.is_empty() {
        return Err(format!("no name; {EX}"));
    }
    if rec.v4.is_empty() && rec.v6.is_empty() {
        return Err(format!("no address; {EX}"));
    }
    Ok(rec)
}

/// `cname=alias[,alias...],target[,TTL]`.
pub fn parse_cname(v: &str) -> Result<CnameRecord, String> {
    let mut parts = items(v);
    let mut ttl = None;
    if parts.len() > 2 && parts.last().is_some_and(|p| is_number(p)) {
        ttl = Some(parse_ttl(parts.pop().unwrap_or_default())?);
    }
    if parts.len() < 2 {
        return Err("expected ALIAS[,ALIAS...],TARGET[,TTL]".into());
    }
    let mut names = Vec::with_capacity(parts.len());
    for p in parts {
        names.push(parse_dns_name(p).map_err(|e| format!("name {p:?}: {e}"))?);
    }
    let target = names.pop().unwrap_or_default();
    if let Some(a) = names.iter().find(|a| **a == target) {
        return Err(format!("{a:?} is an alias of itself"));
    }
    Ok(CnameRecord {
        aliases: names,
        target,
        ttl,
    })
}

fn parse_u16(what: &str, v: &str) -> Result<u16, String> {
    v.parse::<u16>()
        .map_err(|_| format!("{what} {v:?} is not a number from 0 to 65535"))
}

/// `srv-host=_service._proto[.domain][,target[,port[,priority[,weight]]]]`,
/// dnsmasq's defaults: port 1, priority 0, weight 0; no target means the
/// service is not available (RFC 2782 target ".").
pub fn parse_srv_host(v: &str) -> Result<SrvRecord, String> {
    let parts = items(v);
    if parts.len() > 5 {
        return Err(
            "too many fields; expected _SERVICE._PROTO[.DOMAIN][,TARGET[,PORT[,PRIORITY[,WEIGHT]]]]"
                .into(),
        );
    }
    let name = parse_dns_name(parts[0]).map_err(|e| format!("name {:?}: {e}", parts[0]))?;
    let mut labels = name.split('.');
    let service_proto = matches!(
        (labels.next(), labels.next()),
        (Some(s), Some(p)) if s.starts_with('_') && p.starts_with('_')
    );
    if !service_proto {
        return Err(format!(
            "{name:?} does not start with _service._proto (RFC 2782), e.g. _ldap._tcp.example.com"
        ));
    }
    let target = match parts.get(1).copied() {
        None | Some("") | Some(".") => None,
        Some(t) => Some(parse_dns_name(t).map_err(|e| format!("target {t:?}: {e}"))?),
    };
    let field = |i: usize, what: &str, default: u16| match parts.get(i) {
        None => Ok(default),
        Some(p) => parse_u16(what, p),
    };
    Ok(SrvRecord {
        name,
        target,
        port: field(2, "port", 1)?,
        priority: field(3, "priority", 0)?,
        weight: field(4, "weight", 0)?,
    })
}

/// Splits at commas outside double quotes; inside quotes `\"`, `\\` and
/// `\DDD` (decimal) escape. Each part comes back as bytes, unquoted, with
/// the spaces outside the quotes trimmed.
fn split_quoted(v: &str) -> Result<Vec<Vec<u8>>, String> {
    // Each byte with whether it was quoted: only unquoted spaces are trimmed.
    let mut out = Vec::new();
    let mut cur: Vec<(u8, bool)> = Vec::new();
    let mut in_quotes = false;
    let mut chars = v.chars().peekable();
    let push = |cur: &mut Vec<(u8, bool)>, c: char, q: bool| {
        let mut buf = [0u8; 4];
        cur.extend(c.encode_utf8(&mut buf).bytes().map(|b| (b, q)));
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\\' if in_quotes => match chars.next() {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = d.to_digit(10).unwrap_or(0);
                    for _ in 0..2 {
                        match chars.peek().and_then(|c| c.to_digit(10)) {
                            Some(x) => {
                                n = n * 10 + x;
                                chars.next();
                            }
                            None => return Err("\\DDD needs three decimal digits".into()),
                        }
                    }
                    let b = u8::try_from(n)
                        .map_err(|_| format!("\\{n:03} is not a byte value (0 to 255)"))?;
                    cur.push((b, true));
                }
                Some(e) => push(&mut cur, e, true),
                None => return Err("a backslash ends the value".into()),
            },
            ',' if !in_quotes => out.push(finish_part(std::mem::take(&mut cur))),
            c => push(&mut cur, c, in_quotes),
        }
    }
    if in_quotes {
        return Err("unterminated quote".into());
    }
    out.push(finish_part(cur));
    Ok(out)
}

fn finish_part(part: Vec<(u8, bool)>) -> Vec<u8> {
    let blank = |&(b, quoted): &(u8, bool)| !quoted && b.is_ascii_whitespace();
    let start = part.iter().position(|c| !blank(c)).unwrap_or(part.len());
    let end = part
        .iter()
        .rposition(|c| !blank(c))
        .map_or(start, |i| i + 1);
    part[start..end].iter().map(|&(b, _)| b).collect()
}

/// `txt-record=name[,text...]`. Quote a text to put commas in it; texts
/// longer than 255 bytes are split into 255-byte character-strings, as
/// dnsmasq does (RFC 1035 §3.3.14 limits each to 255).
pub fn parse_txt_record(v: &str) -> Result<TxtRecord, String> {
    let mut parts = split_quoted(v)?;
    let first = parts.remove(0);
    let name_text = String::from_utf8_lossy(&first).into_owned();
    let name = parse_dns_name(&name_text).map_err(|e| format!("name {name_text:?}: {e}"))?;
    let mut strings = Vec::new();
    for p in parts {
        if p.len() <= 255 {
            strings.push(p);
        } else {
            strings.extend(p.chunks(255).map(<[u8]>::to_vec));
        }
    }
    if strings.is_empty() {
        // RDATA is one or more character-strings: an empty one.
        strings.push(Vec::new());
    }
    if strings.iter().map(|s| s.len() + 1).sum::<usize>() > 65_000 {
        return Err("text too long for one record".into());
    }
    Ok(TxtRecord { name, strings })
}

/// `ptr-record=name[,target]`.
pub fn parse_ptr_record(v: &str) -> Result<PtrRecord, String> {
    let parts = items(v);
    if parts.len() > 2 {
        return Err("expected NAME[,TARGET]".into());
    }
    let name = parse_dns_name(parts[0]).map_err(|e| format!("name {:?}: {e}", parts[0]))?;
    let target = match parts.get(1).copied() {
        None | Some("") => None,
        Some(t) => Some(parse_dns_name(t).map_err(|e| format!("target {t:?}: {e}"))?),
    };
    Ok(PtrRecord { name, target })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(parse_dns_name("Host.LAN.").unwrap(), "host.lan");
        assert_eq!(parse_dns_name("_ldap._tcp.x").unwrap(), "_ldap._tcp.x");
        assert_eq!(parse_dns_name("").unwrap_err(), "empty name");
        assert!(parse_dns_name(".").unwrap_err().contains("root"));
        assert!(parse_dns_name("a..b").unwrap_err().contains("empty label"));
        assert!(parse_dns_name(".a").unwrap_err().contains("empty label"));
        assert!(
            parse_dns_name(&"x".repeat(64))
                .unwrap_err()
                .contains("at most 63")
        );
        let long = ["a".repeat(63).as_str(); 4].join(".");
        assert!(parse_dns_name(&long).unwrap_err().contains("at most 253"));
        assert!(parse_dns_name("a b").unwrap_err().contains("' '"));
        assert!(parse_dns_name("a/b").unwrap_err().contains("'/'"));
        assert!(parse_dns_name("café").is_err());
    }

    #[test]
    fn address() {
        assert_eq!(
            parse_address("/ads.Example/0.0.0.0").unwrap(),
            AddressRule {
                domains: vec!["ads.example".into()],
                target: AddressTarget::Ip("0.0.0.0".parse().unwrap())
            }
        );
        assert_eq!(
            parse_address("/a/b/::1").unwrap(),
            AddressRule {
                domains: vec!["a".into(), "b".into()],
                target: AddressTarget::Ip("::1".parse().unwrap())
            }
        );
        assert_eq!(
            parse_address("/x/").unwrap().target,
            AddressTarget::Nxdomain
        );
        assert_eq!(parse_address("/x/#").unwrap().target, AddressTarget::Null);
        assert_eq!(
            parse_address("/#/1.2.3.4").unwrap().domains,
            vec![String::new()]
        );
        assert!(
            parse_address("ads.example/1.2.3.4")
                .unwrap_err()
                .starts_with("expected /domain/")
        );
        assert!(parse_address("/x").unwrap_err().contains("closing"));
        assert!(
            parse_address("//1.2.3.4")
                .unwrap_err()
                .contains("no domain")
        );
        assert!(
            parse_address("/a//1.2.3.4")
                .unwrap_err()
                .contains("empty domain")
        );
        assert!(
            parse_address("/x/1.2.3")
                .unwrap_err()
                .contains("not an IP address")
        );
        assert!(
            parse_address("/x y/1.2.3.4")
                .unwrap_err()
                .contains("domain \"x y\"")
        );
    }

    #[test]
    fn local() {
        assert_eq!(parse_local("/lan/").unwrap(), vec!["lan"]);
        assert_eq!(
            parse_local("/lan/home.arpa/").unwrap(),
            vec!["lan", "home.arpa"]
        );
        assert!(
            parse_local("/lan/10.0.0.1")
                .unwrap_err()
                .contains("no address")
        );
        assert!(parse_local("lan").is_err());
    }

    #[test]
    fn host_record() {
        let r = parse_host_record("laptop,laptop.lan,192.168.0.1,1234::100,600").unwrap();
        assert_eq!(r.names, vec!["laptop", "laptop.lan"]);
        assert_eq!(r.v4, vec![Ipv4Addr::new(192, 168, 0, 1)]);
        assert_eq!(r.v6, vec!["1234::100".parse::<Ipv6Addr>().unwrap()]);
        assert_eq!(r.ttl, Some(600));
        let r = parse_host_record("nas,,fd00::5").unwrap();
        assert_eq!((r.v4.len(), r.v6.len(), r.ttl), (0, 1, None));
        assert!(parse_host_record("nas").unwrap_err().contains("no address"));
        assert!(
            parse_host_record("10.0.0.1")
                .unwrap_err()
                .contains("no name")
        );
        assert!(
            parse_host_record("a,10.0.0.1,b")
                .unwrap_err()
                .contains("names come first")
        );
        assert!(
            parse_host_record("a,10.0.0.1,99999999999")
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse_host_record("bad name,10.0.0.1").is_err());
    }

    #[test]
    fn cname() {
        let c = parse_cname("www,web,server.lan,300").unwrap();
        assert_eq!(c.aliases, vec!["www", "web"]);
        assert_eq!(c.target, "server.lan");
        assert_eq!(c.ttl, Some(300));
        let c = parse_cname("www,server").unwrap();
        assert_eq!((c.aliases.len(), c.ttl), (1, None));
        assert!(parse_cname("www").unwrap_err().starts_with("expected"));
        assert!(parse_cname("a,a").unwrap_err().contains("alias of itself"));
    }

    #[test]
    fn srv_host() {
        let s = parse_srv_host("_ldap._tcp.example.com,ldap.example.com,389,10,5").unwrap();
        assert_eq!(
            s,
            SrvRecord {
                name: "_ldap._tcp.example.com".into(),
                target: Some("ldap.example.com".into()),
                port: 389,
                priority: 10,
                weight: 5
            }
        );
        let s = parse_srv_host("_sip._udp").unwrap();
        assert_eq!((s.target, s.port, s.priority, s.weight), (None, 1, 0, 0));
        assert!(
            parse_srv_host("ldap.tcp,x")
                .unwrap_err()
                .contains("_service._proto")
        );
        assert!(
            parse_srv_host("_a._b,x,70000")
                .unwrap_err()
                .contains("port")
        );
        assert!(
            parse_srv_host("_a._b,x,1,2,3,4")
                .unwrap_err()
                .contains("too many")
        );
    }

    #[test]
    fn txt_record() {
        let t = parse_txt_record(r#"info.lan,"a, b","say \"hi\"",plain , \065"#).unwrap();
        assert_eq!(t.name, "info.lan");
        assert_eq!(
            t.strings,
            vec![
                b"a, b".to_vec(),
                b"say \"hi\"".to_vec(),
                b"plain".to_vec(),
                b"\\065".to_vec()
            ]
        );
        let t = parse_txt_record(r#"x,"\065\066", "  padded  " "#).unwrap();
        assert_eq!(t.strings, vec![b"AB".to_vec(), b"  padded  ".to_vec()]);
        let t = parse_txt_record("x").unwrap();
        assert_eq!(t.strings, vec![Vec::<u8>::new()]);
        let long = format!("x,{}", "y".repeat(600));
        let t = parse_txt_record(&long).unwrap();
        assert_eq!(
            t.strings.iter().map(Vec::len).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        assert!(
            parse_txt_record(r#"x,"open"#)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            parse_txt_record(r#"x,"\999""#)
                .unwrap_err()
                .contains("byte value")
        );
        assert!(parse_txt_record(r#"x,"\0""#).unwrap_err().contains("three"));
        assert!(parse_txt_record(",a").is_err());
    }

    #[test]
    fn ptr_record_and_domain() {
        assert_eq!(
            parse_ptr_record("1.0.168.192.in-addr.arpa,Router.lan").unwrap(),
            PtrRecord {
                name: "1.0.168.192.in-addr.arpa".into(),
                target: Some("router.lan".into())
            }
        );
        assert_eq!(parse_ptr_record("x.lan").unwrap().target, None);
        assert!(parse_ptr_record("a,b,c").is_err());
        assert_eq!(parse_domain("Lan").unwrap(), "lan");
        assert!(
            parse_domain("lan,192.168.0.0/24")
                .unwrap_err()
                .contains("just the domain")
        );
    }
}
