//! The HA gate (design §4): whether this box may answer a DHCP message,
//! and with what, given the role VRRP decided for the message's subnet.
//! One pure table, [`decide`], keyed on `(role, message, scope, holder)`;
//! the core ([`super::server::Server`]) classifies the address with
//! [`classify`] and asks the table before it touches any state.
//!
//! The rows, in the order [`decide`] tries them ("serves" = Active or
//! Standalone; a box with no `[vrrp]` is Standalone):
//!
//! | role | message | scope | holder | verdict |
//! |---|---|---|---|---|
//! | Backup, Initialize | anything | any | any | **silent**: never an OFFER, ACK or NAK, no state touched |
//! | serves | not a request (OFFER, ACK, ...) | any | any | silent |
//! | serves | REQUEST naming another server-id (SELECTING) | any | any | silent; the core drops our offer (RFC 2131 §4.3.2) |
//! | serves | DISCOVER, REQUEST, DECLINE, RELEASE, INFORM before an address is classified | — | — | answer: go on (DECLINE, RELEASE, INFORM are decided by the core's records, RFC 2131 §4.3.3-4.3.5) |
//! | serves | DISCOVER, a candidate address | the client's reservation, own | free, the client's (bound, expired, offered) | **offer it** ([`super::allocate::choose`]) |
//! | serves | DISCOVER, a candidate address | peer | the client's active binding | offer it: an adopted address stays the client's while its lease runs |
//! | serves | DISCOVER, a candidate address | outside both ranges | the client's binding (bound or expired) | offer it, unless `dhcp-authoritative` (the range was shrunk: the client moves into it) |
//! | serves | DISCOVER, a candidate address | anything else | any | not this one: new addresses come from **our own** range only |
//! | serves | REQUEST (SELECTING, INIT-REBOOT, RENEWING, REBINDING) | wrong network | any | NAK (RFC 2131 §4.3.2 INIT-REBOOT: "SHOULD send a DHCPNAK") |
//! | serves | REQUEST | unlocated (a unicast, not relayed, outside its subnet) | any | NAK when SELECTING or `dhcp-authoritative`, else silent |
//! | serves | REQUEST | the client has a free reservation elsewhere | any | NAK |
//! | serves | REQUEST | any | another client's active lease | NAK |
//! | serves | REQUEST | any | unavailable (quarantined, offered to another, another's reservation) | NAK when SELECTING or `dhcp-authoritative`, else silent |
//! | serves | REQUEST | outside both ranges | the client's (bound, expired, offered) | NAK when `dhcp-authoritative` (the range was shrunk: the client starts over in the new one, as with dnsmasq; RFC 2131 §4.3.2 "incorrect ... or the client's lease has expired"), else ACK |
//! | serves | REQUEST | any | the client's (bound, expired, offered) | **ACK** |
//! | serves | REQUEST | the client's reservation, own, **peer** | free | **ACK and record it**: the adopt rule, so clients keep their address and DNS name across a failover |
//! | serves | REQUEST | outside both ranges | free | NAK when SELECTING or `dhcp-authoritative`, else silent (RFC 2131 §4.3.2: a non-authoritative server "MUST remain silent") |
//!
//! After an ACK verdict the core still applies `dhcp-lease-max`, and a
//! reservation with `ignore` silences a client before the table is asked.
//!
//! The server identifier is the VIP of the subnet's VRRP instance
//! ([`super::subnet::Subnet::vip`]), and replies leave from it, so unicast
//! renewals reach whichever box is Active. Rapid commit (RFC 4039) is not
//! implemented, which is what HA needs: it is only safe when every server
//! commits.

use std::net::Ipv4Addr;

use super::allocate::{Ask, Holds, available};
use super::bindings::LeaseDb;
use super::server::Silence;
use super::subnet::{Reservations, Subnet};
use crate::vrrp::Role;

/// The message, as the table sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    Discover,
    /// REQUEST in SELECTING naming one of our identifiers.
    Select,
    /// REQUEST in SELECTING naming another server.
    SelectOther,
    /// REQUEST in INIT-REBOOT (option 50, no 54, no ciaddr).
    InitReboot,
    /// REQUEST in RENEWING or REBINDING (ciaddr).
    Renew,
    Decline,
    Release,
    Inform,
    /// A message a server does not answer (OFFER, ACK, NAK, unknown).
    Other,
}

