//! `kmsctl policy …`: quorum policies.

use api::QuorumOperation;

use crate::cli::policy::PolicyCommand;
use crate::http::fail;
use crate::output::{Failure, Table};
use crate::{Ctx, outln};

/// Runs one `policy` subcommand.
pub fn run(ctx: &Ctx, cmd: PolicyCommand) -> Result<(), Failure> {
    let client = ctx.signed_in()?;
    match cmd {
        PolicyCommand::Set { operation, quorum } => {
            let r = client
                .set_policy(&QuorumOperation::parse(&operation), quorum)
                .map_err(fail)?;
            ctx.show(&r, |r| {
                let n = r.policy.quorum;
                outln!(
                    "{} now needs {n} approval{}",
                    r.policy.operation,
                    if n == 1 { "" } else { "s" }
                )
            });
        }
        PolicyCommand::List => {
            let r = client.policies().map_err(fail)?;
            ctx.show(&r, |r| {
                let mut t = Table::new(&["operation", "quorum"]);
                for p in &r.policies {
                    t.row(vec![p.operation.to_string(), p.quorum.to_string()]);
                }
                t.print_or("no policies");
            });
        }
    }
    Ok(())
}
