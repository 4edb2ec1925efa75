//! The authority's main paths end to end: enroll, directory, revoke and CRL; tokens and
//! renewal; sessions and lock-out; approvals; an action whose audit entry fails; restoring a
//! backup over the live store.

use std::time::Duration;

use authority::{Error, RevokeTarget};
use escrow::{Credential, Password};
use pki::PrivateKey;
use pki::crl::{Crl, RevocationReason};

use super::{ADMIN_PW, config, csr, fixture, key};

#[test]
fn enroll_directory_revoke_and_crl() {
    let f = fixture();
    let admin = f
        .auth
        .authenticate(
            f.auth
                .login("admin", &Password::new(ADMIN_PW))
                .unwrap()
                .token
                .expose(),
        )
        .unwrap();
    let (user, token) = f
        .auth
        .add_user(&admin, "Alice@Example.com", "Alice Doe", &[])
        .unwrap();
    // The local part keeps the spelling given; the domain is lower case.
    assert_eq!(user.email, "Alice@example.com");

    // A request for another address is refused and leaves the token usable.
    let err = f
        .auth
        .enroll(
            token.token.expose(),
            &csr("alice-sign.key.pem", "mallory@example.com"),
        )
        .unwrap_err();
    assert_eq!(err.code(), "AUTH-010", "{err}");

    let e = f
        .auth
        .enroll(
            token.token.expose(),
            &csr("alice-sign.key.pem", "alice@example.com"),
        )
        .unwrap();
    let enc_cert = pki::certificate::parse_certificate(&e.encryption_cert).unwrap();
    let ca = pki::certificate::parse_certificate(&e.ca_cert).unwrap();
    pki::certificate::verify_signed_by(&enc_cert, &ca).unwrap();
    // The key decrypts with the token and matches the certificate.
    let epki = pkcs8::EncryptedPrivateKeyInfoRef::try_from(e.encrypted_key.as_slice()).unwrap();
    let key_doc = epki.decrypt(token.token.expose().as_bytes()).unwrap();
    let enc_key = PrivateKey::from_der(key_doc.as_bytes()).unwrap();
    assert_eq!(
        enc_key.public_key(),
        pki::certificate::public_key(&enc_cert).unwrap()
    );

    // Single use.
    let err = f
        .auth
        .enroll(
            token.token.expose(),
            &csr("alice-sign.key.pem", "alice@example.com"),
        )
        .unwrap_err();
    assert_eq!(err.code(), "AUTH-008");

    let entry = f.auth.directory("alice@example.com").unwrap();
    assert_eq!(entry.certificate, e.encryption_cert);

    let before = Crl::parse(&f.auth.published().crl_der).unwrap();
    assert!(before.is_empty());
    let outcome = f
        .auth
        .revoke(
            &admin,
            &RevokeTarget::User("alice@example.com".into()),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    assert!(outcome.already_revoked.is_empty());
    assert!(outcome.crl_published_at.is_some());
    let serials = outcome.revoked;
    assert_eq!(serials.len(), 2);
    let crl = Crl::parse(&f.auth.published().crl_der).unwrap();
    crl.verify_signature(&ca).unwrap();
    assert!(crl.number().unwrap() > before.number().unwrap());
    assert_eq!(crl.len(), 2);
    let delta = Crl::parse(&f.auth.published().delta_crl_der).unwrap();
    assert_eq!(delta.len(), 2);
    assert_eq!(delta.delta_base(), before.number());
    let err = f.auth.directory("alice@example.com").unwrap_err();
    assert_eq!(err.code(), "AUTH-012");
    // Revoking again with a weaker reason succeeds and changes nothing.
    let again = f
        .auth
        .revoke(
            &admin,
            &RevokeTarget::Serial(serials[0].to_uppercase()),
            RevocationReason::Superseded,
        )
        .unwrap();
    assert!(again.revoked.is_empty());
    assert_eq!(again.already_revoked, vec![serials[0].clone()]);
    assert_eq!(
        Crl::parse(&f.auth.published().crl_der).unwrap().number(),
        crl.number()
    );

    // The escrowed key survives a restart and unlock.
    drop(f.auth);
    let store = super::open_store_in(f.pg.as_ref(), &f.dir);
    assert!(
        authority::unlock(
            &store,
            &Credential::password("wrong"),
            config(),
            f.clock.clone()
        )
        .is_err()
    );
    let auth = authority::unlock(
        &store,
        &Credential::password("start-up password"),
        config(),
        f.clock.clone(),
    )
    .unwrap();
    let published = authority::published(&store).unwrap();
    assert_eq!(Crl::parse(&published.crl_der).unwrap().len(), 2);
    let admin = auth
        .authenticate(
            auth.login("admin", &Password::new(ADMIN_PW))
                .unwrap()
                .token
                .expose(),
        )
        .unwrap();
    assert_eq!(
        auth.user(&admin, "alice@example.com")
            .unwrap()
            .escrowed_keys,
        1
    );
}

#[test]
fn tokens_expire_and_renewal_keeps_old_keys() {
    let f = fixture();
    let admin = f
        .auth
        .authenticate(
            f.auth
                .login("admin", &Password::new(ADMIN_PW))
                .unwrap()
                .token
                .expose(),
        )
        .unwrap();
    let (_, token) = f
        .auth
        .add_user(&admin, "bob@example.com", "Bob", &[])
        .unwrap();
    f.clock.advance(Duration::from_secs(8 * 86400));
    let err = f
        .auth
        .enroll(
            token.token.expose(),
            &csr("bob-sign.key.pem", "bob@example.com"),
        )
        .unwrap_err();
    assert_eq!(err.code(), "AUTH-008");
    assert!(err.to_string().contains("expired"));

    let token = f.auth.new_token(&admin, "bob@example.com").unwrap();
    let first = f
        .auth
        .enroll(
            token.token.expose(),
            &csr("bob-sign.key.pem", "bob@example.com"),
        )
        .unwrap();
    let renewed = f.auth.renew(&admin, "bob@example.com", false).unwrap();
    assert_eq!(renewed.certificates.len(), 2);
    assert_ne!(
        f.auth.directory("bob@example.com").unwrap().certificate,
        first.encryption_cert
    );

    let r = f.auth.renew(&admin, "bob@example.com", true).unwrap();
    assert_eq!(r.certificates.len(), 1);
    // The new encryption certificate is served at once; the user collects its key.
    let served = f.auth.directory("bob@example.com").unwrap().certificate;
    let t = r.enrollment_token.unwrap();
    let e = f
        .auth
        .enroll(
            t.token.expose(),
            &csr("bob-sign.key.pem", "bob@example.com"),
        )
        .unwrap();
    assert_eq!(e.encryption_cert, served);
    let epki = pkcs8::EncryptedPrivateKeyInfoRef::try_from(e.encrypted_key.as_slice()).unwrap();
    let k = PrivateKey::from_der(
        epki.decrypt(t.token.expose().as_bytes())
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let cert = pki::certificate::parse_certificate(&served).unwrap();
    assert_eq!(k.public_key(), pki::certificate::public_key(&cert).unwrap());
    let detail = f.auth.user(&admin, "bob@example.com").unwrap();
    assert_eq!(detail.escrowed_keys, 2);
    assert_eq!(
        detail.certificates.iter().filter(|c| !c.superseded).count(),
        2
    );
}

#[test]
fn sessions_and_lockout() {
    let f = fixture();
    for _ in 0..4 {
        assert!(matches!(
            f.auth.login("admin", &Password::new("nope nope")),
            Err(Error::BadCredentials)
        ));
    }
    // The fifth failure locks the account out for this address, answered as a wrong password.
    assert!(matches!(
        f.auth.login("admin", &Password::new("nope nope")),
        Err(Error::BadCredentials)
    ));
    // Locked even with the right password, until the lock-out ends.
    assert!(matches!(
        f.auth.login("admin", &Password::new(ADMIN_PW)),
        Err(Error::BadCredentials)
    ));
    f.clock.advance(Duration::from_secs(16 * 60));
    let s = f.auth.login("admin", &Password::new(ADMIN_PW)).unwrap();
    assert!(f.auth.authenticate(s.token.expose()).is_ok());
    f.auth.logout(s.token.expose()).unwrap();
    assert!(matches!(
        f.auth.authenticate(s.token.expose()),
        Err(Error::NotSignedIn)
    ));
    let s = f.auth.login("admin", &Password::new(ADMIN_PW)).unwrap();
    f.clock.advance(Duration::from_secs(9 * 3600));
    assert!(matches!(
        f.auth.authenticate(s.token.expose()),
        Err(Error::NotSignedIn)
    ));
    assert!(matches!(
        f.auth.login("nobody", &Password::new(ADMIN_PW)),
        Err(Error::BadCredentials)
    ));
}

#[test]
fn disabled_users_cannot_enroll() {
    let f = fixture();
    let admin = f
        .auth
        .authenticate(
            f.auth
                .login("admin", &Password::new(ADMIN_PW))
                .unwrap()
                .token
                .expose(),
        )
        .unwrap();
    let (_, token) = f
        .auth
        .add_user(&admin, "carol@example.com", "Carol", &[])
        .unwrap();
    assert_eq!(
        f.auth
            .add_user(&admin, "CAROL@example.com", "Carol", &[])
            .unwrap_err()
            .code(),
        "AUTH-006"
    );
    f.auth.disable_user(&admin, "carol@example.com").unwrap();
    let err = f
        .auth
        .enroll(
            token.token.expose(),
            &csr("carol-sign.key.pem", "carol@example.com"),
        )
        .unwrap_err();
    assert_eq!(err.code(), "AUTH-008");
    assert_eq!(
        f.auth
            .user(&admin, "nobody@example.com")
            .unwrap_err()
            .code(),
        "AUTH-005"
    );
}

#[test]
fn crl_is_refreshed_before_next_update() {
    let f = fixture();
    let n1 = Crl::parse(&f.auth.published().crl_der)
        .unwrap()
        .number()
        .unwrap();
    assert!(!f.auth.refresh_crl_if_due().unwrap());
    f.clock.advance(Duration::from_secs(6 * 86400));
    assert!(f.auth.refresh_crl_if_due().unwrap());
    let n2 = Crl::parse(&f.auth.published().crl_der)
        .unwrap()
        .number()
        .unwrap();
    assert!(n2 > n1);
}

#[test]
fn tls_certificate_for_the_authority() {
    let f = fixture();
    let key = key("server-tls.key.pem");
    let der = f
        .auth
        .issue_tls_certificate(
            &key.public_key(),
            &["localhost".to_string()],
            &["127.0.0.1".parse().unwrap()],
        )
        .unwrap();
    let cert = pki::certificate::parse_certificate(&der).unwrap();
    let ca = pki::certificate::parse_certificate(&f.auth.published().ca_der).unwrap();
    pki::certificate::verify_signed_by(&cert, &ca).unwrap();
    assert!(
        f.auth
            .issue_tls_certificate(&key.public_key(), &[], &[])
            .is_err()
    );
    // Both are in the audit log, by the operator: the issue and the refusal.
    let admin = f
        .auth
        .login("admin", &Password::new(ADMIN_PW))
        .unwrap()
        .admin;
    let log = f.auth.audit_list(&admin, None).unwrap();
    let tls: Vec<(&str, &str, &str)> = log
        .iter()
        .filter(|e| e.action == "tls.issue")
        .map(|e| (e.actor.as_str(), e.target.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        tls,
        [
            ("operator", "localhost,127.0.0.1", "ok"),
            ("operator", "", "refused")
        ]
    );
}

fn pending_id<T: std::fmt::Debug>(r: authority::Result<T>) -> (i64, Vec<String>) {
    match r {
        Err(Error::ApprovalPending {
            request_id,
            approved_by,
            ..
        }) => (request_id, approved_by),
        other => panic!("expected a pending request, got {other:?}"),
    }
}

fn refused<T: std::fmt::Debug>(r: authority::Result<T>) -> String {
    match r {
        Err(e @ Error::ApprovalRefused(_)) => e.to_string(),
        other => panic!("expected an approval refusal, got {other:?}"),
    }
}

#[test]
fn approvals_are_keyed_by_account_and_removed_accounts_never_count() {
    use authority::Role;
    let f = fixture();
    let a = &f.auth;
    let admin = a.login("admin", &Password::new(ADMIN_PW)).unwrap().admin;
    for name in ["bob", "carol"] {
        a.add_admin(
            &admin,
            name,
            Role::Administrator,
            &Password::new(format!("password of {name}")),
        )
        .unwrap();
    }
    let bob = a
        .login("bob", &Password::new("password of bob"))
        .unwrap()
        .admin;
    let carol = a
        .login("carol", &Password::new("password of carol"))
        .unwrap()
        .admin;
    a.set_policy(&admin, "policy-change", 2).unwrap();

    // A request, approved by its opener; approving it again is refused.
    let (id, by) = pending_id(a.set_policy(&admin, "restore", 2));
    assert_eq!(by, ["admin"]);
    assert!(refused(a.approve(&admin, id)).contains("already"));
    assert!(matches!(
        a.approve(&admin, 999),
        Err(Error::UnknownRequest { id: 999 })
    ));
    // Carol approves, then is removed: her approval stops counting, and her session's
    // further approvals are refused.
    assert_eq!(
        a.approve(&carol, id).unwrap().approved_by,
        ["admin", "carol"]
    );
    a.remove_admin(&admin, "carol").unwrap();
    let (id_again, by) = pending_id(a.set_policy(&admin, "restore", 2));
    assert_eq!((id_again, by), (id, vec!["admin".to_string()]));
    // (A request for another target is another request: carol's approval is bound to `id`.)
    let (other, by) = pending_id(a.set_policy(&admin, "recover-key", 2));
    assert_ne!(other, id);
    assert_eq!(by, ["admin"]);
    assert!(refused(a.approve(&carol, other)).contains("removed"));
    assert!(matches!(
        a.login("carol", &Password::new("password of carol")),
        Err(Error::BadCredentials)
    ));

    // "carol" added again is a new account: the old approval is not hers.
    a.add_admin(
        &admin,
        "carol",
        Role::Administrator,
        &Password::new("new password of carol"),
    )
    .unwrap();
    assert!(matches!(
        a.add_admin(
            &admin,
            "carol",
            Role::Officer,
            &Password::new("another password")
        ),
        Err(Error::AdminExists { .. })
    ));
    let carol2 = a
        .login("carol", &Password::new("new password of carol"))
        .unwrap()
        .admin;
    assert_ne!(carol2.id, carol.id);
    let names: Vec<String> = a
        .list_admins(&admin)
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["admin", "bob", "carol"]);
    let open = a.approvals(&bob).unwrap();
    let req = open.iter().find(|r| r.id == id).unwrap();
    assert_eq!(req.approved_by, ["admin"]);
    // The old session of the removed account is still refused.
    assert!(refused(a.approve(&carol, id)).contains("removed"));
    // The new account's approval counts: the opener carries the change out.
    assert_eq!(
        a.approve(&carol2, id).unwrap().approved_by,
        ["admin", "carol"]
    );
    assert_eq!(a.set_policy(&admin, "restore", 2).unwrap().policy.quorum, 2);
    // A used request cannot be approved again.
    assert!(refused(a.approve(&bob, id)).contains("done"));

    // An expired request cannot be approved.
    f.clock.advance(Duration::from_secs(2 * 86400));
    let bob = a
        .login("bob", &Password::new("password of bob"))
        .unwrap()
        .admin;
    assert!(refused(a.approve(&bob, other)).contains("expired"));

    // Each refusal is in the audit log.
    let log = a.audit_list(&admin, None).unwrap();
    let refusals: Vec<&authority::AuditEntry> = log
        .iter()
        .filter(|e| e.action == "approve" && e.outcome == "refused")
        .collect();
    assert_eq!(refusals.len(), 6, "{refusals:#?}");
    assert!(refusals.iter().any(|e| e.actor == "carol"
        && e.detail.contains("AUTH-024")
        && e.detail.contains("removed")));
    assert!(a.audit_verify(&admin).unwrap().ok);
}

/// A successful action and its audit entry commit together: when the entry cannot be
/// appended, the action leaves nothing behind.
#[test]
fn an_action_whose_audit_entry_fails_changes_nothing() {
    use authority::Role;
    let f = fixture();
    let a = &f.auth;
    let admin = a.login("admin", &Password::new(ADMIN_PW)).unwrap().admin;
    let before = a.audit_list(&admin, None).unwrap().len();
    let db = f.raw();
    super::refuse(&db, "test_refuse_audit", "INSERT", "audit_log", None);
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    let users = count("SELECT count(*) FROM users");
    let admins = count("SELECT count(*) FROM admins");
    let sessions = count("SELECT count(*) FROM sessions");
    let policies = count("SELECT count(*) FROM policies");
    let methods = count("SELECT count(*) FROM unlock_methods");

    let e = a
        .add_user(&admin, "zoe@example.com", "Zoe", &[])
        .unwrap_err();
    assert_eq!(e.code(), "AUTH-018", "{e}");
    assert!(
        a.add_admin(
            &admin,
            "dave",
            Role::Officer,
            &Password::new("password of dave")
        )
        .is_err()
    );
    assert!(a.set_policy(&admin, "restore", 1).is_err());
    assert!(a.login("admin", &Password::new(ADMIN_PW)).is_err());
    // (The start-up secrets are written in the escrow store's own transaction.)
    assert!(
        a.add_unlock_method(&admin, Some(&Password::new("another start-up password")))
            .is_err()
    );
    assert!(a.add_unlock_method(&admin, None).is_err());
    assert_eq!(count("SELECT count(*) FROM users"), users);
    assert_eq!(count("SELECT count(*) FROM admins"), admins);
    assert_eq!(count("SELECT count(*) FROM sessions"), sessions);
    assert_eq!(count("SELECT count(*) FROM policies"), policies);
    assert_eq!(count("SELECT count(*) FROM unlock_methods"), methods);

    // With the log writable again, the same actions succeed, each with its entry.
    super::allow(&db, "test_refuse_audit", "audit_log");
    a.add_user(&admin, "zoe@example.com", "Zoe", &[]).unwrap();
    a.add_admin(
        &admin,
        "dave",
        Role::Officer,
        &Password::new("password of dave"),
    )
    .unwrap();
    let m = a
        .add_unlock_method(&admin, Some(&Password::new("another start-up password")))
        .unwrap();
    a.remove_unlock_method(&admin, m.method.id).unwrap();
    let log = a.audit_list(&admin, None).unwrap();
    let actions: Vec<(&str, &str)> = log[before..]
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("user.add", "ok"),
            ("admin.add:officer", "ok"),
            ("unlock-method.add", "ok"),
            ("unlock-method.remove", "ok")
        ],
        "{log:#?}"
    );
    assert!(a.audit_verify(&admin).unwrap().ok);
}

