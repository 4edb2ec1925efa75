//! The dashboard's health checks (`checks.rs`): each check's states made true with the manual
//! clock and the settings, the counts needing attention (failed sign-ins from their counter),
//! the daily activity, and the cache (a report is recomputed only when asked).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use authority::{Admin, CheckState, Config, HealthReport, ManualClock, RevokeTarget, SignIn};
use escrow::{Argon2Params, InitOptions, Password};
use pki::crl::RevocationReason;

use super::{ADMIN_PW, config, csr, key, start};

const DAY: u64 = 86_400;

struct F {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    clock: Arc<ManualClock>,
    auth: authority::Authority,
    admin: Admin,
}

/// An authority whose CRL publisher only looks at the clock once an hour of real time, so the
/// manual clock's jumps are seen by the checks before any re-sign.
fn fixture_with(tune: impl FnOnce(&mut Config)) -> F {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let clock = Arc::new(ManualClock::new(start()));
    let mut c = Config {
        crl_check_every: Duration::from_secs(3600),
        ..config()
    };
    tune(&mut c);
    let pg = super::new_database();
    let auth = super::init_on(
        pg.as_ref(),
        authority::InitParams {
            data_dir: &dir,
            ca_subject: "CN=Checks CA,O=Example",
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
        c,
        clock.clone(),
    )
    .unwrap();
    auth.add_pool_keys(vec![key("spare-1.key.pem"), key("spare-2.key.pem")]);
    let token = auth.login("admin", &Password::new(ADMIN_PW)).unwrap().token;
    let admin = auth.authenticate(token.expose()).unwrap();
    F {
        _tmp: tmp,
        dir,
        clock,
        auth,
        admin,
    }
}

fn state(r: &HealthReport, name: &str) -> (CheckState, String) {
    let c = r
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} check"));
    (c.state, c.message.clone())
}

#[test]
fn a_fresh_authority_is_well_but_for_its_missing_backup() {
    let f = fixture_with(|_| {});
    let r = f.auth.refresh_health().unwrap();
    let names: Vec<_> = r.checks.iter().map(|c| c.name).collect();
    assert_eq!(names, ["crl", "ocsp", "backup", "store", "tls", "ca"]);
    for n in ["crl", "ocsp", "store", "tls", "ca"] {
        assert_eq!(state(&r, n).0, CheckState::Ok, "{n}: {}", state(&r, n).1);
    }
    let (s, m) = state(&r, "backup");
    assert_eq!(s, CheckState::Warning);
    assert!(m.contains("No backup has been taken yet"), "{m}");
    assert!(m.contains("no backup schedule is on"), "{m}");
    assert_eq!(r.overall, CheckState::Warning);
    assert_eq!(r.activity.len(), 90);
    assert_eq!(r.attention.expiring_window_days, 30);
}

#[test]
fn a_crl_not_re_signed_warns_then_is_critical_past_its_next_update() {
    let f = fixture_with(|_| {});
    // Default: 7 days of validity, re-signed with 2 days left; the check warns when 1 day is
    // left (the publisher should have re-signed a day before).
    f.clock.advance(Duration::from_secs(6 * DAY + 3600));
    let r = f.auth.refresh_health().unwrap();
    let (s, m) = state(&r, "crl");
    assert_eq!(s, CheckState::Warning, "{m}");
    assert!(m.contains("not re-signed"), "{m}");
    f.clock.advance(Duration::from_secs(DAY));
    let (s, m) = state(&f.auth.refresh_health().unwrap(), "crl");
    assert_eq!(s, CheckState::Critical, "{m}");
    assert!(m.contains("past its nextUpdate"), "{m}");
    // Re-signed: well again.
    assert!(f.auth.refresh_crl_if_due().unwrap());
    let (s, m) = state(&f.auth.refresh_health().unwrap(), "crl");
    assert_eq!(s, CheckState::Ok, "{m}");
}

