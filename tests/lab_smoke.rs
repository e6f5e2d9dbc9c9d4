//! Smoke tests of the network-namespace test lab (`tests/lab`). They need
//! root; without it they print `SKIPPED lab test ...` (or fail when
//! `HAMASQ_REQUIRE_LAB=1`).

mod lab;

use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use lab::{Host, Lab};

const SECS5: Duration = Duration::from_secs(5);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ping(from: &Host, to: Ipv4Addr) {
    from.run_ok(&["ping", "-c", "1", "-W", "2", &to.to_string()]);
}

/// Interface names in `ip -o link show` output (`eth0@if5` -> `eth0`).
fn link_names(out: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = text(out)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|n| {
            let n = n.trim_end_matches(':');
            n.split('@').next().unwrap_or(n).to_string()
        })
        .collect();
    names.sort();
    names
}

/// `ip args...` in the root namespace; panics unless it succeeds.
fn root_ip(args: &[&str]) -> Output {
    let out = lab::run_bounded(Command::new("ip").args(args), SECS5).expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        text(&out.stderr)
    );
    out
}

#[test]
fn ping_two_hosts() {
    let Some(mut lab) = Lab::new("ping_two_hosts") else {
        return;
    };
    lab.add_host("a", &["10.77.0.1/24", "10.77.1.1/24"]);
    lab.add_host("b", &["10.77.0.2/24", "10.77.1.2/24"]);
    let (a, b) = (lab.host("a"), lab.host("b"));

    ping(a, b.ip());
    ping(b, a.ip());
    ping(a, b.addrs()[1].0);
    ping(b, a.addrs()[1].0);

    let prefix = format!("hqlab-{}-", std::process::id());
    assert!(lab.id().starts_with(&prefix));
    assert_eq!(a.mac(), "02:68:71:00:00:01");
    assert_eq!(b.mac(), "02:68:71:00:00:02");
    for h in [a, b] {
        assert!(h.ns().starts_with(&prefix), "{}", h.ns());
        assert!(h.ns().ends_with(&format!("-{}", h.name())), "{}", h.ns());
        assert_eq!(h.ifname(), "eth0");
        assert_eq!(h.bridge_port(), format!("p-{}", h.name()));
        let link = text(
            &h.run_ok(&["ip", "-o", "link", "show", "dev", "eth0"])
                .stdout,
        );
        assert!(link.contains(&format!("link/ether {} ", h.mac())), "{link}");
        let addrs = text(
            &h.run_ok(&["ip", "-o", "addr", "show", "dev", "eth0"])
                .stdout,
        );
        assert_eq!(h.addrs().len(), 2);
        for (ip, len) in h.addrs() {
            assert!(addrs.contains(&format!("inet {ip}/{len} ")), "{addrs}");
        }
    }

    let names = lab.namespaces();
    assert_eq!(names.len(), 3);
    assert!(names[0].ends_with("-br"));
    let listed = lab::netns_list();
    for n in &names {
        assert!(listed.contains(n), "{n} not in {listed:?}");
    }
    drop(lab);
    let listed = lab::netns_list();
    for n in &names {
        assert!(!listed.contains(n), "{n} still exists after drop");
    }
}

#[test]
fn two_labs_side_by_side() {
    let Some(mut one) = Lab::new("two_labs_side_by_side") else {
        return;
    };
    let Some(mut two) = Lab::new("two_labs_side_by_side") else {
        return;
    };
    // Same host names and addresses in both: names differ, traffic does not mix.
    for l in [&mut one, &mut two] {
        l.add_host("a", &["10.77.0.1/24"]);
        l.add_host("b", &["10.77.0.2/24"]);
    }
    two.add_host("c", &["10.77.0.3/24"]);
    assert_ne!(one.id(), two.id());
    assert_ne!(one.host("a").ns(), two.host("a").ns());

    ping(one.host("a"), one.host("b").ip());
    ping(two.host("a"), two.host("c").ip());
    let out = one
        .host("a")
        .run(&["ping", "-c", "1", "-W", "1", "10.77.0.3"]);
    assert!(!out.status.success(), "lab one reached a host of lab two");
}

