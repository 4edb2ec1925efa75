//! `lockbox` end to end: encrypt and decrypt, sign and verify against the OpenSSL CLI,
//! negotiation and the policy floor, every verify verdict with its exit code, and bad input.

use pki::ContentAlgorithm as A;
use pki::crl::RevocationReason;

use crate::fixtures::*;

const LEGACY: [&str; 4] = ["-provider", "legacy", "-provider", "default"];

fn inner_body(eml: &[u8]) -> String {
    String::from_utf8_lossy(eml).replace("\r\n", "\n")
}

#[test]
fn encrypt_negotiates_and_openssl_decrypts_for_each_recipient() {
    let w = World::new();
    w.user("alice", "alice", "alice-enc", &A::RANKING);
    w.user("bob", "bob", "bob-enc", &[A::Aes128, A::TripleDes]);
    w.message("msg.eml");
    let out = w.lockbox(
        &[
            "encrypt",
            "--to",
            "alice-enc.pem",
            "--to",
            "bob-enc.pem",
            "--in",
            "msg.eml",
            "--out",
            "enc.eml",
            "--json",
        ],
        None,
    );
    ok(&out);
    let j = json(&out);
    assert_eq!(j["algorithm"], "aes128");
    assert_eq!(j["forced_weaker"], serde_json::json!(["bob@example.test"]));
    let enc = String::from_utf8(w.read("enc.eml")).unwrap();
    // The outer header fields stay outside, unencrypted; the body does not show.
    assert!(enc.contains("Subject: quarterly figures\r\n"), "{enc}");
    assert!(
        enc.contains("application/pkcs7-mime") && enc.contains("enveloped-data"),
        "{enc}"
    );
    assert!(!enc.contains("The numbers are in"), "{enc}");
    for who in ["alice", "bob"] {
        w.openssl_ok(&[
            "cms",
            "-decrypt",
            "-in",
            "enc.eml",
            "-recip",
            &format!("{who}-enc.pem"),
            "-inkey",
            &format!("{who}-enc.key"),
            "-out",
            &format!("{who}.txt"),
        ]);
        let plain = inner_body(&w.read(&format!("{who}.txt")));
        assert!(
            plain.contains(
                "Content-Type: text/plain; charset=utf-8\n\nThe numbers are in.\nSee you Monday.\n"
            ),
            "{plain}"
        );
    }
}

#[test]
fn openssl_encrypted_mail_decrypts_with_lockbox_for_every_algorithm() {
    let w = World::new();
    w.user("alice", "alice", "alice-enc", &A::RANKING);
    w.message("msg.eml");
    for (flag, name) in [
        ("-des3", "3des"),
        ("-aes-256-cbc", "aes256"),
        ("-aes-128-gcm", "aes128-gcm"),
        ("-des", "des"),
        ("-rc2-40-cbc", "rc2-40"),
        ("-cast5-cbc", "cast128"),
    ] {
        let mut args = vec!["cms", "-encrypt"];
        args.extend(LEGACY);
        args.extend([flag, "-in", "msg.eml", "-out", "enc.eml", "alice-enc.pem"]);
        w.openssl_ok(&args);
        let out = w.lockbox(
            &[
                "decrypt",
                "--p12",
                "alice.p12",
                "--password-stdin",
                "--in",
                "enc.eml",
                "--out",
                "dec.eml",
                "--json",
            ],
            Some(PASSWORD),
        );
        ok(&out);
        assert_eq!(json(&out)["algorithm"], name);
        assert!(inner_body(&w.read("dec.eml")).contains("The numbers are in."));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(w.path("dec.eml"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "decrypted mail is private to its owner");
        }
    }
}

