//! Moving a store between backends (`db::copy`): a SQLite store filled with rows in many
//! tables, copied to a fresh PostgreSQL database and back to a fresh SQLite one, gives the
//! same digests; ids and named sequences continue after the copy; a destination that is not
//! empty, or at another schema version, is refused and left unchanged; a value that does not
//! fit the destination, or rows that differ once written (a destination trigger rewriting
//! them), roll the whole copy back.

use db::copy::{CopyReport, copy_database, table_digest};
use db::testing::PgCluster;
use db::{Connection, ErrorKind, Value, migrate, params};

use crate::schema::{as_migrations, load, migrations_dir};

/// Rows in the audit log: more than two batches of 500.
const AUDIT_ROWS: i64 = 1_200;

/// (SQLite, PostgreSQL) migration files, up to the last PostgreSQL one (or `upto`).
fn lists(upto: Option<u32>) -> (Vec<(u32, String, String)>, Vec<(u32, String, String)>) {
    let pg: Vec<_> = load(&migrations_dir().join("postgres"));
    let last = upto.unwrap_or_else(|| pg.last().map_or(0, |m| m.0));
    let pg = pg.into_iter().filter(|m| m.0 <= last).collect();
    let sqlite = load(&migrations_dir().join("sqlite"))
        .into_iter()
        .filter(|m| m.0 <= last)
        .collect();
    (sqlite, pg)
}

fn sqlite_store(dir: &std::path::Path, name: &str, upto: Option<u32>) -> Connection {
    let conn = Connection::open_sqlite(&dir.join(name)).unwrap();
    migrate(&conn, &as_migrations(&lists(upto).0)).unwrap();
    conn
}

fn pg_store(upto: Option<u32>) -> Connection {
    let conn = Connection::connect_postgres(&PgCluster::shared().fresh_db()).unwrap();
    migrate(&conn, &as_migrations(&lists(upto).1)).unwrap();
    conn
}

fn bytes(seed: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| seed.wrapping_add(i as u8)).collect()
}

