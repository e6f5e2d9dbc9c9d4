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
    let show = |lab: &lab::Lab| {
        String::from_utf8_lossy(
            &lab.host("a")
                .run_ok(&["ip", "-4", "addr", "show", "dev", "eth0"])
                .stdout,
        )
        .to_string()
    };

    // Add (twice: already present is success), and netlink sees it.
    let v = vip;
    let present = in_netns(&ns, move || {
        let idx = nix::net::if_::if_nametoindex("eth0").unwrap();
        let mut nl = Netlink::open().unwrap();
        nl.add(idx, &v, Some("eth0")).unwrap();
        nl.add(idx, &v, Some("eth0")).unwrap();
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
