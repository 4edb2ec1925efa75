//! Users, enrollment tokens, enrollment from a client's CSR, and the directory.

use super::*;

impl Authority {
    /// Adds a user and returns their first enrollment token (officer role).
    pub fn add_user(
        &self,
        actor: &Admin,
        email: &str,
        name: &str,
        capabilities: &[ContentAlgorithm],
    ) -> Result<(UserInfo, EnrollmentToken)> {
        self.add_user_with(
            actor,
            &NewUser {
                email,
                name,
                capabilities,
                ..NewUser::default()
            },
        )
    }

    /// Adds a user with the name parts and certificate profile of `new` (officer role).
    /// A user whose profile (their own, or the authority's) is sponsor-validated needs a
    /// given name and a surname (or a pseudonym): refused without them, naming the rule
    /// (`AUTH-080`, `sbr.subject.person_name`).
    pub fn add_user_with(
        &self,
        actor: &Admin,
        new: &NewUser<'_>,
    ) -> Result<(UserInfo, EnrollmentToken)> {
        self.audit_op(&actor.name, "user.add", new.email, |rec| {
            self.add_user_inner(rec, actor, new)
        })
    }

    /// Disables a user (officer role).
    pub fn disable_user(&self, actor: &Admin, email: &str) -> Result<UserInfo> {
        self.audit_op(&actor.name, "user.disable", email, |rec| {
            self.disable_user_inner(rec, actor, email)
        })
    }

    /// A new enrollment token for a user (officer role). For a user who has certificates
    /// already this is a key replacement (whoever holds the token gets new keys in the
    /// user's name): it runs under the `reenroll` quorum and is audited as
    /// `reenroll:token`, naming who asked. The old certificates are not revoked (mail they
    /// signed keeps verifying); the next enrollment marks them superseded.
    pub fn new_token(&self, actor: &Admin, email: &str) -> Result<EnrollmentToken> {
        let action = if self.has_certificates(email).unwrap_or(false) {
            "reenroll:token"
        } else {
            "user.token"
        };
        self.audit_op(&actor.name, action, email, |rec| {
            self.new_token_inner(rec, actor, email)
        })
    }

