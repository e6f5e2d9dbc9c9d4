//! No ACK before the lease is on disk (design §5, test checklist §27).
//!
//! A load generator inside the lab plays a DHCP relay for thousands of
//! fake clients (giaddr set, replies come back to its port 67), records
//! every DHCPACK it receives, and the server is killed with SIGKILL in the
//! middle of the load. After each kill the lease store in the server's
//! state directory must hold every acknowledged (MAC, address) pair.
//!
//! SIGKILL keeps what the process already wrote (the page cache survives),
//! so this proves "written before ACK"; that the write is also fdatasync'd
//! before the ACK is proven by the lease store's unit tests (one sync per
//! group commit) and `dhcp::commit`'s virtual-time test (no reply leaves
//! before its write is reported done).
//!
//! With a full state directory (a small tmpfs) the leases whose commit
//! failed are undone in memory: `hamasq leases` and the disk hold exactly
//! the ACKed ones, and service resumes as soon as there is room.

mod lab;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hamasq::dhcp::HwAddr;
use hamasq::dhcp::leases::LeaseStore;
use hamasq::dhcp::wire::Packet;
use hamasq::testkit::dhcp_wire::{finish, head, opt};

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const GIADDR: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);

/// A BOOTREQUEST from a relay: DISCOVER (1) or REQUEST (3).
fn request(
    msg: u8,
    xid: u32,
    mac: [u8; 6],
    requested: Option<Ipv4Addr>,
    server_id: Option<Ipv4Addr>,
) -> Vec<u8> {
    let mut p = head(1, xid, 0, mac);
    p[3] = 1; // hops: one relay
    p[24..28].copy_from_slice(&GIADDR.octets());
    opt(&mut p, 53, &[msg]);
    if let Some(ip) = requested {
        opt(&mut p, 50, &ip.octets());
    }
    if let Some(ip) = server_id {
        opt(&mut p, 54, &ip.octets());
    }
    finish(p)
}

fn mac_of(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [0x02, 0xdd, b[0], b[1], b[2], b[3]]
}

/// The relay's side of the load: drives DORA for clients `first..`
/// until `stop_after` ACKs or `limit`, returning MAC → ACKed address.
/// Runs inside the load namespace (this test process enters it).
fn load(
    sock: &UdpSocket,
    first: u32,
    count: u32,
    acks: &AtomicU32,
    killed: &AtomicBool,
) -> HashMap<[u8; 6], Ipv4Addr> {
    let mut acked = HashMap::new();
    let mut buf = [0u8; 1500];
    let t0 = Instant::now();
    let to = SocketAddrV4::new(SERVER, 67);
    let mut next = first;
    let mut in_flight = 0u32;
    // Bounded: stops once the server is dead and quiet, or after 30 s.
    let mut quiet_after_kill = 0;
    while t0.elapsed() < Duration::from_secs(30)
        && quiet_after_kill < 2
        && (next < first + count || in_flight > 0)
    {
        // Keep up to 64 DISCOVERs in flight.
        while in_flight < 64 && next < first + count {
            let _ = sock.send_to(&request(1, next, mac_of(next), None, None), to);
            next += 1;
            in_flight += 1;
        }
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                let Ok(p) = Packet::decode_any(&buf[..n]) else {
                    continue;
                };
                let mac: [u8; 6] = p.chaddr.as_bytes().try_into().unwrap();
                match p.msg_type_code() {
                    2 => {
                        let _ = sock
                            .send_to(&request(3, p.xid, mac, Some(p.yiaddr), p.server_id()), to);
                    }
                    5 => {
                        acked.insert(mac, p.yiaddr);
                        acks.fetch_add(1, Ordering::Relaxed);
                        in_flight -= 1;
                    }
                    _ => in_flight = in_flight.saturating_sub(1),
                }
            }
            // The server died (or a packet was lost): start new clients.
            Err(_) => {
                in_flight = 0;
                if killed.load(Ordering::Relaxed) {
                    quiet_after_kill += 1;
                }
            }
        }
    }
    acked
}

/// Enters network namespace `ns` for the rest of this thread's life.
fn enter_netns(ns: &str) {
    let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
}

