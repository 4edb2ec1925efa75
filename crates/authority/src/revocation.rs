//! Revocation (one certificate, a user's, or many in bulk) and the full and delta CRLs,
//! which the publisher re-signs off the request path. A revocation is one small durable
//! write (its rows, the CRL state's "due", the audit entry); the CRLs' bytes live outside
//! the database ([`crate::crl_blobs`]), the store keeping their state (numbers, times,
//! SHA-256, entry counts), so a re-sign writes a few dozen bytes through the store's one
//! writer however long the list.

use super::*;
use crate::crl_blobs::{CrlBlobs, CrlKind};

/// Most entries (serials or addresses) one bulk revoke takes.
pub const MAX_BULK_REVOKE: usize = 100_000;

/// Up to this many entries, a bulk revoke's audit entry names them all.
const BULK_AUDIT_NAMES: usize = 20;

/// What a bulk revoke revokes.
#[derive(Clone, Debug)]
pub enum BulkTarget {
    /// These certificates, by serial (hex).
    Serials(Vec<String>),
    /// Every unrevoked, unexpired certificate of these users, by address.
    Emails(Vec<String>),
}

/// What a bulk revoke did, and the CRL that lists it.
#[derive(Clone, Debug, Default)]
pub struct BulkRevokeOutcome {
    /// Certificates revoked now, or whose reason was raised to `keyCompromise`.
    pub revoked: usize,
    /// Certificates revoked already and left as they were.
    pub already_revoked: usize,
    /// Entries, as given, that name no certificate (serials) or no user (addresses).
    pub not_found: Vec<String>,
    /// The number of the full CRL that lists the revocations: published, or due.
    pub crl_number: i64,
    /// When that CRL was signed (its thisUpdate, Unix seconds); None while it is due.
    pub crl_published_at: Option<i64>,
}

