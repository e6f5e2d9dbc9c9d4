//! Counters and gauges, by the names operators already scrape.
//!
//! Each subsystem registers its counters once in the process-wide
//! [`Registry`] and then bumps an [`Counter`] (one relaxed atomic add on the
//! hot path). SIGUSR1 writes them all to the log and `metrics-listen`
//! serves them as Prometheus text. Counters survive a config reload.

use portable_atomic::{AtomicU64, Ordering};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

/// A monotonically increasing count.
///
/// 64 bits so that it never wraps (a DNS counter at 100 queries/s would wrap
/// 32 bits in 16 months). `portable-atomic`'s `AtomicU64` is the native one
/// where the target has 64-bit atomics, and a lock-based fallback where it
/// has not (32-bit MIPS and PowerPC, ARMv5: OpenWrt's ath79, ramips, mpc85xx).
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

type GaugeFn = Box<dyn Fn() -> u64 + Send + Sync>;
/// A labelled gauge family: `(labels, value)` per series, the labels as
/// Prometheus writes them between the braces (`subnet="10.0.0.0/24"`).
type FamilyFn = Box<dyn Fn() -> Vec<(String, u64)> + Send + Sync>;

enum Value {
    Counter(Counter),
    Gauge(GaugeFn),
    Family(FamilyFn),
}

struct Metric {
    name: &'static str,
    help: &'static str,
    value: Value,
}

/// All metrics of the process.
#[derive(Default)]
pub struct Registry {
    metrics: Mutex<Vec<Metric>>,
}

impl Registry {
    /// Registers (or returns the existing) counter `name`.
    pub fn counter(&self, name: &'static str, help: &'static str) -> Counter {
        let mut m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Metric {
            value: Value::Counter(c),
            ..
        }) = m.iter().find(|x| x.name == name)
        {
            return c.clone();
        }
        let c = Counter::default();
        m.push(Metric {
            name,
            help,
            value: Value::Counter(c.clone()),
        });
        c
    }

    /// Registers a gauge read by calling `f` (replacing one of the same name).
    pub fn gauge(
        &self,
        name: &'static str,
        help: &'static str,
        f: impl Fn() -> u64 + Send + Sync + 'static,
    ) {
        self.replace(name, help, Value::Gauge(Box::new(f)));
    }

    /// Registers a labelled gauge family read by calling `f` (replacing
    /// one of the same name).
    pub fn gauge_family(
        &self,
        name: &'static str,
        help: &'static str,
        f: impl Fn() -> Vec<(String, u64)> + Send + Sync + 'static,
    ) {
        self.replace(name, help, Value::Family(Box::new(f)));
    }

    fn replace(&self, name: &'static str, help: &'static str, value: Value) {
        let mut m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|x| x.name != name);
        m.push(Metric { name, help, value });
    }

    /// `(name, value)` of every unlabelled metric, in registration order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .filter_map(|x| {
                let v = match &x.value {
                    Value::Counter(c) => c.get(),
                    Value::Gauge(f) => f(),
                    Value::Family(_) => return None,
                };
                Some((x.name, v))
            })
            .collect()
    }

    /// `name{labels}` and value of every series of the labelled families.
    pub fn labelled_snapshot(&self) -> Vec<(String, u64)> {
        let m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for x in m.iter() {
            if let Value::Family(f) = &x.value {
                out.extend(
                    f().into_iter()
                        .map(|(l, v)| (format!("{}{{{l}}}", x.name), v)),
                );
            }
        }
        out
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render_prometheus(&self) -> String {
        let m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(64 * m.len() + 64);
        let _ = writeln!(out, "# HELP hamasq_build_info Build of the running daemon.");
        let _ = writeln!(out, "# TYPE hamasq_build_info gauge");
        let _ = writeln!(
            out,
            "hamasq_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        for x in m.iter() {
            let kind = match &x.value {
                Value::Counter(_) => "counter",
                Value::Gauge(_) | Value::Family(_) => "gauge",
            };
            let _ = writeln!(out, "# HELP {} {}", x.name, x.help);
            let _ = writeln!(out, "# TYPE {} {}", x.name, kind);
            match &x.value {
                Value::Counter(c) => {
                    let _ = writeln!(out, "{} {}", x.name, c.get());
                }
                Value::Gauge(f) => {
                    let _ = writeln!(out, "{} {}", x.name, f());
                }
                Value::Family(f) => {
                    for (labels, v) in f() {
                        let _ = writeln!(out, "{}{{{labels}}} {v}", x.name);
                    }
                }
            }
        }
        out
    }
}

/// The process-wide registry.
pub fn global() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_shared_by_name_and_render() {
        let r = Registry::default();
        let a = r.counter("hamasq_test_total", "A test counter.");
        let b = r.counter("hamasq_test_total", "A test counter.");
        a.inc();
        b.add(2);
        r.gauge("hamasq_test_gauge", "A test gauge.", || 7);
        assert_eq!(
            r.snapshot(),
            vec![("hamasq_test_total", 3), ("hamasq_test_gauge", 7)]
        );
        let text = r.render_prometheus();
        assert!(
            text.contains("# TYPE hamasq_test_total counter\nhamasq_test_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE hamasq_test_gauge gauge\nhamasq_test_gauge 7\n"),
            "{text}"
        );
        assert!(text.starts_with("# HELP hamasq_build_info"));
        // A labelled family: every series under one HELP/TYPE; not in the
        // unlabelled snapshot.
        r.gauge_family("hamasq_test_family", "A test family.", || {
            vec![("pool=\"a\"".into(), 1), ("pool=\"b\"".into(), 2)]
        });
        let text = r.render_prometheus();
        assert!(
            text.contains(
                "# TYPE hamasq_test_family gauge\nhamasq_test_family{pool=\"a\"} 1\nhamasq_test_family{pool=\"b\"} 2\n"
            ),
            "{text}"
        );
        assert_eq!(r.snapshot().len(), 2);
        assert_eq!(
            r.labelled_snapshot(),
            vec![
                ("hamasq_test_family{pool=\"a\"}".to_string(), 1),
                ("hamasq_test_family{pool=\"b\"}".to_string(), 2)
            ]
        );
    }
}
