//! The pair link end to end (issue 13, design §9): two hamasq boxes share
//! a VIP with VRRP, split one DHCP subnet, and replicate every lease
//! change over `[ha]`.
//!
//! Lab: `a` 192.168.79.2 (priority 150, own range .20-.119), `b`
//! 192.168.79.3 (priority 100, own range .120-.219), VIP 192.168.79.1/24,
//! adverts every 100 ms, `[ha] pair = a, b` with one key file, `[dns]`
//! with `domain = lan`. `q` 192.168.79.9 asks DNS with dig. DHCP clients
//! are real busybox udhcpc processes (one-shot, `-x hostname:NAME`) whose
//! scripts only record what they got.
//!
//! Tests:
//! * `names_resolve_on_the_new_active_at_once_after_a_link_cut` and
//!   `..._after_a_sigkill`: 20 named clients lease from A; B learns every
//!   lease over the link (its `hamasq leases` lists them); A's link is cut
//!   (or A is SIGKILLed); as soon as B holds the VIP, every name resolves
//!   through the VIP on B: before any client renews (leases of 10 minutes,
//!   no client runs after its lease).

mod lab;

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
const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// One box's config; `key` is the key file's path.
fn box_conf(lab: &Lab, name: &str, prio: u8, own: (&str, &str), peer: (&str, &str)) -> PathBuf {
    let dir = lab.dir().join(format!("hq-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("ha.key");
    std::fs::write(&key, KEY).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let p = dir.join("hamasq.conf");
    std::fs::write(
        &p,
        format!(
            "[general]\npid-file = none\nstate-dir = {state}\nlog-level = debug\n\
             control-socket = {dir}/control.sock\n\n\
             [dns]\nno-resolv = true\nlocal = /lan/\ndomain = lan\n\n\
             [dhcp]\ninterface = eth0\ndhcp-range = {},{},10m\ndhcp-peer-range = {},{}\n\n\
             [vrrp lan]\ninterface = eth0\nvirtual-router-id = 52\npriority = {prio}\nadvert-int = 0.1\n\
             virtual-ipaddress = {VIP}/24\ngarp-master-delay = 0\n\n\
             [ha]\npair = {A_IP}, {B_IP}\nkey-file = {key}\n",
            own.0,
            own.1,
            peer.0,
            peer.1,
            state = dir.join("state").display(),
            dir = dir.display(),
            key = key.display(),
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

/// A, Active; then B, Backup and caught up with A over the link.
fn start_pair(lab: &Lab) -> (Proc, Proc, PathBuf, PathBuf) {
    let ca = box_conf(lab, "a", 150, A_RANGE, B_RANGE);
    let cb = box_conf(lab, "b", 100, B_RANGE, A_RANGE);
    let a = start(lab.host("a"), &ca);
    a.wait_for_log(
        "vrrp.state instance=lan role=active",
        Duration::from_secs(5),
    );
    let b = start(lab.host("b"), &cb);
    b.wait_for_log(
        "vrrp.state instance=lan role=backup",
        Duration::from_secs(5),
    );
    b.wait_for_log("ha.caught_up", Duration::from_secs(10));
    a.wait_for_log("ha.caught_up", Duration::from_secs(10));
    (a, b, ca, cb)
}

/// One DORA by a one-shot udhcpc named `name`; its address.
fn lease(lab: &Lab, host: &str, name: &str) -> Option<String> {
    let rec = lab.dir().join(format!("{host}.rec"));
    let script = lab.dir().join(format!("{host}.sh"));
    lab::write_script(
        &script,
        &format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip\" >> {}\nexit 0\n",
            rec.display()
        ),
    );
    let hn = format!("hostname:{name}");
    lab.host(host).run_timeout(
        &lab::udhcpc_argv(&script, "5", "1", &["-x", &hn]),
        Duration::from_secs(20),
    );
    std::fs::read_to_string(&rec)
        .ok()?
        .lines()
        .last()
        .map(str::to_string)
}

/// `dig @VIP NAME.lan A +short` from `q` (neighbour cache flushed first,
/// so the answer comes from whoever holds the VIP now).
fn ask(lab: &Lab, name: &str) -> String {
    let q = lab.host("q");
    q.run(&["ip", "neigh", "flush", "dev", "eth0"]);
    let out = q.run_timeout(
        &[
            "dig",
            &format!("@{VIP}"),
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Failure {
    Cut,
    Kill,
}

fn names_at_once(test: &str, failure: Failure) {
    if !lab::have_commands(test, &["udhcpc", "dig"]) {
        return;
    }
    let Some(mut lab) = Lab::new(test) else {
        return;
    };
    lab.add_host("a", &[A_ADDR]);
    lab.add_host("b", &[B_ADDR]);
    lab.add_host("q", &[Q_ADDR]);
    for i in 0..CLIENTS {
        lab.add_host(&format!("c{i}"), &[]);
    }
    let (a, b, _ca, cb) = start_pair(&lab);

    // Twenty named clients lease from A.
    let mut want = Vec::new();
    for i in 0..CLIENTS {
        let name = format!("host{i}");
        let ip = lease(&lab, &format!("c{i}"), &name)
            .unwrap_or_else(|| panic!("c{i} got no lease:\n{}", a.logs()));
        want.push((name, ip));
    }
    // B stored every one of them, with its name, from A's stream.
    assert!(
        lab::wait_until(Duration::from_secs(5), || {
            let l = leases_text(lab.host("b"), &cb);
            want.iter()
                .all(|(n, ip)| l.contains(ip.as_str()) && l.contains(n.as_str()))
        }),
        "B did not learn every lease:\n{}\n{}",
        leases_text(lab.host("b"), &cb),
        b.logs()
    );

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
