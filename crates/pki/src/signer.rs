//! The signing-key abstraction every builder signs through ([`SigningKey`]: a software
//! [`PrivateKey`] here, a token key elsewhere), what the audit log records about the key that
//! signed ([`KeyRef`]), and one RSA PKCS#1 v1.5 signer with the digest chosen at run time, so
//! that a CA can sign certificates, requests and CRLs with SHA-256 by default and SHA-1 or MD5
//! for legacy peers through the same x509-cert builders (the `rsa` crate's typed signers
//! cannot name MD5).

use core::fmt;

use der::asn1::Any;
use rsa::pkcs1v15::Signature;
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier};

use crate::algorithms::DigestAlgorithm;
use crate::error::Result;
use crate::keys::{PrivateKey, PublicKey};

/// Where a signing key lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyStore {
    /// In this process's memory (a [`PrivateKey`]).
    Software,
    /// On a token (an HSM or smart card, through PKCS#11): the key never leaves it.
    Token,
}

impl KeyStore {
    /// `"software"` or `"token"`.
    pub fn name(self) -> &'static str {
        match self {
            KeyStore::Software => "software",
            KeyStore::Token => "token",
        }
    }
}

/// What signed, for the audit log: where the key lives and its key identifier (the
/// RFC 5280 method (1) subjectKeyIdentifier in lower-case hex). Displays as `software:<hex>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyRef {
    /// Where the key lives.
    pub store: KeyStore,
    /// The key identifier, lower-case hex.
    pub key_id: String,
}

impl KeyRef {
    /// The reference of a key of `store` whose public key is `public`.
    pub fn of(store: KeyStore, public: &PublicKey) -> Self {
        let key_id = public
            .key_identifier()
            .map(|ki| ki.iter().map(|b| format!("{b:02x}")).collect())
            .unwrap_or_default();
        KeyRef { store, key_id }
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.store.name(), self.key_id)
    }
}

/// A private key that signs: RSA PKCS#1 v1.5 over `message` hashed with `digest`. Object
/// safe, shareable between threads; implementations must be safe to call concurrently.
pub trait SigningKey: Send + Sync {
    /// The matching public key.
    fn public_key(&self) -> PublicKey;
    /// Signs `message` (the whole message, not its digest) with RSA PKCS#1 v1.5 over
    /// `digest`; returns the signature (as long as the modulus).
    fn sign(&self, digest: DigestAlgorithm, message: &[u8]) -> Result<Vec<u8>>;
    /// What key this is, for the audit log.
    fn key_ref(&self) -> KeyRef;
    /// Whether the key can sign now (a token key checks that its token answers); a failure is
    /// [`crate::Error::SignerUnavailable`]. Software keys always can.
    fn check(&self) -> Result<()> {
        Ok(())
    }
}

impl SigningKey for PrivateKey {
    fn public_key(&self) -> PublicKey {
        PrivateKey::public_key(self)
    }

    fn sign(&self, digest: DigestAlgorithm, message: &[u8]) -> Result<Vec<u8>> {
        PrivateKey::sign(self, digest, message)
    }

    fn key_ref(&self) -> KeyRef {
        KeyRef::of(KeyStore::Software, &PrivateKey::public_key(self))
    }
}

/// Signs with `key` using RSA PKCS#1 v1.5 and `digest`.
pub struct RsaSigner<'a> {
    key: &'a dyn SigningKey,
    public: rsa::PublicKey,
    digest: DigestAlgorithm,
}

impl<'a> RsaSigner<'a> {
    /// A signer over `key` with `digest`.
    pub fn new(key: &'a dyn SigningKey, digest: DigestAlgorithm) -> Self {
        Self {
            key,
            public: key.public_key().rsa().clone(),
            digest,
        }
    }

    /// The AlgorithmIdentifier of the signatures this signer makes (parameters NULL, as
    /// RFC 4055 requires for PKCS#1 v1.5).
    pub fn algorithm_identifier(&self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.digest.rsa_signature_oid(),
            parameters: Some(Any::null()),
        }
    }
}

impl signature::Keypair for RsaSigner<'_> {
    type VerifyingKey = rsa::PublicKey;
    fn verifying_key(&self) -> rsa::PublicKey {
        self.public.clone()
    }
}

impl DynSignatureAlgorithmIdentifier for RsaSigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.algorithm_identifier())
    }
}

impl signature::Signer<Signature> for RsaSigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> core::result::Result<Signature, signature::Error> {
        let sig = self
            .key
            .sign(self.digest, msg)
            .map_err(|_| signature::Error::new())?;
        Signature::try_from(sig.as_slice())
    }
}
