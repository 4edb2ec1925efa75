//! Certificates and the CRL: search by serial or e-mail address, a certificate's details
//! and revocation, and downloads of the CA certificate and the CRL.

use askama::Template;
use authority::{CertSummary, RevokeTarget};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

use super::users::{CertRow, parse_reason, path_segment, reasons, user_href};
use super::{Action, Console, ConsoleError, Flash, Gate, Layout, Session, page};

/// A certificate found by a search, with its owner.
pub(super) struct Found {
    pub email: String,
    pub owner_href: String,
    pub href: String,
    pub cert: CertRow,
}

#[derive(Template)]
#[template(path = "certificates.html")]
struct SearchPage {
    layout: Layout,
    q: String,
    searched: bool,
    found: Vec<Found>,
}

#[derive(Deserialize, Default)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// Certificates whose serial (hex, any case, colons ignored) or owner's address matches
/// `q`, owner by owner.
fn find(
    auth: &authority::Authority,
    admin: &authority::Admin,
    q: &str,
) -> authority::Result<Vec<(String, CertSummary)>> {
    let q = q.trim().to_lowercase();
    let serial_q: String = q.chars().filter(|c| *c != ':').collect();
    let mut out = Vec::new();
    for u in auth.list_users(admin)? {
        let owner_matches = u.email.to_lowercase().contains(&q);
        for c in auth.user(admin, &u.email)?.certificates {
            if owner_matches || (!serial_q.is_empty() && c.serial.to_lowercase() == serial_q) {
                out.push((u.email.clone(), c));
            }
        }
    }
    Ok(out)
}

fn cert_href(serial: &str) -> String {
    format!("/console/certificates/{}", path_segment(serial))
}

/// GET /console/certificates?q=: search by serial number or e-mail address.
pub(super) async fn search(
    s: Session,
    Query(q): Query<SearchQuery>,
) -> Result<Response, ConsoleError> {
    let query = q.q.trim().to_string();
    let found = if query.is_empty() {
        Vec::new()
    } else {
        let qq = query.clone();
        s.call(move |auth, admin| find(auth, admin, &qq)).await?
    };
    let t = SearchPage {
        layout: s.layout("Certificates and CRL", "certificates"),
        searched: !query.is_empty(),
        q: query,
        found: found
            .iter()
            .map(|(email, c)| Found {
                owner_href: user_href(email),
                href: cert_href(&c.serial),
                email: email.clone(),
                cert: CertRow::from(c),
            })
            .collect(),
    };
    Ok(page(StatusCode::OK, &t))
}

#[derive(Template)]
#[template(path = "certificate.html")]
struct DetailPage {
    layout: Layout,
    found: Found,
    reasons: Vec<&'static str>,
    change: Gate,
}

/// GET /console/certificates/{serial}: one certificate.
pub(super) async fn show(s: Session, Path(serial): Path<String>) -> Result<Response, ConsoleError> {
    let q = serial.clone();
    let found = s
        .call(move |auth, admin| {
            let serial_q: String = q.to_lowercase().chars().filter(|c| *c != ':').collect();
            Ok(find(auth, admin, &q)?
                .into_iter()
                .find(|(_, c)| c.serial.to_lowercase() == serial_q))
        })
        .await?;
    let Some((email, c)) = found else {
        return Err(ConsoleError::page(
            StatusCode::NOT_FOUND,
            "AUTH-011",
            format!("no certificate with serial {serial}"),
        ));
    };
    let t = DetailPage {
        layout: s.layout(format!("Certificate {}", c.serial), "certificates"),
        found: Found {
            owner_href: user_href(&email),
            href: cert_href(&c.serial),
            email,
            cert: CertRow::from(&c),
        },
        reasons: reasons(),
        change: Gate::officer(&s.admin),
    };
    Ok(page(StatusCode::OK, &t))
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    reason: String,
}

/// POST /console/certificates/{serial}/revoke: revokes one certificate.
pub(super) async fn revoke(
    Path(serial): Path<String>,
    a: Action<RevokeForm>,
) -> Result<Response, ConsoleError> {
    let reason = parse_reason(&a.form.reason)?;
    let target = RevokeTarget::Serial(serial.clone());
    let serials = a
        .session
        .call(move |auth, admin| auth.revoke(admin, &target, reason))
        .await?;
    Ok(a.session.done(
        Flash::ok(format!(
            "Revoked certificate {} ({}). The CRL was re-signed.",
            serials.join(", "),
            reason.name()
        )),
        &cert_href(&serial),
    ))
}

fn download(content_type: &'static str, file: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                match file {
                    "ca.crt" => "attachment; filename=\"ca.crt\"",
                    "ca.der" => "attachment; filename=\"ca.der\"",
                    _ => "attachment; filename=\"crl.crl\"",
                },
            ),
        ],
        body,
    )
        .into_response()
}

/// GET /console/download/ca.crt: the CA certificate, PEM.
pub(super) async fn download_ca(State(c): State<Arc<Console>>) -> Result<Response, ConsoleError> {
    let pem = c.app.published().ca_pem().map_err(ConsoleError::internal)?;
    Ok(download(
        "application/x-pem-file",
        "ca.crt",
        pem.into_bytes(),
    ))
}

/// GET /console/download/ca.der: the CA certificate, DER.
pub(super) async fn download_ca_der(State(c): State<Arc<Console>>) -> Response {
    download("application/pkix-cert", "ca.der", c.app.published().ca_der)
}

/// GET /console/download/crl.crl: the full CRL, DER.
pub(super) async fn download_crl(State(c): State<Arc<Console>>) -> Response {
    download("application/pkix-crl", "crl.crl", c.app.published().crl_der)
}
