//! One transaction per operation (an enrollment that fails half-way leaves nothing), the CRL
//! that follows the store (published by the authority's background publisher), revoking
//! again, and the canonical forms of e-mail addresses and serials.

use authority::{Admin, RevokeTarget};
use escrow::Password;
use escrow::rusqlite::Connection;
use pki::crl::{Crl, RevocationReason};

use super::{ADMIN_PW, Fixture, csr, fixture};

fn admin(f: &Fixture) -> Admin {
    f.auth
        .login("admin", &Password::new(ADMIN_PW))
        .unwrap()
        .admin
}

fn db(f: &Fixture) -> Connection {
    Connection::open(f.dir.join(escrow::DB_FILE_NAME)).unwrap()
}

fn count(db: &Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).unwrap()
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
    db.execute_batch(
        "CREATE TRIGGER test_refuse_enc BEFORE INSERT ON certificates
         WHEN NEW.kind = 'encryption'
         BEGIN SELECT RAISE(ABORT, 'test: certificate insert refused'); END;",
    )
    .unwrap();
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

    db.execute_batch("DROP TRIGGER test_refuse_enc").unwrap();
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
