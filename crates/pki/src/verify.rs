//! Path validation of a signer's certificate for S/MIME (RFC 5280 §6, profiled for a mail
//! client): building the chain from the signer to a trust anchor, checking every signature,
//! validity period, CA constraint, key usage and critical extension, and revocation from CRLs
//! the caller supplies (full and delta), at a time the caller supplies; and the [`Verdict`]s
//! of `lockbox verify` with their exit codes.
//!
//! # What is checked
//!
//! For a path `signer (depth 0) → … → trust anchor (depth n)`:
//!
//! * the chain is built by name (issuer = subject; equal DER, or equal once written as
//!   RFC 4514 text and compared without case), narrowed by authorityKeyIdentifier /
//!   subjectKeyIdentifier when both are present; at most [`MAX_PATH_LEN`] certificates, and at
//!   most [`MAX_PATHS`] candidate paths are tried (the least severe verdict wins); the search
//!   looks issuers up by name in an index built once, and gives up after a bounded number of
//!   steps and of candidate issuers examined (hostile messages carry many certificates);
//! * every certificate's signature verifies with its issuer's key (RSA PKCS#1 v1.5, or DSA
//!   with parameters inherited from the issuer when absent); MD5 and SHA-1 signatures and RSA
//!   keys under 2048 bits (and every DSA key) only with [`VerifyOptions::allow_legacy`];
//! * every issuer is a CA: basicConstraints `cA` TRUE (a trust anchor without
//!   basicConstraints, such as a v1 root, is accepted), keyUsage `keyCertSign` when keyUsage is
//!   present, and its pathLenConstraint (the anchor's too, as OpenSSL does) is respected;
//! * no certificate below the anchor has a critical extension this module does not process
//!   (processed: basicConstraints, keyUsage, extKeyUsage, subject/issuer alternative names,
//!   key identifiers, certificatePolicies — any policy is accepted —, CRL distribution points,
//!   freshest CRL, authority/subject information access, SMIMECapabilities). Name constraints
//!   and policy constraints are *not* processed, so a critical one makes the path untrusted;
//! * for [`Purpose::SmimeSigning`], the signer's keyUsage (when present) allows
//!   digitalSignature or nonRepudiation, and its extKeyUsage (when present) includes
//!   emailProtection or anyExtendedKeyUsage;
//! * every certificate, the anchor included, is inside its validity period at the time;
//! * every certificate except the anchor has a usable CRL from its issuer (below).
//!
//! # Revocation
//!
//! A CRL is *usable* for a certificate when its issuer name is the certificate's issuer name;
//! its signature verifies with the issuer's key (whose keyUsage, when present, must allow
//! cRLSign), or with the key of another certificate of the same name that allows cRLSign and
//! itself validates to a trust anchor (a separate CRL-signing key, PKITS 4.4.19); it has no
//! unknown critical CRL or entry extension (read it with [`Crl::parse_lenient`] so that this
//! can be reported; [`Crl::parse`] refuses such CRLs); and `thisUpdate ≤ time ≤ nextUpdate`
//! (a CRL without nextUpdate is not usable).
//!
//! Of the usable full CRLs the newest (highest CRL number, then latest thisUpdate) is the
//! base; a usable delta CRL (delta CRL indicator) applies on top of it when the base's number
//! is at least the delta's base number and the delta's own number is higher than the base's
//! (the newest such delta is used). An entry in the delta decides: `removeFromCRL` means *not
//! revoked* (a released hold), any other reason (`certificateHold` included) means revoked;
//! otherwise an entry in the base means revoked. With no usable full CRL, a usable delta that
//! lists the certificate still proves revocation; otherwise the status is unknown.
//! Serial numbers are compared exactly (a negative serial `-1` is not `255`).
//!
//! # Precedence of verdicts
//!
//! When several problems apply, the verdict is chosen in this order:
//!
//! 1. [`Verdict::Untrusted`]: no path to an anchor, or a structural failure anywhere in the
//!    path (signature, CA, key usage, path length, critical extension, algorithm). Nothing
//!    below a failed certificate is authenticated — its dates and its revocation come from a
//!    key we cannot trust — so this outranks everything; of several, the one nearest the
//!    anchor is reported.
//! 2. [`Verdict::Revoked`]: an authenticated CRL revokes a certificate of the path; the one
//!    nearest the anchor is reported (a revoked CA revokes everything below it). Revocation
//!    outranks expiry because it may mean key compromise.
//! 3. [`Verdict::Expired`] / [`Verdict::NotYetValid`]: the certificate nearest the anchor that
//!    is outside its validity period at the time.
//! 4. [`Verdict::RevocationUnknown`]: the certificate nearest the anchor whose status cannot be
//!    established. A certificate revoked, expired or untrusted elsewhere in the path outranks
//!    it.
//! 5. [`Verdict::Valid`].
//!
//! [`Verdict::Tampered`] is never produced here: the caller sets it when the message signature
//! itself does not verify, which outranks every verdict about the certificate.

use core::fmt;
use std::collections::HashMap;
use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use der::oid::AssociatedOid;
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies,
    CrlDistributionPoints, ExtendedKeyUsage, FreshestCrl, IssuerAltName, KeyUsage, SubjectAltName,
    SubjectInfoAccessSyntax, SubjectKeyIdentifier,
};
use x509_cert::name::Name;

use crate::algorithms::{DigestAlgorithm, oid};
use crate::certificate::{self, hex_lower};
use crate::crl::{Crl, Revocation, RevocationReason};
use crate::dsa::{self, DsaPublicKey};
use crate::keys::PublicKey;

/// Most certificates in one path, signer and anchor included.
pub const MAX_PATH_LEN: usize = 10;
/// Most candidate paths evaluated for one signer (several CAs may share a name).
pub const MAX_PATHS: usize = 16;
/// Most steps of the path search for one signer: certificates from a message are
/// attacker-controlled, and many with one name (and no key identifiers) would otherwise make
/// the search exponential.
const MAX_BUILD_STEPS: usize = 1024;
/// Most candidate issuers examined in the path search for one signer, over all its steps:
/// bounds the work by the certificates looked at, not only by the steps (a message may carry
/// hundreds of certificates with one name).
const MAX_BUILD_WORK: usize = 16 * 1024;
/// How deep the validation of separate CRL-signing certificates may nest.
const MAX_CRL_SIGNER_DEPTH: usize = 2;
/// Smallest RSA key accepted without `allow_legacy`.
const MIN_RSA_BITS: usize = 2048;

