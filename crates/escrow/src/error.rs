//! The crate's one error type, with a stable operator-visible code per variant.
//!
//! No variant ever carries secret material: passwords, key-file contents, master or private key
//! bytes never reach an error (only ids, paths, counts and fixed descriptions do).

use std::path::PathBuf;

use crate::health::{StorageFault, classify};
use crate::store::{KeyId, MethodId};

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the escrow store.
///
/// Match on [`Error::code`] (stable) rather than on the message text (may improve).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No unlock method of the store (or backup) accepted the password or key file given.
    #[error("the password or key file does not unlock this store")]
    BadSecret,

    /// A key file could not be used: unreadable, not a key file, truncated, or corrupted.
    #[error("key file {path}: {problem}")]
    KeyFileInvalid {
        /// Where the file was read from.
        path: PathBuf,
        /// What is wrong with it (never includes the file's content).
        problem: String,
    },

    /// An escrowed key's ciphertext failed authentication: the row was altered or moved.
    #[error(
        "escrowed key {id} failed authentication: its row was altered or moved to another owner; \
         it is not returned"
    )]
    Tampered {
        /// The id of the row that failed.
        id: KeyId,
    },

    /// The database was written by a newer version of this software.
    #[error(
        "the store's schema is at version {found} but this program only knows versions up to \
         {supported}: upgrade the program (the store was not changed)"
    )]
    SchemaTooNew {
        /// The highest migration recorded in the store.
        found: u32,
        /// The highest migration this binary embeds.
        supported: u32,
    },

    /// A migration that was already applied to the store differs from the one embedded now.
    #[error(
        "migration {version} ({name}) was changed after it was applied to this store; landed \
         migrations must never be edited"
    )]
    MigrationChanged {
        /// The migration number.
        version: u32,
        /// The migration's file name.
        name: String,
    },

    /// Applying a migration failed; the store is left at the previous version.
    #[error("applying migration {version} ({name}) failed: {source}")]
    MigrationFailed {
        /// The migration number.
        version: u32,
        /// The migration's file name.
        name: String,
        /// The database's error.
        source: db::DbError,
    },

    /// `init` or `restore` was pointed at a place that already holds a store or other files.
    #[error("{path} is not empty: refusing to create a store over existing data")]
    NotEmpty {
        /// The data directory or file that already exists.
        path: PathBuf,
    },

    /// `init_database` was pointed at a PostgreSQL database that cannot hold a new store: it
    /// holds one already, holds another program's tables, or was not created with the C
    /// collation.
    #[error("database {database} {problem}")]
    DatabaseUnsuitable {
        /// The database, as `postgres://USER@HOST:PORT/DB` (no password).
        database: String,
        /// What is wrong with it and what to do.
        problem: String,
    },

    /// `open` was pointed at a directory that holds no store.
    #[error("no escrow store in {path} (run init first, or check the path)")]
    NoStore {
        /// The data directory.
        path: PathBuf,
    },

    /// Removing this unlock method would leave the master key with no way to unwrap it.
    #[error("refusing to remove the last unlock method: add another one first")]
    LastUnlockMethod,

    /// No unlock method has the given id (or it has another kind than the operation needs).
    #[error("no {kind} unlock method with id {id}")]
    UnknownUnlockMethod {
        /// The id asked for.
        id: MethodId,
        /// The kind of method the operation needed ("password", "key file", or "unlock").
        kind: &'static str,
    },

    /// `init` was called without any unlock method: the store could never be opened.
    #[error("at least one unlock method (a password or a key file) is required")]
    NoUnlockMethod,

    /// A key file would overwrite an existing file.
    #[error("{path} already exists: refusing to overwrite a file (it may be another key file)")]
    FileExists {
        /// The file that exists.
        path: PathBuf,
    },

    /// A backup file is not a valid backup: wrong format, corrupted, truncated or altered.
    #[error("backup {path}: {problem}")]
    BackupInvalid {
        /// The backup file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// The store's own data is inconsistent (a malformed row outside the encrypted payloads).
    #[error(
        "the store is damaged ({what}): restore it from a backup (kmsd restore BACKUP \
         --data-dir NEW_DIR); kmsd check tells what is damaged"
    )]
    Corrupt {
        /// What was found wrong.
        what: String,
    },

    /// An argument was refused (empty owner, oversized key, empty password, bad parameters...).
    #[error("invalid {what}: {why}")]
    Invalid {
        /// The argument.
        what: &'static str,
        /// Why it was refused.
        why: String,
    },

    /// A file-system operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("create", "read", "write", "rename", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// The database reported an error that is not a storage fault (see [`Error::Storage`]).
    #[error("database error: {0}")]
    Database(db::DbError),

    /// The storage under the store failed: full, read-only, locked by another program,
    /// damaged, or an I/O error. The message is for operators (no path, no SQL); the
    /// detail was logged where it happened. The operation changed nothing.
    #[error("{0}")]
    Storage(StorageFault),

    /// A grouped commit was written but the fsync that was to make it durable failed: the
    /// change may be lost at a power failure (see [`crate::durable`]). Every later grouped
    /// commit of this open store gets the same answer until it is opened again.
    #[error(
        "the disk did not confirm a write (fsync failed): the change may not survive a power \
         failure; check the disk and restart the service"
    )]
    NotDurable,

    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(getrandom::Error),

    /// A cryptographic primitive failed where it cannot fail on valid input (a bug).
    #[error("internal cryptographic error: {0}")]
    Crypto(&'static str),

    /// A backup header asks for more key-derivation work than any real store needs (too many
    /// unlock wraps, or Argon2 costs above the limits): refused before any derivation runs.
    #[error(
        "backup {path}: refused before deriving any key: the header lists {wraps} unlock \
         methods asking for {cost_gib_passes} GiB-passes of Argon2 in all (limits: {max_wraps} \
         methods, {max_cost_gib_passes} GiB-passes, and per method m <= 1 GiB, t <= 64); the \
         file was altered or is not one of ours"
    )]
    BackupTooCostly {
        /// The backup file.
        path: PathBuf,
        /// Unlock methods (wraps) the header lists.
        wraps: usize,
        /// Sum of Argon2 memory x passes over the password wraps, in GiB-passes (rounded up).
        cost_gib_passes: u64,
        /// The largest number of wraps accepted.
        max_wraps: usize,
        /// The largest total cost accepted, in GiB-passes.
        max_cost_gib_passes: u64,
    },

    /// An escrowed key cannot be agent-split (or re-shared) as asked: no such key, already
    /// split, or not split yet.
    #[error("escrowed key {id}: {why}")]
    AgentSplit {
        /// The key.
        id: KeyId,
        /// Why.
        why: &'static str,
    },

    /// An agent's stored share failed authentication under the master key: its row was
    /// altered or moved to another key or agent.
    #[error("the share of escrowed key {key_id} for agent {agent_id} failed authentication")]
    ShareTampered {
        /// The key.
        key_id: KeyId,
        /// The agent.
        agent_id: i64,
    },
}

