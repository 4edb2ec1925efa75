//! `kmsd`: the authority's HTTP service. Routes, the locked/unlocked state, sessions by
//! bearer token, the public URLs (CA certificate, CRLs, health) and the CRL schedule. The
//! service logic is `authority`; this crate only translates HTTP.

#![forbid(unsafe_code)]

mod agents;
pub mod client_addr;
pub mod console;
mod error;
pub mod health;
pub mod limits;
mod ocsp;
mod openapi;
mod refusals;
pub mod schedule_log;
pub mod settings;
mod signin;
pub mod tls;
mod wire;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authority::{Authority, Clock, Config, Published, RevokeTarget};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use escrow::{Credential, KeyFile, Password, Store};
use pki::crl::RevocationReason;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::ApiError;
pub use refusals::{Peer, UNAUTHENTICATED_PER_MINUTE as UNAUTHENTICATED_REFUSALS_PER_MINUTE};

/// Largest request body accepted (a CSR is a few KiB).
pub const MAX_BODY: usize = 64 * 1024;

/// Largest request body of `POST /api/v1/revocations/bulk` (100 000 entries of up to 160
/// bytes).
pub const MAX_BULK_BODY: usize = 16 * 1024 * 1024;

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
    /// Sign-in password checks, one at a time per client address.
    signin_slots: signin::Slots,
    /// Peers whose `X-Forwarded-For` names the client (see [`client_addr`]).
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Wrong start-up secrets per client address.
    unlock_throttle: limits::UnlockThrottle,
    /// The `Host` names the API and console answer to (beside loopback and `localhost`).
    allowed_hosts: limits::AllowedHosts,
    /// Storage faults met and the background integrity check, for `/healthz`.
    health: health::Monitor,
    /// Fresh OCSP signatures (nonce requests) per client address and in all.
    ocsp_fresh: limits::OcspFreshLimiter,
    /// The public URL's host as last read from the authority (see
    /// [`AppState::public_host_allows`]).
    public_host: limits::PublicHost,
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
            signin_slots: Default::default(),
            trusted_proxies: Vec::new(),
            unlock_throttle: Default::default(),
            allowed_hosts: Default::default(),
            health: Default::default(),
            ocsp_fresh: Default::default(),
            public_host: Default::default(),
        })
    }

    /// An unlocked service.
    pub fn unlocked(auth: Authority, config: Config, clock: Arc<dyn Clock>) -> Self {
        let published = auth.published();
        let auth = Arc::new(auth);
        auth.spawn_checks(config.health_check_every);
        AppState {
            mode: Mutex::new(Mode::Unlocked(auth)),
            kdf_permits: tokio::sync::Semaphore::new(KDF_CONCURRENCY),
            locked_published: Mutex::new(published),
            config,
            clock,
            refusals: Default::default(),
            signin_slots: Default::default(),
            trusted_proxies: Vec::new(),
            unlock_throttle: Default::default(),
            allowed_hosts: Default::default(),
            health: Default::default(),
            ocsp_fresh: Default::default(),
            public_host: Default::default(),
        }
    }

    /// The peers whose `X-Forwarded-For` header names the client (`trusted_proxies` in
    /// `kmsd.toml`; none by default).
    pub fn with_trusted_proxies(mut self, proxies: Vec<std::net::IpAddr>) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// The `Host` names the API and console answer to, beside loopback addresses and
    /// `localhost` (always allowed; by default the only ones).
    pub fn with_allowed_hosts(mut self, hosts: limits::AllowedHosts) -> Self {
        self.allowed_hosts = hosts;
        self
    }

    /// The OCSP responder's limits on fresh signatures (requests with a nonce): `per_second`
    /// and `burst` per client address, `global_per_second` and `global_burst` in all
    /// (defaults: [`limits::OCSP_FRESH_PER_SECOND`] and the other `OCSP_FRESH_*`).
    pub fn with_ocsp_fresh_limits(
        mut self,
        per_second: f64,
        burst: f64,
        global_per_second: f64,
        global_burst: f64,
    ) -> Self {
        self.ocsp_fresh =
            limits::OcspFreshLimiter::new(per_second, burst, global_per_second, global_burst);
        self
    }

    /// The storage faults and integrity check `/healthz` reports.
    pub fn health_monitor(&self) -> &health::Monitor {
        &self.health
    }

    /// `/healthz`: every reason gathered here (storage faults, the integrity check, the
    /// authority's own [`Authority::health`]). 503 `unavailable` when it cannot serve at all,
    /// 200 `degraded` with reasons, 200 `ok`.
    pub fn health(&self) -> (StatusCode, api::Health) {
        let (mut unavailable, mut degraded) = self.health.reasons();
        let locked = match self.authority() {
            Ok(a) => {
                unavailable.extend(a.unavailable());
                degraded.extend(a.health());
                false
            }
            Err(_) => true,
        };
        let (code, status, reasons) = if !unavailable.is_empty() {
            // One cause once: while the database is unreachable the storage fault of the
            // last call and the CRL state repeat the unavailable reason's sentence.
            let repeats = |d: &String| unavailable.iter().any(|u| d.contains(u.as_str()));
            let degraded: Vec<String> = degraded.into_iter().filter(|d| !repeats(d)).collect();
            let mut reasons = unavailable;
            reasons.extend(degraded);
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable", reasons)
        } else if !degraded.is_empty() {
            (StatusCode::OK, "degraded", degraded)
        } else {
            (StatusCode::OK, "ok", Vec::new())
        };
        (
            code,
            api::Health {
                status: status.into(),
                locked,
                reasons,
            },
        )
    }

    /// Records the storage fault behind a failure of a background task (scheduled CRL,
    /// scheduled backup), as [`health::track_storage`] does for API calls.
    fn note_failure(&self, e: &authority::Error) {
        if let Some(fault) = e.storage_fault() {
            self.health.storage_fault(fault);
        }
    }

    fn allowed_hosts(&self) -> &limits::AllowedHosts {
        &self.allowed_hosts
    }

    /// Whether `host_header` names the public URL's host as it is now (changed while
    /// serving by `settings public-url`): the names of [`AppState::with_allowed_hosts`] are
    /// fixed at start, this one follows the setting.
    fn public_host_allows(&self, host_header: &str) -> bool {
        if self.public_host.allows(host_header) {
            return true;
        }
        if !self.public_host.may_reread(std::time::Instant::now()) {
            return false;
        }
        let Ok(auth) = self.authority() else {
            return false;
        };
        match auth.public_url() {
            Ok(url) => self.public_host.set(&url),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the public URL for the Host check");
                return false;
            }
        }
        self.public_host.allows(host_header)
    }

    /// Unlocks for a client at `addr` (the API and the console): refused with 429 before any
    /// password derivation while the address must wait after wrong secrets; the refusal is
    /// audited under the address's flood cap.
    pub(crate) async fn unlock_from(
        self: &Arc<Self>,
        addr: std::net::IpAddr,
        credential: Credential,
    ) -> Result<(), ApiError> {
        let now = refusals::unix_now(&*self.clock);
        if let Err(wait) = self.unlock_throttle.check(addr, now) {
            return Err(limits::unlock_wait(wait));
        }
        let _permit = self
            .kdf_permits
            .acquire()
            .await
            .map_err(ApiError::internal)?;
        // Checked again: another attempt from the address may have failed while this one
        // waited for the permit.
        let now = refusals::unix_now(&*self.clock);
        if let Err(wait) = self.unlock_throttle.check(addr, now) {
            return Err(limits::unlock_wait(wait));
        }
        let state = self.clone();
        let r = blocking(move || {
            let audit = refusals::admit(&state, addr);
            Ok(state.unlock_audited(&credential, audit))
        })
        .await?;
        match &r {
            Ok(()) => self.unlock_throttle.succeeded(addr),
            Err(e) if e.status() == StatusCode::CONFLICT => {}
            Err(e) if e.status().is_client_error() => self
                .unlock_throttle
                .failed(addr, refusals::unix_now(&*self.clock)),
            Err(_) => {}
        }
        r
    }

    /// The client address of a request (see [`client_addr::client_addr`]).
    pub(crate) fn client_addr(
        &self,
        extensions: &axum::http::Extensions,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        client_addr::client_addr(refusals::peer(extensions), headers, &self.trusted_proxies)
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
        self.unlock_audited(credential, true)
    }

    /// Unlocks with `credential`; a refusal is audited when `audit_refusal` (the flood cap's
    /// verdict for the caller).
    fn unlock_audited(&self, credential: &Credential, audit_refusal: bool) -> Result<(), ApiError> {
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
                        if audit_refusal {
                            authority::audit_refused_unlock(store, &*self.clock, method, &e);
                        }
                        return Err(e.into());
                    }
                }
            }
        };
        tracing::info!("authority unlocked");
        if let Ok(s) = auth.schedule_view() {
            tracing::info!("{}", schedule_log::describe_schedule(&s));
        }
        let auth = Arc::new(auth);
        // The audit anchor follows the chain head every second while unlocked.
        auth.spawn_anchor(std::time::Duration::from_secs(1));
        // The dashboard's health checks, recomputed in the background and cached.
        auth.spawn_checks(self.config.health_check_every);
        *mode = Mode::Unlocked(auth);
        Ok(())
    }

    /// Takes scheduled backups and writes the summary of suppressed refusals (called on a
    /// schedule; the authority's own publisher thread re-signs the CRLs).
    pub fn tick(&self) {
        refusals::flush(self);
        if let Ok(a) = self.authority() {
            match a.backup_if_due() {
                Ok(Some(b)) => tracing::info!(path = %b.path, "scheduled backup taken"),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "scheduled backup failed");
                    self.note_failure(&e);
                }
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

/// The public routes, each described by its `#[utoipa::path]`.
pub(crate) fn public_routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(ca_pem))
        .routes(routes!(ca_der))
        .routes(routes!(crl))
        .routes(routes!(delta_crl))
        .routes(routes!(healthz))
        .routes(routes!(ocsp::ocsp_post))
        .routes(routes!(ocsp::ocsp_get))
}

