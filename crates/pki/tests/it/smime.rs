//! S/MIME framing: a message with real-world header fields survives sign, wrap and unwrap with
//! its outer fields byte-identical and its inner entity exact; what OpenSSL writes parses;
//! malformed MIME gives clear, typed errors.

use pki::signed::{self, SignOptions};
use pki::smime::{self, Entity, HeaderField, SmimeKind, SmimeType};
use pki::{Certificate, DigestAlgorithm};

use crate::support::*;

/// Outer fields (one folded, one with an RFC 2047 encoded subject), then content fields (one
/// folded) last, so that `join(split(m))` gives `m` back byte for byte.
const OUTER: &[u8] = b"From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.test>\r\n\
To: Bob <bob@example.test>,\r\n\tCarol <carol@example.test>\r\n\
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=\r\n\
Date: Thu, 01 Jan 2026 09:30:00 +0100\r\n\
Message-ID: <20260101093000.1234@example.test>\r\n\
References: <a@example.test>\r\n <b@example.test>\r\n\
MIME-Version: 1.0\r\n";

const INNER: &[u8] = b"Content-Type: text/plain;\r\n\tcharset=utf-8; format=flowed\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Gr=C3=BC=C3=9Fe aus M=C3=BCnchen.\r\n\
From the tests, with a line that starts with From.\r\n\
-- \r\n\
J=C3=BCrgen\r\n";

fn message() -> Vec<u8> {
    [OUTER, INNER].concat()
}

fn raw(fields: &[HeaderField]) -> Vec<u8> {
    fields.iter().flat_map(|h| h.raw().to_vec()).collect()
}

fn signer() -> (pki::Issuer, Certificate) {
    let ca = test_ca();
    let (cert, _) = user_certs(&ca, "alice");
    (ca, cert)
}

#[test]
fn sign_wrap_unwrap_keeps_outer_fields_byte_identical_and_the_inner_entity_exact() {
    let (ca, cert) = signer();
    let msg = message();
    let split = smime::split(&msg).unwrap();
    assert_eq!(raw(&split.outer_headers), OUTER);
    assert_eq!(split.inner, INNER);
    assert_eq!(smime::join(&split.outer_headers, &split.inner), msg);
    // LF line ends are canonicalised first: same result.
    let lf: Vec<u8> = msg.iter().copied().filter(|b| *b != b'\r').collect();
    assert_eq!(smime::split(&lf).unwrap(), split);

    let key = key("alice-sign");
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "ca.pem", ca.certificate());
    let at = attime();
    for digest in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha1] {
        let opts = SignOptions {
            digest,
            detached: true,
            ..SignOptions::new(now())
        };
        // multipart/signed
        let sig = signed::sign(&split.inner, &key, &cert, &[], &opts).unwrap();
        let eml =
            smime::multipart_signed(&split.outer_headers, &split.inner, &sig, digest).unwrap();
        assert!(eml.starts_with(OUTER));
        let parsed = smime::parse(&eml).unwrap();
        assert_eq!(parsed.kind, SmimeKind::MultipartSigned);
        assert_eq!(raw(&parsed.outer_headers), OUTER);
        assert_eq!(parsed.signed_content.as_deref(), Some(INNER));
        assert_eq!(parsed.micalg.as_deref(), Some(smime::micalg(digest)));
        assert_eq!(parsed.der.as_deref(), Some(sig.as_slice()));
        let check = signed::check(parsed.der.as_deref().unwrap(), Some(INNER), &[]).unwrap();
        assert!(check.is_valid(), "{:?}", check.signers);
        assert_eq!(smime::join(&parsed.outer_headers, INNER), msg);
        // Base64 lines of the signature part are at most 76 characters.
        let text = String::from_utf8(eml.clone()).unwrap();
        assert!(
            text.split("\r\n").all(|l| l.len() <= 76
                || l.starts_with("Content-Type")
                || l.starts_with("From:")
                || l.starts_with("Subject:")),
            "{text}"
        );
        // OpenSSL reads our framing and the folded fields, and gives back the inner entity.
        write(d, "m.eml", &eml);
        openssl_ok(
            d,
            &[
                "cms",
                "-verify",
                "-in",
                "m.eml",
                "-CAfile",
                "ca.pem",
                "-attime",
                &at,
                "-purpose",
                "smimesign",
                "-out",
                "inner.txt",
            ],
        );
        assert_eq!(std::fs::read(d.join("inner.txt")).unwrap(), INNER);

        // application/pkcs7-mime signed-data
        let opts = SignOptions {
            detached: false,
            ..opts
        };
        let der = signed::sign(&split.inner, &key, &cert, &[], &opts).unwrap();
        let eml = smime::pkcs7_mime(&split.outer_headers, SmimeType::SignedData, &der).unwrap();
        assert!(eml.starts_with(OUTER));
        let parsed = smime::parse(&eml).unwrap();
        assert_eq!(parsed.kind, SmimeKind::Pkcs7Mime(SmimeType::SignedData));
        assert_eq!(raw(&parsed.outer_headers), OUTER);
        assert!(!parsed.legacy_media_type);
        let check = signed::check(parsed.der.as_deref().unwrap(), None, &[]).unwrap();
        assert!(check.is_valid());
        let inner = check.content.unwrap();
        assert_eq!(inner, INNER);
        assert_eq!(smime::join(&parsed.outer_headers, &inner), msg);
        write(d, "p.eml", &eml);
        openssl_ok(
            d,
            &[
                "cms",
                "-verify",
                "-in",
                "p.eml",
                "-CAfile",
                "ca.pem",
                "-attime",
                &at,
                "-purpose",
                "smimesign",
                "-out",
                "inner.txt",
            ],
        );
        assert_eq!(std::fs::read(d.join("inner.txt")).unwrap(), INNER);
    }
}

