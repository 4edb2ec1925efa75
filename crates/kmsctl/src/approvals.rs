//! `kmsctl approvals …` and `kmsctl approve`: approval requests of quorum operations.

use crate::cli::approvals::{ApprovalsCommand, ApproveArgs};
use crate::http::fail;
use crate::output::{Failure, Table, joined, when};
use crate::{Ctx, outln};

/// Runs one `approvals` subcommand.
pub fn run(ctx: &Ctx, cmd: ApprovalsCommand) -> Result<(), Failure> {
    let client = ctx.signed_in()?;
    match cmd {
        ApprovalsCommand::List => {
            let r = client.approvals().map_err(fail)?;
            ctx.show(&r, |r| {
                let mut t = Table::new(&[
                    "id",
                    "operation",
                    "target",
                    "requested by",
                    "approvals",
                    "approved by",
                    "expires",
                    "why",
                ]);
                for q in &r.requests {
                    t.row(vec![
                        q.id.to_string(),
                        q.operation.to_string(),
                        if q.target.is_empty() {
                            "-".into()
                        } else {
                            q.target.clone()
                        },
                        q.requested_by.clone(),
                        format!("{}/{}", q.approved_by.len(), q.needed),
                        joined(&q.approved_by),
                        when(q.expires_at),
                        q.why.clone().unwrap_or_else(|| "-".into()),
                    ]);
                }
                t.print_or("no open approval requests");
            });
        }
        ApprovalsCommand::Cancel { id } => {
            let r = client.cancel_approval(id).map_err(fail)?;
            ctx.show(&r, |_| outln!("request {id} cancelled"));
        }
    }
    Ok(())
}

/// `kmsctl approve ID`.
pub fn approve(ctx: &Ctx, a: ApproveArgs) -> Result<(), Failure> {
    if let Some(file) = &a.agent_key {
        return crate::agent::release(ctx, a.id, file, a.password_stdin);
    }
    let id = a.id;
    let r = ctx.signed_in()?.approve(id).map_err(fail)?;
    ctx.show(&r, |r| {
        let q = &r.request;
        outln!(
            "approved request {id} ({} {}): {}/{} approvals",
            q.operation,
            q.target,
            q.approved_by.len(),
            q.needed
        )
    });
    Ok(())
}
