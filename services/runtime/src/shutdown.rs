//! Shutdown, the same in every service: SIGTERM (Kubernetes' stop signal) or Ctrl-C cancels one
//! token; every background task is spawned on one tracker, so the process can wait for them to
//! drain, for at most the configured grace period, before it exits.

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The `[shutdown]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    pub grace_seconds: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        crate::defaults::section("shutdown")
    }
}

impl ShutdownConfig {
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.grace_seconds)
    }
}

/// The stop signal and the tasks that must finish before the process exits.
#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// A shutdown that also fires on SIGTERM or Ctrl-C.
    pub fn on_signals() -> Self {
        let s = Self::new();
        cancel_on_signals(s.token.clone());
        s
    }

    /// Cancelled when the process should stop taking new work.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    pub fn cancel(&self) {
        self.token.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// Spawns a task the drain waits for.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Spawns blocking work (a thread of the blocking pool) the drain waits for.
    pub fn spawn_blocking<F, T>(&self, work: F) -> tokio::task::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.tracker.spawn_blocking(work)
    }

    /// Waits, for at most `grace`, until every tracked task has finished; true when they all did.
    /// Call it after cancelling: tasks are expected to wind down on the token.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.tracker.close();
        let done = tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok();
        if !done {
            tracing::warn!(
                tasks = self.tracker.len(),
                ?grace,
                "shutdown grace period over; exiting with tasks still running"
            );
        }
        done
    }

    /// Runs `work` to its end, or until `grace` has passed since shutdown began (a server whose
    /// clients keep calls open must not hold the pod past its grace period); `None` when cut
    /// short.
    pub async fn within_grace<F: Future>(&self, grace: Duration, work: F) -> Option<F::Output> {
        tokio::pin!(work);
        tokio::select! {
            out = &mut work => Some(out),
            _ = async {
                self.token.cancelled().await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(?grace, "shutdown grace period over; stopping with work in flight");
                None
            }
        }
    }

    /// A service's main future from start to exit: `work` within `grace` of shutdown, then every
    /// tracked task stopped and drained within `wind_down`, whichever way `work` ended. A service
    /// that fails on its own (an error, not a signal) must still cancel its background tasks, or
    /// the runtime would wait for them forever on the way out.
    pub async fn run_service<F: Future>(
        &self,
        grace: Duration,
        wind_down: Duration,
        work: F,
    ) -> Option<F::Output> {
        let out = self.within_grace(grace, work).await;
        self.cancel();
        self.drain(wind_down).await;
        out
    }

    /// Tracked tasks still running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }
}

/// Cancels `token` on SIGTERM or Ctrl-C.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for SIGTERM");
                        let _ = ctrl_c.await;
                        token.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutting down");
        token.cancel();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_tracked_tasks_within_the_grace_period() {
        let s = Shutdown::new();
        let stop = s.token().clone();
        let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = finished.clone();
        s.spawn(async move {
            stop.cancelled().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            f.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        s.cancel();
        assert!(s.drain(Duration::from_secs(5)).await);
        assert!(finished.load(std::sync::atomic::Ordering::SeqCst));

        let s = Shutdown::new();
        s.spawn(std::future::pending::<()>());
        s.cancel();
        let t0 = std::time::Instant::now();
        assert!(!s.drain(Duration::from_millis(100)).await);
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert_eq!(s.running(), 1);
    }

    #[tokio::test]
    async fn within_grace_cuts_work_short_only_after_shutdown_plus_grace() {
        let s = Shutdown::new();
        assert_eq!(s.within_grace(Duration::ZERO, async { 7 }).await, Some(7));
        let stop = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            stop.cancel();
        });
        let t0 = std::time::Instant::now();
        let out = s
            .within_grace(Duration::from_millis(100), std::future::pending::<()>())
            .await;
        assert_eq!(out, None);
        assert!(t0.elapsed() >= Duration::from_millis(150));
        assert!(t0.elapsed() < Duration::from_secs(2));
    }
}
