//! Error classification on real databases: unique violations, other constraints, a
//! serialization failure, a server stopped and started again (unreachable, then reconnect),
//! refused credentials, and the migration runner's refusals. Disk full is left to the
//! conversion round (it needs a small file system of its own for the cluster).

use std::time::Duration;

use db::migrate::{Migration, check, migrate};
use db::testing::{PgCluster, both};
use db::{Backoff, Connection, ErrorKind, PgConfig, params};

#[test]
fn unique_violation_is_conflict_and_other_constraints_are_constraint() {
    both(|conn| {
        conn.execute_batch(
            "CREATE TABLE p (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE);
             CREATE TABLE c (p_id BIGINT NOT NULL REFERENCES p (id), n BIGINT CHECK (n > 0));",
        )
        .unwrap();
        conn.execute("INSERT INTO p (id, name) VALUES (1, 'a')", [])
            .unwrap();
        let e = conn
            .execute("INSERT INTO p (id, name) VALUES (2, ?1)", ["a"])
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
        assert_eq!(e.code(), "DB-007");
        let e = conn
            .execute("INSERT INTO p (id, name) VALUES (1, ?1)", ["b"])
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
        let e = conn
            .execute("INSERT INTO c (p_id, n) VALUES (?1, 1)", [99i64])
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Constraint, "{e}");
        let e = conn
            .execute("INSERT INTO c (p_id, n) VALUES (1, ?1)", [-5i64])
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Constraint, "{e}");
        let e = conn
            .execute("INSERT INTO c (p_id, n) VALUES (NULL, 1)", [])
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Constraint, "{e}");
        // Messages never carry the values bound.
        let e = conn
            .execute("INSERT INTO p (id, name) VALUES (3, ?1)", ["a"])
            .unwrap_err();
        let e2 = conn
            .execute("INSERT INTO p (id, name) VALUES (?1, 'x')", [1i64])
            .unwrap_err();
        for e in [e, e2] {
            let text = format!("{e} {e:?}");
            assert!(!text.contains("(a)") && !text.contains("=(1)"), "{text}");
        }
        // An unknown table is an SQL error.
        assert_eq!(
            conn.execute("DELETE FROM nowhere", []).unwrap_err().kind(),
            ErrorKind::Sql
        );
    });
}

#[test]
fn serialization_failure_is_retry() {
    let cfg = PgCluster::shared().fresh_db();
    let a = Connection::connect_postgres(&cfg).unwrap();
    let b = Connection::connect_postgres(&cfg).unwrap();
    a.execute_batch("CREATE TABLE duty (who TEXT NOT NULL)")
        .unwrap();
    // Write skew: each reads that nobody is on duty, then puts itself on duty.
    let ta = a.transaction_serializable().unwrap();
    let tb = b.transaction_serializable().unwrap();
    let count = |c: &Connection| -> i64 {
        c.query_row("SELECT count(*) FROM duty", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count(&ta), 0);
    assert_eq!(count(&tb), 0);
    ta.execute("INSERT INTO duty (who) VALUES (?1)", ["a"])
        .unwrap();
    let first_err = match tb.execute("INSERT INTO duty (who) VALUES (?1)", ["b"]) {
        Err(e) => {
            ta.commit().unwrap();
            drop(tb);
            e
        }
        Ok(_) => {
            ta.commit().unwrap();
            tb.commit().unwrap_err()
        }
    };
    assert_eq!(first_err.kind(), ErrorKind::Retry, "{first_err}");
    assert_eq!(first_err.sqlstate(), Some("40001"));
    // Run again, the transaction sees the other's row.
    let tb = b.transaction_serializable().unwrap();
    assert_eq!(count(&tb), 1);
    tb.commit().unwrap();
    // Read committed (the default) does not refuse the same interleaving.
    let ta = a.transaction().unwrap();
    let tb = b.transaction().unwrap();
    assert_eq!(count(&ta), 1);
    assert_eq!(count(&tb), 1);
    ta.execute("INSERT INTO duty (who) VALUES ('c')", [])
        .unwrap();
    tb.execute("INSERT INTO duty (who) VALUES ('d')", [])
        .unwrap();
    ta.commit().unwrap();
    tb.commit().unwrap();
    assert_eq!(count(&a), 3);
}

#[test]
fn server_stopped_is_unreachable_and_reconnect_waits_for_it() {
    let cluster = PgCluster::start();
    let cfg = cluster.fresh_db();
    let mut conn = Connection::connect_postgres(&cfg).unwrap();
    conn.execute_batch("CREATE TABLE kept (n BIGINT)").unwrap();
    conn.execute("INSERT INTO kept (n) VALUES (?1)", [7i64])
        .unwrap();
    cluster.stop();
    let e = conn.ping().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unreachable, "{e}");
    assert!(e.kind().is_unavailable());
    // Reconnecting while the server is down gives up after its time.
    let short = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(200),
        give_up_after: Duration::from_millis(600),
    };
    assert_eq!(
        conn.reconnect(&short).unwrap_err().kind(),
        ErrorKind::Unreachable
    );
    // A new connection cannot be made either.
    assert_eq!(
        Connection::connect_postgres(&cfg).unwrap_err().kind(),
        ErrorKind::Unreachable
    );
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(700));
            cluster.restart();
        });
        conn.reconnect(&Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            give_up_after: Duration::from_secs(30),
        })
        .unwrap();
    });
    let n: i64 = conn
        .query_row("SELECT n FROM kept", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 7);
    // A live connection is kept as it is.
    conn.reconnect(&short).unwrap();
}

