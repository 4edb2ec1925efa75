//! One transaction per operation (an enrollment that fails half-way leaves nothing), the CRL
//! that follows the store (published by the authority's background publisher), revoking
//! again, and the canonical forms of e-mail addresses and serials.

use authority::{Admin, RevokeTarget};
use db::Connection;
use escrow::Password;
use pki::crl::{Crl, RevocationReason};

use super::{ADMIN_PW, Fixture, allow, count, csr, fixture, open_store_in, refuse};

fn admin(f: &Fixture) -> Admin {
    f.auth
        .login("admin", &Password::new(ADMIN_PW))
        .unwrap()
        .admin
}

fn db(f: &Fixture) -> Connection {
    f.raw()
}

/// An enrollment whose certificate insert fails leaves no escrowed key, no certificate, an
/// unused token and no `ok` entry; the same token works once the fault is gone.
#[test]
fn enrollment_failing_at_the_certificate_insert_leaves_nothing() {
    let f = fixture();
    let admin = admin(&f);
    let (_, token) = f
        .auth
        .add_user(&admin, "carol@example.com", "Carol", &[])
        .unwrap();
    let db = db(&f);
    refuse(
        &db,
        "test_refuse_enc",
        "INSERT",
        "certificates",
        Some("NEW.kind = 'encryption'"),
    );
    let keys = count(&db, "SELECT count(*) FROM escrowed_keys");
    let certs = count(&db, "SELECT count(*) FROM certificates");
    let err = f
        .auth
        .enroll(
            token.token.expose(),
            &csr("carol-sign.key.pem", "carol@example.com"),
        )
        .unwrap_err();
    assert_eq!(err.code(), "AUTH-018", "{err}");
    assert_eq!(count(&db, "SELECT count(*) FROM escrowed_keys"), keys);
    assert_eq!(count(&db, "SELECT count(*) FROM certificates"), certs);
    assert_eq!(
        count(&db, "SELECT count(*) FROM tokens WHERE used_at IS NOT NULL"),
        0
    );
    let log = f.auth.audit_list(&admin, None).unwrap();
    assert!(
        !log.iter()
            .any(|e| e.action == "enroll" && e.outcome == "ok"),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|e| e.action == "enroll" && e.outcome == "refused"),
        "{log:#?}"
    );

    allow(&db, "test_refuse_enc", "certificates");
    f.auth
        .enroll(
            token.token.expose(),
            &csr("carol-sign.key.pem", "carol@example.com"),
        )
        .unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM escrowed_keys"), keys + 1);
    // Every escrowed encryption key has its certificate record.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM escrowed_keys k WHERE k.usage = 'encryption'
             AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.escrowed_key_id = k.id)"
        ),
        0
    );
    assert!(f.auth.audit_verify(&admin).unwrap().ok);
}

/// Enrolls `email` (a new user) with the signing key `key_name`; returns the serials of its
/// signing and encryption certificates.
fn enrolled(f: &Fixture, admin: &Admin, email: &str, key_name: &str) -> Vec<String> {
    let (_, token) = f.auth.add_user(admin, email, "Someone", &[]).unwrap();
    f.auth
        .enroll(token.token.expose(), &csr(key_name, email))
        .unwrap();
    f.auth
        .user(admin, email)
        .unwrap()
        .certificates
        .into_iter()
        .map(|c| c.serial)
        .collect()
}

