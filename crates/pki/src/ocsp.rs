//! OCSP (RFC 6960, with the RFC 5019 lightweight profile): parsing requests defensively,
//! building and signing BasicOCSPResponses with a delegated responder, issuing the delegated
//! responder's certificate (id-kp-OCSPSigning, ocsp-nocheck), and, for relying parties,
//! making requests and reading and checking responses. Pure code: times are arguments.

use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, GeneralizedTime, Int, Null, OctetString};
use der::{Decode, Encode, Enumerated, Sequence, Tag, TagNumber, Tagged};
use rand_core::CryptoRng;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoRef};
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlReason, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, Extensions};
use x509_cert::name::Name;
use x509_cert::time::Validity;

use crate::algorithms::DigestAlgorithm;
use crate::certificate::{self, Issuer, random_serial};
use crate::crl::RevocationReason;
use crate::encoding::rfc5280_time;
use crate::error::{Error, Result};
use crate::keys::{PrivateKey, PublicKey};
use crate::signer::{RsaSigner, SigningKey};

/// Object identifiers of OCSP.
pub mod oid {
    use const_oid::ObjectIdentifier as Oid;
    /// id-pkix-ocsp-basic.
    pub const BASIC_RESPONSE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.1");
    /// id-pkix-ocsp-nonce.
    pub const NONCE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.2");
    /// id-pkix-ocsp-nocheck.
    pub const NO_CHECK: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.5");
    /// id-kp-OCSPSigning.
    pub const KP_OCSP_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.9");
    /// id-ad-ocsp (authorityInfoAccess method).
    pub const AD_OCSP: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1");
}

/// Largest OCSP request accepted (RFC 5019 requests are about 100 bytes).
pub const MAX_REQUEST_SIZE: usize = 8 * 1024;
/// Most CertIDs accepted in one request.
pub const MAX_REQUEST_IDS: usize = 16;
/// Longest nonce accepted (RFC 8954 §2.1: 1 to 32 octets).
pub const MAX_NONCE: usize = 32;
/// Largest OCSP response read.
pub const MAX_RESPONSE_SIZE: usize = 64 * 1024;

// -------------------------------------------------------------------------------------
// ASN.1 (RFC 6960 §4.1.1 and §4.2.1).

/// CertID: which certificate a request or a single response is about.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct CertIdAsn1 {
    hash_algorithm: AlgorithmIdentifierOwned,
    issuer_name_hash: OctetString,
    issuer_key_hash: OctetString,
    serial_number: Int,
}

#[derive(Clone, Debug, Sequence)]
struct RequestAsn1 {
    req_cert: CertIdAsn1,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    single_request_extensions: Option<Extensions>,
}

#[derive(Clone, Debug, Sequence)]
struct TbsRequestAsn1 {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    requestor_name: Option<GeneralName>,
    request_list: Vec<RequestAsn1>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    request_extensions: Option<Extensions>,
}

#[derive(Clone, Debug, Sequence)]
struct OcspRequestAsn1 {
    tbs_request: TbsRequestAsn1,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    optional_signature: Option<Any>,
}

/// OCSPResponseStatus (RFC 6960 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enumerated)]
#[repr(u32)]
#[non_exhaustive]
pub enum ResponseStatus {
    /// The response has valid confirmations.
    Successful = 0,
    /// Illegal confirmation request.
    MalformedRequest = 1,
    /// Internal error in issuer.
    InternalError = 2,
    /// Try again later.
    TryLater = 3,
    /// Must sign the request.
    SigRequired = 5,
    /// Request unauthorized (e.g. about a certificate of another CA).
    Unauthorized = 6,
}

#[derive(Clone, Debug, Sequence)]
struct ResponseBytesAsn1 {
    response_type: ObjectIdentifier,
    response: OctetString,
}

#[derive(Clone, Debug, Sequence)]
struct OcspResponseAsn1 {
    response_status: ResponseStatus,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    response_bytes: Option<ResponseBytesAsn1>,
}

#[derive(Clone, Debug, Sequence)]
struct BasicResponseAsn1 {
    /// Kept as read, so the signature is checked over the bytes that were signed.
    tbs_response_data: Any,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<Certificate>>,
}

#[derive(Clone, Debug, Sequence)]
struct ResponseDataAsn1 {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    /// ResponderID: `[1] Name` or `[2] KeyHash`, both explicitly tagged.
    responder_id: Any,
    produced_at: GeneralizedTime,
    responses: Vec<SingleResponseAsn1>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    response_extensions: Option<Extensions>,
}

