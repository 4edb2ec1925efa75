//! Backups: taking, listing, verifying, restoring.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AuditReport;

/// A backup file.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BackupInfo {
    /// File name (in `DATA_DIR/backups`).
    pub name: String,
    /// Full path.
    pub path: String,
    /// Bytes.
    pub bytes: u64,
}

/// The answer of `POST /backups`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BackupTaken {
    /// The backup.
    pub backup: BackupInfo,
    /// Its full path (as `backup.path`).
    pub path: String,
}

/// `GET /backups`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BackupList {
    /// Backups, oldest first.
    pub backups: Vec<BackupInfo>,
}

/// `POST /backups/verify`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBackupRequest {
    /// A name in `DATA_DIR/backups`, or its full path.
    pub name: String,
}

/// The answer of `POST /backups/verify`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BackupCheck {
    /// The file.
    pub path: String,
    /// Escrowed keys, every one decrypted and authenticated.
    pub keys: u64,
    /// Distinct key owners.
    pub owners: u64,
    /// Unlock methods carried.
    pub unlock_methods: u64,
    /// Size of the database inside.
    pub database_bytes: u64,
    /// The audit chain inside the backup.
    pub audit: AuditReport,
}

/// The answer of `POST /backups/{name}/restore`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Restored {
    /// The backup restored (a name in `DATA_DIR/backups`).
    pub backup: String,
    /// Escrowed keys in the restored store, every one decrypted and authenticated first.
    pub keys: u64,
    /// The safety backup of the store as it was just before (a name in `DATA_DIR/backups`).
    pub safety_backup: String,
    /// The audit chain head replaced by the restore: its `seq`...
    pub replaced_head_seq: i64,
    /// ... and its hash (hex). The entries after the backup are in the safety backup.
    pub replaced_head_hash: String,
    /// The `seq` of the `restore` entry in the restored log.
    pub restore_entry: i64,
    /// Revocations made after the backup, carried into the restored store.
    pub revocations_carried: u64,
}
