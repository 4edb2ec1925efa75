//! Interop with Mozilla NSS (Thunderbird's and Firefox's library) through its tools:
//! `pk12util -o` bundles (default cipher, AES-256-CBC, 3DES, RC2-40) read by `pki` and used by
//! `lockbox` to decrypt and sign; lockbox's messages decrypted by `cmsutil -D` for every content
//! algorithm NSS supports; `cmsutil -E` and `cmsutil -S` messages decrypted and verified by
//! lockbox; and `--no-password` for bundles made without one. Each NSS database lives in a
//! temporary directory. Without the NSS tools
//! (`libnss3-tools`) the tests say SKIPPED loudly and pass; CI installs them.

use std::path::Path;
use std::process::{Command, Output};
use std::time::SystemTime;

use pki::ContentAlgorithm as A;

use crate::fixtures::*;

/// The password of the PKCS#12 files pk12util writes.
const NSS_P12_PASSWORD: &str = "exported by pk12util";

/// True when `certutil`, `pk12util` and `cmsutil` can be run; otherwise says so on stderr.
fn nss_tools_present(test: &str) -> bool {
    for tool in ["certutil", "pk12util", "cmsutil"] {
        if Command::new(tool).arg("-H").output().is_err() {
            eprintln!(
                "\n*** SKIPPED {test}: the NSS tool `{tool}` is not installed \
                 (apt-get install libnss3-tools) ***\n"
            );
            return false;
        }
    }
    true
}

