//! Unsolicited Neighbor Advertisements for IPv6 virtual addresses, sans-IO:
//! what an IPv6 virtual router sends where an IPv4 one sends gratuitous
//! ARP. RFC 9568 §6.4.1 and §6.4.2: on becoming Active, "for each IPv6
//! address associated with the virtual router, send an unsolicited ND
//! Neighbor Advertisement with the Router Flag (R) set". The message is
//! RFC 4861 §4.4 in the unsolicited form of §7.2.6: to the all-nodes
//! group, Solicited flag clear, Override flag set (so hosts replace the old
//! Active router's link-layer address at once), with the Target Link-Layer
//! Address option; hop limit 255 (RFC 4861 §7.1.2 drops anything else).
//!
//! The source is the target address itself, as Linux sends its own
//! unsolicited NAs (an address of the sending interface, RFC 4861 §7.2.6).

use std::net::Ipv6Addr;

use crate::net::inet_checksum;

/// All-nodes multicast, link-local scope (RFC 4291 §2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// ICMPv6 (RFC 8200 §4, next header 58).
const IPPROTO_ICMPV6: u8 = 58;
/// Neighbor Advertisement (RFC 4861 §4.4).
const TYPE_NA: u8 = 136;
/// Router, Solicited, Override flags (RFC 4861 §4.4).
const FLAG_R: u8 = 0x80;
const FLAG_O: u8 = 0x20;
/// Target Link-Layer Address option, 8 bytes (RFC 4861 §4.6.1).
const OPT_TLLA: u8 = 2;
/// ICMPv6 header, flags, target, one 8-byte option.
pub const NA_LEN: usize = 32;
/// Ethernet, IPv6, NA.
pub const FRAME_LEN: usize = 14 + 40 + NA_LEN;
/// The IPv6 EtherType.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// The ICMPv6 NA for `target` announced with `mac`, checksummed over the
/// IPv6 pseudo-header of RFC 8200 §8.1 for `src` → `dst`.
pub fn na_message(target: Ipv6Addr, mac: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr) -> [u8; NA_LEN] {
    let mut m = [0u8; NA_LEN];
    m[0] = TYPE_NA;
    // Code 0; checksum below. R and O set, S clear (unsolicited, §7.2.6).
    m[4] = FLAG_R | FLAG_O;
    m[8..24].copy_from_slice(&target.octets());
    m[24] = OPT_TLLA;
    m[25] = 1; // length in units of 8 bytes
    m[26..32].copy_from_slice(&mac);
    let mut p = Vec::with_capacity(40 + NA_LEN);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&(NA_LEN as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, IPPROTO_ICMPV6]);
    p.extend_from_slice(&m);
    let sum = inet_checksum(&p);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

/// The multicast MAC of an IPv6 group: 33:33 and its last 32 bits
/// (RFC 2464 §7).
pub fn multicast_mac(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// The whole Ethernet frame of one unsolicited NA for `vip`, from `mac`
/// to all nodes, hop limit 255.
pub fn na_frame(mac: [u8; 6], vip: Ipv6Addr) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&multicast_mac(ALL_NODES));
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    // IPv6 header: version 6, no traffic class or flow label.
    f[14] = 0x60;
    f[18..20].copy_from_slice(&(NA_LEN as u16).to_be_bytes());
    f[20] = IPPROTO_ICMPV6;
    f[21] = 255; // RFC 4861 §7.1.2: hop limit 255
    f[22..38].copy_from_slice(&vip.octets());
    f[38..54].copy_from_slice(&ALL_NODES.octets());
    f[54..].copy_from_slice(&na_message(vip, mac, vip, ALL_NODES));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];

    /// Known answer: the frame scapy 2.5 builds for
    /// `Ether()/IPv6(src=fe80::1, dst=ff02::1, hlim=255)/ICMPv6ND_NA(R=1,
    /// S=0, O=1, tgt=fe80::1)/ICMPv6NDOptDstLLAddr(02:00:00:00:00:0a)`,
    /// byte for byte, checksum 0xd791 included.
    #[test]
    fn the_frame_is_scapys_byte_for_byte() {
        let want = "33330000000102000000000a86dd6000000000203afffe80000000000000\
                    0000000000000001ff0200000000000000000000000000018800d791a000\
                    0000fe800000000000000000000000000001020102000000000a";
        let got: String = na_frame(MAC, "fe80::1".parse().unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, want);
        // A global address: scapy's checksum 0x791f.
        let f = na_frame(MAC, "2001:db8:1::1".parse().unwrap());
        assert_eq!(&f[56..58], &[0x79, 0x1f]);
    }

    /// The checksum verifies from first principles: the one's-complement
    /// sum of pseudo-header and message, written out here without the
    /// crate's helper, is 0xffff.
    #[test]
    fn the_checksum_covers_the_pseudo_header() {
        let vip: Ipv6Addr = "fd00:1::1".parse().unwrap();
        let f = na_frame(MAC, vip);
        let mut words: Vec<u16> = Vec::new();
        let mut push = |b: &[u8]| {
            for c in b.chunks(2) {
                words.push(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
        };
        push(&f[22..54]); // source and destination
        push(&[0, 0, 0, NA_LEN as u8, 0, 0, 0, 58]);
        push(&f[54..]);
        let mut sum: u32 = words.iter().map(|w| u32::from(*w)).sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
        // Flags R and O, not S; the option carries the MAC.
        assert_eq!(f[58], 0xa0);
        assert_eq!(&f[80..86], &MAC);
        assert_eq!(multicast_mac(ALL_NODES), [0x33, 0x33, 0, 0, 0, 1]);
    }
}
