//! The API's OpenAPI 3.1 description, served at `/api/v1/openapi.json`. Written by hand next
//! to the routes; a test checks that every route of the router is described.

use serde_json::{Value, json};

fn error_responses(codes: &[(&str, &str)]) -> Value {
    let mut m = serde_json::Map::new();
    for (status, why) in codes {
        m.insert(
            (*status).into(),
            json!({ "description": why, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }),
        );
    }
    Value::Object(m)
}

fn op(
    summary: &str,
    secured: bool,
    body: Option<Value>,
    ok: Value,
    errors: &[(&str, &str)],
) -> Value {
    let mut responses = error_responses(errors);
    responses["200"] =
        json!({ "description": "success", "content": { "application/json": { "schema": ok } } });
    if secured {
        responses["401"] = json!({ "description": "not signed in (AUTH-003)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
        responses["423"] = json!({ "description": "the authority is locked (KMS-423)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    }
    let mut o = json!({ "summary": summary, "responses": responses });
    if secured {
        o["security"] = json!([{ "session": [] }]);
    }
    if let Some(b) = body {
        o["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": b } } });
    }
    o
}

fn obj(props: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "additionalProperties": false, "properties": props, "required": required })
}

fn email_param() -> Value {
    json!([{ "name": "email", "in": "path", "required": true, "schema": { "type": "string", "format": "email" } }])
}

