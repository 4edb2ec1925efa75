//! Certificate profiles: what a CA certificate, an S/MIME signing certificate, an S/MIME
//! encryption certificate and a TLS server certificate each carry. One issuing function
//! (`certificate::Issuer::issue`) takes a profile; key usages live here, not in the issuer.

use der::asn1::{Ia5String, OctetString};
use der::{Encode, oid::AssociatedOid};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, FreshestCrl,
    KeyUsage, KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::Name;

use crate::algorithms::{ContentAlgorithm, SmimeCapabilities, oid};
use crate::error::{Error, Result};

/// Where relying parties find revocation information for a certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevocationUrls {
    /// CRL distribution point (full CRL), e.g. `https://ca.example/crl`.
    pub crl: Option<String>,
    /// Freshest CRL (delta CRL), e.g. `https://ca.example/crl/delta`.
    pub delta_crl: Option<String>,
}

/// The end-entity data both S/MIME profiles share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmimeSubject {
    /// Subject distinguished name.
    pub subject: Name,
    /// The user's mail address, written as the rfc822Name subjectAltName.
    pub email: String,
    /// Content-encryption algorithms the user's client supports, in order of preference.
    pub capabilities: Vec<ContentAlgorithm>,
    /// CRL and delta-CRL pointers.
    pub revocation: RevocationUrls,
}

/// What kind of certificate to issue.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// A self-signed root CA: basicConstraints CA:true (critical), keyCertSign + cRLSign.
    Ca {
        /// The CA's distinguished name.
        subject: Name,
        /// Maximum number of intermediate CAs below this one, if limited.
        path_len: Option<u8>,
    },
    /// S/MIME signing: digitalSignature + nonRepudiation, emailProtection.
    SmimeSigning(SmimeSubject),
    /// S/MIME encryption: keyEncipherment + dataEncipherment, emailProtection.
    SmimeEncryption(SmimeSubject),
    /// TLS server certificate for the authority itself: serverAuth, DNS and IP names.
    TlsServer {
        /// Subject distinguished name.
        subject: Name,
        /// DNS names for subjectAltName.
        dns_names: Vec<String>,
        /// IP addresses (4 or 16 bytes) for subjectAltName.
        ip_addresses: Vec<Vec<u8>>,
        /// CRL pointers.
        revocation: RevocationUrls,
    },
}

impl Profile {
    /// The subject name this profile issues to.
    pub fn subject(&self) -> &Name {
        match self {
            Profile::Ca { subject, .. } | Profile::TlsServer { subject, .. } => subject,
            Profile::SmimeSigning(s) | Profile::SmimeEncryption(s) => &s.subject,
        }
    }

    /// True for the CA profile.
    pub fn is_ca(&self) -> bool {
        matches!(self, Profile::Ca { .. })
    }

    /// A short name for messages ("S/MIME signing", ...).
    pub fn label(&self) -> &'static str {
        match self {
            Profile::Ca { .. } => "CA",
            Profile::SmimeSigning(_) => "S/MIME signing",
            Profile::SmimeEncryption(_) => "S/MIME encryption",
            Profile::TlsServer { .. } => "TLS server",
        }
    }

    /// Checks the profile's inputs before anything is signed.
    pub(crate) fn validate(&self) -> Result<()> {
        if let Profile::SmimeSigning(s) | Profile::SmimeEncryption(s) = self {
            validate_email(&s.email)?;
            if s.capabilities.is_empty() {
                return Err(Error::Invalid {
                    what: "capabilities",
                    why: "an S/MIME certificate needs at least one content algorithm".into(),
                });
            }
        }
        if let Profile::TlsServer {
            dns_names,
            ip_addresses,
            ..
        } = self
        {
            if dns_names.is_empty() && ip_addresses.is_empty() {
                return Err(Error::Invalid {
                    what: "TLS server names",
                    why: "give at least one DNS name or IP address".into(),
                });
            }
            if let Some(ip) = ip_addresses
                .iter()
                .find(|ip| ip.len() != 4 && ip.len() != 16)
            {
                return Err(Error::Invalid {
                    what: "IP address",
                    why: format!("{} bytes; an IP address is 4 or 16 bytes", ip.len()),
                });
            }
        }
        Ok(())
    }
}

