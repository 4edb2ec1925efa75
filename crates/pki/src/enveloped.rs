//! "Lockbox" hybrid encryption as CMS: EnvelopedData (RFC 5652) for the CBC algorithms and
//! AuthEnvelopedData (RFC 5083/5084) for AES-GCM. One random content key encrypts the content
//! once; each recipient certificate gets a KeyTransRecipientInfo with that key wrapped by RSA
//! (PKCS#1 v1.5 by default, RSAES-OAEP on request). Also decryption with a list of (old and
//! new) keys, and `inspect` to read what a message is without decrypting it.

use core::fmt;

use cms::authenveloped_data::AuthEnvelopedData;
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, SetOfVec};
use der::{Any, AnyRef, Decode, Encode, Reader, Sequence, SliceReader, Tag};
use rand_core::CryptoRng;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use zeroize::Zeroizing;

use crate::algorithms::{ContentAlgorithm, oid};
use crate::certificate::{self, CertificateInfo, hex_lower};
use crate::content::{Cast5Params, ContentEncryption, ContentKey, MAX_CONTENT_SIZE};
use crate::error::{Error, Result};
use crate::keys::{Backend, OaepHash, PrivateKey, Unwrapped};

/// Most recipients one message may have (when writing and when reading).
pub const MAX_RECIPIENTS: usize = 4096;
/// Most keys one decryption may be offered (a PKCS#12 of every key a user ever had).
pub const MAX_KEYS: usize = 1024;
/// Largest message accepted for decryption or inspection: the content limit plus room for
/// the recipients and the structure.
pub const MAX_MESSAGE_SIZE: usize = MAX_CONTENT_SIZE + 16 * 1024 * 1024;

/// id-data.
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// id-envelopedData.
const ID_ENVELOPED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");
/// id-ct-authEnvelopedData (RFC 5083).
const ID_CT_AUTH_ENVELOPED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.23");
/// id-mgf1 (RFC 8017).
const ID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
/// id-pSpecified (RFC 8017).
const ID_P_SPECIFIED: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.9");

/// How the content key is wrapped for each recipient.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyTransport {
    /// RSA PKCS#1 v1.5 (`rsaEncryption`): what every S/MIME client reads. The default.
    #[default]
    RsaPkcs1v15,
    /// RSAES-OAEP with SHA-1 and MGF1-SHA-1, the RFC 8017 defaults (OpenSSL's
    /// `-keyopt rsa_padding_mode:oaep`); the parameters are written as the all-default empty
    /// SEQUENCE, as OpenSSL writes them.
    RsaOaep,
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256, parameters written explicitly (OpenSSL's
    /// `-keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256`).
    RsaOaepSha256,
}

/// How a KeyTransRecipientInfo names its recipient.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RecipientIdKind {
    /// The certificate's issuer and serial number (version 0; every client reads it). The
    /// default.
    #[default]
    IssuerAndSerialNumber,
    /// The certificate's subjectKeyIdentifier extension (version 2).
    SubjectKeyIdentifier,
}

/// Choices for [`encrypt`]; `EncryptOptions::default()` is what old clients read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncryptOptions {
    /// How the content key is wrapped (PKCS#1 v1.5 by default).
    pub key_transport: KeyTransport,
    /// How recipients are named (issuer and serial number by default).
    pub recipient_id: RecipientIdKind,
    /// How CAST5 parameters are written (OpenSSL's bare IV by default).
    pub cast5: Cast5Params,
}

/// Who a RecipientInfo is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientId {
    /// A certificate named by issuer and serial number.
    IssuerAndSerialNumber {
        /// The certificate's issuer.
        issuer: Name,
        /// The certificate's serial number.
        serial: SerialNumber,
    },
    /// A certificate named by its subjectKeyIdentifier.
    SubjectKeyIdentifier(Vec<u8>),
    /// A recipient that does not use key transport (`"key agreement"`, `"KEK"`,
    /// `"password"` or `"other"`); listed so that nothing is hidden, never decrypted here.
    Other(&'static str),
}

