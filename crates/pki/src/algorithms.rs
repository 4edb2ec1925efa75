//! The algorithm registry: digest and content-encryption algorithms by name and OID, the
//! fixed strength ranking of `docs/CONTRACTS.md`, and the SMIMECapabilities (RFC 4262 /
//! RFC 8551 §2.5.2) encoding of a capability list, strongest first: the one encoding used for
//! the certificate extension and the signed attribute alike.

use core::fmt;
use core::str::FromStr;

use const_oid::ObjectIdentifier;
use der::asn1::{Any, OctetString};
use der::{Decode, Encode, Sequence};
use digest::Digest;

use crate::error::{Error, Result};

/// OIDs used across the crate.
pub mod oid {
    use const_oid::ObjectIdentifier as Oid;

    /// rsaEncryption (PKCS#1).
    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    /// md5WithRSAEncryption.
    pub const MD5_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.4");
    /// sha1WithRSAEncryption.
    pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
    /// sha256WithRSAEncryption.
    pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    /// sha384WithRSAEncryption.
    pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    /// sha512WithRSAEncryption.
    pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    /// id-RSAES-OAEP.
    pub const RSAES_OAEP: Oid = Oid::new_unwrap("1.2.840.113549.1.1.7");
    /// MD5.
    pub const MD5: Oid = Oid::new_unwrap("1.2.840.113549.2.5");
    /// SHA-1.
    pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
    /// SHA-256.
    pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    /// SHA-384.
    pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    /// SHA-512.
    pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
    /// desCBC (OIW).
    pub const DES_CBC: Oid = Oid::new_unwrap("1.3.14.3.2.7");
    /// des-ede3-cbc.
    pub const DES_EDE3_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.7");
    /// rc2-cbc.
    pub const RC2_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.2");
    /// cast5CBC (RFC 2984).
    pub const CAST5_CBC: Oid = Oid::new_unwrap("1.2.840.113533.7.66.10");
    /// aes128-CBC.
    pub const AES128_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.2");
    /// aes192-CBC.
    pub const AES192_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.22");
    /// aes256-CBC.
    pub const AES256_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.42");
    /// camellia128-cbc (RFC 3657).
    pub const CAMELLIA128_CBC: Oid = Oid::new_unwrap("1.2.392.200011.61.1.1.1.2");
    /// camellia192-cbc (RFC 3657).
    pub const CAMELLIA192_CBC: Oid = Oid::new_unwrap("1.2.392.200011.61.1.1.1.3");
    /// camellia256-cbc (RFC 3657).
    pub const CAMELLIA256_CBC: Oid = Oid::new_unwrap("1.2.392.200011.61.1.1.1.4");
    /// id-seedCBC (RFC 4010): recognised only to name it when refusing it.
    pub const SEED_CBC: Oid = Oid::new_unwrap("1.2.410.200004.1.4");
    /// aes128-GCM.
    pub const AES128_GCM: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.6");
    /// aes256-GCM.
    pub const AES256_GCM: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.46");
    /// smimeCapabilities (PKCS#9), used as an attribute and as a certificate extension.
    pub const SMIME_CAPABILITIES: Oid = Oid::new_unwrap("1.2.840.113549.1.9.15");
    /// id-aa-encrypKeyPref (RFC 8551 §2.5.3): SMIMEEncryptionKeyPreference signed attribute.
    pub const ENCRYPTION_KEY_PREFERENCE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.11");
    /// Microsoft's encryption-key-preference signed attribute (an IssuerAndSerialNumber),
    /// the one Outlook reads.
    pub const MS_ENCRYPTION_KEY_PREFERENCE: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.16.4");
    /// id-kp-emailProtection.
    pub const KP_EMAIL_PROTECTION: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.4");
    /// id-kp-serverAuth.
    pub const KP_SERVER_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.1");
    /// pkcs-9 emailAddress (legacy subject attribute).
    pub const EMAIL_ADDRESS: Oid = Oid::new_unwrap("1.2.840.113549.1.9.1");
    /// pkcs-9 extensionRequest (CSR attribute).
    pub const EXTENSION_REQUEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.14");
}

