//! The tamper-evident audit log: appending chained entries, listing them, signing the chain
//! head with the CA key, and verifying the whole chain (`migrations/sqlite/0003_audit.sql`).
//!
//! Entry `n`'s hash is SHA-256 over `"kms-audit-v1"`, entry `n-1`'s hash (32 zero bytes for
//! the first) and the entry's fields, each length-prefixed (`seq`, `at`, `actor`, `action`,
//! `target`, `outcome`, `detail`). Verification walks the rows in `seq` order and does not
//! trust the stored hashes: an edited row fails its own hash, a removed or reordered row breaks
//! the link to its predecessor or leaves a gap in `seq`, and a rewritten tail no longer matches
//! the CA-signed checkpoints.

use db::{Connection, OptionalExtension, Transaction, params};
use pki::{DigestAlgorithm, PublicKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::Result;

const GENESIS: [u8; 32] = [0; 32];

/// One audit log entry as listed.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    /// Administrator name, or `-`.
    pub actor: String,
    /// What was asked (`user.add`, `admin.remove`, `login`, `unlock`, ...).
    pub action: String,
    /// What it was asked on.
    pub target: String,
    /// `ok`, `refused`, or `pending` (a quorum operation waiting for approvals).
    pub outcome: String,
    /// For refusals, the error code and message; for CA operations that succeeded, the key
    /// that signed (`signed-by token:<ski>` or `signed-by software:<ski>`).
    pub detail: String,
    /// The entry's chain hash (hex).
    pub hash: String,
}

/// The first problem verification found.
#[derive(Clone, Debug, Serialize)]
pub struct AuditProblem {
    /// The entry the problem shows at.
    pub seq: i64,
    /// `altered`, `removed`, `reordered`, `checkpoint`, `anchor` (the audit anchor outside
    /// the database names work the store lacks, or is invalid).
    pub kind: &'static str,
    /// A sentence for people.
    pub message: String,
}

/// What `audit verify` found.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// Entries checked.
    pub entries: i64,
    /// Signed checkpoints checked.
    pub checkpoints: i64,
    /// The last entry covered by a valid CA signature.
    pub signed_through: Option<i64>,
    /// True when no problem was found.
    pub ok: bool,
    /// The first problem, if any.
    pub problem: Option<AuditProblem>,
    /// The check of the audit anchor kept outside the database (`audit verify` of the live
    /// store; none for a backup's chain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<crate::AnchorReport>,
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

#[allow(clippy::too_many_arguments)]
fn entry_hash(
    prev: &[u8],
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    detail: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"kms-audit-v1");
    field(&mut h, prev);
    field(&mut h, &seq.to_be_bytes());
    field(&mut h, &at.to_be_bytes());
    for s in [actor, action, target, outcome, detail] {
        field(&mut h, s.as_bytes());
    }
    h.finalize().into()
}

fn checkpoint_message(seq: i64, hash: &[u8]) -> Vec<u8> {
    let mut m = b"kms-audit-head".to_vec();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m
}

/// What to append.
pub(crate) struct Record<'a> {
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    /// `None` for success, the refusal's text otherwise.
    pub refusal: Option<String>,
    /// The refusal only means "waiting for approvals".
    pub pending: bool,
}

/// Appends one entry in its own immediate transaction; returns its `seq`.
pub(crate) fn append(conn: &Connection, r: &Record<'_>) -> Result<i64> {
    let tx = conn.transaction()?;
    let seq = append_in(&tx, r)?;
    tx.commit()?;
    Ok(seq)
}

/// Appends one entry inside the transaction open on `tx` (which must be a write
/// transaction, so the chain head cannot move under it); returns its `seq`.
pub(crate) fn append_in(tx: &Connection, r: &Record<'_>) -> Result<i64> {
    let (outcome, detail) = match &r.refusal {
        None => ("ok", String::new()),
        Some(d) if r.pending => ("pending", clip(d, MAX_DETAIL)),
        Some(d) => ("refused", clip(d, MAX_DETAIL)),
    };
    append_raw(
        tx,
        r.at,
        &clip(r.actor, MAX_ACTOR),
        r.action,
        &clip(r.target, MAX_TARGET),
        outcome,
        &detail,
    )
}

