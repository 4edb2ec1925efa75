//! The master key and its wraps: Argon2id password KEKs, key-file KEKs, AES-256-GCM wrapping.
//!
//! The 256-bit master key never touches disk in the clear. Each unlock method stores
//! `AES-256-GCM(KEK, master key)` with a random nonce and, as associated data, the store id, the
//! method's id and kind and every parameter used to derive its KEK, so that a wrap cannot be
//! moved to another row, another kind, or have its parameters downgraded.

use std::fmt;

use crate::crypto::{Aad, Aead, NONCE_LEN, hkdf_sha256};
use crate::error::{Error, Result};
use crate::keyfile::{KEY_FILE_ID_LEN, KeyFile};
use crate::secret::{Key256, Password, random_array};

/// Salt length for password and key-file KEK derivation.
pub(crate) const SALT_LEN: usize = 16;

/// HKDF info for the subkey that encrypts escrowed private keys.
const ROW_KEY_INFO: &[u8] = b"kms-escrow/v1/escrowed-key-encryption";
/// HKDF info for the subkey that encrypts one backup file (salted per backup).
const BACKUP_KEY_INFO: &[u8] = b"kms-escrow/v1/backup-encryption";
/// HKDF info for a key file's KEK.
const KEY_FILE_KEK_INFO: &[u8] = b"kms-escrow/v1/key-file-kek";
/// HKDF info for the key that MACs the audit anchor kept beside the store.
const ANCHOR_MAC_INFO: &[u8] = b"kms-escrow/v1/audit-anchor-mac";
/// Domain label of a wrap's associated data.
const WRAP_AAD_LABEL: &str = "kms-escrow/v1/master-key-wrap";

/// The store's 256-bit master key. Never written anywhere unwrapped; wiped on drop.
pub(crate) struct MasterKey(Key256);

impl MasterKey {
    pub(crate) fn generate() -> Result<Self> {
        Ok(MasterKey(Key256::random()?))
    }

    /// The AEAD that encrypts escrowed private keys: AES-256-GCM under
    /// `HKDF-SHA256(ikm = master key, salt = none, info = ROW_KEY_INFO)`.
    pub(crate) fn row_cipher(&self) -> Aead {
        Aead::new(&hkdf_sha256(None, self.0.expose(), ROW_KEY_INFO))
    }

    /// The AEAD for one backup file: AES-256-GCM under
    /// `HKDF-SHA256(ikm = master key, salt = the backup's random salt, info = BACKUP_KEY_INFO)`.
    pub(crate) fn backup_cipher(&self, salt: &[u8]) -> Aead {
        Aead::new(&hkdf_sha256(Some(salt), self.0.expose(), BACKUP_KEY_INFO))
    }

    /// The HMAC-SHA256 key of the audit anchor:
    /// `HKDF-SHA256(ikm = master key, salt = none, info = ANCHOR_MAC_INFO)`.
    fn anchor_mac_key(&self) -> Key256 {
        hkdf_sha256(None, self.0.expose(), ANCHOR_MAC_INFO)
    }

    #[cfg(test)]
    pub(crate) fn expose_for_tests(&self) -> &[u8; 32] {
        self.0.expose()
    }

    #[cfg(test)]
    pub(crate) fn row_key_for_tests(&self) -> Key256 {
        hkdf_sha256(None, self.0.expose(), ROW_KEY_INFO)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl crate::store::UnlockedStore {
    /// HMAC-SHA256 of `message` under a key derived from the master key (HKDF-SHA256, info
    /// `kms-escrow/v1/audit-anchor-mac`): authenticates small files kept outside the
    /// database (the audit anchor) so that only a holder of the unlocked store can write them.
    pub fn anchor_mac(&self, message: &[u8]) -> [u8; 32] {
        use hmac::{KeyInit, Mac};
        let key = self.master().anchor_mac_key();
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.expose())
            .expect("HMAC takes any key length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is [`UnlockedStore::anchor_mac`] of `message` (compared in constant time).
    pub fn anchor_mac_verify(&self, message: &[u8], tag: &[u8]) -> bool {
        use hmac::{KeyInit, Mac};
        let key = self.master().anchor_mac_key();
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.expose())
            .expect("HMAC takes any key length");
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }
}

/// Argon2id cost parameters for a password unlock method (stored with its wrap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations (passes over memory).
    pub t: u32,
    /// Lanes (degree of parallelism; computed sequentially here).
    pub p: u32,
}

impl Argon2Params {
    /// The default: 128 MiB, 3 passes, 1 lane (RFC 9106's memory-constrained profile uses
    /// 64 MiB; this doubles it). Measured in a release build on the 2-core development VM:
    /// 0.41–0.48 s per derivation when the machine is quiet, up to 0.9 s when another build
    /// competes for the cores (`cargo bench -p escrow -- unlock`).
    pub const DEFAULT: Argon2Params = Argon2Params {
        m_kib: 128 * 1024,
        t: 3,
        p: 1,
    };

