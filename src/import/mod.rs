//! `hamasq import-dnsmasq [--keepalived FILE] DNSMASQ.CONF`: a dnsmasq
//! config (and the keepalived.conf of the same box) turned into hamasq's
//! INI.
//!
//! - [`source`] reads the dnsmasq files as dnsmasq does: its comment rule,
//!   `conf-file` and `conf-dir` followed in place, `-` for stdin.
//! - [`dnsmasq`] converts each option line; [`keepalived`] converts each
//!   `vrrp_instance` into a `[vrrp NAME]` section.
//!
//! Every input line ends up with exactly one [`Outcome`]: converted (maybe
//! with a change, stated), an include followed, or not converted with the
//! reason. Nothing is dropped silently; the operator decides. A key that
//! hamasq takes once but dnsmasq saw several times keeps the last value,
//! as dnsmasq does, and the earlier lines say so.

pub(crate) mod dnsmasq;
pub(crate) mod keepalived;
pub(crate) mod source;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;

use dnsmasq::Sec;

/// What became of one input line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Converted with the same meaning.
    Converted,
    /// Converted, but something changed or was left out: the note says what.
    Changed(String),
    /// A `conf-file` / `conf-dir` line: its files were read in place.
    Followed(String),
    /// Not converted, and why.
    Skipped(String),
}

/// One input line and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub file: String,
    pub line: usize,
    pub text: String,
    pub outcome: Outcome,
}

/// The converted config and the fate of every input line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Converted {
    pub ini: String,
    pub lines: Vec<Report>,
}

impl Converted {
    /// The lines not converted.
    pub fn skipped(&self) -> impl Iterator<Item = (&Report, &str)> {
        self.lines.iter().filter_map(|r| match &r.outcome {
            Outcome::Skipped(why) => Some((r, why.as_str())),
            _ => None,
        })
    }

    /// The lines converted with a change.
    pub fn changed(&self) -> impl Iterator<Item = (&Report, &str)> {
        self.lines.iter().filter_map(|r| match &r.outcome {
            Outcome::Changed(why) => Some((r, why.as_str())),
            _ => None,
        })
    }
}

/// One `key = value` of the output and the index of the [`Report`] of the
/// input line it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub src: usize,
}

/// hamasq keys that take a list; any other key is given once.
const LIST_KEYS: &[&str] = &[
    "listen-address",
    "interface",
    "server",
    "local",
    "addn-hosts",
    "address",
    "host-record",
    "cname",
    "srv-host",
    "txt-record",
    "ptr-record",
    "rebind-domain-ok",
    "dhcp-range",
    "dhcp-peer-range",
    "dhcp-host",
    "dhcp-option",
    "dhcp-option-force",
    "virtual-ipaddress",
    "unicast-peer",
    "track-interface",
    "track-script",
];

/// Converts dnsmasq.conf text; `conf-file` / `conf-dir` lines are listed,
/// not followed (see [`convert_files`]).
pub fn convert(text: &str) -> Converted {
    let lines = source::lines_of("dnsmasq.conf", text);
    build(&lines, None, &[])
}

/// What to convert: this box's dnsmasq config (`-` = stdin), and
/// optionally its keepalived.conf and the other box's dnsmasq config.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sources<'a> {
    pub dnsmasq: &'a str,
    pub keepalived: Option<&'a str>,
    /// The HA peer's dnsmasq config: its `dhcp-range` lines become
    /// `dhcp-peer-range` here, so that on failover the peer's clients keep
    /// their addresses (the adopt rule, design §4). Only those lines of it
    /// are reported; the rest is the other box's business.
    pub peer_dnsmasq: Option<&'a str>,
}

/// Converts a dnsmasq config with everything it includes and, when given,
/// a keepalived.conf and the peer's ranges. Only an unreadable file named
/// on the command line is an error.
pub fn convert_files(src: Sources<'_>, stdin: &mut dyn Read) -> Result<Converted, String> {
    let lines = source::Reader::new(stdin).read(src.dnsmasq)?;
    let ka = match src.keepalived {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("cannot read {p}: {e}"))?;
            Some((p.to_string(), text))
        }
        None => None,
    };
    let peer = match src.peer_dnsmasq {
        Some("-") => return Err("--peer-dnsmasq needs a file, not stdin".into()),
        Some(p) => source::Reader::new(&mut std::io::empty()).read(p)?,
        None => Vec::new(),
    };
    Ok(build(
        &lines,
        ka.as_ref().map(|(p, t)| (p.as_str(), t.as_str())),
        &peer,
    ))
}

