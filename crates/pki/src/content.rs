//! The content-encryption layer of CMS: content keys, the content-encryption
//! AlgorithmIdentifier with its parameters (IVs, RC2 versions, both CAST5 forms, GCM nonces),
//! and CBC/PKCS#7 and GCM encryption and decryption for every [`ContentAlgorithm`].

use core::fmt;

use aes_gcm::aead::AeadInOut;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit,
    KeyInit,
};
use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Any, Sequence};
use rand_core::CryptoRng;
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use crate::algorithms::{ContentAlgorithm, oid};
use crate::error::{Error, Result};

/// Largest content accepted for encryption or produced by decryption: 512 MiB.
pub const MAX_CONTENT_SIZE: usize = 512 * 1024 * 1024;

/// The GCM nonce length we write and read (RFC 5084 recommends 12 octets).
const GCM_NONCE_LEN: usize = 12;
/// The GCM ICV length we write (the strongest; RFC 5084 allows 12 to 16).
const GCM_ICV_LEN: u8 = 16;
/// The RFC 5084 default ICV length, when `aes-ICVlen` is absent.
const GCM_DEFAULT_ICV_LEN: u8 = 12;

/// How CAST5-CBC parameters are written (RFC 2984 §2.1 or OpenSSL's form).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Cast5Params {
    /// A bare `OCTET STRING` IV, as OpenSSL writes and reads it; the key length is then the
    /// length of the content key (5, 8 or 16 octets). The default, because OpenSSL refuses
    /// the RFC 2984 form.
    #[default]
    Bare,
    /// RFC 2984 `SEQUENCE { iv OCTET STRING DEFAULT 0, keyLength INTEGER }`.
    Rfc2984,
}

/// A content-encryption key: zeroized on drop, `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct ContentKey(Zeroizing<Vec<u8>>);

impl fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentKey({} bytes, [redacted])", self.0.len())
    }
}

impl ContentKey {
    /// A fresh random key of the length `alg` needs (DES and 3DES keys get odd parity, as
    /// FIPS 46-3 and OpenSSL's key generation set it).
    pub fn generate<R: CryptoRng + ?Sized>(alg: ContentAlgorithm, rng: &mut R) -> Self {
        let mut key = Zeroizing::new(vec![0u8; alg.key_len()]);
        rng.fill_bytes(&mut key);
        if matches!(alg, ContentAlgorithm::Des | ContentAlgorithm::TripleDes) {
            for b in key.iter_mut() {
                *b = (*b & 0xfe) | (((*b >> 1).count_ones() as u8 + 1) & 1);
            }
        }
        ContentKey(key)
    }

    /// Wraps existing key bytes (copied into a zeroizing buffer).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        ContentKey(Zeroizing::new(bytes.to_vec()))
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Key length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty key (never a usable one).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The exact cipher an AlgorithmIdentifier names, with the parameters that are not the IV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cipher {
    Des,
    TripleDes,
    Aes128Cbc,
    Aes192Cbc,
    Aes256Cbc,
    /// RC2-CBC with this many effective key bits (40..=1024); the key length is the content
    /// key's.
    Rc2 {
        effective_bits: u16,
    },
    /// CAST5-CBC; `key_bits` is `Some` for the RFC 2984 form (which carries it), `None` for the
    /// bare-IV form (the key length is the content key's).
    Cast5 {
        key_bits: Option<u16>,
    },
    /// Camellia-CBC (RFC 3657), 128, 192 or 256-bit key.
    Camellia128Cbc,
    Camellia192Cbc,
    Camellia256Cbc,
    Aes128Gcm {
        icv_len: u8,
    },
    Aes256Gcm {
        icv_len: u8,
    },
}

/// One content encryption as an AlgorithmIdentifier describes it: the algorithm and all its
/// parameters (IV or nonce, RC2 effective key bits, CAST5 form, GCM ICV length).
#[derive(Clone, PartialEq, Eq)]
pub struct ContentEncryption {
    cipher: Cipher,
    /// The CBC IV or the GCM nonce.
    iv: Vec<u8>,
}

impl fmt::Debug for ContentEncryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentEncryption")
            .field("cipher", &self.cipher)
            .field("iv_len", &self.iv.len())
            .finish()
    }
}

/// Ciphertext, and for GCM the separate authentication tag (the AuthEnvelopedData `mac`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The encrypted content (CBC: padded; GCM: without the tag).
    pub ciphertext: Vec<u8>,
    /// GCM's authentication tag; `None` for CBC.
    pub tag: Option<Vec<u8>>,
}

/// RFC 2268 §6 / RFC 8018 `RC2CBCParameter ::= SEQUENCE { rc2ParameterVersion INTEGER
/// OPTIONAL, iv OCTET STRING }` (the version is OPTIONAL in RFC 8018).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct Rc2CbcParameter {
    #[asn1(optional = "true")]
    version: Option<u32>,
    iv: OctetString,
}

/// RFC 2984 `Cast5CBCParameters ::= SEQUENCE { iv OCTET STRING DEFAULT 0, keyLength INTEGER }`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct Cast5CbcParameters {
    #[asn1(optional = "true")]
    iv: Option<OctetString>,
    key_length: u32,
}

/// RFC 5084 `GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen INTEGER DEFAULT 12 }`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct GcmParameters {
    nonce: OctetString,
    #[asn1(optional = "true")]
    icv_len: Option<u8>,
}

