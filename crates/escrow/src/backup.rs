//! Encrypted backups: a SQLite image of the store made in memory (SQLite's online backup, or
//! on PostgreSQL the rows read in one snapshot by `db::copy` into a migrated in-memory SQLite
//! database), streamed out as one chunked, authenticated file (no plaintext temporary on
//! disk): one format for both backends. `verify_backup`, `restore` (a new SQLite store) and
//! `restore_into_database` (an empty PostgreSQL database) check every chunk and every key
//! first.
//!
//! File layout (integers big-endian):
//!
//! ```text
//! magic "KMSESCROWBACKUP\0" (16) | format version u16 = 1 | header length u32 | header
//! | SHA-256(everything before it) (32)  -- the "header hash"
//! | chunk 0 | chunk 1 | ... | chunk n-1
//!
//! header = store id (16) | schema version u32 | database length u64 | chunk size u32
//!        | salt (32) | wrap count u16 | wraps (the store's unlock_methods rows, already
//!          encrypted: id i64, kind u8, label, key-file id, Argon2 m/t/p, salt, nonce, wrap)
//! chunk i = AES-256-GCM(backup key, nonce = i as u64 || 0 0 0 || last-flag,
//!                       aad = "kms-escrow/v1/backup-chunk" || header hash, database bytes)
//! backup key = HKDF-SHA256(ikm = master key, salt = header salt, info = "kms-escrow/v1/backup-encryption")
//! ```
//!
//! A header listing more than 64 wraps, or asking for more Argon2 work in all than one wrap at
//! the per-wrap limits (1 GiB x 64 passes), is refused (`ESCROW-030`) before any derivation.
//!
//! Every chunk is the chunk size except the last; the chunk index and the final flag in the
//! nonce make reordering, truncation and appending detectable, and the header hash in every
//! chunk's associated data binds the header (wraps included) to the content. The plain SHA-256
//! tells accidental header damage apart from a wrong password.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::Duration;

use db::{Backend, Connection, PgConfig};
use rusqlite::backup::{Backup, StepResult};
use sha2::{Digest, Sha256};

use crate::crypto::{Aad, NONCE_LEN, TAG_LEN};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::keyfile::KEY_FILE_ID_LEN;
use crate::master::{self, Argon2Params, Credential, MasterKey, MethodKind, WrapRecord, hex};
use crate::migrate;
use crate::secret::random_array;
use crate::store::{self, DB_FILE_NAME, STORE_ID_LEN, UnlockedStore};

const MAGIC: &[u8; 16] = b"KMSESCROWBACKUP\0";
const FORMAT_VERSION: u16 = 1;
/// Plaintext bytes per chunk (1 MiB): memory use of backup, verify and restore.
const CHUNK_SIZE: u32 = 1 << 20;
const MIN_CHUNK_SIZE: u32 = 256;
const MAX_CHUNK_SIZE: u32 = 64 << 20;
const MAX_HEADER_LEN: u32 = 1 << 20;
const SALT_LEN: usize = 32;
const CHUNK_AAD_LABEL: &str = "kms-escrow/v1/backup-chunk";
const PREFIX_LEN: usize = MAGIC.len() + 2 + 4;

/// What a backup holds (from `backup`, `verify_backup` or `restore`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The backed-up store's id (hex).
    pub store_id: String,
    /// Its schema version.
    pub schema_version: u32,
    /// Escrowed keys (decrypted and authenticated, for `verify_backup` and `restore`).
    pub keys: u64,
    /// Distinct key owners.
    pub owners: u64,
    /// Unlock methods carried in the backup.
    pub unlock_methods: u64,
    /// Size of the SQLite database inside, in bytes.
    pub database_bytes: u64,
}

struct Header {
    store_id: [u8; STORE_ID_LEN],
    schema_version: u32,
    database_len: u64,
    chunk_size: u32,
    salt: [u8; SALT_LEN],
    wraps: Vec<WrapRecord>,
}

impl Header {
    fn chunk_count(&self) -> u64 {
        self.database_len
            .div_ceil(u64::from(self.chunk_size))
            .max(1)
    }

