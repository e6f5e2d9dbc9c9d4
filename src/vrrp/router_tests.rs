//! Timeline tests of the state machine: `t=<ms> event -> actions`, with the
//! RFC 9568 §6 rule each one pins down.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;
use crate::vrrp::packet::Secs;

const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const LOWER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const HIGHER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const VIP: Vip = Vip {
    addr: Ipv4Addr::new(10, 0, 0, 254),
    prefix_len: 24,
};

fn t(ms: u64) -> Mono {
    Mono(ms)
}

fn cs(v: u16) -> Interval {
    Interval::V3(Centis::new(v).unwrap())
}

fn config(priority: u8) -> Config {
    Config::new(51, priority, ME, vec![VIP])
}

fn router(cfg: Config) -> Router {
    Router::new(cfg).unwrap()
}

fn drain(r: &mut Router) -> Vec<Action> {
    std::iter::from_fn(|| r.poll_action()).collect()
}

fn advert(priority: u8, interval: Interval) -> Advert {
    Advert {
        vrid: 51,
        priority,
        interval,
        auth: Auth::None,
        addrs: vec![VIP.addr],
    }
}

fn becoming_active(priority: u8) -> Vec<Action> {
    let mut a = vec![
        Action::SendAdvert { priority },
        Action::AddVip(VIP),
        Action::SendGratuitousArp {
            vip: VIP.addr,
            count: 5,
        },
        Action::RoleChanged(Role::Active),
    ];
    // The owner's addresses are its own (RFC 9568 §1.6): never added.
    if priority == PRIORITY_OWNER {
        a.retain(|a| !matches!(a, Action::AddVip(_)));
    }
    a
}

/// A router of `priority` that is Active at `t=0` (owner start or timeout).
fn active(priority: u8) -> Router {
    let mut r = router(config(priority));
    r.startup(t(0));
    if let Some(at) = r.poll_timeout().filter(|_| r.role() == Role::Backup) {
        r.poll(at);
    }
    assert_eq!(r.role(), Role::Active);
    drain(&mut r);
    r
}

fn master_down_at(r: &Router) -> Mono {
    match r.state() {
        State::Backup(b) => b.master_down_at,
        s => panic!("not Backup: {s:?}"),
    }
}

// ---------------------------------------------------------------------------
// Start-up and the basic timeline.

#[test]
fn startup_backup_then_active_at_3609() {
    let mut r = router(config(100));
    assert_eq!(r.poll_timeout(), None);
    // t=0 Startup -> Backup (RFC 9568 §6.4.1).
    r.startup(t(0));
    assert_eq!(drain(&mut r), [Action::RoleChanged(Role::Backup)]);
    // Active_Down_Interval = 3 x 1000 + (256-100) x 1000 / 256 = 3609 ms.
    assert_eq!(r.skew_time(cs(100)), Duration::from_millis(609));
    assert_eq!(r.poll_timeout(), Some(t(3609)));
    r.poll(t(3608));
    assert_eq!(drain(&mut r), []);
    // t=3609 Active_Down_Timer fires -> Active (§6.4.2).
    r.poll(t(3609));
    assert_eq!(drain(&mut r), becoming_active(100));
    assert_eq!(r.role(), Role::Active);
    assert_eq!(
        r.state(),
        &State::Active(Active {
            adver_at: t(4609),
            garp_at: Some(t(8609)),
            refresh_at: None,
            vip_refresh_at: None,
            vip_valid_until: None,
            vip_valid_before: None,
        })
    );
    assert_eq!(r.stats().become_master, 1);
    // Adver_Timer: one advert a second (§6.4.3).
    r.poll(t(4609));
    assert_eq!(drain(&mut r), [Action::SendAdvert { priority: 100 }]);
    assert_eq!(r.poll_timeout(), Some(t(5609)));
}

#[test]
fn owner_is_active_at_startup() {
    // §6.4.1: priority 255 goes Active at once.
    let mut r = router(config(255));
    r.startup(t(0));
    assert_eq!(drain(&mut r), becoming_active(255));
    assert_eq!(r.poll_timeout(), Some(t(1000)));
    assert!(r.is_owner());
}

#[test]
fn owner_never_adds_or_removes_its_own_addresses() {
    // RFC 9568 §1.6 Definitions: the owner has the virtual addresses as
    // real interface addresses. Issue 17 item 6: stepping down, link loss
    // and shutdown deleted them. None of them may emit RemoveVip.
    let mut r = active(255);
    assert_eq!(
        r.receive(t(500), &advert(255, cs(100)), HIGHER_IP),
        Ok(Received::SteppedDown)
    );
    assert_eq!(drain(&mut r), [Action::RoleChanged(Role::Backup)]);
    r.poll(master_down_at(&r));
    assert_eq!(drain(&mut r), becoming_active(255));
    r.link(t(9000), false);
    assert_eq!(drain(&mut r), [Action::RoleChanged(Role::Initialize)]);
    r.link(t(9100), true);
    drain(&mut r);
    assert_eq!(r.role(), Role::Active);
    r.shutdown(t(9200));
    assert_eq!(
        drain(&mut r),
        [
            Action::RoleChanged(Role::Initialize),
            Action::SendAdvert { priority: 0 }
        ]
    );
    // A non-owner does release its VIP on the same path.
    let mut r = active(100);
    r.shutdown(t(100));
    assert!(drain(&mut r).contains(&Action::RemoveVip(VIP)));
}

#[test]
fn owner_priority_ignores_tracking() {
    let mut r = active(255);
    r.set_priority_delta(t(10), -100);
    assert_eq!(r.priority(), 255);
    assert_eq!(drain(&mut r), []);
}

#[test]
fn startup_delay_holds_the_startup_event() {
    // keepalived `vrrp_startup_delay`; test checklist 41: no Active before
    // the delay and one Active_Down_Interval of listening.
    let mut c = config(100);
    c.startup_delay = Duration::from_secs(5);
    let mut r = router(c);
    r.startup(t(0));
    assert_eq!(drain(&mut r), []);
    assert_eq!(r.role(), Role::Initialize);
    assert_eq!(r.poll_timeout(), Some(t(5000)));
    // Adverts during the delay are not processed (Initialize).
    assert_eq!(
        r.receive(t(100), &advert(200, cs(100)), HIGHER_IP),
        Ok(Received::NotRunning)
    );
    r.poll(t(5000));
    assert_eq!(drain(&mut r), [Action::RoleChanged(Role::Backup)]);
    assert_eq!(r.poll_timeout(), Some(t(8609)));
    r.poll(t(8609));
    assert_eq!(r.role(), Role::Active);

    // The owner, too, waits for the delay, then goes Active at once.
    let mut c = config(255);
    c.startup_delay = Duration::from_secs(2);
    let mut r = router(c);
    r.startup(t(0));
    r.poll(t(1999));
    assert_eq!(r.role(), Role::Initialize);
    r.poll(t(2000));
    assert_eq!(drain(&mut r), becoming_active(255));
}

