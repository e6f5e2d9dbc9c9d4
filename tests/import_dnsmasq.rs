//! `hamasq import-dnsmasq` on a corpus of real dnsmasq (and keepalived)
//! configurations, in `tests/data/import/CASE/` laid out as the files sit
//! on the box (`etc/dnsmasq.conf`, `etc/dnsmasq.d/...`):
//!
//! - `openwrt-default`, `openwrt-full`: what OpenWrt's dnsmasq init script
//!   (package/network/services/dnsmasq/files/dnsmasq.init, 23.05) writes to
//!   /var/etc/dnsmasq.conf.cfg01411c from the stock and from a feature-rich
//!   /etc/config/dhcp, with the files it includes (/etc/dnsmasq.conf,
//!   /usr/share/dnsmasq/*.conf, adblock's /tmp/dnsmasq.d).
//! - `pihole`: Pi-hole v5's /etc/dnsmasq.conf (`conf-dir=/etc/dnsmasq.d`)
//!   with 01-pihole.conf, 02-pihole-dhcp.conf and the other files it writes.
//! - `debian`: Debian's /etc/dnsmasq.conf with typical edits and a
//!   conf-dir with `*.conf` filtering.
//! - `ha-pair`: two boxes running dnsmasq behind keepalived's VIP, each
//!   with its keepalived.conf (`--keepalived`).
//!
//! For each: the conversion runs (the library for the per-line outcomes,
//! the real binary for its output), every option line of every file
//! dnsmasq would read (and every keepalived line) has exactly one
//! outcome, counted independently here, every line not converted is named
//! on stderr, and the result passes `hamasq --test` in a lab namespace
//! whose eth0 has the box's addresses.
//!
//! The corpus names absolute paths (`/etc/dnsmasq.d`, scripts); the test
//! copies each case into its lab directory and points those paths there,
//! on the same lines, so line numbers are unchanged.

mod lab;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use hamasq::import::Outcome;
use lab::Lab;

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/import");

/// dnsmasq keys whose value is a path.
const PATH_KEYS: &[&str] = &[
    "conf-file",
    "conf-dir",
    "addn-hosts",
    "dhcp-leasefile",
    "dhcp-script",
    "resolv-file",
    "log-facility",
    "servers-file",
];

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// Points the corpus's absolute paths into `root`, line for line.
fn relocate(root: &Path) {
    let r = root.display().to_string();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            let mut out = String::new();
            for line in text.split_inclusive('\n') {
                let mut l = line.to_string();
                for k in PATH_KEYS {
                    if l.starts_with(&format!("{k}=/")) {
                        l = l.replacen('=', &format!("={r}"), 1);
                    }
                }
                for k in ["script \"/", "notify /", "notify_master \"/"] {
                    l = l.replacen(k, &k.replace('/', &format!("{r}/")), 1);
                }
                out.push_str(&l);
            }
            std::fs::write(&p, out).unwrap();
        }
    }
}

/// The option lines of a dnsmasq file as this test counts them: not blank,
/// not a `#` comment.
fn dnsmasq_lines(file: &Path) -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim().starts_with('#'))
        .map(|(i, _)| (file.display().to_string(), i + 1))
        .collect()
}

/// keepalived lines: not blank, not a `!`/`#` comment, not a lone `}`.
fn keepalived_lines(file: &Path) -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('!') && !t.starts_with('#') && t != "}"
        })
        .map(|(i, _)| (file.display().to_string(), i + 1))
        .collect()
}

struct Case<'a> {
    /// Directory under tests/data/import.
    dir: &'a str,
    /// The dnsmasq config given on the command line, relative to the case.
    dnsmasq: &'a str,
    keepalived: Option<&'a str>,
    /// The other box's dnsmasq config (`--peer-dnsmasq`): its case
    /// directory and the file in it.
    peer: Option<(&'a str, &'a str)>,
    /// Every file dnsmasq reads (the top one included), in any order.
    read: &'a [&'a str],
    /// The box's addresses on eth0.
    addrs: &'a [&'a str],
    /// Lines that must be listed as not converted: (file, line, reason part).
    listed: &'a [(&'a str, usize, &'a str)],
    /// Lines that must be in the output.
    output: &'a [&'a str],
}

