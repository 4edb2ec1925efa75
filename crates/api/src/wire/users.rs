//! Users, enrollment tokens, enrollment, the directory, revocation and renewal.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{CertKind, ContentAlgorithm, RevocationReason, Secret, UserState, UserStatus};

/// A user.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserInfo {
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Content algorithms, strongest first.
    pub capabilities: Vec<ContentAlgorithm>,
    /// `active` or `disabled`.
    pub status: UserStatus,
    /// Unix seconds.
    pub created_at: i64,
    /// `created_at`, RFC 3339.
    #[serde(default)]
    pub created_at_rfc3339: String,
    /// givenName written into sponsor-validated certificates, if on record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// surname written into sponsor-validated certificates, if on record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    /// pseudonym (instead of given name and surname), if on record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonym: Option<String>,
    /// The user's own certificate profile (`mailbox-strict`, ...); absent: the authority's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The lifecycle state (`invited`, `enrolled`, `expiring`, ...), beside `status`;
    /// absent from servers before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<UserState>,
    /// When the state ends or ended, Unix seconds: the pending token's expiry (`invited`,
    /// `invitation-expired`), the earliest current certificate's notAfter (`enrolled`,
    /// `expiring`) or the last one's (`expired`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_expires_at: Option<i64>,
    /// `state_expires_at`, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_expires_at_rfc3339: Option<String>,
}

/// A certificate as a user's detail shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CertSummary {
    /// Serial, lower-case hex.
    pub serial: String,
    /// `signing` or `encryption`.
    pub kind: CertKind,
    /// Unix seconds.
    pub not_before: i64,
    /// `not_before`, RFC 3339.
    #[serde(default)]
    pub not_before_rfc3339: String,
    /// Unix seconds.
    pub not_after: i64,
    /// `not_after`, RFC 3339.
    #[serde(default)]
    pub not_after_rfc3339: String,
    /// Revocation reason, when revoked.
    pub revoked: Option<RevocationReason>,
    /// True when a renewal replaced it.
    pub superseded: bool,
}

/// `GET /users/{email}`: a user with their certificates.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserDetail {
    /// The user.
    #[serde(flatten)]
    pub user: UserInfo,
    /// Every certificate issued to the user, oldest first.
    pub certificates: Vec<CertSummary>,
    /// How many encryption keys are escrowed for the user.
    pub escrowed_keys: u64,
}

/// `POST /users`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddUserRequest {
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Content algorithms, strongest first (empty: the server's default list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<ContentAlgorithm>,
    /// givenName for sponsor-validated certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// surname for sponsor-validated certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    /// pseudonym (instead of given name and surname).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonym: Option<String>,
    /// Certificate profile (`mailbox-strict`, `mailbox-multipurpose`, `sponsored-strict`,
    /// `sponsored-multipurpose`); absent: the authority's `profile` setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// The answer of `POST /users`: the user and their first enrollment token (shown once).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserAdded {
    /// The user.
    pub user: UserInfo,
    /// The enrollment token to hand to the user.
    pub enrollment_token: Secret,
    /// When the token expires, Unix seconds.
    pub token_expires_at: i64,
    /// `token_expires_at`, RFC 3339.
    #[serde(default)]
    pub token_expires_at_rfc3339: String,
}

/// `POST /users/{email}/token`: a new enrollment token (shown once).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NewToken {
    /// The enrollment token.
    pub enrollment_token: Secret,
    /// When it expires, Unix seconds.
    pub token_expires_at: i64,
    /// `token_expires_at`, RFC 3339.
    #[serde(default)]
    pub token_expires_at_rfc3339: String,
}

/// `POST /users/{email}/disable`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserResponse {
    /// The user now.
    pub user: UserInfo,
}

/// `GET /users`: every user (no parameters: `total` and `users` only), or a page of a search
/// (`offset` and `limit` too).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    /// Users matching, in all.
    pub total: i64,
    /// The first row's position (searches only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Rows asked for (searches only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The users.
    pub users: Vec<UserInfo>,
}

/// The query of `GET /users`; any parameter makes it a paged search.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// A part of the e-mail address or name (case ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// `active` or `disabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A lifecycle state (`new`, `invited`, `invitation-expired`, `enrolled`, `expiring`,
    /// `expired`, `revoked`, `disabled`): users in it only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `email`, `name`, `status` or `created_at` (default `email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// `asc` or `desc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// Rows (1 to 500, default 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Rows to skip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

impl UserListQuery {
    /// True when no parameter is set (list every user).
    pub fn is_plain(&self) -> bool {
        self.q.is_none()
            && self.status.is_none()
            && self.state.is_none()
            && self.sort.is_none()
            && self.dir.is_none()
            && self.limit.is_none()
            && self.offset.is_none()
    }
}

/// `POST /enroll`: the user's enrollment token and signing-key CSR.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The enrollment token.
    pub token: Secret,
    /// The signing key's PKCS#10 request, PEM.
    pub csr: String,
}

