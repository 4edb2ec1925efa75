//! HTTPS for the API: a rustls (ring) server configuration from the certificate and key that
//! `kmsd init` wrote, and an axum listener that completes TLS handshakes off the accept path.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// File names in the data directory.
pub const CERT_FILE: &str = "tls.crt";
/// The TLS private key (PKCS#8 PEM, mode 0600).
pub const KEY_FILE: &str = "tls.key";

/// Largest time a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key_der)
    .context("the TLS certificate and key do not fit together")?;
    Ok(Arc::new(config))
}

/// An axum listener that serves TLS: a task accepts TCP connections and runs each
/// handshake in its own task, so a slow client holds up nobody else.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp` with `config`.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, addr) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %addr, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(peer = %addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The accept task never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
