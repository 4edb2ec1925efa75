//! The client library behind `lockbox` and `sectool`: message work done on the user's side
//! (encrypt, decrypt, sign, verify, re-encrypt), so mail keeps flowing while the authority
//! is down. Failures carry the `CLIENT-0xx` codes of [`error`].

#![forbid(unsafe_code)]

pub mod crl_cache;
pub mod error;
pub mod fetch;
pub mod files;
pub mod keyring;
pub mod message;
pub mod ocsp;
pub mod reencrypt;
pub mod secret;
pub mod server;
