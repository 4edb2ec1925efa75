//! Against a scripted HTTP server: the server's errors keep their code with `--json` and
//! map to the documented exit codes (5 locked, 6 session expired, 3 waiting, 7 confirmation
//! required); destructive commands ask first; a huge answer into a closed pipe ends quietly;
//! `--out -` is standard output, and links and FIFOs are written through.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{kmsctl, run, stdout_json};

/// A request the fake server saw: method, path, JSON body.
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

/// Serves every request with `answer(method, path)` -> (status, body) until the test ends.
fn serve(answer: fn(&str, &str) -> (u16, String)) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let mut length = 0;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some((k, v)) = h.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let (status, text) = answer(&method, &path);
            log.lock().unwrap().push((method, path, body));
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (url, seen)
}

/// A session file with a token, in a directory kept by the caller.
fn session() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.json");
    std::fs::write(&file, r#"{"token":"t0k3n"}"#).unwrap();
    (dir, file)
}

fn error(code: &str, message: &str) -> String {
    json!({"error": {"code": code, "message": message}}).to_string()
}

#[test]
fn server_errors_keep_their_code_and_exit_as_documented() {
    let (url, _) = serve(|_, path| match path {
        "/api/v1/users" => (423, error("KMS-423", "the authority is locked")),
        "/api/v1/admins" => (
            401,
            error("AUTH-003", "not signed in, or the session expired"),
        ),
        "/api/v1/policies" => (
            422,
            error(
                "AUTH-009",
                "certificate request refused: PKI-031 the key is too small",
            ),
        ),
        "/api/v1/approvals" => (428, error("KMS-428", "add \"confirm\": true")),
        _ => (404, String::new()),
    });
    let (_dir, file) = session();
    let k = || {
        let mut c = kmsctl();
        c.env("KMS_URL", &url).env("KMS_SESSION_FILE", &file);
        c
    };
    for (args, exit, code) in [
        (&["user", "list"][..], 5, "KMS-423"),
        (&["admin", "list"], 6, "AUTH-003"),
        (&["policy", "list"], 1, "AUTH-009"),
        (&["approvals", "list"], 7, "KMS-428"),
        (&["backup", "schedule"], 1, "CLI-006"),
    ] {
        let out = run(k().arg("--json").args(args));
        assert_eq!(out.status.code(), Some(exit), "{args:?}");
        let v = stdout_json(&out);
        assert_eq!(v["error"]["code"], code, "{args:?}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // People read one code, then the message.
    let out = run(k().args(["policy", "list"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "kmsctl: error: PKI-031: certificate request refused: the key is too small"
    );
    assert!(out.stdout.is_empty());
    let out = run(k().args(["backup", "schedule"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("older than this kmsctl"), "{err}");
    assert!(!err.contains("[]"), "{err}");
}

#[test]
fn waiting_for_approvals_is_not_an_error() {
    let (url, seen) = serve(|_, _| {
        (
            202,
            json!({"status": "waiting", "request_id": 9, "operation": "backup-schedule",
                   "target": "", "approved_by": ["admin"], "needed": 3,
                   "error": {"code": "AUTH-023", "message": "waiting"}})
            .to_string(),
        )
    });
    let (_dir, file) = session();
    let out = run(kmsctl()
        .env("KMS_URL", &url)
        .env("KMS_SESSION_FILE", &file)
        .args([
            "--json", "backup", "schedule", "--every", "1d", "--keep", "7",
        ]));
    assert_eq!(out.status.code(), Some(3));
    let v = stdout_json(&out);
    assert_eq!(v["status"], "waiting", "{v}");
    assert_eq!(v["request_id"], 9, "{v}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("kmsctl: waiting for 2 more approvals; request id 9"),
        "{err}"
    );
    assert!(!err.contains("error"), "{err}");
    let seen = seen.lock().unwrap();
    let (method, path, body) = seen.last().unwrap();
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/api/v1/backups/schedule")
    );
    assert_eq!(body, &json!({"every": 86_400, "keep": 7}));
}

/// A user with certificates revoked for these reasons (`None`: not revoked).
fn user(revoked: &[Option<&str>]) -> String {
    let certificates: Vec<Value> = revoked
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({"serial": format!("0{i}"), "kind": "signing", "not_before": 1_700_000_000,
                   "not_after": 1_800_000_000, "revoked": r, "superseded": false})
        })
        .collect();
    json!({"email": "u@example.com", "name": "U", "capabilities": [], "status": "active",
           "created_at": 1_700_000_000, "certificates": certificates, "escrowed_keys": 1})
    .to_string()
}

#[test]
fn destructive_commands_ask_or_exit_7() {
    let (url, seen) = serve(|_, path| match path {
        "/api/v1/users/bob@example.com" => (200, user(&[None, None])),
        "/api/v1/users/carl@example.com" => (200, user(&[None, Some("superseded")])),
        "/api/v1/revoke" => (
            200,
            json!({"revoked": ["03"], "reason": "unspecified"}).to_string(),
        ),
        "/api/v1/renew" => (
            200,
            json!({"renewed": [{"email": "a@example.com", "certificates": []}], "failed": [],
                   "skipped": [{"email": "n@example.com", "reason": "not enrolled"}]})
            .to_string(),
        ),
        _ => (
            200,
            json!({"backup": "b", "keys": 1, "safety_backup": "/d/kms-1-1-pre-restore.kmsbak",
                   "replaced_head_seq": 9, "replaced_head_hash": "00", "restore_entry": 10,
                   "revocations_carried": 0})
            .to_string(),
        ),
    });
    let (_dir, file) = session();
    let k = || {
        let mut c = kmsctl();
        c.env("KMS_URL", &url).env("KMS_SESSION_FILE", &file);
        c
    };
    let posts = |seen: &Seen| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(m, _, _)| m == "POST")
            .count()
    };
    for args in [
        &["backup", "restore", "kms-1.kmsbak"][..],
        &["renew", "--all", "--within", "30d"],
        &["revoke", "bob@example.com"],
    ] {
        let out = run(k().arg("--json").args(args));
        assert_eq!(out.status.code(), Some(7), "{args:?}");
        assert_eq!(stdout_json(&out)["error"]["code"], "CLI-005", "{args:?}");
        assert_eq!(posts(&seen), 0, "{args:?}: nothing was sent");
    }
    // One certificate left: no question.
    let out = run(k().args(["revoke", "carl@example.com"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Confirmed: the body says so.
    let out = run(k().args(["--json", "renew", "--all", "--within", "30d", "--yes"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_json(&out)["skipped"][0]["reason"], "not enrolled");
    let out = run(k().args(["backup", "restore", "kms-1.kmsbak", "--yes"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = seen.lock().unwrap();
    let bodies: Vec<(&str, &Value)> = seen
        .iter()
        .filter(|(m, _, _)| m == "POST")
        .map(|(_, p, b)| (p.as_str(), b))
        .collect();
    assert_eq!(
        bodies,
        [
            ("/api/v1/revoke", &json!({"email": "carl@example.com"})),
            (
                "/api/v1/renew",
                &json!({"all": true, "new_key": false, "within": 2_592_000, "confirm": true})
            ),
            (
                "/api/v1/backups/kms-1.kmsbak/restore",
                &json!({"confirm": true})
            ),
        ]
    );
}

#[test]
fn renew_all_exits_1_when_someone_failed() {
    let (url, _) = serve(|_, _| {
        (
            200,
            json!({"renewed": [], "skipped": [],
                   "failed": [{"email": "x@example.com", "code": "PKI-031", "message": "m"}]})
            .to_string(),
        )
    });
    let (_dir, file) = session();
    let out = run(kmsctl()
        .env("KMS_URL", &url)
        .env("KMS_SESSION_FILE", &file)
        .args(["--json", "renew", "--all", "--yes"]));
    assert_eq!(out.status.code(), Some(1));
    // One JSON document: the answer, with its failures.
    assert_eq!(stdout_json(&out)["failed"][0]["email"], "x@example.com");
}

#[test]
fn a_huge_answer_into_a_closed_pipe_ends_quietly() {
    let (url, _) = serve(|_, _| {
        let entries: Vec<Value> = (0..5_000)
            .map(|i| {
                json!({"seq": i, "at": 1_700_000_000 + i, "actor": "admin",
                            "action": "user.add", "target": format!("u{i}@example.com"),
                            "outcome": "ok", "detail": "x".repeat(40), "hash": "00"})
            })
            .collect();
        (200, json!({"entries": entries}).to_string())
    });
    let (_dir, file) = session();
    for json_flag in [false, true] {
        let mut cmd = kmsctl();
        cmd.env("KMS_URL", &url)
            .env("KMS_SESSION_FILE", &file)
            .args(["audit", "list"]);
        if json_flag {
            cmd.arg("--json");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // `| head -1`: read a little, then go away. The answer is far larger than a pipe.
        let mut first = [0u8; 16];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{err}");
        assert!(err.is_empty(), "{err}");
    }
}

#[test]
fn login_sends_the_totp_code_and_admin_totp_calls_its_routes() {
    let (url, seen) = serve(|_, path| match path {
        "/api/v1/login" => (
            200,
            json!({"token": "t0k3n", "expires_at": 1, "admin": {"name": "ann", "role": "officer"}})
                .to_string(),
        ),
        "/api/v1/admins/me/totp" => (
            200,
            json!({"otpauth_uri": "otpauth://totp/KMS:ann?secret=MZXW6YTB&issuer=KMS"}).to_string(),
        ),
        "/api/v1/admins/me/totp/disable" => {
            (200, json!({"name": "ann", "had_totp": true}).to_string())
        }
        _ => (200, json!({"name": "bob", "had_totp": false}).to_string()),
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.json");
    let k = || {
        let mut c = kmsctl();
        c.env("KMS_URL", &url).env("KMS_SESSION_FILE", &file);
        c
    };
    let mut child = k()
        .args([
            "login",
            "--admin",
            "ann",
            "--password-stdin",
            "--totp",
            "123456",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"ann's password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let body = seen.lock().unwrap().last().unwrap().2.clone();
    assert_eq!(
        body,
        json!({"name": "ann", "password": "ann's password", "totp": "123456"})
    );

    let out = run(k().args(["admin", "totp", "enable"]));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("otpauth://totp/KMS:ann?secret=MZXW6YTB")
    );
    let out = run(k().args(["--json", "admin", "totp", "disable"]));
    assert_eq!(stdout_json(&out), json!({"name": "ann", "had_totp": true}));
    let out = run(k().args(["admin", "totp", "disable", "bob"]));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("bob had no second factor"));
    let paths: Vec<String> = seen.lock().unwrap().iter().map(|s| s.1.clone()).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/login",
            "/api/v1/admins/me/totp",
            "/api/v1/admins/me/totp/disable",
            "/api/v1/admins/bob/totp/disable"
        ]
    );
}

/// The fake CA document that `/ca` and `/crl` serve.
const DOC: &str = "-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n";

#[test]
fn out_dash_is_standard_output_and_links_and_fifos_are_written_through() {
    let (url, _) = serve(|_, path| match path {
        "/ca" | "/crl" => (200, DOC.to_string()),
        _ => (404, error("KMS-404", "no such route")),
    });
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cmd = |args: &[&str]| {
        let mut c = kmsctl();
        c.current_dir(d).args(["--server", &url]).args(args);
        run(&mut c)
    };
    // `-`: the document on standard output, no file named "-", nothing else printed there.
    let out = cmd(&["ca-cert", "--out", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), DOC);
    assert!(!d.join("-").exists());
    let out = cmd(&["--json", "crl", "--out", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        DOC.as_bytes(),
        "the JSON report goes to standard error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"written\""));
    // A symbolic link stays a link; its target gets the document.
    std::fs::write(d.join("target.pem"), "old").unwrap();
    std::os::unix::fs::symlink("target.pem", d.join("ca.pem")).unwrap();
    let out = cmd(&["ca-cert", "--out", "ca.pem"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::symlink_metadata(d.join("ca.pem"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(d.join("target.pem")).unwrap(), DOC);
    // A FIFO is opened and written, not replaced by a file.
    let fifo = d.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let out = cmd(&["ca-cert", "--out", "fifo"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(reader.join().unwrap(), DOC.as_bytes());
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

#[test]
fn a_bundle_is_never_written_to_a_terminal_and_nothing_is_asked_first() {
    let (url, seen) = serve(|_, _| (500, error("KMS-500", "must not be asked")));
    let (_dir, file) = session();
    // util-linux `script` gives the command a terminal for standard output.
    let out = std::process::Command::new("script")
        .arg("-qec")
        .arg(format!(
            "{} --server {url} recover-key alice@example.test --out - --password-stdin \
             < /dev/null",
            env!("CARGO_BIN_EXE_kmsctl")
        ))
        .arg("/dev/null")
        .env_remove("KMS_URL")
        .env_remove("KMS_CA_CERT")
        .env("KMS_SESSION_FILE", &file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("refusing to write key material to a terminal")
            && text.contains("--force-tty"),
        "{text}"
    );
    assert!(seen.lock().unwrap().is_empty(), "the server was asked");
}

fn listed(email: &str, state: &str, until: Option<i64>) -> Value {
    json!({"email": email, "name": "N", "capabilities": [], "status": "active",
           "created_at": 1_700_000_000, "state": state, "state_expires_at": until})
}

#[test]
fn user_list_shows_states_and_filters_on_one_page_by_page() {
    let (url, seen) = serve(|_, path| match path {
        "/api/v1/users" => (
            200,
            json!({"total": 2, "users": [
                listed("a@example.com", "expiring", Some(1_800_000_000)),
                listed("b@example.com", "revoked", None)]})
            .to_string(),
        ),
        // The server pages (two users, then the third): kmsctl asks until it has them all.
        p if p.starts_with("/api/v1/users?") && p.contains("offset=0") => (
            200,
            json!({"total": 3, "offset": 0, "limit": 500, "users": [
                listed("a@example.com", "expiring", Some(1_800_000_000)),
                listed("c@example.com", "expiring", Some(1_800_100_000))]})
            .to_string(),
        ),
        p if p.starts_with("/api/v1/users?") => (
            200,
            json!({"total": 3, "offset": 2, "limit": 500, "users": [
                listed("d@example.com", "expiring", Some(1_800_200_000))]})
            .to_string(),
        ),
        _ => (404, error("KMS-404", "no such route")),
    });
    let (_dir, file) = session();
    let k = || {
        let mut c = kmsctl();
        c.env("KMS_URL", &url).env("KMS_SESSION_FILE", &file);
        c
    };
    let out = run(k().args(["user", "list"]));
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let header = text.lines().next().unwrap();
    assert!(
        header.contains("STATE") && header.contains("UNTIL"),
        "{text}"
    );
    let b = text.lines().find(|l| l.contains("b@example.com")).unwrap();
    assert!(b.contains("revoked"), "{text}");
    let a = text.lines().find(|l| l.contains("a@example.com")).unwrap();
    assert!(a.contains("expiring") && a.contains("2027-01-15"), "{text}");

    let out = run(k().args(["--json", "user", "list", "--state", "expiring"]));
    assert_eq!(out.status.code(), Some(0));
    let v = stdout_json(&out);
    assert_eq!(v["total"], 3, "{v}");
    let emails: Vec<&str> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["a@example.com", "c@example.com", "d@example.com"]);
    let paths: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, p, _)| p.clone())
        .filter(|p| p.contains("state="))
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths[0].contains("state=expiring") && paths[0].contains("limit=500"));
    assert!(paths[1].contains("offset=2"), "{paths:?}");

    // An unknown state is a usage error, before anything is sent.
    let before = seen.lock().unwrap().len();
    let out = run(k().args(["user", "list", "--state", "active"]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(seen.lock().unwrap().len(), before);
}
