//! `kmsctl status`: the authority at a glance.

use serde_json::Value;

use crate::backup::describe_schedule;
use crate::output::{Failure, bytes, fields, num, s, when};
use crate::{Ctx, outln, session};

/// Runs `status`.
pub fn run(ctx: &Ctx) -> Result<(), Failure> {
    let token = session::token()?;
    let v = ctx.http.get("/api/v1/status", &token)?;
    ctx.print(&v, |v| outln!("{}", render(v).trim_end()));
    Ok(())
}

fn render(v: &Value) -> String {
    let c = &v["certificates"];
    let crl = &v["crl"];
    let mut rows = vec![
        ("CA", s(&v["ca_subject"], "").to_string()),
        ("CA valid until", when(&v["ca_not_after"])),
        (
            "users",
            format!(
                "{} active, {} disabled",
                num(&v["users"]["active"]),
                num(&v["users"]["disabled"])
            ),
        ),
        (
            "certificates",
            format!(
                "{} active, {} revoked, {} expired, {} superseded",
                num(&c["active"]),
                num(&c["revoked"]),
                num(&c["expired"]),
                num(&c["superseded"])
            ),
        ),
        (
            "CRL",
            format!(
                "number {} (delta {})",
                num(&crl["number"]),
                num(&crl["delta_number"])
            ),
        ),
        ("CRL signed", when(&crl["this_update"])),
        ("CRL next update", when(&crl["next_update"])),
    ];
    match v["last_backup"].as_object() {
        Some(b) => rows.push((
            "last backup",
            format!(
                "{} ({}), taken {}",
                s(&b["name"], ""),
                bytes(&b["bytes"]),
                when(&b["taken_at"])
            ),
        )),
        None => rows.push(("last backup", "none".into())),
    }
    if let Some(c) = v["last_verification"].as_object() {
        rows.push((
            "last verification",
            format!(
                "{} {} {}: {}",
                s(&c["backup"], ""),
                if c["ok"] == true { "ok" } else { "FAILED" },
                when(&c["at"]),
                s(&c["summary"], "")
            ),
        ));
    }
    rows.push(("pending approvals", num(&v["pending_approvals"])));
    let mut text = fields(&rows);
    // Older servers do not say.
    if let Some(sc) = v.get("backup_schedule") {
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
        let v = json!({"ca_subject": "CN=T", "ca_not_after": 4_000_000_000_i64,
            "users": {"active": 1, "disabled": 0},
            "certificates": {"active": 2, "revoked": 0, "expired": 0, "superseded": 0},
            "crl": {"number": 3, "delta_number": 4, "this_update": 1_700_000_000, "next_update": 1_700_086_400},
            "last_backup": null, "last_verification": null, "pending_approvals": 0,
            "backup_schedule": {"enabled": true, "every": 86_400, "keep": 7, "next_at": 1_700_086_400, "last_at": null}});
        let text = render(&v);
        assert!(!text.contains("4000000000"), "{text}");
        assert!(text.contains("every 1d, keeping 7"), "{text}");
        assert!(text.contains("pending approvals"), "{text}");
        assert!(text.contains("CN=T"), "{text}");
    }
}
