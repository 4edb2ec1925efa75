//! CMS SignedData (RFC 5652): signing with RSA PKCS#1 v1.5 and a run-time digest (MD5, SHA-1,
//! SHA-256, SHA-384, SHA-512), detached or encapsulated, and checking each signer's signature.
//! No path validation or revocation here: `check` says whether the signature is intact and
//! who claims to have made it; the verifier decides whether to trust that certificate.
//!
//! Input may be BER (streaming encoders write indefinite lengths and chunked OCTET STRINGs):
//! it is normalised to DER first, keeping the received order of the signed attributes.
//!
//! Checking is bounded for hostile mail: at most [`MAX_SIGNERS`] SignerInfos and
//! [`MAX_CERTIFICATES`] certificates per message (errors `PKI-090`, `PKI-091`, raised before
//! any of them is decoded), the BER element limit of [`crate::ber`] (`PKI-092`), each
//! certificate's identifiers computed once and looked up in a map (not per signer), each
//! signer's public key parsed once, and the content hashed once per digest algorithm.

use crate::ber;

use std::cell::OnceCell;
use std::collections::HashMap;
use std::time::SystemTime;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{
    ID_CONTENT_TYPE, ID_CT_AUTH_ENVELOPED_DATA, ID_DATA, ID_DIGESTED_DATA, ID_ENCRYPTED_DATA,
    ID_ENVELOPED_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA, ID_SIGNING_TIME,
};
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode, ErrorKind, Tag};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use crate::algorithms::{ContentAlgorithm, DigestAlgorithm, decode_capabilities, oid};
use crate::certificate::{hex_lower, public_key};
use crate::encoding::{check_size, rfc5280_time};
use crate::error::{Error, Result};
use crate::keys::{PrivateKey, PublicKey};

/// Largest CMS message, or content to sign, accepted (bytes). Mail systems refuse far less.
pub const MAX_SIGNED_DATA_SIZE: usize = 64 * 1024 * 1024;

/// Most SignerInfos checked in one SignedData. Mail has one signer, rarely two or three
/// (countersigned or dual-algorithm mail); more is refused with `PKI-090`.
pub const MAX_SIGNERS: usize = 64;

/// Most certificates one SignedData may carry. A signer's chain has a handful; a
/// certificates-only message (`.p7c`) a directory's worth at most; more is refused with
/// `PKI-091`.
pub const MAX_CERTIFICATES: usize = 256;

const WHAT: &str = "CMS signed data";

/// How a SignerInfo names the signer's certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignerIdKind {
    /// `issuerAndSerialNumber` (SignerInfo version 1): what every S/MIME client reads.
    #[default]
    IssuerAndSerialNumber,
    /// `subjectKeyIdentifier` (SignerInfo version 3): needs the certificate's SKI extension.
    SubjectKeyIdentifier,
}

/// How to sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignOptions {
    /// Digest for the content and the signature (SHA-256 unless an old peer needs less).
    pub digest: DigestAlgorithm,
    /// Leave the content out of the message (for multipart/signed); otherwise encapsulate it.
    pub detached: bool,
    /// The signingTime attribute (UTCTime through 2049, GeneralizedTime after, RFC 5652 §11.3).
    pub signing_time: SystemTime,
    /// The signer's SMIMECapabilities attribute (written strongest first, as in certificates:
    /// [`crate::algorithms::smime_capabilities`]); empty leaves it out.
    pub capabilities: Vec<ContentAlgorithm>,
    /// How the SignerInfo identifies the signer.
    pub signer_id: SignerIdKind,
    /// The signer's encryption certificate, named (by issuer and serial number) in the
    /// RFC 8551 §2.5.3 SMIMEEncryptionKeyPreference attribute and in Microsoft's
    /// encryption-key-preference attribute (1.3.6.1.4.1.311.16.4, read by Outlook), so that a
    /// recipient of the signed mail knows which certificate to encrypt to; `None` leaves both
    /// out. Set it with [`SignOptions::prefer_encryption_certificate`].
    pub encryption_key_preference: Option<IssuerAndSerialNumber>,
}

