//! `kmsctl renew`: one user's certificates (or a new escrowed key), or every certificate
//! that expires within a window.

use serde_json::{Value, json};

use crate::cli::renew::RenewArgs;
use crate::output::{Failure, Table, duration, s, when};
use crate::secrets::confirm;
use crate::{Ctx, errln, outln, session};

/// The usage rule clap's `requires` does not enforce on a flag: `--within` and `--yes` go
/// with `--all`.
pub fn check(a: &RenewArgs) -> Result<(), Failure> {
    if !a.all && (a.within.is_some() || a.yes) {
        return Err(Failure::usage("--within and --yes go with --all"));
    }
    Ok(())
}

/// Runs `renew`: exit 0 when nobody failed.
pub fn run(ctx: &Ctx, a: RenewArgs) -> Result<(), Failure> {
    let token = session::token()?;
    let body = match &a.email {
        Some(e) => json!({"email": e, "new_key": a.new_key}),
        None => {
            let window = a
                .within
                .map_or_else(|| "the server's renewal window".into(), duration);
            confirm(
                &format!("Renew every enrolled user's certificates that expire within {window}?"),
                a.yes,
            )?;
            let mut b = json!({"all": true, "confirm": true});
            if let Some(w) = a.within {
                b["within"] = json!(w);
            }
            b
        }
    };
    let v = ctx.http.post("/api/v1/renew", &token, Some(body))?;
    ctx.print(&v, human);
    let failed = v["failed"].as_array().map_or(0, Vec::len);
    if failed > 0 {
        return Err(Failure::local(format!(
            "{failed} user{} not renewed",
            if failed == 1 { " was" } else { "s were" }
        ))
        .printed());
    }
    Ok(())
}

fn human(v: &Value) {
    let mut t = Table::new(&["email", "kind", "serial", "expires"]);
    for r in v["renewed"].as_array().into_iter().flatten() {
        let email = s(&r["email"], "");
        if let Some(tok) = r["enrollment_token"].as_str() {
            outln!(
                "{email}: new encryption key escrowed and certified; collect it with this \
                 enrollment token (shown once, expires {}): {tok}",
                when(&r["token_expires_at"])
            );
        } else {
            for c in r["certificates"].as_array().into_iter().flatten() {
                t.row(vec![
                    email.into(),
                    s(&c["kind"], "").into(),
                    s(&c["serial"], "").into(),
                    when(&c["not_after"]),
                ]);
            }
        }
    }
    if t.len() > 0 {
        outln!("{}", t.render().trim_end());
    }
    let skipped = v["skipped"].as_array().map_or(&[][..], Vec::as_slice);
    if !skipped.is_empty() {
        let mut t = Table::new(&["skipped", "reason"]);
        for k in skipped {
            t.row(vec![s(&k["email"], "").into(), s(&k["reason"], "").into()]);
        }
        outln!("{}", t.render().trim_end());
    }
    for f in v["failed"].as_array().into_iter().flatten() {
        errln!(
            "{}: not renewed: {}: {}",
            s(&f["email"], ""),
            s(&f["code"], "?"),
            s(&f["message"], "")
        );
    }
    if v["renewed"].as_array().is_some_and(Vec::is_empty) && skipped.is_empty() {
        outln!("nothing to renew");
    }
}
