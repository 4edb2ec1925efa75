//! RSA key pairs: generation (2048/3072/4096), PKCS#8 and PKCS#1 in PEM and DER, the public
//! key's SubjectPublicKeyInfo and key identifier, PKCS#1 v1.5 signatures with a digest chosen
//! at run time, and the private-key operations' backend: AWS-LC (through `aws-lc-rs`,
//! constant-time, at OpenSSL's speed) for SHA-2 signatures and key-transport decryption with
//! keys of 2048 to 8192 bits, the `rsa` crate for what AWS-LC does not take (MD5 and SHA-1
//! signatures, older keys, OAEP with differing digests). Private keys zeroize on drop and never
//! print.

use core::fmt;
use std::sync::{Arc, OnceLock};

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

/// An RSA private key. Zeroized on drop (by the `rsa` crate, and by AWS-LC, which cleanses
/// what it frees); `Debug` prints `[redacted]`; no `Display`, no `Serialize`. Clones share the
/// AWS-LC form of the key, made once on the first private-key operation.
#[derive(Clone)]
pub struct PrivateKey {
    key: rsa::PrivateKey,
    fast: Arc<OnceLock<Option<Fast>>>,
}

/// The key in AWS-LC's form (moduli of 2048 to 8192 bits only): a signing key pair and the
/// PKCS#1 v1.5 and OAEP decryption keys (one shared `EVP_PKEY`).
struct Fast {
    sign: aws_lc_rs::signature::RsaKeyPair,
    pkcs1: aws_lc_rs::rsa::Pkcs1PrivateDecryptingKey,
    oaep: aws_lc_rs::rsa::OaepPrivateDecryptingKey,
}

impl Fast {
    /// `None` when AWS-LC does not take the key (a modulus below 2048 bits): the `rsa` crate
    /// then does every operation.
    fn new(key: &rsa::PrivateKey) -> Option<Fast> {
        let pkcs8 = key.to_pkcs8_der().ok()?;
        let sign = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(pkcs8.as_bytes()).ok()?;
        let dec = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(pkcs8.as_bytes()).ok()?;
        let pkcs1 = aws_lc_rs::rsa::Pkcs1PrivateDecryptingKey::new(dec.clone()).ok()?;
        let oaep = aws_lc_rs::rsa::OaepPrivateDecryptingKey::new(dec).ok()?;
        Some(Fast { sign, pkcs1, oaep })
    }
}

/// Which implementation does a private-key operation (tests compare the two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// AWS-LC when it takes the key and the operation, else the `rsa` crate.
    Fastest,
    /// The `rsa` crate.
    #[cfg_attr(not(test), allow(dead_code))]
    RsaCrate,
}

/// The digests RSAES-OAEP may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OaepHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

/// A key-transport decryption's result, shaped so that success and failure take the same
/// path: `buf` is as long as the modulus whatever happened; `len` octets of it are the
/// plaintext when `ok` is `0xff`; when `ok` is `0`, `len` is 0 and the caller substitutes a
/// random key (RFC 3218 §2.3) without branching on which failure it was.
pub(crate) struct Unwrapped {
    pub(crate) buf: Zeroizing<Vec<u8>>,
    pub(crate) len: usize,
    pub(crate) ok: u8,
}

impl Unwrapped {
    fn from_result(modulus_len: usize, r: core::result::Result<Vec<u8>, ()>) -> Self {
        let mut buf = Zeroizing::new(vec![0u8; modulus_len]);
        let (len, ok) = match r {
            Ok(v) => {
                let v = Zeroizing::new(v);
                let n = v.len().min(modulus_len);
                buf[..n].copy_from_slice(&v[..n]);
                (n, 0xff)
            }
            Err(()) => (0, 0),
        };
        Unwrapped { buf, len, ok }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(RSA-{}, [redacted])", self.bits())
    }
}