// ---------------------------------------------------------------------------
// Backup (§6.4.2).

#[test]
fn backup_follows_higher_priority_and_never_takes_over() {
    let mut r = router(config(100));
    r.startup(t(0));
    drain(&mut r);
    for s in 0..20 {
        let now = t(1000 * s + 500);
        assert_eq!(
            r.receive(now, &advert(200, cs(100)), HIGHER_IP),
            Ok(Received::Followed)
        );
        assert_eq!(r.poll_timeout(), Some(now + Duration::from_millis(3609)));
        r.poll(now);
    }
    assert_eq!(r.role(), Role::Backup);
    assert_eq!(drain(&mut r), []);
    assert_eq!(r.stats().advert_rcvd, 20);
}

#[test]
fn preempt_takes_over_from_a_lower_priority() {
    // §6.4.2: Preempt_Mode and a lower priority: discard, and
    // the Active_Down_Timer set at start-up runs out.
    let mut r = router(config(150));
    r.startup(t(0));
    drain(&mut r);
    // Active_Down_Interval at 150: 3000 + 106 x 1000 / 256 = 3414.
    assert_eq!(r.poll_timeout(), Some(t(3414)));
    for ms in [100, 1100, 2100, 3100] {
        assert_eq!(
            r.receive(t(ms), &advert(100, cs(100)), HIGHER_IP),
            Ok(Received::Preempting)
        );
    }
    assert_eq!(r.poll_timeout(), Some(t(3414)));
    r.poll(t(3414));
    assert_eq!(drain(&mut r), becoming_active(150));
    // The old Active router's next advert is lower: we assert ourselves at
    // once (§6.4.3), it steps down on receiving that.
    assert_eq!(
        r.receive(t(4100), &advert(100, cs(100)), HIGHER_IP),
        Ok(Received::Asserted)
    );
    assert_eq!(
        drain(&mut r),
        [
            Action::SendAdvert { priority: 150 },
            Action::SendGratuitousArp {
                vip: Ipv4Addr::new(10, 0, 0, 254),
                count: 5
            }
        ]
    );
}

#[test]
fn nopreempt_follows_a_lower_priority() {
    // §6.4.2: Preempt_Mode false -> adopt and reset, whatever the
    // priority.
    let mut c = config(150);
    c.preempt = false;
    let mut r = router(c);
    r.startup(t(0));
    drain(&mut r);
    for s in 0..30 {
        let now = t(1000 * s + 100);
        assert_eq!(
            r.receive(now, &advert(100, cs(100)), HIGHER_IP),
            Ok(Received::Followed)
        );
        r.poll(now);
    }
    assert_eq!(r.role(), Role::Backup);
}

#[test]
fn preempt_delay_tolerates_a_lower_priority_for_a_while() {
    // keepalived `preempt_delay`: followed for 10 s after its first advert,
    // then discarded, then the timer runs out.
    let mut c = config(150);
    c.preempt_delay = Duration::from_secs(10);
    let mut r = router(c);
    r.startup(t(0));
    drain(&mut r);
    let mut s = 0;
    let taken_at = loop {
        let now = t(1000 * s + 100);
        if let Some(at) = r.poll_timeout().filter(|at| *at <= now) {
            r.poll(at);
            if r.role() == Role::Active {
                break at;
            }
        }
        let got = r.receive(now, &advert(100, cs(100)), HIGHER_IP).unwrap();
        let want = if now < t(10_100) {
            Received::Followed
        } else {
            Received::Preempting
        };
        assert_eq!(got, want, "at {now:?}");
        s += 1;
    };
    // Last followed advert at 9100 ms, plus 3414 ms.
    assert_eq!(taken_at, t(9100 + 3414));
}

#[test]
fn preempt_delay_restarts_after_a_higher_priority() {
    let mut c = config(150);
    c.preempt_delay = Duration::from_secs(10);
    let mut r = router(c);
    r.startup(t(0));
    r.receive(t(100), &advert(100, cs(100)), HIGHER_IP).unwrap();
    let State::Backup(b) = r.state() else {
        panic!()
    };
    assert_eq!(b.preempt_at, Some(t(10_100)));
    r.receive(t(1100), &advert(200, cs(100)), HIGHER_IP)
        .unwrap();
    let State::Backup(b) = r.state() else {
        panic!()
    };
    assert_eq!(b.preempt_at, None);
}

#[test]
fn equal_priority_is_followed_by_a_backup() {
    // §6.4.2: "greater than or equal to the local Priority".
    let mut r = router(config(100));
    r.startup(t(0));
    assert_eq!(
        r.receive(t(500), &advert(100, cs(100)), LOWER_IP),
        Ok(Received::Followed)
    );
    assert_eq!(master_down_at(&r), t(500 + 3609));
}

#[test]
fn priority_zero_takes_over_after_skew_time() {
    // §6.4.2: Active_Down_Timer = Skew_Time (609 ms at 100).
    let mut r = router(config(100));
    r.startup(t(0));
    drain(&mut r);
    r.receive(t(1000), &advert(200, cs(100)), HIGHER_IP)
        .unwrap();
    assert_eq!(
        r.receive(t(1500), &advert(0, cs(100)), HIGHER_IP),
        Ok(Received::ActiveLeaving)
    );
    assert_eq!(r.poll_timeout(), Some(t(1500 + 609)));
    r.poll(t(2108));
    assert_eq!(r.role(), Role::Backup);
    r.poll(t(2109));
    assert_eq!(r.role(), Role::Active);
    assert_eq!(r.stats().pri_zero_rcvd, 1);
}

#[test]
fn forged_priority_zero_from_another_source_is_ignored() {
    // Test checklist 37.
    let mut r = router(config(100));
    r.startup(t(0));
    r.receive(t(1000), &advert(200, cs(100)), HIGHER_IP)
        .unwrap();
    let before = master_down_at(&r);
    assert_eq!(
        r.receive(t(1500), &advert(0, cs(100)), Ipv4Addr::new(10, 0, 0, 99)),
        Ok(Received::StrayPriorityZero)
    );
    assert_eq!(master_down_at(&r), before);
    // Before any Active router is known, a priority 0 is believed.
    let mut r = router(config(100));
    r.startup(t(0));
    assert_eq!(
        r.receive(t(100), &advert(0, cs(100)), HIGHER_IP),
        Ok(Received::ActiveLeaving)
    );
    assert_eq!(master_down_at(&r), t(709));
}

