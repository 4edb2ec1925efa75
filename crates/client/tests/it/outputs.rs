//! Where `lockbox` writes and how it fails: `--out -` is standard output, a symbolic link and a
//! FIFO stay what they are, a bundle never goes to a terminal; `--json` errors in the
//! registry's shape with their `CLIENT-0xx` codes; `enroll` refuses, before it spends the
//! token, a short password, a bundle it cannot open or another user's; `KMS_URL` is read.

use std::os::unix::fs::FileTypeExt;
use std::process::{Command, Stdio};

use pki::ContentAlgorithm as A;

use crate::fixtures::*;

fn encrypt_to(w: &World, out: &str) -> std::process::Output {
    w.lockbox(
        &[
            "encrypt",
            "--to",
            "bob-enc.pem",
            "--in",
            "msg.eml",
            "--out",
            out,
        ],
        None,
    )
}

fn decrypts_for_bob(w: &World, enc: &[u8]) {
    w.write("check.eml", enc);
    let out = w.lockbox(
        &[
            "decrypt",
            "--p12",
            "bob.p12",
            "--password-stdin",
            "--in",
            "check.eml",
            "--out",
            "check.txt",
        ],
        Some(PASSWORD),
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&w.read("check.txt")).contains("The numbers are in."));
}

#[test]
fn out_dash_writes_the_message_to_standard_output_and_the_report_to_standard_error() {
    let w = World::new();
    w.user("bob", "bob", "bob-enc", &A::RANKING);
    w.message("msg.eml");
    let out = encrypt_to(&w, "-");
    ok(&out);
    assert!(
        !w.path("-").exists(),
        "no file named - may be created: {}",
        text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("application/pkcs7-mime"), "{stdout}");
    assert!(!stdout.contains("encrypted with"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("encrypted with"));
    decrypts_for_bob(&w, &out.stdout);

    // Decrypted mail to standard output too (it is not key material).
    w.write("enc.eml", &out.stdout);
    let out = w.lockbox(
        &[
            "decrypt",
            "--p12",
            "bob.p12",
            "--password-stdin",
            "--in",
            "enc.eml",
            "--out",
            "-",
        ],
        Some(PASSWORD),
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("The numbers are in."));
}

#[test]
fn a_symbolic_link_is_kept_and_its_target_updated() {
    let w = World::new();
    w.user("bob", "bob", "bob-enc", &A::RANKING);
    w.message("msg.eml");
    std::fs::create_dir(w.path("store")).unwrap();
    w.write("store/real.eml", "old contents");
    std::os::unix::fs::symlink("store/real.eml", w.path("link.eml")).unwrap();
    ok(&encrypt_to(&w, "link.eml"));
    let meta = std::fs::symlink_metadata(w.path("link.eml")).unwrap();
    assert!(meta.file_type().is_symlink(), "the link was replaced");
    assert_eq!(
        std::fs::read_link(w.path("link.eml")).unwrap(),
        std::path::Path::new("store/real.eml")
    );
    let enc = w.read("store/real.eml");
    assert_ne!(enc, b"old contents");
    decrypts_for_bob(&w, &enc);
}

#[test]
fn a_fifo_is_written_through_and_stays_a_fifo() {
    let w = World::new();
    w.user("bob", "bob", "bob-enc", &A::RANKING);
    w.message("msg.eml");
    let fifo = w.path("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    ok(&encrypt_to(&w, "pipe"));
    let got = reader.join().unwrap();
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    decrypts_for_bob(&w, &got);
}

#[test]
fn json_errors_have_the_registry_shape_and_client_codes() {
    let w = World::new();
    w.user("bob", "bob", "bob-enc", &A::RANKING);
    w.message("msg.eml");
    ok(&encrypt_to(&w, "enc.eml"));
    // A wrong password: CLIENT-003, exit 1.
    let out = w.lockbox(
        &[
            "--json",
            "decrypt",
            "--p12",
            "bob.p12",
            "--password-stdin",
            "--in",
            "enc.eml",
            "--out",
            "x.txt",
        ],
        Some("not the password"),
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["error"]["code"], "CLIENT-003", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("bob.p12"));
    // A missing file: CLIENT-002.
    let out = w.lockbox(
        &[
            "encrypt",
            "--to",
            "nobody.pem",
            "--in",
            "msg.eml",
            "--out",
            "x",
            "--json",
        ],
        None,
    );
    assert_eq!(code(&out), 1);
    assert_eq!(json(&out)["error"]["code"], "CLIENT-002");
    // Bad usage: CLIENT-001, exit 2 as before.
    let out = w.lockbox(&["--json", "decrypt", "--no-such-flag"], None);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert_eq!(json(&out)["error"]["code"], "CLIENT-001");
    // sectool too.
    let out = Command::new(env!("CARGO_BIN_EXE_sectool"))
        .args(["--json", "scan", "--in"])
        .arg(w.path("no-such-mailbox"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", text(&out));
    let v = json(&out);
    assert!(
        v["error"]["code"].as_str().unwrap().starts_with("CLIENT-0"),
        "{v}"
    );
    assert!(v["error"]["message"].is_string(), "{v}");
}

/// `lockbox enroll` against a port nothing listens on: every refusal below must come before
/// the server is asked (a network error would mean the token was about to be spent).
fn enroll(w: &World, extra: &[&str], password: &str) -> std::process::Output {
    w.write("token", "one-time-token");
    let mut args = vec![
        "--json",
        "enroll",
        "--server",
        "http://127.0.0.1:9",
        "--email",
        "alice@example.test",
        "--token-file",
        "token",
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    w.lockbox(&args, Some(password))
}

#[test]
fn enroll_refuses_before_spending_the_token() {
    let w = World::new();
    w.user("alice", "alice", "alice-enc", &A::RANKING);
    w.user("bob", "bob", "bob-enc", &A::RANKING);
    // Seven characters: the one bundle rule (recover-key has the same).
    let out = enroll(&w, &["--out", "new.p12"], "1234567");
    assert_eq!(code(&out), 1, "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["error"]["code"], "CLIENT-003", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("8"), "{v}");
    // Alice's bundle, with another password: kept, and the way out named.
    let before = w.read("alice.p12");
    let out = enroll(&w, &["--out", "alice.p12"], "another long password");
    let v = json(&out);
    assert_eq!(v["error"]["code"], "CLIENT-008", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("--replace") && msg.contains("--out"), "{msg}");
    assert_eq!(w.read("alice.p12"), before);
    // Bob's bundle (it opens, but it is not alice's).
    let out = enroll(&w, &["--out", "bob.p12"], PASSWORD);
    let v = json(&out);
    assert_eq!(v["error"]["code"], "CLIENT-008", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another user"),
        "{v}"
    );
    // Something that is not a PKCS#12 at all.
    w.write("notes.txt", "my notes");
    let v = json(&enroll(&w, &["--out", "notes.txt"], PASSWORD));
    assert_eq!(v["error"]["code"], "CLIENT-008", "{v}");
    assert_eq!(w.read("notes.txt"), b"my notes");
    // Alice's own bundle with its password, or --replace: now the server is asked (and is
    // not there).
    for extra in [
        &["--out", "alice.p12"][..],
        &["--out", "bob.p12", "--replace"],
    ] {
        let v = json(&enroll(&w, extra, PASSWORD));
        assert_eq!(v["error"]["code"], "CLIENT-004", "{extra:?}: {v}");
    }
}

#[test]
fn enroll_reads_kms_url_and_never_puts_a_bundle_on_a_terminal() {
    let w = World::new();
    w.write("token", "one-time-token");
    let pw = w.write("pw", PASSWORD);
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["--json", "enroll", "--email", "alice@example.test"])
        .args([
            "--token-file",
            "token",
            "--password-stdin",
            "--out",
            "a.p12",
        ])
        .env("KMS_URL", "http://127.0.0.1:9")
        .env_remove("KMS_CA_CERT")
        .current_dir(w.dir.path())
        .stdin(std::fs::File::open(&pw).unwrap())
        .output()
        .unwrap();
    // Without --server, KMS_URL was used: the failure is reaching it.
    let v = json(&out);
    assert_eq!(v["error"]["code"], "CLIENT-004", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9"),
        "{v}"
    );
    // Standard output on a terminal (util-linux `script` gives it one): refused before
    // anything else, unless --force-tty.
    let lockbox = env!("CARGO_BIN_EXE_lockbox");
    let script = |extra: &str| {
        Command::new("script")
            .args(["-qec"])
            .arg(format!(
                "{lockbox} enroll --server http://127.0.0.1:9 --email alice@example.test \
                 --token-file token --password-stdin --out - {extra} < pw"
            ))
            .arg("/dev/null")
            .current_dir(w.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = script("");
    assert!(
        text(&out).contains("refusing to write key material to a terminal"),
        "{}",
        text(&out)
    );
    let out = script("--force-tty");
    let t = text(&out);
    assert!(!t.contains("refusing") && t.contains("127.0.0.1:9"), "{t}");
}
