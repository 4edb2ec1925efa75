//! The admin web console under `/console`: the router, the console's own security (session
//! cookie, CSRF tokens, same-origin check, response headers), the shared page layout, flash
//! messages, role gates and the error page. The pages live one group per file.
//!
//! # How to add a page
//!
//! 1. Write `web/templates/NAME.html`: `{% extends "base.html" %}`, fill `{% block content %}`,
//!    `{% import "macros.html" as m %}`, put `{% call m::csrf(layout) %}{% endcall %}` in
//!    every `<form method="post">` (the CSRF token; POSTs without it are refused), and show
//!    an action the administrator may not take with
//!    `{% call m::gated_button("Label", gate) %}{% endcall %}`, which disables the button
//!    and says why. `base.html` shows the title, navigation and the flash message.
//! 2. In a new `console/NAME.rs`, a template struct `#[derive(Template)]
//!    #[template(path = "NAME.html")]` holding `layout: Layout` (from [`Session::layout`]) and
//!    the page's data; GET handlers take a [`Session`] (signed-in administrator: an absent or
//!    expired session goes to sign-in), POST handlers take an [`Action<T>`] (session, same
//!    origin and CSRF checked before the form `T` is parsed). Call the authority through
//!    [`Session::call`] (the blocking pool), end a change with [`Session::done`] (a flash
//!    message and a 303 back to a page) and render with [`page`]. Errors are
//!    [`ConsoleError`]: an authority error becomes the error page with its code and message
//!    (a role refusal names the role needed), `AUTH-003` goes back to sign-in.
//! 3. Decide who may do it with [`Gate`] (`Gate::officer(&s.admin)`,
//!    `Gate::administrator(..)`, `.quorum(..)`) and pass the gate to the template; the
//!    authority checks the role again, the gate only explains.
//! 4. Add the routes in [`router`] and a link in `base.html`'s navigation.
//! 5. A destructive action (revoke, disable, remove, a batch) asks first: its button is
//!    `m::danger_button` in a GET form leading to a confirmation page (`confirm::ConfirmPage`,
//!    saying exactly what will happen, as the authority computes it), whose form posts the
//!    action with `confirm=yes`; the POST handler sends a request without it back to that
//!    page (`confirm::ask_first`). An action the server would refuse is offered disabled
//!    with the reason (a refused [`Gate`]).

mod admins;
mod agents;
mod audit;
mod backups;
mod certificates;
mod confirm;
mod dashboard;
mod recovery;
mod signin;
mod users;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use askama::Template;
use authority::{Admin, Authority, Role};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use hmac::{KeyInit, Mac};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::error::UnauditedRefusal;
use crate::{ApiError, AppState};

/// Name of the cookie holding the authority's admin session token.
pub const SESSION_COOKIE: &str = "kms_session";
/// Name of the cookie holding a random pre-session value (sign-in and unlock forms' CSRF).
pub const PRE_COOKIE: &str = "kms_pre";
/// Largest form body (a key file upload is well under 1 KiB).
pub const MAX_FORM: usize = 64 * 1024;
/// Flash messages kept for sessions that have not come back for them.
const MAX_FLASHES: usize = 4096;

/// The Content-Security-Policy of every console response: no inline script or style.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The console's state: the service, a per-process CSRF key, pending flash messages.
pub struct Console {
    app: Arc<AppState>,
    csrf: CsrfKey,
    https: bool,
    flashes: Mutex<HashMap<[u8; 32], Flash>>,
}

/// CSRF tokens: HMAC-SHA256 under a per-process random key of a purpose (`session`, `pre`)
/// and the secret the browser holds in a cookie; checked in constant time.
struct CsrfKey(Zeroizing<[u8; 32]>);

impl CsrfKey {
    fn random() -> anyhow::Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut key[..])
            .map_err(|e| anyhow::anyhow!("OS random number generator failed: {e}"))?;
        Ok(CsrfKey(key))
    }

    fn mac(&self, purpose: &str, secret: &str) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0[..])
            .expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(secret.as_bytes());
        mac
    }

    /// The token bound to `secret` (a session token or the pre-session value).
    fn token(&self, purpose: &str, secret: &str) -> String {
        hex::encode(self.mac(purpose, secret).finalize().into_bytes())
    }

    /// Checks a posted token in constant time.
    fn check(&self, purpose: &str, secret: &str, posted: &str) -> bool {
        match hex::decode(posted.trim()) {
            Ok(tag) => self.mac(purpose, secret).verify_slice(&tag).is_ok(),
            Err(_) => false,
        }
    }
}

