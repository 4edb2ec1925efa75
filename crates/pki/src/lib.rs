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
pub mod negotiation;
pub mod pkcs12;
pub mod profile;
pub mod signed;
pub mod signer;
pub mod smime;
pub mod verify;

pub mod ber;
mod dsa;

pub use algorithms::{ContentAlgorithm, DigestAlgorithm};
pub use certificate::{CertificateInfo, Issuer, Period};
pub use error::{Error, Result};
pub use keys::{KeySize, PrivateKey, PublicKey};
pub use profile::{Profile, RevocationUrls, SmimeSubject};
pub use x509_cert::{Certificate, name::Name};

/// The operating system's random number generator, for callers that have no other.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}
