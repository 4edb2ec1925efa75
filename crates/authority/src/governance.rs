//! The audit log's entry points, quorum policies and approvals, and the start-up secrets
//! (unlock methods): the governance half of [`Authority`].

use super::*;

impl Authority {
    // ---------------------------------------------------------------------------------
    // The audit log. Every administrative action goes through [`Authority::audit_op`]: its
    // success entry commits inside the action's own write transaction (see `audit::commit`),
    // and refusals and pending approvals, which change nothing, are appended on their own.
    //
    // The operation's record ([`audit::Op`]) is passed explicitly to the code that commits.
    // Operations that write in more than one transaction, and how each is covered:
    // - quorum operations: `gate` commits the approval bookkeeping first (the request and the
    //   caller's approval; its `pending` entry is appended when the caller is told to wait),
    //   then the action's transaction carries the `ok` entry;
    // - enrollment and `renew --new-key`: the new encryption key, the certificates, the token
    //   and the `ok` entry commit in one escrow transaction (`escrow::EscrowTx`), or nothing;
    // - revoke: the revocations, the CRL state "due" and the entry commit together; the CRL
    //   publisher re-signs from the store's state after the commit (and at start-up while the
    //   state says due), so a crash in between loses no revocation from the CRL;
    // - renew-all: each user's renewal is its own operation with its own entry; the summary
    //   entry follows;
    // - start-up secrets (`unlock-method add|remove`) are written by the escrow store in its
    //   own transaction, which appends the entry as its last step (`*_and` with
    //   `audit::append_op_sql`);
    // - backups and key recovery write no table (files, or nothing): their entry is appended
    //   after the work and before the result is handed back.

    /// Runs `op`, one administrative action by `actor`, and audits it: on success the entry
    /// committed with the action's transaction (or, for an action that committed none, one
    /// appended now); on failure a `refused` or `pending` entry.
    pub(crate) fn audit_op<T>(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        op: impl FnOnce(&audit::Op) -> Result<T>,
    ) -> Result<T> {
        let record = audit::Op::new(actor, action, target);
        if audit::is_ca_action(action) {
            record.set_signed_by(&self.issuer.signing_key().key_ref());
        }
        let result = op(&record);
        if let Err(e) = &result {
            self.note_signing_failure(e);
        }
        let (written, target) = (record.written(), record.target());
        if written && result.is_ok() {
            self.sign_audit_head_if_due();
            return result;
        }
        // A failure after the entry committed (rare: e.g. the response could not be built)
        // is recorded too, as a refusal after the `ok`.
        self.audited(actor, action, &target, result)
    }

    /// Appends `result`'s outcome to the audit log on its own and hands `result` back: for
    /// refusals and pending approvals (which change nothing), and as the fallback for actions
    /// that commit no transaction of their own. Actions that write go through
    /// [`Authority::audit_op`] instead, so that their entry commits with them.
    pub(crate) fn audited<T>(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        result: Result<T>,
    ) -> Result<T> {
        let pending = matches!(
            result,
            Err(Error::ApprovalPending { .. } | Error::AgentSharesPending { .. })
        );
        if result.is_err() && !pending && audit::refusals_muted() {
            return result;
        }
        let refusal = result.as_ref().err().map(|e| format!("[{}] {e}", e.code()));
        let r = {
            let st = self.lock();
            audit::append(
                st.store.store().connection(),
                &audit::Record {
                    at: unix(self.now()),
                    actor,
                    action,
                    target,
                    refusal,
                    pending,
                },
            )
        };
        match r {
            Ok(_) => self.sign_audit_head_if_due(),
            Err(e) => tracing::error!(error = %e, action, "cannot write the audit log"),
        }
        result
    }

