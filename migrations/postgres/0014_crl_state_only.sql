-- 0014_crl_state_only (PostgreSQL): crl_state keeps only the published CRLs' state (a SHA-256
-- and an entry count of each); the translation of migrations/sqlite/0014_crl_state_only.sql
-- (see it for why). One difference: SQLite keeps the CRLs' bytes in files beside the store
-- (`DATA_DIR/crl/`), but the nodes sharing a PostgreSQL database share no directory, so here
-- the bytes live in the table crl_blobs (PostgreSQL only; crates/authority/src/crl_blobs.rs,
-- `DbCrlBlobs`), one row per CRL number. Owned by crates/authority.
-- Never edit this file after it has landed: add a new numbered file instead.

ALTER TABLE crl_state ADD COLUMN crl_sha256 BYTEA CHECK (crl_sha256 IS NULL OR octet_length(crl_sha256) = 32);
ALTER TABLE crl_state ADD COLUMN delta_sha256 BYTEA CHECK (delta_sha256 IS NULL OR octet_length(delta_sha256) = 32);
ALTER TABLE crl_state ADD COLUMN entries BIGINT;
ALTER TABLE crl_state ADD COLUMN delta_entries BIGINT;

-- The bytes are dropped, not moved (as on SQLite): the first unlock finds no CRL matching the
-- state and re-signs, numbered above every CRL published.
ALTER TABLE crl_state DROP COLUMN crl;
ALTER TABLE crl_state DROP COLUMN delta_crl;
UPDATE crl_state SET due = 1;

-- The published CRLs' bytes, keyed by kind and CRL number (numbers are never reused; the
-- state in crl_state says which one is served, older ones are pruned).
CREATE TABLE crl_blobs (
    kind    TEXT    NOT NULL CHECK (kind IN ('full', 'delta')),
    number  BIGINT  NOT NULL,
    der     BYTEA   NOT NULL,
    PRIMARY KEY (kind, number)
);
