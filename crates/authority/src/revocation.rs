//! Revocation and the full and delta CRLs.

use super::*;

impl Authority {
    /// Revokes a user's certificates or one certificate (officer role).
    ///
    /// Answers once the revocation committed (with the CRL state marked due in the same
    /// transaction), after waiting a short bounded time ([`Config::crl_publish_wait`]) for
    /// the publisher to re-sign the CRL that lists it; the outcome says which CRL that is and
    /// whether it is published yet. Revoking a revoked certificate again succeeds: with
    /// `keyCompromise` over another reason the reason is raised, otherwise nothing changes.
    pub fn revoke(
        &self,
        actor: &Admin,
        target: &RevokeTarget,
        reason: RevocationReason,
    ) -> Result<RevokeOutcome> {
        let t = match target {
            RevokeTarget::User(e) => e.clone(),
            RevokeTarget::Serial(s) => format!("serial {s}"),
        };
        let (revoked, already_revoked, listed_in) =
            self.audit_op(&actor.name, &format!("revoke:{reason:?}"), &t, |rec| {
                self.revoke_inner(rec, actor, target, reason)
            })?;
        if listed_in.is_some() {
            // Committed: the OCSP responder answers from the store from now on.
            self.ocsp.invalidate();
        }
        let published = match listed_in {
            Some(_) => {
                let n = self.publisher.request();
                self.publisher.wait(n, self.config.crl_publish_wait)
            }
            None => true,
        };
        let (number, this_update, due): (i64, i64, bool) = {
            let st = self.lock();
            st.store.store().connection().query_row(
                "SELECT number, this_update, due FROM crl_state WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?
        };
        let listed = published && !due;
        Ok(RevokeOutcome {
            revoked,
            already_revoked,
            crl_number: if listed {
                number
            } else {
                listed_in.unwrap_or(number)
            },
            crl_published_at: listed.then_some(this_update),
        })
    }

    /// How many certificates `revoke` of the user `email` would revoke now (officer role):
    /// the server asks for a confirmation when it is more than one.
    pub fn revocable_count(&self, actor: &Admin, email: &str) -> Result<usize> {
        Ok(self.revocable_serials(actor, email)?.len())
    }

    /// The serials revoking the user `email` would revoke now (unexpired, not revoked yet,
    /// oldest first), as the revocation itself selects them (officer role).
    pub fn revocable_serials(&self, actor: &Admin, email: &str) -> Result<Vec<String>> {
        actor.require_officer()?;
        let now = unix(self.now());
        let st = self.lock();
        let conn = st.store.store().connection();
        let (id, _) = find_user(conn, email)?;
        let mut stmt = conn.prepare(
            "SELECT c.serial FROM certificates c
             WHERE c.user_id = ?1 AND c.not_after > ?2
               AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.serial = c.serial)
             ORDER BY c.issued_at",
        )?;
        let serials = stmt
            .query_map(params![id, now], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(serials)
    }

    // ---------------------------------------------------------------------------------
    // Revocation and CRLs.

    /// Commits the revocations, the CRL state "due" and the audit entry in one transaction.
    /// Returns the serials revoked (or whose reason was raised), those revoked already and
    /// left as they were, and the number of the CRL that will list the change (None when
    /// nothing changed).
    fn revoke_inner(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        target: &RevokeTarget,
        reason: RevocationReason,
    ) -> Result<(Vec<String>, Vec<String>, Option<i64>)> {
        actor.require_officer()?;
        let now = unix(self.now());
        let mut st = self.lock();
        let tx = st
            .store
            .connection_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let next_number = next_crl_number(&tx)?;
        let mut already = Vec::new();
        let mut raised = Vec::new();
        let serials: Vec<String> = match target {
            RevokeTarget::User(email) => {
                let (id, user) = find_user(&tx, email)?;
                let mut stmt = tx.prepare(
                    "SELECT c.serial FROM certificates c
                     WHERE c.user_id = ?1 AND c.not_after > ?2
                       AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.serial = c.serial)
                     ORDER BY c.issued_at",
                )?;
                let s = stmt
                    .query_map(params![id, now], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                if s.is_empty() {
                    return Err(Error::NothingToRevoke(format!(
                        "{} has no unrevoked certificate",
                        user.email
                    )));
                }
                s
            }
            RevokeTarget::Serial(serial) => {
                let serial = normalise_serial(serial)?;
                let known: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = ?1)",
                    [&serial],
                    |r| r.get(0),
                )?;
                if !known {
                    return Err(Error::UnknownCertificate { serial });
                }
                let current: Option<String> = tx
                    .query_row(
                        "SELECT reason FROM revocations WHERE serial = ?1",
                        [&serial],
                        |r| r.get(0),
                    )
                    .optional()?;
                match current {
                    None => vec![serial],
                    Some(old)
                        if reason == RevocationReason::KeyCompromise
                            && old != RevocationReason::KeyCompromise.name() =>
                    {
                        raised.push(serial);
                        Vec::new()
                    }
                    Some(_) => {
                        already.push(serial);
                        Vec::new()
                    }
                }
            }
        };
        for s in &serials {
            tx.execute(
                "INSERT INTO revocations (serial, reason, revoked_at, crl_number) VALUES (?1, ?2, ?3, ?4)",
                params![s, reason.name(), now, next_number],
            )?;
        }
        for s in &raised {
            // The date stays the first revocation's; the next CRL (and its delta) show the
            // raised reason.
            tx.execute(
                "UPDATE revocations SET reason = ?2, crl_number = ?3 WHERE serial = ?1",
                params![s, reason.name(), next_number],
            )?;
        }
        let changed: Vec<String> = serials.into_iter().chain(raised).collect();
        if changed.is_empty() {
            // Nothing changes: the entry is appended on its own (as an `ok`).
            drop(tx);
            tracing::info!(admin = %actor.name, serials = ?already, "revoked already; nothing changed");
            return Ok((Vec::new(), already, None));
        }
        tx.execute("UPDATE crl_state SET due = 1 WHERE id = 1", [])?;
        audit::commit(tx, rec, unix(self.now()))?;
        tracing::info!(admin = %actor.name, count = changed.len(), reason = reason.name(), "certificates revoked");
        Ok((changed, already, Some(next_number)))
    }

    /// Re-signs the CRLs now when the store's CRL state says a re-sign is due or their
    /// nextUpdate is near (what the publisher thread does on its own). True when it did.
    pub fn refresh_crl_if_due(&self) -> Result<bool> {
        let mut st = self.lock();
        crl_pass(&mut st, &self.published, &*self.clock, &self.config)
    }

    /// Re-signs the CRLs from the store's state now.
    pub(crate) fn rebuild_crl(&self, st: &mut State) -> Result<()> {
        sign_crls(st, &self.published, &*self.clock, &self.config)
    }

    /// Re-signs made by the publisher thread since the authority was unlocked.
    #[doc(hidden)]
    pub fn crl_publisher_signs(&self) -> u64 {
        self.publisher.signs()
    }

    /// None when the served CRL lists every revocation in the store (with its current
    /// reason), has the store's CRL number and is fresh; otherwise a short reason, for
    /// `/healthz`.
    pub fn crl_health(&self) -> Option<String> {
        let now = unix(self.now());
        let st = self.lock();
        let served = self
            .published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .crl_der
            .clone();
        let r = crl_lag(st.store.store().connection(), &served, now, &self.config);
        drop(st);
        let lag = match r {
            Ok(lag) => lag,
            Err(e) => Some(format!("the CRL state cannot be read: [{}] {e}", e.code())),
        };
        match (lag, self.publisher.last_error()) {
            (None, _) => None,
            (Some(l), Some(e)) => Some(format!("{l}; the last re-sign failed: {e}")),
            (Some(l), None) => Some(l),
        }
    }
}

