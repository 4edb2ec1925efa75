//! The routes an administrator drives operations with: renewal (with a window and the users
//! skipped), the backup schedule, and the directory entry with both of a user's certificates.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::{AdminAuth, ApiError, ApiJson, AppState, blocking, cert_pem};

// ------------------------------------------------------------------------------------------
// Renewal.

/// `{"email": E}` renews one user (`new_key` for a new encryption key); `{"all": true}`
/// every user, with `within` (seconds) only those whose certificates expire within it.
/// `confirm` is accepted (a later change will ask for it on batch renewals).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenewRequest {
    email: Option<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    new_key: bool,
    within: Option<u64>,
    #[serde(default)]
    #[allow(dead_code)]
    confirm: bool,
}

fn renewal_json(r: &authority::Renewal) -> Value {
    let mut v = json!({ "email": r.email, "certificates": r.certificates });
    if let Some(t) = &r.enrollment_token {
        v["enrollment_token"] = json!(t.token.expose());
        v["token_expires_at"] = json!(t.expires_at);
    }
    v
}

/// `POST /api/v1/renew`: `{"renewed":[...],"failed":[{"email","code","message"}],
/// "skipped":[{"email","reason"}]}`.
pub(crate) async fn renew(
    a: AdminAuth,
    ApiJson(req): ApiJson<RenewRequest>,
) -> Result<Json<Value>, ApiError> {
    match (req.email, req.all) {
        (Some(_), false) if req.within.is_some() => Err(ApiError::bad_request(
            "\"within\" goes with \"all\": true; a user named is renewed whatever the expiry",
        )),
        (Some(email), false) => {
            let new_key = req.new_key;
            let r = blocking(move || Ok(a.auth.renew(&a.admin, &email, new_key)?)).await?;
            Ok(Json(
                json!({ "renewed": [renewal_json(&r)], "failed": [], "skipped": [] }),
            ))
        }
        (None, true) if !req.new_key => {
            let within = req.within.map(Duration::from_secs);
            let batch = blocking(move || Ok(a.auth.renew_expiring(&a.admin, within)?)).await?;
            let failed: Vec<Value> = batch
                .failed
                .iter()
                .map(|(email, e)| json!({ "email": email, "code": e.code(), "message": e.to_string() }))
                .collect();
            Ok(Json(json!({
                "renewed": batch.renewed.iter().map(renewal_json).collect::<Vec<_>>(),
                "failed": failed,
                "skipped": batch.skipped,
            })))
        }
        (None, true) => Err(ApiError::bad_request(
            "\"all\" renews certificates only; new keys are per user",
        )),
        _ => Err(ApiError::bad_request(
            "give exactly one of \"email\" or \"all\": true",
        )),
    }
}

// ------------------------------------------------------------------------------------------
// The backup schedule.

/// `GET /api/v1/backups/schedule`: `{"schedule":{"enabled","every","keep","next_at",
/// "last_at","source"}}`.
pub(crate) async fn backup_schedule(a: AdminAuth) -> Result<Json<Value>, ApiError> {
    let s = blocking(move || Ok(a.auth.backup_schedule(&a.admin)?)).await?;
    Ok(Json(json!({ "schedule": s })))
}

/// A field that must be present, `null` included (`"every": null` turns the schedule off;
/// leaving it out is a mistake, not "off").
fn required_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(d)
}

/// `{"every": SECONDS|null, "keep": N}`; `keep` left out keeps the number in effect.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetScheduleRequest {
    #[serde(deserialize_with = "required_nullable")]
    every: Option<u64>,
    keep: Option<usize>,
}

/// `POST /api/v1/backups/schedule`, under the `backup-schedule` quorum: the schedule now, or
/// the waiting answer of every quorum operation.
pub(crate) async fn set_backup_schedule(
    a: AdminAuth,
    ApiJson(req): ApiJson<SetScheduleRequest>,
) -> Result<Json<Value>, ApiError> {
    let s = blocking(move || {
        let keep = match req.keep {
            Some(k) => k,
            None => a.auth.backup_schedule(&a.admin)?.keep,
        };
        let every = req.every.map(Duration::from_secs);
        Ok(a.auth.set_backup_schedule(&a.admin, every, keep)?)
    })
    .await?;
    Ok(Json(json!({ "schedule": s })))
}

/// One line for the log: whether scheduled backups are on, how often, how many are kept and
/// when the next is due.
pub fn describe_schedule(s: &authority::BackupSchedule) -> String {
    match (s.every, s.next_at) {
        (Some(every), Some(next)) => format!(
            "scheduled backups on: every {every} s, keeping {}, next at {next} (Unix seconds; from the {})",
            s.keep,
            if s.source == "setting" {
                "backup-schedule setting"
            } else {
                "kmsd.toml"
            }
        ),
        _ => format!(
            "scheduled backups off (keeping {} of those taken on demand; kmsctl backup schedule)",
            s.keep
        ),
    }
}

// ------------------------------------------------------------------------------------------
// The directory.

/// `GET /api/v1/directory/{email}`: `{"email","capabilities","certificate"
/// (encryption, PEM),"signing_certificate" (PEM or null)}`.
pub(crate) async fn directory(
    State(s): State<Arc<AppState>>,
    Path(email): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let auth = s.authority()?;
    let entry = blocking(move || Ok(auth.directory(&email)?)).await?;
    Ok(Json(json!({
        "email": entry.email,
        "capabilities": entry.capabilities,
        "certificate": cert_pem(&entry.certificate)?,
        "signing_certificate": entry.signing_certificate.as_deref().map(cert_pem).transpose()?,
    })))
}
