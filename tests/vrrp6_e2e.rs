//! VRRPv3 for IPv6 end to end in the lab (issue 15 item 2, RFC 9568): two
//! hamasq routers each running an IPv4 and an IPv6 instance on one
//! interface (§7.3), failover on SIGKILL with unsolicited Neighbor
//! Advertisements (§6.4.2, RFC 4861 §7.2.6) moving a client to the new
//! Active router's MAC; interop with a real keepalived over IPv6 in both
//! directions; and forged IPv6 adverts (wrong hop limit, bad checksum)
//! counted and ignored (§7.1).

mod lab;
mod vrrp_common;

use std::net::{Ipv6Addr, SocketAddrV6};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lab::{Host, Lab};
use vrrp_common::{conf, keepalived, start};

const VIP4: &str = "10.77.0.254";
/// The virtual link-local address (RFC 9568 §5.2.9) and a global VIP.
const VLL: &str = "fe80::1";
const VIP6: &str = "2001:db8:77::1";

/// A v4 and a v6 instance on eth0, both VRID 51 (RFC 9568 §7.3).
fn dual(priority: u8, int: &str, extra: &str) -> String {
    format!(
        "[vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\npriority = {priority}\n\
         advert-int = {int}\nvirtual-ipaddress = {VIP4}/24\ngarp-master-delay = 0\n{extra}\n\
         [vrrp lan6]\ninterface = eth0\nvirtual-router-id = 51\npriority = {priority}\n\
         advert-int = {int}\nvirtual-ipaddress = {VLL}/64\nvirtual-ipaddress = {VIP6}/64\n\
         garp-master-delay = 0\n{extra}"
    )
}

fn v6only(priority: u8, int: &str) -> String {
    format!(
        "[vrrp lan6]\ninterface = eth0\nvirtual-router-id = 51\npriority = {priority}\n\
         advert-int = {int}\nvirtual-ipaddress = {VLL}/64\nvirtual-ipaddress = {VIP6}/64\n\
         garp-master-delay = 0\n"
    )
}

/// IPv6 on for `host` without DAD delays, so its link-local address is
/// usable at once.
fn ipv6_on(host: &Host) {
    host.sysctl("net/ipv6/conf/eth0/accept_dad", "0");
    host.sysctl("net/ipv6/conf/all/accept_dad", "0");
    host.enable_ipv6();
    assert!(
        lab::wait_until(Duration::from_secs(5), || link_local(host).is_some()),
        "{}: no link-local address",
        host.name()
    );
}

