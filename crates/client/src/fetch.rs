//! `lockbox fetch`: collects a user's renewed certificates from the authority's directory into
//! their PKCS#12, keeping every key and every certificate the file held, under the same
//! password. A certificate for a key the file does not hold (a renewal with a new key) is not
//! taken: the user enrolls again with a new token.

use anyhow::{Context, anyhow, bail};
use pki::pkcs12::{ExportOptions, Pkcs12Contents, Pkcs12Entry};
use pki::{Certificate, CertificateInfo};

use crate::server::{agent, answer, base, path_segment};

/// A certificate the authority serves for the user, as fetched.
pub struct Served {
    /// `signing` or `encryption`.
    pub kind: &'static str,
    /// The certificate.
    pub certificate: Certificate,
}

/// What was taken into the PKCS#12.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// `signing` or `encryption`.
    pub kind: &'static str,
    /// Serial, lower-case hex.
    pub serial: String,
    /// notAfter, Unix seconds.
    pub not_after: u64,
}

/// The outcome of [`merge`].
pub struct Merged {
    /// The new PKCS#12 (DER), when anything was added; `None` when the file is up to date.
    pub pkcs12: Option<Vec<u8>>,
    /// The certificates added.
    pub added: Vec<Added>,
    /// Certificates served that the file held already.
    pub unchanged: Vec<Added>,
}

/// The failure that asks the user to enroll again: a certificate served is for a key the
/// file does not hold (a renewal with a new key).
#[derive(Debug)]
pub struct NewKeyNeeded {
    /// `signing` or `encryption`.
    pub kind: &'static str,
    /// The certificate's serial, lower-case hex.
    pub serial: String,
}

impl std::fmt::Display for NewKeyNeeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server's {} certificate (serial {}) is for a new key that this PKCS#12 file \
             does not hold: your certificates were renewed with a new key. Ask your \
             administrator for a new enrollment token and enroll again (lockbox enroll); the \
             file was not changed",
            self.kind, self.serial
        )
    }
}

impl std::error::Error for NewKeyNeeded {}

/// The user's current certificates from the authority's directory: the encryption one and,
/// when the authority serves it, the signing one.
pub fn served(server: &str, ca_pem: Option<&[u8]>, email: &str) -> anyhow::Result<Vec<Served>> {
    let base = base(server)?;
    let resp = agent(ca_pem)?
        .get(format!("{base}/api/v1/directory/{}", path_segment(email)))
        .call()
        .map_err(|e| crate::server::unreachable(base, e))?;
    let v = answer(resp).with_context(|| format!("directory look-up of {email}"))?;
    let mut out = Vec::new();
    for (field, kind) in [
        ("signing_certificate", "signing"),
        ("certificate", "encryption"),
    ] {
        if let Some(pem) = v[field].as_str() {
            let certificate = pki::certificate::parse_certificate(pem.as_bytes())
                .with_context(|| format!("the server's {kind} certificate"))?;
            out.push(Served { kind, certificate });
        }
    }
    if v.get("signing_certificate").is_none() {
        eprintln!(
            "lockbox: warning: the server does not serve signing certificates (an older \
             kmsd): only the encryption certificate was fetched"
        );
    }
    Ok(out)
}

