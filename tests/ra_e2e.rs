//! Router advertisements end to end in the lab (issue 15 item 3): the
//! Linux kernel as the SLAAC client (accept_ra=2, autoconf=1) learns its
//! address, default route and DNS options from hamasq; `rdisc6` (ndisc6)
//! sends a real Router Solicitation; a Backup stays silent on the bridge.

mod lab;

use std::path::Path;
use std::time::Duration;

use lab::{Host, Lab, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");
const PREFIX: &str = "2001:db8:77:1";

fn start(host: &Host, conf: &Path) -> Proc {
    let p = host.spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
    p.wait_for_log("ra.started", Duration::from_secs(10));
    p
}

/// IPv6 on, without duplicate address detection (the lab's addresses are
/// unique, and DAD would hold the link-local back for a second).
fn ipv6_on(host: &Host) {
    host.sysctl("net/ipv6/conf/eth0/accept_dad", "0");
    host.enable_ipv6();
}

/// A router: IPv6 on, the lab prefix's ::N on eth0.
fn router(host: &Host, n: u8) {
    ipv6_on(host);
    host.sysctl("net/ipv6/conf/eth0/accept_ra", "0");
    host.run_ok(&[
        "ip",
        "-6",
        "addr",
        "add",
        &format!("{PREFIX}::{n}/64"),
        "dev",
        "eth0",
        "nodad",
    ]);
}

/// A client taking RAs as a host does (RFC 4862 SLAAC by the kernel).
fn client(host: &Host) {
    host.sysctl("net/ipv6/conf/eth0/accept_ra", "2");
    host.sysctl("net/ipv6/conf/eth0/autoconf", "1");
    host.sysctl("net/ipv6/conf/eth0/forwarding", "0");
    ipv6_on(host);
}

fn link_local(host: &Host) -> String {
    let out = host.run_ok(&[
        "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let addr = text
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .unwrap_or_else(|| panic!("{} has no link-local address: {text}", host.name()));
    addr.split('/').next().unwrap().to_string()
}

fn show(host: &Host, argv: &[&str]) -> String {
    String::from_utf8_lossy(&host.run(argv).stdout).to_string()
}

#[test]
fn a_client_learns_its_address_default_route_and_dns_from_hamasq() {
    if !lab::have_commands("ra_slaac", &["rdisc6"]) {
        return;
    }
    let Some(mut lab) = Lab::new("ra_slaac") else {
        return;
    };
    lab.add_host("r", &["10.77.0.1/24"]);
    lab.add_host("c", &[]);
    router(lab.host("r"), 1);
    client(lab.host("c"));
    let r_ll = link_local(lab.host("r"));
    let cfg = lab.hamasq_conf(
        "r",
        "[dns]\nport = 0\ndomain = lab.example\n\n[ra lan]\ninterface = eth0\n",
    );
    let hq = start(lab.host("r"), &cfg);
    let c = lab.host("c");

    // SLAAC: an address in the prefix (the prefix came from the
    // interface's own /64), and the default route via hamasq's link-local.
    assert!(
        lab::wait_until(Duration::from_secs(10), || {
            show(
                c,
                &[
                    "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global",
                ],
            )
            .contains(&format!("{PREFIX}:"))
        }),
        "no SLAAC address: {}\nhamasq: {}",
        show(c, &["ip", "-6", "addr"]),
        hq.logs()
    );
    assert!(
        lab::wait_until(Duration::from_secs(5), || {
            show(c, &["ip", "-6", "route", "show", "default"]).contains(&format!("via {r_ll} "))
        }),
        "no default route via {r_ll}: {}",
        show(c, &["ip", "-6", "route"])
    );

    // A real RS (rdisc6): answered within its 1 s wait, on the first
    // attempt, with the RDNSS (the router's link-local by default) and
    // the DNSSL ([dns] domain).
    let out = c.run(&["rdisc6", "-1", "-n", "-r", "1", "-w", "1000", "eth0"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "no answer to an RS within 1 s: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("from {r_ll}")), "{text}");
    assert!(text.contains("Hop limit") && text.contains("64"), "{text}");
    assert!(
        text.contains(&format!("Prefix                   : {PREFIX}::/64")),
        "{text}"
    );
    assert!(
        text.contains(&format!("Recursive DNS server     : {r_ll}")),
        "{text}"
    );
    assert!(
        text.contains("DNS search list          : lab.example"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("Router lifetime") && l.contains(" 1800 (0x00000708)")),
        "{text}"
    );

    // A reload that changes [ra] says it needs a restart and keeps the
    // running RAs (an RS is still answered).
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg).unwrap().replace(
            "[ra lan]\ninterface = eth0\n",
            "[ra lan]\ninterface = eth0\nmtu = 1400\n",
        ),
    )
    .unwrap();
    hq.signal(1).unwrap();
    hq.wait_for_log("config.restart_needed section=ra", Duration::from_secs(5));
    let out = c.run(&["rdisc6", "-1", "-n", "-r", "1", "-w", "1000", "eth0"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success() && !text.contains("MTU"), "{text}");

    // Stopping a box without VRRP: a final RA with Router Lifetime 0
    // (RFC 4861 §6.2.5), and the client drops the default route at once.
    hq.signal(15).unwrap();
    assert!(hq.wait_exit(Duration::from_secs(10)).is_some());
    assert!(
        lab::wait_until(Duration::from_secs(3), || {
            !show(c, &["ip", "-6", "route", "show", "default"]).contains("via")
        }),
        "the default route stayed after the final RA: {}",
        show(c, &["ip", "-6", "route"])
    );
}

/// RAs seen on the bridge by `c` for `secs` seconds while `during` runs:
/// the source addresses of every RA captured.
fn ra_sources(c: &Host, secs: u64, during: impl FnOnce()) -> Vec<String> {
    let cap = c.spawn(&[
        "timeout",
        &secs.to_string(),
        "tcpdump",
        "-l",
        "-n",
        "-i",
        "eth0",
        "icmp6 and ip6[40] == 134",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    during();
    cap.wait_exit(Duration::from_secs(secs + 5));
    cap.logs()
        .lines()
        .filter(|l| l.contains("router advertisement"))
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == "IP6")?;
            Some(w.get(i + 1)?.to_string())
        })
        .collect()
}

#[test]
fn only_the_active_box_sends_router_advertisements() {
    if !lab::have_commands("ra_gate", &["rdisc6", "tcpdump"]) {
        return;
    }
    let Some(mut lab) = Lab::new("ra_gate") else {
        return;
    };
    lab.add_host("a", &["10.77.0.1/24"]);
    lab.add_host("b", &["10.77.0.2/24"]);
    lab.add_host("c", &[]);
    router(lab.host("a"), 1);
    router(lab.host("b"), 2);
    client(lab.host("c"));
    let (a_ll, b_ll) = (link_local(lab.host("a")), link_local(lab.host("b")));
    let section = |prio: u8| {
        format!(
            "[vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\npriority = {prio}\nadvert-int = 0.1\n\
             virtual-ipaddress = 10.77.0.254/24\ngarp-master-delay = 0\n\n\
             [ra lan]\ninterface = eth0\nprefix = {PREFIX}::/64\nvrrp = lan\n"
        )
    };
    let ca = lab.hamasq_conf("a", &section(150));
    let cb = lab.hamasq_conf("b", &section(100));
    let a = start(lab.host("a"), &ca);
    let b = start(lab.host("b"), &cb);
    a.wait_for_log(
        "vrrp.state instance=lan role=active",
        Duration::from_secs(10),
    );
    b.wait_for_log(
        "vrrp.state instance=lan role=backup",
        Duration::from_secs(10),
    );
    let c = lab.host("c");

    // Both hear the solicitations; only the Active answers (RFC 9568
    // §6.4.2: the Backup MUST NOT send RAs for the virtual router).
    let seen = ra_sources(c, 4, || {
        for _ in 0..3 {
            c.run(&["rdisc6", "-1", "-n", "-r", "1", "-w", "1000", "eth0"]);
        }
    });
    assert!(
        seen.iter().any(|s| s.starts_with(&a_ll)),
        "no RA from the Active {a_ll}: {seen:?}"
    );
    assert!(
        !seen.iter().any(|s| s.starts_with(&b_ll)),
        "the Backup {b_ll} sent an RA: {seen:?}"
    );

    // The Active goes away: b becomes Active and advertises at once
    // (RFC 9568 §6.4.3), without waiting for an RS.
    let seen = ra_sources(c, 4, || {
        a.kill();
    });
    b.wait_for_log(
        "vrrp.state instance=lan role=active",
        Duration::from_secs(5),
    );
    assert!(
        seen.iter().any(|s| s.starts_with(&b_ll)),
        "no RA from the new Active {b_ll}: {seen:?}"
    );
}