/// RFC 2268 §6: the `rc2ParameterVersion` for effective key bits below 256 (above, the
/// version is the bit count itself). Also the inverse of the table RFC 8018 §B.2.3 uses.
const RC2_VERSION_TABLE: [u8; 256] = [
    0xbd, 0x56, 0xea, 0xf2, 0xa2, 0xf1, 0xac, 0x2a, 0xb0, 0x93, 0xd1, 0x9c, 0x1b, 0x33, 0xfd, 0xd0,
    0x30, 0x04, 0xb6, 0xdc, 0x7d, 0xdf, 0x32, 0x4b, 0xf7, 0xcb, 0x45, 0x9b, 0x31, 0xbb, 0x21, 0x5a,
    0x41, 0x9f, 0xe1, 0xd9, 0x4a, 0x4d, 0x9e, 0xda, 0xa0, 0x68, 0x2c, 0xc3, 0x27, 0x5f, 0x80, 0x36,
    0x3e, 0xee, 0xfb, 0x95, 0x1a, 0xfe, 0xce, 0xa8, 0x34, 0xa9, 0x13, 0xf0, 0xa6, 0x3f, 0xd8, 0x0c,
    0x78, 0x24, 0xaf, 0x23, 0x52, 0xc1, 0x67, 0x17, 0xf5, 0x66, 0x90, 0xe7, 0xe8, 0x07, 0xb8, 0x60,
    0x48, 0xe6, 0x1e, 0x53, 0xf3, 0x92, 0xa4, 0x72, 0x8c, 0x08, 0x15, 0x6e, 0x86, 0x00, 0x84, 0xfa,
    0xf4, 0x7f, 0x8a, 0x42, 0x19, 0xf6, 0xdb, 0xcd, 0x14, 0x8d, 0x50, 0x12, 0xba, 0x3c, 0x06, 0x4e,
    0xec, 0xb3, 0x35, 0x11, 0xa1, 0x88, 0x8e, 0x2b, 0x94, 0x99, 0xb7, 0x71, 0x74, 0xd3, 0xe4, 0xbf,
    0x3a, 0xde, 0x96, 0x0e, 0xbc, 0x0a, 0xed, 0x77, 0xfc, 0x37, 0x6b, 0x03, 0x79, 0x89, 0x62, 0xc6,
    0xd7, 0xc0, 0xd2, 0x7c, 0x6a, 0x8b, 0x22, 0xa3, 0x5b, 0x05, 0x5d, 0x02, 0x75, 0xd5, 0x61, 0xe3,
    0x18, 0x8f, 0x55, 0x51, 0xad, 0x1f, 0x0b, 0x5e, 0x85, 0xe5, 0xc2, 0x57, 0x63, 0xca, 0x3d, 0x6c,
    0xb4, 0xc5, 0xcc, 0x70, 0xb2, 0x91, 0x59, 0x0d, 0x47, 0x20, 0xc8, 0x4f, 0x58, 0xe0, 0x01, 0xe2,
    0x16, 0x38, 0xc4, 0x6f, 0x3b, 0x0f, 0x65, 0x46, 0xbe, 0x7e, 0x2d, 0x7b, 0x82, 0xf9, 0x40, 0xb5,
    0x1d, 0x73, 0xf8, 0xeb, 0x26, 0xc7, 0x87, 0x97, 0x25, 0x54, 0xb1, 0x28, 0xaa, 0x98, 0x9d, 0xa5,
    0x64, 0x6d, 0x7a, 0xd4, 0x10, 0x81, 0x44, 0xef, 0x49, 0xd6, 0xae, 0x2e, 0xdd, 0x76, 0x5c, 0x2f,
    0xa7, 0x1c, 0xc9, 0x09, 0x69, 0x9a, 0x83, 0xcf, 0x29, 0x39, 0xb9, 0xe9, 0x4c, 0xff, 0x43, 0xab,
];

/// The RC2 version for `effective_bits` (RFC 2268 §6).
fn rc2_version(effective_bits: u16) -> u32 {
    match RC2_VERSION_TABLE.get(usize::from(effective_bits)) {
        Some(v) => u32::from(*v),
        None => u32::from(effective_bits),
    }
}

/// The effective key bits an RC2 version stands for (RFC 2268 §6): versions below 256 go
/// through the table, larger ones are the bit count.
fn rc2_effective_bits(version: u32) -> u32 {
    if version < 256 {
        RC2_VERSION_TABLE
            .iter()
            .position(|v| u32::from(*v) == version)
            // The table is a permutation of 0..=255, so every version below 256 is found.
            .map_or(0, |p| p as u32)
    } else {
        version
    }
}

/// The weakest RC2 we read: RC2 with fewer effective bits than `rc2-40` is refused.
const RC2_MIN_EFFECTIVE_BITS: u32 = 40;
/// RC2's largest effective key length (RFC 2268 §2).
const RC2_MAX_EFFECTIVE_BITS: u32 = 1024;

fn param_error(algorithm: &'static str, detail: impl Into<String>) -> Error {
    Error::ContentParameters {
        algorithm,
        detail: detail.into(),
    }
}

fn any_of<T: der::EncodeValue + der::Tagged>(value: &T) -> Result<Any> {
    Any::encode_from(value).map_err(Error::der("content-encryption parameters"))
}

impl ContentEncryption {
    /// A content encryption for `alg` with a fresh random IV (CBC) or 12-byte nonce (GCM).
    /// `cast5` chooses how CAST5 parameters are written; other algorithms ignore it.
    pub fn generate<R: CryptoRng + ?Sized>(
        alg: ContentAlgorithm,
        cast5: Cast5Params,
        rng: &mut R,
    ) -> Self {
        let cipher = match alg {
            ContentAlgorithm::Aes256Gcm => Cipher::Aes256Gcm {
                icv_len: GCM_ICV_LEN,
            },
            ContentAlgorithm::Aes128Gcm => Cipher::Aes128Gcm {
                icv_len: GCM_ICV_LEN,
            },
            ContentAlgorithm::Aes256 => Cipher::Aes256Cbc,
            ContentAlgorithm::Aes192 => Cipher::Aes192Cbc,
            ContentAlgorithm::Aes128 => Cipher::Aes128Cbc,
            ContentAlgorithm::Camellia256 => Cipher::Camellia256Cbc,
            ContentAlgorithm::Camellia192 => Cipher::Camellia192Cbc,
            ContentAlgorithm::Camellia128 => Cipher::Camellia128Cbc,
            ContentAlgorithm::TripleDes => Cipher::TripleDes,
            ContentAlgorithm::Des => Cipher::Des,
            ContentAlgorithm::Cast128 | ContentAlgorithm::Cast64 | ContentAlgorithm::Cast40 => {
                Cipher::Cast5 {
                    key_bits: match cast5 {
                        Cast5Params::Bare => None,
                        Cast5Params::Rfc2984 => Some(alg.key_bits() as u16),
                    },
                }
            }
            ContentAlgorithm::Rc2_128 | ContentAlgorithm::Rc2_64 | ContentAlgorithm::Rc2_40 => {
                Cipher::Rc2 {
                    effective_bits: alg.key_bits() as u16,
                }
            }
        };
        let mut iv = vec![0u8; cipher.iv_len()];
        rng.fill_bytes(&mut iv);
        ContentEncryption { cipher, iv }
    }

