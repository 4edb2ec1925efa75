//! Schema migrations on either backend: [`migrate`] applies a list of numbered SQL texts in
//! order, one transaction each, recording each (with a SHA-256 of its text) in the
//! `schema_migrations` table — the table and layout escrow's SQLite stores already have, so
//! a store keeps its history across the conversion — and refuses a database newer than the
//! list ([`ErrorKind::Newer`]) or one whose applied migrations changed since.

use sha2::{Digest, Sha256};

use crate::conn::{Backend, Connection};
use crate::error::{DbError, ErrorKind, Result};

/// One migration: its number (from 1, without gaps), its file name, its SQL.
#[derive(Clone, Copy, Debug)]
pub struct Migration<'a> {
    /// The `NNNN` of `NNNN_name.sql`.
    pub version: u32,
    /// The file name.
    pub name: &'a str,
    /// The SQL (several statements).
    pub sql: &'a str,
}

impl Migration<'_> {
    /// SHA-256 of the SQL text (what `schema_migrations.checksum` holds).
    pub fn checksum(&self) -> Vec<u8> {
        Sha256::digest(self.sql.as_bytes()).to_vec()
    }
}

/// The version table per backend.
fn version_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    INTEGER PRIMARY KEY,
                name       TEXT    NOT NULL,
                checksum   BLOB    NOT NULL,
                applied_at INTEGER NOT NULL DEFAULT (unixepoch())
            )"
        }
        Backend::Postgres => {
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    BIGINT PRIMARY KEY,
                name       TEXT   NOT NULL,
                checksum   BYTEA  NOT NULL,
                applied_at BIGINT NOT NULL DEFAULT (extract(epoch FROM now())::bigint)
            )"
        }
    }
}

/// The PostgreSQL advisory lock (`"kms_mig"`) under which [`migrate`] creates the version
/// table: two nodes starting on an empty database would otherwise both run its
/// `CREATE TABLE IF NOT EXISTS` and one fail on the catalog's unique index.
pub const MIGRATE_LOCK: i64 = 0x006b_6d73_5f6d_6967;

/// Creates the version table if it is missing (on PostgreSQL under [`MIGRATE_LOCK`], held
/// until the creating transaction commits).
fn create_version_table(conn: &Connection) -> Result<()> {
    match conn.backend() {
        Backend::Sqlite => conn.execute_batch(version_table(Backend::Sqlite)),
        Backend::Postgres => {
            let tx = conn.transaction()?;
            tx.query_row("SELECT pg_advisory_xact_lock(?1)", [MIGRATE_LOCK], |_| {
                Ok(())
            })?;
            tx.execute_batch(version_table(Backend::Postgres))?;
            tx.commit()
        }
    }
}

fn has_version_table(conn: &Connection) -> Result<bool> {
    let sql = match conn.backend() {
        Backend::Sqlite => {
            "SELECT EXISTS (SELECT 1 FROM sqlite_master
                            WHERE type = 'table' AND name = 'schema_migrations')"
        }
        Backend::Postgres => "SELECT to_regclass('schema_migrations') IS NOT NULL",
    };
    conn.query_row(sql, [], |r| r.get(0))
}

/// The migrations recorded in the database's `schema_migrations` (version, file name, SHA-256),
/// in order; empty when there is no such table yet. For callers that report a refusal in their
/// own terms; [`check`] is the refusal itself.
pub fn applied(conn: &Connection) -> Result<Vec<(u32, String, Vec<u8>)>> {
    if !has_version_table(conn)? {
        return Ok(Vec::new());
    }
    conn.query_map(
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
        [],
        |r| Ok((r.get::<u32>(0)?, r.get::<String>(1)?, r.get::<Vec<u8>>(2)?)),
    )
}

/// The database's schema version (0 for none), refusing one newer than `migrations` or whose
/// applied migrations were edited. Reads only.
pub fn check(conn: &Connection, migrations: &[Migration<'_>]) -> Result<u32> {
    let latest = migrations.last().map_or(0, |m| m.version);
    let applied = applied(conn)?;
    let found = applied.iter().map(|(v, _, _)| *v).max().unwrap_or(0);
    if found > latest {
        return Err(DbError::new(
            ErrorKind::Newer,
            format!(
                "the database's schema is version {found}, newer than this program knows \
                 ({latest}): upgrade the program"
            ),
        ));
    }
    for (version, name, checksum) in &applied {
        let Some(m) = migrations.iter().find(|m| m.version == *version) else {
            return Err(DbError::new(
                ErrorKind::MigrationChanged,
                format!("schema_migrations records version {version} ({name}), unknown here"),
            ));
        };
        if *checksum != m.checksum() {
            return Err(DbError::new(
                ErrorKind::MigrationChanged,
                format!(
                    "migration {} ({}) changed since it was applied to this database",
                    m.version, m.name
                ),
            ));
        }
    }
    Ok(found)
}

/// Brings the database up to the last of `migrations` (numbered from 1 without gaps), one
/// transaction per migration (SQLite `BEGIN IMMEDIATE`; PostgreSQL takes an exclusive lock on
/// `schema_migrations` first, so two nodes starting at once apply each migration once, and
/// creates that table under [`MIGRATE_LOCK`], so two nodes on an empty database do not
/// collide).
/// Returns the resulting version.
pub fn migrate(conn: &Connection, migrations: &[Migration<'_>]) -> Result<u32> {
    for (i, m) in migrations.iter().enumerate() {
        if m.version as usize != i + 1 {
            return Err(DbError::misuse(format!(
                "migration {} is numbered {}, expected {}",
                m.name,
                m.version,
                i + 1
            )));
        }
    }
    let latest = migrations.last().map_or(0, |m| m.version);
    let current = check(conn, migrations)?;
    if current == latest {
        return Ok(current);
    }
    create_version_table(conn)?;
    for m in migrations.iter().filter(|m| m.version > current) {
        let failed = |e: DbError| {
            DbError::new(
                ErrorKind::Migration,
                format!("migration {} ({}) failed: {e}", m.version, m.name),
            )
        };
        let tx = conn.transaction().map_err(failed)?;
        if tx.backend() == Backend::Postgres {
            tx.execute_batch("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")
                .map_err(failed)?;
        }
        // Another process may have applied it while we waited for the lock.
        let already = tx
            .query_opt(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                [m.version],
                |r| r.get::<u32>(0),
            )
            .map_err(failed)?;
        if already.is_none() {
            tx.execute_batch(m.sql).map_err(failed)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, ?2, ?3)",
                crate::params![m.version, m.name, m.checksum()],
            )
            .map_err(failed)?;
            tracing::info!(
                version = m.version,
                name = m.name,
                backend = tx.backend().as_str(),
                "applied migration"
            );
        }
        tx.commit().map_err(failed)?;
    }
    check(conn, migrations)
}
