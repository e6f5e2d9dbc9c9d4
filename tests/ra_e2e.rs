//! Router advertisements end to end in the lab (issue 15 item 3): the
//! Linux kernel as the SLAAC client (accept_ra=2, autoconf=1) learns its
//! address, default route and DNS options from hamasq; `rdisc6` (ndisc6)
//! sends a real Router Solicitation; a Backup stays silent on the bridge.

mod lab;

use std::path::Path;
use std::time::Duration;

use lab::dhclient::{dhclient_script, dhclient_stateless, wait_record};
use lab::probe::{PY, gap_across, probe_times, spawn_probe, stop_probe, wait_probe};
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

/// A router: IPv6 on, `prefix`::N/64 on eth0.
fn router(host: &Host, prefix: &str, n: u8) {
    ipv6_on(host);
    host.sysctl("net/ipv6/conf/eth0/accept_ra", "0");
    host.run_ok(&[
        "ip",
        "-6",
        "addr",
        "add",
        &format!("{prefix}::{n}/64"),
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

/// Waits until the client formed a SLAAC address in `prefix` from the
/// RAs of `router` (whose log the failure shows).
#[track_caller]
fn wait_slaac(c: &Host, prefix: &str, router: &Proc) {
    let global = [
        "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global",
    ];
    assert!(
        lab::wait_until(Duration::from_secs(10), || {
            show(c, &global).contains(&format!("{prefix}:"))
        }),
        "no SLAAC address: {}\nrouter: {}",
        show(c, &["ip", "-6", "addr"]),
        router.logs()
    );
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
    router(lab.host("r"), PREFIX, 1);
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
    wait_slaac(c, PREFIX, &hq);
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
    router(lab.host("a"), PREFIX, 1);
    router(lab.host("b"), PREFIX, 2);
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
    a.wait_role("lan", "active", Duration::from_secs(10));
    b.wait_role("lan", "backup", Duration::from_secs(10));
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
    // `hamasq status` says so on each box.
    let status = |host: &str, conf: &Path| {
        let out = lab
            .host(host)
            .run(&[BIN, "status", "-c", conf.to_str().unwrap()]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let (sa, sb) = (status("a", &ca), status("b", &cb));
    assert!(
        sa.lines()
            .any(|l| l.starts_with("ra: sent ") && !l.starts_with("ra: sent 0,")),
        "{sa}"
    );
    assert!(
        sb.lines().any(|l| l.starts_with("ra: sent 0, solicitations ")
            && !l.contains("silent (gate) 0,")),
        "{sb}"
    );

    // The Active goes away: b becomes Active and advertises at once
    // (RFC 9568 §6.4.3), without waiting for an RS.
    // a's link is cut (its bridge port down): a killed process would leave
    // the VIPs answering pings from a's kernel until b's NAs, hiding the gap.
    let a_port = lab.host("a").bridge_port().to_string();
    let seen = ra_sources(c, 4, || {
        lab.bridge().run_ok(&["ip", "link", "set", &a_port, "down"]);
    });
    b.wait_role("lan", "active", Duration::from_secs(5));
    assert!(
        seen.iter().any(|s| s.starts_with(&b_ll)),
        "no RA from the new Active {b_ll}: {seen:?}"
    );
}

/// The ULA prefix of the dual-stack failover test and its IPv6 VIP.
const ULA: &str = "fd00:77:2";

/// The whole IPv6 story of a pair (issue 15, design §10): a dual-stack
/// client takes its address, default route and DNS server from the RAs of
/// the Active, which come from the virtual link-local `fe80::1` with the
/// IPv6 VIP as RDNSS; the Backup is silent. After the Active's link is cut,
/// the client's default route and DNS server are the same strings, the
/// new Active advertises from the same `fe80::1`, answers stateless
/// DHCPv6 and DNS over IPv6 on the VIP, and pings to the virtual
/// link-local resume. The gaps (IPv6 ping, DNS over IPv6, IPv4 ping, all
/// every 10 ms) are printed; `contrib/bench/vrrp.sh` compares them over
/// many runs.
#[test]
fn a_dual_stack_client_keeps_its_ipv6_router_and_dns_through_a_failover() {
    const TEST: &str = "ra_dual_failover";
    if !lab::have_commands(TEST, &["rdisc6", "tcpdump", "dig"])
        || !lab::have_programs_at(TEST, &[PY])
    {
        return;
    }
    let Some(mut lab) = Lab::new(TEST) else {
        return;
    };
    lab.add_host("a", &["10.77.2.2/24"]);
    lab.add_host("b", &["10.77.2.3/24"]);
    lab.add_host("c", &["10.77.2.9/24"]);
    router(lab.host("a"), ULA, 2);
    router(lab.host("b"), ULA, 3);
    client(lab.host("c"));
    let (a_ll, b_ll) = (link_local(lab.host("a")), link_local(lab.host("b")));
    let section = |prio: u8| {
        format!(
            "[dns]\nno-resolv = true\ndomain = lab.example\n\
             host-record = gw.lab.example,10.77.2.254,{ULA}::1\n\n\
             [vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\npriority = {prio}\n\
             advert-int = 0.1\nvirtual-ipaddress = 10.77.2.254/24\ngarp-master-delay = 0\n\n\
             [vrrp lan6]\ninterface = eth0\nvirtual-router-id = 51\npriority = {prio}\n\
             advert-int = 0.1\nvirtual-ipaddress = fe80::1/64\n\
             virtual-ipaddress = {ULA}::1/64\ngarp-master-delay = 0\n\n\
             [ra lan]\ninterface = eth0\nprefix = {ULA}::/64\n\n\
             [dhcpv6 lan]\ninterface = eth0\n"
        )
    };
    let ca = lab.hamasq_conf("a", &section(150));
    let cb = lab.hamasq_conf("b", &section(100));
    let a = start(lab.host("a"), &ca);
    let b = start(lab.host("b"), &cb);
    for (p, role) in [(&a, "active"), (&b, "backup")] {
        for inst in ["lan", "lan6"] {
            p.wait_role(inst, role, Duration::from_secs(10));
        }
    }
    let c = lab.host("c");

    // SLAAC from the Active's RAs, default route via the virtual
    // link-local (RFC 9568 §6.4.3), not via either box's own address.
    wait_slaac(c, ULA, &a);
    // The default route without its countdown (`expires 1799sec`).
    let default_route = || {
        show(c, &["ip", "-6", "route", "show", "default"])
            .split_whitespace()
            .filter(|w| !w.ends_with("sec"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        lab::wait_until(Duration::from_secs(5), || default_route()
            .contains("via fe80::1 dev eth0")),
        "no default route via fe80::1: {}",
        show(c, &["ip", "-6", "route"])
    );
    let route_before = default_route();
    assert!(!route_before.contains(&a_ll), "{route_before}");
    let ra_info = || {
        let out = c.run(&["rdisc6", "-1", "-n", "-r", "1", "-w", "1000", "eth0"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let info = ra_info();
    assert!(info.contains("from fe80::1"), "{info}");
    assert!(
        info.contains(&format!("Recursive DNS server     : {ULA}::1")),
        "the RDNSS is not the IPv6 VIP: {info}"
    );
    assert!(
        info.contains("Stateful other conf.      :          Yes"),
        "O flag (with [dhcpv6]): {info}"
    );

    // Only the virtual router's address advertises; neither box's own.
    let seen = ra_sources(c, 3, || {
        c.run(&["rdisc6", "-1", "-n", "-r", "1", "-w", "1000", "eth0"]);
    });
    assert!(seen.iter().any(|s| s.starts_with("fe80::1")), "{seen:?}");
    assert!(
        !seen
            .iter()
            .any(|s| s.starts_with(&a_ll) || s.starts_with(&b_ll)),
        "an RA from a box's own link-local: {seen:?}"
    );

    // DNS over IPv6 on the VIP, and probes every 10 ms through the failover.
    let vip6 = format!("{ULA}::1");
    let dig = |name: &str| {
        let out = c.run_timeout(
            &[
                "dig",
                &format!("@{vip6}"),
                "+short",
                "+time=1",
                "+tries=1",
                name,
                "AAAA",
            ],
            Duration::from_secs(5),
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(dig("gw.lab.example"), vip6);
    let ping6 = spawn_probe_at(c, "ping6probe", &["fe80::1%eth0", "0.01", "30"]);
    let dns6 = spawn_probe(c, &["dns", &vip6, "gw.lab.example", "0.01", "30"]);
    let ping4 = spawn_probe(c, &["ping", "10.77.2.254", "0.01", "30"]);
    for p in [&ping6, &ping4] {
        wait_probe(p, "reply", 20, Duration::from_secs(5));
    }
    wait_probe(&dns6, "answer", 20, Duration::from_secs(5));
    let killed = now_s();
    // a's link is cut (its bridge port down): a killed process would leave
    // the VIPs answering pings from a's kernel until b's NAs, hiding the gap.
    let a_port = lab.host("a").bridge_port().to_string();
    let seen = ra_sources(c, 4, || {
        lab.bridge().run_ok(&["ip", "link", "set", &a_port, "down"]);
        for inst in ["lan", "lan6"] {
            b.wait_role(inst, "active", Duration::from_secs(5));
        }
    });
    // The new Active advertises at once, from the same fe80::1: VRRP adds
    // the virtual link-local before it publishes the role, so no send fails.
    assert!(seen.iter().any(|s| s.starts_with("fe80::1")), "{seen:?}");
    assert!(!b.logs().contains("ra.send_error"), "{}", b.logs());
    assert!(!seen.iter().any(|s| s.starts_with(&b_ll)), "{seen:?}");
    for p in [&ping6, &ping4] {
        let n = probe_times(p, "reply").len();
        wait_probe(p, "reply", n + 20, Duration::from_secs(10));
    }
    let n = probe_times(&dns6, "answer").len();
    wait_probe(&dns6, "answer", n + 20, Duration::from_secs(10));
    let end = now_s();
    for p in [&ping6, &dns6, &ping4] {
        stop_probe(p);
    }
    let gap = |p: &Proc, kind: &str| {
        gap_across(&probe_times(p, kind), killed, end).map_or(-1.0, |g| g * 1000.0)
    };
    let (g6, gdns, g4) = (
        gap(&ping6, "reply"),
        gap(&dns6, "answer"),
        gap(&ping4, "reply"),
    );
    eprintln!(
        "failover gaps (ms): ping6 fe80::1 {g6:.0}, DNS over IPv6 {gdns:.0}, ping 10.77.2.254 {g4:.0}"
    );
    assert!(g6 > 0.0 && gdns > 0.0 && g4 > 0.0);

    // The client's router and DNS server are unchanged: same route, same
    // RA source and RDNSS, now from b's MAC for fe80::1.
    assert_eq!(default_route(), route_before);
    let info = ra_info();
    assert!(info.contains("from fe80::1"), "{info}");
    assert!(
        info.contains(&format!("Recursive DNS server     : {ULA}::1")),
        "{info}"
    );
    let b_mac = lab.host("b").mac().to_string();
    assert!(
        lab::wait_until(Duration::from_secs(3), || {
            show(c, &["ip", "-6", "neigh", "show", "fe80::1", "dev", "eth0"]).contains(&b_mac)
        }),
        "fe80::1 does not point at b ({b_mac}): {}",
        show(c, &["ip", "-6", "neigh"])
    );
    assert_eq!(dig("gw.lab.example"), vip6);
    // Stateless DHCPv6 is answered by the new Active, with the VIP as the
    // DNS server (ISC dhclient -6 -S, a recording hook).
    let (script, rec) = dhclient_script(&lab, "c6");
    let dc = dhclient_stateless(&lab, "c", &script);
    let got = wait_record(&rec, &format!("dns={vip6}"));
    assert!(got.contains("domains=lab.example"), "{got}");
    drop(dc);
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// contrib/bench/ping6probe.py (haprobe's IPv6 ping twin), run like
/// [`spawn_probe`].
fn spawn_probe_at(host: &Host, name: &str, args: &[&str]) -> Proc {
    let script = format!("{}/contrib/bench/{name}.py", env!("CARGO_MANIFEST_DIR"));
    let mut argv = vec![PY, script.as_str()];
    argv.extend_from_slice(args);
    host.spawn(&argv)
}
