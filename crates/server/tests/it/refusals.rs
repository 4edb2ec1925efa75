//! Refusals that never reach the authority (no or expired session, malformed requests,
//! unknown routes, 423 while locked) are audited by the API's one audit layer, with the
//! session's administrator as the actor when known and the client address; those without a
//! signed-in actor are capped per minute.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;

use super::*;

/// (actor, target, outcome, detail) of the `request` entries after `after`.
fn refusals(dir: &Path, after: i64) -> Vec<(String, String, String, String)> {
    let db = db(dir);
    let mut stmt = db
        .prepare(
            "SELECT actor, target, outcome, detail FROM audit_log
             WHERE action = 'request' AND seq > ?1 ORDER BY seq",
        )
        .unwrap();
    stmt.query_map([after], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .unwrap()
    .collect::<Result<Vec<_>, _>>()
    .unwrap()
}

fn head(dir: &Path) -> i64 {
    db(dir)
        .query_row("SELECT coalesce(max(seq), 0) FROM audit_log", [], |r| {
            r.get(0)
        })
        .unwrap()
}

/// A request from `peer`, as the real server's connect info gives it.
async fn call_from(
    app: &Router,
    peer: &str,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: &str,
) -> StatusCode {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if !body.is_empty() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let mut req = req.body(Body::from(body.to_string())).unwrap();
    req.extensions_mut().insert(ConnectInfo(kmsd::Peer {
        addr: SocketAddr::from_str(peer).unwrap(),
        tls: false,
    }));
    app.clone().oneshot(req).await.unwrap().status()
}

#[tokio::test]
async fn refusals_before_the_authority_are_audited() {
    let f = fixture();
    let app = &f.app;
    let t = login(app).await;
    let start = head(&f.dir);
    let peer = "192.0.2.7:40000";

    // No session; a session that is not one.
    assert_eq!(
        call_from(app, peer, "GET", "/api/v1/users", None, "").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call_from(
            app,
            peer,
            "GET",
            "/api/v1/admins",
            Some("not-a-session"),
            ""
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    // Malformed JSON and a wrong field from a signed-in administrator.
    assert_eq!(
        call_from(app, peer, "POST", "/api/v1/users", Some(&t), "{not json").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call_from(
            app,
            peer,
            "POST",
            "/api/v1/users",
            Some(&t),
            r#"{"emial": "x@example.com"}"#
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // No such route.
    assert_eq!(
        call_from(app, peer, "GET", "/api/v1/nothing", Some(&t), "").await,
        StatusCode::NOT_FOUND
    );
    // An expired session.
    f.clock.advance(Duration::from_secs(9 * 3600));
    assert_eq!(
        call_from(app, peer, "GET", "/api/v1/users", Some(&t), "").await,
        StatusCode::UNAUTHORIZED
    );
    let got = refusals(&f.dir, start);
    let short: Vec<(&str, &str, &str, &str)> = got
        .iter()
        .map(|(a, t, o, d)| (a.as_str(), t.as_str(), o.as_str(), &d[..10]))
        .collect();
    assert_eq!(
        short,
        [
            (
                "-",
                "GET /api/v1/users from 192.0.2.7",
                "refused",
                "[AUTH-003]"
            ),
            (
                "-",
                "GET /api/v1/admins from 192.0.2.7",
                "refused",
                "[AUTH-003]"
            ),
            (
                "admin",
                "POST /api/v1/users from 192.0.2.7",
                "refused",
                "[KMS-400] "
            ),
            (
                "admin",
                "POST /api/v1/users from 192.0.2.7",
                "refused",
                "[KMS-400] "
            ),
            (
                "admin",
                "GET /api/v1/nothing from 192.0.2.7",
                "refused",
                "[KMS-404] "
            ),
            (
                "-",
                "GET /api/v1/users from 192.0.2.7",
                "refused",
                "[AUTH-003]"
            ),
        ],
        "{got:#?}"
    );
    // Refusals the authority audits itself are not recorded twice.
    let t = login(app).await;
    let before = head(&f.dir);
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/users/nobody@example.com/disable",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(refusals(&f.dir, before).is_empty());
    let (_, v) = call(app, "GET", "/api/v1/audit/verify", Some(&t), None).await;
    assert_eq!(v["ok"], true, "{v}");

    // While locked: the 423 refusals are audited in the locked store.
    drop(f.app);
    let state = f.state;
    drop(state);
    let store = Store::open(&f.dir).unwrap();
    let locked = kmsd::router(Arc::new(
        AppState::locked(store, config(), f.clock.clone()).unwrap(),
    ));
    let before = head(&f.dir);
    assert_eq!(
        call_from(&locked, peer, "GET", "/api/v1/users", Some(&t), "").await,
        StatusCode::LOCKED
    );
    let got = refusals(&f.dir, before);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].3.starts_with("[KMS-423]"), "{got:#?}");
}

#[tokio::test]
async fn unauthenticated_refusals_are_capped_per_minute() {
    let f = fixture();
    let app = &f.app;
    // The start of a minute, so the whole burst falls in one.
    let now = 1_800_000_000u64;
    f.clock.advance(Duration::from_secs(60 - now % 60));
    let start = head(&f.dir);
    for _ in 0..30 {
        assert_eq!(
            call_from(app, "198.51.100.1:1", "GET", "/api/v1/users", None, "").await,
            StatusCode::UNAUTHORIZED
        );
    }
    let cap = kmsd::UNAUTHENTICATED_REFUSALS_PER_MINUTE as usize;
    assert_eq!(refusals(&f.dir, start).len(), cap);
    // A signed-in administrator's refusals are not capped.
    let t = login(app).await;
    let mid = head(&f.dir);
    for _ in 0..3 {
        call_from(
            app,
            "198.51.100.1:1",
            "POST",
            "/api/v1/users",
            Some(&t),
            "{",
        )
        .await;
    }
    assert_eq!(refusals(&f.dir, mid).len(), 3);
    // The next minute: first the summary, then the entry.
    f.clock.advance(Duration::from_secs(60));
    let before = head(&f.dir);
    call_from(app, "198.51.100.1:1", "GET", "/api/v1/users", None, "").await;
    let got = refusals(&f.dir, before);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got[0]
            .3
            .starts_with(&format!("suppressed {} refusals", 30 - cap)),
        "{got:#?}"
    );
    assert!(got[1].3.starts_with("[AUTH-003]"), "{got:#?}");
}