/// What the signer's certificate must be good for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Purpose {
    /// S/MIME signing: the signer's keyUsage (when present) allows digitalSignature or
    /// nonRepudiation, and its extKeyUsage (when present) includes emailProtection or
    /// anyExtendedKeyUsage.
    #[default]
    SmimeSigning,
    /// Any purpose: the signer's key usages are not checked (a generic path check, as the
    /// NIST PKITS suite needs).
    Any,
}

/// How to validate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Accept legacy cryptography, for reading old mail: RSA keys of 1024 to 2047 bits, DSA
    /// keys, and MD5 or SHA-1 signatures on certificates and CRLs.
    pub allow_legacy: bool,
    /// The signing time the message claims (its signingTime attribute), if any. It is the
    /// signer's own claim, not proof: it is only used to say whether the signature was made
    /// before a revocation.
    pub signing_time: Option<SystemTime>,
    /// What the signer's certificate must be good for.
    pub purpose: Purpose,
}

/// One certificate of a path, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertId {
    /// Position in the path: 0 is the signer's certificate, 1 its issuer, and so on up to the
    /// trust anchor.
    pub depth: usize,
    /// Subject DN in RFC 4514 form.
    pub subject: String,
    /// Serial number in lower-case hex.
    pub serial: String,
}

impl CertId {
    fn of(cert: &Certificate, depth: usize) -> Self {
        let tbs = cert.tbs_certificate();
        CertId {
            depth,
            subject: tbs.subject().to_string(),
            serial: hex_lower(tbs.serial_number().as_bytes()),
        }
    }
}

impl fmt::Display for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.depth == 0 {
            write!(f, "the signer's certificate \"{}\"", self.subject)
        } else {
            write!(
                f,
                "the CA certificate \"{}\" (serial {})",
                self.subject, self.serial
            )
        }
    }
}

/// Why a signer is untrusted ([`Verdict::Untrusted`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UntrustedReason {
    /// No certificate named as the issuer (with a matching key identifier) is among the trust
    /// anchors and intermediates.
    NoPath {
        /// The issuer that could not be found.
        issuer: String,
    },
    /// The path would be longer than [`MAX_PATH_LEN`].
    PathTooLong,
    /// The certificate's signature does not verify with its issuer's key.
    BadSignature,
    /// The certificate's issuer is not a CA (basicConstraints).
    IssuerNotCa,
    /// The certificate's issuer has keyUsage without keyCertSign.
    IssuerCannotSignCertificates,
    /// The issuer's pathLenConstraint allows fewer intermediate CAs below it.
    PathLengthExceeded {
        /// The issuer's pathLenConstraint.
        limit: u8,
    },
    /// The signer's keyUsage allows neither digitalSignature nor nonRepudiation.
    NotForSigning,
    /// The signer's extKeyUsage has neither emailProtection nor anyExtendedKeyUsage.
    NotForEmail,
    /// The certificate has a critical extension this verifier does not process.
    UnknownCriticalExtension(String),
    /// A signature uses a digest accepted only for legacy mail (MD5, SHA-1).
    LegacyAlgorithm(String),
    /// A key is accepted only for legacy mail (RSA under 2048 bits, DSA).
    LegacyKey(String),
    /// A signature or key algorithm this verifier does not implement.
    UnsupportedAlgorithm(String),
    /// The certificate could not be read.
    Malformed(String),
}

impl fmt::Display for UntrustedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UntrustedReason::NoPath { issuer } => write!(
                f,
                "its issuer \"{issuer}\" is not a trust anchor and no intermediate certificate for it was given"
            ),
            UntrustedReason::PathTooLong => write!(
                f,
                "the chain to a trust anchor would be longer than {MAX_PATH_LEN} certificates"
            ),
            UntrustedReason::BadSignature => {
                f.write_str("its signature does not verify with its issuer's key")
            }
            UntrustedReason::IssuerNotCa => {
                f.write_str("its issuer is not a CA (basicConstraints)")
            }
            UntrustedReason::IssuerCannotSignCertificates => {
                f.write_str("its issuer's keyUsage does not allow signing certificates")
            }
            UntrustedReason::PathLengthExceeded { limit } => write!(
                f,
                "it is below more intermediate CAs than its issuer allows ({limit})"
            ),
            UntrustedReason::NotForSigning => {
                f.write_str("its keyUsage allows neither digitalSignature nor nonRepudiation")
            }
            UntrustedReason::NotForEmail => {
                f.write_str("its extKeyUsage does not include emailProtection")
            }
            UntrustedReason::UnknownCriticalExtension(o) => {
                write!(f, "it has a critical extension {o} that is not understood")
            }
            UntrustedReason::LegacyAlgorithm(a) => write!(
                f,
                "it is signed with {a}, accepted only when reading legacy mail"
            ),
            UntrustedReason::LegacyKey(k) => {
                write!(f, "its key ({k}) is accepted only when reading legacy mail")
            }
            UntrustedReason::UnsupportedAlgorithm(a) => write!(f, "{a} is not supported"),
            UntrustedReason::Malformed(why) => write!(f, "it cannot be read: {why}"),
        }
    }
}

/// Why the revocation status of a certificate is unknown ([`Verdict::RevocationUnknown`]).
/// When several CRLs fail differently, the most specific reason is reported, in the order of
/// the variants below (an authentic CRL that cannot be used says more than a forged one).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownReason {
    /// The issuer's CRL has a critical extension (on the CRL or an entry) that is not
    /// understood, so it must not be used.
    UnknownCriticalExtension(String),
    /// The newest CRL's nextUpdate is before the time: it is stale.
    Stale {
        /// The CRL's nextUpdate.
        next_update: SystemTime,
    },
    /// The only CRL was issued after the time.
    NotYetIssued {
        /// The CRL's thisUpdate.
        this_update: SystemTime,
    },
    /// The CRL has no nextUpdate, so its freshness cannot be judged.
    NoNextUpdate,
    /// The issuer's keyUsage does not allow it to sign CRLs.
    IssuerCannotSignCrls,
    /// Only a delta CRL was given, without a usable full CRL it applies to.
    DeltaWithoutBase,
    /// The CRL is signed by a separate CRL-signing certificate that does not validate.
    CrlSignerInvalid(String),
    /// The CRL is signed with a digest accepted only when reading legacy mail.
    LegacyCrlSignature(String),
    /// The CRL's signature does not verify with the issuer's key.
    BadCrlSignature,
    /// A CRL signed by the issuer's key names another issuer.
    WrongCrlIssuer {
        /// The issuer the CRL names.
        crl_issuer: String,
    },
    /// No CRL from the issuer was given.
    NoCrl {
        /// The issuer whose CRL is missing.
        issuer: String,
    },
}

