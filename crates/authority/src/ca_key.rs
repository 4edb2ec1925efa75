//! Where the CA key lives: in the escrow store (a software key, as always) or on a token
//! (PKCS#11, opened by the caller and handed in as [`CaSigningKey`] through
//! [`Config::ca_signing_key`]). Owns the escrow record of a token CA's key (a reference, never
//! key material), the secret derived from the CA for TOTP sealing and the approval pepper, and
//! whether the CA key can sign now (`/healthz`, checked at the health-check tick).
//!
//! # The escrow record of a token key
//!
//! The `ca` row names an escrowed key (`ca.escrowed_key_id`, NOT NULL since migration 0002).
//! For a token CA that escrow entry (owner `ca`, usage `ca`) holds [`REF_MAGIC`] followed by
//! the key's [`KeyRef`] (`token:<subjectKeyIdentifier hex>`): authenticated by the escrow
//! AEAD like every key, so a store says by itself that its CA key is on a token and which one,
//! and holds nothing of the key. No migration is needed.

use std::sync::{Arc, Mutex};

use db::OptionalExtension;
use escrow::UnlockedStore;
use pki::certificate;
use pki::{Issuer, KeyRef, KeyStore, PrivateKey, SigningKey};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// The first bytes of the escrow record of a CA key kept on a token.
pub(crate) const REF_MAGIC: &[u8] = b"kms-ca-key-ref/v1\n";

/// A CA key on a token (or any [`SigningKey`] that is not software key material), handed
/// to [`crate::init`] and [`crate::unlock`] through [`Config::ca_signing_key`]. `kmsd` makes
/// it from `kmsd.toml`'s `[ca_key]` and the PIN.
///
/// [`Config::ca_signing_key`]: crate::Config::ca_signing_key
#[derive(Clone)]
pub struct CaSigningKey(Arc<dyn SigningKey>);

impl CaSigningKey {
    /// Wraps `key`.
    pub fn new(key: Arc<dyn SigningKey>) -> Self {
        CaSigningKey(key)
    }

    /// The key.
    pub fn key(&self) -> &Arc<dyn SigningKey> {
        &self.0
    }
}

impl std::fmt::Debug for CaSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CaSigningKey({})", self.0.key_ref())
    }
}

/// The escrow record of a token key: [`REF_MAGIC`] and the key reference.
pub(crate) fn encode_ref(r: &KeyRef) -> Zeroizing<Vec<u8>> {
    let mut out = REF_MAGIC.to_vec();
    out.extend_from_slice(r.to_string().as_bytes());
    Zeroizing::new(out)
}

/// The key reference in an escrow record made by [`encode_ref`]; `None` for key material.
pub(crate) fn decode_ref(bytes: &[u8]) -> Option<String> {
    let rest = bytes.strip_prefix(REF_MAGIC)?;
    std::str::from_utf8(rest).ok().map(str::to_string)
}

/// The CA key as the store holds it.
pub(crate) enum StoredCaKey {
    /// The key itself (software CA).
    Software(Box<PrivateKey>),
    /// A reference to a token key (`token:<ski>`).
    Token(String),
}

