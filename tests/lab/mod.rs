#![allow(dead_code)]
//! Network-namespace test lab for the end-to-end tests of hamasq.
//!
//! A [`Lab`] is an isolated layer-2 network made of Linux network
//! namespaces:
//!
//! * one bridge namespace `hqlab-<pid>-<seq>-br` holding the bridge `br0`
//!   (STP off, forward delay 0, multicast snooping off, so it behaves like a
//!   plain hub that also floods multicast such as VRRP adverts), and no
//!   addresses at all (IPv6 is disabled in it);
//! * one namespace `hqlab-<pid>-<seq>-<host>` per host, with `lo` up and one
//!   veth `eth0` whose peer `p-<host>` is a port of `br0`. The veth pair is
//!   created directly inside the two namespaces, so no lab interface ever
//!   appears in the root namespace and parallel labs cannot clash on names.
//!   `eth0` gets a predictable MAC (`02:68:71:00:00:<n>`, n = 1, 2, … in the
//!   order the hosts were added) and only the IPv4 addresses the test asks
//!   for: IPv6 is off on `eth0` until [`Host::enable_ipv6`] is called.
//!
//! There is no uplink, no default route, and no route except the connected
//! subnets of the given addresses: nothing in a lab can reach outside it.
//! Several labs, in the same or in different test binaries, run side by side
//! with the same addresses without seeing each other.
//!
//! Everything is torn down when the `Lab` is dropped, also while unwinding
//! from a panic: processes started with `spawn` are killed (SIGKILL, by pid)
//! and reaped, every other process still inside a lab namespace is killed by
//! pid, then the host namespaces and the bridge namespace are deleted.
//! Teardown never panics; problems are reported on stderr. When the test
//! panicked, the tail of every process log is printed on stderr and the lab
//! directory (with the full logs) is kept for inspection.
//!
//! Namespaces (and old lab directories) left over by a test binary that
//! died without running its destructors are removed when the next `Lab` is
//! created, but only when their `<pid>` is no longer a live process.
//!
//! # Root, skipping and CI
//!
//! The lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN). When it cannot be
//! created, [`Lab::new`] prints a loud `SKIPPED lab test <name>: <reason>`
//! line directly on stderr (not captured by the test harness) and returns
//! `None`. When the environment variable `HAMASQ_REQUIRE_LAB` is set to
//! anything but `""` or `"0"` (CI sets `HAMASQ_REQUIRE_LAB=1`), it panics
//! with the reason instead, so CI can never skip silently.
//!
//! # Usage
//!
//! ```ignore
//! mod lab;
//!
//! use std::time::Duration;
//!
//! #[test]
//! fn ping_two_hosts() {
//!     let Some(mut lab) = lab::Lab::new("ping_two_hosts") else { return };
//!     lab.add_host("a", &["10.77.0.1/24"]);
//!     lab.add_host("b", &["10.77.0.2/24"]);
//!     let (a, b) = (lab.host("a"), lab.host("b"));
//!
//!     // Commands in a host: `ip netns exec <ns> ...`, bounded by a timeout.
//!     a.run_ok(&["ping", "-c", "1", "-W", "2", &b.ip().to_string()]);
//!     let out = b.sh("ip -o addr show dev eth0"); // std::process::Output
//!     assert!(out.status.success());
//!
//!     // Long-running processes: stdout+stderr go to a log in lab.dir().
//!     let daemon = a.spawn(&[env!("CARGO_BIN_EXE_hamasq"), "--config", "..."]);
//!     daemon.wait_for_log("listening", Duration::from_secs(5));
//!     daemon.signal(lab::SIGHUP).unwrap();
//!
//!     // Commands in the bridge namespace, e.g. loss on b's port:
//!     lab.bridge().run_ok(&["tc", "qdisc", "add", "dev", b.bridge_port(),
//!                           "root", "netem", "loss", "100%"]);
//! } // daemon killed and reaped, namespaces deleted
//! ```
//!
//! Environment variables for a spawned program: prefix the command with
//! `env`, e.g. `a.spawn(&["env", "RUST_LOG=debug", prog, ...])`, or build
//! the command yourself with [`Netns::command`].

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write as _};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// Prefix of every namespace and directory the lab creates.
pub const PREFIX: &str = "hqlab";
/// Environment variable that turns "skip" into "panic" (set by CI).
pub const REQUIRE_ENV: &str = "HAMASQ_REQUIRE_LAB";
/// Timeout of [`Netns::run`] and friends.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// Name of the bridge inside the bridge namespace.
pub const BRIDGE_IF: &str = "br0";
/// Name of the interface inside every host namespace.
pub const HOST_IF: &str = "eth0";

/// Longest accepted host name (keeps `p-<host>` within IFNAMSIZ).
const MAX_HOST_NAME: usize = 12;
/// The bridge namespace uses this suffix, so no host may be called so.
const BRIDGE_SUFFIX: &str = "br";
/// Upper bound of every setup / teardown command.
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound for a killed process to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the output pipes of a command that has exited.
const PIPE_GRACE: Duration = Duration::from_secs(2);
/// Poll interval of the log and exit waits.
const POLL: Duration = Duration::from_millis(20);
/// Lab directories of dead processes are removed once this old.
const STALE_DIR_AGE: Duration = Duration::from_secs(3600);
/// Longest wait for the cross-process cleanup lock.
const CLEANUP_LOCK_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of each process log printed when a test panics.
const LOG_TAIL_LINES: usize = 60;

