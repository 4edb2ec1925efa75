//! The README's quick start, run as written: the blocks marked `<!-- quickstart:server -->`
//! and `<!-- quickstart -->` are read from `README.md` itself, `cargo run --release … -p NAME
//! [--bin BIN] --` is replaced by the binaries this test build made (no second build), the
//! server runs on a free loopback port in a temporary directory, and the client block runs in
//! `bash -euo pipefail` there. The enrollment must leave a PKCS#12 that `openssl pkcs12`
//! opens with the password given.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{Server, free_port, kmsd_bin, sibling_bin, workspace_root};

/// The address the README's server listens on (`kmsd serve --dev`'s default).
const README_ADDR: &str = "127.0.0.1:8080";

/// The bodies of the fenced blocks that follow a line holding exactly `marker`.
fn marked_blocks(readme: &str, marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != marker {
            continue;
        }
        let fence = lines.by_ref().find(|l| !l.trim().is_empty()).unwrap_or("");
        assert!(
            fence.trim_start().starts_with("```"),
            "{marker} must be followed by a fenced block, found {fence:?}"
        );
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.trim_start().starts_with("```"))
            .collect();
        out.push(body.join("\n"));
    }
    out
}

/// Replaces every `cargo run --release -q -p NAME [--bin BIN] --` with the path of the
/// binary (BIN, else NAME) as this build made it.
fn substitute_binaries(script: &str) -> String {
    const RUN: &str = "cargo run --release -q -p ";
    let mut out = String::new();
    let mut rest = script;
    while let Some(at) = rest.find(RUN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + RUN.len()..];
        let mut words = after.split(' ');
        let package = words.next().unwrap_or("");
        let (bin, used) = match words.next() {
            Some("--") => (package, package.len() + 3),
            Some("--bin") => {
                let bin = words.next().unwrap_or("");
                assert_eq!(words.next(), Some("--"), "after --bin {bin}: {after:.60}");
                (bin, package.len() + " --bin ".len() + bin.len() + 3)
            }
            other => panic!("cannot read `{RUN}{package} {other:?}`"),
        };
        let path = sibling_bin(bin);
        out.push_str(&format!("'{}'", path.display()));
        rest = &after[used.min(after.len())..];
        // Keep the space that separated `--` from the arguments.
        if !rest.starts_with(' ') && !rest.is_empty() && !rest.starts_with('\n') {
            out.push(' ');
        }
    }
    out.push_str(rest);
    out
}

/// `kmsd` and its arguments from the server block (`cargo run --release -p kmsd -- ARGS`).
fn server_args(block: &str) -> Vec<String> {
    let lines: Vec<&str> = block
        .lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one server command: {block}");
    let words: Vec<&str> = lines[0].split_whitespace().collect();
    let prefix = ["cargo", "run", "--release", "-p", "kmsd", "--"];
    assert_eq!(
        words.get(..prefix.len()),
        Some(&prefix[..]),
        "the server block runs kmsd with `cargo run --release -p kmsd --`: {block}"
    );
    words[prefix.len()..]
        .iter()
        .map(|w| w.to_string())
        .collect()
}

