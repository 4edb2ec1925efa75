//! The client CRL cache against a real `kmsd`: `lockbox enroll` remembers the CA and fills the
//! cache, `lockbox crl sync` fetches the CRL after a revocation, and `lockbox verify` without
//! `--crl` then says "valid" for the good signer and "revoked" for the revoked one;
//! `--revocation prefer` with an empty cache gives the verdict with a warning.

use std::process::Command;

use super::support::{free_port, kmsd_bin, ok, run, sibling_bin, start};

const ADMIN_PW: &str = "crl cache admin password";
const PW: &str = "user p12 password";

#[test]
fn verify_uses_the_synced_crl_cache_without_crl() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let p = |name: &str| t.join(name).to_str().unwrap().to_string();
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
                    "--ca-key-bits",
                    "3072",
                    "--ca-subject",
                    "CN=Cache CA,O=Example",
                    "--admin",
                ])
                .args([
                    "admin",
                    "--admin-password-stdin",
                    "--public-url",
                    &public_url,
                ])
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
    let server = start(&data, ports, false, Some(&key_file), &t.join("kmsd.log"));
    let kmsctl_bin = sibling_bin("kmsctl");
    let kmsctl = || {
        let mut c = Command::new(&kmsctl_bin);
        c.env("KMS_URL", &url)
            .env("KMS_SESSION_FILE", t.join("session.json"))
            .env_remove("KMS_CA_CERT");
        c
    };
    let cache = t.join("cache");
    let lockbox_bin = sibling_bin("lockbox");
    let lockbox = || {
        let mut c = Command::new(&lockbox_bin);
        c.env("LOCKBOX_CRL_CACHE", &cache)
            .env_remove("KMS_URL")
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
    ok(
        run(kmsctl().args(["ca-cert", "--out", &p("ca.pem")]), None),
        "ca-cert",
    );
    for who in ["good", "bad"] {
        let email = format!("{who}@example.com");
        let out = ok(
            run(
                kmsctl().args(["--json", "user", "add", &email, "--name", who]),
                None,
            ),
            "user add",
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        std::fs::write(
            t.join(format!("{who}.token")),
            v["enrollment_token"].as_str().unwrap(),
        )
        .unwrap();
        ok(
            run(
                lockbox()
                    .args(["enroll", "--server", &url, "--email", &email])
                    .args([
                        "--password-stdin",
                        "--token-file",
                        &p(&format!("{who}.token")),
                    ])
                    .args(["--out", &p(&format!("{who}.p12"))]),
                Some(PW),
            ),
            "enroll",
        );
        std::fs::write(
            t.join(format!("{who}.eml")),
            format!("From: {email}\r\nSubject: hello\r\n\r\nfrom {who}\r\n"),
        )
        .unwrap();
        ok(
            run(
                lockbox()
                    .args([
                        "sign",
                        "--p12",
                        &p(&format!("{who}.p12")),
                        "--password-stdin",
                    ])
                    .args(["--in", &p(&format!("{who}.eml"))])
                    .args(["--out", &p(&format!("{who}.signed.eml"))]),
                Some(PW),
            ),
            "sign",
        );
    }
    // Enrollment remembered the CA and cached its CRL (private files).
    let remembered = std::fs::read_to_string(cache.join("remembered.json")).unwrap();
    assert!(remembered.contains("CN=Cache CA"), "{remembered}");
    assert!(remembered.contains(&url), "{remembered}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let full: Vec<_> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".full.crl"))
            .collect();
        assert_eq!(full.len(), 1, "{full:?}");
        let mode = std::fs::metadata(&full[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    ok(
        run(
            kmsctl().args([
                "revoke",
                "bad@example.com",
                "--reason",
                "keyCompromise",
                "--yes",
            ]),
            None,
        ),
        "revoke",
    );
    let out = ok(
        run(lockbox().args(["--json", "crl", "sync"]), None),
        "crl sync",
    );
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["cas"][0]["full"]["updated"], true, "{v}");

    let verify = |who: &str, extra: &[&str]| {
        run(
            lockbox()
                .args(["--json", "verify", "--ca", &p("ca.pem")])
                .args(extra)
                .args(["--in", &p(&format!("{who}.signed.eml"))]),
            None,
        )
    };
    let good = verify("good", &[]);
    let j: serde_json::Value = serde_json::from_slice(&good.stdout).unwrap();
    assert_eq!(good.status.code(), Some(0), "{j}");
    assert_eq!(j["verdict"], "valid", "{j}");
    assert_eq!(
        j["cached_crls"][0]["issuer"], "CN=Cache CA,O=Example",
        "{j}"
    );
    assert!(
        j["cached_crls"][0]["age_seconds"].as_u64().unwrap() < 3600,
        "{j}"
    );
    let bad = verify("bad", &[]);
    let j: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(bad.status.code(), Some(11), "{j}");
    assert_eq!(j["verdict"], "revoked", "{j}");
    // The text form says how old the CRL is.
    let out = run(
        lockbox().args([
            "verify",
            "--ca",
            &p("ca.pem"),
            "--in",
            &p("good.signed.eml"),
        ]),
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("revocation: the cached CRL of CN=Cache CA,O=Example")
            && text.contains("ago"),
        "{text}"
    );

    // prefer never hides a revocation it can see.
    let out = verify("bad", &["--revocation", "prefer"]);
    assert_eq!(out.status.code(), Some(11));
    let out = verify("bad", &["--revocation", "off"]);
    assert_eq!(out.status.code(), Some(0));
    // An empty cache and no responder (the certificates name the authority's OCSP URL, which
    // answers while it runs: see ocsp_e2e): require (the default) gives 15 with a hint
    // naming --crl; prefer gives the signature's verdict with a warning.
    drop(server);
    let empty = p("empty-cache");
    let out = verify("good", &["--crl-cache", &empty]);
    assert_eq!(out.status.code(), Some(15));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(j["notes"].to_string().contains("--crl FILE"), "{j}");
    let out = verify("good", &["--crl-cache", &empty, "--revocation", "prefer"]);
    assert_eq!(out.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["verdict"], "valid", "{j}");
    assert!(
        j["revocation_warning"]
            .as_str()
            .unwrap()
            .contains("revocation was not checked"),
        "{j}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: revocation was not checked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
