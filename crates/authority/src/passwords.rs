//! The password rules of the registry: administrator and start-up passwords of at least
//! [`STRONG_MIN`] characters that are not in the list of common passwords shipped in
//! `crates/authority/data/common-passwords.txt` (checked case-insensitively; its provenance is
//! in its header); bundle passwords (PKCS#12 from enrollment and key recovery) of at least
//! [`BUNDLE_MIN`].

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Shortest administrator or start-up password, in characters.
pub const STRONG_MIN: usize = 12;
/// Shortest bundle password, in characters (the one rule, shared with the client).
pub const BUNDLE_MIN: usize = pki::bundle::MIN_PASSWORD_CHARS;

const LIST: &str = include_str!("../data/common-passwords.txt");

fn common() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        LIST.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// True when `p` is in the shipped list of common passwords (any case).
pub(crate) fn is_common(p: &str) -> bool {
    common().contains(p.trim().to_lowercase().as_str())
}

/// An administrator or start-up password (`what` names it in the refusal).
pub(crate) fn check_strong(what: &'static str, p: &str) -> Result<()> {
    if p.chars().count() < STRONG_MIN {
        return Err(Error::WeakPassword {
            what,
            why: format!("use at least {STRONG_MIN} characters"),
        });
    }
    if is_common(p) {
        return Err(Error::WeakPassword {
            what,
            why: "it is in the list of common passwords; choose one nobody else uses (a few unrelated words work well)".into(),
        });
    }
    Ok(())
}

/// A bundle (PKCS#12) password.
pub(crate) fn check_bundle(p: &str) -> Result<()> {
    if !pki::bundle::password_long_enough(p) {
        return Err(Error::WeakPassword {
            what: "bundle password",
            why: format!("use at least {BUNDLE_MIN} characters"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_loaded_and_case_insensitive() {
        assert!(common().len() > 8000);
        assert!(is_common("password1234"));
        assert!(is_common("PassWord1234"));
        assert!(!is_common("violet tractor umbrella"));
    }

    #[test]
    fn strong_rules() {
        assert_eq!(
            check_strong("administrator password", "short")
                .unwrap_err()
                .code(),
            "AUTH-029"
        );
        assert!(check_strong("administrator password", "Password1234").is_err());
        assert!(check_strong("administrator password", "violet tractor umbrella").is_ok());
        assert!(check_bundle("1234567").is_err());
        assert!(check_bundle("12345678").is_ok());
    }
}
