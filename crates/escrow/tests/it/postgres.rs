//! What only a store on PostgreSQL has: creating one in a database (refusing a database that
//! holds a store, other tables, or another collation), finding no store, the location without
//! a password, losing the server and healing, two nodes escrowing on one database at once, and
//! the integrity check through `amcheck`.

use std::collections::BTreeSet;

use db::testing::PgCluster;
use db::{Backend, Connection};
use escrow::{
    AMCHECK_MISSING, CheckDepth, Error, InitOptions, KeyFileTargets, KeyId, Password, StorageFault,
    Store, check_store_integrity,
};

use crate::common::{
    CHEAP, Fixture, PASSWORD, init_on, new_key, options, random_blob, snapshot_of,
};

fn password_only() -> InitOptions {
    InitOptions {
        password: Some(Password::new(PASSWORD)),
        key_file: None,
        argon2: CHEAP,
    }
}

fn tables(conn: &Connection) -> Vec<String> {
    conn.query_map(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() ORDER BY 1",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_store_in_a_database_keeps_its_local_files_in_the_data_dir_and_reopens() {
    let (fx, mut store) = init_on(Backend::Postgres);
    assert_eq!(store.store().backend(), Backend::Postgres);
    let location = store.store().location();
    let cfg = fx.pg.as_ref().unwrap();
    assert_eq!(
        location,
        format!("postgres://postgres@127.0.0.1:{}/{}", cfg.port, cfg.dbname)
    );
    let password = cfg.password().unwrap().expose().to_owned();
    assert!(!location.contains(&password));
    assert!(!format!("{:?} {:?}", store, store.store()).contains(&password));
    // The data directory is private and holds no database file.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&fx.data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    assert!(!fx.data.join(escrow::DB_FILE_NAME).exists());
    assert_eq!(store.store().data_dir(), fx.data);

    let id = store
        .escrow(&new_key("alice", &random_blob(300), 1))
        .unwrap();
    let store_id = store.store().store_id();
    drop(store);
    let locked = fx.open().unwrap();
    assert_eq!(locked.store_id(), store_id);
    assert_eq!(
        locked.schema_version().unwrap(),
        escrow::schema_version_supported_on(Backend::Postgres)
    );
    let unlocked = locked.unlock_with_key_file(&fx.key_file).unwrap();
    assert_eq!(unlocked.key(id).unwrap().unwrap().info.owner, "alice");
    // The unlocked store has a connection of its own to the same database.
    assert_eq!(unlocked.store().location(), location);
}

#[test]
fn init_database_refuses_a_database_holding_a_store_and_changes_nothing() {
    let (fx, store) = init_on(Backend::Postgres);
    drop(store);
    let before = fx.snapshot();
    let key_file_before = std::fs::read(&fx.key_file).unwrap();
    let other_dir = fx.path("node2");
    let new_key_file = fx.path("node2.key");
    let err = Store::init_database(
        fx.pg.as_ref().unwrap(),
        &other_dir,
        &InitOptions {
            password: Some(Password::new("another")),
            key_file: Some(KeyFileTargets {
                path: new_key_file.clone(),
                copy: None,
            }),
            argon2: CHEAP,
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::DatabaseUnsuitable { .. }), "{err:?}");
    assert_eq!(err.code(), "ESCROW-026");
    assert!(
        err.to_string().contains("already holds an escrow store"),
        "{err}"
    );
    assert_eq!(fx.snapshot(), before);
    assert_eq!(std::fs::read(&fx.key_file).unwrap(), key_file_before);
    assert!(!new_key_file.exists());
    assert!(!other_dir.exists());
}

#[test]
fn init_database_refuses_another_programs_tables_and_a_collation_that_is_not_c() {
    let cluster = PgCluster::shared();
    // Another program's table.
    let cfg = cluster.fresh_db();
    let conn = Connection::connect_postgres(&cfg).unwrap();
    conn.execute_batch("CREATE TABLE invoices (n BIGINT)")
        .unwrap();
    let fx = Fixture::empty(Backend::Sqlite);
    let err = Store::init_database(&cfg, &fx.data, &options(&fx)).unwrap_err();
    assert!(matches!(err, Error::DatabaseUnsuitable { .. }), "{err:?}");
    assert!(err.to_string().contains("invoices"), "{err}");
    assert_eq!(tables(&conn), ["invoices"], "nothing was migrated into it");
    assert!(!fx.key_file.exists() && !fx.key_file_copy.exists());

    // A database with another collation: the message says how to make a right one.
    let name = format!("{}_en", cfg.dbname);
    cluster.admin(&format!(
        "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' \
         LC_CTYPE 'C.UTF-8'"
    ));
    let other = cluster.config(&name);
    let err = Store::init_database(&other, &fx.data, &options(&fx)).unwrap_err();
    assert!(matches!(err, Error::DatabaseUnsuitable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("C.UTF-8")
            && msg.contains(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' \
                 LC_CTYPE 'C'"
            )),
        "{msg}"
    );
    assert!(tables(&Connection::connect_postgres(&other).unwrap()).is_empty());

    // A database an earlier init migrated but never finished (its key file could not be
    // written): nothing of it is kept but the schema, and a second init succeeds.
    let cfg = cluster.fresh_db();
    let unwritable = InitOptions {
        password: None,
        key_file: Some(KeyFileTargets {
            path: fx.path("no-such-dir/escrow.key"),
            copy: None,
        }),
        argon2: CHEAP,
    };
    let err = Store::init_database(&cfg, &fx.path("d1"), &unwritable).unwrap_err();
    assert_eq!(err.code(), "ESCROW-016", "{err:?}");
    let conn = Connection::connect_postgres(&cfg).unwrap();
    assert!(tables(&conn).contains(&"store_meta".to_owned()));
    let rows: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM store_meta) + (SELECT count(*) FROM unlock_methods)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0);
    // Rows in any of our tables, though, are not a fresh database.
    conn.execute(
        "INSERT INTO recovery_agents (name, public_key, added_at, added_by)
         VALUES ('a', ?1, 1, 'test')",
        [vec![1u8; 32]],
    )
    .unwrap();
    let err = Store::init_database(&cfg, &fx.path("d1"), &password_only()).unwrap_err();
    assert_eq!(err.code(), "ESCROW-026", "{err:?}");
    assert!(
        err.to_string().contains("holds rows in recovery_agents"),
        "{err}"
    );
    conn.execute_batch("DELETE FROM recovery_agents").unwrap();
    let store = Store::init_database(&cfg, &fx.path("d1"), &password_only()).unwrap();
    assert_eq!(store.unlock_methods().unwrap().len(), 1);
}