    fn chunk_len(&self, index: u64) -> usize {
        let start = index * u64::from(self.chunk_size);
        let len = (self.database_len - start).min(u64::from(self.chunk_size));
        usize::try_from(len).expect("chunk size fits in usize")
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&self.store_id);
        out.extend_from_slice(&self.schema_version.to_be_bytes());
        out.extend_from_slice(&self.database_len.to_be_bytes());
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        out.extend_from_slice(&self.salt);
        let count = u16::try_from(self.wraps.len()).expect("fewer than 65536 unlock methods");
        out.extend_from_slice(&count.to_be_bytes());
        for w in &self.wraps {
            out.extend_from_slice(&w.id.to_be_bytes());
            out.push(match w.kind {
                MethodKind::Password => 1,
                MethodKind::KeyFile => 2,
            });
            put_bytes(&mut out, w.label.as_bytes());
            match &w.key_file_id {
                Some(id) => {
                    out.push(1);
                    out.extend_from_slice(id);
                }
                None => out.push(0),
            }
            match &w.argon2 {
                Some(p) => {
                    out.push(1);
                    for v in [p.m_kib, p.t, p.p] {
                        out.extend_from_slice(&v.to_be_bytes());
                    }
                }
                None => out.push(0),
            }
            put_bytes(&mut out, &w.salt);
            out.extend_from_slice(&w.nonce);
            put_bytes(&mut out, &w.wrapped);
        }
        out
    }

    fn decode(body: &[u8]) -> Option<Header> {
        let mut r = Cursor(body);
        let store_id = r.array()?;
        let schema_version = u32::from_be_bytes(r.array()?);
        let database_len = u64::from_be_bytes(r.array()?);
        let chunk_size = u32::from_be_bytes(r.array()?);
        let salt = r.array()?;
        let count = u16::from_be_bytes(r.array()?);
        let mut wraps = Vec::with_capacity(usize::from(count.min(64)));
        for _ in 0..count {
            let id = i64::from_be_bytes(r.array()?);
            let kind = match r.array::<1>()?[0] {
                1 => MethodKind::Password,
                2 => MethodKind::KeyFile,
                _ => return None,
            };
            let label = String::from_utf8(r.bytes()?.to_vec()).ok()?;
            let key_file_id = match r.array::<1>()?[0] {
                0 => None,
                1 => Some(r.array::<KEY_FILE_ID_LEN>()?),
                _ => return None,
            };
            let argon2 = match r.array::<1>()?[0] {
                0 => None,
                1 => Some(Argon2Params::new(
                    u32::from_be_bytes(r.array()?),
                    u32::from_be_bytes(r.array()?),
                    u32::from_be_bytes(r.array()?),
                )),
                _ => return None,
            };
            let salt = r.bytes()?.to_vec();
            let nonce = r.array::<NONCE_LEN>()?;
            let wrapped = r.bytes()?.to_vec();
            wraps.push(WrapRecord {
                id,
                kind,
                label,
                key_file_id,
                argon2,
                salt,
                nonce,
                wrapped,
            });
        }
        if !r.0.is_empty() {
            return None;
        }
        Some(Header {
            store_id,
            schema_version,
            database_len,
            chunk_size,
            salt,
            wraps,
        })
    }
}

/// Most unlock methods (wraps) a backup header may list.
pub(crate) const MAX_WRAPS: usize = 64;
/// Most Argon2 work a backup header may ask for in all, summed over its password wraps, in
/// KiB of memory times passes: as much as one wrap at the per-wrap limits (1 GiB, 64 passes).
pub(crate) const MAX_TOTAL_COST_KIB_PASSES: u64 =
    Argon2Params::MAX_M_KIB as u64 * Argon2Params::MAX_T as u64;

/// Refuses a header that lists too many wraps or asks for too much Argon2 work (each wrap
/// within the per-wrap limits, and the total within [`MAX_TOTAL_COST_KIB_PASSES`]), before
/// any key derivation runs: an edited header must not buy hours of CPU or gigabytes of memory.
fn check_derivation_cost(path: &Path, wraps: &[WrapRecord]) -> Result<()> {
    const GIB_KIB: u64 = 1024 * 1024;
    let mut total: u64 = 0;
    let mut per_wrap_ok = true;
    for w in wraps {
        if let Some(p) = &w.argon2 {
            per_wrap_ok &= p.validate().is_ok();
            total = total.saturating_add(u64::from(p.m_kib).saturating_mul(u64::from(p.t)));
        }
    }
    if wraps.len() > MAX_WRAPS || total > MAX_TOTAL_COST_KIB_PASSES || !per_wrap_ok {
        return Err(Error::BackupTooCostly {
            path: path.to_path_buf(),
            wraps: wraps.len(),
            cost_gib_passes: total.div_ceil(GIB_KIB),
            max_wraps: MAX_WRAPS,
            max_cost_gib_passes: MAX_TOTAL_COST_KIB_PASSES / GIB_KIB,
        });
    }
    Ok(())
}

/// Name prefixes of this crate's temporary files (backup copies and `.part` files, restore
/// and verify copies): files so named in a backup folder or a data directory are leftovers
/// of an interrupted operation.
pub const TEMP_PREFIXES: [&str; 3] = [".escrow-backup-", ".escrow-restore-", ".escrow-verify-"];