fn build(
    lines: &[source::Line],
    keepalived_conf: Option<(&str, &str)>,
    peer: &[source::Line],
) -> Converted {
    let mut reports = Vec::new();
    let mut sections: Vec<(String, Vec<Entry>)> = ["general", "dns", "dhcp"]
        .iter()
        .map(|s| (s.to_string(), Vec::new()))
        .collect();
    for l in lines {
        let src = reports.len();
        let outcome = match &l.include {
            Some(Ok(what)) => Outcome::Followed(what.clone()),
            Some(Err(why)) => Outcome::Skipped(why.clone()),
            None => {
                let (key, value) = source::key_value(&l.text);
                match dnsmasq::convert_line(key, value) {
                    Ok(out) => {
                        for (sec, key, value) in out.entries {
                            let i = match sec {
                                Sec::General => 0,
                                Sec::Dns => 1,
                                Sec::Dhcp => 2,
                            };
                            sections[i].1.push(Entry { key, value, src });
                        }
                        match out.note {
                            Some(n) => Outcome::Changed(n),
                            None => Outcome::Converted,
                        }
                    }
                    Err(why) => Outcome::Skipped(why),
                }
            }
        };
        reports.push(Report {
            file: l.file.clone(),
            line: l.line,
            text: l.text.clone(),
            outcome,
        });
    }
    peer_ranges(peer, &mut sections[2].1, &mut reports);
    options_for_unset_tags(&sections[2].1, &mut reports);
    if let Some((file, text)) = keepalived_conf {
        let ka = keepalived::convert(file, text, reports.len());
        reports.extend(ka.reports);
        sections.extend(ka.sections);
    }
    keep_last_of_scalars(&mut sections, &mut reports);
    refuse_what_hamasq_refuses(&mut sections, &mut reports);
    Converted {
        ini: render(&sections, &reports).0,
        lines: reports,
    }
}

/// The safety net: the result goes through hamasq's own parser and
/// validator (what `--test` runs before it looks at the system), and an
/// entry it refuses is taken out, its input line listed with hamasq's
/// error. So the output never carries a line the converter passed through
/// that hamasq does not accept. Errors that name no line of an entry
/// (a required key missing) stay for `--test` to show.
fn refuse_what_hamasq_refuses(sections: &mut [(String, Vec<Entry>)], reports: &mut [Report]) {
    // Each round removes at least one entry or stops.
    for _ in 0..reports.len() + 1 {
        let (ini, at) = render(sections, reports);
        let Err(errs) = crate::config::parse_and_validate(std::path::Path::new("converted"), &ini)
        else {
            return;
        };
        let mut bad: Vec<(usize, usize, String)> = errs
            .iter()
            .filter_map(|e| {
                let &(s, i) = at.get(&e.line?)?;
                Some((s, i, e.message.clone()))
            })
            .collect();
        if bad.is_empty() {
            return;
        }
        bad.sort_by_key(|b| std::cmp::Reverse((b.0, b.1)));
        bad.dedup_by_key(|b| (b.0, b.1));
        for (s, i, message) in bad {
            let e = sections[s].1.remove(i);
            let why = format!("hamasq refuses `{} = {}`: {message}", e.key, e.value);
            mark_removed(sections, reports, e.src, why);
        }
    }
}

/// An entry of line `src` was taken out: the line is not converted, or,
/// when other entries of it are still written, converted with that change.
fn mark_removed(
    sections: &[(String, Vec<Entry>)],
    reports: &mut [Report],
    src: usize,
    why: String,
) {
    let r = &mut reports[src];
    let partly = sections.iter().flat_map(|(_, e)| e).any(|e| e.src == src);
    r.outcome = match (&r.outcome, partly) {
        (_, false) => Outcome::Skipped(why),
        (Outcome::Changed(n), true) => Outcome::Changed(format!("{n}; {why}")),
        (_, true) => Outcome::Changed(why),
    };
}

