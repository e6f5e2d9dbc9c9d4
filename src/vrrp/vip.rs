//! The virtual IP: added and removed through rtnetlink (RTM_NEWADDR /
//! RTM_DELADDR), and announced with gratuitous ARP on becoming Active
//! (RFC 9568 §6.4.1 / §6.4.2: "broadcast a gratuitous ARP request ... for
//! each IPv4 address associated with the virtual router").
//!
//! No netlink crate: the messages are small and built here by hand, which
//! keeps the binary small and the code testable (the encoders are pure).
//! The GARP sender MAC is the interface's own, as keepalived does without
//! `use_vmac`; see the VRRP docs in `etc/hamasq.conf`.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::libc;

pub use super::router::Vip;

/// What differs between an IPv4 and an IPv6 address in rtnetlink.
pub trait NlAddr: Copy {
    /// `ifaddrmsg.ifa_family`.
    const AF: u8;
    /// `ifaddrmsg.ifa_flags` on an add.
    const ADD_FLAGS: u8;
    /// The attribute an RTM_GETADDR dump carries the address in.
    const DUMP_ATTR: u16;
    fn raw(&self) -> Vec<u8>;
}

impl NlAddr for Ipv4Addr {
    const AF: u8 = libc::AF_INET as u8;
    const ADD_FLAGS: u8 = 0;
    const DUMP_ATTR: u16 = IFA_LOCAL;
    fn raw(&self) -> Vec<u8> {
        self.octets().to_vec()
    }
}

/// `IFA_F_NODAD` (linux/if_addr.h).
const IFA_F_NODAD: u8 = 0x02;

impl NlAddr for Ipv6Addr {
    const AF: u8 = libc::AF_INET6 as u8;
    /// No Duplicate Address Detection: a tentative address sends no NA and
    /// answers nothing for a second or more (RFC 4862 §5.4), while RFC 9568
    /// §6.4.2 has the new Active router announce its addresses and take
    /// over forwarding at once. The virtual addresses are shared by design
    /// between the routers, only the Active one holding them; RFC 4862 §5.4
    /// exempts addresses shared that way (anycast) from DAD, and keepalived
    /// adds its IPv6 VIPs with the same flag.
    const ADD_FLAGS: u8 = IFA_F_NODAD;
    /// An IPv6 dump carries IFA_ADDRESS (IFA_LOCAL only with a peer).
    const DUMP_ATTR: u16 = IFA_ADDRESS;
    fn raw(&self) -> Vec<u8> {
        self.octets().to_vec()
    }
}

const NLMSG_HDRLEN: usize = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_ROOT: u16 = 0x100;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_MATCH: u16 = 0x200;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_CACHEINFO: u16 = 6;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn push_attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(align4(buf.len()), 0);
}

/// What an address request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrOp {
    /// RTM_NEWADDR, permanent; an address already there is left as it is
    /// (NLM_F_EXCL, EEXIST taken as success).
    AddPermanent,
    /// RTM_NEWADDR with NLM_F_CREATE | NLM_F_REPLACE and IFA_CACHEINFO
    /// valid_lft = preferred_lft = this many seconds, as `ip addr replace
    /// ... valid_lft N preferred_lft N`: creates the address or resets its
    /// lifetime. The kernel removes it when the lifetime runs out
    /// (net/ipv4/devinet.c `check_lifetime`).
    AddFor(u32),
    /// RTM_DELADDR.
    Remove,
}