// Signal numbers, for [`Proc::signal`]. Values from the Linux ABI.
pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
pub const SIGUSR1: i32 = 16;
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
pub const SIGUSR2: i32 = 17;
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
pub const SIGSTOP: i32 = 23;
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
pub const SIGCONT: i32 = 25;
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
pub const SIGUSR1: i32 = 30;
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
pub const SIGUSR2: i32 = 31;
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
pub const SIGSTOP: i32 = 17;
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
pub const SIGCONT: i32 = 19;
#[cfg(not(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
)))]
pub const SIGUSR1: i32 = 10;
#[cfg(not(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
)))]
pub const SIGUSR2: i32 = 12;
#[cfg(not(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
)))]
pub const SIGSTOP: i32 = 19;
#[cfg(not(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
)))]
pub const SIGCONT: i32 = 18;

/// Sequence number of labs created by this process.
static LAB_SEQ: AtomicU32 = AtomicU32::new(0);
/// Serialises `ip netns add` in this process: the first call sets up the
/// shared mount of /run/netns, which is racy between concurrent callers.
static NETNS_ADD_LOCK: Mutex<()> = Mutex::new(());
/// Serialises the stale-namespace sweep in this process (the file lock of
/// [`cleanup_lock`] does it across processes).
static STALE_LOCK: Mutex<()> = Mutex::new(());

/// The few libc calls the lab needs; std links libc already, so no crate.
pub mod dhclient;
pub mod probe;

mod sys {
    unsafe extern "C" {
        pub safe fn geteuid() -> u32;
        pub fn kill(pid: i32, sig: i32) -> i32;
        pub fn flock(fd: i32, operation: i32) -> i32;
    }
    pub const LOCK_EX: i32 = 2;
    pub const LOCK_NB: i32 = 4;
    pub const LOCK_UN: i32 = 8;
}

// ---------------------------------------------------------------------------
// Lab
// ---------------------------------------------------------------------------

/// An isolated L2 network: one bridge namespace and any number of hosts.
/// See the module documentation.
pub struct Lab {
    test: String,
    id: String,
    shared: Arc<Shared>,
    bridge: Netns,
    hosts: Vec<Host>,
    /// Namespaces that exist and must be deleted on drop, in creation order.
    created: Vec<String>,
}

/// State shared by the lab and the namespace handles.
struct Shared {
    dir: PathBuf,
    procs: Mutex<Vec<Arc<ProcInner>>>,
    next_proc: AtomicU32,
}

impl Lab {
    /// Creates an empty lab (the bridge namespace, no hosts yet) for the
    /// test `test_name`.
    ///
    /// Returns `None` after printing `SKIPPED lab test <name>: <reason>` on
    /// stderr when the lab cannot be created (not root, no `ip netns`, no
    /// bridge support). Panics with the reason instead when
    /// `HAMASQ_REQUIRE_LAB` is set. Use it as
    /// `let Some(mut lab) = lab::Lab::new("my_test") else { return };`.
    pub fn new(test_name: &str) -> Option<Lab> {
        let euid = sys::geteuid();
        if euid != 0 {
            return unavailable(
                test_name,
                &format!("not running as root (uid {euid}); the network-namespace tests need root"),
            );
        }
        if ip_bin().is_none() {
            return unavailable(
                test_name,
                "the `ip` command (iproute2) was not found; the network-namespace tests need it",
            );
        }
        cleanup_stale();

        let pid = std::process::id();
        let seq = LAB_SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("{PREFIX}-{pid}-{seq}");
        let dir = std::env::temp_dir().join(format!("{id}-{}", sanitize(test_name, 48)));
        if let Err(e) = fs::create_dir(&dir) {
            panic!(
                "lab {test_name}: cannot create the lab directory {}: {e}",
                dir.display()
            );
        }
        let shared = Arc::new(Shared {
            dir,
            procs: Mutex::new(Vec::new()),
            next_proc: AtomicU32::new(0),
        });
        let bridge = Netns {
            name: format!("{id}-{BRIDGE_SUFFIX}"),
            short: BRIDGE_SUFFIX.to_string(),
            shared: Arc::clone(&shared),
        };
        let mut lab = Lab {
            test: test_name.to_string(),
            id,
            shared,
            bridge,
            hosts: Vec::new(),
            created: Vec::new(),
        };
        match lab.setup_bridge() {
            Ok(()) => Some(lab),
            Err(reason) => {
                drop(lab); // removes whatever was created
                unavailable(test_name, &reason)
            }
        }
    }

    /// Creates the bridge namespace. `Err` (a reason to skip) when network
    /// namespaces or bridges are unavailable; panics on other failures.
    fn setup_bridge(&mut self) -> Result<(), String> {
        let ns = self.bridge.name.clone();
        netns_add(&ns).map_err(|e| {
            format!("`ip netns add` failed, network namespaces are unavailable: {e}")
        })?;
        self.created.push(ns.clone());
        let must = |result: Result<(), String>| {
            if let Err(e) = result {
                panic!("lab {}: cannot set up the bridge namespace: {e}", self.test);
            }
        };
        // No addresses at all in the bridge namespace: IPv6 off before br0
        // and the ports exist (bridging of IPv6 frames is unaffected).
        must(self.bridge.disable_ipv6_default(true));
        must(checked(ip_cmd().args(["-n", &ns, "link", "set", "lo", "up"])).map(drop));
        checked(ip_cmd().args([
            "-n",
            &ns,
            "link",
            "add",
            BRIDGE_IF,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        ]))
        .map_err(|e| format!("cannot create a bridge (is the bridge module available?): {e}"))?;
        must(checked(ip_cmd().args(["-n", &ns, "link", "set", BRIDGE_IF, "up"])).map(drop));
        Ok(())
    }

