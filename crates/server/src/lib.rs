//! `kmsd`: the authority's HTTP service. Routes, the locked/unlocked state, sessions by
//! bearer token, the public URLs (CA certificate, CRLs, health) and the CRL schedule. The
//! service logic is `authority`; this crate only translates HTTP.

#![forbid(unsafe_code)]

pub mod console;
mod error;
mod openapi;
pub mod ops_routes;
mod refusals;
pub mod settings;
pub mod tls;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authority::{Authority, Clock, Config, Published, RevokeTarget};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use escrow::{Credential, KeyFile, Password, Store};
use pki::crl::RevocationReason;
use serde::Deserialize;
use serde_json::{Value, json};

pub use error::ApiError;
pub use refusals::{Peer, UNAUTHENTICATED_PER_MINUTE as UNAUTHENTICATED_REFUSALS_PER_MINUTE};

/// Largest request body accepted (a CSR is a few KiB).
pub const MAX_BODY: usize = 64 * 1024;

/// Password derivations (sign-in, unlock) running at once; the rest wait their turn.
const KDF_CONCURRENCY: usize = 2;

enum Mode {
    Locked(Store),
    Unlocked(Arc<Authority>),
}

/// The service state: locked (only public URLs and unlock) or unlocked.
pub struct AppState {
    mode: Mutex<Mode>,
    /// Password checks (Argon2id, 64 MiB and more each) run at most this many at a time, so
    /// a flood of sign-in or unlock attempts cannot exhaust memory.
    kdf_permits: tokio::sync::Semaphore,
    locked_published: Mutex<Published>,
    config: Config,
    clock: Arc<dyn Clock>,
    /// The flood cap of refusals audited without a signed-in actor.
    refusals: refusals::Limiter,
}

impl AppState {
    /// A locked service over `store`.
    pub fn locked(store: Store, config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let published = authority::published(&store)?;
        Ok(AppState {
            mode: Mutex::new(Mode::Locked(store)),
            kdf_permits: tokio::sync::Semaphore::new(KDF_CONCURRENCY),
            locked_published: Mutex::new(published),
            config,
            clock,
            refusals: Default::default(),
        })
    }

    /// An unlocked service.
    pub fn unlocked(auth: Authority, config: Config, clock: Arc<dyn Clock>) -> Self {
        let published = auth.published();
        AppState {
            mode: Mutex::new(Mode::Unlocked(Arc::new(auth))),
            kdf_permits: tokio::sync::Semaphore::new(KDF_CONCURRENCY),
            locked_published: Mutex::new(published),
            config,
            clock,
            refusals: Default::default(),
        }
    }

    /// Records a refusal the authority never saw in the audit log, locked or not.
    fn audit_refusal(&self, actor: &str, action: &str, target: &str, detail: &str) {
        match &*self.mode.lock().unwrap_or_else(|p| p.into_inner()) {
            Mode::Unlocked(a) => a.audit_refusal(actor, action, target, detail),
            Mode::Locked(store) => {
                authority::audit_refusal(store, &*self.clock, actor, action, target, detail)
            }
        }
    }

    /// The authority, or 423 while locked.
    pub fn authority(&self) -> Result<Arc<Authority>, ApiError> {
        match &*self.mode.lock().unwrap_or_else(|p| p.into_inner()) {
            Mode::Unlocked(a) => Ok(a.clone()),
            Mode::Locked(_) => Err(ApiError::locked()),
        }
    }

    fn is_locked(&self) -> bool {
        self.authority().is_err()
    }

