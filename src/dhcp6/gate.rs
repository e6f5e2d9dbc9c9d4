//! The DHCPv6 HA gate (design §4, §10): which box answers.
//!
//! A pure function of the role this box plays (from the VRRP instance
//! that gates the `[dhcpv6]` section; [`Role::Standalone`] without one)
//! and the kind of message, called by the core after the RFC 8415 checks
//! and before any Reply is built. The table, as for DHCPv4:
//!
//! | role                   | Information-request | address assignment (later) |
//! |------------------------|---------------------|----------------------------|
//! | Standalone, Active     | answer              | answer (its own range)     |
//! | Initialize, Backup     | silent              | silent                     |
//!
//! Stateless answers carry no state, so the Active answers every one. A
//! stateful server will add its rules (split ranges, the peer's Server
//! Identifier) as new [`Kind`]s here without changing the callers.

use crate::vrrp::Role;

/// What a message asks of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Information-request (RFC 8415 §18.2.6): configuration only.
    InformationRequest,
    /// Solicit, Request, Renew, Rebind, Confirm, Release, Decline and the
    /// other client messages of stateful service (RFC 8415 §6.2).
    Stateful,
}

/// The gate's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Answer,
    /// Send nothing: the Backup never speaks for the pair.
    Silent,
}

/// The table above.
pub fn decide(role: Role, kind: Kind) -> Verdict {
    match (role.serves(), kind) {
        (true, Kind::InformationRequest | Kind::Stateful) => Verdict::Answer,
        (false, _) => Verdict::Silent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_active_or_a_lone_box_answers() {
        for kind in [Kind::InformationRequest, Kind::Stateful] {
            assert_eq!(decide(Role::Standalone, kind), Verdict::Answer);
            assert_eq!(decide(Role::Active, kind), Verdict::Answer);
            assert_eq!(decide(Role::Backup, kind), Verdict::Silent);
            assert_eq!(decide(Role::Initialize, kind), Verdict::Silent);
        }
    }
}