/// What is wrong with the served CRL `served` against the store's state, if anything.
fn crl_lag(conn: &Connection, served: &[u8], now: i64, config: &Config) -> Result<Option<String>> {
    let state: Option<(i64, i64, bool)> = conn
        .query_row(
            "SELECT number, next_update, due FROM crl_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((number, next_update, due)) = state else {
        return Ok(Some("no CRL has been signed".into()));
    };
    let mut stmt = conn.prepare("SELECT serial, reason FROM revocations")?;
    let revocations = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let Ok(crl) = pki::crl::Crl::parse(served) else {
        return Ok(Some("the served CRL cannot be read".into()));
    };
    let listed: std::collections::HashMap<String, &'static str> = crl
        .entries()
        .map(|e| (serial_of_bytes(&e.serial), e.reason.name()))
        .collect();
    let missing = revocations
        .iter()
        .filter(|(s, r)| listed.get(s).is_none_or(|l| *l != r.as_str()))
        .count();
    if missing > 0 {
        return Ok(Some(format!(
            "the served CRL lacks {missing} of the store's {} revocations (or their current reason)",
            revocations.len()
        )));
    }
    if crl.number() != u64::try_from(number).ok() {
        return Ok(Some(format!(
            "the served CRL's number is not the store's ({number})"
        )));
    }
    if due {
        return Ok(Some("a CRL re-sign is due".into()));
    }
    if next_update <= now {
        return Ok(Some("the CRL is past its nextUpdate".into()));
    }
    if next_update - secs(config.crl_refresh_margin) / 2 <= now {
        return Ok(Some(
            "the CRL's nextUpdate is near and it was not re-signed".into(),
        ));
    }
    Ok(None)
}

