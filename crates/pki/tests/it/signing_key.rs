//! Signing through the [`SigningKey`] abstraction with a key that is not a `PrivateKey` (a
//! test double standing in for a token key): certificates, CRLs and requests it signs verify
//! in OpenSSL, the issuer reports it as a token key, and it gives no key material to escrow.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pki::crl::{CrlBuilder, CrlEntry, RevocationReason};
use pki::{DigestAlgorithm, Issuer, KeyRef, KeyStore, PrivateKey, PublicKey, SigningKey};

use crate::support::*;

/// A "token" key: signs through an inner software key it never lets out, and counts.
struct TokenDouble {
    inner: PrivateKey,
    signatures: AtomicUsize,
}

impl SigningKey for TokenDouble {
    fn public_key(&self) -> PublicKey {
        self.inner.public_key()
    }
    fn sign(&self, digest: DigestAlgorithm, message: &[u8]) -> pki::Result<Vec<u8>> {
        self.signatures.fetch_add(1, Ordering::SeqCst);
        self.inner.sign(digest, message)
    }
    fn key_ref(&self) -> KeyRef {
        KeyRef::of(KeyStore::Token, &self.inner.public_key())
    }
}

#[test]
fn a_token_issuer_signs_certificates_and_crls_that_openssl_verifies() {
    // The CA certificate comes from a software issuer over the same key; the token issuer
    // then holds only the double.
    let software = test_ca();
    let token = Arc::new(TokenDouble {
        inner: key("ca-3072"),
        signatures: AtomicUsize::new(0),
    });
    let ca = Issuer::with_signing_key(software.certificate().clone(), token.clone()).unwrap();
    fn send_sync_clone<T: Send + Sync + Clone>(_: &T) {}
    send_sync_clone(&ca);

    let (alice_sign, _) = user_certs(&ca, "alice");
    assert_eq!(token.signatures.load(Ordering::SeqCst), 2);
    let mut b = CrlBuilder::new(1, now(), now() + days(7)).unwrap();
    b.add(&CrlEntry {
        serial: alice_sign
            .tbs_certificate()
            .serial_number()
            .as_bytes()
            .to_vec(),
        revoked_at: now() - days(1),
        reason: RevocationReason::KeyCompromise,
    })
    .unwrap();
    let crl_der = b.sign(&ca).unwrap();
    assert_eq!(token.signatures.load(Ordering::SeqCst), 3);

    // What signed, for the audit log; no key to escrow.
    let r = ca.signing_key().key_ref();
    assert_eq!(r.store, KeyStore::Token);
    assert_eq!(r, KeyRef::of(KeyStore::Token, &key("ca-3072").public_key()));
    assert!(
        r.to_string().starts_with("token:") && r.key_id.len() == 40,
        "{r}"
    );
    assert_eq!(ca.key().unwrap_err().code(), "PKI-140");
    assert!(ca.software_key().is_none());
    assert_eq!(
        software.signing_key().key_ref().to_string(),
        format!("software:{}", r.key_id)
    );
    assert!(software.key().is_ok());

    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "ca.pem", ca.certificate());
    write_pem_cert(d, "alice.pem", &alice_sign);
    write(d, "crl.der", &crl_der);
    openssl_ok(
        d,
        &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"],
    );
    let out = openssl_ok(d, &["crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("verify OK"),
        "{out:?}"
    );
    let at = attime();
    openssl_ok(
        d,
        &["verify", "-attime", &at, "-CAfile", "ca.pem", "alice.pem"],
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
            "alice.pem",
        ],
    );
    assert!(refused.contains("certificate revoked"), "{refused}");
}