/// Removes the leftovers of interrupted backups, restores and verifications from `dir`
/// (files named with a [`TEMP_PREFIXES`] prefix, with their SQLite `-journal`/`-wal`/`-shm`
/// companions); returns how many were removed. A missing `dir` has none. Call it only where
/// no such operation runs at the same time (at unlock, and under the lock that backups take).
pub fn sweep_temporaries(dir: &Path) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io("read directory", dir, e)),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !TEMP_PREFIXES.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            tracing::info!(path = %path.display(), "removed the leftover of an interrupted backup or restore");
            removed += 1;
        }
    }
    if removed > 0 {
        fsutil::sync_dir(dir)?;
    }
    Ok(removed)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).expect("header fields are short");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = u16::from_be_bytes(self.array()?);
        self.take(usize::from(len))
    }
}

fn chunk_nonce(index: u64, last: bool) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..8].copy_from_slice(&index.to_be_bytes());
    nonce[NONCE_LEN - 1] = u8::from(last);
    nonce
}

fn chunk_aad(header_hash: &[u8]) -> Aad {
    let mut aad = Aad::new(CHUNK_AAD_LABEL);
    aad.bytes(header_hash);
    aad
}

impl UnlockedStore {
    /// Writes an encrypted, authenticated backup of the whole store to `dest` (which must not
    /// exist), while the store stays usable.
    ///
    /// The SQLite copy is made with the online backup API into memory (memory use: the size
    /// of the database); a store on PostgreSQL is read in one snapshot (`SERIALIZABLE`, read
    /// again if it lost a serialization race) into a migrated in-memory SQLite database with
    /// [`db::copy_database`], every table verified, the CRL bytes (`crl_blobs`) left out (the
    /// authority re-signs at unlock). Either image is encrypted in 1 MiB chunks as it is written to a `.part` file beside
    /// `dest` (mode 0600, ciphertext only), which becomes `dest` atomically; leftovers of an
    /// interrupted backup in that folder are swept first ([`sweep_temporaries`]). `dest` opens
    /// with the same passwords and key files as the store.
    pub fn backup(&self, dest: &Path) -> Result<BackupReport> {
        self.backup_chunked(dest, CHUNK_SIZE)
    }

