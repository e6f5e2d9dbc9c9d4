//! Stateless DHCPv6 end to end in the network-namespace lab, with real
//! clients: ISC `dhclient -6 -S` and `dhcpcd --inform6` get the DNS
//! servers and the search list; a capture shows one Reply per
//! Information-request; in a pair only the Active answers.
//!
//! Client scripts only record what they were given into the lab
//! directory; none touches the machine's resolv.conf or routes.

mod lab;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lab::dhclient::{dhclient_script, dhclient_stateless, wait_record};
use lab::{Host, Lab, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");

fn conf(lab: &Lab, host: &str, body: &str) -> PathBuf {
    let dir = lab.dir().join(format!("hq-{host}"));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("hamasq.conf");
    std::fs::write(
        &p,
        format!(
            "[general]\npid-file = none\nstate-dir = {}\nlog-level = debug\n\n{body}",
            dir.join("state").display()
        ),
    )
    .unwrap();
    p
}

/// Turns IPv6 on and waits until eth0's link-local address is usable
/// (duplicate address detection done), so DHCPv6 can be sent from it.
fn ipv6_up(host: &Host) {
    host.enable_ipv6();
    wait_link_local(host, "eth0");
}

fn wait_link_local(host: &Host, dev: &str) {
    let ready = lab::wait_until(Duration::from_secs(10), || {
        let out = host.run(&["ip", "-6", "-o", "addr", "show", "dev", dev]);
        let s = String::from_utf8_lossy(&out.stdout).to_string();
        s.contains("fe80::") && !s.contains("tentative")
    });
    assert!(
        ready,
        "{}: no usable link-local address on {dev}",
        host.name()
    );
}

/// Adds a unique-local address to `dev`, usable at once (no DAD).
fn add_ula(host: &Host, addr: &str, dev: &str) {
    host.run_ok(&["ip", "-6", "addr", "add", addr, "dev", dev, "nodad"]);
}

fn start(host: &Host, conf: &Path) -> Proc {
    let p = host.spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
    p.wait_for_log("dhcpv6.started", Duration::from_secs(10));
    p
}

/// Every DHCPv6 message on `host`'s eth0, one line each.
fn capture(host: &Host) -> Proc {
    let p = host.spawn(&[
        "tcpdump",
        "-l",
        "-n",
        "-i",
        "eth0",
        "udp port 546 or udp port 547",
    ]);
    p.wait_for_log("listening on", Duration::from_secs(10));
    p
}

fn count(text: &str, what: &str) -> usize {
    text.lines().filter(|l| l.contains(what)).count()
}

/// Waits until `cap` has written at least `n` lines with `what` (tcpdump
/// writes a little after the packet); returns how many it has.
fn wait_count(cap: &Proc, what: &str, n: usize) -> usize {
    let mut c = 0;
    lab::wait_until(Duration::from_secs(5), || {
        c = count(&cap.logs(), what);
        c >= n
    });
    c
}

#[test]
fn dhclient_and_dhcpcd_get_dns_servers_and_domains() {
    const TEST: &str = "dhcp6_clients";
    if !lab::have_commands(TEST, &["dhclient", "dhcpcd", "tcpdump"]) {
        return;
    }
    let Some(mut lab) = Lab::new(TEST) else {
        return;
    };
    lab.add_host("srv", &["10.78.0.1/24"]);
    lab.add_host("dc", &[]);
    lab.add_host("dd", &[]);
    for h in ["srv", "dc", "dd"] {
        ipv6_up(lab.host(h));
    }
    // The default dns-server is the interface's own unique-local address;
    // the default domain-search is [dns] domain.
    add_ula(lab.host("srv"), "fd78::1/64", "eth0");
    let c = conf(
        &lab,
        "srv",
        "[dns]\nport = 0\ndomain = lab.test\n\n\
         [dhcpv6 lan]\ninterface = eth0\ninformation-refresh-time = 1h\n",
    );
    let cap = capture(lab.host("srv"));
    let srv = start(lab.host("srv"), &c);
    assert!(
        srv.logs()
            .contains("dns_servers=fd78::1 domains=lab.test refresh_s=3600 role=standalone"),
        "{}",
        srv.logs()
    );

    // ISC dhclient, stateless.
    let (script, rec) = dhclient_script(&lab, "dc");
    let dc = dhclient_stateless(&lab, "dc", &script);
    // ISC dhclient names a stateless Reply RENEW6; names keep their dot.
    let got = wait_record(&rec, "dns=");
    assert!(
        got.contains("RENEW6 dns=fd78::1 domains=lab.test."),
        "{got}\n{}",
        dc.logs()
    );
    drop(dc);

    // dhcpcd, one Information-request without router advertisements.
    let prec = lab.dir().join("dd.rec");
    let pscript = lab.dir().join("dd.sh");
    lab::write_script(
        &pscript,
        &format!(
            "#!/bin/sh\necho \"$reason dns=$new_dhcp6_name_servers domains=$new_dhcp6_domain_search\" >> {}\nexit 0\n",
            prec.display()
        ),
    );
    let dconf = lab.dir().join("dhcpcd.conf");
    std::fs::write(&dconf, "option dhcp6_name_servers, dhcp6_domain_search\n").unwrap();
    let out = lab.host("dd").run_timeout(
        &[
            "dhcpcd",
            "-6",
            "--inform6",
            "-1",
            "-B",
            "-c",
            pscript.to_str().unwrap(),
            "-f",
            dconf.to_str().unwrap(),
            "-t",
            "20",
            "eth0",
        ],
        Duration::from_secs(40),
    );
    let d = wait_record(&prec, "dns=");
    assert!(
        d.contains("INFORM6 dns=fd78::1 domains=lab.test"),
        "{d}\ndhcpcd: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // One Reply per Information-request (RFC 8415 §18.3.6), and nothing
    // else from the server.
    let mut text = String::new();
    lab::wait_until(Duration::from_secs(5), || {
        text = cap.logs();
        let asks = count(&text, "dhcp6 inf-req");
        asks >= 2 && asks == count(&text, "dhcp6 reply")
    });
    let (asks, replies) = (count(&text, "dhcp6 inf-req"), count(&text, "dhcp6 reply"));
    assert!(asks >= 2, "two clients asked at least once each: {text}");
    assert_eq!(asks, replies, "{text}");
    assert_eq!(
        count(&text, ".547 > "),
        replies,
        "the server sent only Replies: {text}"
    );
    drop(srv);
}

/// Two boxes with the same `[dhcpv6 lan]`, gated by a VRRP instance: the
/// Backup is silent, the Active answers; after the Active stops, the
/// other box answers.
#[test]
fn only_the_active_answers() {
    const TEST: &str = "dhcp6_gate";
    if !lab::have_commands(TEST, &["dhclient", "tcpdump"]) {
        return;
    }
    let Some(mut lab) = Lab::new(TEST) else {
        return;
    };
    lab.add_host("a", &["10.78.0.1/24"]);
    lab.add_host("b", &["10.78.0.2/24"]);
    lab.add_host("cl", &[]);
    for h in ["a", "b", "cl"] {
        ipv6_up(lab.host(h));
    }
    let body = |prio: u8| {
        format!(
            "[vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\npriority = {prio}\nadvert-int = 0.1\n\
             virtual-ipaddress = 10.78.0.254/24\ngarp-master-delay = 0\n\n\
             [dhcpv6 lan]\ninterface = eth0\ndns-server = fd78::53\ndomain-search = pair.test\nvrrp = lan\n"
        )
    };
    let (ca, cb) = (conf(&lab, "a", &body(150)), conf(&lab, "b", &body(100)));
    let (cap_a, cap_b) = (capture(lab.host("a")), capture(lab.host("b")));
    let a = start(lab.host("a"), &ca);
    let b = start(lab.host("b"), &cb);
    a.wait_role("lan", "active", Duration::from_secs(10));
    b.wait_role("lan", "backup", Duration::from_secs(10));

    let (script, rec) = dhclient_script(&lab, "cl");
    let cl = dhclient_stateless(&lab, "cl", &script);
    let got = wait_record(&rec, "dns=");
    assert!(got.contains("dns=fd78::53 domains=pair.test."), "{got}");
    drop(cl);
    let sent_by = |cap: &Proc| count(&cap.logs(), ".547 > ");
    assert!(
        wait_count(&cap_a, ".547 > ", 1) >= 1,
        "the Active answered: {}",
        cap_a.logs()
    );
    // The Backup's gate kept it silent (its log says so, at debug) and its
    // capture holds the request but nothing sent.
    b.wait_for_log("dhcpv6.gated instance=lan", Duration::from_secs(5));
    assert!(
        wait_count(&cap_b, "dhcp6 inf-req", 1) >= 1,
        "the Backup saw the request: {}",
        cap_b.logs()
    );
    assert_eq!(sent_by(&cap_b), 0, "the Backup is silent: {}", cap_b.logs());
    // Its counters say the same (SIGUSR1 at debug lists every metric).
    b.signal(lab::SIGUSR1).unwrap();
    let log = b.wait_for_log("hamasq_dhcpv6_gated_total=", Duration::from_secs(5));
    assert!(log.contains("hamasq_dhcpv6_replies_total=0"), "{log}");
    assert!(!log.contains("hamasq_dhcpv6_gated_total=0"), "{log}");

    // The Active leaves (SIGTERM: priority 0, RFC 9568 §6.4.3); the other
    // box takes over and answers the next client.
    a.signal(15).unwrap();
    b.wait_role("lan", "active", Duration::from_secs(10));
    std::fs::remove_file(&rec).ok();
    std::fs::remove_file(lab.dir().join("cl.leases6")).ok();
    let cl = dhclient_stateless(&lab, "cl", &script);
    let got = wait_record(&rec, "dns=");
    assert!(got.contains("dns=fd78::53 domains=pair.test."), "{got}");
    drop(cl);
    assert!(
        wait_count(&cap_b, ".547 > ", 1) >= 1,
        "the new Active answered: {}",
        cap_b.logs()
    );
    drop(b);
}

/// A client on another link, behind ISC `dhcrelay -6`: the server answers
/// the Relay-forward with a Relay-reply to the relay (RFC 8415 §19.3),
/// which hands the Reply to the client.
#[test]
fn a_client_behind_dhcrelay_is_answered_through_it() {
    const TEST: &str = "dhcp6_relay";
    if !lab::have_commands(TEST, &["dhclient", "dhcrelay", "tcpdump"]) {
        return;
    }
    // Two links: the server's (srv, rly's eth0) and the client's (cl,
    // rly's eth1), so the server never hears the client directly.
    let Some(mut up) = Lab::new(TEST) else {
        return;
    };
    let Some(mut down) = Lab::new("dhcp6_relay_lower") else {
        return;
    };
    up.add_host("srv", &[]);
    up.add_host("rly", &[]);
    down.add_host("cl", &[]);
    let rly_ns = up.host("rly").ns().to_string();
    down.attach(&rly_ns, "rly", "eth1", &[]);
    for h in [up.host("srv"), up.host("rly"), down.host("cl")] {
        ipv6_up(h);
    }
    let rly = up.host("rly");
    rly.sysctl("net/ipv6/conf/eth1/disable_ipv6", "0");
    rly.sysctl("net/ipv6/conf/all/forwarding", "1");
    add_ula(up.host("srv"), "fd78::1/64", "eth0");
    add_ula(rly, "fd78::2/64", "eth0");
    add_ula(rly, "fd79::1/64", "eth1");
    wait_link_local(rly, "eth1");

    let c = conf(
        &up,
        "srv",
        "[dhcpv6 lan]\ninterface = eth0\ndomain-search = relayed.test\n",
    );
    let cap = capture(up.host("srv"));
    let srv = start(up.host("srv"), &c);
    let relay = rly.spawn(&["dhcrelay", "-6", "-d", "-l", "eth1", "-u", "fd78::1%eth0"]);
    relay.wait_for_log("Sending on", Duration::from_secs(10));

    let (script, rec) = dhclient_script(&down, "cl");
    let cl = dhclient_stateless(&down, "cl", &script);
    let got = wait_record(&rec, "dns=");
    assert!(
        got.contains("dns=fd78::1 domains=relayed.test."),
        "{got}\nserver:\n{}\nrelay:\n{}",
        srv.logs(),
        relay.logs()
    );
    drop(cl);
    // On the server's link: Relay-forwards in, as many Relay-replies out,
    // and no Information-request seen directly.
    let fwd = wait_count(&cap, "dhcp6 relay-fwd", 1);
    let repl = wait_count(&cap, "dhcp6 relay-reply", fwd);
    assert!(fwd >= 1 && repl == fwd, "{}", cap.logs());
    assert_eq!(count(&cap.logs(), "dhcp6 inf-req"), 0, "{}", cap.logs());
    drop(relay);
    drop(srv);
}
