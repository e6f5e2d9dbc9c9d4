//! One virtual router instance: the state machine of RFC 9568 §6, sans-IO.
//!
//! The driver feeds events in with the current time ([`Router::startup`],
//! [`Router::shutdown`], [`Router::receive`], [`Router::link`],
//! [`Router::set_priority_delta`], [`Router::poll`]) and then drains
//! [`Router::poll_action`] in order and sleeps until
//! [`Router::poll_timeout`]. The core never reads a clock or a socket
//! (design §3).
//!
//! Timers are deadlines inside the state that owns them: Active_Down_Timer
//! lives in [`Backup`], Adver_Timer and the gratuitous ARP timers in
//! [`Active`], the start-up delay in [`State::Initialize`]. Leaving a state
//! drops its timers, which is every "Cancel ..._Timer" of §6.4.
//!
//! Action order on each transition (the HA design depends on it: DHCP
//! answers from the VIP, so it must only answer while the VIP is ours):
//!
//! | transition | actions, in order |
//! |---|---|
//! | → Active (§6.4.1, §6.4.2) | `SendAdvert`, `AddVip`×n, `SendGratuitousArp`×n, `RoleChanged(Active)` |
//! | Active → Backup, preempted (§6.4.3) | `RoleChanged(Backup)`, `RemoveVip`×n |
//! | Active → Initialize, shutdown (§6.4.3) | `RoleChanged(Initialize)`, `SendAdvert{priority: 0}`, `RemoveVip`×n |
//! | Active → Initialize, link down | `RoleChanged(Initialize)`, `RemoveVip`×n |
//! | Initialize → Backup (§6.4.1) | `RoleChanged(Backup)` |
//! | Backup → Initialize (§6.4.2, link down) | `RoleChanged(Initialize)` |
//!
//! The address owner (priority 255) gets no `AddVip` / `RemoveVip` at all:
//! RFC 9568 §1.6 (Definitions) defines it as the router that "has the virtual router's
//! IPvX address(es) as real interface address(es)", so the addresses are
//! the system's, configured outside VRRP, and must outlive every state
//! change and our own exit (issue 17, item 6). The owner still advertises
//! and sends the gratuitous ARPs of §6.4.1.
//!
//! On becoming Active the advert goes first, as §6.4.1 and §6.4.2 list it
//! (and keepalived does): the other routers stop claiming the VIP as soon
//! as possible. The VIP is added before the gratuitous ARPs that announce
//! it, and the role is published last, once the VIP is there. Stepping down
//! is the other way round: the role is published first, so DHCP goes silent
//! before the VIP is released.
//!
//! Extensions beyond RFC 9568, all keepalived's: `preempt_delay`,
//! `startup_delay` (both off by default), `down_timer_adverts` (default 3,
//! the RFC's constant), the gratuitous ARP burst and refresh timers
//! (keepalived's defaults: 5 at once, 5 more after 5 s, no refresh), link
//! tracking and tracking weights, unicast peers as a source allow-list.

use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::Role;
use super::packet::{Advert, Auth, Centis, Interval, MAX_ADDRS, RxError};
use crate::clock::Mono;

/// Priority of the router that owns the virtual addresses (RFC 9568 §5.2.4).
pub const PRIORITY_OWNER: u8 = 255;
/// Priority an Active router sends when it stops (RFC 9568 §5.2.4).
pub const PRIORITY_STOP: u8 = 0;

/// One virtual IPv4 address, added with its prefix so the kernel installs
/// the connected route like any interface address.
/// After asserting over a lower-priority router that had claimed the VIP,
/// a second gratuitous ARP burst this much later: past the claimer's own
/// late ARPs and past Linux's 1 s neighbour `locktime`.
pub const REASSERT_GARP_DELAY: Duration = Duration::from_millis(1100);

/// A VRRPv3 Backup adopts the Active router's interval (RFC 9568 §6.4.2:
/// "Set Active_Adver_Interval to Adver Interval contained in the ADVERTISEMENT")
/// and its Active_Down_Interval grows with it (§6.1). Unbounded, one forged
/// advert of 40.95 s held a Backup silent for two minutes (issue 17, item
/// 7). We adopt at most this many times our own Advertisement_Interval:
/// both boxes of a pair normally share one interval, and even so a peer up
/// to three times this slow (3 adverts per Active_Down_Interval) is still
/// followed without a spurious takeover.
pub const MAX_LEARNED_FACTOR: u16 = 2;

/// A refresh of the VIP's lifetime that failed is tried again this soon.
pub const VIP_REFRESH_RETRY: Duration = Duration::from_millis(200);

/// The core counts the VIP as gone this long before its kernel lifetime
/// runs out: Linux removes an IPv4 address up to 20 ms early
/// (`ADDRCONF_TIMER_FUZZ_MINUS` in `check_lifetime`), and the driver's
/// clock reading lags the netlink request a little. Erring early only
/// means stepping down for an address the kernel may still hold, which the
/// step-down then removes.
pub const VIP_LAPSE_MARGIN: Duration = Duration::from_millis(250);

/// The VIP's kernel lifetime when `vip-lifetime` is `auto`: the adverts a
/// Backup waits for before taking over (`down_timer_adverts` ×
/// Advertisement_Interval, RFC 9568 §6.1 Active_Down_Interval without
/// Skew_Time), in whole seconds (the kernel's unit), at least 2 s. So a
/// frozen Active's address is gone by the time the Backup takes over and
/// answers ARP for it, and a live Active that stalls long enough to lose
/// the address has also gone silent long enough to be replaced. 3 s for
/// the default 1 s interval.
pub fn auto_vip_lifetime(interval: Interval, down_timer_adverts: u32) -> Duration {
    let ms = u64::from(down_timer_adverts) * interval.as_millis();
    Duration::from_secs(ms.div_ceil(1000).max(2))
}

