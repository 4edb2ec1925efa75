//! Schema migrations: the embedded `migrations/sqlite/*.sql` files, applied in order, one transaction
//! each, and recorded (with a SHA-256 of their text) in the `schema_migrations` table.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One embedded migration file.
pub(crate) struct Migration {
    /// Its number (the `NNNN` of `NNNN_name.sql`), from 1 without gaps.
    pub(crate) version: u32,
    /// Its file name.
    pub(crate) name: &'static str,
    /// Its SQL.
    pub(crate) sql: &'static str,
}

impl Migration {
    fn checksum(&self) -> Vec<u8> {
        Sha256::digest(self.sql.as_bytes()).to_vec()
    }
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The version table. Owned by this module rather than a migration, because it must exist
/// before the first migration can be recorded.
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    checksum   BLOB    NOT NULL,
    applied_at INTEGER NOT NULL DEFAULT (unixepoch())
)";

/// The newest schema version this binary knows.
pub(crate) fn latest() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The store's recorded schema version (0 if none), refusing a store newer than this binary or
/// one whose applied migrations were edited since. Reads only.
pub(crate) fn check(conn: &Connection) -> Result<u32> {
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    let mut stmt =
        conn.prepare("SELECT version, name, checksum FROM schema_migrations ORDER BY version")?;
    let applied = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let found = applied.iter().map(|(v, _, _)| *v).max().unwrap_or(0);
    if found > i64::from(latest()) {
        return Err(Error::SchemaTooNew {
            found: u32::try_from(found).unwrap_or(u32::MAX),
            supported: latest(),
        });
    }
    for (version, _, checksum) in &applied {
        let Some(m) = MIGRATIONS.iter().find(|m| i64::from(m.version) == *version) else {
            return Err(Error::corrupt(format!(
                "schema_migrations records unknown version {version}"
            )));
        };
        if *checksum != m.checksum() {
            return Err(Error::MigrationChanged {
                version: m.version,
                name: m.name.to_owned(),
            });
        }
    }
    u32::try_from(found).map_err(|_| Error::corrupt("negative schema version"))
}

/// Brings the store up to [`latest`], one migration per IMMEDIATE transaction. Returns the
/// resulting version. A store newer than this binary is refused untouched.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32> {
    let current = check(conn)?;
    if current == latest() {
        return Ok(current);
    }
    conn.execute_batch(VERSION_TABLE)?;
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let failed = |source| Error::MigrationFailed {
            version: m.version,
            name: m.name.to_owned(),
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        // Another process may have applied it while we waited for the write lock.
        let already: Option<i64> = tx
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                [m.version],
                |r| r.get(0),
            )
            .optional()
            .map_err(failed)?;
        if already.is_none() {
            tx.execute_batch(m.sql).map_err(failed)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, ?2, ?3)",
                params![m.version, m.name, m.checksum()],
            )
            .map_err(failed)?;
            tracing::info!(
                version = m.version,
                name = m.name,
                "applied store migration"
            );
        }
        tx.commit().map_err(failed)?;
    }
    check(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_migrations_are_numbered_from_one() {
        assert!(!MIGRATIONS.is_empty());
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
            assert!(m.name.ends_with(".sql"));
        }
        assert_eq!(MIGRATIONS[0].name, "0001_escrow.sql");
    }

    #[test]
    fn migrate_is_idempotent_and_refuses_newer_or_edited() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), latest());
        assert_eq!(migrate(&mut conn).unwrap(), latest());

        conn.execute(
            "UPDATE schema_migrations SET checksum = x'00' WHERE version = 1",
            [],
        )
        .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(Error::MigrationChanged { version: 1, .. })
        ));
        conn.execute(
            "UPDATE schema_migrations SET checksum = ?1 WHERE version = 1",
            [MIGRATIONS[0].checksum()],
        )
        .unwrap();

        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, 'future', x'00')",
            [latest() + 1],
        )
        .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(matches!(err, Error::SchemaTooNew { .. }));
        assert!(err.to_string().contains("upgrade the program"), "{err}");
    }
}