    /// True when the user `email` was ever issued a certificate.
    pub(crate) fn has_certificates(&self, email: &str) -> Result<bool> {
        let st = self.lock();
        Ok(st.store.store().connection().query_row(
            "SELECT EXISTS (SELECT 1 FROM certificates c JOIN users u ON u.id = c.user_id
             WHERE u.email_key = ?1)",
            [email_key(email)],
            |r| r.get(0),
        )?)
    }

    /// Enrolls with a one-time token and a PKCS#10 request.
    pub fn enroll(&self, token: &str, csr: &[u8]) -> Result<Enrollment> {
        // The target (the user's address) is named by enroll_inner once the token is known.
        self.audit_op("-", "enroll", "-", |rec| self.enroll_inner(rec, token, csr))
    }

    // ---------------------------------------------------------------------------------
    // Users and tokens.

    /// Adds a user and returns their first enrollment token.
    fn add_user_inner(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        new: &NewUser<'_>,
    ) -> Result<(UserInfo, EnrollmentToken)> {
        let NewUser {
            email,
            name,
            capabilities,
            ..
        } = *new;
        actor.require_officer()?;
        let email = display_email(email);
        check_email(&email)?;
        pki::profile::validate_email(&email)
            .map_err(|e| Error::invalid("e-mail address", e.to_string()))?;
        let name = name.trim();
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return Err(Error::invalid("name", "give 1 to 200 printable characters"));
        }
        if name.chars().any(is_bidi_control) {
            return Err(Error::invalid(
                "name",
                "bidirectional control characters (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) are not allowed",
            ));
        }
        // Strongest first, as every certificate and signature lists them.
        let caps = pki::algorithms::strongest_first(
            match capabilities {
                [] if self.config.capabilities.is_empty() => {
                    ContentAlgorithm::parse_list(DEFAULT_CAPABILITIES)?
                }
                [] => self.config.capabilities.clone(),
                given => given.to_vec(),
            }
            .as_slice(),
        );
        let caps_text = caps.iter().map(|c| c.name()).collect::<Vec<_>>().join(",");
        let given_name = name_part("given name", new.given_name)?;
        let surname = name_part("surname", new.surname)?;
        let pseudonym = name_part("pseudonym", new.pseudonym)?;
        let profile = match new.profile.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Some(pki::SbrProfile::by_name(p)?.name.to_string()),
            None => None,
        };
        // The subject the profile will write: refused now (token time) when the record
        // lacks what it needs, rather than at enrollment.
        {
            let st = self.lock();
            let probe = UserInfo {
                email: email.clone(),
                name: name.into(),
                capabilities: Vec::new(),
                status: "active".into(),
                created_at: 0,
                given_name: given_name.clone(),
                surname: surname.clone(),
                pseudonym: pseudonym.clone(),
                profile: profile.clone(),
                state: UserState::Invited,
                state_expires_at: None,
            };
            let (sbr, person) = self.person(&st, &probe)?;
            sbr.subject(&person)?;
        }
        let now = unix(self.now());
        let token = Token::generate()?;
        let expires_at = now + secs(self.config.token_ttl);
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email_key = ?1)",
            [email_key(&email)],
            |r| r.get(0),
        )?;
        if exists {
            return Err(Error::UserExists { email });
        }
        let user_id: i64 = tx.query_row(
            "INSERT INTO users (email, email_key, name, capabilities, status, created_at,
                                given_name, surname, pseudonym, profile)
             VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?6, ?7, ?8, ?9) RETURNING id",
            params![
                email,
                email_key(&email),
                name,
                caps_text,
                now,
                given_name,
                surname,
                pseudonym,
                profile
            ],
            |r| r.get(0),
        )?;
        insert_token(&tx, user_id, &token, now, expires_at)?;
        audit::commit(tx, rec, unix(self.now()))?;
        tracing::info!(admin = %actor.name, user = %email, "user added");
        Ok((
            UserInfo {
                email,
                name: name.into(),
                capabilities: caps.iter().map(|c| c.name().to_string()).collect(),
                status: "active".into(),
                created_at: now,
                given_name,
                surname,
                pseudonym,
                profile,
                state: UserState::Invited,
                state_expires_at: Some(expires_at),
            },
            EnrollmentToken { token, expires_at },
        ))
    }

    /// Every user, by address, with their lifecycle states.
    pub fn list_users(&self, _actor: &Admin) -> Result<Vec<UserInfo>> {
        let st = self.lock();
        self.all_users_with_states(st.store.store().connection())
    }

    /// One user with their certificates.
    pub fn user(&self, _actor: &Admin, email: &str) -> Result<UserDetail> {
        let st = self.lock();
        let conn = st.store.store().connection();
        let (id, user) = find_user(conn, email)?;
        let user = self.with_state(conn, id, user)?;
        let mut stmt = conn.prepare(
            "SELECT c.serial, c.kind, c.not_before, c.not_after, r.reason, c.superseded_at
             FROM certificates c LEFT JOIN revocations r ON r.serial = c.serial
             WHERE c.user_id = ?1
             ORDER BY c.issued_at, c.superseded_at IS NULL, c.serial",
        )?;
        let certificates = stmt
            .query_map([id], |r| {
                Ok(CertSummary {
                    serial: r.get(0)?,
                    kind: r.get(1)?,
                    not_before: r.get(2)?,
                    not_after: r.get(3)?,
                    revoked: r.get(4)?,
                    superseded: r.get::<Option<i64>>(5)?.is_some(),
                })
            })?
            .collect::<db::Result<Vec<_>>>()?;
        let escrowed_keys = st
            .store
            .list()?
            .iter()
            .filter(|k| k.owner == user.email && k.usage == KeyUsage::Encryption)
            .count();
        Ok(UserDetail {
            user,
            certificates,
            escrowed_keys,
        })
    }

    /// Disables a user: outstanding tokens stop working; certificates stay as they are
    /// (revoke them separately).
    fn disable_user_inner(&self, rec: &audit::Op, actor: &Admin, email: &str) -> Result<UserInfo> {
        actor.require_officer()?;
        let now = unix(self.now());
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        let (id, mut user) = find_user(&tx, email)?;
        tx.execute("UPDATE users SET status = 'disabled' WHERE id = ?1", [id])?;
        tx.execute(
            "UPDATE tokens SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL",
            params![id, now],
        )?;
        audit::commit(tx, rec, unix(self.now()))?;
        user.status = "disabled".into();
        user.state = UserState::Disabled;
        user.state_expires_at = None;
        tracing::info!(admin = %actor.name, user = %user.email, "user disabled");
        Ok(user)
    }

    /// A new enrollment token for a user (earlier unused tokens stop working); under the
    /// `reenroll` quorum when the user has certificates already.
    pub(crate) fn new_token_inner(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        email: &str,
    ) -> Result<EnrollmentToken> {
        actor.require_officer()?;
        if self.has_certificates(email)? {
            self.gate(
                rec,
                actor,
                "reenroll",
                &format!("{} (new enrollment token)", email.trim()),
            )?;
        }
        self.token_inner(rec, actor, email)
    }

    /// A new enrollment token, once any approval needed was given.
    pub(crate) fn token_inner(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        email: &str,
    ) -> Result<EnrollmentToken> {
        actor.require_officer()?;
        let now = unix(self.now());
        let token = Token::generate()?;
        let expires_at = now + secs(self.config.token_ttl);
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        let (id, user) = find_user(&tx, email)?;
        if user.status != "active" {
            return Err(Error::UserDisabled { email: user.email });
        }
        tx.execute(
            "UPDATE tokens SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL",
            params![id, now],
        )?;
        insert_token(&tx, id, &token, now, expires_at)?;
        audit::commit(tx, rec, unix(self.now()))?;
        Ok(EnrollmentToken { token, expires_at })
    }

    // ---------------------------------------------------------------------------------
    // Enrollment and the directory.

    /// Enrolls the holder of `token` with their signing request `csr` (PEM or DER).
    ///
    /// The state lock is taken twice, briefly: to read the token, the user and what the
    /// certificates name; then to re-check the token and commit. Everything slow happens with
    /// no lock held: the request's check, the key from the pool, building, linting and signing
    /// both certificates ([`Authority::issuer`]), and waiting for the commit's fsync, which
    /// concurrent enrollments share (group commit: [`escrow::durable`]). The token's use, the
    /// certificates, the escrowed key and the audit entry commit in one transaction, and the
    /// answer goes out only once it is durable. Two requests racing with one token both sign,
    /// but only the first to commit wins: the other finds the token used at its commit.
    fn enroll_inner(&self, rec: &audit::Op, token: &str, csr: &[u8]) -> Result<Enrollment> {
        let now_t = self.now();
        let now = unix(now_t);
        let token_hash = secret::hash_token(token);
        // Benchmarks only: the serialised enrollment of before, for comparison.
        let serial = lockstats::Serial::enter();
        // Check the token and the request before spending a key.
        let (user_id, user, pending, subject) = {
            let st = self.lock();
            let conn = st.store.store().connection();
            let (user_id, expires_at, used_at, pending) =
                token_row(conn, &token_hash)?.ok_or(Error::TokenRefused {
                    why: "unknown token",
                })?;
            if used_at.is_some() {
                return Err(Error::TokenRefused {
                    why: "this token was used already (or replaced by a newer one)",
                });
            }
            if expires_at <= now {
                return Err(Error::TokenRefused {
                    why: "this token has expired",
                });
            }
            let user = user_by_id(conn, user_id)?;
            if user.status != "active" {
                return Err(Error::UserDisabled { email: user.email });
            }
            let subject = self.smime_subject(&st, &user)?;
            (user_id, user, pending, subject)
        };
        // Every address the request names must be the user's, compared canonically (a client
        // may spell the local part in another case than the one stored).
        let request = pki::csr::verify(csr, &pki::csr::CsrPolicy::default())
            .map_err(|e| Error::RequestRefused(e.to_string()))?;
        if let Some(other) = request
            .emails
            .iter()
            .find(|e| email_key(e) != email_key(&user.email))
        {
            return Err(Error::RequestRefused(format!(
                "the request names {other}, but it is for {}",
                user.email
            )));
        }
        rec.set_target(&user.email);
        let period = self.period(now_t);
        let issuer = self.issuer.clone();
        let mut rng = pki::os_rng();
        let signing = issuer.issue(
            &Profile::SmimeSigning(subject.clone()),
            &request.public_key,
            period,
            &mut rng,
        )?;
        let signing_der = certificate::to_der(&signing)?;
        // A renewal with a new key made and certified the encryption key already; otherwise
        // a key from the pool, certified here, still with no lock held.
        let fresh = match pending {
            Some(_) => None,
            None => {
                let key = self.pool.take()?;
                let certified = (|| {
                    let cert = issuer.issue(
                        &Profile::SmimeEncryption(subject),
                        &key.public_key(),
                        period,
                        &mut rng,
                    )?;
                    let der = certificate::to_der(&cert)?;
                    let key_der = key.to_pkcs8_der()?;
                    Ok::<_, Error>((cert, der, key_der))
                })();
                match certified {
                    Ok(c) => Some((key, c)),
                    Err(e) => {
                        self.pool.add(vec![key]);
                        return Err(e);
                    }
                }
            }
        };

        let mut st = self.lock();
        // Re-check under the lock: a concurrent enrollment may have used the token.
        match token_row(st.store.store().connection(), &token_hash)? {
            Some((_, _, None, _)) => {}
            _ => {
                drop(st);
                if let Some((key, _)) = fresh {
                    self.pool.add(vec![key]);
                }
                return Err(Error::TokenRefused {
                    why: "this token was used already (or replaced by a newer one)",
                });
            }
        }
        let (key_der, enc_der, durable, split) = match (fresh, pending) {
            (Some((_key, (encryption, enc_der, key_der))), _) => {
                // The key, its certificate, the token's use and the entry: one transaction.
                let tx = if serial.on() {
                    st.store.begin()?
                } else {
                    st.store.begin_grouped()?
                };
                let key_id = tx.escrow(&NewKey {
                    owner: &user.email,
                    usage: KeyUsage::Encryption,
                    private_key_der: key_der.as_bytes(),
                    certificate_der: Some(&enc_der),
                    created_at: now,
                })?;
                // Collected now: only the agent-split copy stays (when there are agents).
                let split =
                    agents::split_if_configured(&tx, key_id, &user.email, key_der.as_bytes(), now)?;
                tx.execute(
                    "UPDATE tokens SET used_at = ?2 WHERE token_hash = ?1",
                    params![&token_hash[..], now],
                )?;
                // Earlier current certificates are replaced by these.
                tx.execute(
                    "UPDATE certificates SET superseded_at = ?2
                     WHERE user_id = ?1 AND superseded_at IS NULL",
                    params![user_id, now],
                )?;
                insert_cert(&tx, user_id, "signing", &signing, None, now)?;
                insert_cert(&tx, user_id, "encryption", &encryption, Some(key_id.0), now)?;
                let durable = audit::commit_grouped(tx, rec, unix(self.now()))?;
                (key_der, enc_der, durable, split)
            }
            (None, Some(key_id)) => {
                let escrowed = st.store.key(escrow::KeyId(key_id))?.ok_or_else(|| {
                    Error::Corrupt(format!("pending escrowed key {key_id} is missing"))
                })?;
                let key_der = der::SecretDocument::try_from(escrowed.private_key_der.expose())
                    .map_err(|e| Error::Corrupt(format!("escrowed key {key_id}: {e}")))?;
                let enc_der: Vec<u8> = st.store.store().connection().query_row(
                    "SELECT der FROM certificates WHERE escrowed_key_id = ?1
                     ORDER BY issued_at DESC, superseded_at IS NULL DESC, serial DESC LIMIT 1",
                    [key_id],
                    |r| r.get(0),
                )?;
                let tx = if serial.on() {
                    st.store.begin()?
                } else {
                    st.store.begin_grouped()?
                };
                // The owner collects the key: its master-key-only copy gives way to the
                // agent-split one (when there are agents).
                let split = agents::split_if_configured(
                    &tx,
                    escrow::KeyId(key_id),
                    &escrowed.info.owner,
                    key_der.as_bytes(),
                    now,
                )?;
                tx.execute(
                    "UPDATE tokens SET used_at = ?2 WHERE token_hash = ?1",
                    params![&token_hash[..], now],
                )?;
                tx.execute(
                    "UPDATE certificates SET superseded_at = ?2
                     WHERE user_id = ?1 AND kind = 'signing' AND superseded_at IS NULL",
                    params![user_id, now],
                )?;
                insert_cert(&tx, user_id, "signing", &signing, None, now)?;
                let durable = audit::commit_grouped(tx, rec, unix(self.now()))?;
                (key_der, enc_der, durable, split)
            }
            (None, None) => unreachable!("a key is taken when no key is pending"),
        };
        if split {
            // A split leaves no older copy of the row in the WAL (best effort).
            let _ = st.store.checkpoint();
        }
        drop(st);
        // Answer only once the commit is on disk (an fsync shared with concurrent commits).
        durable.wait()?;

        let ca_cert = certificate::to_der(issuer.certificate())?;
        let encrypted_key = encrypt_key(
            &key_der,
            token.trim(),
            self.config.enrollment_pbkdf2_iterations,
        )?;
        tracing::info!(user = %user.email, "user enrolled");
        Ok(Enrollment {
            signing_cert: signing_der,
            encryption_cert: enc_der,
            ca_cert,
            encrypted_key,
        })
    }

    /// The current encryption certificate and capabilities of a user. An unknown address, a
    /// user not enrolled and a disabled user get the same answer ([`Error::NotEnrolled`]
    /// naming the address as asked), so the anonymous directory does not tell them apart.
    pub fn directory(&self, email: &str) -> Result<DirectoryEntry> {
        let now = unix(self.now());
        let st = self.lock();
        let conn = st.store.store().connection();
        let none = || Error::NotEnrolled {
            email: email.trim().to_string(),
            kind: "encryption",
        };
        let (id, user) = find_user(conn, email).map_err(|e| match e {
            Error::UnknownUser { .. } => none(),
            other => other,
        })?;
        if user.status != "active" {
            return Err(none());
        }
        let der = current_cert(conn, id, "encryption", now)?
            .ok_or_else(none)?
            .1;
        let signing_certificate = current_cert(conn, id, "signing", now)?.map(|c| c.1);
        Ok(DirectoryEntry {
            email: user.email,
            capabilities: user.capabilities,
            certificate: der,
            signing_certificate,
        })
    }
}