/// How often an Active router re-installs its VIP with a fresh lifetime:
/// three times per lifetime, so two refreshes in a row can be lost (or
/// fail, each retried after [`VIP_REFRESH_RETRY`]) before the kernel
/// removes a live router's address.
pub fn vip_refresh_period(lifetime: Duration) -> Duration {
    lifetime / 3
}

/// What the pair link (`[ha]`, design §9) tells VRRP: fed by the daemon
/// from the ha task's `watch<PeerState>` (issue 13 item 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerSync {
    /// The authenticated link to the peer is up.
    pub connected: bool,
    /// This box has stored everything the peer had when they connected.
    pub caught_up: bool,
}

/// How often the same interval mismatch is reported again.
pub const MISMATCH_REPORT_EVERY: Duration = Duration::from_secs(60);

/// The address family of a virtual router. An IPv4 and an IPv6 virtual
/// router are separate ones, even with the same VRID (RFC 9568 §7.3); the
/// state machine of §6 is the same for both, so [`Router`] is generic over
/// the address type, [`Ipv4Addr`] by default.
pub trait Family:
    Copy + Eq + Ord + std::hash::Hash + fmt::Debug + fmt::Display + Send + Sync + 'static
{
    /// VRRPv2 exists for this family (RFC 3768 is IPv4 only; RFC 9568
    /// §5.2.1: VRRPv3 is the only version over IPv6).
    const HAS_V2: bool;
}

impl Family for Ipv4Addr {
    const HAS_V2: bool = true;
}

impl Family for Ipv6Addr {
    const HAS_V2: bool = false;
}

/// One virtual address (IPv4 by default, or IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Vip<A = Ipv4Addr> {
    pub addr: A,
    pub prefix_len: u8,
}

impl<A: fmt::Display> fmt::Display for Vip<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Gratuitous ARP timing while Active. The defaults are keepalived's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Garp {
    /// ARPs per VIP sent at once on becoming Active (`garp_master_repeat`, 5).
    pub repeat: u32,
    /// Delay of the second burst after becoming Active; zero = no second
    /// burst (`garp_master_delay`, 5 s).
    pub second_burst: Duration,
    /// Period of refresh ARPs while Active; zero = off (`garp_master_refresh`, 0).
    pub refresh: Duration,
    /// ARPs per VIP in each refresh (`garp_master_refresh_repeat`, 1).
    pub refresh_repeat: u32,
}

impl Default for Garp {
    fn default() -> Garp {
        Garp {
            repeat: 5,
            second_burst: Duration::from_secs(5),
            refresh: Duration::ZERO,
            refresh_repeat: 1,
        }
    }
}

/// The settings of one instance (a `[vrrp NAME]` section, resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config<A = Ipv4Addr> {
    /// Virtual Router ID, 1..=255 (RFC 9568 §5.2.3).
    pub vrid: u8,
    /// 255 = address owner, else 1..=254 (RFC 9568 §5.2.4, §6.1).
    pub priority: u8,
    /// Advertisement_Interval (RFC 9568 §6.1); its unit picks the version.
    pub interval: Interval,
    /// VRRPv2 only: the authentication sent and required.
    pub auth: Auth,
    /// Preempt_Mode (RFC 9568 §6.1, default true; keepalived `nopreempt`).
    pub preempt: bool,
    /// How long a lower-priority Active router is tolerated before we
    /// preempt it (keepalived `preempt_delay`); zero = preempt per the RFC.
    pub preempt_delay: Duration,
    /// Accept_Mode (RFC 9568 §6.1). The RFC default is false, but a DHCP
    /// and DNS server answering on the VIP needs it (keepalived's default
    /// unless `vrrp_strict`). Applied by the driver, not by this core.
    pub accept_mode: bool,
    /// Time between [`Router::startup`] and the RFC Startup event
    /// (keepalived `vrrp_startup_delay`); zero = none.
    pub startup_delay: Duration,
    /// Our primary address on the interface: the advert source and the
    /// equal-priority tie-break (RFC 9568 §6.4.3, §7.2). For IPv6 the
    /// interface's link-local address (RFC 9568 §5.1.2.1).
    pub primary_ip: A,
    /// The virtual addresses, 1..=255 of them (RFC 9568 §5.2.5); for IPv6
    /// the first is the link-local one (§5.2.9).
    pub vips: Vec<Vip<A>>,
    /// Adverts missed before Backup takes over: the 3 of RFC 9568 §6.1
    /// `Active_Down_Interval`, raised for lossy links (keepalived
    /// `down_timer_adverts`).
    pub down_timer_adverts: u32,
    pub garp: Garp,
    /// Unicast peers. When not empty, adverts from any other source are
    /// dropped (`src_not_allowed`; keepalived `check_unicast_src`).
    pub peers: Vec<A>,
    /// The kernel lifetime of the VIPs we add (issue 13 item 6): an Active
    /// router re-installs them every [`vip_refresh_period`], so the kernel
    /// removes them on its own soon after the process stops (SIGKILL,
    /// SIGSTOP, a hung disk). Zero = permanent addresses (keepalived's
    /// way). Never applies to the address owner: its addresses are the
    /// system's (RFC 9568 §1.6 Definitions).
    pub vip_lifetime: Duration,
    /// With a pair link (`[ha]`): how long after start a box that is not
    /// caught up with its peer holds back preemption while the peer is
    /// unreachable (`sync-wait`). While the peer is reachable and ahead
    /// the hold lasts until catch-up. `None` = no pair link: preempt per
    /// the RFC alone.
    pub sync_wait: Option<Duration>,
}

