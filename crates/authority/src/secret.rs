//! One-time secrets the authority hands out (enrollment tokens, session tokens) and the
//! hashes it keeps of them; admin password hashing (Argon2id).

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A bearer secret shown once (enrollment or session token): 256 random bits as 64 hex
/// characters. `Debug` prints `[redacted]`; there is no `Display` or `Serialize`.
#[derive(Clone)]
pub struct Token(Zeroizing<String>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl Token {
    /// A fresh random token.
    pub(crate) fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut bytes[..])
            .map_err(|e| Error::Corrupt(format!("OS random number generator failed: {e}")))?;
        Ok(Token(Zeroizing::new(hex::encode(&bytes[..]))))
    }

    /// The token text, to show once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps.
    pub(crate) fn hash(&self) -> [u8; 32] {
        hash_token(&self.0)
    }
}

/// SHA-256 of a token as presented (surrounding white space ignored).
pub(crate) fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

/// Argon2id cost of admin password hashes (injectable so tests stay fast).
pub use escrow::Argon2Params;

const HASH_LEN: usize = 32;

/// Hashes `password` as `argon2id$v=19$m,t,p$salt_hex$hash_hex`.
pub(crate) fn hash_password(password: &str, params: &Argon2Params) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| Error::Corrupt(format!("OS random number generator failed: {e}")))?;
    let out = derive(password, &salt, params)?;
    Ok(format!(
        "argon2id$v=19${},{},{}${}${}",
        params.m_kib,
        params.t,
        params.p,
        hex::encode(salt),
        hex::encode(&out[..])
    ))
}

fn derive(password: &str, salt: &[u8], params: &Argon2Params) -> Result<Zeroizing<[u8; HASH_LEN]>> {
    let p = argon2::Params::new(params.m_kib, params.t, params.p, Some(HASH_LEN))
        .map_err(|e| Error::invalid("Argon2 parameters", e.to_string()))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = Zeroizing::new([0u8; HASH_LEN]);
    a.hash_password_into(password.as_bytes(), salt, &mut out[..])
        .map_err(|e| Error::invalid("password", e.to_string()))?;
    Ok(out)
}

/// Checks `password` against a hash made by [`hash_password`], in constant time.
pub(crate) fn verify_password(password: &str, stored: &str) -> Result<bool> {
    let bad = || Error::Corrupt("an administrator password hash is malformed".into());
    let parts: Vec<&str> = stored.split('$').collect();
    if parts.len() != 5 || parts[0] != "argon2id" || parts[1] != "v=19" {
        return Err(bad());
    }
    let nums: Vec<u32> = parts[2]
        .split(',')
        .map(|n| n.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    if nums.len() != 3 {
        return Err(bad());
    }
    let salt = hex::decode(parts[3]).map_err(|_| bad())?;
    let expected = hex::decode(parts[4]).map_err(|_| bad())?;
    let out = derive(
        password,
        &salt,
        &Argon2Params::new(nums[0], nums[1], nums[2]),
    )?;
    Ok(constant_time_eq(&out[..], &expected))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trip() {
        let params = Argon2Params::new(64, 1, 1);
        let h = hash_password("correct horse", &params).unwrap();
        assert!(verify_password("correct horse", &h).unwrap());
        assert!(!verify_password("correct horsE", &h).unwrap());
        assert!(!h.contains("correct"));
    }

    #[test]
    fn tokens_are_distinct_and_redacted() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 64);
        assert_eq!(format!("{a:?}"), "Token([redacted])");
        assert_eq!(hash_token(&format!(" {}\n", a.expose())), a.hash());
    }
}
