//! The HA gate: whether this box may answer DHCP at all, given the role
//! VRRP decided (design §4). The driver asks it before the core sees a
//! packet, so a Backup neither answers nor changes any state.
//!
//! | role | message | answer |
//! |---|---|---|
//! | Backup, Initialize | anything | **silent**: never an OFFER, ACK or NAK |
//! | Active, Standalone | DISCOVER | OFFER of the client's binding, its reservation, or a free address from **our own** range only ([`super::allocate::choose`]) |
//! | Active, Standalone | REQUEST naming another server-id (SELECTING) | silent, and our offer to that client is dropped ([`super::server::Server::request_selecting`]) |
//! | Active, Standalone | RENEW / REBIND / INIT-REBOOT for an address in our range or the **peer's** range that no other client holds | ACK, and the binding (with its host name) is recorded: the **adopt** rule, so clients keep their address and DNS name across a failover |
//! | Active, Standalone | REQUEST for an address another client holds | NAK |
//! | Active, Standalone | REQUEST outside both ranges, or on the wrong network | NAK only when `dhcp-authoritative` (or the client is known to be on another network); otherwise silent (RFC 2131 §4.3.2) |
//! | Active, Standalone | DECLINE, RELEASE, INFORM | handled (RFC 2131 §4.3.3-4.3.5) |
//!
//! The server identifier is the VIP of the subnet's VRRP instance
//! ([`super::subnet::Subnet::vip`]), and replies leave from it, so unicast
//! renewals reach whichever box is Active. Rapid commit (RFC 4039) is not
//! implemented, which is what HA needs: it is only safe when every server
//! commits.

use super::server::MsgType;
use crate::vrrp::Role;

/// The gate's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Let the core decide (the Active rows of the table).
    Answer,
    /// Drop without a reply and without touching any state.
    Silent,
}

/// The first rows of the table: only an Active (or standalone) box answers.
pub fn gate(role: Role, _msg: MsgType) -> Gate {
    if role.serves() {
        Gate::Answer
    } else {
        Gate::Silent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_and_standalone_answer_anything() {
        let msgs = [
            MsgType::Discover,
            MsgType::Request,
            MsgType::Decline,
            MsgType::Release,
            MsgType::Inform,
            MsgType::Other(99),
        ];
        for m in msgs {
            assert_eq!(gate(Role::Backup, m), Gate::Silent);
            assert_eq!(gate(Role::Initialize, m), Gate::Silent);
            assert_eq!(gate(Role::Active, m), Gate::Answer);
            assert_eq!(gate(Role::Standalone, m), Gate::Answer);
        }
    }
}