impl<A: Family> Config<A> {
    /// RFC defaults (VRRPv3, 1 s, preempt, three adverts) plus keepalived's
    /// GARP timing and accept mode.
    pub fn new(vrid: u8, priority: u8, primary_ip: A, vips: Vec<Vip<A>>) -> Config<A> {
        Config {
            vrid,
            priority,
            interval: Interval::V3(Centis::DEFAULT),
            auth: Auth::None,
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept_mode: true,
            startup_delay: Duration::ZERO,
            primary_ip,
            vips,
            down_timer_adverts: 3,
            garp: Garp::default(),
            peers: Vec::new(),
            vip_lifetime: Duration::ZERO,
            sync_wait: None,
        }
    }
}

/// A [`Config`] the state machine cannot run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidConfig(pub &'static str);

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for InvalidConfig {}

/// What the driver must do, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<A = Ipv4Addr> {
    /// Send [`Router::advert`]`(priority)` with TTL 255 (RFC 9568 §7.2) to
    /// 224.0.0.18, or to each unicast peer.
    SendAdvert { priority: u8 },
    /// Add this address to the interface (netlink RTM_NEWADDR), with
    /// [`Config::vip_lifetime`] when that is not zero.
    AddVip(Vip<A>),
    /// Re-install this address with a fresh [`Config::vip_lifetime`]
    /// (RTM_NEWADDR with NLM_F_REPLACE). On failure the driver logs it and
    /// calls [`Router::vip_refresh_failed`].
    RefreshVip(Vip<A>),
    /// For the log: the VIP's lifetime ran out `ago` while we were Active
    /// (the process was stopped or starved, or refreshes kept failing);
    /// the kernel has removed it, so we step down to Backup. Followed by
    /// `RoleChanged(Backup)` and `RemoveVip`×n.
    VipLapsed { ago: Duration },
    /// Remove this address from the interface (RTM_DELADDR).
    RemoveVip(Vip<A>),
    /// Broadcast `count` gratuitous ARPs for `vip` (RFC 9568 §6.4.2,
    /// sender and target IP = VIP, per errata 7947/7949); for IPv6, `count`
    /// unsolicited Neighbor Advertisements with the Router flag (RFC 9568
    /// §6.4.2 "for each IPv6 address ... send an unsolicited ND Neighbor
    /// Advertisement with the Router Flag (R) set", RFC 4861 §7.2.6).
    SendGratuitousArp { vip: A, count: u32 },
    /// Publish this role on `watch<Role>` (and run the notify hook).
    RoleChanged(Role),
    /// For the log (RFC 9568 §7.1: a differing interval SHOULD be logged):
    /// the Active router `from` advertises `advertised`, not our own
    /// interval; `used` is what the Backup adopted (bounded by
    /// [`MAX_LEARNED_FACTOR`]). Once per source and interval, and again
    /// at most every [`MISMATCH_REPORT_EVERY`].
    IntervalMismatch {
        from: A,
        advertised: Interval,
        used: Interval,
    },
}

/// Where the instance stands, with the timers each state owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State<A = Ipv4Addr> {
    /// RFC 9568 §6.4.1: not running. `startup_at` is set while the
    /// start-up delay runs; without it the instance waits for
    /// [`Router::startup`] or, when started, for the link.
    Initialize {
        startup_at: Option<Mono>,
    },
    Backup(Backup<A>),
    Active(Active),
}

/// RFC 9568 §6.4.2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup<A = Ipv4Addr> {
    /// Active_Down_Timer.
    pub master_down_at: Mono,
    /// Active_Adver_Interval: learned from the Active router's adverts
    /// (VRRPv3), always ours for VRRPv2 (RFC 3768 discards other values).
    pub active_interval: Interval,
    /// Source of the last non-zero-priority advert: the Active router.
    pub active_router: Option<A>,
    /// With `preempt_delay`: until when a lower-priority Active router is
    /// followed rather than preempted. Set by its first advert.
    pub preempt_at: Option<Mono>,
}

/// RFC 9568 §6.4.3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Active {
    /// Adver_Timer.
    pub adver_at: Mono,
    /// The second gratuitous ARP burst, once.
    pub garp_at: Option<Mono>,
    /// The next refresh of gratuitous ARPs.
    pub refresh_at: Option<Mono>,
    /// With a VIP lifetime: the next re-install of the VIPs.
    pub vip_refresh_at: Option<Mono>,
    /// With a VIP lifetime: when the kernel will have removed the VIPs
    /// unless refreshed (less [`VIP_LAPSE_MARGIN`]), counting the last
    /// refresh asked for as done.
    pub vip_valid_until: Option<Mono>,
    /// `vip_valid_until` before the last refresh, restored if the driver
    /// reports that refresh failed.
    pub vip_valid_before: Option<Mono>,
}

/// What [`Router::receive`] did with an advert that passed the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// Initialize handles only the Startup event (RFC 9568 §6.4.1).
    NotRunning,
    /// Our own advert, looped back: ignored.
    Own,
    /// Backup: the Active router's advert; interval adopted and
    /// Active_Down_Timer reset (§6.4.2).
    Followed,
    /// Backup: priority 0 from the Active router; we take over after
    /// Skew_Time (§6.4.2).
    ActiveLeaving,
    /// Backup: priority 0 from a router we do not follow as Active:
    /// ignored (test checklist 37).
    StrayPriorityZero,
    /// Backup with Preempt_Mode: a lower priority, discarded (§6.4.2); we
    /// take over when the Active_Down_Timer fires.
    Preempting,
    /// Backup with Preempt_Mode and a lower priority, but this box is
    /// behind its peer ([`PeerSync`]): followed as with Preempt_Mode off
    /// until it has caught up (or, the peer unreachable, `sync_wait`).
    HeldForSync,
    /// Active: the sender wins (§6.4.3); we are Backup now. If
    /// its priority was 255 and no allow-list is configured, the driver
    /// logs a security event (test checklist 36): anyone on the link can
    /// do this, as the RFC requires.
    SteppedDown,
    /// Active: priority 0 (§6.4.3) or a sender that loses
    /// (§6.4.3): an advert is sent at once.
    Asserted,
}