/// The server (10.1.0.1) and, on the same link, a relay (10.1.0.2) for
/// 10.9.0.0/16, routed back through it.
fn relay_lab(name: &str) -> Option<lab::Lab> {
    let mut lab = lab::Lab::new(name)?;
    lab.add_host("srv", &["10.1.0.1/24"]);
    lab.add_host("rly", &["10.9.0.1/16", "10.1.0.2/24"]);
    lab.host("srv")
        .run_ok(&["ip", "route", "add", "10.9.0.0/16", "via", "10.1.0.2"]);
    Some(lab)
}

/// The server's config: the relayed subnet, leases of `lease`, the state
/// in `state`.
fn relay_conf(lab: &lab::Lab, state: &Path, lease: &str) -> std::path::PathBuf {
    let conf = lab.dir().join("hamasq.conf");
    std::fs::write(
        &conf,
        format!(
            "[general]\npid-file = none\nstate-dir = {}\nlog-level = info\n\n[dhcp]\ninterface = eth0\n\
             dhcp-range = 10.9.1.1,10.9.200.254,255.255.0.0,{lease}\ndhcp-lease-max = 100000\n",
            state.display()
        ),
    )
    .unwrap();
    conf
}

/// Runs [`load`] for clients `first..first + count` on a thread inside
/// the relay's namespace `ns`.
fn spawn_relay(
    ns: String,
    first: u32,
    count: u32,
    acks: Arc<AtomicU32>,
    killed: Arc<AtomicBool>,
) -> std::thread::JoinHandle<HashMap<[u8; 6], Ipv4Addr>> {
    std::thread::spawn(move || {
        enter_netns(&ns);
        let sock = UdpSocket::bind("0.0.0.0:67").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        load(&sock, first, count, &acks, &killed)
    })
}

#[test]
fn every_acked_lease_survives_kill_9() {
    let Some(lab) = relay_lab("dhcp_kill9") else {
        return;
    };
    let state = lab.dir().join("state");
    let conf = relay_conf(&lab, &state, "12h");
    let rly_ns = lab.host("rly").ns().to_string();
    let mut all_acked: HashMap<[u8; 6], Ipv4Addr> = HashMap::new();
    let mut first = 0u32;
    // Five kills, each after a different number of ACKs (not a fixed time,
    // so a slow, busy machine changes nothing but the duration).
    for (round, kill_after) in [200u32, 900, 40, 2000, 500].into_iter().enumerate() {
        let srv = lab
            .host("srv")
            .spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
        srv.wait_for_log("daemon.ready", Duration::from_secs(10));
        let acks = Arc::new(AtomicU32::new(0));
        let killed = Arc::new(AtomicBool::new(false));
        let handle = spawn_relay(rly_ns.clone(), first, 20_000, acks.clone(), killed.clone());
        let reached = lab::wait_until(Duration::from_secs(20), || {
            acks.load(Ordering::Relaxed) >= kill_after
        });
        assert!(
            reached,
            "round {round}: only {} ACKs in 20 s\n{}",
            acks.load(Ordering::Relaxed),
            srv.logs()
        );
        srv.signal(lab::SIGKILL).unwrap();
        killed.store(true, Ordering::Relaxed);
        srv.wait_exit(Duration::from_secs(5));
        let acked = handle.join().unwrap();
        assert!(
            !acked.is_empty(),
            "round {round}: no ACK before the kill; the load did not run"
        );
        all_acked.extend(acked.iter().map(|(m, ip)| (*m, *ip)));
        first += 20_000;

        // Read the store exactly as the next start will.
        let (_store, report) = LeaseStore::open(&state, false).unwrap();
        let stored: HashMap<HwAddr, Ipv4Addr> =
            report.leases.iter().map(|l| (l.hw, l.ip)).collect();
        let missing: Vec<_> = all_acked
            .iter()
            .filter(|(m, ip)| stored.get(&HwAddr::ether(**m)) != Some(*ip))
            .take(5)
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} ACKed leases, {} stored; missing e.g. {missing:?}",
            all_acked.len(),
            stored.len()
        );
        eprintln!(
            "round {round}: killed after {kill_after}+ ACKs; {} ACKs this round, all {} stored",
            acked.len(),
            all_acked.len()
        );
    }
    assert!(Path::new(&state).join("dhcp.leases.journal").exists());
}

