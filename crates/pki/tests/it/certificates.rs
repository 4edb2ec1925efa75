//! Certificates we issue, checked by `openssl verify` and `openssl x509`; certificates
//! OpenSSL makes, read by us; bad input refused with typed errors.

use pki::certificate::{self, CertificateInfo, parse_certificate, parse_certificates};
use pki::{ContentAlgorithm, DigestAlgorithm, Issuer, Period, Profile};

use crate::support::*;

#[test]
fn openssl_accepts_both_user_certificates_for_their_purpose() {
    let ca = test_ca();
    let (sign, enc) = user_certs(&ca, "alice");
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "ca.pem", ca.certificate());
    write_pem_cert(d, "sign.pem", &sign);
    write_pem_cert(d, "enc.pem", &enc);
    let at = attime();
    openssl_ok(
        d,
        &[
            "verify",
            "-attime",
            &at,
            "-CAfile",
            "ca.pem",
            "-purpose",
            "smimesign",
            "sign.pem",
        ],
    );
    openssl_ok(
        d,
        &[
            "verify",
            "-attime",
            &at,
            "-CAfile",
            "ca.pem",
            "-purpose",
            "smimeencrypt",
            "enc.pem",
        ],
    );
    // And not the other way round: the key usages differ.
    openssl_fails(
        d,
        &[
            "verify",
            "-attime",
            &at,
            "-CAfile",
            "ca.pem",
            "-purpose",
            "smimeencrypt",
            "sign.pem",
        ],
    );
    openssl_fails(
        d,
        &[
            "verify",
            "-attime",
            &at,
            "-CAfile",
            "ca.pem",
            "-purpose",
            "smimesign",
            "enc.pem",
        ],
    );
    // Outside the validity period OpenSSL refuses.
    let late = (NOW_UNIX + 400 * 86_400).to_string();
    let text = openssl_fails(
        d,
        &["verify", "-attime", &late, "-CAfile", "ca.pem", "sign.pem"],
    );
    assert!(text.contains("expired"), "{text}");
}

#[test]
fn user_certificate_carries_the_profile_extensions() {
    let ca = test_ca();
    let (sign, enc) = user_certs(&ca, "alice");
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "sign.pem", &sign);
    write_pem_cert(d, "enc.pem", &enc);
    let text = |f: &str| {
        String::from_utf8(openssl_ok(d, &["x509", "-in", f, "-noout", "-text"]).stdout).unwrap()
    };
    let s = text("sign.pem");
    let e = text("enc.pem");
    for t in [&s, &e] {
        assert!(t.contains("CA:FALSE"), "{t}");
        assert!(t.contains("E-mail Protection"), "{t}");
        assert!(t.contains("email:alice@example.test"), "{t}");
        assert!(t.contains("X509v3 Subject Key Identifier"), "{t}");
        assert!(t.contains("X509v3 Authority Key Identifier"), "{t}");
        assert!(t.contains("URI:http://ca.example.test/crl"), "{t}");
        assert!(t.contains("X509v3 Freshest CRL"), "{t}");
        assert!(t.contains("URI:http://ca.example.test/crl/delta"), "{t}");
        assert!(t.contains("S/MIME Capabilities"), "{t}");
        assert!(
            t.contains("Signature Algorithm: sha256WithRSAEncryption"),
            "{t}"
        );
    }
    assert!(s.contains("Digital Signature, Non Repudiation"), "{s}");
    assert!(!s.contains("Key Encipherment"), "{s}");
    assert!(e.contains("Key Encipherment, Data Encipherment"), "{e}");
    assert!(!e.contains("Digital Signature"), "{e}");

    // Our own reading agrees, capabilities in the order given.
    let info = CertificateInfo::from_certificate(&enc).unwrap();
    assert_eq!(info.capabilities, ContentAlgorithm::RANKING.to_vec());
    assert!(info.has_email("alice@EXAMPLE.test"));
    assert!(info.can_encrypt && !info.can_sign && !info.is_ca && info.email_protection);
    certificate::verify_signed_by(&enc, ca.certificate()).unwrap();
    assert!(certificate::verify_signed_by(&enc, &sign).is_err());
}

#[test]
fn serial_numbers_are_random_positive_and_at_least_128_bits() {
    let ca = test_ca();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let (sign, _) = user_certs(&ca, "bob");
        let serial = sign.tbs_certificate().serial_number().as_bytes().to_vec();
        // 19 random bytes, first non-zero: at least 145 significant bits.
        assert!(serial.len() >= 19, "{serial:?}");
        assert!(seen.insert(serial));
        let der = sign.tbs_certificate().serial_number().to_der_vec();
        assert_eq!(der[0], 0x02);
        assert!(der[2] & 0x80 == 0, "the encoded INTEGER must be positive");
        assert!(der.len() - 2 <= 20, "RFC 5280: at most 20 octets");
    }
}

