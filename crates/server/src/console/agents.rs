//! Key recovery agents (issue 21): the agents (name, public key, shares held, added when and
//! by whom), the threshold M of N and how many escrowed keys are split or still under the
//! master key only; the governed changes a browser can make under the `agent-change` quorum
//! (add an agent by its public key, remove one after a confirmation page, set the threshold,
//! start a re-share after a confirmation page); and the agent requests waiting for shares,
//! with the `kmsctl approve ID --agent-key` line each agent runs on their own machine. Nothing
//! here ever takes an agent's private key.

use askama::Template;
use authority::{AgentRequest, ApprovalRequest};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::confirm::{ConfirmPage, ask_first, confirmed};
use super::recovery::{RequestRow, quorum_of};
use super::users::path_segment;
use super::{Action, ConsoleError, Flash, Gate, Layout, Session, page, when};

/// The page of the agents, where every agent action comes back to.
const BACK: &str = "/console/agents";

/// The command an agent runs, on their own machine, to release their shares to request `id`.
pub(super) fn approve_command(id: i64) -> String {
    format!("kmsctl approve {id} --agent-key agent.key --password-stdin")
}

/// An agent as the page lists it.
pub(super) struct AgentRow {
    pub name: String,
    /// The name as a URL path segment.
    pub href: String,
    /// The X25519 public key, lower-case hex (`pki::certificate::hex_bytes`).
    pub public_key: String,
    pub shares: i64,
    pub added: String,
    pub added_by: String,
}

/// An agent request waiting for shares, with the command line each agent runs.
pub(super) struct AgentRequestRow {
    pub id: i64,
    /// `recover` or `reshare`.
    pub kind: String,
    pub opener: String,
    pub target: String,
    pub have: usize,
    pub needed: i64,
    /// The agents who released their shares, comma-separated.
    pub released_by: String,
    pub expires: String,
    /// `waiting`, `enough` (the opener carries it out now) or `void` (the server restarted
    /// since it was opened: its one-time key is gone).
    pub state: &'static str,
    /// What happens next, one sentence.
    pub next: String,
    /// `kmsctl approve ID --agent-key agent.key --password-stdin`.
    pub command: String,
    /// Enough agents answered and the signed-in administrator opened it: they download the
    /// bundle by submitting the recovery again.
    pub ready: bool,
}

/// Where an agent request stands and what happens next: `void` after a restart, `enough`
/// once at least `needed` agents answered (never for a request that needs none), else
/// `waiting`.
fn request_state(r: &AgentRequest) -> (&'static str, String) {
    let carry_out = if r.kind == "reshare" {
        "starts the re-share again"
    } else {
        "submits the recovery again"
    };
    if r.status == "void" {
        (
            "void",
            "void: the server restarted since it was opened; open it again".into(),
        )
    } else if r.needed > 0 && r.released_by.len() as i64 >= r.needed {
        ("enough", format!("enough shares: {} {carry_out}", r.opener))
    } else {
        ("waiting", "waiting".into())
    }
}

impl AgentRequestRow {
    pub(super) fn new(r: AgentRequest, s: &Session) -> Self {
        let have = r.released_by.len();
        let (state, next) = request_state(&r);
        AgentRequestRow {
            ready: r.kind == "recover" && state == "enough" && r.opener == s.admin.name,
            state,
            next,
            command: approve_command(r.id),
            id: r.id,
            released_by: r.released_by.join(", "),
            have,
            needed: r.needed,
            expires: when(r.expires_at),
            kind: r.kind,
            opener: r.opener,
            target: r.target,
        }
    }
}

#[derive(Template)]
#[template(path = "agents.html")]
struct AgentsPage {
    layout: Layout,
    threshold: Option<i64>,
    agents: Vec<AgentRow>,
    split_keys: i64,
    master_only_keys: i64,
    requests: Vec<AgentRequestRow>,
    /// `agent-change` requests waiting for other administrators' approvals.
    approvals: Vec<RequestRow>,
    /// Changing the agents: administrator role, under the `agent-change` quorum.
    change: Gate,
    /// Removing an agent: `change`, and not below the threshold.
    remove: Gate,
    /// Starting a re-share: `change`, with a threshold and enough agents.
    reshare: Gate,
}