impl Error {
    /// [`Error::AgentSplit`] for key `id`.
    pub(crate) fn agent_split(id: KeyId, why: &'static str) -> Self {
        Error::AgentSplit { id, why }
    }
}

impl From<db::DbError> for Error {
    /// Storage faults (full, read-only, busy, damaged, I/O, unreachable) become
    /// [`Error::Storage`], with the database's own message logged here; everything else stays
    /// [`Error::Database`].
    fn from(e: db::DbError) -> Self {
        match classify(&e) {
            Some(fault) => {
                tracing::error!(error = %e, fault = fault.as_str(), "storage fault");
                Error::Storage(fault)
            }
            None => Error::Database(e),
        }
    }
}

impl From<rusqlite::Error> for Error {
    /// SQLite-only calls (PRAGMAs, the online backup): classified as [`db::DbError`] is.
    fn from(e: rusqlite::Error) -> Self {
        Error::from(db::DbError::from(e))
    }
}

impl Error {
    /// The short stable code shown to operators and explained in the docs.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadSecret => "ESCROW-001",
            Error::KeyFileInvalid { .. } => "ESCROW-002",
            Error::Tampered { .. } => "ESCROW-003",
            Error::SchemaTooNew { .. } => "ESCROW-004",
            Error::MigrationChanged { .. } => "ESCROW-005",
            Error::MigrationFailed { .. } => "ESCROW-006",
            Error::NotEmpty { .. } => "ESCROW-007",
            Error::NoStore { .. } => "ESCROW-008",
            Error::DatabaseUnsuitable { .. } => "ESCROW-026",
            Error::LastUnlockMethod => "ESCROW-009",
            Error::UnknownUnlockMethod { .. } => "ESCROW-010",
            Error::NoUnlockMethod => "ESCROW-011",
            Error::FileExists { .. } => "ESCROW-012",
            Error::BackupInvalid { .. } => "ESCROW-013",
            Error::Corrupt { .. } => "ESCROW-014",
            Error::Invalid { .. } => "ESCROW-015",
            Error::Io { .. } => "ESCROW-016",
            Error::Database(_) => "ESCROW-017",
            Error::Random(_) => "ESCROW-018",
            Error::Crypto(_) => "ESCROW-019",
            Error::Storage(fault) => fault.escrow_code(),
            Error::BackupTooCostly { .. } => "ESCROW-030",
            Error::NotDurable => "ESCROW-031",
            Error::AgentSplit { .. } => "ESCROW-040",
            Error::ShareTampered { .. } => "ESCROW-041",
        }
    }

    /// The storage fault behind this error, if it is one.
    pub fn storage_fault(&self) -> Option<StorageFault> {
        match self {
            Error::Storage(fault) => Some(*fault),
            Error::Corrupt { .. } => Some(StorageFault::Damaged),
            Error::NotDurable => Some(StorageFault::Io),
            Error::MigrationFailed { source, .. } => classify(source),
            _ => None,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        let path = path.into();
        let fault = match source.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                Some(StorageFault::Full)
            }
            std::io::ErrorKind::ReadOnlyFilesystem => Some(StorageFault::ReadOnly),
            _ => None,
        };
        if let Some(fault) = fault {
            tracing::error!(%action, path = %path.display(), error = %source, "storage fault");
            return Error::Storage(fault);
        }
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn key_file(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::KeyFileInvalid {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn backup(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::BackupInvalid {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn invalid(what: &'static str, why: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            why: why.into(),
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        Error::Corrupt { what: what.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let errors = [
            Error::BadSecret,
            Error::key_file("k", "x"),
            Error::Tampered { id: KeyId(1) },
            Error::SchemaTooNew {
                found: 2,
                supported: 1,
            },
            Error::MigrationChanged {
                version: 1,
                name: "n".into(),
            },
            Error::MigrationFailed {
                version: 1,
                name: "n".into(),
                source: db::DbError::not_found(),
            },
            Error::NotEmpty { path: "p".into() },
            Error::NoStore { path: "p".into() },
            Error::DatabaseUnsuitable {
                database: "postgres://u@h:5432/d".into(),
                problem: "x".into(),
            },
            Error::LastUnlockMethod,
            Error::UnknownUnlockMethod {
                id: MethodId(1),
                kind: "password",
            },
            Error::NoUnlockMethod,
            Error::FileExists { path: "p".into() },
            Error::backup("b", "x"),
            Error::corrupt("x"),
            Error::invalid("owner", "empty"),
            Error::io("read", "p", std::io::Error::other("x")),
            Error::Database(db::DbError::not_found()),
            Error::Random(getrandom::Error::UNSUPPORTED),
            Error::Crypto("x"),
            Error::NotDurable,
            Error::Storage(StorageFault::Full),
            Error::Storage(StorageFault::ReadOnly),
            Error::Storage(StorageFault::Busy),
            Error::Storage(StorageFault::Damaged),
            Error::Storage(StorageFault::Io),
            Error::Storage(StorageFault::Unreachable),
            Error::BackupTooCostly {
                path: "b".into(),
                wraps: 1000,
                cost_gib_passes: 64_000,
                max_wraps: 64,
                max_cost_gib_passes: 64,
            },
        ];
        let mut codes: Vec<_> = errors.iter().map(Error::code).collect();
        for code in &codes {
            assert!(code.starts_with("ESCROW-") && code.len() == 10, "{code}");
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
    }

    #[test]
    fn wrong_secret_message_is_the_documented_one() {
        assert_eq!(
            Error::BadSecret.to_string(),
            "the password or key file does not unlock this store"
        );
    }
}
