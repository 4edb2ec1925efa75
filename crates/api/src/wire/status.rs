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
