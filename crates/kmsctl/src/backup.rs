//! `kmsctl backup …`: take, list, verify and restore backups, and their schedule.

use serde_json::{Value, json};

use crate::cli::backup::BackupCommand;
use crate::http::enc;
use crate::output::{Failure, Table, bytes, code, duration, fields, num, s, when};
use crate::secrets::confirm;
use crate::{Ctx, outln, session};

/// Runs one `backup` subcommand.
pub fn run(ctx: &Ctx, cmd: BackupCommand) -> Result<(), Failure> {
    let token = session::token()?;
    let http = &ctx.http;
    match cmd {
        BackupCommand::Now => {
            let v = http.post("/api/v1/backups", &token, None)?;
            ctx.print(&v, |v| outln!("{}", s(&v["path"], "")));
        }
        BackupCommand::List => {
            let v = http.get("/api/v1/backups", &token)?;
            ctx.print(&v, |v| {
                let mut t = Table::new(&["name", "taken", "size"]);
                for b in v["backups"].as_array().into_iter().flatten() {
                    let name = s(&b["name"], "");
                    t.row(vec![name.into(), when(&taken_at(name)), bytes(&b["bytes"])]);
                }
                t.print_or("no backups");
            });
        }
        BackupCommand::Verify { name } => {
            let v = http.post(
                "/api/v1/backups/verify",
                &token,
                Some(json!({"name": name})),
            )?;
            let intact = v["audit"]["ok"] == true;
            ctx.print(&v, |v| {
                outln!(
                    "{}: {} keys of {} owners decrypted, {} unlock methods, audit chain {} ({} \
                     entries)",
                    s(&v["path"], ""),
                    num(&v["keys"]),
                    num(&v["owners"]),
                    num(&v["unlock_methods"]),
                    if intact { "intact" } else { "DAMAGED" },
                    num(&v["audit"]["entries"])
                )
            });
            if !intact {
                // The answer was printed; the exit code says the check failed.
                return Err(Failure::new(
                    code::DAMAGED,
                    format!(
                        "the audit chain in the backup is damaged: {}",
                        s(&v["audit"]["problem"]["message"], "no detail")
                    ),
                )
                .printed());
            }
        }
        BackupCommand::Restore { name, yes } => {
            confirm(
                &format!(
                    "Restore {name} over the live store? Everything written since it was taken \
                     is lost and every session ends."
                ),
                yes,
            )?;
            let v = http.post(
                &format!("/api/v1/backups/{}/restore", enc(&name)),
                &token,
                Some(json!({"confirm": true})),
            )?;
            ctx.print(&v, |v| {
                outln!(
                    "restored {} ({} keys); the store as it was is in {}; audit head {} replaced \
                     (entry {} records it); sign in again",
                    s(&v["backup"], &name),
                    num(&v["keys"]),
                    s(&v["safety_backup"], "-"),
                    num(&v["replaced_head_seq"]),
                    num(&v["restore_entry"])
                )
            });
        }
        BackupCommand::Schedule { every, keep, off } => {
            let v = if every.is_none() && keep.is_none() && !off {
                http.get("/api/v1/backups/schedule", &token)?
            } else {
                let current = if every.is_none() && !off || keep.is_none() {
                    Some(http.get("/api/v1/backups/schedule", &token)?)
                } else {
                    None
                };
                let cur = |key: &str| {
                    current
                        .as_ref()
                        .map_or(Value::Null, |c| c["schedule"][key].clone())
                };
                let every = match (off, every) {
                    (true, _) => Value::Null,
                    (false, Some(e)) => json!(e),
                    (false, None) => cur("every"),
                };
                let keep = keep.map_or_else(|| cur("keep"), |k| json!(k));
                let keep = if keep.is_null() { json!(7) } else { keep };
                http.post(
                    "/api/v1/backups/schedule",
                    &token,
                    Some(json!({"every": every, "keep": keep})),
                )?
            };
            ctx.print(&v, |v| {
                outln!("{}", describe_schedule(&v["schedule"]).trim_end())
            });
        }
    }
    Ok(())
}

/// When a backup was taken, from its name (`kms-<unix seconds>-<n>….kmsbak`).
fn taken_at(name: &str) -> Value {
    name.strip_prefix("kms-")
        .and_then(|r| r.split('-').next())
        .and_then(|d| d.parse::<i64>().ok())
        .map_or(Value::Null, |t| json!(t))
}

/// The schedule for people, as label and value lines.
pub fn describe_schedule(sc: &Value) -> String {
    if sc.is_null() {
        return fields(&[("backup schedule", "unknown (older server)".into())]);
    }
    let on = sc["enabled"] == true && sc["every"].as_u64().is_some();
    let mut rows = vec![(
        "backup schedule",
        match sc["every"].as_u64() {
            Some(e) if on => format!("every {}, keeping {}", duration(e), num(&sc["keep"])),
            _ => "off".into(),
        },
    )];
    if on {
        rows.push(("next backup", when(&sc["next_at"])));
    }
    rows.push(("last scheduled backup", when(&sc["last_at"])));
    fields(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_time_taken() {
        assert_eq!(taken_at("kms-001733000000-1.kmsbak"), json!(1_733_000_000));
        assert_eq!(
            taken_at("kms-001733000000-2-pre-restore.kmsbak"),
            json!(1_733_000_000)
        );
        assert_eq!(taken_at("other.kmsbak"), Value::Null);
    }

    #[test]
    fn schedules_read_plainly() {
        let on =
            json!({"enabled": true, "every": 86_400, "keep": 7, "next_at": null, "last_at": null});
        assert!(describe_schedule(&on).contains("every 1d, keeping 7"));
        let off =
            json!({"enabled": false, "every": null, "keep": 7, "next_at": null, "last_at": null});
        assert!(describe_schedule(&off).contains("off"));
    }
}
