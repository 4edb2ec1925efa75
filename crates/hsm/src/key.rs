//! [`TokenKey`]: an RSA private key held by a PKCS#11 token, as a [`pki::SigningKey`]. Opening
//! logs in, finds the key by label and checks it (RSA, `CKA_SIGN`, sensitive, not extractable,
//! the three SHA-2 PKCS#1 v1.5 mechanisms, one test signature per digest verified in software);
//! generating makes such a key in the token. Signing goes through a pool of logged-in sessions
//! and survives the token going away and coming back (one retry with fresh sessions).

use core::fmt;
use std::sync::Arc;

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{AuthPin, Ulong};
use pki::{DigestAlgorithm, KeyRef, KeyStore, PublicKey, SigningKey};

use crate::config::{Pin, TokenConfig};
use crate::error::{HsmError, from_ck, is_gone};
use crate::module::{self, Module};
use crate::pool::{Conn, Lease, Pool};
use crate::rsa_spki::spki_der;

/// Sessions a key keeps open by default (each signs one message at a time).
pub const DEFAULT_POOL_SIZE: usize = 4;

/// The digests a token CA key signs with, and their PKCS#11 mechanisms (the token hashes).
const MECHANISMS: [(DigestAlgorithm, Mechanism<'static>, MechanismType, &str); 3] = [
    (
        DigestAlgorithm::Sha256,
        Mechanism::Sha256RsaPkcs,
        MechanismType::SHA256_RSA_PKCS,
        "CKM_SHA256_RSA_PKCS",
    ),
    (
        DigestAlgorithm::Sha384,
        Mechanism::Sha384RsaPkcs,
        MechanismType::SHA384_RSA_PKCS,
        "CKM_SHA384_RSA_PKCS",
    ),
    (
        DigestAlgorithm::Sha512,
        Mechanism::Sha512RsaPkcs,
        MechanismType::SHA512_RSA_PKCS,
        "CKM_SHA512_RSA_PKCS",
    ),
];

/// Smallest and largest key sizes [`TokenKey::generate`] makes.
const MIN_BITS: u32 = 2048;
const MAX_BITS: u32 = 8192;

/// An RSA private key on a PKCS#11 token. Cheap to clone (shares its sessions); safe to use
/// from many threads at once (up to the pool size sign in parallel, the rest wait).
#[derive(Clone)]
pub struct TokenKey {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: TokenConfig,
    /// Kept for logging in again after the token went away and came back.
    pin: Pin,
    module: Arc<Module>,
    public: PublicKey,
    key_ref: KeyRef,
    pool: Pool,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("config", &self.inner.cfg)
            .field("key", &self.inner.key_ref.to_string())
            .field("pool_size", &self.inner.pool.size())
            .finish_non_exhaustive()
    }
}

/// The failure of one attempt to use a session.
enum Attempt {
    /// The token or the session went away: worth one more try with fresh sessions (and
    /// then with the module initialised again).
    Gone(HsmError),
    /// Anything else.
    Failed(HsmError),
}

impl TokenKey {
    /// Logs in, finds the RSA private key labelled `key_label` (and its public key), checks
    /// `CKA_SIGN`, `CKA_SENSITIVE`, `!CKA_EXTRACTABLE` and that it signs with
    /// `CKM_SHA256_RSA_PKCS`, `CKM_SHA384_RSA_PKCS` and `CKM_SHA512_RSA_PKCS` (the mechanism
    /// list, and one test signature per digest verified in software with the public key).
    /// Keeps up to [`DEFAULT_POOL_SIZE`] sessions.
    ///
    /// PKCS#11 logs in the application, not a session: while another key of this process has
    /// sessions open on the same token, the token does not ask for the PIN again, and `pin`
    /// is first checked when the token comes back after going away.
    pub fn open(cfg: &TokenConfig, pin: Pin) -> Result<TokenKey, HsmError> {
        Self::open_pooled(cfg, pin, DEFAULT_POOL_SIZE)
    }

