//! Certificate issuing beyond enrollment: renewal, key roll-over, renew-all, and the
//! authority's own TLS server certificate.

use super::*;

/// How many times a renewal signs again when the user's certificates changed meanwhile.
const RENEW_ATTEMPTS: usize = 3;

impl Authority {
    /// Renews a user's certificates, optionally with a new encryption key (officer role;
    /// a new key is a key replacement, under the `reenroll` quorum).
    pub fn renew(&self, actor: &Admin, email: &str, new_key: bool) -> Result<Renewal> {
        let action = if new_key { "renew:new-key" } else { "renew" };
        self.audit_op(&actor.name, action, email, |rec| {
            self.renew_inner(rec, actor, email, new_key)
        })
    }

    /// Renews every active enrolled user (officer role); users who are disabled, never
    /// enrolled or revoked are skipped (see [`Authority::renew_expiring`]).
    pub fn renew_all(&self, actor: &Admin) -> Result<BatchRenewal> {
        self.renew_expiring(actor, None)
    }

    /// Renews the users named (officer role): each renewal is its own audited operation; a
    /// user who cannot be renewed is reported and the others go on.
    pub fn renew_users(&self, actor: &Admin, emails: &[String]) -> Result<BatchRenewal> {
        self.audit_op(
            &actor.name,
            "renew:batch",
            &emails.len().to_string(),
            |_rec| {
                actor.require_officer()?;
                Ok(self.renew_each(actor, emails.iter().cloned()))
            },
        )
    }

    // ---------------------------------------------------------------------------------
    // The authority's own TLS certificate.

    /// Issues a TLS server certificate for the authority itself (for `key`, naming
    /// `dns_names` and `ip_addresses`), records it so it can be revoked like any other, and
    /// returns it (DER). Called by the operator's `kmsd init` and `kmsd restore`, not through
    /// the API; audited as `tls.issue` by the actor `operator` (the local command line).
    pub fn issue_tls_certificate(
        &self,
        key: &PublicKey,
        dns_names: &[String],
        ip_addresses: &[std::net::IpAddr],
    ) -> Result<Vec<u8>> {
        let names: Vec<String> = dns_names
            .iter()
            .cloned()
            .chain(ip_addresses.iter().map(|ip| ip.to_string()))
            .collect();
        self.audit_op("operator", "tls.issue", &names.join(","), |rec| {
            self.issue_tls_certificate_inner(rec, key, dns_names, ip_addresses)
        })
    }

    fn issue_tls_certificate_inner(
        &self,
        rec: &audit::Op,
        key: &PublicKey,
        dns_names: &[String],
        ip_addresses: &[std::net::IpAddr],
    ) -> Result<Vec<u8>> {
        let now_t = self.now();
        let now = unix(now_t);
        let public_url = {
            let st = self.lock();
            setting(st.store.store().connection(), "public_url")?
        };
        let cn = dns_names
            .first()
            .cloned()
            .or_else(|| ip_addresses.first().map(|ip| ip.to_string()))
            .ok_or_else(|| {
                Error::invalid("TLS names", "give at least one DNS name or IP address")
            })?;
        let subject = Name::from_str(&format!("CN={}", escape_dn(&cn)))
            .map_err(|e| Error::invalid("TLS name", e.to_string()))?;
        let profile = Profile::TlsServer {
            subject,
            dns_names: dns_names.to_vec(),
            ip_addresses: ip_addresses
                .iter()
                .map(|ip| match ip {
                    std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                    std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
                })
                .collect(),
            revocation: RevocationUrls {
                crl: Some(format!("{public_url}/crl")),
                delta_crl: Some(format!("{public_url}/crl/delta")),
                ca_issuers: Some(format!("{public_url}/ca.der")),
                ocsp: None,
            },
        };
        // Signed with no lock held.
        let cert = self
            .issuer
            .issue(&profile, key, self.period(now_t), &mut pki::os_rng())?;
        let info = CertificateInfo::from_certificate(&cert)?;
        let der = certificate::to_der(&cert)?;
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        tx.execute(
            "INSERT INTO certificates (serial, user_id, kind, der, not_before, not_after, escrowed_key_id, issued_at)
             VALUES (?1, NULL, 'tls', ?2, ?3, ?4, NULL, ?5)",
            params![normalise_serial(&info.serial_hex)?, der, unix(info.not_before), unix(info.not_after), now],
        )?;
        audit::commit(tx, rec, now)?;
        Ok(der)
    }

    // ---------------------------------------------------------------------------------
    // Renewal.

