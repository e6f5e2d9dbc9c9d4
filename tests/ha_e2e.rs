//! High availability end to end (issue 6): two hamasq boxes share a VIP
//! with VRRP, split one DHCP subnet and serve DNS on the VIP.
//!
//! Lab (every test): `a` 192.168.77.2 (priority 150, own range .20-.119),
//! `b` 192.168.77.3 (priority 100, own range .120-.219; each box has the
//! other's range as `dhcp-peer-range`), VIP 192.168.77.1/24, adverts every
//! 100 ms (so Skew_Time = 61 ms and Master_Down_Interval = 361 ms for B),
//! leases of 2 minutes with T1 = 2 s and T2 = 4 s, `[dns]` on port 53 with
//! `domain = lan` and `local = /lan/`. `q` 192.168.77.9 measures: dig, and
//! `tests/ha_e2e/haprobe.py` (DORA from fresh MACs, pings, DNS queries,
//! each with a wall-clock timestamp per event). DHCP clients are real
//! dhclient and busybox udhcpc processes whose scripts only record events
//! and set the address on the client namespace's own eth0.
//!
//! Whether a box may answer is read from the boxes' own logs: a box is
//! Active from its `vrrp.state ... role=active` line (written after the VIP
//! is added and the gratuitous ARPs sent) to its next `vrrp.state` line
//! (written before the VIP is released). `tcpdump -Q out` on each box's
//! eth0 records every DHCP reply it sends; a reply outside the box's Active
//! windows, or any DHCPNAK from a box that is not Active, fails the test.
//!
//! Tests:
//! * `failover_link_cut` / `failover_sigkill`: 20 clients (10 dhclient, 10
//!   udhcpc, with host names) lease from A; A's link is cut (or A is
//!   SIGKILLed) while a client does DORA every 50 ms; B answers DHCP within
//!   Master_Down_Interval plus 200 ms; every client renews (unicast to the
//!   VIP) or rebinds (broadcast: five udhcpc clients renew during the
//!   outage, so their unicast RENEW goes unanswered) with B and keeps its
//!   address, a restarted dhclient's INIT-REBOOT is adopted too, and every
//!   name resolves through the VIP (`dig @VIP NAME.lan`); new clients get
//!   B's range; A comes back, preempts, and every client (also the ones that
//!   leased from B) renews with A keeping its address and name; no NAK and
//!   no reply from a box that is not Active; no address bound to two clients
//!   in the two lease stores.
//! * `graceful_stop_hands_over_after_skew_time`: SIGTERM on A; B takes over
//!   after Skew_Time (priority-0 advert), well before Master_Down_Interval;
//!   the DHCP gap seen by a client doing DORA every 20 ms is printed and
//!   must stay below Master_Down_Interval (typically 80-100 ms).
//! * `churn_never_binds_an_address_twice`: clients join, renew and release
//!   while A fails (link cut, SIGKILL, SIGTERM) and returns, five times; no
//!   NAK or reply from a box that is not Active, and neither store (replayed
//!   record by record) nor their union ever binds one address to two
//!   clients.
//! * `dns_answers_on_the_vip_across_a_failover` (link cut) and
//!   `..._across_a_sigkill`: a DNS query to the VIP every 10 ms (forwarded
//!   to an unbound upstream) and a ping to the VIP every 10 ms across the
//!   failure and A's return; the DNS answer gap is at most the VIP gap plus
//!   50 ms. After SIGKILL the VIP stays on A's eth0 and A's kernel keeps
//!   answering the pings, so there the VIP gap is the time until B holds it.
//! * `split_brain_hands_out_no_address_twice_and_heals_to_one_active`.
//! * `each_subnet_follows_its_own_vrrp_instance`: both boxes also sit on a
//!   guest segment 192.168.78.0/24 (a second lab's bridge, eth1) with a
//!   second instance `guest` (VIP .1) where B is preferred; real udhcpc
//!   clients on each segment lease from that segment's Active box only;
//!   cutting B's guest link fails the guest instance over to A (guest
//!   clients now lease from A) and its return hands it back, while the
//!   LAN instance never changes role and LAN clients keep leasing from A.
//!   A SIGHUP with A's `[vrrp]` sections swapped logs that VRRP changes
//!   need a restart, and DHCP keeps following the running instances.
//!
//! Each test prints what it measured (`--nocapture`).

mod lab;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hamasq::testkit::Rng;
use lab::{Host, Lab, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");
use lab::probe::{PY, gap_across, probe_times, spawn_probe, stop_probe, wait_probe};

const VIP: &str = "192.168.77.1";
const A_ADDR: &str = "192.168.77.2/24";
const B_ADDR: &str = "192.168.77.3/24";
const UP_ADDR: &str = "192.168.77.4/24";
const UP: &str = "192.168.77.4";
const Q_ADDR: &str = "192.168.77.9/24";
const A_RANGE: (&str, &str) = ("192.168.77.20", "192.168.77.119");
const B_RANGE: (&str, &str) = ("192.168.77.120", "192.168.77.219");
/// Lease time (the shortest hamasq accepts) and its seconds.
const LEASE: &str = "2m";
const LEASE_SECS: u64 = 120;
const ADVERT: f64 = 0.1;
const A_PRIO: u8 = 150;
const B_PRIO: u8 = 100;

/// RFC 9568 §6.1 for B.
fn skew_time() -> f64 {
    (256.0 - f64::from(B_PRIO)) * ADVERT / 256.0
}
fn master_down() -> f64 {
    3.0 * ADVERT + skew_time()
}

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn ip_of(s: &str) -> Ipv4Addr {
    s.parse()
        .unwrap_or_else(|_| panic!("not an IPv4 address: {s:?}"))
}

fn in_range(ip: &str, r: (&str, &str)) -> bool {
    ip.parse::<Ipv4Addr>()
        .is_ok_and(|a| a >= ip_of(r.0) && a <= ip_of(r.1))
}

// ---------------------------------------------------------------------------
// The boxes
// ---------------------------------------------------------------------------

/// Config of one box: `own` is its range, `peer` the other box's; `dns`
/// lines are added to `[dns]`.
fn box_conf(
    lab: &Lab,
    name: &str,
    prio: u8,
    own: (&str, &str),
    peer: (&str, &str),
    dns: &[&str],
) -> PathBuf {
    let dir = lab.dir().join(format!("hq-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("hamasq.conf");
    let mut dns_lines = String::new();
    for l in dns {
        dns_lines.push_str(l);
        dns_lines.push('\n');
    }
    std::fs::write(
        &p,
        format!(
            "[general]\npid-file = none\nstate-dir = {}\nlog-level = debug\n\n\
             [dns]\nno-resolv = true\nlocal = /lan/\ndomain = lan\n{dns_lines}\n\
             [dhcp]\ninterface = eth0\ndhcp-range = {},{},{LEASE}\ndhcp-peer-range = {},{}\n\
             dhcp-option = option:T1,2\ndhcp-option = option:T2,4\nlog-dhcp = true\n\n\
             [vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\npriority = {prio}\nadvert-int = {ADVERT}\n\
             virtual-ipaddress = {VIP}/24\ngarp-master-delay = 0\n",
            dir.join("state").display(),
            own.0,
            own.1,
            peer.0,
            peer.1,
        ),
    )
    .unwrap();
    p
}

/// The standard pair's configs (A's range .20-.119, B's .120-.219).
fn pair_confs(lab: &Lab, dns: &[&str]) -> (PathBuf, PathBuf) {
    (
        box_conf(lab, "a", A_PRIO, A_RANGE, B_RANGE, dns),
        box_conf(lab, "b", B_PRIO, B_RANGE, A_RANGE, dns),
    )
}

fn start(host: &Host, conf: &Path) -> Proc {
    let p = host.spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
    p.wait_for_log("daemon.ready", Duration::from_secs(10));
    p
}

/// Starts A, waits until it is Active, then B, until it is Backup.
fn start_pair(lab: &Lab, ca: &Path, cb: &Path) -> (Proc, Proc) {
    let a = start(lab.host("a"), ca);
    a.wait_role("lan", "active", Duration::from_secs(5));
    let b = start(lab.host("b"), cb);
    b.wait_role("lan", "backup", Duration::from_secs(5));
    (a, b)
}

fn has_vip(h: &Host) -> bool {
    String::from_utf8_lossy(
        &h.run(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
            .stdout,
    )
    .contains(&format!("inet {VIP}/24"))
}

/// Waits until exactly `want` holds the VIP (the other box not).
#[track_caller]
fn wait_vip_on(lab: &Lab, want: &str, timeout: Duration) -> Duration {
    let other = if want == "a" { "b" } else { "a" };
    let t = Instant::now();
    assert!(
        lab::wait_until(timeout, || has_vip(lab.host(want))
            && !has_vip(lab.host(other))),
        "{want} does not hold the VIP alone within {timeout:?}"
    );
    t.elapsed()
}

fn cut_link(lab: &Lab, host: &str, up: bool) {
    let port = lab.host(host).bridge_port().to_string();
    lab.bridge()
        .run_ok(&["ip", "link", "set", &port, if up { "up" } else { "down" }]);
}

// ---------------------------------------------------------------------------
// Logs, roles and what each box sent
// ---------------------------------------------------------------------------

/// Unix time of a log line's RFC 3339 UTC timestamp
/// (`2026-01-02T03:04:05.678Z ...`).
fn log_time(line: &str) -> Option<f64> {
    let ts = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let s: f64 = t.next()?.parse().ok()?;
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60) as f64 + s)
}

/// First time `pattern` appears in `log` after Unix time `after`.
fn log_event_after(log: &str, pattern: &str, after: f64) -> Option<f64> {
    log.lines()
        .filter(|l| l.contains(pattern))
        .filter_map(log_time)
        .find(|t| *t >= after)
}

/// The Active windows `[from, to)` of a box, from the logs of each of its
/// processes (in order). A window still open at the end of a log is closed
/// at +inf (a killed process sends nothing more).
fn active_windows(logs: &[String]) -> Vec<(f64, f64)> {
    let mut w = Vec::new();
    for log in logs {
        let mut open: Option<f64> = None;
        for l in log
            .lines()
            .filter(|l| l.contains("vrrp.state instance=lan"))
        {
            let Some(t) = log_time(l) else { continue };
            if l.contains("role=active") {
                open.get_or_insert(t);
            } else if let Some(from) = open.take() {
                w.push((from, t));
            }
        }
        if let Some(from) = open {
            w.push((from, f64::INFINITY));
        }
    }
    w
}

/// One DHCP reply a box sent, from `tcpdump -v`.
#[derive(Clone, Debug)]
struct Sent {
    t: f64,
    msg: String,
    mac: String,
    yiaddr: String,
    head: String,
}

/// Captures every DHCP reply `host` sends on eth0.
fn capture(host: &Host) -> Proc {
    let p = host.spawn(&[
        "tcpdump",
        "-l",
        "-n",
        "-tt",
        "-v",
        "-Q",
        "out",
        "-i",
        "eth0",
        "udp src port 67",
    ]);
    p.wait_for_log("listening on", Duration::from_secs(10));
    p
}

fn parse_capture(text: &str) -> Vec<Sent> {
    let mut v: Vec<Sent> = Vec::new();
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if !line.starts_with(' ') && !line.starts_with('\t') && line.contains(" IP ") {
            if let Ok(t) = first.parse::<f64>() {
                v.push(Sent {
                    t,
                    msg: String::new(),
                    mac: String::new(),
                    yiaddr: String::new(),
                    head: line.to_string(),
                });
            }
            continue;
        }
        let Some(cur) = v.last_mut() else { continue };
        let l = line.trim();
        if let Some(m) = l.strip_prefix("DHCP-Message (53), length 1: ") {
            cur.msg = m.to_string();
        } else if let Some(m) = l.strip_prefix("Client-Ethernet-Address ") {
            cur.mac = m.to_string();
        } else if let Some(m) = l.strip_prefix("Your-IP ") {
            cur.yiaddr = m.to_string();
        }
    }
    v
}

/// Replies sent outside every Active window. The end of a window gets
/// `slack` seconds: the log line is written when the role changes and a
/// reply already on its way out of the DHCP task may leave just after it.
fn outside_windows<'s>(sent: &'s [Sent], windows: &[(f64, f64)], slack: f64) -> Vec<&'s Sent> {
    sent.iter()
        .filter(|s| {
            !windows
                .iter()
                .any(|(from, to)| s.t >= *from && s.t <= to + slack)
        })
        .collect()
}

