//! The optional TOTP second factor of administrators (RFC 6238: HMAC-SHA1, 6 digits, 30 s
//! steps, one step of drift accepted either way; `migrations/sqlite/0009_admin_totp.sql`): code
//! computation, the base32 secret and `otpauth://` URI, the sealing of the secret at rest,
//! and the authority's enable / disable / sign-in check.
//!
//! The secret is stored sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the CA
//! private key's PKCS#8 encoding, which is not in the database in clear (the same source as
//! the approval pepper in `governance.rs`), with the administrator's id as associated data: a
//! copy of the database alone does not give the secrets, and a sealed secret moved to another
//! row does not open.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use hmac::{Hmac, Mac};
use zeroize::Zeroizing;

use crate::{
    Admin, Authority, Error, OptionalExtension, Result, SignIn, State, audit, params, unix,
};

/// Seconds per time step.
pub(crate) const STEP: i64 = 30;
/// Digits of a production code.
pub(crate) const DIGITS: u32 = 6;
/// Bytes of a generated secret (160 bits, as RFC 4226 recommends).
const SECRET_LEN: usize = 20;
const NONCE_LEN: usize = 12;

/// HOTP (RFC 4226) of `counter` under `key`, truncated to `digits` decimal digits.
pub(crate) fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac =
        <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    bin % 10u32.pow(digits)
}

/// The time step of Unix time `now`.
pub(crate) fn step_of(now: i64) -> i64 {
    now.div_euclid(STEP)
}

/// The step `code` is valid for at `now` (the current step, or one either side), if it is a
/// well-formed 6-digit code of such a step later than `last_step`.
pub(crate) fn accept(key: &[u8], code: &str, now: i64, last_step: Option<i64>) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let given: u32 = code.parse().ok()?;
    let current = step_of(now);
    let mut found = None;
    // Every candidate is computed (no early exit), so the time taken does not say which matched.
    for step in [current - 1, current, current + 1] {
        let Ok(counter) = u64::try_from(step) else {
            continue;
        };
        let ok = hotp(key, counter, DIGITS) == given;
        if ok && last_step.is_none_or(|l| step > l) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A new random secret.
pub(crate) fn generate_secret() -> Result<Zeroizing<Vec<u8>>> {
    let mut s = Zeroizing::new(vec![0u8; SECRET_LEN]);
    getrandom::fill(&mut s).map_err(|e| Error::Corrupt(format!("no randomness: {e}")))?;
    Ok(s)
}

/// RFC 4648 base32 without padding (the form authenticator apps take).
pub(crate) fn base32(data: &[u8]) -> Zeroizing<String> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Zeroizing::new(String::with_capacity(data.len().div_ceil(5) * 8));
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            let idx = (bits >> (35 - 5 * i)) & 0x1f;
            out.push(char::from(ALPHABET[idx as usize]));
        }
    }
    out
}

/// Decodes RFC 4648 base32 (upper or lower case, padding and spaces ignored).
fn base32_decode(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 5 / 8));
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5 | u32::from(v)) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// The 6-digit code at Unix time `unix_time` of the secret in `otpauth_uri` (as returned by
/// [`Authority::enable_totp`]), or `None` when the URI has no valid `secret` parameter. For
/// tests and tools; the authority itself never needs the URI back.
pub fn totp_code(otpauth_uri: &str, unix_time: i64) -> Option<Zeroizing<String>> {
    let query = otpauth_uri.split_once('?')?.1;
    let secret = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("secret="))
        .and_then(base32_decode)?;
    let step = u64::try_from(step_of(unix_time)).ok()?;
    Some(Zeroizing::new(format!(
        "{:06}",
        hotp(&secret, step, DIGITS)
    )))
}

/// The `otpauth://` URI of `secret` for administrator `name` (percent-encoding the name).
pub(crate) fn otpauth_uri(name: &str, secret: &[u8]) -> Zeroizing<String> {
    let mut label = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            label.push(char::from(b));
        } else {
            label.push_str(&format!("%{b:02X}"));
        }
    }
    Zeroizing::new(format!(
        "otpauth://totp/KMS:{label}?secret={}&issuer=KMS&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        base32(secret).as_str()
    ))
}

/// The sealing key: HKDF-SHA256 of the CA secret (`ca_key::ca_secret`: the software CA
/// key's PKCS#8 DER, or for a CA key on a token a secret derived from the master key).
fn cipher(ca_key_der: &[u8]) -> Aes256Gcm {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"kms-admin-totp"), ca_key_der);
    let mut key = Zeroizing::new([0u8; 32]);
    hk.expand(b"kms-admin-totp-secret-v1", &mut key[..])
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Aes256Gcm::new_from_slice(&key[..]).expect("32 bytes is an AES-256 key")
}