/// Digest algorithms for signatures: MD5 and SHA-1 for old mail and old peers, SHA-2 for
/// everything new (SHA-256 is the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// MD5 (legacy: read and verify old mail only).
    Md5,
    /// SHA-1 (legacy).
    Sha1,
    /// SHA-256, the default.
    #[default]
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// Every digest, in the order of the `--digest` help text.
    pub const ALL: [DigestAlgorithm; 5] = [
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
        DigestAlgorithm::Sha1,
        DigestAlgorithm::Md5,
    ];

    /// The name used on command lines and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "md5",
            DigestAlgorithm::Sha1 => "sha1",
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha384 => "sha384",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }

    /// The digest's own OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            DigestAlgorithm::Md5 => oid::MD5,
            DigestAlgorithm::Sha1 => oid::SHA1,
            DigestAlgorithm::Sha256 => oid::SHA256,
            DigestAlgorithm::Sha384 => oid::SHA384,
            DigestAlgorithm::Sha512 => oid::SHA512,
        }
    }

    /// The OID of RSA PKCS#1 v1.5 signatures with this digest.
    pub fn rsa_signature_oid(self) -> ObjectIdentifier {
        match self {
            DigestAlgorithm::Md5 => oid::MD5_WITH_RSA,
            DigestAlgorithm::Sha1 => oid::SHA1_WITH_RSA,
            DigestAlgorithm::Sha256 => oid::SHA256_WITH_RSA,
            DigestAlgorithm::Sha384 => oid::SHA384_WITH_RSA,
            DigestAlgorithm::Sha512 => oid::SHA512_WITH_RSA,
        }
    }

    /// The digest named by a digest OID.
    pub fn from_oid(o: &ObjectIdentifier) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.oid() == *o)
            .ok_or(Error::UnsupportedAlgorithm {
                what: "digest",
                oid: *o,
            })
    }

    /// The digest of an RSA PKCS#1 v1.5 signature algorithm OID.
    pub fn from_rsa_signature_oid(o: &ObjectIdentifier) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.rsa_signature_oid() == *o)
            .ok_or(Error::UnsupportedAlgorithm {
                what: "signature",
                oid: *o,
            })
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            DigestAlgorithm::Md5 => md5::Md5::digest(data).to_vec(),
            DigestAlgorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
            DigestAlgorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
            DigestAlgorithm::Sha384 => sha2::Sha384::digest(data).to_vec(),
            DigestAlgorithm::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The `rsa` crate's PKCS#1 v1.5 signature scheme (DigestInfo prefix) for this digest.
    pub(crate) fn pkcs1v15_scheme(self) -> rsa::Pkcs1v15Sign {
        match self {
            DigestAlgorithm::Md5 => rsa::Pkcs1v15Sign::new::<md5::Md5>(),
            DigestAlgorithm::Sha1 => rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
            DigestAlgorithm::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            DigestAlgorithm::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            DigestAlgorithm::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DigestAlgorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        let wanted = match lower.as_str() {
            "sha-1" => "sha1",
            "sha-256" => "sha256",
            "sha-384" => "sha384",
            "sha-512" => "sha512",
            other => other,
        };
        Self::ALL
            .into_iter()
            .find(|d| d.name() == wanted)
            .ok_or_else(|| Error::UnknownAlgorithmName {
                what: "digest",
                name: s.to_string(),
                known: Self::ALL.map(|d| d.name()).join(", "),
            })
    }
}

/// Content-encryption algorithms, declared strongest first: the declaration order *is* the
/// ranking of `docs/CONTRACTS.md` and is what negotiation uses. The Camellia variants, last,
/// are outside the ranking: read (decrypted) only, never offered or parsed from a name; they
/// rank as the AES-CBC of the same key size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentAlgorithm {
    /// AES-256 in GCM mode (AuthEnvelopedData, RFC 5083/5084).
    Aes256Gcm,
    /// AES-128 in GCM mode (AuthEnvelopedData).
    Aes128Gcm,
    /// AES-256-CBC.
    Aes256,
    /// AES-192-CBC.
    Aes192,
    /// AES-128-CBC.
    Aes128,
    /// Triple DES (EDE3) CBC.
    TripleDes,
    /// CAST5-CBC with a 128-bit key.
    Cast128,
    /// RC2-CBC with 128 effective key bits.
    Rc2_128,
    /// CAST5-CBC with a 64-bit key (the original system's CAST-64).
    Cast64,
    /// RC2-CBC with 64 effective key bits.
    Rc2_64,
    /// Single DES CBC.
    Des,
    /// CAST5-CBC with a 40-bit key (the original system's CAST-40).
    Cast40,
    /// RC2-CBC with 40 effective key bits.
    Rc2_40,
    /// Camellia-256-CBC (RFC 3657), decrypt only.
    Camellia256,
    /// Camellia-192-CBC (RFC 3657), decrypt only.
    Camellia192,
    /// Camellia-128-CBC (RFC 3657), decrypt only.
    Camellia128,
}

