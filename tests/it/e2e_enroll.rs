//! Against the real binaries over HTTPS: `kmsd init` prints the CA's SHA-256 fingerprint and
//! `lockbox enroll` the one of the CA it trusts, both as `openssl x509 -fingerprint -sha256`
//! does; `kmsctl ca-cert --out -` writes to standard output; lockbox without the CA says which
//! flag fixes it and reads `KMS_URL`/`KMS_CA_CERT`; re-enrolling into the same file after
//! `renew --new-key` keeps the old keys (old mail still decrypts) and names every key by kind,
//! date and serial; recover-key's bundle names its keys the same way.

use std::process::Command;

use serde_json::Value;

use super::support::{free_port, kmsd_bin, ok, openssl, run, sibling_bin, start};

const ADMIN_PW: &str = "enroll admin password";
const ALICE_PW: &str = "alice bundle password";

fn fingerprint_line(text: &str, prefix: &str) -> String {
    text.lines()
        .find_map(|l| l.split_once(prefix).map(|(_, f)| f.trim().to_string()))
        .unwrap_or_else(|| panic!("no {prefix:?} in {text}"))
}

#[test]
fn fingerprints_tls_hint_env_and_re_enrolling_keeps_old_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let key_file = t.join("kmsd.keyfile");
    let ports = (free_port(), free_port());
    let url = format!("https://127.0.0.1:{}", ports.0);
    let public_url = format!("http://127.0.0.1:{}", ports.1);
    let init = ok(
        run(
            Command::new(kmsd_bin())
                .args([
                    "init",
                    "--ca-key-bits",
                    "3072",
                    "--ca-subject",
                    "CN=Enroll CA,O=Example",
                ])
                .args(["--admin", "admin", "--admin-password-stdin"])
                .args(["--public-url", &public_url])
                .arg("--data-dir")
                .arg(&data)
                .arg("--key-file")
                .arg(&key_file),
            Some(ADMIN_PW),
        ),
        "kmsd init",
    );
    let printed = fingerprint_line(&init, "CA certificate SHA-256 fingerprint:");
    let _server = start(&data, ports, true, Some(&key_file), &t.join("kmsd.log"));

    // kmsctl ca-cert --out -: the PEM on standard output, no file named "-".
    let kmsctl_bin = sibling_bin("kmsctl");
    let pem = ok(
        run(
            Command::new(&kmsctl_bin).current_dir(t).args([
                "--server",
                &public_url,
                "ca-cert",
                "--out",
                "-",
            ]),
            None,
        ),
        "kmsctl ca-cert --out -",
    );
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(!t.join("-").exists());
    let ca_pem = t.join("ca.pem");
    std::fs::write(&ca_pem, &pem).unwrap();
    let out = openssl(&[
        "x509",
        "-in",
        ca_pem.to_str().unwrap(),
        "-noout",
        "-fingerprint",
        "-sha256",
    ]);
    let theirs = String::from_utf8(out.stdout).unwrap();
    let theirs = theirs.trim().split_once('=').unwrap().1.to_string();
    assert_eq!(printed, theirs, "kmsd init's fingerprint is OpenSSL's");

    let kmsctl = || {
        let mut c = Command::new(&kmsctl_bin);
        c.env("KMS_URL", &url)
            .env("KMS_CA_CERT", &ca_pem)
            .env("KMS_SESSION_FILE", t.join("session.json"));
        c
    };
    ok(
        run(
            kmsctl().args(["login", "--admin", "admin", "--password-stdin"]),
            Some(ADMIN_PW),
        ),
        "login",
    );
    let v: Value = serde_json::from_str(&ok(
        run(
            kmsctl().args([
                "--json",
                "user",
                "add",
                "alice@example.com",
                "--name",
                "Alice",
            ]),
            None,
        ),
        "user add",
    ))
    .unwrap();
    let token = v["enrollment_token"].as_str().unwrap().to_string();

    let lockbox_bin = sibling_bin("lockbox");
    let lockbox = || {
        let mut c = Command::new(&lockbox_bin);
        c.current_dir(t)
            .env_remove("KMS_URL")
            .env_remove("KMS_CA_CERT");
        c
    };
    let p12 = t.join("alice.p12");
    let enroll = |token: &str, with_ca: bool| {
        let mut c = lockbox();
        c.env("KMS_ENROLL_TOKEN", token).env("KMS_URL", &url);
        if with_ca {
            c.env("KMS_CA_CERT", &ca_pem);
        }
        c.args([
            "enroll",
            "--email",
            "alice@example.com",
            "--password-stdin",
            "--out",
        ])
        .arg(&p12);
        run(&mut c, Some(ALICE_PW))
    };
    // Over HTTPS without the CA: the hint names the flag (and the token is not spent).
    let out = enroll(&token, false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "the server's certificate is not trusted: pass --ca-cert CA.pem (or set KMS_CA_CERT)"
        ),
        "{err}"
    );
    // With KMS_URL and KMS_CA_CERT only: enrolled, and the CA's fingerprint printed.
    let first = ok(enroll(&token, true), "lockbox enroll");
    assert_eq!(
        fingerprint_line(&first, "SHA-256 fingerprint"),
        theirs,
        "{first}"
    );

    let message = t.join("m.eml");
    std::fs::write(
        &message,
        "Subject: old mail\r\n\r\nsecret of the old key\r\n",
    )
    .unwrap();
    let encrypt = |out: &str| {
        ok(
            run(
                lockbox()
                    .env("KMS_URL", &url)
                    .env("KMS_CA_CERT", &ca_pem)
                    .args(["encrypt", "--to-email", "alice@example.com", "--in"])
                    .arg(&message)
                    .args(["--out", out]),
                None,
            ),
            "encrypt --to-email",
        )
    };
    encrypt("old.eml");

    // A new encryption key, collected by enrolling again into the same file.
    let v: Value = serde_json::from_str(&ok(
        run(
            kmsctl().args(["--json", "renew", "alice@example.com", "--new-key"]),
            None,
        ),
        "renew --new-key",
    ))
    .unwrap();
    let token = v["renewed"][0]["enrollment_token"]
        .as_str()
        .unwrap()
        .to_string();
    let again = ok(enroll(&token, true), "enroll again into the same file");
    assert!(
        again.contains("with the 2 keys the file held before"),
        "{again}"
    );
    encrypt("new.eml");
    for m in ["old.eml", "new.eml"] {
        let out = ok(
            run(
                lockbox()
                    .args(["decrypt", "--password-stdin", "--p12"])
                    .arg(&p12)
                    .args(["--in", m, "--out", "-"]),
                Some(ALICE_PW),
            ),
            m,
        );
        assert!(out.contains("secret of the old key"), "{m}: {out}");
    }
    let contents = pki::pkcs12::parse(&std::fs::read(&p12).unwrap(), ALICE_PW).unwrap();
    assert_eq!(contents.keys.len(), 4, "two enrollments' keys");
    for k in &contents.keys {
        let name = k.friendly_name.clone().unwrap_or_default();
        let serial = pki::CertificateInfo::from_certificate(k.certificate.as_ref().unwrap())
            .unwrap()
            .serial_hex;
        assert!(
            name.starts_with("alice@example.com ")
                && (name.contains(" signing ") || name.contains(" encryption "))
                && name.ends_with(&format!("serial {serial}")),
            "{name}"
        );
    }

    // recover-key: the same rule for the password, the same names, to standard output.
    let out = run(
        kmsctl().args([
            "recover-key",
            "alice@example.com",
            "--out",
            "-",
            "--password-stdin",
        ]),
        Some("1234567"),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a 7-character bundle password is refused"
    );
    let out = run(
        kmsctl().args([
            "recover-key",
            "alice@example.com",
            "--out",
            "-",
            "--password-stdin",
        ]),
        Some(ALICE_PW),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recovered = pki::pkcs12::parse(&out.stdout, ALICE_PW).unwrap();
    assert_eq!(recovered.keys.len(), 2, "both encryption keys");
    for k in &recovered.keys {
        let name = k.friendly_name.clone().unwrap_or_default();
        assert!(
            name.starts_with("alice@example.com encryption ") && name.contains(" serial "),
            "{name}"
        );
    }
}
