//! CI's share of the config fuzz target (`fuzz/fuzz_targets/config_parse.rs`):
//! seeded mutations of real configs through parse and validate. Nothing may
//! panic, every error must render, and an accepted text must validate the
//! same way twice. The PRNG is the crate's seeded test one.

use std::path::Path;

use super::parse_and_validate;
use super::validate::known_keys;
use crate::testkit::Rng;

/// The sample config with every example uncommented, and a small pair config.
fn bases() -> Vec<String> {
    let sample = include_str!("../../etc/hamasq.conf")
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let pair = "[general]\npid-file = none\nstate-dir = /var/lib/hamasq\n\
        metrics-listen = 127.0.0.1:9153\nmetrics-allow = 10.0.0.0/24\n\n\
        [dns]\nserver = /corp/10.0.0.53#5353\naddress = /ads.example/0.0.0.0\n\n\
        [dhcp]\ninterface = eth0\ndhcp-range = 192.168.1.100,192.168.1.149,12h\n\
        dhcp-host = 02:00:00:00:00:01,192.168.1.20,printer\n\n\
        [vrrp lan]\ninterface = eth0\nvirtual-router-id = 51\npriority = 150\n\
        virtual-ipaddress = 192.168.1.1/24\nunicast-peer = 192.168.1.3\n";
    vec![sample, pair.to_string()]
}

const NASTY: &[&str] = &[
    "",
    "0",
    "-1",
    "4294967296",
    "99999999999999999999999",
    "::",
    "/",
    "//",
    "1.2.3.4/33",
    "0.0.0.0/0",
    "255.255.255.255",
    "none",
    "true",
    "#",
    ";",
    "=",
    "[",
    "\u{0}",
    "é€𝄞",
    ",,,,",
    "/a/b/c/",
    "01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11",
    "40.95",
    "0.001",
    "1h2m",
    "option:router,",
    "tag:x,option:dns-server,1.2.3.4",
];

fn mutate(rng: &mut Rng, text: &str, keys: &[(String, String)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..1 + rng.below(4) {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let i = rng.below(lines.len() as u64) as usize;
        match rng.below(6) {
            // A value replaced by a nasty one.
            0 => {
                if let Some((k, _)) = lines[i].split_once('=') {
                    let v = NASTY[rng.below(NASTY.len() as u64) as usize];
                    lines[i] = format!("{k}= {v}");
                }
            }
            // A known key, in a random section, with a nasty value.
            1 => {
                let (section, key) = &keys[rng.below(keys.len() as u64) as usize];
                let v = NASTY[rng.below(NASTY.len() as u64) as usize];
                lines.insert(i, format!("[{section}]\n{key} = {v}"));
            }
            // A line repeated.
            2 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            // A line dropped.
            3 => {
                lines.remove(i);
            }
            // One character replaced by a syntax character.
            4 => {
                let l = &mut lines[i];
                if !l.is_empty() {
                    let at = rng.below(l.len() as u64) as usize;
                    if l.is_char_boundary(at) && l.is_char_boundary(at + 1) {
                        let c = b"=[]#/,.: 0x-\t"[rng.below(13) as usize] as char;
                        l.replace_range(at..at + 1, &c.to_string());
                    }
                }
            }
            // A very long value.
            _ => {
                if let Some((k, _)) = lines[i].split_once('=') {
                    lines[i] = format!("{k}= {}", "a".repeat(1 + rng.below(20_000) as usize));
                }
            }
        }
    }
    lines.join("\n")
}

#[test]
fn mutated_configs_never_panic_and_every_error_renders() {
    let keys: Vec<(String, String)> = known_keys()
        .into_iter()
        .flat_map(|(s, ks)| {
            let s = if s == "vrrp" { "vrrp x" } else { s };
            ks.into_iter().map(move |k| (s.to_string(), k))
        })
        .collect();
    let bases = bases();
    let path = Path::new("/never-panics/hamasq.conf");
    let mut rng = Rng::new(0x00C0_FF1E_5EED);
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..250 {
        let text = mutate(&mut rng, &bases[round % bases.len()], &keys);
        match parse_and_validate(path, &text) {
            Ok(c) => {
                accepted += 1;
                assert_eq!(
                    parse_and_validate(path, &text).ok(),
                    Some(c),
                    "round {round}"
                );
            }
            Err(errs) => {
                refused += 1;
                assert!(!errs.is_empty(), "round {round}");
                for e in &errs {
                    assert!(e.to_string().contains("hamasq.conf"), "round {round}: {e}");
                }
            }
        }
    }
    // Both outcomes were exercised, so the loop tests something.
    assert!(
        accepted > 10 && refused > 10,
        "{accepted} accepted, {refused} refused"
    );
}