impl UnknownReason {
    fn specificity(&self) -> u8 {
        match self {
            UnknownReason::UnknownCriticalExtension(_) => 0,
            UnknownReason::Stale { .. } => 1,
            UnknownReason::NotYetIssued { .. } => 2,
            UnknownReason::NoNextUpdate => 3,
            UnknownReason::IssuerCannotSignCrls => 4,
            UnknownReason::DeltaWithoutBase => 5,
            UnknownReason::CrlSignerInvalid(_) => 6,
            UnknownReason::LegacyCrlSignature(_) => 7,
            UnknownReason::BadCrlSignature => 8,
            UnknownReason::WrongCrlIssuer { .. } => 9,
            UnknownReason::NoCrl { .. } => 10,
        }
    }
}

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnknownReason::UnknownCriticalExtension(what) => {
                write!(f, "its issuer's CRL has an {what} and cannot be used")
            }
            UnknownReason::Stale { next_update } => write!(
                f,
                "its issuer's newest CRL is stale (its nextUpdate was {})",
                show_time(*next_update)
            ),
            UnknownReason::NotYetIssued { this_update } => write!(
                f,
                "its issuer's CRL was issued later ({}) than the time of the check",
                show_time(*this_update)
            ),
            UnknownReason::NoNextUpdate => {
                f.write_str("its issuer's CRL has no nextUpdate, so its freshness is unknown")
            }
            UnknownReason::IssuerCannotSignCrls => {
                f.write_str("its issuer's keyUsage does not allow it to sign CRLs")
            }
            UnknownReason::DeltaWithoutBase => {
                f.write_str("only a delta CRL was given, without the full CRL it applies to")
            }
            UnknownReason::CrlSignerInvalid(why) => {
                write!(
                    f,
                    "its CRL is signed by a CRL-signing certificate that is not valid: {why}"
                )
            }
            UnknownReason::LegacyCrlSignature(a) => write!(
                f,
                "its issuer's CRL is signed with {a}, accepted only when reading legacy mail"
            ),
            UnknownReason::BadCrlSignature => {
                f.write_str("the signature on its issuer's CRL does not verify")
            }
            UnknownReason::WrongCrlIssuer { crl_issuer } => write!(
                f,
                "the CRL signed by its issuer names another issuer (\"{crl_issuer}\")"
            ),
            UnknownReason::NoCrl { issuer } => write!(f, "no CRL from \"{issuer}\" was given"),
        }
    }
}

/// The outcome of verifying a signed message's signer, as `lockbox verify` reports it. Each
/// verdict has the exit code of `docs/CONTRACTS.md` ([`Verdict::exit_code`]) and a sentence for
/// people (`Display`). See the module documentation for the precedence between verdicts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The signer's certificate is valid at the time (exit code 0).
    Valid,
    /// The message's signature does not verify: the content or signature was altered, or it
    /// was not made with the certificate's key (exit code 10). Set by the caller.
    Tampered,
    /// A certificate of the path is revoked (exit code 11).
    Revoked {
        /// Which certificate.
        certificate: CertId,
        /// When it was revoked.
        revoked_at: SystemTime,
        /// Why.
        reason: RevocationReason,
        /// Whether the message's claimed signing time is before the revocation (`None` when
        /// the message claims no time).
        signed_before_revocation: Option<bool>,
    },
    /// A certificate of the path has expired (exit code 12).
    Expired {
        /// Which certificate.
        certificate: CertId,
        /// Its notAfter.
        not_after: SystemTime,
    },
    /// A certificate of the path is not valid yet (exit code 13).
    NotYetValid {
        /// Which certificate.
        certificate: CertId,
        /// Its notBefore.
        not_before: SystemTime,
    },
    /// The signer is unknown or untrusted: no path to a trust anchor, or a certificate of the
    /// path fails a check (exit code 14).
    Untrusted {
        /// Which certificate failed, when the failure is about one.
        certificate: Option<CertId>,
        /// Why.
        reason: UntrustedReason,
    },
    /// The revocation status of a certificate of the path cannot be established: no CRL, or a
    /// stale, badly signed or unusable one (exit code 15).
    RevocationUnknown {
        /// Which certificate.
        certificate: CertId,
        /// Why.
        reason: UnknownReason,
    },
}

