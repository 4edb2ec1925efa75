//! The read queries (status, certificate, user and audit searches, certificate details) and
//! the administrators' self-service (own password, role changes) against a real store.

use authority::{Admin, AuditQuery, CertQuery, Direction, Error, RevokeTarget, Role, UserQuery};
use escrow::Password;
use pki::crl::RevocationReason;

use super::{ADMIN_PW, Fixture, csr, fixture};

fn sign_in(f: &Fixture, name: &str, pw: &str) -> (Admin, String) {
    let s = f.auth.login(name, &Password::new(pw)).unwrap();
    let token = s.token.expose().to_string();
    (f.auth.authenticate(&token).unwrap(), token)
}

/// Alice and Bob enrolled; Bob renewed (two superseded); Alice's signing certificate
/// revoked; Carol added but not enrolled, then disabled.
fn populated() -> (Fixture, Admin) {
    let f = fixture();
    let (admin, _) = sign_in(&f, "admin", ADMIN_PW);
    for (email, name, key) in [
        ("alice@example.com", "Alice Doe", "alice-sign.key.pem"),
        ("bob@example.com", "Bob Roe", "bob-sign.key.pem"),
    ] {
        let (_, t) = f.auth.add_user(&admin, email, name, &[]).unwrap();
        f.auth.enroll(t.token.expose(), &csr(key, email)).unwrap();
    }
    f.auth
        .add_user(&admin, "carol@example.org", "Carol 100%_Poe", &[])
        .unwrap();
    f.auth.disable_user(&admin, "carol@example.org").unwrap();
    f.clock.advance(std::time::Duration::from_secs(60));
    f.auth.renew(&admin, "bob@example.com", false).unwrap();
    let alice = f.auth.user(&admin, "alice@example.com").unwrap();
    let signing = alice
        .certificates
        .iter()
        .find(|c| c.kind == "signing")
        .unwrap()
        .serial
        .clone();
    f.auth
        .revoke(
            &admin,
            &RevokeTarget::Serial(signing),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    (f, admin)
}

fn auditor(f: &Fixture, admin: &Admin) -> Admin {
    f.auth
        .add_admin(
            admin,
            "aude",
            Role::Auditor,
            &Password::new("auditor password"),
        )
        .unwrap();
    sign_in(f, "aude", "auditor password").0
}

#[test]
fn status_counts_everything_and_reports_backups() {
    let (f, admin) = populated();
    let aude = auditor(&f, &admin);
    let s = f.auth.status(&aude).unwrap();
    assert_eq!(s.ca_subject, "CN=Test CA,O=Example");
    assert!(s.ca_not_after > 1_800_000_000 + 9 * 365 * 86400);
    assert_eq!((s.users.active, s.users.disabled), (2, 1));
    let c = &s.certificates;
    assert_eq!(
        (c.active, c.revoked, c.expired, c.superseded),
        (3, 1, 0, 2),
        "{c:?}"
    );
    // init signed CRL 1 (delta 2); the revocation re-signed it as 3 (delta 4).
    assert_eq!((s.crl.number, s.crl.delta_number), (3, 4), "{:?}", s.crl);
    assert_eq!(s.crl.next_update - s.crl.this_update, 7 * 86400);
    let crl = pki::crl::Crl::parse(&f.auth.published().crl_der).unwrap();
    assert_eq!(crl.number(), Some(3));
    assert!(s.last_backup.is_none() && s.last_verification.is_none());
    assert_eq!(s.pending_approvals, 0);

    {
        let b = f.auth.backup_now(Some(&admin)).unwrap();
        f.auth.verify_backup(&admin, &b.name).unwrap();
        let s = f.auth.status(&aude).unwrap();
        let last = s.last_backup.unwrap();
        assert_eq!((last.name.as_str(), last.bytes), (b.name.as_str(), b.bytes));
        assert_eq!(last.taken_at, Some(1_800_000_060));
        let v = s.last_verification.unwrap();
        assert!(v.ok && v.backup == b.name && v.actor == "admin", "{v:?}");
    }
    // A refused verification is the newest one now, and says why.
    assert!(f.auth.verify_backup(&admin, "../escape.kmsbak").is_err());
    let v = f.auth.status(&aude).unwrap().last_verification.unwrap();
    assert!(!v.ok && v.summary.contains("AUTH-009"), "{v:?}");

    // A quorum request waiting counts.
    f.auth
        .add_admin(
            &admin,
            "bea",
            Role::Administrator,
            &Password::new("bea password"),
        )
        .unwrap();
    f.auth.set_policy(&admin, "recover-key", 2).unwrap();
    let err = f
        .auth
        .recover_key(
            &admin,
            "alice@example.com",
            &Password::new("bundle pw"),
            false,
            None,
        )
        .unwrap_err();
    assert_eq!(err.code(), "AUTH-023");
    assert_eq!(f.auth.status(&aude).unwrap().pending_approvals, 1);

    // A year on, every unrevoked certificate has expired.
    f.clock.advance(std::time::Duration::from_secs(400 * 86400));
    let c = f.auth.status(&aude).unwrap().certificates;
    assert_eq!((c.active, c.revoked, c.expired, c.superseded), (0, 1, 5, 0));
}

#[test]
fn certificate_search_filters_sorts_and_pages_in_sql() {
    let (f, admin) = populated();
    let aude = auditor(&f, &admin);
    let all = f.auth.certificates(&aude, &CertQuery::default()).unwrap();
    assert_eq!((all.total, all.items.len()), (6, 6));
    // Newest first by default.
    assert!(
        all.items
            .windows(2)
            .all(|w| w[0].issued_at >= w[1].issued_at)
    );

    let q = |f: &dyn Fn(&mut CertQuery)| {
        let mut q = CertQuery::default();
        f(&mut q);
        q
    };
    let bob = f
        .auth
        .certificates(&aude, &q(&|q| q.email = Some("BOB@".into())))
        .unwrap();
    assert_eq!(bob.total, 4);
    assert!(
        bob.items
            .iter()
            .all(|c| c.email.as_deref() == Some("bob@example.com"))
    );
    let sup = f
        .auth
        .certificates(&aude, &q(&|q| q.status = Some("superseded".into())))
        .unwrap();
    assert_eq!(sup.total, 2);
    let revoked = f
        .auth
        .certificates(&aude, &q(&|q| q.status = Some("revoked".into())))
        .unwrap();
    assert_eq!(revoked.total, 1);
    let r = &revoked.items[0];
    assert_eq!(
        (
            r.email.as_deref(),
            r.kind.as_str(),
            r.revocation_reason.as_deref()
        ),
        (Some("alice@example.com"), "signing", Some("keyCompromise"))
    );
    let enc_active = f
        .auth
        .certificates(
            &aude,
            &q(&|q| {
                q.kind = Some("encryption".into());
                q.status = Some("active".into());
            }),
        )
        .unwrap();
    assert_eq!(enc_active.total, 2);

    // Serial prefix, with colons and upper case as OpenSSL prints it.
    let serial = &all.items[3].serial;
    let typed = serial[..6].to_ascii_uppercase();
    let typed = format!("{}:{}:{}", &typed[..2], &typed[2..4], &typed[4..]);
    let hit = f
        .auth
        .certificates(&aude, &q(&|q| q.serial = Some(typed.clone())))
        .unwrap();
    assert!(hit.items.iter().any(|c| &c.serial == serial));
    assert!(hit.items.iter().all(|c| c.serial.starts_with(&serial[..6])));

    // Sorting by serial both ways, and paging keeps the total.
    let asc = f
        .auth
        .certificates(
            &aude,
            &q(&|q| {
                q.sort = Some("serial".into());
                q.limit = Some(4);
            }),
        )
        .unwrap();
    let desc = f
        .auth
        .certificates(
            &aude,
            &q(&|q| {
                q.sort = Some("serial".into());
                q.direction = Some(Direction::Desc);
                q.limit = Some(2);
                q.offset = Some(4);
            }),
        )
        .unwrap();
    assert_eq!(
        (asc.total, asc.items.len(), desc.total, desc.items.len()),
        (6, 4, 6, 2)
    );
    let mut sorted: Vec<String> = all.items.iter().map(|c| c.serial.clone()).collect();
    sorted.sort();
    assert_eq!(
        asc.items.iter().map(|c| &c.serial).collect::<Vec<_>>(),
        sorted[..4].iter().collect::<Vec<_>>()
    );
    // Descending, skipping four: the two smallest, largest first.
    assert_eq!(desc.items[0].serial, sorted[1]);
    assert_eq!(desc.items[1].serial, sorted[0]);

    // Bad input is refused with AUTH-009 and names the field.
    for bad in [
        q(&|q| q.status = Some("lost".into())),
        q(&|q| q.kind = Some("ca".into())),
        q(&|q| q.sort = Some("der; DROP TABLE users".into())),
        q(&|q| q.serial = Some("xyz".into())),
        q(&|q| q.limit = Some(0)),
        q(&|q| q.limit = Some(10_000)),
        q(&|q| q.offset = Some(-1)),
        q(&|q| q.email = Some("x".repeat(300))),
    ] {
        let e = f.auth.certificates(&aude, &bad).unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }), "{bad:?}: {e}");
    }
    // LIKE wildcards are taken literally.
    let none = f
        .auth
        .certificates(&aude, &q(&|q| q.email = Some("%".into())))
        .unwrap();
    assert_eq!(none.total, 0);
}

