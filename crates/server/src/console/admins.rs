//! Administrators and start-up secrets: the accounts (add with a role, remove, change role,
//! each under the `admin-change` quorum, with the pending requests shown), the unlock methods
//! (list, add a password, add a key file downloaded once as the response body, remove), and
//! the signed-in administrator's own password change. Removing an administrator or a
//! start-up secret asks first on a confirmation page; a removal the server would refuse
//! (yourself, the last administrator, too few approvers left, the last start-up secret) is
//! offered disabled, with the reason.

use askama::Template;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use escrow::Password;
use serde::Deserialize;

use super::confirm::{ConfirmPage, ask_first, confirmed};
use super::recovery::{RequestRow, quorum_of, refusal_flash};
use super::users::path_segment;
use super::{Action, ConsoleError, Flash, Gate, Layout, Session, page, when};

pub(super) struct AdminRow {
    pub name: String,
    pub href: String,
    pub role: &'static str,
    pub created: String,
    pub locked: String,
    pub me: bool,
    /// Whether this account may be removed, and if not, why.
    pub remove: Gate,
}

pub(super) struct MethodRow {
    pub id: i64,
    pub kind: &'static str,
    pub label: String,
    pub key_file_id: String,
    pub created: String,
    /// Whether this secret may be removed, and if not, why.
    pub remove: Gate,
}

/// Whether `me` may remove the account `target` (the console's view of the server's rules:
/// never the last administrator, never fewer administrators than the largest quorum, and
/// not one's own account, which another administrator removes).
fn remove_admin_gate(
    me: &authority::Admin,
    target: &authority::AdminInfo,
    admins: &[authority::AdminInfo],
    policies: &[authority::Policy],
    change: &Gate,
) -> Gate {
    if !change.allowed {
        return change.clone();
    }
    if target.name == me.name {
        return Gate::refused("you cannot remove your own account; another administrator can");
    }
    if target.role == authority::Role::Administrator {
        let others = admins
            .iter()
            .filter(|a| a.role == authority::Role::Administrator && a.name != target.name)
            .count() as i64;
        if others == 0 {
            return Gate::refused(format!(
                "{} is the last administrator; add another first",
                target.name
            ));
        }
        let max_quorum = policies.iter().map(|p| p.quorum).max().unwrap_or(1);
        if others < max_quorum {
            return Gate::refused(format!(
                "only {others} administrator(s) would remain, fewer than the largest quorum \
                 ({max_quorum})"
            ));
        }
    }
    change.clone()
}

/// Whether start-up secret may be removed when there are `count` of them.
fn remove_method_gate(count: usize, change: &Gate) -> Gate {
    if !change.allowed {
        return change.clone();
    }
    if count <= 1 {
        return Gate::refused("the last start-up secret cannot be removed: add another one first");
    }
    change.clone()
}

#[derive(Template)]
#[template(path = "admins.html")]
struct AdminsPage {
    layout: Layout,
    admins: Vec<AdminRow>,
    roles: [&'static str; 3],
    requests: Vec<RequestRow>,
    methods: Vec<MethodRow>,
    change: Gate,
}

/// GET /console/admins.
pub(super) async fn show(s: Session) -> Result<Response, ConsoleError> {
    let (admins, policies, requests, methods) = s
        .call(|auth, admin| {
            Ok((
                auth.list_admins(admin)?,
                auth.policies(admin)?,
                auth.approvals(admin)?,
                auth.unlock_methods(admin)?,
            ))
        })
        .await?;
    let change =
        Gate::administrator(&s.admin).quorum("admin-change", quorum_of(&policies, "admin-change"));
    let method_change = Gate::administrator(&s.admin)
        .quorum("unlock-method", quorum_of(&policies, "unlock-method"));
    let method_count = methods.len();
    let removals: Vec<Gate> = admins
        .iter()
        .map(|a| remove_admin_gate(&s.admin, a, &admins, &policies, &change))
        .collect();
    let t = AdminsPage {
        layout: s.layout("Administrators and start-up secrets", "admins"),
        admins: admins
            .into_iter()
            .zip(removals)
            .map(|(a, remove)| AdminRow {
                remove,
                href: path_segment(&a.name),
                me: a.name == s.admin.name,
                role: a.role.as_str(),
                created: when(a.created_at),
                locked: a.locked_until.map_or_else(String::new, when),
                name: a.name,
            })
            .collect(),
        roles: ["administrator", "officer", "auditor"],
        requests: requests
            .into_iter()
            .filter(|r| r.status == "pending" && r.operation == "admin-change")
            .map(|r| RequestRow::new(r, &s))
            .collect(),
        methods: methods
            .into_iter()
            .map(|m| MethodRow {
                id: m.id,
                kind: m.kind,
                label: m.label,
                key_file_id: m.key_file_id.unwrap_or_default(),
                created: when(m.created_at),
                remove: remove_method_gate(method_count, &method_change),
            })
            .collect(),
        change,
    };
    Ok(page(StatusCode::OK, &t))
}

const BACK: &str = "/console/admins";

#[derive(Deserialize)]
pub(super) struct AddForm {
    name: String,
    role: String,
    password: String,
}

/// POST /console/admins: adds an account (under the admin-change quorum).
pub(super) async fn add(a: Action<AddForm>) -> Result<Response, ConsoleError> {
    let Action { session, form } = a;
    let role: authority::Role = match form.role.parse() {
        Ok(r) => r,
        Err(e) => return Ok(session.done(refusal_flash(&e), BACK)),
    };
    let password = Password::new(form.password);
    let name = form.name.trim().to_string();
    let r = session
        .call(move |auth, admin| Ok(auth.add_admin(admin, &name, role, &password)))
        .await?;
    let flash = match r {
        Ok(a) => Flash::ok(format!(
            "Administrator {} added as {}.",
            a.name,
            a.role.as_str()
        )),
        Err(e) => refusal_flash(&e),
    };
    Ok(session.done(flash, BACK))
}

#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    #[serde(default)]
    confirm: Option<String>,
}

