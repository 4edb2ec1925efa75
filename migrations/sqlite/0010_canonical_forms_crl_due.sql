-- 0010_canonical_forms_crl_due: the CRL state says when a re-sign is due; e-mail addresses
-- get a canonical lookup key; serials are rewritten to their one canonical form.
-- Owned by crates/authority. Never edit this file after it has landed: add a new numbered
-- file instead.

-- 1 while a revocation committed that the served CRL does not list yet (set in the
-- revocation's own transaction, cleared by the re-sign that lists it).
ALTER TABLE crl_state ADD COLUMN due INTEGER NOT NULL DEFAULT 0 CHECK (due IN (0, 1));

-- The address as compared: local part case-folded, domain lower case (computed by the
-- authority's code for new rows; `email` keeps the spelling given, for display). Addresses
-- are ASCII (the authority checks RFC 5321's dot-atom syntax), so lower() is exact here.
ALTER TABLE users ADD COLUMN email_key TEXT;
UPDATE users SET email_key = lower(email);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

-- Serials: lower-case hex without leading zeros ("0" for zero). revocations.serial refers
-- to certificates.serial: both are rewritten, the reference checked at commit.
PRAGMA defer_foreign_keys = ON;
UPDATE revocations SET serial = CASE WHEN ltrim(lower(serial), '0') = '' THEN '0'
                                     ELSE ltrim(lower(serial), '0') END
 WHERE serial <> CASE WHEN ltrim(lower(serial), '0') = '' THEN '0'
                      ELSE ltrim(lower(serial), '0') END;
UPDATE certificates SET serial = CASE WHEN ltrim(lower(serial), '0') = '' THEN '0'
                                      ELSE ltrim(lower(serial), '0') END
 WHERE serial <> CASE WHEN ltrim(lower(serial), '0') = '' THEN '0'
                      ELSE ltrim(lower(serial), '0') END;