#[test]
fn teardown_on_panic() {
    let seen: Mutex<Option<(Vec<String>, PathBuf, u32)>> = Mutex::new(None);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let Some(mut lab) = Lab::new("teardown_on_panic") else {
            return;
        };
        lab.add_host("a", &["10.77.0.1/24"]);
        lab.add_host("b", &[]);
        let p = lab
            .host("a")
            .spawn(&["sh", "-c", "echo hello-from-a; sleep 30"]);
        p.wait_for_log("hello-from-a", SECS5);
        *seen.lock().unwrap() = Some((lab.namespaces(), lab.dir().to_path_buf(), p.pid()));
        panic!("intentional panic inside a lab");
    }));
    let Some((names, dir, pid)) = seen.into_inner().unwrap() else {
        // Skipped; but a panic of Lab::new itself (HAMASQ_REQUIRE_LAB) must
        // not be swallowed here.
        if let Err(e) = result {
            panic::resume_unwind(e);
        }
        return;
    };
    let err = result.expect_err("the closure must have panicked");
    assert_eq!(
        err.downcast_ref::<&str>(),
        Some(&"intentional panic inside a lab")
    );
    assert_eq!(names.len(), 3);
    let listed = lab::netns_list();
    for n in &names {
        assert!(!listed.contains(n), "{n} survived a panic");
    }
    assert!(!lab::pid_alive(pid), "process {pid} survived a panic");
    // The lab directory is kept for post-mortem after a panic.
    let logs: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("lab directory kept after a panic")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        fs::read_to_string(&logs[0])
            .unwrap()
            .contains("hello-from-a")
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn long_running_process() {
    let Some(mut lab) = Lab::new("long_running_process") else {
        return;
    };
    lab.add_host("a", &["10.77.0.1/24"]);
    let a = lab.host("a");
    let p = a.spawn(&["sh", "-c", "echo ready; sleep 30; echo never"]);
    let log = p.wait_for_log("ready", SECS5);
    assert_eq!(log, "ready\n");
    assert_eq!(p.logs(), "ready\n");
    assert!(p.is_running());
    assert!(lab::pid_alive(p.pid()));
    assert!(p.log_path().starts_with(lab.dir()));

    // It runs in the host's namespace, under its own pid.
    let want = text(&a.run_ok(&["readlink", "/proc/self/ns/net"]).stdout);
    let got = fs::read_link(format!("/proc/{}/ns/net", p.pid())).unwrap();
    assert_eq!(got.to_string_lossy(), want.trim());
    let comm = fs::read_to_string(format!("/proc/{}/comm", p.pid())).unwrap();
    assert_eq!(comm.trim(), "sh");
    let in_ns = lab::netns_pids(a.ns());
    assert!(in_ns.contains(&p.pid()), "{in_ns:?}");

    // Killed and reaped when the handle is dropped.
    let pid = p.pid();
    drop(p);
    assert!(!lab::pid_alive(pid), "pid {pid} alive after drop");

    // Killed and reaped by the lab when the handle outlives it; whatever
    // else ran in the namespace (the `sleep` child of sh) is killed too.
    let q = a.spawn(&["sleep", "30"]);
    let qpid = q.pid();
    let dir = lab.dir().to_path_buf();
    drop(lab);
    assert!(!lab::pid_alive(qpid), "pid {qpid} alive after the lab drop");
    assert!(!q.is_running());
    assert_eq!(q.exit_status().and_then(|s| s.signal()), Some(lab::SIGKILL));
    assert_eq!(q.kill().and_then(|s| s.signal()), Some(lab::SIGKILL));
    drop(q);
    assert!(
        lab::wait_until(SECS5, || in_ns.iter().all(|&p| !lab::pid_alive(p))),
        "processes of the namespace survived: {in_ns:?}"
    );
    assert!(!dir.exists(), "lab directory left behind");
}