fn listed(f: &Fixture) -> Vec<(String, RevocationReason)> {
    let crl = Crl::parse(&f.auth.published().crl_der).unwrap();
    let mut v: Vec<_> = crl
        .entries()
        .map(|e| {
            let h = hex::encode(&e.serial);
            (h.trim_start_matches('0').to_string(), e.reason)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// A revoke answers with the CRL that lists it, published; a second revoke of the same
/// serial succeeds without change, and `keyCompromise` raises the reason in the next CRL.
#[test]
fn revoke_publishes_the_crl_and_revoking_again_succeeds() {
    let f = fixture();
    let admin = admin(&f);
    let serials = enrolled(&f, &admin, "alice@example.com", "alice-sign.key.pem");
    let s = serials[0].clone();
    let out = f
        .auth
        .revoke(
            &admin,
            &RevokeTarget::Serial(format!("00{}", s.to_uppercase())),
            RevocationReason::Superseded,
        )
        .unwrap();
    assert_eq!(out.revoked, vec![s.clone()]);
    let crl = Crl::parse(&f.auth.published().crl_der).unwrap();
    assert_eq!(out.crl_number, crl.number().unwrap() as i64);
    assert!(out.crl_published_at.is_some());
    assert_eq!(listed(&f), vec![(s.clone(), RevocationReason::Superseded)]);
    assert_eq!(f.auth.crl_health(), None);

    // Same or weaker reason: nothing changes.
    let again = f
        .auth
        .revoke(
            &admin,
            &RevokeTarget::Serial(s.clone()),
            RevocationReason::Unspecified,
        )
        .unwrap();
    assert!(again.revoked.is_empty());
    assert_eq!(again.already_revoked, vec![s.clone()]);
    assert_eq!(again.crl_number, out.crl_number);

    // keyCompromise raises the reason, and the next CRL shows it.
    let raised = f
        .auth
        .revoke(
            &admin,
            &RevokeTarget::Serial(s.clone()),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    assert_eq!(raised.revoked, vec![s.clone()]);
    assert!(raised.crl_number > out.crl_number);
    assert!(raised.crl_published_at.is_some());
    assert_eq!(
        listed(&f),
        vec![(s.clone(), RevocationReason::KeyCompromise)]
    );
    let detail = f.auth.certificate(&admin, &s).unwrap();
    assert_eq!(
        detail.summary.revocation_reason.as_deref(),
        Some("keyCompromise")
    );
    assert_eq!(f.auth.crl_health(), None);
    // A user with nothing left to revoke is refused as before.
    let bob = enrolled(&f, &admin, "bob@example.com", "bob-sign.key.pem");
    for s in &bob {
        f.auth
            .revoke(
                &admin,
                &RevokeTarget::Serial(s.clone()),
                RevocationReason::Unspecified,
            )
            .unwrap();
    }
    let err = f
        .auth
        .revoke(
            &admin,
            &RevokeTarget::User("bob@example.com".into()),
            RevocationReason::Unspecified,
        )
        .unwrap_err();
    assert_eq!(err.code(), "AUTH-013");
}

/// A burst of revocations from many threads is published by few re-signs, and the CRL lists
/// every one of them.
#[test]
fn a_burst_of_revocations_coalesces() {
    let f = fixture();
    let admin = admin(&f);
    let mut serials = enrolled(&f, &admin, "alice@example.com", "alice-sign.key.pem");
    serials.extend(enrolled(&f, &admin, "bob@example.com", "bob-sign.key.pem"));
    // More certificates to revoke: renewals issue new ones for the same keys.
    for _ in 0..3 {
        for who in ["alice@example.com", "bob@example.com"] {
            for c in f.auth.renew(&admin, who, false).unwrap().certificates {
                serials.push(c.serial);
            }
        }
    }
    assert_eq!(serials.len(), 16);
    let before = f.auth.crl_publisher_signs();
    let barrier = std::sync::Barrier::new(serials.len());
    std::thread::scope(|scope| {
        for s in &serials {
            let (f, admin, barrier) = (&f, &admin, &barrier);
            scope.spawn(move || {
                barrier.wait();
                f.auth
                    .revoke(
                        admin,
                        &RevokeTarget::Serial(s.clone()),
                        RevocationReason::Unspecified,
                    )
                    .unwrap();
            });
        }
    });
    let signs = f.auth.crl_publisher_signs() - before;
    assert!(
        (1..=8).contains(&signs),
        "{signs} re-signs for {} revocations",
        serials.len()
    );
    assert_eq!(listed(&f).len(), serials.len());
    assert_eq!(f.auth.crl_health(), None);
}

/// A re-sign that fails leaves the store's CRL state due (the revocation itself committed),
/// `crl_health` says so, and a later pass publishes it.
#[test]
fn a_failed_re_sign_stays_due_and_is_retried() {
    let f = fixture();
    let admin = admin(&f);
    let serials = enrolled(&f, &admin, "alice@example.com", "alice-sign.key.pem");
    let db = db(&f);
    refuse(
        &db,
        "test_refuse_crl",
        "UPDATE",
        "crl_state",
        Some("NEW.due = 0"),
    );
    let out = f
        .auth
        .revoke(
            &admin,
            &RevokeTarget::Serial(serials[0].clone()),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    assert_eq!(out.revoked, vec![serials[0].clone()]);
    assert_eq!(out.crl_published_at, None, "{out:?}");
    assert_eq!(count(&db, "SELECT due FROM crl_state"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM revocations"), 1);
    assert!(listed(&f).is_empty());
    let health = f.auth.crl_health().expect("the lag is reported");
    assert!(health.contains("re-sign is due"), "{health}");

    allow(&db, "test_refuse_crl", "crl_state");
    // The publisher retries on its own (the test configuration retries within a second).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while f.auth.crl_health().is_some() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(f.auth.crl_health(), None);
    assert_eq!(count(&db, "SELECT due FROM crl_state"), 0);
    assert_eq!(
        listed(&f),
        vec![(serials[0].clone(), RevocationReason::KeyCompromise)]
    );
}

/// A revocation committed while the CRL could not be re-signed is published at the next
/// unlock (the check at start-up), even with the publisher never having run.
#[test]
fn unlock_re_signs_a_lagging_crl() {
    let f = fixture();
    let admin = admin(&f);
    let serials = enrolled(&f, &admin, "alice@example.com", "alice-sign.key.pem");
    let db = db(&f);
    refuse(
        &db,
        "test_refuse_crl",
        "UPDATE",
        "crl_state",
        Some("NEW.due = 0"),
    );
    f.auth
        .revoke(
            &admin,
            &RevokeTarget::Serial(serials[1].clone()),
            RevocationReason::Unspecified,
        )
        .unwrap();
    let Fixture {
        _dir,
        dir,
        clock,
        auth,
        pg,
    } = f;
    drop(auth);
    allow(&db, "test_refuse_crl", "crl_state");
    let store = open_store_in(pg.as_ref(), &dir);
    assert!(authority::published(&store).unwrap().crl_der.len() > 0);
    let auth = authority::unlock(
        &store,
        &escrow::Credential::password("start-up password"),
        super::config(),
        clock,
    )
    .unwrap();
    if pg.is_some() {
        // On PostgreSQL the check at unlock asks the node's publisher (only the holder of
        // the CRL signer's lock signs), which re-signs within its first pass.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while auth.crl_health().is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    assert_eq!(auth.crl_health(), None);
    let crl = Crl::parse(&auth.published().crl_der).unwrap();
    assert_eq!(crl.len(), 1);
}

/// `lockbox enroll --email Mixed.Case@…` for a user added in lower case: the server
/// compares addresses canonically, and looks users up whatever the spelling.
#[test]
fn addresses_compare_canonically() {
    let f = fixture();
    let admin = admin(&f);
    let (user, token) = f
        .auth
        .add_user(&admin, "mixed.case@Example.ORG", "Mixed", &[])
        .unwrap();
    assert_eq!(user.email, "mixed.case@example.org");
    f.auth
        .enroll(
            token.token.expose(),
            &csr("alice-sign.key.pem", "Mixed.Case@example.org"),
        )
        .unwrap();
    assert!(f.auth.directory("MIXED.CASE@EXAMPLE.ORG").is_ok());
    assert_eq!(
        f.auth
            .user(&admin, "Mixed.Case@example.org")
            .unwrap()
            .escrowed_keys,
        1
    );
    let e = f
        .auth
        .add_user(&admin, "MIXED.case@example.org", "Again", &[])
        .unwrap_err();
    assert_eq!(e.code(), "AUTH-006", "{e}");
}

/// A state naming another CRL than the one served (here: a hash that does not match) is
/// reported by `crl_health`, and the next pass re-signs.
#[test]
fn crl_health_compares_the_served_crl_with_the_stored_hash() {
    let f = fixture();
    let admin = admin(&f);
    let serials = enrolled(&f, &admin, "alice@example.com", "alice-sign.key.pem");
    f.auth
        .revoke(
            &admin,
            &RevokeTarget::Serial(serials[0].clone()),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    db(&f)
        .execute("UPDATE crl_state SET crl_sha256 = ?1", [vec![0u8; 32]])
        .unwrap();
    let lag = f.auth.crl_health().expect("the mismatch is reported");
    assert!(lag.contains("not the one the store recorded"), "{lag}");
    let before = Crl::parse(&f.auth.published().crl_der)
        .unwrap()
        .number()
        .unwrap();
    assert!(f.auth.refresh_crl_if_due().unwrap());
    assert_eq!(f.auth.crl_health(), None);
    assert!(
        Crl::parse(&f.auth.published().crl_der)
            .unwrap()
            .number()
            .unwrap()
            > before
    );
}
