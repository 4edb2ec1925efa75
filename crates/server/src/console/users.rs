//! Users: search, list with status (filtered, sorted and paged on the server), add (the
//! enrollment token shown once, in the POST response), disable, new token, revoke with an
//! RFC 5280 reason, renew (with or without a new key) and bulk renew of the users that can be
//! renewed, with a summary. Revoke, disable and bulk renewal ask first on a confirmation page
//! (see `confirm.rs`).

use askama::Template;
use authority::{
    CertSummary, Direction, EnrollmentToken, RevokeTarget, UserInfo, UserQuery, UserState,
};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use pki::crl::RevocationReason;
use serde::Deserialize;

use super::confirm::{ConfirmPage, Item, ask_first, confirmed};
use super::{Action, ConsoleError, Flash, Gate, Layout, Session, form_values, page, when};

/// Rows per page of the user list.
const PAGE_SIZE: usize = 50;

/// One user row as listed.
pub(super) struct UserRow {
    pub href: String,
    pub email: String,
    pub name: String,
    pub status: String,
    pub capabilities: String,
    pub created: String,
    /// "Given Surname" from the record (sponsored certificates), or empty.
    pub person: String,
    /// The user's own certificate profile, or "(the authority's)".
    pub profile: String,
    /// The lifecycle state (`invited`, `expiring`, ...).
    pub state: &'static str,
    /// What the state means, one sentence.
    pub state_meaning: &'static str,
    /// What the expiry is of: "token expires", "certificates expire", ... (empty: none).
    pub state_expiry_label: &'static str,
    /// When the state ends or ended, or empty.
    pub state_expires: String,
}

/// What a state's expiry is the expiry of, for its label.
fn expiry_label(state: UserState) -> &'static str {
    match state {
        UserState::Invited => "token expires",
        UserState::InvitationExpired => "token expired",
        UserState::Enrolled | UserState::Expiring => "certificate expires",
        UserState::Expired => "certificate expired",
        UserState::New | UserState::Revoked | UserState::Disabled => "",
    }
}

impl From<UserInfo> for UserRow {
    fn from(u: UserInfo) -> Self {
        UserRow {
            href: user_href(&u.email),
            created: when(u.created_at),
            capabilities: u.capabilities.join(", "),
            person: match (&u.given_name, &u.surname, &u.pseudonym) {
                (Some(g), Some(s), _) => format!("{g} {s}"),
                (_, _, Some(p)) => format!("{p} (pseudonym)"),
                _ => String::new(),
            },
            profile: u
                .profile
                .clone()
                .unwrap_or_else(|| "(the authority's)".into()),
            email: u.email,
            name: u.name,
            status: u.status,
            state: u.state.as_str(),
            state_meaning: u.state.meaning(),
            state_expiry_label: if u.state_expires_at.is_some() {
                expiry_label(u.state)
            } else {
                ""
            },
            state_expires: u.state_expires_at.map(when).unwrap_or_default(),
        }
    }
}

/// A sortable column header: its link and `aria-sort` value.
pub(super) struct Column {
    pub label: &'static str,
    pub href: String,
    pub aria_sort: &'static str,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    q: String,
    status: String,
    state: String,
    states: Vec<&'static str>,
    columns: Vec<Column>,
    rows: Vec<UserRow>,
    total: usize,
    page: usize,
    pages: usize,
    prev_href: Option<String>,
    next_href: Option<String>,
    change: Gate,
}

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
    #[serde(default)]
    page: Option<usize>,
}

fn list_href(q: &ListQuery, sort: &str, dir: &str, page: usize) -> String {
    let pairs = [
        ("q", q.q.as_str()),
        ("status", q.status.as_str()),
        ("state", q.state.as_str()),
        ("sort", sort),
        ("dir", dir),
        ("page", &page.to_string()),
    ];
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    format!("/console/users?{query}")
}

