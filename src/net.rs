//! A UDP socket that knows which of our addresses a datagram was sent to
//! (IP_PKTINFO), shared by the DHCP and DNS servers, and its IPv6
//! counterpart (IPV6_RECVPKTINFO, RFC 3542 §6) for DNS over IPv6.
//!
//! One wildcard socket serves every interface, and a reply can leave from
//! the address the client used: the VIP in an HA pair, added or removed at
//! run time without re-binding anything.

use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::libc;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrIn6, recvmsg, sendmsg,
    setsockopt, sockopt,
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
        let fd = register(s, |fd| setsockopt(fd, sockopt::Ipv4PacketInfo, &true))?;
        Ok(PktinfoSocket { fd })
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Waits until a datagram can be read.
    pub async fn readable(&self) -> io::Result<()> {
        wait_readable(&self.fd).await
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

/// Makes a bound socket non-blocking, turns its PKTINFO option on
/// (`pktinfo`) and registers it with tokio.
fn register(
    s: Socket,
    pktinfo: impl FnOnce(&OwnedFd) -> nix::Result<()>,
) -> io::Result<AsyncFd<OwnedFd>> {
    s.set_nonblocking(true)?;
    let fd: OwnedFd = s.into();
    pktinfo(&fd).map_err(io::Error::from)?;
    // SAFETY: the descriptor is moved into the AsyncFd, which owns it
    // until drop; nothing else closes or reuses it meanwhile.
    unsafe { AsyncFd::register(fd) }.map_err(|e| io::Error::other(e.to_string()))
}

async fn wait_readable(fd: &AsyncFd<OwnedFd>) -> io::Result<()> {
    let mut g = fd.readable().await?;
    g.clear_ready();
    Ok(())
}

/// Datagrams moved per `recvmmsg`/`sendmmsg` call.
pub const BATCH: usize = 32;
/// Bytes per received datagram slot; a longer datagram is cut and flagged.
pub const SLOT: usize = 4096;

/// What the batched calls need to know about an address family: its
/// socket address and PKTINFO ancillary item (RFC 3542 §6.1 for IPv6).
pub trait Family {
    /// `sockaddr_in` / `sockaddr_in6`.
    type Sockaddr: Copy;
    /// `in_pktinfo` / `in6_pktinfo`.
    type Pktinfo: Copy;
    type Peer: Copy;
    type Ip: Copy;
    type Envelope;
    const LEVEL: libc::c_int;
    const PKTINFO: libc::c_int;
    fn peer(n: &Self::Sockaddr) -> Self::Peer;
    fn sockaddr(p: Self::Peer) -> Self::Sockaddr;
    fn is_unspecified(ip: Self::Ip) -> bool;
    /// The envelope of a datagram, from its sender and PKTINFO (if any).
    fn envelope(len: usize, src: Self::Peer, pi: Option<Self::Pktinfo>) -> Self::Envelope;
    /// The PKTINFO item of a reply: out of `ifindex`, from `src`.
    fn pktinfo(ifindex: u32, src: Self::Ip) -> Self::Pktinfo;
}

/// IPv4 (IP_PKTINFO).
pub enum V4 {}
/// IPv6 (IPV6_PKTINFO).
pub enum V6 {}

impl Family for V4 {
    type Sockaddr = libc::sockaddr_in;
    type Pktinfo = libc::in_pktinfo;
    type Peer = SocketAddrV4;
    type Ip = Ipv4Addr;
    type Envelope = Envelope;
    const LEVEL: libc::c_int = libc::IPPROTO_IP;
    const PKTINFO: libc::c_int = libc::IP_PKTINFO;
    fn peer(n: &libc::sockaddr_in) -> SocketAddrV4 {
        SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(n.sin_addr.s_addr)),
            u16::from_be(n.sin_port),
        )
    }
    fn sockaddr(p: SocketAddrV4) -> libc::sockaddr_in {
        // SAFETY: a plain C struct; all-zero bytes are a valid value.
        let mut n: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        n.sin_family = libc::AF_INET as libc::sa_family_t;
        n.sin_port = p.port().to_be();
        n.sin_addr.s_addr = u32::from(*p.ip()).to_be();
        n
    }
    fn is_unspecified(ip: Ipv4Addr) -> bool {
        ip.is_unspecified()
    }
    fn envelope(len: usize, src: SocketAddrV4, pi: Option<libc::in_pktinfo>) -> Envelope {
        Envelope {
            len,
            src,
            ifindex: pi.map_or(0, |p| p.ipi_ifindex as u32),
            dst: pi.map_or(Ipv4Addr::UNSPECIFIED, |p| {
                Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr))
            }),
        }
    }
    fn pktinfo(ifindex: u32, src: Ipv4Addr) -> libc::in_pktinfo {
        libc::in_pktinfo {
            ipi_ifindex: ifindex as i32,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(src).to_be(),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        }
    }
}

