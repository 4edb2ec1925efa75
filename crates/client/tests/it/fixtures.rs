//! Test material for the binaries: a CA and users issued from the committed keys in `keys/`,
//! PKCS#12 files, CRLs, and helpers to run `lockbox` and `openssl`.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pki::crl::{CrlBuilder, CrlEntry, RevocationReason};
use pki::pkcs12::{ExportOptions, Pkcs12Entry};
use pki::{
    Certificate, ContentAlgorithm, DigestAlgorithm, Issuer, Period, PrivateKey, Profile,
    RevocationUrls, SmimeSubject,
};

pub const PASSWORD: &str = "correct horse battery staple";
/// The fixed validation time of the tests: 2026-01-01T00:00:00Z.
pub const AT: &str = "2026-01-01T00:00:00Z";
pub const AT_UNIX: u64 = 1_767_225_600;

pub fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(AT_UNIX)
}

pub fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

pub fn key(name: &str) -> PrivateKey {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../keys/{name}.key.pem"));
    PrivateKey::from_pem_or_der(&std::fs::read(p).unwrap()).unwrap()
}

/// A CA and the users of one test, written to a temporary directory.
pub struct World {
    pub dir: tempfile::TempDir,
    pub ca: Issuer,
}

pub struct User {
    pub email: String,
    pub sign: Certificate,
    pub enc: Certificate,
}

impl World {
    pub fn new() -> Self {
        let ca = Issuer::self_signed(
            key("ca-3072"),
            &Profile::Ca {
                subject: "CN=Lockbox Test CA,O=Example Org".parse().unwrap(),
                path_len: Some(0),
            },
            Period {
                not_before: at() - days(30),
                not_after: at() + days(3650),
            },
            DigestAlgorithm::Sha256,
            &mut pki::os_rng(),
        )
        .unwrap();
        let w = World {
            dir: tempfile::tempdir().unwrap(),
            ca,
        };
        w.write(
            "ca.pem",
            pki::certificate::to_pem(w.ca.certificate()).unwrap(),
        );
        w
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// Issues `{name}`'s signing and encryption certificates from keys `{key_stem}-sign` /
    /// `{key_stem}-enc` (or `enc_key` for the encryption key), valid for a year around
    /// [`at`], and writes `{name}-sign.pem`, `{name}-enc.pem`, `{name}.p12`.
    pub fn user(
        &self,
        name: &str,
        key_stem: &str,
        enc_key: &str,
        caps: &[ContentAlgorithm],
    ) -> User {
        let email = format!("{name}@example.test");
        let s = SmimeSubject {
            subject: format!("CN={name},O=Example Org").parse().unwrap(),
            email: email.clone(),
            capabilities: caps.to_vec(),
            revocation: RevocationUrls {
                crl: Some("http://ca.example.test/crl".into()),
                delta_crl: None,
                ca_issuers: None,
                ocsp: None,
            },
            sbr: None,
            policy: pki::PolicyExtras::default(),
        };
        let period = Period {
            not_before: at() - days(1),
            not_after: at() + days(365),
        };
        let mut rng = pki::os_rng();
        let sign_key = key(&format!("{key_stem}-sign"));
        let enc_key_pair = key(enc_key);
        let sign = self
            .ca
            .issue(
                &Profile::SmimeSigning(s.clone()),
                &sign_key.public_key(),
                period,
                &mut rng,
            )
            .unwrap();
        let enc = self
            .ca
            .issue(
                &Profile::SmimeEncryption(s),
                &enc_key_pair.public_key(),
                period,
                &mut rng,
            )
            .unwrap();
        self.write(
            &format!("{name}-sign.pem"),
            pki::certificate::to_pem(&sign).unwrap(),
        );
        self.write(
            &format!("{name}-enc.pem"),
            pki::certificate::to_pem(&enc).unwrap(),
        );
        self.write(
            &format!("{name}-sign.key"),
            sign_key.to_pkcs8_pem().unwrap().as_bytes(),
        );
        self.write(
            &format!("{name}-enc.key"),
            enc_key_pair.to_pkcs8_pem().unwrap().as_bytes(),
        );
        let p12 = pki::pkcs12::export(
            &[
                Pkcs12Entry {
                    key: &sign_key,
                    certificate: &sign,
                    friendly_name: Some("signing"),
                },
                Pkcs12Entry {
                    key: &enc_key_pair,
                    certificate: &enc,
                    friendly_name: Some("encryption"),
                },
            ],
            &[self.ca.certificate().clone()],
            PASSWORD,
            &ExportOptions::default().with_iterations(2048),
            &mut rng,
        )
        .unwrap();
        self.write(&format!("{name}.p12"), p12);
        User { email, sign, enc }
    }

    /// Signs a CRL listing `revoked` (serial, reason) and writes it as `name` (DER).
    pub fn crl(
        &self,
        name: &str,
        number: u64,
        revoked: &[(&Certificate, RevocationReason)],
        this_update: SystemTime,
    ) -> PathBuf {
        let mut b = CrlBuilder::new(number, this_update, this_update + days(7)).unwrap();
        for (cert, reason) in revoked {
            b.add(&CrlEntry {
                serial: cert.tbs_certificate().serial_number().as_bytes().to_vec(),
                revoked_at: this_update - days(1) / 2,
                reason: *reason,
            })
            .unwrap();
        }
        self.write(name, b.sign(&self.ca).unwrap())
    }

    pub fn message(&self, name: &str) -> PathBuf {
        self.write(
            name,
            "From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>\r\nSubject: quarterly figures\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe numbers are in.\r\nSee you Monday.\r\n",
        )
    }

    /// Runs `lockbox ARGS` in the test directory with `stdin` as its standard input.
    pub fn lockbox(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .args(args)
            // Never the user's real CRL cache.
            .env("LOCKBOX_CRL_CACHE", self.path("crl-cache"))
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            let mut input = child.stdin.take().unwrap();
            if let Some(s) = stdin {
                input.write_all(s.as_bytes()).unwrap();
            }
        }
        child.wait_with_output().unwrap()
    }

