-- 0007_governance: quorum invariants over every operation of the registry, approval requests
-- bound to their opener and parameters, and administrators who must change an initial
-- password (owned by crates/authority, src/approvals.rs, src/governance.rs, src/admins.rs).
--
-- `policies` loses 0004's CHECK on the operation name (the authority checks names against
-- its registry, which grows: reenroll, unlock-method, public-url, backup-schedule,
-- agent-change, hsm); SQLite cannot drop a CHECK, so the table is rebuilt. A request records
-- its opener's account id (only the opener carries it out), an optional reason, and a salted
-- SHA-256 digest of the parameters it carries (salt and digest are cleared when it closes).
-- Never edit this file after it has landed: add a new numbered file instead.

CREATE TABLE policies_v7 (
    operation TEXT    PRIMARY KEY,
    quorum    INTEGER NOT NULL CHECK (quorum >= 1)
);
INSERT INTO policies_v7 (operation, quorum) SELECT operation, quorum FROM policies;
DROP TABLE policies;
ALTER TABLE policies_v7 RENAME TO policies;

ALTER TABLE approval_requests ADD COLUMN opener_id INTEGER REFERENCES admins (id);
ALTER TABLE approval_requests ADD COLUMN why TEXT;
ALTER TABLE approval_requests ADD COLUMN params_salt BLOB;
ALTER TABLE approval_requests ADD COLUMN params_digest BLOB;

-- Requests opened before this migration have no opener: nobody can carry them out.
UPDATE approval_requests SET status = 'cancelled', closed_at = coalesce(closed_at, created_at)
    WHERE status = 'pending';

ALTER TABLE admins ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
