//! Certificate profiles: what a CA certificate, an S/MIME signing certificate, an S/MIME
//! encryption certificate and a TLS server certificate each carry, and the four S/MIME
//! Baseline Requirements profiles ([`SbrProfile`]: mailbox-/sponsor-validated, strict or
//! multipurpose) as data. One issuing function (`certificate::Issuer::issue`) takes a
//! profile; key usages live here, not in the issuer; `crate::lint` checks the result.

use const_oid::ObjectIdentifier;
use der::asn1::{Ia5String, OctetString, Utf8StringRef};
use der::{Encode, oid::AssociatedOid};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::certpolicy::{PolicyInformation, PolicyQualifierInfo};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CertificatePolicies, CrlDistributionPoints, ExtendedKeyUsage, FreshestCrl, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use crate::algorithms::{ContentAlgorithm, oid};
use crate::error::{Error, Result};

/// Where relying parties find revocation information for a certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevocationUrls {
    /// CRL distribution point (full CRL), e.g. `https://ca.example/crl`.
    pub crl: Option<String>,
    /// Freshest CRL (delta CRL), e.g. `https://ca.example/crl/delta`.
    pub delta_crl: Option<String>,
    /// authorityInformationAccess caIssuers: where the CA certificate is, e.g.
    /// `http://ca.example/ca.der`.
    pub ca_issuers: Option<String>,
    /// authorityInformationAccess OCSP responder, e.g. `http://ca.example/ocsp`.
    pub ocsp: Option<String>,
}

/// Object identifiers of the S/MIME Baseline Requirements and the X.509 parts they name.
pub mod sbr_oid {
    use const_oid::ObjectIdentifier as Oid;

    /// Mailbox-validated, multipurpose (SBR §7.1.6.1).
    pub const MAILBOX_MULTIPURPOSE: Oid = Oid::new_unwrap("2.23.140.1.5.1.2");
    /// Mailbox-validated, strict.
    pub const MAILBOX_STRICT: Oid = Oid::new_unwrap("2.23.140.1.5.1.3");
    /// Sponsor-validated, multipurpose.
    pub const SPONSORED_MULTIPURPOSE: Oid = Oid::new_unwrap("2.23.140.1.5.3.2");
    /// Sponsor-validated, strict.
    pub const SPONSORED_STRICT: Oid = Oid::new_unwrap("2.23.140.1.5.3.3");
    /// The arc under which every reserved S/MIME policy identifier lies.
    pub const SMIME_ARC: Oid = Oid::new_unwrap("2.23.140.1.5");
    /// anyPolicy.
    pub const ANY_POLICY: Oid = Oid::new_unwrap("2.5.29.32.0");
    /// The CPS pointer policy qualifier.
    pub const QT_CPS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.2.1");
    /// authorityInformationAccess.
    pub const AIA: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.1");
    /// AIA access method OCSP.
    pub const AD_OCSP: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1");
    /// AIA access method caIssuers.
    pub const AD_CA_ISSUERS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.2");
    /// subjectDirectoryAttributes (not allowed in strict and multipurpose certificates).
    pub const SUBJECT_DIRECTORY_ATTRIBUTES: Oid = Oid::new_unwrap("2.5.29.9");
    /// commonName.
    pub const CN: Oid = Oid::new_unwrap("2.5.4.3");
    /// surname.
    pub const SURNAME: Oid = Oid::new_unwrap("2.5.4.4");
    /// organizationName.
    pub const O: Oid = Oid::new_unwrap("2.5.4.10");
    /// organizationIdentifier (SBR §7.1.4.2.2 d: `NTRGB-12345678`, `VATDE-123456789`, ...).
    pub const ORGANIZATION_IDENTIFIER: Oid = Oid::new_unwrap("2.5.4.97");
    /// givenName.
    pub const GIVEN_NAME: Oid = Oid::new_unwrap("2.5.4.42");
    /// pseudonym.
    pub const PSEUDONYM: Oid = Oid::new_unwrap("2.5.4.65");
    /// id-kp-serverAuth.
    pub const KP_SERVER_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.1");
    /// id-kp-codeSigning.
    pub const KP_CODE_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.3");
    /// id-kp-timeStamping.
    pub const KP_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
    /// anyExtendedKeyUsage.
    pub const ANY_EKU: Oid = Oid::new_unwrap("2.5.29.37.0");
}