impl RecipientId {
    /// The identifier of `cert` in the form `kind`. Fails for a subjectKeyIdentifier when the
    /// certificate has none.
    pub fn of_certificate(cert: &Certificate, kind: RecipientIdKind) -> Result<Self> {
        let tbs = cert.tbs_certificate();
        match kind {
            RecipientIdKind::IssuerAndSerialNumber => Ok(RecipientId::IssuerAndSerialNumber {
                issuer: tbs.issuer().clone(),
                serial: tbs.serial_number().clone(),
            }),
            RecipientIdKind::SubjectKeyIdentifier => cert_ski(cert)?
                .map(RecipientId::SubjectKeyIdentifier)
                .ok_or_else(|| Error::Invalid {
                    what: "recipient certificate",
                    why: format!(
                        "{} has no subjectKeyIdentifier to name it by",
                        tbs.subject()
                    ),
                }),
        }
    }

    /// True when this identifier names `cert` (same issuer and serial, or same
    /// subjectKeyIdentifier; a certificate without the extension is matched by the RFC 5280
    /// method-1 identifier of its key).
    pub fn matches(&self, cert: &Certificate) -> bool {
        let tbs = cert.tbs_certificate();
        match self {
            RecipientId::IssuerAndSerialNumber { issuer, serial } => {
                tbs.issuer() == issuer && tbs.serial_number() == serial
            }
            RecipientId::SubjectKeyIdentifier(id) => match cert_ski(cert) {
                Ok(Some(ski)) => &ski == id,
                Ok(None) => certificate::public_key(cert)
                    .and_then(|k| k.key_identifier())
                    .is_ok_and(|ki| ki.as_slice() == id.as_slice()),
                Err(_) => false,
            },
            RecipientId::Other(_) => false,
        }
    }

    fn from_rid(rid: &RecipientIdentifier) -> Self {
        match rid {
            RecipientIdentifier::IssuerAndSerialNumber(ias) => RecipientId::IssuerAndSerialNumber {
                issuer: ias.issuer.clone(),
                serial: ias.serial_number.clone(),
            },
            RecipientIdentifier::SubjectKeyIdentifier(ski) => {
                RecipientId::SubjectKeyIdentifier(ski.0.as_bytes().to_vec())
            }
        }
    }

    fn to_rid(&self) -> Result<RecipientIdentifier> {
        match self {
            RecipientId::IssuerAndSerialNumber { issuer, serial } => Ok(
                RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                    issuer: issuer.clone(),
                    serial_number: serial.clone(),
                }),
            ),
            RecipientId::SubjectKeyIdentifier(id) => Ok(RecipientIdentifier::SubjectKeyIdentifier(
                SubjectKeyIdentifier(
                    OctetString::new(id.clone()).map_err(Error::der("subjectKeyIdentifier"))?,
                ),
            )),
            RecipientId::Other(kind) => Err(Error::Invalid {
                what: "recipient identifier",
                why: format!("a {kind} recipient cannot be written"),
            }),
        }
    }
}

impl fmt::Display for RecipientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecipientId::IssuerAndSerialNumber { issuer, serial } => write!(
                f,
                "issuer \"{issuer}\" serial {}",
                hex_lower(serial.as_bytes())
            ),
            RecipientId::SubjectKeyIdentifier(id) => {
                write!(f, "subjectKeyIdentifier {}", certificate::hex_bytes(id))
            }
            RecipientId::Other(kind) => write!(f, "a {kind} recipient"),
        }
    }
}

/// What a decryption produced.
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The decrypted content.
    pub content: Vec<u8>,
    /// The type of the content (id-data for a MIME entity).
    pub content_type: ObjectIdentifier,
    /// The content-encryption algorithm the message used.
    pub algorithm: ContentAlgorithm,
    /// True for AuthEnvelopedData (AES-GCM): the content was also authenticated.
    pub authenticated: bool,
    /// Which of the keys given decrypted it (index into the `keys` argument).
    pub key_index: usize,
    /// The RecipientInfo that was used.
    pub recipient: RecipientId,
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The content may be secret: only its length is shown.
        f.debug_struct("Decrypted")
            .field("content_len", &self.content.len())
            .field("content_type", &self.content_type)
            .field("algorithm", &self.algorithm)
            .field("authenticated", &self.authenticated)
            .field("key_index", &self.key_index)
            .field("recipient", &self.recipient)
            .finish()
    }
}

