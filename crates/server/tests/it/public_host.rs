//! The API's `Host` check follows the public URL while kmsd serves: a change through the API
//! is accepted at once, a change applied elsewhere (the console's form calls the authority
//! directly) once the setting is re-read on the next refused `Host`.

use super::*;

async fn status_with_host(app: &Router, host: &str) -> StatusCode {
    let req = Request::builder()
        .method("GET")
        .uri("/api/v1/users")
        .header(header::HOST, host)
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(req).await.unwrap().status()
}

#[tokio::test]
async fn a_changed_public_url_host_is_accepted_without_a_restart() {
    let f = fixture();
    let app = &f.app;
    assert_eq!(
        status_with_host(app, "kms.example.net:8443").await,
        StatusCode::MISDIRECTED_REQUEST
    );
    let token = login(app).await;
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/settings/public-url",
        Some(&token),
        j(json!({"url": "http://kms.example.net:8081"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Not signed in (401), but past the Host check.
    assert_eq!(
        status_with_host(app, "kms.example.net:8443").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_with_host(app, "evil.example").await,
        StatusCode::MISDIRECTED_REQUEST
    );

    // Changed without the API route (as the console does): the next refused Host re-reads
    // the setting (at most every 200 ms).
    let auth = f.state.authority().unwrap();
    let admin = auth.login("admin", &Password::new(ADMIN_PW)).unwrap().admin;
    auth.set_public_url(&admin, "http://pki.example.org")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        status_with_host(app, "pki.example.org").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_with_host(app, "kms.example.net").await,
        StatusCode::MISDIRECTED_REQUEST,
        "the previous public host (not a name at start) is no longer one"
    );
}
