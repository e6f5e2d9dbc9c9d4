//! DNS end to end in the network-namespace lab: hamasq forwarding to real
//! upstreams (Debian's `unbound` serving local zones, started by each test
//! in its own namespace), queried with `dig` from a client namespace.
//!
//! Lab: `srv` 10.77.0.1 (the server under test), `up1` 10.77.0.2,
//! `up2` 10.77.0.3 and `up3` 10.77.0.4 (unbound), `fake` 10.77.0.5 (a
//! forging fake upstream, `tests/dns_e2e/fake_upstream.py`), `cli`
//! 10.77.0.10 (dig), `dh` (a DHCP client). Upstream query counts come from
//! unbound's query log (`log-queries`), TCP use from nftables counters in
//! the upstream's namespace.
//!
//! The server under test is hamasq. The same scenarios run against
//! Debian's dnsmasq (the reference they were written against: hamasq's
//! `[dns]` keys are dnsmasq's option names) with
//! `HAMASQ_DNS_E2E_SERVER=dnsmasq`; dnsmasq 2.90 passes all but
//! `truncated_upstream_answer_is_retried_over_tcp` (it hands the TC answer
//! to the client instead) and `fails_over_when_an_upstream_dies` (see
//! there).

mod lab;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use lab::{Host, Lab, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");

const SRV: &str = "10.77.0.1";
const UP1: &str = "10.77.0.2";
const UP2: &str = "10.77.0.3";
const UP3: &str = "10.77.0.4";
const FAKE: &str = "10.77.0.5";
const CLI: &str = "10.77.0.10";

/// Programs every test here needs (contrib/run-tests installs them).
const TOOLS: &[&str] = &["unbound", "dig", "ss"];

// ---------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Hamasq,
    Dnsmasq,
}

fn kind() -> Kind {
    match std::env::var("HAMASQ_DNS_E2E_SERVER").as_deref() {
        Ok("dnsmasq") => Kind::Dnsmasq,
        Ok("") | Ok("hamasq") | Err(_) => Kind::Hamasq,
        Ok(other) => panic!("HAMASQ_DNS_E2E_SERVER={other:?}: use hamasq or dnsmasq"),
    }
}

struct Server {
    proc: Proc,
    kind: Kind,
}

impl Server {
    fn hup(&self) {
        self.proc.signal(lab::SIGHUP).expect("SIGHUP the server");
    }
}

/// `key = value` or a bare `key` (a flag, `true`): one dnsmasq-named option.
fn split_opt(o: &str) -> (&str, Option<&str>) {
    match o.split_once('=') {
        Some((k, v)) => (k.trim(), Some(v.trim())),
        None => (o.trim(), None),
    }
}

/// Starts the server under test in `host` with the `[dns]` options `dns`
/// (and `[dhcp]` options `dhcp`), `no-resolv` always, and waits until it
/// listens on port 53 over UDP and TCP.
fn start_server(lab: &Lab, host: &Host, dns: &[&str], dhcp: &[&str]) -> Server {
    let kind = kind();
    let dir = lab.dir().join(format!("srv-{}", host.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let proc = match kind {
        Kind::Hamasq => {
            let mut conf = format!(
                "[general]\npid-file = none\nstate-dir = {}\nlog-level = debug\n\n[dns]\nno-resolv = true\n",
                dir.join("state").display()
            );
            for o in dns {
                let (k, v) = split_opt(o);
                conf.push_str(&format!("{k} = {}\n", v.unwrap_or("true")));
            }
            if !dhcp.is_empty() {
                conf.push_str("\n[dhcp]\n");
                for o in dhcp {
                    let (k, v) = split_opt(o);
                    conf.push_str(&format!("{k} = {}\n", v.unwrap_or("true")));
                }
            }
            let path = dir.join("hamasq.conf");
            std::fs::write(&path, conf).unwrap();
            let p = host.spawn(&[BIN, "--foreground", "-c", path.to_str().unwrap()]);
            p.wait_for_log("daemon.ready", Duration::from_secs(10));
            p
        }
        Kind::Dnsmasq => {
            // The same lines in a dnsmasq config file (same grammar, quotes
            // included), plus what the hamasq side gets from [general].
            let mut conf = String::from("no-resolv\nlog-queries\nuser=root\ngroup=root\n");
            if !dhcp.is_empty() {
                conf.push_str(&format!(
                    "dhcp-leasefile={}\n",
                    dir.join("dnsmasq.leases").display()
                ));
            }
            for o in dns.iter().chain(dhcp) {
                match split_opt(o) {
                    (k, Some(v)) => conf.push_str(&format!("{k}={v}\n")),
                    (k, None) => conf.push_str(&format!("{k}\n")),
                }
            }
            let path = dir.join("dnsmasq.conf");
            std::fs::write(&path, conf).unwrap();
            let conf_arg = format!("--conf-file={}", path.display());
            host.spawn(&["/usr/sbin/dnsmasq", "--no-daemon", "--pid-file=", &conf_arg])
        }
    };
    let ok = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        let out = host.run(&["ss", "-Hlntu", "sport = :53"]);
        let s = String::from_utf8_lossy(&out.stdout);
        s.contains("udp") && s.contains("tcp")
    });
    assert!(
        ok && proc.is_running(),
        "{kind:?} does not listen on port 53 (UDP and TCP) within 10 s:\n{}",
        proc.logs()
    );
    Server { proc, kind }
}

// ---------------------------------------------------------------------------
// Upstreams
// ---------------------------------------------------------------------------

/// An unbound instance serving local zones, logging every query it gets.
struct Upstream {
    proc: Proc,
    name: String,
}

/// `lab.example`: the names most tests query, an SOA for negative answers
/// (negative TTL 60), a 120-address RRset (1964 bytes: over 1232, so
/// truncated over UDP), private addresses for the rebind tests.
fn lab_zone() -> String {
    let mut z = String::from(
        "local-zone: \"lab.example.\" static\n\
         local-data: \"lab.example. 3600 IN SOA ns.lab.example. admin.lab.example. 1 3600 600 86400 60\"\n\
         local-data: \"www.lab.example. 300 IN A 10.77.1.1\"\n\
         local-data: \"rebind.lab.example. 300 IN A 192.168.1.50\"\n\
         local-data: \"loop.lab.example. 300 IN A 127.0.0.2\"\n\
         local-data: \"pub.lab.example. 300 IN A 93.184.216.34\"\n\
         local-zone: \"ok.example.\" static\n\
         local-data: \"ok.example. 3600 IN SOA ns.ok.example. admin.ok.example. 1 3600 600 86400 60\"\n\
         local-data: \"intra.ok.example. 300 IN A 192.168.1.51\"\n\
         local-zone: \"1.168.192.in-addr.arpa.\" static\n\
         local-data: \"5.1.168.192.in-addr.arpa. 300 IN PTR leak.lab.example.\"\n",
    );
    for i in 0..10 {
        z.push_str(&format!(
            "local-data: \"f{i}.lab.example. 300 IN A 10.77.4.{}\"\n",
            i + 1
        ));
    }
    for name in ["big", "big2"] {
        for i in 1..=120 {
            z.push_str(&format!(
                "local-data: \"{name}.lab.example. 300 IN A 10.78.0.{i}\"\n"
            ));
        }
    }
    z
}

/// `other.example` with `a.other.example` at `addr`.
fn other_zone(addr: &str) -> String {
    format!(
        "local-zone: \"other.example.\" static\n\
         local-data: \"other.example. 3600 IN SOA ns.other.example. admin.other.example. 1 3600 600 86400 60\"\n\
         local-data: \"a.other.example. 300 IN A {addr}\"\n"
    )
}

