//! The guard of the authority's state lock, and (with the `lock-stats` feature, for
//! benchmarks only) how long the lock is waited for and held.
//!
//! Without the feature the guard is the mutex guard and nothing more: no clock is read.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};

use crate::State;

/// The state lock, held.
pub(crate) struct StateGuard<'a> {
    guard: MutexGuard<'a, State>,
    #[cfg(feature = "lock-stats")]
    since: std::time::Instant,
}

/// Takes the state lock (a poisoned lock is taken over: the state is kept consistent by the
/// store's transactions, not by the panicking thread).
pub(crate) fn lock(state: &Mutex<State>) -> StateGuard<'_> {
    #[cfg(feature = "lock-stats")]
    let asked = std::time::Instant::now();
    let guard = state.lock().unwrap_or_else(|p| p.into_inner());
    #[cfg(feature = "lock-stats")]
    let since = {
        let now = std::time::Instant::now();
        stats::record(&stats::WAITS, now - asked);
        now
    };
    StateGuard {
        guard,
        #[cfg(feature = "lock-stats")]
        since,
    }
}

/// Bench only (`lock-stats`): whether enrollments run one at a time as before issue 17
/// (signing and the commit's own fsync serialised), for before/after figures in one run.
/// Held for the whole enrollment when on; without the feature it is always off.
pub(crate) struct Serial {
    #[cfg(feature = "lock-stats")]
    _held: Option<MutexGuard<'static, ()>>,
}

impl Serial {
    /// Takes the serial lock if serial enrollment is on.
    pub(crate) fn enter() -> Serial {
        #[cfg(feature = "lock-stats")]
        {
            let on = stats::SERIAL.load(std::sync::atomic::Ordering::Relaxed);
            Serial {
                _held: on.then(|| stats::SERIAL_LOCK.lock().unwrap_or_else(|p| p.into_inner())),
            }
        }
        #[cfg(not(feature = "lock-stats"))]
        Serial {}
    }

    /// Serial enrollment is on (commit with its own fsync, not grouped).
    pub(crate) fn on(&self) -> bool {
        #[cfg(feature = "lock-stats")]
        return self._held.is_some();
        #[cfg(not(feature = "lock-stats"))]
        false
    }
}

impl Deref for StateGuard<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.guard
    }
}

impl DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

#[cfg(feature = "lock-stats")]
impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        stats::record(&stats::HOLDS, self.since.elapsed());
    }
}

/// Wait and hold times of the authority's state lock since the last [`stats::take`]
/// (feature `lock-stats`: benchmarks).
#[cfg(feature = "lock-stats")]
pub mod stats {
    use std::sync::Mutex;
    use std::time::Duration;

    pub(super) static HOLDS: Mutex<Vec<Duration>> = Mutex::new(Vec::new());
    pub(super) static SERIAL: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);
    pub(super) static SERIAL_LOCK: Mutex<()> = Mutex::new(());

    /// Runs enrollments one at a time, each signing and committing with its own fsync while
    /// the others wait, as the authority did before issue 17 (the benchmark's "before"
    /// figures, measured in the same run).
    pub fn set_serial_enroll(on: bool) {
        SERIAL.store(on, std::sync::atomic::Ordering::Relaxed);
    }
    pub(super) static WAITS: Mutex<Vec<Duration>> = Mutex::new(Vec::new());
    pub(super) static INLINE_AUDIT_SIGN: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);

    /// Signs the audit log's head inside the request that crosses the mark, as before
    /// issue 17's last round (the benchmark's comparison; off: the background signer).
    pub fn set_inline_audit_sign(on: bool) {
        INLINE_AUDIT_SIGN.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Samples kept between two [`take`]s (a server built with the feature by a test run
    /// does not grow without bound).
    const MAX_SAMPLES: usize = 1 << 20;

    pub(super) fn record(to: &Mutex<Vec<Duration>>, d: Duration) {
        let mut v = to.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() < MAX_SAMPLES {
            v.push(d);
        }
    }

    /// Lock samples: how long each acquisition held the lock, and waited for it.
    #[derive(Debug, Default, Clone)]
    pub struct Samples {
        /// Hold times, one per acquisition.
        pub holds: Vec<Duration>,
        /// Wait times, one per acquisition.
        pub waits: Vec<Duration>,
    }

    /// The samples recorded since the last call (every authority in the process), and
    /// starts afresh.
    pub fn take() -> Samples {
        let take = |m: &Mutex<Vec<Duration>>| {
            std::mem::take(&mut *m.lock().unwrap_or_else(|p| p.into_inner()))
        };
        Samples {
            holds: take(&HOLDS),
            waits: take(&WAITS),
        }
    }
}

/// Benchmarks only: the audit log's head is to be signed inline (see
/// `stats::set_inline_audit_sign`); always false without the feature.
pub(crate) fn inline_audit_sign() -> bool {
    #[cfg(feature = "lock-stats")]
    return stats::INLINE_AUDIT_SIGN.load(std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(feature = "lock-stats"))]
    false
}
