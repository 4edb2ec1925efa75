//! Generating and opening a key on a SoftHSM token, signing with each SHA-2 digest (verified
//! by OpenSSL and by `pki`), and the key's attributes as OpenSC's `pkcs11-tool` sees them.

use hsm::testing::{SoftHsm, USER_PIN};
use hsm::{Pin, TokenKey};
use pki::{DigestAlgorithm, KeyStore, SigningKey};

use crate::support::{openssl_verifies, parse_list_objects};

const DIGESTS: [DigestAlgorithm; 3] = [
    DigestAlgorithm::Sha256,
    DigestAlgorithm::Sha384,
    DigestAlgorithm::Sha512,
];

#[test]
fn generated_3072_key_signs_with_each_digest_verified_by_openssl_and_pki() {
    let Some(hsm) = SoftHsm::fresh_process(
        "token::generated_3072_key_signs_with_each_digest_verified_by_openssl_and_pki",
    ) else {
        return;
    };
    hsm.init_token("CA token");
    let cfg = SoftHsm::config("CA token", "kms-ca");
    let generated = TokenKey::generate(&cfg, SoftHsm::pin(), 3072).unwrap();
    let public = generated.public_key();
    assert_eq!(public.bits(), 3072);
    drop(generated);

    // Opened again, as kmsd does at every start.
    let key = TokenKey::open(&cfg, SoftHsm::pin()).unwrap();
    assert_eq!(key.public_key(), public);
    assert_eq!(key.config(), &cfg);
    let key_ref = key.key_ref();
    assert_eq!(key_ref.store, KeyStore::Token);
    let ski: String = public
        .key_identifier()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(key_ref.key_id, ski);
    key.check().unwrap();
    // The PIN kept for logging in again never prints.
    let debug = format!("{key:?}");
    assert!(!debug.contains(USER_PIN), "{debug}");
    assert!(
        debug.contains("kms-ca") && debug.contains(&key_ref.key_id),
        "{debug}"
    );

    let dir = tempfile::tempdir().unwrap();
    let pem = public.to_pem().unwrap();
    let message = b"tbsCertificate stand-in: the token hashes the whole message";
    for digest in DIGESTS {
        let sig = key.sign(digest, message).unwrap();
        assert_eq!(sig.len(), 3072 / 8);
        public.verify(digest, message, &sig, "token").unwrap();
        assert!(
            openssl_verifies(dir.path(), &pem, digest, message, &sig),
            "openssl does not verify the {digest:?} signature"
        );
        // The same signature does not verify another message.
        assert!(!openssl_verifies(dir.path(), &pem, digest, b"other", &sig));
    }

    // CKA_ID is the subject key identifier, as pkcs11-tool shows it.
    let out = hsm.pkcs11_tool(&[
        "--token-label",
        "CA token",
        "--list-objects",
        "--login",
        "--pin",
        USER_PIN,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pkcs11-tool: {text}");
    let objects = parse_list_objects(&text);
    let private = objects
        .iter()
        .find(|o| o.kind.starts_with("Private Key Object; RSA"))
        .unwrap_or_else(|| panic!("no private key listed:\n{text}"));
    assert_eq!(private.field("label"), Some("kms-ca"));
    assert_eq!(private.field("ID"), Some(ski.as_str()));
    let access = private.field("Access").unwrap_or_default();
    for flag in ["sensitive", "never extractable"] {
        assert!(
            access.split(", ").any(|a| a == flag),
            "private key not {flag}: {access:?}\n{text}"
        );
    }
    assert!(
        !access.split(", ").any(|a| a == "extractable"),
        "private key extractable: {access:?}"
    );
    assert_eq!(private.field("Usage"), Some("sign"), "{text}");
}

#[test]
fn legacy_digests_are_refused_with_hsm_006() {
    let Some(hsm) = SoftHsm::fresh_process("token::legacy_digests_are_refused_with_hsm_006") else {
        return;
    };
    hsm.init_token("T");
    let cfg = SoftHsm::config("T", "k");
    let key = TokenKey::generate(&cfg, Pin::new(USER_PIN.into()), 2048).unwrap();
    for digest in [DigestAlgorithm::Sha1, DigestAlgorithm::Md5] {
        let err = key.sign(digest, b"m").unwrap_err();
        assert_eq!(err.code(), "PKI-141");
        let msg = err.to_string();
        assert!(msg.contains("HSM-006") && msg.contains("SHA-256"), "{msg}");
    }
    // The refusal did not poison the key.
    key.sign(DigestAlgorithm::Sha256, b"m").unwrap();
}
