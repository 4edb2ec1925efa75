-- 0003_audit (PostgreSQL): the tamper-evident audit log; the translation of
-- migrations/0003_audit.sql (see it and crates/authority/src/audit.rs for the chain).
-- Never edit this file after it has landed: add a new numbered file instead.

CREATE TABLE audit_log (
    seq       BIGINT  PRIMARY KEY,   -- 1, 2, 3, ... without gaps (written by the authority)
    at        BIGINT  NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    outcome   TEXT    NOT NULL CHECK (outcome IN ('ok', 'refused', 'pending')),
    detail    TEXT    NOT NULL,
    prev_hash BYTEA   NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash      BYTEA   NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = '23001';
END
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- Statement-level, so that TRUNCATE is refused too.
CREATE TRIGGER audit_log_no_delete BEFORE DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE audit_checkpoints (
    seq       BIGINT  PRIMARY KEY,
    hash      BYTEA   NOT NULL CHECK (octet_length(hash) = 32),
    signature BYTEA   NOT NULL,
    signed_at BIGINT  NOT NULL
);