impl Family for V6 {
    type Sockaddr = libc::sockaddr_in6;
    type Pktinfo = libc::in6_pktinfo;
    type Peer = SocketAddrV6;
    type Ip = Ipv6Addr;
    type Envelope = Envelope6;
    const LEVEL: libc::c_int = libc::IPPROTO_IPV6;
    const PKTINFO: libc::c_int = libc::IPV6_PKTINFO;
    fn peer(n: &libc::sockaddr_in6) -> SocketAddrV6 {
        SocketAddrV6::new(
            Ipv6Addr::from(n.sin6_addr.s6_addr),
            u16::from_be(n.sin6_port),
            u32::from_be(n.sin6_flowinfo),
            n.sin6_scope_id,
        )
    }
    fn sockaddr(p: SocketAddrV6) -> libc::sockaddr_in6 {
        // SAFETY: a plain C struct; all-zero bytes are a valid value.
        let mut n: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        n.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        n.sin6_port = p.port().to_be();
        n.sin6_addr.s6_addr = p.ip().octets();
        n.sin6_scope_id = p.scope_id();
        n
    }
    fn is_unspecified(ip: Ipv6Addr) -> bool {
        ip.is_unspecified()
    }
    fn envelope(len: usize, src: SocketAddrV6, pi: Option<libc::in6_pktinfo>) -> Envelope6 {
        Envelope6 {
            len,
            src,
            ifindex: pi.map_or(0, |p| p.ipi6_ifindex),
            dst: pi.map_or(Ipv6Addr::UNSPECIFIED, |p| {
                Ipv6Addr::from(p.ipi6_addr.s6_addr)
            }),
        }
    }
    fn pktinfo(ifindex: u32, src: Ipv6Addr) -> libc::in6_pktinfo {
        libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: src.octets(),
            },
            ipi6_ifindex: ifindex,
        }
    }
}

/// Receive buffers for `recv_batch`: `BATCH` datagrams in one system
/// call, each with its source and PKTINFO.
pub struct RecvBatchOf<F: Family> {
    data: Box<[[u8; SLOT]]>,
    names: Box<[F::Sockaddr]>,
    /// CMSG space per datagram, u64-aligned (CMSG_SPACE of in_pktinfo is 32
    /// bytes on Linux, of in6_pktinfo 40).
    cmsgs: Box<[[u64; 8]]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    got: usize,
}

/// IPv4 receive buffers (DHCP, DNS).
pub type RecvBatch = RecvBatchOf<V4>;
/// IPv6 receive buffers (DNS).
pub type RecvBatch6 = RecvBatchOf<V6>;

impl<F: Family> Default for RecvBatchOf<F> {
    fn default() -> Self {
        RecvBatchOf::new()
    }
}

// SAFETY: the raw pointers inside the iovec/mmsghdr arrays point only into
// this struct's own boxes, are rebuilt before each call, and are never
// dereferenced outside `recv_batch`.
unsafe impl<F: Family> Send for RecvBatchOf<F> {}

impl<F: Family> RecvBatchOf<F> {
    pub fn new() -> RecvBatchOf<F> {
        // SAFETY: sockaddr_in(6), iovec and mmsghdr are plain C structs for
        // which all-zero bytes are valid values.
        let zero_name: F::Sockaddr = unsafe { std::mem::zeroed() };
        let zero_iov: libc::iovec = unsafe { std::mem::zeroed() };
        let zero_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        RecvBatchOf {
            data: vec![[0u8; SLOT]; BATCH].into_boxed_slice(),
            names: vec![zero_name; BATCH].into_boxed_slice(),
            cmsgs: vec![[0u64; 8]; BATCH].into_boxed_slice(),
            iovs: vec![zero_iov; BATCH].into_boxed_slice(),
            hdrs: vec![zero_hdr; BATCH].into_boxed_slice(),
            got: 0,
        }
    }

    /// Datagrams held after the last `recv_batch`.
    pub fn len(&self) -> usize {
        self.got
    }

