//! Governance that holds (issue 13): quorum invariants, approvals bound to their opener and
//! parameters, restores that never lower governance, governed re-enrollment, and the
//! password, address and directory rules.

use authority::{Admin, Error, Role};
use escrow::Password;

use super::{ADMIN_PW, Fixture, csr, fixture, key};

fn login(f: &Fixture, name: &str, pw: &str) -> Admin {
    f.auth.login(name, &Password::new(pw)).unwrap().admin
}

/// Root plus administrators `bob` and `carol` (added under quorum 1), signed in.
fn three_admins(f: &Fixture) -> (Admin, Admin, Admin) {
    let root = login(f, "admin", ADMIN_PW);
    for name in ["bob", "carol"] {
        f.auth
            .add_admin(
                &root,
                name,
                Role::Administrator,
                &Password::new(format!("password of {name}")),
            )
            .unwrap();
    }
    (
        root,
        login(f, "bob", "password of bob"),
        login(f, "carol", "password of carol"),
    )
}

fn pending<T: std::fmt::Debug>(r: authority::Result<T>) -> i64 {
    match r {
        Err(Error::ApprovalPending { request_id, .. }) => request_id,
        other => panic!("expected a pending request, got {other:?}"),
    }
}

fn quorum(f: &Fixture, admin: &Admin, op: &str) -> i64 {
    f.auth
        .policies(admin)
        .unwrap()
        .into_iter()
        .find(|p| p.operation == op)
        .unwrap()
        .quorum
}

fn enrolled_alice(f: &Fixture, officer: &Admin) {
    let (_, token) = f
        .auth
        .add_user(officer, "alice@example.com", "Alice", &[])
        .unwrap();
    f.auth
        .enroll(
            token.token.expose(),
            &csr("alice-sign.key.pem", "alice@example.com"),
        )
        .unwrap();
}

#[test]
fn raising_an_operational_quorum_raises_the_governing_ones_and_lowering_is_refused() {
    let f = fixture();
    let (root, bob, _carol) = three_admins(&f);
    assert_eq!(authority::OPERATIONS.len(), 10);
    let change = f.auth.set_policy(&root, "recover-key", 2).unwrap();
    assert_eq!(change.policy.quorum, 2);
    let raised: Vec<&str> = change.raised.iter().map(|p| p.operation).collect();
    for op in [
        "reenroll",
        "admin-change",
        "policy-change",
        "restore",
        "unlock-method",
        "public-url",
        "backup-schedule",
        "agent-change",
        "hsm",
    ] {
        assert!(raised.contains(&op), "{op} not raised: {raised:?}");
        assert_eq!(quorum(&f, &root, op), 2, "{op}");
    }
    // The audit entry says what was raised.
    let log = f.auth.audit_list(&root, None).unwrap();
    let entry = log.iter().rev().find(|e| e.action == "policy.set").unwrap();
    assert!(
        entry.outcome == "ok"
            && entry.target.contains("raised")
            && entry.target.contains("admin-change=2"),
        "{entry:?}"
    );
    // A governing quorum below the highest operational one, or reenroll below
    // recover-key: refused with a clear code, even by a quorum.
    for op in [
        "policy-change",
        "admin-change",
        "restore",
        "hsm",
        "reenroll",
    ] {
        let e = f.auth.set_policy(&root, op, 1).unwrap_err();
        assert_eq!(e.code(), "AUTH-026", "{op}: {e}");
        assert_eq!(quorum(&f, &root, op), 2);
    }
    // Setting a policy to its current value changes nothing and needs no approval.
    assert_eq!(
        f.auth
            .set_policy(&root, "admin-change", 2)
            .unwrap()
            .policy
            .quorum,
        2
    );
    // More than the administrators able to approve: refused.
    assert_eq!(
        f.auth
            .set_policy(&root, "recover-key", 4)
            .unwrap_err()
            .code(),
        "AUTH-027"
    );
    // Raising reenroll alone is fine; recover-key can come down (under policy-change = 2),
    // the governing ones stay where they are.
    let id = pending(f.auth.set_policy(&root, "recover-key", 1));
    f.auth.approve(&bob, id).unwrap();
    let change = f.auth.set_policy(&root, "recover-key", 1).unwrap();
    assert!(change.raised.is_empty());
    assert_eq!(quorum(&f, &root, "recover-key"), 1);
    assert_eq!(quorum(&f, &root, "reenroll"), 2);
    assert_eq!(quorum(&f, &root, "policy-change"), 2);
    assert!(f.auth.audit_verify(&root).unwrap().ok);
}

