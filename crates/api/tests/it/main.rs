//! The wire types against answers the server gave before they existed (`tests/fixtures`,
//! captured from the in-process router of `kmsd` with its test clock; paths shortened to
//! `/var/lib/kms`): every type reads them, and writes back the same fields with the same
//! values, adding only `*_rfc3339` fields.

use api::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture(name: &str) -> (u16, Value) {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    (v["status"].as_u64().unwrap() as u16, v["body"].clone())
}

/// Fields added to answers since the fixtures were captured (the registry lets answers grow;
/// scripts keep reading the old fields): the directory's signing certificate, a policy
/// change's `raised`, a request's `why`, a batch renewal's `skipped`, the status's backup
/// schedule, what a restore carried over, a revoke's CRL and already revoked serials, and the
/// audit anchor's state.
const ADDED: &[&str] = &[
    "needs_reshare",
    "remade",
    "keys",
    "signing_certificate",
    "raised",
    "why",
    "skipped",
    "backup_schedule",
    "audit_entries_carried",
    "policies_kept",
    "already_revoked",
    "crl_number",
    "crl_published_at",
    "crl_pending",
    "anchor",
    "given_name",
    "surname",
    "pseudonym",
    "profile",
    "not_found",
    "state",
    "state_expires_at",
    "health",
];

