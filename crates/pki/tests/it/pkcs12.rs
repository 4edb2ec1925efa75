//! PKCS#12 bundles we export, read by `openssl pkcs12` (modern and legacy profiles, one key or
//! several); bundles `openssl pkcs12 -export` makes (default, `-legacy` and other algorithm
//! choices), read by us; NSS's BER (a committed `pk12util` file), files without a password
//! (OpenSSL `-nomac`, `cryptography`'s `NoEncryption`); wrong passwords and damaged files
//! refused with typed errors.

use std::path::Path;

use pki::certificate;
use pki::pkcs12::{self, ExportOptions, Pkcs12Entry, Pkcs12Profile};
use pki::{Certificate, ContentAlgorithm, Issuer, PrivateKey, Profile};

use crate::support::*;

const PASSWORD: &str = "correct horse battery staple";
/// Tests use OpenSSL's default count: the pki crate is built without optimisation in tests.
const TEST_ITERATIONS: u32 = 2048;

fn modern() -> ExportOptions {
    ExportOptions::modern().with_iterations(TEST_ITERATIONS)
}

/// Alice's encryption key and certificate, and the CA.
struct Alice {
    ca: Issuer,
    key: PrivateKey,
    cert: Certificate,
}

fn alice() -> Alice {
    let ca = test_ca();
    let (_, cert) = user_certs(&ca, "alice");
    Alice {
        ca,
        key: key("alice-enc"),
        cert,
    }
}

/// A certificate for Alice's previous encryption key (`keys/alice-enc-old.key.pem`).
fn old_encryption_cert(ca: &Issuer) -> Certificate {
    let caps = ContentAlgorithm::RANKING.to_vec();
    ca.issue(
        &Profile::SmimeEncryption(smime_subject("alice", &caps)),
        &key("alice-enc-old").public_key(),
        one_year(),
        &mut pki::os_rng(),
    )
    .unwrap()
}

/// Every PEM block with `label` in `text`, armour included.
fn pem_blocks(text: &str, label: &str) -> Vec<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let block = &rest[start..];
        let stop = block.find(&end).expect("END line") + end.len();
        out.push(format!("{}\n", &block[..stop]));
        rest = &block[stop..];
    }
    out
}

fn der(cert: &Certificate) -> Vec<u8> {
    certificate::to_der(cert).unwrap()
}

fn sorted_ders<'a>(certs: impl IntoIterator<Item = &'a Certificate>) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = certs.into_iter().map(der).collect();
    v.sort();
    v
}

/// `openssl pkcs12 -in FILE -passin pass:PW -nodes` (plus `extra`), stdout as text.
fn openssl_dump(d: &Path, file: &str, password: &str, extra: &[&str]) -> String {
    let pass = format!("pass:{password}");
    let mut args = vec!["pkcs12", "-in", file, "-passin", &pass, "-nodes"];
    args.extend_from_slice(extra);
    String::from_utf8(openssl_ok(d, &args).stdout).unwrap()
}

