//! Packaging tests (issue 7): the static binaries, the systemd unit, the
//! OpenWrt package (UCI → INI conversion, init script, hotplug hook,
//! capabilities), the Debian package and the container files.
//!
//! Slow part: the static release builds (`contrib/build-static.sh`, about
//! two minutes per target on two idle cores), each done once per run, when
//! a test first needs that target, and shared by the tests. Programs the tests need
//! (qemu-user, busybox, yq, systemd-analyze) are installed by
//! `contrib/run-tests`; without them a test skips loudly, and fails when
//! `HAMASQ_REQUIRE_LAB=1` (CI). Checks against interfaces (`hamasq --test`
//! of a config naming br-lan) run in a network namespace of the lab.

mod lab;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_hamasq");
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// x86_64 stripped size target of issue 7.
const MAX_X86_64_BYTES: u64 = 3_000_000;
const CAPS: [&str; 3] = ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_NET_ADMIN"];

fn root() -> &'static Path {
    Path::new(ROOT)
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("packaging-{name}"));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn run_ok(cmd: &mut Command) -> Output {
    let o = run(cmd);
    assert!(o.status.success(), "{cmd:?} failed: {}", text(&o));
    o
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

// ---------------------------------------------------------------------------
// Static binaries
// ---------------------------------------------------------------------------

struct Static {
    triple: String,
    path: PathBuf,
    raw: u64,
    xz: u64,
}

const TRIPLES: [&str; 7] = [
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "armv7-unknown-linux-musleabihf",
    // OpenWrt's most common routers: ath79 (big-endian) and ramips
    // (little-endian) MIPS32r2, a tier-3 Rust target (-Zbuild-std)
    "mips-unknown-linux-musl",
    "mipsel-unknown-linux-musl",
    // older routers and NAS boxes: ARMv5TE (kirkwood) and 32-bit PowerPC
    // (-Zbuild-std too; 32-bit atomics only)
    "armv5te-unknown-linux-musleabi",
    "powerpc-unknown-linux-musl",
];

/// How to run a binary of `triple` on this x86_64 machine: the qemu-user
/// command line, or none. The CPUs of the routers, so that an instruction
/// they lack would fault: MIPS as OpenWrt's 24kc (no FPU), ARMv5 as
/// ARM926EJ-S.
fn qemu_for(triple: &str) -> Option<&'static [&'static str]> {
    match triple.split('-').next().unwrap() {
        "x86_64" => None,
        "aarch64" => Some(&["qemu-aarch64"]),
        "mips" => Some(&["qemu-mips", "-cpu", "24Kc"]),
        "mipsel" => Some(&["qemu-mipsel", "-cpu", "24Kc"]),
        "armv5te" => Some(&["qemu-arm", "-cpu", "arm926"]),
        "powerpc" => Some(&["qemu-ppc"]),
        _ => Some(&["qemu-arm"]),
    }
}

/// Builds the static binary of `triple` once per test run with the
/// documented command, into `target/static/<triple>/hamasq` (where the
/// Dockerfile and the Debian build take them from). One target at a time,
/// each only when a test asks for it: a test that needs the MIPS binaries
/// does not wait for the others.
fn static_build(triple: &str) -> &'static Static {
    // Held during the build: the targets share one cargo directory and
    // the script's zig install, so builds never overlap.
    static BUILT: Mutex<Vec<&'static Static>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = built.iter().find(|s| s.triple == triple) {
        return s;
    }
    let out = root().join("target/static");
    let o = run(Command::new(root().join("contrib/build-static.sh"))
        .arg("--out")
        .arg(&out)
        .arg(triple)
        // A build directory of its own: the one of this `cargo test`
        // belongs to the outer cargo.
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("static-build"),
        ));
    assert!(
        o.status.success(),
        "contrib/build-static.sh {triple} failed: {}",
        text(&o)
    );
    let table = stdout(&o);
    let line = table
        .lines()
        .find(|l| l.contains(&format!("/{triple}/hamasq\t")))
        .unwrap_or_else(|| panic!("no line for {triple} in:\n{table}"));
    let f: Vec<&str> = line.split('\t').collect();
    let s: &'static Static = Box::leak(Box::new(Static {
        triple: triple.to_string(),
        path: PathBuf::from(f[0]),
        raw: f[1].parse().unwrap(),
        xz: f[2].parse().unwrap(),
    }));
    built.push(s);
    s
}

/// Every target of [`TRIPLES`], in that order.
fn static_builds() -> Vec<&'static Static> {
    TRIPLES.iter().map(|t| static_build(t)).collect()
}

fn static_binary(triple: &str) -> &'static Path {
    &static_build(triple).path
}

/// What the test needs to know of an ELF file.
#[derive(Debug)]
struct Elf {
    big_endian: bool,
    machine: u16,
    interp: bool,
    needed: usize,
}

fn elf(b: &[u8]) -> Elf {
    assert_eq!(&b[..4], b"\x7fELF", "not an ELF file");
    let big = match b[5] {
        1 => false,
        2 => true,
        c => panic!("ELF data encoding {c}"),
    };
    let is64 = match b[4] {
        1 => false,
        2 => true,
        c => panic!("ELF class {c}"),
    };
    let u16_at = |o: usize| {
        let x = [b[o], b[o + 1]];
        (if big {
            u16::from_be_bytes(x)
        } else {
            u16::from_le_bytes(x)
        }) as u64
    };
    let u32_at = |o: usize| {
        let x = b[o..o + 4].try_into().unwrap();
        (if big {
            u32::from_be_bytes(x)
        } else {
            u32::from_le_bytes(x)
        }) as u64
    };
    let u64_at = |o: usize| {
        let x = b[o..o + 8].try_into().unwrap();
        if big {
            u64::from_be_bytes(x)
        } else {
            u64::from_le_bytes(x)
        }
    };
    let word = |o: usize| if is64 { u64_at(o) } else { u32_at(o) };
    let machine = u16_at(18) as u16;
    let (phoff, phentsize, phnum) = if is64 {
        (u64_at(32), u16_at(54), u16_at(56))
    } else {
        (u32_at(28), u16_at(42), u16_at(44))
    };
    let (mut interp, mut needed) = (false, 0);
    for i in 0..phnum {
        let ph = (phoff + i * phentsize) as usize;
        let p_type = u32_at(ph);
        let (off, size) = if is64 {
            (u64_at(ph + 8), u64_at(ph + 32))
        } else {
            (u32_at(ph + 4), u32_at(ph + 16))
        };
        match p_type {
            3 => interp = true, // PT_INTERP
            2 => {
                // PT_DYNAMIC (a static-pie has one): count DT_NEEDED
                let ent = if is64 { 16 } else { 8 };
                let mut o = off as usize;
                while o + ent <= (off + size) as usize {
                    match word(o) {
                        0 => break,
                        1 => needed += 1,
                        _ => {}
                    }
                    o += ent;
                }
            }
            _ => {}
        }
    }
    Elf {
        big_endian: big,
        machine,
        interp,
        needed,
    }
}

