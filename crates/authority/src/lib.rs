//! The authority's service logic: the CA, users, enrollment tokens, enrollment, the
//! directory, revocation and CRLs, renewal, administrators and their sessions. Knows no HTTP;
//! reads the time only through an injected [`Clock`].
//!
//! # Layout
//!
//! This file holds the types the service hands out, `init`/`unlock` and the shared state;
//! [`Authority`]'s operations are split by responsibility: `admins` (sign-in, sessions,
//! accounts), `users` (users, tokens, enrollment, directory), `issuing` (renewal, key
//! roll-over, the TLS certificate), `renewal` (renewing everyone, with a window and the users
//! skipped), `revocation` (revoke, CRLs), `recovery`, `backups`, `schedule` (the backup
//! schedule setting, the server settings carried in backups), `public_url` (the public URL's
//! rules and its change under the `public-url` quorum), and `governance` (audit entry
//! points, quorum policies and their invariants, approvals bound to their opener and
//! parameters, unlock methods), `checks` (the dashboard's health checks, counts and daily
//! activity, computed by a background thread and cached); `passwords` holds the password
//! rules.
//!
//! # Storage
//!
//! The authority's tables (`migrations/sqlite/0002_authority.sql`) live in the escrow store's SQLite
//! database and are reached through the store's own connection
//! ([`escrow::UnlockedStore::connection_mut`], [`escrow::Store::connection`] while locked), so
//! there is one connection, one file and one backup. Private keys (the CA's, every user's
//! encryption key) are only ever written through [`escrow::UnlockedStore::escrow`].
//!
//! # The state lock
//!
//! One mutex guards the store's connection (and so every read and write). It is held for
//! reads and for writing and committing a transaction, never for the slow steps of an
//! enrollment: the CA issuer is also held outside it (`Arc<Issuer>`), so certificates are
//! built, linted and signed with no lock held, and an enrollment's commit is grouped
//! ([`escrow::durable`]): it is written under the lock and made durable after the lock is
//! released, by an fsync shared with the enrollments committing at the same time, before the
//! answer goes out. The encryption-key pool is refilled on every core. The `lock-stats`
//! feature (benchmarks only) records how long the lock is waited for and held.
//!
//! # Error codes
//!
//! | code | meaning |
//! |---|---|
//! | `AUTH-001` | wrong administrator name or password |
//! | `AUTH-002` | administrator locked out after too many failed sign-ins |
//! | `AUTH-003` | not signed in, or the session expired |
//! | `AUTH-004` | the administrator's role does not allow this |
//! | `AUTH-005` | no such user |
//! | `AUTH-006` | the user exists already |
//! | `AUTH-007` | the user is disabled |
//! | `AUTH-008` | enrollment token unknown, used or expired |
//! | `AUTH-009` | an argument was refused |
//! | `AUTH-010` | the certificate request was refused |
//! | `AUTH-011` | no certificate with that serial |
//! | `AUTH-012` | the user has no current certificate of that kind |
//! | `AUTH-013` | nothing to revoke |
//! | `AUTH-014` | the password or key file does not unlock the authority |
//! | `AUTH-015` | init found an existing store |
//! | `AUTH-016` | the escrow store failed (its `ESCROW-0xx` code is in the message) |
//! | `AUTH-017` | a PKI operation failed |
//! | `AUTH-018` | SQLite reported an error |
//! | `AUTH-019` | the authority's data is inconsistent |
//! | `AUTH-020` | an administrator with that name exists already |
//! | `AUTH-021` | no such administrator |
//! | `AUTH-022` | the change would leave no administrator |
//! | `AUTH-023` | a quorum operation waits for approvals (exit code 3 in kmsctl) |
//! | `AUTH-024` | an approval was refused (twice by the same administrator, expired, closed, by a removed administrator) |
//! | `AUTH-025` | no such approval request |
//! | `AUTH-026` | a quorum below its floor (a governing quorum below the highest operational one, or `reenroll` below `recover-key`) |
//! | `AUTH-027` | fewer administrators able to approve than a quorum needs |
//! | `AUTH-028` | the administrator must change the initial password first |
//! | `AUTH-029` | a password too short or too common |
//! | `AUTH-060` | the disk holding the authority's data is full (nothing was changed; HTTP 507) |
//! | `AUTH-061` | the data cannot be written: read-only file system or write-protected file (503) |
//! | `AUTH-062` | the database is locked by another program (503) |
//! | `AUTH-063` | the store is damaged: restore it from a backup (503) |
//! | `AUTH-064` | the disk reported an I/O error, or a database file could not be opened (503) |
//! | `AUTH-065` | the database server cannot be reached (PostgreSQL down, connection lost; 503; the node reconnects by itself) |
//! | `AUTH-070` | committed work is missing: the audit anchor names entries the database lacks (a lost or truncated WAL, an older copy of the store) |
//! | `AUTH-071` | the audit anchor file is malformed, of another store, or fails its MAC |
//! | `AUTH-080` | the certificate profile (S/MIME Baseline Requirements) refuses the certificate; the message names the rule (`sbr.subject.person_name`: a sponsored profile needs the given name and surname on record; `sbr.key_usage`, ...); HTTP 422 |
//! | `AUTH-081` | a CA key under 3072 bits was asked for or given at `init` (`--ca-key-bits 2048`); RSA-4096 is the default, 3072 the smallest accepted |
//! | `AUTH-100` | a bulk call names more entries than one call takes (bulk revoke: at most 100 000); HTTP 413 |
//! | `AUTH-130` | a key recovery waits for key recovery agents' shares (the agent request was opened or has fewer than M releases) |
//! | `AUTH-131` | no such key recovery agent (or no active agent with that public key) |
//! | `AUTH-132` | an agent operation was refused (duplicate agent, threshold above the agents, a share that does not open for the request, a void or expired agent request) |
//! | `AUTH-133` | removing a key recovery agent was refused: some split keys would keep fewer share holders than their threshold (re-share first); HTTP 409 |
//! | `AUTH-134` | a re-share request is void: the agents or their threshold changed since it was opened (run `kmsctl agent reshare` again); HTTP 409 |
//! | `AUTH-150` | the CA key cannot sign now: its token (HSM) is gone or failing; the token's `HSM-0xx` code is in the message; nothing was issued (HTTP 503) |
//! | `AUTH-151` | the CA key configured (`[ca_key]` in kmsd.toml, or none) is not this authority's: a token CA without `[ca_key]`, a software CA with it, or another key |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admins;
mod agent_summary;
mod agents;
mod anchor;
mod approvals;
mod audit;
mod backups;
mod ca_key;
mod checks;
mod clock;
mod crl_blobs;
mod error;
mod governance;
mod health;
mod issuing;
mod lockstats;
mod ocsp;
mod passwords;
mod pool;
mod public_url;
mod publisher;
mod recovery;
mod renewal;
mod revocation;
mod schedule;
mod secret;
mod self_service;
mod signin;
mod totp;
mod users;
mod views;

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use db::{Connection, OptionalExtension, params};
use escrow::{Credential, KeyUsage, NewKey, Password, Store, UnlockedStore};
use pki::certificate::{self, CertificateInfo};
use pki::crl::{CrlBuilder, CrlEntry, RevocationReason};
use pki::{
    ContentAlgorithm, DigestAlgorithm, Issuer, KeySize, Name, Period, PrivateKey, Profile,
    PublicKey, RevocationUrls, SmimeSubject,
};
use serde::Serialize;

