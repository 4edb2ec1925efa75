//! Certificate revocation lists (RFC 5280 §5): building full and delta CRLs in time linear
//! in the number of entries and memory proportional to their encoded size, and reading CRLs
//! (ours or anyone's) with their signature check and a serial-number index.

use core::fmt;
use core::str::FromStr;
use std::collections::HashMap;
use std::time::SystemTime;

use der::asn1::{BitString, OctetString, Uint};
use der::oid::AssociatedOid;
use der::{Decode, Encode, Header, Length, Tag, TagNumber};
use x509_cert::Certificate;
use x509_cert::certificate::Version;
use x509_cert::crl::{CertificateList, RevokedCert};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::crl::{BaseCrlNumber, CrlNumber};
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlDistributionPoints, CrlReason, FreshestCrl};
use x509_cert::serial_number::SerialNumber;

use crate::algorithms::DigestAlgorithm;
use crate::certificate::{self, Issuer};
use crate::encoding::{self, MAX_CRL_SIZE, rfc5280_time};
use crate::error::{Error, Result};

/// Why a certificate was revoked, by its RFC 5280 name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RevocationReason {
    /// unspecified (0): written as an entry without a reasonCode, as RFC 5280 §5.3.1 asks.
    #[default]
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6).
    CertificateHold,
    /// removeFromCRL (8): only in delta CRLs, for a hold that was released.
    RemoveFromCrl,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
    /// aACompromise (10).
    AaCompromise,
}

impl RevocationReason {
    /// The reasons an operator may give (the contract of `docs/CONTRACTS.md`).
    pub const OPERATOR_REASONS: [RevocationReason; 8] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
    ];

    const ALL: [RevocationReason; 10] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::RemoveFromCrl,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// The RFC 5280 name (`keyCompromise`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "caCompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::RemoveFromCrl => "removeFromCRL",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
            RevocationReason::AaCompromise => "aaCompromise",
        }
    }

    fn to_x509(self) -> CrlReason {
        match self {
            RevocationReason::Unspecified => CrlReason::Unspecified,
            RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
            RevocationReason::CaCompromise => CrlReason::CaCompromise,
            RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
            RevocationReason::Superseded => CrlReason::Superseded,
            RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
            RevocationReason::CertificateHold => CrlReason::CertificateHold,
            RevocationReason::RemoveFromCrl => CrlReason::RemoveFromCRL,
            RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
            RevocationReason::AaCompromise => CrlReason::AaCompromise,
        }
    }

    fn from_x509(r: CrlReason) -> Self {
        Self::ALL
            .into_iter()
            .find(|x| x.to_x509() == r)
            .unwrap_or_default()
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RevocationReason {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::Invalid {
                what: "revocation reason",
                why: format!(
                    "\"{s}\" is not one of {}",
                    Self::OPERATOR_REASONS.map(|r| r.name()).join(", ")
                ),
            })
    }
}

/// One revoked certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlEntry {
    /// The certificate's serial number, big-endian, without leading zero bytes.
    pub serial: Vec<u8>,
    /// When it was revoked.
    pub revoked_at: SystemTime,
    /// Why.
    pub reason: RevocationReason,
}

/// Builds a CRL. Entries are encoded as they are added, so memory is the encoded list
/// (about 40 bytes an entry) and the time is one pass over the entries.
#[derive(Debug)]
pub struct CrlBuilder {
    number: u64,
    this_update: SystemTime,
    next_update: SystemTime,
    delta_base: Option<u64>,
    freshest_crl: Option<String>,
    entries: Vec<u8>,
    count: usize,
}

impl CrlBuilder {
    /// A CRL with sequence number `number`, issued at `this_update`, whose successor will be
    /// issued by `next_update`.
    pub fn new(number: u64, this_update: SystemTime, next_update: SystemTime) -> Result<Self> {
        if next_update <= this_update {
            return Err(Error::Invalid {
                what: "CRL nextUpdate",
                why: "it is not after thisUpdate".into(),
            });
        }
        Ok(Self {
            number,
            this_update,
            next_update,
            delta_base: None,
            freshest_crl: None,
            entries: Vec::new(),
            count: 0,
        })
    }

    /// Makes this a delta CRL against the full CRL numbered `base` (delta CRL indicator,
    /// RFC 5280 §5.2.4).
    pub fn delta_of(mut self, base: u64) -> Result<Self> {
        if base >= self.number {
            return Err(Error::Invalid {
                what: "delta CRL base",
                why: format!("base CRL {base} is not older than this CRL {}", self.number),
            });
        }
        self.delta_base = Some(base);
        Ok(self)
    }