/// Who vouches for what in a certificate (SBR §1.3, §7.1.6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    /// Mailbox-validated: only the address; the subject names no person or organisation.
    Mailbox,
    /// Sponsor-validated: an organisation names its own staff member (organizationName and
    /// the person's name in the subject).
    Sponsored,
}

/// The SBR certificate generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// Strict: the narrowest key usages and EKU.
    Strict,
    /// Multipurpose: some more usages allowed (dataEncipherment, extra EKUs).
    Multipurpose,
}

/// Key usage bits as a mask (bit 0 = digitalSignature, as x509-cert's `KeyUsages`).
pub mod ku {
    /// digitalSignature.
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    /// nonRepudiation (contentCommitment).
    pub const NON_REPUDIATION: u16 = 1 << 1;
    /// keyEncipherment.
    pub const KEY_ENCIPHERMENT: u16 = 1 << 2;
    /// dataEncipherment.
    pub const DATA_ENCIPHERMENT: u16 = 1 << 3;
    /// keyAgreement.
    pub const KEY_AGREEMENT: u16 = 1 << 4;
    /// keyCertSign.
    pub const KEY_CERT_SIGN: u16 = 1 << 5;
    /// cRLSign.
    pub const CRL_SIGN: u16 = 1 << 6;
    /// The names of the bits, in bit order.
    pub const NAMES: [&str; 9] = [
        "digitalSignature",
        "nonRepudiation",
        "keyEncipherment",
        "dataEncipherment",
        "keyAgreement",
        "keyCertSign",
        "cRLSign",
        "encipherOnly",
        "decipherOnly",
    ];
}

/// Key usages of one kind of certificate: what it must have, may have, and what we issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyUsageRule {
    /// Bits that must be set.
    pub required: u16,
    /// Bits that may be set (a superset of `required`).
    pub allowed: u16,
    /// Bits our issuer sets.
    pub issued: u16,
}

/// One S/MIME Baseline Requirements certificate profile, as data (SBR §7.1.2.3, §7.1.4.2,
/// §7.1.6.1). The authority picks one per authority (`profile` in `kmsd.toml`) and per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SbrProfile {
    /// The profile's name (`mailbox-strict`, ...), as configured.
    pub name: &'static str,
    /// pkilint's name for the certificate type (`MAILBOX-STRICT`, ...).
    pub pkilint_type: &'static str,
    /// Mailbox- or sponsor-validated.
    pub validation: Validation,
    /// Strict or multipurpose.
    pub generation: Generation,
    /// The one reserved policy identifier (2.23.140.1.5.x.y).
    pub policy: ObjectIdentifier,
    /// Signing-only (RSA) certificates: digitalSignature (+ nonRepudiation).
    pub signing: KeyUsageRule,
    /// Key-management-only (RSA) certificates: keyEncipherment (+ dataEncipherment only in
    /// multipurpose).
    pub encryption: KeyUsageRule,
    /// Longest validity, in days of 86 400 s (SBR §6.3.2: 825).
    pub max_validity_days: u64,
}

const SIGNING_KU: KeyUsageRule = KeyUsageRule {
    required: ku::DIGITAL_SIGNATURE,
    allowed: ku::DIGITAL_SIGNATURE | ku::NON_REPUDIATION,
    issued: ku::DIGITAL_SIGNATURE | ku::NON_REPUDIATION,
};
const STRICT_ENCRYPTION_KU: KeyUsageRule = KeyUsageRule {
    required: ku::KEY_ENCIPHERMENT,
    allowed: ku::KEY_ENCIPHERMENT,
    issued: ku::KEY_ENCIPHERMENT,
};
const MULTIPURPOSE_ENCRYPTION_KU: KeyUsageRule = KeyUsageRule {
    required: ku::KEY_ENCIPHERMENT,
    allowed: ku::KEY_ENCIPHERMENT | ku::DATA_ENCIPHERMENT,
    issued: ku::KEY_ENCIPHERMENT | ku::DATA_ENCIPHERMENT,
};

