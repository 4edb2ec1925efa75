//! Certificates and the CRL: search by serial or e-mail address, a certificate's details
//! and revocation, and downloads of the CA certificate and the CRL.

use askama::Template;
use authority::{CertDetail, CertQuery, RevokeTarget};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

use super::users::{CertRow, parse_reason, path_segment, reasons, user_href};
use super::{Action, Console, ConsoleError, Flash, Gate, Layout, Session, page, when};

/// A certificate found by a search, with its owner.
pub(super) struct Found {
    pub email: String,
    pub owner_href: String,
    pub href: String,
    pub cert: CertRow,
    /// `valid`, `expiring`, `expired`, `revoked` or `superseded` (the list's status column).
    pub status: &'static str,
    /// The revocation reason, when revoked.
    pub reason: Option<String>,
}

#[derive(Template)]
#[template(path = "certificates.html")]
struct SearchPage {
    layout: Layout,
    q: String,
    status: String,
    searched: bool,
    total: i64,
    page: i64,
    pages: i64,
    found: Vec<Found>,
    prev_href: Option<String>,
    next_href: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: Option<i64>,
}

/// Rows per page of a search.
const PAGE_SIZE: i64 = 50;

/// Whether `q` reads as a serial number (hex, colons or `0x` allowed) rather than an address.
fn is_serial(q: &str) -> bool {
    let t = q.trim().trim_start_matches("0x");
    !t.is_empty() && t.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
}

fn row_state(status: &str, reason: Option<&str>) -> String {
    match (status, reason) {
        ("revoked", Some(r)) => format!("revoked ({r})"),
        ("active", _) => "current".into(),
        (s, _) => s.into(),
    }
}

/// The list's status of a certificate: `expiring` is a valid certificate whose notAfter is
/// at most `soon` (the end of the authority's expiring window).
fn list_status(r: &authority::CertRow, soon: i64) -> &'static str {
    match r.status.as_str() {
        "revoked" => "revoked",
        "expired" => "expired",
        "superseded" => "superseded",
        _ if r.not_after <= soon => "expiring",
        _ => "valid",
    }
}

fn found(r: &authority::CertRow) -> Found {
    found_at(r, i64::MIN)
}

fn found_at(r: &authority::CertRow, soon: i64) -> Found {
    let email = r.email.clone().unwrap_or_else(|| "(server TLS)".into());
    Found {
        status: list_status(r, soon),
        reason: r.revocation_reason.clone(),
        owner_href: r.email.as_deref().map(user_href).unwrap_or_default(),
        href: cert_href(&r.serial),
        email,
        cert: CertRow {
            serial: r.serial.clone(),
            kind: r.kind.clone(),
            not_before: when(r.not_before),
            not_after: when(r.not_after),
            state: row_state(&r.status, r.revocation_reason.as_deref()),
            revocable: r.status != "revoked",
        },
    }
}

fn cert_href(serial: &str) -> String {
    format!("/console/certificates/{}", path_segment(serial))
}

/// GET /console/certificates?q=&status=&page=: every certificate, newest first, a page at a
/// time (paged in SQL over the `certificates_listing` index); `q` searches by serial (a
/// prefix) or e-mail address (a part), `status` filters.
pub(super) async fn search(
    s: Session,
    Query(q): Query<SearchQuery>,
) -> Result<Response, ConsoleError> {
    let query = q.q.trim().to_string();
    let page_no = q.page.unwrap_or(1).clamp(1, 1_000_000);
    let searched = !query.is_empty() || !q.status.is_empty();
    let cq = CertQuery {
        serial: is_serial(&query).then(|| query.clone()),
        email: (!is_serial(&query) && !query.is_empty()).then(|| query.clone()),
        status: (!q.status.is_empty()).then(|| q.status.clone()),
        limit: Some(PAGE_SIZE),
        offset: Some((page_no - 1) * PAGE_SIZE),
        ..CertQuery::default()
    };
    let (p, (_, soon)) = s
        .call(move |auth, admin| Ok((auth.certificates(admin, &cq)?, auth.expiring_window())))
        .await?;
    let (total, rows) = (p.total, p.items);
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let href = |n: i64| {
        let pairs = [
            ("q", query.as_str()),
            ("status", q.status.as_str()),
            ("page", &n.to_string()),
        ];
        format!(
            "/console/certificates?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    };
    let t = SearchPage {
        layout: s.layout("Certificates and CRL", "certificates"),
        searched,
        total,
        page: page_no,
        pages,
        prev_href: (page_no > 1).then(|| href(page_no - 1)),
        next_href: (page_no < pages).then(|| href(page_no + 1)),
        found: rows.iter().map(|r| found_at(r, soon)).collect(),
        status: q.status,
        q: query,
    };
    Ok(page(StatusCode::OK, &t))
}

#[derive(Template)]
#[template(path = "certificate.html")]
struct DetailPage {
    layout: Layout,
    found: Found,
    d: CertDetail,
    revoked_at: Option<String>,
    reasons: Vec<&'static str>,
    change: Gate,
}

/// GET /console/certificates/{serial}: one certificate in full.
pub(super) async fn show(s: Session, Path(serial): Path<String>) -> Result<Response, ConsoleError> {
    let d = s
        .call(move |auth, admin| auth.certificate(admin, &serial))
        .await?;
    let t = DetailPage {
        layout: s.layout(format!("Certificate {}", d.summary.serial), "certificates"),
        found: found(&d.summary),
        revoked_at: d.revoked_at.map(when),
        d,
        reasons: reasons(),
        change: Gate::officer(&s.admin),
    };
    Ok(page(StatusCode::OK, &t))
}

/// GET /console/certificates/{serial}/download: the certificate, PEM.
pub(super) async fn download_one(
    s: Session,
    Path(serial): Path<String>,
) -> Result<Response, ConsoleError> {
    let d = s
        .call(move |auth, admin| auth.certificate(admin, &serial))
        .await?;
    let pem = pki::certificate::parse_certificate(&d.der)
        .and_then(|c| pki::certificate::to_pem(&c))
        .map_err(ConsoleError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.crt\"", d.summary.serial),
            ),
        ],
        pem,
    )
        .into_response())
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    reason: String,
    #[serde(default)]
    confirm: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct RevokeQuery {
    #[serde(default)]
    reason: String,
}