#[test]
fn a_message_without_content_fields_or_with_them_first() {
    // No Content-* fields at all: the inner entity is an empty header section and the body.
    let split = smime::split(b"Subject: x\r\n\r\nbody\r\n").unwrap();
    assert_eq!(split.inner, b"\r\nbody\r\n");
    assert_eq!(Entity::parse(&split.inner).unwrap().body, b"body\r\n");
    // Content fields among the outer ones move inside, in their order.
    let split = smime::split(
        b"Content-Type: text/plain\r\nFrom: a@example.test\r\nContent-Language: de\r\n\
          Subject: x\r\n\r\nbody",
    )
    .unwrap();
    assert_eq!(
        raw(&split.outer_headers),
        b"From: a@example.test\r\nSubject: x\r\n"
    );
    assert_eq!(
        split.inner,
        b"Content-Type: text/plain\r\nContent-Language: de\r\n\r\nbody"
    );
    // A message with a header section only.
    let e = Entity::parse(b"Subject: x\r\n").unwrap();
    assert_eq!(e.headers.len(), 1);
    assert!(e.body.is_empty());
}

#[test]
fn messages_openssl_writes_are_recognised() {
    let ca = test_ca();
    let (sign, enc) = user_certs(&ca, "alice");
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "sign.pem", &sign);
    write_pem_cert(d, "enc.pem", &enc);
    write(d, "e.txt", b"Content-Type: text/plain\r\n\r\nhello\r\n");
    let k = keys_dir().join("alice-sign.key.pem");
    let k = k.to_str().unwrap();
    let hdr = [
        "-from",
        "alice@example.test",
        "-to",
        "bob@example.test",
        "-subject",
        "t",
    ];
    let run = |args: &[&str], out: &str| -> smime::SmimeMessage {
        let mut a = args.to_vec();
        a.extend_from_slice(&["-in", "e.txt", "-out", out]);
        a.extend_from_slice(&hdr);
        openssl_ok(d, &a);
        let msg = smime::parse(&std::fs::read(d.join(out)).unwrap()).unwrap();
        let names: Vec<&str> = msg.outer_headers.iter().map(|h| h.name()).collect();
        for n in ["To", "From", "Subject", "MIME-Version"] {
            assert!(names.contains(&n), "{out}: {names:?}");
        }
        msg
    };
    let m = run(
        &["cms", "-sign", "-signer", "sign.pem", "-inkey", k],
        "det.eml",
    );
    assert_eq!(m.kind, SmimeKind::MultipartSigned);
    assert_eq!(
        m.signed_content.as_deref(),
        Some(&b"Content-Type: text/plain\r\n\r\nhello\r\n"[..])
    );
    let m = run(
        &[
            "cms",
            "-sign",
            "-nodetach",
            "-signer",
            "sign.pem",
            "-inkey",
            k,
        ],
        "att.eml",
    );
    assert_eq!(m.kind, SmimeKind::Pkcs7Mime(SmimeType::SignedData));
    assert!(!m.legacy_media_type);
    // `openssl smime` writes the old x-pkcs7 media types.
    let m = run(
        &[
            "smime",
            "-sign",
            "-nodetach",
            "-signer",
            "sign.pem",
            "-inkey",
            k,
        ],
        "old.eml",
    );
    assert_eq!(m.kind, SmimeKind::Pkcs7Mime(SmimeType::SignedData));
    assert!(m.legacy_media_type);
    let m = run(
        &["smime", "-sign", "-signer", "sign.pem", "-inkey", k],
        "old-det.eml",
    );
    assert_eq!(m.kind, SmimeKind::MultipartSigned);
    assert!(m.legacy_media_type);
    let m = run(
        &["cms", "-encrypt", "-aes256", "-recip", "enc.pem"],
        "env.eml",
    );
    assert_eq!(m.kind, SmimeKind::Pkcs7Mime(SmimeType::EnvelopedData));
    let m = run(
        &["cms", "-encrypt", "-aes-256-gcm", "-recip", "enc.pem"],
        "gcm.eml",
    );
    assert_eq!(m.kind, SmimeKind::Pkcs7Mime(SmimeType::AuthEnvelopedData));
    assert_eq!(
        signed::check(m.der.as_deref().unwrap(), None, &[])
            .unwrap_err()
            .code(),
        "PKI-070"
    );
    // A pkcs7-mime without smime-type is recognised from the DER.
    let mut env = std::fs::read(d.join("env.eml")).unwrap();
    let text = String::from_utf8(env.clone()).unwrap();
    let text = text.replace(" smime-type=enveloped-data;", "");
    env = text.into_bytes();
    assert_eq!(
        smime::parse(&env).unwrap().kind,
        SmimeKind::Pkcs7Mime(SmimeType::EnvelopedData)
    );
    // certs-only
    openssl_ok(
        d,
        &[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            "sign.pem",
            "-outform",
            "DER",
            "-out",
            "c.p7",
        ],
    );
    let der = std::fs::read(d.join("c.p7")).unwrap();
    let eml = smime::pkcs7_mime(&[], SmimeType::CertsOnly, &der).unwrap();
    let m = smime::parse(&eml).unwrap();
    assert_eq!(m.kind, SmimeKind::Pkcs7Mime(SmimeType::CertsOnly));
    let check = signed::check(m.der.as_deref().unwrap(), None, &[]).unwrap();
    assert_eq!(check.certificates, vec![sign]);
    // A plain message is plain.
    let m = smime::parse(b"Subject: x\r\nContent-Type: text/plain\r\n\r\nhi").unwrap();
    assert_eq!(m.kind, SmimeKind::Plain);
    assert!(m.der.is_none());
}