/// What a message is, read without decrypting it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeInfo {
    /// True for AuthEnvelopedData (AES-GCM), false for EnvelopedData.
    pub authenticated: bool,
    /// The type of the encrypted content.
    pub content_type: ObjectIdentifier,
    /// The content-encryption OID.
    pub content_encryption: ObjectIdentifier,
    /// The content-encryption algorithm, when the parameters say which; `None` for CAST5
    /// with OpenSSL's bare IV, whose key length (40, 64 or 128 bits) only the unwrapped key
    /// tells.
    pub algorithm: Option<ContentAlgorithm>,
    /// Every algorithm the message may use, strongest first (one unless `algorithm` is
    /// `None`).
    pub possible_algorithms: Vec<ContentAlgorithm>,
    /// Every recipient, in the order of the message.
    pub recipients: Vec<RecipientId>,
    /// Size of the encrypted content in bytes.
    pub encrypted_size: usize,
}

/// Encrypts `content` for every certificate in `recipients` with `alg`: EnvelopedData, or
/// AuthEnvelopedData for the GCM algorithms. Returns the DER ContentInfo.
///
/// Refuses content over [`MAX_CONTENT_SIZE`], no recipients or more than [`MAX_RECIPIENTS`],
/// and certificates that are not RSA or whose keyUsage forbids keyEncipherment.
pub fn encrypt<R: CryptoRng + ?Sized>(
    content: &[u8],
    recipients: &[Certificate],
    alg: ContentAlgorithm,
    options: &EncryptOptions,
    rng: &mut R,
) -> Result<Vec<u8>> {
    crate::encoding::check_size("content", content, MAX_CONTENT_SIZE)?;
    if recipients.is_empty() {
        return Err(Error::Invalid {
            what: "recipient list",
            why: "it is empty".into(),
        });
    }
    if recipients.len() > MAX_RECIPIENTS {
        return Err(Error::Invalid {
            what: "recipient list",
            why: format!(
                "{} recipients, more than the limit of {MAX_RECIPIENTS}",
                recipients.len()
            ),
        });
    }
    let ce = ContentEncryption::generate(alg, options.cast5, rng);
    let key = ContentKey::generate(alg, rng);
    let mut infos = Vec::with_capacity(recipients.len());
    for (i, cert) in recipients.iter().enumerate() {
        infos.push(RecipientInfo::Ktri(key_trans_recipient(
            i, cert, &key, options, rng,
        )?));
    }
    let recip_infos =
        RecipientInfos(SetOfVec::try_from(infos).map_err(Error::der("RecipientInfos"))?);
    let sealed = ce.encrypt(&key, content)?;
    let eci = EncryptedContentInfo {
        content_type: ID_DATA,
        content_enc_alg: ce.to_algorithm_identifier()?,
        encrypted_content: Some(
            OctetString::new(sealed.ciphertext).map_err(Error::der("encrypted content"))?,
        ),
    };
    let (content_type, inner) = match sealed.tag {
        Some(tag) => {
            let aed = AuthEnvelopedData {
                version: CmsVersion::V0,
                originator_info: None,
                recip_infos,
                auth_encrypted_content_info: eci,
                auth_attrs: None,
                mac: OctetString::new(tag).map_err(Error::der("MAC"))?,
                unauth_attrs: None,
            };
            (
                ID_CT_AUTH_ENVELOPED_DATA,
                Any::encode_from(&aed).map_err(Error::der("AuthEnvelopedData"))?,
            )
        }
        None => {
            // RFC 5652 §6.1: version 2 when a RecipientInfo is version 2 (named by key
            // identifier), else 0.
            let version = match options.recipient_id {
                RecipientIdKind::SubjectKeyIdentifier => CmsVersion::V2,
                RecipientIdKind::IssuerAndSerialNumber => CmsVersion::V0,
            };
            let ed = EnvelopedData {
                version,
                originator_info: None,
                recip_infos,
                encrypted_content: eci,
                unprotected_attrs: None,
            };
            (
                ID_ENVELOPED_DATA,
                Any::encode_from(&ed).map_err(Error::der("EnvelopedData"))?,
            )
        }
    };
    cms::content_info::ContentInfo {
        content_type,
        content: inner,
    }
    .to_der()
    .map_err(Error::der("ContentInfo"))
}

