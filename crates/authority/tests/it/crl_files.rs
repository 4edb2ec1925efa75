//! The published CRLs live outside the database (`DATA_DIR/crl/`, one file per number): the
//! store keeps their state (numbers, SHA-256, entry counts), the check at unlock re-signs a
//! missing or altered file, and CRL numbers keep growing over a store whose state is older
//! than the files. SQLite only: on PostgreSQL the bytes are rows of `crl_blobs`.

use authority::{Admin, RevokeTarget};
use escrow::Password;
use pki::crl::{Crl, RevocationReason};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::{ADMIN_PW, Fixture, csr, fixture};

fn admin(f: &Fixture) -> Admin {
    f.auth
        .login("admin", &Password::new(ADMIN_PW))
        .unwrap()
        .admin
}

fn db(dir: &std::path::Path) -> Connection {
    Connection::open(dir.join(escrow::DB_FILE_NAME)).unwrap()
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join(authority::CRL_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// Enrolls alice and revokes her signing certificate; returns its serial.
fn revoked_one(f: &Fixture, admin: &Admin) -> String {
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
    let serial = f
        .auth
        .user(admin, "alice@example.com")
        .unwrap()
        .certificates[0]
        .serial
        .clone();
    let out = f
        .auth
        .revoke(
            admin,
            &RevokeTarget::Serial(serial.clone()),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    assert!(out.crl_published_at.is_some(), "{out:?}");
    serial
}

fn unlock(f: Fixture) -> (tempfile::TempDir, std::path::PathBuf, authority::Authority) {
    let Fixture {
        _dir,
        dir,
        clock,
        auth,
        ..
    } = f;
    drop(auth);
    let store = escrow::Store::open(&dir).unwrap();
    let auth = authority::unlock(
        &store,
        &escrow::Credential::password("start-up password"),
        super::config(),
        clock,
    )
    .unwrap();
    (_dir, dir, auth)
}

fn number(der: &[u8]) -> i64 {
    Crl::parse(der).unwrap().number().unwrap() as i64
}

/// The served CRLs are the files the store's state names, by number and SHA-256; older
/// files are pruned, and the database holds no CRL bytes.
#[test]
fn crls_are_files_named_by_the_stores_state() {
    let f = fixture();
    let admin = admin(&f);
    let serial = revoked_one(&f, &admin);
    let published = f.auth.published();
    let n = number(&published.crl_der);
    assert_eq!(
        files(&f.dir),
        [format!("delta-{}.crl", n + 1), format!("full-{n}.crl")]
    );
    let crl_dir = f.dir.join(authority::CRL_DIR);
    assert_eq!(
        std::fs::read(crl_dir.join(format!("full-{n}.crl"))).unwrap(),
        published.crl_der
    );
    assert_eq!(
        std::fs::read(crl_dir.join(format!("delta-{}.crl", n + 1))).unwrap(),
        published.delta_crl_der
    );
    let db = db(&f.dir);
    let (stored_n, full, delta, entries, delta_entries): (i64, Vec<u8>, Vec<u8>, i64, i64) = db
        .query_row(
            "SELECT number, crl_sha256, delta_sha256, entries, delta_entries FROM crl_state",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(stored_n, n);
    assert_eq!(full, Sha256::digest(&published.crl_der).to_vec());
    assert_eq!(delta, Sha256::digest(&published.delta_crl_der).to_vec());
    assert_eq!((entries, delta_entries), (1, 1));
    assert!(db.prepare("SELECT crl FROM crl_state").is_err());
    let crl = Crl::parse(&published.crl_der).unwrap();
    let padded = if serial.len() % 2 == 1 {
        format!("0{serial}")
    } else {
        serial.clone()
    };
    assert!(crl.lookup(&hex::decode(padded).unwrap()).is_some());
    assert_eq!(f.auth.crl_health(), None);
}

/// At unlock, a missing CRL file and an altered one are re-signed, numbered above the last.
#[test]
fn unlock_re_signs_a_missing_or_altered_crl_file() {
    let f = fixture();
    let admin = admin(&f);
    revoked_one(&f, &admin);
    let n1 = number(&f.auth.published().crl_der);
    let dir = f.dir.clone();
    std::fs::remove_file(dir.join(authority::CRL_DIR).join(format!("full-{n1}.crl"))).unwrap();
    // Locked, the store serves what its files hold: nothing here.
    let (tmp, dir, auth) = unlock(f);
    assert_eq!(auth.crl_health(), None);
    let n2 = number(&auth.published().crl_der);
    assert!(n2 > n1 + 1, "{n2} after {n1}");
    assert_eq!(Crl::parse(&auth.published().crl_der).unwrap().len(), 1);

    // An altered file (one byte of the signature flipped) is not the one the state names.
    let path = dir.join(authority::CRL_DIR).join(format!("full-{n2}.crl"));
    let mut der = std::fs::read(&path).unwrap();
    *der.last_mut().unwrap() ^= 1;
    std::fs::write(&path, &der).unwrap();
    let clock = std::sync::Arc::new(authority::ManualClock::new(super::start()));
    drop(auth);
    let store = escrow::Store::open(&dir).unwrap();
    assert_eq!(authority::published(&store).unwrap().crl_der, der);
    let auth = authority::unlock(
        &store,
        &escrow::Credential::password("start-up password"),
        super::config(),
        clock,
    )
    .unwrap();
    assert_eq!(auth.crl_health(), None);
    let n3 = number(&auth.published().crl_der);
    assert!(n3 > n2 + 1, "{n3} after {n2}");
    assert_ne!(auth.published().crl_der, der);
    drop(tmp);
}

/// A store whose CRL state is older than the CRL files (put back from a copy) signs its
/// next CRLs above every number published.
#[test]
fn numbers_grow_above_every_stored_crl() {
    let f = fixture();
    let admin = admin(&f);
    revoked_one(&f, &admin);
    for _ in 0..3 {
        f.auth
            .revoke(
                &admin,
                &RevokeTarget::User("alice@example.com".into()),
                RevocationReason::Unspecified,
            )
            .ok();
    }
    let n = number(&f.auth.published().crl_der);
    let dir = f.dir.clone();
    let (_tmp, dir2, auth) = {
        // As an older copy would have it: numbers below the files', the file it names gone.
        let Fixture {
            _dir,
            dir,
            clock,
            auth,
            ..
        } = f;
        drop(auth);
        db(&dir)
            .execute(
                "UPDATE crl_state SET number = 1, delta_number = 2, crl_sha256 = NULL",
                [],
            )
            .unwrap();
        let store = escrow::Store::open(&dir).unwrap();
        let auth = authority::unlock(
            &store,
            &escrow::Credential::password("start-up password"),
            super::config(),
            clock,
        )
        .unwrap();
        (_dir, dir, auth)
    };
    assert_eq!(dir, dir2);
    assert_eq!(auth.crl_health(), None);
    let after = number(&auth.published().crl_der);
    assert!(after > n + 1, "{after} after {n}");
}