    /// Renews a user's certificates. Without `new_key`: new signing and encryption
    /// certificates for the current keys. With `new_key`: a new encryption key, escrowed and
    /// certified now (old keys stay escrowed), and a new enrollment token with which the
    /// user collects it and has a new signing key certified.
    ///
    /// As enrollment does, the certificates are signed with no lock held (the CA key is
    /// shared); the state lock is taken to read the user's current certificates and again to
    /// commit, after checking that they are still the current ones (a concurrent renewal or
    /// revocation replaced them: signed again from the new state, at most
    /// [`RENEW_ATTEMPTS`] times). The old certificates' supersession, the new ones and the
    /// audit entry commit in one transaction (all or nothing: a serial that collides fails
    /// the insert and nothing is kept); the answer goes out once the commit is durable (an
    /// fsync shared with concurrent commits).
    fn renew_inner(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        email: &str,
        new_key: bool,
    ) -> Result<Renewal> {
        actor.require_officer()?;
        if new_key {
            return self.roll_over(rec, actor, email);
        }
        let mut attempt = 1;
        loop {
            match self.renew_once(rec, actor, email)? {
                Some(r) => return Ok(r),
                None if attempt < RENEW_ATTEMPTS => attempt += 1,
                None => {
                    return Err(Error::invalid(
                        "renewal",
                        "the user's certificates kept changing while they were renewed; try again",
                    ));
                }
            }
        }
    }

    /// One renewal attempt: None when the user's current certificates changed between the
    /// read and the commit (nothing was written).
    fn renew_once(&self, rec: &audit::Op, actor: &Admin, email: &str) -> Result<Option<Renewal>> {
        let now_t = self.now();
        let now = unix(now_t);
        let (id, user, old, subject) = {
            let st = self.lock();
            let conn = st.store.store().connection();
            let (id, user) = find_user(conn, email)?;
            if user.status != "active" {
                return Err(Error::UserDisabled { email: user.email });
            }
            let mut old = Vec::new();
            for kind in ["signing", "encryption"] {
                let CurrentCert {
                    serial,
                    der,
                    escrowed_key_id: key_id,
                } = current_cert_full(conn, id, kind, now)?.ok_or_else(|| Error::NotEnrolled {
                    email: user.email.clone(),
                    kind: if kind == "signing" {
                        "signing"
                    } else {
                        "encryption"
                    },
                })?;
                old.push((kind, serial, der, key_id));
            }
            let subject = self.smime_subject(&st, &user)?;
            (id, user, old, subject)
        };
        // Signed with no lock held.
        let period = self.period(now_t);
        let issuer = self.issuer.clone();
        let mut rng = pki::os_rng();
        let mut issued = Vec::new();
        for (kind, serial, der, key_id) in &old {
            let cert = certificate::parse_certificate(der)?;
            let key: PublicKey = certificate::public_key(&cert)?;
            let profile = if *kind == "signing" {
                Profile::SmimeSigning(subject.clone())
            } else {
                Profile::SmimeEncryption(subject.clone())
            };
            let new = issuer.issue(&profile, &key, period, &mut rng)?;
            issued.push((*kind, serial.clone(), new, *key_id));
        }
        let mut st = self.lock();
        {
            // What was read must still hold: the user active, the same current certificates.
            let conn = st.store.store().connection();
            let (_, now_user) = find_user(conn, email)?;
            if now_user.status != "active" {
                return Err(Error::UserDisabled {
                    email: now_user.email,
                });
            }
            for (kind, serial, _, _) in &old {
                let current = current_cert_full(conn, id, kind, now)?.map(|c| c.serial);
                if current.as_ref() != Some(serial) {
                    tracing::info!(user = %user.email, "certificates changed during a renewal: signing again");
                    return Ok(None);
                }
            }
        }
        let tx = st.store.begin_grouped()?;
        let mut certificates = Vec::new();
        for (kind, old_serial, cert, key_id) in &issued {
            tx.execute(
                "UPDATE certificates SET superseded_at = ?2 WHERE serial = ?1",
                params![old_serial, now],
            )?;
            certificates.push(insert_cert(&tx, id, kind, cert, *key_id, now)?);
        }
        let durable = audit::commit_grouped(tx, rec, unix(self.now()))?;
        drop(st);
        durable.wait()?;
        tracing::info!(admin = %actor.name, user = %user.email, "certificates renewed");
        Ok(Some(Renewal {
            email: user.email,
            certificates,
            enrollment_token: None,
        }))
    }