    /// Largest memory cost accepted, when creating a wrap or reading one (1 GiB): a bound so a
    /// doctored store or backup cannot make an unlock attempt allocate without limit.
    pub const MAX_M_KIB: u32 = 1024 * 1024;
    /// Largest number of passes accepted.
    pub const MAX_T: u32 = 64;
    /// Largest number of lanes accepted.
    pub const MAX_P: u32 = 64;

    /// Parameters as given (checked when used).
    pub const fn new(m_kib: u32, t: u32, p: u32) -> Self {
        Argon2Params { m_kib, t, p }
    }

    /// Checks the parameters against Argon2's own limits and this crate's upper bounds.
    pub fn validate(&self) -> Result<()> {
        if self.m_kib > Self::MAX_M_KIB || self.t > Self::MAX_T || self.p > Self::MAX_P {
            return Err(Error::invalid(
                "Argon2 parameters",
                format!(
                    "m={} KiB, t={}, p={} exceed the limits m<={}, t<={}, p<={}",
                    self.m_kib,
                    self.t,
                    self.p,
                    Self::MAX_M_KIB,
                    Self::MAX_T,
                    Self::MAX_P
                ),
            ));
        }
        self.argon2_params().map(|_| ())
    }

    fn argon2_params(&self) -> Result<argon2::Params> {
        argon2::Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|e| Error::invalid("Argon2 parameters", e.to_string()))
    }

    /// Derives a 256-bit KEK from `password` and `salt` with Argon2id (version 0x13).
    pub(crate) fn derive(&self, password: &Password, salt: &[u8]) -> Result<Key256> {
        self.validate()?;
        let argon = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            self.argon2_params()?,
        );
        let mut kek = Key256::zeroed();
        argon
            .hash_password_into(password.expose().as_bytes(), salt, kek.expose_mut())
            .map_err(|e| Error::invalid("Argon2 input", e.to_string()))?;
        Ok(kek)
    }
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The kind of an unlock method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MethodKind {
    /// A start-up password (KEK from Argon2id).
    Password,
    /// A key file holding a random 256-bit secret (KEK from HKDF-SHA256).
    KeyFile,
}

impl MethodKind {
    /// The name stored in the database and shown to operators: `password` or `key_file`.
    pub fn as_str(self) -> &'static str {
        match self {
            MethodKind::Password => "password",
            MethodKind::KeyFile => "key_file",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "password" => Some(MethodKind::Password),
            "key_file" => Some(MethodKind::KeyFile),
            _ => None,
        }
    }
}

impl fmt::Display for MethodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that may unlock a store or a backup: a password or a loaded key file.
pub enum Credential {
    /// The start-up password.
    Password(Password),
    /// A key file, already read and checked with [`KeyFile::load`].
    KeyFile(KeyFile),
}

impl Credential {
    /// A password credential.
    pub fn password(password: impl Into<String>) -> Self {
        Credential::Password(Password::new(password))
    }

    /// Reads and checks the key file at `path` (a corrupted or truncated file is refused here).
    pub fn key_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        Ok(Credential::KeyFile(KeyFile::load(path.as_ref())?))
    }

    /// Which kind of unlock method this credential is for.
    pub fn kind(&self) -> MethodKind {
        match self {
            Credential::Password(_) => MethodKind::Password,
            Credential::KeyFile(_) => MethodKind::KeyFile,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password(p) => f.debug_tuple("Password").field(p).finish(),
            Credential::KeyFile(k) => f.debug_tuple("KeyFile").field(k).finish(),
        }
    }
}

/// One wrap of the master key: a row of `unlock_methods` (also carried in backup headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WrapRecord {
    pub(crate) id: i64,
    pub(crate) kind: MethodKind,
    pub(crate) label: String,
    pub(crate) key_file_id: Option<[u8; KEY_FILE_ID_LEN]>,
    pub(crate) argon2: Option<Argon2Params>,
    pub(crate) salt: Vec<u8>,
    pub(crate) nonce: [u8; NONCE_LEN],
    pub(crate) wrapped: Vec<u8>,
}

