//! The audit anchor against a real `kmsd` (issue 14): committed work is done, the anchor
//! follows it (more than a second), the server is killed with SIGKILL, and then (a) the WAL
//! is deleted, (b) the WAL is truncated, (c) an older copy of the store is put back: every
//! start is refused naming the problem (`AUTH-070`), never a silent success. A restart after
//! a clean stop and after a plain SIGKILL (WAL intact) starts fine and `audit verify` passes;
//! `--accept-rollback` starts on the operator's word and records it.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::support::{Server, free_port, kmsd_bin, ok, run, sibling_bin};

const ROOT_PW: &str = "root's long admin password";

struct Node {
    tmp: tempfile::TempDir,
    data: PathBuf,
    key_file: PathBuf,
    port: u16,
    public_port: u16,
}

impl Node {
    fn init() -> Node {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let key_file = tmp.path().join("kmsd.keyfile");
        ok(
            run(
                Command::new(kmsd_bin())
                    .args([
                        "init",
                        "--ca-key-bits",
                        "3072",
                        "--ca-subject",
                        "CN=Anchor CA",
                        "--admin",
                        "root",
                    ])
                    .arg("--admin-password-stdin")
                    .arg("--data-dir")
                    .arg(&data)
                    .arg("--key-file")
                    .arg(&key_file),
                Some(ROOT_PW),
            ),
            "kmsd init",
        );
        Node {
            tmp,
            data,
            key_file,
            port: free_port(),
            public_port: free_port(),
        }
    }

    fn serve_cmd(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(kmsd_bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--public-listen")
            .arg(format!("127.0.0.1:{}", self.public_port))
            .arg("--http")
            .arg("--key-file")
            .arg(&self.key_file)
            .args(extra);
        cmd
    }

    /// Starts `kmsd serve` and waits until it answers.
    fn start(&self, extra: &[&str]) -> Server {
        let log = std::fs::File::create(self.tmp.path().join("kmsd.log")).unwrap();
        let child = self
            .serve_cmd(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Server(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = server.0.try_wait().unwrap() {
                panic!(
                    "kmsd exited ({status}) instead of serving: {}",
                    std::fs::read_to_string(self.tmp.path().join("kmsd.log")).unwrap()
                );
            }
            assert!(Instant::now() < deadline, "kmsd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// `kmsd serve` that must refuse to start: its output.
    fn refused(&self) -> String {
        let out = run(&mut self.serve_cmd(&[]), None);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "kmsd serve did not refuse: {text}"
        );
        text
    }

    fn kmsctl(&self) -> Command {
        let mut c = Command::new(sibling_bin("kmsctl"));
        c.env("KMS_URL", format!("http://127.0.0.1:{}", self.port))
            .env("KMS_SESSION_FILE", self.tmp.path().join("session.json"))
            .env_remove("KMS_CA_CERT")
            .arg("--json");
        c
    }

    fn login(&self) {
        ok(
            run(
                self.kmsctl()
                    .args(["login", "--admin", "root", "--password-stdin"]),
                Some(ROOT_PW),
            ),
            "login",
        );
    }

    /// Adds users (each a committed write with its audit entry), then waits for the anchor
    /// to follow (it is written every second).
    fn work(&self, names: &[&str]) {
        self.login();
        for n in names {
            ok(
                run(
                    self.kmsctl()
                        .args(["user", "add", &format!("{n}@example.com"), "--name", n]),
                    None,
                ),
                "user add",
            );
        }
        std::thread::sleep(Duration::from_millis(1600));
    }

    fn verify(&self) -> Value {
        self.login();
        let out: Output = run(self.kmsctl().args(["audit", "verify"]), None);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "audit verify: not JSON ({e}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert!(out.status.success(), "audit verify failed: {v}");
        v
    }

    fn db(&self, suffix: &str) -> PathBuf {
        self.data.join(format!("escrow.db{suffix}"))
    }

    fn anchor(&self) -> String {
        std::fs::read_to_string(self.data.join("audit-anchor")).unwrap()
    }
}

/// SIGKILL (what `Server`'s drop does), waited for.
fn kill(server: Server) {
    drop(server);
}

/// SIGTERM, then wait for the clean exit.
fn stop(mut server: Server) {
    let pid = server.0.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "kmsd did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_names_lost_work(text: &str) {
    assert!(text.contains("AUTH-070"), "{text}");
    assert!(text.contains("committed work is missing"), "{text}");
    assert!(
        text.contains("write-ahead log was lost or truncated"),
        "{text}"
    );
    assert!(
        !text.contains("does not unlock"),
        "not a wrong secret: {text}"
    );
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
}

#[test]
fn normal_restarts_start_and_verify_with_the_anchor() {
    let node = Node::init();
    let server = node.start(&[]);
    node.work(&["a1", "a2"]);
    let v = node.verify();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["anchor"]["state"], "ok", "{v}");
    // A clean stop, then a start.
    stop(server);
    let server = node.start(&[]);
    node.work(&["a3"]);
    // A plain SIGKILL with the WAL intact: starts, nothing lost.
    let anchored = node.anchor();
    kill(server);
    assert!(node.db("-wal").exists(), "the WAL is there after a kill");
    let _server = node.start(&[]);
    let v = node.verify();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["anchor"]["state"], "ok", "{v}");
    assert!(
        v["anchor"]["head_seq"].as_i64().unwrap() >= v["anchor"]["anchor_seq"].as_i64().unwrap()
    );
    assert!(anchored.contains("kms-audit-anchor/v1"));
}

#[test]
fn a_deleted_wal_is_refused_at_start() {
    let node = Node::init();
    let server = node.start(&[]);
    node.work(&["b1", "b2", "b3"]);
    kill(server);
    let wal = node.db("-wal");
    assert!(wal.exists());
    std::fs::remove_file(&wal).unwrap();
    let _ = std::fs::remove_file(node.db("-shm"));
    let text = node.refused();
    assert_names_lost_work(&text);
    // And again: the refusal does not wear off.
    assert_names_lost_work(&node.refused());

    // The operator's word: starts, records it, and anchors the store as it is.
    let _server = node.start(&["--accept-rollback"]);
    node.login();
    let out = run(node.kmsctl().args(["audit", "list"]), None);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(listed.contains("audit.accept-rollback"), "{listed}");
    let v = node.verify();
    assert_eq!(v["ok"], true, "{v}");
}

#[test]
fn a_truncated_wal_is_refused_at_start() {
    let node = Node::init();
    let server = node.start(&[]);
    node.work(&["c1", "c2", "c3", "c4"]);
    kill(server);
    let wal = node.db("-wal");
    let len = std::fs::metadata(&wal).unwrap().len();
    assert!(len > 4096, "the WAL holds the work ({len} bytes)");
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    assert_names_lost_work(&node.refused());
}

#[test]
fn an_older_copy_of_the_store_is_refused_at_start() {
    let node = Node::init();
    let server = node.start(&[]);
    node.work(&["d1"]);
    stop(server);
    assert!(
        !node.db("-wal").exists() || std::fs::metadata(node.db("-wal")).unwrap().len() == 0,
        "a clean stop checkpoints the WAL"
    );
    let old = node.tmp.path().join("escrow.db.old");
    copy(&node.db(""), &old);
    let server = node.start(&[]);
    node.work(&["d2", "d3"]);
    stop(server);
    // Swap the older copy in.
    let _ = std::fs::remove_file(node.db("-wal"));
    let _ = std::fs::remove_file(node.db("-shm"));
    copy(&old, &node.db(""));
    let text = node.refused();
    assert_names_lost_work(&text);
    assert!(text.contains("older copy"), "{text}");
}