/// `openssl pkcs12 -info -noout` output (the algorithm lines go to stderr).
fn openssl_info(d: &Path, file: &str, password: &str, extra: &[&str]) -> String {
    let pass = format!("pass:{password}");
    let mut args = vec!["pkcs12", "-in", file, "-passin", &pass, "-info", "-noout"];
    args.extend_from_slice(extra);
    let out = openssl_ok(d, &args);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The public keys of the private keys OpenSSL printed, in order.
fn printed_public_keys(dump: &str) -> Vec<pki::PublicKey> {
    pem_blocks(dump, "PRIVATE KEY")
        .iter()
        .map(|pem| {
            PrivateKey::from_pem_or_der(pem.as_bytes())
                .unwrap()
                .public_key()
        })
        .collect()
}

fn printed_certs(dump: &str) -> Vec<Certificate> {
    pem_blocks(dump, "CERTIFICATE")
        .iter()
        .map(|pem| certificate::parse_certificate(pem.as_bytes()).unwrap())
        .collect()
}

// ------------------------------------------------------------------------------------------
// Ours, read by OpenSSL.

#[test]
fn openssl_reads_our_modern_bundle() {
    let a = alice();
    let p12 = pkcs12::export(
        &[Pkcs12Entry {
            key: &a.key,
            certificate: &a.cert,
            friendly_name: Some("Alice (encryption)"),
        }],
        std::slice::from_ref(a.ca.certificate()),
        PASSWORD,
        &modern(),
        &mut pki::os_rng(),
    )
    .unwrap();
    let dir = tempdir();
    let d = dir.path();
    write(d, "alice.p12", &p12);

    let info = openssl_info(d, "alice.p12", PASSWORD, &[]);
    assert!(info.contains("MAC: sha256, Iteration 2048"), "{info}");
    assert!(
        info.contains(
            "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256"
        ),
        "{info}"
    );
    assert!(
        info.contains("PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC"),
        "{info}"
    );

    let dump = openssl_dump(d, "alice.p12", PASSWORD, &[]);
    // The friendly name on both the key and its certificate, and one localKeyID shared by them.
    assert_eq!(
        dump.matches("friendlyName: Alice (encryption)").count(),
        2,
        "{dump}"
    );
    let ids: Vec<&str> = dump.lines().filter(|l| l.contains("localKeyID:")).collect();
    assert_eq!(ids.len(), 2, "{dump}");
    assert_eq!(ids[0].trim(), ids[1].trim());

    // The key OpenSSL prints is ours: compare with `openssl pkey -pubout` too.
    let keys = pem_blocks(&dump, "PRIVATE KEY");
    assert_eq!(keys.len(), 1, "{dump}");
    write(d, "printed.key", &keys[0]);
    let pubout = openssl_ok(d, &["pkey", "-in", "printed.key", "-pubout"]).stdout;
    assert_eq!(
        String::from_utf8(pubout).unwrap(),
        a.key.public_key().to_pem().unwrap()
    );
    assert_eq!(printed_public_keys(&dump), vec![a.key.public_key()]);
    // And the certificates, byte for byte.
    assert_eq!(
        sorted_ders(&printed_certs(&dump)),
        sorted_ders([&a.cert, a.ca.certificate()])
    );

    // A wrong password, an empty one: OpenSSL's MAC check fails.
    for wrong in ["correct horse battery stapler", ""] {
        let text = openssl_fails(
            d,
            &[
                "pkcs12",
                "-in",
                "alice.p12",
                "-passin",
                &format!("pass:{wrong}"),
                "-nodes",
            ],
        );
        assert!(text.to_lowercase().contains("mac verify"), "{text}");
    }
}

#[test]
fn openssl_reads_our_legacy_bundle() {
    let a = alice();
    let p12 = pkcs12::export(
        &[Pkcs12Entry {
            key: &a.key,
            certificate: &a.cert,
            friendly_name: Some("alice"),
        }],
        std::slice::from_ref(a.ca.certificate()),
        PASSWORD,
        &ExportOptions::legacy(),
        &mut pki::os_rng(),
    )
    .unwrap();
    let dir = tempdir();
    let d = dir.path();
    write(d, "legacy.p12", &p12);

    let info = openssl_info(d, "legacy.p12", PASSWORD, &LEGACY);
    assert!(info.contains("MAC: sha1, Iteration 2048"), "{info}");
    assert!(
        info.contains("PKCS7 Encrypted data: pbeWithSHA1And40BitRC2-CBC, Iteration 2048"),
        "{info}"
    );
    assert!(
        info.contains("Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048"),
        "{info}"
    );

    let dump = openssl_dump(d, "legacy.p12", PASSWORD, &LEGACY);
    assert_eq!(dump.matches("friendlyName: alice").count(), 2, "{dump}");
    assert_eq!(printed_public_keys(&dump), vec![a.key.public_key()]);
    assert_eq!(
        sorted_ders(&printed_certs(&dump)),
        sorted_ders([&a.cert, a.ca.certificate()])
    );
    // RC2 lives in the legacy provider: without it OpenSSL cannot decrypt the certificates,
    // which shows they really are RC2-40.
    openssl_fails(
        d,
        &[
            "pkcs12",
            "-in",
            "legacy.p12",
            "-passin",
            &format!("pass:{PASSWORD}"),
            "-nodes",
        ],
    );
    let wrong = openssl_fails(
        d,
        &[
            &[
                "pkcs12",
                "-in",
                "legacy.p12",
                "-passin",
                "pass:wrong",
                "-nodes",
            ],
            &LEGACY[..],
        ]
        .concat(),
    );
    assert!(wrong.to_lowercase().contains("mac verify"), "{wrong}");
}

#[test]
fn key_recovery_bundle_with_two_keys_round_trips_and_openssl_lists_both() {
    let a = alice();
    let old_key = key("alice-enc-old");
    let old_cert = old_encryption_cert(&a.ca);
    let entries = [
        Pkcs12Entry {
            key: &a.key,
            certificate: &a.cert,
            friendly_name: Some("alice 2026"),
        },
        Pkcs12Entry {
            key: &old_key,
            certificate: &old_cert,
            friendly_name: Some("alice 2025"),
        },
    ];
    for options in [modern(), ExportOptions::legacy()] {
        let p12 = pkcs12::export(
            &entries,
            std::slice::from_ref(a.ca.certificate()),
            PASSWORD,
            &options,
            &mut pki::os_rng(),
        )
        .unwrap();

        // Our own reading: both keys, each with its own certificate and name.
        let contents = pkcs12::parse(&p12, PASSWORD).unwrap();
        assert_eq!(contents.keys.len(), 2);
        for (got, want) in contents.keys.iter().zip(&entries) {
            assert_eq!(got.key.public_key(), want.key.public_key());
            assert_eq!(
                got.certificate.as_ref().map(der),
                Some(der(want.certificate))
            );
            assert_eq!(got.friendly_name.as_deref(), want.friendly_name);
            assert_eq!(got.local_key_id.as_ref().map(Vec::len), Some(20));
        }
        assert_ne!(contents.keys[0].local_key_id, contents.keys[1].local_key_id);
        assert_eq!(
            sorted_ders(&contents.certificates),
            sorted_ders([a.ca.certificate()])
        );

        // OpenSSL's: both keys and all three certificates.
        let dir = tempdir();
        let d = dir.path();
        write(d, "recovery.p12", &p12);
        let extra: &[&str] = if options.profile == Pkcs12Profile::Legacy {
            &LEGACY
        } else {
            &[]
        };
        let dump = openssl_dump(d, "recovery.p12", PASSWORD, extra);
        assert_eq!(
            printed_public_keys(&dump),
            vec![a.key.public_key(), old_key.public_key()],
            "{dump}"
        );
        assert!(dump.contains("friendlyName: alice 2026"), "{dump}");
        assert!(dump.contains("friendlyName: alice 2025"), "{dump}");
        assert_eq!(
            sorted_ders(&printed_certs(&dump)),
            sorted_ders([&a.cert, &old_cert, a.ca.certificate()])
        );
    }
}

#[test]
fn non_ascii_password_interoperates_both_ways() {
    let a = alice();
    let password = "pässwörd €";
    let dir = tempdir();
    let d = dir.path();
    for options in [modern(), ExportOptions::legacy()] {
        let p12 = pkcs12::export(
            &[Pkcs12Entry {
                key: &a.key,
                certificate: &a.cert,
                friendly_name: None,
            }],
            &[],
            password,
            &options,
            &mut pki::os_rng(),
        )
        .unwrap();
        write(d, "ours.p12", &p12);
        let extra: &[&str] = if options.profile == Pkcs12Profile::Legacy {
            &LEGACY
        } else {
            &[]
        };
        let dump = openssl_dump(d, "ours.p12", password, extra);
        assert_eq!(printed_public_keys(&dump), vec![a.key.public_key()]);
        assert!(!dump.contains("friendlyName"), "{dump}");
    }
    write_pem_cert(d, "cert.pem", &a.cert);
    let key_path = keys_dir().join("alice-enc.key.pem");
    let key_path = key_path.to_str().unwrap();
    openssl_ok(
        d,
        &[
            "pkcs12",
            "-export",
            "-in",
            "cert.pem",
            "-inkey",
            key_path,
            "-passout",
            &format!("pass:{password}"),
            "-out",
            "theirs.p12",
        ],
    );
    let contents = pkcs12::parse(&std::fs::read(d.join("theirs.p12")).unwrap(), password).unwrap();
    assert_eq!(contents.keys[0].key.public_key(), a.key.public_key());
    assert_eq!(contents.keys[0].friendly_name, None);
}

// ------------------------------------------------------------------------------------------
// OpenSSL's, read by us.

/// Runs `openssl pkcs12 -export` for Alice's encryption key and certificate with the CA as
/// `-certfile`, name "alice", and `flags`; returns the file.
fn openssl_export(a: &Alice, d: &Path, flags: &[&str]) -> Vec<u8> {
    write_pem_cert(d, "cert.pem", &a.cert);
    write_pem_cert(d, "ca.pem", a.ca.certificate());
    let key_path = keys_dir().join("alice-enc.key.pem");
    let pass = format!("pass:{PASSWORD}");
    let mut args = vec![
        "pkcs12",
        "-export",
        "-in",
        "cert.pem",
        "-inkey",
        key_path.to_str().unwrap(),
        "-certfile",
        "ca.pem",
        "-name",
        "alice",
        "-passout",
        &pass,
        "-out",
        "theirs.p12",
    ];
    args.extend_from_slice(flags);
    openssl_ok(d, &args);
    std::fs::read(d.join("theirs.p12")).unwrap()
}

fn assert_alice(a: &Alice, contents: &pkcs12::Pkcs12Contents, what: &str) {
    assert_eq!(contents.keys.len(), 1, "{what}");
    let k = &contents.keys[0];
    assert_eq!(k.key.public_key(), a.key.public_key(), "{what}");
    assert_eq!(
        k.certificate.as_ref().map(der),
        Some(der(&a.cert)),
        "{what}"
    );
    assert_eq!(k.friendly_name.as_deref(), Some("alice"), "{what}");
    // OpenSSL's localKeyId is the SHA-1 of the certificate.
    assert_eq!(k.local_key_id.as_ref().map(Vec::len), Some(20), "{what}");
    assert_eq!(
        sorted_ders(&contents.certificates),
        sorted_ders([a.ca.certificate()]),
        "{what}"
    );
}

#[test]
fn we_read_openssl_default_and_legacy_exports() {
    let a = alice();
    let dir = tempdir();
    let d = dir.path();
    // OpenSSL 3's default: PBES2/AES-256-CBC/HMAC-SHA256 PBKDF2, MAC HMAC-SHA256.
    let p12 = openssl_export(&a, d, &[]);
    assert_alice(&a, &pkcs12::parse(&p12, PASSWORD).unwrap(), "default");
    // -legacy: RC2-40 certificates, 3DES key, MAC HMAC-SHA1.
    let p12 = openssl_export(&a, d, &["-legacy"]);
    assert_alice(&a, &pkcs12::parse(&p12, PASSWORD).unwrap(), "-legacy");
}

#[test]
fn we_read_openssl_exports_with_other_algorithms() {
    let a = alice();
    let dir = tempdir();
    let d = dir.path();
    let variants: &[&[&str]] = &[
        &[
            "-keypbe",
            "AES-256-CBC",
            "-certpbe",
            "AES-256-CBC",
            "-macalg",
            "sha512",
        ],
        &[
            "-keypbe",
            "AES-128-CBC",
            "-certpbe",
            "AES-192-CBC",
            "-macalg",
            "sha384",
            "-iter",
            "1000",
        ],
        &[
            "-keypbe",
            "DES-EDE3-CBC",
            "-certpbe",
            "DES-EDE3-CBC",
            "-macalg",
            "sha1",
        ],
        &[
            "-keypbe",
            "PBE-SHA1-3DES",
            "-certpbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha224",
        ],
        &[
            "-keypbe",
            "PBE-SHA1-RC2-128",
            "-certpbe",
            "PBE-SHA1-2DES",
            "-provider",
            "legacy",
            "-provider",
            "default",
        ],
        &[
            "-keypbe",
            "PBE-SHA1-2DES",
            "-certpbe",
            "PBE-SHA1-RC2-40",
            "-provider",
            "legacy",
            "-provider",
            "default",
        ],
        // Unencrypted: a plain keyBag and the certificates in a Data safe (MAC still there).
        &["-keypbe", "NONE", "-certpbe", "NONE"],
        // One MAC iteration (`-nomaciter`): old Windows exports look like this.
        &["-nomaciter"],
    ];
    for flags in variants {
        let p12 = openssl_export(&a, d, flags);
        let what = flags.join(" ");
        let contents = pkcs12::parse(&p12, PASSWORD).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_alice(&a, &contents, &what);
        assert_eq!(
            pkcs12::parse(&p12, "not it").unwrap_err().code(),
            "PKI-050",
            "{what}"
        );
    }
}

#[test]
fn openssl_file_without_mac_is_refused_when_a_password_is_given() {
    let a = alice();
    let dir = tempdir();
    let d = dir.path();
    let p12 = openssl_export(&a, d, &["-nomac"]);
    let e = pkcs12::parse(&p12, PASSWORD).unwrap_err();
    assert_eq!(e.code(), "PKI-100", "{e}");
    assert!(e.to_string().contains("no MAC"), "{e}");
    // Without a password, its encrypted safes do not open (they need PASSWORD).
    let e = pkcs12::parse(&p12, "").unwrap_err();
    assert_eq!(e.code(), "PKI-101", "{e}");
}

/// `openssl pkcs12 -export` of Alice with `-passout pass:` and `flags`.
fn openssl_export_without_password(a: &Alice, d: &Path, flags: &[&str]) -> Vec<u8> {
    write_pem_cert(d, "cert.pem", &a.cert);
    write_pem_cert(d, "ca.pem", a.ca.certificate());
    let key_path = keys_dir().join("alice-enc.key.pem");
    let mut args = vec![
        "pkcs12",
        "-export",
        "-in",
        "cert.pem",
        "-inkey",
        key_path.to_str().unwrap(),
        "-certfile",
        "ca.pem",
        "-name",
        "alice",
        "-passout",
        "pass:",
        "-out",
        "nopass.p12",
    ];
    args.extend_from_slice(flags);
    openssl_ok(d, &args);
    std::fs::read(d.join("nopass.p12")).unwrap()
}

#[test]
fn files_without_a_password_are_read_with_none() {
    let a = alice();
    let dir = tempdir();
    let d = dir.path();
    // No MAC, no encryption: a plain keyBag and certificates in Data safes.
    let p12 =
        openssl_export_without_password(&a, d, &["-keypbe", "NONE", "-certpbe", "NONE", "-nomac"]);
    assert_alice(
        &a,
        &pkcs12::parse(&p12, "").unwrap(),
        "no MAC, no encryption",
    );
    let e = pkcs12::parse(&p12, PASSWORD).unwrap_err();
    assert_eq!(e.code(), "PKI-100", "{e}");
    // An empty password with a MAC and encryption (OpenSSL writes the empty BMPString).
    for flags in [&[][..], &["-legacy"][..], &["-nomac"][..]] {
        let p12 = openssl_export_without_password(&a, d, flags);
        let what = format!("empty password {flags:?}");
        let contents = pkcs12::parse(&p12, "").unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_alice(&a, &contents, &what);
    }
}

#[test]
fn python_cryptography_no_encryption_bundle_is_read_without_password() {
    let a = alice();
    let dir = tempdir();
    let d = dir.path();
    write_pem_cert(d, "cert.pem", &a.cert);
    write_pem_cert(d, "ca.pem", a.ca.certificate());
    let script = r#"
import sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
cert = x509.load_pem_x509_certificate(open("cert.pem", "rb").read())
ca = x509.load_pem_x509_certificate(open("ca.pem", "rb").read())
out = pkcs12.serialize_key_and_certificates(
    b"alice", key, cert, [ca], serialization.NoEncryption())
open("crypto.p12", "wb").write(out)
"#;
    let key_path = keys_dir().join("alice-enc.key.pem");
    let status = std::process::Command::new("python3")
        .current_dir(d)
        .args(["-c", script, key_path.to_str().unwrap()])
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            eprintln!(
                "SKIPPED: python3 with the `cryptography` package is not available ({other:?})"
            );
            return;
        }
    }
    let p12 = std::fs::read(d.join("crypto.p12")).unwrap();
    let contents = pkcs12::parse(&p12, "").unwrap();
    assert_eq!(contents.keys.len(), 1);
    assert_eq!(contents.keys[0].key.public_key(), a.key.public_key());
    assert_eq!(
        contents.keys[0].certificate.as_ref().map(der),
        Some(der(&a.cert))
    );
    assert_eq!(contents.keys[0].friendly_name.as_deref(), Some("alice"));
    assert_eq!(
        sorted_ders(&contents.certificates),
        sorted_ders([a.ca.certificate()])
    );
}

