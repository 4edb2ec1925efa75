//! The pre-issuance lint: a certificate's to-be-signed form checked against its S/MIME
//! Baseline Requirements profile (`crate::profile::SbrProfile`) before the CA signs it, and
//! the same checks on any certificate (`kmsctl cert lint`). A finding names its rule
//! (`sbr.key_usage`, ...); an error-level finding refuses issuance (`PKI-120`).
//!
//! The rules, condensed from the CA/Browser Forum S/MIME Baseline Requirements (SBR 1.0.x,
//! `cabforum/smime`, `SBR.md`; the section is named where it matters):
//!
//! | rule | what it checks |
//! |---|---|
//! | `sbr.version` | X.509 v3 |
//! | `sbr.serial` | positive, at most 20 octets (RFC 5280 §4.1.2.2; SBR §7.1) |
//! | `sbr.signature_algorithm` | sha256/384/512WithRSAEncryption with NULL parameters, byte for byte (§7.1.3.2) |
//! | `sbr.public_key` | rsaEncryption with NULL parameters; modulus >= 2048 bits and a multiple of 8; odd exponent >= 3 (§6.1.5, §6.1.6) |
//! | `sbr.validity` | at most 825 days, a day being 86 400 s and any extra second a day (§6.3.2) |
//! | `sbr.extensions.unique` | no extension twice (RFC 5280 §4.2) |
//! | `sbr.basic_constraints` | subscriber: cA false (or absent), no pathLenConstraint; CA: present, critical, cA true |
//! | `sbr.key_usage` | present and critical; signing-only: digitalSignature (+ nonRepudiation); key-management-only: keyEncipherment (+ dataEncipherment only multipurpose); CA: keyCertSign + cRLSign (+ digitalSignature) (§7.1.2.3 e) |
//! | `sbr.ext_key_usage` | present, emailProtection; strict: nothing else; never serverAuth, codeSigning, timeStamping, anyExtendedKeyUsage (§7.1.2.3 f) |
//! | `sbr.certificate_policies` | present, not critical, exactly one reserved 2.23.140.1.5.x.y, of the profile; generation 1 (legacy) refused; no anyPolicy; a CPS qualifier is an http(s) URL (§7.1.2.3 a, §7.1.6.1) |
//! | `sbr.crl_distribution_points` | present, not critical, every URI `http://` (§7.1.2.3 b) |
//! | `sbr.authority_info_access` | not critical; caIssuers and OCSP URIs `http://`; absent is a warning (§7.1.2.3 c) |
//! | `sbr.authority_key_identifier` | present, not critical, keyIdentifier only (§7.1.2.3 g) |
//! | `sbr.subject_key_identifier` | present, not critical (a warning when absent) |
//! | `sbr.subject_alt_name` | present; rfc822Name entries only (here); critical only with an empty subject (§7.1.2.3 h) |
//! | `sbr.subject_directory_attributes` | absent in strict and multipurpose (§7.1.2.3 j) |
//! | `sbr.smime_capabilities` | not critical |
//! | `sbr.subject` | mailbox-validated: only commonName (an address from the SAN), emailAddress (from the SAN), serialNumber; sponsor-validated: organizationName present; commonName an address from the SAN, the pseudonym, or givenName + surname (both present); pseudonym and givenName/surname not together (§7.1.4.2) |
//! | `sbr.subject.person_name`, `sbr.subject.organization`, `sbr.subject.organization_identifier` | (when the subject is built) the data a sponsored profile needs is on record: the person's given name and surname (or pseudonym), the organisation's name and its organizationIdentifier (`NTRGB-12345678`: scheme NTR/VAT/PSD/LEI/GOV/INT, country, `-`, reference; §7.1.4.2.2 d) |
//! | `sbr.ca.key_size` | a CA's RSA key has at least 4096 bits (ballot SMC017; a warning: keys made before 15 Sep 2026 may be smaller) |
//! | `sbr.ca.ext_key_usage` | a CA certificate's EKU, if any, has emailProtection and none of the forbidden purposes |
//! | `sbr.profile` | the certificate's reserved policy says which profile it is; given another, the lint says so |

use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::certpolicy::CertificatePolicies;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints,
    ExtendedKeyUsage, KeyUsage, SubjectAltName,
};

