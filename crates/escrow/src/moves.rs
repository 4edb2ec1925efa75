//! Moving a whole store between backends with the service stopped (`kmsd migrate`): a SQLite
//! store in a data directory into an empty PostgreSQL database ([`move_to_database`]), and a
//! PostgreSQL store into a new SQLite file ([`move_to_sqlite`]). Both go through
//! [`db::copy_database`]: one destination transaction, every table verified (row count and
//! SHA-256) before the commit; the store id, unlock methods, ids and named sequences (CRL
//! numbers) are kept. The CRL bytes are not carried (the authority re-signs at its first
//! unlock, above every number).

use std::path::Path;
use std::time::Duration;

use db::{Connection, CopyReport, PgConfig};
use rusqlite::OpenFlags;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::health::StorageFault;
use crate::migrate;
use crate::store::{self, DB_FILE_NAME, Store};

/// Copies the SQLite store in `data_dir` into the PostgreSQL database `config` names, which
/// must be able to hold a new store (the C collation, empty or freshly migrated: see
/// [`Store::init_database`]); calls `progress(table, rows so far)` as it goes.
///
/// The SQLite file is opened in exclusive locking mode and locked before anything else: a
/// store another process has open (kmsd serving it) is refused with
/// [`StorageFault::Busy`] (ESCROW-022) and nothing is written. The source is brought to the
/// current schema (as opening it would), the database is migrated, and the rows are copied.
/// The SQLite file is left as it was (the caller decides what becomes of it).
pub fn move_to_database(
    data_dir: &Path,
    config: &PgConfig,
    progress: impl FnMut(&str, u64),
) -> Result<CopyReport> {
    let src = open_exclusive(data_dir)?;
    migrate::migrate(&src)?;
    let pg = Connection::connect_postgres(config)?;
    store::check_new_database(&pg, config)?;
    migrate::migrate(&pg)?;
    let report = db::copy_database(&src, &pg, progress)?;
    tracing::info!(
        from = %data_dir.display(),
        to = %config,
        tables = report.tables.len(),
        "moved the store to PostgreSQL"
    );
    Ok(report)
}

/// Copies the PostgreSQL store in the database `config` names into a new SQLite store in
/// `data_dir` (created 0700 if missing; it must not hold a store), calling `progress` as it
/// goes.
///
/// The new database is built under a temporary name in `data_dir` (migrated, the rows
/// copied and verified, then switched to WAL mode as the store's connections use it) and
/// renamed into place only when complete, so an interruption leaves no half-made store (a
/// leftover temporary is swept at the next unlock). The database is only read (but for
/// pending migrations, applied as opening the store applies them).
pub fn move_to_sqlite(
    config: &PgConfig,
    data_dir: &Path,
    progress: impl FnMut(&str, u64),
) -> Result<CopyReport> {
    for suffix in ["", "-wal", "-journal"] {
        let p = data_dir.join(format!("{DB_FILE_NAME}{suffix}"));
        if p.exists() {
            return Err(Error::NotEmpty { path: p });
        }
    }
    let source = Store::open_database(config, data_dir)?;
    fsutil::create_private_dir(data_dir)?;
    let temp = fsutil::temp_in(data_dir, ".escrow-restore-", ".db")?;
    let report = {
        let raw = rusqlite::Connection::open(temp.path())?;
        store::configure(&raw)?;
        let dst = Connection::from_rusqlite(raw)?;
        migrate::migrate(&dst)?;
        let report = db::copy_database(source.connection(), &dst, progress)?;
        let mode: String = dst.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::corrupt(format!(
                "could not switch the new database to WAL mode (it is in {mode} mode)"
            )));
        }
        // Closing checkpoints the WAL into the file and removes it.
        drop(dst);
        report
    };
    let db_path = data_dir.join(DB_FILE_NAME);
    fsutil::persist_new(temp, &db_path)?;
    fsutil::sync_dir(&fsutil::parent_dir(data_dir))?;
    tracing::info!(
        from = %config,
        to = %data_dir.display(),
        tables = report.tables.len(),
        "moved the store to SQLite"
    );
    Ok(report)
}

/// The SQLite store in `data_dir`, opened in exclusive locking mode and locked (held until
/// the connection is dropped): nobody else reads or writes it meanwhile. A file another
/// connection has open is refused at once (ESCROW-022).
fn open_exclusive(data_dir: &Path) -> Result<Connection> {
    let db_path = data_dir.join(DB_FILE_NAME);
    if !db_path.is_file() {
        return Err(Error::NoStore {
            path: data_dir.to_path_buf(),
        });
    }
    let raw = rusqlite::Connection::open_with_flags(
        &db_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    raw.busy_timeout(Duration::from_millis(500))?;
    store::configure(&raw)?;
    let _mode: String = raw.query_row("PRAGMA locking_mode = EXCLUSIVE", [], |r| r.get(0))?;
    // In WAL mode the first transaction in exclusive locking mode takes the file's exclusive
    // lock, which any other open connection (even an idle one) prevents.
    if let Err(e) = raw.execute_batch("BEGIN EXCLUSIVE; COMMIT;") {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
            tracing::warn!(dir = %data_dir.display(), "the store is in use by another process");
            return Err(Error::Storage(StorageFault::Busy));
        }
        return Err(e.into());
    }
    Ok(Connection::from_rusqlite(raw)?)
}