pub use agent_summary::AgentSummary;
pub use agents::{
    AGENT_NAME_MAX, AgentInfo, AgentRequest, AgentSet, AgentShares, RESHARE_BATCH, Reshared,
    SplitCheck, reseal_for_request,
};
pub use anchor::{ANCHOR_FILE, AnchorReport, AnchorState, restore_anchor_file};
pub use approvals::{ApprovalRequest, OPERATIONAL, OPERATIONS, Policy, WHY_MAX};
pub use audit::{
    AuditEntry, AuditProblem, AuditReport, MAX_ACTOR, MAX_DETAIL, MAX_TARGET, muting_refusals,
};
pub use backups::Restored;
pub use ca_key::CaSigningKey;
pub use checks::{ACTIVITY_DAYS, Attention, CheckState, DayActivity, HealthCheck, HealthReport};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use health::{CheckReport, check_store, check_store_in};
pub use ocsp::OcspAnswer;
pub use public_url::{
    MAX_PUBLIC_URL, PUBLIC_URL_NOTE, PublicUrlChange, check_public_url, is_loopback_host,
    url_host_port,
};
pub use renewal::{
    RenewalPlan, SKIP_DISABLED, SKIP_EXPIRED, SKIP_NOT_ENROLLED, SKIP_NOT_EXPIRING, SKIP_REVOKED,
    SKIP_UNKNOWN, Skipped,
};
pub use revocation::{BulkRevokeOutcome, BulkTarget, MAX_BULK_REVOKE};
pub use schedule::{
    BackupSchedule, MAX_BACKUP_KEEP, MIN_BACKUP_INTERVAL, SERVER_SETTINGS_FILE,
    carried_server_settings,
};
pub use secret::{Argon2Params, Token};
pub use signin::{SignIn, address_key as signin_address_key};
pub use totp::totp_code;
pub use users::NewUser;
pub use views::UserState;
pub use views::{
    AuditQuery, BackupStatus, CertCounts, CertDetail, CertQuery, CertRow, CrlStatus, Direction,
    Page, Status, UserCounts, UserQuery, VerificationStatus,
};

use clock::{from_unix, unix};
#[cfg(feature = "lock-stats")]
pub use lockstats::stats as lock_stats;
use pool::KeyPool;

/// Escrow owner of the CA key.
const CA_OWNER: &str = "ca";

/// The capabilities a user gets when none are given and the authority's configuration
/// ([`Config::capabilities`]) names none: what Outlook and Thunderbird both read.
pub const DEFAULT_CAPABILITIES: &str = "aes256,aes128,3des";

/// Tunables of the authority. [`Config::default`] is for production; tests lower the costs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Argon2id cost of administrator password hashes.
    pub admin_argon2: Argon2Params,
    /// How long an enrollment token stays valid.
    pub token_ttl: Duration,
    /// How long an admin session stays valid.
    pub session_ttl: Duration,
    /// Validity of user certificates.
    pub cert_validity: Duration,
    /// Validity of the CA certificate (at init).
    pub ca_validity: Duration,
    /// nextUpdate - thisUpdate of every CRL.
    pub crl_validity: Duration,
    /// The CRL is re-signed when less than this is left before its nextUpdate.
    pub crl_refresh_margin: Duration,
    /// How long a revoke waits for the publisher to re-sign the CRL that lists it before
    /// answering with the CRL still pending.
    pub crl_publish_wait: Duration,
    /// How long the publisher waits after a revocation for more (a burst is one re-sign).
    pub crl_coalesce: Duration,
    /// How often the publisher looks at the store's CRL state without being asked.
    pub crl_check_every: Duration,
    /// First wait before retrying a failed re-sign (doubled each time, at most 5 minutes).
    pub crl_retry: Duration,
    /// In a cluster (the store on PostgreSQL), how long the served CRL may lag the store
    /// before `crl_health` (and `/healthz`) says so: a second's lag is the design there.
    pub cluster_crl_lag_grace: Duration,
    /// Failed sign-ins in a row before the account is locked.
    pub max_failed_logins: u32,
    /// How long a locked-out account stays locked (for the client address its failures came
    /// from: see [`signin`](crate::SignIn)).
    pub lockout: Duration,
    /// Failed sign-ins (any names) from one client address before the address is refused
    /// for the rest of [`Config::login_address_window`] (`AUTH-050`).
    pub login_failures_per_address: u32,
    /// The window of [`Config::login_failures_per_address`].
    pub login_address_window: Duration,
    /// A session unused this long ends (as well as after [`Config::session_ttl`]).
    pub session_idle: Duration,
    /// Pre-generated encryption keys kept ready, refilled on every core (0: generate during
    /// the enrollment). Default: 4 per core, 4 to 64.
    pub key_pool_size: usize,
    /// PBKDF2 iterations of the enrollment response's key encryption (the token itself has
    /// 256 bits of entropy, so this need not be large).
    pub enrollment_pbkdf2_iterations: u32,
    /// Backups kept in `DATA_DIR/backups` (older ones are deleted after each new one), until
    /// the `backup-schedule` setting is made ([`Authority::set_backup_schedule`]).
    pub backup_keep: usize,
    /// Scheduled backups: one when the newest in `DATA_DIR/backups` is this old (None: off),
    /// until the `backup-schedule` setting is made.
    pub backup_interval: Option<Duration>,
    /// How long an approval request stays open.
    pub approval_ttl: Duration,
    /// PBKDF2 iterations of recovery bundles (PKCS#12).
    pub recovery_pkcs12_iterations: u32,
    /// Unlock a store whose audit anchor says committed work is missing (`AUTH-070`) or
    /// whose anchor is invalid (`AUTH-071`), recording that in the audit log and anchoring
    /// the store as it is (`kmsd serve --accept-rollback`, for a store put back on purpose).
    pub accept_rollback: bool,
    /// The capabilities new users get when none are given (`capabilities` in `kmsd.toml`),
    /// written strongest first into their certificates' SMIMECapabilities.
    pub capabilities: Vec<ContentAlgorithm>,
    /// Accept a loopback public URL in [`Authority::set_public_url`] (`kmsd serve --dev`, or
    /// `allow_loopback_public_url = true` in `kmsd.toml`): certificates would then name URLs
    /// only this machine can fetch.
    pub allow_loopback_public_url: bool,
    /// thisUpdate to nextUpdate of OCSP responses (the SBR allow 8 hours to 10 days); a
    /// cached response is re-signed when half of it has passed.
    pub ocsp_validity: Duration,
    /// Validity of the delegated OCSP responder certificate.
    pub ocsp_responder_validity: Duration,
    /// The responder gets a new key and certificate when less than this is left.
    pub ocsp_responder_rollover: Duration,
    /// The S/MIME Baseline Requirements profile of users without one of their own
    /// (`profile` in `kmsd.toml`; default `mailbox-strict`).
    pub profile: pki::SbrProfile,
    /// The organisation's name for sponsor-validated subjects (`organization` in
    /// `kmsd.toml`); `None`: the CA certificate's organizationName.
    pub organization: Option<String>,
    /// The organisation's organizationIdentifier for sponsor-validated subjects
    /// (`organization_identifier` in `kmsd.toml`, e.g. `NTRGB-12345678`; SBR §7.1.4.2.2 d).
    pub organization_identifier: Option<String>,
    /// The organisation's own policy identifier and CPS URL written beside the reserved
    /// policy identifier.
    pub policy: pki::PolicyExtras,
    /// A user whose earliest current certificate expires within this many days is in the
    /// state `expiring` (`expiring_window_days` in `kmsd.toml`; default
    /// [`DEFAULT_EXPIRING_WINDOW_DAYS`]).
    pub expiring_window_days: u32,
    /// The dashboard's CRL check warns when the nextUpdate is nearer than this (`None`: only
    /// when the publisher failed to re-sign in time; `crl_warning_hours` in `kmsd.toml`).
    pub crl_warning: Option<Duration>,
    /// How often the background thread recomputes the dashboard's health checks (and asks
    /// the CA key whether it can sign: [`Authority::check_signer`]).
    pub health_check_every: Duration,
    /// The CA key when it is on a token (`[ca_key]` in kmsd.toml): [`init`] makes a CA
    /// whose key it is (nothing of the key is stored), [`unlock`] signs with it. `None`: the
    /// CA key is a software key kept in the escrow store.
    pub ca_signing_key: Option<CaSigningKey>,
}

