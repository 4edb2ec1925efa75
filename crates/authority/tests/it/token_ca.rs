//! A CA whose key is on a token ([`authority::CaSigningKey`], a test double standing in for
//! the PKCS#11 key): init stores only a reference to it, unlock needs it (and refuses another
//! key, or none), TOTP sealing works without key material, the audit log names the key that
//! signed, and a token that goes away makes signing fail with AUTH-150 (nothing half-issued)
//! and `/healthz`'s reasons say "no signer" until it is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use authority::{CaSigningKey, Clock, InitParams, ManualClock};
use db::PgConfig;
use escrow::{Argon2Params, Credential, InitOptions, Password};
use pki::{DigestAlgorithm, KeyRef, KeyStore, PrivateKey, PublicKey, SigningKey};

use super::{ADMIN_PW, config, csr, init_on, key, new_database, open_store_in, start};

/// A token key: signs through a committed key it never lets out, unless "removed".
struct Token {
    inner: PrivateKey,
    present: AtomicBool,
}

impl Token {
    fn gone() -> pki::Error {
        pki::Error::SignerUnavailable("[HSM-004] the token is not present".into())
    }
}

impl SigningKey for Token {
    fn public_key(&self) -> PublicKey {
        self.inner.public_key()
    }
    fn sign(&self, digest: DigestAlgorithm, message: &[u8]) -> pki::Result<Vec<u8>> {
        if !self.present.load(Ordering::SeqCst) {
            return Err(Self::gone());
        }
        self.inner.sign(digest, message)
    }
    fn key_ref(&self) -> KeyRef {
        KeyRef::of(KeyStore::Token, &self.inner.public_key())
    }
    fn check(&self) -> pki::Result<()> {
        if self.present.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(Self::gone())
        }
    }
}

fn token(name: &str) -> Arc<Token> {
    Arc::new(Token {
        inner: key(name),
        present: AtomicBool::new(true),
    })
}

fn token_config(t: &Arc<Token>) -> authority::Config {
    authority::Config {
        ca_signing_key: Some(CaSigningKey::new(t.clone())),
        ..config()
    }
}

fn init(
    pg: Option<&PgConfig>,
    dir: &std::path::Path,
    t: &Arc<Token>,
    clock: Arc<ManualClock>,
) -> authority::Authority {
    let auth = init_on(
        pg,
        InitParams {
            data_dir: dir,
            ca_subject: "CN=Token CA,O=Example",
            admin_name: "admin",
            admin_password: &Password::new(ADMIN_PW),
            unlock: InitOptions {
                password: Some(Password::new("start-up password")),
                key_file: None,
                argon2: Argon2Params::new(64, 1, 1),
            },
            public_url: "http://127.0.0.1:9999",
            ca_key: None,
        },
        token_config(t),
        clock,
    )
    .unwrap();
    auth.add_pool_keys(vec![key("spare-1.key.pem"), key("spare-2.key.pem")]);
    auth
}

/// The 32-byte windows of `secrets` that are not windows of `public` (a PKCS#1 or PKCS#8
/// encoding holds the modulus, which the CA certificate shows).
fn needles(secrets: &[&[u8]], public: &[u8]) -> std::collections::HashSet<[u8; 32]> {
    let public: std::collections::HashSet<&[u8]> = public.windows(32).collect();
    secrets
        .iter()
        .flat_map(|s| s.windows(32))
        .filter(|w| !public.contains(w))
        .map(|w| w.try_into().unwrap())
        .collect()
}

