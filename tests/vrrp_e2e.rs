//! VRRP end to end in the lab: two hamasq routers sharing a VIP, failover
//! on SIGKILL, SIGTERM (priority 0) and link cut, stale VIP cleanup, a
//! forged TTL-64 advert, and a mixed pair with a real keepalived.

mod lab;
mod vrrp_common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lab::{Host, Lab, Proc};
use vrrp_common::{BIN, conf, keepalived, start};

const VIP: &str = "10.77.0.254";

fn vrrp(priority: u8, extra: &str) -> String {
    format!(
        "[vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\npriority = {priority}\nadvert-int = 0.1\n\
         virtual-ipaddress = {VIP}/24\ngarp-master-delay = 0\n{extra}"
    )
}

fn has_vip(host: &Host) -> bool {
    String::from_utf8_lossy(
        &host
            .run(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
            .stdout,
    )
    .contains(&format!("inet {VIP}/24"))
}

/// Waits until `host` holds (or not) the VIP; returns how long it took.
fn wait_vip(host: &Host, want: bool, t: Duration) -> Duration {
    let t0 = Instant::now();
    assert!(
        lab::wait_until(t, || has_vip(host) == want),
        "{} {} the VIP after {t:?}",
        host.name(),
        if want { "does not hold" } else { "still holds" }
    );
    t0.elapsed()
}

#[test]
fn a_hamasq_pair_fails_over_on_kill_term_and_link_cut() {
    let Some(mut lab) = Lab::new("vrrp_pair") else {
        return;
    };
    lab.add_host("a", &["10.77.0.1/24"]);
    lab.add_host("b", &["10.77.0.2/24"]);
    // a adds a permanent VIP (as keepalived, or hamasq with vip-lifetime
    // off) so that SIGKILL leaves it behind for step 2; with a lifetime
    // the kernel removes it on its own (tests/ha_e2e.rs, frozen Active).
    let ca = conf(&lab, "a", &vrrp(150, "vip-lifetime = off\n"));
    let cb = conf(&lab, "b", &vrrp(100, ""));
    let a = start(lab.host("a"), &ca);
    let b = start(lab.host("b"), &cb);
    a.wait_role("lan", "active", Duration::from_secs(5));
    b.wait_role("lan", "backup", Duration::from_secs(5));
    wait_vip(lab.host("a"), true, Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(500));
    assert!(!has_vip(lab.host("b")), "both hold the VIP");

    // `hamasq status` asks each daemon over its control socket.
    let status = |c: &Path| {
        let out = std::process::Command::new(BIN)
            .args(["status", "-c", c.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let sa = status(&ca);
    assert!(sa.contains("vrrp lan: MASTER"), "{sa}");
    assert!(sa.contains(&format!("vip {VIP}/24")), "{sa}");
    let sb = status(&cb);
    assert!(sb.contains("vrrp lan: BACKUP"), "{sb}");
    b.signal(lab::SIGUSR1).unwrap();
    b.wait_for_log(
        "stats.metric hamasq_vrrp_state_lan=1",
        Duration::from_secs(3),
    );
    assert!(sb.contains("peer 10.77.0.1 last heard 0."), "{sb}");

    // 1. SIGKILL: b takes over within Master_Down_Interval (3 x 100 ms +
    //    skew 61 ms) plus polling slack; a's stale VIP stays behind.
    a.signal(lab::SIGKILL).unwrap();
    let took = wait_vip(lab.host("b"), true, Duration::from_secs(3));
    assert!(took < Duration::from_millis(1500), "takeover took {took:?}");
    assert!(
        has_vip(lab.host("a")),
        "SIGKILL cannot clean up: the VIP should still be on a"
    );
    drop(a);

    // 2. a restarts with nopreempt: it must remove the stale VIP at once
    //    and stay Backup.
    let ca2 = conf(
        &lab,
        "a",
        &vrrp(150, "nopreempt = true\nvip-lifetime = off\n"),
    );
    let a = start(lab.host("a"), &ca2);
    a.wait_for_log("vrrp.stale_vip_removed", Duration::from_secs(5));
    wait_vip(lab.host("a"), false, Duration::from_secs(2));
    a.wait_role("lan", "backup", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(600));
    assert!(has_vip(lab.host("b")) && !has_vip(lab.host("a")));

    // 3. SIGTERM on the Active b: priority 0, a takes over after Skew_Time.
    b.signal(lab::SIGTERM).unwrap();
    let took = wait_vip(lab.host("a"), true, Duration::from_secs(3));
    assert!(
        b.wait_exit(Duration::from_secs(2))
            .is_some_and(|s| s.success()),
        "{}",
        b.logs()
    );
    assert!(!has_vip(lab.host("b")), "b kept the VIP after SIGTERM");
    assert!(
        took < Duration::from_millis(1000),
        "graceful takeover took {took:?}"
    );
    drop(b);

    // 4. Link cut on the Active a: b takes over; a releases the VIP.
    let b = start(lab.host("b"), &cb);
    b.wait_role("lan", "backup", Duration::from_secs(5));
    lab.bridge()
        .run_ok(&["ip", "link", "set", lab.host("a").bridge_port(), "down"]);
    lab.host("a").run_ok(&["ip", "link", "set", "eth0", "down"]);
    wait_vip(lab.host("b"), true, Duration::from_secs(3));
    a.wait_for_log(
        "vrrp.link instance=lan interface=eth0 up=false",
        Duration::from_secs(3),
    );
    drop(a);
    drop(b);
}

/// From inside `host`'s namespace, sends `count` valid VRRPv3 adverts for
/// VRID 51 at priority 254 from 10.77.0.66 to `dst`, with IP TTL `ttl`,
/// every 50 ms.
fn forge_advert(host: &Host, dst: Ipv4Addr, ttl: u32, count: usize) {
    forge(host, dst, ttl, count, 254, 10);
}

/// As [`forge_advert`], with the priority and the interval (centiseconds).
fn forge(host: &Host, dst: Ipv4Addr, ttl: u32, count: usize, priority: u8, centis: u16) {
    use hamasq::vrrp::packet::{Advert, Auth, Centis, ChecksumMode, Interval, encode};
    let ns = host.ns().to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let s = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(112)),
        )
        .unwrap();
        s.set_ttl_v4(ttl).unwrap();
        s.set_multicast_ttl_v4(ttl).unwrap();
        let src = Ipv4Addr::new(10, 77, 0, 66);
        s.set_multicast_if_v4(&src).unwrap();
        let adv = Advert {
            vrid: 51,
            priority,
            interval: Interval::V3(Centis::new(centis).unwrap()),
            auth: Auth::None,
            addrs: vec![VIP.parse().unwrap()],
        };
        let p = encode(&adv, ChecksumMode::PseudoHeader, src, dst);
        let to = std::net::SocketAddr::from((dst, 0));
        for _ in 0..count {
            s.send_to(&p, &to.into()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .join()
    .unwrap();
}

/// A lab with `b` Active alone (priority 100, advert-int 0.1) and a
/// forger `x` at 10.77.0.66 beside it.
fn active_b_and_forger(test: &str) -> Option<(Lab, Proc)> {
    let mut lab = Lab::new(test)?;
    lab.add_host("b", &["10.77.0.2/24"]);
    lab.add_host("x", &["10.77.0.66/24"]);
    let cb = conf(&lab, "b", &vrrp(100, ""));
    let b = start(lab.host("b"), &cb);
    b.wait_role("lan", "active", Duration::from_secs(5));
    Some((lab, b))
}

#[test]
fn a_forged_ttl_64_advert_is_ignored() {
    let Some((lab, b)) = active_b_and_forger("vrrp_ttl") else {
        return;
    };
    // x sends a valid priority-254 VRRPv3 advert, but with TTL 64.
    forge_advert(lab.host("x"), Ipv4Addr::new(224, 0, 0, 18), 64, 20);
    b.wait_for_log("reason=ip_ttl_err", Duration::from_secs(3));
    std::thread::sleep(Duration::from_millis(300));
    assert!(has_vip(lab.host("b")), "a TTL-64 advert made b step down");
    let log = b.logs();
    let last_state = log
        .lines()
        .rev()
        .find(|l| l.contains("vrrp.state"))
        .unwrap_or("");
    assert!(last_state.contains("role=active"), "b left Active:\n{log}");
}

fn keepalived_conf(lab: &Lab, host: &str, version: u8, priority: u8, state: &str) -> PathBuf {
    let dir = lab.dir().join(format!("ka-{host}"));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("keepalived.conf");
    // advert_int 1: keepalived's v2 needs whole seconds.
    std::fs::write(
        &p,
        format!(
            "global_defs {{\n  vrrp_version {version}\n  script_user root\n  enable_script_security\n}}\n\
             vrrp_instance lan {{\n  state {state}\n  interface eth0\n  virtual_router_id 51\n  priority {priority}\n  advert_int 1\n\
               virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
        ),
    )
    .unwrap();
    p
}

fn mixed_pair(version: u8) {
    let Some(mut lab) = Lab::new(&format!("vrrp_keepalived_v{version}")) else {
        return;
    };
    if !lab::have_commands("vrrp_keepalived", &["keepalived"]) {
        return;
    }
    lab.add_host("h", &["10.77.0.1/24"]);
    lab.add_host("k", &["10.77.0.2/24"]);
    // hamasq at priority 150 with 1 s adverts, as keepalived's.
    let extra = format!("version = {version}\n");
    let body = vrrp(150, &extra).replace("advert-int = 0.1", "advert-int = 1");
    let ch = conf(&lab, "h", &body);
    let ck = keepalived_conf(&lab, "k", version, 100, "BACKUP");
    let k = keepalived(lab.host("k"), &ck, "k");
    k.wait_for_log("Entering BACKUP STATE", Duration::from_secs(10));
    let h = start(lab.host("h"), &ch);
    // hamasq (higher priority) becomes Active; keepalived stays Backup and
    // accepts our adverts (it would take over otherwise).
    wait_vip(lab.host("h"), true, Duration::from_secs(8));
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !has_vip(lab.host("k")),
        "keepalived took the VIP while hamasq was Active:\n{}",
        k.logs()
    );
    assert!(h.logs().contains("role=active"));
    // hamasq stops (priority 0): keepalived takes over.
    h.signal(lab::SIGTERM).unwrap();
    wait_vip(lab.host("k"), true, Duration::from_secs(5));
    assert!(!has_vip(lab.host("h")));
    drop(h);
    // hamasq as the Backup of a higher-priority keepalived.
    drop(k);
    let ck2 = keepalived_conf(&lab, "k", version, 200, "MASTER");
    let k = keepalived(lab.host("k"), &ck2, "k2");
    wait_vip(lab.host("k"), true, Duration::from_secs(8));
    let h = start(lab.host("h"), &ch);
    h.wait_for_log("role=backup", Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !has_vip(lab.host("h")),
        "hamasq took the VIP from a higher-priority keepalived:\n{}",
        h.logs()
    );
    // keepalived dies: hamasq takes over within Master_Down_Interval.
    k.signal(lab::SIGKILL).unwrap();
    let took = wait_vip(lab.host("h"), true, Duration::from_secs(6));
    assert!(
        took < Duration::from_millis(4500),
        "takeover from keepalived took {took:?}"
    );
    drop(h);
    drop(k);
}

#[test]
fn a_mixed_pair_with_keepalived_vrrp_v3() {
    mixed_pair(3);
}

#[test]
fn a_mixed_pair_with_keepalived_vrrp_v2() {
    mixed_pair(2);
}

#[test]
fn notify_hook_and_track_script() {
    let Some(mut lab) = Lab::new("vrrp_hooks") else {
        return;
    };
    lab.add_host("a", &["10.77.0.1/24"]);
    lab.add_host("b", &["10.77.0.2/24"]);
    let d = lab.dir().to_path_buf();
    let flag = d.join("broken");
    let check = d.join("check.sh");
    std::fs::write(&check, format!("#!/bin/sh\ntest ! -e {}\n", flag.display())).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&check, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let rec_a = d.join("hook-a.rec");
    let rec_b = d.join("hook-b.rec");
    let hook_for = |rec: &PathBuf| {
        let h = d.join(format!("{}.sh", rec.file_stem().unwrap().to_string_lossy()));
        std::fs::write(
            &h,
            format!(
                "#!/bin/sh\necho \"$*\" >> {rec}\ngrep -E '^Cap(Prm|Eff|Amb):' /proc/self/status >> {rec}\n",
                rec = rec.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o755)).unwrap();
        h
    };
    let (ha, hb) = (hook_for(&rec_a), hook_for(&rec_b));
    let ca = conf(
        &lab,
        "a",
        &vrrp(
            150,
            &format!(
                "notify = {}\ntrack-script = {} weight -60 interval 1\n",
                ha.display(),
                check.display()
            ),
        ),
    );
    let cb = conf(
        &lab,
        "b",
        &vrrp(100, &format!("notify = {}\n", hb.display())),
    );
    let a = start(lab.host("a"), &ca);
    let b = start(lab.host("b"), &cb);
    wait_vip(lab.host("a"), true, Duration::from_secs(5));
    let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    assert!(
        lab::wait_until(Duration::from_secs(5), || read(&rec_a)
            .contains("INSTANCE lan MASTER 150")),
        "{}",
        read(&rec_a)
    );
    assert!(
        lab::wait_until(Duration::from_secs(5), || read(&rec_b)
            .contains("INSTANCE lan BACKUP 100")),
        "{}",
        read(&rec_b)
    );

    // Hooks run with no capabilities although the daemon is root.
    assert!(lab::wait_until(Duration::from_secs(5), || read(&rec_a).contains("CapAmb:")));
    let rec = read(&rec_a);
    for set in ["CapPrm", "CapEff", "CapAmb"] {
        assert!(
            rec.contains(&format!("{set}:\t0000000000000000")),
            "{set} not empty in the hook:\n{rec}"
        );
    }

    // The check fails: a's priority drops to 90 < 100 and b preempts.
    std::fs::write(&flag, "").unwrap();
    wait_vip(lab.host("b"), true, Duration::from_secs(6));
    wait_vip(lab.host("a"), false, Duration::from_secs(3));
    a.wait_for_log("vrrp.track_script", Duration::from_secs(3));
    assert!(
        lab::wait_until(Duration::from_secs(5), || read(&rec_a)
            .contains("INSTANCE lan BACKUP 90")),
        "{}",
        read(&rec_a)
    );
    assert!(
        lab::wait_until(Duration::from_secs(5), || read(&rec_b)
            .contains("INSTANCE lan MASTER 100")),
        "{}",
        read(&rec_b)
    );

    // b stops: its hook hears STOP; a (still 90, alone) takes over.
    b.signal(lab::SIGTERM).unwrap();
    b.wait_exit(Duration::from_secs(3));
    assert!(
        lab::wait_until(Duration::from_secs(5), || read(&rec_b)
            .contains("INSTANCE lan STOP 100")),
        "{}",
        read(&rec_b)
    );
    wait_vip(lab.host("a"), true, Duration::from_secs(3));
    drop(a);
}

#[test]
fn unicast_peers_work_and_other_sources_are_refused() {
    let Some(mut lab) = Lab::new("vrrp_unicast") else {
        return;
    };
    lab.add_host("a", &["10.77.0.1/24"]);
    lab.add_host("b", &["10.77.0.2/24"]);
    lab.add_host("x", &["10.77.0.66/24"]);
    let ca = conf(
        &lab,
        "a",
        &vrrp(
            150,
            "unicast-src-ip = 10.77.0.1\nunicast-peer = 10.77.0.2\n",
        ),
    );
    let cb = conf(
        &lab,
        "b",
        &vrrp(
            100,
            "unicast-src-ip = 10.77.0.2\nunicast-peer = 10.77.0.1\n",
        ),
    );
    let cap = lab
        .host("x")
        .spawn(&["tcpdump", "-l", "-n", "-i", "eth0", "ip proto 112"]);
    cap.wait_for_log("listening on", Duration::from_secs(10));
    let a = start(lab.host("a"), &ca);
    let b = start(lab.host("b"), &cb);
    a.wait_for_log("role=active", Duration::from_secs(5));
    b.wait_for_log("role=backup", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    // A third host on the link sees no multicast advert (the bridge would
    // flood 224.0.0.18 to it).
    assert!(
        !cap.logs().contains("224.0.0.18"),
        "multicast adverts in unicast mode:\n{}",
        cap.logs()
    );
    // x, not a listed peer, claims priority 254 by unicast to a: refused.
    forge_advert(lab.host("x"), Ipv4Addr::new(10, 77, 0, 1), 255, 10);
    a.wait_for_log("reason=src_not_allowed", Duration::from_secs(3));
    assert!(has_vip(lab.host("a")), "a stepped down for a non-peer");
    // Failover still works by unicast.
    a.signal(lab::SIGKILL).unwrap();
    wait_vip(lab.host("b"), true, Duration::from_secs(3));
    drop(a);
    drop(b);
}

#[test]
fn several_instances_in_one_daemon() {
    let Some(mut lab) = Lab::new("vrrp_multi") else {
        return;
    };
    lab.add_host("a", &["10.77.0.1/24"]);
    lab.add_host("b", &["10.77.0.2/24"]);
    // Two virtual routers; a is Active for lan, b for guest.
    let two = |p1: u8, p2: u8| {
        format!(
            "{}\n[vrrp guest]\ninterface = eth0\nvirtual-router-id = 52\npriority = {p2}\nadvert-int = 0.1\n\
             virtual-ipaddress = 10.77.0.253/24\ngarp-master-delay = 0\n",
            vrrp(p1, "")
        )
    };
    let a = start(lab.host("a"), &conf(&lab, "a", &two(150, 100)));
    let b = start(lab.host("b"), &conf(&lab, "b", &two(100, 150)));
    a.wait_role("lan", "active", Duration::from_secs(5));
    b.wait_role("guest", "active", Duration::from_secs(5));
    let holds = |h: &str, ip: &str| {
        String::from_utf8_lossy(
            &lab.host(h)
                .run(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
                .stdout,
        )
        .contains(&format!("inet {ip}/24"))
    };
    assert!(lab::wait_until(Duration::from_secs(3), || holds("a", VIP)
        && holds("b", "10.77.0.253")));
    assert!(!holds("a", "10.77.0.253") && !holds("b", VIP));
    // b dies: a takes guest as well, and keeps lan.
    b.signal(lab::SIGKILL).unwrap();
    assert!(lab::wait_until(Duration::from_secs(3), || holds(
        "a",
        "10.77.0.253"
    )));
    assert!(holds("a", VIP));
    drop(a);
    drop(b);
}

/// Issue 17 item 6: a VIP that is the box's own address. As the address
/// owner (priority 255, RFC 9568 §1.6 Definitions and §5.2.4) hamasq goes
/// Active and the address survives start and stop; as a backup priority
/// the config is refused, by `--test` too, naming the key.
#[test]
fn the_address_owner_keeps_its_own_address() {
    let Some(mut lab) = Lab::new("vrrp_owner") else {
        return;
    };
    lab.add_host("a", &["10.77.0.1/24"]);
    let a = lab.host("a");
    let own = |a: &Host| {
        String::from_utf8_lossy(
            &a.run(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
                .stdout,
        )
        .contains("inet 10.77.0.1/24")
    };
    let owner = "[vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\npriority = 255\n\
                 advert-int = 0.1\nvirtual-ipaddress = 10.77.0.1/24\n";
    let c = conf(&lab, "a", owner);
    let h = start(a, &c);
    h.wait_role("lan", "active", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    assert!(own(a), "the owner's address went at start:\n{}", h.logs());
    assert!(!h.logs().contains("stale_vip_removed"), "{}", h.logs());
    h.signal(lab::SIGTERM).unwrap();
    assert!(h.wait_exit(Duration::from_secs(3)).is_some());
    assert!(own(a), "the owner's address went at stop:\n{}", h.logs());

    // The same address at a backup priority: refused before anything runs.
    let c = conf(
        &lab,
        "a",
        &owner.replace("priority = 255", "priority = 100"),
    );
    let out = a.run(&[BIN, "--test", "-c", c.to_str().unwrap()]);
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("virtual-ipaddress") && err.contains("priority = 255"),
        "{err}"
    );
    assert!(own(a));
}

/// Runs the VRRP task of `a` (priority 150, 100 ms adverts, `sync-wait =
/// 1`) in this process, inside `a`'s namespace, fed a `watch<PeerSync>`
/// as the daemon feeds it from the pair link. Returns the feed, the stop
/// switch and the thread (which returns how the task ended).
type TaskThread = std::thread::JoinHandle<Vec<(&'static str, hamasq::task::TaskEnd)>>;
fn vrrp_task_in(
    lab: &Lab,
    first: hamasq::vrrp::router::PeerSync,
) -> (
    tokio::sync::watch::Sender<hamasq::vrrp::router::PeerSync>,
    tokio::sync::oneshot::Sender<()>,
    TaskThread,
) {
    use hamasq::task::{Stage, Supervisor};
    use hamasq::vrrp::driver::VrrpTask;

    // The instance as the config file gives it, as the daemon reads it.
    let text = vrrp(150, "sync-wait = 1\n");
    let cfg = hamasq::config::parse_and_validate(Path::new("a.conf"), &text)
        .unwrap()
        .vrrp
        .remove(0);
    let (tx, rx) = tokio::sync::watch::channel(first);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ns = lab.host("a").ns().to_string();
    let th = std::thread::spawn(move || {
        let fd = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
        nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let idx = nix::net::if_::if_nametoindex("eth0").unwrap();
            let task = VrrpTask::open(cfg, idx, Ipv4Addr::new(10, 77, 0, 1), None)
                .unwrap()
                .with_peer_sync(rx);
            let mut sup = Supervisor::default();
            sup.spawn("vrrp", Stage::Vrrp, move |sd| task.run(sd));
            let _ = stop_rx.await;
            sup.shutdown(Duration::from_secs(3)).await
        })
    });
    (tx, stop_tx, th)
}

/// Hosts `a` and `b`, and `b` a hamasq Active at priority 100.
fn lab_with_active_b(name: &str) -> Option<(Lab, Proc)> {
    let mut lab = Lab::new(name)?;
    lab.add_host("a", &["10.77.0.1/24"]);
    lab.add_host("b", &["10.77.0.2/24"]);
    let cb = conf(&lab, "b", &vrrp(100, ""));
    let b = start(lab.host("b"), &cb);
    wait_vip(lab.host("b"), true, Duration::from_secs(3));
    Some((lab, b))
}

/// Stops the in-process task: it ended cleanly and removed its VIP.
fn stop_task(lab: &Lab, stop: tokio::sync::oneshot::Sender<()>, th: TaskThread) {
    let _ = stop.send(());
    let ended = th.join().unwrap();
    assert!(
        ended.iter().all(|(_, e)| *e == hamasq::task::TaskEnd::Ok),
        "{ended:?}"
    );
    assert!(!has_vip(lab.host("a")));
}

/// Sync-aware preemption through the real driver (issue 13 item 4): `b`
/// (a hamasq process, priority 100) is Active; `a` (in-process, priority
/// 150) is behind a reachable peer and stays Backup well past `sync-wait`;
/// once caught up it preempts (RFC 9568 §6.4.2) and `b` steps down.
#[test]
fn a_box_behind_its_peer_preempts_only_once_caught_up() {
    use hamasq::vrrp::router::PeerSync;
    let Some((lab, b)) = lab_with_active_b("vrrp_sync_preempt") else {
        return;
    };
    let (tx, stop, th) = vrrp_task_in(
        &lab,
        PeerSync {
            connected: true,
            caught_up: false,
        },
    );
    // Behind a reachable peer: 3 s (three times sync-wait, ~8
    // Active_Down_Intervals of a) and a never takes the VIP.
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        assert!(!has_vip(lab.host("a")), "a preempted while behind its peer");
    }
    assert!(has_vip(lab.host("b")));
    // Caught up: a preempts, b steps down.
    tx.send_replace(PeerSync {
        connected: true,
        caught_up: true,
    });
    wait_vip(lab.host("a"), true, Duration::from_secs(3));
    wait_vip(lab.host("b"), false, Duration::from_secs(3));
    b.wait_role("lan", "backup", Duration::from_secs(3));
    // a stops: priority 0, its VIP removed, b takes it back.
    stop_task(&lab, stop, th);
    wait_vip(lab.host("b"), true, Duration::from_secs(3));
    drop(b);
}

/// The pair link down: the hold ends `sync-wait` (1 s) after start and a
/// preempts on its own. Without a pair link (the binary, no `[ha]`),
/// `sync-wait` changes nothing: a preempts at once.
#[test]
fn an_unreachable_peer_delays_preemption_by_sync_wait_only() {
    use hamasq::vrrp::router::PeerSync;
    let Some((lab, b)) = lab_with_active_b("vrrp_sync_wait") else {
        return;
    };
    let (_tx, stop, th) = vrrp_task_in(&lab, PeerSync::default());
    // Held during the wait (the first 0.8 s of it, well inside)...
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(100));
        assert!(!has_vip(lab.host("a")), "a preempted during sync-wait");
    }
    // ...then a preempts without any word from the pair link.
    wait_vip(lab.host("a"), true, Duration::from_secs(5));
    wait_vip(lab.host("b"), false, Duration::from_secs(3));
    stop_task(&lab, stop, th);
    wait_vip(lab.host("b"), true, Duration::from_secs(3));

    let ca = conf(&lab, "a", &vrrp(150, "sync-wait = 30\n"));
    let a = start(lab.host("a"), &ca);
    wait_vip(lab.host("a"), true, Duration::from_secs(3));
    assert!(!a.logs().contains("vrrp.preempt_held"), "{}", a.logs());
    drop(a);
    drop(b);
}

/// Issue 17 item 7: three forged priority-255 adverts with a 40.95 s
/// interval made the Active step down and wait 3 x 40.95 s + skew for the
/// next one. The learned interval is bounded to twice ours (RFC 9568
/// §6.4.2 adopts it; §6.1 derives Active_Down_Interval from it), so at
/// advert-int 0.1 the box is Active again after about 0.7 s, and the
/// mismatch is logged.
#[test]
fn a_forged_slow_interval_cannot_silence_the_active_router() {
    let Some((lab, b)) = active_b_and_forger("vrrp_slow_forge") else {
        return;
    };
    forge(
        lab.host("x"),
        Ipv4Addr::new(224, 0, 0, 18),
        255,
        3,
        255,
        4095,
    );
    b.wait_role("lan", "backup", Duration::from_secs(3));
    let log = b.wait_for_log("vrrp.interval_mismatch", Duration::from_secs(3));
    assert!(
        log.contains("from=10.77.0.66 advertised=4095cs configured=10cs used=20cs"),
        "{log}"
    );
    // Unbounded, the next takeover would come after two minutes.
    b.wait_for_log_count(
        "vrrp.state instance=lan role=active",
        2,
        Duration::from_secs(10),
    );
    assert!(has_vip(lab.host("b")));
}
