//! Unit-test support: a fresh unlocked store on each backend (SQLite in a temporary directory,
//! then a fresh database of the shared PostgreSQL test cluster), a failure naming the backend.

use db::testing::PgCluster;

use crate::{Argon2Params, InitOptions, Password, Store, UnlockedStore};

fn options() -> InitOptions {
    InitOptions {
        password: Some(Password::new("a password for tests")),
        key_file: None,
        argon2: Argon2Params::new(64, 1, 1),
    }
}

/// A fresh SQLite store in `dir`.
pub(crate) fn sqlite_store(dir: &std::path::Path) -> UnlockedStore {
    Store::init(&dir.join("d"), &options()).unwrap()
}

/// Runs `test` on a fresh SQLite store, then on a fresh PostgreSQL one (without PostgreSQL
/// installed the second run fails saying what to install).
pub(crate) fn both(test: impl Fn(UnlockedStore)) {
    let tmp = tempfile::tempdir().unwrap();
    on("sqlite", || test(sqlite_store(tmp.path())));
    let cfg = PgCluster::shared().fresh_db();
    on("postgres", || {
        test(Store::init_database(&cfg, &tmp.path().join("pg"), &options()).unwrap())
    });
}

fn on(name: &str, f: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        eprintln!("the test failed on {name}");
        std::panic::resume_unwind(panic);
    }
}