/// Longest actor kept in a new entry, in characters (administrator names are at most 64; a
/// refused sign-in names whatever the caller sent).
pub const MAX_ACTOR: usize = 128;
/// Longest target kept in a new entry, in characters.
pub const MAX_TARGET: usize = 1024;
/// Longest refusal text kept in a new entry, in characters.
pub const MAX_DETAIL: usize = 2048;

/// `s` cut to `max` characters, marked with `...` when cut.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

thread_local! {
    static REFUSALS_MUTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `op` on this thread with its refusals written to the audit log (`mute` false) or not
/// (`mute` true): the server's per-client flood limiter decides, for operations anyone can
/// call (sign-in, enrollment). Successes and pending approvals are always written.
pub fn muting_refusals<T>(mute: bool, op: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            REFUSALS_MUTED.with(|m| m.set(self.0));
        }
    }
    let _restore = Restore(REFUSALS_MUTED.with(|m| m.replace(mute)));
    op()
}

/// Whether [`muting_refusals`] mutes refusals on this thread now.
pub(crate) fn refusals_muted() -> bool {
    REFUSALS_MUTED.with(|m| m.get())
}

/// One entry as stored, for carrying entries of a replaced chain over a restore.
pub(crate) struct RawEntry {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
}

/// Every entry of the chain, oldest first.
pub(crate) fn raw_entries(conn: &Connection) -> Result<Vec<RawEntry>> {
    let mut stmt = conn.prepare(
        "SELECT seq, hash, at, actor, action, target, outcome, detail FROM audit_log
         ORDER BY seq",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(RawEntry {
                seq: r.get(0)?,
                hash: r.get(1)?,
                at: r.get(2)?,
                actor: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                outcome: r.get(6)?,
                detail: r.get(7)?,
            })
        })?
        .collect::<db::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Appends one entry with the given outcome and detail inside the write transaction open
/// on `tx`; returns its `seq`.
/// The PostgreSQL advisory lock key that serialises appends to the audit chain.
pub(crate) const AUDIT_CHAIN_LOCK: i64 = 0x6b6d_735f_6175_6431; // "kms_aud1"

pub(crate) fn append_raw(
    tx: &Connection,
    at: i64,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    detail: &str,
) -> Result<i64> {
    if tx.backend() == db::Backend::Postgres {
        // Several nodes append to one chain: the head is read and extended under a lock held
        // to this transaction's end, so the next appender reads the head this one wrote and
        // the chain stays linear (SQLite's single writer gives the same for free).
        tx.execute("SELECT pg_advisory_xact_lock(?1)", [AUDIT_CHAIN_LOCK])?;
    }
    let last: Option<(i64, Vec<u8>)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_vec()),
    };
    let hash = entry_hash(&prev, seq, at, actor, action, target, outcome, detail);
    tx.execute(
        "INSERT INTO audit_log (seq, at, actor, action, target, outcome, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            seq,
            at,
            actor,
            action,
            target,
            outcome,
            detail,
            prev,
            &hash[..]
        ],
    )?;
    Ok(seq)
}

// -------------------------------------------------------------------------------------
// The operation in progress: its success entry commits with its own transaction.
//
// [`crate::Authority::audit_op`] makes an [`Op`] (who does what on which target) and hands
// it to the operation, which passes it to [`commit`] with its write transaction: the `ok`
// entry is appended inside that transaction, so a successful action and its entry are
// durable together or not at all.

/// One audited operation: who does what on which target, and whether its `ok` entry was
/// committed with the operation's transaction.
pub(crate) struct Op {
    actor: String,
    action: String,
    target: std::cell::RefCell<String>,
    written: std::cell::Cell<bool>,
    /// The `ok` entry's detail: for CA operations, the key that signed ([`signed_by`]).
    detail: std::cell::RefCell<String>,
}

