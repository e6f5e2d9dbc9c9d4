//! The DHCPv6 task: one UDP socket on `[::]:547` per `[dhcpv6 NAME]`,
//! bound to its interface and joined to All_DHCP_Relay_Agents_and_Servers
//! (ff02::1:2, RFC 8415 §7.1) there; each datagram goes to the
//! [`core`](super::core) with the role the gating VRRP instance publishes,
//! and each Reply leaves by the interface the request came in on.

use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::watch;

use super::config::Dhcp6Instance;
use super::core::{ALL_AGENTS_AND_SERVERS, Discard, Inbound, SERVER_PORT, Server};
use crate::event;
use crate::log::emit_limited;
use crate::net::{BATCH, Pktinfo6Socket, RecvBatch6};
use crate::stats::{Counter, Registry};
use crate::task::{Shutdown, TaskError};
use crate::vrrp::Role;

/// Opens the socket for one instance: `[::]:547`, SO_REUSEADDR and
/// SO_BINDTODEVICE so that one socket per interface can share the port,
/// IPV6_RECVPKTINFO to learn the arrival interface, the ff02::1:2 group
/// joined on `ifindex`.
pub fn open_socket(interface: &str, ifindex: u32, port: u16) -> io::Result<Pktinfo6Socket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    s.bind_device(Some(interface.as_bytes()))?;
    s.bind(&SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0)).into())?;
    s.join_multicast_v6(&ALL_AGENTS_AND_SERVERS, ifindex)?;
    // Our own multicast (none is sent) must not come back.
    s.set_multicast_loop_v6(false)?;
    Pktinfo6Socket::new(s)
}

/// Batches of [`BATCH`] datagrams read before the task yields to the
/// others (DNS, VRRP adverts) on the one runtime thread.
const DRAIN_BATCHES: usize = 8;

/// The counters of one kind of outcome, shared by every instance.
struct Counters {
    received: Counter,
    replies: Counter,
    send_failed: Counter,
    truncated: Counter,
    discards: [Counter; Discard::ALL.len()],
}

impl Counters {
    fn register(reg: &Registry) -> Counters {
        Counters {
            received: reg.counter("hamasq_dhcpv6_received_total", "DHCPv6 datagrams received."),
            replies: reg.counter(
                "hamasq_dhcpv6_replies_total",
                "DHCPv6 Replies sent to Information-requests.",
            ),
            send_failed: reg.counter(
                "hamasq_dhcpv6_send_failed_total",
                "DHCPv6 Replies the kernel refused to send.",
            ),
            truncated: reg.counter(
                "hamasq_dhcpv6_truncated_total",
                "DHCPv6 datagrams longer than the receive buffer, dropped.",
            ),
            discards: Discard::ALL.map(|d| {
                let (name, help) = metric(d);
                reg.counter(name, help)
            }),
        }
    }
}

/// Each discard class's counter.
fn metric(d: Discard) -> (&'static str, &'static str) {
    match d {
        Discard::TooShort => (
            "hamasq_dhcpv6_too_short_total",
            "DHCPv6 datagrams shorter than the message header.",
        ),
        Discard::UnknownType => (
            "hamasq_dhcpv6_unknown_type_total",
            "DHCPv6 messages of an undefined type.",
        ),
        Discard::BadOptions => (
            "hamasq_dhcpv6_bad_options_total",
            "DHCPv6 messages whose options do not parse.",
        ),
        Discard::ServerMessage => (
            "hamasq_dhcpv6_server_message_total",
            "DHCPv6 messages only servers send, discarded.",
        ),
        Discard::IaInInformationRequest => (
            "hamasq_dhcpv6_ia_in_information_request_total",
            "Information-requests with an IA option, discarded (RFC 8415 16.12).",
        ),
        Discard::OtherServer => (
            "hamasq_dhcpv6_other_server_total",
            "Information-requests for another server, discarded (RFC 8415 16.12).",
        ),
        Discard::NotServed => (
            "hamasq_dhcpv6_not_served_total",
            "Address-assignment messages a stateless server does not answer.",
        ),
        Discard::BadRelay => (
            "hamasq_dhcpv6_bad_relay_total",
            "DHCPv6 Relay-forward messages without a message inside or nested too deep.",
        ),
        Discard::Gated => (
            "hamasq_dhcpv6_gated_total",
            "Requests not answered because this box is not the Active.",
        ),
    }
}

/// One `[dhcpv6 NAME]` instance's task.
pub struct Dhcp6Task {
    name: String,
    ifindex: u32,
    sock: Pktinfo6Socket,
    server: Server,
    role: Option<watch::Receiver<Role>>,
    counters: Counters,
}

impl Dhcp6Task {
    /// Opens the socket (before privileges are dropped: port 547).
    /// `role`: the gating VRRP instance's role; `None` = no VRRP, always
    /// answer.
    pub fn open(
        inst: &Dhcp6Instance,
        role: Option<watch::Receiver<Role>>,
    ) -> Result<Dhcp6Task, String> {
        Dhcp6Task::open_on(inst, role, SERVER_PORT)
    }