/// An RTM_NEWADDR / RTM_DELADDR request for `vip` on interface `ifindex`.
pub fn addr_message<A: NlAddr>(
    op: AddrOp,
    seq: u32,
    ifindex: u32,
    vip: &Vip<A>,
    label: Option<&str>,
) -> Vec<u8> {
    let add = op != AddrOp::Remove;
    let mut m = vec![0u8; NLMSG_HDRLEN];
    // struct ifaddrmsg: family, prefixlen, flags, scope, index.
    let flags = if add { A::ADD_FLAGS } else { 0 };
    m.extend_from_slice(&[A::AF, vip.prefix_len, flags, 0]);
    m.extend_from_slice(&ifindex.to_ne_bytes());
    push_attr(&mut m, IFA_LOCAL, &vip.addr.raw());
    push_attr(&mut m, IFA_ADDRESS, &vip.addr.raw());
    // Labels are IPv4's (`eth0:1` aliases); IPv6 has none.
    let label = label.filter(|_| A::AF == libc::AF_INET as u8);
    if let Some(l) = label.filter(|l| add && l.len() < 16) {
        let mut z = l.as_bytes().to_vec();
        z.push(0);
        push_attr(&mut m, IFA_LABEL, &z);
    }
    let (kind, flags) = match op {
        AddrOp::AddPermanent => (
            RTM_NEWADDR,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ),
        AddrOp::AddFor(secs) => {
            // struct ifa_cacheinfo: ifa_prefered, ifa_valid, cstamp,
            // tstamp (the last two are output only).
            let mut ci = Vec::with_capacity(16);
            for v in [secs, secs, 0, 0] {
                ci.extend_from_slice(&v.to_ne_bytes());
            }
            push_attr(&mut m, IFA_CACHEINFO, &ci);
            (
                RTM_NEWADDR,
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
            )
        }
        AddrOp::Remove => (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK),
    };
    let len = m.len() as u32;
    m[0..4].copy_from_slice(&len.to_ne_bytes());
    m[4..6].copy_from_slice(&kind.to_ne_bytes());
    m[6..8].copy_from_slice(&flags.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m
}

/// The errno in an NLMSG_ERROR reply for `seq` (0 = success), if `buf`
/// holds one.
pub fn ack_errno(buf: &[u8], seq: u32) -> Option<i32> {
    let mut i = 0;
    while i + NLMSG_HDRLEN <= buf.len() {
        let len = u32::from_ne_bytes(buf[i..i + 4].try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(buf[i + 4..i + 6].try_into().ok()?);
        let s = u32::from_ne_bytes(buf[i + 8..i + 12].try_into().ok()?);
        if len < NLMSG_HDRLEN || i + len > buf.len() {
            return None;
        }
        if kind == NLMSG_ERROR && s == seq && len >= NLMSG_HDRLEN + 4 {
            let e = i32::from_ne_bytes(buf[i + 16..i + 20].try_into().ok()?);
            return Some(-e);
        }
        i += align4(len);
    }
    None
}

/// An rtnetlink socket.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    pub fn open() -> io::Result<Netlink> {
        // SAFETY: plain socket(2); the descriptor is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, valid descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: setsockopt reads one timeval that lives across the call.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            );
        }
        Ok(Netlink { fd, seq: 1 })
    }

    fn request(&mut self, msg: &mut [u8]) -> io::Result<Vec<u8>> {
        self.seq = self.seq.wrapping_add(1);
        msg[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        crate::net::netlink_to_kernel(self.fd.as_raw_fd(), msg)?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            // SAFETY: buf is writable for its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let chunk = &buf[..n as usize];
            out.extend_from_slice(chunk);
            if ack_errno(chunk, self.seq).is_some() || has_done(chunk) {
                return Ok(out);
            }
        }
    }

    /// Adds `vip` to `ifindex`: permanent when `lifetime` is `None`
    /// (already present is success), else with that lifetime in whole
    /// seconds (created, or its lifetime reset when present).
    pub fn add<A: NlAddr>(
        &mut self,
        ifindex: u32,
        vip: &Vip<A>,
        label: Option<&str>,
        lifetime: Option<std::time::Duration>,
    ) -> io::Result<()> {
        let op = match lifetime {
            None => AddrOp::AddPermanent,
            Some(l) => AddrOp::AddFor(l.as_secs().clamp(1, u64::from(u32::MAX - 1)) as u32),
        };
        let mut m = addr_message(op, 0, ifindex, vip, label);
        let seq = self.seq.wrapping_add(1);
        let reply = self.request(&mut m)?;
        match ack_errno(&reply, seq) {
            Some(0) | Some(libc::EEXIST) => Ok(()),
            Some(e) => Err(io::Error::from_raw_os_error(e)),
            None => Err(io::Error::other("no netlink acknowledgement")),
        }
    }

    /// Removes `vip` from `ifindex`. Already absent is success.
    pub fn remove<A: NlAddr>(&mut self, ifindex: u32, vip: &Vip<A>) -> io::Result<()> {
        let mut m = addr_message(AddrOp::Remove, 0, ifindex, vip, None);
        let seq = self.seq.wrapping_add(1);
        let reply = self.request(&mut m)?;
        match ack_errno(&reply, seq) {
            Some(0) | Some(libc::EADDRNOTAVAIL) | Some(libc::ENODEV) => Ok(()),
            Some(e) => Err(io::Error::from_raw_os_error(e)),
            None => Err(io::Error::other("no netlink acknowledgement")),
        }
    }

    /// Whether `addr` is configured on `ifindex` (RTM_GETADDR dump).
    pub fn has<A: NlAddr>(&mut self, ifindex: u32, addr: A) -> io::Result<bool> {
        let mut m = vec![0u8; NLMSG_HDRLEN];
        m.extend_from_slice(&[A::AF, 0, 0, 0]);
        m.extend_from_slice(&0u32.to_ne_bytes());
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        m[4..6].copy_from_slice(&RTM_GETADDR.to_ne_bytes());
        m[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_ROOT | NLM_F_MATCH).to_ne_bytes());
        let reply = self.request(&mut m)?;
        Ok(dump_has(&reply, ifindex, addr))
    }
}

