//! Fixtures shared by the pki benchmarks: the committed test keys, a bench CA, and Alice's
//! certificates from it, at a fixed time.

#![allow(dead_code)]

use std::time::{Duration, UNIX_EPOCH};

use pki::{
    Certificate, ContentAlgorithm, DigestAlgorithm, Issuer, Period, PrivateKey, Profile,
    RevocationUrls, SmimeSubject,
};

/// A committed test key by file stem (`alice-enc`, `ca-3072`, ...).
pub fn key(name: &str) -> PrivateKey {
    let path = format!("{}/../../keys/{name}.key.pem", env!("CARGO_MANIFEST_DIR"));
    PrivateKey::from_pem_or_der(&std::fs::read(path).unwrap()).unwrap()
}

/// A year from 2026-01-01.
pub fn period() -> Period {
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    Period {
        not_before: now,
        not_after: now + Duration::from_secs(365 * 86_400),
    }
}

/// The bench CA: RSA-3072 from `keys/`, SHA-256.
pub fn ca() -> Issuer {
    Issuer::self_signed(
        key("ca-3072"),
        &Profile::Ca {
            subject: "CN=Bench CA".parse().unwrap(),
            path_len: None,
        },
        period(),
        DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    )
    .unwrap()
}

/// Alice's S/MIME subject, every algorithm, with CRL pointers.
pub fn alice_subject() -> SmimeSubject {
    SmimeSubject {
        subject: "CN=Alice,O=Bench".parse().unwrap(),
        email: "alice@example.test".into(),
        capabilities: ContentAlgorithm::RANKING.to_vec(),
        revocation: RevocationUrls {
            crl: Some("http://ca.example.test/crl".into()),
            delta_crl: Some("http://ca.example.test/crl/delta".into()),
            ca_issuers: None,
            ocsp: None,
        },
        sbr: None,
        policy: pki::PolicyExtras::default(),
    }
}

/// Alice's signing (`signing = true`) or encryption certificate from `ca`, for her
/// committed key.
pub fn alice(ca: &Issuer, signing: bool) -> (PrivateKey, Certificate) {
    let (k, profile) = if signing {
        (key("alice-sign"), Profile::SmimeSigning(alice_subject()))
    } else {
        (key("alice-enc"), Profile::SmimeEncryption(alice_subject()))
    };
    let cert = ca
        .issue(&profile, &k.public_key(), period(), &mut pki::os_rng())
        .unwrap();
    (k, cert)
}