impl SbrProfile {
    /// Mailbox-validated, strict: the default.
    pub const MAILBOX_STRICT: SbrProfile = SbrProfile {
        name: "mailbox-strict",
        pkilint_type: "MAILBOX-STRICT",
        validation: Validation::Mailbox,
        generation: Generation::Strict,
        policy: sbr_oid::MAILBOX_STRICT,
        signing: SIGNING_KU,
        encryption: STRICT_ENCRYPTION_KU,
        max_validity_days: 825,
    };
    /// Mailbox-validated, multipurpose.
    pub const MAILBOX_MULTIPURPOSE: SbrProfile = SbrProfile {
        name: "mailbox-multipurpose",
        pkilint_type: "MAILBOX-MULTIPURPOSE",
        validation: Validation::Mailbox,
        generation: Generation::Multipurpose,
        policy: sbr_oid::MAILBOX_MULTIPURPOSE,
        signing: SIGNING_KU,
        encryption: MULTIPURPOSE_ENCRYPTION_KU,
        max_validity_days: 825,
    };
    /// Sponsor-validated, strict.
    pub const SPONSORED_STRICT: SbrProfile = SbrProfile {
        name: "sponsored-strict",
        pkilint_type: "SPONSORED-STRICT",
        validation: Validation::Sponsored,
        generation: Generation::Strict,
        policy: sbr_oid::SPONSORED_STRICT,
        signing: SIGNING_KU,
        encryption: STRICT_ENCRYPTION_KU,
        max_validity_days: 825,
    };
    /// Sponsor-validated, multipurpose.
    pub const SPONSORED_MULTIPURPOSE: SbrProfile = SbrProfile {
        name: "sponsored-multipurpose",
        pkilint_type: "SPONSORED-MULTIPURPOSE",
        validation: Validation::Sponsored,
        generation: Generation::Multipurpose,
        policy: sbr_oid::SPONSORED_MULTIPURPOSE,
        signing: SIGNING_KU,
        encryption: MULTIPURPOSE_ENCRYPTION_KU,
        max_validity_days: 825,
    };
    /// Every profile, the default first.
    pub const ALL: [SbrProfile; 4] = [
        SbrProfile::MAILBOX_STRICT,
        SbrProfile::MAILBOX_MULTIPURPOSE,
        SbrProfile::SPONSORED_STRICT,
        SbrProfile::SPONSORED_MULTIPURPOSE,
    ];

