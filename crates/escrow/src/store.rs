//! The store: creating, opening and unlocking it, escrowing and reading keys, and managing the
//! unlock methods (each change re-wraps only the master key, in one transaction).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use db::{Backend, Backoff, Connection, ErrorKind, OptionalExtension, PgConfig, Row, params};
use rusqlite::OpenFlags;

use crate::crypto::{Aad, Aead, NONCE_LEN};
use crate::durable::GroupSync;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::keyfile::{KEY_FILE_ID_LEN, KeyFile};
use crate::master::{
    self, Argon2Params, Credential, MasterKey, MethodKind, PreparedKek, WrapRecord, hex,
};
use crate::migrate;
use crate::secret::{Password, SecretBytes, random_array};
use crate::tx::EscrowTx;

/// The database's file name inside the data directory.
pub const DB_FILE_NAME: &str = "escrow.db";

/// Length of the random store id.
pub(crate) const STORE_ID_LEN: usize = 16;

/// Largest owner accepted (bytes of UTF-8).
pub const MAX_OWNER_LEN: usize = 1024;
/// Largest private key accepted (bytes of DER): far above RSA-16384 in PKCS#8.
pub const MAX_KEY_LEN: usize = 64 * 1024;
/// Largest certificate accepted (bytes of DER).
pub const MAX_CERT_LEN: usize = 256 * 1024;

/// Domain label of an escrowed key's associated data.
const ROW_AAD_LABEL: &str = "kms-escrow/v1/escrowed-key";
/// The row encryption scheme written by this version (column `scheme`).
const ROW_SCHEME: i64 = 1;
/// An agent-split row: under the master key, the key wrapped under a wrap key that only the
/// agents' shares rebuild (see `crate::agents`).
pub(crate) const ROW_SCHEME_SPLIT: i64 = 2;

/// The id of an escrowed key (stable; kept by backups and restores).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub i64);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The id of an unlock method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MethodId(pub i64);

impl fmt::Display for MethodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What an escrowed key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyUsage {
    /// A user's encryption key (the reason escrow exists).
    Encryption,
    /// A certification authority's signing key.
    Ca,
}

impl KeyUsage {
    /// The name stored in the database: `encryption` or `ca`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyUsage::Encryption => "encryption",
            KeyUsage::Ca => "ca",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "encryption" => Some(KeyUsage::Encryption),
            "ca" => Some(KeyUsage::Ca),
            _ => None,
        }
    }
}

impl fmt::Display for KeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key to escrow.
#[derive(Debug, Clone, Copy)]
pub struct NewKey<'a> {
    /// Whose key it is (an e-mail address or user id).
    pub owner: &'a str,
    /// What it is for.
    pub usage: KeyUsage,
    /// The private key, PKCS#8 DER (opaque to this crate). Borrowed: the caller keeps it in a
    /// zeroizing buffer.
    pub private_key_der: &'a [u8],
    /// The certificate issued for it, DER (public, stored in clear), if already issued.
    pub certificate_der: Option<&'a [u8]>,
    /// When the key was made, in seconds since the Unix epoch (the caller owns the clock).
    pub created_at: i64,
}

/// An escrowed key's metadata (nothing secret, nothing decrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Its id.
    pub id: KeyId,
    /// Whose key it is.
    pub owner: String,
    /// What it is for.
    pub usage: KeyUsage,
    /// When it was made (seconds since the Unix epoch), as given to `escrow`.
    pub created_at: i64,
    /// Whether a certificate is stored with it.
    pub has_certificate: bool,
}

/// An escrowed key, decrypted and authenticated.
#[derive(Debug)]
pub struct EscrowedKey {
    /// Its metadata.
    pub info: KeyInfo,
    /// The private key, PKCS#8 DER (zeroized on drop). Empty for an agent-split key: the
    /// store cannot open it (see `agent_split`).
    pub private_key_der: SecretBytes,
    /// Its certificate, DER, if one was stored.
    pub certificate_der: Option<Vec<u8>>,
    /// For an agent-split key: the key wrapped under a wrap key that only the agents' shares
    /// rebuild (`nonce || AES-256-GCM ciphertext`, opened by `pki::quorum::unwrap`); `None`
    /// for a key held under the master key only.
    pub agent_split: Option<SecretBytes>,
}

/// An unlock method as listed to operators (no secret material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnlockMethodInfo {
    /// Its id.
    pub id: MethodId,
    /// Password or key file.
    pub kind: MethodKind,
    /// A human label (`password`, `key file <id>`).
    pub label: String,
    /// For a key file: the public id written in the file (hex).
    pub key_file_id: Option<String>,
    /// For a password: the Argon2id parameters.
    pub argon2: Option<Argon2Params>,
    /// When it was added (seconds since the Unix epoch, database clock).
    pub created_at: i64,
}

/// Where `init` writes a key file, and optionally a second copy ("the second disk").
#[derive(Debug, Clone)]
pub struct KeyFileTargets {
    /// The key file.
    pub path: PathBuf,
    /// A copy with the same content, for another place.
    pub copy: Option<PathBuf>,
}

/// How to create a store.
#[derive(Debug, Default)]
pub struct InitOptions {
    /// A start-up password to unlock with.
    pub password: Option<Password>,
    /// A key file (and copy) to write and unlock with.
    pub key_file: Option<KeyFileTargets>,
    /// Argon2id parameters for the password ([`Argon2Params::DEFAULT`] unless a test says
    /// otherwise).
    pub argon2: Argon2Params,
}

/// Summary of a full decryption pass over the escrowed keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCounts {
    /// Keys decrypted and authenticated.
    pub keys: u64,
    /// Distinct owners.
    pub owners: u64,
}

