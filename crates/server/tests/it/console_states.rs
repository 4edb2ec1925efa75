//! The console's users pages with lifecycle states (badge, expiry, the `state` filter, the
//! user page's explanation) and the certificates page listing without a search, in-process
//! with the manual clock moving days on.

use std::time::Duration;

use axum::http::StatusCode;

use super::console::{get, sign_in};
use super::{ADMIN_PW, add_and_enroll, call, fixture, j, login};

/// The `<tr>` of the users table naming `email`.
fn row<'a>(body: &'a str, email: &str) -> &'a str {
    let at = body
        .find(&format!("value=\"{email}\""))
        .unwrap_or_else(|| panic!("{email} is not listed"));
    let start = body[..at].rfind("<tr>").unwrap();
    let end = at + body[at..].find("</tr>").unwrap();
    &body[start..end]
}

#[tokio::test]
async fn users_pages_show_states_and_the_certificates_page_lists() {
    let f = fixture();
    let app = &f.app;
    let t = login(app).await;
    let enrolled = add_and_enroll(app, &t, "alice@example.com", "alice-sign.key.pem").await;
    assert!(enrolled.is_object());
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(&t),
        j(serde_json::json!({"email": "bob@example.com", "name": "Bob"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, alice) = call(
        app,
        "GET",
        "/api/v1/users/alice@example.com",
        Some(&t),
        None,
    )
    .await;
    let not_after = alice["state_expires_at"].as_i64().unwrap();

    let session = sign_in(app, "admin", ADMIN_PW).await;
    let page = get(app, "/console/users", Some(&session)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(row(&page.body, "alice@example.com").contains("lifecycle-enrolled"));
    let bob = row(&page.body, "bob@example.com");
    assert!(
        bob.contains("lifecycle-invited") && bob.contains("token expires"),
        "{bob}"
    );

    // 8 days on: Bob's token expired; 10 days before Alice's notAfter: expiring.
    f.clock.advance(Duration::from_secs(8 * 86400));
    let now = alice["created_at"].as_i64().unwrap() + 8 * 86400;
    f.clock
        .advance(Duration::from_secs((not_after - 10 * 86400 - now) as u64));
    let session = sign_in(app, "admin", ADMIN_PW).await;
    let page = get(app, "/console/users", Some(&session)).await;
    let alice_row = row(&page.body, "alice@example.com");
    assert!(
        alice_row.contains("lifecycle-expiring") && alice_row.contains("certificate expires"),
        "{alice_row}"
    );
    let bob = row(&page.body, "bob@example.com");
    assert!(
        bob.contains("lifecycle-invitation-expired") && bob.contains("token expired"),
        "{bob}"
    );

    // The filter: only Alice, the select keeps the choice; a bad state is a 400 page.
    let page = get(app, "/console/users?state=expiring", Some(&session)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("value=\"alice@example.com\""));
    assert!(!page.body.contains("value=\"bob@example.com\""));
    assert!(page.body.contains("<option value=\"expiring\" selected>"));
    assert!(page.body.contains("1 user(s)"));
    let page = get(app, "/console/users?state=sleepy", Some(&session)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);

    // The user page explains the state.
    let page = get(app, "/console/users/alice@example.com", Some(&session)).await;
    assert!(page.body.contains("id=\"user-state\""));
    assert!(page.body.contains("expire soon"), "the meaning is shown");
    assert!(
        page.body
            .contains("id=\"user-state-expires\">(certificate expires")
    );

    // The certificates page lists without a search, newest first, with the status.
    let page = get(app, "/console/certificates", Some(&session)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("newest first"), "{}", page.body);
    assert_eq!(page.body.matches("cert-expiring\">expiring").count(), 2);
    assert!(!page.body.contains("id=\"none-found\""));
}