/// Where an address lies, for this client. Tried in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Not in the subnet where the client is known to be (it arrived
    /// broadcast on that link, by a relay, or with option 118).
    WrongNetwork,
    /// Not in the subnet of a unicast that came without a relay: the
    /// client may be anywhere.
    Unlocated,
    /// The client has a reservation for another address, free to give.
    ReservedElsewhere,
    /// The address the operator reserved for this client.
    Reserved,
    /// In one of our own ranges.
    Own,
    /// In the HA peer's range.
    Peer,
    /// In the subnet, outside both boxes' ranges.
    Outside,
}

/// Who holds the address now. Tried in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Holder {
    /// Another client's active lease.
    Other,
    /// Not ours to give now: offered to another client, quarantined,
    /// another client's reservation, or not a host address.
    Unavailable,
    /// This client's active binding.
    Bound,
    /// This client's expired binding.
    Expired,
    /// Our outstanding offer to this client.
    Offered,
    /// Nobody's.
    Free,
}

/// The table's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on: the core offers, ACKs or handles the message.
    Answer,
    /// No reply, no state touched (the reason is a counter).
    Silent(Silence),
    /// DHCPNAK with this message (option 56).
    Nak(&'static str),
}

/// The table of the module doc. `claim` is the classified address, or
/// `None` while the message has not named one yet (the first rows).
pub fn decide(
    role: Role,
    msg: Msg,
    claim: Option<(Scope, Holder)>,
    authoritative: bool,
) -> Verdict {
    use Holder::*;
    use Scope::*;
    use Verdict::{Answer, Nak, Silent};
    let selecting = msg == Msg::Select;
    // RFC 2131 §4.3.2: without a record of the client, only an
    // authoritative server NAKs.
    let nak_if = |may: bool, why: &'static str| {
        if may || authoritative {
            Nak(why)
        } else {
            Silent(Silence::NoRecord)
        }
    };
    match (role, msg, claim) {
        (Role::Backup | Role::Initialize, _, _) => Silent(Silence::Gated),
        (_, Msg::Other, _) => Silent(Silence::NotARequest),
        (_, Msg::SelectOther, _) => Silent(Silence::OtherServer),
        (_, _, None) => Answer,
        (_, Msg::Decline | Msg::Release | Msg::Inform, Some(_)) => Answer,
        // DISCOVER: may this candidate be offered?
        (_, Msg::Discover, Some((Reserved | Own, Free | Bound | Expired | Offered))) => Answer,
        (_, Msg::Discover, Some((Peer, Bound))) => Answer,
        (_, Msg::Discover, Some((Outside, Bound | Expired))) if !authoritative => Answer,
        (_, Msg::Discover, Some(_)) => Silent(Silence::PoolExhausted),
        // REQUEST, every state.
        (_, Msg::Select | Msg::InitReboot | Msg::Renew, Some((scope, holder))) => {
            match (scope, holder) {
                (WrongNetwork, _) => Nak("address not on this network"),
                (Unlocated, _) => nak_if(selecting, "address not on this network"),
                (ReservedElsewhere, _) => Nak("client has a reservation for another address"),
                (_, Other) => Nak("address is leased to another client"),
                (_, Unavailable) => nak_if(selecting, "address is not available"),
                (Outside, Bound | Expired | Offered) if authoritative => {
                    Nak("address outside our ranges")
                }
                (_, Bound | Expired | Offered) => Answer,
                (Reserved | Own | Peer, Free) => Answer,
                (Outside, Free) => nak_if(selecting, "address outside our ranges"),
            }
        }
    }
}

