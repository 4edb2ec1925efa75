//! The one error type of the `pki` crate: typed, with a stable code per variant, and never
//! carrying secret material (no key bytes, no passwords, no decrypted content).

use const_oid::ObjectIdentifier;

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, Error>;

/// Everything that can go wrong in the PKI core. Each variant has a stable code
/// (`PKI-0xx`, see [`Error::code`]) that operators can look up.
///
/// Resource limits on hostile input: `PKI-090` too many signers, `PKI-091` too many
/// certificates (both per SignedData), `PKI-092` too many ASN.1 elements for the input's size.
/// Certificate profiles: `PKI-120` a rule of the S/MIME Baseline Requirements profile is
/// broken (the pre-issuance lint, `crate::lint`; the message names the rule).
/// Signing keys: `PKI-140` the CA key was asked for as key material (to escrow it) but it is
/// held by a token ([`crate::SigningKey`]): it signs, and cannot be read out; `PKI-141` the
/// signing key is unavailable (its token is missing or failing).
/// Cryptographic quorum (`crate::quorum`): `PKI-155` a parameter refused, `PKI-156` a wrapped
/// key or sealed share did not authenticate, `PKI-157` an agent key file is not one or its
/// password is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not valid DER for the structure that was expected.
    #[error("PKI-001: {what} is not valid DER: {source}")]
    Der {
        /// What was being decoded ("certificate", "CRL", ...).
        what: &'static str,
        /// The decoder's description of the problem.
        source: der::Error,
    },
    /// PEM armour was present but malformed.
    #[error("PKI-002: {what} is not valid PEM: {detail}")]
    Pem {
        /// What was being decoded.
        what: &'static str,
        /// What was wrong with the armour.
        detail: String,
    },
    /// PEM armour had a label other than the one expected.
    #[error("PKI-003: expected PEM label \"{expected}\" for {what}, found \"{found}\"")]
    PemLabel {
        /// What was being decoded.
        what: &'static str,
        /// The label(s) that would have been accepted.
        expected: &'static str,
        /// The label that was found.
        found: String,
    },
    /// The input exceeds the size limit for its kind.
    #[error("PKI-004: {what} is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A key is of a kind or size this system does not accept.
    #[error("PKI-010: unsupported key: {0}")]
    UnsupportedKey(String),
    /// An RSA private-key operation failed. Deliberately without detail: the reason
    /// (say, a padding check) must not be observable.
    #[error("PKI-011: the RSA {0} operation failed")]
    Rsa(&'static str),
    /// A signature does not verify.
    #[error("PKI-020: the signature on the {0} does not verify")]
    BadSignature(&'static str),
    /// An algorithm identifier names an algorithm this system does not implement.
    #[error("PKI-021: unsupported {what} algorithm {oid}")]
    UnsupportedAlgorithm {
        /// What kind of algorithm ("signature", "digest", "content encryption", ...).
        what: &'static str,
        /// The identifier that was found.
        oid: ObjectIdentifier,
    },
    /// An algorithm name (CLI, JSON, config) is not one of the known names.
    #[error("PKI-022: unknown {what} name \"{name}\" (known: {known})")]
    UnknownAlgorithmName {
        /// What kind of algorithm.
        what: &'static str,
        /// The name given.
        name: String,
        /// The names accepted.
        known: String,
    },
    /// A certificate request is refused by policy.
    #[error("PKI-030: certificate request refused: {0}")]
    PolicyRefused(String),
    /// The caller passed an argument that cannot be used.
    #[error("PKI-031: invalid {what}: {why}")]
    Invalid {
        /// Which argument.
        what: &'static str,
        /// Why it is invalid.
        why: String,
    },
    /// Building a certificate, request or CRL failed.
    #[error("PKI-040: could not build the {what}: {detail}")]
    Build {
        /// What was being built.
        what: &'static str,
        /// The builder's description.
        detail: String,
    },
    /// A PKCS#12 integrity check failed: the password is wrong or the file was altered.
    #[error("PKI-050: wrong password, or the PKCS#12 file was altered (integrity check failed)")]
    Pkcs12BadPassword,
    /// A PKCS#12 file is well formed DER but uses something this system does not support, or is
    /// inconsistent.
    #[error("PKI-051: PKCS#12: {0}")]
    Pkcs12(String),
    /// A PKCS#12 file has no MAC (it was made without a password, as `cryptography` and
    /// `openssl pkcs12 -nomac` can), yet a password was given: nothing could check it, so the
    /// file is refused rather than read as if the password had been verified. Open it without
    /// a password (lockbox and sectool: `--no-password`).
    #[error(
        "PKI-100: the PKCS#12 file has no MAC, so the password given cannot be checked; it was \
         made without a password: open it without one"
    )]
    Pkcs12NoMac,
    /// A PKCS#12 file is protected by a password, and none (or an empty one) was given.
    #[error(
        "PKI-101: the PKCS#12 file is protected by a password, and none was given (or an empty \
         one, which does not open it)"
    )]
    Pkcs12PasswordNeeded,
    // --- path validation and negotiation (PKI-08x) ---
    /// No content-encryption algorithm is supported by every recipient (at or above the
    /// policy floor, when there is one).
    #[error("PKI-080: no content-encryption algorithm is supported by every recipient ({detail})")]
    NoCommonAlgorithm {
        /// Each recipient with the algorithms it could use.
        detail: String,
    },
    /// Encryption refused: some recipients support nothing at or above the policy floor.
    #[error(
        "PKI-081: encryption refused: these recipients have no algorithm at or above the policy floor {floor}: {} (the policy can skip them instead)",
        .recipients.join(", ")
    )]
    BelowFloor {
        /// The floor's name.
        floor: &'static str,
        /// The recipients below it.
        recipients: Vec<String>,
    },
    /// Every recipient is below the policy floor, so skipping them leaves nobody.
    #[error(
        "PKI-082: no recipient is left: every one has only algorithms below the policy floor {floor} (skipped: {})",
        .skipped.join(", ")
    )]
    NoRecipientAtFloor {
        /// The floor's name.
        floor: &'static str,
        /// The recipients that were skipped.
        skipped: Vec<String>,
    },
    /// The algorithm the caller forced is not supported by some recipients.
    #[error(
        "PKI-083: the requested algorithm {algorithm} is not in the published capabilities of: {}",
        .recipients.join(", ")
    )]
    AlgorithmNotSupported {
        /// The forced algorithm's name.
        algorithm: &'static str,
        /// The recipients that lack it.
        recipients: Vec<String>,
    },
    /// A content-encryption algorithm this system recognises but does not decrypt (SEED).
    #[error("PKI-110: the message is encrypted with {name}, which this system does not decrypt")]
    UnsupportedContentAlgorithm {
        /// The algorithm's name.
        name: &'static str,
    },
    /// The algorithm the caller forced is below the policy floor.
    #[error("PKI-084: the requested algorithm {algorithm} is below the policy floor {floor}")]
    AlgorithmBelowFloor {
        /// The forced algorithm's name.
        algorithm: &'static str,
        /// The floor's name.
        floor: &'static str,
    },
    // --- CMS signed data and S/MIME (PKI-07x) ---
    /// A CMS message has a content type other than the one the operation needs.
    #[error("PKI-070: the CMS message is {found}, not {expected}")]
    CmsContentType {
        /// The content type the operation needs ("signed-data", ...).
        expected: &'static str,
        /// The content type that was found (name and OID).
        found: String,
    },
    /// A signature is detached and no content was given to check it against.
    #[error(
        "PKI-071: the signature is detached (it carries no content) and no content was given \
         to check it against"
    )]
    DetachedContentMissing,
    /// Content was given to check a signature that already encapsulates its own content.
    #[error(
        "PKI-072: content was given separately, but the signed message encapsulates its own \
         content"
    )]
    ContentGivenTwice,
    /// A MIME message is malformed (headers, boundaries, parts).
    #[error("PKI-073: malformed MIME message: {0}")]
    Mime(String),
    /// A MIME body that says it is base64 does not decode.
    #[error("PKI-074: the {part} is not valid base64: {detail}")]
    MimeBase64 {
        /// Which body part.
        part: &'static str,
        /// The decoder's description.
        detail: String,
    },
    /// A MIME message is not the kind of S/MIME message the operation needs.
    #[error("PKI-075: not an S/MIME message of the expected kind: {0}")]
    NotSmime(String),
    // --- CMS enveloped data (PKI-06x) ---
    /// An enveloped message could not be decrypted. Deliberately one error for every cause
    /// that depends on the key (RSA padding, key length, content padding, GCM tag), so that
    /// none of them can be told apart (RFC 3218 §2.3).
    #[error("PKI-060: could not decrypt: wrong key or damaged message")]
    DecryptFailed,
    /// None of the keys given is a recipient of the message.
    #[error(
        "PKI-061: none of the keys given is a recipient of this message (it is for: {recipients})"
    )]
    NotARecipient {
        /// The recipients the message names (issuer and serial, or key identifier).
        recipients: String,
    },
    /// The message is not an EnvelopedData or AuthEnvelopedData this system can read.
    #[error("PKI-062: unsupported or malformed enveloped message: {0}")]
    Envelope(String),
    /// Content-encryption parameters are malformed or name something refused.
    #[error("PKI-063: invalid {algorithm} content-encryption parameters: {detail}")]
    ContentParameters {
        /// The algorithm (family) whose parameters are wrong.
        algorithm: &'static str,
        /// What is wrong with them.
        detail: String,
    },
    // --- OCSP (PKI-13x) ---
    /// An OCSP request is malformed (answered `malformedRequest`).
    #[error("PKI-130: malformed OCSP request: {0}")]
    OcspRequest(String),
    /// An OCSP response is malformed, unsuccessful or not signed as RFC 6960 requires.
    #[error("PKI-131: unusable OCSP response: {0}")]
    OcspResponse(String),
    // --- resource limits on hostile input (PKI-09x) ---
    /// A SignedData has more SignerInfos than [`crate::signed::MAX_SIGNERS`].
    #[error(
        "PKI-090: the signed message has {count} signers, more than the limit of {limit}; \
         it was not checked"
    )]
    TooManySigners {
        /// SignerInfos in the message.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A SignedData carries more certificates than [`crate::signed::MAX_CERTIFICATES`].
    #[error(
        "PKI-091: the signed message carries {count} certificates, more than the limit of \
         {limit}; it was not checked"
    )]
    TooManyCertificates {
        /// Certificates in the message.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// BER or DER input has more elements than its size allows (see
    /// [`crate::ber::element_limit`]); refused by a counting pass before anything is decoded.
    #[error(
        "PKI-092: {what} has more than {limit} ASN.1 elements, the limit for {size} bytes; \
         it was refused before decoding"
    )]
    TooManyElements {
        /// What was being decoded.
        what: &'static str,
        /// Size of the input.
        size: usize,
        /// The limit for that size.
        limit: usize,
    },
    /// A certificate (to be signed, or given to the lint) breaks a rule of its profile (the
    /// S/MIME Baseline Requirements as `crate::lint` checks them); nothing was signed.
    #[error("PKI-120: {rule}: {detail}")]
    Lint {
        /// The rule's name (`sbr.key_usage`, ...; see `crate::lint`).
        rule: &'static str,
        /// What is wrong.
        detail: String,
    },
    // --- signing keys (PKI-14x) ---
    /// The CA key was asked for as software key material, but it is held by a token (it
    /// signs, but cannot be exported or escrowed).
    #[error("PKI-140: the {0} key is held by a token and cannot be read out")]
    KeyNotExportable(&'static str),
    /// The signing key could not sign now: its token is missing, logged out or failing. The
    /// message is fit for an operator (the token's own code first, e.g. `HSM-004: ...`) and
    /// names no PIN; the authority reports itself degraded (no signer) while it lasts.
    #[error("PKI-141: the signing key is unavailable: {0}")]
    SignerUnavailable(String),
    /// A cryptographic-quorum parameter was refused (threshold above the number of agents,
    /// fewer than two agents, a wrong-length share or key); nothing was made (`crate::quorum`).
    #[error("PKI-155: {0}")]
    QuorumParameter(&'static str),
    /// A wrapped key, share or sealed share did not authenticate: the wrong key, the wrong
    /// shares, or a ciphertext that was altered or bound to another key or request.
    #[error("PKI-156: {what} did not authenticate (wrong key, wrong shares, or altered)")]
    QuorumOpen {
        /// What failed to open ("wrapped key", "sealed share", ...).
        what: &'static str,
    },
    /// An agent key file is not one, or its password is wrong.
    #[error("PKI-157: {0}")]
    AgentKeyFile(&'static str),
}

impl Error {
    /// The stable code of this error (`PKI-001`, ...), for logs, docs and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Der { .. } => "PKI-001",
            Error::Pem { .. } => "PKI-002",
            Error::PemLabel { .. } => "PKI-003",
            Error::TooLarge { .. } => "PKI-004",
            Error::UnsupportedKey(_) => "PKI-010",
            Error::Rsa(_) => "PKI-011",
            Error::BadSignature(_) => "PKI-020",
            Error::UnsupportedAlgorithm { .. } => "PKI-021",
            Error::UnknownAlgorithmName { .. } => "PKI-022",
            Error::PolicyRefused(_) => "PKI-030",
            Error::Invalid { .. } => "PKI-031",
            Error::Build { .. } => "PKI-040",
            Error::Pkcs12BadPassword => "PKI-050",
            Error::Pkcs12(_) => "PKI-051",
            Error::Pkcs12NoMac => "PKI-100",
            Error::Pkcs12PasswordNeeded => "PKI-101",
            Error::NoCommonAlgorithm { .. } => "PKI-080",
            Error::BelowFloor { .. } => "PKI-081",
            Error::NoRecipientAtFloor { .. } => "PKI-082",
            Error::AlgorithmNotSupported { .. } => "PKI-083",
            Error::AlgorithmBelowFloor { .. } => "PKI-084",
            Error::UnsupportedContentAlgorithm { .. } => "PKI-110",
            // --- CMS signed data and S/MIME (PKI-07x) ---
            Error::CmsContentType { .. } => "PKI-070",
            Error::DetachedContentMissing => "PKI-071",
            Error::ContentGivenTwice => "PKI-072",
            Error::Mime(_) => "PKI-073",
            Error::MimeBase64 { .. } => "PKI-074",
            Error::NotSmime(_) => "PKI-075",
            // --- CMS enveloped data (PKI-06x) ---
            Error::DecryptFailed => "PKI-060",
            Error::NotARecipient { .. } => "PKI-061",
            Error::Envelope(_) => "PKI-062",
            Error::ContentParameters { .. } => "PKI-063",
            // --- OCSP (PKI-13x) ---
            Error::OcspRequest(_) => "PKI-130",
            Error::OcspResponse(_) => "PKI-131",
            // --- resource limits on hostile input (PKI-09x) ---
            Error::TooManySigners { .. } => "PKI-090",
            Error::TooManyCertificates { .. } => "PKI-091",
            Error::TooManyElements { .. } => "PKI-092",
            // --- certificate profiles and the pre-issuance lint (PKI-12x) ---
            Error::Lint { .. } => "PKI-120",
            // --- signing keys (PKI-14x) ---
            Error::KeyNotExportable(_) => "PKI-140",
            Error::SignerUnavailable(_) => "PKI-141",
            // --- cryptographic quorum (PKI-155..159) ---
            Error::QuorumParameter(_) => "PKI-155",
            Error::QuorumOpen { .. } => "PKI-156",
            Error::AgentKeyFile(_) => "PKI-157",
        }
    }

    /// Shorthand for a DER error about `what` (or, from the BER normaliser, its element
    /// limit: [`Error::TooManyElements`]).
    pub(crate) fn der<E: DerFailure>(what: &'static str) -> impl FnOnce(E) -> Error {
        move |source| source.about(what)
    }

    /// Shorthand for a build error about `what`.
    pub(crate) fn build(what: &'static str) -> impl FnOnce(x509_cert::builder::Error) -> Error {
        move |e| Error::Build {
            what,
            detail: e.to_string(),
        }
    }
}

/// A decoding failure that becomes an [`Error`] about `what`: a `der::Error`, or a failure of
/// the BER normaliser (which may be its element limit).
pub(crate) trait DerFailure {
    /// The error about `what`.
    fn about(self, what: &'static str) -> Error;
}

impl DerFailure for der::Error {
    fn about(self, what: &'static str) -> Error {
        Error::Der { what, source: self }
    }
}
