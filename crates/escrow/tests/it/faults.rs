//! Storage faults on a real SQLite file: a full database, a read-only connection, a database
//! locked by another connection, damaged pages; each is its own error (never a wrong secret),
//! and a failed write changes nothing. SQLite only (each test says why), except the pass over
//! every key, and a damaged wrap, which run on both backends; PostgreSQL's own fault, the lost server, is in
//! `postgres.rs`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use escrow::{CheckDepth, Error, KeyUsage, NewKey, Password, StorageFault, Store, check_integrity};
use rusqlite::{Connection, TransactionBehavior};

use crate::common::{PASSWORD, init, random_blob};

fn key<'a>(owner: &'a str, der: &'a [u8]) -> NewKey<'a> {
    NewKey {
        owner,
        usage: KeyUsage::Encryption,
        private_key_der: der,
        certificate_der: None,
        created_at: 1,
    }
}

fn count(store: &escrow::UnlockedStore) -> usize {
    store.list().unwrap().len()
}

/// Overwrites the b-tree page type of the root page of `table` in the closed store's file
/// with an invalid one: SQLite reads the page as malformed.
fn damage_root(data: &Path, table: &str) {
    let db = data.join(escrow::DB_FILE_NAME);
    let (root, page_size): (i64, i64) = {
        let conn = Connection::open(&db).unwrap();
        let root = conn
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        let size = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        // The last connection's close checkpoints the write-ahead log into the file.
        conn.close().unwrap();
        (root, size)
    };
    assert!(
        !data.join(format!("{}-wal", escrow::DB_FILE_NAME)).exists(),
        "the store must be closed"
    );
    assert!(root > 1);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&db)
        .unwrap();
    let offset = ((root - 1) * page_size) as u64;
    let mut page_type = [0u8; 1];
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.read_exact(&mut page_type).unwrap();
    assert!(
        [0x05, 0x0d].contains(&page_type[0]),
        "{table}'s root is a table b-tree page"
    );
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&[0xff; 8]).unwrap();
    f.sync_all().unwrap();
}

// SQLite only: fills the database's own file (max_page_count); PostgreSQL's disk is the server's.
#[test]
fn a_full_database_is_its_own_error_and_changes_nothing() {
    let (_fx, mut store) = init();
    let small = random_blob(100);
    store.escrow(&key("alice", &small)).unwrap();
    let pages: i64 = store
        .connection_mut()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    // SQLite's own limit on the file's size answers as a full disk does (SQLITE_FULL).
    store
        .connection_mut()
        .as_sqlite()
        .unwrap()
        .pragma_update(None, "max_page_count", pages)
        .unwrap();
    let big = random_blob(60 * 1024);
    let e = store
        .escrow_batch(&[key("bob", &small), key("bob", &big)])
        .unwrap_err();
    assert!(matches!(e, Error::Storage(StorageFault::Full)), "{e:?}");
    assert_eq!(e.code(), "ESCROW-020");
    assert!(e.to_string().contains("full"), "{e}");
    assert_eq!(count(&store), 1, "neither key of the batch was kept");
    store
        .connection_mut()
        .as_sqlite()
        .unwrap()
        .pragma_update(None, "max_page_count", 1_000_000_000i64)
        .unwrap();
    store
        .escrow_batch(&[key("bob", &small), key("bob", &big)])
        .unwrap();
    assert_eq!(count(&store), 3);
}

// SQLite only: a read-only file and a file lock held by another connection.
#[test]
fn a_read_only_or_locked_database_is_its_own_error() {
    let (fx, mut store) = init();
    let der = random_blob(100);
    store
        .connection_mut()
        .as_sqlite()
        .unwrap()
        .pragma_update(None, "query_only", true)
        .unwrap();
    let e = store.escrow(&key("alice", &der)).unwrap_err();
    assert!(matches!(e, Error::Storage(StorageFault::ReadOnly)), "{e:?}");
    assert_eq!(e.code(), "ESCROW-021");
    store
        .connection_mut()
        .as_sqlite()
        .unwrap()
        .pragma_update(None, "query_only", false)
        .unwrap();

    let mut other = Connection::open(fx.data.join(escrow::DB_FILE_NAME)).unwrap();
    let holder = other
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    store
        .connection_mut()
        .as_sqlite()
        .unwrap()
        .busy_timeout(Duration::from_millis(50))
        .unwrap();
    let e = store.escrow(&key("alice", &der)).unwrap_err();
    assert!(matches!(e, Error::Storage(StorageFault::Busy)), "{e:?}");
    assert_eq!(e.code(), "ESCROW-022");
    holder.rollback().unwrap();
    store.escrow(&key("alice", &der)).unwrap();
    assert_eq!(count(&store), 1);
}