    /// Adds a host `name` (`[a-z0-9]`, 1 to 12 characters, not `br`) with
    /// the given IPv4 addresses (`"10.77.0.1/24"` style, zero or more) on its
    /// `eth0`. Panics on invalid arguments or when a setup command fails.
    #[track_caller]
    pub fn add_host(&mut self, name: &str, addrs: &[&str]) -> &Host {
        let valid = !name.is_empty()
            && name.len() <= MAX_HOST_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        assert!(
            valid,
            "lab {}: invalid host name {name:?}: use 1 to {MAX_HOST_NAME} characters [a-z0-9]",
            self.test
        );
        assert!(
            name != BRIDGE_SUFFIX,
            "lab {}: the host name {name:?} is reserved for the bridge namespace",
            self.test
        );
        assert!(
            self.hosts.iter().all(|h| h.name != name),
            "lab {}: duplicate host name {name:?}",
            self.test
        );
        assert!(self.hosts.len() < 250, "lab {}: too many hosts", self.test);
        let parsed: Vec<(Ipv4Addr, u8)> = addrs
            .iter()
            .map(|a| {
                parse_cidr(a).unwrap_or_else(|| {
                    panic!(
                        "lab {}: invalid address {a:?} for host {name}: expected e.g. \"10.77.0.1/24\"",
                        self.test
                    )
                })
            })
            .collect();

        let ns = format!("{}-{name}", self.id);
        let port = format!("p-{name}");
        let wanted_mac = format!("02:68:71:00:00:{:02x}", self.hosts.len() + 1);
        let netns = Netns {
            name: ns.clone(),
            short: name.to_string(),
            shared: Arc::clone(&self.shared),
        };
        let fail = |what: &str, e: String| -> ! {
            panic!("lab {}: cannot set up host {name}: {what}: {e}", self.test)
        };

        if let Err(e) = netns_add(&ns) {
            fail("ip netns add", e);
        }
        self.created.push(ns.clone());
        // eth0 inherits `default`: it gets no IPv6 (link-local) address.
        if let Err(e) = netns.disable_ipv6_default(false) {
            fail("disable IPv6", e);
        }
        let br = &self.bridge.name;
        let steps: Vec<Vec<&str>> = vec![
            vec!["-n", &ns, "link", "set", "lo", "up"],
            vec![
                "-n",
                br,
                "link",
                "add",
                &port,
                "type",
                "veth",
                "peer",
                "name",
                HOST_IF,
                "address",
                &wanted_mac,
                "netns",
                &ns,
            ],
            vec!["-n", br, "link", "set", &port, "master", BRIDGE_IF],
            vec!["-n", br, "link", "set", &port, "up"],
            vec!["-n", &ns, "link", "set", HOST_IF, "up"],
        ];
        for step in &steps {
            if let Err(e) = checked(ip_cmd().args(step)) {
                fail("ip", e);
            }
        }
        for a in addrs {
            if let Err(e) = checked(ip_cmd().args(["-n", &ns, "addr", "add", a, "dev", HOST_IF])) {
                fail("ip addr add", e);
            }
        }
        let out = checked(ip_cmd().args(["-n", &ns, "-o", "link", "show", "dev", HOST_IF]))
            .unwrap_or_else(|e| fail("ip link show", e));
        let text = String::from_utf8_lossy(&out.stdout);
        let mac = text
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .map(str::to_string)
            .unwrap_or_else(|| fail("read MAC", format!("unexpected output {text:?}")));

        self.hosts.push(Host {
            name: name.to_string(),
            netns,
            mac,
            addrs: parsed,
            bridge_port: port,
        });
        self.hosts.last().expect("just pushed")
    }

