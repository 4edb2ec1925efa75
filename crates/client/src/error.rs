//! The client's failure kinds and their stable codes, printed by `lockbox --json` and
//! `sectool --json` as `{"error":{"code","message"}}` (the exit codes do not change):
//!
//! | code | kind |
//! |---|---|
//! | `CLIENT-001` | bad usage: an unknown flag, a missing or conflicting argument (exit 2) |
//! | `CLIENT-002` | a file: cannot be read or written, too large, or an output refused (a secret to a terminal) |
//! | `CLIENT-003` | a password: missing on standard input, wrong for the PKCS#12 file, or shorter than the bundle rule |
//! | `CLIENT-004` | the network: the server cannot be reached |
//! | `CLIENT-005` | TLS: the server's certificate is not trusted (pass `--ca-cert` or set `KMS_CA_CERT`) |
//! | `CLIENT-006` | the server refused or answered something unusable |
//! | `CLIENT-007` | cryptography or message format: not a recipient, a malformed message, certificate or key |
//! | `CLIENT-008` | an existing bundle would lose keys: `--out` holds another user's PKCS#12, or one the password does not open |
//! | `CLIENT-009` | any other failure |
//!
//! Code that knows what kind of failure it meets returns an [`Error`]; [`classify`] finds one
//! in an error's chain, or infers the kind from the errors it wraps (I/O, PKI, HTTP).

/// A client failure of a known kind; the message is for people.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad usage (`CLIENT-001`).
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written (`CLIENT-002`).
    #[error("{0}")]
    File(String),
    /// A password is missing, wrong, or too short (`CLIENT-003`).
    #[error("{0}")]
    Password(String),
    /// The server cannot be reached (`CLIENT-004`).
    #[error("{0}")]
    Network(String),
    /// The server's TLS certificate is not trusted (`CLIENT-005`).
    #[error("{0}")]
    Tls(String),
    /// The server refused, or its answer is unusable (`CLIENT-006`).
    #[error("{0}")]
    Server(String),
    /// Cryptography or a message, certificate or key format (`CLIENT-007`).
    #[error("{0}")]
    Crypto(String),
    /// Writing would drop keys of an existing bundle (`CLIENT-008`).
    #[error("{0}")]
    WouldLoseKeys(String),
}

impl Error {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Usage(_) => "CLIENT-001",
            Error::File(_) => "CLIENT-002",
            Error::Password(_) => "CLIENT-003",
            Error::Network(_) => "CLIENT-004",
            Error::Tls(_) => "CLIENT-005",
            Error::Server(_) => "CLIENT-006",
            Error::Crypto(_) => "CLIENT-007",
            Error::WouldLoseKeys(_) => "CLIENT-008",
        }
    }
}

/// The code for any other failure.
pub const OTHER: &str = "CLIENT-009";

/// The hint for a server whose certificate is not trusted.
pub const UNTRUSTED_SERVER: &str =
    "the server's certificate is not trusted: pass --ca-cert CA.pem (or set KMS_CA_CERT)";

/// True when `message` (a TLS library's words) says the peer's certificate is not trusted.
pub fn is_untrusted_certificate(message: &str) -> bool {
    [
        "UnknownIssuer",
        "unknown issuer",
        "invalid peer certificate",
        "certificate verify failed",
        "self signed certificate",
        "self-signed certificate",
        "NotValidForName",
        "BadSignature",
    ]
    .iter()
    .any(|w| message.contains(w))
}

/// The code of `e`: the first [`Error`] in its chain, else the kind inferred from what it
/// wraps (I/O is a file, a PKI error is cryptography or a password, an HTTP failure is the
/// network or TLS).
pub fn classify(e: &anyhow::Error) -> &'static str {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<Error>() {
            return c.code();
        }
    }
    for cause in e.chain() {
        if let Some(p) = cause.downcast_ref::<pki::Error>() {
            return match p {
                pki::Error::Pkcs12BadPassword => "CLIENT-003",
                _ => "CLIENT-007",
            };
        }
        if let Some(a) = cause.downcast_ref::<api::ClientError>() {
            return match a {
                api::ClientError::Transport { message, .. }
                    if is_untrusted_certificate(message) =>
                {
                    "CLIENT-005"
                }
                api::ClientError::Transport { .. } => "CLIENT-004",
                _ => "CLIENT-006",
            };
        }
        if let Some(u) = cause.downcast_ref::<ureq::Error>() {
            return if is_untrusted_certificate(&u.to_string()) {
                "CLIENT-005"
            } else {
                "CLIENT-004"
            };
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return "CLIENT-002";
        }
        if cause.downcast_ref::<crate::fetch::NewKeyNeeded>().is_some() {
            return "CLIENT-006";
        }
    }
    OTHER
}

/// `{"error":{"code","message"}}` for `e` (its whole cause chain as the message).
pub fn json(e: &anyhow::Error) -> serde_json::Value {
    serde_json::json!({ "error": { "code": classify(e), "message": format!("{e:#}") } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_from_the_chain_or_from_what_is_wrapped() {
        let e = anyhow::Error::from(Error::Password("too short".into())).context("enroll");
        assert_eq!(classify(&e), "CLIENT-003");
        let io = anyhow::Error::from(std::io::Error::other("disk")).context("writing x");
        assert_eq!(classify(&io), "CLIENT-002");
        let wrong = anyhow::Error::from(pki::Error::Pkcs12BadPassword);
        assert_eq!(classify(&wrong), "CLIENT-003");
        let tls = anyhow::Error::from(api::ClientError::Transport {
            url: "https://x".into(),
            message: "invalid peer certificate: UnknownIssuer".into(),
        });
        assert_eq!(classify(&tls), "CLIENT-005");
        assert_eq!(classify(&anyhow::anyhow!("something")), OTHER);
        let v = json(&e);
        assert_eq!(v["error"]["code"], "CLIENT-003");
        assert_eq!(v["error"]["message"], "enroll: too short");
    }
}
