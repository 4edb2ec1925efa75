//! RSA keys: generated keys of every size pass `openssl pkey -check`; keys OpenSSL writes in
//! PKCS#8 and PKCS#1 form, PEM and DER, read back to the same key.

use pki::{KeySize, PrivateKey, PublicKey};

use crate::support::*;

#[test]
fn generated_keys_of_every_size_pass_openssl_check() {
    let dir = tempdir();
    let d = dir.path();
    let mut rng = pki::os_rng();
    for size in [KeySize::Rsa2048, KeySize::Rsa3072, KeySize::Rsa4096] {
        let key = PrivateKey::generate(&mut rng, size).unwrap();
        assert_eq!(key.bits(), size.bits());
        write(d, "k.pem", key.to_pkcs8_pem().unwrap().as_bytes());
        let out = openssl_ok(d, &["pkey", "-in", "k.pem", "-check", "-noout", "-text"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("Private-Key: ({} bit, 2 primes)", size.bits())),
            "{text}"
        );
        assert!(text.contains("publicExponent: 65537"), "{text}");
        // The public key OpenSSL derives is the one we derive.
        let theirs = openssl_ok(d, &["pkey", "-in", "k.pem", "-pubout"]).stdout;
        assert_eq!(
            String::from_utf8(theirs).unwrap(),
            key.public_key().to_pem().unwrap()
        );
    }
}

#[test]
fn keys_written_by_openssl_in_every_form_read_back() {
    let dir = tempdir();
    let d = dir.path();
    let src = keys_dir().join("bob-enc.key.pem");
    let src = src.to_str().unwrap();
    let want = key("bob-enc").public_key();
    openssl_ok(
        d,
        &["pkey", "-in", src, "-outform", "DER", "-out", "p8.der"],
    );
    openssl_ok(d, &["rsa", "-in", src, "-traditional", "-out", "p1.pem"]);
    openssl_ok(
        d,
        &[
            "rsa",
            "-in",
            src,
            "-traditional",
            "-outform",
            "DER",
            "-out",
            "p1.der",
        ],
    );
    openssl_ok(
        d,
        &[
            "pkey", "-in", src, "-pubout", "-outform", "DER", "-out", "pub.der",
        ],
    );
    for f in ["p8.der", "p1.pem", "p1.der"] {
        let k = PrivateKey::from_pem_or_der(&std::fs::read(d.join(f)).unwrap()).unwrap();
        assert_eq!(k.public_key(), want, "{f}");
    }
    assert!(
        std::fs::read_to_string(d.join("p1.pem"))
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    assert_eq!(
        PublicKey::from_pem_or_der(&std::fs::read(d.join("pub.der")).unwrap()).unwrap(),
        want
    );
    // And OpenSSL reads our PKCS#1 output.
    write(
        d,
        "ours-p1.pem",
        key("bob-enc").to_pkcs1_pem().unwrap().as_bytes(),
    );
    openssl_ok(d, &["rsa", "-in", "ours-p1.pem", "-check", "-noout"]);
}

#[test]
fn non_rsa_and_undersized_keys_are_refused_clearly() {
    let dir = tempdir();
    let d = dir.path();
    openssl_ok(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ec.pem",
        ],
    );
    let e = PrivateKey::from_pem_or_der(&std::fs::read(d.join("ec.pem")).unwrap()).unwrap_err();
    assert_eq!(e.code(), "PKI-010", "{e}");
    openssl_ok(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:512",
            "-out",
            "small.pem",
        ],
    );
    let e = PrivateKey::from_pem_or_der(&std::fs::read(d.join("small.pem")).unwrap()).unwrap_err();
    assert!(e.to_string().contains("RSA-512"), "{e}");
}
