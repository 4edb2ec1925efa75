//! Talking to the authority: enrollment (make the signing key and request, collect the
//! certificates and the escrowed encryption key, build the user's PKCS#12, keeping every key
//! of the bundle it replaces) and directory look-ups of recipients' encryption certificates.
//! A server whose TLS certificate is not trusted is a [`Error::Tls`] that names the fix.

use std::str::FromStr;

use anyhow::{Context, anyhow, bail};
use pki::pkcs12::{ExportOptions, Pkcs12Contents, Pkcs12Entry};
use pki::{Certificate, CertificateInfo, DigestAlgorithm, KeySize, Name, PrivateKey};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{Error, UNTRUSTED_SERVER, is_untrusted_certificate};

/// Largest answer read from the server.
const MAX_ANSWER: u64 = 1024 * 1024;

/// An HTTP agent; with `ca_pem`, HTTPS servers are trusted only when their certificate
/// chains to those CA certificates (the authority's own CA), not to the public roots.
pub fn agent(ca_pem: Option<&[u8]>) -> anyhow::Result<ureq::Agent> {
    agent_with_timeout(ca_pem, None)
}

/// [`agent`], each request bounded by `timeout` when given (whole request and answer).
pub fn agent_with_timeout(
    ca_pem: Option<&[u8]>,
    timeout: Option<std::time::Duration>,
) -> anyhow::Result<ureq::Agent> {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout)
        .tls_config(api::tls_config().build());
    if let Some(pem) = ca_pem {
        let certs = pki::certificate::parse_certificates(pem)
            .context("reading the CA certificate for HTTPS")?
            .iter()
            .map(|c| {
                pki::certificate::to_der(c).map(|d| ureq::tls::Certificate::from_der(&d).to_owned())
            })
            .collect::<Result<Vec<_>, _>>()?;
        config = config.tls_config(
            api::tls_config()
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
        return Err(
            Error::Usage("the server URL must start with http:// or https://".into()).into(),
        );
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
        .map_err(|e| Error::Server(format!("reading the server's answer: {e}")))?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let msg = v["error"]["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("the server answered {status}"));
        let code = v["error"]["code"].as_str().unwrap_or("");
        return Err(Error::Server(format!("{msg} [{code}]")).into());
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

/// The error for a request to `base` that got no answer: [`Error::Tls`] with the fix when
/// the server's certificate is not trusted, [`Error::Network`] otherwise.
pub(crate) fn unreachable(base: &str, e: impl std::fmt::Display) -> anyhow::Error {
    let detail = e.to_string();
    if is_untrusted_certificate(&detail) {
        Error::Tls(format!("{UNTRUSTED_SERVER} ({base}: {detail})")).into()
    } else {
        Error::Network(format!("cannot reach the server at {base}: {detail}")).into()
    }
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
    /// SHA-256 fingerprint of the CA certificate the bundle now trusts (colon hex, as OpenSSL
    /// prints it), for the user to compare with what the administrator published.
    pub ca_fingerprint: String,
    /// The CA certificate's subject.
    pub ca_subject: String,
    /// Keys of the previous bundle carried over (its whole history).
    pub kept_keys: usize,
}

/// Checks a bundle password against the one rule (at least
/// [`pki::bundle::MIN_PASSWORD_CHARS`] characters), for every bundle the client writes.
pub fn check_bundle_password(password: &str) -> Result<(), Error> {
    if pki::bundle::password_long_enough(password) {
        Ok(())
    } else {
        Err(Error::Password(format!(
            "the bundle password is too short: use at least {} characters",
            pki::bundle::MIN_PASSWORD_CHARS
        )))
    }
}

/// Reads the bundle that `lockbox enroll --out` would replace, so that its keys are kept:
/// it must open with `password` and hold only `email`'s keys. Anything else is refused with
/// [`Error::WouldLoseKeys`], before the one-time token is spent.
pub fn previous_bundle(
    bytes: &[u8],
    password: &str,
    email: &str,
    shown: &str,
) -> anyhow::Result<Pkcs12Contents> {
    let way_out = "give --replace to overwrite it (its keys are lost), or choose another --out";
    let contents = pki::pkcs12::parse(bytes, password).map_err(|e| {
        let why = match e {
            pki::Error::Pkcs12BadPassword => {
                "the password given does not open it (a bundle's keys are kept when you \
                 enroll into it again, so its password is needed)"
                    .to_string()
            }
            other => format!("it is not a PKCS#12 file this tool can read ({other})"),
        };
        Error::WouldLoseKeys(format!("{shown} exists and {why}: {way_out}"))
    })?;
    for k in &contents.keys {
        let Some(cert) = &k.certificate else {
            return Err(Error::WouldLoseKeys(format!(
                "{shown} holds a key without its certificate: {way_out}"
            ))
            .into());
        };
        let info = CertificateInfo::from_certificate(cert)?;
        if !info.has_email(email) {
            return Err(Error::WouldLoseKeys(format!(
                "{shown} holds the keys of another user ({}), not {email}: {way_out}",
                info.emails.join(", ")
            ))
            .into());
        }
    }
    Ok(contents)
}

/// Enrolls `email` at `server` with the one-time `token`: generates the signing key here
/// (it never leaves this machine), sends its request, decrypts the escrowed encryption key
/// with the token, and returns the user's PKCS#12 under `password`, holding the new keys and
/// every key and certificate of `previous` (the bundle it replaces, from
/// [`previous_bundle`]).
pub fn enroll(
    server: &str,
    ca_pem: Option<&[u8]>,
    email: &str,
    token: &str,
    password: &str,
    previous: Option<Pkcs12Contents>,
) -> anyhow::Result<Enrolled> {
    check_bundle_password(password)?;
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
            api::ClientError::Transport { message, .. } => unreachable(base, message),
            api::ClientError::Config(_) => Error::Usage(e.to_string()).into(),
            refused => Error::Server(format!("enrollment refused: {refused}")).into(),
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
    let ca_der = pki::certificate::to_der(&ca_cert)?;
    let new_keys = [(signing_key, signing_cert), (enc_key, enc_cert)];
    let (pkcs12, kept_keys) = bundle(&new_keys, &ca_cert, previous, password)?;
    let [(_, signing_cert), (_, enc_cert)] = &new_keys;
    Ok(Enrolled {
        pkcs12,
        signing_serial: CertificateInfo::from_certificate(signing_cert)?.serial_hex,
        encryption_serial: CertificateInfo::from_certificate(enc_cert)?.serial_hex,
        ca_fingerprint: pki::bundle::sha256_fingerprint(&ca_der),
        ca_subject: CertificateInfo::from_certificate(&ca_cert)?.subject,
        kept_keys,
        ca_der: ca_der.clone(),
    })
}

/// The enrollment bundle: the new keys, then every key of `previous` that is not one of them
/// (with its certificate), and every other certificate either held (the CA, older
/// certificates), once each. Every key is named by [`pki::bundle::friendly_name`]. Returns
/// the PKCS#12 and how many previous keys it carries.
fn bundle(
    new_keys: &[(PrivateKey, Certificate)],
    ca_cert: &Certificate,
    previous: Option<Pkcs12Contents>,
    password: &str,
) -> anyhow::Result<(Vec<u8>, usize)> {
    let mut keys: Vec<(&PrivateKey, &Certificate)> = new_keys.iter().map(|(k, c)| (k, c)).collect();
    let mut extra: Vec<Certificate> = vec![ca_cert.clone()];
    let previous = previous.unwrap_or_default();
    let mut kept = 0;
    for k in &previous.keys {
        let Some(cert) = &k.certificate else { continue };
        if new_keys
            .iter()
            .any(|(n, _)| n.public_key() == k.key.public_key())
        {
            // The same key again (re-enrolled after a recovery): its new certificate is
            // paired with it; the old certificate stays as history.
            extra.push(cert.clone());
            continue;
        }
        keys.push((&k.key, cert));
        kept += 1;
    }
    extra.extend(previous.certificates.iter().cloned());
    // Each certificate once, and none that is already paired with a key.
    let mut seen: Vec<Vec<u8>> = keys
        .iter()
        .map(|(_, c)| pki::certificate::to_der(c))
        .collect::<Result<_, _>>()?;
    let mut chain = Vec::new();
    for c in extra {
        let der = pki::certificate::to_der(&c)?;
        if !seen.contains(&der) {
            seen.push(der);
            chain.push(c);
        }
    }
    let names: Vec<String> = keys
        .iter()
        .map(|(_, c)| pki::bundle::friendly_name(c))
        .collect::<Result<_, _>>()?;
    let entries: Vec<Pkcs12Entry<'_>> = keys
        .iter()
        .zip(&names)
        .map(|((key, certificate), name)| Pkcs12Entry {
            key,
            certificate,
            friendly_name: Some(name),
        })
        .collect();
    let pkcs12 = pki::pkcs12::export(
        &entries,
        &chain,
        password,
        &ExportOptions::modern(),
        &mut pki::os_rng(),
    )?;
    Ok((pkcs12, kept))
}

/// A recipient's current encryption certificate from the authority's directory.
pub fn lookup(server: &str, ca_pem: Option<&[u8]>, email: &str) -> anyhow::Result<Certificate> {
    let base = base(server)?;
    let resp = agent(ca_pem)?
        .get(format!("{base}/api/v1/directory/{}", path_segment(email)))
        .call()
        .map_err(|e| unreachable(base, e))?;
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
        .map_err(|e| unreachable(base, e).context("fetching the CRL"))?;
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
