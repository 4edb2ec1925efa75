//! The ASN.1 structures of a PFX (RFC 7292 §4, RFC 8018 appendix A) that no crate in the
//! workspace provides, and the object identifiers they use. CMS `ContentInfo`, `EncryptedData`
//! and X.509 attributes come from the `cms` and `x509-cert` crates.

use der::Sequence;
use der::asn1::{AnyRef, ObjectIdentifier as Oid, OctetString, SetOfVec};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;

/// `id-data` (RFC 5652): authSafe and safe contents that are not encrypted.
pub(crate) const ID_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
/// `id-signedData`: public-key integrity mode, which this module does not implement.
pub(crate) const ID_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
/// `id-envelopedData`: public-key privacy mode, which this module does not implement.
pub(crate) const ID_ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.3");
/// `id-encryptedData`: password-encrypted safe contents.
pub(crate) const ID_ENCRYPTED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.6");

/// `keyBag`: a plain PKCS#8 `PrivateKeyInfo`.
pub(crate) const KEY_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.1");
/// `pkcs8ShroudedKeyBag`: an `EncryptedPrivateKeyInfo`.
pub(crate) const SHROUDED_KEY_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.2");
/// `certBag`.
pub(crate) const CERT_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.3");
/// `crlBag`.
pub(crate) const CRL_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.4");
/// `secretBag`.
pub(crate) const SECRET_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.5");
/// `safeContentsBag`: nested safe contents.
pub(crate) const SAFE_CONTENTS_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.6");

/// `x509Certificate` (PKCS#9 certTypes): the cert bag value is an OCTET STRING of DER.
pub(crate) const X509_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.22.1");
/// `friendlyName` (PKCS#9): a BMPString.
pub(crate) const FRIENDLY_NAME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.20");
/// `localKeyId` (PKCS#9): an OCTET STRING shared by a key and its certificate.
pub(crate) const LOCAL_KEY_ID: Oid = Oid::new_unwrap("1.2.840.113549.1.9.21");

/// `pbeWithSHAAnd128BitRC4` (RFC 7292 appendix C).
pub(crate) const PBE_SHA_RC4_128: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.1");
/// `pbeWithSHAAnd40BitRC4`.
pub(crate) const PBE_SHA_RC4_40: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.2");
/// `pbeWithSHAAnd3-KeyTripleDES-CBC`.
pub(crate) const PBE_SHA_3DES: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.3");
/// `pbeWithSHAAnd2-KeyTripleDES-CBC`.
pub(crate) const PBE_SHA_2DES: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.4");
/// `pbeWithSHAAnd128BitRC2-CBC`.
pub(crate) const PBE_SHA_RC2_128: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.5");
/// `pbeWithSHAAnd40BitRC2-CBC`.
pub(crate) const PBE_SHA_RC2_40: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.6");

/// `id-PBES2` (RFC 8018).
pub(crate) const PBES2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.13");
/// `id-PBKDF2`.
pub(crate) const PBKDF2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.12");
/// `id-PBMAC1` (RFC 9579): a MAC scheme newer than OpenSSL 3.0, recognised only to name it.
pub(crate) const PBMAC1: Oid = Oid::new_unwrap("1.2.840.113549.1.5.14");
/// `id-scrypt` (RFC 7914), recognised only to name it.
pub(crate) const SCRYPT: Oid = Oid::new_unwrap("1.3.6.1.4.1.11591.4.11");
/// `hmacWithSHA1`, the PBKDF2 default PRF.
pub(crate) const HMAC_SHA1: Oid = Oid::new_unwrap("1.2.840.113549.2.7");
/// `hmacWithSHA224`.
pub(crate) const HMAC_SHA224: Oid = Oid::new_unwrap("1.2.840.113549.2.8");
/// `hmacWithSHA256`.
pub(crate) const HMAC_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.2.9");
/// `hmacWithSHA384`.
pub(crate) const HMAC_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.2.10");
/// `hmacWithSHA512`.
pub(crate) const HMAC_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.2.11");

/// `id-sha224` (the other digests are in [`crate::algorithms::oid`]).
pub(crate) const SHA224: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.4");