#[test]
fn certificate_details_match_openssl() {
    let (f, admin) = populated();
    let aude = auditor(&f, &admin);
    let enc = f
        .auth
        .certificates(
            &aude,
            &CertQuery {
                email: Some("alice".into()),
                kind: Some("encryption".into()),
                ..CertQuery::default()
            },
        )
        .unwrap();
    let serial = enc.items[0].serial.clone();
    let d = f
        .auth
        .certificate(&aude, &format!("0x{}", serial.to_uppercase()))
        .unwrap();
    assert_eq!(d.summary.serial, serial);
    assert_eq!(d.summary.status, "active");
    assert_eq!(d.issuer, "CN=Test CA,O=Example");
    assert!(
        d.subject.contains("alice@example.com") || d.subject.contains("Alice"),
        "{}",
        d.subject
    );
    assert_eq!(d.emails, ["alice@example.com"]);
    // mailbox-strict, the default profile: keyEncipherment only.
    assert_eq!(d.key_usage, ["keyEncipherment"]);
    assert_eq!(d.extended_key_usage, ["emailProtection"]);
    assert_eq!(d.capabilities, ["aes256", "aes128", "3des"]);
    assert_eq!(d.key_bits, 2048);

    // The OpenSSL CLI reads the same DER and prints the same fingerprint and serial.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.der");
    std::fs::write(&path, &d.der).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "x509",
            "-inform",
            "DER",
            "-noout",
            "-serial",
            "-fingerprint",
            "-sha256",
            "-ext",
            "keyUsage,extendedKeyUsage",
            "-in",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("sha256 Fingerprint={}", d.sha256_fingerprint))
            || text.contains(&format!("SHA256 Fingerprint={}", d.sha256_fingerprint)),
        "{text}"
    );
    // OpenSSL prints whole bytes (a leading 0 when the top nibble is 0); ours is canonical.
    let openssl_serial = text
        .lines()
        .find_map(|l| l.strip_prefix("serial="))
        .expect("a serial line")
        .to_ascii_lowercase();
    assert_eq!(
        openssl_serial.trim_start_matches('0'),
        serial.as_str(),
        "{text}"
    );
    assert!(
        text.contains("Key Encipherment\n")
            && !text.contains("Data Encipherment")
            && text.contains("E-mail Protection"),
        "{text}"
    );

    // The revoked signing certificate carries its reason and time.
    let revoked = f
        .auth
        .certificates(
            &aude,
            &CertQuery {
                status: Some("revoked".into()),
                ..CertQuery::default()
            },
        )
        .unwrap();
    let d = f.auth.certificate(&aude, &revoked.items[0].serial).unwrap();
    assert_eq!(
        d.summary.revocation_reason.as_deref(),
        Some("keyCompromise")
    );
    assert_eq!(d.revoked_at, Some(1_800_000_060));
    assert!(
        d.key_usage.contains(&"digitalSignature".to_string()),
        "{:?}",
        d.key_usage
    );

    assert_eq!(
        f.auth.certificate(&aude, "abcdef").unwrap_err().code(),
        "AUTH-011"
    );
    assert_eq!(
        f.auth.certificate(&aude, "not hex").unwrap_err().code(),
        "AUTH-009"
    );
}