fn has_done(buf: &[u8]) -> bool {
    let mut i = 0;
    while i + NLMSG_HDRLEN <= buf.len() {
        let len = u32::from_ne_bytes(buf[i..i + 4].try_into().unwrap_or([0; 4])) as usize;
        let kind = u16::from_ne_bytes(buf[i + 4..i + 6].try_into().unwrap_or([0; 2]));
        if kind == NLMSG_DONE {
            return true;
        }
        if len < NLMSG_HDRLEN {
            return false;
        }
        i += align4(len);
    }
    false
}

/// Whether an RTM_GETADDR dump lists `addr` on `ifindex`.
pub fn dump_has<A: NlAddr>(buf: &[u8], ifindex: u32, addr: A) -> bool {
    let want = addr.raw();
    let mut i = 0;
    while i + NLMSG_HDRLEN + 8 <= buf.len() {
        let len = u32::from_ne_bytes(buf[i..i + 4].try_into().unwrap_or([0; 4])) as usize;
        let kind = u16::from_ne_bytes(buf[i + 4..i + 6].try_into().unwrap_or([0; 2]));
        if len < NLMSG_HDRLEN || i + len > buf.len() {
            return false;
        }
        if kind == RTM_NEWADDR {
            let body = &buf[i + NLMSG_HDRLEN..i + len];
            let idx = u32::from_ne_bytes(body[4..8].try_into().unwrap_or([0; 4]));
            let mut j = 8;
            while idx == ifindex && j + 4 <= body.len() {
                let alen = u16::from_ne_bytes([body[j], body[j + 1]]) as usize;
                let akind = u16::from_ne_bytes([body[j + 2], body[j + 3]]);
                if alen < 4 || j + alen > body.len() {
                    break;
                }
                if akind == A::DUMP_ATTR
                    && alen == 4 + want.len()
                    && body[j + 4..j + alen] == want[..]
                {
                    return true;
                }
                j += align4(alen);
            }
        }
        i += align4(len);
    }
    false
}

