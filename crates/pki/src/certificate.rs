//! X.509 v3 certificates: the issuing CA (`Issuer`), self-signed CA creation, issuing from a
//! profile, parsing PEM/DER input defensively, signature checks, and a plain summary
//! (`CertificateInfo`) of what a certificate says.

use std::sync::Arc;
use std::time::SystemTime;

use der::{Decode, Encode};
use rand_core::CryptoRng;
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use crate::algorithms::{ContentAlgorithm, DigestAlgorithm, decode_capabilities, oid};
use crate::encoding::{self, MAX_OBJECT_SIZE, rfc5280_time};
use crate::error::{Error, Result};
use crate::keys::{PrivateKey, PublicKey};
use crate::profile::{BoundProfile, Profile};
use crate::signer::{RsaSigner, SigningKey};

const CERT_LABELS: &[&str] = &["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"];

/// Random bytes in a serial number: 19 bytes (152 bits), positive, at most 20 octets encoded.
const SERIAL_RANDOM_BYTES: usize = 19;

/// A validity period, chosen by the caller (this crate never reads the clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// First instant the certificate is valid.
    pub not_before: SystemTime,
    /// Last instant the certificate is valid.
    pub not_after: SystemTime,
}

impl Period {
    fn to_validity(self) -> Result<Validity> {
        if self.not_after <= self.not_before {
            return Err(Error::Invalid {
                what: "validity period",
                why: "notAfter is not after notBefore".into(),
            });
        }
        Ok(Validity::new(
            rfc5280_time(self.not_before)?,
            rfc5280_time(self.not_after)?,
        ))
    }
}

/// Reads one certificate from PEM (`CERTIFICATE`) or DER.
pub fn parse_certificate(input: &[u8]) -> Result<Certificate> {
    let der_bytes = encoding::der_or_pem(
        "certificate",
        input,
        MAX_OBJECT_SIZE,
        CERT_LABELS,
        "CERTIFICATE",
    )?;
    Certificate::from_der(&der_bytes).map_err(Error::der("certificate"))
}

/// Reads every certificate in a PEM bundle (or one DER certificate).
pub fn parse_certificates(input: &[u8]) -> Result<Vec<Certificate>> {
    encoding::check_size("certificate bundle", input, 64 * MAX_OBJECT_SIZE)?;
    if !encoding::looks_like_pem(input) {
        return Ok(vec![parse_certificate(input)?]);
    }
    let text = std::str::from_utf8(input).map_err(|_| Error::Pem {
        what: "certificate bundle",
        detail: "not UTF-8 text".into(),
    })?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let end_line = block.find("-----END ").ok_or_else(|| Error::Pem {
            what: "certificate bundle",
            detail: "a BEGIN line has no END line".into(),
        })?;
        // The block ends with the END line (and its line ending, if any).
        let block_end = block[end_line..]
            .find('\n')
            .map_or(block.len(), |i| end_line + i + 1);
        out.push(parse_certificate(&block.as_bytes()[..block_end])?);
        rest = &block[block_end..];
    }
    if out.is_empty() {
        return Err(Error::Pem {
            what: "certificate bundle",
            detail: "no certificate found".into(),
        });
    }
    Ok(out)
}

/// Encodes a certificate as PEM.
pub fn to_pem(cert: &Certificate) -> Result<String> {
    Ok(encoding::pem_encode("CERTIFICATE", &to_der(cert)?))
}

/// Encodes a certificate as DER, each field as it was decoded (see [`signed_tbs_der`]), so a
/// certificate read from elsewhere is written back byte for byte.
pub fn to_der(cert: &Certificate) -> Result<Vec<u8>> {
    let d = Error::der("certificate");
    let encode = || -> der::Result<Vec<u8>> {
        let tbs = signed_tbs_der(cert)?;
        let mut tail = Vec::new();
        cert.signature_algorithm().encode_to_vec(&mut tail)?;
        cert.signature().encode_to_vec(&mut tail)?;
        let len = der::Length::try_from(tbs.len() + tail.len())?;
        let mut out = Vec::with_capacity(tbs.len() + tail.len() + 8);
        der::Header::new(der::Tag::Sequence, len).encode_to_vec(&mut out)?;
        out.extend_from_slice(&tbs);
        out.extend_from_slice(&tail);
        Ok(out)
    };
    encode().map_err(d)
}

/// The public key a certificate certifies.
pub fn public_key(cert: &Certificate) -> Result<PublicKey> {
    PublicKey::from_spki(cert.tbs_certificate().subject_public_key_info())
}

