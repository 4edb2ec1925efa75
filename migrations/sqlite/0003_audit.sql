-- 0003_audit: the tamper-evident audit log (owned by crates/authority, src/audit.rs).
--
-- Every administrative action and every refusal is one row. Each row's hash is SHA-256 over
-- the previous row's hash and the row's canonical fields (see audit.rs), so an edited, removed
-- or reordered row breaks the chain; the CA signs the chain head from time to time
-- (audit_checkpoints) so that rewriting the whole tail is caught too. The triggers make the
-- table append-only for honest code; verification does not rely on them.
-- Never edit this file after it has landed: add a new numbered file instead.

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,   -- 1, 2, 3, ... without gaps
    at        INTEGER NOT NULL,      -- Unix seconds
    actor     TEXT    NOT NULL,      -- administrator name, or '-' when nobody signed in
    action    TEXT    NOT NULL,      -- e.g. user.add, admin.remove, login, unlock
    target    TEXT    NOT NULL,
    -- 'pending': a quorum operation was opened or counted, not yet carried out
    outcome   TEXT    NOT NULL CHECK (outcome IN ('ok', 'refused', 'pending')),
    detail    TEXT    NOT NULL,      -- for refusals and pending ones: the code and message
    prev_hash BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash      BLOB    NOT NULL CHECK (length(hash) = 32)
);

CREATE INDEX audit_log_at ON audit_log (at);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- The chain head as signed by the CA key (RSA PKCS#1 v1.5, SHA-256) over
-- "kms-audit-head" || seq (8 bytes, big-endian) || hash.
CREATE TABLE audit_checkpoints (
    seq       INTEGER PRIMARY KEY,
    hash      BLOB    NOT NULL CHECK (length(hash) = 32),
    signature BLOB    NOT NULL,
    signed_at INTEGER NOT NULL
);
