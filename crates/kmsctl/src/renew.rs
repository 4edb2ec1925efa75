//! `kmsctl renew`: one user's certificates (or a new escrowed key), or every certificate
//! that expires within a window.

use api::{RenewRequest, RenewResponse};

use crate::cli::renew::RenewArgs;
use crate::http::fail;
use crate::output::{Failure, Table, duration, when, when_opt};
use crate::secrets::confirm;
use crate::{Ctx, errln, outln};

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
    let client = ctx.signed_in()?;
    let r: RenewResponse = match &a.email {
        Some(email) => client
            .renew(&RenewRequest {
                email: Some(email.clone()),
                new_key: a.new_key,
                ..Default::default()
            })
            .map_err(fail)?,
        None => {
            let window = a
                .within
                .map_or_else(|| "the server's renewal window".into(), duration);
            confirm(
                &format!("Renew every enrolled user's certificates that expire within {window}?"),
                a.yes,
            )?;
            client
                .renew(&RenewRequest {
                    all: true,
                    within: a.within,
                    confirm: true,
                    ..Default::default()
                })
                .map_err(fail)?
        }
    };
    ctx.show(&r, human);
    if !r.failed.is_empty() {
        let n = r.failed.len();
        return Err(Failure::local(format!(
            "{n} user{} not renewed",
            if n == 1 { " was" } else { "s were" }
        ))
        .printed());
    }
    Ok(())
}

fn human(r: &RenewResponse) {
    let mut t = Table::new(&["email", "kind", "serial", "expires"]);
    for u in &r.renewed {
        if let Some(tok) = &u.enrollment_token {
            outln!(
                "{}: new encryption key escrowed and certified; collect it with this enrollment \
                 token, shown once, valid until {}: {}",
                u.email,
                when_opt(u.token_expires_at),
                tok.expose()
            );
        } else {
            for c in &u.certificates {
                t.row(vec![
                    u.email.clone(),
                    c.kind.to_string(),
                    c.serial.clone(),
                    when(c.not_after),
                ]);
            }
        }
    }
    if t.len() > 0 {
        outln!("{}", t.render().trim_end());
    }
    let skipped = &r.skipped;
    if !skipped.is_empty() {
        let mut t = Table::new(&["skipped", "reason"]);
        for k in skipped {
            t.row(vec![k.email.clone(), k.reason.clone()]);
        }
        outln!("{}", t.render().trim_end());
    }
    for f in &r.failed {
        errln!("{}: not renewed: {}: {}", f.email, f.code, f.message);
    }
    if r.renewed.is_empty() && skipped.is_empty() && r.failed.is_empty() {
        outln!("nothing to renew");
    }
}