    pub fn is_empty(&self) -> bool {
        self.got == 0
    }

    /// Datagram `i`: its bytes and envelope, or `None` for one that was
    /// longer than [`SLOT`] (cut by the kernel: junk for DNS and DHCP).
    pub fn get(&self, i: usize) -> Option<(&[u8], F::Envelope)> {
        if i >= self.got {
            return None;
        }
        let h = &self.hdrs[i];
        if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            return None;
        }
        let len = (h.msg_len as usize).min(SLOT);
        let src = F::peer(&self.names[i]);
        let mut pi = None;
        // SAFETY: msg_hdr describes this slot's control buffer as filled by
        // the kernel (msg_controllen updated by recvmmsg); CMSG_FIRSTHDR /
        // CMSG_NXTHDR stay within it and return null at its end.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&h.msg_hdr);
            while !c.is_null() {
                if (*c).cmsg_level == F::LEVEL && (*c).cmsg_type == F::PKTINFO {
                    pi = Some(std::ptr::read_unaligned(
                        libc::CMSG_DATA(c) as *const F::Pktinfo
                    ));
                }
                c = libc::CMSG_NXTHDR(&h.msg_hdr, c);
            }
        }
        Some((&self.data[i][..len], F::envelope(len, src, pi)))
    }
}

/// Replies gathered for one `send_batch`.
pub struct SendBatchOf<F: Family> {
    bufs: Vec<Vec<u8>>,
    to: Vec<F::Peer>,
    from: Vec<F::Ip>,
    /// Outgoing interface per reply (0 = routing decides).
    ifindex: Vec<u32>,
    used: usize,
}

/// IPv4 replies (DHCP, DNS).
pub type SendBatch = SendBatchOf<V4>;
/// IPv6 replies (DNS).
pub type SendBatch6 = SendBatchOf<V6>;

impl<F: Family> Default for SendBatchOf<F> {
    fn default() -> Self {
        SendBatchOf::new()
    }
}

impl<F: Family> SendBatchOf<F> {
    pub fn new() -> SendBatchOf<F> {
        SendBatchOf {
            bufs: (0..BATCH).map(|_| Vec::with_capacity(1500)).collect(),
            to: Vec::with_capacity(BATCH),
            from: Vec::with_capacity(BATCH),
            ifindex: Vec::with_capacity(BATCH),
            used: 0,
        }
    }

    /// The next free reply buffer (cleared), or `None` when the batch is
    /// full: flush it first.
    pub fn slot(&mut self) -> Option<&mut Vec<u8>> {
        let b = self.bufs.get_mut(self.used)?;
        b.clear();
        Some(b)
    }

    /// Keeps the reply written into the last [`SendBatchOf::slot`], to go
    /// to `to` from our address `from` (unspecified = the kernel picks).
    pub fn commit(&mut self, to: F::Peer, from: F::Ip) {
        self.commit_via(to, from, 0);
    }