    /// The profile called `name` (`mailbox-strict`, ...).
    pub fn by_name(name: &str) -> Result<SbrProfile> {
        let name = name.trim();
        SbrProfile::ALL
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::Invalid {
                what: "certificate profile",
                why: format!(
                    "\"{name}\" is not one of {}",
                    SbrProfile::ALL.map(|p| p.name).join(", ")
                ),
            })
    }

    /// The profile whose reserved policy identifier is `policy`.
    pub fn by_policy(policy: &ObjectIdentifier) -> Option<SbrProfile> {
        SbrProfile::ALL.into_iter().find(|p| p.policy == *policy)
    }

    /// The key-usage rule of a signing (`encryption` false) or encryption certificate.
    pub fn key_usage(&self, encryption: bool) -> KeyUsageRule {
        if encryption {
            self.encryption
        } else {
            self.signing
        }
    }

    /// The subject distinguished name for `person` under this profile (SBR §7.1.4.2):
    /// mailbox-validated, `CN=<address>`; sponsor-validated, organizationName, givenName and
    /// surname (or a pseudonym) and `CN=<given name> <surname>` (or the pseudonym). Refused
    /// (naming the rule `sbr.subject.person_name` or `sbr.subject.organization`) when the
    /// data a sponsored profile needs is missing.
    pub fn subject(&self, person: &Person) -> Result<Name> {
        let mut rdns: Vec<(ObjectIdentifier, String)> = Vec::new();
        match self.validation {
            Validation::Mailbox => rdns.push((sbr_oid::CN, person.email.clone())),
            Validation::Sponsored => {
                let mut person_rdns = Vec::new();
                match (
                    nonempty(&person.given_name),
                    nonempty(&person.surname),
                    nonempty(&person.pseudonym),
                ) {
                    (Some(g), Some(s), _) => {
                        person_rdns.push((sbr_oid::GIVEN_NAME, g.to_string()));
                        person_rdns.push((sbr_oid::SURNAME, s.to_string()));
                        person_rdns.push((sbr_oid::CN, format!("{g} {s}")));
                    }
                    (_, _, Some(p)) => {
                        person_rdns.push((sbr_oid::PSEUDONYM, p.to_string()));
                        person_rdns.push((sbr_oid::CN, p.to_string()));
                    }
                    _ => {
                        return Err(Error::Lint {
                            rule: "sbr.subject.person_name",
                            detail: format!(
                                "the {} profile names the person: {} needs a given name and \
                                 a surname (or a pseudonym) on record",
                                self.name, person.email
                            ),
                        });
                    }
                }
                let org = nonempty(&person.organization).ok_or_else(|| Error::Lint {
                    rule: "sbr.subject.organization",
                    detail: format!(
                        "the {} profile needs the organisation's name (organizationName); \
                         set `organization` in kmsd.toml or give the CA subject an O",
                        self.name
                    ),
                })?;
                rdns.push((sbr_oid::O, org.to_string()));
                let org_id =
                    nonempty(&person.organization_identifier).ok_or_else(|| Error::Lint {
                        rule: "sbr.subject.organization_identifier",
                        detail: format!(
                            "the {} profile needs the organisation's registration identifier \
                             (organizationIdentifier, e.g. NTRGB-12345678); set \
                             `organization_identifier` in kmsd.toml",
                            self.name
                        ),
                    })?;
                check_organization_identifier(org_id)?;
                rdns.push((sbr_oid::ORGANIZATION_IDENTIFIER, org_id.to_string()));
                rdns.extend(person_rdns);
            }
        }
        let mut seq = RdnSequence::default();
        for (oid, value) in rdns {
            if value.len() > 64 || value.chars().any(char::is_control) {
                return Err(Error::Lint {
                    rule: "sbr.subject.attribute_length",
                    detail: format!(
                        "the subject attribute {oid} must be 1 to 64 printable characters"
                    ),
                });
            }
            let any = Utf8StringRef::new(&value)
                .and_then(|s| der::Any::encode_from(&s))
                .map_err(Error::der("subject attribute"))?;
            let atv = AttributeTypeAndValue { oid, value: any };
            let rdn = RelativeDistinguishedName::try_from(vec![atv])
                .map_err(Error::der("subject attribute"))?;
            seq.push(rdn);
        }
        let der = seq.to_der().map_err(Error::der("subject"))?;
        <Name as der::Decode>::from_der(&der).map_err(Error::der("subject"))
    }
}

/// Checks an organizationIdentifier's form (SBR §7.1.4.2.2 d): a registration scheme
/// (`NTR`, `VAT`, `PSD`, `LEI`, `GOV`, `INT`), an ISO 3166 country code (or `XG` for LEI and
/// `INT`), optionally `+` and a subdivision, `-` and the registration reference.
pub fn check_organization_identifier(id: &str) -> Result<()> {
    let bad = |why: &str| Error::Lint {
        rule: "sbr.subject.organization_identifier",
        detail: format!("\"{id}\": {why} (expected e.g. NTRGB-12345678)"),
    };
    let (head, reference) = id.split_once('-').ok_or_else(|| bad("no '-'"))?;
    if reference.is_empty() || reference.chars().any(|c| c.is_control()) {
        return Err(bad("no registration reference"));
    }
    let scheme = head.get(..3).ok_or_else(|| bad("too short"))?;
    if !["NTR", "VAT", "PSD", "LEI", "GOV", "INT"].contains(&scheme) {
        return Err(bad(
            "the registration scheme is not NTR, VAT, PSD, LEI, GOV or INT",
        ));
    }
    let country = head.get(3..5).ok_or_else(|| bad("no country code"))?;
    if !country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(bad("the country code is not two capital letters"));
    }
    Ok(())
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// What a subscriber's subject is made from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Person {
    /// The mail address.
    pub email: String,
    /// givenName, if on record.
    pub given_name: Option<String>,
    /// surname, if on record.
    pub surname: Option<String>,
    /// pseudonym, if on record (instead of given name and surname).
    pub pseudonym: Option<String>,
    /// The sponsoring organisation's name (sponsored profiles).
    pub organization: Option<String>,
    /// The sponsoring organisation's organizationIdentifier (sponsored profiles).
    pub organization_identifier: Option<String>,
}