#[test]
fn interval_is_learned_from_the_active_router() {
    // §6.4.2: configured 100 cs, the Active router sends 50 cs:
    // Active_Down_Interval becomes 3 x 500 + 156 x 500 / 256 = 1804 ms.
    let mut r = router(config(100));
    r.startup(t(0));
    assert_eq!(r.poll_timeout(), Some(t(3609)));
    r.receive(t(200), &advert(200, cs(50)), HIGHER_IP).unwrap();
    assert_eq!(r.poll_timeout(), Some(t(200 + 1804)));
    let State::Backup(b) = r.state() else {
        panic!()
    };
    assert_eq!(b.active_interval, cs(50));
    assert_eq!(r.skew_time(cs(50)), Duration::from_millis(304));
    // Priority 0 now skews on the learned interval too.
    r.receive(t(700), &advert(0, cs(50)), HIGHER_IP).unwrap();
    assert_eq!(r.poll_timeout(), Some(t(700 + 304)));
    // We still advertise our own interval once Active (§6.4.3).
    r.poll(t(1004));
    assert_eq!(r.poll_timeout(), Some(t(2004)));
    assert_eq!(r.advert(100).interval, cs(100));
}

#[test]
fn a_forged_slow_interval_cannot_stretch_the_down_timer() {
    // Issue 17 item 7: three priority-255 adverts with 40.95 s made the
    // Active step down and wait 3 x 40.95 s + skew for the next one: no
    // Active router for two minutes. The learned interval is bounded to
    // MAX_LEARNED_FACTOR x ours: 200 cs, so Active_Down_Interval is
    // 3 x 2000 + 156 x 2000 / 256 = 7218 ms.
    let mut r = active(100);
    let forged = advert(255, cs(4095));
    let x = Ipv4Addr::new(10, 0, 0, 66);
    assert_eq!(r.receive(t(100), &forged, x), Ok(Received::SteppedDown));
    let mismatch = Action::IntervalMismatch {
        from: x,
        advertised: cs(4095),
        used: cs(200),
    };
    assert_eq!(
        drain(&mut r),
        [
            Action::RoleChanged(Role::Backup),
            Action::RemoveVip(VIP),
            mismatch.clone()
        ]
    );
    assert_eq!(master_down_at(&r), t(100 + 7218));
    // Two more: followed, the timer reset each time, reported once.
    for at in [200, 300] {
        assert_eq!(r.receive(t(at), &forged, x), Ok(Received::Followed));
    }
    assert_eq!(drain(&mut r), []);
    assert_eq!(master_down_at(&r), t(300 + 7218));
    // The forger goes quiet: we are Active again 7.2 s later, not 123 s.
    r.poll(t(300 + 7218));
    assert_eq!(drain(&mut r), becoming_active(100));
    // The same mismatch is reported again after MISMATCH_REPORT_EVERY, and
    // a different one at once.
    let mut b = router(config(100));
    b.startup(t(0));
    b.receive(t(10), &forged, x).unwrap();
    b.receive(t(20), &advert(255, cs(150)), x).unwrap();
    b.receive(t(30), &forged, x).unwrap();
    b.receive(t(30 + 60_000), &forged, x).unwrap();
    b.receive(t(40 + 60_000), &forged, x).unwrap();
    let reported: Vec<_> = drain(&mut b)
        .into_iter()
        .filter_map(|a| match a {
            Action::IntervalMismatch {
                advertised, used, ..
            } => Some((advertised, used)),
            _ => None,
        })
        .collect();
    assert_eq!(
        reported,
        [
            (cs(4095), cs(200)),
            (cs(150), cs(150)),
            (cs(4095), cs(200)),
            (cs(4095), cs(200))
        ]
    );
    // Within the bound the advertised interval is adopted as it is (the
    // learned-interval test above), and our own interval is never reported.
    let mut c = router(config(100));
    c.startup(t(0));
    c.receive(t(10), &advert(255, cs(100)), x).unwrap();
    assert_eq!(drain(&mut c), [Action::RoleChanged(Role::Backup)]);
}

#[test]
fn down_timer_adverts_widens_the_window() {
    // keepalived `down_timer_adverts`: 10 x 100 ms + 60 ms skew at 100 cs/10.
    let mut c = config(100);
    c.interval = cs(10);
    c.down_timer_adverts = 10;
    let mut r = router(c);
    r.startup(t(0));
    assert_eq!(r.master_down_interval(cs(10)), Duration::from_millis(1060));
    assert_eq!(r.poll_timeout(), Some(t(1060)));
}

// ---------------------------------------------------------------------------
// Active (§6.4.3).

#[test]
fn higher_priority_advert_makes_active_step_down() {
    let mut r = active(100);
    assert_eq!(
        r.receive(t(5000), &advert(200, cs(50)), LOWER_IP),
        Ok(Received::SteppedDown)
    );
    // Role first (DHCP silent), then the VIP is released; the other
    // interval is reported for the log (§7.1).
    assert_eq!(
        drain(&mut r),
        [
            Action::RoleChanged(Role::Backup),
            Action::RemoveVip(VIP),
            Action::IntervalMismatch {
                from: LOWER_IP,
                advertised: cs(50),
                used: cs(50)
            }
        ]
    );
    // §6.4.3: the sender's interval, Active_Down_Timer armed.
    let State::Backup(b) = r.state() else {
        panic!()
    };
    assert_eq!(b.active_interval, cs(50));
    assert_eq!(b.master_down_at, t(5000 + 1804));
    assert_eq!(b.active_router, Some(LOWER_IP));
    assert_eq!(r.stats().release_master, 1);
}