    /// Points relying parties to the delta CRL at `url` (freshest CRL, RFC 5280 §5.2.6).
    pub fn freshest_crl(mut self, url: impl Into<String>) -> Self {
        self.freshest_crl = Some(url.into());
        self
    }

    /// Reserves room for `n` more entries.
    pub fn reserve(&mut self, n: usize) {
        self.entries.reserve(n.saturating_mul(40));
    }

    /// Adds one entry.
    pub fn add(&mut self, entry: &CrlEntry) -> Result<()> {
        let significant = strip_zeros(&entry.serial);
        if significant.is_empty() || significant.len() > 20 {
            return Err(Error::Invalid {
                what: "CRL entry serial",
                why: "a serial number is a positive integer of at most 20 octets".into(),
            });
        }
        let serial: SerialNumber =
            SerialNumber::new(significant).map_err(Error::der("CRL entry serial"))?;
        let extensions = match entry.reason {
            RevocationReason::Unspecified => None,
            reason => Some(vec![Extension {
                extn_id: CrlReason::OID,
                critical: false,
                extn_value: OctetString::new(
                    reason
                        .to_x509()
                        .to_der()
                        .map_err(Error::der("CRL reason"))?,
                )
                .map_err(Error::der("CRL reason"))?,
            }]),
        };
        let revoked = RevokedCert {
            serial_number: serial,
            revocation_date: rfc5280_time(entry.revoked_at)?,
            crl_entry_extensions: extensions,
        };
        revoked
            .encode_to_vec(&mut self.entries)
            .map_err(Error::der("CRL entry"))?;
        self.count += 1;
        Ok(())
    }

    /// Number of entries added.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no entry was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Signs the CRL with `issuer` and returns its DER.
    pub fn sign(self, issuer: &Issuer) -> Result<Vec<u8>> {
        let ca = issuer.certificate();
        let signer = issuer.signer();
        let alg = signer.algorithm_identifier();
        let aki_id = ca_key_id(ca)?;

        let mut exts: Vec<Extension> = Vec::new();
        let push = |exts: &mut Vec<Extension>, oid, critical, value: Vec<u8>| -> Result<()> {
            exts.push(Extension {
                extn_id: oid,
                critical,
                extn_value: OctetString::new(value).map_err(Error::der("CRL extension"))?,
            });
            Ok(())
        };
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(aki_id).map_err(Error::der("CRL AKI"))?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        push(
            &mut exts,
            AuthorityKeyIdentifier::OID,
            false,
            aki.to_der().map_err(Error::der("CRL AKI"))?,
        )?;
        let number =
            CrlNumber(Uint::new(&self.number.to_be_bytes()).map_err(Error::der("CRL number"))?);
        push(
            &mut exts,
            CrlNumber::OID,
            false,
            number.to_der().map_err(Error::der("CRL number"))?,
        )?;
        if let Some(base) = self.delta_base {
            let base =
                BaseCrlNumber(Uint::new(&base.to_be_bytes()).map_err(Error::der("CRL number"))?);
            push(
                &mut exts,
                BaseCrlNumber::OID,
                true,
                base.to_der().map_err(Error::der("CRL number"))?,
            )?;
        }
        if let Some(url) = &self.freshest_crl {
            let dp = FreshestCrl(vec![DistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![
                    GeneralName::UniformResourceIdentifier(
                        der::asn1::Ia5String::new(url).map_err(|_| Error::Invalid {
                            what: "freshest CRL URL",
                            why: "not ASCII".into(),
                        })?,
                    ),
                ])),
                reasons: None,
                crl_issuer: None,
            }]);
            push(
                &mut exts,
                FreshestCrl::OID,
                false,
                dp.to_der().map_err(Error::der("freshest CRL"))?,
            )?;
        }

        // TBSCertList, field by field; the revoked list is already encoded.
        let d = Error::der("CRL");
        let mut body = Vec::with_capacity(self.entries.len() + 1024);
        Version::V2
            .encode_to_vec(&mut body)
            .map_err(Error::der("CRL"))?;
        alg.encode_to_vec(&mut body).map_err(Error::der("CRL"))?;
        ca.tbs_certificate()
            .subject()
            .encode_to_vec(&mut body)
            .map_err(Error::der("CRL"))?;
        rfc5280_time(self.this_update)?
            .encode_to_vec(&mut body)
            .map_err(Error::der("CRL"))?;
        rfc5280_time(self.next_update)?
            .encode_to_vec(&mut body)
            .map_err(Error::der("CRL"))?;
        if self.count > 0 {
            header(Tag::Sequence, self.entries.len())?
                .encode_to_vec(&mut body)
                .map_err(Error::der("CRL"))?;
            body.extend_from_slice(&self.entries);
        }
        drop(self.entries);
        let ext_der = exts.to_der().map_err(Error::der("CRL extensions"))?;
        header(
            Tag::ContextSpecific {
                constructed: true,
                number: TagNumber(0),
            },
            ext_der.len(),
        )?
        .encode_to_vec(&mut body)
        .map_err(Error::der("CRL"))?;
        body.extend_from_slice(&ext_der);

        let mut tbs = Vec::with_capacity(body.len() + 8);
        header(Tag::Sequence, body.len())?
            .encode_to_vec(&mut tbs)
            .map_err(d)?;
        tbs.extend_from_slice(&body);
        drop(body);

        let signature = issuer.signing_key().sign(issuer.digest(), &tbs)?;
        let sig_bits = BitString::from_bytes(&signature).map_err(Error::der("CRL signature"))?;

        let mut tail = Vec::new();
        alg.encode_to_vec(&mut tail).map_err(Error::der("CRL"))?;
        sig_bits
            .encode_to_vec(&mut tail)
            .map_err(Error::der("CRL"))?;

        let mut out = Vec::with_capacity(tbs.len() + tail.len() + 8);
        header(Tag::Sequence, tbs.len() + tail.len())?
            .encode_to_vec(&mut out)
            .map_err(Error::der("CRL"))?;
        out.extend_from_slice(&tbs);
        out.extend_from_slice(&tail);
        Ok(out)
    }
}

