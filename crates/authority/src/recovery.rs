//! Key recovery: every encryption key a user ever had, in one PKCS#12, under the
//! `recover-key` quorum.

use super::*;

impl Authority {
    // ---------------------------------------------------------------------------------
    // Key recovery.

    /// Every encryption key `email` ever had, each with its certificate, in one PKCS#12
    /// under `password` (administrator role, under the `recover-key` quorum). Signing keys
    /// are never escrowed, so never in it. With `reenroll`, also a new enrollment token
    /// (then under the higher of the `recover-key` and `reenroll` quorums).
    ///
    /// Under a quorum, the request is bound to its opener and to `reenroll`: only the
    /// administrator who opened it carries it out, and the bundle's password is the one they
    /// give then. `why` (optional, at most [`WHY_MAX`] characters) is recorded with the
    /// request, shown to the approvers and kept in the audit log.
    pub fn recover_key(
        &self,
        actor: &Admin,
        email: &str,
        password: &Password,
        reenroll: bool,
        why: Option<&str>,
    ) -> Result<Recovery> {
        let email = email.trim().to_ascii_lowercase();
        self.audit_op(&actor.name, "recover-key", &email, |rec| {
            self.recover_key_inner(rec, actor, &email, password, reenroll, why)
        })
    }

    fn recover_key_inner(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        email: &str,
        password: &Password,
        reenroll: bool,
        why: Option<&str>,
    ) -> Result<Recovery> {
        actor.require_administrator()?;
        passwords::check_bundle(password.expose())?;
        // Keys are escrowed under the address as stored (the caller may spell it otherwise).
        let owner = {
            let st = self.lock();
            find_user(st.store.store().connection(), email)?.1.email
        };
        let ops: &[&str] = if reenroll {
            &["recover-key", "reenroll"]
        } else {
            &["recover-key"]
        };
        let flag: &[u8] = if reenroll { b"1" } else { b"0" };
        // Keys split among key recovery agents need their shares: an agent request, opened
        // once the approvals passed, collects them; its opener then runs this again.
        let agent_request = self.open_recover_request(actor, &owner, reenroll)?;
        if agent_request.is_none() {
            self.gate_with(rec, actor, ops, email, &[("reenroll", flag)], why)?;
        }
        let split_count: i64 = {
            let st = self.lock();
            st.store.store().connection().query_row(
                "SELECT count(*) FROM split_keys s JOIN escrowed_keys k ON k.id = s.key_id
                 WHERE k.owner = ?1",
                [&owner],
                |r| r.get(0),
            )?
        };
        let rebuilt = if split_count > 0 {
            let id = match agent_request {
                Some(id) => id,
                None => {
                    let id = self.open_recover_request_now(actor, &owner, reenroll)?;
                    rec.extend_target(&format!(" (agent request {id})"));
                    return Err(self.shares_pending(id));
                }
            };
            rec.extend_target(&format!(" (agent request {id})"));
            Some((id, self.rebuild_split_keys(id, &owner)?))
        } else {
            None
        };
        let pkcs12 = {
            let st = self.lock();
            let conn = st.store.store().connection();
            let mut keys = Vec::new();
            for k in st.store.keys_of(&owner)? {
                if k.info.usage != KeyUsage::Encryption {
                    continue;
                }
                let cert_der = match &k.certificate_der {
                    Some(c) => c.clone(),
                    None => conn
                        .query_row(
                            "SELECT der FROM certificates WHERE escrowed_key_id = ?1
                             ORDER BY issued_at DESC LIMIT 1",
                            [k.info.id.0],
                            |r| r.get::<Vec<u8>>(0),
                        )
                        .optional()?
                        .ok_or_else(|| {
                            Error::Corrupt(format!(
                                "escrowed key {} has no certificate",
                                k.info.id.0
                            ))
                        })?,
                };
                let key = match (&k.agent_split, &rebuilt) {
                    (Some(_), Some((_, keys))) => {
                        let der = keys.get(&k.info.id.0).ok_or_else(|| {
                            Error::Corrupt(format!("split key {} was not rebuilt", k.info.id.0))
                        })?;
                        PrivateKey::from_der(der)?
                    }
                    _ => PrivateKey::from_der(k.private_key_der.expose())?,
                };
                let cert = certificate::parse_certificate(&cert_der)?;
                // Kind, date and serial, as in every bundle (not a counter).
                let name = pki::bundle::friendly_name(&cert)?;
                keys.push((key, cert, name));
            }
            if keys.is_empty() {
                return Err(Error::NotEnrolled {
                    email: email.into(),
                    kind: "encryption",
                });
            }
            let entries: Vec<pki::pkcs12::Pkcs12Entry<'_>> = keys
                .iter()
                .map(|(key, certificate, name)| pki::pkcs12::Pkcs12Entry {
                    key,
                    certificate,
                    friendly_name: Some(name),
                })
                .collect();
            let bytes = pki::pkcs12::export(
                &entries,
                std::slice::from_ref(st.issuer.certificate()),
                password.expose(),
                &pki::pkcs12::ExportOptions::modern()
                    .with_iterations(self.config.recovery_pkcs12_iterations),
                &mut pki::os_rng(),
            )?;
            (bytes, keys.len())
        };
        if let Some((id, keys)) = rebuilt {
            drop(keys);
            self.close_agent_request(id)?;
        }
        let token = if reenroll {
            // Approved above under the `reenroll` quorum too.
            Some(self.token_inner(rec, actor, email)?)
        } else {
            None
        };
        tracing::warn!(by = %actor.name, user = email, keys = pkcs12.1, "encryption keys recovered");
        Ok(Recovery {
            pkcs12: pkcs12.0,
            keys: pkcs12.1,
            token,
        })
    }
}
