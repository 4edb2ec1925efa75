//! Talking to the authority: enrollment (make the signing key and request, collect the
//! certificates and the escrowed encryption key, build the user's PKCS#12) and directory
//! look-ups of recipients' encryption certificates.

use std::str::FromStr;

use anyhow::{Context, anyhow, bail};
use pki::pkcs12::{ExportOptions, Pkcs12Entry};
use pki::{Certificate, DigestAlgorithm, KeySize, Name, PrivateKey};
use serde_json::Value;
use zeroize::Zeroizing;

/// Largest answer read from the server.
const MAX_ANSWER: u64 = 1024 * 1024;

/// An HTTP agent; with `ca_pem`, HTTPS servers are trusted only when their certificate
/// chains to those CA certificates (the authority's own CA), not to the public roots.
pub fn agent(ca_pem: Option<&[u8]>) -> anyhow::Result<ureq::Agent> {
    let mut config = ureq::Agent::config_builder().http_status_as_error(false);
    if let Some(pem) = ca_pem {
        let certs = pki::certificate::parse_certificates(pem)
            .context("reading the CA certificate for HTTPS")?
            .iter()
            .map(|c| {
                pki::certificate::to_der(c).map(|d| ureq::tls::Certificate::from_der(&d).to_owned())
            })
            .collect::<Result<Vec<_>, _>>()?;
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)))
                .build(),
        );
    }
    Ok(config.build().into())
}

/// The typed API client (`api::KmsClient`) for `base`; with `ca_pem`, HTTPS servers are
/// trusted only when their certificate chains to those CA certificates, as with [`agent`].
fn kms_api(base: &str, ca_pem: Option<&[u8]>) -> anyhow::Result<api::KmsClient> {
    let roots = match ca_pem {
        None => None,
        Some(pem) => {
            let mut out = String::new();
            for c in pki::certificate::parse_certificates(pem)
                .context("reading the CA certificate for HTTPS")?
            {
                out.push_str(&pki::certificate::to_pem(&c)?);
            }
            Some(out)
        }
    };
    Ok(api::KmsClient::new(
        base,
        roots.as_deref().map(str::as_bytes),
    )?)
}

pub(crate) fn base(server: &str) -> anyhow::Result<&str> {
    let b = server.trim_end_matches('/');
    if !b.starts_with("http://") && !b.starts_with("https://") {
        bail!("the server URL must start with http:// or https://");
    }
    Ok(b)
}

pub(crate) fn answer(mut resp: ureq::http::Response<ureq::Body>) -> anyhow::Result<Value> {
    let status = resp.status();
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .map_err(|e| anyhow!("reading the server's answer: {e}"))?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let msg = v["error"]["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("the server answered {status}"));
        let code = v["error"]["code"].as_str().unwrap_or("");
        bail!("{msg} [{code}]");
    }
    Ok(v)
}

pub(crate) fn path_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@+".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What an enrollment produced.
pub struct Enrolled {
    /// The PKCS#12 file (signing key + certificate, encryption key + certificate, CA).
    pub pkcs12: Vec<u8>,
    /// Serial of the signing certificate (hex).
    pub signing_serial: String,
    /// Serial of the encryption certificate (hex).
    pub encryption_serial: String,
    /// The CA certificate (DER) the certificates were checked against.
    pub ca_der: Vec<u8>,
}