/// The capabilities new users get unless the authority is configured otherwise: what Outlook
/// and Thunderbird both read (NSS reads neither AES-GCM nor RSA-OAEP), strongest first.
pub const DEFAULT_CAPABILITIES: [ContentAlgorithm; 3] = [
    ContentAlgorithm::Aes256,
    ContentAlgorithm::Aes128,
    ContentAlgorithm::TripleDes,
];

impl ContentAlgorithm {
    /// All algorithms, strongest first (the ranking of `docs/CONTRACTS.md`).
    pub const RANKING: [ContentAlgorithm; 13] = [
        ContentAlgorithm::Aes256Gcm,
        ContentAlgorithm::Aes128Gcm,
        ContentAlgorithm::Aes256,
        ContentAlgorithm::Aes192,
        ContentAlgorithm::Aes128,
        ContentAlgorithm::TripleDes,
        ContentAlgorithm::Cast128,
        ContentAlgorithm::Rc2_128,
        ContentAlgorithm::Cast64,
        ContentAlgorithm::Rc2_64,
        ContentAlgorithm::Des,
        ContentAlgorithm::Cast40,
        ContentAlgorithm::Rc2_40,
    ];

    /// The name used everywhere (CLI flags, `--caps`, JSON).
    pub fn name(self) -> &'static str {
        match self {
            ContentAlgorithm::Aes256Gcm => "aes256-gcm",
            ContentAlgorithm::Aes128Gcm => "aes128-gcm",
            ContentAlgorithm::Aes256 => "aes256",
            ContentAlgorithm::Aes192 => "aes192",
            ContentAlgorithm::Aes128 => "aes128",
            ContentAlgorithm::TripleDes => "3des",
            ContentAlgorithm::Cast128 => "cast128",
            ContentAlgorithm::Rc2_128 => "rc2-128",
            ContentAlgorithm::Cast64 => "cast64",
            ContentAlgorithm::Rc2_64 => "rc2-64",
            ContentAlgorithm::Des => "des",
            ContentAlgorithm::Cast40 => "cast40",
            ContentAlgorithm::Rc2_40 => "rc2-40",
            ContentAlgorithm::Camellia256 => "camellia256",
            ContentAlgorithm::Camellia192 => "camellia192",
            ContentAlgorithm::Camellia128 => "camellia128",
        }
    }

    /// Position in the ranking: 0 is the strongest.
    pub fn rank(self) -> usize {
        // RANKING lists every ranked variant once; the declaration order matches it.
        match self {
            ContentAlgorithm::Camellia256 => ContentAlgorithm::Aes256.rank(),
            ContentAlgorithm::Camellia192 => ContentAlgorithm::Aes192.rank(),
            ContentAlgorithm::Camellia128 => ContentAlgorithm::Aes128.rank(),
            ranked => ranked as usize,
        }
    }

    /// True when `self` is as strong as `floor` or stronger.
    pub fn is_at_least(self, floor: ContentAlgorithm) -> bool {
        self.rank() <= floor.rank()
    }

    /// The content-encryption algorithm OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            ContentAlgorithm::Aes256Gcm => oid::AES256_GCM,
            ContentAlgorithm::Aes128Gcm => oid::AES128_GCM,
            ContentAlgorithm::Aes256 => oid::AES256_CBC,
            ContentAlgorithm::Aes192 => oid::AES192_CBC,
            ContentAlgorithm::Aes128 => oid::AES128_CBC,
            ContentAlgorithm::TripleDes => oid::DES_EDE3_CBC,
            ContentAlgorithm::Cast128 | ContentAlgorithm::Cast64 | ContentAlgorithm::Cast40 => {
                oid::CAST5_CBC
            }
            ContentAlgorithm::Rc2_128 | ContentAlgorithm::Rc2_64 | ContentAlgorithm::Rc2_40 => {
                oid::RC2_CBC
            }
            ContentAlgorithm::Des => oid::DES_CBC,
            ContentAlgorithm::Camellia256 => oid::CAMELLIA256_CBC,
            ContentAlgorithm::Camellia192 => oid::CAMELLIA192_CBC,
            ContentAlgorithm::Camellia128 => oid::CAMELLIA128_CBC,
        }
    }

    /// Length of the content-encryption key in bytes.
    pub fn key_len(self) -> usize {
        match self {
            ContentAlgorithm::Aes256Gcm
            | ContentAlgorithm::Aes256
            | ContentAlgorithm::Camellia256 => 32,
            ContentAlgorithm::Aes192
            | ContentAlgorithm::TripleDes
            | ContentAlgorithm::Camellia192 => 24,
            ContentAlgorithm::Aes128Gcm
            | ContentAlgorithm::Aes128
            | ContentAlgorithm::Camellia128 => 16,
            ContentAlgorithm::Cast128 | ContentAlgorithm::Rc2_128 => 16,
            ContentAlgorithm::Cast64 | ContentAlgorithm::Rc2_64 | ContentAlgorithm::Des => 8,
            ContentAlgorithm::Cast40 | ContentAlgorithm::Rc2_40 => 5,
        }
    }

    /// Effective key bits, as carried in capabilities and RC2/CAST5 parameters.
    pub fn key_bits(self) -> u32 {
        match self {
            ContentAlgorithm::Des => 56,
            ContentAlgorithm::TripleDes => 168,
            other => (other.key_len() * 8) as u32,
        }
    }

    /// True for the AEAD algorithms, which use AuthEnvelopedData rather than EnvelopedData.
    pub fn is_aead(self) -> bool {
        matches!(
            self,
            ContentAlgorithm::Aes256Gcm | ContentAlgorithm::Aes128Gcm
        )
    }

    /// Parses a comma-separated list of names (`--caps aes256,3des`), keeping the order given
    /// and refusing duplicates and unknown names.
    pub fn parse_list(s: &str) -> Result<Vec<ContentAlgorithm>> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let alg: ContentAlgorithm = part.parse()?;
            if out.contains(&alg) {
                return Err(Error::Invalid {
                    what: "algorithm list",
                    why: format!("\"{part}\" is listed twice"),
                });
            }
            out.push(alg);
        }
        if out.is_empty() {
            return Err(Error::Invalid {
                what: "algorithm list",
                why: "it is empty".into(),
            });
        }
        Ok(out)
    }

    /// The SMIMECapability for this algorithm (RFC 5751 §2.5.2, RFC 2984, RFC 3565, RFC 5084).
    pub fn capability(self) -> SmimeCapability {
        let parameters = match self {
            // RFC 5751: the RC2 capability carries the effective key size as an INTEGER.
            ContentAlgorithm::Rc2_128 | ContentAlgorithm::Rc2_64 | ContentAlgorithm::Rc2_40 => {
                Some(any_from(&self.key_bits()))
            }
            // RFC 2984 §3: CAST5CBCParameters with the IV left at its DEFAULT, i.e.
            // SEQUENCE { keyLength INTEGER }.
            ContentAlgorithm::Cast128 | ContentAlgorithm::Cast64 | ContentAlgorithm::Cast40 => {
                Some(any_from(&Cast5CapabilityParams {
                    iv: None,
                    key_length: self.key_bits(),
                }))
            }
            // AES (RFC 3565), AES-GCM (RFC 5084), DES and 3DES: parameters absent.
            _ => None,
        };
        SmimeCapability {
            capability_id: self.oid(),
            parameters,
        }
    }

    /// The content algorithm a capability names, or `None` for capabilities that are not
    /// content-encryption algorithms of ours (signature or key-transport capabilities, or a key
    /// size we do not rank). Both CAST5 parameter forms (SEQUENCE and bare INTEGER) are read.
    pub fn from_capability(cap: &SmimeCapability) -> Option<ContentAlgorithm> {
        let o = cap.capability_id;
        let bits = || -> Option<u32> {
            let p = cap.parameters.as_ref()?;
            if let Ok(n) = p.decode_as::<u32>() {
                return Some(n);
            }
            p.decode_as::<Cast5CapabilityParams>()
                .ok()
                .map(|c| c.key_length)
        };
        Some(match o {
            _ if o == oid::AES256_GCM => ContentAlgorithm::Aes256Gcm,
            _ if o == oid::AES128_GCM => ContentAlgorithm::Aes128Gcm,
            _ if o == oid::AES256_CBC => ContentAlgorithm::Aes256,
            _ if o == oid::AES192_CBC => ContentAlgorithm::Aes192,
            _ if o == oid::AES128_CBC => ContentAlgorithm::Aes128,
            _ if o == oid::DES_EDE3_CBC => ContentAlgorithm::TripleDes,
            _ if o == oid::DES_CBC => ContentAlgorithm::Des,
            _ if o == oid::RC2_CBC => match bits()? {
                128 => ContentAlgorithm::Rc2_128,
                64 => ContentAlgorithm::Rc2_64,
                40 => ContentAlgorithm::Rc2_40,
                _ => return None,
            },
            // A CAST5 capability without parameters means the full 128-bit key.
            _ if o == oid::CAST5_CBC => match cap.parameters.as_ref().map(|_| bits()) {
                None => ContentAlgorithm::Cast128,
                Some(Some(128)) => ContentAlgorithm::Cast128,
                Some(Some(64)) => ContentAlgorithm::Cast64,
                Some(Some(40)) => ContentAlgorithm::Cast40,
                Some(_) => return None,
            },
            _ => return None,
        })
    }
}