#[test]
fn user_search_filters_sorts_and_pages() {
    let (f, admin) = populated();
    let aude = auditor(&f, &admin);
    let q = |f: &dyn Fn(&mut UserQuery)| {
        let mut q = UserQuery::default();
        f(&mut q);
        q
    };
    let all = f.auth.search_users(&aude, &UserQuery::default()).unwrap();
    assert_eq!(
        all.items
            .iter()
            .map(|u| u.email.as_str())
            .collect::<Vec<_>>(),
        ["alice@example.com", "bob@example.com", "carol@example.org"]
    );
    // Text matches name or address, case ignored; % and _ are literal.
    let r = f
        .auth
        .search_users(&aude, &q(&|q| q.text = Some("ROE".into())))
        .unwrap();
    assert_eq!((r.total, r.items[0].email.as_str()), (1, "bob@example.com"));
    let r = f
        .auth
        .search_users(&aude, &q(&|q| q.text = Some("example.org".into())))
        .unwrap();
    assert_eq!(r.total, 1);
    let r = f
        .auth
        .search_users(&aude, &q(&|q| q.text = Some("100%_".into())))
        .unwrap();
    assert_eq!(r.total, 1);
    let r = f
        .auth
        .search_users(&aude, &q(&|q| q.text = Some("0%".into())))
        .unwrap();
    assert_eq!(r.total, 1, "only Carol's name has a literal 0%");
    let r = f
        .auth
        .search_users(&aude, &q(&|q| q.text = Some("a_i".into())))
        .unwrap();
    assert_eq!(r.total, 0);
    let r = f
        .auth
        .search_users(&aude, &q(&|q| q.status = Some("disabled".into())))
        .unwrap();
    assert_eq!(
        (r.total, r.items[0].email.as_str()),
        (1, "carol@example.org")
    );
    let r = f
        .auth
        .search_users(
            &aude,
            &q(&|q| {
                q.sort = Some("name".into());
                q.direction = Some(Direction::Desc);
                q.limit = Some(1);
                q.offset = Some(1);
            }),
        )
        .unwrap();
    assert_eq!(
        (r.total, r.items.len(), r.items[0].name.as_str()),
        (3, 1, "Bob Roe")
    );
    for bad in [
        q(&|q| q.status = Some("gone".into())),
        q(&|q| q.sort = Some("password_hash".into())),
        q(&|q| q.text = Some("a\u{0}b".into())),
    ] {
        assert_eq!(
            f.auth.search_users(&aude, &bad).unwrap_err().code(),
            "AUTH-009"
        );
    }
}

