//! Names a LAN resolver answers itself instead of leaking upstream:
//! RFC 6761 (`localhost`, `invalid`), RFC 8375 (`home.arpa`) and the
//! locally-served reverse zones of RFC 6303 (with RFC 7793), which
//! `bogus-priv` turns on; plus reverse-name arithmetic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// RFC 6761 §6.3: `localhost` and every name below it are loopback.
pub const LOCALHOST: &str = "localhost";
/// RFC 6761 §6.4: `invalid` and every name below it do not exist.
pub const INVALID: &str = "invalid";
/// RFC 8375 §7: the residential home domain, never forwarded.
pub const HOME_ARPA: &str = "home.arpa";

/// SOA values RFC 6303 §3 gives for locally served zones: MNAME is the
/// zone itself, RNAME `nobody.invalid.`, serial 1, refresh 604800, retry
/// 86400, expire 2419200, minimum and TTL 10800.
pub mod rfc6303_soa {
    pub const RNAME: &str = "nobody.invalid.";
    pub const SERIAL: u32 = 1;
    pub const REFRESH: i32 = 604_800;
    pub const RETRY: i32 = 86_400;
    pub const EXPIRE: i32 = 2_419_200;
    pub const MINIMUM: u32 = 10_800;
    pub const TTL: u32 = 10_800;
}

/// The reverse zones `bogus-priv` answers locally: RFC 6303 §4.1 (RFC 1918),
/// §4.2 (0/8, 127/8, 169.254/16, the TEST-NETs, the broadcast address),
/// §4.3 (::, ::1, fd00::/8, fe80::/10, 2001:db8::/32) and RFC 7793 (the
/// shared address space 100.64/10).
pub fn private_reverse_zones() -> Vec<String> {
    let mut z: Vec<String> = vec![
        "10.in-addr.arpa".into(),
        "168.192.in-addr.arpa".into(),
        "0.in-addr.arpa".into(),
        "127.in-addr.arpa".into(),
        "254.169.in-addr.arpa".into(),
        "2.0.192.in-addr.arpa".into(),
        "100.51.198.in-addr.arpa".into(),
        "113.0.203.in-addr.arpa".into(),
        "255.255.255.255.in-addr.arpa".into(),
    ];
    z.extend((16..=31).map(|b| format!("{b}.172.in-addr.arpa")));
    z.extend((64..=127).map(|b| format!("{b}.100.in-addr.arpa")));
    let zeros = "0.".repeat(31);
    z.push(format!("{zeros}0.ip6.arpa"));
    z.push(format!("1.{zeros}ip6.arpa"));
    z.push("d.f.ip6.arpa".into());
    z.extend(["8", "9", "a", "b"].map(|n| format!("{n}.e.f.ip6.arpa")));
    z.push("8.b.d.0.1.0.0.2.ip6.arpa".into());
    z
}