/// The document.
pub fn document() -> Value {
    let s = json!({ "type": "string" });
    let user = json!({ "$ref": "#/components/schemas/User" });
    let bad = ("400", "malformed request (KMS-400, AUTH-009)");
    let nouser = ("404", "no such user (AUTH-005)");
    let mut users_item = serde_json::Map::new();
    users_item.insert(
        "get".into(),
        op(
            "A user and their certificates",
            true,
            None,
            json!({ "type": "object" }),
            &[nouser],
        ),
    );
    users_item.insert("parameters".into(), email_param());
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": { "title": "kmsd", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Key management server and S/MIME certification authority. Errors are {\"error\": {\"code\", \"message\"}}; request bodies are limited to 64 KiB (413, KMS-413)." },
        "components": {
            "securitySchemes": { "session": { "type": "http", "scheme": "bearer", "description": "session token from POST /api/v1/login" } },
            "schemas": {
                "Error": obj(json!({ "error": obj(json!({ "code": s, "message": s }), &["code", "message"]) }), &["error"]),
                "User": obj(json!({ "email": s, "name": s, "capabilities": { "type": "array", "items": s }, "status": { "enum": ["active", "disabled"] }, "created_at": { "type": "integer" } }), &["email", "name", "capabilities", "status", "created_at"]),
            }
        },
        "paths": {
            "/api/v1/unlock": { "post": op("Unlock the authority", false,
                Some(json!({ "type": "object", "properties": { "password": s, "key_file": { "type": "string", "contentEncoding": "base64" } }, "description": "exactly one of password, key_file" })),
                json!({ "type": "object" }), &[bad, ("403", "wrong password or key file (AUTH-014)"), ("409", "unlocked already")]) },
            "/api/v1/login": { "post": op("Sign in", false, Some(obj(json!({ "name": s, "password": s }), &["name", "password"])),
                obj(json!({ "token": s, "expires_at": { "type": "integer" }, "admin": { "type": "object" } }), &["token", "expires_at"]),
                &[bad, ("401", "wrong name or password (AUTH-001)"), ("429", "locked out (AUTH-002)"), ("423", "the authority is locked")]) },
            "/api/v1/logout": { "post": op("Sign out", true, None, json!({ "type": "object" }), &[]) },
            "/api/v1/users": {
                "post": op("Add a user; returns the one-time enrollment token", true,
                    Some(obj(json!({ "email": s, "name": s, "capabilities": { "type": "array", "items": s } }), &["email", "name"])),
                    obj(json!({ "user": user, "enrollment_token": s, "token_expires_at": { "type": "integer" } }), &["user", "enrollment_token"]),
                    &[bad, ("409", "the user exists (AUTH-006)")]),
                "get": op("List users", true, None, obj(json!({ "users": { "type": "array", "items": user } }), &["users"]), &[]),
            },
            "/api/v1/users/{email}": Value::Object(users_item),
            "/api/v1/users/{email}/disable": { "parameters": email_param(), "post": op("Disable a user", true, None, json!({ "type": "object" }), &[nouser]) },
            "/api/v1/users/{email}/token": { "parameters": email_param(), "post": op("A new enrollment token", true, None,
                obj(json!({ "enrollment_token": s, "token_expires_at": { "type": "integer" } }), &["enrollment_token"]), &[nouser, ("403", "the user is disabled (AUTH-007)")]) },
            "/api/v1/enroll": { "post": op("Enroll with a one-time token and the signing key's PKCS#10 request (PEM)", false,
                Some(obj(json!({ "token": s, "csr": s }), &["token", "csr"])),
                obj(json!({ "signing_certificate": s, "encryption_certificate": s, "ca_certificate": s, "encrypted_key": { "type": "string", "description": "PEM ENCRYPTED PRIVATE KEY (PKCS#8, PBES2 PBKDF2-SHA256 AES-256-CBC) under the token" } }),
                    &["signing_certificate", "encryption_certificate", "ca_certificate", "encrypted_key"]),
                &[bad, ("403", "token unknown, used or expired (AUTH-008), user disabled (AUTH-007)"), ("422", "request refused (AUTH-010)"), ("423", "the authority is locked")]) },
            "/api/v1/directory/{email}": { "parameters": email_param(), "get": op("A user's current encryption certificate (certificate), signing certificate and capabilities", false, None,
                obj(json!({ "email": s, "capabilities": { "type": "array", "items": s }, "certificate": s, "signing_certificate": { "type": ["string", "null"], "description": "PEM; null while the user has no current signing certificate" } }), &["email", "capabilities", "certificate"]),
                &[("404", "no such user (AUTH-005), or not enrolled / all revoked (AUTH-012)"), ("403", "the user is disabled (AUTH-007)")]) },
            "/api/v1/revoke": { "post": op("Revoke a user's certificates or one by serial", true,
                Some(json!({ "type": "object", "properties": { "email": s, "serial": s, "reason": { "enum": ["unspecified", "keyCompromise", "caCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold", "privilegeWithdrawn"] } }, "description": "exactly one of email, serial" })),
                obj(json!({ "revoked": { "type": "array", "items": s }, "reason": s }), &["revoked"]),
                &[bad, nouser, ("409", "nothing to revoke (AUTH-013)")]) },
            "/api/v1/renew": { "post": op("Renew a user's certificates, or all users' (with within: only certificates expiring within that many seconds); users not enrolled, revoked or disabled are skipped; new_key: a new escrowed encryption key now, and an enrollment token to collect it", true,
                Some(json!({ "type": "object", "properties": { "email": s, "all": { "type": "boolean" }, "new_key": { "type": "boolean" }, "within": { "type": "integer", "minimum": 0, "description": "seconds; with all" }, "confirm": { "type": "boolean" } } })),
                obj(json!({ "renewed": { "type": "array" }, "failed": { "type": "array", "items": { "type": "object", "properties": { "email": s, "code": s, "message": s } } }, "skipped": { "type": "array", "items": { "type": "object", "properties": { "email": s, "reason": { "enum": ["not enrolled", "revoked", "disabled", "not expiring within the window"] } } } } }), &["renewed", "failed", "skipped"]),
                &[bad, nouser]) },
            "/api/v1/ca": { "get": { "summary": "CA certificate (PEM)", "responses": { "200": { "description": "PEM", "content": { "application/x-pem-file": {} } } } } },
            "/api/v1/crl": { "get": { "summary": "Full CRL (DER)", "responses": { "200": { "description": "DER", "content": { "application/pkix-crl": {} } } } } },
            "/api/v1/crl/delta": { "get": { "summary": "Delta CRL (DER)", "responses": { "200": { "description": "DER", "content": { "application/pkix-crl": {} } } } } },
            "/api/v1/openapi.json": { "get": { "summary": "This document", "responses": { "200": { "description": "OpenAPI 3.1" } } } },
        }
    });
    extra_paths(&mut doc);
    view_paths(&mut doc);
    doc
}

