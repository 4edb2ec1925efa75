//! `sectool` end to end on a generated corpus (its size from `SECTOOL_CORPUS`, default 300):
//! re-encryption of a tree checked with `openssl cms -decrypt` and `-verify`, mbox and
//! Maildir, in place, dry run, `--min-algorithm`, scan, and runs killed with SIGKILL then
//! resumed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kms_client::keyring::Keyring;
use kms_client::message::{self, SignRequest};
use kms_client::reencrypt::mailbox::MboxReader;
use pki::ContentAlgorithm as A;
use pki::enveloped::{self, EncryptOptions};
use pki::smime::{self, SmimeType};
use pki::{Certificate, DigestAlgorithm, PrivateKey};

use crate::fixtures::*;

const LEGACY: [&str; 4] = ["-provider", "legacy", "-provider", "default"];

/// The algorithms the corpus is encrypted with by the library.
const ALGS: [A; 8] = [
    A::Des,
    A::Cast40,
    A::Cast64,
    A::TripleDes,
    A::Rc2_40,
    A::Aes128,
    A::Aes256,
    A::Cast128,
];

fn corpus_size() -> usize {
    std::env::var("SECTOOL_CORPUS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Encrypted for Alice (old or current key): re-encrypted.
    Encrypted,
    /// Signed, then encrypted: re-encrypted, the inner signature intact.
    SignedInside,
    /// Already aes256 for Alice's current key: unchanged.
    AtTarget,
    Plain,
    Signed,
    /// Encrypted, then signed: unchanged and reported.
    EncThenSigned,
    /// Damaged: reported, copied unchanged.
    Corrupt,
    /// For Bob only: no key, reported, copied unchanged.
    NoKey,
}

impl Kind {
    fn rewritten(self) -> bool {
        matches!(self, Kind::Encrypted | Kind::SignedInside)
    }
}

struct Msg {
    /// Path relative to the tree.
    name: String,
    kind: Kind,
    alg: Option<A>,
    bytes: Vec<u8>,
    /// The inner content, as our library decrypts the original.
    content: Option<Vec<u8>>,
    /// Also encrypted for Carol.
    carol: bool,
}

struct Setup {
    w: World,
    alice: HistoryUser,
    keyring: Keyring,
    carol: Certificate,
    bob: Certificate,
}

fn setup() -> Setup {
    let w = World::new();
    let alice = w.user_with_history("alice", "alice", "alice-enc-old", "alice-enc", &A::RANKING);
    let bob = w.user("bob", "bob", "bob-enc", &A::RANKING).enc;
    let carol = w.user("carol", "carol", "carol-enc", &A::RANKING).enc;
    let keyring = Keyring::from_pkcs12(&w.read("alice.p12"), PASSWORD).unwrap();
    Setup {
        w,
        alice,
        keyring,
        carol,
        bob,
    }
}

fn eml(i: usize, size: usize) -> Vec<u8> {
    let mut s = format!(
        "From: Alice <alice@example.test>\r\nTo: Alice <alice@example.test>\r\nSubject: stored message {i}\r\nMessage-ID: <{i}.sectool@example.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMessage number {i}.\r\nFrom the desk of Alice.\r\n"
    );
    let mut line = 0;
    while s.len() < size {
        s.push_str(&format!(
            "line {line} of message {i}: the quick brown fox jumps over the lazy dog\r\n"
        ));
        line += 1;
    }
    s.into_bytes()
}

fn encrypt_eml(msg: &[u8], to: &[Certificate], alg: A) -> Vec<u8> {
    let split = smime::split(msg).unwrap();
    let der = enveloped::encrypt(
        &split.inner,
        to,
        alg,
        &EncryptOptions::default(),
        &mut pki::os_rng(),
    )
    .unwrap();
    let kind = if alg.is_aead() {
        SmimeType::AuthEnvelopedData
    } else {
        SmimeType::EnvelopedData
    };
    smime::pkcs7_mime(&split.outer_headers, kind, &der).unwrap()
}

fn sign_eml(msg: &[u8], keyring: &Keyring) -> Vec<u8> {
    message::sign(
        msg,
        keyring,
        &SignRequest {
            digest: DigestAlgorithm::Sha256,
            opaque: false,
            signing_time: at(),
        },
    )
    .unwrap()
}

/// Decrypts with `keys` and returns the inner content and algorithm.
fn decrypt_content(eml: &[u8], keys: &[(PrivateKey, Certificate)]) -> (Vec<u8>, A) {
    let p = smime::parse(eml).unwrap();
    let d = enveloped::decrypt(p.der.as_ref().unwrap(), keys, &mut pki::os_rng()).unwrap();
    (d.content, d.algorithm)
}

fn new_key_only(s: &Setup) -> Vec<(PrivateKey, Certificate)> {
    vec![(key("alice-enc"), s.alice.enc.clone())]
}

/// `n` ordinary messages of about `size` bytes: encrypted with every algorithm for Alice's
/// old and current keys, some signed inside, some plain, some signed only.
fn ordinary(s: &Setup, n: usize, size: usize, start: usize) -> Vec<Msg> {
    let mut out = Vec::with_capacity(n);
    for i in start..start + n {
        let plain = eml(i, size);
        let alg = ALGS[(i + i / 10) % ALGS.len()];
        let cert = if i % 3 == 0 {
            &s.alice.enc_old
        } else {
            &s.alice.enc
        };
        let (kind, bytes) = match i % 10 {
            6 => (
                Kind::SignedInside,
                encrypt_eml(
                    &sign_eml(&plain, &s.keyring),
                    std::slice::from_ref(cert),
                    alg,
                ),
            ),
            7 => (Kind::Plain, plain),
            8 => (Kind::Signed, sign_eml(&plain, &s.keyring)),
            _ => (
                Kind::Encrypted,
                encrypt_eml(&plain, std::slice::from_ref(cert), alg),
            ),
        };
        // An aes256 message for the current key is already at the target.
        let kind = if kind.rewritten() && alg == A::Aes256 && i % 3 != 0 {
            Kind::AtTarget
        } else {
            kind
        };
        out.push(finish(
            s,
            format!("{:02}/msg-{i:05}.eml", i % 3),
            kind,
            bytes,
        ));
    }
    out
}

fn finish(s: &Setup, name: String, kind: Kind, bytes: Vec<u8>) -> Msg {
    let (content, alg) = match kind {
        Kind::Encrypted | Kind::SignedInside | Kind::AtTarget => {
            let (c, a) = decrypt_content(&bytes, &s.keyring.keys);
            (Some(c), Some(a))
        }
        _ => (None, None),
    };
    Msg {
        name,
        kind,
        alg,
        bytes,
        content,
        carol: false,
    }
}

/// The special cases: damaged messages, one for Bob only, one encrypted then signed, one for
/// Alice and Carol, one for Alice's old key and Bob.
fn specials(s: &Setup) -> Vec<Msg> {
    let mut out = Vec::new();
    let truncated = encrypt_eml(
        &eml(90_001, 800),
        std::slice::from_ref(&s.alice.enc),
        A::Des,
    );
    let truncated = truncated[..truncated.len() * 3 / 5].to_vec();
    out.push(finish(
        s,
        "special/truncated.eml".into(),
        Kind::Corrupt,
        truncated,
    ));
    let mut garbage = encrypt_eml(
        &eml(90_002, 800),
        std::slice::from_ref(&s.alice.enc),
        A::Des,
    );
    let body = garbage.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    garbage.truncate(body);
    garbage.extend_from_slice(b"This is not base64 at all !!!\r\n");
    out.push(finish(
        s,
        "special/garbage.eml".into(),
        Kind::Corrupt,
        garbage,
    ));
    let for_bob = encrypt_eml(&eml(90_003, 800), std::slice::from_ref(&s.bob), A::Aes256);
    out.push(finish(
        s,
        "special/for-bob.eml".into(),
        Kind::NoKey,
        for_bob,
    ));
    let ets = sign_eml(
        &encrypt_eml(
            &eml(90_004, 800),
            std::slice::from_ref(&s.alice.enc_old),
            A::Des,
        ),
        &s.keyring,
    );
    out.push(finish(
        s,
        "special/enc-then-signed.eml".into(),
        Kind::EncThenSigned,
        ets,
    ));
    let both = encrypt_eml(
        &eml(90_005, 800),
        &[s.alice.enc_old.clone(), s.carol.clone()],
        A::TripleDes,
    );
    let mut m = finish(
        s,
        "special/alice-and-carol.eml".into(),
        Kind::Encrypted,
        both,
    );
    m.carol = true;
    out.push(m);
    let with_bob = encrypt_eml(
        &eml(90_006, 800),
        &[s.alice.enc_old.clone(), s.bob.clone()],
        A::Cast40,
    );
    out.push(finish(
        s,
        "special/alice-and-bob.eml".into(),
        Kind::Encrypted,
        with_bob,
    ));
    out
}

/// Twelve messages made by `openssl cms -encrypt` (LF line ends), for each key.
fn by_openssl(s: &Setup) -> Vec<Msg> {
    let mut out = Vec::new();
    let flags = [
        "-des",
        "-des3",
        "-rc2-40-cbc",
        "-cast5-cbc",
        "-aes-128-cbc",
        "-aes-256-cbc",
    ];
    for (k, flag) in flags.iter().enumerate() {
        for (j, cert) in ["alice-enc-old.pem", "alice-enc.pem"].iter().enumerate() {
            let i = 80_000 + k * 2 + j;
            s.w.write("osl-in.eml", eml(i, 1500));
            let mut args = vec!["cms", "-encrypt"];
            args.extend(LEGACY);
            let subject = format!("openssl message {i}");
            args.extend([
                flag,
                "-subject",
                &subject,
                "-in",
                "osl-in.eml",
                "-out",
                "osl-out.eml",
                cert,
            ]);
            s.w.openssl_ok(&args);
            let bytes = s.w.read("osl-out.eml");
            let kind = if *flag == "-aes-256-cbc" && j == 1 {
                Kind::AtTarget
            } else {
                Kind::Encrypted
            };
            out.push(finish(s, format!("openssl/osl-{i}.eml"), kind, bytes));
        }
    }
    out
}

fn write_tree(root: &Path, msgs: &[Msg]) {
    for m in msgs {
        let p = root.join(&m.name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &m.bytes).unwrap();
    }
}

fn to_lf(b: &[u8]) -> Vec<u8> {
    kms_client::reencrypt::mailbox::to_lf(b)
}

/// An mbox of `msgs` (LF line ends, mboxrd-escaped); returns each record's bytes.
fn write_mbox(path: &Path, msgs: &[Msg]) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    let mut records = Vec::new();
    for m in msgs {
        let mut r = b"From alice@example.test Thu Jan  1 00:00:00 2026\n".to_vec();
        r.extend(kms_client::reencrypt::mailbox::escape_from(&to_lf(
            &m.bytes,
        )));
        if !r.ends_with(b"\n") {
            r.extend(b"\n");
        }
        r.extend(b"\n");
        all.extend(&r);
        records.push(r);
    }
    std::fs::write(path, all).unwrap();
    records
}

