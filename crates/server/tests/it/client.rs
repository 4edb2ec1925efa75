//! `api::KmsClient` against the real router on a loopback port: each typed call reads the
//! live answer, refusals come back as `ClientError::Api` with status and code, and a quorum
//! operation as `ClientError::Pending`.

use std::str::FromStr;

use api::{ClientError, KmsClient, Secret};

use super::{ADMIN_PW, csr, fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_client_drives_the_server() {
    let f = fixture();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = f
        .app
        .clone()
        .into_make_service_with_connect_info::<kmsd::Peer>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    tokio::task::spawn_blocking(move || scenario(&url))
        .await
        .unwrap();
    drop(f);
}

fn scenario(url: &str) {
    let anon = KmsClient::new(url, None).unwrap();
    assert!(!anon.health().unwrap().locked);
    assert!(
        anon.ca_pem()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(!anon.ca_der().unwrap().is_empty());
    assert!(!anon.crl().unwrap().is_empty());
    assert!(anon.openapi().unwrap()["paths"].is_object());
    match anon.users(&Default::default()) {
        Err(ClientError::Api { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (401, "AUTH-003"))
        }
        other => panic!("{other:?}"),
    }
    match anon.login("admin", &Secret::new("wrong password")) {
        Err(e) => assert_eq!((e.status(), e.code()), (Some(401), "AUTH-001")),
        Ok(_) => panic!("signed in with a wrong password"),
    }
    let session = anon.login("admin", &Secret::new(ADMIN_PW)).unwrap();
    assert_eq!(session.admin.role, api::Role::Administrator);
    assert!(session.expires_at_rfc3339.ends_with('Z'));
    let c = anon.clone().with_token(session.token);

    let added = c
        .add_user(&api::AddUserRequest {
            email: "alice+tag@example.com".into(),
            name: "Alice".into(),
            capabilities: vec![
                api::ContentAlgorithm::Aes256,
                api::ContentAlgorithm::TripleDes,
            ],
            ..api::AddUserRequest::default()
        })
        .unwrap();
    assert_eq!(added.user.status, api::UserStatus::Active);
    let enrolled = anon
        .enroll(&api::EnrollRequest {
            token: added.enrollment_token.clone(),
            csr: csr("alice-sign.key.pem", "alice+tag@example.com"),
        })
        .unwrap();
    assert!(pki::certificate::parse_certificate(enrolled.signing_certificate.as_bytes()).is_ok());
    let again = anon.enroll(&api::EnrollRequest {
        token: added.enrollment_token,
        csr: csr("alice-sign.key.pem", "alice+tag@example.com"),
    });
    assert_eq!(again.unwrap_err().code(), "AUTH-008");
    // The path segment is encoded: `+` reaches the server as itself.
    let detail = c.user("alice+tag@example.com").unwrap();
    assert_eq!(detail.certificates.len(), 2);
    let entry = anon.directory("alice+tag@example.com").unwrap();
    assert_eq!(entry.capabilities[0], api::ContentAlgorithm::Aes256);
    let all = c.users(&Default::default()).unwrap();
    assert_eq!((all.total, all.offset), (1, None));
    let page = c
        .users(&api::UserListQuery {
            q: Some("alice".into()),
            limit: Some(1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!((page.total, page.limit), (1, Some(1)));
    let certs = c.certificates(&Default::default()).unwrap();
    let serial = certs.certificates[0].serial.clone();
    assert_eq!(c.certificate(&serial).unwrap().summary.serial, serial);
    assert!(!c.certificate_der(&serial).unwrap().is_empty());
    let status = c.status().unwrap();
    assert_eq!(status.users.active, 1);
    assert!(!status.crl.next_update_rfc3339.is_empty());

    let revoked = c
        .revoke(&api::RevokeRequest {
            serial: Some(serial.clone()),
            reason: Some(api::RevocationReason::KeyCompromise),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(revoked.revoked, vec![serial]);
    let refused = c.revoke(&api::RevokeRequest {
        email: Some("alice+tag@example.com".into()),
        reason: Some(api::RevocationReason::from_str("bored").unwrap()),
        ..Default::default()
    });
    assert!(
        matches!(refused, Err(ClientError::Api { status: 400, .. })),
        "{refused:?}"
    );

    // A quorum of two: recovery waits for approvals.
    c.add_admin(&api::AddAdminRequest {
        name: "bob".into(),
        role: api::Role::Administrator,
        password: Secret::new("password of bob"),
    })
    .unwrap();
    c.set_policy(&api::QuorumOperation::RecoverKey, 2).unwrap();
    let recover = api::RecoverRequest {
        password: Secret::new("bundle password"),
        reenroll: false,
        why: Some("left the company".into()),
    };
    let id = match c.recover("alice+tag@example.com", &recover) {
        Err(ClientError::Pending(p)) => {
            assert_eq!((p.needed, p.operation.as_str()), (2, "recover-key"));
            p.request_id
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(c.approvals().unwrap().requests[0].id, id);
    let bob = anon.clone().with_token(
        anon.login("bob", &Secret::new("password of bob"))
            .unwrap()
            .token,
    );
    bob.approve(id).unwrap();
    let bundle = c.recover("alice+tag@example.com", &recover).unwrap();
    assert_eq!(bundle.keys, 1);

    let taken = c.backup_now().unwrap();
    assert_eq!(c.backups().unwrap().backups.len(), 1);
    assert!(c.verify_backup(&taken.backup.name).unwrap().audit.ok);
    assert_eq!(c.unlock_methods().unwrap().methods.len(), 1);
    assert!(c.audit_sign().unwrap().signed_through.is_some());
    assert!(c.audit_verify().unwrap().ok);
    let log = c.audit(&Default::default()).unwrap();
    assert!(log.total.is_none() && !log.entries.is_empty());
    let found = c
        .audit(&api::AuditQuery {
            outcome: Some("pending".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(found.total.unwrap() >= 1);
    assert_eq!(c.admins().unwrap().admins.len(), 2);
    c.logout().unwrap();
    assert_eq!(c.status().unwrap_err().code(), "AUTH-003");
}
