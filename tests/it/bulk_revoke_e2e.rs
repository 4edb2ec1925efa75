//! `kmsctl revoke --serials-from FILE` / `--emails-from -` against a real `kmsd`: exit 7
//! without --yes and no terminal (nothing revoked), one bulk call with --yes, unknown entries
//! reported, and OpenSSL reading the CRL that lists them.

use std::process::Command;

use super::support::{free_port, kmsd_bin, ok, openssl, run, sibling_bin, start};

const ADMIN_PW: &str = "bulk admin password";

#[test]
fn kmsctl_revokes_a_list_in_one_call() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let key_file = t.join("kmsd.keyfile");
    let ports = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{}", ports.0);
    let public_url = format!("http://127.0.0.1:{}", ports.1);
    ok(
        run(
            Command::new(kmsd_bin())
                .args([
                    "init",
                    "--ca-subject",
                    "CN=Bulk CA,O=Example",
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
        ),
        "kmsd init",
    );
    // 300 certificates, seeded directly (as the console benchmark does).
    let serials: Vec<String> = (0..300u64).map(|i| format!("b01c{i:08x}")).collect();
    {
        let conn = rusqlite::Connection::open(data.join(escrow::DB_FILE_NAME)).unwrap();
        for s in &serials {
            conn.execute(
                "INSERT INTO certificates (serial, user_id, kind, der, not_before, not_after, issued_at)
                 VALUES (?1, NULL, 'signing', x'3000', 0, 4000000000, 0)",
                [s],
            )
            .unwrap();
        }
    }
    let _server = start(&data, ports, false, Some(&key_file), &t.join("kmsd.log"));
    let kmsctl = || {
        let mut c = Command::new(sibling_bin("kmsctl"));
        c.env("KMS_URL", &url)
            .env("KMS_SESSION_FILE", t.join("session.json"))
            .env_remove("KMS_CA_CERT");
        c
    };
    ok(
        run(
            kmsctl().args(["login", "--admin", "admin", "--password-stdin"]),
            Some(ADMIN_PW),
        ),
        "login",
    );
    let list = t.join("serials.txt");
    let mut text = String::from("# the departing division\n\n");
    for s in &serials {
        text.push_str(&format!("{s}  # laptop\n"));
    }
    text.push_str("ffff0000ffff\n");
    std::fs::write(&list, text).unwrap();

    // No terminal to ask on and no --yes: exit 7, nothing revoked.
    let out = run(
        kmsctl()
            .args(["--json", "revoke", "--serials-from"])
            .arg(&list),
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["code"], "CLI-005", "{err}");

    let out = ok(
        run(
            kmsctl()
                .args([
                    "--json",
                    "revoke",
                    "--reason",
                    "affiliationChanged",
                    "--yes",
                    "--serials-from",
                ])
                .arg(&list),
            None,
        ),
        "revoke --serials-from --yes",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["revoked"], 300, "{v}");
    assert_eq!(v["not_found"], serde_json::json!(["ffff0000ffff"]), "{v}");

    // Addresses from standard input: an unknown one is reported, nothing else changes.
    let out = ok(
        run(
            kmsctl().args(["--json", "revoke", "--yes", "--emails-from", "-"]),
            Some("# nobody here\nnobody@example.com"),
        ),
        "revoke --emails-from -",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["revoked"], 0, "{v}");
    assert_eq!(
        v["not_found"],
        serde_json::json!(["nobody@example.com"]),
        "{v}"
    );

    // The CRL lists the 300 (the publisher may still be signing it: retried briefly).
    let crl = t.join("crl.der");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        ok(
            run(kmsctl().args(["crl", "--out"]).arg(&crl), None),
            "kmsctl crl",
        );
        let out = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-noout",
            "-text",
            "-in",
            crl.to_str().unwrap(),
        ]);
        assert!(out.status.success());
        let n = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.trim_start().starts_with("Serial Number:"))
            .count();
        if n == 300 || std::time::Instant::now() > deadline {
            assert_eq!(n, 300);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
