-- 0002_authority: the certification authority's own tables (owned by crates/authority).
--
-- Nothing here is secret: private keys live only in escrowed_keys (0001). Tokens and session
-- ids are stored as SHA-256 hashes, admin passwords as Argon2id hashes. Times are Unix seconds.
-- Never edit this file after it has landed: add a new numbered file instead.

-- Key/value settings (public_url, ...).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The CA: one row. Its private key is escrowed with usage 'ca' (escrowed_key_id).
CREATE TABLE ca (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    certificate     BLOB    NOT NULL,
    escrowed_key_id INTEGER NOT NULL REFERENCES escrowed_keys (id),
    created_at      INTEGER NOT NULL
);

CREATE TABLE admins (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL CHECK (role IN ('administrator', 'officer', 'auditor')),
    password_hash TEXT    NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash BLOB    PRIMARY KEY CHECK (length(token_hash) = 32),
    admin_id   INTEGER NOT NULL REFERENCES admins (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE users (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    email        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    name         TEXT    NOT NULL,
    -- comma-separated algorithm names (pki::ContentAlgorithm), strongest first
    capabilities TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at   INTEGER NOT NULL
);

-- One-time enrollment tokens, stored as SHA-256 of the token.
CREATE TABLE tokens (
    token_hash BLOB    PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    -- set by a renewal with a new key: the escrowed encryption key (already certified) that
    -- this token's enrollment hands to the user instead of making another
    pending_key_id INTEGER REFERENCES escrowed_keys (id)
);

CREATE INDEX tokens_user ON tokens (user_id);

-- Every certificate issued (the CA's own is in `ca`).
CREATE TABLE certificates (
    serial          TEXT    PRIMARY KEY,  -- lower-case hex, no leading zeros
    user_id         INTEGER REFERENCES users (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('signing', 'encryption', 'tls')),
    der             BLOB    NOT NULL,
    not_before      INTEGER NOT NULL,
    not_after       INTEGER NOT NULL,
    escrowed_key_id INTEGER REFERENCES escrowed_keys (id),
    issued_at       INTEGER NOT NULL,
    -- set when a renewal replaced this certificate (it is not revoked for that)
    superseded_at   INTEGER
);

CREATE INDEX certificates_user ON certificates (user_id, kind, issued_at);

CREATE TABLE revocations (
    serial     TEXT    PRIMARY KEY REFERENCES certificates (serial),
    reason     TEXT    NOT NULL,
    revoked_at INTEGER NOT NULL,
    -- the number of the first full CRL that lists it (delta CRLs list those newer than a base)
    crl_number INTEGER NOT NULL
);

-- The CRLs as last signed (one row), served while the authority is locked too.
CREATE TABLE crl_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    number      INTEGER NOT NULL,   -- the full CRL's number
    delta_number INTEGER NOT NULL,
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    crl         BLOB    NOT NULL,
    delta_crl   BLOB    NOT NULL
);