impl PrivateKey {
    /// Generates a new key pair of `size` from `rng` (public exponent 65537).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, size: KeySize) -> Result<Self> {
        rsa::PrivateKey::new(rng, size.bits())
            .map(PrivateKey::wrap)
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
        Ok(PrivateKey::wrap(key))
    }

    fn wrap(key: rsa::PrivateKey) -> Self {
        PrivateKey {
            key,
            fast: Arc::new(OnceLock::new()),
        }
    }

    /// The AWS-LC form of the key, made on first use and shared by clones.
    fn fast(&self) -> Option<&Fast> {
        self.fast.get_or_init(|| Fast::new(&self.key)).as_ref()
    }

    /// PKCS#8 `PrivateKeyInfo` DER, in a zeroizing document.
    pub fn to_pkcs8_der(&self) -> Result<SecretDocument> {
        self.key.to_pkcs8_der().map_err(|_| Error::Build {
            what: "PKCS#8 private key",
            detail: "encoding failed".into(),
        })
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), zeroized on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        self.key
            .to_pkcs8_pem(pkcs8::LineEnding::LF)
            .map_err(|_| Error::Build {
                what: "PKCS#8 private key",
                detail: "PEM encoding failed".into(),
            })
    }

    /// PKCS#1 `RSAPrivateKey` DER, in a zeroizing document.
    pub fn to_pkcs1_der(&self) -> Result<SecretDocument> {
        self.key.to_pkcs1_der().map_err(|_| Error::Build {
            what: "PKCS#1 private key",
            detail: "encoding failed".into(),
        })
    }

    /// PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), zeroized on drop.
    pub fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>> {
        self.key
            .to_pkcs1_pem(pkcs8::LineEnding::LF)
            .map_err(|_| Error::Build {
                what: "PKCS#1 private key",
                detail: "PEM encoding failed".into(),
            })
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.to_public_key())
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.key.n().bit_width() as usize
    }

    /// Signs `message` with RSA PKCS#1 v1.5 over its `digest`.
    pub fn sign(&self, digest: DigestAlgorithm, message: &[u8]) -> Result<Vec<u8>> {
        self.sign_with(Backend::Fastest, digest, message)
    }

    /// [`Self::sign`] by the backend given: AWS-LC for SHA-2 when it takes the key.
    pub(crate) fn sign_with(
        &self,
        backend: Backend,
        digest: DigestAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>> {
        use aws_lc_rs::signature as lc;
        let encoding: Option<&'static lc::RsaSignatureEncoding> = match digest {
            DigestAlgorithm::Sha256 => Some(&lc::RSA_PKCS1_SHA256),
            DigestAlgorithm::Sha384 => Some(&lc::RSA_PKCS1_SHA384),
            DigestAlgorithm::Sha512 => Some(&lc::RSA_PKCS1_SHA512),
            DigestAlgorithm::Sha1 | DigestAlgorithm::Md5 => None,
        };
        let fast = match backend {
            Backend::Fastest => self.fast(),
            Backend::RsaCrate => None,
        };
        if let (Some(fast), Some(encoding)) = (fast, encoding) {
            let mut sig = vec![0u8; fast.sign.public_modulus_len()];
            // AWS-LC ignores the random source for PKCS#1 v1.5 (it is deterministic).
            let rng = aws_lc_rs::rand::SystemRandom::new();
            fast.sign
                .sign(encoding, &rng, message, &mut sig)
                .map_err(|_| Error::Rsa("signature"))?;
            return Ok(sig);
        }
        let hashed = digest.digest(message);
        self.key
            .sign(digest.pkcs1v15_scheme(), &hashed)
            .map_err(|_| Error::Rsa("signature"))
    }

    /// Modulus size in octets (the size of a signature or an RSA ciphertext).
    pub(crate) fn modulus_len(&self) -> usize {
        self.key.size()
    }

    /// RSAES-PKCS1-v1_5 decryption of a wrapped content key. With the `rsa` crate a bad
    /// padding gives its implicit-rejection key (`ok` set); with AWS-LC it gives `ok` clear.
    pub(crate) fn decrypt_pkcs1v15<R: CryptoRng + ?Sized>(
        &self,
        backend: Backend,
        wrapped: &[u8],
        rng: &mut R,
    ) -> Unwrapped {
        let n = self.modulus_len();
        if let (Backend::Fastest, Some(fast)) = (backend, self.fast()) {
            let mut buf = Zeroizing::new(vec![0u8; n]);
            let len = fast.pkcs1.decrypt(wrapped, &mut buf).map(|p| p.len());
            let ok = u8::from(len.is_ok()).wrapping_neg();
            let len = len.unwrap_or(0);
            return Unwrapped { buf, len, ok };
        }
        let r = self.key.pkcs1v15_decrypt_with_rng(rng, wrapped);
        Unwrapped::from_result(n, r.map_err(|_| ()))
    }

    /// RSAES-OAEP decryption of a wrapped content key with digest `hash`, MGF1 over
    /// `mgf_hash` and `label`.
    pub(crate) fn decrypt_oaep<R: CryptoRng + ?Sized>(
        &self,
        backend: Backend,
        hash: OaepHash,
        mgf_hash: OaepHash,
        label: &[u8],
        wrapped: &[u8],
        rng: &mut R,
    ) -> Unwrapped {
        use aws_lc_rs::rsa as lc;
        let n = self.modulus_len();
        let alg: Option<&'static lc::OaepAlgorithm> = match (hash, mgf_hash) {
            (OaepHash::Sha1, OaepHash::Sha1) => Some(&lc::OAEP_SHA1_MGF1SHA1),
            (OaepHash::Sha256, OaepHash::Sha256) => Some(&lc::OAEP_SHA256_MGF1SHA256),
            (OaepHash::Sha384, OaepHash::Sha384) => Some(&lc::OAEP_SHA384_MGF1SHA384),
            (OaepHash::Sha512, OaepHash::Sha512) => Some(&lc::OAEP_SHA512_MGF1SHA512),
            _ => None,
        };
        if let (Backend::Fastest, Some(fast), Some(alg)) = (backend, self.fast(), alg) {
            let mut buf = Zeroizing::new(vec![0u8; n]);
            let label = (!label.is_empty()).then_some(label);
            let len = fast
                .oaep
                .decrypt(alg, wrapped, &mut buf, label)
                .map(|p| p.len());
            let ok = u8::from(len.is_ok()).wrapping_neg();
            let len = len.unwrap_or(0);
            return Unwrapped { buf, len, ok };
        }
        let r = match hash {
            OaepHash::Sha1 => oaep_mgf::<sha1::Sha1, R>(&self.key, mgf_hash, label, wrapped, rng),
            OaepHash::Sha256 => {
                oaep_mgf::<sha2::Sha256, R>(&self.key, mgf_hash, label, wrapped, rng)
            }
            OaepHash::Sha384 => {
                oaep_mgf::<sha2::Sha384, R>(&self.key, mgf_hash, label, wrapped, rng)
            }
            OaepHash::Sha512 => {
                oaep_mgf::<sha2::Sha512, R>(&self.key, mgf_hash, label, wrapped, rng)
            }
        };
        Unwrapped::from_result(n, r.map_err(|_| ()))
    }
}

