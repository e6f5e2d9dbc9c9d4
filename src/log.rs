//! Logging: one line per event, greppable, with a stable event name.
//!
//! Every line is `LEVEL EVENT key=value ...`, e.g.
//! `info daemon.ready pid=812 config=/etc/hamasq.conf`. The event name
//! (`subsystem.what`) is the stable part that operators grep and alert on;
//! the rest may gain fields over time. On stderr each line starts with an
//! RFC 3339 UTC timestamp; systemd and procd capture stderr as it is. With
//! `log-target = syslog` lines go to syslog(3) under the ident `hamasq` and
//! the configured facility (`daemon` by default, like dnsmasq and keepalived).
//!
//! Logs of rejected input (malformed packets, spoofed replies, ...) go through
//! [`event_limited!`], which allows at most `log-rate-limit` lines per event
//! name per [`RATE_WINDOW`]; when a window closes with lines held back, one
//! `log.suppressed event=NAME count=N` line says how many, so nothing is lost
//! silently. The limiter is sans-IO ([`RateLimiter::check`] takes `now`).

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::{Mono, rfc3339_millis};

/// Severity, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
    Trace = 4,
}

impl Level {
    pub const NAMES: &'static str = "error, warn, info, debug, trace";

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "error" | "err" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return None,
        })
    }

    fn from_u8(v: u8) -> Level {
        match v {
            0 => Level::Error,
            1 => Level::Warn,
            2 => Level::Info,
            3 => Level::Debug,
            _ => Level::Trace,
        }
    }

    fn syslog_severity(self) -> nix::syslog::Severity {
        use nix::syslog::Severity;
        match self {
            Level::Error => Severity::LOG_ERR,
            Level::Warn => Severity::LOG_WARNING,
            Level::Info => Severity::LOG_INFO,
            Level::Debug | Level::Trace => Severity::LOG_DEBUG,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Syslog facilities an operator may choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Facility {
    Daemon,
    User,
    Local(u8),
}

impl Facility {
    pub const NAMES: &'static str = "daemon, user, local0 .. local7";

    pub fn parse(s: &str) -> Option<Facility> {
        match s.to_ascii_lowercase().as_str() {
            "daemon" => Some(Facility::Daemon),
            "user" => Some(Facility::User),
            other => {
                // Exactly one digit 0-7: "local07" and "local8" are typos.
                match other.strip_prefix("local")?.as_bytes() {
                    [d @ b'0'..=b'7'] => Some(Facility::Local(d - b'0')),
                    _ => None,
                }
            }
        }
    }

    fn to_nix(self) -> nix::syslog::Facility {
        use nix::syslog::Facility as F;
        match self {
            Facility::Daemon => F::LOG_DAEMON,
            Facility::User => F::LOG_USER,
            Facility::Local(0) => F::LOG_LOCAL0,
            Facility::Local(1) => F::LOG_LOCAL1,
            Facility::Local(2) => F::LOG_LOCAL2,
            Facility::Local(3) => F::LOG_LOCAL3,
            Facility::Local(4) => F::LOG_LOCAL4,
            Facility::Local(5) => F::LOG_LOCAL5,
            Facility::Local(6) => F::LOG_LOCAL6,
            Facility::Local(_) => F::LOG_LOCAL7,
        }
    }
}

impl fmt::Display for Facility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Facility::Daemon => f.write_str("daemon"),
            Facility::User => f.write_str("user"),
            Facility::Local(n) => write!(f, "local{n}"),
        }
    }
}

/// Where log lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Stderr,
    Syslog(Facility),
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static TARGET: Mutex<Target> = Mutex::new(Target::Stderr);
/// Lines per event name per window for [`event_limited!`]; 0 = unlimited.
static RATE_BURST: AtomicU32 = AtomicU32::new(DEFAULT_RATE_LIMIT);
static RATE: Mutex<Option<RateLimiter>> = Mutex::new(None);
/// Lines held back by the rate limiter since start, for the stats summary.
/// A 64-bit count from `portable-atomic`, which falls back to a lock on
/// targets without 64-bit atomics (32-bit MIPS, PowerPC, ARMv5).
pub static SUPPRESSED_TOTAL: portable_atomic::AtomicU64 = portable_atomic::AtomicU64::new(0);