impl Verdict {
    /// The exit code of `lockbox verify` for this verdict (`docs/CONTRACTS.md`: 0, and 10 to 15).
    pub fn exit_code(&self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Tampered => 10,
            Verdict::Revoked { .. } => 11,
            Verdict::Expired { .. } => 12,
            Verdict::NotYetValid { .. } => 13,
            Verdict::Untrusted { .. } => 14,
            Verdict::RevocationUnknown { .. } => 15,
        }
    }

    /// A short name for scripts and JSON (`valid`, `tampered`, `revoked`, `expired`,
    /// `not-yet-valid`, `untrusted`, `revocation-unknown`).
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Tampered => "tampered",
            Verdict::Revoked { .. } => "revoked",
            Verdict::Expired { .. } => "expired",
            Verdict::NotYetValid { .. } => "not-yet-valid",
            Verdict::Untrusted { .. } => "untrusted",
            Verdict::RevocationUnknown { .. } => "revocation-unknown",
        }
    }

    /// True for [`Verdict::Valid`].
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid)
    }

    /// Severity when choosing between candidate paths: lower is better.
    fn severity(&self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::RevocationUnknown { .. } => 1,
            Verdict::NotYetValid { .. } => 2,
            Verdict::Expired { .. } => 3,
            Verdict::Revoked { .. } => 4,
            Verdict::Untrusted { .. } => 5,
            Verdict::Tampered => 6,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Valid => f.write_str(
                "valid: the signer's certificate chains to a trusted CA, is within its validity \
                 period and is not revoked",
            ),
            Verdict::Tampered => f.write_str(
                "tampered: the signature does not match the message; it was altered after \
                 signing, or not signed with this certificate's key",
            ),
            Verdict::Revoked {
                certificate,
                revoked_at,
                reason,
                signed_before_revocation,
            } => {
                write!(
                    f,
                    "revoked: {certificate} was revoked on {} (reason: {reason})",
                    show_time(*revoked_at)
                )?;
                match signed_before_revocation {
                    Some(true) => f.write_str(
                        "; the message claims to have been signed before that, which the \
                         signer could have falsified",
                    ),
                    Some(false) => f.write_str("; the message was signed after that"),
                    None => Ok(()),
                }
            }
            Verdict::Expired {
                certificate,
                not_after,
            } => write!(
                f,
                "expired: {certificate} expired on {}",
                show_time(*not_after)
            ),
            Verdict::NotYetValid {
                certificate,
                not_before,
            } => write!(
                f,
                "not yet valid: {certificate} is valid only from {}",
                show_time(*not_before)
            ),
            Verdict::Untrusted {
                certificate: Some(c),
                reason,
            } => write!(f, "untrusted signer: {c} cannot be trusted: {reason}"),
            Verdict::Untrusted {
                certificate: None,
                reason,
            } => write!(f, "untrusted signer: {reason}"),
            Verdict::RevocationUnknown {
                certificate,
                reason,
            } => write!(
                f,
                "revocation status unknown: whether {certificate} is revoked cannot be told: {reason}"
            ),
        }
    }
}

/// A verdict with the path it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// The verdict.
    pub verdict: Verdict,
    /// The path the verdict is about, from the signer (depth 0) to the trust anchor; only the
    /// signer when no path to an anchor was found.
    pub path: Vec<CertId>,
}

/// Validates certificate paths against trust anchors, with intermediates and CRLs supplied by
/// the caller. Pure: the time is an argument.
#[derive(Clone, Copy, Debug)]
pub struct PathValidator<'a> {
    anchors: &'a [Certificate],
    intermediates: &'a [Certificate],
    crls: &'a [Crl],
}

impl<'a> PathValidator<'a> {
    /// A validator trusting `anchors`, using `intermediates` (from the message and from
    /// `--untrusted` files) to build paths, and `crls` (full and delta) for revocation.
    pub fn new(
        anchors: &'a [Certificate],
        intermediates: &'a [Certificate],
        crls: &'a [Crl],
    ) -> Self {
        Self {
            anchors,
            intermediates,
            crls,
        }
    }

    /// Validates `signer`'s certificate at `time`.
    pub fn validate(
        &self,
        signer: &Certificate,
        time: SystemTime,
        options: &VerifyOptions,
    ) -> Verification {
        let (pool, leaf) = Pool::new(self.anchors, self.intermediates, signer);
        let ctx = Ctx {
            pool: &pool,
            crls: self.crls,
            time,
            options,
        };
        ctx.validate_from(leaf, options.purpose, 0)
    }
}

/// Extension facts of one certificate.
#[derive(Clone, Debug, Default)]
struct Facts {
    /// basicConstraints cA, `None` when the extension is absent.
    ca: Option<bool>,
    path_len: Option<u8>,
    key_usage: Option<KeyUsage>,
    ext_key_usage: Option<Vec<ObjectIdentifier>>,
    ski: Option<Vec<u8>>,
    aki: Option<Vec<u8>>,
    unknown_critical: Option<ObjectIdentifier>,
    self_issued: bool,
}

impl Facts {
    fn read(cert: &Certificate) -> Result<Self, String> {
        let tbs = cert.tbs_certificate();
        let mut facts = Facts {
            self_issued: names_match(tbs.subject(), tbs.issuer()),
            ..Facts::default()
        };
        let known: [ObjectIdentifier; 8] = [
            SubjectAltName::OID,
            IssuerAltName::OID,
            CertificatePolicies::OID,
            CrlDistributionPoints::OID,
            FreshestCrl::OID,
            AuthorityInfoAccessSyntax::OID,
            SubjectInfoAccessSyntax::OID,
            oid::SMIME_CAPABILITIES,
        ];
        for ext in tbs.extensions().into_iter().flatten() {
            let v = ext.extn_value.as_bytes();
            let id = ext.extn_id;
            let bad = |what: &str, e: der::Error| format!("its {what} extension is malformed: {e}");
            if id == BasicConstraints::OID {
                let bc = BasicConstraints::from_der(v).map_err(|e| bad("basicConstraints", e))?;
                facts.ca = Some(bc.ca);
                facts.path_len = bc.path_len_constraint;
            } else if id == KeyUsage::OID {
                facts.key_usage = Some(KeyUsage::from_der(v).map_err(|e| bad("keyUsage", e))?);
            } else if id == ExtendedKeyUsage::OID {
                let eku = ExtendedKeyUsage::from_der(v).map_err(|e| bad("extKeyUsage", e))?;
                facts.ext_key_usage = Some(eku.0);
            } else if id == SubjectKeyIdentifier::OID {
                let ski = SubjectKeyIdentifier::from_der(v)
                    .map_err(|e| bad("subjectKeyIdentifier", e))?;
                facts.ski = Some(ski.0.as_bytes().to_vec());
            } else if id == AuthorityKeyIdentifier::OID {
                let aki = AuthorityKeyIdentifier::from_der(v)
                    .map_err(|e| bad("authorityKeyIdentifier", e))?;
                facts.aki = aki.key_identifier.map(|k| k.as_bytes().to_vec());
            } else if ext.critical && !known.contains(&id) && facts.unknown_critical.is_none() {
                facts.unknown_critical = Some(id);
            }
        }
        Ok(facts)
    }
}

/// A certificate the validator may use.
struct Entry<'a> {
    cert: &'a Certificate,
    anchor: bool,
    facts: Result<Facts, String>,
    /// The issuer name as [`name_key`] writes it, computed once.
    issuer_key: String,
}

