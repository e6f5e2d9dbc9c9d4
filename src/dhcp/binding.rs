//! The facts about one client that every DHCP module shares: its hardware
//! address, its identity key, and a lease (a binding of an address to it).

use std::fmt;
use std::net::Ipv4Addr;

use crate::clock::UnixTime;

/// A hardware address: `htype` (1 = Ethernet) and up to 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HwAddr {
    pub htype: u8,
    len: u8,
    bytes: [u8; 16],
}

impl HwAddr {
    /// `None` if `addr` is longer than 16 bytes (RFC 2131 `chaddr`).
    pub fn new(htype: u8, addr: &[u8]) -> Option<HwAddr> {
        if addr.len() > 16 {
            return None;
        }
        let mut bytes = [0u8; 16];
        bytes[..addr.len()].copy_from_slice(addr);
        Some(HwAddr {
            htype,
            len: addr.len() as u8,
            bytes,
        })
    }

    /// An Ethernet address.
    pub fn ether(mac: [u8; 6]) -> HwAddr {
        HwAddr::new(1, &mac).expect("6 bytes fit")
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// dnsmasq's lease-file spelling: `aa:bb:..` for Ethernet, else
    /// `HTYPE-aa:bb:..` with the type in hex (file-formats.md).
    pub fn to_lease_string(&self) -> String {
        let hex = colon_hex(self.as_bytes());
        if self.htype == 1 && self.len == 6 {
            hex
        } else {
            format!("{:02x}-{hex}", self.htype)
        }
    }

    /// Parses [`HwAddr::to_lease_string`]'s format; no prefix = Ethernet.
    pub fn parse_lease_string(s: &str) -> Option<HwAddr> {
        let (htype, rest) = match s.split_once('-') {
            Some((t, r)) => (u8::from_str_radix(t, 16).ok()?, r),
            None => (1, s),
        };
        HwAddr::new(htype, &parse_colon_hex(rest)?)
    }
}

impl fmt::Debug for HwAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_lease_string())
    }
}

impl fmt::Display for HwAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_lease_string())
    }
}

/// How a client is known (RFC 2131 §4.2, RFC 6842): option 61's bytes if
/// it sent one, compared as an opaque blob (RFC 4361 IAID+DUID included);
/// else `htype` + `chaddr`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum ClientKey {
    ClientId(Vec<u8>),
    Hw(HwAddr),
}

impl ClientKey {
    pub fn new(client_id: Option<&[u8]>, hw: HwAddr) -> ClientKey {
        match client_id {
            Some(id) if !id.is_empty() => ClientKey::ClientId(id.to_vec()),
            _ => ClientKey::Hw(hw),
        }
    }
}

/// A binding of an address to a client, as stored and as DNS sees it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub hw: HwAddr,
    /// Option 61 exactly as the client sent it.
    pub client_id: Option<Vec<u8>>,
    /// Sanitised, unqualified host name.
    pub hostname: Option<String>,
    /// Absolute expiry; `UnixTime(0)` means infinite (dnsmasq's convention).
    /// A RELEASEd lease is kept with an expiry in the past, for affinity.
    pub expires: UnixTime,
}

impl Lease {
    pub fn key(&self) -> ClientKey {
        ClientKey::new(self.client_id.as_deref(), self.hw)
    }

    /// Whether the lease still holds its address at `now`.
    pub fn is_active(&self, now: UnixTime) -> bool {
        self.expires.0 == 0 || self.expires > now
    }
}

/// `01:ab:..`, lower-case.
pub fn colon_hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// Parses `01:ab:..` (also `01-ab-..`); `None` on anything else.
pub fn parse_colon_hex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split([':', '-'])
        .map(|p| {
            if p.is_empty() || p.len() > 2 {
                None
            } else {
                u8::from_str_radix(p, 16).ok()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_strings_round_trip() {
        let e = HwAddr::ether([0, 0x20, 0xe0, 0x3b, 0x13, 0xaf]);
        assert_eq!(e.to_lease_string(), "00:20:e0:3b:13:af");
        assert_eq!(HwAddr::parse_lease_string("00:20:e0:3b:13:af"), Some(e));
        let ib = HwAddr::new(0x20, &[1, 2, 3]).unwrap();
        assert_eq!(ib.to_lease_string(), "20-01:02:03");
        assert_eq!(HwAddr::parse_lease_string("20-01:02:03"), Some(ib));
        assert_eq!(HwAddr::parse_lease_string("zz:01"), None);
        assert!(HwAddr::new(1, &[0; 17]).is_none());
    }

    #[test]
    fn client_id_wins_over_hardware_address() {
        let hw = HwAddr::ether([1, 2, 3, 4, 5, 6]);
        assert_eq!(
            ClientKey::new(Some(&[1, 1, 2, 3, 4, 5, 6]), hw),
            ClientKey::ClientId(vec![1, 1, 2, 3, 4, 5, 6])
        );
        assert_eq!(ClientKey::new(None, hw), ClientKey::Hw(hw));
        assert_eq!(ClientKey::new(Some(&[]), hw), ClientKey::Hw(hw));
    }

    #[test]
    fn activity() {
        let l = Lease {
            ip: Ipv4Addr::new(10, 0, 0, 5),
            hw: HwAddr::ether([1, 2, 3, 4, 5, 6]),
            client_id: None,
            hostname: None,
            expires: UnixTime(100),
        };
        assert!(l.is_active(UnixTime(99)));
        assert!(!l.is_active(UnixTime(100)));
        assert!(
            Lease {
                expires: UnixTime(0),
                ..l
            }
            .is_active(UnixTime(u64::MAX))
        );
    }
}