/// Hardening (issue 17, item 1): the unprivileged `user` owns the state
/// directory, so it can swap the journal for a symbolic link to a file
/// only root may touch. The next start, still as root, must refuse the
/// link with a clear error and leave the target byte for byte as it was,
/// never cutting its "torn tail" nor appending leases to it; once the
/// operator removes the link, the daemon starts and serves.
#[test]
fn a_journal_symlinked_to_a_root_file_is_refused_and_the_file_untouched() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Some(mut lab) = lab::Lab::new("dhcp_symlink") else {
        return;
    };
    if !lab::have_commands("dhcp_symlink", &["udhcpc"]) {
        return;
    }
    lab.add_host("srv", &["10.1.0.1/24"]);
    lab.add_host("cli", &[]);
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();

    // A root-only file: a directory of mode 0700, the file 0600, no newline
    // at the end (what the torn-tail repair would cut).
    let vault = lab.dir().join("vault");
    std::fs::create_dir(&vault).unwrap();
    std::fs::set_permissions(&vault, std::fs::Permissions::from_mode(0o700)).unwrap();
    let victim = vault.join("shadow");
    let content = b"root:$6$secret:19000:0:99999:7:::\nno newline".to_vec();
    std::fs::write(&victim, &content).unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();

    // The state directory as a previous run left it: the user's.
    let state = lab.dir().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o750)).unwrap();
    let journal = state.join("dhcp.leases.journal");
    std::os::unix::fs::symlink(&victim, &journal).unwrap();
    for p in [&state, &journal] {
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            p.as_path(),
            Some(nobody.uid),
            Some(nobody.gid),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }
    // The user must be able to reach its state directory after the drop.
    std::fs::set_permissions(lab.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();

    let conf = lab.dir().join("hamasq.conf");
    std::fs::write(
        &conf,
        format!(
            "[general]\npid-file = none\nstate-dir = {}\nuser = nobody\nlog-level = info\n\n\
             [dhcp]\ninterface = eth0\ndhcp-range = 10.1.0.100,10.1.0.150,255.255.255.0,1h\n",
            state.display()
        ),
    )
    .unwrap();
    let srv = lab
        .host("srv")
        .spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
    let st = srv.wait_exit(Duration::from_secs(10));
    let logs = srv.logs();
    assert_eq!(st.and_then(|s| s.code()), Some(1), "{logs}");
    assert!(
        logs.contains("dhcp.leases.journal") && logs.contains("symbolic link"),
        "the error must name the file and the link:\n{logs}"
    );
    assert_eq!(std::fs::read(&victim).unwrap(), content, "victim changed");
    let m = std::fs::metadata(&victim).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o600, 0));

    // The operator removes the link: the daemon starts and serves.
    std::fs::remove_file(&journal).unwrap();
    let srv = lab
        .host("srv")
        .spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
    srv.wait_for_log("daemon.ready", Duration::from_secs(10));
    // A recording script: it touches nothing of the machine's own.
    let script = lab.dir().join("udhcpc.sh");
    lab::write_script(&script, "#!/bin/sh\necho \"$1 $ip\" >> \"$0.log\"\n");
    let out = lab.host("cli").run_timeout(
        &lab::udhcpc_argv(&script, "6", "2", &[]),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "udhcpc: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        srv.logs()
    );
    assert!(
        std::fs::symlink_metadata(&journal)
            .unwrap()
            .file_type()
            .is_file()
    );
    assert_eq!(std::fs::read(&victim).unwrap(), content);
    srv.signal(lab::SIGTERM).unwrap();
    srv.wait_exit(Duration::from_secs(5));
}

/// A tmpfs mounted for one test, unmounted when dropped (also when the
/// test panics), before the lab removes its directory.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let opts = format!("size={size},mode=0700");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs", at.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "mount tmpfs: {out:?}");
        Tmpfs(at.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let opts = format!("remount,size={size}");
        let out = std::process::Command::new("mount")
            .args(["-o", &opts, self.0.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "remount tmpfs: {out:?}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l", self.0.to_str().unwrap()])
            .status();
    }
}

