//! Optional scripts around a VRRP instance, with keepalived's contracts so
//! existing scripts keep working:
//!
//! * `notify`: run on every role change with keepalived's trailing
//!   arguments `INSTANCE <name> MASTER|BACKUP|FAULT|STOP <priority>`.
//!   Runs are serialised (never two at once, in order) and a run that
//!   overstays `notify-timeout` is killed. Nothing in hamasq waits for a
//!   hook: the VIP and the DHCP gate are already in place (design §1).
//! * `track-script`: a check run every `interval` seconds; exit status 0
//!   is healthy, anything else (or a timeout) is failing, and a failing
//!   script changes the priority by its `weight` (weight 0: the instance
//!   stops advertising and releases the VIP), like `vrrp_script`.
//!
//! Scripts get no shell: the path is executed directly with argv.

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Child;
use tokio::sync::mpsc;

use super::Role;
use crate::clock::Mono;
use crate::privilege::hook_command;
use crate::{event, event_limited};

/// keepalived's state word for a role; `stopping` turns Initialize into STOP.
pub fn state_word(role: Role, stopping: bool) -> &'static str {
    match role {
        Role::Active => "MASTER",
        Role::Backup => "BACKUP",
        Role::Initialize if stopping => "STOP",
        Role::Initialize | Role::Standalone => "FAULT",
    }
}

/// keepalived's notify argv: `SCRIPT INSTANCE NAME STATE PRIORITY`.
pub fn notify_args(instance: &str, state: &str, priority: u8) -> Vec<String> {
    vec![
        "INSTANCE".into(),
        instance.into(),
        state.into(),
        priority.to_string(),
    ]
}

/// A serialised runner for the notify script.
pub struct Notifier {
    tx: mpsc::UnboundedSender<Vec<String>>,
    done: tokio::task::JoinHandle<()>,
}

impl Notifier {
    pub fn spawn(script: PathBuf, timeout: Duration) -> Notifier {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<String>>();
        let done = tokio::spawn(async move {
            while let Some(args) = rx.recv().await {
                run_bounded(&script, &args, timeout).await;
            }
        });
        Notifier { tx, done }
    }

    /// Queues one run (order kept).
    pub fn notify(&self, args: Vec<String>) {
        let _ = self.tx.send(args);
    }

    /// Lets queued runs finish, for at most `limit`.
    pub async fn finish(self, limit: Duration) {
        drop(self.tx);
        let _ = tokio::time::timeout(limit, self.done).await;
    }
}

async fn run_bounded(script: &std::path::Path, args: &[String], timeout: Duration) {
    let child = hook_command(script).args(args).spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            event_limited!(
                Warn,
                "vrrp.notify_failed",
                "script={} error={}",
                script.display(),
                crate::log::q(&e)
            );
            return;
        }
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(st)) if st.success() => {}
        Ok(Ok(st)) => event_limited!(
            Warn,
            "vrrp.notify_failed",
            "script={} args={} status={st}",
            script.display(),
            crate::log::q(args.join(" "))
        ),
        Ok(Err(e)) => event_limited!(
            Warn,
            "vrrp.notify_failed",
            "script={} error={}",
            script.display(),
            crate::log::q(&e)
        ),
        Err(_) => {
            let _ = child.kill().await;
            event!(
                Warn,
                "vrrp.notify_timeout",
                "script={} args={} timeout_ms={}",
                script.display(),
                crate::log::q(args.join(" ")),
                timeout.as_millis()
            );
        }
    }
}

/// One `track-script` line: `PATH [weight N] [interval S] [timeout S]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackScript {
    pub path: PathBuf,
    pub weight: i16,
    pub interval: Duration,
    pub timeout: Duration,
}

pub fn parse_track_script(v: &str) -> Result<TrackScript, String> {
    let mut it = v.split_whitespace();
    let path = it
        .next()
        .ok_or("expected PATH [weight N] [interval S] [timeout S]")?;
    if !path.starts_with('/') {
        return Err(format!("{path:?}: the script needs an absolute path"));
    }
    let mut t = TrackScript {
        path: PathBuf::from(path),
        weight: 0,
        interval: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
    };
    while let Some(k) = it.next() {
        let val = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        match k {
            "weight" => {
                t.weight = val
                    .parse::<i16>()
                    .ok()
                    .filter(|w| (-253..=253).contains(w))
                    .ok_or("weight must be -253 .. 253")?
            }
            "interval" => {
                t.interval = Duration::from_secs(
                    val.parse::<u64>()
                        .ok()
                        .filter(|s| (1..=3600).contains(s))
                        .ok_or("interval must be 1 .. 3600 s")?,
                )
            }
            "timeout" => {
                t.timeout = Duration::from_secs(
                    val.parse::<u64>()
                        .ok()
                        .filter(|s| (1..=3600).contains(s))
                        .ok_or("timeout must be 1 .. 3600 s")?,
                )
            }
            other => {
                return Err(format!(
                    "unknown word {other:?}; expected weight, interval or timeout"
                ));
            }
        }
    }
    Ok(t)
}