fn start_unbound(lab: &Lab, host: &Host, port: u16, zones: &str) -> Upstream {
    let ip = host.ip();
    let conf = lab.dir().join(format!("unbound-{}.conf", host.name()));
    std::fs::write(
        &conf,
        format!(
            "server:\n\
             \x20 interface: {ip}\n\
             \x20 port: {port}\n\
             \x20 do-daemonize: no\n\
             \x20 username: \"\"\n\
             \x20 chroot: \"\"\n\
             \x20 directory: \"{dir}\"\n\
             \x20 pidfile: \"\"\n\
             \x20 use-syslog: no\n\
             \x20 logfile: \"\"\n\
             \x20 verbosity: 1\n\
             \x20 log-queries: yes\n\
             \x20 num-threads: 1\n\
             \x20 access-control: 0.0.0.0/0 allow\n\
             \x20 do-ip6: no\n\
             \x20 module-config: \"iterator\"\n\
             {zones}",
            dir = lab.dir().display(),
            zones = zones
                .lines()
                .map(|l| format!("  {l}\n"))
                .collect::<String>()
        ),
    )
    .unwrap();
    let proc = host.spawn(&["unbound", "-d", "-c", conf.to_str().unwrap()]);
    proc.wait_for_log("start of service", Duration::from_secs(10));
    Upstream {
        proc,
        name: host.name().to_string(),
    }
}

impl Upstream {
    /// How many queries for `name` (no trailing dot) of type `qtype` this
    /// upstream has received (UDP and TCP alike).
    fn seen(&self, name: &str, qtype: &str) -> usize {
        self.proc
            .logs()
            .matches(&format!(" {name}. {qtype} IN\n"))
            .count()
    }

    /// Whether the upstream ever received a query mentioning `fragment`.
    fn saw_any(&self, fragment: &str) -> bool {
        self.proc
            .logs()
            .lines()
            .any(|l| l.contains(" info: ") && l.contains(fragment))
    }
}

/// Counts TCP SYNs to port 53 arriving in `host` (nft table `dnse2e`).
fn count_tcp_syns(host: &Host) {
    host.sh_ok(
        "nft add table inet dnse2e && \
         nft add chain inet dnse2e in '{ type filter hook input priority 0; }' && \
         nft add rule inet dnse2e in tcp dport 53 tcp flags syn counter",
    );
}

fn tcp_syns(host: &Host) -> u64 {
    let out = host.sh_ok("nft list chain inet dnse2e in");
    let s = String::from_utf8_lossy(&out.stdout);
    s.split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// dig
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Rr {
    name: String,
    ttl: u32,
    rtype: String,
    data: String,
}

#[derive(Debug)]
struct Reply {
    /// NOERROR, NXDOMAIN, ... or TIMEOUT when dig got no answer.
    status: String,
    flags: Vec<String>,
    answer: Vec<Rr>,
    authority: Vec<Rr>,
    text: String,
}

impl Reply {
    fn data(&self, rtype: &str) -> Vec<String> {
        self.answer
            .iter()
            .filter(|r| r.rtype == rtype)
            .map(|r| r.data.clone())
            .collect()
    }
    fn a(&self) -> Vec<String> {
        self.data("A")
    }
    fn tc(&self) -> bool {
        self.flags.iter().any(|f| f == "tc")
    }
    fn first_ttl(&self) -> u32 {
        self.answer.first().map(|r| r.ttl).unwrap_or(u32::MAX)
    }
}

fn parse_rr(line: &str) -> Option<Rr> {
    let mut w = line.split_whitespace();
    let name = w.next()?.to_string();
    let ttl = w.next()?.parse().ok()?;
    let _class = w.next()?;
    let rtype = w.next()?.to_string();
    let data = w.collect::<Vec<_>>().join(" ");
    Some(Rr {
        name,
        ttl,
        rtype,
        data,
    })
}

fn parse_dig(text: String) -> Reply {
    let mut status = "TIMEOUT".to_string();
    let mut flags = Vec::new();
    let (mut answer, mut authority) = (Vec::new(), Vec::new());
    let mut section = "";
    for line in text.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            status = rest.split(',').next().unwrap_or("").to_string();
        } else if let Some(rest) = line.strip_prefix(";; flags:") {
            flags = rest
                .split(';')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect();
        } else if line.starts_with(";; ") && line.ends_with(" SECTION:") {
            section = if line.contains("ANSWER") {
                "answer"
            } else if line.contains("AUTHORITY") {
                "authority"
            } else {
                ""
            };
        } else if line.trim().is_empty() {
            section = "";
        } else if !line.starts_with(';') {
            let rr = parse_rr(line);
            match (section, rr) {
                ("answer", Some(rr)) => answer.push(rr),
                ("authority", Some(rr)) => authority.push(rr),
                _ => {}
            }
        }
    }
    Reply {
        status,
        flags,
        answer,
        authority,
        text,
    }
}

/// `dig @server ARGS` from `cli` (2 s per try, 2 tries unless ARGS say
/// otherwise).
fn dig_at(cli: &Host, server: &str, args: &[&str]) -> Reply {
    let at = format!("@{server}");
    let mut argv = vec!["dig", at.as_str(), "+time=2", "+tries=2"];
    argv.extend_from_slice(args);
    let out = cli.run_timeout(&argv, Duration::from_secs(40));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    parse_dig(text)
}

fn dig(cli: &Host, args: &[&str]) -> Reply {
    dig_at(cli, SRV, args)
}

/// Calls `cond` every `every` until it holds or `timeout` passes.
fn poll(timeout: Duration, every: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(every);
    }
}

#[track_caller]
fn expect_a(r: &Reply, want: &[&str]) {
    expect_answer(r, "A", want);
}

/// NOERROR with exactly `want` as the `rtype` data, from the address asked
/// (dig notes a reply from another address as "unexpected source").
#[track_caller]
fn expect_answer(r: &Reply, rtype: &str, want: &[&str]) {
    let mut got = r.data(rtype);
    got.sort();
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert!(
        r.status == "NOERROR" && got == want,
        "expected NOERROR with {rtype} {want:?}, got {} {got:?}:\n{}",
        r.status,
        r.text
    );
    assert!(
        !r.text.contains("unexpected source"),
        "reply from another address than the one asked:\n{}",
        r.text
    );
}

/// Lab with the server under test, a client and the named upstream hosts.
fn lab_with(test: &str, upstreams: &[(&str, &str)]) -> Option<Lab> {
    if !lab::have_commands(test, TOOLS) {
        return None;
    }
    let mut lab = Lab::new(test)?;
    lab.add_host("srv", &[&format!("{SRV}/24")]);
    lab.add_host("cli", &[&format!("{CLI}/24")]);
    for (name, ip) in upstreams {
        lab.add_host(name, &[&format!("{ip}/24")]);
    }
    Some(lab)
}

/// `tests/dns_e2e/fake_upstream.py` on host `fake`: the genuine answer
/// (A 192.0.2.7) `delay_ms` after each query, forgeries (198.51.100.N)
/// first for the names that ask for them.
fn start_fake_upstream(lab: &Lab, delay_ms: u32) -> Proc {
    start_fake_upstream_at(lab, FAKE, delay_ms)
}

