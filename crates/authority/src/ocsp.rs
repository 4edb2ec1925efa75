//! The OCSP responder's service side: the delegated responder key (escrowed like the CA key,
//! made at the first OCSP request after unlock, rolled over with a new key and certificate
//! when less than [`Config::ocsp_responder_rollover`] remains) and the per-CertID response
//! cache that makes a request cost a lookup, not a signature.
//!
//! The cache lives in memory (derived data: a restart re-signs lazily, one signature per
//! CertID asked about), so it needs no table. An entry is re-signed when half its validity
//! ([`Config::ocsp_validity`], thisUpdate to nextUpdate) has passed. Every entry is dropped
//! when a revocation commits, before `revoke` answers, and whenever the CRL publisher
//! re-signs: a revoked certificate's new status is served from the moment its revocation
//! commits (the documented bound is 0 s after the commit; the issue asks for 2 s). In a
//! cluster (the store on PostgreSQL) each node keeps its own cache: a revocation through
//! another node empties it at this node's next look at the store's CRL state (every second).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use pki::ocsp::{self as pocsp, CertStatus, ResponseStatus, SingleStatus};

use super::*;

/// The escrow owner of responder keys (their usage is `ca`: a key of the authority).
pub(crate) const OCSP_OWNER: &str = "ocsp-responder";
/// The setting naming the escrowed key of the current responder.
const KEY_SETTING: &str = "ocsp_responder_key_id";
/// At most this many cached responses; the cache is emptied when it is full.
const MAX_CACHED: usize = 100_000;

/// An OCSP answer: the DER OCSPResponse and how long an HTTP cache may keep it.
#[derive(Clone, Debug)]
pub struct OcspAnswer {
    /// The OCSPResponse, DER (an unsigned error response when the status is not successful).
    pub der: Arc<Vec<u8>>,
    /// Seconds until nextUpdate (RFC 5019 §6.2 `Cache-Control: max-age`); `None` for answers
    /// that must not be cached (errors, nonce responses).
    pub max_age: Option<u64>,
}

struct Cached {
    der: Arc<Vec<u8>>,
    refresh_at: SystemTime,
    next_update: SystemTime,
}

/// The responder and its cache, shared by the authority and its publisher thread.
#[derive(Default)]
pub(crate) struct Ocsp {
    responder: RwLock<Option<Arc<pocsp::Responder>>>,
    /// Serialises making and rolling over the responder.
    setup: Mutex<()>,
    cache: RwLock<HashMap<Vec<u8>, Cached>>,
    /// Bumped by every invalidation; a response whose status was read under an older
    /// generation is not cached.
    generation: AtomicU64,
    /// Responses signed (cache misses and nonce requests).
    signs: AtomicU64,
}

impl Ocsp {
    /// The current responder certificate's notAfter, when a responder was made.
    pub(crate) fn responder_not_after(&self) -> Option<SystemTime> {
        self.responder
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|r| r.not_after())
    }

    /// Drops every cached response (a revocation committed, or the CRLs were re-signed).
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn cached(&self, key: &[u8], now: SystemTime) -> Option<OcspAnswer> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let c = cache.get(key)?;
        (now < c.refresh_at).then(|| OcspAnswer {
            der: c.der.clone(),
            max_age: Some(
                c.next_update
                    .duration_since(now)
                    .unwrap_or_default()
                    .as_secs(),
            ),
        })
    }
}

fn error_answer(status: ResponseStatus) -> OcspAnswer {
    OcspAnswer {
        der: Arc::new(pocsp::error_response(status)),
        max_age: None,
    }
}

impl Authority {
    /// Answers an OCSP request (DER). Never fails: a malformed request is answered
    /// `malformedRequest`, a request only about other CAs' certificates `unauthorized`, and
    /// a fault `internalError` (logged).
    pub fn ocsp_respond(&self, request: &[u8]) -> OcspAnswer {
        self.ocsp_respond_limited(request, || true)
    }

