//! The VRRP task for one virtual router: the raw socket (IP protocol 112),
//! the VIP by netlink, gratuitous ARP (IPv4) or unsolicited Neighbor
//! Advertisements (IPv6), link tracking, and the role published to DHCP
//! (IPv4) or to router advertisements and DHCPv6 (IPv6). One task type for
//! both families ([`Wire`]), so both run the same order of actions. A few dozen lines of I/O around the sans-IO
//! [`Router`] (design §3): every action it emits is carried out in the
//! order emitted, which is what orders "VIP added and GARP sent before
//! DHCP answers" and "DHCP silent before the VIP is released" (design §1).

use std::io;
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::libc;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use super::Role;
use super::config::VrrpConfig;
use super::error::VrrpError;
use super::hooks::{Notifier, Tracker, notify_args, state_word};
use super::packet::{self, Advert, Auth, Centis, ChecksumMode, Interval, IpHeader, RxError, Secs};
use super::packet6::{self, Ip6Header, Rx6Error};
use super::router::{self, Action, Family, PeerSync, Received, Router, State};
use super::vip::{Garp, Netlink, NlAddr, Vip, interface_mac};
use crate::clock::Mono;
use crate::stats::{self, Counter};
use crate::task::{Shutdown, TaskError};
use crate::{event, event_limited};

/// How often link state (ours and tracked interfaces) is polled.
const LINK_POLL: Duration = Duration::from_millis(200);

/// The protocol-112 socket on one interface.
pub struct VrrpSocket {
    fd: AsyncFd<OwnedFd>,
}

impl VrrpSocket {
    /// Opens the socket, bound to `ifname`, in the 224.0.0.18 group, with
    /// TTL 255 on everything sent (RFC 9568 §5.1.1.3).
    pub fn open(ifname: &str, ifindex: u32, primary: Ipv4Addr) -> io::Result<VrrpSocket> {
        let s = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(packet::IPPROTO_VRRP as i32)),
        )?;
        s.bind_device(Some(ifname.as_bytes()))?;
        s.set_ttl_v4(packet::TTL as u32)?;
        s.set_multicast_ttl_v4(packet::TTL as u32)?;
        s.set_multicast_loop_v4(false)?;
        s.set_multicast_if_v4(&primary)?;
        s.join_multicast_v4_n(
            &packet::MULTICAST_V4,
            &InterfaceIndexOrAddress::Index(ifindex),
        )?;
        s.set_nonblocking(true)?;
        let fd: OwnedFd = s.into();
        // SAFETY: the AsyncFd owns the descriptor until drop.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| io::Error::other(e.to_string()))?;
        Ok(VrrpSocket { fd })
    }

    async fn readable(&self) -> io::Result<()> {
        let mut g = self.fd.readable().await?;
        g.clear_ready();
        Ok(())
    }

    /// One datagram: `Ok(None)` when none is queued, `Ok(Some(None))` for
    /// one that is not a well-formed IPv4 datagram, else its IP header
    /// fields and the VRRP payload range in `buf`.
    fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<Option<(IpHeader, usize, usize)>>> {
        match nix::sys::socket::recv(
            self.fd.as_raw_fd(),
            buf,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(n) => Ok(Some(split_ip(&buf[..n]))),
            Err(nix::errno::Errno::EAGAIN) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the IPv6 socket on `ifname`: joined to `ff02::12` on its
    /// ifindex, hop limit 255 on everything sent (RFC 9568 §5.1.2.3), our
    /// own adverts not looped back, and the hop limit and destination of
    /// each received packet delivered as control messages for the §7.1
    /// checks (IPV6_RECVHOPLIMIT, IPV6_RECVPKTINFO, RFC 3542).
    pub fn open6(ifname: &str, ifindex: u32) -> io::Result<VrrpSocket> {
        let s = Socket::new(
            Domain::IPV6,
            Type::RAW,
            Some(Protocol::from(packet::IPPROTO_VRRP as i32)),
        )?;
        s.bind_device(Some(ifname.as_bytes()))?;
        s.set_unicast_hops_v6(u32::from(packet6::HOP_LIMIT))?;
        s.set_multicast_hops_v6(u32::from(packet6::HOP_LIMIT))?;
        s.set_multicast_loop_v6(false)?;
        s.set_multicast_if_v6(ifindex)?;
        s.join_multicast_v6(&packet6::MULTICAST_V6, ifindex)?;
        {
            use nix::sys::socket::{setsockopt, sockopt};
            setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true)?;
            setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)?;
        }
        s.set_nonblocking(true)?;
        let fd: OwnedFd = s.into();
        // SAFETY: the AsyncFd owns the descriptor until drop.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| io::Error::other(e.to_string()))?;
        Ok(VrrpSocket { fd })
    }

    /// One IPv6 datagram: `Ok(None)` when none is queued, else the header
    /// fields the §7.1 checks need (from the control messages; a missing
    /// one reads as hop limit 0 or destination `::`, so the check drops
    /// the packet) and the payload length.
    fn try_recv6(&self, buf: &mut [u8]) -> io::Result<Option<(Ip6Header, usize)>> {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg};
        let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
        let mut iov = [IoSliceMut::new(buf)];
        let r = recvmsg::<SockaddrIn6>(
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
        let mut ip = Ip6Header {
            src: msg.address.map_or(Ipv6Addr::UNSPECIFIED, |a| a.ip()),
            dst: Ipv6Addr::UNSPECIFIED,
            hop_limit: 0,
        };
        let len = msg.bytes;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                match c {
                    ControlMessageOwned::Ipv6PacketInfo(pi) => {
                        ip.dst = Ipv6Addr::from(pi.ipi6_addr.s6_addr);
                    }
                    ControlMessageOwned::Ipv6HopLimit(h) => {
                        ip.hop_limit = u8::try_from(h).unwrap_or(0);
                    }
                    _ => {}
                }
            }
        }
        Ok(Some((ip, len)))
    }

    /// Sends from `src` (our link-local address, RFC 9568 §5.1.2.1; named
    /// in IPV6_PKTINFO so the kernel cannot pick the virtual link-local
    /// instead, which the checksum covers too) out of `ifindex`.
    fn send6(&self, payload: &[u8], src: Ipv6Addr, dst: Ipv6Addr, ifindex: u32) -> io::Result<()> {
        use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrIn6, sendmsg};
        let to = SockaddrIn6::from(SocketAddrV6::new(dst, 0, 0, ifindex));
        let info = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: src.octets(),
            },
            ipi6_ifindex: ifindex,
        };
        let iov = [std::io::IoSlice::new(payload)];
        sendmsg(
            self.fd.as_raw_fd(),
            &iov,
            &[ControlMessage::Ipv6PacketInfo(&info)],
            MsgFlags::MSG_DONTWAIT,
            Some(&to),
        )
        .map(|_| ())
        .map_err(io::Error::from)
    }

    fn send(&self, payload: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        let addr = nix::sys::socket::SockaddrIn::from(SocketAddrV4::new(dst, 0));
        nix::sys::socket::sendto(
            self.fd.as_raw_fd(),
            payload,
            &addr,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        )
        .map(|_| ())
        .map_err(io::Error::from)
    }
}

