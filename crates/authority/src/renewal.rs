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
/// Skip reason: every certificate of the user has expired (they enroll again instead).
pub const SKIP_EXPIRED: &str = "no current certificate (expired)";
/// Skip reason: no user has this address (a selection naming someone unknown).
pub const SKIP_UNKNOWN: &str = "no such user";

/// Who a batch renewal would renew and who it would leave out, computed before anything
/// is done (the console's confirmation page shows it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RenewalPlan {
    /// The users that would be renewed (e-mail addresses, in address order).
    pub renew: Vec<String>,
    /// The users left out, with why.
    pub skipped: Vec<Skipped>,
}

/// A user a batch renewal left out on purpose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The user's e-mail address.
    pub email: String,
    /// Why: one of [`SKIP_NOT_ENROLLED`], [`SKIP_REVOKED`], [`SKIP_DISABLED`],
    /// [`SKIP_NOT_EXPIRING`], [`SKIP_EXPIRED`], [`SKIP_UNKNOWN`].
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

    /// What a batch renewal would do, without doing it (officer role): every user, or only
    /// those in `only` (addresses no user has are skipped as [`SKIP_UNKNOWN`]). Only users
    /// enrolled with current certificates, neither revoked nor disabled, are renewed.
    pub fn renewal_plan(&self, actor: &Admin, only: Option<&[String]>) -> Result<RenewalPlan> {
        actor.require_officer()?;
        self.plan_for(only)
    }

    /// Renews the users named that can be renewed, and reports the others as skipped with
    /// why (officer role; audited as `renew:batch`, each renewal as its own `renew`).
    pub fn renew_renewable(&self, actor: &Admin, emails: &[String]) -> Result<BatchRenewal> {
        self.audit_op(
            &actor.name,
            "renew:batch",
            &emails.len().to_string(),
            |_rec| {
                actor.require_officer()?;
                let plan = self.plan_for(Some(emails))?;
                let mut batch = self.renew_each(actor, plan.renew.into_iter());
                batch.skipped = plan.skipped;
                Ok(batch)
            },
        )
    }

    fn plan_for(&self, only: Option<&[String]>) -> Result<RenewalPlan> {
        let mut plan = RenewalPlan::default();
        let mut seen = std::collections::BTreeSet::new();
        for p in self.renewal_plans(None)? {
            let email = match &p {
                Plan::Renew(e) => e,
                Plan::Skip(s) => &s.email,
            };
            if only.is_some_and(|o| !o.contains(email)) {
                continue;
            }
            seen.insert(email.clone());
            match p {
                Plan::Renew(e) => plan.renew.push(e),
                Plan::Skip(s) => plan.skipped.push(s),
            }
        }
        for e in only.unwrap_or_default() {
            if !seen.contains(e) {
                seen.insert(e.clone());
                plan.skipped.push(Skipped {
                    email: e.clone(),
                    reason: SKIP_UNKNOWN,
                });
            }
        }
        Ok(plan)
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
            .collect::<db::Result<_>>()?;
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
                } else if current.iter().all(Option::is_none) {
                    plans.push(skip(SKIP_EXPIRED));
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
             ORDER BY c.issued_at DESC, c.not_after DESC, c.serial DESC LIMIT 1",
            params![user_id, kind, now],
            |r| r.get(0),
        )
        .optional()?)
}
