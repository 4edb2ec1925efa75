//! Message operations on `.eml` files: encrypt for recipients with the negotiated algorithm,
//! decrypt with any key of a keyring, sign (detached or opaque), and verify to one verdict.
//! The outer header fields (From, To, Subject, ...) stay outside, byte for byte; the content
//! fields and body are what is signed or encrypted.

use std::time::SystemTime;

use pki::algorithms::DEFAULT_CAPABILITIES;
use pki::crl::Crl;
use pki::enveloped::{self, EncryptOptions};
use pki::negotiation::{self, Negotiation, Policy, Recipient};
use pki::signed::{self, SignOptions, SignerOutcome};
use pki::smime::{self, SmimeKind, SmimeType};
use pki::verify::{PathValidator, Purpose, Verdict, VerifyOptions};
use pki::{Certificate, CertificateInfo, ContentAlgorithm, DigestAlgorithm};

use crate::keyring::Keyring;

/// The name a recipient is reported by: its first e-mail address, else its subject.
pub fn recipient_name(cert: &Certificate) -> String {
    match CertificateInfo::from_certificate(cert) {
        Ok(info) => info.emails.first().cloned().unwrap_or(info.subject),
        Err(_) => cert.tbs_certificate().subject().to_string(),
    }
}

/// What encryption did.
#[derive(Debug)]
pub struct Encrypted {
    /// The encrypted message.
    pub message: Vec<u8>,
    /// How the algorithm was chosen, and for whom.
    pub negotiation: Negotiation,
    /// What was wrong but ignored in the recipients' certificates (a malformed non-critical
    /// extension, such as a broken SMIMECapabilities), each naming its recipient.
    pub warnings: Vec<String>,
}

/// Encrypts `message` (a whole `.eml`) for `recipients`, choosing the content algorithm by
/// negotiation over their certificates' SMIMECapabilities under `policy` (or the explicit
/// capability lists in `capabilities`, index for index, where given).
pub fn encrypt(
    message: &[u8],
    recipients: &[Certificate],
    capabilities: &[Option<Vec<ContentAlgorithm>>],
    policy: &Policy,
    options: &EncryptOptions,
) -> anyhow::Result<Encrypted> {
    let mut named = Vec::with_capacity(recipients.len());
    let mut warnings = Vec::new();
    for (i, cert) in recipients.iter().enumerate() {
        let id = recipient_name(cert);
        if let Ok(info) = CertificateInfo::from_certificate(cert) {
            warnings.extend(info.warnings.iter().map(|w| format!("{id}: {w}")));
        }
        let r = match capabilities.get(i).cloned().flatten() {
            Some(caps) => Recipient::new(id, caps),
            None => Recipient::from_certificate(id, cert)?,
        };
        named.push(r);
    }
    let negotiation = negotiation::negotiate(&named, policy)?;
    let chosen: Vec<Certificate> = recipients
        .iter()
        .zip(&named)
        .filter(|(_, r)| negotiation.recipients.contains(&r.id))
        .map(|(c, _)| c.clone())
        .collect();
    let split = smime::split(message)?;
    let der = enveloped::encrypt(
        &split.inner,
        &chosen,
        negotiation.algorithm,
        options,
        &mut pki::os_rng(),
    )?;
    let kind = if negotiation.algorithm.is_aead() {
        SmimeType::AuthEnvelopedData
    } else {
        SmimeType::EnvelopedData
    };
    let message = smime::pkcs7_mime(&split.outer_headers, kind, &der)?;
    Ok(Encrypted {
        message,
        negotiation,
        warnings,
    })
}

/// What decryption did.
#[derive(Debug)]
pub struct Decrypted {
    /// The decrypted message: the outer header fields and the inner entity.
    pub message: Vec<u8>,
    /// The content algorithm the message used.
    pub algorithm: ContentAlgorithm,
    /// Which certificate's key opened it.
    pub recipient: String,
}

