//! The RA task for one `[ra NAME]`: the ND socket around the sans-IO
//! [`Scheduler`] (design §3), gated by the role of the VRRP instance that
//! owns the virtual link-local (RFC 9568 §6.4.2, §6.4.3).

use std::net::Ipv6Addr;

use tokio::sync::watch;

use super::config::{OtherConfig, RaConfig, interface_prefixes};
use super::core::{Event, RsOutcome, Scheduler};
use super::packet::{NdError, TYPE_RA, TYPE_RS};
use super::socket::NdSocket;
use crate::clock::{Mono, sleep_until};
use crate::stats::{self, Counter};
use crate::task::{Shutdown, TaskError};
use crate::vrrp::Role;
use crate::{event, event_limited};

/// What the task counts, under `hamasq_ra_*` names.
struct Counters {
    sent: Counter,
    send_errors: Counter,
    solicitations: Counter,
    silent: Counter,
    wrong_interface: Counter,
    dropped: Vec<(NdError, Counter)>,
}

impl Counters {
    fn new() -> Counters {
        let reg = stats::global();
        Counters {
            sent: reg.counter("hamasq_ra_sent_total", "Router Advertisements sent."),
            send_errors: reg.counter(
                "hamasq_ra_send_errors_total",
                "Router Advertisements the kernel refused to send.",
            ),
            solicitations: reg.counter(
                "hamasq_ra_solicitations_total",
                "Valid Router Solicitations received.",
            ),
            silent: reg.counter(
                "hamasq_ra_solicitations_silent_total",
                "Router Solicitations left unanswered because this box is not Active (RFC 9568 §6.4.2).",
            ),
            wrong_interface: reg.counter(
                "hamasq_ra_wrong_interface_total",
                "ND messages that arrived on another interface than the section's.",
            ),
            dropped: NdError::ALL
                .iter()
                .map(|&e| {
                    let name: &'static str =
                        Box::leak(format!("hamasq_ra_rx_{}_total", e.counter_name()).into_boxed_str());
                    (e, reg.counter(name, "RS/RA dropped by the RFC 4861 §6.1 checks, by reason."))
                })
                .collect(),
        }
    }

    fn drop(&self, e: NdError) {
        if let Some((_, c)) = self.dropped.iter().find(|(k, _)| *k == e) {
            c.inc();
        }
    }
}

/// What the daemon tells an RA task about the rest of the box.
#[derive(Default)]
pub struct Wiring {
    /// The VRRP instance that gates the RAs (`None` = no VRRP, always
    /// advertise; RFC 9568 §6.4.2, §6.4.3).
    pub role: Option<watch::Receiver<Role>>,
    /// The virtual link-local to send from (RFC 9568 §6.4.3; `None` = the
    /// interface's own link-local).
    pub source: Option<Ipv6Addr>,
    /// The default RDNSS when `rdnss` is unset (the gating instance's
    /// VIPs; empty = the source).
    pub dns: Vec<Ipv6Addr>,
    /// This box answers stateless DHCPv6 on the interface: what
    /// `other-config = auto` sets the O flag from.
    pub dhcpv6: bool,
}

/// One `[ra NAME]`, opened.
pub struct RaTask {
    cfg: RaConfig,
    ifindex: u32,
    source: Ipv6Addr,
    socket: NdSocket,
    core: Scheduler,
    role: Option<watch::Receiver<Role>>,
    counters: Counters,
}

