//! Key recovery under its quorum: open a request, the open approval requests (approve
//! another administrator's, cancel), the recoveries waiting for key recovery agents' shares
//! (with the command each agent runs), download the PKCS#12 bundle once the quorum (and the
//! agents) are met, and the quorum policies per operation (view; change under the
//! `policy-change` quorum).

use askama::Template;
use authority::{ApprovalRequest, Policy};
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use escrow::Password;
use serde::Deserialize;

use super::agents::{AgentRequestRow, approve_command};
use super::{Action, ConsoleError, Flash, Gate, Layout, Session, page, when};

/// A request as the page lists it, with what the signed-in administrator may do with it.
pub(super) struct RequestRow {
    pub id: i64,
    pub operation: String,
    pub target: String,
    pub requested_by: String,
    /// Why the opener asked ("" when they did not say).
    pub why: String,
    pub approved_by: String,
    pub have: usize,
    pub needed: i64,
    pub expires: String,
    /// May approve it: an administrator who has not approved it yet.
    pub approve: Gate,
    /// May cancel it (administrators).
    pub cancel: Gate,
    /// A recovery whose quorum is met and which this administrator opened: the bundle can be
    /// downloaded (only the opener carries a request out).
    pub ready: bool,
}

impl RequestRow {
    pub(super) fn new(r: ApprovalRequest, s: &Session) -> Self {
        let mine = r.approved_by.contains(&s.admin.name);
        let admin_gate = Gate::administrator(&s.admin);
        let approve = if !admin_gate.allowed {
            admin_gate.clone()
        } else if mine {
            Gate::refused(format!(
                "{} approved it already; another administrator must approve",
                s.admin.name
            ))
        } else {
            Gate::open()
        };
        let have = r.approved_by.len();
        RequestRow {
            ready: r.operation == "recover-key"
                && r.requested_by == s.admin.name
                && have as i64 >= r.needed,
            why: r.why.unwrap_or_default(),
            id: r.id,
            approved_by: r.approved_by.join(", "),
            operation: r.operation,
            target: r.target,
            requested_by: r.requested_by,
            have,
            needed: r.needed,
            expires: when(r.expires_at),
            approve,
            cancel: admin_gate,
        }
    }
}

/// A policy row, with the gate for changing it.
pub(super) struct PolicyRow {
    pub operation: &'static str,
    pub quorum: i64,
}

#[derive(Template)]
#[template(path = "recovery.html")]
struct RecoveryPage {
    layout: Layout,
    requests: Vec<RequestRow>,
    /// Recoveries waiting for key recovery agents' shares.
    agent_requests: Vec<AgentRequestRow>,
    policies: Vec<PolicyRow>,
    recover: Gate,
    change_policy: Gate,
    administrators: usize,
}

/// The quorum of `op` in `policies` (1 when unset).
pub(super) fn quorum_of(policies: &[Policy], op: &str) -> i64 {
    policies
        .iter()
        .find(|p| p.operation == op)
        .map_or(1, |p| p.quorum)
}

/// GET /console/recovery.
pub(super) async fn show(s: Session) -> Result<Response, ConsoleError> {
    let (requests, policies, admins, agent_requests) = s
        .call(|auth, admin| {
            Ok((
                auth.approvals(admin)?,
                auth.policies(admin)?,
                auth.list_admins(admin)?,
                auth.agent_requests(admin)?,
            ))
        })
        .await?;
    let administrators = admins
        .iter()
        .filter(|a| a.role == authority::Role::Administrator)
        .count();
    let t = RecoveryPage {
        layout: s.layout("Key recovery and approvals", "recovery"),
        recover: Gate::administrator(&s.admin)
            .quorum("recover-key", quorum_of(&policies, "recover-key")),
        change_policy: Gate::administrator(&s.admin)
            .quorum("policy-change", quorum_of(&policies, "policy-change")),
        requests: requests
            .into_iter()
            .filter(|r| r.status == "pending")
            .map(|r| RequestRow::new(r, &s))
            .collect(),
        agent_requests: agent_requests
            .into_iter()
            .map(|r| AgentRequestRow::new(r, &s))
            .collect(),
        policies: policies
            .iter()
            .map(|p| PolicyRow {
                operation: p.operation,
                quorum: p.quorum,
            })
            .collect(),
        administrators,
    };
    Ok(page(StatusCode::OK, &t))
}

