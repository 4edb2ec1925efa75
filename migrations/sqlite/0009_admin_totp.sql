-- 0009_admin_totp: an optional TOTP second factor (RFC 6238) per administrator (owned by
-- crates/authority, src/totp.rs). `totp_secret` is the shared secret sealed with AES-256-GCM
-- (12-byte nonce || ciphertext || tag) under a key derived from the CA private key, with the
-- administrator's id as associated data; NULL means no second factor. `totp_last_step` is the
-- last time step accepted at sign-in: a code of that step or an earlier one is refused (replay).
-- Never edit this file after it has landed: add a new numbered file instead.

ALTER TABLE admins ADD COLUMN totp_secret BLOB;
ALTER TABLE admins ADD COLUMN totp_last_step INTEGER;