impl SignOptions {
    /// SHA-256, encapsulated, no capabilities, signer named by issuer and serial number.
    pub fn new(signing_time: SystemTime) -> Self {
        Self {
            digest: DigestAlgorithm::Sha256,
            detached: false,
            signing_time,
            capabilities: Vec::new(),
            signer_id: SignerIdKind::IssuerAndSerialNumber,
            encryption_key_preference: None,
        }
    }

    /// Names `cert` as the certificate to encrypt to for the signer
    /// ([`SignOptions::encryption_key_preference`]).
    pub fn prefer_encryption_certificate(&mut self, cert: &Certificate) {
        let tbs = cert.tbs_certificate();
        self.encryption_key_preference = Some(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        });
    }
}

/// `SMIMEEncryptionKeyPreference ::= CHOICE { issuerAndSerialNumber [0] IssuerAndSerialNumber,
/// ... }` (RFC 8551 §2.5.3, IMPLICIT tags): the SEQUENCE's contents under a constructed [0].
fn encryption_key_preference(ias: &IssuerAndSerialNumber) -> Result<Any> {
    let mut inner = ias.issuer.to_der().map_err(enc)?;
    inner.extend(ias.serial_number.to_der().map_err(enc)?);
    let tag = Tag::ContextSpecific {
        constructed: true,
        number: der::TagNumber(0),
    };
    Any::new(tag, inner).map_err(enc)
}

/// Signs `content` (an S/MIME inner entity in canonical CRLF form, or any bytes) and returns
/// the DER ContentInfo of a SignedData with one signer, whose signed attributes are
/// contentType, messageDigest, signingTime, (if any) SMIMECapabilities and (if an encryption
/// certificate is named) the two encryption-key-preference attributes. The message carries
/// `signer_cert` and every certificate of `chain` (not repeating the signer's).
pub fn sign(
    content: &[u8],
    signer_key: &PrivateKey,
    signer_cert: &Certificate,
    chain: &[Certificate],
    options: &SignOptions,
) -> Result<Vec<u8>> {
    check_size("content to sign", content, MAX_SIGNED_DATA_SIZE)?;
    if public_key(signer_cert)? != signer_key.public_key() {
        return Err(Error::Invalid {
            what: "signer key",
            why: "the private key does not match the signer's certificate".into(),
        });
    }
    let digest = options.digest;

    let mut attrs = Attributes::new();
    attrs
        .insert(attribute(
            ID_CONTENT_TYPE,
            Any::encode_from(&ID_DATA).map_err(enc)?,
        )?)
        .map_err(enc)?;
    let md = Any::new(Tag::OctetString, digest.digest(content)).map_err(enc)?;
    attrs
        .insert(attribute(ID_MESSAGE_DIGEST, md)?)
        .map_err(enc)?;
    let time = Any::encode_from(&rfc5280_time(options.signing_time)?).map_err(enc)?;
    attrs
        .insert(attribute(ID_SIGNING_TIME, time)?)
        .map_err(enc)?;
    if !options.capabilities.is_empty() {
        let caps = crate::algorithms::encode_capabilities(&options.capabilities)?;
        let caps = Any::from_der(&caps).map_err(enc)?;
        attrs
            .insert(attribute(oid::SMIME_CAPABILITIES, caps)?)
            .map_err(enc)?;
    }
    if let Some(ias) = &options.encryption_key_preference {
        attrs
            .insert(attribute(
                oid::ENCRYPTION_KEY_PREFERENCE,
                encryption_key_preference(ias)?,
            )?)
            .map_err(enc)?;
        attrs
            .insert(attribute(
                oid::MS_ENCRYPTION_KEY_PREFERENCE,
                Any::encode_from(ias).map_err(enc)?,
            )?)
            .map_err(enc)?;
    }
    // RFC 5652 §5.4: the signature covers the DER of the SET OF attributes (tag 0x31).
    let signature = signer_key.sign(digest, &attrs.to_der().map_err(enc)?)?;

    let (version, sid) = match options.signer_id {
        SignerIdKind::IssuerAndSerialNumber => (
            CmsVersion::V1,
            SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: signer_cert.tbs_certificate().issuer().clone(),
                serial_number: signer_cert.tbs_certificate().serial_number().clone(),
            }),
        ),
        SignerIdKind::SubjectKeyIdentifier => {
            let ski = signer_cert
                .tbs_certificate()
                .get_extension::<SubjectKeyIdentifier>()
                .map_err(Error::der("subjectKeyIdentifier"))?
                .ok_or_else(|| Error::Invalid {
                    what: "signer certificate",
                    why: "it has no subjectKeyIdentifier extension to name the signer by".into(),
                })?
                .1;
            (CmsVersion::V3, SignerIdentifier::SubjectKeyIdentifier(ski))
        }
    };
    let signer_info = SignerInfo {
        version,
        sid,
        digest_alg: digest_algorithm_identifier(digest),
        signed_attrs: Some(attrs),
        // rsaEncryption, as OpenSSL and old clients write it (RFC 3370 §3.2).
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: oid::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        signature: OctetString::new(signature).map_err(enc)?,
        unsigned_attrs: None,
    };

    let mut certs = vec![signer_cert.clone()];
    for c in chain {
        if !certs.contains(c) {
            certs.push(c.clone());
        }
    }
    let certs: Vec<CertificateChoices> = certs
        .into_iter()
        .map(CertificateChoices::Certificate)
        .collect();
    let econtent = if options.detached {
        None
    } else {
        Some(Any::new(Tag::OctetString, content).map_err(enc)?)
    };
    let signed_data = SignedData {
        // RFC 5652 §5.1: version 3 when a SignerInfo is version 3, otherwise 1 for id-data.
        version,
        digest_algorithms: SetOfVec::try_from(vec![digest_algorithm_identifier(digest)])
            .map_err(enc)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent,
        },
        certificates: Some(CertificateSet::try_from(certs).map_err(enc)?),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info]).map_err(enc)?,
    };
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}

