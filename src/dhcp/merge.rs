//! What a box does with a lease change from its peer (design §9, issue 13
//! item 5): a pure decision per address that both boxes reach alike, so
//! their stores converge after any partition, and that never lets one
//! address stay bound to two clients. Conflicts are counted and logged
//! by the caller; they never stop service (Kea HA's `terminated` state is
//! what this avoids).
//!
//! The rules, for the lease `mine` this box holds at the address and the
//! peer's `theirs`:
//!
//! | mine | theirs | result |
//! |---|---|---|
//! | none, or expired | any upsert | take theirs |
//! | the same client | upsert | keep the later expiry (a renewal on either box holds; a release on one box while the other renewed leaves the address reserved until the later end: wasteful, never a duplicate) |
//! | another client, active | expired | keep mine |
//! | another client, active | active | **conflict**: the lower hardware address (then client identifier) wins |
//! | active | removal | keep mine (the peer removes only what it no longer binds; an active binding here is newer knowledge) |
//! | none, or expired | removal | remove |
//!
//! Before the table: a client has one binding per box. When the peer's
//! lease is for a client that holds another address here, live and ending
//! no earlier than theirs, ours is the newer knowledge (the client moved,
//! e.g. to the other range during a failover): theirs is not taken, or it
//! would move the client back to an address it no longer uses ([`stale`];
//! found by the pair simulation).
//!
//! Why the conflict rule looks at the clients only, not at which binding
//! is newer: each box rebuilds the peer's expiry from a remaining
//! lifetime on its own clock, a second or two apart, so any comparison of
//! times has a boundary where the two boxes could decide differently and
//! their stores would stay apart. Both clients hold the address on the
//! wire anyway; one must lose, and both boxes must agree which.

use crate::clock::UnixTime;
use crate::dhcp::binding::Lease;

/// The decision for one address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Store the peer's lease (or removal).
    Take,
    /// Keep ours; nothing to store.
    Keep,
    /// Two clients claimed the address; `take` says whether the peer's
    /// lease won. The loser is NAKed at its next renewal.
    Conflict { take: bool },
}

fn active(l: &Lease, now: UnixTime) -> bool {
    l.is_active(now)
}

/// Infinite (0) sorts last.
fn end(l: &Lease) -> u64 {
    if l.expires.0 == 0 {
        u64::MAX
    } else {
        l.expires.0
    }
}

/// The peer's upsert `theirs` against our `mine` at the same address.
pub fn upsert(mine: Option<&Lease>, theirs: &Lease, now: UnixTime) -> Merge {
    let Some(mine) = mine.filter(|m| active(m, now)) else {
        return Merge::Take;
    };
    if mine.key() == theirs.key() {
        return if end(theirs) > end(mine) || *theirs == *mine {
            Merge::Take
        } else {
            Merge::Keep
        };
    }
    if !active(theirs, now) {
        return Merge::Keep;
    }
    // Both boxes see the same two clients, whatever their clocks say.
    Merge::Conflict {
        take: (theirs.hw, &theirs.client_id) < (mine.hw, &mine.client_id),
    }
}

/// Whether the peer's `theirs` is older than the binding `elsewhere` this
/// box holds for the same client at another address (see the module doc):
/// then nothing is taken.
pub fn stale(elsewhere: Option<&Lease>, theirs: &Lease, now: UnixTime) -> bool {
    elsewhere.is_some_and(|e| e.ip != theirs.ip && active(e, now) && end(e) >= end(theirs))
}