/// The default of [`Config::expiring_window_days`].
pub const DEFAULT_EXPIRING_WINDOW_DAYS: u32 = 30;

impl Default for Config {
    fn default() -> Self {
        Config {
            admin_argon2: Argon2Params::new(64 * 1024, 3, 1),
            token_ttl: Duration::from_secs(7 * 86400),
            session_ttl: Duration::from_secs(8 * 3600),
            cert_validity: Duration::from_secs(365 * 86400),
            ca_validity: Duration::from_secs(10 * 365 * 86400),
            crl_validity: Duration::from_secs(7 * 86400),
            crl_refresh_margin: Duration::from_secs(2 * 86400),
            crl_publish_wait: Duration::from_secs(2),
            crl_coalesce: Duration::from_millis(20),
            crl_check_every: Duration::from_secs(60),
            cluster_crl_lag_grace: Duration::from_secs(10),
            crl_retry: Duration::from_secs(1),
            max_failed_logins: 5,
            lockout: Duration::from_secs(15 * 60),
            login_failures_per_address: 20,
            login_address_window: Duration::from_secs(15 * 60),
            session_idle: Duration::from_secs(30 * 60),
            key_pool_size: pool::default_size(),
            enrollment_pbkdf2_iterations: 10_000,
            backup_keep: 7,
            backup_interval: None,
            approval_ttl: Duration::from_secs(24 * 3600),
            recovery_pkcs12_iterations: pki::pkcs12::DEFAULT_ITERATIONS,
            accept_rollback: false,
            capabilities: pki::algorithms::DEFAULT_CAPABILITIES.to_vec(),
            allow_loopback_public_url: false,
            ocsp_validity: Duration::from_secs(4 * 86400),
            ocsp_responder_validity: Duration::from_secs(30 * 86400),
            ocsp_responder_rollover: Duration::from_secs(10 * 86400),
            profile: pki::SbrProfile::MAILBOX_STRICT,
            organization: None,
            organization_identifier: None,
            policy: pki::PolicyExtras::default(),
            expiring_window_days: DEFAULT_EXPIRING_WINDOW_DAYS,
            crl_warning: None,
            health_check_every: Duration::from_secs(60),
            ca_signing_key: None,
        }
    }
}

/// The RSA size of a new authority's CA key unless told otherwise (registry: "new
/// authorities default to RSA-4096"; the SBR ask 4096 bits of CA keys made after
/// 15 Sep 2026).
pub const DEFAULT_CA_KEY_BITS: usize = 4096;

/// The smallest CA key `init` accepts (`--ca-key-bits 3072`, for tests and small sites).
pub const MIN_CA_KEY_BITS: usize = 3072;

/// A new CA key of `bits` (3072 or 4096; anything else is refused with
/// [`Error::CaKeyTooSmall`] or [`Error::Invalid`]). RSA-4096 generation takes seconds.
pub fn generate_ca_key(bits: usize) -> Result<PrivateKey> {
    let size = match bits {
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        b if b < MIN_CA_KEY_BITS => return Err(Error::CaKeyTooSmall { bits: b }),
        _ => {
            return Err(Error::invalid(
                "CA key size",
                format!("{bits} bits: give 3072 or 4096"),
            ));
        }
    };
    Ok(PrivateKey::generate(&mut pki::os_rng(), size)?)
}

/// What `init` needs.
pub struct InitParams<'a> {
    /// The data directory (created; must not hold a store).
    pub data_dir: &'a Path,
    /// The CA's distinguished name, RFC 4514 (`CN=Example CA,O=Example`).
    pub ca_subject: &'a str,
    /// The first administrator's name.
    pub admin_name: &'a str,
    /// The first administrator's password.
    pub admin_password: &'a Password,
    /// How the store is unlocked (start-up password and/or key files).
    pub unlock: escrow::InitOptions,
    /// Base URL written into certificates (CRL distribution points), e.g. `http://ca.example`.
    pub public_url: &'a str,
    /// The CA key to use (tests pass a committed key, `kmsd init --ca-key-bits` one made by
    /// [`generate_ca_key`]); `None` generates RSA-4096, the registry's default for new
    /// authorities. A key under 3072 bits is refused ([`Error::CaKeyTooSmall`]).
    pub ca_key: Option<PrivateKey>,
}

/// What the authority publishes, also while locked.
#[derive(Clone, Debug, Default)]
pub struct Published {
    /// CA certificate, DER.
    pub ca_der: Vec<u8>,
    /// Current full CRL, DER.
    pub crl_der: Vec<u8>,
    /// Current delta CRL, DER.
    pub delta_crl_der: Vec<u8>,
    /// SHA-256 of `crl_der` and of `delta_crl_der` (computed once, when they are served):
    /// compared with the store's CRL state in constant time.
    hashes: ([u8; 32], [u8; 32]),
}

