//! The audit log: listing, searching, verifying, signing.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AuditOutcome;

/// One audit log entry.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    /// `at`, RFC 3339.
    #[serde(default)]
    pub at_rfc3339: String,
    /// Administrator name, or `-`.
    pub actor: String,
    /// What was asked (`user.add`, `admin.remove`, `login`, `unlock`, ...).
    pub action: String,
    /// What it was asked on.
    pub target: String,
    /// `ok`, `refused`, or `pending` (a quorum operation waiting for approvals).
    pub outcome: AuditOutcome,
    /// For refusals, the error code and message.
    pub detail: String,
    /// The entry's chain hash (hex).
    pub hash: String,
}

/// `GET /audit`: without filters (or `since` alone) every entry, oldest first (`entries`
/// only); with any other filter a page of a search, newest first, with `total`, `offset` and
/// `limit`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    /// Entries matching, in all (searches only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// The first row's position (searches only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Rows asked for (searches only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The entries.
    pub entries: Vec<AuditEntry>,
}

/// The query of `GET /audit`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// From this time on (Unix seconds, inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// Before this time (Unix seconds, exclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    /// Exactly this actor (`-` for nobody signed in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Actions starting with this (`user.` finds `user.add`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `ok`, `refused` or `pending`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Rows (1 to 500, default 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Rows to skip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

impl AuditQuery {
    /// True when only `since` (or nothing) is set: list, oldest first.
    pub fn is_plain(&self) -> bool {
        self.until.is_none()
            && self.actor.is_none()
            && self.action.is_none()
            && self.outcome.is_none()
            && self.limit.is_none()
            && self.offset.is_none()
    }
}

/// The first problem a verification found.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditProblem {
    /// The entry the problem shows at.
    pub seq: i64,
    /// `altered`, `removed`, `reordered`, `checkpoint`, `anchor` (the audit anchor kept
    /// outside the database names work the store lacks, or is invalid).
    pub kind: String,
    /// A sentence for people.
    pub message: String,
}

/// `GET /audit/verify` (and the audit part of a backup check).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditReport {
    /// Entries checked.
    pub entries: i64,
    /// Signed checkpoints checked.
    pub checkpoints: i64,
    /// The last entry covered by a valid CA signature.
    pub signed_through: Option<i64>,
    /// True when no problem was found.
    pub ok: bool,
    /// The first problem, if any.
    pub problem: Option<AuditProblem>,
    /// The check of the audit anchor kept outside the database (the live store's
    /// `audit verify` only; absent in a backup check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<AuditAnchor>,
}

/// The audit anchor's check: the chain head (seq, hash) kept MACed in `DATA_DIR/audit-anchor`,
/// against the database.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditAnchor {
    /// `ok`, `not_written` (never anchored yet), `missing` (a warning), `invalid` or
    /// `rollback` (committed work is missing), `accepted` (a rollback the operator accepted).
    pub state: String,
    /// True when the server refuses to start on this store as it is.
    pub refused: bool,
    /// True for a warning.
    pub warning: bool,
    /// The entry the anchor names, when it could be read.
    pub anchor_seq: Option<i64>,
    /// When the anchor was written (Unix seconds).
    pub anchor_at: Option<i64>,
    /// The last entry in the database.
    pub head_seq: i64,
    /// A sentence for operators.
    pub message: String,
}

/// The answer of `POST /audit/sign`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditSigned {
    /// The last entry the new checkpoint covers (`null`: the log is empty).
    pub signed_through: Option<i64>,
}