/// Paths added with the roles, audit and approval work (kept apart: `json!` has a recursion
/// limit).
fn extra_paths(doc: &mut Value) {
    let s = json!({ "type": "string" });
    let bad = ("400", "malformed request (KMS-400, AUTH-009)");
    let forbidden = (
        "403",
        "the role does not allow this (AUTH-004; the message names the role)",
    );
    let admin = obj(
        json!({ "name": s, "role": { "enum": ["administrator", "officer", "auditor"] }, "created_at": { "type": "integer" }, "locked_until": { "type": ["integer", "null"] } }),
        &["name", "role", "created_at"],
    );
    let paths = &mut doc["paths"];
    paths["/api/v1/admins"] = json!({
        "post": op("Add an administrator account (administrator role)", true,
            Some(obj(json!({ "name": s, "role": { "enum": ["administrator", "officer", "auditor"] }, "password": s }), &["name", "role", "password"])),
            obj(json!({ "admin": admin }), &["admin"]),
            &[bad, forbidden, ("409", "the name exists (AUTH-020)")]),
        "get": op("List administrator accounts", true, None,
            obj(json!({ "admins": { "type": "array", "items": admin } }), &["admins"]), &[]),
    });
    let entry = obj(
        json!({ "seq": { "type": "integer" }, "at": { "type": "integer" }, "actor": s, "action": s, "target": s, "outcome": { "enum": ["ok", "refused", "pending"] }, "detail": s, "hash": s }),
        &[
            "seq", "at", "actor", "action", "target", "outcome", "detail", "hash",
        ],
    );
    paths["/api/v1/audit"] = json!({
        "parameters": [{ "name": "since", "in": "query", "required": false, "schema": { "type": "integer" }, "description": "Unix seconds" }],
        "get": op("Audit log entries, oldest first (any role)", true, None,
            obj(json!({ "entries": { "type": "array", "items": entry } }), &["entries"]), &[bad]),
    });
    paths["/api/v1/audit/verify"] = json!({
        "get": op("Verify the audit chain and its CA-signed checkpoints (any role)", true, None,
            json!({ "type": "object", "properties": { "entries": { "type": "integer" }, "checkpoints": { "type": "integer" }, "signed_through": { "type": ["integer", "null"] }, "ok": { "type": "boolean" }, "problem": { "type": ["object", "null"], "properties": { "seq": { "type": "integer" }, "kind": { "enum": ["altered", "removed", "reordered", "checkpoint"] }, "message": s } } } }),
            &[]),
    });
    paths["/api/v1/audit/sign"] = json!({
        "post": op("Sign the audit chain head with the CA key now (administrator role)", true, None,
            obj(json!({ "signed_through": { "type": ["integer", "null"] } }), &["signed_through"]), &[forbidden]),
    });
    let pending = (
        "202",
        "waiting for approvals (AUTH-023): the body also has status \"pending\", request_id, approved_by, needed",
    );
    let request = json!({ "type": "object", "properties": { "id": { "type": "integer" }, "operation": s, "target": s, "requested_by": s, "status": { "enum": ["pending", "done", "cancelled", "expired"] }, "approved_by": { "type": "array", "items": s }, "needed": { "type": "integer" }, "expires_at": { "type": "integer" } } });
    let id_param =
        json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }]);
    let refused = ("409", "approval refused (AUTH-024)");
    let noreq = ("404", "no such request (AUTH-025)");
    paths["/api/v1/policies"] = json!({
        "get": op("Quorum policies (any role)", true, None, obj(json!({ "policies": { "type": "array" } }), &["policies"]), &[]),
    });
    paths["/api/v1/policies/{operation}"] = json!({
        "parameters": [{ "name": "operation", "in": "path", "required": true, "schema": { "enum": authority::OPERATIONS } }],
        "post": op("Set an operation's quorum (administrator role, under the policy-change quorum)", true,
            Some(obj(json!({ "quorum": { "type": "integer", "minimum": 1 } }), &["quorum"])),
            obj(json!({ "policy": { "type": "object" }, "raised": { "type": "array" } }), &["policy", "raised"]), &[bad, forbidden, pending]),
    });
    paths["/api/v1/approvals"] = json!({
        "get": op("Open approval requests (any role)", true, None, obj(json!({ "requests": { "type": "array", "items": request } }), &["requests"]), &[]),
    });
    paths["/api/v1/approvals/{id}/approve"] = json!({
        "parameters": id_param,
        "post": op("Approve a request (administrator role)", true, None, obj(json!({ "request": request }), &["request"]), &[bad, forbidden, noreq, refused]),
    });
    paths["/api/v1/approvals/{id}/cancel"] = json!({
        "parameters": id_param,
        "post": op("Cancel a request (administrator role)", true, None, obj(json!({ "request": request }), &["request"]), &[bad, forbidden, noreq, refused]),
    });
    paths["/api/v1/users/{email}/recover"] = json!({
        "parameters": email_param(),
        "post": op("Recover every encryption key the user ever had, as one PKCS#12 under the given password (administrator role, under the recover-key quorum)", true,
            Some(json!({ "type": "object", "additionalProperties": false, "properties": { "password": s, "reenroll": { "type": "boolean" }, "why": { "type": "string", "maxLength": authority::WHY_MAX } }, "required": ["password"] })),
            obj(json!({ "pkcs12": { "type": "string", "contentEncoding": "base64" }, "keys": { "type": "integer" }, "enrollment_token": s, "token_expires_at": { "type": "integer" } }), &["pkcs12", "keys"]),
            &[bad, forbidden, pending, ("404", "no such user (AUTH-005) or no escrowed key (AUTH-012)")]),
    });
    let backup = obj(
        json!({ "name": s, "path": s, "bytes": { "type": "integer" } }),
        &["name", "path", "bytes"],
    );
    paths["/api/v1/backups"] = json!({
        "post": op("Take an encrypted backup into DATA_DIR/backups now (administrator role)", true, None,
            obj(json!({ "backup": backup, "path": s }), &["backup", "path"]), &[forbidden]),
        "get": op("Backups in DATA_DIR/backups, oldest first", true, None,
            obj(json!({ "backups": { "type": "array", "items": backup } }), &["backups"]), &[]),
    });
    let schedule = obj(
        json!({ "enabled": { "type": "boolean" }, "every": { "type": ["integer", "null"], "description": "seconds between scheduled backups; null: off" }, "keep": { "type": "integer" }, "next_at": { "type": ["integer", "null"] }, "last_at": { "type": ["integer", "null"] }, "source": { "enum": ["setting", "config"] } }),
        &["enabled", "every", "keep", "next_at", "last_at"],
    );
    paths["/api/v1/backups/schedule"] = json!({
        "get": op("The backup schedule in effect (the backup-schedule setting, else kmsd.toml)", true, None,
            obj(json!({ "schedule": schedule }), &["schedule"]), &[]),
        "post": op("Set the backup schedule (administrator role, under the backup-schedule quorum); it wins over kmsd.toml from then on", true,
            Some(json!({ "type": "object", "additionalProperties": false, "properties": { "every": { "type": ["integer", "null"], "minimum": 60, "description": "seconds; null turns the schedule off" }, "keep": { "type": "integer", "minimum": 1, "maximum": 10000 } }, "required": ["every"] })),
            obj(json!({ "schedule": schedule }), &["schedule"]), &[bad, forbidden, pending]),
    });
    paths["/api/v1/backups/verify"] = json!({
        "post": op("Check a backup completely with the master key in memory: chunks, SQLite integrity, every key, the audit chain inside", true,
            Some(obj(json!({ "name": s }), &["name"])),
            json!({ "type": "object" }), &[bad]),
    });
    paths["/api/v1/backups/{name}/restore"] = json!({
        "parameters": [{ "name": "name", "in": "path", "required": true, "schema": s, "description": "a name from GET /api/v1/backups (a file in DATA_DIR/backups)" }],
        "post": op("Restore a backup over the live store (administrator role, under the restore quorum). The backup is checked completely first and a safety backup of the live store is taken; then the database is replaced in one step. Everything written after the backup is gone; every session ends (sign in again); the audit log is the backup's followed by a restore entry naming the replaced chain head and the safety backup, which holds the later entries. Revocations are kept and the CRL is re-signed with a higher number", true, None,
            obj(json!({ "backup": s, "keys": { "type": "integer" }, "safety_backup": s, "replaced_head_seq": { "type": "integer" }, "replaced_head_hash": s, "restore_entry": { "type": "integer" }, "revocations_carried": { "type": "integer", "description": "revocations made after the backup, kept: a revoked certificate never becomes valid again" } }),
                &["backup", "keys", "safety_backup", "replaced_head_seq", "replaced_head_hash", "restore_entry"]),
            &[bad, forbidden, pending, ("422", "the backup is damaged or not of this store (ESCROW-013); nothing changed")]),
    });
    paths["/api/v1/unlock-methods"] = json!({
        "get": op("Start-up secrets that unlock the store (no secret material)", true, None,
            obj(json!({ "methods": { "type": "array" } }), &["methods"]), &[]),
        "post": op("Add a start-up password or a new key file (administrator role, under the admin-change quorum)", true,
            Some(json!({ "type": "object", "additionalProperties": false, "properties": { "password": s, "key_file": { "type": "boolean" } }, "description": "exactly one of password, key_file: true" })),
            json!({ "type": "object", "properties": { "method": { "type": "object" }, "key_file": { "type": "string", "contentEncoding": "base64", "description": "the new key file (secret): store it" } } }),
            &[bad, forbidden, pending]),
    });
    paths["/api/v1/unlock-methods/{id}/remove"] = json!({
        "parameters": id_param,
        "post": op("Remove a start-up secret (administrator role, under the admin-change quorum)", true, None,
            obj(json!({ "removed": { "type": "integer" } }), &["removed"]),
            &[bad, forbidden, pending, ("409", "the last unlock method (AUTH-016 / ESCROW)")]),
    });
    paths["/api/v1/admins/{name}/remove"] = json!({
        "parameters": [{ "name": "name", "in": "path", "required": true, "schema": s }],
        "post": op("Remove an administrator account and end its sessions (administrator role)", true, None,
            obj(json!({ "removed": admin }), &["removed"]),
            &[forbidden, ("404", "no such administrator (AUTH-021)"), ("409", "the last administrator (AUTH-022)")]),
    });
}