impl Console {
    fn new(app: Arc<AppState>, https: bool) -> anyhow::Result<Self> {
        Ok(Console {
            app,
            csrf: CsrfKey::random()?,
            https,
            flashes: Mutex::new(HashMap::new()),
        })
    }

    /// The CSRF token bound to `secret` (a session token or the pre-session value).
    fn csrf_for(&self, purpose: &str, secret: &str) -> String {
        self.csrf.token(purpose, secret)
    }

    /// Checks a posted CSRF token in constant time.
    fn csrf_ok(&self, purpose: &str, secret: &str, posted: &str) -> bool {
        self.csrf.check(purpose, secret, posted)
    }

    fn flash_key(token: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(token.as_bytes()).into()
    }

    /// Leaves a message for the next page this session sees.
    fn set_flash(&self, token: &str, flash: Flash) {
        let mut f = self.flashes.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() >= MAX_FLASHES {
            f.clear();
        }
        f.insert(Self::flash_key(token), flash);
    }

    fn take_flash(&self, token: &str) -> Option<Flash> {
        self.flashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&Self::flash_key(token))
    }

    /// `Set-Cookie` value for `name`: HttpOnly, SameSite=Strict, Path=/console, Secure over
    /// TLS. An empty value with `Max-Age=0` removes the cookie.
    fn cookie(&self, name: &str, value: &str) -> HeaderValue {
        let mut c = format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/console");
        if value.is_empty() {
            c.push_str("; Max-Age=0");
        }
        if self.https {
            c.push_str("; Secure");
        }
        HeaderValue::from_str(&c).expect("cookie values are hex")
    }
}

