//! The server's one error type: maps authority errors to HTTP status codes, once.
//!
//! 4xx bodies say what was wrong (`{"error": {"code", "message"}}`, [`api::ErrorBody`]); 5xx
//! bodies are generic and the detail goes to the log, except storage faults: 507 for a full
//! disk, 503 for a read-only file system, a locked database, a damaged store or an I/O error,
//! each with its own code (`AUTH-060`..`AUTH-064`) and a message for the operator, and 503
//! `AUTH-150` when the CA key's token cannot sign (its `HSM-0xx` code in the message). A quorum operation waiting for
//! approvals answers 202 with [`api::Pending`].

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// A pending approval: the 202 body's fields beside `error`.
    pending: Option<Box<api::Pending>>,
    /// The authority's operation audited this refusal itself.
    audited: bool,
    /// Seconds for a `Retry-After` header.
    retry_after: Option<u64>,
    /// The storage fault the call failed on, for `/healthz`.
    fault: Option<escrow::StorageFault>,
}

/// Set on the response of a 4xx refusal the authority never saw (no session, a malformed
/// request, the authority locked, ...), for the API's audit layer to record.
#[derive(Clone, Debug)]
pub(crate) struct UnauditedRefusal {
    /// The error code.
    pub code: &'static str,
    /// The message sent.
    pub message: String,
}

