//! Regression tests for the hostile CMS shapes of issue 15 (built by
//! `tests/hostile/shapes.rs`): each is refused by its own limit, with its own code, quickly
//! and without a tree of millions of nodes; messages at the limits are still checked.

use std::time::Instant;

use pki::signed::{self, MAX_CERTIFICATES, MAX_SIGNERS, SignerOutcome};
use pki::{Error, enveloped, smime};

use crate::support;

#[path = "../hostile/shapes.rs"]
mod shapes;

/// Alice's signing certificate (DER) from the test CA, and her public key (SPKI DER).
fn alice() -> (Vec<u8>, Vec<u8>) {
    let (cert, _) = support::user_certs(&support::test_ca(), "alice");
    (
        pki::certificate::to_der(&cert).unwrap(),
        support::key("alice-sign")
            .public_key()
            .to_spki_der()
            .unwrap(),
    )
}

fn code(r: pki::Result<signed::SignatureCheck>) -> &'static str {
    match r {
        Ok(c) => panic!(
            "expected an error, got a check of {} signers",
            c.signers.len()
        ),
        Err(e) => e.code(),
    }
}

#[test]
fn sixteen_thousand_signers_over_two_mib_are_refused_with_pki_090() {
    let (cert, _) = alice();
    let input = shapes::many_signers(&cert, 16_000, 2 * 1024 * 1024);
    let t = Instant::now();
    let err = signed::check(&input, None, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooManySigners {
                count: 16_000,
                limit: MAX_SIGNERS
            }
        ),
        "{err}"
    );
    assert_eq!(err.code(), "PKI-090");
    assert!(err.to_string().contains("16000 signers"), "{err}");
    // Before the limit this took tens of seconds; generous bound for a loaded test machine.
    assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());

    // The same message as received mail (application/pkcs7-mime) reaches the same limit.
    let mail = smime::pkcs7_mime(&[], smime::SmimeType::SignedData, &input).unwrap();
    let parsed = smime::parse(&mail).unwrap();
    let der = parsed.der.expect("the CMS body");
    assert_eq!(code(signed::check(&der, None, &[])), "PKI-090");
}

#[test]
fn six_hundred_and_fifty_v1_certificates_are_refused_with_pki_091() {
    let (_, spki) = alice();
    let input = shapes::many_ski_certificates(&spki, 650, 9_000);
    let err = signed::check(&input, None, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooManyCertificates {
                count: 650,
                limit: MAX_CERTIFICATES
            }
        ),
        "{err}"
    );
    assert_eq!(err.code(), "PKI-091");
    // Within the certificate limit, the 9 000 signers still hit theirs.
    let input = shapes::many_ski_certificates(&spki, MAX_CERTIFICATES, 9_000);
    assert_eq!(code(signed::check(&input, None, &[])), "PKI-090");
}

#[test]
fn messages_at_the_limits_are_checked_signer_by_signer() {
    let (cert, spki) = alice();
    // 256 v1 certificates, 64 signers named by a key identifier none of them has: every
    // signer is checked, none found (each certificate's identifier computed once).
    let input = shapes::many_ski_certificates(&spki, MAX_CERTIFICATES, MAX_SIGNERS);
    let check = signed::check(&input, None, &[]).unwrap();
    assert_eq!(check.certificates.len(), MAX_CERTIFICATES);
    assert_eq!(check.signers.len(), MAX_SIGNERS);
    assert!(
        check
            .signers
            .iter()
            .all(|s| matches!(s.outcome, SignerOutcome::CertificateNotFound))
    );
    // A v1 certificate (no SKI extension) is found by its computed key identifier.
    let v1 = shapes::v1_certificate(7, &spki);
    let v1 = <pki::Certificate as der::Decode>::from_der(&v1).unwrap();
    let id = pki::PublicKey::from_spki_der(&spki)
        .unwrap()
        .key_identifier()
        .unwrap();
    let mut ski_input = shapes::many_ski_certificates(&spki, 0, 1);
    // The generator's identifier is 0x00000000 then 0x77s: put the real one in its place.
    let mut generated = [0x77u8; 20];
    generated[..4].copy_from_slice(&0u32.to_be_bytes());
    let at = ski_input
        .windows(20)
        .position(|w| w == generated)
        .expect("the generated identifier");
    ski_input[at..at + 20].copy_from_slice(&id);
    let check = signed::check(&ski_input, None, std::slice::from_ref(&v1)).unwrap();
    assert_eq!(check.signers[0].certificate.as_ref(), Some(&v1));
    // Its signature is filler: the key was found, parsed and the signature refused.
    assert!(matches!(
        check.signers[0].outcome,
        SignerOutcome::Tampered(signed::Tamper::Signature)
    ));

    // 64 signers over 2 MiB: the content is hashed once; every messageDigest matches.
    let input = shapes::many_signers(&cert, MAX_SIGNERS, 2 * 1024 * 1024);
    let check = signed::check(&input, None, &[]).unwrap();
    assert_eq!(check.signers.len(), MAX_SIGNERS);
    assert!(check.signers.iter().all(|s| {
        s.certificate.is_some()
            && matches!(
                s.outcome,
                SignerOutcome::Tampered(signed::Tamper::Signature)
            )
    }));
    // One more signer is one too many.
    let input = shapes::many_signers(&cert, MAX_SIGNERS + 1, 1024);
    assert_eq!(code(signed::check(&input, None, &[])), "PKI-090");
}

