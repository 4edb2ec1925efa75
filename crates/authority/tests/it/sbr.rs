//! Certificates per the S/MIME Baseline Requirements: every profile's signing and
//! encryption certificates, the CA certificate and the full and delta CRLs, checked with our
//! pre-issuance lint and with DigiCert's `pkilint` (PyPI; installed by `.ci/run`), and a
//! sponsored profile refused without the person's name.

use std::path::Path;
use std::process::Command;

use authority::{Admin, Error, NewUser, RevokeTarget};
use escrow::Password;
use pki::SbrProfile;
use pki::crl::RevocationReason;
use pki::lint::{Severity, lint_certificate};

use super::{ADMIN_PW, Fixture, csr, fixture};

/// The usual fixture, with a public URL a relying party could reach (pkilint refuses
/// internal names such as 127.0.0.1 in CRL and AIA URLs, `cabf.internal_domain_name`).
fn public_fixture() -> Fixture {
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let clock = Arc::new(authority::ManualClock::new(super::start()));
    let pg = super::new_database();
    let auth = super::init_on(
        pg.as_ref(),
        authority::InitParams {
            data_dir: &dir,
            ca_subject: "CN=Test CA,O=Example",
            admin_name: "admin",
            admin_password: &Password::new(ADMIN_PW),
            unlock: escrow::InitOptions {
                password: Some(Password::new("start-up password")),
                key_file: None,
                argon2: escrow::Argon2Params::new(64, 1, 1),
            },
            public_url: "http://pki.example.com",
            ca_key: Some(super::key("ca-3072.key.pem")),
        },
        authority::Config {
            organization_identifier: Some("NTRGB-12345678".into()),
            ..super::config()
        },
        clock.clone(),
    )
    .unwrap();
    Fixture {
        _dir: tmp,
        dir,
        clock,
        auth,
        pg,
    }
}

fn admin(f: &Fixture) -> Admin {
    f.auth
        .login("admin", &Password::new(ADMIN_PW))
        .unwrap()
        .admin
}

/// True when pkilint's linters are on the PATH; says so loudly when not.
fn pkilint_present() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import pkilint"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "\n\n!!!!! SKIPPED: pkilint is not installed (python3 -m pip install pkilint); \
             the certificates were linted by our own lint only !!!!!\n\n"
        );
    }
    ok
}

/// Runs a pkilint command on `file`, prints its findings, and fails on any ERROR or FATAL.
fn pkilint(args: &[&str], file: &Path) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .args(["-s", "WARNING"])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args[0]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{} {}:\n{text}{err}", args.join(" "), file.display());
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(ERROR)") || l.contains("(FATAL)"))
        .collect();
    assert!(bad.is_empty(), "{}: {bad:#?}", file.display());
    assert!(
        !err.contains("Traceback"),
        "{} failed on {}: {err}",
        args[0],
        file.display()
    );
}

fn our_lint(der: &[u8], expect: Option<SbrProfile>) {
    let cert = pki::certificate::parse_certificate(der).unwrap();
    let report = lint_certificate(&cert, expect);
    for f in &report.findings {
        eprintln!("our lint: {} {} {}", f.severity.as_str(), f.rule, f.message);
    }
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.severity != Severity::Error),
        "{:#?}",
        report.findings
    );
    assert_eq!(report.profile, expect);
}