    /// [`Dhcp6Task::open`] on another port (tests).
    pub fn open_on(
        inst: &Dhcp6Instance,
        role: Option<watch::Receiver<Role>>,
        port: u16,
    ) -> Result<Dhcp6Task, String> {
        let c = &inst.config;
        let sock = open_socket(&c.interface, inst.ifindex, port).map_err(|e| {
            format!(
                "[dhcpv6 {}]: cannot listen on [::]:{port} on {} (ff02::1:2): {e}",
                c.name, c.interface
            )
        })?;
        Ok(Dhcp6Task {
            name: c.name.clone(),
            ifindex: inst.ifindex,
            sock,
            server: Server::new(inst.settings.clone()),
            role,
            counters: Counters::register(crate::stats::global()),
        })
    }

    fn role(&self) -> Role {
        self.role.as_ref().map_or(Role::Standalone, |r| *r.borrow())
    }

    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), TaskError> {
        let s = self.server.settings();
        event!(
            Info,
            "dhcpv6.started",
            "instance={} ifindex={} dns_servers={} domains={} refresh_s={} role={}",
            self.name,
            self.ifindex,
            crate::log::list(&s.dns_servers),
            crate::log::list(&s.domains),
            s.refresh,
            self.role()
        );
        let mut batch = RecvBatch6::new();
        let mut more = false;
        loop {
            if more {
                // A full drain: let DNS and VRRP run, then read on (the
                // readiness was cleared, so waiting for it could stall).
                tokio::task::yield_now().await;
                if shutdown.is_set() {
                    return Ok(());
                }
            } else {
                tokio::select! {
                    _ = shutdown.wait() => return Ok(()),
                    r = self.sock.readable() => {
                        r.map_err(|e| TaskError::new(format!(
                            "[dhcpv6 {}]: the socket failed: {e}", self.name)))?;
                    }
                }
            }
            more = self.drain(&mut batch);
        }
    }

    /// Reads and serves up to [`DRAIN_BATCHES`] batches; `true` when the
    /// socket may hold more.
    fn drain(&mut self, batch: &mut RecvBatch6) -> bool {
        for _ in 0..DRAIN_BATCHES {
            match self.sock.recv_batch(batch) {
                Ok(0) => return false,
                Ok(n) => {
                    self.serve(batch, n);
                    if n < BATCH {
                        return false;
                    }
                }
                Err(e) => {
                    emit_limited(
                        crate::log::Fault::OwnIo.level(),
                        "dhcpv6.recv_failed",
                        format_args!("instance={} error={}", self.name, crate::log::q(e)),
                    );
                    return false;
                }
            }
        }
        true
    }

    /// Hands the `n` datagrams of `batch` to the core and sends its Replies.
    fn serve(&mut self, batch: &RecvBatch6, n: usize) {
        let role = self.role();
        for i in 0..n {
            // Longer than a receive slot: cut by the kernel, unreadable.
            let Some((data, env)) = batch.get(i) else {
                self.counters.received.inc();
                self.counters.truncated.inc();
                continue;
            };
            // SO_BINDTODEVICE already filters; PKTINFO says it again.
            if env.ifindex != self.ifindex {
                continue;
            }
            self.counters.received.inc();
            let input = Inbound {
                data,
                from: env.src,
                ifindex: env.ifindex,
            };
            if let Err(d) = self.server.handle_datagram(role, input) {
                self.counters.discards[d as usize].inc();
                // The gate is normal operation: debug, its own event.
                let (level, ev) = match d.fault() {
                    Some(f) => (f.level(), "dhcpv6.discarded"),
                    None => (crate::log::Level::Debug, "dhcpv6.gated"),
                };
                emit_limited(
                    level,
                    ev,
                    format_args!(
                        "instance={} from={} reason={} rule={} role={role}",
                        self.name,
                        env.src.ip(),
                        d.name(),
                        crate::log::q(d.rule())
                    ),
                );
            }
        }
        while let Some(t) = self.server.poll_transmit() {
            match self
                .sock
                .send(&t.data, t.to, t.ifindex, Ipv6Addr::UNSPECIFIED)
            {
                Ok(()) => {
                    self.counters.replies.inc();
                    event!(
                        Debug,
                        "dhcpv6.reply",
                        "instance={} to={} bytes={}",
                        self.name,
                        t.to.ip(),
                        t.data.len()
                    );
                }
                Err(e) => {
                    self.counters.send_failed.inc();
                    emit_limited(
                        crate::log::Fault::OwnIo.level(),
                        "dhcpv6.send_failed",
                        format_args!(
                            "instance={} to={} error={}",
                            self.name,
                            t.to.ip(),
                            crate::log::q(e)
                        ),
                    );
                }
            }
        }
    }
}