    fn backup_chunked(&self, dest: &Path, chunk_size: u32) -> Result<BackupReport> {
        if dest.exists() {
            return Err(Error::FileExists {
                path: dest.to_path_buf(),
            });
        }
        let dir = fsutil::parent_dir(dest);
        // Leftovers of a backup killed earlier (a `.part` of ciphertext, or a plaintext copy
        // written by an older version) go first.
        sweep_temporaries(&dir)?;

        // 1. A consistent copy into memory: no plaintext copy of the database ever lies on
        //    disk, so a crash leaves nothing readable. SQLite: the online backup API;
        //    PostgreSQL: the rows read in one snapshot into a migrated in-memory SQLite
        //    database (`db::copy`), so the file is the same format for both backends.
        let (mut dst, schema_version, wraps, keys, owners) = {
            let dst = match self.store().backend() {
                Backend::Sqlite => {
                    let mut raw = rusqlite::Connection::open_in_memory()?;
                    {
                        let backup = Backup::new(sqlite(self.store().conn())?, &mut raw)?;
                        loop {
                            match backup.step(1024)? {
                                StepResult::Done => break,
                                StepResult::More => {}
                                _ => std::thread::sleep(Duration::from_millis(5)),
                            }
                        }
                    }
                    Connection::from_rusqlite(raw)?
                }
                Backend::Postgres => image_of_database(self.store().conn())?,
            };
            let check: String = dst.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
            if check != "ok" {
                return Err(Error::corrupt(format!(
                    "the backup copy failed SQLite's quick_check: {check}"
                )));
            }
            let schema_version = migrate::check(&dst)?;
            let wraps = store::load_wraps(&dst)?;
            let (keys, owners): (i64, i64) = dst.query_row(
                "SELECT count(*), count(DISTINCT owner) FROM escrowed_keys",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            (dst, schema_version, wraps, keys, owners)
        };
        let image = dst
            .as_sqlite_mut()
            .ok_or_else(sqlite_only)?
            .serialize(rusqlite::MAIN_DB)?;
        // The image keeps the live file's WAL flag (bytes 18 and 19 of the header); a restored
        // copy is switched to rollback-journal mode when opened, as before.
        let database_len = image.len() as u64;

        // 2. Stream it out, encrypted.
        let header = Header {
            store_id: *self.store().store_id_bytes(),
            schema_version,
            database_len,
            chunk_size,
            salt: random_array()?,
            wraps,
        };
        let mut out = fsutil::temp_in(&dir, ".escrow-backup-", ".part")?;
        let out_path = out.path().to_path_buf();
        let io_err = |e| Error::io("write", &out_path, e);
        {
            let mut w = BufWriter::with_capacity(1 << 16, out.as_file_mut());
            let body = header.encode();
            let mut prefix = Vec::with_capacity(PREFIX_LEN + body.len());
            prefix.extend_from_slice(MAGIC);
            prefix.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
            let body_len = u32::try_from(body.len()).expect("header is small");
            prefix.extend_from_slice(&body_len.to_be_bytes());
            prefix.extend_from_slice(&body);
            let header_hash = Sha256::digest(&prefix);
            w.write_all(&prefix).map_err(io_err)?;
            w.write_all(&header_hash).map_err(io_err)?;

            let cipher = self.master().backup_cipher(&header.salt);
            let aad = chunk_aad(&header_hash);
            let mut src: &[u8] = &image;
            let n = header.chunk_count();
            let mut buf = Vec::with_capacity(chunk_size as usize + TAG_LEN);
            for i in 0..n {
                buf.clear();
                let (chunk, rest) = src.split_at(header.chunk_len(i).min(src.len()));
                buf.extend_from_slice(chunk);
                src = rest;
                cipher.seal_in_place(&chunk_nonce(i, i + 1 == n), aad.as_slice(), &mut buf)?;
                w.write_all(&buf).map_err(io_err)?;
            }
            w.flush().map_err(io_err)?;
        }
        drop(image);
        drop(dst);
        fsutil::persist_new(out, dest)?;
        let report = BackupReport {
            store_id: hex(&header.store_id),
            schema_version,
            keys: u64::try_from(keys).unwrap_or(0),
            owners: u64::try_from(owners).unwrap_or(0),
            unlock_methods: header.wraps.len() as u64,
            database_bytes: database_len,
        };
        tracing::info!(
            path = %dest.display(),
            keys = report.keys,
            bytes = report.database_bytes,
            "wrote encrypted backup"
        );
        Ok(report)
    }
}

/// Reads and authenticates the whole backup at `path`, decrypting the database into `out`.
/// Where `decrypt_backup` gets the master key: from an unlock secret, or from the unlocked
/// store the backup was made of.
enum KeySource<'a> {
    Credential(&'a Credential),
    Master(&'a MasterKey, &'a [u8]),
}

fn decrypt_backup(
    path: &Path,
    source: KeySource<'_>,
    out: &mut File,
) -> Result<(Header, Option<MasterKey>)> {
    let bad = |problem: String| Error::backup(path, problem);
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut r = BufReader::with_capacity(1 << 16, file);
    let read = |r: &mut BufReader<File>, buf: &mut [u8], what: &str| -> Result<()> {
        r.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                Error::backup(path, format!("truncated: {what} is missing or short"))
            } else {
                Error::io("read", path, e)
            }
        })
    };

    let mut prefix = [0u8; PREFIX_LEN];
    read(&mut r, &mut prefix, "the header")?;
    if &prefix[..MAGIC.len()] != MAGIC {
        return Err(bad("not an escrow backup (wrong magic bytes)".into()));
    }
    let version = u16::from_be_bytes([prefix[16], prefix[17]]);
    if version != FORMAT_VERSION {
        return Err(bad(format!(
            "unsupported backup format version {version} (this program reads version {FORMAT_VERSION})"
        )));
    }
    let body_len = u32::from_be_bytes([prefix[18], prefix[19], prefix[20], prefix[21]]);
    if body_len > MAX_HEADER_LEN {
        return Err(bad("corrupted: the header length is implausible".into()));
    }
    let mut body = vec![0u8; body_len as usize];
    read(&mut r, &mut body, "the header")?;
    let mut stored_hash = [0u8; 32];
    read(&mut r, &mut stored_hash, "the header checksum")?;
    let header_hash = Sha256::new()
        .chain_update(prefix)
        .chain_update(&body)
        .finalize();
    if header_hash[..] != stored_hash {
        return Err(bad(
            "header checksum mismatch: the backup is corrupted".into()
        ));
    }
    let header = Header::decode(&body).ok_or_else(|| bad("the header is malformed".into()))?;
    check_derivation_cost(path, &header.wraps)?;
    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&header.chunk_size) || header.database_len == 0 {
        return Err(bad("the header is malformed (chunk size or length)".into()));
    }

    let owned = match source {
        KeySource::Credential(credential) => {
            Some(master::unlock(&header.wraps, &header.store_id, credential)?.0)
        }
        KeySource::Master(_, store_id) => {
            if store_id != header.store_id {
                return Err(bad("the backup is of another store".into()));
            }
            None
        }
    };
    let master = match (&owned, &source) {
        (Some(m), _) => m,
        (None, KeySource::Master(m, _)) => *m,
        (None, KeySource::Credential(_)) => unreachable!("a credential always yields a key"),
    };
    let cipher = master.backup_cipher(&header.salt);
    let aad = chunk_aad(&header_hash);
    let n = header.chunk_count();
    let mut buf = Vec::with_capacity(header.chunk_size as usize + TAG_LEN);
    for i in 0..n {
        buf.clear();
        buf.resize(header.chunk_len(i) + TAG_LEN, 0);
        read(&mut r, &mut buf, &format!("chunk {} of {n}", i + 1))?;
        if !cipher.open_in_place(&chunk_nonce(i, i + 1 == n), aad.as_slice(), &mut buf) {
            return Err(bad(format!(
                "chunk {} of {n} failed authentication: the backup was altered, reordered or \
                 corrupted",
                i + 1
            )));
        }
        out.write_all(&buf)
            .map_err(|e| Error::io("write", "the temporary restore file", e))?;
    }
    let mut extra = [0u8; 1];
    match r.read(&mut extra) {
        Ok(0) => {}
        Ok(_) => return Err(bad("unexpected data after the last chunk".into())),
        Err(e) => return Err(Error::io("read", path, e)),
    }
    out.sync_all()
        .map_err(|e| Error::io("fsync", "the temporary restore file", e))?;
    Ok((header, owned))
}

