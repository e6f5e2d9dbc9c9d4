//! The measuring probe `tests/ha_e2e/haprobe.py` (DORA from fresh MACs,
//! pings, DNS queries over IPv4 or IPv6) as the lab tests run it, and the
//! gaps read from its output.

use std::time::Duration;

use super::{Host, Proc};

pub const PROBE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ha_e2e/haprobe.py");
/// Debian's Python (the one on PATH is not; the probe needs only the
/// standard library, but it runs as root in the lab's namespaces).
pub const PY: &str = "/usr/bin/python3";

/// Times (Unix s) of the probe's lines starting with `kind` (`ack`,
/// `reply`, `answer`).
pub fn probe_times(p: &Proc, kind: &str) -> Vec<f64> {
    p.logs()
        .lines()
        .filter(|l| l.starts_with(kind) && l.as_bytes().get(kind.len()) == Some(&b' '))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect()
}

/// Longest interval between consecutive events whose later event lies in
/// `(from, to]`; `None` when no event came after `from`.
pub fn gap_across(times: &[f64], from: f64, to: f64) -> Option<f64> {
    let mut best: Option<f64> = None;
    for w in times.windows(2) {
        if w[1] > from && w[1] <= to {
            best = Some(best.map_or(w[1] - w[0], |b: f64| b.max(w[1] - w[0])));
        }
    }
    best
}

pub fn spawn_probe(host: &Host, args: &[&str]) -> Proc {
    let mut argv = vec![PY, PROBE];
    argv.extend_from_slice(args);
    host.spawn(&argv)
}

/// Waits until the probe logged `n` lines starting with `kind`.
#[track_caller]
pub fn wait_probe(p: &Proc, kind: &str, n: usize, timeout: Duration) {
    assert!(
        super::wait_until(timeout, || probe_times(p, kind).len() >= n),
        "probe: fewer than {n} {kind} lines within {timeout:?}:\n{}",
        p.logs()
    );
}

pub fn stop_probe(p: &Proc) {
    let _ = p.signal(super::SIGINT);
    p.wait_exit(Duration::from_secs(3));
}
