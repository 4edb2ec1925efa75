//! The console's governance pages in-process: recovery under a quorum of two (request,
//! approval by another administrator, the bundle as the response body, read by OpenSSL),
//! backups, the audit log and its verification, administrators and start-up secrets, and the
//! refusals: role gates shown and enforced, forms without the CSRF token refused.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::json;
use tower::ServiceExt;

use super::{add_and_enroll, call, create_admin, j, login, login_as};

const ORIGIN: &str = "http://localhost";

struct Browser<'a> {
    app: &'a Router,
    token: String,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl<'a> Browser<'a> {
    async fn send(&self, req: axum::http::request::Builder, body: Body) -> Answer {
        let req = req
            .header(header::HOST, "localhost")
            .header(header::COOKIE, format!("kms_session={}", self.token))
            .body(body)
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = to_bytes(resp.into_body(), 1 << 22).await.unwrap().to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Request::get(path), Body::empty()).await
    }

    /// The CSRF token of a page's forms.
    async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await.text();
        let at = page
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token");
        let rest = &page[at + 19..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    /// Posts a form (with this page's CSRF token unless `csrf` is false).
    async fn post(&self, path: &str, fields: &[(&str, &str)], csrf: bool) -> Answer {
        let mut pairs: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if csrf {
            pairs.push(("csrf".into(), self.csrf("/console/recovery").await));
        }
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        self.send(
            Request::post(path)
                .header(header::ORIGIN, ORIGIN)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
            Body::from(body),
        )
        .await
    }

    /// Posts and follows the 303 to the page that shows the flash message.
    async fn act(&self, path: &str, fields: &[(&str, &str)]) -> String {
        let a = self.post(path, fields, true).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{path}: {}", a.text());
        let to = a.headers[header::LOCATION].to_str().unwrap().to_string();
        self.get(&to).await.text()
    }
}

async fn add_admin(app: &Router, t: &str, name: &str, role: &str) -> String {
    let pw = create_admin(app, t, name, role).await;
    login_as(app, name, &pw).await
}