/// Checks that `email` is a plausible addr-spec: ASCII, one `@`, non-empty local part and
/// domain, no spaces or angle brackets. (rfc822Name is an IA5String: ASCII only.)
pub fn validate_email(email: &str) -> Result<()> {
    let bad = |why: &str| Error::Invalid {
        what: "e-mail address",
        why: format!("\"{email}\": {why}"),
    };
    if email.len() > 254 {
        return Err(bad("longer than 254 characters"));
    }
    if !email.is_ascii() {
        return Err(bad("not ASCII"));
    }
    let (local, domain) = email.split_once('@').ok_or_else(|| bad("no @"))?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return Err(bad("expected local@domain"));
    }
    if email
        .chars()
        .any(|c| c.is_ascii_whitespace() || c.is_ascii_control() || "<>(),;:\"[]\\".contains(c))
    {
        return Err(bad("contains a character not allowed in an address"));
    }
    if !domain.contains('.') && domain != "localhost" {
        return Err(bad("the domain has no dot"));
    }
    Ok(())
}

/// The profile bound to its issuer, as x509-cert's builder wants it.
pub(crate) struct BoundProfile<'a> {
    pub(crate) profile: &'a Profile,
    /// The issuer's name; `None` for a self-signed certificate.
    pub(crate) issuer: Option<Name>,
}

fn ext<T: Encode + AssociatedOid>(
    value: &T,
    critical: bool,
) -> x509_cert::builder::Result<Extension> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

fn uri(url: &str) -> x509_cert::builder::Result<GeneralName> {
    Ok(GeneralName::UniformResourceIdentifier(Ia5String::new(url)?))
}

fn dist_point(url: &str) -> x509_cert::builder::Result<Vec<DistributionPoint>> {
    Ok(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![uri(url)?])),
        reasons: None,
        crl_issuer: None,
    }])
}

fn revocation_exts(
    urls: &RevocationUrls,
    out: &mut Vec<Extension>,
) -> x509_cert::builder::Result<()> {
    if let Some(url) = &urls.crl {
        out.push(ext(&CrlDistributionPoints(dist_point(url)?), false)?);
    }
    if let Some(url) = &urls.delta_crl {
        out.push(ext(&FreshestCrl(dist_point(url)?), false)?);
    }
    Ok(())
}

fn key_id(spk: SubjectPublicKeyInfoRef<'_>) -> x509_cert::builder::Result<OctetString> {
    use sha1::{Digest, Sha1};
    Ok(OctetString::new(
        Sha1::digest(spk.subject_public_key.raw_bytes()).to_vec(),
    )?)
}

impl x509_cert::builder::profile::BuilderProfile for BoundProfile<'_> {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.profile.subject().clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut out = Vec::new();
        let (ca, path_len) = match self.profile {
            Profile::Ca { path_len, .. } => (true, *path_len),
            _ => (false, None),
        };
        out.push(ext(
            &BasicConstraints {
                ca,
                path_len_constraint: path_len,
            },
            true,
        )?);
        let usages = match self.profile {
            Profile::Ca { .. } => KeyUsages::KeyCertSign | KeyUsages::CRLSign,
            Profile::SmimeSigning(_) => KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
            Profile::SmimeEncryption(_) => KeyUsages::KeyEncipherment | KeyUsages::DataEncipherment,
            Profile::TlsServer { .. } => KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment,
        };
        out.push(ext(&KeyUsage(usages), true)?);
        out.push(ext(&SubjectKeyIdentifier(key_id(spk)?), false)?);
        out.push(ext(
            &AuthorityKeyIdentifier {
                key_identifier: Some(key_id(issuer_spk)?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
            false,
        )?);
        match self.profile {
            Profile::Ca { .. } => {}
            Profile::SmimeSigning(s) | Profile::SmimeEncryption(s) => {
                out.push(ext(
                    &ExtendedKeyUsage(vec![oid::KP_EMAIL_PROTECTION]),
                    false,
                )?);
                out.push(ext(
                    &SubjectAltName(vec![GeneralName::Rfc822Name(Ia5String::new(&s.email)?)]),
                    false,
                )?);
                revocation_exts(&s.revocation, &mut out)?;
                let caps: SmimeCapabilities =
                    s.capabilities.iter().map(|a| a.capability()).collect();
                out.push(Extension {
                    extn_id: oid::SMIME_CAPABILITIES,
                    critical: false,
                    extn_value: OctetString::new(caps.to_der()?)?,
                });
            }
            Profile::TlsServer {
                dns_names,
                ip_addresses,
                revocation,
                ..
            } => {
                out.push(ext(&ExtendedKeyUsage(vec![oid::KP_SERVER_AUTH]), false)?);
                let mut names = Vec::new();
                for d in dns_names {
                    names.push(GeneralName::DnsName(Ia5String::new(d)?));
                }
                for ip in ip_addresses {
                    names.push(GeneralName::IpAddress(OctetString::new(ip.clone())?));
                }
                out.push(ext(&SubjectAltName(names), false)?);
                revocation_exts(revocation, &mut out)?;
            }
        }
        Ok(out)
    }
}