#[test]
fn audit_search_filters_newest_first() {
    let (f, admin) = populated();
    let aude = auditor(&f, &admin);
    let _ = f.auth.login("admin", &Password::new("wrong password"));
    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q
    };
    let all = f.auth.audit_search(&aude, &AuditQuery::default()).unwrap();
    assert!(all.items.windows(2).all(|w| w[0].seq > w[1].seq));
    assert_eq!(all.total, all.items.len() as i64);
    let users = f
        .auth
        .audit_search(&aude, &q(&|q| q.action = Some("user.".into())))
        .unwrap();
    assert_eq!(
        users
            .items
            .iter()
            .map(|e| e.action.as_str())
            .collect::<Vec<_>>(),
        ["user.disable", "user.add", "user.add", "user.add"]
    );
    let refused = f
        .auth
        .audit_search(&aude, &q(&|q| q.outcome = Some("refused".into())))
        .unwrap();
    assert_eq!(refused.total, 1);
    assert_eq!(
        (
            refused.items[0].action.as_str(),
            refused.items[0].actor.as_str()
        ),
        ("login", "admin")
    );
    let by = f
        .auth
        .audit_search(&aude, &q(&|q| q.actor = Some("-".into())))
        .unwrap();
    assert_eq!(by.total, 2, "the two enrollments");
    // Time range: the renewal and revocation came a minute later.
    let later = f
        .auth
        .audit_search(
            &aude,
            &q(&|q| {
                q.since = Some(1_800_000_060);
                q.until = Some(1_800_000_061);
                q.actor = Some("admin".into());
                q.outcome = Some("ok".into());
            }),
        )
        .unwrap();
    let actions: Vec<&str> = later.items.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.starts_with(&["admin.add:auditor", "revoke:KeyCompromise", "renew"]),
        "{actions:?}"
    );
    let page = f
        .auth
        .audit_search(
            &aude,
            &q(&|q| {
                q.limit = Some(2);
                q.offset = Some(1);
            }),
        )
        .unwrap();
    assert_eq!(
        (page.total, page.items[0].seq),
        (all.total, all.items[1].seq)
    );
    for bad in [
        q(&|q| q.outcome = Some("maybe".into())),
        q(&|q| {
            q.since = Some(5);
            q.until = Some(5);
        }),
    ] {
        assert_eq!(
            f.auth.audit_search(&aude, &bad).unwrap_err().code(),
            "AUTH-009"
        );
    }
}