#[tokio::test]
async fn recovery_under_a_quorum_of_two_in_the_console() {
    let f = super::fixture();
    let app = &f.app;
    let t = login(app).await;
    let bea_token = add_admin(app, &t, "bea", "administrator").await;
    add_and_enroll(app, &t, "carol@example.com", "carol-sign.key.pem").await;
    let admin = Browser { app, token: t };
    let bea = Browser {
        app,
        token: bea_token,
    };

    // The policy is set through its form; the page shows it.
    let page = admin
        .act(
            "/console/policies",
            &[("operation", "recover-key"), ("quorum", "2")],
        )
        .await;
    assert!(
        page.contains("Policy recover-key now needs 2 approval(s)."),
        "{page}"
    );

    // A form without its CSRF token changes nothing.
    let a = admin
        .post(
            "/console/recovery",
            &[
                ("email", "carol@example.com"),
                ("password", "bundle password"),
            ],
            false,
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.text().contains("security token"));

    // The first administrator opens the request and sees it waiting.
    let pw = "bundle password 1";
    let page = admin
        .act(
            "/console/recovery",
            &[
                ("email", "carol@example.com"),
                ("password", pw),
                ("password2", pw),
            ],
        )
        .await;
    assert!(page.contains("Waiting for approvals: request"), "{page}");
    assert!(page.contains("1 of 2 (admin)"), "{page}");
    // ... and may not approve it a second time: the button is disabled and says why.
    assert!(page.contains("admin approved it already"), "{page}");

    // The second administrator approves it.
    let page = bea.get("/console/recovery").await.text();
    let at = page.find("/console/approvals/").unwrap();
    let id: String = page[at + 19..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let page = bea
        .act(&format!("/console/approvals/{id}/approve"), &[])
        .await;
    assert!(page.contains(&format!("Approved request {id}")), "{page}");
    assert!(page.contains("admin can now carry it out"), "{page}");

    // The first downloads the bundle: the response body, never cached.
    let page = admin.get("/console/recovery").await.text();
    assert!(page.contains("Download bundle"), "{page}");
    let a = admin
        .post(
            "/console/recovery",
            &[("email", "carol@example.com"), ("password", pw)],
            true,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.headers[header::CONTENT_TYPE], "application/x-pkcs12");
    assert_eq!(a.headers[header::CACHE_CONTROL], "no-store");
    assert!(
        a.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("attachment; filename=\"carol@example.com-keys.p12\"")
    );
    let dir = tempfile::tempdir().unwrap();
    let p12 = dir.path().join("carol.p12");
    std::fs::write(&p12, &a.body).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "pkcs12",
            "-info",
            "-nokeys",
            "-passin",
            &format!("pass:{pw}"),
            "-in",
        ])
        .arg(&p12)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("carol@example.com"), "{text}");
    // The request is closed: nothing waits any more.
    let page = admin.get("/console/recovery").await.text();
    assert!(
        page.contains("No request is waiting for approvals."),
        "{page}"
    );

    // Backups: run, list, verify with its counts.
    let page = admin.act("/console/backups", &[]).await;
    assert!(page.contains("Backup kms-"), "{page}");
    let cell = "<th scope=\"row\" class=\"mono\">";
    let at = page.find(cell).unwrap();
    let name: String = page[at + cell.len()..]
        .chars()
        .take_while(|c| *c != '<')
        .collect();
    let page = admin
        .act("/console/backups/verify", &[("name", name.as_str())])
        .await;
    assert!(
        page.contains(&format!("Backup {name} verified: 1 escrowed key(s)"))
            || page.contains(&format!("Backup {name} verified: 2 escrowed key(s)")),
        "{page}"
    );
    assert!(page.contains("Last verification"), "{page}");

    // The audit log shows all of it, filtered, and the chain verifies.
    let page = admin.get("/console/audit?action=recover-key").await.text();
    assert!(page.contains("2 entries"), "{page}");
    assert!(
        page.contains("pending") && page.contains("carol@example.com"),
        "{page}"
    );
    let page = admin
        .get("/console/audit?actor=bea&outcome=ok")
        .await
        .text();
    assert!(page.contains("approve"), "{page}");
    let page = admin
        .get("/console/audit?since=2000-01-01T00:00&until=2000-01-02T00:00")
        .await
        .text();
    assert!(page.contains("0 entries"), "{page}");
    let page = admin.act("/console/audit/verify", &[]).await;
    assert!(page.contains("The audit chain is intact"), "{page}");
}

#[tokio::test]
async fn roles_are_shown_and_enforced_on_the_governance_pages() {
    let f = super::fixture();
    let app = &f.app;
    let t = login(app).await;
    let aude = Browser {
        app,
        token: add_admin(app, &t, "aude", "auditor").await,
    };
    let olga = Browser {
        app,
        token: add_admin(app, &t, "olga", "officer").await,
    };
    for (b, role) in [(&aude, "auditor"), (&olga, "officer")] {
        for path in ["/console/recovery", "/console/admins", "/console/backups"] {
            let page = b.get(path).await.text();
            assert!(
                page.contains(&format!(
                    "Not available: needs the administrator role; {} is {role}",
                    if role == "auditor" { "aude" } else { "olga" }
                )),
                "{path}: {page}"
            );
        }
        // Reaching for them anyway is refused by the authority, and said.
        let page = b
            .act(
                "/console/recovery",
                &[
                    ("email", "x@example.com"),
                    ("password", "bundle password"),
                    ("password2", "bundle password"),
                ],
            )
            .await;
        assert!(
            page.contains("Refused: this needs the administrator role"),
            "{page}"
        );
        let page = b.act("/console/backups", &[]).await;
        assert!(
            page.contains("Refused: this needs the administrator role"),
            "{page}"
        );
        let page = b
            .act(
                "/console/admins",
                &[
                    ("name", "eve"),
                    ("role", "administrator"),
                    ("password", "eve password"),
                ],
            )
            .await;
        assert!(
            page.contains("Refused: this needs the administrator role"),
            "{page}"
        );
        let page = b
            .act("/console/unlock-methods", &[("kind", "key-file")])
            .await;
        assert!(
            page.contains("Refused: this needs the administrator role"),
            "{page}"
        );
    }
    // The auditor reads the audit log and verifies the chain.
    let page = aude.act("/console/audit/verify", &[]).await;
    assert!(page.contains("The audit chain is intact"), "{page}");
    let page = aude
        .get("/console/audit?outcome=refused&actor=olga")
        .await
        .text();
    assert!(page.contains("4 entries"), "{page}");
    let (_, v) = call(app, "GET", "/api/v1/admins", Some(&t), None).await;
    assert_eq!(v["admins"].as_array().unwrap().len(), 3, "nobody was added");
}

