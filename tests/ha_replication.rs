//! The pair link end to end (issue 13, design §9): two hamasq boxes share
//! a VIP with VRRP, split one DHCP subnet, and replicate every lease
//! change over `[ha]`.
//!
//! Lab: `a` 192.168.79.2 (priority 150, own range .20-.119), `b`
//! 192.168.79.3 (priority 100 unless a test says otherwise, own range
//! .120-.219), VIP 192.168.79.1/24, adverts every 100 ms, `[ha] pair = a,
//! b` with one key file, `[dns]` with `domain = lan`, metrics on each
//! box's loopback. `q` 192.168.79.9 asks DNS with dig. DHCP clients are
//! real busybox udhcpc and ISC dhclient processes (one-shot, with host
//! names) whose scripts only record what they got (udhcpc's `$lease`,
//! dhclient's `$new_dhcp_lease_time`). `tcpdump -Q out -tttt` (UTC) on a
//! box's eth0 records every DHCP reply it sends, with stamps comparable
//! with the log's.
//!
//! Tests:
//! * `names_resolve_on_the_new_active_at_once_after_a_link_cut` and
//!   `..._after_a_sigkill`: 20 named clients lease from A; B learns every
//!   lease over the link (its `hamasq leases` lists them); A's link is cut
//!   (or A is SIGKILLed); as soon as B holds the VIP, every name resolves
//!   through the VIP on B: before any client renews (leases of 10 minutes,
//!   no client runs after its lease).
//! * `a_box_back_with_an_empty_store_catches_up_before_it_answers`: B
//!   (priority 200, above A) serves five clients, stops; its state
//!   directory is wiped while A serves five more; B returns (its link
//!   held off for 3 s, as by A's reconnect backoff) while a client does
//!   DORA every 0.2 s: B logs `ha.full_transfer_start`, then
//!   `ha.caught_up`, then `role=active`; it sent no DHCP reply before it
//!   caught up; then its `hamasq leases` lists all eleven leases with
//!   their names, and each name resolves on B.
//! * `a_wrong_key_a_stranger_and_forged_frames_are_refused_and_change_nothing`:
//!   B with another key: both log `ha.auth_failed reason=wrong_key`,
//!   `hamasq_ha_auth_failures_total` > 0 on both, B learns nothing and A
//!   serves. B with the right key (the link recorded by tcpdump): a
//!   stranger at .8 with the right key is refused at once
//!   (`ha.connection_refused`). A stopped, `x` takes A's address and
//!   `tests/ha_replication/inject.py` sends junk (`not_our_protocol`), a
//!   random proof (`wrong_key`), A's recorded session replayed
//!   (`wrong_key`), a CHANGE with a forged tag and A's recorded CHANGE in
//!   a new keyed session (`bad_tag`): each closed, B's store unchanged,
//!   exactly four authentication failures counted; the same injector's
//!   correctly tagged CHANGE is stored (it speaks the protocol).
//! * `a_partition_heals_to_one_store_without_duplicates_or_a_nak_storm`:
//!   `mclt = 60`; VRRP and the pair link dropped between A and B by
//!   address for 60 s (both Active); clients arrive, some reaching one box
//!   only (a bridge filter), and `y` (B only) claims by INIT-REBOOT the
//!   address A gave `x`: B adopts it; every lease granted meanwhile lasts
//!   at most 60 s (600 s in sync before). After the heal: one VIP, the
//!   stores converge, `ha.conflict` for that address on both boxes,
//!   `hamasq_ha_conflicts_total` and `hamasq status` report it; both
//!   boxes resolve every name (the winner's at the disputed address, the
//!   loser's not there); every client asks for its address again: the winner keeps it, the loser
//!   alone gets a NAK (from A), B sends none once Backup, at most three
//!   NAKs in all.
//! * `a_frozen_active_hands_over_every_name_and_the_stores_converge_after_sigcont`:
//!   SIGSTOP on A: B takes over, A's kernel drops the VIP (vip-lifetime),
//!   five more clients lease from B, all ten names resolve through the
//!   VIP on B; SIGCONT: exactly one box (A) holds the VIP, the stores
//!   converge and all ten names resolve on A.
//!
//! Each test prints what it measured (`--nocapture`).