/// Splits a raw IPv4 datagram into its header fields and payload bounds;
/// `None` when it is not a well-formed IPv4 datagram.
pub fn split_ip(d: &[u8]) -> Option<(IpHeader, usize, usize)> {
    let ihl = (*d.first()? & 0x0f) as usize * 4;
    if d[0] >> 4 != 4 || ihl < 20 || d.len() < ihl {
        return None;
    }
    let total = (u16::from_be_bytes([d[2], d[3]]) as usize).min(d.len());
    if total < ihl {
        return None;
    }
    let ip = IpHeader {
        src: Ipv4Addr::new(d[12], d[13], d[14], d[15]),
        dst: Ipv4Addr::new(d[16], d[17], d[18], d[19]),
        ttl: d[8],
    };
    Some((ip, ihl, total))
}

/// IFF_UP and IFF_RUNNING of an interface (SIOCGIFFLAGS); `false` when it
/// does not exist.
pub fn link_up(ifname: &str) -> bool {
    if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ {
        return false;
    }
    // SAFETY: plain socket(2); owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return false;
    }
    // SAFETY: fd is fresh and valid.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; zeroed is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in ifname.bytes().enumerate() {
        req.ifr_name[i] = b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills the ifreq that lives across the call.
    let r = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SIOCGIFFLAGS as _,
            &mut req as *mut libc::ifreq,
        )
    };
    if r < 0 {
        return false;
    }
    // SAFETY: after SIOCGIFFLAGS the union holds ifru_flags.
    let flags = unsafe { req.ifr_ifru.ifru_flags } as i32;
    flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0
}

/// One received datagram, as the driver sees it.
pub enum Rx<A> {
    /// Passed the codec's checks (RFC 9568 §7.1): the advert and its source.
    Advert(Advert<A>, A),
    /// Dropped by the codec: the source when known, and why (counted).
    Dropped(Option<A>, DropReason),
}

/// Why the codec dropped a datagram, per family.
#[derive(Clone, Copy, Debug)]
pub enum DropReason {
    V4(RxError),
    V6(Rx6Error),
}

