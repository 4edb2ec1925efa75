//! Key recovery agents and the cryptographic quorum (issue 21): the agent set and its
//! threshold (governed under `agent-change`), splitting an escrowed encryption key among the
//! agents when its owner collects it, agent requests that collect shares for a recovery, and
//! the re-share ceremony for keys escrowed before there were agents.
//!
//! The server never holds a wrap key or a share at rest: a split key's row holds the key
//! wrapped under a random wrap key, the wrap key exists only as Shamir shares each sealed to
//! one agent's X25519 key (`pki::quorum`), and a recovery rebuilds it in memory from the
//! shares that at least M agents re-sealed to the request's one-time key, whose private half
//! lives only in this process's memory.

use std::collections::{BTreeMap, HashMap};

use db::{Connection, OptionalExtension, params};
use escrow::{AgentShare, EscrowTx, KeyId};
use pki::quorum::{self, AgentPublicKey, AgentSecretKey, KeyLabel, Share};
use serde::Serialize;
use zeroize::Zeroizing;

use super::*;

/// Longest agent name, in characters.
pub const AGENT_NAME_MAX: usize = 100;

/// Keys the re-share ceremony re-makes in one transaction: each batch commits on its own
/// (all or nothing), the state lock is released between batches, and a batch that failed is
/// taken up again by the next `kmsctl agent reshare` (keys already re-made no longer need it).
pub const RESHARE_BATCH: usize = 256;

/// What a re-share request was opened for: the agent set and threshold the new shares are
/// made for, and the split keys whose shares were made for another set or threshold.
pub(crate) struct ReshareScope {
    /// The active agents' ids then, ascending.
    agents: Vec<i64>,
    /// M then.
    threshold: i64,
    /// The keys to re-make, with the threshold their current shares were made with.
    keys: Vec<(KeyId, i64)>,
}

/// An open agent request's one-time private key, and a re-share's scope.
struct OpenRequest {
    key: AgentSecretKey,
    scope: Option<Arc<ReshareScope>>,
}

/// The one-time private keys of open agent requests (memory only: a restart voids them).
#[derive(Default)]
pub(crate) struct RequestKeys(Mutex<HashMap<i64, OpenRequest>>);

impl RequestKeys {
    fn insert(&self, id: i64, key: AgentSecretKey, scope: Option<ReshareScope>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(
            id,
            OpenRequest {
                key,
                scope: scope.map(Arc::new),
            },
        );
    }

    /// Whether request `id` still has its one-time key (it can complete; else it is void).
    pub(crate) fn is_live(&self, id: i64) -> bool {
        self.with(id, |_| ()).is_some()
    }

    fn with<T>(&self, id: i64, f: impl FnOnce(&AgentSecretKey) -> T) -> Option<T> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&id).map(|o| f(&o.key))
    }

    fn scope(&self, id: i64) -> Option<Arc<ReshareScope>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&id).and_then(|o| o.scope.clone())
    }

    fn forget(&self, id: i64) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }
}

/// One key recovery agent as listed (nothing secret: the public key only).
#[derive(Clone, Debug, Serialize)]
pub struct AgentInfo {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// X25519 public key, lower-case hex.
    pub public_key: String,
    /// When added (Unix seconds).
    pub added_at: i64,
    /// Who added them.
    pub added_by: String,
    /// Escrowed keys this agent holds a share of.
    pub shares: i64,
}

/// The agent set: its members, threshold and how many keys are split among them.
#[derive(Clone, Debug, Serialize)]
pub struct AgentSet {
    /// M: agents needed to rebuild a key (none until set).
    pub threshold: Option<i64>,
    /// The active agents (N).
    pub agents: Vec<AgentInfo>,
    /// Escrowed encryption keys split among agents.
    pub split_keys: i64,
    /// Escrowed encryption keys still under the master key only (before agents, or waiting
    /// for their owner).
    pub master_only_keys: i64,
    /// Split keys whose shares were made for another agent set or threshold than today's
    /// (re-made by `kmsctl agent reshare`).
    pub needs_reshare: i64,
}

/// An open agent request as listed.
#[derive(Clone, Debug, Serialize)]
pub struct AgentRequest {
    /// Request id (what agents give to `kmsctl approve ID --agent-key`).
    pub id: i64,
    /// `recover` or `reshare`.
    pub kind: String,
    /// Who opened it.
    pub opener: String,
    /// The user whose keys it recovers (`*` for a re-share).
    pub target: String,
    /// The request's one-time X25519 public key, hex.
    pub public_key: String,
    /// Agents who released their shares.
    pub released_by: Vec<String>,
    /// Agents needed.
    pub needed: i64,
    /// Opened (Unix seconds).
    pub opened_at: i64,
    /// Expires (Unix seconds).
    pub expires_at: i64,
    /// `open`, `done` or `void` (a restart lost its one-time key).
    pub status: String,
    /// Escrowed keys the request still collects shares of.
    pub keys: i64,
}

/// What an agent fetches for a request: its sealed shares of exactly the request's keys.
#[derive(Clone, Debug, Serialize)]
pub struct AgentShares {
    /// The request.
    pub request_id: i64,
    /// The request's one-time public key (hex): re-seal each share to it.
    pub request_public_key: String,
    /// The agent's id.
    pub agent_id: i64,
    /// The shares: escrowed key id and the share sealed to this agent (HPKE, `enc || ct`).
    pub shares: Vec<(i64, Vec<u8>)>,
}

/// What a re-share did.
#[derive(Clone, Debug, Serialize)]
pub struct Reshared {
    /// Keys split among the agents now.
    pub split: i64,
    /// Keys left under the master key only because their owner has not collected them yet
    /// (split when collected).
    pub waiting_for_owner: i64,
    /// Split keys whose shares were re-made for today's agents and threshold (old shares
    /// void), from the shares M agents of the old set released to the re-share request.
    pub remade: i64,
}