/// Maps an encoding failure of our own structures (which can only be a size overflow).
fn enc(source: der::Error) -> Error {
    Error::Der {
        what: "CMS signed data (while encoding)",
        source,
    }
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(Error::der("CMS attribute"))?,
    })
}

/// The digest's AlgorithmIdentifier: parameters absent for SHA-1 and SHA-2 (RFC 5754 §2,
/// RFC 3370 §2.1), NULL for MD5 (RFC 3370 §2.2), as OpenSSL writes them.
fn digest_algorithm_identifier(digest: DigestAlgorithm) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: digest.oid(),
        parameters: (digest == DigestAlgorithm::Md5).then(Any::null),
    }
}

/// Who a SignerInfo says signed, as written in the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignerId {
    /// Issuer distinguished name (RFC 4514) and serial number (lower-case hex).
    IssuerAndSerialNumber {
        /// Issuer DN.
        issuer: String,
        /// Serial number.
        serial_hex: String,
    },
    /// The certificate's subjectKeyIdentifier.
    SubjectKeyIdentifier(Vec<u8>),
}

impl core::fmt::Display for SignerId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SignerId::IssuerAndSerialNumber { issuer, serial_hex } => {
                write!(f, "issuer \"{issuer}\", serial {serial_hex}")
            }
            SignerId::SubjectKeyIdentifier(ski) => {
                write!(
                    f,
                    "subject key identifier {}",
                    crate::certificate::hex_bytes(ski)
                )
            }
        }
    }
}

/// Why a signature counts as tampered with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tamper {
    /// The content's digest differs from the signed messageDigest attribute.
    ContentDigest,
    /// The RSA signature does not verify with the signer certificate's key.
    Signature,
    /// The signed contentType attribute differs from the encapsulated content type.
    ContentType,
    /// The signed attributes lack a required attribute or hold a malformed one.
    SignedAttributes(String),
}