#[test]
fn a_token_ca_stores_no_key_signs_through_the_token_and_needs_it_to_unlock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let clock = Arc::new(ManualClock::new(start()));
    let t = token("ca-3072.key.pem");
    let pg = new_database();
    let auth = init(pg.as_ref(), &dir, &t, clock.clone());
    let admin = auth.login("admin", &Password::new(ADMIN_PW)).unwrap().admin;
    assert_eq!(auth.ca_key_ref(), t.key_ref());
    assert!(auth.ca_key_ref().to_string().starts_with("token:"));

    // The CA certificate is the token key's; the first CRL verifies under it.
    let published = auth.published();
    let ca = pki::certificate::parse_certificate(&published.ca_der).unwrap();
    assert_eq!(
        pki::certificate::public_key(&ca).unwrap(),
        t.inner.public_key()
    );
    let crl = pki::crl::Crl::parse(&published.crl_der).unwrap();
    crl.verify_signature(&ca).unwrap();

    // Enrollment, with the audit entries naming the token key; TOTP works with no key
    // material to derive its sealing key from.
    let (_, tok) = auth
        .add_user(&admin, "alice@example.com", "Alice", &[])
        .unwrap();
    let e = auth
        .enroll(
            tok.token.expose(),
            &csr("alice-sign.key.pem", "alice@example.com"),
        )
        .unwrap();
    let cert = pki::certificate::parse_certificate(&e.signing_cert).unwrap();
    pki::certificate::verify_signed_by(&cert, &ca).unwrap();
    let uri = auth.enable_totp(&admin).unwrap();
    let now = clock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let code = authority::totp_code(&uri, now).unwrap();
    let s = auth
        .login_from(
            "admin",
            &Password::new(ADMIN_PW),
            &authority::SignIn::local().with_totp(Some(&code)),
        )
        .unwrap();
    let entries = auth.audit_list(&s.admin, None).unwrap();
    let signed_by = format!("signed-by {}", t.key_ref());
    for action in ["init", "enroll"] {
        let e = entries
            .iter()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("no {action} entry in {entries:?}"));
        assert_eq!(e.detail, signed_by, "{action}");
    }
    assert!(auth.audit_verify(&s.admin).unwrap().ok);
    let backup = Some(auth.backup_now(Some(&s.admin)).unwrap());
    drop(auth);

    // Nothing of the CA key is in the database, its WAL or the backup.
    let pkcs8 = t.inner.to_pkcs8_der().unwrap();
    let pkcs1 = t.inner.to_pkcs1_der().unwrap();
    let needles = needles(&[pkcs8.as_bytes(), pkcs1.as_bytes()], &published.ca_der);
    // The private exponent and primes: far more than a few windows.
    assert!(needles.len() > 1000, "{}", needles.len());
    let mut files: Vec<std::path::PathBuf> = backup
        .iter()
        .map(|b| std::path::PathBuf::from(&b.path))
        .collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            files.push(p);
        }
    }
    // The database file and the backup on SQLite, the backup on PostgreSQL (whose
    // database is the server's: its rows are searched below).
    assert!(files.len() >= 2, "{files:?}");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let found = bytes
            .windows(32)
            .position(|w| needles.contains(<&[u8; 32]>::try_from(w).unwrap()));
        assert_eq!(found, None, "CA key material in {}", f.display());
    }
    if pg.is_some() {
        let conn = super::raw_in(pg.as_ref(), &dir);
        let columns: Vec<(String, String)> = conn
            .query_map(
                "SELECT table_name, column_name FROM information_schema.columns
                 WHERE table_schema = 'public' AND data_type = 'bytea'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(columns.len() > 5, "{columns:?}");
        for (table, column) in &columns {
            let values: Vec<Option<Vec<u8>>> = conn
                .query_map(&format!("SELECT {column} FROM {table}"), [], |r| r.get(0))
                .unwrap();
            for bytes in values.iter().flatten() {
                let found = bytes
                    .windows(32)
                    .position(|w| needles.contains(<&[u8; 32]>::try_from(w).unwrap()));
                assert_eq!(found, None, "CA key material in {table}.{column}");
            }
        }
    }
    // The escrow entry of the CA key is a reference; no escrowed entry is the CA key.
    let store = open_store_in(pg.as_ref(), &dir);
    let unlocked = store
        .unlock(&Credential::password("start-up password"))
        .unwrap();
    let ca_entries = unlocked.keys_of("ca").unwrap();
    assert_eq!(ca_entries.len(), 1);
    let record = ca_entries[0].private_key_der.expose();
    assert!(PrivateKey::from_der(record).is_err());
    assert_eq!(
        std::str::from_utf8(record).unwrap(),
        format!("kms-ca-key-ref/v1\n{}", t.key_ref())
    );
    drop(unlocked);

    // Unlocking needs the token key: none, or another key, is refused with AUTH-151.
    let cred = Credential::password("start-up password");
    let e = authority::unlock(&store, &cred, config(), clock.clone()).unwrap_err();
    assert_eq!(e.code(), "AUTH-151", "{e}");
    assert!(e.to_string().contains("[ca_key]"), "{e}");
    let other = token("ca2-4096.key.pem");
    let e = authority::unlock(&store, &cred, token_config(&other), clock.clone()).unwrap_err();
    assert_eq!(e.code(), "AUTH-151", "{e}");
    let auth = authority::unlock(&store, &cred, token_config(&t), clock.clone()).unwrap();
    // The TOTP secret sealed before opens again (the derived secret is stable).
    clock.advance(std::time::Duration::from_secs(60));
    let now = now + 60;
    let code = authority::totp_code(&uri, now).unwrap();
    auth.login_from(
        "admin",
        &Password::new(ADMIN_PW),
        &authority::SignIn::local().with_totp(Some(&code)),
    )
    .unwrap();

    // `kmsd check` sees a reference to the CA certificate's key, not a damaged key (it
    // reads a data directory's SQLite file: no PostgreSQL form yet).
    drop(auth);
    if pg.is_none() {
        let report = authority::check_store(&dir, &cred).unwrap();
        assert!(report.is_sound(), "{report:?}");
        assert_eq!(report.ca_key.as_deref(), Some(&*t.key_ref().to_string()));
    }
}

