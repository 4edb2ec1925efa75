//! One RSA PKCS#1 v1.5 signer with the digest chosen at run time, so that a CA can sign
//! certificates, requests and CRLs with SHA-256 by default and SHA-1 or MD5 for legacy peers
//! through the same x509-cert builders (the `rsa` crate's typed signers cannot name MD5).

use der::asn1::Any;
use rsa::pkcs1v15::Signature;
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier};

use crate::algorithms::DigestAlgorithm;
use crate::keys::PrivateKey;

/// Signs with `key` using RSA PKCS#1 v1.5 and `digest`.
pub struct RsaSigner<'a> {
    key: &'a PrivateKey,
    public: rsa::PublicKey,
    digest: DigestAlgorithm,
}

impl<'a> RsaSigner<'a> {
    /// A signer over `key` with `digest`.
    pub fn new(key: &'a PrivateKey, digest: DigestAlgorithm) -> Self {
        Self {
            key,
            public: key.rsa().to_public_key(),
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
    fn try_sign(&self, msg: &[u8]) -> Result<Signature, signature::Error> {
        let sig = self
            .key
            .sign(self.digest, msg)
            .map_err(|_| signature::Error::new())?;
        Signature::try_from(sig.as_slice())
    }
}
