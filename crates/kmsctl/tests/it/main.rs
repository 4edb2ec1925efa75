//! `kmsctl`'s integration tests, one binary: usage errors, `--json` errors and exit codes
//! against a scripted server, broken pipes, completions and man pages, and every command's
//! `--json` answer against a real `kmsd --dev` (which also shows its logs carry no colour
//! off a terminal).

mod fake;
mod generated;
mod live;
mod usage;

use std::path::PathBuf;
use std::process::{Command, Output};

/// `kmsctl` with no server, CA or session from the environment.
pub fn kmsctl() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kmsctl"));
    c.env_remove("KMS_URL")
        .env_remove("KMS_CA_CERT")
        .env("KMS_SESSION_FILE", "/nonexistent/kmsctl-session.json");
    c
}

/// Runs with standard input closed (no terminal, nothing to read).
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(std::process::Stdio::null()).output().unwrap()
}

/// Standard output as JSON.
pub fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A binary of another workspace package next to this test's directory
/// (`target/<profile>/`), built on demand.
pub fn sibling_bin(name: &str, package: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", package, "--bin", name])
            .status()
            .unwrap();
        assert!(status.success(), "building {name} failed");
    }
    assert!(path.exists(), "{} not found", path.display());
    path
}
