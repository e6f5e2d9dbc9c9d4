//! The `neigh` task: an rtnetlink socket subscribed to RTNLGRP_NEIGH, fed
//! to the [`Watcher`]; it publishes the table whenever it changes. I/O
//! only: what counts and when to dump again is the watcher's.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use nix::libc;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use super::Neighbours;
use super::table::{Event, Watcher};
use crate::clock::Mono;
use crate::stats::{self, Counter};
use crate::task::{Shutdown, TaskError};
use crate::{event, event_limited};

/// RTMGRP_NEIGH: the multicast group of neighbour notifications.
const RTMGRP_NEIGH: u32 = 1 << (3 - 1);
/// Receive buffer asked for, so a burst (a LAN coming up) rarely
/// overflows it; an overflow costs a dump, nothing else.
const RCVBUF: usize = 1 << 20;

/// `[ha]`: this box's own entries to the pair link, the peer's from it.
type PairEnds = (
    watch::Sender<Arc<Neighbours>>,
    watch::Receiver<Arc<Neighbours>>,
);

/// The socket: non-blocking, bound to the neighbour group.
struct Socket {
    fd: AsyncFd<OwnedFd>,
}

impl Socket {
    fn open() -> io::Result<Socket> {
        // SAFETY: plain socket(2); the descriptor is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, valid descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let size = RCVBUF as libc::c_int;
        // SAFETY: setsockopt reads one int that lives across the call.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &size as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
        // SAFETY: sockaddr_nl zeroed, then family and groups set.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = RTMGRP_NEIGH;
        // SAFETY: sa lives across the call; the length is its own.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the AsyncFd owns the descriptor until drop.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Socket { fd })
    }

    fn send(&self, msg: &[u8]) -> io::Result<()> {
        crate::net::netlink_to_kernel(self.fd.as_raw_fd(), msg)
    }

    /// One datagram, `None` when none is queued.
    fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: buf is writable for its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => Ok(None),
            _ => Err(e),
        }
    }
}

struct Counters {
    malformed: Counter,
    overflows: Counter,
    dumps: Counter,
}

impl Counters {
    fn register() -> Counters {
        let r = stats::global();
        Counters {
            malformed: r.counter(
                "hamasq_neigh_malformed_total",
                "Neighbour netlink messages dropped as unreadable.",
            ),
            overflows: r.counter(
                "hamasq_neigh_overflows_total",
                "Neighbour notifications lost (ENOBUFS), answered by a new dump.",
            ),
            dumps: r.counter(
                "hamasq_neigh_dumps_total",
                "Neighbour table dumps completed.",
            ),
        }
    }
}

/// The `neigh` task: opened by the daemon before the privilege drop.
pub struct NeighTask {
    socket: Socket,
    watcher: Watcher,
    /// To the DHCP task: this box's entries merged with the peer's.
    out: watch::Sender<Arc<Neighbours>>,
    /// `[ha]`: this box's own entries, for the pair link, and the
    /// peer's, from it (design §9).
    pair: Option<PairEnds>,
    /// This box's own entries, as last published.
    mine: Arc<Neighbours>,
    counters: Counters,
}

impl NeighTask {
    /// Opens the socket for the neighbours of `interfaces` (names; empty =
    /// every interface). Errors name the interface or the socket.
    pub fn open(
        interfaces: &[String],
        out: watch::Sender<Arc<Neighbours>>,
    ) -> Result<NeighTask, String> {
        let mut ifindexes = Vec::new();
        for name in interfaces {
            let i = nix::net::if_::if_nametoindex(name.as_str())
                .map_err(|e| format!("ipv6-names: interface {name:?}: {e}"))?;
            ifindexes.push(i);
        }
        let socket = Socket::open()
            .map_err(|e| format!("ipv6-names: cannot open a netlink neighbour socket: {e}"))?;
        Ok(NeighTask {
            socket,
            watcher: Watcher::new(Mono::now(), ifindexes),
            out,
            pair: None,
            mine: Arc::default(),
            counters: Counters::register(),
        })
    }

    /// With `[ha]`: publishes this box's own entries to the pair link on
    /// `own`, and merges the peer's from `peer` into what DHCP gets.
    pub fn with_peer(
        mut self,
        own: watch::Sender<Arc<Neighbours>>,
        peer: watch::Receiver<Arc<Neighbours>>,
    ) -> NeighTask {
        self.pair = Some((own, peer));
        self
    }

    /// Publishes this box's entries merged with the peer's, if different.
    fn publish(&mut self) {
        let t = match &mut self.pair {
            Some((_, peer)) => Arc::new(self.mine.merged(&peer.borrow_and_update())),
            None => self.mine.clone(),
        };
        self.out.send_if_modified(|cur| {
            if **cur == *t {
                false
            } else {
                *cur = t;
                true
            }
        });
    }

    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), TaskError> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some(m) = self.watcher.poll_transmit() {
                if let Err(e) = self.socket.send(&m) {
                    // Retried at the watcher's dump timeout.
                    event!(Warn, "neigh.dump_failed", "error={}", crate::log::q(&e));
                }
            }
            while let Some(e) = self.watcher.poll_event() {
                self.count(e);
            }
            if let Some(t) = self.watcher.poll_table() {
                if let Some((own, _)) = &self.pair {
                    own.send_replace(t.clone());
                }
                self.mine = t;
                self.publish();
            }
            let deadline = self.watcher.poll_timeout();
            tokio::select! {
                _ = shutdown.wait() => return Ok(()),
                r = self.socket.fd.readable() => {
                    let mut g = r.map_err(|e| TaskError::new(format!("neighbour socket failed: {e}")))?;
                    g.clear_ready();
                    self.drain(&mut buf);
                }
                _ = sleep_until(deadline) => self.watcher.handle_timeout(Mono::now()),
                Some(_) = super::changed(self.pair.as_mut().map(|(_, peer)| peer)) => self.publish(),
            }
        }
    }

    /// Reads every queued datagram; an overflow is the watcher's to fix.
    fn drain(&mut self, buf: &mut [u8]) {
        for _ in 0..256 {
            match self.socket.try_recv(buf) {
                Ok(Some(n)) => self.watcher.handle_datagram(Mono::now(), &buf[..n]),
                Ok(None) => return,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.watcher.handle_overflow(Mono::now());
                }
                Err(e) => {
                    event_limited!(Warn, "neigh.recv_failed", "error={}", crate::log::q(&e));
                    return;
                }
            }
        }
    }

    fn count(&self, e: Event) {
        match e {
            Event::Malformed(m) => {
                self.counters.malformed.inc();
                event_limited!(Debug, "neigh.malformed", "reason={}", crate::log::q(&m));
            }
            Event::Overflow => {
                self.counters.overflows.inc();
                event_limited!(Info, "neigh.overflow", "action=dump");
            }
            Event::DumpFailed(errno) => {
                let e = io::Error::from_raw_os_error(errno);
                event!(Warn, "neigh.dump_failed", "error={}", crate::log::q(&e));
            }
            Event::Dumped(n) => {
                self.counters.dumps.inc();
                event!(Debug, "neigh.dumped", "addresses={n}");
            }
        }
    }
}

async fn sleep_until(at: Option<Mono>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.to_instant().into()).await,
        None => std::future::pending().await,
    }
}
