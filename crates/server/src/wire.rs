//! From the authority's types to the wire's (`api`): the one place the server decides what
//! an answer carries, and where RFC 3339 forms are added beside Unix-second times.

use api::Secret;

use crate::ApiError;

/// Unix seconds as RFC 3339 in UTC (`2027-01-15T08:00:00Z`); empty if out of range.
pub(crate) fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn rfc3339_opt(secs: Option<i64>) -> Option<String> {
    secs.map(rfc3339)
}

fn algorithms(names: Vec<String>) -> Vec<api::ContentAlgorithm> {
    names
        .iter()
        .map(|n| api::ContentAlgorithm::parse(n))
        .collect()
}

/// A certificate (DER) as PEM.
pub(crate) fn cert_pem(der: &[u8]) -> Result<String, ApiError> {
    let cert = pki::certificate::parse_certificate(der).map_err(ApiError::internal)?;
    pki::certificate::to_pem(&cert).map_err(ApiError::internal)
}

/// Bytes as base64 (standard alphabet), for secrets carried as text.
pub(crate) fn base64_secret(bytes: &[u8]) -> Secret {
    Secret::new(<base64ct::Base64 as base64ct::Encoding>::encode_string(
        bytes,
    ))
}

pub(crate) fn role(r: authority::Role) -> api::Role {
    api::Role::parse(r.as_str())
}

pub(crate) fn admin(a: &authority::Admin) -> api::Admin {
    api::Admin {
        name: a.name.clone(),
        role: role(a.role),
    }
}

pub(crate) fn admin_info(a: authority::AdminInfo) -> api::AdminInfo {
    api::AdminInfo {
        name: a.name,
        role: role(a.role),
        created_at_rfc3339: rfc3339(a.created_at),
        created_at: a.created_at,
        locked_until_rfc3339: rfc3339_opt(a.locked_until),
        locked_until: a.locked_until,
    }
}

pub(crate) fn user_info(u: authority::UserInfo) -> api::UserInfo {
    api::UserInfo {
        email: u.email,
        name: u.name,
        capabilities: algorithms(u.capabilities),
        status: api::UserStatus::parse(&u.status),
        created_at_rfc3339: rfc3339(u.created_at),
        created_at: u.created_at,
        given_name: u.given_name,
        surname: u.surname,
        pseudonym: u.pseudonym,
        profile: u.profile,
        state: Some(api::UserState::parse(u.state.as_str())),
        state_expires_at_rfc3339: u.state_expires_at.map(rfc3339),
        state_expires_at: u.state_expires_at,
    }
}

pub(crate) fn cert_summary(c: authority::CertSummary) -> api::CertSummary {
    api::CertSummary {
        serial: c.serial,
        kind: api::CertKind::parse(&c.kind),
        not_before_rfc3339: rfc3339(c.not_before),
        not_before: c.not_before,
        not_after_rfc3339: rfc3339(c.not_after),
        not_after: c.not_after,
        revoked: c.revoked.as_deref().map(api::RevocationReason::parse),
        superseded: c.superseded,
    }
}

pub(crate) fn user_detail(d: authority::UserDetail) -> api::UserDetail {
    api::UserDetail {
        user: user_info(d.user),
        certificates: d.certificates.into_iter().map(cert_summary).collect(),
        escrowed_keys: d.escrowed_keys as u64,
    }
}

pub(crate) fn cert_row(c: authority::CertRow) -> api::CertRow {
    api::CertRow {
        serial: c.serial,
        email: c.email,
        kind: api::CertKind::parse(&c.kind),
        status: api::CertStatus::parse(&c.status),
        not_before_rfc3339: rfc3339(c.not_before),
        not_before: c.not_before,
        not_after_rfc3339: rfc3339(c.not_after),
        not_after: c.not_after,
        issued_at_rfc3339: rfc3339(c.issued_at),
        issued_at: c.issued_at,
        revocation_reason: c
            .revocation_reason
            .as_deref()
            .map(api::RevocationReason::parse),
    }
}

