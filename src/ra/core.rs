//! When to send a Router Advertisement, sans-IO (design §3): the caller
//! passes `now`, the core returns [`Transmit`]s and [`Event`]s.
//!
//! | Rule | Where |
//! |------|-------|
//! | Unsolicited RAs to ff02::1 at a uniformly random interval in [MinRtrAdvInterval, MaxRtrAdvInterval], reset after every multicast RA | RFC 4861 §6.2.4 |
//! | The first MAX_INITIAL_RTR_ADVERTISEMENTS (3) no more than MAX_INITIAL_RTR_ADVERT_INTERVAL (16 s) apart | RFC 4861 §6.2.4 |
//! | A solicited RA after a random 0..MAX_RA_DELAY_TIME (0.5 s) delay | RFC 4861 §6.2.6 |
//! | Multicast RAs no closer than MIN_DELAY_BETWEEN_RAS (3 s); an RS answered by an already scheduled multicast RA adds nothing | RFC 4861 §6.2.6 |
//! | An RS from a unicast source is answered by unicast to it (the MAY of §6.2.6; what RFC 7772 §5.1 recommends, radvd's `AdvRASolicitedUnicast`): no other host wakes, and the multicast limit cannot delay the answer | RFC 4861 §6.2.6, RFC 7772 |
//! | Only the Active (or a box without VRRP) sends; the Backup sends nothing, not even to an RS | RFC 9568 §6.4.2, §6.4.3 |
//! | No RA before the virtual address is configured: the gate opens when VRRP publishes Active, which it does after adding the address | RFC 9568 §8.2.2 |
//! | Becoming Active: an RA at once, then the initial burst again | RFC 9568 §6.4.3, RFC 4861 §6.2.4 |
//! | Stepping down from Active: silence, no final RA (see [`Scheduler::set_role`]) | RFC 9568 §6.4.3, RFC 4861 §6.2.5 |
//! | Stopping without VRRP: one final RA with Router Lifetime 0 | RFC 4861 §6.2.5 |
//! | Another router's RA for one of our prefixes: reported once | RFC 4861 §6.2.7 |

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::Duration;

use super::packet::{ALL_NODES, NdError, Ra, decode_ra, decode_rs, encode_ra};
use crate::clock::Mono;
use crate::vrrp::Role;

/// RFC 4861 §10 router constants.
pub const MAX_INITIAL_RTR_ADVERT_INTERVAL: Duration = Duration::from_secs(16);
pub const MAX_INITIAL_RTR_ADVERTISEMENTS: u32 = 3;
pub const MIN_DELAY_BETWEEN_RAS: Duration = Duration::from_secs(3);
pub const MAX_RA_DELAY_TIME: Duration = Duration::from_millis(500);
/// Unicast answers waiting at once; an RS flood beyond this is dropped
/// and counted ([`RsOutcome::QueueFull`]), so memory stays bounded.
pub const MAX_PENDING_UNICAST: usize = 64;
/// Other routers remembered for the once-only report of §6.2.7.
const MAX_SEEN_ROUTERS: usize = 64;

/// MinRtrAdvInterval and MaxRtrAdvInterval (RFC 4861 §6.2.1); the config
/// checks their limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub min_interval: Duration,
    pub max_interval: Duration,
}

/// One RA to send: from `src` (the virtual link-local, or the interface's
/// own) to `dst` (ff02::1 or the soliciting host), on the driver's
/// interface, hop limit 255.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub payload: Vec<u8>,
}

/// What happened to a valid Router Solicitation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsOutcome {
    /// An answer is scheduled.
    Scheduled,
    /// A multicast RA already scheduled no later answers it (§6.2.6), or
    /// an answer to this host is already waiting.
    AlreadyScheduled,
    /// Not Active: the Backup never answers (RFC 9568 §6.4.2).
    Silent,
    /// Too many unicast answers waiting.
    QueueFull,
}

/// Something for the driver to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Another router advertises one of our prefixes (RFC 4861 §6.2.7);
    /// reported once per router and prefix.
    OtherRouter {
        router: Ipv6Addr,
        prefix: Ipv6Addr,
        len: u8,
    },
}

/// The RA scheduler of one interface.
#[derive(Debug)]
pub struct Scheduler {
    timing: Timing,
    ra: Ra,
    source: Ipv6Addr,
    rng: u64,
    role: Role,
    /// The next unsolicited multicast RA; `None` while silent.
    next_unsolicited: Option<Mono>,
    /// Multicast RAs sent since the gate last opened (for §6.2.4's burst).
    sent_since_start: u32,
    last_multicast: Option<Mono>,
    /// A multicast answer to an RS from the unspecified address.
    solicited_at: Option<Mono>,
    unicast: Vec<(Mono, Ipv6Addr)>,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
    seen: Vec<(Ipv6Addr, Ipv6Addr, u8)>,
}