fn wait_for(what: &str, log: &Path, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen; kmsd said:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `kmsd ARGS --listen 127.0.0.1:PORT` in `dir`, its output in `dir/kmsd.log`.
fn start_server(dir: &Path, args: &[String], port: u16) -> Server {
    let log = dir.join("kmsd.log");
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(kmsd_bin())
        .args(args)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let server = Server(child);
    // The port alone is not proof: between the tests' `free_port` and this bind another
    // test's server may hold it. Only this kmsd's own log says it is serving here.
    let serving = format!("127.0.0.1:{port}");
    wait_for("kmsd listening", &log, || {
        std::fs::read_to_string(&log).is_ok_and(|said| {
            said.lines()
                .any(|l| l.contains("serving the API") && l.contains(&serving))
        }) && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    server
}

#[test]
fn the_quick_start_runs_as_written() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let servers = marked_blocks(&readme, "<!-- quickstart:server -->");
    let clients = marked_blocks(&readme, "<!-- quickstart -->");
    assert_eq!(servers.len(), 1, "one server block in README.md");
    assert_eq!(clients.len(), 1, "one quick-start block in README.md");
    let args = server_args(&servers[0]);
    assert!(
        args.iter().any(|a| a == "--dev"),
        "the quick start's server runs with --dev: {args:?}"
    );
    let client = &clients[0];
    assert!(
        client.contains(README_ADDR),
        "the quick start talks to {README_ADDR}: {client}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let home = dir.join("home");
    std::fs::create_dir(&home).unwrap();
    let port = free_port();
    let log = dir.join("kmsd.log");
    let server = start_server(dir, &args, port);

    // The generated administrator password: in a 0600 file in the data directory, and the
    // start-up output says where.
    let pw_file = dir.join("kms-dev-data/admin-password");
    wait_for("the admin-password file", &log, || pw_file.exists());
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(&pw_file).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode, 0o600, "{}", pw_file.display());
    let password = std::fs::read_to_string(&pw_file).unwrap();
    assert!(password.trim().len() >= 16, "a generated password");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("password in kms-dev-data/admin-password"),
        "kmsd says where the password is: {said}"
    );
    assert!(
        !said.contains(password.trim()),
        "the password is not in the log"
    );

    let script = substitute_binaries(client).replace(README_ADDR, &format!("127.0.0.1:{port}"));
    assert!(
        !script.contains("cargo "),
        "no build inside the test: {script}"
    );
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-euo", "pipefail", "-c", &script])
        .current_dir(dir)
        .env("HOME", &home)
        .env("NO_COLOR", "1")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("KMS_URL")
        .env_remove("KMS_SESSION_FILE")
        .env_remove("KMS_CA_CERT")
        .env_remove("KMS_ENROLL_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the quick start failed ({:?}):\n--- script ---\n{script}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- kmsd ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // The enrollment left a PKCS#12 that opens with the password given, and only with it.
    let p12 = dir.join("alice.p12");
    assert!(p12.is_file(), "no alice.p12 after the quick start");
    let pkcs12 = |pass: &str| {
        Command::new("openssl")
            .args(["pkcs12", "-info", "-noout", "-in"])
            .arg(&p12)
            .args(["-passin", &format!("pass:{pass}")])
            .output()
            .expect("running openssl")
    };
    let good = pkcs12("p12 password");
    assert!(
        good.status.success(),
        "openssl pkcs12: {}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(!pkcs12("not the password").status.success());

    // A second start reuses the authority and says where the password still is.
    drop(server);
    let _server = start_server(dir, &args, port);
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("password in kms-dev-data/admin-password"),
        "on a later run too: {said}"
    );
    assert_eq!(std::fs::read_to_string(&pw_file).unwrap(), password);
}

#[test]
fn the_binary_substitution_leaves_no_cargo_run() {
    let s = substitute_binaries(
        "echo x | cargo run --release -q -p kmsctl -- login --admin admin\n\
         cargo run --release -q -p client --bin lockbox -- \\\n    enroll --out a.p12",
    );
    assert!(!s.contains("cargo"), "{s}");
    assert!(s.contains("kmsctl' login --admin admin"), "{s}");
    assert!(s.contains("lockbox' \\\n    enroll --out a.p12"), "{s}");
    assert_eq!(
        server_args("cargo run --release -p kmsd -- serve --dev   # a comment"),
        ["serve", "--dev"]
    );
    let blocks = marked_blocks(
        "a\n<!-- quickstart -->\n```sh\none\ntwo\n```\n<!-- other -->\n```sh\nthree\n```\n",
        "<!-- quickstart -->",
    );
    assert_eq!(blocks, ["one\ntwo"]);
}