#[test]
fn own_password_change_checks_the_current_one_and_ends_other_sessions() {
    let f = fixture();
    let (admin, here) = sign_in(&f, "admin", ADMIN_PW);
    let (_, elsewhere) = sign_in(&f, "admin", ADMIN_PW);
    let new = Password::new("a new admin password");
    // Wrong current password, too short, or the same: refused, nothing changes.
    for (cur, next) in [
        ("not the password", "a new admin password"),
        (ADMIN_PW, "short"),
        (ADMIN_PW, ADMIN_PW),
    ] {
        let e = f
            .auth
            .change_own_password(
                &admin,
                &Password::new(cur),
                &Password::new(next),
                Some(&here),
            )
            .unwrap_err();
        // A too-short new password is a weak password (AUTH-029), the others AUTH-009.
        let code = if next == "short" {
            "AUTH-029"
        } else {
            "AUTH-009"
        };
        assert_eq!(e.code(), code, "{e}");
        assert!(!e.to_string().contains(cur) || cur == ADMIN_PW);
    }
    f.auth.authenticate(&elsewhere).unwrap();
    f.auth
        .change_own_password(&admin, &Password::new(ADMIN_PW), &new, Some(&here))
        .unwrap();
    f.auth.authenticate(&here).unwrap();
    assert_eq!(
        f.auth.authenticate(&elsewhere).unwrap_err().code(),
        "AUTH-003"
    );
    assert_eq!(
        f.auth
            .login("admin", &Password::new(ADMIN_PW))
            .unwrap_err()
            .code(),
        "AUTH-001"
    );
    f.auth.login("admin", &new).unwrap();
    let trail = f
        .auth
        .audit_search(
            &admin,
            &AuditQuery {
                action: Some("admin.password".into()),
                ..AuditQuery::default()
            },
        )
        .unwrap();
    assert_eq!(
        trail
            .items
            .iter()
            .map(|e| e.outcome.as_str())
            .collect::<Vec<_>>(),
        ["ok", "refused", "refused", "refused"]
    );
    // No password in the audit log.
    for e in f
        .auth
        .audit_search(&admin, &AuditQuery::default())
        .unwrap()
        .items
    {
        assert!(!e.detail.contains("a new admin password") && !e.detail.contains(ADMIN_PW));
    }
}

