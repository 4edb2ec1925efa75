//! Where the published CRLs' bytes live: outside the main database, which keeps only their
//! small state (numbers, times, a SHA-256 of each, entry counts) so that re-signing a large
//! CRL never writes megabytes through the store's single writer. [`CrlBlobs`] is the seam
//! (a backend shared by several nodes stores them in a table); [`CrlFiles`] keeps them as
//! files in `DATA_DIR/crl/`, one per CRL number, each written to a temporary file, fsynced
//! and renamed, then the directory fsynced; [`DbCrlBlobs`] keeps them as rows of the table
//! `crl_blobs` (PostgreSQL only, migrations/postgres/0014), shared by every node on the
//! database.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use escrow::StorageFault;

use crate::error::{Error, Result};

/// The directory under the data directory that holds the CRL files.
pub const CRL_DIR: &str = "crl";

/// Which CRL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CrlKind {
    /// The full CRL.
    Full,
    /// The delta CRL.
    Delta,
}

impl CrlKind {
    fn name(self) -> &'static str {
        match self {
            CrlKind::Full => "full",
            CrlKind::Delta => "delta",
        }
    }
}

/// Storage for published CRLs, keyed by kind and CRL number. Numbers come from the store's
/// CRL state and are never reused, so a CRL can be put (the long write) before the store
/// records it as current, without holding any lock: the store's state says which number is
/// served, and a number the store never recorded is pruned later.
pub(crate) trait CrlBlobs: Send + Sync {
    /// Stores `der` as CRL `number` of `kind`, durably before it returns.
    fn put(&self, kind: CrlKind, number: i64, der: &[u8]) -> Result<()>;
    /// The stored CRL `number` of `kind`; None when there is none.
    fn get(&self, kind: CrlKind, number: i64) -> Result<Option<Vec<u8>>>;
    /// Drops the CRLs of `kind` numbered below `below` (and leftovers of interrupted puts).
    fn prune(&self, kind: CrlKind, below: i64) -> Result<()>;
    /// Drops CRL `number` of `kind` (a re-sign whose result was not recorded).
    fn remove(&self, kind: CrlKind, number: i64) -> Result<()>;
    /// The highest number stored, of either kind (None when none is): CRL numbers only grow,
    /// also over a store put back from an older copy.
    fn highest(&self) -> Result<Option<i64>>;
}

/// The CRL storage of the store in `data_dir` (files, for the SQLite store).
pub(crate) fn for_data_dir(data_dir: &Path) -> Box<dyn CrlBlobs> {
    Box::new(CrlFiles {
        dir: data_dir.join(CRL_DIR),
    })
}

/// The CRL storage of `store`: the `crl_blobs` table when the store is on PostgreSQL (every
/// node serves the same CRLs), files in its data directory otherwise.
pub(crate) fn for_store(store: &escrow::Store) -> Result<std::sync::Arc<dyn CrlBlobs>> {
    Ok(match store.connection().postgres_config() {
        Some(config) => std::sync::Arc::from(for_database(config)?),
        None => std::sync::Arc::from(for_data_dir(store.data_dir())),
    })
}

/// The CRL storage of a store on the PostgreSQL database `config` names (the table
/// `crl_blobs`): connects now, on a connection of its own.
pub(crate) fn for_database(config: &db::PgConfig) -> Result<Box<dyn CrlBlobs>> {
    Ok(Box::new(DbCrlBlobs::open(config)?))
}

/// CRLs as files `DATA_DIR/crl/{full,delta}-NUMBER.crl` (mode 0644: CRLs are public).
#[derive(Debug)]
pub(crate) struct CrlFiles {
    dir: PathBuf,
}

impl CrlFiles {
    fn path(&self, kind: CrlKind, number: i64) -> PathBuf {
        self.dir.join(format!("{}-{number}.crl", kind.name()))
    }

