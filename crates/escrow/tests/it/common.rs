//! Shared helpers: cheap Argon2 parameters, the repository's test keys, store set-up, snapshots.

use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use escrow::{
    Argon2Params, InitOptions, KeyFileTargets, KeyUsage, NewKey, Password, Store, UnlockedStore,
};
use sha2::{Digest, Sha256};

/// Argon2id parameters cheap enough for tests (the default stays strong).
pub const CHEAP: Argon2Params = Argon2Params::new(64, 1, 1);
pub const PASSWORD: &str = "correct horse battery staple";

/// A temporary directory with a store made by [`init`].
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub key_file: PathBuf,
    pub key_file_copy: PathBuf,
}

impl Fixture {
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

/// A new store with a password and a key file (plus copy); returns it unlocked.
pub fn init() -> (Fixture, UnlockedStore) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let key_file = tmp.path().join("disk1-escrow.key");
    let key_file_copy = tmp.path().join("disk2-escrow.key");
    let store = Store::init(
        &data,
        &InitOptions {
            password: Some(Password::new(PASSWORD)),
            key_file: Some(KeyFileTargets {
                path: key_file.clone(),
                copy: Some(key_file_copy.clone()),
            }),
            argon2: CHEAP,
        },
    )
    .unwrap();
    (
        Fixture {
            tmp,
            data,
            key_file,
            key_file_copy,
        },
        store,
    )
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

/// Every row of the tables that hold keys and wraps, as text, for before/after comparisons.
pub fn snapshot(data: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(data.join(escrow::DB_FILE_NAME)).unwrap();
    let mut out = Vec::new();
    for table in [
        "store_meta",
        "unlock_methods",
        "escrowed_keys",
        "schema_migrations",
    ] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1"))
            .unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let mut line = format!("{table}:");
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    line.push_str(&format!(" {v:?}"));
                }
                Ok(line)
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

/// Opens the database with plain rusqlite (to play the attacker).
pub fn raw(data: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(data.join(escrow::DB_FILE_NAME)).unwrap()
}