impl Scheduler {
    /// A scheduler sending `ra` from `source`, silent until
    /// [`Scheduler::set_role`] opens the gate. `seed` feeds the random
    /// intervals (the driver takes it from the kernel).
    pub fn new(timing: Timing, ra: Ra, source: Ipv6Addr, seed: u64) -> Scheduler {
        Scheduler {
            timing,
            ra,
            source,
            rng: seed | 1,
            role: Role::Initialize,
            next_unsolicited: None,
            sent_since_start: 0,
            last_multicast: None,
            solicited_at: None,
            unicast: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            seen: Vec::new(),
        }
    }

    /// Whether RAs go out now.
    pub fn advertising(&self) -> bool {
        self.role.serves()
    }

    /// The advertisement sent (after a reload, say).
    pub fn set_ra(&mut self, ra: Ra) {
        self.ra = ra;
    }

    /// The role of the VRRP instance that gates this interface
    /// ([`Role::Standalone`] without VRRP).
    ///
    /// Opening (→ Active or Standalone): RFC 9568 §6.4.3 makes the Active
    /// router send the RAs for the virtual router, so one goes at once
    /// and the first three follow at most 16 s apart, as for an interface
    /// that has just become an advertising interface (RFC 4861 §6.2.4).
    /// The hosts learn the new router's link-layer address from its
    /// Source Link-Layer Address option at once.
    ///
    /// Closing (→ Backup or Initialize): everything scheduled is dropped,
    /// nothing more is sent (RFC 9568 §6.4.2: the Backup MUST NOT send
    /// RAs for the virtual router). Deliberately no final RA: RFC 4861
    /// §6.2.5's Router Lifetime 0 is for an interface that *ceases* to be
    /// an advertising interface, but the virtual router does not cease —
    /// it moves. A lifetime-0 RA from the virtual link-local would make
    /// every host drop the default router that the new Active carries on
    /// (RFC 4861 §6.3.4) and lose IPv6 until its next RA. The graceful
    /// hand-over RFC 9568 provides is VRRP's own: the leaving Active
    /// sends a priority-0 advert (§6.4.3), the Backup takes over after
    /// Skew_Time, and its first RA (sent at once, above) together with its
    /// unsolicited Neighbor Advertisements refreshes the hosts. The RA
    /// options stay the same because both boxes carry the same `[ra]`
    /// section (RFC 9568 §8.2.3).
    pub fn set_role(&mut self, now: Mono, role: Role) {
        let was = self.role.serves();
        self.role = role;
        match (was, role.serves()) {
            (false, true) => {
                self.sent_since_start = 0;
                self.next_unsolicited = Some(now);
            }
            (true, false) => {
                self.next_unsolicited = None;
                self.solicited_at = None;
                self.unicast.clear();
                self.out.clear();
            }
            _ => {}
        }
    }

    /// The service stops (shutdown, or the `[ra]` section removed by a
    /// reload). Without VRRP the interface ceases to be an advertising
    /// interface, and RFC 4861 §6.2.5 asks for a final multicast RA with
    /// Router Lifetime 0 so hosts stop using this router at once; one is
    /// queued (the §6.2.5 limit is three, and the 3 s spacing of §6.2.6
    /// would hold the shutdown up). With VRRP the Active sends nothing
    /// here, for the reason given at [`Scheduler::set_role`]: the peer
    /// takes the virtual router over.
    pub fn stop(&mut self, now: Mono) {
        let standalone = self.role == Role::Standalone;
        self.set_role(now, Role::Initialize);
        if standalone {
            let mut last = self.ra.clone();
            last.router_lifetime = 0;
            self.out.push_back(Transmit {
                src: self.source,
                dst: ALL_NODES,
                payload: encode_ra(&last),
            });
        }
    }

