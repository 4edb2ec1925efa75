//! The crate's one error type, [`HsmError`], with a stable operator-visible code per variant,
//! and the mapping from PKCS#11 return values (`CKR_...`) onto it.
//!
//! No variant carries the PIN: a refused PIN says only that it was refused and why (incorrect,
//! locked, expired), never what was typed.

use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, RvError};

/// Everything that can go wrong with a key on a PKCS#11 token.
///
/// Match on [`HsmError::code`] (stable) rather than on the message text (may improve).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HsmError {
    /// `HSM-001`: the PKCS#11 module (shared library) cannot be loaded or initialised.
    #[error("HSM-001: the PKCS#11 module {module} cannot be loaded: {reason}")]
    ModuleLoad {
        /// The module's path, as configured.
        module: String,
        /// Why (the loader's or the module's answer).
        reason: String,
    },

    /// `HSM-002`: no token with that label is present in any slot of the module.
    #[error("HSM-002: no token labelled {label:?} in the PKCS#11 module ({present})")]
    NoToken {
        /// The label asked for.
        label: String,
        /// The labels of the tokens that are present, for the operator.
        present: String,
    },

    /// `HSM-003`: the token refused the user PIN (incorrect, locked, expired); the PIN itself
    /// is never part of the message.
    #[error("HSM-003: token {token:?} refused the user PIN: {reason}")]
    PinRefused {
        /// The token's label.
        token: String,
        /// Incorrect, locked, expired ... (the `CKR_` name).
        reason: String,
    },

    /// `HSM-004`: the token went away or failed while in use (removed, device error, its
    /// sessions closed under us).
    #[error("HSM-004: token {token:?} is gone or failing: {reason}")]
    TokenGone {
        /// The token's label.
        token: String,
        /// What the module answered (the `CKR_` name) or what was seen.
        reason: String,
    },

    /// `HSM-005`: the token holds no private key with that label.
    #[error("HSM-005: token {token:?} holds no private key labelled {label:?}")]
    NoKey {
        /// The token's label.
        token: String,
        /// The key label asked for.
        label: String,
    },

    /// `HSM-006`: the key cannot be used as a CA key: not RSA, under 2048 bits, no `CKA_SIGN`,
    /// extractable or not sensitive, `CKA_ALWAYS_AUTHENTICATE`, a mechanism missing, a digest a token CA key does not sign with, or a
    /// test signature that does not verify (the message says which).
    #[error("HSM-006: key {label:?} on token {token:?} is unusable: {reason}")]
    KeyUnusable {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
        /// What is wrong with it.
        reason: String,
    },

    /// `HSM-007`: generating a key under a label that an object on the token already has.
    #[error(
        "HSM-007: token {token:?} already holds an object labelled {label:?}; choose another label or open the existing key"
    )]
    LabelInUse {
        /// The token's label.
        token: String,
        /// The label in use.
        label: String,
    },

    /// `HSM-008`: any other PKCS#11 failure, with the function and the `CKR_` name.
    #[error("HSM-008: PKCS#11 {function} failed: {rv}")]
    Pkcs11 {
        /// The PKCS#11 function (`C_Sign`, `C_FindObjects` ...).
        function: String,
        /// The return value's `CKR_` name (or the wrapper's description).
        rv: String,
    },

    /// `HSM-009`: a key size this crate does not generate (2048 to 8192 bits, a multiple of 8).
    #[error("HSM-009: RSA-{0} keys are not generated: choose 2048, 3072 or 4096 bits (up to 8192)")]
    KeySize(u32),
}

impl HsmError {
    /// The stable code, `HSM-001` ... .
    pub fn code(&self) -> &'static str {
        match self {
            HsmError::ModuleLoad { .. } => "HSM-001",
            HsmError::NoToken { .. } => "HSM-002",
            HsmError::PinRefused { .. } => "HSM-003",
            HsmError::TokenGone { .. } => "HSM-004",
            HsmError::NoKey { .. } => "HSM-005",
            HsmError::KeyUnusable { .. } => "HSM-006",
            HsmError::LabelInUse { .. } => "HSM-007",
            HsmError::Pkcs11 { .. } => "HSM-008",
            HsmError::KeySize(_) => "HSM-009",
        }
    }

    /// This error as the `pki` signing error a [`pki::SigningKey`] returns: `PKI-141` (the
    /// signer is unavailable) carrying this error's message, code included.
    pub fn into_signer_error(self) -> pki::Error {
        pki::Error::SignerUnavailable(self.to_string())
    }
}