pub(crate) fn cert_detail(d: authority::CertDetail) -> Result<api::CertDetail, ApiError> {
    let pem = cert_pem(&d.der)?;
    Ok(api::CertDetail {
        summary: cert_row(d.summary),
        subject: d.subject,
        issuer: d.issuer,
        key_usage: d.key_usage,
        extended_key_usage: d.extended_key_usage,
        emails: d.emails,
        capabilities: algorithms(d.capabilities),
        key_bits: d.key_bits as u64,
        revoked_at_rfc3339: rfc3339_opt(d.revoked_at),
        revoked_at: d.revoked_at,
        sha256_fingerprint: d.sha256_fingerprint,
        pem,
    })
}

pub(crate) fn policy(p: authority::Policy) -> api::Policy {
    api::Policy {
        operation: api::QuorumOperation::parse(p.operation),
        quorum: p.quorum,
    }
}

pub(crate) fn approval(r: authority::ApprovalRequest) -> api::ApprovalRequest {
    api::ApprovalRequest {
        id: r.id,
        operation: api::QuorumOperation::parse(&r.operation),
        target: r.target,
        requested_by: r.requested_by,
        why: r.why,
        status: api::RequestStatus::parse(&r.status),
        approved_by: r.approved_by,
        needed: r.needed,
        expires_at_rfc3339: rfc3339(r.expires_at),
        expires_at: r.expires_at,
    }
}

pub(crate) fn unlock_method(m: authority::UnlockMethod) -> api::UnlockMethod {
    api::UnlockMethod {
        id: m.id,
        kind: api::UnlockMethodKind::parse(m.kind),
        label: m.label,
        key_file_id: m.key_file_id,
        created_at_rfc3339: rfc3339(m.created_at),
        created_at: m.created_at,
    }
}

pub(crate) fn backup_info(b: authority::BackupInfo) -> api::BackupInfo {
    api::BackupInfo {
        name: b.name,
        path: b.path,
        bytes: b.bytes,
    }
}

pub(crate) fn audit_entry(e: authority::AuditEntry) -> api::AuditEntry {
    api::AuditEntry {
        seq: e.seq,
        at_rfc3339: rfc3339(e.at),
        at: e.at,
        actor: e.actor,
        action: e.action,
        target: e.target,
        outcome: api::AuditOutcome::parse(&e.outcome),
        detail: e.detail,
        hash: e.hash,
    }
}

pub(crate) fn audit_report(r: authority::AuditReport) -> api::AuditReport {
    api::AuditReport {
        entries: r.entries,
        checkpoints: r.checkpoints,
        signed_through: r.signed_through,
        ok: r.ok,
        problem: r.problem.map(|p| api::AuditProblem {
            seq: p.seq,
            kind: p.kind.to_string(),
            message: p.message,
        }),
        anchor: r.anchor.map(|a| api::AuditAnchor {
            state: serde_json::to_value(a.state)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            refused: a.refused,
            warning: a.warning,
            anchor_seq: a.anchor_seq,
            anchor_at: a.anchor_at,
            head_seq: a.head_seq,
            message: a.message,
        }),
    }
}

pub(crate) fn backup_check(c: authority::BackupCheck) -> api::BackupCheck {
    api::BackupCheck {
        path: c.path,
        keys: c.keys,
        owners: c.owners,
        unlock_methods: c.unlock_methods,
        database_bytes: c.database_bytes,
        audit: audit_report(c.audit),
    }
}

pub(crate) fn restored(r: authority::Restored) -> api::Restored {
    api::Restored {
        backup: r.backup,
        keys: r.keys,
        safety_backup: r.safety_backup,
        replaced_head_seq: r.replaced_head_seq,
        replaced_head_hash: r.replaced_head_hash,
        restore_entry: r.restore_entry,
        revocations_carried: r.revocations_carried,
        audit_entries_carried: r.audit_entries_carried,
        policies_kept: r.policies_kept.into_iter().map(policy).collect(),
    }
}

