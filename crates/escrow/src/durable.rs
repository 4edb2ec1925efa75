//! Group commit: transactions committed without their own fsync, made durable together by
//! one fsync of the write-ahead log that every waiting committer shares.
//!
//! # Design
//!
//! The store runs SQLite in WAL mode with `synchronous = FULL`: every commit appends its
//! frames to the `-wal` file and fsyncs it before returning, so N concurrent writers pay N
//! fsyncs one after another (and, in the authority, each under its global lock).
//!
//! [`UnlockedStore::begin_grouped`](crate::UnlockedStore::begin_grouped) opens a transaction
//! with `synchronous = NORMAL` for that transaction only (SQLite takes the level outside a
//! transaction; the connection goes back to `FULL` as soon as it is over, committed or not): SQLite writes the frames and the commit frame to the WAL file but does not fsync.
//! [`EscrowTx::commit_grouped`](crate::EscrowTx::commit_grouped) makes it visible to readers at once but not yet durable. It hands back a
//! [`Pending`] ticket, numbered in commit order. The caller releases its own locks and calls
//! [`Pending::wait`], which returns only once an fsync of the WAL file that started after that
//! commit has completed:
//!
//! - the first waiter that finds no fsync running becomes the leader: it notes the highest
//!   commit number issued so far, fsyncs the WAL file (a separate read-only handle: an fsync
//!   flushes the file, whichever descriptor asks), records that number as synced and wakes
//!   everyone;
//! - waiters whose commit number is covered return; the others (commits that landed while
//!   the fsync ran) elect the next leader among themselves. So under load one fsync makes a
//!   whole batch durable, and a lone writer pays exactly one fsync, as before.
//!
//! The WAL is append-only between checkpoints and SQLite replays it up to the last valid
//! commit frame, so a durable later commit (grouped or `FULL`) implies every earlier one is
//! durable too. A checkpoint with `synchronous = NORMAL` fsyncs the WAL before copying and the
//! database after, so frames that move into the database stay durable. If the WAL file is
//! gone (no writer since the last checkpoint closed it), the database file is fsynced.
//!
//! An fsync that fails is reported to every waiter it was to cover, and to every later one
//! ([`Error::NotDurable`](crate::Error::NotDurable), `ESCROW-031`), until the store is opened
//! again: after a failed fsync the kernel may have dropped the pages it could not write, and a
//! later fsync that succeeds proves nothing about them (nor, the WAL being replayed only up to
//! its first broken frame, about the commits after them). The caller answers only after
//! `wait` returned `Ok`.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};

/// The shared fsync point of one store (one per open database).
#[derive(Debug)]
pub(crate) struct GroupSync {
    wal: PathBuf,
    db: PathBuf,
    state: Mutex<SyncState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Number of the last grouped commit.
    committed: u64,
    /// Every commit up to this number is durable.
    synced: u64,
    /// An fsync is running.
    syncing: bool,
    /// An fsync failed: nothing committed since the last good fsync is known durable, and
    /// (the kernel may have dropped the pages it could not write, and the WAL is replayed
    /// only up to the first broken frame) nothing committed later can be trusted either.
    failed: bool,
    /// Fsyncs run (for tests and benchmarks).
    fsyncs: u64,
    /// The data directory was fsynced (once: the WAL file's entry in it is then durable).
    dir_synced: bool,
}

impl GroupSync {
    pub(crate) fn new(db: PathBuf) -> Arc<Self> {
        let mut wal = db.clone().into_os_string();
        wal.push("-wal");
        Arc::new(GroupSync {
            wal: wal.into(),
            db,
            state: Mutex::new(SyncState::default()),
            done: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Numbers a commit that just happened (call right after the commit, before any other
    /// commit on the same connection: the caller holds the connection exclusively).
    pub(crate) fn committed(self: &Arc<Self>) -> Pending {
        let mut st = self.lock();
        st.committed += 1;
        Pending {
            sync: self.clone(),
            seq: st.committed,
        }
    }

    /// Fsyncs run so far.
    pub(crate) fn fsyncs(&self) -> u64 {
        self.lock().fsyncs
    }

    fn wait(&self, seq: u64) -> Result<()> {
        if seq == 0 {
            return Ok(());
        }
        let mut st = self.lock();
        loop {
            if st.failed {
                return Err(Error::NotDurable);
            }
            if st.synced >= seq {
                return Ok(());
            }
            if !st.syncing {
                st.syncing = true;
                let upto = st.committed;
                let dir_synced = st.dir_synced;
                drop(st);
                let r = self.fsync(dir_synced);
                st = self.lock();
                st.dir_synced |= r.is_ok();
                st.syncing = false;
                st.fsyncs += 1;
                match r {
                    Ok(()) => st.synced = st.synced.max(upto),
                    Err(e) => {
                        tracing::error!(error = %e, "fsync of the write-ahead log failed");
                        st.failed = true;
                    }
                }
                self.done.notify_all();
                continue;
            }
            st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn fsync(&self, dir_synced: bool) -> std::io::Result<()> {
        match std::fs::File::open(&self.wal) {
            Ok(f) => f.sync_all()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::File::open(&self.db)?.sync_all()?
            }
            Err(e) => return Err(e),
        }
        if !dir_synced {
            // The first time: the WAL file's own directory entry (SQLite creates the file
            // when the store is opened and keeps it while a connection is open).
            if let Some(dir) = self.db.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
        }
        Ok(())
    }
}

/// A grouped commit not yet known durable: [`Pending::wait`] before answering anyone.
#[must_use = "a grouped commit is durable only once `wait` returned Ok"]
#[derive(Debug)]
pub struct Pending {
    sync: Arc<GroupSync>,
    seq: u64,
}

impl Pending {
    /// A commit that was durable when it returned (`synchronous = FULL`).
    pub(crate) fn durable(sync: &Arc<GroupSync>) -> Self {
        Pending {
            sync: sync.clone(),
            seq: 0,
        }
    }

    /// Blocks until the commit is durable (one fsync shared with every commit waiting at the
    /// same time); [`Error::NotDurable`](crate::Error::NotDurable) if the fsync failed. Call
    /// it with no lock held that other committers need.
    pub fn wait(self) -> Result<()> {
        self.sync.wait(self.seq)
    }
}