/// Rows in most tables, written directly: explicit ids with gaps, a deleted user (so
/// SQLite's AUTOINCREMENT counter is above the largest id), NULLs, non-ASCII text, text keys
/// whose byte order matters, extreme integers, and a named sequence.
fn fill(c: &Connection) {
    c.execute(
        "INSERT INTO store_meta (id, store_id, created_at) VALUES (1, ?1, 1700000000)",
        [bytes(1, 16)],
    )
    .unwrap();
    for (id, cert) in [
        (1, None),
        (2, Some(bytes(9, 300))),
        (3, None),
        (7, Some(bytes(7, 10))),
    ] {
        c.execute(
            "INSERT INTO escrowed_keys (id, owner, usage, created_at, nonce, ciphertext, certificate)
             VALUES (?1, ?2, 'encryption', ?3, ?4, ?5, ?6)",
            params![
                id,
                format!("owner{id}@x.example"),
                1_700_000_000 + id,
                bytes(id as u8, 12),
                bytes(100 + id as u8, 48),
                cert
            ],
        )
        .unwrap();
    }
    c.execute(
        "INSERT INTO ca (id, certificate, escrowed_key_id, created_at) VALUES (1, ?1, 1, 5)",
        [bytes(3, 900)],
    )
    .unwrap();
    for (name, email) in [
        ("Ann", "ann@x.example"),
        ("Zoë Ünal", "zoe@x.example"),
        ("李雷", "li@x.example"),
        ("Gone", "gone@x.example"),
    ] {
        c.execute(
            "INSERT INTO users (email, name, capabilities, status, created_at, email_key,
                                given_name, surname)
             VALUES (?1, ?2, 'aes256,aes128', 'active', 1700000000, ?1, ?3, NULL)",
            params![email, name, (name == "Ann").then_some("Ann")],
        )
        .unwrap();
    }
    // The last user's id is never handed out again.
    c.execute("DELETE FROM users WHERE email = 'gone@x.example'", [])
        .unwrap();
    for (id, name, removed) in [(1, "root", None), (2, "officer1", Some(1_700_000_500))] {
        c.execute(
            "INSERT INTO admins (id, name, role, password_hash, created_at, removed_at, totp_secret)
             VALUES (?1, ?2, 'administrator', '$argon2id$v=19$...', 1, ?3, ?4)",
            params![id, name, removed, (id == 1).then(|| bytes(5, 20))],
        )
        .unwrap();
    }
    c.execute(
        "INSERT INTO sessions (token_hash, admin_id, created_at, expires_at, last_used_at)
         VALUES (?1, 1, 1, 2, NULL)",
        [bytes(0xf0, 32)],
    )
    .unwrap();
    // Serials sorted bytewise differ from numeric order: "1" < "a0" < "ff" < "ff0".
    for (serial, user, key) in [
        ("ff0", Some(1), Some(2)),
        ("1", Some(2), None),
        ("a0", None, None),
        ("ff", Some(3), Some(7)),
    ] {
        c.execute(
            "INSERT INTO certificates (serial, user_id, kind, der, not_before, not_after,
                                       escrowed_key_id, issued_at)
             VALUES (?1, ?2, 'encryption', ?3, -86400, 253402300799, ?4, 10)",
            params![serial, user, bytes(serial.len() as u8, 700), key],
        )
        .unwrap();
    }
    c.execute(
        "INSERT INTO revocations (serial, reason, revoked_at, crl_number) VALUES ('ff', 'keyCompromise', 11, 3)",
        [],
    )
    .unwrap();
    c.execute(
        "INSERT INTO crl_state (id, number, delta_number, this_update, next_update, due,
                                crl_sha256, entries)
         VALUES (1, 3, 4, 100, 200, 0, ?1, 1)",
        [bytes(8, 32)],
    )
    .unwrap();
    let tx = c.transaction().unwrap();
    let mut prev = vec![0u8; 32];
    for seq in 1..=AUDIT_ROWS {
        let hash = bytes(seq as u8, 32);
        tx.execute(
            "INSERT INTO audit_log (seq, at, actor, action, target, outcome, detail, prev_hash, hash)
             VALUES (?1, ?2, 'root', 'user.add', ?3, 'ok', '', ?4, ?5)",
            params![seq, 1_700_000_000 + seq, format!("user{seq}"), prev, hash.clone()],
        )
        .unwrap();
        prev = hash;
    }
    tx.commit().unwrap();
    c.execute(
        "INSERT INTO audit_checkpoints (seq, hash, signature, signed_at) VALUES (1200, ?1, ?2, 9)",
        params![bytes(4, 32), bytes(6, 256)],
    )
    .unwrap();
    c.execute(
        "INSERT INTO settings (key, value) VALUES ('crl.interval', '3600'), ('name', 'Ünïcode ✓')",
        [],
    )
    .unwrap();
    c.execute(
        "INSERT INTO signin_failures (hour, failures) VALUES (-3600, ?1), (0, 1)",
        [i64::MAX],
    )
    .unwrap();
    c.execute(
        "INSERT INTO approval_requests (id, operation, target, requested_by, status, created_at,
                                        expires_at, opener_id)
         VALUES (4, 'user.remove', 'ann@x.example', 'root', 'pending', 1, 2, 1)",
        [],
    )
    .unwrap();
    c.execute(
        "INSERT INTO admin_approvals (request_id, admin_id, approved_at) VALUES (4, 1, 3)",
        [],
    )
    .unwrap();
    c.execute(
        "INSERT INTO recovery_agents (id, name, public_key, added_at, added_by)
         VALUES (1, 'agent one', ?1, 1, 'root'), (2, 'agent two', ?2, 1, 'root')",
        params![bytes(1, 32), bytes(2, 32)],
    )
    .unwrap();
    c.execute(
        "INSERT INTO split_keys (key_id, threshold, split_at) VALUES (2, 2, 5)",
        [],
    )
    .unwrap();
    for agent in [1, 2] {
        c.execute(
            "INSERT INTO key_shares (key_id, agent_id, nonce, ciphertext) VALUES (2, ?1, ?2, ?3)",
            params![agent, bytes(agent as u8, 12), bytes(agent as u8, 40)],
        )
        .unwrap();
    }
    c.create_sequence("crl_number", 1).unwrap();
    for _ in 0..3 {
        c.nextval("crl_number").unwrap();
    }
}