// SQLite only: damages pages of the database file.
#[test]
fn a_damaged_key_table_is_found_by_the_checks_and_is_not_a_wrong_secret() {
    let (fx, mut store) = init();
    for owner in ["alice", "bob"] {
        store.escrow(&key(owner, &random_blob(200))).unwrap();
    }
    assert_eq!(
        check_integrity(&fx.data, CheckDepth::Full).unwrap(),
        Vec::<String>::new()
    );
    drop(store);
    damage_root(&fx.data, "escrowed_keys");

    for depth in [CheckDepth::Quick, CheckDepth::Full] {
        let problems = check_integrity(&fx.data, depth).unwrap();
        assert!(!problems.is_empty(), "{depth:?} finds the damage");
    }
    let locked = Store::open(&fx.data).unwrap();
    let store = locked
        .unlock_with_password(&Password::new(PASSWORD))
        .unwrap();
    let e = store.keys_of("alice").unwrap_err();
    assert!(matches!(e, Error::Storage(StorageFault::Damaged)), "{e:?}");
    assert_eq!(e.code(), "ESCROW-023");
    assert!(e.to_string().contains("restore"), "{e}");
    assert!(store.check_keys().is_err());
}

// SQLite only: damages pages of the database file.
#[test]
fn a_damaged_unlock_method_table_is_damage_and_a_wrong_password_stays_wrong() {
    let (fx, store) = init();
    drop(store);
    let locked = Store::open(&fx.data).unwrap();
    assert!(matches!(
        locked.unlock_with_password(&Password::new("not the password")),
        Err(Error::BadSecret)
    ));
    drop(locked);
    damage_root(&fx.data, "unlock_methods");
    let locked = Store::open(&fx.data).unwrap();
    for e in [
        locked
            .unlock_with_password(&Password::new(PASSWORD))
            .unwrap_err(),
        locked.unlock_with_key_file(&fx.key_file).unwrap_err(),
    ] {
        assert!(matches!(e, Error::Storage(StorageFault::Damaged)), "{e:?}");
    }
}

#[test]
fn a_key_files_damaged_wrap_is_damage_not_a_wrong_key_file() {
    crate::common::both(damaged_wrap_on);
}

fn damaged_wrap_on(backend: db::Backend) {
    let (fx, store) = crate::common::init_on(backend);
    drop(store);
    {
        let conn = fx.raw();
        let mut wrapped: Vec<u8> = conn
            .query_row(
                "SELECT wrapped_key FROM unlock_methods WHERE kind = 'key_file'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        wrapped[3] ^= 0x40;
        conn.execute(
            "UPDATE unlock_methods SET wrapped_key = ?1 WHERE kind = 'key_file'",
            [wrapped],
        )
        .unwrap();
    }
    let locked = fx.open().unwrap();
    let e = locked.unlock_with_key_file(&fx.key_file).unwrap_err();
    assert!(matches!(e, Error::Storage(StorageFault::Damaged)), "{e:?}");
    // The password's own wrap is intact.
    locked
        .unlock_with_password(&Password::new(PASSWORD))
        .unwrap();
}

#[test]
fn check_keys_lists_every_key_that_fails_and_counts_the_rest() {
    crate::common::both(check_keys_on);
}

fn check_keys_on(backend: db::Backend) {
    let (fx, mut store) = crate::common::init_on(backend);
    let ids: Vec<_> = ["alice", "alice", "bob", "carol"]
        .iter()
        .map(|o| store.escrow(&key(o, &random_blob(150))).unwrap())
        .collect();
    drop(store);
    {
        let conn = fx.raw();
        for id in [ids[1], ids[3]] {
            let len: i64 = conn
                .query_row(
                    "SELECT length(ciphertext) FROM escrowed_keys WHERE id = ?1",
                    [id.0],
                    |r| r.get(0),
                )
                .unwrap();
            conn.execute(
                "UPDATE escrowed_keys SET ciphertext = ?2 WHERE id = ?1",
                db::params![id.0, vec![0u8; len as usize]],
            )
            .unwrap();
        }
    }
    let store = fx.unlock();
    let check = store.check_keys().unwrap();
    assert_eq!(check.failed, vec![ids[1], ids[3]]);
    assert_eq!((check.sound.keys, check.sound.owners), (2, 2));
}
