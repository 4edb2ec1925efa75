//! Renewal with a window and the users it skips; the backup schedule as a setting under the
//! `backup-schedule` quorum; the server's settings carried in backups; the directory's
//! signing certificate.

use std::time::Duration;

use authority::{Admin, Error, RevokeTarget, Role};
use escrow::Password;
use pki::crl::RevocationReason;

use super::{ADMIN_PW, Fixture, csr, fixture, key};

const DAY: u64 = 86_400;

fn admin(f: &Fixture) -> Admin {
    f.auth
        .login("admin", &Password::new(ADMIN_PW))
        .unwrap()
        .admin
}

fn enroll(f: &Fixture, admin: &Admin, email: &str, key_name: &str) {
    let (_, token) = f.auth.add_user(admin, email, "Someone", &[]).unwrap();
    f.auth
        .enroll(token.token.expose(), &csr(key_name, email))
        .unwrap();
}

/// (renewed, failed, skipped as (email, reason)) of a batch.
fn outcome(b: &authority::BatchRenewal) -> (Vec<&str>, Vec<&str>, Vec<(&str, &str)>) {
    (
        b.renewed.iter().map(|r| r.email.as_str()).collect(),
        b.failed.iter().map(|(e, _)| e.as_str()).collect(),
        b.skipped
            .iter()
            .map(|s| (s.email.as_str(), s.reason))
            .collect(),
    )
}

#[test]
fn renewal_window_renews_only_what_expires_and_reports_who_was_skipped() {
    let f = fixture();
    let a = &f.auth;
    a.add_pool_keys(vec![key("spare-3.key.pem"), key("spare-4.key.pem")]);
    let admin = admin(&f);
    enroll(&f, &admin, "alice@example.com", "alice-sign.key.pem");
    enroll(&f, &admin, "bob@example.com", "bob-sign.key.pem");
    enroll(&f, &admin, "dave@example.com", "carol-sign.key.pem");
    a.add_user(&admin, "carol@example.com", "Carol", &[])
        .unwrap();
    a.revoke(
        &admin,
        &RevokeTarget::User("bob@example.com".into()),
        RevocationReason::KeyCompromise,
    )
    .unwrap();
    a.disable_user(&admin, "dave@example.com").unwrap();
    let others = [
        ("bob@example.com", authority::SKIP_REVOKED),
        ("carol@example.com", authority::SKIP_NOT_ENROLLED),
        ("dave@example.com", authority::SKIP_DISABLED),
    ];

    // Fresh certificates (a year): nothing expires within 30 days.
    let within = Some(Duration::from_secs(30 * DAY));
    let b = a.renew_expiring(&admin, within).unwrap();
    let mut skipped = vec![("alice@example.com", authority::SKIP_NOT_EXPIRING)];
    skipped.extend(others);
    assert_eq!(outcome(&b), (vec![], vec![], skipped));

    // 340 days on, Alice's certificates expire within the window: renewed, once.
    f.clock.advance(Duration::from_secs(340 * DAY));
    let admin = self::admin(&f);
    let b = a.renew_expiring(&admin, within).unwrap();
    assert_eq!(
        outcome(&b),
        (vec!["alice@example.com"], vec![], others.to_vec())
    );
    assert_eq!(b.renewed[0].certificates.len(), 2);
    let b = a.renew_expiring(&admin, within).unwrap();
    assert_eq!(outcome(&b).0, Vec::<&str>::new());
    assert_eq!(
        outcome(&b).2[0],
        ("alice@example.com", authority::SKIP_NOT_EXPIRING)
    );

    // Without a window: every enrolled active user, the others skipped, none failed.
    let b = a.renew_all(&admin).unwrap();
    assert_eq!(
        outcome(&b),
        (vec!["alice@example.com"], vec![], others.to_vec())
    );

    // Auditors may not renew.
    a.add_admin(
        &admin,
        "ann",
        Role::Auditor,
        &Password::new("password of ann"),
    )
    .unwrap();
    let ann = a
        .login("ann", &Password::new("password of ann"))
        .unwrap()
        .admin;
    assert_eq!(
        a.renew_expiring(&ann, within).unwrap_err().code(),
        "AUTH-004"
    );
    let entries = a.audit_list(&admin, None).unwrap();
    let targets: Vec<&str> = entries
        .iter()
        .filter(|e| e.action == "renew:all")
        .map(|e| e.target.as_str())
        .collect();
    assert!(targets.contains(&"within=2592000"), "{targets:?}");
}