/// Decrypts an encrypted `.eml` with whichever key of `keyring` its RecipientInfos name.
pub fn decrypt(message: &[u8], keyring: &Keyring) -> anyhow::Result<Decrypted> {
    let parsed = smime::parse(message)?;
    let der = match (&parsed.kind, parsed.der) {
        (
            SmimeKind::Pkcs7Mime(SmimeType::EnvelopedData | SmimeType::AuthEnvelopedData),
            Some(der),
        ) => der,
        (kind, _) => anyhow::bail!("the message is not encrypted (it is {})", describe(kind)),
    };
    let d = enveloped::decrypt(&der, &keyring.keys, &mut pki::os_rng())?;
    let recipient = recipient_name(&keyring.keys[d.key_index].1);
    Ok(Decrypted {
        message: smime::join(&parsed.outer_headers, &d.content),
        algorithm: d.algorithm,
        recipient,
    })
}

fn describe(kind: &SmimeKind) -> &'static str {
    match kind {
        SmimeKind::Plain => "a plain message",
        SmimeKind::MultipartSigned => "a signed (multipart/signed) message",
        SmimeKind::Pkcs7Mime(SmimeType::SignedData) => "a signed (opaque) message",
        SmimeKind::Pkcs7Mime(SmimeType::EnvelopedData) => "an encrypted message",
        SmimeKind::Pkcs7Mime(SmimeType::AuthEnvelopedData) => {
            "an encrypted (authenticated) message"
        }
        _ => "a message of another kind",
    }
}

/// Options of [`sign`].
#[derive(Clone, Debug)]
pub struct SignRequest {
    /// The digest.
    pub digest: DigestAlgorithm,
    /// Opaque (application/pkcs7-mime) rather than detached (multipart/signed).
    pub opaque: bool,
    /// The signingTime to write.
    pub signing_time: SystemTime,
}

/// Signs `message` with the keyring's signing key. When the keyring holds the signer's
/// encryption certificate, the signature names it (RFC 8551 SMIMEEncryptionKeyPreference and
/// Microsoft's attribute, read by Outlook), carries it, and its capabilities are the
/// SMIMECapabilities attribute; otherwise the attribute carries [`DEFAULT_CAPABILITIES`].
pub fn sign(message: &[u8], keyring: &Keyring, request: &SignRequest) -> anyhow::Result<Vec<u8>> {
    let (key, cert) = keyring.signing_key()?;
    let encryption = keyring.encryption_certificate_for(cert);
    let caps = match encryption {
        Some(enc) => CertificateInfo::from_certificate(enc)?.capabilities,
        None => Vec::new(),
    };
    let split = smime::split(message)?;
    let mut options = SignOptions::new(request.signing_time);
    options.digest = request.digest;
    options.detached = !request.opaque;
    options.capabilities = if caps.is_empty() {
        DEFAULT_CAPABILITIES.to_vec()
    } else {
        caps
    };
    // The message carries the encryption certificate it names, so that the recipient has it
    // to encrypt to (RFC 8551 §2.5.3).
    let mut certs = keyring.chain.clone();
    if let Some(enc) = encryption {
        options.prefer_encryption_certificate(enc);
        if enc != cert {
            certs.push(enc.clone());
        }
    }
    let der = signed::sign(&split.inner, key, cert, &certs, &options)?;
    Ok(if request.opaque {
        smime::pkcs7_mime(&split.outer_headers, SmimeType::SignedData, &der)?
    } else {
        smime::multipart_signed(&split.outer_headers, &split.inner, &der, request.digest)?
    })
}

/// What verification found.
#[derive(Debug)]
pub struct VerifyReport {
    /// The one verdict (the worst over the signers).
    pub verdict: Verdict,
    /// Each signer: who, digest, claimed signing time, and its own verdict.
    pub signers: Vec<SignerReport>,
    /// The signed content (the inner entity), when the signature could be read.
    pub content: Option<Vec<u8>>,
    /// Things worth telling about how the message was read (a multipart/signed whose
    /// signature also carries the content).
    pub notes: Vec<String>,
}