    /// [`TokenKey::open`] with a pool of up to `pool_size` sessions (at least one).
    pub fn open_pooled(
        cfg: &TokenConfig,
        pin: Pin,
        pool_size: usize,
    ) -> Result<TokenKey, HsmError> {
        let module = module::load(&cfg.module)?;
        let st = module.read();
        let ctx = &st.ctx;
        let token = cfg.token_label.as_str();
        let slot = module::find_token(ctx, token)?;
        check_mechanisms(ctx, slot, cfg)?;
        let session = ctx.open_ro_session(slot).map_err(|e| from_ck(token, e))?;
        login(&session, token, &pin)?;
        let key = find_private_key(&session, cfg)?;
        let public = inspect_key(&session, key, cfg)?;
        let unusable = |reason: String| HsmError::KeyUnusable {
            token: cfg.token_label.clone(),
            label: cfg.key_label.clone(),
            reason,
        };
        if public.bits() < MIN_BITS as usize {
            return Err(unusable(format!(
                "RSA-{} is too small for a CA key (at least {MIN_BITS} bits)",
                public.bits()
            )));
        }
        // The public key object, when there is one, must be the private key's other half.
        if let Some(public_object) = find_public_key(&session, cfg)? {
            let theirs = read_public(&session, public_object, cfg)?;
            if theirs != public {
                return Err(unusable(
                    "the public key object with this label is not the private key's".into(),
                ));
            }
        }
        for (digest, mechanism, _, name) in MECHANISMS {
            let probe = b"kms token key check";
            let sig =
                session
                    .sign(&mechanism, key, probe)
                    .map_err(|e| match from_ck(token, e) {
                        HsmError::Pkcs11 { rv, .. } => {
                            unusable(format!("a test signature with {name} failed: {rv}"))
                        }
                        other => other,
                    })?;
            public
                .verify(digest, probe, &sig, "test signature")
                .map_err(|_| {
                    unusable(format!(
                        "the test signature with {name} does not verify with the public key"
                    ))
                })?;
        }
        let key_ref = KeyRef::of(KeyStore::Token, &public);
        let pool = Pool::new(pool_size);
        // The session opened for the checks is the pool's first.
        if let Lease::Open(generation) = pool.take(st.epoch) {
            pool.put(
                Conn::new(session, slot, key, generation, st.epoch),
                st.epoch,
            );
        }
        drop(st);
        let inner = Inner {
            cfg: cfg.clone(),
            pin,
            module,
            public,
            key_ref,
            pool,
        };
        Ok(TokenKey {
            inner: Arc::new(inner),
        })
    }