impl core::fmt::Display for Tamper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Tamper::ContentDigest => f.write_str("the content does not match its signed digest"),
            Tamper::Signature => f.write_str("the signature does not verify"),
            Tamper::ContentType => {
                f.write_str("the signed content type differs from the message's content type")
            }
            Tamper::SignedAttributes(why) => write!(f, "the signed attributes are invalid: {why}"),
        }
    }
}

/// The result of checking one signer.
#[derive(Debug)]
#[non_exhaustive]
pub enum SignerOutcome {
    /// The content digest and the signature both verify with the signer certificate's key.
    Valid,
    /// The content or the signature was altered (or never matched).
    Tampered(Tamper),
    /// No certificate in the message or among the extra certificates matches the signer id.
    CertificateNotFound,
    /// The signer uses an algorithm or key this system does not verify (DSA, an unknown
    /// digest, RSA-PSS): the error says which.
    Unsupported(Error),
}

impl SignerOutcome {
    /// True for [`SignerOutcome::Valid`].
    pub fn is_valid(&self) -> bool {
        matches!(self, SignerOutcome::Valid)
    }
}

/// What one SignerInfo says, and whether its signature holds.
#[derive(Debug)]
pub struct SignerCheck {
    /// The signer id as written in the message.
    pub signer_id: SignerId,
    /// The signer's certificate, when one matches the signer id.
    pub certificate: Option<Certificate>,
    /// The digest algorithm, when it is one we know.
    pub digest: Option<DigestAlgorithm>,
    /// The digest algorithm's OID as written.
    pub digest_oid: ObjectIdentifier,
    /// The signingTime attribute: when the signer *claims* to have signed.
    pub signing_time: Option<SystemTime>,
    /// The SMIMECapabilities attribute's content algorithms, strongest first.
    pub capabilities: Vec<ContentAlgorithm>,
    /// The verdict on this signer.
    pub outcome: SignerOutcome,
}

/// The result of checking a SignedData message.
#[derive(Debug)]
pub struct SignatureCheck {
    /// The encapsulated content type (id-data for S/MIME).
    pub content_type: ObjectIdentifier,
    /// The encapsulated content; `None` when the signature is detached.
    pub content: Option<Vec<u8>>,
    /// Every certificate the message carries, in the order carried (the verifier's
    /// intermediates).
    pub certificates: Vec<Certificate>,
    /// One entry per SignerInfo, in the order carried. Empty for a certificates-only message.
    pub signers: Vec<SignerCheck>,
}

impl SignatureCheck {
    /// True when there is at least one signer and every signer's signature is valid.
    pub fn is_valid(&self) -> bool {
        !self.signers.is_empty() && self.signers.iter().all(|s| s.outcome.is_valid())
    }
}

/// The name of a CMS content type, for messages.
pub fn content_type_name(o: &ObjectIdentifier) -> String {
    let name = match *o {
        x if x == ID_DATA => "data",
        x if x == ID_SIGNED_DATA => "signed-data",
        x if x == ID_ENVELOPED_DATA => "enveloped-data",
        x if x == ID_DIGESTED_DATA => "digested-data",
        x if x == ID_ENCRYPTED_DATA => "encrypted-data",
        x if x == ID_CT_AUTH_ENVELOPED_DATA => "authEnveloped-data",
        _ => return format!("content type {o}"),
    };
    format!("{name} ({o})")
}

/// The content type of a CMS ContentInfo (DER or BER), without decoding the rest.
pub fn cms_content_type(input: &[u8]) -> Result<ObjectIdentifier> {
    ber::outer_content_type(input).map_err(Error::der("CMS message"))
}