/// Default of `log-rate-limit`.
pub const DEFAULT_RATE_LIMIT: u32 = 20;
/// The window of `log-rate-limit`.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// Sets the target and level. Safe to call again on reload.
pub fn configure(target: Target, level: Level, rate_limit: u32) {
    let mut t = TARGET.lock().unwrap_or_else(|e| e.into_inner());
    if *t != target {
        if let Target::Syslog(fac) = target {
            // LOG_PID puts our pid in every syslog line, as dnsmasq's do.
            let _ = nix::syslog::openlog(
                Some(c"hamasq"),
                nix::syslog::LogFlags::LOG_PID | nix::syslog::LogFlags::LOG_NDELAY,
                fac.to_nix(),
            );
        } else {
            nix::syslog::closelog();
        }
        *t = target;
    }
    LEVEL.store(level as u8, Ordering::Relaxed);
    RATE_BURST.store(rate_limit, Ordering::Relaxed);
}

/// Where lines go now.
pub fn target() -> Target {
    *TARGET.lock().unwrap_or_else(|e| e.into_inner())
}

/// The current level.
pub fn level() -> Level {
    Level::from_u8(LEVEL.load(Ordering::Relaxed))
}

/// Whether a line at `level` would be written.
#[inline]
pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Formats one line without the timestamp: `LEVEL EVENT message`.
pub fn format_line(level: Level, event: &str, args: fmt::Arguments<'_>) -> String {
    let mut s = String::with_capacity(96);
    use fmt::Write as _;
    let _ = write!(s, "{level} {event}");
    let msg = args.to_string();
    if !msg.is_empty() {
        s.push(' ');
        // One event, one line: a newline inside a value (say, from a hostile
        // hostname) must not forge a second log line.
        s.extend(
            msg.chars()
                .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
        );
    }
    s
}

/// Writes one event. Use the [`event!`] / [`event_limited!`] macros.
pub fn emit(level: Level, event: &str, args: fmt::Arguments<'_>) {
    let line = format_line(level, event, args);
    let target = *TARGET.lock().unwrap_or_else(|e| e.into_inner());
    match target {
        Target::Stderr => {
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            if cfg!(test) {
                // Unit tests: through the test harness's capture, so a green
                // run stays quiet and a failing test shows its own lines.
                eprintln!("{} {}", rfc3339_millis(ms), line);
                return;
            }
            let mut err = std::io::stderr().lock();
            // Logging must never take the daemon down: a closed stderr is ignored.
            let _ = writeln!(err, "{} {}", rfc3339_millis(ms), line);
        }
        Target::Syslog(fac) => {
            let pri = nix::syslog::Priority::new(level.syslog_severity(), fac.to_nix());
            let _ = nix::syslog::syslog(pri, line.as_str());
        }
    }
}

/// Rate-limit check for [`event_limited!`]. Emits the `log.suppressed`
/// summary of a closed window itself.
pub fn rate_allow(event: &'static str) -> bool {
    let burst = RATE_BURST.load(Ordering::Relaxed);
    if burst == 0 {
        return true;
    }
    let verdict = {
        let mut g = RATE.lock().unwrap_or_else(|e| e.into_inner());
        let rl = g.get_or_insert_with(|| RateLimiter::new(RATE_WINDOW, burst));
        rl.burst = burst;
        rl.check(event, Mono::now())
    };
    if verdict.suppressed_before > 0 {
        emit(
            Level::Warn,
            "log.suppressed",
            format_args!(
                "event={event} count={} window_s={}",
                verdict.suppressed_before,
                RATE_WINDOW.as_secs()
            ),
        );
    }
    if !verdict.allow {
        SUPPRESSED_TOTAL.fetch_add(1, Ordering::Relaxed);
    }
    verdict.allow
}

/// A value as human text in double quotes, for log values that may hold
/// spaces (errors, causes, paths): `error="No such file or directory (os
/// error 2)"`. Quotes and backslashes are escaped, control characters
/// shown as `\xNN`; never Rust's `Debug` output.
pub fn q<T: fmt::Display>(value: T) -> Quoted<T> {
    Quoted(value)
}

/// See [`q`].
pub struct Quoted<T>(T);