#[test]
fn wrong_password_is_auth_and_not_echoed() {
    let good = PgCluster::shared().config("postgres");
    let mut bad = PgConfig::new("postgres", "127.0.0.1", good.port, "postgres");
    bad.set_password(db::Password::new("not-the-password-xyz"));
    let e = Connection::connect_postgres(&bad).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(!format!("{e} {e:?}").contains("not-the-password-xyz"));
}

#[test]
fn a_pgpass_file_supplies_the_password() {
    let cluster = PgCluster::shared();
    let admin = cluster.config("postgres");
    let dir = tempfile::tempdir().unwrap();
    let pgpass = dir.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!(
            "# test\n127.0.0.1:{}:*:postgres:{}\n",
            admin.port,
            admin.password().unwrap().expose()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cfg = db::config::parse_url(&format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        admin.port
    ))
    .unwrap();
    let file = pgpass.clone();
    cfg.resolve_password(None, &move |k| {
        (k == "PGPASSFILE").then(|| file.clone().into_os_string())
    })
    .unwrap();
    assert_eq!(cfg.password_source(), db::config::PasswordSource::Pgpass);
    Connection::connect_postgres(&cfg).unwrap().ping().unwrap();
}

const M1: Migration<'static> = Migration {
    version: 1,
    name: "0001_a.sql",
    sql: "CREATE TABLE a (id BIGINT PRIMARY KEY);",
};
const M2: Migration<'static> = Migration {
    version: 2,
    name: "0002_b.sql",
    sql: "CREATE TABLE b (id BIGINT PRIMARY KEY); INSERT INTO b (id) VALUES (1);",
};

#[test]
fn migrations_apply_once_and_refuse_newer_edited_or_failing() {
    both(|conn| {
        assert_eq!(check(conn, &[M1, M2]).unwrap(), 0);
        assert_eq!(migrate(conn, &[M1]).unwrap(), 1);
        assert_eq!(migrate(conn, &[M1, M2]).unwrap(), 2);
        assert_eq!(migrate(conn, &[M1, M2]).unwrap(), 2);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM b", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        // Newer than the binary.
        let e = migrate(conn, &[M1]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Newer, "{e}");
        assert!(e.message().contains("upgrade"), "{e}");
        // An applied migration edited.
        let edited = Migration {
            sql: "CREATE TABLE a (id BIGINT PRIMARY KEY, x TEXT);",
            ..M1
        };
        assert_eq!(
            migrate(conn, &[edited, M2]).unwrap_err().kind(),
            ErrorKind::MigrationChanged
        );
        // A failing migration leaves nothing behind.
        let bad = Migration {
            version: 3,
            name: "0003_bad.sql",
            sql: "CREATE TABLE c (id BIGINT); INSERT INTO nowhere VALUES (1);",
        };
        let e = migrate(conn, &[M1, M2, bad]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Migration, "{e}");
        assert!(e.message().contains("0003_bad.sql"), "{e}");
        assert!(conn.execute("INSERT INTO c (id) VALUES (1)", []).is_err());
        assert_eq!(check(conn, &[M1, M2, bad]).unwrap(), 2);
        // Gaps in the list are a program error.
        let gap = Migration { version: 5, ..bad };
        assert_eq!(
            migrate(conn, &[M1, M2, gap]).unwrap_err().kind(),
            ErrorKind::Misuse
        );
        let _ = params![1i64];
    });
}

#[test]
fn transact_runs_a_lost_race_again_until_every_increment_lands() {
    let cfg = PgCluster::shared().fresh_db();
    let setup = Connection::connect_postgres(&cfg).unwrap();
    setup
        .execute_batch(
            "CREATE TABLE counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL);
                        INSERT INTO counter VALUES (1, 0);",
        )
        .unwrap();
    const THREADS: i64 = 4;
    const EACH: i64 = 25;
    let retried = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let cfg = cfg.clone();
            let retried = &retried;
            s.spawn(move || {
                let conn = Connection::connect_postgres(&cfg).unwrap();
                for _ in 0..EACH {
                    let mut runs = 0;
                    conn.transact(db::Isolation::Serializable, 50, |tx| {
                        runs += 1;
                        // Read, then write what was read plus one: a lost update without
                        // SERIALIZABLE, a Retry with it.
                        let n: i64 =
                            tx.query_row("SELECT n FROM counter WHERE id = 1", [], |r| r.get(0))?;
                        tx.execute("UPDATE counter SET n = ?1 WHERE id = 1", [n + 1])?;
                        Ok(())
                    })
                    .unwrap();
                    if runs > 1 {
                        retried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let n: i64 = setup
        .query_row("SELECT n FROM counter WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, THREADS * EACH);
    eprintln!(
        "{} of {} increments ran again after a serialization failure",
        retried.into_inner(),
        THREADS * EACH
    );
    // Other errors are not retried.
    let mut runs = 0;
    let e = setup
        .transact(db::Isolation::Serializable, 5, |tx| {
            runs += 1;
            tx.execute("INSERT INTO counter VALUES (1, 0)", [])
        })
        .unwrap_err();
    assert_eq!((e.kind(), runs), (ErrorKind::Conflict, 1));
}