    pub fn openssl(&self, args: &[&str]) -> Output {
        Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl CLI")
    }

    pub fn openssl_ok(&self, args: &[&str]) -> Output {
        let out = self.openssl(args);
        assert!(
            out.status.success(),
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

/// Asserts success and returns stdout+stderr.
pub fn ok(out: &Output) -> String {
    assert!(out.status.success(), "exit {}: {}", code(out), text(out));
    text(out)
}

/// A user whose PKCS#12 holds a key history, as a recovery bundle does.
pub struct HistoryUser {
    pub email: String,
    pub sign: Certificate,
    /// The current encryption certificate (issued last).
    pub enc: Certificate,
    /// The previous encryption certificate.
    pub enc_old: Certificate,
}

impl World {
    /// Like [`World::user`], plus an older encryption certificate from `old_enc_key` issued a
    /// year earlier; writes `{name}-enc-old.pem` / `.key` and a `{name}.p12` holding the
    /// signing key and both encryption keys.
    pub fn user_with_history(
        &self,
        name: &str,
        key_stem: &str,
        old_enc_key: &str,
        enc_key: &str,
        caps: &[ContentAlgorithm],
    ) -> HistoryUser {
        let u = self.user(name, key_stem, enc_key, caps);
        let s = SmimeSubject {
            subject: format!("CN={name},O=Example Org").parse().unwrap(),
            email: u.email.clone(),
            capabilities: caps.to_vec(),
            revocation: RevocationUrls {
                crl: Some("http://ca.example.test/crl".into()),
                delta_crl: None,
                ca_issuers: None,
                ocsp: None,
            },
            sbr: None,
            policy: pki::PolicyExtras::default(),
        };
        let mut rng = pki::os_rng();
        let old_key = key(old_enc_key);
        let enc_old = self
            .ca
            .issue(
                &Profile::SmimeEncryption(s),
                &old_key.public_key(),
                Period {
                    not_before: at() - days(400),
                    not_after: at() + days(365),
                },
                &mut rng,
            )
            .unwrap();
        self.write(
            &format!("{name}-enc-old.pem"),
            pki::certificate::to_pem(&enc_old).unwrap(),
        );
        self.write(
            &format!("{name}-enc-old.key"),
            old_key.to_pkcs8_pem().unwrap().as_bytes(),
        );
        let sign_key = key(&format!("{key_stem}-sign"));
        let enc_key_pair = key(enc_key);
        let p12 = pki::pkcs12::export(
            &[
                Pkcs12Entry {
                    key: &sign_key,
                    certificate: &u.sign,
                    friendly_name: Some("signing"),
                },
                Pkcs12Entry {
                    key: &old_key,
                    certificate: &enc_old,
                    friendly_name: Some("encryption (old)"),
                },
                Pkcs12Entry {
                    key: &enc_key_pair,
                    certificate: &u.enc,
                    friendly_name: Some("encryption"),
                },
            ],
            &[self.ca.certificate().clone()],
            PASSWORD,
            &ExportOptions::default().with_iterations(2048),
            &mut rng,
        )
        .unwrap();
        self.write(&format!("{name}.p12"), p12);
        HistoryUser {
            email: u.email,
            sign: u.sign,
            enc: u.enc,
            enc_old,
        }
    }

    /// Runs `sectool ARGS` in the test directory with `stdin` as its standard input.
    pub fn sectool(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let child = self.sectool_spawn(args, stdin);
        child.wait_with_output().unwrap()
    }

    /// Starts `sectool ARGS` and writes `stdin`; the caller waits for (or kills) it.
    pub fn sectool_spawn(&self, args: &[&str], stdin: Option<&str>) -> std::process::Child {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sectool"))
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            let mut input = child.stdin.take().unwrap();
            if let Some(s) = stdin {
                // The run may exit (bad usage) before it reads its input.
                let _ = input.write_all(s.as_bytes());
            }
        }
        child
    }
}