/// A store opened but locked: migrations applied, nothing secret loaded.
///
/// Metadata (the key list, the unlock methods) is readable; nothing can be decrypted or
/// escrowed until [`Store::unlock`].
pub struct Store {
    conn: Connection,
    dir: PathBuf,
    store_id: [u8; STORE_ID_LEN],
    /// The fsync point grouped commits share (see [`crate::durable`]).
    sync: std::sync::Arc<GroupSync>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("location", &self.location())
            .field("store_id", &hex(&self.store_id))
            .finish_non_exhaustive()
    }
}

/// Opens a connection to an existing database file with the store's settings.
pub(crate) fn connect(db_path: &Path) -> Result<Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        db_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::corrupt(format!(
            "could not switch the database to WAL mode (it is in {mode} mode)"
        )));
    }
    configure(&conn)?;
    Ok(Connection::from_rusqlite(conn)?)
}

/// SQLite connection settings that do not depend on the journal mode.
pub(crate) fn configure(conn: &rusqlite::Connection) -> Result<()> {
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Every commit reaches the disk before `escrow` returns: a key is never lost once returned.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "trusted_schema", "OFF")?;
    // Freed cells are overwritten: when an escrowed key is agent-split, its master-key-only
    // ciphertext does not linger in free space (see `crate::agents`).
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(())
}