/// hamasq tags a client only with the `set:` of its range and its
/// reservation. An option for a tag that only a line not converted set
/// (dhcp-mac, dhcp-vendorclass, ...) reaches no client: its line says so.
fn options_for_unset_tags(dhcp: &[Entry], reports: &mut [Report]) {
    let set: std::collections::HashSet<&str> = dhcp
        .iter()
        .filter(|e| e.key == "dhcp-range" || e.key == "dhcp-host")
        .flat_map(|e| {
            e.value
                .split(',')
                .filter_map(|i| i.trim().strip_prefix("set:"))
        })
        .collect();
    for e in dhcp
        .iter()
        .filter(|e| e.key == "dhcp-option" || e.key == "dhcp-option-force")
    {
        let unset: Vec<&str> = e
            .value
            .split(',')
            .map_while(|i| i.trim().strip_prefix("tag:"))
            .filter(|t| !t.starts_with('!') && !set.contains(t))
            .collect();
        if unset.is_empty() {
            continue;
        }
        let note = format!(
            "no converted line sets tag {} (only set: on dhcp-range and dhcp-host does), so \
             this option reaches no client",
            unset.join(", ")
        );
        let r = &mut reports[e.src];
        r.outcome = match &r.outcome {
            Outcome::Changed(n) => Outcome::Changed(format!("{n}; {note}")),
            _ => Outcome::Changed(note),
        };
    }
}

/// The peer's `dhcp-range` lines as `dhcp-peer-range = START,END`.
fn peer_ranges(peer: &[source::Line], dhcp: &mut Vec<Entry>, reports: &mut Vec<Report>) {
    for l in peer {
        let (key, value) = source::key_value(&l.text);
        if key != "dhcp-range" {
            continue;
        }
        let range = dnsmasq::convert_line(key, value).and_then(|out| {
            let v = &out.entries.first().ok_or("no range")?.2;
            crate::dhcp::config::parse_range(v)
        });
        let outcome = match range {
            Ok(r) => {
                dhcp.push(Entry {
                    key: "dhcp-peer-range".into(),
                    value: format!("{},{}", r.start, r.end),
                    src: reports.len(),
                });
                Outcome::Changed(
                    "the peer's range, written as dhcp-peer-range: never offered here, but \
                     its clients keep their addresses when they renew here after a failover"
                        .into(),
                )
            }
            Err(why) => Outcome::Skipped(format!("the peer's range: {why}")),
        };
        reports.push(Report {
            file: l.file.clone(),
            line: l.line,
            text: l.text.clone(),
            outcome,
        });
    }
}

/// A key hamasq takes once keeps its last value, as in dnsmasq; the lines
/// overridden say by which.
fn keep_last_of_scalars(sections: &mut [(String, Vec<Entry>)], reports: &mut [Report]) {
    let mut removed: Vec<(usize, String)> = Vec::new();
    for (_, entries) in sections.iter_mut() {
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if !LIST_KEYS.contains(&e.key.as_str()) {
                last.insert(e.key.as_str(), i);
            }
        }
        let keep: Vec<bool> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| last.get(e.key.as_str()).is_none_or(|&l| l == i))
            .collect();
        for (i, e) in entries.iter().enumerate() {
            let winner = entries[last.get(e.key.as_str()).copied().unwrap_or(i)].src;
            if keep[i] || winner == e.src {
                continue;
            }
            let w = &reports[winner];
            removed.push((
                e.src,
                format!(
                    "overridden by {}:{} ({}); the last one counts, as in dnsmasq",
                    w.file, w.line, w.text
                ),
            ));
        }
        let mut i = 0;
        entries.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }
    for (src, why) in removed {
        mark_removed(sections, reports, src, why);
    }
}

