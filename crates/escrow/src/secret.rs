//! Secret-holding types: zeroized on drop, `[redacted]` in `Debug`, no `Display` or `Serialize`.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// Length in bytes of every symmetric key in this crate (AES-256, HKDF-SHA256 output).
pub(crate) const KEY_LEN: usize = 32;

/// Opaque secret bytes (a PKCS#8 private key in DER, for instance).
///
/// Zeroized when dropped; `Debug` prints `[redacted]`; there is deliberately no `Display`,
/// `Serialize`, `Clone` or `PartialEq` (compare through [`SecretBytes::expose`] in tests only).
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes` (no copy is left behind by this call).
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new zeroizing buffer; the caller still owns (and must wipe) the
    /// original.
    pub fn from_slice(bytes: &[u8]) -> Self {
        SecretBytes(Zeroizing::new(bytes.to_vec()))
    }

    /// The secret bytes. Keep the borrow short and never log it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes([redacted])")
    }
}

/// A password (the store's start-up password), zeroized on drop.
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps `password`; its heap buffer is wiped when the `Password` is dropped.
    pub fn new(password: impl Into<String>) -> Self {
        Password(Zeroizing::new(password.into()))
    }

    /// A new random password for an operator to write down: 24 characters from a 32-letter
    /// alphabet without look-alikes (120 bits), in groups of four, e.g. `k7mq-…`.
    pub fn generate() -> Result<Self> {
        const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz23456789_";
        let mut random = Zeroizing::new([0u8; 24]);
        getrandom::fill(&mut random[..]).map_err(Error::Random)?;
        let mut out = Zeroizing::new(String::with_capacity(29));
        for (i, byte) in random.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push('-');
            }
            out.push(char::from(ALPHABET[usize::from(byte & 31)]));
        }
        Ok(Password(out))
    }

    /// The password's UTF-8 bytes. Keep the borrow short and never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Password {
    fn from(password: &str) -> Self {
        Password::new(password)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A 256-bit symmetric key on the heap (so moves do not leave copies on the stack), wiped on
/// drop.
pub(crate) struct Key256(Box<[u8; KEY_LEN]>);

impl Key256 {
    /// An all-zero key to be filled in place.
    pub(crate) fn zeroed() -> Self {
        Key256(Box::new([0u8; KEY_LEN]))
    }

    /// A fresh key from the OS random number generator.
    pub(crate) fn random() -> Result<Self> {
        let mut key = Key256::zeroed();
        getrandom::fill(&mut key.0[..]).map_err(Error::Random)?;
        Ok(key)
    }

    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub(crate) fn expose_mut(&mut self) -> &mut [u8; KEY_LEN] {
        &mut self.0
    }
}

impl Drop for Key256 {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Key256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key256([redacted])")
    }
}

/// Fills a fresh array with OS randomness (for salts, nonces and ids, which are not secret).
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(Error::Random)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let bytes = SecretBytes::from_slice(b"very secret key bytes");
        let password = Password::new("hunter2-correct-horse");
        let key = Key256::random().unwrap();
        let all = format!("{bytes:?} {password:?} {key:?}");
        assert!(!all.contains("very secret"));
        assert!(!all.contains("hunter2"));
        assert_eq!(all.matches("[redacted]").count(), 3, "{all}");
    }

    #[test]
    fn generated_passwords_differ_and_have_the_documented_shape() {
        let a = Password::generate().unwrap();
        let b = Password::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 29);
        assert_eq!(a.expose().matches('-').count(), 5);
    }
}
