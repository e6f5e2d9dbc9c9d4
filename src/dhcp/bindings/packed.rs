//! A lease packed into 48 bytes, as the bindings are held in memory.
//!
//! [`Lease`] is the exchange type (store, core, tests): two heap
//! allocations of its own (client identifier, host name) and 80 bytes.
//! With 50,000 leases that, plus a hash map of them, was most of the
//! daemon's memory. [`PackedLease`] keeps the variable-length fields
//! (hardware address, client identifier, host name) in one inline buffer
//! of [`INLINE`] bytes, which holds a MAC, an `01:MAC` client identifier
//! and a 17-character name; only longer ones take one heap allocation.
//! Packing is lossless: [`PackedLease::to_lease`] gives back exactly the
//! lease that was packed (an empty client identifier or host name stays
//! `Some` and empty).

use std::net::Ipv4Addr;

use crate::clock::UnixTime;
use crate::dhcp::binding::{ClientKey, HwAddr, Lease};

/// Bytes of hardware address + client identifier + host name kept inline.
pub const INLINE: usize = 30;

const HAS_CID: u8 = 1;
const HAS_NAME: u8 = 2;

/// See the module doc. Build with [`PackedLease::new`].
#[derive(Clone, PartialEq, Eq)]
pub struct PackedLease {
    expires: u64,
    ip: u32,
    htype: u8,
    /// Bytes of the hardware address (at most 16, [`HwAddr`]).
    hw_len: u8,
    flags: u8,
    /// Bytes of the client identifier when inline (it then fits in a u8).
    cid_len: u8,
    tail: Tail,
}

/// `hw ++ client id ++ host name`.
#[derive(Clone, PartialEq, Eq)]
enum Tail {
    Inline {
        len: u8,
        buf: [u8; INLINE],
    },
    /// The client identifier's length as 4 little-endian bytes, then the
    /// same bytes as inline (a client identifier read from a lease file
    /// may be longer than 255 bytes).
    Heap(Box<[u8]>),
}

impl PackedLease {
    pub fn new(l: &Lease) -> PackedLease {
        let hw = l.hw.as_bytes();
        let cid = l.client_id.as_deref().unwrap_or_default();
        let name = l.hostname.as_deref().unwrap_or_default().as_bytes();
        let flags = if l.client_id.is_some() { HAS_CID } else { 0 }
            | if l.hostname.is_some() { HAS_NAME } else { 0 };
        let total = hw.len() + cid.len() + name.len();
        let (cid_len, tail) = if total <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..hw.len()].copy_from_slice(hw);
            buf[hw.len()..hw.len() + cid.len()].copy_from_slice(cid);
            buf[hw.len() + cid.len()..total].copy_from_slice(name);
            // total <= INLINE < 256: both fit in a u8.
            (
                cid.len() as u8,
                Tail::Inline {
                    len: total as u8,
                    buf,
                },
            )
        } else {
            let mut v = Vec::with_capacity(4 + total);
            v.extend_from_slice(&(cid.len() as u32).to_le_bytes());
            v.extend_from_slice(hw);
            v.extend_from_slice(cid);
            v.extend_from_slice(name);
            (0, Tail::Heap(v.into_boxed_slice()))
        };
        PackedLease {
            expires: l.expires.0,
            ip: u32::from(l.ip),
            htype: l.hw.htype,
            hw_len: hw.len() as u8,
            flags,
            cid_len,
            tail,
        }
    }

    /// (hardware address, client identifier, host name) bytes.
    fn parts(&self) -> (&[u8], &[u8], &[u8]) {
        let (bytes, cid_len) = match &self.tail {
            Tail::Inline { len, buf } => (&buf[..*len as usize], self.cid_len as usize),
            Tail::Heap(b) => {
                let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                (&b[4..], n)
            }
        };
        let (hw, rest) = bytes.split_at(self.hw_len as usize);
        let (cid, name) = rest.split_at(cid_len);
        (hw, cid, name)
    }

    pub fn ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.ip)
    }

    pub fn ip_u32(&self) -> u32 {
        self.ip
    }

    pub fn expires(&self) -> UnixTime {
        UnixTime(self.expires)
    }

    pub fn set_expires(&mut self, t: UnixTime) {
        self.expires = t.0;
    }

    pub fn hw(&self) -> HwAddr {
        HwAddr::new(self.htype, self.parts().0).expect("packed from an HwAddr")
    }

    /// Option 61 as the client sent it.
    pub fn client_id(&self) -> Option<&[u8]> {
        (self.flags & HAS_CID != 0).then(|| self.parts().1)
    }

    pub fn hostname(&self) -> Option<&str> {
        if self.flags & HAS_NAME == 0 {
            return None;
        }
        // Packed from a &str: always UTF-8.
        Some(std::str::from_utf8(self.parts().2).unwrap_or_default())
    }

    /// Whether the lease still holds its address at `now` ([`Lease::is_active`]).
    pub fn is_active(&self, now: UnixTime) -> bool {
        self.expires == 0 || self.expires > now.0
    }

    /// Whether this is the binding of client `key` ([`Lease::key`] ==
    /// `key`), without building a key.
    pub fn is_client(&self, key: &ClientKey) -> bool {
        let (hw, cid, _) = self.parts();
        match key {
            ClientKey::ClientId(id) => self.flags & HAS_CID != 0 && !cid.is_empty() && cid == id,
            ClientKey::Hw(k) => {
                (self.flags & HAS_CID == 0 || cid.is_empty())
                    && k.htype == self.htype
                    && k.as_bytes() == hw
            }
        }
    }

    /// The client's identity as bytes, distinct for distinct keys: `0`
    /// then the client identifier, or `1`, htype, then the hardware
    /// address; fed in `parts` to hash it without allocating.
    pub fn key_parts(&self) -> KeyParts<'_> {
        let (hw, cid, _) = self.parts();
        if self.flags & HAS_CID != 0 && !cid.is_empty() {
            KeyParts::ClientId(cid)
        } else {
            KeyParts::Hw(self.htype, hw)
        }
    }

    pub fn key(&self) -> ClientKey {
        ClientKey::new(self.client_id(), self.hw())
    }

    pub fn to_lease(&self) -> Lease {
        Lease {
            ip: self.ip(),
            hw: self.hw(),
            client_id: self.client_id().map(<[u8]>::to_vec),
            hostname: self.hostname().map(str::to_string),
            expires: self.expires(),
        }
    }

    /// Heap bytes owned besides the struct itself (for accounting).
    pub fn heap_bytes(&self) -> usize {
        match &self.tail {
            Tail::Inline { .. } => 0,
            Tail::Heap(b) => b.len(),
        }
    }
}