use crate::algorithms::oid;
use crate::certificate::emails_match;
use crate::error::{Error, Result};
use crate::profile::{Generation, Profile, SbrProfile, Validation, ku, sbr_oid};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Allowed, but not recommended.
    Warning,
    /// A requirement is broken: issuance is refused.
    Error,
}

impl Severity {
    /// `ERROR` or `WARNING`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
        }
    }
}

/// One broken (or bent) rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule's name (`sbr.key_usage`, ...).
    pub rule: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in a sentence.
    pub message: String,
}

/// What the certificate is meant to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A CA certificate.
    Ca,
    /// An S/MIME signing-only certificate.
    Signing,
    /// An S/MIME key-management-only (encryption) certificate.
    Encryption,
}

impl Kind {
    /// `ca`, `signing` or `encryption`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ca => "ca",
            Kind::Signing => "signing",
            Kind::Encryption => "encryption",
        }
    }
}

/// The result of linting one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// What the certificate was judged as.
    pub kind: Kind,
    /// The profile it was judged against (`None` for a CA certificate, or a subscriber
    /// certificate whose profile could not be told).
    pub profile: Option<SbrProfile>,
    /// Every finding, errors first.
    pub findings: Vec<Finding>,
}

impl Report {
    /// True when no finding is an error.
    pub fn passes(&self) -> bool {
        self.findings.iter().all(|f| f.severity != Severity::Error)
    }

    /// The first error as a [`Error::Lint`], if any.
    pub fn first_error(&self) -> Option<Error> {
        self.findings
            .iter()
            .find(|f| f.severity == Severity::Error)
            .map(|f| Error::Lint {
                rule: f.rule,
                detail: f.message.clone(),
            })
    }
}

/// Lints a certificate: its kind from basicConstraints and keyUsage, its profile from
/// `profile` or else from its reserved policy identifier.
pub fn lint_certificate(cert: &Certificate, profile: Option<SbrProfile>) -> Report {
    let tbs = cert.tbs_certificate();
    let mut report = lint_tbs(tbs, guess_kind(tbs), profile);
    if cert.signature_algorithm() != tbs.signature() {
        report.findings.insert(
            0,
            Finding {
                rule: "sbr.signature_algorithm",
                severity: Severity::Error,
                message: "the outer signatureAlgorithm differs from the TBSCertificate's".into(),
            },
        );
    }
    report
}

/// Lints a to-be-signed certificate as `kind` (under `profile`, or the one its policy
/// names).
pub fn lint_tbs(tbs: &TbsCertificate, kind: Kind, profile: Option<SbrProfile>) -> Report {
    let mut l = Lint::default();
    let policy_profile = policy_profile(tbs);
    // The rules are the canonical profile's of the same policy, never the data a caller
    // passed in: a profile value with a wrong key usage is caught, not trusted.
    let profile = match kind {
        Kind::Ca => None,
        _ => profile
            .map(|p| SbrProfile::by_policy(&p.policy).unwrap_or(p))
            .or(policy_profile),
    };
    if let (Some(p), Some(q)) = (profile, policy_profile)
        && p != q
    {
        l.err(
            "sbr.profile",
            format!(
                "the certificate's policy {} is the {} profile's, not {}'s ({})",
                q.policy, q.name, p.name, p.policy
            ),
        );
    }
    common(&mut l, tbs);
    match kind {
        Kind::Ca => ca(&mut l, tbs),
        _ => subscriber(&mut l, tbs, kind == Kind::Encryption, profile),
    }
    let mut findings = l.0;
    findings.sort_by(|a, b| b.severity.cmp(&a.severity));
    Report {
        kind,
        profile,
        findings,
    }
}

