//! The raw ICMPv6 socket of Neighbor Discovery on one interface: RS and
//! RA in, RA out (RFC 4861 §6.1, §6.2; the socket API of RFC 3542).

use std::io;
use std::io::IoSlice;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::libc;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg, sendmsg, setsockopt,
    sockopt,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::packet::{ALL_ROUTERS, HOP_LIMIT, TYPE_RA, TYPE_RS};

/// ICMP6_FILTER (RFC 3542 §3.2; `<netinet/icmp6.h>`, Linux value 1).
const ICMP6_FILTER: libc::c_int = 1;

/// One received ND message's envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub len: usize,
    pub src: Ipv6Addr,
    /// The IPv6 hop limit it arrived with (IPV6_RECVHOPLIMIT, RFC 3542
    /// §6.3); 0 when the kernel did not say, which fails the 255 check.
    pub hop_limit: u8,
    /// The interface it arrived on (IPV6_RECVPKTINFO, RFC 3542 §6.1).
    pub ifindex: u32,
}

/// A raw ICMPv6 socket that passes only RS and RA (ICMP6_FILTER), bound
/// to one interface and joined to ff02::2, sending with hop limit 255.
pub struct NdSocket {
    fd: AsyncFd<OwnedFd>,
}

/// The ICMP6_FILTER bitmap passing only `types`: on Linux a set bit
/// blocks the type (`ICMP6_FILTER_SETBLOCKALL` then `SETPASS`).
pub fn icmp6_filter(types: &[u8]) -> [u32; 8] {
    let mut f = [u32::MAX; 8];
    for &t in types {
        f[usize::from(t >> 5)] &= !(1u32 << (t & 31));
    }
    f
}

impl NdSocket {
    pub fn open(ifname: &str, ifindex: u32) -> io::Result<NdSocket> {
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
        let filter = icmp6_filter(&[TYPE_RS, TYPE_RA]);
        // SAFETY: setsockopt with a pointer to a live 32-byte array, the
        // layout of struct icmp6_filter.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::IPPROTO_ICMPV6,
                ICMP6_FILTER,
                filter.as_ptr().cast(),
                std::mem::size_of_val(&filter) as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        s.bind_device(Some(ifname.as_bytes()))?;
        // RFC 4861 §6.1.1/§6.1.2: receivers drop ND messages whose hop
        // limit is not 255, so everything leaves with 255.
        s.set_multicast_hops_v6(u32::from(HOP_LIMIT))?;
        s.set_unicast_hops_v6(u32::from(HOP_LIMIT))?;
        s.set_multicast_if_v6(ifindex)?;
        s.set_multicast_loop_v6(false)?;
        s.join_multicast_v6(&ALL_ROUTERS, ifindex)?;
        setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true)?;
        setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)?;
        s.set_nonblocking(true)?;
        let fd: OwnedFd = s.into();
        // SAFETY: the AsyncFd owns the descriptor until drop.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| io::Error::other(e.to_string()))?;
        Ok(NdSocket { fd })
    }

    /// Waits until a message can be read.
    pub async fn readable(&self) -> io::Result<()> {
        let mut g = self.fd.readable().await?;
        g.clear_ready();
        Ok(())
    }

    /// One message into `buf` (the ICMPv6 part; the kernel verified its
    /// checksum), or `None` when none is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        let mut iov = [io::IoSliceMut::new(buf)];
        let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
        let msg = match recvmsg::<SockaddrIn6>(
            self.fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(m) => m,
            Err(nix::errno::Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut r = Received {
            len: msg.bytes,
            src: msg.address.map_or(Ipv6Addr::UNSPECIFIED, |a| a.ip()),
            hop_limit: 0,
            ifindex: 0,
        };
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                match c {
                    ControlMessageOwned::Ipv6PacketInfo(pi) => r.ifindex = pi.ipi6_ifindex,
                    ControlMessageOwned::Ipv6HopLimit(h) => {
                        r.hop_limit = u8::try_from(h).unwrap_or(0);
                    }
                    _ => {}
                }
            }
        }
        Ok(Some(r))
    }

    /// Sends `data` to `dst` from `src` out of `ifindex` (IPV6_PKTINFO,
    /// RFC 3542 §6.1); the kernel fills the ICMPv6 checksum (§3.1).
    pub fn send(&self, data: &[u8], dst: Ipv6Addr, ifindex: u32, src: Ipv6Addr) -> io::Result<()> {
        let pi = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: src.octets(),
            },
            ipi6_ifindex: ifindex,
        };
        let to = SockaddrIn6::from(SocketAddrV6::new(dst, 0, 0, ifindex));
        sendmsg(
            self.fd.as_raw_fd(),
            &[IoSlice::new(data)],
            &[ControlMessage::Ipv6PacketInfo(&pi)],
            MsgFlags::MSG_DONTWAIT,
            Some(&to),
        )
        .map(|_| ())
        .map_err(io::Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_passes_only_rs_and_ra() {
        let f = icmp6_filter(&[TYPE_RS, TYPE_RA]);
        let passes = |t: u8| f[usize::from(t >> 5)] & (1 << (t & 31)) == 0;
        assert!(passes(133) && passes(134));
        assert!((0..=255u8).filter(|&t| passes(t)).count() == 2);
    }
}
