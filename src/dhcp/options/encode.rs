//! Encoders of the structured option values: RFC 1035 name lists (119),
//! RFC 3442 classless routes (121, 249), and dnsmasq's "0.0.0.0 means
//! this server".

use std::net::Ipv4Addr;

use super::table::*;

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
pub(super) fn check_domain(name: &str) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::options::fixtures::*;

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
}