impl Published {
    /// The CA certificate as PEM.
    pub fn ca_pem(&self) -> Result<String> {
        Ok(certificate::to_pem(&certificate::parse_certificate(
            &self.ca_der,
        )?)?)
    }
}

/// Reads what the authority publishes from a locked store.
pub fn published(store: &Store) -> Result<Published> {
    read_published(store)
}

pub use crl_blobs::CRL_DIR;

/// An administrator's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Administrator,
    /// Users, tokens, revoke, renew.
    Officer,
    /// Reads only.
    Auditor,
}

impl FromStr for Role {
    type Err = Error;
    /// Parses `administrator`, `officer` or `auditor`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "administrator" => Ok(Role::Administrator),
            "officer" => Ok(Role::Officer),
            "auditor" => Ok(Role::Auditor),
            _ => Err(Error::invalid(
                "role",
                format!("{s:?}: use administrator, officer or auditor"),
            )),
        }
    }
}

impl Role {
    fn parse(s: &str) -> Result<Self> {
        s.parse()
            .map_err(|_| Error::Corrupt(format!("unknown role {s}")))
    }
    /// The role's name as written everywhere (`administrator`, `officer`, `auditor`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Officer => "officer",
            Role::Auditor => "auditor",
        }
    }
}

/// A signed-in administrator.
#[derive(Clone, Debug, Serialize)]
pub struct Admin {
    /// Row id.
    #[serde(skip)]
    pub id: i64,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
}

impl Admin {
    /// Refuses unless the role is `administrator` (managing administrators, recovery, policy).
    fn require_administrator(&self) -> Result<()> {
        match self.role {
            Role::Administrator => Ok(()),
            Role::Officer | Role::Auditor => Err(Error::Forbidden {
                name: self.name.clone(),
                role: self.role.as_str().into(),
                needed: "administrator",
            }),
        }
    }

    fn require_officer(&self) -> Result<()> {
        match self.role {
            Role::Administrator | Role::Officer => Ok(()),
            Role::Auditor => Err(Error::Forbidden {
                name: self.name.clone(),
                role: self.role.as_str().into(),
                needed: "officer or administrator",
            }),
        }
    }
}

/// What a policy change did: the policy set, and the policies raised with it to keep the
/// quorum invariants.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyChange {
    /// The policy as set.
    pub policy: Policy,
    /// Governing policies (and `reenroll`) raised with it, with their new quorums.
    pub raised: Vec<Policy>,
}

/// A recovery bundle: every encryption key a user ever had, with its certificate.
pub struct Recovery {
    /// PKCS#12 (DER) under the caller's password.
    pub pkcs12: Vec<u8>,
    /// Keys in it.
    pub keys: usize,
    /// A new enrollment token, when asked for.
    pub token: Option<EnrollmentToken>,
}

impl std::fmt::Debug for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recovery")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// A backup file in `DATA_DIR/backups`.
#[derive(Clone, Debug, Serialize)]
pub struct BackupInfo {
    /// File name.
    pub name: String,
    /// Full path.
    pub path: String,
    /// Bytes.
    pub bytes: u64,
}

/// What `backup verify` found.
#[derive(Clone, Debug, Serialize)]
pub struct BackupCheck {
    /// The file.
    pub path: String,
    /// Escrowed keys, every one decrypted and authenticated.
    pub keys: u64,
    /// Distinct key owners.
    pub owners: u64,
    /// Unlock methods carried.
    pub unlock_methods: u64,
    /// Size of the database inside.
    pub database_bytes: u64,
    /// The audit chain inside the backup.
    pub audit: AuditReport,
}

/// A start-up secret (unlock method) as listed: no secret material.
#[derive(Clone, Debug, Serialize)]
pub struct UnlockMethod {
    /// Its id.
    pub id: i64,
    /// `password` or `key-file`.
    pub kind: &'static str,
    /// A human label.
    pub label: String,
    /// For a key file: the public id written in it (hex).
    pub key_file_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// What adding an unlock method made.
pub struct NewUnlockMethod {
    /// The method.
    pub method: UnlockMethod,
    /// For a key file: its bytes, to be stored by the caller (secret).
    pub key_file: Option<zeroize::Zeroizing<Vec<u8>>>,
}

/// An administrator account as `admin list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct AdminInfo {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Unix seconds.
    pub created_at: i64,
    /// Locked out after failed sign-ins until then (Unix seconds), if now.
    pub locked_until: Option<i64>,
}

/// A new session: the token (shown once) and when it expires.
#[derive(Debug)]
pub struct Session {
    /// Bearer token.
    pub token: Token,
    /// Who.
    pub admin: Admin,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A user as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct UserInfo {
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Content algorithms, strongest first.
    pub capabilities: Vec<String>,
    /// `active` or `disabled`.
    pub status: String,
    /// Unix seconds.
    pub created_at: i64,
    /// givenName (sponsor-validated certificates), if on record.
    pub given_name: Option<String>,
    /// surname (sponsor-validated certificates), if on record.
    pub surname: Option<String>,
    /// pseudonym (instead of given name and surname), if on record.
    pub pseudonym: Option<String>,
    /// The user's certificate profile; `None`: the authority's.
    pub profile: Option<String>,
    /// The lifecycle state, computed by the authority (see [`UserState`]).
    pub state: UserState,
    /// When the state ends or ended, Unix seconds: the pending token's expiry (`invited`,
    /// `invitation-expired`), the earliest current certificate's notAfter (`enrolled`,
    /// `expiring`), the last one's (`expired`); `None` otherwise.
    pub state_expires_at: Option<i64>,
}

/// The columns [`user_row`] reads, in its order.
pub(crate) const USER_COLUMNS: &str =
    "email, name, capabilities, status, created_at, given_name, surname, pseudonym, profile";

/// A certificate as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CertSummary {
    /// Serial, lower-case hex.
    pub serial: String,
    /// `signing` or `encryption`.
    pub kind: String,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// Revocation reason, when revoked.
    pub revoked: Option<String>,
    /// True when a renewal replaced it.
    pub superseded: bool,
}

/// A user with their certificates.
#[derive(Clone, Debug, Serialize)]
pub struct UserDetail {
    /// The user.
    #[serde(flatten)]
    pub user: UserInfo,
    /// Every certificate issued to the user, oldest first.
    pub certificates: Vec<CertSummary>,
    /// How many encryption keys are escrowed for the user.
    pub escrowed_keys: usize,
}

/// An enrollment token as handed to the administrator (once).
#[derive(Debug)]
pub struct EnrollmentToken {
    /// The token.
    pub token: Token,
    /// Unix seconds.
    pub expires_at: i64,
}