/// Checks that `cert` was signed by the holder of `issuer`'s key (signature only: no dates,
/// names or revocation; path validation is the verifier's job).
pub fn verify_signed_by(cert: &Certificate, issuer: &Certificate) -> Result<()> {
    let digest = DigestAlgorithm::from_rsa_signature_oid(&cert.signature_algorithm().oid)?;
    let tbs = signed_tbs_der(cert).map_err(Error::der("certificate"))?;
    let sig = cert
        .signature()
        .as_bytes()
        .ok_or(Error::BadSignature("certificate"))?;
    public_key(issuer)?.verify(digest, &tbs, sig, "certificate")
}

/// A random positive serial number of 152 bits.
pub fn random_serial<R: CryptoRng + ?Sized>(rng: &mut R) -> Result<SerialNumber> {
    SerialNumber::generate_with_prefix(&[], SERIAL_RANDOM_BYTES, rng)
        .map_err(Error::der("serial number"))
}

/// A certification authority: its certificate and signing key (a software [`PrivateKey`],
/// or a key on a token through [`SigningKey`]). Cheap to clone; shareable between threads.
#[derive(Clone)]
pub struct Issuer {
    cert: Certificate,
    key: Arc<dyn SigningKey>,
    software: Option<PrivateKey>,
    digest: DigestAlgorithm,
}

impl core::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Issuer")
            .field(
                "subject",
                &self.cert.tbs_certificate().subject().to_string(),
            )
            .field("key", &self.key.key_ref().to_string())
            .field("digest", &self.digest)
            .finish()
    }
}

impl Issuer {
    /// An issuer from an existing CA certificate and its key. Refuses a certificate that is
    /// not a CA, or a key that does not match it. Signs with SHA-256 until told otherwise.
    pub fn new(cert: Certificate, key: PrivateKey) -> Result<Self> {
        let mut issuer = Self::with_signing_key(cert, Arc::new(key.clone()))?;
        issuer.software = Some(key);
        Ok(issuer)
    }

    /// An issuer whose key signs through `key` (a token key, say): the same checks as
    /// [`Issuer::new`]. [`Issuer::key`] then has no key to give.
    pub fn with_signing_key(cert: Certificate, key: Arc<dyn SigningKey>) -> Result<Self> {
        let info = CertificateInfo::from_certificate(&cert)?;
        if !info.is_ca {
            return Err(Error::Invalid {
                what: "issuer certificate",
                why: "basicConstraints does not say CA:TRUE".into(),
            });
        }
        if public_key(&cert)? != key.public_key() {
            return Err(Error::Invalid {
                what: "issuer key",
                why: "the private key does not match the CA certificate".into(),
            });
        }
        Ok(Self {
            cert,
            key,
            software: None,
            digest: DigestAlgorithm::Sha256,
        })
    }

    /// Creates a self-signed CA certificate for `key` and returns the issuer.
    pub fn self_signed<R: CryptoRng + ?Sized>(
        key: PrivateKey,
        profile: &Profile,
        period: Period,
        digest: DigestAlgorithm,
        rng: &mut R,
    ) -> Result<Self> {
        let mut issuer = Self::self_signed_with_signing_key(
            Arc::new(key.clone()),
            profile,
            period,
            digest,
            rng,
        )?;
        issuer.software = Some(key);
        Ok(issuer)
    }

    /// Creates a self-signed CA certificate signed through `key` (a token key: the key never
    /// leaves it) and returns the issuer; [`Issuer::key`] then has no key to give.
    pub fn self_signed_with_signing_key<R: CryptoRng + ?Sized>(
        key: Arc<dyn SigningKey>,
        profile: &Profile,
        period: Period,
        digest: DigestAlgorithm,
        rng: &mut R,
    ) -> Result<Self> {
        if !profile.is_ca() {
            return Err(Error::Invalid {
                what: "profile",
                why: "a self-signed certificate must use the CA profile".into(),
            });
        }
        let cert = build(
            profile,
            None,
            &key.public_key(),
            key.as_ref(),
            period,
            digest,
            rng,
        )?;
        Ok(Self {
            cert,
            key,
            software: None,
            digest,
        })
    }

    /// Uses `digest` for the signatures this issuer makes from now on.
    pub fn with_digest(mut self, digest: DigestAlgorithm) -> Self {
        self.digest = digest;
        self
    }

