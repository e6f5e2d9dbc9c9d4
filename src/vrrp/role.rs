//! The role this box plays, as the DHCP responder sees it.

use std::fmt;

/// Published by the VRRP task on `watch<Role>`; read by DHCP on every packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// No `[vrrp]` section: this box serves alone, always answering.
    Standalone,
    /// RFC 9568 §6.4.1: waiting for a Startup event; never answers.
    Initialize,
    /// RFC 9568 §6.4.2: another router holds the VIP; DHCP is silent.
    Backup,
    /// RFC 9568 §6.4.3: this box holds the VIP and answers.
    Active,
}

impl Role {
    /// The role the spine starts with: `Standalone` without VRRP, otherwise
    /// `Initialize` until the speaker decides (RFC 9568 §6.4.1).
    pub fn initial(has_vrrp: bool) -> Role {
        if has_vrrp {
            Role::Initialize
        } else {
            Role::Standalone
        }
    }

    /// Whether the DHCP responder may answer at all in this role.
    pub fn serves(self) -> bool {
        matches!(self, Role::Standalone | Role::Active)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Initialize => "initialize",
            Role::Backup => "backup",
            Role::Active => "active",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standalone_and_active_serve() {
        assert_eq!(Role::initial(false), Role::Standalone);
        assert_eq!(Role::initial(true), Role::Initialize);
        assert!(Role::Standalone.serves());
        assert!(Role::Active.serves());
        assert!(!Role::Backup.serves());
        assert!(!Role::Initialize.serves());
    }
}
