//! Two authorities on one PostgreSQL store, in one process (two "nodes"; `it_postgres` only): one signs the CRLs
//! at a time and the other serves what it publishes; the signing moves when the signer goes;
//! revocations through either node reach both nodes' CRLs; the audit chain stays one linear
//! chain while both append at once. (The same with two `kmsd` processes, SIGKILL and a
//! database restart: `tests/it/cluster_e2e.rs` of the workspace.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use authority::{Admin, Authority, InitParams, ManualClock, RevokeTarget};
use escrow::{Argon2Params, Credential, InitOptions, Password, Store};
use pki::crl::{Crl, RevocationReason};

use crate::common::{ADMIN_PW, config, csr, key, start};

struct Nodes {
    _tmp: tempfile::TempDir,
    /// Node A, then node B (taken out to stop one).
    nodes: [Option<Authority>; 2],
}

fn two_nodes() -> Nodes {
    let tmp = tempfile::tempdir().unwrap();
    let pg = db::testing::PgCluster::shared().fresh_db();
    let clock = Arc::new(ManualClock::new(start()));
    let a = authority::init_in(
        InitParams {
            data_dir: &tmp.path().join("a"),
            ca_subject: "CN=Cluster CA,O=Example",
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
        Some(&pg),
        config(),
        clock.clone(),
    )
    .unwrap();
    let store_b = Store::open_database(&pg, &tmp.path().join("b")).unwrap();
    let b = authority::unlock(
        &store_b,
        &Credential::password("start-up password"),
        config(),
        clock,
    )
    .unwrap();
    assert!(a.is_clustered() && b.is_clustered());
    a.add_pool_keys(vec![key("spare-1.key.pem")]);
    b.add_pool_keys(vec![key("spare-2.key.pem")]);
    Nodes {
        _tmp: tmp,
        nodes: [Some(a), Some(b)],
    }
}

fn admin(auth: &Authority) -> Admin {
    auth.authenticate(
        auth.login("admin", &Password::new(ADMIN_PW))
            .unwrap()
            .token
            .expose(),
    )
    .unwrap()
}

/// Adds and enrolls `email` through `auth`; the serials of its two certificates.
fn enrolled(auth: &Authority, admin: &Admin, email: &str, sign_key: &str) -> Vec<String> {
    let (_, token) = auth.add_user(admin, email, "Someone", &[]).unwrap();
    let e = auth
        .enroll(token.token.expose(), &csr(sign_key, email))
        .unwrap();
    [e.signing_cert, e.encryption_cert]
        .iter()
        .map(|der| {
            let cert = pki::certificate::parse_certificate(der).unwrap();
            pki::CertificateInfo::from_certificate(&cert)
                .unwrap()
                .serial_hex
                .trim()
                .to_ascii_lowercase()
        })
        .collect()
}

/// The serials `auth`'s served full CRL lists.
fn listed(auth: &Authority) -> Vec<String> {
    let crl = Crl::parse(&auth.published().crl_der).unwrap();
    crl.entries()
        .map(|e| hex::encode(&e.serial).trim_start_matches('0').to_string())
        .collect()
}

/// Waits until `auth` serves a CRL listing every serial of `want`.
fn wait_listed(auth: &Authority, want: &[String], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = listed(auth);
        if want.iter().all(|s| got.contains(s)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the CRL served lists {got:?}, not all of {want:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn one_node_signs_the_crls_both_serve_them_and_signing_moves_when_the_signer_goes() {
    let mut n = two_nodes();
    let [Some(a), Some(b)] = &n.nodes else {
        unreachable!()
    };
    let (admin_a, admin_b) = (admin(a), admin(b));

    // Enrolled through one node, revoked through the other.
    let alice = enrolled(a, &admin_a, "alice@example.com", "alice-sign.key.pem");
    let outcome = b
        .revoke(
            &admin_b,
            &RevokeTarget::User("alice@example.com".into()),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    assert_eq!(outcome.revoked.len(), 2);
    wait_listed(a, &alice, "node A after a revocation through node B");
    wait_listed(b, &alice, "node B after its own revocation");
    // One CRL, one number, whichever node serves it.
    assert_eq!(a.published().crl_der, b.published().crl_der);
    let signs = [a.crl_publisher_signs(), b.crl_publisher_signs()];
    assert!(
        signs.contains(&0),
        "both nodes signed CRLs: {signs:?} (one signer at a time)"
    );
    assert!(signs[0] + signs[1] >= 1, "nobody signed");

    // The signer goes (its database session with it, and the lock); the other takes over.
    let signer = usize::from(signs[0] == 0);
    let survivor_admin = [admin_b, admin_a][signer].clone();
    drop(n.nodes[signer].take());
    let survivor = n.nodes[1 - signer].as_ref().unwrap();
    let before = survivor.crl_publisher_signs();
    let bob = enrolled(
        survivor,
        &survivor_admin,
        "bob@example.com",
        "bob-sign.key.pem",
    );
    survivor
        .revoke(
            &survivor_admin,
            &RevokeTarget::User("bob@example.com".into()),
            RevocationReason::Superseded,
        )
        .unwrap();
    wait_listed(survivor, &bob, "the surviving node after the signer went");
    wait_listed(
        survivor,
        &alice,
        "the surviving node keeps the earlier entries",
    );
    assert!(
        survivor.crl_publisher_signs() > before,
        "the survivor never signed"
    );
}

#[test]
fn the_audit_chain_stays_one_chain_while_both_nodes_append() {
    let n = two_nodes();
    let [Some(a), Some(b)] = &n.nodes else {
        unreachable!()
    };
    let (admin_a, admin_b) = (admin(a), admin(b));
    const EACH: usize = 15;
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..EACH {
                a.add_user(&admin_a, &format!("a{i}@example.com"), "A", &[])
                    .unwrap();
            }
        });
        s.spawn(|| {
            for i in 0..EACH {
                b.add_user(&admin_b, &format!("b{i}@example.com"), "B", &[])
                    .unwrap();
            }
        });
    });
    for node in [a, b] {
        let report = node.audit_verify(&admin(node)).unwrap();
        assert!(report.ok, "{:?}", report.problem);
        // Every addition is one entry (plus init, sign-ins and checkpoints' entries).
        assert!(report.entries >= 2 * EACH as i64, "{}", report.entries);
    }
    let users = a.search_users(&admin_a, &Default::default()).unwrap();
    assert_eq!(users.total, 2 * EACH as i64);
}

#[test]
fn a_node_that_loses_the_database_says_unavailable_and_comes_back_by_itself() {
    let tmp = tempfile::tempdir().unwrap();
    // A cluster of its own: this test stops and starts it.
    let cluster = db::testing::PgCluster::start();
    let pg = cluster.fresh_db();
    let auth = authority::init_in(
        InitParams {
            data_dir: &tmp.path().join("a"),
            ca_subject: "CN=Cluster CA,O=Example",
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
        Some(&pg),
        config(),
        Arc::new(ManualClock::new(start())),
    )
    .unwrap();
    let admin = admin(&auth);
    auth.add_user(&admin, "before@example.com", "Before", &[])
        .unwrap();
    let crl_before = auth.published().crl_der;

    cluster.stop();
    let err = auth
        .add_user(&admin, "during@example.com", "During", &[])
        .unwrap_err();
    assert_eq!(err.code(), "AUTH-065", "{err}");
    assert_eq!(err.storage_fault(), Some(escrow::StorageFault::Unreachable));
    let deadline = Instant::now() + Duration::from_secs(15);
    while auth.unavailable().is_none() {
        assert!(Instant::now() < deadline, "never reported unavailable");
        std::thread::sleep(Duration::from_millis(100));
    }
    // What it holds in memory is still served.
    assert_eq!(auth.published().crl_der, crl_before);

    cluster.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while auth.unavailable().is_some() {
        assert!(
            Instant::now() < deadline,
            "never came back: {:?}",
            auth.unavailable()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The session was a row: it survived; the failed addition left nothing.
    auth.add_user(&admin, "after@example.com", "After", &[])
        .unwrap();
    let users = auth.search_users(&admin, &Default::default()).unwrap();
    let emails: Vec<&str> = users.items.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(emails, ["after@example.com", "before@example.com"]);
    assert!(auth.audit_verify(&admin).unwrap().ok);
}