trait ToDerVec {
    fn to_der_vec(&self) -> Vec<u8>;
}
impl<T: der::Encode> ToDerVec for T {
    fn to_der_vec(&self) -> Vec<u8> {
        self.to_der().unwrap()
    }
}

#[test]
fn legacy_digests_and_every_key_size_sign_certificates_openssl_accepts() {
    let dir = tempdir();
    let d = dir.path();
    let at = attime();
    for (ca_key, digest) in [
        ("ca-3072", DigestAlgorithm::Sha1),
        ("ca-3072", DigestAlgorithm::Md5),
        ("ca2-4096", DigestAlgorithm::Sha512),
        ("alice-sign", DigestAlgorithm::Sha384),
    ] {
        let ca = Issuer::self_signed(
            key(ca_key),
            &Profile::Ca {
                subject: name(&format!("CN=Legacy {digest} CA")),
                path_len: None,
            },
            one_year(),
            digest,
            &mut pki::os_rng(),
        )
        .unwrap();
        let s = smime_subject("carol", &[ContentAlgorithm::Cast40, ContentAlgorithm::Des]);
        let cert = ca
            .issue(
                &Profile::SmimeSigning(s),
                &key("carol-sign").public_key(),
                one_year(),
                &mut pki::os_rng(),
            )
            .unwrap();
        write_pem_cert(d, "ca.pem", ca.certificate());
        write_pem_cert(d, "c.pem", &cert);
        let text =
            String::from_utf8(openssl_ok(d, &["x509", "-in", "c.pem", "-noout", "-text"]).stdout)
                .unwrap();
        assert!(
            text.contains(&format!("{}WithRSAEncryption", digest.name())),
            "{text}"
        );
        // OpenSSL 3 refuses MD5 and SHA-1 signatures at its default security level 1 only for
        // MD5; level 0 accepts both, which is what a legacy peer would run with.
        openssl_ok(
            d,
            &[
                "verify",
                "-auth_level",
                "0",
                "-attime",
                &at,
                "-CAfile",
                "ca.pem",
                "-purpose",
                "smimesign",
                "c.pem",
            ],
        );
        assert_eq!(
            CertificateInfo::from_certificate(&cert)
                .unwrap()
                .capabilities,
            // Written strongest first whatever the order given (RFC 8551 §2.5.2).
            vec![ContentAlgorithm::Des, ContentAlgorithm::Cast40]
        );
    }
}

#[test]
fn tls_server_profile_is_accepted_for_ssl_server() {
    let ca = test_ca();
    let cert = ca
        .issue(
            &Profile::TlsServer {
                subject: name("CN=kms.example.test"),
                dns_names: vec!["kms.example.test".into(), "localhost".into()],
                ip_addresses: vec![vec![127, 0, 0, 1]],
                revocation: revocation_urls(),
            },
            &key("server-tls").public_key(),
            one_year(),
            &mut pki::os_rng(),
        )
        .unwrap();
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "ca.pem", ca.certificate());
    write_pem_cert(d, "tls.pem", &cert);
    openssl_ok(
        d,
        &[
            "verify",
            "-attime",
            &attime(),
            "-CAfile",
            "ca.pem",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "localhost",
            "tls.pem",
        ],
    );
    openssl_ok(
        d,
        &[
            "verify",
            "-attime",
            &attime(),
            "-CAfile",
            "ca.pem",
            "-purpose",
            "sslserver",
            "-verify_ip",
            "127.0.0.1",
            "tls.pem",
        ],
    );
}

#[test]
fn certificates_made_by_openssl_parse() {
    let dir = tempdir();
    let d = dir.path();
    let keys = keys_dir();
    let ca_key = keys.join("ca2-4096.key.pem");
    let user_key = keys.join("bob-enc.key.pem");
    openssl_ok(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            ca_key.to_str().unwrap(),
            "-subj",
            "/O=Interop/CN=OpenSSL CA",
            "-days",
            "30",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl_ok(
        d,
        &[
            "req",
            "-new",
            "-key",
            user_key.to_str().unwrap(),
            "-subj",
            "/CN=Bob/emailAddress=bob@example.test",
            "-out",
            "bob.csr",
        ],
    );
    std::fs::write(d.join("ext.cnf"), "basicConstraints=CA:FALSE\nkeyUsage=critical,keyEncipherment\nextendedKeyUsage=emailProtection\nsubjectAltName=email:bob@example.test\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n").unwrap();
    openssl_ok(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "bob.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            ca_key.to_str().unwrap(),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-out",
            "bob.pem",
        ],
    );
    let ca_pem = std::fs::read(d.join("ca.pem")).unwrap();
    let bob_pem = std::fs::read(d.join("bob.pem")).unwrap();
    let ca = parse_certificate(&ca_pem).unwrap();
    let bob = parse_certificate(&bob_pem).unwrap();
    certificate::verify_signed_by(&bob, &ca).unwrap();
    let info = CertificateInfo::from_certificate(&bob).unwrap();
    assert!(info.has_email("bob@example.test"));
    assert!(info.can_encrypt && !info.can_sign);
    assert!(CertificateInfo::from_certificate(&ca).unwrap().is_ca);
    // DER form, and a bundle of both.
    openssl_ok(
        d,
        &[
            "x509", "-in", "bob.pem", "-outform", "DER", "-out", "bob.der",
        ],
    );
    let der = std::fs::read(d.join("bob.der")).unwrap();
    assert_eq!(parse_certificate(&der).unwrap(), bob);
    let mut bundle = ca_pem.clone();
    bundle.extend_from_slice(&bob_pem);
    assert_eq!(parse_certificates(&bundle).unwrap(), vec![ca.clone(), bob]);
    // An OpenSSL CA certificate and key can be our issuer.
    let issuer = Issuer::new(
        ca,
        pki::PrivateKey::from_pem_or_der(&std::fs::read(&ca_key).unwrap()).unwrap(),
    )
    .unwrap();
    assert!(
        Issuer::new(issuer.certificate().clone(), key("alice-sign")).is_err(),
        "mismatched key"
    );
}