/// One signer of a message.
#[derive(Debug)]
pub struct SignerReport {
    /// The signer's address or subject, if its certificate was found.
    pub signer: Option<String>,
    /// The certificate's serial number in hex, if found.
    pub serial: Option<String>,
    /// The certificate's issuer, if found (to pick its CRL).
    pub issuer: Option<String>,
    /// The digest algorithm's name.
    pub digest: Option<DigestAlgorithm>,
    /// The signingTime the signer claims.
    pub signing_time: Option<SystemTime>,
    /// This signer's verdict.
    pub verdict: Verdict,
}

/// Trust material for [`verify`].
pub struct Trust<'a> {
    /// Trusted CA certificates.
    pub anchors: &'a [Certificate],
    /// Other certificates that may complete a path (`--untrusted`).
    pub untrusted: &'a [Certificate],
    /// CRLs (the client's offline copies).
    pub crls: &'a [Crl],
    /// The time to validate at.
    pub time: SystemTime,
    /// Accept legacy keys and certificate signatures (1024-bit RSA, MD5, SHA-1) in the path.
    pub allow_legacy: bool,
}

/// The verdict an OCSP answer gives for `cert`, or (when there is none) a note saying why,
/// if there is anything to say.
fn ocsp_verdict(
    cert: &Certificate,
    id: &pki::verify::CertId,
    trust: &Trust<'_>,
    intermediates: &[Certificate],
    signing_time: Option<std::time::SystemTime>,
) -> Result<Verdict, Option<String>> {
    let issuer = trust
        .anchors
        .iter()
        .chain(intermediates)
        .find(|i| {
            i.tbs_certificate().subject() == cert.tbs_certificate().issuer()
                && pki::certificate::verify_signed_by(cert, i).is_ok()
        })
        .ok_or_else(|| Some("OCSP: the signer's issuer certificate is not at hand".to_string()))?;
    match crate::ocsp::query(cert, issuer, trust.time) {
        Ok(Some(pki::ocsp::CertStatus::Good)) => Ok(Verdict::Valid),
        Ok(Some(pki::ocsp::CertStatus::Revoked { at, reason })) => Ok(Verdict::Revoked {
            certificate: id.clone(),
            revoked_at: at,
            reason,
            signed_before_revocation: signing_time.map(|t| t < at),
        }),
        Ok(Some(_)) => Err(Some(
            "OCSP: the responder does not know the signer's certificate".into(),
        )),
        // No responder named: nothing to say beyond the CRL's own verdict.
        Ok(None) => Err(None),
        Err(e) => Err(Some(format!("OCSP: {e}"))),
    }
}

fn severity(v: &Verdict) -> u8 {
    match v {
        Verdict::Tampered => 6,
        Verdict::Untrusted { .. } => 5,
        Verdict::Revoked { .. } => 4,
        Verdict::Expired { .. } => 3,
        Verdict::NotYetValid { .. } => 2,
        Verdict::RevocationUnknown { .. } => 1,
        _ => 0,
    }
}

/// Verifies a signed `.eml`: the signature and digest, then each signer's certificate path
/// and revocation status. Fails (rather than giving a verdict) only when the message is not
/// a signed message or cannot be read at all.
pub fn verify(message: &[u8], trust: &Trust<'_>) -> anyhow::Result<VerifyReport> {
    verify_with_ocsp(message, trust, false)
}

