//! Schema migrations: recorded in a version table; a store newer than the binary is refused.

use escrow::{Error, Password, Store};

use crate::common::{PASSWORD, init, raw, snapshot};

#[test]
fn applied_migrations_are_recorded() {
    let (fx, store) = init();
    let supported = escrow::schema_version_supported();
    assert!(supported >= 1);
    assert_eq!(store.store().schema_version().unwrap(), supported);
    drop(store);
    let conn = raw(&fx.data);
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
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
    let (fx, store) = init();
    drop(store);
    let future = escrow::schema_version_supported() + 1;
    raw(&fx.data)
        .execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, '9999_future.sql', x'00')",
            [future],
        )
        .unwrap();
    let before = snapshot(&fx.data);

    let err = Store::open(&fx.data).unwrap_err();
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
    assert_eq!(
        snapshot(&fx.data),
        before,
        "a refused store is left untouched"
    );

    // Removing the future row makes it usable again.
    raw(&fx.data)
        .execute("DELETE FROM schema_migrations WHERE version = ?1", [future])
        .unwrap();
    Store::open(&fx.data)
        .unwrap()
        .unlock_with_password(&Password::new(PASSWORD))
        .unwrap();
}

#[test]
fn an_edited_landed_migration_is_refused() {
    let (fx, store) = init();
    drop(store);
    raw(&fx.data)
        .execute(
            "UPDATE schema_migrations SET checksum = x'0102' WHERE version = 1",
            [],
        )
        .unwrap();
    let err = Store::open(&fx.data).unwrap_err();
    assert!(
        matches!(err, Error::MigrationChanged { version: 1, .. }),
        "{err:?}"
    );
}