/// An object identifier (the organisation's own policy), as settings parse it.
pub type PolicyOid = ObjectIdentifier;

/// The certificatePolicies besides the reserved identifier: the organisation's own policy
/// and its CPS URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyExtras {
    /// The organisation's own policy identifier, if it has one.
    pub own_policy: Option<ObjectIdentifier>,
    /// An http(s) URL of the CPS, written as a qualifier of the reserved policy.
    pub cps_url: Option<String>,
}

/// The end-entity data both S/MIME profiles share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmimeSubject {
    /// Subject distinguished name.
    pub subject: Name,
    /// The user's mail address, written as the rfc822Name subjectAltName.
    pub email: String,
    /// Content-encryption algorithms the user's client supports, in order of preference.
    pub capabilities: Vec<ContentAlgorithm>,
    /// CRL, delta-CRL, caIssuers and OCSP pointers.
    pub revocation: RevocationUrls,
    /// The S/MIME Baseline Requirements profile (policy, key usages, subject rules) the
    /// certificate is issued and linted under. `None` only for test fixtures outside the
    /// SBR (no certificatePolicies; the pre-issuance lint then checks the algorithms only):
    /// the authority always names one.
    pub sbr: Option<SbrProfile>,
    /// The organisation's own policy and CPS URL, if any.
    pub policy: PolicyExtras,
}

/// What kind of certificate to issue.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// A self-signed root CA: basicConstraints CA:true (critical), keyCertSign + cRLSign.
    Ca {
        /// The CA's distinguished name.
        subject: Name,
        /// Maximum number of intermediate CAs below this one, if limited.
        path_len: Option<u8>,
    },
    /// S/MIME signing: digitalSignature + nonRepudiation, emailProtection.
    SmimeSigning(SmimeSubject),
    /// S/MIME encryption: keyEncipherment + dataEncipherment, emailProtection.
    SmimeEncryption(SmimeSubject),
    /// TLS server certificate for the authority itself: serverAuth, DNS and IP names.
    TlsServer {
        /// Subject distinguished name.
        subject: Name,
        /// DNS names for subjectAltName.
        dns_names: Vec<String>,
        /// IP addresses (4 or 16 bytes) for subjectAltName.
        ip_addresses: Vec<Vec<u8>>,
        /// CRL pointers.
        revocation: RevocationUrls,
    },
}

impl Profile {
    /// The subject name this profile issues to.
    pub fn subject(&self) -> &Name {
        match self {
            Profile::Ca { subject, .. } | Profile::TlsServer { subject, .. } => subject,
            Profile::SmimeSigning(s) | Profile::SmimeEncryption(s) => &s.subject,
        }
    }

    /// True for the CA profile.
    pub fn is_ca(&self) -> bool {
        matches!(self, Profile::Ca { .. })
    }