/// The public routes (also served alone on the plain-HTTP public listener).
pub fn public_router(state: Arc<AppState>) -> Router {
    public_routes().split_for_parts().0.with_state(state)
}

/// The API's routes (served under `/api/v1`), each described by its `#[utoipa::path]`: the
/// OpenAPI document is made from these, so a route cannot be served undescribed.
pub(crate) fn api_routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(unlock))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(add_admin, list_admins))
        .routes(routes!(remove_admin))
        .routes(routes!(unlock_admin))
        .routes(routes!(change_own_password))
        .routes(routes!(enable_own_totp))
        .routes(routes!(disable_own_totp))
        .routes(routes!(disable_totp))
        .routes(routes!(set_role))
        .routes(routes!(status))
        .routes(routes!(search_certificates))
        .routes(routes!(show_certificate))
        .routes(routes!(certificate_der))
        .routes(routes!(lint_certificate))
        .routes(routes!(list_policies))
        .routes(routes!(set_policy))
        .routes(routes!(list_approvals))
        .routes(routes!(approve))
        .routes(routes!(cancel_approval))
        .routes(routes!(recover_key))
        .routes(routes!(agents::list_agents, agents::add_agent))
        .routes(routes!(agents::remove_agent))
        .routes(routes!(agents::set_threshold))
        .routes(routes!(agents::reshare))
        .routes(routes!(agents::list_agent_requests))
        .routes(routes!(agents::fetch_shares))
        .routes(routes!(agents::release_shares))
        .routes(routes!(add_unlock_method, list_unlock_methods))
        .routes(routes!(remove_unlock_method))
        .routes(routes!(backup_now, list_backups))
        .routes(routes!(verify_backup))
        .routes(routes!(backup_schedule, set_backup_schedule))
        .routes(routes!(public_url, set_public_url))
        .routes(routes!(restore_backup))
        .routes(routes!(audit_list))
        .routes(routes!(audit_verify))
        .routes(routes!(audit_sign))
        .routes(routes!(add_user, list_users))
        .routes(routes!(show_user))
        .routes(routes!(disable_user))
        .routes(routes!(new_token))
        .routes(routes!(enroll))
        .routes(routes!(directory))
        .routes(routes!(revoke))
        .merge(
            // A bulk revoke's list is larger than other bodies (100 000 serials).
            OpenApiRouter::new()
                .routes(routes!(revoke_bulk))
                .layer(DefaultBodyLimit::max(MAX_BULK_BODY)),
        )
        .routes(routes!(renew))
        .routes(routes!(ca_pem))
        .routes(routes!(crl))
        .routes(routes!(delta_crl))
        .routes(routes!(openapi_json))
}

/// Every route: the public ones, the API and the console, as served over plain HTTP
/// (console cookies without `Secure`).
pub fn router(state: Arc<AppState>) -> Router {
    router_with(state, false)
}

/// Every route; `https` says whether the listener speaks TLS (console cookies `Secure`).
pub fn router_with(state: Arc<AppState>, https: bool) -> Router {
    let (api, _) = api_routes().split_for_parts();
    // The Host check (DNS rebinding) on the API and the console, inside the refusal audit;
    // the public routes answer any Host.
    let api = api
        .fallback(api_not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::check_host,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            refusals::audit_refusals,
        ))
        .with_state(state.clone());
    let router = public_router(state.clone())
        .nest("/api/v1", api)
        .merge(
            console::router(state.clone(), https)
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    limits::check_host,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    refusals::audit_refusals,
                )),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            health::track_storage,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY));
    if https {
        router.layer(axum::middleware::from_fn(limits::hsts))
    } else {
        router
    }
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "public",
    summary = "This document (OpenAPI 3.1)",
    responses(
        (status = 200, description = "the OpenAPI document", body = Object, content_type = "application/json"),
    ),
)]
async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(openapi::document())
}

async fn api_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "KMS-404", "no such API route")
}

// ------------------------------------------------------------------------------------------
// Public.