/// GET /console/admins/{name}/remove: what removing the account does, or why it cannot be.
pub(super) async fn remove_confirm(
    s: Session,
    Path(name): Path<String>,
) -> Result<Response, ConsoleError> {
    let (admins, policies) = s
        .call(|auth, admin| Ok((auth.list_admins(admin)?, auth.policies(admin)?)))
        .await?;
    let target = admins
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ConsoleError::from(authority::Error::UnknownAdmin { name: name.clone() }))?;
    let change =
        Gate::administrator(&s.admin).quorum("admin-change", quorum_of(&policies, "admin-change"));
    let gate = remove_admin_gate(&s.admin, target, &admins, &policies, &change);
    let t = ConfirmPage {
        layout: s.layout(format!("Remove administrator {name}?"), "admins"),
        what: format!(
            "Remove the {} account {name}: their sessions end at once and they can no longer \
             sign in or approve requests.",
            target.role.as_str()
        ),
        items_caption: String::new(),
        items: Vec::new(),
        skipped_caption: String::new(),
        skipped: Vec::new(),
        notes: Vec::new(),
        action: format!("/console/admins/{}/remove", path_segment(&name)),
        fields: Vec::new(),
        button: format!("Yes, remove {name}"),
        gate,
        back: BACK.into(),
    };
    Ok(page(StatusCode::OK, &t))
}

/// POST /console/admins/{name}/remove (under the admin-change quorum; with `confirm=yes`,
/// without it back to the confirmation page).
pub(super) async fn remove(
    Path(name): Path<String>,
    a: Action<ConfirmForm>,
) -> Result<Response, ConsoleError> {
    if !confirmed(a.form.confirm.as_deref()) {
        return Ok(ask_first(
            &format!("/console/admins/{}/remove", path_segment(&name)),
            &[],
        ));
    }
    let n = name.clone();
    let r = a
        .session
        .call(move |auth, admin| Ok(auth.remove_admin(admin, &n)))
        .await?;
    let flash = match r {
        Ok(_) => Flash::ok(format!(
            "Administrator {name} removed; their sessions ended."
        )),
        Err(e) => refusal_flash(&e),
    };
    Ok(a.session.done(flash, BACK))
}

#[derive(Deserialize)]
pub(super) struct RoleForm {
    role: String,
}

/// POST /console/admins/{name}/role (under the admin-change quorum).
pub(super) async fn set_role(
    Path(name): Path<String>,
    a: Action<RoleForm>,
) -> Result<Response, ConsoleError> {
    let role: authority::Role = match a.form.role.parse() {
        Ok(r) => r,
        Err(e) => return Ok(a.session.done(refusal_flash(&e), BACK)),
    };
    let n = name.clone();
    let r = a
        .session
        .call(move |auth, admin| Ok(auth.set_role(admin, &n, role)))
        .await?;
    let flash = match r {
        Ok(a) => Flash::ok(format!("{} is now {}.", a.name, a.role.as_str())),
        Err(e) => refusal_flash(&e),
    };
    Ok(a.session.done(flash, BACK))
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    current: String,
    new: String,
    new2: String,
}