// SQLite only: a PostgreSQL store is restored offline, all nodes stopped (`kmsd restore
// --database`, tests/it/migrate_e2e.rs); restoring over the live store there is refused.
sqlite_only! {
/// Restoring a backup over the live store: under the `restore` quorum, checked before
/// anything is replaced, with a safety backup, and the audit chain kept verifiable with a
/// `restore` entry naming what it replaced.
#[test]
fn restore_over_the_live_store() {
    use authority::Authority;
    use authority::Role;
    let f = fixture();
    let a = &f.auth;
    let s = a.login("admin", &Password::new(ADMIN_PW)).unwrap();
    let admin = s.admin.clone();
    a.add_user(&admin, "early@example.com", "Early", &[])
        .unwrap();
    let backup = a.backup_now(Some(&admin)).unwrap();
    f.clock.advance(Duration::from_secs(10));
    // After the backup: a user enrolls and has their certificates revoked.
    let (_, token) = a.add_user(&admin, "late@example.com", "Late", &[]).unwrap();
    a.enroll(
        token.token.expose(),
        &csr("alice-sign.key.pem", "late@example.com"),
    )
    .unwrap();
    let revoked = a
        .revoke(
            &admin,
            &RevokeTarget::User("late@example.com".into()),
            RevocationReason::KeyCompromise,
        )
        .unwrap()
        .revoked;
    assert_eq!(revoked.len(), 2);
    let crl_before = Crl::parse(&a.published().crl_der).unwrap();
    assert_eq!(crl_before.len(), 2);
    let users = |a: &Authority| -> Vec<String> {
        a.list_users(&admin)
            .unwrap()
            .into_iter()
            .map(|u| u.email)
            .collect()
    };
    assert_eq!(users(a), ["early@example.com", "late@example.com"]);

    // Only names in DATA_DIR/backups; a damaged backup is refused before anything changes.
    for bad in ["../escrow.db", "/etc/passwd", "nothing.kmsbak"] {
        let e = a.restore_backup(&admin, bad).unwrap_err();
        assert_eq!(e.code(), "AUTH-009", "{bad}: {e}");
    }
    let damaged = f.dir.join("backups").join("kms-000000000001-0.kmsbak");
    let mut bytes = std::fs::read(&backup.path).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 1;
    std::fs::write(&damaged, bytes).unwrap();
    let e = a
        .restore_backup(&admin, "kms-000000000001-0.kmsbak")
        .unwrap_err();
    assert!(e.to_string().contains("ESCROW-013"), "{e}");
    // Named by its file name, never by the server's path.
    assert!(!e.to_string().contains(f.dir.to_str().unwrap()), "{e}");
    std::fs::remove_file(&damaged).unwrap();
    assert_eq!(users(a), ["early@example.com", "late@example.com"]);
    assert_eq!(a.backups(&admin).unwrap().len(), 1, "no safety backup yet");

    // Under a quorum of 2.
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
    a.set_policy(&admin, "restore", 2).unwrap();
    let head_before = a.audit_list(&admin, None).unwrap().last().unwrap().clone();
    let id = match a.restore_backup(&admin, &backup.name) {
        Err(Error::ApprovalPending { request_id, .. }) => request_id,
        other => panic!("expected pending, got {other:?}"),
    };
    assert_eq!(users(a).len(), 2);
    a.approve(&bob, id).unwrap();
    let head_before_restore = a.audit_list(&admin, None).unwrap().last().unwrap().clone();
    assert!(head_before_restore.seq > head_before.seq);
    let r = a.restore_backup(&admin, &backup.name).unwrap();

    // The user added after the backup is gone; sessions ended; the chain verifies.
    assert_eq!(users(a), ["early@example.com"]);
    // ... but their certificates stay revoked, on a CRL numbered above the last one.
    assert_eq!(r.revocations_carried, 2);
    let crl = Crl::parse(&a.published().crl_der).unwrap();
    assert!(crl.number().unwrap() > crl_before.number().unwrap());
    let listed: Vec<String> = crl
        .entries()
        .map(|e| {
            let hex: String = e.serial.iter().map(|b| format!("{b:02x}")).collect();
            hex.trim_start_matches('0').to_string()
        })
        .collect();
    for s in &revoked {
        let s = s.trim_start_matches('0');
        assert!(listed.iter().any(|l| l == s), "{s} not in {listed:?}");
    }
    assert!(matches!(
        a.authenticate(s.token.expose()),
        Err(Error::NotSignedIn)
    ));
    assert_eq!(r.replaced_head_seq, head_before_restore.seq);
    assert!(r.safety_backup.ends_with("-pre-restore.kmsbak"), "{r:?}");
    let log = a.audit_list(&admin, None).unwrap();
    let last = log.last().unwrap();
    assert_eq!(
        (last.seq, last.action.as_str(), last.outcome.as_str()),
        (r.restore_entry, "restore", "ok")
    );
    assert!(
        last.target.contains(&format!(
            "replaced audit head {}:{}",
            r.replaced_head_seq, r.replaced_head_hash
        )) && last.target.contains(&r.safety_backup),
        "{last:?}"
    );
    // The entries written after the backup are carried into the restored chain, before
    // the `restore` entry, so the log keeps the whole history.
    assert!(r.audit_entries_carried > 0, "{r:?}");
    let late: Vec<_> = log
        .iter()
        .filter(|e| e.target == "late@example.com")
        .collect();
    assert!(!late.is_empty());
    assert!(
        late.iter()
            .all(|e| e.seq < r.restore_entry && e.detail.contains("carried over a restore"))
    );
    let report = a.audit_verify(&admin).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries, r.restore_entry);
    assert!(report.entries > r.replaced_head_seq);
    // The safety backup holds what happened after the backup, and verifies.
    let check = a.verify_backup(&admin, &r.safety_backup).unwrap();
    assert!(check.audit.ok);
    assert_eq!(check.audit.entries, r.replaced_head_seq);
    // The restored store still works: a new user, a new backup.
    a.add_user(&admin, "after@example.com", "After", &[])
        .unwrap();
    a.backup_now(Some(&admin)).unwrap();
}
}
