//! Administrators, their roles, sign-in with lock-out, and sessions.

use super::*;
use crate::totp::TotpCheck;

/// Seconds between writes of a session's last use (the idle deadline's granularity).
const IDLE_WRITE_EVERY: i64 = 30;

impl Authority {
    /// Signs an administrator in from this machine (tools and tests; the server uses
    /// [`Authority::login_from`] with the client's address).
    pub fn login(&self, name: &str, password: &Password) -> Result<Session> {
        self.login_from(name, password, &SignIn::local())
    }

    /// Signs an administrator in (see the audit log for refusals). A client address over the
    /// per-address limit is refused with [`Error::SignInThrottled`] before anything else (not
    /// audited here: the server's refusal limiter records it); every other refusal is
    /// [`Error::BadCredentials`] at the cost of one Argon2 verification, whether the name is
    /// unknown, the account locked out for this address, or the password wrong (see
    /// `signin.rs` for the lock-out per account and address).
    pub fn login_from(&self, name: &str, password: &Password, from: &SignIn) -> Result<Session> {
        let now = unix(self.now());
        if let Some(wait) = self.signin.address_throttled(
            from.client,
            now,
            self.config.login_failures_per_address,
            secs(self.config.login_address_window),
        ) {
            return Err(Error::SignInThrottled {
                retry_after: wait.max(1) as u64,
            });
        }
        let r = self.audit_op(name, "login", name, |rec| {
            self.login_inner(rec, name, password, from)
        });
        if matches!(r, Err(Error::BadCredentials)) {
            // Counted for the dashboard; a failure to count is logged, never the answer.
            let st = self.lock();
            if let Err(e) = signin::record_failure(st.store.store().connection(), now) {
                tracing::warn!(error = %e, "cannot count a failed sign-in");
            }
        }
        r
    }