/// POST /console/password: the signed-in administrator's own password; other sessions end.
pub(super) async fn change_password(a: Action<PasswordForm>) -> Result<Response, ConsoleError> {
    let Action { session, form } = a;
    let (current, new, new2) = (
        Password::new(form.current),
        Password::new(form.new),
        Password::new(form.new2),
    );
    if new.expose() != new2.expose() {
        return Ok(session.done(
            Flash::error("The two new passwords differ; the password was not changed."),
            BACK,
        ));
    }
    let token = session.token.clone();
    let r = session
        .call(move |auth, admin| Ok(auth.change_own_password(admin, &current, &new, Some(&token))))
        .await?;
    let flash = match r {
        Ok(()) => Flash::ok("Your password was changed; your other sessions were ended."),
        Err(e) => Flash::error(format!("Password not changed: {e} [{}]", e.code())),
    };
    Ok(session.done(flash, BACK))
}

#[derive(Deserialize)]
pub(super) struct MethodForm {
    kind: String,
    #[serde(default)]
    password: Option<String>,
}

/// POST /console/unlock-methods: a start-up password, or a new key file whose bytes are the
/// response body (downloaded once, never stored by the console, never cached).
pub(super) async fn add_method(a: Action<MethodForm>) -> Result<Response, ConsoleError> {
    let Action { session, form } = a;
    let password = match form.kind.as_str() {
        "password" => Some(Password::new(form.password.unwrap_or_default())),
        "key-file" => {
            drop(form.password.map(zeroize::Zeroizing::new));
            None
        }
        _ => return Err(ConsoleError::bad_form("kind: password or key-file")),
    };
    let r = session
        .call(move |auth, admin| Ok(auth.add_unlock_method(admin, password.as_ref())))
        .await?;
    match r {
        Ok(m) => match m.key_file {
            Some(bytes) => {
                let mut resp = bytes.to_vec().into_response();
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                if let Ok(v) = HeaderValue::from_str(&format!(
                    "attachment; filename=\"kms-unlock-{}.keyfile\"",
                    m.method.id
                )) {
                    h.insert(header::CONTENT_DISPOSITION, v);
                }
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                Ok(resp)
            }
            None => Ok(session.done(
                Flash::ok(format!(
                    "Start-up password added as unlock method {}.",
                    m.method.id
                )),
                BACK,
            )),
        },
        Err(e) => Ok(session.done(refusal_flash(&e), BACK)),
    }
}

/// GET /console/unlock-methods/{id}/remove: what removing the start-up secret does, or why
/// it cannot be.
pub(super) async fn remove_method_confirm(
    s: Session,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let (methods, policies) = s
        .call(|auth, admin| Ok((auth.unlock_methods(admin)?, auth.policies(admin)?)))
        .await?;
    let m = methods.iter().find(|m| m.id == id).ok_or_else(|| {
        ConsoleError::page(
            StatusCode::NOT_FOUND,
            "KMS-404",
            format!("no start-up secret {id}"),
        )
    })?;
    let change = Gate::administrator(&s.admin)
        .quorum("unlock-method", quorum_of(&policies, "unlock-method"));
    let gate = remove_method_gate(methods.len(), &change);
    let t = ConfirmPage {
        layout: s.layout(format!("Remove start-up secret {id}?"), "admins"),
        what: format!(
            "Remove start-up secret {id} ({}{}): it no longer unlocks the store; the {} other \
             start-up secret(s) still do.",
            m.kind,
            if m.label.is_empty() {
                String::new()
            } else {
                format!(", {}", m.label)
            },
            methods.len().saturating_sub(1)
        ),
        items_caption: String::new(),
        items: Vec::new(),
        skipped_caption: String::new(),
        skipped: Vec::new(),
        notes: vec!["Copies of a removed key file stop working too.".into()],
        action: format!("/console/unlock-methods/{id}/remove"),
        fields: Vec::new(),
        button: format!("Yes, remove start-up secret {id}"),
        gate,
        back: BACK.into(),
    };
    Ok(page(StatusCode::OK, &t))
}

/// POST /console/unlock-methods/{id}/remove (under the unlock-method quorum; never the
/// last; with `confirm=yes`, without it back to the confirmation page).
pub(super) async fn remove_method(
    Path(id): Path<i64>,
    a: Action<ConfirmForm>,
) -> Result<Response, ConsoleError> {
    if !confirmed(a.form.confirm.as_deref()) {
        return Ok(ask_first(
            &format!("/console/unlock-methods/{id}/remove"),
            &[],
        ));
    }
    let r = a
        .session
        .call(move |auth, admin| Ok(auth.remove_unlock_method(admin, id)))
        .await?;
    let flash = match r {
        Ok(()) => Flash::ok(format!("Unlock method {id} removed.")),
        Err(e) => refusal_flash(&e),
    };
    Ok(a.session.done(flash, BACK))
}
