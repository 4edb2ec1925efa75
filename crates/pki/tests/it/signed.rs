//! CMS SignedData: what we sign, `openssl cms -verify` (and `openssl smime -verify`) accepts,
//! for every digest, attached and detached; what `openssl cms -sign` makes, we check as valid;
//! tampering is caught by both; the RFC 4134 examples; malformed input gives typed errors.

use std::path::Path;

use pki::signed::{self, SignOptions, SignerIdKind, SignerOutcome, Tamper};
use pki::smime;
use pki::{Certificate, ContentAlgorithm, DigestAlgorithm};

use crate::support::*;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");

/// An S/MIME inner entity, canonical.
const ENTITY: &[u8] =
    b"Content-Type: text/plain; charset=us-ascii\r\n\r\nHello from the signed-data tests.\r\n";

/// A whole message with outer header fields.
const MESSAGE: &[u8] = b"From: Alice <alice@example.test>\r\n\
To: Bob <bob@example.test>\r\n\
Subject: signed test\r\n\
Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
Hello from the signed-data tests.\r\n";

fn rfc4134(file: &str) -> Vec<u8> {
    let p = Path::new(VECTORS).join("rfc4134").join(file);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

struct Fixture {
    ca: pki::Issuer,
    cert: Certificate,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let ca = test_ca();
        let (cert, _) = user_certs(&ca, "alice");
        let dir = tempdir();
        write_pem_cert(dir.path(), "ca.pem", ca.certificate());
        write_pem_cert(dir.path(), "alice.pem", &cert);
        Fixture { ca, cert, dir }
    }

    fn d(&self) -> &Path {
        self.dir.path()
    }

    fn options(&self, digest: DigestAlgorithm, detached: bool) -> SignOptions {
        SignOptions {
            digest,
            detached,
            capabilities: vec![ContentAlgorithm::Aes256, ContentAlgorithm::TripleDes],
            ..SignOptions::new(now())
        }
    }

    fn sign(&self, content: &[u8], options: &SignOptions) -> Vec<u8> {
        signed::sign(content, &key("alice-sign"), &self.cert, &[], options).unwrap()
    }

    /// A multipart/signed message of MESSAGE signed by us.
    fn multipart(&self, digest: DigestAlgorithm) -> Vec<u8> {
        let split = smime::split(MESSAGE).unwrap();
        let sig = self.sign(&split.inner, &self.options(digest, true));
        smime::multipart_signed(&split.outer_headers, &split.inner, &sig, digest).unwrap()
    }

    /// `openssl cms -verify` arguments common to every check.
    fn verify_args<'a>(&'a self, at: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
            "cms",
            "-verify",
            "-CAfile",
            "ca.pem",
            "-attime",
            at,
            "-purpose",
            "smimesign",
        ];
        v.extend_from_slice(extra);
        v
    }
}

#[test]
/// OpenSSL 3.0.19 verifies MD5 and SHA-1 CMS signatures at its default security level with no
/// extra flag: the level (and `-auth_level`) applies to the certificate chain, which is SHA-256
/// here. A chain signed with MD5 would need `-auth_level 0`.
fn openssl_verifies_what_we_sign_for_every_digest_attached_and_detached() {
    let f = Fixture::new();
    let at = attime();
    for d in DigestAlgorithm::ALL {
        // Attached, DER.
        let der = f.sign(ENTITY, &f.options(d, false));
        let name = format!("att-{d}.der");
        write(f.d(), &name, &der);
        let out = format!("att-{d}.out");
        let args = f.verify_args(&at, &["-inform", "DER", "-in", &name, "-out", &out]);
        openssl_ok(f.d(), &args);
        assert_eq!(std::fs::read(f.d().join(&out)).unwrap(), ENTITY, "{d}");

        // Attached, S/MIME application/pkcs7-mime.
        let split = smime::split(MESSAGE).unwrap();
        let der = f.sign(&split.inner, &f.options(d, false));
        let eml =
            smime::pkcs7_mime(&split.outer_headers, smime::SmimeType::SignedData, &der).unwrap();
        let name = format!("att-{d}.eml");
        write(f.d(), &name, &eml);
        let args = f.verify_args(&at, &["-in", &name, "-out", &out]);
        openssl_ok(f.d(), &args);
        assert_eq!(std::fs::read(f.d().join(&out)).unwrap(), split.inner, "{d}");

        // Detached, multipart/signed.
        let eml = f.multipart(d);
        let name = format!("det-{d}.eml");
        write(f.d(), &name, &eml);
        let args = f.verify_args(&at, &["-in", &name, "-out", &out]);
        openssl_ok(f.d(), &args);
        assert_eq!(std::fs::read(f.d().join(&out)).unwrap(), split.inner, "{d}");
    }
}

