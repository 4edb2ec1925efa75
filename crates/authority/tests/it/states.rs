//! Users' lifecycle states (`UserState`): each state reached the way an administrator gets
//! there, the precedence between them, the expiring window and the state filter of the user
//! search.

use std::time::Duration;

use authority::{Admin, Clock, RevokeTarget, UserQuery, UserState};
use escrow::Password;
use pki::crl::RevocationReason;

use super::{ADMIN_PW, Fixture, csr, fixture, key};

const DAY: u64 = 86400;

fn admin(f: &Fixture) -> Admin {
    let s = f.auth.login("admin", &Password::new(ADMIN_PW)).unwrap();
    f.auth.authenticate(s.token.expose()).unwrap()
}

/// (state, state_expires_at) of `email` as the user page and the list both show it.
fn state(f: &Fixture, admin: &Admin, email: &str) -> (UserState, Option<i64>) {
    let d = f.auth.user(admin, email).unwrap();
    let listed = f
        .auth
        .list_users(admin)
        .unwrap()
        .into_iter()
        .find(|u| u.email == email)
        .unwrap();
    assert_eq!(
        (listed.state, listed.state_expires_at),
        (d.user.state, d.user.state_expires_at),
        "{email}: the list and the user page agree"
    );
    (d.user.state, d.user.state_expires_at)
}

fn with_state(f: &Fixture, admin: &Admin, s: UserState) -> (i64, Vec<String>) {
    let page = f
        .auth
        .search_users(
            admin,
            &UserQuery {
                state: Some(s),
                ..UserQuery::default()
            },
        )
        .unwrap();
    for u in &page.items {
        assert_eq!(u.state, s, "{} in the {s} filter", u.email);
    }
    (
        page.total,
        page.items.into_iter().map(|u| u.email).collect(),
    )
}