#[test]
fn bad_certificate_input_gives_typed_errors() {
    let ca = test_ca();
    let der = certificate::to_der(ca.certificate()).unwrap();
    let pem = certificate::to_pem(ca.certificate()).unwrap();
    // Truncated DER.
    let e = parse_certificate(&der[..der.len() - 10]).unwrap_err();
    assert_eq!(e.code(), "PKI-001", "{e}");
    assert!(e.to_string().contains("certificate"), "{e}");
    // Wrong PEM label.
    let e = parse_certificate(pem.replace("CERTIFICATE", "PRIVATE KEY").as_bytes()).unwrap_err();
    assert_eq!(e.code(), "PKI-003", "{e}");
    // Broken base64 inside good armour.
    let broken = pem.replacen('M', "*", 3);
    assert_eq!(
        parse_certificate(broken.as_bytes()).unwrap_err().code(),
        "PKI-002"
    );
    // Random bytes, empty input, oversized input.
    assert!(parse_certificate(&[0x30, 0x82, 0xff, 0xff, 1, 2, 3]).is_err());
    assert!(parse_certificate(b"").is_err());
    assert_eq!(
        parse_certificate(&vec![0u8; 70_000]).unwrap_err().code(),
        "PKI-004"
    );
    // A flipped bit in the signed part breaks the signature check, not the parser.
    let mut tampered = der.clone();
    let i = tampered.len() / 3;
    tampered[i] ^= 0x01;
    if let Ok(c) = parse_certificate(&tampered) {
        assert!(certificate::verify_signed_by(&c, ca.certificate()).is_err());
    }
    // Every truncation of a real certificate is an error, never a panic.
    for n in 0..der.len() {
        assert!(parse_certificate(&der[..n]).is_err());
    }
}

#[test]
fn profile_inputs_are_checked_before_signing() {
    let ca = test_ca();
    let mut s = smime_subject("alice", &[ContentAlgorithm::Aes128]);
    s.email = "not an address".into();
    let e = ca
        .issue(
            &Profile::SmimeSigning(s.clone()),
            &key("alice-sign").public_key(),
            one_year(),
            &mut pki::os_rng(),
        )
        .unwrap_err();
    assert_eq!(e.code(), "PKI-031", "{e}");
    s.email = "alice@example.test".into();
    s.capabilities.clear();
    assert!(
        ca.issue(
            &Profile::SmimeEncryption(s),
            &key("alice-enc").public_key(),
            one_year(),
            &mut pki::os_rng()
        )
        .is_err()
    );
    let backwards = Period {
        not_before: now(),
        not_after: now() - days(1),
    };
    let s = smime_subject("alice", &[ContentAlgorithm::Aes128]);
    assert!(
        ca.issue(
            &Profile::SmimeSigning(s),
            &key("alice-sign").public_key(),
            backwards,
            &mut pki::os_rng()
        )
        .is_err()
    );
}

#[test]
fn foreign_certificates_are_written_back_byte_for_byte_and_their_signatures_check() {
    // PKITS 4.2.4: a validity time written as GeneralizedTime before 2050. Re-encoding the
    // parsed certificate through x509-cert's RFC 5280 profile turns it into UTCTime, which
    // changed the signed bytes; to_der and verify_signed_by must use the bytes as decoded.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/PKITS/certs");
    let ee_der = std::fs::read(dir.join("ValidGeneralizedTimenotBeforeDateTest4EE.crt")).unwrap();
    let ca_der = std::fs::read(dir.join("GoodCACert.crt")).unwrap();
    let ee = parse_certificate(&ee_der).unwrap();
    let ca = parse_certificate(&ca_der).unwrap();
    assert_eq!(certificate::to_der(&ee).unwrap(), ee_der);
    assert_eq!(certificate::to_der(&ca).unwrap(), ca_der);
    certificate::verify_signed_by(&ee, &ca).unwrap();
}
