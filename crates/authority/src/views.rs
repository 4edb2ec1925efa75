//! Read queries for the console and the API: the status summary, certificate, user and audit
//! searches (filtered, sorted and paged in SQL) and one certificate's details. Every role may
//! read them; nothing here writes.

use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages};

use super::*;

/// Rows a page may hold at most.
pub const MAX_PAGE: i64 = 500;
/// Rows a page holds when the caller does not say.
pub const DEFAULT_PAGE: i64 = 50;
/// Longest search text accepted.
const MAX_QUERY_TEXT: usize = 200;

/// The authority at a glance (locked or unlocked is the server's business).
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// The CA certificate's subject, RFC 4514.
    pub ca_subject: String,
    /// The CA certificate's notAfter, Unix seconds.
    pub ca_not_after: i64,
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
    /// The backup schedule in effect.
    pub backup_schedule: BackupSchedule,
}

/// Users by status.
#[derive(Clone, Debug, Default, Serialize)]
pub struct UserCounts {
    /// Active users.
    pub active: i64,
    /// Disabled users.
    pub disabled: i64,
}

/// Certificates by status (each certificate in exactly one).
#[derive(Clone, Debug, Default, Serialize)]
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
#[derive(Clone, Debug, Serialize)]
pub struct CrlStatus {
    /// The full CRL's number.
    pub number: i64,
    /// The delta CRL's number.
    pub delta_number: i64,
    /// thisUpdate of both CRLs (they are signed together), Unix seconds.
    pub this_update: i64,
    /// nextUpdate of both CRLs, Unix seconds.
    pub next_update: i64,
    /// The delta CRL's thisUpdate, Unix seconds.
    pub delta_this_update: i64,
    /// The delta CRL's nextUpdate, Unix seconds.
    pub delta_next_update: i64,
}

/// The newest backup file.
#[derive(Clone, Debug, Serialize)]
pub struct BackupStatus {
    /// File name.
    pub name: String,
    /// When it was taken (from its name), Unix seconds.
    pub taken_at: Option<i64>,
    /// Bytes.
    pub bytes: u64,
}

/// The newest backup verification, from the audit log.
#[derive(Clone, Debug, Serialize)]
pub struct VerificationStatus {
    /// Unix seconds.
    pub at: i64,
    /// Who ran it.
    pub actor: String,
    /// The backup named.
    pub backup: String,
    /// True when the check passed.
    pub ok: bool,
    /// One line: what was checked, or why it failed.
    pub summary: String,
}

/// A page of a search: the rows and how many match in all.
#[derive(Clone, Debug, Serialize)]
pub struct Page<T> {
    /// Rows matching the filters, in all.
    pub total: i64,
    /// The first row's position (0-based).
    pub offset: i64,
    /// Rows asked for.
    pub limit: i64,
    /// This page's rows.
    pub items: Vec<T>,
}

/// Sort direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

impl FromStr for Direction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "asc" => Ok(Direction::Asc),
            "desc" => Ok(Direction::Desc),
            _ => Err(Error::invalid("sort direction", "use asc or desc")),
        }
    }
}

impl Direction {
    fn sql(self) -> &'static str {
        match self {
            Direction::Asc => "ASC",
            Direction::Desc => "DESC",
        }
    }
}