fn unix(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn der(c: &Certificate) -> anyhow::Result<Vec<u8>> {
    Ok(pki::certificate::to_der(c)?)
}

/// Takes the `served` certificates of `email` into the PKCS#12 `contents` (read with
/// `password`): each must be for `email`, chain to one of `anchors` (the CA certificates the
/// user trusts: `--ca-cert`, else the CA certificates in the file), and certify a key the
/// file holds. Each key is paired with its newest certificate; every other certificate the
/// file held stays in it. Nothing is returned for writing when a certificate is for a key the
/// file does not hold: the error says to enroll again.
pub fn merge(
    contents: Pkcs12Contents,
    served: &[Served],
    anchors: &[Certificate],
    email: &str,
    password: &str,
) -> anyhow::Result<Merged> {
    let anchors: Vec<&Certificate> = anchors
        .iter()
        .filter(|c| CertificateInfo::from_certificate(c).is_ok_and(|i| i.is_ca))
        .collect();
    if anchors.is_empty() {
        bail!(
            "no CA certificate to check the server's certificates against: the PKCS#12 file \
             holds none; give --ca-cert FILE"
        );
    }
    let mut keys = contents.keys;
    for (i, k) in keys.iter().enumerate() {
        if k.certificate.is_none() {
            bail!(
                "key {} in the PKCS#12 file has no certificate; the file must hold each key's \
                 certificate",
                i + 1
            );
        }
    }
    let mut extra: Vec<Certificate> = contents.certificates;
    let mut added = Vec::new();
    let mut unchanged = Vec::new();
    // Every check first: nothing is merged unless every certificate served is usable.
    let mut matches = Vec::new();
    for s in served {
        let info = CertificateInfo::from_certificate(&s.certificate)?;
        let summary = Added {
            kind: s.kind,
            serial: info.serial_hex.clone(),
            not_after: unix(info.not_after),
        };
        if !info.has_email(email) {
            bail!(
                "the server's {} certificate (serial {}) is not for {email}",
                s.kind,
                info.serial_hex
            );
        }
        if !anchors
            .iter()
            .any(|ca| pki::certificate::verify_signed_by(&s.certificate, ca).is_ok())
        {
            bail!(
                "the server's {} certificate (serial {}) does not chain to the CA certificate \
                 you trust ({}): not taken",
                s.kind,
                info.serial_hex,
                anchors
                    .iter()
                    .filter_map(|c| CertificateInfo::from_certificate(c).ok())
                    .map(|i| i.subject)
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        let public = pki::certificate::public_key(&s.certificate)?;
        let Some(index) = keys.iter().position(|k| k.key.public_key() == public) else {
            return Err(NewKeyNeeded {
                kind: s.kind,
                serial: info.serial_hex,
            }
            .into());
        };
        matches.push((index, s, info, summary));
    }
    for (index, s, info, summary) in matches {
        let new_der = der(&s.certificate)?;
        let key = &mut keys[index];
        let current = key
            .certificate
            .as_ref()
            .ok_or_else(|| anyhow!("key without a certificate"))?;
        let held =
            der(current)? == new_der || extra.iter().any(|c| der(c).is_ok_and(|d| d == new_der));
        if held {
            unchanged.push(summary);
            continue;
        }
        let current_info = CertificateInfo::from_certificate(current)?;
        if info.not_before >= current_info.not_before {
            // The newest certificate goes with the key; the one it replaces stays in the file.
            let old = key.certificate.replace(s.certificate.clone());
            extra.extend(old);
        } else {
            extra.push(s.certificate.clone());
        }
        added.push(summary);
    }
    if added.is_empty() {
        return Ok(Merged {
            pkcs12: None,
            added,
            unchanged,
        });
    }
    // Every key named after its (newest) certificate: kind, date, serial.
    let names: Vec<Option<String>> = keys
        .iter()
        .map(|k| {
            k.certificate
                .as_ref()
                .and_then(|c| pki::bundle::friendly_name(c).ok())
                .or_else(|| k.friendly_name.clone())
        })
        .collect();
    let entries: Vec<Pkcs12Entry<'_>> = keys
        .iter()
        .zip(&names)
        .filter_map(|(k, name)| {
            Some(Pkcs12Entry {
                key: &k.key,
                certificate: k.certificate.as_ref()?,
                friendly_name: name.as_deref(),
            })
        })
        .collect();
    let pkcs12 = pki::pkcs12::export(
        &entries,
        &extra,
        password,
        &ExportOptions::modern(),
        &mut pki::os_rng(),
    )?;
    Ok(Merged {
        pkcs12: Some(pkcs12),
        added,
        unchanged,
    })
}