    /// Reads a content-encryption AlgorithmIdentifier. Unknown OIDs are
    /// [`Error::UnsupportedAlgorithm`]; malformed or unsupported parameters are
    /// [`Error::ContentParameters`].
    pub fn from_algorithm_identifier(ai: &AlgorithmIdentifierOwned) -> Result<Self> {
        let o = ai.oid;
        let params = ai.parameters.as_ref();
        let octets = |name: &'static str, len: usize| -> Result<Vec<u8>> {
            let p = params.ok_or_else(|| param_error(name, "the IV is missing"))?;
            let iv = p
                .decode_as::<OctetString>()
                .map_err(|e| param_error(name, format!("the IV is not an OCTET STRING ({e})")))?;
            check_len(name, "IV", iv.as_bytes(), len)?;
            Ok(iv.as_bytes().to_vec())
        };
        let (cipher, iv) = if o == oid::DES_CBC {
            (Cipher::Des, octets("des", 8)?)
        } else if o == oid::DES_EDE3_CBC {
            (Cipher::TripleDes, octets("3des", 8)?)
        } else if o == oid::AES128_CBC {
            (Cipher::Aes128Cbc, octets("aes128", 16)?)
        } else if o == oid::AES192_CBC {
            (Cipher::Aes192Cbc, octets("aes192", 16)?)
        } else if o == oid::AES256_CBC {
            (Cipher::Aes256Cbc, octets("aes256", 16)?)
        } else if o == oid::CAMELLIA128_CBC {
            (Cipher::Camellia128Cbc, octets("camellia128", 16)?)
        } else if o == oid::CAMELLIA192_CBC {
            (Cipher::Camellia192Cbc, octets("camellia192", 16)?)
        } else if o == oid::CAMELLIA256_CBC {
            (Cipher::Camellia256Cbc, octets("camellia256", 16)?)
        } else if o == oid::SEED_CBC {
            // RFC 4010 SEED, as gpgsm may write it: named, not decrypted (see the README).
            return Err(Error::UnsupportedContentAlgorithm {
                name: "SEED-CBC (RFC 4010)",
            });
        } else if o == oid::RC2_CBC {
            Self::read_rc2(params)?
        } else if o == oid::CAST5_CBC {
            Self::read_cast5(params)?
        } else if o == oid::AES128_GCM || o == oid::AES256_GCM {
            let name = if o == oid::AES128_GCM {
                "aes128-gcm"
            } else {
                "aes256-gcm"
            };
            let p = params.ok_or_else(|| param_error(name, "GCMParameters are missing"))?;
            let gcm = p
                .decode_as::<GcmParameters>()
                .map_err(|e| param_error(name, format!("malformed GCMParameters ({e})")))?;
            check_len(name, "nonce", gcm.nonce.as_bytes(), GCM_NONCE_LEN)?;
            let icv_len = gcm.icv_len.unwrap_or(GCM_DEFAULT_ICV_LEN);
            if !(12..=16).contains(&icv_len) {
                return Err(param_error(
                    name,
                    format!("an ICV length of {icv_len} octets (RFC 5084 allows 12 to 16)"),
                ));
            }
            let cipher = if o == oid::AES128_GCM {
                Cipher::Aes128Gcm { icv_len }
            } else {
                Cipher::Aes256Gcm { icv_len }
            };
            (cipher, gcm.nonce.as_bytes().to_vec())
        } else {
            return Err(Error::UnsupportedAlgorithm {
                what: "content encryption",
                oid: o,
            });
        };
        Ok(ContentEncryption { cipher, iv })
    }

    fn read_rc2(params: Option<&Any>) -> Result<(Cipher, Vec<u8>)> {
        const NAME: &str = "rc2";
        let p = params.ok_or_else(|| param_error(NAME, "the parameters are missing"))?;
        let (version, iv) = if let Ok(iv) = p.decode_as::<OctetString>() {
            (None, iv)
        } else {
            let seq = p
                .decode_as::<Rc2CbcParameter>()
                .map_err(|e| param_error(NAME, format!("malformed RC2CBCParameter ({e})")))?;
            (seq.version, seq.iv)
        };
        check_len(NAME, "IV", iv.as_bytes(), 8)?;
        let Some(version) = version else {
            return Err(param_error(
                NAME,
                "no rc2ParameterVersion, which means 32 effective key bits (RFC 2268): \
                 weaker than rc2-40, refused",
            ));
        };
        let bits = rc2_effective_bits(version);
        if !(RC2_MIN_EFFECTIVE_BITS..=RC2_MAX_EFFECTIVE_BITS).contains(&bits) {
            return Err(param_error(
                NAME,
                format!(
                    "rc2ParameterVersion {version} means {bits} effective key bits; \
                     accepted are {RC2_MIN_EFFECTIVE_BITS} to {RC2_MAX_EFFECTIVE_BITS}"
                ),
            ));
        }
        Ok((
            Cipher::Rc2 {
                effective_bits: bits as u16,
            },
            iv.as_bytes().to_vec(),
        ))
    }

    fn read_cast5(params: Option<&Any>) -> Result<(Cipher, Vec<u8>)> {
        const NAME: &str = "cast5";
        let p = params.ok_or_else(|| param_error(NAME, "the parameters are missing"))?;
        if let Ok(iv) = p.decode_as::<OctetString>() {
            check_len(NAME, "IV", iv.as_bytes(), 8)?;
            return Ok((Cipher::Cast5 { key_bits: None }, iv.as_bytes().to_vec()));
        }
        let seq = p.decode_as::<Cast5CbcParameters>().map_err(|e| {
            param_error(
                NAME,
                format!("neither an OCTET STRING IV nor RFC 2984 Cast5CBCParameters ({e})"),
            )
        })?;
        let iv = match &seq.iv {
            Some(iv) => {
                check_len(NAME, "IV", iv.as_bytes(), 8)?;
                iv.as_bytes().to_vec()
            }
            // RFC 2984: iv DEFAULT 0.
            None => vec![0u8; 8],
        };
        match seq.key_length {
            40 | 64 | 128 => Ok((
                Cipher::Cast5 {
                    key_bits: Some(seq.key_length as u16),
                },
                iv,
            )),
            other => Err(param_error(
                NAME,
                format!("a key length of {other} bits (accepted: 40, 64 or 128)"),
            )),
        }
    }

    /// The AlgorithmIdentifier, with parameters encoded as RFC 3370, RFC 3565, RFC 2268,
    /// RFC 2984 (or OpenSSL's bare IV) and RFC 5084 say.
    pub fn to_algorithm_identifier(&self) -> Result<AlgorithmIdentifierOwned> {
        let iv = OctetString::new(self.iv.clone()).map_err(Error::der("IV"))?;
        let parameters = match self.cipher {
            Cipher::Des
            | Cipher::TripleDes
            | Cipher::Aes128Cbc
            | Cipher::Aes192Cbc
            | Cipher::Aes256Cbc
            | Cipher::Camellia128Cbc
            | Cipher::Camellia192Cbc
            | Cipher::Camellia256Cbc
            | Cipher::Cast5 { key_bits: None } => any_of(&iv)?,
            Cipher::Cast5 {
                key_bits: Some(bits),
            } => any_of(&Cast5CbcParameters {
                iv: Some(iv),
                key_length: u32::from(bits),
            })?,
            Cipher::Rc2 { effective_bits } => any_of(&Rc2CbcParameter {
                version: Some(rc2_version(effective_bits)),
                iv,
            })?,
            Cipher::Aes128Gcm { icv_len } | Cipher::Aes256Gcm { icv_len } => {
                any_of(&GcmParameters {
                    nonce: iv,
                    icv_len: (icv_len != GCM_DEFAULT_ICV_LEN).then_some(icv_len),
                })?
            }
        };
        Ok(AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: Some(parameters),
        })
    }

    /// The content-encryption OID.
    pub fn oid(&self) -> ObjectIdentifier {
        match self.cipher {
            Cipher::Des => oid::DES_CBC,
            Cipher::TripleDes => oid::DES_EDE3_CBC,
            Cipher::Aes128Cbc => oid::AES128_CBC,
            Cipher::Aes192Cbc => oid::AES192_CBC,
            Cipher::Aes256Cbc => oid::AES256_CBC,
            Cipher::Camellia128Cbc => oid::CAMELLIA128_CBC,
            Cipher::Camellia192Cbc => oid::CAMELLIA192_CBC,
            Cipher::Camellia256Cbc => oid::CAMELLIA256_CBC,
            Cipher::Rc2 { .. } => oid::RC2_CBC,
            Cipher::Cast5 { .. } => oid::CAST5_CBC,
            Cipher::Aes128Gcm { .. } => oid::AES128_GCM,
            Cipher::Aes256Gcm { .. } => oid::AES256_GCM,
        }
    }

    /// True for AES-GCM, which CMS carries as AuthEnvelopedData.
    pub fn is_aead(&self) -> bool {
        matches!(
            self.cipher,
            Cipher::Aes128Gcm { .. } | Cipher::Aes256Gcm { .. }
        )
    }

    /// The GCM authentication tag length; `None` for CBC.
    pub fn tag_len(&self) -> Option<usize> {
        match self.cipher {
            Cipher::Aes128Gcm { icv_len } | Cipher::Aes256Gcm { icv_len } => {
                Some(usize::from(icv_len))
            }
            _ => None,
        }
    }

    /// The algorithm, when the parameters alone determine it. `None` for CAST5 with a bare IV
    /// (cast40, cast64 or cast128: only the unwrapped key's length tells).
    pub fn algorithm(&self) -> Option<ContentAlgorithm> {
        match self.possible_algorithms().as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// Every algorithm these parameters may stand for, strongest first: one, except for CAST5
    /// with a bare IV.
    pub fn possible_algorithms(&self) -> Vec<ContentAlgorithm> {
        match self.cipher {
            Cipher::Cast5 { key_bits: None } => vec![
                ContentAlgorithm::Cast128,
                ContentAlgorithm::Cast64,
                ContentAlgorithm::Cast40,
            ],
            // For RC2 the parameters name the effective key bits; a shorter key would be
            // weaker still, but every writer we know sizes the key to match.
            _ => self
                .algorithm_for_key_len(self.default_key_len())
                .into_iter()
                .collect(),
        }
    }

    /// The algorithm these parameters and a content key of `key_len` octets make, or `None`
    /// when that key length is not one they allow.
    ///
    /// RC2 and CAST5 are ranked by their real strength: RC2 with more effective bits than
    /// 40, 64 or 128 but not the next step up counts as the weaker step (so does a key
    /// shorter than the effective bits).
    pub fn algorithm_for_key_len(&self, key_len: usize) -> Option<ContentAlgorithm> {
        if !self.key_len_allowed(key_len) {
            return None;
        }
        Some(match self.cipher {
            Cipher::Des => ContentAlgorithm::Des,
            Cipher::TripleDes => ContentAlgorithm::TripleDes,
            Cipher::Aes128Cbc => ContentAlgorithm::Aes128,
            Cipher::Aes192Cbc => ContentAlgorithm::Aes192,
            Cipher::Aes256Cbc => ContentAlgorithm::Aes256,
            Cipher::Camellia128Cbc => ContentAlgorithm::Camellia128,
            Cipher::Camellia192Cbc => ContentAlgorithm::Camellia192,
            Cipher::Camellia256Cbc => ContentAlgorithm::Camellia256,
            Cipher::Aes128Gcm { .. } => ContentAlgorithm::Aes128Gcm,
            Cipher::Aes256Gcm { .. } => ContentAlgorithm::Aes256Gcm,
            Cipher::Cast5 { .. } => match key_len {
                5 => ContentAlgorithm::Cast40,
                8 => ContentAlgorithm::Cast64,
                _ => ContentAlgorithm::Cast128,
            },
            Cipher::Rc2 { effective_bits } => {
                let strength = usize::from(effective_bits).min(key_len * 8);
                match strength {
                    128.. => ContentAlgorithm::Rc2_128,
                    64.. => ContentAlgorithm::Rc2_64,
                    40.. => ContentAlgorithm::Rc2_40,
                    _ => return None,
                }
            }
        })
    }

    /// True when a content key of `key_len` octets fits these parameters.
    pub fn key_len_allowed(&self, key_len: usize) -> bool {
        match self.cipher {
            Cipher::Des => key_len == 8,
            Cipher::TripleDes | Cipher::Aes192Cbc | Cipher::Camellia192Cbc => key_len == 24,
            Cipher::Aes128Cbc | Cipher::Aes128Gcm { .. } | Cipher::Camellia128Cbc => key_len == 16,
            Cipher::Aes256Cbc | Cipher::Aes256Gcm { .. } | Cipher::Camellia256Cbc => key_len == 32,
            Cipher::Cast5 { key_bits: None } => matches!(key_len, 5 | 8 | 16),
            Cipher::Cast5 {
                key_bits: Some(bits),
            } => key_len * 8 == usize::from(bits),
            // RC2 keys are 1 to 128 octets; fewer than 5 would be weaker than rc2-40.
            Cipher::Rc2 { .. } => (5..=128).contains(&key_len),
        }
    }

    /// The key length a writer of these parameters would normally use: the length of the
    /// random key that replaces a key of the wrong length (RFC 3218 §2.3).
    pub fn default_key_len(&self) -> usize {
        match self.cipher {
            Cipher::Des => 8,
            Cipher::TripleDes | Cipher::Aes192Cbc | Cipher::Camellia192Cbc => 24,
            Cipher::Aes128Cbc | Cipher::Aes128Gcm { .. } | Cipher::Camellia128Cbc => 16,
            Cipher::Aes256Cbc | Cipher::Aes256Gcm { .. } | Cipher::Camellia256Cbc => 32,
            Cipher::Cast5 { key_bits: None } => 16,
            Cipher::Cast5 {
                key_bits: Some(bits),
            } => usize::from(bits) / 8,
            Cipher::Rc2 { effective_bits } => match effective_bits {
                40 => 5,
                64 => 8,
                _ => 16,
            },
        }
    }

    /// Encrypts `plaintext` under `key` (CBC with PKCS#7 padding, or GCM with an empty AAD).
    pub fn encrypt(&self, key: &ContentKey, plaintext: &[u8]) -> Result<Sealed> {
        crate::encoding::check_size("content", plaintext, MAX_CONTENT_SIZE)?;
        if !self.key_len_allowed(key.len()) {
            return Err(Error::Invalid {
                what: "content key",
                why: format!("{} octets do not fit {:?}", key.len(), self.cipher),
            });
        }
        let k = key.as_bytes();
        let iv = &self.iv;
        let ciphertext = match self.cipher {
            Cipher::Des => cbc_encrypt(des::Des::new_from_slice(k), iv, plaintext),
            Cipher::TripleDes => cbc_encrypt(des::TdesEde3::new_from_slice(k), iv, plaintext),
            Cipher::Aes128Cbc => cbc_encrypt(aes::Aes128::new_from_slice(k), iv, plaintext),
            Cipher::Aes192Cbc => cbc_encrypt(aes::Aes192::new_from_slice(k), iv, plaintext),
            Cipher::Aes256Cbc => cbc_encrypt(aes::Aes256::new_from_slice(k), iv, plaintext),
            Cipher::Camellia128Cbc => {
                cbc_encrypt(camellia::Camellia128::new_from_slice(k), iv, plaintext)
            }
            Cipher::Camellia192Cbc => {
                cbc_encrypt(camellia::Camellia192::new_from_slice(k), iv, plaintext)
            }
            Cipher::Camellia256Cbc => {
                cbc_encrypt(camellia::Camellia256::new_from_slice(k), iv, plaintext)
            }
            Cipher::Cast5 { .. } => cbc_encrypt(cast5::Cast5::new_from_slice(k), iv, plaintext),
            Cipher::Rc2 { effective_bits } => cbc_encrypt(
                Ok(rc2::Rc2::new_with_eff_key_len(
                    k,
                    usize::from(effective_bits),
                )),
                iv,
                plaintext,
            ),
            Cipher::Aes128Gcm { icv_len } => {
                return gcm_encrypt::<aes::Aes128>(k, iv, icv_len, plaintext);
            }
            Cipher::Aes256Gcm { icv_len } => {
                return gcm_encrypt::<aes::Aes256>(k, iv, icv_len, plaintext);
            }
        }?;
        Ok(Sealed {
            ciphertext,
            tag: None,
        })
    }

    /// Decrypts `ciphertext` with `key`; `tag` is GCM's authentication tag (ignored for CBC).
    ///
    /// Every failure that depends on the key — bad padding, a bad tag, a key of a length
    /// these parameters do not allow, a ciphertext that is not whole blocks — is the one
    /// [`Error::DecryptFailed`], so a caller cannot learn which it was.
    pub fn decrypt(&self, key: &[u8], ciphertext: &[u8], tag: Option<&[u8]>) -> Result<Vec<u8>> {
        self.decrypt_with_aad(key, ciphertext, tag, &[])
    }

    /// [`Self::decrypt`] with GCM associated data `aad` (AuthEnvelopedData's DER-encoded
    /// authAttrs, RFC 5083 §2.2); CBC ignores it.
    pub fn decrypt_with_aad(
        &self,
        key: &[u8],
        ciphertext: &[u8],
        tag: Option<&[u8]>,
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        if !self.key_len_allowed(key.len()) {
            return Err(Error::DecryptFailed);
        }
        let iv = &self.iv;
        match self.cipher {
            Cipher::Des => cbc_decrypt(des::Des::new_from_slice(key), iv, ciphertext),
            Cipher::TripleDes => cbc_decrypt(des::TdesEde3::new_from_slice(key), iv, ciphertext),
            Cipher::Aes128Cbc => cbc_decrypt(aes::Aes128::new_from_slice(key), iv, ciphertext),
            Cipher::Aes192Cbc => cbc_decrypt(aes::Aes192::new_from_slice(key), iv, ciphertext),
            Cipher::Aes256Cbc => cbc_decrypt(aes::Aes256::new_from_slice(key), iv, ciphertext),
            Cipher::Camellia128Cbc => {
                cbc_decrypt(camellia::Camellia128::new_from_slice(key), iv, ciphertext)
            }
            Cipher::Camellia192Cbc => {
                cbc_decrypt(camellia::Camellia192::new_from_slice(key), iv, ciphertext)
            }
            Cipher::Camellia256Cbc => {
                cbc_decrypt(camellia::Camellia256::new_from_slice(key), iv, ciphertext)
            }
            Cipher::Cast5 { .. } => cbc_decrypt(cast5::Cast5::new_from_slice(key), iv, ciphertext),
            Cipher::Rc2 { effective_bits } => cbc_decrypt(
                Ok(rc2::Rc2::new_with_eff_key_len(
                    key,
                    usize::from(effective_bits),
                )),
                iv,
                ciphertext,
            ),
            Cipher::Aes128Gcm { icv_len } => {
                gcm_decrypt::<aes::Aes128>(key, iv, icv_len, ciphertext, tag, aad)
            }
            Cipher::Aes256Gcm { icv_len } => {
                gcm_decrypt::<aes::Aes256>(key, iv, icv_len, ciphertext, tag, aad)
            }
        }
    }
}

