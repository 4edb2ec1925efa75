//! Scheduled and on-demand online backups of the store, kept N deep under
//! `DATA_DIR/backups`, their verification, and restoring one over the live store (under the
//! highest quorum). A restore never lowers governance: the live quorum policies are kept
//! where stricter, the live administrators (removals, role changes, passwords) are kept, and
//! the live audit entries written after the backup are carried into the restored chain.
//! Safety backups (`...-pre-restore.kmsbak`) are never rotated away.

use super::*;

/// What a restore over the live store did.
#[derive(Clone, Debug, Serialize)]
pub struct Restored {
    /// The backup restored (a name in `DATA_DIR/backups`).
    pub backup: String,
    /// Escrowed keys in the restored store, every one decrypted and authenticated first.
    pub keys: u64,
    /// The safety backup of the store as it was just before (a name in `DATA_DIR/backups`).
    pub safety_backup: String,
    /// The audit chain head replaced by the restore: its `seq`...
    pub replaced_head_seq: i64,
    /// ... and its hash (hex). The entries after the backup are in the safety backup.
    pub replaced_head_hash: String,
    /// The `seq` of the `restore` entry in the restored log.
    pub restore_entry: i64,
    /// Revocations made after the backup, carried into the restored store (a revoked
    /// certificate never becomes valid again).
    pub revocations_carried: u64,
    /// Audit entries of the replaced chain written after the backup point, appended to the
    /// restored chain (before the `restore` entry) so the log keeps the whole history.
    pub audit_entries_carried: u64,
    /// Quorum policies the backup had lower than the live store, kept at the live value
    /// (and any raised to keep the invariants).
    pub policies_kept: Vec<Policy>,
}

/// An administrator account of the live store, carried over a restore.
struct LiveAdmin {
    id: i64,
    name: String,
    role: String,
    password_hash: String,
    created_at: i64,
    removed_at: Option<i64>,
    must_change: bool,
}

/// Suffix of the safety backups written by a restore.
const SAFETY_SUFFIX: &str = "-pre-restore.kmsbak";

/// A revocation of the live store, with its certificate, to carry over a restore.
struct Carried {
    serial: String,
    reason: String,
    revoked_at: i64,
    kind: String,
    der: Vec<u8>,
    not_before: i64,
    not_after: i64,
    issued_at: i64,
}

/// The `settings` key of the time (Unix seconds) the last scheduled backup was claimed by a
/// node of a cluster.
const SCHEDULED_BACKUP_KEY: &str = "scheduled_backup_at";

impl Authority {
    // ---------------------------------------------------------------------------------
    // Backups.

    /// `DATA_DIR/backups`, absolute (backup paths are shown one way everywhere).
    pub(crate) fn backup_dir(st: &State) -> std::path::PathBuf {
        let dir = st.store.store().data_dir().join("backups");
        std::path::absolute(&dir).unwrap_or(dir)
    }

