//! `kmsctl status`: the authority at a glance.

use crate::backup::describe_schedule;
use crate::output::{Failure, bytes, fields, when, when_opt};
use api::Status;

use crate::http::fail;
use crate::{Ctx, outln};

/// Runs `status` (the backup schedule shown when the server says it).
pub fn run(ctx: &Ctx) -> Result<(), Failure> {
    let r: Status = ctx.signed_in()?.status().map_err(fail)?;
    ctx.show(&r, |r| outln!("{}", render(r).trim_end()));
    Ok(())
}

fn render(r: &Status) -> String {
    let v = r;
    let c = &v.certificates;
    let mut rows = vec![
        ("CA", v.ca_subject.clone()),
        ("CA valid until", when(v.ca_not_after)),
        (
            "users",
            format!("{} active, {} disabled", v.users.active, v.users.disabled),
        ),
        (
            "certificates",
            format!(
                "{} active, {} revoked, {} expired, {} superseded",
                c.active, c.revoked, c.expired, c.superseded
            ),
        ),
        (
            "CRL",
            format!("number {} (delta {})", v.crl.number, v.crl.delta_number),
        ),
        ("CRL signed", when(v.crl.this_update)),
        ("CRL next update", when(v.crl.next_update)),
    ];
    match &v.last_backup {
        Some(b) => rows.push((
            "last backup",
            format!(
                "{} ({}), taken {}",
                b.name,
                bytes(b.bytes),
                when_opt(b.taken_at)
            ),
        )),
        None => rows.push(("last backup", "none".into())),
    }
    if let Some(c) = &v.last_verification {
        rows.push((
            "last verification",
            format!(
                "{} {} {}: {}",
                c.backup,
                if c.ok { "ok" } else { "FAILED" },
                when(c.at),
                c.summary
            ),
        ));
    }
    rows.push(("pending approvals", v.pending_approvals.to_string()));
    let mut text = fields(&rows);
    // Older servers do not say.
    if let Some(sc) = &r.backup_schedule {
        text.push_str(&describe_schedule(sc));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_shows_dates_not_seconds() {
        let r: Status = serde_json::from_value(json!({"ca_subject": "CN=T",
            "ca_not_after": 4_000_000_000_i64,
            "users": {"active": 1, "disabled": 0},
            "certificates": {"active": 2, "revoked": 0, "expired": 0, "superseded": 0},
            "crl": {"number": 3, "delta_number": 4, "this_update": 1_700_000_000,
                    "next_update": 1_700_086_400, "delta_this_update": 1_700_000_000,
                    "delta_next_update": 1_700_086_400},
            "last_backup": null, "last_verification": null, "pending_approvals": 0,
            "backup_schedule": {"enabled": true, "every": 86_400, "keep": 7,
                                "next_at": 1_700_086_400, "last_at": null}}))
        .unwrap();
        let text = render(&r);
        assert!(!text.contains("4000000000"), "{text}");
        assert!(text.contains("every 1d, keeping 7"), "{text}");
        assert!(text.contains("pending approvals"), "{text}");
        assert!(text.contains("CN=T"), "{text}");
    }
}
