//! Renewing every user at once, optionally only the certificates that expire within a
//! window: who is renewed, who is skipped on purpose (and why), who failed.

use super::*;

/// Skip reason: the user never enrolled (no certificate was ever issued to them).
pub const SKIP_NOT_ENROLLED: &str = "not enrolled";
/// Skip reason: the user's current certificates are revoked.
pub const SKIP_REVOKED: &str = "revoked";
/// Skip reason: the user is disabled.
pub const SKIP_DISABLED: &str = "disabled";
/// Skip reason: the user's certificates expire after the window.
pub const SKIP_NOT_EXPIRING: &str = "not expiring within the window";

/// A user a batch renewal left out on purpose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The user's e-mail address.
    pub email: String,
    /// Why: one of [`SKIP_NOT_ENROLLED`], [`SKIP_REVOKED`], [`SKIP_DISABLED`],
    /// [`SKIP_NOT_EXPIRING`].
    pub reason: &'static str,
}

/// What to do with one user.
enum Plan {
    Renew(String),
    Skip(Skipped),
}

impl Authority {
    /// Renews every user whose certificates expire within `within` of now (every enrolled,
    /// active user when `None`), without new keys (officer role; audited as `renew:all`, and
    /// each renewal as its own `renew`). Users who are disabled, never enrolled, or whose
    /// current certificates are revoked are skipped and reported, not failed; so are, with a
    /// window, users whose certificates all expire after it.
    pub fn renew_expiring(&self, actor: &Admin, within: Option<Duration>) -> Result<BatchRenewal> {
        let target = within.map_or("-".to_string(), |w| format!("within={}", w.as_secs()));
        self.audit_op(&actor.name, "renew:all", &target, |_rec| {
            actor.require_officer()?;
            let plans = self.renewal_plans(within)?;
            let mut skipped = Vec::new();
            let mut emails = Vec::new();
            for p in plans {
                match p {
                    Plan::Renew(e) => emails.push(e),
                    Plan::Skip(s) => skipped.push(s),
                }
            }
            let mut batch = self.renew_each(actor, emails.into_iter());
            batch.skipped = skipped;
            Ok(batch)
        })
    }

    /// Decides, for every user (by e-mail address), whether to renew or why to skip.
    fn renewal_plans(&self, within: Option<Duration>) -> Result<Vec<Plan>> {
        let now = unix(self.now());
        let horizon = within.map(|w| now.saturating_add(secs(w)));
        let st = self.lock();
        let conn = st.store.store().connection();
        let users: Vec<(i64, String, String)> = conn
            .prepare("SELECT id, email, status FROM users ORDER BY email")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut plans = Vec::with_capacity(users.len());
        for (id, email, status) in users {
            let skip = |reason| {
                Plan::Skip(Skipped {
                    email: email.clone(),
                    reason,
                })
            };
            if status != "active" {
                plans.push(skip(SKIP_DISABLED));
                continue;
            }
            let current: Vec<Option<i64>> = ["signing", "encryption"]
                .iter()
                .map(|kind| current_not_after(conn, id, kind, now))
                .collect::<Result<_>>()?;
            if current.iter().any(Option::is_none) {
                let issued: i64 = conn.query_row(
                    "SELECT count(*) FROM certificates WHERE user_id = ?1",
                    [id],
                    |r| r.get(0),
                )?;
                let revoked: i64 = conn.query_row(
                    "SELECT count(*) FROM certificates c JOIN revocations r ON r.serial = c.serial
                     WHERE c.user_id = ?1 AND c.superseded_at IS NULL",
                    [id],
                    |r| r.get(0),
                )?;
                if issued == 0 {
                    plans.push(skip(SKIP_NOT_ENROLLED));
                } else if revoked > 0 {
                    plans.push(skip(SKIP_REVOKED));
                } else {
                    // Expired, or something else: the renewal says why it fails.
                    plans.push(Plan::Renew(email.clone()));
                }
                continue;
            }
            let soonest = current.iter().flatten().min().copied();
            match (horizon, soonest) {
                (Some(h), Some(t)) if t > h => plans.push(skip(SKIP_NOT_EXPIRING)),
                _ => plans.push(Plan::Renew(email.clone())),
            }
        }
        Ok(plans)
    }
}

/// The notAfter of the user's current certificate of `kind`, if any.
fn current_not_after(conn: &Connection, user_id: i64, kind: &str, now: i64) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT c.not_after FROM certificates c
             WHERE c.user_id = ?1 AND c.kind = ?2 AND c.superseded_at IS NULL AND c.not_after > ?3
               AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.serial = c.serial)
             ORDER BY c.issued_at DESC, c.rowid DESC LIMIT 1",
            params![user_id, kind, now],
            |r| r.get(0),
        )
        .optional()?)
}