/// The pre-issuance check the issuer runs on the DER TBSCertificate it is about to sign:
/// the first error-level finding refuses issuance.
///
/// S/MIME profiles with an [`SbrProfile`] (every one the authority issues) get every rule.
/// A CA certificate gets the CA rules; with a legacy digest (SHA-1, MD5: asked for
/// explicitly, by interoperability tests only; the authority signs with SHA-256) the
/// algorithm and key rules are left out. Profiles outside the SBR (the TLS server
/// certificate, fixtures without an `SbrProfile`) get the algorithm and key rules unless
/// the digest is legacy, and always the serial and extension-uniqueness rules.
pub(crate) fn check_before_signing(
    tbs_der: &[u8],
    profile: &Profile,
    digest: crate::algorithms::DigestAlgorithm,
) -> Result<()> {
    use crate::algorithms::DigestAlgorithm;
    let tbs = TbsCertificate::from_der(tbs_der).map_err(Error::der("certificate to be signed"))?;
    let legacy = matches!(digest, DigestAlgorithm::Sha1 | DigestAlgorithm::Md5);
    let algorithm_rules = |f: &Finding| {
        matches!(
            f.rule,
            "sbr.signature_algorithm" | "sbr.public_key" | "sbr.ca.key_size"
        )
    };
    let mut report = match profile {
        Profile::SmimeSigning(s) if s.sbr.is_some() => lint_tbs(&tbs, Kind::Signing, s.sbr),
        Profile::SmimeEncryption(s) if s.sbr.is_some() => lint_tbs(&tbs, Kind::Encryption, s.sbr),
        Profile::Ca { .. } => {
            let mut r = lint_tbs(&tbs, Kind::Ca, None);
            if legacy {
                r.findings.retain(|f| !algorithm_rules(f));
            }
            r
        }
        _ => {
            let mut l = Lint::default();
            common(&mut l, &tbs);
            Report {
                kind: Kind::Signing,
                profile: None,
                findings: l.0,
            }
        }
    };
    if legacy
        && !matches!(profile, Profile::SmimeSigning(s) | Profile::SmimeEncryption(s) if s.sbr.is_some())
    {
        report.findings.retain(|f| !algorithm_rules(f));
    }
    match report.first_error() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// CA when basicConstraints says cA; encryption when keyUsage has keyEncipherment without
/// digitalSignature; else signing.
pub fn guess_kind(tbs: &TbsCertificate) -> Kind {
    if let Some(bc) = find::<BasicConstraints>(tbs) {
        if bc.ca {
            return Kind::Ca;
        }
    }
    match find::<KeyUsage>(tbs) {
        Some(k) if k.key_encipherment() && !k.digital_signature() => Kind::Encryption,
        _ => Kind::Signing,
    }
}

fn policy_profile(tbs: &TbsCertificate) -> Option<SbrProfile> {
    let cp = find::<CertificatePolicies>(tbs)?;
    cp.0.iter()
        .find_map(|p| SbrProfile::by_policy(&p.policy_identifier))
}

#[derive(Default)]
struct Lint(Vec<Finding>);

impl Lint {
    fn err(&mut self, rule: &'static str, message: impl Into<String>) {
        self.0.push(Finding {
            rule,
            severity: Severity::Error,
            message: message.into(),
        });
    }
    fn warn(&mut self, rule: &'static str, message: impl Into<String>) {
        self.0.push(Finding {
            rule,
            severity: Severity::Warning,
            message: message.into(),
        });
    }
}

fn extension(tbs: &TbsCertificate, id: der::oid::ObjectIdentifier) -> Option<&Extension> {
    tbs.extensions()?.iter().find(|e| e.extn_id == id)
}

fn find<T: der::oid::AssociatedOid + for<'a> Decode<'a>>(tbs: &TbsCertificate) -> Option<T> {
    extension(tbs, T::OID).and_then(|e| T::from_der(e.extn_value.as_bytes()).ok())
}

/// The extension `T` when present: `Ok(None)` when absent, an error finding when it does
/// not decode.
fn read<T: der::oid::AssociatedOid + for<'a> Decode<'a>>(
    l: &mut Lint,
    tbs: &TbsCertificate,
    rule: &'static str,
) -> Option<(bool, T)> {
    let e = extension(tbs, T::OID)?;
    match T::from_der(e.extn_value.as_bytes()) {
        Ok(v) => Some((e.critical, v)),
        Err(err) => {
            l.err(
                rule,
                format!("the extension {} is malformed: {err}", T::OID),
            );
            None
        }
    }
}

/// The DER of the AlgorithmIdentifiers the SBR allows for RSA PKCS#1 v1.5 signatures.
const SIGNATURE_ENCODINGS: [(&str, &[u8]); 3] = [
    (
        "sha256WithRSAEncryption",
        &[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05,
            0x00,
        ],
    ),
    (
        "sha384WithRSAEncryption",
        &[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05,
            0x00,
        ],
    ),
    (
        "sha512WithRSAEncryption",
        &[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05,
            0x00,
        ],
    ),
];

/// rsaEncryption with NULL parameters.
const RSA_SPKI_ALGORITHM: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

fn common(l: &mut Lint, tbs: &TbsCertificate) {
    if tbs.version() != x509_cert::certificate::Version::V3 {
        l.err("sbr.version", "the certificate is not X.509 version 3");
    }
    let serial = tbs.serial_number().as_bytes();
    if serial.len() > 20 || serial.first().is_some_and(|b| b & 0x80 != 0) {
        l.err(
            "sbr.serial",
            "the serial number must be positive and at most 20 octets",
        );
    } else if serial.iter().all(|b| *b == 0) {
        l.err("sbr.serial", "the serial number is zero");
    }
    match tbs.signature().to_der() {
        Ok(d) if SIGNATURE_ENCODINGS.iter().any(|(_, e)| *e == d.as_slice()) => {}
        _ => l.err(
            "sbr.signature_algorithm",
            format!(
                "the signature algorithm {} is not encoded as the SBR lists it \
                 (sha256/384/512WithRSAEncryption with NULL parameters)",
                tbs.signature().oid
            ),
        ),
    }
    let spki = tbs.subject_public_key_info();
    match spki.algorithm.to_der() {
        Ok(d) if d == RSA_SPKI_ALGORITHM => {
            match pkcs1::RsaPublicKeyRef::from_der(spki.subject_public_key.raw_bytes()) {
                Ok(k) => {
                    let n = k.modulus.as_bytes();
                    let bits = n.len() * 8 - n.first().map_or(0, |b| b.leading_zeros() as usize);
                    if bits < 2048 || bits % 8 != 0 {
                        l.err(
                            "sbr.public_key",
                            format!("RSA-{bits}: the modulus must be at least 2048 bits and a multiple of 8"),
                        );
                    }
                    let e = k.public_exponent.as_bytes();
                    let odd = e.last().is_some_and(|b| b & 1 == 1);
                    let at_least_3 = e.len() > 1 || e.first().is_some_and(|b| *b >= 3);
                    if !odd || !at_least_3 {
                        l.err(
                            "sbr.public_key",
                            "the RSA public exponent must be odd and at least 3",
                        );
                    }
                }
                Err(e) => l.err("sbr.public_key", format!("the RSA key is malformed: {e}")),
            }
        }
        _ => l.err(
            "sbr.public_key",
            format!(
                "the key algorithm {} is not rsaEncryption with NULL parameters",
                spki.algorithm.oid
            ),
        ),
    }
    let mut seen = std::collections::BTreeSet::new();
    for e in tbs.extensions().into_iter().flatten() {
        if !seen.insert(e.extn_id) {
            l.err(
                "sbr.extensions.unique",
                format!("the extension {} appears twice", e.extn_id),
            );
        }
    }
}

fn validity_days(tbs: &TbsCertificate) -> Option<u64> {
    let nb = tbs.validity().not_before.to_unix_duration().as_secs();
    let na = tbs.validity().not_after.to_unix_duration().as_secs();
    // RFC 5280 validity is inclusive of both ends: one more second than the difference.
    let secs = na.checked_sub(nb)?.saturating_add(1);
    Some(secs.div_ceil(86_400))
}

fn ca(l: &mut Lint, tbs: &TbsCertificate) {
    match read::<BasicConstraints>(l, tbs, "sbr.basic_constraints") {
        Some((true, bc)) if bc.ca => {}
        Some((false, _)) => l.err(
            "sbr.basic_constraints",
            "a CA certificate's basicConstraints must be critical",
        ),
        _ => l.err(
            "sbr.basic_constraints",
            "a CA certificate needs basicConstraints with cA true",
        ),
    }
    match read::<KeyUsage>(l, tbs, "sbr.key_usage") {
        Some((critical, k)) => {
            if !critical {
                l.err("sbr.key_usage", "keyUsage must be critical");
            }
            let bits = k.0.bits();
            let required = ku::KEY_CERT_SIGN | ku::CRL_SIGN;
            let allowed = required | ku::DIGITAL_SIGNATURE;
            check_bits(l, bits, required, allowed, "a CA certificate");
        }
        None => l.err("sbr.key_usage", "a CA certificate needs keyUsage"),
    }
    if extension(
        tbs,
        <x509_cert::ext::pkix::SubjectKeyIdentifier as der::oid::AssociatedOid>::OID,
    )
    .is_none()
    {
        l.err(
            "sbr.subject_key_identifier",
            "a CA certificate needs subjectKeyIdentifier",
        );
    }
    if let Some((_, aki)) = read::<AuthorityKeyIdentifier>(l, tbs, "sbr.authority_key_identifier")
        && (aki.key_identifier.is_none()
            || aki.authority_cert_issuer.is_some()
            || aki.authority_cert_serial_number.is_some())
    {
        l.err(
            "sbr.authority_key_identifier",
            "authorityKeyIdentifier must hold the keyIdentifier only",
        );
    }
    if let Some((_, eku)) = read::<ExtendedKeyUsage>(l, tbs, "sbr.ca.ext_key_usage") {
        if !eku.0.contains(&oid::KP_EMAIL_PROTECTION) {
            l.err(
                "sbr.ca.ext_key_usage",
                "a CA certificate's extKeyUsage must include emailProtection",
            );
        }
        forbidden_ekus(l, &eku, "sbr.ca.ext_key_usage");
    }
    if let Ok(k) = pkcs1::RsaPublicKeyRef::from_der(
        tbs.subject_public_key_info().subject_public_key.raw_bytes(),
    ) {
        let n = k.modulus.as_bytes();
        let bits = n.len() * 8 - n.first().map_or(0, |b| b.leading_zeros() as usize);
        if bits < 4096 {
            l.warn(
                "sbr.ca.key_size",
                format!("RSA-{bits}: CA keys made after 15 Sep 2026 must have at least 4096 bits"),
            );
        }
    }
}

fn check_bits(l: &mut Lint, bits: u16, required: u16, allowed: u16, what: &str) {
    let names = |mask: u16| -> String {
        (0..9)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| ku::NAMES[i])
            .collect::<Vec<_>>()
            .join(", ")
    };
    let extra = bits & !allowed;
    if extra != 0 {
        l.err(
            "sbr.key_usage",
            format!("{} is not allowed in {what}", names(extra)),
        );
    }
    let missing = required & !bits;
    if missing != 0 {
        l.err(
            "sbr.key_usage",
            format!("{} is required in {what}", names(missing)),
        );
    }
}