    /// Asks the background signer ([`sign_audit_head`]) to sign the chain head with the CA
    /// key when [`AUDIT_CHECKPOINT_EVERY`] entries are unsigned: the check is one small
    /// query; the signature (milliseconds with an RSA-4096 CA key) and the checkpoint's own
    /// commit stay off the request that crossed the mark.
    fn sign_audit_head_if_due(&self) {
        let due = {
            let st = self.lock();
            audit::unsigned_entries(st.store.store().connection())
        };
        match due {
            Ok(n) if n >= AUDIT_CHECKPOINT_EVERY => {
                if lockstats::inline_audit_sign() {
                    // Benchmarks only: the request pays, as before.
                    if let Err(e) = sign_audit_head(&self.state, &self.issuer, &*self.clock) {
                        tracing::error!(error = %e, "cannot sign the audit log's head");
                    }
                    return;
                }
                self.audit_signer.request();
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the audit log's head"),
        }
    }

    /// Records a refusal that never reached an operation (see [`crate::audit_refusal`]).
    pub fn audit_refusal(&self, actor: &str, action: &str, target: &str, detail: &str) {
        let st = self.lock();
        crate::audit_refusal(
            st.store.store(),
            &*self.clock,
            actor,
            action,
            target,
            detail,
        );
    }

    /// Audit log entries from `since` (Unix seconds) on, oldest first (any role).
    pub fn audit_list(&self, _actor: &Admin, since: Option<i64>) -> Result<Vec<AuditEntry>> {
        let st = self.lock();
        audit::list(st.store.store().connection(), since, 100_000)
    }

    /// Verifies the audit chain, its CA-signed checkpoints and the audit anchor kept
    /// outside the database (any role): an anchor naming work the store lacks, or an invalid
    /// anchor, fails the verification (problem kind `anchor`); a missing one is a warning.
    pub fn audit_verify(&self, _actor: &Admin) -> Result<AuditReport> {
        let st = self.lock();
        let ca = certificate::public_key(st.issuer.certificate())?;
        let mut report = audit::verify(st.store.store().connection(), &ca)?;
        let anchor = anchor::check_locked(&st)?;
        if anchor.refused && report.problem.is_none() {
            report.ok = false;
            report.problem = Some(AuditProblem {
                seq: anchor.anchor_seq.unwrap_or(anchor.head_seq),
                kind: "anchor",
                message: anchor.message.clone(),
            });
        }
        report.anchor = Some(anchor);
        Ok(report)
    }

    /// Signs the audit chain head with the CA key now (administrator role); returns the
    /// signed entry.
    pub fn audit_sign(&self, actor: &Admin) -> Result<Option<i64>> {
        let r = actor.require_administrator().and_then(|()| {
            let st = self.lock();
            audit::sign_head(
                st.store.store().connection(),
                st.issuer.signing_key(),
                unix(self.now()),
            )
        });
        // The signature covers the entries before this one.
        self.audited(&actor.name, "audit.sign", "-", r)
    }

    // ---------------------------------------------------------------------------------
    // Quorum policies and approvals.

    /// [`Authority::gate_with`] for an operation without parameters or reason.
    pub(crate) fn gate(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        op: &str,
        target: &str,
    ) -> Result<()> {
        self.gate_with(rec, actor, &[op], target, &[], None)
            .map(|_| ())
    }

    /// Ok (with the approvals that were needed) when `actor` may carry out `ops[0]` on
    /// `target` with `params` now: the highest quorum of `ops` is 1, or the open request that
    /// `actor` opened for exactly this operation, target and parameters has enough approvals
    /// (the actor's own counted when they are an administrator). Otherwise opens or reuses
    /// that request (recording `why`), counts the actor's approval and returns
    /// [`Error::ApprovalPending`]. A request is carried out only by its opener: another
    /// administrator running the same command opens their own request, and a different
    /// parameter is a different request, so approvals never transfer.
    pub(crate) fn gate_with(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        ops: &[&str],
        target: &str,
        params: &[approvals::Param<'_>],
        why: Option<&str>,
    ) -> Result<i64> {
        let op = ops.first().copied().unwrap_or("policy-change");
        let why = approvals::check_why(why)?;
        let now = unix(self.now());
        let st = self.lock();
        let conn = st.store.store().connection();
        let mut needed = 1;
        for o in ops {
            needed = needed.max(approvals::effective_quorum(conn, o)?);
        }
        if needed <= 1 {
            return Ok(needed);
        }
        // A secret not in the database for the parameters' digest (see approvals.rs).
        let pepper: zeroize::Zeroizing<[u8; 32]> = {
            use sha2::Digest;
            let secret = crate::ca_key::ca_secret(&st.issuer, &st.store)?;
            let mut h = sha2::Sha256::new();
            h.update(b"kms-approval-pepper-v1");
            h.update(&secret[..]);
            zeroize::Zeroizing::new(h.finalize().into())
        };
        let tx = conn.transaction()?;
        approvals::forget_expired(&tx, now)?;
        let id = match approvals::open_request(&tx, op, target, actor.id, &pepper, params, now)? {
            Some(id) => id,
            None => approvals::create(
                &tx,
                &approvals::NewRequest {
                    op,
                    target,
                    opener_id: actor.id,
                    opener: &actor.name,
                    why,
                    pepper: &pepper,
                    params,
                    now,
                    expires_at: now + secs(self.config.approval_ttl),
                },
            )?,
        };
        let why_text: Option<String> = tx.query_row(
            "SELECT why FROM approval_requests WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?;
        rec.extend_target(&match why_text {
            Some(w) => format!(" (request {id}; why: {w})"),
            None => format!(" (request {id})"),
        });
        if actor.role == Role::Administrator {
            if !approvals::may_approve(&tx, actor.id)? {
                return Err(removed_approver(actor, id));
            }
            approvals::add_approval(&tx, id, actor.id, now)?;
        }
        let approved_by = approvals::approvers(&tx, id)?;
        if approved_by.len() as i64 >= needed {
            approvals::close(&tx, id, "done", now)?;
            tx.commit()?;
            return Ok(needed);
        }
        tx.commit()?;
        Err(Error::ApprovalPending {
            request_id: id,
            operation: op.into(),
            target: target.into(),
            approved_by,
            needed,
        })
    }

    /// The quorum policies (any role).
    pub fn policies(&self, _actor: &Admin) -> Result<Vec<Policy>> {
        let st = self.lock();
        approvals::policies(st.store.store().connection())
    }

    /// Sets an operation's quorum (administrator role, under the `policy-change` quorum).
    ///
    /// The invariants hold after every change: a governing quorum is never below the highest
    /// operational one (`recover-key`, `reenroll`), and `reenroll` never below
    /// `recover-key`. Raising an operational quorum raises the others to it (the answer's
    /// `raised` and the audit entry name them); setting one below its floor is refused
    /// ([`Error::QuorumBelowFloor`]); no quorum may need more administrators than there are
    /// ([`Error::TooFewApprovers`]).
    pub fn set_policy(&self, actor: &Admin, operation: &str, quorum: i64) -> Result<PolicyChange> {
        self.audit_op(
            &actor.name,
            "policy.set",
            &format!("{operation}={quorum}"),
            |rec| self.set_policy_inner(rec, actor, operation, quorum),
        )
    }

    fn set_policy_inner(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        operation: &str,
        quorum: i64,
    ) -> Result<PolicyChange> {
        actor.require_administrator()?;
        let operation = approvals::check_operation(operation)?;
        if quorum < 1 {
            return Err(Error::invalid(
                "quorum",
                format!("{quorum}: give 1 or more"),
            ));
        }
        self.check_policy(operation, quorum)?;
        let current = {
            let st = self.lock();
            approvals::quorum(st.store.store().connection(), operation)?
        };
        if current == quorum {
            // Nothing changes, so there is nothing to approve (scripts may set a policy
            // again); its entry commits on its own (or the call fails, like any change).
            let mut st = self.lock();
            let tx = st.store.connection_mut().transaction()?;
            audit::commit(tx, rec, unix(self.now()))?;
            return Ok(PolicyChange {
                policy: Policy { operation, quorum },
                raised: Vec::new(),
            });
        }
        self.gate(
            rec,
            actor,
            "policy-change",
            &format!("{operation}={quorum}"),
        )?;
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        approvals::set(&tx, operation, quorum)?;
        let raised = approvals::enforce_invariants(&tx)?;
        // Checked again under the write lock (another change may have come in between).
        let admins = approvals::administrators(&tx)?;
        let highest = approvals::highest(&tx)?;
        if highest > admins {
            return Err(Error::TooFewApprovers {
                needed: highest,
                available: admins,
            });
        }
        if !raised.is_empty() {
            let list = raised
                .iter()
                .map(|p| format!("{}={}", p.operation, p.quorum))
                .collect::<Vec<_>>()
                .join(", ");
            rec.set_target(&format!("{operation}={quorum} (raised {list})"));
        }
        audit::commit(tx, rec, unix(self.now()))?;
        Ok(PolicyChange {
            policy: Policy { operation, quorum },
            raised,
        })
    }

    /// Refuses a quorum below its floor or above the administrators able to approve.
    fn check_policy(&self, operation: &'static str, quorum: i64) -> Result<()> {
        let st = self.lock();
        let conn = st.store.store().connection();
        let floor = if operation == "recover-key" {
            1
        } else if operation == "reenroll" {
            approvals::quorum(conn, "recover-key")?
        } else {
            approvals::highest_operational(conn)?
        };
        if quorum < floor {
            return Err(Error::QuorumBelowFloor {
                operation,
                quorum,
                floor,
            });
        }
        let admins = approvals::administrators(conn)?;
        if quorum > admins {
            return Err(Error::TooFewApprovers {
                needed: quorum,
                available: admins,
            });
        }
        Ok(())
    }

    /// Open approval requests (any role).
    pub fn approvals(&self, _actor: &Admin) -> Result<Vec<ApprovalRequest>> {
        let st = self.lock();
        approvals::list(st.store.store().connection(), unix(self.now()))
    }

    /// Approves a request (administrator role). Refused, and audited, when the actor
    /// approved it already, or it expired or was closed.
    pub fn approve(&self, actor: &Admin, id: i64) -> Result<ApprovalRequest> {
        self.audit_op(&actor.name, "approve", &format!("request {id}"), |rec| {
            self.approve_inner(rec, actor, id)
        })
    }

    fn approve_inner(&self, rec: &audit::Op, actor: &Admin, id: i64) -> Result<ApprovalRequest> {
        actor.require_administrator()?;
        let now = unix(self.now());
        let st = self.lock();
        let conn = st.store.store().connection();
        let req = approvals::get(conn, id, now)?.ok_or(Error::UnknownRequest { id })?;
        match req.status.as_str() {
            "pending" => {}
            "expired" => {
                return Err(Error::ApprovalRefused(format!(
                    "request {id} expired; run the command again to open a new one"
                )));
            }
            other => {
                return Err(Error::ApprovalRefused(format!("request {id} is {other}")));
            }
        }
        if !approvals::may_approve(conn, actor.id)? {
            return Err(removed_approver(actor, id));
        }
        let tx = conn.transaction()?;
        if !approvals::add_approval(&tx, id, actor.id, now)? {
            return Err(Error::ApprovalRefused(format!(
                "{} approved request {id} already; another administrator must approve it",
                actor.name
            )));
        }
        audit::commit(tx, rec, now)?;
        approvals::get(conn, id, now)?.ok_or(Error::UnknownRequest { id })
    }

    /// Cancels an open request (administrator role).
    pub fn cancel_approval(&self, actor: &Admin, id: i64) -> Result<ApprovalRequest> {
        let op = |rec: &audit::Op| {
            actor.require_administrator()?;
            let now = unix(self.now());
            let st = self.lock();
            let conn = st.store.store().connection();
            let req = approvals::get(conn, id, now)?.ok_or(Error::UnknownRequest { id })?;
            if req.status != "pending" {
                return Err(Error::ApprovalRefused(format!(
                    "request {id} is {}",
                    req.status
                )));
            }
            let tx = conn.transaction()?;
            approvals::close(&tx, id, "cancelled", now)?;
            audit::commit(tx, rec, now)?;
            approvals::get(conn, id, now)?.ok_or(Error::UnknownRequest { id })
        };
        self.audit_op(
            &actor.name,
            "approvals.cancel",
            &format!("request {id}"),
            op,
        )
    }

    // ---------------------------------------------------------------------------------
    // Start-up secrets (unlock methods).

    fn methods(st: &State) -> Result<Vec<UnlockMethod>> {
        Ok(st
            .store
            .unlock_methods()?
            .into_iter()
            .map(|m| UnlockMethod {
                id: m.id.0,
                kind: match m.kind {
                    escrow::MethodKind::Password => "password",
                    escrow::MethodKind::KeyFile => "key-file",
                    _ => "other",
                },
                label: m.label,
                key_file_id: m.key_file_id,
                created_at: m.created_at,
            })
            .collect())
    }

    /// The start-up secrets that unlock the store (any role).
    pub fn unlock_methods(&self, _actor: &Admin) -> Result<Vec<UnlockMethod>> {
        Self::methods(&self.lock())
    }

    /// Adds a start-up password, or (`password` None) a new key file whose bytes are
    /// returned (administrator role, under the `unlock-method` quorum; the password is bound
    /// to the approval request by digest).
    pub fn add_unlock_method(
        &self,
        actor: &Admin,
        password: Option<&Password>,
    ) -> Result<NewUnlockMethod> {
        let kind = if password.is_some() {
            "password"
        } else {
            "key-file"
        };
        let op = |rec: &audit::Op| {
            actor.require_administrator()?;
            if let Some(p) = password {
                passwords::check_strong("start-up password", p.expose())?;
            }
            let params: Vec<approvals::Param<'_>> = password
                .map(|p| ("password", p.expose().as_bytes()))
                .into_iter()
                .collect();
            self.gate_with(
                rec,
                actor,
                &["unlock-method"],
                &format!("add unlock method {kind}"),
                &params,
                None,
            )?;
            let mut st = self.lock();
            let now = unix(self.now());
            // The audit entry commits in the store's own transaction for the change.
            let entry = |conn: &Connection| audit::append_op_sql(conn, rec, now).map(|_| ());
            let (id, key_file) = match password {
                Some(p) => (
                    st.store
                        .add_password_and(p, &self.config.admin_argon2, entry)?,
                    None,
                ),
                None => {
                    // Written beside the store (0600), read back, removed: the caller keeps it.
                    let dir = st.store.store().data_dir().to_path_buf();
                    let tmp = dir.join(format!(".new-key-file-{}", std::process::id()));
                    let _ = std::fs::remove_file(&tmp);
                    let id = st.store.add_key_file_and(&tmp, None, entry)?;
                    let bytes = std::fs::read(&tmp).map(zeroize::Zeroizing::new);
                    let _ = std::fs::remove_file(&tmp);
                    let bytes = bytes
                        .map_err(|e| Error::Corrupt(format!("reading the new key file: {e}")))?;
                    (id, Some(bytes))
                }
            };
            rec.mark_written();
            let method = Self::methods(&st)?
                .into_iter()
                .find(|m| m.id == id.0)
                .ok_or_else(|| Error::Corrupt("the new unlock method is missing".into()))?;
            Ok(NewUnlockMethod { method, key_file })
        };
        self.audit_op(&actor.name, "unlock-method.add", kind, op)
    }

    /// Removes a start-up secret (administrator role, under the `admin-change` quorum); the
    /// last one cannot be removed.
    pub fn remove_unlock_method(&self, actor: &Admin, id: i64) -> Result<()> {
        let op = |rec: &audit::Op| {
            actor.require_administrator()?;
            {
                let st = self.lock();
                if !Self::methods(&st)?.iter().any(|m| m.id == id) {
                    return Err(Error::invalid(
                        "unlock method",
                        format!("no unlock method {id}"),
                    ));
                }
            }
            self.gate(
                rec,
                actor,
                "unlock-method",
                &format!("remove unlock method {id}"),
            )?;
            let mut st = self.lock();
            let now = unix(self.now());
            st.store
                .remove_unlock_method_and(escrow::MethodId(id), |conn| {
                    audit::append_op_sql(conn, rec, now).map(|_| ())
                })?;
            rec.mark_written();
            Ok(())
        };
        self.audit_op(&actor.name, "unlock-method.remove", &id.to_string(), op)
    }
}

/// The refusal of an approval by an account that was removed (or lost the administrator role)
/// after its session began.
fn removed_approver(actor: &Admin, id: i64) -> Error {
    Error::ApprovalRefused(format!(
        "{} (account {}) was removed or is no longer an administrator: its approval of request {id} does not count",
        actor.name, actor.id
    ))
}

/// Signs the audit log's head with the CA key when [`AUDIT_CHECKPOINT_EVERY`] entries are
/// unsigned (the background signer's pass; true when it signed). The head is read and the
/// checkpoint stored under the state lock; the signature is made with no lock held.
pub(crate) fn sign_audit_head(
    state: &Mutex<State>,
    issuer: &Issuer,
    clock: &dyn Clock,
) -> Result<bool> {
    let head = {
        let st = lockstats::lock(state);
        let conn = st.store.store().connection();
        if audit::unsigned_entries(conn)? < AUDIT_CHECKPOINT_EVERY {
            return Ok(false);
        }
        audit::head(conn)?
    };
    let Some((seq, hash)) = head else {
        return Ok(false);
    };
    let signature = audit::sign_checkpoint(issuer.signing_key(), seq, &hash)?;
    let st = lockstats::lock(state);
    audit::insert_checkpoint(
        st.store.store().connection(),
        seq,
        &hash,
        &signature,
        unix(clock.now()),
    )?;
    Ok(true)
}
