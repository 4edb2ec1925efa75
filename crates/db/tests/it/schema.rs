//! The schema comparison: migrations/sqlite/NNNN_*.sql applied to a fresh SQLite database and
//! migrations/postgres/NNNN_*.sql to a fresh PostgreSQL database give the same tables,
//! columns (name, nullability, integer/text/blob class), primary keys, unique constraints,
//! indexes, foreign keys and triggers, modulo type names. SQLite's migrations are compared
//! up to the last PostgreSQL one: each new SQLite migration needs its PostgreSQL twin
//! before the conversion (see docs/STORAGE.md). Tables that exist on PostgreSQL only are
//! named in [`POSTGRES_ONLY`], each with its reason; any other difference fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use db::migrate::{Migration, migrate};
use db::testing::{PgCluster, both};
use db::{Backend, Connection, ErrorKind};

/// Tables that only the PostgreSQL schema has, and why. Nothing else may differ.
const POSTGRES_ONLY: &[&str] = &[
    // 0014: the published CRLs' bytes. SQLite keeps them in files beside the store
    // (`DATA_DIR/crl/`, crates/authority/src/crl_blobs.rs); the nodes on one PostgreSQL
    // database share no directory, so there they are rows.
    "crl_blobs",
];

pub(crate) fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations")
}

/// (version, file name, SQL) of the `NNNN_*.sql` files in `dir`, in order.
pub(crate) fn load(dir: &Path) -> Vec<(u32, String, String)> {
    let mut out: Vec<(u32, String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = name.strip_suffix(".sql")?.split('_').next()?.parse().ok()?;
            Some((version, name, std::fs::read_to_string(e.path()).ok()?))
        })
        .collect();
    out.sort();
    out
}

pub(crate) fn as_migrations(list: &[(u32, String, String)]) -> Vec<Migration<'_>> {
    list.iter()
        .map(|(version, name, sql)| Migration {
            version: *version,
            name,
            sql,
        })
        .collect()
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    /// (name, not null, class) in column order.
    columns: Vec<(String, bool, String)>,
    primary_key: Vec<String>,
    /// Unique constraints (not named indexes): their columns.
    uniques: BTreeSet<Vec<String>>,
    /// Named indexes: name -> (unique, partial, columns).
    indexes: BTreeMap<String, (bool, bool, Vec<String>)>,
    /// (columns, referenced table, referenced columns).
    foreign_keys: BTreeSet<(Vec<String>, String, Vec<String>)>,
    triggers: BTreeSet<String>,
}

fn split(list: Option<String>) -> Vec<String> {
    list.unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn sqlite_class(declared: &str) -> String {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        "integer".into()
    } else if t.contains("TEXT") || t.contains("CHAR") {
        "text".into()
    } else if t.contains("BLOB") {
        "blob".into()
    } else {
        format!("sqlite {declared}")
    }
}

fn postgres_class(ty: &str) -> String {
    match ty {
        // Every integer is BIGINT: INTEGER or SMALLINT would not hold what SQLite holds.
        "bigint" => "integer".into(),
        "text" => "text".into(),
        "bytea" => "blob".into(),
        other => format!("postgres {other}"),
    }
}