#[test]
fn a_request_signed_through_a_token_key_verifies_in_openssl() {
    let token = TokenDouble {
        inner: key("bob-sign"),
        signatures: AtomicUsize::new(0),
    };
    let der = pki::csr::build(
        &token,
        name("CN=Bob,O=Example Org"),
        "bob@example.test",
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    assert_eq!(token.signatures.load(Ordering::SeqCst), 1);
    let dir = tempdir();
    write(dir.path(), "req.der", &der);
    let out = openssl_ok(
        dir.path(),
        &[
            "req", "-inform", "DER", "-in", "req.der", "-verify", "-noout",
        ],
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("verify OK"), "{said}");
}

/// A token that has gone away: it knows its public key but cannot sign.
struct GoneToken {
    public: PublicKey,
}

impl SigningKey for GoneToken {
    fn public_key(&self) -> PublicKey {
        self.public.clone()
    }
    fn sign(&self, _: DigestAlgorithm, _: &[u8]) -> pki::Result<Vec<u8>> {
        Err(pki::Error::SignerUnavailable(
            "HSM-004 the token is not present".into(),
        ))
    }
    fn key_ref(&self) -> KeyRef {
        KeyRef::of(KeyStore::Token, &self.public)
    }
    fn check(&self) -> pki::Result<()> {
        Err(pki::Error::SignerUnavailable(
            "HSM-004 the token is not present".into(),
        ))
    }
}

#[test]
fn a_self_signed_token_ca_verifies_and_holds_no_key() {
    let token = Arc::new(TokenDouble {
        inner: key("ca-3072"),
        signatures: AtomicUsize::new(0),
    });
    let ca = Issuer::self_signed_with_signing_key(
        token.clone(),
        &pki::Profile::Ca {
            subject: name("CN=Token CA,O=Example Org"),
            path_len: Some(0),
        },
        pki::Period {
            not_before: now() - days(1),
            not_after: now() + days(365),
        },
        DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    )
    .unwrap();
    assert_eq!(token.signatures.load(Ordering::SeqCst), 1);
    assert_eq!(ca.key().unwrap_err().code(), "PKI-140");
    assert_eq!(ca.signing_key().key_ref().store, KeyStore::Token);
    // A CA profile is required, as for software keys.
    let refused = Issuer::self_signed_with_signing_key(
        token.clone(),
        &pki::Profile::SmimeSigning(smime_subject("x", &[])),
        pki::Period {
            not_before: now() - days(1),
            not_after: now() + days(365),
        },
        DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    );
    assert!(refused.is_err());
    let (alice_sign, _) = user_certs(&ca, "alice");
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "ca.pem", ca.certificate());
    write_pem_cert(d, "alice.pem", &alice_sign);
    openssl_ok(
        d,
        &["verify", "-check_ss_sig", "-CAfile", "ca.pem", "ca.pem"],
    );
    let at = attime();
    openssl_ok(
        d,
        &["verify", "-attime", &at, "-CAfile", "ca.pem", "alice.pem"],
    );
}

#[test]
fn a_token_that_cannot_sign_says_so_with_pki_141() {
    let software = test_ca();
    let gone = Arc::new(GoneToken {
        public: key("ca-3072").public_key(),
    });
    let ca = Issuer::with_signing_key(software.certificate().clone(), gone).unwrap();
    let e = ca
        .issue(
            &pki::Profile::SmimeSigning(smime_subject("alice", &[pki::ContentAlgorithm::Aes256])),
            &key("alice-sign").public_key(),
            pki::Period {
                not_before: now() - days(1),
                not_after: now() + days(30),
            },
            &mut pki::os_rng(),
        )
        .unwrap_err();
    assert_eq!(e.code(), "PKI-141", "{e}");
    assert!(e.to_string().contains("HSM-004"), "{e}");
    let e = CrlBuilder::new(1, now(), now() + days(7))
        .unwrap()
        .sign(&ca)
        .unwrap_err();
    assert_eq!(e.code(), "PKI-141", "{e}");
    let e = pki::ocsp::issue_responder_certificate(
        &ca,
        &key("bob-sign").public_key(),
        name("CN=OCSP Responder"),
        now() - days(1),
        now() + days(30),
        &mut pki::os_rng(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "PKI-141", "{e}");
}