/// Checks every signature of a SignedData ContentInfo (DER or BER). `detached_content` is the
/// signed content when the message does not encapsulate it (multipart/signed). Signer
/// certificates are looked for among the message's own certificates, then `extra_certs`.
/// Structural problems are errors; per-signer problems are [`SignerOutcome`]s.
pub fn check(
    input: &[u8],
    detached_content: Option<&[u8]>,
    extra_certs: &[Certificate],
) -> Result<SignatureCheck> {
    check_size(WHAT, input, MAX_SIGNED_DATA_SIZE)?;
    let normalised = ber::to_der(input).map_err(Error::der(WHAT))?;
    let parsed = Parsed::from_der(&normalised)?;
    let content: &[u8] = match (parsed.econtent, detached_content) {
        (Some(c), None) => c,
        (None, Some(c)) => c,
        // A certificates-only message has nothing to check the content against.
        (None, None) if parsed.signer_infos.is_empty() => &[],
        (None, None) => return Err(Error::DetachedContentMissing),
        (Some(_), Some(_)) => return Err(Error::ContentGivenTwice),
    };
    let index = CertIndex::new(&parsed.certificates, extra_certs);
    let mut digests = Digests::default();
    let signers = parsed
        .signer_infos
        .iter()
        .map(|(si, raw_attrs)| {
            check_signer(
                si,
                raw_attrs.as_deref(),
                &parsed.econtent_type,
                content,
                &index,
                &mut digests,
            )
        })
        .collect();
    Ok(SignatureCheck {
        content_type: parsed.econtent_type,
        content: parsed.econtent.map(<[u8]>::to_vec),
        certificates: parsed.certificates,
        signers,
    })
}

/// A SignedData taken apart, borrowing the normalised DER.
struct Parsed<'a> {
    econtent_type: ObjectIdentifier,
    econtent: Option<&'a [u8]>,
    certificates: Vec<Certificate>,
    /// Each SignerInfo with the DER of its signed attributes as received (tag 0x31).
    signer_infos: Vec<(SignerInfo, Option<Vec<u8>>)>,
}

fn malformed(kind: ErrorKind) -> Error {
    Error::Der {
        what: WHAT,
        source: kind.into(),
    }
}

fn want_tag<'a>(tlv: Option<&ber::Tlv<'a>>, tag: u8) -> Result<ber::Tlv<'a>> {
    let tlv = tlv.ok_or_else(|| {
        malformed(ErrorKind::TagUnexpected {
            expected: Some(ber::tag_of(tag)),
            actual: Tag::Null,
        })
    })?;
    if tlv.tag != tag {
        return Err(malformed(ErrorKind::TagUnexpected {
            expected: Some(ber::tag_of(tag)),
            actual: ber::tag_of(tlv.tag),
        }));
    }
    Ok(*tlv)
}

