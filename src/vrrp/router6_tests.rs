//! Timeline tests of the state machine for an IPv6 virtual router (RFC 9568
//! §6 over IPv6, §5.2.9, §7.3): the same core as IPv4, with link-local
//! primary addresses deciding the equal-priority tie-break (§6.4.3).

use std::net::Ipv6Addr;
use std::time::Duration;

use super::*;
use crate::vrrp::packet::Secs;

const ME: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x2);
const LOWER_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x1);
const HIGHER_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x3);
/// The virtual link-local address first (RFC 9568 §5.2.9), then a global.
const VLL: Vip<Ipv6Addr> = Vip {
    addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x1),
    prefix_len: 64,
};
const GLOBAL: Vip<Ipv6Addr> = Vip {
    addr: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1),
    prefix_len: 64,
};

fn t(ms: u64) -> Mono {
    Mono(ms)
}

fn router(priority: u8) -> Router<Ipv6Addr> {
    Router::new(Config::new(51, priority, ME, vec![VLL, GLOBAL])).unwrap()
}

fn drain(r: &mut Router<Ipv6Addr>) -> Vec<Action<Ipv6Addr>> {
    std::iter::from_fn(|| r.poll_action()).collect()
}

fn advert(priority: u8) -> Advert<Ipv6Addr> {
    Advert {
        vrid: 51,
        priority,
        interval: Interval::V3(Centis::DEFAULT),
        auth: Auth::None,
        addrs: vec![VLL.addr, GLOBAL.addr],
    }
}

fn becoming_active(priority: u8) -> Vec<Action<Ipv6Addr>> {
    vec![
        Action::SendAdvert { priority },
        Action::AddVip(VLL),
        Action::AddVip(GLOBAL),
        // RFC 9568 §6.4.2: an unsolicited NA per IPv6 address.
        Action::SendGratuitousArp {
            vip: VLL.addr,
            count: 5,
        },
        Action::SendGratuitousArp {
            vip: GLOBAL.addr,
            count: 5,
        },
        Action::RoleChanged(Role::Active),
    ]
}

fn active(priority: u8) -> Router<Ipv6Addr> {
    let mut r = router(priority);
    r.startup(t(0));
    let at = r.poll_timeout().unwrap();
    r.poll(at);
    assert_eq!(r.role(), Role::Active);
    drain(&mut r);
    r
}

#[test]
fn startup_then_take_over_from_silence() {
    let mut r = router(100);
    // RFC 9568 §6.4.1: Startup -> Backup, Active_Down_Timer armed.
    r.startup(t(0));
    assert_eq!(drain(&mut r), [Action::RoleChanged(Role::Backup)]);
    // Active_Down_Interval = 3 x 1000 + (256-100) x 1000 / 256 = 3609 ms.
    assert_eq!(r.poll_timeout(), Some(t(3609)));
    r.poll(t(3608));
    assert_eq!(drain(&mut r), []);
    // §6.4.2: the timer fires with nobody heard: Active, advert first,
    // both addresses, an NA burst each, the role last.
    r.poll(t(3609));
    assert_eq!(drain(&mut r), becoming_active(100));
    // The advert lists the link-local address first (§5.2.9).
    assert_eq!(r.advert(100).addrs, [VLL.addr, GLOBAL.addr]);
    assert_eq!(r.advert(100).version(), 3);
    // Adver_Timer (§6.4.3).
    r.poll(t(4609));
    assert_eq!(drain(&mut r), [Action::SendAdvert { priority: 100 }]);
}

#[test]
fn a_backup_follows_a_higher_active_and_preempts_a_lower_one() {
    let mut r = router(100);
    r.startup(t(0));
    drain(&mut r);
    // §6.4.2: a higher priority is followed; the timer restarts.
    assert_eq!(
        r.receive(t(1000), &advert(200), HIGHER_LL),
        Ok(Received::Followed)
    );
    assert_eq!(r.poll_timeout(), Some(t(4609)));
    // A lower priority with Preempt_Mode: discarded, we take over when the
    // timer runs out.
    let mut r = router(150);
    r.startup(t(0));
    drain(&mut r);
    assert_eq!(
        r.receive(t(1000), &advert(100), HIGHER_LL),
        Ok(Received::Preempting)
    );
    r.poll(r.poll_timeout().unwrap());
    assert_eq!(drain(&mut r), becoming_active(150));
}

#[test]
fn equal_priority_is_decided_by_the_link_local_source() {
    // §6.4.3: the same priority and a greater primary address wins; for
    // IPv6 the primary is the sender's link-local address.
    let mut r = active(100);
    assert_eq!(
        r.receive(t(10), &advert(100), LOWER_LL),
        Ok(Received::Asserted)
    );
    assert_eq!(drain(&mut r)[0], Action::SendAdvert { priority: 100 });
    assert_eq!(r.role(), Role::Active);
    assert_eq!(
        r.receive(t(20), &advert(100), HIGHER_LL),
        Ok(Received::SteppedDown)
    );
    assert_eq!(
        drain(&mut r),
        [
            Action::RoleChanged(Role::Backup),
            Action::RemoveVip(VLL),
            Action::RemoveVip(GLOBAL),
        ]
    );
    match r.state() {
        State::Backup(b) => assert_eq!(b.active_router, Some(HIGHER_LL)),
        s => panic!("not Backup: {s:?}"),
    }
    // Our own advert, looped back, is ignored.
    assert_eq!(r.receive(t(30), &advert(100), ME), Ok(Received::Own));
}

#[test]
fn priority_zero_steps_down_and_a_backup_takes_over_after_skew_time() {
    // The Active side: shutdown sends priority 0 and releases the VIPs,
    // the role first (design §1).
    let mut r = active(100);
    r.shutdown(t(100));
    assert_eq!(
        drain(&mut r),
        [
            Action::RoleChanged(Role::Initialize),
            Action::SendAdvert { priority: 0 },
            Action::RemoveVip(VLL),
            Action::RemoveVip(GLOBAL),
        ]
    );
    // The Backup side: priority 0 from the Active router it follows means
    // Active_Down_Timer = Skew_Time (§6.4.2): (256-100) x 1000 / 256 ms.
    let mut b = router(100);
    b.startup(t(0));
    b.receive(t(500), &advert(200), HIGHER_LL).unwrap();
    drain(&mut b);
    assert_eq!(
        b.receive(t(1000), &advert(0), HIGHER_LL),
        Ok(Received::ActiveLeaving)
    );
    assert_eq!(b.poll_timeout(), Some(t(1000) + Duration::from_millis(609)));
    // A priority 0 from another link-local is a stray (test checklist 37).
    let mut c = router(100);
    c.startup(t(0));
    c.receive(t(500), &advert(200), HIGHER_LL).unwrap();
    assert_eq!(
        c.receive(t(600), &advert(0), LOWER_LL),
        Ok(Received::StrayPriorityZero)
    );
}

#[test]
fn an_ipv6_router_refuses_vrrpv2() {
    let mut c = Config::new(51, 100, ME, vec![VLL]);
    c.interval = Interval::V2(Secs::DEFAULT);
    assert!(Router::new(c).is_err());
    // And an advert whose address list differs is counted, not followed.
    let mut r = router(100);
    r.startup(t(0));
    let mut a = advert(200);
    a.addrs.reverse();
    a.addrs.pop();
    assert_eq!(r.receive(t(10), &a, HIGHER_LL), Err(RxError::AddrListErr));
    assert_eq!(r.stats().rx_error(RxError::AddrListErr), 1);
}
