//! The key-escrow store: every private key the authority issued, encrypted in SQLite or
//! PostgreSQL under a master key that is itself stored only wrapped by start-up passwords and
//! key files.
//!
//! # Shape
//!
//! - [`Store::init`] creates a store (a random 256-bit master key, wrapped by a password
//!   through Argon2id and/or by a key file written twice) in a data directory, and
//!   [`Store::init_database`] in a PostgreSQL database (several nodes share it;
//!   [`Store::heal`] reconnects after the server was lost); [`Store::open`] and
//!   [`Store::open_database`] open one locked,
//!   [`Store::unlock`] (or `unlock_with_password` / `unlock_with_key_file`) gives an
//!   [`UnlockedStore`] that can [`escrow`](UnlockedStore::escrow) keys (or
//!   [`begin`](UnlockedStore::begin) an [`EscrowTx`] that escrows them with the caller's own
//!   rows in one transaction), return an owner's
//!   whole history with [`keys_of`](UnlockedStore::keys_of), manage unlock methods and write
//!   encrypted [`backup`](UnlockedStore::backup)s (one format for both backends), which
//!   [`verify_backup`] and [`restore`] (or [`restore_into_database`]) check with the same
//!   password or key file; [`move_to_database`] and [`move_to_sqlite`] move a stopped
//!   store between the backends.
//! - Private keys are AES-256-GCM ciphertext under a subkey of the master key
//!   (`HKDF-SHA256(master, info = "kms-escrow/v1/escrowed-key-encryption")`), with a random
//!   96-bit nonce per row and the key's id, owner and usage as associated data: a row that is
//!   edited or moved to another owner is reported as [`Error::Tampered`], never returned.
//! - The schema lives in the workspace's `migrations/sqlite/` and `migrations/postgres/`
//!   files, embedded at build time and applied in order at open; a store newer than the
//!   binary is refused.
//!
//! Secrets live in types that are wiped on drop and print as `[redacted]`.
//!
//! # Error codes
//!
//! Every [`Error`] has a stable code ([`Error::code`]) for operators and scripts:
//!
//! | code | meaning |
//! |---|---|
//! | `ESCROW-001` | the password or key file does not unlock this store (or backup) |
//! | `ESCROW-002` | a key file is unreadable, truncated, corrupted or of an unknown version |
//! | `ESCROW-003` | an escrowed key failed authentication: its row was altered or moved |
//! | `ESCROW-004` | the store's schema is newer than this program |
//! | `ESCROW-005` | a migration already applied to the store was edited afterwards |
//! | `ESCROW-006` | applying a migration failed (the store stays at the previous version) |
//! | `ESCROW-007` | init/restore target already holds a store or files |
//! | `ESCROW-008` | no store in the given directory |
//! | `ESCROW-009` | refusing to remove the last unlock method |
//! | `ESCROW-010` | no unlock method with that id (and kind) |
//! | `ESCROW-011` | init without any unlock method |
//! | `ESCROW-012` | refusing to overwrite an existing file (key file, backup) |
//! | `ESCROW-013` | a backup file is not valid: wrong format, corrupted, truncated or altered |
//! | `ESCROW-014` | the store is damaged: its own metadata is inconsistent (an undecodable row) |
//! | `ESCROW-015` | an argument was refused (empty owner, oversized key, bad parameters) |
//! | `ESCROW-016` | a file-system operation failed |
//! | `ESCROW-017` | the database reported an error that is not a storage fault |
//! | `ESCROW-018` | the OS random number generator failed |
//! | `ESCROW-019` | internal cryptographic error (a bug) |
//! | `ESCROW-020` | the disk holding the store is full (nothing was changed) |
//! | `ESCROW-021` | the store cannot be written: read-only file system or write-protected file |
//! | `ESCROW-022` | the database is locked by another program |
//! | `ESCROW-023` | the store is damaged (malformed database file, or an unlock method's wrap that the right key file does not open) |
//! | `ESCROW-024` | the disk reported an I/O error, or a database file could not be opened |
//! | `ESCROW-025` | the database server cannot be reached (PostgreSQL down, connection lost) |
//! | `ESCROW-026` | a PostgreSQL database cannot hold a new store: it holds one already, holds other tables, or its collation is not C |
//! | `ESCROW-030` | a backup header asks for too many unlock wraps or too much Argon2 work in all (refused before any derivation) |
//! | `ESCROW-031` | a change was committed but the disk did not confirm it (fsync failed): it may be lost at a power failure; restart the service once the disk is sound |
//! | `ESCROW-040` | an escrowed key cannot be agent-split or re-shared as asked (no such key, already split, not split yet) |
//! | `ESCROW-041` | an agent's stored share failed authentication (its row was altered or moved) |
//!
//! `ESCROW-020`..`ESCROW-025` are [`Error::Storage`] with a [`StorageFault`]; the database's
//! own message is logged, never put in the error (no paths, no SQL).

mod agents;
mod backup;
mod crypto;
pub mod durable;
mod error;
mod fsutil;
mod health;
mod keyfile;
mod master;
mod migrate;
mod moves;
mod secret;
mod store;
mod tx;

#[cfg(test)]
mod leak_tests;
#[cfg(test)]
mod test_support;

pub use agents::{AgentShare, SplitKeyRow};
pub use backup::{
    BackupReport, TEMP_PREFIXES, restore, restore_into_database, sweep_temporaries, verify_backup,
};
pub use durable::Pending;
pub use error::{Error, Result};
pub use health::{
    AMCHECK_MISSING, CheckDepth, IntegrityReport, KeyCheck, StorageFault, check_integrity,
    check_store_integrity, classify as classify_db_error, store_size,
};
pub use keyfile::KeyFile;
pub use master::{Argon2Params, Credential, MethodKind};
pub use moves::{move_to_database, move_to_sqlite};
pub use secret::{Password, SecretBytes};
pub use store::{
    DB_FILE_NAME, EscrowedKey, InitOptions, KeyCounts, KeyFileTargets, KeyId, KeyInfo, KeyUsage,
    MAX_CERT_LEN, MAX_KEY_LEN, MAX_OWNER_LEN, MethodId, NewKey, Store, UnlockMethodInfo,
    UnlockedStore,
};
pub use tx::EscrowTx;

/// The newest schema version (migration number) this build knows for SQLite stores.
pub fn schema_version_supported() -> u32 {
    migrate::latest(db::Backend::Sqlite)
}

/// The store's migrations for `backend` (`migrations/sqlite/` or `migrations/postgres/`,
/// embedded at build time), for [`db::migrate`] and tests that build a store's schema.
pub fn migrations(backend: db::Backend) -> &'static [db::Migration<'static>] {
    migrate::list(backend)
}

/// The newest schema version (migration number) this build knows for `backend`.
pub fn schema_version_supported_on(backend: db::Backend) -> u32 {
    migrate::latest(backend)
}