    /// The CA certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The CA private key as software key material (to escrow it); [`Error::KeyNotExportable`]
    /// when the key is on a token. To sign, use [`Issuer::signing_key`].
    pub fn key(&self) -> Result<&PrivateKey> {
        self.software.as_ref().ok_or(Error::KeyNotExportable("CA"))
    }

    /// The CA private key when it is a software key.
    pub fn software_key(&self) -> Option<&PrivateKey> {
        self.software.as_ref()
    }

    /// The key this issuer signs with (certificates, CRLs, OCSP responder certificates,
    /// audit heads).
    pub fn signing_key(&self) -> &dyn SigningKey {
        self.key.as_ref()
    }

    /// The same key, shared (to sign outside a lock, or from another thread).
    pub fn signing_key_arc(&self) -> Arc<dyn SigningKey> {
        Arc::clone(&self.key)
    }

    /// The digest this issuer signs with.
    pub fn digest(&self) -> DigestAlgorithm {
        self.digest
    }

    /// A signer over the CA key with the issuer's digest.
    pub fn signer(&self) -> RsaSigner<'_> {
        RsaSigner::new(self.key.as_ref(), self.digest)
    }

    /// Issues a certificate for `subject_key` under `profile`, valid for `period`, with a
    /// fresh random serial number.
    pub fn issue<R: CryptoRng + ?Sized>(
        &self,
        profile: &Profile,
        subject_key: &PublicKey,
        period: Period,
        rng: &mut R,
    ) -> Result<Certificate> {
        if profile.is_ca() {
            return Err(Error::Invalid {
                what: "profile",
                why: "this authority does not issue subordinate CA certificates".into(),
            });
        }
        build(
            profile,
            Some(&self.cert),
            subject_key,
            self.key.as_ref(),
            period,
            self.digest,
            rng,
        )
    }
}

fn build<R: CryptoRng + ?Sized>(
    profile: &Profile,
    issuer: Option<&Certificate>,
    subject_key: &PublicKey,
    signing_key: &dyn SigningKey,
    period: Period,
    digest: DigestAlgorithm,
    rng: &mut R,
) -> Result<Certificate> {
    profile.validate()?;
    let bound = BoundProfile {
        profile,
        issuer: issuer.map(|c| c.tbs_certificate().subject().clone()),
    };
    let builder = CertificateBuilder::new(
        bound,
        random_serial(rng)?,
        period.to_validity()?,
        subject_key.to_spki()?,
    )
    .map_err(Error::build("certificate"))?;
    let mut builder = builder;
    let signer = RsaSigner::new(signing_key, digest);
    // The to-be-signed form, linted against the profile before anything is signed.
    let tbs = builder
        .finalize(&signer)
        .map_err(Error::build("certificate"))?;
    crate::lint::check_before_signing(&tbs, profile, digest)?;
    // Signed through the key itself, not the `signature::Signer` adapter, so that a token
    // that cannot sign says why (`SignerUnavailable`) instead of a bare signature error.
    let signature = signing_key.sign(digest, &tbs)?;
    let bits = der::asn1::BitString::from_bytes(&signature).map_err(Error::der("signature"))?;
    builder
        .assemble(bits, &signer)
        .map_err(Error::build("certificate"))
}

/// What a certificate says, in plain types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Serial number, lower-case hex without leading zeros (as `openssl x509 -serial` prints,
    /// but lower-case).
    pub serial_hex: String,
    /// Subject DN in RFC 4514 form.
    pub subject: String,
    /// Issuer DN in RFC 4514 form.
    pub issuer: String,
    /// notBefore.
    pub not_before: SystemTime,
    /// notAfter.
    pub not_after: SystemTime,
    /// rfc822Name entries of subjectAltName, plus legacy emailAddress subject attributes.
    pub emails: Vec<String>,
    /// basicConstraints CA flag.
    pub is_ca: bool,
    /// keyUsage allows digitalSignature or nonRepudiation (absent keyUsage allows all).
    pub can_sign: bool,
    /// keyUsage allows keyEncipherment (absent keyUsage allows all).
    pub can_encrypt: bool,
    /// extKeyUsage is absent or includes emailProtection.
    pub email_protection: bool,
    /// The SMIMECapabilities extension's content algorithms, in the order given.
    pub capabilities: Vec<ContentAlgorithm>,
    /// subjectKeyIdentifier, if present.
    pub subject_key_id: Option<Vec<u8>>,
    /// RSA modulus size in bits.
    pub key_bits: usize,
    /// Malformed non-critical extensions that were ignored, one sentence each (see
    /// [`CertificateInfo::from_certificate`]). Empty for a well-formed certificate.
    pub warnings: Vec<String>,
}

