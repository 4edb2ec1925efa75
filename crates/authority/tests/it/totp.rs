//! The TOTP second factor: enabling gives an `otpauth://` URI, sign-in then needs a valid
//! unused code, a missing or wrong code answers as a wrong password, disabling.

use std::time::{Duration, UNIX_EPOCH};

use authority::{Clock, Error, Role, SignIn, totp_code};
use escrow::Password;

use super::{ADMIN_PW, Fixture, fixture};

fn now(f: &Fixture) -> i64 {
    f.clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn with(code: Option<&str>) -> SignIn {
    SignIn::local().with_totp(code)
}

fn pw() -> Password {
    Password::new(ADMIN_PW)
}

#[test]
fn enabled_totp_is_needed_at_sign_in_and_a_code_works_once() {
    let f = fixture();
    let s = f.auth.login("admin", &pw()).unwrap();
    let admin = f.auth.authenticate(s.token.expose()).unwrap();
    let uri = f.auth.enable_totp(&admin).unwrap();
    assert!(
        uri.starts_with("otpauth://totp/KMS:admin?secret=")
            && uri.ends_with("&issuer=KMS&algorithm=SHA1&digits=6&period=30"),
        "{}",
        uri.as_str()
    );
    // Enabling twice is refused (the secret is shown once).
    assert!(matches!(
        f.auth.enable_totp(&admin),
        Err(Error::Invalid { .. })
    ));

    // Missing and wrong codes answer exactly like a wrong password.
    assert!(matches!(
        f.auth.login("admin", &pw()),
        Err(Error::BadCredentials)
    ));
    let good = totp_code(&uri, now(&f)).unwrap();
    let bad = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert!(matches!(
        f.auth.login_from("admin", &pw(), &with(Some(&bad))),
        Err(Error::BadCredentials)
    ));
    assert!(matches!(
        f.auth.login_from("admin", &pw(), &with(Some("abcdef"))),
        Err(Error::BadCredentials)
    ));
    // A right code with a wrong password is refused too.
    assert!(matches!(
        f.auth
            .login_from("admin", &Password::new("wrong"), &with(Some(&good))),
        Err(Error::BadCredentials)
    ));
    // The right password and code sign in.
    f.auth
        .login_from("admin", &pw(), &with(Some(&good)))
        .unwrap();
    // The same code again is a replay.
    assert!(matches!(
        f.auth.login_from("admin", &pw(), &with(Some(&good))),
        Err(Error::BadCredentials)
    ));
    // The previous step's code (still within the drift window) is older than the one used.
    let previous = totp_code(&uri, now(&f) - 30).unwrap();
    assert!(matches!(
        f.auth.login_from("admin", &pw(), &with(Some(&previous))),
        Err(Error::BadCredentials)
    ));
    // The next step's code works.
    f.clock.advance(Duration::from_secs(30));
    let next = totp_code(&uri, now(&f)).unwrap();
    f.auth
        .login_from("admin", &pw(), &with(Some(&next)))
        .unwrap();

    // Audit entries: the enable, and refused sign-ins.
    let log = f.auth.audit_list(&admin, None).unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "admin.totp-enable" && e.outcome == "ok")
    );
    assert!(log.iter().any(|e| e.action == "login" && e.outcome != "ok"));
}

#[test]
fn wrong_codes_count_towards_the_lock_out() {
    let f = fixture();
    let s = f.auth.login("admin", &pw()).unwrap();
    let admin = f.auth.authenticate(s.token.expose()).unwrap();
    let uri = f.auth.enable_totp(&admin).unwrap();
    for _ in 0..10 {
        let _ = f.auth.login_from("admin", &pw(), &with(Some("000000")));
    }
    // Locked out for this address: even the right code is refused.
    let good = totp_code(&uri, now(&f)).unwrap();
    assert!(matches!(
        f.auth.login_from("admin", &pw(), &with(Some(&good))),
        Err(Error::BadCredentials)
    ));
}

#[test]
fn disabling_own_and_for_another_administrator() {
    let f = fixture();
    let s = f.auth.login("admin", &pw()).unwrap();
    let admin = f.auth.authenticate(s.token.expose()).unwrap();
    let other_pw = Password::new("second admin password 2");
    f.auth
        .add_admin(&admin, "bob", Role::Officer, &other_pw)
        .unwrap();
    let s = f.auth.login("bob", &other_pw).unwrap();
    let bob = f.auth.authenticate(s.token.expose()).unwrap();
    f.auth.enable_totp(&bob).unwrap();
    assert!(f.auth.login("bob", &other_pw).is_err());

    // An officer cannot disable another's.
    assert!(matches!(
        f.auth.disable_totp(&bob, "admin"),
        Err(Error::Forbidden { .. })
    ));
    // Own: disabling it lets the password alone sign in again.
    assert!(f.auth.disable_totp(&bob, "bob").unwrap());
    f.auth.login("bob", &other_pw).unwrap();
    assert!(!f.auth.disable_totp(&bob, "bob").unwrap());

    // An administrator disables it for a colleague who lost their authenticator.
    f.auth.enable_totp(&bob).unwrap();
    assert!(f.auth.login("bob", &other_pw).is_err());
    assert!(f.auth.disable_totp(&admin, "bob").unwrap());
    f.auth.login("bob", &other_pw).unwrap();
    assert!(matches!(
        f.auth.disable_totp(&admin, "nobody"),
        Err(Error::UnknownAdmin { .. })
    ));
    let log = f.auth.audit_list(&admin, None).unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "admin.totp-disable" && e.target == "bob" && e.actor == "admin")
    );
}
