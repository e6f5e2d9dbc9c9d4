//! The open-file limit (issue 17, item 8). Every upstream query holds its
//! own UDP socket (a random source port, RFC 5452 §9.2) and every DNS TCP
//! client may hold two descriptors (its connection and one upstream), so
//! `dns-forward-max` and `max-tcp-connections` decide how many descriptors
//! a flood can open. With the usual soft limit of 1024 a larger
//! `dns-forward-max` ran out and DNS stopped reading its sockets.
//!
//! At start, [`fit_open_files`] raises the soft `RLIMIT_NOFILE` to what the
//! configured limits need, and further to what the largest values of the
//! two keys would need ([`HEADROOM_FORWARD`], [`HEADROOM_TCP`], about
//! 12,400 descriptors), so that a SIGHUP that raises them still fits; never
//! above the hard limit. If even the hard limit is too small for the
//! configured values, it lowers the two DNS limits so that they fit, and
//! logs each change: a flood then meets the DNS limits (answered as
//! overload), never `EMFILE` on a listening socket. [`plan`] is the pure
//! part, unit-tested; [`fit_open_files`] does the system calls and logs.

use crate::config::Config;
use crate::event;

/// Descriptors for everything that does not grow with a limit: listening
/// sockets on every interface, VRRP (raw socket, netlink, ARP) per
/// instance, DHCP, lease files, the control socket, log, epoll, signals,
/// hook pipes. Generous: a descriptor costs nothing until used.
pub const BASE_FDS: u64 = 128;
/// The metrics endpoint and control socket connections (both bounded).
pub const FIXED_CONNS: u64 = crate::metrics::MAX_CONNS as u64 + 4;

/// The largest `dns-forward-max` and `max-tcp-connections` accept (a unit
/// test ties these to the parser).
pub const HEADROOM_FORWARD: u32 = 10_000;
pub const HEADROOM_TCP: u32 = 1024;

/// What to do, from the configured DNS limits and the current limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Descriptors the configured limits need.
    pub need: u64,
    /// The soft limit to set (unchanged when already enough).
    pub soft: u64,
    /// `dns-forward-max` and `max-tcp-connections` that fit `soft`.
    pub forward_max: u32,
    pub max_tcp: u32,
}

/// Descriptors needed for `forward_max` upstream queries and `max_tcp`
/// TCP clients, besides the fixed part.
pub fn need(forward_max: u32, max_tcp: u32) -> u64 {
    BASE_FDS + FIXED_CONNS + u64::from(forward_max) + 2 * u64::from(max_tcp)
}

/// The soft limit to ask for and the DNS limits that fit it. `soft` and
/// `hard` are the current limits (`u64::MAX` = unlimited).
pub fn plan(forward_max: u32, max_tcp: u32, soft: u64, hard: u64) -> Plan {
    let need = need(forward_max, max_tcp);
    let headroom = need.max(self::need(HEADROOM_FORWARD, HEADROOM_TCP));
    let target = soft.max(headroom.min(hard));
    if need <= target {
        return Plan {
            need,
            soft: target,
            forward_max,
            max_tcp,
        };
    }
    // Scale both down in proportion to what is left after the fixed part.
    let budget = target.saturating_sub(BASE_FDS + FIXED_CONNS);
    let want = u64::from(forward_max) + 2 * u64::from(max_tcp);
    let scale = |v: u32| ((u64::from(v) * budget / want) as u32).max(1);
    Plan {
        need,
        soft: target,
        forward_max: scale(forward_max),
        max_tcp: scale(max_tcp),
    }
}