#[test]
fn signals_and_log_waits() {
    let Some(mut lab) = Lab::new("signals_and_log_waits") else {
        return;
    };
    lab.add_host("a", &[]);
    let a = lab.host("a");
    let p = a.spawn(&[
        "sh",
        "-c",
        "trap 'echo got-hup' HUP; trap 'echo got-term; exit 7' TERM; \
         echo ready; while :; do sleep 0.05; done",
    ]);
    p.wait_for_log("ready", SECS5);
    p.signal(lab::SIGHUP).unwrap();
    p.wait_for_log("got-hup", SECS5);
    p.signal(lab::SIGHUP).unwrap();
    p.wait_for_log_count("got-hup", 2, SECS5);
    p.signal(lab::SIGTERM).unwrap();
    let status = p.wait_exit(SECS5).expect("exits on SIGTERM");
    assert_eq!(status.code(), Some(7));
    assert!(p.logs().contains("got-term"));
    assert!(!p.is_running());
    assert!(
        p.signal(lab::SIGHUP).is_err(),
        "signal to an exited process"
    );

    // A process that exits without the pattern fails the wait at once.
    let q = a.spawn(&["sh", "-c", "echo bye; exit 3"]);
    let start = Instant::now();
    let err = q
        .try_wait_for_log("never-printed", Duration::from_secs(30))
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(err.contains("exit status: 3"), "{err}");
    assert!(err.contains("bye"), "{err}");

    // The wait is bounded.
    let r = a.spawn(&["sleep", "30"]);
    let start = Instant::now();
    let err = r
        .try_wait_for_log("never-printed", Duration::from_millis(300))
        .unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(start.elapsed() < SECS5);
    assert!(err.contains("timed out"), "{err}");
    let panicked = panic::catch_unwind(AssertUnwindSafe(|| {
        r.wait_for_log("never-printed", Duration::from_millis(100))
    }));
    assert!(panicked.is_err());
    assert_eq!(r.kill().and_then(|s| s.signal()), Some(lab::SIGKILL));
}