impl fmt::Display for ContentAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ContentAlgorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        Self::RANKING
            .into_iter()
            .find(|a| a.name() == lower)
            .ok_or_else(|| Error::UnknownAlgorithmName {
                what: "content encryption algorithm",
                name: s.to_string(),
                known: Self::RANKING.map(|a| a.name()).join(", "),
            })
    }
}

/// `SMIMECapability ::= SEQUENCE { capabilityID OBJECT IDENTIFIER, parameters ANY OPTIONAL }`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SmimeCapability {
    /// The algorithm.
    pub capability_id: ObjectIdentifier,
    /// Algorithm-specific parameters (key size for RC2 and CAST5).
    pub parameters: Option<Any>,
}

/// `SMIMECapabilities ::= SEQUENCE OF SMIMECapability`, in order of preference.
pub type SmimeCapabilities = Vec<SmimeCapability>;

/// RFC 2984 `cast5CBCParameters` as used inside a capability (the IV is normally absent).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct Cast5CapabilityParams {
    #[asn1(optional = "true")]
    iv: Option<OctetString>,
    key_length: u32,
}

fn any_from<T: Encode>(value: &T) -> Any {
    // Encoding an integer or a small SEQUENCE into memory cannot fail; decoding our own
    // encoding back as ANY cannot either.
    let der = value
        .to_der()
        .unwrap_or_else(|_| unreachable!("encoding a small value"));
    Any::from_der(&der).unwrap_or_else(|_| unreachable!("re-reading our own DER"))
}

