//! What names a key on a token ([`TokenConfig`]: module, token label, key label) and the user
//! PIN that unlocks it ([`Pin`], zeroized on drop, never printed).

use core::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

/// Where the key is: the PKCS#11 module to load, the label of the token in it and the label
/// of the key on the token (`[ca_key]` in `kmsd.toml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenConfig {
    /// The PKCS#11 module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token's label (`CKA_LABEL` of the token, `softhsm2-util --init-token --label`).
    pub token_label: String,
    /// The private key's `CKA_LABEL`.
    pub key_label: String,
}

/// A token's user PIN: zeroized when dropped; `Debug` prints `Pin(***)`; no `Display`.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Wraps `pin` (a trailing newline, as read from a file or standard input, is removed).
    pub fn new(pin: String) -> Self {
        let mut pin = Zeroizing::new(pin);
        while pin.ends_with(['\n', '\r']) {
            pin.pop();
        }
        Pin(pin)
    }

    /// The PIN's characters, to hand to the token.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_debug_hides_it_and_a_trailing_newline_is_dropped() {
        let pin = Pin::new("s3cret-pin\n".into());
        assert_eq!(format!("{pin:?}"), "Pin(***)");
        assert_eq!(pin.expose(), "s3cret-pin");
        assert_eq!(Pin::new("a b\r\n".into()).expose(), "a b");
    }
}
