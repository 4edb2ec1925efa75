//! The dashboard: locked or unlocked (unlock with the start-up password or a key file
//! upload); "is everything all right?": the health checks (as the authority's background
//! thread last computed them, never per view), the counts of what needs attention (each
//! linking to its list) and issuance and revocations per day over 90 days as inline SVG
//! charts drawn here; the CA, counts of users and certificates, the CRL, the last backup, the
//! public URL (changed here under the `public-url` quorum), the key recovery agents (threshold,
//! how many, recoveries waiting for their shares) and the approvals waiting.

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
    /// The newest backup's file name (wrapped only at its hyphens and dots).
    pub last_backup_name: Option<String>,
    /// The schedule in effect, in words.
    pub backup_schedule: String,
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
            last_backup_name: s.last_backup.as_ref().map(|b| b.name.clone()),
            last_backup: s.last_backup.map(|b| match b.taken_at {
                Some(t) => format!("{}, {} bytes", when(t), b.bytes),
                None => format!("{} bytes", b.bytes),
            }),
            backup_schedule: match s.backup_schedule.every {
                Some(e) => format!(
                    "on, every {} (next run {})",
                    if e % 3600 == 0 {
                        format!("{} h", e / 3600)
                    } else {
                        format!("{} min", e.div_ceil(60))
                    },
                    s.backup_schedule.next_at.map_or_else(|| "-".into(), when)
                ),
                None => "off".into(),
            },
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

/// One health check, formatted.
pub(super) struct CheckRow {
    pub name: &'static str,
    pub title: &'static str,
    pub state: &'static str,
    pub message: String,
}

/// One count of what needs attention, with the list it links to.
pub(super) struct AttentionItem {
    pub id: &'static str,
    pub label: String,
    pub count: i64,
    pub href: &'static str,
}

/// One bar of a chart (SVG user units).
pub(super) struct Bar {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub label: String,
}

/// A bar chart of one series per day, drawn as inline SVG by the template.
pub(super) struct Chart {
    pub id: &'static str,
    pub title: String,
    pub desc: String,
    pub class: &'static str,
    pub bars: Vec<Bar>,
    pub max: i64,
    pub total: i64,
    pub first_day: String,
    pub last_day: String,
    /// Days with something, newest first: (date, count), the table alternative.
    pub rows: Vec<(String, i64)>,
}

/// Chart geometry (SVG user units): 90 bars of 6 plus their gaps, under a 100-high plot.
pub(super) const CHART_W: u32 = 4 * 2 + 90 * 6;
pub(super) const CHART_PLOT_H: u32 = 100;
pub(super) const CHART_H: u32 = CHART_PLOT_H + 18;

fn day(t: i64) -> String {
    when(t).get(..10).unwrap_or_default().to_string()
}

fn chart(id: &'static str, what: &str, class: &'static str, days: &[(i64, i64)]) -> Chart {
    let max = days.iter().map(|d| d.1).max().unwrap_or(0);
    let total = days.iter().map(|d| d.1).sum();
    let slot = (CHART_W - 8) / u32::try_from(days.len().max(1)).unwrap_or(1);
    let bars = days
        .iter()
        .enumerate()
        .filter(|(_, d)| d.1 > 0)
        .map(|(i, &(t, n))| {
            let h = if max > 0 {
                u32::try_from((n * i64::from(CHART_PLOT_H) + max - 1) / max).unwrap_or(0)
            } else {
                0
            }
            .clamp(1, CHART_PLOT_H);
            Bar {
                x: 4 + u32::try_from(i).unwrap_or(0) * slot,
                y: CHART_PLOT_H - h,
                w: slot.saturating_sub(1).max(1),
                h,
                label: format!("{}: {n} {what}", day(t)),
            }
        })
        .collect();
    let first_day = days.first().map(|d| day(d.0)).unwrap_or_default();
    let last_day = days.last().map(|d| day(d.0)).unwrap_or_default();
    Chart {
        id,
        title: format!("Certificates {what} per day"),
        desc: format!(
            "{total} certificates {what} from {first_day} to {last_day}; at most {max} on one day."
        ),
        class,
        bars,
        max,
        total,
        first_day,
        last_day,
        rows: days
            .iter()
            .rev()
            .filter(|d| d.1 > 0)
            .map(|&(t, n)| (day(t), n))
            .collect(),
    }
}

