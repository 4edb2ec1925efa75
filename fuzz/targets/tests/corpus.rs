//! Runs every committed corpus file (`fuzz/corpus/<target>/*`) through every fuzz target on
//! the stable toolchain: a crash found by fuzzing and added to the corpus stays fixed. The
//! ignored test `make_corpus` wrote the seed corpus (from the repository's test vectors and
//! keys, and outputs of the `pki` crate); run it again with
//! `cargo test -p kms-fuzz-targets --test corpus -- --ignored make_corpus`.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use kms_fuzz_targets::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (name, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_corpus_file_through_every_target() {
    let files = corpus_files();
    // Every target has seeds.
    for (name, _) in TARGETS {
        let seeds = files
            .iter()
            .filter(|f| f.parent().and_then(Path::file_name) == Some(name.as_ref()))
            .count();
        assert!(seeds > 0, "fuzz/corpus/{name} is empty");
    }
    for file in &files {
        let data = std::fs::read(file).unwrap();
        for (name, target) in TARGETS {
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(
                outcome.is_ok(),
                "target {name} panicked on {}",
                file.display()
            );
        }
    }
}

#[test]
fn every_target_has_a_fuzz_target_file_and_a_cargo_entry() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for (name, _) in TARGETS {
        let file = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            text.contains(&format!("kms_fuzz_targets::{name}(")),
            "{}",
            file.display()
        );
        assert!(manifest.contains(&format!("name = \"{name}\"")), "{name}");
    }
}

