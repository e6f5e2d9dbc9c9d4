//! Line formats of the lease store: writing and parsing of snapshot lines
//! (dnsmasq's 5 fields), journal records (the same fields behind a tag, with
//! a CRC-32), and the classification of lines found in a dnsmasq lease file.
//! Pure functions, no I/O; every parser returns `None` on bad input, never
//! panics.

use std::io::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::crc32::crc32;
use crate::clock::UnixTime;
use crate::dhcp::binding::{HwAddr, Lease, parse_colon_hex};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `aa:bb:..` (lower-case), as [`crate::dhcp::binding::colon_hex`]
/// but without allocating.
fn put_colon_hex(buf: &mut Vec<u8>, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            buf.push(b':');
        }
        buf.push(HEX[(b >> 4) as usize]);
        buf.push(HEX[(b & 0xf) as usize]);
    }
}

/// Appends [`HwAddr::to_lease_string`]'s spelling without allocating.
fn put_hw(buf: &mut Vec<u8>, hw: &HwAddr) {
    let bytes = hw.as_bytes();
    if !(hw.htype == 1 && bytes.len() == 6) {
        buf.push(HEX[(hw.htype >> 4) as usize]);
        buf.push(HEX[(hw.htype & 0xf) as usize]);
        buf.push(b'-');
    }
    put_colon_hex(buf, bytes);
}

