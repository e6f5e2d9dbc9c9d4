//! rtnetlink neighbour messages (RTM_NEWNEIGH / RTM_DELNEIGH), parsed
//! without trusting a byte: a datagram from the kernel (a dump reply or a
//! RTNLGRP_NEIGH notification) holds one or more `nlmsghdr` + `ndmsg` +
//! attributes, and every length in it is checked before it is used
//! (uapi `linux/netlink.h`, `linux/neighbour.h`). No netlink crate: the
//! messages are small and read here by hand, as [`crate::vrrp::vip`] does
//! for addresses.

use std::net::Ipv6Addr;
use std::time::Duration;

pub const NLMSG_HDRLEN: usize = 16;
const NDMSG_LEN: usize = 12;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
pub const RTM_NEWNEIGH: u16 = 28;
pub const RTM_DELNEIGH: u16 = 29;
const RTM_GETNEIGH: u16 = 30;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NDA_CACHEINFO: u16 = 3;
const AF_INET6: u8 = 10;
/// `USER_HZ`: `nda_cacheinfo` ages are in `clock_t` ticks of 10 ms.
const TICK: Duration = Duration::from_millis(10);

/// `ndm_state` bits (uapi `linux/neighbour.h`).
pub mod nud {
    pub const INCOMPLETE: u16 = 0x01;
    pub const REACHABLE: u16 = 0x02;
    pub const STALE: u16 = 0x04;
    pub const DELAY: u16 = 0x08;
    pub const PROBE: u16 = 0x10;
    pub const FAILED: u16 = 0x20;
    pub const NOARP: u16 = 0x40;
    pub const PERMANENT: u16 = 0x80;
}

/// One neighbour message, as far as the table needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neigh {
    /// RTM_DELNEIGH: the entry is gone.
    pub deleted: bool,
    /// The `nlmsg_seq` it came with: 0 for a notification, the request's
    /// for a dump reply.
    pub seq: u32,
    pub ifindex: u32,
    /// `ndm_state` ([`nud`]).
    pub state: u16,
    /// `NDA_DST`; `None` when missing or not 16 bytes.
    pub dst: Option<Ipv6Addr>,
    /// `NDA_LLADDR` when it is 6 bytes (Ethernet).
    pub lladdr: Option<[u8; 6]>,
    /// `NDA_CACHEINFO` `ndm_confirmed`: how long ago the neighbour was
    /// last confirmed reachable.
    pub confirmed_ago: Option<Duration>,
}

/// What one netlink message in a datagram says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// An IPv6 neighbour (other families are skipped, not returned).
    Neigh(Neigh),
    /// NLMSG_DONE: the end of the dump with this sequence number.
    Done(u32),
    /// NLMSG_ERROR with this errno for a request's sequence number.
    Error { seq: u32, errno: i32 },
    /// NLMSG_OVERRUN: messages were lost; the table must be dumped again.
    Overrun,
}

/// Why a message was dropped (counted by the driver).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// `nlmsg_len` shorter than the header or past the datagram's end.
    Length,
    /// A neighbour message shorter than `ndmsg`, or an attribute whose
    /// length runs past its message.
    Body,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Malformed::Length => "a netlink message length past the datagram",
            Malformed::Body => "a neighbour message shorter than its attributes",
        })
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_ne_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Every message in a datagram, in order. A bad length ends the walk
/// (nothing after it can be framed); a bad body skips that message only.
pub fn parse(buf: &[u8]) -> Vec<Result<Message, Malformed>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + NLMSG_HDRLEN <= buf.len() {
        let len = u32_at(buf, i) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() - i {
            out.push(Err(Malformed::Length));
            break;
        }
        let kind = u16_at(buf, i + 4);
        let seq = u32_at(buf, i + 8);
        let body = &buf[i + NLMSG_HDRLEN..i + len];
        match kind {
            NLMSG_DONE => out.push(Ok(Message::Done(seq))),
            NLMSG_OVERRUN => out.push(Ok(Message::Overrun)),
            NLMSG_ERROR if body.len() >= 4 => {
                let e = u32_at(body, 0) as i32;
                out.push(Ok(Message::Error {
                    seq,
                    errno: e.wrapping_neg(),
                }))
            }
            NLMSG_ERROR => out.push(Err(Malformed::Body)),
            RTM_NEWNEIGH | RTM_DELNEIGH => match neigh(body, kind == RTM_DELNEIGH, seq) {
                Ok(Some(n)) => out.push(Ok(Message::Neigh(n))),
                Ok(None) => {}
                Err(e) => out.push(Err(e)),
            },
            _ => {}
        }
        i += align4(len);
    }
    out
}