/// The answer of `POST /enroll`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Enrolled {
    /// The signing certificate, PEM.
    pub signing_certificate: String,
    /// The encryption certificate, PEM.
    pub encryption_certificate: String,
    /// The CA certificate, PEM.
    pub ca_certificate: String,
    /// The escrowed encryption key, PKCS#8 `ENCRYPTED PRIVATE KEY` PEM under the enrollment
    /// token.
    pub encrypted_key: Secret,
}

/// `GET /directory/{email}`: what a sender needs to encrypt to a user.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DirectoryEntry {
    /// Address.
    pub email: String,
    /// Content algorithms the user's client supports, strongest first.
    pub capabilities: Vec<ContentAlgorithm>,
    /// The current encryption certificate, PEM.
    pub certificate: String,
    /// The current signing certificate, PEM (`lockbox fetch` collects renewed ones).
    #[serde(default)]
    pub signing_certificate: Option<String>,
}

/// `POST /revoke`: exactly one of `email` (every current certificate of the user) or `serial`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// A user's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// One certificate's serial (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The reason (default `unspecified`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RevocationReason>,
    /// The caller confirmed revoking more than one certificate (428 without it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
}

/// The answer of `POST /revoke`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Revoked {
    /// Serials revoked (now, or whose reason was raised to `keyCompromise`).
    pub revoked: Vec<String>,
    /// The reason recorded.
    pub reason: RevocationReason,
    /// Serials that were revoked already and are left as they were (a revoke of a revoked
    /// certificate with the same or a weaker reason succeeds and changes nothing).
    #[serde(default)]
    pub already_revoked: Vec<String>,
    /// The number of the full CRL that lists these revocations (published, or due when
    /// `crl_pending`).
    #[serde(default)]
    pub crl_number: Option<i64>,
    /// When that CRL was signed (its thisUpdate), Unix seconds; absent while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_published_at: Option<i64>,
    /// `crl_published_at`, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_published_at_rfc3339: Option<String>,
    /// True while the CRL listing them is not published yet: the server's publisher re-signs
    /// it as soon as it can (retrying), and `/healthz` reports the lag meanwhile.
    #[serde(default)]
    pub crl_pending: bool,
}

/// `POST /revocations/bulk`: exactly one of `serials` or `emails` (at most 100 000), with
/// `"confirm": true` (428 without it). One transaction: a malformed serial refuses the whole
/// call (400, nothing changes); a serial no certificate has, or an address no user has, is
/// answered in `not_found` and the rest is revoked.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRevokeRequest {
    /// Certificates to revoke, by serial (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serials: Option<Vec<String>>,
    /// Users whose unrevoked, unexpired certificates to revoke, by address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    /// The reason (default `unspecified`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RevocationReason>,
    /// The caller confirmed the revocation (428 without it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
}

/// The answer of `POST /revocations/bulk`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkRevoked {
    /// Certificates revoked now (or whose reason was raised to `keyCompromise`).
    pub revoked: u64,
    /// Certificates revoked already and left as they were.
    pub already_revoked: u64,
    /// Entries, as given, that name no certificate (serials) or no user (addresses).
    pub not_found: Vec<String>,
    /// The reason recorded.
    pub reason: RevocationReason,
    /// The number of the full CRL that lists these revocations (published, or due when
    /// `crl_pending`).
    pub crl_number: i64,
    /// When that CRL was signed (its thisUpdate), Unix seconds; absent while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_published_at: Option<i64>,
    /// `crl_published_at`, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_published_at_rfc3339: Option<String>,
    /// True while the CRL listing them is not published yet (the server's publisher
    /// re-signs it as soon as it can; `/healthz` reports the lag meanwhile).
    pub crl_pending: bool,
}

/// `POST /renew`: exactly one of `email` or `all: true` (`new_key` only with `email`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// The user to renew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Renew every enrolled user.
    #[serde(default)]
    pub all: bool,
    /// Roll the encryption key over (the user enrolls again with the token returned).
    #[serde(default)]
    pub new_key: bool,
    /// With `all`: renew only certificates that expire within this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<u64>,
    /// With `all`: the caller confirmed a batch renewal (428 without it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
}

/// A user a batch renewal left alone, and why.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RenewSkipped {
    /// The user.
    pub email: String,
    /// `not enrolled`, `revoked`, `disabled` or `not expiring within the window`.
    pub reason: String,
}

/// One user renewed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Renewal {
    /// The user.
    pub email: String,
    /// New certificates.
    pub certificates: Vec<CertSummary>,
    /// With a new key: the token to enroll again with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_token: Option<Secret>,
    /// When that token expires, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<i64>,
    /// `token_expires_at`, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at_rfc3339: Option<String>,
}

/// A user a batch renewal could not renew.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RenewFailure {
    /// The user.
    pub email: String,
    /// The error's code.
    pub code: String,
    /// The error's message.
    pub message: String,
}

/// The answer of `POST /renew`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RenewResponse {
    /// Users renewed.
    pub renewed: Vec<Renewal>,
    /// Users not renewed, with why.
    pub failed: Vec<RenewFailure>,
    /// Users not eligible (never enrolled, revoked, disabled, or outside the window).
    #[serde(default)]
    pub skipped: Vec<RenewSkipped>,
}