impl DropReason {
    fn counter_name(self) -> &'static str {
        match self {
            DropReason::V4(e) => e.counter_name(),
            DropReason::V6(e) => e.counter_name(),
        }
    }
}

/// What the driver does differently for IPv4 and IPv6; everything else
/// (the order of actions, VIP lifetimes, tracking, the role) is shared.
pub trait Wire: Family + NlAddr + Into<IpAddr> {
    /// The multicast group adverts go to (RFC 9568 §5.1.1.2, §5.1.2.2).
    const MULTICAST: Self;
    /// The instance's virtual addresses of this family.
    fn vips(c: &VrrpConfig) -> Vec<Vip<Self>>;
    /// Its unicast peers of this family.
    fn peers(c: &VrrpConfig) -> Vec<Self>;
    fn open_socket(ifname: &str, ifindex: u32, primary: Self) -> io::Result<VrrpSocket>;
    /// The next datagram, `None` when none is queued.
    fn recv(s: &VrrpSocket, buf: &mut [u8], me: Self) -> io::Result<Option<Rx<Self>>>;
    fn send(
        s: &VrrpSocket,
        adv: &Advert<Self>,
        c: &VrrpConfig,
        src: Self,
        dst: Self,
        ifindex: u32,
    ) -> io::Result<()>;
    /// Announces one VIP on the link: gratuitous ARP (RFC 9568 §6.4.2 for
    /// IPv4) or an unsolicited NA with the Router flag (§6.4.2 for IPv6).
    fn announce(g: &Garp, vip: Self) -> io::Result<()>;
}

impl Wire for Ipv4Addr {
    const MULTICAST: Ipv4Addr = packet::MULTICAST_V4;

    fn vips(c: &VrrpConfig) -> Vec<Vip> {
        c.vips
            .iter()
            .map(|(addr, prefix_len)| Vip {
                addr: *addr,
                prefix_len: *prefix_len,
            })
            .collect()
    }

    fn peers(c: &VrrpConfig) -> Vec<Ipv4Addr> {
        c.unicast_peers.clone()
    }

    fn open_socket(ifname: &str, ifindex: u32, primary: Ipv4Addr) -> io::Result<VrrpSocket> {
        VrrpSocket::open(ifname, ifindex, primary)
    }

    fn recv(s: &VrrpSocket, buf: &mut [u8], _me: Ipv4Addr) -> io::Result<Option<Rx<Ipv4Addr>>> {
        Ok(s.try_recv(buf)?.map(|d| match d {
            None => Rx::Dropped(None, DropReason::V4(RxError::PacketLenErr)),
            Some((ip, start, end)) => match packet::decode(ip, &buf[start..end]) {
                Ok(d) => Rx::Advert(d.advert, ip.src),
                Err(e) => Rx::Dropped(Some(ip.src), DropReason::V4(e)),
            },
        }))
    }

    fn send(
        s: &VrrpSocket,
        adv: &Advert,
        c: &VrrpConfig,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        _ifindex: u32,
    ) -> io::Result<()> {
        let mode = if c.version == 2 {
            ChecksumMode::Rfc9568
        } else {
            c.checksum
        };
        s.send(&packet::encode(adv, mode, src, dst), dst)
    }

    fn announce(g: &Garp, vip: Ipv4Addr) -> io::Result<()> {
        g.send(vip)
    }
}

impl Wire for Ipv6Addr {
    const MULTICAST: Ipv6Addr = packet6::MULTICAST_V6;

    fn vips(c: &VrrpConfig) -> Vec<Vip<Ipv6Addr>> {
        c.vips6
            .iter()
            .map(|(addr, prefix_len)| Vip {
                addr: *addr,
                prefix_len: *prefix_len,
            })
            .collect()
    }

    fn peers(c: &VrrpConfig) -> Vec<Ipv6Addr> {
        c.unicast_peers6.clone()
    }

    fn open_socket(ifname: &str, ifindex: u32, _primary: Ipv6Addr) -> io::Result<VrrpSocket> {
        VrrpSocket::open6(ifname, ifindex)
    }

    fn recv(s: &VrrpSocket, buf: &mut [u8], me: Ipv6Addr) -> io::Result<Option<Rx<Ipv6Addr>>> {
        Ok(s.try_recv6(buf)?.map(|(ip, len)| {
            // Unicast adverts (keepalived's extension) come to our own
            // address; multicast ones to ff02::12 (RFC 9568 §5.1.2.2).
            match packet6::decode(ip, Some(me), &buf[..len.min(buf.len())]) {
                Ok(a) => Rx::Advert(a.into(), ip.src),
                Err(e) => Rx::Dropped(Some(ip.src), DropReason::V6(e)),
            }
        }))
    }