#[test]
fn open_database_without_a_store_is_no_store_and_creates_nothing() {
    let cfg = PgCluster::shared().fresh_db();
    let tmp = tempfile::tempdir().unwrap();
    let err = Store::open_database(&cfg, tmp.path()).unwrap_err();
    assert!(matches!(err, Error::NoStore { .. }), "{err:?}");
    assert!(err.to_string().contains(&cfg.to_string()), "{err}");
    assert!(tables(&Connection::connect_postgres(&cfg).unwrap()).is_empty());
}

#[test]
fn a_lost_server_is_unreachable_changes_nothing_and_heal_reconnects() {
    let cluster = PgCluster::start();
    let fx = Fixture {
        pg: Some(cluster.fresh_db()),
        ..Fixture::empty(Backend::Sqlite)
    };
    let mut store = fx.create(&options(&fx)).unwrap();
    let der = random_blob(400);
    let first = store.escrow(&new_key("alice", &der, 1)).unwrap();
    assert!(store.heal().unwrap(), "a live connection needs no healing");
    let before = snapshot_of(&fx.raw());

    cluster.stop();
    let err = store
        .escrow(&new_key("bob", &random_blob(400), 2))
        .unwrap_err();
    assert!(
        matches!(err, Error::Storage(StorageFault::Unreachable)),
        "{err:?}"
    );
    assert_eq!(err.code(), "ESCROW-025");
    let err = store.keys_of("alice").unwrap_err();
    assert_eq!(err.code(), "ESCROW-025", "{err:?}");
    // Healing while the server is down gives up after about 2 s.
    let started = std::time::Instant::now();
    assert!(!store.heal().unwrap());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // A new node cannot open it either.
    assert_eq!(fx.open().unwrap_err().code(), "ESCROW-025");

    cluster.restart();
    assert!(store.heal().unwrap());
    assert_eq!(
        snapshot_of(&fx.raw()),
        before,
        "the failed escrow left nothing"
    );
    let keys = store.keys_of("alice").unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].info.id, first);
    assert_eq!(keys[0].private_key_der.expose(), &der[..]);
    let second = store.escrow(&new_key("bob", &random_blob(400), 3)).unwrap();
    assert!(second > first);
    assert_eq!(store.verify_keys().unwrap().keys, 2);
}

