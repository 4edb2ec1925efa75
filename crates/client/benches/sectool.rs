//! `sectool reencrypt` throughput: builds a corpus of N stored messages of 20 KiB (a mix of
//! DES, 3DES, CAST and RC2 for Alice's old key) in a temporary directory, re-encrypts it to
//! aes256 for her new key as a tree and as an mbox, and prints messages per second; then runs
//! the OpenSSL shell loop (`sectool_openssl.sh`) over the first M of the same files.
//!
//! `cargo bench -p client --bench sectool` with SECTOOL_BENCH_N (default 10000),
//! SECTOOL_BENCH_JOBS (default: cores), SECTOOL_BENCH_OPENSSL_N (default 300, 0 to skip),
//! SECTOOL_BENCH_KEEP=DIR to keep the corpus there.

use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

use indicatif::ProgressBar;
use kms_client::keyring::Keyring;
use kms_client::reencrypt::{self, Dest, Options, Target};
use pki::enveloped::{self, EncryptOptions};
use pki::pkcs12::{ExportOptions, Pkcs12Entry};
use pki::smime::{self, SmimeType};
use pki::{
    Certificate, ContentAlgorithm as A, DigestAlgorithm, Issuer, Period, PrivateKey, Profile,
    RevocationUrls, SmimeSubject,
};

const SIZE: usize = 20 * 1024;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key(name: &str) -> PrivateKey {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../keys/{name}.key.pem"));
    PrivateKey::from_pem_or_der(&std::fs::read(p).unwrap()).unwrap()
}

fn cert(ca: &Issuer, k: &PrivateKey, period: Period) -> Certificate {
    let s = SmimeSubject {
        subject: "CN=alice,O=Example Org".parse().unwrap(),
        email: "alice@example.test".into(),
        capabilities: A::RANKING.to_vec(),
        revocation: RevocationUrls {
            crl: None,
            delta_crl: None,
            ca_issuers: None,
            ocsp: None,
        },
        sbr: None,
        policy: pki::PolicyExtras::default(),
    };
    ca.issue(
        &Profile::SmimeEncryption(s),
        &k.public_key(),
        period,
        &mut pki::os_rng(),
    )
    .unwrap()
}