#[test]
fn equal_priority_tie_break_by_primary_address() {
    // §6.4.3: equal priority and a greater primary address (unsigned,
    // network byte order) wins.
    let mut r = active(100);
    assert_eq!(
        r.receive(t(5000), &advert(100, cs(100)), HIGHER_IP),
        Ok(Received::SteppedDown)
    );
    let mut r = active(100);
    assert_eq!(
        r.receive(t(5000), &advert(100, cs(100)), LOWER_IP),
        Ok(Received::Asserted)
    );
    // The advert, and the VIP ARPed back from a peer that may have claimed it.
    assert_eq!(
        drain(&mut r),
        [
            Action::SendAdvert { priority: 100 },
            Action::SendGratuitousArp {
                vip: Ipv4Addr::new(10, 0, 0, 254),
                count: 5
            }
        ]
    );
    // Unsigned comparison: 200.0.0.1 > 10.0.0.2 although "negative" as i32.
    let mut r = active(100);
    assert_eq!(
        r.receive(t(5000), &advert(100, cs(100)), Ipv4Addr::new(200, 0, 0, 1)),
        Ok(Received::SteppedDown)
    );
}

#[test]
fn lower_priority_advert_triggers_an_immediate_advert() {
    // §6.4.3, the RFC 9568 change.
    let mut r = active(150);
    let timer = r.poll_timeout();
    assert_eq!(
        r.receive(t(3700), &advert(100, cs(100)), HIGHER_IP),
        Ok(Received::Asserted)
    );
    // A lower-priority router only advertises while it believes it is
    // Active, and then it has ARPed the VIP: take it back at once
    // (keepalived's garp_lower_prio_repeat; without it clients were cut
    // off ~8 s per spurious takeover in the 20 %-loss bench).
    assert_eq!(
        drain(&mut r),
        [
            Action::SendAdvert { priority: 150 },
            Action::SendGratuitousArp {
                vip: Ipv4Addr::new(10, 0, 0, 254),
                count: 5
            }
        ]
    );
    assert_eq!(r.role(), Role::Active);
    assert_eq!(r.poll_timeout(), timer);
    // ... and a second burst after REASSERT_GARP_DELAY (1.1 s), past the
    // claimer's late ARPs and Linux's neighbour locktime.
    let mut garps_at = None;
    for ms in (3700..=4900).step_by(10) {
        r.poll(t(ms));
        if drain(&mut r)
            .iter()
            .any(|a| matches!(a, Action::SendGratuitousArp { .. }))
        {
            garps_at = Some(ms);
            break;
        }
    }
    assert_eq!(garps_at, Some(4800));
}

#[test]
fn priority_zero_to_active_sends_and_resets_the_timer() {
    // §6.4.3.
    let mut r = active(150);
    assert_eq!(
        r.receive(t(3700), &advert(0, cs(100)), HIGHER_IP),
        Ok(Received::Asserted)
    );
    assert_eq!(drain(&mut r), [Action::SendAdvert { priority: 150 }]);
    assert_eq!(r.poll_timeout(), Some(t(4700)));
}

#[test]
fn owner_conflict_is_processed_not_dropped() {
    // Erratum 8298: two owners must still elect one.
    let mut r = active(255);
    assert_eq!(
        r.receive(t(500), &advert(255, cs(100)), HIGHER_IP),
        Ok(Received::SteppedDown)
    );
    assert_eq!(r.role(), Role::Backup);
}

#[test]
fn own_advert_looped_back_is_ignored() {
    let mut r = active(100);
    assert_eq!(
        r.receive(t(500), &advert(100, cs(100)), ME),
        Ok(Received::Own)
    );
    assert_eq!(drain(&mut r), []);
    assert_eq!(r.stats().advert_rcvd, 0);
}

#[test]
fn shutdown_from_active_sends_priority_zero_then_releases() {
    // §6.4.3; design §1: role first, priority 0, then the VIP.
    let mut r = active(100);
    r.shutdown(t(4000));
    assert_eq!(
        drain(&mut r),
        [
            Action::RoleChanged(Role::Initialize),
            Action::SendAdvert { priority: 0 },
            Action::RemoveVip(VIP),
        ]
    );
    assert_eq!(r.state(), &State::Initialize { startup_at: None });
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.stats().pri_zero_sent, 1);
    // Shut down, adverts are not processed.
    assert_eq!(
        r.receive(t(4100), &advert(200, cs(100)), HIGHER_IP),
        Ok(Received::NotRunning)
    );
    // A second shutdown does nothing.
    r.shutdown(t(4200));
    assert_eq!(drain(&mut r), []);
}

#[test]
fn shutdown_from_backup_cancels_the_timer() {
    // §6.4.2.
    let mut r = router(config(100));
    r.startup(t(0));
    drain(&mut r);
    r.shutdown(t(10));
    assert_eq!(drain(&mut r), [Action::RoleChanged(Role::Initialize)]);
    assert_eq!(r.poll_timeout(), None);
    // And starts again.
    r.startup(t(20));
    assert_eq!(drain(&mut r), [Action::RoleChanged(Role::Backup)]);
    assert_eq!(r.poll_timeout(), Some(t(3629)));
}

// ---------------------------------------------------------------------------
// Link and tracking.

#[test]
fn link_down_releases_and_link_up_listens_again() {
    let mut r = active(100);
    r.link(t(5000), false);
    assert_eq!(
        drain(&mut r),
        [
            Action::RoleChanged(Role::Initialize),
            Action::RemoveVip(VIP)
        ]
    );
    // No advertising while down.
    assert_eq!(r.poll_timeout(), None);
    r.poll(t(9000));
    assert_eq!(drain(&mut r), []);
    // Up: a fresh Startup event; a non-owner listens first.
    r.link(t(9000), true);
    assert_eq!(drain(&mut r), [Action::RoleChanged(Role::Backup)]);
    assert_eq!(r.poll_timeout(), Some(t(9000 + 3609)));
}

#[test]
fn startup_with_the_link_down_waits_for_it() {
    // Test checklist 41: the link comes up 3 s after the daemon.
    let mut r = router(config(100));
    r.link(t(0), false);
    r.startup(t(0));
    assert_eq!(drain(&mut r), []);
    assert_eq!(r.poll_timeout(), None);
    r.link(t(3000), true);
    assert_eq!(drain(&mut r), [Action::RoleChanged(Role::Backup)]);
    assert_eq!(r.poll_timeout(), Some(t(6609)));
    // Link down in Backup.
    r.link(t(4000), false);
    assert_eq!(drain(&mut r), [Action::RoleChanged(Role::Initialize)]);
    // Link flaps while not started change nothing.
    let mut r = router(config(100));
    r.link(t(0), false);
    r.link(t(1), true);
    assert_eq!(drain(&mut r), []);
    assert_eq!(r.role(), Role::Initialize);
}