/// The detail of a CA operation's `ok` entry: which key signed (`signed-by token:<ski>` or
/// `signed-by software:<ski>`). Carried in the entry's `detail` field (empty in other `ok`
/// entries), so the chain's format is unchanged.
pub(crate) fn signed_by(key: &pki::KeyRef) -> String {
    format!("signed-by {key}")
}

/// Whether `action` is a CA operation whose entry names the signing key: issuing (enrollment,
/// renewal, the TLS certificate), revocation (revoke, bulk revoke, disabling a user: the CRL
/// that lists it is signed by that key), the OCSP responder's certificate, init. A batch of
/// renewals is not (each renewal has its own entry).
pub(crate) fn is_ca_action(action: &str) -> bool {
    let base = action.split(':').next().unwrap_or(action);
    matches!(
        base,
        "enroll"
            | "renew"
            | "revoke"
            | "revoke.bulk"
            | "user.disable"
            | "tls.issue"
            | "ocsp-responder"
            | "init"
    ) && action != "renew:batch"
        && action != "renew:all"
}

impl Op {
    pub(crate) fn new(actor: &str, action: &str, target: &str) -> Self {
        Op {
            actor: actor.into(),
            action: action.into(),
            target: std::cell::RefCell::new(target.into()),
            written: std::cell::Cell::new(false),
            detail: std::cell::RefCell::new(String::new()),
        }
    }

    /// Records, for the `ok` entry, the key that signs for this operation.
    pub(crate) fn set_signed_by(&self, key: &pki::KeyRef) {
        *self.detail.borrow_mut() = signed_by(key);
    }

    /// Names the target once it is known (enrollment learns the address from the token).
    pub(crate) fn set_target(&self, target: &str) {
        *self.target.borrow_mut() = target.into();
    }

    /// Adds `suffix` to the target (a quorum operation names its approval request and reason).
    pub(crate) fn extend_target(&self, suffix: &str) {
        let mut t = self.target.borrow_mut();
        if !t.ends_with(suffix) {
            t.push_str(suffix);
        }
    }

    /// The target as it stands.
    pub(crate) fn target(&self) -> String {
        self.target.borrow().clone()
    }

    /// Whether the `ok` entry was committed.
    pub(crate) fn written(&self) -> bool {
        self.written.get()
    }

    /// Records that the transaction that carried the entry (see [`append_op`]) committed.
    pub(crate) fn mark_written(&self) {
        self.written.set(true);
    }
}

/// Commits `tx`, the operation's write transaction, with the operation's `ok` entry appended
/// inside it (at `at`); only the first commit of an operation carries the entry. If the entry
/// cannot be appended, nothing is committed.
pub(crate) fn commit(tx: Transaction<'_>, op: &Op, at: i64) -> Result<()> {
    let appended = append_op(&tx, op, at)?;
    tx.commit()?;
    if appended {
        op.mark_written();
    }
    Ok(())
}

/// [`commit`] for an escrow transaction (an operation that escrows a key with its rows).
pub(crate) fn commit_escrow(tx: escrow::EscrowTx<'_>, op: &Op, at: i64) -> Result<()> {
    let appended = append_op(&tx, op, at)?;
    tx.commit()?;
    if appended {
        op.mark_written();
    }
    Ok(())
}

/// [`commit_escrow`] for a transaction begun with `UnlockedStore::begin_grouped`: commits
/// without waiting for the disk. The caller releases the state lock, then waits on the
/// returned ticket before answering (see `escrow::durable`).
pub(crate) fn commit_grouped(
    tx: escrow::EscrowTx<'_>,
    op: &Op,
    at: i64,
) -> Result<escrow::Pending> {
    let appended = append_op(&tx, op, at)?;
    let pending = tx.commit_grouped()?;
    if appended {
        op.mark_written();
    }
    Ok(pending)
}