/// GET /console/users: search (`q` in address or name), filter (`status`), sort (`sort`,
/// `dir`) and page (`page`), all in the authority's query.
pub(super) async fn list(s: Session, Query(q): Query<ListQuery>) -> Result<Response, ConsoleError> {
    let sort = match q.sort.as_str() {
        "name" | "status" | "created" => q.sort.as_str(),
        _ => "email",
    };
    let desc = q.dir == "desc";
    let page_no = q.page.unwrap_or(1).clamp(1, 1_000_000);
    let state = match q.state.trim() {
        "" => None,
        st => Some(
            st.parse::<UserState>()
                .map_err(|e| ConsoleError::bad_form(e.to_string()))?,
        ),
    };
    let query = UserQuery {
        text: Some(q.q.clone()),
        status: Some(q.status.clone()),
        state,
        sort: Some(
            if sort == "created" {
                "created_at"
            } else {
                sort
            }
            .to_string(),
        ),
        direction: Some(if desc {
            Direction::Desc
        } else {
            Direction::Asc
        }),
        limit: Some(PAGE_SIZE as i64),
        offset: Some(((page_no - 1) * PAGE_SIZE) as i64),
    };
    let found = s
        .call(move |auth, admin| auth.search_users(admin, &query))
        .await?;
    let total = usize::try_from(found.total).unwrap_or(0);
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let dir = if desc { "desc" } else { "asc" };
    let columns = [
        ("email", "E-mail address"),
        ("name", "Name"),
        ("status", "Status"),
        ("created", "Added"),
    ]
    .into_iter()
    .map(|(key, label)| {
        let current = key == sort;
        let next_dir = if current && !desc { "desc" } else { "asc" };
        Column {
            label,
            href: list_href(&q, key, next_dir, 1),
            aria_sort: match (current, desc) {
                (false, _) => "none",
                (true, false) => "ascending",
                (true, true) => "descending",
            },
        }
    })
    .collect();
    let rows = found.items.into_iter().map(UserRow::from).collect();
    let t = UsersPage {
        layout: s.layout("Users", "users"),
        columns,
        rows,
        total,
        page: page_no,
        pages,
        prev_href: (page_no > 1).then(|| list_href(&q, sort, dir, page_no - 1)),
        next_href: (page_no < pages).then(|| list_href(&q, sort, dir, page_no + 1)),
        change: Gate::officer(&s.admin),
        q: q.q,
        status: q.status,
        state: q.state,
        states: UserState::ALL.iter().map(|s| s.as_str()).collect(),
    };
    Ok(page(StatusCode::OK, &t))
}

/// A certificate row of a user's page.
pub(super) struct CertRow {
    pub serial: String,
    pub kind: String,
    pub not_before: String,
    pub not_after: String,
    pub state: String,
    pub revocable: bool,
}

impl From<&CertSummary> for CertRow {
    fn from(c: &CertSummary) -> Self {
        CertRow {
            serial: c.serial.clone(),
            kind: c.kind.clone(),
            not_before: when(c.not_before),
            not_after: when(c.not_after),
            state: match (&c.revoked, c.superseded) {
                (Some(r), _) => format!("revoked ({r})"),
                (None, true) => "superseded".into(),
                (None, false) => "current".into(),
            },
            revocable: c.revoked.is_none(),
        }
    }
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    layout: Layout,
    user: UserRow,
    certificates: Vec<CertRow>,
    escrowed_keys: usize,
    reasons: Vec<&'static str>,
    change: Gate,
}

/// The reasons an operator may give, by RFC 5280 name.
pub(super) fn reasons() -> Vec<&'static str> {
    RevocationReason::OPERATOR_REASONS
        .iter()
        .map(|r| r.name())
        .collect()
}

/// GET /console/users/{email}: the user, their certificates and what may be done.
pub(super) async fn show(s: Session, Path(email): Path<String>) -> Result<Response, ConsoleError> {
    let d = s.call(move |auth, admin| auth.user(admin, &email)).await?;
    let t = UserPage {
        layout: s.layout(format!("User {}", d.user.email), "users"),
        certificates: d.certificates.iter().map(CertRow::from).collect(),
        escrowed_keys: d.escrowed_keys,
        user: d.user.into(),
        reasons: reasons(),
        change: Gate::officer(&s.admin),
    };
    Ok(page(StatusCode::OK, &t))
}

#[derive(Template)]
#[template(path = "token.html")]
struct TokenPage {
    layout: Layout,
    email: String,
    token: String,
    expires: String,
    /// The complete `lockbox enroll` command for this user and server.
    command: String,
}

