//! Schema migrations: the embedded `migrations/sqlite/*.sql` and `migrations/postgres/*.sql`
//! files (one list per backend), applied in order by [`db::migrate`], one transaction each,
//! and recorded (with a SHA-256 of their text) in the `schema_migrations` table; refusals
//! (a store newer than this binary, an applied migration edited since) in the store's own
//! terms.

use db::{Backend, Connection, Migration};

use crate::error::{Error, Result};

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The migrations of `backend`.
pub(crate) fn list(backend: Backend) -> &'static [Migration<'static>] {
    match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    }
}

/// The newest schema version this binary knows for `backend`.
pub(crate) fn latest(backend: Backend) -> u32 {
    list(backend).last().map_or(0, |m| m.version)
}

/// The store's recorded schema version (0 if none), refusing a store newer than this binary or
/// one whose applied migrations were edited since. Reads only.
pub(crate) fn check(conn: &Connection) -> Result<u32> {
    let migrations = list(conn.backend());
    let supported = latest(conn.backend());
    let applied = db::migrate::applied(conn)?;
    let found = applied.iter().map(|(v, _, _)| *v).max().unwrap_or(0);
    if found > supported {
        return Err(Error::SchemaTooNew { found, supported });
    }
    for (version, _, checksum) in &applied {
        let Some(m) = migrations.iter().find(|m| m.version == *version) else {
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
    Ok(found)
}

/// Brings the store up to [`latest`], one migration per transaction. Returns the resulting
/// version. A store newer than this binary is refused untouched.
pub(crate) fn migrate(conn: &Connection) -> Result<u32> {
    let current = check(conn)?;
    let migrations = list(conn.backend());
    if current == latest(conn.backend()) {
        return Ok(current);
    }
    if let Err(source) = db::migrate(conn, migrations) {
        // The migrations before it committed: the one that failed is the next.
        let at = check(conn).unwrap_or(current) + 1;
        let name = migrations
            .iter()
            .find(|m| m.version == at)
            .map_or("?", |m| m.name);
        return Err(Error::MigrationFailed {
            version: at,
            name: name.to_owned(),
            source,
        });
    }
    check(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_migrations_are_numbered_from_one() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let migrations = list(backend);
            assert!(!migrations.is_empty());
            for (i, m) in migrations.iter().enumerate() {
                assert_eq!(m.version as usize, i + 1, "{}", m.name);
                assert!(m.name.ends_with(".sql"));
            }
            assert_eq!(migrations[0].name, "0001_escrow.sql");
        }
    }

    #[test]
    fn migrate_is_idempotent_and_refuses_newer_or_edited() {
        db::testing::both(|conn| {
            let backend = conn.backend();
            let latest = latest(backend);
            assert_eq!(migrate(conn).unwrap(), latest);
            assert_eq!(migrate(conn).unwrap(), latest);

            conn.execute(
                "UPDATE schema_migrations SET checksum = ?1 WHERE version = 1",
                [vec![0u8]],
            )
            .unwrap();
            assert!(matches!(
                migrate(conn),
                Err(Error::MigrationChanged { version: 1, .. })
            ));
            conn.execute(
                "UPDATE schema_migrations SET checksum = ?1 WHERE version = 1",
                [list(backend)[0].checksum()],
            )
            .unwrap();

            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, 'future', ?2)",
                db::params![latest + 1, vec![0u8]],
            )
            .unwrap();
            let err = migrate(conn).unwrap_err();
            assert!(matches!(err, Error::SchemaTooNew { .. }));
            assert!(err.to_string().contains("upgrade the program"), "{err}");
        });
    }
}