    fn send(
        s: &VrrpSocket,
        adv: &Advert<Ipv6Addr>,
        _c: &VrrpConfig,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        ifindex: u32,
    ) -> io::Result<()> {
        let p = packet6::encode(&packet6::Advert6::from_core(adv), src, dst);
        s.send6(&p, src, dst, ifindex)
    }

    fn announce(g: &Garp, vip: Ipv6Addr) -> io::Result<()> {
        g.send_na(vip)
    }
}

/// The core's config from `[vrrp NAME]` and the interface's address.
pub fn router_config<A: Wire>(c: &VrrpConfig, primary: A) -> router::Config<A> {
    let mut rc = router::Config::new(c.vrid, c.priority, primary, A::vips(c));
    rc.interval = if c.version == 2 {
        Interval::V2(Secs::new((c.advert_int_cs / 100).max(1) as u8).unwrap_or(Secs::DEFAULT))
    } else {
        Interval::V3(Centis::new(c.advert_int_cs).unwrap_or(Centis::DEFAULT))
    };
    rc.auth = Auth::None;
    rc.preempt = c.preempt;
    rc.preempt_delay = c.preempt_delay;
    rc.startup_delay = c.startup_delay;
    rc.down_timer_adverts = c.down_timer_adverts;
    rc.garp.repeat = c.garp_repeat;
    rc.garp.second_burst = c.garp_delay;
    rc.garp.refresh = c.garp_refresh;
    rc.peers = A::peers(c);
    // Set by `VrrpTask::with_peer_sync` when `[ha]` is configured.
    rc.sync_wait = None;
    rc.vip_lifetime = match c.vip_lifetime {
        super::config::VipLifetime::Auto => {
            router::auto_vip_lifetime(rc.interval, rc.down_timer_adverts)
        }
        super::config::VipLifetime::Off => Duration::ZERO,
        super::config::VipLifetime::Secs(s) => Duration::from_secs(s.into()),
    };
    rc
}

/// An instance's task of either family, for the daemon.
pub enum AnyTask {
    V4(VrrpTask<Ipv4Addr>),
    V6(VrrpTask<Ipv6Addr>),
}

impl AnyTask {
    /// Opens an IPv4 or IPv6 instance by its primary address's family.
    pub fn open(
        cfg: VrrpConfig,
        ifindex: u32,
        primary: IpAddr,
        role: Option<watch::Sender<Role>>,
    ) -> Result<AnyTask, String> {
        Ok(match primary {
            IpAddr::V4(p) => AnyTask::V4(VrrpTask::open(cfg, ifindex, p, role)?),
            IpAddr::V6(p) => AnyTask::V6(VrrpTask::open(cfg, ifindex, p, role)?),
        })
    }

    pub fn with_peer_sync(self, rx: watch::Receiver<PeerSync>) -> AnyTask {
        match self {
            AnyTask::V4(t) => AnyTask::V4(t.with_peer_sync(rx)),
            AnyTask::V6(t) => AnyTask::V6(t.with_peer_sync(rx)),
        }
    }

    pub fn status(&self) -> watch::Receiver<super::status::VrrpStatus> {
        match self {
            AnyTask::V4(t) => t.status(),
            AnyTask::V6(t) => t.status(),
        }
    }

    pub async fn run(self, shutdown: Shutdown) -> Result<(), TaskError> {
        match self {
            AnyTask::V4(t) => t.run(shutdown).await,
            AnyTask::V6(t) => t.run(shutdown).await,
        }
    }
}