    pub(crate) fn backup_files(dir: &Path) -> Result<Vec<BackupInfo>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::Corrupt(format!("reading {}: {e}", dir.display()))),
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("kms-") && name.ends_with(".kmsbak") {
                out.push(BackupInfo {
                    path: e.path().display().to_string(),
                    bytes: e.metadata().map(|m| m.len()).unwrap_or(0),
                    name,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// At unlock: makes `DATA_DIR/backups` private (0700) if it exists, and removes what
    /// interrupted backups, restores and verifications left there and in the data directory
    /// (their `.part` files, copies and journals: [`escrow::sweep_temporaries`]).
    pub(crate) fn sweep_backup_leftovers(&self) -> Result<()> {
        let st = self.lock();
        let dir = Self::backup_dir(&st);
        if dir.is_dir() {
            private_dir(&dir)?;
        }
        let mut removed = escrow::sweep_temporaries(&dir).map_err(without_path)?;
        removed += escrow::sweep_temporaries(st.store.store().data_dir()).map_err(without_path)?;
        if removed > 0 {
            tracing::warn!(
                removed,
                "removed leftovers of interrupted backups or restores"
            );
        }
        Ok(())
    }

    /// Takes an encrypted backup into `DATA_DIR/backups` now and keeps the newest
    /// [`Config::backup_keep`] (administrator role; `None` for the scheduler).
    pub fn backup_now(&self, actor: Option<&Admin>) -> Result<BackupInfo> {
        let r = (|| {
            if let Some(a) = actor {
                a.require_administrator()?;
            }
            let mut st = self.lock();
            let (_, keep, _) = self.effective_schedule(st.store.store().connection())?;
            Self::stash_server_settings(&mut st)?;
            let dir = Self::backup_dir(&st);
            private_dir(&dir)?;
            // The anchor of the head being backed up goes into the backup (its settings).
            if let Err(e) = self.anchor_locked(&st) {
                tracing::error!(error = %e, "cannot write the audit anchor before a backup");
            }
            let now = self.now();
            let secs = unix(now);
            let mut n = 0;
            let path = loop {
                let p = dir.join(format!("kms-{secs:012}-{n}.kmsbak"));
                if !p.exists() {
                    break p;
                }
                n += 1;
            };
            st.store.backup(&path)?;
            // Safety backups are never rotated away: only ordinary backups count.
            let files: Vec<BackupInfo> = Self::backup_files(&dir)?
                .into_iter()
                .filter(|b| !b.name.ends_with(SAFETY_SUFFIX))
                .collect();
            if files.len() > keep {
                for old in &files[..files.len() - keep] {
                    if let Err(e) = std::fs::remove_file(&old.path) {
                        tracing::warn!(file = %old.path, error = %e, "cannot remove an old backup");
                    }
                }
            }
            Ok(BackupInfo {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                path: path.display().to_string(),
            })
        })();
        let who = actor.map_or("-", |a| a.name.as_str());
        let target = r.as_ref().map_or("-".to_string(), |b| b.name.clone());
        self.audited(who, "backup", &target, r)
    }

    /// Restores the backup `name` (from `kmsctl backup list`: a file in `DATA_DIR/backups`,
    /// by name only) over the live store (administrator role, under the highest quorum of
    /// any operation: a restore can bring back anything).
    ///
    /// Under the state lock, stopping at the first failure (which leaves the live store as it
    /// was): the backup is checked completely with the master key in memory; a safety backup
    /// of the live store is written to `DATA_DIR/backups` (`...-pre-restore.kmsbak`); the
    /// checked database replaces the live one in one SQLite write transaction. In it: every
    /// session is ended (the restored administrators sign in again;
    /// sessions of the backup's time do not come back) and the `restore` entry is appended to
    /// the restored audit chain, naming the replaced chain head (seq and hash) and the safety
    /// backup. The chain stays verifiable: the restored log is the backup's, followed by the
    /// carried entries (below) and the `restore` entry.
    ///
    /// Governance is never lowered: every live quorum policy higher than the backup's is
    /// kept (and the invariants enforced), the live administrators are kept as they are
    /// (removed ones stay removed, role and password changes stay, accounts added since stay),
    /// and every live audit entry after the point where the two chains part is appended to
    /// the restored chain, in order, with its original time, actor, action, target and
    /// outcome (its detail names its old `seq`), before the `restore` entry; so `audit verify`
    /// covers the whole history and the head is signed at once.
    ///
    /// Everything else written after the backup was taken (users, approvals, ...) is gone
    /// from the live store, except revocations: every certificate revoked in the live
    /// store stays revoked (its certificate row is carried over too, without its user, if
    /// the backup predates it), and the CRL is re-signed at once with a number above every
    /// CRL published before.
    ///
    /// Everything carried over (sessions ended, revocations, policies, administrators, audit
    /// entries) and the `restore` entry are written into the checked copy before it replaces
    /// the live database ([`escrow::UnlockedStore::restore_own_backup_with`]), so the restore
    /// is one step: a crash leaves either the live store as it was or the restored one with
    /// all of it. The safety backup is there either way.
    pub fn restore_backup(&self, actor: &Admin, name: &str) -> Result<Restored> {
        self.audit_op(&actor.name, "restore", name, |rec| {
            self.restore_backup_inner(rec, actor, name)
        })
    }

    fn restore_backup_inner(&self, rec: &audit::Op, actor: &Admin, name: &str) -> Result<Restored> {
        actor.require_administrator()?;
        let path = {
            let st = self.lock();
            Self::backup_path(&st, name, false)?
        };
        self.gate_with(
            rec,
            actor,
            &["restore"],
            name,
            &[("backup", name.as_bytes())],
            None,
        )?;
        let now = unix(self.now());
        let mut st = self.lock();
        if st.store.store().backend() == db::Backend::Postgres {
            // Other nodes serve the same database: a restore is done offline.
            return Err(Error::invalid(
                "restore",
                "a backup is not restored over a live PostgreSQL store: stop every node, then \
                 `kmsd restore BACKUP --database URL --data-dir NODE_DIR` into an empty database",
            ));
        }
        // The anchor names exactly the head the restore replaces (its `restore` entry names
        // it too), so a crash before the re-anchoring below is recognised at the next start.
        self.anchor_locked(&st)?;
        let dir = Self::backup_dir(&st);
        let mut n = 0;
        let safety = loop {
            let p = dir.join(format!("kms-{now:012}-{n}{SAFETY_SUFFIX}"));
            if !p.exists() {
                break p;
            }
            n += 1;
        };
        let safety_name = safety
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Everything carried over from the live store, and the `restore` entry, is written
        // into the checked copy before it replaces the live database: one step.
        let mut carried: Option<Result<Carry>> = None;
        let r = st
            .store
            .restore_own_backup_with(&path, &safety, |restored, live| {
                let c = carry_over(rec, restored, live, name, &safety_name, now);
                let failed = c.is_err();
                carried = Some(c);
                if failed {
                    // The live store stays as it was; the error is handed back below.
                    return Err(db::DbError::misuse("carrying state over failed"));
                }
                Ok(())
            });
        let carry = match (r, carried) {
            (Ok((report, _)), Some(Ok(c))) => {
                rec.mark_written();
                (report, c)
            }
            (_, Some(Err(e))) => return Err(e),
            (Err(e), _) => return Err(without_path(e).into()),
            (Ok(_), None) => {
                return Err(Error::Corrupt(
                    "the restore ran without carrying over the live store's state".into(),
                ));
            }
        };
        let (report, c) = carry;
        if let Err(e) = self.anchor_locked(&st) {
            tracing::error!(error = %e, "cannot re-anchor the audit chain after a restore");
        }
        self.rebuild_crl(&mut st)?;
        let conn = st.store.store().connection();
        // The carried history is signed by the CA at once.
        if let Err(e) = audit::sign_head(conn, st.issuer.signing_key(), now) {
            tracing::error!(error = %e, "cannot sign the audit log's head after a restore");
        }
        let admins = approvals::administrators(conn)?;
        let highest = approvals::highest(conn)?;
        if admins < highest {
            tracing::warn!(
                admins,
                highest,
                "after the restore fewer administrators can approve than the highest quorum needs"
            );
        }
        tracing::warn!(
            by = %actor.name,
            backup = name,
            safety = %safety_name,
            "live store restored from a backup; every session ended"
        );
        Ok(Restored {
            backup: name.into(),
            keys: report.keys,
            safety_backup: safety_name,
            replaced_head_seq: c.head_seq,
            replaced_head_hash: c.head_hash,
            restore_entry: c.restore_entry,
            revocations_carried: c.revocations_carried,
            audit_entries_carried: c.audit_entries_carried,
            policies_kept: c.policies_kept,
        })
    }

    /// The file of backup `name` in `DATA_DIR/backups`; with `paths`, also a path to a file
    /// inside it. Nothing outside it (symlinks and `..` are resolved before the check).
    fn backup_path(st: &State, name: &str, paths: bool) -> Result<std::path::PathBuf> {
        let dir = Self::backup_dir(st);
        // The answer names no server path (the log may).
        let refuse = || {
            tracing::info!(backup = name, dir = %dir.display(), "not a backup in the backup folder");
            Error::invalid(
                "backup",
                format!("{name} is not a backup in the backup folder (kmsctl backup list)"),
            )
        };
        if !paths && (name.contains('/') || name.contains('\\')) {
            return Err(refuse());
        }
        let candidate = if name.contains('/') {
            std::path::PathBuf::from(name)
        } else {
            dir.join(name)
        };
        match (candidate.canonicalize(), dir.canonicalize()) {
            (Ok(p), Ok(d)) if p.starts_with(&d) && p.is_file() => Ok(p),
            _ => Err(refuse()),
        }
    }

    /// Takes a scheduled backup when the schedule in effect (the `backup-schedule` setting,
    /// else [`Config::backup_interval`]) says one is due.
    pub fn backup_if_due(&self) -> Result<Option<BackupInfo>> {
        let (every, newest) = {
            let st = self.lock();
            let (every, _, _) = self.effective_schedule(st.store.store().connection())?;
            let files = Self::backup_files(&Self::backup_dir(&st))?;
            (every, schedule::newest_backup_at(&files))
        };
        let Some(every) = every else {
            return Ok(None);
        };
        let now = unix(self.now());
        let every = i64::try_from(every).unwrap_or(i64::MAX);
        if newest.is_some_and(|t| now - t < every) {
            return Ok(None);
        }
        if !self.claim_scheduled_backup(now, every)? {
            return Ok(None);
        }
        self.backup_now(None).map(Some)
    }

    /// In a cluster (the store on PostgreSQL), one node takes each scheduled backup: the
    /// first whose claim on the store-wide time of the last scheduled backup succeeds (a
    /// compare-and-set of one `settings` row); the others see it taken. On SQLite there is
    /// one node: always true.
    fn claim_scheduled_backup(&self, now: i64, every: i64) -> Result<bool> {
        let st = self.lock();
        let conn = st.store.store().connection();
        if conn.backend() == db::Backend::Sqlite {
            return Ok(true);
        }
        let last: Option<String> = conn
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                [SCHEDULED_BACKUP_KEY],
                |r| r.get(0),
            )
            .optional()?;
        let claimed = match last {
            Some(last) => {
                if last.parse::<i64>().is_ok_and(|t| now - t < every) {
                    return Ok(false);
                }
                conn.execute(
                    "UPDATE settings SET value = ?2 WHERE key = ?1 AND value = ?3",
                    params![SCHEDULED_BACKUP_KEY, now.to_string(), last],
                )?
            }
            None => conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![SCHEDULED_BACKUP_KEY, now.to_string()],
            )?,
        };
        Ok(claimed == 1)
    }

    /// The backups in `DATA_DIR/backups`, oldest first (any role).
    pub fn backups(&self, _actor: &Admin) -> Result<Vec<BackupInfo>> {
        let st = self.lock();
        Self::backup_files(&Self::backup_dir(&st))
    }

    /// Checks a backup of this store completely with the master key in memory: every chunk,
    /// SQLite's integrity check, every escrowed key, and the audit chain inside (any role).
    /// `name` is a file in `DATA_DIR/backups`, by name or by path; nothing outside it.
    pub fn verify_backup(&self, actor: &Admin, name: &str) -> Result<BackupCheck> {
        let r = (|| {
            let st = self.lock();
            let dir = Self::backup_dir(&st);
            let candidate = if name.contains('/') {
                std::path::PathBuf::from(name)
            } else {
                dir.join(name)
            };
            // Only files inside DATA_DIR/backups: the server must not open arbitrary paths
            // for a caller (symlinks and `..` are resolved before the check).
            let path = match (candidate.canonicalize(), dir.canonicalize()) {
                (Ok(p), Ok(d)) if p.starts_with(&d) && p.is_file() => p,
                _ => {
                    tracing::info!(backup = name, dir = %dir.display(), "not a backup in the backup folder");
                    return Err(Error::invalid(
                        "backup",
                        format!("{name} is not a backup in the backup folder (kmsctl backup list)"),
                    ));
                }
            };
            let ca = certificate::public_key(st.issuer.certificate())?;
            let (report, audit) = st
                .store
                .verify_own_backup(&path, |conn| audit::verify(conn, &ca))
                .map_err(without_path)?;
            Ok(BackupCheck {
                path: path.display().to_string(),
                keys: report.keys,
                owners: report.owners,
                unlock_methods: report.unlock_methods,
                database_bytes: report.database_bytes,
                audit: audit?,
            })
        })();
        self.audited(&actor.name, "backup.verify", name, r)
    }
}