/// One publisher pass: re-signs when the store's CRL state is due or missing, when the
/// served CRL lags the store (see [`crl_lag`]: e.g. after a restore), or near its nextUpdate.
/// True when it signed.
pub(crate) fn crl_pass(
    st: &mut State,
    published: &RwLock<Published>,
    clock: &dyn Clock,
    config: &Config,
) -> Result<bool> {
    let now = unix(clock.now());
    let conn = st.store.store().connection();
    let next_update: Option<i64> = conn
        .query_row("SELECT next_update FROM crl_state WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    let near = next_update.is_none_or(|n| n - secs(config.crl_refresh_margin) <= now);
    if !near {
        let served = published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .crl_der
            .clone();
        if crl_lag(conn, &served, now, config)?.is_none() {
            return Ok(false);
        }
    }
    sign_crls(st, published, clock, config)?;
    Ok(true)
}

/// Signs the full and delta CRLs from the store's revocations and stores them (clearing
/// "due") in one transaction; then serves them.
pub(crate) fn sign_crls(
    st: &mut State,
    published: &RwLock<Published>,
    clock: &dyn Clock,
    config: &Config,
) -> Result<()> {
    let now_t = clock.now();
    let now = unix(now_t);
    let public_url = setting(st.store.store().connection(), "public_url")?;
    let conn = st.store.store().connection();
    let previous: Option<i64> = conn
        .query_row("SELECT number FROM crl_state WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    let number = next_crl_number(conn)?;
    let delta_number = number + 1;
    // The delta lists what changed since the previous full CRL (nothing, the first time).
    let base = previous.unwrap_or(number);
    let this_update = now_t;
    let next_update = now_t + config.crl_validity;
    let mut full = CrlBuilder::new(number as u64, this_update, next_update)?
        .freshest_crl(format!("{public_url}/crl/delta"));
    let mut delta =
        CrlBuilder::new(delta_number as u64, this_update, next_update)?.delta_of(base as u64)?;
    let mut stmt = conn.prepare(
        "SELECT serial, reason, revoked_at, crl_number FROM revocations ORDER BY revoked_at",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    drop(stmt);
    for (serial, reason, at, listed_in) in rows {
        let entry = CrlEntry {
            serial: serial_bytes(&serial)?,
            revoked_at: from_unix(at),
            reason: RevocationReason::from_str(&reason)
                .map_err(|_| Error::Corrupt(format!("revocation reason {reason}")))?,
        };
        full.add(&entry)?;
        if listed_in > base {
            delta.add(&entry)?;
        }
    }
    let crl_der = full.sign(&st.issuer)?;
    let delta_der = delta.sign(&st.issuer)?;
    st.store.connection_mut().execute(
            "INSERT INTO crl_state (id, number, delta_number, this_update, next_update, crl, delta_crl, due)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, 0)
             ON CONFLICT (id) DO UPDATE SET number = ?1, delta_number = ?2, this_update = ?3,
                 next_update = ?4, crl = ?5, delta_crl = ?6, due = 0",
            params![number, delta_number, now, unix(next_update), crl_der, delta_der],
        )?;
    let ca_der = certificate::to_der(st.issuer.certificate())?;
    *published.write().unwrap_or_else(|p| p.into_inner()) = Published {
        ca_der,
        crl_der,
        delta_crl_der: delta_der,
    };
    tracing::info!(number, "CRL signed");
    Ok(())
}
