//! End to end: a real `kmsd` on a loopback port, driven only through the `kmsctl` and
//! `lockbox` binaries, checked with the OpenSSL CLI; once over plain HTTP on loopback and
//! once over HTTPS with the TLS certificate `kmsd init` issued from the authority's own CA
//! (trusted through the CA certificate fetched from the plain-HTTP public listener).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::support::{free_port, kmsd_bin, ok, openssl, run, sibling_bin, start};

const ADMIN_PW: &str = "e2e admin password";
const ALICE_PW: &str = "alice p12 password";
const BOB_PW: &str = "bob p12 password";

#[test]
fn over_http_on_loopback() {
    scenario(false);
}

#[test]
fn over_https_with_the_authoritys_own_certificate() {
    scenario(true);
}

fn scenario(https: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let key_file = t.join("kmsd.keyfile");
    let ports = (free_port(), free_port());
    let url = format!(
        "{}://127.0.0.1:{}",
        if https { "https" } else { "http" },
        ports.0
    );
    let public_url = format!("http://127.0.0.1:{}", ports.1);
    let kmsctl_bin = sibling_bin("kmsctl");
    let lockbox_bin = sibling_bin("lockbox");
    let p = |name: &str| t.join(name).to_str().unwrap().to_string();

    // init
    let out = run(
        Command::new(kmsd_bin())
            .args([
                "init",
                "--ca-key-bits",
                "3072",
                "--ca-subject",
                "CN=E2E CA,O=Example",
                "--admin",
                "admin",
            ])
            .args(["--admin-password-stdin", "--public-url", &public_url])
            .arg("--data-dir")
            .arg(&data)
            .arg("--key-file")
            .arg(&key_file)
            .arg("--key-file-copy")
            .arg(t.join("kmsd.keyfile.copy")),
        Some(ADMIN_PW),
    );
    ok(out, "kmsd init");

    let ca_pem = t.join("ca.pem");
    let kmsctl = || {
        let mut c = Command::new(&kmsctl_bin);
        c.env("KMS_URL", &url)
            .env("KMS_SESSION_FILE", t.join("session.json"));
        if https {
            c.env("KMS_CA_CERT", &ca_pem);
        } else {
            c.env_remove("KMS_CA_CERT");
        }
        c
    };
    // lockbox enroll and encrypt --to-email take --ca-cert for HTTPS.
    let tls_args: Vec<String> = if https {
        vec!["--ca-cert".into(), ca_pem.to_str().unwrap().into()]
    } else {
        Vec::new()
    };
    let lockbox = || Command::new(&lockbox_bin);

    // Started without a secret: locked.
    {
        let _server = start(&data, ports, https, None, &t.join("kmsd-locked.log"));
        // The CA certificate comes from the plain-HTTP public listener, before any trust.
        let out = run(
            Command::new(&kmsctl_bin)
                .args(["--server", &public_url, "ca-cert", "--out"])
                .arg(&ca_pem),
            None,
        );
        ok(out, "ca-cert from the public listener while locked");
        let out = run(
            kmsctl().args(["login", "--admin", "admin", "--password-stdin"]),
            Some(ADMIN_PW),
        );
        assert_eq!(
            out.status.code(),
            Some(5),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run(
            kmsctl().arg("unlock").arg("--key-file").arg(&key_file),
            None,
        );
        ok(out, "kmsctl unlock");
    }

    let _server = start(&data, ports, https, Some(&key_file), &t.join("kmsd.log"));
    if https {
        // Without the authority's CA the server's certificate is not trusted.
        let out = run(
            kmsctl()
                .env_remove("KMS_CA_CERT")
                .args(["ca-cert", "--out"])
                .arg(t.join("untrusted.pem")),
            None,
        );
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(err.contains("certificate") || err.contains("tls"), "{err}");
    }
    let out = run(
        kmsctl().args(["login", "--admin", "admin", "--password-stdin"]),
        Some("wrong password"),
    );
    assert_eq!(out.status.code(), Some(1));
    let out = run(kmsctl().args(["user", "list"]), None);
    assert_eq!(out.status.code(), Some(6), "not signed in yet");
    ok(
        run(
            kmsctl().args(["login", "--admin", "admin", "--password-stdin"]),
            Some(ADMIN_PW),
        ),
        "login",
    );

    let mut tokens = Vec::new();
    for (email, name, caps) in [
        ("alice@example.com", "Alice", "aes256-gcm,aes256,3des"),
        ("bob@example.com", "Bob", "aes256,aes128,3des"),
    ] {
        let out = ok(
            run(
                kmsctl().args([
                    "--json", "user", "add", email, "--name", name, "--caps", caps,
                ]),
                None,
            ),
            "user add",
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let token = v["enrollment_token"].as_str().unwrap().to_string();
        let file = t.join(format!("{name}.token"));
        std::fs::write(&file, &token).unwrap();
        tokens.push(file);
    }
    let out = run(kmsctl().args(["user", "show", "nobody@example.com"]), None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUTH-005"));

    // Enroll both (the token comes from a file for Alice and from the environment for Bob).
    ok(
        run(
            lockbox()
                .args([
                    "enroll",
                    "--server",
                    &url,
                    "--email",
                    "alice@example.com",
                    "--password-stdin",
                ])
                .args(&tls_args)
                .arg("--token-file")
                .arg(&tokens[0])
                .args(["--out", &p("alice.p12")]),
            Some(ALICE_PW),
        ),
        "enroll alice",
    );
    let bob_token = std::fs::read_to_string(&tokens[1]).unwrap();
    ok(
        run(
            lockbox()
                .env("KMS_ENROLL_TOKEN", &bob_token)
                .args([
                    "enroll",
                    "--server",
                    &url,
                    "--email",
                    "bob@example.com",
                    "--password-stdin",
                ])
                .args(&tls_args)
                .args(["--out", &p("bob.p12")]),
            Some(BOB_PW),
        ),
        "enroll bob",
    );
    // A used token is refused.
    let out = run(
        lockbox()
            .env("KMS_ENROLL_TOKEN", &bob_token)
            .args([
                "enroll",
                "--server",
                &url,
                "--email",
                "bob@example.com",
                "--password-stdin",
            ])
            .args(&tls_args)
            .args(["--out", &p("bob2.p12")]),
        Some(BOB_PW),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUTH-008"));
    assert!(!t.join("bob2.p12").exists());

    // Alice encrypts to Bob, found in the directory; Bob decrypts.
    let plain =
        "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nhello Bob\r\n";
    std::fs::write(t.join("msg.eml"), plain).unwrap();
    let out = ok(
        run(
            lockbox()
                .args([
                    "--json",
                    "encrypt",
                    "--server",
                    &url,
                    "--to-email",
                    "bob@example.com",
                ])
                .args(&tls_args)
                .args(["--in", &p("msg.eml"), "--out", &p("msg.enc.eml")]),
            None,
        ),
        "encrypt",
    );
    assert!(out.contains("aes256"), "{out}");
    ok(
        run(
            lockbox()
                .args(["decrypt", "--p12", &p("bob.p12"), "--password-stdin"])
                .args(["--in", &p("msg.enc.eml"), "--out", &p("msg.dec.eml")]),
            Some(BOB_PW),
        ),
        "decrypt",
    );
    assert!(
        std::fs::read_to_string(t.join("msg.dec.eml"))
            .unwrap()
            .contains("hello Bob")
    );

    // Alice signs; it verifies against the published CRL.
    ok(
        run(
            lockbox()
                .args(["sign", "--p12", &p("alice.p12"), "--password-stdin"])
                .args(["--in", &p("msg.eml"), "--out", &p("msg.signed.eml")]),
            Some(ALICE_PW),
        ),
        "sign",
    );
    ok(
        run(kmsctl().args(["ca-cert", "--out", &p("ca-api.pem")]), None),
        "ca-cert",
    );
    assert_eq!(
        std::fs::read(t.join("ca-api.pem")).unwrap(),
        std::fs::read(&ca_pem).unwrap()
    );
    ok(
        run(kmsctl().args(["crl", "--out", &p("crl1.der")]), None),
        "crl",
    );
    let verify = |crl: &str| {
        run(
            lockbox().args([
                "verify",
                "--ca",
                &p("ca.pem"),
                "--crl",
                crl,
                "--in",
                &p("msg.signed.eml"),
            ]),
            None,
        )
    };
    let out = verify(&p("crl1.der"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Revoke Alice; the new CRL makes her signature fail.
    ok(
        run(
            kmsctl().args([
                "revoke",
                "alice@example.com",
                "--reason",
                "keyCompromise",
                "--yes",
            ]),
            None,
        ),
        "revoke",
    );
    ok(
        run(kmsctl().args(["crl", "--out", &p("crl2.der")]), None),
        "crl after revoke",
    );
    ok(
        run(
            kmsctl().args(["crl", "--pem", "--out", &p("crl2.pem")]),
            None,
        ),
        "crl pem",
    );
    let out = verify(&p("crl2.der"));
    assert_eq!(
        out.status.code(),
        Some(11),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(kmsctl().args(["revoke", "alice@example.com"]), None);
    assert_eq!(out.status.code(), Some(1), "nothing left to revoke");

    // The directory no longer offers a revoked recipient, and nothing is written. (lockbox also
    // checks a directory answer against --ca-cert and the CRL itself, for a forged or stale
    // answer: tested in the client crate.)
    {
        let out = run(
            lockbox()
                .args([
                    "encrypt",
                    "--server",
                    &url,
                    "--to-email",
                    "alice@example.com",
                ])
                .args(&tls_args)
                .args(["--in", &p("msg.eml"), "--out", &p("to-revoked.eml")]),
            None,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("revoked"), "{stderr}");
        assert!(!std::path::Path::new(&p("to-revoked.eml")).exists());
    }

    // OpenSSL agrees: Alice's certificate is revoked, Bob's is fine.
    for (who, pw) in [("alice", ALICE_PW), ("bob", BOB_PW)] {
        let out = openssl(&[
            "pkcs12",
            "-in",
            &p(&format!("{who}.p12")),
            "-nokeys",
            "-clcerts",
            "-passin",
            &format!("pass:{pw}"),
            "-out",
            &p(&format!("{who}.pem")),
        ]);
        assert!(
            out.status.success(),
            "openssl pkcs12: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let check = |who: &str| {
        openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            &p("ca.pem"),
            "-CRLfile",
            &p("crl2.pem"),
            &p(&format!("{who}.pem")),
        ])
    };
    let alice = check("alice");
    assert!(!alice.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&alice.stdout),
        String::from_utf8_lossy(&alice.stderr)
    );
    assert!(text.contains("revoked"), "{text}");
    let bob = check("bob");
    assert!(
        bob.status.success(),
        "{}",
        String::from_utf8_lossy(&bob.stderr)
    );

    // Bob's encryption key rolls over: a new escrowed key, served by the directory at once,
    // collected with a new token.
    let out = ok(
        run(
            kmsctl().args(["--json", "renew", "bob@example.com", "--new-key"]),
            None,
        ),
        "renew --new-key",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let token = v["renewed"][0]["enrollment_token"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        run(
            lockbox()
                .env("KMS_ENROLL_TOKEN", &token)
                .args(["enroll", "--server", &url, "--email", "bob@example.com"])
                .arg("--password-stdin")
                .args(&tls_args)
                .args(["--out", &p("bob-new.p12")]),
            Some(BOB_PW),
        ),
        "enroll bob with the new key",
    );
    ok(
        run(
            lockbox()
                .args(["encrypt", "--server", &url, "--to-email", "bob@example.com"])
                .args(&tls_args)
                .args(["--in", &p("msg.eml"), "--out", &p("msg2.enc.eml")]),
            None,
        ),
        "encrypt to the new key",
    );
    ok(
        run(
            lockbox()
                .args(["decrypt", "--p12", &p("bob-new.p12"), "--password-stdin"])
                .args(["--in", &p("msg2.enc.eml"), "--out", &p("msg2.dec.eml")]),
            Some(BOB_PW),
        ),
        "decrypt with the new key",
    );
    let out = ok(
        run(
            kmsctl().args(["--json", "user", "show", "bob@example.com"]),
            None,
        ),
        "user show",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["escrowed_keys"], 2, "the old key stays escrowed");

    // Recovery and the restore drills cost real time (Argon2, RSA): they run once, in the
    // HTTPS scenario, the one deployments use.
    if https {
        recovery(t, &kmsctl);
        // A new start-up key file, over HTTPS: written 0600; the restore below opens the
        // backup with it.
        let new_key_file = t.join("new.keyfile");
        // unlock-method was raised to 2 with recover-key: carol approves.
        let add_key_file = || {
            run(
                kmsctl()
                    .args(["--json", "unlock-method", "add", "--key-file-out"])
                    .arg(&new_key_file),
                None,
            )
        };
        let out = add_key_file();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let id = v["request_id"].as_i64().unwrap().to_string();
        ok(
            run(
                kmsctl()
                    .env("KMS_SESSION_FILE", t.join("carol-session.json"))
                    .args(["approve", &id]),
                None,
            ),
            "carol approves the new key file",
        );
        ok(add_key_file(), "unlock-method add --key-file-out");
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&new_key_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        // Restore drill: back up, lose the data directory, restore, unlock with the same key
        // file, recover a key, open an old message.
        let out = ok(
            run(kmsctl().args(["--json", "backup", "now"]), None),
            "backup now",
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let backup = PathBuf::from(v["path"].as_str().unwrap());
        assert!(backup.starts_with(data.join("backups")), "{v}");
        let name = backup.file_name().unwrap().to_str().unwrap().to_string();
        let out = ok(run(kmsctl().args(["backup", "list"]), None), "backup list");
        assert!(out.contains(&name), "{out}");
        let out = ok(
            run(kmsctl().args(["--json", "backup", "verify", &name]), None),
            "backup verify",
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["audit"]["ok"], true, "{v}");
        assert!(v["keys"].as_u64().unwrap() >= 4, "{v}");
        let kept = t.join("kept.kmsbak");
        std::fs::copy(&backup, &kept).unwrap();
        live_restore(t, &kmsctl, &name);
        drop(_server);
        // The server's TLS certificate and key are not in the backup (the key is not escrowed):
        // they are lost with the machine, and `kmsd restore` issues a new certificate from the
        // restored CA, so the clients' CA certificate still verifies the server.
        let old_tls_crt = std::fs::read_to_string(data.join("tls.crt")).unwrap();
        std::fs::remove_dir_all(&data).unwrap();
        let out = run(
            Command::new(kmsd_bin())
                .arg("restore")
                .arg(&kept)
                .arg("--data-dir")
                .arg(&data)
                .arg("--key-file")
                .arg(&new_key_file),
            None,
        );
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        ok(out, "kmsd restore");
        assert!(
            stderr.contains("issued a new one from the restored CA"),
            "{stderr}"
        );
        assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.join("tls.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        let new_tls_crt = std::fs::read_to_string(data.join("tls.crt")).unwrap();
        assert_ne!(
            new_tls_crt, old_tls_crt,
            "the restore issued a new certificate"
        );
        let out = openssl(&["verify", "-CAfile", &p("ca.pem"), &p("data/tls.crt")]);
        assert!(
            out.status.success(),
            "openssl verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // --no-tls-cert restores the store alone; a bad --tls-name is refused before anything
        // is written.
        let restore_into = |dir: &Path, extra: &[&str]| {
            run(
                Command::new(kmsd_bin())
                    .arg("restore")
                    .arg(&kept)
                    .arg("--data-dir")
                    .arg(dir)
                    .arg("--key-file")
                    .arg(&new_key_file)
                    .args(extra),
                None,
            )
        };
        let bare = t.join("data-no-tls");
        let out = restore_into(&bare, &["--no-tls-cert"]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        ok(out, "kmsd restore --no-tls-cert");
        assert!(stderr.contains("no TLS certificate issued"), "{stderr}");
        assert!(bare.join(escrow::DB_FILE_NAME).is_file());
        assert!(!bare.join("tls.crt").exists() && !bare.join("tls.key").exists());
        let bad = t.join("data-bad-name");
        let out = restore_into(&bad, &["--tls-name", "not a host"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--tls-name"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!bad.exists(), "a refused restore writes nothing");
        let out = openssl(&["x509", "-in", &p("data/tls.crt"), "-noout", "-serial"]);
        assert!(out.status.success());
        let tls_serial = String::from_utf8_lossy(&out.stdout)
            .trim()
            .trim_start_matches("serial=")
            .to_ascii_lowercase();
        let _server = start(
            &data,
            ports,
            https,
            Some(&key_file),
            &t.join("kmsd-restored.log"),
        );
        ok(
            run(
                kmsctl().args(["login", "--admin", "admin", "--password-stdin"]),
                Some(ADMIN_PW),
            ),
            "login after restore",
        );
        let out = ok(
            run(kmsctl().args(["audit", "verify"]), None),
            "audit verify after restore",
        );
        assert!(out.contains("intact"), "{out}");
        // The authority recorded the new TLS certificate (so it can be revoked).
        let out = ok(
            run(kmsctl().args(["--json", "cert", "show", &tls_serial]), None),
            "cert show of the new TLS certificate",
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["kind"], "tls", "{v}");
        assert_eq!(v["status"], "active", "{v}");
        // The backup's policies (recover-key 2, policy-change 2): carol approves lowering it.
        let lower = || {
            run(
                kmsctl().args(["--json", "policy", "set", "recover-key", "1"]),
                None,
            )
        };
        let out = lower();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let id = v["request_id"].as_i64().unwrap().to_string();
        let carol = || {
            let mut c = kmsctl();
            c.env("KMS_SESSION_FILE", t.join("carol-session.json"));
            c
        };
        ok(
            run(
                carol().args(["login", "--admin", "carol", "--password-stdin"]),
                Some("carol's admin password"),
            ),
            "carol signs in on the restored machine",
        );
        ok(run(carol().args(["approve", &id]), None), "carol approves");
        ok(lower(), "policy set 1");
        ok(
            run(
                kmsctl().args([
                    "recover-key",
                    "bob@example.com",
                    "--out",
                    &p("bob-restored.p12"),
                    "--password-stdin",
                ]),
                Some("restored bundle password"),
            ),
            "recover-key after restore",
        );
        let out = openssl(&[
            "pkcs12",
            "-in",
            &p("bob-restored.p12"),
            "-nocerts",
            "-nodes",
            "-passin",
            "pass:restored bundle password",
            "-out",
            &p("bob-restored-keys.pem"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pem = std::fs::read_to_string(t.join("bob-restored-keys.pem")).unwrap();
        let opened = pem
            .split("-----BEGIN PRIVATE KEY-----")
            .skip(1)
            .enumerate()
            .any(|(i, k)| {
                let f = t.join(format!("restored-{i}.key"));
                std::fs::write(&f, format!("-----BEGIN PRIVATE KEY-----{k}")).unwrap();
                let out = openssl(&[
                    "cms",
                    "-decrypt",
                    "-in",
                    &p("msg.enc.eml"),
                    "-inkey",
                    f.to_str().unwrap(),
                ]);
                out.status.success() && String::from_utf8_lossy(&out.stdout).contains("hello Bob")
            });
        assert!(opened, "no restored key opens the old message");
        ok(run(kmsctl().arg("logout"), None), "logout");
        return;
    }

    ok(run(kmsctl().arg("logout"), None), "logout");
    let out = run(kmsctl().args(["user", "list"]), None);
    assert_eq!(out.status.code(), Some(6));
}

/// Key recovery under a quorum of two: one administrator alone waits (exit 3); with a second
/// one's approval the bundle arrives and OpenSSL opens, with the keys from it, Bob's messages
/// encrypted before (`msg.enc.eml`) and after (`msg2.enc.eml`) his key was renewed.
fn recovery(t: &Path, kmsctl: &dyn Fn() -> Command) {
    let p = |name: &str| t.join(name).to_str().unwrap().to_string();
    const CAROL_PW: &str = "carol's admin password";
    const BUNDLE_PW: &str = "recovery bundle password";
    ok(
        run(
            kmsctl().args([
                "admin",
                "add",
                "carol",
                "--role",
                "administrator",
                "--password-stdin",
            ]),
            Some(CAROL_PW),
        ),
        "admin add carol",
    );
    ok(
        run(kmsctl().args(["policy", "set", "recover-key", "2"]), None),
        "policy set",
    );
    let recover = || {
        run(
            kmsctl().args([
                "--json",
                "recover-key",
                "bob@example.com",
                "--out",
                &p("bob-recovered.p12"),
                "--password-stdin",
                "--why",
                "Bob left; his mailbox goes to Carol",
            ]),
            Some(BUNDLE_PW),
        )
    };
    let out = recover();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "waiting");
    let id = v["request_id"].as_i64().unwrap().to_string();
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 more"));
    assert!(!t.join("bob-recovered.p12").exists());

    // Carol signs in with her own session and approves.
    let carol = || {
        let mut c = kmsctl();
        c.env("KMS_SESSION_FILE", t.join("carol-session.json"));
        c
    };
    ok(
        run(
            carol().args(["login", "--admin", "carol", "--password-stdin"]),
            Some(CAROL_PW),
        ),
        "login carol",
    );
    let out = ok(
        run(carol().args(["approvals", "list"]), None),
        "approvals list",
    );
    assert!(out.contains("bob@example.com"), "{out}");
    // The approver sees why the opener asked.
    assert!(out.contains("Bob left; his mailbox goes to Carol"), "{out}");
    ok(run(carol().args(["approve", &id]), None), "approve");

    let out = ok(recover(), "recover-key after approval");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["keys"], 2, "{v}");

    // openssl reads the bundle; every key in it is tried on each message.
    let out = openssl(&[
        "pkcs12",
        "-in",
        &p("bob-recovered.p12"),
        "-nocerts",
        "-nodes",
        "-passin",
        &format!("pass:{BUNDLE_PW}"),
        "-out",
        &p("bob-recovered-keys.pem"),
    ]);
    assert!(
        out.status.success(),
        "openssl pkcs12: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = std::fs::read_to_string(t.join("bob-recovered-keys.pem")).unwrap();
    let keys: Vec<String> = pem
        .split("-----BEGIN PRIVATE KEY-----")
        .skip(1)
        .map(|k| format!("-----BEGIN PRIVATE KEY-----{k}"))
        .collect();
    assert_eq!(keys.len(), 2, "{pem}");
    for (i, k) in keys.iter().enumerate() {
        std::fs::write(t.join(format!("recovered-{i}.key")), k).unwrap();
    }
    for msg in ["msg.enc.eml", "msg2.enc.eml"] {
        let opened = (0..keys.len()).any(|i| {
            let out = openssl(&[
                "cms",
                "-decrypt",
                "-in",
                &p(msg),
                "-inkey",
                &p(&format!("recovered-{i}.key")),
            ]);
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("hello Bob")
        });
        assert!(opened, "no recovered key opens {msg}");
    }
    // The request is used up: the next recovery needs approvals again.
    assert_eq!(recover().status.code(), Some(3));
    let out = ok(
        run(kmsctl().args(["audit", "verify"]), None),
        "audit verify",
    );
    assert!(out.contains("intact"), "{out}");
}

/// Restore over the live store through the API, under a `restore` quorum of two: a user added
/// after backup `name` is gone afterwards, a key escrowed before it is still recovered, the
/// audit chain verifies and the restore is in it.
fn live_restore(t: &Path, kmsctl: &dyn Fn() -> Command, name: &str) {
    let p = |name: &str| t.join(name).to_str().unwrap().to_string();
    let carol = || {
        let mut c = kmsctl();
        c.env("KMS_SESSION_FILE", t.join("carol-session.json"));
        c
    };
    ok(
        run(
            kmsctl().args(["user", "add", "late@example.com", "--name", "Late"]),
            None,
        ),
        "user add after the backup",
    );
    ok(
        run(kmsctl().args(["policy", "set", "restore", "2"]), None),
        "policy set restore 2",
    );
    // No terminal to ask on: without --yes the restore is refused (exit 7), nothing asked.
    let out = run(kmsctl().args(["--json", "backup", "restore", name]), None);
    assert_eq!(out.status.code(), Some(7));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "CLI-005", "{v}");
    let restore = || {
        run(
            kmsctl().args(["--json", "backup", "restore", name, "--yes"]),
            None,
        )
    };
    let out = restore();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v["request_id"].as_i64().unwrap().to_string();
    ok(
        run(carol().args(["approve", &id]), None),
        "carol approves the restore",
    );
    let out = ok(restore(), "backup restore");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let safety = v["safety_backup"].as_str().unwrap().to_string();
    // Every session ended.
    let out = run(kmsctl().args(["user", "list"]), None);
    assert_eq!(out.status.code(), Some(6), "sessions end with a restore");
    ok(
        run(
            kmsctl().args(["login", "--admin", "admin", "--password-stdin"]),
            Some(ADMIN_PW),
        ),
        "login after the live restore",
    );
    let out = ok(run(kmsctl().args(["user", "list"]), None), "user list");
    assert!(out.contains("bob@example.com"), "{out}");
    assert!(!out.contains("late@example.com"), "{out}");
    // Bob's keys were escrowed before the backup: recovered. The live policies were kept
    // (recover-key 2, policy-change 2): carol, signed in again, approves lowering it.
    let lower = || {
        run(
            kmsctl().args(["--json", "policy", "set", "recover-key", "1"]),
            None,
        )
    };
    let out = lower();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v["request_id"].as_i64().unwrap().to_string();
    ok(
        run(
            carol().args(["login", "--admin", "carol", "--password-stdin"]),
            Some("carol's admin password"),
        ),
        "carol signs in again after the restore",
    );
    ok(run(carol().args(["approve", &id]), None), "carol approves");
    ok(lower(), "policy set recover-key 1");
    let out = ok(
        run(
            kmsctl().args([
                "--json",
                "recover-key",
                "bob@example.com",
                "--out",
                &p("bob-live-restored.p12"),
                "--password-stdin",
            ]),
            Some("live restore bundle password"),
        ),
        "recover-key after the live restore",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["keys"], 2, "{v}");
    let out = ok(
        run(kmsctl().args(["audit", "verify"]), None),
        "audit verify after the live restore",
    );
    assert!(out.contains("intact"), "{out}");
    let out = ok(
        run(kmsctl().args(["--json", "audit", "list"]), None),
        "audit list",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let restores: Vec<&serde_json::Value> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "restore" && e["outcome"] == "ok")
        .collect();
    assert_eq!(restores.len(), 1, "{v}");
    assert!(
        restores[0]["target"].as_str().unwrap().contains(&safety),
        "{v}"
    );
    let out = ok(run(kmsctl().args(["backup", "list"]), None), "backup list");
    assert!(out.contains(&safety), "{out}");
}
