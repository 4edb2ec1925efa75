//! `kmsctl audit …`: list, verify and sign the tamper-evident audit log.

use crate::cli::audit::AuditCommand;
use crate::output::{Failure, Table, code, now, num, s, when};
use crate::{Ctx, outln, session};

/// Runs one `audit` subcommand.
pub fn run(ctx: &Ctx, cmd: AuditCommand) -> Result<(), Failure> {
    let token = session::token()?;
    match cmd {
        AuditCommand::List { since } => {
            let path = match since {
                Some(t) => format!("/api/v1/audit?since={}", parse_since(&t, now())?),
                None => "/api/v1/audit".into(),
            };
            let v = ctx.http.get(&path, &token)?;
            ctx.print(&v, |v| {
                let mut t = Table::new(&[
                    "seq", "when", "actor", "action", "target", "outcome", "detail",
                ]);
                for e in v["entries"].as_array().into_iter().flatten() {
                    t.row(vec![
                        num(&e["seq"]),
                        when(&e["at"]),
                        s(&e["actor"], "").into(),
                        s(&e["action"], "").into(),
                        s(&e["target"], "").into(),
                        s(&e["outcome"], "").into(),
                        s(&e["detail"], "").into(),
                    ]);
                }
                t.print_or("no audit entries");
            });
        }
        AuditCommand::Verify => {
            let v = ctx.http.get("/api/v1/audit/verify", &token)?;
            let intact = v["ok"].as_bool() == Some(true);
            ctx.print(&v, |v| {
                if intact {
                    outln!(
                        "audit log intact: {} entries, {} signed checkpoints, {}",
                        num(&v["entries"]),
                        num(&v["checkpoints"]),
                        signed_through(&v["signed_through"])
                    );
                }
            });
            if !intact {
                let problem = &v["problem"];
                let f = Failure::new(
                    code::DAMAGED,
                    format!(
                        "audit log damaged: {} (entry {})",
                        s(&problem["message"], "unknown problem"),
                        num(&problem["seq"])
                    ),
                );
                return Err(if ctx.printer.json { f.printed() } else { f });
            }
        }
        AuditCommand::Sign => {
            let v = ctx.http.post("/api/v1/audit/sign", &token, None)?;
            ctx.print(&v, |v| {
                outln!(
                    "audit chain head signed: {}",
                    signed_through(&v["signed_through"])
                )
            });
        }
    }
    Ok(())
}

/// `signed through entry N`, or that nothing is signed yet.
fn signed_through(v: &serde_json::Value) -> String {
    match v.as_i64() {
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
            signed_through(&serde_json::Value::Null),
            "no entry signed yet (kmsctl audit sign)"
        );
    }
}
