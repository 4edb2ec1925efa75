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

pub use algorithms::{ContentAlgorithm, DigestAlgorithm};
pub use certificate::{CertificateInfo, Issuer, Period};
pub use error::{Error, Result};
pub use keys::{KeySize, PrivateKey, PublicKey};
pub use profile::{Person, PolicyExtras, Profile, RevocationUrls, SbrProfile, SmimeSubject};
pub use x509_cert::{Certificate, name::Name};

/// The operating system's random number generator, for callers that have no other.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}
