//! Storage faults and integrity: classifying the database's failures into what an operator can
//! act on (full, read-only, locked, damaged, I/O, unreachable), SQLite's quick and full
//! integrity checks on a read-only connection, PostgreSQL's `amcheck` over the store's indexes
//! where installed, and an authentication pass over every escrowed key.

use std::fmt;
use std::path::Path;

use db::{Backend, Connection, ErrorKind};
use rusqlite::OpenFlags;

use crate::error::{Error, Result};
use crate::store::{DB_FILE_NAME, KeyCounts, KeyId, Store, UnlockedStore, decrypt_row};

/// What went wrong with the storage under the store, as an operator can act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageFault {
    /// The disk (or the file system's quota) is full.
    Full,
    /// The file system is read-only, or the database file is write-protected.
    ReadOnly,
    /// Another program holds the database locked.
    Busy,
    /// The database file is malformed (a damaged page, not a database at all, an
    /// undecodable row).
    Damaged,
    /// The disk reported an input/output error, or a file could not be opened.
    Io,
    /// The database server cannot be reached (PostgreSQL down, the network cut, the
    /// connection lost): the node reconnects by itself.
    Unreachable,
}

impl StorageFault {
    /// A short name for logs and health reasons: `full`, `read-only`, `busy`, `damaged`,
    /// `io`.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageFault::Full => "full",
            StorageFault::ReadOnly => "read-only",
            StorageFault::Busy => "busy",
            StorageFault::Damaged => "damaged",
            StorageFault::Io => "io",
            StorageFault::Unreachable => "unreachable",
        }
    }

    /// The escrow store's code for this fault (`ESCROW-020`..`ESCROW-024`).
    pub fn escrow_code(self) -> &'static str {
        match self {
            StorageFault::Full => "ESCROW-020",
            StorageFault::ReadOnly => "ESCROW-021",
            StorageFault::Busy => "ESCROW-022",
            StorageFault::Damaged => "ESCROW-023",
            StorageFault::Io => "ESCROW-024",
            StorageFault::Unreachable => "ESCROW-025",
        }
    }

    /// What an operator reads: what happened and what to do (no path, no SQL).
    pub fn message(self) -> &'static str {
        match self {
            StorageFault::Full => {
                "the disk holding the authority's data is full: free space and retry (nothing \
                 was changed)"
            }
            StorageFault::ReadOnly => {
                "the authority's data cannot be written: its file system is read-only or the \
                 database file is write-protected; make it writable and retry (nothing was \
                 changed)"
            }
            StorageFault::Busy => {
                "the authority's database is locked by another program (another kmsd, a \
                 backup tool, an open sqlite3 shell?): retry, or stop the other program \
                 (nothing was changed)"
            }
            StorageFault::Damaged => {
                "the store is damaged (its database file is malformed): stop the server and \
                 restore from a backup (kmsd restore BACKUP --data-dir NEW_DIR); kmsd check \
                 --data-dir DIR tells what is damaged"
            }
            StorageFault::Io => {
                "the disk holding the authority's data reported an input/output error: check \
                 the disk and the system log, then kmsd check --data-dir DIR"
            }
            StorageFault::Unreachable => {
                "the authority's database cannot be reached: the service reconnects by itself \
                 when it is back; check the database server and the network (nothing was \
                 changed)"
            }
        }
    }
}

impl fmt::Display for StorageFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// The storage fault behind a database error, if it is one (constraint violations, misuse and
/// the like are not).
pub fn classify(e: &db::DbError) -> Option<StorageFault> {
    use db::ErrorKind;
    match e.kind() {
        ErrorKind::Full => Some(StorageFault::Full),
        ErrorKind::ReadOnly => Some(StorageFault::ReadOnly),
        ErrorKind::Busy => Some(StorageFault::Busy),
        ErrorKind::Damaged => Some(StorageFault::Damaged),
        ErrorKind::Io => Some(StorageFault::Io),
        ErrorKind::Unreachable => Some(StorageFault::Unreachable),
        _ => None,
    }
}

/// How thorough an integrity check is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckDepth {
    /// `PRAGMA quick_check`: page structure and record formats, linear in the file's size
    /// (what `kmsd serve` runs at start).
    Quick,
    /// `PRAGMA integrity_check` (indexes match their tables too) and
    /// `PRAGMA foreign_key_check` (what `kmsd check` runs).
    Full,
}

/// Most problems listed by one check (SQLite stops there).
const MAX_PROBLEMS: u32 = 20;

/// The size in bytes of the store's database and its write-ahead log in `data_dir`.
pub fn store_size(data_dir: &Path) -> Result<u64> {
    let db = data_dir.join(DB_FILE_NAME);
    let main = std::fs::metadata(&db)
        .map_err(|e| Error::io("stat", &db, e))?
        .len();
    let wal = std::fs::metadata(data_dir.join(format!("{DB_FILE_NAME}-wal")))
        .map(|m| m.len())
        .unwrap_or(0);
    Ok(main + wal)
}

