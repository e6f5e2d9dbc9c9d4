//! The tasks' shared vocabulary (design §1, §2): a leaf that imports
//! nothing of the project. Every driver takes a [`Shutdown`] and returns a
//! [`TaskError`]; only `daemon.rs` builds the [`Supervisor`] that owns the
//! tasks and stops them in [`Stage`] order.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{Id, JoinSet};

/// How long the whole ordered shutdown may take before stragglers are
/// aborted: well inside the one second an operator waits for SIGTERM.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_millis(800);

/// A task's failure: its cause, in words that say whose fault it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskError(pub String);

impl TaskError {
    pub fn new(cause: impl Into<String>) -> TaskError {
        TaskError(cause.into())
    }
}

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shutdown stages, in the order they are stopped (design §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// 1. DHCP stops answering.
    Dhcp,
    /// 2. VRRP, if Active, sends priority 0 and removes the VIP.
    Vrrp,
    /// 3. The lease store is flushed.
    Leases,
    /// 4. DNS stops.
    Dns,
    /// 5. Operator services (metrics endpoint).
    Service,
}

/// A task's view of the shutdown signal for its stage.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Resolves once this task's stage is told to stop.
    pub async fn wait(&mut self) {
        // An Err means the sender is gone, which only happens on shutdown.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }
}

/// How a task ended.
#[derive(Debug, PartialEq, Eq)]
pub enum TaskEnd {
    Ok,
    Failed(TaskError),
    Panicked(String),
    Aborted,
}

/// Owns the tasks and stops them stage by stage.
#[derive(Default)]
pub struct Supervisor {
    set: JoinSet<Result<(), TaskError>>,
    names: HashMap<Id, &'static str>,
    stops: BTreeMap<Stage, Vec<watch::Sender<bool>>>,
    stages: HashMap<&'static str, Stage>,
}

impl Supervisor {
    /// Spawns `name` in `stage`; `make` receives its [`Shutdown`].
    pub fn spawn<F, Fut>(&mut self, name: &'static str, stage: Stage, make: F)
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = Result<(), TaskError>> + Send + 'static,
    {
        let (tx, rx) = watch::channel(false);
        self.stops.entry(stage).or_default().push(tx);
        let handle = self.set.spawn(make(Shutdown(rx)));
        self.names.insert(handle.id(), name);
        self.stages.insert(name, stage);
    }

    /// Task names, for the summary.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.names.values().copied().collect();
        v.sort_unstable();
        v
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The next task to end (pending forever when there are none).
    pub async fn next_end(&mut self) -> (&'static str, TaskEnd) {
        match self.set.join_next_with_id().await {
            None => std::future::pending().await,
            Some(r) => self.classify(r),
        }
    }

    fn classify(
        &mut self,
        r: Result<(Id, Result<(), TaskError>), tokio::task::JoinError>,
    ) -> (&'static str, TaskEnd) {
        match r {
            Ok((id, res)) => {
                let name = self.names.remove(&id).unwrap_or("?");
                (
                    name,
                    match res {
                        Ok(()) => TaskEnd::Ok,
                        Err(e) => TaskEnd::Failed(e),
                    },
                )
            }
            Err(e) => {
                let name = self.names.remove(&e.id()).unwrap_or("?");
                let end = if e.is_panic() {
                    let p = e.into_panic();
                    let msg = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "non-string panic payload".into());
                    TaskEnd::Panicked(msg)
                } else {
                    TaskEnd::Aborted
                };
                (name, end)
            }
        }
    }

    /// Stops every stage in order, waiting for each stage's tasks, within
    /// `budget` overall; tasks still running after it are aborted. Returns
    /// how each task ended, in the order they ended.
    pub async fn shutdown(mut self, budget: Duration) -> Vec<(&'static str, TaskEnd)> {
        let deadline = tokio::time::Instant::now() + budget;
        let mut ended = Vec::new();
        let stops = std::mem::take(&mut self.stops);
        for (stage, senders) in stops {
            for tx in &senders {
                let _ = tx.send(true);
            }
            // Wait until no task of this stage is left.
            while self
                .names
                .values()
                .any(|n| self.stages.get(n) == Some(&stage))
            {
                match tokio::time::timeout_at(deadline, self.set.join_next_with_id()).await {
                    Ok(Some(r)) => ended.push(self.classify(r)),
                    Ok(None) => break,
                    Err(_) => {
                        self.set.abort_all();
                        while let Some(r) = self.set.join_next_with_id().await {
                            ended.push(self.classify(r));
                        }
                        return ended;
                    }
                }
            }
        }
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn a_failing_task_is_reported_with_its_name_and_cause() {
        let mut s = Supervisor::default();
        s.spawn("quiet", Stage::Dns, |mut sd| async move {
            sd.wait().await;
            Ok(())
        });
        s.spawn("broken", Stage::Dhcp, |_| async {
            Err(TaskError::new("port 67 is busy"))
        });
        let (name, end) = s.next_end().await;
        assert_eq!(name, "broken");
        assert_eq!(end, TaskEnd::Failed(TaskError::new("port 67 is busy")));
        let rest = s.shutdown(Duration::from_secs(1)).await;
        assert_eq!(rest, vec![("quiet", TaskEnd::Ok)]);
    }

    #[tokio::test]
    async fn a_panicking_task_is_reported_not_swallowed() {
        let mut s = Supervisor::default();
        s.spawn("bad", Stage::Dns, |_| async {
            panic!("index out of range")
        });
        let (name, end) = s.next_end().await;
        assert_eq!(name, "bad");
        assert_eq!(end, TaskEnd::Panicked("index out of range".into()));
    }

    #[tokio::test]
    async fn shutdown_runs_in_stage_order() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut s = Supervisor::default();
        // Spawned out of order on purpose.
        for (name, stage) in [
            ("dns", Stage::Dns),
            ("dhcp", Stage::Dhcp),
            ("leases", Stage::Leases),
            ("vrrp", Stage::Vrrp),
        ] {
            let order = order.clone();
            s.spawn(name, stage, move |mut sd| async move {
                sd.wait().await;
                // A stage that takes a while must still finish before the next starts.
                tokio::time::sleep(Duration::from_millis(20)).await;
                order.lock().unwrap().push(name);
                Ok(())
            });
        }
        let ended = s.shutdown(Duration::from_secs(2)).await;
        assert_eq!(
            *order.lock().unwrap(),
            vec!["dhcp", "vrrp", "leases", "dns"]
        );
        assert!(ended.iter().all(|(_, e)| *e == TaskEnd::Ok));
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ignores_shutdown_is_aborted_at_the_budget() {
        let mut s = Supervisor::default();
        s.spawn("stuck", Stage::Dhcp, |_| async {
            std::future::pending::<()>().await;
            Ok(())
        });
        let t0 = tokio::time::Instant::now();
        let ended = s.shutdown(SHUTDOWN_BUDGET).await;
        assert_eq!(ended, vec![("stuck", TaskEnd::Aborted)]);
        assert!(t0.elapsed() >= SHUTDOWN_BUDGET);
    }
}