#[test]
fn two_nodes_escrow_at_once_on_one_database() {
    const EACH: usize = 200;
    let (fx, first) = init_on(Backend::Postgres);
    drop(first);
    let nodes: Vec<_> = (0..2).map(|_| fx.unlock()).collect();
    let ids: Vec<Vec<(KeyId, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .into_iter()
            .enumerate()
            .map(|(n, mut node)| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    for i in 0..EACH {
                        let der = random_blob(64 + i % 50);
                        let owner = format!("node{n}-user{}", i % 7);
                        let id = node.escrow(&new_key(&owner, &der, i as i64)).unwrap();
                        out.push((id, der));
                    }
                    (node, out)
                })
            })
            .collect();
        let mut all = Vec::new();
        let mut nodes = Vec::new();
        for h in handles {
            let (node, out) = h.join().unwrap();
            nodes.push(node);
            all.push(out);
        }
        // Each node reads every key the other escrowed.
        for (reader, written) in [(&nodes[0], &all[1]), (&nodes[1], &all[0])] {
            for (id, der) in written {
                assert_eq!(
                    reader.key(*id).unwrap().unwrap().private_key_der.expose(),
                    &der[..]
                );
            }
        }
        all
    });
    let distinct: BTreeSet<KeyId> = ids.iter().flatten().map(|(id, _)| *id).collect();
    assert_eq!(distinct.len(), 2 * EACH, "no id was given twice");
    let store = fx.unlock();
    assert_eq!(store.verify_keys().unwrap().keys, 2 * EACH as u64);
}

#[test]
fn the_integrity_check_runs_amcheck_where_installed_and_notes_it_otherwise() {
    let (fx, mut store) = init_on(Backend::Postgres);
    for i in 0..20 {
        store
            .escrow(&new_key(&format!("u{i}"), &random_blob(200), i))
            .unwrap();
    }
    let locked = store.lock();
    for depth in [CheckDepth::Quick, CheckDepth::Full] {
        let report = check_store_integrity(&locked, depth).unwrap();
        assert!(report.problems.is_empty(), "{report:?}");
        assert_eq!(report.notes, [AMCHECK_MISSING]);
    }
    fx.raw().execute_batch("CREATE EXTENSION amcheck").unwrap();
    for depth in [CheckDepth::Quick, CheckDepth::Full] {
        let report = check_store_integrity(&locked, depth).unwrap();
        assert!(report.problems.is_empty(), "{report:?}");
        assert!(report.notes.is_empty(), "{report:?}");
    }

    // SQLite: the file's own checks, no note.
    let (_sq, sqlite) = init_on(Backend::Sqlite);
    let report = check_store_integrity(sqlite.store(), CheckDepth::Full).unwrap();
    assert_eq!(report, escrow::IntegrityReport::default());
}

/// Digests of every table but `schema_migrations` (whose checksums differ per backend), as
/// `db::copy` computes them: equal for the same rows on either backend.
fn digests(conn: &Connection) -> Vec<(String, u64, [u8; 32])> {
    let names: Vec<String> = match conn.backend() {
        Backend::Sqlite => conn.query_map(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             AND name NOT IN ('schema_migrations', 'db_sequences') ORDER BY name",
            [],
            |r| r.get(0),
        ),
        Backend::Postgres => conn.query_map(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
               AND table_name NOT IN ('schema_migrations', 'crl_blobs') ORDER BY 1",
            [],
            |r| r.get(0),
        ),
    }
    .unwrap();
    names
        .into_iter()
        .map(|t| {
            let (n, d) = db::copy::table_digest(conn, &t).unwrap();
            (t, n, d)
        })
        .collect()
}

