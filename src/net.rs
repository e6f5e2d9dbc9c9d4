//! A UDP socket that knows which of our addresses a datagram was sent to
//! (IP_PKTINFO), shared by the DHCP and DNS servers.
//!
//! One wildcard socket serves every interface, and a reply can leave from
//! the address the client used: the VIP in an HA pair, added or removed at
//! run time without re-binding anything.

use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::libc;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg, sendmsg, setsockopt,
    sockopt,
};
use socket2::Socket;
use tokio::io::unix::AsyncFd;

/// One received datagram's envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub len: usize,
    pub src: SocketAddrV4,
    pub ifindex: u32,
    /// The destination address of the datagram (broadcast or one of ours).
    pub dst: Ipv4Addr,
}

/// A bound IPv4 UDP socket with IP_PKTINFO on, registered with tokio.
pub struct PktinfoSocket {
    fd: AsyncFd<OwnedFd>,
}

impl PktinfoSocket {
    /// Takes a bound socket, makes it non-blocking and turns IP_PKTINFO on.
    pub fn new(s: Socket) -> io::Result<PktinfoSocket> {
        s.set_nonblocking(true)?;
        let fd: OwnedFd = s.into();
        setsockopt(&fd, sockopt::Ipv4PacketInfo, &true).map_err(io::Error::from)?;
        // SAFETY: the descriptor is moved into the AsyncFd, which owns it
        // until drop; nothing else closes or reuses it meanwhile.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| io::Error::other(e.to_string()))?;
        Ok(PktinfoSocket { fd })
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Waits until a datagram can be read.
    pub async fn readable(&self) -> io::Result<()> {
        let mut g = self.fd.readable().await?;
        g.clear_ready();
        Ok(())
    }

    /// Reads one datagram without blocking; `Ok(None)` when none is queued.
    /// A datagram larger than `buf` is an `InvalidData` error (and gone).
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<Envelope>> {
        let mut cmsg = nix::cmsg_space!(libc::in_pktinfo);
        let mut iov = [IoSliceMut::new(buf)];
        let r = recvmsg::<SockaddrIn>(
            self.fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT,
        );
        let msg = match r {
            Ok(m) => m,
            Err(nix::errno::Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut ifindex = 0;
        let mut dst = Ipv4Addr::UNSPECIFIED;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::Ipv4PacketInfo(pi) = c {
                    ifindex = pi.ipi_ifindex as u32;
                    dst = Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr));
                }
            }
        }
        let src = msg
            .address
            .map(|a| SocketAddrV4::new(a.ip(), a.port()))
            .unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        let len = msg.bytes;
        if msg.flags.contains(MsgFlags::MSG_TRUNC) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "datagram larger than the receive buffer",
            ));
        }
        Ok(Some(Envelope {
            len,
            src,
            ifindex,
            dst,
        }))
    }

    /// Sends `data` to `to`, out of `ifindex` (0 = routing decides), from
    /// `src` (UNSPECIFIED = the kernel picks).
    pub fn send(
        &self,
        data: &[u8],
        to: SocketAddrV4,
        ifindex: u32,
        src: Ipv4Addr,
    ) -> io::Result<()> {
        let pi = libc::in_pktinfo {
            ipi_ifindex: ifindex as i32,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(src).to_be(),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        let cmsgs = [ControlMessage::Ipv4PacketInfo(&pi)];
        let use_pi = ifindex != 0 || !src.is_unspecified();
        let addr = SockaddrIn::from(to);
        sendmsg(
            self.fd.as_raw_fd(),
            &[IoSlice::new(data)],
            if use_pi { &cmsgs } else { &[] },
            MsgFlags::MSG_DONTWAIT,
            Some(&addr),
        )
        .map(|_| ())
        .map_err(io::Error::from)
    }
}
