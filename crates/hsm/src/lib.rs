//! The CA key on a PKCS#11 token (an HSM, a smart card, SoftHSM for trying): [`TokenKey`]
//! opens or generates an RSA key on a token and signs through a small pool of logged-in
//! sessions, as a [`pki::SigningKey`], so that every `pki` builder can sign with it while
//! the key itself never leaves the token.
//!
//! # Error codes
//!
//! | Code      | Meaning |
//! |-----------|---------|
//! | `HSM-001` | the PKCS#11 module cannot be loaded or initialised |
//! | `HSM-002` | no token with that label |
//! | `HSM-003` | the token refused the user PIN (incorrect, locked, expired; never echoed) |
//! | `HSM-004` | the token is gone or failing at run time (removed, device error) |
//! | `HSM-005` | no private key with that label on the token |
//! | `HSM-006` | the key is unusable: not RSA, under 2048 bits, no `CKA_SIGN`, extractable or not sensitive, `CKA_ALWAYS_AUTHENTICATE`, a mechanism missing, a digest other than SHA-256/384/512, a signature that does not verify (the message says which) |
//! | `HSM-007` | generating under a label already in use |
//! | `HSM-008` | another PKCS#11 failure (the message names the function and the `CKR_` value) |
//! | `HSM-009` | a key size that is not generated (2048 to 8192 bits, a multiple of 8) |
//!
//! When signing fails the [`pki::SigningKey`] answer is `PKI-141` (the signer is
//! unavailable) with the `HSM-00x` message inside.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod error;
mod key;
mod module;
mod pool;
mod rsa_spki;

#[cfg(feature = "testing")]
pub mod testing;

pub use config::{Pin, TokenConfig};
pub use error::HsmError;
pub use key::{DEFAULT_POOL_SIZE, TokenKey};
pub use module::REINIT_INTERVAL;