/// Checks a decrypted database against its header and decrypts every key in it.
fn check_database(
    backup_path: &Path,
    db_path: &Path,
    header: &Header,
    master: &MasterKey,
) -> Result<BackupReport> {
    let bad = |problem: &str| Error::backup(backup_path, problem);
    let conn = Connection::open_sqlite(db_path)?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(bad("the database inside failed SQLite's integrity check"));
    }
    let schema_version = migrate::check(&conn)?;
    if schema_version != header.schema_version {
        return Err(bad(
            "the header and the database disagree on the schema version",
        ));
    }
    let store_id: Vec<u8> =
        conn.query_row("SELECT store_id FROM store_meta WHERE id = 1", [], |r| {
            r.get(0)
        })?;
    if store_id != header.store_id {
        return Err(bad("the header and the database disagree on the store id"));
    }
    if store::load_wraps(&conn)? != header.wraps {
        return Err(bad(
            "the header and the database disagree on the unlock methods",
        ));
    }
    let counts = store::verify_keys(&conn, &master.row_cipher())?;
    drop(conn);
    Ok(BackupReport {
        store_id: hex(&header.store_id),
        schema_version,
        keys: counts.keys,
        owners: counts.owners,
        unlock_methods: header.wraps.len() as u64,
        database_bytes: header.database_len,
    })
}

/// Checks the backup at `path` completely with `credential`: every chunk is authenticated,
/// the database inside passes SQLite's integrity check, and every escrowed key decrypts.
///
/// The database is decrypted into a temporary file in the system temporary directory (its
/// rows stay encrypted), removed before returning.
pub fn verify_backup(path: &Path, credential: &Credential) -> Result<BackupReport> {
    let mut temp = tempfile::Builder::new()
        .prefix(".escrow-verify-")
        .suffix(".db")
        .tempfile()
        .map_err(|e| Error::io("create a temporary file in", std::env::temp_dir(), e))?;
    let (header, master) =
        decrypt_backup(path, KeySource::Credential(credential), temp.as_file_mut())?;
    let master = master.ok_or_else(|| Error::backup(path, "no master key"))?;
    let report = check_database(path, temp.path(), &header, &master)?;
    tracing::info!(path = %path.display(), keys = report.keys, "verified backup");
    Ok(report)
}

impl UnlockedStore {
    /// Checks a backup of this very store completely, as [`verify_backup`] does, with the
    /// master key already in memory (no password or key file needed), and hands the checked
    /// copy of the database to `inspect` (read-only use) before it is removed.
    pub fn verify_own_backup<T>(
        &self,
        path: &Path,
        inspect: impl FnOnce(&Connection) -> T,
    ) -> Result<(BackupReport, T)> {
        // In the data directory (0700), where an interrupted check's copy is swept at unlock.
        let mut temp = fsutil::temp_in(self.store().data_dir(), ".escrow-verify-", ".db")?;
        let store_id: Vec<u8> = self.store().connection().query_row(
            "SELECT store_id FROM store_meta WHERE id = 1",
            [],
            |r| r.get(0),
        )?;
        let (header, _) = decrypt_backup(
            path,
            KeySource::Master(self.master(), &store_id),
            temp.as_file_mut(),
        )?;
        let report = check_database(path, temp.path(), &header, self.master())?;
        let conn = Connection::open_sqlite(temp.path())?;
        let t = inspect(&conn);
        drop(conn);
        tracing::info!(path = %path.display(), keys = report.keys, "verified backup");
        Ok((report, t))
    }
}