fn key_trans_recipient<R: CryptoRng + ?Sized>(
    index: usize,
    cert: &Certificate,
    key: &ContentKey,
    options: &EncryptOptions,
    rng: &mut R,
) -> Result<KeyTransRecipientInfo> {
    let who = |why: String| Error::Invalid {
        what: "recipient certificate",
        why: format!(
            "#{} ({}): {why}",
            index + 1,
            cert.tbs_certificate().subject()
        ),
    };
    let public = certificate::public_key(cert).map_err(|e| who(e.to_string()))?;
    let info = CertificateInfo::from_certificate(cert).map_err(|e| who(e.to_string()))?;
    if !info.can_encrypt {
        return Err(who(
            "its keyUsage does not allow keyEncipherment (is it a signing certificate?)".into(),
        ));
    }
    let rid =
        RecipientId::of_certificate(cert, options.recipient_id).map_err(|e| who(e.to_string()))?;
    let rsa_key = public.rsa();
    let (key_enc_alg, wrapped) = match options.key_transport {
        KeyTransport::RsaPkcs1v15 => (
            AlgorithmIdentifierOwned {
                oid: oid::RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            },
            rsa_key.pkcs1v15_encrypt_with_rng(rng, key.as_bytes()),
        ),
        KeyTransport::RsaOaep => (
            AlgorithmIdentifierOwned {
                oid: oid::RSAES_OAEP,
                // RSAES-OAEP-params with every field at its DEFAULT: an empty SEQUENCE.
                parameters: Some(
                    Any::encode_from(&pkcs1::RsaOaepParamsOwned::default())
                        .map_err(Error::der("RSAES-OAEP parameters"))?,
                ),
            },
            rsa_key.encrypt(rng, rsa::Oaep::<sha1::Sha1>::new(), key.as_bytes()),
        ),
        KeyTransport::RsaOaepSha256 => {
            let sha256 = AlgorithmIdentifierOwned {
                oid: oid::SHA256,
                parameters: Some(Any::null()),
            };
            let params = pkcs1::RsaOaepParamsOwned {
                hash: sha256.clone(),
                mask_gen: spki::AlgorithmIdentifier {
                    oid: ID_MGF1,
                    parameters: Some(sha256),
                },
                p_source: pkcs1::RsaOaepParamsOwned::default().p_source,
            };
            (
                AlgorithmIdentifierOwned {
                    oid: oid::RSAES_OAEP,
                    parameters: Some(
                        Any::encode_from(&params).map_err(Error::der("RSAES-OAEP parameters"))?,
                    ),
                },
                rsa_key.encrypt(rng, rsa::Oaep::<sha2::Sha256>::new(), key.as_bytes()),
            )
        }
    };
    let wrapped = wrapped.map_err(|_| Error::Rsa("key transport encryption"))?;
    let version = match options.recipient_id {
        RecipientIdKind::IssuerAndSerialNumber => CmsVersion::V0,
        RecipientIdKind::SubjectKeyIdentifier => CmsVersion::V2,
    };
    Ok(KeyTransRecipientInfo {
        version,
        rid: rid.to_rid()?,
        key_enc_alg,
        enc_key: OctetString::new(wrapped).map_err(Error::der("encrypted key"))?,
    })
}

/// A parsed EnvelopedData or AuthEnvelopedData: the parts decryption and inspection need.
struct Envelope {
    authenticated: bool,
    recipients: Vec<RecipientInfo>,
    content_type: ObjectIdentifier,
    content_encryption: AlgorithmIdentifierOwned,
    ciphertext: OctetString,
    /// AuthEnvelopedData's MAC.
    mac: Option<Vec<u8>>,
    /// AuthEnvelopedData's authenticated attributes, DER (the GCM associated data).
    aad: Vec<u8>,
}

/// `ContentInfo` borrowing its content, so that a large message is not copied once more.
#[derive(Sequence)]
struct ContentInfoRef<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: AnyRef<'a>,
}

/// Counts the RecipientInfos of an EnvelopedData or AuthEnvelopedData (the DER of the
/// SEQUENCE) without decoding them, so that a message with millions of tiny recipients is
/// refused before it costs time and memory.
fn count_recipients(inner: AnyRef<'_>) -> Result<usize> {
    let malformed = |e: der::Error| Error::Der {
        what: "EnvelopedData",
        source: e,
    };
    let mut r = SliceReader::new(inner.value()).map_err(malformed)?;
    // version INTEGER
    AnyRef::decode(&mut r).map_err(malformed)?;
    // originatorInfo [0] IMPLICIT OPTIONAL
    if Tag::peek(&r).map_err(malformed)? != Tag::Set {
        AnyRef::decode(&mut r).map_err(malformed)?;
    }
    if Tag::peek(&r).map_err(malformed)? != Tag::Set {
        return Err(Error::Envelope("the RecipientInfos are not a SET".into()));
    }
    let set = AnyRef::decode(&mut r).map_err(malformed)?;
    let mut items = SliceReader::new(set.value()).map_err(malformed)?;
    let mut n = 0usize;
    while !items.is_finished() {
        AnyRef::decode(&mut items).map_err(malformed)?;
        n += 1;
        if n > MAX_RECIPIENTS {
            return Err(Error::Envelope(format!(
                "more than {MAX_RECIPIENTS} recipients"
            )));
        }
    }
    Ok(n)
}