    /// A short name for messages ("S/MIME signing", ...).
    pub fn label(&self) -> &'static str {
        match self {
            Profile::Ca { .. } => "CA",
            Profile::SmimeSigning(_) => "S/MIME signing",
            Profile::SmimeEncryption(_) => "S/MIME encryption",
            Profile::TlsServer { .. } => "TLS server",
        }
    }

    /// Checks the profile's inputs before anything is signed.
    pub(crate) fn validate(&self) -> Result<()> {
        if let Profile::SmimeSigning(s) | Profile::SmimeEncryption(s) = self {
            validate_email(&s.email)?;
            if s.capabilities.is_empty() {
                return Err(Error::Invalid {
                    what: "capabilities",
                    why: "an S/MIME certificate needs at least one content algorithm".into(),
                });
            }
        }
        if let Profile::TlsServer {
            dns_names,
            ip_addresses,
            ..
        } = self
        {
            if dns_names.is_empty() && ip_addresses.is_empty() {
                return Err(Error::Invalid {
                    what: "TLS server names",
                    why: "give at least one DNS name or IP address".into(),
                });
            }
            if let Some(ip) = ip_addresses
                .iter()
                .find(|ip| ip.len() != 4 && ip.len() != 16)
            {
                return Err(Error::Invalid {
                    what: "IP address",
                    why: format!("{} bytes; an IP address is 4 or 16 bytes", ip.len()),
                });
            }
        }
        Ok(())
    }
}

/// Checks that `email` is a plausible addr-spec: ASCII, one `@`, non-empty local part and
/// domain, no spaces or angle brackets. (rfc822Name is an IA5String: ASCII only.)
pub fn validate_email(email: &str) -> Result<()> {
    let bad = |why: &str| Error::Invalid {
        what: "e-mail address",
        why: format!("\"{email}\": {why}"),
    };
    if email.len() > 254 {
        return Err(bad("longer than 254 characters"));
    }
    if !email.is_ascii() {
        return Err(bad("not ASCII"));
    }
    let (local, domain) = email.split_once('@').ok_or_else(|| bad("no @"))?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return Err(bad("expected local@domain"));
    }
    if email
        .chars()
        .any(|c| c.is_ascii_whitespace() || c.is_ascii_control() || "<>(),;:\"[]\\".contains(c))
    {
        return Err(bad("contains a character not allowed in an address"));
    }
    if !domain.contains('.') && domain != "localhost" {
        return Err(bad("the domain has no dot"));
    }
    Ok(())
}

/// The profile bound to its issuer, as x509-cert's builder wants it.
pub(crate) struct BoundProfile<'a> {
    pub(crate) profile: &'a Profile,
    /// The issuer's name; `None` for a self-signed certificate.
    pub(crate) issuer: Option<Name>,
}

fn ext<T: Encode + AssociatedOid>(
    value: &T,
    critical: bool,
) -> x509_cert::builder::Result<Extension> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

fn uri(url: &str) -> x509_cert::builder::Result<GeneralName> {
    Ok(GeneralName::UniformResourceIdentifier(Ia5String::new(url)?))
}

fn dist_point(url: &str) -> x509_cert::builder::Result<Vec<DistributionPoint>> {
    Ok(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![uri(url)?])),
        reasons: None,
        crl_issuer: None,
    }])
}

fn revocation_exts(
    urls: &RevocationUrls,
    out: &mut Vec<Extension>,
) -> x509_cert::builder::Result<()> {
    if let Some(url) = &urls.crl {
        out.push(ext(&CrlDistributionPoints(dist_point(url)?), false)?);
    }
    if let Some(url) = &urls.delta_crl {
        out.push(ext(&FreshestCrl(dist_point(url)?), false)?);
    }
    let mut access = Vec::new();
    if let Some(url) = &urls.ca_issuers {
        access.push(AccessDescription {
            access_method: sbr_oid::AD_CA_ISSUERS,
            access_location: uri(url)?,
        });
    }
    if let Some(url) = &urls.ocsp {
        access.push(AccessDescription {
            access_method: sbr_oid::AD_OCSP,
            access_location: uri(url)?,
        });
    }
    if !access.is_empty() {
        out.push(ext(&AuthorityInfoAccessSyntax(access), false)?);
    }
    Ok(())
}