impl UnlockedStore {
    /// Restores a backup of this very store over the live database, in place, through the
    /// open connection (so every handle on this store sees the restored content).
    ///
    /// In order, stopping at the first failure: the backup is checked completely with the
    /// master key in memory (as [`UnlockedStore::verify_own_backup`]) into a temporary file in
    /// the data directory; a safety backup of the live store is written to `safety` (which
    /// must not exist); then SQLite's online backup copies the checked database over the
    /// live one in one step (one write transaction: a failure leaves the live database as it
    /// was); pending migrations are applied to the restored schema. Returns the reports of
    /// the restored backup and of the safety backup.
    ///
    /// SQLite only: a store on PostgreSQL is refused (nothing written) with an error naming
    /// the offline way, [`restore_into_database`] (`kmsd restore BACKUP --database URL`)
    /// into an empty database with every node stopped.
    pub fn restore_own_backup(
        &mut self,
        path: &Path,
        safety: &Path,
    ) -> Result<(BackupReport, BackupReport)> {
        self.restore_own_backup_with(path, safety, |_, _| Ok(()))
    }

    /// [`UnlockedStore::restore_own_backup`], with `prepare` run on the checked copy before
    /// it replaces the live database: the copy is migrated to the current schema first, and
    /// `prepare` gets it (to write, inside one transaction it commits itself) and the live
    /// database (to read). What `prepare` writes (state carried over from the live store, the
    /// caller's own audit entry) is therefore in place in the same single step as the rest of
    /// the restore, or not at all; a failure of `prepare` leaves the live store unchanged.
    pub fn restore_own_backup_with(
        &mut self,
        path: &Path,
        safety: &Path,
        prepare: impl FnOnce(&Connection, &Connection) -> db::Result<()>,
    ) -> Result<(BackupReport, BackupReport)> {
        if self.store().backend() == Backend::Postgres {
            return Err(Error::invalid(
                "restore",
                "a backup is not restored over a live PostgreSQL store: stop every node, \
                 then `kmsd restore BACKUP --database URL --data-dir NODE_DIR` into an empty \
                 database (the nodes then serve from it)",
            ));
        }
        let dir = self.store().data_dir().to_path_buf();
        let mut temp = fsutil::temp_in(&dir, ".escrow-restore-", ".db")?;
        let store_id: Vec<u8> = self.store().connection().query_row(
            "SELECT store_id FROM store_meta WHERE id = 1",
            [],
            |r| r.get(0),
        )?;
        let (header, _) = decrypt_backup(
            path,
            KeySource::Master(self.master(), &store_id),
            temp.as_file_mut(),
        )?;
        let report = check_database(path, temp.path(), &header, self.master())?;
        let safety_report = self.backup(safety)?;
        let src = Connection::open_sqlite(temp.path())?;
        crate::migrate::migrate(&src)?;
        prepare(&src, self.store().connection())?;
        {
            let live = self
                .connection_mut()
                .as_sqlite_mut()
                .ok_or_else(sqlite_only)?;
            let copy = Backup::new(sqlite(&src)?, live)?;
            match copy.step(-1)? {
                StepResult::Done => {}
                other => {
                    return Err(Error::corrupt(format!(
                        "restoring {}: the database copy stopped ({other:?}); the live store is unchanged",
                        path.display()
                    )));
                }
            }
        }
        drop(src);
        crate::migrate::migrate(self.store().conn())?;
        tracing::info!(
            path = %path.display(),
            safety = %safety.display(),
            keys = report.keys,
            "restored a backup over the live store"
        );
        Ok((report, safety_report))
    }
}

/// Restores the backup at `path` into `new_data_dir` (missing or empty), after checking it
/// completely with `credential` exactly as [`verify_backup`] does.
///
/// Nothing but a private (0700) `new_data_dir` is written unless the whole backup checks
/// out: the database is decrypted into a temporary file inside it and renamed into place at
/// the end. A restore killed half-way leaves at most that temporary in the private directory
/// (never in a shared parent); it is swept by the next restore into the same directory or by
/// the next unlock. A directory this call made is removed again if the backup is refused.
/// The restored store keeps the store id, the unlock methods (the same passwords and key
/// files open it) and every key id.
pub fn restore(path: &Path, credential: &Credential, new_data_dir: &Path) -> Result<BackupReport> {
    let parent = fsutil::parent_dir(new_data_dir);
    // Leftovers of restores made before temporaries moved inside the new directory: best
    // effort, the parent is not ours to fail on.
    if let Err(e) = sweep_temporaries(&parent) {
        tracing::warn!(error = %e, "could not sweep old restore leftovers beside the new data directory");
    }
    let existed = new_data_dir.exists();
    if existed {
        sweep_temporaries(new_data_dir)?;
    }
    if !fsutil::is_missing_or_empty_dir(new_data_dir)? {
        return Err(Error::NotEmpty {
            path: new_data_dir.to_path_buf(),
        });
    }
    fsutil::create_private_dir(new_data_dir)?;
    let result = restore_into(path, credential, new_data_dir);
    if result.is_err() && !existed {
        // Refused: leave nothing behind (the temporary is gone with its handle).
        let _ = std::fs::remove_dir(new_data_dir);
    }
    result
}

