//! The audit log: browse with filters (actor, action, outcome, time range), newest first and
//! paged on the server, and verify the chain (naming the first broken entry).

use askama::Template;
use authority::{AuditEntry, AuditQuery};
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Action, ConsoleError, Flash, Gate, Layout, Session, page, when};

/// Rows per page.
const PAGE_SIZE: i64 = 50;

pub(super) struct EntryRow {
    pub seq: i64,
    /// Compact `YYYY-MM-DD HH:MM` (UTC, said in the column header), kept on one line.
    pub at: String,
    /// The same instant for `<time datetime>`: `YYYY-MM-DDTHH:MMZ`.
    pub at_iso: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
}

impl From<AuditEntry> for EntryRow {
    fn from(e: AuditEntry) -> Self {
        EntryRow {
            seq: e.seq,
            at: compact_time(e.at),
            at_iso: format!("{}Z", compact_time(e.at).replacen(' ', "T", 1)),
            actor: e.actor,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            detail: e.detail,
        }
    }
}

#[derive(Template)]
#[template(path = "audit_log.html")]
struct AuditPage {
    layout: Layout,
    f: Filters,
    rows: Vec<EntryRow>,
    total: i64,
    page: i64,
    pages: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
    verify: Gate,
}

/// The filters as typed (kept in the form and the paging links).
#[derive(Deserialize, Default, Clone)]
pub(super) struct Filters {
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub outcome: String,
    /// `YYYY-MM-DDTHH:MM` (a `datetime-local` field), UTC.
    #[serde(default)]
    pub since: String,
    /// `YYYY-MM-DDTHH:MM`, UTC, exclusive.
    #[serde(default)]
    pub until: String,
    #[serde(default)]
    pub page: Option<i64>,
}

/// `YYYY-MM-DD HH:MM` (UTC) of a Unix time: the audit table's time column.
fn compact_time(t: i64) -> String {
    let w = when(t);
    w.strip_suffix(" UTC").map(str::to_string).unwrap_or(w)
}

/// Unix seconds from `YYYY-MM-DDTHH:MM[:SS]` (or a date alone), read as UTC.
fn parse_time(what: &str, s: &str) -> Result<Option<i64>, ConsoleError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bad =
        || ConsoleError::bad_form(format!("{what}: write the time as YYYY-MM-DDTHH:MM (UTC)"));
    let (date, time) = s.split_once(['T', ' ']).unwrap_or((s, "00:00"));
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let [y, m, day] = d[..] else {
        return Err(bad());
    };
    let (hh, mm, ss) = match t[..] {
        [h, m] => (h, m, 0),
        [h, m, s] => (h, m, s),
        _ => return Err(bad()),
    };
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || !(0..24).contains(&hh)
        || !(0..60).contains(&mm)
        || !(0..60).contains(&ss)
    {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(Some(days * 86_400 + hh * 3600 + mm * 60 + ss))
}

fn href(f: &Filters, page: i64) -> String {
    let pairs = [
        ("actor", f.actor.as_str()),
        ("action", f.action.as_str()),
        ("outcome", f.outcome.as_str()),
        ("since", f.since.as_str()),
        ("until", f.until.as_str()),
        ("page", &page.to_string()),
    ];
    format!(
        "/console/audit?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

/// GET /console/audit.
pub(super) async fn show(s: Session, Query(f): Query<Filters>) -> Result<Response, ConsoleError> {
    let page_no = f.page.unwrap_or(1).max(1);
    let nonempty = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
    let q = AuditQuery {
        actor: nonempty(&f.actor),
        action: nonempty(&f.action),
        outcome: nonempty(&f.outcome),
        since: parse_time("from", &f.since)?,
        until: parse_time("until", &f.until)?,
        limit: Some(PAGE_SIZE),
        offset: Some(
            (page_no - 1)
                .saturating_mul(PAGE_SIZE)
                .min(i64::from(u32::MAX)),
        ),
    };
    let r = s
        .call(move |auth, admin| auth.audit_search(admin, &q))
        .await?;
    let pages = ((r.total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let t = AuditPage {
        layout: s.layout("Audit log", "audit"),
        rows: r.items.into_iter().map(EntryRow::from).collect(),
        total: r.total,
        page: page_no,
        pages,
        prev_href: (page_no > 1).then(|| href(&f, page_no - 1)),
        next_href: (page_no < pages).then(|| href(&f, page_no + 1)),
        verify: Gate::open(),
        f,
    };
    Ok(page(StatusCode::OK, &t))
}

#[derive(Deserialize)]
pub(super) struct NoFields {}

/// POST /console/audit/verify: checks the whole chain and its CA-signed checkpoints.
pub(super) async fn verify(a: Action<NoFields>) -> Result<Response, ConsoleError> {
    let r = a
        .session
        .call(|auth, admin| auth.audit_verify(admin))
        .await?;
    let flash = match (&r.problem, r.ok) {
        (None, true) => Flash::ok(format!(
            "The audit chain is intact: {} entries, {} CA-signed checkpoint(s){}.",
            r.entries,
            r.checkpoints,
            r.signed_through
                .map_or_else(String::new, |s| format!(", signed through entry {s}"))
        )),
        (Some(p), _) => Flash::error(format!(
            "The audit chain is broken at entry {} ({}): {}",
            p.seq, p.kind, p.message
        )),
        (None, false) => Flash::error("The audit chain did not verify."),
    };
    Ok(a.session.done(flash, "/console/audit"))
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_are_utc() {
        assert_eq!(parse_time("t", "1970-01-01T00:00").unwrap(), Some(0));
        assert_eq!(
            parse_time("t", "2027-01-15T08:00").unwrap(),
            Some(1_800_000_000)
        );
        assert_eq!(parse_time("t", "2000-02-29").unwrap(), Some(951_782_400));
        assert_eq!(parse_time("t", "").unwrap(), None);
        assert!(parse_time("t", "2027-13-01T00:00").is_err());
        assert!(parse_time("t", "yesterday").is_err());
    }
}