fn read_store_id(conn: &Connection) -> Result<[u8; STORE_ID_LEN]> {
    let id: Option<Vec<u8>> = conn
        .query_row("SELECT store_id FROM store_meta WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    let id =
        id.ok_or_else(|| Error::corrupt("store_meta has no row (not an initialised store)"))?;
    id.try_into()
        .map_err(|_| Error::corrupt("store_meta.store_id is not 16 bytes"))
}

impl Store {
    /// Creates a new store in `data_dir` (created if missing) and returns it unlocked.
    ///
    /// Refuses a directory that already holds a store, and key-file paths that already exist.
    /// Atomic: the database is built under a temporary name and renamed into place only after
    /// the key files are written, so a failure or crash leaves no half-made store.
    pub fn init(data_dir: &Path, options: &InitOptions) -> Result<UnlockedStore> {
        let key_file_paths = check_init_options(options)?;
        fsutil::create_private_dir(data_dir)?;
        let db_path = data_dir.join(DB_FILE_NAME);
        for suffix in ["", "-wal", "-journal"] {
            let p = data_dir.join(format!("{DB_FILE_NAME}{suffix}"));
            if p.exists() {
                return Err(Error::NotEmpty { path: p });
            }
        }

        // Slow part first (Argon2), before anything is written.
        let NewSecrets {
            master,
            store_id,
            keks,
            key_file,
        } = NewSecrets::generate(options)?;

        // Build the database under a temporary name, in rollback-journal mode.
        let temp = fsutil::temp_in(data_dir, ".escrow-init-", ".db")?;
        {
            let raw = rusqlite::Connection::open(temp.path())?;
            configure(&raw)?;
            let conn = Connection::from_rusqlite(raw)?;
            migrate::migrate(&conn)?;
            let tx = conn.transaction()?;
            write_new_store(&tx, &store_id, &keks, &master)?;
            tx.commit()?;
            // Closed here (the commit is on disk: rollback-journal mode, synchronous FULL).
            drop(conn);
        }

        // Key files next (refusing to overwrite), then the store appears atomically.
        let mut written: Vec<&Path> = Vec::new();
        let result = (|| {
            if let Some(kf) = &key_file {
                for path in &key_file_paths {
                    kf.write_new(path)?;
                    written.push(path);
                }
            }
            fsutil::persist_new(temp, &db_path)
        })();
        if let Err(e) = result {
            for path in written {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
        // The data directory itself may be new: make its entry durable too.
        fsutil::sync_dir(&fsutil::parent_dir(data_dir))?;
        tracing::info!(
            dir = %data_dir.display(),
            store_id = %hex(&store_id),
            methods = keks.len(),
            "created escrow store"
        );
        let store = Store::open(data_dir)?;
        Ok(UnlockedStore::new(store, master))
    }

    /// Opens the store in `data_dir`: applies pending migrations, loads nothing secret.
    ///
    /// Refuses a store whose schema is newer than this binary ([`Error::SchemaTooNew`]).
    pub fn open(data_dir: &Path) -> Result<Store> {
        let db_path = data_dir.join(DB_FILE_NAME);
        if !db_path.is_file() {
            return Err(Error::NoStore {
                path: data_dir.to_path_buf(),
            });
        }
        let conn = connect(&db_path)?;
        migrate::migrate(&conn)?;
        let store_id = read_store_id(&conn)?;
        Ok(Store {
            conn,
            dir: data_dir.to_path_buf(),
            store_id,
            sync: GroupSync::new(db_path),
        })
    }

    /// Creates a new store in the PostgreSQL database `config` names and returns it unlocked;
    /// `data_dir` is the node's own directory (created 0700 if missing) for its configuration,
    /// TLS and key files and backups.
    ///
    /// The database must have been created with the C collation and hold nothing but what a
    /// fresh migration of ours leaves (a store there, or tables of another program, are refused
    /// with [`Error::DatabaseUnsuitable`]). Applies the PostgreSQL migrations, then writes the
    /// store's id and the master key's wraps in one transaction; the key files are written
    /// before that commit and removed again if it fails.
    pub fn init_database(
        config: &PgConfig,
        data_dir: &Path,
        options: &InitOptions,
    ) -> Result<UnlockedStore> {
        let key_file_paths = check_init_options(options)?;
        let conn = Connection::connect_postgres(config)?;
        check_collation(&conn, config)?;
        check_empty(&conn, config)?;
        fsutil::create_private_dir(data_dir)?;

        // Slow part (Argon2) before anything is written.
        let NewSecrets {
            master,
            store_id,
            keks,
            key_file,
        } = NewSecrets::generate(options)?;
        migrate::migrate(&conn)?;

        let mut written: Vec<&Path> = Vec::new();
        let result = (|| {
            let tx = conn.transaction()?;
            // Another node may have initialised the database since the check: the row's key
            // refuses the second store.
            write_new_store(&tx, &store_id, &keks, &master).map_err(|e| match e {
                Error::Database(ref d) if d.kind() == ErrorKind::Conflict => {
                    already_holds_a_store(config)
                }
                e => e,
            })?;
            if let Some(kf) = &key_file {
                for path in &key_file_paths {
                    kf.write_new(path)?;
                    written.push(path);
                }
            }
            tx.commit().map_err(|e| match e.kind() {
                ErrorKind::Conflict => already_holds_a_store(config),
                _ => Error::from(e),
            })
        })();
        if let Err(e) = result {
            remove_files(&written);
            return Err(e);
        }
        tracing::info!(
            database = %config,
            dir = %data_dir.display(),
            store_id = %hex(&store_id),
            methods = keks.len(),
            "created escrow store"
        );
        drop(conn);
        let store = Store::open_database(config, data_dir)?;
        Ok(UnlockedStore::new(store, master))
    }

    /// Opens the store in the PostgreSQL database `config` names (`data_dir`: the node's own
    /// directory, see [`Store::init_database`]): applies pending migrations (several nodes
    /// starting at once apply each one once: [`db::migrate`] locks its table), loads nothing
    /// secret.
    ///
    /// A database without a store is [`Error::NoStore`] and is left untouched.
    pub fn open_database(config: &PgConfig, data_dir: &Path) -> Result<Store> {
        let conn = Connection::connect_postgres(config)?;
        let has_store: bool =
            conn.query_row("SELECT to_regclass('store_meta') IS NOT NULL", [], |r| {
                r.get(0)
            })? && conn
                .query_opt("SELECT 1 FROM store_meta WHERE id = 1", [], |r| {
                    r.get::<i64>(0)
                })?
                .is_some();
        if !has_store {
            return Err(Error::NoStore {
                path: PathBuf::from(config.to_string()),
            });
        }
        migrate::migrate(&conn)?;
        let store_id = read_store_id(&conn)?;
        Ok(Store {
            conn,
            dir: data_dir.to_path_buf(),
            store_id,
            sync: GroupSync::new(data_dir.join(DB_FILE_NAME)),
        })
    }

    /// A second connection to the same store (no migrations: they were applied at open).
    fn reconnect(&self) -> Result<Store> {
        // On PostgreSQL the connection keeps the configuration it was made with.
        let conn = match self.conn.postgres_config() {
            Some(config) => Connection::connect_postgres(config)?,
            None => connect(&self.dir.join(DB_FILE_NAME))?,
        };
        migrate::check(&conn)?;
        Ok(Store {
            conn,
            dir: self.dir.clone(),
            store_id: self.store_id,
            sync: self.sync.clone(),
        })
    }

    /// Which database engine holds the store.
    pub fn backend(&self) -> Backend {
        self.conn.backend()
    }

    /// Where the store is, for logs and health reports: the data directory on SQLite, the
    /// database as `postgres://USER@HOST:PORT/DB` on PostgreSQL (never a password).
    pub fn location(&self) -> String {
        match self.conn.postgres_config() {
            Some(config) => config.to_string(),
            None => self.dir.display().to_string(),
        }
    }

    /// On PostgreSQL, makes sure the connection is usable after the server was lost: if it
    /// does not answer, connects again, waiting a little between attempts (up to about 2 s).
    /// `Ok(true)` when the connection answers (an open transaction was lost with the old one),
    /// `Ok(false)` while the server is still unreachable; another failure (credentials, the
    /// database gone) is an error. On SQLite there is nothing to heal: `Ok(true)` at once.
    pub fn heal(&mut self) -> Result<bool> {
        if self.conn.backend() == Backend::Sqlite || self.conn.ping().is_ok() {
            return Ok(true);
        }
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
            give_up_after: Duration::from_secs(2),
        };
        match self.conn.reconnect(&backoff) {
            Ok(()) => match self.conn.ping() {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::Unreachable => Ok(false),
                Err(e) => Err(e.into()),
            },
            Err(e) if e.kind() == ErrorKind::Unreachable => {
                tracing::warn!(database = %self.location(), "database still unreachable");
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The store's database connection, for reading the tables other crates add with their
    /// own migrations (`migrations/sqlite/0002_*.sql` and later). Nothing secret can be read through
    /// it: escrowed keys are ciphertext without the master key.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The store's random id (hex); a restored store keeps the id of its backup.
    pub fn store_id(&self) -> String {
        hex(&self.store_id)
    }

    pub(crate) fn store_id_bytes(&self) -> &[u8; STORE_ID_LEN] {
        &self.store_id
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The schema version of the store.
    pub fn schema_version(&self) -> Result<u32> {
        migrate::check(&self.conn)
    }

    /// Unwraps the master key with `credential` and returns an unlocked handle (with its own
    /// database connection); `self` stays usable, e.g. to retry after a wrong password.
    ///
    /// A wrong secret gives [`Error::BadSecret`] and changes nothing.
    pub fn unlock(&self, credential: &Credential) -> Result<UnlockedStore> {
        let wraps = load_wraps(&self.conn)?;
        let (master, method) = master::unlock(&wraps, &self.store_id, credential)?;
        tracing::info!(
            method_id = method,
            method = credential.kind().as_str(),
            "escrow store unlocked"
        );
        Ok(UnlockedStore::new(self.reconnect()?, master))
    }

    /// [`Store::unlock`] with the start-up password.
    pub fn unlock_with_password(&self, password: &Password) -> Result<UnlockedStore> {
        let wraps = load_wraps(&self.conn)?;
        let (master, method) = master::unlock_password(&wraps, &self.store_id, password)?;
        tracing::info!(
            method_id = method,
            method = "password",
            "escrow store unlocked"
        );
        Ok(UnlockedStore::new(self.reconnect()?, master))
    }

    /// [`Store::unlock`] with the key file at `path` (a damaged file gives
    /// [`Error::KeyFileInvalid`], a key file of another store [`Error::BadSecret`]).
    pub fn unlock_with_key_file(&self, path: &Path) -> Result<UnlockedStore> {
        let key_file = KeyFile::load(path).inspect_err(|_| {
            tracing::warn!(
                method = "key_file",
                "unlock attempt refused: unusable key file"
            );
        })?;
        self.unlock(&Credential::KeyFile(key_file))
    }

    /// Metadata of every escrowed key, oldest first (nothing is decrypted).
    pub fn list(&self) -> Result<Vec<KeyInfo>> {
        list(&self.conn)
    }

    /// The unlock methods, in the order they were added.
    pub fn unlock_methods(&self) -> Result<Vec<UnlockMethodInfo>> {
        unlock_methods(&self.conn)
    }
}

/// An unlocked store: holds the master key (wiped on drop) and can escrow and decrypt.
pub struct UnlockedStore {
    store: Store,
    master: MasterKey,
    rows: Aead,
}

impl fmt::Debug for UnlockedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnlockedStore")
            .field("store", &self.store)
            .field("master", &self.master)
            .finish_non_exhaustive()
    }
}

impl UnlockedStore {
    fn new(store: Store, master: MasterKey) -> Self {
        let rows = master.row_cipher();
        UnlockedStore {
            store,
            master,
            rows,
        }
    }

    /// [`Store::heal`]: reconnects to a PostgreSQL server that was lost; `Ok(true)` once the
    /// connection answers (always on SQLite).
    pub fn heal(&mut self) -> Result<bool> {
        self.store.heal()
    }

    /// Forgets the master key and returns the locked store.
    pub fn lock(self) -> Store {
        self.store
    }

    /// The locked view (metadata, ids).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The database connection, writable, for the tables other crates add with their own
    /// migrations. Callers must not write `escrowed_keys` or `unlock_methods` through it: use
    /// [`UnlockedStore::escrow`] and the unlock-method calls, which keep the encryption and the
    /// associated data right (a row written otherwise fails authentication when read).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.store.conn
    }

    pub(crate) fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Opens an IMMEDIATE write transaction that can escrow keys together with the caller's
    /// own rows: all of it commits with [`EscrowTx::commit`], or nothing (dropped).
    pub fn begin(&mut self) -> Result<EscrowTx<'_>> {
        EscrowTx::begin(&mut self.store.conn, &self.rows, &self.store.sync, false)
    }

    /// [`UnlockedStore::begin`] for a group commit: the transaction commits without its own
    /// fsync ([`EscrowTx::commit_grouped`] hands back the ticket to wait on, with no lock
    /// held, before answering). See [`crate::durable`].
    pub fn begin_grouped(&mut self) -> Result<EscrowTx<'_>> {
        EscrowTx::begin(&mut self.store.conn, &self.rows, &self.store.sync, true)
    }

    /// Fsyncs that grouped commits ([`EscrowTx::commit_grouped`]) have run on this store: with
    /// the number of grouped commits, how many commits shared each fsync.
    pub fn group_fsyncs(&self) -> u64 {
        self.store.sync.fsyncs()
    }

    pub(crate) fn row_cipher(&self) -> &Aead {
        &self.rows
    }

    /// Escrows one key; returns its id once the row is durably committed.
    pub fn escrow(&mut self, key: &NewKey<'_>) -> Result<KeyId> {
        Ok(self.escrow_batch(std::slice::from_ref(key))?[0])
    }

    /// Escrows several keys in one transaction (all or none); ids in the order given.
    pub fn escrow_batch(&mut self, keys: &[NewKey<'_>]) -> Result<Vec<KeyId>> {
        let tx = self.begin()?;
        let ids = tx.escrow_batch(keys)?;
        tx.commit()?;
        tracing::debug!(count = ids.len(), "escrowed keys");
        Ok(ids)
    }

    /// Every key `owner` ever had, oldest first, decrypted. An empty list if none.
    ///
    /// A row that fails authentication stops the call with [`Error::Tampered`] naming it.
    pub fn keys_of(&self, owner: &str) -> Result<Vec<EscrowedKey>> {
        self.store.conn.query_and_then(
            "SELECT id, owner, usage, created_at, scheme, nonce, ciphertext, certificate
             FROM escrowed_keys WHERE owner = ?1 ORDER BY id",
            [owner],
            |row| decrypt_row(&self.rows, row),
        )
    }

    /// One escrowed key by id, decrypted; `Ok(None)` if there is no such key.
    pub fn key(&self, id: KeyId) -> Result<Option<EscrowedKey>> {
        read_key(&self.store.conn, &self.rows, id)
    }

    /// Decrypts and authenticates every escrowed key (without returning them).
    pub fn verify_keys(&self) -> Result<KeyCounts> {
        verify_keys(&self.store.conn, &self.rows)
    }

    /// Metadata of every escrowed key, oldest first (nothing is decrypted).
    pub fn list(&self) -> Result<Vec<KeyInfo>> {
        list(&self.store.conn)
    }

    /// The unlock methods, in the order they were added.
    pub fn unlock_methods(&self) -> Result<Vec<UnlockMethodInfo>> {
        unlock_methods(&self.store.conn)
    }

    /// Adds a password unlock method (Argon2id with `params`).
    pub fn add_password(&mut self, password: &Password, params: &Argon2Params) -> Result<MethodId> {
        self.add_password_and(password, params, |_| Ok(()))
    }

    /// [`UnlockedStore::add_password`], with `with` run inside the change's transaction
    /// just before it commits (the caller's own record of the change, e.g. an audit entry):
    /// both commit together, and an error from `with` leaves nothing changed.
    pub fn add_password_and(
        &mut self,
        password: &Password,
        params: &Argon2Params,
        with: impl FnOnce(&Connection) -> db::Result<()>,
    ) -> Result<MethodId> {
        let kek = PreparedKek::for_password(password, params)?;
        let tx = self.store.conn.transaction()?;
        let id = next_id(&tx, "unlock_methods")?;
        insert_wrap(&tx, &kek.wrap(&self.store.store_id, id, &self.master)?)?;
        with(&tx)?;
        tx.commit()?;
        tracing::info!(method_id = id, method = "password", "added unlock method");
        Ok(MethodId(id))
    }

    /// Adds a key-file unlock method: writes a new key file to `path` (and `copy`), which must
    /// not exist, then stores its wrap. If storing fails, the new files are removed.
    pub fn add_key_file(&mut self, path: &Path, copy: Option<&Path>) -> Result<MethodId> {
        self.add_key_file_and(path, copy, |_| Ok(()))
    }

    /// [`UnlockedStore::add_key_file`], with `with` run inside the change's transaction just
    /// before it commits (as in [`UnlockedStore::add_password_and`]); if it fails, nothing is
    /// stored and the new files are removed.
    pub fn add_key_file_and(
        &mut self,
        path: &Path,
        copy: Option<&Path>,
        with: impl FnOnce(&Connection) -> db::Result<()>,
    ) -> Result<MethodId> {
        let key_file = KeyFile::generate()?;
        let kek = PreparedKek::for_key_file(&key_file)?;
        let written = write_key_files(&key_file, path, copy)?;
        let result = (|| {
            let tx = self.store.conn.transaction()?;
            let id = next_id(&tx, "unlock_methods")?;
            insert_wrap(&tx, &kek.wrap(&self.store.store_id, id, &self.master)?)?;
            with(&tx)?;
            tx.commit()?;
            Ok(id)
        })();
        match result {
            Ok(id) => {
                tracing::info!(method_id = id, method = "key_file", "added unlock method");
                Ok(MethodId(id))
            }
            Err(e) => {
                remove_files(&written);
                Err(e)
            }
        }
    }

    /// Replaces the password of method `id` (new salt, new parameters, same id).
    pub fn change_password(
        &mut self,
        id: MethodId,
        password: &Password,
        params: &Argon2Params,
    ) -> Result<()> {
        self.require_kind(id, MethodKind::Password)?;
        let kek = PreparedKek::for_password(password, params)?;
        let tx = self.store.conn.transaction()?;
        update_wrap(&tx, &kek.wrap(&self.store.store_id, id.0, &self.master)?)?;
        tx.commit()?;
        tracing::info!(
            method_id = id.0,
            method = "password",
            "changed unlock method"
        );
        Ok(())
    }

    /// Replaces key-file method `id` by a new key file written to `path` (and `copy`); the old
    /// key file stops working. If storing fails, the new files are removed.
    pub fn replace_key_file(
        &mut self,
        id: MethodId,
        path: &Path,
        copy: Option<&Path>,
    ) -> Result<()> {
        self.require_kind(id, MethodKind::KeyFile)?;
        let key_file = KeyFile::generate()?;
        let kek = PreparedKek::for_key_file(&key_file)?;
        let written = write_key_files(&key_file, path, copy)?;
        let result = (|| {
            let tx = self.store.conn.transaction()?;
            update_wrap(&tx, &kek.wrap(&self.store.store_id, id.0, &self.master)?)?;
            tx.commit()?;
            Ok(())
        })();
        if result.is_err() {
            remove_files(&written);
        } else {
            tracing::info!(
                method_id = id.0,
                method = "key_file",
                "replaced unlock method"
            );
        }
        result
    }

    /// Removes unlock method `id`. Refuses to remove the last one.
    ///
    /// Note: an old copy of the database (or a backup) still opens with the removed secret.
    pub fn remove_unlock_method(&mut self, id: MethodId) -> Result<()> {
        self.remove_unlock_method_and(id, |_| Ok(()))
    }

    /// [`UnlockedStore::remove_unlock_method`], with `with` run inside the change's
    /// transaction just before it commits (as in [`UnlockedStore::add_password_and`]).
    pub fn remove_unlock_method_and(
        &mut self,
        id: MethodId,
        with: impl FnOnce(&Connection) -> db::Result<()>,
    ) -> Result<()> {
        let tx = self.store.conn.transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM unlock_methods WHERE id = ?1)",
            [id.0],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(Error::UnknownUnlockMethod { id, kind: "unlock" });
        }
        let count: i64 = tx.query_row("SELECT count(*) FROM unlock_methods", [], |r| r.get(0))?;
        if count <= 1 {
            return Err(Error::LastUnlockMethod);
        }
        tx.execute("DELETE FROM unlock_methods WHERE id = ?1", [id.0])?;
        with(&tx)?;
        tx.commit()?;
        tracing::info!(method_id = id.0, "removed unlock method");
        Ok(())
    }

    fn require_kind(&self, id: MethodId, kind: MethodKind) -> Result<()> {
        let found: Option<String> = self
            .store
            .conn
            .query_row(
                "SELECT kind FROM unlock_methods WHERE id = ?1",
                [id.0],
                |r| r.get(0),
            )
            .optional()?;
        if found.as_deref() == Some(kind.as_str()) {
            Ok(())
        } else {
            Err(Error::UnknownUnlockMethod {
                id,
                kind: match kind {
                    MethodKind::Password => "password",
                    MethodKind::KeyFile => "key file",
                },
            })
        }
    }
}