mod lab;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lab::{Host, Lab, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");

const VIP: &str = "192.168.79.1";
const A_IP: &str = "192.168.79.2";
const B_IP: &str = "192.168.79.3";
const A_ADDR: &str = "192.168.79.2/24";
const B_ADDR: &str = "192.168.79.3/24";
const Q_ADDR: &str = "192.168.79.9/24";
const A_RANGE: (&str, &str) = ("192.168.79.20", "192.168.79.119");
const B_RANGE: (&str, &str) = ("192.168.79.120", "192.168.79.219");
const CLIENTS: usize = 20;
const METRICS_PORT: u16 = 9153;
use lab::probe::PY;
const INJECT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/ha_replication/inject.py"
);
/// Another key than [`KEY`] (test 3).
const OTHER_KEY: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// One box's config: `a` owns A_RANGE, `b` B_RANGE; `key` goes into the
/// box's key file, `ha_extra` into its `[ha]` section. Metrics on the
/// box's loopback (each box has its own namespace).
fn box_conf(lab: &Lab, name: &str, prio: u8, key: &str, ha_extra: &str) -> PathBuf {
    let (own, peer) = if name == "a" {
        (A_RANGE, B_RANGE)
    } else {
        (B_RANGE, A_RANGE)
    };
    let dir = lab.dir().join(format!("hq-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("ha.key");
    std::fs::write(&key_file, key).unwrap();
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let p = dir.join("hamasq.conf");
    std::fs::write(
        &p,
        format!(
            "[general]\npid-file = none\nstate-dir = {state}\nlog-level = debug\n\
             control-socket = {dir}/control.sock\nmetrics-listen = 127.0.0.1:{METRICS_PORT}\n\n\
             [dns]\nno-resolv = true\nlocal = /lan/\ndomain = lan\n\n\
             [dhcp]\ninterface = eth0\ndhcp-range = {},{},10m\ndhcp-peer-range = {},{}\n\n\
             [vrrp lan]\ninterface = eth0\nvirtual-router-id = 52\npriority = {prio}\nadvert-int = 0.1\n\
             virtual-ipaddress = {VIP}/24\ngarp-master-delay = 0\n\n\
             [ha]\npair = {A_IP}, {B_IP}\nkey-file = {key}\n{ha_extra}",
            own.0,
            own.1,
            peer.0,
            peer.1,
            state = dir.join("state").display(),
            dir = dir.display(),
            key = key_file.display(),
        ),
    )
    .unwrap();
    p
}

fn start(host: &Host, conf: &Path) -> Proc {
    let p = host.spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
    p.wait_for_log("daemon.ready", Duration::from_secs(10));
    p
}

/// The lab `test` (None when it cannot run): `a`, `b`, `q`, the hosts of
/// `extra` (name, addresses), and `clients` DHCP clients `c0`, `c1`, ...
fn pair_lab(test: &str, extra: &[(&str, &[&str])], clients: usize) -> Option<Lab> {
    let mut lab = Lab::new(test)?;
    lab.add_host("a", &[A_ADDR]);
    lab.add_host("b", &[B_ADDR]);
    lab.add_host("q", &[Q_ADDR]);
    for (h, addrs) in extra {
        lab.add_host(h, addrs);
    }
    for i in 0..clients {
        lab.add_host(&format!("c{i}"), &[]);
    }
    Some(lab)
}

/// A (priority 150), Active; then B with `b_prio` and `b_key`, until its
/// `role` (`active` or `backup`). Both share `ha_extra`.
fn start_boxes(
    lab: &Lab,
    b_prio: u8,
    b_key: &str,
    ha_extra: &str,
    role: &str,
) -> (Proc, Proc, PathBuf, PathBuf) {
    let ca = box_conf(lab, "a", 150, KEY, ha_extra);
    let cb = box_conf(lab, "b", b_prio, b_key, ha_extra);
    let a = start(lab.host("a"), &ca);
    a.wait_role("lan", "active", Duration::from_secs(5));
    let b = start(lab.host("b"), &cb);
    b.wait_for_log(
        &format!("vrrp.state instance=lan role={role}"),
        Duration::from_secs(15),
    );
    (a, b, ca, cb)
}

/// A, Active; then B, Backup and caught up with A over the link.
fn start_pair(lab: &Lab, ha_extra: &str) -> (Proc, Proc, PathBuf, PathBuf) {
    let (a, b, ca, cb) = start_boxes(lab, 100, KEY, ha_extra, "backup");
    b.wait_for_log("ha.caught_up", Duration::from_secs(10));
    a.wait_for_log("ha.caught_up", Duration::from_secs(10));
    (a, b, ca, cb)
}

/// One DORA by a one-shot udhcpc named `name` (`extra`: more udhcpc
/// arguments); the address and the lease time (udhcpc's `$lease`).
fn lease_with(lab: &Lab, host: &str, name: &str, extra: &[&str]) -> Option<(String, u32)> {
    let rec = lab.dir().join(format!("{host}.rec"));
    let script = lab.dir().join(format!("{host}.sh"));
    lab::write_script(
        &script,
        &format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip $lease\" >> {}\nexit 0\n",
            rec.display()
        ),
    );
    let hn = format!("hostname:{name}");
    let mut args = vec!["-x", hn.as_str()];
    args.extend_from_slice(extra);
    lab.host(host).run_timeout(
        &lab::udhcpc_argv(&script, "5", "1", &args),
        Duration::from_secs(20),
    );
    let text = std::fs::read_to_string(&rec).ok()?;
    let (ip, lt) = text.lines().last()?.split_once(' ')?;
    Some((ip.to_string(), lt.trim().parse().ok()?))
}

/// [`lease_with`] without extra arguments: the address.
fn lease(lab: &Lab, host: &str, name: &str) -> Option<String> {
    lease_with(lab, host, name, &[]).map(|(ip, _)| ip)
}

/// Named clients `c{from}..c{to}` (host names `host{i}`) lease one by one;
/// (name, address) of each.
fn lease_many(
    lab: &Lab,
    from: usize,
    to: usize,
    logs: &dyn Fn() -> String,
) -> Vec<(String, String)> {
    (from..to)
        .map(|i| {
            let name = format!("host{i}");
            let ip = lease(lab, &format!("c{i}"), &name)
                .unwrap_or_else(|| panic!("c{i} got no lease:\n{}", logs()));
            (name, ip)
        })
        .collect()
}

/// What a one-shot ISC dhclient on `host` saw: (reason, address, lease
/// time) per script run. With `remember`, it starts from a lease file
/// holding that address, unexpired, so its first message is an
/// INIT-REBOOT DHCPREQUEST for it (RFC 2131 §4.3.2, §3.2). Runs until
/// the script reports a binding (or 20 s), then is killed.
fn dhclient_once(
    lab: &Lab,
    host: &str,
    name: &str,
    remember: Option<&str>,
) -> Vec<(String, String, u32)> {
    let d = lab.dir();
    let rec = d.join(format!("{host}.drec"));
    let _ = std::fs::remove_file(&rec);
    let script = d.join(format!("{host}.dsh"));
    lab::write_script(
        &script,
        &format!(
            "#!/bin/sh\necho \"$reason $new_ip_address $new_dhcp_lease_time\" >> {}\nexit 0\n",
            rec.display()
        ),
    );
    let cf = d.join(format!("{host}.dconf"));
    std::fs::write(
        &cf,
        format!("send host-name \"{name}\";\ntimeout 15;\nreboot 5;\ninitial-interval 1;\n"),
    )
    .unwrap();
    let lf = d.join(format!("{host}.d.leases"));
    let remembered = remember.map_or(String::new(), |ip| {
        format!(
            "lease {{\n  interface \"eth0\";\n  fixed-address {ip};\n  option subnet-mask 255.255.255.0;\n  \
             option dhcp-lease-time 600;\n  renew 4 2037/01/01 00:00:00;\n  rebind 4 2037/01/01 00:00:00;\n  \
             expire 4 2037/01/01 00:00:00;\n}}\n"
        )
    });
    std::fs::write(&lf, remembered).unwrap();
    let name = format!("{host}.d");
    let cf = cf.to_str().unwrap();
    let p = lab::dhclient::spawn(lab.host(host), d, &name, &script, &["-cf", cf]);
    let lines = || -> Vec<(String, String, u32)> {
        std::fs::read_to_string(&rec)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let mut w = l.split_whitespace();
                let reason = w.next().unwrap_or("").to_string();
                let ip = w.next().unwrap_or("").to_string();
                (
                    reason,
                    ip,
                    w.next().and_then(|t| t.parse().ok()).unwrap_or(0),
                )
            })
            .collect()
    };
    lab::wait_until(Duration::from_secs(20), || {
        lines()
            .iter()
            .any(|(r, _, _)| matches!(r.as_str(), "BOUND" | "REBOOT" | "RENEW" | "REBIND"))
    });
    drop(p);
    lines()
}