/// Paths of the read views (status, certificate, user and audit searches) and the
/// administrators' self-service.
fn view_paths(doc: &mut Value) {
    let s = json!({ "type": "string" });
    let int = json!({ "type": "integer" });
    let bad = ("400", "malformed request or filter (KMS-400, AUTH-009)");
    let forbidden = (
        "403",
        "the role does not allow this (AUTH-004; the message names the role)",
    );
    let pending = (
        "202",
        "waiting for approvals (AUTH-023): the body also has status \"pending\", request_id, approved_by, needed",
    );
    let qp = |name: &str, schema: Value, what: &str| json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": what });
    let paging = [
        qp(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": 500 }),
            "rows per page (default 50)",
        ),
        qp(
            "offset",
            json!({ "type": "integer", "minimum": 0 }),
            "rows to skip",
        ),
    ];
    let dir = qp("dir", json!({ "enum": ["asc", "desc"] }), "sort direction");
    let page = |key: &str, item: Value| {
        let mut props = serde_json::Map::new();
        props.insert("total".into(), json!({ "type": "integer" }));
        props.insert("offset".into(), json!({ "type": "integer" }));
        props.insert("limit".into(), json!({ "type": "integer" }));
        props.insert(key.into(), json!({ "type": "array", "items": item }));
        json!({ "type": "object", "properties": props, "required": ["total", key] })
    };
    let cert_row = json!({ "type": "object", "properties": {
        "serial": s, "email": { "type": ["string", "null"] }, "kind": { "enum": ["signing", "encryption", "tls"] },
        "status": { "enum": ["active", "revoked", "expired", "superseded"] }, "not_before": int, "not_after": int,
        "issued_at": int, "revocation_reason": { "type": ["string", "null"] } } });
    let serial_param = json!([{ "name": "serial", "in": "path", "required": true, "schema": s, "description": "hex; colons and 0x allowed" }]);
    let nocert = ("404", "no certificate with that serial (AUTH-011)");
    let paths = &mut doc["paths"];
    paths["/api/v1/status"] = json!({
        "get": op("The authority at a glance: CA, user and certificate counts, CRLs, last backup and its verification, pending approvals (any role)", true, None,
            json!({ "type": "object", "properties": {
                "ca_subject": s, "ca_not_after": int,
                "users": { "type": "object", "properties": { "active": int, "disabled": int } },
                "certificates": { "type": "object", "properties": { "active": int, "revoked": int, "expired": int, "superseded": int } },
                "crl": { "type": "object", "properties": { "number": int, "delta_number": int, "this_update": int, "next_update": int, "delta_this_update": int, "delta_next_update": int } },
                "last_backup": { "type": ["object", "null"], "properties": { "name": s, "taken_at": { "type": ["integer", "null"] }, "bytes": int } },
                "last_verification": { "type": ["object", "null"], "properties": { "at": int, "actor": s, "backup": s, "ok": { "type": "boolean" }, "summary": s } },
                "pending_approvals": int,
                "backup_schedule": { "type": "object", "properties": { "enabled": { "type": "boolean" }, "every": { "type": ["integer", "null"] }, "keep": int, "next_at": { "type": ["integer", "null"] }, "last_at": { "type": ["integer", "null"] }, "source": s } } } }),
            &[]),
    });
    let mut cert_params = vec![
        qp("serial", s.clone(), "serial in hex, or its start"),
        qp("email", s.clone(), "part of the owner's address"),
        qp(
            "status",
            json!({ "enum": ["active", "revoked", "expired", "superseded"] }),
            "status",
        ),
        qp(
            "kind",
            json!({ "enum": ["signing", "encryption", "tls"] }),
            "kind",
        ),
        qp(
            "sort",
            json!({ "enum": ["serial", "email", "kind", "status", "not_before", "not_after", "issued_at"] }),
            "sort column (default issued_at, newest first)",
        ),
        dir.clone(),
    ];
    cert_params.extend(paging.iter().cloned());
    paths["/api/v1/certificates"] = json!({
        "parameters": cert_params,
        "get": op("Search certificates (any role)", true, None, page("certificates", cert_row.clone()), &[bad]),
    });
    paths["/api/v1/certificates/{serial}"] = json!({
        "parameters": serial_param,
        "get": op("One certificate in full: subject, issuer, validity, key usage, extended key usage, SAN e-mails, SMIMECapabilities, status, revocation, SHA-256 fingerprint, PEM (any role)", true, None,
            json!({ "type": "object", "properties": { "subject": s, "issuer": s, "key_usage": { "type": "array", "items": s },
                "extended_key_usage": { "type": "array", "items": s }, "emails": { "type": "array", "items": s },
                "capabilities": { "type": "array", "items": s }, "key_bits": int, "revoked_at": { "type": ["integer", "null"] },
                "sha256_fingerprint": s, "pem": s } }),
            &[bad, nocert]),
    });
    paths["/api/v1/certificates/{serial}/der"] = json!({
        "parameters": serial_param,
        "get": { "summary": "The certificate, DER (any role)", "security": [{ "session": [] }],
                 "responses": { "200": { "description": "DER", "content": { "application/pkix-cert": {} } },
                                "404": { "description": "no certificate with that serial (AUTH-011)" } } },
    });
    let mut user_params = vec![
        qp(
            "q",
            s.clone(),
            "part of the address or name; any parameter makes this a paged search",
        ),
        qp(
            "status",
            json!({ "enum": ["active", "disabled"] }),
            "status",
        ),
        qp(
            "sort",
            json!({ "enum": ["email", "name", "status", "created_at"] }),
            "sort column (default email)",
        ),
        dir,
    ];
    user_params.extend(paging.iter().cloned());
    paths["/api/v1/users"]["get"]["parameters"] = json!(user_params);
    paths["/api/v1/users"]["get"]["summary"] =
        json!("List users; with any parameter, a paged search with a total (any role)");
    let mut audit_params = vec![
        qp("since", int.clone(), "Unix seconds, inclusive"),
        qp(
            "until",
            int.clone(),
            "Unix seconds, exclusive; any filter but since makes this a paged search, newest first",
        ),
        qp(
            "actor",
            s.clone(),
            "exactly this administrator (- for nobody signed in)",
        ),
        qp("action", s.clone(), "actions starting with this"),
        qp(
            "outcome",
            json!({ "enum": ["ok", "refused", "pending"] }),
            "outcome",
        ),
    ];
    audit_params.extend(paging.iter().cloned());
    paths["/api/v1/audit"]["parameters"] = json!(audit_params);
    paths["/api/v1/admins/me/password"] = json!({
        "post": op("Change the signed-in administrator's own password; ends their other sessions (any role)", true,
            Some(obj(json!({ "current": s, "new": s }), &["current", "new"])),
            obj(json!({ "status": s }), &["status"]),
            &[("400", "wrong current password, or the new one refused (AUTH-009)")]),
    });
    paths["/api/v1/admins/{name}/role"] = json!({
        "parameters": [{ "name": "name", "in": "path", "required": true, "schema": s }],
        "post": op("Change an administrator's role (administrator role, under the admin-change quorum; keeps an administrator)", true,
            Some(obj(json!({ "role": { "enum": ["administrator", "officer", "auditor"] } }), &["role"])),
            obj(json!({ "admin": { "type": "object" } }), &["admin"]),
            &[bad, forbidden, pending, ("404", "no such administrator (AUTH-021)"), ("409", "the last administrator (AUTH-022)")]),
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn describes_every_api_route() {
        let doc = super::document();
        let paths = doc["paths"].as_object().unwrap();
        let src = include_str!("lib.rs");
        // Every `.route("/...", ...)` inside the API router.
        let api = &src[src.find("let api = Router::new()").unwrap()..];
        let api = &api[..api.find(".fallback").unwrap()];
        let mut n = 0;
        for part in api.split(".route(\"").skip(1) {
            let path = &part[..part.find('"').unwrap()];
            assert!(
                paths.contains_key(&format!("/api/v1{path}")),
                "{path} is not described"
            );
            n += 1;
        }
        assert!(n >= 14);
    }
}