fn message(i: usize) -> Vec<u8> {
    let mut s = format!(
        "From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>\r\nSubject: stored {i}\r\nMessage-ID: <{i}@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    );
    let mut line = 0;
    while s.len() < SIZE {
        s.push_str(&format!(
            "message {i} line {line}: the quick brown fox jumps over the lazy dog\r\n"
        ));
        line += 1;
    }
    s.into_bytes()
}

fn main() {
    let n = env("SECTOOL_BENCH_N", 10_000);
    let jobs = env(
        "SECTOOL_BENCH_JOBS",
        std::thread::available_parallelism().map_or(1, |c| c.get()),
    );
    let openssl_n = env("SECTOOL_BENCH_OPENSSL_N", 300);
    let tmp = tempfile::tempdir().unwrap();
    let dir = match std::env::var("SECTOOL_BENCH_KEEP") {
        Ok(d) => {
            std::fs::create_dir_all(&d).unwrap();
            std::path::PathBuf::from(d)
        }
        Err(_) => tmp.path().to_path_buf(),
    };
    for sub in [
        "src",
        "out",
        "out.mbox",
        "src.mbox",
        "out.sectool-journal",
        "out.mbox.sectool-journal",
    ] {
        let p = dir.join(sub);
        let _ = std::fs::remove_dir_all(&p);
        let _ = std::fs::remove_file(&p);
    }
    let at = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let day = Duration::from_secs(86_400);
    let ca = Issuer::self_signed(
        key("ca-3072"),
        &Profile::Ca {
            subject: "CN=Bench CA".parse().unwrap(),
            path_len: Some(0),
        },
        Period {
            not_before: at - day * 800,
            not_after: at + day * 3650,
        },
        DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    )
    .unwrap();
    let old_key = key("alice-enc-old");
    let new_key = key("alice-enc");
    let old = cert(
        &ca,
        &old_key,
        Period {
            not_before: at - day * 400,
            not_after: at + day * 365,
        },
    );
    let new = cert(
        &ca,
        &new_key,
        Period {
            not_before: at - day,
            not_after: at + day * 365,
        },
    );
    for (name, c, k) in [
        ("alice-enc-old", &old, &old_key),
        ("alice-enc", &new, &new_key),
    ] {
        std::fs::write(
            dir.join(format!("{name}.pem")),
            pki::certificate::to_pem(c).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{name}.key")),
            k.to_pkcs8_pem().unwrap().as_bytes(),
        )
        .unwrap();
    }
    let p12 = pki::pkcs12::export(
        &[
            Pkcs12Entry {
                key: &old_key,
                certificate: &old,
                friendly_name: None,
            },
            Pkcs12Entry {
                key: &new_key,
                certificate: &new,
                friendly_name: None,
            },
        ],
        &[ca.certificate().clone()],
        "bench",
        &ExportOptions::default().with_iterations(2048),
        &mut pki::os_rng(),
    )
    .unwrap();
    let keyring = Keyring::from_pkcs12(&p12, "bench").unwrap();

    // The corpus: written as a tree and as an mbox (LF line ends), never held whole.
    let t0 = Instant::now();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let mut mbox = std::io::BufWriter::new(std::fs::File::create(dir.join("src.mbox")).unwrap());
    let algs = [A::Des, A::TripleDes, A::Cast128, A::Rc2_40, A::Aes128];
    for i in 0..n {
        let split = smime::split(&message(i)).unwrap();
        let der = enveloped::encrypt(
            &split.inner,
            std::slice::from_ref(&old),
            algs[i % algs.len()],
            &EncryptOptions::default(),
            &mut pki::os_rng(),
        )
        .unwrap();
        let eml = smime::pkcs7_mime(&split.outer_headers, SmimeType::EnvelopedData, &der).unwrap();
        std::fs::write(dir.join(format!("src/m{i:06}.eml")), &eml).unwrap();
        use std::io::Write;
        mbox.write_all(b"From alice@example.test Thu Jan  1 00:00:00 2026\n")
            .unwrap();
        mbox.write_all(&reencrypt::mailbox::to_lf(&eml)).unwrap();
        mbox.write_all(b"\n").unwrap();
    }
    drop(mbox);
    eprintln!("corpus: {n} messages of {SIZE} bytes in {:?}", t0.elapsed());

    // The engine alone (decide, decrypt, encrypt; no I/O), one thread, on the first messages.
    let engine = reencrypt::Reencryptor::new(&keyring, &[], Target::Exactly(A::Aes256)).unwrap();
    let sample: Vec<Vec<u8>> = (0..n.min(200))
        .map(|i| std::fs::read(dir.join(format!("src/m{i:06}.eml"))).unwrap())
        .collect();
    let t = Instant::now();
    for m in &sample {
        let (r, _) = engine.process(m);
        assert_eq!(r.outcome, "reencrypted");
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "engine only (no I/O), 1 thread: {} messages, {:.2} ms each, {:.0} msgs/s",
        sample.len(),
        secs * 1000.0 / sample.len() as f64,
        sample.len() as f64 / secs
    );
    for (what, src, out) in [("tree", "src", "out"), ("mbox", "src.mbox", "out.mbox")] {
        let opts = Options {
            source: dir.join(src),
            dest: Dest::Path(dir.join(out)),
            target: Target::Exactly(A::Aes256),
            to: Vec::new(),
            jobs,
            dry_run: false,
            resume: false,
            progress: ProgressBar::hidden(),
        };
        let t = Instant::now();
        let report = reencrypt::run(&keyring, &opts).unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(report.reencrypted, n, "{report:?}");
        println!(
            "sectool {what}: {n} messages of 20 KiB, --jobs {jobs}: {secs:.2} s, {:.0} msgs/s",
            n as f64 / secs
        );
    }
    if openssl_n > 0 {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sectool_openssl.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(&dir)
            .arg(openssl_n.min(n).to_string())
            .output()
            .expect("bash");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            eprintln!("the OpenSSL loop failed ({})", out.status);
        }
    }
}
