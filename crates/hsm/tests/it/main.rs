//! Integration tests of the `hsm` crate against a real SoftHSM2 token: every test runs its
//! body in a child process of its own with a throw-away token directory
//! (`SoftHsm::fresh_process`), since SoftHSM reads `SOFTHSM2_CONF` once per process.

mod errors;
mod pool;
mod removal;
mod support;
mod token;
