//! Integration tests of the `pki` crate, in one test binary: interop with the OpenSSL CLI in
//! both directions, and bad input.

mod support;

mod certificates;
mod crl;
mod csr;
mod enveloped;
mod hostile;
mod keys;
mod lint;
mod negotiation;
mod pkcs12;
mod quorum;
mod signed;
mod signing_key;
mod smime;
mod verify;