/// Checks an e-mail address against RFC 5321's syntax (no DNS look-up): a dot-atom local
/// part of at most 64 characters without leading, trailing or doubled dots; a domain of at
/// least two labels of letters, digits and inner hyphens, each at most 63 characters.
pub(crate) fn check_email(email: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid("e-mail address", format!("{email:?}: {why}"));
    if email.len() > 254 {
        return Err(bad("longer than 254 characters"));
    }
    let (local, domain) = email
        .rsplit_once('@')
        .ok_or_else(|| bad("expected local-part@domain"))?;
    if local.is_empty() || local.len() > 64 {
        return Err(bad("the part before @ must have 1 to 64 characters"));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad(
            "the part before @ must not start or end with a dot, nor hold two dots in a row",
        ));
    }
    if !local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c))
    {
        return Err(bad(
            "the part before @ may hold letters, digits, dots and !#$%&'*+/=?^_`{|}~- only",
        ));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(bad("the domain needs at least two labels (example.org)"));
    }
    for l in labels {
        if l.is_empty()
            || l.len() > 63
            || l.starts_with('-')
            || l.ends_with('-')
            || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(bad(
                "each domain label needs 1 to 63 letters, digits or inner hyphens",
            ));
        }
    }
    Ok(())
}

/// Unicode's bidirectional formatting characters (they can make a name display as another).
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_syntax() {
        for ok in [
            "a@example.org",
            "first.last+tag@mail.example.co",
            "x_y-z@a-b.example",
        ] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        let long = format!("{}@example.org", "a".repeat(65));
        for bad in [
            "a@localhost",
            ".a@example.org",
            "a.@example.org",
            "a..b@example.org",
            "a@-example.org",
            "a@example-.org",
            "a@exa_mple.org",
            "a@example..org",
            "a b@example.org",
            "noat",
            long.as_str(),
        ] {
            assert_eq!(check_email(bad).unwrap_err().code(), "AUTH-009", "{bad}");
        }
    }

    #[test]
    fn bidi_controls() {
        assert!(is_bidi_control('\u{202E}'));
        assert!(is_bidi_control('\u{2067}'));
        assert!(!is_bidi_control('é'));
    }
}

/// A user to add: [`Authority::add_user_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NewUser<'a> {
    /// E-mail address.
    pub email: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Content algorithms, strongest first (empty: the default list).
    pub capabilities: &'a [ContentAlgorithm],
    /// givenName for sponsor-validated certificates.
    pub given_name: Option<&'a str>,
    /// surname for sponsor-validated certificates.
    pub surname: Option<&'a str>,
    /// pseudonym (instead of given name and surname).
    pub pseudonym: Option<&'a str>,
    /// The user's certificate profile (`mailbox-strict`, ...); `None`: the authority's.
    pub profile: Option<&'a str>,
}

/// A subject name part: trimmed, `None` when empty; 1 to 64 printable characters (the
/// X.520 upper bound), no bidirectional controls.
fn name_part(what: &'static str, value: Option<&str>) -> Result<Option<String>> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > 64 || v.chars().any(char::is_control) {
        return Err(Error::invalid(what, "give 1 to 64 printable characters"));
    }
    if v.chars().any(is_bidi_control) {
        return Err(Error::invalid(
            what,
            "bidirectional control characters are not allowed",
        ));
    }
    Ok(Some(v.to_string()))
}
