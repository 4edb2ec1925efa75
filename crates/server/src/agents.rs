//! HTTP routes of the key recovery agents (issue 21): the agent set under the `agent-change`
//! quorum, agent requests, and the agent side's fetch and release of sealed shares.

use axum::Json;
use axum::extract::Path;
use base64ct::{Base64, Encoding};

use crate::{AdminAuth, ApiError, ApiJson, blocking, request_id, wire};

fn agent(a: authority::AgentInfo) -> api::Agent {
    api::Agent {
        id: a.id,
        name: a.name,
        public_key: a.public_key,
        added_at_rfc3339: wire::rfc3339(a.added_at),
        added_at: a.added_at,
        added_by: a.added_by,
        shares: a.shares,
    }
}

fn agent_request(r: authority::AgentRequest) -> api::AgentRequestInfo {
    api::AgentRequestInfo {
        id: r.id,
        kind: r.kind,
        opener: r.opener,
        target: r.target,
        public_key: r.public_key,
        released_by: r.released_by,
        needed: r.needed,
        opened_at: r.opened_at,
        expires_at: r.expires_at,
        status: r.status,
        keys: r.keys,
    }
}

#[utoipa::path(
    get,
    path = "/agents",
    tag = "governance",
    summary = "Key recovery agents, their threshold and how many keys are split among them (any role)",
    responses((status = 200, description = "success", body = api::AgentList)),
    security(("session" = [])),
)]
pub(crate) async fn list_agents(a: AdminAuth) -> Result<Json<api::AgentList>, ApiError> {
    let s = blocking(move || Ok(a.auth.agents(&a.admin)?)).await?;
    Ok(Json(api::AgentList {
        threshold: s.threshold,
        agents: s.agents.into_iter().map(agent).collect(),
        split_keys: s.split_keys,
        master_only_keys: s.master_only_keys,
        needs_reshare: s.needs_reshare,
    }))
}