    /// (kind, number) of a CRL file name.
    fn parse_name(name: &str) -> Option<(CrlKind, i64)> {
        let stem = name.strip_suffix(".crl")?;
        let (kind, number) = stem.split_once('-')?;
        let kind = match kind {
            "full" => CrlKind::Full,
            "delta" => CrlKind::Delta,
            _ => return None,
        };
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((kind, number.parse().ok()?))
    }

    /// Every file name in the directory (none when it does not exist).
    fn names(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("read", &self.dir, &e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("read", &self.dir, &e))?;
            if let Some(n) = entry.file_name().to_str() {
                names.push(n.to_owned());
            }
        }
        Ok(names)
    }

    fn remove_file(&self, name: &str) -> Result<()> {
        let path = self.dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove", &path, &e)),
        }
    }
}

impl CrlBlobs for CrlFiles {
    fn put(&self, kind: CrlKind, number: i64, der: &[u8]) -> Result<()> {
        let created = match std::fs::create_dir(&self.dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(io_error("create", &self.dir, &e)),
        };
        if created && let Some(parent) = self.dir.parent() {
            sync_dir(parent)?;
        }
        let path = self.path(kind, number);
        // A temporary name of its own per put: two puts of one number (a re-sign reserved it,
        // and a second one raced it) never write into each other's file; the rename decides.
        static PUTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let unique = PUTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temp = self.dir.join(format!(
            ".{}-{number}.crl.{}-{unique}.tmp",
            kind.name(),
            std::process::id()
        ));
        let write = || -> std::io::Result<()> {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o644);
            }
            let mut f = options.open(&temp)?;
            f.write_all(der)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&temp);
            return Err(io_error("write", &temp, &e));
        }
        std::fs::rename(&temp, &path).map_err(|e| io_error("rename", &path, &e))?;
        sync_dir(&self.dir)
    }

    fn get(&self, kind: CrlKind, number: i64) -> Result<Option<Vec<u8>>> {
        let path = self.path(kind, number);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", &path, &e)),
        }
    }

    fn prune(&self, kind: CrlKind, below: i64) -> Result<()> {
        for name in self.names()? {
            let stale = match Self::parse_name(&name) {
                Some((k, n)) => k == kind && n < below,
                // An interrupted put's temporary file of an older number
                // (`.KIND-N.crl.PID-COUNT.tmp`, or `.KIND-N.crl.tmp` of older versions).
                None => name
                    .strip_prefix('.')
                    .and_then(|n| n.strip_suffix(".tmp"))
                    .and_then(|n| match n.split_once(".crl.") {
                        Some((base, _)) => Self::parse_name(&format!("{base}.crl")),
                        None => Self::parse_name(n),
                    })
                    .is_some_and(|(k, n)| k == kind && n < below),
            };
            if stale {
                self.remove_file(&name)?;
            }
        }
        Ok(())
    }

    fn remove(&self, kind: CrlKind, number: i64) -> Result<()> {
        self.remove_file(&format!("{}-{number}.crl", kind.name()))
    }

    fn highest(&self) -> Result<Option<i64>> {
        Ok(self
            .names()?
            .iter()
            .filter_map(|n| Self::parse_name(n))
            .map(|(_, n)| n)
            .max())
    }
}

/// CRLs as rows `crl_blobs (kind, number, der)` of the database (PostgreSQL: the nodes share
/// no directory). Holds its own connection, so a long CRL write never waits on, or holds, the
/// store's; a call that finds the server gone reconnects (for up to about 2 s, as the store's
/// own heal does: see [`RECONNECT`]) and runs once more. Each call is one statement, durable
/// when it returns (autocommit).
pub(crate) struct DbCrlBlobs {
    conn: Mutex<db::Connection>,
}

/// How long a CRL table call waits for the server to come back: briefly. The calls run on
/// the CRL thread, which also heals the store's session and tells /healthz that the database
/// is unreachable; held in a minute-long reconnect it did neither (found by the two-node
/// test: /healthz said `degraded` through a whole outage on the signing node). A failed pass
/// is retried by the publisher.
const RECONNECT: db::Backoff = db::Backoff {
    initial: std::time::Duration::from_millis(100),
    max: std::time::Duration::from_millis(500),
    give_up_after: std::time::Duration::from_secs(2),
};

