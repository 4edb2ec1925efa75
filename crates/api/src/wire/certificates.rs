//! Certificate search and detail.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{CertKind, CertStatus, ContentAlgorithm, RevocationReason};

/// A certificate as searches list it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CertRow {
    /// Serial, lower-case hex.
    pub serial: String,
    /// The owner's address (`null` for the server's TLS certificate).
    pub email: Option<String>,
    /// `signing`, `encryption` or `tls`.
    pub kind: CertKind,
    /// `active`, `revoked`, `expired` or `superseded`.
    pub status: CertStatus,
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
    /// Unix seconds.
    pub issued_at: i64,
    /// `issued_at`, RFC 3339.
    #[serde(default)]
    pub issued_at_rfc3339: String,
    /// Revocation reason (RFC 5280 name), when revoked.
    pub revocation_reason: Option<RevocationReason>,
}

/// `GET /certificates/{serial}`: one certificate in full.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CertDetail {
    /// The search row (serial, owner, kind, status, times).
    #[serde(flatten)]
    pub summary: CertRow,
    /// Subject DN, RFC 4514.
    pub subject: String,
    /// Issuer DN, RFC 4514.
    pub issuer: String,
    /// keyUsage bits by RFC 5280 name (`digitalSignature`, `keyEncipherment`, ...).
    pub key_usage: Vec<String>,
    /// extKeyUsage purposes by name (`emailProtection`, `serverAuth`, ...) or dotted OID.
    pub extended_key_usage: Vec<String>,
    /// rfc822Name entries of subjectAltName (and legacy emailAddress attributes).
    pub emails: Vec<String>,
    /// SMIMECapabilities, strongest first as written.
    pub capabilities: Vec<ContentAlgorithm>,
    /// RSA modulus size in bits.
    pub key_bits: u64,
    /// When it was revoked, Unix seconds.
    pub revoked_at: Option<i64>,
    /// `revoked_at`, RFC 3339.
    #[serde(default)]
    pub revoked_at_rfc3339: Option<String>,
    /// SHA-256 over the DER, upper-case hex with colons (as `openssl x509 -fingerprint`).
    pub sha256_fingerprint: String,
    /// The certificate, PEM.
    pub pem: String,
}

/// `GET /certificates`: a page of a search.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CertPage {
    /// Rows matching, in all.
    pub total: i64,
    /// The first row's position (0-based).
    pub offset: i64,
    /// Rows asked for.
    pub limit: i64,
    /// This page's rows.
    pub certificates: Vec<CertRow>,
}

/// The query of `GET /certificates`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CertListQuery {
    /// A serial or its beginning (hex; colons and `0x` allowed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// A part of the owner's e-mail address (case ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `active`, `revoked`, `expired` or `superseded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `signing`, `encryption` or `tls`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `serial`, `email`, `kind`, `status`, `not_before`, `not_after` or `issued_at`
    /// (default `issued_at`, newest first).
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

/// `POST /lint`: a certificate to check against the S/MIME Baseline Requirements profiles.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LintRequest {
    /// The certificate: PEM text, or DER in base64.
    pub certificate: String,
    /// The profile to judge it against (`mailbox-strict`, ...); absent: the one its
    /// reserved policy identifier names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// One broken (or bent) rule.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LintFinding {
    /// The rule's name (`sbr.key_usage`, ...).
    pub rule: String,
    /// `ERROR` (a requirement is broken: the authority would refuse to issue it) or
    /// `WARNING`.
    pub severity: String,
    /// What is wrong.
    pub message: String,
}

/// The answer of `POST /lint`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LintReport {
    /// `ca`, `signing` or `encryption`: what the certificate was judged as.
    pub kind: String,
    /// The profile it was judged against; absent for a CA certificate or when no reserved
    /// policy says.
    pub profile: Option<String>,
    /// True when no finding is an error.
    pub passes: bool,
    /// Every finding, errors first.
    pub findings: Vec<LintFinding>,
}
