//! AES-256-GCM sealing and HKDF-SHA256 derivation: the only module that touches cipher crates.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::{Key256, SecretBytes};

/// AES-GCM nonce length in bytes (96 bits).
pub(crate) const NONCE_LEN: usize = 12;
/// AES-GCM tag length in bytes.
pub(crate) const TAG_LEN: usize = 16;

/// An AES-256-GCM key schedule on the heap (the `aes` crate wipes it on drop).
pub(crate) struct Aead(Box<Aes256Gcm>);

impl Aead {
    pub(crate) fn new(key: &Key256) -> Self {
        let cipher =
            Aes256Gcm::new_from_slice(key.expose()).expect("a Key256 is exactly an AES-256 key");
        Aead(Box::new(cipher))
    }

    /// Encrypts `plaintext`, returning `ciphertext || tag`.
    pub(crate) fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        // Exact capacity: the buffer never reallocates, so no stray plaintext copy is left in a
        // freed allocation; after the call it holds only ciphertext.
        let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
        buf.extend_from_slice(plaintext);
        self.seal_in_place(nonce, aad, &mut buf)?;
        Ok(buf)
    }

    /// Encrypts `buf` in place and appends the tag (reserve `TAG_LEN` spare capacity first).
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.0
            .encrypt_in_place(&Nonce::<Aes256Gcm>::from(*nonce), aad, buf)
            .map_err(|_| Error::Crypto("AES-GCM encryption refused its input"))
    }

    /// Decrypts `ciphertext || tag` into a zeroizing buffer; `None` if authentication fails.
    pub(crate) fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Option<SecretBytes> {
        let mut buf = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
        buf.extend_from_slice(ciphertext);
        self.0
            .decrypt_in_place(&Nonce::<Aes256Gcm>::from(*nonce), aad, &mut *buf)
            .ok()?;
        Some(SecretBytes::new(std::mem::take(&mut *buf)))
    }

    /// Decrypts a 32-byte wrapped key; `None` if authentication fails or the length is wrong.
    pub(crate) fn open_key(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        wrapped: &[u8],
    ) -> Option<Key256> {
        let plain = self.open(nonce, aad, wrapped)?;
        let mut key = Key256::zeroed();
        if plain.len() != key.expose().len() {
            return None;
        }
        key.expose_mut().copy_from_slice(plain.expose());
        Some(key)
    }

    /// Decrypts `buf` (`ciphertext || tag`) in place; `false` if authentication fails. For data
    /// that is not itself secret once decrypted (backup chunks of an already-encrypted database).
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut Vec<u8>,
    ) -> bool {
        self.0
            .decrypt_in_place(&Nonce::<Aes256Gcm>::from(*nonce), aad, buf)
            .is_ok()
    }
}

/// HKDF-SHA256 (RFC 5869) of `ikm` into a 256-bit key.
pub(crate) fn hkdf_sha256(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> Key256 {
    let hk = Hkdf::<Sha256>::new(salt, ikm);
    let mut key = Key256::zeroed();
    hk.expand(info, key.expose_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    key
}

/// Builds an unambiguous associated-data string: a domain label, then length-prefixed fields.
pub(crate) struct Aad(Vec<u8>);

impl Aad {
    pub(crate) fn new(label: &str) -> Self {
        let mut aad = Aad(Vec::with_capacity(128));
        aad.bytes(label.as_bytes());
        aad
    }

    pub(crate) fn bytes(&mut self, field: &[u8]) -> &mut Self {
        let len = u32::try_from(field.len()).expect("AAD fields are small");
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(field);
        self
    }

    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let key = Key256::random().unwrap();
        let aead = Aead::new(&key);
        let nonce = [7u8; NONCE_LEN];
        let ct = aead.seal(&nonce, b"aad", b"hello").unwrap();
        assert_eq!(ct.len(), 5 + TAG_LEN);
        assert_eq!(aead.open(&nonce, b"aad", &ct).unwrap().expose(), b"hello");
        assert!(aead.open(&nonce, b"aae", &ct).is_none());
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(aead.open(&nonce, b"aad", &bad).is_none());
    }

    #[test]
    fn aad_fields_are_length_prefixed() {
        let mut a = Aad::new("x");
        a.bytes(b"ab").bytes(b"c");
        let mut b = Aad::new("x");
        b.bytes(b"a").bytes(b"bc");
        assert_ne!(a.as_slice(), b.as_slice());
    }

    #[test]
    fn hkdf_separates_by_info() {
        let k1 = hkdf_sha256(None, b"ikm", b"one");
        let k2 = hkdf_sha256(None, b"ikm", b"two");
        assert_ne!(k1.expose(), k2.expose());
    }
}