/// Runs SQLite's integrity check on the store in `data_dir` through a read-only connection of
/// its own (safe while a server has the store open). Returns the problems found, empty when
/// the database is sound. A file that is not a database at all is one problem, not an error.
pub fn check_integrity(data_dir: &Path, depth: CheckDepth) -> Result<Vec<String>> {
    let db = data_dir.join(DB_FILE_NAME);
    if !db.is_file() {
        return Err(Error::NoStore {
            path: data_dir.to_path_buf(),
        });
    }
    let run = || -> db::Result<Vec<String>> {
        let conn = Connection::from_rusqlite(rusqlite::Connection::open_with_flags(
            &db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?)?;
        let pragma = match depth {
            CheckDepth::Quick => "quick_check",
            CheckDepth::Full => "integrity_check",
        };
        let mut problems: Vec<String> = Vec::new();
        conn.query_each(&format!("PRAGMA {pragma}({MAX_PROBLEMS})"), [], |row| {
            let line: String = row.get(0)?;
            if line != "ok" {
                problems.push(line);
            }
            Ok(())
        })?;
        if depth == CheckDepth::Full && problems.is_empty() {
            conn.query_each("PRAGMA foreign_key_check", [], |row| {
                let table: String = row.get(0)?;
                let rowid: Option<i64> = row.get(1)?;
                let parent: String = row.get(2)?;
                problems.push(format!(
                    "row {} of table {table} refers to a missing row of {parent}",
                    rowid.map_or_else(|| "?".to_string(), |r| r.to_string())
                ));
                Ok(())
            })?;
        }
        Ok(problems)
    };
    match run() {
        Ok(problems) => Ok(problems),
        Err(e) => match classify(&e) {
            Some(StorageFault::Damaged) => Ok(vec![format!("the database is unreadable: {e}")]),
            _ => Err(e.into()),
        },
    }
}

/// What an integrity check of a store found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntegrityReport {
    /// Damage found: empty when the database is sound.
    pub problems: Vec<String>,
    /// What could not be checked, and why (not damage): e.g. PostgreSQL without `amcheck`.
    pub notes: Vec<String>,
}

/// What [`check_store_integrity`] notes on PostgreSQL without the `amcheck` extension.
pub const AMCHECK_MISSING: &str = "amcheck not installed: only foreign keys checked";

/// Checks the integrity of `store`'s database, on either backend.
///
/// SQLite: [`check_integrity`] on the store's data directory (its own read-only connection).
/// PostgreSQL: where the `amcheck` extension is installed (`CREATE EXTENSION amcheck`),
/// `bt_index_check` on every B-tree index of the store's schema (`Full`: with
/// `heapallindexed`, and `verify_heapam` on every table where the server has it); without it
/// the report carries the note [`AMCHECK_MISSING`] (PostgreSQL enforces foreign keys at every
/// statement, so those never need a separate pass). A role that may not run `amcheck` gets a
/// note too, not a problem.
pub fn check_store_integrity(store: &Store, depth: CheckDepth) -> Result<IntegrityReport> {
    match store.backend() {
        Backend::Sqlite => Ok(IntegrityReport {
            problems: check_integrity(store.data_dir(), depth)?,
            notes: Vec::new(),
        }),
        Backend::Postgres => check_postgres(store.connection(), depth),
    }
}

fn check_postgres(conn: &Connection, depth: CheckDepth) -> Result<IntegrityReport> {
    let mut report = IntegrityReport::default();
    let installed: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'amcheck')",
        [],
        |r| r.get(0),
    )?;
    if !installed {
        report.notes.push(AMCHECK_MISSING.to_owned());
        return Ok(report);
    }
    // Names and ids come from the catalog; only `heapallindexed` is put into the SQL text.
    let indexes: Vec<(String, i64)> = conn.query_map(
        "SELECT c.relname::text, c.oid::bigint
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid
         JOIN pg_class t ON t.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         JOIN pg_am am ON am.oid = c.relam
         WHERE n.nspname = current_schema() AND am.amname = 'btree'
           AND i.indisvalid AND i.indisready AND c.relpersistence <> 't'
         ORDER BY c.relname",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let heapallindexed = match depth {
        CheckDepth::Quick => "false",
        CheckDepth::Full => "true",
    };
    let check_index = format!(
        "SELECT 1 FROM (SELECT bt_index_check(?1::bigint::oid::regclass, {heapallindexed})) s"
    );
    for (name, oid) in &indexes {
        if report.problems.len() >= MAX_PROBLEMS as usize {
            break;
        }
        if let Err(e) = conn.query_each(&check_index, [*oid], |_| Ok(())) {
            if !amcheck_finding(&mut report, &format!("index {name}"), e)? {
                return Ok(report);
            }
        }
    }
    let heapam: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'verify_heapam')",
        [],
        |r| r.get(0),
    )?;
    if depth == CheckDepth::Full && heapam {
        let tables: Vec<(String, i64)> = conn.query_map(
            "SELECT c.relname::text, c.oid::bigint
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind = 'r'
             ORDER BY c.relname",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        for (name, oid) in &tables {
            let mut found = Vec::new();
            let run = conn.query_each(
                "SELECT blkno::bigint, msg FROM verify_heapam(?1::bigint::oid::regclass)",
                [*oid],
                |row| {
                    let block: i64 = row.get(0)?;
                    let msg: String = row.get(1)?;
                    found.push(format!("table {name}, block {block}: {msg}"));
                    Ok(())
                },
            );
            report.problems.extend(found);
            if let Err(e) = run {
                if !amcheck_finding(&mut report, &format!("table {name}"), e)? {
                    return Ok(report);
                }
            }
            if report.problems.len() >= MAX_PROBLEMS as usize {
                break;
            }
        }
    }
    Ok(report)
}

