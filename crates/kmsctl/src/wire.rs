//! Wire shapes `kmsctl` sends or reads that the `api` crate does not have yet: the renewal
//! window and its `skipped` list, the backup schedule, `confirm` on destructive requests and
//! `why` on a recovery. They belong in `api` once the server's routes land there.

use serde::{Deserialize, Serialize};

use api::{RenewFailure, Renewal, Secret, Status};

/// `POST /renew` for everyone: `{"all":true,"within":SECONDS,"confirm":true}`.
#[derive(Debug, Serialize)]
pub struct RenewAllRequest {
    /// Always true.
    pub all: bool,
    /// Renew only certificates that expire within this many seconds (the server's default
    /// when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within: Option<u64>,
    /// The administrator confirmed.
    pub confirm: bool,
}

/// A user `renew --all` left alone, and why ("not enrolled", "revoked", ...).
#[derive(Debug, Serialize, Deserialize)]
pub struct RenewSkip {
    /// The user.
    pub email: String,
    /// Why.
    pub reason: String,
}

/// The answer of `POST /renew`, with the `skipped` list of newer servers.
#[derive(Debug, Serialize, Deserialize)]
pub struct RenewAnswer {
    /// Users renewed.
    pub renewed: Vec<Renewal>,
    /// Users that failed, with the error.
    pub failed: Vec<RenewFailure>,
    /// Users skipped (newer servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<Vec<RenewSkip>>,
}

/// The backup schedule.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupSchedule {
    /// Scheduled backups are taken.
    pub enabled: bool,
    /// How often, seconds.
    pub every: Option<u64>,
    /// Scheduled backups kept.
    pub keep: u32,
    /// The next one, Unix seconds.
    pub next_at: Option<i64>,
    /// The last one, Unix seconds.
    pub last_at: Option<i64>,
}

/// `GET|POST /backups/schedule` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScheduleAnswer {
    /// The schedule now.
    pub schedule: BackupSchedule,
}

/// `POST /backups/schedule`: `every` null switches scheduled backups off.
#[derive(Debug, Serialize)]
pub struct SetSchedule {
    /// Seconds between backups, or null for off.
    pub every: Option<u64>,
    /// Scheduled backups kept.
    pub keep: u32,
}

/// `GET /status`, with the backup schedule of newer servers.
#[derive(Debug, Serialize, Deserialize)]
pub struct StatusAnswer {
    /// The status every server answers.
    #[serde(flatten)]
    pub status: Status,
    /// The backup schedule (newer servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_schedule: Option<BackupSchedule>,
}

/// `POST /users/{email}/recover` with the reason for the audit log.
#[derive(Debug, Serialize)]
pub struct RecoverWhyRequest {
    /// The bundle's password.
    pub password: Secret,
    /// Also issue a new enrollment token.
    pub reenroll: bool,
    /// Why the key is recovered.
    pub why: String,
}

/// `{"confirm": true}`: the administrator confirmed a destructive request.
#[derive(Debug, Serialize)]
pub struct Confirm {
    /// Always true.
    pub confirm: bool,
}
