-- 0012_signin_failures: failed administrator sign-ins counted per hour (UTC), for the
-- dashboard's "failed sign-ins in the last day" (crates/authority/src/signin.rs). A counter,
-- not a reading of the audit log, which is capped. Rows older than 90 days are dropped as new
-- ones are written. Owned by crates/authority. Never edit this file after it has landed: add a
-- new numbered file instead.

CREATE TABLE signin_failures (
    hour     INTEGER PRIMARY KEY,  -- Unix seconds of the hour's start
    failures INTEGER NOT NULL
);