impl Cipher {
    fn iv_len(self) -> usize {
        match self {
            Cipher::Des | Cipher::TripleDes | Cipher::Rc2 { .. } | Cipher::Cast5 { .. } => 8,
            Cipher::Aes128Cbc
            | Cipher::Aes192Cbc
            | Cipher::Aes256Cbc
            | Cipher::Camellia128Cbc
            | Cipher::Camellia192Cbc
            | Cipher::Camellia256Cbc => 16,
            Cipher::Aes128Gcm { .. } | Cipher::Aes256Gcm { .. } => GCM_NONCE_LEN,
        }
    }
}

fn check_len(algorithm: &'static str, what: &str, bytes: &[u8], want: usize) -> Result<()> {
    if bytes.len() != want {
        return Err(param_error(
            algorithm,
            format!("the {what} is {} octets, not {want}", bytes.len()),
        ));
    }
    Ok(())
}

fn cbc_encrypt<C: BlockCipherEncrypt>(
    cipher: core::result::Result<C, cbc::cipher::InvalidLength>,
    iv: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let invalid = |why: &str| Error::Invalid {
        what: "content encryption",
        why: why.into(),
    };
    let cipher = cipher.map_err(|_| invalid("the key length does not fit the cipher"))?;
    let enc = cbc::Encryptor::<C>::inner_iv_slice_init(cipher, iv)
        .map_err(|_| invalid("the IV length does not fit the cipher"))?;
    Ok(enc.encrypt_padded_vec::<Pkcs7>(plaintext))
}