/// What an enrollment returns to the client.
#[derive(Debug)]
pub struct Enrollment {
    /// The signing certificate, DER.
    pub signing_cert: Vec<u8>,
    /// The encryption certificate, DER.
    pub encryption_cert: Vec<u8>,
    /// The CA certificate, DER.
    pub ca_cert: Vec<u8>,
    /// The encryption private key, PKCS#8 EncryptedPrivateKeyInfo (PBES2, PBKDF2-SHA256,
    /// AES-256-CBC) under the enrollment token, DER.
    pub encrypted_key: Vec<u8>,
}

/// A directory entry: what a sender needs to encrypt to a user.
#[derive(Clone, Debug)]
pub struct DirectoryEntry {
    /// Address.
    pub email: String,
    /// Capabilities.
    pub capabilities: Vec<String>,
    /// Current encryption certificate, DER.
    pub certificate: Vec<u8>,
    /// Current signing certificate, DER (`None` while the user has none, e.g. revoked).
    pub signing_certificate: Option<Vec<u8>>,
}

/// What to revoke.
#[derive(Clone, Debug)]
pub enum RevokeTarget {
    /// Every unrevoked, unexpired certificate of the user.
    User(String),
    /// One certificate, by serial (hex).
    Serial(String),
}

/// What a revoke did, and the CRL that lists it.
#[derive(Clone, Debug)]
pub struct RevokeOutcome {
    /// Serials revoked now, or whose reason was raised to `keyCompromise`.
    pub revoked: Vec<String>,
    /// Serials that were revoked already and are left as they were.
    pub already_revoked: Vec<String>,
    /// The number of the full CRL that lists the revocations: published, or due.
    pub crl_number: i64,
    /// When that CRL was signed (its thisUpdate, Unix seconds); None while it is due (the
    /// publisher retries until it is).
    pub crl_published_at: Option<i64>,
}

/// What a renewal did.
#[derive(Debug)]
pub struct Renewal {
    /// The user.
    pub email: String,
    /// New certificates (with a new key: the new encryption certificate; the signing
    /// certificate comes with the next enrollment).
    pub certificates: Vec<CertSummary>,
    /// With a new key: the token to enroll again with.
    pub enrollment_token: Option<EnrollmentToken>,
}

/// What a batch renewal did: the users renewed, and those that could not be, with why.
#[derive(Debug, Default)]
pub struct BatchRenewal {
    /// Renewals carried out.
    pub renewed: Vec<Renewal>,
    /// Users not renewed (their e-mail address) and the error.
    pub failed: Vec<(String, Error)>,
    /// Users left out on purpose (not enrolled, revoked, disabled, not expiring within the
    /// window), with why.
    pub skipped: Vec<Skipped>,
}

/// A user's current certificate of one kind: serial, DER, and the escrowed key it
/// certifies (encryption certificates).
struct CurrentCert {
    serial: String,
    der: Vec<u8>,
    escrowed_key_id: Option<i64>,
}

/// What the authority's one lock guards: the store's connection, and the CA issuer (also
/// held outside the lock, [`Authority::issuer`], to sign with no lock held).
struct State {
    store: UnlockedStore,
    issuer: Arc<Issuer>,
    /// Where the published CRLs' bytes are kept (files beside a SQLite store, a table of a
    /// PostgreSQL one).
    blobs: Arc<dyn crl_blobs::CrlBlobs>,
}

/// Audit entries between two CA signatures of the chain head.
const AUDIT_CHECKPOINT_EVERY: i64 = 50;

/// Records a refused unlock in the audit log of a locked store.
pub fn audit_refused_unlock(store: &Store, clock: &dyn Clock, method: &str, error: &Error) {
    let r = audit::append(
        store.connection(),
        &audit::Record {
            at: unix(clock.now()),
            actor: "-",
            action: "unlock",
            target: method,
            refusal: Some(format!("[{}] {error}", error.code())),
            pending: false,
        },
    );
    if let Err(e) = r {
        tracing::error!(error = %e, "cannot write the audit log");
    }
}

/// Records, in the audit log of a store (locked or not), a refusal that never reached an
/// operation (no session, a malformed request, the authority locked, ...): `detail` is the
/// refusal's code and message.
pub fn audit_refusal(
    store: &Store,
    clock: &dyn Clock,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) {
    let r = audit::append(
        store.connection(),
        &audit::Record {
            at: unix(clock.now()),
            actor,
            action,
            target,
            refusal: Some(detail.into()),
            pending: false,
        },
    );
    if let Err(e) = r {
        tracing::error!(error = %e, "cannot write the audit log");
    }
}

/// Records, in the audit log of a locked store, a successful operation done offline on the
/// whole store (`kmsd migrate`: action `store.migrate`, the target naming where from and
/// where to, never a password), in its own transaction at the chain's head.
pub fn audit_offline(
    store: &Store,
    clock: &dyn Clock,
    actor: &str,
    action: &str,
    target: &str,
) -> Result<i64> {
    audit::append(
        store.connection(),
        &audit::Record {
            at: unix(clock.now()),
            actor,
            action,
            target,
            refusal: None,
            pending: false,
        },
    )
}

/// The `public_url` setting of a store, locked or not (the server's `Host` check names it).
pub fn stored_public_url(store: &Store) -> Result<String> {
    setting(store.connection(), "public_url")
}