/// Creates `dir` if missing and makes it 0700 (backups are readable only by the service).
fn private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder
            .create(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
            .map_err(|e| Error::Corrupt(format!("creating {}: {e}", dir.display())))?;
    }
    #[cfg(not(unix))]
    builder
        .create(dir)
        .map_err(|e| Error::Corrupt(format!("creating {}: {e}", dir.display())))?;
    Ok(())
}

/// A refused backup named by its file name only: answers never carry the server's paths
/// (the log has them).
fn without_path(e: escrow::Error) -> escrow::Error {
    match e {
        escrow::Error::BackupInvalid { path, problem } => {
            tracing::info!(path = %path.display(), %problem, "backup refused");
            escrow::Error::BackupInvalid {
                path: path.file_name().map(Into::into).unwrap_or_default(),
                problem,
            }
        }
        escrow::Error::BackupTooCostly {
            path,
            wraps,
            cost_gib_passes,
            max_wraps,
            max_cost_gib_passes,
        } => {
            tracing::info!(path = %path.display(), wraps, cost_gib_passes, "backup refused: too costly");
            escrow::Error::BackupTooCostly {
                path: path.file_name().map(Into::into).unwrap_or_default(),
                wraps,
                cost_gib_passes,
                max_wraps,
                max_cost_gib_passes,
            }
        }
        other => other,
    }
}