fn cbc_decrypt<C: BlockCipherDecrypt + BlockCipherEncrypt>(
    cipher: core::result::Result<C, cbc::cipher::InvalidLength>,
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>> {
    let cipher = cipher.map_err(|_| Error::DecryptFailed)?;
    let dec =
        cbc::Decryptor::<C>::inner_iv_slice_init(cipher, iv).map_err(|_| Error::DecryptFailed)?;
    // An empty ciphertext has no padding block: it is damaged, like any other bad padding.
    if ciphertext.is_empty() {
        return Err(Error::DecryptFailed);
    }
    dec.decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map_err(|_| Error::DecryptFailed)
}

/// AES-GCM with a 12-octet nonce and an ICV of `T` octets.
type Gcm<A, T> = aes_gcm::AesGcm<A, aes_gcm::aead::consts::U12, T>;

/// Runs `$f::<A, TagSize>(args)` for an ICV length of 12 to 16 octets, or `$bad`.
macro_rules! by_icv_len {
    ($icv:expr, $f:ident::<$a:ty>($($arg:expr),*), $bad:expr) => {{
        use aes_gcm::aead::consts::{U12, U13, U14, U15, U16};
        match $icv {
            12 => $f::<$a, U12>($($arg),*),
            13 => $f::<$a, U13>($($arg),*),
            14 => $f::<$a, U14>($($arg),*),
            15 => $f::<$a, U15>($($arg),*),
            16 => $f::<$a, U16>($($arg),*),
            _ => $bad,
        }
    }};
}

fn gcm_encrypt<A>(key: &[u8], nonce: &[u8], icv_len: u8, plaintext: &[u8]) -> Result<Sealed>
where
    A: BlockCipherEncrypt<BlockSize = aes_gcm::aead::consts::U16> + KeyInit,
{
    let mut buf = plaintext.to_vec();
    let tag = by_icv_len!(
        icv_len,
        gcm_seal::<A>(key, nonce, &mut buf),
        Err(gcm_invalid("unsupported ICV length"))
    )?;
    Ok(Sealed {
        ciphertext: buf,
        tag: Some(tag),
    })
}

fn gcm_invalid(why: &str) -> Error {
    Error::Invalid {
        what: "content encryption",
        why: why.into(),
    }
}

fn gcm_seal<A, T>(key: &[u8], nonce: &[u8], buf: &mut [u8]) -> Result<Vec<u8>>
where
    A: BlockCipherEncrypt<BlockSize = aes_gcm::aead::consts::U16> + KeyInit,
    T: aes_gcm::TagSize,
{
    let gcm = Gcm::<A, T>::new_from_slice(key).map_err(|_| gcm_invalid("not an AES key"))?;
    let nonce = aes_gcm::Nonce::<aes_gcm::aead::consts::U12>::try_from(nonce)
        .map_err(|_| gcm_invalid("the nonce is not 12 octets"))?;
    let tag = gcm
        .encrypt_inout_detached(&nonce, &[], buf.into())
        .map_err(|_| gcm_invalid("the content is too long for GCM"))?;
    Ok(tag.to_vec())
}

fn gcm_decrypt<A>(
    key: &[u8],
    nonce: &[u8],
    icv_len: u8,
    ciphertext: &[u8],
    tag: Option<&[u8]>,
    aad: &[u8],
) -> Result<Vec<u8>>
where
    A: BlockCipherEncrypt<BlockSize = aes_gcm::aead::consts::U16> + KeyInit,
{
    let tag = tag.ok_or(Error::DecryptFailed)?;
    let mut buf = ciphertext.to_vec();
    by_icv_len!(
        icv_len,
        gcm_open::<A>(key, nonce, &mut buf, tag, aad),
        Err(Error::DecryptFailed)
    )?;
    Ok(buf)
}

fn gcm_open<A, T>(key: &[u8], nonce: &[u8], buf: &mut [u8], tag: &[u8], aad: &[u8]) -> Result<()>
where
    A: BlockCipherEncrypt<BlockSize = aes_gcm::aead::consts::U16> + KeyInit,
    T: aes_gcm::TagSize,
{
    let gcm = Gcm::<A, T>::new_from_slice(key).map_err(|_| Error::DecryptFailed)?;
    let nonce = aes_gcm::Nonce::<aes_gcm::aead::consts::U12>::try_from(nonce)
        .map_err(|_| Error::DecryptFailed)?;
    let tag = aes_gcm::Tag::<T>::try_from(tag).map_err(|_| Error::DecryptFailed)?;
    gcm.decrypt_inout_detached(&nonce, aad, buf.into(), &tag)
        .map_err(|_| Error::DecryptFailed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::{Decode, Encode};

    fn rng() -> impl CryptoRng {
        crate::os_rng()
    }

    #[test]
    fn rc2_version_table_is_rfc2268s() {
        // RFC 2268 §6: 40 -> 160, 64 -> 120, 128 -> 58, b >= 256 -> b.
        assert_eq!(rc2_version(40), 160);
        assert_eq!(rc2_version(64), 120);
        assert_eq!(rc2_version(128), 58);
        assert_eq!(rc2_version(256), 256);
        assert_eq!(rc2_version(1024), 1024);
        let mut seen = [false; 256];
        for v in RC2_VERSION_TABLE {
            assert!(!seen[usize::from(v)], "the table is a permutation");
            seen[usize::from(v)] = true;
        }
        for bits in 0..=1024u16 {
            assert_eq!(rc2_effective_bits(rc2_version(bits)), u32::from(bits));
        }
    }

    #[test]
    fn every_algorithm_round_trips_through_its_algorithm_identifier() {
        let mut rng = rng();
        for alg in ContentAlgorithm::RANKING {
            for form in [Cast5Params::Bare, Cast5Params::Rfc2984] {
                let ce = ContentEncryption::generate(alg, form, &mut rng);
                let key = ContentKey::generate(alg, &mut rng);
                assert_eq!(key.len(), alg.key_len());
                let ai = ce.to_algorithm_identifier().unwrap();
                assert_eq!(ai.oid, alg.oid());
                let back = ContentEncryption::from_algorithm_identifier(&ai).unwrap();
                assert_eq!(back, ce, "{alg} {form:?}");
                assert_eq!(back.algorithm_for_key_len(key.len()), Some(alg));
                assert_eq!(back.is_aead(), alg.is_aead());
                for len in [0, 1, 15, 16, 17, 1000] {
                    let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
                    let sealed = ce.encrypt(&key, &msg).unwrap();
                    assert_eq!(sealed.tag.is_some(), alg.is_aead());
                    let pt = back
                        .decrypt(key.as_bytes(), &sealed.ciphertext, sealed.tag.as_deref())
                        .unwrap();
                    assert_eq!(pt, msg, "{alg}");
                }
            }
        }
    }

    #[test]
    fn parameters_are_encoded_as_the_rfcs_say() {
        let mut rng = rng();
        let mut der = |alg, form| {
            let ce = ContentEncryption::generate(alg, form, &mut rng);
            let ai = ce.to_algorithm_identifier().unwrap();
            (ce.iv.clone(), ai.parameters.unwrap().to_der().unwrap())
        };
        let (iv, p) = der(ContentAlgorithm::Rc2_40, Cast5Params::Bare);
        assert_eq!(&p[..8], &[0x30, 0x0e, 0x02, 0x02, 0x00, 0xa0, 0x04, 0x08]);
        assert_eq!(&p[p.len() - 8..], &iv[..]);
        let (_, p) = der(ContentAlgorithm::Rc2_128, Cast5Params::Bare);
        assert_eq!(&p[..6], &[0x30, 0x0d, 0x02, 0x01, 0x3a, 0x04]);
        let (_, p) = der(ContentAlgorithm::Rc2_64, Cast5Params::Bare);
        assert_eq!(&p[..6], &[0x30, 0x0d, 0x02, 0x01, 0x78, 0x04]);
        let (iv, p) = der(ContentAlgorithm::Cast40, Cast5Params::Bare);
        assert_eq!(&p[..2], &[0x04, 0x08]);
        assert_eq!(&p[2..], &iv[..]);
        let (_, p) = der(ContentAlgorithm::Cast64, Cast5Params::Rfc2984);
        assert_eq!(&p[..4], &[0x30, 0x0d, 0x04, 0x08]);
        assert_eq!(&p[12..], &[0x02, 0x01, 0x40]);
        let (_, p) = der(ContentAlgorithm::Aes256Gcm, Cast5Params::Bare);
        assert_eq!(&p[..4], &[0x30, 0x11, 0x04, 0x0c]);
        assert_eq!(&p[16..], &[0x02, 0x01, 0x10]);
        let (_, p) = der(ContentAlgorithm::Aes128, Cast5Params::Bare);
        assert_eq!(&p[..2], &[0x04, 0x10]);
    }

    fn ai(o: ObjectIdentifier, params_der: Option<&[u8]>) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: o,
            parameters: params_der.map(|d| Any::from_der(d).unwrap()),
        }
    }

    #[test]
    fn other_rc2_versions_and_forms() {
        let iv = [0x04, 0x08, 1, 2, 3, 4, 5, 6, 7, 8];
        // Version 256 (>= 256: the bit count itself) with a 32-octet key.
        let mut p = vec![0x30, 0x0e, 0x02, 0x02, 0x01, 0x00];
        p.extend_from_slice(&iv);
        let ce = ContentEncryption::from_algorithm_identifier(&ai(oid::RC2_CBC, Some(&p))).unwrap();
        assert_eq!(
            ce.cipher,
            Cipher::Rc2 {
                effective_bits: 256
            }
        );
        assert_eq!(
            ce.algorithm_for_key_len(32),
            Some(ContentAlgorithm::Rc2_128)
        );
        // 56 effective bits (version = table[56] = 0x34) ranks as rc2-40.
        let mut p = vec![0x30, 0x0d, 0x02, 0x01, 0x34];
        p.extend_from_slice(&iv);
        let ce = ContentEncryption::from_algorithm_identifier(&ai(oid::RC2_CBC, Some(&p))).unwrap();
        assert_eq!(ce.cipher, Cipher::Rc2 { effective_bits: 56 });
        assert_eq!(ce.algorithm_for_key_len(7), Some(ContentAlgorithm::Rc2_40));
        // A 16-octet key limited to 40 effective bits is rc2-40: the weaker of the two counts.
        let mut p = vec![0x30, 0x0e, 0x02, 0x02, 0x00, 0xa0];
        p.extend_from_slice(&iv);
        let ce = ContentEncryption::from_algorithm_identifier(&ai(oid::RC2_CBC, Some(&p))).unwrap();
        assert_eq!(ce.algorithm_for_key_len(16), Some(ContentAlgorithm::Rc2_40));
        // The bare IV means 32 effective bits: refused, clearly.
        let e =
            ContentEncryption::from_algorithm_identifier(&ai(oid::RC2_CBC, Some(&iv))).unwrap_err();
        assert_eq!(e.code(), "PKI-063");
        assert!(e.to_string().contains("32 effective key bits"), "{e}");
        // So does SEQUENCE { iv } without a version.
        let mut p = vec![0x30, 0x0a];
        p.extend_from_slice(&iv);
        let e =
            ContentEncryption::from_algorithm_identifier(&ai(oid::RC2_CBC, Some(&p))).unwrap_err();
        assert_eq!(e.code(), "PKI-063");
        // 2000 effective bits is beyond RC2.
        let mut p = vec![0x30, 0x0e, 0x02, 0x02, 0x07, 0xd0];
        p.extend_from_slice(&iv);
        let e =
            ContentEncryption::from_algorithm_identifier(&ai(oid::RC2_CBC, Some(&p))).unwrap_err();
        assert!(e.to_string().contains("2000"), "{e}");
    }

    #[test]
    fn cast5_both_forms_and_key_lengths() {
        let iv = [0x04, 0x08, 1, 2, 3, 4, 5, 6, 7, 8];
        let bare =
            ContentEncryption::from_algorithm_identifier(&ai(oid::CAST5_CBC, Some(&iv))).unwrap();
        assert_eq!(bare.algorithm(), None);
        assert_eq!(bare.possible_algorithms().len(), 3);
        assert_eq!(
            bare.algorithm_for_key_len(5),
            Some(ContentAlgorithm::Cast40)
        );
        assert_eq!(
            bare.algorithm_for_key_len(8),
            Some(ContentAlgorithm::Cast64)
        );
        assert_eq!(
            bare.algorithm_for_key_len(16),
            Some(ContentAlgorithm::Cast128)
        );
        assert_eq!(bare.algorithm_for_key_len(10), None);
        // RFC 2984 SEQUENCE with the IV left at its DEFAULT.
        let seq = [0x30, 0x03, 0x02, 0x01, 0x28];
        let ce =
            ContentEncryption::from_algorithm_identifier(&ai(oid::CAST5_CBC, Some(&seq))).unwrap();
        assert_eq!(ce.iv, vec![0u8; 8]);
        assert_eq!(ce.algorithm(), Some(ContentAlgorithm::Cast40));
        assert_eq!(ce.algorithm_for_key_len(16), None);
        let odd = [0x30, 0x03, 0x02, 0x01, 0x30];
        let e = ContentEncryption::from_algorithm_identifier(&ai(oid::CAST5_CBC, Some(&odd)))
            .unwrap_err();
        assert!(e.to_string().contains("48 bits"), "{e}");
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        let unknown = ObjectIdentifier::new_unwrap("1.2.3.4.5");
        let e = ContentEncryption::from_algorithm_identifier(&ai(unknown, None)).unwrap_err();
        assert_eq!(e.code(), "PKI-021");
        assert!(e.to_string().contains("1.2.3.4.5"), "{e}");
        for (o, p) in [
            (oid::AES128_CBC, None),
            (oid::AES128_CBC, Some(&[0x04, 0x02, 1, 2][..])),
            (oid::DES_CBC, Some(&[0x05, 0x00][..])),
            (
                oid::AES256_GCM,
                Some(&[0x04, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..]),
            ),
            (oid::CAST5_CBC, Some(&[0x02, 0x01, 0x05][..])),
        ] {
            let e = ContentEncryption::from_algorithm_identifier(&ai(o, p)).unwrap_err();
            assert_eq!(e.code(), "PKI-063", "{o}: {e}");
        }
    }

    #[test]
    fn wrong_keys_and_damage_give_the_one_generic_error() {
        let mut rng = rng();
        for alg in ContentAlgorithm::RANKING {
            let ce = ContentEncryption::generate(alg, Cast5Params::Bare, &mut rng);
            let key = ContentKey::generate(alg, &mut rng);
            let sealed = ce.encrypt(&key, &[0x55; 100]).unwrap();
            let mut ct = sealed.ciphertext.clone();
            // Damage the last block: the padding (CBC) or the tag check (GCM) fails.
            let n = ct.len();
            ct[n - 1] ^= 0x80;
            let r = ce.decrypt(key.as_bytes(), &ct, sealed.tag.as_deref());
            if let Err(e) = &r {
                assert_eq!(e.code(), "PKI-060", "{alg}");
            }
            assert_ne!(r.ok(), Some(vec![0x55; 100]), "{alg}");
            for bad in [&sealed.ciphertext[..n - 1], &[][..]] {
                let e = ce.decrypt(key.as_bytes(), bad, sealed.tag.as_deref());
                if !alg.is_aead() || bad.len() == n - 1 {
                    assert_eq!(e.unwrap_err().code(), "PKI-060", "{alg}");
                }
            }
            let e = ce.decrypt(
                &key.as_bytes()[1..],
                &sealed.ciphertext,
                sealed.tag.as_deref(),
            );
            assert_eq!(e.unwrap_err().code(), "PKI-060", "{alg}");
        }
    }

    #[test]
    fn des_keys_have_odd_parity_and_keys_are_redacted() {
        let key = ContentKey::generate(ContentAlgorithm::TripleDes, &mut rng());
        assert!(key.as_bytes().iter().all(|b| b.count_ones() % 2 == 1));
        assert_eq!(format!("{key:?}"), "ContentKey(24 bytes, [redacted])");
    }
}
