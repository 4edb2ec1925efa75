//! `kms_client::fetch::merge`, the checks `lockbox fetch` makes before it touches the file:
//! address, chain to the trusted CA, a key the file holds; what it keeps.

use kms_client::fetch::{NewKeyNeeded, Served, merge};
use pki::{
    CertificateInfo, ContentAlgorithm, DigestAlgorithm, Issuer, Period, Profile, RevocationUrls,
    SmimeSubject,
};

use super::fixtures::{PASSWORD, World, at, days, key};

fn subject(email: &str) -> SmimeSubject {
    SmimeSubject {
        subject: "CN=alice,O=Example Org".parse().unwrap(),
        email: email.into(),
        capabilities: vec![ContentAlgorithm::Aes256Gcm],
        revocation: RevocationUrls {
            crl: None,
            delta_crl: None,
            ca_issuers: None,
            ocsp: None,
        },
        sbr: None,
        policy: pki::PolicyExtras::default(),
    }
}

fn later() -> Period {
    Period {
        not_before: at() + days(300),
        not_after: at() + days(700),
    }
}

fn serial(c: &pki::Certificate) -> String {
    CertificateInfo::from_certificate(c).unwrap().serial_hex
}

#[test]
fn merge_pairs_keys_with_renewals_keeps_the_rest_and_refuses_what_does_not_fit() {
    let w = World::new();
    let alice = w.user(
        "alice",
        "alice",
        "alice-enc",
        &[ContentAlgorithm::Aes256Gcm],
    );
    let contents = || pki::pkcs12::parse(&w.read("alice.p12"), PASSWORD).unwrap();
    let anchors = contents().certificates;
    let mut rng = pki::os_rng();
    let renewed =
        w.ca.issue(
            &Profile::SmimeSigning(subject(&alice.email)),
            &key("alice-sign").public_key(),
            later(),
            &mut rng,
        )
        .unwrap();
    let served = [
        Served {
            kind: "signing",
            certificate: renewed.clone(),
        },
        Served {
            kind: "encryption",
            certificate: alice.enc.clone(),
        },
    ];
    let m = merge(contents(), &served, &anchors, &alice.email, PASSWORD).unwrap();
    assert_eq!(
        m.added.iter().map(|a| a.serial.clone()).collect::<Vec<_>>(),
        [serial(&renewed)]
    );
    assert_eq!(m.unchanged[0].serial, serial(&alice.enc));
    let out = pki::pkcs12::parse(&m.pkcs12.unwrap(), PASSWORD).unwrap();
    let mut paired: Vec<String> = out
        .keys
        .iter()
        .map(|k| serial(k.certificate.as_ref().unwrap()))
        .collect();
    paired.sort();
    let mut want = vec![serial(&renewed), serial(&alice.enc)];
    want.sort();
    assert_eq!(paired, want);
    let kept: Vec<String> = out.certificates.iter().map(serial).collect();
    assert!(kept.contains(&serial(&alice.sign)), "{kept:?}");
    assert!(kept.contains(&serial(w.ca.certificate())), "{kept:?}");
    // Every key named by kind, date and serial.
    let name = out.keys[0].friendly_name.clone().unwrap();
    let cert = out.keys[0].certificate.as_ref().unwrap();
    assert_eq!(name, pki::bundle::friendly_name(cert).unwrap());
    assert!(
        name.starts_with("alice@example.test ")
            && name.contains(&format!("serial {}", serial(cert))),
        "{name}"
    );

    // Up to date: nothing to write.
    let up_to_date = [Served {
        kind: "encryption",
        certificate: alice.enc.clone(),
    }];
    let m = merge(contents(), &up_to_date, &anchors, &alice.email, PASSWORD).unwrap();
    assert!(m.pkcs12.is_none() && m.added.is_empty());

    // A certificate for a key the file does not hold: enroll again.
    let new_key =
        w.ca.issue(
            &Profile::SmimeEncryption(subject(&alice.email)),
            &key("spare-1").public_key(),
            later(),
            &mut rng,
        )
        .unwrap();
    let e = merge(
        contents(),
        &[Served {
            kind: "encryption",
            certificate: new_key,
        }],
        &anchors,
        &alice.email,
        PASSWORD,
    )
    .err()
    .unwrap();
    assert!(e.downcast_ref::<NewKeyNeeded>().is_some(), "{e:#}");
    assert!(e.to_string().contains("enroll again"), "{e:#}");

    // Another CA's certificate, or one for another address: refused.
    let other_ca = Issuer::self_signed(
        key("ca2-4096"),
        &Profile::Ca {
            subject: "CN=Other CA".parse().unwrap(),
            path_len: Some(0),
        },
        Period {
            not_before: at() - days(1),
            not_after: at() + days(3650),
        },
        DigestAlgorithm::Sha256,
        &mut rng,
    )
    .unwrap();
    let foreign = other_ca
        .issue(
            &Profile::SmimeSigning(subject(&alice.email)),
            &key("alice-sign").public_key(),
            later(),
            &mut rng,
        )
        .unwrap();
    let e = merge(
        contents(),
        &[Served {
            kind: "signing",
            certificate: foreign,
        }],
        &anchors,
        &alice.email,
        PASSWORD,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("does not chain"), "{e:#}");
    let e = merge(
        contents(),
        &served,
        &anchors,
        "mallory@example.test",
        PASSWORD,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("not for mallory"), "{e:#}");
    // No CA to check against: refused, with the way out.
    let e = merge(contents(), &served, &[], &alice.email, PASSWORD)
        .err()
        .unwrap();
    assert!(e.to_string().contains("--ca-cert"), "{e:#}");
}