/// Anchors, intermediates and the signer, without duplicates, indexed by subject name so
/// that each step of the path search looks up its issuer's candidates instead of comparing
/// names with every certificate (the cost is then bounded by the candidates, not by the
/// size of the pool times the steps).
struct Pool<'a> {
    entries: Vec<Entry<'a>>,
    /// [`name_key`] of each subject to the entries that have it, in pool order.
    by_subject: HashMap<String, Vec<usize>>,
}

/// A name as the path search compares it: RFC 4514 text without case ([`names_match`]).
fn name_key(name: &Name) -> String {
    name.to_string().to_lowercase()
}

impl<'a> Pool<'a> {
    /// The pool and the index of the signer in it.
    fn new(
        anchors: &'a [Certificate],
        intermediates: &'a [Certificate],
        signer: &'a Certificate,
    ) -> (Self, usize) {
        let mut entries: Vec<Entry<'a>> = Vec::new();
        let mut by_subject: HashMap<String, Vec<usize>> = HashMap::new();
        let mut ders: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut add = |cert: &'a Certificate, anchor: bool| -> usize {
            // A certificate that cannot be encoded again cannot be compared: keep it apart.
            let der = cert.to_der().unwrap_or_default();
            if let Some(i) = ders.get(&der) {
                return *i;
            }
            let i = entries.len();
            if !der.is_empty() {
                ders.insert(der, i);
            }
            let tbs = cert.tbs_certificate();
            by_subject
                .entry(name_key(tbs.subject()))
                .or_default()
                .push(i);
            entries.push(Entry {
                cert,
                anchor,
                facts: Facts::read(cert),
                issuer_key: name_key(tbs.issuer()),
            });
            i
        };
        for a in anchors {
            add(a, true);
        }
        for c in intermediates {
            add(c, false);
        }
        let leaf = add(signer, false);
        (
            Self {
                entries,
                by_subject,
            },
            leaf,
        )
    }
}

/// A key that signs certificates or CRLs.
#[derive(Clone, Debug)]
enum SignerKey {
    Rsa(PublicKey),
    Dsa(DsaPublicKey),
}

impl SignerKey {
    fn of(cert: &Certificate, inherited: Option<&SignerKey>) -> Result<Self, UntrustedReason> {
        let spki = cert.tbs_certificate().subject_public_key_info();
        if spki.algorithm.oid == oid::RSA_ENCRYPTION {
            PublicKey::from_spki(spki)
                .map(SignerKey::Rsa)
                .map_err(|e| UntrustedReason::UnsupportedAlgorithm(format!("its key ({e})")))
        } else if spki.algorithm.oid == dsa::ID_DSA {
            let params = match inherited {
                Some(SignerKey::Dsa(k)) => Some(k.params()),
                _ => None,
            };
            DsaPublicKey::from_spki(spki, params)
                .map(SignerKey::Dsa)
                .map_err(UntrustedReason::Malformed)
        } else {
            Err(UntrustedReason::UnsupportedAlgorithm(format!(
                "its public key algorithm {}",
                spki.algorithm.oid
            )))
        }
    }

    /// `Some(description)` when the key needs `allow_legacy`.
    fn legacy(&self) -> Option<String> {
        match self {
            SignerKey::Rsa(k) if k.bits() < MIN_RSA_BITS => Some(format!("RSA-{}", k.bits())),
            SignerKey::Rsa(_) => None,
            SignerKey::Dsa(k) => Some(format!("DSA-{}", k.p_bits())),
        }
    }
}

/// Why a signature check failed.
enum SigFailure {
    Bad,
    Legacy(&'static str),
    Unsupported(String),
}

/// Checks a signature made with `algorithm` over `tbs` by `key`.
fn check_signature(
    algorithm: &ObjectIdentifier,
    tbs: &[u8],
    signature: Option<&[u8]>,
    key: &SignerKey,
    allow_legacy: bool,
) -> Result<(), SigFailure> {
    let sig = signature.ok_or(SigFailure::Bad)?;
    let (digest, is_dsa) = if let Ok(d) = DigestAlgorithm::from_rsa_signature_oid(algorithm) {
        (d, false)
    } else if let Some(d) = dsa::digest_of(algorithm) {
        (d, true)
    } else {
        return Err(SigFailure::Unsupported(format!(
            "the signature algorithm {algorithm}"
        )));
    };
    if !allow_legacy && matches!(digest, DigestAlgorithm::Md5 | DigestAlgorithm::Sha1) {
        return Err(SigFailure::Legacy(if is_dsa {
            "DSA with SHA-1"
        } else if digest == DigestAlgorithm::Md5 {
            "MD5"
        } else {
            "SHA-1"
        }));
    }
    let ok = match (key, is_dsa) {
        (SignerKey::Rsa(k), false) => k.verify(digest, tbs, sig, "certificate").is_ok(),
        (SignerKey::Dsa(k), true) => k.verify(digest, tbs, sig),
        _ => false,
    };
    if ok { Ok(()) } else { Err(SigFailure::Bad) }
}

fn cert_signature(
    cert: &Certificate,
    key: &SignerKey,
    allow_legacy: bool,
) -> Result<(), SigFailure> {
    let tbs = certificate::signed_tbs_der(cert).map_err(|_| SigFailure::Bad)?;
    check_signature(
        &cert.signature_algorithm().oid,
        &tbs,
        cert.signature().as_bytes(),
        key,
        allow_legacy,
    )
}

fn crl_signature(crl: &Crl, key: &SignerKey, allow_legacy: bool) -> Result<(), SigFailure> {
    let list = crl.certificate_list();
    let tbs = list.tbs_cert_list.to_der().map_err(|_| SigFailure::Bad)?;
    check_signature(
        &list.signature_algorithm.oid,
        &tbs,
        list.signature.as_bytes(),
        key,
        allow_legacy,
    )
}

/// Issuer/subject name match: equal encodings, or equal RFC 4514 text without case (so a
/// PrintableString and a UTF8String of the same letters match).
fn names_match(a: &Name, b: &Name) -> bool {
    a == b || a.to_string().to_lowercase() == b.to_string().to_lowercase()
}

/// The entry of `serial` in `crl`, compared exactly (sign included).
fn crl_entry(crl: &Crl, serial: &[u8]) -> Option<Revocation> {
    let hit = crl.lookup(serial)?;
    crl.certificate_list()
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .any(|rc| rc.serial_number.as_bytes() == serial)
        .then_some(hit)
}

fn show_time(t: SystemTime) -> String {
    match der::DateTime::from_system_time(t) {
        Ok(dt) => dt.to_string(),
        Err(_) => "an unrepresentable time".into(),
    }
}

/// Revocation status of one certificate.
enum Status {
    Good,
    Revoked(Revocation),
    Unknown(UnknownReason),
}

struct Ctx<'p, 'a> {
    pool: &'p Pool<'a>,
    crls: &'p [Crl],
    time: SystemTime,
    options: &'p VerifyOptions,
}

/// The result of path building.
struct Paths {
    complete: Vec<Vec<usize>>,
    /// The deepest dead end: the issuer that could not be found.
    missing: Option<(usize, String)>,
    too_long: bool,
    steps: usize,
    /// Candidate issuers examined so far (bounded by [`MAX_BUILD_WORK`]).
    work: usize,
}

impl Ctx<'_, '_> {
    fn validate_from(&self, leaf: usize, purpose: Purpose, crl_depth: usize) -> Verification {
        let leaf_cert = self.pool.entries[leaf].cert;
        let mut paths = Paths {
            complete: Vec::new(),
            missing: None,
            too_long: false,
            steps: 0,
            work: 0,
        };
        self.build(&mut vec![leaf], &mut paths);
        if paths.complete.is_empty() {
            let reason = match paths.missing {
                Some((_, issuer)) => UntrustedReason::NoPath { issuer },
                None if paths.too_long => UntrustedReason::PathTooLong,
                None => UntrustedReason::NoPath {
                    issuer: leaf_cert.tbs_certificate().issuer().to_string(),
                },
            };
            return Verification {
                verdict: Verdict::Untrusted {
                    certificate: Some(CertId::of(leaf_cert, 0)),
                    reason,
                },
                path: vec![CertId::of(leaf_cert, 0)],
            };
        }
        let mut best: Option<Verification> = None;
        for path in &paths.complete {
            let verdict = self.evaluate(path, purpose, crl_depth);
            let better = best
                .as_ref()
                .is_none_or(|b| verdict.severity() < b.verdict.severity());
            if better {
                let ids = path
                    .iter()
                    .enumerate()
                    .map(|(depth, i)| CertId::of(self.pool.entries[*i].cert, depth))
                    .collect();
                let done = verdict.is_valid();
                best = Some(Verification { verdict, path: ids });
                if done {
                    break;
                }
            }
        }
        best.unwrap_or_else(|| unreachable!("at least one complete path was evaluated"))
    }