impl<'a> Parsed<'a> {
    fn from_der(der_bytes: &'a [u8]) -> Result<Self> {
        let d = Error::der(WHAT);
        // ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }
        let (ci, _) = ber::next_tlv(der_bytes).map_err(d)?;
        let ci = want_tag(Some(&ci), 0x30)?;
        let parts = ber::children(ci.content).map_err(Error::der(WHAT))?;
        let ct = want_tag(parts.first(), 0x06)?;
        let ct = ObjectIdentifier::from_der(ct.full).map_err(Error::der(WHAT))?;
        if ct != ID_SIGNED_DATA {
            return Err(Error::CmsContentType {
                expected: "signed-data",
                found: content_type_name(&ct),
            });
        }
        let explicit = want_tag(parts.get(1), 0xa0)?;
        let (sd, rest) = ber::next_tlv(explicit.content).map_err(Error::der(WHAT))?;
        if !rest.is_empty() || parts.len() != 2 {
            return Err(malformed(ErrorKind::Length { tag: Tag::Sequence }));
        }
        let sd = want_tag(Some(&sd), 0x30)?;
        let fields = ber::children(sd.content).map_err(Error::der(WHAT))?;
        let mut it = fields.iter().peekable();
        want_tag(it.next(), 0x02)?; // version
        want_tag(it.next(), 0x31)?; // digestAlgorithms
        let eci = want_tag(it.next(), 0x30)?;
        let eci_parts = ber::children(eci.content).map_err(Error::der(WHAT))?;
        let econtent_type = ObjectIdentifier::from_der(want_tag(eci_parts.first(), 0x06)?.full)
            .map_err(Error::der(WHAT))?;
        let econtent = match eci_parts.get(1) {
            None => None,
            Some(_) => {
                let wrapper = want_tag(eci_parts.get(1), 0xa0)?;
                let (octets, rest) = ber::next_tlv(wrapper.content).map_err(Error::der(WHAT))?;
                if !rest.is_empty() || eci_parts.len() > 2 {
                    return Err(malformed(ErrorKind::Length { tag: Tag::Sequence }));
                }
                Some(want_tag(Some(&octets), 0x04)?.content)
            }
        };
        let mut certificates = Vec::new();
        if let Some(set) = it.next_if(|t| t.tag == 0xa0) {
            let choices = ber::children(set.content).map_err(Error::der(WHAT))?;
            if choices.len() > MAX_CERTIFICATES {
                return Err(Error::TooManyCertificates {
                    count: choices.len(),
                    limit: MAX_CERTIFICATES,
                });
            }
            for choice in choices {
                // Only X.509 certificates; attribute and other certificates are skipped.
                if choice.tag == 0x30 {
                    certificates.push(
                        Certificate::from_der(choice.full)
                            .map_err(Error::der("certificate in the CMS message"))?,
                    );
                }
            }
        }
        it.next_if(|t| t.tag == 0xa1); // crls: not used here
        let infos = want_tag(it.next(), 0x31)?;
        if it.next().is_some() {
            return Err(malformed(ErrorKind::Length { tag: Tag::Sequence }));
        }
        let raws = ber::children(infos.content).map_err(Error::der(WHAT))?;
        if raws.len() > MAX_SIGNERS {
            return Err(Error::TooManySigners {
                count: raws.len(),
                limit: MAX_SIGNERS,
            });
        }
        let mut signer_infos = Vec::new();
        for raw in raws {
            let si = SignerInfo::from_der(raw.full).map_err(Error::der("CMS SignerInfo"))?;
            let raw_attrs = ber::children(raw.content)
                .map_err(Error::der("CMS SignerInfo"))?
                .into_iter()
                .find(|t| t.tag == 0xa0)
                .map(|t| {
                    // [0] IMPLICIT SET OF: the signature covers it with the SET tag.
                    let mut v = t.full.to_vec();
                    v[0] = 0x31;
                    v
                });
            signer_infos.push((si, raw_attrs));
        }
        Ok(Parsed {
            econtent_type,
            econtent,
            certificates,
            signer_infos,
        })
    }
}

fn signer_id(sid: &SignerIdentifier) -> SignerId {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => SignerId::IssuerAndSerialNumber {
            issuer: ias.issuer.to_string(),
            serial_hex: hex_lower(ias.serial_number.as_bytes()),
        },
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            SignerId::SubjectKeyIdentifier(ski.0.as_bytes().to_vec())
        }
    }
}

/// The certificates a signer may be named by (the message's, then the caller's), indexed
/// once: by issuer and serial number, and (built on first use) by subject key identifier.
/// Each certificate's public key is parsed at most once, when a signer needs it.
struct CertIndex<'c> {
    certs: Vec<&'c Certificate>,
    /// (issuer DER, serial content octets) to the first certificate that has them.
    by_issuer_serial: HashMap<(Vec<u8>, Vec<u8>), usize>,
    by_key_id: OnceCell<HashMap<Vec<u8>, usize>>,
    keys: Vec<OnceCell<Option<PublicKey>>>,
}