/// The unlocked authority.
pub struct Authority {
    state: Arc<Mutex<State>>,
    /// The CA issuer (the same as the state's): certificates are built, linted and signed
    /// with it while no lock is held; only reads and the commit take the state lock.
    issuer: Arc<Issuer>,
    published: Arc<RwLock<Published>>,
    /// Re-signs the CRLs in the background (see `publisher`); stopped on drop.
    publisher: publisher::Publisher,
    /// Signs the audit log's head in the background (see `governance::sign_audit_head`).
    audit_signer: publisher::Publisher,
    clock: Arc<dyn Clock>,
    config: Config,
    pool: Arc<KeyPool>,
    /// Failed sign-ins per client address and per (account, address) pair.
    signin: signin::Guard,
    /// A hash with the administrators' Argon2 cost, verified against when there is no real
    /// one to check (unknown name, locked out), so every refusal costs the same.
    dummy_hash: std::sync::OnceLock<String>,
    /// The chain head last written to the audit anchor file.
    anchored: anchor::Anchored,
    /// The OCSP responder and its response cache.
    ocsp: Arc<ocsp::Ocsp>,
    /// The health checks as last computed (see `checks`).
    checks: checks::Cache,
    /// One-time keys of open agent requests (memory only).
    request_keys: agents::RequestKeys,
    /// Whether the CA key can sign (a token key may be gone): see `ca_key`.
    signer_health: ca_key::SignerHealth,
    /// Whether the database answered at the last look (PostgreSQL; always true on SQLite).
    database_reachable: Arc<std::sync::atomic::AtomicBool>,
    /// Since when the served CRL has lagged the store without a break (see `crl_health`).
    crl_lag_since: Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

/// Creates the store, the CA, the first administrator and the first CRL.
pub fn init(params: InitParams<'_>, config: Config, clock: Arc<dyn Clock>) -> Result<Authority> {
    init_in(params, None, config, clock)
}

/// [`init`], with the store in the PostgreSQL database `database` when given (the node's own
/// files in `params.data_dir`); in the data directory's SQLite file otherwise.
pub fn init_in(
    params: InitParams<'_>,
    database: Option<&db::PgConfig>,
    config: Config,
    clock: Arc<dyn Clock>,
) -> Result<Authority> {
    let subject = Name::from_str(params.ca_subject)
        .map_err(|e| Error::invalid("CA subject", format!("{e} (write it as CN=...,O=...)")))?;
    check_url(params.public_url)?;
    check_admin_name(params.admin_name)?;
    check_password(params.admin_password.expose())?;
    if let Some(p) = &params.unlock.password {
        passwords::check_strong("start-up password", p.expose())?;
    }
    let admin_hash = secret::hash_password(params.admin_password.expose(), &config.admin_argon2)?;
    let now = clock.now();
    let profile = Profile::Ca {
        subject,
        path_len: Some(0),
    };
    let period = Period {
        not_before: now - Duration::from_secs(300),
        not_after: now + config.ca_validity,
    };
    let issuer = match &config.ca_signing_key {
        // A CA key on a token: the CA certificate is signed there, nothing of the key is
        // stored (the escrow entry is a reference: see `ca_key`).
        Some(token) => {
            if params.ca_key.is_some() {
                return Err(Error::invalid(
                    "CA key",
                    "give a software CA key or a token key, not both",
                ));
            }
            let bits = token.key().public_key().bits();
            if bits < MIN_CA_KEY_BITS {
                return Err(Error::CaKeyTooSmall { bits });
            }
            Issuer::self_signed_with_signing_key(
                token.key().clone(),
                &profile,
                period,
                DigestAlgorithm::Sha256,
                &mut pki::os_rng(),
            )?
        }
        None => {
            let ca_key = match params.ca_key {
                Some(k) if k.bits() < MIN_CA_KEY_BITS => {
                    return Err(Error::CaKeyTooSmall { bits: k.bits() });
                }
                Some(k) => k,
                None => generate_ca_key(DEFAULT_CA_KEY_BITS)?,
            };
            Issuer::self_signed(
                ca_key,
                &profile,
                period,
                DigestAlgorithm::Sha256,
                &mut pki::os_rng(),
            )?
        }
    };
    let ca_der = certificate::to_der(issuer.certificate())?;
    let key_ref = issuer.signing_key().key_ref();
    let escrowed: zeroize::Zeroizing<Vec<u8>> = match issuer.software_key() {
        Some(k) => zeroize::Zeroizing::new(k.to_pkcs8_der()?.as_bytes().to_vec()),
        None => ca_key::encode_ref(&key_ref),
    };
    let mut store = match database {
        Some(pg) => Store::init_database(pg, params.data_dir, &params.unlock)?,
        None => Store::init(params.data_dir, &params.unlock)?,
    };
    {
        // The CA key (or, on a token, its reference), the CA row, the settings, the first
        // administrator and the audit entry naming the CA key: one transaction.
        let tx = store.begin()?;
        let key_id = tx.escrow(&NewKey {
            owner: CA_OWNER,
            usage: KeyUsage::Ca,
            private_key_der: &escrowed,
            certificate_der: Some(&ca_der),
            created_at: unix(now),
        })?;
        tx.execute(
            "INSERT INTO ca (id, certificate, escrowed_key_id, created_at) VALUES (1, ?1, ?2, ?3)",
            params![ca_der, key_id.0, unix(now)],
        )?;
        tx.execute(
            "INSERT INTO settings (key, value) VALUES ('public_url', ?1)",
            [params.public_url.trim_end_matches('/')],
        )?;
        tx.execute(
            "INSERT INTO admins (name, role, password_hash, created_at)
             VALUES (?1, 'administrator', ?2, ?3)",
            params![params.admin_name, admin_hash, unix(now)],
        )?;
        audit::append_raw(
            &tx,
            unix(now),
            "operator",
            "init",
            &issuer.certificate().tbs_certificate().subject().to_string(),
            "ok",
            &audit::signed_by(&key_ref),
        )?;
        tx.commit()?;
    }
    let authority = Authority::new(store, issuer, config, clock)?;
    {
        let mut st = authority.lock();
        authority.rebuild_crl(&mut st)?;
        authority.anchor_locked(&st)?;
    }
    tracing::info!(dir = %params.data_dir.display(), "authority initialised");
    Ok(authority)
}

/// Unlocks an existing authority.
pub fn unlock(
    store: &Store,
    credential: &Credential,
    config: Config,
    clock: Arc<dyn Clock>,
) -> Result<Authority> {
    let unlocked = store.unlock(credential)?;
    let (ca_der, stored) = ca_key::read_stored(&unlocked)?;
    let issuer = ca_key::issuer_for(&ca_der, stored, config.ca_signing_key.as_ref())?;
    let authority = Authority::new(unlocked, issuer, config, clock)?;
    authority.sweep_backup_leftovers()?;
    authority.check_anchor_at_unlock()?;
    // The served CRL is checked against the store at start-up: re-signed if it lags (a
    // failure leaves the state due for the publisher, and /healthz says so).
    if let Some(lag) = authority.crl_health_thorough() {
        if authority.is_clustered() {
            // Another node may hold the CRL signer's lock: the publisher signs if this one
            // takes it, and otherwise serves what the signer publishes.
            tracing::warn!(reason = %lag, "the CRL lags the store: asking the CRL signer");
            authority.publisher.request();
            return Ok(authority);
        }
        tracing::warn!(reason = %lag, "the CRL lags the store: re-signing");
        let r = {
            let mut st = authority.lock();
            authority.rebuild_crl(&mut st)
        };
        if let Err(e) = r {
            tracing::error!(error = %e, "CRL re-sign at start-up failed; the publisher retries");
            authority.publisher.request();
        }
    }
    Ok(authority)
}

impl Authority {
    fn new(
        store: UnlockedStore,
        issuer: Issuer,
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let blobs = crl_blobs::for_store(store.store())?;
        let published = Arc::new(RwLock::new(
            read_published_from(store.store(), &*blobs).unwrap_or_default(),
        ));
        // Several nodes on one PostgreSQL database: one of them signs the CRLs at a time.
        let signer = store
            .store()
            .connection()
            .postgres_config()
            .map(|pg| Mutex::new(revocation::SignerLock::new(pg.clone())));
        let pool = KeyPool::start(config.key_pool_size);
        let issuer = Arc::new(issuer);
        let clustered = signer.is_some();
        let database_reachable = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let state = Arc::new(Mutex::new(State {
            store,
            issuer: issuer.clone(),
            blobs,
        }));
        let ocsp = Arc::new(ocsp::Ocsp::default());
        let publisher = {
            let (state, published, clock, config, ocsp, reachable) = (
                state.clone(),
                published.clone(),
                clock.clone(),
                config.clone(),
                ocsp.clone(),
                database_reachable.clone(),
            );
            publisher::Publisher::start(
                publisher::Timing {
                    coalesce: config.crl_coalesce,
                    // In a cluster the signer notices other nodes' revocations, and the
                    // others the signer's CRLs, by looking every second (one small read).
                    check_every: if clustered {
                        config.crl_check_every.min(revocation::CLUSTER_CHECK_EVERY)
                    } else {
                        config.crl_check_every
                    },
                    retry: config.crl_retry,
                },
                move || {
                    if clustered {
                        // The database session is looked at every second: a lost one is
                        // replaced as soon as the server answers again (calls meanwhile are
                        // refused with AUTH-065, and /healthz says unavailable).
                        let ok = {
                            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                            st.store.heal()
                        };
                        let ok = ok.unwrap_or_else(|e| {
                            tracing::error!(error = %e, "the database connection cannot be restored");
                            false
                        });
                        let was = reachable.swap(ok, std::sync::atomic::Ordering::Relaxed);
                        if was != ok {
                            if ok {
                                tracing::info!("the database answers again");
                            } else {
                                tracing::error!("the database cannot be reached");
                            }
                        }
                        if !ok {
                            return Ok(false);
                        }
                    }
                    let signed = revocation::crl_pass(
                        &state,
                        &published,
                        &*clock,
                        &config,
                        signer.as_ref(),
                        &|| ocsp.invalidate(),
                    )?;
                    if signed {
                        // The store's revocations may have changed otherwise than by revoke.
                        ocsp.invalidate();
                    }
                    Ok(signed)
                },
            )
        };
        let audit_signer = {
            let (state, issuer, clock) = (state.clone(), issuer.clone(), clock.clone());
            publisher::Publisher::start_named(
                publisher::Job {
                    thread: "audit-signer",
                    failed: "cannot sign the audit log's head; retried",
                },
                publisher::Timing {
                    coalesce: Duration::ZERO,
                    check_every: Duration::from_secs(300),
                    retry: config.crl_retry,
                },
                move || governance::sign_audit_head(&state, &issuer, &*clock),
            )
        };
        Ok(Authority {
            state,
            issuer,
            published,
            publisher,
            audit_signer,
            clock,
            config,
            pool,
            signin: Default::default(),
            dummy_hash: Default::default(),
            anchored: Default::default(),
            ocsp,
            checks: Default::default(),
            request_keys: Default::default(),
            signer_health: Default::default(),
            database_reachable,
            crl_lag_since: Mutex::new(None),
        })
    }

