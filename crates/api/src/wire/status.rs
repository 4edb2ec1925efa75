//! `GET /status`: the authority at a glance.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /status`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// The CA certificate's subject, RFC 4514.
    pub ca_subject: String,
    /// The CA certificate's notAfter, Unix seconds.
    pub ca_not_after: i64,
    /// `ca_not_after`, RFC 3339.
    #[serde(default)]
    pub ca_not_after_rfc3339: String,
    /// Users by status.
    pub users: UserCounts,
    /// Certificates by status.
    pub certificates: CertCounts,
    /// The CRLs as last signed.
    pub crl: CrlStatus,
    /// The newest backup in `DATA_DIR/backups`, if any.
    pub last_backup: Option<BackupStatus>,
    /// The newest `backup verify` in the audit log, if any.
    pub last_verification: Option<VerificationStatus>,
    /// Open approval requests.
    pub pending_approvals: i64,
    /// The backup schedule in effect (absent from servers that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_schedule: Option<crate::BackupSchedule>,
    /// The dashboard's health checks as last computed in the background (absent from servers
    /// that predate them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthReport>,
}

/// The health checks, the counts of what needs attention and the daily activity, as the
/// authority's background thread last computed them (never per request).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthReport {
    /// When they were computed, Unix seconds.
    pub computed_at: i64,
    /// `computed_at`, RFC 3339.
    #[serde(default)]
    pub computed_at_rfc3339: String,
    /// The worst state among the checks: `ok`, `warning` or `critical`.
    pub overall: String,
    /// The checks: `crl`, `ocsp`, `backup`, `store`, `tls`, `ca`, in that order.
    pub checks: Vec<HealthCheck>,
    /// What needs attention, counted.
    pub attention: Attention,
    /// Issuance and revocations per day (UTC), oldest first, the last 90 days.
    pub activity: Vec<DayActivity>,
}

/// One health check.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthCheck {
    /// Stable name: `crl`, `ocsp`, `backup`, `store`, `tls` or `ca`.
    pub name: String,
    /// What is checked, for people.
    pub title: String,
    /// `ok`, `warning` or `critical`.
    pub state: String,
    /// What was found, for people.
    pub message: String,
}

/// What needs attention, counted.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Attention {
    /// Current certificates expiring within `expiring_window_days`.
    pub expiring_certificates: i64,
    /// The window of `expiring_certificates`, days.
    pub expiring_window_days: i64,
    /// Users with an unused, unexpired enrollment token.
    pub pending_invitations: i64,
    /// Approval requests waiting.
    pub approvals_waiting: i64,
    /// Of those, the ones expiring within two hours.
    pub approvals_expiring_soon: i64,
    /// Failed administrator sign-ins in the last 24 hours.
    pub failed_signins_last_day: i64,
}

/// Issuance and revocations on one day (UTC).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DayActivity {
    /// The day's start (UTC midnight), Unix seconds.
    pub day: i64,
    /// Certificates issued.
    pub issued: i64,
    /// Certificates revoked.
    pub revoked: i64,
}

/// Users by status.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct UserCounts {
    /// Active users.
    pub active: i64,
    /// Disabled users.
    pub disabled: i64,
}

/// Certificates by status (each certificate in exactly one).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct CertCounts {
    /// Valid now, not revoked, not replaced.
    pub active: i64,
    /// Revoked.
    pub revoked: i64,
    /// Past notAfter, not revoked.
    pub expired: i64,
    /// Replaced by a renewal, still valid, not revoked.
    pub superseded: i64,
}

/// The CRLs as last signed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CrlStatus {
    /// The full CRL's number.
    pub number: i64,
    /// The delta CRL's number.
    pub delta_number: i64,
    /// thisUpdate of both CRLs (they are signed together), Unix seconds.
    pub this_update: i64,
    /// `this_update`, RFC 3339.
    #[serde(default)]
    pub this_update_rfc3339: String,
    /// nextUpdate of both CRLs, Unix seconds.
    pub next_update: i64,
    /// `next_update`, RFC 3339.
    #[serde(default)]
    pub next_update_rfc3339: String,
    /// The delta CRL's thisUpdate, Unix seconds.
    pub delta_this_update: i64,
    /// `delta_this_update`, RFC 3339.
    #[serde(default)]
    pub delta_this_update_rfc3339: String,
    /// The delta CRL's nextUpdate, Unix seconds.
    pub delta_next_update: i64,
    /// `delta_next_update`, RFC 3339.
    #[serde(default)]
    pub delta_next_update_rfc3339: String,
}

/// The newest backup file.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BackupStatus {
    /// File name.
    pub name: String,
    /// When it was taken (from its name), Unix seconds.
    pub taken_at: Option<i64>,
    /// `taken_at`, RFC 3339.
    #[serde(default)]
    pub taken_at_rfc3339: Option<String>,
    /// Bytes.
    pub bytes: u64,
}

/// The newest backup verification, from the audit log.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VerificationStatus {
    /// Unix seconds.
    pub at: i64,
    /// `at`, RFC 3339.
    #[serde(default)]
    pub at_rfc3339: String,
    /// Who ran it.
    pub actor: String,
    /// The backup named.
    pub backup: String,
    /// True when the check passed.
    pub ok: bool,
    /// One line: what was checked, or why it failed.
    pub summary: String,
}
