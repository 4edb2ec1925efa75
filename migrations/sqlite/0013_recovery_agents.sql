-- 0013_recovery_agents: key recovery agents and the agent-split escrow (issue 21; owned by
-- crates/escrow/src/agents.rs and crates/authority/src/agents.rs).
--
-- Nothing here opens a user's key without the agents: an agent-split escrowed key keeps its
-- row in escrowed_keys (scheme 2), whose master-key ciphertext now holds only
-- AES-256-GCM(wrap key, PKCS#8) with the key's id, owner and usage as associated data; the wrap
-- key itself is stored nowhere, only as Shamir shares, each sealed (HPKE, RFC 9180) to one
-- agent's X25519 public key and then encrypted again under the master key (key_shares).
-- Never edit this file after it has landed.

-- The key recovery agents: people holding an X25519 key pair made on their own machine
-- (`kmsctl agent keygen`); only the public key is here. Removed agents stay, for the history.
CREATE TABLE recovery_agents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    public_key  BLOB    NOT NULL CHECK (length(public_key) = 32),
    added_at    INTEGER NOT NULL,
    added_by    TEXT    NOT NULL,
    removed_at  INTEGER
);

CREATE UNIQUE INDEX recovery_agents_active_key ON recovery_agents (public_key)
    WHERE removed_at IS NULL;
CREATE UNIQUE INDEX recovery_agents_active_name ON recovery_agents (name)
    WHERE removed_at IS NULL;

-- One row: how many agents rebuild a key (M of the N active agents).
CREATE TABLE agent_policy (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    threshold   INTEGER NOT NULL CHECK (threshold >= 2),
    changed_at  INTEGER NOT NULL
);

-- Every agent-split escrowed key and the threshold its shares were made with.
CREATE TABLE split_keys (
    key_id      INTEGER PRIMARY KEY REFERENCES escrowed_keys (id),
    threshold   INTEGER NOT NULL CHECK (threshold >= 2),
    split_at    INTEGER NOT NULL
);

-- One share per split key per agent: HPKE(agent key, share) under the master key (nonce,
-- ciphertext; the key id and agent id are the associated data).
CREATE TABLE key_shares (
    key_id      INTEGER NOT NULL REFERENCES split_keys (key_id),
    agent_id    INTEGER NOT NULL REFERENCES recovery_agents (id),
    nonce       BLOB    NOT NULL CHECK (length(nonce) = 12),
    ciphertext  BLOB    NOT NULL CHECK (length(ciphertext) > 16),
    PRIMARY KEY (key_id, agent_id)
);

CREATE INDEX key_shares_agent ON key_shares (agent_id, key_id);

-- Requests that collect agent shares: a key recovery (after its approvals), or a re-share.
-- `public_key` is the request's one-time X25519 key; its private half lives only in the
-- running kmsd's memory, so a request does not survive a restart (it is then `void`).
CREATE TABLE agent_requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL CHECK (kind IN ('recover', 'reshare')),
    opener_id   INTEGER NOT NULL,
    opener      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    reenroll    INTEGER NOT NULL DEFAULT 0,
    public_key  BLOB    NOT NULL CHECK (length(public_key) = 32),
    opened_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'void'))
);

-- Shares released by agents to a request: HPKE(request's one-time key, share). Deleted when
-- the request is carried out or voided.
CREATE TABLE agent_releases (
    request_id  INTEGER NOT NULL REFERENCES agent_requests (id),
    agent_id    INTEGER NOT NULL REFERENCES recovery_agents (id),
    key_id      INTEGER NOT NULL REFERENCES escrowed_keys (id),
    sealed      BLOB    NOT NULL,
    released_at INTEGER NOT NULL,
    PRIMARY KEY (request_id, agent_id, key_id)
);
