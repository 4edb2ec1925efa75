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
    /// Audit entries of the replaced chain written after the backup point, appended to the
    /// restored chain before the `restore` entry.
    #[serde(default)]
    pub audit_entries_carried: u64,
    /// Quorum policies kept at the live (stricter) value.
    #[serde(default)]
    pub policies_kept: Vec<crate::Policy>,
}

/// The body of `POST /backups/{name}/restore`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// The caller confirmed replacing the live store (428 without it).
    #[serde(default)]
    pub confirm: bool,
}

/// The backup schedule in effect.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BackupSchedule {
    /// True when backups are taken on a schedule.
    pub enabled: bool,
    /// Seconds between scheduled backups (null: off).
    pub every: Option<u64>,
    /// Backups kept (older ones are deleted after each new one; safety backups never).
    pub keep: u64,
    /// When the next scheduled backup is due, Unix seconds.
    pub next_at: Option<i64>,
    /// `next_at`, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_at_rfc3339: Option<String>,
    /// When the newest backup was taken, Unix seconds.
    pub last_at: Option<i64>,
    /// `last_at`, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at_rfc3339: Option<String>,
    /// `setting` (set through the API, under the `backup-schedule` quorum) or `config`
    /// (`kmsd.toml`, until a setting is made).
    #[serde(default)]
    pub source: String,
}

/// `GET|POST /backups/schedule`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScheduleResponse {
    /// The schedule now.
    pub schedule: BackupSchedule,
}

/// `POST /backups/schedule`: `every` must be present (`null` turns the schedule off);
/// `keep` left out keeps the number in effect.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetScheduleRequest {
    /// Seconds between backups (at least 60), or null for off.
    #[serde(deserialize_with = "required_nullable")]
    pub every: Option<u64>,
    /// Backups kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<u64>,
}

/// A field that must be present, `null` included.
fn required_nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(d)
}
