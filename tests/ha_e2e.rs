//! High availability end to end: two hamasq boxes share a VIP with VRRP
//! and split one DHCP subnet. Real dhclient clients lease from A, A dies,
//! B takes over the VIP, renewals (unicast to the server identifier, the
//! VIP) reach B, which keeps every client's address (adopt rule); new
//! clients get B's own range; B never answered while it was Backup; A
//! comes back, preempts, and the clients keep their addresses with A too.

mod lab;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lab::{Host, Lab, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");
const CLIENTS: usize = 5;

fn box_conf(lab: &Lab, name: &str, prio: u8, own: &str, peer: &str) -> PathBuf {
    let dir = lab.dir().join(format!("hq-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("hamasq.conf");
    std::fs::write(
        &p,
        format!(
            "[general]\npid-file = none\nstate-dir = {}\nlog-level = debug\n\n\
             [dhcp]\ninterface = eth0\ndhcp-range = {own},1h\ndhcp-peer-range = {peer}\n\
             dhcp-option = option:T1,2\ndhcp-option = option:T2,4\nlog-dhcp = true\n\n\
             [vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\npriority = {prio}\nadvert-int = 0.1\n\
             virtual-ipaddress = 192.168.77.1/24\ngarp-master-delay = 0\n",
            dir.join("state").display()
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

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// A dhclient whose hook records events and configures the address on the
/// client namespace's own eth0 (so RENEWING is sent by unicast).
fn dhclient(lab: &Lab, host: &str) -> (Proc, PathBuf) {
    let d = lab.dir();
    let rec = d.join(format!("{host}.rec"));
    let script = d.join(format!("{host}.sh"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$reason ip=$new_ip_address sid=$new_dhcp_server_identifier router=$new_routers\" >> {}\n\
             case \"$reason\" in BOUND|RENEW|REBIND|REBOOT) ip addr replace \"$new_ip_address/$new_subnet_mask\" dev \"$interface\" ;; esac\nexit 0\n",
            rec.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cf = d.join(format!("{host}.conf"));
    std::fs::write(
        &cf,
        format!("send host-name \"{host}\";\nrequest subnet-mask, routers, domain-name-servers;\n"),
    )
    .unwrap();
    let p = lab.host(host).spawn(&[
        "dhclient",
        "-d",
        "-cf",
        cf.to_str().unwrap(),
        "-sf",
        script.to_str().unwrap(),
        "-lf",
        d.join(format!("{host}.leases")).to_str().unwrap(),
        "-pf",
        d.join(format!("{host}.pid")).to_str().unwrap(),
        "eth0",
    ]);
    (p, rec)
}

fn last(rec: &str, key: &str) -> String {
    rec.lines()
        .rev()
        .find_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{key}=")))
        })
        .unwrap_or("")
        .to_string()
}

/// Every address bound to one client at most, across both boxes' stores.
fn assert_no_duplicates(dirs: &[PathBuf]) {
    let mut owner: HashMap<std::net::Ipv4Addr, hamasq::dhcp::HwAddr> = HashMap::new();
    let now = hamasq::clock::UnixTime::now();
    for d in dirs {
        let (_s, rep) = hamasq::dhcp::leases::LeaseStore::open(&d.join("state"), false).unwrap();
        for l in rep.leases.iter().filter(|l| l.is_active(now)) {
            if let Some(o) = owner.insert(l.ip, l.hw) {
                assert_eq!(o, l.hw, "{} is bound to two clients", l.ip);
            }
        }
    }
}

#[test]
fn clients_keep_their_addresses_across_a_failover_and_back() {
    if !lab::have_commands("ha_failover", &["dhclient"]) {
        return;
    }
    let Some(mut lab) = Lab::new("ha_failover") else {
        return;
    };
    lab.add_host("a", &["192.168.77.2/24"]);
    lab.add_host("b", &["192.168.77.3/24"]);
    let names: Vec<String> = (0..CLIENTS).map(|i| format!("c{i}")).collect();
    for n in &names {
        lab.add_host(n, &[]);
    }
    lab.add_host("late", &[]);
    let ca = box_conf(
        &lab,
        "a",
        150,
        "192.168.77.100,192.168.77.149",
        "192.168.77.150,192.168.77.199",
    );
    let cb = box_conf(
        &lab,
        "b",
        100,
        "192.168.77.150,192.168.77.199",
        "192.168.77.100,192.168.77.149",
    );
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

    // B's outgoing DHCP while it is Backup: must stay empty.
    let cap = lab.host("b").spawn(&[
        "tcpdump",
        "-l",
        "-n",
        "-Q",
        "out",
        "-i",
        "eth0",
        "udp src port 67",
    ]);
    cap.wait_for_log("listening on", Duration::from_secs(10));

    let mut clients = Vec::new();
    for n in &names {
        clients.push(dhclient(&lab, n));
    }
    let mut addr = HashMap::new();
    for (n, (_, rec)) in names.iter().zip(&clients) {
        assert!(
            lab::wait_until(Duration::from_secs(30), || read(rec).contains("BOUND")),
            "{n} got no lease:\n{}",
            a.logs()
        );
        let r = read(rec);
        let ip = last(&r, "ip");
        assert!(
            ip.starts_with("192.168.77.1") && ip.len() == 14 && ip.as_str() < "192.168.77.150",
            "{n}: {ip} is not from A's range"
        );
        assert_eq!(
            last(&r, "sid"),
            "192.168.77.1",
            "the server identifier must be the VIP"
        );
        assert_eq!(
            last(&r, "router"),
            "192.168.77.1",
            "the default router must be the VIP"
        );
        addr.insert(n.clone(), ip);
    }
    // Renewals go by unicast to the VIP, i.e. to A.
    std::thread::sleep(Duration::from_secs(3));
    let out = cap.logs();
    assert!(!out.contains(" > "), "B sent DHCP while Backup:\n{out}");
    drop(cap);

    // A dies. B takes the VIP and from then on answers the renewals.
    a.signal(lab::SIGKILL).unwrap();
    b.wait_for_log(
        "vrrp.state instance=lan role=active",
        Duration::from_secs(3),
    );
    for (n, (_, rec)) in names.iter().zip(&clients) {
        let before = read(rec).lines().count();
        assert!(
            lab::wait_until(Duration::from_secs(20), || {
                let r = read(rec);
                r.lines().count() > before
                    && r.lines()
                        .last()
                        .is_some_and(|l| l.starts_with("RENEW") || l.starts_with("REBIND"))
            }),
            "{n} did not renew with B:\n{}\n{}",
            read(rec),
            b.logs()
        );
        assert_eq!(
            last(&read(rec), "ip"),
            addr[n],
            "{n} lost its address in the failover"
        );
    }
    assert!(b.logs().contains("msg=Ack"), "{}", b.logs());
    assert!(
        !b.logs().contains("msg=Nak"),
        "B NAKed a client:\n{}",
        b.logs()
    );

    // A new client now gets an address from B's own range.
    let (late, late_rec) = dhclient(&lab, "late");
    assert!(lab::wait_until(Duration::from_secs(30), || read(&late_rec)
        .contains("BOUND")));
    let ip = last(&read(&late_rec), "ip");
    assert!(
        ip.as_str() >= "192.168.77.150" && ip.as_str() <= "192.168.77.199",
        "new client got {ip}"
    );
    drop(late);

    // A returns and preempts; clients renew with A and keep their addresses.
    drop(a);
    let a = start(lab.host("a"), &ca);
    a.wait_for_log(
        "vrrp.state instance=lan role=active",
        Duration::from_secs(5),
    );
    b.wait_for_log_count(
        "vrrp.state instance=lan role=backup",
        2,
        Duration::from_secs(5),
    );
    for (n, (_, rec)) in names.iter().zip(&clients) {
        let mac = lab.host(n).mac().to_string();
        assert!(
            lab::wait_until(Duration::from_secs(20), || a
                .logs()
                .contains(&format!("msg=Ack mac={mac} ip={}", addr[n]))),
            "{n} did not renew with A after its return:\n{}",
            a.logs()
        );
        assert_eq!(last(&read(rec), "ip"), addr[n]);
    }
    assert!(
        !a.logs().contains("msg=Nak"),
        "A NAKed a client:\n{}",
        a.logs()
    );
    drop(clients);
    a.signal(lab::SIGTERM).unwrap();
    b.signal(lab::SIGTERM).unwrap();
    a.wait_exit(Duration::from_secs(3));
    b.wait_exit(Duration::from_secs(3));
    assert_no_duplicates(&[lab.dir().join("hq-a"), lab.dir().join("hq-b")]);
}

fn has_vip(h: &Host) -> bool {
    String::from_utf8_lossy(
        &h.run(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
            .stdout,
    )
    .contains("inet 192.168.77.1/24")
}

/// A udhcpc one-shot lease; returns the address (busybox udhcpc takes the
/// first OFFER, whichever box sent it).
fn udhcpc_once(lab: &Lab, host: &str) -> Option<String> {
    let rec = lab.dir().join(format!("{host}.urec"));
    let script = lab.dir().join(format!("{host}.ush"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip\" >> {}\nexit 0\n",
            rec.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    lab.host(host).run_timeout(
        &[
            "udhcpc",
            "-i",
            "eth0",
            "-f",
            "-q",
            "-n",
            "-t",
            "4",
            "-T",
            "1",
            "-s",
            script.to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    read(&rec).lines().last().map(str::to_string)
}

#[test]
fn split_brain_hands_out_no_address_twice_and_heals_to_one_active() {
    if !lab::have_commands("ha_split_brain", &["nft", "udhcpc"]) {
        return;
    }
    let Some(mut lab) = Lab::new("ha_split_brain") else {
        return;
    };
    lab.add_host("a", &["192.168.77.2/24"]);
    lab.add_host("b", &["192.168.77.3/24"]);
    let names: Vec<String> = (0..6).map(|i| format!("s{i}")).collect();
    for n in &names {
        lab.add_host(n, &[]);
    }
    let ca = box_conf(
        &lab,
        "a",
        150,
        "192.168.77.100,192.168.77.149",
        "192.168.77.150,192.168.77.199",
    );
    let cb = box_conf(
        &lab,
        "b",
        100,
        "192.168.77.150,192.168.77.199",
        "192.168.77.100,192.168.77.149",
    );
    let a = start(lab.host("a"), &ca);
    a.wait_for_log("role=active", Duration::from_secs(5));
    let b = start(lab.host("b"), &cb);
    b.wait_for_log("role=backup", Duration::from_secs(5));

    // Block VRRP (IP protocol 112) in both directions: both become Active.
    for h in ["a", "b"] {
        lab.host(h).sh_ok("nft add table inet split && nft 'add chain inet split in { type filter hook input priority 0; }' && nft add rule inet split in ip protocol 112 drop");
    }
    b.wait_for_log(
        "vrrp.state instance=lan role=active",
        Duration::from_secs(3),
    );
    assert!(has_vip(lab.host("a")) && has_vip(lab.host("b")));

    // During the split both answer, each from its own range only.
    let mut got = Vec::new();
    for n in &names {
        if let Some(ip) = udhcpc_once(&lab, n) {
            got.push(ip);
        }
    }
    assert!(
        got.len() >= 4,
        "clients got too few leases during the split: {got:?}"
    );
    let mut uniq = got.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(
        uniq.len(),
        got.len(),
        "an address was handed out twice: {got:?}"
    );
    for (box_log, lo, hi) in [
        (a.logs(), "192.168.77.100", "192.168.77.149"),
        (b.logs(), "192.168.77.150", "192.168.77.199"),
    ] {
        for l in box_log.lines().filter(|l| l.contains("msg=Offer")) {
            let ip = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("ip="))
                .unwrap_or("");
            assert!(
                ip >= lo && ip <= hi,
                "offer outside the box's own range: {l}"
            );
        }
        assert!(
            !box_log.contains("msg=Nak"),
            "a NAK during the split:\n{box_log}"
        );
    }

    // Heal: within one advert interval plus skew, exactly one Active (a).
    for h in ["a", "b"] {
        lab.host(h)
            .run_ok(&["nft", "delete", "table", "inet", "split"]);
    }
    let t0 = std::time::Instant::now();
    assert!(
        lab::wait_until(Duration::from_secs(3), || !has_vip(lab.host("b"))),
        "b kept the VIP after the heal"
    );
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(600),
        "heal took {took:?} (advert 100 ms + skew)"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(has_vip(lab.host("a")) && !has_vip(lab.host("b")));
    a.signal(lab::SIGTERM).unwrap();
    b.signal(lab::SIGTERM).unwrap();
    a.wait_exit(Duration::from_secs(3));
    b.wait_exit(Duration::from_secs(3));
    assert_no_duplicates(&[lab.dir().join("hq-a"), lab.dir().join("hq-b")]);
}