fn escrow_some(store: &mut escrow::UnlockedStore, n: usize) -> Vec<(KeyId, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let der = random_blob(200 + i);
            let owner = if i % 2 == 0 { "alice" } else { "bob" };
            let id = store
                .escrow(&new_key(owner, &der, 1_700_000_000 + i as i64))
                .unwrap();
            (id, der)
        })
        .collect()
}

fn assert_keys(store: &escrow::UnlockedStore, keys: &[(KeyId, Vec<u8>)]) {
    for (id, der) in keys {
        let k = store.key(*id).unwrap().expect("key kept");
        assert_eq!(k.private_key_der.expose(), &der[..], "key {id:?}");
    }
}

#[test]
fn a_backup_of_a_store_on_postgresql_is_the_same_format_and_restores_into_either_backend() {
    let (fx, mut store) = init_on(Backend::Postgres);
    let keys = escrow_some(&mut store, 12);
    // A named sequence (the CRL numbers) continues through the backup.
    let raw = fx.raw();
    raw.create_sequence("crl_number", 1).unwrap();
    for _ in 0..4 {
        raw.nextval("crl_number").unwrap();
    }
    let before = digests(&raw);
    let dest = fx.path("pg.kmsbak");
    let report = store.backup(&dest).unwrap();
    assert_eq!(
        (report.keys, report.owners, report.unlock_methods),
        (12, 2, 2)
    );
    assert_eq!(
        report.schema_version,
        escrow::schema_version_supported_on(Backend::Sqlite)
    );
    assert_eq!(report.store_id, store.store().store_id());

    // Checked as any backup: with the password and with the key file.
    let by_password =
        escrow::verify_backup(&dest, &escrow::Credential::password(PASSWORD)).unwrap();
    assert_eq!(by_password.keys, 12);
    let by_key_file =
        escrow::verify_backup(&dest, &escrow::Credential::key_file(&fx.key_file).unwrap()).unwrap();
    assert_eq!(by_key_file, by_password);
    // And by the store itself, with the master key in memory.
    let (own, _) = store.verify_own_backup(&dest, |_| ()).unwrap();
    assert_eq!(own.keys, 12);

    // Restoring over the live PostgreSQL store is refused, naming the offline way.
    let err = store
        .restore_own_backup(&dest, &fx.path("safety.kmsbak"))
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("kmsd restore"), "{err}");
    assert!(!fx.path("safety.kmsbak").exists());

    // Into SQLite: the same rows, the same keys.
    let sqlite_dir = fx.path("restored-sqlite");
    let r = escrow::restore(&dest, &escrow::Credential::password(PASSWORD), &sqlite_dir).unwrap();
    assert_eq!(r.keys, 12);
    {
        let restored = Store::open(&sqlite_dir)
            .unwrap()
            .unlock_with_password(&Password::new(PASSWORD))
            .unwrap();
        assert_eq!(restored.store().store_id(), store.store().store_id());
        assert_keys(&restored, &keys);
        assert_eq!(digests(restored.store().connection()), before);
        assert_eq!(
            restored.store().connection().nextval("crl_number").unwrap(),
            5
        );
    }

    // Into a second, empty PostgreSQL database: the same again.
    let second = PgCluster::shared().fresh_db();
    let node = fx.path("node2");
    let (r2, copied) = escrow::restore_into_database(
        &dest,
        &escrow::Credential::key_file(&fx.key_file).unwrap(),
        &second,
        &node,
    )
    .unwrap();
    assert_eq!(r2.keys, 12);
    assert!(
        copied
            .tables
            .iter()
            .any(|(t, n, _)| t == "escrowed_keys" && *n == 12)
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&node).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // The checked copy is gone.
        assert_eq!(std::fs::read_dir(&node).unwrap().count(), 0);
    }
    let restored = Store::open_database(&second, &node)
        .unwrap()
        .unlock_with_password(&Password::new(PASSWORD))
        .unwrap();
    assert_eq!(restored.store().store_id(), store.store().store_id());
    assert_keys(&restored, &keys);
    assert_eq!(digests(restored.store().connection()), before);
    assert_eq!(
        restored.store().connection().nextval("crl_number").unwrap(),
        5
    );
    // New ids continue above the restored ones.
    let mut restored = restored;
    let id = restored
        .escrow(&new_key("carol", &random_blob(99), 1_800_000_000))
        .unwrap();
    assert!(keys.iter().all(|(k, _)| k.0 < id.0), "{id:?}");

    // A database that holds a store (the one just restored) is refused before anything is
    // read, and so is a wrong secret; neither changes the database.
    let before_second = digests(&Connection::connect_postgres(&second).unwrap());
    let err = escrow::restore_into_database(
        &dest,
        &escrow::Credential::password(PASSWORD),
        &second,
        &fx.path("node3"),
    )
    .unwrap_err();
    assert_eq!(err.code(), "ESCROW-026", "{err}");
    assert!(!fx.path("node3").exists());
    let third = PgCluster::shared().fresh_db();
    let err = escrow::restore_into_database(
        &dest,
        &escrow::Credential::password("wrong"),
        &third,
        &fx.path("node4"),
    )
    .unwrap_err();
    assert_eq!(err.code(), "ESCROW-001", "{err}");
    assert!(!fx.path("node4").exists());
    assert!(matches!(
        Store::open_database(&third, &fx.path("node4")),
        Err(Error::NoStore { .. })
    ));
    assert_eq!(
        digests(&Connection::connect_postgres(&second).unwrap()),
        before_second
    );
}