    /// Clears the lock-out of administrator `name` (every address, and the whole-account lock
    /// of wrong current passwords). Needs the `administrator` role.
    pub fn unlock_admin(&self, actor: &Admin, name: &str) -> Result<AdminInfo> {
        self.audit_op(&actor.name, "admin.unlock", name, |rec| {
            actor.require_administrator()?;
            let mut st = self.lock();
            let tx = st.store.connection_mut().transaction()?;
            let row: Option<(i64, String, i64)> = tx
                .query_row(
                    "UPDATE admins SET failed_logins = 0, locked_until = NULL
                     WHERE name = ?1 AND removed_at IS NULL RETURNING id, role, created_at",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let (id, role, created_at) =
                row.ok_or_else(|| Error::UnknownAdmin { name: name.into() })?;
            audit::commit(tx, rec, unix(self.now()))?;
            self.signin.unlock(id);
            tracing::info!(by = %actor.name, admin = name, "administrator lock-out cleared");
            Ok(AdminInfo {
                name: name.into(),
                role: Role::parse(&role)?,
                created_at,
                locked_until: None,
            })
        })
    }

    /// Adds an administrator account (administrator role, under the `admin-change` quorum;
    /// the request is bound to the name, the role and, by digest, the initial password).
    /// An account added under a quorum of two or more must change its initial password at
    /// first sign-in before anything else ([`Error::PasswordChangeRequired`]).
    pub fn add_admin(
        &self,
        actor: &Admin,
        name: &str,
        role: Role,
        password: &Password,
    ) -> Result<AdminInfo> {
        self.audit_op(
            &actor.name,
            &format!("admin.add:{}", role.as_str()),
            name,
            |rec| self.add_admin_inner(rec, actor, name, role, password),
        )
    }

    /// Removes an administrator account (administrator role).
    pub fn remove_admin(&self, actor: &Admin, name: &str) -> Result<AdminInfo> {
        self.audit_op(&actor.name, "admin.remove", name, |rec| {
            self.remove_admin_inner(rec, actor, name)
        })
    }

    // ---------------------------------------------------------------------------------
    // Administrators and sessions.

    /// A hash with the administrators' Argon2 cost that no password matches in practice.
    fn dummy_hash(&self) -> Result<&str> {
        if let Some(h) = self.dummy_hash.get() {
            return Ok(h);
        }
        let mut filler = [0u8; 24];
        getrandom::fill(&mut filler)
            .map_err(|e| Error::Corrupt(format!("OS random number generator failed: {e}")))?;
        let h = secret::hash_password(&hex::encode(filler), &self.config.admin_argon2)?;
        Ok(self.dummy_hash.get_or_init(|| h))
    }

    /// Signs an administrator in (see [`Authority::login_from`]).
    fn login_inner(
        &self,
        rec: &audit::Op,
        name: &str,
        password: &Password,
        from: &SignIn,
    ) -> Result<Session> {
        let now = unix(self.now());
        let window = secs(self.config.login_address_window);
        let row: Option<(i64, String, String, Option<i64>)> = {
            let st = self.lock();
            st.store
                .store()
                .connection()
                .query_row(
                    "SELECT id, role, password_hash, locked_until FROM admins
                     WHERE name = ?1 AND removed_at IS NULL",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?
        };
        let checkable = row.filter(|(id, _, _, locked_until)| {
            !locked_until.is_some_and(|t| t > now)
                && !self.signin.pair_locked(*id, from.client, now)
        });
        let Some((id, role, hash, _)) = checkable else {
            // Unknown, or locked out for this address: the same answer at the same cost as a
            // wrong password (the Argon2 check runs without holding the state lock).
            let _ = secret::verify_password(password.expose(), self.dummy_hash()?);
            self.signin.address_failed(from.client, now, window);
            return Err(Error::BadCredentials);
        };
        let ok = secret::verify_password(password.expose(), &hash)?;
        let refuse = || {
            self.signin.address_failed(from.client, now, window);
            if let Some(until) = self.signin.pair_failed(
                id,
                from.client,
                now,
                self.config.max_failed_logins,
                secs(self.config.lockout),
            ) {
                tracing::warn!(
                    admin = name,
                    client = %from.client,
                    until,
                    "administrator locked out for one client address after failed sign-ins"
                );
            }
            Err(Error::BadCredentials)
        };
        if !ok {
            return refuse();
        }
        let mut st = self.lock();
        // The second factor, checked (and its step recorded) under the state lock, so that
        // two sign-ins racing with one code cannot both pass. A missing or wrong code is a
        // wrong password to the caller.
        let totp_step = match self.totp_check(&st, id, from, now)? {
            TotpCheck::NotEnabled => None,
            TotpCheck::Accepted(step) => Some(step),
            TotpCheck::Refused => {
                drop(st);
                return refuse();
            }
        };
        self.signin.succeeded(id, from.client);
        let token = Token::generate()?;
        let expires_at = now + secs(self.config.session_ttl);
        let conn = st.store.connection_mut();
        let tx = conn.transaction()?;
        tx.execute("UPDATE admins SET failed_logins = 0 WHERE id = ?1", [id])?;
        if let Some(step) = totp_step {
            tx.execute(
                "UPDATE admins SET totp_last_step = ?2 WHERE id = ?1",
                params![id, step],
            )?;
        }
        tx.execute(
            "DELETE FROM sessions WHERE expires_at <= ?1 OR coalesce(last_used_at, created_at) <= ?2",
            params![now, now - secs(self.config.session_idle)],
        )?;
        tx.execute(
            "INSERT INTO sessions (token_hash, admin_id, created_at, expires_at, last_used_at)
             VALUES (?1, ?2, ?3, ?4, ?3)",
            params![&token.hash()[..], id, now, expires_at],
        )?;
        audit::commit(tx, rec, unix(self.now()))?;
        Ok(Session {
            token,
            admin: Admin {
                id,
                name: name.into(),
                role: Role::parse(&role)?,
            },
            expires_at,
        })
    }

    /// The administrator a session token belongs to. Refused with
    /// [`Error::PasswordChangeRequired`] while the account must change its initial password
    /// (see [`Authority::authenticate_for_password_change`]).
    pub fn authenticate(&self, token: &str) -> Result<Admin> {
        let (admin, must_change) = self.session_admin(token)?;
        if must_change {
            return Err(Error::PasswordChangeRequired { name: admin.name });
        }
        Ok(admin)
    }

    /// The administrator a session token belongs to, also while the account must change its
    /// initial password: only for changing one's own password (and signing out).
    pub fn authenticate_for_password_change(&self, token: &str) -> Result<Admin> {
        self.session_admin(token).map(|(a, _)| a)
    }

    /// The session's administrator; each call moves the idle deadline on (written at most
    /// once every [`IDLE_WRITE_EVERY`] seconds, so that calls stay cheap).
    fn session_admin(&self, token: &str) -> Result<(Admin, bool)> {
        let now = unix(self.now());
        let idle = secs(self.config.session_idle);
        let hash = secret::hash_token(token);
        let mut st = self.lock();
        let row: Option<(i64, String, String, bool, i64)> = st
            .store
            .store()
            .connection()
            .query_row(
                "SELECT a.id, a.name, a.role, a.must_change_password,
                        coalesce(s.last_used_at, s.created_at)
                 FROM sessions s JOIN admins a ON a.id = s.admin_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND a.removed_at IS NULL
                   AND coalesce(s.last_used_at, s.created_at) > ?2 - ?3",
                params![&hash[..], now, idle],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let (id, name, role, must_change, last_used) = row.ok_or(Error::NotSignedIn)?;
        if now - last_used >= IDLE_WRITE_EVERY.min(idle / 2) {
            st.store.connection_mut().execute(
                "UPDATE sessions SET last_used_at = ?2 WHERE token_hash = ?1",
                params![&hash[..], now],
            )?;
        }
        let admin = Admin {
            id,
            name,
            role: Role::parse(&role)?,
        };
        Ok((admin, must_change))
    }

    /// Ends a session.
    pub fn logout(&self, token: &str) -> Result<()> {
        let mut st = self.lock();
        let n = st.store.connection_mut().execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            [&secret::hash_token(token)[..]],
        )?;
        if n == 0 {
            return Err(Error::NotSignedIn);
        }
        Ok(())
    }

    /// Adds an administrator account (any role). Needs the `administrator` role.
    fn add_admin_inner(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        name: &str,
        role: Role,
        password: &Password,
    ) -> Result<AdminInfo> {
        actor.require_administrator()?;
        check_admin_name(name)?;
        check_password(password.expose())?;
        let needed = self.gate_with(
            rec,
            actor,
            &["admin-change"],
            &format!("add {name} as {}", role.as_str()),
            &[
                ("name", name.as_bytes()),
                ("role", role.as_str().as_bytes()),
                ("password", password.expose().as_bytes()),
            ],
            None,
        )?;
        // The Argon2 hash runs without holding the state lock.
        let hash = secret::hash_password(password.expose(), &self.config.admin_argon2)?;
        let now = unix(self.now());
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM admins WHERE name = ?1 AND removed_at IS NULL)",
            [name],
            |r| r.get(0),
        )?;
        if exists {
            return Err(Error::AdminExists { name: name.into() });
        }
        tx.execute(
            "INSERT INTO admins (name, role, password_hash, created_at, must_change_password)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, role.as_str(), hash, now, needed > 1],
        )?;
        audit::commit(tx, rec, unix(self.now()))?;
        tracing::info!(by = %actor.name, admin = name, role = role.as_str(), "administrator added");
        Ok(AdminInfo {
            name: name.into(),
            role,
            created_at: now,
            locked_until: None,
        })
    }