/// Everything one instance's task owns.
pub struct VrrpTask<A: Wire = Ipv4Addr> {
    pub cfg: VrrpConfig,
    pub ifindex: u32,
    pub primary: A,
    pub router: Router<A>,
    pub socket: VrrpSocket,
    pub netlink: Netlink,
    pub garp: Garp,
    /// Publishes this instance's role to DHCP (the subnets that follow it).
    pub role: Option<watch::Sender<Role>>,
    counters: Vec<(&'static str, Counter, u64)>,
    notifier: Option<Notifier>,
    trackers: Vec<Tracker>,
    stopping: bool,
    /// When an advert from another router was last accepted (status).
    last_heard: Option<std::time::Instant>,
    /// What `hamasq status` and the `hamasq_vrrp_state_*` gauge read
    /// ([`crate::status::Board`]).
    status: watch::Sender<super::status::VrrpStatus>,
    /// The pair link's state, when `[ha]` is configured
    /// ([`VrrpTask::with_peer_sync`]).
    peer: Option<watch::Receiver<PeerSync>>,
}

impl<A: Wire> VrrpTask<A> {
    /// Opens the sockets (at start-up, before privileges are dropped).
    pub fn open(
        cfg: VrrpConfig,
        ifindex: u32,
        primary: A,
        role: Option<watch::Sender<Role>>,
    ) -> Result<VrrpTask<A>, String> {
        let fail = |what: &str, e: io::Error| {
            format!("[vrrp {}] {what} on {}: {e}", cfg.name, cfg.interface)
        };
        let router = Router::new(router_config(&cfg, primary))
            .map_err(|e| format!("[vrrp {}] {e}", cfg.name))?;
        let socket = A::open_socket(&cfg.interface, ifindex, primary)
            .map_err(|e| fail("cannot open the VRRP socket", e))?;
        let netlink = Netlink::open().map_err(|e| fail("cannot open netlink", e))?;
        let mac =
            interface_mac(&cfg.interface).map_err(|e| fail("cannot read the MAC address", e))?;
        let garp = Garp::open(ifindex, mac)
            .map_err(|e| fail("cannot open the ARP/NA packet socket", e))?;
        let reg = stats::global();
        let counters = router
            .stats()
            .counters()
            .map(|(name, _)| {
                let metric: &'static str =
                    Box::leak(format!("hamasq_vrrp_{name}_total").into_boxed_str());
                (
                    name,
                    reg.counter(metric, "VRRP statistic (keepalived's name), all instances."),
                    0,
                )
            })
            .collect();
        let status = watch::Sender::new(super::status::VrrpStatus {
            name: cfg.name.clone(),
            interface: cfg.interface.clone(),
            vrid: cfg.vrid,
            state: "INIT",
            priority: router.priority(),
            vips: status_vips(&cfg),
            active_router: None,
            last_heard: None,
            since: Mono::now().to_instant(),
        });
        let metric: &'static str = Box::leak(
            format!(
                "hamasq_vrrp_state_{}",
                cfg.name
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect::<String>()
            )
            .into_boxed_str(),
        );
        let rx = status.subscribe();
        reg.gauge(
            metric,
            "VRRP state of this instance, keepalived's numbers: 0 init, 1 backup, 2 master, 3 fault.",
            move || rx.borrow().state_number(),
        );
        Ok(VrrpTask {
            cfg,
            ifindex,
            primary,
            router,
            socket,
            netlink,
            garp,
            role,
            counters,
            notifier: None,
            trackers: Vec::new(),
            stopping: false,
            last_heard: None,
            status,
            peer: None,
        })
    }

    /// This instance's status channel, for the board.
    pub fn status(&self) -> watch::Receiver<super::status::VrrpStatus> {
        self.status.subscribe()
    }

