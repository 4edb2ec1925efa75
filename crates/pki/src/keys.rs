//! RSA key pairs: generation (2048/3072/4096), PKCS#8 and PKCS#1 in PEM and DER, the public
//! key's SubjectPublicKeyInfo and key identifier, and PKCS#1 v1.5 signatures with a digest
//! chosen at run time. Private keys zeroize on drop and never print.

use core::fmt;

use der::{Decode, Encode, SecretDocument};
use rand_core::CryptoRng;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use sha1::{Digest, Sha1};
use spki::SubjectPublicKeyInfoOwned;
use zeroize::Zeroizing;

use crate::algorithms::{DigestAlgorithm, oid};
use crate::encoding::{self, MAX_OBJECT_SIZE};
use crate::error::{Error, Result};

/// Smallest RSA modulus accepted for new keys and requests.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted anywhere (bounds the cost of an operation on hostile input).
pub const MAX_RSA_BITS: usize = 8192;
/// Smallest RSA modulus accepted when *reading* old material (RFC 4134 uses 1024-bit keys).
pub const MIN_LEGACY_RSA_BITS: usize = 1024;

/// RSA key sizes this system generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeySize {
    /// 2048 bits, the default for users.
    Rsa2048,
    /// 3072 bits, for a CA.
    Rsa3072,
    /// 4096 bits, for a CA.
    Rsa4096,
}

impl KeySize {
    /// Modulus size in bits.
    pub fn bits(self) -> usize {
        match self {
            KeySize::Rsa2048 => 2048,
            KeySize::Rsa3072 => 3072,
            KeySize::Rsa4096 => 4096,
        }
    }

    /// The size for a number of bits, if it is one we generate.
    pub fn from_bits(bits: usize) -> Result<Self> {
        match bits {
            2048 => Ok(KeySize::Rsa2048),
            3072 => Ok(KeySize::Rsa3072),
            4096 => Ok(KeySize::Rsa4096),
            other => Err(Error::UnsupportedKey(format!(
                "RSA-{other}: key sizes are 2048, 3072 or 4096 bits"
            ))),
        }
    }
}

const PRIVATE_KEY_LABELS: &[&str] = &["PRIVATE KEY", "RSA PRIVATE KEY"];
const PUBLIC_KEY_LABELS: &[&str] = &["PUBLIC KEY"];

/// An RSA private key. Zeroized on drop (by the `rsa` crate); `Debug` prints `[redacted]`;
/// no `Display`, no `Serialize`.
#[derive(Clone)]
pub struct PrivateKey(rsa::PrivateKey);

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(RSA-{}, [redacted])", self.bits())
    }
}