#[tokio::test]
async fn administrators_and_start_up_secrets_in_the_console() {
    let f = super::fixture();
    let app = &f.app;
    let admin = Browser {
        app,
        token: login(app).await,
    };
    let page = admin
        .act(
            "/console/admins",
            &[
                ("name", "bea"),
                ("role", "officer"),
                ("password", "bea password"),
            ],
        )
        .await;
    assert!(
        page.contains("Administrator bea added as officer."),
        "{page}"
    );
    let page = admin
        .act("/console/admins/bea/role", &[("role", "administrator")])
        .await;
    assert!(page.contains("bea is now administrator."), "{page}");
    // Under admin-change = 2, removing waits for another administrator.
    let page = admin
        .act(
            "/console/policies",
            &[("operation", "admin-change"), ("quorum", "2")],
        )
        .await;
    assert!(page.contains("now needs 2"), "{page}");
    // Without `confirm=yes`, the confirmation page: with two administrators and a quorum
    // of two, removing one would leave too few approvers, so it is offered disabled.
    let page = admin.act("/console/admins/bea/remove", &[]).await;
    assert!(
        page.contains("Remove the administrator account bea"),
        "{page}"
    );
    assert!(
        page.contains("only 1 administrator(s) would remain, fewer than the largest quorum (2)"),
        "{page}"
    );
    // The server opens the request all the same (and refuses once approved).
    let page = admin
        .act("/console/admins/bea/remove", &[("confirm", "yes")])
        .await;
    assert!(page.contains("Waiting for approvals"), "{page}");
    assert!(page.contains("remove bea"), "{page}");
    assert!(
        page.contains("needs 2 approvals under the admin-change policy"),
        "{page}"
    );
    let page = admin
        .act(
            "/console/policies",
            &[("operation", "admin-change"), ("quorum", "1")],
        )
        .await;
    assert!(page.contains("now needs 1"), "{page}");

    // A new key file is the response body, once; it unlocks the store.
    let a = admin
        .post("/console/unlock-methods", &[("kind", "key-file")], true)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.headers[header::CACHE_CONTROL], "no-store");
    assert!(
        a.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let dir = tempfile::tempdir().unwrap();
    let kf = dir.path().join("new.keyfile");
    std::fs::write(&kf, &a.body).unwrap();
    let store = escrow::Store::open(&f.dir).unwrap();
    store.unlock_with_key_file(&kf).unwrap();
    let page = admin.get("/console/admins").await.text();
    assert!(page.contains("key-file"), "{page}");
    let page = admin
        .act(
            "/console/unlock-methods",
            &[("kind", "password"), ("password", "short")],
        )
        .await;
    assert!(
        page.contains("Refused: start-up password refused: use at least 12"),
        "{page}"
    );

    // Own password: a mismatch and a wrong current password change nothing.
    let page = admin
        .act(
            "/console/password",
            &[
                ("current", super::ADMIN_PW),
                ("new", "new password 1"),
                ("new2", "new password 2"),
            ],
        )
        .await;
    assert!(page.contains("The two new passwords differ"), "{page}");
    let page = admin
        .act(
            "/console/password",
            &[
                ("current", "not it"),
                ("new", "new password 1"),
                ("new2", "new password 1"),
            ],
        )
        .await;
    assert!(page.contains("Password not changed"), "{page}");
    let page = admin
        .act(
            "/console/password",
            &[
                ("current", super::ADMIN_PW),
                ("new", "new password 1"),
                ("new2", "new password 1"),
            ],
        )
        .await;
    assert!(page.contains("Your password was changed"), "{page}");
    login_as(app, "admin", "new password 1").await;
}

