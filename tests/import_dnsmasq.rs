//! `hamasq import-dnsmasq`: an OpenWrt-style dnsmasq.conf becomes a hamasq
//! config that `hamasq --test` accepts on a box with the named interface
//! (a lab namespace with 192.168.1.1/24 on eth0), and every line it could
//! not convert is listed with a reason.

mod lab;

use std::process::Command;

use lab::Lab;

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");

/// Stock OpenWrt 23.05 output (/var/etc/dnsmasq.conf.cfg01411c) plus lines
/// people add by hand; the same file the unit tests of src/import.rs use.
const OPENWRT: &str = include_str!("data/openwrt-dnsmasq.conf");

#[test]
fn an_openwrt_dnsmasq_conf_converts_to_a_config_that_passes_test() {
    let Some(mut lab) = Lab::new("import_openwrt") else {
        return;
    };
    lab.add_host("r", &["192.168.1.1/24"]);
    let dir = lab.dir().to_path_buf();
    let src = dir.join("dnsmasq.conf");
    // The lab box's LAN is eth0; line numbers stay the same.
    std::fs::write(&src, OPENWRT.replace("interface=br-lan", "interface=eth0")).unwrap();
    let out = Command::new(BIN)
        .args(["import-dnsmasq", src.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // No `dnsmasq` user on the test machine: drop that line of the result
    // (resolving `user` checks that the user exists).
    // Likewise `--test` checks that hook scripts exist and are executable:
    // OpenWrt's dhcp-script gets an executable stand-in here.
    let hook = dir.join("dhcp-script.sh");
    std::fs::write(&hook, "#!/bin/sh\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let ini = String::from_utf8(out.stdout)
        .unwrap()
        .replace("user = dnsmasq\n", "")
        .replace("/usr/lib/dnsmasq/dhcp-script.sh", hook.to_str().unwrap());
    let stderr = String::from_utf8(out.stderr).unwrap();
    // Every unconverted line is named on stderr with its line and reason.
    for (line, key) in [
        (2, "conf-file"),
        (5, "no-negcache"),
        (10, "bind-dynamic"),
        (23, "group"),
        (27, "no-dhcp-interface"),
        (35, "enable-ra"),
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