/// What a restore carried over from the live store.
struct Carry {
    head_seq: i64,
    head_hash: String,
    restore_entry: i64,
    revocations_carried: u64,
    audit_entries_carried: u64,
    policies_kept: Vec<Policy>,
}

/// In one transaction on the `restored` copy, before it replaces the `live` database: ends
/// every session, keeps CRL numbers growing, carries the live revocations, quorum policies,
/// administrators and later audit entries over, and appends the `restore` entry (the
/// operation's `ok` entry: the caller marks it written once the copy is in place).
fn carry_over(
    rec: &audit::Op,
    restored: &Connection,
    live: &Connection,
    name: &str,
    safety_name: &str,
    now: i64,
) -> Result<Carry> {
    let (head_seq, head_hash): (i64, Vec<u8>) = live
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, vec![0; 32]));
    let carried = {
        let mut stmt = live.prepare(
            "SELECT r.serial, r.reason, r.revoked_at, c.kind, c.der, c.not_before,
                    c.not_after, c.issued_at
             FROM revocations r JOIN certificates c ON c.serial = r.serial",
        )?;
        stmt.query_map([], |r| {
            Ok(Carried {
                serial: r.get(0)?,
                reason: r.get(1)?,
                revoked_at: r.get(2)?,
                kind: r.get(3)?,
                der: r.get(4)?,
                not_before: r.get(5)?,
                not_after: r.get(6)?,
                issued_at: r.get(7)?,
            })
        })?
        .collect::<db::Result<Vec<_>>>()?
    };
    let crl_numbers: (i64, i64) = live
        .query_row(
            "SELECT number, delta_number FROM crl_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, 0));
    let live_policies = {
        let mut stmt = live.prepare("SELECT operation, quorum FROM policies")?;
        stmt.query_map([], |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)))?
            .collect::<db::Result<Vec<_>>>()?
    };
    let live_admins = {
        let mut stmt = live.prepare(
            "SELECT id, name, role, password_hash, created_at, removed_at, must_change_password
             FROM admins ORDER BY id",
        )?;
        stmt.query_map([], |r| {
            Ok(LiveAdmin {
                id: r.get(0)?,
                name: r.get(1)?,
                role: r.get(2)?,
                password_hash: r.get(3)?,
                created_at: r.get(4)?,
                removed_at: r.get(5)?,
                must_change: r.get(6)?,
            })
        })?
        .collect::<db::Result<Vec<_>>>()?
    };
    let live_audit = audit::raw_entries(live)?;

    let tx = restored.transaction()?;
    tx.execute("DELETE FROM sessions", [])?;
    // CRL numbers only grow: the next CRL is numbered above every one published.
    tx.execute(
        "UPDATE crl_state SET number = CASE WHEN number > ?1 THEN number ELSE ?1 END,
                              delta_number = CASE WHEN delta_number > ?2 THEN delta_number ELSE ?2 END
         WHERE id = 1",
        params![crl_numbers.0, crl_numbers.1],
    )?;
    let listed_in = next_crl_number(&tx)?;
    let mut revocations_carried = 0u64;
    for c in &carried {
        tx.execute(
            "INSERT INTO certificates
                 (serial, user_id, kind, der, not_before, not_after, escrowed_key_id, issued_at)
             VALUES (?1, NULL, ?2, ?3, ?4, ?5, NULL, ?6) ON CONFLICT DO NOTHING",
            params![
                c.serial,
                c.kind,
                c.der,
                c.not_before,
                c.not_after,
                c.issued_at
            ],
        )?;
        revocations_carried += tx.execute(
            "INSERT INTO revocations (serial, reason, revoked_at, crl_number)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![c.serial, c.reason, c.revoked_at, listed_in],
        )? as u64;
    }
    let policies_kept = keep_policies(&tx, &live_policies)?;
    keep_admins(&tx, &live_admins)?;
    let (fork, audit_entries_carried) = carry_audit(&tx, &live_audit)?;
    let head_hex = hex::encode(&head_hash);
    rec.set_target(&format!(
        "{name} (replaced audit head {head_seq}:{head_hex}; {audit_entries_carried} entries after seq {fork} carried over; safety backup {safety_name})"
    ));
    if !audit::append_op(&tx, rec, now)? {
        return Err(Error::Corrupt(
            "no restore operation to write the audit entry of".into(),
        ));
    }
    let restore_entry: i64 = tx.query_row("SELECT max(seq) FROM audit_log", [], |r| r.get(0))?;
    tx.commit()?;
    Ok(Carry {
        head_seq,
        head_hash: head_hex,
        restore_entry,
        revocations_carried,
        audit_entries_carried,
        policies_kept,
    })
}