#[test]
fn renewal_plan_names_who_would_be_renewed_and_renew_renewable_renews_only_them() {
    let f = fixture();
    let a = &f.auth;
    a.add_pool_keys(vec![key("spare-3.key.pem"), key("spare-4.key.pem")]);
    let admin = admin(&f);
    enroll(&f, &admin, "alice@example.com", "alice-sign.key.pem");
    enroll(&f, &admin, "bob@example.com", "bob-sign.key.pem");
    a.add_user(&admin, "carol@example.com", "Carol", &[])
        .unwrap();
    a.revoke(
        &admin,
        &RevokeTarget::User("bob@example.com".into()),
        RevocationReason::KeyCompromise,
    )
    .unwrap();

    let plan = a.renewal_plan(&admin, None).unwrap();
    assert_eq!(plan.renew, vec!["alice@example.com".to_string()]);
    let skipped: Vec<(&str, &str)> = plan
        .skipped
        .iter()
        .map(|s| (s.email.as_str(), s.reason))
        .collect();
    assert_eq!(
        skipped,
        vec![
            ("bob@example.com", authority::SKIP_REVOKED),
            ("carol@example.com", authority::SKIP_NOT_ENROLLED),
        ]
    );

    // A selection: only the renewable one is renewed; an unknown address is skipped.
    let chosen: Vec<String> = [
        "carol@example.com",
        "alice@example.com",
        "nobody@example.com",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let plan = a.renewal_plan(&admin, Some(&chosen)).unwrap();
    assert_eq!(plan.renew, vec!["alice@example.com".to_string()]);
    let b = a.renew_renewable(&admin, &chosen).unwrap();
    assert_eq!(
        outcome(&b),
        (
            vec!["alice@example.com"],
            vec![],
            vec![
                ("carol@example.com", authority::SKIP_NOT_ENROLLED),
                ("nobody@example.com", authority::SKIP_UNKNOWN),
            ]
        )
    );

    // Two years on every certificate has expired: nobody is renewable.
    f.clock.advance(Duration::from_secs(800 * DAY));
    let admin = self::admin(&f);
    let plan = a.renewal_plan(&admin, None).unwrap();
    assert!(plan.renew.is_empty(), "{plan:?}");
    assert!(
        plan.skipped
            .iter()
            .any(|s| s.email == "alice@example.com" && s.reason == authority::SKIP_EXPIRED),
        "{plan:?}"
    );

    // Auditors may not even ask.
    a.add_admin(
        &admin,
        "ann",
        Role::Auditor,
        &Password::new("password of ann"),
    )
    .unwrap();
    let ann = a
        .login("ann", &Password::new("password of ann"))
        .unwrap()
        .admin;
    assert_eq!(a.renewal_plan(&ann, None).unwrap_err().code(), "AUTH-004");
}

#[test]
fn directory_serves_the_signing_certificate_beside_the_encryption_one() {
    let f = fixture();
    let admin = admin(&f);
    enroll(&f, &admin, "alice@example.com", "alice-sign.key.pem");
    let entry = f.auth.directory("alice@example.com").unwrap();
    let signing =
        pki::certificate::parse_certificate(entry.signing_certificate.as_deref().unwrap()).unwrap();
    assert_eq!(
        pki::certificate::public_key(&signing).unwrap(),
        key("alice-sign.key.pem").public_key()
    );
    let encryption = pki::certificate::parse_certificate(&entry.certificate).unwrap();
    assert!(
        pki::CertificateInfo::from_certificate(&encryption)
            .unwrap()
            .can_encrypt
    );
}

#[test]
fn backup_schedule_is_a_setting_under_its_quorum_and_drives_the_scheduler() {
    let f = fixture();
    let a = &f.auth;
    let admin = admin(&f);
    // kmsd.toml's value (here the default: off) until a setting is made.
    let s = a.backup_schedule(&admin).unwrap();
    assert_eq!(
        (s.enabled, s.every, s.keep, s.next_at, s.last_at, s.source),
        (false, None, 7, None, None, "config")
    );
    assert!(a.backup_if_due().unwrap().is_none());

    // Refused arguments and roles change nothing.
    for (every, keep) in [(Some(1), 2), (Some(3600), 0), (Some(3600), 10_001)] {
        let e = a
            .set_backup_schedule(&admin, every.map(Duration::from_secs), keep)
            .unwrap_err();
        assert_eq!(e.code(), "AUTH-009", "{every:?} {keep}: {e}");
    }
    a.add_admin(
        &admin,
        "olga",
        Role::Officer,
        &Password::new("password of olga"),
    )
    .unwrap();
    let olga = a
        .login("olga", &Password::new("password of olga"))
        .unwrap()
        .admin;
    assert_eq!(
        a.set_backup_schedule(&olga, Some(Duration::from_secs(3600)), 2)
            .unwrap_err()
            .code(),
        "AUTH-004"
    );
    assert_eq!(a.backup_schedule(&admin).unwrap().source, "config");

    // Set: the scheduler follows it, and keeps `keep`.
    let s = a
        .set_backup_schedule(&admin, Some(Duration::from_secs(3600)), 2)
        .unwrap();
    let now = 1_800_000_000;
    assert_eq!(
        (s.enabled, s.every, s.keep, s.next_at, s.source),
        (true, Some(3600), 2, Some(now), "setting")
    );
    let first = a.backup_if_due().unwrap().expect("due at once");
    assert!(
        std::path::Path::new(&first.path).is_absolute(),
        "{}",
        first.path
    );
    assert!(a.backup_if_due().unwrap().is_none(), "not due again yet");
    let s = a.backup_schedule(&admin).unwrap();
    assert_eq!((s.last_at, s.next_at), (Some(now), Some(now + 3600)));
    for _ in 0..3 {
        f.clock.advance(Duration::from_secs(3601));
        assert!(a.backup_if_due().unwrap().is_some());
    }
    let admin = self::admin(&f);
    assert_eq!(a.backups(&admin).unwrap().len(), 2);
    assert!(a.status(&admin).unwrap().backup_schedule.enabled);

    // Under a quorum of two: the first call waits, a second administrator approves, the
    // opener carries it out.
    a.add_admin(
        &admin,
        "bob",
        Role::Administrator,
        &Password::new("password of bob"),
    )
    .unwrap();
    let bob = a
        .login("bob", &Password::new("password of bob"))
        .unwrap()
        .admin;
    a.set_policy(&admin, "backup-schedule", 2).unwrap();
    let id = match a.set_backup_schedule(&admin, None, 3) {
        Err(Error::ApprovalPending {
            request_id,
            operation,
            target,
            ..
        }) => {
            assert_eq!(
                (operation.as_str(), target.as_str()),
                ("backup-schedule", "every=off,keep=3")
            );
            request_id
        }
        other => panic!("expected a pending request, got {other:?}"),
    };
    assert!(a.backup_schedule(&admin).unwrap().enabled, "unchanged");
    a.approve(&bob, id).unwrap();
    let s = a.set_backup_schedule(&admin, None, 3).unwrap();
    assert_eq!(
        (s.enabled, s.every, s.keep, s.next_at),
        (false, None, 3, None)
    );
    f.clock.advance(Duration::from_secs(10 * 3600));
    assert!(a.backup_if_due().unwrap().is_none(), "the schedule is off");
    let entries = a.audit_list(&admin, None).unwrap();
    let outcomes: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e.action == "backup.schedule")
        // Quorum operations name their request after the target: " (request N)".
        .map(|e| {
            let target = e.target.split(" (request ").next().unwrap_or_default();
            (target, e.outcome.as_str())
        })
        .collect();
    assert!(
        outcomes.contains(&("every=3600,keep=2", "ok")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("every=off,keep=3", "pending")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("every=off,keep=3", "ok")),
        "{outcomes:?}"
    );
}
#[test]
fn backups_carry_the_server_settings_file() {
    use escrow::Credential;
    let f = fixture();
    let admin = admin(&f);
    let restore = |name: &str| -> Option<String> {
        let path = f.dir.join("backups").join(name);
        let into = f.dir.parent().unwrap().join(format!("restored-{name}"));
        escrow::restore(
            &path,
            &Credential::Password(Password::new("start-up password")),
            &into,
        )
        .unwrap();
        authority::carried_server_settings(&super::open_store_in(None, &into)).unwrap()
    };
    // No kmsd.toml: the backup carries none.
    let b = f.auth.backup_now(Some(&admin)).unwrap();
    assert_eq!(restore(&b.name), None);
    let text = "listen = \"127.0.0.1:9000\"\nbackup_keep = 3\n";
    std::fs::write(f.dir.join(authority::SERVER_SETTINGS_FILE), text).unwrap();
    f.clock.advance(Duration::from_secs(1));
    let b = f.auth.backup_now(Some(&admin)).unwrap();
    assert_eq!(restore(&b.name).as_deref(), Some(text));
}
/// The CRL distribution point URLs of a DER certificate.
fn crl_urls(der: &[u8]) -> pki::crl::DistributionUrls {
    let c = pki::certificate::parse_certificates(der).unwrap();
    pki::crl::distribution_urls(&c[0])
}

