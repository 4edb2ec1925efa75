//! The dashboard: locked or unlocked (unlock with the start-up password or a key file
//! upload), the CA, counts of users and certificates, the CRL, the last backup, the public
//! URL (changed here under the `public-url` quorum) and the approvals waiting.

use std::sync::Arc;

use askama::Template;
use authority::ApprovalRequest;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use escrow::{Credential, KeyFile, Password};
use zeroize::Zeroizing;

use super::recovery::{quorum_of, refusal_flash};
use super::{
    Action, Console, ConsoleError, Flash, Gate, Layout, MAX_FORM, Session, check_pre_session, page,
    pre_session, when,
};

#[derive(Template)]
#[template(path = "unlock.html")]
struct UnlockPage {
    layout: Layout,
}

/// What the dashboard shows, formatted.
pub(super) struct Status {
    pub ca_subject: String,
    pub ca_expires: String,
    pub users: i64,
    pub users_disabled: i64,
    pub active_certificates: i64,
    pub revoked_certificates: i64,
    pub expired_certificates: i64,
    pub superseded_certificates: i64,
    pub crl_number: i64,
    pub crl_this_update: String,
    pub crl_next_update: String,
    pub delta_crl_number: i64,
    pub last_backup: Option<String>,
    pub last_verification: Option<String>,
    pub last_verification_ok: bool,
    pub pending_count: i64,
    pub pending: Vec<ApprovalRequest>,
}