    fn published(&self) -> Published {
        match self.authority() {
            Ok(a) => a.published(),
            Err(_) => self
                .locked_published
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// Unlocks with `credential`; a wrong secret changes nothing.
    pub fn unlock(&self, credential: &Credential) -> Result<(), ApiError> {
        let mut mode = self.mode.lock().unwrap_or_else(|p| p.into_inner());
        let auth = match &*mode {
            Mode::Unlocked(_) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "KMS-409",
                    "the authority is unlocked already",
                ));
            }
            Mode::Locked(store) => {
                match authority::unlock(store, credential, self.config.clone(), self.clock.clone())
                {
                    Ok(a) => a,
                    Err(e) => {
                        let method = match credential {
                            Credential::Password(_) => "password",
                            _ => "key file",
                        };
                        authority::audit_refused_unlock(store, &*self.clock, method, &e);
                        return Err(e.into());
                    }
                }
            }
        };
        tracing::info!("authority unlocked");
        if let Ok(s) = auth.schedule_view() {
            tracing::info!("{}", ops_routes::describe_schedule(&s));
        }
        *mode = Mode::Unlocked(Arc::new(auth));
        Ok(())
    }

    /// Re-signs the CRLs when due, takes scheduled backups and writes the summary of
    /// suppressed refusals (called on a schedule).
    pub fn tick(&self) {
        refusals::flush(self);
        if let Ok(a) = self.authority() {
            if let Err(e) = a.refresh_crl_if_due() {
                tracing::error!(error = %e, "scheduled CRL refresh failed");
            }
            match a.backup_if_due() {
                Ok(Some(b)) => tracing::info!(path = %b.path, "scheduled backup taken"),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "scheduled backup failed"),
            }
        }
    }
}

/// Runs blocking authority work (Argon2, RSA, SQLite) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// JSON body extractor whose rejections are our JSON errors.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => {
                let status = rejection.status();
                let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "KMS-413"
                } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                    "KMS-415"
                } else {
                    "KMS-400"
                };
                let status = if status.is_client_error() {
                    status
                } else {
                    StatusCode::BAD_REQUEST
                };
                Err(ApiError::new(status, code, rejection.body_text()))
            }
        }
    }
}

/// A signed-in administrator (from `Authorization: Bearer <session>`), with the authority.
pub struct AdminAuth {
    auth: Arc<Authority>,
    admin: authority::Admin,
    token: String,
}

fn bearer(parts: &Parts) -> Option<String> {
    bearer_header(&parts.headers)
}

fn bearer_header(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

impl FromRequestParts<Arc<AppState>> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let auth = state.authority()?;
        let token = bearer(parts).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "AUTH-003",
                "not signed in: send Authorization: Bearer <session token> (kmsctl login)",
            )
        })?;
        let (a, t) = (auth.clone(), token.clone());
        // An administrator who must change the initial password may do only that (or sign out).
        let path = parts.uri.path();
        let own_password = path.ends_with("/admins/me/password") || path.ends_with("/logout");
        let admin = blocking(move || {
            Ok(if own_password {
                a.authenticate_for_password_change(&t)?
            } else {
                a.authenticate(&t)?
            })
        })
        .await?;
        Ok(AdminAuth { auth, admin, token })
    }
}

/// The public routes (also served alone on the plain-HTTP public listener).
pub fn public_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ca", get(ca_pem))
        .route("/ca.der", get(ca_der))
        .route("/crl", get(crl))
        .route("/crl/delta", get(delta_crl))
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// Every route: the public ones, the API and the console, as served over plain HTTP
/// (console cookies without `Secure`).
pub fn router(state: Arc<AppState>) -> Router {
    router_with(state, false)
}