    /// Depth-first search for paths from `path`'s last certificate to an anchor.
    fn build(&self, path: &mut Vec<usize>, out: &mut Paths) {
        out.steps += 1;
        if out.complete.len() >= MAX_PATHS || out.steps > MAX_BUILD_STEPS {
            return;
        }
        let Some(&cur) = path.last() else { return };
        let entry = &self.pool.entries[cur];
        if entry.anchor {
            out.complete.push(path.clone());
            return;
        }
        if path.len() >= MAX_PATH_LEN {
            out.too_long = true;
            return;
        }
        let tbs = entry.cert.tbs_certificate();
        let aki = entry.facts.as_ref().ok().and_then(|f| f.aki.clone());
        let same_name = self
            .pool
            .by_subject
            .get(&entry.issuer_key)
            .map(Vec::as_slice)
            .unwrap_or_default();
        out.work += same_name.len();
        if out.work > MAX_BUILD_WORK {
            return;
        }
        let mut candidates: Vec<usize> = same_name
            .iter()
            .copied()
            .filter(|i| !path.contains(i))
            .filter(|i| {
                let c = &self.pool.entries[*i];
                let ski = c.facts.as_ref().ok().and_then(|f| f.ski.as_ref());
                match (&aki, ski) {
                    (Some(a), Some(s)) => a == s,
                    _ => true,
                }
            })
            .collect();
        // Anchors first: the shortest paths are tried first.
        candidates.sort_by_key(|i| !self.pool.entries[*i].anchor);
        if candidates.is_empty() {
            let depth = path.len();
            if out.missing.as_ref().is_none_or(|(d, _)| depth > *d) {
                out.missing = Some((depth, tbs.issuer().to_string()));
            }
            return;
        }
        for c in candidates {
            path.push(c);
            self.build(path, out);
            path.pop();
        }
    }

