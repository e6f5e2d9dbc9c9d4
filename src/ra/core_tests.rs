//! Timeline tests on virtual time: each rule of the table in `core.rs`.

use super::*;
use crate::ra::packet::tests::{ll, sample};
use crate::ra::packet::{ALL_NODES, TYPE_RS, decode_ra};

const MIN: Duration = Duration::from_secs(200);
const MAX: Duration = Duration::from_secs(600);

/// The advertisement of the codec's known-answer test (one /64 prefix).
fn ra() -> Ra {
    sample()
}

fn sched(seed: u64) -> Scheduler {
    let timing = Timing {
        min_interval: MIN,
        max_interval: MAX,
    };
    Scheduler::new(timing, ra(), ll(1), seed)
}

fn t(ms: u64) -> Mono {
    Mono(ms)
}

/// A valid RS (RFC 4861 §4.1) without options.
fn rs() -> Vec<u8> {
    vec![TYPE_RS, 0, 0, 0, 0, 0, 0, 0]
}

/// Runs the scheduler from its deadlines up to `until`, returning every
/// RA sent with its time.
fn run(s: &mut Scheduler, until: Mono) -> Vec<(Mono, Transmit)> {
    let mut sent = Vec::new();
    while let Some(at) = s.poll_timeout() {
        if at > until {
            break;
        }
        s.handle_timeout(at);
        while let Some(tx) = s.poll_transmit() {
            sent.push((at, tx));
        }
    }
    sent
}

fn multicast_times(sent: &[(Mono, Transmit)]) -> Vec<u64> {
    sent.iter()
        .filter(|(_, tx)| tx.dst == ALL_NODES)
        .map(|(at, _)| at.0)
        .collect()
}

#[test]
fn silent_until_the_gate_opens() {
    let mut s = sched(1);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.handle_rs(t(0), ll(5), 255, &rs()), Ok(RsOutcome::Silent));
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(t(10_000_000));
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn opening_sends_one_at_once_then_the_initial_burst_at_most_16s_apart() {
    for seed in 1..200 {
        let mut s = sched(seed);
        s.set_role(t(1000), Role::Standalone);
        let sent = run(&mut s, t(4_000_000));
        let times = multicast_times(&sent);
        assert_eq!(times[0], 1000, "the first RA goes at once");
        assert_eq!(sent[0].1.src, ll(1));
        let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        // RFC 4861 §6.2.4: the first 3 no more than 16 s apart.
        assert!(
            gaps[0] <= 16_000 && gaps[1] <= 16_000,
            "seed {seed}: {gaps:?}"
        );
        // After that, [Min, Max].
        for g in &gaps[2..] {
            assert!((200_000..=600_000).contains(g), "seed {seed}: {gaps:?}");
        }
    }
}

#[test]
fn unsolicited_intervals_are_uniform_over_min_to_max() {
    let mut s = sched(7);
    s.set_role(t(0), Role::Standalone);
    let times = multicast_times(&run(&mut s, t(400_000_000)));
    let gaps: Vec<u64> = times.windows(2).skip(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.len() > 500);
    let (lo, hi) = (MIN.as_millis() as u64, MAX.as_millis() as u64);
    assert!(gaps.iter().all(|g| (lo..=hi).contains(g)));
    // Uniform: each quarter of the range gets a fair share.
    let quarter = (hi - lo) / 4;
    for q in 0..4 {
        let n = gaps
            .iter()
            .filter(|&&g| g >= lo + q * quarter && g < lo + (q + 1) * quarter)
            .count();
        assert!(n * 8 > gaps.len(), "quarter {q}: {n} of {}", gaps.len());
    }
}