/// Every route; `https` says whether the listener speaks TLS (console cookies `Secure`).
pub fn router_with(state: Arc<AppState>, https: bool) -> Router {
    let api = Router::new()
        .route("/unlock", post(unlock))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/admins", post(add_admin).get(list_admins))
        .route("/admins/{name}/remove", post(remove_admin))
        .route("/admins/me/password", post(change_own_password))
        .route("/admins/{name}/role", post(set_role))
        .route("/status", get(status))
        .route("/certificates", get(search_certificates))
        .route("/certificates/{serial}", get(show_certificate))
        .route("/certificates/{serial}/der", get(certificate_der))
        .route("/policies", get(list_policies))
        .route("/policies/{operation}", post(set_policy))
        .route("/approvals", get(list_approvals))
        .route("/approvals/{id}/approve", post(approve))
        .route("/approvals/{id}/cancel", post(cancel_approval))
        .route("/users/{email}/recover", post(recover_key))
        .route(
            "/unlock-methods",
            post(add_unlock_method).get(list_unlock_methods),
        )
        .route("/unlock-methods/{id}/remove", post(remove_unlock_method))
        .route("/backups", post(backup_now).get(list_backups))
        .route("/backups/verify", post(verify_backup))
        .route(
            "/backups/schedule",
            get(ops_routes::backup_schedule).post(ops_routes::set_backup_schedule),
        )
        .route("/backups/{name}/restore", post(restore_backup))
        .route("/audit", get(audit_list))
        .route("/audit/verify", get(audit_verify))
        .route("/audit/sign", post(audit_sign))
        .route("/users", post(add_user).get(list_users))
        .route("/users/{email}", get(show_user))
        .route("/users/{email}/disable", post(disable_user))
        .route("/users/{email}/token", post(new_token))
        .route("/enroll", post(enroll))
        .route("/directory/{email}", get(ops_routes::directory))
        .route("/revoke", post(revoke))
        .route("/renew", post(ops_routes::renew))
        .route("/ca", get(ca_pem))
        .route("/crl", get(crl))
        .route("/crl/delta", get(delta_crl))
        .route("/openapi.json", get(openapi_json))
        .fallback(api_not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            refusals::audit_refusals,
        ))
        .with_state(state.clone());
    public_router(state.clone())
        .nest("/api/v1", api)
        .merge(
            console::router(state.clone(), https).layer(axum::middleware::from_fn_with_state(
                state,
                refusals::audit_refusals,
            )),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

async fn openapi_json() -> Json<Value> {
    Json(openapi::document())
}

async fn api_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "KMS-404", "no such API route")
}

// ------------------------------------------------------------------------------------------
// Public.

async fn ca_pem(State(s): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let pem = s.published().ca_pem().map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

async fn ca_der(State(s): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/pkix-cert")],
        s.published().ca_der,
    )
        .into_response()
}

async fn crl(State(s): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/pkix-crl")],
        s.published().crl_der,
    )
        .into_response()
}

async fn delta_crl(State(s): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/pkix-crl")],
        s.published().delta_crl_der,
    )
        .into_response()
}

async fn healthz(State(s): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "status": "ok", "locked": s.is_locked() }))
}

// ------------------------------------------------------------------------------------------
// Unlock and sessions.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnlockRequest {
    password: Option<String>,
    /// The key file's content, base64 (standard alphabet).
    key_file: Option<String>,
}

