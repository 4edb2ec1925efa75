//! CRLs we build, checked by `openssl crl` and `openssl verify -crl_check`; CRLs OpenSSL
//! makes with `openssl ca -gencrl`, read by us.

use pki::crl::{Crl, CrlBuilder, CrlEntry, RevocationReason};

use crate::support::*;

fn serial(cert: &pki::Certificate) -> Vec<u8> {
    cert.tbs_certificate().serial_number().as_bytes().to_vec()
}

#[test]
fn revoked_certificate_fails_crl_check_and_the_other_passes() {
    let ca = test_ca();
    let (alice_sign, _) = user_certs(&ca, "alice");
    let (bob_sign, _) = user_certs(&ca, "bob");
    let mut b = CrlBuilder::new(7, now(), now() + days(7))
        .unwrap()
        .freshest_crl("http://ca.example.test/crl/delta");
    b.add(&CrlEntry {
        serial: serial(&bob_sign),
        revoked_at: now() - days(1),
        reason: RevocationReason::KeyCompromise,
    })
    .unwrap();
    let crl_der = b.sign(&ca).unwrap();

    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "ca.pem", ca.certificate());
    write_pem_cert(d, "alice.pem", &alice_sign);
    write_pem_cert(d, "bob.pem", &bob_sign);
    write(d, "crl.der", &crl_der);
    openssl_ok(
        d,
        &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"],
    );
    // The CRL signature verifies against the CA.
    let out = openssl_ok(d, &["crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("verify OK"),
        "{out:?}"
    );
    let text =
        String::from_utf8(openssl_ok(d, &["crl", "-in", "crl.pem", "-noout", "-text"]).stdout)
            .unwrap();
    assert!(text.contains("Version 2"), "{text}");
    assert!(text.contains("X509v3 CRL Number"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(text.contains("Freshest CRL"), "{text}");
    let at = attime();
    openssl_ok(
        d,
        &[
            "verify",
            "-attime",
            &at,
            "-crl_check",
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            "crl.pem",
            "alice.pem",
        ],
    );
    let refused = openssl_fails(
        d,
        &[
            "verify",
            "-attime",
            &at,
            "-crl_check",
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            "crl.pem",
            "bob.pem",
        ],
    );
    assert!(refused.contains("certificate revoked"), "{refused}");
    // After nextUpdate OpenSSL calls the CRL expired.
    let late = (NOW_UNIX + 8 * 86_400).to_string();
    let stale = openssl_fails(
        d,
        &[
            "verify",
            "-attime",
            &late,
            "-crl_check",
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            "crl.pem",
            "alice.pem",
        ],
    );
    assert!(stale.contains("CRL has expired"), "{stale}");

    // And we read back what we wrote.
    let crl = Crl::parse(&crl_der).unwrap();
    crl.verify_signature(ca.certificate()).unwrap();
    assert_eq!(crl.number(), Some(7));
    assert_eq!(crl.len(), 1);
    let r = crl.lookup(&serial(&bob_sign)).unwrap();
    assert_eq!(r.reason, RevocationReason::KeyCompromise);
    assert_eq!(r.revoked_at, now() - days(1));
    assert!(crl.lookup(&serial(&alice_sign)).is_none());
    // A CRL is not accepted against another CA's certificate.
    let other = pki::Issuer::self_signed(
        key("ca2-4096"),
        &pki::Profile::Ca {
            subject: name("CN=KMS Test CA,O=Example Org,C=GB"),
            path_len: None,
        },
        one_year(),
        pki::DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    )
    .unwrap();
    assert_eq!(
        crl.verify_signature(other.certificate())
            .unwrap_err()
            .code(),
        "PKI-020"
    );
}

#[test]
fn every_reason_round_trips_through_openssl() {
    let ca = test_ca();
    let mut b = CrlBuilder::new(1, now(), now() + days(1)).unwrap();
    let reasons = RevocationReason::OPERATOR_REASONS;
    for (i, reason) in reasons.iter().enumerate() {
        b.add(&CrlEntry {
            serial: vec![0x10, i as u8 + 1],
            revoked_at: now(),
            reason: *reason,
        })
        .unwrap();
    }
    let der = b.sign(&ca).unwrap();
    let dir = tempdir();
    write(dir.path(), "crl.der", &der);
    let text = String::from_utf8(
        openssl_ok(
            dir.path(),
            &["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"],
        )
        .stdout,
    )
    .unwrap();
    for label in [
        "Key Compromise",
        "CA Compromise",
        "Affiliation Changed",
        "Superseded",
        "Cessation Of Operation",
        "Certificate Hold",
        "Privilege Withdrawn",
    ] {
        assert!(text.contains(label), "{label} missing in {text}");
    }
    // unspecified is written as an entry without a reason code (RFC 5280 §5.3.1).
    assert!(!text.contains("Unspecified"), "{text}");
    let crl = Crl::parse(&der).unwrap();
    for (i, reason) in reasons.iter().enumerate() {
        assert_eq!(crl.lookup(&[0x10, i as u8 + 1]).unwrap().reason, *reason);
    }
}

#[test]
fn delta_crl_carries_the_delta_indicator() {
    let ca = test_ca();
    let mut b = CrlBuilder::new(12, now(), now() + days(1))
        .unwrap()
        .delta_of(10)
        .unwrap();
    b.add(&CrlEntry {
        serial: vec![0x55; 17],
        revoked_at: now(),
        reason: RevocationReason::Superseded,
    })
    .unwrap();
    let der = b.sign(&ca).unwrap();
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "ca.pem", ca.certificate());
    write(d, "delta.der", &der);
    let out = openssl_ok(
        d,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "delta.der",
            "-CAfile",
            "ca.pem",
            "-noout",
            "-text",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("X509v3 Delta CRL Indicator: critical"),
        "{text}"
    );
    assert!(text.contains("Superseded"), "{text}");
    let crl = Crl::parse(&der).unwrap();
    assert_eq!((crl.number(), crl.delta_base()), (Some(12), Some(10)));
}

#[test]
fn empty_crl_is_valid_and_large_crl_round_trips() {
    let ca = test_ca();
    let der = CrlBuilder::new(1, now(), now() + days(1))
        .unwrap()
        .sign(&ca)
        .unwrap();
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "ca.pem", ca.certificate());
    write(d, "empty.der", &der);
    openssl_ok(
        d,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "empty.der",
            "-CAfile",
            "ca.pem",
            "-noout",
        ],
    );
    assert!(Crl::parse(&der).unwrap().is_empty());

    let n = 20_000u32;
    let mut b = CrlBuilder::new(2, now(), now() + days(1)).unwrap();
    b.reserve(n as usize);
    for i in 1..=n {
        let mut s = vec![0x7a; 16];
        s.extend_from_slice(&i.to_be_bytes());
        b.add(&CrlEntry {
            serial: s,
            revoked_at: now(),
            reason: RevocationReason::CessationOfOperation,
        })
        .unwrap();
    }
    assert_eq!(b.len(), n as usize);
    let der = b.sign(&ca).unwrap();
    write(d, "big.der", &der);
    openssl_ok(
        d,
        &[
            "crl", "-inform", "DER", "-in", "big.der", "-CAfile", "ca.pem", "-noout",
        ],
    );
    let crl = Crl::parse(&der).unwrap();
    crl.verify_signature(ca.certificate()).unwrap();
    assert_eq!(crl.len(), n as usize);
    // The number is read without decoding the entries, with or without any.
    assert_eq!(pki::crl::peek_number(&der), Some(2));
    let empty = CrlBuilder::new(9, now(), now() + days(1))
        .unwrap()
        .sign(&ca)
        .unwrap();
    assert_eq!(pki::crl::peek_number(&empty), Some(9));
    assert_eq!(pki::crl::peek_number(&der[..der.len() / 2]), None);
    assert_eq!(pki::crl::peek_number(b"not a CRL"), None);
}