#[test]
fn the_crl_warning_threshold_is_a_setting() {
    let f = fixture_with(|c| c.crl_warning = Some(Duration::from_secs(8 * DAY)));
    let (s, m) = state(&f.auth.refresh_health().unwrap(), "crl");
    assert_eq!(s, CheckState::Warning, "{m}");
    assert!(m.contains("less than the 8 days warned about"), "{m}");
}

#[test]
fn backups_are_checked_against_their_schedule_and_their_verification() {
    let f = fixture_with(|_| {});
    let b = f.auth.backup_now(Some(&f.admin)).unwrap();
    let (s, m) = state(&f.auth.refresh_health().unwrap(), "backup");
    assert_eq!(s, CheckState::Warning, "{m}");
    assert!(m.contains("never verified"), "{m}");
    assert!(
        !f.auth
            .backup_verifications(&f.admin)
            .unwrap()
            .contains_key(&b.name)
    );

    f.auth.verify_backup(&f.admin, &b.name).unwrap();
    let (s, m) = state(&f.auth.refresh_health().unwrap(), "backup");
    assert_eq!(s, CheckState::Ok, "{m}");
    assert!(m.contains("Verified at"), "{m}");
    let v = f.auth.backup_verifications(&f.admin).unwrap();
    assert!(v[&b.name].ok);

    // A schedule of one hour: on time, then late, then very late.
    f.auth
        .set_backup_schedule(&f.admin, Some(Duration::from_secs(3600)), 3)
        .unwrap();
    f.clock.advance(Duration::from_secs(3600 + 60));
    assert_eq!(
        state(&f.auth.refresh_health().unwrap(), "backup").0,
        CheckState::Ok
    );
    f.clock.advance(Duration::from_secs(20 * 60));
    let (s, m) = state(&f.auth.refresh_health().unwrap(), "backup");
    assert_eq!(s, CheckState::Warning, "{m}");
    assert!(m.contains("older than its schedule"), "{m}");
    f.clock.advance(Duration::from_secs(3600));
    let (s, m) = state(&f.auth.refresh_health().unwrap(), "backup");
    assert_eq!(s, CheckState::Critical, "{m}");

    // Off: a week-old backup is a warning.
    f.auth.set_backup_schedule(&f.admin, None, 3).unwrap();
    assert_eq!(
        state(&f.auth.refresh_health().unwrap(), "backup").0,
        CheckState::Ok
    );
    f.clock.advance(Duration::from_secs(8 * DAY));
    let (s, m) = state(&f.auth.refresh_health().unwrap(), "backup");
    assert_eq!(s, CheckState::Warning, "{m}");
    assert!(m.contains("turn the schedule on"), "{m}");
}
#[test]
fn expiring_certificates_invitations_and_activity_are_counted() {
    let f = fixture_with(|_| {});
    let (_, t) = f
        .auth
        .add_user(&f.admin, "alice@example.com", "Alice Doe", &[])
        .unwrap();
    f.auth
        .add_user(&f.admin, "bob@example.com", "Bob Roe", &[])
        .unwrap();
    let r = f.auth.refresh_health().unwrap();
    assert_eq!(r.attention.pending_invitations, 2);
    assert_eq!(r.attention.expiring_certificates, 0);

    f.auth
        .enroll(
            t.token.expose(),
            &csr("alice-sign.key.pem", "alice@example.com"),
        )
        .unwrap();
    let r = f.auth.refresh_health().unwrap();
    assert_eq!(r.attention.pending_invitations, 1);
    let today = r.activity.last().unwrap();
    assert_eq!((today.issued, today.revoked), (2, 0));

    f.auth
        .revoke(
            &f.admin,
            &RevokeTarget::User("alice@example.com".into()),
            RevocationReason::Superseded,
        )
        .unwrap();
    let r = f.auth.refresh_health().unwrap();
    assert_eq!(r.activity.last().unwrap().revoked, 2);
    assert_eq!(r.activity.iter().map(|d| d.issued).sum::<i64>(), 2);

    // A second user enrolled; 340 days later (365-day certificates) both of theirs are
    // within 30 days of expiry, the revoked ones are not counted, and the issuance has
    // left the 90-day window.
    let (_, t) = f
        .auth
        .add_user(&f.admin, "carol@example.com", "Carol Poe", &[])
        .unwrap();
    f.auth
        .enroll(
            t.token.expose(),
            &csr("bob-sign.key.pem", "carol@example.com"),
        )
        .unwrap();
    f.clock.advance(Duration::from_secs(340 * DAY));
    f.auth.refresh_crl_if_due().unwrap();
    let r = f.auth.refresh_health().unwrap();
    assert_eq!(r.attention.expiring_certificates, 2);
    assert_eq!(r.activity.iter().map(|d| d.issued).sum::<i64>(), 0);
}