fn unknown_agent(what: impl Into<String>) -> Error {
    Error::UnknownAgent { what: what.into() }
}

fn refused(why: impl Into<String>) -> Error {
    Error::AgentRefused(why.into())
}

/// The active agents, oldest first: (id, name, public key).
pub(crate) fn active_agents(conn: &Connection) -> Result<Vec<(i64, String, AgentPublicKey)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, public_key FROM recovery_agents WHERE removed_at IS NULL ORDER BY id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<Vec<u8>>(2)?))
        })?
        .collect::<db::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(id, name, pk)| Ok((id, name, AgentPublicKey::from_bytes(&pk)?)))
        .collect()
}

fn threshold(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .query_row("SELECT threshold FROM agent_policy WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Splits escrowed key `key_id` (PKCS#8 `key_der`, owned by `owner`) among the active agents
/// inside `tx`, when agents and a threshold are set: the master-key-only copy is replaced by
/// the agent-split one. False (nothing done) when there are no agents. Called where an
/// encryption key reaches its owner (enrollment), and by the re-share ceremony.
pub(crate) fn split_if_configured(
    tx: &EscrowTx<'_>,
    key_id: KeyId,
    owner: &str,
    key_der: &[u8],
    now: i64,
) -> Result<bool> {
    let Some(m) = threshold(tx)? else {
        return Ok(false);
    };
    let agents = active_agents(tx)?;
    if (agents.len() as i64) < m || m < 2 {
        return Ok(false);
    }
    // The label binds the owner as stored with the key (the caller's spelling may differ).
    let stored: String = tx.query_row(
        "SELECT owner FROM escrowed_keys WHERE id = ?1",
        [key_id.0],
        |r| r.get(0),
    )?;
    debug_assert!(stored.eq_ignore_ascii_case(owner), "{stored} vs {owner}");
    let (wrapped, shares) = split_for(key_id, &stored, key_der, m, &agents)?;
    tx.split_key(key_id, &wrapped, m, &shares, now)?;
    Ok(true)
}

/// The wrapped key and each agent's sealed share, for a fresh wrap key.
fn split_for(
    key_id: KeyId,
    owner: &str,
    key_der: &[u8],
    m: i64,
    agents: &[(i64, String, AgentPublicKey)],
) -> Result<(Vec<u8>, Vec<AgentShare>)> {
    let wrap_key = quorum::WrapKey::generate()?;
    let label = KeyLabel {
        id: key_id.0,
        owner,
        usage: escrow::KeyUsage::Encryption.as_str(),
    };
    let wrapped = quorum::wrap(&wrap_key, &label, key_der)?;
    let shares = quorum::split(&wrap_key, m as usize, agents.len())?;
    drop(wrap_key);
    let mut out = Vec::with_capacity(agents.len());
    for ((agent_id, _, pk), share) in agents.iter().zip(&shares) {
        out.push(AgentShare {
            agent_id: *agent_id,
            sealed: quorum::seal(pk, &quorum::share_info(key_id.0, pk), share.expose())?,
        });
    }
    Ok((wrapped, out))
}

/// The agent-split encryption keys of `owner`, oldest first.
fn split_keys_of(conn: &Connection, owner: &str) -> Result<Vec<(KeyId, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT k.id, s.threshold FROM escrowed_keys k JOIN split_keys s ON s.key_id = k.id
         WHERE k.owner = ?1 AND k.usage = 'encryption' ORDER BY k.id",
    )?;
    let rows = stmt
        .query_map([owner], |r| Ok((KeyId(r.get(0)?), r.get(1)?)))?
        .collect::<db::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The split keys whose shares were not made for the active agents `agents` (ids) and
/// threshold `m`: a different threshold, a share held by a removed agent, or an active agent
/// without a share (added since). With their thresholds, oldest first.
fn stale_keys(conn: &Connection, m: i64, agents: &[i64]) -> Result<Vec<(KeyId, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.key_id, s.threshold,
                (SELECT count(*) FROM key_shares ks JOIN recovery_agents a ON a.id = ks.agent_id
                 WHERE ks.key_id = s.key_id AND a.removed_at IS NULL),
                (SELECT count(*) FROM key_shares ks WHERE ks.key_id = s.key_id)
         FROM split_keys s ORDER BY s.key_id",
    )?;
    let n = agents.len() as i64;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                KeyId(r.get(0)?),
                r.get::<i64>(1)?,
                r.get::<i64>(2)?,
                r.get::<i64>(3)?,
            ))
        })?
        .collect::<db::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter(|&(_, t, active, all)| t != m || active != n || all != n)
        .map(|(k, t, _, _)| (k, t))
        .collect())
}

/// How many agents released a share of `key` to request `id`.
fn release_count(conn: &Connection, id: i64, key: KeyId) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM agent_releases WHERE request_id = ?1 AND key_id = ?2",
        params![id, key.0],
        |r| r.get(0),
    )?)
}

/// The agent policy now: M and the active agents' ids (ascending), when both are set and
/// there are at least M agents.
fn current_set(conn: &Connection) -> Result<Option<(i64, Vec<i64>)>> {
    let Some(m) = threshold(conn)? else {
        return Ok(None);
    };
    let ids: Vec<i64> = active_agents(conn)?.iter().map(|(id, _, _)| *id).collect();
    Ok(((ids.len() as i64) >= m && m >= 2).then_some((m, ids)))
}