async fn unlock(
    State(s): State<Arc<AppState>>,
    ApiJson(req): ApiJson<UnlockRequest>,
) -> Result<Json<Value>, ApiError> {
    let credential = match (req.password, req.key_file) {
        (Some(p), None) => Credential::Password(Password::new(p)),
        (None, Some(k)) => {
            let bytes = zeroize::Zeroizing::new(
                <base64ct::Base64 as base64ct::Encoding>::decode_vec(k.trim())
                    .map_err(|_| ApiError::bad_request("key_file is not base64"))?,
            );
            Credential::KeyFile(
                KeyFile::from_bytes(&bytes, "uploaded key file")
                    .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?,
            )
        }
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of \"password\" or \"key_file\"",
            ));
        }
    };
    let _permit = s.kdf_permits.acquire().await.map_err(ApiError::internal)?;
    let state = s.clone();
    blocking(move || state.unlock(&credential)).await?;
    Ok(Json(json!({ "status": "unlocked" })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    name: String,
    password: String,
}

async fn login(
    State(s): State<Arc<AppState>>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<Value>, ApiError> {
    let auth = s.authority()?;
    let _permit = s.kdf_permits.acquire().await.map_err(ApiError::internal)?;
    let session =
        blocking(move || Ok(auth.login(&req.name, &Password::new(req.password))?)).await?;
    Ok(Json(json!({
        "token": session.token.expose(),
        "expires_at": session.expires_at,
        "admin": session.admin,
    })))
}

async fn logout(a: AdminAuth) -> Result<Json<Value>, ApiError> {
    blocking(move || Ok(a.auth.logout(&a.token)?)).await?;
    Ok(Json(json!({ "status": "signed out" })))
}

// ------------------------------------------------------------------------------------------
// Administrators.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddAdminRequest {
    name: String,
    role: String,
    password: String,
}

async fn add_admin(
    a: AdminAuth,
    ApiJson(req): ApiJson<AddAdminRequest>,
) -> Result<Json<Value>, ApiError> {
    let role: authority::Role = req.role.parse()?;
    let password = Password::new(req.password);
    let admin =
        blocking(move || Ok(a.auth.add_admin(&a.admin, &req.name, role, &password)?)).await?;
    Ok(Json(json!({ "admin": admin })))
}

async fn list_admins(a: AdminAuth) -> Result<Json<Value>, ApiError> {
    let admins = blocking(move || Ok(a.auth.list_admins(&a.admin)?)).await?;
    Ok(Json(json!({ "admins": admins })))
}

async fn remove_admin(a: AdminAuth, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let admin = blocking(move || Ok(a.auth.remove_admin(&a.admin, &name)?)).await?;
    Ok(Json(json!({ "removed": admin })))
}

// ------------------------------------------------------------------------------------------
// Quorum policies, approvals, key recovery.

async fn list_policies(a: AdminAuth) -> Result<Json<Value>, ApiError> {
    let p = blocking(move || Ok(a.auth.policies(&a.admin)?)).await?;
    Ok(Json(json!({ "policies": p })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPolicyRequest {
    quorum: i64,
}

async fn set_policy(
    a: AdminAuth,
    Path(operation): Path<String>,
    ApiJson(req): ApiJson<SetPolicyRequest>,
) -> Result<Json<Value>, ApiError> {
    let p = blocking(move || Ok(a.auth.set_policy(&a.admin, &operation, req.quorum)?)).await?;
    Ok(Json(json!({ "policy": p.policy, "raised": p.raised })))
}

async fn list_approvals(a: AdminAuth) -> Result<Json<Value>, ApiError> {
    let r = blocking(move || Ok(a.auth.approvals(&a.admin)?)).await?;
    Ok(Json(json!({ "requests": r })))
}

fn request_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("request id {id:?} is not a number")))
}

async fn approve(a: AdminAuth, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = request_id(&id)?;
    let r = blocking(move || Ok(a.auth.approve(&a.admin, id)?)).await?;
    Ok(Json(json!({ "request": r })))
}

async fn cancel_approval(a: AdminAuth, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = request_id(&id)?;
    let r = blocking(move || Ok(a.auth.cancel_approval(&a.admin, id)?)).await?;
    Ok(Json(json!({ "request": r })))
}

/// The bundle password travels in the body (HTTPS in production) and is never logged.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoverRequest {
    password: String,
    #[serde(default)]
    reenroll: bool,
    /// Why (optional; shown to the approvers, kept in the audit log).
    #[serde(default)]
    why: Option<String>,
}

async fn recover_key(
    a: AdminAuth,
    Path(email): Path<String>,
    ApiJson(req): ApiJson<RecoverRequest>,
) -> Result<Json<Value>, ApiError> {
    let password = Password::new(req.password);
    let (reenroll, why) = (req.reenroll, req.why);
    let r = blocking(move || {
        Ok(a.auth
            .recover_key(&a.admin, &email, &password, reenroll, why.as_deref())?)
    })
    .await?;
    let mut body = json!({
        "pkcs12": <base64ct::Base64 as base64ct::Encoding>::encode_string(&r.pkcs12),
        "keys": r.keys,
    });
    if let Some(t) = &r.token {
        body["enrollment_token"] = json!(t.token.expose());
        body["token_expires_at"] = json!(t.expires_at);
    }
    Ok(Json(body))
}

// ------------------------------------------------------------------------------------------
// Start-up secrets.

async fn list_unlock_methods(a: AdminAuth) -> Result<Json<Value>, ApiError> {
    let m = blocking(move || Ok(a.auth.unlock_methods(&a.admin)?)).await?;
    Ok(Json(json!({ "methods": m })))
}

/// Exactly one of `password` (a new start-up password) or `key_file: true` (a new key file,
/// returned base64 in the answer: the caller stores it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddUnlockMethodRequest {
    password: Option<String>,
    #[serde(default)]
    key_file: bool,
}

