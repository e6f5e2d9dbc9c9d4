//! Ping-before-offer (`dhcp-ping`): RFC 2131 §2.2 says a server SHOULD
//! probe an address with ICMP echo before allocating it. The driver sends
//! one echo request when the core offers an address the client never had,
//! holds that OFFER for [`PROBE_WAIT`], and if a reply comes the address is
//! quarantined and the DISCOVER decided again. The core is never blocked:
//! other requests are served while a probe is out.
//!
//! A raw ICMP socket (CAP_NET_RAW, kept after the privilege drop) sees
//! every echo reply to this host; ours are recognised by their identifier.

use crate::net::inet_checksum;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

/// How long an OFFER waits for an echo reply.
pub const PROBE_WAIT: Duration = Duration::from_millis(500);

const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;

/// An echo request (RFC 792): type, code, checksum, identifier, sequence,
/// and 8 bytes of payload.
pub fn echo_request(id: u16, seq: u16) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0] = ECHO_REQUEST;
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..16].copy_from_slice(b"hamasq\0\0");
    let c = inet_checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// The source of an echo reply carrying our identifier, from a raw IPv4
/// datagram (IP header included, as raw sockets deliver it).
pub fn parse_reply(pkt: &[u8], id: u16) -> Option<Ipv4Addr> {
    let ihl = (*pkt.first()? & 0x0f) as usize * 4;
    if ihl < 20 || pkt.len() < ihl + 8 || pkt[0] >> 4 != 4 {
        return None;
    }
    let icmp = &pkt[ihl..];
    if icmp[0] != ECHO_REPLY || icmp[1] != 0 || u16::from_be_bytes([icmp[4], icmp[5]]) != id {
        return None;
    }
    Some(Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]))
}

/// The probe socket.
pub struct Pinger {
    fd: AsyncFd<OwnedFd>,
    id: u16,
    seq: u16,
}

impl Pinger {
    pub fn open() -> io::Result<Pinger> {
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
        s.set_nonblocking(true)?;
        let fd: OwnedFd = s.into();
        // SAFETY: the AsyncFd owns the descriptor until drop.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Pinger {
            fd,
            id: (std::process::id() & 0xffff) as u16,
            seq: 0,
        })
    }

    pub fn send(&mut self, ip: Ipv4Addr) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let p = echo_request(self.id, self.seq);
        let addr = nix::sys::socket::SockaddrIn::from(SocketAddrV4::new(ip, 0));
        nix::sys::socket::sendto(
            self.fd.as_raw_fd(),
            &p,
            &addr,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        )
        .map(|_| ())
        .map_err(io::Error::from)
    }

    pub async fn readable(&self) -> io::Result<()> {
        let mut g = self.fd.readable().await?;
        g.clear_ready();
        Ok(())
    }

    /// The next echo reply for us, or `None` when nothing is queued.
    pub fn try_recv(&self) -> io::Result<Option<Ipv4Addr>> {
        let mut buf = [0u8; 1500];
        loop {
            match nix::sys::socket::recv(
                self.fd.as_raw_fd(),
                &mut buf,
                nix::sys::socket::MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(n) => {
                    if let Some(ip) = parse_reply(&buf[..n], self.id) {
                        return Ok(Some(ip));
                    }
                }
                Err(nix::errno::Errno::EAGAIN) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksums_to_zero() {
        let p = echo_request(0x1234, 7);
        assert_eq!(p[0], 8);
        assert_eq!(inet_checksum(&p), 0);
        // RFC 1071 §3 example bytes.
        assert_eq!(
            inet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    #[test]
    fn replies_are_matched_by_identifier() {
        let mut pkt = vec![
            0x45, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 9, 10, 0, 0, 1,
        ];
        let mut icmp = echo_request(0x1234, 1).to_vec();
        icmp[0] = 0; // echo reply
        pkt.extend_from_slice(&icmp);
        assert_eq!(parse_reply(&pkt, 0x1234), Some(Ipv4Addr::new(10, 0, 0, 9)));
        assert_eq!(parse_reply(&pkt, 0x4321), None);
        pkt[20] = 8; // a request, not a reply
        assert_eq!(parse_reply(&pkt, 0x1234), None);
        assert_eq!(parse_reply(&pkt[..10], 0x1234), None);
        assert_eq!(parse_reply(&[], 0x1234), None);
    }
}