/// [`start_fake_upstream`] listening on `listen` (IPv6 too, a link-local
/// one as `fe80::5%eth0`).
fn start_fake_upstream_at(lab: &Lab, listen: &str, delay_ms: u32) -> Proc {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dns_e2e/fake_upstream.py");
    let delay = delay_ms.to_string();
    let fake = lab.host("fake").spawn(&[
        "/usr/bin/python3",
        script.to_str().unwrap(),
        listen,
        &delay,
        "192.0.2.7",
        "198.51.100",
    ]);
    fake.wait_for_log("fake-upstream ready", Duration::from_secs(10));
    fake
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

// ---------------------------------------------------------------------------
// Forwarding and caching
// ---------------------------------------------------------------------------

/// A forwarded answer is cached: the second answer comes with a lower TTL
/// and the upstream sees one query; NXDOMAIN (with the zone's SOA, TTL <=
/// its negative TTL) and NODATA are cached too.
#[test]
fn forwards_caches_and_counts_down_ttl() {
    let Some(lab) = lab_with("dns_forward_cache", &[("up1", UP1)]) else {
        return;
    };
    let up = start_unbound(&lab, lab.host("up1"), 53, &lab_zone());
    let _srv = start_server(
        &lab,
        lab.host("srv"),
        &[&format!("server = {UP1}"), "cache-size = 500"],
        &[],
    );
    let cli = lab.host("cli");

    let first = dig(cli, &["www.lab.example"]);
    expect_a(&first, &["10.77.1.1"]);
    assert!(
        (290..=300).contains(&first.first_ttl()),
        "first answer TTL {}:\n{}",
        first.first_ttl(),
        first.text
    );
    let mut second = None;
    let lower = poll(Duration::from_secs(5), Duration::from_millis(300), || {
        let r = dig(cli, &["www.lab.example"]);
        let done = r.first_ttl() < first.first_ttl();
        second = Some(r);
        done
    });
    let second = second.unwrap();
    assert!(
        lower,
        "the cached TTL never went below {} within 5 s:\n{}",
        first.first_ttl(),
        second.text
    );
    expect_a(&second, &["10.77.1.1"]);
    assert_eq!(
        up.seen("www.lab.example", "A"),
        1,
        "upstream queries for www.lab.example (want 1):\n{}",
        up.proc.logs()
    );

    // Negative answers: NXDOMAIN with the SOA, cached.
    let nx = dig(cli, &["nx.lab.example"]);
    assert_eq!(nx.status, "NXDOMAIN", "{}", nx.text);
    let soa = nx.authority.iter().find(|r| r.rtype == "SOA");
    assert!(
        soa.is_some_and(|s| s.name == "lab.example." && s.ttl <= 60),
        "NXDOMAIN without the zone SOA (TTL <= 60):\n{}",
        nx.text
    );
    let nx2 = dig(cli, &["nx.lab.example"]);
    assert_eq!(nx2.status, "NXDOMAIN", "{}", nx2.text);
    assert_eq!(up.seen("nx.lab.example", "A"), 1, "{}", up.proc.logs());

    // NODATA (the name exists, no AAAA): cached as well.
    for _ in 0..2 {
        let r = dig(cli, &["AAAA", "www.lab.example"]);
        assert!(r.status == "NOERROR" && r.answer.is_empty(), "{}", r.text);
    }
    assert_eq!(up.seen("www.lab.example", "AAAA"), 1, "{}", up.proc.logs());
}

/// `server = /domain/IP#port` sends that domain (and only it) to its own
/// upstream; everything else goes to the default server.
#[test]
fn per_domain_server_routes_to_its_upstream() {
    let Some(lab) = lab_with("dns_per_domain", &[("up1", UP1), ("up2", UP2)]) else {
        return;
    };
    // up1 also has other.example, with a different address: a leak shows.
    let up1 = start_unbound(
        &lab,
        lab.host("up1"),
        53,
        &format!("{}{}", lab_zone(), other_zone("10.77.2.1")),
    );
    let up2 = start_unbound(&lab, lab.host("up2"), 5353, &other_zone("10.77.3.1"));
    let _srv = start_server(
        &lab,
        lab.host("srv"),
        &[
            &format!("server = {UP1}"),
            &format!("server = /other.example/{UP2}#5353"),
        ],
        &[],
    );
    let cli = lab.host("cli");

    expect_a(&dig(cli, &["a.other.example"]), &["10.77.3.1"]);
    expect_a(&dig(cli, &["www.lab.example"]), &["10.77.1.1"]);
    assert_eq!(up2.seen("a.other.example", "A"), 1, "{}", up2.proc.logs());
    assert!(
        !up1.saw_any("other.example"),
        "{}: other.example went to the default upstream:\n{}",
        up1.name,
        up1.proc.logs()
    );
    assert!(
        !up2.saw_any("lab.example"),
        "{}: lab.example went to the per-domain upstream:\n{}",
        up2.name,
        up2.proc.logs()
    );
}

/// Two upstreams; the one that answered is killed: the next new name is
/// answered, by the other, within a client's retry budget (dig: 3 tries of
/// 2 s, each from a new source port), and later names at the first try.
/// The forwarder itself must retry elsewhere: dnsmasq 2.90 fails this (it
/// re-forwards to every server only a retransmission with the same source
/// port and ID, or ~20 s later).
#[test]
fn fails_over_when_an_upstream_dies() {
    let Some(lab) = lab_with("dns_failover", &[("up1", UP1), ("up3", UP3)]) else {
        return;
    };
    let up1 = start_unbound(&lab, lab.host("up1"), 53, &lab_zone());
    let up3 = start_unbound(&lab, lab.host("up3"), 53, &lab_zone());
    let _srv = start_server(
        &lab,
        lab.host("srv"),
        &[&format!("server = {UP1}"), &format!("server = {UP3}")],
        &[],
    );
    let cli = lab.host("cli");

    expect_a(&dig(cli, &["f0.lab.example"]), &["10.77.4.1"]);
    let (dead, alive) = if up1.seen("f0.lab.example", "A") > 0 {
        (&up1, &up3)
    } else {
        (&up3, &up1)
    };
    dead.proc.kill();

    // The first name after the death: 3 tries of 2 s are enough.
    let t0 = Instant::now();
    let r = dig(cli, &["+tries=3", "f1.lab.example"]);
    expect_a(&r, &["10.77.4.2"]);
    assert!(
        t0.elapsed() < Duration::from_secs(7),
        "failover took {:?}",
        t0.elapsed()
    );
    assert!(
        alive.seen("f1.lab.example", "A") >= 1,
        "{}",
        alive.proc.logs()
    );
    // Then the live upstream is used at once: each name at the first try.
    for i in 2..6 {
        let r = dig(cli, &["+tries=1", &format!("f{i}.lab.example")]);
        expect_a(&r, &[&format!("10.77.4.{}", i + 1)]);
    }
}

// ---------------------------------------------------------------------------
// TCP
// ---------------------------------------------------------------------------

/// An answer over 1232 bytes: truncated (TC) to a UDP client that does not
/// retry, complete over TCP.
#[test]
fn big_answer_truncated_over_udp_complete_over_tcp() {
    let Some(lab) = lab_with("dns_tcp_clients", &[("up1", UP1)]) else {
        return;
    };
    let _up = start_unbound(&lab, lab.host("up1"), 53, &lab_zone());
    let _srv = start_server(&lab, lab.host("srv"), &[&format!("server = {UP1}")], &[]);
    let cli = lab.host("cli");

    let udp = dig(cli, &["+ignore", "big.lab.example"]);
    assert!(
        udp.status == "NOERROR" && udp.tc() && udp.a().len() < 120,
        "UDP answer not truncated:\n{}",
        udp.text
    );
    let tcp = dig(cli, &["+tcp", "big.lab.example"]);
    assert!(
        tcp.status == "NOERROR" && !tcp.tc() && tcp.a().len() == 120,
        "TCP answer not complete ({} A):\n{}",
        tcp.a().len(),
        tcp.text
    );
    expect_a(&dig(cli, &["+tcp", "www.lab.example"]), &["10.77.1.1"]);
}

/// The upstream truncates (answers over 1232 bytes); the server retries
/// that query over TCP itself although the client only used UDP, and
/// caches the complete answer.
#[test]
fn truncated_upstream_answer_is_retried_over_tcp() {
    if !lab::have_commands("dns_tcp_upstream", &["nft"]) {
        return;
    }
    let Some(lab) = lab_with("dns_tcp_upstream", &[("up1", UP1)]) else {
        return;
    };
    let up = start_unbound(&lab, lab.host("up1"), 53, &lab_zone());
    count_tcp_syns(lab.host("up1"));
    let _srv = start_server(&lab, lab.host("srv"), &[&format!("server = {UP1}")], &[]);
    let cli = lab.host("cli");

    let udp = dig(cli, &["+ignore", "+bufsize=4096", "big2.lab.example"]);
    assert_eq!(udp.status, "NOERROR", "{}", udp.text);
    let syns = tcp_syns(lab.host("up1"));
    assert!(
        syns >= 1,
        "the server did not retry the truncated upstream answer over TCP \
         (no TCP SYN at the upstream; client got tc={} with {} A):\n{}",
        udp.tc(),
        udp.a().len(),
        udp.text
    );
    if !udp.tc() {
        assert_eq!(udp.a().len(), 120, "{}", udp.text);
    }
    let seen = up.seen("big2.lab.example", "A");
    let tcp = dig(cli, &["+tcp", "big2.lab.example"]);
    assert_eq!(tcp.a().len(), 120, "{}", tcp.text);
    assert_eq!(
        up.seen("big2.lab.example", "A"),
        seen,
        "the complete answer was not cached:\n{}",
        up.proc.logs()
    );
}

// ---------------------------------------------------------------------------
// Local data
// ---------------------------------------------------------------------------

/// host-record, cname, txt-record, srv-host, address=/d/IP and /d/ alone,
/// addn-hosts with domain + expand-hosts, localhost, local=/lan/, and
/// bogus-priv: all answered without asking the upstream.
#[test]
fn local_names_are_answered_locally() {
    let Some(lab) = lab_with("dns_local_names", &[("up1", UP1)]) else {
        return;
    };
    let up = start_unbound(&lab, lab.host("up1"), 53, &lab_zone());
    let hosts = write(
        &lab.dir().join("addn-hosts"),
        "10.77.5.5 printer\n10.77.5.6 scanner.lan\n",
    );
    let addn = format!("addn-hosts = {}", hosts.display());
    let _srv = start_server(
        &lab,
        lab.host("srv"),
        &[
            &format!("server = {UP1}"),
            "domain = lan",
            "expand-hosts",
            "local = /lan/",
            "bogus-priv",
            &addn,
            "host-record = router.lan,10.77.0.1",
            "host-record = nas.lan,10.77.0.20,600",
            "cname = files.lan,nas.lan",
            "txt-record = info.lan,\"hello world\"",
            "srv-host = _http._tcp.lan,nas.lan,80",
            "address = /ads.example/0.0.0.0",
            "address = /blocked.example/",
        ],
        &[],
    );
    let cli = lab.host("cli");

    expect_a(&dig(cli, &["router.lan"]), &["10.77.0.1"]);
    let nas = dig(cli, &["nas.lan"]);
    expect_a(&nas, &["10.77.0.20"]);
    assert_eq!(nas.first_ttl(), 600, "{}", nas.text);
    let ptr = dig(cli, &["-x", "10.77.0.1"]);
    assert_eq!(ptr.data("PTR"), ["router.lan."], "{}", ptr.text);
    let files = dig(cli, &["files.lan"]);
    assert_eq!(files.data("CNAME"), ["nas.lan."], "{}", files.text);
    expect_a(&files, &["10.77.0.20"]);
    let txt = dig(cli, &["TXT", "info.lan"]);
    assert_eq!(txt.data("TXT"), ["\"hello world\""], "{}", txt.text);
    let srv = dig(cli, &["SRV", "_http._tcp.lan"]);
    assert_eq!(srv.data("SRV"), ["0 0 80 nas.lan."], "{}", srv.text);

    // addn-hosts: a bare name gets the domain (expand-hosts).
    expect_a(&dig(cli, &["printer"]), &["10.77.5.5"]);
    expect_a(&dig(cli, &["printer.lan"]), &["10.77.5.5"]);
    expect_a(&dig(cli, &["scanner.lan"]), &["10.77.5.6"]);
    let ptr = dig(cli, &["-x", "10.77.5.5"]);
    assert_eq!(ptr.data("PTR"), ["printer.lan."], "{}", ptr.text);

    // address=: the domain and its subdomains; /d/ alone is NXDOMAIN.
    expect_a(&dig(cli, &["ads.example"]), &["0.0.0.0"]);
    expect_a(&dig(cli, &["x.y.ads.example"]), &["0.0.0.0"]);
    let r = dig(cli, &["blocked.example"]);
    assert_eq!(r.status, "NXDOMAIN", "{}", r.text);
    let r = dig(cli, &["sub.blocked.example"]);
    assert_eq!(r.status, "NXDOMAIN", "{}", r.text);

    expect_a(&dig(cli, &["localhost"]), &["127.0.0.1"]);

    // local=/lan/: unknown names there are NXDOMAIN, never forwarded.
    let r = dig(cli, &["nosuch.lan"]);
    assert_eq!(r.status, "NXDOMAIN", "{}", r.text);
    // bogus-priv: a private PTR nobody local knows is NXDOMAIN (the
    // upstream has one).
    let r = dig(cli, &["-x", "192.168.1.5"]);
    assert_eq!(r.status, "NXDOMAIN", "{}", r.text);

    // A forwarded name still works, and the upstream saw nothing else.
    expect_a(&dig(cli, &["www.lab.example"]), &["10.77.1.1"]);
    for leak in [
        "lan.",
        "ads.example.",
        "blocked.example.",
        "localhost.",
        "printer.",
        "1.168.192.in-addr.arpa.",
        "77.10.in-addr.arpa.",
    ] {
        assert!(
            !up.saw_any(leak),
            "a query for *{leak} was forwarded:\n{}",
            up.proc.logs()
        );
    }
}

/// stop-dns-rebind: an upstream answer with a private (192.168/16) or
/// loopback address is not passed on, unless its domain is in
/// rebind-domain-ok.
#[test]
fn rebind_protection_drops_private_answers() {
    let Some(lab) = lab_with("dns_rebind", &[("up1", UP1)]) else {
        return;
    };
    let _up = start_unbound(&lab, lab.host("up1"), 53, &lab_zone());
    let _srv = start_server(
        &lab,
        lab.host("srv"),
        &[
            &format!("server = {UP1}"),
            "stop-dns-rebind",
            "rebind-domain-ok = /ok.example/",
        ],
        &[],
    );
    let cli = lab.host("cli");

    for name in ["rebind.lab.example", "loop.lab.example"] {
        for _ in 0..2 {
            let r = dig(cli, &[name]);
            assert!(
                r.status != "TIMEOUT" && r.a().is_empty(),
                "{name}: private/loopback address passed on (or no answer):\n{}",
                r.text
            );
        }
    }
    expect_a(&dig(cli, &["intra.ok.example"]), &["192.168.1.51"]);
    // A public address passes; 10/8 (www, 10.77.1.1) is private too.
    expect_a(&dig(cli, &["pub.lab.example"]), &["93.184.216.34"]);
    let r = dig(cli, &["www.lab.example"]);
    assert!(r.a().is_empty(), "10/8 answer passed on:\n{}", r.text);
}

// ---------------------------------------------------------------------------
// Statistics, reload, the address queried
// ---------------------------------------------------------------------------

fn chaos(cli: &Host, name: &str) -> String {
    let r = dig(cli, &["CH", "TXT", name]);
    let v = r.data("TXT");
    assert!(
        r.status == "NOERROR" && v.len() == 1,
        "CHAOS TXT {name}:\n{}",
        r.text
    );
    v[0].trim_matches('"').to_string()
}

fn chaos_num(cli: &Host, name: &str) -> u64 {
    let v = chaos(cli, name);
    v.parse()
        .unwrap_or_else(|_| panic!("CHAOS TXT {name} is {v:?}, not a number"))
}

/// CHAOS TXT cachesize.bind, insertions.bind, evictions.bind, hits.bind,
/// misses.bind, servers.bind.
#[test]
fn chaos_txt_statistics() {
    let Some(lab) = lab_with("dns_chaos", &[("up1", UP1)]) else {
        return;
    };
    let _up = start_unbound(&lab, lab.host("up1"), 53, &lab_zone());
    let _srv = start_server(
        &lab,
        lab.host("srv"),
        &[&format!("server = {UP1}"), "cache-size = 321"],
        &[],
    );
    let cli = lab.host("cli");

    assert_eq!(chaos(cli, "cachesize.bind"), "321");
    let hits0 = chaos_num(cli, "hits.bind");
    let misses0 = chaos_num(cli, "misses.bind");
    let ins0 = chaos_num(cli, "insertions.bind");
    for _ in 0..3 {
        expect_a(&dig(cli, &["www.lab.example"]), &["10.77.1.1"]);
    }
    assert!(chaos_num(cli, "hits.bind") >= hits0 + 2, "hits.bind");
    assert!(chaos_num(cli, "misses.bind") > misses0, "misses.bind");
    assert!(chaos_num(cli, "insertions.bind") > ins0, "insertions.bind");
    assert_eq!(chaos_num(cli, "evictions.bind"), 0);
    let servers = chaos(cli, "servers.bind");
    assert!(
        servers.contains(&format!("{UP1}#53")),
        "servers.bind {servers:?}"
    );
}

/// SIGHUP empties the cache (the next query goes upstream again) and
/// re-reads addn-hosts.
#[test]
fn sighup_clears_the_cache_and_rereads_hosts() {
    let Some(lab) = lab_with("dns_sighup", &[("up1", UP1)]) else {
        return;
    };
    let up = start_unbound(&lab, lab.host("up1"), 53, &lab_zone());
    let hosts = write(&lab.dir().join("addn-hosts"), "10.77.5.5 printer.lan\n");
    let srv = start_server(
        &lab,
        lab.host("srv"),
        &[
            &format!("server = {UP1}"),
            &format!("addn-hosts = {}", hosts.display()),
        ],
        &[],
    );
    let cli = lab.host("cli");

    expect_a(&dig(cli, &["www.lab.example"]), &["10.77.1.1"]);
    expect_a(&dig(cli, &["www.lab.example"]), &["10.77.1.1"]);
    assert_eq!(up.seen("www.lab.example", "A"), 1, "{}", up.proc.logs());
    let r = dig(cli, &["copier.lan"]);
    assert!(r.a().is_empty(), "{}", r.text);

    write(&hosts, "10.77.5.5 printer.lan\n10.77.5.7 copier.lan\n");
    srv.hup();
    let refetched = poll(Duration::from_secs(5), Duration::from_millis(100), || {
        expect_a(&dig(cli, &["www.lab.example"]), &["10.77.1.1"]);
        up.seen("www.lab.example", "A") >= 2
    });
    assert!(
        refetched,
        "{:?}: www.lab.example still cached 5 s after SIGHUP:\n{}",
        srv.kind,
        srv.proc.logs()
    );
    assert_eq!(up.seen("www.lab.example", "A"), 2);
    expect_a(&dig(cli, &["copier.lan"]), &["10.77.5.7"]);
    expect_a(&dig(cli, &["printer.lan"]), &["10.77.5.5"]);
}

/// An address added after start (a VRRP virtual IP): queries to it are
/// answered, over UDP (from that address, or dig would not take the reply)
/// and TCP.
#[test]
fn answers_on_an_address_added_after_start() {
    let Some(lab) = lab_with("dns_vip", &[("up1", UP1)]) else {
        return;
    };
    let _up = start_unbound(&lab, lab.host("up1"), 53, &lab_zone());
    let _srv = start_server(&lab, lab.host("srv"), &[&format!("server = {UP1}")], &[]);
    let cli = lab.host("cli");
    lab.host("srv")
        .run_ok(&["ip", "addr", "add", "10.77.0.254/24", "dev", "eth0"]);

    let udp = dig_at(cli, "10.77.0.254", &["www.lab.example"]);
    expect_a(&udp, &["10.77.1.1"]);
    assert!(
        !udp.text.contains("unexpected source"),
        "reply from another address:\n{}",
        udp.text
    );
    expect_a(
        &dig_at(cli, "10.77.0.254", &["+tcp", "f1.lab.example"]),
        &["10.77.4.2"],
    );
    expect_a(&dig(cli, &["f2.lab.example"]), &["10.77.4.3"]);
}

// ---------------------------------------------------------------------------
// DHCP names
// ---------------------------------------------------------------------------

/// A DHCP client's host name resolves (name, name.domain, PTR) once its
/// lease is committed.
#[test]
fn dhcp_client_names_resolve() {
    if !lab::have_commands("dns_dhcp_names", &["udhcpc"]) {
        return;
    }
    let Some(mut lab) = lab_with("dns_dhcp_names", &[("up1", UP1)]) else {
        return;
    };
    lab.add_host("dh", &[]);
    let _up = start_unbound(&lab, lab.host("up1"), 53, &lab_zone());
    let _srv = start_server(
        &lab,
        lab.host("srv"),
        &[&format!("server = {UP1}"), "domain = lan", "local = /lan/"],
        &[
            "interface = eth0",
            "dhcp-range = 10.77.0.100,10.77.0.149,12h",
        ],
    );
    let rec = lab.dir().join("udhcpc.rec");
    let script = lab.dir().join("udhcpc.sh");
    lab::write_script(
        &script,
        &format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && echo \"ip=$ip\" >> {}\nexit 0\n",
            rec.display()
        ),
    );
    let out = lab.host("dh").run_timeout(
        &lab::udhcpc_argv(&script, "5", "2", &["-x", "hostname:alpha"]),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "udhcpc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ip = std::fs::read_to_string(&rec)
        .unwrap_or_default()
        .trim()
        .trim_start_matches("ip=")
        .to_string();
    assert!(ip.starts_with("10.77.0.1"), "leased {ip:?}");
    let cli = lab.host("cli");
    let mut last = None;
    let ok = poll(Duration::from_secs(5), Duration::from_millis(100), || {
        let r = dig(cli, &["alpha.lan"]);
        let done = r.a() == [ip.clone()];
        last = Some(r);
        done
    });
    assert!(
        ok,
        "alpha.lan does not resolve to {ip}:\n{}",
        last.unwrap().text
    );
    expect_a(&dig(cli, &["alpha"]), &[&ip]);
    let rev = dig(cli, &["-x", &ip]);
    assert_eq!(rev.data("PTR"), ["alpha.lan."], "{}", rev.text);
}

// ---------------------------------------------------------------------------
// Forged replies
// ---------------------------------------------------------------------------

/// A slow fake upstream (answers after 400 ms) that injects forged replies
/// to the server's query first, through a raw socket in its namespace,
/// each with a distinctive poisoned address 198.51.100.N: wrong source
/// port, wrong ID, wrong question, no question, wrong source address, all
/// of them. None may reach the client or the cache; the genuine answer
/// (192.0.2.7) must. A perfect forgery (the control) is taken, which
/// proves the injected packets arrive, and arrive first.
#[test]
fn forged_upstream_replies_are_ignored() {
    if !lab::have_programs_at("dns_forged", &["/usr/bin/python3"]) {
        return;
    }
    let Some(lab) = lab_with("dns_forged", &[("fake", FAKE)]) else {
        return;
    };
    let fake = start_fake_upstream(&lab, 400);
    let srv = start_server(&lab, lab.host("srv"), &[&format!("server = {FAKE}")], &[]);
    let cli = lab.host("cli");
    let mut failures = forgery_rounds(cli, SRV, &fake, "lab.example");

    // The server's upstream queries use varying source ports.
    let log = fake.logs();
    let ports: std::collections::BTreeSet<&str> = log
        .lines()
        .filter_map(|l| l.split(" sport=").nth(1))
        .filter_map(|s| s.split(' ').next())
        .collect();
    let n = log.matches("query id=").count();
    if ports.len() * 2 < n {
        failures.push(format!(
            "{n} upstream queries came from only {} source ports: {ports:?}",
            ports.len()
        ));
    }

    forgery_control(cli, SRV, &fake, "lab.example");

    if srv.kind == Kind::Hamasq {
        // SIGUSR1: the rejected replies show in some drop counter (names not
        // pinned; all stats.metric lines go to the test's output).
        srv.proc.signal(lab::SIGUSR1).expect("SIGUSR1");
        let log = srv
            .proc
            .wait_for_log("stats.metric", Duration::from_secs(5));
        thread::sleep(Duration::from_millis(100));
        let log = srv
            .proc
            .logs()
            .split_off(log.find("stats.metric").unwrap_or(0));
        let mut dropped = 0u64;
        for l in log.lines().filter(|l| l.contains("stats.metric")) {
            eprintln!("dns_forged: {l}");
            if let Some((name, v)) = l.rsplit(' ').next().and_then(|kv| kv.split_once('='))
                && name.contains("drop")
            {
                dropped += v.parse::<u64>().unwrap_or(0);
            }
        }
        if dropped < 3 {
            failures.push(format!(
                "the stats.metric drop counters add up to {dropped}, want >= 3 (wrong ID, \
                 question, no question):\n{log}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nfake upstream log:\n{}",
        failures.join("\n\n"),
        fake.logs()
    );
}

/// Asks `at` for `KIND.ZONE` for each forgery kind of `fake` (which
/// answers `zone`): the genuine answer arrives and is cached, the poisoned
/// one never shows. Returns what went wrong.
fn forgery_rounds(cli: &Host, at: &str, fake: &Proc, zone: &str) -> Vec<String> {
    let queries = |name: &str| {
        fake.logs()
            .matches(&format!(" name={name} type=1\n"))
            .count()
    };
    let mut failures = Vec::new();
    for kind in ["port", "id", "question", "noquestion", "srcip", "all"] {
        let name = format!("{kind}.{zone}");
        let r = dig_at(cli, at, &["+time=3", "+tries=1", &name]);
        let forged = fake.logs().matches("forged ").count();
        if r.text.contains("198.51.100.") {
            failures.push(format!(
                "{kind}: the poisoned address reached the client:\n{}",
                r.text
            ));
            continue;
        }
        if r.a() != ["192.0.2.7"] {
            failures.push(format!("{kind}: no genuine answer:\n{}", r.text));
            continue;
        }
        // Cached: the genuine answer again, and no new upstream query.
        let before = queries(&name);
        let again = dig_at(cli, at, &["+time=3", "+tries=1", &name]);
        if again.a() != ["192.0.2.7"] || queries(&name) != before {
            failures.push(format!(
                "{kind}: second lookup not the cached genuine answer ({} upstream queries):\n{}",
                queries(&name),
                again.text
            ));
        }
        assert!(forged > 0, "no forgery was sent:\n{}", fake.logs());
    }
    // The wrong-question forgery named evil.ZONE: not cached either.
    let r = dig_at(cli, at, &["+time=3", "+tries=1", &format!("evil.{zone}")]);
    if r.text.contains("198.51.100.") {
        failures.push(format!(
            "evil.{zone} was cached from a forgery:\n{}",
            r.text
        ));
    }
    for kind in ["port", "id", "question", "noquestion", "srcip"] {
        let sent = fake.logs().matches(&format!("forged {kind} ")).count();
        assert!(
            sent >= 2,
            "forgery {kind} sent {sent} times:\n{}",
            fake.logs()
        );
    }
    failures
}

/// The control, last (its instant answer would teach the server a
/// round-trip time far below the 400 ms of the others): a forgery with
/// nothing wrong wins the race, so the injection works here.
fn forgery_control(cli: &Host, at: &str, fake: &Proc, zone: &str) {
    let r = dig_at(
        cli,
        at,
        &["+time=3", "+tries=1", &format!("perfect.{zone}")],
    );
    assert_eq!(
        r.a(),
        ["198.51.100.9"],
        "the injected control reply was not taken: the injection does not work here, \
         so the checks above prove nothing\n{}\n{}",
        r.text,
        fake.logs()
    );
}

// ---------------------------------------------------------------------------
// Hardening: dead and slow upstreams (issue 17, items 2 and 4)
// ---------------------------------------------------------------------------

/// A host whose port 53 drops everything: a dead `server=/corp/` (a VPN
/// that is down), silent rather than refusing.
const DEAD: &str = "10.77.0.6";

/// `miss.example`: every name under it has an A record, so each new name is
/// a cache miss that the upstream answers.
const MISS_ZONE: &str = "local-zone: \"miss.example.\" redirect\n\
                         local-data: \"miss.example. 300 IN A 10.77.9.9\"\n";

/// `tests/dns_e2e/dnsprobe.py`'s summary line, as numbers by key.
fn probe_summary(out: &str) -> std::collections::HashMap<String, f64> {
    out.lines()
        .rev()
        .find(|l| l.starts_with("asked="))
        .unwrap_or_else(|| panic!("no dnsprobe summary in:\n{out}"))
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(f64::NAN)))
        .collect()
}

fn probe_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dns_e2e/dnsprobe.py")
}

/// Issue 17 item 2: 200 queries a second of random names under a domain
/// whose server never answers must not starve the healthy upstream. Before
/// the fix `dns-forward-max` was one global limit, overflow was dropped in
/// silence, and no uncached name was answered while the flood lasted.
#[test]
fn a_flood_to_a_dead_domain_leaves_other_names_answered() {
    if !lab::have_programs_at("dns_dead_domain", &["/usr/bin/python3"]) {
        return;
    }
    let Some(lab) = lab_with("dns_dead_domain", &[("up1", UP1), ("dead", DEAD)]) else {
        return;
    };
    let _up = start_unbound(&lab, lab.host("up1"), 53, MISS_ZONE);
    lab.host("dead").sh_ok(
        "nft add table inet dead && \
         nft add chain inet dead in '{ type filter hook input priority 0; }' && \
         nft add rule inet dead in udp dport 53 drop && \
         nft add rule inet dead in tcp dport 53 drop",
    );
    let srv = start_server(
        &lab,
        lab.host("srv"),
        &[
            &format!("server = {UP1}"),
            &format!("server = /corp/{DEAD}"),
        ],
        &[],
    );
    let cli = lab.host("cli");
    let script = probe_script();
    let py = |args: &[&str]| {
        let mut v = vec!["/usr/bin/python3", script.to_str().unwrap(), SRV];
        v.extend_from_slice(args);
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let flood_argv = py(&["200", "8", "{r}.corp", "6"]);
    let flood = cli.spawn(&flood_argv.iter().map(String::as_str).collect::<Vec<_>>());
    thread::sleep(Duration::from_secs(1));
    let normal_argv = py(&["5", "6", "n{n}.miss.example", "3"]);
    let out = cli.run_timeout(
        &normal_argv.iter().map(String::as_str).collect::<Vec<_>>(),
        Duration::from_secs(30),
    );
    let normal = probe_summary(&String::from_utf8_lossy(&out.stdout));
    assert!(
        flood.wait_exit(Duration::from_secs(30)).is_some(),
        "the flood did not end"
    );
    let flood_sum = probe_summary(&flood.logs());
    eprintln!("dns_dead_domain: normal {normal:?}\nflood {flood_sum:?}");
    assert_eq!(normal["asked"], 30.0);
    assert_eq!(
        normal["noerror"],
        normal["asked"],
        "names for the healthy upstream went unanswered during the flood: {normal:?}\n{}",
        srv.proc.logs()
    );
    if srv.kind == Kind::Hamasq {
        // Overflow is answered (SERVFAIL), never met with silence.
        assert!(
            flood_sum["answered"] >= 0.99 * flood_sum["asked"],
            "flood queries left unanswered: {flood_sum:?}"
        );
        assert_eq!(flood_sum["noerror"], 0.0, "{flood_sum:?}");
    }
}

/// Issue 17 item 4: an upstream that takes 1.2 s from the start. Before
/// the fix, two 500 ms tries ended every query in SERVFAIL at 1 s and the
/// late genuine answer was dropped (10 of 10 SERVFAIL). Now the query
/// stays open until the 5 s give-up, the late answer is taken, and its RTT
/// learned.
#[test]
fn an_upstream_slower_than_a_second_is_used() {
    if !lab::have_programs_at("dns_slow_upstream", &["/usr/bin/python3"]) {
        return;
    }
    let Some(lab) = lab_with("dns_slow_upstream", &[("fake", FAKE)]) else {
        return;
    };
    // No forgery for these names (their first label names none): only the
    // genuine answer, 1.2 s after each query.
    let fake = start_fake_upstream(&lab, 1200);
    let srv = start_server(&lab, lab.host("srv"), &[&format!("server = {FAKE}")], &[]);
    let cli = lab.host("cli");
    let mut answered = 0;
    let mut failures = Vec::new();
    for i in 0..10 {
        let name = format!("s{i}.lab.example");
        let r = dig(cli, &["+time=4", "+tries=1", &name]);
        if r.a() == ["192.0.2.7"] {
            answered += 1;
        } else {
            failures.push(format!("{name}: {}", r.status));
        }
    }
    let upstream_queries = fake.logs().matches("query id=").count();
    eprintln!("dns_slow_upstream: {answered}/10 answered, {upstream_queries} upstream queries");
    assert_eq!(
        answered,
        10,
        "{failures:?}\nserver log:\n{}\nfake upstream log:\n{}",
        srv.proc.logs(),
        fake.logs()
    );
    if srv.kind == Kind::Hamasq {
        // The first query learns the RTT; after it, no retransmission.
        assert!(
            upstream_queries <= 12,
            "{upstream_queries} upstream queries for 10 names:\n{}",
            fake.logs()
        );
    }
}

// ---------------------------------------------------------------------------
// Query log
// ---------------------------------------------------------------------------

/// The server's `dns.query` lines so far.
fn query_lines(srv: &Server) -> Vec<String> {
    srv.proc
        .logs()
        .lines()
        .filter(|l| l.contains(" dns.query "))
        .map(String::from)
        .collect()
}

/// `hamasq log-queries ARGS -c CONF`: its exit status and standard output.
fn log_queries(conf: &Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(BIN)
        .arg("log-queries")
        .args(args)
        .arg("-c")
        .arg(conf)
        .output()
        .expect("run hamasq log-queries");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Issue 14 item 2, dnsmasq's `log-queries`: off by default (no line for
/// an upstream, cached, local or blocked answer); `hamasq log-queries on`
/// over the control socket turns it on without a config change, and each
/// line then names the client, the name, the type, the source (with the
/// upstream server) and the RCODE. A reload applies the file's value: it
/// turns a run-time switch back off, and `log-queries = true` in the file
/// turns it on.
#[test]
fn query_log_switched_at_run_time_names_client_name_type_and_source() {
    if kind() != Kind::Hamasq {
        eprintln!("SKIP: the control socket is hamasq's (dnsmasq has no run-time switch)");
        return;
    }
    let Some(lab) = lab_with("dns_query_log", &[("up1", UP1)]) else {
        return;
    };
    let _up = start_unbound(&lab, lab.host("up1"), 53, &lab_zone());
    let hosts = write(&lab.dir().join("addn-hosts"), "10.77.5.5 printer.lan\n");
    let dns = [
        format!("server = {UP1}"),
        format!("addn-hosts = {}", hosts.display()),
        "address = /ads.example/#".to_string(),
    ];
    let dns: Vec<&str> = dns.iter().map(String::as_str).collect();
    let srv = start_server(&lab, lab.host("srv"), &dns, &[]);
    let conf = lab.dir().join("srv-srv").join("hamasq.conf");
    let cli = lab.host("cli");
    // One query per source: upstream, then the same name cached, a hosts
    // file name, a blocked one.
    let ask_all = |n: usize| {
        let name = format!("f{n}.lab.example");
        expect_a(&dig(cli, &[&name]), &[&format!("10.77.4.{}", n + 1)]);
        expect_a(&dig(cli, &[&name]), &[&format!("10.77.4.{}", n + 1)]);
        expect_a(&dig(cli, &["printer.lan"]), &["10.77.5.5"]);
        expect_a(&dig(cli, &[&format!("x{n}.ads.example")]), &["0.0.0.0"]);
    };

    ask_all(0);
    assert_eq!(query_lines(&srv), Vec::<String>::new(), "off by default");
    assert_eq!(log_queries(&conf, &[]), (true, "log-queries off\n".into()));

    let (ok, said) = log_queries(&conf, &["on"]);
    assert!(ok && said.starts_with("log-queries on (was off)"), "{said}");
    ask_all(1);
    let lines = query_lines(&srv);
    let want = [
        format!("name=f1.lab.example type=A source=upstream server={UP1} rcode=NOERROR"),
        "name=f1.lab.example type=A source=cache rcode=NOERROR".into(),
        "name=printer.lan type=A source=local rcode=NOERROR".into(),
        "name=x1.ads.example type=A source=blocked rcode=NOERROR".into(),
    ];
    assert_eq!(lines.len(), want.len(), "{lines:#?}");
    for (line, want) in lines.iter().zip(&want) {
        assert!(
            line.contains(&format!("info dns.query client={CLI} {want}")),
            "want {want:?} in {line:?}"
        );
    }
    // NXDOMAIN from upstream, over TCP.
    let r = dig(cli, &["+tcp", "nx.lab.example"]);
    assert_eq!(r.status, "NXDOMAIN", "{}", r.text);
    let last = query_lines(&srv).pop().unwrap();
    assert!(
        last.contains(&format!(
            "name=nx.lab.example type=A source=upstream server={UP1} rcode=NXDOMAIN proto=tcp"
        )),
        "{last}"
    );

    // A reload applies the file (off): the run-time switch ends.
    let seen = query_lines(&srv).len();
    srv.hup();
    srv.proc
        .wait_for_log_count("dns.reloaded", 1, Duration::from_secs(10));
    ask_all(2);
    assert_eq!(query_lines(&srv).len(), seen, "off again after the reload");

    // The file says on: a reload turns it on; the switch turns it off.
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        text.replace("[dns]\n", "[dns]\nlog-queries = true\n"),
    )
    .unwrap();
    srv.hup();
    srv.proc
        .wait_for_log_count("dns.reloaded", 2, Duration::from_secs(10));
    expect_a(&dig(cli, &["printer.lan"]), &["10.77.5.5"]);
    assert_eq!(query_lines(&srv).len(), seen + 1, "on from the file");
    assert_eq!(log_queries(&conf, &[]), (true, "log-queries on\n".into()));
    let (ok, said) = log_queries(&conf, &["off"]);
    assert!(ok && said.starts_with("log-queries off (was on)"), "{said}");
    ask_all(3);
    assert_eq!(query_lines(&srv).len(), seen + 1, "switched off");
}

// ---------------------------------------------------------------------------
// DNS over IPv6
// ---------------------------------------------------------------------------

const SRV6: &str = "fd77::1";
const VIP6: &str = "fd77::254";
const SRV_LL: &str = "fe80::53";
const CLI6: &str = "fd77::10";

/// `ip -6 addr add ADDR dev eth0 nodad` in `h`: usable at once.
fn add6(h: &Host, addr: &str) {
    h.run_ok(&["ip", "-6", "addr", "add", addr, "dev", "eth0", "nodad"]);
}

/// IPv6 on in `srv` and `cli` (and the named hosts): ULA addresses
/// without DAD (so usable at once), and fixed link-local ones.
fn enable_ipv6(lab: &Lab, hosts: &[(&str, &str, &str)]) {
    for (name, ula, ll) in hosts {
        let h = lab.host(name);
        h.enable_ipv6();
        for a in [format!("{ula}/64"), format!("{ll}/64")] {
            add6(h, &a);
        }
    }
}

/// Queries over IPv6, UDP and TCP, to a ULA address, to a second address
/// added after start (the VIP case: the kernel would pick the first as the
/// reply's source, and dig refuses a reply from another address) and to a
/// link-local address with its scope: each answered from the address
/// asked. AAAA and ip6.arpa PTR come from a hosts file.
#[test]
fn answers_over_ipv6_from_the_address_asked() {
    let Some(lab) = lab_with("dns_v6_listen", &[("up1", UP1)]) else {
        return;
    };
    enable_ipv6(&lab, &[("srv", SRV6, SRV_LL), ("cli", CLI6, "fe80::10")]);
    let up = start_unbound(&lab, lab.host("up1"), 53, &lab_zone());
    let hosts = write(
        &lab.dir().join("hosts6"),
        "fd77::80 printer6\n10.77.0.80 printer6\n",
    );
    let srv = start_server(
        &lab,
        lab.host("srv"),
        &[
            &format!("server = {UP1}"),
            &format!("addn-hosts = {}", hosts.display()),
            "host-record = router6,10.77.0.1,fd77::1",
            "bogus-priv",
        ],
        &[],
    );
    add6(lab.host("srv"), &format!("{VIP6}/64"));
    // A global address on the same link.
    add6(lab.host("srv"), "2001:db8:77::1/64");
    add6(lab.host("cli"), "2001:db8:77::10/64");
    let cli = lab.host("cli");

    // Forwarded, then cached, over UDP and TCP, to each address.
    let ll = format!("{SRV_LL}%eth0");
    for (at, name, want) in [
        (SRV6, "www.lab.example", "10.77.1.1"),
        (VIP6, "f1.lab.example", "10.77.4.2"),
        (ll.as_str(), "f2.lab.example", "10.77.4.3"),
        ("2001:db8:77::1", "f3.lab.example", "10.77.4.4"),
    ] {
        expect_answer(&dig_at(cli, at, &[name]), "A", &[want]);
        expect_answer(&dig_at(cli, at, &["+tcp", name]), "A", &[want]);
    }

    // Local data over IPv6: AAAA and its ip6.arpa PTR from a hosts file.
    expect_answer(
        &dig_at(cli, VIP6, &["printer6", "AAAA"]),
        "AAAA",
        &["fd77::80"],
    );
    expect_answer(
        &dig_at(cli, &ll, &["-x", "fd77::80"]),
        "PTR",
        &["printer6."],
    );
    expect_answer(&dig_at(cli, SRV6, &["printer6", "A"]), "A", &["10.77.0.80"]);
    expect_answer(
        &dig_at(cli, SRV6, &["router6", "AAAA"]),
        "AAAA",
        &["fd77::1"],
    );
    expect_answer(&dig_at(cli, SRV6, &["-x", "fd77::1"]), "PTR", &["router6."]);
    // bogus-priv: a ULA reverse name nobody has is answered here (RFC 6303
    // §4.5), never forwarded.
    let r = dig_at(cli, SRV6, &["-x", "fd77::99"]);
    assert_eq!(r.status, "NXDOMAIN", "{}", r.text);
    assert!(!up.saw_any("ip6.arpa"), "a ULA reverse name was forwarded");

    // local-service over IPv6: a client whose address is on none of our
    // prefixes is not answered, though the server has a route back.
    add6(cli, "2001:db8:99::10/128");
    lab.host("srv").run_ok(&[
        "ip",
        "-6",
        "route",
        "add",
        "2001:db8:99::/64",
        "dev",
        "eth0",
    ]);
    let refused = dig_at(
        cli,
        SRV6,
        &[
            "-b",
            "2001:db8:99::10",
            "+time=1",
            "+tries=1",
            "www.lab.example",
        ],
    );
    assert_eq!(refused.status, "TIMEOUT", "{}", refused.text);
    srv.proc
        .wait_for_log("dns.query_refused", Duration::from_secs(5));
    // The same query from an on-link address is answered.
    expect_answer(
        &dig_at(cli, SRV6, &["-b", CLI6, "www.lab.example"]),
        "A",
        &["10.77.1.1"],
    );
}

const FAKE6: &str = "fd77::5";
const FAKE_LL: &str = "fe80::5";

/// Upstreams over IPv6: a ULA default upstream and a link-local one for
/// one domain (`server=/ll.example/fe80::5%eth0`, its interface named),
/// both fake upstreams that forge replies (other source port, other ID,
/// other question, other source address) before the genuine answer:
/// every forgery is refused as over IPv4 (RFC 5452), the genuine answer
/// is cached, and each domain went to its own upstream. The client asks
/// over IPv6.
#[test]
fn ipv6_upstreams_global_and_link_local_refuse_forged_replies() {
    if !lab::have_programs_at("dns_v6_upstreams", &["/usr/bin/python3"]) {
        return;
    }
    let Some(lab) = lab_with("dns_v6_upstreams", &[("fake", FAKE)]) else {
        return;
    };
    enable_ipv6(
        &lab,
        &[
            ("srv", SRV6, SRV_LL),
            ("cli", CLI6, "fe80::10"),
            ("fake", FAKE6, FAKE_LL),
        ],
    );
    let ula = start_fake_upstream_at(&lab, FAKE6, 400);
    let ll = start_fake_upstream_at(&lab, &format!("{FAKE_LL}%eth0"), 400);
    let srv = start_server(
        &lab,
        lab.host("srv"),
        &[
            &format!("server = {FAKE6}"),
            &format!("server = /ll.example/{FAKE_LL}%eth0"),
        ],
        &[],
    );
    let cli = lab.host("cli");

    let mut failures = forgery_rounds(cli, SRV6, &ula, "lab.example");
    failures.extend(forgery_rounds(cli, SRV6, &ll, "ll.example"));
    // Each domain went to its own upstream only.
    assert!(
        !ula.logs().contains(".ll.example ") && !ll.logs().contains(".lab.example "),
        "a query went to the other upstream:\nULA:\n{}\nlink-local:\n{}",
        ula.logs(),
        ll.logs()
    );
    forgery_control(cli, SRV6, &ula, "lab.example");
    forgery_control(cli, SRV6, &ll, "ll.example");
    assert!(
        failures.is_empty(),
        "{}\n\nserver log:\n{}",
        failures.join("\n\n"),
        srv.proc.logs()
    );
}