impl<T: fmt::Display> fmt::Display for Quoted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        let text = self.0.to_string();
        f.write_char('"')?;
        for c in text.chars() {
            match c {
                '"' | '\\' => {
                    f.write_char('\\')?;
                    f.write_char(c)?;
                }
                c if c.is_control() => write!(f, "\\x{:02x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// A list as `a,b,c` (empty: `-`), for log values.
pub fn list<I: IntoIterator<Item = T>, T: fmt::Display>(items: I) -> String {
    let v: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

/// Logs an event: `event!(Info, "daemon.ready", "pid={}", pid)`.
#[macro_export]
macro_rules! event {
    ($lvl:ident, $name:literal) => {
        $crate::event!($lvl, $name, "")
    };
    ($lvl:ident, $name:literal, $($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::$lvl) {
            $crate::log::emit($crate::log::Level::$lvl, $name, format_args!($($arg)+));
        }
    };
}

/// Logs an event about rejected input, rate-limited per event name.
#[macro_export]
macro_rules! event_limited {
    ($lvl:ident, $name:literal, $($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::$lvl) && $crate::log::rate_allow($name) {
            $crate::log::emit($crate::log::Level::$lvl, $name, format_args!($($arg)+));
        }
    };
}

/// Whose fault an error is, and so what is done with it (design §8,
/// holo-vrrp's pattern). Each protocol's `error.rs` gives every error class
/// one of these, its counter and its event name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Junk from a peer (a datagram that does not decode): counted, the
    /// packet dropped, logged at debug, rate-limited.
    PeerJunk,
    /// A valid packet that is wrong for us: counted, logged at debug,
    /// rate-limited.
    NotForUs,
    /// Input the configuration turns away: a client the DNS access rules
    /// refuse (`interface`, `listen-address`, `local-service`), a VRRP
    /// advert whose addresses, authentication or source differ from ours.
    /// Counted, logged at info, rate-limited: a mismatched rule or peer
    /// shows in the log without flooding it.
    Refused,
    /// A request we cannot serve because a limit the operator set is
    /// reached (a full pool, `dhcp-lease-max`): counted, logged at warn,
    /// rate-limited, since the operator has to act.
    Capacity,
    /// Our own I/O failed: logged at warn, rate-limited, and retried (the
    /// next datagram, the next timer).
    OwnIo,
}

impl Fault {
    /// The level its lines are logged at.
    pub fn level(self) -> Level {
        match self {
            Fault::PeerJunk | Fault::NotForUs => Level::Debug,
            Fault::Refused => Level::Info,
            Fault::Capacity | Fault::OwnIo => Level::Warn,
        }
    }
}

/// Logs one line at a level chosen at run time, rate-limited per event
/// name (what [`event_limited!`] does for a fixed level).
pub fn emit_limited(level: Level, event: &'static str, args: fmt::Arguments<'_>) {
    if enabled(level) && rate_allow(event) {
        emit(level, event, args);
    }
}

/// What the limiter decided for one line.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Write this line.
    pub allow: bool,
    /// Lines held back in the window that just closed (report them now).
    pub suppressed_before: u64,
}

/// A fixed-window limiter keyed by event name. Sans-IO: `now` is passed in.
#[derive(Debug)]
pub struct RateLimiter {
    window: Duration,
    burst: u32,
    slots: HashMap<&'static str, Slot>,
}

#[derive(Debug)]
struct Slot {
    start: Mono,
    count: u32,
    suppressed: u64,
}

impl RateLimiter {
    pub fn new(window: Duration, burst: u32) -> RateLimiter {
        RateLimiter {
            window,
            burst,
            slots: HashMap::new(),
        }
    }

    pub fn check(&mut self, key: &'static str, now: Mono) -> Verdict {
        let window = self.window;
        let slot = self.slots.entry(key).or_insert(Slot {
            start: now,
            count: 0,
            suppressed: 0,
        });
        let mut suppressed_before = 0;
        if now.since(slot.start) >= window {
            suppressed_before = slot.suppressed;
            *slot = Slot {
                start: now,
                count: 0,
                suppressed: 0,
            };
        }
        if slot.count < self.burst {
            slot.count += 1;
            Verdict {
                allow: true,
                suppressed_before,
            }
        } else {
            slot.suppressed += 1;
            Verdict {
                allow: false,
                suppressed_before,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_order() {
        assert_eq!(Level::parse("WARNING"), Some(Level::Warn));
        assert_eq!(Level::parse("debug"), Some(Level::Debug));
        assert_eq!(Level::parse("loud"), None);
        assert!(Level::Error < Level::Info);
    }

    #[test]
    fn facilities_parse() {
        assert_eq!(Facility::parse("daemon"), Some(Facility::Daemon));
        assert_eq!(Facility::parse("local7"), Some(Facility::Local(7)));
        assert_eq!(Facility::parse("local8"), None);
        assert_eq!(Facility::parse("local07"), None);
        assert_eq!(Facility::parse("kern"), None);
        assert_eq!(Facility::Local(3).to_string(), "local3");
    }

    #[test]
    fn one_event_is_one_line() {
        let l = format_line(
            Level::Warn,
            "dhcp.hostname",
            format_args!("name={}", "a\nfake line"),
        );
        assert_eq!(l, "warn dhcp.hostname name=a fake line");
        assert_eq!(
            format_line(Level::Info, "daemon.stop", format_args!("")),
            "info daemon.stop"
        );
    }

    #[test]
    fn limiter_allows_a_burst_then_reports_what_it_held_back() {
        let mut rl = RateLimiter::new(Duration::from_secs(10), 3);
        let t0 = Mono(1_000);
        for _ in 0..3 {
            assert!(rl.check("dhcp.malformed", t0).allow);
        }
        for _ in 0..5 {
            assert!(
                !rl.check("dhcp.malformed", t0 + Duration::from_secs(1))
                    .allow
            );
        }
        // Another event name has its own budget.
        assert!(rl.check("dns.forged", t0).allow);
        // The next window opens and reports the 5 held back.
        let v = rl.check("dhcp.malformed", t0 + Duration::from_secs(10));
        assert_eq!(
            v,
            Verdict {
                allow: true,
                suppressed_before: 5
            }
        );
        let v = rl.check("dhcp.malformed", t0 + Duration::from_secs(11));
        assert_eq!(v.suppressed_before, 0);
    }

    #[test]
    fn quoted_values_are_human_text() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(
            format!("error={}", q(&e)),
            "error=\"No such file or directory (os error 2)\""
        );
        assert_eq!(q("a \"b\"\\\n").to_string(), "\"a \\\"b\\\"\\\\\\x0a\"");
        assert_eq!(list(["dns", "dhcp"]), "dns,dhcp");
        assert_eq!(list(Vec::<String>::new()), "-");
    }

    /// Issue 14 item 4: log values are human text, never Rust's `Debug`
    /// output (`error=Os { code: 2, .. }`, `acl=Addresses([..])`). Scans
    /// every `event!`/`event_limited!` call in src/ for `:?}`.
    #[test]
    fn no_event_formats_a_value_with_debug() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&root, &mut files);
        let mut bad = Vec::new();
        for f in files {
            let rel = f
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&f).unwrap();
            for start in ["event!(", "event_limited!("] {
                for (at, _) in text.match_indices(start) {
                    if text[..at].ends_with('"') {
                        continue; // this test's own needles
                    }
                    let body = &text[at + start.len()..];
                    let mut depth = 1;
                    let end = body
                        .char_indices()
                        .find(|(_, c)| {
                            match c {
                                '(' => depth += 1,
                                ')' => depth -= 1,
                                _ => {}
                            }
                            depth == 0
                        })
                        .map_or(body.len(), |(i, _)| i);
                    let call = &body[..end];
                    if call.contains(":?}") || call.contains(":#?}") {
                        let line = text[..at].lines().count() + 1;
                        bad.push(format!("src/{rel}:{line}"));
                    }
                }
            }
        }
        assert!(bad.is_empty(), "Debug formatting in log lines at {bad:#?}");
    }

    /// Issue 14 item 8: log lines of a passing unit test are captured by
    /// the harness, not sprayed over the terminal (1,000 lines in a green
    /// `cargo test --lib` before). Runs this test binary again on one
    /// test that logs, and looks at what reached the real stderr.
    #[test]
    fn a_passing_tests_log_lines_stay_captured() {
        if std::env::var_os("HAMASQ_LOG_CAPTURE_CHILD").is_some() {
            crate::event!(
                Error,
                "test.capture_probe",
                "marker=visible-if-not-captured"
            );
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .env("HAMASQ_LOG_CAPTURE_CHILD", "1")
            .args([
                "--exact",
                "log::tests::a_passing_tests_log_lines_stay_captured",
                "--test-threads=1",
            ])
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{all}");
        assert!(all.contains("1 passed"), "{all}");
        assert!(!all.contains("visible-if-not-captured"), "{all}");
    }
}
