//! An administrator's own password change, and role changes under the `admin-change`
//! quorum.

use super::*;

impl Authority {
    /// Changes the signed-in administrator's own password after checking the current one,
    /// and ends their other sessions (`keep_session`, the caller's own session token, stays
    /// valid). Any role; audited.
    pub fn change_own_password(
        &self,
        actor: &Admin,
        current: &Password,
        new: &Password,
        keep_session: Option<&str>,
    ) -> Result<()> {
        self.audit_op(&actor.name, "admin.password", &actor.name, |rec| {
            self.change_own_password_inner(rec, actor, current, new, keep_session)
        })
    }

    /// Gives administrator `name` another role (administrator role, under the `admin-change`
    /// quorum). The authority keeps at least one administrator, and as many as its quorum
    /// policies need. Audited.
    pub fn set_role(&self, actor: &Admin, name: &str, role: Role) -> Result<AdminInfo> {
        self.audit_op(
            &actor.name,
            &format!("admin.role:{}", role.as_str()),
            name,
            |rec| self.set_role_inner(rec, actor, name, role),
        )
    }

    fn change_own_password_inner(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        current: &Password,
        new: &Password,
        keep_session: Option<&str>,
    ) -> Result<()> {
        check_password(new.expose())?;
        if new.expose() == current.expose() {
            return Err(Error::invalid(
                "new password",
                "it is the current password; choose another",
            ));
        }
        let hash: String = {
            let st = self.lock();
            st.store
                .store()
                .connection()
                .query_row(
                    "SELECT password_hash FROM admins WHERE id = ?1 AND removed_at IS NULL",
                    [actor.id],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| Error::UnknownAdmin {
                    name: actor.name.clone(),
                })?
        };
        // The Argon2 work runs without holding the state lock.
        if !secret::verify_password(current.expose(), &hash)? {
            return Err(self.count_failed_password(actor)?);
        }
        let new_hash = secret::hash_password(new.expose(), &self.config.admin_argon2)?;
        let keep = keep_session.map(|t| secret::hash_token(t).to_vec());
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        // Unchanged since it was read, or another change won the race: refuse rather than
        // overwrite a password nobody checked against.
        let n = tx.execute(
            "UPDATE admins SET password_hash = ?2, must_change_password = 0
             WHERE id = ?1 AND password_hash = ?3 AND removed_at IS NULL",
            params![actor.id, new_hash, hash],
        )?;
        if n != 1 {
            return Err(Error::invalid(
                "current password",
                "the password changed meanwhile; sign in again",
            ));
        }
        // Every other session ends (all of them when the change comes from no session).
        match &keep {
            Some(keep) => tx.execute(
                "DELETE FROM sessions WHERE admin_id = ?1 AND token_hash != ?2",
                params![actor.id, keep],
            )?,
            None => tx.execute("DELETE FROM sessions WHERE admin_id = ?1", [actor.id])?,
        };
        audit::commit(tx, rec, unix(self.now()))?;
        tracing::info!(admin = %actor.name, "administrator changed their password");
        Ok(())
    }

    /// A wrong current password counts as a failed sign-in: after
    /// [`Config::max_failed_logins`] in a row the account is locked out and every session of
    /// it ends, so a stolen session cannot be used to guess the password. Returns the error
    /// to answer.
    fn count_failed_password(&self, actor: &Admin) -> Result<Error> {
        let now = unix(self.now());
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        let failed: u32 = tx.query_row(
            "UPDATE admins SET failed_logins = failed_logins + 1 WHERE id = ?1
             RETURNING failed_logins",
            [actor.id],
            |r| r.get(0),
        )?;
        let err = if failed >= self.config.max_failed_logins {
            tx.execute(
                "UPDATE admins SET failed_logins = 0, locked_until = ?2 WHERE id = ?1",
                params![actor.id, now + secs(self.config.lockout)],
            )?;
            tx.execute("DELETE FROM sessions WHERE admin_id = ?1", [actor.id])?;
            tracing::warn!(
                admin = %actor.name,
                "administrator locked out after wrong current passwords"
            );
            Error::AccountLocked {
                name: actor.name.clone(),
            }
        } else {
            Error::invalid(
                "current password",
                "it is not this administrator's password",
            )
        };
        tx.commit()?;
        Ok(err)
    }

    fn set_role_inner(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        name: &str,
        role: Role,
    ) -> Result<AdminInfo> {
        actor.require_administrator()?;
        let (id, old, created_at, locked_until) = {
            let st = self.lock();
            let row: Option<(i64, String, i64, Option<i64>)> = st
                .store
                .store()
                .connection()
                .query_row(
                    "SELECT id, role, created_at, locked_until FROM admins
                     WHERE name = ?1 AND removed_at IS NULL",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            row.ok_or_else(|| Error::UnknownAdmin { name: name.into() })?
        };
        let old = Role::parse(&old)?;
        if old == role {
            return Err(Error::invalid(
                "role",
                format!("{name} is {} already", role.as_str()),
            ));
        }
        self.check_administrators_left(id, name, old, role)?;
        self.gate(
            rec,
            actor,
            "admin-change",
            &format!("set role of {name} to {}", role.as_str()),
        )?;
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        // Checked again under the write lock: another change may have come in between.
        let n = tx.execute(
            "UPDATE admins SET role = ?2 WHERE id = ?1 AND role = ?3 AND removed_at IS NULL",
            params![id, role.as_str(), old.as_str()],
        )?;
        if n != 1 {
            return Err(Error::invalid(
                "role",
                format!("{name}'s role changed meanwhile; look again"),
            ));
        }
        if old == Role::Administrator {
            let left: i64 = tx.query_row(
                "SELECT count(*) FROM admins WHERE role = 'administrator' AND removed_at IS NULL",
                [],
                |r| r.get(0),
            )?;
            if left == 0 {
                return Err(Error::LastAdministrator { name: name.into() });
            }
        }
        audit::commit(tx, rec, unix(self.now()))?;
        tracing::info!(by = %actor.name, admin = name, role = role.as_str(), "role changed");
        Ok(AdminInfo {
            name: name.into(),
            role,
            created_at,
            locked_until,
        })
    }

    /// Refuses a role change that would leave no administrator, or fewer than the largest
    /// quorum policy needs.
    fn check_administrators_left(&self, id: i64, name: &str, old: Role, new: Role) -> Result<()> {
        if old != Role::Administrator || new == Role::Administrator {
            return Ok(());
        }
        let st = self.lock();
        let conn = st.store.store().connection();
        let others: i64 = conn.query_row(
            "SELECT count(*) FROM admins
             WHERE role = 'administrator' AND id != ?1 AND removed_at IS NULL",
            [id],
            |r| r.get(0),
        )?;
        if others == 0 {
            return Err(Error::LastAdministrator { name: name.into() });
        }
        let max_quorum: i64 =
            conn.query_row("SELECT coalesce(max(quorum), 1) FROM policies", [], |r| {
                r.get(0)
            })?;
        if others < max_quorum {
            return Err(Error::TooFewApprovers {
                needed: max_quorum,
                available: others,
            });
        }
        Ok(())
    }
}