fn restore_into(path: &Path, credential: &Credential, new_data_dir: &Path) -> Result<BackupReport> {
    let mut temp = fsutil::temp_in(new_data_dir, ".escrow-restore-", ".db")?;
    let (header, master) =
        decrypt_backup(path, KeySource::Credential(credential), temp.as_file_mut())?;
    let master = master.ok_or_else(|| Error::backup(path, "no master key"))?;
    let report = check_database(path, temp.path(), &header, &master)?;
    fsutil::persist_new(temp, &new_data_dir.join(DB_FILE_NAME))?;
    fsutil::sync_dir(&fsutil::parent_dir(new_data_dir))?;
    tracing::info!(
        path = %path.display(),
        into = %new_data_dir.display(),
        keys = report.keys,
        "restored backup"
    );
    Ok(report)
}

/// Restores the backup at `path` into the EMPTY PostgreSQL database `config` names (every
/// node stopped), after checking it completely with `credential` exactly as [`verify_backup`]
/// does; `node_dir` (missing or empty, made private 0700) is the node's own directory.
///
/// The database is refused before the backup is even read unless it could hold a new store
/// ([`crate::Store::init_database`]'s checks: the C collation, nothing but a fresh migration
/// of ours). The backup is decrypted and checked into a temporary SQLite file inside
/// `node_dir` (rows still encrypted; removed before returning), brought to the current
/// schema, and copied into the freshly migrated database with [`db::copy_database`]: one
/// transaction, every table verified (row count and SHA-256) before the commit, ids and CRL
/// numbers kept. A refusal or failure leaves the database without a store (at most migrated)
/// and removes a `node_dir` this call made. The restored store keeps the store id and the
/// unlock methods; the CRLs are re-signed at the first unlock.
pub fn restore_into_database(
    path: &Path,
    credential: &Credential,
    config: &PgConfig,
    node_dir: &Path,
) -> Result<(BackupReport, db::CopyReport)> {
    let existed = node_dir.exists();
    if existed {
        sweep_temporaries(node_dir)?;
    }
    if !fsutil::is_missing_or_empty_dir(node_dir)? {
        return Err(Error::NotEmpty {
            path: node_dir.to_path_buf(),
        });
    }
    let pg = Connection::connect_postgres(config)?;
    store::check_new_database(&pg, config)?;
    fsutil::create_private_dir(node_dir)?;
    let result = (|| {
        let mut temp = fsutil::temp_in(node_dir, ".escrow-restore-", ".db")?;
        let (header, master) =
            decrypt_backup(path, KeySource::Credential(credential), temp.as_file_mut())?;
        let master = master.ok_or_else(|| Error::backup(path, "no master key"))?;
        let report = check_database(path, temp.path(), &header, &master)?;
        let src = Connection::open_sqlite(temp.path())?;
        migrate::migrate(&src)?;
        migrate::migrate(&pg)?;
        let copied = db::copy_database(&src, &pg, |_, _| {})?;
        drop(src);
        drop(temp);
        Ok((report, copied))
    })();
    match &result {
        Ok((report, copied)) => tracing::info!(
            path = %path.display(),
            database = %config,
            keys = report.keys,
            tables = copied.tables.len(),
            "restored backup into the database"
        ),
        Err(_) if !existed => {
            let _ = std::fs::remove_dir(node_dir);
        }
        Err(_) => {}
    }
    result
}