/// Refuses options that could never make a usable store (no unlock method, a key-file copy on
/// the key file's own path, a key-file path that exists); the key-file paths, in order.
fn check_init_options(options: &InitOptions) -> Result<Vec<&Path>> {
    if options.password.is_none() && options.key_file.is_none() {
        return Err(Error::NoUnlockMethod);
    }
    let key_file_paths: Vec<&Path> = options
        .key_file
        .iter()
        .flat_map(|t| std::iter::once(t.path.as_path()).chain(t.copy.as_deref()))
        .collect();
    if key_file_paths.len() == 2 && key_file_paths[0] == key_file_paths[1] {
        return Err(Error::invalid(
            "key file copy",
            "the copy must be written to another path than the key file",
        ));
    }
    for path in &key_file_paths {
        if path.exists() {
            return Err(Error::FileExists {
                path: path.to_path_buf(),
            });
        }
    }
    Ok(key_file_paths)
}

/// What a new store is made of: its master key, id, the keys wrapping the master key (Argon2
/// already run) and the key file to write.
struct NewSecrets {
    master: MasterKey,
    store_id: [u8; STORE_ID_LEN],
    keks: Vec<PreparedKek>,
    key_file: Option<KeyFile>,
}

impl NewSecrets {
    fn generate(options: &InitOptions) -> Result<NewSecrets> {
        let master = MasterKey::generate()?;
        let store_id: [u8; STORE_ID_LEN] = random_array()?;
        let mut keks = Vec::new();
        if let Some(password) = &options.password {
            keks.push(PreparedKek::for_password(password, &options.argon2)?);
        }
        let key_file = match &options.key_file {
            Some(_) => {
                let kf = KeyFile::generate()?;
                keks.push(PreparedKek::for_key_file(&kf)?);
                Some(kf)
            }
            None => None,
        };
        Ok(NewSecrets {
            master,
            store_id,
            keks,
            key_file,
        })
    }
}