    fn lock(&self) -> lockstats::StateGuard<'_> {
        lockstats::lock(&self.state)
    }

    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Adds pre-made keys to the encryption key pool (tests reuse committed keys).
    pub fn add_pool_keys(&self, keys: Vec<PrivateKey>) {
        self.pool.add(keys);
    }

    /// Keys ready in the pool.
    pub fn pool_ready(&self) -> usize {
        self.pool.ready()
    }

    /// What the authority publishes now.
    pub fn published(&self) -> Published {
        self.published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The `public_url` setting.
    pub fn public_url(&self) -> Result<String> {
        let st = self.lock();
        setting(st.store.store().connection(), "public_url")
    }
}

// -------------------------------------------------------------------------------------
// SQL helpers.

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2)
}

fn setting(conn: &Connection, key: &str) -> Result<String> {
    conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
        r.get(0)
    })
    .optional()?
    .ok_or_else(|| Error::Corrupt(format!("setting {key} is missing")))
}

/// The CA certificate and the CRLs the store's CRL state names (empty when missing: the
/// check at unlock re-signs).
fn read_published(store: &Store) -> Result<Published> {
    read_published_from(store, &*crl_blobs::for_store(store)?)
}

/// [`read_published`] with the store's CRL storage at hand.
fn read_published_from(store: &Store, blobs: &dyn crl_blobs::CrlBlobs) -> Result<Published> {
    let conn = store.connection();
    let ca_der: Vec<u8> = conn
        .query_row("SELECT certificate FROM ca WHERE id = 1", [], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::Corrupt("the store has no CA (was it made by kmsd init?)".into()))?;
    let number: Option<i64> = conn
        .query_row("SELECT number FROM crl_state WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    let (crl_der, delta_crl_der) = match number {
        Some(n) => (
            blobs.get(crl_blobs::CrlKind::Full, n)?.unwrap_or_default(),
            blobs
                .get(crl_blobs::CrlKind::Delta, n + 1)?
                .unwrap_or_default(),
        ),
        None => Default::default(),
    };
    Ok(Published::new(ca_der, crl_der, delta_crl_der))
}

impl Published {
    fn new(ca_der: Vec<u8>, crl_der: Vec<u8>, delta_crl_der: Vec<u8>) -> Self {
        use sha2::Digest as _;
        let hashes = (
            sha2::Sha256::digest(&crl_der).into(),
            sha2::Sha256::digest(&delta_crl_der).into(),
        );
        Published {
            ca_der,
            crl_der,
            delta_crl_der,
            hashes,
        }
    }
}

fn next_crl_number(conn: &Connection) -> Result<i64> {
    let last: Option<i64> = conn
        .query_row("SELECT delta_number FROM crl_state WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(last.map_or(1, |n| n + 1))
}

fn user_row(r: &db::Row<'_>) -> db::Result<UserInfo> {
    let caps: String = r.get(2)?;
    Ok(UserInfo {
        email: r.get(0)?,
        name: r.get(1)?,
        capabilities: caps
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        status: r.get(3)?,
        created_at: r.get(4)?,
        given_name: r.get(5)?,
        surname: r.get(6)?,
        pseudonym: r.get(7)?,
        profile: r.get(8)?,
        // Filled in by the queries that show users (views::user_state_sql); rows read for
        // an operation's own use do not need it.
        state: UserState::New,
        state_expires_at: None,
    })
}

fn find_user(conn: &Connection, email: &str) -> Result<(i64, UserInfo)> {
    let email = email.trim();
    conn.query_row(
        &format!("SELECT {USER_COLUMNS}, id FROM users WHERE email_key = ?1"),
        [email_key(email)],
        |r| Ok((r.get(9)?, user_row(r)?)),
    )
    .optional()?
    .ok_or_else(|| Error::UnknownUser {
        email: email.to_string(),
    })
}

fn user_by_id(conn: &Connection, id: i64) -> Result<UserInfo> {
    conn.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
        [id],
        user_row,
    )
    .optional()?
    .ok_or_else(|| Error::Corrupt(format!("token for missing user {id}")))
}

/// (user id, expires at, used at, pending escrowed key id)
type TokenRow = (i64, i64, Option<i64>, Option<i64>);

