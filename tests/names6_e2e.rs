//! AAAA names for DHCPv4 clients (issue 15 item 5) in the network-namespace
//! lab: a real udhcpc gets a lease with a hostname; the client's IPv6
//! addresses (a stable one and a privacy-style random one) become known to
//! the server's kernel when the client talks to the server from each; then
//! hamasq answers AAAA for the DHCPv4 name with both, and PTR in ip6.arpa
//! for each, and drops an address when its neighbour entry goes (deleted,
//! or failed after the client lost the address). A third test lets the
//! client's kernel form real SLAAC and temporary addresses from hamasq's
//! own router advertisements.
//!
//! The udhcpc script only records and configures the client namespace's
//! own eth0; nothing touches the machine's resolv.conf or routes.

mod lab;

use std::time::Duration;

use lab::{Host, Lab};

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");
const SRV: &str = "192.168.78.1";
const SRV6: &str = "fd00:78::1";
const STABLE: &str = "fd00:78::a";
/// A random interface identifier, as RFC 8981 temporary addresses have.
const PRIVACY: &str = "fd00:78::8d1:2f3c:a01:77e4";

fn start_server(lab: &Lab, host: &Host, ipv6_names: bool, extra: &str) -> lab::Proc {
    let dir = lab.dir().join("srv");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("hamasq.conf");
    std::fs::write(
        &conf,
        format!(
            "[general]\npid-file = none\nstate-dir = {}\nlog-level = debug\n\n\
             [dns]\nno-resolv = true\ndomain = lan\ndhcp-ttl = 42\n\n\
             [dhcp]\ninterface = eth0\n\
             dhcp-range = 192.168.78.100,192.168.78.149,12h\n\
             ipv6-names = {ipv6_names}\n\n{extra}",
            dir.join("state").display()
        ),
    )
    .unwrap();
    let p = host.spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
    p.wait_for_log("daemon.ready", Duration::from_secs(10));
    p
}