/// Slack at the end of an Active window (see [`outside_windows`]).
const STEP_DOWN_SLACK: f64 = 0.005;

/// Asserts that `who` sent no NAK and no reply while not Active; returns
/// the number of replies it sent while Active.
#[track_caller]
fn assert_silent_while_not_active(who: &str, cap: &Proc, logs: &[String]) -> usize {
    let sent = parse_capture(&cap.logs());
    let windows = active_windows(logs);
    let bad = outside_windows(&sent, &windows, STEP_DOWN_SLACK);
    let show = |v: &[&Sent]| {
        v.iter()
            .map(|s| format!("{:.6} {} {} {} | {}", s.t, s.msg, s.mac, s.yiaddr, s.head))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let naks: Vec<&Sent> = bad.iter().copied().filter(|s| s.msg == "NACK").collect();
    assert!(
        naks.is_empty(),
        "{who} sent {} DHCPNAKs while not Active (Active windows {windows:?}):\n{}",
        naks.len(),
        show(&naks)
    );
    assert!(
        bad.is_empty(),
        "{who} sent {} DHCP replies while not Active (Active windows {windows:?}):\n{}",
        bad.len(),
        show(&bad)
    );
    sent.len()
}

fn naks(cap: &Proc) -> Vec<Sent> {
    parse_capture(&cap.logs())
        .into_iter()
        .filter(|s| s.msg == "NACK")
        .collect()
}

// ---------------------------------------------------------------------------
// DHCP clients
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dhclient,
    Udhcpc,
}

/// A real DHCP client in its own namespace. Its script appends one line
/// per event to `rec`: `EVENT ip=... sid=... router=... dns=...`, EVENT
/// being dhclient's reason (BOUND, RENEW, REBIND, REBOOT, ...) or
/// udhcpc's upper-cased (BOUND, RENEW, NAK, DECONFIG, ...).
struct Client {
    name: String,
    kind: Kind,
    mac: String,
    rec: PathBuf,
    proc: Proc,
}

const BIND_EVENTS: [&str; 4] = ["BOUND", "RENEW", "REBIND", "REBOOT"];

impl Client {
    fn start(lab: &Lab, host: &str, kind: Kind) -> Client {
        let d = lab.dir();
        let rec = d.join(format!("{host}.rec"));
        let script = d.join(format!("{host}.sh"));
        let proc = match kind {
            Kind::Dhclient => {
                lab::write_script(
                    &script,
                    &format!(
                        "#!/bin/sh\necho \"$reason ip=$new_ip_address sid=$new_dhcp_server_identifier router=$new_routers dns=$new_domain_name_servers\" >> {}\n\
                         case \"$reason\" in BOUND|RENEW|REBIND|REBOOT) ip addr replace \"$new_ip_address/$new_subnet_mask\" dev \"$interface\" ;; esac\nexit 0\n",
                        rec.display()
                    ),
                );
                let cf = d.join(format!("{host}.conf"));
                std::fs::write(
                    &cf,
                    format!(
                        "send host-name \"{host}\";\nrequest subnet-mask, routers, domain-name-servers;\n"
                    ),
                )
                .unwrap();
                let cf = cf.to_str().unwrap();
                lab::dhclient::spawn(lab.host(host), d, host, &script, &["-cf", cf])
            }
            Kind::Udhcpc => {
                lab::write_script(
                    &script,
                    &format!(
                        "#!/bin/sh\necho \"$(echo \"$1\" | tr a-z A-Z) ip=$ip sid=$serverid router=$router dns=$dns\" >> {}\n\
                         case \"$1\" in bound|renew) ip addr replace \"$ip/$mask\" dev \"$interface\" ;; \
                         deconfig) ip -4 addr flush dev \"$interface\" ;; esac\nexit 0\n",
                        rec.display()
                    ),
                );
                let hn = format!("hostname:{host}");
                lab.host(host).spawn(&[
                    "udhcpc",
                    "-f",
                    "-i",
                    "eth0",
                    "-s",
                    script.to_str().unwrap(),
                    "-x",
                    &hn,
                    "-T",
                    "1",
                    "-t",
                    "3",
                    "-A",
                    "1",
                ])
            }
        };
        Client {
            name: host.to_string(),
            kind,
            mac: lab.host(host).mac().to_string(),
            rec,
            proc,
        }
    }

    fn rec(&self) -> String {
        read(&self.rec)
    }

