//! The agent side of the cryptographic quorum, for `kmsctl` (which speaks HTTP only and
//! reaches the PKI core through this crate): an agent's key pair and key file, and re-sealing
//! the shares an agent fetched to the request's one-time key. Runs on the agent's machine;
//! the agent's private key and the opened shares never leave it.

use base64ct::{Base64, Encoding};
use pki::quorum;
pub use pki::quorum::{AGENT_KEY_ITERATIONS, AgentPublicKey, AgentSecretKey};

use crate::{AgentSharesAnswer, ReleaseSharesRequest, SealedShare};

/// Opens each share of `answer` with `agent`'s key (bound to its key id and this agent) and
/// re-seals it to the request's one-time key (bound to the request, the key and the agent).
pub fn reseal(
    agent: &AgentSecretKey,
    answer: &AgentSharesAnswer,
) -> Result<ReleaseSharesRequest, pki::Error> {
    let pk = agent.public_key()?;
    let to = AgentPublicKey::from_hex(&answer.request_public_key)?;
    let mut shares = Vec::with_capacity(answer.shares.len());
    for s in &answer.shares {
        let sealed = Base64::decode_vec(&s.sealed)
            .map_err(|_| pki::Error::QuorumParameter("a fetched share is not base64"))?;
        let share = quorum::open(agent, &quorum::share_info(s.key_id, &pk), &sealed)?;
        let again = quorum::seal(
            &to,
            &quorum::release_info(answer.request_id, s.key_id, &pk),
            &share,
        )?;
        shares.push(SealedShare {
            key_id: s.key_id,
            sealed: Base64::encode_string(&again),
        });
    }
    Ok(ReleaseSharesRequest {
        agent: pk.to_hex(),
        shares,
    })
}
