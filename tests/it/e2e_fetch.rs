//! Against the real binaries on loopback: `kmsd serve` fails on a busy port before anything
//! else happens; `lockbox fetch` collects renewed certificates into the user's PKCS#12 (and
//! refuses a renewal with a new key); a backup carries `kmsd.toml` and `kmsd restore` brings
//! it back; the start-up log says whether backups are scheduled.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::{Value, json};

use super::support::{free_port, kmsd_bin, ok, run, sibling_bin, start};

const ADMIN_PW: &str = "fetch admin password";
const ALICE_PW: &str = "alice p12 password";

fn serials(p12: &[u8]) -> (Vec<String>, Vec<String>) {
    let c = pki::pkcs12::parse(p12, ALICE_PW).unwrap();
    let serial = |cert: &pki::Certificate| {
        pki::CertificateInfo::from_certificate(cert)
            .unwrap()
            .serial_hex
    };
    let mut paired: Vec<String> = c
        .keys
        .iter()
        .map(|k| serial(k.certificate.as_ref().unwrap()))
        .collect();
    let mut other: Vec<String> = c.certificates.iter().map(serial).collect();
    paired.sort();
    other.sort();
    (paired, other)
}

#[test]
fn busy_port_fails_first_fetch_collects_renewals_and_restore_brings_settings_back() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let key_file = t.join("kmsd.keyfile");
    let ports = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{}", ports.0);
    let kmsd = || Command::new(kmsd_bin());
    ok(
        run(
            kmsd()
                .args([
                    "init",
                    "--ca-key-bits",
                    "3072",
                    "--ca-subject",
                    "CN=Fetch CA,O=Example",
                ])
                .args(["--admin", "admin", "--admin-password-stdin"])
                .args(["--public-url", &format!("http://127.0.0.1:{}", ports.1)])
                .arg("--data-dir")
                .arg(&data)
                .arg("--key-file")
                .arg(&key_file),
            Some(ADMIN_PW),
        ),
        "kmsd init",
    );

    // A busy port: a clear message, and nothing else happens (not even --dev's first run).
    {
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy_addr = busy.local_addr().unwrap().to_string();
        let fresh = t.join("dev-data");
        let out = run(
            kmsd()
                .args(["serve", "--dev", "--listen", &busy_addr])
                .arg("--data-dir")
                .arg(&fresh),
            None,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(&busy_addr) && err.contains("in use"), "{err}");
        assert!(
            !fresh.exists(),
            "nothing may be created before the port is bound"
        );
        let audit_entries = || -> i64 {
            rusqlite::Connection::open(data.join(escrow::DB_FILE_NAME))
                .unwrap()
                .query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
                .unwrap()
        };
        let audit_before = audit_entries();
        let out = run(
            kmsd()
                .args([
                    "serve",
                    "--http",
                    "--listen",
                    &format!("127.0.0.1:{}", ports.0),
                ])
                .args(["--public-listen", &busy_addr, "--password-stdin"])
                .arg("--data-dir")
                .arg(&data),
            Some("not even read"),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("the public URLs") && err.contains("in use"),
            "{err}"
        );
        assert!(!err.contains("unlock"), "{err}");
        assert_eq!(audit_entries(), audit_before, "no unlock was tried");
    }

    let log = t.join("kmsd.log");
    let _server = start(&data, ports, false, Some(&key_file), &log);
    // The listeners are bound before the unlock: wait for the line that follows it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let start_log = std::fs::read_to_string(&log).unwrap();
        if start_log.contains("scheduled backups off") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{start_log}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |path: &str, token: Option<&str>, body: Value| -> (u16, Value) {
        let mut r = agent.post(format!("{url}{path}"));
        if let Some(t) = token {
            r = r.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = r.send_json(body).unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or(Value::Null))
    };
    let (_, v) = post(
        "/api/v1/login",
        None,
        json!({"name": "admin", "password": ADMIN_PW}),
    );
    let session = v["token"].as_str().unwrap().to_string();
    let s = Some(session.as_str());
    let (status, v) = post(
        "/api/v1/users",
        s,
        json!({"email": "alice@example.com", "name": "Alice"}),
    );
    assert_eq!(status, 200, "{v}");
    let token_file = t.join("alice.token");
    std::fs::write(&token_file, v["enrollment_token"].as_str().unwrap()).unwrap();

    let lockbox_bin = sibling_bin("lockbox");
    let p12 = t.join("alice.p12");
    ok(
        run(
            Command::new(&lockbox_bin)
                .args(["enroll", "--server", &url, "--email", "alice@example.com"])
                .args(["--password-stdin", "--token-file"])
                .arg(&token_file)
                .arg("--out")
                .arg(&p12),
            Some(ALICE_PW),
        ),
        "lockbox enroll",
    );
    let (enrolled, chain) = serials(&std::fs::read(&p12).unwrap());
    assert_eq!((enrolled.len(), chain.len()), (2, 1));

    let fetch = |password: &str| {
        run(
            Command::new(&lockbox_bin)
                .args(["--json", "fetch", "--server", &url])
                .args(["--email", "alice@example.com", "--password-stdin", "--p12"])
                .arg(&p12),
            Some(password),
        )
    };
    // Nothing new yet.
    let v: Value = serde_json::from_str(&ok(fetch(ALICE_PW), "fetch (up to date)")).unwrap();
    assert_eq!(
        (
            v["added"].as_array().unwrap().len(),
            v["unchanged"].as_array().unwrap().len()
        ),
        (0, 2),
        "{v}"
    );

    // Renewed with the same keys: fetch pairs the keys with the new certificates and keeps
    // the old ones and the CA.
    let (status, v) = post("/api/v1/renew", s, json!({"email": "alice@example.com"}));
    assert_eq!(status, 200, "{v}");
    let mut renewed: Vec<String> = v["renewed"][0]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap().to_string())
        .collect();
    renewed.sort();
    let v: Value = serde_json::from_str(&ok(fetch(ALICE_PW), "fetch")).unwrap();
    let mut added: Vec<String> = v["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap().to_string())
        .collect();
    added.sort();
    assert_eq!(added, renewed, "{v}");
    let bytes = std::fs::read(&p12).unwrap();
    let (paired, others) = serials(&bytes);
    assert_eq!(paired, renewed);
    for old in enrolled.iter().chain(&chain) {
        assert!(others.contains(old), "{old} kept: {others:?}");
    }
    let mode = std::fs::metadata(&p12).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // The file still works for lockbox (same password, the new signing certificate).
    let msg = t.join("m.eml");
    std::fs::write(&msg, "Subject: hi\r\n\r\nhello\r\n").unwrap();
    ok(
        run(
            Command::new(&lockbox_bin)
                .args(["sign", "--password-stdin", "--p12"])
                .arg(&p12)
                .arg("--in")
                .arg(&msg)
                .arg("--out")
                .arg(t.join("signed.eml")),
            Some(ALICE_PW),
        ),
        "sign with the fetched certificate",
    );

    // A wrong password changes nothing.
    let out = fetch("wrong password");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(&p12).unwrap(), bytes);

    // Renewed with a new key: refused, the user must enroll again, the file is unchanged.
    let (status, v) = post(
        "/api/v1/renew",
        s,
        json!({"email": "alice@example.com", "new_key": true}),
    );
    assert_eq!(status, 200, "{v}");
    let out = fetch(ALICE_PW);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("new key") && err.contains("enroll again"),
        "{err}"
    );
    assert_eq!(std::fs::read(&p12).unwrap(), bytes);

    // The backup carries kmsd.toml; kmsd restore writes it back and prints absolute paths.
    let settings = data.join("kmsd.toml");
    let text = format!(
        "{}\nbackup_keep = 5\n",
        std::fs::read_to_string(&settings).unwrap()
    );
    std::fs::write(&settings, &text).unwrap();
    let (status, v) = post("/api/v1/backups", s, json!({}));
    assert_eq!(status, 200, "{v}");
    let path = v["path"].as_str().unwrap().to_string();
    assert!(std::path::Path::new(&path).is_absolute(), "{path}");
    let restored = t.join("restored");
    let out = ok(
        run(
            kmsd()
                .current_dir(t)
                .args(["restore", &path, "--data-dir", "restored", "--no-tls-cert"])
                .arg("--key-file")
                .arg(&key_file),
            None,
        ),
        "kmsd restore",
    );
    assert_eq!(
        std::fs::read_to_string(restored.join("kmsd.toml")).unwrap(),
        text
    );
    let restored_abs = restored.canonicalize().unwrap();
    assert!(
        out.contains(&format!("into {}", restored_abs.display()))
            && out.contains(&restored_abs.join("kmsd.toml").display().to_string()),
        "{out}"
    );
}