#[test]
fn openssl_smime_verifies_our_multipart_signed() {
    let f = Fixture::new();
    write(f.d(), "det.eml", f.multipart(DigestAlgorithm::Sha256));
    let at = attime();
    openssl_ok(
        f.d(),
        &[
            "smime",
            "-verify",
            "-in",
            "det.eml",
            "-CAfile",
            "ca.pem",
            "-attime",
            &at,
            "-purpose",
            "smimesign",
            "-out",
            "out.txt",
        ],
    );
    let split = smime::split(MESSAGE).unwrap();
    assert_eq!(std::fs::read(f.d().join("out.txt")).unwrap(), split.inner);
}

#[test]
fn our_signature_carries_the_attributes_and_certificates() {
    let f = Fixture::new();
    let (bob, _) = user_certs(&f.ca, "bob");
    let caps = vec![ContentAlgorithm::Aes256Gcm, ContentAlgorithm::Cast64];
    let options = SignOptions {
        capabilities: caps.clone(),
        ..SignOptions::new(now())
    };
    let chain = [f.ca.certificate().clone(), bob.clone()];
    let der = signed::sign(ENTITY, &key("alice-sign"), &f.cert, &chain, &options).unwrap();
    let check = signed::check(&der, None, &[]).unwrap();
    assert!(check.is_valid());
    assert_eq!(check.content.as_deref(), Some(ENTITY));
    assert_eq!(check.certificates.len(), 3);
    for c in [&f.cert, f.ca.certificate(), &bob] {
        assert!(check.certificates.contains(c));
    }
    let s = &check.signers[0];
    assert_eq!(s.certificate.as_ref(), Some(&f.cert));
    assert_eq!(s.digest, Some(DigestAlgorithm::Sha256));
    assert_eq!(s.signing_time, Some(now()));
    assert_eq!(s.capabilities, caps);
    assert!(matches!(
        s.signer_id,
        signed::SignerId::IssuerAndSerialNumber { .. }
    ));

    // OpenSSL reads the same attributes.
    write(f.d(), "s.der", &der);
    let out = openssl_ok(
        f.d(),
        &["cms", "-cmsout", "-print", "-inform", "DER", "-in", "s.der"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("signingTime"), "{text}");
    assert!(text.contains("UTCTIME:Jan  1 00:00:00 2026 GMT"), "{text}");
    assert!(
        text.contains("SMIMECapabilities") || text.contains("S/MIME Capabilities"),
        "{text}"
    );
    assert!(text.contains("aes-256-gcm"), "{text}");

    // From 2050 on, signingTime is GeneralizedTime (RFC 5652 §11.3).
    let late = now() + days(366 * 25);
    let der = signed::sign(
        ENTITY,
        &key("alice-sign"),
        &f.cert,
        &[],
        &SignOptions::new(late),
    )
    .unwrap();
    let check = signed::check(&der, None, &[]).unwrap();
    assert_eq!(check.signers[0].signing_time, Some(late));
    write(f.d(), "late.der", &der);
    let out = openssl_ok(
        f.d(),
        &[
            "cms", "-cmsout", "-print", "-inform", "DER", "-in", "late.der",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("GENERALIZEDTIME:"), "{text}");
}

#[test]
fn signer_named_by_subject_key_identifier() {
    let f = Fixture::new();
    let options = SignOptions {
        signer_id: SignerIdKind::SubjectKeyIdentifier,
        ..SignOptions::new(now())
    };
    let der = f.sign(ENTITY, &options);
    let check = signed::check(&der, None, &[]).unwrap();
    assert!(check.is_valid(), "{:?}", check.signers);
    assert!(matches!(
        check.signers[0].signer_id,
        signed::SignerId::SubjectKeyIdentifier(_)
    ));
    write(f.d(), "ski.der", &der);
    let at = attime();
    openssl_ok(
        f.d(),
        &f.verify_args(&at, &["-inform", "DER", "-in", "ski.der", "-out", "o"]),
    );
}

/// Signs with `openssl cms -sign` and returns the output file's bytes.
fn openssl_sign(
    f: &Fixture,
    d: DigestAlgorithm,
    extra: &[&str],
    input: &str,
    out: &str,
) -> Vec<u8> {
    let k = keys_dir().join("alice-sign.key.pem");
    let mut args = vec![
        "cms",
        "-sign",
        "-md",
        d.name(),
        "-signer",
        "alice.pem",
        "-inkey",
        k.to_str().unwrap(),
        "-in",
        input,
        "-out",
        out,
    ];
    args.extend_from_slice(extra);
    openssl_ok(f.d(), &args);
    std::fs::read(f.d().join(out)).unwrap()
}

#[test]
fn we_check_what_openssl_signs_for_every_digest() {
    let f = Fixture::new();
    write(f.d(), "entity.txt", ENTITY);
    for d in DigestAlgorithm::ALL {
        // Attached DER (binary: the content is signed as is).
        let der = openssl_sign(
            &f,
            d,
            &["-nodetach", "-binary", "-outform", "DER"],
            "entity.txt",
            "att.der",
        );
        let check = signed::check(&der, None, &[]).unwrap();
        assert!(check.is_valid(), "{d}: {:?}", check.signers);
        assert_eq!(check.content.as_deref(), Some(ENTITY), "{d}");
        assert_eq!(check.signers[0].digest, Some(d));
        assert_eq!(check.signers[0].certificate.as_ref(), Some(&f.cert));
        assert!(check.signers[0].signing_time.is_some());
        // OpenSSL's default SMIMECapabilities list starts with AES-256-CBC.
        assert_eq!(
            check.signers[0].capabilities.first(),
            Some(&ContentAlgorithm::Aes256),
            "{d}"
        );

        // Detached S/MIME (multipart/signed, streamed BER), with outer header fields.
        let eml = openssl_sign(
            &f,
            d,
            &[
                "-from",
                "alice@example.test",
                "-to",
                "bob@example.test",
                "-subject",
                "hi",
            ],
            "entity.txt",
            "det.eml",
        );
        let msg = smime::parse(&eml).unwrap();
        assert_eq!(msg.kind, smime::SmimeKind::MultipartSigned);
        assert_eq!(
            msg.micalg.as_deref().and_then(smime::micalg_digest),
            Some(d)
        );
        assert!(
            msg.outer_headers
                .iter()
                .any(|h| h.is("Subject") && h.value() == "hi")
        );
        let content = msg.signed_content.as_deref().unwrap();
        assert_eq!(content, ENTITY);
        let check = signed::check(msg.der.as_deref().unwrap(), Some(content), &[]).unwrap();
        assert!(check.is_valid(), "{d}: {:?}", check.signers);
        assert_eq!(check.content, None);

        // Attached S/MIME (application/pkcs7-mime).
        let eml = openssl_sign(&f, d, &["-nodetach"], "entity.txt", "att.eml");
        let msg = smime::parse(&eml).unwrap();
        assert_eq!(
            msg.kind,
            smime::SmimeKind::Pkcs7Mime(smime::SmimeType::SignedData)
        );
        let check = signed::check(msg.der.as_deref().unwrap(), None, &[]).unwrap();
        assert!(check.is_valid(), "{d}: {:?}", check.signers);
        assert_eq!(check.content.as_deref(), Some(ENTITY));
    }
}

#[test]
fn we_check_openssl_variants_streamed_no_attributes_key_id_no_certs_pkcs7() {
    let f = Fixture::new();
    write(f.d(), "entity.txt", ENTITY);
    let d = DigestAlgorithm::Sha256;

    // Indefinite-length BER with chunked content.
    let ber = openssl_sign(
        &f,
        d,
        &["-nodetach", "-binary", "-stream", "-outform", "DER"],
        "entity.txt",
        "stream.der",
    );
    let check = signed::check(&ber, None, &[]).unwrap();
    assert!(check.is_valid(), "{:?}", check.signers);
    assert_eq!(check.content.as_deref(), Some(ENTITY));

    // No signed attributes: the signature covers the content itself.
    let der = openssl_sign(
        &f,
        d,
        &["-nodetach", "-binary", "-noattr", "-outform", "DER"],
        "entity.txt",
        "noattr.der",
    );
    let check = signed::check(&der, None, &[]).unwrap();
    assert!(check.is_valid(), "{:?}", check.signers);
    assert_eq!(check.signers[0].signing_time, None);

    // Signer named by subject key identifier.
    let der = openssl_sign(
        &f,
        d,
        &["-nodetach", "-binary", "-keyid", "-outform", "DER"],
        "entity.txt",
        "keyid.der",
    );
    let check = signed::check(&der, None, &[]).unwrap();
    assert!(check.is_valid(), "{:?}", check.signers);
    assert!(matches!(
        check.signers[0].signer_id,
        signed::SignerId::SubjectKeyIdentifier(_)
    ));

    // No certificates in the message: not found, unless the caller supplies it.
    let der = openssl_sign(
        &f,
        d,
        &["-nodetach", "-binary", "-nocerts", "-outform", "DER"],
        "entity.txt",
        "nocerts.der",
    );
    let check = signed::check(&der, None, &[]).unwrap();
    assert!(check.certificates.is_empty());
    assert!(matches!(
        check.signers[0].outcome,
        SignerOutcome::CertificateNotFound
    ));
    assert!(!check.is_valid());
    let check = signed::check(&der, None, std::slice::from_ref(&f.cert)).unwrap();
    assert!(check.is_valid(), "{:?}", check.signers);

    // The PKCS#7 tool (`openssl smime`).
    let k = keys_dir().join("alice-sign.key.pem");
    openssl_ok(
        f.d(),
        &[
            "smime",
            "-sign",
            "-md",
            "sha1",
            "-signer",
            "alice.pem",
            "-inkey",
            k.to_str().unwrap(),
            "-in",
            "entity.txt",
            "-out",
            "p7.eml",
        ],
    );
    let msg = smime::parse(&std::fs::read(f.d().join("p7.eml")).unwrap()).unwrap();
    let check = signed::check(
        msg.der.as_deref().unwrap(),
        msg.signed_content.as_deref(),
        &[],
    )
    .unwrap();
    assert!(check.is_valid(), "{:?}", check.signers);
}

fn flip(bytes: &mut [u8], at: usize) {
    bytes[at] ^= 0x01;
}

fn position_of(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

#[test]
fn a_tampered_content_or_signature_byte_fails_in_both() {
    let f = Fixture::new();
    let at = attime();
    let opts = f.options(DigestAlgorithm::Sha256, false);
    let der = f.sign(ENTITY, &opts);

    // Attached: one byte of the content.
    let mut bad = der.clone();
    flip(&mut bad, position_of(&der, b"Hello") + 2);
    let check = signed::check(&bad, None, &[]).unwrap();
    assert!(matches!(
        check.signers[0].outcome,
        SignerOutcome::Tampered(Tamper::ContentDigest)
    ));
    write(f.d(), "bad-content.der", &bad);
    let text = openssl_fails(
        f.d(),
        &f.verify_args(
            &at,
            &["-inform", "DER", "-in", "bad-content.der", "-out", "o"],
        ),
    );
    assert!(text.contains("Verification failure"), "{text}");

    // Attached: one byte of the signature (the last element of the message).
    let mut bad = der.clone();
    let n = bad.len();
    flip(&mut bad, n - 20);
    let check = signed::check(&bad, None, &[]).unwrap();
    assert!(matches!(
        check.signers[0].outcome,
        SignerOutcome::Tampered(Tamper::Signature)
    ));
    write(f.d(), "bad-sig.der", &bad);
    let text = openssl_fails(
        f.d(),
        &f.verify_args(&at, &["-inform", "DER", "-in", "bad-sig.der", "-out", "o"]),
    );
    assert!(text.contains("Verification failure"), "{text}");

    // Detached multipart/signed: one byte of the signed text.
    let eml = f.multipart(DigestAlgorithm::Sha256);
    let mut bad = eml.clone();
    flip(&mut bad, position_of(&eml, b"Hello") + 2);
    let msg = smime::parse(&bad).unwrap();
    let check = signed::check(
        msg.der.as_deref().unwrap(),
        msg.signed_content.as_deref(),
        &[],
    )
    .unwrap();
    assert!(matches!(
        check.signers[0].outcome,
        SignerOutcome::Tampered(Tamper::ContentDigest)
    ));
    write(f.d(), "bad-content.eml", &bad);
    openssl_fails(
        f.d(),
        &f.verify_args(&at, &["-in", "bad-content.eml", "-out", "o"]),
    );

    // Detached: one byte of the signature value inside the base64 part.
    let msg = smime::parse(&eml).unwrap();
    let mut sig = msg.der.clone().unwrap();
    let n = sig.len();
    flip(&mut sig, n - 20);
    let split = smime::split(MESSAGE).unwrap();
    let bad = smime::multipart_signed(
        &split.outer_headers,
        &split.inner,
        &sig,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let msg = smime::parse(&bad).unwrap();
    let check = signed::check(
        msg.der.as_deref().unwrap(),
        msg.signed_content.as_deref(),
        &[],
    )
    .unwrap();
    assert!(matches!(
        check.signers[0].outcome,
        SignerOutcome::Tampered(Tamper::Signature)
    ));
    write(f.d(), "bad-sig.eml", &bad);
    openssl_fails(
        f.d(),
        &f.verify_args(&at, &["-in", "bad-sig.eml", "-out", "o"]),
    );

    // And what OpenSSL signed, tampered, we refuse.
    write(f.d(), "entity.txt", ENTITY);
    let der = openssl_sign(
        &f,
        DigestAlgorithm::Sha1,
        &["-nodetach", "-binary", "-outform", "DER"],
        "entity.txt",
        "o.der",
    );
    let mut bad = der.clone();
    flip(&mut bad, position_of(&der, b"Hello") + 2);
    assert!(!signed::check(&bad, None, &[]).unwrap().is_valid());
}

#[test]
fn rfc4134_rsa_examples_are_valid_with_the_certificates_they_carry() {
    let content = rfc4134("ExContent.bin");
    assert_eq!(content, b"This is some sample content.");
    // 4.2: Alice's certificate only, no signed attributes. 4.5: BER (indefinite lengths,
    // chunked content), with Carl's root certificate too.
    for (file, certs) in [("4.2.bin", 1), ("4.5.bin", 2)] {
        let check = signed::check(&rfc4134(file), None, &[]).unwrap();
        assert!(check.is_valid(), "{file}: {:?}", check.signers);
        assert_eq!(check.content.as_deref(), Some(content.as_slice()), "{file}");
        assert_eq!(check.certificates.len(), certs, "{file}");
        let s = &check.signers[0];
        assert_eq!(s.digest, Some(DigestAlgorithm::Sha1));
        let signer = s.certificate.as_ref().unwrap();
        assert!(
            signer
                .tbs_certificate()
                .subject()
                .to_string()
                .contains("AliceRSA"),
            "{file}"
        );
        let alice =
            pki::certificate::parse_certificate(&rfc4134("AliceRSASignByCarl.cer")).unwrap();
        assert_eq!(signer, &alice);
        assert_eq!(pki::certificate::public_key(signer).unwrap().bits(), 1024);
    }
    // Tampered: change the content of 4.2.
    let mut bad = rfc4134("4.2.bin");
    let at = position_of(&bad, b"sample");
    flip(&mut bad, at);
    assert!(matches!(
        signed::check(&bad, None, &[]).unwrap().signers[0].outcome,
        SignerOutcome::Tampered(Tamper::Signature)
    ));
}

#[test]
fn rfc4134_dsa_examples_are_read_and_reported_unsupported() {
    let content = rfc4134("ExContent.bin");
    // 4.1 basic, 4.3 detached, 4.4 with attributes, countersignature and Alice's RSA
    // certificate too, 4.6 two signers, 4.7 signer named by SKI, 4.10 many attributes.
    for file in [
        "4.1.bin", "4.3.bin", "4.4.bin", "4.6.bin", "4.7.bin", "4.10.bin",
    ] {
        let der = rfc4134(file);
        let detached = (file == "4.3.bin").then_some(content.as_slice());
        let check = signed::check(&der, detached, &[]).unwrap();
        if file != "4.3.bin" {
            assert_eq!(check.content.as_deref(), Some(content.as_slice()), "{file}");
        }
        assert!(!check.signers.is_empty(), "{file}");
        for s in &check.signers {
            let SignerOutcome::Unsupported(e) = &s.outcome else {
                panic!("{file}: {:?}", s.outcome);
            };
            assert_eq!(e.code(), "PKI-021", "{file}: {e}");
            assert!(e.to_string().contains("1.2.840.10040.4.3"), "{file}: {e}");
            assert!(s.certificate.is_some(), "{file}: signer certificate found");
            assert_eq!(s.digest, Some(DigestAlgorithm::Sha1));
        }
        if file == "4.7.bin" {
            assert!(matches!(
                check.signers[0].signer_id,
                signed::SignerId::SubjectKeyIdentifier(_)
            ));
        }
        if file == "4.4.bin" {
            // The signed messageDigest matches: only the DSA signature is beyond us.
            assert!(check.signers[0].signing_time.is_some());
        }
    }
    // 4.6 has two signers.
    assert_eq!(
        signed::check(&rfc4134("4.6.bin"), None, &[])
            .unwrap()
            .signers
            .len(),
        2
    );
    // 4.11: certificates only.
    let check = signed::check(&rfc4134("4.11.bin"), None, &[]).unwrap();
    assert!(check.signers.is_empty());
    assert!(!check.is_valid());
    assert_eq!(check.certificates.len(), 2);
}

#[test]
fn rfc4134_mime_examples_parse_and_give_the_sample_content() {
    // 4.8: multipart/signed (the detached signature of 4.3, DSA).
    let msg = smime::parse(&rfc4134("4.8.eml")).unwrap();
    assert_eq!(msg.kind, smime::SmimeKind::MultipartSigned);
    assert_eq!(msg.micalg.as_deref(), Some("SHA1"));
    let inner = msg.signed_content.as_deref().unwrap();
    assert_eq!(inner, b"\r\nThis is some sample content.");
    assert_eq!(
        smime::Entity::parse(inner).unwrap().body,
        b"This is some sample content."
    );
    let check = signed::check(msg.der.as_deref().unwrap(), Some(inner), &[]).unwrap();
    assert!(matches!(
        check.signers[0].outcome,
        SignerOutcome::Unsupported(_)
    ));
    assert!(check.signers[0].certificate.is_some());
    assert!(
        msg.outer_headers
            .iter()
            .any(|h| h.is("Subject") && h.value() == "Example 4.8")
    );

    // 4.9: application/pkcs7-mime signed-data.
    let msg = smime::parse(&rfc4134("4.9.eml")).unwrap();
    assert_eq!(
        msg.kind,
        smime::SmimeKind::Pkcs7Mime(smime::SmimeType::SignedData)
    );
    let check = signed::check(msg.der.as_deref().unwrap(), None, &[]).unwrap();
    let inner = check.content.unwrap();
    assert_eq!(inner, b"\r\nThis is some sample content.");
    assert_eq!(
        smime::Entity::parse(&inner).unwrap().body,
        b"This is some sample content."
    );
    assert!(matches!(
        check.signers[0].outcome,
        SignerOutcome::Unsupported(_)
    ));
}

#[test]
fn malformed_cms_gives_typed_errors_and_never_panics() {
    let f = Fixture::new();
    let der = f.sign(ENTITY, &f.options(DigestAlgorithm::Sha256, false));

    // Truncated.
    let e = signed::check(&der[..der.len() - 7], None, &[]).unwrap_err();
    assert_eq!(e.code(), "PKI-001", "{e}");
    for bad in [&b""[..], b"\x30", b"garbage", b"\x30\x03\x02\x01\x00"] {
        let e = signed::check(bad, None, &[]).unwrap_err();
        assert_eq!(e.code(), "PKI-001", "{e}");
    }
    // Wrong content type: RFC 4134's EnvelopedData.
    let e = signed::check(&rfc4134("5.1.bin"), None, &[]).unwrap_err();
    assert_eq!(e.code(), "PKI-070", "{e}");
    assert!(e.to_string().contains("enveloped-data"), "{e}");
    // Unknown digest OID (sha256 2.16.840.1.101.3.4.2.1 -> ...2.99, same length).
    let sha256 = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    let mut unknown = der.clone();
    let mut i = 0;
    while let Some(p) = unknown[i..].windows(9).position(|w| w == sha256) {
        unknown[i + p + 8] = 0x63;
        i += p + 9;
    }
    let check = signed::check(&unknown, None, &[]).unwrap();
    let SignerOutcome::Unsupported(e) = &check.signers[0].outcome else {
        panic!("{:?}", check.signers[0].outcome);
    };
    assert_eq!(e.code(), "PKI-021", "{e}");
    assert_eq!(check.signers[0].digest, None);
    // Detached without content, attached with content.
    let det = f.sign(ENTITY, &f.options(DigestAlgorithm::Sha256, true));
    assert_eq!(
        signed::check(&det, None, &[]).unwrap_err().code(),
        "PKI-071"
    );
    assert_eq!(
        signed::check(&der, Some(ENTITY), &[]).unwrap_err().code(),
        "PKI-072"
    );
    // Oversized.
    let huge = vec![0x30u8; signed::MAX_SIGNED_DATA_SIZE + 1];
    assert_eq!(
        signed::check(&huge, None, &[]).unwrap_err().code(),
        "PKI-004"
    );
    // Every truncation and every single-byte change: an error or a non-valid verdict.
    for n in 0..der.len() {
        assert!(
            signed::check(&der[..n], None, &[]).is_err(),
            "truncated at {n}"
        );
    }
    // A change in the content or anywhere in the SignerInfo (the last ~400 bytes: signer id,
    // signed attributes, signature) never verifies; elsewhere it may (the digestAlgorithms
    // set and the certificates are not covered by the signature, as in RFC 5652).
    let content_at = position_of(&der, b"Hello");
    for i in (content_at..content_at + 20).chain(der.len() - 400..der.len()) {
        let mut bad = der.clone();
        bad[i] ^= 0x5a;
        if let Ok(c) = signed::check(&bad, None, &[]) {
            assert!(
                !c.is_valid(),
                "byte {i} changed and the signature still verifies"
            );
        }
    }
    for i in 0..der.len() {
        let mut bad = der.clone();
        bad[i] ^= 0x5a;
        let _ = signed::check(&bad, None, &[]);
    }
}

#[test]
fn signing_refuses_a_key_that_does_not_match_the_certificate() {
    let f = Fixture::new();
    let e = signed::sign(
        ENTITY,
        &key("bob-sign"),
        &f.cert,
        &[],
        &SignOptions::new(now()),
    )
    .unwrap_err();
    assert_eq!(e.code(), "PKI-031", "{e}");
}

/// The signed attributes of the one SignerInfo of a SignedData, decoded.
fn signed_attributes(der: &[u8]) -> x509_cert::attr::Attributes {
    use der::Decode;
    let ci = cms::content_info::ContentInfo::from_der(der).unwrap();
    let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    let si = sd.signer_infos.0.iter().next().unwrap().clone();
    si.signed_attrs.unwrap()
}

fn attribute_value(attrs: &x509_cert::attr::Attributes, oid: &str) -> Vec<u8> {
    use der::Encode;
    let oid: const_oid::ObjectIdentifier = oid.parse().unwrap();
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let a = found.next().unwrap_or_else(|| panic!("no attribute {oid}"));
    assert!(found.next().is_none(), "{oid} twice");
    assert_eq!(a.values.len(), 1, "{oid}");
    a.values.iter().next().unwrap().to_der().unwrap()
}

#[test]
fn the_encryption_key_preference_names_the_encryption_certificate_in_both_forms() {
    use der::Encode;
    let f = Fixture::new();
    let (_, enc) = user_certs(&f.ca, "alice");
    let mut options = SignOptions {
        capabilities: vec![
            ContentAlgorithm::TripleDes,
            ContentAlgorithm::Aes128,
            ContentAlgorithm::Aes256,
        ],
        ..SignOptions::new(now())
    };
    options.prefer_encryption_certificate(&enc);
    let der = f.sign(ENTITY, &options);

    let attrs = signed_attributes(&der);
    let issuer = enc.tbs_certificate().issuer().to_der().unwrap();
    let serial = enc.tbs_certificate().serial_number().to_der().unwrap();
    let mut ias = issuer.clone();
    ias.extend(&serial);
    // Microsoft's: IssuerAndSerialNumber ::= SEQUENCE { issuer, serialNumber }.
    let ms = attribute_value(&attrs, "1.3.6.1.4.1.311.16.4");
    assert_eq!(ms[0], 0x30);
    assert_eq!(&ms[ms.len() - ias.len()..], &ias[..]);
    // RFC 8551 §2.5.3: [0] IMPLICIT IssuerAndSerialNumber: the same contents under 0xa0.
    let rfc = attribute_value(&attrs, "1.2.840.113549.1.9.16.2.11");
    assert_eq!(rfc[0], 0xa0);
    assert_eq!(&rfc[1..], &ms[1..]);
    // The capabilities attribute strongest first, whatever order was given.
    let caps = attribute_value(&attrs, "1.2.840.113549.1.9.15");
    assert_eq!(
        caps,
        pki::algorithms::encode_capabilities(&pki::algorithms::DEFAULT_CAPABILITIES).unwrap()
    );

    // Our check still finds the signature valid, and reads the capabilities in that order.
    let check = signed::check(&der, None, &[]).unwrap();
    assert!(check.is_valid());
    assert_eq!(
        check.signers[0].capabilities,
        pki::algorithms::DEFAULT_CAPABILITIES
    );

    // OpenSSL verifies it and prints both attributes with the encryption certificate's serial.
    write(f.d(), "pref.der", &der);
    let at = attime();
    let args = f.verify_args(&at, &["-inform", "DER", "-in", "pref.der", "-out", "o.txt"]);
    openssl_ok(f.d(), &args);
    let out = openssl_ok(
        f.d(),
        &[
            "cms", "-cmsout", "-print", "-inform", "DER", "-in", "pref.der",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let serial = serial_as_openssl_prints(&enc);
    for (oid, tag) in [
        ("(1.3.6.1.4.1.311.16.4)", "cons: SEQUENCE"),
        ("(1.2.840.113549.1.9.16.2.11)", "cons: cont [ 0 ]"),
    ] {
        let at = text.find(oid).unwrap_or_else(|| panic!("{oid}: {text}"));
        // The attribute's value: up to the next attribute or the signature.
        let value = &text[at..];
        let end = value[oid.len()..]
            .find("object:")
            .or_else(|| value.find("signatureAlgorithm"))
            .map_or(value.len(), |e| e + oid.len());
        let value = &value[..end];
        assert!(value.contains(tag), "{oid}: {value}");
        assert!(value.contains("KMS Test CA"), "{oid}: {value}");
        assert!(
            value.contains(&format!("INTEGER           :{serial}")),
            "{oid} should name serial {serial}: {value}"
        );
    }

    // Without an encryption certificate neither attribute is written.
    let der = f.sign(ENTITY, &SignOptions::new(now()));
    let attrs = signed_attributes(&der);
    for oid in ["1.3.6.1.4.1.311.16.4", "1.2.840.113549.1.9.16.2.11"] {
        let oid: const_oid::ObjectIdentifier = oid.parse().unwrap();
        assert!(attrs.iter().all(|a| a.oid != oid), "{oid}");
    }
}

/// A certificate's serial number as `openssl asn1parse` prints an INTEGER: upper-case hex
/// without leading zero bytes.
fn serial_as_openssl_prints(cert: &Certificate) -> String {
    let bytes = cert.tbs_certificate().serial_number().as_bytes();
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].iter().map(|b| format!("{b:02X}")).collect()
}