/// Runs an NSS tool in `dir`.
fn nss(dir: &Path, tool: &str, args: &[&str]) -> Output {
    Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

fn nss_ok(dir: &Path, tool: &str, args: &[&str]) -> Output {
    let out = nss(dir, tool, args);
    assert!(
        out.status.success(),
        "{tool} {} failed: {}",
        args.join(" "),
        text(&out)
    );
    out
}

/// A new NSS database (no password) in `dir/nssdb`, trusting the world's CA for e-mail;
/// returns its `-d` argument.
fn new_db(w: &World) -> String {
    std::fs::create_dir(w.path("nssdb")).unwrap();
    let db = "sql:nssdb".to_string();
    nss_ok(
        w.dir.path(),
        "certutil",
        &["-N", "-d", &db, "--empty-password"],
    );
    nss_ok(
        w.dir.path(),
        "certutil",
        &[
            "-A", "-d", &db, "-n", "Test CA", "-t", "C,C,C", "-i", "ca.pem",
        ],
    );
    db
}

/// Issues, with `openssl x509 -req` from the world's CA, a certificate for both signing and
/// key encipherment (one key, as many NSS users have) for `name@example.test` with the key
/// `keys/{key_name}.key.pem`, valid from a day ago for 30 days; writes `{name}.pem` and
/// `{name}.key`, and an OpenSSL-made PKCS#12 `{name}-openssl.p12` (password PASSWORD).
fn openssl_user(w: &World, name: &str, key_name: &str) {
    let key = key(key_name);
    w.write(
        &format!("{name}.key"),
        key.to_pkcs8_pem().unwrap().as_bytes(),
    );
    w.write("ca.key", key_pem("ca-3072"));
    w.write(
        &format!("{name}.ext"),
        format!(
            "keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=emailProtection\n\
             subjectAltName=email:{name}@example.test\n\
             crlDistributionPoints=URI:http://ca.example.test/crl\n"
        ),
    );
    w.openssl_ok(&[
        "req",
        "-new",
        "-key",
        &format!("{name}.key"),
        "-subj",
        &format!("/CN={name}/O=Example Org"),
        "-out",
        &format!("{name}.csr"),
    ]);
    w.openssl_ok(&[
        "x509",
        "-req",
        "-in",
        &format!("{name}.csr"),
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-sha256",
        "-extfile",
        &format!("{name}.ext"),
        "-out",
        &format!("{name}.pem"),
    ]);
    w.openssl_ok(&[
        "pkcs12",
        "-export",
        "-in",
        &format!("{name}.pem"),
        "-inkey",
        &format!("{name}.key"),
        "-certfile",
        "ca.pem",
        "-name",
        name,
        "-passout",
        &format!("pass:{PASSWORD}"),
        "-out",
        &format!("{name}-openssl.p12"),
    ]);
}

fn key_pem(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../keys/{name}.key.pem")))
        .unwrap()
}

/// An empty CRL of the world's CA, valid now, as `crl.der`.
fn fresh_crl(w: &World) {
    w.crl("crl.der", 1, &[], SystemTime::now() - days(1) / 24);
}

/// `openssl cms -cmsout`: an S/MIME file to DER CMS, or back (`to_smime`).
fn convert(w: &World, from: &str, to: &str, to_smime: bool) {
    let (inform, outform) = if to_smime {
        ("DER", "SMIME")
    } else {
        ("SMIME", "DER")
    };
    w.openssl_ok(&[
        "cms", "-cmsout", "-inform", inform, "-in", from, "-outform", outform, "-out", to,
    ]);
}

fn decrypt_with_lockbox(w: &World, p12: &str, password: &str, input: &str) -> serde_json::Value {
    let out = w.lockbox(
        &[
            "decrypt",
            "--p12",
            p12,
            "--password-stdin",
            "--in",
            input,
            "--out",
            "dec.eml",
            "--json",
        ],
        Some(password),
    );
    ok(&out);
    let plain = String::from_utf8_lossy(&w.read("dec.eml")).replace("\r\n", "\n");
    assert!(plain.contains("The numbers are in."), "{plain}");
    json(&out)
}

#[test]
fn pk12util_exports_are_read_by_pki_and_decrypt_and_sign_with_lockbox() {
    if !nss_tools_present("pk12util_exports_are_read_by_pki_and_decrypt_and_sign_with_lockbox") {
        return;
    }
    let w = World::new();
    let d = w.dir.path();
    openssl_user(&w, "dora", "carol-enc");
    let db = new_db(&w);
    nss_ok(
        d,
        "pk12util",
        &["-i", "dora-openssl.p12", "-d", &db, "-W", PASSWORD],
    );
    w.message("msg.eml");
    // Mail to Dora, by OpenSSL.
    w.openssl_ok(&[
        "cms", "-encrypt", "-aes256", "-in", "msg.eml", "-out", "enc.eml", "dora.pem",
    ]);
    let cert = pki::certificate::parse_certificate(&w.read("dora.pem")).unwrap();
    let ciphers: [(&str, Option<&str>); 4] = [
        ("default", None),
        ("aes256", Some("AES-256-CBC")),
        (
            "3des",
            Some("PKCS #12 V2 PBE With SHA-1 And 3KEY Triple DES-CBC"),
        ),
        (
            "rc2-40",
            Some("PKCS #12 V2 PBE With SHA-1 And 40 Bit RC2 CBC"),
        ),
    ];
    for (what, cipher) in ciphers {
        let file = format!("nss-{what}.p12");
        let mut args = vec!["-o", &file, "-n", "dora", "-d", &db, "-W", NSS_P12_PASSWORD];
        if let Some(c) = cipher {
            args.extend(["-c", c]);
        }
        let out = nss(d, "pk12util", &args);
        if !out.status.success() {
            assert_eq!(what, "rc2-40", "pk12util {what}: {}", text(&out));
            eprintln!(
                "\n*** SKIPPED the RC2-40 case: this NSS's policy refuses it: {} ***\n",
                text(&out)
            );
            continue;
        }
        let p12 = w.read(&file);
        // BER, as NSS writes it.
        assert_eq!(&p12[..2], &[0x30, 0x80], "{what}");
        let contents = pki::pkcs12::parse(&p12, NSS_P12_PASSWORD)
            .unwrap_or_else(|e| panic!("pk12util {what}: {e}"));
        assert_eq!(contents.keys.len(), 1, "{what}");
        assert_eq!(
            contents.keys[0].key.public_key(),
            key("carol-enc").public_key()
        );
        assert_eq!(contents.keys[0].certificate.as_ref(), Some(&cert), "{what}");
        assert_eq!(
            pki::pkcs12::parse(&p12, "not the password")
                .unwrap_err()
                .code(),
            "PKI-050"
        );

        // lockbox decrypts mail to that key with the NSS file...
        let j = decrypt_with_lockbox(&w, &file, NSS_P12_PASSWORD, "enc.eml");
        assert_eq!(j["algorithm"], "aes256", "{what}");
        // ... and signs with it; OpenSSL verifies the signature.
        ok(&w.lockbox(
            &[
                "sign",
                "--p12",
                &file,
                "--password-stdin",
                "--in",
                "msg.eml",
                "--out",
                "signed.eml",
            ],
            Some(NSS_P12_PASSWORD),
        ));
        w.openssl_ok(&[
            "cms",
            "-verify",
            "-in",
            "signed.eml",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "smimesign",
            "-out",
            "/dev/null",
        ]);
    }
}

#[test]
fn lockbox_opens_bundles_without_a_password_with_no_password() {
    let w = World::new();
    openssl_user(&w, "dora", "carol-enc");
    w.message("msg.eml");
    w.openssl_ok(&[
        "pkcs12", "-export", "-in", "dora.pem", "-inkey", "dora.key", "-keypbe", "NONE",
        "-certpbe", "NONE", "-nomac", "-passout", "pass:", "-out", "open.p12",
    ]);
    w.openssl_ok(&[
        "cms", "-encrypt", "-aes128", "-in", "msg.eml", "-out", "enc.eml", "dora.pem",
    ]);
    let args = |flag: &'static str| {
        [
            "decrypt", "--p12", "open.p12", flag, "--in", "enc.eml", "--out", "dec.eml", "--json",
        ]
    };
    let out = w.lockbox(&args("--no-password"), None);
    ok(&out);
    assert_eq!(json(&out)["algorithm"], "aes128");
    assert!(String::from_utf8_lossy(&w.read("dec.eml")).contains("The numbers are in."));
    // A password for a file without one: refused, naming the way out.
    let out = w.lockbox(&args("--password-stdin"), Some(PASSWORD));
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("PKI-100"), "{}", text(&out));
    // --no-password for a file with one: PKI-101.
    let out = w.lockbox(
        &[
            "decrypt",
            "--p12",
            "dora-openssl.p12",
            "--no-password",
            "--in",
            "enc.eml",
            "--out",
            "dec.eml",
        ],
        None,
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("PKI-101"), "{}", text(&out));
    // Both flags, or neither: bad usage (clap exits before reading standard input).
    let out = w.lockbox(
        &[
            "decrypt",
            "--p12",
            "open.p12",
            "--no-password",
            "--password-stdin",
            "--in",
            "enc.eml",
            "--out",
            "dec.eml",
        ],
        None,
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    let out = w.lockbox(
        &[
            "decrypt", "--p12", "open.p12", "--in", "enc.eml", "--out", "dec.eml",
        ],
        None,
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    // Signing works from it too.
    ok(&w.lockbox(
        &[
            "sign",
            "--p12",
            "open.p12",
            "--no-password",
            "--in",
            "msg.eml",
            "--out",
            "signed.eml",
        ],
        None,
    ));
    w.openssl_ok(&[
        "cms",
        "-verify",
        "-in",
        "signed.eml",
        "-CAfile",
        "ca.pem",
        "-out",
        "/dev/null",
    ]);
}

/// Alice's keys from a lockbox-style PKCS#12 (our export), imported into a new NSS database.
fn alice_in_nss(w: &World) -> String {
    w.user("alice", "alice", "alice-enc", &A::RANKING);
    let db = new_db(w);
    nss_ok(
        w.dir.path(),
        "pk12util",
        &["-i", "alice.p12", "-d", &db, "-W", PASSWORD],
    );
    db
}

#[test]
fn lockbox_messages_decrypt_with_cmsutil_for_every_nss_algorithm() {
    if !nss_tools_present("lockbox_messages_decrypt_with_cmsutil_for_every_nss_algorithm") {
        return;
    }
    let w = World::new();
    let d = w.dir.path();
    let db = alice_in_nss(&w);
    w.message("msg.eml");
    for (algorithm, required) in [
        ("aes128", true),
        ("aes192", true),
        ("aes256", true),
        ("3des", true),
        ("rc2-128", false),
        ("rc2-40", false),
    ] {
        let out = w.lockbox(
            &[
                "encrypt",
                "--to",
                "alice-enc.pem",
                "--algorithm",
                algorithm,
                "--in",
                "msg.eml",
                "--out",
                "enc.eml",
                "--json",
            ],
            None,
        );
        ok(&out);
        assert_eq!(json(&out)["algorithm"], algorithm);
        convert(&w, "enc.eml", "enc.der", false);
        let out = nss(
            d,
            "cmsutil",
            &["-D", "-d", &db, "-i", "enc.der", "-o", "dec.txt"],
        );
        if !out.status.success() && !required {
            eprintln!(
                "\n*** SKIPPED {algorithm}: this NSS's policy does not decrypt it: {} ***\n",
                text(&out)
            );
            continue;
        }
        assert!(
            out.status.success(),
            "cmsutil -D {algorithm}: {}",
            text(&out)
        );
        let plain = String::from_utf8_lossy(&w.read("dec.txt")).replace("\r\n", "\n");
        assert!(
            plain.contains("The numbers are in.\nSee you Monday.\n"),
            "{algorithm}: {plain}"
        );
    }
}

#[test]
fn cmsutil_messages_decrypt_and_verify_with_lockbox() {
    if !nss_tools_present("cmsutil_messages_decrypt_and_verify_with_lockbox") {
        return;
    }
    let w = World::new();
    let d = w.dir.path();
    openssl_user(&w, "dora", "carol-enc");
    let db = new_db(&w);
    nss_ok(
        d,
        "pk12util",
        &["-i", "dora-openssl.p12", "-d", &db, "-W", PASSWORD],
    );
    w.message("msg.eml");

    // Enveloped by NSS for Dora (found by her address), decrypted by lockbox.
    nss_ok(
        d,
        "cmsutil",
        &[
            "-E",
            "-d",
            &db,
            "-r",
            "dora@example.test",
            "-i",
            "msg.eml",
            "-o",
            "enc.der",
        ],
    );
    convert(&w, "enc.der", "enc.eml", true);
    let j = decrypt_with_lockbox(&w, "dora-openssl.p12", PASSWORD, "enc.eml");
    assert!(j["algorithm"].is_string(), "{j}");

    // Signed by NSS (content included, signing time and S/MIME capabilities), verified by
    // lockbox with the CA's CRL: valid; with Dora revoked: revoked.
    nss_ok(
        d,
        "cmsutil",
        &[
            "-S",
            "-d",
            &db,
            "-N",
            "dora",
            "-G",
            "-P",
            "-i",
            "msg.eml",
            "-o",
            "signed.der",
        ],
    );
    convert(&w, "signed.der", "signed.eml", true);
    fresh_crl(&w);
    let verify = |crl: &str| {
        w.lockbox(
            &[
                "verify",
                "--ca",
                "ca.pem",
                "--crl",
                crl,
                "--in",
                "signed.eml",
                "--out",
                "content.eml",
                "--json",
            ],
            None,
        )
    };
    let out = verify("crl.der");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(json(&out)["signers"][0]["signer"], "dora@example.test");
    let content = String::from_utf8_lossy(&w.read("content.eml")).replace("\r\n", "\n");
    assert!(content.contains("The numbers are in."), "{content}");
    let dora = pki::certificate::parse_certificate(&w.read("dora.pem")).unwrap();
    w.crl(
        "revoked.der",
        2,
        &[(&dora, pki::crl::RevocationReason::KeyCompromise)],
        SystemTime::now() - days(1) / 24,
    );
    assert_eq!(code(&verify("revoked.der")), 11, "revoked");
}

/// The value printed by `openssl cms -cmsout -print` for the signed attribute whose OID is
/// `oid` (in parentheses): up to the next attribute or the signature.
fn printed_attribute<'t>(text: &'t str, oid: &str) -> &'t str {
    let signed = text
        .find("signedAttrs:")
        .unwrap_or_else(|| panic!("no signed attributes: {text}"));
    let text = &text[signed..];
    let key = format!("({oid})");
    let at = text
        .find(&key)
        .unwrap_or_else(|| panic!("no attribute {oid}: {text}"));
    let rest = &text[at + key.len()..];
    let end = rest
        .find("object:")
        .or_else(|| rest.find("signatureAlgorithm"))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Upper-case hex without leading zero bytes, as OpenSSL prints an INTEGER.