fn parse(der_bytes: &[u8]) -> Result<Envelope> {
    crate::encoding::check_size("enveloped message", der_bytes, MAX_MESSAGE_SIZE)?;
    let ci = match ContentInfoRef::from_der(der_bytes) {
        Ok(ci) => ci,
        // Streaming writers (OpenSSL's S/MIME output, `-stream`) use BER indefinite lengths
        // and constructed strings: convert to DER and read that; if it is not BER either,
        // report the DER error.
        Err(e) => match ber_to_der(der_bytes) {
            Ok(converted) if converted != der_bytes => return parse(&converted),
            Err(limit @ Error::TooManyElements { .. }) => return Err(limit),
            _ => {
                return Err(Error::Der {
                    what: "enveloped message (CMS ContentInfo)",
                    source: e,
                });
            }
        },
    };
    let authenticated = if ci.content_type == ID_ENVELOPED_DATA {
        false
    } else if ci.content_type == ID_CT_AUTH_ENVELOPED_DATA {
        true
    } else {
        return Err(Error::Envelope(format!(
            "the content type is {}, not envelopedData ({ID_ENVELOPED_DATA}) or \
             authEnvelopedData ({ID_CT_AUTH_ENVELOPED_DATA})",
            ci.content_type
        )));
    };
    count_recipients(ci.content)?;
    let (recip_infos, eci, mac, aad) = if authenticated {
        let aed: AuthEnvelopedData = ci
            .content
            .decode_as()
            .map_err(Error::der("AuthEnvelopedData"))?;
        let aad = match &aed.auth_attrs {
            Some(attrs) => attrs.to_der().map_err(Error::der("authAttrs"))?,
            None => Vec::new(),
        };
        (
            aed.recip_infos,
            aed.auth_encrypted_content_info,
            Some(aed.mac.into_bytes().into_vec()),
            aad,
        )
    } else {
        let ed: EnvelopedData = ci
            .content
            .decode_as()
            .map_err(Error::der("EnvelopedData"))?;
        (ed.recip_infos, ed.encrypted_content, None, Vec::new())
    };
    let ciphertext = eci.encrypted_content.ok_or_else(|| {
        Error::Envelope("the encrypted content is detached (not in the message)".into())
    })?;
    Ok(Envelope {
        authenticated,
        recipients: recip_infos.0.into_vec(),
        content_type: eci.content_type,
        content_encryption: eci.content_enc_alg,
        ciphertext,
        mac,
        aad,
    })
}

/// Converts BER to DER as CMS EnvelopedData needs it: the crate's BER reader, with the
/// `[0] IMPLICIT` encryptedContent flattened.
fn ber_to_der(ber: &[u8]) -> Result<Vec<u8>> {
    crate::ber::to_der_implicit_strings(ber).map_err(Error::der("enveloped message (BER)"))
}

/// Reads what a message is — kind, algorithm, recipients — without decrypting it.
pub fn inspect(der_bytes: &[u8]) -> Result<EnvelopeInfo> {
    let env = parse(der_bytes)?;
    let ce = ContentEncryption::from_algorithm_identifier(&env.content_encryption)?;
    Ok(EnvelopeInfo {
        authenticated: env.authenticated,
        content_type: env.content_type,
        content_encryption: env.content_encryption.oid,
        algorithm: ce.algorithm(),
        possible_algorithms: ce.possible_algorithms(),
        recipients: env.recipients.iter().map(recipient_id).collect(),
        encrypted_size: env.ciphertext.as_bytes().len(),
    })
}

fn recipient_id(ri: &RecipientInfo) -> RecipientId {
    match ri {
        RecipientInfo::Ktri(k) => RecipientId::from_rid(&k.rid),
        RecipientInfo::Kari(_) => RecipientId::Other("key agreement"),
        RecipientInfo::Kekri(_) => RecipientId::Other("KEK"),
        RecipientInfo::Pwri(_) => RecipientId::Other("password"),
        RecipientInfo::Ori(_) => RecipientId::Other("other"),
    }
}

