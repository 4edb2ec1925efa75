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
