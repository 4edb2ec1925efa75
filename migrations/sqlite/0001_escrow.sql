-- 0001_escrow: the key-escrow core (owned by crates/escrow).
--
-- Applied once, in one transaction, by crates/escrow/src/migrate.rs, which also owns the
-- `schema_migrations` version table. Never edit this file after it has landed: add a new
-- numbered file instead (the store refuses to open if a landed migration changed).

-- One row: the identity of this store. A restored backup keeps the same store_id.
CREATE TABLE store_meta (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    store_id    BLOB    NOT NULL CHECK (length(store_id) = 16),
    created_at  INTEGER NOT NULL DEFAULT (unixepoch())
);

-- The master key, wrapped once per unlock method. Nothing here is secret on its own:
-- `wrapped_key` is AES-256-GCM(KEK, master key) with the method's id, kind and parameters as
-- associated data; the KEK comes from Argon2id(password, salt) or HKDF(key-file secret, salt).
CREATE TABLE unlock_methods (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL CHECK (kind IN ('password', 'key_file')),
    label        TEXT    NOT NULL,
    -- key_file: the public id written in the key file's header (16 bytes); NULL for passwords.
    key_file_id  BLOB    CHECK (key_file_id IS NULL OR length(key_file_id) = 16),
    -- password: Argon2id parameters (memory in KiB, iterations, lanes); NULL for key files.
    argon2_m_kib INTEGER,
    argon2_t     INTEGER,
    argon2_p     INTEGER,
    salt         BLOB    NOT NULL CHECK (length(salt) >= 16),
    nonce        BLOB    NOT NULL CHECK (length(nonce) = 12),
    wrapped_key  BLOB    NOT NULL CHECK (length(wrapped_key) = 48),
    created_at   INTEGER NOT NULL DEFAULT (unixepoch()),
    CHECK ((kind = 'password' AND key_file_id IS NULL
            AND argon2_m_kib IS NOT NULL AND argon2_t IS NOT NULL AND argon2_p IS NOT NULL)
        OR (kind = 'key_file' AND key_file_id IS NOT NULL
            AND argon2_m_kib IS NULL AND argon2_t IS NULL AND argon2_p IS NULL))
);

CREATE UNIQUE INDEX unlock_methods_key_file_id ON unlock_methods (key_file_id)
    WHERE key_file_id IS NOT NULL;

-- Every private key the authority ever escrowed, encrypted with AES-256-GCM under a subkey of
-- the master key; (id, owner, usage) are the associated data, so a row edited or moved to
-- another owner no longer decrypts. `certificate` is the public certificate (DER), in clear.
CREATE TABLE escrowed_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner       TEXT    NOT NULL CHECK (length(owner) > 0),
    usage       TEXT    NOT NULL CHECK (length(usage) > 0),
    created_at  INTEGER NOT NULL,
    scheme      INTEGER NOT NULL DEFAULT 1,
    nonce       BLOB    NOT NULL CHECK (length(nonce) = 12),
    ciphertext  BLOB    NOT NULL CHECK (length(ciphertext) > 16),
    certificate BLOB
);

-- An owner's whole history, oldest first.
CREATE INDEX escrowed_keys_owner ON escrowed_keys (owner, id);

-- Escrowed keys are never lost: no row is ever deleted.
CREATE TRIGGER escrowed_keys_no_delete BEFORE DELETE ON escrowed_keys
BEGIN
    SELECT RAISE(ABORT, 'escrowed keys are never deleted');
END;
