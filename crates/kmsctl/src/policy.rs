//! `kmsctl policy …`: quorum policies.

use serde_json::json;

use crate::cli::policy::PolicyCommand;
use crate::http::enc;
use crate::output::{Failure, Table, num, s};
use crate::{Ctx, outln, session};

/// Runs one `policy` subcommand.
pub fn run(ctx: &Ctx, cmd: PolicyCommand) -> Result<(), Failure> {
    let token = session::token()?;
    match cmd {
        PolicyCommand::Set { operation, quorum } => {
            let v = ctx.http.post(
                &format!("/api/v1/policies/{}", enc(&operation)),
                &token,
                Some(json!({"quorum": quorum})),
            )?;
            ctx.print(&v, |_| {
                outln!(
                    "{operation} now needs {quorum} approval{}",
                    if quorum == 1 { "" } else { "s" }
                )
            });
        }
        PolicyCommand::List => {
            let v = ctx.http.get("/api/v1/policies", &token)?;
            ctx.print(&v, |v| {
                let mut t = Table::new(&["operation", "quorum"]);
                for p in v["policies"].as_array().into_iter().flatten() {
                    t.row(vec![s(&p["operation"], "").into(), num(&p["quorum"])]);
                }
                t.print_or("no policies");
            });
        }
    }
    Ok(())
}