impl std::fmt::Debug for PackedLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_lease().fmt(f)
    }
}

/// A client key in borrowed pieces ([`PackedLease::key_parts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyParts<'a> {
    ClientId(&'a [u8]),
    Hw(u8, &'a [u8]),
}

impl<'a> KeyParts<'a> {
    pub fn of(key: &'a ClientKey) -> KeyParts<'a> {
        match key {
            ClientKey::ClientId(id) => KeyParts::ClientId(id),
            ClientKey::Hw(hw) => KeyParts::Hw(hw.htype, hw.as_bytes()),
        }
    }

    /// Feeds the pieces to `h` in one unambiguous sequence.
    pub fn hash_into(&self, h: &mut impl std::hash::Hasher) {
        match self {
            KeyParts::ClientId(id) => {
                h.write_u8(0);
                h.write_usize(id.len());
                h.write(id);
            }
            KeyParts::Hw(t, hw) => {
                h.write_u8(1);
                h.write_u8(*t);
                h.write_usize(hw.len());
                h.write(hw);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(cid: Option<Vec<u8>>, name: Option<&str>) -> Lease {
        Lease {
            ip: Ipv4Addr::new(10, 1, 2, 3),
            hw: HwAddr::ether([2, 0, 0, 0, 0, 9]),
            client_id: cid,
            hostname: name.map(str::to_string),
            expires: UnixTime(1_800_000_000),
        }
    }

    #[test]
    fn packing_is_small_and_lossless() {
        assert_eq!(std::mem::size_of::<PackedLease>(), 48);
        let long_name = "n".repeat(300);
        let cases = [
            lease(None, None),
            lease(Some(vec![1, 2, 0, 0, 0, 0, 9]), None),
            lease(Some(vec![1, 2, 0, 0, 0, 0, 9]), Some("laptop")),
            lease(Some(vec![]), Some("")),
            // Exactly inline, one byte more, and far beyond (u8 lengths).
            lease(Some(vec![7; 10]), Some(&"x".repeat(INLINE - 16))),
            lease(Some(vec![7; 10]), Some(&"x".repeat(INLINE - 15))),
            lease(Some(vec![0xab; 400]), Some(&long_name)),
            lease(None, Some("ünïcode-名前")),
            Lease {
                hw: HwAddr::new(0x20, &[5; 16]).unwrap(),
                expires: UnixTime(u64::MAX),
                ..lease(None, Some("ib"))
            },
        ];
        for l in &cases {
            let p = PackedLease::new(l);
            assert_eq!(&p.to_lease(), l);
            assert_eq!(p.key(), l.key());
            assert_eq!(p.hostname(), l.hostname.as_deref());
            assert_eq!(p.client_id(), l.client_id.as_deref());
            assert_eq!(p.ip(), l.ip);
            assert!(p.is_client(&l.key()));
            assert_eq!(
                p.is_active(UnixTime(1_800_000_000)),
                l.is_active(UnixTime(1_800_000_000))
            );
        }
        assert_eq!(PackedLease::new(&cases[4]).heap_bytes(), 0);
        assert!(PackedLease::new(&cases[5]).heap_bytes() > 0);
    }

    #[test]
    fn client_identity_follows_the_client_key_rules() {
        let hw = HwAddr::ether([2, 0, 0, 0, 0, 9]);
        let by_id = PackedLease::new(&lease(Some(vec![1, 2, 3]), None));
        assert!(by_id.is_client(&ClientKey::ClientId(vec![1, 2, 3])));
        assert!(!by_id.is_client(&ClientKey::ClientId(vec![1, 2])));
        assert!(!by_id.is_client(&ClientKey::Hw(hw)));
        // No or an empty client identifier: the hardware address is the key.
        for cid in [None, Some(vec![])] {
            let p = PackedLease::new(&lease(cid, None));
            assert!(p.is_client(&ClientKey::Hw(hw)));
            assert!(!p.is_client(&ClientKey::Hw(HwAddr::new(6, hw.as_bytes()).unwrap())));
            assert!(!p.is_client(&ClientKey::ClientId(vec![1, 2, 3])));
            assert_eq!(p.key_parts(), KeyParts::of(&ClientKey::Hw(hw)));
        }
        assert_eq!(
            by_id.key_parts(),
            KeyParts::of(&ClientKey::ClientId(vec![1, 2, 3]))
        );
    }
}