#[test]
fn cast40_and_cast64_recipients_get_cast40_and_the_cast40_one_is_named() {
    let w = World::new();
    w.user("carol", "carol", "carol-enc", &[A::Cast40]);
    w.user("dave", "bob", "bob-enc", &[A::Cast64, A::Cast40]);
    w.message("msg.eml");
    let out = w.lockbox(
        &[
            "encrypt",
            "--to",
            "carol-enc.pem",
            "--to",
            "dave-enc.pem",
            "--in",
            "msg.eml",
            "--out",
            "enc.eml",
            "--json",
        ],
        None,
    );
    ok(&out);
    let j = json(&out);
    assert_eq!(j["algorithm"], "cast40");
    assert_eq!(
        j["forced_weaker"],
        serde_json::json!(["carol@example.test"])
    );
    // OpenSSL reads the 40-bit CAST5 message (bare IV parameters).
    let mut args = vec!["cms", "-decrypt"];
    args.extend(LEGACY);
    args.extend([
        "-in",
        "enc.eml",
        "-recip",
        "dave-enc.pem",
        "-inkey",
        "dave-enc.key",
        "-out",
        "dave.txt",
    ]);
    w.openssl_ok(&args);
    assert!(inner_body(&w.read("dave.txt")).contains("The numbers are in."));
}

#[test]
fn the_policy_floor_refuses_or_skips_as_asked() {
    let w = World::new();
    w.user("alice", "alice", "alice-enc", &A::RANKING);
    w.user("carol", "carol", "carol-enc", &[A::Cast40, A::Des]);
    w.message("msg.eml");
    let base = [
        "encrypt",
        "--to",
        "alice-enc.pem",
        "--to",
        "carol-enc.pem",
        "--min-algorithm",
        "3des",
        "--in",
        "msg.eml",
        "--out",
        "enc.eml",
    ];
    let out = w.lockbox(&base, None);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("carol@example.test") && text(&out).contains("PKI-081"),
        "{}",
        text(&out)
    );
    assert!(
        !w.path("enc.eml").exists(),
        "nothing is written when encryption is refused"
    );
    let mut skip = base.to_vec();
    skip.extend(["--below-floor", "skip", "--json"]);
    let out = w.lockbox(&skip, None);
    ok(&out);
    let j = json(&out);
    assert_eq!(j["skipped"], serde_json::json!(["carol@example.test"]));
    assert_eq!(j["recipients"], serde_json::json!(["alice@example.test"]));
    assert_eq!(j["algorithm"], "aes256-gcm");
    // Carol cannot open it; Alice can.
    let out = w.lockbox(
        &[
            "decrypt",
            "--p12",
            "carol.p12",
            "--password-stdin",
            "--in",
            "enc.eml",
            "--out",
            "x.eml",
        ],
        Some(PASSWORD),
    );
    assert_eq!(code(&out), 1);
    let out = w.lockbox(
        &[
            "decrypt",
            "--p12",
            "alice.p12",
            "--password-stdin",
            "--in",
            "enc.eml",
            "--out",
            "x.eml",
        ],
        Some(PASSWORD),
    );
    ok(&out);
    // A forced algorithm a recipient lacks is refused, naming them.
    let out = w.lockbox(
        &[
            "encrypt",
            "--to",
            "alice-enc.pem",
            "--to",
            "carol-enc.pem",
            "--algorithm",
            "aes128",
            "--in",
            "msg.eml",
            "--out",
            "enc2.eml",
        ],
        None,
    );
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("carol@example.test"), "{}", text(&out));
}

