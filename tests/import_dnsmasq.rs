//! `hamasq import-dnsmasq`: an OpenWrt-style dnsmasq.conf becomes a hamasq
//! config that `hamasq --test` accepts on a box with the named interface
//! (a lab namespace with 192.168.1.1/24 on eth0), and every line it could
//! not convert is listed with a reason.

mod lab;

use std::process::Command;

use lab::Lab;

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");

/// Stock OpenWrt 23.05 output (/var/etc/dnsmasq.conf.cfg01411c) for a LAN
/// on eth0, plus lines people add by hand.
const OPENWRT: &str = "\
# auto-generated config file from /etc/config/dhcp
conf-file=/etc/dnsmasq.conf
dhcp-authoritative
domain-needed
no-negcache
localise-queries
read-ethers
enable-ubus=dnsmasq
expand-hosts
bind-dynamic
local-service
edns-packet-max=1232
domain=lan
server=/lan/
dhcp-leasefile=/tmp/dhcp.leases
resolv-file=/tmp/resolv.conf.d/resolv.conf.auto
stop-dns-rebind
rebind-localhost-ok
dhcp-broadcast=tag:needs-broadcast
addn-hosts=/tmp/hosts
conf-dir=/tmp/dnsmasq.d
group=dnsmasq
dhcp-ignore-names=tag:dhcp_bogus_hostname
bogus-priv
dhcp-range=set:lan,192.168.1.100,192.168.1.249,255.255.255.0,12h
no-dhcp-interface=eth1
interface=eth0
dhcp-host=00:11:22:33:44:55,192.168.1.10,printer,infinite
dhcp-option=option:ntp-server,192.168.1.1
address=/ads.example/0.0.0.0
server=9.9.9.9
cache-size=1000
enable-ra
";

#[test]
fn an_openwrt_dnsmasq_conf_converts_to_a_config_that_passes_test() {
    let Some(mut lab) = Lab::new("import_openwrt") else {
        return;
    };
    lab.add_host("r", &["192.168.1.1/24"]);
    let dir = lab.dir().to_path_buf();
    let src = dir.join("dnsmasq.conf");
    std::fs::write(&src, OPENWRT).unwrap();
    let out = Command::new(BIN)
        .args(["import-dnsmasq", src.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let ini = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    // Every unconverted line is named on stderr with its line and reason.
    for (line, key) in [
        (2, "conf-file"),
        (5, "no-negcache"),
        (10, "bind-dynamic"),
        (22, "group"),
        (26, "no-dhcp-interface"),
        (33, "enable-ra"),
    ] {
        assert!(
            stderr.contains(&format!("dnsmasq.conf:{line}: not converted: {key}")),
            "line {line} ({key}) not listed:\n{stderr}"
        );
    }
    let conf = dir.join("hamasq.conf");
    let state = dir.join("state");
    std::fs::write(
        &conf,
        format!(
            "{ini}\n[general]\npid-file = none\nstate-dir = {}\n",
            state.display()
        ),
    )
    .unwrap();
    let r = lab.host("r");
    let t = r.run(&[BIN, "--test", "-c", conf.to_str().unwrap()]);
    assert!(
        t.status.success(),
        "--test failed:\n{}\n{}\n--- config ---\n{}",
        String::from_utf8_lossy(&t.stdout),
        String::from_utf8_lossy(&t.stderr),
        std::fs::read_to_string(&conf).unwrap()
    );
    assert_eq!(String::from_utf8_lossy(&t.stdout).trim(), "config OK");
}

#[test]
fn import_of_a_missing_file_exits_2() {
    let out = Command::new(BIN)
        .args(["import-dnsmasq", "/nonexistent/dnsmasq.conf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