impl ApiError {
    /// A 4xx error with a code and a message for the client.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            pending: None,
            audited: false,
            retry_after: None,
            fault: None,
        }
    }

    /// 400 with `KMS-400`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "KMS-400", message)
    }

    /// 428 with `KMS-428`: a destructive call without `"confirm": true`.
    pub fn confirmation_required(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_REQUIRED, "KMS-428", message)
    }

    /// 429 with `KMS-429` and a `Retry-After` of `retry_after` seconds.
    pub fn too_many_requests(message: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "KMS-429", message);
        e.retry_after = Some(retry_after.max(1));
        e
    }

    /// The authority is locked.
    pub fn locked() -> Self {
        Self::new(
            StatusCode::LOCKED,
            "KMS-423",
            "the authority is locked: unlock it first (POST /api/v1/unlock, or kmsctl unlock)",
        )
    }

    /// 503 `KMS-503`: no CRL has been published yet (a store upgraded to CRL files and not
    /// unlocked since, or its CRL file lost: the next unlock re-signs it). Never an empty 200,
    /// which relying parties would take for a broken CRL.
    pub fn no_crl_yet() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "KMS-503",
            "no CRL is published yet: it is signed when the authority is unlocked",
        );
        e.retry_after = Some(60);
        e
    }

    /// A 500 whose detail is logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "KMS-500",
            "internal error (see the server log)",
        )
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code sent (`KMS-…`, `AUTH-…`).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message sent.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<authority::Error> for ApiError {
    fn from(e: authority::Error) -> Self {
        use authority::Error as E;
        if let E::ApprovalPending {
            request_id,
            operation,
            target,
            approved_by,
            needed,
        } = &e
        {
            // Not a failure: the request was opened or counted. 202 with the details.
            let mut err = ApiError::new(StatusCode::ACCEPTED, e.code(), e.to_string());
            err.pending = Some(Box::new(api::Pending {
                error: api::ErrorDetail {
                    code: e.code().to_string(),
                    message: err.message.clone(),
                },
                status: "waiting".into(),
                request_id: *request_id,
                operation: api::QuorumOperation::parse(operation),
                target: target.clone(),
                approved_by: approved_by.clone(),
                needed: *needed,
            }));
            err.audited = true;
            return err;
        }
        if let E::AgentSharesPending {
            request_id,
            target,
            released_by,
            needed,
        } = &e
        {
            // Not a failure either: the agent request waits for more agents' shares.
            let mut err = ApiError::new(StatusCode::ACCEPTED, e.code(), e.to_string());
            err.pending = Some(Box::new(api::Pending {
                error: api::ErrorDetail {
                    code: e.code().to_string(),
                    message: err.message.clone(),
                },
                status: "waiting".into(),
                request_id: *request_id,
                // A re-share's target is `*` (every key needing new shares).
                operation: api::QuorumOperation::parse(if target == "*" {
                    "agent-change"
                } else {
                    "recover-key"
                }),
                target: target.clone(),
                approved_by: released_by.clone(),
                needed: *needed,
            }));
            err.audited = true;
            return err;
        }
        if let Some(fault) = e.storage_fault() {
            // 507 for a full disk, 503 for the rest: the code and an operator's message (no
            // path, no SQL; SQLite's own text goes to the log).
            tracing::error!(error = ?e, code = e.code(), "storage fault");
            let status = if fault == escrow::StorageFault::Full {
                StatusCode::INSUFFICIENT_STORAGE
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let mut err = ApiError::new(status, e.code(), e.to_string());
            err.fault = Some(fault);
            return err;
        }
        let status = match &e {
            E::BadCredentials | E::NotSignedIn => StatusCode::UNAUTHORIZED,
            E::AccountLocked { .. } | E::SignInThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
            E::Forbidden { .. }
            | E::PasswordChangeRequired { .. }
            | E::TokenRefused { .. }
            | E::BadSecret
            | E::UserDisabled { .. } => StatusCode::FORBIDDEN,
            E::UnknownUser { .. }
            | E::UnknownCertificate { .. }
            | E::NotEnrolled { .. }
            | E::UnknownAdmin { .. }
            | E::UnknownRequest { .. }
            | E::UnknownAgent { .. } => StatusCode::NOT_FOUND,
            E::UserExists { .. }
            | E::NothingToRevoke(_)
            | E::AlreadyInitialised(_)
            | E::AdminExists { .. }
            | E::LastAdministrator { .. }
            | E::ApprovalRefused(_)
            | E::AgentRefused(_)
            | E::AgentKeysAtRisk { .. }
            | E::ReshareStale { .. }
            | E::TooFewApprovers { .. }
            | E::Escrow(escrow::Error::LastUnlockMethod) => StatusCode::CONFLICT,
            E::Invalid { .. } => StatusCode::BAD_REQUEST,
            E::TooManyEntries { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            // The store lacks committed work, or its audit anchor is invalid: cannot serve.
            E::AnchorRollback(_) | E::AnchorInvalid(_) => StatusCode::SERVICE_UNAVAILABLE,
            // The CA key's token is gone or failing (its HSM code is in the message); the
            // public URLs keep being served and /healthz says "no signer".
            E::SignerUnavailable(_) | E::CaKeyMismatch(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::RequestRefused(_)
            | E::ProfileRefused { .. }
            | E::QuorumBelowFloor { .. }
            | E::WeakPassword { .. }
            | E::Escrow(escrow::Error::BackupInvalid { .. })
            | E::Escrow(escrow::Error::BackupTooCostly { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => return ApiError::internal(format!("[{}] {e}", e.code())),
        };
        let mut err = ApiError::new(status, e.code(), e.to_string());
        // The authority audits the refusals of its operations; a missing or expired session
        // is found by `authenticate`, before any operation, and a throttled sign-in before
        // the sign-in (the refusal layer's cap records those).
        err.audited = !matches!(e, E::NotSignedIn | E::SignInThrottled { .. });
        if let E::SignInThrottled { retry_after } = &e {
            err.retry_after = Some(*retry_after);
        }
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = match self.pending {
            Some(pending) => (self.status, Json(*pending)).into_response(),
            None => (
                self.status,
                Json(api::ErrorBody::new(self.code, self.message.clone())),
            )
                .into_response(),
        };
        if let Some(fault) = self.fault {
            response
                .extensions_mut()
                .insert(crate::health::StorageFaultSeen(fault));
        }
        if let Some(s) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        if !self.audited && self.status.is_client_error() {
            response.extensions_mut().insert(UnauditedRefusal {
                code: self.code,
                message: self.message,
            });
        }
        response
    }
}