#[derive(Clone, Debug, Sequence)]
struct SingleResponseAsn1 {
    cert_id: CertIdAsn1,
    /// CertStatus: `[0] IMPLICIT NULL`, `[1] IMPLICIT RevokedInfo` or `[2] IMPLICIT NULL`.
    cert_status: Any,
    this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    next_update: Option<GeneralizedTime>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    single_extensions: Option<Extensions>,
}

#[derive(Clone, Debug, Sequence)]
struct RevokedInfoAsn1 {
    revocation_time: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    revocation_reason: Option<CrlReason>,
}

fn ctx(number: u32, constructed: bool) -> Tag {
    Tag::ContextSpecific {
        constructed,
        number: TagNumber(number),
    }
}

fn bad_request(why: impl Into<String>) -> Error {
    Error::OcspRequest(why.into())
}

fn bad_response(why: impl Into<String>) -> Error {
    Error::OcspResponse(why.into())
}

fn gtime(t: SystemTime) -> Result<GeneralizedTime> {
    GeneralizedTime::from_system_time(t).map_err(|e| Error::Invalid {
        what: "time",
        why: e.to_string(),
    })
}

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

// -------------------------------------------------------------------------------------
// CertID.

/// A CertID: the hash algorithm, the issuer's name and key hashes, and the serial number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertId {
    raw: CertIdAsn1,
}

impl CertId {
    /// The CertID of the certificate numbered `serial` (big-endian) issued by `issuer`.
    pub fn new(digest: DigestAlgorithm, issuer: &Certificate, serial: &[u8]) -> Result<Self> {
        let (name_hash, key_hash) = issuer_hashes(digest, issuer)?;
        // `serial` may come as DER content octets (a leading 0 before a high bit) or bare:
        // strip, then put back the one 0 a positive INTEGER needs.
        let stripped = strip_zeros(serial);
        let mut unsigned = Vec::with_capacity(stripped.len() + 1);
        if stripped.first().is_none_or(|b| *b >= 0x80) {
            unsigned.push(0);
        }
        unsigned.extend_from_slice(&stripped);
        Ok(Self {
            raw: CertIdAsn1 {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: digest.oid(),
                    parameters: Some(Any::null()),
                },
                issuer_name_hash: OctetString::new(name_hash).map_err(Error::der("CertID"))?,
                issuer_key_hash: OctetString::new(key_hash).map_err(Error::der("CertID"))?,
                serial_number: Int::new(&unsigned).map_err(Error::der("CertID"))?,
            },
        })
    }

    /// The serial number, big-endian without leading zero bytes; `None` when negative.
    pub fn serial(&self) -> Option<Vec<u8>> {
        let b = self.raw.serial_number.as_bytes();
        if b.first().is_some_and(|x| *x >= 0x80) {
            return None;
        }
        Some(strip_zeros(b))
    }

    /// The hash algorithm, when it is one we accept (SHA-1 or SHA-256).
    pub fn digest(&self) -> Option<DigestAlgorithm> {
        match DigestAlgorithm::from_oid(&self.raw.hash_algorithm.oid) {
            Ok(d @ (DigestAlgorithm::Sha1 | DigestAlgorithm::Sha256)) => Some(d),
            _ => None,
        }
    }

    /// True when this CertID names a certificate issued by `issuer` (name and key hashes).
    pub fn is_issued_by(&self, issuer: &Certificate) -> bool {
        let Some(d) = self.digest() else { return false };
        match issuer_hashes(d, issuer) {
            Ok((n, k)) => {
                self.raw.issuer_name_hash.as_bytes() == n.as_slice()
                    && self.raw.issuer_key_hash.as_bytes() == k.as_slice()
            }
            Err(_) => false,
        }
    }

    /// The DER encoding (a cache key: the same CertID gets the same response).
    pub fn to_der(&self) -> Result<Vec<u8>> {
        self.raw.to_der().map_err(Error::der("CertID"))
    }
}

/// The issuer name hash and issuer key hash of `issuer` under `digest` (RFC 6960 §4.1.1).
fn issuer_hashes(digest: DigestAlgorithm, issuer: &Certificate) -> Result<(Vec<u8>, Vec<u8>)> {
    let tbs = issuer.tbs_certificate();
    let name = tbs.subject().to_der().map_err(Error::der("issuer name"))?;
    let key = tbs.subject_public_key_info().subject_public_key.raw_bytes();
    Ok((digest.digest(&name), digest.digest(key)))
}

// -------------------------------------------------------------------------------------
// Requests.