/// Per-instance counters, by keepalived's statistic names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub advert_rcvd: u64,
    pub advert_sent: u64,
    pub become_master: u64,
    pub release_master: u64,
    pub pri_zero_rcvd: u64,
    pub pri_zero_sent: u64,
    rx_errors: [u64; RxError::ALL.len()],
    /// IPv6 only: a destination neither `ff02::12` nor ours
    /// ([`super::packet6::Rx6Error::DstErr`], RFC 9568 §5.1.2.2).
    pub dst_err: u64,
}

impl Stats {
    pub fn record(&mut self, e: RxError) {
        self.rx_errors[e.index()] += 1;
    }

    pub fn rx_error(&self, e: RxError) -> u64 {
        self.rx_errors[e.index()]
    }

    /// Every counter with its name, for the metrics registry.
    pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        [
            ("advert_rcvd", self.advert_rcvd),
            ("advert_sent", self.advert_sent),
            ("become_master", self.become_master),
            ("release_master", self.release_master),
            ("pri_zero_rcvd", self.pri_zero_rcvd),
            ("pri_zero_sent", self.pri_zero_sent),
            ("dst_err", self.dst_err),
        ]
        .into_iter()
        .chain(
            RxError::ALL
                .iter()
                .map(|e| (e.counter_name(), self.rx_error(*e))),
        )
    }
}

/// One virtual router.
#[derive(Debug)]
pub struct Router<A = Ipv4Addr> {
    cfg: Config<A>,
    state: State<A>,
    /// Between `startup` and `shutdown`.
    enabled: bool,
    link_up: bool,
    /// Sum of the tracking weights now in effect.
    delta: i16,
    /// Effective priority: configured plus `delta`, kept in range.
    priority: u8,
    /// The last role published.
    role: Role,
    actions: VecDeque<Action<A>>,
    stats: Stats,
    /// The last interval mismatch reported: source, interval, when.
    mismatch_reported: Option<(A, Interval, Mono)>,
    /// The pair link's last word (meaningful with `sync_wait`).
    peer: PeerSync,
    /// When the Startup event came (the `sync_wait` runs from it).
    started_at: Option<Mono>,
    /// When the pair link last went down (the `sync_wait` runs from it too).
    link_lost_at: Option<Mono>,
}

impl<A: Family> Router<A> {
    /// A router in Initialize, link assumed up (call [`Router::link`] first
    /// if it is not).
    pub fn new(cfg: Config<A>) -> Result<Router<A>, InvalidConfig> {
        if !A::HAS_V2 && matches!(cfg.interval, Interval::V2(_)) {
            return Err(InvalidConfig(
                "VRRPv2 has no IPv6 form; IPv6 runs VRRPv3 (RFC 9568 §5.2.1)",
            ));
        }
        if cfg.vrid == 0 {
            return Err(InvalidConfig("vrid must be 1..=255 (RFC 9568 §5.2.3)"));
        }
        if cfg.priority == 0 {
            return Err(InvalidConfig(
                "priority must be 1..=255; 0 is reserved for a leaving router (RFC 9568 §5.2.4)",
            ));
        }
        if cfg.vips.is_empty() || cfg.vips.len() > MAX_ADDRS {
            return Err(InvalidConfig(
                "an instance needs 1..=255 virtual addresses (RFC 9568 §5.2.5)",
            ));
        }
        if cfg.down_timer_adverts == 0 {
            return Err(InvalidConfig("down_timer_adverts must be at least 1"));
        }
        let priority = effective_priority(cfg.priority, 0);
        Ok(Router {
            cfg,
            state: State::Initialize { startup_at: None },
            enabled: false,
            link_up: true,
            delta: 0,
            priority,
            role: Role::Initialize,
            actions: VecDeque::new(),
            stats: Stats::default(),
            mismatch_reported: None,
            peer: PeerSync::default(),
            started_at: None,
            link_lost_at: None,
        })
    }

    // -----------------------------------------------------------------------
    // Inputs.

    /// Starts the instance: the RFC Startup event, after `startup_delay`.
    pub fn startup(&mut self, now: Mono) {
        if self.enabled {
            return;
        }
        self.enabled = true;
        self.started_at = Some(now);
        if self.cfg.startup_delay.is_zero() {
            self.start(now);
        } else {
            self.state = State::Initialize {
                startup_at: Some(now + self.cfg.startup_delay),
            };
        }
    }

    /// Stops the instance: the RFC Shutdown event.
    pub fn shutdown(&mut self, now: Mono) {
        if !self.enabled {
            return;
        }
        self.check_vip_lapse(now);
        self.enabled = false;
        match self.state {
            // RFC 9568 §6.4.3: cancel the Adver_Timer, send
            // priority 0, go to Initialize. The role goes first (design §1:
            // DHCP stops before the VIP goes), the VIP last.
            State::Active(_) => {
                self.publish(Role::Initialize);
                self.send_advert(PRIORITY_STOP);
                self.release_vips();
            }
            // RFC 9568 §6.4.2: cancel the Active_Down_Timer.
            State::Backup(_) => self.publish(Role::Initialize),
            State::Initialize { .. } => {}
        }
        self.state = State::Initialize { startup_at: None };
    }