/// `ndmsg` and its attributes; `None` for a family other than IPv6.
fn neigh(body: &[u8], deleted: bool, seq: u32) -> Result<Option<Neigh>, Malformed> {
    if body.len() < NDMSG_LEN {
        return Err(Malformed::Body);
    }
    if body[0] != AF_INET6 {
        return Ok(None);
    }
    let mut n = Neigh {
        deleted,
        seq,
        ifindex: u32_at(body, 4),
        state: u16_at(body, 8),
        dst: None,
        lladdr: None,
        confirmed_ago: None,
    };
    let mut a = NDMSG_LEN;
    while a + 4 <= body.len() {
        let len = u16_at(body, a) as usize;
        let kind = u16_at(body, a + 2) & 0x3fff;
        if len < 4 || len > body.len() - a {
            return Err(Malformed::Body);
        }
        let data = &body[a + 4..a + len];
        match kind {
            NDA_DST => n.dst = <[u8; 16]>::try_from(data).ok().map(Ipv6Addr::from),
            NDA_LLADDR => n.lladdr = <[u8; 6]>::try_from(data).ok(),
            NDA_CACHEINFO if data.len() >= 4 => {
                n.confirmed_ago = Some(TICK * u32_at(data, 0));
            }
            _ => {}
        }
        a += align4(len);
    }
    Ok(Some(n))
}