    /// Removes an administrator account and ends its sessions. Needs the `administrator`
    /// role; the last administrator cannot be removed. The row stays, marked removed (its id
    /// is never reused, so its approvals never count again, even if the name is added back).
    fn remove_admin_inner(&self, rec: &audit::Op, actor: &Admin, name: &str) -> Result<AdminInfo> {
        actor.require_administrator()?;
        self.gate(rec, actor, "admin-change", &format!("remove {name}"))?;
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        let row: Option<(i64, String, i64, Option<i64>)> = tx
            .query_row(
                "SELECT id, role, created_at, locked_until FROM admins
                 WHERE name = ?1 AND removed_at IS NULL",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (id, role, created_at, locked_until) =
            row.ok_or_else(|| Error::UnknownAdmin { name: name.into() })?;
        let role = Role::parse(&role)?;
        if role == Role::Administrator {
            let others: i64 = tx.query_row(
                "SELECT count(*) FROM admins
                 WHERE role = 'administrator' AND removed_at IS NULL AND id != ?1",
                [id],
                |r| r.get(0),
            )?;
            if others == 0 {
                return Err(Error::LastAdministrator { name: name.into() });
            }
            let max_quorum: i64 =
                tx.query_row("SELECT coalesce(max(quorum), 1) FROM policies", [], |r| {
                    r.get(0)
                })?;
            if others < max_quorum {
                return Err(Error::TooFewApprovers {
                    needed: max_quorum,
                    available: others,
                });
            }
        }
        tx.execute("DELETE FROM sessions WHERE admin_id = ?1", [id])?;
        tx.execute(
            "UPDATE admins SET removed_at = ?2 WHERE id = ?1",
            params![id, unix(self.now())],
        )?;
        audit::commit(tx, rec, unix(self.now()))?;
        tracing::info!(by = %actor.name, admin = name, "administrator removed");
        Ok(AdminInfo {
            name: name.into(),
            role,
            created_at,
            locked_until,
        })
    }

    /// Every administrator account. Any role may read it.
    pub fn list_admins(&self, _actor: &Admin) -> Result<Vec<AdminInfo>> {
        let st = self.lock();
        let conn = st.store.store().connection();
        let mut stmt = conn.prepare(
            "SELECT id, name, role, created_at, locked_until FROM admins
             WHERE removed_at IS NULL ORDER BY name",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<String>(1)?,
                    r.get::<String>(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })?
            .collect::<Result<Vec<(i64, String, String, i64, Option<i64>)>, _>>()?;
        let now = unix(self.now());
        rows.into_iter()
            .map(|(id, name, role, created_at, locked_until)| {
                // Locked out from some address (see signin.rs), or as a whole account.
                let locked_until = locked_until
                    .filter(|t| *t > now)
                    .max(self.signin.locked_until(id, now));
                Ok(AdminInfo {
                    name,
                    role: Role::parse(&role)?,
                    created_at,
                    locked_until,
                })
            })
            .collect()
    }
}
