//! The crate's one error type, with a stable operator-visible code (`AUTH-0xx`) per variant.
//!
//! No variant carries secret material (tokens, passwords, key bytes): only names, e-mail
//! addresses, serial numbers and fixed descriptions.

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the authority. Match on [`Error::code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The administrator name or password is wrong (which one is not said).
    #[error("wrong administrator name or password")]
    BadCredentials,
    /// Too many failed sign-ins: the account is locked for a while.
    #[error("administrator {name} is locked out after too many failed sign-ins; try again later")]
    AccountLocked {
        /// The administrator.
        name: String,
    },
    /// The session token is unknown, signed out or expired.
    #[error("not signed in, or the session expired: sign in again")]
    NotSignedIn,
    /// The administrator's role does not allow this operation.
    #[error("this needs the {needed} role; {name} is {role}")]
    Forbidden {
        /// Who asked.
        name: String,
        /// Their role.
        role: String,
        /// The role needed.
        needed: &'static str,
    },
    /// No user with this e-mail address.
    #[error("no user {email}")]
    UnknownUser {
        /// The address asked for.
        email: String,
    },
    /// A user with this e-mail address exists already.
    #[error("user {email} exists already")]
    UserExists {
        /// The address.
        email: String,
    },
    /// The user is disabled.
    #[error("user {email} is disabled")]
    UserDisabled {
        /// The address.
        email: String,
    },
    /// The enrollment token is unknown, used or expired.
    #[error("enrollment token refused: {why}")]
    TokenRefused {
        /// Unknown, already used, or expired.
        why: &'static str,
    },
    /// An argument was refused.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What was wrong.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// The certificate request was refused (bad signature, wrong address, weak key, ...).
    #[error("certificate request refused: {0}")]
    RequestRefused(String),
    /// No certificate with this serial number.
    #[error("no certificate with serial {serial}")]
    UnknownCertificate {
        /// The serial asked for (hex).
        serial: String,
    },
    /// The user has no current certificate of this kind (not enrolled, or all revoked).
    #[error("{email} has no current {kind} certificate (not enrolled yet, or revoked)")]
    NotEnrolled {
        /// The address.
        email: String,
        /// `signing` or `encryption`.
        kind: &'static str,
    },
    /// Nothing to revoke: the certificate is revoked already, or the user has none active.
    #[error("nothing to revoke: {0}")]
    NothingToRevoke(String),
    /// The password or key file does not unlock the store.
    #[error("the password or key file does not unlock this authority")]
    BadSecret,
    /// `init` found an existing store or files.
    #[error("cannot initialise: {0}")]
    AlreadyInitialised(String),
    /// The escrow store failed (its own code is in the message).
    #[error("escrow store: [{code}] {0}", code = .0.code())]
    Escrow(escrow::Error),
    /// A PKI operation failed (a bug or corrupted data, not bad input).
    #[error("PKI operation failed: {0}")]
    Pki(pki::Error),
    /// The certificate profile (S/MIME Baseline Requirements) refuses the certificate: the
    /// pre-issuance lint found a broken rule, or the user's record lacks what the profile
    /// needs (a sponsored profile's given name and surname). Nothing was signed.
    #[error("the certificate profile refuses this (PKI-120 {rule}): {detail}")]
    ProfileRefused {
        /// The rule's name (`sbr.subject.person_name`, `sbr.key_usage`, ...).
        rule: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The database reported an error. One that is a storage fault (full, read-only, busy,
    /// damaged, I/O, unreachable) carries that fault's code (`AUTH-060`..`AUTH-065`) and
    /// operator message, as [`Error::Storage`] does.
    #[error("{}", crate::health::database_message(.0))]
    Database(#[from] db::DbError),
    /// The storage under the store failed (full disk, read-only, locked by another program,
    /// damaged, I/O error, database unreachable); nothing was changed.
    /// `AUTH-060`..`AUTH-065`.
    #[error("{0}")]
    Storage(escrow::StorageFault),
    /// The store's own data is inconsistent.
    #[error("inconsistent authority data: {0}")]
    Corrupt(String),
    /// An administrator with this name exists already.
    #[error("administrator {name} exists already")]
    AdminExists {
        /// The name.
        name: String,
    },
    /// No administrator with this name.
    #[error("no administrator {name}")]
    UnknownAdmin {
        /// The name asked for.
        name: String,
    },
    /// A quorum operation is waiting for more approvals (not an error to the caller: the
    /// request was opened or counted).
    #[error("{operation} {target} needs {needed} approvals; request {request_id} has {have} ({approved_by}): waiting for {missing} more (kmsctl approve {request_id})", have = .approved_by.len(), approved_by = .approved_by.join(", "), missing = *.needed as usize - .approved_by.len().min(*.needed as usize))]
    ApprovalPending {
        /// The request.
        request_id: i64,
        /// The operation.
        operation: String,
        /// Its target.
        target: String,
        /// Administrators whose approval counts.
        approved_by: Vec<String>,
        /// Approvals needed.
        needed: i64,
    },
    /// A key recovery waits for key recovery agents' shares (not an error to the caller: the
    /// agent request was opened, or has fewer releases than its threshold).
    #[error("the keys of {target} are split among key recovery agents: agent request {request_id} has shares from {have} of {needed} agents ({released}); each agent runs kmsctl approve {request_id} --agent-key FILE, then run this command again", have = .released_by.len(), released = .released_by.join(", "))]
    AgentSharesPending {
        /// The agent request.
        request_id: i64,
        /// Whose keys.
        target: String,
        /// Agents who released their shares.
        released_by: Vec<String>,
        /// Agents needed.
        needed: i64,
    },
    /// No such key recovery agent (or no active agent with that public key).
    #[error("unknown key recovery agent: {what}")]
    UnknownAgent {
        /// Which.
        what: String,
    },
    /// An agent operation was refused (duplicate agent, threshold above the agents, a share
    /// that does not open for the request, a void or expired agent request, ...).
    #[error("agent operation refused: {0}")]
    AgentRefused(String),
    /// Removing this agent would leave some split keys with fewer share holders than their
    /// threshold (they could never be rebuilt): re-make their shares first.
    #[error(
        "removing agent {agent} would leave {keys} escrowed key(s) with fewer share holders than their threshold, so they could never be recovered: add the replacement agent, run kmsctl agent reshare (the current agents answer it), then remove {agent}"
    )]
    AgentKeysAtRisk {
        /// The agent.
        agent: String,
        /// How many keys would be lost.
        keys: i64,
    },
    /// The agent set or threshold changed after a re-share request was opened: its shares
    /// would be made for a set nobody asked for, so it is void.
    #[error(
        "agent request {request_id} is void: the agents or their threshold changed since it was opened; run kmsctl agent reshare again"
    )]
    ReshareStale {
        /// The agent request.
        request_id: i64,
    },
    /// An approval or cancellation was refused (own request twice, expired, closed, ...).
    #[error("approval refused: {0}")]
    ApprovalRefused(String),
    /// No approval request with this id.
    #[error("no approval request {id}")]
    UnknownRequest {
        /// The id asked for.
        id: i64,
    },
    /// The change would leave the authority without an administrator.
    #[error("cannot remove {name}: the authority must keep at least one administrator")]
    LastAdministrator {
        /// The administrator who would have been removed.
        name: String,
    },
    /// A quorum below its floor: a governing quorum below the highest operational one, or
    /// `reenroll` below `recover-key`.
    #[error(
        "{operation} cannot be set to {quorum}: it must stay at least {floor} (governing quorums are never below the highest operational quorum, and reenroll never below recover-key); lower the operational quorums first"
    )]
    QuorumBelowFloor {
        /// The operation.
        operation: &'static str,
        /// The quorum asked for.
        quorum: i64,
        /// The lowest allowed.
        floor: i64,
    },
    /// The change would leave fewer administrators able to approve than a quorum needs.
    #[error(
        "a quorum needs {needed} administrators able to approve, and this leaves {available}: add administrators or lower the quorum first (kmsctl policy set)"
    )]
    TooFewApprovers {
        /// The highest quorum involved.
        needed: i64,
        /// Administrators able to approve.
        available: i64,
    },
    /// An administrator added under a quorum signs in with an initial password that another
    /// administrator chose: nothing is allowed until they change it.
    #[error("{name} must change the initial password before anything else (kmsctl admin passwd)")]
    PasswordChangeRequired {
        /// The administrator.
        name: String,
    },
    /// A password too short or too common.
    #[error("{what} refused: {why}")]
    WeakPassword {
        /// Which password.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// Too many failed sign-ins from this client address: refused before any account is
    /// looked up.
    #[error("too many failed sign-ins from this address; try again in {retry_after} seconds")]
    SignInThrottled {
        /// Seconds until the address may try again.
        retry_after: u64,
    },
    /// The audit anchor kept beside the store names committed work the database lacks: the
    /// write-ahead log was lost or truncated, or the store was replaced by an older copy.
    #[error("{0}")]
    AnchorRollback(String),
    /// A bulk call names more entries than one call takes.
    #[error("{given} entries in one call; at most {max} are taken: split the list")]
    TooManyEntries {
        /// Entries given.
        given: usize,
        /// The most one call takes.
        max: usize,
    },
    /// A CA key under [`crate::MIN_CA_KEY_BITS`] bits was offered or asked for.
    #[error(
        "a {bits}-bit CA key is refused: a CA key needs RSA-3072 at least (RSA-4096 by \
         default; --ca-key-bits 3072 for tests and small sites)"
    )]
    CaKeyTooSmall {
        /// The size asked for.
        bits: usize,
    },
    /// The audit anchor file is malformed, of another store, or fails its MAC.
    #[error("{0}")]
    AnchorInvalid(String),
    /// The CA key cannot sign now: its token is gone, logged out or failing (the token's
    /// `HSM-0xx` code is in the message). Nothing was issued or signed; HTTP 503.
    #[error("the CA key cannot sign now: {0}")]
    SignerUnavailable(String),
    /// The CA key configured (`[ca_key]` in kmsd.toml, or none) is not the one this store's
    /// CA has: a token CA started without its token, a software CA with one, another key.
    #[error("the CA key does not match this authority: {0}")]
    CaKeyMismatch(String),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadCredentials => "AUTH-001",
            Error::AccountLocked { .. } => "AUTH-002",
            Error::NotSignedIn => "AUTH-003",
            Error::Forbidden { .. } => "AUTH-004",
            Error::UnknownUser { .. } => "AUTH-005",
            Error::UserExists { .. } => "AUTH-006",
            Error::UserDisabled { .. } => "AUTH-007",
            Error::TokenRefused { .. } => "AUTH-008",
            Error::Invalid { .. } => "AUTH-009",
            Error::RequestRefused(_) => "AUTH-010",
            Error::UnknownCertificate { .. } => "AUTH-011",
            Error::NotEnrolled { .. } => "AUTH-012",
            Error::NothingToRevoke(_) => "AUTH-013",
            Error::BadSecret => "AUTH-014",
            Error::AlreadyInitialised(_) => "AUTH-015",
            Error::Escrow(_) => "AUTH-016",
            Error::Pki(_) => "AUTH-017",
            Error::ProfileRefused { .. } => "AUTH-080",
            Error::CaKeyTooSmall { .. } => "AUTH-081",
            Error::Database(e) => match escrow::classify_db_error(e) {
                Some(fault) => crate::health::storage_code(fault),
                None => "AUTH-018",
            },
            Error::Storage(fault) => crate::health::storage_code(*fault),
            Error::Corrupt(_) => "AUTH-019",
            Error::AdminExists { .. } => "AUTH-020",
            Error::UnknownAdmin { .. } => "AUTH-021",
            Error::LastAdministrator { .. } => "AUTH-022",
            Error::ApprovalPending { .. } => "AUTH-023",
            Error::ApprovalRefused(_) => "AUTH-024",
            Error::UnknownRequest { .. } => "AUTH-025",
            Error::QuorumBelowFloor { .. } => "AUTH-026",
            Error::TooFewApprovers { .. } => "AUTH-027",
            Error::PasswordChangeRequired { .. } => "AUTH-028",
            Error::WeakPassword { .. } => "AUTH-029",
            Error::SignInThrottled { .. } => "AUTH-050",
            Error::AnchorRollback(_) => "AUTH-070",
            Error::AnchorInvalid(_) => "AUTH-071",
            Error::TooManyEntries { .. } => "AUTH-100",
            Error::AgentSharesPending { .. } => "AUTH-130",
            Error::UnknownAgent { .. } => "AUTH-131",
            Error::AgentRefused(_) => "AUTH-132",
            Error::AgentKeysAtRisk { .. } => "AUTH-133",
            Error::ReshareStale { .. } => "AUTH-134",
            Error::SignerUnavailable(_) => "AUTH-150",
            Error::CaKeyMismatch(_) => "AUTH-151",
        }
    }

    /// The storage fault behind this error, if it is one: a full disk, a read-only file
    /// system, a database locked by another program, a damaged store (also an undecodable
    /// row), an I/O error.
    pub fn storage_fault(&self) -> Option<escrow::StorageFault> {
        match self {
            Error::Storage(fault) => Some(*fault),
            Error::Database(e) => escrow::classify_db_error(e),
            Error::Escrow(e) => e.storage_fault(),
            _ => None,
        }
    }

    pub(crate) fn invalid(what: &'static str, why: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            why: why.into(),
        }
    }
}

impl From<pki::Error> for Error {
    fn from(e: pki::Error) -> Self {
        match e {
            pki::Error::Lint { rule, detail } => Error::ProfileRefused { rule, detail },
            pki::Error::SignerUnavailable(why) => Error::SignerUnavailable(why),
            other => Error::Pki(other),
        }
    }
}

impl From<escrow::Error> for Error {
    fn from(e: escrow::Error) -> Self {
        match e {
            escrow::Error::BadSecret => Error::BadSecret,
            escrow::Error::Storage(fault) => Error::Storage(fault),
            escrow::Error::NotEmpty { .. } | escrow::Error::FileExists { .. } => {
                Error::AlreadyInitialised(e.to_string())
            }
            other => Error::Escrow(other),
        }
    }
}
