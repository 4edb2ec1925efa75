//! Each failure to open or generate a token key has its own code: a module that cannot be
//! loaded (HSM-001), a token (HSM-002), a PIN refused without echoing it (HSM-003), no key
//! (HSM-005), a key that may leave the token or may not sign (HSM-006), a label in use when
//! generating (HSM-007), a key size not generated (HSM-009).

use hsm::testing::{SoftHsm, USER_PIN};
use hsm::{HsmError, Pin, TokenConfig, TokenKey};

fn open_err(cfg: &TokenConfig, pin: &str) -> HsmError {
    match TokenKey::open(cfg, Pin::new(pin.into())) {
        Ok(key) => panic!("opened {key:?}"),
        Err(e) => e,
    }
}

#[test]
fn a_missing_or_broken_module_is_hsm_001() {
    let dir = tempfile::tempdir().unwrap();
    let missing = TokenConfig {
        module: dir.path().join("no-such-module.so"),
        token_label: "T".into(),
        key_label: "k".into(),
    };
    let err = open_err(&missing, USER_PIN);
    assert_eq!(err.code(), "HSM-001");
    assert!(err.to_string().contains("no-such-module.so"), "{err}");
    // A file that is not a shared library.
    let junk = dir.path().join("junk.so");
    std::fs::write(&junk, b"not an ELF file").unwrap();
    let err = open_err(
        &TokenConfig {
            module: junk,
            ..missing.clone()
        },
        USER_PIN,
    );
    assert_eq!(err.code(), "HSM-001", "{err}");
    // Generating reports the same.
    let err = TokenKey::generate(&missing, Pin::new(USER_PIN.into()), 2048).unwrap_err();
    assert_eq!(err.code(), "HSM-001");
}

#[test]
fn unknown_token_wrong_pin_and_unknown_key_have_their_codes() {
    let Some(hsm) =
        SoftHsm::fresh_process("errors::unknown_token_wrong_pin_and_unknown_key_have_their_codes")
    else {
        return;
    };
    hsm.init_token("present");
    TokenKey::generate(&SoftHsm::config("present", "ca"), SoftHsm::pin(), 2048).unwrap();

    let err = open_err(&SoftHsm::config("absent", "ca"), USER_PIN);
    assert_eq!(err.code(), "HSM-002");
    assert!(
        err.to_string().contains("\"present\""),
        "lists the tokens present: {err}"
    );

    let wrong = "wrong-pin-97531";
    let err = open_err(&SoftHsm::config("present", "ca"), wrong);
    assert_eq!(err.code(), "HSM-003");
    let text = err.to_string();
    let debug = format!("{err:?}");
    assert!(text.contains("CKR_PIN_INCORRECT"), "{text}");
    for shown in [&text, &debug] {
        assert!(
            !shown.contains(wrong) && !shown.contains("97531"),
            "PIN echoed: {shown}"
        );
    }
    // The PIN itself never prints.
    assert_eq!(format!("{:?}", Pin::new(wrong.into())), "Pin(***)");

    let err = open_err(&SoftHsm::config("present", "no-such-key"), USER_PIN);
    assert_eq!(err.code(), "HSM-005");
    assert!(err.to_string().contains("no-such-key"), "{err}");

    // The right PIN still opens the key: the failures did not lock the token.
    TokenKey::open(&SoftHsm::config("present", "ca"), SoftHsm::pin()).unwrap();
}