    /// [`SendBatchOf::commit`], leaving by interface `ifindex` (0 =
    /// routing decides), as [`PktinfoSocket::send`] does: a broadcast
    /// reply must go out of the interface its request came in on, a reply
    /// from a link-local address out of that address's link.
    pub fn commit_via(&mut self, to: F::Peer, from: F::Ip, ifindex: u32) {
        if self.used < self.bufs.len() {
            self.to.push(to);
            self.from.push(from);
            self.ifindex.push(ifindex);
            self.used += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.used
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }
}

/// Reads up to [`BATCH`] datagrams from `fd` in one `recvmmsg`. `Ok(0)`
/// when none is queued.
fn recv_batch_on<F: Family>(fd: RawFd, b: &mut RecvBatchOf<F>) -> io::Result<usize> {
    b.got = 0;
    for i in 0..BATCH {
        b.iovs[i] = libc::iovec {
            iov_base: b.data[i].as_mut_ptr().cast(),
            iov_len: SLOT,
        };
        let h = &mut b.hdrs[i].msg_hdr;
        h.msg_name = (&mut b.names[i] as *mut F::Sockaddr).cast();
        h.msg_namelen = std::mem::size_of::<F::Sockaddr>() as libc::socklen_t;
        h.msg_iov = &mut b.iovs[i];
        h.msg_iovlen = 1;
        h.msg_control = b.cmsgs[i].as_mut_ptr().cast();
        h.msg_controllen = std::mem::size_of::<[u64; 8]>() as _;
        h.msg_flags = 0;
        b.hdrs[i].msg_len = 0;
    }
    // SAFETY: every header points into `b`'s own buffers, sized as
    // declared above, which outlive the call.
    let n = unsafe {
        libc::recvmmsg(
            fd,
            b.hdrs.as_mut_ptr(),
            BATCH as libc::c_uint,
            libc::MSG_DONTWAIT as _,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::WouldBlock {
            Ok(0)
        } else {
            Err(e)
        };
    }
    b.got = n as usize;
    Ok(b.got)
}

/// Sends every reply in `b` on `fd` with `sendmmsg` and empties it,
/// calling `failed_at(i, to, error)` for each reply `i` the kernel
/// refused. Returns how many it refused.
fn send_batch_on<F: Family>(
    fd: RawFd,
    b: &mut SendBatchOf<F>,
    mut failed_at: impl FnMut(usize, F::Peer, io::Error),
) -> usize {
    let n = b.used;
    if n == 0 {
        return 0;
    }
    // SAFETY: as in `RecvBatchOf::new`: plain C structs, zero is valid.
    let mut names: [F::Sockaddr; BATCH] = unsafe { std::mem::zeroed() };
    let mut pis: [[u64; 8]; BATCH] = [[0; 8]; BATCH];
    let mut iovs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    let pi_len = std::mem::size_of::<F::Pktinfo>() as u32;
    let cmsg_space = unsafe { libc::CMSG_SPACE(pi_len) };
    for i in 0..n {
        names[i] = F::sockaddr(b.to[i]);
        iovs[i] = libc::iovec {
            iov_base: b.bufs[i].as_mut_ptr().cast(),
            iov_len: b.bufs[i].len(),
        };
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&mut names[i] as *mut F::Sockaddr).cast();
        h.msg_namelen = std::mem::size_of::<F::Sockaddr>() as libc::socklen_t;
        h.msg_iov = &mut iovs[i];
        h.msg_iovlen = 1;
        if !F::is_unspecified(b.from[i]) || b.ifindex[i] != 0 {
            h.msg_control = pis[i].as_mut_ptr().cast();
            h.msg_controllen = cmsg_space as _;
            // SAFETY: the control buffer is 64 bytes, larger than
            // CMSG_SPACE(in_pktinfo or in6_pktinfo); CMSG_FIRSTHDR points
            // at its start.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(h);
                (*c).cmsg_level = F::LEVEL;
                (*c).cmsg_type = F::PKTINFO;
                (*c).cmsg_len = libc::CMSG_LEN(pi_len) as _;
                let pi = F::pktinfo(b.ifindex[i], b.from[i]);
                std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut F::Pktinfo, pi);
            }
        }
    }
    let mut sent = 0usize;
    let mut failed = 0usize;
    while sent < n {
        // SAFETY: headers sent..n point into the arrays above and into
        // `b`'s buffers, all alive for the call.
        let r = unsafe {
            libc::sendmmsg(
                fd,
                hdrs[sent..].as_mut_ptr(),
                (n - sent) as libc::c_uint,
                libc::MSG_DONTWAIT as _,
            )
        };
        if r <= 0 {
            // The first unsent message failed: skip it, go on.
            failed_at(sent, b.to[sent], io::Error::last_os_error());
            failed += 1;
            sent += 1;
        } else {
            sent += r as usize;
        }
    }
    b.used = 0;
    b.to.clear();
    b.from.clear();
    b.ifindex.clear();
    failed
}

impl PktinfoSocket {
    /// Reads up to [`BATCH`] datagrams in one `recvmmsg`. `Ok(0)` when none
    /// is queued.
    pub fn recv_batch(&self, b: &mut RecvBatch) -> io::Result<usize> {
        recv_batch_on(self.fd.as_raw_fd(), b)
    }

    /// Sends every reply in `b` with `sendmmsg` and empties it. Returns how
    /// many the kernel refused (counted by the caller, not retried: a
    /// client whose reply is lost asks again).
    pub fn send_batch(&self, b: &mut SendBatch) -> usize {
        send_batch_on(self.fd.as_raw_fd(), b, |_, _, _| {})
    }

    /// [`PktinfoSocket::send_batch`], calling `failed_at(i, to, error)`
    /// for each reply `i` (in order of the batch) the kernel refused.
    pub fn send_batch_with(
        &self,
        b: &mut SendBatch,
        failed_at: impl FnMut(usize, SocketAddrV4, io::Error),
    ) -> usize {
        send_batch_on(self.fd.as_raw_fd(), b, failed_at)
    }
}

