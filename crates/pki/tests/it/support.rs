//! Shared fixtures for the integration tests: the committed test keys, a test CA, fixed
//! times, and a runner for the OpenSSL CLI that fails with its stderr.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pki::{
    Certificate, ContentAlgorithm, DigestAlgorithm, Issuer, Name, Period, PrivateKey, Profile,
    RevocationUrls, SmimeSubject,
};

/// The fixed "now" of the tests: 2026-01-01T00:00:00Z.
pub const NOW_UNIX: u64 = 1_767_225_600;

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_UNIX)
}

pub fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// A period from a day before `now()` to a year after.
pub fn one_year() -> Period {
    Period {
        not_before: now() - days(1),
        not_after: now() + days(365),
    }
}

/// `-attime` value for OpenSSL: an hour after `now()`.
pub fn attime() -> String {
    (NOW_UNIX + 3600).to_string()
}

pub fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys")
}

/// A committed test key by file stem (`alice-sign`, `ca-3072`, ...).
pub fn key(name: &str) -> PrivateKey {
    let path = keys_dir().join(format!("{name}.key.pem"));
    let pem = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    PrivateKey::from_pem_or_der(&pem).unwrap()
}

pub fn name(dn: &str) -> Name {
    dn.parse().unwrap()
}

pub fn revocation_urls() -> RevocationUrls {
    RevocationUrls {
        crl: Some("http://ca.example.test/crl".into()),
        delta_crl: Some("http://ca.example.test/crl/delta".into()),
        ca_issuers: None,
        ocsp: None,
    }
}

/// The test CA (RSA-3072 key from `keys/`), self-signed with SHA-256.
pub fn test_ca() -> Issuer {
    Issuer::self_signed(
        key("ca-3072"),
        &Profile::Ca {
            subject: name("CN=KMS Test CA,O=Example Org,C=GB"),
            path_len: Some(0),
        },
        Period {
            not_before: now() - days(30),
            not_after: now() + days(3650),
        },
        DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    )
    .unwrap()
}

pub fn smime_subject(user: &str, caps: &[ContentAlgorithm]) -> SmimeSubject {
    SmimeSubject {
        subject: name(&format!("CN={user},O=Example Org")),
        email: format!("{}@example.test", user.to_lowercase()),
        capabilities: caps.to_vec(),
        revocation: revocation_urls(),
        sbr: None,
        policy: pki::PolicyExtras::default(),
    }
}

/// A user's signing and encryption certificates from the committed keys `{user}-sign` and
/// `{user}-enc`.
pub fn user_certs(ca: &Issuer, user: &str) -> (Certificate, Certificate) {
    let caps = ContentAlgorithm::RANKING.to_vec();
    let s = smime_subject(user, &caps);
    let mut rng = pki::os_rng();
    let sign = ca
        .issue(
            &Profile::SmimeSigning(s.clone()),
            &key(&format!("{}-sign", user.to_lowercase())).public_key(),
            one_year(),
            &mut rng,
        )
        .unwrap();
    let enc = ca
        .issue(
            &Profile::SmimeEncryption(s),
            &key(&format!("{}-enc", user.to_lowercase())).public_key(),
            one_year(),
            &mut rng,
        )
        .unwrap();
    (sign, enc)
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn write(dir: &Path, file: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(file);
    std::fs::write(&p, bytes).unwrap();
    p
}

pub fn write_pem_cert(dir: &Path, file: &str, cert: &Certificate) -> PathBuf {
    write(dir, file, pki::certificate::to_pem(cert).unwrap())
}

/// Runs `openssl ARGS` in `dir` and returns its output, whatever the exit status.
pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI must be installed (.ci/run installs it)")
}

/// Runs `openssl ARGS` and panics with its stderr unless it succeeds.
pub fn openssl_ok(dir: &Path, args: &[&str]) -> Output {
    let out = openssl(dir, args);
    assert!(
        out.status.success(),
        "openssl {} failed:\nstdout: {}\nstderr: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `openssl ARGS`, expecting failure; returns stdout+stderr text.
pub fn openssl_fails(dir: &Path, args: &[&str]) -> String {
    let out = openssl(dir, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "openssl {} should have failed but succeeded:\n{text}",
        args.join(" ")
    );
    text
}

/// OpenSSL 3's legacy provider flags, for DES, RC2 and CAST5.
pub const LEGACY: [&str; 4] = ["-provider", "legacy", "-provider", "default"];