    /// Generates an RSA key pair of `bits` in the token (`CKA_TOKEN`, `CKA_PRIVATE`,
    /// `CKA_SENSITIVE`, `!CKA_EXTRACTABLE`, `CKA_SIGN` only, `CKA_ID` = the subject key
    /// identifier), then opens it; refuses a label already in use (`HSM-007`).
    pub fn generate(cfg: &TokenConfig, pin: Pin, bits: u32) -> Result<TokenKey, HsmError> {
        if !(MIN_BITS..=MAX_BITS).contains(&bits) || !bits.is_multiple_of(8) {
            return Err(HsmError::KeySize(bits));
        }
        let module = module::load(&cfg.module)?;
        let st = module.read();
        let token = cfg.token_label.as_str();
        let slot = module::find_token(&st.ctx, token)?;
        let session = st
            .ctx
            .open_rw_session(slot)
            .map_err(|e| from_ck(token, e))?;
        login(&session, token, &pin)?;
        let label = cfg.key_label.as_bytes().to_vec();
        let in_use = session
            .find_objects(&[Attribute::Label(label.clone())])
            .map_err(|e| from_ck(token, e))?;
        if !in_use.is_empty() {
            return Err(HsmError::LabelInUse {
                token: token.to_string(),
                label: cfg.key_label.clone(),
            });
        }
        let public_template = [
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
            Attribute::ModulusBits(Ulong::from(u64::from(bits))),
            Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            Attribute::Label(label.clone()),
        ];
        let private_template = [
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::Label(label),
        ];
        let (public, private) = session
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &public_template,
                &private_template,
            )
            .map_err(|e| from_ck(token, e))?;
        // CKA_ID = the subject key identifier of the public key, as other tools expect.
        let tagged = read_public(&session, public, cfg).and_then(|key| {
            let ski = key.key_identifier().map_err(|e| HsmError::KeyUnusable {
                token: token.to_string(),
                label: cfg.key_label.clone(),
                reason: format!("the generated public key cannot be encoded: {e}"),
            })?;
            for object in [public, private] {
                session
                    .update_attributes(object, &[Attribute::Id(ski.to_vec())])
                    .map_err(|e| from_ck(token, e))?;
            }
            Ok(())
        });
        if let Err(e) = tagged {
            // Leave nothing half-made on the token.
            let _ = session.destroy_object(private);
            let _ = session.destroy_object(public);
            return Err(e);
        }
        drop(session);
        drop(st);
        Self::open(cfg, pin)
    }

    /// The module, token and key this key was opened from.
    pub fn config(&self) -> &TokenConfig {
        &self.inner.cfg
    }

    /// How many sessions the key may keep open.
    pub fn pool_size(&self) -> usize {
        self.inner.pool.size()
    }

    /// How many sessions are open now (idle or in use).
    pub fn sessions_open(&self) -> usize {
        self.inner.pool.open_now()
    }

    /// Runs `op` on a pooled session. When the token or the session went away, drops every
    /// session and tries again on a fresh one (opening it finds the token and the key again
    /// and logs in again); when the token is still not found, initialises the module again
    /// (at most once per [`module::REINIT_INTERVAL`]) and tries a last time.
    fn with_session<T>(
        &self,
        op: impl Fn(&Pkcs11, &Conn) -> Result<T, CkError>,
    ) -> Result<T, HsmError> {
        let mut fresh_sessions = false;
        let mut reinitialized = false;
        loop {
            let (result, epoch) = {
                let st = self.inner.module.read();
                (self.attempt(&st, &op), st.epoch)
            };
            match result {
                Ok(v) => return Ok(v),
                Err(Attempt::Failed(e)) => return Err(e),
                Err(Attempt::Gone(e)) => {
                    if !fresh_sessions {
                        fresh_sessions = true;
                    } else if !reinitialized && self.inner.module.reinitialize(epoch) {
                        reinitialized = true;
                    } else {
                        return Err(e);
                    }
                }
            }
        }
    }

    fn attempt<T>(
        &self,
        st: &module::State,
        op: &impl Fn(&Pkcs11, &Conn) -> Result<T, CkError>,
    ) -> Result<T, Attempt> {
        let inner = &*self.inner;
        let conn = match inner.pool.take(st.epoch) {
            Lease::Ready(conn) => conn,
            Lease::Open(generation) => match inner.connect(&st.ctx, generation, st.epoch) {
                Ok(conn) => conn,
                Err(e) => {
                    inner.pool.cancel();
                    return Err(match inner.while_running(e) {
                        gone @ HsmError::TokenGone { .. } => Attempt::Gone(gone),
                        other => Attempt::Failed(other),
                    });
                }
            },
        };
        match op(&st.ctx, &conn) {
            Ok(v) => {
                inner.pool.put(conn, st.epoch);
                Ok(v)
            }
            Err(e) if is_gone(&e) => {
                inner.pool.discard(conn, st.epoch);
                Err(Attempt::Gone(from_ck(&inner.cfg.token_label, e)))
            }
            Err(e) => {
                inner.pool.put(conn, st.epoch);
                Err(Attempt::Failed(from_ck(&inner.cfg.token_label, e)))
            }
        }
    }
}

impl Inner {
    /// Opens a fresh session for the pool: finds the token, logs in when the application is
    /// not logged in already, finds the key and checks it is still the key opened.
    fn connect(&self, ctx: &Pkcs11, generation: u64, epoch: u64) -> Result<Conn, HsmError> {
        let token = self.cfg.token_label.as_str();
        let slot = module::find_token(ctx, token)?;
        let session = ctx.open_ro_session(slot).map_err(|e| from_ck(token, e))?;
        login(&session, token, &self.pin)?;
        let key = find_private_key(&session, &self.cfg)?;
        let public = read_public(&session, key, &self.cfg)?;
        if public != self.public {
            return Err(HsmError::KeyUnusable {
                token: token.to_string(),
                label: self.cfg.key_label.clone(),
                reason: format!(
                    "the key with this label is no longer the key opened ({})",
                    self.key_ref
                ),
            });
        }
        Ok(Conn::new(session, slot, key, generation, epoch))
    }