/// Whether removing one agent leaves at least the threshold (the server refuses otherwise).
fn remove_gate(change: &Gate, threshold: Option<i64>, agents: usize) -> Gate {
    if !change.allowed {
        return change.clone();
    }
    match threshold {
        Some(m) if (agents as i64 - 1) < m => Gate::refused(format!(
            "{} agent(s) would remain, fewer than the threshold {m}: add the replacement first",
            agents.saturating_sub(1)
        )),
        _ => change.clone(),
    }
}

/// Whether a re-share can run (a threshold is set and at least that many agents exist).
fn reshare_gate(change: &Gate, threshold: Option<i64>, agents: usize) -> Gate {
    if !change.allowed {
        return change.clone();
    }
    match threshold {
        None => Gate::refused("set a threshold first"),
        Some(m) if (agents as i64) < m => {
            Gate::refused(format!("{agents} agent(s), fewer than the threshold {m}"))
        }
        Some(_) => change.clone(),
    }
}

/// The `agent-change` gate of the signed-in administrator.
fn change_gate(s: &Session, policies: &[authority::Policy]) -> Gate {
    Gate::administrator(&s.admin).quorum("agent-change", quorum_of(policies, "agent-change"))
}

/// The pending `agent-change` approval requests.
fn agent_change_requests(requests: Vec<ApprovalRequest>, s: &Session) -> Vec<RequestRow> {
    requests
        .into_iter()
        .filter(|r| r.status == "pending" && r.operation == "agent-change")
        .map(|r| RequestRow::new(r, s))
        .collect()
}

/// GET /console/agents.
pub(super) async fn show(s: Session) -> Result<Response, ConsoleError> {
    let (set, requests, approvals, policies) = s
        .call(|auth, admin| {
            Ok((
                auth.agents(admin)?,
                auth.agent_requests(admin)?,
                auth.approvals(admin)?,
                auth.policies(admin)?,
            ))
        })
        .await?;
    let change = change_gate(&s, &policies);
    let n = set.agents.len();
    let t = AgentsPage {
        layout: s.layout("Key recovery agents", "agents"),
        remove: remove_gate(&change, set.threshold, n),
        reshare: reshare_gate(&change, set.threshold, n),
        threshold: set.threshold,
        agents: set
            .agents
            .into_iter()
            .map(|a| AgentRow {
                href: path_segment(&a.name),
                added: when(a.added_at),
                name: a.name,
                public_key: a.public_key,
                shares: a.shares,
                added_by: a.added_by,
            })
            .collect(),
        split_keys: set.split_keys,
        master_only_keys: set.master_only_keys,
        requests: requests
            .into_iter()
            .map(|r| AgentRequestRow::new(r, &s))
            .collect(),
        approvals: agent_change_requests(approvals, &s),
        change,
    };
    Ok(page(StatusCode::OK, &t))
}

/// The flash after a governed agent change: done, waiting for approvals (approved on the
/// recovery and approvals page), or refused. A role refusal is the error page naming the
/// role (as on the other pages), not a flash.
fn outcome<T>(
    r: authority::Result<T>,
    done: impl FnOnce(T) -> String,
) -> Result<Flash, ConsoleError> {
    Ok(match r {
        Ok(v) => Flash::ok(done(v)),
        Err(e @ authority::Error::Forbidden { .. }) => return Err(e.into()),
        Err(authority::Error::ApprovalPending {
            request_id,
            approved_by,
            needed,
            ..
        }) => Flash::info(format!(
            "Waiting for approvals: request {request_id} has {} of {needed} ({}). Another \
             administrator approves it under Recovery and approvals (or kmsctl approve \
             {request_id}); then submit this change again.",
            approved_by.len(),
            approved_by.join(", ")
        )),
        Err(e) => Flash::error(format!("Refused: {e} [{}]", e.code())),
    })
}

#[derive(Deserialize)]
pub(super) struct AddForm {
    name: String,
    public_key: String,
}

