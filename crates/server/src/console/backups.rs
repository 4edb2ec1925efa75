//! Backups: the list in `DATA_DIR/backups`, run one now, verify one (the result with its
//! counts, and the audit chain inside the backup), and restore one over the live store under
//! the `restore` quorum.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;

use axum::extract::State;

use super::recovery::{quorum_of, refusal_flash};
use super::{
    Action, Console, ConsoleError, Flash, Gate, Layout, SESSION_COOKIE, Session, page, when,
};

pub(super) struct BackupRow {
    pub name: String,
    pub bytes: u64,
    pub taken: String,
}

#[derive(Template)]
#[template(path = "backups.html")]
struct BackupsPage {
    layout: Layout,
    backups: Vec<BackupRow>,
    run: Gate,
    verify: Gate,
    restore: Gate,
    last_check: Option<String>,
}

/// GET /console/backups: newest first.
pub(super) async fn show(s: Session) -> Result<Response, ConsoleError> {
    let (mut list, status, policies) = s
        .call(|auth, admin| {
            Ok((
                auth.backups(admin)?,
                auth.status(admin)?,
                auth.policies(admin)?,
            ))
        })
        .await?;
    list.reverse();
    let backups = list
        .into_iter()
        .map(|b| BackupRow {
            taken: b
                .name
                .strip_prefix("kms-")
                .and_then(|n| n.get(..12))
                .and_then(|t| t.parse().ok())
                .map_or_else(|| "-".into(), when),
            name: b.name,
            bytes: b.bytes,
        })
        .collect();
    let last_check = status.last_verification.map(|v| {
        format!(
            "Last verification: {} of {} by {}, {}: {}",
            when(v.at),
            v.backup,
            v.actor,
            if v.ok { "passed" } else { "FAILED" },
            v.summary
        )
    });
    let t = BackupsPage {
        layout: s.layout("Backups", "backups"),
        backups,
        run: Gate::administrator(&s.admin),
        verify: Gate::open(),
        restore: Gate::administrator(&s.admin).quorum("restore", quorum_of(&policies, "restore")),
        last_check,
    };
    Ok(page(StatusCode::OK, &t))
}

#[derive(Deserialize)]
pub(super) struct NoFields {}

/// POST /console/backups: takes a backup now.
pub(super) async fn run(a: Action<NoFields>) -> Result<Response, ConsoleError> {
    let r = a
        .session
        .call(|auth, admin| Ok(auth.backup_now(Some(admin))))
        .await?;
    let flash = match r {
        Ok(b) => Flash::ok(format!(
            "Backup {} taken ({} bytes), encrypted under the store's master key.",
            b.name, b.bytes
        )),
        Err(e) => refusal_flash(&e),
    };
    Ok(a.session.done(flash, "/console/backups"))
}

#[derive(Deserialize)]
pub(super) struct VerifyForm {
    name: String,
}

/// POST /console/backups/verify: checks one backup completely on the server.
pub(super) async fn verify(a: Action<VerifyForm>) -> Result<Response, ConsoleError> {
    let name = a.form.name.trim().to_string();
    let n = name.clone();
    let r = a
        .session
        .call(move |auth, admin| Ok(auth.verify_backup(admin, &n)))
        .await?;
    let flash = match r {
        Ok(c) if c.audit.ok => Flash::ok(format!(
            "Backup {name} verified: {} escrowed key(s) of {} owner(s) decrypted and \
             authenticated, {} unlock method(s), database {} bytes intact, audit chain of {} \
             entries intact.",
            c.keys, c.owners, c.unlock_methods, c.database_bytes, c.audit.entries
        )),
        Ok(c) => Flash::error(format!(
            "Backup {name}: {} key(s) decrypted, but its audit chain is broken: {}",
            c.keys,
            c.audit
                .problem
                .map_or_else(|| "unknown problem".into(), |p| p.message)
        )),
        Err(e) => Flash::error(format!(
            "Backup {name} failed verification: {e} [{}]",
            e.code()
        )),
    };
    Ok(a.session.done(flash, "/console/backups"))
}

#[derive(Deserialize)]
pub(super) struct RestoreForm {
    name: String,
    /// The administrator typed the backup's name again: a restore replaces the live store.
    confirm: String,
}

/// POST /console/backups/restore: restores one backup over the live store (administrator
/// role, under the `restore` quorum). The authority checks the backup completely and keeps a
/// safety backup first; every session ends, so success goes back to sign-in.
pub(super) async fn restore(
    State(console): State<Arc<Console>>,
    a: Action<RestoreForm>,
) -> Result<Response, ConsoleError> {
    let name = a.form.name.trim().to_string();
    if a.form.confirm.trim() != name {
        return Ok(a.session.done(
            Flash::error(format!(
                "Not restored: type the backup's name ({name}) in the confirmation field; a \
                 restore replaces everything written since that backup."
            )),
            "/console/backups",
        ));
    }
    let n = name.clone();
    let r = a
        .session
        .call(move |auth, admin| Ok(auth.restore_backup(admin, &n)))
        .await?;
    match r {
        Ok(_) => {
            let mut resp = Redirect::to("/console/signin?reason=restored").into_response();
            resp.headers_mut()
                .append(header::SET_COOKIE, console.cookie(SESSION_COOKIE, ""));
            Ok(resp)
        }
        Err(e) => Ok(a.session.done(refusal_flash(&e), "/console/backups")),
    }
}