/// `dig +short` from `cli` at the server: the answer lines, sorted.
fn short(cli: &Host, args: &[&str]) -> Vec<String> {
    let mut argv = vec!["dig", "+short", "+time=2", "+tries=1", "-p", "53"];
    let at = format!("@{SRV}");
    argv.push(&at);
    argv.extend_from_slice(args);
    let out = cli.run_timeout(&argv, Duration::from_secs(10));
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn full(cli: &Host, args: &[&str]) -> String {
    let mut argv = vec!["dig", "+time=2", "+tries=1"];
    let at = format!("@{SRV}");
    argv.push(&at);
    argv.extend_from_slice(args);
    String::from_utf8_lossy(&cli.run_timeout(&argv, Duration::from_secs(10)).stdout).into_owned()
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Waits until `dig +short AAAA gamma.lan` is `want`.
#[track_caller]
fn wait_aaaa(cli: &Host, want: &[&str]) {
    let want = sorted(want);
    let mut last = Vec::new();
    let ok = lab::wait_until(Duration::from_secs(20), || {
        last = short(cli, &["AAAA", "gamma.lan"]);
        last == want
    });
    assert!(ok, "AAAA gamma.lan: want {want:?}, last {last:?}");
}

fn udhcpc_script(lab: &Lab) -> std::path::PathBuf {
    let rec = lab.dir().join("cli.rec");
    let script = lab.dir().join("cli.sh");
    lab::write_script(
        &script,
        &format!(
            "#!/bin/sh\n\
             echo \"$1 ip=$ip mask=$mask\" >> {rec}\n\
             case \"$1\" in\n\
               bound|renew) ip addr replace \"$ip/$mask\" dev \"$interface\" ;;\n\
             esac\n\
             exit 0\n",
            rec = rec.display()
        ),
    );
    script
}

/// A lab with hamasq in `srv` (`ipv6-names` as given) and a client
/// `cli` that took a DHCPv4 lease as "gamma"; both with IPv6 on. With
/// `slaac`, hamasq also sends router advertisements (`[ra lan]`) and the
/// client's kernel forms its own addresses, a stable one and an RFC 8981
/// temporary one (`use_tempaddr = 2`); without, static addresses only.
/// Returns the lab, the server and the client's `A gamma.lan` answer.
fn setup(test: &str, ipv6_names: bool, slaac: bool) -> Option<(Lab, lab::Proc, Vec<String>)> {
    if !lab::have_commands(module_path!(), &["udhcpc", "dig", "ping"]) {
        return None;
    }
    let mut lab = Lab::new(test)?;
    lab.add_host("srv", &[&format!("{SRV}/24")]);
    lab.add_host("cli", &[]);
    let (srv, cli) = (lab.host("srv"), lab.host("cli"));
    for h in [srv, cli] {
        h.sysctl("net/ipv6/conf/eth0/accept_ra", "0");
        h.enable_ipv6();
    }
    if slaac {
        cli.sysctl("net/ipv6/conf/eth0/accept_ra", "2");
        cli.sysctl("net/ipv6/conf/eth0/autoconf", "1");
        cli.sysctl("net/ipv6/conf/eth0/use_tempaddr", "2");
    }
    let srv6 = format!("{SRV6}/64");
    srv.run_ok(&["ip", "-6", "addr", "add", &srv6, "dev", "eth0", "nodad"]);
    // A failed neighbour is found quickly (the first probe after 1 s).
    srv.sysctl("net/ipv6/neigh/eth0/delay_first_probe_time", "1");
    let ra = if slaac {
        "[ra lan]\ninterface = eth0\nprefix = fd00:78::/64\n"
    } else {
        ""
    };
    let hamasq = start_server(&lab, srv, ipv6_names, ra);
    let script = udhcpc_script(&lab);
    let out = cli.run_timeout(
        &lab::udhcpc_argv(&script, "5", "2", &["-x", "hostname:gamma"]),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "udhcpc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v4 = short(cli, &["A", "gamma.lan"]);
    assert_eq!(v4.len(), 1, "A gamma.lan: {v4:?}");
    assert!(v4[0].starts_with("192.168.78.1"), "{v4:?}");
    Some((lab, hamasq, v4))
}

/// Adds `addr` to the client and pings the server from it, so the
/// server's kernel learns it.
fn talk_from(cli: &Host, addr: &str) {
    let a = format!("{addr}/64");
    cli.run_ok(&["ip", "-6", "addr", "add", &a, "dev", "eth0", "nodad"]);
    let out = cli.run_timeout(
        &["ping", "-6", "-c", "1", "-W", "2", "-I", addr, SRV6],
        Duration::from_secs(10),
    );
    assert!(
        out.status.success(),
        "ping6 from {addr}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_dhcpv4_name_answers_aaaa_with_the_clients_ipv6_addresses() {
    let Some((lab, _hamasq, v4)) = setup("names6_aaaa", true, false) else {
        return;
    };
    let (srv, cli) = (lab.host("srv"), lab.host("cli"));
    // The name exists without IPv6 addresses: NODATA, not NXDOMAIN.
    let r = full(cli, &["AAAA", "gamma.lan"]);
    assert!(
        r.contains("status: NOERROR") && r.contains("ANSWER: 0"),
        "AAAA before any IPv6 traffic:\n{r}"
    );

    // The client's addresses, and traffic from each to the server.
    for a in [STABLE, PRIVACY] {
        talk_from(cli, a);
    }
    wait_aaaa(cli, &[STABLE, PRIVACY]);
    let r = full(cli, &["AAAA", "gamma.lan"]);
    assert!(r.contains("\t42\tIN\tAAAA"), "TTL is dhcp-ttl:\n{r}");
    for a in [STABLE, PRIVACY] {
        assert_eq!(short(cli, &["-x", a]), ["gamma.lan."], "PTR of {a}");
    }
    // An address no client uses is not named.
    assert_eq!(short(cli, &["-x", "fd00:78::99"]), Vec::<String>::new());

    // The server forgets the privacy address: its AAAA and PTR go.
    srv.run_ok(&["ip", "-6", "neigh", "del", PRIVACY, "dev", "eth0"]);
    wait_aaaa(cli, &[STABLE]);
    assert_eq!(short(cli, &["-x", PRIVACY]), Vec::<String>::new());

    // The client drops its stable address; the server's next packet to it
    // finds nobody (NUD probes fail) and the entry turns FAILED.
    cli.run_ok(&[
        "ip",
        "-6",
        "addr",
        "del",
        &format!("{STABLE}/64"),
        "dev",
        "eth0",
    ]);
    let _ = srv.run_timeout(
        &["ping", "-6", "-c", "1", "-W", "1", STABLE],
        Duration::from_secs(5),
    );
    wait_aaaa(cli, &[]);
    let r = full(cli, &["AAAA", "gamma.lan"]);
    assert!(r.contains("status: NOERROR"), "the name stays:\n{r}");
    assert_eq!(short(cli, &["A", "gamma.lan"]), v4);
}

/// With `ipv6-names = false` the same traffic names nothing.
#[test]
fn ipv6_names_off_names_no_ipv6_address() {
    let Some((lab, _hamasq, _)) = setup("names6_off", false, false) else {
        return;
    };
    let (srv, cli) = (lab.host("srv"), lab.host("cli"));
    talk_from(cli, STABLE);
    assert!(
        srv.run_ok(&["ip", "-6", "neigh"])
            .stdout
            .starts_with(STABLE.as_bytes()),
        "the server's kernel knows the address"
    );
    // Long enough for a watcher to have published it (the test above
    // waits well under this for the same change).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(short(cli, &["AAAA", "gamma.lan"]), Vec::<String>::new());
    assert_eq!(short(cli, &["-x", STABLE]), Vec::<String>::new());
}

/// The client's kernel forms its addresses from hamasq's RAs (SLAAC) and
/// adds an RFC 8981 temporary (privacy) address; both come to answer for
/// its DHCPv4 name once it talks from them, with no guessing from its MAC
/// (dnsmasq's `ra-names` would only find the EUI-64 one).
#[test]
fn slaac_and_temporary_addresses_from_our_ras_are_named() {
    let Some((lab, _hamasq, _)) = setup("names6_slaac", true, true) else {
        return;
    };
    let cli = lab.host("cli");
    let global = |flag: &str| -> Option<String> {
        let out = cli.run(&[
            "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global",
        ]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("fd00:78:") && !l.contains("tentative"))
            .find(|l| l.split_whitespace().any(|w| w == flag))
            .and_then(|l| l.split_whitespace().skip_while(|w| *w != "inet6").nth(1))
            .map(|a| a.split('/').next().unwrap().to_string())
    };
    let mut addrs = (None, None);
    assert!(
        lab::wait_until(Duration::from_secs(15), || {
            addrs = (global("mngtmpaddr"), global("temporary"));
            addrs.0.is_some() && addrs.1.is_some()
        }),
        "no SLAAC and temporary address from the RAs: {}",
        String::from_utf8_lossy(&cli.run(&["ip", "-6", "addr"]).stdout)
    );
    let (stable, temporary) = (addrs.0.unwrap(), addrs.1.unwrap());
    for a in [&stable, &temporary] {
        let out = cli.run_timeout(
            &["ping", "-6", "-c", "1", "-W", "2", "-I", a, SRV6],
            Duration::from_secs(10),
        );
        assert!(
            out.status.success(),
            "ping6 from {a}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    wait_aaaa(cli, &[&stable, &temporary]);
    assert_eq!(short(cli, &["-x", &temporary]), ["gamma.lan."]);
}