#[tokio::test]
async fn restore_over_the_live_store_from_the_console_under_its_quorum() {
    let f = super::fixture();
    let app = &f.app;
    let t = login(app).await;
    let bea_token = add_admin(app, &t, "bea", "administrator").await;
    let olga = Browser {
        app,
        token: add_admin(app, &t, "olga", "officer").await,
    };
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/policies/restore",
        Some(&t),
        j(json!({"quorum": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let admin = Browser {
        app,
        token: t.clone(),
    };

    // A backup, then a user added after it.
    let page = admin.act("/console/backups", &[]).await;
    let cell = "<th scope=\"row\" class=\"mono\">";
    let at = page.find(cell).expect("a backup row");
    let name: String = page[at + cell.len()..]
        .chars()
        .take_while(|c| *c != '<')
        .collect();
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(&t),
        j(json!({"email": "late@example.com", "name": "Late"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let users = |v: &serde_json::Value| v.to_string().contains("late@example.com");

    // The page explains the quorum; the officer sees it disabled and is refused anyway.
    let page = admin.get("/console/backups").await.text();
    assert!(
        page.contains("needs 2 approvals under the restore policy"),
        "{page}"
    );
    let page = olga.get("/console/backups").await.text();
    assert!(
        page.contains("Not available: needs the administrator role; olga is officer"),
        "{page}"
    );
    let page = olga
        .act(
            "/console/backups/restore",
            &[("name", name.as_str()), ("confirm", name.as_str())],
        )
        .await;
    assert!(
        page.contains("Refused: this needs the administrator role"),
        "{page}"
    );

    // Without the name typed again, nothing happens.
    let page = admin
        .act(
            "/console/backups/restore",
            &[("name", name.as_str()), ("confirm", "yes")],
        )
        .await;
    assert!(page.contains("Not restored: type the backup"), "{page}");

    // The first administrator opens the request; nothing is restored yet.
    let page = admin
        .act(
            "/console/backups/restore",
            &[("name", name.as_str()), ("confirm", name.as_str())],
        )
        .await;
    assert!(page.contains("Waiting for approvals: request"), "{page}");
    let (_, v) = call(app, "GET", "/api/v1/users", Some(&t), None).await;
    assert!(users(&v), "still there while approvals are missing: {v}");

    // The second administrator approves; the opener (only the opener) carries it out: back
    // to sign-in with every session ended.
    let (_, v) = call(app, "GET", "/api/v1/approvals", Some(&t), None).await;
    let id = v["requests"][0]["id"].as_i64().unwrap();
    let (s, v) = call(
        app,
        "POST",
        &format!("/api/v1/approvals/{id}/approve"),
        Some(&bea_token),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let a = admin
        .post(
            "/console/backups/restore",
            &[("name", name.as_str()), ("confirm", name.as_str())],
            true,
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    assert_eq!(
        a.headers[header::LOCATION],
        "/console/signin?reason=restored"
    );
    let old = admin.get("/console/backups").await;
    assert_eq!(old.status, StatusCode::SEE_OTHER, "the old session ended");

    let t = login(app).await;
    let (_, v) = call(app, "GET", "/api/v1/users", Some(&t), None).await;
    assert!(!users(&v), "the user added after the backup is gone: {v}");
    let (_, v) = call(app, "GET", "/api/v1/audit/verify", Some(&t), None).await;
    assert_eq!(v["ok"], true, "{v}");
    let (_, v) = call(app, "GET", "/api/v1/audit", Some(&t), None).await;
    assert!(
        v.to_string().contains("\"restore\""),
        "the restore is in the log: {v}"
    );
}