fn now(f: &Fixture) -> i64 {
    f.clock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn every_state_in_its_precedence() {
    let f = fixture();
    f.auth
        .add_pool_keys(vec![key("spare-3.key.pem"), key("spare-4.key.pem")]);
    let admin = admin(&f);
    let t0 = now(&f);
    let mut tokens = Vec::new();
    for (email, name) in [
        ("alice@example.com", "Alice"),
        ("bob@example.com", "Bob"),
        ("carol@example.com", "Carol"),
        ("dave@example.com", "Dave"),
    ] {
        let (u, t) = f.auth.add_user(&admin, email, name, &[]).unwrap();
        assert_eq!(
            (u.state, u.state_expires_at),
            (UserState::Invited, Some(t.expires_at))
        );
        tokens.push(t);
    }
    // A fresh user is invited until the token's expiry.
    assert_eq!(
        state(&f, &admin, "dave@example.com"),
        (UserState::Invited, Some(t0 + 7 * DAY as i64))
    );
    for (t, (email, k)) in tokens.iter().zip([
        ("alice@example.com", "alice-sign.key.pem"),
        ("bob@example.com", "bob-sign.key.pem"),
        ("carol@example.com", "carol-sign.key.pem"),
    ]) {
        f.auth.enroll(t.token.expose(), &csr(k, email)).unwrap();
    }
    let alice = f.auth.user(&admin, "alice@example.com").unwrap();
    let not_after = alice
        .certificates
        .iter()
        .map(|c| c.not_after)
        .min()
        .unwrap();
    assert_eq!(
        state(&f, &admin, "alice@example.com"),
        (UserState::Enrolled, Some(not_after))
    );
    // One certificate revoked of two: still enrolled (the other is valid).
    let signing = alice
        .certificates
        .iter()
        .find(|c| c.kind == "signing")
        .unwrap()
        .serial
        .clone();
    f.auth
        .revoke(
            &admin,
            &RevokeTarget::Serial(signing),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    assert_eq!(
        state(&f, &admin, "alice@example.com").0,
        UserState::Enrolled
    );
    // Every current certificate revoked: revoked.
    f.auth
        .revoke(
            &admin,
            &RevokeTarget::User("bob@example.com".into()),
            RevocationReason::Unspecified,
        )
        .unwrap();
    assert_eq!(
        state(&f, &admin, "bob@example.com"),
        (UserState::Revoked, None)
    );
    // Disabled wins over everything, certificates or not.
    let u = f.auth.disable_user(&admin, "carol@example.com").unwrap();
    assert_eq!((u.state, u.state_expires_at), (UserState::Disabled, None));
    assert_eq!(
        state(&f, &admin, "carol@example.com"),
        (UserState::Disabled, None)
    );

    // A day after dave's token expired: invitation-expired, with when it did.
    f.clock.advance(Duration::from_secs(8 * DAY));
    assert_eq!(
        state(&f, &admin, "dave@example.com"),
        (UserState::InvitationExpired, Some(t0 + 7 * DAY as i64))
    );
    // A new token invites again.
    let t = f.auth.new_token(&admin, "dave@example.com").unwrap();
    assert_eq!(
        state(&f, &admin, "dave@example.com"),
        (UserState::Invited, Some(t.expires_at))
    );
    f.auth
        .add_user(&admin, "erin@example.com", "Erin", &[])
        .unwrap();

    // The filter finds each state's users, and only them.
    assert_eq!(
        with_state(&f, &admin, UserState::Invited),
        (
            2,
            vec![
                "dave@example.com".to_string(),
                "erin@example.com".to_string()
            ]
        )
    );
    assert_eq!(
        with_state(&f, &admin, UserState::Revoked),
        (1, vec!["bob@example.com".to_string()])
    );
    assert_eq!(
        with_state(&f, &admin, UserState::Disabled),
        (1, vec!["carol@example.com".to_string()])
    );
    assert_eq!(with_state(&f, &admin, UserState::Expiring).0, 0);
    assert_eq!(with_state(&f, &admin, UserState::New).0, 0);

    // The expiring window (30 days by default): 31 days before notAfter still enrolled,
    // 29 days before it expiring.
    assert_eq!(authority::DEFAULT_EXPIRING_WINDOW_DAYS, 30);
    let to = |t: i64| {
        let n = now(&f);
        f.clock.advance(Duration::from_secs((t - n) as u64));
    };
    to(not_after - 31 * DAY as i64);
    assert_eq!(
        state(&f, &admin, "alice@example.com").0,
        UserState::Enrolled
    );
    to(not_after - 29 * DAY as i64);
    assert_eq!(
        state(&f, &admin, "alice@example.com"),
        (UserState::Expiring, Some(not_after))
    );
    assert_eq!(
        with_state(&f, &admin, UserState::Expiring),
        (1, vec!["alice@example.com".to_string()])
    );
    // Past notAfter: expired, with when; revoked stays revoked (it wins over expired);
    // disabled stays disabled.
    to(not_after + 1);
    assert_eq!(
        state(&f, &admin, "alice@example.com"),
        (UserState::Expired, Some(not_after))
    );
    assert_eq!(state(&f, &admin, "bob@example.com").0, UserState::Revoked);
    assert_eq!(
        state(&f, &admin, "carol@example.com").0,
        UserState::Disabled
    );
    assert_eq!(
        with_state(&f, &admin, UserState::Expired),
        (1, vec!["alice@example.com".to_string()])
    );
}

#[test]
fn renewal_makes_an_expiring_user_enrolled_again() {
    let f = fixture();
    let admin = admin(&f);
    let (_, t) = f
        .auth
        .add_user(&admin, "alice@example.com", "Alice", &[])
        .unwrap();
    f.auth
        .enroll(
            t.token.expose(),
            &csr("alice-sign.key.pem", "alice@example.com"),
        )
        .unwrap();
    let na = f
        .auth
        .user(&admin, "alice@example.com")
        .unwrap()
        .certificates[0]
        .not_after;
    f.clock
        .advance(Duration::from_secs((na - now(&f)) as u64 - 10 * DAY));
    assert_eq!(
        state(&f, &admin, "alice@example.com").0,
        UserState::Expiring
    );
    f.auth.renew(&admin, "alice@example.com", false).unwrap();
    // The superseded certificates no longer count: the renewed ones decide.
    let (s, exp) = state(&f, &admin, "alice@example.com");
    assert_eq!(s, UserState::Enrolled);
    assert!(exp.unwrap() > na + 300 * DAY as i64, "{exp:?}");
}

#[test]
fn states_parse_and_name_themselves() {
    for s in UserState::ALL {
        assert_eq!(s.as_str().parse::<UserState>().unwrap(), s);
        assert!(!s.meaning().is_empty());
    }
    assert_eq!(
        "invitation-expired".parse::<UserState>().unwrap(),
        UserState::InvitationExpired
    );
    assert!("active".parse::<UserState>().is_err());
}