/// A gratuitous ARP request (RFC 5227 §3 announcement form, as keepalived
/// sends): Ethernet broadcast, sender = target = the VIP.
pub fn garp_frame(mac: [u8; 6], vip: Ipv4Addr) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&vip.octets());
    f[32..38].copy_from_slice(&[0; 6]);
    f[38..42].copy_from_slice(&vip.octets());
    f
}

/// Sends gratuitous ARPs on one interface (AF_PACKET, CAP_NET_RAW).
pub struct Garp {
    fd: OwnedFd,
    ifindex: u32,
    mac: [u8; 6],
}

impl Garp {
    pub fn open(ifindex: u32, mac: [u8; 6]) -> io::Result<Garp> {
        // SAFETY: plain socket(2); owned right away.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, valid descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Garp { fd, ifindex, mac })
    }

    pub fn send(&self, vip: Ipv4Addr) -> io::Result<()> {
        self.send_frame(&garp_frame(self.mac, vip), 0x0806, [0xff; 6])
    }

    /// One unsolicited Neighbor Advertisement for an IPv6 VIP
    /// ([`super::na::na_frame`]), the IPv6 counterpart of [`Garp::send`].
    pub fn send_na(&self, vip: std::net::Ipv6Addr) -> io::Result<()> {
        let f = super::na::na_frame(self.mac, vip);
        let dst = super::na::multicast_mac(super::na::ALL_NODES);
        self.send_frame(&f, super::na::ETHERTYPE_IPV6, dst)
    }