/// A certificate search.
#[derive(Clone, Debug, Default)]
pub struct CertQuery {
    /// Serial (hex; a prefix matches; colons and `0x` allowed).
    pub serial: Option<String>,
    /// A part of the owner's e-mail address (case ignored).
    pub email: Option<String>,
    /// `active`, `revoked`, `expired` or `superseded`.
    pub status: Option<String>,
    /// `signing`, `encryption` or `tls`.
    pub kind: Option<String>,
    /// `serial`, `email`, `kind`, `status`, `not_before`, `not_after` or `issued_at`
    /// (default `issued_at`).
    pub sort: Option<String>,
    /// Direction (default: newest first for times, else ascending).
    pub direction: Option<Direction>,
    /// Rows (1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`]).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

/// A certificate in a search result.
#[derive(Clone, Debug, Serialize)]
pub struct CertRow {
    /// Serial, lower-case hex.
    pub serial: String,
    /// The owner's address (`None` for the server's TLS certificate).
    pub email: Option<String>,
    /// `signing`, `encryption` or `tls`.
    pub kind: String,
    /// `active`, `revoked`, `expired` or `superseded`.
    pub status: String,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// Unix seconds.
    pub issued_at: i64,
    /// Revocation reason (RFC 5280 name), when revoked.
    pub revocation_reason: Option<String>,
}

/// One certificate in full.
#[derive(Clone, Debug, Serialize)]
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
    pub capabilities: Vec<String>,
    /// RSA modulus size in bits.
    pub key_bits: usize,
    /// When it was revoked, Unix seconds.
    pub revoked_at: Option<i64>,
    /// SHA-256 over the DER, upper-case hex with colons (as `openssl x509 -fingerprint`).
    pub sha256_fingerprint: String,
    /// The certificate, DER.
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// A user's lifecycle state, computed by the authority from the user's status, current
/// certificates (those no renewal replaced; the server's TLS certificate is nobody's) and
/// pending enrollment token. Each user is in exactly one; the first that applies wins:
///
/// 1. `disabled`: the user is disabled (whatever their certificates);
/// 2. `revoked`: the user has current certificates and every one is revoked;
/// 3. `expired`: every current certificate not revoked is past its notAfter;
/// 4. `expiring`: a current certificate, valid and not revoked, expires within
///    [`Config::expiring_window_days`](crate::Config::expiring_window_days);
/// 5. `enrolled`: a current certificate is valid and not revoked;
/// 6. `invitation-expired`: no certificate, and the unused enrollment token has expired;
/// 7. `invited`: no certificate, and an unused enrollment token is still valid;
/// 8. `new`: no certificate and no unused token (an invitation needs a token: a user whose
///    token was used up or withdrawn without an enrollment, until an officer makes a new
///    one).
///
/// A pending token of an enrolled user (a re-enrollment) does not change the state: the
/// certificates decide it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserState {
    /// No certificate and no unused enrollment token.
    New,
    /// No certificate; an enrollment token is pending.
    Invited,
    /// No certificate; the enrollment token expired unused.
    InvitationExpired,
    /// Has valid certificates.
    Enrolled,
    /// Has valid certificates, the earliest expiring within the window.
    Expiring,
    /// Every current certificate not revoked has expired.
    Expired,
    /// Every current certificate is revoked.
    Revoked,
    /// Disabled.
    Disabled,
}

impl UserState {
    /// Every state, in precedence order (highest first).
    pub const ALL: [UserState; 8] = [
        UserState::Disabled,
        UserState::Revoked,
        UserState::Expired,
        UserState::Expiring,
        UserState::Enrolled,
        UserState::InvitationExpired,
        UserState::Invited,
        UserState::New,
    ];

    /// The wire name (`invitation-expired`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::New => "new",
            UserState::Invited => "invited",
            UserState::InvitationExpired => "invitation-expired",
            UserState::Enrolled => "enrolled",
            UserState::Expiring => "expiring",
            UserState::Expired => "expired",
            UserState::Revoked => "revoked",
            UserState::Disabled => "disabled",
        }
    }

    /// One sentence: what the state means (shown beside it on the user page).
    pub fn meaning(self) -> &'static str {
        match self {
            UserState::New => {
                "No certificate and no enrollment token: make a token to invite the user."
            }
            UserState::Invited => "An enrollment token is pending; the user has not enrolled yet.",
            UserState::InvitationExpired => {
                "The enrollment token expired unused: make a new one to invite the user again."
            }
            UserState::Enrolled => "The user has valid certificates.",
            UserState::Expiring => "The user's certificates expire soon: renew them.",
            UserState::Expired => {
                "The user's certificates have expired: renew them or make a new token."
            }
            UserState::Revoked => "Every current certificate of the user is revoked.",
            UserState::Disabled => "The user is disabled: no enrollment, no new certificates.",
        }
    }

    fn from_sql(s: &str) -> db::Result<Self> {
        UserState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| db::DbError::type_error(format!("unknown user state {s:?}")))
    }
}