#[test]
fn guessing_the_current_password_locks_the_account_out() {
    let f = fixture();
    let (admin, here) = sign_in(&f, "admin", ADMIN_PW);
    let new = Password::new("a new admin password");
    for _ in 0..4 {
        let e = f
            .auth
            .change_own_password(&admin, &Password::new("a guess"), &new, Some(&here))
            .unwrap_err();
        assert_eq!(e.code(), "AUTH-009");
    }
    // The fifth wrong guess in a row locks the account and ends its sessions.
    let e = f
        .auth
        .change_own_password(&admin, &Password::new("a guess"), &new, Some(&here))
        .unwrap_err();
    assert_eq!(e.code(), "AUTH-002", "{e}");
    assert_eq!(f.auth.authenticate(&here).unwrap_err().code(), "AUTH-003");
    // Sign-in is refused until the lock-out ends, answered as a wrong password.
    assert_eq!(
        f.auth
            .login("admin", &Password::new(ADMIN_PW))
            .unwrap_err()
            .code(),
        "AUTH-001"
    );
    f.clock.advance(std::time::Duration::from_secs(16 * 60));
    f.auth.login("admin", &Password::new(ADMIN_PW)).unwrap();
}

#[test]
fn role_changes_keep_an_administrator_and_wait_for_the_quorum() {
    let f = fixture();
    let (admin, _) = sign_in(&f, "admin", ADMIN_PW);
    f.auth
        .add_admin(
            &admin,
            "olga",
            Role::Officer,
            &Password::new("officer password"),
        )
        .unwrap();
    let (olga, _) = sign_in(&f, "olga", "officer password");
    // An officer cannot change roles; the only administrator cannot step down.
    assert_eq!(
        f.auth
            .set_role(&olga, "olga", Role::Administrator)
            .unwrap_err()
            .code(),
        "AUTH-004"
    );
    assert_eq!(
        f.auth
            .set_role(&admin, "admin", Role::Auditor)
            .unwrap_err()
            .code(),
        "AUTH-022"
    );
    assert_eq!(
        f.auth
            .set_role(&admin, "nobody", Role::Auditor)
            .unwrap_err()
            .code(),
        "AUTH-021"
    );
    assert_eq!(
        f.auth
            .set_role(&admin, "olga", Role::Officer)
            .unwrap_err()
            .code(),
        "AUTH-009"
    );

    // Promotion under a quorum of one goes through at once; the session sees the new role.
    let info = f
        .auth
        .set_role(&admin, "olga", Role::Administrator)
        .unwrap();
    assert_eq!(info.role, Role::Administrator);
    let (olga, _) = sign_in(&f, "olga", "officer password");
    assert_eq!(olga.role, Role::Administrator);

    // With admin-change at 2 (three administrators), demoting waits for a second one.
    f.auth
        .add_admin(
            &admin,
            "bea",
            Role::Administrator,
            &Password::new("bea password"),
        )
        .unwrap();
    let (bea, _) = sign_in(&f, "bea", "bea password");
    f.auth.set_policy(&admin, "admin-change", 2).unwrap();
    let e = f.auth.set_role(&admin, "olga", Role::Auditor).unwrap_err();
    let Error::ApprovalPending { request_id, .. } = e else {
        panic!("{e}")
    };
    let role_of = |name: &str| {
        f.auth
            .list_admins(&admin)
            .unwrap()
            .into_iter()
            .find(|a| a.name == name)
            .unwrap()
            .role
    };
    assert_eq!(role_of("olga"), Role::Administrator);
    f.auth.approve(&bea, request_id).unwrap();
    assert_eq!(
        f.auth.set_role(&admin, "olga", Role::Auditor).unwrap().role,
        Role::Auditor
    );
    assert_eq!(role_of("olga"), Role::Auditor);
    // Two administrators left and a quorum of two: neither may step down.
    assert_eq!(
        f.auth
            .set_role(&admin, "bea", Role::Officer)
            .unwrap_err()
            .code(),
        "AUTH-027"
    );
    assert_eq!(role_of("bea"), Role::Administrator);
    let trail = f
        .auth
        .audit_search(
            &admin,
            &AuditQuery {
                action: Some("admin.role".into()),
                ..AuditQuery::default()
            },
        )
        .unwrap();
    let got: Vec<(&str, &str)> = trail
        .items
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("admin.role:officer", "refused"),
            ("admin.role:auditor", "ok"),
            ("admin.role:auditor", "pending"),
            ("admin.role:administrator", "ok"),
            ("admin.role:officer", "refused"),
            ("admin.role:auditor", "refused"),
            ("admin.role:auditor", "refused"),
            ("admin.role:administrator", "refused"),
        ]
    );
}

