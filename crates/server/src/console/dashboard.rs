//! The dashboard: locked or unlocked (unlock with the start-up password or a key file
//! upload), the CA, counts of users and certificates, the CRL, the last backup and the
//! approvals waiting.

use std::sync::Arc;

use askama::Template;
use authority::ApprovalRequest;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use escrow::{Credential, KeyFile, Password};
use zeroize::Zeroizing;

use super::{
    Console, ConsoleError, Flash, Layout, MAX_FORM, Session, check_pre_session, page, pre_session,
    when,
};

#[derive(Template)]
#[template(path = "unlock.html")]
struct UnlockPage {
    layout: Layout,
}

/// What the dashboard shows.
pub(super) struct Status {
    pub ca_subject: String,
    pub ca_expires: String,
    pub users: usize,
    pub users_disabled: usize,
    pub active_certificates: usize,
    pub revoked_certificates: usize,
    pub crl_number: String,
    pub crl_this_update: String,
    pub crl_next_update: String,
    pub last_backup: Option<String>,
    pub backups: usize,
    pub pending: Vec<ApprovalRequest>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    s: Status,
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
    let published = s.published();
    let status = s
        .call(move |auth, admin| {
            let ca = pki::certificate::parse_certificate(&published.ca_der)?;
            let ca = pki::certificate::CertificateInfo::from_certificate(&ca)?;
            let crl = pki::crl::Crl::parse(&published.crl_der)?;
            let users = auth.list_users(admin)?;
            let (mut active, mut revoked) = (0, 0);
            for u in &users {
                for c in auth.user(admin, &u.email)?.certificates {
                    if c.revoked.is_some() {
                        revoked += 1;
                    } else if !c.superseded {
                        active += 1;
                    }
                }
            }
            let backups = auth.backups(admin)?;
            let pending = auth
                .approvals(admin)?
                .into_iter()
                .filter(|r| r.status == "pending")
                .collect();
            Ok(Status {
                ca_subject: ca.subject,
                ca_expires: when(unix(ca.not_after)),
                users: users.len(),
                users_disabled: users.iter().filter(|u| u.status != "active").count(),
                active_certificates: active,
                revoked_certificates: revoked,
                crl_number: crl.number().map_or("none".into(), |n| n.to_string()),
                crl_this_update: when(unix(crl.this_update())),
                crl_next_update: crl
                    .next_update()
                    .map_or("not set".into(), |t| when(unix(t))),
                last_backup: backups
                    .last()
                    .map(|b| format!("{} ({} bytes)", b.name, b.bytes)),
                backups: backups.len(),
                pending,
            })
        })
        .await?;
    Ok(page(
        StatusCode::OK,
        &DashboardPage {
            layout: s.layout("Dashboard", "dashboard"),
            s: status,
        },
    ))
}

fn unix(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// POST /console/unlock (multipart): unlocks with `password` or an uploaded `key_file`.
/// Same-origin and pre-session CSRF checked first; a wrong secret changes nothing.
pub(super) async fn unlock(
    State(console): State<Arc<Console>>,
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
    let _permit = console
        .app
        .kdf_permits
        .acquire()
        .await
        .map_err(ConsoleError::internal)?;
    let app = console.app.clone();
    let r = tokio::task::spawn_blocking(move || app.unlock(&credential))
        .await
        .map_err(ConsoleError::internal)?;
    match r {
        Ok(()) => Ok(Redirect::to("/console/signin?reason=unlocked").into_response()),
        Err(e) if e.status() == StatusCode::CONFLICT => {
            Ok(Redirect::to("/console").into_response())
        }
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
