//! The admin console in-process (`tower::ServiceExt::oneshot`): forged, foreign and
//! token-less form posts are refused and change nothing; absent and expired sessions go to
//! sign-in; an auditor's changes are refused with a message naming the role; the lock-out
//! shows; security headers and cookie flags (Secure only over TLS); unlock while locked.
//! The request helpers (`sign_in`, `get`, `post`, `Resp`) serve other pages' tests too.

use std::sync::Arc;
use std::time::Duration;

use authority::Role;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use escrow::{Password, Store};
use kmsd::AppState;
use tower::ServiceExt;

use super::{ADMIN_PW, STARTUP_PW, config, fixture};

pub(crate) const HOST: &str = "localhost";
pub(crate) const ORIGIN: &str = "http://localhost";

pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Resp {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub(crate) fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    /// The value of the first `name="csrf"` field of the page.
    pub(crate) fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a CSRF field");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

/// The `name=value` of cookie `name` among `Set-Cookie` headers.
pub(crate) fn cookie_pair(r: &Resp, name: &str) -> String {
    r.set_cookies()
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_string())
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", r.set_cookies()))
}

pub(crate) async fn send(app: &Router, req: Request<Body>) -> Resp {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub(crate) async fn get(app: &Router, uri: &str, cookie: Option<&str>) -> Resp {
    let mut req = Request::get(uri).header(header::HOST, HOST);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    send(app, req.body(Body::empty()).unwrap()).await
}

/// A form post; `origin` None sends neither Origin nor Referer.
pub(crate) async fn post(
    app: &Router,
    uri: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
    fields: &[(&str, &str)],
) -> Resp {
    let mut req = Request::post(uri)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    if let Some(o) = origin {
        req = req.header(header::ORIGIN, o);
    }
    let body = serde_urlencoded::to_string(fields).unwrap();
    send(app, req.body(Body::from(body)).unwrap()).await
}

/// Signs in through the console's form; returns the session cookie (`kms_session=...`).
pub(crate) async fn sign_in(app: &Router, name: &str, password: &str) -> String {
    let form = get(app, "/console/signin", None).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let pre = cookie_pair(&form, "kms_pre");
    let r = post(
        app,
        "/console/signin",
        Some(&pre),
        Some(ORIGIN),
        &[
            ("csrf", &form.csrf()),
            ("name", name),
            ("password", password),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/console");
    cookie_pair(&r, "kms_session")
}

pub(crate) fn users(f: &super::Fixture) -> Vec<String> {
    let auth = f.state.authority().unwrap();
    let admin = auth.login("admin", &Password::new(ADMIN_PW)).unwrap().admin;
    auth.list_users(&admin)
        .unwrap()
        .into_iter()
        .map(|u| u.email)
        .collect()
}

pub(crate) fn add_admin(f: &super::Fixture, name: &str, role: Role) {
    let auth = f.state.authority().unwrap();
    let admin = auth.login("admin", &Password::new(ADMIN_PW)).unwrap().admin;
    auth.add_admin(
        &admin,
        name,
        role,
        &Password::new(format!("{name} password")),
    )
    .unwrap();
}

#[tokio::test]
async fn forged_foreign_and_tokenless_posts_are_refused_and_change_nothing() {
    let f = fixture();
    let app = &f.app;
    let session = sign_in(app, "admin", ADMIN_PW).await;
    let page = get(app, "/console/users", Some(&session)).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    let add = |csrf: Option<String>| {
        let mut v = vec![("email", "mallory@example.com"), ("name", "Mallory")];
        if let Some(c) = csrf {
            v.push(("csrf", Box::leak(c.into_boxed_str())));
        }
        v
    };

    // No token, a wrong token, a token of another session's shape.
    let r = post(
        app,
        "/console/users",
        Some(&session),
        Some(ORIGIN),
        &add(None),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        r.body.contains("security token is missing or wrong"),
        "{}",
        r.body
    );
    let mut wrong = csrf.clone();
    wrong.replace_range(0..2, if &csrf[0..2] == "00" { "11" } else { "00" });
    let r = post(
        app,
        "/console/users",
        Some(&session),
        Some(ORIGIN),
        &add(Some(wrong)),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        app,
        "/console/users",
        Some(&session),
        Some(ORIGIN),
        &add(Some("not hex".into())),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The right token from a foreign origin, from no origin at all, with a foreign Referer.
    let r = post(
        app,
        "/console/users",
        Some(&session),
        Some("http://evil.example"),
        &add(Some(csrf.clone())),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("posted from another site"), "{}", r.body);
    let r = post(
        app,
        "/console/users",
        Some(&session),
        None,
        &add(Some(csrf.clone())),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("neither Origin nor Referer"), "{}", r.body);
    let req = Request::post("/console/users")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &session)
        .header(
            header::REFERER,
            "http://localhost.evil.example/console/users",
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            serde_urlencoded::to_string(add(Some(csrf.clone()))).unwrap(),
        ))
        .unwrap();
    assert_eq!(send(app, req).await.status, StatusCode::FORBIDDEN);

    // A token from the pre-session (sign-in form) does not pass for a session's form.
    let signin = get(app, "/console/signin", None).await;
    let r = post(
        app,
        "/console/users",
        Some(&format!("{session}; {}", cookie_pair(&signin, "kms_pre"))),
        Some(ORIGIN),
        &add(Some(signin.csrf())),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(users(&f).is_empty(), "a refused post changed something");

    // Sign-out needs the token too.
    let r = post(app, "/console/signout", Some(&session), Some(ORIGIN), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        get(app, "/console", Some(&session)).await.status,
        StatusCode::OK
    );

    // The same post with the token from its own origin works (the refusals above were not
    // for some other reason), and the token is shown in the answer, not in a redirect.
    let r = post(
        app,
        "/console/users",
        Some(&session),
        Some(ORIGIN),
        &add(Some(csrf.clone())),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Enrollment token for mallory@example.com"));
    assert!(r.location().is_empty());
    assert_eq!(users(&f), ["mallory@example.com"]);
    // A same-origin Referer (no Origin) passes too. Without `confirm=yes` the destructive
    // post changes nothing and goes to its confirmation page.
    let disable = |body: String| {
        Request::post("/console/users/mallory@example.com/disable")
            .header(header::HOST, HOST)
            .header(header::COOKIE, &session)
            .header(header::REFERER, "http://localhost/console/users")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    let r = send(app, disable(format!("csrf={csrf}"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/console/users/mallory@example.com/disable");
    let page = get(app, r.location(), Some(&session)).await;
    assert!(
        page.body.contains("Yes, disable mallory@example.com"),
        "{}",
        page.body
    );
    assert!(page.body.contains("name=\"confirm\" value=\"yes\""));
    let user = get(app, "/console/users/mallory@example.com", Some(&session)).await;
    assert!(
        user.body.contains("status-active"),
        "not disabled without confirm"
    );
    let r = send(app, disable(format!("csrf={csrf}&confirm=yes"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = get(app, r.location(), Some(&session)).await;
    assert!(page.body.contains("User mallory@example.com disabled"));

    // Each refused post is in the audit log, by the signed-in administrator, with the code.
    let conn = super::db(&f.dir);
    let refused: Vec<(String, String, String)> = conn
        .prepare(
            "SELECT actor, target, detail FROM audit_log
             WHERE outcome = 'refused' AND action = 'request' ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(refused.len(), 8, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|(actor, target, detail)| actor == "admin"
                && target.starts_with("POST /console/")
                && detail.starts_with("[KMS-403]")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn absent_and_expired_sessions_go_to_sign_in() {
    let f = fixture();
    let app = &f.app;
    for path in ["/console", "/console/users", "/console/certificates"] {
        let r = get(app, path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert!(r.location().starts_with("/console/signin"), "{path}");
    }
    let r = get(app, "/console", Some("kms_session=00ff")).await;
    assert_eq!(r.location(), "/console/signin?reason=expired");

    let session = sign_in(app, "admin", ADMIN_PW).await;
    let page = get(app, "/console/users", Some(&session)).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    f.clock.advance(Duration::from_secs(9 * 3600));
    let r = get(app, "/console/users", Some(&session)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/console/signin?reason=expired");
    let signin = get(app, r.location(), None).await;
    assert!(
        signin.body.contains("Your session expired"),
        "{}",
        signin.body
    );
    // A post with the expired session changes nothing.
    let r = post(
        app,
        "/console/users",
        Some(&session),
        Some(ORIGIN),
        &[
            ("csrf", &csrf),
            ("email", "late@example.com"),
            ("name", "Late"),
        ],
    )
    .await;
    assert_eq!(r.location(), "/console/signin?reason=expired");
    assert!(users(&f).is_empty());

    // Signing out ends the session at the authority.
    let session = sign_in(app, "admin", ADMIN_PW).await;
    let csrf = get(app, "/console", Some(&session)).await.csrf();
    let r = post(
        app,
        "/console/signout",
        Some(&session),
        Some(ORIGIN),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.location(), "/console/signin?reason=signed-out");
    assert!(
        r.set_cookies()
            .iter()
            .any(|c| c.starts_with("kms_session=;") && c.contains("Max-Age=0"))
    );
    let r = get(app, "/console", Some(&session)).await;
    assert_eq!(r.location(), "/console/signin?reason=expired");
}

#[tokio::test]
async fn an_auditor_is_refused_every_change_with_the_role_named() {
    let f = fixture();
    let app = &f.app;
    add_admin(&f, "audrey", Role::Auditor);
    add_admin(&f, "oscar", Role::Officer);
    let admin = sign_in(app, "admin", ADMIN_PW).await;
    let csrf = get(app, "/console/users", Some(&admin)).await.csrf();
    let r = post(
        app,
        "/console/users",
        Some(&admin),
        Some(ORIGIN),
        &[
            ("csrf", &csrf),
            ("email", "bob@example.com"),
            ("name", "Bob"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    let auditor = sign_in(app, "audrey", "audrey password").await;
    let page = get(app, "/console/users", Some(&auditor)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("bob@example.com"), "an auditor reads");
    // The page disables the actions and says why.
    assert!(
        page.body
            .contains("<button type=\"submit\" disabled>Add user</button>")
    );
    assert!(
        page.body
            .contains("needs the officer or administrator role; audrey is auditor")
    );
    let user_page = get(app, "/console/users/bob@example.com", Some(&auditor)).await;
    assert!(
        user_page
            .body
            .contains("disabled>Revoke every current certificate")
    );
    let csrf = page.csrf();
    let attempts: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "/console/users",
            vec![("email", "eve@example.com"), ("name", "Eve")],
        ),
        (
            "/console/users/bob@example.com/revoke",
            vec![("reason", "keyCompromise")],
        ),
        ("/console/users/bob@example.com/disable", vec![]),
        ("/console/users/bob@example.com/token", vec![]),
        ("/console/users/renew-all", vec![("all", "1")]),
    ];
    for (uri, mut fields) in attempts {
        fields.push(("csrf", &csrf));
        fields.push(("confirm", "yes"));
        let r = post(app, uri, Some(&auditor), Some(ORIGIN), &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}: {}", r.body);
        assert!(
            r.body
                .contains("this needs the officer or administrator role; audrey is auditor"),
            "{uri}: {}",
            r.body
        );
        assert!(r.body.contains("AUTH-004"));
    }
    assert_eq!(users(&f), ["bob@example.com"]);
    let bob = get(app, "/console/users/bob@example.com", Some(&admin)).await;
    assert!(bob.body.contains("status-active"), "bob was not disabled");

    // An officer may make these changes: the user page offers them, and disabling works.
    let officer = sign_in(app, "oscar", "oscar password").await;
    let page = get(app, "/console/users/bob@example.com", Some(&officer)).await;
    assert!(
        page.body
            .contains("<button type=\"submit\" class=\"danger\">Disable user</button>")
    );
    let r = post(
        app,
        "/console/users/bob@example.com/disable",
        Some(&officer),
        Some(ORIGIN),
        &[("csrf", &page.csrf()), ("confirm", "yes")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/console/users/bob@example.com");

    // The auditor's refusals are in the audit log once each, by the authority (AUTH-004),
    // not a second time by the console's refusal layer.
    let conn = super::db(&f.dir);
    let (by_authority, by_layer): (i64, i64) = conn
        .query_row(
            "SELECT count(*) FILTER (WHERE detail LIKE '[AUTH-004]%' AND action != 'request'),
                    count(*) FILTER (WHERE action = 'request')
             FROM audit_log WHERE actor = 'audrey' AND outcome = 'refused'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(by_authority >= 5, "{by_authority}");
    assert_eq!(by_layer, 0);
}

#[tokio::test]
async fn a_lock_out_reads_like_a_wrong_password_on_the_page() {
    let f = fixture();
    let app = &f.app;
    let form = get(app, "/console/signin", None).await;
    let pre = cookie_pair(&form, "kms_pre");
    let csrf = form.csrf();
    let mut last = None;
    for _ in 0..5 {
        let r = post(
            app,
            "/console/signin",
            Some(&pre),
            Some(ORIGIN),
            &[("csrf", &csrf), ("name", "admin"), ("password", "wrong")],
        )
        .await;
        last = Some(r);
    }
    let fifth = last.unwrap();
    assert_eq!(fifth.status, StatusCode::UNAUTHORIZED);
    assert!(
        fifth
            .body
            .contains("wrong administrator name or password [AUTH-001]"),
        "{}",
        fifth.body
    );
    // Locked out from this address: even the right password is refused, and the page says
    // exactly what a wrong password gets (nothing tells that the account exists or is locked).
    let r = post(
        app,
        "/console/signin",
        Some(&pre),
        Some(ORIGIN),
        &[("csrf", &csrf), ("name", "admin"), ("password", ADMIN_PW)],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.body
            .contains("wrong administrator name or password [AUTH-001]")
    );
    assert!(!r.body.contains("locked"), "{}", r.body);
    // One wrong password: the plain message.
    let f2 = fixture();
    let form = get(&f2.app, "/console/signin", None).await;
    let r = post(
        &f2.app,
        "/console/signin",
        Some(&cookie_pair(&form, "kms_pre")),
        Some(ORIGIN),
        &[("csrf", &form.csrf()), ("name", "admin"), ("password", "x")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("wrong administrator name or password"));
    // Sign-in without the pre-session token is refused before the password is looked at.
    let r = post(
        &f2.app,
        "/console/signin",
        None,
        Some(ORIGIN),
        &[("name", "admin"), ("password", ADMIN_PW)],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn security_headers_and_cookie_flags() {
    let f = fixture();
    for path in [
        "/console/signin",
        "/console/static/console.css",
        "/console/nope",
    ] {
        let r = get(&f.app, path, None).await;
        let h = |n: header::HeaderName| {
            r.headers
                .get(n)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            h(header::CONTENT_SECURITY_POLICY),
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            "{path}"
        );
        assert_eq!(h(header::X_FRAME_OPTIONS), "DENY");
        assert_eq!(h(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(h(header::REFERRER_POLICY), "same-origin");
        if !path.contains("static") {
            assert_eq!(h(header::CACHE_CONTROL), "no-store", "{path}");
        }
    }
    // No inline script or style in a page.
    let page = get(&f.app, "/console/signin", None).await;
    assert!(!page.body.contains("<script>") && !page.body.contains("style="));

    // Plain HTTP: HttpOnly, SameSite=Strict, Path=/console, no Secure.
    let session = sign_in(&f.app, "admin", ADMIN_PW).await;
    assert!(!session.is_empty());
    let form = get(&f.app, "/console/signin", None).await;
    let c = form.set_cookies().join("\n");
    assert!(
        c.contains("HttpOnly; SameSite=Strict; Path=/console"),
        "{c}"
    );
    assert!(!c.contains("Secure"), "{c}");

    // Over TLS: Secure as well, and the origin is https.
    let https = kmsd::router_with(f.state.clone(), true);
    let form = get(&https, "/console/signin", None).await;
    let pre = cookie_pair(&form, "kms_pre");
    assert!(form.set_cookies()[0].ends_with("; Secure"));
    let fields = [
        ("csrf", form.csrf()),
        ("name", "admin".into()),
        ("password", ADMIN_PW.into()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post(&https, "/console/signin", Some(&pre), Some(ORIGIN), &fields).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "http origin on https");
    let r = post(
        &https,
        "/console/signin",
        Some(&pre),
        Some("https://localhost"),
        &fields,
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let session = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("kms_session="))
        .unwrap();
    assert!(
        session.ends_with("; HttpOnly; SameSite=Strict; Path=/console; Secure"),
        "{session}"
    );
    // The root goes to the console.
    assert_eq!(get(&f.app, "/", None).await.location(), "/console");
}

fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----kmsconsoletestboundary";
    let mut body = Vec::new();
    for (name, filename, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_locked_authority_shows_the_unlock_form_and_unlocks() {
    let f = fixture();
    let store = Store::open(&f.dir).unwrap();
    let state = Arc::new(AppState::locked(store, config(), f.clock.clone()).unwrap());
    let app = kmsd::router(state.clone());
    let page = get(&app, "/console", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("The authority is locked"));
    assert!(page.body.contains("enctype=\"multipart/form-data\""));
    let pre = cookie_pair(&page, "kms_pre");
    // Sign-in while locked goes to the unlock form.
    assert_eq!(
        get(&app, "/console/signin", None).await.location(),
        "/console"
    );

    let unlock = |fields: Vec<(&'static str, Option<&'static str>, Vec<u8>)>, origin: &str| {
        let refs: Vec<(&str, Option<&str>, &[u8])> = fields
            .iter()
            .map(|(a, b, c)| (*a, *b, c.as_slice()))
            .collect();
        let (ct, body) = multipart(&refs);
        Request::post("/console/unlock")
            .header(header::HOST, HOST)
            .header(header::ORIGIN, origin)
            .header(header::COOKIE, &pre)
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .unwrap()
    };
    let csrf = page.csrf();
    let leaked: &'static str = Box::leak(csrf.into_boxed_str());
    // Without the token; from another origin; a malformed key file; a wrong password.
    let r = send(
        &app,
        unlock(vec![("password", None, STARTUP_PW.into())], ORIGIN),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &app,
        unlock(
            vec![
                ("csrf", None, leaked.into()),
                ("password", None, STARTUP_PW.into()),
            ],
            "http://evil.example",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &app,
        unlock(
            vec![
                ("csrf", None, leaked.into()),
                ("key_file", Some("k.key"), b"not a key file".to_vec()),
            ],
            ORIGIN,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("The key file was refused"), "{}", r.body);
    let r = send(
        &app,
        unlock(
            vec![
                ("csrf", None, leaked.into()),
                ("key_file", Some("big.key"), vec![b'A'; 200 * 1024]),
            ],
            ORIGIN,
        ),
    )
    .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert!(state.authority().is_err(), "still locked");
    let r = send(
        &app,
        unlock(
            vec![
                ("csrf", None, leaked.into()),
                ("password", None, b"wrong".to_vec()),
            ],
            ORIGIN,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("does not unlock this authority"));
    assert!(state.authority().is_err(), "still locked");
    // The start-up password unlocks; then sign in.
    let r = send(
        &app,
        unlock(
            vec![
                ("csrf", None, leaked.into()),
                ("password", None, STARTUP_PW.into()),
            ],
            ORIGIN,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/console/signin?reason=unlocked");
    assert!(state.authority().is_ok());
    let session = sign_in(&app, "admin", ADMIN_PW).await;
    let dash = get(&app, "/console", Some(&session)).await;
    assert!(dash.body.contains("CN=Test CA,O=Example"), "{}", dash.body);
}
