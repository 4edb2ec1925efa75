//! Quorum policies and approval requests (`migrations/sqlite/0004_approvals.sql`,
//! `0005_admin_ids.sql`): how many distinct administrators must approve an operation, and the
//! requests that collect their approvals.
//!
//! A request is bound to its operation, its exact target (`recover-key` + the e-mail
//! address, `policy-change` + `recover-key=2`, ...), its opener (an account id: only the
//! opener carries it out) and a salted SHA-256 digest of the parameters it carries (a new
//! administrator's initial password, a start-up password): a different parameter is a
//! different request, so approvals never transfer. Approvals are keyed by administrator
//! *id*, and only approvals by accounts that are not removed and still hold the administrator
//! role count: removing an administrator withdraws their approvals, and a removed name added
//! again is a new account whose predecessor's approvals do not count for it.

use db::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The operations a quorum policy can govern (the registry's names).
pub const OPERATIONS: &[&str] = &[
    "recover-key",
    "reenroll",
    "admin-change",
    "policy-change",
    "restore",
    "unlock-method",
    "public-url",
    "backup-schedule",
    "agent-change",
    "hsm",
];

/// The operational quorums: every other operation governs and is kept at least as high as
/// the highest of these.
pub const OPERATIONAL: &[&str] = &["recover-key", "reenroll"];

/// The longest reason (`why`) a request may carry, in characters.
pub const WHY_MAX: usize = 500;

/// A parameter a request carries, bound by digest: its name and its bytes.
pub(crate) type Param<'a> = (&'a str, &'a [u8]);

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
    /// Who opened it (the only administrator who can carry it out).
    pub requested_by: String,
    /// Why, as the opener gave it.
    pub why: Option<String>,
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

/// The highest operational quorum.
pub(crate) fn highest_operational(conn: &Connection) -> Result<i64> {
    let mut q = 1;
    for op in OPERATIONAL {
        q = q.max(quorum(conn, op)?);
    }
    Ok(q)
}

/// The highest quorum of any operation.
pub(crate) fn highest(conn: &Connection) -> Result<i64> {
    Ok(
        conn.query_row("SELECT coalesce(max(quorum), 1) FROM policies", [], |r| {
            r.get(0)
        })?,
    )
}

/// The approvals `op` needs now: its policy, except `restore`, which needs the highest
/// quorum of all (a restore can bring back anything).
pub(crate) fn effective_quorum(conn: &Connection, op: &str) -> Result<i64> {
    let q = quorum(conn, op)?;
    if op == "restore" {
        return Ok(q.max(highest(conn)?));
    }
    Ok(q)
}

/// Raises every governing quorum (and `reenroll` to `recover-key`) to the invariant's floor;
/// returns the policies raised, with their new quorums.
pub(crate) fn enforce_invariants(conn: &Connection) -> Result<Vec<Policy>> {
    let mut raised = Vec::new();
    let recover = quorum(conn, "recover-key")?;
    if quorum(conn, "reenroll")? < recover {
        set(conn, "reenroll", recover)?;
        raised.push(Policy {
            operation: "reenroll",
            quorum: recover,
        });
    }
    let floor = highest_operational(conn)?;
    for op in OPERATIONS.iter().filter(|o| !OPERATIONAL.contains(o)) {
        if quorum(conn, op)? < floor {
            set(conn, op, floor)?;
            raised.push(Policy {
                operation: op,
                quorum: floor,
            });
        }
    }
    Ok(raised)
}

pub(crate) fn set(conn: &Connection, op: &str, quorum: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO policies (operation, quorum) VALUES (?1, ?2)
         ON CONFLICT (operation) DO UPDATE SET quorum = excluded.quorum",
        params![op, quorum],
    )?;
    Ok(())
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
    let row: Option<(String, String, String, String, i64, Option<String>)> = conn
        .query_row(
            "SELECT operation, target, requested_by, status, expires_at, why
             FROM approval_requests WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    let Some((operation, target, requested_by, mut status, expires_at, why)) = row else {
        return Ok(None);
    };
    if status == "pending" && expires_at <= now {
        status = "expired".into();
    }
    let needed = effective_quorum(conn, &operation)?;
    Ok(Some(ApprovalRequest {
        id,
        approved_by: approvers(conn, id)?,
        operation,
        target,
        requested_by,
        why,
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

/// The salted digest of a request's parameters: SHA-256 over a domain label, a secret
/// `pepper` that is not in the database (derived from the CA key, so the stored digest of an
/// initial password cannot be tried offline from a copy of the database), the request's
/// salt and each parameter's name and bytes, each length-prefixed.
pub(crate) fn params_digest(pepper: &[u8; 32], salt: &[u8], params: &[Param<'_>]) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    field(b"kms-approval-params-v1");
    field(pepper);
    field(salt);
    for (name, value) in params {
        field(name.as_bytes());
        field(value);
    }
    h.finalize().into()
}

/// The open (pending, unexpired) request of opener `opener_id` for exactly this operation,
/// target and parameters.
pub(crate) fn open_request(
    conn: &Connection,
    op: &str,
    target: &str,
    opener_id: i64,
    pepper: &[u8; 32],
    params: &[Param<'_>],
    now: i64,
) -> Result<Option<i64>> {
    let mut stmt = conn.prepare(
        "SELECT id, params_salt, params_digest FROM approval_requests
         WHERE operation = ?1 AND target = ?2 AND opener_id = ?3 AND status = 'pending'
           AND expires_at > ?4
         ORDER BY id DESC",
    )?;
    let rows = stmt
        .query_map(params![op, target, opener_id, now], |r| {
            Ok((
                r.get::<i64>(0)?,
                r.get::<Option<Vec<u8>>>(1)?,
                r.get::<Option<Vec<u8>>>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (id, salt, digest) in rows {
        if let (Some(salt), Some(digest)) = (salt, digest)
            && params_digest(pepper, &salt, params)[..] == digest[..]
        {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// What a new request records.
pub(crate) struct NewRequest<'a> {
    pub op: &'a str,
    pub target: &'a str,
    pub opener_id: i64,
    pub opener: &'a str,
    pub why: Option<&'a str>,
    pub pepper: &'a [u8; 32],
    pub params: &'a [Param<'a>],
    pub now: i64,
    pub expires_at: i64,
}

pub(crate) fn create(conn: &Connection, r: &NewRequest<'_>) -> Result<i64> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| Error::Corrupt(format!("OS random number generator failed: {e}")))?;
    let digest = params_digest(r.pepper, &salt, r.params);
    Ok(conn.query_row(
        "INSERT INTO approval_requests (operation, target, requested_by, status, created_at,
             expires_at, opener_id, why, params_salt, params_digest)
         VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        params![
            r.op,
            r.target,
            r.opener,
            r.now,
            r.expires_at,
            r.opener_id,
            r.why,
            &salt[..],
            &digest[..]
        ],
        |r| r.get(0),
    )?)
}

/// Checks a reason given with a request: at most [`WHY_MAX`] characters, no control
/// characters; blank is none.
pub(crate) fn check_why(why: Option<&str>) -> Result<Option<&str>> {
    let Some(w) = why.map(str::trim).filter(|w| !w.is_empty()) else {
        return Ok(None);
    };
    if w.chars().count() > WHY_MAX || w.chars().any(char::is_control) {
        return Err(Error::invalid(
            "why",
            format!("give at most {WHY_MAX} printable characters"),
        ));
    }
    Ok(Some(w))
}

/// Adds the approval of account `admin_id`; false when it was there already.
pub(crate) fn add_approval(conn: &Connection, id: i64, admin_id: i64, now: i64) -> Result<bool> {
    Ok(conn.execute(
        "INSERT INTO admin_approvals (request_id, admin_id, approved_at)
         VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![id, admin_id, now],
    )? == 1)
}

/// Forgets the parameter digests of requests that expired.
pub(crate) fn forget_expired(conn: &Connection, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE approval_requests SET params_salt = NULL, params_digest = NULL
         WHERE status = 'pending' AND expires_at <= ?1 AND params_digest IS NOT NULL",
        [now],
    )?;
    Ok(())
}

pub(crate) fn close(conn: &Connection, id: i64, status: &str, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE approval_requests SET status = ?2, closed_at = ?3, params_salt = NULL,
             params_digest = NULL
         WHERE id = ?1",
        params![id, status, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_binds_every_parameter_the_salt_and_the_pepper() {
        let (pepper, salt) = ([7u8; 32], [1u8; 16]);
        let p: &[Param<'_>] = &[("role", b"administrator"), ("password", b"initial one")];
        let d = params_digest(&pepper, &salt, p);
        assert_eq!(d, params_digest(&pepper, &salt, p));
        let other: &[Param<'_>] = &[("role", b"administrator"), ("password", b"initial two")];
        assert_ne!(d, params_digest(&pepper, &salt, other));
        assert_ne!(d, params_digest(&pepper, &[2u8; 16], p));
        assert_ne!(d, params_digest(&[8u8; 32], &salt, p));
        // Length-prefixed: moving bytes between name and value changes the digest.
        let shifted: &[Param<'_>] = &[("rolea", b"dministrator"), ("password", b"initial one")];
        assert_ne!(d, params_digest(&pepper, &salt, shifted));
    }

    #[test]
    fn why_is_optional_short_and_printable() {
        assert_eq!(check_why(None).unwrap(), None);
        assert_eq!(check_why(Some("  ")).unwrap(), None);
        assert_eq!(check_why(Some(" case 42 ")).unwrap(), Some("case 42"));
        assert!(check_why(Some(&"x".repeat(WHY_MAX + 1))).is_err());
        assert!(check_why(Some("line\nbreak")).is_err());
    }
}
