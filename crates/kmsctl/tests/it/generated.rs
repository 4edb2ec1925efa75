//! Shell completions and man pages (made at build time) come out whole; a closed pipe ends
//! `kmsctl` quietly.

use std::io::Read;
use std::process::Stdio;

use super::{kmsctl, run, stdout_json};

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "_kmsctl()"),
        ("zsh", "#compdef kmsctl"),
        ("fish", "complete -c kmsctl"),
        ("elvish", "kmsctl"),
        ("powershell", "kmsctl"),
    ] {
        let out = run(kmsctl().args(["completions", shell]));
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(marker), "{shell}: {marker}");
        assert!(
            text.contains("schedule"),
            "{shell}: backup schedule is completed"
        );
    }
    let out = run(kmsctl().args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_pages_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(kmsctl()
        .args(["--json", "man", "--out"])
        .arg(dir.path().join("man1")));
    assert_eq!(out.status.code(), Some(0));
    let v = stdout_json(&out);
    assert!(v["pages"].as_u64().unwrap() > 30, "{v}");
    let page = |name: &str| std::fs::read_to_string(dir.path().join("man1").join(name)).unwrap();
    let main = page("kmsctl.1");
    assert!(main.starts_with(".ie \\n(.g .ds Aq"), "roff");
    assert!(
        main.contains("confirmation required"),
        "exit codes in the page"
    );
    assert!(page("kmsctl-backup-schedule.1").contains("\\-\\-every"));
    assert!(page("kmsctl-renew.1").contains("\\-\\-within"));
}

#[test]
fn a_closed_pipe_ends_quietly() {
    // `kmsctl completions bash | head -c 10`: the reader goes away after a few bytes; the
    // script is longer than a pipe's buffer would need to be for the write to fail.
    let mut child = kmsctl()
        .args(["completions", "bash"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
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