/// The health report, formatted for the dashboard.
pub(super) struct Health {
    pub computed: String,
    pub overall: &'static str,
    pub checks: Vec<CheckRow>,
    pub attention: Vec<AttentionItem>,
    pub charts: Vec<Chart>,
}

impl Health {
    fn new(h: &authority::HealthReport) -> Self {
        let a = &h.attention;
        let issued: Vec<(i64, i64)> = h.activity.iter().map(|d| (d.day, d.issued)).collect();
        let revoked: Vec<(i64, i64)> = h.activity.iter().map(|d| (d.day, d.revoked)).collect();
        Health {
            computed: when(h.computed_at),
            overall: h.overall.as_str(),
            checks: h
                .checks
                .iter()
                .map(|c| CheckRow {
                    name: c.name,
                    title: c.title,
                    state: c.state.as_str(),
                    message: c.message.clone(),
                })
                .collect(),
            attention: vec![
                AttentionItem {
                    id: "attention-expiring",
                    label: format!(
                        "Certificates expiring within {} days",
                        a.expiring_window_days
                    ),
                    count: a.expiring_certificates,
                    href: "/console/users?state=expiring",
                },
                AttentionItem {
                    id: "attention-invitations",
                    label: "Invitations pending (token not used yet)".into(),
                    count: a.pending_invitations,
                    href: "/console/users?state=invited",
                },
                AttentionItem {
                    id: "attention-approvals",
                    label: "Approvals waiting".into(),
                    count: a.approvals_waiting,
                    href: "/console/recovery",
                },
                AttentionItem {
                    id: "attention-approvals-soon",
                    label: "Approvals expiring within two hours".into(),
                    count: a.approvals_expiring_soon,
                    href: "/console/recovery",
                },
                AttentionItem {
                    id: "attention-signins",
                    label: "Failed sign-ins in the last 24 hours".into(),
                    count: a.failed_signins_last_day,
                    href: "/console/audit?action=login&outcome=refused",
                },
            ],
            charts: vec![
                chart("chart-issued", "issued", "chart-bar-issued", &issued),
                chart("chart-revoked", "revoked", "chart-bar-revoked", &revoked),
            ],
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    s: Status,
    /// The health checks, counts and charts.
    h: Health,
    chart_w: u32,
    chart_h: u32,
    chart_plot_h: u32,
    /// The public URL certificates name.
    public_url: String,
    /// Changing it: administrator role, under the `public-url` quorum.
    change_url: Gate,
    /// The key recovery agents in three numbers.
    agents: authority::AgentSummary,
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
    let (status, health, public_url, policies, agents) = s
        .call(|auth, admin| {
            let status = auth.status(admin)?;
            let mut health = Health::new(&*auth.health_report(admin)?);
            let agents = auth.agent_summary(admin)?;
            health.attention.push(AttentionItem {
                id: "attention-agent-requests",
                label: "Recoveries waiting for key recovery agents' shares".into(),
                count: agents.requests_waiting,
                href: "/console/agents#h-agent-requests",
            });
            let pending = auth
                .approvals(admin)?
                .into_iter()
                .filter(|r| r.status == "pending")
                .collect();
            Ok((
                Status::new(status, pending),
                health,
                auth.public_url()?,
                auth.policies(admin)?,
                agents,
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
            h: health,
            chart_w: CHART_W,
            chart_h: CHART_H,
            chart_plot_h: CHART_PLOT_H,
            public_url,
            change_url,
            agents,
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