async fn add_unlock_method(
    a: AdminAuth,
    peer: Result<axum::extract::ConnectInfo<Peer>, axum::extract::rejection::ExtensionRejection>,
    ApiJson(req): ApiJson<AddUnlockMethodRequest>,
) -> Result<Json<Value>, ApiError> {
    let password = match (req.password, req.key_file) {
        (Some(p), false) => Some(Password::new(p)),
        (None, true) => {
            // The new key file is the secret itself and travels in the answer: only over
            // HTTPS, or plain HTTP from this machine.
            let safe = peer.is_ok_and(|p| p.0.tls || p.0.addr.ip().is_loopback());
            if !safe {
                return Err(ApiError::new(
                    StatusCode::UPGRADE_REQUIRED,
                    "KMS-426",
                    "a new key file is sent only over HTTPS or to a client on this machine: \
                     connect over HTTPS (kmsctl --server https://...)",
                ));
            }
            None
        }
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of \"password\" or \"key_file\": true",
            ));
        }
    };
    let r = blocking(move || Ok(a.auth.add_unlock_method(&a.admin, password.as_ref())?)).await?;
    let mut body = json!({ "method": r.method });
    if let Some(k) = &r.key_file {
        body["key_file"] = json!(<base64ct::Base64 as base64ct::Encoding>::encode_string(k));
    }
    Ok(Json(body))
}

async fn remove_unlock_method(
    a: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = request_id(&id)?;
    blocking(move || Ok(a.auth.remove_unlock_method(&a.admin, id)?)).await?;
    Ok(Json(json!({ "removed": id })))
}

// ------------------------------------------------------------------------------------------
// Backups.

async fn backup_now(a: AdminAuth) -> Result<Json<Value>, ApiError> {
    let b = blocking(move || Ok(a.auth.backup_now(Some(&a.admin))?)).await?;
    Ok(Json(json!({ "backup": b, "path": b.path })))
}