#[test]
fn keys_that_may_leave_the_token_or_may_not_sign_are_hsm_006() {
    let Some(hsm) =
        SoftHsm::fresh_process("errors::keys_that_may_leave_the_token_or_may_not_sign_are_hsm_006")
    else {
        return;
    };
    hsm.init_token("T");
    let login = ["--token-label", "T", "--login", "--pin", USER_PIN];
    let tool = |extra: &[&str]| {
        let args: Vec<&str> = login.iter().chain(extra).copied().collect();
        let out = hsm.pkcs11_tool(&args);
        assert!(
            out.status.success(),
            "pkcs11-tool {extra:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Generated in the token, but extractable.
    tool(&[
        "--keypairgen",
        "--key-type",
        "rsa:2048",
        "--label",
        "extractable",
        "--usage-sign",
        "--extractable",
    ]);
    // Imported (one of the repository's test keys, as PKCS#8 DER), extractable.
    let dir = tempfile::tempdir().unwrap();
    let der = dir.path().join("key.der");
    let key = pki::PrivateKey::from_pem_or_der(include_bytes!("../../../../keys/bob-sign.key.pem"))
        .unwrap();
    std::fs::write(&der, key.to_pkcs8_der().unwrap().as_bytes()).unwrap();
    let der_arg = der.to_str().unwrap();
    tool(&[
        "--write-object",
        der_arg,
        "--type",
        "privkey",
        "--label",
        "imported",
        "--usage-sign",
        "--extractable",
    ]);
    // Not allowed to sign (pkcs11-tool cannot make one: SoftHSM sets CKA_SIGN by default).
    no_sign_key_pair(&SoftHsm::module(), "T", "decrypt-only");
    // Asks for the PIN at every signature.
    tool(&[
        "--keypairgen",
        "--key-type",
        "rsa:2048",
        "--label",
        "always-auth",
        "--usage-sign",
        "--always-auth",
    ]);
    // Too small for a CA key.
    tool(&[
        "--keypairgen",
        "--key-type",
        "rsa:1024",
        "--label",
        "small",
        "--usage-sign",
    ]);
    // Not RSA.
    tool(&[
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--label",
        "ec",
        "--usage-sign",
    ]);
    for (label, reason) in [
        ("extractable", "CKA_EXTRACTABLE is set"),
        ("imported", "CKA_EXTRACTABLE is set"),
        ("decrypt-only", "CKA_SIGN is not set"),
        ("ec", "not an RSA key"),
        ("small", "RSA-1024 is too small"),
        ("always-auth", "CKA_ALWAYS_AUTHENTICATE is set"),
    ] {
        let err = open_err(&SoftHsm::config("T", label), USER_PIN);
        assert_eq!(err.code(), "HSM-006", "{label}: {err}");
        assert!(err.to_string().contains(reason), "{label}: {err}");
    }
}

/// Generates an RSA key pair labelled `label` whose private key has `CKA_SIGN` false,
/// through cryptoki directly (initialising the module first, as another library of the same
/// process could: `TokenKey` then shares the initialised module).
fn no_sign_key_pair(module: &std::path::Path, token: &str, label: &str) {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::Attribute;
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;

    let ctx = Pkcs11::new(module).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == token)
        .unwrap();
    let session = ctx.open_rw_session(slot).unwrap();
    session
        .login(UserType::User, Some(&AuthPin::from(USER_PIN.to_string())))
        .unwrap();
    let label = label.as_bytes().to_vec();
    session
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::ModulusBits(2048u64.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Label(label.clone()),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(false),
                Attribute::Decrypt(true),
                Attribute::Label(label),
            ],
        )
        .unwrap();
}

#[test]
fn generate_refuses_a_label_in_use_and_odd_sizes() {
    let Some(hsm) = SoftHsm::fresh_process("errors::generate_refuses_a_label_in_use_and_odd_sizes")
    else {
        return;
    };
    hsm.init_token("T");
    let cfg = SoftHsm::config("T", "ca");
    for bits in [1024, 2047, 16384] {
        let err = TokenKey::generate(&cfg, SoftHsm::pin(), bits).unwrap_err();
        assert_eq!(err.code(), "HSM-009", "{bits}");
    }
    let first = TokenKey::generate(&cfg, SoftHsm::pin(), 2048).unwrap();
    let err = TokenKey::generate(&cfg, SoftHsm::pin(), 2048).unwrap_err();
    assert_eq!(err.code(), "HSM-007");
    // The first key is untouched and still the one opened under the label.
    let opened = TokenKey::open(&cfg, SoftHsm::pin()).unwrap();
    use pki::SigningKey;
    assert_eq!(opened.public_key(), first.public_key());
    // Generating with a wrong PIN is refused before anything is made. (PKCS#11 logs in the
    // application, not a session: with no key open, no session is logged in.)
    drop((first, opened));
    let err = TokenKey::generate(
        &SoftHsm::config("T", "other"),
        Pin::new("not-the-pin".into()),
        2048,
    )
    .unwrap_err();
    assert_eq!(err.code(), "HSM-003");
    let err = open_err(&SoftHsm::config("T", "other"), USER_PIN);
    assert_eq!(err.code(), "HSM-005");
}