/// Appends the operation's `ok` entry inside the write transaction open on `conn`, unless it
/// was written already; true when it appended one. Call [`Op::mark_written`] once that
/// transaction committed. For writes whose transaction another crate opens (the escrow
/// store's unlock methods take this as their `with` step).
pub(crate) fn append_op(conn: &Connection, op: &Op, at: i64) -> Result<bool> {
    if op.written() {
        return Ok(false);
    }
    let target = op.target();
    append_raw(
        conn,
        at,
        &clip(&op.actor, MAX_ACTOR),
        &op.action,
        &clip(&target, MAX_TARGET),
        "ok",
        &op.detail.borrow(),
    )?;
    Ok(true)
}

/// [`append_op`] with the database's error type, for the escrow store's `with` steps.
pub(crate) fn append_op_sql(conn: &Connection, op: &Op, at: i64) -> db::Result<bool> {
    append_op(conn, op, at).map_err(|e| match e {
        crate::Error::Database(e) => e,
        other => db::DbError::new(db::ErrorKind::Type, other.to_string()),
    })
}

/// Entries from `since` (Unix seconds) on, oldest first, at most `limit`.
pub(crate) fn list(conn: &Connection, since: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, action, target, outcome, detail, hash FROM audit_log
         WHERE at >= ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![since.unwrap_or(i64::MIN), limit], |r| {
            Ok(AuditEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                outcome: r.get(5)?,
                detail: r.get(6)?,
                hash: hex::encode(r.get::<Vec<u8>>(7)?),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Signs the current chain head with the CA key, unless it is signed already. Returns the
/// signed `seq` (None for an empty log).
pub(crate) fn sign_head(
    conn: &Connection,
    key: &dyn pki::SigningKey,
    now: i64,
) -> Result<Option<i64>> {
    let Some((seq, hash)) = head(conn)? else {
        return Ok(None);
    };
    let signature = sign_checkpoint(key, seq, &hash)?;
    insert_checkpoint(conn, seq, &hash, &signature, now)?;
    Ok(Some(seq))
}

/// The chain head: its `seq` and hash (None for an empty log).
pub(crate) fn head(conn: &Connection) -> Result<Option<(i64, Vec<u8>)>> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// The CA's signature of the checkpoint at `seq` (no database access: run it with no lock).
pub(crate) fn sign_checkpoint(key: &dyn pki::SigningKey, seq: i64, hash: &[u8]) -> Result<Vec<u8>> {
    Ok(key.sign(DigestAlgorithm::Sha256, &checkpoint_message(seq, hash))?)
}

/// Stores a signed checkpoint (once: a checkpoint for the same `seq` signed concurrently is
/// kept as it is).
pub(crate) fn insert_checkpoint(
    conn: &Connection,
    seq: i64,
    hash: &[u8],
    signature: &[u8],
    now: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO audit_checkpoints (seq, hash, signature, signed_at)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        params![seq, hash, signature, now],
    )?;
    Ok(())
}

/// Entries after the last signed checkpoint.
pub(crate) fn unsigned_entries(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM audit_log
         WHERE seq > coalesce((SELECT max(seq) FROM audit_checkpoints), 0)",
        [],
        |r| r.get(0),
    )?)
}

