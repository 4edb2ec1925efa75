//! The SMIMECapabilities of new users' certificates: by default AES-256-CBC, AES-128-CBC,
//! 3DES in that order (what Outlook and Thunderbird read); a list configured for the
//! authority (`Config::capabilities`, `capabilities` in `kmsd.toml`) is honoured, strongest
//! first, and a list given for the user wins over it.

use std::sync::Arc;

use authority::{InitParams, ManualClock};
use escrow::{Argon2Params, InitOptions, Password};
use pki::ContentAlgorithm as A;

use super::{ADMIN_PW, config, csr, init_on, key, new_database, start};

/// The content of the SMIMECapabilities extension of a certificate (DER), as written.
fn capabilities_extension(der: &[u8]) -> Vec<u8> {
    let cert = pki::certificate::parse_certificate(der).unwrap();
    let oid = pki::algorithms::oid::SMIME_CAPABILITIES;
    let ext = cert
        .tbs_certificate()
        .extensions()
        .unwrap()
        .iter()
        .find(|e| e.extn_id == oid)
        .expect("an SMIMECapabilities extension");
    ext.extn_value.as_bytes().to_vec()
}

/// Enrolls `email` (added with `given` capabilities) with an authority configured with
/// `configured`, and returns (signing, encryption) certificates.
fn issued(configured: Option<Vec<A>>, given: &[A]) -> (Vec<u8>, Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config();
    if let Some(c) = configured {
        cfg.capabilities = c;
    }
    let pg = new_database();
    let auth = init_on(
        pg.as_ref(),
        InitParams {
            data_dir: &tmp.path().join("data"),
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
        cfg,
        Arc::new(ManualClock::new(start())),
    )
    .unwrap();
    auth.add_pool_keys(vec![key("spare-1.key.pem")]);
    let admin = auth
        .authenticate(
            auth.login("admin", &Password::new(ADMIN_PW))
                .unwrap()
                .token
                .expose(),
        )
        .unwrap();
    let (user, token) = auth
        .add_user(&admin, "alice@example.com", "Alice Doe", given)
        .unwrap();
    let e = auth
        .enroll(
            token.token.expose(),
            &csr("alice-sign.key.pem", "alice@example.com"),
        )
        .unwrap();
    // What the user record shows is what the certificates list.
    let shown: Vec<A> = user
        .capabilities
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    assert_eq!(
        pki::algorithms::encode_capabilities(&shown).unwrap(),
        capabilities_extension(&e.encryption_cert)
    );
    (e.signing_cert, e.encryption_cert)
}

#[test]
fn new_users_get_aes256_aes128_3des_in_that_order() {
    let (sign, enc) = issued(None, &[]);
    for der in [&sign, &enc] {
        let ext = capabilities_extension(der);
        // SEQUENCE { {aes256-CBC}, {aes128-CBC}, {des-ede3-cbc} }, parameters absent.
        assert_eq!(
            ext,
            [
                &[0x30, 0x26][..],
                &[
                    0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a
                ],
                &[
                    0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02
                ],
                &[
                    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x07
                ],
            ]
            .concat()
        );
        let info = pki::CertificateInfo::from_certificate(
            &pki::certificate::parse_certificate(der).unwrap(),
        )
        .unwrap();
        assert_eq!(info.capabilities, [A::Aes256, A::Aes128, A::TripleDes]);
    }
}

#[test]
fn a_configured_list_is_honoured_strongest_first_and_a_given_one_wins() {
    let configured = Some(vec![A::TripleDes, A::Aes256Gcm, A::Aes128]);
    let (_, enc) = issued(configured.clone(), &[]);
    let info =
        pki::CertificateInfo::from_certificate(&pki::certificate::parse_certificate(&enc).unwrap())
            .unwrap();
    assert_eq!(info.capabilities, [A::Aes256Gcm, A::Aes128, A::TripleDes]);

    let (_, enc) = issued(configured, &[A::Des, A::Aes192]);
    let info =
        pki::CertificateInfo::from_certificate(&pki::certificate::parse_certificate(&enc).unwrap())
            .unwrap();
    assert_eq!(info.capabilities, [A::Aes192, A::Des]);
}