/// The console's routes (mounted at the root of the main listener). `https` says whether the
/// listener speaks TLS (the cookies are then `Secure`).
pub fn router(app: Arc<AppState>, https: bool) -> Router {
    let console = match Console::new(app, https) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!(error = %e, "console disabled");
            return Router::new();
        }
    };
    let pages = Router::new()
        .route("/console", get(dashboard::show))
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route("/console/unlock", post(dashboard::unlock))
        .route(
            "/console/settings/public-url",
            post(dashboard::set_public_url),
        )
        .route("/console/signin", get(signin::form).post(signin::submit))
        .route("/console/signout", post(signin::sign_out))
        .route("/console/users", get(users::list).post(users::add))
        .route(
            "/console/users/renew-all",
            get(users::renew_confirm).post(users::renew_all),
        )
        .route("/console/users/{email}", get(users::show))
        .route(
            "/console/users/{email}/disable",
            get(users::disable_confirm).post(users::disable),
        )
        .route("/console/users/{email}/token", post(users::new_token))
        .route(
            "/console/users/{email}/revoke",
            get(users::revoke_confirm).post(users::revoke),
        )
        .route("/console/users/{email}/renew", post(users::renew))
        .route("/console/certificates", get(certificates::search))
        .route("/console/certificates/{serial}", get(certificates::show))
        .route(
            "/console/certificates/{serial}/revoke",
            get(certificates::revoke_confirm).post(certificates::revoke),
        )
        .route(
            "/console/certificates/{serial}/download",
            get(certificates::download_one),
        )
        .route("/console/download/ca.crt", get(certificates::download_ca))
        .route(
            "/console/download/ca.der",
            get(certificates::download_ca_der),
        )
        .route("/console/download/crl.crl", get(certificates::download_crl))
        .route(
            "/console/recovery",
            get(recovery::show).post(recovery::recover),
        )
        .route("/console/approvals/{id}/approve", post(recovery::approve))
        .route("/console/approvals/{id}/cancel", post(recovery::cancel))
        .route("/console/policies", post(recovery::set_policy))
        .route("/console/agents", get(agents::show).post(agents::add))
        .route("/console/agents/threshold", post(agents::set_threshold))
        .route(
            "/console/agents/reshare",
            get(agents::reshare_confirm).post(agents::reshare),
        )
        .route(
            "/console/agents/{name}/remove",
            get(agents::remove_confirm).post(agents::remove),
        )
        .route("/console/backups", get(backups::show).post(backups::run))
        .route("/console/backups/schedule", post(backups::set_schedule))
        .route("/console/backups/verify", post(backups::verify))
        .route("/console/backups/restore", post(backups::restore))
        .route("/console/audit", get(audit::show))
        .route("/console/audit/verify", post(audit::verify))
        .route("/console/admins", get(admins::show).post(admins::add))
        .route(
            "/console/admins/{name}/remove",
            get(admins::remove_confirm).post(admins::remove),
        )
        .route("/console/admins/{name}/role", post(admins::set_role))
        .route("/console/password", post(admins::change_password))
        .route("/console/unlock-methods", post(admins::add_method))
        .route(
            "/console/unlock-methods/{id}/remove",
            get(admins::remove_method_confirm).post(admins::remove_method),
        )
        .route("/console/{*rest}", get(not_found).post(not_found))
        .layer(middleware::map_response(page_headers));
    let assets = Router::new()
        .route("/console/static/console.css", get(css))
        .route("/console/static/console.js", get(js))
        .route("/console/static/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
        .layer(middleware::map_response(asset_headers));
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .merge(pages)
        .merge(assets)
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .with_state(console)
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`, not `no-referrer`: under `no-referrer` Chromium sends `Origin: null` on
    // form posts, which the same-origin check must refuse. Other origins still get nothing.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

async fn page_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    security_headers(h);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn asset_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    security_headers(h);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../../../web/static/console.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../../../web/static/console.js"),
    )
        .into_response()
}

/// The console's icon (SVG), also answered at `/favicon.ico` so browsers asking for it get
/// no 404.
async fn favicon() -> Response {
    (
        [(header::CONTENT_TYPE, "image/svg+xml")],
        include_str!("../../../../web/static/favicon.svg"),
    )
        .into_response()
}

async fn not_found() -> ConsoleError {
    ConsoleError::page(StatusCode::NOT_FOUND, "KMS-404", "no such console page")
}

// ------------------------------------------------------------------------------------------
// Layout, flash messages, gates.

/// What happened after an action, shown once at the top of the next page.
#[derive(Clone, Debug)]
pub struct Flash {
    /// `ok`, `info` or `error` (a CSS class and the message's role).
    pub kind: &'static str,
    /// The message.
    pub text: String,
}

impl Flash {
    /// A success message.
    pub fn ok(text: impl Into<String>) -> Self {
        Flash {
            kind: "ok",
            text: text.into(),
        }
    }
    /// A neutral message (e.g. a request waiting for approvals).
    pub fn info(text: impl Into<String>) -> Self {
        Flash {
            kind: "info",
            text: text.into(),
        }
    }
    /// A refusal or failure.
    pub fn error(text: impl Into<String>) -> Self {
        Flash {
            kind: "error",
            text: text.into(),
        }
    }
}

/// The signed-in administrator as the layout shows them.
#[derive(Clone, Debug)]
pub struct Who {
    /// Name.
    pub name: String,
    /// Role name.
    pub role: &'static str,
}

/// What `base.html` needs: title, navigation, who is signed in, the CSRF token, the flash.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Page title (also the `<h1>`).
    pub title: String,
    /// Navigation section to mark current (`dashboard`, `users`, `certificates`, ...).
    pub section: &'static str,
    /// The signed-in administrator, if any.
    pub who: Option<Who>,
    /// The CSRF token for this page's forms.
    pub csrf: String,
    /// A message from the last action.
    pub flash: Option<Flash>,
}

impl Layout {
    /// A layout for a page shown without a session (sign-in, unlock, errors).
    pub fn anonymous(title: impl Into<String>, csrf: String) -> Self {
        Layout {
            title: title.into(),
            section: "",
            who: None,
            csrf,
            flash: None,
        }
    }
}

/// Whether the signed-in administrator may do something, and if not, why: pages render a
/// gated action disabled with the reason beside it. The authority checks again.
#[derive(Clone, Debug)]
pub struct Gate {
    /// The action is offered.
    pub allowed: bool,
    /// Why not, or what will happen (approvals needed); empty when there is nothing to say.
    pub why: String,
}

impl Gate {
    /// Always allowed.
    pub fn open() -> Self {
        Gate {
            allowed: true,
            why: String::new(),
        }
    }

    /// A refusal with its reason.
    pub fn refused(why: impl Into<String>) -> Self {
        Gate {
            allowed: false,
            why: why.into(),
        }
    }

    /// Officer or administrator (users, tokens, revoke, renew).
    pub fn officer(admin: &Admin) -> Self {
        match admin.role {
            Role::Administrator | Role::Officer => Self::open(),
            Role::Auditor => Self::refused(format!(
                "needs the officer or administrator role; {} is {}",
                admin.name,
                admin.role.as_str()
            )),
        }
    }

    /// Administrator only (administrators, policies, recovery, unlock methods, backups).
    pub fn administrator(admin: &Admin) -> Self {
        match admin.role {
            Role::Administrator => Self::open(),
            Role::Officer | Role::Auditor => Self::refused(format!(
                "needs the administrator role; {} is {}",
                admin.name,
                admin.role.as_str()
            )),
        }
    }

    /// Adds what a quorum policy means for an allowed action: with a quorum above one the
    /// action opens a request that `quorum - 1` other administrators must approve.
    pub fn quorum(mut self, operation: &str, quorum: i64) -> Self {
        if self.allowed && quorum > 1 {
            self.why = format!(
                "needs {quorum} approvals under the {operation} policy: this opens a request \
                 that other administrators approve"
            );
        }
        self
    }
}

/// Renders a template into an HTML response (500 with a generic page if rendering fails).
pub fn page<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => ConsoleError::internal(e).into_response(),
    }
}

// ------------------------------------------------------------------------------------------
// Errors.

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    code: &'static str,
    message: String,
}

/// Why a console request ended other than as planned: an error page, or back to sign-in.
#[derive(Debug)]
pub enum ConsoleError {
    /// The error page with an HTTP status, a stable code and a message.
    Page {
        /// Status.
        status: StatusCode,
        /// `AUTH-0xx`, `KMS-4xx`.
        code: &'static str,
        /// What went wrong (generic for 5xx).
        message: String,
        /// The authority recorded this refusal already (its own operations audit their
        /// refusals); the console's own refusals (CSRF, origin, malformed forms) are not, and
        /// the audit layer records them.
        audited: bool,
    },
    /// Not signed in (or the session expired): to the sign-in page with this reason.
    SignIn(&'static str),
}

impl ConsoleError {
    /// An error page.
    pub fn page(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ConsoleError::Page {
            status,
            code,
            message: message.into(),
            audited: false,
        }
    }

    /// A 400 for a malformed form.
    pub fn bad_form(message: impl Into<String>) -> Self {
        Self::page(StatusCode::BAD_REQUEST, "KMS-400", message)
    }

    /// A 500 whose detail goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "console: internal error");
        Self::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "KMS-500",
            "internal error (see the server log)",
        )
    }

    fn forbidden(message: impl Into<String>) -> Self {
        Self::page(StatusCode::FORBIDDEN, "KMS-403", message)
    }
}

impl From<authority::Error> for ConsoleError {
    fn from(e: authority::Error) -> Self {
        if matches!(e, authority::Error::NotSignedIn) {
            return ConsoleError::SignIn("expired");
        }
        let code = e.code();
        let message = e.to_string();
        let fault = e.storage_fault();
        let status = ApiError::from(e).status();
        if status.is_server_error() && fault.is_none() {
            // ApiError::from logged the detail.
            return Self::page(status, "KMS-500", "internal error (see the server log)");
        }
        ConsoleError::Page {
            status,
            code,
            message,
            audited: true,
        }
    }
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        if status == StatusCode::LOCKED {
            return ConsoleError::SignIn("locked");
        }
        Self::page(status, "KMS-500", "the request failed")
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            ConsoleError::SignIn(reason) => {
                Redirect::to(&format!("/console/signin?reason={reason}")).into_response()
            }
            ConsoleError::Page {
                status,
                code,
                message,
                audited,
            } => {
                let refusal = (!audited && status.is_client_error()).then(|| UnauditedRefusal {
                    code,
                    message: message.clone(),
                });
                let t = ErrorPage {
                    layout: Layout::anonymous(
                        format!("{} {}", status.as_u16(), reason_phrase(status)),
                        String::new(),
                    ),
                    status: status.as_u16(),
                    code,
                    message,
                };
                let mut response = match t.render() {
                    Ok(html) => (status, Html(html)).into_response(),
                    Err(_) => (status, "error").into_response(),
                };
                if let Some(r) = refusal {
                    response.extensions_mut().insert(r);
                }
                response
            }
        }
    }
}

fn reason_phrase(status: StatusCode) -> &'static str {
    match status.as_u16() {
        202 => "Waiting for approvals",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
}

// ------------------------------------------------------------------------------------------
// Cookies, sessions and the CSRF check.

/// The value of cookie `name`, when it is present and looks like one of ours (hex).
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    for h in headers.get_all(header::COOKIE) {
        let Ok(s) = h.to_str() else { continue };
        for pair in s.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == name
                && !v.is_empty()
                && v.len() <= 128
                && v.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// Refuses a state-changing request whose `Origin` (or, without one, `Referer`) is not this
/// console's own origin; a request with neither is refused too.
fn same_origin(console: &Console, headers: &HeaderMap) -> Result<(), ConsoleError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| ConsoleError::forbidden("refused: the request names no Host"))?;
    let scheme = if console.https { "https" } else { "http" };
    let own = format!("{scheme}://{host}");
    if let Some(origin) = headers.get(header::ORIGIN) {
        return if origin.to_str().is_ok_and(|o| o == own) {
            Ok(())
        } else {
            Err(ConsoleError::forbidden(
                "refused: the form was posted from another site (Origin does not match)",
            ))
        };
    }
    if let Some(referer) = headers.get(header::REFERER) {
        return if referer.to_str().is_ok_and(|r| {
            r.strip_prefix(&own)
                .is_some_and(|rest| rest.starts_with('/'))
        }) {
            Ok(())
        } else {
            Err(ConsoleError::forbidden(
                "refused: the form was posted from another site (Referer does not match)",
            ))
        };
    }
    Err(ConsoleError::forbidden(
        "refused: the request carries neither Origin nor Referer",
    ))
}

fn csrf_refused() -> ConsoleError {
    ConsoleError::forbidden(
        "refused: the form's security token is missing or wrong (reload the page and try again)",
    )
}

/// A signed-in administrator (the session cookie), with the authority and this page's CSRF
/// token. An absent session goes to sign-in; an expired one too, with a message.
pub struct Session {
    console: Arc<Console>,
    /// The authority.
    pub auth: Arc<Authority>,
    /// Who is signed in.
    pub admin: Admin,
    token: Zeroizing<String>,
    origin: String,
}

impl FromRequestParts<Arc<Console>> for Session {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        let auth = console
            .app
            .authority()
            .map_err(|_| ConsoleError::SignIn("locked"))?;
        let token = Zeroizing::new(
            cookie_value(&parts.headers, SESSION_COOKIE).ok_or(ConsoleError::SignIn("none"))?,
        );
        let (a, t) = (auth.clone(), token.clone());
        let admin = crate::blocking(move || Ok(a.authenticate(&t)?))
            .await
            .map_err(|e| match e.status() {
                StatusCode::UNAUTHORIZED => ConsoleError::SignIn("expired"),
                // An initial password to change first (AUTH-028).
                StatusCode::FORBIDDEN => ConsoleError::SignIn("change-password"),
                _ => ConsoleError::internal("authenticating a console session"),
            })?;
        let scheme = if console.https { "https" } else { "http" };
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        Ok(Session {
            console: console.clone(),
            auth,
            admin,
            token,
            origin: format!("{scheme}://{host}"),
        })
    }
}

impl Session {
    /// The layout for a page of `section`, taking this session's pending flash message.
    pub fn layout(&self, title: impl Into<String>, section: &'static str) -> Layout {
        Layout {
            title: title.into(),
            section,
            who: Some(Who {
                name: self.admin.name.clone(),
                role: self.admin.role.as_str(),
            }),
            csrf: self.console.csrf_for("session", &self.token),
            flash: self.console.take_flash(&self.token),
        }
    }

    /// Runs `f` with the authority and the administrator on the blocking pool.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Authority, &Admin) -> authority::Result<T> + Send + 'static,
    ) -> Result<T, ConsoleError> {
        let (auth, admin) = (self.auth.clone(), self.admin.clone());
        match tokio::task::spawn_blocking(move || f(&auth, &admin)).await {
            Ok(r) => r.map_err(ConsoleError::from),
            Err(e) => Err(ConsoleError::internal(e)),
        }
    }

    /// Ends an action: leaves `flash` for the next page and sends the browser to `to` (303).
    pub fn done(&self, flash: Flash, to: &str) -> Response {
        self.console.set_flash(&self.token, flash);
        Redirect::to(to).into_response()
    }

    /// The origin (`https://host:port`) this console was reached at: the server URL clients
    /// such as `lockbox` use.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The CA certificate, CRLs (the published objects).
    pub fn published(&self) -> authority::Published {
        self.auth.published()
    }
}