#[test]
fn crl_made_by_openssl_ca_parses() {
    let dir = tempdir();
    let d = dir.path();
    let ca_key = keys_dir().join("ca2-4096.key.pem");
    std::fs::write(d.join("ca.cnf"), "[ca]\ndefault_ca=c\n[c]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ncrlnumber=crlnumber\ndefault_md=sha256\ndefault_days=30\ndefault_crl_days=7\npolicy=p\n[p]\ncommonName=supplied\n[crl_ext]\nauthorityKeyIdentifier=keyid:always\n[v3_ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n").unwrap();
    std::fs::write(d.join("index.txt"), "").unwrap();
    std::fs::write(d.join("serial"), "1000\n").unwrap();
    std::fs::write(d.join("crlnumber"), "05\n").unwrap();
    let k = ca_key.to_str().unwrap();
    openssl_ok(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            k,
            "-subj",
            "/CN=OpenSSL CA",
            "-days",
            "30",
            "-config",
            "ca.cnf",
            "-extensions",
            "v3_ca",
            "-out",
            "ca.pem",
        ],
    );
    openssl_ok(
        d,
        &[
            "req",
            "-new",
            "-key",
            keys_dir().join("carol-sign.key.pem").to_str().unwrap(),
            "-subj",
            "/CN=carol",
            "-out",
            "carol.csr",
        ],
    );
    openssl_ok(
        d,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            k,
            "-in",
            "carol.csr",
            "-out",
            "carol.pem",
        ],
    );
    openssl_ok(
        d,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            k,
            "-revoke",
            "carol.pem",
            "-crl_reason",
            "affiliationChanged",
        ],
    );
    openssl_ok(
        d,
        &[
            "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", k, "-gencrl",
            "-crlexts", "crl_ext", "-out", "crl.pem",
        ],
    );
    let crl = Crl::parse(&std::fs::read(d.join("crl.pem")).unwrap()).unwrap();
    let ca =
        pki::certificate::parse_certificate(&std::fs::read(d.join("ca.pem")).unwrap()).unwrap();
    let carol =
        pki::certificate::parse_certificate(&std::fs::read(d.join("carol.pem")).unwrap()).unwrap();
    crl.verify_signature(&ca).unwrap();
    assert_eq!(crl.number(), Some(5));
    assert_eq!(
        crl.lookup(&serial(&carol)).unwrap().reason,
        RevocationReason::AffiliationChanged
    );
}