impl std::fmt::Display for UserState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UserState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        UserState::ALL
            .into_iter()
            .find(|st| st.as_str() == s.trim())
            .ok_or_else(|| {
                Error::invalid(
                    "state",
                    format!(
                        "{s:?}: use one of {}",
                        UserState::ALL.map(UserState::as_str).join(", ")
                    ),
                )
            })
    }
}

/// The state of the user row `u` (a `users` table alias) at `now`, `soon` being the end of
/// the expiring window (both Unix seconds, written into the text: they are integers this
/// code computed). One correlated pass over the user's current certificates, one over the
/// user's unused tokens (both by index).
fn user_state_sql(now: i64, soon: i64) -> String {
    format!(
        "CASE WHEN u.status = 'disabled' THEN 'disabled' ELSE coalesce(
           (SELECT CASE WHEN count(*) = 0 THEN NULL
                        WHEN count(r.serial) = count(*) THEN 'revoked'
                        WHEN max(CASE WHEN r.serial IS NULL THEN c.not_after END) <= {now}
                             THEN 'expired'
                        WHEN min(CASE WHEN r.serial IS NULL AND c.not_after > {now}
                                      THEN c.not_after END) <= {soon} THEN 'expiring'
                        ELSE 'enrolled' END
            FROM certificates c LEFT JOIN revocations r ON r.serial = c.serial
            WHERE c.user_id = u.id AND c.superseded_at IS NULL AND c.kind <> 'tls'),
           (SELECT CASE WHEN max(t.expires_at) IS NULL THEN 'new'
                        WHEN max(t.expires_at) > {now} THEN 'invited'
                        ELSE 'invitation-expired' END
            FROM tokens t WHERE t.user_id = u.id AND t.used_at IS NULL)) END"
    )
}

/// When the state of `u` ends or ended (see [`UserInfo::state_expires_at`]); NULL for
/// `disabled`, `revoked` and `new`.
fn user_state_expiry_sql(now: i64) -> String {
    format!(
        "CASE WHEN u.status = 'disabled' THEN NULL ELSE nullif(coalesce(
           (SELECT CASE WHEN count(*) = 0 THEN NULL
                        WHEN count(r.serial) = count(*) THEN -1
                        WHEN max(CASE WHEN r.serial IS NULL THEN c.not_after END) <= {now}
                             THEN max(CASE WHEN r.serial IS NULL THEN c.not_after END)
                        ELSE min(CASE WHEN r.serial IS NULL AND c.not_after > {now}
                                      THEN c.not_after END) END
            FROM certificates c LEFT JOIN revocations r ON r.serial = c.serial
            WHERE c.user_id = u.id AND c.superseded_at IS NULL AND c.kind <> 'tls'),
           (SELECT max(t.expires_at) FROM tokens t
            WHERE t.user_id = u.id AND t.used_at IS NULL), -1), -1) END"
    )
}

/// A user row: [`USER_COLUMNS`] of `u`, then its state and the state's expiry.
fn user_state_row(r: &db::Row<'_>) -> db::Result<UserInfo> {
    let mut u = user_row(r)?;
    u.state = UserState::from_sql(&r.get::<String>(9)?)?;
    u.state_expires_at = r.get(10)?;
    Ok(u)
}

/// A user search.
#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    /// A part of the e-mail address or name (case ignored).
    pub text: Option<String>,
    /// `active` or `disabled`.
    pub status: Option<String>,
    /// Users in this lifecycle state only.
    pub state: Option<UserState>,
    /// `email`, `name`, `status` or `created_at` (default `email`).
    pub sort: Option<String>,
    /// Direction (default ascending).
    pub direction: Option<Direction>,
    /// Rows (1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`]).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

/// An audit log search; newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Exactly this actor (`-` for nobody signed in).
    pub actor: Option<String>,
    /// Actions starting with this (`user.` finds `user.add`, `user.disable`, ...).
    pub action: Option<String>,
    /// `ok`, `refused` or `pending`.
    pub outcome: Option<String>,
    /// From this time on (Unix seconds, inclusive).
    pub since: Option<i64>,
    /// Before this time (Unix seconds, exclusive).
    pub until: Option<i64>,
    /// Rows (1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`]).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