#[test]
fn tracking_weight_lets_a_backup_preempt() {
    // Backup 100 (preempt) behind an Active router at 110; a tracked
    // interface adds 20 -> 120: the next adverts are discarded and the
    // timer set by the last followed one runs out.
    let mut r = router(config(100));
    r.startup(t(0));
    drain(&mut r);
    r.receive(t(1000), &advert(110, cs(100)), HIGHER_IP)
        .unwrap();
    r.set_priority_delta(t(1500), 20);
    assert_eq!(r.priority(), 120);
    assert_eq!(drain(&mut r), []);
    for ms in [2000, 3000, 4000] {
        assert_eq!(
            r.receive(t(ms), &advert(110, cs(100)), HIGHER_IP),
            Ok(Received::Preempting)
        );
    }
    r.poll(t(1000 + 3609));
    assert_eq!(r.role(), Role::Active);
    assert_eq!(drain(&mut r), becoming_active(120));
}

#[test]
fn tracking_weight_on_the_active_router_is_announced_at_once() {
    let mut r = active(110);
    r.set_priority_delta(t(4000), -20);
    assert_eq!(drain(&mut r), [Action::SendAdvert { priority: 90 }]);
    assert_eq!(r.poll_timeout(), Some(t(5000)));
    // Now a 100 beats us.
    assert_eq!(
        r.receive(t(4100), &advert(100, cs(100)), LOWER_IP),
        Ok(Received::SteppedDown)
    );
    // Weights keep a non-owner within 1..=254.
    let mut r = router(config(200));
    r.set_priority_delta(t(0), 200);
    assert_eq!(r.priority(), 254);
    r.set_priority_delta(t(0), -300);
    assert_eq!(r.priority(), 1);
}

// ---------------------------------------------------------------------------
// Gratuitous ARP timers.