impl Status {
    fn new(s: authority::Status, pending: Vec<ApprovalRequest>) -> Self {
        Status {
            ca_subject: s.ca_subject,
            ca_expires: when(s.ca_not_after),
            users: s.users.active + s.users.disabled,
            users_disabled: s.users.disabled,
            active_certificates: s.certificates.active,
            revoked_certificates: s.certificates.revoked,
            expired_certificates: s.certificates.expired,
            superseded_certificates: s.certificates.superseded,
            crl_number: s.crl.number,
            crl_this_update: when(s.crl.this_update),
            crl_next_update: when(s.crl.next_update),
            delta_crl_number: s.crl.delta_number,
            last_backup: s.last_backup.map(|b| match b.taken_at {
                Some(t) => format!("{} ({}, {} bytes)", b.name, when(t), b.bytes),
                None => format!("{} ({} bytes)", b.name, b.bytes),
            }),
            last_verification_ok: s.last_verification.as_ref().is_some_and(|v| v.ok),
            last_verification: s.last_verification.map(|v| {
                format!(
                    "{} of {} by {}, {}: {}",
                    if v.ok { "passed" } else { "FAILED" },
                    v.backup,
                    v.actor,
                    when(v.at),
                    v.summary
                )
            }),
            pending_count: s.pending_approvals,
            pending,
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    s: Status,
    /// The public URL certificates name.
    public_url: String,
    /// Changing it: administrator role, under the `public-url` quorum.
    change_url: Gate,
}

#[derive(serde::Deserialize)]
pub(super) struct PublicUrlForm {
    url: String,
}

/// POST /console/settings/public-url: changes the public URL (administrator role, under the
/// `public-url` quorum); certificates issued afterwards name it.
pub(super) async fn set_public_url(a: Action<PublicUrlForm>) -> Result<Response, ConsoleError> {
    let url = a.form.url.trim().to_string();
    let r = a
        .session
        .call(move |auth, admin| Ok(auth.set_public_url(admin, &url)))
        .await?;
    let flash = match r {
        Ok(c) => Flash::ok(format!(
            "Public URL changed from {} to {}: {}.",
            c.previous,
            c.public_url,
            authority::PUBLIC_URL_NOTE
        )),
        Err(e) => refusal_flash(&e),
    };
    Ok(a.session.done(flash, "/console"))
}

fn unlock_page(
    console: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    flash: Option<Flash>,
) -> Response {
    let (pre, set) = pre_session(console, headers);
    let mut layout = Layout::anonymous("The authority is locked", console.csrf_for("pre", &pre));
    layout.section = "dashboard";
    layout.flash = flash;
    let mut resp = page(status, &UnlockPage { layout });
    if let Some(c) = set {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// GET /console: the unlock form while locked, else (signed in) the dashboard.
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    session: Result<Session, ConsoleError>,
) -> Result<Response, ConsoleError> {
    if console.app.is_locked() {
        return Ok(unlock_page(&console, &headers, StatusCode::OK, None));
    }
    let s = session?;
    let (status, public_url, policies) = s
        .call(|auth, admin| {
            let status = auth.status(admin)?;
            let pending = auth
                .approvals(admin)?
                .into_iter()
                .filter(|r| r.status == "pending")
                .collect();
            Ok((
                Status::new(status, pending),
                auth.public_url()?,
                auth.policies(admin)?,
            ))
        })
        .await?;
    let change_url =
        Gate::administrator(&s.admin).quorum("public-url", quorum_of(&policies, "public-url"));
    Ok(page(
        StatusCode::OK,
        &DashboardPage {
            layout: s.layout("Dashboard", "dashboard"),
            s: status,
            public_url,
            change_url,
        },
    ))
}

/// POST /console/unlock (multipart): unlocks with `password` or an uploaded `key_file`.
/// Same-origin and pre-session CSRF checked first; a wrong secret changes nothing.
pub(super) async fn unlock(
    State(console): State<Arc<Console>>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Result<Response, ConsoleError> {
    let mut csrf = None;
    let mut password: Option<Zeroizing<String>> = None;
    let mut key_file: Option<Zeroizing<Vec<u8>>> = None;
    let too_big = || ConsoleError::bad_form("the upload is too large or malformed");
    while let Some(field) = multipart.next_field().await.map_err(|_| too_big())? {
        let name = field.name().unwrap_or("").to_string();
        let bytes = Zeroizing::new(field.bytes().await.map_err(|_| too_big())?.to_vec());
        if bytes.len() > MAX_FORM {
            return Err(too_big());
        }
        match name.as_str() {
            "csrf" => csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "password" if !bytes.is_empty() => {
                password = Some(Zeroizing::new(
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| ConsoleError::bad_form("the password is not UTF-8"))?,
                ))
            }
            "key_file" if !bytes.is_empty() => key_file = Some(bytes),
            _ => {}
        }
    }
    check_pre_session(&console, &headers, csrf.as_deref())?;
    if !console.app.is_locked() {
        return Ok(Redirect::to("/console").into_response());
    }
    let credential = match (password, key_file) {
        (Some(p), None) => Credential::Password(Password::new(p.as_str())),
        (None, Some(k)) => match KeyFile::from_bytes(&k, "uploaded key file") {
            Ok(k) => Credential::KeyFile(k),
            Err(e) => {
                return Ok(unlock_page(
                    &console,
                    &headers,
                    StatusCode::BAD_REQUEST,
                    Some(Flash::error(format!(
                        "The key file was refused: {e} [{}]",
                        e.code()
                    ))),
                ));
            }
        },
        _ => {
            return Ok(unlock_page(
                &console,
                &headers,
                StatusCode::BAD_REQUEST,
                Some(Flash::error(
                    "Give the start-up password or choose a key file (one of them).",
                )),
            ));
        }
    };
    let addr = console.app.client_addr(&extensions, &headers);
    let r = console.app.unlock_from(addr, credential).await;
    match r {
        Ok(()) => Ok(Redirect::to("/console/signin?reason=unlocked").into_response()),
        Err(e) if e.status() == StatusCode::CONFLICT => {
            Ok(Redirect::to("/console").into_response())
        }
        Err(e) if e.status() == StatusCode::TOO_MANY_REQUESTS => Ok(unlock_page(
            &console,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some(Flash::error(
                "Too many wrong start-up secrets from this address: wait a while and try \
                 again [KMS-429].",
            )),
        )),
        Err(e) if e.status().is_client_error() => Ok(unlock_page(
            &console,
            &headers,
            StatusCode::FORBIDDEN,
            Some(Flash::error(
                "The password or key file does not unlock this authority [AUTH-014]; nothing \
                 changed.",
            )),
        )),
        Err(_) => Err(ConsoleError::internal("unlock failed")),
    }
}