/// A parsed OCSP request.
#[derive(Clone, Debug)]
pub struct Request {
    /// The certificates asked about, in order.
    pub ids: Vec<CertId>,
    /// The nonce extension as sent (to echo), if any.
    nonce: Option<Extension>,
}

impl Request {
    /// The nonce's value (the extension's extnValue), if the request carries one.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_ref().map(|e| e.extn_value.as_bytes())
    }
}

/// Reads an OCSPRequest. Malformed input, no CertID, too many CertIDs, an over-long nonce or
/// an unknown critical extension is [`Error::OcspRequest`] (answered `malformedRequest`).
/// A signature on the request is not checked (RFC 6960 makes it optional; we do not ask).
pub fn parse_request(input: &[u8]) -> Result<Request> {
    if input.len() > MAX_REQUEST_SIZE {
        return Err(Error::TooLarge {
            what: "OCSP request",
            size: input.len(),
            limit: MAX_REQUEST_SIZE,
        });
    }
    let req = OcspRequestAsn1::from_der(input).map_err(|e| bad_request(e.to_string()))?;
    let tbs = req.tbs_request;
    if tbs.version.is_some_and(|v| v != 0) {
        return Err(bad_request("unsupported version"));
    }
    if tbs.request_list.is_empty() {
        return Err(bad_request("the request names no certificate"));
    }
    if tbs.request_list.len() > MAX_REQUEST_IDS {
        return Err(bad_request(format!(
            "the request names {} certificates, more than {MAX_REQUEST_IDS}",
            tbs.request_list.len()
        )));
    }
    let mut nonce = None;
    for ext in tbs.request_extensions.unwrap_or_default() {
        if ext.extn_id == oid::NONCE {
            // RFC 8954: extnValue is an OCTET STRING of 1 to 32 octets.
            let inner = OctetString::from_der(ext.extn_value.as_bytes())
                .map_err(|_| bad_request("the nonce is not an OCTET STRING"))?;
            if inner.as_bytes().is_empty() || inner.as_bytes().len() > MAX_NONCE {
                return Err(bad_request(format!(
                    "the nonce is {} octets; 1 to {MAX_NONCE} are accepted",
                    inner.as_bytes().len()
                )));
            }
            nonce = Some(ext);
        } else if ext.critical {
            return Err(bad_request(format!(
                "unsupported critical extension {}",
                ext.extn_id
            )));
        }
    }
    let mut ids = Vec::with_capacity(tbs.request_list.len());
    for r in tbs.request_list {
        if r.single_request_extensions
            .unwrap_or_default()
            .iter()
            .any(|e| e.critical)
        {
            return Err(bad_request("unsupported critical single request extension"));
        }
        ids.push(CertId { raw: r.req_cert });
    }
    Ok(Request { ids, nonce })
}

/// Encodes an OCSPRequest for `ids`, with a nonce extension when `nonce` is given.
pub fn encode_request(ids: &[CertId], nonce: Option<&[u8]>) -> Result<Vec<u8>> {
    let d = Error::der("OCSP request");
    let request_extensions = match nonce {
        Some(n) => {
            let value = OctetString::new(n.to_vec()).map_err(Error::der("nonce"))?;
            Some(vec![Extension {
                extn_id: oid::NONCE,
                critical: false,
                extn_value: OctetString::new(value.to_der().map_err(Error::der("nonce"))?)
                    .map_err(Error::der("nonce"))?,
            }])
        }
        None => None,
    };
    OcspRequestAsn1 {
        tbs_request: TbsRequestAsn1 {
            version: None,
            requestor_name: None,
            request_list: ids
                .iter()
                .map(|id| RequestAsn1 {
                    req_cert: id.raw.clone(),
                    single_request_extensions: None,
                })
                .collect(),
            request_extensions,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(d)
}

// -------------------------------------------------------------------------------------
// Responses.

/// A certificate's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertStatus {
    /// Issued by this CA, not revoked.
    Good,
    /// Revoked at the time, for the reason (absent for `unspecified`, as in CRLs).
    Revoked {
        /// When.
        at: SystemTime,
        /// Why.
        reason: RevocationReason,
    },
    /// Not a certificate this CA knows.
    Unknown,
}

/// One answer about one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleStatus {
    /// The certificate, as the request named it.
    pub id: CertId,
    /// Its status.
    pub status: CertStatus,
    /// When the status was known to be correct.
    pub this_update: SystemTime,
    /// When newer information will be available.
    pub next_update: SystemTime,
}

