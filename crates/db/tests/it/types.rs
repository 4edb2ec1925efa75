//! The PostgreSQL binding matrix: one `Value` of each class bound to a column of each type
//! the server may infer, and read back from each.

use db::testing::PgCluster;
use db::{Connection, ErrorKind, Value};

fn pg() -> Connection {
    Connection::connect_postgres(&PgCluster::shared().fresh_db()).unwrap()
}

/// (column type, value, what reads back) for every pair that binds.
fn binds() -> Vec<(&'static str, Value, Value)> {
    use Value::*;
    vec![
        ("SMALLINT", Int(-32768), Int(-32768)),
        ("SMALLINT", Int(32767), Int(32767)),
        (
            "INTEGER",
            Int(i64::from(i32::MIN)),
            Int(i64::from(i32::MIN)),
        ),
        ("BIGINT", Int(i64::MAX), Int(i64::MAX)),
        ("BIGINT", Int(i64::MIN), Int(i64::MIN)),
        ("BOOLEAN", Int(1), Int(1)),
        ("BOOLEAN", Int(0), Int(0)),
        ("NUMERIC", Int(123_456_789_012), Int(123_456_789_012)),
        ("NUMERIC", Int(-10_000), Int(-10_000)),
        ("NUMERIC", Int(0), Int(0)),
        ("OID", Int(4_000_000_000), Int(4_000_000_000)),
        ("TEXT", Text("héllo ?1".into()), Text("héllo ?1".into())),
        ("TEXT", Int(42), Text("42".into())),
        ("VARCHAR(10)", Text("short".into()), Text("short".into())),
        ("CHAR(3)", Text("ab".into()), Text("ab ".into())),
        ("BYTEA", Blob(vec![0, 1, 255]), Blob(vec![0, 1, 255])),
        ("BYTEA", Blob(vec![]), Blob(vec![])),
    ]
}

/// Pairs that must be refused, as a type error.
fn refusals() -> Vec<(&'static str, Value)> {
    use Value::*;
    vec![
        ("SMALLINT", Int(40_000)),
        ("INTEGER", Int(1 << 40)),
        ("BOOLEAN", Int(2)),
        ("OID", Int(-1)),
        ("BIGINT", Text("1".into())),
        ("BIGINT", Blob(vec![1])),
        ("TEXT", Blob(vec![1])),
        ("BYTEA", Text("x".into())),
        ("BYTEA", Int(1)),
    ]
}

const TYPES: &[&str] = &[
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "BOOLEAN",
    "NUMERIC",
    "OID",
    "TEXT",
    "VARCHAR(10)",
    "CHAR(3)",
    "BYTEA",
];

fn column(ty: &str) -> String {
    ty.split('(').next().unwrap().to_lowercase()
}