fn run_case(test: &str, case: &Case) {
    let Some(mut lab) = Lab::new(test) else {
        return;
    };
    lab.add_host("box", case.addrs);
    let root = lab.dir().join("root");
    copy_tree(&Path::new(CORPUS).join(case.dir), &root);
    relocate(&root);
    let at = |rel: &str| -> PathBuf { root.join(rel) };
    let dnsmasq = at(case.dnsmasq);
    let keepalived = case.keepalived.map(at);
    // The keepalived corpus is a config keepalived itself accepts.
    if let Some(k) = &keepalived {
        if !lab::have_commands(test, &["keepalived"]) {
            return;
        }
        let t = lab
            .host("box")
            .run(&["keepalived", "-t", "-l", "-f", k.to_str().unwrap()]);
        assert!(
            t.status.success(),
            "keepalived -t refuses {}:\n{}{}",
            k.display(),
            String::from_utf8_lossy(&t.stdout),
            String::from_utf8_lossy(&t.stderr)
        );
    }

    // Library: every line of every file read has exactly one outcome.
    let peer = case.peer.map(|(dir, file)| {
        let peer_root = lab.dir().join("peer-root");
        copy_tree(&Path::new(CORPUS).join(dir), &peer_root);
        relocate(&peer_root);
        peer_root.join(file)
    });
    let c = hamasq::import::convert_files(
        hamasq::import::Sources {
            dnsmasq: dnsmasq.to_str().unwrap(),
            keepalived: keepalived.as_ref().map(|k| k.to_str().unwrap()),
            peer_dnsmasq: peer.as_ref().map(|p| p.to_str().unwrap()),
        },
        &mut std::io::empty(),
    )
    .unwrap();
    let mut expected: BTreeSet<(String, usize)> = case
        .read
        .iter()
        .flat_map(|f| dnsmasq_lines(&at(f)))
        .collect();
    if let Some(k) = &keepalived {
        expected.extend(keepalived_lines(k));
    }
    // Of the peer's config, its ranges only.
    if let Some(p) = &peer {
        let text = std::fs::read_to_string(p).unwrap();
        expected.extend(
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.starts_with("dhcp-range="))
                .map(|(i, _)| (p.display().to_string(), i + 1)),
        );
    }
    let got: Vec<(String, usize)> = c.lines.iter().map(|r| (r.file.clone(), r.line)).collect();
    let got_set: BTreeSet<(String, usize)> = got.iter().cloned().collect();
    assert_eq!(got.len(), got_set.len(), "a line reported twice: {got:#?}");
    assert_eq!(
        got_set, expected,
        "the lines accounted for differ from the lines dnsmasq reads"
    );
    let outcome = |file: &str, line: usize| {
        let f = at(file).display().to_string();
        c.lines
            .iter()
            .find(|r| r.file == f && r.line == line)
            .unwrap_or_else(|| panic!("{file}:{line} has no outcome"))
            .outcome
            .clone()
    };
    for &(file, line, why) in case.listed {
        match outcome(file, line) {
            Outcome::Skipped(w) => assert!(w.contains(why), "{file}:{line}: {w}"),
            o => panic!("{file}:{line} should be listed ({why}), is {o:?}"),
        }
    }

    // The binary: same conversion; stderr names each line left out and
    // counts every line.
    let mut cmd = Command::new(BIN);
    cmd.arg("import-dnsmasq");
    if let Some(k) = &keepalived {
        cmd.args(["--keepalived", k.to_str().unwrap()]);
    }
    if let Some(p) = &peer {
        cmd.args(["--peer-dnsmasq", p.to_str().unwrap()]);
    }
    let out = cmd.arg(&dnsmasq).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let ini = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(ini, c.ini, "the binary and the library disagree");
    for (r, _) in c.skipped() {
        let tag = format!("{}:{}: not converted: ", r.file, r.line);
        assert!(stderr.contains(&tag), "{tag} missing on stderr:\n{stderr}");
    }
    let summary = stderr.lines().last().unwrap_or("");
    assert!(
        summary.starts_with(&format!("hamasq: {} lines from ", expected.len())),
        "{summary}"
    );
    let counted: usize = summary
        .split([':', ','])
        .filter_map(|p| p.split_whitespace().next()?.parse::<usize>().ok())
        .skip(1)
        .sum();
    assert_eq!(counted, expected.len(), "{summary}");
    for l in case.output {
        assert!(ini.contains(&format!("{l}\n")), "{l:?} missing:\n{ini}");
    }

    passes_test(&lab, "box", &ini);
}