/// An unsigned OCSP response with an error status (`status` must not be `Successful`).
pub fn error_response(status: ResponseStatus) -> Vec<u8> {
    // SEQUENCE { ENUMERATED status }: five bytes; infallible for these fixed values.
    vec![0x30, 0x03, 0x0a, 0x01, status as u8]
}

fn encode_status(status: CertStatus) -> Result<Any> {
    let d = Error::der("OCSP certificate status");
    match status {
        CertStatus::Good => Any::new(ctx(0, false), Vec::<u8>::new()).map_err(d),
        CertStatus::Unknown => Any::new(ctx(2, false), Vec::<u8>::new()).map_err(d),
        CertStatus::Revoked { at, reason } => {
            let info = RevokedInfoAsn1 {
                revocation_time: gtime(at)?,
                revocation_reason: Some(reason_to_x509(reason)),
            };
            // [1] IMPLICIT RevokedInfo: the SEQUENCE's content under the context tag.
            let seq = Any::from_der(&info.to_der().map_err(Error::der("RevokedInfo"))?)
                .map_err(Error::der("RevokedInfo"))?;
            Any::new(ctx(1, true), seq.value().to_vec()).map_err(d)
        }
    }
}

fn reason_to_x509(r: RevocationReason) -> CrlReason {
    match r {
        RevocationReason::Unspecified => CrlReason::Unspecified,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::CaCompromise => CrlReason::CaCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::CertificateHold => CrlReason::CertificateHold,
        RevocationReason::RemoveFromCrl => CrlReason::RemoveFromCRL,
        RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise => CrlReason::AaCompromise,
    }
}

fn reason_from_x509(r: CrlReason) -> RevocationReason {
    [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::RemoveFromCrl,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ]
    .into_iter()
    .find(|x| reason_to_x509(*x) == r)
    .unwrap_or_default()
}

fn decode_status(any: &Any) -> Result<CertStatus> {
    let t = any.tag();
    if t == ctx(0, false) {
        Ok(CertStatus::Good)
    } else if t == ctx(2, false) {
        Ok(CertStatus::Unknown)
    } else if t == ctx(1, true) {
        let seq = Any::new(Tag::Sequence, any.value().to_vec())
            .and_then(|a| a.to_der())
            .map_err(|e| bad_response(e.to_string()))?;
        let info = RevokedInfoAsn1::from_der(&seq).map_err(|e| bad_response(e.to_string()))?;
        Ok(CertStatus::Revoked {
            at: info.revocation_time.to_system_time(),
            reason: info
                .revocation_reason
                .map(reason_from_x509)
                .unwrap_or_default(),
        })
    } else {
        Err(bad_response(format!("unknown certificate status tag {t}")))
    }
}

/// A delegated OCSP responder: its certificate (issued by the CA with id-kp-OCSPSigning) and
/// key. Signs with SHA-256.
pub struct Responder {
    cert: Certificate,
    cert_der: Vec<u8>,
    key: PrivateKey,
    key_hash: Vec<u8>,
}

impl core::fmt::Debug for Responder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Responder")
            .field(
                "subject",
                &self.cert.tbs_certificate().subject().to_string(),
            )
            .field("key", &self.key)
            .finish()
    }
}

impl Responder {
    /// A responder from its certificate and key; refuses a key that does not match.
    pub fn new(cert: Certificate, key: PrivateKey) -> Result<Self> {
        if certificate::public_key(&cert)? != key.public_key() {
            return Err(Error::Invalid {
                what: "OCSP responder key",
                why: "the private key does not match the responder certificate".into(),
            });
        }
        let key_hash = DigestAlgorithm::Sha1.digest(
            cert.tbs_certificate()
                .subject_public_key_info()
                .subject_public_key
                .raw_bytes(),
        );
        let cert_der = certificate::to_der(&cert)?;
        Ok(Self {
            cert,
            cert_der,
            key,
            key_hash,
        })
    }

    /// The responder certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The responder's key (to escrow it).
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// When the responder certificate expires.
    pub fn not_after(&self) -> SystemTime {
        self.cert
            .tbs_certificate()
            .validity()
            .not_after
            .to_system_time()
    }