/// An IPv4 address on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    pub name: String,
    pub index: u32,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// Reads this machine's IPv4 interface addresses.
pub fn local_interfaces() -> std::io::Result<Vec<IfAddr>> {
    interface_addresses(
        |a, m| {
            Some((
                a.as_sockaddr_in()?.ip(),
                prefix_len(m.as_sockaddr_in()?.ip())?,
            ))
        },
        |name, index, addr, prefix| IfAddr {
            name,
            index,
            addr,
            prefix,
        },
    )
}

/// Every interface address `pick` takes (address and prefix length from
/// the address and netmask), made into `T` with its interface's name and
/// index.
fn interface_addresses<A, T>(
    pick: impl Fn(
        &nix::sys::socket::SockaddrStorage,
        &nix::sys::socket::SockaddrStorage,
    ) -> Option<(A, u8)>,
    make: impl Fn(String, u32, A, u8) -> T,
) -> std::io::Result<Vec<T>> {
    let mut out = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs().map_err(std::io::Error::from)? {
        let (Some(a), Some(m)) = (&ifa.address, &ifa.netmask) else {
            continue;
        };
        let Some((addr, prefix)) = pick(a, m) else {
            continue;
        };
        let index = nix::net::if_::if_nametoindex(ifa.interface_name.as_str()).unwrap_or(0);
        out.push(make(ifa.interface_name.clone(), index, addr, prefix));
    }
    Ok(out)
}

/// The prefix length of a contiguous netmask (`None` for 255.0.255.0).
pub fn prefix_len(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let ones = m.leading_ones();
    if m.checked_shl(ones).unwrap_or(0) == 0 {
        Some(ones as u8)
    } else {
        None
    }
}

/// One received IPv6 datagram's envelope (RFC 3542 §6.1, IPV6_PKTINFO).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope6 {
    pub len: usize,
    /// The sender; a link-local sender carries its scope (the interface
    /// index) in `scope_id`.
    pub src: SocketAddrV6,
    pub ifindex: u32,
    /// The destination address of the datagram (multicast or one of ours).
    pub dst: Ipv6Addr,
}

/// A bound IPv6 UDP socket with IPV6_RECVPKTINFO on (RFC 3542 §6), the
/// IPv6 counterpart of [`PktinfoSocket`]: a reply can leave from the
/// address the client asked, link-local ones included.
pub struct Pktinfo6Socket {
    fd: AsyncFd<OwnedFd>,
}

impl Pktinfo6Socket {
    /// Takes a bound IPv6 socket, makes it non-blocking and turns
    /// IPV6_RECVPKTINFO on.
    pub fn new(s: Socket) -> io::Result<Pktinfo6Socket> {
        let fd = register(s, |fd| setsockopt(fd, sockopt::Ipv6RecvPacketInfo, &true))?;
        Ok(Pktinfo6Socket { fd })
    }

    /// Waits until a datagram can be read.
    pub async fn readable(&self) -> io::Result<()> {
        wait_readable(&self.fd).await
    }

    /// Sends `data` to `to`, out of `ifindex` (0 = routing decides), from
    /// `src` (UNSPECIFIED = the kernel picks), with an IPV6_PKTINFO
    /// ancillary item (RFC 3542 §6.1). A link-local `src` needs the
    /// interface it lives on: `ifindex`, or the scope of `to`.
    pub fn send(
        &self,
        data: &[u8],
        to: SocketAddrV6,
        ifindex: u32,
        src: Ipv6Addr,
    ) -> io::Result<()> {
        let pi = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: src.octets(),
            },
            ipi6_ifindex: ifindex,
        };
        let cmsgs = [ControlMessage::Ipv6PacketInfo(&pi)];
        let use_pi = ifindex != 0 || !src.is_unspecified();
        let addr = SockaddrIn6::from(to);
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

impl Pktinfo6Socket {
    /// [`PktinfoSocket::recv_batch`] for IPv6.
    pub fn recv_batch(&self, b: &mut RecvBatch6) -> io::Result<usize> {
        recv_batch_on(self.fd.as_raw_fd(), b)
    }

    /// [`PktinfoSocket::send_batch`] for IPv6.
    pub fn send_batch(&self, b: &mut SendBatch6) -> usize {
        send_batch_on(self.fd.as_raw_fd(), b, |_, _, _| {})
    }
}