/// `dig @server NAME.lan A +short` from `q` (neighbour cache flushed
/// first, so the answer comes from whoever holds `server` now).
fn ask_at(lab: &Lab, server: &str, name: &str) -> String {
    let q = lab.host("q");
    q.run(&["ip", "neigh", "flush", "dev", "eth0"]);
    let out = q.run_timeout(
        &[
            "dig",
            &format!("@{server}"),
            &format!("{name}.lan"),
            "A",
            "+short",
            "+time=1",
            "+tries=1",
        ],
        Duration::from_secs(5),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// [`ask_at`] the VIP.
fn ask(lab: &Lab, name: &str) -> String {
    ask_at(lab, VIP, name)
}

/// The names of `want` that `server` does not resolve to their address.
fn unresolved(lab: &Lab, server: &str, want: &[(String, String)]) -> Vec<String> {
    want.iter()
        .filter_map(|(n, ip)| {
            let got = ask_at(lab, server, n);
            (got != *ip).then(|| format!("{n}: want {ip}, got {got:?}"))
        })
        .collect()
}

fn leases_text(host: &Host, conf: &Path) -> String {
    String::from_utf8_lossy(
        &host
            .run(&[BIN, "leases", "-c", conf.to_str().unwrap()])
            .stdout,
    )
    .to_string()
}

fn has_vip(h: &Host) -> bool {
    String::from_utf8_lossy(
        &h.run(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
            .stdout,
    )
    .contains(&format!("inet {VIP}/24"))
}

/// ip -> (mac, name) of every active lease a box lists (`hamasq
/// leases`: `expires mac ip name client-id`).
fn store(host: &Host, conf: &Path) -> BTreeMap<String, (String, String)> {
    leases_text(host, conf)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4).then(|| (f[2].to_string(), (f[1].to_string(), f[3].to_string())))
        })
        .collect()
}

/// ip -> mac of a box's active leases.
fn bindings(host: &Host, conf: &Path) -> BTreeMap<String, String> {
    store(host, conf)
        .into_iter()
        .map(|(ip, (mac, _))| (ip, mac))
        .collect()
}

/// Whether a box lists every (name, address) of `want`.
fn knows_all(host: &Host, conf: &Path, want: &[(String, String)]) -> bool {
    let s = store(host, conf);
    want.iter()
        .all(|(n, ip)| s.get(ip).is_some_and(|(_, name)| name == n))
}

/// Waits (5 s at most) until the box `who` lists every lease of `want`.
#[track_caller]
fn wait_knows_all(lab: &Lab, who: &str, conf: &Path, want: &[(String, String)]) {
    let host = lab.host(who);
    assert!(
        lab::wait_until(Duration::from_secs(5), || knows_all(host, conf, want)),
        "{who} did not learn every lease of {want:?}:\n{}",
        leases_text(host, conf)
    );
}

/// One counter of a box's `/metrics` (0 when absent), fetched with the
/// Python standard library (no curl in the suite's packages).
fn metric(host: &Host, name: &str) -> u64 {
    let fetch = format!(
        "import sys, urllib.request\n\
         sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{METRICS_PORT}/metrics', timeout=3).read().decode())"
    );
    let out = host.run_timeout(&[PY, "-c", &fetch], Duration::from_secs(5));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

/// `tcpdump -Q out` of every DHCP reply `host` sends on eth0, with UTC
/// wall-clock stamps (`-tttt`, TZ=UTC) comparable with the log's.
fn capture_replies(host: &Host) -> Proc {
    let p = host.spawn(&[
        "env",
        "TZ=UTC",
        "tcpdump",
        "-l",
        "-n",
        "-tttt",
        "-v",
        "-Q",
        "out",
        "-i",
        "eth0",
        "udp src port 67",
    ]);
    p.wait_for_log("listening on", Duration::from_secs(10));
    p
}

/// (stamp `YYYY-MM-DDTHH:MM:SS.ffffff`, DHCP message type) of every reply
/// in a [`capture_replies`] capture.
fn replies(cap: &Proc) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    for line in cap.logs().lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if !line.starts_with(char::is_whitespace) && w.get(2) == Some(&"IP") {
            v.push((format!("{}T{}", w[0], w[1]), String::new()));
        } else if let (Some(m), Some(last)) = (
            line.trim().strip_prefix("DHCP-Message (53), length 1: "),
            v.last_mut(),
        ) {
            last.1 = m.to_string();
        }
    }
    v
}

/// The UTC stamp of a log line (`2026-01-02T03:04:05.678Z ...`) without
/// its `Z`: ordered like [`replies`]' stamps.
fn stamp(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches('Z')
        .to_string()
}

/// The n-th (from 1) log line containing `pattern`.
fn nth_line(log: &str, pattern: &str, n: usize) -> Option<String> {
    log.lines()
        .filter(|l| l.contains(pattern))
        .nth(n - 1)
        .map(str::to_string)
}

/// Runs `nft` commands (one `nft -f` script) in a namespace.
fn nft(ns: &lab::Netns, script: &str) {
    ns.sh_ok(&format!("nft -f - <<'EOF'\n{script}\nEOF"));
}