/// Writes a new store's id and the master key's wraps, inside the transaction open on `conn`.
fn write_new_store(
    conn: &Connection,
    store_id: &[u8; STORE_ID_LEN],
    keks: &[PreparedKek],
    master: &MasterKey,
) -> Result<()> {
    conn.execute(
        "INSERT INTO store_meta (id, store_id) VALUES (1, ?1)",
        [&store_id[..]],
    )?;
    for kek in keks {
        let id = next_id(conn, "unlock_methods")?;
        insert_wrap(conn, &kek.wrap(store_id, id, master)?)?;
    }
    Ok(())
}

fn already_holds_a_store(config: &PgConfig) -> Error {
    Error::DatabaseUnsuitable {
        database: config.to_string(),
        problem: "already holds an escrow store (open it instead, or create another database)"
            .to_owned(),
    }
}

/// Refuses a PostgreSQL database that could not hold a new store (see
/// [`Store::init_database`]): a collation other than C, a store or rows already there, tables
/// of another program. Reads only.
pub(crate) fn check_new_database(conn: &Connection, config: &PgConfig) -> Result<()> {
    check_collation(conn, config)?;
    check_empty(conn, config)
}

/// Refuses a database whose collation is not C: text must sort byte-wise as on SQLite, and
/// prefix searches (`LIKE 'x%'`) must use the indexes (see docs/STORAGE.md).
fn check_collation(conn: &Connection, config: &PgConfig) -> Result<()> {
    let (collate, ctype): (String, String) = conn.query_row(
        "SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let is_c = |s: &str| s == "C" || s == "POSIX";
    if is_c(&collate) && is_c(&ctype) {
        return Ok(());
    }
    Err(Error::DatabaseUnsuitable {
        database: config.to_string(),
        problem: format!(
            "its collation is {collate:?} (character type {ctype:?}), not C: create it with \
             CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'",
            config.dbname
        ),
    })
}

/// Refuses a database that holds a store, or tables of anything but a fresh migration of ours
/// (an earlier `init_database` that stopped after migrating is fine). Reads only.
fn check_empty(conn: &Connection, config: &PgConfig) -> Result<()> {
    let ours: bool = conn.query_row(
        "SELECT to_regclass('schema_migrations') IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    if !ours {
        let tables: Vec<String> = conn.query_map(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() ORDER BY table_name LIMIT 5",
            [],
            |r| r.get(0),
        )?;
        if tables.is_empty() {
            return Ok(());
        }
        return Err(Error::DatabaseUnsuitable {
            database: config.to_string(),
            problem: format!(
                "is not empty (it holds tables of another program: {}): create an empty \
                 database for the store",
                tables.join(", ")
            ),
        });
    }
    // A fresh migration leaves every table empty but its own record (the one data migration,
    // 0005, copies rows that a fresh database does not have).
    let tables: Vec<(String, String)> = conn.query_map(
        "SELECT table_name::text, quote_ident(table_name::text) FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
           AND table_name <> 'schema_migrations'
         ORDER BY table_name <> 'store_meta', table_name",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (table, quoted) in &tables {
        let has_rows: bool = conn.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM {quoted})"),
            [],
            |r| r.get(0),
        )?;
        if !has_rows {
            continue;
        }
        if table == "store_meta" {
            return Err(already_holds_a_store(config));
        }
        return Err(Error::DatabaseUnsuitable {
            database: config.to_string(),
            problem: format!(
                "holds rows in {table} but no store: it is not a fresh database (restore the \
                 store from a backup, or create an empty database)"
            ),
        });
    }
    Ok(())
}