/// Enrolls `email` at `server` with the one-time `token`: generates the signing key here
/// (it never leaves this machine), sends its request, decrypts the escrowed encryption key
/// with the token, and returns the user's PKCS#12 under `password`.
pub fn enroll(
    server: &str,
    ca_pem: Option<&[u8]>,
    email: &str,
    token: &str,
    password: &str,
) -> anyhow::Result<Enrolled> {
    let base = base(server)?;
    let mut rng = pki::os_rng();
    let signing_key = PrivateKey::generate(&mut rng, KeySize::Rsa2048)?;
    let subject = Name::from_str(&format!(
        "CN={}",
        email.replace([',', '+', '=', '\\', '"', '<', '>', ';'], "_")
    ))
    .map_err(|e| anyhow!("subject: {e}"))?;
    let csr = pki::csr::build(&signing_key, subject, email, DigestAlgorithm::Sha256)?;
    let answer = kms_api(base, ca_pem)?
        .enroll(&api::EnrollRequest {
            token: api::Secret::new(token),
            csr: pki::csr::to_pem(&csr),
        })
        .map_err(|e| match e {
            api::ClientError::Transport { .. } | api::ClientError::Config(_) => anyhow!(e),
            refused => anyhow!(refused).context("enrollment refused"),
        })?;
    let signing_cert = pki::certificate::parse_certificate(answer.signing_certificate.as_bytes())?;
    let enc_cert = pki::certificate::parse_certificate(answer.encryption_certificate.as_bytes())?;
    let ca_cert = pki::certificate::parse_certificate(answer.ca_certificate.as_bytes())?;
    pki::certificate::verify_signed_by(&signing_cert, &ca_cert)
        .context("the signing certificate is not signed by the CA the server sent")?;
    pki::certificate::verify_signed_by(&enc_cert, &ca_cert)
        .context("the encryption certificate is not signed by the CA the server sent")?;
    if pki::certificate::public_key(&signing_cert)? != signing_key.public_key() {
        bail!("the signing certificate the server sent is not for the key made here");
    }
    let (label, der) = pem_rfc7468::decode_vec(answer.encrypted_key.expose().as_bytes())
        .map_err(|e| anyhow!("the encrypted key is not PEM: {e}"))?;
    let der = Zeroizing::new(der);
    if label != "ENCRYPTED PRIVATE KEY" {
        bail!("the encrypted key is labelled {label}, not ENCRYPTED PRIVATE KEY");
    }
    let epki = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
        .map_err(|e| anyhow!("the encrypted key is malformed: {e}"))?;
    let key_doc = epki
        .decrypt(token.as_bytes())
        .map_err(|_| anyhow!("the encryption key does not decrypt with this token"))?;
    let enc_key = PrivateKey::from_der(key_doc.as_bytes())?;
    if pki::certificate::public_key(&enc_cert)? != enc_key.public_key() {
        bail!("the encryption key the server sent does not match its certificate");
    }
    let pkcs12 = pki::pkcs12::export(
        &[
            Pkcs12Entry {
                key: &signing_key,
                certificate: &signing_cert,
                friendly_name: Some(&format!("{email} (signing)")),
            },
            Pkcs12Entry {
                key: &enc_key,
                certificate: &enc_cert,
                friendly_name: Some(&format!("{email} (encryption)")),
            },
        ],
        std::slice::from_ref(&ca_cert),
        password,
        &ExportOptions::modern(),
        &mut rng,
    )?;
    Ok(Enrolled {
        pkcs12,
        signing_serial: pki::CertificateInfo::from_certificate(&signing_cert)?.serial_hex,
        encryption_serial: pki::CertificateInfo::from_certificate(&enc_cert)?.serial_hex,
        ca_der: pki::certificate::to_der(&ca_cert)?,
    })
}

/// A recipient's current encryption certificate from the authority's directory.
pub fn lookup(server: &str, ca_pem: Option<&[u8]>, email: &str) -> anyhow::Result<Certificate> {
    let base = base(server)?;
    let resp = agent(ca_pem)?
        .get(format!("{base}/api/v1/directory/{}", path_segment(email)))
        .call()
        .map_err(|e| anyhow!("cannot reach the server at {base}: {e}"))?;
    let v = answer(resp).with_context(|| format!("directory look-up of {email}"))?;
    let pem = v["certificate"]
        .as_str()
        .ok_or_else(|| anyhow!("the directory answer for {email} has no certificate"))?;
    let cert = pki::certificate::parse_certificate(pem.as_bytes())?;
    let info = pki::CertificateInfo::from_certificate(&cert)?;
    if !info.has_email(email) {
        bail!("the directory returned a certificate that is not for {email}");
    }
    if !info.can_encrypt {
        bail!("the directory returned a certificate for {email} that does not allow encryption");
    }
    match ca_pem {
        Some(ca_pem) => check_directory_certificate(base, ca_pem, &cert, email)?,
        None => eprintln!(
            "lockbox: warning: the certificate for {email} was not checked against a trusted CA \
             (give --ca-cert to check it and its revocation status)"
        ),
    }
    Ok(cert)
}

/// Fetches the authority's CRL (its signature is what makes it trustworthy, not the channel)
/// and checks the directory certificate with [`validate_directory_certificate`].
fn check_directory_certificate(
    base: &str,
    ca_pem: &[u8],
    cert: &Certificate,
    email: &str,
) -> anyhow::Result<()> {
    let resp = agent(Some(ca_pem))?
        .get(format!("{base}/crl"))
        .call()
        .map_err(|e| anyhow!("cannot fetch the CRL from {base}: {e}"))?;
    let crl = resp
        .into_body()
        .with_config()
        .limit(pki::encoding::MAX_CRL_SIZE as u64)
        .read_to_vec()
        .map_err(|e| anyhow!("cannot read the CRL from {base}: {e}"))?;
    validate_directory_certificate(ca_pem, &crl, cert, email, std::time::SystemTime::now())
}

/// A directory certificate must chain to the CA the user trusts (`ca_pem`), be within its
/// validity at `now`, and not be revoked according to `crl` (DER or PEM, signed by that CA).
/// Anything else is refused, so a forged or stale directory answer cannot redirect mail.
pub fn validate_directory_certificate(
    ca_pem: &[u8],
    crl: &[u8],
    cert: &Certificate,
    email: &str,
    now: std::time::SystemTime,
) -> anyhow::Result<()> {
    use pki::verify::{PathValidator, Purpose, VerifyOptions};
    let anchors = pki::certificate::parse_certificates(ca_pem).context("--ca-cert")?;
    let crl = pki::crl::Crl::parse(crl).context("the authority's CRL")?;
    let options = VerifyOptions {
        allow_legacy: false,
        signing_time: None,
        purpose: Purpose::Any,
    };
    let verdict = PathValidator::new(&anchors, &[], std::slice::from_ref(&crl))
        .validate(cert, now, &options)
        .verdict;
    if !verdict.is_valid() {
        bail!("the directory certificate for {email} is not usable: {verdict}");
    }
    Ok(())
}