    /// (event, line) of every successful exchange so far.
    fn binds(&self) -> Vec<(String, String)> {
        self.rec()
            .lines()
            .filter_map(|l| {
                let ev = l.split_whitespace().next()?;
                BIND_EVENTS
                    .contains(&ev)
                    .then(|| (ev.to_string(), l.to_string()))
            })
            .collect()
    }

    fn field(line: &str, key: &str) -> String {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{key}=")))
            .unwrap_or("")
            .to_string()
    }

    /// The address of the last successful exchange.
    fn ip(&self) -> Option<String> {
        self.binds()
            .last()
            .map(|(_, l)| Client::field(l, "ip"))
            .filter(|s| !s.is_empty())
    }

    /// Whether the client holds an address (the last event is a bind).
    fn bound(&self) -> bool {
        self.rec()
            .lines()
            .rfind(|l| !l.starts_with("PREINIT") && !l.starts_with("LEASEFAIL"))
            .and_then(|l| l.split_whitespace().next())
            .is_some_and(|ev| BIND_EVENTS.contains(&ev))
    }

    /// udhcpc: renew now (SIGUSR1: a unicast RENEW to the server
    /// identifier, then after 1 s a broadcast REBIND; from the released
    /// state, a fresh DORA). dhclient renews by itself every T1 = 2 s.
    fn renew(&self) {
        if self.kind == Kind::Udhcpc {
            let _ = self.proc.signal(lab::SIGUSR1);
        }
    }

    /// udhcpc: release the lease (SIGUSR2: a RELEASE to the server).
    fn release(&self) {
        if self.kind == Kind::Udhcpc {
            let _ = self.proc.signal(lab::SIGUSR2);
        }
    }
}

