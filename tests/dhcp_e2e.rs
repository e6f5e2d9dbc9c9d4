//! DHCP end to end in the network-namespace lab, with real clients:
//! udhcpc (busybox), ISC dhclient and dhcpcd, and ISC dhcrelay.
//!
//! Client scripts only record what they were given into the lab directory,
//! or configure the leased address on the client's own `eth0` inside its
//! namespace; none touches the machine's resolv.conf or routes.

mod lab;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lab::{Host, Lab, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");

/// Writes `dir/NAME.conf` with state in `dir/NAME-state` (`state` for the
/// first server, as the tests read it) and `[dhcp]` `dhcp`.
fn write_conf(dir: &Path, name: &str, dhcp: &str) -> PathBuf {
    let conf = dir.join(format!("{name}.conf"));
    let state = match name {
        "hamasq" => dir.join("state"),
        _ => dir.join(format!("{name}-state")),
    };
    std::fs::write(
        &conf,
        format!(
            "[general]\npid-file = none\nstate-dir = {}\nlog-level = debug\n\n[dhcp]\n{dhcp}",
            state.display()
        ),
    )
    .unwrap();
    conf
}

/// Writes a config and starts hamasq in `host`, waiting until it is ready.
fn start_server(lab: &Lab, host: &Host, dhcp: &str) -> (Proc, PathBuf) {
    let dir = lab.dir().join(format!("srv-{}", host.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = write_conf(&dir, "hamasq", dhcp);
    let p = host.spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
    p.wait_for_log("daemon.ready", Duration::from_secs(10));
    (p, dir)
}

/// A udhcpc hook that records each event and configures the address on
/// the namespace's own eth0 (so unicast renewals can be sent).
fn udhcpc_script(lab: &Lab, tag: &str) -> (PathBuf, PathBuf) {
    let rec = lab.dir().join(format!("{tag}.rec"));
    let script = lab.dir().join(format!("{tag}.sh"));
    lab::write_script(
        &script,
        &format!(
            "#!/bin/sh\n\
             echo \"$1 ip=$ip mask=$mask router=$router dns=$dns domain=$domain lease=$lease serverid=$serverid routes=$staticroutes hostname=$hostname\" >> {rec}\n\
             case \"$1\" in\n\
               bound|renew) ip addr replace \"$ip/$mask\" dev \"$interface\" ;;\n\
               deconfig) ip addr flush dev \"$interface\" ;;\n\
             esac\n\
             exit 0\n",
            rec = rec.display()
        ),
    );
    (script, rec)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn wait_file(p: &Path, needle: &str, t: Duration) -> String {
    let mut last = String::new();
    let ok = lab::wait_until(t, || {
        last = read(p);
        last.contains(needle)
    });
    assert!(ok, "no {needle:?} in {} after {t:?}:\n{last}", p.display());
    last
}

/// The value of `key=` in the last line of `rec` starting with `event`.
fn field(rec: &str, event: &str, key: &str) -> String {
    let line = rec
        .lines()
        .rev()
        .find(|l| l.starts_with(event))
        .unwrap_or("");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or("")
        .to_string()
}

const BASE: &str = "interface = eth0\n\
    dhcp-range = 192.168.77.100,192.168.77.149,12h\n\
    dhcp-option = option:dns-server,192.168.77.1\n\
    dhcp-option = option:domain-name,lan\n\
    log-dhcp = true\n";

#[test]
fn udhcpc_dhclient_and_dhcpcd_get_addresses_and_options() {
    if !lab::have_commands(module_path!(), &["udhcpc", "dhclient", "dhcpcd"]) {
        return;
    }
    let Some(mut lab) = Lab::new("dhcp_three_clients") else {
        return;
    };
    lab.add_host("srv", &["192.168.77.1/24"]);
    lab.add_host("ua", &[]);
    lab.add_host("dc", &[]);
    lab.add_host("dd", &[]);
    let cfg = format!(
        "{BASE}dhcp-option-force = option:classless-static-route,10.20.0.0/16,192.168.77.254,0.0.0.0/0,192.168.77.1\n"
    );
    let (srv, _dir) = start_server(&lab, lab.host("srv"), &cfg);

    // busybox udhcpc: one shot, asks for static routes.
    let (script, rec) = udhcpc_script(&lab, "ua");
    let out = udhcpc_once(
        &lab,
        "ua",
        &script,
        &["-O", "staticroutes", "-x", "hostname:alpha"],
    );
    assert!(
        out.status.success(),
        "udhcpc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = read(&rec);
    let ip = field(&r, "bound", "ip");
    assert!(
        ip.starts_with("192.168.77.1") && ip.len() == 14,
        "udhcpc got {ip:?}\n{r}"
    );
    assert_eq!(field(&r, "bound", "mask"), "24");
    assert_eq!(field(&r, "bound", "dns"), "192.168.77.1");
    assert_eq!(field(&r, "bound", "domain"), "lan");
    assert_eq!(field(&r, "bound", "lease"), "43200");
    assert_eq!(field(&r, "bound", "serverid"), "192.168.77.1");
    // RFC 3442 decoded by busybox: "dest/len gw" pairs.
    let routes = r
        .lines()
        .rev()
        .find(|l| l.starts_with("bound"))
        .unwrap_or("")
        .to_string();
    assert!(routes.contains("routes=10.20.0.0/16"), "{routes}");

    // `hamasq leases` / `hamasq status` ask the running daemon.
    let conf = _dir.join("hamasq.conf");
    let ask = |cmd: &str| {
        let out = std::process::Command::new(BIN)
            .args([cmd, "-c", conf.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let leases = ask("leases");
    let line = leases
        .lines()
        .find(|l| l.contains(&format!(" {ip} ")))
        .unwrap_or_else(|| panic!("{ip} not in `hamasq leases`:\n{leases}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (f.len(), f[1], f[3]),
        (5, lab.host("ua").mac(), "alpha"),
        "{line}"
    );
    let status = ask("status");
    assert!(
        status.contains("dhcp 192.168.77.0/24: leased 192.168.77.100-192.168.77.149 1/50"),
        "{status}"
    );

    // ISC dhclient with a recording script.
    let drec = lab.dir().join("dc.rec");
    let dscript = lab.dir().join("dc.sh");
    lab::write_script(
        &dscript,
        &format!(
            "#!/bin/sh\necho \"$reason ip=$new_ip_address mask=$new_subnet_mask router=$new_routers dns=$new_domain_name_servers domain=$new_domain_name lease=$new_dhcp_lease_time routes=$new_rfc3442_classless_static_routes\" >> {}\n",
            drec.display()
        ),
    );
    let _dc = dhclient_daemon(&lab, "dc", &dscript);
    wait_file(&drec, "BOUND", Duration::from_secs(40));
    let d = read(&drec);
    let dip = field(&d, "BOUND", "ip");
    assert!(
        dip.starts_with("192.168.77.1") && dip != ip,
        "dhclient got {dip:?}\n{d}"
    );
    assert_eq!(field(&d, "BOUND", "mask"), "255.255.255.0");
    assert_eq!(field(&d, "BOUND", "dns"), "192.168.77.1");
    assert_eq!(field(&d, "BOUND", "domain"), "lan");
    assert_eq!(field(&d, "BOUND", "lease"), "43200");
    // dhclient passes option 121 as "len dest-octets gw-octets" integers.
    assert!(
        d.contains("routes=16 10 20 192 168 77 254 0 192 168 77 1"),
        "{d}"
    );

    // dhcpcd, one shot, in the foreground, with its hook.
    let prec = lab.dir().join("dd.rec");
    let pscript = lab.dir().join("dd.sh");
    lab::write_script(
        &pscript,
        &format!(
            "#!/bin/sh\necho \"$reason ip=$new_ip_address mask=$new_subnet_mask router=$new_routers dns=$new_domain_name_servers domain=$new_domain_name lease=$new_dhcp_lease_time\" >> {}\n",
            prec.display()
        ),
    );
    let dconf = lab.dir().join("dhcpcd.conf");
    std::fs::write(
        &dconf,
        "option domain_name_servers, domain_name, classless_static_routes\n",
    )
    .unwrap();
    let out = lab.host("dd").run_timeout(
        &[
            "dhcpcd",
            "-4",
            "-1",
            "-B",
            "-c",
            pscript.to_str().unwrap(),
            "-f",
            dconf.to_str().unwrap(),
            "--noipv4ll",
            "-t",
            "20",
            "eth0",
        ],
        Duration::from_secs(40),
    );
    assert!(
        out.status.success(),
        "dhcpcd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = read(&prec);
    let pip = field(&p, "BOUND", "ip");
    assert!(
        pip.starts_with("192.168.77.1") && pip != ip && pip != dip,
        "dhcpcd got {pip:?}\n{p}"
    );
    assert_eq!(field(&p, "BOUND", "dns"), "192.168.77.1");
    assert_eq!(field(&p, "BOUND", "domain"), "lan");

    // Three distinct leases are on disk.
    let log = srv.logs();
    assert_eq!(log.matches("dhcp.reply msg=ack").count(), 3, "{log}");
}

/// A dhclient hook that records each event and configures the address on
/// the namespace's own eth0, so unicast renewals (RENEWING) can be sent.
fn dhclient_script(lab: &Lab, tag: &str) -> (PathBuf, PathBuf) {
    let rec = lab.dir().join(format!("{tag}.rec"));
    let script = lab.dir().join(format!("{tag}.sh"));
    lab::write_script(
        &script,
        &format!(
            "#!/bin/sh\n\
             echo \"$reason ip=$new_ip_address mask=$new_subnet_mask lease=$new_dhcp_lease_time\" >> {rec}\n\
             case \"$reason\" in\n\
               BOUND|RENEW|REBIND|REBOOT) ip addr replace \"$new_ip_address/$new_subnet_mask\" dev \"$interface\" ;;\n\
               EXPIRE|FAIL|RELEASE|STOP) ip addr flush dev \"$interface\" ;;\n\
             esac\n\
             exit 0\n",
            rec = rec.display()
        ),
    );
    (script, rec)
}

/// ISC dhclient on `host`'s eth0 with `script` ([`lab::dhclient::spawn`]).
fn dhclient_daemon(lab: &Lab, host: &str, script: &Path) -> Proc {
    lab::dhclient::spawn(lab.host(host), lab.dir(), host, script, &["-v"])
}

#[test]
fn renewals_keep_the_address_release_and_restart_keep_bindings() {
    if !lab::have_commands(module_path!(), &["dhclient"]) {
        return;
    }
    let Some(mut lab) = Lab::new("dhcp_renew_restart") else {
        return;
    };
    lab.add_host("srv", &["192.168.77.1/24"]);
    lab.add_host("cl", &[]);
    // Renew after 2 s, rebind after 4 s (RFC 2131 §4.4.5), so the test
    // stays short; dhclient honours options 58/59.
    let cfg = format!("{BASE}dhcp-option = option:T1,2\ndhcp-option = option:T2,4\n");
    let (srv, dir) = start_server(&lab, lab.host("srv"), &cfg);
    let (script, rec) = dhclient_script(&lab, "cl");
    let lf = lab.dir().join("cl.leases");
    let pf = lab.dir().join("cl.pid");
    let cf = lab.dir().join("cl.conf");
    std::fs::write(
        &cf,
        "send host-name \"beta\";\nrequest subnet-mask, broadcast-address, routers, domain-name, domain-name-servers;\n",
    )
    .unwrap();
    let dh = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["dhclient".into()];
        v.extend(extra.iter().map(|s| s.to_string()));
        for s in [
            "-cf",
            cf.to_str().unwrap(),
            "-sf",
            script.to_str().unwrap(),
            "-lf",
            lf.to_str().unwrap(),
            "-pf",
            pf.to_str().unwrap(),
            "eth0",
        ] {
            v.push(s.to_string());
        }
        v
    };
    let argv = dh(&["-d", "-v"]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let client = lab.host("cl").spawn(&argv);
    let r = wait_file(&rec, "BOUND", Duration::from_secs(30));
    let ip = field(&r, "BOUND", "ip");
    assert!(ip.starts_with("192.168.77."), "{r}");
    let mac = lab.host("cl").mac().to_string();
    // Two renewals (RENEWING, unicast: RFC 2131 §4.3.2), ACKed, same address.
    let ok = lab::wait_until(Duration::from_secs(30), || {
        read(&rec).matches("RENEW ").count() >= 2
    });
    assert!(
        ok,
        "no renewals:\n{}\n{}\n{}",
        read(&rec),
        srv.logs(),
        client.logs()
    );
    for l in read(&rec).lines().filter(|l| l.starts_with("RENEW ")) {
        assert!(
            l.contains(&format!("ip={ip} ")),
            "renewed to another address: {l}"
        );
    }
    assert!(
        srv.logs()
            .matches(&format!("msg=ack mac={mac} ip={ip}"))
            .count()
            >= 3,
        "{}",
        srv.logs()
    );

    // Restart the server: the binding survives, and the client's next
    // renewal is ACKed with the same address.
    srv.signal(lab::SIGTERM).unwrap();
    assert!(
        srv.wait_exit(Duration::from_secs(5))
            .is_some_and(|s| s.success())
    );
    let snap = read(&dir.join("state/dhcp.leases"));
    assert!(
        snap.contains(&format!(" {mac} {ip} beta ")),
        "snapshot after shutdown:\n{snap}"
    );
    let conf = dir.join("hamasq.conf");
    let srv2 = lab
        .host("srv")
        .spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
    srv2.wait_for_log("daemon.ready", Duration::from_secs(10));
    assert!(srv2.logs().contains(" leases=1 "), "{}", srv2.logs());
    let ok = lab::wait_until(Duration::from_secs(30), || {
        srv2.logs().contains(&format!("msg=ack mac={mac} ip={ip}"))
    });
    assert!(
        ok,
        "no renewal after restart:\n{}\n{}",
        srv2.logs(),
        read(&rec)
    );

    // Release (dhclient -r, RFC 2131 §4.3.4): the binding is kept with an
    // expiry of "now", for affinity.
    drop(client);
    let argv = dh(&["-r", "-v"]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    lab.host("cl").run_timeout(&argv, Duration::from_secs(20));
    let ok = lab::wait_until(Duration::from_secs(10), || {
        srv2.logs().contains("dhcp.stored msg=release")
    });
    assert!(ok, "{}", srv2.logs());
    srv2.signal(lab::SIGTERM).unwrap();
    srv2.wait_exit(Duration::from_secs(5));
    let snap = read(&dir.join("state/dhcp.leases"));
    let line = snap
        .lines()
        .find(|l| l.contains(&format!(" {ip} ")))
        .unwrap_or_else(|| panic!("binding lost:\n{snap}"));
    let expiry: u64 = line.split(' ').next().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        expiry <= now && expiry + 60 > now,
        "released lease expiry {expiry} vs now {now}"
    );
}

/// A shrunk range with `dhcp-authoritative`: the renewal of a lease now
/// outside every range is NAKed (RFC 2131 §4.3.2: the address is not
/// correct for the client's network), so the client starts over and gets
/// an address in the new range, as with dnsmasq.
#[test]
fn an_authoritative_server_naks_a_renewal_outside_the_shrunk_range() {
    let Some(lab) = lan_lab("dhcp_shrink", &["dhclient"], &["cl"]) else {
        return;
    };
    let cfg = "interface = eth0\n\
        dhcp-range = 192.168.77.100,192.168.77.149,12h\n\
        dhcp-authoritative = true\n\
        dhcp-option = option:T1,2\n\
        dhcp-option = option:T2,4\n";
    let (srv, dir) = start_server(&lab, lab.host("srv"), cfg);
    let (script, rec) = dhclient_script(&lab, "cl");
    let client = dhclient_daemon(&lab, "cl", &script);
    let r = wait_file(&rec, "BOUND", Duration::from_secs(30));
    let old = field(&r, "BOUND", "ip");
    assert!(old.starts_with("192.168.77.1"), "{r}");
    let conf = dir.join("hamasq.conf");
    std::fs::write(
        &conf,
        read(&conf).replace(
            "192.168.77.100,192.168.77.149",
            "192.168.77.150,192.168.77.199",
        ),
    )
    .unwrap();
    srv.signal(lab::SIGHUP).unwrap();
    srv.wait_for_log("dhcp.reconfigured", Duration::from_secs(10));
    let mac = lab.host("cl").mac().to_string();
    let ok = lab::wait_until(Duration::from_secs(40), || {
        read(&rec)
            .lines()
            .filter(|l| l.starts_with("BOUND"))
            .count()
            >= 2
    });
    assert!(ok, "{}\n{}\n{}", read(&rec), srv.logs(), client.logs());
    let new: std::net::Ipv4Addr = field(&read(&rec), "BOUND", "ip").parse().unwrap();
    assert!(
        (150..=199).contains(&new.octets()[3]),
        "{new} is outside the new range\n{}",
        read(&rec)
    );
    assert!(
        srv.logs()
            .contains(&format!("dhcp.nak iface=eth0 ip={old} mac={mac}"))
            || srv
                .logs()
                .contains(&format!("dhcp.nak iface=eth0 mac={mac}")),
        "{}",
        srv.logs()
    );
}

#[test]
fn a_relayed_client_is_served_through_dhcrelay_with_option_82_echoed() {
    if !lab::have_commands(module_path!(), &["udhcpc", "dhcrelay"]) {
        return;
    }
    let Some(mut lab) = Lab::new("dhcp_relay") else {
        return;
    };
    // One L2 segment: the server serves no local range, so it ignores the
    // client's direct broadcast and answers only the relayed copy, whose
    // giaddr selects the relayed subnet 10.9.0.0/24.
    lab.add_host("srv", &["10.1.0.1/24"]);
    lab.add_host("rly", &["10.9.0.1/24", "10.1.0.2/24"]);
    lab.add_host("cl", &[]);
    lab.host("srv")
        .run_ok(&["ip", "route", "add", "10.9.0.0/24", "via", "10.1.0.2"]);
    let cfg = "interface = eth0\n\
        dhcp-range = 10.9.0.50,10.9.0.60,255.255.255.0,1h\n\
        dhcp-option = option:router,10.9.0.1\n\
        log-dhcp = true\n";
    let (srv, _dir) = start_server(&lab, lab.host("srv"), cfg);
    let relay = lab
        .host("rly")
        .spawn(&["dhcrelay", "-d", "-4", "-a", "-i", "eth0", "10.1.0.1"]);
    relay.wait_for_log("Sending on", Duration::from_secs(10));
    let (script, rec) = udhcpc_script(&lab, "cl");
    let out = lab.host("cl").run_timeout(
        &lab::udhcpc_argv(&script, "6", "2", &[]),
        Duration::from_secs(40),
    );
    let r = read(&rec);
    assert!(
        out.status.success(),
        "udhcpc failed\n{r}\nserver:\n{}\nrelay:\n{}",
        srv.logs(),
        relay.logs()
    );
    let ip = field(&r, "bound", "ip");
    assert!(
        ip.starts_with("10.9.0.5") || ip == "10.9.0.60",
        "relayed client got {ip:?}"
    );
    assert_eq!(field(&r, "bound", "router"), "10.9.0.1");
    assert_eq!(field(&r, "bound", "mask"), "24");
    // dhcrelay -a drops replies whose option 82 does not match what it
    // added, so a bound client proves the echo; the server also saw the
    // direct broadcast and stayed silent about it.
    assert!(srv.logs().contains("dhcp.not_for_us"), "{}", srv.logs());
}

#[test]
fn ping_before_offer_skips_addresses_in_use() {
    if !lab::have_commands(module_path!(), &["udhcpc", "ping"]) {
        return;
    }
    let Some(mut lab) = Lab::new("dhcp_ping") else {
        return;
    };
    lab.add_host("srv", &["192.168.77.1/24"]);
    // Two hosts squat on both pool addresses without a lease.
    lab.add_host("sq1", &["192.168.77.100/24"]);
    lab.add_host("sq2", &["192.168.77.101/24"]);
    lab.add_host("cl", &[]);
    let cfg = "interface = eth0\ndhcp-range = 192.168.77.100,192.168.77.101,1h\ndhcp-ping = true\nlog-dhcp = true\n";
    let (srv, dir) = start_server(&lab, lab.host("srv"), cfg);
    let (script, rec) = udhcpc_script(&lab, "cl");
    let udhcpc = |tries: &str| {
        lab.host("cl").run_timeout(
            &lab::udhcpc_argv(&script, tries, "1", &[]),
            Duration::from_secs(30),
        )
    };
    // Both addresses answer the probe: no OFFER at all, never a duplicate.
    let out = udhcpc("2");
    assert!(
        !out.status.success(),
        "a client got an address that is in use:\n{}",
        read(&rec)
    );
    let log = srv.logs();
    for ip in ["192.168.77.100", "192.168.77.101"] {
        assert!(
            log.contains(&format!("dhcp.address_in_use ip={ip} ")),
            "{ip} not detected:\n{log}"
        );
        assert!(
            !log.contains(&format!("msg=offer mac={} ip={ip} ", lab.host("cl").mac())),
            "{ip} was offered:\n{log}"
        );
    }
    // Widen the pool by reload: the client gets the free address, and the
    // quarantined ones stay out of use.
    std::fs::write(
        dir.join("hamasq.conf"),
        std::fs::read_to_string(dir.join("hamasq.conf"))
            .unwrap()
            .replace("192.168.77.101,1h", "192.168.77.102,1h"),
    )
    .unwrap();
    srv.signal(lab::SIGHUP).unwrap();
    srv.wait_for_log("dhcp.reconfigured", Duration::from_secs(10));
    let out = udhcpc("4");
    assert!(
        out.status.success(),
        "no lease after reload:\n{}\n{}",
        read(&rec),
        srv.logs()
    );
    assert_eq!(field(&read(&rec), "bound", "ip"), "192.168.77.102");
}

/// dnsmasq's `domain=`: a migrated `[dns] domain` reaches the clients as
/// their domain name (option 15) with no `dhcp-option` for it, and a
/// per-range `dhcp-option` for 15 wins for that range's clients.
#[test]
fn the_dns_domain_reaches_dhcp_clients_unless_a_dhcp_option_overrides_it() {
    let Some(lab) = lan_lab("dhcp_dns_domain", &["udhcpc"], &["ua", "ub"]) else {
        return;
    };
    let cfg = "interface = eth0\n\
        dhcp-range = 192.168.77.100,192.168.77.149,12h\n\
        dhcp-host = 02:00:00:00:00:0b,192.168.77.20,set:office\n\
        dhcp-option = tag:office,option:domain-name,office.example\n\
        \n[dns]\nno-resolv = true\ndomain = home.example\n";
    let (_srv, _dir) = start_server(&lab, lab.host("srv"), cfg);
    lab.host("ub")
        .run(&["ip", "link", "set", "eth0", "address", "02:00:00:00:00:0b"]);
    for (host, want) in [("ua", "home.example"), ("ub", "office.example")] {
        let (script, rec) = udhcpc_script(&lab, host);
        let out = udhcpc_once(&lab, host, &script, &[]);
        let r = read(&rec);
        assert!(out.status.success(), "{host}: udhcpc failed\n{r}");
        assert_eq!(field(&r, "bound", "domain"), want, "{host}\n{r}");
    }
}

/// A second DHCP server on the same host refuses to start (exit 1, naming
/// the port and the interface), as dnsmasq does; the first keeps serving.
#[test]
fn a_second_server_on_port_67_refuses_to_start() {
    let Some(lab) = lan_lab("dhcp_second_server", &["udhcpc"], &["ua"]) else {
        return;
    };
    let (srv, dir) = start_server(&lab, lab.host("srv"), BASE);
    let conf2 = write_conf(&dir, "second", BASE);
    let out = lab.host("srv").run_timeout(
        &[BIN, "-f", "-c", conf2.to_str().unwrap()],
        Duration::from_secs(20),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("port 67 (interface eth0)") && err.contains("another DHCP server"),
        "{err}"
    );
    // The first server still answers.
    let (script, rec) = udhcpc_script(&lab, "ua");
    let out = udhcpc_once(&lab, "ua", &script, &[]);
    assert!(out.status.success(), "{}\n{}", read(&rec), srv.logs());
    assert!(field(&read(&rec), "bound", "ip").starts_with("192.168.77.1"));
}

/// dnsmasq's DHCPDISCOVER(eth0) .. DHCPACK(eth0) lines: one info line per
/// message, the ACK with address, MAC and name; none with `quiet-dhcp`.
#[test]
fn dhcp_messages_are_logged_at_info_unless_quiet_dhcp() {
    for quiet in [false, true] {
        let Some(lab) = lan_lab(
            if quiet { "dhcp_quiet" } else { "dhcp_loud" },
            &["udhcpc"],
            &["ua"],
        ) else {
            return;
        };
        let cfg = format!(
            "interface = eth0\ndhcp-range = 192.168.77.100,192.168.77.149,12h\nquiet-dhcp = {quiet}\n"
        );
        let (srv, _dir) = start_server(&lab, lab.host("srv"), &cfg);
        let (script, rec) = udhcpc_script(&lab, "ua");
        let out = udhcpc_once(&lab, "ua", &script, &["-x", "hostname:alpha"]);
        assert!(out.status.success(), "{}\n{}", read(&rec), srv.logs());
        let ip = field(&read(&rec), "bound", "ip");
        let mac = String::from_utf8_lossy(
            &lab.host("ua")
                .run(&["cat", "/sys/class/net/eth0/address"])
                .stdout,
        )
        .trim()
        .to_string();
        let logs = srv.logs();
        let wanted = [
            format!(" info dhcp.discover iface=eth0 mac={mac}"),
            format!(" info dhcp.offer iface=eth0 ip={ip} mac={mac}"),
            format!(" info dhcp.request iface=eth0 ip={ip} mac={mac}"),
            format!(" info dhcp.ack iface=eth0 ip={ip} mac={mac} name=\"alpha\""),
        ];
        for w in &wanted {
            assert_eq!(
                logs.contains(w.as_str()),
                !quiet,
                "quiet={quiet} {w:?}\n{logs}"
            );
        }
        // The lines are written even when the ACK waits for the disk.
        if !quiet {
            assert_eq!(logs.matches(" info dhcp.ack ").count(), 1, "{logs}");
        }
    }
}

/// `hamasq leases --delete IP` (dnsmasq users' DBus/ubus DeleteLease): the
/// running daemon drops the lease, `hamasq leases` no longer lists it, the
/// store no longer holds it after a restart, and a second delete fails.
#[test]
fn leases_delete_drops_a_lease_end_to_end() {
    let Some(lab) = lan_lab("dhcp_delete", &["udhcpc"], &["ua", "ub"]) else {
        return;
    };
    let (srv, dir) = start_server(&lab, lab.host("srv"), BASE);
    let mut ips = Vec::new();
    for h in ["ua", "ub"] {
        let (script, rec) = udhcpc_script(&lab, h);
        assert!(udhcpc_once(&lab, h, &script, &[]).status.success());
        ips.push(field(&read(&rec), "bound", "ip"));
    }
    let conf = dir.join("hamasq.conf");
    let cli = |args: &[&str]| {
        let mut argv = vec![BIN];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["-c", conf.to_str().unwrap()]);
        lab.host("srv").run_timeout(&argv, Duration::from_secs(20))
    };
    let out = cli(&["leases", "--delete", &ips[0]]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with(&format!("deleted {} ", ips[0])), "{text}");
    let listed = String::from_utf8_lossy(&cli(&["leases"]).stdout).to_string();
    assert!(!listed.contains(&format!(" {} ", ips[0])), "{listed}");
    assert!(listed.contains(&format!(" {} ", ips[1])), "{listed}");
    // Deleting it again: nothing there, exit 1 and why.
    let out = cli(&["leases", "--delete", &ips[0]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("no lease for {}", ips[0])),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It reached the store: after a clean stop, the store lists only ub.
    srv.signal(lab::SIGTERM).unwrap();
    assert!(
        srv.wait_exit(Duration::from_secs(5))
            .is_some_and(|s| s.success())
    );
    let stored = String::from_utf8_lossy(&cli(&["leases"]).stdout).to_string();
    assert!(!stored.contains(&format!(" {} ", ips[0])), "{stored}");
    assert!(stored.contains(&format!(" {} ", ips[1])), "{stored}");
    assert!(
        srv.logs()
            .contains(&format!("dhcp.lease_deleted ip={} ", ips[0]))
    );
}

/// A lab with `srv` at 192.168.77.1/24 and `clients` without addresses;
/// `None` (the test returns) without the `need`ed commands or root.
fn lan_lab(name: &str, need: &[&str], clients: &[&str]) -> Option<Lab> {
    if !lab::have_commands(module_path!(), need) {
        return None;
    }
    let mut lab = Lab::new(name)?;
    lab.add_host("srv", &["192.168.77.1/24"]);
    for c in clients {
        lab.add_host(c, &[]);
    }
    Some(lab)
}

/// [`lab::udhcpc_argv`] with 5 tries 2 s apart.
fn udhcpc_argv<'a>(script: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    lab::udhcpc_argv(script, "5", "2", extra)
}

/// Runs [`udhcpc_argv`] on `host`, for at most 30 s.
fn udhcpc_once(lab: &Lab, host: &str, script: &Path, extra: &[&str]) -> std::process::Output {
    lab.host(host)
        .run_timeout(&udhcpc_argv(script, extra), Duration::from_secs(30))
}

/// `dhcp-script` with dnsmasq's contract (packaging issue, item 7):
/// `add|old|del MAC IP [HOSTNAME]` and the DNSMASQ_* environment, runs
/// never overlap, `old` for every lease at start-up, `del` on release,
/// a client-chosen name only ever as data, and no capabilities.
#[test]
fn dhcp_script_gets_dnsmasqs_arguments_and_environment() {
    if !lab::have_commands(module_path!(), &["udhcpc"]) {
        return;
    }
    let Some(mut lab) = Lab::new("dhcp_script") else {
        return;
    };
    lab.add_host("srv", &["192.168.77.1/24"]);
    for c in ["c1", "c2", "c3", "c4"] {
        lab.add_host(c, &[]);
    }
    let rec = lab.dir().join("hook.rec");
    let lock = lab.dir().join("hook.lock");
    let pwned = lab.dir().join("pwned");
    let hook = lab.dir().join("hook.sh");
    // Records argv and environment; a second run starting while one is in
    // progress finds the lock taken and records OVERLAP.
    lab::write_script(
        &hook,
        &format!(
            "#!/bin/sh\n\
             mkdir {lock} 2>/dev/null || echo OVERLAP >> {rec}\n\
             cap=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)\n\
             echo \"$*|exp=$DNSMASQ_LEASE_EXPIRES|rem=$DNSMASQ_TIME_REMAINING|dom=$DNSMASQ_DOMAIN|sup=$DNSMASQ_SUPPLIED_HOSTNAME|if=$DNSMASQ_INTERFACE|opts=$DNSMASQ_REQUESTED_OPTIONS|missing=$DNSMASQ_DATA_MISSING|cap=$cap|\" >> {rec}\n\
             sleep 0.3\n\
             rmdir {lock}\n",
            lock = lock.display(),
            rec = rec.display()
        ),
    );
    // A script that cannot be run stops the start, naming the key.
    let noexec = lab.dir().join("noexec.sh");
    std::fs::write(&noexec, "#!/bin/sh\n").unwrap();
    let bad = lab.dir().join("bad.conf");
    std::fs::write(
        &bad,
        format!(
            "[general]\npid-file = none\nstate-dir = {}\n\n[dhcp]\n{BASE}dhcp-script = {}\n",
            lab.dir().join("bad-state").display(),
            noexec.display()
        ),
    )
    .unwrap();
    let p = lab
        .host("srv")
        .spawn(&[BIN, "-f", "-c", bad.to_str().unwrap()]);
    // Refused as a config error (exit 2) before anything starts, as
    // `--test` refuses it.
    let st = p.wait_exit(Duration::from_secs(10));
    assert_eq!(st.and_then(|s| s.code()), Some(2), "{}", p.logs());
    assert!(
        p.logs().contains(&format!(
            "[dhcp] dhcp-script = \"{}\": not executable",
            noexec.display()
        )),
        "{}",
        p.logs()
    );

    let cfg = format!("{BASE}dhcp-script = {}\n", hook.display());
    let (srv, dir) = start_server(&lab, lab.host("srv"), &cfg);
    let (script, crec) = udhcpc_script(&lab, "cl");

    // A lease with a name: `add MAC IP NAME` and the request's data.
    let out = udhcpc_once(&lab, "c1", &script, &["-x", "hostname:gamma"]);
    assert!(out.status.success(), "{}", srv.logs());
    let ip1 = field(&read(&crec), "bound", "ip");
    let mac1 = lab.host("c1").mac().to_string();
    let r = wait_file(
        &rec,
        &format!("add {mac1} {ip1} gamma|"),
        Duration::from_secs(10),
    );
    let line = r.lines().find(|l| l.starts_with("add ")).unwrap();
    for want in [
        "|dom=lan|",
        "|sup=gamma|",
        "|if=eth0|",
        "|missing=|",
        "|cap=0000000000000000|",
    ] {
        assert!(line.contains(want), "{want} not in {line}");
    }
    let rem: u64 = line
        .split("|rem=")
        .nth(1)
        .unwrap()
        .split('|')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((43_100..=43_200).contains(&rem), "{line}");
    assert!(line.contains("|opts=1,"), "{line}");

    // Three clients at once, one with a hostile name: the runs queue one
    // behind the other, and the name is data, never shell text.
    // No space: udhcpc cuts the value there; ${IFS} is one to a shell.
    let hostile = format!("x;$(touch${{IFS}}{})", pwned.display());
    let hostile_arg = format!("hostname:{hostile}");
    let procs: Vec<_> = ["c2", "c3", "c4"]
        .iter()
        .map(|h| {
            let extra: &[&str] = if *h == "c4" {
                &["-x", hostile_arg.as_str()]
            } else {
                &[]
            };
            lab.host(h).spawn(&udhcpc_argv(&script, extra))
        })
        .collect();
    for p in &procs {
        assert!(
            p.wait_exit(Duration::from_secs(30))
                .is_some_and(|s| s.success()),
            "{}",
            p.logs()
        );
    }
    let ok = lab::wait_until(Duration::from_secs(15), || {
        read(&rec).matches("add ").count() >= 4
    });
    let r = read(&rec);
    assert!(ok, "{r}\n{}", srv.logs());
    assert!(r.contains(&format!("|sup={hostile}|")), "{r}");
    assert!(
        !pwned.exists(),
        "a client's host name was run as shell text"
    );

    // Restart: `old` for every lease, marked DNSMASQ_DATA_MISSING.
    srv.signal(lab::SIGTERM).unwrap();
    assert!(
        srv.wait_exit(Duration::from_secs(5))
            .is_some_and(|s| s.success())
    );
    let conf = dir.join("hamasq.conf");
    let srv2 = lab
        .host("srv")
        .spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
    srv2.wait_for_log("daemon.ready", Duration::from_secs(10));
    let ok = lab::wait_until(Duration::from_secs(15), || {
        read(&rec).matches("|missing=1|").count() >= 4
    });
    let r = read(&rec);
    assert!(ok, "{r}\n{}", srv2.logs());
    assert!(
        r.lines()
            .any(|l| l.starts_with(&format!("old {mac1} {ip1} gamma|"))
                && l.contains("|missing=1|")
                && l.contains("|dom=lan|")),
        "{r}"
    );

    // Kea-style address counts (metrics endpoint; SIGUSR1 logs them too):
    // the four leases loaded, out of the 50 addresses of the range.
    srv2.signal(lab::SIGUSR1).unwrap();
    let pool = "subnet=\"192.168.77.0/24\",pool=\"192.168.77.100-192.168.77.149\",scope=\"own\"";
    srv2.wait_for_log(
        &format!("hamasq_dhcp_addresses_assigned_total{{{pool}}}=4"),
        Duration::from_secs(5),
    );
    srv2.wait_for_log(
        &format!("hamasq_dhcp_addresses_total{{{pool}}}=50"),
        Duration::from_secs(5),
    );

    // SIGHUP: `old` again for every lease (dnsmasq does the same).
    srv2.signal(lab::SIGHUP).unwrap();
    let ok = lab::wait_until(Duration::from_secs(15), || {
        read(&rec).matches("|missing=1|").count() >= 8
    });
    assert!(ok, "{}\n{}", read(&rec), srv2.logs());

    // Release: a udhcpc that stays bound, stopped with -R (release on
    // exit; a one-shot -q client never reaches BOUND, so sends none).
    let bound_before = read(&crec).matches("bound ").count();
    let client = lab.host("c1").spawn(&[
        "udhcpc",
        "-i",
        "eth0",
        "-f",
        "-R",
        "-t",
        "5",
        "-T",
        "2",
        "-s",
        script.to_str().unwrap(),
        "-x",
        "hostname:gamma",
    ]);
    let ok = lab::wait_until(Duration::from_secs(30), || {
        read(&crec).matches("bound ").count() > bound_before
    });
    assert!(ok, "{}", client.logs());
    client.signal(lab::SIGTERM).unwrap();
    client.wait_exit(Duration::from_secs(10));
    let del = format!("del {mac1} {ip1} gamma|");
    let ok = lab::wait_until(Duration::from_secs(10), || read(&rec).contains(&del));
    assert!(
        ok,
        "no {del}:\n{}\nserver:\n{}\nclient:\n{}",
        read(&rec),
        srv2.logs(),
        client.logs()
    );
    let r = read(&rec);
    assert!(!r.contains("OVERLAP"), "two runs at once:\n{r}");
    assert!(
        r.lines()
            .filter(|l| l.contains("|cap="))
            .all(|l| l.contains("|cap=0000000000000000|")),
        "a run had capabilities:\n{r}"
    );
    srv2.signal(lab::SIGTERM).unwrap();
    assert!(
        srv2.wait_exit(Duration::from_secs(5))
            .is_some_and(|s| s.success())
    );
}
