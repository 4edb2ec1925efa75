//! `api`: the wire of kmsd's HTTP API, shared by the server, `kmsctl` and the client library.
//!
//! Request and response types of every route under `/api/v1` (and the public `/healthz`),
//! the error body `{"error": {"code", "message"}}`, the 202 answer of a quorum operation that
//! waits for approvals, the string enums (roles, revocation reasons, algorithms, statuses,
//! quorum operations), and [`KmsClient`], a typed blocking client over rustls; and
//! [`outfile`], the one rule for where the clients' `--out` goes.
//!
//! Times follow the registry: every Unix-second field keeps its name; an RFC 3339 form is
//! added beside it as `<field>_rfc3339` (filled by the server; empty or absent from servers
//! that predate it). The OpenAPI document is generated from these types (`utoipa`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod agent;
mod client;
mod enums;
mod error;
pub mod outfile;
mod secret;
mod wire;

pub use client::{KmsClient, tls_config};
pub use enums::{
    AuditOutcome, CertKind, CertStatus, ContentAlgorithm, QuorumOperation, RequestStatus,
    RevocationReason, Role, UnlockMethodKind, UserState, UserStatus,
};
pub use error::{ClientError, ErrorBody, ErrorDetail, Pending};
pub use secret::Secret;
pub use wire::*;

/// The prefix of every API route.
pub const API_PREFIX: &str = "/api/v1";