/// The CA certificate (DER) and the CA key as the store holds it.
pub(crate) fn read_stored(store: &UnlockedStore) -> Result<(Vec<u8>, StoredCaKey)> {
    let (ca_der, key_id): (Vec<u8>, i64) = store
        .store()
        .connection()
        .query_row(
            "SELECT certificate, escrowed_key_id FROM ca WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| Error::Corrupt("the store has no CA (was it made by kmsd init?)".into()))?;
    let escrowed = store
        .key(escrow::KeyId(key_id))?
        .ok_or_else(|| Error::Corrupt("the CA key is missing from escrow".into()))?;
    let der = escrowed.private_key_der.expose();
    let stored = match decode_ref(der) {
        Some(r) => StoredCaKey::Token(r),
        None => StoredCaKey::Software(Box::new(PrivateKey::from_der(der)?)),
    };
    Ok((ca_der, stored))
}

/// The issuer of a store's CA: its escrowed key, or the token key `configured` (which must
/// be the one the store names, and match the CA certificate).
pub(crate) fn issuer_for(
    ca_der: &[u8],
    stored: StoredCaKey,
    configured: Option<&CaSigningKey>,
) -> Result<Issuer> {
    let cert = certificate::parse_certificate(ca_der)?;
    match (stored, configured) {
        (StoredCaKey::Software(key), None) => Ok(Issuer::new(cert, *key)?),
        (StoredCaKey::Software(_), Some(k)) => Err(Error::CaKeyMismatch(format!(
            "this authority's CA key is in its store (a software key), but a token key \
             ({}) was configured: remove [ca_key] from kmsd.toml (moving a software CA key \
             into a token is not supported)",
            k.key().key_ref()
        ))),
        (StoredCaKey::Token(r), None) => Err(Error::CaKeyMismatch(format!(
            "this authority's CA key is on a token ({r}): kmsd.toml needs [ca_key] \
             (pkcs11_module, token_label, key_label) and kmsd the token's PIN \
             (--pin-stdin, --pin-file or KMS_PKCS11_PIN_FILE)"
        ))),
        (StoredCaKey::Token(r), Some(k)) => {
            let got = k.key().key_ref();
            if got.store != KeyStore::Token || got.to_string() != r {
                return Err(Error::CaKeyMismatch(format!(
                    "the configured token key is {got}, but this authority's CA key is {r}: \
                     check [ca_key] token_label and key_label in kmsd.toml"
                )));
            }
            Issuer::with_signing_key(cert, k.key().clone()).map_err(|e| {
                Error::CaKeyMismatch(format!(
                    "the configured token key does not match the CA certificate: {e}"
                ))
            })
        }
    }
}

/// Secret bytes derived from the CA, for the TOTP sealing key and the approval pepper: the
/// software CA key's PKCS#8 DER (as always, so secrets sealed before keep opening), or for a
/// token CA (whose key cannot be read) a PRF output of the master key (the store's
/// master-key-derived MAC over a label of its own).
pub(crate) fn ca_secret(issuer: &Issuer, store: &UnlockedStore) -> Result<Zeroizing<Vec<u8>>> {
    match issuer.software_key() {
        Some(k) => Ok(Zeroizing::new(k.to_pkcs8_der()?.as_bytes().to_vec())),
        None => Ok(Zeroizing::new(
            store
                .anchor_mac(
                    b"kms-ca-secret/v1: the CA-derived secret of a CA whose key is on a token",
                )
                .to_vec(),
        )),
    }
}

/// Whether the CA key can sign: the last [`SigningKey::check`] at the health-check tick, or a
/// signing failure seen since.
#[derive(Debug, Default)]
pub(crate) struct SignerHealth {
    unavailable: Mutex<Option<String>>,
}

impl SignerHealth {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.unavailable.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the outcome of a check.
    pub(crate) fn set(&self, why: Option<String>) {
        let mut slot = self.slot();
        match (&*slot, &why) {
            (None, Some(w)) => tracing::error!(reason = %w, "the CA key cannot sign"),
            (Some(_), None) => tracing::info!("the CA key signs again"),
            _ => {}
        }
        *slot = why;
    }

    /// Why the CA key cannot sign, if it cannot.
    pub(crate) fn get(&self) -> Option<String> {
        self.slot().clone()
    }
}

impl crate::Authority {
    /// Asks the CA key whether it can sign now ([`SigningKey::check`]: a token key asks its
    /// token) and records the answer for `/healthz`. Called at the health-check tick, not per
    /// request. Returns the reason it cannot, if it cannot.
    pub fn check_signer(&self) -> Option<String> {
        let why = self.issuer.signing_key().check().err().map(|e| {
            let e = Error::from(e);
            format!("[{}] {e}", e.code())
        });
        self.signer_health.set(why.clone());
        why
    }

    /// What signs for this CA (`software:<ski>` or `token:<ski>`), as the audit log records.
    pub fn ca_key_ref(&self) -> KeyRef {
        self.issuer.signing_key().key_ref()
    }

    /// Notes a signing failure seen by an operation: a token that cannot sign makes
    /// `/healthz` say so at once (the next check clears it once the token is back).
    pub(crate) fn note_signing_failure(&self, e: &Error) {
        if matches!(e, Error::SignerUnavailable(_)) {
            self.signer_health.set(Some(format!("[{}] {e}", e.code())));
        }
    }

    /// `/healthz`'s reason when the CA key cannot sign.
    pub(crate) fn signer_reason(&self) -> Option<String> {
        self.signer_health.get().map(|why| {
            format!(
                "no signer: the CA key cannot sign ({why}); issuing, renewing and CRL \
                 re-signing wait for it, the CA certificate, CRLs and cached OCSP answers are \
                 still served"
            )
        })
    }
}
