//! The `db` crate's integration tests: every API call on both backends, the PostgreSQL type
//! binding matrix, error classification (conflict, retry, unreachable and reconnect),
//! advisory locks and sequences across connections, connecting with a password file, verified
//! TLS (rustls on aws-lc-rs) against a cluster with a certificate from the test keys, and the
//! schema comparison of migrations/sqlite/ against migrations/postgres/, and moving a store
//! from one backend to the other (`db::copy`).
//!
//! PostgreSQL runs in a throw-away cluster (`db::testing`); without the server installed the
//! PostgreSQL tests fail saying what to install.

mod api;
mod copy;
mod errors;
mod locks;
mod schema;
mod tls;
mod types;
