-- 0007_governance (PostgreSQL): quorum invariants, requests bound to their opener, initial
-- passwords; the translation of migrations/0007_governance.sql. SQLite rebuilds `policies`
-- to drop the CHECK on the operation name; PostgreSQL drops the constraint.
-- Never edit this file after it has landed: add a new numbered file instead.

ALTER TABLE policies DROP CONSTRAINT policies_operation_check;

ALTER TABLE approval_requests ADD COLUMN opener_id BIGINT REFERENCES admins (id);
ALTER TABLE approval_requests ADD COLUMN why TEXT;
ALTER TABLE approval_requests ADD COLUMN params_salt BYTEA;
ALTER TABLE approval_requests ADD COLUMN params_digest BYTEA;

UPDATE approval_requests SET status = 'cancelled', closed_at = coalesce(closed_at, created_at)
    WHERE status = 'pending';

ALTER TABLE admins ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0;
