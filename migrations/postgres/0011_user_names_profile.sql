-- 0011_user_names_profile (PostgreSQL): the name parts of a sponsor-validated subject and a
-- per-user profile; the translation of migrations/0011_user_names_profile.sql.
-- Never edit this file after it has landed: add a new numbered file instead.

ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN surname TEXT;
ALTER TABLE users ADD COLUMN pseudonym TEXT;
ALTER TABLE users ADD COLUMN profile TEXT;