/// `hamasq leases` of the running daemon: MAC → address.
fn listed(conf: &Path) -> HashMap<[u8; 6], Ipv4Addr> {
    let out = std::process::Command::new(BIN)
        .args(["leases", "-c", conf.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "hamasq leases: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let mac: Vec<u8> = f[1]
                .split(':')
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect();
            (mac.try_into().unwrap(), f[2].parse().unwrap())
        })
        .collect()
}

/// Issue 12 (design §5, "memory follows the disk"): the state directory
/// is a small tmpfs, and relayed clients arrive until it is full. Every
/// ACKed lease is stored and no other is listed by `hamasq leases` (the
/// leases whose commit failed were undone, not kept as phantoms that
/// fill the pool); the fault is logged once per run of failures, not once
/// per client. Then the tmpfs grows, and new clients are served at once.
#[test]
fn a_full_state_directory_withholds_and_undoes_then_serves_again() {
    let Some(lab) = relay_lab("dhcp_full_disk") else {
        return;
    };
    let state = lab.dir().join("state");
    // Room for a couple of hundred journal records.
    let disk = Tmpfs::mount(&state, "24k");
    let conf = relay_conf(&lab, &state, "1h");
    let srv = lab
        .host("srv")
        .spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
    srv.wait_for_log("daemon.ready", Duration::from_secs(10));
    let rly_ns = lab.host("rly").ns().to_string();
    let run_clients = move |first: u32, count: u32| {
        let (acks, killed) = Default::default();
        spawn_relay(rly_ns.clone(), first, count, acks, killed)
            .join()
            .unwrap()
    };

    // Until the disk is full: some are ACKed, the rest never are.
    const FIRST: u32 = 1200;
    let acked = run_clients(0, FIRST);
    assert!(
        !acked.is_empty() && acked.len() < FIRST as usize,
        "the tmpfs must fill part way: {} of {FIRST} ACKed\n{}",
        acked.len(),
        srv.logs()
    );
    let log = srv.logs();
    let failed = log.matches("dhcp.lease_commit_failed").count();
    assert!(failed >= 1, "a full disk is logged\n{log}");
    // Memory matches the disk: exactly the ACKed leases, no phantoms.
    let now = listed(&conf);
    let phantoms: Vec<_> = now
        .iter()
        .filter(|(m, _)| !acked.contains_key(*m))
        .take(5)
        .collect();
    assert!(
        phantoms.is_empty() && now == acked,
        "{} ACKed, {} listed by `hamasq leases`; not ACKed but listed e.g. {phantoms:?}",
        acked.len(),
        now.len()
    );

    // Space again: every new client is served, without waiting for any
    // lease to expire.
    disk.resize("4m");
    const SECOND: u32 = 300;
    let later = run_clients(100_000, SECOND);
    assert_eq!(
        later.len(),
        SECOND as usize,
        "after the disk has room again every client is served\n{}",
        srv.logs()
    );
    let log = srv.wait_for_log("dhcp.lease_commit_recovered", Duration::from_secs(5));
    let failed = log.matches("dhcp.lease_commit_failed").count();
    let recovered = log.matches("dhcp.lease_commit_recovered").count();
    let unanswered = FIRST as usize - acked.len();
    assert!(
        failed <= recovered && failed * 10 <= unanswered,
        "logged once per run of failures: {failed} failure lines, {recovered} recoveries, \
         {unanswered} clients unanswered\n{log}"
    );
    let mut all = acked.clone();
    all.extend(later.iter().map(|(m, ip)| (*m, *ip)));
    assert_eq!(listed(&conf), all);

    // And the disk holds exactly what was ACKed.
    srv.signal(lab::SIGTERM).unwrap();
    assert!(
        srv.wait_exit(Duration::from_secs(10))
            .is_some_and(|s| s.success())
    );
    let (_store, report) = LeaseStore::open(&state, false).unwrap();
    let stored: HashMap<[u8; 6], Ipv4Addr> = report
        .leases
        .iter()
        .map(|l| (l.hw.as_bytes().try_into().unwrap(), l.ip))
        .collect();
    assert_eq!(stored.len(), all.len());
    assert!(stored == all, "the store holds exactly the ACKed leases");
    eprintln!(
        "full disk: {} of {FIRST} ACKed and stored, {unanswered} withheld, 0 phantoms; \
         {failed} failure line(s), {recovered} recovery line(s); then {} of {SECOND} served",
        acked.len(),
        later.len()
    );
}