#[utoipa::path(
    get,
    path = "/ca",
    tag = "public",
    summary = "CA certificate (PEM)",
    responses(
        (status = 200, description = "the CA certificate, PEM", body = String, content_type = "application/x-pem-file"),
    ),
)]
async fn ca_pem(State(s): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let pem = s.published().ca_pem().map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

#[utoipa::path(
    get,
    path = "/ca.der",
    tag = "public",
    summary = "CA certificate (DER)",
    responses(
        (status = 200, description = "the CA certificate, DER", body = Vec<u8>, content_type = "application/pkix-cert"),
    ),
)]
async fn ca_der(State(s): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/pkix-cert")],
        s.published().ca_der,
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/crl",
    tag = "public",
    summary = "Full CRL (DER)",
    responses(
        (status = 200, description = "the full CRL, DER", body = Vec<u8>, content_type = "application/pkix-crl"),
        (status = 503, description = "no CRL published yet (KMS-503; signed at the next unlock)", body = api::ErrorBody),
    ),
)]
async fn crl(State(s): State<Arc<AppState>>) -> Response {
    let der = s.published().crl_der;
    if der.is_empty() {
        return error::ApiError::no_crl_yet().into_response();
    }
    ([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response()
}

#[utoipa::path(
    get,
    path = "/crl/delta",
    tag = "public",
    summary = "Delta CRL (DER)",
    responses(
        (status = 200, description = "the delta CRL, DER", body = Vec<u8>, content_type = "application/pkix-crl"),
        (status = 503, description = "no CRL published yet (KMS-503; signed at the next unlock)", body = api::ErrorBody),
    ),
)]
async fn delta_crl(State(s): State<Arc<AppState>>) -> Response {
    let der = s.published().delta_crl_der;
    if der.is_empty() {
        return error::ApiError::no_crl_yet().into_response();
    }
    ([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response()
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "public",
    summary = "Liveness, whether the authority is locked, and why it is degraded",
    responses(
        (status = 200, description = "serving: `ok`, or `degraded` with reasons", body = api::Health),
        (status = 503, description = "`unavailable`: cannot serve (a damaged store), with reasons", body = api::Health),
    ),
)]
async fn healthz(State(s): State<Arc<AppState>>) -> (StatusCode, Json<api::Health>) {
    let (code, health) = s.health();
    (code, Json(health))
}

// ------------------------------------------------------------------------------------------
// Unlock and sessions.

fn message(status: &str) -> Json<api::StatusMessage> {
    Json(api::StatusMessage {
        status: status.into(),
    })
}

#[utoipa::path(
    post,
    path = "/unlock",
    tag = "session",
    summary = "Unlock the authority with a start-up password or key file",
    request_body = api::UnlockRequest,
    responses(
        (status = 200, description = "unlocked", body = api::StatusMessage),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "wrong password or key file (AUTH-014)", body = api::ErrorBody),
        (status = 429, description = "too many wrong secrets from this address: wait Retry-After seconds (KMS-429)", body = api::ErrorBody),
        (status = 409, description = "unlocked already (KMS-409)", body = api::ErrorBody),
    ),
)]
async fn unlock(
    State(s): State<Arc<AppState>>,
    extensions: axum::http::Extensions,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<api::UnlockRequest>,
) -> Result<Json<api::StatusMessage>, ApiError> {
    // Before the body is read into a credential: a waiting address does no KDF work.
    let addr = s.client_addr(&extensions, &headers);
    if let Err(wait) = s.unlock_throttle.check(addr, refusals::unix_now(&*s.clock)) {
        return Err(limits::unlock_wait(wait));
    }
    let credential = match (req.password, req.key_file) {
        (Some(p), None) => Credential::Password(Password::new(p.expose())),
        (None, Some(k)) => {
            let bytes = zeroize::Zeroizing::new(
                <base64ct::Base64 as base64ct::Encoding>::decode_vec(k.expose().trim())
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
    s.unlock_from(addr, credential).await?;
    Ok(message("unlocked"))
}

#[utoipa::path(
    post,
    path = "/login",
    tag = "session",
    summary = "Sign in",
    request_body = api::LoginRequest,
    responses(
        (status = 200, description = "a new session", body = api::LoginResponse),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 401, description = "wrong name or password, a missing, wrong or reused TOTP code for an account with a second factor, or locked out for this address (AUTH-001: the same answer)", body = api::ErrorBody),
        (status = 429, description = "too many failed sign-ins from this address (AUTH-050), or too many in flight (KMS-429); see Retry-After", body = api::ErrorBody),
        (status = 423, description = "the authority is locked (KMS-423)", body = api::ErrorBody),
    ),
)]
async fn login(
    State(s): State<Arc<AppState>>,
    extensions: axum::http::Extensions,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<api::LoginRequest>,
) -> Result<Json<api::LoginResponse>, ApiError> {
    let auth = s.authority()?;
    let client = s.client_addr(&extensions, &headers);
    let _permit = s.kdf_permit_for(client).await?;
    let password = Password::new(req.password.expose());
    let state = s.clone();
    let session = blocking(move || {
        let from = authority::SignIn::from(client).with_totp(req.totp.as_ref().map(|t| t.expose()));
        Ok(refusals::anonymous(&state, client, || {
            auth.login_from(&req.name, &password, &from)
        })?)
    })
    .await?;
    Ok(Json(api::LoginResponse {
        token: api::Secret::new(session.token.expose()),
        expires_at: session.expires_at,
        expires_at_rfc3339: wire::rfc3339(session.expires_at),
        admin: wire::admin(&session.admin),
    }))
}

#[utoipa::path(
    post,
    path = "/logout",
    tag = "session",
    summary = "Sign out (ends this session)",
    responses(
        (status = 200, description = "signed out", body = api::StatusMessage),
    ),
    security(("session" = [])),
)]
async fn logout(a: AdminAuth) -> Result<Json<api::StatusMessage>, ApiError> {
    blocking(move || Ok(a.auth.logout(&a.token)?)).await?;
    Ok(message("signed out"))
}

// ------------------------------------------------------------------------------------------
// Administrators.

/// A role from the wire; an unknown one is refused as the authority refuses it (AUTH-009).
fn parse_role(role: &api::Role) -> Result<authority::Role, ApiError> {
    Ok(role.as_str().parse::<authority::Role>()?)
}

#[utoipa::path(
    post,
    path = "/admins",
    tag = "admins",
    summary = "Add an administrator account (administrator role, under the admin-change quorum)",
    request_body = api::AddAdminRequest,
    responses(
        (status = 200, description = "success", body = api::AdminResponse),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 409, description = "the name exists (AUTH-020)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn add_admin(
    a: AdminAuth,
    ApiJson(req): ApiJson<api::AddAdminRequest>,
) -> Result<Json<api::AdminResponse>, ApiError> {
    let role = parse_role(&req.role)?;
    let password = Password::new(req.password.expose());
    let admin =
        blocking(move || Ok(a.auth.add_admin(&a.admin, &req.name, role, &password)?)).await?;
    Ok(Json(api::AdminResponse {
        admin: wire::admin_info(admin),
    }))
}