    /// The host called `name`; panics if there is none.
    #[track_caller]
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("lab {}: no host called {name:?}", self.test))
    }

    /// All hosts, in the order they were added.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Plugs a namespace that already exists (a host of another [`Lab`]:
    /// a box on two segments) into this lab's bridge as a second
    /// interface `ifname` with the given IPv4 addresses. `tag` names the
    /// bridge port `p-<tag>` (cut the link with `ip link set p-<tag> down`
    /// in [`Lab::bridge`]), which is returned. The link goes away with
    /// either namespace, so each lab's teardown cleans it up.
    #[track_caller]
    pub fn attach(&self, ns: &str, tag: &str, ifname: &str, addrs: &[&str]) -> String {
        let port = format!("p-{tag}");
        let br = &self.bridge.name;
        let fail = |e: String| -> ! {
            panic!(
                "lab {}: cannot attach namespace {ns} as {ifname}: {e}",
                self.test
            )
        };
        let mut steps: Vec<Vec<&str>> = vec![
            vec![
                "-n", br, "link", "add", &port, "type", "veth", "peer", "name", ifname, "netns", ns,
            ],
            vec!["-n", br, "link", "set", &port, "master", BRIDGE_IF],
            vec!["-n", br, "link", "set", &port, "up"],
        ];
        for a in addrs {
            steps.push(vec!["-n", ns, "addr", "add", a, "dev", ifname]);
        }
        steps.push(vec!["-n", ns, "link", "set", ifname, "up"]);
        for step in &steps {
            if let Err(e) = checked(ip_cmd().args(step)) {
                fail(e);
            }
        }
        port
    }

    /// The bridge namespace: run `nft`, `tc`, `bridge`, `tcpdump`... there.
    /// The bridge is [`BRIDGE_IF`], host `h`'s port is `h.bridge_port()`.
    pub fn bridge(&self) -> &Netns {
        &self.bridge
    }

    /// Names of all namespaces of this lab (bridge first, then the hosts).
    pub fn namespaces(&self) -> Vec<String> {
        self.created.clone()
    }

    /// Per-lab directory for logs and any files the test wants to write.
    /// Removed on drop, kept when the test panicked.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Writes a hamasq config for `host` (`hq-HOST/hamasq.conf` in the lab
    /// directory): a `[general]` with no pid file, the state directory
    /// beside it and debug logging, then `body`. Returns its path.
    pub fn hamasq_conf(&self, host: &str, body: &str) -> PathBuf {
        let dir = self.dir().join(format!("hq-{host}"));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("hamasq.conf");
        fs::write(
            &p,
            format!(
                "[general]\npid-file = none\nstate-dir = {}\nlog-level = debug\n\n{body}",
                dir.join("state").display()
            ),
        )
        .unwrap();
        p
    }

    /// The test name given to [`Lab::new`].
    pub fn test_name(&self) -> &str {
        &self.test
    }

    /// `hqlab-<pid>-<seq>`, the prefix of all the namespace names.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn teardown(&mut self) {
        let panicking = thread::panicking();
        // 1. Our own processes: SIGKILL by pid, then reap.
        let procs = std::mem::take(&mut *lock(&self.shared.procs));
        for p in &procs {
            if let Err(e) = p.kill_and_reap() {
                warn(&format!("lab {}: {e}", self.test));
            }
        }
        if panicking {
            // Written straight to stderr (as all teardown output): eprintln!
            // could itself panic, which would abort the test binary here.
            let mut dump = String::new();
            for p in &procs {
                let log = read_lossy(&p.log);
                let _ = write!(
                    dump,
                    "----- lab {}: last {LOG_TAIL_LINES} lines of {} (pid {}, {}) -----\n{}\n----- end of log -----\n",
                    self.test,
                    p.label,
                    p.pid,
                    p.log.display(),
                    tail(&log, LOG_TAIL_LINES)
                );
            }
            note(&dump);
        }
        // 2. Anything else still running inside the lab (daemonised
        // children, orphans of `sh -c`, background jobs): SIGKILL by pid.
        for ns in self.created.iter().rev() {
            kill_netns_pids(ns);
        }
        // 3. Hosts first, the bridge last.
        for ns in self.created.iter().rev() {
            if let Err(e) = netns_del(ns) {
                warn(&format!(
                    "lab {}: cannot delete namespace {ns}: {e}",
                    self.test
                ));
            }
        }
        let left: Vec<String> = netns_list()
            .into_iter()
            .filter(|n| self.created.contains(n))
            .collect();
        if !left.is_empty() {
            warn(&format!(
                "lab {}: namespaces left behind: {left:?}",
                self.test
            ));
        }
        self.created.clear();
        // 4. The directory: kept for post-mortem when the test failed.
        let dir = &self.shared.dir;
        if panicking {
            note(&format!(
                "lab {}: panicking, keeping the lab directory {}\n",
                self.test,
                dir.display()
            ));
        } else if let Err(e) = fs::remove_dir_all(dir)
            && e.kind() != io::ErrorKind::NotFound
        {
            warn(&format!(
                "lab {}: cannot remove {}: {e}",
                self.test,
                dir.display()
            ));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Skip (loudly) or, when CI requires the lab, panic.
pub fn unavailable(test: &str, reason: &str) -> Option<Lab> {
    if require_lab() {
        panic!(
            "lab test {test} cannot run: {reason} ({REQUIRE_ENV} is set, so this is an error, not a skip)"
        );
    }
    // Straight to the stderr handle: eprintln! output of a passing test is
    // swallowed by the test harness, this is not.
    let mut err = io::stderr().lock();
    let _ = writeln!(
        err,
        "SKIPPED lab test {test}: {reason} (set {REQUIRE_ENV}=1 to make this an error)"
    );
    None
}

/// Whether every program in `cmds` is installed (in sbin or bin). When
/// one is missing the test skips as loudly as a lab that cannot be made,
/// and fails instead when CI requires the lab: `contrib/run-tests`
/// installs them all.
pub fn have_commands(test: &str, cmds: &[&str]) -> bool {
    for c in cmds {
        let found = [
            "/usr/local/sbin",
            "/usr/local/bin",
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
            "/bin",
        ]
        .iter()
        .any(|d| Path::new(d).join(c).exists());
        if !found {
            unavailable(
                test,
                &format!("{c} is not installed (contrib/run-tests installs it)"),
            );
            return false;
        }
    }
    true
}

/// Like [`have_commands`] for programs named by their full path (e.g.
/// `/usr/bin/python3`, Debian's, when another `python3` may come first on
/// PATH): skips loudly, or fails when CI requires the lab, when one is
/// missing.
pub fn have_programs_at(test: &str, paths: &[&str]) -> bool {
    for p in paths {
        if !Path::new(p).exists() {
            unavailable(
                test,
                &format!("{p} is not installed (contrib/run-tests installs it)"),
            );
            return false;
        }
    }
    true
}

fn require_lab() -> bool {
    std::env::var_os(REQUIRE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

// ---------------------------------------------------------------------------
// Namespaces and hosts
// ---------------------------------------------------------------------------

/// A namespace of the lab (a host's or the bridge's).
pub struct Netns {
    name: String,
    short: String,
    shared: Arc<Shared>,
}

impl Netns {
    /// The namespace name, as in `ip netns list`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec <ns> argv...`, not started, for callers that need
    /// stdin, environment or other `Command` settings. Prefer `run`/`spawn`.
    pub fn command(&self, argv: &[&str]) -> Command {
        assert!(
            !argv.is_empty(),
            "empty command for namespace {}",
            self.name
        );
        let mut cmd = ip_cmd();
        cmd.args(["netns", "exec", &self.name]).args(argv);
        cmd
    }

    /// Runs `argv` in the namespace and returns its output, whatever the
    /// exit status. Killed after [`DEFAULT_RUN_TIMEOUT`].
    pub fn run(&self, argv: &[&str]) -> Output {
        self.run_timeout(argv, DEFAULT_RUN_TIMEOUT)
    }

    /// Like [`Netns::run`] with an explicit timeout. A command that times
    /// out is killed; its status is then "killed by SIGKILL" and its stderr
    /// ends with a `[lab] ... timed out` note.
    pub fn run_timeout(&self, argv: &[&str], timeout: Duration) -> Output {
        let mut cmd = self.command(argv);
        run_bounded(&mut cmd, timeout).unwrap_or_else(|e| {
            panic!(
                "cannot start {} in namespace {}: {e}",
                argv.join(" "),
                self.name
            )
        })
    }

    /// Runs `argv` and panics, showing status, stdout and stderr, unless it
    /// exits successfully.
    #[track_caller]
    pub fn run_ok(&self, argv: &[&str]) -> Output {
        let out = self.run(argv);
        if !out.status.success() {
            panic!("{}", describe_failure(&self.name, &argv.join(" "), &out));
        }
        out
    }

    /// Runs `sh -c script` in the namespace.
    pub fn sh(&self, script: &str) -> Output {
        self.run(&["sh", "-c", script])
    }

    /// Runs `sh -c script` and panics with its output unless it succeeds.
    #[track_caller]
    pub fn sh_ok(&self, script: &str) -> Output {
        let out = self.sh(script);
        if !out.status.success() {
            panic!("{}", describe_failure(&self.name, script, &out));
        }
        out
    }

    /// Starts a long-running `argv` in the namespace. Its stdout and stderr
    /// go to a log file in the lab directory. The process is killed and
    /// reaped when the returned handle or the lab is dropped.
    pub fn spawn(&self, argv: &[&str]) -> Proc {
        let mut cmd = self.command(argv);
        let n = self.shared.next_proc.fetch_add(1, Ordering::Relaxed);
        let prog = Path::new(argv[0])
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let log =
            self.shared
                .dir
                .join(format!("{n:02}-{}-{}.log", self.short, sanitize(&prog, 32)));
        let out = File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create the log {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot duplicate the log {}: {e}", log.display()));
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let label = format!("[{}] {}", self.short, argv.join(" "));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label} in namespace {}: {e}", self.name));
        let inner = Arc::new(ProcInner {
            pid: child.id(),
            label,
            log,
            child: Mutex::new(child),
        });
        let mut procs = lock(&self.shared.procs);
        // Exited processes stay registered: their logs are dumped when the
        // test panics, and a crashed daemon's log is the interesting one.
        procs.push(Arc::clone(&inner));
        Proc { inner }
    }

    /// Writes `value` to the sysctl `key` of this namespace (`net.ipv4.ip_forward`
    /// or `net/ipv4/ip_forward`; use the slash form when an interface name
    /// contains a dot). Panics on failure.
    #[track_caller]
    pub fn sysctl(&self, key: &str, value: &str) {
        let path = if key.contains('/') {
            key.to_string()
        } else {
            key.replace('.', "/")
        };
        let out = self.run(&[
            "sh",
            "-c",
            "printf '%s\\n' \"$2\" > \"/proc/sys/$1\"",
            "sh",
            &path,
            value,
        ]);
        if !out.status.success() {
            panic!(
                "{}",
                describe_failure(&self.name, &format!("sysctl {key}={value}"), &out)
            );
        }
    }

    /// Sets `disable_ipv6` for `default` (and `all` when `all`), if the
    /// kernel has IPv6 at all.
    fn disable_ipv6_default(&self, all: bool) -> Result<(), String> {
        let script = if all {
            "for k in all default; do f=/proc/sys/net/ipv6/conf/$k/disable_ipv6; \
             [ ! -e $f ] || echo 1 > $f || exit 1; done"
        } else {
            "f=/proc/sys/net/ipv6/conf/default/disable_ipv6; [ ! -e $f ] || echo 1 > $f"
        };
        let mut cmd = self.command(&["sh", "-c", script]);
        checked(&mut cmd)
            .map(drop)
            .map_err(|e| format!("cannot disable IPv6 in namespace {}: {e}", self.name))
    }
}

/// A host of the lab: a namespace with `lo` and `eth0`.
pub struct Host {
    name: String,
    netns: Netns,
    mac: String,
    addrs: Vec<(Ipv4Addr, u8)>,
    bridge_port: String,
}

impl Host {
    /// The short host name given to [`Lab::add_host`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace name (`hqlab-<pid>-<seq>-<host>`).
    pub fn ns(&self) -> &str {
        &self.netns.name
    }

    /// The namespace handle.
    pub fn netns(&self) -> &Netns {
        &self.netns
    }

    /// The interface inside the host, always [`HOST_IF`] (`eth0`).
    pub fn ifname(&self) -> &str {
        HOST_IF
    }

    /// MAC address of `eth0`, lower-case `xx:xx:xx:xx:xx:xx`.
    pub fn mac(&self) -> &str {
        &self.mac
    }

    /// The static addresses and prefix lengths, in the order given.
    pub fn addrs(&self) -> &[(Ipv4Addr, u8)] {
        &self.addrs
    }

    /// The first static address; panics when the host has none.
    #[track_caller]
    pub fn ip(&self) -> Ipv4Addr {
        match self.addrs.first() {
            Some((a, _)) => *a,
            None => panic!("host {} has no static address", self.name),
        }
    }

    /// Name of this host's port on the bridge, inside the bridge namespace.
    pub fn bridge_port(&self) -> &str {
        &self.bridge_port
    }

    /// Turns IPv6 on for `eth0` (off by default). The kernel then adds a
    /// link-local address, which is usable after duplicate address detection.
    pub fn enable_ipv6(&self) {
        self.netns
            .sysctl(&format!("net/ipv6/conf/{HOST_IF}/disable_ipv6"), "0");
    }

    /// See [`Netns::command`].
    pub fn command(&self, argv: &[&str]) -> Command {
        self.netns.command(argv)
    }

    /// See [`Netns::run`].
    pub fn run(&self, argv: &[&str]) -> Output {
        self.netns.run(argv)
    }

    /// See [`Netns::run_timeout`].
    pub fn run_timeout(&self, argv: &[&str], timeout: Duration) -> Output {
        self.netns.run_timeout(argv, timeout)
    }

    /// See [`Netns::run_ok`].
    #[track_caller]
    pub fn run_ok(&self, argv: &[&str]) -> Output {
        self.netns.run_ok(argv)
    }

    /// See [`Netns::sh`].
    pub fn sh(&self, script: &str) -> Output {
        self.netns.sh(script)
    }

    /// See [`Netns::sh_ok`].
    #[track_caller]
    pub fn sh_ok(&self, script: &str) -> Output {
        self.netns.sh_ok(script)
    }

    /// See [`Netns::spawn`].
    pub fn spawn(&self, argv: &[&str]) -> Proc {
        self.netns.spawn(argv)
    }

    /// See [`Netns::sysctl`].
    #[track_caller]
    pub fn sysctl(&self, key: &str, value: &str) {
        self.netns.sysctl(key, value)
    }
}

// ---------------------------------------------------------------------------
// Long-running processes
// ---------------------------------------------------------------------------

/// A process started with [`Netns::spawn`]. Dropping it kills (SIGKILL, by
/// its own pid) and reaps the process; so does dropping the lab.
pub struct Proc {
    inner: Arc<ProcInner>,
}

struct ProcInner {
    pid: u32,
    label: String,
    log: PathBuf,
    /// Only this mutex reaps the child, so while it is held and the child
    /// is not reaped, `pid` cannot belong to another process.
    child: Mutex<Child>,
}

impl ProcInner {
    fn kill_and_reap(&self) -> Result<ExitStatus, String> {
        let mut child = lock(&self.child);
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(status);
        }
        // std's kill is a no-op once the child is reaped, never hits a
        // recycled pid.
        if let Err(e) = child.kill() {
            return Err(format!(
                "cannot kill {} (pid {}): {e}",
                self.label, self.pid
            ));
        }
        let deadline = Instant::now() + REAP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
                Ok(None) => {
                    return Err(format!(
                        "{} (pid {}) not reaped {REAP_TIMEOUT:?} after SIGKILL",
                        self.label, self.pid
                    ));
                }
                Err(e) => {
                    return Err(format!(
                        "cannot reap {} (pid {}): {e}",
                        self.label, self.pid
                    ));
                }
            }
        }
    }
}