#[test]
fn run_helpers() {
    let Some(mut lab) = Lab::new("run_helpers") else {
        return;
    };
    lab.add_host("a", &["10.77.0.1/24"]);
    let a = lab.host("a");

    let out = a.sh("echo out; echo err >&2; exit 4");
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");

    // run_ok / sh_ok show everything when they fail.
    let err = panic::catch_unwind(AssertUnwindSafe(|| {
        a.sh_ok("echo visible-stdout; echo visible-stderr >&2; exit 1")
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    for want in ["visible-stdout", "visible-stderr", "exit status: 1", a.ns()] {
        assert!(msg.contains(want), "{want:?} not in {msg}");
    }

    // Commands are bounded.
    let start = Instant::now();
    let out = a.run_timeout(&["sleep", "30"], Duration::from_millis(300));
    assert!(start.elapsed() < SECS5);
    assert_eq!(out.status.signal(), Some(lab::SIGKILL));
    assert!(text(&out.stderr).contains("timed out"));

    // A background job keeping the pipes open does not block `run`; it is
    // killed with the lab.
    let start = Instant::now();
    let out = a.sh("sleep 30 & echo started");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "started\n");
    let in_ns = lab::netns_pids(a.ns());
    assert!(!in_ns.is_empty());

    // The bridge namespace.
    let ports = lab
        .bridge()
        .run_ok(&["ip", "-o", "link", "show", "master", lab::BRIDGE_IF]);
    assert_eq!(link_names(&ports.stdout), vec![a.bridge_port().to_string()]);

    // sysctl and IPv6.
    a.sysctl("net.ipv4.ip_forward", "1");
    let fwd = a.run_ok(&["cat", "/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(text(&fwd.stdout), "1\n");
    let v6 = a.run_ok(&["ip", "-6", "-o", "addr", "show", "dev", "eth0"]);
    assert_eq!(text(&v6.stdout), "", "IPv6 must be off by default");
    a.enable_ipv6();
    assert!(lab::wait_until(SECS5, || {
        let v6 = a.run_ok(&["ip", "-6", "-o", "addr", "show", "dev", "eth0"]);
        text(&v6.stdout).contains("inet6 fe80::")
    }));

    drop(lab);
    assert!(
        lab::wait_until(SECS5, || in_ns.iter().all(|&p| !lab::pid_alive(p))),
        "background job survived the lab: {in_ns:?}"
    );
}

#[test]
fn isolation() {
    let Some(mut lab) = Lab::new("isolation") else {
        return;
    };
    lab.add_host("a", &["10.77.0.1/24"]);
    lab.add_host("b", &["10.77.0.2/24"]);

    for h in lab.hosts() {
        let links = h.run_ok(&["ip", "-o", "link", "show"]);
        assert_eq!(link_names(&links.stdout), ["eth0", "lo"]);

        let routes = text(
            &h.run_ok(&["ip", "-4", "route", "show", "table", "main"])
                .stdout,
        );
        assert!(!routes.trim().is_empty());
        for line in routes.lines() {
            assert!(line.starts_with("10.77.0.0/24 dev eth0 "), "{routes}");
        }
        let routes6 = text(
            &h.run_ok(&["ip", "-6", "route", "show", "table", "main"])
                .stdout,
        );
        assert!(!routes6.contains("eth0"), "{routes6}");

        let addrs = text(
            &h.run_ok(&["ip", "-o", "addr", "show", "dev", "eth0"])
                .stdout,
        );
        assert_eq!(addrs.lines().count(), 1, "{addrs}");
        assert!(addrs.contains(&format!("inet {}/24 ", h.ip())), "{addrs}");

        for outside in ["192.0.2.1", "8.8.8.8"] {
            let out = h.run(&["ip", "route", "get", outside]);
            assert!(
                !out.status.success(),
                "route to {outside} from {}",
                h.name()
            );
            let out = h.run(&["ping", "-c", "1", "-W", "1", outside]);
            assert!(!out.status.success(), "{} reached {outside}", h.name());
        }
    }

    let br = lab.bridge();
    let links = br.run_ok(&["ip", "-o", "link", "show"]);
    assert_eq!(link_names(&links.stdout), ["br0", "lo", "p-a", "p-b"]);
    let addrs = text(&br.run_ok(&["ip", "-o", "addr", "show"]).stdout);
    for line in addrs.lines() {
        assert_eq!(line.split_whitespace().nth(1), Some("lo"), "{addrs}");
    }
    for family in ["-4", "-6"] {
        let routes = br.run_ok(&["ip", family, "route", "show", "table", "main"]);
        assert_eq!(text(&routes.stdout), "", "routes in the bridge namespace");
    }

    // Nothing of the lab shows up in the root namespace.
    let root = text(&root_ip(&["-o", "link", "show"]).stdout);
    for h in lab.hosts() {
        assert!(!root.contains(h.mac()), "{} in the root namespace", h.mac());
    }
    for port in ["p-a", "p-b"] {
        assert!(!link_names(root.as_bytes()).iter().any(|n| n == port));
    }
}

/// Deletes the namespaces, kills the child and removes the directories a
/// test made by hand, also when it fails.
#[derive(Default)]
struct Leftovers {
    namespaces: Vec<String>,
    child: Option<Child>,
    dirs: Vec<PathBuf>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = lab::wait_until(SECS5, || !matches!(child.try_wait(), Ok(None)));
        }
        let listed = lab::netns_list();
        for ns in self.namespaces.iter().filter(|n| listed.contains(n)) {
            let _ = lab::run_bounded(Command::new("ip").args(["netns", "del", ns]), SECS5);
        }
        for dir in &self.dirs {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn stale_namespaces_are_cleaned() {
    const NAME: &str = "stale_namespaces_are_cleaned";
    // Skips (or fails under HAMASQ_REQUIRE_LAB) before anything is made by hand.
    let Some(probe) = Lab::new(NAME) else {
        return;
    };
    drop(probe);

    // A pid above pid_max can never be a live process.
    let pid_max: u32 = fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let dead = pid_max + 1;
    assert!(!Path::new(&format!("/proc/{dead}")).exists());
    let me = std::process::id();
    let stale = format!("hqlab-{dead}-{me}-x");
    // Owned by pid 1, which is alive: must never be touched.
    let live = format!("hqlab-1-{me}-live");
    let tmp = std::env::temp_dir();
    let old_dir = tmp.join(format!("hqlab-{dead}-{me}-old"));
    let new_dir = tmp.join(format!("hqlab-{dead}-{me}-new"));
    let mut made = Leftovers {
        namespaces: vec![stale.clone(), live.clone()],
        child: None,
        dirs: vec![old_dir.clone(), new_dir.clone()],
    };

    {
        // No lab of any test binary sweeps while the fixtures are half made.
        let sweep = lab::cleanup_lock(Duration::from_secs(30));
        assert!(sweep.is_locked());
        root_ip(&["netns", "add", &stale]);
        root_ip(&["netns", "add", &live]);
        fs::create_dir(&old_dir).unwrap();
        fs::create_dir(&new_dir).unwrap();
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        File::open(&old_dir)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
        // A process left running in the stale namespace.
        let child = Command::new("ip")
            .args(["netns", "exec", &stale, "sleep", "60"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let child_pid = child.id();
        made.child = Some(child);
        assert!(
            lab::wait_until(SECS5, || lab::netns_pids(&stale).contains(&child_pid)),
            "the process did not enter {stale}"
        );
    }

    let Some(lab) = Lab::new(NAME) else {
        return;
    };
    let listed = lab::netns_list();
    assert!(!listed.contains(&stale), "stale {stale} not removed");
    assert!(listed.contains(&live), "{live} of a live pid was removed");
    for ns in lab.namespaces() {
        assert!(listed.contains(&ns));
    }
    let child = made.child.as_mut().unwrap();
    assert!(
        lab::wait_until(SECS5, || !matches!(child.try_wait(), Ok(None))),
        "the process in the stale namespace was not killed"
    );
    assert!(!old_dir.exists(), "old stale directory not removed");
    assert!(
        new_dir.exists(),
        "recent directory of a dead pid removed too early"
    );
    drop(lab);
    drop(made);
    assert!(!lab::netns_list().contains(&live));
}

/// A path to this test binary that uid 65534 can execute: the binary
/// itself when every directory on the way is world-searchable, else a copy.
fn exe_for_nobody(made: &mut Leftovers) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let world_x = |p: &Path| fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0);
    if exe.ancestors().all(world_x) {
        return exe;
    }
    let dir = std::env::temp_dir().join(format!("hqlab-{}-probe", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    made.dirs.push(dir.clone());
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join("lab_smoke");
    fs::copy(&exe, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

#[test]
fn not_root_skips_loudly_or_fails_when_required() {
    const NAME: &str = "not_root_skips_loudly_or_fails_when_required";
    if !lab::is_root() {
        // The non-root case is this very process: skip loudly, or panic
        // under HAMASQ_REQUIRE_LAB.
        assert!(Lab::new(NAME).is_none());
        return;
    }
    let mut made = Leftovers::default();
    let exe = exe_for_nobody(&mut made);
    let run_as_nobody = |require: bool| {
        let mut cmd = Command::new(&exe);
        cmd.args(["--exact", "ping_two_hosts", "--test-threads=1"])
            .uid(65534)
            .gid(65534)
            .current_dir("/");
        if require {
            cmd.env(lab::REQUIRE_ENV, "1");
        } else {
            cmd.env_remove(lab::REQUIRE_ENV);
        }
        let out = lab::run_bounded(&mut cmd, Duration::from_secs(60)).unwrap();
        (out.status, text(&out.stdout), text(&out.stderr))
    };

    let (status, stdout, stderr) = run_as_nobody(false);
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "SKIPPED lab test ping_two_hosts: not running as root (uid 65534); \
             the network-namespace tests need root"
        ),
        "no loud skip message:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("1 passed"), "{stdout}");

    let (status, stdout, stderr) = run_as_nobody(true);
    assert!(!status.success(), "must fail under {}", lab::REQUIRE_ENV);
    let all = format!("{stdout}\n{stderr}");
    assert!(
        all.contains("lab test ping_two_hosts cannot run: not running as root (uid 65534)"),
        "{all}"
    );
    assert!(all.contains(lab::REQUIRE_ENV), "{all}");
    assert!(!all.contains("SKIPPED"), "{all}");
}

#[test]
fn a_missing_command_skips_loudly_or_fails_when_required() {
    assert!(lab::have_commands("commands", &["ip", "sh"]));
    let required = std::env::var(lab::REQUIRE_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    let r =
        std::panic::catch_unwind(|| lab::have_commands("commands", &["sh", "no-such-program-hq"]));
    match r {
        Ok(found) => {
            assert!(
                !required,
                "a missing program must fail the test under {}",
                lab::REQUIRE_ENV
            );
            assert!(!found);
        }
        Err(_) => assert!(
            required,
            "a missing program must only skip without {}",
            lab::REQUIRE_ENV
        ),
    }
}