#[test]
fn the_public_url_changes_under_its_quorum_for_certificates_issued_afterwards() {
    let f = fixture();
    let a = &f.auth;
    let admin = admin(&f);
    let (_, token) = a.add_user(&admin, "before@example.com", "B", &[]).unwrap();
    let before = a
        .enroll(
            token.token.expose(),
            &csr("alice-sign.key.pem", "before@example.com"),
        )
        .unwrap();
    assert_eq!(
        crl_urls(&before.signing_cert).full,
        ["http://127.0.0.1:9999/crl"]
    );
    // Refused: https, loopback (the fixture's config does not allow it), junk; nothing
    // changes and each refusal is audited.
    for bad in [
        "https://kms.example.com",
        "http://localhost:8081",
        "http://10.0.0.1:8081/?x",
    ] {
        let e = a.set_public_url(&admin, bad).unwrap_err();
        assert_eq!(e.code(), "AUTH-009", "{bad}: {e}");
    }
    assert_eq!(a.public_url().unwrap(), "http://127.0.0.1:9999");
    // An officer may not.
    a.add_admin(
        &admin,
        "olga",
        Role::Officer,
        &Password::new("password of olga"),
    )
    .unwrap();
    let olga = a
        .login("olga", &Password::new("password of olga"))
        .unwrap()
        .admin;
    assert_eq!(
        a.set_public_url(&olga, "http://kms.example.com:8081")
            .unwrap_err()
            .code(),
        "AUTH-004"
    );
    // At quorum 1 it changes at once; a trailing slash is dropped.
    let c = a
        .set_public_url(&admin, "http://kms.example.com:8081/")
        .unwrap();
    assert_eq!(
        (c.public_url.as_str(), c.previous.as_str()),
        ("http://kms.example.com:8081", "http://127.0.0.1:9999")
    );
    let (_, token) = a.add_user(&admin, "after@example.com", "A", &[]).unwrap();
    let after = a
        .enroll(
            token.token.expose(),
            &csr("bob-sign.key.pem", "after@example.com"),
        )
        .unwrap();
    let urls = crl_urls(&after.encryption_cert);
    assert_eq!(urls.full, ["http://kms.example.com:8081/crl"]);
    assert_eq!(urls.delta, ["http://kms.example.com:8081/crl/delta"]);
    // Issued before: unchanged.
    assert_eq!(
        crl_urls(&before.signing_cert).full,
        ["http://127.0.0.1:9999/crl"]
    );
    // At quorum 2 it waits until another administrator approves.
    a.add_admin(
        &admin,
        "bob",
        Role::Administrator,
        &Password::new("password of bob"),
    )
    .unwrap();
    let bob = a
        .login("bob", &Password::new("password of bob"))
        .unwrap()
        .admin;
    a.set_policy(&admin, "public-url", 2).unwrap();
    let id = match a.set_public_url(&admin, "http://pki.example.org") {
        Err(Error::ApprovalPending {
            request_id,
            operation,
            target,
            ..
        }) => {
            assert_eq!(
                (operation.as_str(), target.as_str()),
                ("public-url", "http://pki.example.org")
            );
            request_id
        }
        other => panic!("expected a pending request, got {other:?}"),
    };
    assert_eq!(a.public_url().unwrap(), "http://kms.example.com:8081");
    a.approve(&bob, id).unwrap();
    a.set_public_url(&admin, "http://pki.example.org").unwrap();
    assert_eq!(a.public_url().unwrap(), "http://pki.example.org");
    let entries = a.audit_list(&admin, None).unwrap();
    let outcomes: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e.action == "settings.public-url")
        .map(|e| {
            let target = e.target.split(" (request ").next().unwrap_or_default();
            (target, e.outcome.as_str())
        })
        .collect();
    for want in [
        ("http://kms.example.com:8081/", "ok"),
        ("http://pki.example.org", "pending"),
        ("http://pki.example.org", "ok"),
        ("https://kms.example.com", "refused"),
    ] {
        assert!(outcomes.contains(&want), "{want:?} in {outcomes:?}");
    }
}