fn header(tag: Tag, len: usize) -> Result<Header> {
    let length = Length::try_from(len).map_err(Error::der("CRL length"))?;
    Ok(Header::new(tag, length))
}

/// The issuer's subjectKeyIdentifier, or the RFC 5280 method (1) identifier of its key.
fn ca_key_id(ca: &Certificate) -> Result<Vec<u8>> {
    let info = certificate::CertificateInfo::from_certificate(ca)?;
    match info.subject_key_id {
        Some(id) => Ok(id),
        None => Ok(certificate::public_key(ca)?.key_identifier()?.to_vec()),
    }
}

/// The CRL number of the DER CRL `der`, read without decoding its entries (the revoked list
/// is skipped by its length, so this is constant time in the number of entries); None when
/// the CRL has none or `der` is not a CRL. For checking which CRL is served; use
/// [`Crl::parse`] to rely on anything in it.
pub fn peek_number(der: &[u8]) -> Option<u64> {
    use der::{Reader, SliceReader};
    let mut outer = SliceReader::new(der).ok()?;
    let list = Header::decode(&mut outer).ok()?;
    if list.tag() != Tag::Sequence {
        return None;
    }
    let tbs_header = Header::decode(&mut outer).ok()?;
    if tbs_header.tag() != Tag::Sequence {
        return None;
    }
    let mut tbs = SliceReader::new(outer.read_slice(tbs_header.length()).ok()?).ok()?;
    let extensions_tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    };
    while !tbs.is_finished() {
        let h = Header::decode(&mut tbs).ok()?;
        let body = tbs.read_slice(h.length()).ok()?;
        if h.tag() == extensions_tag {
            let exts = Vec::<Extension>::from_der(body).ok()?;
            let ext = exts.iter().find(|e| e.extn_id == CrlNumber::OID)?;
            let n = CrlNumber::from_der(ext.extn_value.as_bytes()).ok()?;
            return uint_to_u64(&n.0);
        }
    }
    None
}

/// What a CRL says about one revoked serial number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// When it was revoked.
    pub revoked_at: SystemTime,
    /// Why.
    pub reason: RevocationReason,
}

/// A parsed CRL with an index by serial number.
#[derive(Clone, Debug)]
pub struct Crl {
    list: CertificateList,
    index: HashMap<Vec<u8>, Revocation>,
    number: Option<u64>,
    delta_base: Option<u64>,
    unknown_critical: Option<String>,
}

const CRL_LABELS: &[&str] = &["X509 CRL"];

impl Crl {
    /// The http(s) URLs of this CRL's freshest CRL extension (where its delta CRLs are).
    pub fn freshest_urls(&self) -> Vec<String> {
        let exts = self.list.tbs_cert_list.crl_extensions.iter().flatten();
        let mut out = Vec::new();
        for ext in exts.filter(|e| e.extn_id == FreshestCrl::OID) {
            if let Ok(dps) = FreshestCrl::from_der(ext.extn_value.as_bytes()) {
                push_urls(&dps.0, &mut out);
            }
        }
        out
    }