#[test]
fn a_backup_of_a_store_on_postgresql_is_one_snapshot_while_another_node_escrows() {
    let (fx, mut store) = init_on(Backend::Postgres);
    escrow_some(&mut store, 5);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut other = fx.unlock();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                other
                    .escrow(&new_key("carol", &random_blob(100), 1_750_000_000))
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    let mut counts = Vec::new();
    for i in 0..3 {
        let dest = fx.path(&format!("busy-{i}.kmsbak"));
        let report = store.backup(&dest).unwrap();
        // Every key inside decrypts and the wraps match: the image is whole.
        let checked =
            escrow::verify_backup(&dest, &escrow::Credential::password(PASSWORD)).unwrap();
        assert_eq!(checked.keys, report.keys);
        counts.push(report.keys);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 0);
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert!(
        counts[0] >= 5 && counts[2] <= 5 + written,
        "{counts:?} {written}"
    );
}

#[test]
fn a_stopped_store_moves_to_postgresql_and_back_identical() {
    let (fx, mut store) = init_on(Backend::Sqlite);
    let keys = escrow_some(&mut store, 9);
    store
        .store()
        .connection()
        .create_sequence("crl_number", 7)
        .unwrap();
    let before = digests(store.store().connection());
    let store_id = store.store().store_id();

    // In use (a connection open on the file): refused at once, nothing written.
    let pg = PgCluster::shared().fresh_db();
    let err = escrow::move_to_database(&fx.data, &pg, |_, _| {}).unwrap_err();
    assert!(matches!(err, Error::Storage(StorageFault::Busy)), "{err:?}");
    assert!(matches!(
        Store::open_database(&pg, &fx.path("node")),
        Err(Error::NoStore { .. })
    ));
    drop(store);

    let report = escrow::move_to_database(&fx.data, &pg, |_, _| {}).unwrap();
    assert!(
        report.skipped.contains(&"crl_blobs".to_string()),
        "{report:?}"
    );
    assert_eq!(report.sequences, vec![("crl_number".to_string(), 7)]);
    let on_pg = Store::open_database(&pg, &fx.path("node"))
        .unwrap()
        .unlock_with_key_file(&fx.key_file)
        .unwrap();
    assert_eq!(on_pg.store().store_id(), store_id);
    assert_keys(&on_pg, &keys);
    assert_eq!(digests(on_pg.store().connection()), before);
    drop(on_pg);

    // A database holding a store is refused.
    let err = escrow::move_to_database(&fx.data, &pg, |_, _| {}).unwrap_err();
    assert_eq!(err.code(), "ESCROW-026", "{err}");

    // Back into a new SQLite store; a directory holding one is refused.
    let err = escrow::move_to_sqlite(&pg, &fx.data, |_, _| {}).unwrap_err();
    assert_eq!(err.code(), "ESCROW-007", "{err}");
    let back_dir = fx.path("back");
    escrow::move_to_sqlite(&pg, &back_dir, |_, _| {}).unwrap();
    let names: Vec<String> = std::fs::read_dir(&back_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![escrow::DB_FILE_NAME.to_string()]);
    let back = Store::open(&back_dir)
        .unwrap()
        .unlock_with_password(&Password::new(PASSWORD))
        .unwrap();
    let mode: String = back
        .store()
        .connection()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(back.store().store_id(), store_id);
    assert_keys(&back, &keys);
    assert_eq!(digests(back.store().connection()), before);
    assert_eq!(back.store().connection().nextval("crl_number").unwrap(), 7);
}