/// ```text
/// PFX ::= SEQUENCE {
///     version     INTEGER {v3(3)}(v3,...),
///     authSafe    ContentInfo,
///     macData     MacData OPTIONAL }
/// ```
#[derive(Clone, Debug, Sequence)]
pub(crate) struct Pfx {
    pub version: u8,
    pub auth_safe: cms::content_info::ContentInfo,
    #[asn1(optional = "true")]
    pub mac_data: Option<MacData>,
}

fn one() -> u32 {
    1
}

/// ```text
/// MacData ::= SEQUENCE {
///     mac         DigestInfo,
///     macSalt     OCTET STRING,
///     iterations  INTEGER DEFAULT 1 }
/// ```
#[derive(Clone, Debug, Sequence)]
pub(crate) struct MacData {
    pub mac: DigestInfo,
    pub mac_salt: OctetString,
    #[asn1(default = "one")]
    pub iterations: u32,
}

/// `DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest OCTET STRING }`
#[derive(Clone, Debug, Sequence)]
pub(crate) struct DigestInfo {
    pub algorithm: AlgorithmIdentifierOwned,
    pub digest: OctetString,
}

/// ```text
/// SafeBag ::= SEQUENCE {
///     bagId          BAG-TYPE.&id ({PKCS12BagSet}),
///     bagValue       [0] EXPLICIT BAG-TYPE.&Type({PKCS12BagSet}{@bagId}),
///     bagAttributes  SET OF PKCS12Attribute OPTIONAL }
/// ```
/// The value borrows from the decoded buffer, so a plain keyBag is never copied out of the
/// zeroizing plaintext.
#[derive(Clone, Debug, Sequence)]
pub(crate) struct SafeBag<'a> {
    pub bag_id: Oid,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub bag_value: AnyRef<'a>,
    #[asn1(optional = "true")]
    pub bag_attributes: Option<SetOfVec<Attribute>>,
}

/// ```text
/// CertBag ::= SEQUENCE {
///     certId     BAG-TYPE.&id ({CertTypes}),
///     certValue  [0] EXPLICIT BAG-TYPE.&Type ({CertTypes}{@certId}) }
/// ```
#[derive(Clone, Debug, Sequence)]
pub(crate) struct CertBag<'a> {
    pub cert_id: Oid,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub cert_value: AnyRef<'a>,
}

/// ```text
/// EncryptedPrivateKeyInfo ::= SEQUENCE {
///     encryptionAlgorithm  AlgorithmIdentifier,
///     encryptedData        OCTET STRING }
/// ```
/// (Local rather than `pkcs8::EncryptedPrivateKeyInfo`, whose algorithm type only knows PBES1
/// and PBES2, not the PKCS#12 PBE identifiers.)
#[derive(Clone, Debug, Sequence)]
pub(crate) struct EncryptedPrivateKeyInfo {
    pub algorithm: AlgorithmIdentifierOwned,
    pub encrypted_data: OctetString,
}

/// `pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }`
#[derive(Clone, Debug, Sequence)]
pub(crate) struct Pkcs12PbeParams {
    pub salt: OctetString,
    pub iterations: u32,
}

/// `PBES2-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier,
/// encryptionScheme AlgorithmIdentifier }`
#[derive(Clone, Debug, Sequence)]
pub(crate) struct Pbes2Params {
    pub kdf: AlgorithmIdentifierOwned,
    pub encryption: AlgorithmIdentifierOwned,
}

/// ```text
/// PBKDF2-params ::= SEQUENCE {
///     salt            CHOICE { specified OCTET STRING, otherSource AlgorithmIdentifier },
///     iterationCount  INTEGER (1..MAX),
///     keyLength       INTEGER (1..MAX) OPTIONAL,
///     prf             AlgorithmIdentifier DEFAULT algid-hmacWithSHA1 }
/// ```
/// Only the `specified` salt is supported (RFC 8018 reserves `otherSource`).
#[derive(Clone, Debug, Sequence)]
pub(crate) struct Pbkdf2Params {
    pub salt: OctetString,
    pub iteration_count: u32,
    #[asn1(optional = "true")]
    pub key_length: Option<u32>,
    #[asn1(optional = "true")]
    pub prf: Option<AlgorithmIdentifierOwned>,
}
