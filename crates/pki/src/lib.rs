//! The PKI core of the key management server: RSA keys, X.509 certificates and profiles,
//! PKCS#10 requests, CRLs, PKCS#12 bundles and the algorithm registry. Pure code: no file
//! system, network, database or clock (times are arguments; randomness is an argument).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod algorithms;
pub mod bundle;
pub mod certificate;
pub mod content;
pub mod crl;
pub mod csr;
pub mod encoding;
pub mod enveloped;
pub mod error;
pub mod keys;
pub mod lint;
pub mod negotiation;
pub mod ocsp;
pub mod pkcs12;
pub mod profile;
pub mod quorum;
pub mod signed;
pub mod signer;
pub mod smime;
pub mod verify;

pub mod ber;
mod dsa;

/// Entry points for the fuzz targets in `fuzz/` (not an API): the crate's internal BER
/// normaliser, which every CMS and PKCS#12 reader runs first.
#[doc(hidden)]
pub mod fuzzing {
    use crate::error::{Error, Result};

    /// The BER to DER conversion of one element.
    pub fn ber_to_der(input: &[u8]) -> Result<Vec<u8>> {
        crate::ber::to_der(input).map_err(Error::der("BER input"))
    }

    /// The same, flattening chunked `[0] IMPLICIT OCTET STRING`s (EnvelopedData's content).
    pub fn ber_to_der_implicit_strings(input: &[u8]) -> Result<Vec<u8>> {
        crate::ber::to_der_implicit_strings(input).map_err(Error::der("BER input"))
    }
}

/// Entry points for `benches/rsa.rs` (not an API): the bare RSA key-transport operations.
#[doc(hidden)]
pub mod bench {
    use crate::error::{Error, Result};
    use crate::keys::{Backend, PrivateKey, PublicKey};

    /// RSAES-PKCS1-v1_5 encryption of `message` to `key`.
    pub fn rsa_encrypt_pkcs1v15(key: &PublicKey, message: &[u8]) -> Result<Vec<u8>> {
        key.rsa()
            .pkcs1v15_encrypt_with_rng(&mut crate::os_rng(), message)
            .map_err(|_| Error::Rsa("encryption"))
    }

    /// RSAES-PKCS1-v1_5 decryption with `key` as the lockbox does it; `None` on failure.
    pub fn rsa_decrypt_pkcs1v15(key: &PrivateKey, wrapped: &[u8]) -> Option<Vec<u8>> {
        let u = key.decrypt_pkcs1v15(Backend::Fastest, wrapped, &mut crate::os_rng());
        (u.ok != 0).then(|| u.buf[..u.len].to_vec())
    }
}

pub use algorithms::{ContentAlgorithm, DigestAlgorithm};
pub use certificate::{CertificateInfo, Issuer, Period};
pub use error::{Error, Result};
pub use keys::{KeySize, PrivateKey, PublicKey};
pub use profile::{Person, PolicyExtras, Profile, RevocationUrls, SbrProfile, SmimeSubject};
pub use signer::{KeyRef, KeyStore, SigningKey};
pub use x509_cert::{Certificate, name::Name};

/// The operating system's random number generator, for callers that have no other.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}