    /// The interface's link went up or down. Down: stop advertising and
    /// release the VIP (keepalived's FAULT; published as Initialize). Up
    /// again: a fresh Startup event, so a non-owner listens for one
    /// Active_Down_Interval before it may become Active.
    pub fn link(&mut self, now: Mono, up: bool) {
        self.check_vip_lapse(now);
        if up == self.link_up {
            return;
        }
        self.link_up = up;
        if !up {
            match self.state {
                State::Active(_) => {
                    self.publish(Role::Initialize);
                    self.release_vips();
                }
                State::Backup(_) => self.publish(Role::Initialize),
                // A pending start-up delay keeps running; `start` waits
                // for the link when it ends.
                State::Initialize { .. } => return,
            }
            self.state = State::Initialize { startup_at: None };
        } else if self.enabled && self.state == (State::Initialize { startup_at: None }) {
            self.start(now);
        }
    }

    /// Sets the sum of the tracking weights in effect (tracked interfaces,
    /// scripts). The owner's priority stays 255; any other is kept within
    /// 1..=254 (RFC 9568 §5.2.4). An Active router announces a change at
    /// once rather than at its next Adver_Timer.
    pub fn set_priority_delta(&mut self, now: Mono, delta: i16) {
        self.check_vip_lapse(now);
        self.delta = delta;
        let p = effective_priority(self.cfg.priority, delta);
        if p == self.priority {
            return;
        }
        self.priority = p;
        // A Backup needs nothing now: the new priority decides on the next
        // advert (§6.4.2) and in Skew_Time from then on.
        if let State::Active(a) = &mut self.state {
            a.adver_at = now + self.cfg.interval.as_duration();
            self.send_advert(p);
        }
    }

    /// The pair link's state changed (issue 13 item 4). Takes effect at
    /// the next advert: a Backup that was holding back preemption and is
    /// now caught up lets the Active_Down_Timer run out on the next
    /// lower-priority advert (§6.4.2).
    ///
    /// A link that goes down starts the `sync_wait` window again: a box
    /// that was frozen or cut off comes back with its link dead, and the
    /// link needs a moment to reconnect and catch up before this box may
    /// preempt from a stale store.
    pub fn set_peer_sync(&mut self, now: Mono, s: PeerSync) {
        if self.peer.connected && !s.connected {
            self.link_lost_at = Some(now);
        }
        self.peer = s;
    }

    pub fn peer_sync(&self) -> PeerSync {
        self.peer
    }

    /// Whether preemption is held back at `now` because this box is behind
    /// its peer (issue 13 item 4, design §9). RFC 9568 §6.1 defines
    /// Preempt_Mode as what "controls whether a (starting or restarting)
    /// higher-priority Backup router preempts a lower-priority Active
    /// router"; a box whose lease store is behind a reachable peer runs
    /// with it off until catch-up completes, so it never answers from an
    /// incomplete store while the peer is serving. With the peer
    /// unreachable the hold ends `sync_wait` after start (or after the
    /// link was lost), so a lone box still takes over. Taking over from silence (no Active router at all,
    /// the Active_Down_Timer of §6.4.2) is never held: that is
    /// availability, not preemption.
    pub fn preemption_held(&self, now: Mono) -> bool {
        let Some(wait) = self.cfg.sync_wait else {
            return false;
        };
        if self.peer.caught_up {
            return false;
        }
        let within = |t: Option<Mono>| t.is_some_and(|t| now < t + wait);
        self.peer.connected
            || self.started_at.is_none()
            || within(self.started_at)
            || within(self.link_lost_at)
    }

    /// Handles an advert that [`super::packet::decode`] accepted, from IP
    /// source `src`. First the checks against this instance (RFC 9568 §7.1,
    /// RFC 3768 §7.1), each counted; then the state machine.
    pub fn receive(&mut self, now: Mono, a: &Advert<A>, src: A) -> Result<Received, RxError> {
        if src == self.cfg.primary_ip {
            return Ok(Received::Own);
        }
        // Before anything else: an Active router resumed after a stop may
        // find old adverts queued and would answer them as if it still
        // held the VIP.
        self.check_vip_lapse(now);
        self.stats.advert_rcvd += 1;
        if let Err(e) = self.check(a, src) {
            self.stats.record(e);
            return Err(e);
        }
        if a.priority == PRIORITY_STOP {
            self.stats.pri_zero_rcvd += 1;
        }
        // Erratum 8298: when we are the address owner too, the advert is
        // processed as usual (two owners would otherwise both stay Active);
        // the driver logs the misconfiguration (`is_owner()`).
        let local = self.priority;
        let held = self.cfg.preempt && self.preemption_held(now);
        let mut lower_claim = false;
        let learned = self.bounded_interval(a.interval);
        let outcome = match &mut self.state {
            State::Initialize { .. } => Received::NotRunning,
            State::Backup(b) => {
                if a.priority == PRIORITY_STOP {
                    if b.active_router.is_some_and(|ip| ip != src) {
                        // Test checklist 37: a forged priority 0 from a
                        // router that is not the Active one is ignored.
                        Received::StrayPriorityZero
                    } else {
                        // §6.4.2: Active_Down_Timer = Skew_Time.
                        b.master_down_at = now + skew_time(local, b.active_interval);
                        Received::ActiveLeaving
                    }
                } else {
                    b.active_router = Some(src);
                    let lower = a.priority < local;
                    // keepalived `preempt_delay`: a lower priority is
                    // followed until the delay after its first advert.
                    let tolerated = lower
                        && !self.cfg.preempt_delay.is_zero()
                        && now < *b.preempt_at.get_or_insert(now + self.cfg.preempt_delay);
                    if !lower {
                        b.preempt_at = None;
                    }
                    let held = lower && held && !tolerated;
                    if !self.cfg.preempt || !lower || tolerated || held {
                        // §6.4.2: adopt the Active router's
                        // interval, recompute Skew_Time and
                        // Active_Down_Interval, reset the timer. VRRPv2 has
                        // nothing to adopt: other intervals were refused.
                        // Behind the peer, Preempt_Mode counts as off
                        // ([`Router::preemption_held`]).
                        b.active_interval = learned;
                        b.master_down_at = now
                            + master_down_interval(
                                local,
                                b.active_interval,
                                self.cfg.down_timer_adverts,
                            );
                        if held {
                            Received::HeldForSync
                        } else {
                            Received::Followed
                        }
                    } else {
                        // §6.4.2: Preempt_Mode and a lower
                        // priority: discard; the timer runs out.
                        Received::Preempting
                    }
                }
            }
            State::Active(act) => {
                if a.priority == PRIORITY_STOP {
                    // §6.4.3: send an advert, reset Adver_Timer.
                    act.adver_at = now + self.cfg.interval.as_duration();
                    Received::Asserted
                } else if a.priority > local || (a.priority == local && src > self.cfg.primary_ip) {
                    // §6.4.3: the sender has a higher priority,
                    // or the same and a greater primary address (unsigned,
                    // network byte order: the octet order that `Ord` on
                    // both address types compares; for IPv6 the senders'
                    // link-local addresses).
                    Received::SteppedDown
                } else {
                    // §6.4.3, new in RFC 9568: discard, and send
                    // an advert immediately so that the sender and learning
                    // bridges see the Active router. The sender may have
                    // claimed the VIP with gratuitous ARPs meanwhile (a lost
                    // advert or two on a lossy link): ARP it back too, or
                    // hosts keep sending to a router that just stepped down
                    // until their ARP entry expires (keepalived's
                    // garp_lower_prio_repeat, found by the lossy-link bench).
                    lower_claim = true;
                    // The sender's own gratuitous ARPs may still be on the
                    // way (it sends them right after its advert), and Linux
                    // hosts ignore ARP updates within 1 s of the last one
                    // (neigh locktime): ARP again a little later too.
                    let again = now + REASSERT_GARP_DELAY;
                    act.garp_at = Some(act.garp_at.map_or(again, |at| at.min(again)));
                    Received::Asserted
                }
            }
        };
        match outcome {
            Received::Asserted => {
                self.send_advert(local);
                if lower_claim {
                    self.send_garps(self.cfg.garp.repeat);
                }
            }
            Received::SteppedDown => {
                self.publish(Role::Backup);
                self.release_vips();
                self.enter_backup(now, learned, Some(src));
            }
            _ => {}
        }
        if matches!(
            outcome,
            Received::Followed | Received::HeldForSync | Received::SteppedDown
        ) && a.interval != self.cfg.interval
        {
            self.report_mismatch(now, src, a.interval, learned);
        }
        Ok(outcome)
    }

