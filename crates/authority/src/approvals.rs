//! Quorum policies and approval requests (`migrations/0004_approvals.sql`,
//! `0005_admin_ids.sql`): how many distinct administrators must approve an operation, and the
//! requests that collect their approvals.
//!
//! A request is bound to its operation and its exact target (`recover-key` + the e-mail
//! address, `policy-change` + `recover-key=2`, ...). Approvals are keyed by administrator
//! *id*, and only approvals by accounts that are not removed and still hold the administrator
//! role count: removing an administrator withdraws their approvals, and a removed name added
//! again is a new account whose predecessor's approvals do not count for it.

use escrow::rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::{Error, Result};

/// The operations a quorum policy can govern.
pub const OPERATIONS: [&str; 4] = ["recover-key", "admin-change", "policy-change", "restore"];

/// One policy.
#[derive(Clone, Debug, Serialize)]
pub struct Policy {
    /// The operation.
    pub operation: &'static str,
    /// Distinct administrators who must approve it.
    pub quorum: i64,
}

/// An approval request as listed.
#[derive(Clone, Debug, Serialize)]
pub struct ApprovalRequest {
    /// Request id.
    pub id: i64,
    /// The operation.
    pub operation: String,
    /// Its exact target.
    pub target: String,
    /// Who opened it.
    pub requested_by: String,
    /// `pending`, `done`, `cancelled` or `expired`.
    pub status: String,
    /// Administrators whose approval counts.
    pub approved_by: Vec<String>,
    /// Approvals needed (the policy now).
    pub needed: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

pub(crate) fn check_operation(op: &str) -> Result<&'static str> {
    OPERATIONS
        .iter()
        .copied()
        .find(|o| *o == op)
        .ok_or_else(|| {
            Error::invalid(
                "operation",
                format!("{op:?}: use one of {}", OPERATIONS.join(", ")),
            )
        })
}

pub(crate) fn quorum(conn: &Connection, op: &str) -> Result<i64> {
    Ok(conn
        .query_row(
            "SELECT quorum FROM policies WHERE operation = ?1",
            [op],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(1))
}

pub(crate) fn policies(conn: &Connection) -> Result<Vec<Policy>> {
    OPERATIONS
        .iter()
        .map(|op| {
            Ok(Policy {
                operation: op,
                quorum: quorum(conn, op)?,
            })
        })
        .collect()
}

pub(crate) fn administrators(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM admins WHERE role = 'administrator' AND removed_at IS NULL",
        [],
        |r| r.get(0),
    )?)
}

/// True when account `admin_id` is not removed and holds the administrator role: the only
/// accounts whose approvals are taken and counted.
pub(crate) fn may_approve(conn: &Connection, admin_id: i64) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM admins
         WHERE id = ?1 AND role = 'administrator' AND removed_at IS NULL)",
        [admin_id],
        |r| r.get(0),
    )?)
}

/// Approvals that count (names, for people): by accounts that are not removed and still are
/// administrators.
pub(crate) fn approvers(conn: &Connection, id: i64) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT a.name FROM admin_approvals p JOIN admins a ON a.id = p.admin_id
         WHERE p.request_id = ?1 AND a.role = 'administrator' AND a.removed_at IS NULL
         ORDER BY p.approved_at, a.id",
    )?;
    let names = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

pub(crate) fn get(conn: &Connection, id: i64, now: i64) -> Result<Option<ApprovalRequest>> {
    let row: Option<(String, String, String, String, i64)> = conn
        .query_row(
            "SELECT operation, target, requested_by, status, expires_at FROM approval_requests
             WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((operation, target, requested_by, mut status, expires_at)) = row else {
        return Ok(None);
    };
    if status == "pending" && expires_at <= now {
        status = "expired".into();
    }
    let needed = quorum(conn, &operation)?;
    Ok(Some(ApprovalRequest {
        id,
        approved_by: approvers(conn, id)?,
        operation,
        target,
        requested_by,
        status,
        needed,
        expires_at,
    }))
}

pub(crate) fn list(conn: &Connection, now: i64) -> Result<Vec<ApprovalRequest>> {
    let ids = {
        let mut stmt = conn.prepare(
            "SELECT id FROM approval_requests WHERE status = 'pending' AND expires_at > ?1
             ORDER BY id",
        )?;
        stmt.query_map([now], |r| r.get(0))?
            .collect::<Result<Vec<i64>, _>>()?
    };
    ids.into_iter()
        .filter_map(|id| get(conn, id, now).transpose())
        .collect()
}

/// The open (pending, unexpired) request for exactly this operation and target.
pub(crate) fn open_request(
    conn: &Connection,
    op: &str,
    target: &str,
    now: i64,
) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT id FROM approval_requests
             WHERE operation = ?1 AND target = ?2 AND status = 'pending' AND expires_at > ?3
             ORDER BY id DESC LIMIT 1",
            params![op, target, now],
            |r| r.get(0),
        )
        .optional()?)
}

pub(crate) fn create(
    conn: &Connection,
    op: &str,
    target: &str,
    by: &str,
    now: i64,
    expires_at: i64,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO approval_requests (operation, target, requested_by, status, created_at, expires_at)
         VALUES (?1, ?2, ?3, 'pending', ?4, ?5)",
        params![op, target, by, now, expires_at],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Adds the approval of account `admin_id`; false when it was there already.
pub(crate) fn add_approval(conn: &Connection, id: i64, admin_id: i64, now: i64) -> Result<bool> {
    Ok(conn.execute(
        "INSERT OR IGNORE INTO admin_approvals (request_id, admin_id, approved_at)
         VALUES (?1, ?2, ?3)",
        params![id, admin_id, now],
    )? == 1)
}

pub(crate) fn close(conn: &Connection, id: i64, status: &str, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE approval_requests SET status = ?2, closed_at = ?3 WHERE id = ?1",
        params![id, status, now],
    )?;
    Ok(())
}