/// The peer's removal of the address we hold as `mine`.
pub fn remove(mine: Option<&Lease>, now: UnixTime) -> Merge {
    match mine {
        Some(m) if active(m, now) => Merge::Keep,
        _ => Merge::Take,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::binding::HwAddr;
    use std::net::Ipv4Addr;

    const NOW: UnixTime = UnixTime(1_000_000);

    fn l(mac: u8, expires: u64) -> Lease {
        Lease {
            ip: Ipv4Addr::new(192, 168, 1, 50),
            hw: HwAddr::ether([2, 0, 0, 0, 0, mac]),
            client_id: None,
            hostname: None,
            expires: UnixTime(expires),
        }
    }

    #[test]
    fn the_table() {
        let t = NOW.0;
        // Nothing, or an expired binding, here: take theirs.
        assert_eq!(upsert(None, &l(1, t + 60), NOW), Merge::Take);
        assert_eq!(upsert(Some(&l(2, t - 1)), &l(1, t + 60), NOW), Merge::Take);
        // The same client: the later end holds.
        assert_eq!(upsert(Some(&l(1, t + 60)), &l(1, t + 90), NOW), Merge::Take);
        assert_eq!(upsert(Some(&l(1, t + 90)), &l(1, t + 60), NOW), Merge::Keep);
        assert_eq!(upsert(Some(&l(1, t + 90)), &l(1, t - 5), NOW), Merge::Keep);
        assert_eq!(upsert(Some(&l(1, t + 60)), &l(1, 0), NOW), Merge::Take);
        // Another client, and theirs already ended: keep ours.
        assert_eq!(upsert(Some(&l(2, t + 60)), &l(1, t - 5), NOW), Merge::Keep);
        // Two live claims: the lower hardware address wins.
        assert_eq!(
            upsert(Some(&l(2, t + 60)), &l(1, t + 600), NOW),
            Merge::Conflict { take: true }
        );
        assert_eq!(
            upsert(Some(&l(1, t + 60)), &l(2, t + 600), NOW),
            Merge::Conflict { take: false }
        );
        // The client lives at another address here, newer: not taken.
        let mut moved = l(1, t + 120);
        moved.ip = Ipv4Addr::new(192, 168, 1, 150);
        assert!(stale(Some(&moved), &l(1, t - 5), NOW));
        assert!(stale(Some(&moved), &l(1, t + 60), NOW));
        assert!(!stale(Some(&moved), &l(1, t + 600), NOW), "theirs is newer");
        moved.expires = UnixTime(t - 1);
        assert!(!stale(Some(&moved), &l(1, t + 60), NOW), "ours ended");
        assert!(!stale(None, &l(1, t + 60), NOW));
        // Removals never unbind a live lease.
        assert_eq!(remove(Some(&l(2, t + 60)), NOW), Merge::Keep);
        assert_eq!(remove(Some(&l(2, t - 60)), NOW), Merge::Take);
        assert_eq!(remove(None, NOW), Merge::Take);
    }

    /// Both boxes decide a conflict alike, whichever of them holds which
    /// lease and with expiries a few seconds apart from clock skew: box A
    /// sees (mine = a, theirs = b), box B sees (mine = b, theirs = a).
    #[test]
    fn both_boxes_pick_the_same_winner() {
        let t = NOW.0;
        for (ea, eb) in [
            (60, 600),
            (600, 60),
            (300, 305),
            (306, 300),
            (300, 300),
            (0, 300),
        ] {
            for skew in [0i64, -2, 2, -6, 6] {
                let a = l(1, if ea == 0 { 0 } else { t + ea });
                let b = l(2, if eb == 0 { 0 } else { t + eb });
                // On B, A's lease arrives rebuilt with B's clock, `skew` off.
                let a_on_b = Lease {
                    expires: if ea == 0 {
                        UnixTime(0)
                    } else {
                        UnixTime((a.expires.0 as i64 + skew) as u64)
                    },
                    ..a.clone()
                };
                let on_a = upsert(Some(&a), &b, NOW);
                let on_b = upsert(Some(&b), &a_on_b, NOW);
                let (Merge::Conflict { take: ta }, Merge::Conflict { take: tb }) = (on_a, on_b)
                else {
                    panic!("{ea} {eb}: not a conflict")
                };
                let winner_on_a = if ta { &b } else { &a };
                let winner_on_b = if tb { &a } else { &b };
                assert_eq!(
                    winner_on_a.hw, winner_on_b.hw,
                    "expiries {ea} {eb} skew {skew}"
                );
            }
        }
    }
}