impl PrivateKey {
    /// Generates a new key pair of `size` from `rng` (public exponent 65537).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, size: KeySize) -> Result<Self> {
        rsa::PrivateKey::new(rng, size.bits())
            .map(PrivateKey)
            .map_err(|_| Error::Rsa("key generation"))
    }

    /// Reads a private key from DER: PKCS#8 `PrivateKeyInfo` or PKCS#1 `RSAPrivateKey`.
    pub fn from_der(der_bytes: &[u8]) -> Result<Self> {
        encoding::check_size("private key", der_bytes, MAX_OBJECT_SIZE)?;
        let key = match rsa::PrivateKey::from_pkcs8_der(der_bytes) {
            Ok(k) => k,
            Err(pkcs8_err) => {
                rsa::PrivateKey::from_pkcs1_der(der_bytes).map_err(|_| match pkcs8_err {
                    pkcs8::Error::Asn1(e) => Error::Der {
                        what: "private key (PKCS#8 or PKCS#1)",
                        source: e,
                    },
                    pkcs8::Error::KeyMalformed(_) => {
                        Error::UnsupportedKey("the RSA key components are inconsistent".into())
                    }
                    other => Error::UnsupportedKey(format!(
                        "not an RSA private key in PKCS#8 or PKCS#1 form ({other})"
                    )),
                })?
            }
        };
        Self::checked(key)
    }

    /// Reads a private key from PEM (`PRIVATE KEY` or `RSA PRIVATE KEY`) or DER.
    pub fn from_pem_or_der(input: &[u8]) -> Result<Self> {
        let der_bytes = Zeroizing::new(encoding::der_or_pem(
            "private key",
            input,
            MAX_OBJECT_SIZE,
            PRIVATE_KEY_LABELS,
            "PRIVATE KEY or RSA PRIVATE KEY",
        )?);
        Self::from_der(&der_bytes)
    }

    fn checked(key: rsa::PrivateKey) -> Result<Self> {
        let bits = key.n().bit_width() as usize;
        if !(MIN_LEGACY_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(Error::UnsupportedKey(format!(
                "RSA-{bits}: accepted sizes are {MIN_LEGACY_RSA_BITS} to {MAX_RSA_BITS} bits"
            )));
        }
        Ok(PrivateKey(key))
    }

    /// PKCS#8 `PrivateKeyInfo` DER, in a zeroizing document.
    pub fn to_pkcs8_der(&self) -> Result<SecretDocument> {
        self.0.to_pkcs8_der().map_err(|_| Error::Build {
            what: "PKCS#8 private key",
            detail: "encoding failed".into(),
        })
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), zeroized on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        self.0
            .to_pkcs8_pem(pkcs8::LineEnding::LF)
            .map_err(|_| Error::Build {
                what: "PKCS#8 private key",
                detail: "PEM encoding failed".into(),
            })
    }

    /// PKCS#1 `RSAPrivateKey` DER, in a zeroizing document.
    pub fn to_pkcs1_der(&self) -> Result<SecretDocument> {
        self.0.to_pkcs1_der().map_err(|_| Error::Build {
            what: "PKCS#1 private key",
            detail: "encoding failed".into(),
        })
    }

    /// PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), zeroized on drop.
    pub fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>> {
        self.0
            .to_pkcs1_pem(pkcs8::LineEnding::LF)
            .map_err(|_| Error::Build {
                what: "PKCS#1 private key",
                detail: "PEM encoding failed".into(),
            })
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.to_public_key())
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.0.n().bit_width() as usize
    }

    /// Signs `message` with RSA PKCS#1 v1.5 over its `digest`.
    pub fn sign(&self, digest: DigestAlgorithm, message: &[u8]) -> Result<Vec<u8>> {
        let hashed = digest.digest(message);
        self.0
            .sign(digest.pkcs1v15_scheme(), &hashed)
            .map_err(|_| Error::Rsa("signature"))
    }

    /// The key of the `rsa` crate, for the other modules of this crate.
    pub(crate) fn rsa(&self) -> &rsa::PrivateKey {
        &self.0
    }
}

/// An RSA public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(rsa::PublicKey);