#[utoipa::path(
    post,
    path = "/agents",
    tag = "governance",
    summary = "Designate a key recovery agent by their X25519 public key (administrator role, under the agent-change quorum)",
    request_body = api::AddAgentRequest,
    responses(
        (status = 200, description = "success", body = api::AgentResponse),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 409, description = "refused (AUTH-132): name or key already an agent", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
pub(crate) async fn add_agent(
    a: AdminAuth,
    ApiJson(req): ApiJson<api::AddAgentRequest>,
) -> Result<Json<api::AgentResponse>, ApiError> {
    let r = blocking(move || Ok(a.auth.add_agent(&a.admin, &req.name, &req.public_key)?)).await?;
    Ok(Json(api::AgentResponse { agent: agent(r) }))
}

#[utoipa::path(
    post,
    path = "/agents/{name}/remove",
    tag = "governance",
    summary = "Remove a key recovery agent; their stored shares are deleted (administrator role, under the agent-change quorum)",
    params(("name" = String, Path, description = "the agent's name")),
    responses(
        (status = 200, description = "success", body = api::AgentList),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 404, description = "no such agent (AUTH-131)", body = api::ErrorBody),
        (status = 409, description = "refused: fewer agents than the threshold would remain (AUTH-132), or some split key would keep fewer share holders than its threshold (AUTH-133: re-share first)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
pub(crate) async fn remove_agent(
    a: AdminAuth,
    Path(name): Path<String>,
) -> Result<Json<api::AgentList>, ApiError> {
    let s = blocking(move || {
        a.auth.remove_agent(&a.admin, &name)?;
        Ok(a.auth.agents(&a.admin)?)
    })
    .await?;
    Ok(Json(api::AgentList {
        threshold: s.threshold,
        agents: s.agents.into_iter().map(agent).collect(),
        split_keys: s.split_keys,
        master_only_keys: s.master_only_keys,
        needs_reshare: s.needs_reshare,
    }))
}

#[utoipa::path(
    post,
    path = "/agents/threshold",
    tag = "governance",
    summary = "Set M, the agents needed to rebuild a key (administrator role, under the agent-change quorum)",
    request_body = api::AgentThresholdRequest,
    responses(
        (status = 200, description = "success", body = api::AgentList),
        (status = 202, description = "waiting for approvals (AUTH-023): run the same request again once approved", body = api::Pending),
        (status = 400, description = "below 2 (AUTH-009)", body = api::ErrorBody),
        (status = 409, description = "more than the agents (AUTH-132)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
pub(crate) async fn set_threshold(
    a: AdminAuth,
    ApiJson(req): ApiJson<api::AgentThresholdRequest>,
) -> Result<Json<api::AgentList>, ApiError> {
    let s = blocking(move || {
        a.auth.set_agent_threshold(&a.admin, req.threshold)?;
        Ok(a.auth.agents(&a.admin)?)
    })
    .await?;
    Ok(Json(api::AgentList {
        threshold: s.threshold,
        agents: s.agents.into_iter().map(agent).collect(),
        split_keys: s.split_keys,
        master_only_keys: s.master_only_keys,
        needs_reshare: s.needs_reshare,
    }))
}

#[utoipa::path(
    post,
    path = "/agents/reshare",
    tag = "governance",
    summary = "Re-make the shares of split keys made for another agent set or threshold, and split every collected key still under the master key only (administrator role, under the agent-change quorum, then M agents of the old set)",
    responses(
        (status = 200, description = "success", body = api::ReshareAnswer),
        (status = 202, description = "waiting for approvals (AUTH-023), or for M agents' shares (AUTH-130: each runs kmsctl approve ID --agent-key FILE): run the same request again then", body = api::Pending),
        (status = 409, description = "no threshold, or too few agents (AUTH-132); the agents changed since the re-share request was opened (AUTH-134)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
pub(crate) async fn reshare(a: AdminAuth) -> Result<Json<api::ReshareAnswer>, ApiError> {
    let r = blocking(move || Ok(a.auth.reshare(&a.admin)?)).await?;
    Ok(Json(api::ReshareAnswer {
        split: r.split,
        waiting_for_owner: r.waiting_for_owner,
        remade: r.remade,
    }))
}

#[utoipa::path(
    get,
    path = "/agent-requests",
    tag = "governance",
    summary = "Recoveries and re-shares waiting for key recovery agents' shares, with who answered and how many are needed (any role)",
    responses((status = 200, description = "success", body = api::AgentRequestList)),
    security(("session" = [])),
)]
pub(crate) async fn list_agent_requests(
    a: AdminAuth,
) -> Result<Json<api::AgentRequestList>, ApiError> {
    let r = blocking(move || Ok(a.auth.agent_requests(&a.admin)?)).await?;
    Ok(Json(api::AgentRequestList {
        requests: r.into_iter().map(agent_request).collect(),
    }))
}

/// The agent's public key in the body (`{"agent": HEX, "shares": []}`; shares ignored).
#[utoipa::path(
    post,
    path = "/agent-requests/{id}/fetch",
    tag = "governance",
    summary = "An agent's shares of exactly the request's keys, sealed to the agent (administrator role)",
    params(("id" = i64, Path, description = "the agent request id")),
    request_body = api::ReleaseSharesRequest,
    responses(
        (status = 200, description = "success", body = api::AgentSharesAnswer),
        (status = 404, description = "no such request (AUTH-025) or agent (AUTH-131)", body = api::ErrorBody),
        (status = 409, description = "the request is void or expired (AUTH-132)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
pub(crate) async fn fetch_shares(
    a: AdminAuth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<api::ReleaseSharesRequest>,
) -> Result<Json<api::AgentSharesAnswer>, ApiError> {
    let id = request_id(&id)?;
    let r = blocking(move || Ok(a.auth.agent_shares(&a.admin, id, &req.agent)?)).await?;
    Ok(Json(api::AgentSharesAnswer {
        request_id: r.request_id,
        request_public_key: r.request_public_key,
        agent_id: r.agent_id,
        shares: r
            .shares
            .into_iter()
            .map(|(key_id, s)| api::SealedShare {
                key_id,
                sealed: Base64::encode_string(&s),
            })
            .collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/agent-requests/{id}/shares",
    tag = "governance",
    summary = "Release an agent's shares re-sealed to the request's one-time key (administrator role; audited, never the share)",
    params(("id" = i64, Path, description = "the agent request id")),
    request_body = api::ReleaseSharesRequest,
    responses(
        (status = 200, description = "success", body = api::AgentRequestResponse),
        (status = 400, description = "malformed request (KMS-400, AUTH-009)", body = api::ErrorBody),
        (status = 404, description = "no such request (AUTH-025) or agent (AUTH-131)", body = api::ErrorBody),
        (status = 409, description = "a share does not open for this request, key and agent, the agent holds no share of the request's keys, or the request is void (AUTH-132)", body = api::ErrorBody),
    ),
    security(("session" = [])),
)]
pub(crate) async fn release_shares(
    a: AdminAuth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<api::ReleaseSharesRequest>,
) -> Result<Json<api::AgentRequestResponse>, ApiError> {
    let id = request_id(&id)?;
    let mut shares = Vec::with_capacity(req.shares.len());
    for s in &req.shares {
        let bytes = Base64::decode_vec(&s.sealed)
            .map_err(|_| ApiError::bad_request(format!("share of key {}: not base64", s.key_id)))?;
        shares.push((s.key_id, bytes));
    }
    let r = blocking(move || Ok(a.auth.release_shares(&a.admin, id, &req.agent, &shares)?)).await?;
    Ok(Json(api::AgentRequestResponse {
        request: agent_request(r),
    }))
}