#[test]
fn no_change_leaves_fewer_approvers_than_the_highest_quorum() {
    let f = fixture();
    let (root, bob, _carol) = three_admins(&f);
    f.auth.set_policy(&root, "recover-key", 3).unwrap();
    // Removal or demotion of any administrator would leave two for a quorum of three.
    let e = f.auth.remove_admin(&root, "carol");
    // admin-change is 3 now: the request waits, and carrying it out is refused.
    let id = pending(e);
    f.auth.approve(&bob, id).unwrap();
    let carol = login(&f, "carol", "password of carol");
    f.auth.approve(&carol, id).unwrap();
    assert_eq!(
        f.auth.remove_admin(&root, "carol").unwrap_err().code(),
        "AUTH-027"
    );
    assert_eq!(
        f.auth
            .set_role(&root, "carol", Role::Officer)
            .unwrap_err()
            .code(),
        "AUTH-027"
    );
    assert_eq!(f.auth.list_admins(&root).unwrap().len(), 3);
}

#[test]
fn approvals_bind_opener_target_and_parameters() {
    let f = fixture();
    let (root, bob, carol) = three_admins(&f);
    enrolled_alice(&f, &root);
    f.auth.set_policy(&root, "recover-key", 2).unwrap();

    // Root opens with a reason; bob approves; carol running the same command gets her own
    // request, not the bundle.
    let id = pending(f.auth.recover_key(
        &root,
        "alice@example.com",
        &Password::new("root bundle pw"),
        false,
        Some("legal hold 42"),
    ));
    let req = f.auth.approvals(&bob).unwrap();
    let req = req.iter().find(|r| r.id == id).unwrap();
    assert_eq!(
        (req.requested_by.as_str(), req.why.as_deref()),
        ("admin", Some("legal hold 42"))
    );
    f.auth.approve(&bob, id).unwrap();
    let other = pending(f.auth.recover_key(
        &carol,
        "alice@example.com",
        &Password::new("carol bundle pw"),
        false,
        None,
    ));
    assert_ne!(other, id);
    // Another parameter (a new enrollment token too) is another request.
    let third = pending(f.auth.recover_key(
        &root,
        "alice@example.com",
        &Password::new("root bundle pw"),
        true,
        None,
    ));
    assert!(third != id && third != other);
    // The opener carries it out, with the password they choose now.
    let r = f
        .auth
        .recover_key(
            &root,
            "alice@example.com",
            &Password::new("chosen at carry-out"),
            false,
            None,
        )
        .unwrap();
    assert_eq!(r.keys, 1);
    let bag = pki::pkcs12::parse(&r.pkcs12, "chosen at carry-out");
    assert!(bag.is_ok());
    // Used: the next run opens a new request again.
    pending(f.auth.recover_key(
        &root,
        "alice@example.com",
        &Password::new("root bundle pw"),
        false,
        None,
    ));
    // The reason is in the audit log.
    let log = f.auth.audit_list(&root, None).unwrap();
    assert!(log.iter().any(|e| e.action == "recover-key"
        && e.outcome == "ok"
        && e.target.contains("why: legal hold 42")));
    assert!(
        log.iter()
            .any(|e| e.action == "recover-key" && e.actor == "carol" && e.outcome == "pending")
    );
}

#[test]
fn an_administrator_added_under_quorum_is_bound_to_the_approved_password_and_must_change_it() {
    let f = fixture();
    let (root, bob, _carol) = three_admins(&f);
    f.auth.set_policy(&root, "admin-change", 2).unwrap();
    let id = pending(f.auth.add_admin(
        &root,
        "dave",
        Role::Administrator,
        &Password::new("initial password of dave"),
    ));
    f.auth.approve(&bob, id).unwrap();
    // The approved request is for that password (and that role): another is another request.
    pending(f.auth.add_admin(
        &root,
        "dave",
        Role::Administrator,
        &Password::new("a different password"),
    ));
    pending(f.auth.add_admin(
        &root,
        "dave",
        Role::Officer,
        &Password::new("initial password of dave"),
    ));
    // Bob cannot carry out root's request.
    pending(f.auth.add_admin(
        &bob,
        "dave",
        Role::Administrator,
        &Password::new("initial password of dave"),
    ));
    f.auth
        .add_admin(
            &root,
            "dave",
            Role::Administrator,
            &Password::new("initial password of dave"),
        )
        .unwrap();
    // Dave signs in, but may do nothing before changing the initial password.
    let s = f
        .auth
        .login("dave", &Password::new("initial password of dave"))
        .unwrap();
    let e = f.auth.authenticate(s.token.expose()).unwrap_err();
    assert_eq!(e.code(), "AUTH-028", "{e}");
    let dave = f
        .auth
        .authenticate_for_password_change(s.token.expose())
        .unwrap();
    f.auth
        .change_own_password(
            &dave,
            &Password::new("initial password of dave"),
            &Password::new("dave's own secret phrase"),
            Some(s.token.expose()),
        )
        .unwrap();
    assert_eq!(f.auth.authenticate(s.token.expose()).unwrap().name, "dave");
}