impl<'c> CertIndex<'c> {
    fn new(message_certs: &'c [Certificate], extra_certs: &'c [Certificate]) -> Self {
        let certs: Vec<&Certificate> = message_certs.iter().chain(extra_certs).collect();
        let mut by_issuer_serial = HashMap::with_capacity(certs.len());
        for (i, c) in certs.iter().enumerate() {
            let tbs = c.tbs_certificate();
            if let Ok(issuer) = tbs.issuer().to_der() {
                by_issuer_serial
                    .entry((issuer, tbs.serial_number().as_bytes().to_vec()))
                    .or_insert(i);
            }
        }
        Self {
            keys: certs.iter().map(|_| OnceCell::new()).collect(),
            certs,
            by_issuer_serial,
            by_key_id: OnceCell::new(),
        }
    }

    /// The certificate `sid` names, as an index into `certs`.
    fn find(&self, sid: &SignerIdentifier) -> Option<usize> {
        match sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => {
                let issuer = ias.issuer.to_der().ok()?;
                self.by_issuer_serial
                    .get(&(issuer, ias.serial_number.as_bytes().to_vec()))
                    .copied()
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => self
                .by_key_id
                .get_or_init(|| self.key_ids())
                .get(ski.0.as_bytes())
                .copied(),
        }
    }

    /// Each certificate's subjectKeyIdentifier extension, or without one (or with a malformed
    /// one) the RFC 5280 method (1) identifier: the SHA-1 of the subjectPublicKey bits.
    fn key_ids(&self) -> HashMap<Vec<u8>, usize> {
        let mut map = HashMap::with_capacity(self.certs.len());
        for (i, c) in self.certs.iter().enumerate() {
            let tbs = c.tbs_certificate();
            let id = match tbs.get_extension::<SubjectKeyIdentifier>() {
                Ok(Some((_, ski))) => ski.0.as_bytes().to_vec(),
                _ => DigestAlgorithm::Sha1
                    .digest(tbs.subject_public_key_info().subject_public_key.raw_bytes()),
            };
            map.entry(id).or_insert(i);
        }
        map
    }

    /// The public key of certificate `i`, parsed on first use.
    fn key(&self, i: usize) -> Result<&PublicKey> {
        if let Some(k) = self.keys[i].get_or_init(|| public_key(self.certs[i]).ok()) {
            return Ok(k);
        }
        // Parsed again only to say why (an Error is not Clone, so it is not kept).
        Err(public_key(self.certs[i]).err().unwrap_or_else(|| {
            Error::UnsupportedKey("the signer certificate's public key cannot be read".into())
        }))
    }
}

/// The content's digest per algorithm, each computed once for all the signers using it.
#[derive(Default)]
struct Digests(HashMap<DigestAlgorithm, Vec<u8>>);

impl Digests {
    fn of(&mut self, digest: DigestAlgorithm, content: &[u8]) -> &[u8] {
        self.0
            .entry(digest)
            .or_insert_with(|| digest.digest(content))
    }
}

/// The single value of the attribute `oid`; an error text when it is absent, repeated or has
/// other than one value (RFC 5652 §11).
fn single_value<'s>(
    attrs: &'s Attributes,
    oid: ObjectIdentifier,
    name: &str,
) -> core::result::Result<Option<&'s Any>, String> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let Some(attr) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(format!("the {name} attribute appears more than once"));
    }
    let mut values = attr.values.iter();
    match (values.next(), values.next()) {
        (Some(v), None) => Ok(Some(v)),
        _ => Err(format!("the {name} attribute must have exactly one value")),
    }
}