/// A state-changing request from a signed-in administrator: the session is checked, then
/// the same-origin check and the CSRF token (`csrf` field), then the form `T` is parsed.
/// Nothing reaches a handler unless all three pass.
pub struct Action<T> {
    /// The session.
    pub session: Session,
    /// The form's other fields.
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<Arc<Console>> for Action<T> {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, console: &Arc<Console>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, console).await?;
        same_origin(console, &parts.headers)?;
        let bytes = axum::body::to_bytes(body, MAX_FORM)
            .await
            .map_err(|_| ConsoleError::bad_form("the form is too large"))?;
        let csrf = form_field(&bytes, "csrf").ok_or_else(csrf_refused)?;
        if !console.csrf_ok("session", &session.token, &csrf) {
            return Err(csrf_refused());
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ConsoleError::bad_form(format!("the form is malformed: {e}")))?;
        Ok(Action { session, form })
    }
}

/// The first value of `name` in an urlencoded body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded_pairs(body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn form_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default()
}

/// Every value of `name` in a form (repeated check boxes), in order.
pub fn form_values(pairs: &[(String, String)], name: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

/// The pre-session value (sign-in and unlock forms), creating one when absent: returns the
/// value and, when new, the `Set-Cookie` header to send.
fn pre_session(console: &Console, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(v) = cookie_value(headers, PRE_COOKIE) {
        return (v, None);
    }
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: the form will be refused, which is the safe outcome.
        return (String::new(), None);
    }
    let v = hex::encode(bytes);
    let cookie = console.cookie(PRE_COOKIE, &v);
    (v, Some(cookie))
}

