//! Integration tests of the escrow store, in one test binary (one module per concern).

mod backup;
mod common;
mod crash;
mod faults;
mod hostile_backup;
mod methods;
mod migrations;
mod postgres;
mod store;
mod tamper;
