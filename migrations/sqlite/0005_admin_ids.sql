-- 0005_admin_ids: administrators are marked removed, never deleted, and approvals are keyed
-- by administrator id (owned by crates/authority, src/admins.rs and src/approvals.rs).
--
-- A removed account keeps its row (removed_at set) so that its id is never reused: a name
-- removed and added again is a new account, and approvals given by the removed one neither
-- count nor can be added. Names stay unique among accounts that are not removed (a partial
-- index replaces 0002's UNIQUE, which needs the table rebuilt). Open sessions are ended by
-- this migration (administrators sign in again after the upgrade).
-- Never edit this file after it has landed: add a new numbered file instead.

DELETE FROM sessions;

CREATE TABLE admins_v5 (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('administrator', 'officer', 'auditor')),
    password_hash TEXT    NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER,
    created_at    INTEGER NOT NULL,
    removed_at    INTEGER
);

INSERT INTO admins_v5 (id, name, role, password_hash, failed_logins, locked_until, created_at)
    SELECT id, name, role, password_hash, failed_logins, locked_until, created_at FROM admins;

-- Keep the id counter, so ids of accounts deleted before this migration are not reused.
-- (The copy above made admins_v5's counter row.)
UPDATE sqlite_sequence
    SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'admins'), 0))
    WHERE name = 'admins_v5';

DROP TABLE admins;
ALTER TABLE admins_v5 RENAME TO admins;

CREATE UNIQUE INDEX admins_live_name ON admins (name) WHERE removed_at IS NULL;

-- Approvals by administrator id. Rows of 0004's table whose name no longer belongs to an
-- account are not copied: before this migration a removed account's approvals did not count.
CREATE TABLE admin_approvals (
    request_id  INTEGER NOT NULL REFERENCES approval_requests (id),
    admin_id    INTEGER NOT NULL REFERENCES admins (id),
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (request_id, admin_id)
);

INSERT INTO admin_approvals (request_id, admin_id, approved_at)
    SELECT p.request_id, a.id, p.approved_at FROM approvals p JOIN admins a ON a.name = p.admin_name;