impl Authority {
    /// The keys request `id` collects shares of, with their thresholds: a recovery's are the
    /// target's split keys; a re-share's are those of its scope not re-made yet.
    fn keys_of_request(
        &self,
        conn: &Connection,
        id: i64,
        kind: &str,
        target: &str,
    ) -> Result<Vec<(KeyId, i64)>> {
        if kind == "recover" {
            return split_keys_of(conn, target);
        }
        let Some(scope) = self.request_keys.scope(id) else {
            return Ok(Vec::new());
        };
        let stale: std::collections::HashSet<KeyId> =
            stale_keys(conn, scope.threshold, &scope.agents)?
                .into_iter()
                .map(|(k, _)| k)
                .collect();
        Ok(scope
            .keys
            .iter()
            .copied()
            .filter(|(k, _)| stale.contains(k))
            .collect())
    }

    fn request_row(&self, conn: &Connection, id: i64) -> Result<Option<AgentRequest>> {
        let row = conn
            .query_row(
                "SELECT id, kind, opener, target, public_key, opened_at, expires_at, status
             FROM agent_requests WHERE id = ?1",
                [id],
                |r| {
                    Ok(AgentRequest {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        opener: r.get(2)?,
                        target: r.get(3)?,
                        public_key: pki::certificate::hex_bytes(&r.get::<Vec<u8>>(4)?),
                        released_by: Vec::new(),
                        needed: 0,
                        opened_at: r.get(5)?,
                        expires_at: r.get(6)?,
                        status: r.get(7)?,
                        keys: 0,
                    })
                },
            )
            .optional()?;
        let Some(mut req) = row else { return Ok(None) };
        let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT a.name FROM agent_releases r JOIN recovery_agents a ON a.id = r.agent_id
         WHERE r.request_id = ?1 ORDER BY a.name",
    )?;
        req.released_by = stmt
            .query_map([id], |r| r.get(0))?
            .collect::<db::Result<Vec<String>>>()?;
        let keys = self.keys_of_request(conn, id, &req.kind, &req.target)?;
        req.keys = keys.len() as i64;
        req.needed = keys.iter().map(|(_, m)| *m).max().unwrap_or(0);
        Ok(Some(req))
    }
}

impl Authority {
    /// The agent set (any role).
    pub fn agents(&self, _actor: &Admin) -> Result<AgentSet> {
        let st = self.lock();
        let conn = st.store.store().connection();
        let mut stmt = conn.prepare(
            "SELECT a.id, a.name, a.public_key, a.added_at, a.added_by,
                    (SELECT count(*) FROM key_shares s WHERE s.agent_id = a.id)
             FROM recovery_agents a WHERE a.removed_at IS NULL ORDER BY a.id",
        )?;
        let agents = stmt
            .query_map([], |r| {
                Ok(AgentInfo {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    public_key: pki::certificate::hex_bytes(&r.get::<Vec<u8>>(2)?),
                    added_at: r.get(3)?,
                    added_by: r.get(4)?,
                    shares: r.get(5)?,
                })
            })?
            .collect::<db::Result<Vec<_>>>()?;
        let split_keys: i64 =
            conn.query_row("SELECT count(*) FROM split_keys", [], |r| r.get(0))?;
        let master_only_keys: i64 = conn.query_row(
            "SELECT count(*) FROM escrowed_keys WHERE usage = 'encryption' AND scheme = 1",
            [],
            |r| r.get(0),
        )?;
        let m = threshold(conn)?;
        let needs_reshare = match m {
            Some(m) => {
                let ids: Vec<i64> = agents.iter().map(|a| a.id).collect();
                stale_keys(conn, m, &ids)?.len() as i64
            }
            None => 0,
        };
        Ok(AgentSet {
            threshold: m,
            agents,
            split_keys,
            master_only_keys,
            needs_reshare,
        })
    }

