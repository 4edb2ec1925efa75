//! What people see of the bundles and the CA this system hands out, one rule for the client
//! and the authority alike: PKCS#12 friendly names that say the key's kind, date and serial;
//! the bundle password rule of the registry; the SHA-256 fingerprint of a certificate as
//! OpenSSL prints it.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::algorithms::DigestAlgorithm;
use crate::certificate::CertificateInfo;
use crate::{Certificate, Result};

/// Shortest bundle (PKCS#12) password, in characters: enrollment, fetch and key recovery.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Whether `password` follows the bundle rule ([`MIN_PASSWORD_CHARS`] characters or more,
/// counted as characters, not bytes).
pub fn password_long_enough(password: &str) -> bool {
    password.chars().count() >= MIN_PASSWORD_CHARS
}

/// The friendly name of a key in a bundle, from its certificate:
/// `alice@example.org encryption 2026-12-02 serial 1a2b…` (the first e-mail address, or the
/// subject; `signing`, `encryption` or `signing and encryption`; the date the certificate
/// starts, UTC; the serial in lower-case hex).
pub fn friendly_name(certificate: &Certificate) -> Result<String> {
    let info = CertificateInfo::from_certificate(certificate)?;
    let who = info.emails.first().cloned().unwrap_or(info.subject.clone());
    let kind = match (info.can_sign, info.can_encrypt) {
        (true, true) => "signing and encryption",
        (true, false) => "signing",
        (false, true) => "encryption",
        (false, false) => "key",
    };
    Ok(format!(
        "{who} {kind} {} serial {}",
        date(info.not_before),
        info.serial_hex
    ))
}

/// SHA-256 of `der`, upper-case hex bytes joined by colons, as `openssl x509 -fingerprint
/// -sha256` prints it.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    DigestAlgorithm::Sha256
        .digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `YYYY-MM-DD` (UTC) of `t`.
fn date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    // Civil date from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_and_the_password_rule() {
        assert_eq!(date(UNIX_EPOCH), "1970-01-01");
        // 2026-12-02T13:00:00Z
        assert_eq!(
            date(UNIX_EPOCH + Duration::from_secs(1_796_216_400)),
            "2026-12-02"
        );
        assert_eq!(
            date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29"
        );
        assert!(!password_long_enough("1234567"));
        assert!(password_long_enough("12345678"));
        // Characters, not bytes.
        assert!(!password_long_enough("ééééééé"));
    }

    #[test]
    fn fingerprint_shape() {
        let f = sha256_fingerprint(b"abc");
        assert!(f.starts_with("BA:78:16:BF:"), "{f}");
        assert_eq!(f.len(), 32 * 3 - 1);
    }
}
