//! Revocation and the full and delta CRLs.

use super::*;

impl Authority {
    /// Revokes a user's certificates or one certificate (officer role).
    pub fn revoke(
        &self,
        actor: &Admin,
        target: &RevokeTarget,
        reason: RevocationReason,
    ) -> Result<Vec<String>> {
        let t = match target {
            RevokeTarget::User(e) => e.clone(),
            RevokeTarget::Serial(s) => format!("serial {s}"),
        };
        self.audit_op(&actor.name, &format!("revoke:{reason:?}"), &t, |rec| {
            self.revoke_inner(rec, actor, target, reason)
        })
    }

    /// How many certificates `revoke` of the user `email` would revoke now (officer role):
    /// the server asks for a confirmation when it is more than one.
    pub fn revocable_count(&self, actor: &Admin, email: &str) -> Result<usize> {
        actor.require_officer()?;
        let now = unix(self.now());
        let st = self.lock();
        let conn = st.store.store().connection();
        let (id, _) = find_user(conn, email)?;
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) FROM certificates c
             WHERE c.user_id = ?1 AND c.not_after > ?2
               AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.serial = c.serial)",
            params![id, now],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    // ---------------------------------------------------------------------------------
    // Revocation and CRLs.

    /// Revokes and re-signs the CRLs at once. Returns the serials revoked.
    fn revoke_inner(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        target: &RevokeTarget,
        reason: RevocationReason,
    ) -> Result<Vec<String>> {
        actor.require_officer()?;
        let now = unix(self.now());
        let mut st = self.lock();
        let next_number = next_crl_number(st.store.store().connection())?;
        let tx = st
            .store
            .connection_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
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
                let revoked: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM revocations WHERE serial = ?1)",
                    [&serial],
                    |r| r.get(0),
                )?;
                if revoked {
                    return Err(Error::NothingToRevoke(format!(
                        "certificate {serial} is revoked already"
                    )));
                }
                vec![serial]
            }
        };
        for s in &serials {
            tx.execute(
                "INSERT INTO revocations (serial, reason, revoked_at, crl_number) VALUES (?1, ?2, ?3, ?4)",
                params![s, reason.name(), now, next_number],
            )?;
        }
        audit::commit(tx, rec, unix(self.now()))?;
        self.rebuild_crl(&mut st)?;
        tracing::info!(admin = %actor.name, count = serials.len(), reason = reason.name(), "certificates revoked");
        Ok(serials)
    }

    /// Re-signs the CRLs when their nextUpdate is near. Returns true when it did.
    pub fn refresh_crl_if_due(&self) -> Result<bool> {
        let now = unix(self.now());
        let mut st = self.lock();
        let next_update: Option<i64> = st
            .store
            .store()
            .connection()
            .query_row("SELECT next_update FROM crl_state WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        if next_update.is_some_and(|n| n - secs(self.config.crl_refresh_margin) > now) {
            return Ok(false);
        }
        self.rebuild_crl(&mut st)?;
        Ok(true)
    }

    pub(crate) fn rebuild_crl(&self, st: &mut State) -> Result<()> {
        let now_t = self.now();
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
        let next_update = now_t + self.config.crl_validity;
        let mut full = CrlBuilder::new(number as u64, this_update, next_update)?
            .freshest_crl(format!("{public_url}/crl/delta"));
        let mut delta = CrlBuilder::new(delta_number as u64, this_update, next_update)?
            .delta_of(base as u64)?;
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
                serial: hex::decode(&serial)
                    .map_err(|_| Error::Corrupt(format!("serial {serial}")))?,
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
            "INSERT INTO crl_state (id, number, delta_number, this_update, next_update, crl, delta_crl)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET number = ?1, delta_number = ?2, this_update = ?3,
                 next_update = ?4, crl = ?5, delta_crl = ?6",
            params![number, delta_number, now, unix(next_update), crl_der, delta_der],
        )?;
        let ca_der = certificate::to_der(st.issuer.certificate())?;
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = Published {
            ca_der,
            crl_der,
            delta_crl_der: delta_der,
        };
        tracing::info!(number, "CRL signed");
        Ok(())
    }
}
