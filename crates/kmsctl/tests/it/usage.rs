//! Bad usage exits 2 (as JSON on standard output with `--json`); local failures exit 1 with
//! one code and one message; no session exits 6.

use super::{kmsctl, run, stdout_json};

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--no-such-flag"][..],
        &["user"],
        &["user", "lis"],
        &["renew"],
        &["renew", "--within", "30d", "bob@example.com"],
        &["backup", "schedule", "--every", "soon"],
        &["revoke", "a@example.com", "--serial", "01"],
    ] {
        let out = run(kmsctl().args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: usage goes to stderr");
    }
    let out = run(kmsctl().args(["--json", "user", "lis"]));
    assert_eq!(out.status.code(), Some(2));
    let v = stdout_json(&out);
    assert_eq!(v["error"]["code"], "CLI-001", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("lis"),
        "{v}"
    );
    // Help is not an error.
    let out = run(kmsctl().arg("--help"));
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Exit codes",
        "7  confirmation required",
        "kmsctl completions bash",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}

#[test]
fn a_password_needs_a_terminal_or_stdin() {
    // No --password-stdin and no terminal: bad usage, and nothing is sent.
    let out = run(kmsctl().args([
        "--server",
        "http://127.0.0.1:1",
        "login",
        "--admin",
        "admin",
    ]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--password-stdin"), "{err}");
}

#[test]
fn local_failures_as_text_and_as_json() {
    let out = run(kmsctl().args(["user", "list"]));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("KMS_URL"), "{err}");
    assert!(err.starts_with("kmsctl: error: CLI-002: "), "{err}");

    let out = run(kmsctl().args(["--json", "user", "list"]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout_json(&out)["error"]["code"], "CLI-002");

    let out = run(kmsctl().args([
        "--json",
        "--server",
        "http://127.0.0.1:1",
        "ca-cert",
        "--out",
        "/nonexistent/x",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout_json(&out)["error"]["code"], "CLI-003");

    let out = run(kmsctl().args(["--json", "--server", "http://127.0.0.1:1", "status"]));
    assert_eq!(out.status.code(), Some(6), "no session file");
    let v = stdout_json(&out);
    assert_eq!(v["error"]["code"], "CLI-004", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kmsctl login")
    );
}

#[test]
fn agent_keygen_needs_no_server() {
    // Made on the agent's own machine: no --server, no KMS_URL, no session.
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("agent.key");
    let mut child = kmsctl()
        .args(["--json", "agent", "keygen", "--password-stdin", "--out"])
        .arg(&out_file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"agent-password-1234\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    assert_eq!(v["public_key"].as_str().map(str::len), Some(64), "{v}");
    let pem = std::fs::read_to_string(&out_file).unwrap();
    assert!(pem.contains("ENCRYPTED PRIVATE KEY"), "{pem}");
}