fn oaep_mgf<D, R>(
    key: &rsa::PrivateKey,
    mgf_hash: OaepHash,
    label: &[u8],
    wrapped: &[u8],
    rng: &mut R,
) -> rsa::Result<Vec<u8>>
where
    D: digest::Digest + digest::FixedOutputReset,
    R: CryptoRng + ?Sized,
{
    match mgf_hash {
        OaepHash::Sha1 => oaep::<D, sha1::Sha1, R>(key, label, wrapped, rng),
        OaepHash::Sha256 => oaep::<D, sha2::Sha256, R>(key, label, wrapped, rng),
        OaepHash::Sha384 => oaep::<D, sha2::Sha384, R>(key, label, wrapped, rng),
        OaepHash::Sha512 => oaep::<D, sha2::Sha512, R>(key, label, wrapped, rng),
    }
}

fn oaep<D, M, R>(
    key: &rsa::PrivateKey,
    label: &[u8],
    wrapped: &[u8],
    rng: &mut R,
) -> rsa::Result<Vec<u8>>
where
    D: digest::Digest + digest::FixedOutputReset,
    M: digest::Digest + digest::FixedOutputReset,
    R: CryptoRng + ?Sized,
{
    let padding = if label.is_empty() {
        rsa::Oaep::<D, M>::new_with_mgf_hash()
    } else {
        rsa::Oaep::<D, M>::new_with_mgf_hash_and_label(label.to_vec())
    };
    key.decrypt_blinded(rng, padding, wrapped)
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

    const CA_3072: &str = include_str!("../../../keys/ca-3072.key.pem");
    const CA_4096: &str = include_str!("../../../keys/ca2-4096.key.pem");
    const BOB_1024: &[u8] = include_bytes!("../tests/vectors/rfc4134/BobPrivRSAEncrypt.pri");

    #[test]
    fn aws_lc_signatures_are_the_rsa_crates_byte_for_byte() {
        for pem in [ALICE, CA_3072, CA_4096] {
            let key = PrivateKey::from_pem_or_der(pem.as_bytes()).unwrap();
            assert!(key.fast().is_some(), "AWS-LC takes RSA-{}", key.bits());
            for d in DigestAlgorithm::ALL {
                let fast = key.sign_with(Backend::Fastest, d, b"to be signed").unwrap();
                let old = key
                    .sign_with(Backend::RsaCrate, d, b"to be signed")
                    .unwrap();
                assert_eq!(fast, old, "RSA-{} {d:?}", key.bits());
                assert_eq!(fast.len(), key.modulus_len());
            }
        }
        // A 1024-bit key (RFC 4134's) is below AWS-LC's floor: the rsa crate signs.
        let bob = PrivateKey::from_der(BOB_1024).unwrap();
        assert!(bob.fast().is_none());
        let sig = bob.sign(DigestAlgorithm::Sha256, b"x").unwrap();
        bob.public_key()
            .verify(DigestAlgorithm::Sha256, b"x", &sig, "test")
            .unwrap();
    }

    #[test]
    fn clones_share_the_aws_lc_key() {
        let key = PrivateKey::from_pem_or_der(ALICE.as_bytes()).unwrap();
        let copy = key.clone();
        key.sign(DigestAlgorithm::Sha256, b"x").unwrap();
        assert!(copy.fast.get().is_some(), "made once, seen by the clone");
        fn send_sync<T: Send + Sync + Clone>() {}
        send_sync::<PrivateKey>();
    }

    /// `openssl pkeyutl -encrypt` of `plain` for `key` with `opts` (`-pkeyopt` values).
    fn openssl_encrypt(key: &PrivateKey, plain: &[u8], opts: &[&str]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("pub.pem");
        std::fs::write(&public, key.public_key().to_pem().unwrap()).unwrap();
        std::fs::write(dir.path().join("in.bin"), plain).unwrap();
        let mut cmd = std::process::Command::new("openssl");
        cmd.current_dir(dir.path())
            .args(["pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem"])
            .args(["-in", "in.bin", "-out", "out.bin"]);
        for o in opts {
            cmd.args(["-pkeyopt", o]);
        }
        let out = cmd.output().expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(dir.path().join("out.bin")).unwrap()
    }

    fn unwrap_both(
        key: &PrivateKey,
        wrapped: &[u8],
        oaep: Option<(OaepHash, OaepHash, &[u8])>,
    ) -> [Unwrapped; 2] {
        let mut rng = crate::os_rng();
        [Backend::Fastest, Backend::RsaCrate].map(|b| match oaep {
            None => key.decrypt_pkcs1v15(b, wrapped, &mut rng),
            Some((h, m, label)) => key.decrypt_oaep(b, h, m, label, wrapped, &mut rng),
        })
    }

    #[test]
    fn aws_lc_decrypts_what_openssl_encrypts_as_the_rsa_crate_does() {
        use OaepHash::*;
        let cek = *b"0123456789abcdef0123456789abcdef";
        let alice =
            PrivateKey::from_pem_or_der(include_str!("../../../keys/alice-enc.key.pem").as_bytes())
                .unwrap();
        let bob = PrivateKey::from_der(BOB_1024).unwrap();
        let cases: &[(&[&str], Option<(OaepHash, OaepHash, &[u8])>)] = &[
            (&["rsa_padding_mode:pkcs1"], None),
            (&["rsa_padding_mode:oaep"], Some((Sha1, Sha1, b""))),
            (
                &[
                    "rsa_padding_mode:oaep",
                    "rsa_oaep_md:sha256",
                    "rsa_mgf1_md:sha256",
                ],
                Some((Sha256, Sha256, b"")),
            ),
            (
                &[
                    "rsa_padding_mode:oaep",
                    "rsa_oaep_md:sha384",
                    "rsa_mgf1_md:sha384",
                ],
                Some((Sha384, Sha384, b"")),
            ),
            (
                &[
                    "rsa_padding_mode:oaep",
                    "rsa_oaep_md:sha512",
                    "rsa_mgf1_md:sha512",
                ],
                Some((Sha512, Sha512, b"")),
            ),
            // Differing digests: AWS-LC has no such algorithm, the rsa crate does it.
            (
                &[
                    "rsa_padding_mode:oaep",
                    "rsa_oaep_md:sha256",
                    "rsa_mgf1_md:sha1",
                ],
                Some((Sha256, Sha1, b"")),
            ),
            (
                &[
                    "rsa_padding_mode:oaep",
                    "rsa_oaep_md:sha256",
                    "rsa_mgf1_md:sha256",
                    "rsa_oaep_label:6c6162656c",
                ],
                Some((Sha256, Sha256, b"label")),
            ),
        ];
        for key in [&alice, &bob] {
            for (opts, oaep) in cases {
                if key.bits() == 1024 && matches!(oaep, Some((Sha512, ..))) {
                    continue; // SHA-512 OAEP does not fit 16 octets in a 1024-bit modulus.
                }
                let wrapped = openssl_encrypt(key, &cek[..16], opts);
                let [new, old] = unwrap_both(key, &wrapped, *oaep);
                assert_eq!((new.ok, old.ok), (0xff, 0xff), "{opts:?}");
                assert_eq!(&new.buf[..new.len], &cek[..16], "{opts:?}");
                assert_eq!(&old.buf[..old.len], &cek[..16], "{opts:?}");
                assert_eq!(new.buf.len(), key.modulus_len());
                // The wrong label, or the wrong scheme, is a failure in both.
                if let Some((h, m, _)) = oaep {
                    let [new, old] = unwrap_both(key, &wrapped, Some((*h, *m, b"other")));
                    assert_eq!((new.ok, new.len, old.ok), (0, 0, 0), "{opts:?}");
                }
            }
        }
        // Bad PKCS#1 v1.5 padding: AWS-LC says no (the caller substitutes a random key); the
        // rsa crate gives its implicit-rejection key, which is not the content key either.
        let bad = openssl_encrypt(&alice, &[0x42; 200], &["rsa_padding_mode:oaep"]);
        let [new, old] = unwrap_both(&alice, &bad, None);
        assert_eq!((new.ok, new.len), (0, 0));
        assert_eq!(old.ok, 0xff);
        assert_ne!(&old.buf[..old.len], &[0x42; 200][..old.len.min(200)]);
        // A ciphertext of the wrong size fails in both.
        let [new, old] = unwrap_both(&alice, &bad[1..], None);
        assert_eq!((new.ok, old.ok), (0, 0));
    }

    #[test]
    fn key_sizes() {
        assert_eq!(KeySize::from_bits(3072).unwrap(), KeySize::Rsa3072);
        assert!(KeySize::from_bits(1024).is_err());
    }
}