fn check_signer(
    si: &SignerInfo,
    raw_attrs: Option<&[u8]>,
    econtent_type: &ObjectIdentifier,
    content: &[u8],
    index: &CertIndex<'_>,
    digests: &mut Digests,
) -> SignerCheck {
    let found = index.find(&si.sid);
    let mut check = SignerCheck {
        signer_id: signer_id(&si.sid),
        certificate: found.map(|i| index.certs[i].clone()),
        digest: DigestAlgorithm::from_oid(&si.digest_alg.oid).ok(),
        digest_oid: si.digest_alg.oid,
        signing_time: None,
        capabilities: Vec::new(),
        outcome: SignerOutcome::Valid,
    };
    if let Some(attrs) = &si.signed_attrs {
        if let Ok(Some(v)) = single_value(attrs, ID_SIGNING_TIME, "signingTime") {
            check.signing_time = v
                .to_der()
                .ok()
                .and_then(|d| x509_cert::time::Time::from_der(&d).ok())
                .map(|t| t.to_system_time());
        }
        if let Ok(Some(v)) = single_value(attrs, oid::SMIME_CAPABILITIES, "SMIMECapabilities") {
            check.capabilities = v
                .to_der()
                .ok()
                .and_then(|d| decode_capabilities(&d).ok())
                .unwrap_or_default();
        }
    }
    check.outcome = outcome(si, raw_attrs, econtent_type, content, digests, found, index);
    check
}

fn outcome(
    si: &SignerInfo,
    raw_attrs: Option<&[u8]>,
    econtent_type: &ObjectIdentifier,
    content: &[u8],
    digests: &mut Digests,
    certificate: Option<usize>,
    index: &CertIndex<'_>,
) -> SignerOutcome {
    let digest = match DigestAlgorithm::from_oid(&si.digest_alg.oid) {
        Ok(d) => d,
        Err(e) => return SignerOutcome::Unsupported(e),
    };
    // With signed attributes, the content is bound by the messageDigest attribute and the
    // signature covers the attributes; without, the signature covers the content itself.
    let signed: &[u8] = match (&si.signed_attrs, raw_attrs) {
        (Some(attrs), Some(raw)) => {
            let tamper = |why: String| SignerOutcome::Tampered(Tamper::SignedAttributes(why));
            let md = match single_value(attrs, ID_MESSAGE_DIGEST, "messageDigest") {
                Ok(Some(v)) => v,
                Ok(None) => return tamper("there is no messageDigest attribute".into()),
                Err(why) => return tamper(why),
            };
            let Ok(md) = md.decode_as::<OctetString>() else {
                return tamper("the messageDigest attribute is not an OCTET STRING".into());
            };
            match single_value(attrs, ID_CONTENT_TYPE, "contentType") {
                Ok(Some(v)) => match v.decode_as::<ObjectIdentifier>() {
                    Ok(ct) if ct == *econtent_type => {}
                    Ok(_) => return SignerOutcome::Tampered(Tamper::ContentType),
                    Err(_) => {
                        return tamper("the contentType attribute is not an OID".into());
                    }
                },
                Ok(None) => return tamper("there is no contentType attribute".into()),
                Err(why) => return tamper(why),
            }
            if md.as_bytes() != digests.of(digest, content) {
                return SignerOutcome::Tampered(Tamper::ContentDigest);
            }
            raw
        }
        _ => content,
    };
    let sig_oid = si.signature_algorithm.oid;
    if sig_oid != oid::RSA_ENCRYPTION {
        match DigestAlgorithm::from_rsa_signature_oid(&sig_oid) {
            Ok(d) if d == digest => {}
            Ok(d) => {
                return SignerOutcome::Unsupported(Error::Invalid {
                    what: "CMS SignerInfo",
                    why: format!(
                        "the signature algorithm uses {d} but the digest algorithm is {digest}"
                    ),
                });
            }
            Err(e) => return SignerOutcome::Unsupported(e),
        }
    }
    let Some(cert) = certificate else {
        return SignerOutcome::CertificateNotFound;
    };
    let key = match index.key(cert) {
        Ok(k) => k,
        Err(e) => return SignerOutcome::Unsupported(e),
    };
    match key.verify(digest, signed, si.signature.as_bytes(), "CMS signer info") {
        Ok(()) => SignerOutcome::Valid,
        Err(_) => SignerOutcome::Tampered(Tamper::Signature),
    }
}
