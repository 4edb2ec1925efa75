//! Certificate requests: made by `openssl req` and issued by us, made by us and read by
//! OpenSSL, and refused when their signature or the policy says no.

use pki::csr::{self, CsrPolicy};
use pki::{ContentAlgorithm, DigestAlgorithm, Profile};

use crate::support::*;

#[test]
fn a_csr_made_by_openssl_is_issued_and_the_result_verifies() {
    let ca = test_ca();
    let dir = tempdir();
    let d = dir.path();
    let k = keys_dir().join("alice-sign.key.pem");
    openssl_ok(
        d,
        &[
            "req",
            "-new",
            "-key",
            k.to_str().unwrap(),
            "-subj",
            "/CN=Alice/emailAddress=alice@example.test",
            "-addext",
            "subjectAltName=email:alice@example.test",
            "-out",
            "alice.csr",
        ],
    );
    let policy = CsrPolicy {
        email: Some("alice@example.test".into()),
        ..CsrPolicy::default()
    };
    let req = csr::verify(&std::fs::read(d.join("alice.csr")).unwrap(), &policy).unwrap();
    assert_eq!(req.public_key, key("alice-sign").public_key());
    assert_eq!(
        req.emails,
        vec![
            "alice@example.test".to_string(),
            "alice@example.test".to_string()
        ]
    );
    let cert = ca
        .issue(
            &Profile::SmimeSigning(smime_subject(
                "Alice",
                &[ContentAlgorithm::Aes256, ContentAlgorithm::TripleDes],
            )),
            &req.public_key,
            one_year(),
            &mut pki::os_rng(),
        )
        .unwrap();
    write_pem_cert(d, "ca.pem", ca.certificate());
    write_pem_cert(d, "alice.pem", &cert);
    openssl_ok(
        d,
        &[
            "verify",
            "-attime",
            &attime(),
            "-CAfile",
            "ca.pem",
            "-purpose",
            "smimesign",
            "alice.pem",
        ],
    );
    // The issued certificate certifies the key OpenSSL holds.
    let ours = openssl_ok(d, &["x509", "-in", "alice.pem", "-noout", "-pubkey"]).stdout;
    let theirs = openssl_ok(d, &["pkey", "-in", k.to_str().unwrap(), "-pubout"]).stdout;
    assert_eq!(ours, theirs);
}

#[test]
fn a_csr_we_build_verifies_in_openssl() {
    let der = csr::build(
        &key("bob-sign"),
        name("CN=Bob,O=Example Org"),
        "bob@example.test",
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let dir = tempdir();
    write(dir.path(), "bob.csr", csr::to_pem(&der));
    let out = openssl_ok(
        dir.path(),
        &["req", "-in", "bob.csr", "-verify", "-noout", "-text"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("email:bob@example.test"), "{text}");
    let req = csr::verify(
        &der,
        &CsrPolicy {
            email: Some("bob@example.test".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(req.public_key, key("bob-sign").public_key());
}

#[test]
fn bad_or_forbidden_requests_are_refused() {
    let good = csr::build(
        &key("bob-sign"),
        name("CN=Bob"),
        "bob@example.test",
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    // Broken self-signature: flip a bit in the signature (the last bytes).
    let mut broken = good.clone();
    let n = broken.len();
    broken[n - 5] ^= 0x10;
    let e = csr::verify(&broken, &CsrPolicy::default()).unwrap_err();
    assert_eq!(e.code(), "PKI-020", "{e}");
    assert!(e.to_string().contains("certificate request"), "{e}");
    // Wrong address for this user.
    let e = csr::verify(
        &good,
        &CsrPolicy {
            email: Some("alice@example.test".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "PKI-030", "{e}");
    assert!(e.to_string().contains("bob@example.test"), "{e}");
    // Key too small for the policy (3072 minimum), and SHA-1 self-signature.
    let e = csr::verify(
        &good,
        &CsrPolicy {
            min_rsa_bits: 3072,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("RSA-2048"), "{e}");
    let sha1 = csr::build(
        &key("bob-sign"),
        name("CN=Bob"),
        "bob@example.test",
        DigestAlgorithm::Sha1,
    )
    .unwrap();
    assert_eq!(
        csr::verify(&sha1, &CsrPolicy::default())
            .unwrap_err()
            .code(),
        "PKI-030"
    );
    csr::verify(
        &sha1,
        &CsrPolicy {
            allow_legacy_digests: true,
            ..Default::default()
        },
    )
    .unwrap();
    // A 1024-bit key made by OpenSSL, and an EC key: refused by policy, not by a parse error.
    let dir = tempdir();
    let d = dir.path();
    openssl_ok(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "small.key",
        ],
    );
    openssl_ok(
        d,
        &[
            "req",
            "-new",
            "-key",
            "small.key",
            "-subj",
            "/CN=small",
            "-out",
            "small.csr",
        ],
    );
    let e = csr::verify(
        &std::fs::read(d.join("small.csr")).unwrap(),
        &CsrPolicy::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "PKI-030", "{e}");
    openssl_ok(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ec.key",
        ],
    );
    openssl_ok(
        d,
        &[
            "req", "-new", "-key", "ec.key", "-subj", "/CN=ec", "-out", "ec.csr",
        ],
    );
    let e = csr::verify(
        &std::fs::read(d.join("ec.csr")).unwrap(),
        &CsrPolicy::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "PKI-030", "{e}");
    // Truncated DER and a wrong PEM label.
    for n in [0, 1, 10, good.len() / 2, good.len() - 1] {
        assert!(csr::verify(&good[..n], &CsrPolicy::default()).is_err());
    }
    let e = csr::parse(
        csr::to_pem(&good)
            .replace("CERTIFICATE REQUEST", "X509 CRL")
            .as_bytes(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "PKI-003", "{e}");
}
