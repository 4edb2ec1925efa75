//! The authority's service logic: the CA, users, enrollment tokens, enrollment, the
//! directory, revocation and CRLs, renewal, administrators and their sessions. Knows no HTTP;
//! reads the time only through an injected [`Clock`].
//!
//! # Storage
//!
//! The authority's tables (`migrations/0002_authority.sql`) live in the escrow store's SQLite
//! database and are reached through the store's own connection
//! ([`escrow::UnlockedStore::connection_mut`], [`escrow::Store::connection`] while locked), so
//! there is one connection, one file and one backup. Private keys (the CA's, every user's
//! encryption key) are only ever written through [`escrow::UnlockedStore::escrow`].
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
//! | `AUTH-024` | an approval was refused (twice by the same administrator, expired, closed) |
//! | `AUTH-025` | no such approval request |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod approvals;
mod audit;
mod clock;
mod error;
mod pool;
mod secret;

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use escrow::rusqlite::{self, Connection, OptionalExtension, TransactionBehavior, params};
use escrow::{Credential, KeyUsage, NewKey, Password, Store, UnlockedStore};
use pki::certificate::{self, CertificateInfo};
use pki::crl::{CrlBuilder, CrlEntry, RevocationReason};
use pki::{
    ContentAlgorithm, DigestAlgorithm, Issuer, KeySize, Name, Period, PrivateKey, Profile,
    PublicKey, RevocationUrls, SmimeSubject,
};
use serde::Serialize;

pub use approvals::{ApprovalRequest, OPERATIONS, Policy};
pub use audit::{AuditEntry, AuditProblem, AuditReport};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use secret::{Argon2Params, Token};

use clock::{from_unix, unix};
use pool::KeyPool;

/// Escrow owner of the CA key.
const CA_OWNER: &str = "ca";

/// The capabilities a user gets when none are given.
pub const DEFAULT_CAPABILITIES: &str = "aes256-gcm,aes128-gcm,aes256,aes192,aes128,3des";

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
    /// Failed sign-ins in a row before the account is locked.
    pub max_failed_logins: u32,
    /// How long a locked-out account stays locked.
    pub lockout: Duration,
    /// Pre-generated encryption keys kept ready (0: generate during the enrollment).
    pub key_pool_size: usize,
    /// PBKDF2 iterations of the enrollment response's key encryption (the token itself has
    /// 256 bits of entropy, so this need not be large).
    pub enrollment_pbkdf2_iterations: u32,
    /// Backups kept in `DATA_DIR/backups` (older ones are deleted after each new one).
    pub backup_keep: usize,
    /// Scheduled backups: one when the newest in `DATA_DIR/backups` is this old (None: off).
    pub backup_interval: Option<Duration>,
    /// How long an approval request stays open.
    pub approval_ttl: Duration,
    /// PBKDF2 iterations of recovery bundles (PKCS#12).
    pub recovery_pkcs12_iterations: u32,
}

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
            max_failed_logins: 5,
            lockout: Duration::from_secs(15 * 60),
            key_pool_size: 4,
            enrollment_pbkdf2_iterations: 10_000,
            backup_keep: 7,
            backup_interval: None,
            approval_ttl: Duration::from_secs(24 * 3600),
            recovery_pkcs12_iterations: pki::pkcs12::DEFAULT_ITERATIONS,
        }
    }
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
    /// The CA key to use (tests pass a committed key); `None` generates RSA-3072.
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
    read_published(store.connection())
}

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
}

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
}