#[test]
fn static_binaries_are_static_small_and_run() {
    let good = scratch("static").join("good.conf");
    // Not /tmp: a state directory every user can write is refused.
    let state = good.parent().unwrap().display().to_string();
    fs::write(
        &good,
        format!("[general]\npid-file = none\nstate-dir = {state}\n"),
    )
    .unwrap();
    let bad = good.with_file_name("bad.conf");
    fs::write(&bad, "[general]\nlog-level = loud\n").unwrap();
    let builds = static_builds();
    let mut report = String::from("static binaries (bytes, xz -9e bytes):\n");
    for s in &builds {
        report += &format!("  {:32} {:>9} {:>9}\n", s.triple, s.raw, s.xz);
    }
    // Straight to stderr, so it shows in CI's log even when the test passes.
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(report.as_bytes());

    for s in &builds {
        let e = elf(&fs::read(&s.path).unwrap());
        let arch = s.triple.split('-').next().unwrap();
        let machine = match arch {
            "x86_64" => 62,
            "aarch64" => 183,
            "mips" | "mipsel" => 8,
            "powerpc" => 20,
            _ => 40,
        };
        assert_eq!(e.machine, machine, "{}: {e:?}", s.triple);
        assert_eq!(
            e.big_endian,
            arch == "mips" || arch == "powerpc",
            "{}: {e:?}",
            s.triple
        );
        assert!(!e.interp, "{}: has an ELF interpreter", s.triple);
        assert_eq!(e.needed, 0, "{}: needs shared libraries", s.triple);
        assert!(s.xz < s.raw, "{report}");
    }
    let x86 = builds[0];
    assert!(
        x86.raw <= MAX_X86_64_BYTES,
        "x86_64 binary is {} bytes, over {MAX_X86_64_BYTES}\n{report}",
        x86.raw
    );

    for s in &builds {
        let runner = qemu_for(&s.triple);
        if let Some(q) = runner
            && !lab::have_commands("static_binaries_run_under_qemu", &q[..1])
        {
            continue;
        }
        // Bounded: a binary that hangs (under emulation, say) fails the
        // test with exit 124 instead of holding up the whole suite.
        let cmd = |args: &[&str]| {
            let mut c = Command::new("timeout");
            c.args(["-k", "5", "180"]);
            if let Some(q) = runner {
                c.args(q);
            }
            c.arg(&s.path).args(args);
            run(&mut c)
        };
        let o = cmd(&["--version"]);
        assert!(o.status.success(), "{}: {}", s.triple, text(&o));
        assert_eq!(
            stdout(&o).trim(),
            format!("hamasq {VERSION}"),
            "{}",
            s.triple
        );
        let o = cmd(&["--test", "-c", good.to_str().unwrap()]);
        assert!(o.status.success(), "{}: {}", s.triple, text(&o));
        assert_eq!(stdout(&o).trim(), "config OK", "{}", s.triple);
        let o = cmd(&["--test", "-c", bad.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}: {}", s.triple, text(&o));
        assert!(text(&o).contains("log-level"), "{}: {}", s.triple, text(&o));
    }
}

/// A daemon started by a test, outside any namespace; killed (SIGKILL, by
/// the pid of the child we started) and reaped when dropped.
struct Started {
    child: std::process::Child,
    log: PathBuf,
}

impl Started {
    fn spawn(mut cmd: Command, log: PathBuf) -> Started {
        let f = fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Started { child, log }
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Waits (bounded) until `pattern` is in the log; panics with the log
    /// if the process exits first or the time runs out.
    fn wait_for_log(&mut self, pattern: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let exited = self.child.try_wait().unwrap();
            if self.log().contains(pattern) {
                return;
            }
            match exited {
                Some(st) => panic!("exited ({st}) before {pattern:?}:\n{}", self.log()),
                None if Instant::now() >= deadline => {
                    panic!("no {pattern:?} after {timeout:?}:\n{}", self.log())
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// SIGTERM to our child's pid, then its exit status (bounded wait).
    fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        run_ok(Command::new("kill").args(["-TERM", &self.child.id().to_string()]));
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        // std's kill does nothing once the child is reaped: never a
        // recycled pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP and TCP port that are both free on 127.0.0.1 right now.
fn free_dns_port() -> u16 {
    for _ in 0..100 {
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 for both UDP and TCP");
}

/// A DNS query (RFC 1035 §4.1) for `name`, type A, class IN, RD set.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// The IPv4 addresses in the answer section of the reply to `query`
/// (RFC 1035 §4.1.3), or what is wrong with the reply.
fn dns_a_answers(query: &[u8], reply: &[u8]) -> Result<Vec<std::net::Ipv4Addr>, String> {
    let u16_at = |o: usize| -> Result<usize, String> {
        reply
            .get(o..o + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
            .ok_or_else(|| format!("reply cut at byte {o}: {reply:02x?}"))
    };
    if reply.len() < query.len()
        || reply[..2] != query[..2]
        || reply[12..query.len()] != query[12..]
    {
        return Err(format!("not the reply to our query: {reply:02x?}"));
    }
    let rcode = reply[3] & 0x0f;
    if reply[2] & 0x80 == 0 || rcode != 0 {
        return Err(format!(
            "not a NOERROR response (rcode {rcode}): {reply:02x?}"
        ));
    }
    let ancount = u16_at(6)?;
    let mut o = query.len();
    let mut out = Vec::new();
    for _ in 0..ancount {
        // owner name: labels, ended by a zero byte or a compression pointer
        loop {
            let len = *reply.get(o).ok_or("reply cut in a name")? as usize;
            if len == 0 {
                o += 1;
                break;
            }
            if len & 0xc0 == 0xc0 {
                o += 2;
                break;
            }
            o += 1 + len;
        }
        let (rtype, rdlen) = (u16_at(o)?, u16_at(o + 8)?);
        let rdata = reply
            .get(o + 10..o + 10 + rdlen)
            .ok_or("reply cut in rdata")?;
        if rtype == 1 && rdlen == 4 {
            out.push(std::net::Ipv4Addr::new(
                rdata[0], rdata[1], rdata[2], rdata[3],
            ));
        }
        o += 10 + rdlen;
    }
    Ok(out)
}

/// The release binaries of the router targets run hamasq as a daemon
/// under qemu-user, not only `--version` and `--test`: a DNS-only config
/// on 127.0.0.1 and a high port, a query for a local host-record answered,
/// a clean stop on SIGTERM. (The MIPS ones crashed at runtime start-up
/// until build-static.sh linked them non-PIE: see packaging/README.md.)
#[test]
fn router_static_daemons_answer_dns_under_qemu() {
    for triple in [
        "mips-unknown-linux-musl",
        "mipsel-unknown-linux-musl",
        "armv5te-unknown-linux-musleabi",
        "powerpc-unknown-linux-musl",
    ] {
        let qemu = qemu_for(triple).unwrap();
        if !lab::have_commands("router_static_daemons_answer_dns_under_qemu", &qemu[..1]) {
            return;
        }
        let bin = static_binary(triple);
        let dir = scratch(&format!("qemu-daemon-{triple}"));
        let state = dir.join("state");
        fs::create_dir(&state).unwrap();
        let port = free_dns_port();
        let conf = dir.join("hamasq.conf");
        fs::write(
            &conf,
            format!(
                "[general]\npid-file = none\nstate-dir = {}\n\
                 [dns]\nport = {port}\nlisten-address = 127.0.0.1\n\
                 no-resolv = true\nno-hosts = true\n\
                 host-record = router.lan,192.168.1.1\n",
                state.display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new(qemu[0]);
        cmd.args(&qemu[1..]).arg(bin).arg("-f").arg("-c").arg(&conf);
        let mut d = Started::spawn(cmd, dir.join("daemon.log"));
        // Emulated start-up is slow on a loaded machine; bounded anyway.
        d.wait_for_log("dns.listening", Duration::from_secs(120));

        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut answer = None;
        for id in 1..=10u16 {
            let q = dns_query(0x4d00 + id, "router.lan");
            sock.send_to(&q, ("127.0.0.1", port)).unwrap();
            let mut buf = [0u8; 512];
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                answer = Some(dns_a_answers(&q, &buf[..n]));
                break;
            }
        }
        let answer =
            answer.unwrap_or_else(|| panic!("{triple}: no DNS reply in 10 tries:\n{}", d.log()));
        assert_eq!(
            answer,
            Ok(vec![std::net::Ipv4Addr::new(192, 168, 1, 1)]),
            "{triple}:\n{}",
            d.log()
        );

        let st = d.terminate(Duration::from_secs(30));
        assert!(
            st.is_some_and(|s| s.success()),
            "{triple}: exit {st:?} after SIGTERM:\n{}",
            d.log()
        );
        assert!(d.log().contains("daemon.stopped"), "{triple}:\n{}", d.log());
    }
}

// ---------------------------------------------------------------------------
// systemd
// ---------------------------------------------------------------------------

/// `Key=value` lines of a unit (all values of a key, in order).
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

fn words(v: &[String]) -> BTreeSet<String> {
    v.iter()
        .flat_map(|s| s.split_whitespace().map(str::to_string))
        .collect()
}

#[test]
fn systemd_unit() {
    let path = root().join("contrib/systemd/hamasq.service");
    let unit = fs::read_to_string(&path).unwrap();
    let one = |k: &str| {
        let v = unit_values(&unit, k);
        assert_eq!(v.len(), 1, "{k}= in the unit: {v:?}");
        v[0].clone()
    };
    assert_eq!(one("Type"), "notify");
    assert!(one("ExecStartPre").contains("/usr/sbin/hamasq --test -c /etc/hamasq.conf"));
    assert!(one("ExecStart").starts_with("/usr/sbin/hamasq --foreground -c /etc/hamasq.conf"));
    assert_eq!(one("StateDirectory"), "hamasq");
    assert_eq!(one("RuntimeDirectory"), "hamasq");
    assert_eq!(one("User"), "hamasq");
    assert_eq!(one("NoNewPrivileges"), "yes");
    let caps: BTreeSet<String> = CAPS.iter().map(|c| c.to_string()).collect();
    assert_eq!(words(&unit_values(&unit, "CapabilityBoundingSet")), caps);
    assert_eq!(words(&unit_values(&unit, "AmbientCapabilities")), caps);
    for k in [
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "RestrictAddressFamilies",
        "SystemCallFilter",
    ] {
        one(k);
    }
    let families = words(&unit_values(&unit, "RestrictAddressFamilies"));
    for f in ["AF_INET", "AF_NETLINK", "AF_PACKET", "AF_UNIX"] {
        assert!(families.contains(f), "{f} missing: {families:?}");
    }
    // WatchdogSec= only once the daemon pets the watchdog.
    fn mentions(dir: &Path, what: &str) -> bool {
        fs::read_dir(dir).unwrap().any(|e| {
            let p = e.unwrap().path();
            if p.is_dir() {
                mentions(&p, what)
            } else {
                fs::read_to_string(&p).is_ok_and(|s| s.contains(what))
            }
        })
    }
    let src_has_watchdog = mentions(&root().join("src"), "WATCHDOG=1");
    assert_eq!(
        !unit_values(&unit, "WatchdogSec").is_empty(),
        src_has_watchdog,
        "WatchdogSec= must be set exactly when the daemon sends WATCHDOG=1"
    );
    // The Debian conffile keeps its pid file where this unit lets it write.
    let deb_conf = fs::read_to_string(root().join("packaging/debian/hamasq.conf")).unwrap();
    assert!(deb_conf.contains("pid-file = /run/hamasq/"));
    assert!(deb_conf.contains("state-dir = /var/lib/hamasq"));

    // systemd's own check, with the binary path pointing at this build.
    if !lab::have_commands("systemd_unit_verify", &["systemd-analyze"]) {
        return;
    }
    let dir = scratch("systemd");
    let copy = dir.join("hamasq.service");
    fs::write(&copy, unit.replace("/usr/sbin/hamasq", BIN)).unwrap();
    let o = run(Command::new("systemd-analyze").arg("verify").arg(&copy));
    assert!(o.status.success(), "systemd-analyze verify: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("hamasq.service"),
        "systemd-analyze verify complains: {err}"
    );
}

/// The unit's privilege model works: hamasq started as an unprivileged user
/// with the unit's ambient capabilities (and bounding set, and
/// no_new_privs), as systemd starts it, binds port 67, adds the VIP by
/// netlink as VRRP Active, and keeps exactly those capabilities.
#[test]
fn systemd_privilege_model_runs() {
    let unit = fs::read_to_string(root().join("contrib/systemd/hamasq.service")).unwrap();
    let caps: Vec<String> = words(&unit_values(&unit, "AmbientCapabilities"))
        .into_iter()
        .map(|c| c.trim_start_matches("CAP_").to_lowercase())
        .collect();
    let Some(mut lab) = lab::Lab::new("systemd_privilege_model_runs") else {
        return;
    };
    lab.add_host("r", &["192.168.1.2/24"]);
    let r = lab.host("r");
    // Somewhere user nobody can reach (the build tree may be under /root),
    let dir = PathBuf::from(format!("/tmp/hamasq-pkg-privilege-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("run")).unwrap();
    fs::create_dir_all(dir.join("state")).unwrap();
    for d in ["run", "state"] {
        std::os::unix::fs::chown(dir.join(d), Some(65534), Some(65534)).unwrap();
    }
    // A copy of the binary there too: nobody may not reach the build tree.
    let bin = dir.join("hamasq");
    fs::copy(BIN, &bin).unwrap();
    let conf = dir.join("hamasq.conf");
    fs::write(
        &conf,
        format!(
            "[general]\npid-file = {0}/run/hamasq.pid\nstate-dir = {0}/state\n\n\
             [dhcp]\ninterface = eth0\ndhcp-range = 192.168.1.100,192.168.1.149,12h\n\n\
             [vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\npriority = 150\n\
             virtual-ipaddress = 192.168.1.1/24\nadvert-int = 0.1\n",
            dir.display()
        ),
    )
    .unwrap();
    let set = format!("-all,+{}", caps.join(",+"));
    let d = r.spawn(&[
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        &format!("--inh-caps={set}"),
        &format!("--ambient-caps={set}"),
        &format!("--bounding-set={set}"),
        "--no-new-privs",
        bin.to_str().unwrap(),
        "--foreground",
        "-c",
        conf.to_str().unwrap(),
    ]);
    d.wait_for_log("daemon.ready", std::time::Duration::from_secs(10));
    d.wait_for_log("role=active", std::time::Duration::from_secs(10));
    let pid = fs::read_to_string(dir.join("run/hamasq.pid")).unwrap();
    let status = fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .unwrap()
            .trim()
            .to_string()
    };
    // CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_NET_RAW (13)
    for k in ["CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(k), "0000000000003400", "{k}\n{status}");
    }
    assert_eq!(field("NoNewPrivs"), "1");
    assert!(field("Uid").starts_with("65534"), "{status}");
    let addrs = stdout(&r.sh_ok("ip -4 -o addr show dev eth0"));
    assert!(addrs.contains("192.168.1.1/24"), "VIP not added: {addrs}");
    let socks = stdout(&r.sh_ok("ss -lun"));
    assert!(socks.contains("0.0.0.0:67"), "{socks}");
    drop(lab);
    let _ = fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// OpenWrt
// ---------------------------------------------------------------------------

fn openwrt() -> PathBuf {
    root().join("packaging/openwrt")
}

/// Runs the UCI → INI conversion on a sample directory with `shell` and
/// `awk`. Returns (INI, warnings).
fn uci_to_ini(shell: &[&str], awk: &str, dir: &Path) -> (String, String) {
    let lib = openwrt().join("hamasq/files/hamasq-uci.sh");
    let o = run_ok(
        Command::new(shell[0])
            .args(&shell[1..])
            .arg("-c")
            .arg(r#". "$1" && hamasq_uci_to_ini "$2""#)
            .arg("sh")
            .arg(&lib)
            .arg(dir)
            .env("HAMASQ_AWK", awk)
            // a sample's /etc/ethers, never the machine's
            .env(
                "HAMASQ_ETHERS",
                if dir.join("ethers").exists() {
                    dir.join("ethers")
                } else {
                    PathBuf::new()
                },
            ),
    );
    (stdout(&o), String::from_utf8_lossy(&o.stderr).into_owned())
}

const SAMPLES: [&str; 5] = ["default", "ha-pair", "odhcpd", "features", "keepalived"];

#[test]
fn openwrt_uci_to_ini() {
    for s in SAMPLES {
        let dir = openwrt().join("test").join(s);
        let want = fs::read_to_string(dir.join("expected.conf")).unwrap();
        let (ini, warnings) = uci_to_ini(&["sh"], "awk", &dir);
        assert_eq!(ini, want, "sample {s}; warnings:\n{warnings}");
        match s {
            "default" => {
                assert_eq!(warnings, "");
                // option dns 0: dnsmasq keeps port 53
                assert!(!ini.contains("[dns]"));
                // hamasq drops root itself to this user (procd's `user`
                // would leave it no capabilities); lan reloads it
                assert!(ini.contains("\nuser = hamasq\n"), "{ini}");
                assert!(ini.ends_with("\n# netifd interfaces: lan\n"), "{ini}");
            }
            "features" => {
                // every setting hamasq cannot honour is named
                for want in [
                    "dhcp.lan: force 1",
                    "dhcp.guest: options \"netmask-only\"",
                    "dhcp.iot: dynamicdhcp 0",
                    "dhcp.@host[3]: duid not converted",
                    "/etc/ethers: 00:11:22:33:44:55 already has a config host",
                    "dhcp.uefi: boot for networkid efi64 not converted",
                    "dhcp.efi: config match (sets tag efi64) not converted",
                    "dhcp.@vendorclass[0]: config vendorclass (sets tag msft)",
                    "confdir /tmp/dnsmasq.d is not read",
                    "notinterface not converted",
                    // every other option dnsmasq.init reads, by name
                    "dhcp.@dnsmasq[0]: localise_queries 1 not converted",
                    "dhcp.@dnsmasq[0]: logqueries 1 not converted",
                    "dhcp.@dnsmasq[0]: filter_aaaa 1 not converted",
                    "dhcp.@dnsmasq[0]: sequential_ip 1 not converted",
                    "dhcp.@dnsmasq[0]: enable_tftp 1 not converted",
                    "dhcp.@dnsmasq[0]: tftp_root /srv/tftp not converted",
                    "dhcp.@dnsmasq[0]: frobnicate 1 not converted",
                    "dhcp.second: a second config dnsmasq section",
                    "dhcp.lan: netmask 255.255.0.0 not converted",
                    "dhcp.lan: interface_name not converted",
                    "dhcp.lab: dynamicdhcpv4 0",
                    "dhcp.@mxhost[0]: config mxhost not converted",
                    "dhcp.@relay[0]: config relay not converted",
                ] {
                    assert!(warnings.contains(want), "no {want:?} in:\n{warnings}");
                }
                // options equal to dnsmasq.init's defaults, and converted
                // ones, are not warned about
                for quiet in [
                    "ednspacket_max",
                    "nonegcache",
                    "logdhcp",
                    "noping",
                    "dhcp_option",
                ] {
                    assert!(!warnings.contains(quiet), "{quiet} in:\n{warnings}");
                }
                for want in [
                    "\nlog-dhcp = true\n",
                    "\ndhcp-ping = false\n",
                    "\ndhcp-option = option:domain-search,lan\n",
                    "\nsrv-host = _ldap._tcp.lan,nas.lan,389,0,100\n",
                    "\nhost-record = nas,nas.lan,192.168.1.30\n",
                ] {
                    assert!(ini.contains(want), "no {want:?} in:\n{ini}");
                }
                // a static-only pool is never opened, a disabled host
                // never served
                assert!(!ini.contains("10.20.0."), "{ini}");
                assert!(!ini.contains("00:11:22:33:44:88"), "{ini}");
                // dnsmasq.init's defaults when the options are absent
                assert!(ini.contains("\nbogus-priv = true\n"), "{ini}");
                assert!(ini.contains("\nstop-dns-rebind = true\n"), "{ini}");
                // networkid is the pool's tag; config tag sections become
                // tagged options; readethers brings /etc/ethers
                assert!(
                    ini.contains("dhcp-range = set:visitors,10.10.0.50,10.10.0.149,1h"),
                    "{ini}"
                );
                assert!(
                    ini.contains("dhcp-option-force = tag:kids,option:dns-server,192.168.1.3"),
                    "{ini}"
                );
                assert!(
                    ini.contains("dhcp-host = 00:11:22:33:44:bb,laptop"),
                    "{ini}"
                );
                assert!(
                    ini.contains("dhcp-boot = pxelinux.0,tftp,192.168.1.5"),
                    "{ini}"
                );
            }
            "ha-pair" => {
                assert!(warnings.contains("authoritative left off"), "{warnings}");
                // on by default in dnsmasq.init: named although left out
                assert!(
                    warnings.contains(
                        "dhcp.@dnsmasq[0]: add_local_hostname (on unless set to 0) not converted"
                    ),
                    "{warnings}"
                );
                assert!(ini.contains("\n[dns]\n"));
            }
            "keepalived" => {
                // keepalived's UCI instance, with its referenced sections
                for want in [
                    "\n[vrrp LAN]\ninterface = br-lan\nvirtual-router-id = 51\npriority = 150\n",
                    "\nunicast-peer = 192.168.1.3\n",
                    "\nvirtual-ipaddress = 192.168.1.1/24\n",
                    "\ntrack-interface = wan weight -60\n",
                ] {
                    assert!(ini.contains(want), "no {want:?} in:\n{ini}");
                }
                for want in ["LAN: state not converted", "LAN: auth_type not converted"] {
                    assert!(warnings.contains(want), "no {want:?} in:\n{warnings}");
                }
            }
            _ => assert!(warnings.contains("maindhcp=true"), "{warnings}"),
        }
    }
    // Coexistence: with dnsmasq enabled (the init script passes
    // HAMASQ_DNSMASQ=1), a pool dnsmasq serves is left to it, saying how
    // to switch over; an ignored pool listed in dhcp_section is ours.
    let lib = openwrt().join("hamasq/files/hamasq-uci.sh");
    let with_dnsmasq = |dir: &Path| {
        let o = run_ok(
            Command::new("sh")
                .arg("-c")
                .arg(r#". "$1" && hamasq_uci_to_ini "$2""#)
                .arg("sh")
                .arg(&lib)
                .arg(dir)
                .env("HAMASQ_DNSMASQ", "1")
                .env("HAMASQ_ETHERS", ""),
        );
        (stdout(&o), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (ini, warnings) = with_dnsmasq(&openwrt().join("test/default"));
    assert!(!ini.contains("[dhcp]"), "{ini}");
    assert!(
        warnings.contains("dhcp.lan: dnsmasq is enabled and serves this pool: left to dnsmasq. To switch over: uci set dhcp.lan.ignore=1"),
        "{warnings}"
    );
    let (ini, warnings) = with_dnsmasq(&openwrt().join("test/ha-pair"));
    assert!(ini.contains("dhcp-range = set:lan,"), "{ini}");
    assert!(!ini.contains("dhcp-range = set:guest,"), "{ini}");
    assert!(
        warnings.contains("dhcp.guest: dnsmasq is enabled"),
        "{warnings}"
    );

    // Without a config odhcpd, dnsmasq served DHCPv6/RA from these pools:
    // hamasq (DHCPv4 only) names what it leaves out.
    let no_odhcpd = scratch("uci-no-odhcpd");
    for f in ["hamasq", "network"] {
        fs::copy(openwrt().join("test/default").join(f), no_odhcpd.join(f)).unwrap();
    }
    let dhcp = fs::read_to_string(openwrt().join("test/default/dhcp")).unwrap();
    let cut = dhcp.find("config odhcpd").unwrap();
    fs::write(no_odhcpd.join("dhcp"), &dhcp[..cut]).unwrap();
    let (ini, warnings) = uci_to_ini(&["sh"], "awk", &no_odhcpd);
    assert!(ini.contains("dhcp-range = set:lan,"), "{ini}");
    for want in [
        "dhcp.lan: dhcpv6 not converted: hamasq serves DHCPv4 only",
        "dhcp.lan: ra not converted",
    ] {
        assert!(warnings.contains(want), "no {want:?} in:\n{warnings}");
    }

    // OpenWrt's shell and awk are busybox's: same result with them.
    if lab::have_commands("openwrt_uci_to_ini_busybox", &["busybox"]) {
        for s in SAMPLES {
            let dir = openwrt().join("test").join(s);
            assert_eq!(
                uci_to_ini(&["busybox", "sh"], "busybox awk", &dir),
                uci_to_ini(&["sh"], "awk", &dir),
                "busybox and sh/awk differ on sample {s}"
            );
        }
    }
}

/// `hamasq --test` of the converted samples on a box with their interfaces
/// (br-lan 192.168.1.2/24, br-guest 10.10.0.1/24), in a lab namespace.
#[test]
fn openwrt_converted_configs_pass_hamasq_test() {
    let Some(mut lab) = lab::Lab::new("openwrt_converted_configs_pass_hamasq_test") else {
        return;
    };
    lab.add_host("r", &["10.99.0.1/24"]);
    let r = lab.host("r");
    r.sh_ok(
        "ip link add br-lan type bridge && ip addr add 192.168.1.2/24 dev br-lan && ip link set br-lan up && \
         ip link add br-guest type bridge && ip addr add 10.10.0.1/24 dev br-guest && ip link set br-guest up",
    );
    let work = scratch("openwrt-test");
    // The package creates the user hamasq; this box has nobody.
    let as_here = |ini: &str| ini.replace("\nuser = hamasq\n", "\nuser = nobody\n");
    // `--test` checks that hook scripts exist and are executable, as the
    // start does; the package installs these on the router, so the test
    // machine gets stand-ins.
    for hook in ["dhcp-hotplug", "vrrp-hotplug"] {
        use std::os::unix::fs::PermissionsExt;
        fs::write(work.join(hook), "#!/bin/sh\n").unwrap();
        fs::set_permissions(work.join(hook), fs::Permissions::from_mode(0o755)).unwrap();
    }
    for s in SAMPLES {
        let dir = openwrt().join("test").join(s);
        let (ini, _) = uci_to_ini(&["sh"], "awk", &dir);
        let ini = ini.replace("/usr/libexec/hamasq/", &format!("{}/", work.display()));
        let conf = work.join(format!("{s}.conf"));
        fs::write(&conf, as_here(&ini)).unwrap();
        let o = r.run(&[BIN, "--test", "-c", conf.to_str().unwrap()]);
        assert!(o.status.success(), "sample {s}:\n{ini}\n{}", text(&o));
        assert_eq!(stdout(&o).trim(), "config OK");
    }

    // The default sample run as procd runs it (as root, the init script's
    // command line, no procd `user`): hamasq drops to its user itself and
    // keeps exactly its three capabilities (procd outside ujail would
    // setuid and leave none: service/instance.c, instance_run).
    let (ini, _) = uci_to_ini(&["sh"], "awk", &openwrt().join("test/default"));
    let state = work.join("state");
    let ini = as_here(&ini)
        .replace("/var/lib/hamasq", state.to_str().unwrap())
        .replace(
            "/usr/libexec/hamasq/dhcp-hotplug",
            openwrt()
                .join("hamasq/files/dhcp-hotplug")
                .to_str()
                .unwrap(),
        );
    let conf = work.join("run.conf");
    fs::write(&conf, &ini).unwrap();
    let d = r.spawn(&[BIN, "--foreground", "-c", conf.to_str().unwrap()]);
    d.wait_for_log("daemon.ready", std::time::Duration::from_secs(20));
    let status = fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    assert_eq!(field("Uid:"), nobody.uid.to_string(), "{status}");
    assert_eq!(field("CapEff:"), "0000000000003400", "{status}");
    assert_eq!(field("CapPrm:"), "0000000000003400", "{status}");
    assert_eq!(field("NoNewPrivs:"), "1", "{status}");
    d.signal(15).unwrap();
    assert!(
        d.wait_exit(std::time::Duration::from_secs(5)).is_some(),
        "{}",
        d.logs()
    );
    // And --test really looks at the box: the default sample with a LAN
    // of 192.168.5.0/24 gives a pool that br-lan does not have.
    let bad = work.join("bad-uci");
    fs::create_dir_all(&bad).unwrap();
    for f in ["dhcp", "hamasq"] {
        fs::copy(openwrt().join("test/default").join(f), bad.join(f)).unwrap();
    }
    let net = fs::read_to_string(openwrt().join("test/default/network")).unwrap();
    fs::write(
        bad.join("network"),
        net.replace("192.168.1.1", "192.168.5.1"),
    )
    .unwrap();
    let (ini, _) = uci_to_ini(&["sh"], "awk", &bad);
    assert!(
        ini.contains("dhcp-range = set:lan,192.168.5.100,192.168.5.249,12h"),
        "{ini}"
    );
    let conf = work.join("bad.conf");
    fs::write(&conf, &ini).unwrap();
    let o = r.run(&[BIN, "--test", "-c", conf.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// The procd init script run as rc.common runs it, with procd's, UCI's
/// and BusyBox's `logger` stubbed to record what they are asked:
/// `start` registers one instance (respawn with procd's defaults, no procd
/// `user`: hamasq drops root itself), per-interface triggers and a
/// validation; a reload whose generated config fails `hamasq --test` logs
/// why and asks procd nothing, so the running instance keeps its last
/// good config; a good reload re-registers and sends SIGHUP; `enabled 0`
/// (the package default) registers no instance.
#[test]
fn openwrt_init_script() {
    let work = scratch("openwrt-init");
    let init = fs::read_to_string(openwrt().join("hamasq/files/hamasq.init")).unwrap();
    assert!(
        !init.lines().any(|l| !l.trim_start().starts_with('#')
            && l.contains("logger ")
            && l.contains(" -f ")),
        "BusyBox's logger has no -f"
    );
    assert!(
        !init.contains("procd_add_raw_trigger"),
        "no catch-all interface.* trigger"
    );
    let var_etc = work.join("var-etc");
    let init = init
        .replace(
            "/usr/share/hamasq/hamasq-uci.sh",
            openwrt()
                .join("hamasq/files/hamasq-uci.sh")
                .to_str()
                .unwrap(),
        )
        .replace("/usr/sbin/hamasq", BIN)
        .replace("/var/etc", var_etc.to_str().unwrap());
    // rc.common's start (rc_procd: open the service, start_service, then
    // `ubus call service set`), procd.sh's helpers and uci_load_validate
    // (defaults from the spec, CFG_name overrides), BusyBox's logger
    // (-s, -t TAG, -p PRIO, the message or stdin; any other option fails).
    let stubs = r#"
LOG="$WORK/procd.log"
log() { echo "$*" >> "$LOG"; }
procd_open_service() { log "open_service $*"; }
procd_close_service() { log "ubus call service set"; }
rc_procd() { procd_open_service hamasq; "$@"; procd_close_service; }
start() { rc_procd start_service "$@"; }
procd_open_instance() { log "open_instance $*"; }
procd_set_param() { log "set_param $*"; }
procd_close_instance() { log "close_instance"; }
procd_add_reload_trigger() { log "reload_trigger $*"; }
procd_add_interface_trigger() { log "interface_trigger $*"; }
procd_add_raw_trigger() { log "raw_trigger $*"; }
procd_send_signal() { log "send_signal $*"; }
procd_add_validation() { VALIDATING=1; "$@"; VALIDATING=; }
uci_load_validate() {
	local pkg=$1 type=$2 name=$3 cb=$4 spec var def v; shift 4
	if [ -n "$VALIDATING" ]; then log "validate $pkg $type $*"; return 0; fi
	for spec in "$@"; do
		var=${spec%%:*}; def=${spec#*:}; def=${def#*:}
		case "$spec" in *:*:*) ;; *) def= ;; esac
		eval "v=\${CFG_$var-\$def}"
		eval "$var=\$v"
	done
	"$cb" "$name" 0
}
uci() { [ "$*" = "-q get dhcp.@dnsmasq[0].dhcpscript" ] && echo /etc/lease-hook.sh; }
logger() {
	local s= tag= prio=
	while [ $# -gt 0 ]; do
		case "$1" in
			-s) s=" -s"; shift ;;
			-t) tag=$2; shift 2 ;;
			-p) prio=$2; shift 2 ;;
			-*) echo "logger: invalid option -- '$1'" >&2; return 1 ;;
			*) break ;;
		esac
	done
	if [ $# -gt 0 ]; then log "logger$s $tag $prio: $*"
	else while IFS= read -r line; do log "logger$s $tag $prio: $line"; done
	fi
}
. "$INIT"
case "$ACT" in
	start) start; log "rc=$?"; service_triggers ;;
	boot) boot; log "rc=$?" ;;
	reload) reload_service; log "rc=$?" ;;
esac
"#;
    let shells: &[&[&str]] = if lab::have_commands("openwrt_init_script_busybox", &["busybox"]) {
        // The stub's strictness is BusyBox's: its logger has no -f.
        let o = run(Command::new("busybox").args(["logger", "-f", "/dev/null", "x"]));
        assert!(
            !o.status.success(),
            "busybox logger accepted -f: {}",
            text(&o)
        );
        &[&["sh"], &["busybox", "sh"]]
    } else {
        &[&["sh"]]
    };
    // The odhcpd sample needs no interface: its config passes --test here
    // (and it warns: odhcpd serves DHCPv4).
    // with the user this box has (the package creates hamasq)
    let sample = openwrt().join("test/odhcpd");
    let good = work.join("good-uci");
    let bad = work.join("bad-uci");
    let h = fs::read_to_string(sample.join("hamasq")).unwrap();
    assert!(h.contains("option user 'hamasq'"));
    let h = h.replace("option user 'hamasq'", "option user 'nobody'");
    for d in [&good, &bad] {
        fs::create_dir_all(d).unwrap();
        for f in ["dhcp", "network"] {
            fs::copy(sample.join(f), d.join(f)).unwrap();
        }
    }
    fs::write(good.join("hamasq"), &h).unwrap();
    fs::write(
        bad.join("hamasq"),
        h.replace("option log_level 'info'", "option log_level 'loud'"),
    )
    .unwrap();
    let conf = var_etc.join("hamasq.conf");
    let want_conf = fs::read_to_string(sample.join("expected.conf"))
        .unwrap()
        .replace("\nuser = hamasq\n", "\nuser = nobody\n");

    for shell in shells {
        let act = |act: &str, uci: &Path, env: &[(&str, &str)]| -> String {
            let _ = fs::remove_file(work.join("procd.log"));
            let init_copy = work.join("hamasq.init");
            fs::write(
                &init_copy,
                init.replace("/etc/config", uci.to_str().unwrap()),
            )
            .unwrap();
            let mut c = Command::new(shell[0]);
            c.args(&shell[1..])
                .arg("-c")
                .arg(stubs)
                .env("WORK", &work)
                .env("INIT", &init_copy)
                .env("ACT", act)
                .env("CFG_enabled", "1")
                .env("CFG_user", "nobody")
                .env("CFG_leasefile", work.join("dhcp.leases"))
                .env("CFG_hostsfile", work.join("hosts/hamasq"));
            for (k, v) in env {
                c.env(k, v);
            }
            run_ok(&mut c);
            fs::read_to_string(work.join("procd.log")).unwrap_or_default()
        };
        let _ = fs::remove_dir_all(&var_etc);

        // start
        let log = act("start", &good, &[]);
        let ctx = format!("{shell:?} start:\n{log}");
        let lines: Vec<&str> = log.lines().collect();
        for want in [
            "open_service hamasq".to_string(),
            "open_instance hamasq".into(),
            format!("set_param command {BIN} --foreground -c {}", conf.display()),
            // procd's defaults (3600 5 5), as dnsmasq's init has it
            "set_param respawn".into(),
            "set_param stderr 1".into(),
            format!(
                "set_param env HAMASQ_HOTPLUG_SUBSYSTEMS=hamasq USER_DHCPSCRIPT=/etc/lease-hook.sh HAMASQ_USER=nobody HAMASQ_LEASEFILE={} HAMASQ_HOSTSFILE={}",
                work.join("dhcp.leases").display(),
                work.join("hosts/hamasq").display()
            ),
            "close_instance".into(),
            "ubus call service set".into(),
            "rc=0".into(),
            "reload_trigger hamasq dhcp network".into(),
        ] {
            assert!(lines.contains(&want.as_str()), "no {want:?} in {ctx}");
        }
        // no procd user (it would leave hamasq without capabilities), no
        // catch-all trigger; the validation covers the section's options
        assert!(!log.contains("set_param user"), "{ctx}");
        assert!(!log.contains("raw_trigger"), "{ctx}");
        assert!(
            log.contains("validate hamasq hamasq enabled:bool:0 "),
            "{ctx}"
        );
        assert!(log.contains(" user:string:hamasq "), "{ctx}");
        // conversion warnings reach syslog (and the terminal: -s)
        assert!(
            log.contains("logger -s hamasq daemon.warn: hamasq-uci: odhcpd is the DHCPv4 server"),
            "{ctx}"
        );
        assert_eq!(fs::read_to_string(&conf).unwrap(), want_conf, "{ctx}");

        // a reload whose config fails --test: logged, procd asked nothing,
        // the running instance's config untouched
        let log = act("reload", &bad, &[]);
        let ctx = format!("{shell:?} failed reload:\n{log}");
        assert!(log.contains("rc=1"), "{ctx}");
        assert!(!log.contains("open_service"), "{ctx}");
        assert!(!log.contains("ubus call service set"), "{ctx}");
        assert!(!log.contains("send_signal"), "{ctx}");
        assert!(log.contains("logger -s hamasq daemon.err: "), "{ctx}");
        assert!(log.contains("log-level"), "{ctx}");
        assert!(log.contains("not replaced"), "{ctx}");
        assert_eq!(fs::read_to_string(&conf).unwrap(), want_conf, "{ctx}");
        // and no temporary file left behind
        let mut left: Vec<String> = fs::read_dir(&var_etc)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["hamasq.conf", "hamasq.ifaces", "hamasq.triggers"],
            "{ctx}"
        );

        // a good reload: re-registered (same parameters: procd keeps the
        // process), then SIGHUP
        let log = act("reload", &good, &[]);
        let ctx = format!("{shell:?} reload:\n{log}");
        let set = log
            .find("ubus call service set")
            .unwrap_or_else(|| panic!("{ctx}"));
        let sig = log
            .find("send_signal hamasq")
            .unwrap_or_else(|| panic!("{ctx}"));
        assert!(set < sig, "{ctx}");
        assert!(log.contains("rc=0"), "{ctx}");

        // boot: quiet (syslog only, warnings as notices)
        let log = act("boot", &good, &[]);
        let ctx = format!("{shell:?} boot:\n{log}");
        assert!(
            log.contains("logger hamasq daemon.notice: hamasq-uci: odhcpd"),
            "{ctx}"
        );
        assert!(!log.contains("logger -s"), "{ctx}");
        assert!(log.contains("open_instance hamasq"), "{ctx}");

        // the package's default, enabled 0: no instance at all
        let log = act("start", &good, &[("CFG_enabled", "0")]);
        let ctx = format!("{shell:?} disabled:\n{log}");
        assert!(!log.contains("open_instance"), "{ctx}");
        assert!(log.contains("rc=0"), "{ctx}");
    }
    let shipped = fs::read_to_string(openwrt().join("hamasq/files/hamasq.config")).unwrap();
    assert!(
        shipped.contains("option enabled '0'"),
        "the package must install disabled"
    );
}

/// The per-interface triggers: the interfaces hamasq serves (DHCP pools
/// and VRRP), from the generated config, and no others.
#[test]
fn openwrt_init_interface_triggers() {
    let work = scratch("openwrt-triggers");
    let init = fs::read_to_string(openwrt().join("hamasq/files/hamasq.init")).unwrap();
    let trig = work.join("hamasq.triggers");
    let init = init.replace("/var/etc", work.to_str().unwrap()).replace(
        "/usr/share/hamasq/hamasq-uci.sh",
        openwrt()
            .join("hamasq/files/hamasq-uci.sh")
            .to_str()
            .unwrap(),
    );
    // what hamasq_genconf writes there: the conversion's interface line
    let (ini, _) = uci_to_ini(&["sh"], "awk", &openwrt().join("test/ha-pair"));
    let line = ini
        .lines()
        .find_map(|l| l.strip_prefix("# netifd interfaces: "))
        .unwrap_or_else(|| panic!("{ini}"));
    assert_eq!(line, "lan guest");
    fs::write(&trig, format!("{line}\n")).unwrap();
    let init_path = work.join("init");
    fs::write(&init_path, &init).unwrap();
    let o = run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(
                r#"
procd_add_reload_trigger() { :; }
procd_add_validation() { :; }
procd_add_interface_trigger() { echo "$*"; }
. "$INIT"
service_triggers
"#,
            )
            .env("INIT", &init_path),
    );
    assert_eq!(
        stdout(&o),
        "interface.* lan /etc/init.d/hamasq reload\ninterface.* guest /etc/init.d/hamasq reload\n"
    );
}

/// A directory holding a `ubus` that records its arguments (one call per
/// line, arguments separated by ` | `), to put first on PATH.
fn ubus_stub(work: &Path) -> (PathBuf, PathBuf) {
    let bin = work.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let log = work.join("ubus.log");
    let _ = fs::remove_file(&log);
    fs::write(
        bin.join("ubus"),
        format!(
            "#!/bin/sh\nout=\nfor a in \"$@\"; do out=\"${{out:+$out | }}$a\"; done\nprintf '%s\\n' \"$out\" >> {}\n",
            log.display()
        ),
    )
    .unwrap();
    run_ok(Command::new("chmod").arg("+x").arg(bin.join("ubus")));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    (PathBuf::from(path), log)
}

/// The VRRP notify hook turns hamasq's notify arguments into hotplug
/// events in keepalived's vocabulary, handed to procd over ubus (so the
/// hotplug scripts run as root, not as hamasq's unprivileged user).
#[test]
fn openwrt_vrrp_hotplug_hook() {
    let work = scratch("openwrt-hotplug");
    let (path, log) = ubus_stub(&work);
    let hook = openwrt().join("hamasq/files/vrrp-hotplug");
    let shells: &[&[&str]] = if lab::have_commands("openwrt_vrrp_hotplug_busybox", &["busybox"]) {
        &[&["sh"], &["busybox", "sh"]]
    } else {
        &[&["sh"]]
    };
    for shell in shells {
        let _ = fs::remove_file(&log);
        let call = |subs: Option<&str>, args: &[&str]| {
            let mut c = Command::new(shell[0]);
            c.args(&shell[1..]).arg(&hook).args(args).env("PATH", &path);
            match subs {
                Some(s) => c.env("HAMASQ_HOTPLUG_SUBSYSTEMS", s),
                None => c.env_remove("HAMASQ_HOTPLUG_SUBSYSTEMS"),
            };
            run_ok(&mut c);
        };
        call(
            Some("hamasq keepalived"),
            &["INSTANCE", "lan", "MASTER", "150"],
        );
        call(None, &["INSTANCE", "lan", "BACKUP", "100"]);
        call(Some("hamasq"), &["INSTANCE", "lan", "FAULT", "0"]);
        call(Some("hamasq"), &["INSTANCE", "lan", "DELETED", "0"]);
        call(Some("hamasq"), &["GROUP", "g", "MASTER", "0"]);
        // a name that would break the JSON is not passed on
        call(Some("hamasq"), &["INSTANCE", "a\"b", "MASTER", "1"]);
        assert_eq!(
            fs::read_to_string(&log).unwrap(),
            "call | hotplug.hamasq | call | {\"env\":[\"ACTION=NOTIFY_MASTER\",\"TYPE=INSTANCE\",\"NAME=lan\",\"PRIORITY=150\"]}\n\
             call | hotplug.keepalived | call | {\"env\":[\"ACTION=NOTIFY_MASTER\",\"TYPE=INSTANCE\",\"NAME=lan\",\"PRIORITY=150\"]}\n\
             call | hotplug.hamasq | call | {\"env\":[\"ACTION=NOTIFY_BACKUP\",\"TYPE=INSTANCE\",\"NAME=lan\",\"PRIORITY=100\"]}\n\
             call | hotplug.hamasq | call | {\"env\":[\"ACTION=NOTIFY_FAULT\",\"TYPE=INSTANCE\",\"NAME=lan\",\"PRIORITY=0\"]}\n",
            "{shell:?}"
        );
    }
}

/// The `dhcp-script` bridge: dnsmasq's hotplug events over ubus (with the
/// DNSMASQ_* variables, JSON-escaped), the user's dhcpscript first, and
/// dnsmasq's lease file (for LuCI) and a hosts file (for dnsmasq's DNS)
/// kept in step, with dnsmasq told to re-read.
#[test]
fn openwrt_dhcp_hotplug_bridge() {
    let work = scratch("openwrt-dhcp-hotplug");
    let (path, ubus) = ubus_stub(&work);
    let events = work.join("events");
    let user = work.join("user.sh");
    fs::write(
        &user,
        format!("echo \"user $*\" >> {}\nexit 3\n", events.display()),
    )
    .unwrap();
    let hook = openwrt().join("hamasq/files/dhcp-hotplug");
    let leases = work.join("dhcp.leases");
    let hosts = work.join("hosts");
    let shells: &[&[&str]] = if lab::have_commands("openwrt_dhcp_hotplug_busybox", &["busybox"]) {
        &[&["sh"], &["busybox", "sh"]]
    } else {
        &[&["sh"]]
    };
    for shell in shells {
        for f in [&ubus, &events, &leases, &hosts] {
            let _ = fs::remove_file(f);
        }
        // a line of dnsmasq's own, which the bridge leaves alone
        fs::write(
            &leases,
            "1700000000 02:00:00:00:00:09 192.168.1.9 other *\n",
        )
        .unwrap();
        let call = |user_script: Option<&Path>, args: &[&str], env: &[(&str, &str)]| {
            let mut c = Command::new(shell[0]);
            c.args(&shell[1..])
                .arg(&hook)
                .args(args)
                .env("PATH", &path)
                .env("HAMASQ_LEASEFILE", &leases)
                .env("HAMASQ_HOSTSFILE", &hosts)
                .env("DNSMASQ_DOMAIN", "lan")
                .env("DNSMASQ_LEASE_EXPIRES", "1800000000");
            for (k, v) in env {
                c.env(k, v);
            }
            match user_script {
                Some(u) => c.env("USER_DHCPSCRIPT", u),
                None => c.env_remove("USER_DHCPSCRIPT"),
            };
            run_ok(&mut c);
        };
        let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();

        call(
            None,
            &["add", "02:00:00:00:00:01", "192.168.1.100", "alpha"],
            &[("DNSMASQ_CLIENT_ID", "01:02:00:00:00:00:01")],
        );
        assert_eq!(
            read(&leases),
            "1700000000 02:00:00:00:00:09 192.168.1.9 other *\n\
             1800000000 02:00:00:00:00:01 192.168.1.100 alpha 01:02:00:00:00:00:01\n"
        );
        assert_eq!(read(&hosts), "192.168.1.100 alpha alpha.lan\n");
        call(
            Some(&user),
            &["old", "02:00:00:00:00:01", "192.168.1.100", "beta"],
            &[],
        );
        assert_eq!(
            read(&leases),
            "1700000000 02:00:00:00:00:09 192.168.1.9 other *\n\
             1800000000 02:00:00:00:00:01 192.168.1.100 beta *\n"
        );
        assert_eq!(read(&hosts), "192.168.1.100 beta beta.lan\n");
        // a hostile name reaches the hotplug scripts escaped, and neither file
        call(
            None,
            &[
                "add",
                "02:00:00:00:00:02",
                "192.168.1.101",
                "x\"y\\z;$(reboot)",
            ],
            &[],
        );
        assert!(read(&leases).contains(" 02:00:00:00:00:02 192.168.1.101 * *\n"));
        assert!(!read(&hosts).contains("192.168.1.101"));
        call(None, &["del", "02:00:00:00:00:01", "192.168.1.100"], &[]);
        call(None, &["del", "02:00:00:00:00:02", "192.168.1.101"], &[]);
        call(
            None,
            &["arp-add", "02:00:00:00:00:01", "192.168.1.100"],
            &[],
        );
        assert_eq!(
            read(&leases),
            "1700000000 02:00:00:00:00:09 192.168.1.9 other *\n"
        );
        assert_eq!(read(&hosts), "");
        assert_eq!(
            read(&events),
            "user old 02:00:00:00:00:01 192.168.1.100 beta\n"
        );
        let sighup = "call | service | signal | {\"name\":\"dnsmasq\",\"signal\":1}";
        let ev = |a: &str, mac: &str, ip: &str, name: &str, extra: &str| {
            format!(
                "{sighup}\ncall | hotplug.dhcp | call | {{\"env\":[\"ACTION={a}\",\"MACADDR={mac}\",\"IPADDR={ip}\",\"HOSTNAME={name}\"{extra},\"DNSMASQ_DOMAIN=lan\",\"DNSMASQ_LEASE_EXPIRES=1800000000\"]}}\n"
            )
        };
        let want = [
            ev(
                "add",
                "02:00:00:00:00:01",
                "192.168.1.100",
                "alpha",
                ",\"DNSMASQ_CLIENT_ID=01:02:00:00:00:00:01\"",
            ),
            ev("update", "02:00:00:00:00:01", "192.168.1.100", "beta", ""),
            ev(
                "add",
                "02:00:00:00:00:02",
                "192.168.1.101",
                "x\\\"y\\\\z;$(reboot)",
                "",
            ),
            ev("remove", "02:00:00:00:00:01", "192.168.1.100", "", ""),
            ev("remove", "02:00:00:00:00:02", "192.168.1.101", "", ""),
        ]
        .concat();
        assert_eq!(read(&ubus), want, "{shell:?}");
    }
}

/// The package Makefile: OpenWrt's Rust support, and every file it
/// installs exists where the init script looks for it.
#[test]
fn openwrt_package_makefile_and_acl() {
    let pkg = openwrt().join("hamasq");
    let mk = fs::read_to_string(pkg.join("Makefile")).unwrap();
    for want in [
        "include $(TOPDIR)/feeds/packages/lang/rust/rust-package.mk",
        "PKG_BUILD_DEPENDS:=rust/host",
        "DEPENDS:=$(RUST_ARCH_DEPENDS)",
        "USERID:=hamasq=",
        "$(eval $(call RustBinPackage,hamasq))",
        "$(eval $(call BuildPackage,hamasq))",
        "$(HAMASQ_SRC)/Cargo.lock",
        "/etc/config/hamasq\n",
        // what openwrt/packages expects of a feed package
        "PKG_MAINTAINER:=",
        "  URL:=",
        "PKG_SOURCE_PROTO:=git",
        "PKG_SOURCE_URL:=",
        "PKG_SOURCE_VERSION:=v$(PKG_VERSION)",
        "PKG_MIRROR_HASH:=",
        "PKG_FILE_DEPENDS:=",
    ] {
        assert!(mk.contains(want), "Makefile lacks {want}");
    }
    assert!(
        mk.contains(&format!("PKG_VERSION:={VERSION}\n")),
        "PKG_VERSION must be {VERSION}"
    );
    // The feed's metadata are literal values, not variables a builder must
    // pass; the maintainer is the .deb's; the placeholders for what needs
    // public hosting are under .invalid, and a feed build refuses them.
    let field = |k: &str| -> String {
        mk.lines()
            .find_map(|l| l.trim_start().strip_prefix(k))
            .unwrap_or_else(|| panic!("Makefile has no {k}"))
            .to_string()
    };
    let cargo = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let deb_maintainer = cargo
        .lines()
        .find_map(|l| l.strip_prefix("maintainer = "))
        .unwrap()
        .trim_matches('"');
    assert_eq!(field("PKG_MAINTAINER:="), deb_maintainer);
    for k in ["PKG_MAINTAINER:=", "URL:=", "PKG_SOURCE_URL:="] {
        assert!(!field(k).contains("$("), "{k} is a variable: {}", field(k));
    }
    assert_eq!(field("URL:="), "https://hamasq.invalid/");
    assert!(field("PKG_SOURCE_URL:=").starts_with("https://git.hamasq.invalid/"));
    // With make, against an empty stand-in for OpenWrt's include files:
    // built from this tree it evaluates; copied alone into a feed it
    // stops on the placeholder rather than try to download it.
    if lab::have_commands("openwrt_package_makefile_and_acl", &["make"]) {
        let top = scratch("openwrt-make");
        for f in [
            "rules.mk",
            "include/package.mk",
            "feeds/packages/lang/rust/rust-package.mk",
        ] {
            fs::create_dir_all(top.join(f).parent().unwrap()).unwrap();
            fs::write(top.join(f), "").unwrap();
        }
        let feed = top.join("feed/hamasq");
        fs::create_dir_all(&feed).unwrap();
        fs::copy(pkg.join("Makefile"), feed.join("Makefile")).unwrap();
        let make = |dir: &Path| {
            run(Command::new("make")
                .arg("-s")
                .arg("-C")
                .arg(dir)
                .arg(format!("TOPDIR={}", top.display()))
                .arg(format!("INCLUDE_DIR={}", top.join("include").display()))
                .arg("--eval=evaluated: ; @echo evaluated")
                .arg("evaluated"))
        };
        let o = make(&pkg);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(stdout(&o), "evaluated\n");
        let o = make(&feed);
        assert!(!o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains("hamasq has no public repository yet"),
            "{}",
            text(&o)
        );
    }
    let mut installed = Vec::new();
    for l in mk.lines().filter(|l| l.contains("./files/")) {
        let w: Vec<&str> = l.split_whitespace().collect();
        let src = w[1].strip_prefix("./").unwrap();
        assert!(pkg.join(src).is_file(), "{src} is missing");
        installed.push(w[2].replace("$(1)", ""));
    }
    let init = fs::read_to_string(pkg.join("files/hamasq.init")).unwrap();
    for path in [
        "/etc/init.d/hamasq",
        "/etc/config/hamasq",
        "/usr/share/acl.d/hamasq.json",
        "/usr/share/hamasq/hamasq-uci.sh",
        "/usr/libexec/hamasq/vrrp-hotplug",
        "/usr/libexec/hamasq/dhcp-hotplug",
    ] {
        assert!(
            installed.iter().any(|i| i == path),
            "{path} not installed: {installed:?}"
        );
    }
    // no procd capabilities: they apply only in ujail (see the init script)
    assert!(!init.contains("capabilities /etc"), "{init}");
    assert!(init.contains(". /usr/share/hamasq/hamasq-uci.sh"));
    let uci = fs::read_to_string(openwrt().join("hamasq/files/hamasq-uci.sh")).unwrap();
    assert!(uci.contains("/usr/libexec/hamasq/vrrp-hotplug"));
    assert!(uci.contains("/usr/libexec/hamasq/dhcp-hotplug"));
    for f in [
        "hamasq.init",
        "hamasq-uci.sh",
        "vrrp-hotplug",
        "dhcp-hotplug",
    ] {
        run_ok(Command::new("sh").arg("-n").arg(pkg.join("files").join(f)));
    }
    // ubusd's ACL: hamasq's user may call procd's hotplug objects (so the
    // hotplug scripts run as root) and signal services (dnsmasq re-reads
    // the hosts file), nothing else.
    let acl = fs::read_to_string(pkg.join("files/hamasq.acl.json")).unwrap();
    let body: String = acl.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(
        body,
        "{\"user\":\"hamasq\",\"access\":{\"hotplug.dhcp\":{\"methods\":[\"call\"]},\
         \"hotplug.hamasq\":{\"methods\":[\"call\"]},\"hotplug.keepalived\":{\"methods\":[\"call\"]},\
         \"service\":{\"methods\":[\"signal\"]}}}"
    );
    for f in ["vrrp-hotplug", "dhcp-hotplug"] {
        let hook = fs::read_to_string(pkg.join("files").join(f)).unwrap();
        assert!(hook.contains("ubus call"), "{f}");
        assert!(
            !hook.contains("/sbin/hotplug-call"),
            "{f} runs hotplug scripts unprivileged"
        );
    }
    // The default /etc/config/hamasq is the default sample's, installed
    // disabled.
    let shipped = fs::read_to_string(pkg.join("files/hamasq.config")).unwrap();
    assert!(shipped.contains("\toption enabled '0'\n"));
    assert_eq!(
        shipped.replace("\toption enabled '0'\n", "\toption enabled '1'\n"),
        fs::read_to_string(openwrt().join("test/default/hamasq")).unwrap()
    );
}

// ---------------------------------------------------------------------------
// Debian
// ---------------------------------------------------------------------------

#[test]
fn debian_package() {
    if !lab::have_commands("debian_package", &["dpkg-deb", "python3"]) {
        return;
    }
    let work = scratch("deb");
    let bin = static_binary("x86_64-unknown-linux-musl");
    let o = run_ok(
        Command::new("python3")
            .arg(root().join("packaging/debian/build-deb.py"))
            .arg("--binary")
            .arg(bin)
            .arg("--out")
            .arg(&work),
    );
    let deb = PathBuf::from(stdout(&o).trim());
    assert_eq!(
        deb.file_name().unwrap().to_str().unwrap(),
        format!("hamasq_{VERSION}-1_amd64.deb")
    );
    let field = |f: &str| {
        stdout(&run_ok(
            Command::new("dpkg-deb").arg("--field").arg(&deb).arg(f),
        ))
        .trim()
        .to_string()
    };
    assert_eq!(field("Package"), "hamasq");
    assert_eq!(field("Version"), format!("{VERSION}-1"));
    assert_eq!(field("Architecture"), "amd64");
    assert!(field("Depends").contains("adduser"));
    assert!(field("Depends").contains("init-system-helpers"));
    assert!(!field("Maintainer").is_empty());

    let list = stdout(&run_ok(
        Command::new("dpkg-deb").arg("--contents").arg(&deb),
    ));
    for (mode, path) in [
        ("-rwxr-xr-x root/root", "./usr/sbin/hamasq"),
        (
            "-rw-r--r-- root/root",
            "./usr/lib/systemd/system/hamasq.service",
        ),
        ("-rw-r--r-- root/root", "./etc/hamasq.conf"),
        ("-rw-r--r-- root/root", "./etc/default/hamasq"),
        ("-rw-r--r-- root/root", "./usr/share/doc/hamasq/copyright"),
        (
            "-rw-r--r-- root/root",
            "./usr/share/doc/hamasq/hamasq.conf.example.gz",
        ),
        (
            "-rw-r--r-- root/root",
            "./usr/share/doc/hamasq/changelog.Debian.gz",
        ),
        ("-rw-r--r-- root/root", "./usr/share/man/man8/hamasq.8.gz"),
        (
            "-rw-r--r-- root/root",
            "./usr/share/man/man5/hamasq.conf.5.gz",
        ),
        (
            "-rw-r--r-- root/root",
            "./usr/share/lintian/overrides/hamasq",
        ),
    ] {
        assert!(
            list.lines()
                .any(|l| l.starts_with(mode) && l.ends_with(path)),
            "{mode} {path} not in:\n{list}"
        );
    }

    let ctl = work.join("DEBIAN");
    run_ok(
        Command::new("dpkg-deb")
            .arg("--control")
            .arg(&deb)
            .arg(&ctl),
    );
    assert_eq!(
        fs::read_to_string(ctl.join("conffiles")).unwrap(),
        "/etc/hamasq.conf\n/etc/default/hamasq\n"
    );
    let postinst = fs::read_to_string(ctl.join("postinst")).unwrap();
    for want in [
        "adduser --system",
        "install -d -o hamasq -g hamasq -m 0750 /var/lib/hamasq",
        "deb-systemd-helper enable 'hamasq.service'",
        "deb-systemd-invoke $_dh_action 'hamasq.service'",
    ] {
        assert!(
            postinst.contains(want),
            "postinst lacks {want}:\n{postinst}"
        );
    }
    assert!(
        fs::read_to_string(ctl.join("prerm"))
            .unwrap()
            .contains("stop 'hamasq.service'")
    );
    assert!(
        fs::read_to_string(ctl.join("postrm"))
            .unwrap()
            .contains("rm -rf /var/lib/hamasq")
    );
    for s in ["postinst", "prerm", "postrm"] {
        let t = fs::read_to_string(ctl.join(s)).unwrap();
        assert!(!t.contains("#DEBHELPER#"), "{s}");
        run_ok(Command::new("sh").arg("-n").arg(ctl.join(s)));
    }

    // The files themselves: the binary runs, the unit is the tree's, and
    // the conffile passes --test (its pid and state directories, which
    // systemd and postinst create, moved to scratch ones).
    let x = work.join("root");
    run_ok(Command::new("dpkg-deb").arg("--extract").arg(&deb).arg(&x));
    assert_eq!(
        fs::read(x.join("usr/sbin/hamasq")).unwrap(),
        fs::read(bin).unwrap()
    );
    assert_eq!(
        fs::read(x.join("usr/lib/systemd/system/hamasq.service")).unwrap(),
        fs::read(root().join("contrib/systemd/hamasq.service")).unwrap()
    );
    let o = run_ok(Command::new(x.join("usr/sbin/hamasq")).arg("--version"));
    assert_eq!(stdout(&o).trim(), format!("hamasq {VERSION}"));
    // DEP-5 copyright with the licence text
    let copyright = fs::read_to_string(x.join("usr/share/doc/hamasq/copyright")).unwrap();
    assert!(copyright.starts_with(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
    ));
    assert!(copyright.contains("\nFiles: *\n"), "{copyright}");
    assert!(
        copyright.contains("\nLicense: Expat\n MIT License\n .\n"),
        "{copyright}"
    );
    assert!(
        copyright.contains("\n Permission is hereby granted"),
        "{copyright}"
    );
    let conf = fs::read_to_string(x.join("etc/hamasq.conf")).unwrap();
    let conf = conf
        .replace("/run/hamasq/", &format!("{}/", work.display()))
        .replace("/var/lib/hamasq", work.join("state").to_str().unwrap());
    fs::write(work.join("test.conf"), conf).unwrap();
    let o = run(Command::new(x.join("usr/sbin/hamasq"))
        .args(["--test", "-c"])
        .arg(work.join("test.conf")));
    assert!(o.status.success(), "{}", text(&o));
}

/// Builds the .deb around BINARY (revision REV) into DIR.
fn build_deb(binary: &Path, dir: &Path, rev: &str) -> PathBuf {
    let o = run_ok(
        Command::new("python3")
            .arg(root().join("packaging/debian/build-deb.py"))
            .arg("--binary")
            .arg(binary)
            .args(["--revision", rev, "--out"])
            .arg(dir),
    );
    PathBuf::from(stdout(&o).trim())
}

/// lintian on the built .deb: no error. The two tags about the
/// maintainer's address are left out: the project has no public address
/// yet (`hamasq@invalid` in Cargo.toml); a build with DEBEMAIL set (the
/// Debian convention, build-deb.py honours it) has neither.
#[test]
fn debian_package_passes_lintian() {
    if !lab::have_commands(
        "debian_package_passes_lintian",
        &["lintian", "dpkg-deb", "python3"],
    ) {
        return;
    }
    let work = scratch("deb-lintian");
    let deb = build_deb(static_binary("x86_64-unknown-linux-musl"), &work, "1");
    let o = run(Command::new("lintian")
        .args(["--fail-on", "error", "--suppress-tags"])
        .arg("bogus-mail-host,bogus-mail-host-in-debian-changelog")
        .arg(&deb));
    let out = text(&o);
    // lintian's report straight to CI's log
    eprintln!("lintian {}:\n{out}", deb.display());
    assert!(o.status.success(), "{out}");
    assert!(!stdout(&o).lines().any(|l| l.starts_with("E: ")), "{out}");
    // the static binary is overridden, not silently fine
    for tag in [
        "statically-linked-binary",
        "shared-library-lacks-prerequisites",
    ] {
        assert!(!stdout(&o).contains(tag), "{out}");
    }
}

/// Puts back what the dpkg test changed on the machine, however it ends.
struct DpkgCleanup {
    policy_rc_d: bool,
    user_existed: bool,
}

impl Drop for DpkgCleanup {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "hamasq"]).output();
        if !self.user_existed {
            let _ = Command::new("deluser")
                .args(["--system", "--quiet", "hamasq"])
                .output();
            let _ = Command::new("delgroup")
                .args(["--system", "--quiet", "hamasq"])
                .output();
        }
        if self.policy_rc_d {
            let _ = fs::remove_file("/usr/sbin/policy-rc.d");
        }
    }
}

/// The .deb installed, upgraded, removed and purged with dpkg on this
/// machine (CI runs as root), in one go: nothing else may use dpkg's
/// package `hamasq` meanwhile. policy-rc.d keeps the unit from starting;
/// the package is purged at the end, and the user and policy-rc.d the test
/// brought are removed, whatever happens.
#[test]
fn debian_package_installs_upgrades_removes_and_purges() {
    let name = "debian_package_installs_upgrades_removes_and_purges";
    if !nix::unistd::Uid::effective().is_root() {
        lab::unavailable(name, "dpkg -i needs root");
        return;
    }
    if !lab::have_commands(name, &["dpkg", "dpkg-deb", "adduser", "deluser", "python3"]) {
        return;
    }
    let installed =
        |p: &str| run(Command::new("dpkg-query").args(["-W", "-f", "${db:Status-Abbrev}", p]));
    assert!(
        !stdout(&installed("hamasq")).starts_with("ii"),
        "hamasq is installed on this machine: not touching it"
    );
    let work = scratch("deb-dpkg");
    // The maintainer scripts and dpkg are what is tested: the package is
    // built around this test run's own binary (no static build needed).
    let v1 = build_deb(Path::new(BIN), &work.join("1"), "1");
    let v2 = build_deb(Path::new(BIN), &work.join("2"), "2");
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let _cleanup = DpkgCleanup {
        policy_rc_d: !policy.exists(),
        user_existed: nix::unistd::User::from_name("hamasq").unwrap().is_some(),
    };
    if !policy.exists() {
        fs::write(
            policy,
            "#!/bin/sh\n# hamasq's packaging test: start no service\nexit 101\n",
        )
        .unwrap();
        run_ok(Command::new("chmod").arg("+x").arg(policy));
    }
    let status = || stdout(&installed("hamasq")).trim().to_string();
    let version = || {
        stdout(&run_ok(Command::new("dpkg-query").args([
            "-W",
            "-f",
            "${Version}",
            "hamasq",
        ])))
    };
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    // install
    run_ok(Command::new("dpkg").arg("-i").arg(&v1));
    assert_eq!(status(), "ii");
    assert_eq!(version(), format!("{VERSION}-1"));
    let user = nix::unistd::User::from_name("hamasq")
        .unwrap()
        .expect("user hamasq");
    let state = fs::metadata("/var/lib/hamasq").unwrap();
    assert_eq!(state.uid(), user.uid.as_raw());
    assert_eq!(state.permissions().mode() & 0o7777, 0o750);
    let conf = fs::metadata("/etc/hamasq.conf").unwrap();
    assert_eq!((conf.uid(), conf.gid()), (0, user.gid.as_raw()));
    assert_eq!(conf.permissions().mode() & 0o7777, 0o640);
    assert!(Path::new("/usr/share/man/man8/hamasq.8.gz").exists());
    let o = run_ok(Command::new("/usr/sbin/hamasq").arg("--version"));
    assert_eq!(stdout(&o).trim(), format!("hamasq {VERSION}"));

    // upgrade, with the admin's edit of the conffile kept
    let mut edited = fs::read_to_string("/etc/hamasq.conf").unwrap();
    edited += "\n# edited by the admin\n";
    fs::write("/etc/hamasq.conf", &edited).unwrap();
    fs::write("/var/lib/hamasq/marker", "lease").unwrap();
    run_ok(
        Command::new("dpkg")
            .args(["-i", "--force-confold"])
            .arg(&v2),
    );
    assert_eq!(status(), "ii");
    assert_eq!(version(), format!("{VERSION}-2"));
    assert_eq!(fs::read_to_string("/etc/hamasq.conf").unwrap(), edited);
    assert!(Path::new("/var/lib/hamasq/marker").exists());

    // remove: the program goes, the config and the leases stay
    run_ok(Command::new("dpkg").args(["-r", "hamasq"]));
    assert_eq!(status(), "rc");
    assert!(!Path::new("/usr/sbin/hamasq").exists());
    assert!(Path::new("/etc/hamasq.conf").exists());
    assert!(Path::new("/var/lib/hamasq/marker").exists());

    // purge: nothing of it is left (the user stays, as Debian policy has it)
    run_ok(Command::new("dpkg").args(["-P", "hamasq"]));
    assert_eq!(status(), "");
    for p in [
        "/etc/hamasq.conf",
        "/etc/default/hamasq",
        "/var/lib/hamasq",
        "/usr/lib/systemd/system/hamasq.service",
        "/etc/systemd/system/multi-user.target.wants/hamasq.service",
    ] {
        assert!(!Path::new(p).exists(), "{p} left after purge");
    }
}

// ---------------------------------------------------------------------------
// Container
// ---------------------------------------------------------------------------

#[test]
fn container_files() {
    let dir = root().join("packaging/docker");
    let df = fs::read_to_string(dir.join("Dockerfile")).unwrap();
    let lines: Vec<&str> = df
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(lines[0], "FROM scratch");
    let triple = lines
        .iter()
        .find_map(|l| l.strip_prefix("ARG TRIPLE="))
        .expect("ARG TRIPLE=");
    assert_eq!(triple, "x86_64-unknown-linux-musl");
    let copies: Vec<(String, String)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("COPY "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[0].replace("${TRIPLE}", triple), w[1].to_string())
        })
        .collect();
    let (bin_src, bin_dest) = &copies[0];
    assert_eq!(bin_src, &format!("target/static/{triple}/hamasq"));
    let entry = lines
        .iter()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .unwrap();
    assert!(
        entry.starts_with(&format!("[\"{bin_dest}\", \"--foreground\"")),
        "{entry}"
    );
    // The build context sends exactly what COPY takes.
    let ignore = fs::read_to_string(dir.join("Dockerfile.dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "*"));
    assert!(ignore.lines().any(|l| l == "!target/static/*/hamasq"));
    for (src, _) in &copies[1..] {
        assert!(
            ignore.lines().any(|l| l == format!("!{src}")),
            "{src} not in the context"
        );
        assert!(root().join(src).exists(), "{src}");
    }
    // The image's own config is valid.
    let o = run(Command::new(BIN)
        .args(["--test", "-c"])
        .arg(dir.join("hamasq.conf")));
    assert!(o.status.success(), "{}", text(&o));

    // The COPY source is what contrib/build-static.sh produces.
    let built = static_binary(triple);
    assert_eq!(built, root().join(bin_src));
    let e = elf(&fs::read(built).unwrap());
    assert!(!e.interp && e.needed == 0, "{e:?}");

    // compose.yaml parses as YAML (yq: jq over Python's yaml) and asks for
    // the host network and the capabilities hamasq needs.
    if !lab::have_commands("container_files_compose", &["yq"]) {
        return;
    }
    let q = |filter: &str| {
        stdout(&run_ok(
            Command::new("yq")
                .args(["-r", filter])
                .arg(dir.join("compose.yaml")),
        ))
    };
    let services = q(".services | keys[]");
    let services: Vec<&str> = services.lines().collect();
    assert_eq!(services, ["hamasq-a", "hamasq-b"]);
    for s in &services {
        assert_eq!(
            q(&format!(".services[\"{s}\"].network_mode")).trim(),
            "host"
        );
        let caps = q(&format!(".services[\"{s}\"].cap_add[]"));
        for c in ["NET_ADMIN", "NET_RAW"] {
            assert!(caps.lines().any(|l| l == c), "{s}: {caps}");
        }
        let vols = q(&format!(".services[\"{s}\"].volumes[]"));
        assert!(
            vols.lines().any(|v| v.ends_with(":/var/lib/hamasq")),
            "{vols}"
        );
        for v in vols.lines().filter(|v| v.starts_with("./")) {
            let host = v.split(':').next().unwrap();
            assert!(dir.join(host).is_file(), "{s}: {host} missing");
        }
    }
}

/// The image itself: `buildah` (Debian's; no Docker daemon needed) builds
/// the Dockerfile from the tree and the static binary, and the binary runs
/// inside the image's root with nothing else in it.
#[test]
fn container_image_builds_and_runs() {
    if !lab::is_root() {
        let _ = lab::unavailable("container_image_builds_and_runs", "buildah needs root here");
        return;
    }
    if !lab::have_commands("container_image_builds_and_runs", &["buildah"]) {
        return;
    }
    let triple = "x86_64-unknown-linux-musl";
    static_binary(triple);
    let work = scratch("container-image");
    // A storage of its own (vfs: no overlay mount needed), removed at the end.
    let store = work.join("storage");
    let buildah = |args: &[&str]| -> Output {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(store.join("root"))
            .arg("--runroot")
            .arg(store.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args);
        run(&mut c)
    };
    let tag = format!("localhost/hamasq-ci-{}:test", std::process::id());
    let df = root().join("packaging/docker/Dockerfile");
    let o = buildah(&[
        "bud",
        // Docker's image format, as `docker build` makes it: OCI's has no
        // HEALTHCHECK
        "--format",
        "docker",
        "--build-arg",
        &format!("TRIPLE={triple}"),
        "-f",
        df.to_str().unwrap(),
        "-t",
        &tag,
        root().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "buildah bud: {}", text(&o));
    let o = buildah(&["inspect", "--type", "image", &tag]);
    assert!(o.status.success(), "{}", text(&o));
    let cfg: String = stdout(&o).chars().filter(|c| !c.is_whitespace()).collect();
    for want in [
        r#""Entrypoint":["/usr/sbin/hamasq","--foreground"]"#,
        r#""Cmd":["-c","/etc/hamasq.conf"]"#,
        r#""/var/lib/hamasq":{}"#,
        r#""Test":["CMD","/usr/sbin/hamasq","status","-c","/etc/hamasq.conf"]"#,
    ] {
        assert!(cfg.contains(want), "{want} not in {cfg}");
    }
    let o = buildah(&[
        "from",
        "--name",
        &format!("hamasq-ci-{}", std::process::id()),
        &tag,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let ctr = stdout(&o).trim().to_string();
    // Exactly the binary and the config: FROM scratch.
    let o = buildah(&["mount", &ctr]);
    assert!(o.status.success(), "{}", text(&o));
    let mnt = PathBuf::from(stdout(&o).trim());
    let mut files = Vec::new();
    let mut stack = vec![mnt.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p.strip_prefix(&mnt).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    assert_eq!(files, ["etc/hamasq.conf", "usr/sbin/hamasq"]);
    assert_eq!(
        fs::read(mnt.join("usr/sbin/hamasq")).unwrap(),
        fs::read(static_binary(triple)).unwrap()
    );
    let _ = buildah(&["umount", &ctr]);
    // It runs in the image's root (chroot isolation: no cgroups needed).
    let exec = |args: &[&str]| {
        let mut v = vec![
            "run",
            "--isolation",
            "chroot",
            "--network",
            "host",
            &ctr,
            "--",
        ];
        v.extend_from_slice(args);
        buildah(&v)
    };
    let o = exec(&["/usr/sbin/hamasq", "--version"]);
    assert_eq!(
        stdout(&o).trim(),
        format!("hamasq {VERSION}"),
        "{}",
        text(&o)
    );
    let o = exec(&["/usr/sbin/hamasq", "--test", "-c", "/etc/hamasq.conf"]);
    assert!(o.status.success(), "{}", text(&o));
    // The health check fails while no daemon answers.
    let o = exec(&["/usr/sbin/hamasq", "status", "-c", "/etc/hamasq.conf"]);
    assert!(!o.status.success(), "{}", text(&o));
    let _ = buildah(&["rm", &ctr]);
    let _ = buildah(&["rmi", &tag]);
    let _ = fs::remove_dir_all(&store);
}

/// The pair's two configs of the compose example pass `hamasq --test` on a
/// box with their eth0, and split the pool between them.
#[test]
fn container_pair_configs_pass_hamasq_test() {
    let a = fs::read_to_string(root().join("packaging/docker/a/hamasq.conf")).unwrap();
    let b = fs::read_to_string(root().join("packaging/docker/b/hamasq.conf")).unwrap();
    let val = |t: &str, k: &str| {
        t.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = ")))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        val(&a, "dhcp-peer-range"),
        val(&b, "dhcp-range").trim_end_matches(",12h")
    );
    assert_eq!(
        val(&b, "dhcp-peer-range"),
        val(&a, "dhcp-range").trim_end_matches(",12h")
    );
    assert_ne!(val(&a, "priority"), val(&b, "priority"));
    // Clients are told to use the VIP for DNS, and hamasq answers DNS.
    for t in [&a, &b] {
        let vip = val(t, "virtual-ipaddress");
        let vip = vip.split('/').next().unwrap();
        assert_eq!(val(t, "dhcp-option"), format!("option:dns-server,{vip}"));
        assert!(t.contains("\n[dns]\n"), "{t}");
    }
    let Some(mut lab) = lab::Lab::new("container_pair_configs_pass_hamasq_test") else {
        return;
    };
    lab.add_host("a", &["192.168.1.2/24"]);
    lab.add_host("c", &["192.168.1.50/24"]);
    let h = lab.host("a");
    for side in ["a", "b"] {
        let conf = root().join(format!("packaging/docker/{side}/hamasq.conf"));
        let o = h.run(&[BIN, "--test", "-c", conf.to_str().unwrap()]);
        assert!(o.status.success(), "{side}: {}", text(&o));
    }
    // Box A alone: it takes the VIP and a client's query to the VIP gets
    // an answer (a local name, so no upstream is needed).
    let work = scratch("container-pair-dns");
    let conf = work.join("a.conf");
    fs::write(
        &conf,
        a.replace("/var/lib/hamasq", work.join("state").to_str().unwrap())
            + "host-record = gw.lan,192.168.1.1\n",
    )
    .unwrap();
    let d = h.spawn(&[BIN, "--foreground", "-c", conf.to_str().unwrap()]);
    d.wait_for_log("role=active", std::time::Duration::from_secs(20));
    let c = lab.host("c");
    let mut answer = String::new();
    for _ in 0..20 {
        let o = c.run(&[
            "dig",
            "+short",
            "+time=1",
            "+tries=1",
            "@192.168.1.1",
            "gw.lan",
        ]);
        answer = stdout(&o);
        if answer.trim() == "192.168.1.1" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(answer.trim(), "192.168.1.1", "{}", d.logs());
}

// ---------------------------------------------------------------------------
// Portability: 32-bit MIPS/PowerPC, MSRV
// ---------------------------------------------------------------------------

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// 32-bit MIPS (OpenWrt's ath79, ramips), PowerPC and ARMv5 have no 64-bit
/// atomics: `std::sync::atomic::AtomicU64` does not exist there and the
/// crate would not compile (the MIPS build of `build-static.sh` proves it
/// for real; this catches a new use early, on any host). 64-bit counters
/// use `portable_atomic::AtomicU64`, which falls back to a lock there.
#[test]
fn no_std_64_bit_atomics() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut bad = Vec::new();
    for f in &files {
        let src = fs::read_to_string(f).unwrap();
        for (n, line) in src.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            let std_atomic =
                code.contains("std::sync::atomic") || code.contains("core::sync::atomic");
            if std_atomic && (code.contains("AtomicU64") || code.contains("AtomicI64")) {
                bad.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "64-bit atomics from std (absent on 32-bit MIPS/PowerPC; use portable_atomic):\n{}",
        bad.join("\n")
    );
}

/// `x.y` or `x.y.z` as a comparable triple.
fn version(v: &str) -> (u32, u32, u32) {
    let mut p = v.split('.').map(|x| x.parse::<u32>().unwrap());
    (
        p.next().unwrap(),
        p.next().unwrap_or(0),
        p.next().unwrap_or(0),
    )
}

/// `rust-version` in Cargo.toml is the real floor: no locked dependency
/// needs a newer Rust (`cargo metadata` gives each one's `rust-version`),
/// and packaging/README.md tells OpenWrt users that version.
#[test]
fn rust_version_covers_the_dependencies_and_is_documented() {
    let toml = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let msrv = toml
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version in Cargo.toml")
        .trim_matches('"')
        .to_string();
    let o = run_ok(Command::new(env!("CARGO")).current_dir(root()).args([
        "metadata",
        "--format-version",
        "1",
        "--locked",
        "--offline",
    ]));
    let json = stdout(&o);
    let key = "\"rust_version\":\"";
    let mut needs: Vec<&str> = json
        .match_indices(key)
        .map(|(i, _)| {
            let rest = &json[i + key.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert!(needs.len() > 5, "no rust_version in cargo metadata?");
    needs.sort_by_key(|v| version(v));
    let highest = needs.last().unwrap();
    assert!(
        version(highest) <= version(&msrv),
        "a dependency needs Rust {highest}, Cargo.toml says rust-version = {msrv}"
    );
    let readme = fs::read_to_string(root().join("packaging/README.md")).unwrap();
    assert!(
        readme.contains(&format!("Rust {msrv}")),
        "packaging/README.md does not state the MSRV (Rust {msrv})"
    );
}
