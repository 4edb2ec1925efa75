-- 0012_signin_failures (PostgreSQL): failed sign-ins counted per hour; the translation of
-- migrations/0012_signin_failures.sql.
-- Never edit this file after it has landed: add a new numbered file instead.

CREATE TABLE signin_failures (
    hour     BIGINT  PRIMARY KEY,  -- Unix seconds of the hour's start
    failures BIGINT  NOT NULL
);
