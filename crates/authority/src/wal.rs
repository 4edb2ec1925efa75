//! The write-ahead log's checkpoints, moved off the requests' commits: SQLite's automatic
//! checkpoint runs inside the commit that crosses its threshold (1 000 pages by default),
//! so every few hundred revocations or enrollments one of them copied the log into the
//! database and fsynced it before answering. The store's connection keeps only a far
//! backstop ([`BACKSTOP_PAGES`]); a background job checkpoints (`PASSIVE`: never waiting
//! for readers or writers) through a connection of its own every [`EVERY`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use escrow::rusqlite::Connection;

use crate::error::Result;

/// The store connection's own automatic checkpoint: only when the background job falls
/// behind (about 32 MiB of log at 4 KiB pages).
pub(crate) const BACKSTOP_PAGES: i64 = 8192;

/// SQLite's default threshold (what a commit paid before; the benchmark's "before").
pub(crate) const INLINE_PAGES: i64 = 1000;

/// How often the background job checkpoints.
pub(crate) const EVERY: Duration = Duration::from_millis(500);

/// The background checkpoint job's state.
pub(crate) struct Checkpointer {
    db: PathBuf,
    conn: Mutex<Option<Connection>>,
    /// Benchmarks only: checkpoints left to the commits, as before.
    pub(crate) inline: Arc<AtomicBool>,
}

impl Checkpointer {
    pub(crate) fn new(db: PathBuf) -> Self {
        Checkpointer {
            db,
            conn: Mutex::new(None),
            inline: Arc::new(AtomicBool::new(false)),
        }
    }

    /// One pass: a passive checkpoint; true when it moved frames into the database.
    pub(crate) fn pass(&self) -> Result<bool> {
        if self.inline.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if conn.is_none() {
            *conn = Some(Connection::open(&self.db)?);
        }
        let Some(c) = conn.as_ref() else {
            return Ok(false);
        };
        // (busy, frames in the log, frames checkpointed)
        let (_, _, moved): (i64, i64, i64) =
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        Ok(moved > 0)
    }
}
