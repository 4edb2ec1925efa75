//! Key recovery agents (issue 21): the agent set, agent requests, and the shares an agent
//! fetches (sealed to the agent) and releases (re-sealed to a request's one-time key). No
//! share ever travels in the clear: both directions are HPKE ciphertexts, base64.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One key recovery agent.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Agent {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// X25519 public key, 64 lower-case hex digits.
    pub public_key: String,
    /// When added (Unix seconds).
    pub added_at: i64,
    /// When added (RFC 3339).
    pub added_at_rfc3339: String,
    /// Who added them.
    pub added_by: String,
    /// Escrowed keys this agent holds a share of.
    pub shares: i64,
}

/// `GET /agents`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentList {
    /// M, the agents needed to rebuild a key (absent until set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<i64>,
    /// The active agents (N).
    pub agents: Vec<Agent>,
    /// Escrowed encryption keys split among the agents.
    pub split_keys: i64,
    /// Escrowed encryption keys under the master key only.
    pub master_only_keys: i64,
    /// Split keys whose shares were made for another agent set or threshold than today's
    /// (`kmsctl agent reshare` re-makes them).
    #[serde(default)]
    pub needs_reshare: i64,
}

/// `POST /agents`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddAgentRequest {
    /// The agent's name.
    pub name: String,
    /// The agent's X25519 public key (hex, as `kmsctl agent keygen` prints it).
    pub public_key: String,
}

/// The answer of `POST /agents`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentResponse {
    /// The agent.
    pub agent: Agent,
}

/// `POST /agents/threshold`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentThresholdRequest {
    /// M (2 or more, at most the number of agents).
    pub threshold: i64,
}

/// The answer of `POST /agents/reshare`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReshareAnswer {
    /// Keys split among the agents now.
    pub split: i64,
    /// Keys left for their owner to collect (split then).
    pub waiting_for_owner: i64,
    /// Split keys whose shares were re-made for today's agents and threshold (their old
    /// shares void), from the shares M agents released to the re-share request.
    #[serde(default)]
    pub remade: i64,
}

/// An agent request (a recovery, or a re-share, waiting for agent shares).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentRequestInfo {
    /// Request id (`kmsctl approve ID --agent-key FILE`).
    pub id: i64,
    /// `recover` or `reshare`.
    pub kind: String,
    /// Who opened it.
    pub opener: String,
    /// Whose keys (`*` for a re-share: every key needing new shares).
    pub target: String,
    /// The request's one-time X25519 public key (hex).
    pub public_key: String,
    /// Agents who released their shares.
    pub released_by: Vec<String>,
    /// Agents needed.
    pub needed: i64,
    /// Opened (Unix seconds).
    pub opened_at: i64,
    /// Expires (Unix seconds).
    pub expires_at: i64,
    /// `open`, or `void` when the server restarted since (its one-time key is gone).
    pub status: String,
    /// Escrowed keys it still collects shares of.
    #[serde(default)]
    pub keys: i64,
}

/// `GET /agent-requests`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentRequestList {
    /// Open requests.
    pub requests: Vec<AgentRequestInfo>,
}

/// One sealed share (HPKE `enc || ciphertext`, base64).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SealedShare {
    /// The escrowed key it is a share of.
    pub key_id: i64,
    /// The sealed share, base64.
    pub sealed: String,
}

/// `GET /agent-requests/{id}/shares?agent=HEX`: the agent's shares of the request's keys,
/// sealed to the agent.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentSharesAnswer {
    /// The request.
    pub request_id: i64,
    /// Re-seal each share to this one-time public key (hex).
    pub request_public_key: String,
    /// The agent's id.
    pub agent_id: i64,
    /// The shares.
    pub shares: Vec<SealedShare>,
}

/// `POST /agent-requests/{id}/shares`: an agent's shares re-sealed to the request.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSharesRequest {
    /// The agent's public key (hex).
    pub agent: String,
    /// The shares, each sealed to the request's one-time key.
    pub shares: Vec<SealedShare>,
}

/// The answer of `POST /agent-requests/{id}/shares`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentRequestResponse {
    /// The request now.
    pub request: AgentRequestInfo,
}
