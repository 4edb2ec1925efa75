//! The error body every 4xx/5xx answer carries, the 202 answer of a quorum operation waiting
//! for approvals, and [`ClientError`], the typed client's one error type.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::QuorumOperation;

/// The code and message of an error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code (`KMS-400`, `AUTH-005`, ...), documented in the design's registry.
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

/// The body of every error answer: `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

impl ErrorBody {
    /// A body with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}

/// The 202 answer of a quorum operation that waits for approvals: the request was opened (or
/// counted). Not a failure: run the same command again once enough administrators approved.
/// `error.code` is `AUTH-023`; `error.message` says what is missing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pending {
    /// Code `AUTH-023` and a sentence saying how many approvals are missing.
    pub error: ErrorDetail,
    /// Always `waiting` (the registry's word; answers before 2026-12 said `pending`).
    pub status: String,
    /// The approval request (`kmsctl approve ID`).
    pub request_id: i64,
    /// The operation waiting.
    pub operation: QuorumOperation,
    /// Its exact target.
    pub target: String,
    /// Administrators whose approval counts so far.
    pub approved_by: Vec<String>,
    /// Approvals needed.
    pub needed: i64,
}

/// What a [`crate::KmsClient`] call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server could not be reached, or the connection failed (DNS, TCP, TLS, timeout).
    #[error("cannot reach the server at {url}: {message}")]
    Transport {
        /// The base URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The server answered with an error body.
    #[error("{message} [{code}]")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error's stable code (`AUTH-005`, ...).
        code: String,
        /// The server's message.
        message: String,
    },
    /// A quorum operation is waiting for approvals (HTTP 202): not carried out yet.
    #[error("{}", .0.error.message)]
    Pending(Box<Pending>),
    /// The answer could not be decoded (not the JSON this build expects, or too large).
    #[error("the server's answer to {what} could not be read: {message}")]
    Decode {
        /// The route asked.
        what: String,
        /// Why.
        message: String,
    },
    /// The client was set up wrongly (a bad URL, an unreadable CA certificate).
    #[error("{0}")]
    Config(String),
}

impl ClientError {
    /// A stable code: the server's code for API errors and pending approvals, `API-001`
    /// transport, `API-002` undecodable answer, `API-003` client configuration.
    pub fn code(&self) -> &str {
        match self {
            ClientError::Transport { .. } => "API-001",
            ClientError::Api { code, .. } => code,
            ClientError::Pending(p) => &p.error.code,
            ClientError::Decode { .. } => "API-002",
            ClientError::Config(_) => "API-003",
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            ClientError::Pending(_) => Some(202),
            _ => None,
        }
    }
}