fn read_mbox(path: &Path) -> Vec<kms_client::reencrypt::mailbox::MboxMessage> {
    let mut r = MboxReader::open(path, 0, 0).unwrap();
    let mut out = Vec::new();
    while let Some(m) = r.next_message().unwrap() {
        out.push(m);
    }
    out
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn reencrypt(s: &Setup, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "reencrypt",
        "--p12",
        "alice.p12",
        "--password-stdin",
        "--json",
    ];
    args.extend(extra);
    s.w.sectool(&args, Some(PASSWORD))
}

/// Checks one re-encrypted message with our library (new key only).
fn check_rewritten_lib(s: &Setup, m: &Msg, out: &[u8], want: A) {
    let (content, alg) = decrypt_content(out, &new_key_only(s));
    assert_eq!(alg, want, "{}", m.name);
    assert_eq!(Some(&content), m.content.as_ref(), "{}", m.name);
}

#[test]
fn sectool_reencrypts_a_tree_to_aes256_and_openssl_reads_every_message() {
    let s = setup();
    let mut msgs = ordinary(&s, corpus_size(), 1200, 0);
    msgs.extend(specials(&s));
    msgs.extend(by_openssl(&s));
    write_tree(&s.w.path("src"), &msgs);

    // scan: what the mailbox holds, without decrypting.
    let out = s.w.sectool(&["scan", "--in", "src", "--json"], None);
    let scan = json(&out);
    ok(&out);
    assert_eq!(scan["total"], msgs.len());
    assert_eq!(scan["unreadable"], 2, "{scan}");
    // CAST5 with OpenSSL's bare IV (what we write too): only the unwrapped key tells 40/64/128.
    let cast = msgs
        .iter()
        .filter(|m| matches!(m.alg, Some(A::Cast40 | A::Cast64 | A::Cast128)))
        .count();
    assert_eq!(scan["by_algorithm"]["cast5 (40/64/128)"], cast, "{scan}");
    assert_eq!(
        scan["signed"],
        msgs.iter()
            .filter(|m| matches!(m.kind, Kind::Signed | Kind::EncThenSigned))
            .count()
    );
    assert_eq!(
        scan["plain"],
        msgs.iter().filter(|m| m.kind == Kind::Plain).count()
    );
    assert!(
        scan["by_recipient"].as_object().unwrap().len() >= 4,
        "alice old, alice new, bob, carol: {scan}"
    );

    let started = Instant::now();
    let out = reencrypt(
        &s,
        &[
            "--in",
            "src",
            "--out",
            "dest",
            "--algorithm",
            "aes256",
            "--to",
            "carol-enc.pem",
        ],
    );
    let elapsed = started.elapsed();
    assert_eq!(code(&out), 4, "{}", text(&out));
    let report = json(&out);
    let rewritten = msgs.iter().filter(|m| m.kind.rewritten()).count();
    assert_eq!(report["total"], msgs.len(), "{report}");
    assert_eq!(report["reencrypted"], rewritten, "{report}");
    assert_eq!(report["failed"], 3, "{report}");
    assert_eq!(
        report["to"]["aes256"],
        rewritten + msgs.iter().filter(|m| m.kind == Kind::AtTarget).count()
    );
    assert!(report["transitions"]["des -> aes256"].as_u64().unwrap() > 0);
    let failures = report["failures"].to_string();
    for name in ["truncated.eml", "garbage.eml", "for-bob.eml"] {
        assert!(failures.contains(name), "{failures}");
    }
    let notes = report["notes"].to_string();
    assert!(notes.contains("enc-then-signed.eml"), "{notes}");
    assert!(
        notes.contains("alice-and-bob.eml") && !notes.contains("alice-and-carol.eml"),
        "{notes}"
    );
    eprintln!(
        "sectool: {} messages in {elapsed:?} ({:.0}/s, debug build)",
        msgs.len(),
        msgs.len() as f64 / elapsed.as_secs_f64()
    );

    // Nothing lost, nothing extra, no journal, no temporary files; the source is untouched.
    let mut names: Vec<PathBuf> = msgs.iter().map(|m| PathBuf::from(&m.name)).collect();
    names.sort();
    assert_eq!(files_under(&s.w.path("dest")), names);
    assert!(!s.w.path("dest.sectool-journal").exists());
    for m in &msgs {
        assert_eq!(s.w.read(&format!("src/{}", m.name)), m.bytes);
    }

    let mut checked = 0;
    for m in &msgs {
        let path = format!("dest/{}", m.name);
        let out_bytes = s.w.read(&path);
        if !m.kind.rewritten() {
            assert_eq!(out_bytes, m.bytes, "{} must keep its bytes", m.name);
            continue;
        }
        // The outer header fields stay as they were.
        let subject = String::from_utf8_lossy(&m.bytes)
            .lines()
            .find(|l| l.starts_with("Subject:"))
            .map(str::to_string)
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out_bytes).contains(&subject),
            "{}",
            m.name
        );
        let info =
            enveloped::inspect(smime::parse(&out_bytes).unwrap().der.as_ref().unwrap()).unwrap();
        assert_eq!(info.algorithm, Some(A::Aes256), "{}", m.name);
        assert_eq!(
            info.recipients.len(),
            if m.carol { 2 } else { 1 },
            "{}",
            m.name
        );
        // OpenSSL decrypts it with Alice's current key to what our library read from the
        // original.
        s.w.openssl_ok(&[
            "cms",
            "-decrypt",
            "-binary",
            "-in",
            &path,
            "-recip",
            "alice-enc.pem",
            "-inkey",
            "alice-enc.key",
            "-out",
            "dec.eml",
        ]);
        assert_eq!(Some(s.w.read("dec.eml")), m.content, "{}", m.name);
        if m.carol {
            s.w.openssl_ok(&[
                "cms",
                "-decrypt",
                "-binary",
                "-in",
                &path,
                "-recip",
                "carol-enc.pem",
                "-inkey",
                "carol-enc.key",
                "-out",
                "dec-carol.eml",
            ]);
            assert_eq!(Some(s.w.read("dec-carol.eml")), m.content);
        }
        if m.kind == Kind::SignedInside {
            s.w.openssl_ok(&[
                "cms",
                "-verify",
                "-in",
                "dec.eml",
                "-CAfile",
                "ca.pem",
                "-attime",
                &AT_UNIX.to_string(),
                "-out",
                "/dev/null",
            ]);
        }
        checked += 1;
    }
    assert_eq!(checked, rewritten);

    // The destination now holds only aes256 (plus the damaged messages, unreadable still).
    let out = s.w.sectool(&["scan", "--in", "dest", "--json"], None);
    let scan = json(&out);
    assert_eq!(
        scan["by_algorithm"],
        serde_json::json!({ "aes256": scan["encrypted"] }),
        "{scan}"
    );
    assert_eq!(scan["unreadable"], 2);
}

