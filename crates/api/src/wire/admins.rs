//! Administrators: adding, listing, removing, roles, one's own password.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Role, Secret};

/// An administrator account as listed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminInfo {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Unix seconds.
    pub created_at: i64,
    /// `created_at`, RFC 3339.
    #[serde(default)]
    pub created_at_rfc3339: String,
    /// Locked out after failed sign-ins until then (Unix seconds), if now.
    pub locked_until: Option<i64>,
    /// `locked_until`, RFC 3339.
    #[serde(default)]
    pub locked_until_rfc3339: Option<String>,
}

/// `POST /admins`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddAdminRequest {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Their first password.
    pub password: Secret,
}

/// `POST /admins/{name}/role`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoleRequest {
    /// The new role.
    pub role: Role,
}

/// `POST /admins/me/password`: both passwords travel in the body and are never logged.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The current password.
    pub current: Secret,
    /// The new one.
    pub new: Secret,
}

/// An administrator added or changed (`POST /admins`, `POST /admins/{name}/role`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminResponse {
    /// The account now.
    pub admin: AdminInfo,
}

/// `GET /admins`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminList {
    /// Every administrator.
    pub admins: Vec<AdminInfo>,
}

/// `POST /admins/{name}/remove`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminRemoved {
    /// The account removed.
    pub removed: AdminInfo,
}

/// `POST /admins/{name}/unlock`: the account's lock-out cleared.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminUnlocked {
    /// The account now.
    pub unlocked: AdminInfo,
}

/// The answer of `POST /admins/me/totp`: the new second factor's secret, shown this once.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpEnabled {
    /// `otpauth://totp/KMS:NAME?secret=BASE32&issuer=KMS&algorithm=SHA1&digits=6&period=30`,
    /// for an authenticator app (a QR code of it, or the secret typed in).
    pub otpauth_uri: Secret,
}

/// The answer of `POST /admins/me/totp/disable` and `POST /admins/{name}/totp/disable`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpDisabled {
    /// The administrator.
    pub name: String,
    /// Whether the account had a second factor (false: nothing changed).
    pub had_totp: bool,
}
