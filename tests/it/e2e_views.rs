//! End to end for the view and self-service commands: a real `kmsd` on a loopback port,
//! driven by `kmsctl status`, `cert list`, `cert show`, `admin passwd` and `admin role`.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use super::support::{self, Server, free_port, kmsd_bin, sibling_bin as bin, start};

const ADMIN_PW: &str = "views admin password";

/// Runs `cmd` with `stdin` (lines, each ending in a newline; empty for none).
fn run(cmd: &mut Command, stdin: &str) -> Output {
    let lines = stdin.strip_suffix('\n').unwrap_or(stdin);
    support::run(cmd, (!stdin.is_empty()).then_some(lines))
}

fn ok(out: &Output, what: &str) -> String {
    support::ok(out.clone(), what)
}

fn json(out: &Output, what: &str) -> Value {
    serde_json::from_str(&ok(out, what)).unwrap()
}

/// `kmsd serve` over plain HTTP on loopback, unlocked with `key_file`; its API URL.
fn serve(data: &Path, key_file: &Path, log: &Path) -> (Server, String) {
    let ports = (free_port(), free_port());
    let server = start(data, ports, false, Some(key_file), log);
    (server, format!("http://127.0.0.1:{}", ports.0))
}

#[test]
fn kmsctl_status_cert_passwd_and_role() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let key_file = t.join("kmsd.keyfile");
    let out = run(
        Command::new(kmsd_bin())
            .args([
                "init",
                "--ca-key-bits",
                "3072",
                "--ca-subject",
                "CN=Views CA,O=Example",
                "--admin",
                "admin",
            ])
            .args([
                "--admin-password-stdin",
                "--public-url",
                "http://127.0.0.1:1",
            ])
            .arg("--data-dir")
            .arg(&data)
            .arg("--key-file")
            .arg(&key_file)
            .arg("--key-file-copy")
            .arg(t.join("copy.keyfile")),
        &format!("{ADMIN_PW}\n"),
    );
    ok(&out, "kmsd init");
    let (_server, url) = serve(&data, &key_file, &t.join("kmsd.log"));
    let kmsctl_bin = bin("kmsctl");
    let session = t.join("session.json");
    let kmsctl = |session: &Path| {
        let mut c = Command::new(&kmsctl_bin);
        c.env("KMS_URL", &url)
            .env("KMS_SESSION_FILE", session)
            .env_remove("KMS_CA_CERT");
        c
    };
    let login = |who: &str, pw: &str, session: &Path| {
        run(
            kmsctl(session).args(["login", "--admin", who, "--password-stdin"]),
            &format!("{pw}\n"),
        )
    };
    ok(&login("admin", ADMIN_PW, &session), "login");
    let other = t.join("other-session.json");
    ok(&login("admin", ADMIN_PW, &other), "second login");

    let v = json(
        &run(kmsctl(&session).args(["--json", "status"]), ""),
        "status",
    );
    assert_eq!(v["ca_subject"], "CN=Views CA,O=Example");
    assert_eq!(v["crl"]["number"], 1);
    let text = ok(&run(kmsctl(&session).arg("status"), ""), "status");
    assert!(
        text.contains("CN=Views CA,O=Example") && text.contains("pending approvals"),
        "{text}"
    );

    // The server's own TLS certificate, issued by init, is the one certificate there is.
    let v = json(
        &run(
            kmsctl(&session).args(["--json", "cert", "list", "--status", "active"]),
            "",
        ),
        "cert list",
    );
    assert_eq!(v["total"], 1, "{v}");
    let serial = v["certificates"][0]["serial"].as_str().unwrap().to_string();
    assert_eq!(v["certificates"][0]["kind"], "tls");
    let v = json(
        &run(
            kmsctl(&session).args(["--json", "cert", "list", "--serial", &serial[..4]]),
            "",
        ),
        "cert list --serial",
    );
    assert!(
        v["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["serial"] == serial.as_str())
    );
    let v = json(
        &run(
            kmsctl(&session).args(["--json", "cert", "list", "--email", "nobody"]),
            "",
        ),
        "cert list --email",
    );
    assert_eq!(v["total"], 0);
    let out = run(
        kmsctl(&session).args(["cert", "list", "--status", "lost"]),
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUTH-009"));
    let der = t.join("tls.cer");
    let text = ok(
        &run(
            kmsctl(&session)
                .args(["cert", "show", &serial, "--out"])
                .arg(&der),
            "",
        ),
        "cert show",
    );
    assert!(
        text.contains("serverAuth") && text.contains("CN=Views CA,O=Example"),
        "{text}"
    );
    let fp = text
        .lines()
        .find(|l| l.starts_with("SHA-256"))
        .unwrap()
        .split('\t')
        .nth(1)
        .unwrap()
        .to_string();
    let o = Command::new("openssl")
        .args([
            "x509",
            "-inform",
            "DER",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
        ])
        .arg(&der)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).trim_end().ends_with(&fp));
    let out = run(kmsctl(&session).args(["cert", "show", "abcdef"]), "");
    assert_eq!(out.status.code(), Some(1));

    // Own password: a wrong current one is refused; then changed, the other session ends.
    let out = run(
        kmsctl(&session).args(["admin", "passwd", "--password-stdin"]),
        "not it at all\nnew views password\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let out = run(
        kmsctl(&session).args(["admin", "passwd", "--password-stdin"]),
        &format!("{ADMIN_PW}\n"),
    );
    assert_eq!(out.status.code(), Some(1), "the new password is missing");
    ok(
        &run(
            kmsctl(&session).args(["admin", "passwd", "--password-stdin"]),
            &format!("{ADMIN_PW}\nnew views password\n"),
        ),
        "admin passwd",
    );
    ok(
        &run(kmsctl(&session).arg("status"), ""),
        "status after passwd",
    );
    let out = run(kmsctl(&other).arg("status"), "");
    assert_eq!(out.status.code(), Some(6), "the other session ended");
    assert_eq!(login("admin", ADMIN_PW, &other).status.code(), Some(1));
    ok(
        &login("admin", "new views password", &other),
        "login with the new password",
    );

    // Roles: add an officer, promote, the last-administrator rule, the quorum wait (exit 3).
    ok(
        &run(
            kmsctl(&session).args([
                "admin",
                "add",
                "olga",
                "--role",
                "officer",
                "--password-stdin",
            ]),
            "olga password\n",
        ),
        "admin add",
    );
    let text = ok(
        &run(
            kmsctl(&session).args(["admin", "role", "olga", "administrator"]),
            "",
        ),
        "admin role",
    );
    assert!(text.contains("olga is now administrator"), "{text}");
    ok(
        &run(
            kmsctl(&session).args([
                "admin",
                "add",
                "bea",
                "--role",
                "administrator",
                "--password-stdin",
            ]),
            "bea password\n",
        ),
        "admin add bea",
    );
    ok(
        &run(
            kmsctl(&session).args(["policy", "set", "admin-change", "2"]),
            "",
        ),
        "policy set",
    );
    let out = run(
        kmsctl(&session).args(["--json", "admin", "role", "olga", "auditor"]),
        "",
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "waiting");
    let id = v["request_id"].as_i64().unwrap().to_string();
    let bea = t.join("bea-session.json");
    ok(&login("bea", "bea password", &bea), "login bea");
    ok(&run(kmsctl(&bea).args(["approve", &id]), ""), "approve");
    let text = ok(
        &run(
            kmsctl(&session).args(["admin", "role", "olga", "auditor"]),
            "",
        ),
        "admin role after approval",
    );
    assert!(text.contains("olga is now auditor"), "{text}");
    // Two administrators left and a quorum of two: neither may step down.
    let out = run(
        kmsctl(&session).args(["admin", "role", "bea", "officer"]),
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("quorum"));
    let v = json(
        &run(kmsctl(&session).args(["--json", "admin", "list"]), ""),
        "admin list",
    );
    let roles: Vec<(&str, &str)> = v["admins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("admin", "administrator"),
            ("bea", "administrator"),
            ("olga", "auditor")
        ]
    );
}