async fn list_backups(a: AdminAuth) -> Result<Json<Value>, ApiError> {
    let b = blocking(move || Ok(a.auth.backups(&a.admin)?)).await?;
    Ok(Json(json!({ "backups": b })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBackupRequest {
    name: String,
}

async fn verify_backup(
    a: AdminAuth,
    ApiJson(req): ApiJson<VerifyBackupRequest>,
) -> Result<Json<Value>, ApiError> {
    let r = blocking(move || Ok(a.auth.verify_backup(&a.admin, &req.name)?)).await?;
    Ok(Json(json!(r)))
}

/// Restores a backup over the live store (under the `restore` quorum); every session ends.
async fn restore_backup(a: AdminAuth, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let r = blocking(move || Ok(a.auth.restore_backup(&a.admin, &name)?)).await?;
    Ok(Json(json!(r)))
}

// ------------------------------------------------------------------------------------------
// The audit log.

/// `since` alone (or nothing) lists oldest first, as before; any other filter searches, newest
/// first and paged, with a total.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    since: Option<i64>,
    until: Option<i64>,
    actor: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn audit_list(
    a: AdminAuth,
    q: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let axum::extract::Query(q) = q.map_err(query_error)?;
    let search = q.until.is_some()
        || q.actor.is_some()
        || q.action.is_some()
        || q.outcome.is_some()
        || q.limit.is_some()
        || q.offset.is_some();
    if !search {
        let entries = blocking(move || Ok(a.auth.audit_list(&a.admin, q.since)?)).await?;
        return Ok(Json(json!({ "entries": entries })));
    }
    let query = authority::AuditQuery {
        actor: q.actor,
        action: q.action,
        outcome: q.outcome,
        since: q.since,
        until: q.until,
        limit: q.limit,
        offset: q.offset,
    };
    let page = blocking(move || Ok(a.auth.audit_search(&a.admin, &query)?)).await?;
    Ok(Json(json!({
        "total": page.total, "offset": page.offset, "limit": page.limit, "entries": page.items,
    })))
}

async fn audit_verify(a: AdminAuth) -> Result<Json<Value>, ApiError> {
    let report = blocking(move || Ok(a.auth.audit_verify(&a.admin)?)).await?;
    Ok(Json(json!(report)))
}

async fn audit_sign(a: AdminAuth) -> Result<Json<Value>, ApiError> {
    let seq = blocking(move || Ok(a.auth.audit_sign(&a.admin)?)).await?;
    Ok(Json(json!({ "signed_through": seq })))
}

// ------------------------------------------------------------------------------------------
// Users and tokens.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddUserRequest {
    email: String,
    name: String,
    #[serde(default)]
    capabilities: Vec<String>,
}

async fn add_user(
    a: AdminAuth,
    ApiJson(req): ApiJson<AddUserRequest>,
) -> Result<Json<Value>, ApiError> {
    let caps = if req.capabilities.is_empty() {
        Vec::new()
    } else {
        pki::ContentAlgorithm::parse_list(&req.capabilities.join(","))
            .map_err(|e| ApiError::bad_request(format!("capabilities: {e}")))?
    };
    let (user, token) =
        blocking(move || Ok(a.auth.add_user(&a.admin, &req.email, &req.name, &caps)?)).await?;
    Ok(Json(json!({
        "user": user,
        "enrollment_token": token.token.expose(),
        "token_expires_at": token.expires_at,
    })))
}

/// `GET /users` without parameters lists every user; with any of them it searches (paged).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UserListQuery {
    q: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list_users(
    a: AdminAuth,
    q: Result<axum::extract::Query<UserListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let axum::extract::Query(q) = q.map_err(query_error)?;
    let plain = q.q.is_none()
        && q.status.is_none()
        && q.sort.is_none()
        && q.dir.is_none()
        && q.limit.is_none()
        && q.offset.is_none();
    if plain {
        let users = blocking(move || Ok(a.auth.list_users(&a.admin)?)).await?;
        return Ok(Json(json!({ "total": users.len(), "users": users })));
    }
    let query = authority::UserQuery {
        text: q.q,
        status: q.status,
        sort: q.sort,
        direction: direction(q.dir.as_deref())?,
        limit: q.limit,
        offset: q.offset,
    };
    let page = blocking(move || Ok(a.auth.search_users(&a.admin, &query)?)).await?;
    Ok(Json(json!({
        "total": page.total, "offset": page.offset, "limit": page.limit, "users": page.items,
    })))
}

async fn show_user(a: AdminAuth, Path(email): Path<String>) -> Result<Json<Value>, ApiError> {
    let user = blocking(move || Ok(a.auth.user(&a.admin, &email)?)).await?;
    Ok(Json(json!(user)))
}

async fn disable_user(a: AdminAuth, Path(email): Path<String>) -> Result<Json<Value>, ApiError> {
    let user = blocking(move || Ok(a.auth.disable_user(&a.admin, &email)?)).await?;
    Ok(Json(json!({ "user": user })))
}

async fn new_token(a: AdminAuth, Path(email): Path<String>) -> Result<Json<Value>, ApiError> {
    let token = blocking(move || Ok(a.auth.new_token(&a.admin, &email)?)).await?;
    Ok(Json(json!({
        "enrollment_token": token.token.expose(),
        "token_expires_at": token.expires_at,
    })))
}

// ------------------------------------------------------------------------------------------
// Enrollment and the directory.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollRequest {
    token: String,
    /// The signing key's PKCS#10 request, PEM.
    csr: String,
}

async fn enroll(
    State(s): State<Arc<AppState>>,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> Result<Json<Value>, ApiError> {
    let auth = s.authority()?;
    let e = blocking(move || Ok(auth.enroll(&req.token, req.csr.as_bytes())?)).await?;
    Ok(Json(json!({
        "signing_certificate": cert_pem(&e.signing_cert)?,
        "encryption_certificate": cert_pem(&e.encryption_cert)?,
        "ca_certificate": cert_pem(&e.ca_cert)?,
        "encrypted_key": pem_rfc7468::encode_string("ENCRYPTED PRIVATE KEY", pem_rfc7468::LineEnding::LF, &e.encrypted_key)
            .map_err(ApiError::internal)?,
    })))
}

fn cert_pem(der: &[u8]) -> Result<String, ApiError> {
    let cert = pki::certificate::parse_certificate(der).map_err(ApiError::internal)?;
    pki::certificate::to_pem(&cert).map_err(ApiError::internal)
}

// ------------------------------------------------------------------------------------------
// Revocation and renewal.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    email: Option<String>,
    serial: Option<String>,
    reason: Option<String>,
}

async fn revoke(
    a: AdminAuth,
    ApiJson(req): ApiJson<RevokeRequest>,
) -> Result<Json<Value>, ApiError> {
    let reason = match req.reason.as_deref() {
        None => RevocationReason::Unspecified,
        Some(r) => r
            .parse()
            .map_err(|e| ApiError::bad_request(format!("reason: {e}")))?,
    };
    let target = match (req.email, req.serial) {
        (Some(e), None) => RevokeTarget::User(e),
        (None, Some(s)) => RevokeTarget::Serial(s),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of \"email\" or \"serial\"",
            ));
        }
    };
    let serials = blocking(move || Ok(a.auth.revoke(&a.admin, &target, reason)?)).await?;
    Ok(Json(json!({ "revoked": serials, "reason": reason.name() })))
}