    /// [`Authority::ocsp_respond`] under a limit on fresh signatures: a request that cannot
    /// be answered from the cache (one with a nonce, or about several certificates) asks
    /// `may_sign_fresh` first (the server's token buckets). When it says no:
    ///
    /// - a request about one certificate with a nonce is answered as if it had none: the
    ///   cached response, without the nonce. RFC 8954 §2.1 lets a responder ignore the nonce
    ///   (RFC 5019 responders never echo one), and a client that insists on the nonce
    ///   treats such an answer as it treats any pre-produced responder's, whereas
    ///   `tryLater` would leave every relying party without a status. The cost stays one
    ///   signature per certificate per refresh period, as for requests without a nonce.
    /// - a request about several certificates is answered `tryLater` (RFC 6960
    ///   OCSPResponseStatus 3): it has no cached form.
    ///
    /// `may_sign_fresh` is not called for requests the cache can answer.
    pub fn ocsp_respond_limited(
        &self,
        request: &[u8],
        may_sign_fresh: impl FnOnce() -> bool,
    ) -> OcspAnswer {
        let req = match pocsp::parse_request(request) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "malformed OCSP request");
                return error_answer(ResponseStatus::MalformedRequest);
            }
        };
        let now = self.now();
        let fresh = req.ids.len() != 1 || req.nonce().is_some();
        let echo_nonce = !fresh || may_sign_fresh();
        if !echo_nonce && req.ids.len() != 1 {
            return error_answer(ResponseStatus::TryLater);
        }
        let cacheable = req.ids.len() == 1 && (req.nonce().is_none() || !echo_nonce);
        let key = if cacheable {
            req.ids[0].to_der().ok()
        } else {
            None
        };
        if let Some(hit) = key.as_deref().and_then(|k| self.ocsp.cached(k, now)) {
            return hit;
        }
        match self.ocsp_sign(&req, key, now, echo_nonce) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "OCSP response failed");
                error_answer(ResponseStatus::InternalError)
            }
        }
    }

    /// Responses the OCSP responder signed since unlock (cache misses and nonce requests).
    #[doc(hidden)]
    pub fn ocsp_signs(&self) -> u64 {
        self.ocsp.signs.load(Ordering::Relaxed)
    }

    /// The current OCSP responder certificate (DER), making the responder if there is none.
    pub fn ocsp_responder_certificate(&self) -> Result<Vec<u8>> {
        let r = self.ocsp_responder(self.now())?;
        Ok(certificate::to_der(r.certificate())?)
    }

    fn ocsp_sign(
        &self,
        req: &pocsp::Request,
        key: Option<Vec<u8>>,
        now: SystemTime,
        echo_nonce: bool,
    ) -> Result<OcspAnswer> {
        let responder = self.ocsp_responder(now)?;
        let generation = self.ocsp.generation.load(Ordering::SeqCst);
        let next_update = now + self.config.ocsp_validity;
        let statuses = {
            let st = self.lock();
            let ca = st.issuer.certificate();
            if !req.ids.iter().any(|id| id.is_issued_by(ca)) {
                return Ok(error_answer(ResponseStatus::Unauthorized));
            }
            let conn = st.store.store().connection();
            let mut out = Vec::with_capacity(req.ids.len());
            for id in &req.ids {
                let status = match id.serial() {
                    Some(serial) if id.is_issued_by(ca) => {
                        status_of(conn, &serial_of_bytes(&serial))?
                    }
                    _ => CertStatus::Unknown,
                };
                out.push(SingleStatus {
                    id: id.clone(),
                    status,
                    this_update: now,
                    next_update,
                });
            }
            out
        };
        let der = Arc::new(responder.sign(&statuses, now, echo_nonce.then_some(req))?);
        self.ocsp.signs.fetch_add(1, Ordering::Relaxed);
        let Some(key) = key else {
            return Ok(OcspAnswer { der, max_age: None });
        };
        {
            let mut cache = self.ocsp.cache.write().unwrap_or_else(|p| p.into_inner());
            if self.ocsp.generation.load(Ordering::SeqCst) == generation {
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
                cache.insert(
                    key,
                    Cached {
                        der: der.clone(),
                        refresh_at: now + self.config.ocsp_validity / 2,
                        next_update,
                    },
                );
            }
        }
        Ok(OcspAnswer {
            der,
            max_age: Some(self.config.ocsp_validity.as_secs()),
        })
    }

    /// The responder, loaded from escrow or made (and escrowed) when there is none or its
    /// certificate has less than [`Config::ocsp_responder_rollover`] left.
    fn ocsp_responder(&self, now: SystemTime) -> Result<Arc<pocsp::Responder>> {
        let fresh =
            |r: &pocsp::Responder| r.not_after() > now + self.config.ocsp_responder_rollover;
        if let Some(r) = &*self
            .ocsp
            .responder
            .read()
            .unwrap_or_else(|p| p.into_inner())
        {
            if fresh(r) {
                return Ok(r.clone());
            }
        }
        let _setup = self.ocsp.setup.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = &*self
            .ocsp
            .responder
            .read()
            .unwrap_or_else(|p| p.into_inner())
        {
            if fresh(r) {
                return Ok(r.clone());
            }
        }
        // The escrowed one, if it is still fresh (after a restart).
        let stored = {
            let st = self.lock();
            load_responder(&st)?
        };
        let responder = match stored.filter(|r| fresh(r)) {
            Some(r) => r,
            None => {
                // Key generation (when the pool is empty) happens outside the state lock.
                let key = self.pool.take()?;
                let mut st = self.lock();
                make_responder(&mut st, key, now, &self.config)?
            }
        };
        let responder = Arc::new(responder);
        *self
            .ocsp
            .responder
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(responder.clone());
        // Responses signed by the old responder stay valid, but new ones name the new one.
        self.ocsp.invalidate();
        Ok(responder)
    }
}

