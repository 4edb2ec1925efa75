//! Integration tests of the authority's service logic on SQLite, in-process, with a manual
//! clock, cheap Argon2 parameters and the committed test keys of `keys/` (no RSA key
//! generation). `tests/it_postgres.rs` runs the backend-neutral modules again on PostgreSQL.

/// The backend the stores of this run live on.
const BACKEND: db::Backend = db::Backend::Sqlite;

/// Tests that hold only on SQLite, each with a comment saying why (`it_postgres` drops them).
macro_rules! sqlite_only {
    ($($item:item)*) => { $($item)* };
}

mod common;
#[allow(unused_imports)]
use common::*;

mod agents;
mod agents_check;
mod anchor;
mod basics;
mod capabilities;
mod checks;
mod crl_files;
mod enroll_concurrency;
mod governance;
mod ops;
mod renew_unlocked;
mod sbr;
mod signin;
mod sqlite_schema;
mod states;
mod token_ca;
mod totp;
mod txn;
mod views;
