//! The manual pages cannot drift from the code:
//! * `packaging/man/hamasq.conf.5` is generated from `etc/hamasq.conf` (the
//!   reference whose keys a unit test checks against the parser's own key
//!   list, `config::validate::known_keys`); this test regenerates it and
//!   compares. `HAMASQ_UPDATE_MAN=1 cargo test --test man_pages` rewrites it.
//! * `packaging/man/hamasq.8` must name every option of `hamasq --help`.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_hamasq");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Escapes text for roff: backslashes, and a leading `.` or `'`.
fn roff(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// A key line of the sample: `key = value` or `#key = value`.
fn key_line(l: &str) -> Option<(&str, &str)> {
    let body = l.strip_prefix('#').unwrap_or(l);
    let (k, v) = body.split_once('=')?;
    let k = k.trim_end();
    (!k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    .then_some((k, v.trim()))
}

fn section_header(l: &str) -> Option<&str> {
    l.strip_prefix('#')
        .unwrap_or(l)
        .strip_prefix('[')?
        .strip_suffix(']')
}

/// hamasq.conf(5) from the sample config.
fn render(sample: &str) -> String {
    let mut out = String::new();
    out.push_str(".\\\" Generated from etc/hamasq.conf by tests/man_pages.rs; do not edit.\n");
    out.push_str(".TH HAMASQ.CONF 5 \"\" \"hamasq\" \"File Formats\"\n");
    out.push_str(
        ".SH NAME\nhamasq.conf \\- configuration of the hamasq DNS, DHCP and VRRP daemon\n",
    );
    out.push_str(".SH SYNOPSIS\n/etc/hamasq.conf\n.SH DESCRIPTION\n");
    let mut lines = sample.lines().peekable();
    // The file's opening comment block is the description.
    while let Some(l) = lines.peek() {
        if section_header(l).is_some() || key_line(l).is_some() {
            break;
        }
        let l = lines.next().unwrap_or_default();
        let t = l.trim_start_matches('#').trim();
        if t.is_empty() {
            out.push_str(".PP\n");
        } else if !t.starts_with('-') {
            out.push_str(&roff(t));
            out.push('\n');
        }
    }
    let mut para: Vec<String> = Vec::new();
    let mut keys: Vec<(String, String)> = Vec::new();
    let flush = |out: &mut String, para: &mut Vec<String>, keys: &mut Vec<(String, String)>| {
        if !keys.is_empty() {
            out.push_str(".TP\n");
            let head: Vec<String> = keys
                .iter()
                .map(|(k, v)| format!("\\fB{}\\fR = {}", roff(k), roff(v)))
                .collect();
            out.push_str(&head.join(", "));
            out.push('\n');
            for p in para.iter() {
                out.push_str(&roff(p));
                out.push('\n');
            }
        } else if !para.is_empty() {
            out.push_str(".PP\n");
            for p in para.iter() {
                out.push_str(&roff(p));
                out.push('\n');
            }
        }
        para.clear();
        keys.clear();
    };
    for l in lines {
        if let Some(h) = section_header(l) {
            flush(&mut out, &mut para, &mut keys);
            out.push_str(&format!(".SH [{}]\n", roff(h)));
        } else if let Some((k, v)) = key_line(l) {
            if !keys.iter().any(|(x, _)| x == k) {
                keys.push((k.to_string(), v.to_string()));
            }
        } else {
            let t = l.trim_start_matches('#').trim();
            if t.is_empty() || t.chars().all(|c| c == '-') {
                flush(&mut out, &mut para, &mut keys);
            } else {
                if !keys.is_empty() {
                    flush(&mut out, &mut para, &mut keys);
                }
                para.push(t.to_string());
            }
        }
    }
    flush(&mut out, &mut para, &mut keys);
    out.push_str(".SH SEE ALSO\n.BR hamasq (8)\n");
    out
}

#[test]
fn hamasq_conf_5_is_generated_from_the_sample_config() {
    let sample = std::fs::read_to_string(format!("{ROOT}/etc/hamasq.conf")).unwrap();
    let page = render(&sample);
    let path = format!("{ROOT}/packaging/man/hamasq.conf.5");
    if std::env::var_os("HAMASQ_UPDATE_MAN").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == page,
        "{path} is out of date with etc/hamasq.conf; run HAMASQ_UPDATE_MAN=1 cargo test --test man_pages"
    );
    // And every key the parser reads is in it, under its section.
    for (section, keys) in hamasq::config::validate::known_keys() {
        let at = page
            .find(&format!(".SH [{section}"))
            .unwrap_or_else(|| panic!("no [{section}] section in {path}"));
        let end = page[at + 4..]
            .find(".SH ")
            .map_or(page.len(), |e| at + 4 + e);
        for k in keys {
            assert!(
                page[at..end].contains(&format!("\\fB{}\\fR", roff(&k))),
                "[{section}] {k} missing from {path}"
            );
        }
    }
}

#[test]
fn hamasq_8_names_every_command_line_option() {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let page = std::fs::read_to_string(format!("{ROOT}/packaging/man/hamasq.8")).unwrap();
    let mut opts: Vec<String> = help
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| c == ',' || c == '[' || c == ']'))
        .filter(|w| w.starts_with('-') && w.len() > 1)
        .map(str::to_string)
        .collect();
    opts.extend(["import-dnsmasq", "status", "leases"].map(String::from));
    opts.dedup();
    assert!(opts.len() >= 10, "{opts:?}");
    for o in opts {
        assert!(
            page.contains(&roff(&o)),
            "hamasq(8) does not mention {o} from --help"
        );
    }
}

