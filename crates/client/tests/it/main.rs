//! End-to-end tests of the client binaries, run as processes against the OpenSSL CLI.

mod fetch;
mod fixtures;
mod lockbox;
mod nss;
mod outputs;
mod sectool;