// `rlim_t` is 64 bits on musl and 64-bit glibc, 32 on 32-bit glibc.
#[allow(clippy::unnecessary_cast)]
fn get() -> std::io::Result<(u64, u64)> {
    let mut r = nix::libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit that lives across the call.
    if unsafe { nix::libc::getrlimit(nix::libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((r.rlim_cur as u64, r.rlim_max as u64))
}

fn set(soft: u64, hard: u64) -> std::io::Result<()> {
    let r = nix::libc::rlimit {
        rlim_cur: soft as nix::libc::rlim_t,
        rlim_max: hard as nix::libc::rlim_t,
    };
    // SAFETY: setrlimit reads one rlimit that lives across the call.
    if unsafe { nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &r) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Raises the soft open-file limit to what `config` needs (up to the hard
/// limit) and lowers the DNS limits in `config` when even that is short.
/// Logs the outcome. Call once at start, before any task starts.
#[allow(clippy::unnecessary_cast)] // rlim_t, as above
pub fn fit_open_files(config: &mut Config) {
    let Some(dns) = config.dns.as_mut() else {
        return;
    };
    let (soft, hard) = match get() {
        Ok(l) => l,
        Err(e) => {
            event!(
                Warn,
                "daemon.open_files",
                "note=\"cannot read the open-file limit: {e}\""
            );
            return;
        }
    };
    let mut p = plan(dns.forward_max, dns.max_tcp_connections, soft, hard);
    if p.soft > soft
        && let Err(e) = set(p.soft, hard)
    {
        event!(
            Warn,
            "daemon.open_files",
            "note=\"cannot raise the open-file limit from {soft} to {}: {e}\"",
            p.soft
        );
        p = plan(dns.forward_max, dns.max_tcp_connections, soft, soft);
    }
    event!(
        Info,
        "daemon.open_files",
        "soft={} was={soft} hard={} need={}",
        p.soft,
        if hard == nix::libc::RLIM_INFINITY as u64 {
            "unlimited".to_string()
        } else {
            hard.to_string()
        },
        p.need
    );
    for (key, from, to) in [
        ("dns-forward-max", dns.forward_max, p.forward_max),
        ("max-tcp-connections", dns.max_tcp_connections, p.max_tcp),
    ] {
        if from != to {
            event!(
                Warn,
                "daemon.open_files_short",
                "section=dns key={key} configured={from} using={to} note=\"the open-file limit ({}) is too small for the configured value; raise the hard limit (LimitNOFILE=)\"",
                p.soft
            );
        }
    }
    dns.forward_max = p.forward_max;
    dns.max_tcp_connections = p.max_tcp;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enough_already_changes_nothing() {
        let p = plan(150, 20, 20_000, 20_000);
        assert_eq!(p.need, BASE_FDS + FIXED_CONNS + 150 + 40);
        assert_eq!((p.soft, p.forward_max, p.max_tcp), (20_000, 150, 20));
        // The defaults fit 1024 even when it is also the hard limit.
        let p = plan(150, 20, 1024, 1024);
        assert_eq!((p.soft, p.forward_max, p.max_tcp), (1024, 150, 20));
    }

    #[test]
    fn the_soft_limit_is_raised_with_headroom_for_a_reload() {
        let most = need(HEADROOM_FORWARD, HEADROOM_TCP);
        let p = plan(5000, 100, 1024, 524_288);
        assert_eq!(p.soft, most);
        assert!(p.need > 5000 && p.need < most);
        assert_eq!((p.forward_max, p.max_tcp), (5000, 100));
        // Unlimited hard limit.
        assert_eq!(plan(150, 20, 256, u64::MAX).soft, most);
        // A hard limit between the need and the headroom: up to it.
        assert_eq!(plan(5000, 100, 1024, 8000).soft, 8000);
    }

    #[test]
    fn the_headroom_is_what_the_parser_accepts() {
        let check = |key: &str, v: u32| {
            let text = format!("[general]\npid-file = none\n[dns]\n{key} = {v}\n");
            crate::config::parse_and_validate(std::path::Path::new("/x.conf"), &text).is_ok()
        };
        assert!(check("dns-forward-max", HEADROOM_FORWARD));
        assert!(!check("dns-forward-max", HEADROOM_FORWARD + 1));
        assert!(check("max-tcp-connections", HEADROOM_TCP));
        assert!(!check("max-tcp-connections", HEADROOM_TCP + 1));
    }

    #[test]
    fn a_short_hard_limit_shrinks_the_dns_limits_to_fit() {
        let p = plan(5000, 100, 1024, 2048);
        assert_eq!(p.soft, 2048);
        assert!(p.forward_max < 5000 && p.max_tcp < 100, "{p:?}");
        assert!(need(p.forward_max, p.max_tcp) <= 2048, "{p:?}");
        // Tiny: still at least one of each, never zero.
        let p = plan(5000, 100, 64, 64);
        assert_eq!((p.soft, p.forward_max, p.max_tcp), (64, 1, 1));
    }
}