/// The whole PostgreSQL store under `src`, read in one snapshot, in a private in-memory
/// SQLite database migrated to the same schema (the two migration folders share their
/// numbers): what a backup of a PostgreSQL store encrypts. A snapshot that lost a
/// serialization race is read again (three attempts).
fn image_of_database(src: &Connection) -> Result<Connection> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let raw = rusqlite::Connection::open_in_memory()?;
        store::configure(&raw)?;
        let mem = Connection::from_rusqlite(raw)?;
        migrate::migrate(&mem)?;
        match db::copy_database(src, &mem, |_, _| {}) {
            Ok(report) => {
                tracing::debug!(
                    tables = report.tables.len(),
                    skipped = ?report.skipped,
                    "read the database's rows for a backup"
                );
                return Ok(mem);
            }
            Err(e) if e.kind() == db::ErrorKind::Retry && attempt < 3 => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Password;
    use crate::store::{InitOptions, KeyUsage, NewKey, Store};

    const CHEAP: Argon2Params = Argon2Params::new(64, 1, 1);

    fn store_with_keys(dir: &Path, n: usize) -> UnlockedStore {
        let mut store = Store::init(
            dir,
            &InitOptions {
                password: Some(Password::new("pw")),
                key_file: None,
                argon2: CHEAP,
            },
        )
        .unwrap();
        let blobs: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 1200]).collect();
        let keys: Vec<NewKey<'_>> = blobs
            .iter()
            .enumerate()
            .map(|(i, b)| NewKey {
                owner: if i % 2 == 0 { "alice" } else { "bob" },
                usage: KeyUsage::Encryption,
                private_key_der: b,
                certificate_der: None,
                created_at: 1_700_000_000,
            })
            .collect();
        store.escrow_batch(&keys).unwrap();
        store
    }

    /// Offsets of each chunk in a backup file written with `chunk_size`.
    fn chunk_offsets(bytes: &[u8]) -> (usize, Vec<(usize, usize)>) {
        let body_len = u32::from_be_bytes(bytes[18..22].try_into().unwrap()) as usize;
        let header = Header::decode(&bytes[PREFIX_LEN..PREFIX_LEN + body_len]).unwrap();
        let start = PREFIX_LEN + body_len + 32;
        let mut out = Vec::new();
        let mut pos = start;
        for i in 0..header.chunk_count() {
            let len = header.chunk_len(i) + TAG_LEN;
            out.push((pos, len));
            pos += len;
        }
        assert_eq!(pos, bytes.len());
        (start, out)
    }

    // SQLite only: the chunk layout does not depend on the backend (PostgreSQL's round
    // trip is in tests/it/postgres.rs).
    #[test]
    fn multi_chunk_backups_detect_reorder_truncation_and_extension() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_keys(&dir.path().join("data"), 40);
        let path = dir.path().join("b.bak");
        store.backup_chunked(&path, 4096).unwrap();
        let cred = Credential::password("pw");
        let report = verify_backup(&path, &cred).unwrap();
        assert_eq!((report.keys, report.owners), (40, 2));

        let good = std::fs::read(&path).unwrap();
        let (_, chunks) = chunk_offsets(&good);
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());

        let mut variants: Vec<(&str, Vec<u8>)> = Vec::new();
        // Swap chunks 1 and 2 (same length).
        let mut swapped = good.clone();
        let (a, la) = chunks[1];
        let (b, lb) = chunks[2];
        assert_eq!(la, lb);
        swapped[a..a + la].copy_from_slice(&good[b..b + lb]);
        swapped[b..b + lb].copy_from_slice(&good[a..a + la]);
        variants.push(("swapped", swapped));
        // Drop the last chunk exactly at a chunk boundary.
        let (last, _) = *chunks.last().unwrap();
        variants.push(("truncated at boundary", good[..last].to_vec()));
        // Drop a middle chunk.
        let mut dropped = good[..a].to_vec();
        dropped.extend_from_slice(&good[a + la..]);
        variants.push(("middle chunk dropped", dropped));
        // Append garbage.
        let mut longer = good.clone();
        longer.extend_from_slice(b"x");
        variants.push(("extended", longer));
        // Flip a byte in the header hash.
        let mut header_flip = good.clone();
        header_flip[chunks[0].0 - 1] ^= 1;
        variants.push(("header hash flipped", header_flip));

        for (name, bytes) in variants {
            let p = dir.path().join(format!("{name}.bak"));
            std::fs::write(&p, &bytes).unwrap();
            let err = verify_backup(&p, &cred).unwrap_err();
            assert!(matches!(err, Error::BackupInvalid { .. }), "{name}: {err}");
            assert_eq!(err.code(), "ESCROW-013");
        }
    }

    #[test]
    fn header_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_keys(&dir.path().join("data"), 1);
        let wraps = store::load_wraps(store.store().conn()).unwrap();
        let h = Header {
            store_id: [3; 16],
            schema_version: 1,
            database_len: 12345,
            chunk_size: 4096,
            salt: [9; 32],
            wraps: wraps.clone(),
        };
        let back = Header::decode(&h.encode()).unwrap();
        assert_eq!(back.wraps, wraps);
        assert_eq!(back.database_len, 12345);
        assert_eq!(back.chunk_count(), 4);
        assert_eq!(back.chunk_len(3), 12345 - 3 * 4096);
        let mut long = h.encode();
        long.push(0);
        assert!(Header::decode(&long).is_none());
    }
}

/// The SQLite connection under `conn`: backups and restores of a store copy SQLite's database
/// image.
fn sqlite(conn: &Connection) -> Result<&rusqlite::Connection> {
    conn.as_sqlite().ok_or_else(sqlite_only)
}

fn sqlite_only() -> Error {
    Error::invalid(
        "backend",
        "this operation copies a SQLite database image; the store is on PostgreSQL",
    )
}
