//! Leak scan: after escrowing hundreds of keys, no private key, master key or subkey appears in
//! the database, its WAL, a backup or a restored copy (a unit test: it needs the master key).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};

use crate::backup::{restore, verify_backup};
use crate::master::Argon2Params;
use crate::secret::Password;
use crate::store::{DB_FILE_NAME, InitOptions, KeyFileTargets, KeyUsage, NewKey, Store};
use crate::{Credential, KeyFile};

const WINDOW: usize = 32;
const CHEAP: Argon2Params = Argon2Params::new(64, 1, 1);

/// Every 32-byte window of every secret, with a 2^24-bit prefilter on the first 3 bytes so a
/// scan of several megabytes stays fast in a debug build.
struct Needles {
    windows: HashSet<[u8; WINDOW]>,
    prefilter: Vec<u64>,
}

impl Needles {
    fn new() -> Self {
        Needles {
            windows: HashSet::new(),
            prefilter: vec![0; (1 << 24) / 64],
        }
    }

    fn slot(w: &[u8]) -> usize {
        (usize::from(w[0]) << 16) | (usize::from(w[1]) << 8) | usize::from(w[2])
    }

    fn add(&mut self, secret: &[u8]) {
        assert!(secret.len() >= WINDOW, "needles must be at least 32 bytes");
        for w in secret.windows(WINDOW) {
            let s = Self::slot(w);
            self.prefilter[s / 64] |= 1 << (s % 64);
            self.windows.insert(w.try_into().unwrap());
        }
    }

    /// Offset of the first window of `hay` that is a window of some secret.
    fn find_in(&self, hay: &[u8]) -> Option<usize> {
        hay.windows(WINDOW).position(|w| {
            let s = Self::slot(w);
            self.prefilter[s / 64] & (1 << (s % 64)) != 0 && self.windows.contains(w)
        })
    }

    fn assert_absent(&self, path: &Path) {
        let bytes = std::fs::read(path).unwrap();
        if let Some(at) = self.find_in(&bytes) {
            panic!(
                "secret material found in {} at offset {at} ({} bytes scanned)",
                path.display(),
                bytes.len()
            );
        }
    }
}

/// The DER of every `*.key.pem` (PKCS#8) in the workspace's `keys/` folder.
pub(crate) fn test_keys() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".key.pem") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let b64: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        out.push((name, Base64::decode_vec(&b64).unwrap()));
    }
    out.sort();
    assert!(
        out.len() >= 10,
        "expected the test keys in {}",
        dir.display()
    );
    out
}

fn random_blob(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    getrandom::fill(&mut v).unwrap();
    v
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

// SQLite only: scans the store's own files (PostgreSQL's pages are the server's).
#[test]
fn no_plaintext_key_or_master_key_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let keys_dir = tmp.path().join("keys");
    std::fs::create_dir(&keys_dir).unwrap();
    let key_file = keys_dir.join("escrow.key");
    let password = "correct horse battery staple, but longer than 32 bytes";
    let mut store = Store::init(
        &data,
        &InitOptions {
            password: Some(Password::new(password)),
            key_file: Some(KeyFileTargets {
                path: key_file.clone(),
                copy: Some(keys_dir.join("escrow.key.copy")),
            }),
            argon2: CHEAP,
        },
    )
    .unwrap();

    // 14 real RSA keys plus 300 random blobs of PKCS#8 RSA-2048 size.
    let mut secrets: Vec<(String, Vec<u8>)> = test_keys();
    for i in 0..300 {
        secrets.push((
            format!("user{}@example.org", i % 37),
            random_blob(1190 + i % 40),
        ));
    }
    let mut ids = Vec::new();
    for (owner, der) in secrets.iter().take(114) {
        ids.push(
            store
                .escrow(&NewKey {
                    owner,
                    usage: KeyUsage::Encryption,
                    private_key_der: der,
                    certificate_der: Some(b"not really a certificate"),
                    created_at: 1_700_000_000,
                })
                .unwrap(),
        );
    }
    for batch in secrets[114..].chunks(50) {
        let keys: Vec<NewKey<'_>> = batch
            .iter()
            .map(|(owner, der)| NewKey {
                owner,
                usage: KeyUsage::Encryption,
                private_key_der: der,
                certificate_der: None,
                created_at: 1_700_000_001,
            })
            .collect();
        ids.extend(store.escrow_batch(&keys).unwrap());
    }
    assert_eq!(ids.len(), 314);

    // Everything round-trips (so the scan below looks at a store that really holds the keys).
    for (id, (owner, der)) in ids.iter().zip(&secrets) {
        let key = store.key(*id).unwrap().unwrap();
        assert_eq!(&key.info.owner, owner);
        assert_eq!(key.private_key_der.expose(), &der[..]);
    }

    let mut needles = Needles::new();
    for (_, der) in &secrets {
        needles.add(der);
    }
    needles.add(store.master().expose_for_tests());
    needles.add(store.master().row_key_for_tests().expose());
    needles.add(KeyFile::load(&key_file).unwrap().secret().expose());
    needles.add(password.as_bytes());

    // Positive control: the scanner finds a key in the middle of noise.
    let mut control = random_blob(5000);
    control.extend_from_slice(&secrets[3].1[100..140]);
    control.extend_from_slice(&random_blob(5000));
    assert_eq!(needles.find_in(&control), Some(5000));

    // While the store is open: the database, a non-empty WAL, and the shared-memory index.
    let wal = data.join(format!("{DB_FILE_NAME}-wal"));
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "the WAL must exist at scan time"
    );
    for path in files_in(&data) {
        needles.assert_absent(&path);
    }

    // A backup (and no temporary file left beside it).
    let backups = tmp.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let backup = backups.join("escrow-1.bak");
    let report = store.backup(&backup).unwrap();
    assert_eq!(report.keys, 314);
    assert_eq!(files_in(&backups), vec![backup.clone()]);
    needles.assert_absent(&backup);

    // Key files hold their own secret (base64), never the master or a private key.
    let mut key_needles = Needles::new();
    key_needles.add(store.master().expose_for_tests());
    for (_, der) in &secrets {
        key_needles.add(der);
    }
    for path in files_in(&keys_dir) {
        key_needles.assert_absent(&path);
    }

    // After closing (checkpoint), the database alone.
    drop(store);
    for path in files_in(&data) {
        needles.assert_absent(&path);
    }

    // A verified and restored copy.
    let cred = Credential::key_file(&key_file).unwrap();
    assert_eq!(verify_backup(&backup, &cred).unwrap().keys, 314);
    let restored = tmp.path().join("restored");
    restore(&backup, &cred, &restored).unwrap();
    for path in files_in(&restored) {
        needles.assert_absent(&path);
    }
    // No temporary files left beside the restored directory either.
    let mut top: Vec<String> = files_in(tmp.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["backups", "data", "keys", "restored"]);
}