fn write_key_files<'p>(
    key_file: &KeyFile,
    path: &'p Path,
    copy: Option<&'p Path>,
) -> Result<Vec<&'p Path>> {
    if copy == Some(path) {
        return Err(Error::invalid(
            "key file copy",
            "the copy must be written to another path than the key file",
        ));
    }
    for p in std::iter::once(path).chain(copy) {
        if p.exists() {
            return Err(Error::FileExists {
                path: p.to_path_buf(),
            });
        }
    }
    let mut written = Vec::new();
    for p in std::iter::once(path).chain(copy) {
        if let Err(e) = key_file.write_new(p) {
            remove_files(&written);
            return Err(e);
        }
        written.push(p);
    }
    Ok(written)
}

fn remove_files(paths: &[&Path]) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

/// Encrypts and inserts `keys` inside the write transaction open on `conn`; ids in order.
pub(crate) fn insert_keys(
    conn: &Connection,
    rows: &Aead,
    keys: &[NewKey<'_>],
) -> Result<Vec<KeyId>> {
    for key in keys {
        validate(key)?;
    }
    let mut ids = Vec::with_capacity(keys.len());
    let reserved = reserve_ids(conn, "escrowed_keys", keys.len())?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO escrowed_keys
             (id, owner, usage, created_at, scheme, nonce, ciphertext, certificate)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (id, key) in reserved.into_iter().map(KeyId).zip(keys) {
        let nonce: [u8; NONCE_LEN] = random_array()?;
        let aad = row_aad(id, key.owner, key.usage.as_str());
        let ciphertext = rows.seal(&nonce, aad.as_slice(), key.private_key_der)?;
        insert.execute(params![
            id.0,
            key.owner,
            key.usage.as_str(),
            key.created_at,
            ROW_SCHEME,
            &nonce[..],
            ciphertext,
            key.certificate_der,
        ])?;
        ids.push(id);
    }
    Ok(ids)
}

fn validate(key: &NewKey<'_>) -> Result<()> {
    if key.owner.is_empty() {
        return Err(Error::invalid("owner", "it is empty"));
    }
    if key.owner.len() > MAX_OWNER_LEN {
        return Err(Error::invalid(
            "owner",
            format!("{} bytes is longer than {MAX_OWNER_LEN}", key.owner.len()),
        ));
    }
    if key.private_key_der.is_empty() {
        return Err(Error::invalid("private key", "it is empty"));
    }
    if key.private_key_der.len() > MAX_KEY_LEN {
        return Err(Error::invalid(
            "private key",
            format!(
                "{} bytes is larger than {MAX_KEY_LEN}",
                key.private_key_der.len()
            ),
        ));
    }
    if let Some(cert) = key.certificate_der
        && cert.len() > MAX_CERT_LEN
    {
        return Err(Error::invalid(
            "certificate",
            format!("{} bytes is larger than {MAX_CERT_LEN}", cert.len()),
        ));
    }
    Ok(())
}

/// Associated data of an escrowed key: its id, owner and usage.
pub(crate) fn row_aad(id: KeyId, owner: &str, usage: &str) -> Aad {
    let mut aad = Aad::new(ROW_AAD_LABEL);
    aad.int(id.0)
        .bytes(owner.as_bytes())
        .bytes(usage.as_bytes());
    aad
}

/// Decrypts one `SELECT id, owner, usage, created_at, scheme, nonce, ciphertext, certificate`.
pub(crate) fn decrypt_row(rows: &Aead, row: &Row<'_>) -> Result<EscrowedKey> {
    let id = KeyId(row.get(0)?);
    let owner: String = row.get(1)?;
    let usage_text: String = row.get(2)?;
    let created_at: i64 = row.get(3)?;
    let scheme: i64 = row.get(4)?;
    let nonce: Vec<u8> = row.get(5)?;
    let ciphertext: Vec<u8> = row.get(6)?;
    let certificate: Option<Vec<u8>> = row.get(7)?;
    let tampered = || {
        tracing::error!(
            key_id = id.0,
            "escrowed key failed authentication (tampered row)"
        );
        Error::Tampered { id }
    };
    if scheme != ROW_SCHEME && scheme != ROW_SCHEME_SPLIT {
        return Err(tampered());
    }
    let usage = KeyUsage::parse(&usage_text).ok_or_else(tampered)?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| tampered())?;
    let aad = row_aad(id, &owner, &usage_text);
    let opened = rows
        .open(&nonce, aad.as_slice(), &ciphertext)
        .ok_or_else(tampered)?;
    let (private_key_der, agent_split) = if scheme == ROW_SCHEME_SPLIT {
        (SecretBytes::new(Vec::new()), Some(opened))
    } else {
        (opened, None)
    };
    Ok(EscrowedKey {
        info: KeyInfo {
            id,
            owner,
            usage,
            created_at,
            has_certificate: certificate.is_some(),
        },
        private_key_der,
        certificate_der: certificate,
        agent_split,
    })
}