/// The INI text, and for each line holding an entry: (section, entry).
fn render(
    sections: &[(String, Vec<Entry>)],
    reports: &[Report],
) -> (String, HashMap<usize, (usize, usize)>) {
    let mut ini = String::new();
    let mut lines = 0;
    let mut line = |ini: &mut String, text: std::fmt::Arguments<'_>| {
        let _ = writeln!(ini, "{text}");
        lines += 1;
        lines
    };
    line(
        &mut ini,
        format_args!("# Converted by `hamasq import-dnsmasq`."),
    );
    line(
        &mut ini,
        format_args!("# Check it with `hamasq --test -c FILE` before use."),
    );
    let mut at = HashMap::new();
    for (s, (name, entries)) in sections.iter().enumerate() {
        if entries.is_empty() && name != "dns" {
            continue;
        }
        line(&mut ini, format_args!(""));
        line(&mut ini, format_args!("[{name}]"));
        for (i, e) in entries.iter().enumerate() {
            let n = line(&mut ini, format_args!("{} = {}", e.key, e.value));
            at.insert(n, (s, i));
        }
    }
    for (title, want) in [("Converted with a change", 0), ("Not converted", 1)] {
        let mut first = true;
        for r in reports {
            let why = match (&r.outcome, want) {
                (Outcome::Changed(n), 0) | (Outcome::Skipped(n), 1) => n,
                _ => continue,
            };
            if first {
                line(&mut ini, format_args!(""));
                line(&mut ini, format_args!("# {title}:"));
                first = false;
            }
            line(
                &mut ini,
                format_args!("#   {}:{}: {} -- {}", r.file, r.line, r.text, why),
            );
        }
    }
    (ini, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OpenWrt-style generated dnsmasq.conf (trimmed from
    /// /var/etc/dnsmasq.conf.cfg01411c on a stock 23.05 router) plus common
    /// hand-written lines; tests/import_dnsmasq.rs converts the same file
    /// and checks the result with `hamasq --test`.
    pub const OPENWRT: &str = include_str!("../../tests/data/openwrt-dnsmasq.conf");

    fn why<'a>(c: &'a Converted, prefix: &str) -> &'a str {
        c.skipped()
            .find(|(r, _)| r.text.starts_with(prefix))
            .map(|(_, w)| w)
            .unwrap_or_else(|| panic!("{prefix} not listed"))
    }

    #[test]
    fn openwrt_config_converts_and_lists_what_it_left_out() {
        let c = convert(OPENWRT);
        assert!(c.ini.contains("[dns]\n"));
        for l in [
            "domain-needed = true",
            "expand-hosts = true",
            "local-service = true",
            "server = /lan/",
            "domain = lan",
            "stop-dns-rebind = true",
            "bogus-priv = true",
            "server = 9.9.9.9",
            "cache-size = 1000",
            "interface = br-lan",
            "dhcp-authoritative = true",
            "dhcp-range = set:lan,192.168.1.100,192.168.1.249,255.255.255.0,12h",
            "dhcp-import-dnsmasq = /tmp/dhcp.leases",
            "user = dnsmasq",
            "dhcp-script = /usr/lib/dnsmasq/dhcp-script.sh",
        ] {
            assert!(c.ini.contains(l), "{l:?} missing:\n{}", c.ini);
        }
        assert!(why(&c, "conf-file").contains("not followed"));
        assert!(why(&c, "bind-dynamic").contains("not needed"));
        assert!(why(&c, "enable-ra").contains("IPv6"));
        assert!(why(&c, "no-negcache").contains("no hamasq equivalent"));
        assert_eq!(
            c.skipped()
                .find(|(r, _)| r.text == "group=dnsmasq")
                .map(|(r, _)| r.line),
            Some(23)
        );
        assert!(c.ini.contains("# Not converted:"));
        // Every option line has exactly one outcome.
        let option_lines = OPENWRT
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
            .count();
        assert_eq!(c.lines.len(), option_lines);
    }

    #[test]
    fn the_converted_sections_validate() {
        let c = convert(OPENWRT);
        let cfg = crate::config::parse_and_validate(std::path::Path::new("/conv.conf"), &c.ini)
            .unwrap_or_else(|e| panic!("{e:#?}\n{}", c.ini));
        let dns = cfg.dns.expect("[dns]");
        assert!(dns.domain_needed && dns.stop_dns_rebind && dns.rebind_localhost_ok);
        assert_eq!(dns.locals, vec![vec!["lan".to_string()]]);
        let dhcp = cfg.dhcp.expect("[dhcp]");
        assert_eq!(dhcp.ranges.len(), 1);
        assert_eq!(dhcp.hosts.len(), 1);
    }

    #[test]
    fn unsupported_values_are_listed_not_dropped() {
        let c = convert(
            "dhcp-range=::1,::400,constructor:eth0\ndomain=lan,192.168.1.0/24\nserver=1.1.1.1@eth1\nstrict-order=yes\nport\n",
        );
        assert_eq!(c.skipped().count(), 5, "{:#?}", c.lines);
        assert!(c.skipped().next().unwrap().1.contains("IPv6"));
    }

    /// The known failures of issue 14: each passed through unchanged and
    /// then refused by `--test`; now each converts to a valid config or is
    /// listed with its reason.
    #[test]
    fn the_lines_that_used_to_fail_test_now_validate() {
        let text = "interface=eth0\n\
                    dhcp-range=lan,192.168.1.100,192.168.1.200,255.255.255.0,12h\n\
                    dhcp-option=lan,6,192.168.1.1\n\
                    dhcp-host=id:*,ignore\n\
                    dhcp-host=00:11:22:33:44:55,id:*,192.168.1.60\n\
                    listen-address=127.0.0.1,192.168.1.1\n\
                    cache-size=10000   # comment\n\
                    log-facility=/var/log/dnsmasq.log\n";
        let c = convert(text);
        let cfg = crate::config::parse_and_validate(std::path::Path::new("/conv.conf"), &c.ini)
            .unwrap_or_else(|e| panic!("{e:#?}\n{}", c.ini));
        let dns = cfg.dns.unwrap();
        assert_eq!(dns.cache_size, 10000);
        assert_eq!(dns.listen_addresses.len(), 2);
        let dhcp = cfg.dhcp.unwrap();
        assert_eq!(dhcp.options.len(), 1, "{}\n{:#?}", c.ini, c.lines);
        assert_eq!(dhcp.options[0].tags, ["lan"]);
        assert_eq!(dhcp.ranges[0].tag.as_deref(), Some("lan"));
        assert_eq!(dhcp.hosts.len(), 1);
        let skipped: Vec<usize> = c.skipped().map(|(r, _)| r.line).collect();
        assert_eq!(skipped, [4, 8], "{}", c.ini);
        assert_eq!(c.changed().map(|(r, _)| r.line).collect::<Vec<_>>(), [2, 5]);
    }

    #[test]
    fn a_value_hamasq_refuses_is_listed_with_hamasqs_error() {
        // Both pass the converter's own rules; hamasq's validator refuses
        // them (a bad netmask, an unknown option name).
        let c = convert(
            "dhcp-range=192.168.1.10,192.168.1.20,255.0.255.0\n\
             dhcp-option=option:no-such-option,1\n\
             cache-size=100\n",
        );
        let skipped: Vec<(usize, &str)> = c.skipped().map(|(r, w)| (r.line, w)).collect();
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(
            skipped[0].1.contains("hamasq refuses `dhcp-range = "),
            "{skipped:?}"
        );
        assert!(skipped[1].1.contains("no-such-option"), "{skipped:?}");
        assert!(c.ini.contains("cache-size = 100\n"));
        crate::config::parse_and_validate(std::path::Path::new("/c.conf"), &c.ini)
            .unwrap_or_else(|e| panic!("{e:#?}\n{}", c.ini));
    }

    #[test]
    fn the_peers_ranges_become_peer_ranges() {
        let own = source::lines_of(
            "a.conf",
            "interface=eth0\ndhcp-range=192.168.1.100,192.168.1.149,12h\n",
        );
        let peer = source::lines_of(
            "b.conf",
            "server=9.9.9.9\ndhcp-range=192.168.1.150,192.168.1.199,12h\n\
             dhcp-range=192.168.1.120,192.168.1.130\ndhcp-range=::1,::ff\n",
        );
        let c = build(&own, None, &peer);
        assert!(
            c.ini
                .contains("dhcp-peer-range = 192.168.1.150,192.168.1.199\n"),
            "{}",
            c.ini
        );
        // Only the peer's ranges are accounted for: one converted, one
        // overlapping ours (hamasq refuses it), one IPv6.
        let peer_lines: Vec<(usize, bool)> = c
            .lines
            .iter()
            .filter(|r| r.file == "b.conf")
            .map(|r| (r.line, matches!(r.outcome, Outcome::Changed(_))))
            .collect();
        assert_eq!(peer_lines, [(2, true), (3, false), (4, false)]);
        let overlap = c
            .lines
            .iter()
            .find(|r| r.file == "b.conf" && r.line == 3)
            .unwrap();
        assert!(
            matches!(&overlap.outcome, Outcome::Skipped(w) if w.contains("hamasq refuses")),
            "{overlap:?}"
        );
        crate::config::parse_and_validate(std::path::Path::new("/c.conf"), &c.ini)
            .unwrap_or_else(|e| panic!("{e:#?}\n{}", c.ini));
    }

    #[test]
    fn an_option_for_a_tag_nothing_sets_says_it_reaches_no_client() {
        let c = convert(
            "dhcp-range=set:lan,192.168.1.10,192.168.1.20,255.255.255.0\n\
             dhcp-host=00:11:22:33:44:55,set:laptop,192.168.1.5\n\
             dhcp-mac=set:phones,f8:*:*:*:*:*\n\
             dhcp-option=lan,6,192.168.1.1\n\
             dhcp-option=tag:laptop,tag:!guest,option:mtu,1400\n\
             dhcp-option=phones,option:dns-server,192.168.1.1\n",
        );
        let changed: Vec<(usize, &str)> = c.changed().map(|(r, n)| (r.line, n)).collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert_eq!(changed[0].0, 6);
        assert!(changed[0].1.contains("tag phones"), "{changed:?}");
    }

    /// Hostile and broken input: no panic, and still one outcome per line.
    #[test]
    fn garbage_in_is_listed_never_a_panic() {
        let dnsmasq = "=\n==\n=x\ndhcp-option=aééé,3\ndhcp-option=éééé\ndhcp-option=\n\
                       dhcp-range=\ndhcp-range=,\ndhcp-host=,\ndhcp-host=id:*\n\
                       listen-address=,\nrev-server=/\nrev-server=é/8,x\nlog-facility=\n\
                       interface=\nserver=\"#\nlocal-service=x\n\u{0}\nconf-dir\nconf-file\n";
        let lines = source::lines_of("d.conf", dnsmasq);
        let ka = "}\n{\n\"\n{ { }\nvrrp_instance\nvrrp_instance é {\n\
                  vrrp_instance x {\n virtual_ipaddress {\n é\n 1.2.3.4/99 dev\n }\n\
                  track_script { \"\" weight }\n priority 999\n notify\n}\n\
                  vrrp_script { script\n}\nvrrp_script s {\n weight x\n script \"\"\n";
        let c = build(&lines, Some(("k.conf", ka)), &lines);
        let dnsmasq_lines = dnsmasq.lines().filter(|l| !l.trim().is_empty()).count();
        let own: Vec<_> = c.lines.iter().filter(|r| r.file == "d.conf").collect();
        // The peer copy adds its dhcp-range lines.
        assert_eq!(own.len(), dnsmasq_lines + 2, "{:#?}", c.lines);
        let ka_lines: Vec<usize> = c
            .lines
            .iter()
            .filter(|r| r.file == "k.conf")
            .map(|r| r.line)
            .collect();
        for l in [3, 5, 6, 7, 9, 10, 13, 14, 16, 18, 19, 20] {
            assert!(
                ka_lines.contains(&l),
                "k.conf:{l} not reported: {ka_lines:?}"
            );
        }
    }

    #[test]
    fn a_scalar_given_twice_keeps_the_last_and_says_so() {
        let c = convert("cache-size=150\nserver=1.1.1.1\ncache-size=1000\nserver=9.9.9.9\n");
        assert!(c.ini.contains("cache-size = 1000\n"));
        assert!(!c.ini.contains("cache-size = 150\n"));
        let servers = c.ini.find("server = 1.1.1.1").unwrap();
        assert!(servers < c.ini.find("server = 9.9.9.9").unwrap());
        let (r, why) = c.skipped().next().unwrap();
        assert_eq!(r.line, 1);
        assert!(why.contains("dnsmasq.conf:3"), "{why}");
        crate::config::parse_and_validate(std::path::Path::new("/c.conf"), &c.ini).unwrap();
        // A line only partly overridden is converted with that change.
        let c = convert("log-facility=local3\nlog-facility=-\n");
        assert!(c.ini.contains("log-target = stderr\n"), "{}", c.ini);
        assert!(c.ini.contains("log-facility = local3\n"), "{}", c.ini);
        assert!(!c.ini.contains("log-target = syslog"), "{}", c.ini);
        let first = &c.lines[0].outcome;
        assert!(
            matches!(first, Outcome::Changed(w) if w.contains("overridden by dnsmasq.conf:2")),
            "{first:?}"
        );
    }
}