    /// A Router Solicitation from `src` received with `hop_limit`: checked
    /// (RFC 4861 §6.1.1), then answered per §6.2.6.
    pub fn handle_rs(
        &mut self,
        now: Mono,
        src: Ipv6Addr,
        hop_limit: u8,
        data: &[u8],
    ) -> Result<RsOutcome, NdError> {
        decode_rs(src, hop_limit, data)?;
        if !self.advertising() {
            return Ok(RsOutcome::Silent);
        }
        let delay = self.random(Duration::ZERO, MAX_RA_DELAY_TIME);
        if !src.is_unspecified() {
            if self.unicast.iter().any(|&(_, a)| a == src) {
                return Ok(RsOutcome::AlreadyScheduled);
            }
            if self.unicast.len() >= MAX_PENDING_UNICAST {
                return Ok(RsOutcome::QueueFull);
            }
            self.unicast.push((now + delay, src));
            return Ok(RsOutcome::Scheduled);
        }
        // §6.2.6: no closer than MIN_DELAY_BETWEEN_RAS after the previous
        // multicast RA; a multicast RA scheduled earlier answers it.
        let mut at = now + delay;
        if let Some(last) = self.last_multicast
            && now < last + MIN_DELAY_BETWEEN_RAS
        {
            at = last + MIN_DELAY_BETWEEN_RAS + delay;
        }
        let earlier = [self.next_unsolicited, self.solicited_at]
            .into_iter()
            .flatten()
            .any(|t| t <= at);
        if earlier {
            return Ok(RsOutcome::AlreadyScheduled);
        }
        self.solicited_at = Some(at);
        Ok(RsOutcome::Scheduled)
    }

    /// A Router Advertisement from another router (RFC 4861 §6.2.7): an
    /// [`Event::OtherRouter`] for each of our prefixes it carries, once.
    /// Our own RAs (from our source) are ignored.
    pub fn handle_ra(
        &mut self,
        _now: Mono,
        src: Ipv6Addr,
        hop_limit: u8,
        data: &[u8],
    ) -> Result<(), NdError> {
        let ra = decode_ra(src, hop_limit, data)?;
        if src == self.source || !self.advertising() {
            return Ok(());
        }
        for p in &ra.prefixes {
            let ours = self
                .ra
                .prefixes
                .iter()
                .any(|o| o.len == p.len && o.prefix == p.prefix);
            let key = (src, p.prefix, p.len);
            if ours && !self.seen.contains(&key) && self.seen.len() < MAX_SEEN_ROUTERS {
                self.seen.push(key);
                self.events.push_back(Event::OtherRouter {
                    router: src,
                    prefix: p.prefix,
                    len: p.len,
                });
            }
        }
        Ok(())
    }

    /// The next deadline, if any.
    pub fn poll_timeout(&self) -> Option<Mono> {
        [self.next_unsolicited, self.solicited_at]
            .into_iter()
            .flatten()
            .chain(self.unicast.iter().map(|&(t, _)| t))
            .min()
    }

    /// Sends what is due at `now`.
    pub fn handle_timeout(&mut self, now: Mono) {
        if !self.advertising() {
            return;
        }
        let due = |t: Option<Mono>| t.is_some_and(|t| t <= now);
        if due(self.next_unsolicited) || due(self.solicited_at) {
            self.send_multicast(now);
        }
        let mut i = 0;
        while i < self.unicast.len() {
            if self.unicast[i].0 <= now {
                let (_, dst) = self.unicast.swap_remove(i);
                self.out.push_back(Transmit {
                    src: self.source,
                    dst,
                    payload: encode_ra(&self.ra),
                });
            } else {
                i += 1;
            }
        }
    }

    fn send_multicast(&mut self, now: Mono) {
        self.out.push_back(Transmit {
            src: self.source,
            dst: ALL_NODES,
            payload: encode_ra(&self.ra),
        });
        self.last_multicast = Some(now);
        self.solicited_at = None;
        self.sent_since_start = self.sent_since_start.saturating_add(1);
        // §6.2.4: every multicast RA resets the timer to a random value in
        // [Min, Max]; within the initial burst it is at most 16 s.
        let mut interval = self.random(self.timing.min_interval, self.timing.max_interval);
        if self.sent_since_start < MAX_INITIAL_RTR_ADVERTISEMENTS {
            interval = interval.min(MAX_INITIAL_RTR_ADVERT_INTERVAL);
        }
        self.next_unsolicited = Some(now + interval);
    }

    /// The next RA to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next event to log.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Uniform in `lo..=hi` at millisecond resolution (xorshift64*; the
    /// intervals need spread, not secrecy).
    fn random(&mut self, lo: Duration, hi: Duration) -> Duration {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let lo_ms = lo.as_millis() as u64;
        let span = (hi.as_millis() as u64).saturating_sub(lo_ms);
        Duration::from_millis(lo_ms + r % (span + 1))
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
