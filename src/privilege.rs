//! Dropping root after start-up, keeping only the capabilities the
//! subsystems need: CAP_NET_BIND_SERVICE (ports 53, 67), CAP_NET_RAW (VRRP
//! protocol 112, ARP, raw DHCP replies) and CAP_NET_ADMIN (adding the VIP by
//! netlink). Also sets no_new_privs so nothing exec'd later gains privilege.
//! This is what keepalived's non-root unit and the OpenWrt capabilities
//! file grant (test checklist §44).

use std::io;

use nix::libc;
use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};

pub const CAP_NET_BIND_SERVICE: u32 = 10;
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;

/// The user to drop to after start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
}

/// The capabilities kept after the drop.
pub const KEPT: [u32; 3] = [CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW];

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// The capability mask for `caps`, in the two 32-bit words of capset(2).
pub fn mask(caps: &[u32]) -> [u32; 2] {
    let mut m = [0u32; 2];
    for &c in caps {
        m[(c / 32) as usize] |= 1 << (c % 32);
    }
    m
}

/// Switches to `run_as`, keeping [`KEPT`]. Must run as root.
pub fn drop_to(run_as: &RunAs) -> io::Result<()> {
    // Keep the permitted set across setuid (prctl PR_SET_KEEPCAPS).
    nix::sys::prctl::set_keepcaps(true).map_err(io::Error::from)?;
    setgroups(&[run_as.gid]).map_err(io::Error::from)?;
    setgid(run_as.gid).map_err(io::Error::from)?;
    setuid(run_as.uid).map_err(io::Error::from)?;
    set_caps(&KEPT)?;
    nix::sys::prctl::set_keepcaps(false).map_err(io::Error::from)?;
    nix::sys::prctl::set_no_new_privs().map_err(io::Error::from)?;
    if Uid::current() != run_as.uid || Gid::current() != run_as.gid {
        return Err(io::Error::other("the uid/gid did not change"));
    }
    Ok(())
}

/// Sets effective = permitted = `caps`, inheritable empty.
fn set_caps(caps: &[u32]) -> io::Result<()> {
    let m = mask(caps);
    let hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: m[0],
            permitted: m[0],
            inheritable: 0,
        },
        CapData {
            effective: m[1],
            permitted: m[1],
            inheritable: 0,
        },
    ];
    // SAFETY: capset(2) reads one header and two data structs (version 3),
    // both live for the duration of the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, data.as_ptr()) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// For a hook script's child process, between fork and exec: no
/// capabilities at all, now or after exec, whether the daemon runs as root
/// or as `user` with ambient capabilities from systemd. Clears the ambient
/// set, locks root out of its exec-time capabilities (SECBIT_NOROOT, when
/// we may set securebits: only a root daemon needs it), empties the
/// capability sets and sets no_new_privs, so a setuid or file-capability
/// program the script runs gains nothing either.
///
/// Only async-signal-safe calls (prctl, capset): it runs in the forked
/// child of a multi-threaded process.
pub fn drop_all_for_exec() -> io::Result<()> {
    const PR_CAP_AMBIENT: libc::c_int = 47;
    const PR_CAP_AMBIENT_CLEAR_ALL: libc::c_ulong = 4;
    const PR_SET_SECUREBITS: libc::c_int = 28;
    // SECBIT_NOROOT | _LOCKED | SECBIT_NO_SETUID_FIXUP | _LOCKED.
    const SECBITS: libc::c_ulong = 0x1 | 0x2 | 0x4 | 0x8;
    // SAFETY: prctl with integer arguments only.
    unsafe {
        // Ambient capabilities (kernel >= 4.3); EINVAL on older ones.
        libc::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        if Uid::effective().is_root() && libc::prctl(PR_SET_SECUREBITS, SECBITS, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    set_caps(&[])?;
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The command for a hook script (VRRP `notify` and `track-script`,
/// `dhcp-script`): run directly (no shell), stdin `/dev/null`, stdout and
/// stderr discarded unless the caller pipes them, killed if its handle is
/// dropped, and with no capabilities ([`drop_all_for_exec`]).
pub fn hook_command(path: &std::path::Path) -> tokio::process::Command {
    use std::process::Stdio;
    let mut cmd = tokio::process::Command::new(path);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    // SAFETY: the closure only makes async-signal-safe system calls
    // (prctl, capset) in the forked child before exec.
    unsafe {
        cmd.pre_exec(drop_all_for_exec);
    }
    cmd
}

/// A hook script must be a regular file someone may execute.
pub fn check_executable(p: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(p).map_err(|e| e.to_string())?;
    if !m.is_file() {
        return Err("not a regular file".into());
    }
    if m.permissions().mode() & 0o111 == 0 {
        return Err("not executable".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_of_the_kept_set() {
        // 10, 12, 13 -> 0x3400, as /proc/PID/status shows CapEff 0000000000003400.
        assert_eq!(mask(&KEPT), [0x3400, 0]);
        assert_eq!(mask(&[40]), [0, 1 << 8]);
    }
}