// ------------------------------------------------------------------------------------------
// Views: status, certificates; administrators' self-service.

fn query_error(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::bad_request(format!("query: {}", e.body_text()))
}

fn direction(dir: Option<&str>) -> Result<Option<authority::Direction>, ApiError> {
    Ok(dir.map(str::parse).transpose()?)
}

async fn status(a: AdminAuth) -> Result<Json<Value>, ApiError> {
    let s = blocking(move || Ok(a.auth.status(&a.admin)?)).await?;
    Ok(Json(json!(s)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CertListQuery {
    serial: Option<String>,
    email: Option<String>,
    status: Option<String>,
    kind: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn search_certificates(
    a: AdminAuth,
    q: Result<axum::extract::Query<CertListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let axum::extract::Query(q) = q.map_err(query_error)?;
    let query = authority::CertQuery {
        serial: q.serial,
        email: q.email,
        status: q.status,
        kind: q.kind,
        sort: q.sort,
        direction: direction(q.dir.as_deref())?,
        limit: q.limit,
        offset: q.offset,
    };
    let page = blocking(move || Ok(a.auth.certificates(&a.admin, &query)?)).await?;
    Ok(Json(json!({
        "total": page.total, "offset": page.offset, "limit": page.limit,
        "certificates": page.items,
    })))
}

async fn show_certificate(
    a: AdminAuth,
    Path(serial): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let d = blocking(move || Ok(a.auth.certificate(&a.admin, &serial)?)).await?;
    let mut v = json!(d);
    v["pem"] = json!(cert_pem(&d.der)?);
    Ok(Json(v))
}

async fn certificate_der(a: AdminAuth, Path(serial): Path<String>) -> Result<Response, ApiError> {
    let d = blocking(move || Ok(a.auth.certificate(&a.admin, &serial)?)).await?;
    let disposition = format!("attachment; filename=\"{}.cer\"", d.summary.serial);
    Ok((
        [
            (header::CONTENT_TYPE, "application/pkix-cert".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        d.der,
    )
        .into_response())
}

/// Both passwords travel in the body (HTTPS in production) and are never logged.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePasswordRequest {
    current: String,
    new: String,
}

async fn change_own_password(
    State(s): State<Arc<AppState>>,
    a: AdminAuth,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> Result<Json<Value>, ApiError> {
    let (current, new) = (Password::new(req.current), Password::new(req.new));
    let _permit = s.kdf_permits.acquire().await.map_err(ApiError::internal)?;
    blocking(move || {
        Ok(a.auth
            .change_own_password(&a.admin, &current, &new, Some(&a.token))?)
    })
    .await?;
    Ok(Json(
        json!({ "status": "password changed; other sessions ended" }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRoleRequest {
    role: String,
}

async fn set_role(
    a: AdminAuth,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<SetRoleRequest>,
) -> Result<Json<Value>, ApiError> {
    let role: authority::Role = req.role.parse()?;
    let admin = blocking(move || Ok(a.auth.set_role(&a.admin, &name, role)?)).await?;
    Ok(Json(json!({ "admin": admin })))
}

/// Where the server keeps its data and how it starts.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Data directory.
    pub data_dir: PathBuf,
}

/// Spawns the CRL schedule: checks every `every` whether the CRLs need re-signing.
pub fn spawn_crl_schedule(state: Arc<AppState>, every: Duration) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        loop {
            interval.tick().await;
            let s = state.clone();
            let _ = tokio::task::spawn_blocking(move || s.tick()).await;
        }
    });
}
