//! What `/healthz` reports beyond "locked": storage faults seen on the way (a full disk until
//! a write succeeds again, a read-only file system, a damaged store), and the integrity check
//! that runs in the background for a store too large to check before unlocking.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use escrow::{CheckDepth, StorageFault};

use crate::AppState;

/// Set on the response of a call that failed on a storage fault, for [`track_storage`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct StorageFaultSeen(pub StorageFault);

/// The background integrity check's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IntegrityState {
    /// Not run in the background (it ran before unlocking, or is off).
    #[default]
    NotRun,
    /// Running.
    Running,
    /// Ran and found the store sound.
    Sound,
    /// Ran and found damage (SQLite's first findings).
    Damaged(Vec<String>),
    /// Could not run (the message says why).
    Failed(String),
}

#[derive(Debug, Default)]
struct Inner {
    /// The last storage fault a write met, until a write succeeds again.
    storage: Option<StorageFault>,
    /// A damaged store was met (stays until restart: the store must be restored).
    damaged: bool,
    integrity: IntegrityState,
}

/// The storage and integrity observations `/healthz` reports.
#[derive(Debug, Default)]
pub struct Monitor {
    inner: Mutex<Inner>,
}

impl Monitor {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a storage fault met by an operation.
    pub fn storage_fault(&self, fault: StorageFault) {
        let mut inner = self.inner();
        if fault == StorageFault::Damaged {
            inner.damaged = true;
        } else {
            inner.storage = Some(fault);
        }
    }

    /// Records that a write succeeded: a full disk, a read-only file system, a locked
    /// database or an I/O error seen before is over. A damaged store is not.
    pub fn write_succeeded(&self) {
        self.inner().storage = None;
    }

    /// Sets the background integrity check's state.
    pub fn set_integrity(&self, state: IntegrityState) {
        let mut inner = self.inner();
        if matches!(state, IntegrityState::Damaged(_)) {
            inner.damaged = true;
        }
        inner.integrity = state;
    }

    /// The background integrity check's state.
    pub fn integrity(&self) -> IntegrityState {
        self.inner().integrity.clone()
    }

    /// `(unavailable, degraded)`: reasons the node cannot serve at all, and reasons it serves
    /// degraded.
    pub fn reasons(&self) -> (Vec<String>, Vec<String>) {
        let inner = self.inner();
        let mut unavailable = Vec::new();
        let mut degraded = Vec::new();
        if inner.damaged {
            let mut reason = String::from(StorageFault::Damaged.message());
            if let IntegrityState::Damaged(found) = &inner.integrity {
                reason = format!(
                    "the integrity check found damage ({}): {reason}",
                    found.first().map_or("", String::as_str)
                );
            }
            unavailable.push(reason);
        }
        match inner.storage {
            Some(StorageFault::Full) => degraded.push(
                "storage: the disk holding the authority's data was full at the last write \
                 (and no write has succeeded since): free space"
                    .to_string(),
            ),
            Some(fault) => degraded.push(format!("storage: {}", fault.message())),
            None => {}
        }
        match &inner.integrity {
            IntegrityState::Running => {
                degraded.push("the store's integrity check is running".to_string())
            }
            IntegrityState::Failed(why) => {
                degraded.push(format!("the store's integrity check could not run: {why}"))
            }
            _ => {}
        }
        (unavailable, degraded)
    }
}

/// Middleware: records the storage fault a call failed on, and clears the last one when a
/// write (any method but GET and HEAD) succeeds.
pub(crate) async fn track_storage(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let write = !matches!(*request.method(), Method::GET | Method::HEAD);
    let response = next.run(request).await;
    if let Some(StorageFaultSeen(fault)) = response.extensions().get::<StorageFaultSeen>() {
        state.health_monitor().storage_fault(*fault);
    } else if response.status() == StatusCode::INSUFFICIENT_STORAGE {
        state.health_monitor().storage_fault(StorageFault::Full);
    } else if write && response.status().is_success() {
        state.health_monitor().write_succeeded();
    }
    response
}

/// Runs SQLite's quick check of the store in `data_dir` on a thread of its own, reporting
/// through `/healthz` (running, then sound or damaged).
pub fn spawn_integrity_check(state: Arc<AppState>, data_dir: PathBuf) {
    state
        .health_monitor()
        .set_integrity(IntegrityState::Running);
    let spawned = std::thread::Builder::new()
        .name("integrity-check".into())
        .spawn({
            let state = state.clone();
            move || {
                let started = std::time::Instant::now();
                let result = escrow::check_integrity(&data_dir, CheckDepth::Quick);
                let next = match result {
                    Ok(problems) if problems.is_empty() => {
                        tracing::info!(
                            seconds = started.elapsed().as_secs(),
                            "background integrity check: the store is sound"
                        );
                        IntegrityState::Sound
                    }
                    Ok(problems) => {
                        tracing::error!(
                            problems = ?problems,
                            "background integrity check: THE STORE IS DAMAGED; restore it \
                             from a backup (kmsd restore)"
                        );
                        IntegrityState::Damaged(problems)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "background integrity check could not run");
                        IntegrityState::Failed(format!("[{}] {e}", e.code()))
                    }
                };
                state.health_monitor().set_integrity(next);
            }
        });
    if let Err(e) = spawned {
        state
            .health_monitor()
            .set_integrity(IntegrityState::Failed(format!(
                "cannot start a thread: {e}"
            )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_degraded_until_a_write_succeeds_and_damage_stays() {
        let m = Monitor::default();
        assert_eq!(m.reasons(), (vec![], vec![]));
        m.storage_fault(StorageFault::Full);
        let (u, d) = m.reasons();
        assert!(u.is_empty());
        assert!(d[0].contains("full"), "{d:?}");
        m.write_succeeded();
        assert_eq!(m.reasons(), (vec![], vec![]));
        m.storage_fault(StorageFault::Damaged);
        m.write_succeeded();
        let (u, _) = m.reasons();
        assert!(u[0].contains("damaged"), "{u:?}");
    }

    #[test]
    fn the_background_check_is_reported() {
        let m = Monitor::default();
        m.set_integrity(IntegrityState::Running);
        assert!(m.reasons().1[0].contains("running"));
        m.set_integrity(IntegrityState::Damaged(vec!["Page 5: bad".into()]));
        let (u, d) = m.reasons();
        assert!(d.is_empty());
        assert!(u[0].contains("Page 5"), "{u:?}");
    }
}
