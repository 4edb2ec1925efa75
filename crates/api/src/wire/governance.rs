//! Quorum policies, approval requests, key recovery and the start-up secrets.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{QuorumOperation, RequestStatus, Secret, UnlockMethodKind};

/// One quorum policy.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Policy {
    /// The operation.
    pub operation: QuorumOperation,
    /// Distinct administrators who must approve it.
    pub quorum: i64,
}

/// `GET /policies`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyList {
    /// Every policy.
    pub policies: Vec<Policy>,
}

/// `POST /policies/{operation}`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPolicyRequest {
    /// Distinct administrators who must approve (1: no quorum).
    pub quorum: i64,
}

/// The answer of `POST /policies/{operation}`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyResponse {
    /// The policy now.
    pub policy: Policy,
}

/// An approval request.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalRequest {
    /// Request id.
    pub id: i64,
    /// The operation.
    pub operation: QuorumOperation,
    /// Its exact target.
    pub target: String,
    /// Who opened it.
    pub requested_by: String,
    /// `pending`, `done`, `cancelled` or `expired`.
    pub status: RequestStatus,
    /// Administrators whose approval counts.
    pub approved_by: Vec<String>,
    /// Approvals needed (the policy now).
    pub needed: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// `expires_at`, RFC 3339.
    #[serde(default)]
    pub expires_at_rfc3339: String,
}

/// `GET /approvals`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalList {
    /// Open requests.
    pub requests: Vec<ApprovalRequest>,
}

/// The answer of `POST /approvals/{id}/approve` and `.../cancel`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalResponse {
    /// The request now.
    pub request: ApprovalRequest,
}

/// `POST /users/{email}/recover`: the bundle password travels in the body and is never logged.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// The PKCS#12 bundle's password (8 characters or more).
    pub password: Secret,
    /// Also issue a new enrollment token.
    #[serde(default)]
    pub reenroll: bool,
}

/// The answer of `POST /users/{email}/recover`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Recovered {
    /// Every encryption key the user ever had, with its certificate: PKCS#12 (DER), base64.
    pub pkcs12: Secret,
    /// Keys in it.
    pub keys: u64,
    /// With `reenroll`: a new enrollment token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_token: Option<Secret>,
    /// When that token expires, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<i64>,
    /// `token_expires_at`, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at_rfc3339: Option<String>,
}

/// A start-up secret (unlock method) as listed: no secret material.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UnlockMethod {
    /// Its id.
    pub id: i64,
    /// `password` or `key-file`.
    pub kind: UnlockMethodKind,
    /// A human label.
    pub label: String,
    /// For a key file: the public id written in it (hex).
    pub key_file_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// `created_at`, RFC 3339.
    #[serde(default)]
    pub created_at_rfc3339: String,
}

/// `GET /unlock-methods`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UnlockMethodList {
    /// Every method.
    pub methods: Vec<UnlockMethod>,
}

/// `POST /unlock-methods`: exactly one of `password` (a new start-up password) or
/// `key_file: true` (a new key file, returned base64 in the answer: the caller stores it).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddUnlockMethodRequest {
    /// A new start-up password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Make a new key file.
    #[serde(default)]
    pub key_file: bool,
}

/// The answer of `POST /unlock-methods`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UnlockMethodAdded {
    /// The method.
    pub method: UnlockMethod,
    /// For a key file: its content, base64 (sent once; only over HTTPS or to loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<Secret>,
}

/// The answer of `POST /unlock-methods/{id}/remove`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UnlockMethodRemoved {
    /// The id removed.
    pub removed: i64,
}
