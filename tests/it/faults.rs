//! Storage faults against the real `kmsd`: a full disk (a small tmpfs filled up) answers 507
//! with its own code and changes nothing, and everything works again once space is freed; a
//! read-only file system answers 503 with its own code; a damaged key-table or unlock-method
//! page refuses the start as a damaged store (never as a wrong secret), and `kmsd check`
//! names the damage; a wrong password on a sound store is still a wrong password.
//!
//! The tmpfs tests mount file systems, so they need root (as in CI); elsewhere they say why
//! they are skipped and pass.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

use super::support::{Server, free_port, kmsd_bin, ok, run, start};

const ADMIN_PW: &str = "faults admin password";

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `dir`, or says why it cannot.
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed (not root?): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }

    fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount {options}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `kmsd init` with a key file; returns the key file.
fn init(data: &Path, key_file: &Path, public_url: &str) {
    ok(
        run(
            Command::new(kmsd_bin())
                .args([
                    "init",
                    "--ca-key-bits",
                    "3072",
                    "--ca-subject",
                    "CN=Faults CA,O=Example",
                    "--admin",
                    "admin",
                    "--admin-password-stdin",
                    "--public-url",
                    public_url,
                    "--data-dir",
                ])
                .arg(data)
                .arg("--key-file")
                .arg(key_file),
            Some(ADMIN_PW),
        ),
        "kmsd init",
    );
}

/// `kmsd serve` that is expected to refuse to start: its output, once it exited (fails the
/// test if it is still running after a minute).
fn serve_refused(data: &Path, secret: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(kmsd_bin());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data)
        .arg("--http")
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--public-listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .args(secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(s) = stdin {
        let mut si = child.stdin.take().unwrap();
        let _ = si.write_all(format!("{s}\n").as_bytes());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "kmsd serve started on a store it should refuse: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Overwrites the b-tree page type of `table`'s root page in the (stopped) store's file.
fn damage_root(data: &Path, table: &str) {
    let db = data.join(escrow::DB_FILE_NAME);
    let (root, page_size): (i64, i64) = {
        let conn = Connection::open(&db).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        let root = conn
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        let size = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        conn.close().unwrap();
        (root, size)
    };
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&db)
        .unwrap();
    let offset = ((root - 1) * page_size) as u64;
    let mut page_type = [0u8; 1];
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.read_exact(&mut page_type).unwrap();
    assert!(
        [0x05, 0x0d].contains(&page_type[0]),
        "{table}: {page_type:?}"
    );
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&[0xff; 8]).unwrap();
    f.sync_all().unwrap();
}

/// Turns the quick check before unlocking off (as for a store larger than the setting).
fn check_in_background(data: &Path) {
    let path = data.join("kmsd.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\nintegrity_check_max_bytes = 0\n");
    std::fs::write(&path, text).unwrap();
}

/// An HTTP client that returns error statuses as answers.
struct Api {
    agent: ureq::Agent,
    url: String,
    token: Option<String>,
}

impl Api {
    fn new(port: u16) -> Api {
        Api {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
            url: format!("http://127.0.0.1:{port}"),
            token: None,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut resp = if method == "GET" {
            let mut r = self.agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call().unwrap()
        } else {
            let mut r = self.agent.post(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send_json(body.unwrap_or(json!({}))).unwrap()
        };
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or(Value::Null))
    }

    fn login(&mut self) {
        let (s, v) = self.call(
            "POST",
            "/api/v1/login",
            Some(json!({"name": "admin", "password": ADMIN_PW})),
        );
        assert_eq!(s, 200, "{v}");
        self.token = Some(v["token"].as_str().unwrap().to_string());
    }

    fn add_user(&self, email: &str) -> (u16, Value) {
        self.call(
            "POST",
            "/api/v1/users",
            Some(json!({"email": email, "name": "Someone"})),
        )
    }
}

/// `(users, audit entries that are not refusals)`, read beside the running server.
fn counts(data: &Path) -> (i64, i64) {
    let conn = Connection::open_with_flags(
        data.join(escrow::DB_FILE_NAME),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let users = conn
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    let done = conn
        .query_row(
            "SELECT count(*) FROM audit_log WHERE outcome <> 'refused'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (users, done)
}

/// Fills the file system holding `dir` with `dir/filler` until it is full.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    for chunk in [1 << 20, 4096, 512, 1] {
        let buf = vec![0x5a; chunk];
        while f.write_all(&buf).is_ok() {}
    }
    let _ = f.sync_all();
    path
}

#[test]
fn a_full_disk_answers_507_changes_nothing_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    let fs = match Tmpfs::mount(&mnt, "48m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let data = mnt.join("data");
    let key_file = tmp.path().join("kmsd.keyfile");
    let ports = (free_port(), free_port());
    init(&data, &key_file, &format!("http://127.0.0.1:{}", ports.1));
    let server = start(
        &data,
        ports,
        false,
        Some(&key_file),
        &tmp.path().join("kmsd.log"),
    );
    let mut api = Api::new(ports.0);
    api.login();
    let (s, _) = api.add_user("before@example.com");
    assert_eq!(s, 200);
    let (s, v) = api.call("GET", "/healthz", None);
    assert_eq!((s, &v["status"]), (200, &json!("ok")), "{v}");

    let before = counts(&data);
    let filler = fill(&mnt);
    let (s, v) = api.add_user("full@example.com");
    assert_eq!(s, 507, "{v}");
    assert_eq!(v["error"]["code"], "AUTH-060", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("disk") && message.contains("full"),
        "{message}"
    );
    assert!(
        !message.contains('/') && !message.contains("SQL"),
        "{message}"
    );
    assert_eq!(counts(&data), before, "nothing was written");
    let (s, v) = api.call("GET", "/healthz", None);
    assert_eq!((s, &v["status"]), (200, &json!("degraded")), "{v}");
    assert!(v["reasons"][0].as_str().unwrap().contains("full"), "{v}");

    std::fs::remove_file(filler).unwrap();
    let (s, v) = api.add_user("full@example.com");
    assert_eq!(s, 200, "{v}");
    assert_eq!(counts(&data).0, before.0 + 1);
    let (s, v) = api.call("GET", "/healthz", None);
    assert_eq!((s, &v["status"]), (200, &json!("ok")), "{v}");
    assert!(v.get("reasons").is_none(), "{v}");
    drop(server);
    drop(fs);
}

#[test]
fn a_read_only_file_system_answers_503_with_its_own_code() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    let fs = match Tmpfs::mount(&mnt, "48m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let data = mnt.join("data");
    let key_file = tmp.path().join("kmsd.keyfile");
    let ports = (free_port(), free_port());
    init(&data, &key_file, &format!("http://127.0.0.1:{}", ports.1));
    // A server killed outright leaves its write-ahead log and shared-memory files behind, so
    // the store can still be read from a read-only file system.
    let mut server = start(
        &data,
        ports,
        false,
        Some(&key_file),
        &tmp.path().join("a.log"),
    );
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    drop(server);
    fs.remount("ro");
    let log = tmp.path().join("kmsd.log");
    let server: Server = start(&data, ports, false, Some(&key_file), &log);
    let api = Api::new(ports.0);
    let (s, v) = api.call(
        "POST",
        "/api/v1/login",
        Some(json!({"name": "admin", "password": ADMIN_PW})),
    );
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], "AUTH-061", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("read-only"),
        "{v}"
    );
    let (s, v) = api.call("GET", "/healthz", None);
    assert_eq!((s, &v["status"]), (200, &json!("degraded")), "{v}");
    assert!(
        v["reasons"][0].as_str().unwrap().contains("read-only"),
        "{v}"
    );
    drop(server);
    fs.remount("rw");
    drop(fs);
}

