//! A user's keys as the client holds them: every private key with its certificate, read from
//! a PKCS#12 file (which may hold a whole key history, as a recovery bundle does), plus the
//! other certificates in the file (the CA chain).

use pki::{Certificate, CertificateInfo, PrivateKey};

/// Keys and certificates from one PKCS#12 file.
pub struct Keyring {
    /// Each private key with its certificate.
    pub keys: Vec<(PrivateKey, Certificate)>,
    /// The other certificates (usually the CA chain).
    pub chain: Vec<Certificate>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("keys", &self.keys.len())
            .field("chain", &self.chain.len())
            .finish()
    }
}

impl Keyring {
    /// Reads a PKCS#12 file; an empty `password` means the file has none (no MAC, or a MAC
    /// and encryption under the empty password: `--no-password` in lockbox and sectool). Keys
    /// without a certificate are refused: the client needs the certificate to know what a key
    /// is for and to find it in a message.
    pub fn from_pkcs12(bytes: &[u8], password: &str) -> anyhow::Result<Self> {
        let contents = pki::pkcs12::parse(bytes, password)?;
        let mut keys = Vec::with_capacity(contents.keys.len());
        for (i, k) in contents.keys.into_iter().enumerate() {
            let cert = k.certificate.ok_or_else(|| {
                anyhow::anyhow!(
                    "key {} in the PKCS#12 file has no certificate; the file must hold each key's certificate",
                    i + 1
                )
            })?;
            keys.push((k.key, cert));
        }
        if keys.is_empty() {
            anyhow::bail!("the PKCS#12 file holds no private key");
        }
        Ok(Self {
            keys,
            chain: contents.certificates,
        })
    }

    /// The signing key: among keys whose certificate allows signing, the one issued last.
    pub fn signing_key(&self) -> anyhow::Result<(&PrivateKey, &Certificate)> {
        self.newest(|info| info.can_sign).ok_or_else(|| {
            anyhow::anyhow!("no key in the PKCS#12 file has a certificate for signing")
        })
    }

    /// The current encryption key: among keys whose certificate allows key encipherment, the
    /// one issued last.
    pub fn encryption_key(&self) -> anyhow::Result<(&PrivateKey, &Certificate)> {
        self.newest(|info| info.can_encrypt).ok_or_else(|| {
            anyhow::anyhow!("no key in the PKCS#12 file has a certificate for encryption")
        })
    }

    /// The certificate to name as the signer's encryption certificate in a signed message
    /// (the encryption-key-preference attributes): among certificates that allow key
    /// encipherment and share an e-mail address with `signer`, the one issued last (as
    /// [`Keyring::encryption_key`] picks). `None` when the keyring holds none (a signing-only
    /// bundle).
    pub fn encryption_certificate_for(&self, signer: &Certificate) -> Option<&Certificate> {
        let emails = CertificateInfo::from_certificate(signer).ok()?.emails;
        self.keys
            .iter()
            .filter_map(|(_, c)| {
                let info = CertificateInfo::from_certificate(c).ok()?;
                let wanted = info.can_encrypt
                    && info
                        .emails
                        .iter()
                        .any(|e| emails.iter().any(|s| s.eq_ignore_ascii_case(e)));
                wanted.then_some((info.not_before, c))
            })
            .max_by_key(|(t, _)| *t)
            .map(|(_, c)| c)
    }

    fn newest(
        &self,
        wanted: impl Fn(&CertificateInfo) -> bool,
    ) -> Option<(&PrivateKey, &Certificate)> {
        self.keys
            .iter()
            .filter_map(|(k, c)| {
                let info = CertificateInfo::from_certificate(c).ok()?;
                wanted(&info).then_some((info.not_before, k, c))
            })
            .max_by_key(|(t, _, _)| *t)
            .map(|(_, k, c)| (k, c))
    }
}