impl CertificateInfo {
    /// Summarises `cert`. A malformed *critical* extension among those it reads is an error;
    /// a malformed non-critical one is reported in [`CertificateInfo::warnings`] and
    /// ignored, so that (say) a broken SMIMECapabilities does not make the whole certificate
    /// unusable. Ignoring fails safe: a malformed keyUsage allows no usage, a malformed
    /// extKeyUsage no email protection, a malformed basicConstraints is not a CA; a malformed
    /// SMIMECapabilities, subjectAltName or subjectKeyIdentifier is as if absent.
    pub fn from_certificate(cert: &Certificate) -> Result<Self> {
        let tbs = cert.tbs_certificate();
        let mut info = CertificateInfo {
            serial_hex: hex_lower(tbs.serial_number().as_bytes()),
            subject: tbs.subject().to_string(),
            issuer: tbs.issuer().to_string(),
            not_before: tbs.validity().not_before.to_system_time(),
            not_after: tbs.validity().not_after.to_system_time(),
            emails: Vec::new(),
            is_ca: false,
            can_sign: true,
            can_encrypt: true,
            email_protection: true,
            capabilities: Vec::new(),
            subject_key_id: None,
            key_bits: public_key(cert).map(|k| k.bits()).unwrap_or(0),
            warnings: Vec::new(),
        };
        for atv in tbs.subject().iter() {
            if atv.oid == oid::EMAIL_ADDRESS
                && let Ok(s) = atv.value.decode_as::<der::asn1::Ia5String>()
            {
                info.emails.push(s.to_string());
            }
        }
        for ext in tbs.extensions().into_iter().flatten() {
            if let Err(e) = info.read_extension(ext) {
                if ext.critical {
                    return Err(e);
                }
                info.warnings.push(format!(
                    "the non-critical extension {} is malformed and was ignored ({e})",
                    ext.extn_id
                ));
                info.fail_safe(ext.extn_id);
            }
        }
        Ok(info)
    }

    /// Reads one extension into `self`; an error when it is malformed.
    fn read_extension(&mut self, ext: &x509_cert::ext::Extension) -> Result<()> {
        let v = ext.extn_value.as_bytes();
        let id = ext.extn_id;
        if id == <BasicConstraints as der::oid::AssociatedOid>::OID {
            self.is_ca = BasicConstraints::from_der(v)
                .map_err(Error::der("basicConstraints"))?
                .ca;
        } else if id == <KeyUsage as der::oid::AssociatedOid>::OID {
            let ku = KeyUsage::from_der(v).map_err(Error::der("keyUsage"))?;
            self.can_sign = ku.digital_signature() || ku.non_repudiation();
            self.can_encrypt = ku.key_encipherment();
        } else if id == <ExtendedKeyUsage as der::oid::AssociatedOid>::OID {
            let eku = ExtendedKeyUsage::from_der(v).map_err(Error::der("extKeyUsage"))?;
            self.email_protection = eku.0.contains(&oid::KP_EMAIL_PROTECTION)
                || eku
                    .0
                    .contains(&der::oid::db::rfc5280::ANY_EXTENDED_KEY_USAGE);
        } else if id == <SubjectAltName as der::oid::AssociatedOid>::OID {
            let san = SubjectAltName::from_der(v).map_err(Error::der("subjectAltName"))?;
            for name in san.0 {
                if let GeneralName::Rfc822Name(s) = name {
                    self.emails.push(s.to_string());
                }
            }
        } else if id == <SubjectKeyIdentifier as der::oid::AssociatedOid>::OID {
            let ski =
                SubjectKeyIdentifier::from_der(v).map_err(Error::der("subjectKeyIdentifier"))?;
            self.subject_key_id = Some(ski.0.as_bytes().to_vec());
        } else if id == oid::SMIME_CAPABILITIES {
            self.capabilities = decode_capabilities(v)?;
        }
        Ok(())
    }

    /// After a malformed non-critical extension `id`: the reading that grants nothing.
    fn fail_safe(&mut self, id: const_oid::ObjectIdentifier) {
        if id == <BasicConstraints as der::oid::AssociatedOid>::OID {
            self.is_ca = false;
        } else if id == <KeyUsage as der::oid::AssociatedOid>::OID {
            self.can_sign = false;
            self.can_encrypt = false;
        } else if id == <ExtendedKeyUsage as der::oid::AssociatedOid>::OID {
            self.email_protection = false;
        } else if id == oid::SMIME_CAPABILITIES {
            self.capabilities = Vec::new();
        }
    }