/// Seeds the targets reach the expected code with: each is read successfully by its parser.
#[test]
fn seeds_are_valid_inputs_of_their_parser() {
    let dir = fuzz_dir().join("corpus");
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap();
    assert!(pki::certificate::parse_certificate(&read("certificate/pki-enc.der")).is_ok());
    assert!(pki::crl::Crl::parse(&read("crl/pki-crl.der")).is_ok());
    assert!(pki::csr::parse(&read("csr/pki-csr.der")).is_ok());
    let p12 = read("pkcs12/pki-modern.p12");
    assert_eq!(
        pki::pkcs12::parse(&p12, "fuzz password")
            .unwrap()
            .keys
            .len(),
        1
    );
    let p12 = read("pkcs12/pki-modern-ber.p12");
    assert_eq!(
        pki::pkcs12::parse(&p12, "fuzz password")
            .unwrap()
            .keys
            .len(),
        1
    );
    let env = read("enveloped/pki-aes256.der");
    let keys = kms_fuzz_targets::recipient();
    assert!(pki::enveloped::decrypt(&env, keys, &mut pki::os_rng()).is_ok());
    assert!(pki::signed::check(&read("signed/pki-signed.der"), None, &[]).is_ok());
    assert!(pki::smime::parse(&read("smime/pki-enveloped.eml")).is_ok());
    assert!(pki::fuzzing::ber_to_der(&read("ber/indefinite.ber")).is_ok());
    assert!(escrow::KeyFile::from_bytes(&read("keyfile/valid.key"), "seed").is_ok());
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = fuzz_dir().join("corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn copy(target: &str, from: &str) {
    let src = fuzz_dir().join("..").join(from);
    let name = src.file_name().unwrap().to_str().unwrap().to_string();
    write(target, &name, &std::fs::read(&src).unwrap());
}

/// Writes the seed corpus. Deterministic where it can be (the RSA signatures are; salts, IVs
/// and keys wrapped for recipients are random).
#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn make_corpus() {
    use pki::pkcs12::{ExportOptions, Pkcs12Entry};
    let vectors = "crates/pki/tests/vectors";
    let at = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let key = kms_fuzz_targets::test_key("alice-enc");
    let cert = kms_fuzz_targets::recipient()[0].1.clone();
    let cert_der = pki::certificate::to_der(&cert).unwrap();
    let issuer = kms_fuzz_targets::test_ca().unwrap();
    let sign_key = kms_fuzz_targets::test_key("alice-sign");
    let sign_cert = kms_fuzz_targets::issue(
        &issuer,
        &pki::Profile::SmimeSigning(kms_fuzz_targets::smime_subject().unwrap()),
        &sign_key,
    )
    .unwrap();
    let mut rng = pki::os_rng();

    // certificate
    write("certificate", "pki-enc.der", &cert_der);
    write(
        "certificate",
        "pki-ca.pem",
        pki::certificate::to_pem(issuer.certificate())
            .unwrap()
            .as_bytes(),
    );
    copy(
        "certificate",
        &format!("{vectors}/rfc4134/AliceRSASignByCarl.cer"),
    );
    copy(
        "certificate",
        &format!("{vectors}/PKITS/certs/GoodCACert.crt"),
    );
    copy("certificate", "crates/pki/tests/fixtures/nss/alice-nss.cer");

    // crl
    let mut b = pki::crl::CrlBuilder::new(7, at, at + Duration::from_secs(7 * 86_400)).unwrap();
    b.add(&pki::crl::CrlEntry {
        serial: vec![0x01, 0x02],
        revoked_at: at,
        reason: pki::crl::RevocationReason::KeyCompromise,
    })
    .unwrap();
    write("crl", "pki-crl.der", &b.sign(&issuer).unwrap());
    copy("crl", &format!("{vectors}/PKITS/crls/GoodCACRL.crl"));

    // csr
    let csr = pki::csr::build(
        &key,
        "CN=Fuzz,O=Example".parse().unwrap(),
        "fuzz@example.test",
        pki::DigestAlgorithm::Sha256,
    )
    .unwrap();
    write("csr", "pki-csr.der", &csr);
    write("csr", "pki-csr.pem", pki::csr::to_pem(&csr).as_bytes());

    // pkcs12: iteration count 1 so that each run is cheap; BER variants as NSS writes them.
    let entry = Pkcs12Entry {
        key: &key,
        certificate: &cert,
        friendly_name: Some("fuzz"),
    };
    for (name, options) in [
        ("pki-modern.p12", ExportOptions::modern()),
        ("pki-legacy.p12", ExportOptions::legacy()),
    ] {
        let p12 = pki::pkcs12::export(
            &[entry],
            &[],
            "fuzz password",
            &options.with_iterations(1),
            &mut rng,
        )
        .unwrap();
        write("pkcs12", name, &p12);
        if name == "pki-modern.p12" {
            let header = 2 + usize::from(p12[1] & 0x7f) * usize::from(p12[1] >> 7);
            let ber = [&[0x30, 0x80][..], &p12[header..], &[0, 0]].concat();
            write("pkcs12", "pki-modern-ber.p12", &ber);
        }
    }
    let empty = pki::pkcs12::export(
        &[entry],
        &[],
        "",
        &ExportOptions::legacy().with_iterations(1),
        &mut rng,
    )
    .unwrap();
    write("pkcs12", "pki-empty-password.p12", &empty);
    copy("pkcs12", "crates/pki/tests/fixtures/nss/alice-nss.p12");

    // enveloped
    let content = b"Content-Type: text/plain\r\n\r\nfuzz\r\n";
    for (name, alg) in [
        ("pki-aes256.der", pki::ContentAlgorithm::Aes256),
        ("pki-aes128-gcm.der", pki::ContentAlgorithm::Aes128Gcm),
        ("pki-3des.der", pki::ContentAlgorithm::TripleDes),
    ] {
        let der = pki::enveloped::encrypt(
            content,
            std::slice::from_ref(&cert),
            alg,
            // Named by subjectKeyIdentifier (derived from the key), so that the target's own
            // recipient certificate, made afresh in each process, matches.
            &pki::enveloped::EncryptOptions {
                recipient_id: pki::enveloped::RecipientIdKind::SubjectKeyIdentifier,
                ..Default::default()
            },
            &mut rng,
        )
        .unwrap();
        write("enveloped", name, &der);
        if name == "pki-aes256.der" {
            let mime =
                pki::smime::pkcs7_mime(&[], pki::smime::SmimeType::EnvelopedData, &der).unwrap();
            write("smime", "pki-enveloped.eml", &mime);
        }
    }
    copy("enveloped", &format!("{vectors}/rfc4134/5.1.bin"));
    copy("enveloped", &format!("{vectors}/rfc4134/5.2.bin"));

    // signed
    let signed = pki::signed::sign(
        content,
        &sign_key,
        &sign_cert,
        std::slice::from_ref(issuer.certificate()),
        &pki::signed::SignOptions::new(at),
    )
    .unwrap();
    write("signed", "pki-signed.der", &signed);
    let mime = pki::smime::pkcs7_mime(&[], pki::smime::SmimeType::SignedData, &signed).unwrap();
    write("smime", "pki-signed.eml", &mime);
    for n in ["4.2.bin", "4.4.bin", "4.11.bin"] {
        copy("signed", &format!("{vectors}/rfc4134/{n}"));
    }

    // smime
    copy("smime", &format!("{vectors}/rfc4134/4.8.eml"));
    copy("smime", &format!("{vectors}/rfc4134/4.9.eml"));

    // ber: BER from RFC 4134 (4.4 and 5.x carry indefinite lengths), and small shapes.
    copy("ber", &format!("{vectors}/rfc4134/5.1.bin"));
    write(
        "ber",
        "indefinite.ber",
        &[
            0x30, 0x80, 0x24, 0x80, 0x04, 0x01, 0xaa, 0x04, 0x01, 0xbb, 0, 0, 0x02, 0x01, 0x05, 0,
            0,
        ],
    );
    write(
        "ber",
        "implicit-chunks.ber",
        &[
            0x30, 0x80, 0xa0, 0x80, 0x04, 0x02, 1, 2, 0x04, 0x01, 3, 0, 0, 0, 0,
        ],
    );
    write(
        "ber",
        "bitstring.ber",
        &[
            0x23, 0x80, 0x03, 0x02, 0x00, 0xff, 0x03, 0x02, 0x04, 0xf0, 0, 0,
        ],
    );

    // mbox
    write(
        "mbox",
        "two.mbox",
        b"From alice@example.test Thu Jan  1 00:00:00 2026\nSubject: one\n\nHello\n>From the past\n\nFrom bob@example.test Thu Jan  1 00:00:01 2026\r\nSubject: two\r\n\r\nBye\r\n",
    );
    write("mbox", "empty.mbox", b"");

    // keyfile
    write(
        "keyfile",
        "valid.key",
        kms_fuzz_targets::KEY_FILE.as_bytes(),
    );
    write(
        "keyfile",
        "bad-checksum.key",
        kms_fuzz_targets::KEY_FILE
            .replace("c61c27bc", "00000000")
            .as_bytes(),
    );

    // backup_header: a header body with one key-file wrap (which does not open) and one
    // password wrap with modest Argon2 parameters.
    let mut h = Vec::new();
    h.extend_from_slice(&[7u8; 16]); // store id
    h.extend_from_slice(&9u32.to_be_bytes()); // schema version
    h.extend_from_slice(&4096u64.to_be_bytes()); // database length
    h.extend_from_slice(&1024u32.to_be_bytes()); // chunk size
    h.extend_from_slice(&[1u8; 32]); // salt
    h.extend_from_slice(&2u16.to_be_bytes()); // wraps
    let bytes = |h: &mut Vec<u8>, b: &[u8]| {
        h.extend_from_slice(&(b.len() as u16).to_be_bytes());
        h.extend_from_slice(b);
    };
    // A key-file wrap for the target's key file.
    h.extend_from_slice(&1i64.to_be_bytes());
    h.push(2);
    bytes(&mut h, b"key file");
    h.push(1);
    h.extend_from_slice(&(0u8..16).collect::<Vec<_>>());
    h.push(0);
    bytes(&mut h, &[3u8; 32]);
    h.extend_from_slice(&[4u8; 12]);
    bytes(&mut h, &[5u8; 48]);
    // A password wrap (8 MiB, t = 1, p = 1).
    h.extend_from_slice(&2i64.to_be_bytes());
    h.push(1);
    bytes(&mut h, b"password");
    h.push(0);
    h.push(1);
    for v in [8192u32, 1, 1] {
        h.extend_from_slice(&v.to_be_bytes());
    }
    bytes(&mut h, &[6u8; 16]);
    h.extend_from_slice(&[7u8; 12]);
    bytes(&mut h, &[8u8; 48]);
    write("backup_header", "two-wraps.bin", &h);
}