/// The reverse-lookup name of an address (RFC 1035 §3.5, RFC 3596 §2.5),
/// lower-case, without the trailing dot.
pub fn reverse_name(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => {
            let [x, y, z, w] = a.octets();
            format!("{w}.{z}.{y}.{x}.in-addr.arpa")
        }
        IpAddr::V6(a) => {
            let mut s = String::with_capacity(72);
            for b in a.octets().iter().rev() {
                for nibble in [b & 0x0F, b >> 4] {
                    s.push(char::from_digit(nibble as u32, 16).unwrap_or('0'));
                    s.push('.');
                }
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// The IPv4 address of a full `d.c.b.a.in-addr.arpa` name (lower-case),
/// if it is one. Leading zeros are refused so each address has one name.
pub fn parse_reverse_v4(name: &str) -> Option<Ipv4Addr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let mut octets = [0u8; 4];
    let mut parts = rest.split('.');
    for o in octets.iter_mut().rev() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || (p.len() > 1 && p.starts_with('0')) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

/// The IPv6 address of a full 32-nibble `ip6.arpa` name (lower-case,
/// RFC 3596 §2.5), if it is one.
pub fn parse_reverse_v6(name: &str) -> Option<Ipv6Addr> {
    let rest = name.strip_suffix(".ip6.arpa")?.as_bytes();
    // 32 nibbles, each followed by a dot but the last.
    if rest.len() != 63 {
        return None;
    }
    let mut v: u128 = 0;
    for (i, chunk) in rest.chunks(2).enumerate() {
        if chunk.len() == 2 && chunk[1] != b'.' {
            return None;
        }
        let n = (chunk[0] as char).to_digit(16)?;
        if chunk[0].is_ascii_uppercase() {
            return None;
        }
        v |= u128::from(n) << (4 * i);
    }
    Some(Ipv6Addr::from(v))
}

/// Whether `name` is `domain` or below it (both lower-case, no trailing
/// dot; the empty domain is the root and holds every name).
pub fn in_domain(name: &str, domain: &str) -> bool {
    domain.is_empty()
        || name == domain
        || (name.len() > domain.len()
            && name.ends_with(domain)
            && name.as_bytes()[name.len() - domain.len() - 1] == b'.')
}

/// `name`, then each enclosing domain, ending with the root `""`.
pub fn suffixes(name: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(name);
    std::iter::from_fn(move || {
        let cur = next?;
        next = if cur.is_empty() {
            None
        } else {
            Some(cur.split_once('.').map_or("", |(_, rest)| rest))
        };
        Some(cur)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.168.1.20".parse().unwrap()),
            "20.1.168.192.in-addr.arpa"
        );
        assert_eq!(
            reverse_name("2001:db8::1".parse().unwrap()),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
        assert_eq!(
            parse_reverse_v4("20.1.168.192.in-addr.arpa"),
            Some(Ipv4Addr::new(192, 168, 1, 20))
        );
        assert_eq!(parse_reverse_v4("1.168.192.in-addr.arpa"), None);
        assert_eq!(parse_reverse_v4("1.1.1.168.192.in-addr.arpa"), None);
        assert_eq!(parse_reverse_v4("01.1.168.192.in-addr.arpa"), None);
        assert_eq!(parse_reverse_v4("256.1.168.192.in-addr.arpa"), None);
        assert_eq!(parse_reverse_v4(".1.168.192.in-addr.arpa"), None);
        for a in ["2001:db8::7d3a:1:2:3", "fd00::1", "::", "ffff::ffff"] {
            let a: Ipv6Addr = a.parse().unwrap();
            assert_eq!(parse_reverse_v6(&reverse_name(IpAddr::V6(a))), Some(a));
        }
        let full = reverse_name(IpAddr::V6("2001:db8::1".parse().unwrap()));
        assert_eq!(parse_reverse_v6(&full[2..]), None, "31 nibbles");
        assert_eq!(parse_reverse_v6(&format!("0.{full}")), None, "33 nibbles");
        assert_eq!(parse_reverse_v6(&full.replacen('.', "x", 1)), None);
        assert_eq!(parse_reverse_v6(&full.replacen('1', "g", 1)), None);
    }

    #[test]
    fn domains_and_suffixes() {
        assert!(in_domain("a.lan", "lan"));
        assert!(in_domain("lan", "lan"));
        assert!(!in_domain("xlan", "lan"));
        assert!(in_domain("anything", ""));
        let s: Vec<&str> = suffixes("a.b.c").collect();
        assert_eq!(s, ["a.b.c", "b.c", "c", ""]);
        assert_eq!(suffixes("").collect::<Vec<_>>(), [""]);
    }

    #[test]
    fn zone_list() {
        let z = private_reverse_zones();
        assert!(z.contains(&"16.172.in-addr.arpa".to_string()));
        assert!(z.contains(&"31.172.in-addr.arpa".to_string()));
        assert!(!z.contains(&"32.172.in-addr.arpa".to_string()));
        assert!(z.contains(&"64.100.in-addr.arpa".to_string()));
        assert!(z.contains(&reverse_name("::1".parse().unwrap())));
        assert!(z.contains(&reverse_name("::".parse().unwrap())));
        for n in &z {
            assert!(crate::dns::grammar::parse_dns_name(n).is_ok(), "{n}");
        }
    }
}
