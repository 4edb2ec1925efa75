-- 0010_canonical_forms_crl_due (PostgreSQL): the CRL re-sign flag, the canonical e-mail key,
-- serials in their one canonical form; the translation of
-- migrations/0010_canonical_forms_crl_due.sql. SQLite's `PRAGMA defer_foreign_keys` is
-- `SET CONSTRAINTS ... DEFERRED` on the reference made DEFERRABLE in 0002.
-- Never edit this file after it has landed: add a new numbered file instead.

ALTER TABLE crl_state ADD COLUMN due BIGINT NOT NULL DEFAULT 0 CHECK (due IN (0, 1));

ALTER TABLE users ADD COLUMN email_key TEXT;
UPDATE users SET email_key = lower(email);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

SET CONSTRAINTS revocations_serial_fkey DEFERRED;
UPDATE revocations SET serial = CASE WHEN ltrim(lower(serial), '0') = '' THEN '0'
                                     ELSE ltrim(lower(serial), '0') END
 WHERE serial <> CASE WHEN ltrim(lower(serial), '0') = '' THEN '0'
                      ELSE ltrim(lower(serial), '0') END;
UPDATE certificates SET serial = CASE WHEN ltrim(lower(serial), '0') = '' THEN '0'
                                      ELSE ltrim(lower(serial), '0') END
 WHERE serial <> CASE WHEN ltrim(lower(serial), '0') = '' THEN '0'
                      ELSE ltrim(lower(serial), '0') END;
