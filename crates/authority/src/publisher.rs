//! The CRL publisher: a background thread owned by the [`crate::Authority`] that re-signs the
//! CRLs from the store's state right after a revocation commits (coalescing bursts), when the
//! store's CRL state says a re-sign is due, and when nextUpdate comes near; a failed re-sign
//! leaves the state due and is retried with backoff. The same loop runs the signing of the
//! audit log's head ([`Publisher::start_named`]), kept off the requests' path.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::Result;

/// Longest wait between two retries of a failed re-sign.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Status {
    /// Requests made (each revocation's commit makes one).
    wanted: u64,
    /// The requests covered by the last successful pass.
    done: u64,
    stop: bool,
    /// Re-signs the thread made.
    signs: u64,
    /// The last pass's failure, cleared by a success.
    last_error: Option<String>,
}

struct Shared {
    status: Mutex<Status>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A background job's name (its thread's) and what its log says when a pass failed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Job {
    pub thread: &'static str,
    pub failed: &'static str,
}

/// The CRL publisher.
const CRL_JOB: Job = Job {
    thread: "crl-publisher",
    failed: "CRL re-sign failed; the CRL state stays due and is retried",
};

/// Timing of the publisher.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// How long it waits after a request for more to come (coalescing a burst).
    pub coalesce: Duration,
    /// How often it looks at the store's state without a request.
    pub check_every: Duration,
    /// First wait before retrying a failed re-sign (doubled each time, at most 5 minutes).
    pub retry: Duration,
}

/// The running publisher; stopped (and its thread joined) on drop.
pub(crate) struct Publisher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Publisher {
    /// Starts the thread. `pass` re-signs when the store's state says it is due and returns
    /// whether it signed.
    pub(crate) fn start(timing: Timing, pass: impl Fn() -> Result<bool> + Send + 'static) -> Self {
        Self::start_named(CRL_JOB, timing, pass)
    }

    /// [`Publisher::start`] for another background job (`job` names its thread and its
    /// failures in the log): the same request/coalesce/retry loop.
    pub(crate) fn start_named(
        job: Job,
        timing: Timing,
        pass: impl Fn() -> Result<bool> + Send + 'static,
    ) -> Self {
        let shared = Arc::new(Shared {
            status: Mutex::new(Status::default()),
            changed: Condvar::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(job.thread.into())
            .spawn(move || run(&s, job, timing, pass))
            .map_err(|e| tracing::error!(error = %e, "cannot start the CRL publisher"))
            .ok();
        Publisher { shared, thread }
    }

    /// Asks for a pass now (after a commit that made a re-sign due); returns the request's
    /// number for [`Publisher::wait`].
    pub(crate) fn request(&self) -> u64 {
        let mut s = self.shared.lock();
        s.wanted += 1;
        self.shared.changed.notify_all();
        s.wanted
    }

    /// Waits at most `timeout` for a successful pass covering request `n`; true when one did.
    pub(crate) fn wait(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut s = self.shared.lock();
        while s.done < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.thread.is_none() {
                return false;
            }
            s = self
                .shared
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Re-signs made by the thread so far.
    pub(crate) fn signs(&self) -> u64 {
        self.shared.lock().signs
    }

    /// The last pass's failure, if the last pass failed.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared, job: Job, timing: Timing, pass: impl Fn() -> Result<bool>) {
    let mut backoff: Option<Duration> = None;
    loop {
        {
            let mut s = shared.lock();
            if !s.stop && (backoff.is_some() || s.wanted == s.done) {
                let wait = backoff.unwrap_or(timing.check_every);
                s = shared
                    .changed
                    .wait_timeout(s, wait)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            if s.stop {
                return;
            }
            if s.wanted > s.done && !timing.coalesce.is_zero() {
                drop(s);
                std::thread::sleep(timing.coalesce);
            }
        }
        // Every request made before this point is covered by this pass.
        let covered = shared.lock().wanted;
        let result = pass();
        let mut s = shared.lock();
        match result {
            Ok(signed) => {
                s.done = s.done.max(covered);
                s.signs += u64::from(signed);
                s.last_error = None;
                backoff = None;
            }
            Err(e) => {
                tracing::error!(error = %e, job = job.thread, "{}", job.failed);
                s.last_error = Some(format!("[{}] {e}", e.code()));
                backoff = Some(backoff.map_or(timing.retry, |b| b * 2).min(MAX_BACKOFF));
            }
        }
        shared.changed.notify_all();
    }
}
