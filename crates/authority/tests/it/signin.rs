//! Sign-in hardening: the per-address throttle before the account, lock-outs per account and
//! address, identical refusals, the idle timeout and `unlock_admin`.

use std::net::IpAddr;
use std::time::Duration;

use authority::{Error, Role, SignIn};
use escrow::Password;

use super::{ADMIN_PW, fixture};

fn from(ip: &str) -> SignIn {
    SignIn::from(ip.parse::<IpAddr>().unwrap())
}

fn wrong() -> Password {
    Password::new("not the password")
}

#[test]
fn an_outsider_cannot_lock_root_out_from_another_address() {
    let f = fixture();
    let a = from("192.0.2.10");
    for _ in 0..10 {
        assert!(matches!(
            f.auth.login_from("admin", &wrong(), &a),
            Err(Error::BadCredentials)
        ));
    }
    // Locked out from A, even with the right password (and answered as a wrong password).
    assert!(matches!(
        f.auth.login_from("admin", &Password::new(ADMIN_PW), &a),
        Err(Error::BadCredentials)
    ));
    // From B, root signs in.
    let s = f
        .auth
        .login_from("admin", &Password::new(ADMIN_PW), &from("198.51.100.7"))
        .unwrap();
    let admin = f.auth.authenticate(s.token.expose()).unwrap();
    // The listing shows the lock-out (from A).
    let listed = f.auth.list_admins(&admin).unwrap();
    assert!(listed[0].locked_until.is_some());
}

#[test]
fn an_address_over_the_limit_is_refused_before_any_account() {
    let f = fixture();
    let a = from("2001:db8:5:6::1");
    // Failures over several names (unknown ones too) count for the address.
    for i in 0..20 {
        let r = f.auth.login_from(&format!("name{}", i % 3), &wrong(), &a);
        assert!(matches!(r, Err(Error::BadCredentials)), "{i}");
    }
    // Another address of the same /64 counts with it.
    let same_prefix = from("2001:db8:5:6:ffff::2");
    match f
        .auth
        .login_from("admin", &Password::new(ADMIN_PW), &same_prefix)
    {
        Err(Error::SignInThrottled { retry_after }) => {
            assert!(retry_after > 0 && retry_after <= 15 * 60, "{retry_after}")
        }
        other => panic!("expected AUTH-050, got {:?}", other.map(|_| ())),
    }
    assert_eq!(Error::SignInThrottled { retry_after: 1 }.code(), "AUTH-050");
    // The account was not touched: root signs in from elsewhere, and from A once the window
    // is over.
    f.auth
        .login_from("admin", &Password::new(ADMIN_PW), &from("192.0.2.99"))
        .unwrap();
    f.clock.advance(Duration::from_secs(15 * 60 + 1));
    f.auth
        .login_from("admin", &Password::new(ADMIN_PW), &a)
        .unwrap();
}

#[test]
fn locked_unknown_and_wrong_answer_alike() {
    let f = fixture();
    let a = from("192.0.2.20");
    let b = from("192.0.2.21");
    let c = from("192.0.2.22");
    for _ in 0..5 {
        let _ = f.auth.login_from("admin", &wrong(), &a);
    }
    let locked = f
        .auth
        .login_from("admin", &Password::new(ADMIN_PW), &a)
        .map(|_| ())
        .unwrap_err();
    let wrong_pw = f
        .auth
        .login_from("admin", &wrong(), &b)
        .map(|_| ())
        .unwrap_err();
    let unknown = f
        .auth
        .login_from("nobody", &wrong(), &c)
        .map(|_| ())
        .unwrap_err();
    for e in [&locked, &unknown] {
        assert_eq!(e.code(), wrong_pw.code());
        assert_eq!(e.to_string(), wrong_pw.to_string());
    }
}

#[test]
fn unlock_admin_clears_the_lock_out_and_needs_the_administrator_role() {
    let f = fixture();
    let root = f
        .auth
        .authenticate(
            f.auth
                .login("admin", &Password::new(ADMIN_PW))
                .unwrap()
                .token
                .expose(),
        )
        .unwrap();
    f.auth
        .add_admin(
            &root,
            "olga",
            Role::Officer,
            &Password::new("olga's long password"),
        )
        .unwrap();
    let olga = f
        .auth
        .authenticate(
            f.auth
                .login("olga", &Password::new("olga's long password"))
                .unwrap()
                .token
                .expose(),
        )
        .unwrap();
    let a = from("192.0.2.30");
    for _ in 0..5 {
        let _ = f.auth.login_from("admin", &wrong(), &a);
    }
    assert!(
        f.auth
            .login_from("admin", &Password::new(ADMIN_PW), &a)
            .is_err()
    );
    assert!(matches!(
        f.auth.unlock_admin(&olga, "admin"),
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        f.auth.unlock_admin(&root, "nobody"),
        Err(Error::UnknownAdmin { .. })
    ));
    let info = f.auth.unlock_admin(&root, "admin").unwrap();
    assert_eq!(info.locked_until, None);
    f.auth
        .login_from("admin", &Password::new(ADMIN_PW), &a)
        .unwrap();
    let entries = f.auth.audit_list(&root, None).unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.action == "admin.unlock" && e.target == "admin" && e.outcome == "ok"),
        "the unlock is audited"
    );
}

#[test]
fn idle_sessions_end_and_use_keeps_them_alive_until_the_lifetime() {
    let f = fixture();
    let s = f.auth.login("admin", &Password::new(ADMIN_PW)).unwrap();
    // Used every 20 minutes: alive past the 30-minute idle timeout...
    for _ in 0..6 {
        f.clock.advance(Duration::from_secs(20 * 60));
        f.auth.authenticate(s.token.expose()).unwrap();
    }
    // ...then idle for 31 minutes: ended.
    f.clock.advance(Duration::from_secs(31 * 60));
    assert!(matches!(
        f.auth.authenticate(s.token.expose()),
        Err(Error::NotSignedIn)
    ));
    // Used all along, it still ends at its absolute lifetime (8 hours).
    let s = f.auth.login("admin", &Password::new(ADMIN_PW)).unwrap();
    for _ in 0..(8 * 3 - 1) {
        f.clock.advance(Duration::from_secs(20 * 60));
        f.auth.authenticate(s.token.expose()).unwrap();
    }
    f.clock.advance(Duration::from_secs(20 * 60));
    assert!(matches!(
        f.auth.authenticate(s.token.expose()),
        Err(Error::NotSignedIn)
    ));
}