/// [`verify`], and when `ocsp` is set and a signer's own certificate has no fresh CRL
/// (revocation status unknown), its status from the OCSP responder its authorityInfoAccess
/// names, checked against its issuer ([`crate::ocsp::query`]): `good` makes it valid,
/// `revoked` revoked; no URL, no answer or `unknown` leaves it unknown (with a note).
pub fn verify_with_ocsp(
    message: &[u8],
    trust: &Trust<'_>,
    ocsp: bool,
) -> anyhow::Result<VerifyReport> {
    let parsed = smime::parse(message)?;
    let mut notes = Vec::new();
    let mut carried = smime::CarriedContent::Detached;
    let check = match (&parsed.kind, &parsed.der) {
        (SmimeKind::MultipartSigned, Some(der)) => {
            let part = parsed.signed_content.as_deref().unwrap_or_default();
            let (check, c) = smime::check_multipart_signed(der, part, trust.untrusted)?;
            carried = c;
            match c {
                smime::CarriedContent::Detached => {}
                smime::CarriedContent::SameAsPart => notes.push(
                    "the signature also carries the content (not detached as RFC 8551 asks); \
                     it equals the signed part, so the message was accepted"
                        .to_string(),
                ),
                smime::CarriedContent::DiffersFromPart => notes.push(
                    "the signature carries a content that differs from the signed part: \
                     tampered"
                        .to_string(),
                ),
            }
            check
        }
        (SmimeKind::Pkcs7Mime(SmimeType::SignedData), Some(der)) => {
            signed::check(der, None, trust.untrusted)?
        }
        (kind, _) => anyhow::bail!("the message is not signed (it is {})", describe(kind)),
    };
    if check.signers.is_empty() {
        anyhow::bail!("the message has no signer (it carries certificates only)");
    }
    let mut intermediates: Vec<Certificate> = check.certificates.clone();
    intermediates.extend_from_slice(trust.untrusted);
    let validator = PathValidator::new(trust.anchors, &intermediates, trust.crls);
    let mut signers = Vec::new();
    for s in &check.signers {
        let verdict = match (&s.outcome, &s.certificate) {
            _ if carried == smime::CarriedContent::DiffersFromPart => Verdict::Tampered,
            (SignerOutcome::Tampered(_), _) => Verdict::Tampered,
            (SignerOutcome::Unsupported(e), _) => {
                anyhow::bail!("a signature cannot be checked: {e}")
            }
            (SignerOutcome::Valid, Some(cert)) => {
                let options = VerifyOptions {
                    allow_legacy: trust.allow_legacy,
                    signing_time: s.signing_time,
                    purpose: Purpose::SmimeSigning,
                };
                let verdict = validator.validate(cert, trust.time, &options).verdict;
                match &verdict {
                    Verdict::RevocationUnknown { certificate, .. }
                        if ocsp && certificate.depth == 0 =>
                    {
                        ocsp_verdict(cert, certificate, trust, &intermediates, s.signing_time)
                            .unwrap_or_else(|note| {
                                notes.extend(note);
                                verdict.clone()
                            })
                    }
                    _ => verdict,
                }
            }
            // The signer's certificate is neither in the message nor given: unknown signer.
            _ => Verdict::Untrusted {
                certificate: None,
                reason: pki::verify::UntrustedReason::NoPath {
                    issuer: format!("the signer's certificate ({}) was not found", s.signer_id),
                },
            },
        };
        signers.push(SignerReport {
            signer: s.certificate.as_ref().map(recipient_name),
            serial: s.certificate.as_ref().map(|c| {
                pki::certificate::hex_lower(c.tbs_certificate().serial_number().as_bytes())
            }),
            issuer: s
                .certificate
                .as_ref()
                .map(|c| c.tbs_certificate().issuer().to_string()),
            digest: s.digest,
            signing_time: s.signing_time,
            verdict,
        });
    }
    let verdict = signers
        .iter()
        .max_by_key(|s| severity(&s.verdict))
        .map(|s| s.verdict.clone())
        .unwrap_or(Verdict::Tampered);
    let content = match parsed.kind {
        SmimeKind::MultipartSigned => parsed.signed_content,
        _ => check.content,
    };
    Ok(VerifyReport {
        verdict,
        signers,
        content,
        notes,
    })
}