fn aad(admin_id: i64) -> Vec<u8> {
    let mut a = b"kms-admin-totp-v1:".to_vec();
    a.extend_from_slice(&admin_id.to_be_bytes());
    a
}

/// Seals `secret` of administrator `admin_id`: nonce || ciphertext || tag.
pub(crate) fn seal(ca_key_der: &[u8], admin_id: i64, secret: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| Error::Corrupt(format!("no randomness: {e}")))?;
    let aad = aad(admin_id);
    let ct = cipher(ca_key_der)
        .encrypt(
            &Nonce::<Aes256Gcm>::from(nonce),
            Payload {
                msg: secret,
                aad: &aad,
            },
        )
        .map_err(|_| Error::Corrupt("cannot seal a TOTP secret".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a secret sealed by [`seal`] for `admin_id`.
pub(crate) fn open(ca_key_der: &[u8], admin_id: i64, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let corrupt = || {
        Error::Corrupt(format!(
            "the TOTP secret of administrator #{admin_id} does not open"
        ))
    };
    if sealed.len() < NONCE_LEN {
        return Err(corrupt());
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| corrupt())?;
    let aad = aad(admin_id);
    cipher(ca_key_der)
        .decrypt(
            &Nonce::<Aes256Gcm>::from(nonce),
            Payload { msg: ct, aad: &aad },
        )
        .map(Zeroizing::new)
        .map_err(|_| corrupt())
}

/// The outcome of the second-factor check of a sign-in whose password was right.
pub(crate) enum TotpCheck {
    /// The account has no second factor.
    NotEnabled,
    /// The code was valid and unused, for this step.
    Accepted(i64),
    /// The code was missing, wrong, or already used.
    Refused,
}

impl Authority {
    /// Checks the second factor of administrator `id` (with the state lock held by the caller).
    pub(crate) fn totp_check(
        &self,
        st: &State,
        id: i64,
        from: &SignIn,
        now: i64,
    ) -> Result<TotpCheck> {
        let row: Option<(Option<Vec<u8>>, Option<i64>)> = st
            .store
            .store()
            .connection()
            .query_row(
                "SELECT totp_secret, totp_last_step FROM admins WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((Some(sealed), last_step)) = row else {
            return Ok(TotpCheck::NotEnabled);
        };
        let Some(code) = from.totp.as_ref() else {
            return Ok(TotpCheck::Refused);
        };
        let ca_secret = crate::ca_key::ca_secret(&st.issuer, &st.store)?;
        let secret = open(&ca_secret, id, &sealed)?;
        Ok(match accept(&secret, code, now, last_step) {
            Some(step) => TotpCheck::Accepted(step),
            None => TotpCheck::Refused,
        })
    }

    /// Turns on a TOTP second factor for `actor`'s own account and returns, this once, the
    /// `otpauth://` URI carrying the secret (for an authenticator app). From the next sign-in
    /// on, the account needs a valid, unused code beside its password. Refused
    /// ([`Error::Invalid`]) when the account has one already: disable it first.
    pub fn enable_totp(&self, actor: &Admin) -> Result<Zeroizing<String>> {
        self.audit_op(&actor.name, "admin.totp-enable", &actor.name, |rec| {
            let secret = generate_secret()?;
            let mut st = self.lock();
            let ca_secret = crate::ca_key::ca_secret(&st.issuer, &st.store)?;
            let sealed = seal(&ca_secret, actor.id, &secret)?;
            let tx = st.store.connection_mut().transaction()?;
            let changed = tx.execute(
                "UPDATE admins SET totp_secret = ?2, totp_last_step = NULL
                 WHERE id = ?1 AND removed_at IS NULL AND totp_secret IS NULL",
                params![actor.id, sealed],
            )?;
            if changed == 0 {
                return Err(Error::Invalid {
                    what: "second factor",
                    why: "this account has a TOTP second factor already; disable it first".into(),
                });
            }
            audit::commit(tx, rec, unix(self.now()))?;
            tracing::info!(admin = %actor.name, "TOTP second factor enabled");
            Ok(otpauth_uri(&actor.name, &secret))
        })
    }

    /// Turns off the TOTP second factor of administrator `name`: one's own account, or (for
    /// an administrator, e.g. for a colleague who lost their authenticator) another's under
    /// the `admin-change` quorum. Returns whether the account had one.
    pub fn disable_totp(&self, actor: &Admin, name: &str) -> Result<bool> {
        self.audit_op(&actor.name, "admin.totp-disable", name, |rec| {
            if name != actor.name {
                actor.require_administrator()?;
                self.gate(rec, actor, "admin-change", &format!("totp-disable {name}"))?;
            }
            let mut st = self.lock();
            let tx = st.store.connection_mut().transaction()?;
            let had: Option<bool> = tx
                .query_row(
                    "SELECT totp_secret IS NOT NULL FROM admins
                     WHERE name = ?1 AND removed_at IS NULL",
                    [name],
                    |r| r.get(0),
                )
                .optional()?;
            let had = had.ok_or_else(|| Error::UnknownAdmin { name: name.into() })?;
            tx.execute(
                "UPDATE admins SET totp_secret = NULL, totp_last_step = NULL
                 WHERE name = ?1 AND removed_at IS NULL",
                [name],
            )?;
            audit::commit(tx, rec, unix(self.now()))?;
            tracing::info!(by = %actor.name, admin = name, "TOTP second factor disabled");
            Ok(had)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows: (time, 8-digit TOTP); the seed is the ASCII
    /// "12345678901234567890".
    const VECTORS: [(i64, u32); 6] = [
        (59, 94287082),
        (1111111109, 7081804),
        (1111111111, 14050471),
        (1234567890, 89005924),
        (2000000000, 69279037),
        (20000000000, 65353130),
    ];
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_sha1_vectors() {
        for (t, want) in VECTORS {
            let step = u64::try_from(step_of(t)).unwrap();
            assert_eq!(hotp(SEED, step, 8), want, "T = {t}");
            // Six digits are the last six of the same truncation.
            assert_eq!(hotp(SEED, step, 6), want % 1_000_000, "T = {t}");
        }
    }

    #[test]
    fn accepts_one_step_of_drift_and_refuses_replay() {
        let now = 1_234_567_890;
        let step = step_of(now);
        let code = |s: i64| format!("{:06}", hotp(SEED, s as u64, 6));
        assert_eq!(accept(SEED, &code(step), now, None), Some(step));
        assert_eq!(accept(SEED, &code(step - 1), now, None), Some(step - 1));
        assert_eq!(accept(SEED, &code(step + 1), now, None), Some(step + 1));
        assert_eq!(accept(SEED, &code(step - 2), now, None), None);
        assert_eq!(accept(SEED, &code(step + 2), now, None), None);
        // The step already used, or an earlier one, is refused.
        assert_eq!(accept(SEED, &code(step), now, Some(step)), None);
        assert_eq!(accept(SEED, &code(step - 1), now, Some(step - 1)), None);
        assert_eq!(
            accept(SEED, &code(step + 1), now, Some(step)),
            Some(step + 1)
        );
        // Malformed codes.
        assert_eq!(accept(SEED, "12345", now, None), None);
        assert_eq!(accept(SEED, "+12345", now, None), None);
        assert_eq!(accept(SEED, "", now, None), None);
    }

    #[test]
    fn base32_matches_rfc4648() {
        // RFC 4648 section 10, without padding.
        let cases = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (input, want) in cases {
            assert_eq!(base32(input.as_bytes()).as_str(), want, "{input:?}");
        }
        assert_eq!(base32(SEED).as_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        for (input, encoded) in cases {
            assert_eq!(
                base32_decode(encoded).unwrap().as_slice(),
                input.as_bytes(),
                "{encoded}"
            );
        }
        assert_eq!(base32_decode("mzxw6===").unwrap().as_slice(), b"foo");
        assert!(base32_decode("MZ1W").is_none());
    }

    #[test]
    fn uri_shape() {
        let uri = otpauth_uri("ann lee", SEED);
        // The code of the URI's secret is the RFC's.
        assert_eq!(
            totp_code(&uri, 1_111_111_109).unwrap().as_str(),
            format!("{:06}", 7081804 % 1_000_000)
        );
        let uri = otpauth_uri("ann lee", b"fooba");
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/KMS:ann%20lee?secret=MZXW6YTB&issuer=KMS&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn sealed_secret_opens_only_for_its_admin_and_key() {
        let sealed = seal(b"ca key one", 7, SEED).unwrap();
        assert_ne!(&sealed[NONCE_LEN..NONCE_LEN + SEED.len()], SEED);
        assert_eq!(open(b"ca key one", 7, &sealed).unwrap().as_slice(), SEED);
        assert!(open(b"ca key one", 8, &sealed).is_err());
        assert!(open(b"ca key two", 7, &sealed).is_err());
        assert!(open(b"ca key one", 7, &sealed[..5]).is_err());
    }
}
