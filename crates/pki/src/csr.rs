//! PKCS#10 certificate requests (RFC 2986): the client builds one for the signing key it
//! generated itself; the authority checks the self-signature and its policy (key type and
//! size, signature digest, e-mail addresses) before issuing anything from it.

use der::{Decode, Encode};
use x509_cert::builder::Builder;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::request::{CertReq, ExtensionReq, RequestBuilder};

use crate::algorithms::{DigestAlgorithm, oid};
use crate::certificate::emails_match;
use crate::encoding::{self, MAX_OBJECT_SIZE};
use crate::error::{Error, Result};
use crate::keys::{MAX_RSA_BITS, MIN_RSA_BITS, PublicKey};
use crate::signer::{RsaSigner, SigningKey};
use crate::{Name, profile};

const CSR_LABELS: &[&str] = &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];

/// What the authority accepts in a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrPolicy {
    /// Smallest RSA modulus, in bits.
    pub min_rsa_bits: usize,
    /// Largest RSA modulus, in bits.
    pub max_rsa_bits: usize,
    /// Accept requests self-signed with MD5 or SHA-1 (off by default).
    pub allow_legacy_digests: bool,
    /// The address the request is for: every address the request names (subject
    /// emailAddress, subjectAltName rfc822Name) must be this one.
    pub email: Option<String>,
}

impl Default for CsrPolicy {
    fn default() -> Self {
        Self {
            min_rsa_bits: MIN_RSA_BITS,
            max_rsa_bits: 4096,
            allow_legacy_digests: false,
            email: None,
        }
    }
}

/// A request whose signature verified and which the policy accepts.
#[derive(Clone, Debug)]
pub struct VerifiedRequest {
    /// The key to certify.
    pub public_key: PublicKey,
    /// The subject the requester asked for (the authority decides the subject it issues).
    pub subject: Name,
    /// Addresses named in the request.
    pub emails: Vec<String>,
    /// The digest of the request's self-signature.
    pub digest: DigestAlgorithm,
}

/// Reads a PKCS#10 request from PEM (`CERTIFICATE REQUEST`) or DER.
pub fn parse(input: &[u8]) -> Result<CertReq> {
    let der_bytes = encoding::der_or_pem(
        "certificate request",
        input,
        MAX_OBJECT_SIZE,
        CSR_LABELS,
        "CERTIFICATE REQUEST",
    )?;
    CertReq::from_der(&der_bytes).map_err(Error::der("certificate request"))
}

/// Parses `input`, checks its self-signature, and applies `policy`.
pub fn verify(input: &[u8], policy: &CsrPolicy) -> Result<VerifiedRequest> {
    let req = parse(input)?;
    let public_key = PublicKey::from_spki(&req.info.public_key).map_err(|e| match e {
        Error::UnsupportedKey(why) => Error::PolicyRefused(why),
        other => other,
    })?;
    let digest = DigestAlgorithm::from_rsa_signature_oid(&req.algorithm.oid).map_err(|_| {
        Error::PolicyRefused(format!(
            "the request is signed with {}, not RSA PKCS#1 v1.5 with MD5/SHA-1/SHA-2",
            req.algorithm.oid
        ))
    })?;
    let info_der = req
        .info
        .to_der()
        .map_err(Error::der("certificate request"))?;
    let sig = req
        .signature
        .as_bytes()
        .ok_or(Error::BadSignature("certificate request"))?;
    public_key.verify(digest, &info_der, sig, "certificate request")?;

    let bits = public_key.bits();
    if bits < policy.min_rsa_bits || bits > policy.max_rsa_bits.min(MAX_RSA_BITS) {
        return Err(Error::PolicyRefused(format!(
            "RSA-{bits} key; this authority accepts {} to {} bits",
            policy.min_rsa_bits, policy.max_rsa_bits
        )));
    }
    if matches!(digest, DigestAlgorithm::Md5 | DigestAlgorithm::Sha1)
        && !policy.allow_legacy_digests
    {
        return Err(Error::PolicyRefused(format!(
            "the request is signed with {digest}; use SHA-256 or stronger"
        )));
    }

    let emails = request_emails(&req)?;
    if let Some(expected) = &policy.email
        && let Some(other) = emails.iter().find(|e| !emails_match(e, expected))
    {
        return Err(Error::PolicyRefused(format!(
            "the request names {other}, but it is for {expected}"
        )));
    }
    Ok(VerifiedRequest {
        public_key,
        subject: req.info.subject.clone(),
        emails,
        digest,
    })
}

fn request_emails(req: &CertReq) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for atv in req.info.subject.iter() {
        if atv.oid == oid::EMAIL_ADDRESS {
            let s = atv
                .value
                .decode_as::<der::asn1::Ia5String>()
                .map_err(Error::der("request subject emailAddress"))?;
            out.push(s.to_string());
        }
    }
    for attr in req.info.attributes.iter() {
        if attr.oid != oid::EXTENSION_REQUEST {
            continue;
        }
        for value in attr.values.iter() {
            let exts: ExtensionReq = value
                .decode_as()
                .map_err(Error::der("request extensions"))?;
            for ext in exts.0 {
                if ext.extn_id == <SubjectAltName as der::oid::AssociatedOid>::OID {
                    let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
                        .map_err(Error::der("request subjectAltName"))?;
                    for name in san.0 {
                        if let GeneralName::Rfc822Name(s) = name {
                            out.push(s.to_string());
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Builds a request for `key` (the client's own signing key) naming `subject` and, in
/// subjectAltName, `email`; signed with `digest`. Returns DER.
pub fn build(
    key: &dyn SigningKey,
    subject: Name,
    email: &str,
    digest: DigestAlgorithm,
) -> Result<Vec<u8>> {
    profile::validate_email(email)?;
    let mut builder = RequestBuilder::new(subject).map_err(Error::build("certificate request"))?;
    let san = SubjectAltName(vec![GeneralName::Rfc822Name(
        der::asn1::Ia5String::new(email).map_err(Error::der("e-mail address"))?,
    )]);
    builder
        .add_extension(&san)
        .map_err(Error::der("certificate request"))?;
    let signer = RsaSigner::new(key, digest);
    let req = builder
        .build::<_, rsa::pkcs1v15::Signature>(&signer)
        .map_err(Error::build("certificate request"))?;
    req.to_der().map_err(Error::der("certificate request"))
}

/// Encodes request DER as PEM.
pub fn to_pem(der_bytes: &[u8]) -> String {
    encoding::pem_encode("CERTIFICATE REQUEST", der_bytes)
}