/// Agent-split keys (issue 21): once a key is split, its master-key-only ciphertext is gone
/// from the database, the WAL and every later backup (a thief holding the master key finds
/// nothing to decrypt), and neither the wrapped form nor any agent's sealed share is stored in
/// the clear (both sit under the master key).
// SQLite only: scans the store's own files (PostgreSQL's pages are the server's).
#[test]
fn an_agent_split_key_leaves_no_master_only_copy_and_no_share_in_the_clear() {
    use crate::AgentShare;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut store = Store::init(
        &data,
        &InitOptions {
            password: Some(Password::new("a start-up password for the split leak scan")),
            key_file: None,
            argon2: CHEAP,
        },
    )
    .unwrap();
    let agents: Vec<i64> = (0..3)
        .map(|i| {
            let conn = store.connection_mut();
            conn.query_row(
                "INSERT INTO recovery_agents (name, public_key, added_at, added_by)
                 VALUES (?1, ?2, 1, 'scan') RETURNING id",
                db::params![format!("agent{i}"), vec![i as u8 + 1; 32]],
                |r| r.get(0),
            )
            .unwrap()
        })
        .collect();
    let secrets: Vec<Vec<u8>> = test_keys()
        .into_iter()
        .map(|(_, der)| der)
        .chain((0..40).map(|i| random_blob(1190 + i)))
        .collect();
    let ids = store
        .escrow_batch(
            &secrets
                .iter()
                .map(|der| NewKey {
                    owner: "alice@example.org",
                    usage: KeyUsage::Encryption,
                    private_key_der: der,
                    certificate_der: None,
                    created_at: 1,
                })
                .collect::<Vec<_>>(),
        )
        .unwrap();
    // The master-key ciphertexts as they are before the split.
    let mut old_ciphertexts = Needles::new();
    {
        let conn = store.store().connection();
        let mut stmt = conn
            .prepare("SELECT ciphertext FROM escrowed_keys")
            .unwrap();
        for ct in stmt.query_map([], |r| r.get::<Vec<u8>>(0)).unwrap() {
            old_ciphertexts.add(&ct.unwrap());
        }
    }
    // Positive control: the scan finds an old ciphertext in the database as it is now.
    let db = std::fs::read(data.join(DB_FILE_NAME)).unwrap();
    let wal = std::fs::read(data.join(format!("{DB_FILE_NAME}-wal"))).unwrap_or_default();
    assert!(old_ciphertexts.find_in(&db).is_some() || old_ciphertexts.find_in(&wal).is_some());
    let backups = tmp.path().join("backups");
    std::fs::create_dir(&backups).unwrap();

    let mut clear = Needles::new();
    for der in &secrets {
        clear.add(der);
    }
    let tx = store.begin().unwrap();
    for id in &ids {
        // Stand-ins of `pki::quorum`'s output: a wrapped key and HPKE-sealed shares (opaque
        // bytes to this crate, never to be stored as they are).
        let wrapped = random_blob(1250);
        clear.add(&wrapped);
        let shares: Vec<AgentShare> = agents
            .iter()
            .map(|&agent_id| {
                let sealed = random_blob(81);
                clear.add(&sealed);
                AgentShare { agent_id, sealed }
            })
            .collect();
        tx.split_key(*id, &wrapped, 2, &shares, 2).unwrap();
    }
    tx.commit().unwrap();
    store.checkpoint().unwrap();
    store.backup(&backups.join("after.bak")).unwrap();

    for path in files_in(&data) {
        clear.assert_absent(&path);
        old_ciphertexts.assert_absent(&path);
    }
    clear.assert_absent(&backups.join("after.bak"));
    old_ciphertexts.assert_absent(&backups.join("after.bak"));
    drop(store);
    for path in files_in(&data) {
        clear.assert_absent(&path);
        old_ciphertexts.assert_absent(&path);
    }
}
