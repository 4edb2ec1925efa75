//! `kmsctl settings …`: the public URL.

use crate::cli::settings::SettingsCommand;
use crate::http::fail;
use crate::output::Failure;
use crate::{Ctx, outln};

/// Runs one `settings` subcommand.
pub fn run(ctx: &Ctx, cmd: SettingsCommand) -> Result<(), Failure> {
    let client = ctx.signed_in()?;
    match cmd {
        SettingsCommand::PublicUrl { url: None } => {
            let r = client.public_url().map_err(fail)?;
            ctx.show(&r, |r| outln!("{}", r.public_url));
        }
        SettingsCommand::PublicUrl { url: Some(url) } => {
            let r = client.set_public_url(&url).map_err(fail)?;
            ctx.show(&r, |r| {
                match &r.previous {
                    Some(p) if p != &r.public_url => {
                        outln!("public URL changed from {p} to {}", r.public_url)
                    }
                    _ => outln!("public URL: {}", r.public_url),
                }
                outln!("{}", r.note);
            });
        }
    }
    Ok(())
}