impl PublicKey {
    /// Reads an RSA public key from a SubjectPublicKeyInfo.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self> {
        if spki.algorithm.oid != oid::RSA_ENCRYPTION {
            return Err(Error::UnsupportedKey(format!(
                "public key algorithm {} is not rsaEncryption",
                spki.algorithm.oid
            )));
        }
        let der_bytes = spki.to_der().map_err(Error::der("public key"))?;
        Self::from_spki_der(&der_bytes)
    }

    /// Reads an RSA public key from SubjectPublicKeyInfo DER.
    pub fn from_spki_der(der_bytes: &[u8]) -> Result<Self> {
        use rsa::pkcs8::DecodePublicKey;
        encoding::check_size("public key", der_bytes, MAX_OBJECT_SIZE)?;
        let key = rsa::PublicKey::from_public_key_der(der_bytes).map_err(|e| match e {
            spki::Error::Asn1(source) => Error::Der {
                what: "public key",
                source,
            },
            other => Error::UnsupportedKey(format!("not an RSA public key ({other})")),
        })?;
        let bits = key.n().bit_width() as usize;
        if !(MIN_LEGACY_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(Error::UnsupportedKey(format!(
                "RSA-{bits}: accepted sizes are {MIN_LEGACY_RSA_BITS} to {MAX_RSA_BITS} bits"
            )));
        }
        Ok(PublicKey(key))
    }

    /// Reads a public key from PEM (`PUBLIC KEY`) or DER SubjectPublicKeyInfo.
    pub fn from_pem_or_der(input: &[u8]) -> Result<Self> {
        let der_bytes = encoding::der_or_pem(
            "public key",
            input,
            MAX_OBJECT_SIZE,
            PUBLIC_KEY_LABELS,
            "PUBLIC KEY",
        )?;
        Self::from_spki_der(&der_bytes)
    }

    /// SubjectPublicKeyInfo DER.
    pub fn to_spki_der(&self) -> Result<Vec<u8>> {
        self.0
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|_| Error::Build {
                what: "public key",
                detail: "encoding failed".into(),
            })
    }

    /// SubjectPublicKeyInfo as a structure.
    pub fn to_spki(&self) -> Result<SubjectPublicKeyInfoOwned> {
        SubjectPublicKeyInfoOwned::from_der(&self.to_spki_der()?).map_err(Error::der("public key"))
    }

    /// PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_pem(&self) -> Result<String> {
        Ok(encoding::pem_encode("PUBLIC KEY", &self.to_spki_der()?))
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.0.n().bit_width() as usize
    }

    /// The RFC 5280 §4.2.1.2 method (1) key identifier: SHA-1 of the subjectPublicKey bits.
    pub fn key_identifier(&self) -> Result<[u8; 20]> {
        let spki = self.to_spki()?;
        Ok(Sha1::digest(spki.subject_public_key.raw_bytes()).into())
    }

    /// The key of the `rsa` crate, for the other modules of this crate.
    pub(crate) fn rsa(&self) -> &rsa::PublicKey {
        &self.0
    }

    /// Verifies an RSA PKCS#1 v1.5 `signature` over `message` with `digest`.
    pub fn verify(
        &self,
        digest: DigestAlgorithm,
        message: &[u8],
        signature: &[u8],
        what: &'static str,
    ) -> Result<()> {
        let hashed = digest.digest(message);
        self.0
            .verify(digest.pkcs1v15_scheme(), &hashed, signature)
            .map_err(|_| Error::BadSignature(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = include_str!("../../../keys/alice-sign.key.pem");

    #[test]
    fn pem_der_pkcs1_pkcs8_round_trips() {
        let key = PrivateKey::from_pem_or_der(ALICE.as_bytes()).unwrap();
        assert_eq!(key.bits(), 2048);
        let p8 = key.to_pkcs8_der().unwrap();
        let p1 = key.to_pkcs1_der().unwrap();
        for der in [p8.as_bytes(), p1.as_bytes()] {
            let again = PrivateKey::from_der(der).unwrap();
            assert_eq!(again.public_key(), key.public_key());
        }
        let p1_pem = key.to_pkcs1_pem().unwrap();
        assert!(p1_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let again = PrivateKey::from_pem_or_der(p1_pem.as_bytes()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let pub_pem = key.public_key().to_pem().unwrap();
        assert_eq!(
            PublicKey::from_pem_or_der(pub_pem.as_bytes()).unwrap(),
            key.public_key()
        );
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = PrivateKey::from_pem_or_der(ALICE.as_bytes()).unwrap();
        let dbg = format!("{key:?}");
        assert_eq!(dbg, "PrivateKey(RSA-2048, [redacted])");
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let key = PrivateKey::from_pem_or_der(ALICE.as_bytes()).unwrap();
        let der = key.to_pkcs8_der().unwrap();
        let truncated = &der.as_bytes()[..der.as_bytes().len() / 2];
        assert_eq!(
            PrivateKey::from_der(truncated).unwrap_err().code(),
            "PKI-001"
        );
        let wrong_label = ALICE.replace("PRIVATE KEY", "CERTIFICATE");
        let e = PrivateKey::from_pem_or_der(wrong_label.as_bytes()).unwrap_err();
        assert_eq!(e.code(), "PKI-003", "{e}");
        assert!(e.to_string().contains("CERTIFICATE"));
        let garbage = "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            PrivateKey::from_pem_or_der(garbage.as_bytes())
                .unwrap_err()
                .code(),
            "PKI-002"
        );
        let huge = vec![0x30u8; MAX_OBJECT_SIZE + 1];
        assert_eq!(PrivateKey::from_der(&huge).unwrap_err().code(), "PKI-004");
    }

    #[test]
    fn sign_and_verify_with_every_digest() {
        let key = PrivateKey::from_pem_or_der(ALICE.as_bytes()).unwrap();
        for d in DigestAlgorithm::ALL {
            let sig = key.sign(d, b"hello").unwrap();
            key.public_key().verify(d, b"hello", &sig, "test").unwrap();
            assert!(key.public_key().verify(d, b"hellO", &sig, "test").is_err());
        }
    }

    #[test]
    fn key_sizes() {
        assert_eq!(KeySize::from_bits(3072).unwrap(), KeySize::Rsa3072);
        assert!(KeySize::from_bits(1024).is_err());
    }
}