#[test]
fn a_unicast_rs_is_answered_to_its_source_after_a_random_delay_up_to_half_a_second() {
    let mut delays = Vec::new();
    for seed in 1..100 {
        let mut s = sched(seed);
        s.set_role(t(0), Role::Standalone);
        run(&mut s, t(100_000)); // past the burst start
        let now = t(100_000);
        assert_eq!(
            s.handle_rs(now, ll(5), 255, &rs()),
            Ok(RsOutcome::Scheduled)
        );
        // A repeat while the answer waits adds nothing.
        assert_eq!(
            s.handle_rs(now, ll(5), 255, &rs()),
            Ok(RsOutcome::AlreadyScheduled)
        );
        let sent = run(&mut s, now + Duration::from_millis(500));
        let answers: Vec<_> = sent.iter().filter(|(_, tx)| tx.dst == ll(5)).collect();
        assert_eq!(answers.len(), 1, "seed {seed}");
        delays.push(answers[0].0.0 - now.0);
    }
    // RFC 4861 §6.2.6: random in 0..=MAX_RA_DELAY_TIME, not a constant.
    assert!(delays.iter().all(|&d| d <= 500));
    assert!(delays.iter().any(|&d| d < 250) && delays.iter().any(|&d| d >= 250));
}

#[test]
fn an_invalid_rs_is_refused_with_its_reason() {
    let mut s = sched(1);
    s.set_role(t(0), Role::Standalone);
    assert_eq!(s.handle_rs(t(0), ll(5), 64, &rs()), Err(NdError::HopLimit));
}

#[test]
fn multicast_answers_keep_three_seconds_apart() {
    for seed in 1..100 {
        let mut s = sched(seed);
        s.set_role(t(0), Role::Standalone);
        let first = run(&mut s, t(0));
        assert_eq!(multicast_times(&first), vec![0]);
        // An RS from the unspecified address 1 s after the multicast RA:
        // its answer waits until 3 s after it (+ 0..0.5 s), §6.2.6.
        let now = t(1000);
        let out = s.handle_rs(now, Ipv6Addr::UNSPECIFIED, 255, &rs());
        let sent = run(&mut s, t(3_600));
        let times = multicast_times(&sent);
        match out {
            Ok(RsOutcome::Scheduled) => {
                assert_eq!(times.len(), 1, "seed {seed}");
                assert!((3000..=3500).contains(&times[0]), "seed {seed}: {times:?}");
            }
            // The initial burst's next RA was due earlier anyway.
            Ok(RsOutcome::AlreadyScheduled) => assert!(times.iter().all(|&x| x >= 3000)),
            other => panic!("seed {seed}: {other:?}"),
        }
    }
}

#[test]
fn an_rs_is_not_answered_twice_by_multicast() {
    let mut s = sched(3);
    s.set_role(t(0), Role::Standalone);
    run(&mut s, t(100_000));
    let now = t(100_000);
    // The unsolicited RA is now 200..600 s away; an RS schedules one
    // answer, a second RS before it goes finds it scheduled.
    assert_eq!(
        s.handle_rs(now, Ipv6Addr::UNSPECIFIED, 255, &rs()),
        Ok(RsOutcome::Scheduled)
    );
    assert_eq!(
        s.handle_rs(
            now + Duration::from_millis(600),
            Ipv6Addr::UNSPECIFIED,
            255,
            &rs()
        ),
        Ok(RsOutcome::AlreadyScheduled)
    );
    let sent = run(&mut s, now + Duration::from_secs(1));
    assert_eq!(multicast_times(&sent).len(), 1);
}

#[test]
fn a_solicited_multicast_ra_resets_the_unsolicited_timer() {
    let mut s = sched(11);
    s.set_role(t(0), Role::Standalone);
    run(&mut s, t(100_000));
    let now = t(100_000);
    s.handle_rs(now, Ipv6Addr::UNSPECIFIED, 255, &rs()).unwrap();
    let sent = run(&mut s, now + Duration::from_secs(1));
    let answered = multicast_times(&sent)[0];
    // §6.2.4: the next unsolicited RA is [Min, Max] after the answer.
    let next = s.poll_timeout().unwrap().0;
    assert!((answered + 200_000..=answered + 600_000).contains(&next));
}

