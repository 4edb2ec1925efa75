//! Shared helpers: cheap Argon2 parameters, the repository's test keys, store set-up on either
//! backend (a data directory with SQLite, or a fresh database of the shared PostgreSQL test
//! cluster beside a data directory), snapshots, and a raw connection to play the attacker.

use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use db::testing::PgCluster;
use db::{Backend, Connection, PgConfig};
use escrow::{
    Argon2Params, InitOptions, KeyFileTargets, KeyUsage, NewKey, Password, Store, UnlockedStore,
};
use sha2::{Digest, Sha256};

/// Runs `test` on SQLite, then on PostgreSQL (a fresh database of the shared cluster per
/// fixture); a failure says which backend failed. Without PostgreSQL installed the second run
/// fails saying what to install (never skipped).
pub fn both(test: impl Fn(Backend)) {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(backend)))
        {
            eprintln!("the test failed on {}", backend.as_str());
            std::panic::resume_unwind(panic);
        }
    }
}

/// Argon2id parameters cheap enough for tests (the default stays strong).
pub const CHEAP: Argon2Params = Argon2Params::new(64, 1, 1);
pub const PASSWORD: &str = "correct horse battery staple";

/// A temporary directory (the data directory and key files) and, on PostgreSQL, the database
/// of a store made by [`init`] or [`init_on`].
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub key_file: PathBuf,
    pub key_file_copy: PathBuf,
    /// The store's database on PostgreSQL; `None` on SQLite.
    pub pg: Option<PgConfig>,
}

impl Fixture {
    /// An empty fixture for `backend` (a fresh database on PostgreSQL; no store yet).
    pub fn empty(backend: Backend) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        Fixture {
            data: tmp.path().join("data"),
            key_file: tmp.path().join("disk1-escrow.key"),
            key_file_copy: tmp.path().join("disk2-escrow.key"),
            pg: match backend {
                Backend::Sqlite => None,
                Backend::Postgres => Some(PgCluster::shared().fresh_db()),
            },
            tmp,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn backend(&self) -> Backend {
        if self.pg.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// Creates the store with `options` (`Store::init` or `Store::init_database`).
    pub fn create(&self, options: &InitOptions) -> escrow::Result<UnlockedStore> {
        match &self.pg {
            Some(cfg) => Store::init_database(cfg, &self.data, options),
            None => Store::init(&self.data, options),
        }
    }

    /// Opens the store locked (`Store::open` or `Store::open_database`).
    pub fn open(&self) -> escrow::Result<Store> {
        match &self.pg {
            Some(cfg) => Store::open_database(cfg, &self.data),
            None => Store::open(&self.data),
        }
    }

    /// Opens and unlocks the store with the password.
    pub fn unlock(&self) -> UnlockedStore {
        self.open()
            .unwrap()
            .unlock_with_password(&Password::new(PASSWORD))
            .unwrap()
    }

    /// A connection of its own to the store's database, outside the store (the attacker's).
    pub fn raw(&self) -> Connection {
        match &self.pg {
            Some(cfg) => Connection::connect_postgres(cfg).unwrap(),
            None => Connection::open_sqlite(&self.data.join(escrow::DB_FILE_NAME)).unwrap(),
        }
    }

    /// Every row of the tables that hold keys and wraps, as text.
    pub fn snapshot(&self) -> Vec<String> {
        snapshot_of(&self.raw())
    }

    /// The newest migration this build knows for the fixture's backend.
    pub fn schema_version_supported(&self) -> u32 {
        escrow::schema_version_supported_on(self.backend())
    }
}

/// The options [`init`] uses: a password, and a key file with a copy.
pub fn options(fx: &Fixture) -> InitOptions {
    InitOptions {
        password: Some(Password::new(PASSWORD)),
        key_file: Some(KeyFileTargets {
            path: fx.key_file.clone(),
            copy: Some(fx.key_file_copy.clone()),
        }),
        argon2: CHEAP,
    }
}

/// A new SQLite store with a password and a key file (plus copy); returns it unlocked.
pub fn init() -> (Fixture, UnlockedStore) {
    init_on(Backend::Sqlite)
}

/// [`init`] on `backend`.
pub fn init_on(backend: Backend) -> (Fixture, UnlockedStore) {
    let fx = Fixture::empty(backend);
    let store = fx.create(&options(&fx)).unwrap();
    (fx, store)
}

/// The DER of every `*.key.pem` (PKCS#8) in the workspace's `keys/` folder, by file name.
pub fn test_keys() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".key.pem") {
            let text = std::fs::read_to_string(&path).unwrap();
            let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
            out.push((stem.to_owned(), Base64::decode_vec(&b64).unwrap()));
        }
    }
    out.sort();
    assert!(out.len() >= 10);
    out
}

pub fn random_blob(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    getrandom::fill(&mut v).unwrap();
    v
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn new_key<'a>(owner: &'a str, der: &'a [u8], created_at: i64) -> NewKey<'a> {
    NewKey {
        owner,
        usage: KeyUsage::Encryption,
        private_key_der: der,
        certificate_der: None,
        created_at,
    }
}

/// Every row of the tables that hold keys and wraps in the SQLite store in `data`, as text,
/// for before/after comparisons.
pub fn snapshot(data: &Path) -> Vec<String> {
    snapshot_of(&Connection::open_sqlite(&data.join(escrow::DB_FILE_NAME)).unwrap())
}

/// [`snapshot`] through `conn`, on either backend.
pub fn snapshot_of(conn: &Connection) -> Vec<String> {
    let mut out = Vec::new();
    for table in [
        "store_meta",
        "unlock_methods",
        "escrowed_keys",
        "schema_migrations",
    ] {
        conn.query_each(&format!("SELECT * FROM {table} ORDER BY 1"), [], |r| {
            let mut line = format!("{table}:");
            for i in 0..r.len() {
                line.push_str(&format!(" {:?}", r.get_value(i)?));
            }
            out.push(line);
            Ok(())
        })
        .unwrap();
    }
    out
}

/// Opens the database with plain rusqlite (to play the attacker).
pub fn raw(data: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(data.join(escrow::DB_FILE_NAME)).unwrap()
}