    /// Renewal with a new key: makes, certifies and escrows a new encryption key now (the
    /// directory serves its certificate at once; the old keys stay escrowed), and returns a
    /// new enrollment token with which the user collects the key and a new signing
    /// certificate for a new signing key.
    ///
    /// A key replacement: under the `reenroll` quorum. The key's certificate is signed with
    /// no lock held; the key, its certificate, the token and the entry commit in one
    /// transaction (an issued encryption key is never left unescrowed: a certificate signed
    /// but not committed is never published, and the key goes back to the pool).
    fn roll_over(&self, rec: &audit::Op, actor: &Admin, email: &str) -> Result<Renewal> {
        self.gate(
            rec,
            actor,
            "reenroll",
            &format!("{} (renew --new-key)", email.trim()),
        )?;
        let now_t = self.now();
        let now = unix(now_t);
        let (user_id, user, subject) = {
            let st = self.lock();
            let (user_id, user) = find_user(st.store.store().connection(), email)?;
            if user.status != "active" {
                return Err(Error::UserDisabled { email: user.email });
            }
            let subject = self.smime_subject(&st, &user)?;
            (user_id, user, subject)
        };
        let enc_key = self.pool.take()?;
        let certified = (|| {
            let cert = self.issuer.issue(
                &Profile::SmimeEncryption(subject),
                &enc_key.public_key(),
                self.period(now_t),
                &mut pki::os_rng(),
            )?;
            let der = certificate::to_der(&cert)?;
            let key_der = enc_key.to_pkcs8_der()?;
            Ok::<_, Error>((cert, der, key_der))
        })();
        let (encryption, enc_der, key_der) = match certified {
            Ok(c) => c,
            Err(e) => {
                self.pool.add(vec![enc_key]);
                return Err(e);
            }
        };
        let token = Token::generate()?;
        let expires_at = now + secs(self.config.token_ttl);
        let mut st = self.lock();
        let (_, now_user) = find_user(st.store.store().connection(), email)?;
        if now_user.status != "active" {
            drop(st);
            self.pool.add(vec![enc_key]);
            return Err(Error::UserDisabled {
                email: now_user.email,
            });
        }
        // The key, its certificate, the token and the entry: one transaction.
        let tx = st.store.begin_grouped()?;
        let key_id = tx.escrow(&NewKey {
            owner: &user.email,
            usage: KeyUsage::Encryption,
            private_key_der: key_der.as_bytes(),
            certificate_der: Some(&enc_der),
            created_at: now,
        })?;
        tx.execute(
            "UPDATE tokens SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL",
            params![user_id, now],
        )?;
        tx.execute(
            "UPDATE certificates SET superseded_at = ?2
             WHERE user_id = ?1 AND kind = 'encryption' AND superseded_at IS NULL",
            params![user_id, now],
        )?;
        let summary = insert_cert(&tx, user_id, "encryption", &encryption, Some(key_id.0), now)?;
        tx.execute(
            "INSERT INTO tokens (token_hash, user_id, created_at, expires_at, pending_key_id)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![&token.hash()[..], user_id, now, expires_at, key_id.0],
        )?;
        let durable = audit::commit_grouped(tx, rec, unix(self.now()))?;
        drop(st);
        durable.wait()?;
        tracing::info!(admin = %actor.name, user = %user.email, "encryption key rolled over");
        Ok(Renewal {
            email: user.email,
            certificates: vec![summary],
            enrollment_token: Some(EnrollmentToken { token, expires_at }),
        })
    }

    /// Renews each of `emails` (without new keys), collecting who could not be renewed.
    pub(crate) fn renew_each(
        &self,
        actor: &Admin,
        emails: impl Iterator<Item = String>,
    ) -> BatchRenewal {
        let mut batch = BatchRenewal::default();
        for email in emails {
            match self.renew(actor, &email, false) {
                Ok(r) => batch.renewed.push(r),
                Err(e) => batch.failed.push((email, e)),
            }
        }
        batch
    }

    // ---------------------------------------------------------------------------------
    // Helpers.

    /// The user's SBR profile (their own, or the authority's) and the person its subject
    /// is made from.
    pub(crate) fn person(
        &self,
        st: &State,
        user: &UserInfo,
    ) -> Result<(pki::SbrProfile, pki::Person)> {
        let sbr = match &user.profile {
            Some(p) => pki::SbrProfile::by_name(p)?,
            None => self.config.profile,
        };
        let organization = match &self.config.organization {
            Some(o) => Some(o.clone()),
            None => st
                .issuer
                .certificate()
                .tbs_certificate()
                .subject()
                .organization()
                .ok()
                .flatten()
                .map(|o| o.value().into_owned()),
        };
        Ok((
            sbr,
            pki::Person {
                email: user.email.clone(),
                given_name: user.given_name.clone(),
                surname: user.surname.clone(),
                pseudonym: user.pseudonym.clone(),
                organization,
                organization_identifier: self.config.organization_identifier.clone(),
            },
        ))
    }

    pub(crate) fn smime_subject(&self, st: &State, user: &UserInfo) -> Result<SmimeSubject> {
        let public_url = setting(st.store.store().connection(), "public_url")?;
        let (sbr, person) = self.person(st, user)?;
        let subject = sbr.subject(&person)?;
        let capabilities = pki::algorithms::strongest_first(
            &user
                .capabilities
                .iter()
                .map(|c| ContentAlgorithm::from_str(c))
                .collect::<std::result::Result<Vec<_>, _>>()?,
        );
        Ok(SmimeSubject {
            subject,
            email: user.email.clone(),
            capabilities,
            revocation: RevocationUrls {
                crl: Some(format!("{public_url}/crl")),
                delta_crl: Some(format!("{public_url}/crl/delta")),
                ca_issuers: Some(format!("{public_url}/ca.der")),
                ocsp: Some(format!("{public_url}/ocsp")),
            },
            sbr: Some(sbr),
            policy: self.config.policy.clone(),
        })
    }

    pub(crate) fn period(&self, now: SystemTime) -> Period {
        Period {
            not_before: now - Duration::from_secs(300),
            not_after: now + self.config.cert_validity,
        }
    }
}