/// Decrypts an EnvelopedData or AuthEnvelopedData (DER, or BER as streaming writers make it)
/// with the first of `keys` that the message names as a recipient (by issuer and serial
/// number or subjectKeyIdentifier of its certificate). `keys` is every key the user holds,
/// old ones included; each private key must match its certificate.
///
/// Whatever the reason the key or content does not decrypt — a wrong key, damaged RSA
/// padding, a key of the wrong length, bad content padding, a bad GCM tag — the error is the
/// one [`Error::DecryptFailed`]: PKCS#1 v1.5 unwrapping uses implicit rejection (the `rsa`
/// crate returns a deterministic random-looking key for bad padding), and any unwrapping
/// failure or key of a length the algorithm does not take is replaced by a random key of the
/// right length (RFC 3218 §2.3), so only the content decryption can fail. `rng` blinds the
/// RSA operation and makes that random key.
pub fn decrypt<R: CryptoRng + ?Sized>(
    der_bytes: &[u8],
    keys: &[(PrivateKey, Certificate)],
    rng: &mut R,
) -> Result<Decrypted> {
    if keys.len() > MAX_KEYS {
        return Err(Error::Invalid {
            what: "key list",
            why: format!("{} keys, more than the limit of {MAX_KEYS}", keys.len()),
        });
    }
    for (i, (key, cert)) in keys.iter().enumerate() {
        let matches = certificate::public_key(cert).is_ok_and(|p| p == key.public_key());
        if !matches {
            return Err(Error::Invalid {
                what: "key list",
                why: format!(
                    "entry {} ({}): the private key does not belong to the certificate",
                    i + 1,
                    cert.tbs_certificate().subject()
                ),
            });
        }
    }
    let env = parse(der_bytes)?;
    let ce = ContentEncryption::from_algorithm_identifier(&env.content_encryption)?;
    if ce.is_aead() != env.authenticated {
        return Err(Error::Envelope(format!(
            "{} carries {} content encryption",
            if env.authenticated {
                "AuthEnvelopedData"
            } else {
                "EnvelopedData"
            },
            if ce.is_aead() {
                "authenticated (GCM)"
            } else {
                "unauthenticated (CBC)"
            },
        )));
    }
    if let (Some(mac), Some(want)) = (&env.mac, ce.tag_len())
        && mac.len() != want
    {
        return Err(Error::Envelope(format!(
            "the MAC is {} octets but the GCM parameters say {want}",
            mac.len()
        )));
    }
    // The first key (in the caller's order) that the message names.
    let chosen = keys.iter().enumerate().find_map(|(i, (_, cert))| {
        env.recipients.iter().find_map(|ri| match ri {
            RecipientInfo::Ktri(k) => {
                let id = RecipientId::from_rid(&k.rid);
                id.matches(cert).then_some((i, k, id))
            }
            _ => None,
        })
    });
    let Some((key_index, ktri, recipient)) = chosen else {
        return Err(not_a_recipient(&env.recipients));
    };
    let transport = KeyTransportParams::from_algorithm_identifier(&ktri.key_enc_alg)?;
    let key = &keys[key_index].0;
    let unwrapped = transport.unwrap(Backend::Fastest, key, ktri.enc_key.as_bytes(), rng);

    // RFC 3218 §2.3: continue with a random key whenever unwrapping failed or gave a key of
    // a length the algorithm does not take; only the content decryption may fail.
    let mut random = Zeroizing::new(vec![0u8; key.modulus_len().max(ce.default_key_len())]);
    rng.fill_bytes(&mut random);
    let cek = content_key(&unwrapped, &random, ce.default_key_len(), |n| {
        ce.key_len_allowed(n)
    });
    let content = ce
        .decrypt_with_aad(
            &cek,
            env.ciphertext.as_bytes(),
            env.mac.as_deref(),
            &env.aad,
        )
        .map_err(|_| Error::DecryptFailed)?;
    let algorithm = ce
        .algorithm_for_key_len(cek.len())
        .ok_or(Error::DecryptFailed)?;
    Ok(Decrypted {
        content,
        content_type: env.content_type,
        algorithm,
        authenticated: env.authenticated,
        key_index,
        recipient,
    })
}