impl Authority {
    /// Revokes a user's certificates or one certificate (officer role).
    ///
    /// Answers once the revocation committed (with the CRL state marked due in the same
    /// transaction), after waiting a short bounded time ([`Config::crl_publish_wait`]) for
    /// the publisher to re-sign the CRL that lists it; the outcome says which CRL that is and
    /// whether it is published yet. The wait holds no lock and writes nothing (the
    /// revocation is durable before it starts): with the default 2 s, an answer normally
    /// names the published CRL up to a few hundred thousand entries, and past the wait it
    /// says `crl_published_at: None` (`crl_pending` over HTTP) with the number of the CRL
    /// that will list it, which the publisher signs next. Revoking a revoked certificate again succeeds: with
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
        let (crl_number, crl_published_at) = self.after_revocation(listed_in)?;
        Ok(RevokeOutcome {
            revoked,
            already_revoked,
            crl_number,
            crl_published_at,
        })
    }

    /// After a revocation's commit (`listed_in`: the number of the CRL that will list it;
    /// None when nothing changed): waits a short bounded time for the publisher, and says
    /// which CRL lists the change and when it was signed (None while it is due).
    fn after_revocation(&self, listed_in: Option<i64>) -> Result<(i64, Option<i64>)> {
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
        let listed = published && !due && listed_in.is_none_or(|n| n <= number);
        Ok(if listed {
            (number, Some(this_update))
        } else {
            (listed_in.unwrap_or(number), None)
        })
    }

    /// Revokes many certificates in one transaction (officer role): those of `target`'s
    /// serials, or every unrevoked, unexpired certificate of `target`'s users. At most
    /// [`MAX_BULK_REVOKE`] entries (`AUTH-100` beyond); a malformed serial refuses the whole
    /// call (`AUTH-009`, nothing changes); a well-formed serial no certificate has, or an
    /// address no user has, is answered in `not_found` and the rest is revoked. As with
    /// [`Authority::revoke`], a revoked certificate stays as it was unless `keyCompromise`
    /// raises its reason. One audit entry names the count (and the entries, when few).
    pub fn revoke_bulk(
        &self,
        actor: &Admin,
        target: &BulkTarget,
        reason: RevocationReason,
    ) -> Result<BulkRevokeOutcome> {
        let (kind, entries) = match target {
            BulkTarget::Serials(s) => ("serials", s),
            BulkTarget::Emails(e) => ("users", e),
        };
        let mut what = format!("{} {kind}", entries.len());
        if entries.len() <= BULK_AUDIT_NAMES {
            what = format!("{what}: {}", entries.join(" "));
        }
        let (mut out, listed_in) = self.audit_op(
            &actor.name,
            &format!("revoke.bulk:{reason:?}"),
            &what,
            |rec| self.revoke_bulk_inner(rec, actor, target, reason),
        )?;
        (out.crl_number, out.crl_published_at) = self.after_revocation(listed_in)?;
        Ok(out)
    }

    fn revoke_bulk_inner(
        &self,
        rec: &audit::Op,
        actor: &Admin,
        target: &BulkTarget,
        reason: RevocationReason,
    ) -> Result<(BulkRevokeOutcome, Option<i64>)> {
        actor.require_officer()?;
        let given = match target {
            BulkTarget::Serials(s) | BulkTarget::Emails(s) => s.len(),
        };
        if given > MAX_BULK_REVOKE {
            return Err(Error::TooManyEntries {
                given,
                max: MAX_BULK_REVOKE,
            });
        }
        if given == 0 {
            return Err(Error::invalid("bulk revoke", "no serial or address given"));
        }
        // Serials are checked before anything is read: a malformed one refuses the call.
        let serials: Vec<String> = match target {
            BulkTarget::Serials(s) => s
                .iter()
                .map(|s| normalise_serial(s))
                .collect::<Result<_>>()?,
            BulkTarget::Emails(_) => Vec::new(),
        };
        let now = unix(self.now());
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        let next_number = next_crl_number(&tx)?;
        let mut out = BulkRevokeOutcome::default();
        let mut seen = std::collections::HashSet::new();
        let mut candidates: Vec<String> = Vec::new();
        match target {
            BulkTarget::Serials(given) => {
                let mut known =
                    tx.prepare_cached("SELECT 1 FROM certificates WHERE serial = ?1")?;
                for (serial, as_given) in serials.into_iter().zip(given) {
                    if !seen.insert(serial.clone()) {
                        continue;
                    }
                    if known.query_row([&serial], |_| Ok(())).optional()?.is_some() {
                        candidates.push(serial);
                    } else {
                        out.not_found.push(as_given.clone());
                    }
                }
            }
            BulkTarget::Emails(emails) => {
                let mut of_user = tx.prepare_cached(
                    "SELECT c.serial FROM certificates c
                     WHERE c.user_id = ?1 AND c.not_after > ?2 ORDER BY c.issued_at",
                )?;
                for email in emails {
                    let id = match find_user(&tx, email) {
                        Ok((id, _)) => id,
                        Err(Error::UnknownUser { .. }) => {
                            out.not_found.push(email.clone());
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    if !seen.insert(id.to_string()) {
                        continue;
                    }
                    let s = of_user
                        .query_map(params![id, now], |r| r.get::<String>(0))?
                        .collect::<db::Result<Vec<_>>>()?;
                    candidates.extend(s);
                }
            }
        }
        {
            let mut current =
                tx.prepare_cached("SELECT reason FROM revocations WHERE serial = ?1")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO revocations (serial, reason, revoked_at, crl_number) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut raise = tx.prepare_cached(
                "UPDATE revocations SET reason = ?2, crl_number = ?3 WHERE serial = ?1",
            )?;
            for serial in &candidates {
                let old: Option<String> = current.query_row([serial], |r| r.get(0)).optional()?;
                match old {
                    None => {
                        insert.execute(params![serial, reason.name(), now, next_number])?;
                        out.revoked += 1;
                    }
                    Some(old)
                        if reason == RevocationReason::KeyCompromise
                            && old != RevocationReason::KeyCompromise.name() =>
                    {
                        raise.execute(params![serial, reason.name(), next_number])?;
                        out.revoked += 1;
                    }
                    Some(_) => out.already_revoked += 1,
                }
            }
        }
        rec.extend_target(&format!(
            " -> {} revoked, {} already revoked, {} not found",
            out.revoked,
            out.already_revoked,
            out.not_found.len()
        ));
        if out.revoked == 0 {
            // Nothing changes: the entry is appended on its own (as an `ok`).
            drop(tx);
            return Ok((out, None));
        }
        tx.execute("UPDATE crl_state SET due = 1 WHERE id = 1", [])?;
        audit::commit(tx, rec, unix(self.now()))?;
        tracing::info!(admin = %actor.name, count = out.revoked, reason = reason.name(), "certificates revoked in bulk");
        Ok((out, Some(next_number)))
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
            .collect::<db::Result<Vec<String>>>()?;
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
        let tx = st.store.connection_mut().transaction()?;
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
                    .collect::<db::Result<Vec<String>>>()?;
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
    /// nextUpdate is near (what the publisher thread does on its own). True when it did; in
    /// a cluster, true when this node's publisher signed meanwhile (false on a node that
    /// serves another's CRLs).
    pub fn refresh_crl_if_due(&self) -> Result<bool> {
        if self.is_clustered() {
            // Only the node holding the CRL signer's lock signs: its publisher is asked.
            let before = self.publisher.signs();
            let n = self.publisher.request();
            self.publisher.wait(n, Duration::from_secs(5));
            return Ok(self.publisher.signs() > before);
        }
        crl_pass(
            &self.state,
            &self.published,
            &*self.clock,
            &self.config,
            None,
            &|| self.ocsp.invalidate(),
        )
    }

    /// Whether this authority's store is on PostgreSQL, shared with other nodes (the CRL is
    /// then signed by one node at a time).
    pub fn is_clustered(&self) -> bool {
        self.lock()
            .store
            .store()
            .connection()
            .postgres_config()
            .is_some()
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

    /// None when the served CRL is the store's current one (its number and SHA-256, nothing
    /// revoked since, no re-sign due or under way) and is fresh; otherwise a short reason, for
    /// `/healthz`. Constant time in the number of revocations: it reads the store's CRL state
    /// (one row) and compares it with the served CRLs' number and hashes (computed when they
    /// were served).
    pub fn crl_health(&self) -> Option<String> {
        self.crl_health_with(false)
    }

    /// [`Authority::crl_health`], also looking for a stored CRL numbered above the store's
    /// state (the store was put back from an older copy): at unlock, which re-signs then.
    pub(crate) fn crl_health_thorough(&self) -> Option<String> {
        self.crl_health_with(true)
    }

    fn crl_health_with(&self, thorough: bool) -> Option<String> {
        let now = unix(self.now());
        let (r, blobs, clustered) = {
            let st = self.lock();
            let published = self.published.read().unwrap_or_else(|p| p.into_inner());
            let conn = st.store.store().connection();
            (
                crl_lag(conn, &published, now, &self.config),
                st.blobs.clone(),
                conn.backend() == db::Backend::Postgres,
            )
        };
        let r = match r {
            Ok(None) if thorough => newer_crl_stored(&*blobs, &self.published),
            other => other,
        };
        let lag = match r {
            Ok(lag) => lag,
            Err(e) => Some(format!("the CRL state cannot be read: [{}] {e}", e.code())),
        };
        let failed = self.publisher.last_error();
        // In a cluster a CRL a second behind is the design (the signer re-signs within a
        // second of a revocation through any node, the others serve it a second later): a
        // lag is reported once it lasted `cluster_crl_lag_grace`, or at once when a re-sign
        // failed.
        let lag = {
            let mut since = self.crl_lag_since.lock().unwrap_or_else(|p| p.into_inner());
            match lag {
                None => {
                    *since = None;
                    None
                }
                Some(l) if clustered && !thorough && failed.is_none() => {
                    let first = *since.get_or_insert_with(std::time::Instant::now);
                    (first.elapsed() >= self.config.cluster_crl_lag_grace).then_some(l)
                }
                Some(l) => Some(l),
            }
        };
        match (lag, failed) {
            (None, _) => None,
            (Some(l), Some(e)) => Some(format!("{l}; the last re-sign failed: {e}")),
            (Some(l), None) => Some(l),
        }
    }
}

/// The store's CRL state (one row).
struct CrlState {
    /// The full CRL's number (its delta is numbered one above).
    number: i64,
    /// The number after which the next re-sign numbers its CRLs (above `number + 1` while a
    /// re-sign is under way).
    delta_number: i64,
    next_update: i64,
    /// A revocation committed that the served CRL does not list yet.
    due: bool,
    /// SHA-256 of the full and the delta CRL (None before the first re-sign after 0014).
    hashes: Option<(Vec<u8>, Vec<u8>)>,
}

fn crl_state(conn: &Connection) -> Result<Option<CrlState>> {
    Ok(conn
        .query_row(
            "SELECT number, delta_number, next_update, due, crl_sha256, delta_sha256
             FROM crl_state WHERE id = 1",
            [],
            |r| {
                let full: Option<Vec<u8>> = r.get(4)?;
                let delta: Option<Vec<u8>> = r.get(5)?;
                Ok(CrlState {
                    number: r.get(0)?,
                    delta_number: r.get(1)?,
                    next_update: r.get(2)?,
                    due: r.get(3)?,
                    hashes: full.zip(delta),
                })
            },
        )
        .optional()?)
}

/// What is wrong with the served CRLs against the store's CRL state, if anything; constant
/// time in the number of revocations: a revocation's commit sets the state's "due", which
/// only a re-sign that reads the list after it clears, and the state names the served CRLs
/// by number and SHA-256.
fn crl_lag(
    conn: &Connection,
    served: &Published,
    now: i64,
    config: &Config,
) -> Result<Option<String>> {
    let Some(state) = crl_state(conn)? else {
        return Ok(Some("no CRL has been signed".into()));
    };
    if served.crl_der.is_empty() {
        return Ok(Some(
            "the CRL the store names is missing (it is re-signed at unlock)".into(),
        ));
    }
    let Some(served_number) =
        pki::crl::peek_number(&served.crl_der).and_then(|n| i64::try_from(n).ok())
    else {
        return Ok(Some("the served CRL cannot be read".into()));
    };
    if served_number != state.number {
        return Ok(Some(format!(
            "the served CRL's number is not the store's ({})",
            state.number
        )));
    }
    let matches = state.hashes.as_ref().is_some_and(|(full, delta)| {
        full[..] == served.hashes.0[..] && delta[..] == served.hashes.1[..]
    });
    if !matches {
        return Ok(Some(
            "the served CRL is not the one the store recorded (missing, older or altered)".into(),
        ));
    }
    if state.due {
        // Every revocation's commit sets "due"; a pass clears it as it takes the list.
        return Ok(Some(
            "a CRL re-sign is due: the served CRL lacks revocations committed since".into(),
        ));
    }
    if state.delta_number != state.number + 1 {
        return Ok(Some(
            "a CRL re-sign is under way (or was interrupted)".into(),
        ));
    }
    if state.next_update <= now {
        return Ok(Some("the CRL is past its nextUpdate".into()));
    }
    if state.next_update - secs(config.crl_refresh_margin) / 2 <= now {
        return Ok(Some(
            "the CRL's nextUpdate is near and it was not re-signed".into(),
        ));
    }
    Ok(None)
}

/// Whether a CRL numbered above the served one is stored (the store was put back from an
/// older copy: its CRLs must be re-signed above every number published).
fn newer_crl_stored(blobs: &dyn CrlBlobs, published: &RwLock<Published>) -> Result<Option<String>> {
    let served = {
        let p = published.read().unwrap_or_else(|p| p.into_inner());
        pki::crl::peek_number(&p.crl_der).and_then(|n| i64::try_from(n).ok())
    };
    let highest = blobs.highest()?;
    Ok(match (served, highest) {
        (Some(s), Some(h)) if h > s + 1 => Some(format!(
            "a CRL numbered {h} was published, above the store's ({s}): the store is older"
        )),
        _ => None,
    })
}

/// The first number the next CRLs may take: above the store's state and above every CRL
/// stored (numbers only grow, also over a store put back from an older copy).
fn first_free_number(conn: &Connection, blobs: &dyn CrlBlobs) -> Result<i64> {
    let from_state = next_crl_number(conn)?;
    Ok(match blobs.highest()? {
        Some(h) => from_state.max(h + 1),
        None => from_state,
    })
}

/// One publisher pass: re-signs when the store's CRL state is due or missing, when the
/// served CRL lags the store (see [`crl_lag`]), or near its nextUpdate. True when it signed.
///
/// Only two short steps hold the authority's lock: reserving the CRL numbers (one small
/// write that also clears "due") and recording the new CRLs' state (numbers, times, hashes:
/// a row of a few dozen bytes). The list is read through a read-only connection of its own
/// (a snapshot: WAL readers do not block writers), built, signed and written to the CRL
/// storage ([`CrlBlobs`], outside the database) without the lock, so revocations go on while
/// a large CRL is made and written. A revocation committed meanwhile is recorded for the
/// next CRL and makes the state due again; if another re-sign (a restore, the check at
/// unlock) recorded CRLs meanwhile, this pass's are dropped.
///
/// In a cluster (`signer` given: the store is on PostgreSQL), only the node holding the CRL
/// signer's lock signs; the others serve what it published ([`follow_published`]).
pub(crate) fn crl_pass(
    state: &Mutex<State>,
    published: &RwLock<Published>,
    clock: &dyn Clock,
    config: &Config,
    signer: Option<&Mutex<SignerLock>>,
    revocations_changed: &dyn Fn(),
) -> Result<bool> {
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(signer) = signer
        && !signer.lock().unwrap_or_else(|p| p.into_inner()).holds()
    {
        // Another node signs. A revocation made here waits (in `revoke`) for this pass: it
        // ends once the signer's CRLs listing it are served here, or after a short while.
        // A revocation through another node shows as a re-sign due (or new CRLs): this node's
        // OCSP answers cached before it are dropped then, within a look (a second).
        let deadline = std::time::Instant::now() + FOLLOW_WAIT;
        loop {
            let (pending, changed) = follow_published(&lock(), published)?;
            if pending || changed {
                revocations_changed();
            }
            if !pending || std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let now_t = clock.now();
    let now = unix(now_t);
    let (plan, issuer, reader, blobs) = {
        let mut st = lock();
        let conn = st.store.store().connection();
        let Some(crl) = crl_state(conn)? else {
            // The first CRL (normally signed at init): made under the lock.
            sign_crls(&mut st, published, clock, config)?;
            return Ok(true);
        };
        let near = crl.next_update - secs(config.crl_refresh_margin) <= now;
        if !crl.due && !near {
            let served = published.read().unwrap_or_else(|p| p.into_inner());
            if crl_lag(conn, &served, now, config)?.is_none() {
                return Ok(false);
            }
        }
        let blobs = st.blobs.clone();
        let plan = Plan {
            number: first_free_number(conn, &*blobs)?,
            base: crl.number,
            public_url: setting(conn, "public_url")?,
            this_update: now_t,
            next_update: now_t + config.crl_validity,
        };
        // Revocations from now on are recorded for the CRL after this one (and make the
        // state due again).
        conn.execute(
            "UPDATE crl_state SET delta_number = ?1, due = 0 WHERE id = 1",
            [plan.number + 1],
        )?;
        // The issuer is cheap to clone (its key is shared) and signs without the lock.
        let issuer = st.issuer.clone();
        let reader = Reader::of(&st.store);
        (plan, issuer, reader, blobs)
    };
    let built = reader
        .open()
        .and_then(|reader| build_crls(&reader, &plan, &issuer))
        .and_then(|b| {
            blobs.put(CrlKind::Full, plan.number, &b.full)?;
            blobs.put(CrlKind::Delta, plan.number + 1, &b.delta)?;
            Ok(b)
        });
    let b = match built {
        Ok(b) => b,
        Err(e) => {
            // Due again, for the retry (the reserved numbers are skipped).
            let _ = lock().store.store().connection().execute(
                "UPDATE crl_state SET due = 1 WHERE id = 1 AND delta_number = ?1",
                [plan.number + 1],
            );
            let _ = blobs.remove(CrlKind::Full, plan.number);
            let _ = blobs.remove(CrlKind::Delta, plan.number + 1);
            return Err(e);
        }
    };
    let published_now = Published::new(Vec::new(), b.full, b.delta);
    let mut st = lock();
    let stored = st.store.connection_mut().execute(
        "UPDATE crl_state SET number = ?1, this_update = ?2, next_update = ?3,
             crl_sha256 = ?4, delta_sha256 = ?5, entries = ?6, delta_entries = ?7
         WHERE id = 1 AND delta_number = ?8",
        params![
            plan.number,
            unix(plan.this_update),
            unix(plan.next_update),
            &published_now.hashes.0[..],
            &published_now.hashes.1[..],
            b.entries,
            b.delta_entries,
            plan.number + 1
        ],
    )?;
    if stored == 0 {
        drop(st);
        tracing::info!(
            number = plan.number,
            "CRLs signed meanwhile by another re-sign; this pass's dropped"
        );
        let _ = blobs.remove(CrlKind::Full, plan.number);
        let _ = blobs.remove(CrlKind::Delta, plan.number + 1);
        return Ok(false);
    }
    serve(&st, published, published_now)?;
    drop(st);
    prune(&*blobs, plan.number);
    tracing::info!(number = plan.number, entries = b.entries, "CRL signed");
    Ok(true)
}

/// Drops the stored CRLs older than those numbered `number` (full) and `number + 1` (delta);
/// a failure is only logged (an old file left over is harmless).
fn prune(blobs: &dyn CrlBlobs, number: i64) {
    let r = blobs
        .prune(CrlKind::Full, number)
        .and_then(|()| blobs.prune(CrlKind::Delta, number + 1));
    if let Err(e) = r {
        tracing::warn!(error = %e, "cannot remove older CRL files");
    }
}

/// The CRLs one re-sign makes.
struct Plan {
    /// The full CRL's number (the delta's is the next).
    number: i64,
    /// The previous full CRL's number: the delta lists what changed since.
    base: i64,
    public_url: String,
    this_update: SystemTime,
    next_update: SystemTime,
}

/// The signed CRLs of one re-sign.
struct Built {
    full: Vec<u8>,
    delta: Vec<u8>,
    entries: i64,
    delta_entries: i64,
}

/// Builds and signs the full and delta CRLs of `plan` from the revocations read on `conn`,
/// in one pass over the rows (in the table's order: a CRL's entries need no order), each
/// entry encoded once into the builders: time linear in the revocations, memory the
/// encoded lists.
fn build_crls(conn: &Connection, plan: &Plan, issuer: &Issuer) -> Result<Built> {
    let mut full = CrlBuilder::new(plan.number as u64, plan.this_update, plan.next_update)?
        .freshest_crl(format!("{}/crl/delta", plan.public_url));
    let mut delta = CrlBuilder::new(plan.number as u64 + 1, plan.this_update, plan.next_update)?
        .delta_of(plan.base as u64)?;
    let (mut entries, mut delta_entries) = (0i64, 0i64);
    conn.query_each_and_then(
        "SELECT serial, reason, revoked_at, crl_number FROM revocations",
        [],
        |r| -> Result<()> {
            let serial: String = r.get(0)?;
            let reason: String = r.get(1)?;
            let listed_in: i64 = r.get(3)?;
            let entry = CrlEntry {
                serial: serial_bytes(&serial)?,
                revoked_at: from_unix(r.get(2)?),
                reason: RevocationReason::from_str(&reason)
                    .map_err(|_| Error::Corrupt(format!("revocation reason {reason}")))?,
            };
            full.add(&entry)?;
            entries += 1;
            if listed_in > plan.base {
                delta.add(&entry)?;
                delta_entries += 1;
            }
            Ok(())
        },
    )?;
    Ok(Built {
        full: full.sign(issuer)?,
        delta: delta.sign(issuer)?,
        entries,
        delta_entries,
    })
}

/// Where the CRL builder reads the revocations from: a connection of its own, so that the
/// long read runs without the authority's lock and without holding its connection.
enum Reader {
    /// The SQLite file, opened read-only (WAL: the read sees one snapshot while writers go on).
    Sqlite(std::path::PathBuf),
    /// The PostgreSQL database, on a new session (one statement: one snapshot).
    Postgres(db::PgConfig),
}

impl Reader {
    fn of(store: &escrow::UnlockedStore) -> Reader {
        match store.store().connection().postgres_config() {
            Some(config) => Reader::Postgres(config.clone()),
            None => Reader::Sqlite(store.store().data_dir().join(escrow::DB_FILE_NAME)),
        }
    }

    fn open(&self) -> Result<Connection> {
        Ok(match self {
            Reader::Sqlite(path) => {
                let raw = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(db::DbError::from)?;
                Connection::from_rusqlite(raw)?
            }
            Reader::Postgres(config) => {
                let conn = Connection::connect_postgres(config)?;
                conn.execute_batch("SET default_transaction_read_only = on")?;
                conn
            }
        })
    }
}

/// How often, in a cluster, the CRL signer looks for other nodes' revocations and the other
/// nodes for the signer's new CRLs.
pub(crate) const CLUSTER_CHECK_EVERY: Duration = Duration::from_secs(1);

/// The PostgreSQL advisory lock the node signing the CRLs holds (one node at a time).
const CRL_SIGNER_LOCK: i64 = 0x6b6d_735f_6372_6c31; // "kms_crl1"

/// The CRL signer's lock of one node, held on a database session of its own: PostgreSQL
/// releases it when that session ends (the node killed, its network cut), and another node
/// takes it at its next look (within [`CLUSTER_CHECK_EVERY`]).
pub(crate) struct SignerLock {
    config: db::PgConfig,
    conn: Option<Connection>,
    held: bool,
}

impl SignerLock {
    pub(crate) fn new(config: db::PgConfig) -> Self {
        SignerLock {
            config,
            conn: None,
            held: false,
        }
    }

    /// Whether this node holds the lock now: keeps it while its session lives, takes it
    /// when it is free. A lost session loses the lock (and is replaced at the next call).
    pub(crate) fn holds(&mut self) -> bool {
        if let Some(conn) = &self.conn
            && conn.ping().is_err()
        {
            if self.held {
                tracing::warn!("lost the database session holding the CRL signer's lock");
            }
            self.conn = None;
            self.held = false;
        }
        if self.conn.is_none() {
            match Connection::connect_postgres(&self.config) {
                Ok(c) => self.conn = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach the database for the CRL signer's lock");
                    return false;
                }
            }
        }
        if !self.held
            && let Some(conn) = &self.conn
        {
            match conn.try_advisory_lock(CRL_SIGNER_LOCK) {
                Ok(true) => {
                    tracing::info!("this node now signs the CRLs (it holds the CRL signer's lock)");
                    self.held = true;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot take the CRL signer's lock"),
            }
        }
        self.held
    }
}

/// How long a node that does not sign waits, after a revocation made through it, for the
/// signer's CRLs that list it.
const FOLLOW_WAIT: Duration = Duration::from_secs(2);

/// On a node that does not sign the CRLs: serves the CRLs the store's CRL state names when
/// they differ from the served ones (another node signed), checked against the state's
/// SHA-256 of each; a read of one row when nothing changed. Says whether the state says a
/// re-sign is due or under way (the served CRLs do not list everything yet), and whether
/// the CRLs served changed.
fn follow_published(st: &State, published: &RwLock<Published>) -> Result<(bool, bool)> {
    let conn = st.store.store().connection();
    let Some((number, full_hash, delta_hash, pending)) = conn
        .query_row(
            "SELECT number, crl_sha256, delta_sha256, due <> 0 OR delta_number <> number + 1
             FROM crl_state WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<Option<Vec<u8>>>(1)?,
                    r.get::<Option<Vec<u8>>>(2)?,
                    r.get::<bool>(3)?,
                ))
            },
        )
        .optional()?
    else {
        return Ok((false, false));
    };
    {
        let served = published.read().unwrap_or_else(|p| p.into_inner());
        if full_hash.as_deref() == Some(&served.hashes.0[..])
            && delta_hash.as_deref() == Some(&served.hashes.1[..])
        {
            return Ok((pending, false));
        }
    }
    let (Some(full), Some(delta)) = (
        st.blobs.get(CrlKind::Full, number)?,
        st.blobs.get(CrlKind::Delta, number + 1)?,
    ) else {
        // Recorded but not readable yet (or pruned meanwhile): the next look serves it.
        return Ok((true, false));
    };
    let new = Published::new(Vec::new(), full, delta);
    if full_hash.as_deref() != Some(&new.hashes.0[..])
        || delta_hash.as_deref() != Some(&new.hashes.1[..])
    {
        // The signer moved on between the two reads: the next look serves its newer CRLs.
        return Ok((true, false));
    }
    tracing::info!(number, "serving the CRLs another node signed");
    serve(st, published, new)?;
    Ok((pending, true))
}

/// Serves newly recorded CRLs (`new`'s CA certificate is filled in here).
fn serve(st: &State, published: &RwLock<Published>, mut new: Published) -> Result<()> {
    new.ca_der = certificate::to_der(st.issuer.certificate())?;
    *published.write().unwrap_or_else(|p| p.into_inner()) = new;
    Ok(())
}

/// Signs the full and delta CRLs from the store's revocations, writes them to the CRL
/// storage and records their state (clearing "due"), all under the authority's lock (at
/// init, unlock, restore and a public URL change); then serves them. Numbered above the
/// store's state and above every CRL stored.
pub(crate) fn sign_crls(
    st: &mut State,
    published: &RwLock<Published>,
    clock: &dyn Clock,
    config: &Config,
) -> Result<()> {
    let now_t = clock.now();
    let blobs = st.blobs.clone();
    let conn = st.store.store().connection();
    let previous: Option<i64> = conn
        .query_row("SELECT number FROM crl_state WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    let number = first_free_number(conn, &*blobs)?;
    let plan = Plan {
        number,
        // The delta lists what changed since the previous full CRL (nothing, the first time).
        base: previous.unwrap_or(number),
        public_url: setting(conn, "public_url")?,
        this_update: now_t,
        next_update: now_t + config.crl_validity,
    };
    let b = build_crls(conn, &plan, &st.issuer)?;
    blobs.put(CrlKind::Full, number, &b.full)?;
    blobs.put(CrlKind::Delta, number + 1, &b.delta)?;
    let new = Published::new(Vec::new(), b.full, b.delta);
    st.store.connection_mut().execute(
        "INSERT INTO crl_state (id, number, delta_number, this_update, next_update, due,
             crl_sha256, delta_sha256, entries, delta_entries)
         VALUES (1, ?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET number = ?1, delta_number = ?2, this_update = ?3,
             next_update = ?4, due = 0, crl_sha256 = ?5, delta_sha256 = ?6, entries = ?7,
             delta_entries = ?8",
        params![
            number,
            number + 1,
            unix(plan.this_update),
            unix(plan.next_update),
            &new.hashes.0[..],
            &new.hashes.1[..],
            b.entries,
            b.delta_entries
        ],
    )?;
    serve(st, published, new)?;
    prune(&*blobs, number);
    tracing::info!(number, entries = b.entries, "CRL signed");
    Ok(())
}