/// Every field of `old` is in `new` with the same value; `new` adds only `*_rfc3339` fields
/// and the fields in [`ADDED`].
fn assert_superset(old: &Value, new: &Value, at: &str) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (k, v) in o {
                let nv = n
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} is missing after the round trip"));
                assert_superset(v, nv, &format!("{at}.{k}"));
            }
            for k in n.keys().filter(|k| !o.contains_key(*k)) {
                assert!(
                    k.ends_with("_rfc3339") || ADDED.contains(&k.as_str()),
                    "{at}.{k} was added"
                );
            }
        }
        (Value::Array(o), Value::Array(n)) => {
            assert_eq!(o.len(), n.len(), "{at}: array length");
            for (i, (a, b)) in o.iter().zip(n).enumerate() {
                assert_superset(a, b, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(old, new, "{at}"),
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let (_, body) = fixture(name);
    let typed: T = serde_json::from_value(body.clone()).unwrap_or_else(|e| {
        panic!(
            "{name} does not read as {}: {e}",
            std::any::type_name::<T>()
        )
    });
    let back = serde_json::to_value(&typed).unwrap();
    assert_superset(&body, &back, name);
    typed
}

#[test]
fn every_answer_reads_and_writes_back_unchanged() {
    let h: Health = round_trip("healthz");
    assert!(!h.locked);
    let l: LoginResponse = round_trip("login");
    assert_eq!(l.admin.role, Role::Administrator);
    assert_eq!(l.expires_at, 1_800_028_800);
    let u: UserAdded = round_trip("add_user");
    assert_eq!(
        u.user.capabilities,
        [ContentAlgorithm::Aes256, ContentAlgorithm::TripleDes]
    );
    assert_eq!(u.enrollment_token.expose().len(), 64);
    let e: Enrolled = round_trip("enroll");
    assert!(
        e.encrypted_key
            .expose()
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );
    let all: UserList = round_trip("users");
    assert_eq!((all.total, all.offset), (3, None));
    let page: UserList = round_trip("users_search");
    assert_eq!((page.offset, page.limit), (Some(0), Some(5)));
    let d: UserDetail = round_trip("user");
    assert_eq!(d.user.email, "alice@example.com");
    assert_eq!(d.certificates[1].kind, CertKind::Encryption);
    round_trip::<NewToken>("new_token");
    round_trip::<DirectoryEntry>("directory");
    let r: RenewResponse = round_trip("renew_one");
    assert!(r.renewed[0].enrollment_token.is_some());
    let r: RenewResponse = round_trip("renew_all");
    assert_eq!(r.failed[0].code, "AUTH-012");
    assert!(r.renewed[0].enrollment_token.is_none());
    let r: Revoked = round_trip("revoke");
    assert_eq!(r.reason, RevocationReason::KeyCompromise);
    round_trip::<Status>("status");
    let s: Status = round_trip("status_after");
    assert_eq!(s.last_backup.unwrap().taken_at, Some(1_800_000_000));
    let c: CertPage = round_trip("certificates");
    assert_eq!(c.certificates[0].status, CertStatus::Revoked);
    let c: CertDetail = round_trip("certificate");
    assert!(c.pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(c.summary.kind, CertKind::Signing);
    round_trip::<AdminList>("admins");
    round_trip::<AdminResponse>("add_admin");
    let p: PolicyList = round_trip("policies");
    assert_eq!(p.policies[0].operation, QuorumOperation::RecoverKey);
    round_trip::<PolicyResponse>("set_policy");
    let a: ApprovalList = round_trip("approvals");
    assert_eq!(a.requests[0].status, RequestStatus::Pending);
    round_trip::<ApprovalResponse>("approve");
    let m: UnlockMethodList = round_trip("unlock_methods");
    assert_eq!(m.methods[0].kind, UnlockMethodKind::Password);
    round_trip::<BackupTaken>("backup_now");
    round_trip::<BackupList>("backups");
    let b: BackupCheck = round_trip("verify_backup");
    assert!(b.audit.ok);
    let s: AuditSigned = round_trip("audit_sign");
    assert_eq!(s.signed_through, Some(19));
    round_trip::<AuditReport>("audit_verify");
    let a: AuditList = round_trip("audit_search");
    assert!(a.total.is_some());
    assert!(a.entries.iter().any(|e| e.outcome == AuditOutcome::Pending));
    round_trip::<UserResponse>("disable");
    let r: Recovered = round_trip("recover");
    assert_eq!(r.keys, 1);
    round_trip::<AdminRemoved>("remove_admin");
    round_trip::<Restored>("restore");
    round_trip::<StatusMessage>("change_password");
}

#[test]
fn errors_and_pending_approvals_read_as_their_types() {
    let (status, body) = fixture("error_404");
    assert_eq!(status, 404);
    let e: ErrorBody = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(e.error.code, "AUTH-005");
    assert_eq!(serde_json::to_value(&e).unwrap(), body);
    let (status, body) = fixture("recover_pending");
    assert_eq!(status, 202);
    let p: Pending = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(
        (p.request_id, p.needed, p.status.as_str()),
        (1, 2, "pending")
    );
    assert_eq!(p.operation, QuorumOperation::RecoverKey);
    assert_eq!(p.error.code, "AUTH-023");
    assert_eq!(serde_json::to_value(&p).unwrap(), body);
}

#[test]
fn secrets_never_show_in_debug() {
    let (_, body) = fixture("add_user");
    let token = body["enrollment_token"].as_str().unwrap().to_string();
    let u: UserAdded = serde_json::from_value(body).unwrap();
    let (_, body) = fixture("login");
    let session = body["token"].as_str().unwrap().to_string();
    let l: LoginResponse = serde_json::from_value(body).unwrap();
    let (_, body) = fixture("recover");
    let p12 = body["pkcs12"].as_str().unwrap()[..40].to_string();
    let r: Recovered = serde_json::from_value(body).unwrap();
    let requests = format!(
        "{:?} {:?} {:?} {:?} {:?} {:?}",
        LoginRequest {
            name: "admin".into(),
            password: Secret::new("pw-one-secret"),
            totp: Some(Secret::new("123456"))
        },
        UnlockRequest {
            password: Some(Secret::new("pw-two-secret")),
            key_file: None
        },
        ChangePasswordRequest {
            current: Secret::new("pw-three-secret"),
            new: Secret::new("pw-four-secret")
        },
        RecoverRequest {
            password: Secret::new("pw-five-secret"),
            reenroll: false,
            why: None
        },
        AddAdminRequest {
            name: "x".into(),
            role: Role::Officer,
            password: Secret::new("pw-six-secret")
        },
        EnrollRequest {
            token: Secret::new("pw-seven-secret"),
            csr: String::new()
        },
    );
    assert!(!requests.contains("123456"), "{requests}");
    let answers = format!("{u:?} {l:?} {r:?}");
    for shown in [&requests, &answers] {
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
    for leaked in [&token, &session, &p12] {
        assert!(!answers.contains(leaked.as_str()), "{answers}");
    }
    // The wire still carries them.
    assert_eq!(serde_json::to_value(&u).unwrap()["enrollment_token"], token);
}

#[test]
fn requests_refuse_unknown_fields_and_omit_unset_ones() {
    let r: Result<AddUserRequest, _> = serde_json::from_value(
        serde_json::json!({"email": "a@example.com", "name": "A", "admin": true}),
    );
    assert!(r.is_err());
    let r: AddUserRequest =
        serde_json::from_value(serde_json::json!({"email": "a@example.com", "name": "A"})).unwrap();
    assert!(r.capabilities.is_empty());
    let body = serde_json::to_value(RevokeRequest {
        email: Some("a@example.com".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(body, serde_json::json!({"email": "a@example.com"}));
    let body = serde_json::to_value(RenewRequest {
        all: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(body, serde_json::json!({"all": true, "new_key": false}));
}