#[test]
fn sectool_mbox_and_maildir() {
    let s = setup();
    let mut msgs = ordinary(&s, 30, 900, 1000);
    msgs.extend(specials(&s));

    // mbox
    let records = write_mbox(&s.w.path("mail.mbox"), &msgs);
    let out = reencrypt(
        &s,
        &[
            "--in",
            "mail.mbox",
            "--out",
            "new.mbox",
            "--algorithm",
            "aes256",
        ],
    );
    assert_eq!(code(&out), 4, "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["failed"], 3, "{report}");
    assert!(
        report["failures"].to_string().contains("mbox message 31"),
        "{report}"
    );
    let dest = read_mbox(&s.w.path("new.mbox"));
    assert_eq!(dest.len(), msgs.len());
    assert!(!s.w.path("new.mbox.sectool-journal").exists());
    for ((m, rec), d) in msgs.iter().zip(&records).zip(&dest) {
        if m.kind.rewritten() {
            assert!(
                d.raw().starts_with(b"From alice@example.test "),
                "{}",
                m.name
            );
            check_rewritten_lib(&s, m, &d.message, A::Aes256);
            assert!(!d.message.contains(&b'\r'), "LF mbox stays LF");
        } else {
            assert_eq!(&d.raw(), rec, "{} keeps its bytes", m.name);
        }
    }

    // Maildir: most in cur/, some in new/.
    let md = s.w.path("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    let mut names = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let name = if i % 4 == 0 {
            format!("new/1767225600.M{i}P1.host")
        } else {
            format!("cur/1767225600.M{i}P1.host:2,S")
        };
        std::fs::write(md.join(&name), &m.bytes).unwrap();
        names.push(name);
    }
    let out = reencrypt(
        &s,
        &[
            "--in",
            "Maildir",
            "--out",
            "Maildir2",
            "--algorithm",
            "aes256",
        ],
    );
    assert_eq!(code(&out), 4, "{}", text(&out));
    assert!(s.w.path("Maildir2/tmp").is_dir());
    let mut want: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
    want.sort();
    assert_eq!(files_under(&s.w.path("Maildir2")), want);
    for (m, name) in msgs.iter().zip(&names) {
        let bytes = s.w.read(&format!("Maildir2/{name}"));
        if m.kind.rewritten() {
            check_rewritten_lib(&s, m, &bytes, A::Aes256);
        } else {
            assert_eq!(bytes, m.bytes, "{name}");
        }
    }
}

