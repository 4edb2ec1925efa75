//! Enrollments running at the same time (certificates signed outside the state lock, group
//! commit): one token raced by several requests is used exactly once, and distinct
//! enrollments all land, each with its own rows.

use authority::Admin;
use escrow::Password;

use super::{ADMIN_PW, Fixture, csr, fixture, key};

fn admin(f: &Fixture) -> Admin {
    f.auth
        .login("admin", &Password::new(ADMIN_PW))
        .unwrap()
        .admin
}

fn count(f: &Fixture, sql: &str) -> i64 {
    super::count(&f.raw(), sql)
}

#[test]
fn a_token_raced_by_four_requests_is_used_once() {
    let f = fixture();
    // The fixture's two pool keys, and two more: no request generates a key.
    f.auth
        .add_pool_keys(vec![key("spare-3.key.pem"), key("spare-4.key.pem")]);
    assert_eq!(f.auth.pool_ready(), 4);
    let admin = admin(&f);
    let (_, token) = f
        .auth
        .add_user(&admin, "alice@example.com", "Alice Doe", &[])
        .unwrap();
    let request = csr("alice-sign.key.pem", "alice@example.com");
    let barrier = std::sync::Barrier::new(4);
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    f.auth.enroll(token.token.expose(), &request)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "exactly one request enrolls");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code(), "AUTH-008", "{r}");
    }
    // One enrollment's rows, and the losers' keys back in the pool.
    assert_eq!(
        count(
            &f,
            "SELECT count(*) FROM certificates WHERE user_id IS NOT NULL"
        ),
        2
    );
    assert_eq!(
        count(
            &f,
            "SELECT count(*) FROM escrowed_keys WHERE usage = 'encryption'"
        ),
        1
    );
    assert_eq!(
        count(
            &f,
            "SELECT count(*) FROM audit_log WHERE action = 'enroll' AND outcome = 'ok'"
        ),
        1
    );
    assert_eq!(f.auth.pool_ready(), 3);
}

#[test]
fn concurrent_enrollments_all_land() {
    let f = fixture();
    f.auth
        .add_pool_keys(vec![key("spare-3.key.pem"), key("spare-4.key.pem")]);
    let admin = admin(&f);
    let users: Vec<_> = (0..4)
        .map(|i| {
            let email = format!("user{i}@example.com");
            let (_, token) = f
                .auth
                .add_user(&admin, &email, &format!("User {i}"), &[])
                .unwrap();
            (email.clone(), token, csr("alice-sign.key.pem", &email))
        })
        .collect();
    std::thread::scope(|scope| {
        for (email, token, request) in &users {
            let auth = &f.auth;
            scope.spawn(move || {
                let e = auth.enroll(token.token.expose(), request).unwrap();
                let cert = pki::certificate::parse_certificate(&e.encryption_cert).unwrap();
                let info = pki::certificate::CertificateInfo::from_certificate(&cert).unwrap();
                assert!(info.emails.iter().any(|m| m == email), "{:?}", info.emails);
            });
        }
    });
    for (email, _, _) in &users {
        let entry = f.auth.directory(email).unwrap();
        assert!(!entry.certificate.is_empty());
    }
    assert_eq!(
        count(
            &f,
            "SELECT count(*) FROM escrowed_keys WHERE usage = 'encryption'"
        ),
        4
    );
    assert_eq!(f.auth.pool_ready(), 0);
}