    /// Fires every timer that is due at `now`.
    pub fn poll(&mut self, now: Mono) {
        self.check_vip_lapse(now);
        match &mut self.state {
            State::Initialize {
                startup_at: Some(at),
            } if now >= *at => {
                self.state = State::Initialize { startup_at: None };
                self.start(now);
            }
            State::Initialize { .. } => {}
            // §6.4.2: the Active_Down_Timer fires.
            State::Backup(b) if now >= b.master_down_at => self.become_active(now),
            State::Backup(_) => {}
            State::Active(a) => {
                let interval = self.cfg.interval.as_duration();
                let mut advert = false;
                if now >= a.adver_at {
                    // §6.4.3: send, reset the Adver_Timer. Kept
                    // on its grid unless we fell a whole interval behind.
                    advert = true;
                    a.adver_at = next_deadline(a.adver_at, interval, now);
                }
                let mut garps = 0;
                if a.garp_at.is_some_and(|at| now >= at) {
                    a.garp_at = None;
                    garps += self.cfg.garp.repeat;
                }
                if let Some(at) = a.refresh_at
                    && now >= at
                {
                    a.refresh_at = Some(next_deadline(at, self.cfg.garp.refresh, now));
                    garps += self.cfg.garp.refresh_repeat;
                }
                let mut refresh = false;
                if let Some(at) = a.vip_refresh_at
                    && now >= at
                {
                    let lifetime = self.cfg.vip_lifetime;
                    a.vip_refresh_at = Some(now + vip_refresh_period(lifetime));
                    a.vip_valid_before = a.vip_valid_until;
                    a.vip_valid_until = Some(now + lifetime.saturating_sub(VIP_LAPSE_MARGIN));
                    refresh = true;
                }
                if advert {
                    self.send_advert(self.priority);
                }
                if refresh {
                    for v in &self.cfg.vips {
                        self.actions.push_back(Action::RefreshVip(*v));
                    }
                }
                self.send_garps(garps);
            }
        }
    }

    // -----------------------------------------------------------------------
    // Outputs.

    /// The next action, in the order the transitions require.
    pub fn poll_action(&mut self) -> Option<Action<A>> {
        self.actions.pop_front()
    }

    /// When [`Router::poll`] must run next; `None` while nothing is timed.
    pub fn poll_timeout(&self) -> Option<Mono> {
        match &self.state {
            State::Initialize { startup_at } => *startup_at,
            State::Backup(b) => Some(b.master_down_at),
            State::Active(a) => [
                Some(a.adver_at),
                a.garp_at,
                a.refresh_at,
                a.vip_refresh_at,
                a.vip_valid_until,
            ]
            .into_iter()
            .flatten()
            .min(),
        }
    }

    /// The advert to send for [`Action::SendAdvert`].
    pub fn advert(&self, priority: u8) -> Advert<A> {
        Advert {
            vrid: self.cfg.vrid,
            priority,
            interval: self.cfg.interval,
            auth: match self.cfg.interval {
                Interval::V2(_) => self.cfg.auth,
                Interval::V3(_) => Auth::None,
            },
            addrs: self.cfg.vips.iter().map(|v| v.addr).collect(),
        }
    }

    // -----------------------------------------------------------------------
    // Introspection.

    pub fn config(&self) -> &Config<A> {
        &self.cfg
    }

    pub fn state(&self) -> &State<A> {
        &self.state
    }