#[test]
fn a_ber_sequence_of_32_mib_of_nulls_is_refused_with_pki_092() {
    let input = shapes::null_sequence(32 * 1024 * 1024);
    let t = Instant::now();
    let err = signed::check(&input, None, &[]).unwrap_err();
    assert!(
        matches!(err, Error::TooManyElements { limit, .. } if limit == pki::ber::MAX_ELEMENTS),
        "{err}"
    );
    assert_eq!(err.code(), "PKI-092");
    // Counting 16 million headers, not building 16 million nodes (9 s and 0.9 GB before).
    assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
    // Smaller, under the hard cap: the limit proportional to the size fires.
    let input = shapes::null_sequence(1024 * 1024);
    let err = signed::check(&input, None, &[]).unwrap_err();
    assert!(
        matches!(err, Error::TooManyElements { limit, .. }
            if limit == pki::ber::element_limit(input.len()) && limit < pki::ber::MAX_ELEMENTS),
        "{err}"
    );
    // The enveloped-data reader gives the same code.
    let err = enveloped::inspect(&shapes::null_sequence(32 * 1024 * 1024)).unwrap_err();
    assert_eq!(err.code(), "PKI-092", "{err}");
}

/// `cert` with the first byte of the value of the extension whose OID (content octets) is
/// `ext_oid` replaced by `byte`, re-signed by the test CA (the same length, so only the
/// signature changes).
fn corrupt_extension(cert: &pki::Certificate, ext_oid: &[u8], byte: u8) -> pki::Certificate {
    let mut der = pki::certificate::to_der(cert).unwrap();
    let mut oid = vec![0x06, ext_oid.len() as u8];
    oid.extend_from_slice(ext_oid);
    let at = der
        .windows(oid.len())
        .position(|w| w == oid)
        .expect("the extension")
        + oid.len();
    // Skip `critical` (01 01 ff) when present, then the OCTET STRING header (04 len).
    let at = if der[at] == 0x01 { at + 3 } else { at };
    assert_eq!(der[at], 0x04);
    let value = match der[at + 1] {
        l @ 0x81.. => at + 2 + usize::from(l & 0x7f),
        _ => at + 2,
    };
    der[value] = byte;
    // TBSCertificate: the first element inside the outer SEQUENCE (30 82 LL LL).
    let tbs_len = u16::from_be_bytes([der[6], der[7]]) as usize + 4;
    let tbs = der[4..4 + tbs_len].to_vec();
    let sig = support::key("ca-3072")
        .sign(pki::DigestAlgorithm::Sha256, &tbs)
        .unwrap();
    let n = der.len();
    der[n - sig.len()..].copy_from_slice(&sig);
    let cert = <pki::Certificate as der::Decode>::from_der(&der).unwrap();
    let ca = support::test_ca();
    pki::certificate::verify_signed_by(&cert, ca.certificate()).unwrap();
    cert
}

#[test]
fn a_malformed_non_critical_extension_is_reported_and_ignored_a_critical_one_is_fatal() {
    let (_, enc) = support::user_certs(&support::test_ca(), "bob");
    let good = pki::CertificateInfo::from_certificate(&enc).unwrap();
    assert!(good.warnings.is_empty());
    assert!(!good.capabilities.is_empty());

    // SMIMECapabilities (1.2.840.113549.1.9.15, non-critical): its SEQUENCE made a NULL.
    const SMIME_CAPS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0f];
    let broken = corrupt_extension(&enc, SMIME_CAPS, 0x05);
    let info = pki::CertificateInfo::from_certificate(&broken).unwrap();
    assert_eq!(info.warnings.len(), 1, "{:?}", info.warnings);
    assert!(
        info.warnings[0].contains("1.2.840.113549.1.9.15"),
        "{:?}",
        info.warnings
    );
    assert!(info.capabilities.is_empty());
    // The rest of the certificate is read as before: the key stays usable.
    assert_eq!(info.can_encrypt, good.can_encrypt);
    assert_eq!(info.emails, good.emails);
    // Encrypting to it works (no capabilities known).
    let recipient = pki::negotiation::Recipient::from_certificate("bob", &broken);
    assert!(recipient.is_ok(), "{:?}", recipient.err());

    // keyUsage (2.5.29.15) is critical in our profiles: malformed, the certificate is refused.
    let broken = corrupt_extension(&enc, &[0x55, 0x1d, 0x0f], 0x05);
    let err = pki::CertificateInfo::from_certificate(&broken).unwrap_err();
    assert_eq!(err.code(), "PKI-001", "{err}");
    assert!(err.to_string().contains("keyUsage"), "{err}");
}
