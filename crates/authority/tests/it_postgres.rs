//! The authority's integration tests on PostgreSQL: the same modules as `tests/it` (whose
//! root runs them on SQLite), each store in a fresh database of the shared throw-away cluster
//! of `db::testing` (the node's files in a temporary directory). Without PostgreSQL installed
//! the tests fail saying what to install; they are never skipped.

/// The backend the stores of this run live on.
const BACKEND: db::Backend = db::Backend::Postgres;

/// Tests that hold only on SQLite (each says why where it is written): not compiled here.
macro_rules! sqlite_only {
    ($($item:item)*) => {};
}

#[path = "it/common.rs"]
mod common;
#[allow(unused_imports)]
use common::*;

#[path = "it/agents.rs"]
mod agents;
#[path = "it/basics.rs"]
mod basics;
#[path = "it/capabilities.rs"]
mod capabilities;
#[path = "it/checks.rs"]
mod checks;
// PostgreSQL only: two nodes on one store.
#[path = "it/cluster.rs"]
mod cluster;
#[path = "it/enroll_concurrency.rs"]
mod enroll_concurrency;
#[path = "it/governance.rs"]
mod governance;
#[path = "it/ops.rs"]
mod ops;
#[path = "it/renew_unlocked.rs"]
mod renew_unlocked;
#[path = "it/sbr.rs"]
mod sbr;
#[path = "it/signin.rs"]
mod signin;
#[path = "it/states.rs"]
mod states;
#[path = "it/token_ca.rs"]
mod token_ca;
#[path = "it/totp.rs"]
mod totp;
#[path = "it/txn.rs"]
mod txn;
#[path = "it/views.rs"]
mod views;

// SQLite only, not included here:
// - agents_check: `kmsd check` (`authority::check_store`) reads a data directory's SQLite file.
// - anchor: the tests put older copies of the SQLite file back under the anchor file (a
//   PostgreSQL database put back to an older state is the server's doing, not reproduced
//   here; each node keeps its own anchor file, checked the same way at start).
// - crl_files: the CRL files in DATA_DIR/crl (PostgreSQL keeps them in `crl_blobs`).
// - sqlite_schema: migration 0010 on a SQLite schema taken back to version 9 by hand.