    /// The role last published.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The effective priority (configured plus tracking weights).
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// Whether we own the addresses (priority 255, RFC 9568 §5.2.4).
    pub fn is_owner(&self) -> bool {
        self.cfg.priority == PRIORITY_OWNER
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    pub fn link_is_up(&self) -> bool {
        self.link_up
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Counts a rejection that the driver found before reaching
    /// [`Router::receive`] (a decode error on this instance's socket).
    pub fn record_rx_error(&mut self, e: RxError) {
        self.stats.record(e);
    }

    /// The same for an advert carried in IPv6 ([`super::packet6::decode`]).
    pub fn record_rx6_error(&mut self, e: super::packet6::Rx6Error) {
        match e {
            super::packet6::Rx6Error::Packet(e) => self.stats.record(e),
            super::packet6::Rx6Error::DstErr => self.stats.dst_err += 1,
        }
    }

    /// Skew_Time for our current priority (RFC 9568 §6.1).
    pub fn skew_time(&self, active_interval: Interval) -> Duration {
        skew_time(self.priority, active_interval)
    }

    /// Active_Down_Interval for our current priority (RFC 9568 §6.1).
    pub fn master_down_interval(&self, active_interval: Interval) -> Duration {
        master_down_interval(self.priority, active_interval, self.cfg.down_timer_adverts)
    }

    // -----------------------------------------------------------------------
    // Transitions.

    /// RFC 9568 §6.4.1: the Startup event.
    fn start(&mut self, now: Mono) {
        if !self.link_up {
            // Wait for the link; `link(up)` calls us again.
            self.state = State::Initialize { startup_at: None };
        } else if self.is_owner() {
            // The owner goes Active at once.
            self.become_active(now);
        } else {
            // Active_Adver_Interval = Advertisement_Interval,
            // Active_Down_Timer = Active_Down_Interval, Backup.
            self.publish(Role::Backup);
            self.enter_backup(now, self.cfg.interval, None);
        }
    }

    fn enter_backup(&mut self, now: Mono, active_interval: Interval, active_router: Option<A>) {
        self.state = State::Backup(Backup {
            master_down_at: now
                + master_down_interval(self.priority, active_interval, self.cfg.down_timer_adverts),
            active_interval,
            active_router,
            preempt_at: None,
        });
    }

    /// §6.4.1 and §6.4.2: send an advert, announce
    /// the addresses, set the Adver_Timer, go Active.
    fn become_active(&mut self, now: Mono) {
        self.send_advert(self.priority);
        // The owner's addresses are already its own (RFC 9568 §1.6 Definitions).
        if !self.is_owner() {
            for v in &self.cfg.vips {
                self.actions.push_back(Action::AddVip(*v));
            }
        }
        self.send_garps(self.cfg.garp.repeat);
        let g = self.cfg.garp;
        let lifetime = self.vip_lifetime();
        // The first install counts as a refresh; if it fails, the retries
        // get one lifetime before we give the role up.
        let valid = lifetime.map(|l| now + l.saturating_sub(VIP_LAPSE_MARGIN));
        self.state = State::Active(Active {
            adver_at: now + self.cfg.interval.as_duration(),
            garp_at: (!g.second_burst.is_zero()).then(|| now + g.second_burst),
            refresh_at: (!g.refresh.is_zero()).then(|| now + g.refresh),
            vip_refresh_at: lifetime.map(|l| now + vip_refresh_period(l)),
            vip_valid_until: valid,
            vip_valid_before: valid,
        });
        self.stats.become_master += 1;
        self.publish(Role::Active);
    }

    /// The Active_Adver_Interval to adopt from an advert: the advertised
    /// one, at most [`MAX_LEARNED_FACTOR`] times ours (RFC 9568 §6.4.2
    /// adopts it; the bound keeps a forged or misconfigured peer from
    /// stretching Active_Down_Interval beyond reason).
    fn bounded_interval(&self, advertised: Interval) -> Interval {
        match (advertised, self.cfg.interval) {
            (Interval::V3(adv), Interval::V3(own)) => {
                let cap = own.get().saturating_mul(MAX_LEARNED_FACTOR);
                Centis::new(adv.get().min(cap))
                    .or(Centis::new(cap.min(Centis::MAX.get())))
                    .map_or(advertised, Interval::V3)
            }
            _ => advertised,
        }
    }

    fn report_mismatch(&mut self, now: Mono, from: A, advertised: Interval, used: Interval) {
        let again = match self.mismatch_reported {
            Some((f, i, at)) if f == from && i == advertised => now >= at + MISMATCH_REPORT_EVERY,
            _ => true,
        };
        if again {
            self.mismatch_reported = Some((from, advertised, now));
            self.actions.push_back(Action::IntervalMismatch {
                from,
                advertised,
                used,
            });
        }
    }

    /// The VIP lifetime in effect: none for the owner (its addresses are
    /// the system's, RFC 9568 §1.6 Definitions) or when configured off.
    pub fn vip_lifetime(&self) -> Option<Duration> {
        (!self.is_owner() && !self.cfg.vip_lifetime.is_zero()).then_some(self.cfg.vip_lifetime)
    }

    /// The driver could not install or refresh a VIP: the kernel keeps the
    /// lifetime of the last refresh that worked, so we count from that one
    /// again, and try again after [`VIP_REFRESH_RETRY`].
    pub fn vip_refresh_failed(&mut self, now: Mono) {
        if let State::Active(a) = &mut self.state
            && a.vip_refresh_at.is_some()
        {
            a.vip_valid_until = a.vip_valid_before;
            a.vip_refresh_at = Some(now + VIP_REFRESH_RETRY);
        }
    }

    /// An Active router whose VIP lifetime ran out before it could refresh
    /// it (it was stopped, starved, or every refresh failed): the kernel
    /// has removed the address and a Backup has most likely taken over
    /// meanwhile. Acting on the old state would announce (advert, ARP) an
    /// address we no longer hold, so we start over as after the Startup
    /// event (RFC 9568 §6.4.1: Backup, Active_Down_Timer armed), silently:
    /// the role is published first and the VIP removed (design §1 order),
    /// and from the next adverts §6.4.2 decides again. A current Active
    /// router of higher priority, or equal priority and higher address,
    /// is followed; one of lower priority is preempted when Preempt_Mode
    /// is on, just as §6.4.3 would have had a live Active router answer.
    fn check_vip_lapse(&mut self, now: Mono) {
        let State::Active(a) = &self.state else {
            return;
        };
        let Some(until) = a.vip_valid_until.filter(|u| now >= *u) else {
            return;
        };
        self.actions.push_back(Action::VipLapsed {
            ago: now.since(until),
        });
        self.publish(Role::Backup);
        self.release_vips();
        self.enter_backup(now, self.cfg.interval, None);
    }

    fn release_vips(&mut self) {
        // Never the owner's: they are interface addresses (RFC 9568 §1.6 Definitions).
        if !self.is_owner() {
            for v in &self.cfg.vips {
                self.actions.push_back(Action::RemoveVip(*v));
            }
        }
        self.stats.release_master += 1;
    }

    fn send_advert(&mut self, priority: u8) {
        self.stats.advert_sent += 1;
        if priority == PRIORITY_STOP {
            self.stats.pri_zero_sent += 1;
        }
        self.actions.push_back(Action::SendAdvert { priority });
    }

    fn send_garps(&mut self, count: u32) {
        if count == 0 {
            return;
        }
        for v in &self.cfg.vips {
            self.actions
                .push_back(Action::SendGratuitousArp { vip: v.addr, count });
        }
    }

    fn publish(&mut self, role: Role) {
        if role != self.role {
            self.role = role;
            self.actions.push_back(Action::RoleChanged(role));
        }
    }

    /// The receive checks that need this instance's settings.
    fn check(&self, a: &Advert<A>, src: A) -> Result<(), RxError> {
        // RFC 9568 §7.1: the VRID is configured on the receiving interface
        // (the driver dispatches by VRID; this guards a wrong dispatch).
        if a.vrid != self.cfg.vrid {
            return Err(RxError::VridErr);
        }
        // RFC 9568 §7.1 / RFC 3768 §7.1: the version this instance runs.
        // No v2/v3 mixed mode (RFC 9568 §8.4.2 is optional).
        if a.version() != self.cfg.interval.version() {
            return Err(RxError::VersionErr);
        }
        if !self.cfg.peers.is_empty() && !self.cfg.peers.contains(&src) {
            return Err(RxError::SrcNotAllowed);
        }
        if let Interval::V2(_) = self.cfg.interval {
            // RFC 3768 §7.1: Auth Type as configured, then authenticate.
            if a.auth.code() != self.cfg.auth.code() {
                return Err(RxError::AuthtypeMismatch);
            }
            if a.auth != self.cfg.auth {
                return Err(RxError::AuthFailure);
            }
        }
        // RFC 9568 §7.1 lets the receiver verify the count and the list
        // (MAY) and asks only for a log; we discard a mismatch as keepalived
        // does, so a mixed pair agrees on what counts (test checklist 35).
        if a.addrs.len() != self.cfg.vips.len()
            || self.cfg.vips.iter().any(|v| !a.addrs.contains(&v.addr))
        {
            return Err(RxError::AddrListErr);
        }
        // RFC 3768 §7.1: a VRRPv2 interval other than ours MUST be
        // discarded. VRRPv3 adopts it instead (RFC 9568 §6.4.2); a
        // difference is only worth a log (§7.1 SHOULD), left to the driver.
        if let Interval::V2(_) = self.cfg.interval
            && a.interval != self.cfg.interval
        {
            return Err(RxError::AdvertIntervalErr);
        }
        Ok(())
    }
}

/// RFC 9568 §5.2.4: the owner's priority MUST be 255, a backup's 1..=254.
fn effective_priority(base: u8, delta: i16) -> u8 {
    if base == PRIORITY_OWNER {
        return PRIORITY_OWNER;
    }
    (i32::from(base) + i32::from(delta)).clamp(1, 254) as u8
}

/// Skew_Time.
///
/// VRRPv3, RFC 9568 §6.1: `((256 - Priority) * Active_Adver_Interval) / 256`,
/// from the learned interval. Computed in milliseconds rather than whole
/// centiseconds (keepalived computes it in microseconds): priority 100 at
/// 100 cs gives 609 ms, not 600.
///
/// VRRPv2, RFC 3768 §6.1: `(256 - Priority) / 256` seconds, whatever the
/// interval.
fn skew_time(priority: u8, active_interval: Interval) -> Duration {
    let unit_ms = match active_interval {
        Interval::V3(c) => c.as_millis(),
        Interval::V2(_) => 1000,
    };
    Duration::from_millis((256 - u64::from(priority)) * unit_ms / 256)
}

/// Active_Down_Interval, RFC 9568 §6.1 (and RFC 3768 §6.1):
/// `3 * Active_Adver_Interval + Skew_Time`, the 3 being `down_timer_adverts`.
fn master_down_interval(priority: u8, active_interval: Interval, adverts: u32) -> Duration {
    Duration::from_millis(u64::from(adverts) * active_interval.as_millis())
        + skew_time(priority, active_interval)
}

/// The deadline after `at` on a `period` grid, or a full period from `now`
/// if that is already past (no bursts after a stall).
fn next_deadline(at: Mono, period: Duration, now: Mono) -> Mono {
    let next = at + period;
    if next > now { next } else { now + period }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "router6_tests.rs"]
mod tests6;