fn policies_ext(sbr: &SbrProfile, extras: &PolicyExtras) -> x509_cert::builder::Result<Extension> {
    let qualifiers = match &extras.cps_url {
        Some(url) => Some(vec![PolicyQualifierInfo {
            policy_qualifier_id: sbr_oid::QT_CPS,
            qualifier: Some(der::Any::encode_from(&Ia5String::new(url)?)?),
        }]),
        None => None,
    };
    let mut policies = vec![PolicyInformation {
        policy_identifier: sbr.policy,
        policy_qualifiers: qualifiers,
    }];
    if let Some(own) = extras.own_policy {
        policies.push(PolicyInformation {
            policy_identifier: own,
            policy_qualifiers: None,
        });
    }
    ext(&CertificatePolicies(policies), false)
}

fn key_usages(bits: u16) -> flagset::FlagSet<KeyUsages> {
    flagset::FlagSet::new_truncated(bits)
}

fn key_id(spk: SubjectPublicKeyInfoRef<'_>) -> x509_cert::builder::Result<OctetString> {
    use sha1::{Digest, Sha1};
    Ok(OctetString::new(
        Sha1::digest(spk.subject_public_key.raw_bytes()).to_vec(),
    )?)
}

impl x509_cert::builder::profile::BuilderProfile for BoundProfile<'_> {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.profile.subject().clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut out = Vec::new();
        let (ca, path_len) = match self.profile {
            Profile::Ca { path_len, .. } => (true, *path_len),
            _ => (false, None),
        };
        out.push(ext(
            &BasicConstraints {
                ca,
                path_len_constraint: path_len,
            },
            true,
        )?);
        let usages = match self.profile {
            Profile::Ca { .. } => KeyUsages::KeyCertSign | KeyUsages::CRLSign,
            Profile::SmimeSigning(s) => key_usages(
                s.sbr
                    .map_or(ku::DIGITAL_SIGNATURE | ku::NON_REPUDIATION, |p| {
                        p.signing.issued
                    }),
            ),
            Profile::SmimeEncryption(s) => key_usages(
                s.sbr
                    .map_or(ku::KEY_ENCIPHERMENT | ku::DATA_ENCIPHERMENT, |p| {
                        p.encryption.issued
                    }),
            ),
            Profile::TlsServer { .. } => KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment,
        };
        out.push(ext(&KeyUsage(usages), true)?);
        out.push(ext(&SubjectKeyIdentifier(key_id(spk)?), false)?);
        out.push(ext(
            &AuthorityKeyIdentifier {
                key_identifier: Some(key_id(issuer_spk)?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
            false,
        )?);
        match self.profile {
            Profile::Ca { .. } => {}
            Profile::SmimeSigning(s) | Profile::SmimeEncryption(s) => {
                if let Some(sbr) = &s.sbr {
                    out.push(policies_ext(sbr, &s.policy)?);
                }
                out.push(ext(
                    &ExtendedKeyUsage(vec![oid::KP_EMAIL_PROTECTION]),
                    false,
                )?);
                out.push(ext(
                    &SubjectAltName(vec![GeneralName::Rfc822Name(Ia5String::new(&s.email)?)]),
                    false,
                )?);
                revocation_exts(&s.revocation, &mut out)?;
                // The one builder of the list (strongest first, RFC 8551 §2.5.2), shared with
                // the smimeCapabilities signed attribute.
                let caps = crate::algorithms::smime_capabilities(&s.capabilities);
                out.push(Extension {
                    extn_id: oid::SMIME_CAPABILITIES,
                    critical: false,
                    extn_value: OctetString::new(caps.to_der()?)?,
                });
            }
            Profile::TlsServer {
                dns_names,
                ip_addresses,
                revocation,
                ..
            } => {
                out.push(ext(&ExtendedKeyUsage(vec![oid::KP_SERVER_AUTH]), false)?);
                let mut names = Vec::new();
                for d in dns_names {
                    names.push(GeneralName::DnsName(Ia5String::new(d)?));
                }
                for ip in ip_addresses {
                    names.push(GeneralName::IpAddress(OctetString::new(ip.clone())?));
                }
                out.push(ext(&SubjectAltName(names), false)?);
                revocation_exts(revocation, &mut out)?;
            }
        }
        Ok(out)
    }
}