    /// A signed, successful OCSPResponse with one SingleResponse per status, the nonce
    /// extension of `request` echoed when it has one, and the responder certificate.
    pub fn sign(
        &self,
        statuses: &[SingleStatus],
        produced_at: SystemTime,
        request: Option<&Request>,
    ) -> Result<Vec<u8>> {
        let d = Error::der("OCSP response");
        let mut responses = Vec::with_capacity(statuses.len());
        for s in statuses {
            responses.push(SingleResponseAsn1 {
                cert_id: s.id.raw.clone(),
                cert_status: encode_status(s.status)?,
                this_update: gtime(s.this_update)?,
                next_update: Some(gtime(s.next_update)?),
                single_extensions: None,
            });
        }
        let key_hash = OctetString::new(self.key_hash.clone())
            .and_then(|o| o.to_der())
            .map_err(Error::der("responder ID"))?;
        let data = ResponseDataAsn1 {
            version: None,
            responder_id: Any::new(ctx(2, true), key_hash).map_err(Error::der("responder ID"))?,
            produced_at: gtime(produced_at)?,
            responses,
            response_extensions: request.and_then(|r| r.nonce.clone()).map(|n| vec![n]),
        };
        let tbs = data.to_der().map_err(Error::der("OCSP response data"))?;
        let signer = RsaSigner::new(&self.key, DigestAlgorithm::Sha256);
        let signature = SigningKey::sign(&self.key, DigestAlgorithm::Sha256, &tbs)?;
        let basic = BasicResponseAsn1 {
            tbs_response_data: Any::from_der(&tbs).map_err(Error::der("OCSP response data"))?,
            signature_algorithm: signer.algorithm_identifier(),
            signature: BitString::from_bytes(&signature).map_err(Error::der("signature"))?,
            certs: Some(vec![
                Certificate::from_der(&self.cert_der).map_err(Error::der("certificate"))?,
            ]),
        };
        OcspResponseAsn1 {
            response_status: ResponseStatus::Successful,
            response_bytes: Some(ResponseBytesAsn1 {
                response_type: oid::BASIC_RESPONSE,
                response: OctetString::new(basic.to_der().map_err(Error::der("OCSP response"))?)
                    .map_err(Error::der("OCSP response"))?,
            }),
        }
        .to_der()
        .map_err(d)
    }
}

/// A response read and checked by [`parse_response`].
#[derive(Clone, Debug)]
pub struct Response {
    /// When the response was signed.
    pub produced_at: SystemTime,
    /// The answers, in order.
    pub statuses: Vec<SingleStatus>,
    /// The nonce extension's value, if the response carries one.
    pub nonce: Option<Vec<u8>>,
}

/// Reads an OCSPResponse about certificates of `issuer` and checks its signature: by the
/// issuer itself, or by a delegated responder certificate the response carries that
/// `issuer` signed, that has id-kp-OCSPSigning and was valid at producedAt. A status other
/// than `successful` is [`Error::OcspResponse`] naming it.
pub fn parse_response(input: &[u8], issuer: &Certificate) -> Result<Response> {
    if input.len() > MAX_RESPONSE_SIZE {
        return Err(Error::TooLarge {
            what: "OCSP response",
            size: input.len(),
            limit: MAX_RESPONSE_SIZE,
        });
    }
    let outer = OcspResponseAsn1::from_der(input).map_err(|e| bad_response(e.to_string()))?;
    if outer.response_status != ResponseStatus::Successful {
        return Err(bad_response(format!(
            "the responder answered {:?}",
            outer.response_status
        )));
    }
    let bytes = outer
        .response_bytes
        .ok_or_else(|| bad_response("a successful response without responseBytes"))?;
    if bytes.response_type != oid::BASIC_RESPONSE {
        return Err(bad_response(format!(
            "response type {} is not id-pkix-ocsp-basic",
            bytes.response_type
        )));
    }
    let basic = BasicResponseAsn1::from_der(bytes.response.as_bytes())
        .map_err(|e| bad_response(e.to_string()))?;
    let tbs = basic
        .tbs_response_data
        .to_der()
        .map_err(|e| bad_response(e.to_string()))?;
    let data = ResponseDataAsn1::from_der(&tbs).map_err(|e| bad_response(e.to_string()))?;
    let produced_at = data.produced_at.to_system_time();

    // Who signed: the responder ID names the key (byKey) or the subject (byName).
    let rid = &data.responder_id;
    let names_cert = |c: &Certificate| -> bool {
        if rid.tag() == ctx(2, true) {
            let spk = c
                .tbs_certificate()
                .subject_public_key_info()
                .subject_public_key
                .raw_bytes();
            OctetString::from_der(rid.value())
                .is_ok_and(|h| h.as_bytes() == DigestAlgorithm::Sha1.digest(spk).as_slice())
        } else if rid.tag() == ctx(1, true) {
            Name::from_der(rid.value()).is_ok_and(|n| &n == c.tbs_certificate().subject())
        } else {
            false
        }
    };
    let signer_cert = if names_cert(issuer) {
        issuer.clone()
    } else {
        let delegate = basic
            .certs
            .unwrap_or_default()
            .into_iter()
            .find(|c| names_cert(c))
            .ok_or_else(|| bad_response("the response does not carry its signer's certificate"))?;
        certificate::verify_signed_by(&delegate, issuer)
            .map_err(|_| bad_response("the responder certificate is not signed by the CA"))?;
        let info = certificate::CertificateInfo::from_certificate(&delegate)?;
        if produced_at < info.not_before || produced_at > info.not_after {
            return Err(bad_response(
                "the responder certificate was not valid when the response was produced",
            ));
        }
        let eku = delegate
            .tbs_certificate()
            .get_extension::<ExtendedKeyUsage>()
            .ok()
            .flatten()
            .map(|(_, e)| e.0.contains(&oid::KP_OCSP_SIGNING))
            .unwrap_or(false);
        if !eku {
            return Err(bad_response(
                "the responder certificate lacks id-kp-OCSPSigning",
            ));
        }
        delegate
    };
    let digest = DigestAlgorithm::from_rsa_signature_oid(&basic.signature_algorithm.oid)?;
    let sig = basic
        .signature
        .as_bytes()
        .ok_or(Error::BadSignature("OCSP response"))?;
    certificate::public_key(&signer_cert)?.verify(digest, &tbs, sig, "OCSP response")?;

    let mut statuses = Vec::with_capacity(data.responses.len());
    for r in &data.responses {
        let this_update = r.this_update.to_system_time();
        statuses.push(SingleStatus {
            id: CertId {
                raw: r.cert_id.clone(),
            },
            status: decode_status(&r.cert_status)?,
            this_update,
            next_update: r.next_update.map_or(this_update, |t| t.to_system_time()),
        });
    }
    let nonce = data
        .response_extensions
        .unwrap_or_default()
        .into_iter()
        .find(|e| e.extn_id == oid::NONCE)
        .map(|e| e.extn_value.as_bytes().to_vec());
    Ok(Response {
        produced_at,
        statuses,
        nonce,
    })
}

