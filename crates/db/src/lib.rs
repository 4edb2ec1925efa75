//! `db`: one synchronous connection and transaction API over SQLite (through `rusqlite`, the
//! embedded default) and PostgreSQL (through the sync `postgres` client, for several `kmsd`
//! nodes on one database), shaped like the rusqlite API that `escrow` and `authority` use.
//!
//! SQL is written once with SQLite's `?1` placeholders ([`placeholder::to_postgres`]
//! rewrites them for PostgreSQL), `RETURNING` instead of `last_insert_rowid`, and
//! `ON CONFLICT` instead of `INSERT OR IGNORE/REPLACE`; [`Connection::backend`] tells the two
//! apart where dialects truly differ. Values cross as [`Value`] (NULL, integer, text, bytes),
//! which binds to whatever integer, text or byte type PostgreSQL inferred. See
//! `docs/STORAGE.md` for the construct-by-construct table and the conversion plan.
//! [`copy::copy_database`] moves a whole store from one backend to the other.
//!
//! ```
//! use db::{Connection, OptionalExtension, params};
//! let conn = Connection::open_sqlite_in_memory().unwrap();
//! conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)").unwrap();
//! let tx = conn.transaction().unwrap();
//! let id: i64 = tx
//!     .query_row("INSERT INTO t (name) VALUES (?1) RETURNING id", params!["a"], |r| r.get(0))
//!     .unwrap();
//! tx.commit().unwrap();
//! let name: Option<String> = conn
//!     .query_row("SELECT name FROM t WHERE id = ?1", [id], |r| r.get(0))
//!     .optional()
//!     .unwrap();
//! assert_eq!(name.as_deref(), Some("a"));
//! ```
//!
//! # Error codes
//!
//! | code | kind | meaning |
//! |---|---|---|
//! | DB-001 | `Full` | the disk under the database is full (HTTP 507) |
//! | DB-002 | `ReadOnly` | the database cannot be written (read-only file, PostgreSQL standby) |
//! | DB-003 | `Busy` | another program holds a lock the statement needs |
//! | DB-004 | `Damaged` | the database is damaged: restore from a backup |
//! | DB-005 | `Io` | the disk reported an I/O error, or the file could not be opened |
//! | DB-006 | `Unreachable` | the PostgreSQL server cannot be reached (HTTP 503; reconnect) |
//! | DB-007 | `Conflict` | a unique or primary key refused the row (HTTP 409) |
//! | DB-008 | `Retry` | serialization failure or deadlock: run the transaction again |
//! | DB-009 | `NotFound` | `query_row` found no row |
//! | DB-010 | `Newer` | the database's schema is newer than this program |
//! | DB-011 | `Constraint` | a foreign key, CHECK, NOT NULL or trigger refused the row |
//! | DB-012 | `Type` | a value does not convert between Rust and the column |
//! | DB-013 | `Config` | the database URL or password source is wrong |
//! | DB-014 | `Auth` | PostgreSQL refused the credentials |
//! | DB-015 | `Migration` | a migration failed (rolled back) |
//! | DB-016 | `MigrationChanged` | an applied migration's text changed |
//! | DB-017 | `Sql` | any other error from the database (a program error) |
//! | DB-018 | `Misuse` | the API was used wrongly (nested transaction, commit after a failure) |
//! | DB-019 | `Tls` | TLS to PostgreSQL could not be set up |

#![forbid(unsafe_code)]

pub mod config;
mod conn;
pub mod copy;
mod error;
pub mod migrate;
mod pgtypes;
pub mod placeholder;
mod value;

#[cfg(feature = "testing")]
pub mod testing;

pub use config::{DbConfig, Password, PgConfig, TlsMode};
pub use conn::{Backend, Backoff, Connection, Isolation, MappedRows, Row, Statement, Transaction};
pub use copy::{CopyReport, copy_database};
pub use error::{DbError, ErrorKind, OptionalExtension, Result, kind_of_sqlstate};
pub use migrate::{Migration, migrate};
pub use value::{FromSql, Params, ToSql, Value};