/// The status of a certificate row (`c` is `certificates`, `r` a LEFT JOIN of
/// `revocations`, `?1` now); each certificate gets exactly one.
const CERT_STATUS_SQL: &str = "CASE WHEN r.serial IS NOT NULL THEN 'revoked'
     WHEN c.not_after <= ?1 THEN 'expired'
     WHEN c.superseded_at IS NOT NULL THEN 'superseded'
     ELSE 'active' END";

fn paging(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64)> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("{limit}: give 1 to {MAX_PAGE}"),
        ));
    }
    let offset = offset.unwrap_or(0);
    if !(0..=i64::from(u32::MAX)).contains(&offset) {
        return Err(Error::invalid(
            "offset",
            format!("{offset}: give 0 or more"),
        ));
    }
    Ok((limit, offset))
}

fn text_filter(what: &'static str, s: &Option<String>) -> Result<Option<String>> {
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.len() > MAX_QUERY_TEXT || t.chars().any(char::is_control) => {
            Err(Error::invalid(
                what,
                format!("give at most {MAX_QUERY_TEXT} printable characters"),
            ))
        }
        Some(t) => Ok(Some(t.to_string())),
    }
}

/// `%text%` for LIKE with `\` as the escape character.
fn like_contains(t: &str) -> String {
    let mut out = String::with_capacity(t.len() + 2);
    out.push('%');
    for c in t.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn one_of(what: &'static str, v: &Option<String>, allowed: &[&str]) -> Result<Option<String>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if allowed.contains(&s) => Ok(Some(s.to_string())),
        Some(s) => Err(Error::invalid(
            what,
            format!("{s:?}: use one of {}", allowed.join(", ")),
        )),
    }
}

/// A serial prefix: lower-case hex, colons and `0x` removed (leading zeros kept: a prefix is
/// matched as typed).
fn serial_prefix(s: &str) -> Result<String> {
    let t: String = s
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if t.is_empty() || t.len() > 42 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            "serial",
            "give the serial number (or its start) in hex",
        ));
    }
    Ok(t)
}

fn key_usage_names(ku: &KeyUsage) -> Vec<String> {
    [
        (KeyUsages::DigitalSignature, "digitalSignature"),
        (KeyUsages::NonRepudiation, "nonRepudiation"),
        (KeyUsages::KeyEncipherment, "keyEncipherment"),
        (KeyUsages::DataEncipherment, "dataEncipherment"),
        (KeyUsages::KeyAgreement, "keyAgreement"),
        (KeyUsages::KeyCertSign, "keyCertSign"),
        (KeyUsages::CRLSign, "cRLSign"),
        (KeyUsages::EncipherOnly, "encipherOnly"),
        (KeyUsages::DecipherOnly, "decipherOnly"),
    ]
    .into_iter()
    .filter(|(flag, _)| ku.0.contains(*flag))
    .map(|(_, name)| name.to_string())
    .collect()
}

fn eku_name(oid: &der::oid::ObjectIdentifier) -> String {
    use der::oid::db::rfc5280;
    let known = [
        (rfc5280::ID_KP_SERVER_AUTH, "serverAuth"),
        (rfc5280::ID_KP_CLIENT_AUTH, "clientAuth"),
        (rfc5280::ID_KP_CODE_SIGNING, "codeSigning"),
        (rfc5280::ID_KP_EMAIL_PROTECTION, "emailProtection"),
        (rfc5280::ID_KP_TIME_STAMPING, "timeStamping"),
        (rfc5280::ID_KP_OCSP_SIGNING, "OCSPSigning"),
        (rfc5280::ANY_EXTENDED_KEY_USAGE, "anyExtendedKeyUsage"),
    ];
    known
        .iter()
        .find(|(o, _)| o == oid)
        .map_or_else(|| oid.to_string(), |(_, n)| (*n).to_string())
}