impl Proc {
    /// The process id (that of the program itself: `ip netns exec` execs it).
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// `[host] argv...`, for messages.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// The log file receiving stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.inner.log
    }

    /// The log so far (invalid UTF-8 replaced).
    pub fn logs(&self) -> String {
        read_lossy(&self.inner.log)
    }

    /// Exit status if the process has exited (reaps it), else `None`.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        lock(&self.inner.child).try_wait().ok().flatten()
    }

    /// Whether the process has not exited yet.
    pub fn is_running(&self) -> bool {
        self.exit_status().is_none()
    }

    /// Waits up to `timeout` for the process to exit on its own.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(POLL);
        }
    }

    /// Sends signal `sig` (e.g. [`SIGHUP`]) to the process, by its pid.
    /// Fails when the process has already exited.
    pub fn signal(&self, sig: i32) -> io::Result<()> {
        let mut child = lock(&self.inner.child);
        if let Ok(Some(status)) = child.try_wait() {
            return Err(io::Error::other(format!(
                "{} (pid {}) has already exited ({status})",
                self.inner.label, self.inner.pid
            )));
        }
        let pid = i32::try_from(self.inner.pid).map_err(io::Error::other)?;
        // SAFETY: plain syscall; the child is not reaped (checked above,
        // under the lock that alone reaps it), so the pid is still ours.
        if unsafe { sys::kill(pid, sig) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Kills the process (SIGKILL, by pid) and reaps it. Idempotent.
    /// Returns its exit status, or `None` (with a warning) if it could not
    /// be reaped in time.
    pub fn kill(&self) -> Option<ExitStatus> {
        match self.inner.kill_and_reap() {
            Ok(status) => Some(status),
            Err(e) => {
                warn(&e);
                None
            }
        }
    }

    /// Waits until `pattern` appears in the log and returns the log; panics
    /// with the log after `timeout`, or as soon as the process has exited
    /// without printing it.
    #[track_caller]
    pub fn wait_for_log(&self, pattern: &str, timeout: Duration) -> String {
        self.wait_for_log_count(pattern, 1, timeout)
    }

    /// Waits until this hamasq logged VRRP `role` (`active`, `backup`) for
    /// `instance`; panics like [`Proc::wait_for_log`].
    #[track_caller]
    pub fn wait_role(&self, instance: &str, role: &str, timeout: Duration) -> String {
        self.wait_for_log(
            &format!("vrrp.state instance={instance} role={role}"),
            timeout,
        )
    }

    /// Waits until `pattern` occurs at least `count` times in the log;
    /// panics like [`Proc::wait_for_log`].
    #[track_caller]
    pub fn wait_for_log_count(&self, pattern: &str, count: usize, timeout: Duration) -> String {
        match self.try_wait_for_log_count(pattern, count, timeout) {
            Ok(log) => log,
            Err(e) => panic!("{e}"),
        }
    }

    /// Non-panicking [`Proc::wait_for_log`]: `Err` holds an explanation
    /// including the log.
    pub fn try_wait_for_log(&self, pattern: &str, timeout: Duration) -> Result<String, String> {
        self.try_wait_for_log_count(pattern, 1, timeout)
    }

    /// Non-panicking [`Proc::wait_for_log_count`].
    pub fn try_wait_for_log_count(
        &self,
        pattern: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            // Status first, then the log: all output of an exited process
            // is in the file by the time it is read.
            let exited = self.exit_status();
            let log = self.logs();
            if log.matches(pattern).count() >= count {
                return Ok(log);
            }
            let why = match exited {
                Some(status) => format!("the process exited ({status})"),
                None if Instant::now() >= deadline => format!("timed out after {timeout:?}"),
                None => {
                    thread::sleep(POLL);
                    continue;
                }
            };
            return Err(format!(
                "{} (pid {}): {why} before {pattern:?} appeared {count} time(s) in its log\n\
                 ----- {} -----\n{log}\n----- end of log -----",
                self.inner.label,
                self.inner.pid,
                self.inner.log.display()
            ));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Err(e) = self.inner.kill_and_reap() {
            warn(&e);
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers, also usable by tests
// ---------------------------------------------------------------------------

/// Whether the effective user is root.
pub fn is_root() -> bool {
    sys::geteuid() == 0
}

/// The names in `ip netns list` (empty when it cannot be read).
pub fn netns_list() -> Vec<String> {
    let Some(out) = ip_quiet(&["netns", "list"]) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The pids of the processes in namespace `ns` (`ip netns pids`).
pub fn netns_pids(ns: &str) -> Vec<u32> {
    let Some(out) = ip_quiet(&["netns", "pids", ns]) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// Exclusive lock, across all processes, on the stale-namespace sweep that
/// [`Lab::new`] runs: while it is held, no lab of any test binary removes
/// namespaces. A test that fabricates "stale" namespaces holds it until they
/// are complete. A `flock` on `/run/lock/hqlab.lock` (or in the temp
/// directory), released on drop or when the process dies. After `timeout`
/// (or if the file cannot be opened), a warning is printed and an unlocked
/// guard returned: the sweep is best-effort.
pub fn cleanup_lock(timeout: Duration) -> CleanupLock {
    use std::os::fd::AsRawFd;
    let dir = Path::new("/run/lock");
    let path = if dir.is_dir() {
        dir.join("hqlab.lock")
    } else {
        std::env::temp_dir().join("hqlab.lock")
    };
    let file = match fs::OpenOptions::new().create(true).append(true).open(&path) {
        Ok(f) => f,
        Err(e) => {
            warn(&format!(
                "cannot open the lock file {}: {e}",
                path.display()
            ));
            return CleanupLock { file: None };
        }
    };
    let deadline = Instant::now() + timeout;
    loop {
        // SAFETY: plain syscall on a descriptor owned by `file`.
        if unsafe { sys::flock(file.as_raw_fd(), sys::LOCK_EX | sys::LOCK_NB) } == 0 {
            return CleanupLock { file: Some(file) };
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::WouldBlock && err.kind() != io::ErrorKind::Interrupted {
            warn(&format!("cannot lock {}: {err}", path.display()));
            return CleanupLock { file: None };
        }
        if Instant::now() >= deadline {
            warn(&format!(
                "{} still locked after {timeout:?}; going on",
                path.display()
            ));
            return CleanupLock { file: None };
        }
        thread::sleep(POLL);
    }
}

/// Guard of [`cleanup_lock`].
pub struct CleanupLock {
    file: Option<File>,
}

impl CleanupLock {
    /// Whether the lock was actually obtained.
    pub fn is_locked(&self) -> bool {
        self.file.is_some()
    }
}

impl Drop for CleanupLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        if let Some(file) = &self.file {
            // SAFETY: plain syscall on a descriptor owned by `file` (closing
            // it would release the lock as well).
            unsafe { sys::flock(file.as_raw_fd(), sys::LOCK_UN) };
        }
    }
}

/// Whether `pid` is a live process (exists and is not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')'.
    match stat.rsplit_once(')') {
        Some((_, rest)) => !matches!(rest.trim_start().chars().next(), Some('Z' | 'X') | None),
        None => false,
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

// ---------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Non-fatal problem (teardown, cleanup): straight to stderr so it is seen
/// even when the test passes.
fn warn(msg: &str) {
    note(&format!("hqlab warning: {msg}\n"));
}

/// Writes `msg` straight to the stderr handle: not captured by the test
/// harness, and never panics.
fn note(msg: &str) {
    let _ = io::stderr().lock().write_all(msg.as_bytes());
}

/// `ip` from PATH or the usual sbin directories.
fn ip_bin() -> Option<&'static Path> {
    static IP: OnceLock<Option<PathBuf>> = OnceLock::new();
    IP.get_or_init(|| {
        std::env::split_paths(&child_path())
            .map(|d| d.join("ip"))
            .find(|p| {
                fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    })
    .as_deref()
}

/// PATH for children, with the sbin directories appended (tools like `ip`,
/// `nft`, `tc` live there and a test's PATH may lack them).
fn child_path() -> OsString {
    static PATH: OnceLock<OsString> = OnceLock::new();
    PATH.get_or_init(|| {
        let current = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&current).collect();
        for extra in ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            if !dirs.iter().any(|d| d == Path::new(extra)) {
                dirs.push(PathBuf::from(extra));
            }
        }
        std::env::join_paths(dirs).unwrap_or(current)
    })
    .clone()
}

fn ip_cmd() -> Command {
    let mut cmd = Command::new(ip_bin().unwrap_or(Path::new("ip")));
    cmd.env("PATH", child_path());
    cmd
}

/// `ip args...` whose failure is not interesting (listing): `None` on error.
fn ip_quiet(args: &[&str]) -> Option<Output> {
    run_bounded(ip_cmd().args(args), SETUP_TIMEOUT)
        .ok()
        .filter(|o| o.status.success())
}

/// Runs a setup command: `Err` with its output unless it succeeds.
fn checked(cmd: &mut Command) -> Result<Output, String> {
    let line = command_line(cmd);
    match run_bounded(cmd, SETUP_TIMEOUT) {
        Ok(out) if out.status.success() => Ok(out),
        Ok(out) => Err(format!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run `{line}`: {e}")),
    }
}

fn command_line(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn netns_add(name: &str) -> Result<(), String> {
    let _guard = lock(&NETNS_ADD_LOCK);
    // Retried: on a fresh machine, test binaries starting together race to
    // turn /run/netns into a shared mount point.
    let mut attempt = 1;
    loop {
        match checked(ip_cmd().args(["netns", "add", name])) {
            Ok(_) => return Ok(()),
            Err(e) if attempt >= 3 || netns_list().iter().any(|n| n == name) => return Err(e),
            Err(_) => {
                attempt += 1;
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn netns_del(name: &str) -> Result<(), String> {
    checked(ip_cmd().args(["netns", "del", name])).map(drop)
}

/// SIGKILLs every process inside namespace `ns`, by pid.
fn kill_netns_pids(ns: &str) {
    let me = std::process::id();
    for pid in netns_pids(ns) {
        if pid == me {
            continue;
        }
        let Ok(p) = i32::try_from(pid) else { continue };
        if p <= 1 {
            continue;
        }
        // SAFETY: plain syscall on a pid just listed as a member of a lab
        // namespace (only lab processes run there).
        unsafe { sys::kill(p, SIGKILL) };
    }
}

/// The `<pid>` of a name `hqlab-<pid>-...`, if it has that shape.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?.strip_prefix('-')?;
    let pid = rest.split('-').next()?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

fn owner_dead(name: &str) -> bool {
    owner_pid(name).is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists())
}

/// Removes the namespaces (killing their processes) of lab owners that are
/// no longer alive, and their lab directories once they are old.
fn cleanup_stale() {
    let _guard = lock(&STALE_LOCK);
    let _flock = cleanup_lock(CLEANUP_LOCK_TIMEOUT);
    for ns in netns_list() {
        if !owner_dead(&ns) {
            continue;
        }
        kill_netns_pids(&ns);
        match netns_del(&ns) {
            Ok(()) => note(&format!(
                "hqlab: removed stale namespace {ns} (its process is gone)\n"
            )),
            // A concurrent test binary may have removed it first.
            Err(e) if netns_list().contains(&ns) => {
                warn(&format!("cannot remove stale namespace {ns}: {e}"))
            }
            Err(_) => {}
        }
    }
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !owner_dead(&name) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age >= STALE_DIR_AGE);
        if meta.is_dir() && old {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Runs `cmd` (any command, e.g. in the root namespace) with stdin from
/// /dev/null, collecting stdout and stderr, and kills it (SIGKILL, by pid)
/// after `timeout`; its stderr then ends with a `[lab] ... timed out` note.
/// Never blocks longer than about `timeout + 12 s`, even if a background
/// grandchild keeps the output pipes open.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> io::Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().map(drain).transpose();
    let stderr = child.stderr.take().map(drain).transpose();
    let (stdout, stderr) = match (stdout, stderr) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            let _ = child.kill();
            let _ = wait_bounded(&mut child, REAP_TIMEOUT);
            return Err(e);
        }
    };

    let mut timed_out = false;
    let status = match wait_bounded(&mut child, timeout)? {
        Some(status) => status,
        None => {
            timed_out = true;
            let _ = child.kill();
            wait_bounded(&mut child, REAP_TIMEOUT)?.unwrap_or_else(|| ExitStatus::from_raw(SIGKILL))
        }
    };

    let deadline = Instant::now() + PIPE_GRACE;
    let drains = [&stdout, &stderr];
    while drains.iter().any(|d| d.as_ref().is_some_and(|d| !d.done())) && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(2));
    }
    let stdout = stdout.map(Drain::take).unwrap_or_default();
    let mut stderr = stderr.map(Drain::take).unwrap_or_default();
    if timed_out {
        let note = format!(
            "\n[lab] `{}` timed out after {timeout:?} and was killed\n",
            command_line(cmd)
        );
        stderr.extend_from_slice(note.as_bytes());
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Polls `child` until it exits or `timeout` passes (short commands return
/// in a millisecond, so the poll interval starts small).
fn wait_bounded(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(POLL);
    }
}

/// Reads a pipe on a thread into a shared buffer.
struct Drain {
    buf: Arc<Mutex<Vec<u8>>>,
    handle: thread::JoinHandle<()>,
}

impl Drain {
    fn done(&self) -> bool {
        self.handle.is_finished()
    }

    fn take(self) -> Vec<u8> {
        std::mem::take(&mut *lock(&self.buf))
    }
}

fn drain<R: Read + Send + 'static>(mut pipe: R) -> io::Result<Drain> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buf);
    let handle = thread::Builder::new()
        .name("hqlab-pipe".into())
        .spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => lock(&sink).extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        })?;
    Ok(Drain { buf, handle })
}

fn describe_failure(ns: &str, what: &str, out: &Output) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "command failed in namespace {ns}: {what}\nstatus: {}\n----- stdout -----\n{}\n----- stderr -----\n{}\n----- end -----",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    s
}

fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (addr, len) = s.split_once('/')?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some(())?;
    Some((addr.parse().ok()?, len))
}

/// `[A-Za-z0-9_]` only, at most `max` characters.
fn sanitize(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(max)
        .collect()
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn tail(s: &str, lines: usize) -> &str {
    let s = s.trim_end();
    match s.rmatch_indices('\n').nth(lines.saturating_sub(1)) {
        Some((i, _)) => &s[i + 1..],
        None => s,
    }
}

/// Writes `text` to `path` as an executable script (mode 0755).
pub fn write_script(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A one-shot busybox udhcpc on eth0 (`-q`: quit once bound; `tries`
/// DISCOVERs `wait_s` seconds apart), running `script`, then `extra`. The
/// script must only record, or configure the namespace's own eth0.
pub fn udhcpc_argv<'a>(
    script: &'a Path,
    tries: &'a str,
    wait_s: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut argv = vec![
        "udhcpc",
        "-i",
        "eth0",
        "-f",
        "-q",
        "-n",
        "-t",
        tries,
        "-T",
        wait_s,
        "-s",
        script.to_str().expect("a UTF-8 path"),
    ];
    argv.extend_from_slice(extra);
    argv
}
