//! The VIP through netlink and gratuitous ARP, inside a lab namespace.

mod lab;

use std::net::Ipv4Addr;
use std::time::Duration;

use hamasq::vrrp::vip::{Garp, Netlink, Vip, interface_mac};

fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = std::fs::File::open(path).unwrap();
        nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// `ip -4 addr show dev eth0` on host `a`.
fn show(lab: &lab::Lab) -> String {
    String::from_utf8_lossy(
        &lab.host("a")
            .run_ok(&["ip", "-4", "addr", "show", "dev", "eth0"])
            .stdout,
    )
    .to_string()
}

#[test]
fn vip_is_added_announced_and_removed() {
    let Some(mut lab) = lab::Lab::new("vrrp_vip") else {
        return;
    };
    lab.add_host("a", &["10.77.0.1/24"]);
    lab.add_host("b", &["10.77.0.2/24"]);
    let ns = lab.host("a").ns().to_string();
    let vip = Vip {
        addr: Ipv4Addr::new(10, 77, 0, 254),
        prefix_len: 24,
    };

    // Add (twice: already present is success), and netlink sees it.
    let v = vip;
    let present = in_netns(&ns, move || {
        let idx = nix::net::if_::if_nametoindex("eth0").unwrap();
        let mut nl = Netlink::open().unwrap();
        nl.add(idx, &v, Some("eth0"), None).unwrap();
        nl.add(idx, &v, Some("eth0"), None).unwrap();
        nl.has(idx, v.addr).unwrap()
    });
    assert!(present);
    assert!(show(&lab).contains("inet 10.77.0.254/24"), "{}", show(&lab));

    // A gratuitous ARP for the VIP reaches the other host.
    let cap = lab
        .host("b")
        .spawn(&["tcpdump", "-l", "-n", "-e", "-i", "eth0", "-c", "1", "arp"]);
    cap.wait_for_log("listening on", Duration::from_secs(10));
    let v = vip;
    in_netns(&ns, move || {
        let idx = nix::net::if_::if_nametoindex("eth0").unwrap();
        let g = Garp::open(idx, interface_mac("eth0").unwrap()).unwrap();
        for _ in 0..3 {
            g.send(v.addr).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let log = cap.wait_for_log("10.77.0.254", Duration::from_secs(10));
    assert!(
        log.contains(lab.host("a").mac()),
        "GARP not from a's MAC:\n{log}"
    );
    assert!(log.contains("ff:ff:ff:ff:ff:ff"), "{log}");

    // Remove (twice: already absent is success).
    let v = vip;
    let present = in_netns(&ns, move || {
        let idx = nix::net::if_::if_nametoindex("eth0").unwrap();
        let mut nl = Netlink::open().unwrap();
        nl.remove(idx, &v).unwrap();
        nl.remove(idx, &v).unwrap();
        nl.has(idx, v.addr).unwrap()
    });
    assert!(!present);
    assert!(!show(&lab).contains("10.77.0.254"), "{}", show(&lab));
}

#[test]
fn vip_with_a_lifetime_is_refreshed_and_then_removed_by_the_kernel() {
    let Some(mut lab) = lab::Lab::new("vrrp_vip_lft") else {
        return;
    };
    lab.add_host("a", &["10.78.0.1/24"]);
    let ns = lab.host("a").ns().to_string();
    let vip = Vip {
        addr: Ipv4Addr::new(10, 78, 0, 254),
        prefix_len: 24,
    };
    let add = |ns: &str, lifetime: Option<Duration>| {
        let v = vip;
        in_netns(ns, move || {
            let idx = nix::net::if_::if_nametoindex("eth0").unwrap();
            let mut nl = Netlink::open().unwrap();
            nl.add(idx, &v, Some("eth0"), lifetime).unwrap();
        })
    };
    // A permanent VIP left by a crash of a version without lifetimes: the
    // first install with a lifetime replaces it rather than keeping it.
    add(&ns, None);
    assert!(show(&lab).contains("valid_lft forever"), "{}", show(&lab));
    add(&ns, Some(Duration::from_secs(2)));
    let s = show(&lab);
    assert!(s.contains("inet 10.78.0.254/24"), "{s}");
    assert!(
        s.contains("dynamic eth0\n       valid_lft 2sec preferred_lft 2sec"),
        "{s}"
    );
    // Refreshed every 600 ms for 4 s (twice the lifetime): still there.
    for _ in 0..7 {
        std::thread::sleep(Duration::from_millis(600));
        add(&ns, Some(Duration::from_secs(2)));
    }
    assert!(show(&lab).contains("10.78.0.254"), "{}", show(&lab));
    // No more refreshes (the process froze): the kernel removes it on its
    // own. Bounded wait, far above the 2 s lifetime.
    let mut gone = false;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        if !show(&lab).contains("10.78.0.254") {
            gone = true;
            break;
        }
    }
    assert!(gone, "the kernel kept the VIP:\n{}", show(&lab));
    // The box's own address is untouched.
    assert!(show(&lab).contains("10.78.0.1/24"), "{}", show(&lab));
}