/// A KEK derived ahead of a transaction (Argon2 is slow), with the parameters that made it.
pub(crate) struct PreparedKek {
    kind: MethodKind,
    label: String,
    key_file_id: Option<[u8; KEY_FILE_ID_LEN]>,
    argon2: Option<Argon2Params>,
    salt: Vec<u8>,
    kek: Key256,
}

impl PreparedKek {
    /// Argon2id KEK for a new password method (fresh random salt).
    pub(crate) fn for_password(password: &Password, params: &Argon2Params) -> Result<Self> {
        if password.expose().is_empty() {
            return Err(Error::invalid("password", "it is empty"));
        }
        let salt = random_array::<SALT_LEN>()?.to_vec();
        let kek = params.derive(password, &salt)?;
        Ok(PreparedKek {
            kind: MethodKind::Password,
            label: "password".to_owned(),
            key_file_id: None,
            argon2: Some(*params),
            salt,
            kek,
        })
    }

    /// HKDF KEK for a new key-file method (fresh random salt).
    pub(crate) fn for_key_file(key_file: &KeyFile) -> Result<Self> {
        let salt = random_array::<SALT_LEN>()?.to_vec();
        Ok(PreparedKek {
            kind: MethodKind::KeyFile,
            label: format!("key file {}", key_file.id_hex()),
            key_file_id: Some(*key_file.id()),
            argon2: None,
            kek: key_file_kek(key_file, &salt),
            salt,
        })
    }

    /// Wraps `master` for the method row `id` of store `store_id`.
    pub(crate) fn wrap(&self, store_id: &[u8], id: i64, master: &MasterKey) -> Result<WrapRecord> {
        let mut record = WrapRecord {
            id,
            kind: self.kind,
            label: self.label.clone(),
            key_file_id: self.key_file_id,
            argon2: self.argon2,
            salt: self.salt.clone(),
            nonce: random_array()?,
            wrapped: Vec::new(),
        };
        let aad = record.aad(store_id);
        record.wrapped =
            Aead::new(&self.kek).seal(&record.nonce, aad.as_slice(), master.0.expose())?;
        Ok(record)
    }
}

fn key_file_kek(key_file: &KeyFile, salt: &[u8]) -> Key256 {
    hkdf_sha256(Some(salt), key_file.secret().expose(), KEY_FILE_KEK_INFO)
}

impl WrapRecord {
    /// Associated data: store id, method id, kind, and every KEK parameter.
    pub(crate) fn aad(&self, store_id: &[u8]) -> Aad {
        let mut aad = Aad::new(WRAP_AAD_LABEL);
        aad.bytes(store_id)
            .int(self.id)
            .bytes(self.kind.as_str().as_bytes());
        if let Some(p) = self.argon2 {
            aad.int(p.m_kib.into()).int(p.t.into()).int(p.p.into());
        }
        if let Some(id) = &self.key_file_id {
            aad.bytes(id);
        }
        aad.bytes(&self.salt);
        aad
    }

    /// Tries `credential` on this wrap: `Ok(None)` if it is not the right secret (or not the
    /// right kind of method).
    fn try_unwrap(
        &self,
        store_id: &[u8],
        credential: CredentialRef<'_>,
    ) -> Result<Option<MasterKey>> {
        let kek = match (credential, self.kind) {
            (CredentialRef::Password(password), MethodKind::Password) => {
                let Some(params) = self.argon2 else {
                    return Err(Error::corrupt(format!(
                        "password unlock method {} has no Argon2 parameters",
                        self.id
                    )));
                };
                // Refuses doctored parameters (e.g. 1 TiB of memory) before allocating anything.
                params.validate().map_err(|_| {
                    Error::corrupt(format!(
                        "password unlock method {} has out-of-range Argon2 parameters",
                        self.id
                    ))
                })?;
                params.derive(password, &self.salt)?
            }
            (CredentialRef::KeyFile(key_file), MethodKind::KeyFile) => {
                if self.key_file_id.as_ref() != Some(key_file.id()) {
                    return Ok(None);
                }
                key_file_kek(key_file, &self.salt)
            }
            _ => return Ok(None),
        };
        let aad = self.aad(store_id);
        let master = Aead::new(&kek)
            .open_key(&self.nonce, aad.as_slice(), &self.wrapped)
            .map(MasterKey);
        if master.is_none() && matches!(credential, CredentialRef::KeyFile(_)) {
            // The key file's id names this wrap, and its secret is what made the wrap: a
            // wrap that does not open is damaged (or altered), not the wrong secret.
            tracing::error!(
                method_id = self.id,
                "the wrap of the key file's unlock method fails authentication: damaged"
            );
            return Err(Error::Storage(crate::health::StorageFault::Damaged));
        }
        Ok(master)
    }
}