impl RaTask {
    /// Opens the socket and builds the advertisement. `role`: the VRRP
    /// instance that gates the RAs (`None` = no VRRP, always advertise);
    /// `source`: the virtual link-local to send from (`None` = the
    /// interface's own link-local); `domain`: `[dns] domain`, the default
    /// DNSSL.
    pub fn open(cfg: &RaConfig, domain: Option<&str>, wiring: Wiring) -> Result<RaTask, String> {
        let Wiring {
            role,
            source,
            dns,
            dhcpv6,
        } = wiring;
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            format!("[ra {}] interface {}: {what}: {e}", cfg.name, cfg.interface)
        };
        let ifindex = nix::net::if_::if_nametoindex(cfg.interface.as_str())
            .map_err(|e| fail("no such interface", &e))?;
        let addrs =
            crate::net::local_interfaces6().map_err(|e| fail("cannot list its addresses", &e))?;
        let source = match source {
            Some(s) => s,
            None => addrs
                .iter()
                .find(|a| a.name == cfg.interface && a.addr.is_unicast_link_local())
                .map(|a| a.addr)
                .ok_or_else(|| {
                    fail(
                        "no IPv6 link-local address to send from",
                        &"is IPv6 enabled on it?",
                    )
                })?,
        };
        let mac = crate::vrrp::vip::interface_mac(&cfg.interface)
            .map_err(|e| fail("cannot read the MAC address", &e))?;
        let prefixes = if cfg.prefixes.is_empty() {
            interface_prefixes(&cfg.interface, &addrs)
        } else {
            cfg.prefixes.clone()
        };
        let other = match cfg.other_config {
            OtherConfig::On => true,
            OtherConfig::Off => false,
            OtherConfig::Auto => dhcpv6,
        };
        let ra = cfg.advertisement(&prefixes, source, &dns, domain, Some(mac), other);
        let socket = NdSocket::open(&cfg.interface, ifindex)
            .map_err(|e| fail("cannot open the ICMPv6 socket", &e))?;
        let mut seed = [0u8; 8];
        // A fixed seed only makes the intervals less random between boxes.
        let _ = getrandom::fill(&mut seed);
        let core = Scheduler::new(cfg.timing(), ra, source, u64::from_ne_bytes(seed));
        let shown: Vec<String> = prefixes.iter().map(|(p, l)| format!("{p}/{l}")).collect();
        event!(
            Info,
            "ra.started",
            "name={} interface={} source={} prefixes={} gate={}",
            cfg.name,
            cfg.interface,
            source,
            if shown.is_empty() {
                "none".to_string()
            } else {
                shown.join(",")
            },
            if role.is_some() { "vrrp" } else { "standalone" }
        );
        Ok(RaTask {
            cfg: cfg.clone(),
            ifindex,
            source,
            socket,
            core,
            role,
            counters: Counters::new(),
        })
    }

    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), TaskError> {
        let initial = match &mut self.role {
            Some(rx) => *rx.borrow_and_update(),
            None => Role::Standalone,
        };
        self.set_role(initial);
        let mut buf = vec![0u8; 2048];
        loop {
            let deadline = self.core.poll_timeout();
            tokio::select! {
                _ = shutdown.wait() => break,
                r = self.socket.readable() => {
                    if let Err(e) = r {
                        return Err(TaskError::new(format!("[ra {}] socket failed: {e}", self.cfg.name)));
                    }
                    self.receive_all(&mut buf);
                }
                _ = sleep_until(deadline) => self.core.handle_timeout(Mono::now()),
                role = role_changed(&mut self.role) => self.set_role(role),
            }
            self.flush();
        }
        // RFC 4861 §6.2.5 without VRRP; silence with it (Scheduler::stop).
        self.core.stop(Mono::now());
        self.flush();
        Ok(())
    }

    fn set_role(&mut self, role: Role) {
        let was = self.core.advertising();
        self.core.set_role(Mono::now(), role);
        if was != self.core.advertising() {
            event!(
                Info,
                "ra.gate",
                "name={} role={role} advertising={}",
                self.cfg.name,
                self.core.advertising()
            );
        }
    }

    fn receive_all(&mut self, buf: &mut [u8]) {
        // Bounded: a flood cannot starve the timers.
        for _ in 0..64 {
            let r = match self.socket.try_recv(buf) {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(e) => {
                    event_limited!(Warn, "ra.recv_error", "name={} error={e}", self.cfg.name);
                    return;
                }
            };
            if r.ifindex != self.ifindex {
                self.counters.wrong_interface.inc();
                continue;
            }
            let data = &buf[..r.len];
            let now = Mono::now();
            let result = match data.first() {
                Some(&TYPE_RS) => self.core.handle_rs(now, r.src, r.hop_limit, data).map(|o| {
                    self.counters.solicitations.inc();
                    if o == RsOutcome::Silent {
                        self.counters.silent.inc();
                    }
                }),
                Some(&TYPE_RA) => self.core.handle_ra(now, r.src, r.hop_limit, data),
                _ => Err(NdError::Type),
            };
            if let Err(e) = result {
                self.counters.drop(e);
                event_limited!(
                    Debug,
                    "ra.rx_dropped",
                    "name={} from={} reason=\"{e}\"",
                    self.cfg.name,
                    r.src
                );
            }
            while let Some(ev) = self.core.poll_event() {
                match ev {
                    Event::OtherRouter {
                        router,
                        prefix,
                        len,
                    } => event!(
                        Warn,
                        "ra.other_router",
                        "name={} interface={} router={router} prefix={prefix}/{len} note=\"another router advertises this prefix (RFC 4861 §6.2.7); only one daemon should send RAs here\"",
                        self.cfg.name,
                        self.cfg.interface
                    ),
                }
            }
        }
    }

    fn flush(&mut self) {
        while let Some(tx) = self.core.poll_transmit() {
            match self.socket.send(&tx.payload, tx.dst, self.ifindex, tx.src) {
                Ok(()) => self.counters.sent.inc(),
                Err(e) => {
                    self.counters.send_errors.inc();
                    event_limited!(
                        Warn,
                        "ra.send_error",
                        "name={} to={} from={} error={e}",
                        self.cfg.name,
                        tx.dst,
                        self.source
                    );
                }
            }
        }
    }
}

/// The next role published, or never when there is no VRRP (or its
/// sender is gone: the role stays what it was).
async fn role_changed(rx: &mut Option<watch::Receiver<Role>>) -> Role {
    match rx {
        Some(rx) => match rx.changed().await {
            Ok(()) => *rx.borrow_and_update(),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}