/// Colon-separated upper-case hex, as OpenSSL prints fingerprints.
fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn cert_row(r: &db::Row<'_>) -> db::Result<CertRow> {
    Ok(CertRow {
        serial: r.get(0)?,
        email: r.get(1)?,
        kind: r.get(2)?,
        status: r.get(3)?,
        not_before: r.get(4)?,
        not_after: r.get(5)?,
        issued_at: r.get(6)?,
        revocation_reason: r.get(7)?,
    })
}

impl Admin {
    /// Every role may read the views (auditors included); written out so that a new role
    /// has to be decided on here.
    pub(crate) fn require_reader(&self) -> Result<()> {
        match self.role {
            Role::Administrator | Role::Officer | Role::Auditor => Ok(()),
        }
    }
}

impl Authority {
    /// The authority at a glance (any role).
    pub fn status(&self, actor: &Admin) -> Result<Status> {
        actor.require_reader()?;
        let backups = self.backups(actor)?;
        let backup_schedule = self.schedule_view()?;
        let now = unix(self.now());
        let st = self.lock();
        let conn = st.store.store().connection();
        let ca = CertificateInfo::from_certificate(st.issuer.certificate())?;
        let mut users = UserCounts::default();
        conn.query_each(
            "SELECT status, count(*) FROM users GROUP BY status",
            [],
            |r| {
                let (status, n): (String, i64) = (r.get(0)?, r.get(1)?);
                match status.as_str() {
                    "active" => users.active = n,
                    _ => users.disabled += n,
                }
                Ok(())
            },
        )?;
        let mut certificates = CertCounts::default();
        conn.query_each(
            &format!(
                "SELECT {CERT_STATUS_SQL} AS status, count(*) FROM certificates c
                 LEFT JOIN revocations r ON r.serial = c.serial GROUP BY status"
            ),
            [now],
            |r| {
                let (status, n): (String, i64) = (r.get(0)?, r.get(1)?);
                match status.as_str() {
                    "active" => certificates.active = n,
                    "revoked" => certificates.revoked = n,
                    "expired" => certificates.expired = n,
                    _ => certificates.superseded = n,
                }
                Ok(())
            },
        )?;
        let crl = conn
            .query_row(
                "SELECT number, delta_number, this_update, next_update FROM crl_state WHERE id = 1",
                [],
                |r| {
                    let (this_update, next_update) = (r.get(2)?, r.get(3)?);
                    Ok(CrlStatus {
                        number: r.get(0)?,
                        delta_number: r.get(1)?,
                        this_update,
                        next_update,
                        delta_this_update: this_update,
                        delta_next_update: next_update,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| Error::Corrupt("no CRL has been signed".into()))?;
        let last_backup = backups.into_iter().next_back().map(|b| BackupStatus {
            taken_at: b
                .name
                .strip_prefix("kms-")
                .and_then(|n| n.get(..12))
                .and_then(|t| t.parse().ok()),
            name: b.name,
            bytes: b.bytes,
        });
        let last_verification = conn
            .query_row(
                "SELECT at, actor, target, outcome, detail FROM audit_log
                 WHERE action = 'backup.verify' AND outcome != 'pending'
                 ORDER BY seq DESC LIMIT 1",
                [],
                |r| {
                    let outcome: String = r.get(3)?;
                    let detail: String = r.get(4)?;
                    let ok = outcome == "ok";
                    Ok(VerificationStatus {
                        at: r.get(0)?,
                        actor: r.get(1)?,
                        backup: r.get(2)?,
                        ok,
                        summary: if ok && detail.is_empty() {
                            "every key decrypted, database and audit chain intact".into()
                        } else {
                            detail
                        },
                    })
                },
            )
            .optional()?;
        let pending_approvals = approvals::list(conn, now)?
            .iter()
            .filter(|r| r.status == "pending")
            .count() as i64;
        Ok(Status {
            ca_subject: ca.subject,
            ca_not_after: unix(ca.not_after),
            users,
            certificates,
            crl,
            last_backup,
            last_verification,
            pending_approvals,
            backup_schedule,
        })
    }

    /// Certificates matching `q`, a page of them and the total (any role).
    pub fn certificates(&self, actor: &Admin, q: &CertQuery) -> Result<Page<CertRow>> {
        actor.require_reader()?;
        let (limit, offset) = paging(q.limit, q.offset)?;
        let serial = q.serial.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let serial = serial.map(serial_prefix).transpose()?;
        let email = text_filter("e-mail", &q.email)?;
        let status = one_of(
            "status",
            &q.status,
            &["active", "revoked", "expired", "superseded"],
        )?;
        let kind = one_of("kind", &q.kind, &["signing", "encryption", "tls"])?;
        let sort = one_of(
            "sort",
            &q.sort,
            &[
                "serial",
                "email",
                "kind",
                "status",
                "not_before",
                "not_after",
                "issued_at",
            ],
        )?
        .unwrap_or_else(|| "issued_at".into());
        let direction = q.direction.unwrap_or(match sort.as_str() {
            "issued_at" | "not_before" | "not_after" => Direction::Desc,
            _ => Direction::Asc,
        });
        // Columns of the inner selection, aliased `c`.
        let column = match sort.as_str() {
            "serial" => "c.serial",
            "email" => "c.email",
            "kind" => "c.kind",
            "status" => "c.status",
            "not_before" => "c.not_before",
            "not_after" => "c.not_after",
            _ => "c.issued_at",
        };
        let now = unix(self.now());
        let email = email.as_deref().map(like_contains);
        let st = self.lock();
        let conn = st.store.store().connection();
        // A prefix match that uses the primary key: GLOB on SQLite (its LIKE ignores case
        // and so no index), LIKE under the database's C collation on PostgreSQL. Serials
        // are lower-case hex: no wildcard to escape.
        let prefix = match conn.backend() {
            db::Backend::Sqlite => "c.serial GLOB ?2 || '*'",
            db::Backend::Postgres => "c.serial LIKE ?2 || '%'",
        };
        // ?1 now, ?2 serial prefix, ?3 e-mail, ?4 status, ?5 kind.
        let from = format!(
            "FROM (SELECT c.serial, u.email, c.kind, {CERT_STATUS_SQL} AS status, c.not_before,
                          c.not_after, c.issued_at, r.reason
                   FROM certificates c
                   LEFT JOIN users u ON u.id = c.user_id
                   LEFT JOIN revocations r ON r.serial = c.serial
                   WHERE (CAST(?2 AS TEXT) IS NULL OR {prefix})
                     AND (CAST(?3 AS TEXT) IS NULL OR lower(u.email) LIKE lower(?3) ESCAPE '\\')
                     AND (CAST(?5 AS TEXT) IS NULL OR c.kind = ?5)) c
             WHERE (CAST(?4 AS TEXT) IS NULL OR c.status = ?4)"
        );
        let total: i64 = conn.query_row(
            &format!("SELECT count(*) {from}"),
            params![now, serial, email, status, kind],
            |r| r.get(0),
        )?;
        let sql = format!(
            "SELECT c.serial, c.email, c.kind, c.status, c.not_before, c.not_after, c.issued_at,
                    c.reason {from}
             ORDER BY {column} {dir}, c.serial {dir} LIMIT ?6 OFFSET ?7",
            dir = direction.sql()
        );
        let mut stmt = conn.prepare(&sql)?;
        let items = stmt
            .query_map(
                params![now, serial, email, status, kind, limit, offset],
                cert_row,
            )?
            .collect::<db::Result<Vec<_>>>()?;
        Ok(Page {
            total,
            offset,
            limit,
            items,
        })
    }

    /// One certificate in full, with its DER (any role).
    pub fn certificate(&self, actor: &Admin, serial: &str) -> Result<CertDetail> {
        actor.require_reader()?;
        let serial = normalise_serial(serial)?;
        let now = unix(self.now());
        let (summary, der, revoked_at) = {
            let st = self.lock();
            st.store
                .store()
                .connection()
                .query_row(
                    &format!(
                        "SELECT c.serial, u.email, c.kind, {CERT_STATUS_SQL}, c.not_before,
                                c.not_after, c.issued_at, r.reason, c.der, r.revoked_at
                         FROM certificates c
                         LEFT JOIN users u ON u.id = c.user_id
                         LEFT JOIN revocations r ON r.serial = c.serial
                         WHERE c.serial = ?2"
                    ),
                    params![now, serial],
                    |r| Ok((cert_row(r)?, r.get::<Vec<u8>>(8)?, r.get(9)?)),
                )
                .optional()?
                .ok_or(Error::UnknownCertificate { serial })?
        };
        let cert = certificate::parse_certificate(&der)?;
        let info = CertificateInfo::from_certificate(&cert)?;
        let mut key_usage = Vec::new();
        let mut extended_key_usage = Vec::new();
        for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
            let v = ext.extn_value.as_bytes();
            if ext.extn_id == <KeyUsage as der::oid::AssociatedOid>::OID {
                let ku = <KeyUsage as der::Decode>::from_der(v)
                    .map_err(|e| Error::Corrupt(format!("keyUsage: {e}")))?;
                key_usage = key_usage_names(&ku);
            } else if ext.extn_id == <ExtendedKeyUsage as der::oid::AssociatedOid>::OID {
                let eku = <ExtendedKeyUsage as der::Decode>::from_der(v)
                    .map_err(|e| Error::Corrupt(format!("extKeyUsage: {e}")))?;
                extended_key_usage = eku.0.iter().map(eku_name).collect();
            }
        }
        Ok(CertDetail {
            summary,
            subject: info.subject,
            issuer: info.issuer,
            key_usage,
            extended_key_usage,
            emails: info.emails,
            capabilities: info
                .capabilities
                .iter()
                .map(|c| c.name().to_string())
                .collect(),
            key_bits: info.key_bits,
            revoked_at,
            sha256_fingerprint: fingerprint(&der),
            der,
        })
    }

    /// Users matching `q`, a page of them and the total (any role), each with their
    /// lifecycle state. The page is chosen first (by index, without the states, unless the
    /// state is a filter), then the states of its rows are computed.
    pub fn search_users(&self, actor: &Admin, q: &UserQuery) -> Result<Page<UserInfo>> {
        actor.require_reader()?;
        let (limit, offset) = paging(q.limit, q.offset)?;
        let text = text_filter("search text", &q.text)?.map(|t| like_contains(&t));
        let status = one_of("status", &q.status, &["active", "disabled"])?;
        let sort = one_of("sort", &q.sort, &["email", "name", "status", "created_at"])?
            .unwrap_or_else(|| "email".into());
        let direction = q.direction.unwrap_or_default();
        let column = match sort.as_str() {
            "name" => "lower(name)",
            "status" => "status",
            "created_at" => "created_at",
            _ => "email",
        };
        let (now, soon) = self.expiring_window();
        let state = q.state.map(UserState::as_str);
        let state_filter = if state.is_some() {
            format!("AND ({}) = ?3", user_state_sql(now, soon))
        } else {
            // Typed: PostgreSQL cannot infer a parameter's type from IS NULL alone.
            "AND CAST(?3 AS TEXT) IS NULL".to_string()
        };
        let filter = format!(
            "FROM users u WHERE (CAST(?1 AS TEXT) IS NULL OR lower(u.email) LIKE lower(?1) ESCAPE '\\'
                                 OR lower(u.name) LIKE lower(?1) ESCAPE '\\')
                AND (CAST(?2 AS TEXT) IS NULL OR u.status = ?2) {state_filter}"
        );
        let st = self.lock();
        let conn = st.store.store().connection();
        let total: i64 = conn.query_row(
            &format!("SELECT count(*) {filter}"),
            params![text, status, state],
            |r| r.get(0),
        )?;
        let dir = direction.sql();
        let mut stmt = conn.prepare(&format!(
            "SELECT {USER_COLUMNS}, {state}, {expiry}
             FROM (SELECT u.id {filter} ORDER BY {column} {dir}, email {dir} LIMIT ?4 OFFSET ?5) p
             JOIN users u ON u.id = p.id
             ORDER BY {column} {dir}, email {dir}",
            state = user_state_sql(now, soon),
            expiry = user_state_expiry_sql(now),
        ))?;
        let items = stmt
            .query_map(params![text, status, state, limit, offset], user_state_row)?
            .collect::<db::Result<Vec<_>>>()?;
        Ok(Page {
            total,
            offset,
            limit,
            items,
        })
    }