    /// Reads a CRL from PEM (`X509 CRL`) or DER.
    pub fn parse(input: &[u8]) -> Result<Self> {
        Self::parse_with(input, true)
    }

    /// Reads a CRL like [`Crl::parse`], but keeps a CRL that carries an unknown critical
    /// extension (on the CRL or on an entry) instead of refusing it, and records the first
    /// one in [`Crl::unknown_critical_extension`]. Such a CRL must not be used to decide
    /// anything (RFC 5280 §5.2, §5.3); a path validator reads it this way only to say *why*
    /// the revocation status is unknown.
    pub fn parse_lenient(input: &[u8]) -> Result<Self> {
        Self::parse_with(input, false)
    }

    fn parse_with(input: &[u8], strict: bool) -> Result<Self> {
        let mut unknown_critical = None;
        let der_bytes = encoding::der_or_pem("CRL", input, MAX_CRL_SIZE, CRL_LABELS, "X509 CRL")?;
        let list = CertificateList::from_der(&der_bytes).map_err(Error::der("CRL"))?;
        let mut number = None;
        let mut delta_base = None;
        for ext in list.tbs_cert_list.crl_extensions.iter().flatten() {
            if ext.extn_id == CrlNumber::OID {
                let n = CrlNumber::from_der(ext.extn_value.as_bytes())
                    .map_err(Error::der("CRL number"))?;
                number = uint_to_u64(&n.0);
            } else if ext.extn_id == BaseCrlNumber::OID {
                let n = BaseCrlNumber::from_der(ext.extn_value.as_bytes())
                    .map_err(Error::der("delta CRL indicator"))?;
                delta_base = Some(uint_to_u64(&n.0).ok_or(Error::Invalid {
                    what: "delta CRL indicator",
                    why: "base CRL number too large".into(),
                })?);
            } else if ext.critical {
                let why = format!("unknown critical extension {}", ext.extn_id);
                if strict {
                    return Err(Error::Invalid { what: "CRL", why });
                }
                unknown_critical.get_or_insert(why);
            }
        }
        let revoked = list
            .tbs_cert_list
            .revoked_certificates
            .as_deref()
            .unwrap_or(&[]);
        let mut index = HashMap::with_capacity(revoked.len());
        for rc in revoked {
            let mut reason = RevocationReason::Unspecified;
            for ext in rc.crl_entry_extensions.iter().flatten() {
                if ext.extn_id == CrlReason::OID {
                    let r = CrlReason::from_der(ext.extn_value.as_bytes())
                        .map_err(Error::der("CRL entry reason"))?;
                    reason = RevocationReason::from_x509(r);
                } else if ext.critical {
                    let why = format!("unknown critical entry extension {}", ext.extn_id);
                    if strict {
                        return Err(Error::Invalid {
                            what: "CRL entry",
                            why: why.replacen("entry ", "", 1),
                        });
                    }
                    unknown_critical.get_or_insert(why);
                }
            }
            index.insert(
                strip_zeros(rc.serial_number.as_bytes()).to_vec(),
                Revocation {
                    revoked_at: rc.revocation_date.to_system_time(),
                    reason,
                },
            );
        }
        Ok(Self {
            list,
            index,
            number,
            delta_base,
            unknown_critical,
        })
    }

    /// Checks the CRL's signature against `issuer`'s key and that `issuer` is the CRL's
    /// issuer by name.
    pub fn verify_signature(&self, issuer: &Certificate) -> Result<()> {
        if self.list.tbs_cert_list.issuer != *issuer.tbs_certificate().subject() {
            return Err(Error::Invalid {
                what: "CRL issuer",
                why: format!(
                    "the CRL is issued by \"{}\", not by \"{}\"",
                    self.list.tbs_cert_list.issuer,
                    issuer.tbs_certificate().subject()
                ),
            });
        }
        let digest = DigestAlgorithm::from_rsa_signature_oid(&self.list.signature_algorithm.oid)?;
        let tbs = self
            .list
            .tbs_cert_list
            .to_der()
            .map_err(Error::der("CRL"))?;
        let sig = self
            .list
            .signature
            .as_bytes()
            .ok_or(Error::BadSignature("CRL"))?;
        certificate::public_key(issuer)?.verify(digest, &tbs, sig, "CRL")
    }

