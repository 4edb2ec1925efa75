//! `kmsctl backup …`: take, list, verify and restore backups, and their schedule.

use api::Restored;

use crate::cli::backup::BackupCommand;
use crate::http::fail;
use crate::output::{Failure, Table, bytes, code, duration, fields, when_opt};
use crate::secrets::confirm;
use crate::{Ctx, outln};
use api::{BackupSchedule, ScheduleResponse};

/// Runs one `backup` subcommand.
pub fn run(ctx: &Ctx, cmd: BackupCommand) -> Result<(), Failure> {
    let client = ctx.signed_in()?;
    match cmd {
        BackupCommand::Now => {
            let r = client.backup_now().map_err(fail)?;
            ctx.show(&r, |r| outln!("{}", r.path));
        }
        BackupCommand::List => {
            let r = client.backups().map_err(fail)?;
            ctx.show(&r, |r| {
                let mut t = Table::new(&["name", "taken", "size"]);
                for b in &r.backups {
                    t.row(vec![
                        b.name.clone(),
                        when_opt(taken_at(&b.name)),
                        bytes(b.bytes),
                    ]);
                }
                t.print_or("no backups");
            });
        }
        BackupCommand::Verify { name } => {
            let r = client.verify_backup(&name).map_err(fail)?;
            ctx.show(&r, |r| {
                outln!(
                    "{}: {} keys of {} owners decrypted, {} unlock methods, audit chain {} ({} \
                     entries)",
                    r.path,
                    r.keys,
                    r.owners,
                    r.unlock_methods,
                    if r.audit.ok { "intact" } else { "DAMAGED" },
                    r.audit.entries
                )
            });
            if !r.audit.ok {
                // The answer was printed; the exit code says the check failed.
                let problem = r.audit.problem.as_ref().map_or("no detail", |p| &p.message);
                return Err(Failure::new(
                    code::DAMAGED,
                    format!("the audit chain in the backup is damaged: {problem}"),
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
            let r: Restored = ctx.signed_in()?.restore_backup(&name, true).map_err(fail)?;
            ctx.show(&r, |r| {
                outln!(
                    "restored {} ({} keys); the store as it was is in {}; audit head {} replaced \
                     (entry {} records it); sign in again",
                    r.backup,
                    r.keys,
                    r.safety_backup,
                    r.replaced_head_seq,
                    r.restore_entry
                )
            });
        }
        BackupCommand::Schedule { every, keep, off } => {
            let client = ctx.signed_in()?;
            let get =
                || -> Result<ScheduleResponse, Failure> { client.backup_schedule().map_err(fail) };
            let r = if every.is_none() && keep.is_none() && !off {
                get()?
            } else {
                // Whatever is not given stays as it is.
                let current = if (every.is_none() && !off) || keep.is_none() {
                    Some(get()?.schedule)
                } else {
                    None
                };
                let every = match (off, every) {
                    (true, _) => None,
                    (false, Some(e)) => Some(e),
                    (false, None) => current.as_ref().and_then(|c| c.every),
                };
                let keep = keep
                    .map(u64::from)
                    .or(current.as_ref().map(|c| c.keep))
                    .unwrap_or(7);
                client
                    .set_backup_schedule(every, Some(keep))
                    .map_err(fail)?
            };
            ctx.show(&r, |r| {
                outln!("{}", describe_schedule(&r.schedule).trim_end())
            });
        }
    }
    Ok(())
}

/// When a backup was taken, from its name (`kms-<unix seconds>-<n>….kmsbak`).
fn taken_at(name: &str) -> Option<i64> {
    name.strip_prefix("kms-")
        .and_then(|r| r.split('-').next())
        .and_then(|d| d.parse::<i64>().ok())
}

/// The schedule for people, as label and value lines.
pub fn describe_schedule(sc: &BackupSchedule) -> String {
    let on = sc.enabled && sc.every.is_some();
    let mut rows = vec![(
        "backup schedule",
        match sc.every {
            Some(e) if on => format!("every {}, keeping {}", duration(e), sc.keep),
            _ => "off".into(),
        },
    )];
    if on {
        rows.push(("next backup", when_opt(sc.next_at)));
    }
    rows.push(("last scheduled backup", when_opt(sc.last_at)));
    fields(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_time_taken() {
        assert_eq!(taken_at("kms-001733000000-1.kmsbak"), Some(1_733_000_000));
        assert_eq!(
            taken_at("kms-001733000000-2-pre-restore.kmsbak"),
            Some(1_733_000_000)
        );
        assert_eq!(taken_at("other.kmsbak"), None);
    }

    #[test]
    fn schedules_read_plainly() {
        let mut sc = BackupSchedule {
            enabled: true,
            every: Some(86_400),
            keep: 7,
            next_at: None,
            next_at_rfc3339: None,
            last_at: None,
            last_at_rfc3339: None,
            source: "setting".into(),
        };
        assert!(describe_schedule(&sc).contains("every 1d, keeping 7"));
        sc.enabled = false;
        sc.every = None;
        assert!(describe_schedule(&sc).contains("off"));
    }
}