/// Quotes `s` for a POSIX shell when it holds anything but plainly safe characters.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@._+:/=,-".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The command a user runs to enroll: the token in `KMS_ENROLL_TOKEN`, this server's URL,
/// the CA certificate downloaded as `ca.crt`, the bundle written as `ADDRESS.p12`, its
/// password read from standard input (the flags `lockbox enroll` requires).
pub(super) fn enroll_command(server: &str, email: &str, token: &str) -> String {
    let file: String = email
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "KMS_ENROLL_TOKEN={} lockbox enroll --server {} --email {} --ca-cert ca.crt --out {} \
         --password-stdin",
        shell_word(token),
        shell_word(server),
        shell_word(email),
        shell_word(&format!("{file}.p12")),
    )
}

/// The one page that shows an enrollment token: the answer to the POST that made it (never
/// a redirect, never a URL).
fn token_page(s: &Session, email: &str, what: String, t: &EnrollmentToken) -> Response {
    let mut layout = s.layout(format!("Enrollment token for {email}"), "users");
    layout.flash = Some(Flash::ok(what));
    page(
        StatusCode::OK,
        &TokenPage {
            layout,
            email: email.to_string(),
            token: t.token.expose().to_string(),
            expires: when(t.expires_at),
            command: enroll_command(s.origin(), email, t.token.expose()),
        },
    )
}

#[derive(Deserialize)]
pub(super) struct AddForm {
    email: String,
    name: String,
    #[serde(default)]
    capabilities: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    surname: String,
    #[serde(default)]
    profile: String,
}

/// POST /console/users: adds a user; the answer shows their enrollment token once.
pub(super) async fn add(a: Action<AddForm>) -> Result<Response, ConsoleError> {
    let caps = if a.form.capabilities.trim().is_empty() {
        Vec::new()
    } else {
        pki::ContentAlgorithm::parse_list(a.form.capabilities.trim())
            .map_err(|e| ConsoleError::bad_form(format!("capabilities: {e}")))?
    };
    let (email, name) = (
        a.form.email.trim().to_string(),
        a.form.name.trim().to_string(),
    );
    let (given_name, surname, profile) = (
        a.form.given_name.trim().to_string(),
        a.form.surname.trim().to_string(),
        a.form.profile.trim().to_string(),
    );
    let (user, token) = a
        .session
        .call(move |auth, admin| {
            let opt = |s: &str| (!s.is_empty()).then_some(s.to_string());
            let (g, s, p) = (opt(&given_name), opt(&surname), opt(&profile));
            auth.add_user_with(
                admin,
                &authority::NewUser {
                    email: &email,
                    name: &name,
                    capabilities: &caps,
                    given_name: g.as_deref(),
                    surname: s.as_deref(),
                    pseudonym: None,
                    profile: p.as_deref(),
                },
            )
        })
        .await?;
    Ok(token_page(
        &a.session,
        &user.email,
        format!("User {} added.", user.email),
        &token,
    ))
}

#[derive(Deserialize)]
pub(super) struct NoFields {}

/// A form whose only field is the confirmation.
#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    #[serde(default)]
    confirm: Option<String>,
}

/// The unrevoked certificates of a user as the confirmation pages list them: the serials
/// the authority would revoke, with kind and expiry from the user's record.
fn cert_items(d: &authority::UserDetail, serials: &[String]) -> Vec<Item> {
    serials
        .iter()
        .map(|serial| {
            let detail = d
                .certificates
                .iter()
                .find(|c| &c.serial == serial)
                .map(|c| format!("{}, valid until {}", c.kind, when(c.not_after)))
                .unwrap_or_default();
            Item {
                href: format!("/console/certificates/{serial}"),
                name: serial.clone(),
                detail,
            }
        })
        .collect()
}

/// GET /console/users/{email}/disable: what disabling the user does.
pub(super) async fn disable_confirm(
    s: Session,
    Path(email): Path<String>,
) -> Result<Response, ConsoleError> {
    let mut gate = Gate::officer(&s.admin);
    let e = email.clone();
    let officer = gate.allowed;
    let (d, serials) = s
        .call(move |auth, admin| {
            let d = auth.user(admin, &e)?;
            let serials = if officer {
                auth.revocable_serials(admin, &e)?
            } else {
                Vec::new()
            };
            Ok((d, serials))
        })
        .await?;
    if gate.allowed && d.user.status == "disabled" {
        gate = Gate::refused(format!("{email} is disabled already"));
    }
    let items = cert_items(&d, &serials);
    let t = ConfirmPage {
        layout: s.layout(format!("Disable {email}?"), "users"),
        what: format!(
            "Disable {email}: they can no longer enroll or renew, and their pending enrollment \
             token stops working. Their {} unrevoked certificate(s) stay valid until they \
             expire or are revoked.",
            items.len()
        ),
        items_caption: format!("Certificates of {email} that stay valid"),
        items,
        skipped_caption: String::new(),
        skipped: Vec::new(),
        notes: vec!["To stop the certificates too, revoke them as well.".into()],
        action: format!("{}/disable", user_href(&email)),
        fields: Vec::new(),
        button: format!("Yes, disable {email}"),
        gate,
        back: user_href(&email),
    };
    Ok(page(StatusCode::OK, &t))
}