    fn send_frame(&self, f: &[u8], ethertype: u16, dst: [u8; 6]) -> io::Result<()> {
        // SAFETY: sockaddr_ll zeroed then filled; f and sa live across the call.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = ethertype.to_be();
        sa.sll_ifindex = self.ifindex as i32;
        sa.sll_halen = 6;
        sa.sll_addr[..6].copy_from_slice(&dst);
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                f.as_ptr() as *const libc::c_void,
                f.len(),
                0,
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

/// The MAC address of an interface (SIOCGIFHWADDR, which follows the
/// caller's network namespace; sysfs may show another namespace's).
pub fn interface_mac(name: &str) -> io::Result<[u8; 6]> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    // SAFETY: plain socket(2); owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; zeroed is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in name.bytes().enumerate() {
        req.ifr_name[i] = b as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR fills the ifreq that lives across the call.
    let r = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SIOCGIFHWADDR as _,
            &mut req as *mut libc::ifreq,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFHWADDR the union holds ifru_hwaddr.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (m, b) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *m = *b as u8;
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_del_addr_messages() {
        let vip = Vip {
            addr: Ipv4Addr::new(192, 168, 1, 254),
            prefix_len: 24,
        };
        let m = addr_message(AddrOp::AddPermanent, 7, 3, &vip, Some("eth0"));
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), RTM_NEWADDR);
        assert_eq!(u16::from_ne_bytes(m[6..8].try_into().unwrap()), 0x605);
        assert_eq!(&m[16..20], &[libc::AF_INET as u8, 24, 0, 0]);
        assert_eq!(u32::from_ne_bytes(m[20..24].try_into().unwrap()), 3);
        // IFA_LOCAL then IFA_ADDRESS, each 8 bytes; then the label.
        assert_eq!(m[24..32], [8u8, 0, 2, 0, 192, 168, 1, 254]);
        assert_eq!(m[32..40], [8u8, 0, 1, 0, 192, 168, 1, 254]);
        assert_eq!(m.len() % 4, 0);
        let d = addr_message(AddrOp::Remove, 8, 3, &vip, Some("eth0"));
        assert_eq!(u16::from_ne_bytes(d[4..6].try_into().unwrap()), RTM_DELADDR);
        assert_eq!(d.len(), 40);
    }

    #[test]
    fn an_ipv6_vip_is_added_without_dad_and_without_a_label() {
        let vip = Vip {
            addr: "fe80::1".parse::<Ipv6Addr>().unwrap(),
            prefix_len: 64,
        };
        let m = addr_message(AddrOp::AddPermanent, 7, 3, &vip, Some("eth0"));
        assert_eq!(
            &m[16..20],
            &[libc::AF_INET6 as u8, 64, IFA_F_NODAD, 0],
            "family, prefix, IFA_F_NODAD"
        );
        // IFA_LOCAL and IFA_ADDRESS, 20 bytes each; no label.
        assert_eq!(m[24..28], [20u8, 0, 2, 0]);
        assert_eq!(m[28..44], vip.addr.octets());
        assert_eq!(m[44..48], [20u8, 0, 1, 0]);
        assert_eq!(m.len(), 64);
        let d = addr_message(AddrOp::Remove, 8, 3, &vip, None);
        assert_eq!(d[18], 0, "no flags on a removal");
        // A dump names an IPv6 address in IFA_ADDRESS.
        let mut dump = vec![0u8; NLMSG_HDRLEN];
        dump.extend_from_slice(&[libc::AF_INET6 as u8, 64, 0, 0xfd]);
        dump.extend_from_slice(&3u32.to_ne_bytes());
        push_attr(&mut dump, IFA_ADDRESS, &vip.addr.octets());
        let len = dump.len() as u32;
        dump[0..4].copy_from_slice(&len.to_ne_bytes());
        dump[4..6].copy_from_slice(&RTM_NEWADDR.to_ne_bytes());
        assert!(dump_has(&dump, 3, vip.addr));
        assert!(!dump_has(&dump, 4, vip.addr));
        assert!(!dump_has(&dump, 3, "fe80::2".parse::<Ipv6Addr>().unwrap()));
    }

    #[test]
    fn an_address_with_a_lifetime_is_created_or_replaced() {
        let vip = Vip {
            addr: Ipv4Addr::new(192, 168, 1, 254),
            prefix_len: 24,
        };
        let m = addr_message(AddrOp::AddFor(3), 7, 3, &vip, Some("eth0"));
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), RTM_NEWADDR);
        // REQUEST | ACK | REPLACE | CREATE, no EXCL: an address already
        // there gets its lifetime reset instead of EEXIST.
        assert_eq!(u16::from_ne_bytes(m[6..8].try_into().unwrap()), 0x505);
        // After local, address and the label "eth0\0" (4 + 5, padded to
        // 12): IFA_CACHEINFO, preferred then valid, 3 s each.
        let ci = &m[52..];
        assert_eq!(ci.len(), 20);
        assert_eq!(u16::from_ne_bytes(ci[0..2].try_into().unwrap()), 20);
        assert_eq!(
            u16::from_ne_bytes(ci[2..4].try_into().unwrap()),
            IFA_CACHEINFO
        );
        assert_eq!(u32::from_ne_bytes(ci[4..8].try_into().unwrap()), 3);
        assert_eq!(u32::from_ne_bytes(ci[8..12].try_into().unwrap()), 3);
    }

    #[test]
    fn acks_are_found_by_sequence() {
        let mut e = vec![0u8; 36];
        e[0..4].copy_from_slice(&36u32.to_ne_bytes());
        e[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        e[8..12].copy_from_slice(&9u32.to_ne_bytes());
        e[16..20].copy_from_slice(&(-libc::EEXIST).to_ne_bytes());
        assert_eq!(ack_errno(&e, 9), Some(libc::EEXIST));
        assert_eq!(ack_errno(&e, 10), None);
        assert_eq!(ack_errno(&e[..10], 9), None);
    }

    #[test]
    fn garp_layout() {
        let f = garp_frame([2, 0, 0, 0, 0, 1], Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[28..32], &[10, 0, 0, 1]);
        assert_eq!(&f[38..42], &[10, 0, 0, 1]);
        assert_eq!(&f[0..6], &[0xff; 6]);
    }
}
