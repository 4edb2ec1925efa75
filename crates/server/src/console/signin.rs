//! Sign-in (administrator name and password; a lock-out answers as a wrong password, a
//! client address over the sign-in limit is told to wait) and sign-out.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use escrow::Password;
use serde::Deserialize;

use super::{
    Action, Console, ConsoleError, Flash, Layout, PRE_COOKIE, SESSION_COOKIE, check_pre_session,
    page, pre_session,
};

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    layout: Layout,
    name: String,
}

#[derive(Deserialize)]
pub(super) struct SignInQuery {
    reason: Option<String>,
}

/// The message for `?reason=` (fixed texts only: nothing from the URL is echoed).
fn reason_flash(reason: Option<&str>) -> Option<Flash> {
    match reason? {
        "expired" => Some(Flash::info(
            "Your session expired or was ended: sign in again.",
        )),
        "signed-out" => Some(Flash::ok("You are signed out.")),
        "unlocked" => Some(Flash::ok("The authority is unlocked: sign in.")),
        "change-password" => Some(Flash::error(
            "This account was added under a quorum with an initial password: change it first \
             (kmsctl admin passwd), then sign in here.",
        )),
        "restored" => Some(Flash::ok(
            "The store was restored from a backup and every session ended: sign in again. \
             The audit log names the backup and the safety copy of the store as it was.",
        )),
        _ => None,
    }
}

fn sign_in_page(
    console: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    flash: Option<Flash>,
    name: String,
) -> Response {
    let (pre, set) = pre_session(console, headers);
    let mut layout = Layout::anonymous("Sign in", console.csrf_for("pre", &pre));
    layout.flash = flash;
    let mut resp = page(status, &SignInPage { layout, name });
    if let Some(c) = set {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// GET /console/signin: the form (the dashboard's unlock form while the authority is locked).
pub(super) async fn form(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Response {
    if console.app.is_locked() {
        return Redirect::to("/console").into_response();
    }
    sign_in_page(
        &console,
        &headers,
        StatusCode::OK,
        reason_flash(q.reason.as_deref()),
        String::new(),
    )
}

#[derive(Deserialize)]
pub(super) struct SignInForm {
    csrf: Option<String>,
    name: String,
    password: String,
    /// The TOTP code; an empty field is no code.
    #[serde(default)]
    totp: Option<String>,
}

/// POST /console/signin: signs in through the authority (its lock-out applies) and sets
/// the session cookie.
pub(super) async fn submit(
    State(console): State<Arc<Console>>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ConsoleError> {
    let form: SignInForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ConsoleError::bad_form("the sign-in form needs a name and a password"))?;
    check_pre_session(&console, &headers, form.csrf.as_deref())?;
    let auth = console
        .app
        .authority()
        .map_err(|_| ConsoleError::SignIn("locked"))?;
    let name = form.name.trim().to_string();
    let client = console.app.client_addr(&extensions, &headers);
    let _permit = match console.app.kdf_permit_for(client).await {
        Ok(p) => p,
        Err(e) if e.status() == StatusCode::TOO_MANY_REQUESTS => {
            return Ok(sign_in_page(
                &console,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                Some(Flash::error(
                    "Too many sign-in attempts in flight from this address: try again shortly.",
                )),
                name,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let password = Password::new(form.password);
    let code = form
        .totp
        .map(zeroize::Zeroizing::new)
        .filter(|c| !c.trim().is_empty());
    let n = name.clone();
    let app = console.app.clone();
    let r = tokio::task::spawn_blocking(move || {
        let from = authority::SignIn::from(client).with_totp(code.as_ref().map(|c| c.trim()));
        crate::refusals::anonymous(&app, client, || auth.login_from(&n, &password, &from))
    })
    .await
    .map_err(ConsoleError::internal)?;
    match r {
        Ok(session) => {
            console.set_flash(
                session.token.expose(),
                Flash::ok(format!(
                    "Signed in as {} ({}).",
                    session.admin.name,
                    session.admin.role.as_str()
                )),
            );
            let mut resp = Redirect::to("/console").into_response();
            resp.headers_mut().append(
                header::SET_COOKIE,
                console.cookie(SESSION_COOKIE, session.token.expose()),
            );
            resp.headers_mut()
                .append(header::SET_COOKIE, console.cookie(PRE_COOKIE, ""));
            Ok(resp)
        }
        Err(e @ authority::Error::BadCredentials) => Ok(sign_in_page(
            &console,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some(Flash::error(format!("{} [{}]", e, e.code()))),
            name,
        )),
        Err(e @ authority::Error::SignInThrottled { retry_after }) => {
            let mut resp = sign_in_page(
                &console,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                Some(Flash::error(format!("{} [{}]", e, e.code()))),
                name,
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, retry_after.into());
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub(super) struct NoFields {}

/// POST /console/signout: ends the session at the authority and clears the cookie.
pub(super) async fn sign_out(
    State(console): State<Arc<Console>>,
    a: Action<NoFields>,
) -> Result<Response, ConsoleError> {
    let token = a.session.token.clone();
    a.session.call(move |auth, _| auth.logout(&token)).await?;
    let mut resp = Redirect::to("/console/signin?reason=signed-out").into_response();
    resp.headers_mut()
        .append(header::SET_COOKIE, console.cookie(SESSION_COOKIE, ""));
    Ok(resp)
}