fn not_a_recipient(recipients: &[RecipientInfo]) -> Error {
    const SHOWN: usize = 8;
    let mut names: Vec<String> = recipients
        .iter()
        .take(SHOWN)
        .map(|ri| recipient_id(ri).to_string())
        .collect();
    if recipients.len() > SHOWN {
        names.push(format!("and {} more", recipients.len() - SHOWN));
    }
    if names.is_empty() {
        names.push("no recipients at all".into());
    }
    Error::NotARecipient {
        recipients: names.join("; "),
    }
}

/// The RSAES-OAEP digest an AlgorithmIdentifier names.
fn oaep_hash(ai: &AlgorithmIdentifierOwned, what: &'static str) -> Result<OaepHash> {
    let o = ai.oid;
    Ok(if o == oid::SHA1 {
        OaepHash::Sha1
    } else if o == oid::SHA256 {
        OaepHash::Sha256
    } else if o == oid::SHA384 {
        OaepHash::Sha384
    } else if o == oid::SHA512 {
        OaepHash::Sha512
    } else {
        return Err(Error::UnsupportedAlgorithm { what, oid: o });
    })
}

/// The key-transport algorithm of a KeyTransRecipientInfo.
enum KeyTransportParams {
    Pkcs1v15,
    Oaep {
        hash: OaepHash,
        mgf_hash: OaepHash,
        label: Vec<u8>,
    },
}

impl KeyTransportParams {
    fn from_algorithm_identifier(ai: &AlgorithmIdentifierOwned) -> Result<Self> {
        if ai.oid == oid::RSA_ENCRYPTION {
            return Ok(KeyTransportParams::Pkcs1v15);
        }
        if ai.oid != oid::RSAES_OAEP {
            return Err(Error::UnsupportedAlgorithm {
                what: "key transport",
                oid: ai.oid,
            });
        }
        // Absent parameters are read as all defaults (SHA-1, MGF1-SHA-1, empty label).
        let params: pkcs1::RsaOaepParamsOwned = match &ai.parameters {
            Some(p) if !p.is_null() => {
                p.decode_as().map_err(Error::der("RSAES-OAEP parameters"))?
            }
            _ => pkcs1::RsaOaepParamsOwned::default(),
        };
        let hash = oaep_hash(&params.hash, "RSAES-OAEP digest")?;
        if params.mask_gen.oid != ID_MGF1 {
            return Err(Error::UnsupportedAlgorithm {
                what: "RSAES-OAEP mask generation",
                oid: params.mask_gen.oid,
            });
        }
        let mgf_ai = params
            .mask_gen
            .parameters
            .as_ref()
            .ok_or_else(|| Error::Envelope("RSAES-OAEP MGF1 without a digest".into()))?;
        let mgf_hash = oaep_hash(mgf_ai, "RSAES-OAEP MGF1 digest")?;
        if params.p_source.oid != ID_P_SPECIFIED {
            return Err(Error::UnsupportedAlgorithm {
                what: "RSAES-OAEP label source",
                oid: params.p_source.oid,
            });
        }
        let label = match &params.p_source.parameters {
            Some(p) => p
                .decode_as::<OctetString>()
                .map_err(Error::der("RSAES-OAEP label"))?
                .into_bytes()
                .into_vec(),
            None => Vec::new(),
        };
        Ok(KeyTransportParams::Oaep {
            hash,
            mgf_hash,
            label,
        })
    }

    /// Unwraps the content key with `backend`: see [`Unwrapped`] for how a failure looks.
    fn unwrap<R: CryptoRng + ?Sized>(
        &self,
        backend: Backend,
        key: &PrivateKey,
        wrapped: &[u8],
        rng: &mut R,
    ) -> Unwrapped {
        match self {
            KeyTransportParams::Pkcs1v15 => key.decrypt_pkcs1v15(backend, wrapped, rng),
            KeyTransportParams::Oaep {
                hash,
                mgf_hash,
                label,
            } => key.decrypt_oaep(backend, *hash, *mgf_hash, label, wrapped, rng),
        }
    }
}

