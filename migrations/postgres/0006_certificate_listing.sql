-- 0006_certificate_listing (PostgreSQL): the covering index for certificate listings and
-- the audit search by action; the translation of migrations/0006_certificate_listing.sql.
-- Never edit this file after it has landed: add a new numbered file instead.

CREATE INDEX certificates_listing ON certificates
    (issued_at, serial, user_id, kind, not_before, not_after, superseded_at);

CREATE INDEX audit_log_action ON audit_log (action, seq);