#[test]
fn two_nodes_initialising_one_database_at_once_make_one_store() {
    let cfg = PgCluster::shared().fresh_db();
    let tmp = tempfile::tempdir().unwrap();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|n| {
                let (cfg, dir) = (&cfg, tmp.path().join(format!("node{n}")));
                let key_file = tmp.path().join(format!("node{n}.key"));
                s.spawn(move || {
                    let options = InitOptions {
                        password: Some(Password::new(PASSWORD)),
                        key_file: Some(KeyFileTargets {
                            path: key_file,
                            copy: None,
                        }),
                        argon2: CHEAP,
                    };
                    Store::init_database(cfg, &dir, &options).map(|s| s.store().store_id())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let made: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(made.len(), 1, "{results:?}");
    let (n, refused) = results
        .iter()
        .enumerate()
        .find_map(|(n, r)| r.as_ref().err().map(|e| (n, e)))
        .unwrap();
    assert_eq!(refused.code(), "ESCROW-026", "{refused:?}");
    // The refused node left no key file; the store is the winner's, with its one method.
    assert!(!tmp.path().join(format!("node{n}.key")).exists());
    assert!(tmp.path().join(format!("node{}.key", 1 - n)).exists());
    let store = Store::open_database(&cfg, tmp.path()).unwrap();
    assert_eq!(&store.store_id(), made[0].as_ref().unwrap());
    assert_eq!(store.unlock_methods().unwrap().len(), 2);
}

#[test]
fn amcheck_reports_a_damaged_index_as_a_problem() {
    let cluster = PgCluster::start();
    let fx = Fixture {
        pg: Some(cluster.fresh_db()),
        ..Fixture::empty(Backend::Sqlite)
    };
    let mut store = fx.create(&options(&fx)).unwrap();
    for i in 0..20 {
        store
            .escrow(&new_key(&format!("u{i:02}"), &random_blob(200), i))
            .unwrap();
    }
    let raw = fx.raw();
    raw.execute_batch("CREATE EXTENSION amcheck").unwrap();
    let (data_dir, file): (String, String) = raw
        .query_row(
            "SELECT current_setting('data_directory'),
                    pg_relation_filepath('escrowed_keys_owner')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    drop(raw);
    drop(store);
    cluster.stop();
    // Block 0 is the metapage; block 1 the only leaf of a small index: zero it.
    let path = std::path::Path::new(&data_dir).join(file);
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() >= 2 * 8192, "{} bytes", bytes.len());
    bytes[8192..2 * 8192].fill(0);
    std::fs::write(&path, bytes).unwrap();
    cluster.restart();

    let locked = fx.open().unwrap();
    let report = check_store_integrity(&locked, CheckDepth::Quick).unwrap();
    assert!(report.notes.is_empty(), "{report:?}");
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert!(
        report.problems[0].starts_with("index escrowed_keys_owner: "),
        "{report:?}"
    );
}

/// A tmpfs of its own, unmounted when dropped (lazily: the server may still hold a file).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size_kib: u32) -> SmallDisk {
        let dir = tempfile::Builder::new()
            .prefix("escrow-small-disk-")
            .tempdir_in("/tmp")
            .unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k,mode=0700")])
            .arg("tmpfs")
            .arg(dir.path())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "this test mounts a small tmpfs for a tablespace: run the suite as root"
        );
        let disk = SmallDisk { dir };
        let run = |args: &[&str]| {
            let ok = std::process::Command::new(args[0])
                .args(&args[1..])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "{args:?}");
        };
        // The server runs as `postgres` (PgCluster does so under root).
        run(&["chown", "postgres:postgres", disk.path()]);
        disk
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    fn resize(&self, size_kib: u32) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size_kib}k")])
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remounting the tmpfs");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_under_the_database_is_its_own_error_and_changes_nothing() {
    // Dropped after the cluster (declared first): the server lets go of the files first.
    let disk = SmallDisk::mount(1024);
    let cluster = PgCluster::start();
    let fx = Fixture {
        pg: Some(cluster.fresh_db()),
        ..Fixture::empty(Backend::Sqlite)
    };
    let mut store = fx.create(&options(&fx)).unwrap();
    // The escrowed keys (and their TOAST table) on the small disk; the WAL stays on the big
    // one, so the server fails the statement (53100) instead of stopping.
    cluster.admin(&format!(
        "CREATE TABLESPACE small LOCATION '{}'",
        disk.path()
    ));
    fx.raw()
        .execute_batch("ALTER TABLE escrowed_keys SET TABLESPACE small")
        .unwrap();
    let mut kept = 0;
    let err = loop {
        match store.escrow_batch(&[
            new_key("alice", &random_blob(200), 1),
            new_key("alice", &random_blob(60 * 1024), 1),
        ]) {
            Ok(_) => kept += 2,
            Err(e) => break e,
        }
        assert!(kept < 200, "the small disk never filled");
    };
    assert!(matches!(err, Error::Storage(StorageFault::Full)), "{err:?}");
    assert_eq!(err.code(), "ESCROW-020");
    assert!(kept >= 4, "the disk filled after {kept} keys");
    let before = fx.snapshot();
    let again = store
        .escrow(&new_key("bob", &random_blob(60 * 1024), 2))
        .unwrap_err();
    assert_eq!(again.code(), "ESCROW-020", "{again:?}");
    assert_eq!(fx.snapshot(), before, "a refused escrow leaves nothing");
    assert_eq!(store.verify_keys().unwrap().keys, kept);

    // Room again: escrowing works on the same connection.
    disk.resize(64 * 1024);
    store
        .escrow(&new_key("bob", &random_blob(60 * 1024), 3))
        .unwrap();
    assert_eq!(store.verify_keys().unwrap().keys, kept + 1);
    drop(store);
    drop(cluster);
}

#[test]
fn a_read_only_database_is_its_own_error_and_changes_nothing() {
    let (fx, store) = init_on(Backend::Postgres);
    drop(store);
    let name = &fx.pg.as_ref().unwrap().dbname;
    let cluster = PgCluster::shared();
    // What a standby, or a database an operator froze, answers (25006).
    cluster.admin(&format!(
        "ALTER DATABASE {name} SET default_transaction_read_only = on"
    ));
    let before = fx.snapshot();
    let mut store = fx.unlock();
    let err = store
        .escrow(&new_key("alice", &random_blob(300), 1))
        .unwrap_err();
    assert!(
        matches!(err, Error::Storage(StorageFault::ReadOnly)),
        "{err:?}"
    );
    assert_eq!(err.code(), "ESCROW-021");
    assert_eq!(fx.snapshot(), before);
    cluster.admin(&format!(
        "ALTER DATABASE {name} RESET default_transaction_read_only"
    ));
    fx.unlock()
        .escrow(&new_key("alice", &random_blob(300), 1))
        .unwrap();
}