/// POST /console/agents: designates an agent by the public key `kmsctl agent keygen` printed.
pub(super) async fn add(a: Action<AddForm>) -> Result<Response, ConsoleError> {
    let Action { session, form } = a;
    let name = form.name.trim().to_string();
    // Pasted keys often carry spaces or line breaks; the key itself is 64 hex digits.
    let public_key: String = form
        .public_key
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let r = session
        .call(move |auth, admin| Ok(auth.add_agent(admin, &name, &public_key)))
        .await?;
    let flash = outcome(r, |a| {
        format!(
            "Agent {} added (key {}). Keys escrowed from now on include a share for them; \
             keys split before do not.",
            a.name, a.public_key
        )
    })?;
    Ok(session.done(flash, BACK))
}

#[derive(Deserialize)]
pub(super) struct ThresholdForm {
    threshold: String,
}

/// POST /console/agents/threshold: sets M (at least 2, at most the agents).
pub(super) async fn set_threshold(a: Action<ThresholdForm>) -> Result<Response, ConsoleError> {
    let m: i64 = a
        .form
        .threshold
        .trim()
        .parse()
        .map_err(|_| ConsoleError::bad_form("threshold: give a whole number"))?;
    let r = a
        .session
        .call(move |auth, admin| Ok(auth.set_agent_threshold(admin, m)))
        .await?;
    let flash = outcome(r, |()| {
        format!("Threshold set: {m} agents rebuild a key split from now on.")
    })?;
    Ok(a.session.done(flash, BACK))
}

#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    #[serde(default)]
    confirm: Option<String>,
}

fn confirm_page(
    s: &Session,
    title: String,
    what: String,
    notes: Vec<String>,
    action: String,
    button: String,
    gate: Gate,
) -> Response {
    let t = ConfirmPage {
        layout: s.layout(title, "agents"),
        what,
        items_caption: String::new(),
        items: Vec::new(),
        skipped_caption: String::new(),
        skipped: Vec::new(),
        notes,
        action,
        fields: Vec::new(),
        button,
        gate,
        back: BACK.into(),
    };
    page(StatusCode::OK, &t)
}

/// GET /console/agents/{name}/remove: what removing the agent does, or why it cannot be.
pub(super) async fn remove_confirm(
    s: Session,
    Path(name): Path<String>,
) -> Result<Response, ConsoleError> {
    let (set, policies) = s
        .call(|auth, admin| Ok((auth.agents(admin)?, auth.policies(admin)?)))
        .await?;
    let agent =
        set.agents.iter().find(|a| a.name == name).ok_or_else(|| {
            ConsoleError::from(authority::Error::UnknownAgent { what: name.clone() })
        })?;
    let gate = remove_gate(&change_gate(&s, &policies), set.threshold, set.agents.len());
    let left = set.agents.len().saturating_sub(1);
    let mut notes = vec![format!(
        "{left} agent(s) remain{}.",
        match set.threshold {
            Some(m) => format!("; the threshold stays {m}"),
            None => String::new(),
        }
    )];
    notes.push(
        "Their key opens nothing new: shares made from now on leave them out. Split keys keep \
         the other agents' shares; a re-share makes new ones."
            .into(),
    );
    Ok(confirm_page(
        &s,
        format!("Remove agent {name}?"),
        format!(
            "Remove key recovery agent {name} (key {}): the {} share(s) the server keeps for \
             them are deleted, and nothing can be fetched for them any more.",
            agent.public_key, agent.shares
        ),
        notes,
        format!("/console/agents/{}/remove", path_segment(&name)),
        format!("Yes, remove agent {name}"),
        gate,
    ))
}

/// POST /console/agents/{name}/remove (under the agent-change quorum; with `confirm=yes`,
/// without it back to the confirmation page).
pub(super) async fn remove(
    Path(name): Path<String>,
    a: Action<ConfirmForm>,
) -> Result<Response, ConsoleError> {
    if !confirmed(a.form.confirm.as_deref()) {
        return Ok(ask_first(
            &format!("/console/agents/{}/remove", path_segment(&name)),
            &[],
        ));
    }
    let n = name.clone();
    let r = a
        .session
        .call(move |auth, admin| Ok(auth.remove_agent(admin, &n)))
        .await?;
    let flash = outcome(r, |()| {
        format!("Agent {name} removed; the shares kept for them are deleted.")
    })?;
    Ok(a.session.done(flash, BACK))
}