/// The running state of one track script.
pub struct Tracker {
    pub script: TrackScript,
    pub failing: bool,
    next_at: Mono,
    running: Option<(Child, Mono)>,
}

impl Tracker {
    pub fn new(script: TrackScript, now: Mono) -> Tracker {
        Tracker {
            script,
            failing: false,
            next_at: now,
            running: None,
        }
    }

    /// Starts a run when due, collects a finished one, kills one past its
    /// timeout. Returns true when `failing` changed. Never blocks.
    pub fn poll(&mut self, now: Mono) -> bool {
        let before = self.failing;
        if let Some((child, deadline)) = &mut self.running {
            match child.try_wait() {
                Ok(Some(st)) => {
                    self.failing = !st.success();
                    self.running = None;
                }
                Ok(None) if now >= *deadline => {
                    let _ = child.start_kill();
                    self.failing = true;
                    self.running = None;
                }
                Ok(None) => {}
                Err(_) => {
                    self.failing = true;
                    self.running = None;
                }
            }
        }
        if self.running.is_none() && now >= self.next_at {
            self.next_at = now + self.script.interval;
            match hook_command(&self.script.path).spawn() {
                Ok(c) => self.running = Some((c, now + self.script.timeout)),
                Err(e) => {
                    event_limited!(
                        Warn,
                        "vrrp.track_script_failed",
                        "script={} error={}",
                        self.script.path.display(),
                        crate::log::q(&e)
                    );
                    self.failing = true;
                }
            }
        }
        self.failing != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_words_and_args() {
        assert_eq!(state_word(Role::Active, false), "MASTER");
        assert_eq!(state_word(Role::Backup, false), "BACKUP");
        assert_eq!(state_word(Role::Initialize, false), "FAULT");
        assert_eq!(state_word(Role::Initialize, true), "STOP");
        assert_eq!(
            notify_args("lan", "MASTER", 150),
            vec!["INSTANCE", "lan", "MASTER", "150"]
        );
    }

    #[test]
    fn track_script_lines() {
        let t = parse_track_script("/usr/local/bin/check weight -20 interval 5").unwrap();
        assert_eq!(
            (t.weight, t.interval, t.timeout),
            (-20, Duration::from_secs(5), Duration::from_secs(2))
        );
        assert!(parse_track_script("check").is_err());
        assert!(parse_track_script("/x weight").is_err());
        assert!(parse_track_script("/x weight 999").is_err());
        assert!(parse_track_script("/x fall 2").is_err());
    }

    #[tokio::test]
    async fn notify_runs_are_serialised_and_bounded() {
        let dir = std::env::temp_dir().join(format!("hamasq-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rec = dir.join("rec");
        let script = dir.join("hook.sh");
        // Each run appends "start ARGS", sleeps, appends "end": with
        // serialised runs, starts and ends alternate.
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"start $*\" >> {0}\nsleep 0.2\necho end >> {0}\n",
                rec.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let n = Notifier::spawn(script.clone(), Duration::from_secs(5));
        n.notify(notify_args("lan", "BACKUP", 100));
        n.notify(notify_args("lan", "MASTER", 100));
        n.finish(Duration::from_secs(5)).await;
        let r = std::fs::read_to_string(&rec).unwrap();
        assert_eq!(
            r,
            "start INSTANCE lan BACKUP 100\nend\nstart INSTANCE lan MASTER 100\nend\n"
        );

        // An overlong hook is killed at its timeout.
        std::fs::write(&script, "#!/bin/sh\nsleep 30\n").unwrap();
        let n = Notifier::spawn(script, Duration::from_millis(200));
        let t0 = std::time::Instant::now();
        n.notify(notify_args("lan", "FAULT", 100));
        n.finish(Duration::from_secs(5)).await;
        assert!(t0.elapsed() < Duration::from_secs(3));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