    /// With a pair link (`[ha]`): the daemon feeds the ha task's
    /// `connected` / `caught_up` here, and a box behind a reachable peer
    /// holds back preemption until it has caught up, or for `sync-wait`
    /// after start while the peer is unreachable (issue 13 item 4,
    /// [`Router::preemption_held`]). Without it (no `[ha]`), VRRP runs as
    /// the RFC alone says. Call before [`VrrpTask::run`].
    pub fn with_peer_sync(mut self, rx: watch::Receiver<PeerSync>) -> VrrpTask<A> {
        let mut rc = self.router.config().clone();
        rc.sync_wait = Some(self.cfg.sync_wait);
        // Same config plus the wait: valid, since the first one was.
        if let Ok(r) = Router::new(rc) {
            self.router = r;
        }
        self.peer = Some(rx);
        self
    }

    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), TaskError> {
        let now = Mono::now();
        self.notifier = self
            .cfg
            .notify
            .clone()
            .map(|s| Notifier::spawn(s, self.cfg.notify_timeout));
        self.trackers = self
            .cfg
            .track_scripts
            .iter()
            .cloned()
            .map(|t| Tracker::new(t, now))
            .collect();
        // A VIP left by a crashed run must not answer while we are not
        // Active; the core adds it back when it becomes Active. Never the
        // owner's: its VIPs are its own interface addresses (RFC 9568
        // §1.6 Definitions, §5.2.4), which config resolution checked.
        let stale = if self.router.is_owner() {
            Vec::new()
        } else {
            self.router.config().vips.clone()
        };
        for v in &stale {
            if self.netlink.has(self.ifindex, v.addr).unwrap_or(false) {
                event!(
                    Warn,
                    "vrrp.stale_vip_removed",
                    "instance={} vip={}/{}",
                    self.cfg.name,
                    v.addr,
                    v.prefix_len
                );
                let _ = self.netlink.remove(self.ifindex, v);
            }
        }
        if let Some(rx) = &mut self.peer {
            let s = *rx.borrow_and_update();
            self.router.set_peer_sync(now, s);
        }
        self.router.startup(now);
        self.router.link(now, link_up(&self.cfg.interface));
        self.drain();
        event!(
            Info,
            "vrrp.started",
            "instance={} interface={} family={} vrid={} priority={} version={} primary={} mode={}",
            self.cfg.name,
            self.cfg.interface,
            self.cfg.family(),
            self.cfg.vrid,
            self.cfg.priority,
            self.cfg.version,
            self.primary,
            if self.router.config().peers.is_empty() {
                "multicast"
            } else {
                "unicast"
            }
        );
        let mut buf = vec![0u8; 4096];
        let mut link_tick = tokio::time::interval(LINK_POLL);
        link_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut link = link_up(&self.cfg.interface);
        let mut delta = 0i16;
        let result = loop {
            let deadline = self.router.poll_timeout();
            tokio::select! {
                _ = shutdown.wait() => break Ok(()),
                r = self.socket.readable() => {
                    if let Err(e) = r {
                        break Err(TaskError::new(format!("[vrrp {}] socket failed: {e}", self.cfg.name)));
                    }
                    self.receive_all(&mut buf);
                }
                _ = sleep_until(deadline) => self.router.poll(Mono::now()),
                s = peer_changed(&mut self.peer) => {
                    if s != self.router.peer_sync() {
                        let now = Mono::now();
                        self.router.set_peer_sync(now, s);
                        event!(
                            Info,
                            "vrrp.peer_sync",
                            "instance={} connected={} caught_up={} preemption_held={}",
                            self.cfg.name,
                            s.connected,
                            s.caught_up,
                            self.router.preemption_held(now)
                        );
                    }
                }
                _ = link_tick.tick() => {
                    let now = Mono::now();
                    let up = link_up(&self.cfg.interface);
                    if up != link {
                        event!(Warn, "vrrp.link", "instance={} interface={} up={up}", self.cfg.name, self.cfg.interface);
                        link = up;
                        self.router.link(now, up);
                    }
                    for t in &mut self.trackers {
                        if t.poll(now) {
                            event!(Warn, "vrrp.track_script", "instance={} script={} failing={} weight={}", self.cfg.name, t.script.path.display(), t.failing, t.script.weight);
                        }
                    }
                    let d: i16 = self.cfg.track_interfaces.iter().filter(|t| t.weight != 0 && !link_up(&t.name)).map(|t| t.weight).sum::<i16>()
                        + self.trackers.iter().filter(|t| t.failing && t.script.weight != 0).map(|t| t.script.weight).sum::<i16>();
                    if d != delta {
                        event!(Info, "vrrp.track", "instance={} priority_delta={d}", self.cfg.name);
                        delta = d;
                        self.router.set_priority_delta(now, d);
                    }
                    // A tracked interface of weight 0 going down acts as our own link.
                    let hard_down = self.cfg.track_interfaces.iter().any(|t| t.weight == 0 && !link_up(&t.name))
                        || self.trackers.iter().any(|t| t.failing && t.script.weight == 0);
                    if hard_down && self.router.link_is_up() {
                        self.router.link(now, false);
                    } else if !hard_down && link && !self.router.link_is_up() {
                        self.router.link(now, true);
                    }
                }
            }
            self.drain();
        };
        // Every exit path: priority 0 if Active, then the VIP goes.
        self.stopping = true;
        self.router.shutdown(Mono::now());
        self.drain();
        self.remove_vips();
        if let Some(n) = self.notifier.take() {
            // The STOP hook gets a short grace; the shutdown budget is tight.
            n.finish(Duration::from_millis(300)).await;
        }
        event!(Info, "vrrp.stopped", "instance={}", self.cfg.name);
        result
    }

    fn receive_all(&mut self, buf: &mut [u8]) {
        for _ in 0..64 {
            let rx = match A::recv(&self.socket, buf, self.primary) {
                Ok(Some(rx)) => rx,
                Ok(None) => return,
                Err(e) => {
                    let e = format_args!("instance={} error={}", self.cfg.name, crate::log::q(&e));
                    VrrpError::Receive.record(&mut self.router, e);
                    return;
                }
            };
            let now = Mono::now();
            match rx {
                Rx::Dropped(src, why) => {
                    let src = src.map_or("-".to_string(), |s| s.to_string());
                    let detail = format_args!(
                        "instance={} src={src} reason={}",
                        self.cfg.name,
                        why.counter_name()
                    );
                    match why {
                        DropReason::V4(e) => VrrpError::Decode(e).record(&mut self.router, detail),
                        DropReason::V6(e) => {
                            self.router.record_rx6_error(e);
                            let e = match e {
                                Rx6Error::Packet(e) => e,
                                // Logged at the class of a malformed packet.
                                Rx6Error::DstErr => RxError::PacketLenErr,
                            };
                            crate::log::emit_limited(
                                VrrpError::Decode(e).level(),
                                VrrpError::Decode(e).event(),
                                detail,
                            );
                        }
                    }
                }
                Rx::Advert(advert, src) => {
                    if advert.vrid != self.cfg.vrid {
                        continue; // another virtual router on this link
                    }
                    let prio = advert.priority;
                    match self.router.receive(now, &advert, src) {
                        Err(e) => VrrpError::Rejected(e).record(
                            &mut self.router,
                            format_args!(
                                "instance={} src={} reason={}",
                                self.cfg.name,
                                src,
                                e.counter_name()
                            ),
                        ),
                        Ok(Received::SteppedDown)
                            if prio == 255 && self.router.config().peers.is_empty() =>
                        {
                            self.last_heard = Some(Mono::now().to_instant());
                            // Checklist 36: RFC mode has no allow-list; we obey, loudly.
                            event!(
                                Warn,
                                "vrrp.security",
                                "instance={} note=\"stepped down for a priority-255 advert from {}; set unicast-peer to restrict sources\"",
                                self.cfg.name,
                                src
                            );
                        }
                        Ok(Received::Own | Received::NotRunning) => {}
                        Ok(Received::HeldForSync) => {
                            self.last_heard = Some(Mono::now().to_instant());
                            let p = self.router.peer_sync();
                            event_limited!(
                                Info,
                                "vrrp.preempt_held",
                                "instance={} active={} active_priority={prio} priority={} peer_connected={} note=\"not preempting until this box has caught up with its peer (or sync-wait passes with the peer unreachable)\"",
                                self.cfg.name,
                                src,
                                self.router.priority(),
                                p.connected
                            );
                        }
                        Ok(_) => self.last_heard = Some(Mono::now().to_instant()),
                    }
                }
            }
            self.drain();
        }
    }

    /// Carries out the core's actions in order.
    fn drain(&mut self) {
        while let Some(a) = self.router.poll_action() {
            match a {
                Action::SendAdvert { priority } => {
                    let adv = self.router.advert(priority);
                    let peers = &self.router.config().peers;
                    let dsts: Vec<A> = if peers.is_empty() {
                        vec![A::MULTICAST]
                    } else {
                        peers.clone()
                    };
                    for dst in dsts {
                        let r = A::send(
                            &self.socket,
                            &adv,
                            &self.cfg,
                            self.primary,
                            dst,
                            self.ifindex,
                        );
                        if let Err(e) = r {
                            let e = format_args!(
                                "instance={} dst={dst} error={}",
                                self.cfg.name,
                                crate::log::q(&e)
                            );
                            VrrpError::Send.record(&mut self.router, e);
                        }
                    }
                }
                Action::AddVip(v) | Action::RefreshVip(v) => {
                    let lifetime = self.router.vip_lifetime();
                    if let Err(e) =
                        self.netlink
                            .add(self.ifindex, &v, Some(&self.cfg.interface), lifetime)
                    {
                        let (name, vip, retry) =
                            (&self.cfg.name, v, router::VIP_REFRESH_RETRY.as_millis());
                        if matches!(a, Action::AddVip(_)) {
                            event_limited!(
                                Error,
                                "vrrp.vip_add_failed",
                                "instance={name} vip={vip} error=\"{e}\" retry_in_ms={retry}"
                            );
                        } else {
                            event_limited!(
                                Error,
                                "vrrp.vip_refresh_failed",
                                "instance={name} vip={vip} error=\"{e}\" retry_in_ms={retry}"
                            );
                        }
                        // Retried soon; after a lifetime of failures the
                        // core gives the role up (the kernel drops the VIP).
                        self.router.vip_refresh_failed(Mono::now());
                    }
                }
                Action::VipLapsed { ago } => {
                    event!(
                        Warn,
                        "vrrp.vip_lapsed",
                        "instance={} lifetime_s={} lapsed_ms_ago={} note=\"this process was stopped or starved (or the VIP could not be refreshed) past the VIP lifetime; the kernel removed the VIP, stepping down to Backup\"",
                        self.cfg.name,
                        self.router.config().vip_lifetime.as_secs(),
                        ago.as_millis()
                    );
                }
                Action::RemoveVip(v) => {
                    if let Err(e) = self.netlink.remove(self.ifindex, &v) {
                        event!(
                            Error,
                            "vrrp.vip_remove_failed",
                            "instance={} vip={}/{} error={}",
                            self.cfg.name,
                            v.addr,
                            v.prefix_len,
                            crate::log::q(&e)
                        );
                    }
                }
                Action::SendGratuitousArp { vip, count } => {
                    for _ in 0..count {
                        if let Err(e) = A::announce(&self.garp, vip) {
                            let e = format_args!(
                                "instance={} vip={vip} error={}",
                                self.cfg.name,
                                crate::log::q(&e)
                            );
                            VrrpError::Garp.record(&mut self.router, e);
                            break;
                        }
                    }
                }
                Action::IntervalMismatch {
                    from,
                    advertised,
                    used,
                } => {
                    event_limited!(
                        Warn,
                        "vrrp.interval_mismatch",
                        "instance={} from={from} advertised={advertised} configured={} used={used}",
                        self.cfg.name,
                        self.router.config().interval
                    );
                }
                Action::RoleChanged(r) => {
                    event!(
                        Info,
                        "vrrp.state",
                        "instance={} role={r} priority={}",
                        self.cfg.name,
                        self.router.priority()
                    );
                    if let Some(tx) = &self.role {
                        tx.send_replace(r);
                    }
                    if let Some(n) = &self.notifier {
                        n.notify(notify_args(
                            &self.cfg.name,
                            state_word(r, self.stopping),
                            self.router.priority(),
                        ));
                    }
                }
            }
        }
        self.sync_counters();
        self.publish_status();
    }

    /// The board `hamasq status` reads.
    fn publish_status(&self) {
        let (state, active_router) = match self.router.state() {
            State::Initialize { .. } if self.stopping => ("STOP", None),
            State::Initialize { .. } if !self.router.link_is_up() => ("FAULT", None),
            State::Initialize { .. } => ("INIT", None),
            State::Backup(b) => ("BACKUP", b.active_router),
            State::Active(_) => ("MASTER", None),
        };
        super::status::publish_vrrp(
            &self.status,
            super::status::VrrpStatus {
                name: self.cfg.name.clone(),
                interface: self.cfg.interface.clone(),
                vrid: self.cfg.vrid,
                state,
                priority: self.router.priority(),
                vips: status_vips(&self.cfg),
                active_router: active_router.map(Into::into),
                last_heard: self.last_heard,
                since: Mono::now().to_instant(),
            },
        );
    }

    /// At exit. The owner's addresses are not ours to remove (RFC 9568
    /// §1.6 Definitions).
    fn remove_vips(&mut self) {
        if self.router.is_owner() {
            return;
        }
        for v in self.router.config().vips.clone() {
            let _ = self.netlink.remove(self.ifindex, &v);
        }
    }

    fn sync_counters(&mut self) {
        let now: Vec<u64> = self.router.stats().counters().map(|(_, v)| v).collect();
        for ((_, c, last), v) in self.counters.iter_mut().zip(now) {
            if v > *last {
                c.add(v - *last);
                *last = v;
            }
        }
    }
}