fn forbidden_ekus(l: &mut Lint, eku: &ExtendedKeyUsage, rule: &'static str) {
    for (id, name) in [
        (sbr_oid::KP_SERVER_AUTH, "serverAuth"),
        (sbr_oid::KP_CODE_SIGNING, "codeSigning"),
        (sbr_oid::KP_TIME_STAMPING, "timeStamping"),
        (sbr_oid::ANY_EKU, "anyExtendedKeyUsage"),
    ] {
        if eku.0.contains(&id) {
            l.err(rule, format!("extKeyUsage must not include {name}"));
        }
    }
}

fn is_http(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
        && url.len() > 7
}

fn subscriber(l: &mut Lint, tbs: &TbsCertificate, encryption: bool, profile: Option<SbrProfile>) {
    let what = if encryption {
        "an encryption (key-management-only) certificate"
    } else {
        "a signing-only certificate"
    };
    // basicConstraints
    if let Some((_, bc)) = read::<BasicConstraints>(l, tbs, "sbr.basic_constraints")
        && (bc.ca || bc.path_len_constraint.is_some())
    {
        l.err(
            "sbr.basic_constraints",
            "a subscriber certificate must have cA false and no pathLenConstraint",
        );
    }
    // keyUsage
    match read::<KeyUsage>(l, tbs, "sbr.key_usage") {
        Some((critical, k)) => {
            if !critical {
                l.err("sbr.key_usage", "keyUsage must be critical");
            }
            let (rule, strictness) = match profile {
                Some(p) => (
                    p.key_usage(encryption),
                    match p.generation {
                        Generation::Strict => "strict",
                        Generation::Multipurpose => "multipurpose",
                    },
                ),
                None => (
                    SbrProfile::MAILBOX_MULTIPURPOSE.key_usage(encryption),
                    "multipurpose",
                ),
            };
            let kind = if encryption { "encryption" } else { "signing" };
            check_bits(
                l,
                k.0.bits(),
                rule.required,
                rule.allowed,
                &format!("a {strictness} {kind} certificate"),
            );
        }
        None => l.err("sbr.key_usage", format!("{what} needs keyUsage")),
    }
    // extKeyUsage
    match read::<ExtendedKeyUsage>(l, tbs, "sbr.ext_key_usage") {
        Some((critical, eku)) => {
            if critical {
                l.warn("sbr.ext_key_usage", "extKeyUsage should not be critical");
            }
            if !eku.0.contains(&oid::KP_EMAIL_PROTECTION) {
                l.err(
                    "sbr.ext_key_usage",
                    "extKeyUsage must include emailProtection",
                );
            }
            forbidden_ekus(l, &eku, "sbr.ext_key_usage");
            let strict = profile.is_some_and(|p| p.generation == Generation::Strict);
            if strict && eku.0.iter().any(|id| *id != oid::KP_EMAIL_PROTECTION) {
                l.err(
                    "sbr.ext_key_usage",
                    "a strict certificate's extKeyUsage is emailProtection only",
                );
            }
        }
        None => l.err(
            "sbr.ext_key_usage",
            "extKeyUsage (emailProtection) is required",
        ),
    }
    // certificatePolicies
    match read::<CertificatePolicies>(l, tbs, "sbr.certificate_policies") {
        Some((critical, cp)) => {
            if critical {
                l.err(
                    "sbr.certificate_policies",
                    "certificatePolicies must not be critical",
                );
            }
            let reserved: Vec<_> =
                cp.0.iter()
                    .filter(|p| {
                        p.policy_identifier.parent().and_then(|v| v.parent())
                            == Some(sbr_oid::SMIME_ARC)
                    })
                    .collect();
            match reserved.as_slice() {
                [one] => {
                    if SbrProfile::by_policy(&one.policy_identifier).is_none() {
                        l.err(
                            "sbr.certificate_policies",
                            format!(
                                "the policy {} is not one this system issues (the legacy \
                                 generation may no longer be used)",
                                one.policy_identifier
                            ),
                        );
                    }
                }
                [] => l.err(
                    "sbr.certificate_policies",
                    "no reserved S/MIME policy identifier (2.23.140.1.5.x.y)",
                ),
                _ => l.err(
                    "sbr.certificate_policies",
                    "more than one reserved S/MIME policy identifier",
                ),
            }
            for p in &cp.0 {
                if p.policy_identifier == sbr_oid::ANY_POLICY {
                    l.err(
                        "sbr.certificate_policies",
                        "anyPolicy is not allowed in a subscriber certificate",
                    );
                }
                for q in p.policy_qualifiers.iter().flatten() {
                    if q.policy_qualifier_id == sbr_oid::QT_CPS {
                        let url = q
                            .qualifier
                            .as_ref()
                            .and_then(|a| a.decode_as::<der::asn1::Ia5String>().ok())
                            .map(|s| s.to_string())
                            .unwrap_or_default();
                        let lower = url.to_ascii_lowercase();
                        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                            l.err(
                                "sbr.certificate_policies",
                                "a CPS qualifier must be an http:// or https:// URL",
                            );
                        }
                    }
                }
            }
        }
        None => l.err(
            "sbr.certificate_policies",
            "certificatePolicies with a reserved S/MIME policy identifier is required",
        ),
    }
    // cRLDistributionPoints
    match read::<CrlDistributionPoints>(l, tbs, "sbr.crl_distribution_points") {
        Some((critical, dps)) => {
            if critical {
                l.err(
                    "sbr.crl_distribution_points",
                    "cRLDistributionPoints must not be critical",
                );
            }
            let uris = dp_uris(&dps.0);
            if uris.is_empty() {
                l.err(
                    "sbr.crl_distribution_points",
                    "cRLDistributionPoints names no URI",
                );
            }
            for u in uris.iter().filter(|u| !is_http(u)) {
                l.err(
                    "sbr.crl_distribution_points",
                    format!("the CRL URI {u} is not http://"),
                );
            }
        }
        None => l.err(
            "sbr.crl_distribution_points",
            "cRLDistributionPoints is required",
        ),
    }
    // authorityInformationAccess
    match read::<AuthorityInfoAccessSyntax>(l, tbs, "sbr.authority_info_access") {
        Some((critical, aia)) => {
            if critical {
                l.err(
                    "sbr.authority_info_access",
                    "authorityInformationAccess must not be critical",
                );
            }
            for ad in &aia.0 {
                let known = ad.access_method == sbr_oid::AD_OCSP
                    || ad.access_method == sbr_oid::AD_CA_ISSUERS;
                if !known {
                    l.err(
                        "sbr.authority_info_access",
                        format!(
                            "the access method {} is not OCSP or caIssuers",
                            ad.access_method
                        ),
                    );
                }
                match &ad.access_location {
                    GeneralName::UniformResourceIdentifier(u) if is_http(u.as_str()) => {}
                    other => l.err(
                        "sbr.authority_info_access",
                        format!("the access location {other:?} is not an http:// URI"),
                    ),
                }
            }
        }
        None => l.warn(
            "sbr.authority_info_access",
            "authorityInformationAccess (caIssuers, OCSP) should be present",
        ),
    }
    // authorityKeyIdentifier
    match read::<AuthorityKeyIdentifier>(l, tbs, "sbr.authority_key_identifier") {
        Some((critical, aki)) => {
            if critical {
                l.err(
                    "sbr.authority_key_identifier",
                    "authorityKeyIdentifier must not be critical",
                );
            }
            if aki.key_identifier.is_none()
                || aki.authority_cert_issuer.is_some()
                || aki.authority_cert_serial_number.is_some()
            {
                l.err(
                    "sbr.authority_key_identifier",
                    "authorityKeyIdentifier must hold the keyIdentifier only",
                );
            }
        }
        None => l.err(
            "sbr.authority_key_identifier",
            "authorityKeyIdentifier is required",
        ),
    }
    // subjectKeyIdentifier
    match extension(
        tbs,
        <x509_cert::ext::pkix::SubjectKeyIdentifier as der::oid::AssociatedOid>::OID,
    ) {
        Some(e) if e.critical => l.err(
            "sbr.subject_key_identifier",
            "subjectKeyIdentifier must not be critical",
        ),
        Some(_) => {}
        None => l.warn(
            "sbr.subject_key_identifier",
            "subjectKeyIdentifier should be present",
        ),
    }
    if extension(tbs, sbr_oid::SUBJECT_DIRECTORY_ATTRIBUTES).is_some() {
        l.err(
            "sbr.subject_directory_attributes",
            "subjectDirectoryAttributes is not allowed in strict and multipurpose certificates",
        );
    }
    if extension(tbs, oid::SMIME_CAPABILITIES).is_some_and(|e| e.critical) {
        l.err(
            "sbr.smime_capabilities",
            "smimeCapabilities must not be critical",
        );
    }
    // validity
    match validity_days(tbs) {
        Some(days) => {
            let max = profile.map_or(825, |p| p.max_validity_days);
            if days > max {
                l.err(
                    "sbr.validity",
                    format!("the validity is {days} days, more than {max}"),
                );
            }
        }
        None => l.err("sbr.validity", "notAfter is before notBefore"),
    }
    // subjectAltName and subject
    let mut san_emails = Vec::new();
    let subject_empty = tbs.subject().is_empty();
    match read::<SubjectAltName>(l, tbs, "sbr.subject_alt_name") {
        Some((critical, san)) => {
            if critical && !subject_empty {
                l.err(
                    "sbr.subject_alt_name",
                    "subjectAltName must not be critical when the subject is not empty",
                );
            }
            for n in &san.0 {
                match n {
                    GeneralName::Rfc822Name(s) => san_emails.push(s.to_string()),
                    GeneralName::OtherName(_) => {}
                    other => l.err(
                        "sbr.subject_alt_name",
                        format!(
                            "subjectAltName holds {other:?}; only mailbox addresses are allowed"
                        ),
                    ),
                }
            }
            if san_emails.is_empty() {
                l.err("sbr.subject_alt_name", "subjectAltName names no mailbox");
            }
        }
        None => l.err(
            "sbr.subject_alt_name",
            "subjectAltName with the mailbox address is required",
        ),
    }
    subject(l, tbs, profile, &san_emails);
}