/// The host's own link-local address on eth0 (not a VIP).
fn link_local(host: &Host) -> Option<Ipv6Addr> {
    let out = host.run(&[
        "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.split('/').next()?.parse::<Ipv6Addr>().ok())
        .find(|a| a.to_string() != VLL)
}

fn addrs(host: &Host, family: &str) -> String {
    String::from_utf8_lossy(
        &host
            .run(&["ip", family, "-o", "addr", "show", "dev", "eth0"])
            .stdout,
    )
    .into_owned()
}

fn has_v6(host: &Host) -> (bool, bool) {
    let a = addrs(host, "-6");
    (
        a.contains(&format!("inet6 {VLL}/64")),
        a.contains(&format!("inet6 {VIP6}/64")),
    )
}

fn has_v4(host: &Host) -> bool {
    addrs(host, "-4").contains(&format!("inet {VIP4}/24"))
}

/// Waits until `host` holds both IPv6 VIPs (or neither); returns how long.
fn wait_v6(host: &Host, want: bool, t: Duration) -> Duration {
    let t0 = Instant::now();
    assert!(
        lab::wait_until(t, || has_v6(host) == (want, want)),
        "{}: IPv6 VIPs {:?} after {t:?}, wanted both {}\n{}",
        host.name(),
        has_v6(host),
        if want { "present" } else { "absent" },
        addrs(host, "-6")
    );
    t0.elapsed()
}

fn mac(host: &Host) -> String {
    let out = host.run(&["cat", "/sys/class/net/eth0/address"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The client's neighbour entry for the virtual link-local: its MAC.
fn neigh_mac(client: &Host) -> String {
    let out = client.run(&["ip", "-6", "neigh", "show", VLL, "dev", "eth0"]);
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .unwrap_or("")
        .to_string()
}

fn ping6_ok(client: &Host) -> bool {
    client
        .run(&["ping", "-6", "-c", "1", "-W", "1", &format!("{VLL}%eth0")])
        .status
        .success()
}

#[test]
fn a_dual_stack_pair_fails_over_with_neighbor_advertisements() {
    let Some(mut lab) = Lab::new("vrrp6_pair") else {
        return;
    };
    if !lab::have_commands("vrrp6_pair", &["tcpdump", "ping"]) {
        return;
    }
    lab.add_host("a", &["10.77.0.1/24"]);
    lab.add_host("b", &["10.77.0.2/24"]);
    lab.add_host("c", &["10.77.0.9/24"]);
    for h in ["a", "b", "c"] {
        ipv6_on(lab.host(h));
    }
    // The client sees every NA on the link; -vv has tcpdump verify the
    // ICMPv6 checksum ("sum ok") and print the flags, -e the sender MAC.
    let cap = lab.host("c").spawn(&[
        "tcpdump",
        "-l",
        "-n",
        "-e",
        "-vv",
        "-i",
        "eth0",
        "icmp6 and ip6[40] == 136",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let ca = conf(&lab, "a", &dual(150, "0.1", ""));
    let cb = conf(&lab, "b", &dual(100, "0.1", ""));
    let a = start(lab.host("a"), &ca);
    let b = start(lab.host("b"), &cb);
    a.wait_role("lan6", "active", Duration::from_secs(5));
    a.wait_role("lan", "active", Duration::from_secs(5));
    b.wait_role("lan6", "backup", Duration::from_secs(5));
    wait_v6(lab.host("a"), true, Duration::from_secs(2));
    assert!(has_v4(lab.host("a")));
    // The Backup holds neither family's VIPs, and stays Backup.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(has_v6(lab.host("b")), (false, false), "{}", b.logs());
    assert!(!has_v4(lab.host("b")));
    assert!(
        !b.logs().contains("instance=lan6 role=active"),
        "{}",
        b.logs()
    );
    // The adverts are accepted both ways: no receive errors logged.
    assert!(!b.logs().contains("vrrp.rejected"), "{}", b.logs());
    // The client reaches the virtual link-local through a.
    assert!(
        lab::wait_until(Duration::from_secs(5), || ping6_ok(lab.host("c"))),
        "no ping6 to {VLL} via a"
    );
    let (mac_a, mac_b) = (mac(lab.host("a")), mac(lab.host("b")));
    assert_eq!(neigh_mac(lab.host("c")), mac_a);

    // SIGKILL: b takes over both families.
    a.signal(lab::SIGKILL).unwrap();
    wait_v6(lab.host("b"), true, Duration::from_secs(3));
    assert!(lab::wait_until(Duration::from_secs(3), || has_v4(
        lab.host("b")
    )));
    b.wait_role("lan6", "active", Duration::from_secs(3));
    // a's VIPs lapse on their own (vip-lifetime auto: 2 s here).
    wait_v6(lab.host("a"), false, Duration::from_secs(5));
    drop(a);
    // The NAs of b moved the client (Override flag, RFC 4861 §7.2.6) to
    // b's MAC, and the client keeps reaching the virtual link-local.
    assert!(
        lab::wait_until(Duration::from_secs(3), || ping6_ok(lab.host("c"))),
        "no ping6 to {VLL} after the failover"
    );
    assert_eq!(neigh_mac(lab.host("c")), mac_b);
    // One unsolicited NA with Router and Override flags per IPv6 VIP, from
    // b's MAC, checksum verified by tcpdump.
    for tgt in [VLL, VIP6] {
        let want = format!("tgt is {tgt}, Flags [router, override]");
        let log = cap.wait_for_log(&want, Duration::from_secs(3));
        assert!(
            log.lines().any(|l| l.starts_with_ts_then(&mac_b)
                && l.contains(&want)
                && l.contains("sum ok")),
            "no NA from b for {tgt}:\n{log}"
        );
        assert!(
            log.lines()
                .any(|l| l.contains(&want) && l.contains("hlim 255")),
            "NA for {tgt} without hop limit 255:\n{log}"
        );
    }
    drop(b);
    drop(cap);
}

/// `tcpdump -e` lines start with a timestamp and then the source MAC.
trait TsThen {
    fn starts_with_ts_then(&self, mac: &str) -> bool;
}

impl TsThen for &str {
    fn starts_with_ts_then(&self, mac: &str) -> bool {
        self.split_whitespace().nth(1) == Some(mac)
    }
}

fn keepalived_conf6(lab: &Lab, host: &str, priority: u8, state: &str) -> PathBuf {
    let dir = lab.dir().join(format!("ka-{host}"));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("keepalived.conf");
    std::fs::write(
        &p,
        format!(
            "global_defs {{\n  script_user root\n  enable_script_security\n}}\n\
             vrrp_instance lan6 {{\n  state {state}\n  interface eth0\n  virtual_router_id 51\n  priority {priority}\n  advert_int 1\n\
               virtual_ipaddress {{\n    {VLL}/64\n    {VIP6}/64\n  }}\n}}\n"
        ),
    )
    .unwrap();
    p
}

/// Over IPv6, hamasq and keepalived follow each other in both directions:
/// each sees the other's adverts (hamasq counts no receive error), the
/// higher priority holds the VIPs, and a kill moves them.
#[test]
fn keepalived_interop_over_ipv6_both_ways() {
    let Some(mut lab) = Lab::new("vrrp6_keepalived") else {
        return;
    };
    if !lab::have_commands("vrrp6_keepalived", &["keepalived"]) {
        return;
    }
    lab.add_host("h", &["10.77.0.1/24"]);
    lab.add_host("k", &["10.77.0.2/24"]);
    ipv6_on(lab.host("h"));
    ipv6_on(lab.host("k"));
    let ch = conf(&lab, "h", &v6only(150, "1"));

    // hamasq Active, keepalived Backup.
    let ck = keepalived_conf6(&lab, "k", 100, "BACKUP");
    let k = keepalived(lab.host("k"), &ck, "k");
    k.wait_for_log("Entering BACKUP STATE", Duration::from_secs(10));
    let h = start(lab.host("h"), &ch);
    wait_v6(lab.host("h"), true, Duration::from_secs(8));
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        has_v6(lab.host("k")),
        (false, false),
        "keepalived took the VIPs while hamasq was Active:\n{}",
        k.logs()
    );
    assert!(!k.logs().contains("Entering MASTER STATE"), "{}", k.logs());
    // hamasq stops (priority 0): keepalived takes over.
    h.signal(lab::SIGTERM).unwrap();
    wait_v6(lab.host("k"), true, Duration::from_secs(5));
    wait_v6(lab.host("h"), false, Duration::from_secs(2));
    drop(h);
    drop(k);

    // keepalived Active at a higher priority, hamasq Backup.
    let ck2 = keepalived_conf6(&lab, "k", 200, "MASTER");
    let k = keepalived(lab.host("k"), &ck2, "k2");
    wait_v6(lab.host("k"), true, Duration::from_secs(8));
    let h = start(lab.host("h"), &ch);
    h.wait_for_log("instance=lan6 role=backup", Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        has_v6(lab.host("h")),
        (false, false),
        "hamasq took the VIPs from a higher-priority keepalived:\n{}",
        h.logs()
    );
    // hamasq heard keepalived's adverts and refused none of them.
    assert!(!h.logs().contains("vrrp.rejected"), "{}", h.logs());
    assert!(!h.logs().contains("role=active"), "{}", h.logs());
    // keepalived dies: hamasq takes over within Active_Down_Interval.
    k.signal(lab::SIGKILL).unwrap();
    wait_v6(lab.host("h"), true, Duration::from_secs(6));
    drop(h);
    drop(k);
}

/// From inside `host`'s namespace, sends `count` VRRPv3-over-IPv6 adverts
/// for VRID 51 at priority 254 from the host's link-local `src` to
/// `ff02::12` with hop limit `hops`; with `corrupt`, the checksum is
/// wrong.
fn forge6(host: &Host, src: Ipv6Addr, ifindex: u32, hops: u32, corrupt: bool, count: usize) {
    use hamasq::vrrp::packet::Centis;
    use hamasq::vrrp::packet6::{Advert6, MULTICAST_V6, encode};
    let ns = host.ns().to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let s = socket2::Socket::new(
            socket2::Domain::IPV6,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(112)),
        )
        .unwrap();
        s.bind(&SocketAddrV6::new(src, 0, 0, ifindex).into())
            .unwrap();
        s.set_multicast_hops_v6(hops).unwrap();
        s.set_multicast_if_v6(ifindex).unwrap();
        let adv = Advert6 {
            vrid: 51,
            priority: 254,
            interval: Centis::new(10).unwrap(),
            addrs: vec![VLL.parse().unwrap(), VIP6.parse().unwrap()],
        };
        let mut p = encode(&adv, src, MULTICAST_V6);
        if corrupt {
            p[6] ^= 0x55;
        }
        let to = SocketAddrV6::new(MULTICAST_V6, 0, 0, ifindex);
        for _ in 0..count {
            s.send_to(&p, &to.into()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .join()
    .unwrap();
}

fn ifindex(host: &Host) -> u32 {
    let out = host.run(&["cat", "/sys/class/net/eth0/ifindex"]);
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// RFC 9568 §7.1 over IPv6: a priority-254 advert with hop limit 64, or
/// with a bad checksum, is dropped and counted; the Active stays Active.
/// The same advert with hop limit 255 and a good checksum does preempt,
/// so the forger is heard when it is valid.
#[test]
fn forged_ipv6_adverts_are_counted_and_change_nothing() {
    let Some(mut lab) = Lab::new("vrrp6_forged") else {
        return;
    };
    lab.add_host("b", &["10.77.0.2/24"]);
    lab.add_host("x", &["10.77.0.66/24"]);
    ipv6_on(lab.host("b"));
    ipv6_on(lab.host("x"));
    let cb = conf(&lab, "b", &v6only(100, "0.1"));
    let b = start(lab.host("b"), &cb);
    b.wait_role("lan6", "active", Duration::from_secs(5));
    wait_v6(lab.host("b"), true, Duration::from_secs(2));
    let x = lab.host("x");
    let (src, idx) = (link_local(x).unwrap(), ifindex(x));

    forge6(x, src, idx, 64, false, 10);
    b.wait_for_log("reason=ip_ttl_err", Duration::from_secs(3));
    forge6(x, src, idx, 255, true, 10);
    b.wait_for_log("reason=checksum_err", Duration::from_secs(3));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(has_v6(lab.host("b")), (true, true), "{}", b.logs());
    let log = b.logs();
    assert_eq!(
        log.matches("vrrp.state instance=lan6").count(),
        2,
        "b changed role:\n{log}"
    );
    // Each drop is counted under its own statistic.
    b.signal(lab::SIGUSR1).unwrap();
    let log = b.wait_for_log("hamasq_vrrp_checksum_err_total=", Duration::from_secs(3));
    for name in ["ip_ttl_err", "checksum_err"] {
        let n: u64 = log
            .lines()
            .rev()
            .find_map(|l| l.split(&format!("hamasq_vrrp_{name}_total=")).nth(1))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        assert!(n >= 10, "{name} counted {n}:\n{log}");
    }

    // Control: the same advert, valid, makes b step down.
    forge6(x, src, idx, 255, false, 10);
    b.wait_role("lan6", "backup", Duration::from_secs(3));
    wait_v6(lab.host("b"), false, Duration::from_secs(2));
    drop(b);
}