/// The content-encryption key to go on with (RFC 3218 §2.3): the unwrapped key when the
/// unwrapping succeeded with a length `allowed`, else `random` cut to `default_len`, chosen
/// with masks rather than branches so that which failure it was (and whether it failed)
/// does not show in the time taken. `random` is at least as long as `unwrapped.buf`.
fn content_key(
    unwrapped: &Unwrapped,
    random: &[u8],
    default_len: usize,
    allowed: impl Fn(usize) -> bool,
) -> Zeroizing<Vec<u8>> {
    let keep =
        core::hint::black_box(unwrapped.ok & u8::from(allowed(unwrapped.len)).wrapping_neg());
    let keep_len = usize::from(keep & 1).wrapping_neg();
    let len = (unwrapped.len & keep_len) | (default_len & !keep_len);
    let mut cek = Zeroizing::new(vec![0u8; len]);
    for (i, out) in cek.iter_mut().enumerate() {
        let u = unwrapped.buf.get(i).copied().unwrap_or(0);
        let r = random.get(i).copied().unwrap_or(0);
        *out = (u & keep) | (r & !keep);
    }
    cek
}

/// The subjectKeyIdentifier extension of `cert`, if it has one.
fn cert_ski(cert: &Certificate) -> Result<Option<Vec<u8>>> {
    for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
        if ext.extn_id == <SubjectKeyIdentifier as der::oid::AssociatedOid>::OID {
            let ski = SubjectKeyIdentifier::from_der(ext.extn_value.as_bytes())
                .map_err(Error::der("subjectKeyIdentifier"))?;
            return Ok(Some(ski.0.as_bytes().to_vec()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn ber_indefinite_lengths_and_constructed_strings_become_der() {
        // SEQUENCE(indef) { OID 2.5, [0](indef, constructed) { 04 02 'ab', 04 01 'c' },
        // OCTET STRING(constructed, definite) { 04 01 'd' } }
        let ber = hex("3080060155a08004026162040163000024030401640000");
        let der_bytes = ber_to_der(&ber).unwrap();
        assert_eq!(
            der_bytes,
            hex("300b06015580036162630401 64".replace(' ', "").as_str())
        );
        // DER is left as it is.
        assert_eq!(ber_to_der(&der_bytes).unwrap(), der_bytes);
        // A [0] holding something other than OCTET STRINGs keeps its structure.
        let explicit = hex("a08030030201010000");
        assert_eq!(ber_to_der(&explicit).unwrap(), hex("a0053003020101"));
    }

    #[test]
    fn bad_ber_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            &[0x30][..],
            &[0x30, 0x80][..],
            &[0x30, 0x80, 0x04][..],
            &[0x04, 0x80, 0x00, 0x00][..],
            &[0x30, 0x85, 1, 2, 3, 4, 5][..],
            &[0x30, 0x03, 0x04, 0x05, 0x00][..],
            &[0x1f, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81][..],
        ] {
            assert!(ber_to_der(bad).is_err(), "{bad:02x?}");
        }
        // Nesting deeper than any CMS message is refused.
        let mut deep = vec![];
        for _ in 0..100 {
            deep.extend([0x30, 0x80]);
        }
        for _ in 0..100 {
            deep.extend([0, 0]);
        }
        assert!(ber_to_der(&deep).is_err());
    }

    #[test]
    fn content_key_takes_the_unwrapped_key_only_when_it_is_good() {
        let random: Vec<u8> = (100..=255).collect();
        let mut buf = Zeroizing::new(vec![0u8; 128]);
        buf[..16].copy_from_slice(&[7; 16]);
        let good = Unwrapped {
            buf: buf.clone(),
            len: 16,
            ok: 0xff,
        };
        let aes = |n: usize| n == 16 || n == 32;
        assert_eq!(&content_key(&good, &random, 16, aes)[..], &[7; 16]);
        // Unwrapping failed: the random key, of the default length.
        let failed = Unwrapped {
            buf: Zeroizing::new(vec![0u8; 128]),
            len: 0,
            ok: 0,
        };
        assert_eq!(&content_key(&failed, &random, 32, aes)[..], &random[..32]);
        // Unwrapped, but of a length the algorithm does not take: the random key too.
        let odd = Unwrapped {
            buf,
            len: 5,
            ok: 0xff,
        };
        assert_eq!(&content_key(&odd, &random, 16, aes)[..], &random[..16]);
    }

    #[test]
    fn debug_of_decrypted_content_shows_only_its_length() {
        let d = Decrypted {
            content: b"secret".to_vec(),
            content_type: ID_DATA,
            algorithm: ContentAlgorithm::Aes128,
            authenticated: false,
            key_index: 0,
            recipient: RecipientId::Other("KEK"),
        };
        let s = format!("{d:?}");
        assert!(s.contains("content_len: 6") && !s.contains("secret"), "{s}");
        assert_eq!(d.recipient.to_string(), "a KEK recipient");
    }
}