fn dp_uris(dps: &[DistributionPoint]) -> Vec<String> {
    let mut out = Vec::new();
    for dp in dps {
        if let Some(DistributionPointName::FullName(names)) = &dp.distribution_point {
            for n in names {
                if let GeneralName::UniformResourceIdentifier(u) = n {
                    out.push(u.to_string());
                }
            }
        }
    }
    out
}

/// Subject attribute OIDs not otherwise named in `sbr_oid`.
const SERIAL_NUMBER: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("2.5.4.5");
const SPONSORED_ALLOWED: [&str; 13] = [
    "2.5.4.97",             // organizationIdentifier
    "2.5.4.3",              // commonName
    "2.5.4.4",              // surname
    "2.5.4.5",              // serialNumber
    "2.5.4.6",              // countryName
    "2.5.4.7",              // localityName
    "2.5.4.8",              // stateOrProvinceName
    "2.5.4.10",             // organizationName
    "2.5.4.11",             // organizationalUnitName (deprecated, still allowed)
    "2.5.4.12",             // title
    "2.5.4.42",             // givenName
    "2.5.4.65",             // pseudonym
    "1.2.840.113549.1.9.1", // emailAddress
];

fn attr_text(value: &der::Any) -> Option<String> {
    if let Ok(s) = value.decode_as::<der::asn1::Utf8StringRef<'_>>() {
        return Some(s.to_string());
    }
    if let Ok(s) = value.decode_as::<der::asn1::PrintableStringRef<'_>>() {
        return Some(s.to_string());
    }
    if let Ok(s) = value.decode_as::<der::asn1::Ia5StringRef<'_>>() {
        return Some(s.to_string());
    }
    None
}