#[test]
fn a_backup_sends_nothing_not_even_to_an_rs() {
    let mut s = sched(5);
    s.set_role(t(0), Role::Active);
    run(&mut s, t(50_000));
    // An answer is pending when the role goes Backup: it is dropped.
    s.handle_rs(t(50_000), ll(5), 255, &rs()).unwrap();
    s.set_role(t(50_001), Role::Backup);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(
        s.handle_rs(t(60_000), ll(6), 255, &rs()),
        Ok(RsOutcome::Silent)
    );
    assert_eq!(
        s.handle_rs(t(60_000), Ipv6Addr::UNSPECIFIED, 255, &rs()),
        Ok(RsOutcome::Silent)
    );
    s.handle_timeout(t(10_000_000));
    assert_eq!(s.poll_transmit(), None);
    // Initialize (VRRP starting or stopped) is as silent.
    s.set_role(t(10_000_001), Role::Initialize);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn becoming_active_sends_at_once_and_restarts_the_initial_burst() {
    let mut s = sched(9);
    s.set_role(t(0), Role::Active);
    run(&mut s, t(5_000_000));
    s.set_role(t(5_000_000), Role::Backup);
    s.set_role(t(6_000_000), Role::Active);
    let sent = run(&mut s, t(7_000_000));
    let times = multicast_times(&sent);
    assert_eq!(times[0], 6_000_000);
    assert!(times[1] - times[0] <= 16_000 && times[2] - times[1] <= 16_000);
}

#[test]
fn stepping_down_sends_no_final_ra() {
    let mut s = sched(9);
    s.set_role(t(0), Role::Active);
    run(&mut s, t(1000));
    s.set_role(t(1000), Role::Backup);
    assert_eq!(s.poll_transmit(), None);
    // Shutdown of an Active box: VRRP hands over, the RA stays silent.
    let mut s = sched(9);
    s.set_role(t(0), Role::Active);
    run(&mut s, t(1000));
    s.stop(t(1000));
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn stopping_without_vrrp_sends_one_final_ra_with_lifetime_zero() {
    let mut s = sched(9);
    s.set_role(t(0), Role::Standalone);
    run(&mut s, t(1000));
    s.stop(t(1000));
    let tx = s.poll_transmit().expect("a final RA (RFC 4861 §6.2.5)");
    assert_eq!(tx.dst, ALL_NODES);
    let ra = decode_ra(tx.src, 255, &tx.payload).unwrap();
    assert_eq!(ra.router_lifetime, 0);
    assert_eq!(ra.prefixes, self::ra().prefixes);
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn a_flood_of_solicitations_is_bounded() {
    let mut s = sched(2);
    s.set_role(t(0), Role::Standalone);
    run(&mut s, t(100_000));
    let mut full = 0;
    for i in 0..(MAX_PENDING_UNICAST as u16 + 10) {
        if s.handle_rs(t(100_000), ll(100 + i), 255, &rs()) == Ok(RsOutcome::QueueFull) {
            full += 1;
        }
    }
    assert_eq!(full, 10);
    let sent = run(&mut s, t(100_500));
    assert_eq!(sent.len(), MAX_PENDING_UNICAST);
}

#[test]
fn another_router_with_our_prefix_is_reported_once() {
    let mut s = sched(2);
    s.set_role(t(0), Role::Standalone);
    let theirs = super::super::packet::encode_ra(&ra());
    s.handle_ra(t(1), ll(9), 255, &theirs).unwrap();
    s.handle_ra(t(2), ll(9), 255, &theirs).unwrap();
    assert_eq!(
        s.poll_event(),
        Some(Event::OtherRouter {
            router: ll(9),
            prefix: "2001:db8:1::".parse().unwrap(),
            len: 64
        })
    );
    assert_eq!(s.poll_event(), None);
    // Our own RA, looped back, is no other router.
    s.handle_ra(t(3), ll(1), 255, &theirs).unwrap();
    assert_eq!(s.poll_event(), None);
    // A different prefix is not ours to complain about.
    let mut other = ra();
    other.prefixes[0].prefix = "2001:db8:2::".parse().unwrap();
    let other = super::super::packet::encode_ra(&other);
    s.handle_ra(t(4), ll(10), 255, &other).unwrap();
    assert_eq!(s.poll_event(), None);
}