fn count(c: &Connection, table: &str) -> i64 {
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn names(c: &Connection) -> Vec<(i64, String)> {
    c.query_map("SELECT id, name FROM users ORDER BY id", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .unwrap()
}

fn sqlite_counters(c: &Connection) -> Vec<(String, i64)> {
    c.query_map(
        "SELECT name, seq FROM sqlite_sequence ORDER BY name",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

fn position(report: &CopyReport, table: &str) -> usize {
    report
        .tables
        .iter()
        .position(|t| t.0 == table)
        .unwrap_or_else(|| panic!("{table} not copied"))
}

#[test]
fn sqlite_to_postgres_and_back_is_identical_and_ids_continue() {
    let dir = tempfile::tempdir().unwrap();
    let src = sqlite_store(dir.path(), "src.db", None);
    fill(&src);
    let pg = pg_store(None);

    let mut seen: Vec<(String, u64)> = Vec::new();
    let there = copy_database(&src, &pg, |t, n| seen.push((t.to_owned(), n))).unwrap();
    assert_eq!(
        there.skipped,
        ["crl_blobs"],
        "PostgreSQL-only tables are listed"
    );
    // Referenced tables first.
    for (before, after) in [
        ("escrowed_keys", "certificates"),
        ("users", "certificates"),
        ("certificates", "revocations"),
        ("approval_requests", "admin_approvals"),
        ("admins", "admin_approvals"),
        ("split_keys", "key_shares"),
        ("recovery_agents", "key_shares"),
    ] {
        assert!(
            position(&there, before) < position(&there, after),
            "{before} < {after}"
        );
    }
    assert!(!there.tables.iter().any(|t| t.0 == "schema_migrations"));
    // Batches of 500, each reported.
    let audit: Vec<u64> = seen
        .iter()
        .filter(|(t, _)| t == "audit_log")
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(audit, [500, 1000, 1200]);
    // Every table's count and digest, read again on each side, are the report's.
    for (table, rows, digest) in &there.tables {
        assert_eq!(
            table_digest(&src, table).unwrap(),
            (*rows, *digest),
            "{table}"
        );
        assert_eq!(
            table_digest(&pg, table).unwrap(),
            (*rows, *digest),
            "{table}"
        );
        assert_eq!(count(&pg, table), *rows as i64, "{table}");
    }
    let audit_rows = there.tables.iter().find(|t| t.0 == "audit_log").unwrap().1;
    assert_eq!(audit_rows, AUDIT_ROWS as u64);
    assert_eq!(there.sequences, [("crl_number".to_owned(), 4)]);
    assert!(
        there.counters.contains(&("users.id".to_owned(), 4)),
        "{:?}",
        there.counters
    );

    let back = sqlite_store(dir.path(), "back.db", None);
    let again = copy_database(&pg, &back, |_, _| {}).unwrap();
    assert_eq!(again.tables, there.tables, "identical after the round trip");
    assert_eq!(again.skipped, ["crl_blobs"]);
    assert_eq!(again.sequences, there.sequences);
    assert_eq!(names(&back), names(&src));
    // AUTOINCREMENT counters as the source's (users: 4, above the largest id left).
    assert_eq!(sqlite_counters(&back), sqlite_counters(&src));
    assert!(sqlite_counters(&src).contains(&("users".to_owned(), 4)));
    assert_eq!(names(&pg), names(&src));

    // Ids continue above every id handed out (4 was deleted: never again), on both.
    for conn in [&pg, &back] {
        let id: i64 = conn
            .query_row(
                "INSERT INTO users (email, name, capabilities, status, created_at, email_key)
                 VALUES ('new@x.example', 'New', 'aes256', 'active', 1, 'new@x.example')
                 RETURNING id",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(id, 5, "{conn:?}");
        let key: i64 = conn
            .query_row(
                "INSERT INTO escrowed_keys (owner, usage, created_at, nonce, ciphertext)
                 VALUES ('x', 'signing', 1, ?1, ?2) RETURNING id",
                params![bytes(0, 12), bytes(0, 32)],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(key, 8, "{conn:?}");
        // CRL numbers continue.
        assert_eq!(conn.nextval("crl_number").unwrap(), 4, "{conn:?}");
    }
    // The append-only triggers still hold on the copy.
    let e = pg.execute("DELETE FROM audit_log", []).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Constraint, "{e}");
    // The source was only read.
    assert_eq!(count(&src, "users"), 3);
}

#[test]
fn a_destination_with_rows_is_refused_and_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let src = sqlite_store(dir.path(), "src.db", None);
    fill(&src);

    let pg = pg_store(None);
    pg.execute("INSERT INTO settings (key, value) VALUES ('x', 'y')", [])
        .unwrap();
    let e = copy_database(&src, &pg, |_, _| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Misuse, "{e}");
    assert!(e.message().contains("table settings holds rows"), "{e}");
    assert_eq!(count(&pg, "settings"), 1);
    assert_eq!(count(&pg, "users"), 0);
    assert_eq!(count(&pg, "audit_log"), 0);

    // A table only PostgreSQL has counts too.
    let pg = pg_store(None);
    pg.execute(
        "INSERT INTO crl_blobs (kind, number, der) VALUES ('full', 1, ?1)",
        [bytes(0, 10)],
    )
    .unwrap();
    let e = copy_database(&src, &pg, |_, _| {}).unwrap_err();
    assert!(e.message().contains("table crl_blobs holds rows"), "{e}");
    assert_eq!(count(&pg, "escrowed_keys"), 0);

    // So does a named sequence, and a SQLite destination.
    let back = sqlite_store(dir.path(), "back.db", None);
    back.create_sequence("crl_number", 1).unwrap();
    let e = copy_database(&src, &back, |_, _| {}).unwrap_err();
    assert!(e.message().contains("sequence crl_number"), "{e}");
    assert_eq!(count(&back, "users"), 0);
}

#[test]
fn a_schema_version_mismatch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, pg_list) = lists(None);
    let last = pg_list.last().map_or(0, |m| m.0);
    let src = sqlite_store(dir.path(), "src.db", Some(last - 1));
    src.execute("INSERT INTO settings (key, value) VALUES ('a', 'b')", [])
        .unwrap();
    let pg = pg_store(None);
    let e = copy_database(&src, &pg, |_, _| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Misuse, "{e}");
    assert!(
        e.message().contains(&format!(
            "source version {}, destination version {last}",
            last - 1
        )),
        "{e}"
    );
    assert_eq!(count(&pg, "settings"), 0);

    // A database that was never migrated is no store.
    let bare = Connection::open_sqlite(&dir.path().join("bare.db")).unwrap();
    let e = copy_database(&bare, &pg, |_, _| {}).unwrap_err();
    assert!(e.message().contains("no schema_migrations"), "{e}");
}

#[test]
fn a_value_that_does_not_fit_rolls_the_whole_copy_back() {
    let dir = tempfile::tempdir().unwrap();
    let src = sqlite_store(dir.path(), "src.db", None);
    fill(&src);
    // SQLite keeps bytes in a TEXT column; PostgreSQL's text refuses them.
    src.execute(
        "INSERT INTO settings (key, value) VALUES ('bytes', ?1)",
        [Value::Blob(vec![0xff, 0x00])],
    )
    .unwrap();
    let pg = pg_store(None);
    let e = copy_database(&src, &pg, |_, _| {}).unwrap_err();
    assert!(e.message().contains("copying table settings"), "{e}");
    // Tables copied before it were rolled back with it.
    for table in ["audit_log", "escrowed_keys", "users", "settings"] {
        assert_eq!(count(&pg, table), 0, "{table}");
    }
    let sequences: i64 = pg
        .query_row(
            "SELECT count(*) FROM pg_class WHERE relkind = 'S' AND relname = 'crl_number'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sequences, 0);
}

#[test]
fn rows_that_differ_after_the_copy_roll_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let src = sqlite_store(dir.path(), "src.db", None);
    fill(&src);
    // A destination whose trigger changes what was written: the verification sees it.
    let dst = sqlite_store(dir.path(), "dst.db", None);
    dst.execute_batch(
        "CREATE TRIGGER settings_rewrite AFTER INSERT ON settings
         BEGIN UPDATE settings SET value = 'changed' WHERE key = NEW.key; END",
    )
    .unwrap();
    let before = sqlite_counters(&dst);
    let e = copy_database(&src, &dst, |_, _| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Type, "{e}");
    assert!(
        e.message()
            .contains("table settings differs after the copy"),
        "{e}"
    );
    for table in ["audit_log", "escrowed_keys", "users", "settings"] {
        assert_eq!(count(&dst, table), 0, "{table}");
    }
    assert_eq!(
        sqlite_counters(&dst),
        before,
        "the id counters are unchanged"
    );
}