/// What to revoke.
#[derive(Clone, Debug)]
pub enum RevokeTarget {
    /// Every unrevoked, unexpired certificate of the user.
    User(String),
    /// One certificate, by serial (hex).
    Serial(String),
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

struct State {
    store: UnlockedStore,
    issuer: Issuer,
}

/// An encryption key that was certified and escrowed together.
struct Escrowed {
    certificate: pki::Certificate,
    certificate_der: Vec<u8>,
    key_der: der::SecretDocument,
    key_id: escrow::KeyId,
}

impl State {
    /// Issues the encryption certificate for `key` and escrows the key with it, at once: the
    /// one step enrollment and key roll-over share, so an issued encryption key is never left
    /// unescrowed.
    fn certify_and_escrow(
        &mut self,
        subject: SmimeSubject,
        key: &PrivateKey,
        period: Period,
        now: i64,
    ) -> Result<Escrowed> {
        let owner = subject.email.clone();
        let certificate = self.issuer.issue(
            &Profile::SmimeEncryption(subject),
            &key.public_key(),
            period,
            &mut pki::os_rng(),
        )?;
        let certificate_der = certificate::to_der(&certificate)?;
        let key_der = key.to_pkcs8_der()?;
        let key_id = self.store.escrow(&NewKey {
            owner: &owner,
            usage: KeyUsage::Encryption,
            private_key_der: key_der.as_bytes(),
            certificate_der: Some(&certificate_der),
            created_at: now,
        })?;
        Ok(Escrowed {
            certificate,
            certificate_der,
            key_der,
            key_id,
        })
    }
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

/// The unlocked authority.
pub struct Authority {
    state: Mutex<State>,
    published: RwLock<Published>,
    clock: Arc<dyn Clock>,
    config: Config,
    pool: Arc<KeyPool>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

/// Creates the store, the CA, the first administrator and the first CRL.
pub fn init(params: InitParams<'_>, config: Config, clock: Arc<dyn Clock>) -> Result<Authority> {
    let subject = Name::from_str(params.ca_subject)
        .map_err(|e| Error::invalid("CA subject", format!("{e} (write it as CN=...,O=...)")))?;
    check_url(params.public_url)?;
    check_admin_name(params.admin_name)?;
    check_password(params.admin_password.expose())?;
    let admin_hash = secret::hash_password(params.admin_password.expose(), &config.admin_argon2)?;
    let now = clock.now();
    let ca_key = match params.ca_key {
        Some(k) => k,
        None => PrivateKey::generate(&mut pki::os_rng(), KeySize::Rsa3072)?,
    };
    let not_before = now - Duration::from_secs(300);
    let issuer = Issuer::self_signed(
        ca_key,
        &Profile::Ca {
            subject,
            path_len: Some(0),
        },
        Period {
            not_before,
            not_after: now + config.ca_validity,
        },
        DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    )?;
    let ca_der = certificate::to_der(issuer.certificate())?;
    let mut store = Store::init(params.data_dir, &params.unlock)?;
    let key_der = issuer.key().to_pkcs8_der()?;
    let key_id = store.escrow(&NewKey {
        owner: CA_OWNER,
        usage: KeyUsage::Ca,
        private_key_der: key_der.as_bytes(),
        certificate_der: Some(&ca_der),
        created_at: unix(now),
    })?;
    {
        let tx = store
            .connection_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
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
        tx.commit()?;
    }
    let authority = Authority::new(store, issuer, config, clock)?;
    {
        let mut st = authority.lock();
        authority.rebuild_crl(&mut st)?;
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
    let (ca_der, key_id): (Vec<u8>, i64) = unlocked
        .store()
        .connection()
        .query_row(
            "SELECT certificate, escrowed_key_id FROM ca WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| Error::Corrupt("the store has no CA (was it made by kmsd init?)".into()))?;
    let escrowed = unlocked
        .key(escrow::KeyId(key_id))?
        .ok_or_else(|| Error::Corrupt("the CA key is missing from escrow".into()))?;
    let key = PrivateKey::from_der(escrowed.private_key_der.expose())?;
    let issuer = Issuer::new(certificate::parse_certificate(&ca_der)?, key)?;
    let authority = Authority::new(unlocked, issuer, config, clock)?;
    authority.refresh_crl_if_due()?;
    Ok(authority)
}

impl Authority {
    fn new(
        store: UnlockedStore,
        issuer: Issuer,
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let published = read_published(store.store().connection()).unwrap_or_default();
        let pool = KeyPool::start(config.key_pool_size);
        Ok(Authority {
            state: Mutex::new(State { store, issuer }),
            published: RwLock::new(published),
            clock,
            config,
            pool,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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

    // ---------------------------------------------------------------------------------
    // The audit log. Every administrative action goes through one of the wrappers below,
    // which appends its outcome (refusals included) to the chained log.

    /// Appends `result`'s outcome to the audit log and hands `result` back.
    fn audited<T>(&self, actor: &str, action: &str, target: &str, result: Result<T>) -> Result<T> {
        let refusal = result.as_ref().err().map(|e| format!("[{}] {e}", e.code()));
        let st = self.lock();
        let conn = st.store.store().connection();
        let r = audit::append(
            conn,
            &audit::Record {
                at: unix(self.now()),
                actor,
                action,
                target,
                refusal,
                pending: matches!(result, Err(Error::ApprovalPending { .. })),
            },
        )
        .and_then(|_| {
            if audit::unsigned_entries(conn)? >= AUDIT_CHECKPOINT_EVERY {
                audit::sign_head(conn, st.issuer.key(), unix(self.now()))?;
            }
            Ok(())
        });
        if let Err(e) = r {
            tracing::error!(error = %e, action, "cannot write the audit log");
        }
        result
    }

    /// Audit log entries from `since` (Unix seconds) on, oldest first (any role).
    pub fn audit_list(&self, _actor: &Admin, since: Option<i64>) -> Result<Vec<AuditEntry>> {
        let st = self.lock();
        audit::list(st.store.store().connection(), since, 100_000)
    }

    /// Verifies the audit chain and its CA-signed checkpoints (any role).
    pub fn audit_verify(&self, _actor: &Admin) -> Result<AuditReport> {
        let st = self.lock();
        let ca = certificate::public_key(st.issuer.certificate())?;
        audit::verify(st.store.store().connection(), &ca)
    }

    /// Signs the audit chain head with the CA key now (administrator role); returns the
    /// signed entry.
    pub fn audit_sign(&self, actor: &Admin) -> Result<Option<i64>> {
        let r = actor.require_administrator().and_then(|()| {
            let st = self.lock();
            audit::sign_head(
                st.store.store().connection(),
                st.issuer.key(),
                unix(self.now()),
            )
        });
        // The signature covers the entries before this one.
        self.audited(&actor.name, "audit.sign", "-", r)
    }

    // ---------------------------------------------------------------------------------
    // Quorum policies and approvals.

    /// Ok when `actor` may carry out `op` on `target` now: the policy needs one approval, or
    /// the open request for exactly this target has enough approvals (the actor's counted).
    /// Otherwise opens or reuses that request, counts the actor's approval and returns
    /// [`Error::ApprovalPending`].
    fn gate(&self, actor: &Admin, op: &str, target: &str) -> Result<()> {
        let now = unix(self.now());
        let st = self.lock();
        let conn = st.store.store().connection();
        let needed = approvals::quorum(conn, op)?;
        if needed <= 1 {
            return Ok(());
        }
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let id = match approvals::open_request(&tx, op, target, now)? {
            Some(id) => id,
            None => approvals::create(
                &tx,
                op,
                target,
                &actor.name,
                now,
                now + secs(self.config.approval_ttl),
            )?,
        };
        approvals::add_approval(&tx, id, &actor.name, now)?;
        let approved_by = approvals::approvers(&tx, id)?;
        if approved_by.len() as i64 >= needed {
            approvals::close(&tx, id, "done", now)?;
            tx.commit()?;
            return Ok(());
        }
        tx.commit()?;
        Err(Error::ApprovalPending {
            request_id: id,
            operation: op.into(),
            target: target.into(),
            approved_by,
            needed,
        })
    }

    /// The quorum policies (any role).
    pub fn policies(&self, _actor: &Admin) -> Result<Vec<Policy>> {
        let st = self.lock();
        approvals::policies(st.store.store().connection())
    }

    /// Sets an operation's quorum (administrator role, under the `policy-change` quorum).
    pub fn set_policy(&self, actor: &Admin, operation: &str, quorum: i64) -> Result<Policy> {
        let r = self.set_policy_inner(actor, operation, quorum);
        self.audited(
            &actor.name,
            "policy.set",
            &format!("{operation}={quorum}"),
            r,
        )
    }

    fn set_policy_inner(&self, actor: &Admin, operation: &str, quorum: i64) -> Result<Policy> {
        actor.require_administrator()?;
        let operation = approvals::check_operation(operation)?;
        let admins = {
            let st = self.lock();
            approvals::administrators(st.store.store().connection())?
        };
        if quorum < 1 || quorum > admins {
            return Err(Error::invalid(
                "quorum",
                format!(
                    "{quorum}: give 1 to {admins} (the number of administrators able to approve)"
                ),
            ));
        }
        self.gate(actor, "policy-change", &format!("{operation}={quorum}"))?;
        let st = self.lock();
        st.store.store().connection().execute(
            "INSERT INTO policies (operation, quorum) VALUES (?1, ?2)
             ON CONFLICT (operation) DO UPDATE SET quorum = excluded.quorum",
            params![operation, quorum],
        )?;
        Ok(Policy { operation, quorum })
    }

    /// Open approval requests (any role).
    pub fn approvals(&self, _actor: &Admin) -> Result<Vec<ApprovalRequest>> {
        let st = self.lock();
        approvals::list(st.store.store().connection(), unix(self.now()))
    }

    /// Approves a request (administrator role). Refused, and audited, when the actor
    /// approved it already, or it expired or was closed.
    pub fn approve(&self, actor: &Admin, id: i64) -> Result<ApprovalRequest> {
        let r = self.approve_inner(actor, id);
        self.audited(&actor.name, "approve", &format!("request {id}"), r)
    }

    fn approve_inner(&self, actor: &Admin, id: i64) -> Result<ApprovalRequest> {
        actor.require_administrator()?;
        let now = unix(self.now());
        let st = self.lock();
        let conn = st.store.store().connection();
        let req = approvals::get(conn, id, now)?.ok_or(Error::UnknownRequest { id })?;
        match req.status.as_str() {
            "pending" => {}
            "expired" => {
                return Err(Error::ApprovalRefused(format!(
                    "request {id} expired; run the command again to open a new one"
                )));
            }
            other => {
                return Err(Error::ApprovalRefused(format!("request {id} is {other}")));
            }
        }
        if !approvals::add_approval(conn, id, &actor.name, now)? {
            return Err(Error::ApprovalRefused(format!(
                "{} approved request {id} already; another administrator must approve it",
                actor.name
            )));
        }
        approvals::get(conn, id, now)?.ok_or(Error::UnknownRequest { id })
    }

    /// Cancels an open request (administrator role).
    pub fn cancel_approval(&self, actor: &Admin, id: i64) -> Result<ApprovalRequest> {
        let r = (|| {
            actor.require_administrator()?;
            let now = unix(self.now());
            let st = self.lock();
            let conn = st.store.store().connection();
            let req = approvals::get(conn, id, now)?.ok_or(Error::UnknownRequest { id })?;
            if req.status != "pending" {
                return Err(Error::ApprovalRefused(format!(
                    "request {id} is {}",
                    req.status
                )));
            }
            approvals::close(conn, id, "cancelled", now)?;
            approvals::get(conn, id, now)?.ok_or(Error::UnknownRequest { id })
        })();
        self.audited(&actor.name, "approvals.cancel", &format!("request {id}"), r)
    }

    // ---------------------------------------------------------------------------------
    // Start-up secrets (unlock methods).

    fn methods(st: &State) -> Result<Vec<UnlockMethod>> {
        Ok(st
            .store
            .unlock_methods()?
            .into_iter()
            .map(|m| UnlockMethod {
                id: m.id.0,
                kind: match m.kind {
                    escrow::MethodKind::Password => "password",
                    escrow::MethodKind::KeyFile => "key-file",
                    _ => "other",
                },
                label: m.label,
                key_file_id: m.key_file_id,
                created_at: m.created_at,
            })
            .collect())
    }

    /// The start-up secrets that unlock the store (any role).
    pub fn unlock_methods(&self, _actor: &Admin) -> Result<Vec<UnlockMethod>> {
        Self::methods(&self.lock())
    }

    /// Adds a start-up password, or (`password` None) a new key file whose bytes are
    /// returned (administrator role, under the `admin-change` quorum).
    pub fn add_unlock_method(
        &self,
        actor: &Admin,
        password: Option<&Password>,
    ) -> Result<NewUnlockMethod> {
        let kind = if password.is_some() {
            "password"
        } else {
            "key-file"
        };
        let r = (|| {
            actor.require_administrator()?;
            if password.is_some_and(|p| p.expose().chars().count() < 12) {
                return Err(Error::invalid(
                    "start-up password",
                    "use at least 12 characters",
                ));
            }
            self.gate(actor, "admin-change", &format!("add unlock method {kind}"))?;
            let mut st = self.lock();
            let (id, key_file) = match password {
                Some(p) => (st.store.add_password(p, &self.config.admin_argon2)?, None),
                None => {
                    // Written beside the store (0600), read back, removed: the caller keeps it.
                    let dir = st.store.store().data_dir().to_path_buf();
                    let tmp = dir.join(format!(".new-key-file-{}", std::process::id()));
                    let _ = std::fs::remove_file(&tmp);
                    let id = st.store.add_key_file(&tmp, None)?;
                    let bytes = std::fs::read(&tmp).map(zeroize::Zeroizing::new);
                    let _ = std::fs::remove_file(&tmp);
                    let bytes = bytes
                        .map_err(|e| Error::Corrupt(format!("reading the new key file: {e}")))?;
                    (id, Some(bytes))
                }
            };
            let method = Self::methods(&st)?
                .into_iter()
                .find(|m| m.id == id.0)
                .ok_or_else(|| Error::Corrupt("the new unlock method is missing".into()))?;
            Ok(NewUnlockMethod { method, key_file })
        })();
        self.audited(&actor.name, "unlock-method.add", kind, r)
    }

    /// Removes a start-up secret (administrator role, under the `admin-change` quorum); the
    /// last one cannot be removed.
    pub fn remove_unlock_method(&self, actor: &Admin, id: i64) -> Result<()> {
        let r = (|| {
            actor.require_administrator()?;
            {
                let st = self.lock();
                if !Self::methods(&st)?.iter().any(|m| m.id == id) {
                    return Err(Error::invalid(
                        "unlock method",
                        format!("no unlock method {id}"),
                    ));
                }
            }
            self.gate(actor, "admin-change", &format!("remove unlock method {id}"))?;
            let mut st = self.lock();
            st.store.remove_unlock_method(escrow::MethodId(id))?;
            Ok(())
        })();
        self.audited(&actor.name, "unlock-method.remove", &id.to_string(), r)
    }

    // ---------------------------------------------------------------------------------
    // Backups.

    fn backup_dir(st: &State) -> std::path::PathBuf {
        st.store.store().data_dir().join("backups")
    }

    fn backup_files(dir: &Path) -> Result<Vec<BackupInfo>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::Corrupt(format!("reading {}: {e}", dir.display()))),
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("kms-") && name.ends_with(".kmsbak") {
                out.push(BackupInfo {
                    path: e.path().display().to_string(),
                    bytes: e.metadata().map(|m| m.len()).unwrap_or(0),
                    name,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Takes an encrypted backup into `DATA_DIR/backups` now and keeps the newest
    /// [`Config::backup_keep`] (administrator role; `None` for the scheduler).
    pub fn backup_now(&self, actor: Option<&Admin>) -> Result<BackupInfo> {
        let r = (|| {
            if let Some(a) = actor {
                a.require_administrator()?;
            }
            let st = self.lock();
            let dir = Self::backup_dir(&st);
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::Corrupt(format!("creating {}: {e}", dir.display())))?;
            let now = self.now();
            let secs = unix(now);
            let mut n = 0;
            let path = loop {
                let p = dir.join(format!("kms-{secs:012}-{n}.kmsbak"));
                if !p.exists() {
                    break p;
                }
                n += 1;
            };
            st.store.backup(&path)?;
            let files = Self::backup_files(&dir)?;
            let keep = self.config.backup_keep.max(1);
            if files.len() > keep {
                for old in &files[..files.len() - keep] {
                    if let Err(e) = std::fs::remove_file(&old.path) {
                        tracing::warn!(file = %old.path, error = %e, "cannot remove an old backup");
                    }
                }
            }
            Ok(BackupInfo {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                path: path.display().to_string(),
            })
        })();
        let who = actor.map_or("-", |a| a.name.as_str());
        let target = r.as_ref().map_or("-".to_string(), |b| b.name.clone());
        self.audited(who, "backup", &target, r)
    }

    /// Takes a scheduled backup when [`Config::backup_interval`] says one is due.
    pub fn backup_if_due(&self) -> Result<Option<BackupInfo>> {
        let Some(every) = self.config.backup_interval else {
            return Ok(None);
        };
        let newest = {
            let st = self.lock();
            Self::backup_files(&Self::backup_dir(&st))?
                .iter()
                .filter_map(|b| b.name.strip_prefix("kms-")?.get(..12)?.parse::<i64>().ok())
                .max()
        };
        let now = unix(self.now());
        if newest.is_some_and(|t| now - t < secs(every)) {
            return Ok(None);
        }
        self.backup_now(None).map(Some)
    }

    /// The backups in `DATA_DIR/backups`, oldest first (any role).
    pub fn backups(&self, _actor: &Admin) -> Result<Vec<BackupInfo>> {
        let st = self.lock();
        Self::backup_files(&Self::backup_dir(&st))
    }

    /// Checks a backup of this store completely with the master key in memory: every chunk,
    /// SQLite's integrity check, every escrowed key, and the audit chain inside (any role).
    /// `name` is a file in `DATA_DIR/backups`, by name or by path; nothing outside it.
    pub fn verify_backup(&self, actor: &Admin, name: &str) -> Result<BackupCheck> {
        let r = (|| {
            let st = self.lock();
            let dir = Self::backup_dir(&st);
            let candidate = if name.contains('/') {
                std::path::PathBuf::from(name)
            } else {
                dir.join(name)
            };
            // Only files inside DATA_DIR/backups: the server must not open arbitrary paths
            // for a caller (symlinks and `..` are resolved before the check).
            let path = match (candidate.canonicalize(), dir.canonicalize()) {
                (Ok(p), Ok(d)) if p.starts_with(&d) && p.is_file() => p,
                _ => {
                    return Err(Error::invalid(
                        "backup",
                        format!(
                            "{name} is not a backup in {} (kmsctl backup list)",
                            dir.display()
                        ),
                    ));
                }
            };
            let ca = certificate::public_key(st.issuer.certificate())?;
            let (report, audit) = st
                .store
                .verify_own_backup(&path, |conn| audit::verify(conn, &ca))?;
            Ok(BackupCheck {
                path: path.display().to_string(),
                keys: report.keys,
                owners: report.owners,
                unlock_methods: report.unlock_methods,
                database_bytes: report.database_bytes,
                audit: audit?,
            })
        })();
        self.audited(&actor.name, "backup.verify", name, r)
    }

    // ---------------------------------------------------------------------------------
    // Key recovery.

    /// Every encryption key `email` ever had, each with its certificate, in one PKCS#12
    /// under `password` (administrator role, under the `recover-key` quorum). Signing keys
    /// are never escrowed, so never in it. With `reenroll`, also a new enrollment token.
    pub fn recover_key(
        &self,
        actor: &Admin,
        email: &str,
        password: &Password,
        reenroll: bool,
    ) -> Result<Recovery> {
        let email = email.trim().to_ascii_lowercase();
        let r = self.recover_key_inner(actor, &email, password, reenroll);
        self.audited(&actor.name, "recover-key", &email, r)
    }

    fn recover_key_inner(
        &self,
        actor: &Admin,
        email: &str,
        password: &Password,
        reenroll: bool,
    ) -> Result<Recovery> {
        actor.require_administrator()?;
        if password.expose().chars().count() < 8 {
            return Err(Error::invalid(
                "bundle password",
                "use at least 8 characters",
            ));
        }
        {
            let st = self.lock();
            find_user(st.store.store().connection(), email)?;
        }
        self.gate(actor, "recover-key", email)?;
        let pkcs12 = {
            let st = self.lock();
            let conn = st.store.store().connection();
            let mut keys = Vec::new();
            for k in st.store.keys_of(email)? {
                if k.info.usage != KeyUsage::Encryption {
                    continue;
                }
                let cert_der = match &k.certificate_der {
                    Some(c) => c.clone(),
                    None => conn
                        .query_row(
                            "SELECT der FROM certificates WHERE escrowed_key_id = ?1
                             ORDER BY issued_at DESC LIMIT 1",
                            [k.info.id.0],
                            |r| r.get::<_, Vec<u8>>(0),
                        )
                        .optional()?
                        .ok_or_else(|| {
                            Error::Corrupt(format!(
                                "escrowed key {} has no certificate",
                                k.info.id.0
                            ))
                        })?,
                };
                let key = PrivateKey::from_der(k.private_key_der.expose())?;
                let cert = certificate::parse_certificate(&cert_der)?;
                keys.push((key, cert, format!("{email} encryption key {}", k.info.id.0)));
            }
            if keys.is_empty() {
                return Err(Error::NotEnrolled {
                    email: email.into(),
                    kind: "encryption",
                });
            }
            let entries: Vec<pki::pkcs12::Pkcs12Entry<'_>> = keys
                .iter()
                .map(|(key, certificate, name)| pki::pkcs12::Pkcs12Entry {
                    key,
                    certificate,
                    friendly_name: Some(name),
                })
                .collect();
            let bytes = pki::pkcs12::export(
                &entries,
                std::slice::from_ref(st.issuer.certificate()),
                password.expose(),
                &pki::pkcs12::ExportOptions::modern()
                    .with_iterations(self.config.recovery_pkcs12_iterations),
                &mut pki::os_rng(),
            )?;
            (bytes, keys.len())
        };
        let token = if reenroll {
            Some(self.new_token_inner(actor, email)?)
        } else {
            None
        };
        tracing::warn!(by = %actor.name, user = email, keys = pkcs12.1, "encryption keys recovered");
        Ok(Recovery {
            pkcs12: pkcs12.0,
            keys: pkcs12.1,
            token,
        })
    }

    /// Signs an administrator in (see the audit log for refusals).
    pub fn login(&self, name: &str, password: &Password) -> Result<Session> {
        let r = self.login_inner(name, password);
        self.audited(name, "login", name, r)
    }

    /// Adds an administrator account (administrator role).
    pub fn add_admin(
        &self,
        actor: &Admin,
        name: &str,
        role: Role,
        password: &Password,
    ) -> Result<AdminInfo> {
        let r = self.add_admin_inner(actor, name, role, password);
        self.audited(
            &actor.name,
            &format!("admin.add:{}", role.as_str()),
            name,
            r,
        )
    }

    /// Removes an administrator account (administrator role).
    pub fn remove_admin(&self, actor: &Admin, name: &str) -> Result<AdminInfo> {
        let r = self.remove_admin_inner(actor, name);
        self.audited(&actor.name, "admin.remove", name, r)
    }

    /// Adds a user and returns their first enrollment token (officer role).
    pub fn add_user(
        &self,
        actor: &Admin,
        email: &str,
        name: &str,
        capabilities: &[ContentAlgorithm],
    ) -> Result<(UserInfo, EnrollmentToken)> {
        let r = self.add_user_inner(actor, email, name, capabilities);
        self.audited(&actor.name, "user.add", email, r)
    }

    /// Disables a user (officer role).
    pub fn disable_user(&self, actor: &Admin, email: &str) -> Result<UserInfo> {
        let r = self.disable_user_inner(actor, email);
        self.audited(&actor.name, "user.disable", email, r)
    }

    /// A new enrollment token for a user (officer role).
    pub fn new_token(&self, actor: &Admin, email: &str) -> Result<EnrollmentToken> {
        let r = self.new_token_inner(actor, email);
        self.audited(&actor.name, "user.token", email, r)
    }

    /// Enrolls with a one-time token and a PKCS#10 request.
    pub fn enroll(&self, token: &str, csr: &[u8]) -> Result<Enrollment> {
        let r = self.enroll_inner(token, csr);
        let target = r
            .as_ref()
            .ok()
            .and_then(|e| certificate::parse_certificate(&e.encryption_cert).ok())
            .and_then(|c| CertificateInfo::from_certificate(&c).ok())
            .and_then(|i| i.emails.into_iter().next())
            .unwrap_or_else(|| "-".into());
        self.audited("-", "enroll", &target, r)
    }

    /// Revokes a user's certificates or one certificate (officer role).
    pub fn revoke(
        &self,
        actor: &Admin,
        target: &RevokeTarget,
        reason: RevocationReason,
    ) -> Result<Vec<String>> {
        let r = self.revoke_inner(actor, target, reason);
        let t = match target {
            RevokeTarget::User(e) => e.clone(),
            RevokeTarget::Serial(s) => format!("serial {s}"),
        };
        self.audited(&actor.name, &format!("revoke:{reason:?}"), &t, r)
    }

    /// Renews a user's certificates, optionally with a new encryption key (officer role).
    pub fn renew(&self, actor: &Admin, email: &str, new_key: bool) -> Result<Renewal> {
        let r = self.renew_inner(actor, email, new_key);
        let action = if new_key { "renew:new-key" } else { "renew" };
        self.audited(&actor.name, action, email, r)
    }

    /// Renews every active enrolled user (officer role).
    pub fn renew_all(&self, actor: &Admin) -> Result<(Vec<Renewal>, Vec<(String, Error)>)> {
        let r = self.renew_all_inner(actor);
        self.audited(&actor.name, "renew:all", "-", r)
    }

    // ---------------------------------------------------------------------------------
    // Administrators and sessions.

    /// Signs an administrator in. Five failures in a row lock the account for a while.
    fn login_inner(&self, name: &str, password: &Password) -> Result<Session> {
        let now = unix(self.now());
        let row: Option<(i64, String, String, u32, Option<i64>)> = {
            let st = self.lock();
            st.store
                .store()
                .connection()
                .query_row(
                    "SELECT id, role, password_hash, failed_logins, locked_until FROM admins
                     WHERE name = ?1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()?
        };
        let Some((id, role, hash, _failed, locked_until)) = row else {
            // Same cost as a real check, so timing does not tell which names exist.
            let _ = secret::hash_password(password.expose(), &self.config.admin_argon2);
            return Err(Error::BadCredentials);
        };
        if locked_until.is_some_and(|t| t > now) {
            return Err(Error::AccountLocked { name: name.into() });
        }
        // The Argon2 check runs without holding the state lock.
        let ok = secret::verify_password(password.expose(), &hash)?;
        let mut st = self.lock();
        let conn = st.store.connection_mut();
        if !ok {
            let failed: u32 = conn.query_row(
                "UPDATE admins SET failed_logins = failed_logins + 1 WHERE id = ?1
                 RETURNING failed_logins",
                [id],
                |r| r.get(0),
            )?;
            if failed >= self.config.max_failed_logins {
                conn.execute(
                    "UPDATE admins SET failed_logins = 0, locked_until = ?2 WHERE id = ?1",
                    params![id, now + secs(self.config.lockout)],
                )?;
                tracing::warn!(
                    admin = name,
                    "administrator locked out after failed sign-ins"
                );
                return Err(Error::AccountLocked { name: name.into() });
            }
            return Err(Error::BadCredentials);
        }
        let token = Token::generate()?;
        let expires_at = now + secs(self.config.session_ttl);
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE admins SET failed_logins = 0, locked_until = NULL WHERE id = ?1",
            [id],
        )?;
        tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
        tx.execute(
            "INSERT INTO sessions (token_hash, admin_id, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![&token.hash()[..], id, now, expires_at],
        )?;
        tx.commit()?;
        Ok(Session {
            token,
            admin: Admin {
                id,
                name: name.into(),
                role: Role::parse(&role)?,
            },
            expires_at,
        })
    }

    /// The administrator a session token belongs to.
    pub fn authenticate(&self, token: &str) -> Result<Admin> {
        let now = unix(self.now());
        let st = self.lock();
        let row: Option<(i64, String, String)> = st
            .store
            .store()
            .connection()
            .query_row(
                "SELECT a.id, a.name, a.role FROM sessions s JOIN admins a ON a.id = s.admin_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                params![&secret::hash_token(token)[..], now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (id, name, role) = row.ok_or(Error::NotSignedIn)?;
        Ok(Admin {
            id,
            name,
            role: Role::parse(&role)?,
        })
    }

    /// Ends a session.
    pub fn logout(&self, token: &str) -> Result<()> {
        let mut st = self.lock();
        let n = st.store.connection_mut().execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            [&secret::hash_token(token)[..]],
        )?;
        if n == 0 {
            return Err(Error::NotSignedIn);
        }
        Ok(())
    }

    /// Adds an administrator account (any role). Needs the `administrator` role.
    fn add_admin_inner(
        &self,
        actor: &Admin,
        name: &str,
        role: Role,
        password: &Password,
    ) -> Result<AdminInfo> {
        actor.require_administrator()?;
        check_admin_name(name)?;
        check_password(password.expose())?;
        self.gate(
            actor,
            "admin-change",
            &format!("add {name} as {}", role.as_str()),
        )?;
        // The Argon2 hash runs without holding the state lock.
        let hash = secret::hash_password(password.expose(), &self.config.admin_argon2)?;
        let now = unix(self.now());
        let mut st = self.lock();
        let tx = st
            .store
            .connection_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM admins WHERE name = ?1)",
            [name],
            |r| r.get(0),
        )?;
        if exists {
            return Err(Error::AdminExists { name: name.into() });
        }
        tx.execute(
            "INSERT INTO admins (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, role.as_str(), hash, now],
        )?;
        tx.commit()?;
        tracing::info!(by = %actor.name, admin = name, role = role.as_str(), "administrator added");
        Ok(AdminInfo {
            name: name.into(),
            role,
            created_at: now,
            locked_until: None,
        })
    }

    /// Removes an administrator account and ends its sessions. Needs the `administrator`
    /// role; the last administrator cannot be removed.
    fn remove_admin_inner(&self, actor: &Admin, name: &str) -> Result<AdminInfo> {
        actor.require_administrator()?;
        self.gate(actor, "admin-change", &format!("remove {name}"))?;
        let mut st = self.lock();
        let tx = st
            .store
            .connection_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(i64, String, i64, Option<i64>)> = tx
            .query_row(
                "SELECT id, role, created_at, locked_until FROM admins WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (id, role, created_at, locked_until) =
            row.ok_or_else(|| Error::UnknownAdmin { name: name.into() })?;
        let role = Role::parse(&role)?;
        if role == Role::Administrator {
            let others: i64 = tx.query_row(
                "SELECT count(*) FROM admins WHERE role = 'administrator' AND id != ?1",
                [id],
                |r| r.get(0),
            )?;
            if others == 0 {
                return Err(Error::LastAdministrator { name: name.into() });
            }
            let max_quorum: i64 =
                tx.query_row("SELECT coalesce(max(quorum), 1) FROM policies", [], |r| {
                    r.get(0)
                })?;
            if others < max_quorum {
                return Err(Error::invalid(
                    "administrator removal",
                    format!(
                        "a quorum policy needs {max_quorum} administrators; lower it first (kmsctl policy set)"
                    ),
                ));
            }
        }
        tx.execute("DELETE FROM sessions WHERE admin_id = ?1", [id])?;
        tx.execute("DELETE FROM admins WHERE id = ?1", [id])?;
        tx.commit()?;
        tracing::info!(by = %actor.name, admin = name, "administrator removed");
        Ok(AdminInfo {
            name: name.into(),
            role,
            created_at,
            locked_until,
        })
    }

    /// Every administrator account. Any role may read it.
    pub fn list_admins(&self, _actor: &Admin) -> Result<Vec<AdminInfo>> {
        let st = self.lock();
        let conn = st.store.store().connection();
        let mut stmt =
            conn.prepare("SELECT name, role, created_at, locked_until FROM admins ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            })?
            .collect::<Result<Vec<(String, String, i64, Option<i64>)>, _>>()?;
        rows.into_iter()
            .map(|(name, role, created_at, locked_until)| {
                Ok(AdminInfo {
                    name,
                    role: Role::parse(&role)?,
                    created_at,
                    locked_until,
                })
            })
            .collect()
    }

    // ---------------------------------------------------------------------------------
    // Users and tokens.

    /// Adds a user and returns their first enrollment token.
    fn add_user_inner(
        &self,
        actor: &Admin,
        email: &str,
        name: &str,
        capabilities: &[ContentAlgorithm],
    ) -> Result<(UserInfo, EnrollmentToken)> {
        actor.require_officer()?;
        let email = email.trim().to_ascii_lowercase();
        pki::profile::validate_email(&email)
            .map_err(|e| Error::invalid("e-mail address", e.to_string()))?;
        let name = name.trim();
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return Err(Error::invalid("name", "give 1 to 200 printable characters"));
        }
        let caps: Vec<ContentAlgorithm> = if capabilities.is_empty() {
            ContentAlgorithm::parse_list(DEFAULT_CAPABILITIES)?
        } else {
            capabilities.to_vec()
        };
        let caps_text = caps.iter().map(|c| c.name()).collect::<Vec<_>>().join(",");
        let now = unix(self.now());
        let token = Token::generate()?;
        let expires_at = now + secs(self.config.token_ttl);
        let mut st = self.lock();
        let tx = st
            .store
            .connection_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?1)",
            [&email],
            |r| r.get(0),
        )?;
        if exists {
            return Err(Error::UserExists { email });
        }
        tx.execute(
            "INSERT INTO users (email, name, capabilities, status, created_at)
             VALUES (?1, ?2, ?3, 'active', ?4)",
            params![email, name, caps_text, now],
        )?;
        let user_id = tx.last_insert_rowid();
        insert_token(&tx, user_id, &token, now, expires_at)?;
        tx.commit()?;
        tracing::info!(admin = %actor.name, user = %email, "user added");
        Ok((
            UserInfo {
                email,
                name: name.into(),
                capabilities: caps.iter().map(|c| c.name().to_string()).collect(),
                status: "active".into(),
                created_at: now,
            },
            EnrollmentToken { token, expires_at },
        ))
    }

    /// Every user, by address.
    pub fn list_users(&self, _actor: &Admin) -> Result<Vec<UserInfo>> {
        let st = self.lock();
        let conn = st.store.store().connection();
        let mut stmt = conn.prepare(
            "SELECT email, name, capabilities, status, created_at FROM users ORDER BY email",
        )?;
        let rows = stmt.query_map([], user_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One user with their certificates.
    pub fn user(&self, _actor: &Admin, email: &str) -> Result<UserDetail> {
        let st = self.lock();
        let conn = st.store.store().connection();
        let (id, user) = find_user(conn, email)?;
        let mut stmt = conn.prepare(
            "SELECT c.serial, c.kind, c.not_before, c.not_after, r.reason, c.superseded_at
             FROM certificates c LEFT JOIN revocations r ON r.serial = c.serial
             WHERE c.user_id = ?1 ORDER BY c.issued_at, c.rowid",
        )?;
        let certificates = stmt
            .query_map([id], |r| {
                Ok(CertSummary {
                    serial: r.get(0)?,
                    kind: r.get(1)?,
                    not_before: r.get(2)?,
                    not_after: r.get(3)?,
                    revoked: r.get(4)?,
                    superseded: r.get::<_, Option<i64>>(5)?.is_some(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let escrowed_keys = st
            .store
            .list()?
            .iter()
            .filter(|k| k.owner == user.email && k.usage == KeyUsage::Encryption)
            .count();
        Ok(UserDetail {
            user,
            certificates,
            escrowed_keys,
        })
    }

    /// Disables a user: outstanding tokens stop working; certificates stay as they are
    /// (revoke them separately).
    fn disable_user_inner(&self, actor: &Admin, email: &str) -> Result<UserInfo> {
        actor.require_officer()?;
        let now = unix(self.now());
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        let (id, mut user) = find_user(&tx, email)?;
        tx.execute("UPDATE users SET status = 'disabled' WHERE id = ?1", [id])?;
        tx.execute(
            "UPDATE tokens SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL",
            params![id, now],
        )?;
        tx.commit()?;
        user.status = "disabled".into();
        tracing::info!(admin = %actor.name, user = %user.email, "user disabled");
        Ok(user)
    }

    /// A new enrollment token for a user (earlier unused tokens stop working).
    fn new_token_inner(&self, actor: &Admin, email: &str) -> Result<EnrollmentToken> {
        actor.require_officer()?;
        let now = unix(self.now());
        let token = Token::generate()?;
        let expires_at = now + secs(self.config.token_ttl);
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        let (id, user) = find_user(&tx, email)?;
        if user.status != "active" {
            return Err(Error::UserDisabled { email: user.email });
        }
        tx.execute(
            "UPDATE tokens SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL",
            params![id, now],
        )?;
        insert_token(&tx, id, &token, now, expires_at)?;
        tx.commit()?;
        Ok(EnrollmentToken { token, expires_at })
    }

    // ---------------------------------------------------------------------------------
    // Enrollment and the directory.

    /// Enrolls the holder of `token` with their signing request `csr` (PEM or DER).
    fn enroll_inner(&self, token: &str, csr: &[u8]) -> Result<Enrollment> {
        let now_t = self.now();
        let now = unix(now_t);
        let token_hash = secret::hash_token(token);
        // Check the token and the request before spending a key.
        let (user_id, user, pending) = {
            let st = self.lock();
            let conn = st.store.store().connection();
            let (user_id, expires_at, used_at, pending) =
                token_row(conn, &token_hash)?.ok_or(Error::TokenRefused {
                    why: "unknown token",
                })?;
            if used_at.is_some() {
                return Err(Error::TokenRefused {
                    why: "this token was used already (or replaced by a newer one)",
                });
            }
            if expires_at <= now {
                return Err(Error::TokenRefused {
                    why: "this token has expired",
                });
            }
            let user = user_by_id(conn, user_id)?;
            if user.status != "active" {
                return Err(Error::UserDisabled { email: user.email });
            }
            (user_id, user, pending)
        };
        let policy = pki::csr::CsrPolicy {
            email: Some(user.email.clone()),
            ..Default::default()
        };
        let request =
            pki::csr::verify(csr, &policy).map_err(|e| Error::RequestRefused(e.to_string()))?;
        // A renewal with a new key made and certified the encryption key already.
        let enc_key = match pending {
            Some(_) => None,
            None => Some(self.pool.take()?),
        };

        let mut st = self.lock();
        // Re-check under the lock: a concurrent enrollment may have used the token.
        match token_row(st.store.store().connection(), &token_hash)? {
            Some((_, _, None, _)) => {}
            _ => {
                if let Some(k) = enc_key {
                    self.pool.add(vec![k]);
                }
                return Err(Error::TokenRefused {
                    why: "this token was used already (or replaced by a newer one)",
                });
            }
        }
        let subject = self.smime_subject(&st, &user)?;
        let period = self.period(now_t);
        let mut rng = pki::os_rng();
        let signing = st.issuer.issue(
            &Profile::SmimeSigning(subject.clone()),
            &request.public_key,
            period,
            &mut rng,
        )?;
        let signing_der = certificate::to_der(&signing)?;
        let (key_der, enc_der) = match (enc_key, pending) {
            (Some(enc_key), _) => {
                let Escrowed {
                    certificate: encryption,
                    certificate_der: enc_der,
                    key_der,
                    key_id,
                } = st.certify_and_escrow(subject, &enc_key, period, now)?;
                let tx = st
                    .store
                    .connection_mut()
                    .transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute(
                    "UPDATE tokens SET used_at = ?2 WHERE token_hash = ?1",
                    params![&token_hash[..], now],
                )?;
                // Earlier current certificates are replaced by these.
                tx.execute(
                    "UPDATE certificates SET superseded_at = ?2
                     WHERE user_id = ?1 AND superseded_at IS NULL",
                    params![user_id, now],
                )?;
                insert_cert(&tx, user_id, "signing", &signing, None, now)?;
                insert_cert(&tx, user_id, "encryption", &encryption, Some(key_id.0), now)?;
                tx.commit()?;
                (key_der, enc_der)
            }
            (None, Some(key_id)) => {
                let escrowed = st.store.key(escrow::KeyId(key_id))?.ok_or_else(|| {
                    Error::Corrupt(format!("pending escrowed key {key_id} is missing"))
                })?;
                let key_der = der::SecretDocument::try_from(escrowed.private_key_der.expose())
                    .map_err(|e| Error::Corrupt(format!("escrowed key {key_id}: {e}")))?;
                let enc_der: Vec<u8> = st.store.store().connection().query_row(
                    "SELECT der FROM certificates WHERE escrowed_key_id = ?1
                     ORDER BY issued_at DESC, rowid DESC LIMIT 1",
                    [key_id],
                    |r| r.get(0),
                )?;
                let tx = st
                    .store
                    .connection_mut()
                    .transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute(
                    "UPDATE tokens SET used_at = ?2 WHERE token_hash = ?1",
                    params![&token_hash[..], now],
                )?;
                tx.execute(
                    "UPDATE certificates SET superseded_at = ?2
                     WHERE user_id = ?1 AND kind = 'signing' AND superseded_at IS NULL",
                    params![user_id, now],
                )?;
                insert_cert(&tx, user_id, "signing", &signing, None, now)?;
                tx.commit()?;
                (key_der, enc_der)
            }
            (None, None) => unreachable!("a key is taken when no key is pending"),
        };
        let ca_cert = certificate::to_der(st.issuer.certificate())?;
        drop(st);

        let encrypted_key = encrypt_key(
            &key_der,
            token.trim(),
            self.config.enrollment_pbkdf2_iterations,
        )?;
        tracing::info!(user = %user.email, "user enrolled");
        Ok(Enrollment {
            signing_cert: signing_der,
            encryption_cert: enc_der,
            ca_cert,
            encrypted_key,
        })
    }

    /// The current encryption certificate and capabilities of a user.
    pub fn directory(&self, email: &str) -> Result<DirectoryEntry> {
        let now = unix(self.now());
        let st = self.lock();
        let conn = st.store.store().connection();
        let (id, user) = find_user(conn, email)?;
        if user.status != "active" {
            return Err(Error::UserDisabled { email: user.email });
        }
        let der = current_cert(conn, id, "encryption", now)?
            .ok_or_else(|| Error::NotEnrolled {
                email: user.email.clone(),
                kind: "encryption",
            })?
            .1;
        Ok(DirectoryEntry {
            email: user.email,
            capabilities: user.capabilities,
            certificate: der,
        })
    }

    // ---------------------------------------------------------------------------------
    // Revocation and CRLs.

    /// Revokes and re-signs the CRLs at once. Returns the serials revoked.
    fn revoke_inner(
        &self,
        actor: &Admin,
        target: &RevokeTarget,
        reason: RevocationReason,
    ) -> Result<Vec<String>> {
        actor.require_officer()?;
        let now = unix(self.now());
        let mut st = self.lock();
        let next_number = next_crl_number(st.store.store().connection())?;
        let tx = st
            .store
            .connection_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let serials: Vec<String> = match target {
            RevokeTarget::User(email) => {
                let (id, user) = find_user(&tx, email)?;
                let mut stmt = tx.prepare(
                    "SELECT c.serial FROM certificates c
                     WHERE c.user_id = ?1 AND c.not_after > ?2
                       AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.serial = c.serial)
                     ORDER BY c.issued_at",
                )?;
                let s = stmt
                    .query_map(params![id, now], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                if s.is_empty() {
                    return Err(Error::NothingToRevoke(format!(
                        "{} has no unrevoked certificate",
                        user.email
                    )));
                }
                s
            }
            RevokeTarget::Serial(serial) => {
                let serial = normalise_serial(serial)?;
                let known: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = ?1)",
                    [&serial],
                    |r| r.get(0),
                )?;
                if !known {
                    return Err(Error::UnknownCertificate { serial });
                }
                let revoked: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM revocations WHERE serial = ?1)",
                    [&serial],
                    |r| r.get(0),
                )?;
                if revoked {
                    return Err(Error::NothingToRevoke(format!(
                        "certificate {serial} is revoked already"
                    )));
                }
                vec![serial]
            }
        };
        for s in &serials {
            tx.execute(
                "INSERT INTO revocations (serial, reason, revoked_at, crl_number) VALUES (?1, ?2, ?3, ?4)",
                params![s, reason.name(), now, next_number],
            )?;
        }
        tx.commit()?;
        self.rebuild_crl(&mut st)?;
        tracing::info!(admin = %actor.name, count = serials.len(), reason = reason.name(), "certificates revoked");
        Ok(serials)
    }

    /// Re-signs the CRLs when their nextUpdate is near. Returns true when it did.
    pub fn refresh_crl_if_due(&self) -> Result<bool> {
        let now = unix(self.now());
        let mut st = self.lock();
        let next_update: Option<i64> = st
            .store
            .store()
            .connection()
            .query_row("SELECT next_update FROM crl_state WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        if next_update.is_some_and(|n| n - secs(self.config.crl_refresh_margin) > now) {
            return Ok(false);
        }
        self.rebuild_crl(&mut st)?;
        Ok(true)
    }

    fn rebuild_crl(&self, st: &mut State) -> Result<()> {
        let now_t = self.now();
        let now = unix(now_t);
        let public_url = setting(st.store.store().connection(), "public_url")?;
        let conn = st.store.store().connection();
        let previous: Option<i64> = conn
            .query_row("SELECT number FROM crl_state WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        let number = next_crl_number(conn)?;
        let delta_number = number + 1;
        // The delta lists what changed since the previous full CRL (nothing, the first time).
        let base = previous.unwrap_or(number);
        let this_update = now_t;
        let next_update = now_t + self.config.crl_validity;
        let mut full = CrlBuilder::new(number as u64, this_update, next_update)?
            .freshest_crl(format!("{public_url}/crl/delta"));
        let mut delta = CrlBuilder::new(delta_number as u64, this_update, next_update)?
            .delta_of(base as u64)?;
        let mut stmt = conn.prepare(
            "SELECT serial, reason, revoked_at, crl_number FROM revocations ORDER BY revoked_at",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        drop(stmt);
        for (serial, reason, at, listed_in) in rows {
            let entry = CrlEntry {
                serial: hex::decode(&serial)
                    .map_err(|_| Error::Corrupt(format!("serial {serial}")))?,
                revoked_at: from_unix(at),
                reason: RevocationReason::from_str(&reason)
                    .map_err(|_| Error::Corrupt(format!("revocation reason {reason}")))?,
            };
            full.add(&entry)?;
            if listed_in > base {
                delta.add(&entry)?;
            }
        }
        let crl_der = full.sign(&st.issuer)?;
        let delta_der = delta.sign(&st.issuer)?;
        st.store.connection_mut().execute(
            "INSERT INTO crl_state (id, number, delta_number, this_update, next_update, crl, delta_crl)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET number = ?1, delta_number = ?2, this_update = ?3,
                 next_update = ?4, crl = ?5, delta_crl = ?6",
            params![number, delta_number, now, unix(next_update), crl_der, delta_der],
        )?;
        let ca_der = certificate::to_der(st.issuer.certificate())?;
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = Published {
            ca_der,
            crl_der,
            delta_crl_der: delta_der,
        };
        tracing::info!(number, "CRL signed");
        Ok(())
    }

    // ---------------------------------------------------------------------------------
    // The authority's own TLS certificate.

    /// Issues a TLS server certificate for the authority itself (for `key`, naming
    /// `dns_names` and `ip_addresses`), records it so it can be revoked like any other, and
    /// returns it (DER). Called by the operator's `kmsd init`, not through the API.
    pub fn issue_tls_certificate(
        &self,
        key: &PublicKey,
        dns_names: &[String],
        ip_addresses: &[std::net::IpAddr],
    ) -> Result<Vec<u8>> {
        let now_t = self.now();
        let now = unix(now_t);
        let mut st = self.lock();
        let public_url = setting(st.store.store().connection(), "public_url")?;
        let cn = dns_names
            .first()
            .cloned()
            .or_else(|| ip_addresses.first().map(|ip| ip.to_string()))
            .ok_or_else(|| {
                Error::invalid("TLS names", "give at least one DNS name or IP address")
            })?;
        let subject = Name::from_str(&format!("CN={}", escape_dn(&cn)))
            .map_err(|e| Error::invalid("TLS name", e.to_string()))?;
        let profile = Profile::TlsServer {
            subject,
            dns_names: dns_names.to_vec(),
            ip_addresses: ip_addresses
                .iter()
                .map(|ip| match ip {
                    std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                    std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
                })
                .collect(),
            revocation: RevocationUrls {
                crl: Some(format!("{public_url}/crl")),
                delta_crl: Some(format!("{public_url}/crl/delta")),
            },
        };
        let cert = st
            .issuer
            .issue(&profile, key, self.period(now_t), &mut pki::os_rng())?;
        let info = CertificateInfo::from_certificate(&cert)?;
        let der = certificate::to_der(&cert)?;
        st.store.connection_mut().execute(
            "INSERT INTO certificates (serial, user_id, kind, der, not_before, not_after, escrowed_key_id, issued_at)
             VALUES (?1, NULL, 'tls', ?2, ?3, ?4, NULL, ?5)",
            params![normalise_serial(&info.serial_hex)?, der, unix(info.not_before), unix(info.not_after), now],
        )?;
        Ok(der)
    }

    // ---------------------------------------------------------------------------------
    // Renewal.

    /// Renews a user's certificates. Without `new_key`: new signing and encryption
    /// certificates for the current keys. With `new_key`: a new encryption key, escrowed and
    /// certified now (old keys stay escrowed), and a new enrollment token with which the
    /// user collects it and has a new signing key certified.
    fn renew_inner(&self, actor: &Admin, email: &str, new_key: bool) -> Result<Renewal> {
        actor.require_officer()?;
        if new_key {
            return self.roll_over(actor, email);
        }
        let now_t = self.now();
        let now = unix(now_t);
        let mut st = self.lock();
        let conn = st.store.store().connection();
        let (id, user) = find_user(conn, email)?;
        if user.status != "active" {
            return Err(Error::UserDisabled { email: user.email });
        }
        let mut old = Vec::new();
        for kind in ["signing", "encryption"] {
            let (serial, der, key_id) =
                current_cert_full(conn, id, kind, now)?.ok_or_else(|| Error::NotEnrolled {
                    email: user.email.clone(),
                    kind: if kind == "signing" {
                        "signing"
                    } else {
                        "encryption"
                    },
                })?;
            old.push((kind, serial, der, key_id));
        }
        let subject = self.smime_subject(&st, &user)?;
        let period = self.period(now_t);
        let mut issued = Vec::new();
        for (kind, serial, der, key_id) in &old {
            let cert = certificate::parse_certificate(der)?;
            let key: PublicKey = certificate::public_key(&cert)?;
            let profile = if *kind == "signing" {
                Profile::SmimeSigning(subject.clone())
            } else {
                Profile::SmimeEncryption(subject.clone())
            };
            let new = st
                .issuer
                .issue(&profile, &key, period, &mut pki::os_rng())?;
            issued.push((*kind, serial.clone(), new, *key_id));
        }
        let tx = st
            .store
            .connection_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut certificates = Vec::new();
        for (kind, old_serial, cert, key_id) in &issued {
            tx.execute(
                "UPDATE certificates SET superseded_at = ?2 WHERE serial = ?1",
                params![old_serial, now],
            )?;
            certificates.push(insert_cert(&tx, id, kind, cert, *key_id, now)?);
        }
        tx.commit()?;
        tracing::info!(admin = %actor.name, user = %user.email, "certificates renewed");
        Ok(Renewal {
            email: user.email,
            certificates,
            enrollment_token: None,
        })
    }

    /// Renewal with a new key: makes, certifies and escrows a new encryption key now (the
    /// directory serves its certificate at once; the old keys stay escrowed), and returns a
    /// new enrollment token with which the user collects the key and a new signing
    /// certificate for a new signing key.
    fn roll_over(&self, actor: &Admin, email: &str) -> Result<Renewal> {
        let now_t = self.now();
        let now = unix(now_t);
        let (user_id, user) = {
            let st = self.lock();
            find_user(st.store.store().connection(), email)?
        };
        if user.status != "active" {
            return Err(Error::UserDisabled { email: user.email });
        }
        let enc_key = self.pool.take()?;
        let token = Token::generate()?;
        let expires_at = now + secs(self.config.token_ttl);
        let mut st = self.lock();
        let subject = self.smime_subject(&st, &user)?;
        let Escrowed {
            certificate: encryption,
            key_id,
            ..
        } = st.certify_and_escrow(subject, &enc_key, self.period(now_t), now)?;
        let tx = st
            .store
            .connection_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE tokens SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL",
            params![user_id, now],
        )?;
        tx.execute(
            "UPDATE certificates SET superseded_at = ?2
             WHERE user_id = ?1 AND kind = 'encryption' AND superseded_at IS NULL",
            params![user_id, now],
        )?;
        let summary = insert_cert(&tx, user_id, "encryption", &encryption, Some(key_id.0), now)?;
        tx.execute(
            "INSERT INTO tokens (token_hash, user_id, created_at, expires_at, pending_key_id)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![&token.hash()[..], user_id, now, expires_at, key_id.0],
        )?;
        tx.commit()?;
        tracing::info!(admin = %actor.name, user = %user.email, "encryption key rolled over");
        Ok(Renewal {
            email: user.email,
            certificates: vec![summary],
            enrollment_token: Some(EnrollmentToken { token, expires_at }),
        })
    }

    /// Renews every active, enrolled user (without new keys). Returns the renewals and the
    /// users that could not be renewed, with why.
    fn renew_all_inner(&self, actor: &Admin) -> Result<(Vec<Renewal>, Vec<(String, Error)>)> {
        actor.require_officer()?;
        let users = self.list_users(actor)?;
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for u in users.into_iter().filter(|u| u.status == "active") {
            match self.renew(actor, &u.email, false) {
                Ok(r) => done.push(r),
                Err(e) => failed.push((u.email, e)),
            }
        }
        Ok((done, failed))
    }

    // ---------------------------------------------------------------------------------
    // Helpers.

    fn smime_subject(&self, st: &State, user: &UserInfo) -> Result<SmimeSubject> {
        let public_url = setting(st.store.store().connection(), "public_url")?;
        let subject = Name::from_str(&format!("CN={}", escape_dn(&user.name)))
            .map_err(|e| Error::invalid("name", e.to_string()))?;
        let capabilities = user
            .capabilities
            .iter()
            .map(|c| ContentAlgorithm::from_str(c))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(SmimeSubject {
            subject,
            email: user.email.clone(),
            capabilities,
            revocation: RevocationUrls {
                crl: Some(format!("{public_url}/crl")),
                delta_crl: Some(format!("{public_url}/crl/delta")),
            },
        })
    }

    fn period(&self, now: SystemTime) -> Period {
        Period {
            not_before: now - Duration::from_secs(300),
            not_after: now + self.config.cert_validity,
        }
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

fn read_published(conn: &Connection) -> Result<Published> {
    let ca_der: Vec<u8> = conn
        .query_row("SELECT certificate FROM ca WHERE id = 1", [], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::Corrupt("the store has no CA (was it made by kmsd init?)".into()))?;
    let (crl_der, delta_crl_der) = conn
        .query_row(
            "SELECT crl, delta_crl FROM crl_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or_default();
    Ok(Published {
        ca_der,
        crl_der,
        delta_crl_der,
    })
}

fn next_crl_number(conn: &Connection) -> Result<i64> {
    let last: Option<i64> = conn
        .query_row("SELECT delta_number FROM crl_state WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(last.map_or(1, |n| n + 1))
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserInfo> {
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
    })
}

fn find_user(conn: &Connection, email: &str) -> Result<(i64, UserInfo)> {
    let email = email.trim();
    conn.query_row(
        "SELECT email, name, capabilities, status, created_at, id FROM users WHERE email = ?1",
        [email],
        |r| Ok((r.get(5)?, user_row(r)?)),
    )
    .optional()?
    .ok_or_else(|| Error::UnknownUser {
        email: email.to_string(),
    })
}

fn user_by_id(conn: &Connection, id: i64) -> Result<UserInfo> {
    conn.query_row(
        "SELECT email, name, capabilities, status, created_at FROM users WHERE id = ?1",
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
    Ok(current_cert_full(conn, user_id, kind, now)?.map(|(s, d, _)| (s, d)))
}

fn current_cert_full(
    conn: &Connection,
    user_id: i64,
    kind: &str,
    now: i64,
) -> Result<Option<(String, Vec<u8>, Option<i64>)>> {
    Ok(conn
        .query_row(
            "SELECT c.serial, c.der, c.escrowed_key_id FROM certificates c
             WHERE c.user_id = ?1 AND c.kind = ?2 AND c.superseded_at IS NULL AND c.not_after > ?3
               AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.serial = c.serial)
             ORDER BY c.issued_at DESC, c.rowid DESC LIMIT 1",
            params![user_id, kind, now],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

/// Lower-case hex without leading zero bytes or a `0x` prefix; colons allowed (as OpenSSL
/// prints them).
fn normalise_serial(s: &str) -> Result<String> {
    let mut t: String = s
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if t.is_empty() || t.len() > 42 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid("serial", "give the serial number in hex"));
    }
    if t.len() % 2 == 1 {
        t.insert(0, '0');
    }
    while t.len() > 2 && t.starts_with("00") {
        t.drain(..2);
    }
    Ok(t)
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
    if p.chars().count() < 8 {
        return Err(Error::invalid(
            "administrator password",
            "use at least 8 characters",
        ));
    }
    Ok(())
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
        assert_eq!(normalise_serial("0x1").unwrap(), "01");
        assert!(normalise_serial("xyz").is_err());
        assert!(normalise_serial("").is_err());
    }

    #[test]
    fn dn_escaping() {
        assert_eq!(escape_dn("Doe, Jane"), "Doe\\, Jane");
        assert!(Name::from_str(&format!("CN={}", escape_dn("a+b=c, \"d\""))).is_ok());
    }
}
