//! `kmsctl audit …`: list, verify and sign the tamper-evident audit log.

use api::AuditQuery;

use crate::cli::audit::AuditCommand;
use crate::http::fail;
use crate::output::{Failure, Table, code, now, when};
use crate::{Ctx, outln};

/// Runs one `audit` subcommand.
pub fn run(ctx: &Ctx, cmd: AuditCommand) -> Result<(), Failure> {
    let client = ctx.signed_in()?;
    match cmd {
        AuditCommand::List { since } => {
            let query = AuditQuery {
                since: since.map(|t| parse_since(&t, now())).transpose()?,
                ..AuditQuery::default()
            };
            let r = client.audit(&query).map_err(fail)?;
            ctx.show(&r, |r| {
                let mut t = Table::new(&[
                    "seq", "when", "actor", "action", "target", "outcome", "detail",
                ]);
                for e in &r.entries {
                    t.row(vec![
                        e.seq.to_string(),
                        when(e.at),
                        e.actor.clone(),
                        e.action.clone(),
                        e.target.clone(),
                        e.outcome.to_string(),
                        e.detail.clone(),
                    ]);
                }
                t.print_or("no audit entries");
            });
        }
        AuditCommand::Verify => {
            let r = client.audit_verify().map_err(fail)?;
            ctx.show(&r, |r| {
                if r.ok {
                    outln!(
                        "audit log intact: {} entries, {} signed checkpoints, {}",
                        r.entries,
                        r.checkpoints,
                        signed_through(r.signed_through)
                    );
                }
                if let Some(a) = &r.anchor
                    && (a.warning || a.state != "ok")
                {
                    outln!("audit anchor ({}): {}", a.state, a.message);
                }
            });
            if !r.ok {
                let (message, seq) = r.problem.as_ref().map_or(("unknown problem", None), |p| {
                    (p.message.as_str(), Some(p.seq))
                });
                let entry = seq.map(|s| format!(" (entry {s})")).unwrap_or_default();
                return Err(Failure::new(
                    code::DAMAGED,
                    format!("audit log damaged: {message}{entry}"),
                )
                .printed());
            }
        }
        AuditCommand::Sign => {
            let r = client.audit_sign().map_err(fail)?;
            ctx.show(&r, |r| {
                outln!(
                    "audit chain head signed: {}",
                    signed_through(r.signed_through)
                )
            });
        }
    }
    Ok(())
}

/// `signed through entry N`, or that nothing is signed yet.
fn signed_through(seq: Option<i64>) -> String {
    match seq {
        Some(n) => format!("signed through entry {n}"),
        None => "no entry signed yet (kmsctl audit sign)".into(),
    }
}

/// `--since`: Unix seconds, or an age (`30s`, `30m`, `12h`, `7d`) before `now`.
fn parse_since(t: &str, now: i64) -> Result<i64, Failure> {
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    crate::cli::parse_duration(t)
        .ok()
        .and_then(|d| i64::try_from(d).ok())
        .map(|d| now - d)
        .ok_or_else(|| {
            Failure::usage(format!(
                "--since {t:?}: give Unix seconds or an age like 30m, 12h, 7d"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_seconds_or_an_age() {
        assert_eq!(parse_since("1700000000", 0).unwrap(), 1_700_000_000);
        assert_eq!(parse_since("12h", 100_000).unwrap(), 100_000 - 43_200);
        assert_eq!(parse_since("soon", 0).unwrap_err().exit, 2);
        assert_eq!(
            signed_through(None),
            "no entry signed yet (kmsctl audit sign)"
        );
    }
}