#[test]
fn failed_sign_ins_come_from_their_counter() {
    let f = fixture_with(|_| {});
    let from = SignIn::from("192.0.2.9".parse().unwrap());
    for _ in 0..3 {
        assert!(
            f.auth
                .login_from("admin", &Password::new("not the password"), &from)
                .is_err()
        );
    }
    assert!(
        f.auth
            .login_from("nobody", &Password::new("not the password"), &from)
            .is_err()
    );
    assert_eq!(
        f.auth
            .refresh_health()
            .unwrap()
            .attention
            .failed_signins_last_day,
        4
    );
    f.clock.advance(Duration::from_secs(DAY + 3600));
    assert_eq!(
        f.auth
            .refresh_health()
            .unwrap()
            .attention
            .failed_signins_last_day,
        0
    );
}

#[test]
fn tls_and_ca_expiry_warn_then_are_critical() {
    let f = fixture_with(|_| {});
    // The CA certificate stands in for the TLS certificate file (same checks on notAfter).
    let ca_pem = f.auth.published().ca_pem().unwrap();
    std::fs::write(Path::new(&f.dir).join("tls.crt"), ca_pem).unwrap();
    let r = f.auth.refresh_health().unwrap();
    assert_eq!(state(&r, "tls").0, CheckState::Ok, "{}", state(&r, "tls").1);
    // 10-year CA: 9 years 350 days later, less than a certificate's validity is left.
    f.clock
        .advance(Duration::from_secs(9 * 365 * DAY + 20 * DAY));
    f.auth.refresh_crl_if_due().unwrap();
    let r = f.auth.refresh_health().unwrap();
    assert_eq!(
        state(&r, "ca").0,
        CheckState::Warning,
        "{}",
        state(&r, "ca").1
    );
    f.clock.advance(Duration::from_secs(330 * DAY));
    f.auth.refresh_crl_if_due().unwrap();
    let r = f.auth.refresh_health().unwrap();
    let (s, m) = state(&r, "tls");
    assert_eq!(s, CheckState::Warning, "{m}");
    assert!(m.contains("expires in"), "{m}");
    assert_eq!(
        state(&r, "ca").0,
        CheckState::Critical,
        "{}",
        state(&r, "ca").1
    );
    f.clock.advance(Duration::from_secs(40 * DAY));
    let r = f.auth.refresh_health().unwrap();
    assert_eq!(state(&r, "tls").0, CheckState::Critical);
    assert_eq!(r.overall, CheckState::Critical);
}

#[test]
fn page_views_read_the_cache() {
    let f = fixture_with(|_| {});
    let first = f.auth.health_report(&f.admin).unwrap();
    f.clock.advance(Duration::from_secs(600));
    let again = f.auth.health_report(&f.admin).unwrap();
    assert!(Arc::ptr_eq(&first, &again), "recomputed on a view");
    let fresh = f.auth.refresh_health().unwrap();
    assert_eq!(fresh.computed_at, first.computed_at + 600);
    assert!(Arc::ptr_eq(
        &fresh,
        &f.auth.health_report(&f.admin).unwrap()
    ));
}
