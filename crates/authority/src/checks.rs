//! The dashboard's health checks ("is everything all right?"): the CRL (fresh, and listing
//! every committed revocation), the OCSP responder, the newest backup against its schedule and
//! its last verification, the store (audit anchor), the TLS certificate and the CA
//! certificate, each `ok` / `warning` / `critical` with a sentence; the counts of what needs
//! attention; and issuance and revocations per day over the last [`ACTIVITY_DAYS`] days.
//!
//! They are computed by a background thread ([`Authority::spawn_checks`], every
//! [`Config::health_check_every`]) and cached with the time computed: a page view or an API
//! call reads the cache ([`Authority::health_report`]) and never runs the queries itself.
//! Failed sign-ins come from the per-hour counter in `signin_failures` (`signin.rs`), not from
//! the audit log (which is capped).

use std::collections::HashMap;

use super::*;

/// The CA and TLS certificates warn this many days before they expire.
const CERT_EXPIRY_WARNING_DAYS: i64 = 30;
/// Days of issuance and revocation history in [`HealthReport::activity`].
pub const ACTIVITY_DAYS: i64 = 90;
/// Approvals this close to their expiry count as about to expire.
const APPROVAL_SOON: i64 = 2 * 3600;
/// A newest backup older than this while no schedule is on is a warning.
const UNSCHEDULED_BACKUP_AGE: i64 = 7 * 86400;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    /// All is well.
    Ok,
    /// Needs attention soon.
    Warning,
    /// Needs attention now.
    Critical,
}

impl CheckState {
    /// `ok`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckState::Ok => "ok",
            CheckState::Warning => "warning",
            CheckState::Critical => "critical",
        }
    }
}

/// One health check.
#[derive(Clone, Debug, Serialize)]
pub struct HealthCheck {
    /// Stable name: `crl`, `ocsp`, `backup`, `store`, `tls`, `ca`.
    pub name: &'static str,
    /// What is checked, for people.
    pub title: &'static str,
    /// The outcome.
    pub state: CheckState,
    /// One sentence (or two) saying what was found.
    pub message: String,
}

/// What needs attention, counted.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Attention {
    /// Current certificates (not revoked, not replaced) expiring within
    /// [`Attention::expiring_window_days`].
    pub expiring_certificates: i64,
    /// The window of `expiring_certificates`, days.
    pub expiring_window_days: i64,
    /// Users with an unused, unexpired enrollment token.
    pub pending_invitations: i64,
    /// Approval requests waiting.
    pub approvals_waiting: i64,
    /// Of those, the ones expiring within two hours.
    pub approvals_expiring_soon: i64,
    /// Failed administrator sign-ins in the last 24 hours.
    pub failed_signins_last_day: i64,
}

/// Issuance and revocations on one day (UTC).
#[derive(Clone, Debug, Serialize)]
pub struct DayActivity {
    /// The day's start, Unix seconds (UTC midnight).
    pub day: i64,
    /// Certificates issued.
    pub issued: i64,
    /// Certificates revoked.
    pub revoked: i64,
}

/// The cached outcome of the health checks.
#[derive(Clone, Debug, Serialize)]
pub struct HealthReport {
    /// When it was computed, Unix seconds.
    pub computed_at: i64,
    /// The worst state among the checks.
    pub overall: CheckState,
    /// The checks, in a fixed order.
    pub checks: Vec<HealthCheck>,
    /// What needs attention.
    pub attention: Attention,
    /// One entry per day, oldest first, the last [`ACTIVITY_DAYS`] days (today included).
    pub activity: Vec<DayActivity>,
}

/// The cache of the last report.
#[derive(Default)]
pub(crate) struct Cache(Mutex<Option<Arc<HealthReport>>>);

impl Cache {
    fn get(&self) -> Option<Arc<HealthReport>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn set(&self, r: Arc<HealthReport>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    }
}