    /// An error met while reopening a session of a key that was open: the token no longer
    /// found is the token gone (`HSM-004`); other errors keep their codes.
    fn while_running(&self, e: HsmError) -> HsmError {
        match e {
            HsmError::NoToken { present, .. } => HsmError::TokenGone {
                token: self.cfg.token_label.clone(),
                reason: format!("the token is not present ({present})"),
            },
            other => other,
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Sessions are closed under the module's read lock (see module.rs).
        let st = self.module.read();
        for conn in self.pool.drain() {
            conn.close(st.epoch);
        }
    }
}

impl SigningKey for TokenKey {
    fn public_key(&self) -> PublicKey {
        self.inner.public.clone()
    }

    fn sign(&self, digest: DigestAlgorithm, message: &[u8]) -> pki::Result<Vec<u8>> {
        let inner = &*self.inner;
        let Some((_, mechanism, _, name)) = MECHANISMS.iter().find(|(d, ..)| *d == digest) else {
            return Err(HsmError::KeyUnusable {
                token: inner.cfg.token_label.clone(),
                label: inner.cfg.key_label.clone(),
                reason: format!(
                    "a token CA key signs with SHA-256, SHA-384 or SHA-512, not {digest:?}"
                ),
            }
            .into_signer_error());
        };
        let sig = self
            .with_session(|_, conn| conn.session.sign(mechanism, conn.key, message))
            .map_err(HsmError::into_signer_error)?;
        // A faulty RSA signature can disclose the key (Boneh-DeMillo-Lipton): never hand one
        // out. Verifying costs a few per cent of a token signature.
        inner
            .public
            .verify(digest, message, &sig, "token signature")
            .map_err(|_| {
                HsmError::KeyUnusable {
                    token: inner.cfg.token_label.clone(),
                    label: inner.cfg.key_label.clone(),
                    reason: format!("the token's {name} signature does not verify"),
                }
                .into_signer_error()
            })?;
        Ok(sig)
    }

    fn key_ref(&self) -> KeyRef {
        self.inner.key_ref.clone()
    }

    fn check(&self) -> pki::Result<()> {
        let token = self.inner.cfg.token_label.as_str();
        self.with_session(|ctx, conn| {
            let info = ctx.get_token_info(conn.slot)?;
            if info.label().trim_end() != token {
                // Another token in the slot: as good as gone for this key.
                return Err(CkError::Pkcs11(
                    RvError::TokenNotRecognized,
                    cryptoki::context::Function::GetTokenInfo,
                ));
            }
            conn.session.get_session_info()?;
            conn.session
                .get_attributes(conn.key, &[AttributeType::KeyType])?;
            Ok(())
        })
        .map_err(HsmError::into_signer_error)
    }
}

/// Logs the user in on `session` unless the application is logged in already (in PKCS#11 a
/// login holds for every session of the application with that token).
fn login(session: &Session, token: &str, pin: &Pin) -> Result<(), HsmError> {
    let info = session.get_session_info().map_err(|e| from_ck(token, e))?;
    if matches!(
        info.session_state(),
        SessionState::RoUser | SessionState::RwUser
    ) {
        return Ok(());
    }
    let auth = AuthPin::from(pin.expose().to_string());
    match session.login(UserType::User, Some(&auth)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(from_ck(token, e)),
    }
}

/// Checks the token offers the three signing mechanisms.
fn check_mechanisms(ctx: &Pkcs11, slot: Slot, cfg: &TokenConfig) -> Result<(), HsmError> {
    let offered = ctx
        .get_mechanism_list(slot)
        .map_err(|e| from_ck(&cfg.token_label, e))?;
    let missing: Vec<&str> = MECHANISMS
        .iter()
        .filter(|(_, _, m, _)| !offered.contains(m))
        .map(|(.., name)| *name)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(HsmError::KeyUnusable {
            token: cfg.token_label.clone(),
            label: cfg.key_label.clone(),
            reason: format!("the token does not offer {}", missing.join(", ")),
        })
    }
}