/// Whether `a` is a unicast link-local address (fe80::/10, RFC 4291
/// §2.5.6): meaningful only with the interface it belongs to.
pub fn is_link_local6(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// An IPv6 address on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr6 {
    pub name: String,
    pub index: u32,
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

/// Reads this machine's IPv6 interface addresses (link-local ones too).
pub fn local_interfaces6() -> std::io::Result<Vec<IfAddr6>> {
    interface_addresses(
        |a, m| {
            Some((
                a.as_sockaddr_in6()?.ip(),
                prefix_len6(m.as_sockaddr_in6()?.ip())?,
            ))
        },
        |name, index, addr, prefix| IfAddr6 {
            name,
            index,
            addr,
            prefix,
        },
    )
}

/// The link-layer (Ethernet) address of interface `name`, if it has a
/// 6-byte one (a tunnel or the loopback has none).
pub fn mac_address(name: &str) -> Option<[u8; 6]> {
    nix::ifaddrs::getifaddrs()
        .ok()?
        .filter(|ifa| ifa.interface_name == name)
        .find_map(|ifa| ifa.address?.as_link_addr()?.addr())
        .filter(|m| *m != [0; 6])
}

/// The prefix length of a contiguous IPv6 netmask.
pub fn prefix_len6(mask: Ipv6Addr) -> Option<u8> {
    let m = u128::from(mask);
    let ones = m.leading_ones();
    if m.checked_shl(ones).unwrap_or(0) == 0 {
        Some(ones as u8)
    } else {
        None
    }
}

/// Whether `a` and `b` share their first `prefix` bits.
pub fn same_prefix6(a: Ipv6Addr, b: Ipv6Addr, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - prefix.min(128) as u32);
    u128::from(a) & mask == u128::from(b) & mask
}

/// The Internet checksum (RFC 1071).
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for ch in data.chunks(2) {
        let w = if ch.len() == 2 {
            u16::from_be_bytes([ch[0], ch[1]])
        } else {
            u16::from_be_bytes([ch[0], 0])
        };
        sum += w as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends one netlink message to the kernel (pid 0, no groups) on `fd`, an
/// `AF_NETLINK` socket (rtnetlink address changes, neighbour dumps).
pub fn netlink_to_kernel(fd: RawFd, msg: &[u8]) -> io::Result<()> {
    // SAFETY: sockaddr_nl zeroed = the kernel (pid 0), no groups.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: msg and sa live across the call; lengths are theirs.
    let r = unsafe {
        libc::sendto(
            fd,
            msg.as_ptr() as *const libc::c_void,
            msg.len(),
            0,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_round_trip_through_the_c_structs() {
        let v4: SocketAddrV4 = "192.0.2.1:53".parse().unwrap();
        assert_eq!(V4::peer(&V4::sockaddr(v4)), v4);
        // The scope of a link-local address survives (the reply needs it).
        let ll = SocketAddrV6::new("fe80::1".parse().unwrap(), 5353, 0, 7);
        assert_eq!(V6::peer(&V6::sockaddr(ll)), ll);
        let g = SocketAddrV6::new("2001:db8::53".parse().unwrap(), 53, 0, 0);
        assert_eq!(V6::peer(&V6::sockaddr(g)), g);
    }

    #[test]
    fn pktinfo_reads_back_as_the_envelope() {
        let src = SocketAddrV6::new("fd00::10".parse().unwrap(), 40000, 0, 0);
        let dst: Ipv6Addr = "fd00::1".parse().unwrap();
        let e = V6::envelope(12, src, Some(V6::pktinfo(3, dst)));
        assert_eq!((e.len, e.src, e.ifindex, e.dst), (12, src, 3, dst));
        let e = V6::envelope(12, src, None);
        assert_eq!((e.ifindex, e.dst), (0, Ipv6Addr::UNSPECIFIED));
    }

    #[test]
    fn ipv6_prefix_arithmetic() {
        let a = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(prefix_len6(a("ffff:ffff:ffff:ffff::")), Some(64));
        assert_eq!(prefix_len6(a("ffff:0:ffff::")), None);
        assert!(same_prefix6(a("fd00:1::1"), a("fd00:1::ffff"), 64));
        assert!(!same_prefix6(a("fd00:1::1"), a("fd00:2::1"), 64));
        assert!(is_link_local6(a("fe80::1")) && is_link_local6(a("febf::1")));
        assert!(!is_link_local6(a("fec0::1")) && !is_link_local6(a("fd00::1")));
    }
}