fn check(
    name: &'static str,
    title: &'static str,
    state: CheckState,
    message: String,
) -> HealthCheck {
    HealthCheck {
        name,
        title,
        state,
        message,
    }
}

/// A duration in words: `3 days`, `5 hours`, `12 minutes`.
fn span(secs: i64) -> String {
    let s = secs.max(0);
    let (n, unit) = if s >= 2 * 86400 {
        (s / 86400, "days")
    } else if s >= 2 * 3600 {
        (s / 3600, "hours")
    } else if s >= 120 {
        (s / 60, "minutes")
    } else {
        (s, "seconds")
    };
    format!("{n} {unit}")
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC`.
fn at(t: i64) -> String {
    let days = t.div_euclid(86400);
    let rem = t.rem_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The newest verification of each backup (by file name), from the audit log.
pub(crate) fn verifications(conn: &Connection) -> Result<HashMap<String, VerificationStatus>> {
    let mut out = HashMap::new();
    conn.query_each(
        "SELECT at, actor, target, outcome, detail FROM audit_log
         WHERE action = 'backup.verify' AND outcome != 'pending' ORDER BY seq",
        [],
        |r| {
            let target: String = r.get(2)?;
            let outcome: String = r.get(3)?;
            let detail: String = r.get(4)?;
            let ok = outcome == "ok";
            let name = target.rsplit('/').next().unwrap_or(&target).to_string();
            out.insert(
                name,
                VerificationStatus {
                    at: r.get(0)?,
                    actor: r.get(1)?,
                    backup: target,
                    ok,
                    summary: if ok && detail.is_empty() {
                        "every key decrypted, database and audit chain intact".into()
                    } else {
                        detail
                    },
                },
            );
            Ok(())
        },
    )?;
    Ok(out)
}

impl Authority {
    /// The health report as last computed by the background thread (any role); computed now
    /// only when none was computed yet (the first view after unlock).
    pub fn health_report(&self, actor: &Admin) -> Result<Arc<HealthReport>> {
        actor.require_reader()?;
        match self.checks.get() {
            Some(r) => Ok(r),
            None => self.refresh_health(),
        }
    }

    /// Computes the health report now and caches it (the background thread; tests).
    pub fn refresh_health(&self) -> Result<Arc<HealthReport>> {
        let r = Arc::new(self.compute_health()?);
        self.checks.set(r.clone());
        Ok(r)
    }

    /// Starts the thread that refreshes the health report every `every` while this authority
    /// lives (it holds only a weak reference and ends after the authority is gone).
    pub fn spawn_checks(self: &Arc<Self>, every: Duration) {
        let weak = Arc::downgrade(self);
        let every = every.max(Duration::from_secs(1));
        let spawned = std::thread::Builder::new()
            .name("health-checks".into())
            .spawn(move || {
                let mut failing = false;
                loop {
                    {
                        let Some(auth) = weak.upgrade() else { break };
                        auth.check_signer();
                        match auth.refresh_health() {
                            Ok(_) => failing = false,
                            Err(e) if !failing => {
                                failing = true;
                                tracing::error!(error = %e, "the health checks failed");
                            }
                            Err(_) => {}
                        }
                    }
                    std::thread::sleep(every);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the health check thread");
        }
    }

    /// The newest verification of each backup, by file name (any role).
    pub fn backup_verifications(
        &self,
        actor: &Admin,
    ) -> Result<HashMap<String, VerificationStatus>> {
        actor.require_reader()?;
        let st = self.lock();
        verifications(st.store.store().connection())
    }

    fn compute_health(&self) -> Result<HealthReport> {
        let now = unix(self.now());
        let mut checks = Vec::with_capacity(6);
        checks.push(self.crl_check(now));
        checks.push(self.ocsp_check());
        let st = self.lock();
        let conn = st.store.store().connection();
        checks.push(self.backup_check(&st, now)?);
        checks.push(store_check(&st));
        checks.push(tls_check(st.store.store().data_dir(), now));
        checks.push(self.ca_check(&st, now)?);
        let attention = attention(conn, now, i64::from(self.config.expiring_window_days))?;
        let activity = activity(conn, now)?;
        drop(st);
        let overall = checks
            .iter()
            .map(|c| c.state)
            .max()
            .unwrap_or(CheckState::Ok);
        Ok(HealthReport {
            computed_at: now,
            overall,
            checks,
            attention,
            activity,
        })
    }

    fn crl_check(&self, now: i64) -> HealthCheck {
        const T: &str = "CRL";
        let next_update: Option<(i64, i64)> = {
            let st = self.lock();
            st.store
                .store()
                .connection()
                .query_row(
                    "SELECT number, next_update FROM crl_state WHERE id = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .ok()
                .flatten()
        };
        let Some((number, next_update)) = next_update else {
            return check(
                "crl",
                T,
                CheckState::Critical,
                "No CRL has been signed.".into(),
            );
        };
        if let Some(lag) = self.crl_health() {
            let state =
                if next_update <= now || lag.contains("lacks") || lag.contains("cannot be read") {
                    CheckState::Critical
                } else {
                    CheckState::Warning
                };
            return check(
                "crl",
                T,
                state,
                format!("CRL {number}: {lag} (next update {}).", at(next_update)),
            );
        }
        if let Some(w) = self.config.crl_warning
            && next_update - now < secs(w)
        {
            return check(
                "crl",
                T,
                CheckState::Warning,
                format!(
                    "CRL {number}'s next update is in {}, less than the {} warned about.",
                    span(next_update - now),
                    span(secs(w))
                ),
            );
        }
        check(
            "crl",
            T,
            CheckState::Ok,
            format!(
                "CRL {number} lists every revocation; next update {} (in {}).",
                at(next_update),
                span(next_update - now)
            ),
        )
    }

    fn ocsp_check(&self) -> HealthCheck {
        const T: &str = "OCSP responder";
        let now = self.now();
        match self.ocsp.responder_not_after() {
            None => check(
                "ocsp",
                T,
                CheckState::Ok,
                "No responder certificate yet: it is made at the first OCSP request.".into(),
            ),
            Some(na) if na <= now => check(
                "ocsp",
                T,
                CheckState::Critical,
                format!(
                    "The responder certificate expired at {}; it is replaced at the next request.",
                    at(unix(na))
                ),
            ),
            Some(na) => check(
                "ocsp",
                T,
                CheckState::Ok,
                format!(
                    "The responder certificate is valid until {} (rolled over {} before).",
                    at(unix(na)),
                    span(secs(self.config.ocsp_responder_rollover))
                ),
            ),
        }
    }

    fn backup_check(&self, st: &State, now: i64) -> Result<HealthCheck> {
        const T: &str = "Backups";
        let conn = st.store.store().connection();
        let (every, _, _) = self.effective_schedule(conn)?;
        let files = Self::backup_files(&Self::backup_dir(st))?;
        let schedule = match every {
            Some(e) => format!(
                "a backup every {}",
                span(i64::try_from(e).unwrap_or(i64::MAX / 2))
            ),
            None => "no backup schedule is on".into(),
        };
        let Some(newest) = files.iter().max_by(|a, b| a.name.cmp(&b.name)) else {
            return Ok(check(
                "backup",
                T,
                CheckState::Warning,
                format!("No backup has been taken yet ({schedule})."),
            ));
        };
        let taken = schedule::newest_backup_at(std::slice::from_ref(newest)).unwrap_or(0);
        let age = now - taken;
        let mut state = CheckState::Ok;
        let mut said = vec![format!(
            "The newest backup, {}, is {} old ({schedule}).",
            newest.name,
            span(age)
        )];
        match every {
            Some(e) => {
                let e = i64::try_from(e).unwrap_or(i64::MAX / 4);
                let overdue = age - e;
                if overdue > e {
                    state = CheckState::Critical;
                    said.push(format!("It is {} older than its schedule.", span(overdue)));
                } else if overdue > (e / 10).max(60) {
                    state = CheckState::Warning;
                    said.push(format!("It is {} older than its schedule.", span(overdue)));
                }
            }
            None if age > UNSCHEDULED_BACKUP_AGE => {
                state = CheckState::Warning;
                said.push("Take one, or turn the schedule on.".into());
            }
            None => {}
        }
        match verifications(conn)?.get(&newest.name) {
            None => {
                state = state.max(CheckState::Warning);
                said.push("It was never verified.".into());
            }
            Some(v) if !v.ok => {
                state = CheckState::Critical;
                said.push(format!(
                    "Its verification FAILED at {}: {}",
                    at(v.at),
                    v.summary
                ));
            }
            Some(v) => said.push(format!("Verified at {} by {}.", at(v.at), v.actor)),
        }
        Ok(check("backup", T, state, said.join(" ")))
    }

    fn ca_check(&self, st: &State, now: i64) -> Result<HealthCheck> {
        const T: &str = "CA certificate";
        let info = CertificateInfo::from_certificate(st.issuer.certificate())?;
        let not_after = unix(info.not_after);
        let left = not_after - now;
        let (state, message) = if left <= 0 {
            (
                CheckState::Critical,
                format!("The CA certificate expired at {}.", at(not_after)),
            )
        } else if left <= CERT_EXPIRY_WARNING_DAYS * 86400 {
            (
                CheckState::Critical,
                format!(
                    "The CA certificate expires in {} ({}).",
                    span(left),
                    at(not_after)
                ),
            )
        } else if left < secs(self.config.cert_validity) {
            (
                CheckState::Warning,
                format!(
                    "The CA certificate expires in {} ({}): new certificates are cut short; \
                     plan the CA's renewal.",
                    span(left),
                    at(not_after)
                ),
            )
        } else {
            (
                CheckState::Ok,
                format!("Valid until {} (in {}).", at(not_after), span(left)),
            )
        };
        Ok(check("ca", T, state, message))
    }
}

/// The store: the audit anchor against the chain head (committed work present).
fn store_check(st: &State) -> HealthCheck {
    const T: &str = "Store integrity";
    match anchor::check_locked(st) {
        Ok(r) if r.refused => check("store", T, CheckState::Critical, r.message),
        Ok(r) if r.warning => check("store", T, CheckState::Warning, r.message),
        Ok(r) => check(
            "store",
            T,
            CheckState::Ok,
            format!(
                "The audit chain ({} entries) is anchored: {}",
                r.head_seq, r.message
            ),
        ),
        Err(e) => check(
            "store",
            T,
            CheckState::Critical,
            format!("The store cannot be checked: [{}] {e}", e.code()),
        ),
    }
}

/// The server's TLS certificate (`tls.crt` in the data directory, the first certificate).
fn tls_check(data_dir: &Path, now: i64) -> HealthCheck {
    const T: &str = "TLS certificate";
    let bytes = match std::fs::read(data_dir.join("tls.crt")) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return check(
                "tls",
                T,
                CheckState::Ok,
                "No tls.crt in the data directory (TLS ends elsewhere).".into(),
            );
        }
        Err(e) => {
            return check(
                "tls",
                T,
                CheckState::Warning,
                format!("tls.crt cannot be read: {}", e.kind()),
            );
        }
    };
    let first = certificate::parse_certificates(&bytes)
        .ok()
        .and_then(|v| v.into_iter().next())
        .and_then(|c| CertificateInfo::from_certificate(&c).ok());
    let Some(info) = first else {
        return check(
            "tls",
            T,
            CheckState::Warning,
            "tls.crt holds no readable certificate.".into(),
        );
    };
    let not_after = unix(info.not_after);
    let left = not_after - now;
    if left <= 0 {
        check(
            "tls",
            T,
            CheckState::Critical,
            format!(
                "The TLS certificate expired at {}: clients refuse the server.",
                at(not_after)
            ),
        )
    } else if left <= CERT_EXPIRY_WARNING_DAYS * 86400 {
        check(
            "tls",
            T,
            CheckState::Warning,
            format!(
                "The TLS certificate expires in {} ({}): put a new tls.crt and tls.key in place and restart kmsd.",
                span(left),
                at(not_after)
            ),
        )
    } else {
        check(
            "tls",
            T,
            CheckState::Ok,
            format!("Valid until {} (in {}).", at(not_after), span(left)),
        )
    }
}

fn count(conn: &Connection, sql: &str, p: impl db::Params) -> Result<i64> {
    Ok(conn.query_row(sql, p, |r| r.get(0))?)
}

/// What needs attention; certificates count as expiring within `window_days` (the users'
/// `expiring` state uses the same window, `Config::expiring_window_days`).
fn attention(conn: &Connection, now: i64, window_days: i64) -> Result<Attention> {
    let window = window_days * 86400;
    Ok(Attention {
        expiring_certificates: count(
            conn,
            "SELECT count(*) FROM certificates c
             WHERE c.not_after > ?1 AND c.not_after <= ?2 AND c.superseded_at IS NULL
               AND c.kind != 'tls'
               AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.serial = c.serial)",
            params![now, now + window],
        )?,
        expiring_window_days: window_days,
        pending_invitations: count(
            conn,
            "SELECT count(DISTINCT user_id) FROM tokens
             WHERE used_at IS NULL AND expires_at > ?1",
            [now],
        )?,
        approvals_waiting: count(
            conn,
            "SELECT count(*) FROM approval_requests WHERE status = 'pending' AND expires_at > ?1",
            [now],
        )?,
        approvals_expiring_soon: count(
            conn,
            "SELECT count(*) FROM approval_requests
             WHERE status = 'pending' AND expires_at > ?1 AND expires_at <= ?2",
            params![now, now + APPROVAL_SOON],
        )?,
        failed_signins_last_day: signin::failures_since(conn, now - 86400)?,
    })
}

fn activity(conn: &Connection, now: i64) -> Result<Vec<DayActivity>> {
    let today = now.div_euclid(86400);
    let first = today - (ACTIVITY_DAYS - 1);
    let mut days: Vec<DayActivity> = (first..=today)
        .map(|d| DayActivity {
            day: d * 86400,
            issued: 0,
            revoked: 0,
        })
        .collect();
    let mut tally = |sql: &str, issued: bool| -> Result<()> {
        conn.query_each(sql, [first * 86400], |r| {
            let (d, n): (i64, i64) = (r.get(0)?, r.get(1)?);
            if let Some(slot) = usize::try_from(d - first)
                .ok()
                .and_then(|i| days.get_mut(i))
            {
                if issued {
                    slot.issued = n;
                } else {
                    slot.revoked = n;
                }
            }
            Ok(())
        })?;
        Ok(())
    };
    tally(
        "SELECT issued_at / 86400 AS d, count(*) FROM certificates
         WHERE issued_at >= ?1 AND kind != 'tls' GROUP BY d",
        true,
    )?;
    tally(
        "SELECT revoked_at / 86400 AS d, count(*) FROM revocations
         WHERE revoked_at >= ?1 GROUP BY d",
        false,
    )?;
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_spans_read_well() {
        assert_eq!(at(0), "1970-01-01 00:00 UTC");
        assert_eq!(
            at(1_764_633_600 + 3 * 3600 + 25 * 60),
            "2025-12-02 03:25 UTC"
        );
        assert_eq!(span(59), "59 seconds");
        assert_eq!(span(3 * 3600), "3 hours");
        assert_eq!(span(10 * 86400 + 5), "10 days");
        assert!(CheckState::Critical > CheckState::Warning);
        assert!(CheckState::Warning > CheckState::Ok);
    }
}
