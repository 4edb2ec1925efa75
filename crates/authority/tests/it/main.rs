//! Integration tests of the authority's service logic, in-process, with a manual clock,
//! cheap Argon2 parameters and the committed test keys of `keys/` (no RSA key generation).

mod views;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authority::{Authority, Config, Error, InitParams, ManualClock, RevokeTarget};
use escrow::{Argon2Params, Credential, InitOptions, Password, Store};
use pki::crl::{Crl, RevocationReason};
use pki::{DigestAlgorithm, Name, PrivateKey};

const ADMIN_PW: &str = "admin password 1";

fn key(name: &str) -> PrivateKey {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys")
        .join(name);
    PrivateKey::from_pem_or_der(&std::fs::read(path).unwrap()).unwrap()
}

fn config() -> Config {
    Config {
        admin_argon2: Argon2Params::new(64, 1, 1),
        key_pool_size: 0,
        enrollment_pbkdf2_iterations: 1000,
        ..Config::default()
    }
}

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: std::path::PathBuf,
    clock: Arc<ManualClock>,
    auth: Authority,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let clock = Arc::new(ManualClock::new(start()));
    let auth = authority::init(
        InitParams {
            data_dir: &dir,
            ca_subject: "CN=Test CA,O=Example",
            admin_name: "admin",
            admin_password: &Password::new(ADMIN_PW),
            unlock: InitOptions {
                password: Some(Password::new("start-up password")),
                key_file: None,
                argon2: Argon2Params::new(64, 1, 1),
            },
            public_url: "http://127.0.0.1:9999",
            ca_key: Some(key("ca-3072.key.pem")),
        },
        config(),
        clock.clone(),
    )
    .unwrap();
    auth.add_pool_keys(vec![key("spare-1.key.pem"), key("spare-2.key.pem")]);
    Fixture {
        _dir: tmp,
        dir,
        clock,
        auth,
    }
}

fn csr(key_name: &str, email: &str) -> Vec<u8> {
    pki::csr::build(
        &key(key_name),
        Name::from_str("CN=someone").unwrap(),
        email,
        DigestAlgorithm::Sha256,
    )
    .unwrap()
}

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
    assert_eq!(user.email, "alice@example.com");

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
    let serials = f
        .auth
        .revoke(
            &admin,
            &RevokeTarget::User("alice@example.com".into()),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
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
    let err = f
        .auth
        .revoke(
            &admin,
            &RevokeTarget::Serial(serials[0].clone()),
            RevocationReason::Superseded,
        )
        .unwrap_err();
    assert_eq!(err.code(), "AUTH-013");

    // The escrowed key survives a restart and unlock.
    drop(f.auth);
    let store = Store::open(&f.dir).unwrap();
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
    assert!(matches!(
        f.auth.login("admin", &Password::new("nope nope")),
        Err(Error::AccountLocked { .. })
    ));
    // Locked even with the right password, until the lock-out ends.
    assert!(matches!(
        f.auth.login("admin", &Password::new(ADMIN_PW)),
        Err(Error::AccountLocked { .. })
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
}