#[test]
fn multipart_boundaries_follow_rfc_2046() {
    let sig_b64 = {
        let (_, cert) = signer();
        let der = signed::sign(
            b"x",
            &key("alice-sign"),
            &cert,
            &[],
            &SignOptions {
                detached: true,
                ..SignOptions::new(now())
            },
        )
        .unwrap();
        let eml = smime::multipart_signed(&[], b"x", &der, DigestAlgorithm::Sha256).unwrap();
        let text = String::from_utf8(eml).unwrap();
        let start = text.find("\r\n\r\nMII").unwrap() + 4;
        let end = text[start..].find("\r\n--").unwrap() + start;
        text[start..end].to_string()
    };
    // Preamble, transport padding after a delimiter, a line that only starts like the
    // boundary, an epilogue, and LF line ends.
    let eml = format!(
        "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\n \
         micalg=sha-256; boundary=b1\n\npreamble\n--b1  \nContent-Type: text/plain\n\n\
         --b1x is not a delimiter\n--b1\nContent-Type: application/pkcs7-signature\n\
         Content-Transfer-Encoding: base64\n\n{sig_b64}\n--b1--\nepilogue\n"
    );
    let m = smime::parse(eml.as_bytes()).unwrap();
    assert_eq!(
        m.signed_content.as_deref(),
        Some(&b"Content-Type: text/plain\r\n\r\n--b1x is not a delimiter"[..])
    );
    assert!(m.der.is_some());
}

