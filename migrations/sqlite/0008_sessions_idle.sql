-- 0008_sessions_idle: a session's last use, for the idle timeout beside the absolute lifetime
-- (owned by crates/authority, src/admins.rs). NULL (sessions opened before this migration)
-- counts as the session's creation time.
-- Never edit this file after it has landed: add a new numbered file instead.

ALTER TABLE sessions ADD COLUMN last_used_at INTEGER;
