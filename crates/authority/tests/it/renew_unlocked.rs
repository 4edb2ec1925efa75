//! Renewal signs with no lock held and commits after checking that the certificates it
//! renews are still the current ones: concurrent renewals of one user leave one current
//! pair and distinct serials, and a renewal failing at its commit leaves nothing.

use authority::Admin;
use escrow::Password;

use super::{ADMIN_PW, Fixture, allow, count, csr, fixture, refuse};

fn admin(f: &Fixture) -> Admin {
    f.auth
        .login("admin", &Password::new(ADMIN_PW))
        .unwrap()
        .admin
}

fn enrolled(f: &Fixture, admin: &Admin) {
    let (_, token) = f
        .auth
        .add_user(admin, "alice@example.com", "Alice", &[])
        .unwrap();
    f.auth
        .enroll(
            token.token.expose(),
            &csr("alice-sign.key.pem", "alice@example.com"),
        )
        .unwrap();
}

#[test]
fn concurrent_renewals_leave_one_current_pair() {
    let f = fixture();
    let admin = admin(&f);
    enrolled(&f, &admin);
    let barrier = std::sync::Barrier::new(6);
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let (f, admin, barrier) = (&f, &admin, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    f.auth.renew(admin, "alice@example.com", false)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut serials = std::collections::HashSet::new();
    let mut renewed = 0;
    for r in &results {
        match r {
            Ok(r) => {
                renewed += 1;
                assert_eq!(r.certificates.len(), 2);
                for c in &r.certificates {
                    assert!(
                        serials.insert(c.serial.clone()),
                        "serial {} twice",
                        c.serial
                    );
                }
            }
            // Signing again after a concurrent change is bounded: the caller retries.
            Err(e) => assert_eq!(e.code(), "AUTH-009", "{e}"),
        }
    }
    assert!(renewed >= 1);
    let db = f.raw();
    assert_eq!(
        count(&db, "SELECT count(*) FROM certificates"),
        2 + 2 * renewed
    );
    for kind in ["signing", "encryption"] {
        assert_eq!(
            count(
                &db,
                &format!(
                    "SELECT count(*) FROM certificates WHERE kind = '{kind}' AND superseded_at IS NULL"
                )
            ),
            1,
            "{kind}"
        );
    }
    let user = f.auth.user(&admin, "alice@example.com").unwrap();
    let current: Vec<_> = user
        .certificates
        .iter()
        .filter(|c| !c.superseded)
        .map(|c| c.serial.clone())
        .collect();
    assert_eq!(current.len(), 2);
    assert!(current.iter().all(|s| serials.contains(s)), "{current:?}");
    let log = f.auth.audit_list(&admin, None).unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "renew" && e.outcome == "ok")
            .count(),
        renewed as usize
    );
}

#[test]
fn a_renewal_failing_at_its_commit_leaves_nothing() {
    let f = fixture();
    let admin = admin(&f);
    enrolled(&f, &admin);
    let db = f.raw();
    refuse(
        &db,
        "test_refuse_enc",
        "INSERT",
        "certificates",
        Some("NEW.kind = 'encryption'"),
    );
    let err = f
        .auth
        .renew(&admin, "alice@example.com", false)
        .unwrap_err();
    assert_eq!(err.code(), "AUTH-018", "{err}");
    assert_eq!(count(&db, "SELECT count(*) FROM certificates"), 2);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM certificates WHERE superseded_at IS NOT NULL"
        ),
        0
    );
    allow(&db, "test_refuse_enc", "certificates");
    let r = f.auth.renew(&admin, "alice@example.com", false).unwrap();
    assert_eq!(r.certificates.len(), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM certificates"), 4);

    // With a new key: the key, its certificate and the token commit together or not at all.
    refuse(&db, "test_refuse_token", "INSERT", "tokens", None);
    let keys = count(&db, "SELECT count(*) FROM escrowed_keys");
    assert!(f.auth.renew(&admin, "alice@example.com", true).is_err());
    assert_eq!(count(&db, "SELECT count(*) FROM escrowed_keys"), keys);
    assert_eq!(count(&db, "SELECT count(*) FROM certificates"), 4);
    allow(&db, "test_refuse_token", "tokens");
    let r = f.auth.renew(&admin, "alice@example.com", true).unwrap();
    assert!(r.enrollment_token.is_some());
    assert_eq!(count(&db, "SELECT count(*) FROM escrowed_keys"), keys + 1);
}