/// One escrowed key by id, decrypted with `rows`; `Ok(None)` if there is none.
pub(crate) fn read_key(conn: &Connection, rows: &Aead, id: KeyId) -> Result<Option<EscrowedKey>> {
    let mut found = None;
    conn.query_each_and_then(
        "SELECT id, owner, usage, created_at, scheme, nonce, ciphertext, certificate
         FROM escrowed_keys WHERE id = ?1",
        [id.0],
        |row| {
            found = Some(decrypt_row(rows, row)?);
            Ok::<_, Error>(())
        },
    )?;
    Ok(found)
}

/// Decrypts every escrowed key in `conn` with `rows`; counts keys and owners.
pub(crate) fn verify_keys(conn: &Connection, rows: &Aead) -> Result<KeyCounts> {
    let mut counts = KeyCounts { keys: 0, owners: 0 };
    let mut last_owner: Option<String> = None;
    conn.query_each_and_then(
        "SELECT id, owner, usage, created_at, scheme, nonce, ciphertext, certificate
         FROM escrowed_keys ORDER BY owner, id",
        [],
        |row| {
            let key = decrypt_row(rows, row)?;
            counts.keys += 1;
            if last_owner.as_deref() != Some(key.info.owner.as_str()) {
                counts.owners += 1;
                last_owner = Some(key.info.owner);
            }
            Ok::<_, Error>(())
        },
    )?;
    Ok(counts)
}

fn list(conn: &Connection) -> Result<Vec<KeyInfo>> {
    conn.query_and_then(
        "SELECT id, owner, usage, created_at, certificate IS NOT NULL
         FROM escrowed_keys ORDER BY id",
        [],
        |row| {
            let id = KeyId(row.get(0)?);
            let usage: String = row.get(2)?;
            Ok(KeyInfo {
                id,
                owner: row.get(1)?,
                usage: KeyUsage::parse(&usage).ok_or_else(|| {
                    Error::corrupt(format!("escrowed key {id} has an unknown usage"))
                })?,
                created_at: row.get(3)?,
                has_certificate: row.get(4)?,
            })
        },
    )
}

