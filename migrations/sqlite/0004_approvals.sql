-- 0004_approvals: quorum policies and approval requests (owned by crates/authority,
-- src/approvals.rs).
--
-- A quorum operation opens a request bound to its exact operation and target; distinct
-- administrators approve it; only approvals by accounts that still hold the administrator
-- role count. Never edit this file after it has landed: add a new numbered file instead.

CREATE TABLE policies (
    operation TEXT    PRIMARY KEY
              CHECK (operation IN ('recover-key', 'admin-change', 'policy-change', 'restore')),
    quorum    INTEGER NOT NULL CHECK (quorum >= 1)
);

CREATE TABLE approval_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    operation    TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    requested_by TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'done', 'cancelled')),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    closed_at    INTEGER
);

CREATE INDEX approval_requests_open ON approval_requests (operation, target, status);

CREATE TABLE approvals (
    request_id  INTEGER NOT NULL REFERENCES approval_requests (id),
    admin_name  TEXT    NOT NULL,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (request_id, admin_name)
);