#[test]
fn malformed_mime_gives_clear_errors() {
    let ok_sig = "Content-Type: application/pkcs7-signature\r\n\
                  Content-Transfer-Encoding: base64\r\n\r\nMAA=\r\n";
    let ms = "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; \
              micalg=sha-256";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("{ms}\r\n\r\n--b\r\nx\r\n--b--\r\n"),
            "PKI-073",
            "without a boundary",
        ),
        (
            format!("{ms}; boundary=b\r\n\r\n--b\r\nx\r\n--b--\r\n"),
            "PKI-073",
            "1 part(s)",
        ),
        (
            format!("{ms}; boundary=b\r\n\r\nno delimiter here\r\n"),
            "PKI-073",
            "never occurs",
        ),
        (
            format!("{ms}; boundary=b\r\n\r\n--b\r\nx\r\n--b\r\n{ok_sig}"),
            "PKI-073",
            "closing boundary is missing",
        ),
        (
            format!(
                "{ms}; boundary=b\r\n\r\n--b\r\nx\r\n--b\r\n\
                 Content-Type: application/pkcs7-signature\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n@@not base64@@\r\n--b--\r\n"
            ),
            "PKI-074",
            "signature part",
        ),
        (
            format!(
                "{ms}; boundary=b\r\n\r\n--b\r\nx\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
                 y\r\n--b--\r\n"
            ),
            "PKI-075",
            "text/plain",
        ),
        (
            "Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; \
             boundary=b\r\n\r\n"
                .into(),
            "PKI-075",
            "pgp",
        ),
        (
            "Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nMII%%%\r\n"
                .into(),
            "PKI-074",
            "pkcs7-mime body",
        ),
        (
            "Content-Type: application/pkcs7-mime\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\r\n=30\r\n"
                .into(),
            "PKI-073",
            "quoted-printable",
        ),
        (
            // ContentInfo of type id-data: not S/MIME.
            "Content-Type: application/pkcs7-mime\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             MA0GCSqGSIb3DQEHAaAA\r\n"
                .into(),
            "PKI-075",
            "data",
        ),
        (
            "Content-Type: application/pkcs7-mime\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                .into(),
            "PKI-073",
            "empty",
        ),
        (
            "Subject: ok\r\nthis line is not a header\r\n\r\nbody".into(),
            "PKI-073",
            "line 2",
        ),
        (" folded first\r\n\r\n".into(), "PKI-073", "continuation"),
        (
            "Content-Type: text\r\n\r\n".into(),
            "PKI-073",
            "Content-Type",
        ),
    ];
    for (input, code, words) in cases {
        let e = smime::parse(input.as_bytes()).unwrap_err();
        assert_eq!(e.code(), code, "{input:?}: {e}");
        assert!(e.to_string().contains(words), "{input:?}: {e}");
    }
    // Oversized message and header section.
    let huge = vec![b'a'; smime::MAX_MESSAGE_SIZE + 1];
    assert_eq!(smime::parse(&huge).unwrap_err().code(), "PKI-004");
    let mut big_header = b"X-Big: ".to_vec();
    big_header.extend(std::iter::repeat_n(b'a', smime::MAX_HEADER_SIZE));
    big_header.extend_from_slice(b"\r\n\r\n");
    assert_eq!(smime::parse(&big_header).unwrap_err().code(), "PKI-004");
    // Truncation of a good message at every 97th byte: an error or a (shorter) plain parse,
    // never a panic.
    let (_, cert) = signer();
    let split = smime::split(&message()).unwrap();
    let sig = signed::sign(
        &split.inner,
        &key("alice-sign"),
        &cert,
        &[],
        &SignOptions {
            detached: true,
            ..SignOptions::new(now())
        },
    )
    .unwrap();
    let eml = smime::multipart_signed(
        &split.outer_headers,
        &split.inner,
        &sig,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    for n in (0..eml.len()).step_by(97) {
        if let Ok(smime::SmimeMessage {
            der: Some(der),
            signed_content: Some(c),
            ..
        }) = smime::parse(&eml[..n])
        {
            let _ = signed::check(&der, Some(&c), &[]);
        }
    }
}