/// GET /console/agents/reshare: what the re-share ceremony does, or why it cannot run.
pub(super) async fn reshare_confirm(s: Session) -> Result<Response, ConsoleError> {
    let (set, policies) = s
        .call(|auth, admin| Ok((auth.agents(admin)?, auth.policies(admin)?)))
        .await?;
    let gate = reshare_gate(&change_gate(&s, &policies), set.threshold, set.agents.len());
    let what = match set.threshold {
        Some(m) => format!(
            "Split every collected encryption key still under the master key only ({} now, \
             with any waiting for their owner) among the {} agents, {m} of them needed to \
             rebuild one; its master-key-only copy is replaced.",
            set.master_only_keys,
            set.agents.len()
        ),
        None => "No threshold is set: there is nothing to split keys with yet.".into(),
    };
    Ok(confirm_page(
        &s,
        "Start a re-share?".into(),
        what,
        vec![
            "Afterwards, recovering these keys needs the agents' shares: the server alone can \
             no longer open them."
                .into(),
            "Keys whose owner has not collected them yet stay under the master key and are \
             split when collected."
                .into(),
        ],
        "/console/agents/reshare".into(),
        "Yes, split the keys among the agents".into(),
        gate,
    ))
}

/// POST /console/agents/reshare (under the agent-change quorum; with `confirm=yes`).
pub(super) async fn reshare(a: Action<ConfirmForm>) -> Result<Response, ConsoleError> {
    if !confirmed(a.form.confirm.as_deref()) {
        return Ok(ask_first("/console/agents/reshare", &[]));
    }
    let r = a
        .session
        .call(move |auth, admin| Ok(auth.reshare(admin)))
        .await?;
    let flash = outcome(r, |r| {
        format!(
            "Re-share done: {} key(s) split among the agents; {} wait for their owner (split \
             when collected).",
            r.split, r.waiting_for_owner
        )
    })?;
    Ok(a.session.done(flash, BACK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_never_goes_below_the_threshold() {
        let open = Gate::open();
        assert!(remove_gate(&open, Some(2), 3).allowed);
        let g = remove_gate(&open, Some(2), 2);
        assert!(!g.allowed);
        assert!(g.why.contains("fewer than the threshold 2"), "{}", g.why);
        assert!(remove_gate(&open, None, 1).allowed);
        let no = Gate::refused("needs the administrator role");
        assert_eq!(remove_gate(&no, Some(2), 5).why, no.why);
    }

    #[test]
    fn reshare_needs_a_threshold_and_enough_agents() {
        let open = Gate::open();
        assert_eq!(reshare_gate(&open, None, 3).why, "set a threshold first");
        assert!(!reshare_gate(&open, Some(3), 2).allowed);
        assert!(reshare_gate(&open, Some(2), 2).allowed);
    }

    fn request(kind: &str, status: &str, released: &[&str], needed: i64) -> AgentRequest {
        AgentRequest {
            id: 7,
            kind: kind.into(),
            opener: "ada".into(),
            target: "carol@example.com".into(),
            public_key: "00".repeat(32),
            released_by: released.iter().map(|s| s.to_string()).collect(),
            needed,
            opened_at: 0,
            expires_at: 3600,
            status: status.into(),
            keys: 1,
        }
    }

    #[test]
    fn a_request_is_enough_only_with_its_threshold_met_and_void_wins() {
        assert_eq!(
            request_state(&request("recover", "open", &["a"], 2)).0,
            "waiting"
        );
        let (state, next) = request_state(&request("recover", "open", &["a", "b"], 2));
        assert_eq!(state, "enough");
        assert_eq!(next, "enough shares: ada submits the recovery again");
        let (_, next) = request_state(&request("reshare", "open", &["a", "b"], 2));
        assert_eq!(next, "enough shares: ada starts the re-share again");
        assert_eq!(
            request_state(&request("reshare", "open", &[], 0)).0,
            "waiting"
        );
        assert_eq!(
            request_state(&request("recover", "void", &["a", "b"], 2)).0,
            "void"
        );
    }

    #[test]
    fn the_command_names_the_request_and_reads_the_password_from_stdin() {
        assert_eq!(
            approve_command(42),
            "kmsctl approve 42 --agent-key agent.key --password-stdin"
        );
    }
}