/// Unwraps the master key with `credential`, trying every wrap of the matching kind.
///
/// Returns the master key and the id of the method that opened it, or [`Error::BadSecret`]
/// (logged at warn with the method kind only).
pub(crate) fn unlock(
    wraps: &[WrapRecord],
    store_id: &[u8],
    credential: &Credential,
) -> Result<(MasterKey, i64)> {
    let credential = match credential {
        Credential::Password(p) => CredentialRef::Password(p),
        Credential::KeyFile(k) => CredentialRef::KeyFile(k),
    };
    unlock_with(wraps, store_id, credential)
}

/// [`unlock`] with a borrowed password.
pub(crate) fn unlock_password(
    wraps: &[WrapRecord],
    store_id: &[u8],
    password: &Password,
) -> Result<(MasterKey, i64)> {
    unlock_with(wraps, store_id, CredentialRef::Password(password))
}

fn unlock_with(
    wraps: &[WrapRecord],
    store_id: &[u8],
    credential: CredentialRef<'_>,
) -> Result<(MasterKey, i64)> {
    for wrap in wraps {
        if let Some(master) = wrap.try_unwrap(store_id, credential)? {
            return Ok((master, wrap.id));
        }
    }
    let kind = match credential {
        CredentialRef::Password(_) => MethodKind::Password,
        CredentialRef::KeyFile(_) => MethodKind::KeyFile,
    };
    tracing::warn!(
        method = kind.as_str(),
        "unlock attempt refused: the secret does not unwrap any master-key wrap"
    );
    Err(Error::BadSecret)
}

/// A borrowed credential.
#[derive(Clone, Copy)]
enum CredentialRef<'a> {
    Password(&'a Password),
    KeyFile(&'a KeyFile),
}

/// Hex encoding for ids shown to operators (ids are not secret).
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        write!(out, "{b:02x}").expect("write to String");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Params = Argon2Params::new(64, 1, 1);

    #[test]
    fn password_wrap_round_trip_and_binding() {
        let master = MasterKey::generate().unwrap();
        let pw = Password::new("correct horse");
        let kek = PreparedKek::for_password(&pw, &CHEAP).unwrap();
        let wrap = kek.wrap(b"store-1", 7, &master).unwrap();
        let (got, id) = unlock(
            std::slice::from_ref(&wrap),
            b"store-1",
            &Credential::Password(Password::new("correct horse")),
        )
        .unwrap();
        assert_eq!(id, 7);
        assert_eq!(got.expose_for_tests(), master.expose_for_tests());

        let wrong = unlock(
            std::slice::from_ref(&wrap),
            b"store-1",
            &Credential::password("wrong"),
        );
        assert!(matches!(wrong, Err(Error::BadSecret)));

        // Moving the wrap to another row id, another store, or other parameters breaks it.
        let mut moved = wrap.clone();
        moved.id = 8;
        let mut other_store = wrap.clone();
        other_store.id = 7;
        let mut downgraded = wrap.clone();
        downgraded.argon2 = Some(Argon2Params::new(32, 1, 1));
        for (w, store) in [
            (moved, b"store-1"),
            (wrap.clone(), b"store-2"),
            (downgraded, b"store-1"),
        ] {
            let r = unlock(&[w], store, &Credential::password("correct horse"));
            assert!(matches!(r, Err(Error::BadSecret)));
        }
    }

    #[test]
    fn doctored_argon2_parameters_are_refused_before_allocating() {
        let master = MasterKey::generate().unwrap();
        let kek = PreparedKek::for_password(&Password::new("pw"), &CHEAP).unwrap();
        let mut wrap = kek.wrap(b"s", 1, &master).unwrap();
        wrap.argon2 = Some(Argon2Params::new(u32::MAX, 1, 1));
        let r = unlock(&[wrap], b"s", &Credential::password("pw"));
        assert!(matches!(r, Err(Error::Corrupt { .. })), "{r:?}");
    }

    #[test]
    fn empty_password_is_refused() {
        assert!(matches!(
            PreparedKek::for_password(&Password::new(""), &CHEAP),
            Err(Error::Invalid { .. })
        ));
    }
}
