//! Unlocking the authority, signing in and out, health.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Role, Secret};

/// `GET /healthz`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`; `degraded` while it serves with a problem (see `reasons`); `unavailable` (HTTP
    /// 503) when it cannot serve at all (a damaged store).
    pub status: String,
    /// True while the authority waits to be unlocked.
    pub locked: bool,
    /// Why it is degraded or unavailable, one sentence each for an operator (absent when
    /// `ok`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// A one-word or one-sentence outcome (`unlocked`, `signed out`, ...).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusMessage {
    /// What happened.
    pub status: String,
}

/// `POST /unlock`: exactly one of `password` or `key_file`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockRequest {
    /// A start-up password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// The key file's content, base64 (standard alphabet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<Secret>,
}

/// `POST /login`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Administrator name.
    pub name: String,
    /// Their password.
    pub password: Secret,
    /// The current 6-digit TOTP code, for an account with a second factor (a missing or
    /// wrong code is answered as a wrong password, AUTH-001).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<Secret>,
}

/// A signed-in administrator (name and role).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Admin {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// The answer of `POST /login`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The session's bearer token (`Authorization: Bearer ...`), shown once.
    pub token: Secret,
    /// When the session ends, Unix seconds.
    pub expires_at: i64,
    /// `expires_at`, RFC 3339.
    #[serde(default)]
    pub expires_at_rfc3339: String,
    /// Who signed in.
    pub admin: Admin,
}
