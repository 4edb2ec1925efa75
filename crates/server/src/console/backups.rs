//! Backups: the schedule (on or off, interval, backups kept, next run) shown and changed under
//! the `backup-schedule` quorum (requests waiting shown), the list in `DATA_DIR/backups` with
//! the last verification of each, run one now, verify one (the result with its counts, and
//! the audit chain inside the backup), and restore one over the live store under the
//! `restore` quorum.

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
    /// The last verification of this backup, if any: (passed, text).
    pub verified: Option<(bool, String)>,
}

/// The schedule in effect, formatted.
pub(super) struct ScheduleView {
    pub enabled: bool,
    pub every: String,
    /// The interval in minutes, to fill the form.
    pub every_minutes: u64,
    pub keep: usize,
    pub next_run: String,
    pub last_run: String,
    pub source: &'static str,
}

/// An interval in words: `1 day`, `6 hours`, `90 minutes`.
fn interval(secs: u64) -> String {
    let unit = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    if secs.is_multiple_of(86_400) {
        unit(secs / 86_400, "day")
    } else if secs.is_multiple_of(3600) {
        unit(secs / 3600, "hour")
    } else if secs.is_multiple_of(60) {
        unit(secs / 60, "minute")
    } else {
        unit(secs, "second")
    }
}

impl ScheduleView {
    fn new(s: &authority::BackupSchedule) -> Self {
        ScheduleView {
            enabled: s.enabled,
            every: s.every.map_or_else(|| "off".into(), interval),
            every_minutes: s.every.map_or(1440, |e| (e / 60).max(1)),
            keep: s.keep,
            next_run: s.next_at.map_or_else(|| "none (schedule off)".into(), when),
            last_run: s.last_at.map_or_else(|| "none yet".into(), when),
            source: if s.source == "setting" {
                "set in the console or API"
            } else {
                "from kmsd.toml (no setting made yet)"
            },
        }
    }
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
    schedule: ScheduleView,
    /// Changing the schedule: administrator role, under the `backup-schedule` quorum.
    change_schedule: Gate,
    /// `backup-schedule` requests waiting for approvals.
    schedule_pending: Vec<authority::ApprovalRequest>,
}

/// GET /console/backups: the schedule, then the backups newest first.
pub(super) async fn show(s: Session) -> Result<Response, ConsoleError> {
    let (mut list, status, policies, verifications, approvals) = s
        .call(|auth, admin| {
            Ok((
                auth.backups(admin)?,
                auth.status(admin)?,
                auth.policies(admin)?,
                auth.backup_verifications(admin)?,
                auth.approvals(admin)?,
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
            verified: verifications.get(&b.name).map(|v| {
                (
                    v.ok,
                    format!(
                        "{} {} by {}",
                        if v.ok { "passed" } else { "FAILED" },
                        when(v.at),
                        v.actor
                    ),
                )
            }),
            name: b.name,
            bytes: b.bytes,
        })
        .collect();
    let schedule = ScheduleView::new(&status.backup_schedule);
    let schedule_pending = approvals
        .into_iter()
        .filter(|r| r.operation == "backup-schedule" && r.status == "pending")
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
        schedule,
        change_schedule: Gate::administrator(&s.admin)
            .quorum("backup-schedule", quorum_of(&policies, "backup-schedule")),
        schedule_pending,
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
pub(super) struct ScheduleForm {
    /// `on` or `off`.
    state: String,
    /// Minutes between backups (with `on`).
    #[serde(default)]
    every_minutes: Option<String>,
    /// Backups kept.
    keep: String,
}

/// POST /console/backups/schedule: sets the backup schedule (administrator role, under the
/// `backup-schedule` quorum: the first submission opens a request, shown as waiting).
pub(super) async fn set_schedule(a: Action<ScheduleForm>) -> Result<Response, ConsoleError> {
    let keep = a.form.keep.trim().parse::<usize>();
    let every = match a.form.state.as_str() {
        "off" => Ok(None),
        "on" => a
            .form
            .every_minutes
            .as_deref()
            .unwrap_or("")
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|m| (1..=100 * 365 * 24 * 60).contains(m))
            .map(|m| Some(std::time::Duration::from_secs(m * 60)))
            .ok_or(()),
        _ => Err(()),
    };
    let (Ok(every), Ok(keep)) = (every, keep) else {
        return Ok(a.session.done(
            Flash::error(
                "Not changed: choose on or off, give the minutes between backups (at least 1) \
                 and how many backups to keep (1 to 10000).",
            ),
            "/console/backups",
        ));
    };
    let r = a
        .session
        .call(move |auth, admin| Ok(auth.set_backup_schedule(admin, every, keep)))
        .await?;
    let flash = match r {
        Ok(s) => Flash::ok(match s.every {
            Some(e) => format!(
                "Backup schedule on: a backup every {}, the newest {} kept; next run {}.",
                interval(e),
                s.keep,
                s.next_at.map_or_else(|| "-".into(), when)
            ),
            None => format!(
                "Backup schedule off: no scheduled backups; the newest {} kept.",
                s.keep
            ),
        }),
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
