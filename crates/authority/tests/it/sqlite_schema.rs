//! SQLite only: migration 0010 run again on a store whose SQLite schema is taken back to
//! version 9 by hand, with rows in their old form (the PostgreSQL schema starts at its own
//! translation of every migration; `db`'s schema test compares the two).

use authority::{Admin, RevokeTarget};
use escrow::Password;
use pki::crl::RevocationReason;

use super::{ADMIN_PW, Fixture, csr, fixture};

fn admin(f: &Fixture) -> Admin {
    f.auth
        .login("admin", &Password::new(ADMIN_PW))
        .unwrap()
        .admin
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

/// Migration 0010 on a store with rows in the old form: a serial with a leading zero and
/// upper case (certificate and revocation), users without a canonical key.
#[test]
fn migration_0010_canonicalises_old_rows() {
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
    let Fixture {
        _dir,
        dir,
        clock,
        auth,
        ..
    } = f;
    drop(auth);
    let old = format!("00{}", serials[0].to_uppercase());
    {
        // Back to schema 9, with the rows as older versions could store them.
        let db = rusqlite::Connection::open(dir.join(escrow::DB_FILE_NAME)).unwrap();
        db.execute_batch(&format!(
            "PRAGMA foreign_keys = ON;
             BEGIN;
             PRAGMA defer_foreign_keys = ON;
             UPDATE certificates SET serial = '{old}' WHERE serial = '{s}';
             UPDATE revocations SET serial = '{old}' WHERE serial = '{s}';
             COMMIT;
             DROP INDEX users_email_key;
             ALTER TABLE users DROP COLUMN email_key;
             ALTER TABLE crl_state DROP COLUMN due;
             ALTER TABLE crl_state ADD COLUMN crl BLOB NOT NULL DEFAULT x'';
             ALTER TABLE crl_state ADD COLUMN delta_crl BLOB NOT NULL DEFAULT x'';
             ALTER TABLE crl_state DROP COLUMN crl_sha256;
             ALTER TABLE crl_state DROP COLUMN delta_sha256;
             ALTER TABLE crl_state DROP COLUMN entries;
             ALTER TABLE crl_state DROP COLUMN delta_entries;
             ALTER TABLE users DROP COLUMN given_name;
             ALTER TABLE users DROP COLUMN surname;
             ALTER TABLE users DROP COLUMN pseudonym;
             ALTER TABLE users DROP COLUMN profile;
             DROP TABLE signin_failures;
             DROP TABLE agent_releases;
             DROP TABLE agent_requests;
             DROP TABLE key_shares;
             DROP TABLE split_keys;
             DROP TABLE agent_policy;
             DROP TABLE recovery_agents;
             DELETE FROM schema_migrations WHERE version >= 10;",
            s = serials[0]
        ))
        .unwrap();
    }
    let store = escrow::Store::open(&dir).unwrap();
    // Migrated again: 0010 and every later one.
    assert!(store.schema_version().unwrap() >= 10);
    let conn = store.connection();
    for table in ["certificates", "revocations"] {
        let n: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE serial = ?1"),
                [&serials[0]],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{table}");
    }
    let key: String = conn
        .query_row("SELECT email_key FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(key, "alice@example.com");
    let auth = authority::unlock(
        &store,
        &escrow::Credential::password("start-up password"),
        super::config(),
        clock,
    )
    .unwrap();
    let admin = auth.login("admin", &Password::new(ADMIN_PW)).unwrap().admin;
    // Any spelling of the serial finds it; revoking again answers "already revoked".
    let detail = auth.certificate(&admin, &old.to_lowercase()).unwrap();
    assert_eq!(detail.summary.serial, serials[0]);
    let again = auth
        .revoke(
            &admin,
            &RevokeTarget::Serial(old.clone()),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    assert_eq!(again.already_revoked, vec![serials[0].clone()]);
    assert_eq!(auth.crl_health(), None);
    assert!(auth.user(&admin, "ALICE@example.com").is_ok());
}