#[utoipa::path(
    get,
    path = "/admins",
    tag = "admins",
    summary = "List administrator accounts",
    responses(
        (status = 200, description = "success", body = api::AdminList),
    ),
    security(("session" = [])),
)]
async fn list_admins(a: AdminAuth) -> Result<Json<api::AdminList>, ApiError> {
    let admins = blocking(move || Ok(a.auth.list_admins(&a.admin)?)).await?;
    Ok(Json(api::AdminList {
        admins: admins.into_iter().map(wire::admin_info).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/admins/{name}/remove",
    tag = "admins",
    summary = "Remove an administrator account and end its sessions (administrator role, under the admin-change quorum)",
    params(("name" = String, Path, description = "the administrator's name")),
    responses(
        (status = 200, description = "success", body = api::AdminRemoved),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 404, description = "no such administrator (AUTH-021)", body = api::ErrorBody),
        (status = 409, description = "the last administrator (AUTH-022)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn remove_admin(
    a: AdminAuth,
    Path(name): Path<String>,
) -> Result<Json<api::AdminRemoved>, ApiError> {
    let admin = blocking(move || Ok(a.auth.remove_admin(&a.admin, &name)?)).await?;
    Ok(Json(api::AdminRemoved {
        removed: wire::admin_info(admin),
    }))
}

#[utoipa::path(
    post,
    path = "/admins/{name}/unlock",
    tag = "admins",
    summary = "Clear an administrator's lock-out after failed sign-ins, from every address (administrator role; audited)",
    params(("name" = String, Path, description = "the administrator's name")),
    responses(
        (status = 200, description = "success", body = api::AdminUnlocked),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 404, description = "no such administrator (AUTH-021)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn unlock_admin(
    a: AdminAuth,
    Path(name): Path<String>,
) -> Result<Json<api::AdminUnlocked>, ApiError> {
    let admin = blocking(move || Ok(a.auth.unlock_admin(&a.admin, &name)?)).await?;
    Ok(Json(api::AdminUnlocked {
        unlocked: wire::admin_info(admin),
    }))
}

/// The secret is in the answer only: it is never shown again.
#[utoipa::path(
    post,
    path = "/admins/me/totp",
    tag = "admins",
    summary = "Turn on a TOTP second factor (RFC 6238) for the signed-in administrator's own account; the answer carries the secret once (any role; audited)",
    responses(
        (status = 200, description = "enabled: sign-ins now need a code", body = api::TotpEnabled),
        (status = 400, description = "the account has a second factor already: disable it first (AUTH-009)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn enable_own_totp(a: AdminAuth) -> Result<Json<api::TotpEnabled>, ApiError> {
    let uri = blocking(move || Ok(a.auth.enable_totp(&a.admin)?)).await?;
    Ok(Json(api::TotpEnabled {
        otpauth_uri: api::Secret::new(uri.as_str()),
    }))
}

#[utoipa::path(
    post,
    path = "/admins/me/totp/disable",
    tag = "admins",
    summary = "Turn off the signed-in administrator's own TOTP second factor (any role; audited)",
    responses(
        (status = 200, description = "disabled (or there was none: had_totp false)", body = api::TotpDisabled),
    ),
    security(("session" = [])),
)]
async fn disable_own_totp(a: AdminAuth) -> Result<Json<api::TotpDisabled>, ApiError> {
    let name = a.admin.name.clone();
    let n = name.clone();
    let had_totp = blocking(move || Ok(a.auth.disable_totp(&a.admin, &n)?)).await?;
    Ok(Json(api::TotpDisabled { name, had_totp }))
}

#[utoipa::path(
    post,
    path = "/admins/{name}/totp/disable",
    tag = "admins",
    summary = "Turn off another administrator's TOTP second factor, e.g. a lost authenticator (administrator role, under the admin-change quorum; audited)",
    params(("name" = String, Path, description = "the administrator's name")),
    responses(
        (status = 200, description = "disabled (or there was none: had_totp false)", body = api::TotpDisabled),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 403, description = "the role does not allow this (AUTH-004)", body = api::ErrorBody),
        (status = 404, description = "no such administrator (AUTH-021)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn disable_totp(
    a: AdminAuth,
    Path(name): Path<String>,
) -> Result<Json<api::TotpDisabled>, ApiError> {
    let n = name.clone();
    let had_totp = blocking(move || Ok(a.auth.disable_totp(&a.admin, &n)?)).await?;
    Ok(Json(api::TotpDisabled { name, had_totp }))
}

// ------------------------------------------------------------------------------------------
// Quorum policies, approvals, key recovery.

#[utoipa::path(
    get,
    path = "/policies",
    tag = "governance",
    summary = "Quorum policies (any role)",
    responses(
        (status = 200, description = "success", body = api::PolicyList),
    ),
    security(("session" = [])),
)]
async fn list_policies(a: AdminAuth) -> Result<Json<api::PolicyList>, ApiError> {
    let p = blocking(move || Ok(a.auth.policies(&a.admin)?)).await?;
    Ok(Json(api::PolicyList {
        policies: p.into_iter().map(wire::policy).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/policies/{operation}",
    tag = "governance",
    summary = "Set an operation's quorum (administrator role, under the policy-change quorum)",
    params(("operation" = api::QuorumOperation, Path, description = "the operation governed")),
    request_body = api::SetPolicyRequest,
    responses(
        (status = 200, description = "success", body = api::PolicyResponse),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn set_policy(
    a: AdminAuth,
    Path(operation): Path<String>,
    ApiJson(req): ApiJson<api::SetPolicyRequest>,
) -> Result<Json<api::PolicyResponse>, ApiError> {
    let p = blocking(move || Ok(a.auth.set_policy(&a.admin, &operation, req.quorum)?)).await?;
    Ok(Json(api::PolicyResponse {
        policy: wire::policy(p.policy),
        raised: p.raised.into_iter().map(wire::policy).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/approvals",
    tag = "governance",
    summary = "Open approval requests (any role)",
    responses(
        (status = 200, description = "success", body = api::ApprovalList),
    ),
    security(("session" = [])),
)]
async fn list_approvals(a: AdminAuth) -> Result<Json<api::ApprovalList>, ApiError> {
    let r = blocking(move || Ok(a.auth.approvals(&a.admin)?)).await?;
    Ok(Json(api::ApprovalList {
        requests: r.into_iter().map(wire::approval).collect(),
    }))
}

fn request_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("request id {id:?} is not a number")))
}

#[utoipa::path(
    post,
    path = "/approvals/{id}/approve",
    tag = "governance",
    summary = "Approve a request (administrator role)",
    params(("id" = i64, Path, description = "the request id")),
    responses(
        (status = 200, description = "success", body = api::ApprovalResponse),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 404, description = "no such request (AUTH-025)", body = api::ErrorBody),
        (status = 409, description = "approval refused (AUTH-024)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn approve(
    a: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<api::ApprovalResponse>, ApiError> {
    let id = request_id(&id)?;
    let r = blocking(move || Ok(a.auth.approve(&a.admin, id)?)).await?;
    Ok(Json(api::ApprovalResponse {
        request: wire::approval(r),
    }))
}

#[utoipa::path(
    post,
    path = "/approvals/{id}/cancel",
    tag = "governance",
    summary = "Cancel a request (administrator role)",
    params(("id" = i64, Path, description = "the request id")),
    responses(
        (status = 200, description = "success", body = api::ApprovalResponse),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 404, description = "no such request (AUTH-025)", body = api::ErrorBody),
        (status = 409, description = "approval refused (AUTH-024)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn cancel_approval(
    a: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<api::ApprovalResponse>, ApiError> {
    let id = request_id(&id)?;
    let r = blocking(move || Ok(a.auth.cancel_approval(&a.admin, id)?)).await?;
    Ok(Json(api::ApprovalResponse {
        request: wire::approval(r),
    }))
}

/// The bundle password travels in the body (HTTPS in production) and is never logged.
#[utoipa::path(
    post,
    path = "/users/{email}/recover",
    tag = "governance",
    summary = "Recover every encryption key the user ever had, as one PKCS#12 under the given password (administrator role, under the recover-key quorum)",
    params(("email" = String, Path, description = "the user's e-mail address")),
    request_body = api::RecoverRequest,
    responses(
        (status = 200, description = "success", body = api::Recovered),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 404, description = "no such user (AUTH-005) or no escrowed key (AUTH-012)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn recover_key(
    a: AdminAuth,
    Path(email): Path<String>,
    ApiJson(req): ApiJson<api::RecoverRequest>,
) -> Result<Json<api::Recovered>, ApiError> {
    let password = Password::new(req.password.expose());
    let (reenroll, why) = (req.reenroll, req.why);
    let r = blocking(move || {
        Ok(a.auth
            .recover_key(&a.admin, &email, &password, reenroll, why.as_deref())?)
    })
    .await?;
    let (token, expires) = match &r.token {
        Some(t) => (Some(api::Secret::new(t.token.expose())), Some(t.expires_at)),
        None => (None, None),
    };
    Ok(Json(api::Recovered {
        pkcs12: wire::base64_secret(&r.pkcs12),
        keys: r.keys as u64,
        enrollment_token: token,
        token_expires_at: expires,
        token_expires_at_rfc3339: expires.map(wire::rfc3339),
    }))
}

// ------------------------------------------------------------------------------------------
// Start-up secrets.

#[utoipa::path(
    get,
    path = "/unlock-methods",
    tag = "governance",
    summary = "Start-up secrets that unlock the store (no secret material)",
    responses(
        (status = 200, description = "success", body = api::UnlockMethodList),
    ),
    security(("session" = [])),
)]
async fn list_unlock_methods(a: AdminAuth) -> Result<Json<api::UnlockMethodList>, ApiError> {
    let m = blocking(move || Ok(a.auth.unlock_methods(&a.admin)?)).await?;
    Ok(Json(api::UnlockMethodList {
        methods: m.into_iter().map(wire::unlock_method).collect(),
    }))
}

/// Exactly one of `password` (a new start-up password) or `key_file: true` (a new key file,
/// returned base64 in the answer: the caller stores it).
#[utoipa::path(
    post,
    path = "/unlock-methods",
    tag = "governance",
    summary = "Add a start-up password or a new key file (administrator role, under the admin-change quorum)",
    request_body = api::AddUnlockMethodRequest,
    responses(
        (status = 200, description = "success", body = api::UnlockMethodAdded),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 426, description = "a new key file is sent only over HTTPS or to loopback (KMS-426)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn add_unlock_method(
    a: AdminAuth,
    peer: Result<axum::extract::ConnectInfo<Peer>, axum::extract::rejection::ExtensionRejection>,
    ApiJson(req): ApiJson<api::AddUnlockMethodRequest>,
) -> Result<Json<api::UnlockMethodAdded>, ApiError> {
    let password = match (req.password, req.key_file) {
        (Some(p), false) => Some(Password::new(p.expose())),
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
    Ok(Json(api::UnlockMethodAdded {
        key_file: r.key_file.as_deref().map(|k| wire::base64_secret(k)),
        method: wire::unlock_method(r.method),
    }))
}

#[utoipa::path(
    post,
    path = "/unlock-methods/{id}/remove",
    tag = "governance",
    summary = "Remove a start-up secret (administrator role, under the admin-change quorum)",
    params(("id" = i64, Path, description = "the unlock method id")),
    responses(
        (status = 200, description = "success", body = api::UnlockMethodRemoved),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 409, description = "the last unlock method (AUTH-016)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn remove_unlock_method(
    a: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<api::UnlockMethodRemoved>, ApiError> {
    let id = request_id(&id)?;
    blocking(move || Ok(a.auth.remove_unlock_method(&a.admin, id)?)).await?;
    Ok(Json(api::UnlockMethodRemoved { removed: id }))
}

// ------------------------------------------------------------------------------------------
// Backups.

#[utoipa::path(
    post,
    path = "/backups",
    tag = "backups",
    summary = "Take an encrypted backup into DATA_DIR/backups now (administrator role)",
    responses(
        (status = 200, description = "success", body = api::BackupTaken),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn backup_now(a: AdminAuth) -> Result<Json<api::BackupTaken>, ApiError> {
    let b = blocking(move || Ok(a.auth.backup_now(Some(&a.admin))?)).await?;
    Ok(Json(api::BackupTaken {
        path: b.path.clone(),
        backup: wire::backup_info(b),
    }))
}

#[utoipa::path(
    get,
    path = "/backups",
    tag = "backups",
    summary = "Backups in DATA_DIR/backups, oldest first",
    responses(
        (status = 200, description = "success", body = api::BackupList),
    ),
    security(("session" = [])),
)]
async fn list_backups(a: AdminAuth) -> Result<Json<api::BackupList>, ApiError> {
    let b = blocking(move || Ok(a.auth.backups(&a.admin)?)).await?;
    Ok(Json(api::BackupList {
        backups: b.into_iter().map(wire::backup_info).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/backups/verify",
    tag = "backups",
    summary = "Check a backup completely with the master key in memory: chunks, SQLite integrity, every key, the audit chain inside",
    request_body = api::VerifyBackupRequest,
    responses(
        (status = 200, description = "success", body = api::BackupCheck),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 422, description = "the backup is damaged or not of this store (AUTH-016, ESCROW-013)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn verify_backup(
    a: AdminAuth,
    ApiJson(req): ApiJson<api::VerifyBackupRequest>,
) -> Result<Json<api::BackupCheck>, ApiError> {
    let r = blocking(move || Ok(a.auth.verify_backup(&a.admin, &req.name)?)).await?;
    Ok(Json(wire::backup_check(r)))
}

#[utoipa::path(
    get,
    path = "/backups/schedule",
    tag = "backups",
    summary = "The backup schedule in effect (the stored setting, else kmsd.toml)",
    responses(
        (status = 200, description = "success", body = api::ScheduleResponse),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn backup_schedule(a: AdminAuth) -> Result<Json<api::ScheduleResponse>, ApiError> {
    let s = blocking(move || Ok(a.auth.backup_schedule(&a.admin)?)).await?;
    Ok(Json(api::ScheduleResponse {
        schedule: wire::backup_schedule(s),
    }))
}

#[utoipa::path(
    post,
    path = "/backups/schedule",
    tag = "backups",
    summary = "Set the backup schedule (administrator role, under the backup-schedule quorum); every: null turns it off",
    request_body = api::SetScheduleRequest,
    responses(
        (status = 200, description = "success", body = api::ScheduleResponse),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn set_backup_schedule(
    a: AdminAuth,
    ApiJson(req): ApiJson<api::SetScheduleRequest>,
) -> Result<Json<api::ScheduleResponse>, ApiError> {
    let s = blocking(move || {
        let keep = match req.keep {
            Some(k) => usize::try_from(k).unwrap_or(usize::MAX),
            None => a.auth.backup_schedule(&a.admin)?.keep,
        };
        let every = req.every.map(std::time::Duration::from_secs);
        Ok(a.auth.set_backup_schedule(&a.admin, every, keep)?)
    })
    .await?;
    Ok(Json(api::ScheduleResponse {
        schedule: wire::backup_schedule(s),
    }))
}

#[utoipa::path(
    get,
    path = "/settings/public-url",
    tag = "settings",
    summary = "The public URL: the base of the CRL and CA certificate URLs written into certificates",
    responses(
        (status = 200, description = "success", body = api::PublicUrlResponse),
    ),
    security(("session" = [])),
)]
async fn public_url(a: AdminAuth) -> Result<Json<api::PublicUrlResponse>, ApiError> {
    let url = blocking(move || Ok(a.auth.public_url()?)).await?;
    Ok(Json(api::PublicUrlResponse {
        public_url: url,
        previous: None,
        note: authority::PUBLIC_URL_NOTE.to_string(),
    }))
}

#[utoipa::path(
    post,
    path = "/settings/public-url",
    tag = "settings",
    summary = "Change the public URL (administrator role, under the public-url quorum): plain http://, not loopback; certificates issued afterwards name it, renew --all moves existing ones",
    request_body = api::SetPublicUrlRequest,
    responses(
        (status = 200, description = "success", body = api::PublicUrlResponse),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 400, description = "malformed request or URL refused (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn set_public_url(
    a: AdminAuth,
    State(s): State<Arc<AppState>>,
    ApiJson(req): ApiJson<api::SetPublicUrlRequest>,
) -> Result<Json<api::PublicUrlResponse>, ApiError> {
    let c = blocking(move || Ok(a.auth.set_public_url(&a.admin, &req.url)?)).await?;
    // The API and console answer to the new host from now on, without a restart.
    s.public_host.set(&c.public_url);
    Ok(Json(api::PublicUrlResponse {
        public_url: c.public_url,
        previous: Some(c.previous),
        note: authority::PUBLIC_URL_NOTE.to_string(),
    }))
}

/// Restores a backup over the live store (under the `restore` quorum); every session ends.
#[utoipa::path(
    post,
    path = "/backups/{name}/restore",
    tag = "backups",
    summary = "Restore a backup over the live store (administrator role, under the restore quorum). The backup is checked first and a safety backup of the live store is taken; every session ends; revocations made after the backup are kept",
    params(("name" = String, Path, description = "a name from GET /api/v1/backups")),
    request_body = api::RestoreRequest,
    responses(
        (status = 200, description = "success", body = api::Restored),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 422, description = "the backup is damaged or not of this store (ESCROW-013); nothing changed", body = api::ErrorBody),
        (status = 428, description = "replacing the live store needs \"confirm\": true (KMS-428)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn restore_backup(
    a: AdminAuth,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<api::RestoreRequest>,
) -> Result<Json<api::Restored>, ApiError> {
    if !req.confirm {
        return Err(ApiError::confirmation_required(format!(
            "restoring {name} replaces the live store and ends every session: send \
             \"confirm\": true (kmsctl backup restore --yes)"
        )));
    }
    let r = blocking(move || Ok(a.auth.restore_backup(&a.admin, &name)?)).await?;
    Ok(Json(wire::restored(r)))
}

// ------------------------------------------------------------------------------------------
// The audit log.

/// `since` alone (or nothing) lists oldest first, as before; any other filter searches, newest
/// first and paged, with a total.
#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    summary = "Audit log entries: oldest first (no filter, or since alone), or a paged search, newest first (any role)",
    params(api::AuditQuery),
    responses(
        (status = 200, description = "success", body = api::AuditList),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn audit_list(
    a: AdminAuth,
    q: Result<axum::extract::Query<api::AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<api::AuditList>, ApiError> {
    let axum::extract::Query(q) = q.map_err(query_error)?;
    if q.is_plain() {
        let entries = blocking(move || Ok(a.auth.audit_list(&a.admin, q.since)?)).await?;
        return Ok(Json(api::AuditList {
            total: None,
            offset: None,
            limit: None,
            entries: entries.into_iter().map(wire::audit_entry).collect(),
        }));
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
    Ok(Json(api::AuditList {
        total: Some(page.total),
        offset: Some(page.offset),
        limit: Some(page.limit),
        entries: page.items.into_iter().map(wire::audit_entry).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/audit/verify",
    tag = "audit",
    summary = "Verify the audit chain and its CA-signed checkpoints (any role)",
    responses(
        (status = 200, description = "success", body = api::AuditReport),
    ),
    security(("session" = [])),
)]
async fn audit_verify(a: AdminAuth) -> Result<Json<api::AuditReport>, ApiError> {
    let report = blocking(move || Ok(a.auth.audit_verify(&a.admin)?)).await?;
    Ok(Json(wire::audit_report(report)))
}

#[utoipa::path(
    post,
    path = "/audit/sign",
    tag = "audit",
    summary = "Sign the audit chain head with the CA key now (administrator role)",
    responses(
        (status = 200, description = "success", body = api::AuditSigned),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn audit_sign(a: AdminAuth) -> Result<Json<api::AuditSigned>, ApiError> {
    let seq = blocking(move || Ok(a.auth.audit_sign(&a.admin)?)).await?;
    Ok(Json(api::AuditSigned {
        signed_through: seq,
    }))
}

// ------------------------------------------------------------------------------------------
// Users and tokens.

#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    summary = "Add a user; returns the one-time enrollment token",
    request_body = api::AddUserRequest,
    responses(
        (status = 200, description = "success", body = api::UserAdded),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 409, description = "the user exists (AUTH-006)", body = api::ErrorBody),
        (status = 422, description = "the certificate profile refuses the user: a sponsored profile without given name and surname (AUTH-080, the message names the rule)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn add_user(
    a: AdminAuth,
    ApiJson(req): ApiJson<api::AddUserRequest>,
) -> Result<Json<api::UserAdded>, ApiError> {
    let caps = if req.capabilities.is_empty() {
        Vec::new()
    } else {
        let names: Vec<&str> = req.capabilities.iter().map(|c| c.as_str()).collect();
        pki::ContentAlgorithm::parse_list(&names.join(","))
            .map_err(|e| ApiError::bad_request(format!("capabilities: {e}")))?
    };
    let (user, token) = blocking(move || {
        Ok(a.auth.add_user_with(
            &a.admin,
            &authority::NewUser {
                email: &req.email,
                name: &req.name,
                capabilities: &caps,
                given_name: req.given_name.as_deref(),
                surname: req.surname.as_deref(),
                pseudonym: req.pseudonym.as_deref(),
                profile: req.profile.as_deref(),
            },
        )?)
    })
    .await?;
    Ok(Json(api::UserAdded {
        user: wire::user_info(user),
        enrollment_token: api::Secret::new(token.token.expose()),
        token_expires_at: token.expires_at,
        token_expires_at_rfc3339: wire::rfc3339(token.expires_at),
    }))
}

/// `GET /users` without parameters lists every user; with any of them it searches (paged).
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    summary = "List users; with any parameter, a paged search with a total (any role)",
    params(api::UserListQuery),
    responses(
        (status = 200, description = "success", body = api::UserList),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn list_users(
    a: AdminAuth,
    q: Result<axum::extract::Query<api::UserListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<api::UserList>, ApiError> {
    let axum::extract::Query(q) = q.map_err(query_error)?;
    if q.is_plain() {
        let users = blocking(move || Ok(a.auth.list_users(&a.admin)?)).await?;
        return Ok(Json(api::UserList {
            total: users.len() as i64,
            offset: None,
            limit: None,
            users: users.into_iter().map(wire::user_info).collect(),
        }));
    }
    let state = q
        .state
        .as_deref()
        .map(str::parse::<authority::UserState>)
        .transpose()?;
    let query = authority::UserQuery {
        text: q.q,
        status: q.status,
        state,
        sort: q.sort,
        direction: direction(q.dir.as_deref())?,
        limit: q.limit,
        offset: q.offset,
    };
    let page = blocking(move || Ok(a.auth.search_users(&a.admin, &query)?)).await?;
    Ok(Json(api::UserList {
        total: page.total,
        offset: Some(page.offset),
        limit: Some(page.limit),
        users: page.items.into_iter().map(wire::user_info).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/users/{email}",
    tag = "users",
    summary = "A user and their certificates",
    params(("email" = String, Path, description = "the user's e-mail address")),
    responses(
        (status = 200, description = "success", body = api::UserDetail),
        (status = 404, description = "no such user (AUTH-005)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn show_user(
    a: AdminAuth,
    Path(email): Path<String>,
) -> Result<Json<api::UserDetail>, ApiError> {
    let user = blocking(move || Ok(a.auth.user(&a.admin, &email)?)).await?;
    Ok(Json(wire::user_detail(user)))
}

#[utoipa::path(
    post,
    path = "/users/{email}/disable",
    tag = "users",
    summary = "Disable a user (revokes their certificates)",
    params(("email" = String, Path, description = "the user's e-mail address")),
    responses(
        (status = 200, description = "success", body = api::UserResponse),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 404, description = "no such user (AUTH-005)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn disable_user(
    a: AdminAuth,
    Path(email): Path<String>,
) -> Result<Json<api::UserResponse>, ApiError> {
    let user = blocking(move || Ok(a.auth.disable_user(&a.admin, &email)?)).await?;
    Ok(Json(api::UserResponse {
        user: wire::user_info(user),
    }))
}

#[utoipa::path(
    post,
    path = "/users/{email}/token",
    tag = "users",
    summary = "A new enrollment token",
    params(("email" = String, Path, description = "the user's e-mail address")),
    responses(
        (status = 200, description = "success", body = api::NewToken),
        (status = 404, description = "no such user (AUTH-005)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004), or the user is disabled (AUTH-007)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn new_token(
    a: AdminAuth,
    Path(email): Path<String>,
) -> Result<Json<api::NewToken>, ApiError> {
    let token = blocking(move || Ok(a.auth.new_token(&a.admin, &email)?)).await?;
    Ok(Json(api::NewToken {
        enrollment_token: api::Secret::new(token.token.expose()),
        token_expires_at: token.expires_at,
        token_expires_at_rfc3339: wire::rfc3339(token.expires_at),
    }))
}

// ------------------------------------------------------------------------------------------
// Enrollment and the directory.

#[utoipa::path(
    post,
    path = "/enroll",
    tag = "users",
    summary = "Enroll with a one-time token and the signing key's PKCS#10 request (PEM)",
    request_body = api::EnrollRequest,
    responses(
        (status = 200, description = "success", body = api::Enrolled),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "token unknown, used or expired (AUTH-008), user disabled (AUTH-007)", body = api::ErrorBody),
        (status = 422, description = "request refused (AUTH-010)", body = api::ErrorBody),
        (status = 423, description = "the authority is locked (KMS-423)", body = api::ErrorBody),
    ),
)]
async fn enroll(
    State(s): State<Arc<AppState>>,
    extensions: axum::http::Extensions,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<api::EnrollRequest>,
) -> Result<Json<api::Enrolled>, ApiError> {
    let auth = s.authority()?;
    let addr = s.client_addr(&extensions, &headers);
    let state = s.clone();
    let e = blocking(move || {
        Ok(refusals::anonymous(&state, addr, || {
            auth.enroll(req.token.expose(), req.csr.as_bytes())
        })?)
    })
    .await?;
    let key = zeroize::Zeroizing::new(
        pem_rfc7468::encode_string(
            "ENCRYPTED PRIVATE KEY",
            pem_rfc7468::LineEnding::LF,
            &e.encrypted_key,
        )
        .map_err(ApiError::internal)?,
    );
    Ok(Json(api::Enrolled {
        signing_certificate: wire::cert_pem(&e.signing_cert)?,
        encryption_certificate: wire::cert_pem(&e.encryption_cert)?,
        ca_certificate: wire::cert_pem(&e.ca_cert)?,
        encrypted_key: api::Secret::new(key.as_str()),
    }))
}

#[utoipa::path(
    get,
    path = "/directory/{email}",
    tag = "users",
    summary = "A user's current encryption and signing certificates and capabilities (the same 404 for an unknown, not enrolled or disabled address)",
    params(("email" = String, Path, description = "the user's e-mail address")),
    responses(
        (status = 200, description = "success", body = api::DirectoryEntry),
        (status = 404, description = "no such user (AUTH-005), or not enrolled / all revoked (AUTH-012)", body = api::ErrorBody),
        (status = 423, description = "the authority is locked (KMS-423)", body = api::ErrorBody),
    ),
)]
async fn directory(
    State(s): State<Arc<AppState>>,
    Path(email): Path<String>,
) -> Result<Json<api::DirectoryEntry>, ApiError> {
    let auth = s.authority()?;
    let entry = blocking(move || Ok(auth.directory(&email)?)).await?;
    Ok(Json(api::DirectoryEntry {
        certificate: wire::cert_pem(&entry.certificate)?,
        signing_certificate: entry
            .signing_certificate
            .as_deref()
            .map(wire::cert_pem)
            .transpose()?,
        email: entry.email,
        capabilities: entry
            .capabilities
            .iter()
            .map(|c| api::ContentAlgorithm::parse(c))
            .collect(),
    }))
}

// ------------------------------------------------------------------------------------------
// Revocation and renewal.

#[utoipa::path(
    post,
    path = "/revoke",
    tag = "users",
    summary = "Revoke a user's certificates or one by serial",
    request_body = api::RevokeRequest,
    responses(
        (status = 200, description = "success", body = api::Revoked),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 404, description = "no such user (AUTH-005)", body = api::ErrorBody),
        (status = 409, description = "nothing to revoke (AUTH-013)", body = api::ErrorBody),
        (status = 428, description = "more than one certificate would be revoked: send \"confirm\": true (KMS-428)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn revoke(
    a: AdminAuth,
    ApiJson(req): ApiJson<api::RevokeRequest>,
) -> Result<Json<api::Revoked>, ApiError> {
    let reason = revocation_reason(req.reason.as_ref())?;
    let target = match (req.email, req.serial) {
        (Some(e), None) => RevokeTarget::User(e),
        (None, Some(s)) => RevokeTarget::Serial(s),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of \"email\" or \"serial\"",
            ));
        }
    };
    let confirm = req.confirm;
    let outcome = blocking(move || {
        if let (RevokeTarget::User(email), false) = (&target, confirm) {
            let current = a.auth.revocable_count(&a.admin, email)?;
            if current > 1 {
                return Err(ApiError::confirmation_required(format!(
                    "this revokes {current} certificates of {email}: send \"confirm\": true \
                     (kmsctl revoke --yes)"
                )));
            }
        }
        Ok(a.auth.revoke(&a.admin, &target, reason)?)
    })
    .await?;
    Ok(Json(api::Revoked {
        revoked: outcome.revoked,
        reason: api::RevocationReason::parse(reason.name()),
        already_revoked: outcome.already_revoked,
        crl_number: Some(outcome.crl_number),
        crl_published_at: outcome.crl_published_at,
        crl_published_at_rfc3339: outcome.crl_published_at.map(wire::rfc3339),
        crl_pending: outcome.crl_published_at.is_none(),
    }))
}

#[utoipa::path(
    post,
    path = "/revocations/bulk",
    tag = "users",
    summary = "Revoke many certificates in one transaction, by serial or by user",
    request_body = api::BulkRevokeRequest,
    responses(
        (status = 200, description = "success: unknown serials or addresses are listed in not_found, the rest revoked", body = api::BulkRevoked),
        (status = 400, description = "malformed request or a malformed serial: nothing changed (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004)", body = api::ErrorBody),
        (status = 413, description = "more than 100 000 entries (AUTH-100), or a body over 16 MiB", body = api::ErrorBody),
        (status = 428, description = "send \"confirm\": true (KMS-428)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn revoke_bulk(
    a: AdminAuth,
    ApiJson(req): ApiJson<api::BulkRevokeRequest>,
) -> Result<Json<api::BulkRevoked>, ApiError> {
    let reason = revocation_reason(req.reason.as_ref())?;
    let target = match (req.serials, req.emails) {
        (Some(s), None) => authority::BulkTarget::Serials(s),
        (None, Some(e)) => authority::BulkTarget::Emails(e),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of \"serials\" or \"emails\"",
            ));
        }
    };
    let n = match &target {
        authority::BulkTarget::Serials(s) | authority::BulkTarget::Emails(s) => s.len(),
    };
    if n > authority::MAX_BULK_REVOKE {
        let e = authority::Error::TooManyEntries {
            given: n,
            max: authority::MAX_BULK_REVOKE,
        };
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            e.code(),
            e.to_string(),
        ));
    }
    if !req.confirm {
        return Err(ApiError::confirmation_required(format!(
            "this revokes the certificates of {n} entries: send \"confirm\": true \
             (kmsctl revoke --serials-from FILE --yes)"
        )));
    }
    let outcome = blocking(move || Ok(a.auth.revoke_bulk(&a.admin, &target, reason)?)).await?;
    Ok(Json(api::BulkRevoked {
        revoked: outcome.revoked as u64,
        already_revoked: outcome.already_revoked as u64,
        not_found: outcome.not_found,
        reason: api::RevocationReason::parse(reason.name()),
        crl_number: outcome.crl_number,
        crl_published_at: outcome.crl_published_at,
        crl_published_at_rfc3339: outcome.crl_published_at.map(wire::rfc3339),
        crl_pending: outcome.crl_published_at.is_none(),
    }))
}

#[utoipa::path(
    post,
    path = "/renew",
    tag = "users",
    summary = "Renew a user's certificates, or all users'; new_key: a new escrowed encryption key now, and an enrollment token to collect it",
    request_body = api::RenewRequest,
    responses(
        (status = 200, description = "success", body = api::RenewResponse),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 404, description = "no such user (AUTH-005)", body = api::ErrorBody),
        (status = 428, description = "a batch renewal without \"confirm\": true (KMS-428)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn renew(
    a: AdminAuth,
    ApiJson(req): ApiJson<api::RenewRequest>,
) -> Result<Json<api::RenewResponse>, ApiError> {
    match (req.email, req.all) {
        (Some(_), false) if req.within.is_some() => Err(ApiError::bad_request(
            "\"within\" goes with \"all\": true; a user named is renewed whatever the expiry",
        )),
        (Some(email), false) => {
            let new_key = req.new_key;
            let r = blocking(move || Ok(a.auth.renew(&a.admin, &email, new_key)?)).await?;
            Ok(Json(api::RenewResponse {
                renewed: vec![wire::renewal(r)],
                failed: Vec::new(),
                skipped: Vec::new(),
            }))
        }
        (None, true) if !req.new_key && !req.confirm => Err(ApiError::confirmation_required(
            "renewing every user is a batch operation: send \"confirm\": true \
             (kmsctl renew --all --yes)",
        )),
        (None, true) if !req.new_key => {
            let within = req.within.map(std::time::Duration::from_secs);
            let batch = blocking(move || Ok(a.auth.renew_expiring(&a.admin, within)?)).await?;
            let failed = batch
                .failed
                .iter()
                .map(|(email, e)| api::RenewFailure {
                    email: email.clone(),
                    code: e.code().to_string(),
                    message: e.to_string(),
                })
                .collect();
            Ok(Json(api::RenewResponse {
                renewed: batch.renewed.into_iter().map(wire::renewal).collect(),
                failed,
                skipped: batch
                    .skipped
                    .into_iter()
                    .map(|s| api::RenewSkipped {
                        email: s.email,
                        reason: s.reason.to_string(),
                    })
                    .collect(),
            }))
        }
        (None, true) => Err(ApiError::bad_request(
            "\"all\" renews certificates only; new keys are per user",
        )),
        _ => Err(ApiError::bad_request(
            "give exactly one of \"email\" or \"all\": true",
        )),
    }
}

// ------------------------------------------------------------------------------------------
// Views: status, certificates; administrators' self-service.

fn query_error(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::bad_request(format!("query: {}", e.body_text()))
}

fn direction(dir: Option<&str>) -> Result<Option<authority::Direction>, ApiError> {
    Ok(dir.map(str::parse).transpose()?)
}

#[utoipa::path(
    get,
    path = "/status",
    tag = "views",
    summary = "The authority at a glance: CA, user and certificate counts, CRLs, last backup and its verification, pending approvals, and the health checks as last computed in the background (`health`: checks, counts needing attention, activity per day) (any role)",
    responses(
        (status = 200, description = "success", body = api::Status),
    ),
    security(("session" = [])),
)]
async fn status(a: AdminAuth) -> Result<Json<api::Status>, ApiError> {
    let (s, h) =
        blocking(move || Ok((a.auth.status(&a.admin)?, a.auth.health_report(&a.admin)?))).await?;
    Ok(Json(wire::status(s, Some(&*h))))
}

#[utoipa::path(
    get,
    path = "/certificates",
    tag = "views",
    summary = "Search certificates (any role)",
    params(api::CertListQuery),
    responses(
        (status = 200, description = "success", body = api::CertPage),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn search_certificates(
    a: AdminAuth,
    q: Result<axum::extract::Query<api::CertListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<api::CertPage>, ApiError> {
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
    Ok(Json(api::CertPage {
        total: page.total,
        offset: page.offset,
        limit: page.limit,
        certificates: page.items.into_iter().map(wire::cert_row).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/certificates/{serial}",
    tag = "views",
    summary = "One certificate in full: subject, issuer, validity, key usage, extended key usage, SAN e-mails, SMIMECapabilities, status, revocation, SHA-256 fingerprint, PEM (any role)",
    params(("serial" = String, Path, description = "hex; colons and 0x allowed")),
    responses(
        (status = 200, description = "success", body = api::CertDetail),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 404, description = "no certificate with that serial (AUTH-011)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn show_certificate(
    a: AdminAuth,
    Path(serial): Path<String>,
) -> Result<Json<api::CertDetail>, ApiError> {
    let d = blocking(move || Ok(a.auth.certificate(&a.admin, &serial)?)).await?;
    Ok(Json(wire::cert_detail(d)?))
}

#[utoipa::path(
    post,
    path = "/lint",
    tag = "views",
    summary = "Check a certificate against the S/MIME Baseline Requirements profiles: the authority's pre-issuance lint, on any certificate (any role)",
    request_body = api::LintRequest,
    responses(
        (status = 200, description = "the findings, each naming its rule", body = api::LintReport),
        (status = 400, description = "not a certificate, or an unknown profile (KMS-400)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn lint_certificate(
    _a: AdminAuth,
    ApiJson(req): ApiJson<api::LintRequest>,
) -> Result<Json<api::LintReport>, ApiError> {
    let text = req.certificate.trim();
    let bytes = if text.starts_with("-----BEGIN") {
        text.as_bytes().to_vec()
    } else {
        use base64ct::Encoding;
        let compact: String = text.split_whitespace().collect();
        base64ct::Base64::decode_vec(&compact).map_err(|_| {
            ApiError::bad_request("certificate: give PEM text or DER in base64".to_string())
        })?
    };
    let cert = pki::certificate::parse_certificate(&bytes)
        .map_err(|e| ApiError::bad_request(format!("certificate: {e}")))?;
    let profile = match req.profile.as_deref() {
        Some(p) => Some(
            pki::SbrProfile::by_name(p)
                .map_err(|e| ApiError::bad_request(format!("profile: {e}")))?,
        ),
        None => None,
    };
    let report = pki::lint::lint_certificate(&cert, profile);
    Ok(Json(api::LintReport {
        kind: report.kind.as_str().to_string(),
        profile: report.profile.map(|p| p.name.to_string()),
        passes: report.passes(),
        findings: report
            .findings
            .into_iter()
            .map(|f| api::LintFinding {
                rule: f.rule.to_string(),
                severity: f.severity.as_str().to_string(),
                message: f.message,
            })
            .collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/certificates/{serial}/der",
    tag = "views",
    summary = "The certificate, DER (any role)",
    params(("serial" = String, Path, description = "hex; colons and 0x allowed")),
    responses(
        (status = 200, description = "the certificate, DER", body = Vec<u8>, content_type = "application/pkix-cert"),
        (status = 404, description = "no certificate with that serial (AUTH-011)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
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
#[utoipa::path(
    post,
    path = "/admins/me/password",
    tag = "admins",
    summary = "Change the signed-in administrator's own password; ends their other sessions (any role)",
    request_body = api::ChangePasswordRequest,
    responses(
        (status = 200, description = "success", body = api::StatusMessage),
        (status = 400, description = "wrong current password, or the new one refused (AUTH-009)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn change_own_password(
    State(s): State<Arc<AppState>>,
    a: AdminAuth,
    ApiJson(req): ApiJson<api::ChangePasswordRequest>,
) -> Result<Json<api::StatusMessage>, ApiError> {
    let (current, new) = (
        Password::new(req.current.expose()),
        Password::new(req.new.expose()),
    );
    let _permit = s.kdf_permits.acquire().await.map_err(ApiError::internal)?;
    blocking(move || {
        Ok(a.auth
            .change_own_password(&a.admin, &current, &new, Some(&a.token))?)
    })
    .await?;
    Ok(message("password changed; other sessions ended"))
}

#[utoipa::path(
    post,
    path = "/admins/{name}/role",
    tag = "admins",
    summary = "Change an administrator's role (administrator role, under the admin-change quorum; keeps an administrator)",
    params(("name" = String, Path, description = "the administrator's name")),
    request_body = api::SetRoleRequest,
    responses(
        (status = 200, description = "success", body = api::AdminResponse),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 403, description = "the role does not allow this (AUTH-004; the message names the role)", body = api::ErrorBody),
        (status = 404, description = "no such administrator (AUTH-021)", body = api::ErrorBody),
        (status = 409, description = "the last administrator (AUTH-022)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn set_role(
    a: AdminAuth,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<api::SetRoleRequest>,
) -> Result<Json<api::AdminResponse>, ApiError> {
    let role = parse_role(&req.role)?;
    let admin = blocking(move || Ok(a.auth.set_role(&a.admin, &name, role)?)).await?;
    Ok(Json(api::AdminResponse {
        admin: wire::admin_info(admin),
    }))
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

/// The revocation reason a request names (unspecified when it names none).
fn revocation_reason(reason: Option<&api::RevocationReason>) -> Result<RevocationReason, ApiError> {
    reason.map_or(Ok(RevocationReason::Unspecified), |r| {
        r.as_str()
            .parse()
            .map_err(|e| ApiError::bad_request(format!("reason: {e}")))
    })
}
