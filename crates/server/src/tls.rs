//! HTTPS for the API: a rustls (aws-lc-rs) server configuration from the certificate and key that
//! `kmsd init` wrote (the connections are accepted and timed by `limits`).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// File names in the data directory.
pub const CERT_FILE: &str = "tls.crt";
/// The TLS private key (PKCS#8 PEM, mode 0600).
pub const KEY_FILE: &str = "tls.key";

/// Loads `tls.crt` (the server certificate, then the CA) and `tls.key` from `data_dir`.
pub fn server_config(data_dir: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let cert_path = data_dir.join(CERT_FILE);
    let key_path = data_dir.join(KEY_FILE);
    let certs = pki::certificate::parse_certificates(
        &std::fs::read(&cert_path).with_context(|| format!("reading {}", cert_path.display()))?,
    )
    .with_context(|| format!("reading {}", cert_path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", cert_path.display());
    }
    let chain = certs
        .iter()
        .map(|c| pki::certificate::to_der(c).map(CertificateDer::from))
        .collect::<Result<Vec<_>, _>>()?;
    let key_bytes = zeroize::Zeroizing::new(
        std::fs::read(&key_path).with_context(|| format!("reading {}", key_path.display()))?,
    );
    let key = pki::PrivateKey::from_pem_or_der(&key_bytes)
        .with_context(|| format!("reading {}", key_path.display()))?;
    let pkcs8 = key.to_pkcs8_der()?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key_der)
    .context("the TLS certificate and key do not fit together")?;
    Ok(Arc::new(config))
}