    /// Whether `serial` (big-endian bytes) is listed, and how.
    pub fn lookup(&self, serial: &[u8]) -> Option<Revocation> {
        self.index.get(strip_zeros(serial)).copied()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The CRL number, if present and small enough for a u64.
    pub fn number(&self) -> Option<u64> {
        self.number
    }

    /// For a delta CRL, the number of its base CRL.
    pub fn delta_base(&self) -> Option<u64> {
        self.delta_base
    }

    /// The issuer's DN in RFC 4514 form.
    pub fn issuer(&self) -> String {
        self.list.tbs_cert_list.issuer.to_string()
    }

    /// thisUpdate.
    pub fn this_update(&self) -> SystemTime {
        self.list.tbs_cert_list.this_update.to_system_time()
    }

    /// nextUpdate, if present.
    pub fn next_update(&self) -> Option<SystemTime> {
        self.list
            .tbs_cert_list
            .next_update
            .map(|t| t.to_system_time())
    }

    /// The first unknown critical extension of a CRL read with [`Crl::parse_lenient`]
    /// (always `None` for [`Crl::parse`], which refuses such CRLs).
    pub fn unknown_critical_extension(&self) -> Option<&str> {
        self.unknown_critical.as_deref()
    }

    /// The issuer's distinguished name as it is encoded.
    pub fn issuer_name(&self) -> &x509_cert::name::Name {
        &self.list.tbs_cert_list.issuer
    }

    /// The decoded CRL, for checks this type does not make itself (a signature by a DSA
    /// key, exact serial-number comparison).
    pub fn certificate_list(&self) -> &CertificateList {
        &self.list
    }

    /// Every entry (in no particular order).
    pub fn entries(&self) -> impl Iterator<Item = CrlEntry> + '_ {
        self.index.iter().map(|(serial, r)| CrlEntry {
            serial: serial.clone(),
            revoked_at: r.revoked_at,
            reason: r.reason,
        })
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[start..]
}

fn uint_to_u64(u: &Uint) -> Option<u64> {
    let b = strip_zeros(u.as_bytes());
    if b.len() > 8 {
        return None;
    }
    let mut buf = [0u8; 8];
    buf[8 - b.len()..].copy_from_slice(b);
    Some(u64::from_be_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_round_trip() {
        for r in RevocationReason::ALL {
            assert_eq!(r.name().parse::<RevocationReason>().unwrap(), r);
            assert_eq!(RevocationReason::from_x509(r.to_x509()), r);
        }
        let e = "stolen".parse::<RevocationReason>().unwrap_err();
        assert!(e.to_string().contains("keyCompromise"), "{e}");
    }

    #[test]
    fn bad_periods_and_bases_are_refused() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600);
        assert!(CrlBuilder::new(1, t, t).is_err());
        let b = CrlBuilder::new(5, t, t + std::time::Duration::from_secs(60)).unwrap();
        assert!(b.delta_of(5).is_err());
    }
}

/// Where a certificate says its issuer's CRLs are: the http(s) URLs of its CRL distribution
/// points and of its freshest CRL (delta CRLs) extensions. Malformed extensions are ignored
/// (these URLs are only hints of where to fetch; what is fetched is checked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DistributionUrls {
    /// CRL distribution points (full CRLs).
    pub full: Vec<String>,
    /// Freshest CRL (delta CRLs).
    pub delta: Vec<String>,
}

/// The [`DistributionUrls`] of `cert`.
pub fn distribution_urls(cert: &Certificate) -> DistributionUrls {
    let mut out = DistributionUrls::default();
    for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
        if ext.extn_id == CrlDistributionPoints::OID {
            if let Ok(dps) = CrlDistributionPoints::from_der(ext.extn_value.as_bytes()) {
                push_urls(&dps.0, &mut out.full);
            }
        } else if ext.extn_id == FreshestCrl::OID
            && let Ok(dps) = FreshestCrl::from_der(ext.extn_value.as_bytes())
        {
            push_urls(&dps.0, &mut out.delta);
        }
    }
    out
}

fn push_urls(dps: &[DistributionPoint], out: &mut Vec<String>) {
    for dp in dps {
        if let Some(DistributionPointName::FullName(names)) = &dp.distribution_point {
            for name in names {
                if let GeneralName::UniformResourceIdentifier(uri) = name {
                    let u = uri.as_str();
                    let lower = u.to_ascii_lowercase();
                    if (lower.starts_with("http://") || lower.starts_with("https://"))
                        && !out.iter().any(|o| o == u)
                    {
                        out.push(u.to_string());
                    }
                }
            }
        }
    }
}