// -------------------------------------------------------------------------------------
// The delegated responder's certificate.

struct ResponderProfile {
    issuer: Name,
    subject: Name,
}

fn ext<T: Encode + der::oid::AssociatedOid>(
    value: &T,
    critical: bool,
) -> x509_cert::builder::Result<Extension> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

fn key_id(spk: SubjectPublicKeyInfoRef<'_>) -> x509_cert::builder::Result<OctetString> {
    Ok(OctetString::new(
        DigestAlgorithm::Sha1.digest(spk.subject_public_key.raw_bytes()),
    )?)
}

impl x509_cert::builder::profile::BuilderProfile for ResponderProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(vec![
            ext(
                &BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                },
                true,
            )?,
            ext(&KeyUsage(KeyUsages::DigitalSignature.into()), true)?,
            ext(&ExtendedKeyUsage(vec![oid::KP_OCSP_SIGNING]), false)?,
            Extension {
                extn_id: oid::NO_CHECK,
                critical: false,
                extn_value: OctetString::new(Null.to_der()?)?,
            },
            ext(&SubjectKeyIdentifier(key_id(spk)?), false)?,
            ext(
                &AuthorityKeyIdentifier {
                    key_identifier: Some(key_id(issuer_spk)?),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                },
                false,
            )?,
        ])
    }
}

/// Issues the delegated OCSP responder certificate for `key` (RFC 6960 §4.2.2.2:
/// id-kp-OCSPSigning; id-pkix-ocsp-nocheck so relying parties do not ask about the
/// responder itself; digitalSignature only; not a CA), valid from `not_before` to
/// `not_after`, subject `subject`.
pub fn issue_responder_certificate<R: CryptoRng + ?Sized>(
    issuer: &Issuer,
    key: &PublicKey,
    subject: Name,
    not_before: SystemTime,
    not_after: SystemTime,
    rng: &mut R,
) -> Result<Certificate> {
    if not_after <= not_before {
        return Err(Error::Invalid {
            what: "validity period",
            why: "notAfter is not after notBefore".into(),
        });
    }
    let profile = ResponderProfile {
        issuer: issuer.certificate().tbs_certificate().subject().clone(),
        subject,
    };
    let builder = CertificateBuilder::new(
        profile,
        random_serial(rng)?,
        Validity::new(rfc5280_time(not_before)?, rfc5280_time(not_after)?),
        key.to_spki()?,
    )
    .map_err(Error::build("OCSP responder certificate"))?;
    let signer = RsaSigner::new(issuer.signing_key(), DigestAlgorithm::Sha256);
    builder
        .build::<_, rsa::pkcs1v15::Signature>(&signer)
        .map_err(|e| {
            // The builder hides why the signature failed: a token key that cannot sign now
            // says so through `check` (SignerUnavailable) rather than as a build error.
            match issuer.signing_key().check() {
                Err(unavailable) => unavailable,
                Ok(()) => Error::build("OCSP responder certificate")(e),
            }
        })
}