/// The health report on the wire.
pub(crate) fn health(h: &authority::HealthReport) -> api::HealthReport {
    api::HealthReport {
        computed_at: h.computed_at,
        computed_at_rfc3339: rfc3339(h.computed_at),
        overall: h.overall.as_str().into(),
        checks: h
            .checks
            .iter()
            .map(|c| api::HealthCheck {
                name: c.name.into(),
                title: c.title.into(),
                state: c.state.as_str().into(),
                message: c.message.clone(),
            })
            .collect(),
        attention: api::Attention {
            expiring_certificates: h.attention.expiring_certificates,
            expiring_window_days: h.attention.expiring_window_days,
            pending_invitations: h.attention.pending_invitations,
            approvals_waiting: h.attention.approvals_waiting,
            approvals_expiring_soon: h.attention.approvals_expiring_soon,
            failed_signins_last_day: h.attention.failed_signins_last_day,
        },
        activity: h
            .activity
            .iter()
            .map(|d| api::DayActivity {
                day: d.day,
                issued: d.issued,
                revoked: d.revoked,
            })
            .collect(),
    }
}

pub(crate) fn status(s: authority::Status, h: Option<&authority::HealthReport>) -> api::Status {
    api::Status {
        health: h.map(health),
        ca_subject: s.ca_subject,
        ca_not_after_rfc3339: rfc3339(s.ca_not_after),
        ca_not_after: s.ca_not_after,
        users: api::UserCounts {
            active: s.users.active,
            disabled: s.users.disabled,
        },
        certificates: api::CertCounts {
            active: s.certificates.active,
            revoked: s.certificates.revoked,
            expired: s.certificates.expired,
            superseded: s.certificates.superseded,
        },
        crl: api::CrlStatus {
            number: s.crl.number,
            delta_number: s.crl.delta_number,
            this_update_rfc3339: rfc3339(s.crl.this_update),
            this_update: s.crl.this_update,
            next_update_rfc3339: rfc3339(s.crl.next_update),
            next_update: s.crl.next_update,
            delta_this_update_rfc3339: rfc3339(s.crl.delta_this_update),
            delta_this_update: s.crl.delta_this_update,
            delta_next_update_rfc3339: rfc3339(s.crl.delta_next_update),
            delta_next_update: s.crl.delta_next_update,
        },
        last_backup: s.last_backup.map(|b| api::BackupStatus {
            name: b.name,
            taken_at_rfc3339: rfc3339_opt(b.taken_at),
            taken_at: b.taken_at,
            bytes: b.bytes,
        }),
        last_verification: s.last_verification.map(|v| api::VerificationStatus {
            at_rfc3339: rfc3339(v.at),
            at: v.at,
            actor: v.actor,
            backup: v.backup,
            ok: v.ok,
            summary: v.summary,
        }),
        pending_approvals: s.pending_approvals,
        backup_schedule: Some(backup_schedule(s.backup_schedule)),
    }
}

pub(crate) fn backup_schedule(s: authority::BackupSchedule) -> api::BackupSchedule {
    api::BackupSchedule {
        enabled: s.enabled,
        every: s.every,
        keep: s.keep as u64,
        next_at_rfc3339: s.next_at.map(rfc3339),
        next_at: s.next_at,
        last_at_rfc3339: s.last_at.map(rfc3339),
        last_at: s.last_at,
        source: s.source.to_string(),
    }
}

pub(crate) fn renewal(r: authority::Renewal) -> api::Renewal {
    let (token, expires) = match r.enrollment_token {
        Some(t) => (Some(Secret::new(t.token.expose())), Some(t.expires_at)),
        None => (None, None),
    };
    api::Renewal {
        email: r.email,
        certificates: r.certificates.into_iter().map(cert_summary).collect(),
        enrollment_token: token,
        token_expires_at_rfc3339: rfc3339_opt(expires),
        token_expires_at: expires,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc_with_a_z() {
        assert_eq!(rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), "");
    }
}