fn describe_sqlite(conn: &Connection) -> BTreeMap<String, Table> {
    let tables: Vec<String> = conn
        .query_map(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut out = BTreeMap::new();
    for t in tables {
        let mut table = Table::default();
        let cols: Vec<(String, bool, String, i64)> = conn
            .query_map(
                "SELECT name, \"notnull\", type, pk FROM pragma_table_info(?1) ORDER BY cid",
                [&t],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        let mut pk: Vec<(i64, String)> = cols
            .iter()
            .filter(|c| c.3 > 0)
            .map(|c| (c.3, c.0.clone()))
            .collect();
        pk.sort();
        table.primary_key = pk.into_iter().map(|(_, n)| n).collect();
        table.columns = cols
            .into_iter()
            .map(|(name, notnull, ty, pk)| (name, notnull || pk > 0, sqlite_class(&ty)))
            .collect();
        let indexes: Vec<(String, bool, String, bool)> = conn
            .query_map(
                "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1)",
                [&t],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        for (name, unique, origin, partial) in indexes {
            let cols: Vec<String> = conn
                .query_map(
                    "SELECT name FROM pragma_index_info(?1) ORDER BY seqno",
                    [&name],
                    |r| r.get(0),
                )
                .unwrap();
            match origin.as_str() {
                "pk" => {}
                "u" => {
                    table.uniques.insert(cols);
                }
                _ => {
                    table.indexes.insert(name, (unique, partial, cols));
                }
            }
        }
        let fks: Vec<(i64, String, String, String)> = conn
            .query_map(
                "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1)
                 ORDER BY id, seq",
                [&t],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        let mut by_id: BTreeMap<i64, (Vec<String>, String, Vec<String>)> = BTreeMap::new();
        for (id, to_table, from, to) in fks {
            let e = by_id
                .entry(id)
                .or_insert_with(|| (vec![], to_table, vec![]));
            e.0.push(from);
            e.2.push(to);
        }
        table.foreign_keys = by_id.into_values().collect();
        table.triggers = conn
            .query_map(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1",
                [&t],
                |r| r.get(0),
            )
            .unwrap()
            .into_iter()
            .collect();
        out.insert(t, table);
    }
    out
}

fn describe_postgres(conn: &Connection) -> BTreeMap<String, Table> {
    let tables: Vec<String> = conn
        .query_map(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut out = BTreeMap::new();
    for t in tables {
        let columns = conn
            .query_map(
                "SELECT a.attname::text, a.attnotnull, format_type(a.atttypid, a.atttypmod)
                 FROM pg_attribute a
                 WHERE a.attrelid = ?1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped
                 ORDER BY a.attnum",
                [&t],
                |r| Ok((r.get(0)?, r.get(1)?, postgres_class(&r.get::<String>(2)?))),
            )
            .unwrap();
        let mut table = Table {
            columns,
            ..Table::default()
        };
        let cols_of = "(SELECT string_agg(a.attname::text, ',' ORDER BY k.ord)
                        FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)";
        let indexes: Vec<(String, bool, bool, bool, bool, Option<String>)> = conn
            .query_map(
                &format!(
                    "SELECT c.relname::text, i.indisprimary, i.indisunique, i.indpred IS NOT NULL,
                            EXISTS (SELECT 1 FROM pg_constraint k
                                    WHERE k.conindid = i.indexrelid AND k.contype = 'u'
                                      AND k.conrelid = i.indrelid),
                            {cols_of}
                     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                     WHERE i.indrelid = ?1::text::regclass"
                ),
                [&t],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .unwrap();
        for (name, primary, unique, partial, constraint, cols) in indexes {
            let cols = split(cols);
            if primary {
                table.primary_key = cols;
            } else if constraint {
                table.uniques.insert(cols);
            } else {
                table.indexes.insert(name, (unique, partial, cols));
            }
        }
        let key_cols = |key: &str, rel: &str| {
            format!(
                "(SELECT string_agg(a.attname::text, ',' ORDER BY k.ord)
                  FROM unnest(c.{key}) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = c.{rel} AND a.attnum = k.attnum)"
            )
        };
        table.foreign_keys = conn
            .query_map(
                &format!(
                    "SELECT {}, c.confrelid::regclass::text, {}
                     FROM pg_constraint c
                     WHERE c.conrelid = ?1::text::regclass AND c.contype = 'f'",
                    key_cols("conkey", "conrelid"),
                    key_cols("confkey", "confrelid")
                ),
                [&t],
                |r| Ok((split(r.get(0)?), r.get(1)?, split(r.get(2)?))),
            )
            .unwrap()
            .into_iter()
            .collect();
        table.triggers = conn
            .query_map(
                "SELECT tgname::text FROM pg_trigger
                 WHERE tgrelid = ?1::text::regclass AND NOT tgisinternal",
                [&t],
                |r| r.get(0),
            )
            .unwrap()
            .into_iter()
            .collect();
        out.insert(t, table);
    }
    out
}

#[test]
fn sqlite_and_postgres_migrations_make_the_same_schema() {
    let pg_list = load(&migrations_dir().join("postgres"));
    assert!(!pg_list.is_empty(), "no migrations/postgres/*.sql");
    let last = pg_list.last().map(|m| m.0).unwrap_or(0);
    let sqlite_list: Vec<_> = load(&migrations_dir().join("sqlite"))
        .into_iter()
        .filter(|m| m.0 <= last)
        .collect();
    assert_eq!(
        sqlite_list.len(),
        pg_list.len(),
        "every migrations/postgres file needs its SQLite original"
    );
    for (s, p) in sqlite_list.iter().zip(&pg_list) {
        assert_eq!(s.1, p.1, "the PostgreSQL twin keeps the SQLite file's name");
    }

    let dir = tempfile::tempdir().unwrap();
    let sqlite = db::testing::fresh_sqlite(dir.path());
    assert_eq!(
        migrate(&sqlite, &as_migrations(&sqlite_list)).unwrap(),
        last
    );
    let pg = Connection::connect_postgres(&PgCluster::shared().fresh_db()).unwrap();
    assert_eq!(migrate(&pg, &as_migrations(&pg_list)).unwrap(), last);

    let s = describe_sqlite(&sqlite);
    let mut p = describe_postgres(&pg);
    for only in POSTGRES_ONLY {
        assert!(!s.contains_key(*only), "{only} is listed PostgreSQL-only");
        // A stale entry fails too: the list says what PostgreSQL has.
        assert!(p.remove(*only).is_some(), "{only} missing on PostgreSQL");
    }
    assert_eq!(
        s.keys().collect::<Vec<_>>(),
        p.keys().collect::<Vec<_>>(),
        "tables"
    );
    for (name, st) in &s {
        let pt = &p[name];
        assert_eq!(st.columns, pt.columns, "{name}: columns");
        assert_eq!(st.primary_key, pt.primary_key, "{name}: primary key");
        assert_eq!(st.uniques, pt.uniques, "{name}: unique constraints");
        assert_eq!(st.indexes, pt.indexes, "{name}: indexes");
        assert_eq!(st.foreign_keys, pt.foreign_keys, "{name}: foreign keys");
        assert_eq!(st.triggers, pt.triggers, "{name}: triggers");
    }
    // The comparison saw something: the whole schema, not two empty maps.
    assert!(s.len() >= 25, "{} tables", s.len());
    assert!(s["users"].indexes.contains_key("users_email_key"));
    // 0014 is covered: crl_state lost its bytes and gained the hashes on both.
    assert!(last >= 14, "migrations/postgres stops at {last}");
    let crl_state: Vec<&str> = s["crl_state"]
        .columns
        .iter()
        .map(|c| c.0.as_str())
        .collect();
    assert!(crl_state.contains(&"crl_sha256"), "{crl_state:?}");
    assert!(!crl_state.contains(&"crl"), "{crl_state:?}");
}

#[test]
fn translated_schema_behaves_alike() {
    let pg_list = load(&migrations_dir().join("postgres"));
    let last = pg_list.last().map(|m| m.0).unwrap_or(0);
    let sqlite_list: Vec<_> = load(&migrations_dir().join("sqlite"))
        .into_iter()
        .filter(|m| m.0 <= last)
        .collect();
    both(|conn| {
        let list = match conn.backend() {
            Backend::Sqlite => as_migrations(&sqlite_list),
            Backend::Postgres => as_migrations(&pg_list),
        };
        migrate(conn, &list).unwrap();
        // An identity column hands out ids, RETURNING reads them.
        let id: i64 = conn
            .query_row(
                "INSERT INTO escrowed_keys (owner, usage, created_at, nonce, ciphertext)
                 VALUES (?1, 'encryption', 1, ?2, ?3) RETURNING id",
                db::params!["alice", vec![0u8; 12], vec![1u8; 32]],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(id, 1);
        // The no-delete and append-only triggers refuse, as constraint refusals.
        let e = conn
            .execute("DELETE FROM escrowed_keys WHERE id = ?1", [id])
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Constraint, "{e}");
        assert!(e.message().contains("never deleted"), "{e}");
        conn.execute(
            "INSERT INTO audit_log (seq, at, actor, action, target, outcome, detail, prev_hash, hash)
             VALUES (1, 1, '-', 'init', '-', 'ok', '', ?1, ?1)",
            [vec![0u8; 32]],
        )
        .unwrap();
        let e = conn
            .execute("UPDATE audit_log SET actor = 'x'", [])
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Constraint, "{e}");
        let e = conn.execute("DELETE FROM audit_log", []).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Constraint, "{e}");
        // CHECKs hold: a blob of the wrong length, a boolean that is not 0/1.
        let e = conn
            .execute(
                "INSERT INTO escrowed_keys (owner, usage, created_at, nonce, ciphertext)
                 VALUES ('bob', 'encryption', 1, ?1, ?2)",
                db::params![vec![0u8; 11], vec![1u8; 32]],
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Constraint, "{e}");
        // Case-insensitive uniqueness through users_email_key on both.
        conn.execute(
            "INSERT INTO users (email, name, capabilities, status, created_at, email_key)
             VALUES ('Ann@x.example', 'Ann', 'aes256', 'active', 1, 'ann@x.example')",
            [],
        )
        .unwrap();
        let e = conn
            .execute(
                "INSERT INTO users (email, name, capabilities, status, created_at, email_key)
                 VALUES ('ANN@x.example', 'Ann', 'aes256', 'active', 1, 'ann@x.example')",
                [],
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
        // The next migration run changes nothing.
        assert_eq!(migrate(conn, &list).unwrap(), last);
    });
}