// SQLite only: a PostgreSQL store is restored offline, all nodes stopped (`kmsd restore
// --database`, tests/it/migrate_e2e.rs); restoring over the live store there is refused.
sqlite_only! {
#[test]
fn restore_keeps_stricter_governance_and_the_whole_audit_history() {
    use std::time::Duration;
    let f = fixture();
    let (root, bob, _carol) = three_admins(&f);
    f.auth
        .add_admin(
            &root,
            "dave",
            Role::Administrator,
            &Password::new("password of dave"),
        )
        .unwrap();
    let backup = f.auth.backup_now(Some(&root)).unwrap();
    f.clock.advance(Duration::from_secs(10));
    // After the backup: recover-key raised to 2 (and with it everything governing), dave
    // demoted and carol removed under that quorum.
    f.auth.set_policy(&root, "recover-key", 2).unwrap();
    let id = pending(f.auth.set_role(&root, "dave", Role::Auditor));
    f.auth.approve(&bob, id).unwrap();
    f.auth.set_role(&root, "dave", Role::Auditor).unwrap();
    let id = pending(f.auth.remove_admin(&root, "carol"));
    f.auth.approve(&bob, id).unwrap();
    f.auth.remove_admin(&root, "carol").unwrap();
    // The restore needs the highest quorum (2), though its own policy says 2 too.
    let id = pending(f.auth.restore_backup(&root, &backup.name));
    f.auth.approve(&bob, id).unwrap();
    let r = f.auth.restore_backup(&root, &backup.name).unwrap();
    let root = login(&f, "admin", ADMIN_PW);
    // The raised policies stay, carol stays removed.
    for op in [
        "recover-key",
        "admin-change",
        "policy-change",
        "restore",
        "reenroll",
    ] {
        assert_eq!(quorum(&f, &root, op), 2, "{op}");
    }
    assert!(r.policies_kept.iter().any(|p| p.operation == "recover-key"));
    assert!(matches!(
        f.auth.login("carol", &Password::new("password of carol")),
        Err(Error::BadCredentials)
    ));
    assert_eq!(login(&f, "dave", "password of dave").role, Role::Auditor);
    // The whole history verifies: the entries after the backup are carried over.
    let report = f.auth.audit_verify(&root).unwrap();
    assert!(report.ok, "{report:?}");
    assert!(r.audit_entries_carried > 0);
    assert!(report.entries > r.replaced_head_seq);
    let log = f.auth.audit_list(&root, None).unwrap();
    assert!(log.iter().any(|e| e.action == "admin.remove"
        && e.target.starts_with("carol (request")
        && e.outcome == "ok"
        && e.detail.contains("carried over a restore")));
    // ... and is signed by the CA at once, through the `restore` entry.
    assert_eq!(report.signed_through, Some(r.restore_entry));

    // Safety backups survive any number of ordinary backups.
    for _ in 0..10 {
        f.clock.advance(Duration::from_secs(1));
        f.auth.backup_now(Some(&root)).unwrap();
    }
    let names: Vec<String> = f
        .auth
        .backups(&root)
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert!(names.contains(&r.safety_backup), "{names:?}");
    assert_eq!(names.len(), 8, "{names:?}");
}
}