    /// The verdict for one complete path (`path[0]` the signer, the last an anchor).
    fn evaluate(&self, path: &[usize], purpose: Purpose, crl_depth: usize) -> Verdict {
        let legacy_ok = self.options.allow_legacy;
        let entries: Vec<&Entry<'_>> = path.iter().map(|i| &self.pool.entries[*i]).collect();
        let n = entries.len() - 1;
        let id = |depth: usize| CertId::of(entries[depth].cert, depth);
        let untrusted = |depth: usize, reason| Verdict::Untrusted {
            certificate: Some(id(depth)),
            reason,
        };
        let mut facts: Vec<&Facts> = Vec::with_capacity(entries.len());
        for (depth, e) in entries.iter().enumerate() {
            match &e.facts {
                Ok(f) => facts.push(f),
                Err(why) => return untrusted(depth, UntrustedReason::Malformed(why.clone())),
            }
        }

        // 1. Structure, from the anchor down. keys[d] is the key of path[d].
        let mut keys: Vec<Option<SignerKey>> = vec![None; entries.len()];
        let anchor_key = match SignerKey::of(entries[n].cert, None) {
            Ok(k) => k,
            Err(reason) => return untrusted(n, reason),
        };
        if let (false, Some(what)) = (legacy_ok, anchor_key.legacy()) {
            return untrusted(n, UntrustedReason::LegacyKey(what));
        }
        keys[n] = Some(anchor_key);
        for d in (0..n).rev() {
            let issuer = &facts[d + 1];
            if entries[d + 1].anchor {
                if issuer.ca == Some(false) {
                    return untrusted(d, UntrustedReason::IssuerNotCa);
                }
            } else if issuer.ca != Some(true) {
                return untrusted(d, UntrustedReason::IssuerNotCa);
            }
            if issuer.key_usage.is_some_and(|ku| !ku.key_cert_sign()) {
                return untrusted(d, UntrustedReason::IssuerCannotSignCertificates);
            }
            if let Some(limit) = issuer.path_len {
                let below = (1..=d).filter(|i| !facts[*i].self_issued).count();
                if below > usize::from(limit) {
                    return untrusted(d, UntrustedReason::PathLengthExceeded { limit });
                }
            }
            let Some(issuer_key) = keys[d + 1].as_ref() else {
                return untrusted(d, UntrustedReason::BadSignature);
            };
            match cert_signature(entries[d].cert, issuer_key, legacy_ok) {
                Ok(()) => {}
                Err(SigFailure::Bad) => return untrusted(d, UntrustedReason::BadSignature),
                Err(SigFailure::Legacy(a)) => {
                    return untrusted(d, UntrustedReason::LegacyAlgorithm(a.into()));
                }
                Err(SigFailure::Unsupported(a)) => {
                    return untrusted(d, UntrustedReason::UnsupportedAlgorithm(a));
                }
            }
            if let Some(o) = facts[d].unknown_critical {
                return untrusted(d, UntrustedReason::UnknownCriticalExtension(o.to_string()));
            }
            let key = match SignerKey::of(entries[d].cert, Some(issuer_key)) {
                Ok(k) => k,
                Err(reason) => return untrusted(d, reason),
            };
            if let (false, Some(what)) = (legacy_ok, key.legacy()) {
                return untrusted(d, UntrustedReason::LegacyKey(what));
            }
            keys[d] = Some(key);
        }
        if purpose == Purpose::SmimeSigning {
            let leaf = facts[0];
            if leaf
                .key_usage
                .is_some_and(|ku| !(ku.digital_signature() || ku.non_repudiation()))
            {
                return untrusted(0, UntrustedReason::NotForSigning);
            }
            if let Some(eku) = &leaf.ext_key_usage
                && !eku.contains(&oid::KP_EMAIL_PROTECTION)
                && !eku.contains(&der::oid::db::rfc5280::ANY_EXTENDED_KEY_USAGE)
            {
                return untrusted(0, UntrustedReason::NotForEmail);
            }
        }

        // 2. Revocation, validity period, unknown status: the problem nearest the anchor of
        // each kind, then the kinds in order of precedence.
        let mut revoked = None;
        let mut out_of_time = None;
        let mut unknown = None;
        for d in (0..=n).rev() {
            let validity = entries[d].cert.tbs_certificate().validity();
            let not_before = validity.not_before.to_system_time();
            let not_after = validity.not_after.to_system_time();
            if out_of_time.is_none() {
                if self.time < not_before {
                    out_of_time = Some(Verdict::NotYetValid {
                        certificate: id(d),
                        not_before,
                    });
                } else if self.time > not_after {
                    out_of_time = Some(Verdict::Expired {
                        certificate: id(d),
                        not_after,
                    });
                }
            }
            if d == n {
                continue;
            }
            let issuer_key = keys[d + 1].as_ref();
            match self.status(entries[d].cert, entries[d + 1], issuer_key, crl_depth) {
                Status::Good => {}
                Status::Revoked(r) => {
                    if revoked.is_none() {
                        revoked = Some(Verdict::Revoked {
                            certificate: id(d),
                            revoked_at: r.revoked_at,
                            reason: r.reason,
                            signed_before_revocation: self
                                .options
                                .signing_time
                                .map(|s| s < r.revoked_at),
                        });
                    }
                }
                Status::Unknown(reason) => {
                    if unknown.is_none() {
                        unknown = Some(Verdict::RevocationUnknown {
                            certificate: id(d),
                            reason,
                        });
                    }
                }
            }
        }
        revoked
            .or(out_of_time)
            .or(unknown)
            .unwrap_or(Verdict::Valid)
    }

    /// The revocation status of `cert`, issued by `issuer` (whose key is `issuer_key`).
    fn status(
        &self,
        cert: &Certificate,
        issuer: &Entry<'_>,
        issuer_key: Option<&SignerKey>,
        crl_depth: usize,
    ) -> Status {
        let issuer_name = cert.tbs_certificate().issuer();
        let serial = cert.tbs_certificate().serial_number().as_bytes();
        let mut problems: Vec<UnknownReason> = Vec::new();
        let mut fulls: Vec<&Crl> = Vec::new();
        let mut deltas: Vec<&Crl> = Vec::new();
        let mut any_named = false;

        for crl in self.crls {
            if !names_match(crl.issuer_name(), issuer_name) {
                continue;
            }
            any_named = true;
            match self.check_crl(crl, issuer, issuer_key, issuer_name, crl_depth) {
                Ok(()) => {}
                Err(p) => {
                    problems.push(p);
                    continue;
                }
            }
            if let Some(what) = crl.unknown_critical_extension() {
                problems.push(UnknownReason::UnknownCriticalExtension(what.to_string()));
                continue;
            }
            if crl.this_update() > self.time {
                problems.push(UnknownReason::NotYetIssued {
                    this_update: crl.this_update(),
                });
                continue;
            }
            match crl.next_update() {
                None => {
                    problems.push(UnknownReason::NoNextUpdate);
                    continue;
                }
                Some(next_update) if self.time > next_update => {
                    problems.push(UnknownReason::Stale { next_update });
                    continue;
                }
                Some(_) => {}
            }
            if crl.delta_base().is_some() {
                deltas.push(crl);
            } else {
                fulls.push(crl);
            }
        }

        // The newest full CRL(s).
        let key = |c: &Crl| (c.number(), c.this_update());
        let newest = fulls.iter().map(|c| key(c)).max();
        let bases: Vec<&Crl> = fulls
            .into_iter()
            .filter(|c| Some(key(c)) == newest)
            .collect();
        let Some(base_number) = newest.map(|(n, _)| n) else {
            // No usable full CRL: a usable delta that lists the certificate still proves it.
            for d in &deltas {
                if let Some(r) = crl_entry(d, serial)
                    && r.reason != RevocationReason::RemoveFromCrl
                {
                    return Status::Revoked(r);
                }
            }
            if !deltas.is_empty() {
                problems.push(UnknownReason::DeltaWithoutBase);
            }
            if !any_named {
                problems.push(self.unnamed_problem(issuer_name, issuer_key));
            }
            let reason = problems
                .into_iter()
                .min_by_key(UnknownReason::specificity)
                .unwrap_or_else(|| UnknownReason::NoCrl {
                    issuer: issuer_name.to_string(),
                });
            return Status::Unknown(reason);
        };
        let delta = base_number.and_then(|bn| {
            deltas
                .iter()
                .filter(|d| d.delta_base().is_some_and(|b| b <= bn))
                .filter(|d| d.number().is_some_and(|n| n > bn))
                .max_by_key(|d| d.number())
        });
        if let Some(r) = delta.and_then(|d| crl_entry(d, serial)) {
            return if r.reason == RevocationReason::RemoveFromCrl {
                Status::Good
            } else {
                Status::Revoked(r)
            };
        }
        for b in bases {
            if let Some(r) = crl_entry(b, serial)
                && r.reason != RevocationReason::RemoveFromCrl
            {
                return Status::Revoked(r);
            }
        }
        Status::Good
    }