/// POST /console/users/{email}/disable (with `confirm=yes`; without, to the confirmation).
pub(super) async fn disable(
    Path(email): Path<String>,
    a: Action<ConfirmForm>,
) -> Result<Response, ConsoleError> {
    if !confirmed(a.form.confirm.as_deref()) {
        return Ok(ask_first(&format!("{}/disable", user_href(&email)), &[]));
    }
    let e = email.clone();
    let u = a
        .session
        .call(move |auth, admin| auth.disable_user(admin, &e))
        .await?;
    Ok(a.session.done(
        Flash::ok(format!(
            "User {} disabled: no new enrollment or renewal.",
            u.email
        )),
        &user_href(&email),
    ))
}

/// POST /console/users/{email}/token: a new enrollment token, shown once.
pub(super) async fn new_token(
    Path(email): Path<String>,
    a: Action<NoFields>,
) -> Result<Response, ConsoleError> {
    let e = email.clone();
    let t = a
        .session
        .call(move |auth, admin| auth.new_token(admin, &e))
        .await?;
    Ok(token_page(
        &a.session,
        &email,
        format!("New enrollment token for {email}; earlier ones no longer work."),
        &t,
    ))
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    reason: String,
    #[serde(default)]
    confirm: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct RevokeQuery {
    #[serde(default)]
    reason: String,
}

/// GET /console/users/{email}/revoke?reason=R: exactly which certificates would be revoked.
pub(super) async fn revoke_confirm(
    s: Session,
    Path(email): Path<String>,
    Query(q): Query<RevokeQuery>,
) -> Result<Response, ConsoleError> {
    let reason = parse_reason(if q.reason.is_empty() {
        "unspecified"
    } else {
        &q.reason
    })?;
    let mut gate = Gate::officer(&s.admin);
    let officer = gate.allowed;
    let e = email.clone();
    let (d, serials) = s
        .call(move |auth, admin| {
            let d = auth.user(admin, &e)?;
            let serials = if officer {
                auth.revocable_serials(admin, &e)?
            } else {
                Vec::new()
            };
            Ok((d, serials))
        })
        .await?;
    if gate.allowed && serials.is_empty() {
        gate = Gate::refused(format!(
            "{email} has no unrevoked certificate: nothing to revoke"
        ));
    }
    let n = serials.len();
    let t = ConfirmPage {
        layout: s.layout(format!("Revoke the certificates of {email}?"), "users"),
        what: format!(
            "Revoke {n} certificate(s) of {email} with the reason {}. This cannot be undone.",
            reason.name()
        ),
        items_caption: format!("The {n} certificate(s) that will be revoked"),
        items: cert_items(&d, &serials),
        skipped_caption: String::new(),
        skipped: Vec::new(),
        notes: vec![
            "The next CRL lists them, and the OCSP responder answers \"revoked\" for them: \
             mail signed with them no longer verifies as current."
                .into(),
        ],
        action: format!("{}/revoke", user_href(&email)),
        fields: vec![("reason".into(), reason.name().into())],
        button: format!("Yes, revoke {n} certificate(s)"),
        gate,
        back: user_href(&email),
    };
    Ok(page(StatusCode::OK, &t))
}

/// Parses an operator's revocation reason.
pub(super) fn parse_reason(r: &str) -> Result<RevocationReason, ConsoleError> {
    let reason: RevocationReason = r
        .parse()
        .map_err(|e| ConsoleError::bad_form(format!("reason: {e}")))?;
    if !RevocationReason::OPERATOR_REASONS.contains(&reason) {
        return Err(ConsoleError::bad_form(format!(
            "reason: {} is not for operators",
            reason.name()
        )));
    }
    Ok(reason)
}

/// POST /console/users/{email}/revoke: revokes every current certificate of the user.
pub(super) async fn revoke(
    Path(email): Path<String>,
    a: Action<RevokeForm>,
) -> Result<Response, ConsoleError> {
    if !confirmed(a.form.confirm.as_deref()) {
        return Ok(ask_first(
            &format!("{}/revoke", user_href(&email)),
            &[("reason", &a.form.reason)],
        ));
    }
    let reason = parse_reason(&a.form.reason)?;
    let target = RevokeTarget::User(email.clone());
    let outcome = a
        .session
        .call(move |auth, admin| auth.revoke(admin, &target, reason))
        .await?;
    Ok(a.session.done(
        Flash::ok(format!(
            "Revoked {} certificate(s) of {email} ({}): {}. {}",
            outcome.revoked.len(),
            reason.name(),
            outcome.revoked.join(", "),
            super::certificates::crl_note(&outcome)
        )),
        &user_href(&email),
    ))
}

#[derive(Deserialize)]
pub(super) struct RenewForm {
    #[serde(default)]
    new_key: Option<String>,
}

/// POST /console/users/{email}/renew: new certificates for the same keys, or (with
/// `new_key`) a new encryption key and a token to enroll a new signing key.
pub(super) async fn renew(
    Path(email): Path<String>,
    a: Action<RenewForm>,
) -> Result<Response, ConsoleError> {
    let new_key = a.form.new_key.is_some();
    let e = email.clone();
    let r = a
        .session
        .call(move |auth, admin| auth.renew(admin, &e, new_key))
        .await?;
    let serials: Vec<&str> = r.certificates.iter().map(|c| c.serial.as_str()).collect();
    let what = format!(
        "Renewed {email}{}: new certificate(s) {}.",
        if new_key { " with a new key" } else { "" },
        serials.join(", ")
    );
    match &r.enrollment_token {
        Some(t) => Ok(token_page(&a.session, &email, what, t)),
        None => Ok(a.session.done(Flash::ok(what), &user_href(&email))),
    }
}

/// The selection of a bulk renewal: every user (`all`), or the checked ones (`email`,
/// repeated). None when nothing was chosen.
fn selection(pairs: &[(String, String)]) -> Option<Option<Vec<String>>> {
    let all = pairs.iter().any(|(k, _)| k == "all");
    let chosen = form_values(pairs, "email");
    match (all, chosen.is_empty()) {
        (true, _) => Some(None),
        (false, false) => Some(Some(chosen)),
        (false, true) => None,
    }
}

fn nothing_chosen(s: &Session) -> Response {
    s.done(
        Flash::error("Nothing renewed: tick at least one user, or choose Renew all."),
        "/console/users",
    )
}

/// GET /console/users/renew-all?all=1 or ?email=A&email=B: who would be renewed and who
/// would be left out (and why), as the authority plans it; the form confirms.
pub(super) async fn renew_confirm(
    s: Session,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let Some(only) = selection(&pairs) else {
        return Ok(nothing_chosen(&s));
    };
    let o = only.clone();
    let plan = s
        .call(move |auth, admin| auth.renewal_plan(admin, o.as_deref()))
        .await?;
    let n = plan.renew.len();
    let gate = if n == 0 {
        Gate::refused("none of these users can be renewed (see why below)")
    } else {
        Gate::officer(&s.admin)
    };
    let fields = match &only {
        None => vec![("all".to_string(), "1".to_string())],
        Some(emails) => emails.iter().map(|e| ("email".into(), e.clone())).collect(),
    };
    let t = ConfirmPage {
        layout: s.layout(
            if only.is_none() {
                "Renew every renewable user?"
            } else {
                "Renew the selected users?"
            },
            "users",
        ),
        what: format!(
            "Renew {n} user(s): each gets new signing and encryption certificates for the same \
             keys; their current certificates are superseded (not revoked). {} user(s) are \
             left out.",
            plan.skipped.len()
        ),
        items_caption: format!("The {n} user(s) that will be renewed"),
        items: plan
            .renew
            .iter()
            .map(|e| Item {
                href: user_href(e),
                name: e.clone(),
                detail: "enrolled, with current certificates".into(),
            })
            .collect(),
        skipped_caption: format!("The {} user(s) left out, and why", plan.skipped.len()),
        skipped: plan
            .skipped
            .iter()
            .map(|k| Item {
                href: if k.reason == authority::SKIP_UNKNOWN {
                    String::new()
                } else {
                    user_href(&k.email)
                },
                name: k.email.clone(),
                detail: k.reason.to_string(),
            })
            .collect(),
        notes: Vec::new(),
        action: "/console/users/renew-all".into(),
        fields,
        button: format!("Yes, renew {n} user(s)"),
        gate,
        back: "/console/users".into(),
    };
    Ok(page(StatusCode::OK, &t))
}

#[derive(Template)]
#[template(path = "renew_summary.html")]
struct RenewSummary {
    layout: Layout,
    renewed: Vec<Item>,
    skipped: Vec<Item>,
    failed: Vec<Item>,
}

/// POST /console/users/renew-all (with `confirm=yes`; without, to the confirmation page):
/// renews the users that can be renewed among the checked ones (`email`, repeated), or
/// among every user with `all`, and answers with a summary: renewed, skipped with why,
/// failed with the error.
pub(super) async fn renew_all(a: Action<Vec<(String, String)>>) -> Result<Response, ConsoleError> {
    let Some(only) = selection(&a.form) else {
        return Ok(nothing_chosen(&a.session));
    };
    if !confirmed(
        form_values(&a.form, super::confirm::CONFIRM_FIELD)
            .first()
            .map(String::as_str),
    ) {
        let query: Vec<(&str, &str)> = match &only {
            None => vec![("all", "1")],
            Some(emails) => emails.iter().map(|e| ("email", e.as_str())).collect(),
        };
        return Ok(ask_first("/console/users/renew-all", &query));
    }
    let authority::BatchRenewal {
        renewed: done,
        failed,
        skipped,
    } = a
        .session
        .call(move |auth, admin| match only {
            None => auth.renew_all(admin),
            Some(chosen) => auth.renew_renewable(admin, &chosen),
        })
        .await?;
    let mut text = format!("Renewed {} user(s).", done.len());
    if !skipped.is_empty() {
        text.push_str(&format!(" Skipped {} (see why below).", skipped.len()));
    }
    if !failed.is_empty() {
        text.push_str(&format!(" {} failed.", failed.len()));
    }
    let mut layout = a.session.layout("Bulk renewal: summary", "users");
    layout.flash = Some(if failed.is_empty() {
        Flash::ok(text)
    } else {
        Flash::error(text)
    });
    let t = RenewSummary {
        layout,
        renewed: done
            .iter()
            .map(|r| Item {
                href: user_href(&r.email),
                name: r.email.clone(),
                detail: r
                    .certificates
                    .iter()
                    .map(|c| c.serial.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        skipped: skipped
            .iter()
            .map(|k| Item {
                href: user_href(&k.email),
                name: k.email.clone(),
                detail: k.reason.to_string(),
            })
            .collect(),
        failed: failed
            .iter()
            .map(|(email, e)| Item {
                href: user_href(email),
                name: email.clone(),
                detail: format!("{e} [{}]", e.code()),
            })
            .collect(),
    };
    Ok(page(StatusCode::OK, &t))
}

/// The user page's URL.
pub(super) fn user_href(email: &str) -> String {
    format!("/console/users/{}", path_segment(email))
}

/// Percent-encodes a path segment (e-mail addresses may hold `/`, `?`, `#`, `%`).
pub(super) fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"@.-_+~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enroll_command_has_every_flag_lockbox_requires_and_is_quoted() {
        let c = enroll_command("https://kms.example:8443", "carol@example.com", "ab12");
        assert_eq!(
            c,
            "KMS_ENROLL_TOKEN=ab12 lockbox enroll --server https://kms.example:8443 \
             --email carol@example.com --ca-cert ca.crt --out carol@example.com.p12 \
             --password-stdin"
        );
        let c = enroll_command("https://h", "o'brien@example.com", "t");
        assert!(c.contains("--email 'o'\\''brien@example.com'"), "{c}");
        assert!(c.contains("--out o_brien@example.com.p12"), "{c}");
    }

    #[test]
    fn a_bulk_selection_is_all_or_the_checked_users() {
        let p = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(selection(&p(&[("all", "1"), ("email", "a")])), Some(None));
        assert_eq!(
            selection(&p(&[("email", "a"), ("csrf", "x"), ("email", "b")])),
            Some(Some(vec!["a".into(), "b".into()]))
        );
        assert_eq!(selection(&p(&[("csrf", "x")])), None);
    }
}