fn unlock_methods(conn: &Connection) -> Result<Vec<UnlockMethodInfo>> {
    let wraps = load_wraps(conn)?;
    let mut created = conn.prepare_cached("SELECT created_at FROM unlock_methods WHERE id = ?1")?;
    wraps
        .into_iter()
        .map(|w| {
            Ok(UnlockMethodInfo {
                id: MethodId(w.id),
                kind: w.kind,
                label: w.label,
                key_file_id: w.key_file_id.map(|id| hex(&id)),
                argon2: w.argon2,
                created_at: created.query_row([w.id], |r| r.get(0))?,
            })
        })
        .collect()
}

/// The next id for an AUTOINCREMENT table, inside a write transaction (ids are bound into the
/// associated data, so they are chosen before the row is encrypted; never reused).
fn next_id(conn: &Connection, table: &'static str) -> Result<i64> {
    Ok(reserve_ids(conn, table, 1)?[0])
}

/// `n` new ids for `table` (`escrowed_keys`, `unlock_methods`), inside a write transaction,
/// never reused. SQLite: the next ones after both the table's AUTOINCREMENT counter and its
/// largest id (one writer at a time). PostgreSQL: drawn from the identity's sequence, so two
/// nodes escrowing at once never pick the same id (a rolled-back draw leaves a gap).
fn reserve_ids(conn: &Connection, table: &'static str, n: usize) -> Result<Vec<i64>> {
    let count = i64::try_from(n).map_err(|_| Error::invalid("keys", "too many at once"))?;
    match conn.backend() {
        Backend::Sqlite => {
            let seq: i64 = conn
                .query_row(
                    "SELECT seq FROM sqlite_sequence WHERE name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0);
            let max: i64 = conn.query_row(
                &format!("SELECT COALESCE(MAX(id), 0) FROM {table}"),
                [],
                |r| r.get(0),
            )?;
            let first = seq.max(max) + 1;
            Ok((first..first + count).collect())
        }
        Backend::Postgres => Ok(conn.query_map(
            "SELECT nextval(pg_get_serial_sequence(?1, 'id')) FROM generate_series(1, ?2)",
            params![table, count],
            |r| r.get(0),
        )?),
    }
}

/// Every wrap of the master key, by id.
pub(crate) fn load_wraps(conn: &Connection) -> Result<Vec<WrapRecord>> {
    conn.query_and_then(
        "SELECT id, kind, label, key_file_id, argon2_m_kib, argon2_t, argon2_p, salt, nonce,
                wrapped_key
         FROM unlock_methods ORDER BY id",
        [],
        |row| {
            let id: i64 = row.get(0)?;
            let bad = |what: &str| Error::corrupt(format!("unlock method {id}: {what}"));
            let kind: String = row.get(1)?;
            let kind = MethodKind::parse(&kind).ok_or_else(|| bad("unknown kind"))?;
            let key_file_id: Option<Vec<u8>> = row.get(3)?;
            let key_file_id = key_file_id
                .map(|v| <[u8; KEY_FILE_ID_LEN]>::try_from(v).map_err(|_| bad("bad key-file id")))
                .transpose()?;
            let m: Option<i64> = row.get(4)?;
            let t: Option<i64> = row.get(5)?;
            let p: Option<i64> = row.get(6)?;
            let argon2 = match (m, t, p) {
                (Some(m), Some(t), Some(p)) => {
                    let c =
                        |v: i64| u32::try_from(v).map_err(|_| bad("Argon2 parameter out of range"));
                    Some(Argon2Params::new(c(m)?, c(t)?, c(p)?))
                }
                (None, None, None) => None,
                _ => return Err(bad("incomplete Argon2 parameters")),
            };
            let nonce: Vec<u8> = row.get(8)?;
            Ok(WrapRecord {
                id,
                kind,
                label: row.get(2)?,
                key_file_id,
                argon2,
                salt: row.get(7)?,
                nonce: nonce.try_into().map_err(|_| bad("nonce is not 12 bytes"))?,
                wrapped: row.get(9)?,
            })
        },
    )
}

fn insert_wrap(conn: &Connection, w: &WrapRecord) -> Result<()> {
    conn.execute(
        "INSERT INTO unlock_methods
             (id, kind, label, key_file_id, argon2_m_kib, argon2_t, argon2_p, salt, nonce,
              wrapped_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            w.id,
            w.kind.as_str(),
            w.label,
            w.key_file_id.as_ref().map(|v| &v[..]),
            w.argon2.map(|p| p.m_kib),
            w.argon2.map(|p| p.t),
            w.argon2.map(|p| p.p),
            w.salt,
            &w.nonce[..],
            w.wrapped,
        ],
    )?;
    Ok(())
}

fn update_wrap(conn: &Connection, w: &WrapRecord) -> Result<()> {
    let n = conn.execute(
        "UPDATE unlock_methods SET kind = ?2, label = ?3, key_file_id = ?4, argon2_m_kib = ?5,
                argon2_t = ?6, argon2_p = ?7, salt = ?8, nonce = ?9, wrapped_key = ?10
         WHERE id = ?1",
        params![
            w.id,
            w.kind.as_str(),
            w.label,
            w.key_file_id.as_ref().map(|v| &v[..]),
            w.argon2.map(|p| p.m_kib),
            w.argon2.map(|p| p.t),
            w.argon2.map(|p| p.p),
            w.salt,
            &w.nonce[..],
            w.wrapped,
        ],
    )?;
    if n != 1 {
        return Err(Error::UnknownUnlockMethod {
            id: MethodId(w.id),
            kind: "unlock",
        });
    }
    Ok(())
}