/// Walks the whole chain and the checkpoints (signatures checked with `ca_key`).
pub fn verify(conn: &Connection, ca_key: &PublicKey) -> Result<AuditReport> {
    let mut report = AuditReport {
        entries: 0,
        checkpoints: 0,
        signed_through: None,
        ok: true,
        problem: None,
        anchor: None,
    };
    // Recomputed hashes by seq, for the checkpoints.
    let mut computed: std::collections::HashMap<i64, [u8; 32]> = Default::default();
    {
        let mut expected_seq = 1i64;
        let mut prev = GENESIS;
        // Stored hashes seen so far (a reordered row links to an earlier entry's hash).
        let mut seen: std::collections::HashMap<Vec<u8>, i64> = Default::default();
        conn.query_while(
            "SELECT seq, at, actor, action, target, outcome, detail, prev_hash, hash
             FROM audit_log ORDER BY seq",
            [],
            |r| -> Result<bool> {
            let seq: i64 = r.get(0)?;
            let at: i64 = r.get(1)?;
            let actor: String = r.get(2)?;
            let action: String = r.get(3)?;
            let target: String = r.get(4)?;
            let outcome: String = r.get(5)?;
            let detail: String = r.get(6)?;
            let prev_hash: Vec<u8> = r.get(7)?;
            let hash: Vec<u8> = r.get(8)?;
            report.entries += 1;
            let fail = |kind, message: String| AuditProblem { seq, kind, message };
            let problem = if seq > expected_seq {
                Some(fail(
                    "removed",
                    format!(
                        "entry {expected_seq}{} is missing: removed before entry {seq}",
                        if seq > expected_seq + 1 {
                            format!(" to {}", seq - 1)
                        } else {
                            String::new()
                        }
                    ),
                ))
            } else if prev_hash[..] != prev[..] {
                let why = match seen.get(&prev_hash) {
                    Some(p) => format!(
                        "entry {seq} was written after entry {p}, not after entry {}: entries were reordered",
                        seq - 1
                    ),
                    None => format!(
                        "entry {seq} does not follow entry {}: an entry before it was removed, replaced or reordered",
                        seq - 1
                    ),
                };
                Some(fail("reordered", why))
            } else {
                let h = entry_hash(
                    &prev_hash, seq, at, &actor, &action, &target, &outcome, &detail,
                );
                if h[..] != hash[..] {
                    Some(fail(
                        "altered",
                        format!("entry {seq} ({action} by {actor}) was altered"),
                    ))
                } else {
                    computed.insert(seq, h);
                    prev = h;
                    None
                }
            };
            if let Some(p) = problem {
                report.ok = false;
                report.problem = Some(p);
                return Ok(false);
            }
            seen.insert(hash, seq);
            expected_seq = seq + 1;
            Ok(true)
            },
        )?;
    }
    // Checkpoints: each must be validly signed and match the recomputed chain; the last one
    // must still be in the log (a removed tail).
    let mut stmt =
        conn.prepare("SELECT seq, hash, signature FROM audit_checkpoints ORDER BY seq")?;
    let cps = stmt
        .query_map([], |r| {
            Ok((r.get::<i64>(0)?, r.get::<Vec<u8>>(1)?, r.get::<Vec<u8>>(2)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (seq, hash, sig) in cps {
        report.checkpoints += 1;
        if ca_key
            .verify(
                DigestAlgorithm::Sha256,
                &checkpoint_message(seq, &hash),
                &sig,
                "audit checkpoint",
            )
            .is_err()
        {
            if report.problem.is_none() {
                report.ok = false;
                report.problem = Some(AuditProblem {
                    seq,
                    kind: "checkpoint",
                    message: format!(
                        "the CA signature of the checkpoint at entry {seq} is not valid"
                    ),
                });
            }
            continue;
        }
        if report.problem.is_some() {
            continue;
        }
        match computed.get(&seq) {
            Some(h) if h[..] == hash[..] => report.signed_through = Some(seq),
            Some(_) => {
                report.ok = false;
                report.problem = Some(AuditProblem {
                    seq,
                    kind: "altered",
                    message: format!(
                        "the chain up to entry {seq} differs from the one the CA signed: entries up to {seq} were rewritten"
                    ),
                });
            }
            None => {
                report.ok = false;
                report.problem = Some(AuditProblem {
                    seq,
                    kind: "removed",
                    message: format!(
                        "entry {seq} was signed by the CA but is no longer in the log: entries were removed"
                    ),
                });
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod ca_action_tests {
    use super::is_ca_action;

    #[test]
    fn ca_operations_are_told_from_the_others() {
        for a in [
            "enroll",
            "renew",
            "renew:new-key",
            "revoke:KeyCompromise",
            "revoke.bulk:Superseded",
            "user.disable",
            "tls.issue",
            "ocsp-responder",
            "init",
        ] {
            assert!(is_ca_action(a), "{a}");
        }
        for a in [
            "renew:batch",
            "renew:all",
            "login",
            "user.add",
            "user.token",
            "reenroll:token",
            "recover-key",
            "backup",
            "restore",
        ] {
            assert!(!is_ca_action(a), "{a}");
        }
    }
}
