//! Reading PEM or DER input defensively: size limits, expected labels, and errors that name
//! what was wrong. Every parser in this crate goes through here.

use crate::error::{Error, Result};

/// Largest certificate, request or key accepted (DER or PEM), in bytes.
pub const MAX_OBJECT_SIZE: usize = 64 * 1024;
/// Largest CRL accepted, in bytes (a million entries is about 40 MB of DER).
pub const MAX_CRL_SIZE: usize = 256 * 1024 * 1024;

/// Checks `input` against `limit`.
pub(crate) fn check_size(what: &'static str, input: &[u8], limit: usize) -> Result<()> {
    if input.len() > limit {
        return Err(Error::TooLarge {
            what,
            size: input.len(),
            limit,
        });
    }
    Ok(())
}

/// True when the input is PEM rather than DER: DER objects here all start with a SEQUENCE
/// tag (0x30); PEM may be preceded by explanatory text (RFC 7468 §5.2), as `openssl ca`
/// writes it.
pub(crate) fn looks_like_pem(input: &[u8]) -> bool {
    input.first() != Some(&0x30) && input.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Decodes one PEM block, checking its label is one of `labels`; returns (label, DER).
pub(crate) fn pem_decode(
    what: &'static str,
    input: &[u8],
    labels: &'static [&'static str],
    expected: &'static str,
) -> Result<(&'static str, Vec<u8>)> {
    let start = input
        .windows(11)
        .position(|w| w == b"-----BEGIN ")
        .ok_or_else(|| Error::Pem {
            what,
            detail: "no \"-----BEGIN\" line".into(),
        })?;
    let (label, der) = pem_rfc7468::decode_vec(&input[start..]).map_err(|e| Error::Pem {
        what,
        detail: e.to_string(),
    })?;
    match labels.iter().find(|l| **l == label) {
        Some(l) => Ok((l, der)),
        None => Err(Error::PemLabel {
            what,
            expected,
            found: label.to_string(),
        }),
    }
}

/// Returns the DER of `input`, decoding PEM with one of `labels` when the input is PEM.
pub(crate) fn der_or_pem(
    what: &'static str,
    input: &[u8],
    limit: usize,
    labels: &'static [&'static str],
    expected: &'static str,
) -> Result<Vec<u8>> {
    check_size(what, input, limit)?;
    if looks_like_pem(input) {
        Ok(pem_decode(what, input, labels, expected)?.1)
    } else {
        Ok(input.to_vec())
    }
}

/// Encodes DER as PEM with `label` and LF line endings.
pub(crate) fn pem_encode(label: &'static str, der: &[u8]) -> String {
    // Encoding to a String cannot fail for a valid label and in-memory buffer.
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der)
        .unwrap_or_else(|_| unreachable!("PEM encoding of an in-memory buffer"))
}

/// The RFC 5280 form of a time: UTCTime through 2049, GeneralizedTime from 2050 on
/// (§4.1.2.5 for certificates, §5.1.2.4 for CRLs). Sub-second parts are dropped.
pub fn rfc5280_time(t: std::time::SystemTime) -> Result<x509_cert::time::Time> {
    use der::asn1::{GeneralizedTime, UtcTime};
    let dt = der::DateTime::from_system_time(t).map_err(|e| Error::Invalid {
        what: "time",
        why: e.to_string(),
    })?;
    let time = if dt.year() < 2050 {
        x509_cert::time::Time::UtcTime(UtcTime::from_date_time(dt).map_err(Error::der("time"))?)
    } else {
        x509_cert::time::Time::GeneralTime(GeneralizedTime::from_date_time(dt))
    };
    Ok(time)
}