/// A capability list put strongest first (RFC 8551 §2.5.2: in order of preference, and we
/// prefer the strongest), each algorithm once. The sort is stable, so algorithms of the same
/// rank (Camellia beside AES of its key size) keep the order given.
pub fn strongest_first(algs: &[ContentAlgorithm]) -> Vec<ContentAlgorithm> {
    let mut out: Vec<ContentAlgorithm> = Vec::with_capacity(algs.len());
    for a in algs {
        if !out.contains(a) {
            out.push(*a);
        }
    }
    out.sort_by_key(|a| a.rank());
    out
}

/// The SMIMECapabilities of a capability list, strongest first ([`strongest_first`]): the
/// one builder of the list, for the certificate extension and the signed attribute alike.
pub fn smime_capabilities(algs: &[ContentAlgorithm]) -> SmimeCapabilities {
    strongest_first(algs)
        .into_iter()
        .map(ContentAlgorithm::capability)
        .collect()
}

/// Encodes a capability list as SMIMECapabilities DER, strongest first whatever the order
/// given ([`smime_capabilities`]).
pub fn encode_capabilities(algs: &[ContentAlgorithm]) -> Result<Vec<u8>> {
    smime_capabilities(algs)
        .to_der()
        .map_err(Error::der("SMIMECapabilities"))
}