#[test]
fn sectool_in_place_on_a_tree_keeps_every_message_and_leaves_no_backup() {
    let s = setup();
    let mut msgs = ordinary(&s, 30, 900, 2000);
    msgs.extend(specials(&s));
    write_tree(&s.w.path("box"), &msgs);
    let out = reencrypt(&s, &["--in", "box", "--in-place", "--algorithm", "aes256"]);
    assert_eq!(code(&out), 4, "{}", text(&out));
    let mut names: Vec<PathBuf> = msgs.iter().map(|m| PathBuf::from(&m.name)).collect();
    names.sort();
    assert_eq!(files_under(&s.w.path("box")), names);
    assert!(!s.w.path("box.sectool-backup").exists());
    assert!(!s.w.path("box.sectool-journal").exists());
    for m in &msgs {
        let bytes = s.w.read(&format!("box/{}", m.name));
        if m.kind.rewritten() {
            check_rewritten_lib(&s, m, &bytes, A::Aes256);
        } else {
            assert_eq!(bytes, m.bytes, "{}", m.name);
        }
    }
    // In place on an mbox: a new mbox beside it, swapped in at the end.
    let records = write_mbox(&s.w.path("in.mbox"), &msgs);
    let out = reencrypt(
        &s,
        &[
            "--in",
            "in.mbox",
            "--in-place",
            "--algorithm",
            "3des",
            "--allow-downgrade",
        ],
    );
    assert_eq!(code(&out), 4, "{}", text(&out));
    let dest = read_mbox(&s.w.path("in.mbox"));
    assert_eq!(dest.len(), msgs.len());
    for ((m, rec), d) in msgs.iter().zip(&records).zip(&dest) {
        if m.kind.rewritten() || m.kind == Kind::AtTarget {
            check_rewritten_lib(&s, m, &d.message, A::TripleDes);
        } else {
            assert_eq!(&d.raw(), rec, "{}", m.name);
        }
    }
    let left: Vec<_> = std::fs::read_dir(s.w.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("sectool"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn sectool_algorithm_never_downgrades_a_stronger_message_unless_allowed() {
    let s = setup();
    let plain = |i| eml(i, 700);
    let mut msgs = Vec::new();
    // AES-GCM for the current key (already stronger than aes256: kept byte for byte), AES-GCM
    // for the old key (new keys, but its own algorithm), and a 3des one (raised to aes256).
    for (name, cert, alg) in [
        ("gcm256.eml", &s.alice.enc, A::Aes256Gcm),
        ("gcm128.eml", &s.alice.enc, A::Aes128Gcm),
        ("old-gcm128.eml", &s.alice.enc_old, A::Aes128Gcm),
        ("tdes.eml", &s.alice.enc, A::TripleDes),
    ] {
        let b = encrypt_eml(&plain(4000 + msgs.len()), std::slice::from_ref(cert), alg);
        msgs.push(finish(&s, name.into(), Kind::Encrypted, b));
    }
    write_tree(&s.w.path("src"), &msgs);

    let out = reencrypt(
        &s,
        &["--in", "src", "--out", "kept", "--algorithm", "aes256"],
    );
    ok(&out);
    let report = json(&out);
    assert_eq!(report["already_stronger"], 3, "{report}");
    assert_eq!(report["skipped"]["already stronger"], 2, "{report}");
    assert_eq!(
        report["transitions"],
        serde_json::json!({ "3des -> aes256": 1, "aes128-gcm -> aes128-gcm": 1 }),
        "{report}"
    );
    assert_eq!(s.w.read("kept/gcm256.eml"), msgs[0].bytes);
    assert_eq!(s.w.read("kept/gcm128.eml"), msgs[1].bytes);
    check_rewritten_lib(&s, &msgs[2], &s.w.read("kept/old-gcm128.eml"), A::Aes128Gcm);
    check_rewritten_lib(&s, &msgs[3], &s.w.read("kept/tdes.eml"), A::Aes256);
    // The text report says so too.
    let out = s.w.sectool(
        &[
            "reencrypt",
            "--p12",
            "alice.p12",
            "--password-stdin",
            "--in",
            "src",
            "--out",
            "kept-text",
            "--algorithm",
            "aes256",
        ],
        Some(PASSWORD),
    );
    ok(&out);
    assert!(text(&out).contains("3 already stronger"), "{}", text(&out));

    // --allow-downgrade: AES-GCM becomes AES-256-CBC, as asked.
    let out = reencrypt(
        &s,
        &[
            "--in",
            "src",
            "--out",
            "down",
            "--algorithm",
            "aes256",
            "--allow-downgrade",
        ],
    );
    ok(&out);
    let report = json(&out);
    assert_eq!(report["already_stronger"], 0, "{report}");
    assert_eq!(report["reencrypted"], 4, "{report}");
    assert_eq!(report["transitions"]["aes256-gcm -> aes256"], 1, "{report}");
    assert_eq!(report["transitions"]["aes128-gcm -> aes256"], 2, "{report}");
    for m in &msgs {
        check_rewritten_lib(&s, m, &s.w.read(&format!("down/{}", m.name)), A::Aes256);
    }
    // --allow-downgrade without --algorithm is a usage error.
    let out = reencrypt(&s, &["--in", "src", "--out", "x", "--allow-downgrade"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
}

#[test]
fn sectool_dry_run_writes_nothing_and_min_algorithm_raises_only_weaker_ones() {
    let s = setup();
    let plain = |i| eml(i, 700);
    let mut msgs = Vec::new();
    for (i, alg) in [
        A::Des,
        A::Cast40,
        A::Rc2_40,
        A::Cast64,
        A::TripleDes,
        A::Aes128,
        A::Aes256,
    ]
    .into_iter()
    .enumerate()
    {
        let b = encrypt_eml(&plain(3000 + i), std::slice::from_ref(&s.alice.enc), alg);
        msgs.push(finish(
            &s,
            format!("new-{}.eml", alg.name()),
            Kind::Encrypted,
            b,
        ));
    }
    let b = encrypt_eml(
        &plain(3100),
        std::slice::from_ref(&s.alice.enc_old),
        A::Aes128,
    );
    msgs.push(finish(&s, "old-aes128.eml".into(), Kind::Encrypted, b));
    msgs.push(finish(&s, "plain.eml".into(), Kind::Plain, plain(3200)));
    write_tree(&s.w.path("src"), &msgs);

    let out = reencrypt(
        &s,
        &[
            "--in",
            "src",
            "--out",
            "dry",
            "--algorithm",
            "aes256",
            "--dry-run",
        ],
    );
    ok(&out);
    let report = json(&out);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["reencrypted"], 7, "{report}");
    assert!(!s.w.path("dry").exists());
    assert!(!s.w.path("dry.sectool-journal").exists());

    // Human output, bad usage, a wrong password.
    let out = s.w.sectool(
        &[
            "reencrypt",
            "--p12",
            "alice.p12",
            "--password-stdin",
            "--in",
            "src",
            "--out",
            "dry",
            "--dry-run",
            "--algorithm",
            "aes256",
        ],
        Some(PASSWORD),
    );
    assert!(
        ok(&out).contains("7 would be re-encrypted"),
        "{}",
        text(&out)
    );
    let out = reencrypt(&s, &["--in", "src"]);
    assert_eq!(
        code(&out),
        2,
        "neither --out nor --in-place: {}",
        text(&out)
    );
    let out = reencrypt(&s, &["--in", "src", "--out", "x", "--algorithm", "rot13"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let out = s.w.sectool(
        &[
            "reencrypt",
            "--p12",
            "alice.p12",
            "--password-stdin",
            "--in",
            "src",
            "--out",
            "x",
        ],
        Some("wrong password"),
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("alice.p12"), "{}", text(&out));
    assert!(!s.w.path("x").exists() && !s.w.path("x.sectool-journal").exists());

    let out = reencrypt(
        &s,
        &["--in", "src", "--out", "raised", "--min-algorithm", "3des"],
    );
    ok(&out);
    // A finished run leaves no journal: --resume has nothing to continue, and the destination
    // is not overwritten.
    let again = reencrypt(&s, &["--in", "src", "--out", "raised", "--resume"]);
    assert_eq!(code(&again), 1, "{}", text(&again));
    assert!(text(&again).contains("no journal"), "{}", text(&again));
    let report = json(&out);
    assert_eq!(
        report["transitions"],
        serde_json::json!({
            "des -> 3des": 1, "cast40 -> 3des": 1, "rc2-40 -> 3des": 1, "cast64 -> 3des": 1,
            "aes128 -> aes128": 1
        }),
        "{report}"
    );
    for m in &msgs {
        let bytes = s.w.read(&format!("raised/{}", m.name));
        match m.alg {
            Some(a) if a.is_at_least(A::TripleDes) && m.name.starts_with("new-") => {
                assert_eq!(bytes, m.bytes, "{} is at or above the floor", m.name)
            }
            Some(a) => check_rewritten_lib(
                &s,
                m,
                &bytes,
                if a.is_at_least(A::TripleDes) {
                    a
                } else {
                    A::TripleDes
                },
            ),
            None => assert_eq!(bytes, m.bytes),
        }
    }
}

/// Polls `journal` until it has `lines` lines (or the run ends), then SIGKILLs the run.
fn kill_when_journaled(mut child: std::process::Child, journal: &Path, lines: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the run ended ({status}) before it could be killed; raise SECTOOL_CORPUS: {}",
                text(&out)
            );
        }
        let n = std::fs::read(journal)
            .map(|b| b.iter().filter(|c| **c == b'\n').count())
            .unwrap_or(0);
        if n >= lines {
            break;
        }
        assert!(Instant::now() < deadline, "no progress in the journal");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn sectool_killed_and_resumed_loses_and_duplicates_nothing_in_a_tree_and_an_mbox() {
    let s = setup();
    let msgs = ordinary(&s, corpus_size().max(120), 4000, 5000);
    write_tree(&s.w.path("src"), &msgs);
    let records = write_mbox(&s.w.path("src.mbox"), &msgs);
    let args = |src: &'static str, dest: &'static str| {
        vec![
            "reencrypt",
            "--p12",
            "alice.p12",
            "--password-stdin",
            "--json",
            "--jobs",
            "1",
            "--algorithm",
            "aes256",
            "--in",
            src,
            "--out",
            dest,
        ]
    };

    // Tree.
    let child = s.w.sectool_spawn(&args("src", "dest"), Some(PASSWORD));
    kill_when_journaled(child, &s.w.path("dest.sectool-journal"), 12);
    let out = reencrypt(
        &s,
        &["--in", "src", "--out", "dest", "--algorithm", "aes256"],
    );
    assert_eq!(
        code(&out),
        1,
        "without --resume the journal is refused: {}",
        text(&out)
    );
    assert!(text(&out).contains("--resume"));
    let out = reencrypt(
        &s,
        &[
            "--in",
            "src",
            "--out",
            "dest",
            "--algorithm",
            "aes256",
            "--resume",
        ],
    );
    ok(&out);
    let report = json(&out);
    assert!(report["resumed"].as_u64().unwrap() >= 11, "{report}");
    assert_eq!(report["total"], msgs.len(), "{report}");
    assert_eq!(
        report["reencrypted"],
        msgs.iter().filter(|m| m.kind.rewritten()).count(),
        "{report}"
    );
    let mut names: Vec<PathBuf> = msgs.iter().map(|m| PathBuf::from(&m.name)).collect();
    names.sort();
    assert_eq!(
        files_under(&s.w.path("dest")),
        names,
        "no temporary file left behind"
    );
    for m in &msgs {
        let bytes = s.w.read(&format!("dest/{}", m.name));
        if m.kind.rewritten() {
            check_rewritten_lib(&s, m, &bytes, A::Aes256);
        } else {
            assert_eq!(bytes, m.bytes, "{}", m.name);
        }
    }

    // mbox.
    let child =
        s.w.sectool_spawn(&args("src.mbox", "dest.mbox"), Some(PASSWORD));
    kill_when_journaled(child, &s.w.path("dest.mbox.sectool-journal"), 12);
    let out = reencrypt(
        &s,
        &[
            "--in",
            "src.mbox",
            "--out",
            "dest.mbox",
            "--algorithm",
            "aes256",
            "--resume",
        ],
    );
    ok(&out);
    let report = json(&out);
    assert!(report["resumed"].as_u64().unwrap() >= 11, "{report}");
    assert_eq!(report["total"], msgs.len(), "{report}");
    let dest = read_mbox(&s.w.path("dest.mbox"));
    assert_eq!(dest.len(), msgs.len(), "none lost or duplicated");
    for ((m, rec), d) in msgs.iter().zip(&records).zip(&dest) {
        if m.kind.rewritten() {
            check_rewritten_lib(&s, m, &d.message, A::Aes256);
        } else {
            assert_eq!(&d.raw(), rec, "{}", m.name);
        }
    }
    assert!(!s.w.path("dest.mbox.sectool-journal").exists());

    // In place on a tree: the originals of rewritten files are kept as backups until the
    // resumed run ends, and the report is the same as an uninterrupted run's.
    let child = s.w.sectool_spawn(
        &[
            "reencrypt",
            "--p12",
            "alice.p12",
            "--password-stdin",
            "--jobs",
            "1",
            "--algorithm",
            "aes256",
            "--in",
            "src",
            "--in-place",
        ],
        Some(PASSWORD),
    );
    kill_when_journaled(child, &s.w.path("src.sectool-journal"), 12);
    assert!(s.w.path("src.sectool-backup").is_dir());
    let out = reencrypt(
        &s,
        &[
            "--in",
            "src",
            "--in-place",
            "--algorithm",
            "aes256",
            "--resume",
        ],
    );
    ok(&out);
    let report = json(&out);
    assert_eq!(
        report["reencrypted"],
        msgs.iter().filter(|m| m.kind.rewritten()).count(),
        "{report}"
    );
    assert_eq!(files_under(&s.w.path("src")), names);
    assert!(!s.w.path("src.sectool-backup").exists());
    assert!(!s.w.path("src.sectool-journal").exists());
    for m in &msgs {
        let bytes = s.w.read(&format!("src/{}", m.name));
        if m.kind.rewritten() {
            check_rewritten_lib(&s, m, &bytes, A::Aes256);
        } else {
            assert_eq!(bytes, m.bytes, "{}", m.name);
        }
    }
}
