//! Configuration: INI in three stages (design §7).
//!
//! 1. [`raw::parse`]: text to sections and entries with their lines (pure).
//! 2. [`validate::validate`]: entries to a typed [`Config`], returning
//!    **every** error at once; unknown sections and keys are errors (pure).
//! 3. [`resolve::resolve`]: the only stage that looks at the system (users,
//!    directories, later interfaces).
//!
//! [`load`] runs all three. `hamasq --test` and SIGHUP use the same path, so
//! a config that passes `--test` is the config the daemon will run.

pub(crate) mod resolve;
pub mod validate;

pub use crate::section::{ConfigError, raw};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::log::{Level, Target};

pub use resolve::{Resolved, RunAs};

/// The default config file.
pub const DEFAULT_PATH: &str = "/etc/hamasq.conf";

/// A typed, validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The file it came from.
    pub file: PathBuf,
    pub general: General,
    /// `[dhcp]`, if present.
    pub dhcp: Option<crate::dhcp::config::DhcpConfig>,
    /// `[dns]`, if present.
    pub dns: Option<crate::dns::config::DnsConfig>,
    /// Every `[vrrp NAME]`, in file order.
    pub vrrp: Vec<crate::vrrp::config::VrrpConfig>,
    /// `[ha]`, the pair link, if present.
    pub ha: Option<crate::ha::config::HaConfig>,
    /// Every `[ra NAME]`, in file order (none: no router advertisements).
    pub ra: Vec<crate::ra::config::RaConfig>,
    /// Every `[dhcpv6 NAME]`, in file order.
    pub dhcpv6: Vec<crate::dhcp6::config::Dhcp6Config>,
    /// The line of each key's first occurrence, by (section header, key):
    /// later stages name the line of what they find wrong.
    pub key_lines: std::collections::BTreeMap<(String, String), usize>,
}

impl Config {
    /// Fills in the line of errors found after validation (by section and key).
    pub fn locate(&self, errs: &mut [ConfigError]) {
        for e in errs.iter_mut().filter(|e| e.line.is_none()) {
            if let (Some(s), Some(k)) = (&e.section, &e.key) {
                e.line = self.key_lines.get(&(s.clone(), k.clone())).copied();
            }
        }
    }
}

/// `[general]`: process-wide settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct General {
    /// `log-target` + `log-facility`; `None` (not set): syslog when
    /// running in the background, stderr with `--foreground`.
    pub log_target: Option<Target>,
    /// `log-facility`, also for the default syslog target.
    pub log_facility: crate::log::Facility,
    /// `log-level`.
    pub log_level: Level,
    /// `log-rate-limit`: lines per event name per 10 s for rejected input; 0 = unlimited.
    pub log_rate_limit: u32,
    /// `pid-file`; `None` when set to `none`.
    pub pid_file: Option<PathBuf>,
    /// `state-dir`: leases and other state.
    pub state_dir: PathBuf,
    /// `user`: drop root to this user after start-up; `None` keeps the starting user.
    pub user: Option<String>,
    /// `metrics-listen`: serve Prometheus text on this TCP address; `None` = off.
    pub metrics_listen: Option<SocketAddr>,
    /// `metrics-allow`: client networks that may scrape; empty = anyone.
    pub metrics_allow: Vec<crate::metrics::Net>,
    /// `control-socket`: where `hamasq status` finds the daemon; `None` =
    /// off. Default: `control.sock` in `state-dir`.
    pub control_socket: Option<PathBuf>,
}

impl General {
    /// Where log lines go: `log-target` if set, else where a daemon's logs
    /// go (syslog, as dnsmasq), or stderr for `--foreground` (systemd,
    /// procd and containers collect it).
    pub fn log_target_for(&self, foreground: bool) -> Target {
        self.log_target.unwrap_or(if foreground {
            Target::Stderr
        } else {
            Target::Syslog(self.log_facility)
        })
    }
}

impl Default for General {
    fn default() -> General {
        General {
            log_target: None,
            log_facility: crate::log::Facility::Daemon,
            log_level: Level::Info,
            log_rate_limit: crate::log::DEFAULT_RATE_LIMIT,
            pid_file: Some(PathBuf::from("/run/hamasq.pid")),
            state_dir: PathBuf::from("/var/lib/hamasq"),
            user: None,
            metrics_listen: None,
            metrics_allow: Vec::new(),
            control_socket: Some(
                PathBuf::from("/var/lib/hamasq").join(crate::control::DEFAULT_NAME),
            ),
        }
    }
}

/// Folds errors that repeat (same section, key, value and message, as
/// 1,000 copies of one line give) into the first, which then says how many
/// more lines carry it and the first few of them. Order is kept.
pub fn collapse_repeats(errs: Vec<ConfigError>) -> Vec<ConfigError> {
    use std::collections::HashMap;
    type Key = (Option<String>, Option<String>, Option<String>, String);
    const SHOWN: usize = 5;
    let mut first: HashMap<Key, usize> = HashMap::new();
    let mut repeats: Vec<Vec<Option<usize>>> = Vec::new();
    let mut out: Vec<ConfigError> = Vec::new();
    for e in errs {
        let k = (
            e.section.clone(),
            e.key.clone(),
            e.value.clone(),
            e.message.clone(),
        );
        match first.get(&k) {
            Some(&i) => repeats[i].push(e.line),
            None => {
                first.insert(k, out.len());
                out.push(e);
                repeats.push(Vec::new());
            }
        }
    }
    for (e, more) in out.iter_mut().zip(repeats) {
        if more.is_empty() {
            continue;
        }
        let lines: Vec<String> = more
            .iter()
            .flatten()
            .take(SHOWN)
            .map(|l| l.to_string())
            .collect();
        let tail = if more.len() > lines.len() {
            ", ..."
        } else {
            ""
        };
        let which = if lines.is_empty() {
            String::new()
        } else {
            format!(": line {}{tail}", lines.join(", "))
        };
        let n = more.len();
        let s = if n == 1 { "" } else { "s" };
        e.message = format!("{} (the same on {n} more line{s}{which})", e.message);
    }
    out
}

/// Reads, validates and resolves `path`: the one entry point for start-up,
/// `--test` and reload. Returns every error found.
pub fn load(path: &Path) -> Result<Resolved, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError {
            file: path.to_path_buf(),
            line: None,
            section: None,
            key: None,
            value: None,
            message: format!("cannot read the config file: {e}"),
        }]
    })?;
    let cfg = parse_and_validate(path, &text)?;
    resolve::resolve(cfg)
}

/// Stages 1 and 2 on text: pure, for tests and tools.
pub fn parse_and_validate(path: &Path, text: &str) -> Result<Config, Vec<ConfigError>> {
    let raw = raw::parse(path, text)?;
    validate::validate(&raw)
}

#[cfg(test)]
#[path = "never_panics_tests.rs"]
mod never_panics_tests;