/// Files an error `amcheck` raised on `what`: damage is a problem (go on), a role without
/// the right to run it a note (stop: `false`); anything else is returned.
fn amcheck_finding(report: &mut IntegrityReport, what: &str, e: db::DbError) -> Result<bool> {
    if e.kind() == ErrorKind::Damaged {
        report.problems.push(format!("{what}: {e}"));
        return Ok(true);
    }
    if e.sqlstate() == Some("42501") {
        report
            .notes
            .push(format!("amcheck not permitted for this database role: {e}"));
        return Ok(false);
    }
    Err(e.into())
}

/// What an authentication pass over every escrowed key found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyCheck {
    /// Keys decrypted and authenticated, and their distinct owners.
    pub sound: KeyCounts,
    /// Keys whose row failed authentication or could not be decoded.
    pub failed: Vec<KeyId>,
}

impl Default for KeyCounts {
    fn default() -> Self {
        KeyCounts { keys: 0, owners: 0 }
    }
}

impl UnlockedStore {
    /// Decrypts and authenticates every escrowed key, going on past a failure: the keys
    /// that fail are listed, not returned. A damaged table (SQLite cannot read on) is an
    /// error.
    pub fn check_keys(&self) -> Result<KeyCheck> {
        let mut check = KeyCheck::default();
        let mut last_owner: Option<String> = None;
        self.store().connection().query_each_and_then(
            "SELECT id, owner, usage, created_at, scheme, nonce, ciphertext, certificate
             FROM escrowed_keys ORDER BY owner, id",
            [],
            |row| {
                match decrypt_row(self.row_cipher(), row) {
                    Ok(key) => {
                        check.sound.keys += 1;
                        if last_owner.as_deref() != Some(key.info.owner.as_str()) {
                            check.sound.owners += 1;
                            last_owner = Some(key.info.owner);
                        }
                    }
                    Err(Error::Tampered { id }) => check.failed.push(id),
                    Err(e) => match row.get::<i64>(0) {
                        Ok(id) if e.storage_fault().is_none() => check.failed.push(KeyId(id)),
                        _ => return Err(e),
                    },
                }
                Ok(())
            },
        )?;
        Ok(check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_error(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn sqlite_failures_are_classified() {
        use rusqlite::ffi;
        for (code, fault) in [
            (ffi::SQLITE_FULL, Some(StorageFault::Full)),
            (ffi::SQLITE_READONLY, Some(StorageFault::ReadOnly)),
            (ffi::SQLITE_BUSY, Some(StorageFault::Busy)),
            (ffi::SQLITE_LOCKED, Some(StorageFault::Busy)),
            (ffi::SQLITE_CORRUPT, Some(StorageFault::Damaged)),
            (ffi::SQLITE_NOTADB, Some(StorageFault::Damaged)),
            (ffi::SQLITE_IOERR_WRITE, Some(StorageFault::Io)),
            (ffi::SQLITE_CONSTRAINT, None),
        ] {
            assert_eq!(classify(&sqlite_error(code).into()), fault, "{code}");
        }
        assert_eq!(classify(&rusqlite::Error::InvalidQuery.into()), None);
        let e: Error = sqlite_error(ffi::SQLITE_FULL).into();
        assert_eq!(e.code(), "ESCROW-020");
        assert_eq!(e.storage_fault(), Some(StorageFault::Full));
        assert!(e.to_string().contains("disk"), "{e}");
        let e: Error = sqlite_error(ffi::SQLITE_CONSTRAINT).into();
        assert_eq!(e.code(), "ESCROW-017");
    }

    #[test]
    fn io_errors_of_a_full_or_read_only_disk_are_storage_faults() {
        let full = Error::io(
            "write",
            "/x/y",
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        );
        assert_eq!(full.storage_fault(), Some(StorageFault::Full));
        assert!(!full.to_string().contains("/x/y"));
        let other = Error::io("write", "/x/y", std::io::Error::other("x"));
        assert_eq!(other.storage_fault(), None);
    }
}