/// Waits until every client has completed more than `after[name]`
/// exchanges, the last one for the address `want[name]` (if given).
#[track_caller]
fn wait_renewed(
    clients: &[&Client],
    after: &HashMap<String, usize>,
    want: &HashMap<String, String>,
    timeout: Duration,
    what: &str,
    logs: &dyn Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    for c in clients {
        let n0 = after.get(&c.name).copied().unwrap_or(0);
        let ok = lab::wait_until(deadline.saturating_duration_since(Instant::now()), || {
            c.binds().len() > n0
        });
        assert!(
            ok,
            "{} ({:?}) did not {what} within {timeout:?}:\n{}\n----- server -----\n{}",
            c.name,
            c.kind,
            c.rec(),
            logs()
        );
        if let Some(w) = want.get(&c.name) {
            assert_eq!(
                c.ip().as_deref(),
                Some(w.as_str()),
                "{} lost its address ({what}):\n{}",
                c.name,
                c.rec()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// DNS through the VIP
// ---------------------------------------------------------------------------

/// `dig @VIP NAME.lan ...` from `q`, all names in one dig: name (without
/// `.lan`) → its A records.
fn resolve(q: &Host, names: &[&str]) -> HashMap<String, Vec<String>> {
    let at = format!("@{VIP}");
    let fq: Vec<String> = names.iter().map(|n| format!("{n}.lan")).collect();
    let mut argv = vec![
        "dig",
        at.as_str(),
        "+time=1",
        "+tries=2",
        "+noall",
        "+answer",
    ];
    argv.extend(fq.iter().map(String::as_str));
    let out = q.run_timeout(&argv, Duration::from_secs(30));
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() == 5 && w[3] == "A" {
            let name = w[0].trim_end_matches('.').trim_end_matches(".lan");
            m.entry(name.to_string())
                .or_default()
                .push(w[4].to_string());
        }
    }
    m
}

/// Polls (up to `timeout`) until every name resolves through the VIP to
/// exactly its address.
#[track_caller]
fn assert_names_resolve(q: &Host, want: &HashMap<String, String>, timeout: Duration, when: &str) {
    let names: Vec<&str> = want.keys().map(String::as_str).collect();
    let mut last = HashMap::new();
    let ok = lab::wait_until(timeout, || {
        last = resolve(q, &names);
        want.iter()
            .all(|(n, ip)| last.get(n).is_some_and(|v| v == std::slice::from_ref(ip)))
    });
    if !ok {
        let mut bad: Vec<String> = want
            .iter()
            .filter(|(n, ip)| last.get(*n).is_none_or(|v| v != std::slice::from_ref(*ip)))
            .map(|(n, ip)| format!("{n}.lan: want {ip}, got {:?}", last.get(n)))
            .collect();
        bad.sort();
        panic!(
            "names do not resolve through the VIP {when}:\n{}",
            bad.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------
// The measuring probes
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Lease stores
// ---------------------------------------------------------------------------

/// Every address bound to one client at most, across both boxes' stores
/// (active leases, as each box would load them).
fn assert_no_duplicates(dirs: &[PathBuf]) -> usize {
    let mut owner: HashMap<Ipv4Addr, (hamasq::dhcp::HwAddr, String)> = HashMap::new();
    let now = hamasq::clock::UnixTime::now();
    for d in dirs {
        let (_s, rep) = hamasq::dhcp::leases::LeaseStore::open(&d.join("state"), false).unwrap();
        for l in rep.leases.iter().filter(|l| l.is_active(now)) {
            let who = d.file_name().unwrap().to_string_lossy().into_owned();
            if let Some((o, by)) = owner.insert(l.ip, (l.hw, who.clone())) {
                assert_eq!(
                    o, l.hw,
                    "{} is bound to two clients: {o} in {by}, {} in {who}",
                    l.ip, l.hw
                );
            }
        }
    }
    owner.len()
}

/// Replays one box's snapshot and journal record by record (the dnsmasq
/// line format, `src/dhcp/leases`) and returns every record that bound an
/// address to a client while another client's binding of it was still
/// unexpired and not released. The time of a record is its expiry minus
/// the lease time (every lease here lasts LEASE_SECS).
fn store_history_conflicts(dir: &Path) -> Vec<String> {
    #[derive(Default)]
    struct Replay {
        by_ip: BTreeMap<String, (String, u64)>,
        by_mac: HashMap<String, String>,
        bad: Vec<String>,
    }
    impl Replay {
        fn bind(&mut self, ip: &str, mac: &str, exp: u64, line: &str) {
            let t = exp.saturating_sub(LEASE_SECS);
            if let Some((m, e)) = self.by_ip.get(ip)
                && m != mac
                && *e > t
            {
                self.bad.push(format!("{line} (held by {m} until {e})"));
            }
            // A client has one binding: its previous address is free.
            if let Some(old) = self.by_mac.insert(mac.to_string(), ip.to_string())
                && old != ip
                && self.by_ip.get(&old).is_some_and(|(m, _)| m == mac)
            {
                self.by_ip.remove(&old);
            }
            self.by_ip.insert(ip.to_string(), (mac.to_string(), exp));
        }
        fn remove(&mut self, ip: &str) {
            if let Some((mac, _)) = self.by_ip.remove(ip) {
                self.by_mac.remove(&mac);
            }
        }
    }
    let state = dir.join("state");
    let mut r = Replay::default();
    for l in read(&state.join("dhcp.leases")).lines() {
        let w: Vec<&str> = l.split(' ').collect();
        if w.len() == 5
            && let Ok(exp) = w[0].parse::<u64>()
        {
            r.bind(w[2], w[1], exp, l);
        }
    }
    for l in read(&state.join("dhcp.leases.journal")).lines() {
        let w: Vec<&str> = l.split(' ').collect();
        match w.first() {
            Some(&"L") if w.len() == 7 => {
                if let Ok(exp) = w[1].parse::<u64>() {
                    r.bind(w[3], w[2], exp, l);
                }
            }
            Some(&"D") if w.len() == 3 => r.remove(w[1]),
            _ => {}
        }
    }
    r.bad
        .into_iter()
        .map(|b| format!("{}: {b}", state.display()))
        .collect()
}

// ---------------------------------------------------------------------------
// Failover
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    /// A's bridge port goes down: A loses carrier, can send nothing.
    Cut,
    /// SIGKILL: no priority-0 advert, the VIP stays on A's eth0.
    Kill,
    /// SIGTERM: the ordered shutdown (priority-0 advert).
    Term,
}

/// Clients of each kind in the failover tests (the twenty).
const FAILOVER_CLIENTS: usize = 10;

fn failover(test: &str, failure: Failure) {
    if !lab::have_commands(test, &["dhclient", "udhcpc", "tcpdump", "dig"])
        || !lab::have_programs_at(test, &[PY])
    {
        return;
    }
    let Some(mut lab) = Lab::new(test) else {
        return;
    };
    let t_start = Instant::now();
    lab.add_host("a", &[A_ADDR]);
    lab.add_host("b", &[B_ADDR]);
    lab.add_host("q", &[Q_ADDR]);
    let mut names: Vec<(String, Kind)> = Vec::new();
    for i in 0..FAILOVER_CLIENTS {
        names.push((format!("d{i}"), Kind::Dhclient));
        names.push((format!("u{i}"), Kind::Udhcpc));
    }
    for (n, _) in &names {
        lab.add_host(n, &[]);
    }
    lab.add_host("dlate", &[]);
    lab.add_host("ulate", &[]);
    let (ca, cb) = pair_confs(&lab, &[]);
    let (a, b) = start_pair(&lab, &ca, &cb);
    let mut a = Some(a);
    let mut a_logs: Vec<String> = Vec::new(); // logs of A's dead processes
    let cap_a = capture(lab.host("a"));
    let cap_b = capture(lab.host("b"));

    // Twenty clients lease from A: its range, the VIP as server identifier,
    // router and DNS server.
    let clients: Vec<Client> = names
        .iter()
        .map(|(n, k)| Client::start(&lab, n, *k))
        .collect();
    let mut addr: HashMap<String, String> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for c in &clients {
        assert!(
            lab::wait_until(deadline.saturating_duration_since(Instant::now()), || c
                .bound()),
            "{} got no lease:\n{}\n{}",
            c.name,
            c.rec(),
            a.as_ref().unwrap().logs()
        );
        let (_, l) = c.binds().last().cloned().unwrap();
        let ip = Client::field(&l, "ip");
        assert!(
            in_range(&ip, A_RANGE),
            "{}: {ip} is not from A's range",
            c.name
        );
        for k in ["sid", "router", "dns"] {
            assert_eq!(
                Client::field(&l, k),
                VIP,
                "{}: {k} must be the VIP: {l}",
                c.name
            );
        }
        addr.insert(c.name.clone(), ip);
    }
    let t_leased = t_start.elapsed();
    assert_names_resolve(lab.host("q"), &addr, Duration::from_secs(5), "on A");

    // The udhcpc clients renew with A once, so that each has the VIP's
    // MAC (A's) in its ARP cache, as any client talking to its gateway.
    let n: HashMap<String, usize> = clients
        .iter()
        .map(|c| (c.name.clone(), c.binds().len()))
        .collect();
    let udhcpcs: Vec<&Client> = clients.iter().filter(|c| c.kind == Kind::Udhcpc).collect();
    for c in &udhcpcs {
        c.renew();
    }
    wait_renewed(
        &udhcpcs,
        &n,
        &addr,
        Duration::from_secs(10),
        "renew with A",
        &|| a.as_ref().unwrap().logs(),
    );

    // A fails while a client does DORA every 50 ms from fresh MACs.
    let dora = spawn_probe(
        lab.host("q"),
        &[
            "dora",
            "eth0",
            "0.05",
            "30",
            "02:ee",
            "release",
            "timeout=2",
        ],
    );
    wait_probe(&dora, "ack", 5, Duration::from_secs(5));
    let binds_before: HashMap<String, usize> = clients
        .iter()
        .map(|c| (c.name.clone(), c.binds().len()))
        .collect();
    let log_len: HashMap<String, usize> = clients
        .iter()
        .map(|c| (c.name.clone(), c.proc.logs().len()))
        .collect();
    let t0 = epoch();
    match failure {
        Failure::Cut => cut_link(&lab, "a", false),
        Failure::Kill => {
            let p = a.take().unwrap();
            p.signal(lab::SIGKILL).unwrap();
            p.wait_exit(Duration::from_secs(5));
            a_logs.push(p.logs());
        }
        Failure::Term => unreachable!(),
    }
    // Half the udhcpc clients renew during the outage: their unicast RENEW
    // to the VIP goes unanswered, so 1 s later they REBIND by broadcast.
    let early = |c: &&Client| c.kind == Kind::Udhcpc && c.name.as_str() < "u5";
    let n_early = clients.iter().filter(early).count();
    for c in clients.iter().filter(early) {
        c.renew();
    }
    assert!(
        lab::wait_until(Duration::from_secs(3), || has_vip(lab.host("b"))),
        "B did not take the VIP:\n{}",
        b.logs()
    );
    let ok = lab::wait_until(Duration::from_secs(3), || {
        probe_times(&dora, "ack").iter().any(|t| *t > t0)
    });
    stop_probe(&dora);
    assert!(ok, "no DHCP answer after the failure:\n{}", dora.logs());
    let acks = probe_times(&dora, "ack");
    let first = acks.iter().copied().find(|t| *t > t0).unwrap();
    let answered = first - t0;
    let gap = gap_across(&acks, t0, f64::INFINITY).unwrap();
    let takeover = log_event_after(&b.logs(), "role=active", t0).unwrap_or(f64::NAN) - t0;
    eprintln!(
        "{test}: B Active {:.0} ms after the failure, first DHCP answer {:.0} ms, DORA gap {:.0} ms \
         (Master_Down_Interval {:.0} ms, DORA every 50 ms)",
        takeover * 1e3,
        answered * 1e3,
        gap * 1e3,
        master_down() * 1e3
    );
    assert!(
        answered <= master_down() + 0.2,
        "B answered {:.0} ms after the failure (Master_Down_Interval {:.0} ms + 200 ms)",
        answered * 1e3,
        master_down() * 1e3
    );

    // Every client renews (dhclient at T1 = 2 s; udhcpc told to) or
    // rebinds with B and keeps its address; B learns the names from the
    // renewals, so they resolve through the VIP.
    for c in clients.iter().filter(|c| !early(c)) {
        c.renew();
    }
    let refs: Vec<&Client> = clients.iter().collect();
    wait_renewed(
        &refs,
        &binds_before,
        &addr,
        Duration::from_secs(20),
        "renew with B",
        &|| b.logs(),
    );
    let blog = b.logs();
    for c in &clients {
        assert!(
            blog.contains(&format!("msg=ack mac={} ip={}", c.mac, addr[&c.name])),
            "{} kept its address but B never ACKed it:\n{}",
            c.name,
            c.rec()
        );
    }
    assert!(!blog.contains("msg=nak"), "B NAKed a client:\n{blog}");
    // How they reached B: unicast RENEW to the VIP or broadcast REBIND.
    let (mut unicast, mut broadcast) = (0, 0);
    for c in &clients {
        let log = c.proc.logs();
        let new = &log[log_len[&c.name].min(log.len())..];
        for l in new.lines() {
            if l.contains("sending renew to server") || l.contains(&format!(" to {VIP} port 67")) {
                unicast += 1;
            } else if l.contains("broadcasting renew")
                || (l.contains("DHCPREQUEST") && l.contains(" to 255.255.255.255 port 67"))
            {
                broadcast += 1;
            }
        }
    }
    eprintln!(
        "{test}: requests sent after the failure: {unicast} unicast RENEW to the VIP, {broadcast} broadcast REBIND"
    );
    assert!(
        broadcast >= n_early,
        "the clients renewing during the outage did not rebind ({broadcast} broadcast requests)"
    );
    assert_names_resolve(
        lab.host("q"),
        &addr,
        Duration::from_secs(5),
        "after the clients renewed with B",
    );

    // A dhclient restarted now does INIT-REBOOT for its address, which B
    // never handed out: B adopts it too.
    let mut clients = clients;
    let d0 = clients.iter().position(|c| c.name == "d0").unwrap();
    let n0 = clients[d0].binds().len();
    drop(clients.remove(d0));
    clients.insert(d0, Client::start(&lab, "d0", Kind::Dhclient));
    let d0 = &clients[d0];
    assert!(
        lab::wait_until(Duration::from_secs(15), || d0.binds().len() > n0),
        "d0 restarted got no answer:\n{}",
        d0.rec()
    );
    assert_eq!(
        d0.binds().last().map(|(ev, _)| ev.as_str()),
        Some("REBOOT"),
        "d0 restarted should INIT-REBOOT:\n{}",
        d0.rec()
    );
    assert_eq!(d0.ip().as_deref(), Some(addr["d0"].as_str()));
    // New clients get addresses from B's own range, and names.
    let late = [
        Client::start(&lab, "dlate", Kind::Dhclient),
        Client::start(&lab, "ulate", Kind::Udhcpc),
    ];
    for c in &late {
        assert!(
            lab::wait_until(Duration::from_secs(20), || c.bound()),
            "{} got no lease from B:\n{}\n{}",
            c.name,
            c.rec(),
            b.logs()
        );
        let ip = c.ip().unwrap();
        assert!(
            in_range(&ip, B_RANGE),
            "{}: {ip} is not from B's range",
            c.name
        );
        addr.insert(c.name.clone(), ip);
    }
    assert_names_resolve(
        lab.host("q"),
        &addr,
        Duration::from_secs(5),
        "for new clients",
    );

    // A returns and preempts; every client renews with A and keeps its
    // address, also those that leased from B.
    let t_ret = epoch();
    match failure {
        Failure::Cut => cut_link(&lab, "a", true),
        _ => a = Some(start(lab.host("a"), &ca)),
    }
    let a_ref = a.as_ref().unwrap();
    wait_vip_on(&lab, "a", Duration::from_secs(10));
    b.wait_for_log_count(
        "vrrp.state instance=lan role=backup",
        2,
        Duration::from_secs(5),
    );
    let all: Vec<&Client> = clients.iter().chain(late.iter()).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    for c in &all {
        c.renew();
    }
    for c in &all {
        let want = format!("msg=ack mac={} ip={}", c.mac, addr[&c.name]);
        let ok = lab::wait_until(deadline.saturating_duration_since(Instant::now()), || {
            a_ref
                .logs()
                .lines()
                .any(|l| l.contains(&want) && log_time(l).is_some_and(|t| t >= t_ret))
        });
        assert!(
            ok,
            "{} did not renew with A after its return:\n{}\n{}",
            c.name,
            c.rec(),
            a_ref.logs()
        );
        assert_eq!(
            c.ip().as_deref(),
            Some(addr[&c.name].as_str()),
            "{}",
            c.name
        );
    }
    assert_names_resolve(
        lab.host("q"),
        &addr,
        Duration::from_secs(5),
        "after A's return",
    );

    // Nobody answered while not Active; A's log has no NAK either.
    std::thread::sleep(Duration::from_millis(300));
    let mut logs_a = a_logs.clone();
    logs_a.push(a_ref.logs());
    let sent_b = assert_silent_while_not_active("B", &cap_b, &[b.logs()]);
    let sent_a = assert_silent_while_not_active("A", &cap_a, &logs_a);
    assert!(sent_b > 0, "the capture on B saw none of B's replies");
    let nak_a = naks(&cap_a).len();
    let nak_b = naks(&cap_b).len();
    assert_eq!(nak_a + nak_b, 0, "NAKs sent: A {nak_a}, B {nak_b}");
    eprintln!(
        "{test}: {} clients leased in {:.1} s, replies sent A {sent_a} B {sent_b}, NAKs 0, run {:.1} s",
        clients.len(),
        t_leased.as_secs_f64(),
        t_start.elapsed().as_secs_f64()
    );

    drop(clients);
    drop(late);
    for p in [a_ref, &b] {
        p.signal(lab::SIGTERM).unwrap();
    }
    a_ref.wait_exit(Duration::from_secs(3));
    b.wait_exit(Duration::from_secs(3));
    let dirs = [lab.dir().join("hq-a"), lab.dir().join("hq-b")];
    assert_no_duplicates(&dirs);
    for d in &dirs {
        let bad = store_history_conflicts(d);
        assert!(
            bad.is_empty(),
            "address handed to two clients:\n{}",
            bad.join("\n")
        );
    }
}

#[test]
fn failover_link_cut() {
    failover("ha_failover_cut", Failure::Cut);
}

#[test]
fn failover_sigkill() {
    failover("ha_failover_kill", Failure::Kill);
}

// ---------------------------------------------------------------------------
// Graceful stop
// ---------------------------------------------------------------------------

#[test]
fn graceful_stop_hands_over_after_skew_time() {
    const TEST: &str = "ha_graceful";
    if !lab::have_commands(TEST, &["tcpdump"]) || !lab::have_programs_at(TEST, &[PY]) {
        return;
    }
    let Some(mut lab) = Lab::new(TEST) else {
        return;
    };
    lab.add_host("a", &[A_ADDR]);
    lab.add_host("b", &[B_ADDR]);
    lab.add_host("q", &[Q_ADDR]);
    let (ca, cb) = pair_confs(&lab, &[]);
    let (a, b) = start_pair(&lab, &ca, &cb);
    let cap_b = capture(lab.host("b"));
    let dora = spawn_probe(
        lab.host("q"),
        &[
            "dora",
            "eth0",
            "0.02",
            "20",
            "02:ef",
            "release",
            "timeout=1",
        ],
    );
    wait_probe(&dora, "ack", 20, Duration::from_secs(5));

    let t0 = epoch();
    a.signal(lab::SIGTERM).unwrap();
    let status = a.wait_exit(Duration::from_secs(3));
    assert!(
        status.is_some_and(|s| s.success()),
        "A did not exit 0 within 3 s: {status:?}\n{}",
        a.logs()
    );
    assert!(lab::wait_until(Duration::from_secs(2), || has_vip(
        lab.host("b")
    )));
    std::thread::sleep(Duration::from_millis(700));
    stop_probe(&dora);

    let acks = probe_times(&dora, "ack");
    let gap = gap_across(&acks, t0, f64::INFINITY).expect("no DHCP answer after SIGTERM");
    let takeover = log_event_after(&b.logs(), "role=active", t0).expect("B never went Active") - t0;
    eprintln!(
        "{TEST}: SIGTERM on A: B Active after {:.0} ms (Skew_Time {:.0} ms, Master_Down_Interval {:.0} ms); \
         DHCP gap {:.0} ms (DORA every 20 ms)",
        takeover * 1e3,
        skew_time() * 1e3,
        master_down() * 1e3,
        gap * 1e3
    );
    // The priority-0 advert makes B wait Skew_Time, not Master_Down_Interval.
    assert!(
        takeover < master_down() - ADVERT,
        "B took {:.0} ms: it waited out Master_Down_Interval, not Skew_Time",
        takeover * 1e3
    );
    // The gap must beat the crash path (a Backup waiting out
    // Master_Down_Interval); it is about Skew_Time plus the probe's 20 ms.
    assert!(
        gap < master_down(),
        "DHCP gap {:.0} ms after a graceful stop: not below Master_Down_Interval {:.0} ms",
        gap * 1e3,
        master_down() * 1e3
    );
    // Stepping down: DHCP goes silent before the VIP is released (the
    // role line is written before the VIP is removed).
    let alog = a.logs();
    let pos = |pat: &str| {
        alog.find(pat)
            .unwrap_or_else(|| panic!("{pat:?} not in A's log:\n{alog}"))
    };
    assert!(
        pos("dhcp.stopped") < pos("vrrp.state instance=lan role=initialize"),
        "A released the VIP before DHCP went silent:\n{alog}"
    );
    assert_silent_while_not_active("B", &cap_b, &[b.logs()]);
    assert!(naks(&cap_b).is_empty(), "B sent a NAK");
}

// ---------------------------------------------------------------------------
// Churn
// ---------------------------------------------------------------------------

#[test]
fn churn_never_binds_an_address_twice() {
    const TEST: &str = "ha_churn";
    if !lab::have_commands(TEST, &["dhclient", "udhcpc", "tcpdump"]) {
        return;
    }
    let Some(mut lab) = Lab::new(TEST) else {
        return;
    };
    let t_start = Instant::now();
    lab.add_host("a", &[A_ADDR]);
    lab.add_host("b", &[B_ADDR]);
    let mut names: Vec<(String, Kind)> = Vec::new();
    for i in 0..4 {
        names.push((format!("d{i}"), Kind::Dhclient));
    }
    for i in 0..6 {
        names.push((format!("u{i}"), Kind::Udhcpc));
    }
    let joiners: Vec<String> = (0..5).map(|i| format!("j{i}")).collect();
    for (n, _) in &names {
        lab.add_host(n, &[]);
    }
    for n in &joiners {
        lab.add_host(n, &[]);
    }
    let (ca, cb) = pair_confs(&lab, &[]);
    let (a, b) = start_pair(&lab, &ca, &cb);
    let mut a = Some(a);
    let mut a_logs: Vec<String> = Vec::new();
    let cap_a = capture(lab.host("a"));
    let cap_b = capture(lab.host("b"));
    let mut clients: Vec<Client> = names
        .iter()
        .map(|(n, k)| Client::start(&lab, n, *k))
        .collect();
    for c in &clients {
        assert!(
            lab::wait_until(Duration::from_secs(20), || c.bound()),
            "{} got no lease",
            c.name
        );
    }

    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut released = 0;
    let mut renewed = 0;
    // Random renewals and releases of the udhcpc clients (dhclient renews
    // every 2 s by itself); a released client asks again in a later round.
    let mut poke = |clients: &[Client], rng: &mut Rng| {
        for c in clients.iter().filter(|c| c.kind == Kind::Udhcpc) {
            match rng.below(4) {
                0 | 1 => {
                    c.renew();
                    renewed += 1;
                }
                2 if c.bound() => {
                    c.release();
                    released += 1;
                }
                _ => {}
            }
        }
    };
    let cycles = [
        Failure::Cut,
        Failure::Kill,
        Failure::Term,
        Failure::Cut,
        Failure::Kill,
    ];
    for (i, f) in cycles.iter().enumerate() {
        match f {
            Failure::Cut => cut_link(&lab, "a", false),
            Failure::Kill | Failure::Term => {
                let p = a.take().unwrap();
                p.signal(if *f == Failure::Kill {
                    lab::SIGKILL
                } else {
                    lab::SIGTERM
                })
                .unwrap();
                assert!(p.wait_exit(Duration::from_secs(3)).is_some());
                a_logs.push(p.logs());
            }
        }
        assert!(
            lab::wait_until(Duration::from_secs(3), || has_vip(lab.host("b"))),
            "cycle {i} ({f:?}): B did not take over:\n{}",
            b.logs()
        );
        poke(&clients, &mut rng);
        clients.push(Client::start(&lab, &joiners[i], Kind::Udhcpc));
        std::thread::sleep(Duration::from_millis(1500));
        poke(&clients, &mut rng);
        std::thread::sleep(Duration::from_millis(1000));
        match f {
            Failure::Cut => cut_link(&lab, "a", true),
            _ => a = Some(start(lab.host("a"), &ca)),
        }
        wait_vip_on(&lab, "a", Duration::from_secs(10));
        poke(&clients, &mut rng);
        std::thread::sleep(Duration::from_millis(2500));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let bound = clients.iter().filter(|c| c.bound()).count();
    drop(clients);
    let a_now = a.take().unwrap();
    a_now.signal(lab::SIGTERM).unwrap();
    b.signal(lab::SIGTERM).unwrap();
    a_now.wait_exit(Duration::from_secs(3));
    b.wait_exit(Duration::from_secs(3));
    a_logs.push(a_now.logs());

    let sent_a = assert_silent_while_not_active("A", &cap_a, &a_logs);
    let sent_b = assert_silent_while_not_active("B", &cap_b, &[b.logs()]);
    let dirs = [lab.dir().join("hq-a"), lab.dir().join("hq-b")];
    let leases = assert_no_duplicates(&dirs);
    for d in &dirs {
        let bad = store_history_conflicts(d);
        assert!(
            bad.is_empty(),
            "address handed to two clients:\n{}",
            bad.join("\n")
        );
    }
    eprintln!(
        "{TEST}: {} failovers and returns, {renewed} forced renewals, {released} releases, {} joiners; \
         {bound} clients bound at the end, {leases} active leases in the union; replies A {sent_a} B {sent_b}; \
         NAKs (all while Active) A {} B {}; run {:.1} s",
        cycles.len(),
        joiners.len(),
        naks(&cap_a).len(),
        naks(&cap_b).len(),
        t_start.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------
// DNS continuity
// ---------------------------------------------------------------------------

fn start_unbound(lab: &Lab, host: &Host) -> Proc {
    let conf = lab.dir().join("unbound.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n  interface: {UP}\n  port: 53\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n\
             \x20 directory: \"{}\"\n  pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n  verbosity: 1\n\
             \x20 num-threads: 1\n  access-control: 0.0.0.0/0 allow\n  do-ip6: no\n  module-config: \"iterator\"\n\
             \x20 local-zone: \"corp.test.\" static\n\
             \x20 local-data: \"corp.test. 3600 IN SOA ns.corp.test. admin.corp.test. 1 3600 600 86400 60\"\n\
             \x20 local-data: \"www.corp.test. 300 IN A 10.9.9.9\"\n",
            lab.dir().display()
        ),
    )
    .unwrap();
    let p = host.spawn(&["unbound", "-d", "-c", conf.to_str().unwrap()]);
    p.wait_for_log("start of service", Duration::from_secs(10));
    p
}

#[test]
fn dns_answers_on_the_vip_across_a_failover() {
    dns_continuity("ha_dns_continuity", Failure::Cut);
}

#[test]
fn dns_answers_on_the_vip_across_a_sigkill() {
    dns_continuity("ha_dns_cont_kill", Failure::Kill);
}

/// The DNS lab both continuity tests use: a pair forwarding to an
/// unbound upstream (`up`), and a query host `q`; A is Active. Also
/// returns A's config, to start it again.
fn dns_pair(test: &str) -> Option<(Lab, Proc, Proc, Proc, PathBuf)> {
    let mut lab = Lab::new(test)?;
    lab.add_host("a", &[A_ADDR]);
    lab.add_host("b", &[B_ADDR]);
    lab.add_host("up", &[UP_ADDR]);
    lab.add_host("q", &[Q_ADDR]);
    let up = start_unbound(&lab, lab.host("up"));
    let server = format!("server = {UP}");
    let (ca, cb) = pair_confs(&lab, &[&server]);
    let (a, b) = start_pair(&lab, &ca, &cb);
    Some((lab, up, a, b, ca))
}

fn dns_continuity(test: &str, failure: Failure) {
    if !lab::have_commands(test, &["unbound", "dig"]) || !lab::have_programs_at(test, &[PY]) {
        return;
    }
    let Some((lab, _up, a, b, ca)) = dns_pair(test) else {
        return;
    };
    let mut a = Some(a);
    let q = lab.host("q");
    let r = q.run(&[
        "dig",
        &format!("@{VIP}"),
        "+short",
        "+time=1",
        "www.corp.test",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&r.stdout).trim(),
        "10.9.9.9",
        "no forwarded answer through the VIP"
    );

    let ping = spawn_probe(q, &["ping", VIP, "0.01", "30"]);
    let dns = spawn_probe(q, &["dns", VIP, "www.corp.test", "0.01", "30"]);
    wait_probe(&ping, "reply", 50, Duration::from_secs(5));
    wait_probe(&dns, "answer", 50, Duration::from_secs(5));

    // A's link is cut: B takes over the VIP and answers DNS on it.
    let t_cut = epoch();
    match failure {
        Failure::Cut => cut_link(&lab, "a", false),
        _ => {
            let p = a.take().unwrap();
            p.signal(lab::SIGKILL).unwrap();
            p.wait_exit(Duration::from_secs(3));
        }
    }
    assert!(lab::wait_until(Duration::from_secs(3), || has_vip(
        lab.host("b")
    )));
    std::thread::sleep(Duration::from_millis(1000));
    // The link returns: A preempts, the VIP moves back.
    let t_back = epoch();
    match failure {
        Failure::Cut => cut_link(&lab, "a", true),
        _ => a = Some(start(lab.host("a"), &ca)),
    }
    wait_vip_on(&lab, "a", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1000));
    let t_end = epoch();
    stop_probe(&ping);
    stop_probe(&dns);

    let bad: Vec<String> = dns
        .logs()
        .lines()
        .filter(|l| l.starts_with("answer ") && !l.ends_with(" 0 10.9.9.9"))
        .map(str::to_string)
        .collect();
    assert!(bad.is_empty(), "wrong DNS answers:\n{}", bad.join("\n"));
    let pings = probe_times(&ping, "reply");
    let answers = probe_times(&dns, "answer");
    let mut report = Vec::new();
    for (what, from, to) in [("failure", t_cut, t_back), ("return", t_back, t_end)] {
        let ping_gap = gap_across(&pings, from, to).expect("no ping reply after the event");
        let dns_gap = gap_across(&answers, from, to).expect("no DNS answer after the event");
        // After SIGKILL the VIP stays on A's eth0 and A's kernel answers
        // the pings (not DNS: nothing listens) until B's gratuitous ARP:
        // the VIP is really gone from the kill until B holds it.
        let vip_gap = if failure == Failure::Kill && what == "failure" {
            let b_active =
                log_event_after(&b.logs(), "role=active", t_cut).expect("B never went Active");
            ping_gap.max(b_active - t_cut + 0.01)
        } else {
            ping_gap
        };
        eprintln!(
            "{test}: {what}: VIP gap {:.0} ms (ping gap {:.0} ms), DNS answer gap {:.0} ms (both every 10 ms)",
            vip_gap * 1e3,
            ping_gap * 1e3,
            dns_gap * 1e3
        );
        report.push((what, vip_gap, dns_gap));
    }
    for (what, vip_gap, dns_gap) in report {
        assert!(
            dns_gap <= vip_gap + 0.05,
            "{what}: DNS gap {:.0} ms > VIP gap {:.0} ms + 50 ms",
            dns_gap * 1e3,
            vip_gap * 1e3
        );
    }
    drop((a, b));
}

// ---------------------------------------------------------------------------
// Split brain
// ---------------------------------------------------------------------------

/// A udhcpc one-shot lease; returns the address (busybox udhcpc takes the
/// first OFFER, whichever box sent it).
fn udhcpc_once(lab: &Lab, host: &str) -> Option<String> {
    let rec = lab.dir().join(format!("{host}.urec"));
    let script = lab.dir().join(format!("{host}.ush"));
    lab::write_script(
        &script,
        &format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip\" >> {}\nexit 0\n",
            rec.display()
        ),
    );
    lab.host(host).run_timeout(
        &lab::udhcpc_argv(&script, "4", "1", &[]),
        Duration::from_secs(20),
    );
    read(&rec).lines().last().map(str::to_string)
}

#[test]
fn split_brain_hands_out_no_address_twice_and_heals_to_one_active() {
    if !lab::have_commands("ha_split_brain", &["nft", "udhcpc"]) {
        return;
    }
    let Some(mut lab) = Lab::new("ha_split_brain") else {
        return;
    };
    lab.add_host("a", &[A_ADDR]);
    lab.add_host("b", &[B_ADDR]);
    let names: Vec<String> = (0..6).map(|i| format!("s{i}")).collect();
    for n in &names {
        lab.add_host(n, &[]);
    }
    let (ca, cb) = pair_confs(&lab, &[]);
    let a = start(lab.host("a"), &ca);
    a.wait_for_log("role=active", Duration::from_secs(5));
    let b = start(lab.host("b"), &cb);
    b.wait_for_log("role=backup", Duration::from_secs(5));

    // Block VRRP (IP protocol 112) in both directions: both become Active.
    for h in ["a", "b"] {
        lab.host(h).sh_ok("nft add table inet split && nft 'add chain inet split in { type filter hook input priority 0; }' && nft add rule inet split in ip protocol 112 drop");
    }
    b.wait_role("lan", "active", Duration::from_secs(3));
    assert!(has_vip(lab.host("a")) && has_vip(lab.host("b")));

    // During the split both answer, each from its own range only.
    let mut got = Vec::new();
    for n in &names {
        if let Some(ip) = udhcpc_once(&lab, n) {
            got.push(ip);
        }
    }
    assert!(
        got.len() >= 4,
        "clients got too few leases during the split: {got:?}"
    );
    let mut uniq = got.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(
        uniq.len(),
        got.len(),
        "an address was handed out twice: {got:?}"
    );
    for (box_log, range) in [(a.logs(), A_RANGE), (b.logs(), B_RANGE)] {
        for l in box_log.lines().filter(|l| l.contains("msg=offer")) {
            let ip = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("ip="))
                .unwrap_or("");
            assert!(
                in_range(ip, range),
                "offer outside the box's own range: {l}"
            );
        }
        assert!(
            !box_log.contains("msg=nak"),
            "a NAK during the split:\n{box_log}"
        );
    }

    // Heal: within one advert interval plus skew, exactly one Active (a).
    for h in ["a", "b"] {
        lab.host(h)
            .run_ok(&["nft", "delete", "table", "inet", "split"]);
    }
    let t0 = Instant::now();
    assert!(
        lab::wait_until(Duration::from_secs(3), || !has_vip(lab.host("b"))),
        "b kept the VIP after the heal"
    );
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(600),
        "heal took {took:?} (advert 100 ms + skew)"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(has_vip(lab.host("a")) && !has_vip(lab.host("b")));
    a.signal(lab::SIGTERM).unwrap();
    b.signal(lab::SIGTERM).unwrap();
    a.wait_exit(Duration::from_secs(3));
    b.wait_exit(Duration::from_secs(3));
    assert_no_duplicates(&[lab.dir().join("hq-a"), lab.dir().join("hq-b")]);
}

// ---------------------------------------------------------------------------
// Two VRRP instances: each subnet follows its own
// ---------------------------------------------------------------------------

const GUEST_VIP: &str = "192.168.78.1";
const GUEST_A: (&str, &str) = ("192.168.78.20", "192.168.78.119");
const GUEST_B: (&str, &str) = ("192.168.78.120", "192.168.78.219");

/// A box on the LAN (eth0, `[vrrp lan]` first in the file) and a guest
/// segment (eth1, `[vrrp guest]`), split scope on both.
fn two_instance_conf(lab: &Lab, name: &str, lan_prio: u8, guest_prio: u8) -> PathBuf {
    let (lan_own, lan_peer, g_own, g_peer) = if name == "a" {
        (A_RANGE, B_RANGE, GUEST_A, GUEST_B)
    } else {
        (B_RANGE, A_RANGE, GUEST_B, GUEST_A)
    };
    let dir = lab.dir().join(format!("hq-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("hamasq.conf");
    let vrrp = |inst: &str, ifname: &str, vrid: u8, prio: u8, vip: &str| {
        format!(
            "[vrrp {inst}]\ninterface = {ifname}\nvirtual-router-id = {vrid}\npriority = {prio}\n\
             advert-int = {ADVERT}\nvirtual-ipaddress = {vip}/24\ngarp-master-delay = 0\n\n"
        )
    };
    std::fs::write(
        &p,
        format!(
            "[general]\npid-file = none\nstate-dir = {}\nlog-level = debug\n\n\
             [dhcp]\ninterface = eth0\ninterface = eth1\n\
             dhcp-range = {},{},{LEASE}\ndhcp-peer-range = {},{}\n\
             dhcp-range = {},{},{LEASE}\ndhcp-peer-range = {},{}\nlog-dhcp = true\n\n{}{}",
            dir.join("state").display(),
            lan_own.0,
            lan_own.1,
            lan_peer.0,
            lan_peer.1,
            g_own.0,
            g_own.1,
            g_peer.0,
            g_peer.1,
            vrrp("lan", "eth0", 51, lan_prio, VIP),
            vrrp("guest", "eth1", 52, guest_prio, GUEST_VIP),
        ),
    )
    .unwrap();
    p
}

/// How many `vrrp.state` lines of `instance` a box has logged.
fn state_changes(p: &Proc, instance: &str) -> usize {
    p.logs()
        .matches(&format!("vrrp.state instance={instance} "))
        .count()
}

#[test]
fn each_subnet_follows_its_own_vrrp_instance() {
    if !lab::have_commands("ha_two_instances", &["udhcpc"]) {
        return;
    }
    // Two segments: the LAN (this lab's bridge) and a guest segment (a
    // second lab's bridge). Both boxes have eth0 on the LAN and eth1 on
    // the guest segment; A is preferred on the LAN, B on the guest one.
    let Some(mut lan) = Lab::new("ha_two_instances_lan") else {
        return;
    };
    let Some(mut guest) = Lab::new("ha_two_instances_guest") else {
        return;
    };
    lan.add_host("a", &[A_ADDR]);
    lan.add_host("b", &[B_ADDR]);
    for c in ["c1", "c2", "c3", "c4"] {
        lan.add_host(c, &[]);
    }
    for g in ["g1", "g2", "g3", "g4"] {
        guest.add_host(g, &[]);
    }
    guest.attach(lan.host("a").ns(), "a", "eth1", &["192.168.78.2/24"]);
    let b_guest_port = guest.attach(lan.host("b").ns(), "b", "eth1", &["192.168.78.3/24"]);
    let ca = two_instance_conf(&lan, "a", A_PRIO, B_PRIO);
    let cb = two_instance_conf(&lan, "b", B_PRIO, A_PRIO);
    let (a, b) = start_pair(&lan, &ca, &cb);
    b.wait_role("guest", "active", Duration::from_secs(5));
    a.wait_role("guest", "backup", Duration::from_secs(5));
    let lan_changes = (state_changes(&a, "lan"), state_changes(&b, "lan"));

    // A answers the LAN, B the guest segment: each from its own range.
    let lease = |lab: &Lab, host: &str| {
        udhcpc_once(lab, host).unwrap_or_else(|| {
            panic!(
                "{host} got no lease\n--- a ---\n{}\n--- b ---\n{}",
                a.logs(),
                b.logs()
            )
        })
    };
    let c1 = lease(&lan, "c1");
    assert!(in_range(&c1, A_RANGE), "LAN client got {c1}, not from A");
    let g1 = lease(&guest, "g1");
    assert!(
        in_range(&g1, GUEST_B),
        "guest client got {g1}, not from B (the guest instance's Active)"
    );

    // B's guest link goes down or up; waits for A's next guest `role`.
    let b_guest_link = |up: bool, a_role: &str| {
        let line = format!("vrrp.state instance=guest role={a_role}");
        let before = a.logs().matches(&line).count();
        let state = if up { "up" } else { "down" };
        guest
            .bridge()
            .run_ok(&["ip", "link", "set", &b_guest_port, state]);
        a.wait_for_log_count(&line, before + 1, Duration::from_secs(5));
    };

    // The guest instance fails over to A (B's guest link is cut); the LAN
    // instance stays where it is.
    b_guest_link(false, "active");
    let g2 = lease(&guest, "g2");
    assert!(in_range(&g2, GUEST_A), "guest client got {g2}, not from A");
    let c2 = lease(&lan, "c2");
    assert!(in_range(&c2, A_RANGE), "LAN client got {c2}, not from A");

    // B comes back on the guest segment and takes it over again (higher
    // priority, preempt); the LAN is still A's.
    b_guest_link(true, "backup");
    let g3 = lease(&guest, "g3");
    assert!(in_range(&g3, GUEST_B), "guest client got {g3}, not from B");
    let c3 = lease(&lan, "c3");
    assert!(in_range(&c3, A_RANGE), "LAN client got {c3}, not from A");

    // The LAN instance never moved, and no box NAKed anyone.
    assert_eq!(
        (state_changes(&a, "lan"), state_changes(&b, "lan")),
        lan_changes,
        "the LAN instance changed role while the guest one failed over"
    );
    for (who, p) in [("a", &a), ("b", &b)] {
        assert!(!p.logs().contains("msg=nak"), "{who} sent a NAK");
    }

    // SIGHUP on A with its [vrrp] sections swapped: VRRP changes need a
    // restart (said so in the log), and DHCP keeps following the instances
    // that run, not the new file's order.
    let text = read(&ca);
    let (lan_at, guest_at) = (
        text.find("[vrrp lan]").unwrap(),
        text.find("[vrrp guest]").unwrap(),
    );
    std::fs::write(
        &ca,
        format!(
            "{}{}\n{}",
            &text[..lan_at],
            &text[guest_at..],
            &text[lan_at..guest_at]
        ),
    )
    .unwrap();
    let reloads = a.logs().matches("config.reloaded").count();
    a.signal(lab::SIGHUP).unwrap();
    a.wait_for_log_count("config.reloaded", reloads + 1, Duration::from_secs(5));
    assert!(
        a.logs()
            .contains("section=vrrp note=\"[vrrp] changes take effect at the next start\""),
        "no restart warning for the changed [vrrp] sections"
    );
    let c4 = lease(&lan, "c4");
    assert!(
        in_range(&c4, A_RANGE),
        "after SIGHUP LAN client got {c4}, not from A"
    );
    let g4 = lease(&guest, "g4");
    assert!(
        in_range(&g4, GUEST_B),
        "after SIGHUP guest client got {g4}, not from B"
    );
    println!(
        "two instances: LAN {c1} {c2} {c3} {c4} from A; guest {g1} (B), {g2} (A, failed over), {g3} (B again), {g4} (B, after SIGHUP)"
    );
    a.signal(lab::SIGTERM).unwrap();
    b.signal(lab::SIGTERM).unwrap();
    a.wait_exit(Duration::from_secs(3));
    b.wait_exit(Duration::from_secs(3));
    assert_no_duplicates(&[lan.dir().join("hq-a"), lan.dir().join("hq-b")]);
}

// ---------------------------------------------------------------------------
// A frozen Active (issue 13 item 6)
// ---------------------------------------------------------------------------

/// One DNS query from `q` as a new client would send it: `q`'s neighbour
/// entry for the VIP flushed first, so the VIP's MAC is asked by ARP now,
/// and whichever box answers the ARP gets the query. One try, 1 s.
fn fresh_client_query(q: &Host) -> bool {
    q.run(&["ip", "neigh", "flush", "dev", "eth0"]);
    let r = q.run(&[
        "dig",
        &format!("@{VIP}"),
        "+short",
        "+time=1",
        "+tries=1",
        "www.corp.test",
    ]);
    String::from_utf8_lossy(&r.stdout).trim() == "10.9.9.9"
}

/// SIGSTOP on the Active A: B takes over after Master_Down_Interval; A's
/// kernel removes the VIP on its own when its lifetime (auto: 2 s at
/// 100 ms adverts) runs out unrefreshed, so from then on every new client
/// reaches DNS on B, with zero failures. SIGCONT: A finds its VIP lapsed,
/// steps down (`vrrp.vip_lapsed`) without announcing the address, then
/// preempts B as the higher priority (RFC 9568 §6.4.2); exactly one box
/// holds the VIP, and new clients reach DNS through it.
#[test]
fn a_frozen_active_loses_the_vip_and_new_clients_reach_the_new_one() {
    let test = "ha_frozen_active";
    if !lab::have_commands(test, &["unbound", "dig"]) {
        return;
    }
    let Some((lab, _up, a, b, _)) = dns_pair(test) else {
        return;
    };
    wait_vip_on(&lab, "a", Duration::from_secs(3));
    let q = lab.host("q");
    assert!(fresh_client_query(q), "no answer through the VIP on A");
    // The VIP carries a lifetime on A (not "forever").
    let show = String::from_utf8_lossy(
        &lab.host("a")
            .run_ok(&["ip", "-4", "addr", "show", "dev", "eth0"])
            .stdout,
    )
    .to_string();
    assert!(
        show.contains("valid_lft 2sec") || show.contains("valid_lft 1sec"),
        "{show}"
    );

    // Freeze A.
    let t_stop = Instant::now();
    a.signal(lab::SIGSTOP).unwrap();
    b.wait_role("lan", "active", Duration::from_secs(3));
    // A's kernel drops the VIP by itself: lifetime plus the kernel's
    // one-second check granularity, bounded generously.
    wait_vip_on(&lab, "b", Duration::from_secs(6));
    eprintln!(
        "{test}: the VIP was gone from the frozen A {:.0} ms after SIGSTOP",
        t_stop.elapsed().as_secs_f64() * 1e3
    );
    // From here on, new clients: 30 queries, each after a neighbour
    // flush, must all be answered (by B).
    let mut failed = 0;
    for _ in 0..30 {
        if !fresh_client_query(q) {
            failed += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(failed, 0, "new clients failed with A frozen, its VIP gone");
    assert!(!has_vip(lab.host("a")), "the frozen A got the VIP back");

    // Thaw A: it finds its VIP lapsed, steps down, then preempts B.
    a.signal(lab::SIGCONT).unwrap();
    a.wait_for_log("vrrp.vip_lapsed", Duration::from_secs(3));
    let log = a.logs();
    let lapsed_at = log.find("vrrp.vip_lapsed").unwrap();
    // Its first word after the lapse is a step-down, not Active.
    let after = &log[lapsed_at..];
    let first_state = after
        .lines()
        .find(|l| l.contains("vrrp.state"))
        .unwrap_or_default();
    assert!(first_state.contains("role=backup"), "{after}");
    a.wait_for_log_count(
        "vrrp.state instance=lan role=active",
        2,
        Duration::from_secs(5),
    );
    wait_vip_on(&lab, "a", Duration::from_secs(3));
    // Exactly one box holds it, and stays so.
    for _ in 0..20 {
        let (ha, hb) = (has_vip(lab.host("a")), has_vip(lab.host("b")));
        assert!(ha && !hb, "a holds: {ha}, b holds: {hb}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut failed = 0;
    for _ in 0..10 {
        if !fresh_client_query(q) {
            failed += 1;
        }
    }
    assert_eq!(failed, 0, "new clients failed after A returned");
    drop((a, b));
}
