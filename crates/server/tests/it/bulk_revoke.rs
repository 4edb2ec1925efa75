//! `POST /api/v1/revocations/bulk`: confirmation (428), the size limit (413), a malformed
//! serial changing nothing, unknown entries answered in `not_found`, one audit entry, and
//! OpenSSL reading the CRL that lists 10 000 revocations.

use super::*;

/// Seeds `n` certificate rows directly (as the console benchmark does) and returns their
/// serials.
fn seed_certificates(dir: &Path, n: u64) -> Vec<String> {
    let mut conn = db(dir);
    let tx = conn.transaction().unwrap();
    let serials: Vec<String> = (0..n)
        .map(|i| format!("{:x}", 0x5eed_0000_0000u64 + i))
        .collect();
    {
        let mut cert = tx
            .prepare(
                "INSERT INTO certificates (serial, user_id, kind, der, not_before, not_after, issued_at)
                 VALUES (?1, NULL, 'signing', x'3000', 0, 4000000000, 0)",
            )
            .unwrap();
        for s in &serials {
            cert.execute([s]).unwrap();
        }
    }
    tx.commit().unwrap();
    serials
}

fn count(dir: &Path, sql: &str) -> i64 {
    db(dir).query_row(sql, [], |r| r.get(0)).unwrap()
}

async fn crl_der(app: &Router) -> Vec<u8> {
    let req = Request::builder()
        .method("GET")
        .uri("/crl")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    to_bytes(resp.into_body(), 1 << 28).await.unwrap().to_vec()
}

/// How many entries `openssl crl` lists in `der`.
fn openssl_entries(der: &[u8]) -> usize {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), der).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(tmp.path())
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("Serial Number:"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_revoke_confirms_limits_reports_and_lists_10000_in_the_crl() {
    let f = fixture();
    let app = &f.app;
    let t = login(app).await;
    let serials = seed_certificates(&f.dir, 10_000);
    let url = "/api/v1/revocations/bulk";

    // Without confirm: 428, nothing revoked.
    let (s, v) = call(app, "POST", url, Some(&t), j(json!({"serials": serials}))).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PRECONDITION_REQUIRED, "KMS-428"),
        "{v}"
    );
    // Both lists, or neither: 400.
    let (s, v) = call(app, "POST", url, Some(&t), j(json!({"confirm": true}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // A malformed serial refuses the whole call: nothing changes.
    let mut bad = serials.clone();
    bad.push("not hex".into());
    let (s, v) = call(
        app,
        "POST",
        url,
        Some(&t),
        j(json!({"serials": bad, "confirm": true})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "AUTH-009"), "{v}");
    // More than 100 000 entries: 413 with a clear message.
    let many: Vec<String> = (0..100_001).map(|i| format!("{i:x}")).collect();
    let (s, v) = call(
        app,
        "POST",
        url,
        Some(&t),
        j(json!({"serials": many, "confirm": true})),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "AUTH-100"),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100000"),
        "{v}"
    );
    assert_eq!(count(&f.dir, "SELECT count(*) FROM revocations"), 0);

    // The 10 000, two unknown serials and a repeat (in OpenSSL's upper case): one call.
    let mut list = serials.clone();
    list.push("abcdef0123".into());
    list.push("abcdef0124".into());
    list.push(serials[0].to_uppercase());
    let (s, v) = call(
        app,
        "POST",
        url,
        Some(&t),
        j(json!({"serials": list, "reason": "affiliationChanged", "confirm": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["revoked"], 10_000, "{v}");
    assert_eq!(v["already_revoked"], 0, "{v}");
    assert_eq!(v["not_found"], json!(["abcdef0123", "abcdef0124"]), "{v}");
    assert_eq!(v["reason"], "affiliationChanged");
    assert_eq!(count(&f.dir, "SELECT count(*) FROM revocations"), 10_000);
    assert_eq!(
        count(
            &f.dir,
            "SELECT count(*) FROM audit_log WHERE action LIKE 'revoke.bulk%' AND outcome = 'ok'
               AND target LIKE '10003 serials -> 10000 revoked%'"
        ),
        1
    );
    // The CRL lists them (published by the background publisher; the answer says whether
    // it was in time).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut der = crl_der(app).await;
    while pki::crl::Crl::parse(&der).unwrap().len() < 10_000 && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        der = crl_der(app).await;
    }
    let crl = pki::crl::Crl::parse(&der).unwrap();
    assert_eq!(crl.len(), 10_000);
    assert_eq!(
        crl.number(),
        Some(v["crl_number"].as_i64().unwrap() as u64),
        "{v}"
    );
    assert_eq!(openssl_entries(&der), 10_000);

    // Again: nothing changes.
    let (s, v) = call(
        app,
        "POST",
        url,
        Some(&t),
        j(json!({"serials": serials, "confirm": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["revoked"].as_u64(), v["already_revoked"].as_u64()),
        (Some(0), Some(10_000)),
        "{v}"
    );

    // By address: an enrolled user's certificates, and an unknown address.
    add_and_enroll(app, &t, "alice@example.com", "alice-sign.key.pem").await;
    let (s, v) = call(
        app,
        "POST",
        url,
        Some(&t),
        j(json!({"emails": ["alice@example.com", "nobody@example.com"], "confirm": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["revoked"], 2, "{v}");
    assert_eq!(v["not_found"], json!(["nobody@example.com"]), "{v}");
}