#[test]
fn reenrollment_of_an_enrolled_user_is_a_governed_key_replacement() {
    let f = fixture();
    let (root, bob, _carol) = three_admins(&f);
    f.auth
        .add_admin(
            &root,
            "olga",
            Role::Officer,
            &Password::new("officer password"),
        )
        .unwrap();
    f.auth
        .add_pool_keys(vec![key("spare-3.key.pem"), key("spare-4.key.pem")]);
    let olga = login(&f, "olga", "officer password");
    enrolled_alice(&f, &olga);
    // A token for a user never enrolled is not governed.
    f.auth
        .add_user(&olga, "nora@example.com", "Nora", &[])
        .unwrap();
    f.auth.new_token(&olga, "nora@example.com").unwrap();
    // Quorum 1: the officer alone, audited as a key replacement naming her.
    f.auth.new_token(&olga, "alice@example.com").unwrap();
    let log = f.auth.audit_list(&root, None).unwrap();
    assert!(log.iter().any(|e| e.action == "reenroll:token"
        && e.actor == "olga"
        && e.target.starts_with("alice@example.com")));
    // With recover-key = 2, reenroll is 2: the officer waits, for a token and for
    // renew --new-key alike.
    f.auth.set_policy(&root, "recover-key", 2).unwrap();
    let t = pending(f.auth.new_token(&olga, "alice@example.com"));
    let n = pending(f.auth.renew(&olga, "alice@example.com", true));
    assert_ne!(t, n, "a token and a roll-over are different requests");
    // Two administrators approve (an officer's own approval does not count).
    for id in [t, n] {
        f.auth.approve(&root, id).unwrap();
        f.auth.approve(&bob, id).unwrap();
    }
    let token = f.auth.new_token(&olga, "alice@example.com").unwrap();
    f.auth
        .enroll(
            token.token.expose(),
            &csr("bob-sign.key.pem", "alice@example.com"),
        )
        .unwrap();
    assert!(f.auth.renew(&olga, "alice@example.com", true).is_ok());
    // The old certificates are not revoked, they are marked superseded.
    let detail = f.auth.user(&root, "alice@example.com").unwrap();
    assert!(detail.certificates.iter().all(|c| c.revoked.is_none()));
    assert!(detail.certificates.iter().filter(|c| c.superseded).count() >= 2);
}

#[test]
fn password_rules() {
    let f = fixture();
    let root = login(&f, "admin", ADMIN_PW);
    for weak in ["short pw", "eleven char", "password1234", "QWERTYUIOP123"] {
        let e = f
            .auth
            .add_admin(&root, "eve", Role::Officer, &Password::new(weak))
            .unwrap_err();
        assert_eq!(e.code(), "AUTH-029", "{weak}: {e}");
        assert!(!e.to_string().contains(weak), "{e}");
    }
    let Err(e) = f
        .auth
        .add_unlock_method(&root, Some(&Password::new("administrator")))
    else {
        panic!("a common start-up password was accepted")
    };
    assert_eq!(e.code(), "AUTH-029");
    enrolled_alice(&f, &root);
    let e = f
        .auth
        .recover_key(
            &root,
            "alice@example.com",
            &Password::new("7 chars"),
            false,
            None,
        )
        .unwrap_err();
    assert_eq!(e.code(), "AUTH-029");
}

#[test]
fn addresses_names_and_the_anonymous_directory() {
    let f = fixture();
    let root = login(&f, "admin", ADMIN_PW);
    for bad in [
        "a..b@example.org",
        ".a@example.org",
        "a@localhost",
        "a@-x.example.org",
    ] {
        let e = f.auth.add_user(&root, bad, "X", &[]).unwrap_err();
        assert_eq!(e.code(), "AUTH-009", "{bad}: {e}");
    }
    let e = f
        .auth
        .add_user(&root, "x@example.org", "Alice\u{202E}gpj.exe", &[])
        .unwrap_err();
    assert_eq!(e.code(), "AUTH-009");
    // Unknown, not enrolled and disabled: one answer.
    f.auth
        .add_user(&root, "pending@example.org", "P", &[])
        .unwrap();
    f.auth
        .add_user(&root, "gone@example.org", "G", &[])
        .unwrap();
    f.auth.disable_user(&root, "gone@example.org").unwrap();
    let answers: Vec<(String, String)> = [
        "nobody@example.org",
        "pending@example.org",
        "gone@example.org",
    ]
    .iter()
    .map(|a| {
        let e = f.auth.directory(a).unwrap_err();
        (e.code().to_string(), e.to_string().replace(a, "ADDRESS"))
    })
    .collect();
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1], answers[2]);
    assert_eq!(answers[0].0, "AUTH-012");
}