fn serial_hex(cert: &pki::Certificate) -> String {
    let bytes = cert.tbs_certificate().serial_number().as_bytes();
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].iter().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn lockbox_signatures_name_the_encryption_certificate_for_openssl_and_nss() {
    let w = World::new();
    let d = w.dir.path();
    // Capabilities given weakest first: the signature lists them strongest first.
    let alice = w.user(
        "alice",
        "alice",
        "alice-enc",
        &[A::TripleDes, A::Aes128, A::Aes256],
    );
    w.message("msg.eml");
    ok(&w.lockbox(
        &[
            "sign",
            "--p12",
            "alice.p12",
            "--password-stdin",
            "--opaque",
            "--in",
            "msg.eml",
            "--out",
            "signed.eml",
        ],
        Some(PASSWORD),
    ));
    convert(&w, "signed.eml", "signed.der", false);
    let out = w.openssl_ok(&[
        "cms",
        "-cmsout",
        "-print",
        "-inform",
        "DER",
        "-in",
        "signed.der",
    ]);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let enc_serial = format!("INTEGER           :{}", serial_hex(&alice.enc));
    let sign_serial = format!("INTEGER           :{}", serial_hex(&alice.sign));
    for (oid, tag) in [
        ("1.2.840.113549.1.9.16.2.11", "cons: cont [ 0 ]"),
        ("1.3.6.1.4.1.311.16.4", "cons: SEQUENCE"),
    ] {
        let value = printed_attribute(&printed, oid);
        assert!(value.contains(tag), "{oid}: {value}");
        assert!(
            value.contains(&enc_serial),
            "{oid} names the encryption certificate: {value}"
        );
        assert!(!value.contains(&sign_serial), "{oid}: {value}");
        assert!(value.contains("Lockbox Test CA"), "{oid}: {value}");
    }
    let caps = printed_attribute(&printed, "1.2.840.113549.1.9.15");
    let order: Vec<usize> = ["aes-256-cbc", "aes-128-cbc", "des-ede3-cbc"]
        .iter()
        .map(|name| caps.find(name).unwrap_or_else(|| panic!("{name}: {caps}")))
        .collect();
    assert!(
        order[0] < order[1] && order[1] < order[2],
        "strongest first: {caps}"
    );

    // OpenSSL still verifies it, and so does lockbox.
    let attime = (AT_UNIX + 3600).to_string();
    w.openssl_ok(&[
        "cms",
        "-verify",
        "-in",
        "signed.eml",
        "-CAfile",
        "ca.pem",
        "-attime",
        &attime,
        "-purpose",
        "smimesign",
        "-out",
        "/dev/null",
    ]);
    w.crl("empty.crl", 1, &[], at() - days(1));
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
            "signed.eml",
            "--json",
        ],
        None,
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(json(&out)["verdict"], "valid", "{}", text(&out));

    // NSS verifies it.
    if !nss_tools_present("lockbox_signatures_name_the_encryption_certificate_for_openssl_and_nss")
    {
        return;
    }
    // The message carries the certificate it names.
    let check = pki::signed::check(&w.read("signed.der"), None, &[]).unwrap();
    assert!(check.certificates.contains(&alice.enc));
    assert!(check.is_valid());

    // NSS verifies it (cmsutil does not print the encryption-key preference: only
    // Thunderbird's S/MIME layer saves it, NSS_SMIMESignerInfo_SaveSMIMEProfile).
    let db = new_db(&w);
    nss_ok(
        d,
        "cmsutil",
        &[
            "-D",
            "-d",
            &db,
            "-i",
            "signed.der",
            "-o",
            "content.txt",
            "-h",
            "2",
        ],
    );
    let shown = String::from_utf8_lossy(&w.read("content.txt")).into_owned();
    assert!(shown.contains("signer0.status=GoodSignature"), "{shown}");
    assert!(shown.contains("The numbers are in."), "{shown}");

    // A signing-only bundle names no encryption certificate, and the capabilities attribute
    // carries the default list.
    let p12 = pki::pkcs12::export(
        &[pki::pkcs12::Pkcs12Entry {
            key: &key("alice-sign"),
            certificate: &alice.sign,
            friendly_name: Some("signing"),
        }],
        &[w.ca.certificate().clone()],
        PASSWORD,
        &pki::pkcs12::ExportOptions::default().with_iterations(2048),
        &mut pki::os_rng(),
    )
    .unwrap();
    w.write("sign-only.p12", p12);
    ok(&w.lockbox(
        &[
            "sign",
            "--p12",
            "sign-only.p12",
            "--password-stdin",
            "--opaque",
            "--in",
            "msg.eml",
            "--out",
            "signed2.eml",
        ],
        Some(PASSWORD),
    ));
    convert(&w, "signed2.eml", "signed2.der", false);
    let out = w.openssl_ok(&[
        "cms",
        "-cmsout",
        "-print",
        "-inform",
        "DER",
        "-in",
        "signed2.der",
    ]);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let signed = &printed[printed.find("signedAttrs:").unwrap()..];
    assert!(!signed.contains("1.2.840.113549.1.9.16.2.11"), "{signed}");
    assert!(!signed.contains("1.3.6.1.4.1.311.16.4"), "{signed}");
    let check = pki::signed::check(&w.read("signed2.der"), None, &[]).unwrap();
    assert_eq!(
        check.signers[0].capabilities,
        pki::algorithms::DEFAULT_CAPABILITIES
    );
}