#[test]
fn every_profile_passes_our_lint_and_pkilint() {
    let f = public_fixture();
    let admin = admin(&f);
    let tmp = tempfile::tempdir().unwrap();
    let with_pkilint = pkilint_present();
    f.auth.add_pool_keys(vec![
        super::key("spare-1.key.pem"),
        super::key("spare-2.key.pem"),
        super::key("spare-3.key.pem"),
        super::key("spare-4.key.pem"),
    ]);
    let signing_keys = ["alice-sign", "bob-sign", "carol-sign", "alice-enc-old"];
    for (i, profile) in SbrProfile::ALL.into_iter().enumerate() {
        let email = format!("user{i}@example.com");
        let sponsored = profile.name.starts_with("sponsored");
        let (_, token) = f
            .auth
            .add_user_with(
                &admin,
                &NewUser {
                    email: &email,
                    name: "Someone",
                    given_name: sponsored.then_some("Alice"),
                    surname: sponsored.then_some("Doe"),
                    profile: Some(profile.name),
                    ..NewUser::default()
                },
            )
            .unwrap();
        let e = f
            .auth
            .enroll(
                token.token.expose(),
                &csr(&format!("{}.key.pem", signing_keys[i]), &email),
            )
            .unwrap();
        for (kind, der) in [
            ("signing", &e.signing_cert),
            ("encryption", &e.encryption_cert),
        ] {
            our_lint(der, Some(profile));
            let cert = pki::certificate::parse_certificate(der).unwrap();
            let subject = cert.tbs_certificate().subject().to_string();
            if sponsored {
                for part in [
                    "O=Example",
                    "2.5.4.97=",
                    "GN=Alice",
                    "SN=Doe",
                    "CN=Alice Doe",
                ] {
                    assert!(
                        subject.contains(part)
                            || subject.contains(&part.replace("GN=", "givenName=")),
                        "{subject} lacks {part}"
                    );
                }
            } else {
                assert_eq!(subject, format!("CN={email}"));
            }
            if with_pkilint {
                let path = tmp.path().join(format!("{}-{kind}.der", profile.name));
                std::fs::write(&path, der).unwrap();
                pkilint(
                    &["lint_cabf_smime_cert", "lint", "-t", profile.pkilint_type],
                    &path,
                );
            }
        }
    }
    // The CA certificate.
    let published = f.auth.published();
    let ca = pki::certificate::parse_certificate(&published.ca_der).unwrap();
    let report = lint_certificate(&ca, None);
    assert_eq!(report.kind, pki::lint::Kind::Ca);
    assert!(report.passes(), "{:#?}", report.findings);
    // A revocation, so the CRLs have entries with a reason.
    f.auth
        .revoke(
            &admin,
            &RevokeTarget::User("user0@example.com".into()),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    if with_pkilint {
        let ca_path = tmp.path().join("ca.der");
        std::fs::write(&ca_path, &published.ca_der).unwrap();
        pkilint(&["lint_pkix_cert", "lint"], &ca_path);
        let published = f.auth.published();
        for (name, der) in [
            ("crl", &published.crl_der),
            ("delta", &published.delta_crl_der),
        ] {
            let path = tmp.path().join(format!("{name}.crl"));
            std::fs::write(&path, der).unwrap();
            pkilint(&["lint_crl", "lint", "-t", "CRL", "-p", "BR"], &path);
        }
    }
}

#[test]
fn a_sponsored_profile_without_the_persons_name_is_refused_naming_the_rule() {
    let f = fixture();
    let admin = admin(&f);
    let err = f
        .auth
        .add_user_with(
            &admin,
            &NewUser {
                email: "nameless@example.com",
                name: "Nameless",
                profile: Some("sponsored-strict"),
                ..NewUser::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "AUTH-080", "{err}");
    assert!(
        matches!(
            err,
            Error::ProfileRefused {
                rule: "sbr.subject.person_name",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("sbr.subject.person_name"), "{err}");
    // An unknown profile name is refused as bad input.
    let err = f
        .auth
        .add_user_with(
            &admin,
            &NewUser {
                email: "x@example.com",
                name: "X",
                profile: Some("sponsored-lenient"),
                ..NewUser::default()
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("mailbox-strict"), "{err}");
}

#[test]
fn a_sponsored_user_is_refused_while_the_authority_has_no_organization_identifier() {
    // The plain fixture's authority has no organization_identifier (kmsd.toml refuses an
    // authority-wide sponsored profile without one; a per-user one is refused here).
    let f = fixture();
    let officer = admin(&f);
    let new = NewUser {
        email: "staff@example.com",
        name: "Staff Member",
        given_name: Some("Staff"),
        surname: Some("Member"),
        profile: Some("sponsored-multipurpose"),
        ..NewUser::default()
    };
    let err = f.auth.add_user_with(&officer, &new).unwrap_err();
    assert_eq!(err.code(), "AUTH-080", "{err}");
    assert!(
        matches!(
            err,
            Error::ProfileRefused {
                rule: "sbr.subject.organization_identifier",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("organization_identifier"), "{err}");
    // With the identifier set, the same user is accepted.
    let f = public_fixture();
    let officer = admin(&f);
    f.auth.add_user_with(&officer, &new).unwrap();
}
