//! End-to-end tests of the `hamasq` binary as an operator meets it:
//! `--test`, exit codes, signals, reload, pid file, background start,
//! metrics, privilege drop. Each test uses its own temp dir and ports, and
//! kills only the processes it started, by pid.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");

/// A test's own directory, removed when the test passes and kept (and
/// named on stderr) when it fails, for its logs.
struct TmpDir(PathBuf);

impl std::ops::Deref for TmpDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TmpDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl AsRef<Path> for TmpDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: keeping {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn tmpdir(tag: &str) -> TmpDir {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "hamasq-t-{}-{}-{tag}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TmpDir(d)
}

/// A free TCP port on loopback (bound then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_conf(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("hamasq.conf");
    std::fs::write(&p, body).unwrap();
    p
}

fn base_conf(dir: &Path) -> String {
    format!(
        "[general]\npid-file = {}\nstate-dir = {}\n",
        dir.join("hamasq.pid").display(),
        dir.join("state").display()
    )
}

/// [`base_conf`] plus a `[dns]` section on `port` with no upstreams and
/// no hosts file, and `extra` keys.
fn dns_conf(dir: &Path, port: u16, extra: &str) -> String {
    format!(
        "{}\n[dns]\nport = {port}\nno-resolv = true\nno-hosts = true\n{extra}",
        base_conf(dir)
    )
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// `hamasq --test -c CONF`: its exit code and stderr.
fn check_config(conf: &Path) -> (Option<i32>, String) {
    let o = run(&["--test", "-c", conf.to_str().unwrap()]);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A foreground daemon whose stderr goes to a file; killed by pid on drop.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(conf: &Path, extra: &[&str]) -> Daemon {
        Daemon::start_env(conf, extra, &[])
    }

    fn start_env(conf: &Path, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        let log = conf.with_extension("log");
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .envs(env.iter().copied())
            .arg("-f")
            .arg("-c")
            .arg(conf)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let t0 = Instant::now();
        loop {
            let l = self.log();
            if l.contains(needle) {
                return l;
            }
            assert!(
                t0.elapsed() < timeout,
                "no {needle:?} in log after {timeout:?}:\n{l}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).unwrap();
    }

    /// Waits for exit up to `timeout`; returns the exit code and how long it took.
    fn wait_exit(&mut self, timeout: Duration) -> (Option<i32>, Duration) {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st.code(), t0.elapsed());
            }
            assert!(
                t0.elapsed() < timeout,
                "still running after {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_sample_config_passes_test() {
    let o = run(&[
        "--test",
        "-c",
        concat!(env!("CARGO_MANIFEST_DIR"), "/etc/hamasq.conf"),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "config OK");
}

#[test]
fn three_mistakes_exit_2_and_are_all_named() {
    let d = tmpdir("three");
    let conf = write_conf(
        &d,
        &format!(
            "{}log-levle = info\nmetrics-listen = 192.168.1.300:9153\nlog-rate-limit = 100001\n",
            base_conf(&d)
        ),
    );
    let o = run(&["--test", "-c", conf.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    let f = conf.display();
    assert!(
        err.contains(&format!(
            "{f}:4: [general] log-levle = \"info\": unknown key"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{f}:5: [general] metrics-listen = \"192.168.1.300:9153\": not a valid address"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{f}:6: [general] log-rate-limit = \"100001\": out of range; expected 0 to 100000"
        )),
        "{err}"
    );
    assert!(err.contains("config FAILED: 3 errors"), "{err}");
    assert!(o.stdout.is_empty());
}

/// Issue 15: `[ra NAME]` mistakes are named by `--test`, all at once
/// (RFC 4861 §6.2.1 limits, a `vrrp` that names no instance), and an
/// interface RAs cannot be sent from (loopback: no link-local) fails
/// `--test` as it would fail the start.
#[test]
fn ra_mistakes_are_named_by_test() {
    let d = tmpdir("ra-test");
    let conf = write_conf(
        &d,
        &format!(
            "{}\n[ra lan]\ninterface = lo\nvrrp = nosuch\nmax-interval = 2\n",
            base_conf(&d)
        ),
    );
    let (code, err) = check_config(&conf);
    assert_eq!(code, Some(2), "{err}");
    for want in [
        "[ra lan] vrrp = \"nosuch\": no [vrrp nosuch] section",
        "[ra lan] max-interval = \"2\": out of range; expected 4s to 1800s",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let conf = write_conf(
        &d,
        &format!("{}\n[ra lan]\ninterface = lo\n", base_conf(&d)),
    );
    let (code, err) = check_config(&conf);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("[ra lan] interface = \"lo\": has no IPv6 link-local address"),
        "{err}"
    );
}

/// Issue 13: `[ha]` mistakes are all named by `--test`, each with its key:
/// a pair that is not this box's, a key file that is missing or readable
/// by others, and no `[dhcp]` to replicate (a good section is exercised
/// by every test in tests/ha_replication.rs).
#[test]
fn ha_mistakes_are_named_by_test() {
    let d = tmpdir("ha-test");
    // Neither address is this machine's (TEST-NET-2), the key is missing.
    let conf = write_conf(
        &d,
        &format!(
            "{}\n[ha]\npair = 198.51.100.2, 198.51.100.3\nkey-file = {}/ha.key\n",
            base_conf(&d),
            d.display()
        ),
    );
    let (code, err) = check_config(&conf);
    assert_eq!(code, Some(2), "{err}");
    for want in [
        "[ha] pair = \"198.51.100.2, 198.51.100.3\": exactly one of the two addresses must be this box's own",
        "[ha] pair = \"198.51.100.2, 198.51.100.3\": [ha] replicates DHCP leases and names: it needs a [dhcp] section",
        "[ha] key-file",
        "cannot read it",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    // A key others can read is refused too, with the fix.
    let key = d.join("ha.key");
    std::fs::write(&key, "00".repeat(32)).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let (code, err) = check_config(&conf);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
}

/// Issue 15: the mistakes of an IPv6 `[vrrp NAME]` are all named by
/// `--test` with file, key and value: a first address that is not
/// link-local (RFC 9568 §5.2.9), families mixed in one instance, VRRPv2
/// with IPv6, an IPv4 unicast peer on an IPv6 instance; and an IPv6
/// instance may share its VRID with an IPv4 one (RFC 9568 §7.3).
#[test]
fn ipv6_vrrp_mistakes_are_named_by_test() {
    let d = tmpdir("vrrp6-test");
    let conf = write_conf(
        &d,
        &format!(
            "{}\n[vrrp lan6]\ninterface = lo\nvirtual-router-id = 51\nversion = 2\n\
             virtual-ipaddress = 2001:db8:1::1/64\nvirtual-ipaddress = 10.9.0.1/24\n\
             unicast-peer = 10.9.0.3\n",
            base_conf(&d)
        ),
    );
    let (code, err) = check_config(&conf);
    assert_eq!(code, Some(2), "{err}");
    let f = conf.display();
    for want in [
        format!("{f}:8: [vrrp lan6] version = \"2\": VRRPv2 has no IPv6 form"),
        format!(
            "{f}:9: [vrrp lan6] virtual-ipaddress = \"2001:db8:1::1/64\": 2001:db8:1::1: the first IPv6 virtual address must be the virtual router's link-local address"
        ),
        "10.9.0.1/24: an instance is IPv4 or IPv6 by its first address".to_string(),
        format!("{f}:11: [vrrp lan6] unicast-peer = \"10.9.0.3\": 10.9.0.3 is not an IPv6 address"),
        "config FAILED: 4 errors".to_string(),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    // Fixed, with an IPv4 instance on the same VRID: accepted.
    let conf = write_conf(
        &d,
        &format!(
            "{}\n[vrrp lan6]\ninterface = lo\nvirtual-router-id = 51\n\
             virtual-ipaddress = fe80::1/64\nvirtual-ipaddress = 2001:db8:1::1/64\n\n\
             [vrrp lan]\ninterface = lo\nvirtual-router-id = 51\nvirtual-ipaddress = 127.0.0.200/8\n",
            base_conf(&d)
        ),
    );
    let (code, err) = check_config(&conf);
    // Loopback never has a link-local address: the one machine check left
    // names the interface; the shared VRID is fine.
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("[vrrp lan6] interface = \"lo\": no such interface with an IPv6 link-local"),
        "{err}"
    );
    assert!(err.contains("config FAILED: 1 error"), "{err}");
    assert!(!err.contains("already used"), "{err}");
}

#[test]
fn missing_file_and_bad_arguments_exit_2() {
    let o = run(&["--test", "-c", "/nonexistent/hamasq.conf"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read the config file"));
    let o = run(&["--frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("hamasq "));
}

/// Issue 14 item 3: `--test` passing means the daemon starts. A missing
/// hook script fails `--test` as it would fail the start; a pid-file
/// directory that exists only while a systemd unit runs (/run/hamasq) is
/// accepted, and the daemon creates it; a [dns] interface that does not
/// exist is a warning, as in dnsmasq.
#[test]
fn test_passing_means_the_daemon_starts() {
    let d = tmpdir("willstart");
    let general = format!(
        "[general]\npid-file = {}\nstate-dir = {}\n",
        d.join("run/hamasq.pid").display(),
        d.join("state").display()
    );
    let script = d.join("lease.sh");
    let conf = write_conf(
        &d,
        &format!(
            "{general}[dhcp]\ndhcp-range = 10.99.0.10,10.99.0.20,255.255.255.0\ndhcp-script = {}\n",
            script.display()
        ),
    );
    let (code, err) = check_config(&conf);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("[dhcp] dhcp-script") && err.contains("No such file"),
        "{err}"
    );
    assert!(!err.contains("pid-file"), "{err}");

    let port = free_port();
    let conf = write_conf(
        &d,
        &format!("{general}[dns]\nport = {port}\ninterface = nosuch0\ninterface = lo\n"),
    );
    let (code, err) = check_config(&conf);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("warning: ") && err.contains("interface = \"nosuch0\": no such interface"),
        "{err}"
    );
    assert!(
        !d.join("run").exists(),
        "--test created the pid-file directory"
    );
    let mut dm = Daemon::start(&conf, &[]);
    let l = dm.wait_log("daemon.ready", Duration::from_secs(10));
    assert!(l.contains("warn config.warning"), "{l}");
    assert_eq!(
        std::fs::read_to_string(d.join("run/hamasq.pid"))
            .unwrap()
            .trim(),
        dm.pid().to_string()
    );
    dm.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(dm.wait_exit(Duration::from_secs(5)).0, Some(0));
}

/// Issue 14 item 7: `status --help` and `leases --help` explain
/// themselves; `--help-options` lists the config keys and option names.
#[test]
fn subcommand_help_and_the_option_list() {
    for cmd in ["status", "leases"] {
        let o = run(&[cmd, "--help"]);
        assert_eq!(o.status.code(), Some(0));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.starts_with(&format!("usage: hamasq {cmd} [-c FILE]")),
            "{out}"
        );
    }
    let o = run(&["--help-options"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "  [dhcp]\n    interface\n",
        "    dhcp-range\n",
        "  [vrrp NAME]\n",
        "    3  router\n",
        "  121  classless-static-route",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
}

/// Issue 14 item 7: `hamasq leases` with no daemon reads the lease store,
/// strictly read-only: the files are left byte for byte and nothing is
/// created; a journal that is a symbolic link is refused, not followed.
#[test]
fn leases_reads_the_store_when_no_daemon_runs_and_changes_nothing() {
    use hamasq::dhcp::binding::{HwAddr, Lease};
    use hamasq::dhcp::leases::{JOURNAL, LeaseStore, SNAPSHOT};
    use std::os::unix::fs::MetadataExt;
    let d = tmpdir("leases");
    let state = d.join("state");
    std::fs::create_dir(&state).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    {
        let (mut store, _) = LeaseStore::open(&state, false).unwrap();
        for (i, name) in [(5u8, Some("laptop")), (6, None)] {
            store.stage_upsert(&Lease {
                ip: std::net::Ipv4Addr::new(10, 0, 0, i),
                hw: HwAddr::ether([2, 0, 0, 0, 0, i]),
                client_id: None,
                hostname: name.map(String::from),
                expires: hamasq::clock::UnixTime(now + 3600),
            });
        }
        store.commit().unwrap();
    }
    let conf = write_conf(&d, &base_conf(&d));
    let files = |dir: &Path| {
        let mut v: Vec<(String, Vec<u8>, i64, u64)> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                let m = std::fs::symlink_metadata(e.path()).unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap_or_default(),
                    m.mtime_nsec(),
                    m.ino(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = files(&state);
    assert!(before.iter().any(|f| f.0 == JOURNAL), "{before:?}");
    let o = run(&["leases", "-c", conf.to_str().unwrap()]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("read the lease store in"), "{err}");
    assert_eq!(
        out,
        format!(
            "{e} 02:00:00:00:00:05 10.0.0.5 laptop *\n{e} 02:00:00:00:00:06 10.0.0.6 * *\n",
            e = now + 3600
        )
    );
    assert_eq!(files(&state), before, "hamasq leases changed the store");

    // A planted link in place of the journal: refused, its target untouched.
    let target = d.join("precious");
    std::fs::write(&target, "keep me\n").unwrap();
    std::fs::remove_file(state.join(JOURNAL)).unwrap();
    std::os::unix::fs::symlink(&target, state.join(JOURNAL)).unwrap();
    let o = run(&["leases", "-c", conf.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    assert!(state.join(SNAPSHOT).exists());
}

#[test]
fn sighup_with_a_broken_config_keeps_running_then_a_fixed_one_applies() {
    let d = tmpdir("hup");
    let good = base_conf(&d);
    let conf = write_conf(&d, &good);
    let mut dm = Daemon::start(&conf, &[]);
    dm.wait_log("daemon.ready", Duration::from_secs(10));

    std::fs::write(&conf, format!("{good}log-level = loud\nbogus = 1\n")).unwrap();
    dm.signal(nix::sys::signal::Signal::SIGHUP);
    let l = dm.wait_log("config.reload_failed", Duration::from_secs(5));
    assert!(l.contains("error config.error"), "{l}");
    assert!(l.contains("log-level = \"loud\""), "{l}");
    assert!(l.contains("bogus = \"1\": unknown key"), "{l}");
    assert!(l.contains("errors=2 running=previous-config"), "{l}");
    assert!(
        dm.child.try_wait().unwrap().is_none(),
        "daemon died on a bad reload"
    );

    // A good file applies: debug lines now appear (task.stopped at shutdown is debug).
    std::fs::write(&conf, format!("{good}log-level = debug\n")).unwrap();
    dm.signal(nix::sys::signal::Signal::SIGHUP);
    dm.wait_log("config.reloaded", Duration::from_secs(5));
    dm.signal(nix::sys::signal::Signal::SIGUSR1);
    let l = dm.wait_log("reloads=1 reload_failures=1", Duration::from_secs(5));
    // Compact at info: every single metric only at debug (set here).
    assert!(!l.contains("info stats.metric"), "{l}");
    assert!(l.contains("debug stats.metric"), "{l}");
    assert!(l.contains("log_level=debug"), "{l}");
    dm.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(dm.wait_exit(Duration::from_secs(5)).0, Some(0));
}

#[test]
fn sigterm_exits_0_within_one_second_and_removes_the_pid_file() {
    let d = tmpdir("term");
    let conf = write_conf(&d, &base_conf(&d));
    let mut dm = Daemon::start(&conf, &[]);
    dm.wait_log("daemon.ready", Duration::from_secs(10));
    let pidfile = d.join("hamasq.pid");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        dm.pid().to_string()
    );
    assert!(d.join("state").is_dir(), "state-dir was not created");
    dm.signal(nix::sys::signal::Signal::SIGTERM);
    let (code, took) = dm.wait_exit(Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", dm.log());
    assert!(took < Duration::from_secs(1), "SIGTERM took {took:?}");
    assert!(!pidfile.exists());
    assert!(dm.log().contains("info daemon.stopped exit=0"));
}

#[test]
fn sigint_also_stops_cleanly() {
    let d = tmpdir("int");
    let conf = write_conf(&d, &base_conf(&d));
    let mut dm = Daemon::start(&conf, &[]);
    dm.wait_log("daemon.ready", Duration::from_secs(10));
    dm.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(dm.wait_exit(Duration::from_secs(5)).0, Some(0));
    assert!(dm.log().contains("daemon.stopping signal=SIGINT"));
}

#[test]
fn a_second_instance_on_the_same_pid_file_is_refused() {
    let d = tmpdir("twice");
    let conf = write_conf(&d, &base_conf(&d));
    let first = Daemon::start(&conf, &[]);
    first.wait_log("daemon.ready", Duration::from_secs(10));
    let second_conf = d.join("second.conf");
    std::fs::copy(&conf, &second_conf).unwrap();
    let mut second = Daemon::start(&second_conf, &[]);
    assert_eq!(second.wait_exit(Duration::from_secs(5)).0, Some(1));
    let l = second.log();
    assert!(
        l.contains(&format!(
            "error daemon.start_failed cause=\"pid file {}: another hamasq is running (pid {})\"",
            d.join("hamasq.pid").display(),
            first.pid()
        )),
        "{l}"
    );
    // The first one is untouched.
    assert_eq!(
        std::fs::read_to_string(d.join("hamasq.pid"))
            .unwrap()
            .trim(),
        first.pid().to_string()
    );
}

#[test]
fn metrics_are_served_and_a_busy_port_fails_the_start_with_exit_1() {
    let d = tmpdir("metrics");
    let port = free_port();
    let conf = write_conf(
        &d,
        &format!("{}metrics-listen = 127.0.0.1:{port}\n", base_conf(&d)),
    );
    let dm = Daemon::start(&conf, &[]);
    dm.wait_log("daemon.ready", Duration::from_secs(10));
    let r = http_get(port, "/metrics");
    assert!(r.starts_with("HTTP/1.0 200 OK"), "{r}");
    assert!(
        r.contains("# TYPE hamasq_config_reloads_total counter"),
        "{r}"
    );
    assert!(r.contains("hamasq_build_info{version="), "{r}");
    assert!(http_get(port, "/").starts_with("HTTP/1.0 404"));

    // Same port, other pid file: the start fails, loudly, with exit 1.
    let d2 = tmpdir("metrics2");
    let conf2 = write_conf(
        &d2,
        &format!("{}metrics-listen = 127.0.0.1:{port}\n", base_conf(&d2)),
    );
    let mut second = Daemon::start(&conf2, &[]);
    assert_eq!(second.wait_exit(Duration::from_secs(5)).0, Some(1));
    assert!(
        second
            .log()
            .contains("daemon.start_failed cause=\"cannot listen for metrics on 127.0.0.1"),
        "{}",
        second.log()
    );
}

/// Issue 14 item 4: in the background, logs go to syslog unless
/// `log-target` says otherwise; the launching shell's stderr gets nothing
/// once the daemon is up.
#[test]
fn a_background_daemon_leaves_the_terminal_alone_unless_told() {
    for (extra, on_stderr) in [("", false), ("log-target = stderr\n", true)] {
        let d = tmpdir("bglog");
        let conf = write_conf(&d, &format!("{}{extra}", base_conf(&d)));
        let err = d.join("stderr");
        let o = Command::new(BIN)
            .arg("-c")
            .arg(&conf)
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        assert_eq!(o.code(), Some(0));
        let pid: i32 = std::fs::read_to_string(d.join("hamasq.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let p = nix::unistd::Pid::from_raw(pid);
        nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGUSR1).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGTERM).unwrap();
        let t0 = Instant::now();
        while nix::sys::signal::kill(p, None).is_ok() {
            assert!(t0.elapsed() < Duration::from_secs(5), "daemon did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = std::fs::read_to_string(&err).unwrap();
        assert_eq!(
            text.contains("daemon.ready") && text.contains("daemon.stopped"),
            on_stderr,
            "log-target {extra:?}: stderr was:\n{text}"
        );
        if !on_stderr {
            assert!(text.is_empty(), "{text}");
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}

#[test]
fn background_start_returns_after_ready_and_reports_start_failures() {
    let d = tmpdir("bg");
    let conf = write_conf(&d, &base_conf(&d));
    let o = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    // When the command has returned, the daemon is already up: pid file written.
    let pid: i32 = std::fs::read_to_string(d.join("hamasq.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let p = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(p, None).expect("daemon is running");
    // It left our session (setsid), and it is not a session leader
    // (second fork), so it can never reacquire a controlling terminal.
    let sid = nix::unistd::getsid(Some(p)).unwrap();
    assert_ne!(sid, nix::unistd::getsid(None).unwrap());
    assert_ne!(sid, p);

    // A second background start fails and its exit code comes back to us.
    let o = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("another hamasq is running"));

    nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGTERM).unwrap();
    let t0 = Instant::now();
    while nix::sys::signal::kill(p, None).is_ok() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "background daemon did not stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!d.join("hamasq.pid").exists());
}

#[test]
fn log_level_flag_overrides_the_file() {
    let d = tmpdir("lvl");
    let conf = write_conf(&d, &format!("{}log-level = error\n", base_conf(&d)));
    let mut dm = Daemon::start(&conf, &["--log-level", "debug"]);
    dm.wait_log("daemon.ready", Duration::from_secs(10));
    dm.signal(nix::sys::signal::Signal::SIGTERM);
    dm.wait_exit(Duration::from_secs(5));
    // daemon.ready is info: it would be hidden at `error`.
    assert!(dm.log().contains("info daemon.stopped"));
}

#[test]
fn runs_as_an_unprivileged_user_with_only_three_capabilities() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!(
            "SKIPPED runs_as_an_unprivileged_user_with_only_three_capabilities: not root; dropping privileges needs root"
        );
        assert!(
            std::env::var("HAMASQ_REQUIRE_ROOT").is_err(),
            "HAMASQ_REQUIRE_ROOT is set but we are not root"
        );
        return;
    }
    let d = tmpdir("user");
    let conf = write_conf(&d, &format!("{}user = nobody\n", base_conf(&d)));
    let mut dm = Daemon::start(&conf, &[]);
    dm.wait_log(
        "daemon.privileges_dropped user=nobody",
        Duration::from_secs(10),
    );
    dm.wait_log("daemon.ready", Duration::from_secs(10));
    let status = std::fs::read_to_string(format!("/proc/{}/status", dm.pid())).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    assert!(
        field("Uid:").starts_with(&nobody.uid.to_string()),
        "{status}"
    );
    assert_eq!(field("CapEff:"), "0000000000003400", "{status}");
    assert_eq!(field("CapPrm:"), "0000000000003400", "{status}");
    assert_eq!(field("NoNewPrivs:"), "1", "{status}");
    // The state dir now belongs to the user.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(d.join("state")).unwrap().uid(),
        nobody.uid.as_raw()
    );
    dm.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(dm.wait_exit(Duration::from_secs(5)).0, Some(0));
}

/// Plays systemd: a datagram socket as NOTIFY_SOCKET and a watchdog. The
/// daemon says READY=1 once up, pings WATCHDOG=1 at half of WATCHDOG_USEC,
/// brackets a reload with RELOADING=1 / READY=1 and says STOPPING=1.
#[test]
fn sd_notify_ready_watchdog_reload_and_stop() {
    use std::os::unix::net::UnixDatagram;
    let dir = tmpdir("sdnotify");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let conf = write_conf(&dir, &base_conf(&dir));
    let mut d = Daemon::start_env(
        &conf,
        &[],
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let mut got: Vec<String> = Vec::new();
    let recv_until = |got: &mut Vec<String>, want: &dyn Fn(&[String]) -> bool, within: Duration| {
        let t0 = Instant::now();
        let mut buf = [0u8; 512];
        while !want(got) {
            assert!(t0.elapsed() < within, "notifications so far: {got:?}");
            if let Ok(n) = sock.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    };
    recv_until(
        &mut got,
        &|g| g.iter().any(|m| m.starts_with("READY=1")),
        Duration::from_secs(5),
    );
    let ready_at = got.len();
    // Two pings within a second at a 400 ms watchdog (every 200 ms).
    recv_until(
        &mut got,
        &|g| g[ready_at..].iter().filter(|m| *m == "WATCHDOG=1").count() >= 2,
        Duration::from_secs(1),
    );
    d.signal(nix::sys::signal::Signal::SIGHUP);
    recv_until(
        &mut got,
        &|g| {
            let r = g.iter().position(|m| m.starts_with("RELOADING=1"));
            r.is_some_and(|r| g[r..].iter().any(|m| m.starts_with("READY=1")))
        },
        Duration::from_secs(5),
    );
    assert!(
        got.iter()
            .find(|m| m.starts_with("RELOADING=1"))
            .is_some_and(|m| m.contains("MONOTONIC_USEC=")),
        "{got:?}"
    );
    d.signal(nix::sys::signal::Signal::SIGTERM);
    recv_until(
        &mut got,
        &|g| g.iter().any(|m| m.starts_with("STOPPING=1")),
        Duration::from_secs(5),
    );
    assert_eq!(d.wait_exit(Duration::from_secs(5)).0, Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `hamasq status` over the control socket (mode 0600, removed at exit);
/// without a daemon it fails with exit 1 and says why.
#[test]
fn status_asks_the_running_daemon_over_its_control_socket() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmpdir("status");
    let port = free_port();
    let body = dns_conf(&dir, port, "");
    let conf = write_conf(&dir, &body);
    let sock = dir.join("state").join("control.sock");
    let mut d = Daemon::start(&conf, &[]);
    d.wait_log("daemon.ready", Duration::from_secs(5));
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let out = run(&["status", "-c", conf.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("vrrp: none configured"), "{text}");
    assert!(text.contains("dhcp: off"), "{text}");
    assert!(
        text.contains("dns: queries 0, cache 0/150 entries"),
        "{text}"
    );
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(5)).0, Some(0));
    assert!(!sock.exists(), "the socket is removed at exit");
    let out = run(&["status", "-c", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no daemon answers"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `max-tcp-connections`: connections beyond the limit are closed at once;
/// one that ends frees its slot.
#[test]
fn dns_tcp_connections_are_bounded() {
    let dir = tmpdir("dnstcp");
    let port = free_port();
    let body = dns_conf(&dir, port, "max-tcp-connections = 2\n");
    let conf = write_conf(&dir, &body);
    let _d = Daemon::start(&conf, &[]);
    let connect = || {
        let t0 = Instant::now();
        loop {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "DNS TCP not listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Closed by the server: read() says end of file at once.
    let closed = |s: &mut TcpStream| matches!(s.read(&mut [0u8; 2]), Ok(0));
    let a = connect();
    let b = connect();
    std::thread::sleep(Duration::from_millis(200));
    let mut c = connect();
    assert!(closed(&mut c), "a third connection must be refused");
    drop(a);
    std::thread::sleep(Duration::from_millis(200));
    let mut d = connect();
    assert!(!closed(&mut d), "a freed slot must be usable again");
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 17 item 8: the soft open-file limit is raised at start to what
/// `dns-forward-max` and `max-tcp-connections` need, with headroom for a
/// reload that raises them (read back from
/// /proc/PID/limits), and when the hard limit is too small the DNS limits
/// shrink to fit it, with a warning naming the key.
#[test]
fn the_open_file_limit_is_raised_to_what_the_config_needs() {
    use std::os::unix::process::CommandExt;
    fn start_limited(conf: &Path, soft: u64, hard: u64) -> Daemon {
        let log = conf.with_extension("log");
        let f = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("-f")
            .arg("-c")
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(f);
        // SAFETY: setrlimit is async-signal-safe; the struct lives on the
        // child's stack across the call.
        unsafe {
            cmd.pre_exec(move || {
                let r = nix::libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &r) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Daemon {
            child: cmd.spawn().unwrap(),
            log,
        }
    }
    let soft_of = |pid: i32| -> u64 {
        let l = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let line = l.lines().find(|l| l.starts_with("Max open files")).unwrap();
        line.split_whitespace().nth(3).unwrap().parse().unwrap()
    };
    let dir = tmpdir("nofile");
    let port = free_port();
    let body = dns_conf(&dir, port, "dns-forward-max = 3000\n");
    let conf = write_conf(&dir, &body);

    // Our own hard limit (raising it needs CAP_SYS_RESOURCE), if large
    // enough: the soft limit goes from 256 to the need (> 3000).
    let mut ours = nix::libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct that lives across the call.
    assert_eq!(
        unsafe { nix::libc::getrlimit(nix::libc::RLIMIT_NOFILE, &mut ours) },
        0
    );
    let hard = ours.rlim_max;
    assert!(
        hard >= 4096,
        "this test needs a hard open-file limit of 4096 or more, not {hard}"
    );
    let mut d = start_limited(&conf, 256, hard);
    let log = d.wait_log("daemon.ready", Duration::from_secs(10));
    let soft = soft_of(d.pid());
    // The need of the configured values (> 3000), raised further to what
    // the largest values would need, so a reload that raises them fits.
    let most = hamasq::rlimit::need(
        hamasq::rlimit::HEADROOM_FORWARD,
        hamasq::rlimit::HEADROOM_TCP,
    );
    assert_eq!(soft, most.min(hard), "{log}");
    let hard_text = if hard == nix::libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        hard.to_string()
    };
    assert!(
        log.contains(&format!(
            "daemon.open_files soft={soft} was=256 hard={hard_text}"
        )),
        "{log}"
    );
    assert!(!log.contains("open_files_short"), "{log}");
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(5)).0, Some(0));

    // Hard limit 1024: soft goes to 1024 and dns-forward-max shrinks.
    let mut d = start_limited(&conf, 256, 1024);
    let log = d.wait_log("daemon.ready", Duration::from_secs(10));
    assert_eq!(soft_of(d.pid()), 1024, "{log}");
    assert!(
        log.contains(
            "daemon.open_files_short section=dns key=dns-forward-max configured=3000 using="
        ),
        "{log}"
    );
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(5)).0, Some(0));

    // A reload that raises dns-forward-max past the hard limit is fitted
    // the same way (it would otherwise run out of descriptors under load).
    let small = body.replace("dns-forward-max = 3000", "dns-forward-max = 300");
    write_conf(&dir, &small);
    let mut d = start_limited(&conf, 256, 1024);
    let log = d.wait_log("daemon.ready", Duration::from_secs(10));
    assert!(!log.contains("open_files_short"), "{log}");
    write_conf(&dir, &body);
    d.signal(nix::sys::signal::Signal::SIGHUP);
    let log = d.wait_log(
        "daemon.open_files_short section=dns key=dns-forward-max configured=3000 using=",
        Duration::from_secs(10),
    );
    assert!(
        log.contains("config.reloaded") || log.contains("reload"),
        "{log}"
    );
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(5)).0, Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 17 item 9: idle connections from one address do not block a
/// scrape from another, an idle one is closed within seconds, and an
/// address outside `metrics-allow` is closed unanswered.
#[test]
fn metrics_idle_clients_cannot_block_a_scrape_and_the_allow_list_holds() {
    fn connect_from(src: &str, port: u16) -> TcpStream {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let from: std::net::SocketAddr = format!("{src}:0").parse().unwrap();
        s.bind(&from.into()).unwrap();
        let to: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        s.connect(&to.into()).unwrap();
        let s: TcpStream = s.into();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
    fn scrape_from(src: &str, port: u16) -> String {
        let mut s = connect_from(src, port);
        // A refused connection may be reset before the request is written.
        let _ = write!(s, "GET /metrics HTTP/1.0\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }
    let d = tmpdir("metrics_allow");
    let port = free_port();
    let conf = write_conf(
        &d,
        &format!(
            "{}metrics-listen = 127.0.0.1:{port}\nmetrics-allow = 127.0.0.2\nmetrics-allow = 127.0.0.3/32\n",
            base_conf(&d)
        ),
    );
    let dm = Daemon::start(&conf, &[]);
    dm.wait_log("daemon.ready", Duration::from_secs(10));
    // Ten idle connections from 127.0.0.3: more than all the slots.
    let mut idle: Vec<TcpStream> = (0..10).map(|_| connect_from("127.0.0.3", port)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let r = scrape_from("127.0.0.2", port);
    assert!(
        r.starts_with("HTTP/1.0 200 OK"),
        "scrape blocked: {r:?}\n{}",
        dm.log()
    );
    // The idle ones are closed by the server (end of file, not our
    // 10 s read timeout).
    // idle[0] got a slot; the server closes it when its head is late.
    let r = idle[0].read(&mut [0u8; 16]);
    assert!(
        matches!(r, Ok(0))
            || matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "an idle connection stayed open: {r:?}"
    );
    idle.clear();
    // 127.0.0.1 is not in the list: closed without an answer.
    let r = scrape_from("127.0.0.1", port);
    assert!(r.is_empty(), "a client outside metrics-allow got {r:?}");
    let log = dm.wait_log("metrics.refused peer=127.0.0.1:", Duration::from_secs(5));
    assert!(log.contains("reason=\"not in metrics-allow\""), "{log}");
    // The refusals are counted.
    let r = scrape_from("127.0.0.2", port);
    assert!(r.contains("hamasq_metrics_refused_total "), "{r}");
}

/// Issue 15: `[dhcpv6 NAME]` mistakes are all named by `--test`: first
/// those of the section itself, then (once it reads well) those found on
/// the machine (an interface that does not exist, one without an
/// Ethernet address for the DUID-LL).
#[test]
fn dhcpv6_mistakes_are_named_by_test() {
    let d = tmpdir("dhcpv6-test");
    let conf = write_conf(
        &d,
        &format!(
            "{}\n[dhcpv6 lan]\ninterface = eth0\nmode = stateful\n\
             information-refresh-time = 60\nvrrp = lan\ndns-server = 10.0.0.1\n",
            base_conf(&d)
        ),
    );
    let (code, err) = check_config(&conf);
    assert_eq!(code, Some(2), "{err}");
    for want in [
        "[dhcpv6 lan] mode = \"stateful\": stateful DHCPv6 (address assignment, RFC 8415 §6.2) is not supported yet",
        "[dhcpv6 lan] information-refresh-time = \"60\": out of range; expected 600s (IRT_MINIMUM",
        "[dhcpv6 lan] vrrp = \"lan\": there is no [vrrp lan] section",
        "[dhcpv6 lan] dns-server = \"10.0.0.1\": \"10.0.0.1\" is not an IPv6 address",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let conf = write_conf(
        &d,
        &format!(
            "{}\n[dhcpv6 a]\ninterface = nosuch0\n\n[dhcpv6 b]\ninterface = lo\n",
            base_conf(&d)
        ),
    );
    let (code, err) = check_config(&conf);
    assert_eq!(code, Some(2), "{err}");
    for want in [
        "[dhcpv6 a] interface = \"nosuch0\": no such interface on this system",
        "[dhcpv6 b] interface = \"lo\": has no Ethernet address to make the server's DUID-LL from",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}
