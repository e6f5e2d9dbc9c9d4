//! `[ha]`: the pair link (design §9), in the file both boxes share.
//!
//! ```ini
//! [ha]
//! pair = 192.168.1.2, 192.168.1.3
//! key-file = /etc/hamasq/ha.key
//! ```
//!
//! `pair` names both boxes' own addresses (never the VIP); each box takes
//! the one it has as its own and the other as its peer, so both boxes
//! share one file. One address alone names the peer, and this box's own
//! is then its address in the peer's subnet.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use crate::section::{SectionReader, absolute_path, parse_u32_in};

/// The default TCP port of the pair link (unassigned by IANA as of
/// RFC 6335's registry; chosen away from DHCP failover's 647 so tools
/// that dissect that protocol do not misread this one).
pub const DEFAULT_PORT: u16 = 6740;

/// One `[ha]` section, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaConfig {
    /// Both boxes' addresses, or the peer's alone (resolved against this
    /// machine's addresses at start).
    pub pair: Vec<Ipv4Addr>,
    pub port: u16,
    /// The pre-shared key's file: hex digits, mode 0600.
    pub key_file: PathBuf,
    /// Maximum client lead time (draft-ietf-dhc-failover-12 §5.2.1): while
    /// the peer is unreachable, a lease granted on a claim neither store
    /// knows, or extended past what the peer acknowledged, lasts at most
    /// this long.
    pub mclt: Duration,
}

fn parse_v4(v: &str) -> Result<Ipv4Addr, String> {
    let a: Ipv4Addr = v
        .parse()
        .map_err(|_| format!("{v:?} is not an IPv4 address, e.g. 192.168.1.3"))?;
    if a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback() {
        return Err(format!("{a} is not a box's own unicast address"));
    }
    Ok(a)
}

/// This box's address and its peer's, given this machine's addresses:
/// `None` when neither or both of `pair` are ours (the caller says so).
pub fn resolve(cfg: &HaConfig, mine: &[(Ipv4Addr, u8)]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let ours = |a: &Ipv4Addr| mine.iter().any(|(m, _)| m == a);
    match cfg.pair.as_slice() {
        [a, b] if ours(a) != ours(b) => Some(if ours(a) { (*a, *b) } else { (*b, *a) }),
        [peer] if !ours(peer) => mine
            .iter()
            .find(|(m, len)| {
                let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
                u32::from(*m) & mask == u32::from(*peer) & mask
            })
            .map(|(m, _)| (*m, *peer)),
        _ => None,
    }
}

/// Reads `[ha]`.
pub fn read(r: &mut SectionReader<'_>) -> HaConfig {
    let pair = r.required("pair", Vec::new(), |v| {
        let list = v
            .split(',')
            .map(|a| parse_v4(a.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        match list.as_slice() {
            [_] => Ok(list),
            [a, b] if a != b => Ok(list),
            [_, _] => Err("names the same address twice".into()),
            _ => Err("expected both boxes' addresses (a, b), or the peer's alone".into()),
        }
    });
    let port = r.scalar("port", DEFAULT_PORT, |v| {
        parse_u32_in(v, 1, 65535).map(|p| p as u16)
    });
    let key_file = r.required("key-file", PathBuf::new(), absolute_path);
    let mclt = r.scalar("mclt", Duration::from_secs(300), |v| {
        parse_u32_in(v, 30, 86_400).map(|s| Duration::from_secs(s.into()))
    });
    HaConfig {
        pair,
        port,
        key_file,
        mclt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pair: &[&str]) -> HaConfig {
        HaConfig {
            pair: pair.iter().map(|a| a.parse().unwrap()).collect(),
            port: DEFAULT_PORT,
            key_file: PathBuf::from("/k"),
            mclt: Duration::from_secs(300),
        }
    }

    #[test]
    fn each_box_finds_itself_and_its_peer_in_one_shared_line() {
        let a = [
            ("192.168.1.2".parse().unwrap(), 24),
            ("10.0.0.1".parse().unwrap(), 8),
        ];
        let b = [("192.168.1.3".parse().unwrap(), 24)];
        let both = cfg(&["192.168.1.2", "192.168.1.3"]);
        assert_eq!(resolve(&both, &a), Some((a[0].0, b[0].0)));
        assert_eq!(resolve(&both, &b), Some((b[0].0, a[0].0)));
        // The peer alone: our address in its subnet.
        assert_eq!(resolve(&cfg(&["192.168.1.3"]), &a), Some((a[0].0, b[0].0)));
        // Neither of ours, both of ours, or no address in the peer's subnet.
        let c = [("172.16.0.9".parse().unwrap(), 24)];
        assert_eq!(resolve(&both, &c), None);
        let ab = [a[0], b[0]];
        assert_eq!(resolve(&both, &ab), None);
        assert_eq!(resolve(&cfg(&["192.168.1.3"]), &c), None);
    }

    #[test]
    fn bad_addresses_say_why() {
        assert!(
            parse_v4("192.168.1.300")
                .unwrap_err()
                .contains("not an IPv4")
        );
        assert!(parse_v4("224.0.0.18").unwrap_err().contains("unicast"));
        assert!(parse_v4("127.0.0.1").unwrap_err().contains("unicast"));
    }
}