/// The flash for a quorum operation that now waits for approvals, or the refusal.
pub(super) fn refusal_flash(e: &authority::Error) -> Flash {
    match e {
        authority::Error::ApprovalPending {
            request_id,
            approved_by,
            needed,
            ..
        } => Flash::info(format!(
            "Waiting for approvals: request {request_id} has {} of {needed} ({}). Another \
             administrator approves it on this page; then run it again.",
            approved_by.len(),
            approved_by.join(", ")
        )),
        authority::Error::AgentSharesPending {
            request_id,
            target,
            released_by,
            needed,
        } => Flash::info(format!(
            "Waiting for key recovery agents: the keys of {target} are split among them and \
             agent request {request_id} has shares from {} of {needed} agents{}. Each agent runs \
             on their own machine: {}. Then submit the recovery again.",
            released_by.len(),
            if released_by.is_empty() {
                String::new()
            } else {
                format!(" ({})", released_by.join(", "))
            },
            approve_command(*request_id)
        )),
        other => Flash::error(format!("Refused: {other} [{}]", other.code())),
    }
}

#[derive(Deserialize)]
pub(super) struct RecoverForm {
    email: String,
    password: String,
    #[serde(default)]
    password2: Option<String>,
    #[serde(default)]
    reenroll: Option<String>,
    /// Why (optional; shown to the approvers, kept in the audit log).
    #[serde(default)]
    why: Option<String>,
}

/// POST /console/recovery: opens (or counts toward) a recovery request; once the quorum is
/// met the answer is the PKCS#12 bundle itself, never cached, never stored.
pub(super) async fn recover(a: Action<RecoverForm>) -> Result<Response, ConsoleError> {
    let Action { session, form } = a;
    let email = form.email.trim().to_ascii_lowercase();
    if form
        .password2
        .as_ref()
        .is_some_and(|p2| *p2 != form.password)
    {
        return Ok(session.done(
            Flash::error("The two bundle passwords differ; nothing was done."),
            "/console/recovery",
        ));
    }
    let password = Password::new(form.password);
    drop(form.password2.map(zeroize::Zeroizing::new));
    let reenroll = form.reenroll.is_some();
    let why = form
        .why
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty());
    let e = email.clone();
    let r = session
        .call(move |auth, admin| {
            Ok(auth.recover_key(admin, &e, &password, reenroll, why.as_deref()))
        })
        .await?;
    let bundle = match r {
        Ok(b) => b,
        Err(e) => return Ok(session.done(refusal_flash(&e), "/console/recovery")),
    };
    let file: String = email
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut resp = bundle.pkcs12.clone().into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pkcs12"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}-keys.p12\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-recovered-keys", HeaderValue::from(bundle.keys as u64));
    Ok(resp)
}

#[derive(Deserialize)]
pub(super) struct NoFields {}

/// POST /console/approvals/{id}/approve.
pub(super) async fn approve(
    Path(id): Path<i64>,
    a: Action<NoFields>,
) -> Result<Response, ConsoleError> {
    let r = a
        .session
        .call(move |auth, admin| Ok(auth.approve(admin, id)))
        .await?;
    let flash = match r {
        Ok(r) => Flash::ok(format!(
            "Approved request {id} ({} {}): {} of {} approvals ({}).{}",
            r.operation,
            r.target,
            r.approved_by.len(),
            r.needed,
            r.approved_by.join(", "),
            if r.approved_by.len() as i64 >= r.needed {
                format!(" {} can now carry it out.", r.requested_by)
            } else {
                String::new()
            }
        )),
        Err(e) => refusal_flash(&e),
    };
    Ok(a.session.done(flash, "/console/recovery"))
}

/// POST /console/approvals/{id}/cancel.
pub(super) async fn cancel(
    Path(id): Path<i64>,
    a: Action<NoFields>,
) -> Result<Response, ConsoleError> {
    let r = a
        .session
        .call(move |auth, admin| Ok(auth.cancel_approval(admin, id)))
        .await?;
    let flash = match r {
        Ok(_) => Flash::ok(format!("Request {id} cancelled.")),
        Err(e) => refusal_flash(&e),
    };
    Ok(a.session.done(flash, "/console/recovery"))
}

#[derive(Deserialize)]
pub(super) struct PolicyForm {
    operation: String,
    quorum: String,
}

/// POST /console/policies: sets an operation's quorum (under the policy-change quorum).
pub(super) async fn set_policy(a: Action<PolicyForm>) -> Result<Response, ConsoleError> {
    let quorum: i64 = a
        .form
        .quorum
        .trim()
        .parse()
        .map_err(|_| ConsoleError::bad_form("quorum: give a whole number"))?;
    let op = a.form.operation.clone();
    let r = a
        .session
        .call(move |auth, admin| Ok(auth.set_policy(admin, &op, quorum)))
        .await?;
    let flash = match r {
        Ok(p) => {
            let raised: Vec<String> = p
                .raised
                .iter()
                .map(|r| format!("{} to {}", r.operation, r.quorum))
                .collect();
            let also = if raised.is_empty() {
                String::new()
            } else {
                format!(" Raised with it: {}.", raised.join(", "))
            };
            Flash::ok(format!(
                "Policy {} now needs {} approval(s).{also}",
                p.policy.operation, p.policy.quorum
            ))
        }
        Err(e) => refusal_flash(&e),
    };
    Ok(a.session.done(flash, "/console/recovery"))
}