/// The OCSP URLs a certificate's authorityInfoAccess names.
pub fn ocsp_urls(cert: &Certificate) -> Vec<String> {
    use x509_cert::ext::pkix::AuthorityInfoAccessSyntax;
    let Ok(Some((_, aia))) = cert
        .tbs_certificate()
        .get_extension::<AuthorityInfoAccessSyntax>()
    else {
        return Vec::new();
    };
    aia.0
        .iter()
        .filter(|d| d.access_method == oid::AD_OCSP)
        .filter_map(|d| match &d.access_location {
            GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use std::time::Duration;

    use crate::certificate::Period;
    use crate::profile::Profile;

    const CA_KEY: &str = include_str!("../../../keys/ca-3072.key.pem");
    const OCSP_KEY: &str = include_str!("../../../keys/alice-sign.key.pem");
    const OTHER_KEY: &str = include_str!("../../../keys/bob-sign.key.pem");

    fn ca(now: SystemTime) -> Issuer {
        let key = PrivateKey::from_pem_or_der(CA_KEY.as_bytes()).expect("key");
        Issuer::self_signed(
            key,
            &Profile::Ca {
                subject: Name::from_str("CN=Test CA").expect("name"),
                path_len: Some(0),
            },
            Period {
                not_before: now - Duration::from_secs(60),
                not_after: now + Duration::from_secs(86400 * 365),
            },
            DigestAlgorithm::Sha256,
            &mut crate::os_rng(),
        )
        .expect("CA")
    }

    fn responder(ca: &Issuer, now: SystemTime) -> Responder {
        let key = PrivateKey::from_pem_or_der(OCSP_KEY.as_bytes()).expect("key");
        let cert = issue_responder_certificate(
            ca,
            &key.public_key(),
            Name::from_str("CN=Test CA OCSP Responder").expect("name"),
            now - Duration::from_secs(60),
            now + Duration::from_secs(30 * 86400),
            &mut crate::os_rng(),
        )
        .expect("responder cert");
        Responder::new(cert, key).expect("responder")
    }

    #[test]
    fn request_round_trip_with_nonce() {
        let now = SystemTime::now();
        let ca = ca(now);
        let id = CertId::new(DigestAlgorithm::Sha1, ca.certificate(), &[0x8a, 1, 2]).expect("id");
        let der = encode_request(&[id.clone()], Some(&[7; 16])).expect("request");
        let req = parse_request(&der).expect("parse");
        assert_eq!(req.ids, vec![id.clone()]);
        assert!(req.ids[0].is_issued_by(ca.certificate()));
        assert_eq!(req.ids[0].serial(), Some(vec![0x8a, 1, 2]));
        assert!(req.nonce().is_some());
        let other = ca_other(now);
        assert!(!req.ids[0].is_issued_by(other.certificate()));
    }

    /// A serial given as DER content octets (a 0 before a high bit, as
    /// `SerialNumber::as_bytes` gives it) or bare makes the same positive CertID serial.
    #[test]
    fn a_high_bit_serial_stays_positive_however_it_is_given() {
        let now = SystemTime::now();
        let ca = ca(now);
        for given in [
            &[0x00, 0xff, 0xf5, 0x01][..],
            &[0xff, 0xf5, 0x01],
            &[0, 0, 0xff, 0xf5, 0x01],
        ] {
            let id = CertId::new(DigestAlgorithm::Sha1, ca.certificate(), given).expect("id");
            assert_eq!(id.serial(), Some(vec![0xff, 0xf5, 0x01]), "{given:02x?}");
        }
        let id = CertId::new(DigestAlgorithm::Sha1, ca.certificate(), &[0, 0x7f]).expect("id");
        assert_eq!(id.serial(), Some(vec![0x7f]));
    }

    fn ca_other(now: SystemTime) -> Issuer {
        let key = PrivateKey::from_pem_or_der(OTHER_KEY.as_bytes()).expect("key");
        Issuer::self_signed(
            key,
            &Profile::Ca {
                subject: Name::from_str("CN=Other CA").expect("name"),
                path_len: None,
            },
            Period {
                not_before: now - Duration::from_secs(60),
                not_after: now + Duration::from_secs(86400),
            },
            DigestAlgorithm::Sha256,
            &mut crate::os_rng(),
        )
        .expect("CA")
    }

    #[test]
    fn malformed_requests_are_refused() {
        let now = SystemTime::now();
        let ca = ca(now);
        for bad in [&b""[..], b"\x30\x00", b"\x30\x03\x30\x01\x00", b"junk"] {
            let e = parse_request(bad).expect_err("malformed");
            assert_eq!(e.code(), "PKI-130", "{bad:?}");
        }
        // An empty request list.
        let empty = encode_request(&[], None).expect("encode");
        assert_eq!(parse_request(&empty).expect_err("empty").code(), "PKI-130");
        // A nonce over 32 octets.
        let id = CertId::new(DigestAlgorithm::Sha256, ca.certificate(), &[1]).expect("id");
        let long = encode_request(&[id.clone()], Some(&[1; 33])).expect("encode");
        assert_eq!(parse_request(&long).expect_err("long").code(), "PKI-130");
        // Too many CertIDs.
        let many = encode_request(&vec![id; MAX_REQUEST_IDS + 1], None).expect("encode");
        assert_eq!(parse_request(&many).expect_err("many").code(), "PKI-130");
        // Too large.
        let big = vec![0x30; MAX_REQUEST_SIZE + 1];
        assert_eq!(parse_request(&big).expect_err("big").code(), "PKI-004");
    }

    #[test]
    fn response_round_trip() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ca = ca(now);
        let r = responder(&ca, now);
        let ids: Vec<CertId> = [[1u8], [2], [3]]
            .iter()
            .map(|s| CertId::new(DigestAlgorithm::Sha256, ca.certificate(), s).expect("id"))
            .collect();
        let at = now - Duration::from_secs(3600);
        let statuses = vec![
            SingleStatus {
                id: ids[0].clone(),
                status: CertStatus::Good,
                this_update: now,
                next_update: now + Duration::from_secs(4 * 86400),
            },
            SingleStatus {
                id: ids[1].clone(),
                status: CertStatus::Revoked {
                    at,
                    reason: RevocationReason::KeyCompromise,
                },
                this_update: now,
                next_update: now + Duration::from_secs(4 * 86400),
            },
            SingleStatus {
                id: ids[2].clone(),
                status: CertStatus::Unknown,
                this_update: now,
                next_update: now + Duration::from_secs(4 * 86400),
            },
        ];
        let req = parse_request(&encode_request(&ids, Some(&[9; 8])).expect("req")).expect("p");
        let der = r.sign(&statuses, now, Some(&req)).expect("sign");
        let resp = parse_response(&der, ca.certificate()).expect("parse");
        assert_eq!(resp.statuses, statuses);
        assert_eq!(resp.produced_at, now);
        assert_eq!(resp.nonce.as_deref(), req.nonce());
        // Another CA does not accept it.
        assert!(parse_response(&der, ca_other(now).certificate()).is_err());
        // A flipped byte in the signed data breaks the signature.
        let mut bad = der.clone();
        let i = bad.len() / 3;
        bad[i] ^= 1;
        assert!(parse_response(&bad, ca.certificate()).is_err());
        // Error responses.
        let e = error_response(ResponseStatus::MalformedRequest);
        let err = parse_response(&e, ca.certificate()).expect_err("error status");
        assert!(err.to_string().contains("MalformedRequest"), "{err}");
    }

    #[test]
    fn responder_certificate_profile() {
        let now = SystemTime::now();
        let ca = ca(now);
        let r = responder(&ca, now);
        let cert = r.certificate();
        certificate::verify_signed_by(cert, ca.certificate()).expect("signed by CA");
        let tbs = cert.tbs_certificate();
        let eku = tbs
            .get_extension::<ExtendedKeyUsage>()
            .expect("eku")
            .expect("eku present")
            .1;
        assert_eq!(eku.0, vec![oid::KP_OCSP_SIGNING]);
        assert!(
            tbs.extensions()
                .into_iter()
                .flatten()
                .any(|e| e.extn_id == oid::NO_CHECK)
        );
        let info = certificate::CertificateInfo::from_certificate(cert).expect("info");
        assert!(!info.is_ca);
        assert!(info.can_sign);
        assert!(!info.can_encrypt);
    }
}