/// The private key labelled `cfg.key_label`: `HSM-005` when there is none, `HSM-006` when
/// the label is ambiguous.
fn find_private_key(session: &Session, cfg: &TokenConfig) -> Result<ObjectHandle, HsmError> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(cfg.key_label.as_bytes().to_vec()),
        ])
        .map_err(|e| from_ck(&cfg.token_label, e))?;
    match found.as_slice() {
        [] => Err(HsmError::NoKey {
            token: cfg.token_label.clone(),
            label: cfg.key_label.clone(),
        }),
        [one] => Ok(*one),
        many => Err(HsmError::KeyUnusable {
            token: cfg.token_label.clone(),
            label: cfg.key_label.clone(),
            reason: format!("{} private keys share this label", many.len()),
        }),
    }
}

/// The public key object labelled `cfg.key_label`, if there is exactly one.
fn find_public_key(session: &Session, cfg: &TokenConfig) -> Result<Option<ObjectHandle>, HsmError> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Label(cfg.key_label.as_bytes().to_vec()),
        ])
        .map_err(|e| from_ck(&cfg.token_label, e))?;
    Ok(match found.as_slice() {
        [one] => Some(*one),
        _ => None,
    })
}

/// The RSA public key of `object` (a private or public key object: both carry the modulus
/// and the public exponent).
fn read_public(
    session: &Session,
    object: ObjectHandle,
    cfg: &TokenConfig,
) -> Result<PublicKey, HsmError> {
    let attrs = session
        .get_attributes(
            object,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )
        .map_err(|e| from_ck(&cfg.token_label, e))?;
    let mut modulus = None;
    let mut exponent = None;
    for a in attrs {
        match a {
            Attribute::Modulus(n) => modulus = Some(n),
            Attribute::PublicExponent(e) => exponent = Some(e),
            _ => {}
        }
    }
    let unusable = |reason: String| HsmError::KeyUnusable {
        token: cfg.token_label.clone(),
        label: cfg.key_label.clone(),
        reason,
    };
    let (Some(n), Some(e)) = (modulus, exponent) else {
        return Err(unusable(
            "its modulus and public exponent cannot be read".into(),
        ));
    };
    PublicKey::from_spki_der(&spki_der(&n, &e))
        .map_err(|err| unusable(format!("its public key is not usable: {err}")))
}

/// Checks the private key `key` is an RSA signing key that never leaves the token; returns
/// its public key.
fn inspect_key(
    session: &Session,
    key: ObjectHandle,
    cfg: &TokenConfig,
) -> Result<PublicKey, HsmError> {
    let attrs = session
        .get_attributes(
            key,
            &[
                AttributeType::KeyType,
                AttributeType::Sign,
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::AlwaysAuthenticate,
            ],
        )
        .map_err(|e| from_ck(&cfg.token_label, e))?;
    let (mut key_type, mut sign, mut sensitive, mut extractable) = (None, None, None, None);
    let mut always_authenticate = false;
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::Sign(b) => sign = Some(b),
            Attribute::Sensitive(b) => sensitive = Some(b),
            Attribute::Extractable(b) => extractable = Some(b),
            Attribute::AlwaysAuthenticate(b) => always_authenticate = b,
            _ => {}
        }
    }
    let mut problems = Vec::new();
    if key_type != Some(KeyType::RSA) {
        problems.push(match key_type {
            Some(t) => format!("it is not an RSA key ({t})"),
            None => "its key type cannot be read".to_string(),
        });
    }
    if sign != Some(true) {
        problems.push("CKA_SIGN is not set (the key may not sign)".into());
    }
    if sensitive != Some(true) {
        problems.push("CKA_SENSITIVE is not set (the key may be read out)".into());
    }
    if extractable != Some(false) {
        problems.push("CKA_EXTRACTABLE is set (the key may be exported)".into());
    }
    if always_authenticate {
        problems.push(
            "CKA_ALWAYS_AUTHENTICATE is set (the PIN at every signature is not supported)".into(),
        );
    }
    if !problems.is_empty() {
        return Err(HsmError::KeyUnusable {
            token: cfg.token_label.clone(),
            label: cfg.key_label.clone(),
            reason: problems.join("; "),
        });
    }
    read_public(session, key, cfg)
}