/// The `CKR_` name of a return value (`RvError::PinIncorrect` is `CKR_PIN_INCORRECT`).
pub(crate) fn ckr_name(rv: &RvError) -> String {
    if let RvError::UnknownErrorCode(code) = rv {
        return format!("CKR_0x{code:08X}");
    }
    let camel = format!("{rv:?}");
    let mut out = String::from("CKR_");
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The `C_` name of a PKCS#11 function (`Function::GetSlotList` is `C_GetSlotList`).
pub(crate) fn function_name(f: &Function) -> String {
    format!("C_{f:?}")
}

/// How a return value is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RvClass {
    /// The PIN was refused.
    Pin,
    /// The token or its sessions went away: reopen and log in again.
    Gone,
    /// Anything else.
    Other,
}

/// What kind of failure `rv` is.
pub(crate) fn classify_rv(rv: &RvError) -> RvClass {
    match rv {
        RvError::PinIncorrect
        | RvError::PinInvalid
        | RvError::PinLenRange
        | RvError::PinExpired
        | RvError::PinLocked => RvClass::Pin,
        RvError::DeviceRemoved
        | RvError::DeviceError
        | RvError::TokenNotPresent
        | RvError::TokenNotRecognized
        | RvError::SessionHandleInvalid
        | RvError::SessionClosed
        | RvError::SlotIdInvalid
        | RvError::UserNotLoggedIn
        | RvError::KeyHandleInvalid
        | RvError::ObjectHandleInvalid
        | RvError::CryptokiNotInitialized => RvClass::Gone,
        _ => RvClass::Other,
    }
}

/// Whether a wrapper error means the token or its sessions went away.
pub(crate) fn is_gone(e: &CkError) -> bool {
    matches!(e, CkError::Pkcs11(rv, _) if classify_rv(rv) == RvClass::Gone)
}

/// A PKCS#11 failure on token `token` as an [`HsmError`]: PIN refusals are `HSM-003`, a
/// token gone `HSM-004`, the rest `HSM-008` with the `CKR_` name.
pub(crate) fn from_ck(token: &str, e: CkError) -> HsmError {
    match &e {
        CkError::Pkcs11(rv, f) => match classify_rv(rv) {
            RvClass::Pin => HsmError::PinRefused {
                token: token.to_string(),
                reason: ckr_name(rv),
            },
            RvClass::Gone => HsmError::TokenGone {
                token: token.to_string(),
                reason: format!("{} in {}", ckr_name(rv), function_name(f)),
            },
            RvClass::Other => HsmError::Pkcs11 {
                function: function_name(f),
                rv: ckr_name(rv),
            },
        },
        other => HsmError::Pkcs11 {
            function: "call".into(),
            rv: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ckr_names_follow_the_specification() {
        assert_eq!(ckr_name(&RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            ckr_name(&RvError::SessionHandleInvalid),
            "CKR_SESSION_HANDLE_INVALID"
        );
        assert_eq!(
            ckr_name(&RvError::UnknownErrorCode(0x8000_0001)),
            "CKR_0x80000001"
        );
        assert_eq!(function_name(&Function::Sign), "C_Sign");
    }

    #[test]
    fn pin_and_gone_return_values_get_their_codes() {
        let pin = from_ck("T", CkError::Pkcs11(RvError::PinIncorrect, Function::Login));
        assert_eq!(pin.code(), "HSM-003");
        let gone = from_ck("T", CkError::Pkcs11(RvError::DeviceRemoved, Function::Sign));
        assert_eq!(gone.code(), "HSM-004");
        assert!(
            gone.to_string().contains("CKR_DEVICE_REMOVED in C_Sign"),
            "{gone}"
        );
        let other = from_ck("T", CkError::Pkcs11(RvError::DataLenRange, Function::Sign));
        assert_eq!(other.code(), "HSM-008");
        assert_eq!(
            other.into_signer_error().to_string(),
            "PKI-141: the signing key is unavailable: HSM-008: PKCS#11 C_Sign failed: CKR_DATA_LEN_RANGE"
        );
    }
}
