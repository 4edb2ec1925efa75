//! Advisory locks and sequences across two PostgreSQL connections (two nodes).

use db::Connection;
use db::testing::PgCluster;

#[test]
fn advisory_lock_is_single_and_released_when_its_holder_dies() {
    let cfg = PgCluster::shared().fresh_db();
    let a = Connection::connect_postgres(&cfg).unwrap();
    let b = Connection::connect_postgres(&cfg).unwrap();
    const CRL_SIGNER: i64 = 0x006b_6d73_5f63_726c;
    assert!(a.try_advisory_lock(CRL_SIGNER).unwrap());
    // Held by a: refused to b, whatever b asks.
    assert!(!b.try_advisory_lock(CRL_SIGNER).unwrap());
    // Another key is free.
    assert!(b.try_advisory_lock(CRL_SIGNER + 1).unwrap());
    // b cannot release what a holds.
    assert!(!b.advisory_unlock(CRL_SIGNER).unwrap());
    // Released by a, taken by b.
    assert!(a.advisory_unlock(CRL_SIGNER).unwrap());
    assert!(b.try_advisory_lock(CRL_SIGNER).unwrap());
    assert!(!a.try_advisory_lock(CRL_SIGNER).unwrap());
    // b's node dies (its backend is killed): the lock goes with it, and a takes over.
    let b_pid: i64 = b
        .query_row("SELECT pg_backend_pid()", [], |r| r.get(0))
        .unwrap();
    let killed: bool = a
        .query_row("SELECT pg_terminate_backend(?1::int)", [b_pid], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(killed);
    // The server releases the session's locks as the backend exits.
    let mut taken = false;
    for _ in 0..100 {
        if a.try_advisory_lock(CRL_SIGNER).unwrap() {
            taken = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(taken, "the lock of a terminated session was not released");
    assert_eq!(b.ping().unwrap_err().kind(), db::ErrorKind::Unreachable);
}

#[test]
fn sequence_numbers_are_unique_across_connections() {
    let cfg = PgCluster::shared().fresh_db();
    let a = Connection::connect_postgres(&cfg).unwrap();
    let b = Connection::connect_postgres(&cfg).unwrap();
    a.create_sequence("crl_number", 1).unwrap();
    b.create_sequence("crl_number", 1).unwrap();
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.push(a.nextval("crl_number").unwrap());
        seen.push(b.nextval("crl_number").unwrap());
    }
    // A number taken inside a rolled-back transaction is not given again.
    {
        let tx = a.transaction().unwrap();
        seen.push(tx.nextval("crl_number").unwrap());
        tx.rollback().unwrap();
    }
    seen.push(b.nextval("crl_number").unwrap());
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "{seen:?}");
    assert_eq!(sorted, (1..=22).collect::<Vec<i64>>());
}

#[test]
fn nodes_migrating_an_empty_database_at_once_apply_each_migration_once() {
    let cfg = PgCluster::shared().fresh_db();
    let migrations = [
        db::Migration {
            version: 1,
            name: "0001_a.sql",
            sql: "CREATE TABLE a (id BIGINT PRIMARY KEY)",
        },
        db::Migration {
            version: 2,
            name: "0002_b.sql",
            sql: "CREATE TABLE b (id BIGINT PRIMARY KEY); INSERT INTO a (id) VALUES (1)",
        },
    ];
    let nodes: Vec<Connection> = (0..4)
        .map(|_| Connection::connect_postgres(&cfg).unwrap())
        .collect();
    let barrier = std::sync::Barrier::new(nodes.len());
    std::thread::scope(|s| {
        for conn in nodes {
            let (barrier, migrations) = (&barrier, &migrations);
            s.spawn(move || {
                barrier.wait();
                assert_eq!(db::migrate(&conn, migrations).unwrap(), 2);
            });
        }
    });
    let conn = Connection::connect_postgres(&cfg).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM a", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1, "migration 2 ran once");
}