    /// Now (the authority's clock) and the end of the expiring window
    /// ([`Config::expiring_window_days`](crate::Config::expiring_window_days) from now),
    /// Unix seconds: a valid certificate whose notAfter is at most the second is expiring.
    pub fn expiring_window(&self) -> (i64, i64) {
        let now = unix(self.now());
        (
            now,
            now.saturating_add(i64::from(self.config.expiring_window_days) * 86400),
        )
    }

    /// Every user, by address, with their states.
    pub(crate) fn all_users_with_states(&self, conn: &Connection) -> Result<Vec<UserInfo>> {
        let (now, soon) = self.expiring_window();
        let mut stmt = conn.prepare(&format!(
            "SELECT {USER_COLUMNS}, {}, {} FROM users u ORDER BY email",
            user_state_sql(now, soon),
            user_state_expiry_sql(now)
        ))?;
        let rows = stmt.query_map([], user_state_row)?;
        Ok(rows.collect::<db::Result<_>>()?)
    }

    /// `user` (read by `find_user` from the row `id`) with its state filled in.
    pub(crate) fn with_state(
        &self,
        conn: &Connection,
        id: i64,
        mut user: UserInfo,
    ) -> Result<UserInfo> {
        let (now, soon) = self.expiring_window();
        let (state, expires): (String, Option<i64>) = conn.query_row(
            &format!(
                "SELECT {}, {} FROM users u WHERE u.id = ?1",
                user_state_sql(now, soon),
                user_state_expiry_sql(now)
            ),
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        user.state = UserState::from_sql(&state)?;
        user.state_expires_at = expires;
        Ok(user)
    }

    /// Audit log entries matching `q`, newest first, a page of them and the total (any role).
    pub fn audit_search(&self, actor: &Admin, q: &AuditQuery) -> Result<Page<AuditEntry>> {
        actor.require_reader()?;
        let (limit, offset) = paging(q.limit, q.offset)?;
        let who = text_filter("actor", &q.actor)?;
        let action = text_filter("action", &q.action)?.map(|a| {
            let mut p = like_contains(&a);
            p.remove(0);
            p
        });
        let outcome = one_of("outcome", &q.outcome, &["ok", "refused", "pending"])?;
        if let (Some(s), Some(u)) = (q.since, q.until)
            && s >= u
        {
            return Err(Error::invalid("time range", "since must be before until"));
        }
        let filter = "FROM audit_log WHERE (CAST(?1 AS TEXT) IS NULL OR actor = ?1)
                        AND (CAST(?2 AS TEXT) IS NULL OR lower(action) LIKE lower(?2) ESCAPE '\\')
                        AND (CAST(?3 AS TEXT) IS NULL OR outcome = ?3)
                        AND (CAST(?4 AS BIGINT) IS NULL OR at >= ?4)
                        AND (CAST(?5 AS BIGINT) IS NULL OR at < ?5)";
        let st = self.lock();
        let conn = st.store.store().connection();
        let total: i64 = conn.query_row(
            &format!("SELECT count(*) {filter}"),
            params![who, action, outcome, q.since, q.until],
            |r| r.get(0),
        )?;
        let mut stmt = conn.prepare(&format!(
            "SELECT seq, at, actor, action, target, outcome, detail, hash {filter}
             ORDER BY seq DESC LIMIT ?6 OFFSET ?7"
        ))?;
        let items = stmt
            .query_map(
                params![who, action, outcome, q.since, q.until, limit, offset],
                |r| {
                    Ok(AuditEntry {
                        seq: r.get(0)?,
                        at: r.get(1)?,
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        target: r.get(4)?,
                        outcome: r.get(5)?,
                        detail: r.get(6)?,
                        hash: hex::encode(r.get::<Vec<u8>>(7)?),
                    })
                },
            )?
            .collect::<db::Result<Vec<_>>>()?;
        Ok(Page {
            total,
            offset,
            limit,
            items,
        })
    }
}