/// Keeps every live quorum policy that is stricter than the restored one, then enforces the
/// invariants; returns the policies changed.
fn keep_policies(conn: &Connection, live: &[(String, i64)]) -> Result<Vec<Policy>> {
    let mut kept = Vec::new();
    for (op, q) in live {
        let Ok(op) = approvals::check_operation(op) else {
            continue;
        };
        if approvals::quorum(conn, op)? < *q {
            approvals::set(conn, op, *q)?;
            kept.push(Policy {
                operation: op,
                quorum: *q,
            });
        }
    }
    kept.extend(approvals::enforce_invariants(conn)?);
    Ok(kept)
}

/// Keeps the live administrators: for an account in both, the live role, password and
/// first-sign-in flag, and removed when removed in either; an account added after the backup
/// is added back with its id.
fn keep_admins(conn: &Connection, live: &[LiveAdmin]) -> Result<()> {
    // Removals and changes first, so that names freed by a removal can be taken below.
    for a in live {
        conn.execute(
            "UPDATE admins SET role = ?2, password_hash = ?3, removed_at = coalesce(removed_at, ?4),
                 must_change_password = CASE WHEN must_change_password > ?5
                                             THEN must_change_password ELSE ?5 END
             WHERE id = ?1",
            params![a.id, a.role, a.password_hash, a.removed_at, a.must_change],
        )?;
    }
    for a in live {
        let n = conn.execute(
            "INSERT INTO admins
                 (id, name, role, password_hash, created_at, removed_at, must_change_password)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
            params![
                a.id,
                a.name,
                a.role,
                a.password_hash,
                a.created_at,
                a.removed_at,
                a.must_change
            ],
        )?;
        if n == 0 {
            let exists: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM admins WHERE id = ?1)",
                [a.id],
                |r| r.get(0),
            )?;
            if !exists {
                tracing::warn!(admin = %a.name, "a live administrator could not be carried over a restore (name taken)");
            }
        }
    }
    Ok(())
}

/// Appends to the restored chain every live entry after the point where the two chains part
/// (the last `seq` with the same hash in both); returns that point and how many entries were
/// appended.
fn carry_audit(conn: &Connection, live: &[audit::RawEntry]) -> Result<(i64, u64)> {
    let mut fork = 0;
    let mut start = live.len();
    for (i, e) in live.iter().enumerate() {
        let restored: Option<Vec<u8>> = conn
            .query_row("SELECT hash FROM audit_log WHERE seq = ?1", [e.seq], |r| {
                r.get(0)
            })
            .optional()?;
        if restored.as_deref() != Some(&e.hash[..]) {
            start = i;
            break;
        }
        fork = e.seq;
    }
    let mut carried = 0;
    for e in &live[start..] {
        let note = format!(
            "carried over a restore from the replaced chain's seq {}",
            e.seq
        );
        let detail = if e.detail.is_empty() {
            note
        } else {
            format!("{} ({note})", e.detail)
        };
        audit::append_raw(
            conn, e.at, &e.actor, &e.action, &e.target, &e.outcome, &detail,
        )?;
        carried += 1;
    }
    Ok((fork, carried))
}
