-- 0006_certificate_listing: a covering index for the certificate listings, searches and
-- status counts (crates/authority/src/views.rs), so they read the index instead of every
-- table row with its DER. Measured by `cargo bench -p kmsd --bench console` (100 000
-- certificates). Never edit this file after it has landed: add a new numbered file instead.

CREATE INDEX certificates_listing ON certificates
    (issued_at, serial, user_id, kind, not_before, not_after, superseded_at);

-- The last backup verification on the dashboard, and audit searches by action.
CREATE INDEX audit_log_action ON audit_log (action, seq);