/// The status of the certificate with `serial` (normalised hex) in the store.
fn status_of(conn: &Connection, serial: &str) -> Result<CertStatus> {
    let known: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = ?1)",
        [serial],
        |r| r.get(0),
    )?;
    if !known {
        return Ok(CertStatus::Unknown);
    }
    let revoked: Option<(String, i64)> = conn
        .query_row(
            "SELECT reason, revoked_at FROM revocations WHERE serial = ?1",
            [serial],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match revoked {
        None => CertStatus::Good,
        Some((reason, at)) => CertStatus::Revoked {
            at: from_unix(at),
            reason: RevocationReason::from_str(&reason)
                .map_err(|_| Error::Corrupt(format!("revocation reason {reason}")))?,
        },
    })
}

fn load_responder(st: &State) -> Result<Option<pocsp::Responder>> {
    let conn = st.store.store().connection();
    let id: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            [KEY_SETTING],
            |r| r.get(0),
        )
        .optional()?;
    let Some(id) = id.and_then(|s| s.parse::<i64>().ok()) else {
        return Ok(None);
    };
    let Some(escrowed) = st.store.key(escrow::KeyId(id))? else {
        return Ok(None);
    };
    let Some(cert_der) = escrowed.certificate_der else {
        return Ok(None);
    };
    let key = PrivateKey::from_der(escrowed.private_key_der.expose())?;
    let cert = certificate::parse_certificate(&cert_der)?;
    // A responder certificate from another CA (the store was re-keyed) is not used.
    if certificate::verify_signed_by(&cert, st.issuer.certificate()).is_err() {
        return Ok(None);
    }
    Ok(Some(pocsp::Responder::new(cert, key)?))
}

/// Certifies `key` as the responder, escrows it and points the setting at it, with its audit
/// entry, in one transaction.
fn make_responder(
    st: &mut State,
    key: PrivateKey,
    now: SystemTime,
    config: &Config,
) -> Result<pocsp::Responder> {
    let ca_subject = st
        .issuer
        .certificate()
        .tbs_certificate()
        .subject()
        .to_string();
    let subject = Name::from_str(&format!("CN=OCSP Responder,{ca_subject}"))
        .or_else(|_| Name::from_str("CN=OCSP Responder"))
        .map_err(|e| Error::invalid("OCSP responder subject", e.to_string()))?;
    let cert = pocsp::issue_responder_certificate(
        &st.issuer,
        &key.public_key(),
        subject,
        now - Duration::from_secs(300),
        now + config.ocsp_responder_validity,
        &mut pki::os_rng(),
    )?;
    let cert_der = certificate::to_der(&cert)?;
    let key_der = key.to_pkcs8_der()?;
    let serial = CertificateInfo::from_certificate(&cert)?.serial_hex;
    let op = audit::Op::new("-", "ocsp-responder", &format!("serial {serial}"));
    op.set_signed_by(&st.issuer.signing_key().key_ref());
    let tx = st.store.begin()?;
    let id = tx.escrow(&NewKey {
        owner: OCSP_OWNER,
        usage: KeyUsage::Ca,
        private_key_der: key_der.as_bytes(),
        certificate_der: Some(&cert_der),
        created_at: unix(now),
    })?;
    tx.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = ?2",
        params![KEY_SETTING, id.0.to_string()],
    )?;
    audit::commit_escrow(tx, &op, unix(now))?;
    tracing::info!(serial = %serial, "OCSP responder certificate issued");
    pocsp::Responder::new(cert, key).map_err(Into::into)
}
