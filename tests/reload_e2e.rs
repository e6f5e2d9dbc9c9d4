//! A reload must not stall the daemon (issue 17 item 5): the runtime has
//! one thread, so a SIGHUP that parsed and checked a large config on it
//! would hold back VRRP adverts until a Backup took over. The test watches
//! an Active router's adverts from another host while the router reloads a
//! config with 100,000 `dhcp-host` lines (and, with DHCP running, 40,000
//! new ones that the DHCP task then applies), and checks that no gap
//! between two adverts reached the Master_Down_Interval (RFC 9568 §6.1),
//! the point at which a Backup would have taken the VIP.

mod lab;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lab::Lab;

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");
/// Seconds between adverts, and the router's priority.
const ADVERT_INT: f64 = 0.25;
const PRIORITY: u32 = 150;
const HOSTS: usize = 100_000;

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Advert times (seconds since the epoch) from 10.77.0.1, as `tcpdump -tt`
/// printed them.
fn advert_times(capture: &str) -> Vec<f64> {
    capture
        .lines()
        .filter(|l| l.contains("10.77.0.1 > 224.0.0.18") && l.contains("VRRP"))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// `[dhcp]` with `n` reservations (host names; seed makes another set).
fn dhcp_section(n: usize, seed: usize) -> String {
    let mut s = String::from(
        "\n[dhcp]\ninterface = eth0\ndhcp-range = 10.77.0.100,10.77.0.200,255.255.255.0\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "dhcp-host = 02:{seed:02x}:00:{:02x}:{:02x}:{:02x},h{seed}x{i}\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255
        ));
    }
    s
}

#[test]
fn adverts_continue_while_a_huge_config_reloads() {
    reload_under_watch("reload_huge", false, HOSTS);
}

/// The same with [dhcp] running: 40,000 new reservations (issue 17's
/// figure) reach the DHCP task, which applies them on the loop.
#[test]
fn adverts_continue_while_a_running_dhcp_server_takes_a_huge_config() {
    reload_under_watch("reload_huge_dhcp", true, 40_000);
}

fn reload_under_watch(name: &str, dhcp_from_start: bool, hosts: usize) {
    let Some(mut lab) = Lab::new(name) else {
        return;
    };
    lab.add_host("a", &["10.77.0.1/24"]);
    lab.add_host("x", &["10.77.0.66/24"]);
    let dir = lab.dir().join("hq-a");
    std::fs::create_dir_all(&dir).unwrap();
    let general = format!(
        "[general]\npid-file = none\nstate-dir = {}\n\n\
         [vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\npriority = {PRIORITY}\n\
         advert-int = {ADVERT_INT}\nvirtual-ipaddress = 10.77.0.254/24\ngarp-master-delay = 0\n",
        dir.join("state").display()
    );
    let conf: PathBuf = dir.join("hamasq.conf");
    let first = if dhcp_from_start {
        format!("{general}{}", dhcp_section(hosts, 1))
    } else {
        general.clone()
    };
    std::fs::write(&conf, &first).unwrap();

    let cap = lab
        .host("x")
        .spawn(&["tcpdump", "-tt", "-l", "-n", "-i", "eth0", "ip proto 112"]);
    cap.wait_for_log("listening on", Duration::from_secs(10));
    let a = lab
        .host("a")
        .spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
    a.wait_for_log("role=active", Duration::from_secs(60));

    // A [dhcp] section of `hosts` reservations (another set when DHCP
    // runs already): the reload reads, checks and resolves all of it, and
    // a running DHCP server takes the new reservations.
    std::fs::write(&conf, format!("{general}{}", dhcp_section(hosts, 2))).unwrap();

    std::thread::sleep(Duration::from_secs(2));
    let from = now_unix() - 1.0;
    let t0 = Instant::now();
    a.signal(lab::SIGHUP).unwrap();
    a.wait_for_log("config.reloaded", Duration::from_secs(120));
    let reload_took = t0.elapsed();
    // The tasks apply the new config after `config.reloaded`: watch on.
    std::thread::sleep(Duration::from_secs(3));
    let to = now_unix();
    cap.kill();

    let times: Vec<f64> = advert_times(&cap.logs())
        .into_iter()
        .filter(|t| (from..=to).contains(t))
        .collect();
    let gap = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(0.0_f64, f64::max);
    // RFC 9568 §6.1: Master_Down_Interval = 3 * Advertisement_Interval +
    // Skew_Time, Skew_Time = ((256 - priority) * interval) / 256.
    let master_down = 3.0 * ADVERT_INT + (256 - PRIORITY) as f64 * ADVERT_INT / 256.0;
    eprintln!(
        "reload of {hosts} dhcp-host lines took {reload_took:?}; {} adverts, largest gap {gap:.3} s \
         (advert interval {ADVERT_INT} s, Master_Down_Interval {master_down:.3} s)",
        times.len()
    );
    assert!(
        times.len() >= 4,
        "too few adverts captured:\n{}",
        cap.logs()
    );
    assert!(
        gap < master_down,
        "the reload stalled the adverts for {gap:.3} s, long enough for a Backup to take over \
         (Master_Down_Interval {master_down:.3} s); the reload took {reload_took:?}"
    );
    assert!(a.is_running(), "the daemon died:\n{}", a.logs());
}