#[test]
fn bad_crl_input_gives_typed_errors() {
    let ca = test_ca();
    let mut b = CrlBuilder::new(3, now(), now() + days(1)).unwrap();
    b.add(&CrlEntry {
        serial: vec![1, 2, 3],
        revoked_at: now(),
        reason: RevocationReason::KeyCompromise,
    })
    .unwrap();
    let der = b.sign(&ca).unwrap();
    for n in 0..der.len() {
        assert!(Crl::parse(&der[..n]).is_err(), "truncated at {n}");
    }
    // A flipped byte in the entry: parses or not, but never verifies.
    let mut t = der.clone();
    let i = der.windows(3).position(|w| w == [1, 2, 3]).unwrap();
    t[i + 2] ^= 0xff;
    let crl = Crl::parse(&t).unwrap();
    assert_eq!(
        crl.verify_signature(ca.certificate()).unwrap_err().code(),
        "PKI-020"
    );
    let pem = String::from_utf8(openssl_ok(tempdir().path(), &["version"]).stdout).unwrap();
    assert!(!pem.is_empty());
    let e =
        Crl::parse(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap_err();
    assert_eq!(e.code(), "PKI-003", "{e}");
    // An invalid serial (empty) is refused by the builder.
    let mut b = CrlBuilder::new(4, now(), now() + days(1)).unwrap();
    assert!(
        b.add(&CrlEntry {
            serial: vec![],
            revoked_at: now(),
            reason: RevocationReason::Unspecified
        })
        .is_err()
    );
}
