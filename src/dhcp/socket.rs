//! The DHCP server socket: UDP port 67 on the wildcard address with
//! IP_PKTINFO, so one socket serves every interface and learns which one a
//! request arrived on, and replies leave by the right interface with the
//! right source address (the VIP in an HA pair).
//!
//! Replies to a client without an address (RFC 2131 §4.1: broadcast bit
//! clear, `ciaddr` = 0) are unicast to `yiaddr` after installing an ARP
//! entry for `chaddr` (SIOCSARP, needs CAP_NET_ADMIN, as dnsmasq does); if
//! that fails the reply is broadcast and the failure counted.
//!
//! Datagrams move in batches, as on the DNS fast path: requests are read
//! with one `recvmmsg` per [`net::BATCH`] and replies queued by
//! [`DhcpSocket::send`] leave with one `sendmmsg` per [`DhcpSocket::flush`]
//! (or per full batch). Under load this turns ~4 system calls per DORA
//! into a handful per batch of requests.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use nix::libc;
use socket2::{Domain, Protocol, Socket, Type};

use crate::net::{self, PktinfoSocket, RecvBatch, SendBatch};

use super::binding::HwAddr;
use super::server::MsgType;

pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;

pub use crate::net::Envelope;

pub struct DhcpSocket {
    sock: PktinfoSocket,
    /// The last `recvmmsg`'s datagrams; `next` is the first not yet read.
    rx: Box<RecvBatch>,
    next: usize,
    /// The last `recvmmsg` filled every slot: more may be queued in the
    /// kernel although no new readiness event will say so.
    rx_full: bool,
    /// The last `recvmmsg` came back short (so the kernel queue was empty)
    /// and all its datagrams were read: the next `try_recv` says "none"
    /// without asking the kernel again. Safe, because readiness is cleared
    /// before reading: a datagram queued since wakes `readable` again.
    rx_short: bool,
    /// Replies queued for the next `sendmmsg`, and the type of each.
    tx: Box<SendBatch>,
    msgs: Vec<MsgType>,
}

/// A reply the kernel refused, reported by [`DhcpSocket::flush`].
#[derive(Debug)]
pub struct SendFailure {
    pub to: SocketAddrV4,
    pub error: io::Error,
}

/// The start-up error for a failed [`DhcpSocket::bind`], naming the port
/// and the interfaces served, and for a port in use, whose fault it is.
pub fn bind_error(port: u16, interfaces: &[&str], e: &io::Error) -> String {
    let on = match interfaces {
        [] => "relayed subnets only".to_string(),
        names => format!("interface {}", names.join(", ")),
    };
    let why = if e.kind() == io::ErrorKind::AddrInUse {
        "another DHCP server (a second hamasq, dnsmasq, dhcpd, Kea) already listens on it; stop it first: two servers on one link NAK each other's clients".to_string()
    } else {
        e.to_string()
    };
    format!("cannot listen for DHCP on port {port} ({on}): {why}")
}

impl DhcpSocket {
    /// Binds 0.0.0.0:`port` (67 in production; tests may use another).
    /// Exclusively: no SO_REUSEADDR, which on Linux lets a second UDP
    /// socket bind the same address and port, so a second DHCP server on
    /// this host (another hamasq, dnsmasq) would start and both would
    /// answer, each NAKing the other's clients. It fails with AddrInUse
    /// instead, as dnsmasq's own bind does (UDP has no TIME_WAIT: a
    /// restart never needs the option).
    pub fn bind(port: u16) -> io::Result<DhcpSocket> {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_broadcast(true)?;
        // Bursts of DISCOVERs must queue, not drop: 1 MiB receive buffer.
        let _ = s.set_recv_buffer_size(1 << 20);
        s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())?;
        Ok(DhcpSocket {
            sock: PktinfoSocket::new(s)?,
            rx: Box::new(RecvBatch::new()),
            next: 0,
            rx_full: false,
            rx_short: false,
            tx: Box::new(SendBatch::new()),
            msgs: Vec::with_capacity(net::BATCH),
        })
    }

    /// Waits until a datagram can be read: at once while datagrams of the
    /// last `recvmmsg` are unread or it came back full.
    /// (The future borrows only the socket, not the batch buffers, which
    /// hold raw pointers and are not `Sync`.)
    pub fn readable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        let ready = self.next < self.rx.len() || self.rx_full;
        let sock = &self.sock;
        async move {
            if ready {
                return Ok(());
            }
            sock.readable().await
        }
    }

    /// Reads one datagram without blocking (copied into `buf`); `Ok(None)`
    /// when none is queued. A datagram longer than `buf` or than a receive
    /// slot ([`net::SLOT`]) is an `InvalidData` error (and gone).
    pub fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<Option<Envelope>> {
        if self.next >= self.rx.len() {
            if std::mem::take(&mut self.rx_short) {
                return Ok(None);
            }
            self.next = 0;
            let n = self.sock.recv_batch(&mut self.rx);
            self.rx_full = matches!(n, Ok(n) if n == net::BATCH);
            self.rx_short = matches!(n, Ok(n) if n > 0 && n < net::BATCH);
            if n? == 0 {
                return Ok(None);
            }
        }
        let i = self.next;
        self.next += 1;
        match self.rx.get(i) {
            Some((data, env)) if data.len() <= buf.len() => {
                buf[..data.len()].copy_from_slice(data);
                Ok(Some(env))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "datagram larger than the receive buffer",
            )),
        }
    }

    /// Queues the reply `data` (a `msg`) for `to`, out of `ifindex` (0 =
    /// routing decides), from `src` (UNSPECIFIED = the kernel picks). It
    /// leaves at the next [`DhcpSocket::flush`], or before if the queue is
    /// full: then `sent` hears how the queued replies fared, as in `flush`.
    pub fn send(
        &mut self,
        data: &[u8],
        to: SocketAddrV4,
        ifindex: u32,
        src: Ipv4Addr,
        msg: MsgType,
        sent: impl FnMut(MsgType, Result<(), SendFailure>),
    ) {
        if self.tx.slot().is_none() {
            self.flush(sent);
        }
        if let Some(b) = self.tx.slot() {
            b.extend_from_slice(data);
            self.tx.commit_via(to, src, ifindex);
            self.msgs.push(msg);
        }
    }

    /// Sends every queued reply (one `sendmmsg` for the lot) and tells
    /// `sent` how each fared, in the order they were queued.
    pub fn flush(&mut self, mut sent: impl FnMut(MsgType, Result<(), SendFailure>)) {
        if self.tx.is_empty() {
            return;
        }
        // Empty (no allocation) unless the kernel refused some.
        let mut refused = Vec::new();
        self.sock.send_batch_with(&mut self.tx, |i, to, error| {
            refused.push((i, SendFailure { to, error }))
        });
        let mut refused = refused.into_iter().peekable();
        for (i, msg) in self.msgs.drain(..).enumerate() {
            match refused.next_if(|(j, _)| *j == i) {
                Some((_, f)) => sent(msg, Err(f)),
                None => sent(msg, Ok(())),
            }
        }
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