/// `tests/ha_replication/inject.py` from `host`; its one-line report.
fn inject(host: &Host, bind: &str, key: &Path, pcap: &Path, mode: &str) -> String {
    let out = host.run_timeout(
        &[
            PY,
            INJECT,
            "--to",
            B_IP,
            "--bind",
            bind,
            "--key",
            key.to_str().unwrap(),
            "--pcap",
            pcap.to_str().unwrap(),
            "--peer",
            A_IP,
            mode,
        ],
        Duration::from_secs(20),
    );
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    println!("inject {mode} from {bind}: {text}");
    assert!(
        out.status.success(),
        "inject {mode} failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Waits until `who` holds the VIP and the other box does not (`what`
/// names the moment in the failure message).
#[track_caller]
fn wait_vip_alone(lab: &Lab, who: &str, timeout: Duration, what: &str) {
    let other = if who == "a" { "b" } else { "a" };
    assert!(
        lab::wait_until(timeout, || has_vip(lab.host(who))
            && !has_vip(lab.host(other))),
        "{what}: {who} does not hold the VIP alone within {timeout:?}"
    );
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Failure {
    Cut,
    Kill,
}

fn names_at_once(test: &str, failure: Failure) {
    if !lab::have_commands(test, &["udhcpc", "dig"]) {
        return;
    }
    let Some(lab) = pair_lab(test, &[], CLIENTS) else {
        return;
    };
    let (a, b, _ca, cb) = start_pair(&lab, "");

    // Twenty named clients lease from A.
    let mut want = Vec::new();
    for i in 0..CLIENTS {
        let name = format!("host{i}");
        let ip = lease(&lab, &format!("c{i}"), &name)
            .unwrap_or_else(|| panic!("c{i} got no lease:\n{}", a.logs()));
        want.push((name, ip));
    }
    // B stored every one of them, with its name, from A's stream.
    wait_knows_all(&lab, "b", &cb, &want);

    let t0 = Instant::now();
    match failure {
        Failure::Cut => {
            let port = lab.host("a").bridge_port().to_string();
            lab.bridge().run_ok(&["ip", "link", "set", &port, "down"]);
        }
        Failure::Kill => {
            a.kill();
            // The kernel removes a killed box's VIP only when its lifetime
            // runs out; the link cut is what takes A off the wire here.
            let port = lab.host("a").bridge_port().to_string();
            lab.bridge().run_ok(&["ip", "link", "set", &port, "down"]);
        }
    }
    assert!(
        lab::wait_until(Duration::from_secs(5), || has_vip(lab.host("b"))),
        "B did not take the VIP:\n{}",
        b.logs()
    );
    let took = t0.elapsed();
    // At once: no client has renewed (leases of 10 minutes, T1 5 minutes,
    // and no client process is left running).
    let mut missing = Vec::new();
    for (n, ip) in &want {
        let got = ask(&lab, n);
        if got != *ip {
            missing.push(format!("{n}: want {ip}, got {got:?}"));
        }
    }
    let asked = t0.elapsed();
    println!(
        "{test}: B took the VIP after {:.0} ms; {}/{} names resolved on B by {:.0} ms",
        took.as_secs_f64() * 1000.0,
        want.len() - missing.len(),
        want.len(),
        asked.as_secs_f64() * 1000.0
    );
    assert!(
        missing.is_empty(),
        "names missing on B: {missing:?}\n{}",
        b.logs()
    );
    drop(a);
}

#[test]
fn names_resolve_on_the_new_active_at_once_after_a_link_cut() {
    names_at_once("harepl_names_cut", Failure::Cut);
}

#[test]
fn names_resolve_on_the_new_active_at_once_after_a_sigkill() {
    names_at_once("harepl_names_kill", Failure::Kill);
}

/// Test 1: B (priority 200, above A) loses its state directory while it
/// is down and A serves; back, it takes the full transfer and catches up
/// before it preempts, sends no DHCP reply before that, and then knows
/// (and resolves) every lease A holds.
#[test]
fn a_box_back_with_an_empty_store_catches_up_before_it_answers() {
    let test = "harepl_empty_store";
    if !lab::have_commands(test, &["udhcpc", "dig", "tcpdump", "nft"]) {
        return;
    }
    let Some(lab) = pair_lab(test, &[("p", &[])], 10) else {
        return;
    };
    let (a, b, ca, cb) = start_boxes(&lab, 200, KEY, "", "active");
    // Five clients lease from B (Active), then B stops and A serves five
    // more while B's state directory is wiped.
    let mut want = lease_many(&lab, 0, 5, &|| b.logs());
    wait_knows_all(&lab, "a", &ca, &want);
    b.signal(lab::SIGTERM).unwrap();
    b.wait_exit(Duration::from_secs(5));
    drop(b);
    a.wait_for_log_count(
        "vrrp.state instance=lan role=active",
        2,
        Duration::from_secs(5),
    );
    let state = lab.dir().join("hq-b").join("state");
    std::fs::remove_dir_all(&state).unwrap();
    want.extend(lease_many(&lab, 5, 10, &|| a.logs()));

    // B returns, empty, while a client keeps doing DORA (one-shot udhcpc
    // runs, 0.2 s apart, bounded): B must not answer it before catch-up.
    let cap = capture_replies(lab.host("b"));
    let prec = lab.dir().join("p.rec");
    let pscript = lab.dir().join("p.sh");
    lab::write_script(
        &pscript,
        &format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip\" >> {}\nexit 0\n",
            prec.display()
        ),
    );
    let probe_cmd = lab::udhcpc_argv(&pscript, "1", "1", &["-x", "hostname:probe"]).join(" ");
    let probe = lab.host("p").spawn(&[
        "sh",
        "-c",
        &format!("i=0; while [ $i -lt 150 ]; do {probe_cmd}; i=$((i+1)); sleep 0.2; done"),
    ]);
    // The link comes up 3 s after B (as when A's reconnect backoff, up
    // to 5 s, is running): B must wait for it, not preempt meanwhile.
    nft(
        lab.host("b").netns(),
        "table inet late {\n chain input { type filter hook input priority 0; tcp dport 6740 drop; }\n}",
    );
    let b = start(lab.host("b"), &cb);
    std::thread::sleep(Duration::from_secs(3));
    lab.host("b")
        .run_ok(&["nft", "delete", "table", "inet", "late"]);
    b.wait_for_log("ha.caught_up", Duration::from_secs(15));
    b.wait_role("lan", "active", Duration::from_secs(10));
    wait_vip_alone(&lab, "b", Duration::from_secs(5), "B back and caught up");
    std::thread::sleep(Duration::from_secs(2));
    drop(probe);
    let _ = cap.kill();

    let log = b.logs();
    assert!(
        log.contains("position_lost=true"),
        "B did not forget its position in A's stream with its store:\n{log}"
    );
    let line = |p: &str| {
        log.lines()
            .position(|l| l.contains(p))
            .unwrap_or_else(|| panic!("B never logged {p}:\n{log}"))
    };
    let (full, caught, active) = (
        line("ha.full_transfer_start"),
        line("ha.caught_up"),
        line("vrrp.state instance=lan role=active"),
    );
    assert!(
        full < caught && caught < active,
        "B's order: full transfer line {full}, caught up {caught}, active {active}:\n{log}"
    );
    let started = stamp(&nth_line(&log, "daemon.ready", 1).unwrap());
    let caught_at = stamp(&nth_line(&log, "ha.caught_up", 1).unwrap());
    let active_at = stamp(&nth_line(&log, "vrrp.state instance=lan role=active", 1).unwrap());
    let sent = replies(&cap);
    let early: Vec<_> = sent.iter().filter(|(t, _)| *t < caught_at).collect();
    let probes = std::fs::read_to_string(&prec)
        .unwrap_or_default()
        .lines()
        .count();
    println!(
        "{test}: B ready {started}, caught up {caught_at}, active {active_at}; \
         {} replies from B in all, {} before catch-up; the probe bound {probes} times",
        sent.len(),
        early.len()
    );
    assert!(
        early.is_empty(),
        "B answered before it caught up: {early:?}"
    );
    assert!(
        sent.iter().any(|(t, _)| *t >= active_at),
        "B sent no reply once Active: the capture saw nothing ({sent:?})"
    );
    // A's last full transfer went to the returned B: all ten leases.
    let a_log = a.logs();
    let full_sent = a_log
        .lines()
        .rfind(|l| l.contains("ha.full_transfer_sent"))
        .unwrap_or_else(|| panic!("A sent no full transfer:\n{a_log}"));
    println!("{test}: A: {full_sent}");
    let count: usize = full_sent
        .split_whitespace()
        .find_map(|w| w.strip_prefix("leases="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(count >= 10, "A's full transfer: {full_sent}");

    // B lists every lease A granted, with its name, and resolves each.
    let probe_ip = std::fs::read_to_string(&prec)
        .unwrap_or_default()
        .lines()
        .last()
        .map(str::to_string);
    if let Some(ip) = probe_ip {
        want.push(("probe".to_string(), ip));
    }
    assert!(
        knows_all(lab.host("b"), &cb, &want),
        "B lacks leases: want {want:?}\n{}",
        leases_text(lab.host("b"), &cb)
    );
    let missing = unresolved(&lab, B_IP, &want);
    println!(
        "{test}: B lists {} leases; {}/{} names resolve on B",
        store(lab.host("b"), &cb).len(),
        want.len() - missing.len(),
        want.len()
    );
    assert!(missing.is_empty(), "names missing on B: {missing:?}");
    drop((a, b));
}

/// Test 3: a peer with another key is refused on both ends and learns
/// nothing while A keeps serving; a stranger with the right key is
/// refused at accept; with A stopped and its address taken by an
/// injector, junk, a wrong proof, A's recorded session replayed, a
/// forged tag and a recorded frame replayed in a new session are each
/// refused and change nothing, while a correctly keyed frame is stored
/// (the injector speaks the protocol).
#[test]
fn a_wrong_key_a_stranger_and_forged_frames_are_refused_and_change_nothing() {
    let test = "harepl_wrong_key";
    if !lab::have_commands(test, &["udhcpc", "tcpdump", "dig"])
        || !lab::have_programs_at(test, &[PY])
    {
        return;
    }
    let Some(lab) = pair_lab(test, &[("x", &["192.168.79.8/24"])], 3) else {
        return;
    };
    // Another key on B.
    let (a, b, _ca, cb) = start_boxes(&lab, 100, OTHER_KEY, "", "backup");
    for p in [&a, &b] {
        p.wait_for_log("ha.auth_failed", Duration::from_secs(10));
        assert!(
            p.logs()
                .lines()
                .filter(|l| l.contains("ha.auth_failed"))
                .all(|l| l.contains("reason=wrong_key")),
            "{}",
            p.logs()
        );
    }
    // Service unaffected: A serves; B learns nothing.
    let wrong = lease_many(&lab, 0, 1, &|| a.logs());
    std::thread::sleep(Duration::from_secs(2));
    let (fa, fb) = (
        metric(lab.host("a"), "hamasq_ha_auth_failures_total"),
        metric(lab.host("b"), "hamasq_ha_auth_failures_total"),
    );
    println!(
        "{test}: another key: auth failures A {fa}, B {fb}; B lists {:?}",
        store(lab.host("b"), &cb)
    );
    assert!(fa > 0 && fb > 0);
    assert!(
        !store(lab.host("b"), &cb).contains_key(&wrong[0].1),
        "B learned a lease without the key"
    );
    assert!(has_vip(lab.host("a")) && !has_vip(lab.host("b")));
    for p in [&a, &b] {
        assert!(!p.logs().contains("ha.connected"), "{}", p.logs());
    }

    // B gets the right key; its link with A is recorded.
    b.signal(lab::SIGTERM).unwrap();
    b.wait_exit(Duration::from_secs(5));
    drop(b);
    let pcap = lab.dir().join("link.pcap");
    let rec = lab.host("b").spawn(&[
        "tcpdump",
        "--immediate-mode",
        "-U",
        "-n",
        "-i",
        "eth0",
        "-w",
        pcap.to_str().unwrap(),
        "tcp port 6740",
    ]);
    rec.wait_for_log("listening on", Duration::from_secs(10));
    let cb = box_conf(&lab, "b", 100, KEY, "");
    let b = start(lab.host("b"), &cb);
    b.wait_for_log("ha.caught_up", Duration::from_secs(15));
    let mut want = wrong.clone();
    want.extend(lease_many(&lab, 1, 2, &|| a.logs()));
    wait_knows_all(&lab, "b", &cb, &want);
    let key = lab.dir().join("hq-b").join("ha.key");

    // A stranger with the right key, from another address: refused.
    let r = inject(lab.host("x"), "192.168.79.8", &key, &pcap, "stranger");
    assert!(r.contains("result=closed") && r.contains("kinds=[]"), "{r}");
    b.wait_for_log(
        "ha.connection_refused from=192.168.79.8",
        Duration::from_secs(5),
    );
    assert!(metric(lab.host("b"), "hamasq_ha_connections_refused_total") > 0);

    // A stops; the injector takes its address.
    a.signal(lab::SIGTERM).unwrap();
    a.wait_exit(Duration::from_secs(5));
    rec.signal(lab::SIGINT).unwrap();
    rec.wait_exit(Duration::from_secs(5));
    println!(
        "{test}: recorded the link: {}",
        rec.logs().trim().replace('\n', "; ")
    );
    b.wait_for_log("ha.disconnected", Duration::from_secs(5));
    lab.host("a")
        .run_ok(&["ip", "addr", "del", A_ADDR, "dev", "eth0"]);
    lab.host("x")
        .run_ok(&["ip", "addr", "add", A_ADDR, "dev", "eth0"]);
    lab.host("b").run(&["ip", "neigh", "flush", "dev", "eth0"]);
    let before = store(lab.host("b"), &cb);
    let failures0 = metric(lab.host("b"), "hamasq_ha_auth_failures_total");
    let protocol0 = metric(lab.host("b"), "hamasq_ha_protocol_errors_total");
    let x = lab.host("x");
    for (mode, reason) in [
        ("junk", "reason=not_our_protocol"),
        ("wrong-proof", "reason=wrong_key"),
        ("replay-session", "reason=wrong_key"),
        ("bad-tag", "reason=bad_tag"),
        ("replay-frame", "reason=bad_tag"),
    ] {
        let seen = b.logs().matches(reason).count();
        let r = inject(x, A_IP, &key, &pcap, mode);
        assert!(r.contains("result=closed"), "{mode}: {r}");
        assert!(
            lab::wait_until(Duration::from_secs(5), || b.logs().matches(reason).count()
                > seen),
            "{mode}: B did not log {reason}:\n{}",
            b.logs()
        );
        assert_eq!(
            store(lab.host("b"), &cb),
            before,
            "{mode} changed B's store"
        );
    }
    let failures = metric(lab.host("b"), "hamasq_ha_auth_failures_total") - failures0;
    let protocol = metric(lab.host("b"), "hamasq_ha_protocol_errors_total") - protocol0;
    println!(
        "{test}: forged frames: B counted {failures} authentication failures, {protocol} protocol errors"
    );
    assert_eq!(protocol, 1, "the junk");
    assert_eq!(
        failures, 4,
        "wrong proof, replayed session, bad tag, replayed frame"
    );
    assert!(ask_at(&lab, B_IP, "forged").is_empty());

    // The same injector with the right key and a correct tag is heard:
    // what it sent above was refused for its proof or tag alone.
    let r = inject(x, A_IP, &key, &pcap, "control");
    assert!(r.contains("result=acked"), "{r}");
    let after = store(lab.host("b"), &cb);
    assert_eq!(
        after.get("192.168.79.98").map(|(_, n)| n.as_str()),
        Some("control"),
        "{after:?}"
    );
    drop((a, b));
}

/// Test 4: A (Active) is frozen with SIGSTOP: B takes over, A's kernel
/// drops the VIP when its lifetime runs out, every name (A's clients' and
/// those B serves meanwhile) resolves through the VIP on B; after SIGCONT
/// exactly one box holds the VIP and the two stores converge.
#[test]
fn a_frozen_active_hands_over_every_name_and_the_stores_converge_after_sigcont() {
    let test = "harepl_frozen";
    if !lab::have_commands(test, &["udhcpc", "dig"]) {
        return;
    }
    let Some(lab) = pair_lab(test, &[], 10) else {
        return;
    };
    let (a, b, ca, cb) = start_pair(&lab, "");
    let mut want = lease_many(&lab, 0, 5, &|| a.logs());
    wait_knows_all(&lab, "b", &cb, &want);

    let t0 = Instant::now();
    a.signal(lab::SIGSTOP).unwrap();
    b.wait_role("lan", "active", Duration::from_secs(5));
    let took = t0.elapsed();
    wait_vip_alone(
        &lab,
        "b",
        Duration::from_secs(10),
        "A frozen (its VIP lifetime ran out)",
    );
    let gone = t0.elapsed();
    // New clients while A is frozen lease from B.
    want.extend(lease_many(&lab, 5, 10, &|| b.logs()));
    let missing = unresolved(&lab, VIP, &want);
    println!(
        "{test}: B Active {:.0} ms after SIGSTOP, A's VIP gone after {:.0} ms; \
         {}/{} names resolve through the VIP on B",
        took.as_secs_f64() * 1e3,
        gone.as_secs_f64() * 1e3,
        want.len() - missing.len(),
        want.len()
    );
    assert!(missing.is_empty(), "names missing on B: {missing:?}");

    let caught_before = a.logs().matches("ha.caught_up").count();
    let t1 = Instant::now();
    a.signal(lab::SIGCONT).unwrap();
    a.wait_for_log_count(
        "vrrp.state instance=lan role=active",
        2,
        Duration::from_secs(15),
    );
    wait_vip_alone(&lab, "a", Duration::from_secs(5), "after SIGCONT");
    for _ in 0..20 {
        let (va, vb) = (has_vip(lab.host("a")), has_vip(lab.host("b")));
        assert!(va != vb, "A holds the VIP: {va}, B: {vb}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let converged = lab::wait_until(Duration::from_secs(20), || {
        let (sa, sb) = (store(lab.host("a"), &ca), store(lab.host("b"), &cb));
        sa == sb && knows_all(lab.host("a"), &ca, &want)
    });
    let conv = t1.elapsed();
    // Measured, not asserted: whether A's link survived the freeze (B
    // drops it after 3 s of silence) and, if A reconnected, whether it
    // caught up before it preempted B.
    let a_log = a.logs();
    let back_active = stamp(&nth_line(&a_log, "vrrp.state instance=lan role=active", 2).unwrap());
    let link = match nth_line(&a_log, "ha.caught_up", caught_before + 1) {
        Some(l) => format!("A reconnected and caught up at {}", stamp(&l)),
        None => "A's link survived the freeze (B's stream resumed, no reconnect)".to_string(),
    };
    println!(
        "{test}: after SIGCONT: A Active again at {back_active}; {link}; \
         stores converged: {converged} ({:.0} ms)",
        conv.as_secs_f64() * 1e3
    );
    assert!(
        converged,
        "stores differ:\nA:\n{}\nB:\n{}",
        leases_text(lab.host("a"), &ca),
        leases_text(lab.host("b"), &cb)
    );
    let missing = unresolved(&lab, VIP, &want);
    assert!(
        missing.is_empty(),
        "names missing on A after SIGCONT: {missing:?}"
    );
    drop((a, b));
}

/// Whether `ip` lies in the range `r` (inclusive).
fn in_range(ip: &str, r: (&str, &str)) -> bool {
    let n = |s: &str| s.parse::<std::net::Ipv4Addr>().map_or(0, u32::from);
    (n(r.0)..=n(r.1)).contains(&n(ip))
}

/// NAKs in a [`capture_replies`] capture, sent after `after` (a stamp).
fn naks_after(cap: &Proc, after: &str) -> usize {
    replies(cap)
        .iter()
        .filter(|(t, m)| m == "NACK" && t.as_str() > after)
        .count()
}

/// Test 2: VRRP and the pair link blocked between A and B for 60 s
/// (nftables by address inside the boxes: both Active); clients arrive
/// meanwhile, most reachable by both, some by one box only (a bridge
/// filter), and one address is claimed on each side by a different
/// client (a conflict). Every lease granted meanwhile lasts at most the
/// MCLT (60 s). After the heal: the stores converge, no address is bound
/// to two clients, the conflict is logged and counted on both boxes,
/// and when every client asks again for its address, the Active A NAKs
/// only the loser and B (Backup again) sends no NAK.
#[test]
fn a_partition_heals_to_one_store_without_duplicates_or_a_nak_storm() {
    let test = "harepl_partition";
    if !lab::have_commands(test, &["udhcpc", "dhclient", "nft", "tcpdump", "dig"])
        || !lab::have_programs_at(test, &[PY])
    {
        return;
    }
    // f*: reach both boxes; sa*, x: A only; sb*, y: B only; pre: before.
    let free = ["f0", "f1", "f2", "f3"];
    let a_side = ["sa0", "sa1"];
    let b_side = ["sb0", "sb1"];
    let hosts: Vec<(&str, &[&str])> = free
        .iter()
        .chain(&a_side)
        .chain(&b_side)
        .chain(&["x", "y", "pre"])
        .map(|h| (*h, &[][..]))
        .collect();
    let Some(lab) = pair_lab(test, &hosts, 0) else {
        return;
    };
    let mclt = "mclt = 60\n";
    let (a, b, ca, cb) = start_pair(&lab, mclt);
    // In sync: a full lease.
    let (pre_ip, pre_lt) = lease_with(&lab, "pre", "pre", &[]).expect("pre got no lease");
    assert_eq!(pre_lt, 600, "in sync, a lease is not cut to the MCLT");
    let caps = (
        capture_replies(lab.host("a")),
        capture_replies(lab.host("b")),
    );

    // The partition: A and B drop each other's VRRP and pair link.
    let t0 = Instant::now();
    for (h, peer) in [("a", B_IP), ("b", A_IP)] {
        nft(
            lab.host(h).netns(),
            &format!(
                "table inet part {{\n chain input {{ type filter hook input priority 0; \
                 ip saddr {peer} ip protocol 112 drop; ip saddr {peer} tcp dport 6740 drop; \
                 ip saddr {peer} tcp sport 6740 drop; }}\n}}"
            ),
        );
    }
    // The one-sided clients: the bridge drops their frames to and from
    // the other box.
    let port = |h: &str| lab.host(h).bridge_port().to_string();
    let mut iso =
        String::from("table bridge iso {\n chain isolate { type filter hook forward priority 0;");
    for (side, other) in [(&a_side[..], "b"), (&b_side[..], "a")] {
        for h in side
            .iter()
            .chain(if other == "b" { &["x"] } else { &["y"] })
        {
            iso.push_str(&format!(
                " iifname \"{0}\" oifname \"{1}\" drop; iifname \"{1}\" oifname \"{0}\" drop;",
                port(h),
                port(other)
            ));
        }
    }
    iso.push_str(" }\n}");
    nft(lab.bridge(), &iso);
    b.wait_role("lan", "active", Duration::from_secs(5));
    assert!(
        has_vip(lab.host("a")) && has_vip(lab.host("b")),
        "no split brain"
    );
    b.wait_for_log("ha.disconnected", Duration::from_secs(10));

    // Clients arrive in the second half of the partition (their MCLT
    // leases then outlive the heal long enough to compare the stores).
    std::thread::sleep(Duration::from_secs(30).saturating_sub(t0.elapsed()));
    let mut got: Vec<(String, String, u32)> = Vec::new();
    for h in free.iter().chain(&a_side).chain(&b_side) {
        let (ip, lt) = lease_with(&lab, h, h, &[])
            .unwrap_or_else(|| panic!("{h} got no lease during the partition"));
        got.push((h.to_string(), ip, lt));
    }
    // The conflict: x (A only) leases an address from A; y (B only)
    // remembers the same address and claims it from B (INIT-REBOOT).
    let xs = dhclient_once(&lab, "x", "x", None);
    let (_, ipx, ltx) = xs
        .iter()
        .rfind(|(r, _, _)| r == "BOUND")
        .cloned()
        .unwrap_or_else(|| panic!("x got no lease from A: {xs:?}"));
    let ys = dhclient_once(&lab, "y", "y", Some(&ipx));
    let (_, ipy, lty) = ys
        .iter()
        .rfind(|(r, _, _)| r == "REBOOT" || r == "BOUND")
        .cloned()
        .unwrap_or_else(|| panic!("y got no lease from B: {ys:?}"));
    got.push(("x".into(), ipx.clone(), ltx));
    got.push(("y".into(), ipy.clone(), lty));
    let from_a = got
        .iter()
        .filter(|(_, ip, _)| in_range(ip, A_RANGE))
        .count();
    let from_b = got
        .iter()
        .filter(|(_, ip, _)| in_range(ip, B_RANGE))
        .count();
    println!(
        "{test}: during the partition: {from_a} leases from A's range, {from_b} from B's; \
         x got {ipx} from A, y claimed it from B and got {ipy}; lease times {:?}",
        got.iter().map(|(_, _, lt)| *lt).collect::<Vec<_>>()
    );
    assert!(from_a >= 1 && from_b >= 1, "{got:?}");
    assert_eq!(ipy, ipx, "B did not adopt y's claim: {ys:?}");
    for (h, ip, lt) in &got {
        assert!(
            *lt <= 60 && *lt > 0,
            "{h} got {ip} for {lt} s during the partition (mclt = 60)"
        );
    }

    // Heal at 60 s.
    std::thread::sleep(Duration::from_secs(60).saturating_sub(t0.elapsed()));
    for h in ["a", "b"] {
        lab.host(h)
            .run_ok(&["nft", "delete", "table", "inet", "part"]);
    }
    lab.bridge()
        .run_ok(&["nft", "delete", "table", "bridge", "iso"]);
    let healed = Instant::now();
    b.wait_for_log_count(
        "vrrp.state instance=lan role=backup",
        2,
        Duration::from_secs(5),
    );
    let b_backup = stamp(&nth_line(&b.logs(), "vrrp.state instance=lan role=backup", 2).unwrap());
    wait_vip_alone(&lab, "a", Duration::from_secs(3), "after the heal");
    let converged = lab::wait_until(Duration::from_secs(30), || {
        let (sa, sb) = (bindings(lab.host("a"), &ca), bindings(lab.host("b"), &cb));
        sa == sb && got.iter().all(|(_, ip, _)| sa.contains_key(ip))
    });
    let conv = healed.elapsed();
    let (sa, sb) = (bindings(lab.host("a"), &ca), bindings(lab.host("b"), &cb));
    println!(
        "{test}: stores converged {converged} {:.0} ms after the heal ({} leases); {ipx} is now {:?}",
        conv.as_secs_f64() * 1e3,
        sa.len(),
        sa.get(&ipx)
    );
    assert!(
        converged,
        "stores differ after the heal:\nA {sa:?}\nB {sb:?}"
    );
    assert!(sa.contains_key(&pre_ip));
    // The conflict: reported on both boxes.
    for (p, h) in [(&a, "a"), (&b, "b")] {
        p.wait_for_log(&format!("ha.conflict ip={ipx}"), Duration::from_secs(5));
        assert!(metric(lab.host(h), "hamasq_ha_conflicts_total") >= 1);
    }
    let status = String::from_utf8_lossy(
        &lab.host("a")
            .run(&[BIN, "status", "-c", ca.to_str().unwrap()])
            .stdout,
    )
    .to_string();
    let ha_line = status.lines().find(|l| l.starts_with("ha:")).unwrap_or("");
    println!("{test}: A's status: {ha_line}");
    assert!(ha_line.contains(&format!("last {ipx}")), "{status}");

    let winner_mac = sa[&ipx].clone();
    let (winner, loser) = if lab.host("x").mac() == winner_mac {
        ("x", "y")
    } else {
        ("y", "x")
    };
    // Both boxes resolve every name granted on either side, the winner's
    // at the disputed address, and the loser's name not there.
    let mut named: Vec<(String, String)> = got
        .iter()
        .filter(|(h, _, _)| h != "x" && h != "y")
        .map(|(h, ip, _)| (h.clone(), ip.clone()))
        .collect();
    named.push((winner.to_string(), ipx.clone()));
    for server in [A_IP, B_IP] {
        let missing = unresolved(&lab, server, &named);
        assert!(missing.is_empty(), "names missing on {server}: {missing:?}");
        let stale = ask_at(&lab, server, loser);
        assert!(
            !stale.contains(&ipx),
            "{server} still resolves the loser {loser} to {ipx}"
        );
    }
    println!(
        "{test}: {} names resolve on both boxes; the loser {loser} no longer at {ipx}",
        named.len()
    );

    // Every client asks for its address again (x and y by INIT-REBOOT,
    // the others by DISCOVER with option 50): the winner of the conflict
    // keeps it, the loser alone is NAKed, and only by the Active A.
    let w = dhclient_once(&lab, winner, winner, Some(&ipx));
    assert!(
        w.iter().any(|(r, ip, _)| r == "REBOOT" && *ip == ipx),
        "the winner {winner} lost {ipx}: {w:?}"
    );
    let l = dhclient_once(&lab, loser, loser, Some(&ipx));
    let (_, moved, _) = l
        .iter()
        .rfind(|(r, _, _)| r == "BOUND")
        .cloned()
        .unwrap_or_else(|| panic!("the loser {loser} got no new lease: {l:?}"));
    assert_ne!(moved, ipx, "{l:?}");
    for (h, ip, _) in got.iter().filter(|(h, _, _)| h != "x" && h != "y") {
        let (again, _) = lease_with(&lab, h, h, &["-r", ip])
            .unwrap_or_else(|| panic!("{h} got no lease after the heal"));
        assert_eq!(again, *ip, "{h} lost its address after the heal");
    }
    std::thread::sleep(Duration::from_millis(500));
    let (na, nb) = (naks_after(&caps.0, ""), naks_after(&caps.1, ""));
    let nb_late = naks_after(&caps.1, &b_backup);
    println!(
        "{test}: NAKs sent in the whole test: A {na}, B {nb} ({nb_late} after B stepped down); \
         {loser} moved to {moved}"
    );
    assert!(na + nb <= 3, "a NAK storm: A {na}, B {nb}");
    assert_eq!(nb_late, 0, "B NAKed while Backup");
    assert!(na >= 1, "the loser was never NAKed");
    assert!(
        lab::wait_until(Duration::from_secs(10), || bindings(lab.host("a"), &ca)
            == bindings(lab.host("b"), &cb)),
        "the stores drifted apart after the clients returned"
    );
    drop(caps);
    drop((a, b));
}

/// AAAA names on the Backup (issue 15 item 5, design §9/§10): a client
/// talks IPv6 only to the Active, so only the Active's kernel learns its
/// address; the Backup answers the client's DHCPv4 name with it anyway,
/// from the pair link, and drops it when the Active's entry goes.
#[test]
fn the_backup_answers_the_actives_aaaa_names() {
    if !lab::have_commands(module_path!(), &["udhcpc", "dig", "ping"]) {
        return;
    }
    let Some(lab) = pair_lab("ha_names6", &[], 1) else {
        return;
    };
    for (h, a) in [
        ("a", Some("fd00:79::2/64")),
        ("b", Some("fd00:79::3/64")),
        ("c0", None),
    ] {
        let h = lab.host(h);
        h.enable_ipv6();
        h.sysctl("net/ipv6/conf/eth0/accept_ra", "0");
        if let Some(a) = a {
            h.run_ok(&["ip", "-6", "addr", "add", a, "dev", "eth0", "nodad"]);
        }
    }
    let (a, b, _, _) = start_pair(&lab, "");
    lease(&lab, "c0", "dual").unwrap_or_else(|| panic!("no lease:\n{}", a.logs()));
    let c0 = lab.host("c0");
    c0.run_ok(&[
        "ip",
        "-6",
        "addr",
        "add",
        "fd00:79::a/64",
        "dev",
        "eth0",
        "nodad",
    ]);
    let out = c0.run_timeout(
        &[
            "ping",
            "-6",
            "-c",
            "1",
            "-W",
            "2",
            "-I",
            "fd00:79::a",
            "fd00:79::2",
        ],
        Duration::from_secs(10),
    );
    assert!(out.status.success(), "ping6 to A");
    let aaaa = |server: &str| {
        let out = lab.host("q").run_timeout(
            &[
                "dig",
                &format!("@{server}"),
                "dual.lan",
                "AAAA",
                "+short",
                "+time=1",
                "+tries=1",
            ],
            Duration::from_secs(5),
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let wait = |server: &str, want: &str| {
        let mut last = String::new();
        let ok = lab::wait_until(Duration::from_secs(10), || {
            last = aaaa(server);
            last == want
        });
        assert!(
            ok,
            "AAAA dual.lan at {server}: want {want:?}, got {last:?}\n{}",
            b.logs()
        );
    };
    wait(A_IP, "fd00:79::a");
    wait(B_IP, "fd00:79::a");
    let b_neigh = lab.host("b").run_ok(&["ip", "-6", "neigh"]).stdout;
    assert!(
        !String::from_utf8_lossy(&b_neigh).contains("fd00:79::a "),
        "B's own kernel must not know the address, or this proves nothing"
    );
    assert!(metric(lab.host("a"), "hamasq_neigh_dumps_total") >= 1);
    assert_eq!(metric(lab.host("a"), "hamasq_neigh_malformed_total"), 0);
    // The Active's entry goes: so does the Backup's answer.
    lab.host("a")
        .run_ok(&["ip", "-6", "neigh", "del", "fd00:79::a", "dev", "eth0"]);
    wait(A_IP, "");
    wait(B_IP, "");
    drop((a, b));
}