#[test]
fn signatures_verify_both_ways_with_every_verdict_and_exit_code() {
    let w = World::new();
    let alice = w.user("alice", "alice", "alice-enc", &A::RANKING);
    w.message("msg.eml");
    w.crl("empty.crl", 1, &[], at() - days(1));
    w.crl(
        "revoked.crl",
        2,
        &[(&alice.sign, RevocationReason::KeyCompromise)],
        at() - days(1),
    );

    for (digest, opaque) in [
        ("sha256", false),
        ("sha1", true),
        ("md5", false),
        ("sha512", true),
    ] {
        let mut args = vec![
            "sign",
            "--p12",
            "alice.p12",
            "--password-stdin",
            "--digest",
            digest,
            "--in",
            "msg.eml",
            "--out",
            "signed.eml",
        ];
        if opaque {
            args.push("--opaque");
        }
        ok(&w.lockbox(&args, Some(PASSWORD)));
        // OpenSSL verifies what lockbox signed.
        w.openssl_ok(&[
            "cms",
            "-verify",
            "-in",
            "signed.eml",
            "-CAfile",
            "ca.pem",
            "-attime",
            &(AT_UNIX + 3600).to_string(),
            "-purpose",
            "smimesign",
            "-out",
            "/dev/null",
        ]);
        let verify = |crl: &str, at: &str| {
            w.lockbox(
                &[
                    "verify",
                    "--ca",
                    "ca.pem",
                    "--crl",
                    crl,
                    "--at",
                    at,
                    "--in",
                    "signed.eml",
                    "--json",
                ],
                None,
            )
        };
        let out = verify("empty.crl", AT);
        assert_eq!(code(&out), 0, "{digest}: {}", text(&out));
        assert_eq!(json(&out)["signers"][0]["signer"], "alice@example.test");
        assert_eq!(code(&verify("revoked.crl", AT)), 11, "revoked");
        assert_eq!(
            code(&verify("empty.crl", "2027-06-01T00:00:00Z")),
            12,
            "expired"
        );
        assert_eq!(
            code(&verify("empty.crl", "2025-06-01T00:00:00Z")),
            13,
            "not yet valid"
        );
    }

    // Revoked: the JSON says so with the reason; no CRL at all: revocation status unknown.
    let out = w.lockbox(
        &[
            "verify",
            "--ca",
            "ca.pem",
            "--crl",
            "revoked.crl",
            "--at",
            AT,
            "--in",
            "signed.eml",
            "--json",
        ],
        None,
    );
    assert_eq!(json(&out)["verdict"], "revoked");
    assert!(
        json(&out)["detail"]
            .as_str()
            .unwrap()
            .contains("keyCompromise"),
        "{}",
        text(&out)
    );
    let out = w.lockbox(
        &["verify", "--ca", "ca.pem", "--at", AT, "--in", "signed.eml"],
        None,
    );
    assert_eq!(code(&out), 15, "{}", text(&out));
    // A stale CRL is no better than none.
    let out = w.lockbox(
        &[
            "verify",
            "--ca",
            "ca.pem",
            "--crl",
            "empty.crl",
            "--at",
            "2026-02-01T00:00:00Z",
            "--in",
            "signed.eml",
        ],
        None,
    );
    assert_eq!(code(&out), 15, "{}", text(&out));

    // Untrusted: an impostor CA with the same name but another key as the anchor.
    let impostor = pki::Issuer::self_signed(
        key("ca2-4096"),
        &pki::Profile::Ca {
            subject: "CN=Lockbox Test CA,O=Example Org".parse().unwrap(),
            path_len: Some(0),
        },
        pki::Period {
            not_before: at() - days(30),
            not_after: at() + days(3650),
        },
        pki::DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    )
    .unwrap();
    w.write(
        "other-ca.pem",
        pki::certificate::to_pem(impostor.certificate()).unwrap(),
    );
    let out = w.lockbox(
        &[
            "verify",
            "--ca",
            "other-ca.pem",
            "--crl",
            "empty.crl",
            "--at",
            AT,
            "--in",
            "signed.eml",
        ],
        None,
    );
    assert_eq!(code(&out), 14, "{}", text(&out));

    // Tampered: one byte of the signed body changed (detached signature).
    ok(&w.lockbox(
        &[
            "sign",
            "--p12",
            "alice.p12",
            "--password-stdin",
            "--in",
            "msg.eml",
            "--out",
            "signed.eml",
        ],
        Some(PASSWORD),
    ));
    let tampered = String::from_utf8(w.read("signed.eml"))
        .unwrap()
        .replace("The numbers are in.", "The numbers are up.");
    w.write("tampered.eml", tampered);
    let out = w.lockbox(
        &[
            "verify",
            "--ca",
            "ca.pem",
            "--crl",
            "empty.crl",
            "--at",
            AT,
            "--in",
            "tampered.eml",
        ],
        None,
    );
    assert_eq!(code(&out), 10, "{}", text(&out));
    assert!(
        !w.openssl(&[
            "cms",
            "-verify",
            "-in",
            "tampered.eml",
            "-CAfile",
            "ca.pem",
            "-attime",
            &(AT_UNIX + 3600).to_string(),
            "-out",
            "/dev/null"
        ])
        .status
        .success()
    );

    // What OpenSSL signs, lockbox verifies, and writes the signed content.
    w.openssl_ok(&[
        "cms",
        "-sign",
        "-md",
        "sha256",
        "-in",
        "msg.eml",
        "-signer",
        "alice-sign.pem",
        "-inkey",
        "alice-sign.key",
        "-out",
        "ossl-signed.eml",
    ]);
    let out = w.lockbox(
        &[
            "verify",
            "--ca",
            "ca.pem",
            "--crl",
            "empty.crl",
            "--at",
            AT,
            "--in",
            "ossl-signed.eml",
            "--out",
            "content.eml",
        ],
        None,
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(inner_body(&w.read("content.eml")).contains("The numbers are in."));
}

#[test]
fn decrypt_picks_the_old_key_from_a_bundle_with_the_whole_history() {
    let w = World::new();
    // Alice's old encryption certificate and key, and her current ones, in one PKCS#12.
    let old = w.user("alice-old", "alice", "alice-enc-old", &A::RANKING);
    let cur = w.user("alice", "alice", "alice-enc", &A::RANKING);
    let keys = [key("alice-enc-old"), key("alice-enc")];
    let p12 = pki::pkcs12::export(
        &[
            pki::pkcs12::Pkcs12Entry {
                key: &keys[0],
                certificate: &old.enc,
                friendly_name: None,
            },
            pki::pkcs12::Pkcs12Entry {
                key: &keys[1],
                certificate: &cur.enc,
                friendly_name: None,
            },
        ],
        &[],
        PASSWORD,
        &pki::pkcs12::ExportOptions::default().with_iterations(2048),
        &mut pki::os_rng(),
    )
    .unwrap();
    w.write("history.p12", p12);
    w.message("msg.eml");
    ok(&w.lockbox(
        &[
            "encrypt",
            "--to",
            "alice-old-enc.pem",
            "--in",
            "msg.eml",
            "--out",
            "old.eml",
        ],
        None,
    ));
    let out = w.lockbox(
        &[
            "decrypt",
            "--p12",
            "history.p12",
            "--password-stdin",
            "--in",
            "old.eml",
            "--out",
            "dec.eml",
            "--json",
        ],
        Some(PASSWORD),
    );
    ok(&out);
    assert_eq!(json(&out)["recipient"], "alice-old@example.test");
}

#[test]
fn bad_input_is_refused_clearly() {
    let w = World::new();
    w.user("alice", "alice", "alice-enc", &A::RANKING);
    w.message("msg.eml");
    // Usage errors exit 2.
    assert_eq!(
        code(&w.lockbox(&["encrypt", "--in", "msg.eml", "--out", "x"], None)),
        2
    );
    assert_eq!(code(&w.lockbox(&["frobnicate"], None)), 2);
    // Unknown algorithm name: the known names are listed.
    let out = w.lockbox(
        &[
            "encrypt",
            "--to",
            "alice-enc.pem",
            "--algorithm",
            "blowfish",
            "--in",
            "msg.eml",
            "--out",
            "x",
        ],
        None,
    );
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("cast40"), "{}", text(&out));
    // Wrong PKCS#12 password.
    let out = w.lockbox(
        &[
            "decrypt",
            "--p12",
            "alice.p12",
            "--password-stdin",
            "--in",
            "msg.eml",
            "--out",
            "x",
        ],
        Some("wrong"),
    );
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("PKI-050"), "{}", text(&out));
    // Decrypting a plain message, verifying an unsigned one.
    let out = w.lockbox(
        &[
            "decrypt",
            "--p12",
            "alice.p12",
            "--password-stdin",
            "--in",
            "msg.eml",
            "--out",
            "x",
        ],
        Some(PASSWORD),
    );
    assert!(text(&out).contains("not encrypted"), "{}", text(&out));
    let out = w.lockbox(&["verify", "--ca", "ca.pem", "--in", "msg.eml"], None);
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("not signed"), "{}", text(&out));
    // A signing certificate is not an encryption recipient.
    let out = w.lockbox(
        &[
            "encrypt",
            "--to",
            "alice-sign.pem",
            "--in",
            "msg.eml",
            "--out",
            "x",
        ],
        None,
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    // A truncated encrypted message.
    ok(&w.lockbox(
        &[
            "encrypt",
            "--to",
            "alice-enc.pem",
            "--in",
            "msg.eml",
            "--out",
            "enc.eml",
        ],
        None,
    ));
    let enc = w.read("enc.eml");
    w.write("trunc.eml", &enc[..enc.len() * 2 / 3]);
    let out = w.lockbox(
        &[
            "decrypt",
            "--p12",
            "alice.p12",
            "--password-stdin",
            "--in",
            "trunc.eml",
            "--out",
            "x",
        ],
        Some(PASSWORD),
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(!w.path("x").exists());
    // No password on stdin.
    let out = w.lockbox(
        &[
            "decrypt",
            "--p12",
            "alice.p12",
            "--password-stdin",
            "--in",
            "enc.eml",
            "--out",
            "x",
        ],
        None,
    );
    assert!(text(&out).contains("no password"), "{}", text(&out));
}

#[test]
fn a_directory_answer_is_checked_against_the_trusted_ca_and_its_crl() {
    use kms_client::server::validate_directory_certificate;
    let w = World::new();
    let alice = w.user("alice", "alice", "alice-enc", &A::RANKING);
    let bob = w.user("bob", "bob", "bob-enc", &A::RANKING);
    let ca = w.read("ca.pem");
    let crl = std::fs::read(w.crl(
        "c.crl",
        3,
        &[(&alice.enc, RevocationReason::KeyCompromise)],
        at(),
    ))
    .unwrap();
    let now = at() + days(1);
    validate_directory_certificate(&ca, &crl, &bob.enc, "bob@example.test", now).unwrap();
    let e = validate_directory_certificate(&ca, &crl, &alice.enc, "alice@example.test", now)
        .unwrap_err();
    assert!(format!("{e:#}").contains("revoked"), "{e:#}");
    // Past its validity, or from a CA the user does not trust: refused.
    let e =
        validate_directory_certificate(&ca, &crl, &bob.enc, "bob@example.test", at() + days(400))
            .unwrap_err();
    assert!(format!("{e:#}").contains("not usable"), "{e:#}");
    let other = pki::Issuer::self_signed(
        key("ca2-4096"),
        &pki::Profile::Ca {
            subject: "CN=Lockbox Test CA,O=Example Org".parse().unwrap(),
            path_len: None,
        },
        pki::Period {
            not_before: at() - days(30),
            not_after: at() + days(3650),
        },
        pki::DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    )
    .unwrap();
    let other_pem = pki::certificate::to_pem(other.certificate()).unwrap();
    assert!(
        validate_directory_certificate(
            other_pem.as_bytes(),
            &crl,
            &bob.enc,
            "bob@example.test",
            now
        )
        .is_err()
    );
}

/// A peer certificate made by OpenSSL, without an SMIMECapabilities extension.
fn openssl_peer(w: &World) {
    openssl_peer_with(w, &[]);
}

/// [`openssl_peer`] with more `-addext` extensions.
fn openssl_peer_with(w: &World, extra_exts: &[&str]) {
    let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys/spare-1.key.pem");
    let mut args = vec![
        "req",
        "-x509",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/CN=Peer/emailAddress=peer@other.test",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "keyUsage=critical,keyEncipherment,digitalSignature",
        "-addext",
        "subjectAltName=email:peer@other.test",
        "-out",
        "peer.pem",
    ];
    for e in extra_exts {
        args.extend(["-addext", e]);
    }
    w.openssl_ok(&args);
    w.write("peer.key", std::fs::read(&key).unwrap());
}

fn encrypt_to(w: &World, to: &[&str], extra: &[&str]) -> std::process::Output {
    let mut args = vec!["encrypt", "--in", "msg.eml", "--out", "enc.eml", "--json"];
    for t in to {
        args.extend(["--to", t]);
    }
    args.extend(extra);
    w.lockbox(&args, None)
}

#[test]
fn a_certificate_without_capabilities_gets_aes256_cbc_and_an_explicit_algorithm_is_honoured() {
    let w = World::new();
    openssl_peer(&w);
    w.message("msg.eml");
    let decrypts_with_openssl = |w: &World| {
        w.openssl_ok(&[
            "cms", "-decrypt", "-in", "enc.eml", "-recip", "peer.pem", "-inkey", "peer.key",
            "-out", "peer.txt",
        ]);
        assert!(inner_body(&w.read("peer.txt")).contains("The numbers are in."));
    };
    let algorithm_of = |w: &World| {
        let p = pki::smime::parse(&w.read("enc.eml")).unwrap();
        pki::enveloped::inspect(p.der.as_ref().unwrap())
            .unwrap()
            .algorithm
    };

    // auto: AES-256-CBC (RFC 8551), not 3DES; the assumption is reported.
    let out = encrypt_to(&w, &["peer.pem"], &[]);
    ok(&out);
    let j = json(&out);
    assert_eq!(j["algorithm"], "aes256", "{j}");
    assert_eq!(j["assumed"], serde_json::json!(["peer@other.test"]), "{j}");
    assert_eq!(algorithm_of(&w), Some(A::Aes256));
    decrypts_with_openssl(&w);

    // --algorithm NAME is honoured for it (once refused with "not supported by").
    for (name, alg) in [
        ("aes128", A::Aes128),
        ("aes256", A::Aes256),
        ("3des", A::TripleDes),
    ] {
        let out = encrypt_to(&w, &["peer.pem"], &["--algorithm", name]);
        ok(&out);
        assert_eq!(json(&out)["algorithm"], name);
        assert_eq!(algorithm_of(&w), Some(alg));
        decrypts_with_openssl(&w);
    }

    // A recipient whose published capabilities exclude it: refused without --force (naming
    // them, not the peer), used and named with it.
    w.user("bob", "bob", "bob-enc", &[A::Aes128, A::TripleDes]);
    let out = encrypt_to(&w, &["peer.pem", "bob-enc.pem"], &["--algorithm", "aes256"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("bob@example.test") && t.contains("--force"),
        "{t}"
    );
    assert!(!t.contains("peer@other.test"), "{t}");
    let out = encrypt_to(
        &w,
        &["peer.pem", "bob-enc.pem"],
        &["--algorithm", "aes256", "--force"],
    );
    ok(&out);
    let j = json(&out);
    assert_eq!(j["algorithm"], "aes256");
    assert_eq!(
        j["overridden"],
        serde_json::json!(["bob@example.test"]),
        "{j}"
    );
    decrypts_with_openssl(&w);
    // The text form names them too.
    let out = w.lockbox(
        &[
            "encrypt",
            "--to",
            "peer.pem",
            "--to",
            "bob-enc.pem",
            "--algorithm",
            "aes256",
            "--force",
            "--in",
            "msg.eml",
            "--out",
            "enc2.eml",
        ],
        None,
    );
    ok(&out);
    assert!(
        text(&out).contains("despite their published capabilities (--force): bob@example.test"),
        "{}",
        text(&out)
    );
}

/// A multipart/signed whose SignedData also carries the content, as Python `cryptography`
/// writes it: the signature made by `openssl cms -sign -nodetach` over `part`, put in a
/// multipart/signed wrapper around `shown`.
fn multipart_with_carried_content(w: &World, part: &str, shown: &str) -> Vec<u8> {
    w.write("part.eml", part);
    w.openssl_ok(&[
        "cms",
        "-sign",
        "-nodetach",
        "-binary",
        "-in",
        "part.eml",
        "-signer",
        "alice-sign.pem",
        "-inkey",
        "alice-sign.key",
        "-outform",
        "DER",
        "-out",
        "sig.der",
    ]);
    let sig = w.read("sig.der");
    let b64 = {
        use std::io::Write as _;
        let mut child = std::process::Command::new("openssl")
            .args(["base64", "-e"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&sig).unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    let b64 = b64.replace('\n', "\r\n");
    format!(
        "From: Alice <alice@example.test>\r\nSubject: carried\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; \
         micalg=sha-256; boundary=\"BOUNDARY\"\r\n\r\n\
         This is an S/MIME signed message\r\n\r\n--BOUNDARY\r\n{shown}\r\n--BOUNDARY\r\n\
         Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n{b64}\r\n--BOUNDARY--\r\n"
    )
    .into_bytes()
}

#[test]
fn a_multipart_signed_whose_signature_also_carries_the_content_is_accepted_and_reported() {
    let w = World::new();
    w.user("alice", "alice", "alice-enc", &A::RANKING);
    w.crl("empty.crl", 1, &[], at() - days(1));
    let part = "Content-Type: text/plain; charset=utf-8\r\n\r\nSigned by cryptography.\r\n";
    let verify = |w: &World| {
        w.lockbox(
            &[
                "verify",
                "--json",
                "--ca",
                "ca.pem",
                "--crl",
                "empty.crl",
                "--at",
                AT,
                "--in",
                "carried.eml",
                "--out",
                "content.eml",
            ],
            None,
        )
    };
    w.write(
        "carried.eml",
        multipart_with_carried_content(&w, part, part),
    );
    let out = verify(&w);
    let j = json(&out);
    assert_eq!(code(&out), 0, "{j}");
    assert_eq!(j["verdict"], "valid", "{j}");
    assert!(
        j["notes"].to_string().contains("also carries the content"),
        "{j}"
    );
    assert_eq!(w.read("content.eml"), part.as_bytes());

    // The part shown differs from the content signed: tampered, even though the signature
    // over the carried content is good.
    let shown = "Content-Type: text/plain; charset=utf-8\r\n\r\nSigned by somebody else.\r\n";
    w.write(
        "carried.eml",
        multipart_with_carried_content(&w, part, shown),
    );
    let out = verify(&w);
    let j = json(&out);
    assert_eq!(code(&out), 10, "{j}");
    assert_eq!(j["verdict"], "tampered", "{j}");
    assert!(j["notes"].to_string().contains("differs"), "{j}");
}

#[test]
fn camellia_from_openssl_decrypts_and_seed_is_refused_by_name() {
    let w = World::new();
    w.user("alice", "alice", "alice-enc", &A::RANKING);
    w.message("msg.eml");
    let decrypt = |w: &World| {
        w.lockbox(
            &[
                "decrypt",
                "--p12",
                "alice.p12",
                "--password-stdin",
                "--in",
                "enc.eml",
                "--out",
                "dec.eml",
                "--json",
            ],
            Some(PASSWORD),
        )
    };
    for (flag, name) in [
        ("-camellia256", "camellia256"),
        ("-camellia192", "camellia192"),
        ("-camellia128", "camellia128"),
    ] {
        w.openssl_ok(&[
            "cms",
            "-encrypt",
            flag,
            "-in",
            "msg.eml",
            "-out",
            "enc.eml",
            "alice-enc.pem",
        ]);
        let out = decrypt(&w);
        ok(&out);
        assert_eq!(json(&out)["algorithm"], name);
        assert!(inner_body(&w.read("dec.eml")).contains("The numbers are in."));
    }
    // Camellia is read, never offered: it is not a name --algorithm takes.
    let out = w.lockbox(
        &[
            "encrypt",
            "--to",
            "alice-enc.pem",
            "--algorithm",
            "camellia256",
            "--in",
            "msg.eml",
            "--out",
            "x.eml",
        ],
        None,
    );
    assert_eq!(code(&out), 1, "{}", text(&out));

    let mut args = vec!["cms", "-encrypt"];
    args.extend(LEGACY);
    args.extend([
        "-seed",
        "-in",
        "msg.eml",
        "-out",
        "enc.eml",
        "alice-enc.pem",
    ]);
    w.openssl_ok(&args);
    let out = decrypt(&w);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("PKI-110") && t.contains("SEED"), "{t}");
}

/// A peer whose certificate carries a malformed non-critical SMIMECapabilities (a NULL where
/// the SEQUENCE belongs, as OpenSSL writes it from a raw DER value): the extension is reported
/// and ignored, the key stays usable, and OpenSSL decrypts what lockbox made for it.
#[test]
fn a_broken_non_critical_extension_is_reported_and_the_recipient_still_gets_mail() {
    let w = World::new();
    openssl_peer_with(&w, &["1.2.840.113549.1.9.15=DER:0500"]);
    w.message("msg.eml");
    let out = encrypt_to(&w, &["peer.pem"], &[]);
    ok(&out);
    let j = json(&out);
    // No capabilities could be read: RFC 8551's assumption, and the warning names the extension.
    assert_eq!(j["algorithm"], "aes256", "{j}");
    let warnings = j["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{j}");
    let w0 = warnings[0].as_str().unwrap();
    assert!(
        w0.starts_with("peer@other.test: ") && w0.contains("1.2.840.113549.1.9.15"),
        "{w0}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: peer@other.test"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    w.openssl_ok(&[
        "cms", "-decrypt", "-in", "enc.eml", "-recip", "peer.pem", "-inkey", "peer.key", "-out",
        "peer.txt",
    ]);
    assert!(inner_body(&w.read("peer.txt")).contains("The numbers are in."));
}
