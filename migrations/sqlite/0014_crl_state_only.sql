-- 0014_crl_state_only: the published CRLs' bytes leave the database (issue 17). Re-signing
-- a large CRL wrote it (and its delta) into crl_state, megabytes through SQLite's one
-- writer that revocations' small commits waited behind. The store now keeps only the CRLs'
-- state; their bytes are kept beside it (`DATA_DIR/crl/`, see
-- crates/authority/src/crl_blobs.rs), one file per CRL number, checked against this state
-- at unlock. Owned by crates/authority. Never edit this file after it has landed.

-- A SHA-256 of the full and the delta CRL the state names (NULL: none recorded), and how
-- many entries each lists.
ALTER TABLE crl_state ADD COLUMN crl_sha256 BLOB CHECK (crl_sha256 IS NULL OR length(crl_sha256) = 32);
ALTER TABLE crl_state ADD COLUMN delta_sha256 BLOB CHECK (delta_sha256 IS NULL OR length(delta_sha256) = 32);
ALTER TABLE crl_state ADD COLUMN entries INTEGER;
ALTER TABLE crl_state ADD COLUMN delta_entries INTEGER;

-- The bytes are dropped, not moved: the first unlock finds no CRL file matching the state
-- and re-signs, numbered above every CRL published (the numbers stay in number and
-- delta_number).
ALTER TABLE crl_state DROP COLUMN crl;
ALTER TABLE crl_state DROP COLUMN delta_crl;
UPDATE crl_state SET due = 1;
