//! Helpers both test roots share (`it` on SQLite, `it_postgres` on PostgreSQL): a manual
//! clock, cheap Argon2 parameters, the committed test keys of `keys/`, and the authority's
//! store on the root's backend (`crate::BACKEND`): a data directory alone on SQLite; a fresh
//! database of the shared throw-away cluster beside the data directory on PostgreSQL, with
//! one way to re-open it and one raw connection to it for the tests that play the fault.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authority::{Authority, Config, InitParams, ManualClock};
use db::testing::PgCluster;
use db::{Backend, PgConfig};
use escrow::{Argon2Params, InitOptions, Password, Store};
use pki::{DigestAlgorithm, Name, PrivateKey};

pub const ADMIN_PW: &str = "admin password 1";

pub fn key(name: &str) -> PrivateKey {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys")
        .join(name);
    PrivateKey::from_pem_or_der(&std::fs::read(path).unwrap()).unwrap()
}

pub fn config() -> Config {
    Config {
        admin_argon2: Argon2Params::new(64, 1, 1),
        key_pool_size: 0,
        enrollment_pbkdf2_iterations: 1000,
        // A lag is reported at once on both backends (`cluster` tests the grace).
        cluster_crl_lag_grace: std::time::Duration::ZERO,
        ..Config::default()
    }
}

pub fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// A database for a new store on the root's backend: `None` on SQLite (the data directory's
/// file), a fresh database of the shared test cluster on PostgreSQL (which fails saying what
/// to install when PostgreSQL is missing: never skipped).
pub fn new_database() -> Option<PgConfig> {
    match crate::BACKEND {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PgCluster::shared().fresh_db()),
    }
}

/// Creates an authority in `params.data_dir`, its store in `pg` when given
/// (`authority::init_in`).
pub fn init_on(
    pg: Option<&PgConfig>,
    params: InitParams<'_>,
    config: Config,
    clock: Arc<ManualClock>,
) -> authority::Result<Authority> {
    authority::init_in(params, pg, config, clock)
}

/// Opens the store of the node in `dir`, on `pg` when given (`Store::open_database`), in the
/// directory's SQLite file otherwise.
pub fn open_store_in(pg: Option<&PgConfig>, dir: &Path) -> Store {
    match pg {
        Some(cfg) => Store::open_database(cfg, dir).unwrap(),
        None => Store::open(dir).unwrap(),
    }
}

/// A connection of the test's own to the store's database, outside the authority.
pub fn raw_in(pg: Option<&PgConfig>, dir: &Path) -> db::Connection {
    match pg {
        Some(cfg) => db::Connection::connect_postgres(cfg).unwrap(),
        None => db::Connection::open_sqlite(&dir.join(escrow::DB_FILE_NAME)).unwrap(),
    }
}

/// Makes every `event` (`INSERT`, `UPDATE`) on `table` fail while `when` (a condition on
/// `NEW`) holds, through a trigger named `name` (a plpgsql function raising on PostgreSQL).
pub fn refuse(conn: &db::Connection, name: &str, event: &str, table: &str, when: Option<&str>) {
    let sql = match conn.backend() {
        Backend::Sqlite => format!(
            "CREATE TRIGGER {name} BEFORE {event} ON {table} {}
             BEGIN SELECT RAISE(ABORT, 'test: {name} refuses'); END;",
            when.map(|w| format!("WHEN {w}")).unwrap_or_default()
        ),
        Backend::Postgres => format!(
            "CREATE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql AS
             $f$ BEGIN RAISE EXCEPTION 'test: {name} refuses'; END $f$;
             CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW {}
             EXECUTE FUNCTION {name}_fn();",
            when.map(|w| format!("WHEN ({w})")).unwrap_or_default()
        ),
    };
    conn.execute_batch(&sql).unwrap();
}

/// Removes the trigger [`refuse`] made.
pub fn allow(conn: &db::Connection, name: &str, table: &str) {
    let sql = match conn.backend() {
        Backend::Sqlite => format!("DROP TRIGGER {name}"),
        Backend::Postgres => format!("DROP TRIGGER {name} ON {table}; DROP FUNCTION {name}_fn();"),
    };
    conn.execute_batch(&sql).unwrap();
}

/// `SELECT count(*)` or any one integer.
pub fn count(conn: &db::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub dir: PathBuf,
    pub clock: Arc<ManualClock>,
    pub auth: Authority,
    /// The store's database on PostgreSQL; `None` on SQLite.
    pub pg: Option<PgConfig>,
}

impl Fixture {
    /// Opens the store again (the authority dropped or not), on the fixture's backend.
    pub fn open_store(&self) -> Store {
        open_store_in(self.pg.as_ref(), &self.dir)
    }

    /// A connection of the test's own to the store's database.
    pub fn raw(&self) -> db::Connection {
        raw_in(self.pg.as_ref(), &self.dir)
    }
}

pub fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let clock = Arc::new(ManualClock::new(start()));
    let pg = new_database();
    let auth = init_on(
        pg.as_ref(),
        InitParams {
            data_dir: &dir,
            ca_subject: "CN=Test CA,O=Example",
            admin_name: "admin",
            admin_password: &Password::new(ADMIN_PW),
            unlock: InitOptions {
                password: Some(Password::new("start-up password")),
                key_file: None,
                argon2: Argon2Params::new(64, 1, 1),
            },
            public_url: "http://127.0.0.1:9999",
            ca_key: Some(key("ca-3072.key.pem")),
        },
        config(),
        clock.clone(),
    )
    .unwrap();
    auth.add_pool_keys(vec![key("spare-1.key.pem"), key("spare-2.key.pem")]);
    Fixture {
        _dir: tmp,
        dir,
        clock,
        auth,
        pg,
    }
}

pub fn csr(key_name: &str, email: &str) -> Vec<u8> {
    pki::csr::build(
        &key(key_name),
        Name::from_str("CN=someone").unwrap(),
        email,
        DigestAlgorithm::Sha256,
    )
    .unwrap()
}