// ------------------------------------------------------------------------------------------
// NSS's, read by us (a committed pk12util file: BER with indefinite lengths and chunks).

fn nss_fixture(file: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/nss")
            .join(file),
    )
    .unwrap()
}

#[test]
fn nss_pk12util_ber_bundle_is_read() {
    let p12 = nss_fixture("alice-nss.p12");
    // It really is BER: an indefinite-length PFX, which plain DER decoding refuses.
    assert_eq!(&p12[..2], &[0x30, 0x80]);
    let contents = pkcs12::parse(&p12, "nss fixture pw").unwrap();
    assert_eq!(contents.keys.len(), 1);
    let k = &contents.keys[0];
    assert_eq!(k.key.public_key(), key("alice-enc").public_key());
    assert_eq!(
        k.certificate.as_ref().map(der),
        Some(nss_fixture("alice-nss.cer"))
    );
    assert_eq!(k.friendly_name.as_deref(), Some("alice"));
    assert!(contents.certificates.is_empty());
    // The MAC still guards it: a wrong password, no password, one flipped content bit.
    assert_eq!(
        pkcs12::parse(&p12, "nss fixture PW").unwrap_err().code(),
        "PKI-050"
    );
    assert_eq!(pkcs12::parse(&p12, "").unwrap_err().code(), "PKI-101");
    let mut bad = p12.clone();
    let middle = p12.len() / 2;
    bad[middle] ^= 0x01;
    assert!(
        ["PKI-001", "PKI-050"].contains(&pkcs12::parse(&bad, "nss fixture pw").unwrap_err().code())
    );
    // Cut short anywhere: a typed error.
    for len in (0..p12.len()).step_by(97) {
        assert!(
            pkcs12::parse(&p12[..len], "nss fixture pw").is_err(),
            "{len}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// Bad input.

fn small_bundle(profile: ExportOptions) -> (Alice, Vec<u8>) {
    let a = alice();
    let p12 = pkcs12::export(
        &[Pkcs12Entry {
            key: &a.key,
            certificate: &a.cert,
            friendly_name: Some("alice"),
        }],
        std::slice::from_ref(a.ca.certificate()),
        PASSWORD,
        &profile,
        &mut pki::os_rng(),
    )
    .unwrap();
    (a, p12)
}

#[test]
fn wrong_or_empty_password_is_pki_050() {
    for options in [modern(), ExportOptions::legacy()] {
        let (a, p12) = small_bundle(options);
        let ok = pkcs12::parse(&p12, PASSWORD).unwrap();
        assert_eq!(ok.keys[0].key.public_key(), a.key.public_key());
        for wrong in [
            "Correct horse battery staple",
            " correct horse battery staple",
        ] {
            let e = pkcs12::parse(&p12, wrong).unwrap_err();
            assert!(matches!(e, pki::Error::Pkcs12BadPassword), "{e:?}");
            assert_eq!(e.code(), "PKI-050");
        }
        // No password at all for a file that has one: says so.
        let e = pkcs12::parse(&p12, "").unwrap_err();
        assert_eq!(e.code(), "PKI-101", "{e}");
    }
    // And the other way round: a file with an empty password, opened with a set one.
    let a = alice();
    let p12 = pkcs12::export(
        &[Pkcs12Entry {
            key: &a.key,
            certificate: &a.cert,
            friendly_name: None,
        }],
        &[],
        "",
        &modern(),
        &mut pki::os_rng(),
    )
    .unwrap();
    assert_eq!(pkcs12::parse(&p12, PASSWORD).unwrap_err().code(), "PKI-050");
    let contents = pkcs12::parse(&p12, "").unwrap();
    assert_eq!(contents.keys[0].key.public_key(), a.key.public_key());
    // OpenSSL reads our empty-password file too.
    let dir = tempdir();
    write(dir.path(), "empty.p12", &p12);
    let dump = openssl_dump(dir.path(), "empty.p12", "", &[]);
    assert_eq!(printed_public_keys(&dump), vec![a.key.public_key()]);
}

#[test]
fn damaged_files_are_typed_errors_never_panics() {
    let (_, p12) = small_bundle(modern().with_iterations(1));
    // Truncated anywhere.
    for len in (0..p12.len()).step_by(7).chain([p12.len() - 1]) {
        let e = pkcs12::parse(&p12[..len], PASSWORD).unwrap_err();
        assert_eq!(e.code(), "PKI-001", "truncated to {len}: {e}");
    }
    // One flipped bit anywhere: bad DER, an unsupported value, or a MAC failure.
    for pos in (0..p12.len()).step_by(3) {
        let mut bad = p12.clone();
        bad[pos] ^= 0x01;
        let e = pkcs12::parse(&bad, PASSWORD).unwrap_err();
        assert!(
            ["PKI-001", "PKI-021", "PKI-050", "PKI-051"].contains(&e.code()),
            "flip at {pos}: {e}"
        );
    }
    // A flip inside the protected content is always caught by the MAC.
    let mut bad = p12.clone();
    let middle = p12.len() / 2;
    bad[middle] ^= 0x80;
    assert_eq!(pkcs12::parse(&bad, PASSWORD).unwrap_err().code(), "PKI-050");
    // BER with an indefinite outer length (NSS, Windows and Java write BER): read; without
    // its end-of-contents octets: a typed error.
    let header = 2 + usize::from(p12[1] & 0x7f) * usize::from(p12[1] >> 7);
    let ber = [&[0x30, 0x80][..], &p12[header..], &[0, 0]].concat();
    let contents = pkcs12::parse(&ber, PASSWORD).unwrap();
    assert_eq!(contents.keys.len(), 1);
    assert_eq!(
        pkcs12::parse(&ber[..ber.len() - 2], PASSWORD)
            .unwrap_err()
            .code(),
        "PKI-001"
    );
    // Trailing garbage after the PFX.
    let mut longer = p12.clone();
    longer.push(0);
    assert_eq!(
        pkcs12::parse(&longer, PASSWORD).unwrap_err().code(),
        "PKI-001"
    );
}

#[test]
fn random_and_hostile_bytes_are_typed_errors() {
    use rand_core::Rng;
    let mut rng = pki::os_rng();
    for n in [0usize, 1, 2, 16, 100, 1000, 5000] {
        for _ in 0..20 {
            let mut bytes = vec![0u8; n];
            rng.fill_bytes(&mut bytes);
            assert!(pkcs12::parse(&bytes, PASSWORD).is_err());
            // Random bytes behind a plausible SEQUENCE header get further into the decoder.
            if n >= 4 {
                bytes[0] = 0x30;
                bytes[1] = 0x82;
                bytes[2] = ((n - 4) >> 8) as u8;
                bytes[3] = ((n - 4) & 0xff) as u8;
                assert!(pkcs12::parse(&bytes, PASSWORD).is_err());
            }
        }
    }
    // Not PKCS#12 at all: a certificate, and PEM text.
    let a = alice();
    let e = pkcs12::parse(&der(&a.cert), PASSWORD).unwrap_err();
    assert_eq!(e.code(), "PKI-001", "{e}");
    let e = pkcs12::parse(certificate::to_pem(&a.cert).unwrap().as_bytes(), PASSWORD).unwrap_err();
    assert_eq!(e.code(), "PKI-002", "{e}");
    let huge = vec![0u8; pkcs12::MAX_PKCS12_SIZE + 1];
    assert_eq!(
        pkcs12::parse(&huge, PASSWORD).unwrap_err().code(),
        "PKI-004"
    );
}

#[test]
fn export_refuses_a_key_that_does_not_match_its_certificate() {
    let a = alice();
    let wrong = key("alice-sign");
    let e = pkcs12::export(
        &[Pkcs12Entry {
            key: &wrong,
            certificate: &a.cert,
            friendly_name: None,
        }],
        &[],
        PASSWORD,
        &modern(),
        &mut pki::os_rng(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "PKI-031", "{e}");
    let e = pkcs12::export(
        &[Pkcs12Entry {
            key: &a.key,
            certificate: &a.cert,
            friendly_name: None,
        }],
        &[],
        PASSWORD,
        &ExportOptions::modern().with_iterations(pkcs12::MAX_ITERATIONS + 1),
        &mut pki::os_rng(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "PKI-031", "{e}");
}

#[test]
fn bundles_with_only_certificates_or_only_a_key() {
    // A CA chain without keys round trips.
    let a = alice();
    let p12 = pkcs12::export(
        &[],
        std::slice::from_ref(a.ca.certificate()),
        PASSWORD,
        &modern(),
        &mut pki::os_rng(),
    )
    .unwrap();
    let contents = pkcs12::parse(&p12, PASSWORD).unwrap();
    assert!(contents.keys.is_empty());
    assert_eq!(
        sorted_ders(&contents.certificates),
        sorted_ders([a.ca.certificate()])
    );
    // A key without its certificate (`openssl pkcs12 -export -nocerts`, which still adds the
    // -certfile CA): the CA certificate is not taken for the key's.
    let dir = tempdir();
    let p12 = openssl_export(&a, dir.path(), &["-nocerts"]);
    let contents = pkcs12::parse(&p12, PASSWORD).unwrap();
    assert_eq!(contents.keys.len(), 1);
    assert_eq!(contents.keys[0].key.public_key(), a.key.public_key());
    assert!(contents.keys[0].certificate.is_none());
    assert_eq!(
        sorted_ders(&contents.certificates),
        sorted_ders([a.ca.certificate()])
    );
}

#[test]
fn default_options_use_100k_iterations_and_openssl_agrees() {
    let a = alice();
    let p12 = pkcs12::export(
        &[Pkcs12Entry {
            key: &a.key,
            certificate: &a.cert,
            friendly_name: Some("alice"),
        }],
        &[],
        PASSWORD,
        &ExportOptions::default(),
        &mut pki::os_rng(),
    )
    .unwrap();
    let dir = tempdir();
    let d = dir.path();
    write(d, "default.p12", &p12);
    let info = openssl_info(d, "default.p12", PASSWORD, &[]);
    assert!(info.contains("MAC: sha256, Iteration 100000"), "{info}");
    assert!(
        info.contains(
            "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 100000, PRF hmacWithSHA256"
        ),
        "{info}"
    );
    assert!(info.contains("MAC length: 32, salt length: 16"), "{info}");
    let contents = pkcs12::parse(&p12, PASSWORD).unwrap();
    assert_eq!(contents.keys[0].key.public_key(), a.key.public_key());
}
