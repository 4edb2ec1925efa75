//! Usage errors exit 2, a missing server exits 1 (the end-to-end suite against a real kmsd is
//! in crates/server/tests/it/e2e.rs). This test also makes `cargo test` build the binary.

use std::process::Command;

#[test]
fn usage_and_missing_server() {
    let exe = env!("CARGO_BIN_EXE_kmsctl");
    let out = Command::new(exe).arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(exe)
        .env_remove("KMS_URL")
        .args(["user", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KMS_URL"));
    let out = Command::new(exe)
        .args([
            "--server",
            "http://127.0.0.1:1",
            "ca-cert",
            "--out",
            "/nonexistent/x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