#[test]
fn a_damaged_key_table_refuses_the_start_as_damage_and_kmsd_check_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let key_file = tmp.path().join("kmsd.keyfile");
    init(&data, &key_file, "http://127.0.0.1:8080");
    let secret = ["--key-file", key_file.to_str().unwrap()];
    let check = || {
        run(
            Command::new(kmsd_bin())
                .args(["check", "--data-dir"])
                .arg(&data)
                .args(secret),
            None,
        )
    };
    let out = check();
    let report = ok(out, "kmsd check of a sound store");
    assert!(report.contains("the store is sound"), "{report}");
    assert!(report.contains("CA key: ok"), "{report}");

    damage_root(&data, "escrowed_keys");
    // The quick check before unlocking finds it.
    let out = serve_refused(&data, &secret, None);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("damaged") && err.contains("quick check"),
        "{err}"
    );
    assert!(err.contains("kmsd restore"), "{err}");
    assert!(!err.contains("does not unlock"), "{err}");

    // Without it (as for a large store), unlocking meets the damage and says so too.
    check_in_background(&data);
    let out = serve_refused(&data, &secret, None);
    let err = stderr(&out);
    assert!(err.contains("AUTH-063") && err.contains("damaged"), "{err}");
    assert!(!err.contains("does not unlock"), "{err}");

    let out = check();
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("database integrity: DAMAGED"), "{report}");
    assert!(stderr(&out).contains("kmsd restore"), "{}", stderr(&out));
}

#[test]
fn a_damaged_unlock_table_is_damage_and_a_wrong_password_is_still_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A start-up password this time (kmsd init prints it once).
    let out = ok(
        run(
            Command::new(kmsd_bin())
                .args([
                    "init",
                    "--ca-key-bits",
                    "3072",
                    "--ca-subject",
                    "CN=Faults CA,O=Example",
                    "--admin",
                    "admin",
                    "--admin-password-stdin",
                    "--data-dir",
                ])
                .arg(&data),
            Some(ADMIN_PW),
        ),
        "kmsd init",
    );
    let password = out
        .lines()
        .find_map(|l| l.split_once("keep it safe): ").map(|(_, p)| p.trim()))
        .unwrap()
        .to_string();
    let stdin = ["--password-stdin"];

    let out = serve_refused(&data, &stdin, Some("not the start-up password"));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the password or key file does not unlock this authority"),
        "{err}"
    );
    assert!(!err.contains("damaged"), "{err}");
    let out = run(
        Command::new(kmsd_bin())
            .args(["check", "--password-stdin", "--data-dir"])
            .arg(&data),
        Some("not the start-up password"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not unlock"), "{}", stderr(&out));

    damage_root(&data, "unlock_methods");
    let out = serve_refused(&data, &stdin, Some(&password));
    let err = stderr(&out);
    assert!(err.contains("damaged"), "{err}");
    assert!(!err.contains("does not unlock"), "{err}");
    check_in_background(&data);
    let out = serve_refused(&data, &stdin, Some(&password));
    let err = stderr(&out);
    assert!(err.contains("AUTH-063") && err.contains("damaged"), "{err}");
    assert!(!err.contains("does not unlock"), "{err}");
}