/// Classifies `ip` for the client of `ask` in `subnet`. `located`: the
/// client is known to be on `subnet` (see [`Scope::WrongNetwork`]).
pub fn classify(
    ip: Ipv4Addr,
    subnet: &Subnet,
    res: &Reservations,
    db: &LeaseDb,
    holds: &Holds,
    ask: &Ask<'_>,
    located: bool,
) -> (Scope, Holder) {
    let scope = if !subnet.contains(ip) {
        if located {
            Scope::WrongNetwork
        } else {
            Scope::Unlocated
        }
    } else if ask
        .reserved
        .is_some_and(|r| r != ip && available(r, subnet, res, db, holds, ask))
    {
        Scope::ReservedElsewhere
    } else if ask.reserved == Some(ip) {
        Scope::Reserved
    } else if subnet.own_range(ip).is_some() {
        Scope::Own
    } else if subnet.in_peer_range(ip) {
        Scope::Peer
    } else {
        Scope::Outside
    };
    // `available` includes "not held by another client": one lookup on
    // the common path.
    let holder = if !available(ip, subnet, res, db, holds, ask) {
        if db.held_by_other(ip, ask.key, ask.wall) {
            Holder::Other
        } else {
            Holder::Unavailable
        }
    } else if let Some(l) = db.of_client(ask.key).filter(|l| l.ip() == ip) {
        if l.is_active(ask.wall) {
            Holder::Bound
        } else {
            Holder::Expired
        }
    } else if holds.offers.get(ip).is_some_and(|(k, _)| k == ask.key) {
        Holder::Offered
    } else {
        Holder::Free
    };
    (scope, holder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Mono, UnixTime};
    use crate::dhcp::binding::{ClientKey, HwAddr, Lease};
    use crate::dhcp::config::{LeaseTime, parse_host};
    use crate::dhcp::subnet::{Range, Span};
    use crate::net::IfAddr;

    const ROLES: [Role; 4] = [
        Role::Standalone,
        Role::Initialize,
        Role::Backup,
        Role::Active,
    ];
    const MSGS: [Msg; 9] = [
        Msg::Discover,
        Msg::Select,
        Msg::SelectOther,
        Msg::InitReboot,
        Msg::Renew,
        Msg::Decline,
        Msg::Release,
        Msg::Inform,
        Msg::Other,
    ];
    const SCOPES: [Scope; 7] = [
        Scope::WrongNetwork,
        Scope::Unlocated,
        Scope::ReservedElsewhere,
        Scope::Reserved,
        Scope::Own,
        Scope::Peer,
        Scope::Outside,
    ];
    const HOLDERS: [Holder; 6] = [
        Holder::Other,
        Holder::Unavailable,
        Holder::Bound,
        Holder::Expired,
        Holder::Offered,
        Holder::Free,
    ];
    const REQUESTS: [Msg; 3] = [Msg::Select, Msg::InitReboot, Msg::Renew];

    /// Every cell of the table: `None` and each (scope, holder) claim.
    fn claims() -> impl Iterator<Item = Option<(Scope, Holder)>> {
        std::iter::once(None).chain(
            SCOPES
                .iter()
                .flat_map(|s| HOLDERS.iter().map(move |h| Some((*s, *h)))),
        )
    }

    fn every_cell() -> impl Iterator<Item = (Role, Msg, Option<(Scope, Holder)>, bool)> {
        ROLES.iter().flat_map(|r| {
            MSGS.iter().flat_map(move |m| {
                claims().flat_map(move |c| [false, true].map(|auth| (*r, *m, c, auth)))
            })
        })
    }

    #[test]
    fn the_table_has_every_cell_once() {
        // 4 roles x 9 messages x (1 + 7 x 6) claims x 2 authoritative.
        assert_eq!(every_cell().count(), 4 * 9 * 43 * 2);
    }

    #[test]
    fn backup_and_initialize_are_silent_everywhere_and_never_nak() {
        for (role, msg, claim, auth) in every_cell() {
            let v = decide(role, msg, claim, auth);
            if role.serves() {
                assert_ne!(
                    v,
                    Verdict::Silent(Silence::Gated),
                    "{role} {msg:?} {claim:?}"
                );
            } else {
                assert_eq!(
                    v,
                    Verdict::Silent(Silence::Gated),
                    "{role} {msg:?} {claim:?}"
                );
            }
        }
    }

    #[test]
    fn active_and_standalone_decide_alike() {
        for (_, msg, claim, auth) in every_cell() {
            assert_eq!(
                decide(Role::Active, msg, claim, auth),
                decide(Role::Standalone, msg, claim, auth),
                "{msg:?} {claim:?} authoritative={auth}"
            );
        }
    }

    #[test]
    fn only_a_request_is_ever_nakd() {
        for (role, msg, claim, auth) in every_cell() {
            if let Verdict::Nak(_) = decide(role, msg, claim, auth) {
                assert!(REQUESTS.contains(&msg), "{role} {msg:?} {claim:?}");
                assert!(claim.is_some(), "a NAK needs a classified address");
            }
        }
    }

    #[test]
    fn message_rows_come_before_any_address() {
        for (msg, claim, auth) in MSGS
            .iter()
            .flat_map(|m| claims().flat_map(move |c| [(*m, c, false), (*m, c, true)]))
        {
            let v = decide(Role::Active, msg, claim, auth);
            match msg {
                Msg::Other => assert_eq!(v, Verdict::Silent(Silence::NotARequest)),
                // RFC 2131 §4.3.2: another server was chosen.
                Msg::SelectOther => assert_eq!(v, Verdict::Silent(Silence::OtherServer)),
                // The core's own records decide (RFC 2131 §4.3.3-4.3.5).
                Msg::Decline | Msg::Release | Msg::Inform => assert_eq!(v, Verdict::Answer),
                _ if claim.is_none() => assert_eq!(v, Verdict::Answer, "{msg:?}"),
                _ => {}
            }
        }
    }

    #[test]
    fn discover_offers_the_reservation_the_binding_or_our_own_range() {
        use Holder::*;
        use Scope::*;
        for auth in [false, true] {
            for s in SCOPES {
                for h in HOLDERS {
                    let offer = match (s, h) {
                        (_, Other | Unavailable) => false,
                        (Reserved | Own, _) => true,
                        // Adopted from the peer: the client's only while it runs.
                        (Peer, Bound) => true,
                        // Outside a shrunk range: kept only when not
                        // authoritative.
                        (Outside, Bound | Expired) => !auth,
                        _ => false,
                    };
                    let v = decide(Role::Active, Msg::Discover, Some((s, h)), auth);
                    let want = if offer {
                        Verdict::Answer
                    } else {
                        Verdict::Silent(Silence::PoolExhausted)
                    };
                    assert_eq!(v, want, "DISCOVER {s:?} {h:?} authoritative={auth}");
                }
            }
        }
    }

    #[test]
    fn request_rows() {
        use Holder::*;
        use Scope::*;
        for msg in REQUESTS {
            for auth in [false, true] {
                let sel = msg == Msg::Select;
                let nak_if = |may: bool, why| {
                    if may || auth {
                        Verdict::Nak(why)
                    } else {
                        Verdict::Silent(Silence::NoRecord)
                    }
                };
                for s in SCOPES {
                    for h in HOLDERS {
                        let want = match (s, h) {
                            // RFC 2131 §4.3.2 INIT-REBOOT: a client on the
                            // wrong network is NAKed, known or not.
                            (WrongNetwork, _) => Verdict::Nak("address not on this network"),
                            (Unlocated, _) => nak_if(sel, "address not on this network"),
                            (ReservedElsewhere, _) => {
                                Verdict::Nak("client has a reservation for another address")
                            }
                            (_, Other) => Verdict::Nak("address is leased to another client"),
                            (_, Unavailable) => nak_if(sel, "address is not available"),
                            (Outside, Bound | Expired | Offered) if auth => {
                                Verdict::Nak("address outside our ranges")
                            }
                            (_, Bound | Expired | Offered) => Verdict::Answer,
                            // The adopt rule: our range or the peer's.
                            (Reserved | Own | Peer, Free) => Verdict::Answer,
                            (Outside, Free) => nak_if(sel, "address outside our ranges"),
                        };
                        assert_eq!(
                            decide(Role::Active, msg, Some((s, h)), auth),
                            want,
                            "{msg:?} {s:?} {h:?} authoritative={auth}"
                        );
                    }
                }
            }
        }
    }

    // ---- classify ----------------------------------------------------------

    fn net(d: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, d)
    }

    /// 10.0.0.0/24, we are .1; our range .10-.99, the peer's .100-.199.
    fn subnet() -> Subnet {
        Subnet {
            network: net(0),
            prefix: 24,
            local: Some(IfAddr {
                name: "eth0".into(),
                index: 2,
                addr: net(1),
                prefix: 24,
            }),
            ranges: vec![Range {
                span: Span::new(net(10), net(99)),
                lease: LeaseTime::DEFAULT,
                tag: None,
            }],
            peer: vec![Span::new(net(100), net(199))],
            vip: None,
            vrrp: None,
        }
    }

    fn key(n: u8) -> ClientKey {
        ClientKey::Hw(HwAddr::ether([2, 0, 0, 0, 0, n]))
    }

    fn lease(d: u8, n: u8, expires: u64) -> Lease {
        Lease {
            ip: net(d),
            hw: HwAddr::ether([2, 0, 0, 0, 0, n]),
            client_id: None,
            hostname: None,
            expires: UnixTime(expires),
        }
    }

    #[test]
    fn classify_scope_and_holder() {
        let sn = subnet();
        let res = Reservations::new(vec![
            parse_host("02:00:00:00:00:07,10.0.0.250").unwrap(),
            parse_host("02:00:00:00:00:08,10.0.0.251").unwrap(),
        ]);
        let db = LeaseDb::from_leases([
            lease(20, 1, 9000), // client 1, active
            lease(120, 2, 100), // client 2, expired (peer range)
            lease(30, 3, 9000), // client 3, active
        ]);
        let mut holds = Holds::default();
        holds.offers.offer(net(40), key(1), Mono(5000));
        holds.offers.offer(net(41), key(3), Mono(5000));
        holds.quarantine(net(42), Mono(5000));
        fn ask(k: &ClientKey, reserved: Option<Ipv4Addr>) -> Ask<'_> {
            Ask {
                key: k,
                reserved,
                requested: None,
                mono: Mono(1000),
                wall: UnixTime(5000),
                role: Role::Active,
                authoritative: false,
            }
        }
        let (k1, k2, k7) = (key(1), key(2), key(7));
        let c =
            |ip: Ipv4Addr, a: &Ask<'_>, located| classify(ip, &sn, &res, &db, &holds, a, located);
        let one = ask(&k1, None);
        use Holder::*;
        use Scope::*;
        assert_eq!(c(net(20), &one, true), (Own, Bound));
        assert_eq!(c(net(30), &one, true), (Own, Other));
        assert_eq!(c(net(40), &one, true), (Own, Offered));
        assert_eq!(c(net(41), &one, true), (Own, Unavailable)); // offered to 3
        assert_eq!(c(net(42), &one, true), (Own, Unavailable)); // quarantined
        assert_eq!(c(net(50), &one, true), (Own, Free));
        assert_eq!(c(net(150), &one, true), (Peer, Free));
        assert_eq!(c(net(205), &one, true), (Outside, Free));
        assert_eq!(c(net(250), &one, true), (Outside, Unavailable)); // 7's
        assert_eq!(c(net(1), &one, true), (Outside, Unavailable)); // ours
        assert_eq!(c(Ipv4Addr::new(10, 1, 0, 5), &one, true).0, WrongNetwork);
        assert_eq!(c(Ipv4Addr::new(10, 1, 0, 5), &one, false).0, Unlocated);
        // Client 2's expired binding in the peer's range.
        let two = ask(&k2, None);
        assert_eq!(c(net(120), &two, true), (Peer, Expired));
        // Client 7 has a free reservation: its own, or another address.
        let seven = ask(&k7, Some(net(250)));
        assert_eq!(c(net(250), &seven, true), (Reserved, Free));
        assert_eq!(c(net(50), &seven, true), (ReservedElsewhere, Free));
        // ... and once the reservation is taken, an ordinary client.
        let mut taken = LeaseDb::from_leases([lease(250, 9, 9000)]);
        assert_eq!(
            classify(net(50), &sn, &res, &taken, &holds, &seven, true),
            (Own, Free)
        );
        taken.remove(net(250));
        assert_eq!(
            classify(net(50), &sn, &res, &taken, &holds, &seven, true),
            (ReservedElsewhere, Free)
        );
    }
}