    /// Designates a key recovery agent with their X25519 public key (hex, from `kmsctl agent
    /// keygen`), under the `agent-change` quorum (administrator role). Keys split from then
    /// on include them; keys split before do not until a re-share.
    pub fn add_agent(&self, actor: &Admin, name: &str, public_key_hex: &str) -> Result<AgentInfo> {
        let name = name.trim().to_string();
        self.audit_op(&actor.name, "agent.add", &name, |rec| {
            actor.require_administrator()?;
            if name.is_empty() || name.chars().count() > AGENT_NAME_MAX {
                return Err(Error::invalid(
                    "agent name",
                    format!("1 to {AGENT_NAME_MAX} characters"),
                ));
            }
            let pk = AgentPublicKey::from_hex(public_key_hex)
                .map_err(|e| Error::invalid("agent public key", e.to_string()))?;
            self.gate_with(
                rec,
                actor,
                &["agent-change"],
                &format!("add {name}"),
                &[("public_key", &pk.0)],
                None,
            )?;
            let now = unix(self.now());
            let mut st = self.lock();
            let tx = st.store.connection_mut().transaction()?;
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM recovery_agents WHERE removed_at IS NULL
                                AND (name = ?1 OR public_key = ?2))",
                params![name, &pk.0[..]],
                |r| r.get(0),
            )?;
            if taken {
                return Err(refused(format!(
                    "an active agent already has the name {name} or this public key"
                )));
            }
            let id: i64 = tx.query_row(
                "INSERT INTO recovery_agents (name, public_key, added_at, added_by)
                 VALUES (?1, ?2, ?3, ?4) RETURNING id",
                params![name, &pk.0[..], now, actor.name],
                |r| r.get(0),
            )?;
            audit::commit(tx, rec, now)?;
            Ok(AgentInfo {
                id,
                name: name.clone(),
                public_key: pk.to_hex(),
                added_at: now,
                added_by: actor.name.clone(),
                shares: 0,
            })
        })
    }

    /// Removes an agent (under `agent-change`): their stored shares are deleted, so nothing
    /// can be fetched for them any more. Refused when fewer than the threshold would remain,
    /// and ([`Error::AgentKeysAtRisk`]) when some split key would keep fewer share holders
    /// than its own threshold: removing an agent never makes a key unrecoverable. The keys
    /// split before the change keep their shares (of the remaining holders) until a re-share
    /// re-makes them for the current agents.
    pub fn remove_agent(&self, actor: &Admin, name: &str) -> Result<()> {
        let name = name.trim().to_string();
        self.audit_op(&actor.name, "agent.remove", &name, |rec| {
            actor.require_administrator()?;
            self.gate(rec, actor, "agent-change", &format!("remove {name}"))?;
            let now = unix(self.now());
            let mut st = self.lock();
            let tx = st.store.connection_mut().transaction()?;
            let id: i64 = tx
                .query_row(
                    "SELECT id FROM recovery_agents WHERE name = ?1 AND removed_at IS NULL",
                    [&name],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| unknown_agent(name.clone()))?;
            let left = active_agents(&tx)?.len() as i64 - 1;
            if let Some(m) = threshold(&tx)?
                && left < m
            {
                return Err(refused(format!(
                    "{left} agents would remain, fewer than the threshold {m}: add the \
                     replacement first (kmsctl agent add), then remove"
                )));
            }
            let at_risk: i64 = tx.query_row(
                "SELECT count(*) FROM split_keys s WHERE s.threshold >
                    (SELECT count(*) FROM key_shares ks JOIN recovery_agents a
                     ON a.id = ks.agent_id
                     WHERE ks.key_id = s.key_id AND a.removed_at IS NULL AND a.id != ?1)",
                [id],
                |r| r.get(0),
            )?;
            if at_risk > 0 {
                return Err(Error::AgentKeysAtRisk {
                    agent: name.clone(),
                    keys: at_risk,
                });
            }
            tx.execute("DELETE FROM key_shares WHERE agent_id = ?1", [id])?;
            tx.execute(
                "UPDATE recovery_agents SET removed_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            audit::commit(tx, rec, now)?;
            Ok(())
        })
    }

    /// Sets M, the agents needed to rebuild a key (under `agent-change`); at least 2 and at
    /// most the number of active agents. Applies to keys split from then on.
    pub fn set_agent_threshold(&self, actor: &Admin, m: i64) -> Result<()> {
        self.audit_op(&actor.name, "agent.threshold", &m.to_string(), |rec| {
            actor.require_administrator()?;
            if m < 2 {
                return Err(Error::invalid("threshold", "at least 2 agents"));
            }
            self.gate(rec, actor, "agent-change", &format!("threshold {m}"))?;
            let now = unix(self.now());
            let mut st = self.lock();
            let tx = st.store.connection_mut().transaction()?;
            let n = active_agents(&tx)?.len() as i64;
            if m > n {
                return Err(refused(format!(
                    "a threshold of {m} needs at least {m} agents; there are {n}"
                )));
            }
            tx.execute(
                "INSERT INTO agent_policy (id, threshold, changed_at) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET threshold = ?1, changed_at = ?2",
                params![m, now],
            )?;
            audit::commit(tx, rec, now)?;
            Ok(())
        })
    }

    /// The re-share ceremony (under `agent-change`, needing the current quorum of
    /// administrators, then M agents).
    ///
    /// Split keys whose shares were made for another agent set or threshold than today's
    /// (an agent added or removed, M changed) need new shares: the first run opens a
    /// `reshare` agent request listing them and answers [`Error::AgentSharesPending`]; M
    /// agents of the old set answer it (`kmsctl approve ID --agent-key`, their shares
    /// re-sealed to the request's one-time key, as for a recovery); its opener then runs this
    /// again, which rebuilds each wrap key in memory, wraps the key under a fresh wrap key,
    /// splits that among today's agents with today's threshold and replaces the shares (old
    /// rows deleted: the old shares open nothing any more), [`RESHARE_BATCH`] keys per
    /// transaction, each all or nothing; a run cut short is taken up by the next. If the
    /// agent set or threshold changed meanwhile, the request is void
    /// ([`Error::ReshareStale`]).
    ///
    /// Also (when no re-share waits for agents) every encryption key escrowed before there
    /// were agents, and already collected by its owner, is split among the current agents and
    /// its master-key-only copy replaced; keys still waiting for their owner are split when
    /// collected.
    pub fn reshare(&self, actor: &Admin) -> Result<Reshared> {
        self.audit_op(&actor.name, "agent.reshare", "*", |rec| {
            actor.require_administrator()?;
            // The opener's own open re-share request: carry it out (its approvals passed).
            if let Some(id) = self.open_agent_request_of(actor, "reshare", "*", false)? {
                rec.extend_target(&format!(" (agent request {id})"));
                return self.carry_out_reshare(rec, id);
            }
            self.gate(rec, actor, "agent-change", "reshare")?;
            let (m, agents, stale) = {
                let st = self.lock();
                let conn = st.store.store().connection();
                if threshold(conn)?.is_none() {
                    return Err(refused(
                        "no agent threshold is set (kmsctl agent threshold M)",
                    ));
                }
                let Some((m, agents)) = current_set(conn)? else {
                    return Err(refused("fewer agents than the threshold"));
                };
                let stale = stale_keys(conn, m, &agents)?;
                (m, agents, stale)
            };
            if stale.is_empty() {
                let (split, waiting_for_owner) = self.split_master_only(rec)?;
                return Ok(Reshared {
                    split,
                    waiting_for_owner,
                    remade: 0,
                });
            }
            let keys = stale.len();
            let id = self.open_agent_request(
                actor,
                "reshare",
                "*",
                false,
                Some(ReshareScope {
                    agents,
                    threshold: m,
                    keys: stale,
                }),
            )?;
            rec.extend_target(&format!(" (agent request {id} for {keys} keys)"));
            Err(self.shares_pending(id))
        })
    }

    /// Splits every collected encryption key still under the master key only among the
    /// current agents, in one transaction carrying `rec`'s entry (if not written yet):
    /// (keys split, keys waiting for their owner).
    fn split_master_only(&self, rec: &audit::Op) -> Result<(i64, i64)> {
        let now = unix(self.now());
        let mut st = self.lock();
        let conn = st.store.store().connection();
        let waiting: std::collections::HashSet<i64> = {
            let mut stmt = conn.prepare(
                "SELECT DISTINCT pending_key_id FROM tokens
                 WHERE pending_key_id IS NOT NULL AND used_at IS NULL",
            )?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<db::Result<_>>()?
        };
        let todo: Vec<i64> = {
            let mut stmt = conn.prepare(
                "SELECT id FROM escrowed_keys WHERE usage = 'encryption' AND scheme = 1
                 ORDER BY id",
            )?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<db::Result<_>>()?
        };
        let tx = st.store.begin()?;
        let mut split = 0;
        let mut waiting_for_owner = 0;
        for id in todo {
            if waiting.contains(&id) {
                waiting_for_owner += 1;
                continue;
            }
            let Some(k) = tx.key(KeyId(id))? else {
                continue;
            };
            if split_if_configured(
                &tx,
                KeyId(id),
                &k.info.owner,
                k.private_key_der.expose(),
                now,
            )? {
                split += 1;
            }
        }
        rec.extend_target(&format!(" ({split} keys split)"));
        audit::commit_escrow(tx, rec, now)?;
        let _ = st.store.checkpoint();
        Ok((split, waiting_for_owner))
    }

    /// Carries out re-share request `id` once every key of it has at least its threshold of
    /// released shares; [`Error::AgentSharesPending`] until then.
    fn carry_out_reshare(&self, rec: &audit::Op, id: i64) -> Result<Reshared> {
        let now = unix(self.now());
        let scope = self
            .request_keys
            .scope(id)
            .ok_or_else(|| refused(format!("agent request {id} is void")))?;
        let todo = {
            let st = self.lock();
            let conn = st.store.store().connection();
            if current_set(conn)? != Some((scope.threshold, scope.agents.clone())) {
                drop(st);
                self.void_agent_request(id)?;
                return Err(Error::ReshareStale { request_id: id });
            }
            let todo = self.keys_of_request(conn, id, "reshare", "*")?;
            for (k, m) in &todo {
                if release_count(conn, id, *k)? < *m {
                    drop(st);
                    return Err(self.shares_pending(id));
                }
            }
            todo
        };
        rec.extend_target(&format!(
            ": shares of {} keys re-made for {} agents, {} of {}",
            todo.len(),
            scope.agents.len(),
            scope.threshold,
            scope.agents.len()
        ));
        let (split, waiting_for_owner) = self.split_master_only(rec)?;
        let mut remade = 0;
        for batch in todo.chunks(RESHARE_BATCH) {
            let mut st = self.lock();
            let agents = active_agents(st.store.store().connection())?;
            if agents
                .iter()
                .map(|(id, _, _)| *id)
                .ne(scope.agents.iter().copied())
            {
                drop(st);
                self.void_agent_request(id)?;
                return Err(Error::ReshareStale { request_id: id });
            }
            let tx = st.store.begin()?;
            for &(k, m) in batch {
                let key = tx
                    .key(k)?
                    .ok_or_else(|| Error::Corrupt(format!("split key {} is missing", k.0)))?;
                let wrapped = key
                    .agent_split
                    .as_ref()
                    .ok_or_else(|| Error::Corrupt(format!("key {} is not split", k.0)))?;
                let Some(der) =
                    self.rebuild_one(&tx, id, k, m, &key.info.owner, wrapped.expose())?
                else {
                    // Another re-share re-made this key meanwhile (its releases are gone).
                    drop(tx);
                    drop(st);
                    return Err(self.shares_pending(id));
                };
                let (w, shares) = split_for(k, &key.info.owner, &der, scope.threshold, &agents)?;
                drop(der);
                tx.reshare_key(k, &w, scope.threshold, &shares, now)?;
                // Shares of the old wrap key released to any request are void now.
                tx.execute("DELETE FROM agent_releases WHERE key_id = ?1", [k.0])?;
            }
            audit::commit_escrow(tx, rec, now)?;
            remade += batch.len() as i64;
        }
        self.close_agent_request(id)?;
        let _ = self.lock().store.checkpoint();
        tracing::warn!(request = id, remade, "agent shares re-made");
        Ok(Reshared {
            split,
            waiting_for_owner,
            remade,
        })
    }

    /// Open agent requests (any role): which wait for agent shares.
    pub fn agent_requests(&self, _actor: &Admin) -> Result<Vec<AgentRequest>> {
        let now = unix(self.now());
        let st = self.lock();
        let conn = st.store.store().connection();
        let ids: Vec<i64> = {
            let mut stmt = conn.prepare(
                "SELECT id FROM agent_requests WHERE status = 'open' AND expires_at > ?1
                 ORDER BY id",
            )?;
            stmt.query_map([now], |r| r.get(0))?
                .collect::<db::Result<_>>()?
        };
        let mut out = Vec::new();
        for id in ids {
            if let Some(mut r) = self.request_row(conn, id)? {
                if self.request_keys.with(id, |_| ()).is_none() {
                    r.status = "void".into();
                }
                out.push(r);
            }
        }
        Ok(out)
    }

    fn open_request_checked(&self, conn: &Connection, id: i64) -> Result<AgentRequest> {
        let now = unix(self.now());
        let req = self
            .request_row(conn, id)?
            .ok_or_else(|| Error::UnknownRequest { id })?;
        if req.status != "open" || req.expires_at <= now {
            return Err(refused(format!(
                "agent request {id} is {}",
                if req.status == "open" {
                    "expired"
                } else {
                    &req.status
                }
            )));
        }
        if self.request_keys.with(id, |_| ()).is_none() {
            return Err(refused(format!(
                "agent request {id} is void: the server restarted since it was opened (its \
                 one-time key lived only in memory); open it again"
            )));
        }
        Ok(req)
    }

    fn agent_by_key(conn: &Connection, pk: &AgentPublicKey) -> Result<(i64, String)> {
        conn.query_row(
            "SELECT id, name FROM recovery_agents WHERE public_key = ?1 AND removed_at IS NULL",
            [&pk.0[..]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| {
            unknown_agent(format!(
                "no active agent has the public key {}",
                pk.to_hex()
            ))
        })
    }

    /// An agent's sealed shares of exactly the keys of agent request `id` (administrator
    /// role; the shares open only with the agent's private key, which never leaves the
    /// agent's machine).
    pub fn agent_shares(&self, actor: &Admin, id: i64, agent_key_hex: &str) -> Result<AgentShares> {
        actor.require_administrator()?;
        let pk = AgentPublicKey::from_hex(agent_key_hex)
            .map_err(|e| Error::invalid("agent public key", e.to_string()))?;
        let st = self.lock();
        let conn = st.store.store().connection();
        let req = self.open_request_checked(conn, id)?;
        let (agent_id, _) = Self::agent_by_key(conn, &pk)?;
        let keys: Vec<KeyId> = self
            .keys_of_request(conn, id, &req.kind, &req.target)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let shares = st
            .store
            .agent_shares(agent_id, &keys)?
            .into_iter()
            .map(|(k, s)| (k.0, s))
            .collect();
        Ok(AgentShares {
            request_id: id,
            request_public_key: req.public_key,
            agent_id,
            shares,
        })
    }

    /// Records an agent's shares re-sealed to request `id`'s one-time key (administrator
    /// role). Each must be of a key of the request that this agent holds a stored share of,
    /// open with the request's key and be bound to this request, key and agent; an agent
    /// holding no share of the request's keys (added after they were split) is refused. The
    /// audit log records the release, the agent and the key ids (never the share).
    pub fn release_shares(
        &self,
        actor: &Admin,
        id: i64,
        agent_key_hex: &str,
        shares: &[(i64, Vec<u8>)],
    ) -> Result<AgentRequest> {
        self.audit_op(
            &actor.name,
            "agent.release",
            &format!("request {id}"),
            |rec| {
                actor.require_administrator()?;
                let pk = AgentPublicKey::from_hex(agent_key_hex)
                    .map_err(|e| Error::invalid("agent public key", e.to_string()))?;
                let now = unix(self.now());
                let mut st = self.lock();
                let conn = st.store.store().connection();
                let req = self.open_request_checked(conn, id)?;
                let (agent_id, agent_name) = Self::agent_by_key(conn, &pk)?;
                rec.extend_target(&format!(
                    " by agent {agent_name}: {}",
                    released_keys(shares)
                ));
                if shares.is_empty() {
                    return Err(refused(format!(
                        "agent {agent_name} holds no share of the keys of request {id} (an \
                         agent added after they were split has none until a re-share)"
                    )));
                }
                let keys: std::collections::HashSet<i64> = self
                    .keys_of_request(conn, id, &req.kind, &req.target)?
                    .into_iter()
                    .map(|(k, _)| k.0)
                    .collect();
                let mut holds = conn.prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM key_shares WHERE key_id = ?1 AND agent_id = ?2)",
                )?;
                for (key_id, sealed) in shares {
                    if !keys.contains(key_id) {
                        return Err(refused(format!("key {key_id} is not part of request {id}")));
                    }
                    if !holds.query_row(params![key_id, agent_id], |r| r.get::<bool>(0))? {
                        return Err(refused(format!(
                            "agent {agent_name} holds no share of key {key_id}"
                        )));
                    }
                    let info = quorum::release_info(id, *key_id, &pk);
                    let ok = self
                        .request_keys
                        .with(id, |sk| {
                            quorum::open(sk, &info, sealed).and_then(|s| Share::from_bytes(&s))
                        })
                        .ok_or_else(|| refused(format!("agent request {id} is void")))?;
                    ok.map_err(|_| {
                        refused(format!(
                            "the share of key {key_id} does not open for request {id} (sealed to \
                         another request, key or agent?)"
                        ))
                    })?;
                }
                drop(holds);
                let tx = st.store.connection_mut().transaction()?;
                for (key_id, sealed) in shares {
                    tx.execute(
                    "INSERT INTO agent_releases (request_id, agent_id, key_id, sealed, released_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (request_id, agent_id, key_id) DO UPDATE SET sealed = ?4,
                         released_at = ?5",
                    params![id, agent_id, key_id, sealed, now],
                )?;
                }
                audit::commit(tx, rec, now)?;
                self.request_row(st.store.store().connection(), id)?
                    .ok_or(Error::UnknownRequest { id })
            },
        )
    }

    /// For key recovery (see `recovery.rs`): the open recover request of `actor` for
    /// `owner` (and `reenroll`), if one exists with its one-time key in memory.
    pub(crate) fn open_recover_request(
        &self,
        actor: &Admin,
        owner: &str,
        reenroll: bool,
    ) -> Result<Option<i64>> {
        self.open_agent_request_of(actor, "recover", owner, reenroll)
    }

    /// The newest open agent request of `actor` of `kind` for `target` (and `reenroll`), if
    /// one exists with its one-time key in memory.
    fn open_agent_request_of(
        &self,
        actor: &Admin,
        kind: &str,
        target: &str,
        reenroll: bool,
    ) -> Result<Option<i64>> {
        let now = unix(self.now());
        let st = self.lock();
        let id: Option<i64> = st
            .store
            .store()
            .connection()
            .query_row(
                "SELECT id FROM agent_requests WHERE kind = ?5 AND status = 'open'
                 AND opener_id = ?1 AND target = ?2 AND reenroll = ?3 AND expires_at > ?4
                 ORDER BY id DESC LIMIT 1",
                params![actor.id, target, reenroll as i64, now, kind],
                |r| r.get(0),
            )
            .optional()?;
        Ok(id.filter(|id| self.request_keys.with(*id, |_| ()).is_some()))
    }

    /// Opens a recover request for `owner`'s split keys (after the recovery's approvals) and
    /// returns [`Error::AgentSharesPending`] for it.
    pub(crate) fn open_recover_request_now(
        &self,
        actor: &Admin,
        owner: &str,
        reenroll: bool,
    ) -> Result<i64> {
        self.open_agent_request(actor, "recover", owner, reenroll, None)
    }

    /// Opens an agent request with a fresh one-time key (kept in memory only).
    fn open_agent_request(
        &self,
        actor: &Admin,
        kind: &str,
        target: &str,
        reenroll: bool,
        scope: Option<ReshareScope>,
    ) -> Result<i64> {
        let now = unix(self.now());
        let key = AgentSecretKey::generate()?;
        let pk = key.public_key()?;
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        let id: i64 = tx.query_row(
            "INSERT INTO agent_requests (kind, opener_id, opener, target, reenroll, public_key,
                                         opened_at, expires_at)
             VALUES (?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            params![
                actor.id,
                actor.name,
                target,
                reenroll as i64,
                &pk.0[..],
                now,
                now + secs(self.config.approval_ttl),
                kind
            ],
            |r| r.get(0),
        )?;
        tx.commit()?;
        self.request_keys.insert(id, key, scope);
        Ok(id)
    }

    /// Voids request `id` (its scope no longer holds): its releases are deleted and its
    /// one-time key forgotten.
    fn void_agent_request(&self, id: i64) -> Result<()> {
        self.end_agent_request(id, "void")
    }

    /// [`Error::AgentSharesPending`] for request `id`.
    pub(crate) fn shares_pending(&self, id: i64) -> Error {
        let st = self.lock();
        match self.request_row(st.store.store().connection(), id) {
            Ok(Some(r)) => Error::AgentSharesPending {
                request_id: id,
                target: r.target,
                released_by: r.released_by,
                needed: r.needed,
            },
            Ok(None) => Error::UnknownRequest { id },
            Err(e) => e,
        }
    }

    /// The PKCS#8 of every split key of request `id`, rebuilt from the released shares
    /// (each wrap key in memory only, zeroized on drop), or [`Error::AgentSharesPending`]
    /// while some key has fewer than its threshold. Keys: escrowed id -> PKCS#8.
    pub(crate) fn rebuild_split_keys(
        &self,
        id: i64,
        owner: &str,
    ) -> Result<BTreeMap<i64, Zeroizing<Vec<u8>>>> {
        let st = self.lock();
        let conn = st.store.store().connection();
        let keys = split_keys_of(conn, owner)?;
        let mut out = BTreeMap::new();
        for (key_id, m) in keys {
            let k = st
                .store
                .key(key_id)?
                .ok_or_else(|| Error::Corrupt(format!("split key {} is missing", key_id.0)))?;
            let wrapped = k
                .agent_split
                .ok_or_else(|| Error::Corrupt(format!("key {} is not split", key_id.0)))?;
            let Some(der) =
                self.rebuild_one(conn, id, key_id, m, &k.info.owner, wrapped.expose())?
            else {
                drop(st);
                return Err(self.shares_pending(id));
            };
            out.insert(key_id.0, der);
        }
        Ok(out)
    }

    /// Key `key_id`'s PKCS#8 rebuilt from the shares released to request `id` (`wrapped`:
    /// its agent-split form, `owner` as stored): the wrap key is rebuilt in memory and
    /// zeroized on drop. `None` while fewer than `m` agents released a share of it.
    fn rebuild_one(
        &self,
        conn: &Connection,
        id: i64,
        key_id: KeyId,
        m: i64,
        owner: &str,
        wrapped: &[u8],
    ) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let mut stmt = conn.prepare_cached(
            "SELECT a.public_key, r.sealed FROM agent_releases r
             JOIN recovery_agents a ON a.id = r.agent_id
             WHERE r.request_id = ?1 AND r.key_id = ?2 ORDER BY r.agent_id",
        )?;
        let rows = stmt
            .query_map(params![id, key_id.0], |r| {
                Ok((r.get::<Vec<u8>>(0)?, r.get::<Vec<u8>>(1)?))
            })?
            .collect::<db::Result<Vec<_>>>()?;
        if (rows.len() as i64) < m {
            return Ok(None);
        }
        let mut shares = Vec::with_capacity(rows.len());
        for (pk, sealed) in rows {
            let pk = AgentPublicKey::from_bytes(&pk)?;
            let info = quorum::release_info(id, key_id.0, &pk);
            let share = self
                .request_keys
                .with(id, |sk| quorum::open(sk, &info, &sealed))
                .ok_or_else(|| refused(format!("agent request {id} is void")))??;
            shares.push(Share::from_bytes(&share)?);
        }
        let wrap_key = quorum::combine(&shares)?;
        drop(shares);
        let label = KeyLabel {
            id: key_id.0,
            owner,
            usage: escrow::KeyUsage::Encryption.as_str(),
        };
        let der = quorum::unwrap(&wrap_key, &label, wrapped).map_err(|_| {
            refused(format!(
                "the released shares do not rebuild key {}'s wrap key",
                key_id.0
            ))
        })?;
        Ok(Some(der))
    }

    /// Closes request `id` after it was carried out: its releases are deleted and its
    /// one-time key forgotten.
    pub(crate) fn close_agent_request(&self, id: i64) -> Result<()> {
        self.end_agent_request(id, "done")
    }

    fn end_agent_request(&self, id: i64, status: &str) -> Result<()> {
        self.request_keys.forget(id);
        let mut st = self.lock();
        let tx = st.store.connection_mut().transaction()?;
        tx.execute("DELETE FROM agent_releases WHERE request_id = ?1", [id])?;
        tx.execute(
            "UPDATE agent_requests SET status = ?2 WHERE id = ?1",
            params![id, status],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// What `kmsd check` found about the agent-split keys (nothing decrypted beyond the
/// master-key layer: no share is opened, no wrap key rebuilt).
#[derive(Clone, Debug, Default)]
pub struct SplitCheck {
    /// Agent-split keys.
    pub keys: u64,
    /// Stored shares (each authenticated under the master key).
    pub shares: u64,
    /// Active agents.
    pub agents: u64,
    /// M, when set.
    pub threshold: Option<i64>,
    /// Keys whose shares were made for another agent set or threshold than today's (sound,
    /// but `kmsctl agent reshare` re-makes them).
    pub needs_reshare: Vec<KeyId>,
    /// What is wrong, one sentence each (empty: sound).
    pub problems: Vec<String>,
}

/// Checks every agent-split key of `store` against the agent set its shares were made for:
/// the escrowed row is in the split form, each share's master-key layer authenticates and
/// holds a sealed share of the right size, no removed agent holds a share, every agent
/// active since before the split holds one, and at least the key's threshold of holders
/// remain (else it can never be rebuilt).
pub(crate) fn check_split_keys(store: &UnlockedStore) -> Result<SplitCheck> {
    let conn = store.store().connection();
    let (rows, unlisted) = store.split_key_rows()?;
    // (id, name, added_at, removed_at)
    let all: Vec<(i64, String, i64, Option<i64>)> = {
        let mut stmt =
            conn.prepare("SELECT id, name, added_at, removed_at FROM recovery_agents ORDER BY id")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<db::Result<_>>()?
    };
    let m = threshold(conn)?;
    let active: Vec<i64> = all.iter().filter(|a| a.3.is_none()).map(|a| a.0).collect();
    let name = |id: i64| {
        all.iter()
            .find(|a| a.0 == id)
            .map_or_else(|| format!("#{id}"), |a| a.1.clone())
    };
    let mut out = SplitCheck {
        keys: rows.len() as u64,
        agents: active.len() as u64,
        threshold: m,
        ..Default::default()
    };
    for k in &unlisted {
        out.problems.push(format!(
            "key {}: its row is agent-split but no split record lists it",
            k.0
        ));
    }
    for k in &rows {
        let id = k.key.0;
        out.shares += k.shares.len() as u64;
        if !k.row_split {
            out.problems.push(format!(
                "key {id}: listed as agent-split but its escrowed row is not (or is missing)"
            ));
        }
        let mut holders = 0;
        for (agent, len) in &k.shares {
            match len {
                None => out.problems.push(format!(
                    "key {id}: the share of agent {} failed authentication (altered or moved)",
                    name(*agent)
                )),
                Some(n) if *n != quorum::SEALED_SHARE_LEN => out.problems.push(format!(
                    "key {id}: the share of agent {} has {n} bytes, not {}",
                    name(*agent),
                    quorum::SEALED_SHARE_LEN
                )),
                Some(_) if !active.contains(agent) => out.problems.push(format!(
                    "key {id}: agent {}, removed, still holds a share",
                    name(*agent)
                )),
                Some(_) => holders += 1,
            }
        }
        // An agent active since before the split was given a share; one added in the same
        // second may or may not have been (a re-share settles it).
        for a in all.iter().filter(|a| a.3.is_none() && a.2 < k.split_at) {
            if !k.shares.iter().any(|(g, _)| *g == a.0) {
                out.problems
                    .push(format!("key {id}: the share of agent {} is missing", a.1));
            }
        }
        if holders < k.threshold {
            out.problems.push(format!(
                "key {id}: {holders} sound shares of active agents, fewer than its threshold {}: \
                 it cannot be recovered",
                k.threshold
            ));
        }
        let current = m == Some(k.threshold)
            && k.shares.len() == active.len()
            && k.shares.iter().all(|(g, _)| active.contains(g));
        if !current {
            out.needs_reshare.push(k.key);
        }
    }
    Ok(out)
}

/// The audit target's account of a release: how many shares, of which keys (the first 20
/// ids); never a share.
fn released_keys(shares: &[(i64, Vec<u8>)]) -> String {
    let mut ids: Vec<String> = shares.iter().take(20).map(|(k, _)| k.to_string()).collect();
    if shares.len() > ids.len() {
        ids.push("...".into());
    }
    format!(
        "{} share{} (key{} {})",
        shares.len(),
        if shares.len() == 1 { "" } else { "s" },
        if shares.len() == 1 { "" } else { "s" },
        ids.join(", ")
    )
}

/// An agent-side helper: opens each share sealed to `agent` for request `req` and re-seals it
/// to the request's one-time key (`kmsctl approve --agent-key` runs this on the agent's
/// machine; here for the tests and for callers of the library).
pub fn reseal_for_request(
    agent: &AgentSecretKey,
    request_id: i64,
    request_public_key_hex: &str,
    shares: &[(i64, Vec<u8>)],
) -> Result<Vec<(i64, Vec<u8>)>> {
    let pk = agent.public_key()?;
    let to = AgentPublicKey::from_hex(request_public_key_hex)?;
    let mut out = Vec::with_capacity(shares.len());
    for (key_id, sealed) in shares {
        let share = quorum::open(agent, &quorum::share_info(*key_id, &pk), sealed)?;
        out.push((
            *key_id,
            quorum::seal(&to, &quorum::release_info(request_id, *key_id, &pk), &share)?,
        ));
    }
    Ok(out)
}