impl<A: Wire> Drop for VrrpTask<A> {
    /// Also on a panic or an early error: the VIP never outlives us.
    fn drop(&mut self) {
        self.remove_vips();
    }
}

/// The pair link's next state; never resolves without `[ha]`. When the
/// ha task is gone, the peer counts as unreachable from then on.
async fn peer_changed(rx: &mut Option<watch::Receiver<PeerSync>>) -> PeerSync {
    let Some(r) = rx else {
        return std::future::pending().await;
    };
    if r.changed().await.is_ok() {
        return *r.borrow_and_update();
    }
    *rx = None;
    PeerSync::default()
}

/// Every virtual address of the instance, either family, for the board.
fn status_vips(c: &VrrpConfig) -> Vec<(std::net::IpAddr, u8)> {
    let v4 = c.vips.iter().map(|(a, p)| (std::net::IpAddr::from(*a), *p));
    v4.chain(c.vips6.iter().map(|(a, p)| ((*a).into(), *p)))
        .collect()
}

async fn sleep_until(at: Option<Mono>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.to_instant().into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_headers_are_split() {
        let mut d = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 255, 112, 0, 0, 10, 0, 0, 2, 224, 0, 0, 18,
        ];
        d.extend_from_slice(&[0x31, 1, 100, 1, 0, 100, 0, 0]);
        let (ip, s, e) = split_ip(&d).unwrap();
        assert_eq!(
            (ip.src, ip.dst, ip.ttl, s, e),
            (
                Ipv4Addr::new(10, 0, 0, 2),
                packet::MULTICAST_V4,
                255,
                20,
                28
            )
        );
        assert!(split_ip(&d[..10]).is_none());
        assert!(split_ip(&[0x65; 40]).is_none());
        assert!(split_ip(&[]).is_none());
    }
}