    /// Authenticates `crl` (whose issuer name matches): by the issuer's key, or by a separate
    /// CRL-signing certificate of the same name that validates.
    fn check_crl(
        &self,
        crl: &Crl,
        issuer: &Entry<'_>,
        issuer_key: Option<&SignerKey>,
        issuer_name: &Name,
        crl_depth: usize,
    ) -> Result<(), UnknownReason> {
        let legacy_ok = self.options.allow_legacy;
        let mut legacy = None;
        if let Some(key) = issuer_key {
            match crl_signature(crl, key, legacy_ok) {
                Ok(()) => {
                    let ku = issuer.facts.as_ref().ok().and_then(|f| f.key_usage);
                    return if ku.is_some_and(|ku| !ku.crl_sign()) {
                        Err(UnknownReason::IssuerCannotSignCrls)
                    } else {
                        Ok(())
                    };
                }
                Err(SigFailure::Legacy(a)) => legacy = Some(a),
                Err(_) => {}
            }
        }
        // A separate CRL-signing certificate with the issuer's name.
        let mut signer_problem = None;
        for (i, e) in self.pool.entries.iter().enumerate() {
            if core::ptr::eq(e.cert, issuer.cert)
                || !names_match(e.cert.tbs_certificate().subject(), issuer_name)
            {
                continue;
            }
            let Ok(facts) = &e.facts else { continue };
            if facts.key_usage.is_some_and(|ku| !ku.crl_sign()) {
                continue;
            }
            let Ok(key) = SignerKey::of(e.cert, None) else {
                continue;
            };
            if crl_signature(crl, &key, legacy_ok).is_err() {
                continue;
            }
            if crl_depth >= MAX_CRL_SIGNER_DEPTH {
                signer_problem = Some(UnknownReason::CrlSignerInvalid(
                    "CRL-signing certificates are nested too deeply".into(),
                ));
                continue;
            }
            let v = self.validate_from(i, Purpose::Any, crl_depth + 1);
            if v.verdict.is_valid() {
                return Ok(());
            }
            signer_problem = Some(UnknownReason::CrlSignerInvalid(v.verdict.to_string()));
        }
        if let Some(p) = signer_problem {
            return Err(p);
        }
        Err(match legacy {
            Some(a) => UnknownReason::LegacyCrlSignature(a.into()),
            None => UnknownReason::BadCrlSignature,
        })
    }

    /// Why no CRL names the issuer: a CRL signed by the issuer's key under another name, or
    /// simply none.
    fn unnamed_problem(&self, issuer_name: &Name, issuer_key: Option<&SignerKey>) -> UnknownReason {
        if let Some(key) = issuer_key {
            for crl in self.crls {
                if crl_signature(crl, key, true).is_ok() {
                    return UnknownReason::WrongCrlIssuer {
                        crl_issuer: crl.issuer(),
                    };
                }
            }
        }
        UnknownReason::NoCrl {
            issuer: issuer_name.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_design() {
        let id = CertId {
            depth: 0,
            subject: "CN=a".into(),
            serial: "01".into(),
        };
        let t = SystemTime::UNIX_EPOCH;
        let cases = [
            (Verdict::Valid, 0, "valid"),
            (Verdict::Tampered, 10, "tampered"),
            (
                Verdict::Revoked {
                    certificate: id.clone(),
                    revoked_at: t,
                    reason: RevocationReason::KeyCompromise,
                    signed_before_revocation: Some(true),
                },
                11,
                "revoked",
            ),
            (
                Verdict::Expired {
                    certificate: id.clone(),
                    not_after: t,
                },
                12,
                "expired",
            ),
            (
                Verdict::NotYetValid {
                    certificate: id.clone(),
                    not_before: t,
                },
                13,
                "not-yet-valid",
            ),
            (
                Verdict::Untrusted {
                    certificate: None,
                    reason: UntrustedReason::NoPath {
                        issuer: "CN=x".into(),
                    },
                },
                14,
                "untrusted",
            ),
            (
                Verdict::RevocationUnknown {
                    certificate: id,
                    reason: UnknownReason::NoCrl {
                        issuer: "CN=x".into(),
                    },
                },
                15,
                "revocation-unknown",
            ),
        ];
        for (v, code, name) in cases {
            assert_eq!(v.exit_code(), code);
            assert_eq!(v.name(), name);
            let text = v.to_string();
            let first = name.split('-').next().unwrap_or_default();
            assert!(text.starts_with(first), "{text} should start with {first}");
        }
    }

    #[test]
    fn revoked_sentence_says_when_and_whether_signed_before() {
        let v = Verdict::Revoked {
            certificate: CertId {
                depth: 0,
                subject: "CN=alice".into(),
                serial: "0a".into(),
            },
            revoked_at: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600),
            reason: RevocationReason::KeyCompromise,
            signed_before_revocation: Some(false),
        };
        let text = v.to_string();
        assert!(text.contains("2026-01-01T00:00:00Z"), "{text}");
        assert!(text.contains("keyCompromise"), "{text}");
        assert!(text.contains("signed after"), "{text}");
        assert!(text.contains("CN=alice"), "{text}");
    }
}
