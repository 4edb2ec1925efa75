//! Schema migrations: recorded in a version table; a store newer than the binary is refused
//! (on both backends).

use db::Backend;
use escrow::Error;

use crate::common::{both, init_on};

#[test]
fn applied_migrations_are_recorded() {
    both(applied_migrations_on);
}

fn applied_migrations_on(backend: Backend) {
    let (fx, store) = init_on(backend);
    let supported = fx.schema_version_supported();
    assert!(supported >= 1);
    assert_eq!(store.store().schema_version().unwrap(), supported);
    drop(store);
    let conn = fx.raw();
    let versions: Vec<i64> = conn
        .query_map(
            "SELECT version FROM schema_migrations ORDER BY version",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(versions, (1..=i64::from(supported)).collect::<Vec<_>>());
    let name: String = conn
        .query_row(
            "SELECT name FROM schema_migrations WHERE version = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(name, "0001_escrow.sql");
}

#[test]
fn a_store_newer_than_the_binary_is_refused_with_a_clear_message() {
    both(newer_store_on);
}

fn newer_store_on(backend: Backend) {
    let (fx, store) = init_on(backend);
    drop(store);
    let future = fx.schema_version_supported() + 1;
    fx.raw()
        .execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, '9999_future.sql', ?2)",
            db::params![future, vec![0u8]],
        )
        .unwrap();
    let before = fx.snapshot();

    let err = fx.open().unwrap_err();
    match &err {
        Error::SchemaTooNew { found, supported } => {
            assert_eq!(*found, future);
            assert_eq!(*supported, future - 1);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert_eq!(err.code(), "ESCROW-004");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("version {future}")) && msg.contains("upgrade the program"),
        "{msg}"
    );
    assert_eq!(fx.snapshot(), before, "a refused store is left untouched");

    // Removing the future row makes it usable again.
    fx.raw()
        .execute("DELETE FROM schema_migrations WHERE version = ?1", [future])
        .unwrap();
    fx.unlock();
}

#[test]
fn an_edited_landed_migration_is_refused() {
    both(edited_migration_on);
}

fn edited_migration_on(backend: Backend) {
    let (fx, store) = init_on(backend);
    drop(store);
    fx.raw()
        .execute(
            "UPDATE schema_migrations SET checksum = ?1 WHERE version = 1",
            [vec![1u8, 2]],
        )
        .unwrap();
    let err = fx.open().unwrap_err();
    assert!(
        matches!(err, Error::MigrationChanged { version: 1, .. }),
        "{err:?}"
    );
}