impl std::fmt::Debug for DbCrlBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection prints its configuration with the password redacted.
        match self.conn.try_lock() {
            Ok(c) => f.debug_struct("DbCrlBlobs").field("conn", &*c).finish(),
            Err(_) => f.write_str("DbCrlBlobs(busy)"),
        }
    }
}

impl DbCrlBlobs {
    /// Connects to the database `config` names (one attempt).
    pub(crate) fn open(config: &db::PgConfig) -> Result<Self> {
        let conn = db::Connection::connect_postgres(config).map_err(|e| db_error("connect", e))?;
        Ok(DbCrlBlobs {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> MutexGuard<'_, db::Connection> {
        // A panic while holding it leaves nothing half-done: every call is one statement.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `op`; when the server was unreachable, reconnects and runs it once more.
    fn with_conn<T>(
        &self,
        action: &str,
        op: impl Fn(&db::Connection) -> db::Result<T>,
    ) -> Result<T> {
        let mut conn = self.lock();
        match op(&*conn) {
            Ok(v) => Ok(v),
            Err(e) if e.kind() == db::ErrorKind::Unreachable => {
                tracing::warn!(error = %e, "the CRL table's connection is gone; reconnecting");
                conn.reconnect(&RECONNECT)
                    .map_err(|e| db_error("reconnect for", e))?;
                op(&*conn).map_err(|e| db_error(action, e))
            }
            Err(e) => Err(db_error(action, e)),
        }
    }
}

impl CrlBlobs for DbCrlBlobs {
    fn put(&self, kind: CrlKind, number: i64, der: &[u8]) -> Result<()> {
        self.with_conn("write", |c| {
            c.execute(
                "INSERT INTO crl_blobs (kind, number, der) VALUES (?1, ?2, ?3)
                 ON CONFLICT (kind, number) DO UPDATE SET der = excluded.der",
                db::params![kind.name(), number, der],
            )
        })
        .map(drop)
    }

    fn get(&self, kind: CrlKind, number: i64) -> Result<Option<Vec<u8>>> {
        self.with_conn("read", |c| {
            c.query_opt(
                "SELECT der FROM crl_blobs WHERE kind = ?1 AND number = ?2",
                db::params![kind.name(), number],
                |r| r.get(0),
            )
        })
    }

    fn prune(&self, kind: CrlKind, below: i64) -> Result<()> {
        self.with_conn("prune", |c| {
            c.execute(
                "DELETE FROM crl_blobs WHERE kind = ?1 AND number < ?2",
                db::params![kind.name(), below],
            )
        })
        .map(drop)
    }

    fn remove(&self, kind: CrlKind, number: i64) -> Result<()> {
        self.with_conn("remove", |c| {
            c.execute(
                "DELETE FROM crl_blobs WHERE kind = ?1 AND number = ?2",
                db::params![kind.name(), number],
            )
        })
        .map(drop)
    }

    fn highest(&self) -> Result<Option<i64>> {
        self.with_conn("read", |c| {
            c.query_row("SELECT max(number) FROM crl_blobs", [], |r| r.get(0))
        })
    }
}

/// The database's error as the authority reports every other one ([`Error::Database`]: a
/// storage fault, unreachable included, carries its `AUTH-06x` code), logged with what was
/// being done (`db` keeps no row data in its messages).
fn db_error(action: &str, e: db::DbError) -> Error {
    tracing::error!(code = e.code(), error = %e, "cannot {action} the CRL table");
    Error::Database(e)
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("fsync", dir, &e))
}

/// A storage fault for an operator (no path in the message; the path goes to the log).
fn io_error(action: &str, path: &Path, e: &std::io::Error) -> Error {
    let fault = match e.raw_os_error() {
        Some(28) | Some(122) => StorageFault::Full, // ENOSPC, EDQUOT
        Some(30) => StorageFault::ReadOnly,         // EROFS
        _ if e.kind() == std::io::ErrorKind::PermissionDenied => StorageFault::ReadOnly,
        _ => StorageFault::Io,
    };
    tracing::error!(path = %path.display(), error = %e, "cannot {action} a CRL file");
    Error::Storage(fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_puts_of_one_number_do_not_collide() {
        let tmp = tempfile::tempdir().unwrap();
        let blobs = for_data_dir(tmp.path());
        std::thread::scope(|s| {
            for i in 0..8u8 {
                let blobs = &blobs;
                s.spawn(move || {
                    for _ in 0..20 {
                        blobs.put(CrlKind::Full, 7, &[i; 4096]).unwrap();
                    }
                });
            }
        });
        let got = blobs.get(CrlKind::Full, 7).unwrap().unwrap();
        // One put's bytes whole, never a mix.
        assert!(got.len() == 4096 && got.iter().all(|b| *b == got[0]));
        blobs.prune(CrlKind::Full, 7).unwrap();
        let names: Vec<String> = std::fs::read_dir(tmp.path().join(CRL_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["full-7.crl"]);
    }

    #[test]
    fn put_get_prune_and_highest() {
        let tmp = tempfile::tempdir().unwrap();
        let blobs = for_data_dir(tmp.path());
        assert_eq!(blobs.highest().unwrap(), None);
        assert_eq!(blobs.get(CrlKind::Full, 1).unwrap(), None);
        blobs.put(CrlKind::Full, 1, b"one").unwrap();
        blobs.put(CrlKind::Delta, 2, b"two").unwrap();
        blobs.put(CrlKind::Full, 3, b"three").unwrap();
        blobs.put(CrlKind::Delta, 4, b"four").unwrap();
        assert_eq!(blobs.get(CrlKind::Full, 3).unwrap().unwrap(), b"three");
        assert_eq!(blobs.get(CrlKind::Delta, 3).unwrap(), None);
        assert_eq!(blobs.highest().unwrap(), Some(4));
        // Leftover temporary files of an older number go too (both namings), not a newer one's.
        std::fs::write(tmp.path().join(CRL_DIR).join(".full-2.crl.tmp"), b"x").unwrap();
        std::fs::write(tmp.path().join(CRL_DIR).join(".full-1.crl.77-3.tmp"), b"x").unwrap();
        std::fs::write(tmp.path().join(CRL_DIR).join(".full-5.crl.77-4.tmp"), b"x").unwrap();
        blobs.prune(CrlKind::Full, 3).unwrap();
        blobs.prune(CrlKind::Delta, 4).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(tmp.path().join(CRL_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [".full-5.crl.77-4.tmp", "delta-4.crl", "full-3.crl"]);
        std::fs::remove_file(tmp.path().join(CRL_DIR).join(".full-5.crl.77-4.tmp")).unwrap();
        blobs.remove(CrlKind::Delta, 4).unwrap();
        assert_eq!(blobs.get(CrlKind::Delta, 4).unwrap(), None);
        assert_eq!(blobs.highest().unwrap(), Some(3));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(tmp.path().join(CRL_DIR).join("full-3.crl"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777 & !0o022, 0o644 & !0o022);
        }
    }

    #[test]
    fn names_other_than_crl_files_are_ignored() {
        assert_eq!(
            CrlFiles::parse_name("full-12.crl"),
            Some((CrlKind::Full, 12))
        );
        assert_eq!(
            CrlFiles::parse_name("delta-7.crl"),
            Some((CrlKind::Delta, 7))
        );
        for n in [
            "full-.crl",
            "full--1.crl",
            "full-1.der",
            "other-1.crl",
            "full-1a.crl",
        ] {
            assert_eq!(CrlFiles::parse_name(n), None, "{n}");
        }
    }

    /// A fresh database of the shared test cluster, migrated with migrations/postgres.
    fn migrated_pg() -> db::PgConfig {
        let config = db::testing::PgCluster::shared().fresh_db();
        let conn = db::Connection::connect_postgres(&config).unwrap();
        assert!(db::migrate(&conn, escrow::migrations(db::Backend::Postgres)).unwrap() >= 14);
        config
    }

    #[test]
    fn database_put_get_prune_and_highest() {
        let config = migrated_pg();
        let blobs = for_database(&config).unwrap();
        assert_eq!(blobs.highest().unwrap(), None);
        assert_eq!(blobs.get(CrlKind::Full, 1).unwrap(), None);
        blobs.put(CrlKind::Full, 1, b"one").unwrap();
        blobs.put(CrlKind::Delta, 2, b"two").unwrap();
        blobs.put(CrlKind::Full, 3, b"three").unwrap();
        blobs.put(CrlKind::Delta, 4, b"four").unwrap();
        assert_eq!(blobs.get(CrlKind::Full, 3).unwrap().unwrap(), b"three");
        assert_eq!(blobs.get(CrlKind::Delta, 3).unwrap(), None);
        assert_eq!(blobs.highest().unwrap(), Some(4));
        // A put of a number stored already (a re-sign run again) replaces it.
        blobs.put(CrlKind::Full, 3, b"three again").unwrap();
        assert_eq!(
            blobs.get(CrlKind::Full, 3).unwrap().unwrap(),
            b"three again"
        );
        blobs.prune(CrlKind::Full, 3).unwrap();
        blobs.prune(CrlKind::Delta, 4).unwrap();
        let check = db::Connection::connect_postgres(&config).unwrap();
        let left: Vec<(String, i64)> = check
            .query_map(
                "SELECT kind, number FROM crl_blobs ORDER BY kind, number",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(left, [("delta".to_owned(), 4), ("full".to_owned(), 3)]);
        blobs.remove(CrlKind::Delta, 4).unwrap();
        assert_eq!(blobs.get(CrlKind::Delta, 4).unwrap(), None);
        assert_eq!(blobs.highest().unwrap(), Some(3));
        // Another node (another connection) sees the same CRLs.
        let other = for_database(&config).unwrap();
        assert_eq!(
            other.get(CrlKind::Full, 3).unwrap().unwrap(),
            b"three again"
        );
        // The table's CHECK holds.
        let e = check
            .execute(
                "INSERT INTO crl_blobs (kind, number, der) VALUES ('other', 1, ?1)",
                [b"x".to_vec()],
            )
            .unwrap_err();
        assert_eq!(e.kind(), db::ErrorKind::Constraint, "{e}");
    }

    #[test]
    fn database_connection_lost_is_reconnected() {
        let config = migrated_pg();
        let blobs = DbCrlBlobs::open(&config).unwrap();
        blobs.put(CrlKind::Full, 7, b"seven").unwrap();
        // The server ends the blobs' session (as a restart or a failover would).
        let admin = db::Connection::connect_postgres(&config).unwrap();
        let ended: i64 = admin
            .query_row(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                  WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(ended >= 1, "{ended}");
        assert_eq!(blobs.get(CrlKind::Full, 7).unwrap().unwrap(), b"seven");
        blobs.put(CrlKind::Full, 8, b"eight").unwrap();
        assert_eq!(blobs.highest().unwrap(), Some(8));
    }

    #[test]
    fn database_errors_are_reported_as_database_errors() {
        // A database without the table: a program error, not a storage fault, never a panic.
        let config = db::testing::PgCluster::shared().fresh_db();
        let blobs = for_database(&config).unwrap();
        let e = blobs.put(CrlKind::Full, 1, b"x").unwrap_err();
        assert!(
            matches!(&e, Error::Database(d) if d.kind() == db::ErrorKind::Sql),
            "{e:?}"
        );
        assert_eq!(e.storage_fault(), None);
    }
}