#[test]
fn garp_second_burst_and_refresh() {
    let mut c = config(255);
    c.garp.refresh = Duration::from_secs(60);
    c.garp.refresh_repeat = 2;
    let mut r = router(c);
    r.startup(t(0));
    drain(&mut r);
    let burst = |count| Action::SendGratuitousArp {
        vip: VIP.addr,
        count,
    };
    // Adverts each second; the second burst 5 s in.
    let mut seen = Vec::new();
    let mut now = t(0);
    while now < t(121_000) {
        now = r.poll_timeout().unwrap();
        r.poll(now);
        for a in drain(&mut r) {
            if matches!(a, Action::SendGratuitousArp { .. }) {
                seen.push((now, a));
            }
        }
    }
    assert_eq!(
        seen,
        [
            (t(5000), burst(5)),
            (t(60_000), burst(2)),
            (t(120_000), burst(2))
        ]
    );
    // Leaving Active drops the GARP timers with the state.
    r.shutdown(now);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn garp_defaults_are_keepalived_s() {
    let g = Garp::default();
    assert_eq!(g.repeat, 5);
    assert_eq!(g.second_burst, Duration::from_secs(5));
    assert_eq!(g.refresh, Duration::ZERO);
    // No second burst, no ARPs at all.
    let mut c = config(255);
    c.garp.repeat = 0;
    c.garp.second_burst = Duration::ZERO;
    let mut r = router(c);
    r.startup(t(0));
    assert_eq!(
        drain(&mut r),
        [
            Action::SendAdvert { priority: 255 },
            Action::RoleChanged(Role::Active)
        ]
    );
    assert_eq!(r.poll_timeout(), Some(t(1000)));
}

#[test]
fn adver_timer_does_not_burst_after_a_stall() {
    let mut r = active(255);
    // Ten adverts and the second GARP burst were due: one of each.
    r.poll(t(10_500));
    assert_eq!(
        drain(&mut r),
        [
            Action::SendAdvert { priority: 255 },
            Action::SendGratuitousArp {
                vip: VIP.addr,
                count: 5
            }
        ]
    );
    assert_eq!(r.poll_timeout(), Some(t(11_500)));
}

// ---------------------------------------------------------------------------
// Per-instance receive checks.

#[test]
fn instance_checks_are_counted() {
    let mut r = router(config(100));
    r.startup(t(0));
    let mut other_vrid = advert(200, cs(100));
    other_vrid.vrid = 52;
    let v2 = Advert {
        interval: Interval::V2(Secs::new(1).unwrap()),
        ..advert(200, cs(100))
    };
    let mut count = advert(200, cs(100));
    count.addrs.push(Ipv4Addr::new(10, 0, 0, 253));
    let mut list = advert(200, cs(100));
    list.addrs = vec![Ipv4Addr::new(10, 0, 0, 253)];
    for (a, e) in [
        (other_vrid, RxError::VridErr),
        (v2, RxError::VersionErr),
        (count, RxError::AddrListErr),
        (list, RxError::AddrListErr),
    ] {
        assert_eq!(r.receive(t(10), &a, HIGHER_IP), Err(e));
    }
    assert_eq!(r.stats().rx_error(RxError::AddrListErr), 2);
    assert_eq!(r.stats().rx_error(RxError::VridErr), 1);
    assert_eq!(r.stats().advert_rcvd, 4);
    // Nothing reached the state machine.
    assert_eq!(master_down_at(&r), t(3609));
    let names: Vec<_> = r.stats().counters().filter(|(_, n)| *n > 0).collect();
    assert_eq!(
        names,
        [
            ("advert_rcvd", 4),
            ("version_err", 1),
            ("vrid_err", 1),
            ("addr_list_err", 2)
        ]
    );
}

#[test]
fn address_list_order_does_not_matter() {
    let vips = vec![
        VIP,
        Vip {
            addr: Ipv4Addr::new(10, 0, 0, 253),
            prefix_len: 24,
        },
    ];
    let mut r = router(Config::new(51, 100, ME, vips));
    r.startup(t(0));
    let mut a = advert(200, cs(100));
    a.addrs = vec![Ipv4Addr::new(10, 0, 0, 253), VIP.addr];
    assert_eq!(r.receive(t(10), &a, HIGHER_IP), Ok(Received::Followed));
}

#[test]
fn unicast_peers_are_an_allow_list() {
    // Test checklist 36: with an allow-list a forged 255 is dropped.
    let mut c = config(100);
    c.peers = vec![HIGHER_IP];
    let mut r = router(c);
    r.startup(t(0));
    assert_eq!(
        r.receive(t(10), &advert(255, cs(100)), Ipv4Addr::new(10, 0, 0, 66)),
        Err(RxError::SrcNotAllowed)
    );
    assert_eq!(
        r.receive(t(10), &advert(200, cs(100)), HIGHER_IP),
        Ok(Received::Followed)
    );
    assert_eq!(r.stats().rx_error(RxError::SrcNotAllowed), 1);
    // Without one, the RFC applies: an Active router steps down.
    let mut r = active(100);
    assert_eq!(
        r.receive(t(10), &advert(255, cs(100)), Ipv4Addr::new(10, 0, 0, 66)),
        Ok(Received::SteppedDown)
    );
}

#[test]
fn v2_instance_checks_interval_and_authentication() {
    let one = Interval::V2(Secs::new(1).unwrap());
    let mut c = config(100);
    c.interval = one;
    c.auth = Auth::Pass(*b"1111\0\0\0\0");
    let mut r = router(c);
    r.startup(t(0));
    // VRRPv2 skew does not scale with the interval (RFC 3768 §6.1).
    assert_eq!(r.poll_timeout(), Some(t(3609)));
    let ok = Advert {
        interval: one,
        auth: Auth::Pass(*b"1111\0\0\0\0"),
        ..advert(200, cs(100))
    };
    let cases = [
        (
            Advert {
                auth: Auth::None,
                ..ok.clone()
            },
            RxError::AuthtypeMismatch,
        ),
        (
            Advert {
                auth: Auth::Pass(*b"2222\0\0\0\0"),
                ..ok.clone()
            },
            RxError::AuthFailure,
        ),
        (
            Advert {
                interval: Interval::V2(Secs::new(2).unwrap()),
                ..ok.clone()
            },
            RxError::AdvertIntervalErr,
        ),
        (advert(200, cs(100)), RxError::VersionErr),
    ];
    for (a, e) in cases {
        assert_eq!(r.receive(t(10), &a, HIGHER_IP), Err(e));
    }
    assert_eq!(r.receive(t(10), &ok, HIGHER_IP), Ok(Received::Followed));
    assert_eq!(
        r.advert(100),
        Advert {
            priority: 100,
            ..ok
        }
    );

    // Interval 2 s: 3 x 2000 + 609 (not 3 x 2000 + 1218).
    let mut c = config(100);
    c.interval = Interval::V2(Secs::new(2).unwrap());
    let mut r = router(c);
    r.startup(t(0));
    assert_eq!(r.poll_timeout(), Some(t(6609)));
}

#[test]
fn invalid_configs_are_refused() {
    let mut c = config(100);
    c.vrid = 0;
    assert!(Router::new(c).is_err());
    assert!(Router::new(config(0)).is_err());
    let mut c = config(100);
    c.vips.clear();
    assert!(Router::new(c).is_err());
    let mut c = config(100);
    c.down_timer_adverts = 0;
    assert!(Router::new(c).is_err());
    let mut c = config(100);
    c.vips = vec![VIP; 256];
    assert!(Router::new(c).is_err());
}

#[test]
fn advert_carries_the_instance() {
    let r = router(config(100));
    let a = r.advert(100);
    assert_eq!(a, advert(100, cs(100)));
    assert_eq!(r.advert(0).priority, 0);
}

#[test]
fn ttl_64_advert_is_counted_and_changes_nothing() {
    // Test checklist 34: valid, priority 254 > ours, but TTL 64. The driver
    // decodes, counts the rejection on the instance, and never calls
    // `receive`.
    use crate::vrrp::packet::{ChecksumMode, IpHeader, MULTICAST_V4, decode, encode};
    let mut r = router(config(100));
    r.startup(t(0));
    drain(&mut r);
    let bytes = encode(
        &advert(254, cs(100)),
        ChecksumMode::PseudoHeader,
        HIGHER_IP,
        MULTICAST_V4,
    );
    let ip = IpHeader {
        src: HIGHER_IP,
        dst: MULTICAST_V4,
        ttl: 64,
    };
    let e = decode(ip, &bytes).unwrap_err();
    assert_eq!(e, RxError::IpTtlErr);
    r.record_rx_error(e);
    assert_eq!(r.stats().rx_error(RxError::IpTtlErr), 1);
    assert_eq!(master_down_at(&r), t(3609));
    assert_eq!(drain(&mut r), []);
    // With TTL 255 the same bytes are followed.
    let d = decode(IpHeader { ttl: 255, ..ip }, &bytes).unwrap();
    assert_eq!(
        r.receive(t(10), &d.advert, HIGHER_IP),
        Ok(Received::Followed)
    );
}

// ---------------------------------------------------------------------------
// The VIP's kernel lifetime (issue 13 item 6).

fn with_lifetime(priority: u8, secs: u64) -> Config {
    let mut c = config(priority);
    c.vip_lifetime = Duration::from_secs(secs);
    c
}

/// Active since `a(0)` (no advert heard since start-up at t=0).
fn active_with_lifetime(priority: u8, secs: u64) -> Router {
    let mut r = router(with_lifetime(priority, secs));
    r.startup(t(0));
    r.poll(a(0));
    assert_eq!(r.role(), Role::Active);
    drain(&mut r);
    r
}

/// What a lapse emits: the log line, the role first, then the VIP goes.
fn lapsed(ago_ms: u64) -> Vec<Action> {
    vec![
        Action::VipLapsed { ago: ms(ago_ms) },
        Action::RoleChanged(Role::Backup),
        Action::RemoveVip(VIP),
    ]
}

/// The advert and the VIP refresh that share a 1 s tick.
fn advert_and_refresh() -> Vec<Action> {
    vec![
        Action::SendAdvert { priority: 100 },
        Action::RefreshVip(VIP),
    ]
}

/// `ms` after becoming Active at t=3609.
fn a(ms: u64) -> Mono {
    t(3609 + ms)
}

#[test]
fn auto_vip_lifetime_follows_the_down_interval() {
    // down_timer_adverts × interval, whole seconds, at least 2.
    assert_eq!(auto_vip_lifetime(cs(100), 3), Duration::from_secs(3));
    assert_eq!(auto_vip_lifetime(cs(150), 3), Duration::from_secs(5));
    assert_eq!(auto_vip_lifetime(cs(100), 5), Duration::from_secs(5));
    assert_eq!(auto_vip_lifetime(cs(10), 3), Duration::from_secs(2));
    assert_eq!(
        auto_vip_lifetime(Interval::V2(Secs::new(2).unwrap()), 3),
        Duration::from_secs(6)
    );
    assert_eq!(vip_refresh_period(Duration::from_secs(3)), ms(1000));
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn active_refreshes_the_vip_three_times_per_lifetime() {
    // Becoming Active at t=3609 (no advert heard): the VIP goes in.
    let mut r = router(with_lifetime(100, 3));
    r.startup(t(0));
    drain(&mut r);
    r.poll(t(3609));
    assert_eq!(drain(&mut r), becoming_active(100));
    assert_eq!(r.vip_lifetime(), Some(Duration::from_secs(3)));
    // t=4609: the advert and the refresh share the 1 s grid.
    assert_eq!(r.poll_timeout(), Some(t(4609)));
    r.poll(t(4609));
    assert_eq!(drain(&mut r), advert_and_refresh());
    // An hour of it: a refresh every second, never a lapse.
    let mut refreshes = 0;
    while let Some(at) = r.poll_timeout().filter(|at| *at <= t(3_604_609)) {
        r.poll(at);
        for a in drain(&mut r) {
            match a {
                Action::RefreshVip(_) => refreshes += 1,
                Action::SendAdvert { .. } | Action::SendGratuitousArp { .. } => {}
                a => panic!("t={}: {a:?}", at.as_millis()),
            }
        }
    }
    assert_eq!(refreshes, 3600);
    assert_eq!(r.role(), Role::Active);
}

#[test]
fn a_stall_shorter_than_the_lifetime_keeps_the_role() {
    let mut r = active_with_lifetime(100, 3);
    r.poll(a(1000));
    drain(&mut r);
    // Stopped at t=1000 for 2.5 s (< 3 s − margin since the last refresh).
    r.poll(a(3500));
    assert_eq!(drain(&mut r), advert_and_refresh());
    assert_eq!(r.role(), Role::Active);
}

#[test]
fn a_resumed_active_whose_vip_lapsed_steps_down_before_answering() {
    // Active, last refresh at t=1000, then SIGSTOP until t=10000. The
    // kernel removed the VIP at t=4000; a Backup of priority 50 took over.
    // Its adverts are queued: the first thing we see on resuming.
    let mut r = active_with_lifetime(100, 3);
    r.poll(a(1000));
    drain(&mut r);
    let got = r.receive(a(10_000), &advert(50, cs(100)), LOWER_IP);
    // No advert and no ARP for an address we no longer hold: the role is
    // published first, the VIP removed, and we listen as after Startup
    // (RFC 9568 §6.4.1). The lower priority is then preempted (§6.4.2).
    assert_eq!(drain(&mut r), lapsed(6250));
    assert_eq!(got, Ok(Received::Preempting));
    let down = master_down_at(&r);
    assert_eq!(down, a(10_000) + r.master_down_interval(cs(100)));
    r.poll(down);
    assert_eq!(drain(&mut r), becoming_active(100));

    // A higher-priority Active router found on resuming is followed
    // (§6.4.2), as §6.4.3 has a live Active router step down for it.
    let mut r = active_with_lifetime(100, 3);
    let got = r.receive(a(9_000), &advert(150, cs(100)), HIGHER_IP);
    assert_eq!(got, Ok(Received::Followed));
    assert_eq!(r.role(), Role::Backup);
    let acts = drain(&mut r);
    assert!(acts.contains(&Action::RemoveVip(VIP)), "{acts:?}");
    assert!(!acts.iter().any(|a| matches!(
        a,
        Action::SendAdvert { .. } | Action::SendGratuitousArp { .. }
    )));

    // Resuming into silence (the other box is gone too): the timer, not
    // an advert, finds the lapse; we take the role back after listening.
    let mut r = active_with_lifetime(100, 3);
    r.poll(a(7_000));
    assert_eq!(drain(&mut r), lapsed(4250));
    r.poll(master_down_at(&r));
    assert_eq!(drain(&mut r), becoming_active(100));
}

#[test]
fn a_failed_refresh_is_retried_and_a_lifetime_of_failures_gives_the_role_up() {
    let mut r = active_with_lifetime(100, 3);
    // The refresh at t=1000 fails: tried again 200 ms later, and the
    // deadline stays the one of the install at t=0 (2750).
    r.poll(a(1000));
    drain(&mut r);
    r.vip_refresh_failed(a(1000));
    assert_eq!(r.poll_timeout(), Some(a(1200)));
    r.poll(a(1200));
    assert_eq!(drain(&mut r), vec![Action::RefreshVip(VIP)]);
    // This one works: the next is a period later, the deadline 3950.
    assert_eq!(r.poll_timeout(), Some(a(2000)));
    r.poll(a(2000));
    assert_eq!(drain(&mut r), vec![Action::SendAdvert { priority: 100 }]);
    // From now on every refresh fails: retried every 200 ms until the
    // kernel's lifetime of the refresh at 1200 is over.
    let mut retries = 0;
    loop {
        let at = r.poll_timeout().unwrap();
        r.poll(at);
        let acts = drain(&mut r);
        if acts.contains(&Action::RoleChanged(Role::Backup)) {
            assert_eq!(at, a(3950));
            assert_eq!(acts[0], Action::VipLapsed { ago: ms(0) });
            assert!(acts.contains(&Action::RemoveVip(VIP)));
            break;
        }
        if acts.contains(&Action::RefreshVip(VIP)) {
            retries += 1;
            r.vip_refresh_failed(at);
        }
    }
    assert_eq!(retries, 9); // 2200, 2400, ..., 3800
}

#[test]
fn the_owner_never_gets_a_lifetime() {
    // Issue 17 item 6: the owner's addresses are the system's; a lifetime
    // would have the kernel delete the box's own address.
    let mut r = router(with_lifetime(PRIORITY_OWNER, 3));
    r.startup(t(0));
    assert_eq!(drain(&mut r), becoming_active(PRIORITY_OWNER));
    assert_eq!(r.vip_lifetime(), None);
    for s in 1..=60 {
        r.poll(t(s * 1000));
        for a in drain(&mut r) {
            assert!(
                matches!(
                    a,
                    Action::SendAdvert { .. } | Action::SendGratuitousArp { .. }
                ),
                "{a:?}"
            );
        }
    }
    // Nor is a stall a lapse for it.
    r.poll(t(600_000));
    assert_eq!(r.role(), Role::Active);
}

#[test]
fn without_a_lifetime_nothing_is_refreshed_and_nothing_lapses() {
    let mut r = active(100);
    r.poll(t(600_000));
    for a in drain(&mut r) {
        assert!(
            matches!(
                a,
                Action::SendAdvert { .. } | Action::SendGratuitousArp { .. }
            ),
            "{a:?}"
        );
    }
    assert_eq!(r.role(), Role::Active);
}

#[test]
fn graceful_stop_with_a_lifetime_still_removes_the_vip_at_once() {
    let mut r = active_with_lifetime(100, 3);
    r.shutdown(a(500));
    assert_eq!(
        drain(&mut r),
        vec![
            Action::RoleChanged(Role::Initialize),
            Action::SendAdvert { priority: 0 },
            Action::RemoveVip(VIP),
        ]
    );
}

// ---------------------------------------------------------------------------
// Sync-aware preemption (issue 13 item 4): a box behind its peer does not
// preempt. Us: priority 150 (ME .2), started at t=0; the peer: Active at
// priority 100 (LOWER_IP .1), one advert a second.

fn synced(priority: u8, wait_s: u64) -> Router {
    let mut c = config(priority);
    c.sync_wait = Some(Duration::from_secs(wait_s));
    router(c)
}

const BEHIND: PeerSync = PeerSync {
    connected: true,
    caught_up: false,
};
const IN_SYNC: PeerSync = PeerSync {
    connected: true,
    caught_up: true,
};
const UNREACHABLE: PeerSync = PeerSync {
    connected: false,
    caught_up: false,
};

/// Adverts from the peer at priority `prio` every second from `from_s` to
/// `to_s` (inclusive), polling timers in between; returns when we became
/// Active (ms), if we did.
fn peer_adverts(r: &mut Router, prio: u8, from_s: u64, to_s: u64) -> Option<u64> {
    for s in from_s..=to_s {
        let at = t(s * 1000);
        while let Some(due) = r.poll_timeout().filter(|d| *d <= at) {
            r.poll(due);
            if r.role() == Role::Active {
                return Some(due.as_millis());
            }
        }
        if r.role() == Role::Active {
            return Some(at.as_millis());
        }
        r.receive(at, &advert(prio, cs(100)), LOWER_IP).unwrap();
        drain(r);
    }
    None
}

#[test]
fn a_box_behind_a_reachable_peer_stays_backup_until_caught_up_then_preempts() {
    let mut r = synced(150, 10);
    r.set_peer_sync(t(0), BEHIND);
    r.startup(t(0));
    assert_eq!(drain(&mut r), vec![Action::RoleChanged(Role::Backup)]);
    // The peer's adverts from t=0.5 s: catch-up of a big store takes a
    // minute; well past sync-wait, we still follow the lower priority.
    let got = r.receive(t(500), &advert(100, cs(100)), LOWER_IP);
    assert_eq!(got, Ok(Received::HeldForSync));
    assert!(r.preemption_held(t(500)));
    assert_eq!(peer_adverts(&mut r, 100, 1, 60), None);
    assert_eq!(r.role(), Role::Backup);
    // t=60.2 s: caught up. The next lower advert is discarded (§6.4.2,
    // Preempt_Mode) and the Active_Down_Timer runs out: Active at
    // 60 s + Active_Down_Interval (3 s + Skew_Time 414 ms for 150).
    r.set_peer_sync(t(60_200), IN_SYNC);
    assert!(!r.preemption_held(t(60_200)));
    let got = r.receive(t(61_000), &advert(100, cs(100)), LOWER_IP);
    assert_eq!(got, Ok(Received::Preempting));
    assert_eq!(peer_adverts(&mut r, 100, 62, 70), Some(63_414));
}

#[test]
fn an_unreachable_peer_holds_preemption_only_for_sync_wait() {
    // The pair link never comes up (the peer's ha port blocked, say), but
    // its VRRP adverts arrive: we preempt once sync-wait (10 s) is over.
    let mut r = synced(150, 10);
    r.set_peer_sync(t(0), UNREACHABLE);
    r.startup(t(0));
    drain(&mut r);
    assert!(r.preemption_held(t(9_999)));
    assert!(!r.preemption_held(t(10_000)));
    // Followed up to the advert at 9 s, discarded from 10 s on: the
    // timer reset at 9 s runs out at 9 s + 3.414 s.
    assert_eq!(peer_adverts(&mut r, 100, 1, 30), Some(12_414));

    // A link that was up and dropped while we were behind (a freeze, a
    // cut): held for sync-wait from the loss, so the link can come back
    // and catch up first; then not held.
    let mut r = synced(150, 10);
    r.startup(t(0));
    r.set_peer_sync(t(1_000), BEHIND);
    assert!(r.preemption_held(t(20_000)));
    r.set_peer_sync(t(20_000), UNREACHABLE);
    assert!(r.preemption_held(t(29_999)));
    assert!(!r.preemption_held(t(30_000)));
    // Back and caught up within the window: not held at once.
    r.set_peer_sync(t(22_000), IN_SYNC);
    assert!(!r.preemption_held(t(22_000)));
}

#[test]
fn silence_is_never_held() {
    // Behind a reachable peer, but nobody is Active: the Active_Down_Timer
    // is availability, not preemption (RFC 9568 §6.4.2).
    let mut r = synced(150, 10);
    r.set_peer_sync(t(0), BEHIND);
    r.startup(t(0));
    drain(&mut r);
    r.poll(t(3414));
    assert_eq!(drain(&mut r), becoming_active(150));
}

#[test]
fn non_preempting_paths_are_unchanged_by_the_sync_state() {
    // nopreempt, in sync: still follows a lower priority (§6.4.2).
    let mut c = config(150);
    c.sync_wait = Some(Duration::from_secs(10));
    c.preempt = false;
    let mut r = router(c);
    r.set_peer_sync(t(0), IN_SYNC);
    r.startup(t(0));
    drain(&mut r);
    assert_eq!(
        r.receive(t(500), &advert(100, cs(100)), LOWER_IP),
        Ok(Received::Followed)
    );
    assert_eq!(peer_adverts(&mut r, 100, 1, 30), None);
    // A lower priority than the Active router's: followed, behind or not.
    let mut r = synced(50, 10);
    r.set_peer_sync(t(0), BEHIND);
    r.startup(t(0));
    drain(&mut r);
    assert_eq!(
        r.receive(t(500), &advert(100, cs(100)), LOWER_IP),
        Ok(Received::Followed)
    );
    assert_eq!(peer_adverts(&mut r, 100, 1, 30), None);
    // No pair link configured (sync_wait None): today's preemption
    // however the (unfed) sync state looks: every lower advert discarded,
    // so the timer armed at start-up runs out at 3.414 s.
    let mut r = router(config(150));
    r.set_peer_sync(t(0), BEHIND);
    r.startup(t(0));
    drain(&mut r);
    assert!(!r.preemption_held(t(0)));
    assert_eq!(
        r.receive(t(500), &advert(100, cs(100)), LOWER_IP),
        Ok(Received::Preempting)
    );
    assert_eq!(peer_adverts(&mut r, 100, 1, 30), Some(3_414));
}