/// Decodes SMIMECapabilities DER into the content algorithms it names, in the order given;
/// capabilities that are not content algorithms (signature algorithms, say) are skipped.
pub fn decode_capabilities(der_bytes: &[u8]) -> Result<Vec<ContentAlgorithm>> {
    let caps = SmimeCapabilities::from_der(der_bytes).map_err(Error::der("SMIMECapabilities"))?;
    let mut out = Vec::new();
    for alg in caps.iter().filter_map(ContentAlgorithm::from_capability) {
        if !out.contains(&alg) {
            out.push(alg);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_matches_declaration_order_and_names_round_trip() {
        for (i, alg) in ContentAlgorithm::RANKING.iter().enumerate() {
            assert_eq!(alg.rank(), i, "{alg}");
            assert_eq!(alg.name().parse::<ContentAlgorithm>().unwrap(), *alg);
        }
        assert!(ContentAlgorithm::Aes128.is_at_least(ContentAlgorithm::TripleDes));
        assert!(!ContentAlgorithm::Cast40.is_at_least(ContentAlgorithm::Des));
    }

    #[test]
    fn capabilities_are_encoded_strongest_first_whatever_the_order_given() {
        let algs = ContentAlgorithm::RANKING.to_vec();
        let der = encode_capabilities(&algs).unwrap();
        assert_eq!(decode_capabilities(&der).unwrap(), algs);
        let mut rev = algs.clone();
        rev.reverse();
        assert_eq!(encode_capabilities(&rev).unwrap(), der);
        let mixed = [
            ContentAlgorithm::TripleDes,
            ContentAlgorithm::Aes128,
            ContentAlgorithm::Aes256,
            ContentAlgorithm::Aes128,
        ];
        assert_eq!(
            decode_capabilities(&encode_capabilities(&mixed).unwrap()).unwrap(),
            DEFAULT_CAPABILITIES
        );
        assert_eq!(smime_capabilities(&mixed).len(), 3, "each algorithm once");
    }

    #[test]
    fn default_capabilities_encode_byte_for_byte() {
        // SEQUENCE { SEQUENCE { aes256-CBC }, SEQUENCE { aes128-CBC }, SEQUENCE { des-ede3-cbc } }
        // with parameters absent (RFC 3565 §3, RFC 8551 §2.5.2).
        let der = encode_capabilities(&DEFAULT_CAPABILITIES).unwrap();
        assert_eq!(
            hex(&der),
            concat!(
                "3026",
                "300b",
                "0609",
                "60864801650304012a",
                "300b",
                "0609",
                "608648016503040102",
                "300a",
                "0608",
                "2a864886f70d0307"
            )
        );
    }

    #[test]
    fn rc2_capability_matches_rfc5751_bytes() {
        // RFC 5751 §2.5.2: rc2-cbc with 40 bits is 30 0d 06 08 2a 86 48 86 f7 0d 03 02 02 01 28.
        let der = ContentAlgorithm::Rc2_40.capability().to_der().unwrap();
        assert_eq!(hex(&der), "300d06082a864886f70d0302020128");
        let der = ContentAlgorithm::Rc2_128.capability().to_der().unwrap();
        assert_eq!(hex(&der), "300e06082a864886f70d030202020080");
    }

    #[test]
    fn cast5_capability_reads_both_forms() {
        let seq = ContentAlgorithm::Cast40.capability();
        assert_eq!(
            ContentAlgorithm::from_capability(&seq),
            Some(ContentAlgorithm::Cast40)
        );
        let bare = SmimeCapability {
            capability_id: oid::CAST5_CBC,
            parameters: Some(any_from(&64u32)),
        };
        assert_eq!(
            ContentAlgorithm::from_capability(&bare),
            Some(ContentAlgorithm::Cast64)
        );
        let none = SmimeCapability {
            capability_id: oid::CAST5_CBC,
            parameters: None,
        };
        assert_eq!(
            ContentAlgorithm::from_capability(&none),
            Some(ContentAlgorithm::Cast128)
        );
        let odd = SmimeCapability {
            capability_id: oid::CAST5_CBC,
            parameters: Some(any_from(&72u32)),
        };
        assert_eq!(ContentAlgorithm::from_capability(&odd), None);
    }

    #[test]
    fn unknown_names_are_refused_with_the_known_list() {
        let e = "blowfish".parse::<ContentAlgorithm>().unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("blowfish") && msg.contains("cast40"), "{msg}");
        assert!(ContentAlgorithm::parse_list("aes128,aes128").is_err());
        assert!(ContentAlgorithm::parse_list("").is_err());
        assert_eq!(
            ContentAlgorithm::parse_list("cast64, des").unwrap(),
            vec![ContentAlgorithm::Cast64, ContentAlgorithm::Des]
        );
        assert_eq!(
            "SHA-256".parse::<DigestAlgorithm>().unwrap(),
            DigestAlgorithm::Sha256
        );
        assert!("sha3".parse::<DigestAlgorithm>().is_err());
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
