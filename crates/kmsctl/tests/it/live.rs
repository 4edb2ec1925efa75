//! Every `kmsctl` command against a real `kmsd serve --dev`, with `--json`: each answer is
//! read through the `api` crate's typed structs (kmsctl's own shapes where it prints what it
//! wrote, not the server's answer), and the fields scripts rely on are checked. The server's log, written to a file, carries no
//! colour escapes.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{sibling_bin, stdout_json};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `kmsd serve --dev`; returns it, its URL, its public URL and the generated admin
/// password.
fn start(data: &Path, log: &Path) -> (Server, String, String, String) {
    let (port, public) = (free_port(), free_port());
    let child = Command::new(sibling_bin("kmsd", "kmsd"))
        .args(["serve", "--dev", "--data-dir"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-listen", &format!("127.0.0.1:{public}")])
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "kmsd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    while TcpStream::connect(("127.0.0.1", public)).is_err() {
        assert!(
            Instant::now() < deadline,
            "kmsd's public listener did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // `serve --dev` writes the generated administrator password to a 0600 file in its data
    // directory (the listeners are bound first, so wait for it).
    let password = loop {
        match std::fs::read_to_string(data.join("admin-password")) {
            Ok(p) if !p.trim().is_empty() => break p.trim().to_string(),
            _ => {
                assert!(
                    Instant::now() < deadline,
                    "kmsd --dev wrote no admin password"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    (
        server,
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{public}"),
        password,
    )
}

/// The `kmsctl --json` runner of one session.
struct Ctl {
    url: String,
    session: PathBuf,
}

impl Ctl {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kmsctl"))
            .env("KMS_URL", &self.url)
            .env("KMS_SESSION_FILE", &self.session)
            .env_remove("KMS_CA_CERT")
            .arg("--json")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            let mut si = child.stdin.take().unwrap();
            if let Some(s) = stdin {
                si.write_all(s.as_bytes()).unwrap();
            }
        }
        child.wait_with_output().unwrap()
    }

    /// Runs and expects exit 0; the answer as JSON.
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let out = self.run(args, stdin);
        assert_eq!(
            out.status.code(),
            Some(0),
            "kmsctl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_json(&out)
    }

    /// Runs and expects `exit`; the answer (or error body) as JSON.
    fn fails(&self, args: &[&str], exit: i32) -> Value {
        let out = self.run(args, None);
        assert_eq!(
            out.status.code(),
            Some(exit),
            "kmsctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_json(&out)
    }
}

/// The answer read through its typed struct (the `api` crate's, or kmsctl's own shape):
/// a renamed or missing field fails here.
fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("not a {}: {e}: {v}", std::any::type_name::<T>()))
}

/// What `kmsctl login --json` prints.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct SignedIn {
    admin: api::Admin,
    expires_at: i64,
    session_file: PathBuf,
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn int_of(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is not an integer in {v}"))
}

fn array_of<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not an array in {v}"))
}

#[test]
fn every_command_answers_json_against_a_real_kmsd() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let log = t.join("kmsd.log");
    let (_server, url, public_url, admin_pw) = start(&t.join("data"), &log);
    let ctl = Ctl {
        url: url.clone(),
        session: t.join("session.json"),
    };
    let p = |name: &str| t.join(name).to_str().unwrap().to_string();

    // Public documents, no session.
    let v = ctl.ok(&["ca-cert", "--out", &p("ca.pem")], None);
    assert_eq!(str_of(&v, "written"), p("ca.pem"));
    assert!(
        std::fs::read_to_string(t.join("ca.pem"))
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let v = ctl.ok(&["crl", "--out", &p("crl.der")], None);
    assert!(int_of(&v, "bytes") > 100);
    let v = ctl.ok(&["crl", "--delta", "--pem", "--out", &p("delta.pem")], None);
    assert!(int_of(&v, "bytes") > 100);
    // The same from the plain-HTTP public listener, which serves nothing else.
    let public = Ctl {
        url: public_url,
        session: t.join("none.json"),
    };
    public.ok(&["ca-cert", "--out", &p("ca-public.pem")], None);
    assert_eq!(
        std::fs::read(t.join("ca-public.pem")).unwrap(),
        std::fs::read(t.join("ca.pem")).unwrap()
    );
    let v = public.ok(&["crl", "--out", &p("crl-public.der")], None);
    assert!(int_of(&v, "bytes") > 100);

    // Not signed in: exit 6.
    let v = ctl.fails(&["status"], 6);
    typed::<api::ErrorBody>(&v);
    assert_eq!(v["error"]["code"], "CLI-004");
    let v = ctl.fails(&["login", "--admin", "admin", "--password-stdin"], 1);
    typed::<api::ErrorBody>(&v);
    assert!(v["error"]["code"].as_str().is_some(), "{v}");
    let v = ctl.ok(
        &["login", "--admin", "admin", "--password-stdin"],
        Some(&format!("{admin_pw}\n")),
    );
    typed::<SignedIn>(&v);
    assert_eq!(v["admin"]["name"], "admin", "{v}");
    assert!(int_of(&v, "expires_at") > 1_700_000_000);
    assert_eq!(str_of(&v, "session_file"), p("session.json"));
    // Unlocking an unlocked authority with its own key file is harmless.
    let out = ctl.run(&["unlock", "--key-file", &p("data/dev.keyfile")], None);
    let v = stdout_json(&out);
    match out.status.code() {
        Some(0) => assert_eq!(typed::<api::StatusMessage>(&v).status, "unlocked"),
        _ => drop(typed::<api::ErrorBody>(&v)),
    }

    let v = ctl.ok(&["status"], None);
    typed::<api::Status>(&v);
    assert!(str_of(&v, "ca_subject").contains("Development"));
    assert!(int_of(&v, "ca_not_after") > 1_700_000_000);
    assert!(int_of(&v["crl"], "number") >= 1);
    assert_eq!(int_of(&v, "pending_approvals"), 0);

    // Users.
    let v = ctl.ok(
        &[
            "user",
            "add",
            "alice@example.com",
            "--name",
            "Alice",
            "--caps",
            "aes256,3des",
        ],
        None,
    );
    typed::<api::UserAdded>(&v);
    assert_eq!(v["user"]["email"], "alice@example.com");
    let token = str_of(&v, "enrollment_token").to_string();
    assert!(int_of(&v, "token_expires_at") > 0);
    ctl.ok(&["user", "add", "dan@example.com", "--name", "Dan"], None);
    let v = ctl.ok(&["user", "list"], None);
    typed::<api::UserList>(&v);
    let emails: Vec<&str> = array_of(&v, "users")
        .iter()
        .map(|u| str_of(u, "email"))
        .collect();
    assert_eq!(emails, ["alice@example.com", "dan@example.com"]);
    let v = ctl.ok(&["user", "token", "dan@example.com"], None);
    typed::<api::NewToken>(&v);
    assert!(!str_of(&v, "enrollment_token").is_empty());
    let v = ctl.ok(&["user", "disable", "dan@example.com"], None);
    typed::<api::UserResponse>(&v);
    assert!(v.is_object(), "{v}");
    let v = ctl.fails(&["user", "show", "nobody@example.com"], 1);
    typed::<api::ErrorBody>(&v);
    assert_eq!(v["error"]["code"], "AUTH-005");

    // Alice enrolls with lockbox: certificates to list, renew, revoke and a key to recover.
    let out = Command::new(sibling_bin("lockbox", "client"))
        .args(["enroll", "--server", &url, "--email", "alice@example.com"])
        .args(["--password-stdin", "--out", &p("alice.p12")])
        .env("KMS_ENROLL_TOKEN", &token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"alice bundle pw\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = ctl.ok(&["user", "show", "alice@example.com"], None);
    typed::<api::UserDetail>(&v);
    assert_eq!(str_of(&v, "email"), "alice@example.com");
    assert_eq!(int_of(&v, "escrowed_keys"), 1);
    assert_eq!(array_of(&v, "certificates").len(), 2);

    // Certificates.
    let v = ctl.ok(
        &["cert", "list", "--email", "alice", "--status", "active"],
        None,
    );
    typed::<api::CertPage>(&v);
    assert_eq!(int_of(&v, "total"), 2);
    let serial = str_of(&array_of(&v, "certificates")[0], "serial").to_string();
    let v = ctl.ok(&["cert", "show", &serial, "--out", &p("c.der")], None);
    typed::<api::CertDetail>(&v);
    assert_eq!(str_of(&v, "serial"), serial);
    assert!(int_of(&v, "not_after") > int_of(&v, "not_before"));
    assert!(std::fs::metadata(t.join("c.der")).unwrap().len() > 300);

    // Renewal: one user, then everyone expiring soon (the window needs a newer server).
    let v = ctl.ok(&["renew", "alice@example.com"], None);
    typed::<api::RenewResponse>(&v);
    let renewed = array_of(&v, "renewed");
    assert_eq!(str_of(&renewed[0], "email"), "alice@example.com");
    assert_eq!(array_of(&renewed[0], "certificates").len(), 2);
    assert!(array_of(&v, "failed").is_empty());
    let v = ctl.ok(&["renew", "--all", "--within", "3650d", "--yes"], None);
    typed::<api::RenewResponse>(&v);
    assert!(array_of(&v, "failed").is_empty(), "{v}");
    assert!(v["skipped"].is_array(), "{v}");
    let v = ctl.fails(&["renew", "--all"], 7);
    typed::<api::ErrorBody>(&v);
    assert_eq!(v["error"]["code"], "CLI-005");

    // Recovery (quorum 1 by default).
    let v = ctl.ok(
        &[
            "recover-key",
            "alice@example.com",
            "--out",
            &p("alice-rec.p12"),
            "--password-stdin",
        ],
        Some("recovered bundle pw\n"),
    );
    assert_eq!(int_of(&v, "keys"), 1);
    assert_eq!(v["status"], "done");

    // Revocation: one by serial, then the rest of Alice's (more than one: --yes).
    let v = ctl.ok(
        &["revoke", "--serial", &serial, "--reason", "superseded"],
        None,
    );
    typed::<api::Revoked>(&v);
    assert_eq!(array_of(&v, "revoked").len(), 1);
    assert_eq!(v["reason"], "superseded");
    ctl.fails(&["revoke", "alice@example.com"], 7);
    let v = ctl.ok(&["revoke", "alice@example.com", "--yes"], None);
    typed::<api::Revoked>(&v);
    assert!(array_of(&v, "revoked").len() >= 2, "{v}");

    // Administrators, policies, approvals.
    let v = ctl.ok(
        &[
            "admin",
            "add",
            "carol",
            "--role",
            "administrator",
            "--password-stdin",
        ],
        Some("carol's long password\n"),
    );
    typed::<api::AdminResponse>(&v);
    assert_eq!(v["admin"]["role"], "administrator");
    ctl.ok(
        &[
            "admin",
            "add",
            "olga",
            "--role",
            "officer",
            "--password-stdin",
        ],
        Some("olga's long password\n"),
    );
    let v = ctl.ok(&["admin", "list"], None);
    typed::<api::AdminList>(&v);
    assert_eq!(array_of(&v, "admins").len(), 3);
    let v = ctl.ok(&["admin", "role", "olga", "auditor"], None);
    typed::<api::AdminResponse>(&v);
    assert_eq!(v["admin"]["role"], "auditor");
    let v = ctl.ok(&["policy", "set", "admin-change", "2"], None);
    typed::<api::PolicyResponse>(&v);
    assert_eq!(v["policy"]["quorum"], 2, "{v}");
    let v = ctl.ok(&["policy", "list"], None);
    typed::<api::PolicyList>(&v);
    assert!(
        array_of(&v, "policies")
            .iter()
            .any(|p| p["operation"] == "admin-change")
    );
    let v = ctl.fails(&["admin", "role", "olga", "officer"], 3);
    assert_eq!(v["status"], "waiting", "{v}");
    let id = int_of(&v, "request_id");
    assert_eq!(int_of(&v, "needed"), 2);
    let v = ctl.ok(&["approvals", "list"], None);
    typed::<api::ApprovalList>(&v);
    assert_eq!(int_of(&array_of(&v, "requests")[0], "id"), id);
    let carol = Ctl {
        url: url.clone(),
        session: t.join("carol.json"),
    };
    carol.ok(
        &["login", "--admin", "carol", "--password-stdin"],
        Some("carol's long password\n"),
    );
    let v = carol.ok(&["approve", &id.to_string()], None);
    typed::<api::ApprovalResponse>(&v);
    assert_eq!(int_of(&v["request"], "id"), id);
    let v = ctl.ok(&["admin", "role", "olga", "officer"], None);
    typed::<api::AdminResponse>(&v);
    assert_eq!(v["admin"]["role"], "officer");
    // Five wrong passwords lock olga out from this address, answered as a wrong password
    // (exit 1, AUTH-001); `admin unlock` clears it.
    let olga = Ctl {
        url: url.clone(),
        session: t.join("olga.json"),
    };
    let olga_login = |pw: &str| {
        olga.run(
            &["login", "--admin", "olga", "--password-stdin"],
            Some(&format!("{pw}\n")),
        )
    };
    for _ in 0..5 {
        assert_eq!(olga_login("not olga's password").status.code(), Some(1));
    }
    let out = olga_login("olga's long password");
    assert_eq!(out.status.code(), Some(1), "locked out from this address");
    assert_eq!(stdout_json(&out)["error"]["code"], "AUTH-001");
    let v = ctl.ok(&["admin", "list"], None);
    assert!(
        array_of(&v, "admins")
            .iter()
            .any(|a| a["name"] == "olga" && a["locked_until"].is_i64()),
        "{v}"
    );
    let v = ctl.ok(&["admin", "unlock", "olga"], None);
    let u = typed::<api::AdminUnlocked>(&v);
    assert_eq!(
        (u.unlocked.name.as_str(), u.unlocked.locked_until),
        ("olga", None)
    );
    assert_eq!(olga_login("olga's long password").status.code(), Some(0));
    let v = ctl.fails(&["admin", "remove", "olga"], 3);
    let id = int_of(&v, "request_id").to_string();
    typed::<api::ApprovalResponse>(&ctl.ok(&["approvals", "cancel", &id], None));
    let v = ctl.ok(&["approvals", "list"], None);
    typed::<api::ApprovalList>(&v);
    assert!(array_of(&v, "requests").is_empty(), "{v}");
    let v = carol.ok(&["policy", "set", "admin-change", "1"], None);
    typed::<api::PolicyResponse>(&v);
    assert_eq!(v["policy"]["quorum"], 1, "{v}");
    typed::<api::AdminRemoved>(&ctl.ok(&["admin", "remove", "olga"], None));

    // Start-up secrets.
    let v = ctl.ok(&["unlock-method", "list"], None);
    typed::<api::UnlockMethodList>(&v);
    let methods = array_of(&v, "methods").len();
    let v = ctl.ok(
        &[
            "unlock-method",
            "add",
            "--key-file-out",
            &p("second.keyfile"),
        ],
        None,
    );
    let method_id = int_of(&v["method"], "id");
    assert_eq!(str_of(&v, "key_file"), p("second.keyfile"));
    let v = ctl.ok(&["unlock-method", "list"], None);
    typed::<api::UnlockMethodList>(&v);
    assert_eq!(array_of(&v, "methods").len(), methods + 1);
    typed::<api::UnlockMethodRemoved>(
        &ctl.ok(&["unlock-method", "remove", &method_id.to_string()], None),
    );

    // Audit log.
    let v = ctl.ok(&["audit", "sign"], None);
    typed::<api::AuditSigned>(&v);
    assert!(int_of(&v, "signed_through") > 0);
    let v = ctl.ok(&["audit", "verify"], None);
    typed::<api::AuditReport>(&v);
    assert_eq!(v["ok"], true);
    let v = ctl.ok(&["audit", "list", "--since", "1h"], None);
    typed::<api::AuditList>(&v);
    let entries = array_of(&v, "entries");
    assert!(
        entries.iter().any(|e| e["action"]
            .as_str()
            .is_some_and(|a| a.starts_with("revoke"))),
        "{v}"
    );
    assert!(int_of(&entries[0], "at") > 1_700_000_000);

    // Backups and their schedule.
    let v = ctl.ok(&["backup", "now"], None);
    typed::<api::BackupTaken>(&v);
    let path = PathBuf::from(str_of(&v, "path"));
    assert!(path.is_absolute(), "{v}");
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    let v = ctl.ok(&["backup", "list"], None);
    typed::<api::BackupList>(&v);
    assert!(
        array_of(&v, "backups")
            .iter()
            .any(|b| b["name"] == name.as_str())
    );
    let v = ctl.ok(&["backup", "verify", &name], None);
    typed::<api::BackupCheck>(&v);
    assert_eq!(v["audit"]["ok"], true);
    let v = ctl.ok(&["backup", "schedule"], None);
    typed::<api::ScheduleResponse>(&v);
    assert!(v["schedule"]["enabled"].is_boolean(), "{v}");
    let v = ctl.ok(
        &["backup", "schedule", "--every", "24h", "--keep", "3"],
        None,
    );
    typed::<api::ScheduleResponse>(&v);
    assert_eq!(v["schedule"]["every"], 86_400, "{v}");
    assert_eq!(v["schedule"]["keep"], 3, "{v}");
    let v = ctl.ok(&["status"], None);
    typed::<api::Status>(&v);
    assert_eq!(v["backup_schedule"]["every"], 86_400, "{v}");
    let v = ctl.ok(&["backup", "schedule", "--off"], None);
    assert_eq!(v["schedule"]["enabled"], false, "{v}");
    ctl.fails(&["backup", "restore", &name], 7);
    let v = ctl.ok(&["backup", "restore", &name, "--yes"], None);
    typed::<api::Restored>(&v);
    assert!(str_of(&v, "safety_backup").contains("pre-restore"), "{v}");
    // Every session ended with the restore.
    ctl.fails(&["user", "list"], 6);
    ctl.ok(
        &["login", "--admin", "admin", "--password-stdin"],
        Some(&format!("{admin_pw}\n")),
    );
    let v = ctl.ok(
        &["admin", "passwd", "--password-stdin"],
        Some(&format!("{admin_pw}\nthe new admin password\n")),
    );
    assert!(v.is_object(), "{v}");
    typed::<api::StatusMessage>(&ctl.ok(&["logout"], None));
    ctl.fails(&["status"], 6);

    // The log went to a file: no colour escapes in it.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("INFO"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour escapes in a log file: {text}"
    );
}
