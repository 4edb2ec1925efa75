-- 0008_sessions_idle (PostgreSQL): a session's last use; the translation of
-- migrations/0008_sessions_idle.sql.
-- Never edit this file after it has landed: add a new numbered file instead.

ALTER TABLE sessions ADD COLUMN last_used_at BIGINT;