/// Whether `c` would split or break a line: whitespace (Unicode, as Go's
/// `strings.Fields` and Rust's `split_whitespace` see it) or a control char.
fn breaks_line(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

/// Appends the hostname field: `*` when absent, empty or literally `*`,
/// else the name with every whitespace or control character replaced by `-`
/// so the field stays one token that reads back as written.
fn put_hostname(buf: &mut Vec<u8>, name: Option<&str>) {
    match name {
        None => buf.push(b'*'),
        Some(n) if n.is_empty() || n == "*" => buf.push(b'*'),
        Some(n) => {
            let mut utf8 = [0u8; 4];
            for c in n.chars() {
                let c = if breaks_line(c) { '-' } else { c };
                buf.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
}

/// The hostname as the store writes it and will read it back: `None` for
/// absent, empty or `*`; whitespace and control characters become `-`.
pub fn storable_hostname(name: Option<&str>) -> Option<String> {
    match name {
        None => None,
        Some(n) if n.is_empty() || n == "*" => None,
        Some(n) => Some(
            n.chars()
                .map(|c| if breaks_line(c) { '-' } else { c })
                .collect(),
        ),
    }
}

/// The lease as the store will read it back (see [`storable_hostname`]; an
/// empty client identifier reads back as absent, which is the same
/// [`crate::dhcp::ClientKey`]).
pub fn storable(lease: &Lease) -> Lease {
    Lease {
        hostname: storable_hostname(lease.hostname.as_deref()),
        client_id: lease.client_id.clone().filter(|c| !c.is_empty()),
        ..lease.clone()
    }
}

/// Appends `<expiry> <mac> <ip> <hostname|*> <client-id|*>` (no newline).
pub fn put_fields(buf: &mut Vec<u8>, lease: &Lease) {
    // Writing into a Vec<u8> cannot fail.
    let _ = write!(buf, "{} ", lease.expires.0);
    put_hw(buf, &lease.hw);
    let _ = write!(buf, " {} ", lease.ip);
    put_hostname(buf, lease.hostname.as_deref());
    buf.push(b' ');
    match lease.client_id.as_deref() {
        Some(id) if !id.is_empty() => put_colon_hex(buf, id),
        _ => buf.push(b'*'),
    }
}

/// Appends one snapshot line (dnsmasq format) with its newline.
pub fn put_snapshot_line(buf: &mut Vec<u8>, lease: &Lease) {
    put_fields(buf, lease);
    buf.push(b'\n');
}

/// Appends ` <crc32 of buf[start..]>\n`, closing a journal record.
fn seal(buf: &mut Vec<u8>, start: usize) {
    let crc = crc32(&buf[start..]);
    let _ = writeln!(buf, " {crc:08x}");
}

/// Appends `L <5 fields> <crc>\n`.
pub fn put_upsert_record(buf: &mut Vec<u8>, lease: &Lease) {
    let start = buf.len();
    buf.extend_from_slice(b"L ");
    put_fields(buf, lease);
    seal(buf, start);
}

/// Appends `D <ip> <crc>\n`.
pub fn put_remove_record(buf: &mut Vec<u8>, ip: Ipv4Addr) {
    let start = buf.len();
    let _ = write!(buf, "D {ip}");
    seal(buf, start);
}

/// Parses the 5 dnsmasq fields; exactly 5 tokens or `None`.
pub fn parse_fields<'a>(mut tokens: impl Iterator<Item = &'a str>) -> Option<Lease> {
    let expiry = tokens.next()?;
    let mac = tokens.next()?;
    let ip = tokens.next()?;
    let host = tokens.next()?;
    let cid = tokens.next()?;
    if tokens.next().is_some() || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let client_id = match cid {
        "*" => None,
        hex => Some(parse_colon_hex(hex)?).filter(|v| !v.is_empty()),
    };
    Some(Lease {
        ip: ip.parse().ok()?,
        hw: HwAddr::parse_lease_string(mac)?,
        client_id,
        // As the store writes it: a control character (NUL, ESC, ...) in a
        // planted or foreign line reads as `-`, so the lease loaded is the
        // lease the next compaction writes (found by fuzz/lease_load).
        hostname: storable_hostname(Some(host)),
        expires: UnixTime(expiry.parse().ok()?),
    })
}

/// What a line of a dnsmasq lease file (or of our snapshot) holds.
#[derive(Debug, PartialEq, Eq)]
pub enum DnsmasqLine {
    Lease(Lease),
    /// Empty or white space only.
    Blank,
    /// `duid <server-duid>`: starts the DHCPv6 section.
    Duid,
    /// `<expiry> [T]<iaid> <ipv6> <hostname|*> <client-duid|*>`.
    V6,
    /// `agent-info ...` / `vendorclass ...` (dnsmasq 2.92+ leasequery).
    Extra,
    /// Anything else.
    Bad,
}

/// Classifies one line (without its newline) of a dnsmasq lease file.
pub fn classify_dnsmasq_line(line: &[u8]) -> DnsmasqLine {
    let Ok(s) = std::str::from_utf8(line) else {
        return DnsmasqLine::Bad;
    };
    let mut tokens = s.split_whitespace();
    match tokens.next() {
        None => return DnsmasqLine::Blank,
        Some("duid") => return DnsmasqLine::Duid,
        Some("agent-info" | "vendorclass") => return DnsmasqLine::Extra,
        Some(_) => {}
    }
    if let Some(third) = tokens.nth(1)
        && third.contains(':')
        && third.parse::<Ipv6Addr>().is_ok()
    {
        return DnsmasqLine::V6;
    }
    match parse_fields(s.split_whitespace()) {
        Some(l) => DnsmasqLine::Lease(l),
        None => DnsmasqLine::Bad,
    }
}

/// A journal record whose checksum holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    Upsert(Lease),
    Remove(Ipv4Addr),
    /// A well-formed record of a tag this version does not know (a newer
    /// writer); skipped.
    Unknown,
}

fn parse_hex8(s: &[u8]) -> Option<u32> {
    if s.len() != 8 {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &b| {
        let d = (b as char).to_digit(16)?;
        Some(acc << 4 | d)
    })
}

/// Parses one journal line (without its newline). `None` when the checksum
/// does not match or the body does not parse.
pub fn parse_record(line: &[u8]) -> Option<Record> {
    // body ' ' hex8
    let split = line.len().checked_sub(9)?;
    let (body, tail) = line.split_at(split);
    if tail[0] != b' ' || parse_hex8(&tail[1..])? != crc32(body) {
        return None;
    }
    let body = std::str::from_utf8(body).ok()?;
    if let Some(rest) = body.strip_prefix("L ") {
        parse_fields(rest.split_whitespace()).map(Record::Upsert)
    } else if let Some(rest) = body.strip_prefix("D ") {
        let mut t = rest.split_whitespace();
        let ip = t.next()?.parse().ok()?;
        t.next().is_none().then_some(Record::Remove(ip))
    } else if body.is_empty() {
        None
    } else {
        Some(Record::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::binding::colon_hex;

    fn lease() -> Lease {
        Lease {
            ip: Ipv4Addr::new(192, 168, 0, 23),
            hw: HwAddr::ether([0, 0x20, 0xe0, 0x3b, 0x13, 0xaf]),
            client_id: Some(vec![1, 0, 0x20, 0xe0, 0x3b, 0x13, 0xaf]),
            hostname: Some("laptop".into()),
            expires: UnixTime(1_767_225_600),
        }
    }

    fn snapshot_line(l: &Lease) -> String {
        let mut b = Vec::new();
        put_snapshot_line(&mut b, l);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn snapshot_line_is_dnsmasqs() {
        assert_eq!(
            snapshot_line(&lease()),
            "1767225600 00:20:e0:3b:13:af 192.168.0.23 laptop 01:00:20:e0:3b:13:af\n"
        );
        let bare = Lease {
            client_id: None,
            hostname: None,
            expires: UnixTime(0),
            ..lease()
        };
        assert_eq!(
            snapshot_line(&bare),
            "0 00:20:e0:3b:13:af 192.168.0.23 * *\n"
        );
    }

    #[test]
    fn hardware_spelling_matches_binding() {
        let cases = [
            HwAddr::ether([1, 2, 3, 4, 5, 6]),
            HwAddr::new(6, &[1, 2, 3, 4, 5, 6]).unwrap(),
            HwAddr::new(1, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap(),
            HwAddr::new(0x20, &[0xab; 16]).unwrap(),
            HwAddr::new(1, &[]).unwrap(),
            HwAddr::new(0, &[]).unwrap(),
            HwAddr::new(0xff, &[0]).unwrap(),
        ];
        for hw in cases {
            let mut b = Vec::new();
            put_hw(&mut b, &hw);
            assert_eq!(String::from_utf8(b).unwrap(), hw.to_lease_string());
            assert_eq!(HwAddr::parse_lease_string(&hw.to_lease_string()), Some(hw));
        }
        let mut b = Vec::new();
        put_colon_hex(&mut b, &[0, 0x9f, 0xff]);
        assert_eq!(String::from_utf8(b).unwrap(), colon_hex(&[0, 0x9f, 0xff]));
    }

    #[test]
    fn hostnames_that_would_break_a_line_are_mended() {
        for (name, want) in [
            ("a b", Some("a-b")),
            ("tab\there", Some("tab-here")),
            ("nl\nx\r", Some("nl-x-")),
            ("nbsp\u{a0}x", Some("nbsp-x")),
            ("nul\0", Some("nul-")),
            ("ünï", Some("ünï")),
            ("*", None),
            ("", None),
        ] {
            let l = Lease {
                hostname: Some(name.into()),
                ..lease()
            };
            assert_eq!(storable_hostname(Some(name)).as_deref(), want, "{name:?}");
            let line = snapshot_line(&l);
            assert_eq!(line.matches('\n').count(), 1);
            let DnsmasqLine::Lease(back) = classify_dnsmasq_line(line.trim_end().as_bytes()) else {
                panic!("{line:?} does not read back");
            };
            assert_eq!(back, storable(&l));
            let mut rec = Vec::new();
            put_upsert_record(&mut rec, &l);
            assert_eq!(
                parse_record(&rec[..rec.len() - 1]),
                Some(Record::Upsert(storable(&l)))
            );
        }
    }

    #[test]
    fn empty_client_id_is_stored_as_absent() {
        let l = Lease {
            client_id: Some(vec![]),
            ..lease()
        };
        assert!(snapshot_line(&l).ends_with(" laptop *\n"));
        assert_eq!(storable(&l).client_id, None);
    }

    #[test]
    fn records_round_trip_and_carry_their_checksum() {
        let mut b = Vec::new();
        put_upsert_record(&mut b, &lease());
        put_remove_record(&mut b, Ipv4Addr::new(10, 0, 0, 1));
        let text = String::from_utf8(b.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let body = "L 1767225600 00:20:e0:3b:13:af 192.168.0.23 laptop 01:00:20:e0:3b:13:af";
        assert_eq!(lines[0], format!("{body} {:08x}", crc32(body.as_bytes())));
        assert_eq!(lines[1], format!("D 10.0.0.1 {:08x}", crc32(b"D 10.0.0.1")));
        assert_eq!(
            parse_record(lines[0].as_bytes()),
            Some(Record::Upsert(lease()))
        );
        assert_eq!(
            parse_record(lines[1].as_bytes()),
            Some(Record::Remove(Ipv4Addr::new(10, 0, 0, 1)))
        );
        // Upper-case checksum digits are accepted; the value is what counts.
        let upper = format!("D 10.0.0.1 {:08X}", crc32(b"D 10.0.0.1"));
        assert!(parse_record(upper.as_bytes()).is_some());
        // A future tag with a good checksum is recognised as such.
        let future = format!("X 1 2 3 {:08x}", crc32(b"X 1 2 3"));
        assert_eq!(parse_record(future.as_bytes()), Some(Record::Unknown));
    }

    #[test]
    fn bad_records_are_refused_without_panicking() {
        let good = format!("D 10.0.0.1 {:08x}", crc32(b"D 10.0.0.1"));
        for bad in [
            "".to_string(),
            " ".to_string(),
            "D".to_string(),
            "12345678".to_string(),
            " 00000000".to_string(),
            format!(" {:08x}", crc32(b"")),
            good.replace("D 10", "D 11"),
            good[..good.len() - 1].to_string(),
            format!("{good}0"),
            good.replacen(' ', "  ", 1),
            format!("D 10.0.0.300 {:08x}", crc32(b"D 10.0.0.300")),
            format!("D 1.2.3.4 5 {:08x}", crc32(b"D 1.2.3.4 5")),
            format!("L 1 2 3 {:08x}", crc32(b"L 1 2 3")),
            format!("{} +0000000", &good[..good.len() - 9]),
        ] {
            assert_eq!(parse_record(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse_record(&[0xff; 40]), None);
        assert_eq!(parse_record(b"\xff\xfe 00000000"), None);
    }

    #[test]
    fn dnsmasq_lines_are_classified() {
        use DnsmasqLine::*;
        assert_eq!(classify_dnsmasq_line(b""), Blank);
        assert_eq!(classify_dnsmasq_line(b"  \t"), Blank);
        assert_eq!(classify_dnsmasq_line(b"duid 00:01:00:01:2c:8e:4d:1a"), Duid);
        assert_eq!(
            classify_dnsmasq_line(b"1767225600 1234567 fd00::23 laptop 00:01:00:01"),
            V6
        );
        assert_eq!(
            classify_dnsmasq_line(b"1767225600 T1234567 2001:db8::5 * *"),
            V6
        );
        assert_eq!(classify_dnsmasq_line(b"agent-info 10.0.0.2 0102"), Extra);
        assert_eq!(classify_dnsmasq_line(b"vendorclass 10.0.0.2 6d7366"), Extra);
        for bad in [
            &b"1767225600 00:20:e0:3b:13:af 192.168.0.23 laptop"[..],
            b"1767225600 00:20:e0:3b:13:af 192.168.0.23 laptop * extra",
            b"-5 00:20:e0:3b:13:af 192.168.0.23 laptop *",
            b"+5 00:20:e0:3b:13:af 192.168.0.23 laptop *",
            b"99999999999999999999999 00:20:e0:3b:13:af 192.168.0.23 a *",
            b"1 00:20:e0:3b:13:zz 192.168.0.23 laptop *",
            b"1 00:20:e0:3b:13:af 192.168.0 laptop *",
            b"1 00:20:e0:3b:13:af 192.168.0.23 laptop 0g",
            b"1 00:20:e0:3b:13:af 192.168.0.23 laptop \xff",
            b"1 00:20:e0:3b:13:af:00:11:22:33:44:55:66:77:88:99:aa 1.2.3.4 a *",
        ] {
            assert_eq!(
                classify_dnsmasq_line(bad),
                Bad,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