/// The same searches on PostgreSQL, every filter given and every filter left out: each
/// parameter is typed there (an untyped `?n IS NULL` is refused with "could not determine
/// data type of parameter").
#[test]
fn searches_filter_on_postgresql() {
    use std::sync::Arc;

    let pg = db::testing::PgCluster::shared().fresh_db();
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(authority::ManualClock::new(super::start()));
    let auth = authority::init_in(
        authority::InitParams {
            data_dir: &tmp.path().join("node"),
            ca_subject: "CN=Test CA,O=Example",
            admin_name: "admin",
            admin_password: &Password::new(ADMIN_PW),
            unlock: escrow::InitOptions {
                password: Some(Password::new("start-up password")),
                key_file: None,
                argon2: escrow::Argon2Params::new(64, 1, 1),
            },
            public_url: "http://127.0.0.1:9999",
            ca_key: Some(super::key("ca-3072.key.pem")),
        },
        Some(&pg),
        super::config(),
        clock.clone(),
    )
    .unwrap();
    auth.add_pool_keys(vec![super::key("spare-1.key.pem")]);
    let admin = auth.login("admin", &Password::new(ADMIN_PW)).unwrap().admin;
    let (_, t) = auth
        .add_user(&admin, "alice@example.com", "Alice Doe", &[])
        .unwrap();
    auth.enroll(
        t.token.expose(),
        &csr("alice-sign.key.pem", "alice@example.com"),
    )
    .unwrap();
    auth.add_user(&admin, "bob@example.com", "Bob Roe", &[])
        .unwrap();
    let users = |q: UserQuery| auth.search_users(&admin, &q).unwrap().total;
    assert_eq!(users(UserQuery::default()), 2);
    let text = |s: &str| UserQuery {
        text: Some(s.into()),
        ..UserQuery::default()
    };
    assert_eq!(users(text("ALICE")), 1);
    assert_eq!(users(text("roe")), 1);
    assert_eq!(
        users(UserQuery {
            status: Some("active".into()),
            ..text("example.com")
        }),
        2
    );
    let certs = |q: CertQuery| auth.certificates(&admin, &q).unwrap().items;
    let all = certs(CertQuery::default());
    assert_eq!(all.len(), 2);
    assert_eq!(
        certs(CertQuery {
            email: Some("alice@".into()),
            status: Some("active".into()),
            kind: Some("encryption".into()),
            serial: Some(all[0].serial[..4].into()),
            ..CertQuery::default()
        })
        .len(),
        usize::from(
            all.iter()
                .any(|c| c.kind == "encryption" && c.serial.starts_with(&all[0].serial[..4]))
        )
    );
    assert_eq!(
        certs(CertQuery {
            email: Some("bob@".into()),
            ..CertQuery::default()
        })
        .len(),
        0
    );
    let audit = |q: AuditQuery| auth.audit_search(&admin, &q).unwrap().total;
    let every = audit(AuditQuery::default());
    assert!(every >= 4, "{every}");
    assert_eq!(
        audit(AuditQuery {
            actor: Some("admin".into()),
            action: Some("user.".into()),
            outcome: Some("ok".into()),
            since: Some(0),
            until: Some(i64::MAX),
            ..AuditQuery::default()
        }),
        2
    );
}