fn token_row(conn: &Connection, hash: &[u8; 32]) -> Result<Option<TokenRow>> {
    Ok(conn
        .query_row(
            "SELECT user_id, expires_at, used_at, pending_key_id FROM tokens WHERE token_hash = ?1",
            [&hash[..]],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?)
}

fn insert_token(
    conn: &Connection,
    user_id: i64,
    token: &Token,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO tokens (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![&token.hash()[..], user_id, now, expires_at],
    )?;
    Ok(())
}

fn insert_cert(
    conn: &Connection,
    user_id: i64,
    kind: &str,
    cert: &pki::Certificate,
    key_id: Option<i64>,
    now: i64,
) -> Result<CertSummary> {
    let info = CertificateInfo::from_certificate(cert)?;
    let serial = normalise_serial(&info.serial_hex)?;
    let der = certificate::to_der(cert)?;
    conn.execute(
        "INSERT INTO certificates (serial, user_id, kind, der, not_before, not_after, escrowed_key_id, issued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![serial, user_id, kind, der, unix(info.not_before), unix(info.not_after), key_id, now],
    )?;
    Ok(CertSummary {
        serial,
        kind: kind.into(),
        not_before: unix(info.not_before),
        not_after: unix(info.not_after),
        revoked: None,
        superseded: false,
    })
}

fn current_cert(
    conn: &Connection,
    user_id: i64,
    kind: &str,
    now: i64,
) -> Result<Option<(String, Vec<u8>)>> {
    Ok(current_cert_full(conn, user_id, kind, now)?.map(|c| (c.serial, c.der)))
}

fn current_cert_full(
    conn: &Connection,
    user_id: i64,
    kind: &str,
    now: i64,
) -> Result<Option<CurrentCert>> {
    Ok(conn
        .query_row(
            "SELECT c.serial, c.der, c.escrowed_key_id FROM certificates c
             WHERE c.user_id = ?1 AND c.kind = ?2 AND c.superseded_at IS NULL AND c.not_after > ?3
               AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.serial = c.serial)
             ORDER BY c.issued_at DESC, c.not_after DESC, c.serial DESC LIMIT 1",
            params![user_id, kind, now],
            |r| {
                Ok(CurrentCert {
                    serial: r.get(0)?,
                    der: r.get(1)?,
                    escrowed_key_id: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// The canonical form of a serial: lower-case hex without leading zeros (`0` for zero),
/// from hex in any case, with leading zeros, a `0x` prefix or colons (as OpenSSL prints them).
pub(crate) fn normalise_serial(s: &str) -> Result<String> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let t: String = t
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if t.is_empty() || t.len() > 42 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid("serial", "give the serial number in hex"));
    }
    let trimmed = t.trim_start_matches('0');
    Ok(if trimmed.is_empty() { "0" } else { trimmed }.to_string())
}

/// The bytes of a canonical serial (big-endian, as a CRL entry names it).
pub(crate) fn serial_bytes(serial: &str) -> Result<Vec<u8>> {
    let even = if serial.len() % 2 == 1 {
        format!("0{serial}")
    } else {
        serial.to_string()
    };
    hex::decode(&even).map_err(|_| Error::Corrupt(format!("serial {serial}")))
}

/// The canonical serial of big-endian serial bytes.
pub(crate) fn serial_of_bytes(bytes: &[u8]) -> String {
    let h = hex::encode(bytes);
    let trimmed = h.trim_start_matches('0');
    if trimmed.is_empty() { "0" } else { trimmed }.to_string()
}

/// An address as stored for display: trimmed, the local part as given, the domain lower case.
pub(crate) fn display_email(email: &str) -> String {
    let email = email.trim();
    match email.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => email.to_string(),
    }
}

/// An address as compared (column `users.email_key`): the local part case-folded, as mail
/// systems do in practice, and the domain lower case. Done by code, not by an SQL collation,
/// so every database backend compares the same. (Addresses are ASCII: see `check_email`.)
pub(crate) fn email_key(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

fn escape_dn(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && matches!(c, '#' | ' '))
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn check_url(url: &str) -> Result<()> {
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.len() > 200
        || url.contains(char::is_whitespace)
    {
        return Err(Error::invalid(
            "public URL",
            format!("{url:?}: give an http:// or https:// URL"),
        ));
    }
    Ok(())
}

fn check_admin_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        return Err(Error::invalid(
            "administrator name",
            "1 to 64 letters, digits or . _ - @",
        ));
    }
    Ok(())
}

fn check_password(p: &str) -> Result<()> {
    passwords::check_strong("administrator password", p)
}

fn encrypt_key(key_der: &der::SecretDocument, token: &str, iterations: u32) -> Result<Vec<u8>> {
    use pkcs8::PrivateKeyInfoRef;
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    getrandom::fill(&mut salt)
        .and_then(|()| getrandom::fill(&mut iv))
        .map_err(|e| Error::Corrupt(format!("OS random number generator failed: {e}")))?;
    let params = pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(iterations, &salt, iv)
        .map_err(|e| Error::invalid("PBES2 parameters", e.to_string()))?;
    let info = PrivateKeyInfoRef::try_from(key_der.as_bytes())
        .map_err(|e| Error::Corrupt(format!("escrowed key encoding: {e}")))?;
    let doc = info
        .encrypt_with_params(params, token.as_bytes())
        .map_err(|e| Error::Corrupt(format!("encrypting the enrollment key: {e}")))?;
    Ok(doc.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_normalise() {
        assert_eq!(normalise_serial("00:AB:cd").unwrap(), "abcd");
        assert_eq!(normalise_serial("0x1").unwrap(), "1");
        assert_eq!(normalise_serial("0X0a").unwrap(), "a");
        assert_eq!(normalise_serial("000").unwrap(), "0");
        assert_eq!(normalise_serial("0ABC").unwrap(), "abc");
        assert_eq!(serial_bytes("abc").unwrap(), [0x0a, 0xbc]);
        assert_eq!(serial_of_bytes(&[0x00, 0x0a, 0xbc]), "abc");
        assert_eq!(serial_of_bytes(&[0x00]), "0");
        assert!(normalise_serial("xyz").is_err());
        assert!(normalise_serial("").is_err());
    }

    #[test]
    fn emails_are_compared_canonically() {
        assert_eq!(
            display_email(" Mixed.Case@Example.COM "),
            "Mixed.Case@example.com"
        );
        assert_eq!(
            email_key("Mixed.Case@Example.COM"),
            "mixed.case@example.com"
        );
        assert_eq!(
            email_key(&display_email("Mixed.Case@Example.COM")),
            email_key("mixed.case@example.com")
        );
    }

    #[test]
    fn dn_escaping() {
        assert_eq!(escape_dn("Doe, Jane"), "Doe\\, Jane");
        assert!(Name::from_str(&format!("CN={}", escape_dn("a+b=c, \"d\""))).is_ok());
    }
}
