//! `kmsctl approvals …` and `kmsctl approve`: approval requests of quorum operations.

use serde_json::Value;

use crate::cli::approvals::{ApprovalsCommand, ApproveArgs};
use crate::output::{Failure, Table, list, num, s, when};
use crate::{Ctx, outln, session};

/// Runs one `approvals` subcommand.
pub fn run(ctx: &Ctx, cmd: ApprovalsCommand) -> Result<(), Failure> {
    let token = session::token()?;
    match cmd {
        ApprovalsCommand::List => {
            let v = ctx.http.get("/api/v1/approvals", &token)?;
            ctx.print(&v, |v| {
                let mut t = Table::new(&[
                    "id",
                    "operation",
                    "target",
                    "requested by",
                    "approvals",
                    "approved by",
                    "expires",
                ]);
                for r in v["requests"].as_array().into_iter().flatten() {
                    t.row(vec![
                        num(&r["id"]),
                        s(&r["operation"], "").into(),
                        s(&r["target"], "-").into(),
                        s(&r["requested_by"], "").into(),
                        format!("{}/{}", count(&r["approved_by"]), num(&r["needed"])),
                        list(&r["approved_by"]),
                        when(&r["expires_at"]),
                    ]);
                }
                t.print_or("no open approval requests");
            });
        }
        ApprovalsCommand::Cancel { id } => {
            let v = ctx
                .http
                .post(&format!("/api/v1/approvals/{id}/cancel"), &token, None)?;
            ctx.print(&v, |_| outln!("request {id} cancelled"));
        }
    }
    Ok(())
}

fn count(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

/// `kmsctl approve ID`.
pub fn approve(ctx: &Ctx, a: ApproveArgs) -> Result<(), Failure> {
    let token = session::token()?;
    let id = a.id;
    let v = ctx
        .http
        .post(&format!("/api/v1/approvals/{id}/approve"), &token, None)?;
    ctx.print(&v, |v| {
        let r = &v["request"];
        outln!(
            "approved request {id} ({} {}): {}/{} approvals",
            s(&r["operation"], ""),
            s(&r["target"], ""),
            count(&r["approved_by"]),
            num(&r["needed"])
        )
    });
    Ok(())
}
