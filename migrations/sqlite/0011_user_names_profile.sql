-- 0011_user_names_profile: users gain the name parts a sponsor-validated S/MIME certificate
-- carries in its subject (givenName, surname, or a pseudonym instead) and their own
-- certificate profile (NULL: the authority's `profile` setting in kmsd.toml).
-- Owned by crates/authority. Never edit this file after it has landed: add a new numbered
-- file instead.

ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN surname TEXT;
ALTER TABLE users ADD COLUMN pseudonym TEXT;
ALTER TABLE users ADD COLUMN profile TEXT;
