//! The console's key recovery agents page in-process: agents added by their pasted public
//! key, the threshold set, a recovery waiting for agent shares shown with its `kmsctl approve
//! --agent-key` line on the agents and recovery pages (and counted on the dashboard) until two
//! agents released, then the bundle; removal asks first and never goes below the threshold;
//! officers and auditors see no forms and are refused; forged posts change nothing; under an
//! `agent-change` quorum of two the change waits for another administrator.

use authority::Role;
use axum::http::StatusCode;
use escrow::Password;
use pki::quorum::AgentSecretKey;

use super::console::{ORIGIN, Resp, add_admin, get, post, sign_in};
use super::{ADMIN_PW, add_and_enroll, fixture, login};

/// A deterministic agent key pair; the public key as `kmsctl agent keygen` prints it.
fn agent(seed: &str) -> (AgentSecretKey, String) {
    let sk = AgentSecretKey::derive(format!("agent key of {seed}").as_bytes());
    let pk = sk.public_key().unwrap().to_hex();
    (sk, pk)
}

/// Posts a form with the CSRF token of `page` and follows the 303 to the page it names.
async fn act(app: &axum::Router, session: &str, uri: &str, fields: &[(&str, &str)]) -> Resp {
    let csrf = get(app, "/console/agents", Some(session)).await.csrf();
    let mut fields = fields.to_vec();
    fields.push(("csrf", &csrf));
    let r = post(app, uri, Some(session), Some(ORIGIN), &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{uri}: {}", r.body);
    get(app, r.location(), Some(session)).await
}

/// The flash message of a page.
fn flash(page: &Resp) -> &str {
    let at = page.body.find("class=\"flash").expect("a flash message");
    let rest = &page.body[at..];
    let start = rest.find('>').unwrap() + 1;
    &rest[start..rest.find("</div>").unwrap()]
}

/// The number of agents the authority lists.
fn agent_count(f: &super::Fixture) -> usize {
    let auth = f.state.authority().unwrap();
    let admin = auth.login("admin", &Password::new(ADMIN_PW)).unwrap().admin;
    auth.agents(&admin).unwrap().agents.len()
}

#[tokio::test]
async fn agents_are_added_by_key_a_recovery_waits_for_two_and_removal_asks_first() {
    let f = fixture();
    let app = &f.app;
    let admin = sign_in(app, "admin", ADMIN_PW).await;

    let page = get(app, "/console/agents", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No key recovery agent is designated."));
    assert!(page.body.contains("id=\"add-agent-form\""));
    assert!(page.body.contains("aria-current=\"page\">Agents</a>"));
    assert!(page.body.contains("not set (0 agent(s))"), "{}", page.body);

    // Three agents, their keys pasted as printed (a line break in the middle is forgiven).
    let keys: Vec<_> = ["ann", "bea", "cai"].iter().map(|n| agent(n)).collect();
    for (name, (_, pk)) in ["ann", "bea", "cai"].iter().zip(&keys) {
        let pasted = format!("{}\n{}", &pk[..32], &pk[32..]);
        let page = act(
            app,
            &admin,
            "/console/agents",
            &[("name", name), ("public_key", &pasted)],
        )
        .await;
        assert!(
            flash(&page).starts_with(&format!("Agent {name} added (key {pk})")),
            "{}",
            flash(&page)
        );
        assert!(page.body.contains(pk.as_str()), "the key is listed");
    }
    // A malformed key and a second agent with the same key are refused; nothing is added.
    let page = act(
        app,
        &admin,
        "/console/agents",
        &[("name", "dee"), ("public_key", "not hex")],
    )
    .await;
    assert!(flash(&page).contains("[AUTH-009]"), "{}", flash(&page));
    let page = act(
        app,
        &admin,
        "/console/agents",
        &[("name", "dee"), ("public_key", &keys[0].1)],
    )
    .await;
    assert!(flash(&page).contains("[AUTH-132]"), "{}", flash(&page));
    assert_eq!(agent_count(&f), 3);

    // The threshold: 1 is refused, 2 is set.
    let page = act(
        app,
        &admin,
        "/console/agents/threshold",
        &[("threshold", "1")],
    )
    .await;
    assert!(flash(&page).contains("[AUTH-009]"), "{}", flash(&page));
    let page = act(
        app,
        &admin,
        "/console/agents/threshold",
        &[("threshold", "2")],
    )
    .await;
    assert!(
        flash(&page).starts_with("Threshold set: 2"),
        "{}",
        flash(&page)
    );
    assert!(page.body.contains("2 of 3 agents rebuild a key"));

    // Carol enrolls: her encryption key is split among the three agents when collected.
    let t = login(app).await;
    add_and_enroll(app, &t, "carol@example.com", "carol-sign.key.pem").await;
    let page = get(app, "/console/agents", Some(&admin)).await;
    assert!(
        page.body.contains("<dd id=\"agent-split-keys\">1</dd>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<td class=\"agent-shares\">1 of 1</td>"));

    // A recovery through the console waits for the agents, with the command to run.
    let recover = [
        ("email", "carol@example.com"),
        ("password", "bundle password"),
        ("password2", "bundle password"),
    ];
    let csrf = get(app, "/console/recovery", Some(&admin)).await.csrf();
    let mut fields = recover.to_vec();
    fields.push(("csrf", &csrf));
    let r = post(
        app,
        "/console/recovery",
        Some(&admin),
        Some(ORIGIN),
        &fields,
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = get(app, r.location(), Some(&admin)).await;
    let auth = f.state.authority().unwrap();
    let root = auth.login("admin", &Password::new(ADMIN_PW)).unwrap().admin;
    let requests = auth.agent_requests(&root).unwrap();
    assert_eq!(requests.len(), 1);
    let id = requests[0].id;
    let command = format!("kmsctl approve {id} --agent-key agent.key --password-stdin");
    let message = flash(&page);
    assert!(
        message.starts_with("Waiting for key recovery agents")
            && message.contains(&command)
            && message.contains("shares from 0 of 2 agents"),
        "{message}"
    );
    for uri in ["/console/recovery", "/console/agents"] {
        let page = get(app, uri, Some(&admin)).await;
        assert!(
            page.body.contains(&format!("id=\"agent-request-{id}\"")),
            "{uri}"
        );
        assert!(page.body.contains(&format!("value=\"{command}\"")), "{uri}");
        assert!(page.body.contains("0 of 2"), "{uri}");
        assert!(!page.body.contains("Download bundle"), "{uri}: not yet");
    }
    let dashboard = get(app, "/console", Some(&admin)).await;
    assert!(
        dashboard
            .body
            .contains("<dd id=\"agents-threshold\">2 of 3</dd>")
    );
    assert!(dashboard.body.contains("<dd id=\"agents-waiting\">1</dd>"));
    assert!(dashboard.body.contains(
        "id=\"attention-agent-requests\" class=\"attention-some\"><a href=\"/console/agents#h-agent-requests\"><span class=\"attention-count\">1</span>"
    ));

    // Two agents release their shares (as kmsctl approve --agent-key does on their machines).
    for (i, (sk, pk)) in keys.iter().enumerate().take(2) {
        let fetched = auth.agent_shares(&root, id, pk).unwrap();
        let sealed =
            authority::reseal_for_request(sk, id, &fetched.request_public_key, &fetched.shares)
                .unwrap();
        auth.release_shares(&root, id, pk, &sealed).unwrap();
        let page = get(app, "/console/agents", Some(&admin)).await;
        assert!(
            page.body.contains(&format!("{} of 2", i + 1)),
            "{}",
            page.body
        );
    }
    let page = get(app, "/console/recovery", Some(&admin)).await;
    assert!(page.body.contains("2 of 2 (ann, bea)"), "{}", page.body);
    assert!(page.body.contains("Download bundle"));
    let csrf = page.csrf();
    let mut fields = recover.to_vec();
    fields.push(("csrf", &csrf));
    let r = post(
        app,
        "/console/recovery",
        Some(&admin),
        Some(ORIGIN),
        &fields,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/x-pkcs12");
    assert_eq!(r.headers["x-recovered-keys"], "1");
    let page = get(app, "/console/agents", Some(&admin)).await;
    assert!(
        page.body
            .contains("No recovery is waiting for agent shares.")
    );
    // Each release is in the audit log, which the page links to (never the share).
    assert!(page.body.contains("href=\"/console/audit?action=agent.\""));
    let audit = get(app, "/console/audit?action=agent.release", Some(&admin)).await;
    for name in ["ann", "bea"] {
        assert!(
            audit
                .body
                .contains(&format!("request {id} by agent {name}: 1 share (key ")),
            "{}",
            audit.body
        );
    }
    assert!(!audit.body.contains("by agent cai"));

    // Removing asks first: the button leads to a confirmation page; a post without
    // confirm=yes goes back there and removes nothing.
    assert!(
        page.body
            .contains("<form method=\"get\" action=\"/console/agents/cai/remove\"")
    );
    let confirm = get(app, "/console/agents/cai/remove", Some(&admin)).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Remove key recovery agent cai"));
    assert!(
        confirm
            .body
            .contains("<button type=\"submit\" class=\"danger\">Yes, remove agent cai</button>")
    );
    let r = post(
        app,
        "/console/agents/cai/remove",
        Some(&admin),
        Some(ORIGIN),
        &[("csrf", &confirm.csrf())],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/console/agents/cai/remove");
    assert_eq!(agent_count(&f), 3);
    let page = act(
        app,
        &admin,
        "/console/agents/cai/remove",
        &[("confirm", "yes")],
    )
    .await;
    assert!(
        flash(&page).starts_with("Agent cai removed"),
        "{}",
        flash(&page)
    );
    assert_eq!(agent_count(&f), 2);
    // Two agents at threshold two: removing another is offered disabled, and refused.
    assert!(
        page.body
            .contains("1 agent(s) would remain, fewer than the threshold 2"),
        "{}",
        page.body
    );
    let page = act(
        app,
        &admin,
        "/console/agents/bea/remove",
        &[("confirm", "yes")],
    )
    .await;
    assert!(flash(&page).contains("[AUTH-132]"), "{}", flash(&page));
    assert_eq!(agent_count(&f), 2);

    // The re-share asks first too, and runs (nothing is left under the master key only).
    let confirm = get(app, "/console/agents/reshare", Some(&admin)).await;
    assert!(
        confirm
            .body
            .contains("Yes, split the keys among the agents")
    );
    let r = post(
        app,
        "/console/agents/reshare",
        Some(&admin),
        Some(ORIGIN),
        &[("csrf", &confirm.csrf())],
    )
    .await;
    assert_eq!(r.location(), "/console/agents/reshare");
    let page = act(
        app,
        &admin,
        "/console/agents/reshare",
        &[("confirm", "yes")],
    )
    .await;
    assert!(
        flash(&page).starts_with("Re-share done: 0 key(s) split"),
        "{}",
        flash(&page)
    );
}

#[tokio::test]
async fn officers_and_auditors_see_no_forms_forged_posts_fail_and_a_quorum_waits() {
    let f = fixture();
    let app = &f.app;
    add_admin(&f, "audrey", Role::Auditor);
    add_admin(&f, "oscar", Role::Officer);
    add_admin(&f, "bob", Role::Administrator);
    let (_, pk) = agent("ann");
    let admin = sign_in(app, "admin", ADMIN_PW).await;
    act(
        app,
        &admin,
        "/console/agents",
        &[("name", "ann"), ("public_key", &pk)],
    )
    .await;

    for (name, role) in [("audrey", "auditor"), ("oscar", "officer")] {
        let session = sign_in(app, name, &format!("{name} password")).await;
        let page = get(app, "/console/agents", Some(&session)).await;
        assert_eq!(page.status, StatusCode::OK, "{name} reads the page");
        assert!(page.body.contains(pk.as_str()), "{name} sees the agents");
        for form in [
            "action=\"/console/agents\"",
            "action=\"/console/agents/threshold\"",
            "action=\"/console/agents/reshare\"",
            "/remove\"",
        ] {
            assert!(!page.body.contains(form), "{name} sees {form}");
        }
        assert!(
            page.body.contains(&format!(
                "Changing the agents is not available: needs the administrator role; {name} is \
                 {role}."
            )),
            "{}",
            page.body
        );
        // A post anyway (with a good CSRF token) is refused with the role named.
        let csrf = page.csrf();
        for (uri, fields) in [
            (
                "/console/agents",
                vec![("name", "eve"), ("public_key", pk.as_str())],
            ),
            ("/console/agents/threshold", vec![("threshold", "2")]),
            ("/console/agents/ann/remove", vec![("confirm", "yes")]),
        ] {
            let mut fields = fields;
            fields.push(("csrf", &csrf));
            let r = post(app, uri, Some(&session), Some(ORIGIN), &fields).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{name} {uri}: {}", r.body);
            assert!(r.body.contains("AUTH-004"), "{}", r.body);
        }
    }
    assert_eq!(agent_count(&f), 1);

    // Forged posts: no token, a wrong token, another site's origin.
    let csrf = get(app, "/console/agents", Some(&admin)).await.csrf();
    let wrong = "0".repeat(64);
    let forged: [(Option<&str>, &str); 3] = [
        (None, ORIGIN),
        (Some(wrong.as_str()), ORIGIN),
        (Some(csrf.as_str()), "https://evil.example"),
    ];
    for (token, origin) in forged {
        let mut fields = vec![("name", "mallory"), ("public_key", pk.as_str())];
        if let Some(t) = token {
            fields.push(("csrf", t));
        }
        let r = post(app, "/console/agents", Some(&admin), Some(origin), &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{token:?} {origin}");
        assert!(r.body.contains("KMS-403"), "{}", r.body);
        let r = post(
            app,
            "/console/agents/ann/remove",
            Some(&admin),
            Some(origin),
            &[("confirm", "yes"), ("csrf", token.unwrap_or(""))],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{token:?} {origin}");
    }
    assert_eq!(agent_count(&f), 1);

    // A name with a space, an apostrophe and a slash: its remove link and confirmation page
    // name it (escaped in the HTML), and the confirmed removal removes exactly it.
    let (_, odd_key) = agent("odd");
    let odd = "Dee O'Neil/2";
    act(
        app,
        &admin,
        "/console/agents",
        &[("name", odd), ("public_key", &odd_key)],
    )
    .await;
    let page = get(app, "/console/agents", Some(&admin)).await;
    let link = "/console/agents/Dee%20O%27Neil%2F2/remove";
    assert!(
        page.body.contains(&format!("action=\"{link}\"")),
        "{}",
        page.body
    );
    let confirm = get(app, link, Some(&admin)).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(
        confirm.body.contains("Yes, remove agent Dee O&#39;Neil/2"),
        "{}",
        confirm.body
    );
    act(app, &admin, link, &[("confirm", "yes")]).await;
    assert_eq!(agent_count(&f), 1);

    // Under an agent-change quorum of two, adding opens a request that bob approves.
    let t = login(app).await;
    let (s, v) = super::call(
        app,
        "POST",
        "/api/v1/policies/agent-change",
        Some(&t),
        super::j(serde_json::json!({"quorum": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, pk2) = agent("bea");
    let add = [("name", "bea"), ("public_key", pk2.as_str())];
    let page = act(app, &admin, "/console/agents", &add).await;
    assert!(
        flash(&page).starts_with("Waiting for approvals: request "),
        "{}",
        flash(&page)
    );
    assert!(page.body.contains("Agent changes waiting for approvals"));
    assert!(
        page.body
            .contains("needs 2 approvals under the agent-change policy")
    );
    assert_eq!(agent_count(&f), 1);
    let bob = sign_in(app, "bob", "bob password").await;
    let page = get(app, "/console/agents", Some(&bob)).await;
    let at = page.body.find("/console/approvals/").unwrap();
    let approve = &page.body[at..at + page.body[at..].find('"').unwrap()];
    assert!(approve.ends_with("/approve"), "{approve}");
    let r = post(
        app,
        approve,
        Some(&bob),
        Some(ORIGIN),
        &[("csrf", &page.csrf())],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = act(app, &admin, "/console/agents", &add).await;
    assert!(
        flash(&page).starts_with("Agent bea added"),
        "{}",
        flash(&page)
    );
    assert_eq!(agent_count(&f), 2);
}