fn subject(l: &mut Lint, tbs: &TbsCertificate, profile: Option<SbrProfile>, san: &[String]) {
    let mut attrs: Vec<(der::oid::ObjectIdentifier, Option<String>)> = Vec::new();
    for atv in tbs.subject().iter() {
        attrs.push((atv.oid, attr_text(&atv.value)));
    }
    let values = |id: der::oid::ObjectIdentifier| -> Vec<String> {
        attrs
            .iter()
            .filter(|(o, _)| *o == id)
            .filter_map(|(_, v)| v.clone())
            .collect()
    };
    let in_san = |addr: &str| san.iter().any(|s| emails_match(s, addr));
    for addr in values(oid::EMAIL_ADDRESS) {
        if !in_san(&addr) {
            l.err(
                "sbr.subject",
                format!("the subject's emailAddress {addr} is not in subjectAltName"),
            );
        }
    }
    let Some(profile) = profile else {
        return;
    };
    let cns = values(sbr_oid::CN);
    match profile.validation {
        Validation::Mailbox => {
            for (id, _) in &attrs {
                if *id != sbr_oid::CN && *id != oid::EMAIL_ADDRESS && *id != SERIAL_NUMBER {
                    l.err(
                        "sbr.subject",
                        format!(
                            "the attribute {id} is not allowed in a mailbox-validated subject \
                             (only commonName, emailAddress, serialNumber)"
                        ),
                    );
                }
            }
            for cn in &cns {
                if !in_san(cn) {
                    l.err(
                        "sbr.subject",
                        format!(
                            "a mailbox-validated commonName must be an address from \
                             subjectAltName, not \"{cn}\""
                        ),
                    );
                }
            }
        }
        Validation::Sponsored => {
            for (id, _) in &attrs {
                if !SPONSORED_ALLOWED.contains(&id.to_string().as_str()) {
                    l.err(
                        "sbr.subject",
                        format!("the attribute {id} is not allowed in a sponsor-validated subject"),
                    );
                }
            }
            if values(sbr_oid::O).is_empty() {
                l.err(
                    "sbr.subject",
                    "a sponsor-validated subject needs organizationName",
                );
            }
            match values(sbr_oid::ORGANIZATION_IDENTIFIER).as_slice() {
                [] => l.err(
                    "sbr.subject",
                    "a sponsor-validated subject needs organizationIdentifier",
                ),
                ids => {
                    for id in ids {
                        if let Err(Error::Lint { detail, .. }) =
                            crate::profile::check_organization_identifier(id)
                        {
                            l.err("sbr.subject", detail);
                        }
                    }
                }
            }
            let given = values(sbr_oid::GIVEN_NAME);
            let surname = values(sbr_oid::SURNAME);
            let pseudonym = values(sbr_oid::PSEUDONYM);
            if !pseudonym.is_empty() && (!given.is_empty() || !surname.is_empty()) {
                l.err(
                    "sbr.subject",
                    "pseudonym and givenName/surname must not both be present",
                );
            }
            for cn in &cns {
                let is_name = !given.is_empty()
                    && !surname.is_empty()
                    && given.iter().all(|g| cn.contains(g.as_str()))
                    && surname.iter().all(|s| cn.contains(s.as_str()));
                let ok = in_san(cn) || pseudonym.contains(cn) || is_name;
                if !ok {
                    l.err(
                        "sbr.subject",
                        format!(
                            "the commonName \"{cn}\" must be an address from subjectAltName, \
                             the pseudonym, or givenName and surname (both in the subject)"
                        ),
                    );
                }
            }
        }
    }
}