    /// True when `email` is one of the certificate's addresses (domain compared without case).
    pub fn has_email(&self, email: &str) -> bool {
        self.emails.iter().any(|e| emails_match(e, email))
    }
}

/// The dNSName and iPAddress entries of a certificate's subjectAltName (a server
/// certificate's names), as text.
pub fn host_names(cert: &Certificate) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
        if ext.extn_id != <SubjectAltName as der::oid::AssociatedOid>::OID {
            continue;
        }
        let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
            .map_err(Error::der("subjectAltName"))?;
        for name in san.0 {
            match name {
                GeneralName::DnsName(d) => names.push(d.to_string()),
                GeneralName::IpAddress(ip) => match ip.as_bytes().len() {
                    4 => {
                        let b: [u8; 4] = ip.as_bytes().try_into().unwrap_or_default();
                        names.push(std::net::Ipv4Addr::from(b).to_string());
                    }
                    16 => {
                        let b: [u8; 16] = ip.as_bytes().try_into().unwrap_or_default();
                        names.push(std::net::Ipv6Addr::from(b).to_string());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(names)
}

/// Compares two addresses: local parts exactly, domains without case.
pub fn emails_match(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => false,
    }
}

/// Lower-case hex of bytes, two digits each (keys, key identifiers, fingerprints: byte
/// strings whose leading zeros count, unlike [`hex_lower`]'s integers).
pub fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex of a big-endian unsigned integer, leading zero digits dropped (serials).
pub fn hex_lower(bytes: &[u8]) -> String {
    // The one canonical form of a serial, as the authority stores it: no leading zero digit
    // (not only no leading zero byte), "0" for zero.
    let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let trimmed = h.trim_start_matches('0');
    if trimmed.is_empty() { "0" } else { trimmed }.to_string()
}

/// The TBSCertificate as it was signed. `x509-cert` re-encodes a validity time given as
/// GeneralizedTime before 2050 as UTCTime (its RFC 5280 profile), which changes the signed
/// bytes of certificates from CAs that wrote GeneralizedTime (PKITS 4.2.4, 4.2.7); this
/// encoder writes every field as it was decoded.
pub(crate) fn signed_tbs_der(cert: &Certificate) -> der::Result<Vec<u8>> {
    use der::asn1::ContextSpecificRef;
    use der::{Header, Length, Tag, TagMode, TagNumber};
    use x509_cert::certificate::Version;

    let tbs = cert.tbs_certificate();
    let mut body = Vec::new();
    if tbs.version() != Version::V1 {
        ContextSpecificRef {
            tag_number: TagNumber(0),
            tag_mode: TagMode::Explicit,
            value: &tbs.version(),
        }
        .encode_to_vec(&mut body)?;
    }
    tbs.serial_number().encode_to_vec(&mut body)?;
    tbs.signature().encode_to_vec(&mut body)?;
    tbs.issuer().encode_to_vec(&mut body)?;
    let mut validity = Vec::new();
    tbs.validity().not_before.encode_to_vec(&mut validity)?;
    tbs.validity().not_after.encode_to_vec(&mut validity)?;
    Header::new(Tag::Sequence, Length::try_from(validity.len())?).encode_to_vec(&mut body)?;
    body.extend_from_slice(&validity);
    tbs.subject().encode_to_vec(&mut body)?;
    tbs.subject_public_key_info().encode_to_vec(&mut body)?;
    for (number, id) in [(1, tbs.issuer_unique_id()), (2, tbs.subject_unique_id())] {
        if let Some(id) = id {
            ContextSpecificRef {
                tag_number: TagNumber(number),
                tag_mode: TagMode::Implicit,
                value: id,
            }
            .encode_to_vec(&mut body)?;
        }
    }
    if let Some(exts) = tbs.extensions() {
        ContextSpecificRef {
            tag_number: TagNumber(3),
            tag_mode: TagMode::Explicit,
            value: exts,
        }
        .encode_to_vec(&mut body)?;
    }
    let mut out = Vec::with_capacity(body.len() + 8);
    Header::new(Tag::Sequence, Length::try_from(body.len())?).encode_to_vec(&mut out)?;
    out.extend_from_slice(&body);
    Ok(out)
}