#[test]
fn a_software_ca_refuses_a_token_key() {
    let f = super::fixture();
    let t = token("ca-3072.key.pem");
    let store = f.open_store();
    drop(f.auth);
    let e = authority::unlock(
        &store,
        &Credential::password("start-up password"),
        token_config(&t),
        f.clock.clone(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "AUTH-151", "{e}");
    assert!(e.to_string().contains("software"), "{e}");
}

#[test]
fn a_token_that_goes_away_refuses_signing_with_auth_150_and_is_reported_until_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let clock = Arc::new(ManualClock::new(start()));
    let t = token("ca-3072.key.pem");
    let pg = new_database();
    let auth = init(pg.as_ref(), &dir, &t, clock.clone());
    let admin = auth.login("admin", &Password::new(ADMIN_PW)).unwrap().admin;
    let (_, tok) = auth
        .add_user(&admin, "alice@example.com", "Alice", &[])
        .unwrap();
    assert_eq!(auth.check_signer(), None);
    assert!(auth.health().is_empty(), "{:?}", auth.health());

    t.present.store(false, Ordering::SeqCst);
    let e = auth
        .enroll(
            tok.token.expose(),
            &csr("alice-sign.key.pem", "alice@example.com"),
        )
        .unwrap_err();
    assert_eq!(e.code(), "AUTH-150", "{e}");
    assert!(e.to_string().contains("HSM-004"), "{e}");
    // Nothing half-issued: no certificate recorded, the token still usable.
    let detail = auth.user(&admin, "alice@example.com").unwrap();
    assert!(detail.certificates.is_empty(), "{detail:?}");
    // /healthz's reasons say so, from the failure and from the tick's check.
    let reasons = auth.health();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("no signer") && r.contains("HSM-004")),
        "{reasons:?}"
    );
    assert!(auth.check_signer().is_some());
    assert!(auth.health().iter().any(|r| r.starts_with("no signer")));
    // The CRL published before is still there to serve.
    assert!(!auth.published().crl_der.is_empty());

    // Back: the next check clears it, and the same token enrolls.
    t.present.store(true, Ordering::SeqCst);
    assert_eq!(auth.check_signer(), None);
    assert!(auth.health().is_empty(), "{:?}", auth.health());
    auth.enroll(
        tok.token.expose(),
        &csr("alice-sign.key.pem", "alice@example.com"),
    )
    .unwrap();
    let detail = auth.user(&admin, "alice@example.com").unwrap();
    assert_eq!(detail.certificates.len(), 2);
}