#[test]
fn every_value_binds_to_and_reads_from_every_compatible_type() {
    let conn = pg();
    let cols: Vec<String> = TYPES.iter().map(|t| format!("{} {t}", column(t))).collect();
    conn.execute_batch(&format!(
        "CREATE TABLE m (id BIGINT PRIMARY KEY, {})",
        cols.join(", ")
    ))
    .unwrap();
    for (i, (ty, value, back)) in binds().into_iter().enumerate() {
        let col = column(ty);
        conn.execute(
            &format!("INSERT INTO m (id, {col}) VALUES (?1, ?2)"),
            db::params![i as i64, value],
        )
        .unwrap_or_else(|e| panic!("{value:?} into {ty}: {e}"));
        let read: Value = conn
            .query_row(
                &format!("SELECT {col} FROM m WHERE id = ?1"),
                [i as i64],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(read, back, "{ty}");
        // In a WHERE clause too (the server infers the parameter's type from the column).
        let n: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM m WHERE id = ?1 AND {col} = ?2"),
                db::params![i as i64, back],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("{ty} compared with {back:?}: {e}"));
        assert_eq!(n, 1, "{ty}");
    }
    // NULL binds to and reads from every type.
    for (i, ty) in TYPES.iter().enumerate() {
        let id = 1000 + i as i64;
        let col = column(ty);
        conn.execute(
            &format!("INSERT INTO m (id, {col}) VALUES (?1, ?2)"),
            db::params![id, Value::Null],
        )
        .unwrap();
        let v: Option<i64> = conn
            .query_row(&format!("SELECT {col} FROM m WHERE id = ?1"), [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(v, None, "{ty}");
    }
}

#[test]
fn mismatched_pairs_are_type_errors_and_change_nothing() {
    let conn = pg();
    let cols: Vec<String> = TYPES.iter().map(|t| format!("{} {t}", column(t))).collect();
    conn.execute_batch(&format!(
        "CREATE TABLE m (id BIGINT PRIMARY KEY, {})",
        cols.join(", ")
    ))
    .unwrap();
    for (ty, value) in refusals() {
        let col = column(ty);
        let e = conn
            .execute(
                &format!("INSERT INTO m (id, {col}) VALUES (1, ?1)"),
                [value.clone()],
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Type, "{value:?} into {ty}: {e}");
        // The message names the column type, never the value.
        assert!(!e.to_string().contains("40000"), "{e}");
    }
    let n: i64 = conn
        .query_row("SELECT count(*) FROM m", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    // Reading: a NUMERIC with a fraction, or a float, does not read as an integer.
    let e = conn
        .query_row("SELECT 1.5::numeric", [], |r| r.get::<i64>(0))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Type, "{e}");
    let e = conn
        .query_row("SELECT 1.5::float8", [], |r| r.get::<Value>(0))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Type, "{e}");
    // An integral NUMERIC and a domain over BIGINT read as integers.
    conn.execute_batch("CREATE DOMAIN positive AS BIGINT CHECK (VALUE > 0)")
        .unwrap();
    let (a, b): (i64, i64) = conn
        .query_row("SELECT 12.000::numeric, 7::positive", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((a, b), (12, 7));
}

#[test]
fn rust_types_round_trip_on_postgres_bigint_text_and_bytea() {
    let conn = pg();
    conn.execute_batch("CREATE TABLE r (i BIGINT, t TEXT, b BYTEA)")
        .unwrap();
    conn.execute(
        "INSERT INTO r (i, t, b) VALUES (?1, ?2, ?3)",
        db::params![u32::MAX, "text", [1u8, 2, 3]],
    )
    .unwrap();
    let (i, t, b): (u32, String, [u8; 3]) = conn
        .query_row("SELECT i, t, b FROM r", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((i, t.as_str(), b), (u32::MAX, "text", [1, 2, 3]));
    // u64 above i64::MAX does not bind.
    let e = conn
        .execute("INSERT INTO r (i) VALUES (?1)", [u64::MAX])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Type);
    // A negative integer does not read as u32.
    conn.execute("INSERT INTO r (i) VALUES (?1)", [-1i64])
        .unwrap();
    let e = conn
        .query_row("SELECT i FROM r WHERE i < 0", [], |r| r.get::<u32>(0))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Type);
}

#[test]
fn every_class_against_every_type() {
    let conn = pg();
    let cols: Vec<String> = TYPES.iter().map(|t| format!("{} {t}", column(t))).collect();
    conn.execute_batch(&format!(
        "CREATE TABLE m (id BIGINT PRIMARY KEY, {})",
        cols.join(", ")
    ))
    .unwrap();
    let text_types = ["TEXT", "VARCHAR(10)", "CHAR(3)"];
    let mut id = 0i64;
    for ty in TYPES {
        for value in [
            Value::Null,
            Value::Int(1),
            Value::Text("1".into()),
            Value::Blob(vec![1]),
        ] {
            let binds = match &value {
                Value::Null => true,
                Value::Int(_) => *ty != "BYTEA",
                Value::Text(_) => text_types.contains(ty),
                Value::Blob(_) => *ty == "BYTEA",
            };
            id += 1;
            let col = column(ty);
            let r = conn.execute(
                &format!("INSERT INTO m (id, {col}) VALUES (?1, ?2)"),
                db::params![id, value],
            );
            match (binds, r) {
                (true, Ok(1)) => {
                    let back: Value = conn
                        .query_row(&format!("SELECT {col} FROM m WHERE id = ?1"), [id], |r| {
                            r.get(0)
                        })
                        .unwrap();
                    assert_eq!(
                        back.class(),
                        match (&value, text_types.contains(ty)) {
                            (Value::Int(_), true) => "text",
                            _ => value.class(),
                        },
                        "{value:?} in {ty}"
                    );
                }
                (false, Err(e)) => {
                    assert_eq!(e.kind(), ErrorKind::Type, "{value:?} into {ty}: {e}")
                }
                (want, got) => panic!("{value:?} into {ty}: expected binds={want}, got {got:?}"),
            }
        }
    }
}
