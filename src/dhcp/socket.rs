//! The DHCP server socket: UDP port 67 on the wildcard address with
//! IP_PKTINFO, so one socket serves every interface and learns which one a
//! request arrived on, and replies leave by the right interface with the
//! right source address (the VIP in an HA pair).
//!
//! Replies to a client without an address (RFC 2131 §4.1: broadcast bit
//! clear, `ciaddr` = 0) are unicast to `yiaddr` after installing an ARP
//! entry for `chaddr` (SIOCSARP, needs CAP_NET_ADMIN, as dnsmasq does); if
//! that fails the reply is broadcast and the failure counted.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use nix::libc;
use socket2::{Domain, Protocol, Socket, Type};

use crate::net::PktinfoSocket;

use super::binding::HwAddr;

pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;

pub use crate::net::Envelope;

pub struct DhcpSocket {
    sock: PktinfoSocket,
}

impl DhcpSocket {
    /// Binds 0.0.0.0:`port` (67 in production; tests may use another).
    pub fn bind(port: u16) -> io::Result<DhcpSocket> {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_reuse_address(true)?;
        s.set_broadcast(true)?;
        // Bursts of DISCOVERs must queue, not drop: 1 MiB receive buffer.
        let _ = s.set_recv_buffer_size(1 << 20);
        s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())?;
        Ok(DhcpSocket {
            sock: PktinfoSocket::new(s)?,
        })
    }

    /// Waits until a datagram can be read.
    pub async fn readable(&self) -> io::Result<()> {
        self.sock.readable().await
    }

    /// Reads one datagram without blocking; `Ok(None)` when none is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<Envelope>> {
        self.sock.try_recv(buf)
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
        self.sock.send(data, to, ifindex, src)
    }

    /// Installs an ARP entry `ip → hw` on `ifname` so a unicast reply can
    /// reach a client that has no address yet (RFC 2131 §4.1).
    pub fn set_arp(&self, ifname: &str, ip: Ipv4Addr, hw: &HwAddr) -> io::Result<()> {
        set_arp_entry(self.sock.as_raw_fd(), ifname, ip, hw)
    }
}

fn set_arp_entry(fd: i32, ifname: &str, ip: Ipv4Addr, hw: &HwAddr) -> io::Result<()> {
    if ifname.len() >= 16 || hw.as_bytes().len() > 14 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name or hardware address too long",
        ));
    }
    // SAFETY: arpreq is plain old data; zeroed is a valid value.
    let mut req: libc::arpreq = unsafe { std::mem::zeroed() };
    let pa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in fits in sockaddr (both 16 bytes).
    req.arp_pa = unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(pa) };
    req.arp_ha.sa_family = hw.htype as libc::sa_family_t;
    for (i, b) in hw.as_bytes().iter().enumerate() {
        req.arp_ha.sa_data[i] = *b as libc::c_char;
    }
    req.arp_flags = libc::ATF_COM;
    for (i, b) in ifname.bytes().enumerate() {
        req.arp_dev[i] = b as libc::c_char;
    }
    // SAFETY: SIOCSARP reads one arpreq that lives across the call.
    let r = unsafe { libc::ioctl(fd, libc::SIOCSARP as _, &req as *const libc::arpreq) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The name of interface `index`.
pub fn ifname(index: u32) -> Option<String> {
    let mut buf = [0u8; libc::IF_NAMESIZE];
    // SAFETY: if_indextoname writes at most IF_NAMESIZE bytes into buf.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr() as *mut libc::c_char) };
    if p.is_null() {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec()).ok()
}