/// Checks a form posted without a session (sign-in, unlock) against the pre-session cookie.
fn check_pre_session(
    console: &Console,
    headers: &HeaderMap,
    posted: Option<&str>,
) -> Result<(), ConsoleError> {
    same_origin(console, headers)?;
    let pre = cookie_value(headers, PRE_COOKIE).ok_or_else(csrf_refused)?;
    match posted {
        Some(p) if console.csrf_ok("pre", &pre, p) => Ok(()),
        _ => Err(csrf_refused()),
    }
}

/// Formats a Unix time as `YYYY-MM-DD HH:MM UTC`.
pub fn when(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(1_800_000_000), "2027-01-15 08:00 UTC");
        assert_eq!(when(951_782_400), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn gates_say_why() {
        let who = |role| Admin {
            id: 1,
            name: "oscar".into(),
            role,
        };
        assert!(Gate::officer(&who(Role::Officer)).allowed);
        let g = Gate::administrator(&who(Role::Officer));
        assert!(!g.allowed);
        assert_eq!(g.why, "needs the administrator role; oscar is officer");
        let g = Gate::officer(&who(Role::Auditor));
        assert_eq!(
            g.why,
            "needs the officer or administrator role; oscar is auditor"
        );
        let g = Gate::administrator(&who(Role::Administrator)).quorum("recover-key", 2);
        assert!(g.allowed);
        assert!(
            g.why
                .starts_with("needs 2 approvals under the recover-key policy")
        );
        let g = Gate::administrator(&who(Role::Officer)).quorum("recover-key", 2);
        assert!(!g.allowed && g.why.contains("administrator role"));
        assert!(Gate::open().quorum("restore", 1).why.is_empty());
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_secret_and_purpose() {
        let k = CsrfKey::random().unwrap();
        let t = k.token("session", "abc");
        assert_eq!(t.len(), 64);
        assert!(k.check("session", "abc", &t));
        assert!(k.check("session", "abc", &t.to_uppercase()));
        assert!(!k.check("session", "abd", &t));
        assert!(!k.check("pre", "abc", &t));
        assert!(!k.check("session", "abc", ""));
        assert!(!k.check("session", "abc", &t[..62]));
        let other = CsrfKey::random().unwrap();
        assert!(!other.check("session", "abc", &t), "the key is per process");
    }

    #[test]
    fn cookies_are_parsed_strictly() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; kms_session=abc123; kms_pre=zz"),
        );
        assert_eq!(cookie_value(&h, "kms_session").as_deref(), Some("abc123"));
        assert_eq!(cookie_value(&h, "kms_pre"), None);
        assert_eq!(cookie_value(&h, "nope"), None);
    }
}