/// An RTM_GETNEIGH dump request for every IPv6 neighbour, with `seq`.
pub fn dump_request(seq: u32) -> Vec<u8> {
    let mut m = vec![0u8; NLMSG_HDRLEN + NDMSG_LEN];
    let len = m.len() as u32;
    m[0..4].copy_from_slice(&len.to_ne_bytes());
    m[4..6].copy_from_slice(&RTM_GETNEIGH.to_ne_bytes());
    m[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m[NLMSG_HDRLEN] = AF_INET6;
    m
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Captured from Linux 6.x in a network namespace (veth d0, ifindex
    // 3), with a RTNLGRP_NEIGH socket and an RTM_GETNEIGH dump:
    //   ip -6 neigh add 2001:db8::10 lladdr 52:54:00:12:34:56 dev d0 nud reachable
    //   ip -6 neigh add fd00::7 lladdr 52:54:00:12:34:56 dev d0 nud stale
    //   ip -6 neigh del 2001:db8::10 dev d0
    /// The notification of the first `add`: REACHABLE.
    pub(crate) const NEW_REACHABLE: &str = "580000001c00000000000000356400000a00000003000000020000011400010020010db80000000000000000000000100a000200525400123456000008000400000000001400030000000000000000000000000002000000";
    /// The second `add`: STALE, confirmed 60 s ago.
    pub(crate) const NEW_STALE: &str = "580000001c00000000000000366400000a000000030000000400000114000100fd0000000000000000000000000000070a000200525400123456000008000400000000001400030070170000000000000000000001000000";
    /// `del` first announces the entry FAILED, without a link address...
    pub(crate) const NEW_FAILED: &str = "4c0000001c00000000000000376400000a00000003000000200000011400010020010db800000000000000000000001008000400000000001400030000000000000000000000000001000000";
    /// ... then deleted.
    pub(crate) const DEL: &str = "4c0000001d00000000000000000000000a00000003000000200000011400010020010db800000000000000000000001008000400000000001400030000000000000000000000000000000000";
    /// The dump (seq 7) afterwards, in one datagram: the kernel's own
    /// multicast entries (NOARP, 33:33:..), fd00::7 STALE, then DONE.
    pub(crate) const DUMP: &str = "580000001c00020007000000840b00000a000000030000004000000514000100ff0200000000000000000000000000160a000200333300000016000008000400000000001400030045050100d5ed0000d5ed000000000000580000001c00020007000000840b00000a000000020000004000000514000100ff0200000000000000000001ff315c680a0002003333ff315c6800000800040000000000140003000205010092ed000092ed000000000000580000001c00020007000000840b00000a000000030000004000000514000100ff0200000000000000000001ff0bcc4f0a0002003333ff0bcc4f00000800040000000000140003000805010098ed000098ed000000000000580000001c00020007000000840b00000a000000030000000400000114000100fd0000000000000000000000000000070a0002005254001234560000080004000000000014000300af0401003fed00003fed000000000000580000001c00020007000000840b00000a000000020000004000000514000100ff0200000000000000000000000000020a00020033330000000200000800040000000000140003009c0401002ced00002ced000000000000580000001c00020007000000840b00000a000000030000004000000514000100ff0200000000000000000000000000020a0002003333000000020000080004000000000014000300a204010032ed000032ed000000000000580000001c00020007000000840b00000a000000020000004000000514000100ff0200000000000000000000000000160a000200333300000016000008000400000000001400030045050100d5ed0000d5ed000000000000140000000300020007000000840b000000000000";

    pub(crate) const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

    fn one(s: &str) -> Neigh {
        match parse(&hex(s)).as_slice() {
            [Ok(Message::Neigh(n))] => n.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kernel_notifications_parse() {
        let n = one(NEW_REACHABLE);
        assert_eq!(
            n,
            Neigh {
                deleted: false,
                seq: 0,
                ifindex: 3,
                state: nud::REACHABLE,
                dst: Some("2001:db8::10".parse().unwrap()),
                lladdr: Some(MAC),
                confirmed_ago: Some(Duration::ZERO),
            }
        );
        let n = one(NEW_STALE);
        assert_eq!(n.state, nud::STALE);
        assert_eq!(n.dst, Some("fd00::7".parse().unwrap()));
        assert_eq!(n.confirmed_ago, Some(Duration::from_secs(60)));
        let n = one(NEW_FAILED);
        assert_eq!((n.state, n.lladdr, n.deleted), (nud::FAILED, None, false));
        let n = one(DEL);
        assert!(n.deleted);
        assert_eq!(n.dst, Some("2001:db8::10".parse().unwrap()));
    }

    #[test]
    fn a_kernel_dump_parses_to_its_done() {
        let msgs = parse(&hex(DUMP));
        assert_eq!(msgs.len(), 8);
        assert_eq!(msgs[7], Ok(Message::Done(7)));
        let neighs: Vec<Neigh> = msgs
            .iter()
            .filter_map(|m| match m {
                Ok(Message::Neigh(n)) => Some(n.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(neighs.len(), 7);
        assert!(neighs.iter().all(|n| n.seq == 7 && !n.deleted));
        assert_eq!(
            neighs
                .iter()
                .filter(|n| n.state == nud::STALE && n.lladdr == Some(MAC))
                .count(),
            1
        );
        assert!(
            neighs
                .iter()
                .filter(|n| n.state != nud::STALE)
                .all(|n| n.state == nud::NOARP && n.dst.is_some_and(|d| d.is_multicast()))
        );
    }

    #[test]
    fn the_dump_request_is_what_the_kernel_answered() {
        // The capture's request: RTM_GETNEIGH, REQUEST|DUMP, seq 7, AF_INET6.
        assert_eq!(
            dump_request(7),
            hex("1c0000001e00010307000000000000000a0000000000000000000000")
        );
    }

    /// Every truncation and every single-byte corruption of real kernel
    /// bytes: never a panic, and a short body is an error, not a guess.
    #[test]
    fn never_panics_on_damaged_kernel_bytes() {
        for s in [NEW_REACHABLE, NEW_STALE, NEW_FAILED, DEL, DUMP] {
            let b = hex(s);
            for cut in 0..b.len() {
                let _ = parse(&b[..cut]);
            }
            for i in 0..b.len() {
                for v in [0u8, 1, 3, 4, 0x7f, 0xff] {
                    let mut c = b.clone();
                    c[i] = v;
                    let _ = parse(&c);
                }
            }
        }
        let mut rng = crate::testkit::Rng::new(0x6e65_6967_6862_6f72);
        for _ in 0..20_000 {
            let len = rng.below(200) as usize;
            let b: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            let _ = parse(&b);
        }
        // A message cut inside its ndmsg.
        let mut b = hex(NEW_REACHABLE);
        b.truncate(NLMSG_HDRLEN + 8);
        b[0..4].copy_from_slice(&((NLMSG_HDRLEN + 8) as u32).to_ne_bytes());
        assert_eq!(parse(&b), vec![Err(Malformed::Body)]);
        // A length past the end.
        let mut b = hex(NEW_REACHABLE);
        b[0] = 0xff;
        assert_eq!(parse(&b), vec![Err(Malformed::Length)]);
    }
}