/// GET /console/certificates/{serial}/revoke?reason=R: the certificate that would be
/// revoked, asking to confirm (refused when it is revoked already).
pub(super) async fn revoke_confirm(
    s: Session,
    Path(serial): Path<String>,
    Query(q): Query<RevokeQuery>,
) -> Result<Response, ConsoleError> {
    use super::confirm::{ConfirmPage, Item};
    let reason = parse_reason(if q.reason.is_empty() {
        "unspecified"
    } else {
        &q.reason
    })?;
    let d = s
        .call(move |auth, admin| auth.certificate(admin, &serial))
        .await?;
    let f = found(&d.summary);
    let mut gate = Gate::officer(&s.admin);
    if gate.allowed && !f.cert.revocable {
        gate = Gate::refused(format!("certificate {} is revoked already", f.cert.serial));
    }
    let t = ConfirmPage {
        layout: s.layout(
            format!("Revoke certificate {}?", f.cert.serial),
            "certificates",
        ),
        what: format!(
            "Revoke the {} certificate {} of {} with the reason {}. This cannot be undone.",
            f.cert.kind,
            f.cert.serial,
            f.email,
            reason.name()
        ),
        items_caption: "The certificate that will be revoked".into(),
        items: vec![Item {
            href: f.href.clone(),
            name: f.cert.serial.clone(),
            detail: format!("{}, valid until {}", f.cert.kind, f.cert.not_after),
        }],
        skipped_caption: String::new(),
        skipped: Vec::new(),
        notes: vec![
            "The next CRL lists it, and the OCSP responder answers \"revoked\" for it.".into(),
        ],
        action: format!("{}/revoke", f.href),
        fields: vec![("reason".into(), reason.name().into())],
        button: format!("Yes, revoke certificate {}", f.cert.serial),
        gate,
        back: f.href.clone(),
    };
    Ok(page(StatusCode::OK, &t))
}

/// POST /console/certificates/{serial}/revoke: revokes one certificate (with
/// `confirm=yes`; without, to the confirmation page).
pub(super) async fn revoke(
    Path(serial): Path<String>,
    a: Action<RevokeForm>,
) -> Result<Response, ConsoleError> {
    if !super::confirm::confirmed(a.form.confirm.as_deref()) {
        return Ok(super::confirm::ask_first(
            &format!("{}/revoke", cert_href(&serial)),
            &[("reason", &a.form.reason)],
        ));
    }
    let reason = parse_reason(&a.form.reason)?;
    let target = RevokeTarget::Serial(serial.clone());
    let outcome = a
        .session
        .call(move |auth, admin| auth.revoke(admin, &target, reason))
        .await?;
    let text = if outcome.revoked.is_empty() {
        format!("Certificate {serial} was revoked already; nothing changed.")
    } else {
        format!(
            "Revoked certificate {} ({}). {}",
            outcome.revoked.join(", "),
            reason.name(),
            crl_note(&outcome)
        )
    };
    Ok(a.session.done(Flash::ok(text), &cert_href(&serial)))
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

/// Which CRL lists a revocation: published, or due.
pub(crate) fn crl_note(outcome: &authority::RevokeOutcome) -> String {
    match outcome.crl_published_at {
        Some(_) => format!("CRL {} lists it.", outcome.crl_number),
        None => format!(
            "CRL {} that lists it is due; the server publishes it as soon as it can.",
            outcome.crl_number
        ),
    }
}
