-- 0009_admin_totp (PostgreSQL): an optional TOTP second factor per administrator (the
-- secret sealed under a key derived from the CA key); the translation of
-- migrations/0009_admin_totp.sql.
-- Never edit this file after it has landed: add a new numbered file instead.

ALTER TABLE admins ADD COLUMN totp_secret BYTEA;
ALTER TABLE admins ADD COLUMN totp_last_step BIGINT;