/// `ini` with a state directory of the lab's passes `hamasq --test` on
/// `host`. A `user` that does not exist on the test machine is the one edit
/// (resolving `user` checks it).
fn passes_test(lab: &Lab, host: &str, ini: &str) {
    let mut conf_text = String::new();
    for l in ini.lines() {
        if let Some(u) = l.strip_prefix("user = ") {
            let known = Command::new("id").arg(u).output().unwrap().status.success();
            if !known {
                continue;
            }
        }
        conf_text.push_str(l);
        conf_text.push('\n');
    }
    let conf = lab.dir().join("hamasq.conf");
    std::fs::write(
        &conf,
        format!(
            "{conf_text}\n[general]\npid-file = none\nstate-dir = {}\n",
            lab.dir().join("state").display()
        ),
    )
    .unwrap();
    let t = lab
        .host(host)
        .run(&[BIN, "--test", "-c", conf.to_str().unwrap()]);
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
fn openwrt_default() {
    run_case(
        "import_owrt_default",
        &Case {
            dir: "openwrt-default",
            dnsmasq: "var/etc/dnsmasq.conf.cfg01411c",
            keepalived: None,
            peer: None,
            read: &[
                "var/etc/dnsmasq.conf.cfg01411c",
                "etc/dnsmasq.conf",
                "usr/share/dnsmasq/dhcpbogushostname.conf",
                "usr/share/dnsmasq/rfc6761.conf",
            ],
            addrs: &["192.168.1.1/24"],
            listed: &[
                ("var/etc/dnsmasq.conf.cfg01411c", 9, "not needed"),
                ("var/etc/dnsmasq.conf.cfg01411c", 23, "primary group"),
                ("var/etc/dnsmasq.conf.cfg01411c", 33, "interface"),
                (
                    "usr/share/dnsmasq/dhcpbogushostname.conf",
                    2,
                    "classification",
                ),
            ],
            output: &[
                "domain = lan",
                "local = /lan/",
                "dhcp-range = set:lan,192.168.1.100,192.168.1.249,255.255.255.0,12h",
                "server = /onion/",
                "cache-size = 1000",
            ],
        },
    );
}

#[test]
fn openwrt_feature_rich() {
    run_case(
        "import_owrt_full",
        &Case {
            dir: "openwrt-full",
            dnsmasq: "var/etc/dnsmasq.conf.cfg01411c",
            keepalived: None,
            peer: None,
            read: &[
                "var/etc/dnsmasq.conf.cfg01411c",
                "etc/dnsmasq.conf",
                "tmp/dnsmasq.d/adb_list.overall",
                "tmp/dnsmasq.d/extraconfig.conf",
                "usr/share/dnsmasq/dhcpbogushostname.conf",
                "usr/share/dnsmasq/rfc6761.conf",
            ],
            addrs: &["192.168.1.1/24"],
            listed: &[
                // The hand-written cache size, overridden by UCI's.
                ("etc/dnsmasq.conf", 6, "overridden by"),
                ("var/etc/dnsmasq.conf.cfg01411c", 15, "not to a file"),
                ("var/etc/dnsmasq.conf.cfg01411c", 55, "dhcp-boot"),
                ("var/etc/dnsmasq.conf.cfg01411c", 75, "static range"),
            ],
            output: &[
                "listen-address = 127.0.0.1",
                "dhcp-option = tag:lan,6,192.168.1.1",
                "dhcp-option = tag:guest,6,9.9.9.9,149.112.112.112",
                "server = /16.172.in-addr.arpa/10.8.0.1",
                "rebind-domain-ok = /plex.direct/",
                "address = /doubleclick.net/",
                "neg-ttl = 60",
                "cache-size = 5000",
                "dhcp-host = kiosk,192.168.1.13",
            ],
        },
    );
}

#[test]
fn pihole() {
    run_case(
        "import_pihole",
        &Case {
            dir: "pihole",
            dnsmasq: "etc/dnsmasq.conf",
            keepalived: None,
            peer: None,
            read: &[
                "etc/dnsmasq.conf",
                "etc/dnsmasq.d/01-pihole.conf",
                "etc/dnsmasq.d/02-pihole-dhcp.conf",
                "etc/dnsmasq.d/04-pihole-static-dhcp.conf",
                "etc/dnsmasq.d/05-pihole-custom-cname.conf",
                "etc/dnsmasq.d/06-rfc6761.conf",
                "etc/dnsmasq.d/99-edns.conf",
            ],
            addrs: &["192.168.0.2/24"],
            listed: &[
                ("etc/dnsmasq.d/01-pihole.conf", 20, "not to a file"),
                ("etc/dnsmasq.d/01-pihole.conf", 29, "DNSSEC"),
            ],
            output: &[
                "cache-size = 10000",
                "log-queries = true",
                "server = /0.168.192.in-addr.arpa/192.168.0.1",
                "dhcp-range = 192.168.0.201,192.168.0.251,24h",
                "dhcp-host = DC:A6:32:01:02:03,192.168.0.10,nas",
            ],
        },
    );
}

#[test]
fn debian() {
    run_case(
        "import_debian",
        &Case {
            dir: "debian",
            dnsmasq: "etc/dnsmasq.conf",
            keepalived: None,
            peer: None,
            read: &["etc/dnsmasq.conf", "etc/dnsmasq.d/local.conf"],
            addrs: &["192.168.1.1/24"],
            listed: &[
                ("etc/dnsmasq.conf", 64, "hamasq refuses"),
                ("etc/dnsmasq.conf", 78, "not to a file"),
            ],
            output: &[
                "listen-address = 127.0.0.1",
                "listen-address = 192.168.1.1",
                "cache-size = 10000",
                "dhcp-host = 00:1a:2b:3c:4d:5e,192.168.1.61,laptop",
                "dhcp-host = 00:0f:66:01:02:03,ignore",
                "srv-host = _ipp._tcp.home.arpa,fred.home.arpa,631",
            ],
        },
    );
}

#[test]
fn ha_pair_box_a() {
    ha_box("import_ha_a", "a", "b", "192.168.1.2/24", "priority = 150");
}

#[test]
fn ha_pair_box_b() {
    ha_box(
        "import_ha_b",
        "b",
        "a",
        "192.168.1.3/24",
        "nopreempt = true",
    );
}

/// One box of the pair, converted with its keepalived.conf and the other
/// box's dnsmasq.conf for the peer range.
fn ha_box(test: &str, own: &str, other: &str, addr: &str, own_line: &str) {
    let dir = format!("ha-pair/box-{own}");
    let peer = format!("ha-pair/box-{other}");
    let keepalived = "etc/keepalived/keepalived.conf";
    let peer_range = if own == "a" {
        "dhcp-peer-range = 192.168.1.150,192.168.1.199"
    } else {
        "dhcp-peer-range = 192.168.1.100,192.168.1.149"
    };
    run_case(
        test,
        &Case {
            dir: &dir,
            dnsmasq: "etc/dnsmasq.conf",
            keepalived: Some(keepalived),
            peer: Some((&peer, "etc/dnsmasq.conf")),
            read: &["etc/dnsmasq.conf"],
            addrs: &[addr],
            listed: &[(keepalived, 20, "RFC 9568"), (keepalived, 14, "fall/rise")],
            output: &[
                "[vrrp LAN]",
                "interface = eth0",
                "virtual-router-id = 51",
                "virtual-ipaddress = 192.168.1.1/24",
                "garp-master-refresh = 60",
                "version = 2",
                peer_range,
                own_line,
            ],
        },
    );
}

/// The known failures of issue 14, through the binary: each line converts
/// to something `--test` accepts, or is listed with its reason; `-` reads
/// stdin.
#[test]
fn known_failures_convert_from_stdin() {
    let Some(mut lab) = Lab::new("import_known") else {
        return;
    };
    lab.add_host("r", &["192.168.1.1/24"]);
    let input = "interface=eth0\n\
                 dhcp-range=set:lan,192.168.1.100,192.168.1.200,255.255.255.0,12h\n\
                 dhcp-option=lan,6,192.168.1.1\n\
                 dhcp-host=id:*,ignore\n\
                 listen-address=127.0.0.1,192.168.1.1\n\
                 cache-size=10000   # comment\n\
                 log-facility=/var/log/dnsmasq.log\n";
    let mut child = Command::new(BIN)
        .args(["import-dnsmasq", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let ini = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    for l in [
        "dhcp-option = tag:lan,6,192.168.1.1",
        "listen-address = 127.0.0.1",
        "listen-address = 192.168.1.1",
        "cache-size = 10000",
    ] {
        assert!(ini.contains(&format!("{l}\n")), "{l:?} missing:\n{ini}");
    }
    assert!(
        stderr.contains("stdin:4: not converted: dhcp-host=id:*,ignore"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stdin:7: not converted: log-facility="),
        "{stderr}"
    );
    assert!(
        stderr.contains("hamasq: 7 lines from 1 file: 5 converted"),
        "{stderr}"
    );
    passes_test(&lab, "r", &ini);
}

#[test]
fn import_of_a_missing_file_exits_2() {
    let out = Command::new(BIN)
        .args(["import-dnsmasq", "/nonexistent/dnsmasq.conf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN)
        .args([
            "import-dnsmasq",
            "--keepalived",
            "/nonexistent/k.conf",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
