-- 0005_admin_ids (PostgreSQL): administrators are marked removed, never deleted, and
-- approvals are keyed by administrator id; the translation of migrations/0005_admin_ids.sql.
-- SQLite rebuilds `admins` to drop its UNIQUE (keeping the id counter by hand); PostgreSQL
-- adds the column and drops the named constraint, and the identity keeps counting.
-- Never edit this file after it has landed: add a new numbered file instead.

DELETE FROM sessions;

ALTER TABLE admins ADD COLUMN removed_at BIGINT;
ALTER TABLE admins DROP CONSTRAINT admins_name_unique;

CREATE UNIQUE INDEX admins_live_name ON admins (name) WHERE removed_at IS NULL;

CREATE TABLE admin_approvals (
    request_id  BIGINT  NOT NULL REFERENCES approval_requests (id),
    admin_id    BIGINT  NOT NULL REFERENCES admins (id),
    approved_at BIGINT  NOT NULL,
    PRIMARY KEY (request_id, admin_id)
);

INSERT INTO admin_approvals (request_id, admin_id, approved_at)
    SELECT p.request_id, a.id, p.approved_at FROM approvals p JOIN admins a ON a.name = p.admin_name;