/// Issue 14 item 7: the pages speak to users: no developer notes, no
/// files they do not have (source files, design documents).
#[test]
fn the_pages_name_no_source_files_or_design_documents() {
    for page in ["hamasq.conf.5", "hamasq.8"] {
        let text = std::fs::read_to_string(format!("{ROOT}/packaging/man/{page}")).unwrap();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with(".\\\"") {
                continue; // a roff comment, never shown
            }
            let l = line.to_ascii_lowercase();
            for bad in ["src/", ".rs", "design", "unit test"] {
                assert!(
                    !l.contains(bad),
                    "{page}:{}: {bad:?} means nothing to a user: {line}",
                    i + 1
                );
            }
        }
    }
}

/// Issue 14 item 7: each command's tag is one roff line, so `status
/// [-c FILE]` is not split into tag and body (as `man -l` showed it).
/// Rendered with `man` when it is installed.
#[test]
fn hamasq_8_renders_the_commands_whole() {
    let path = format!("{ROOT}/packaging/man/hamasq.8");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if *l == ".TP" {
            let tag = lines.get(i + 1).copied().unwrap_or("");
            let (open, close) = (tag.matches('[').count(), tag.matches(']').count());
            assert_eq!(
                open,
                close,
                "line {}: a .TP tag split over lines: {tag}",
                i + 2
            );
        }
    }
    for cmd in ["status", "leases"] {
        let tag = format!("\\fB{cmd}\\fR [\\fB\\-c\\fR \\fIFILE\\fR]");
        assert!(text.contains(&tag), "no one-line tag {tag:?}");
    }
    let Ok(out) = Command::new("man")
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .args(["-l", &path])
        .output()
    else {
        eprintln!("man is not installed: rendering not checked");
        return;
    };
    let page = String::from_utf8_lossy(&out.stdout);
    // Without a terminal man marks bold and underline by overstriking
    // (`c\bc`, `_\bc`): keep the last character of each such pair.
    let mut clean = String::new();
    let mut chars = page.chars().peekable();
    while let Some(c) = chars.next() {
        if chars.peek() == Some(&'\x08') {
            chars.next();
            continue;
        }
        clean.push(c);
    }
    for cmd in ["status", "leases"] {
        assert!(
            clean
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{cmd} [-c FILE]"))),
            "`man -l` does not show `{cmd} [-c FILE]` whole:\n{clean}"
        );
    }
}
