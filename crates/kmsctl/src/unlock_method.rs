//! `kmsctl unlock-method …`: the start-up secrets that unlock the store.

use std::path::PathBuf;

use api::{AddUnlockMethodRequest, Secret, UnlockMethod};
use base64ct::Encoding;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::unlock_method::UnlockMethodCommand;
use crate::http::fail;
use crate::output::{Failure, Table, code, when};
use crate::secrets::{read_secret, write_private};
use crate::{Ctx, outln};

/// What `unlock-method add --json` prints (a key file went to its file).
#[derive(Serialize)]
struct Added {
    method: UnlockMethod,
    key_file: Option<PathBuf>,
}

/// Runs one `unlock-method` subcommand.
pub fn run(ctx: &Ctx, cmd: UnlockMethodCommand) -> Result<(), Failure> {
    let client = ctx.signed_in()?;
    match cmd {
        UnlockMethodCommand::List => {
            let r = client.unlock_methods().map_err(fail)?;
            ctx.show(&r, |r| {
                let mut t = Table::new(&["id", "kind", "label", "added"]);
                for m in &r.methods {
                    t.row(vec![
                        m.id.to_string(),
                        m.kind.to_string(),
                        m.label.clone(),
                        when(m.created_at),
                    ]);
                }
                t.print_or("no unlock methods");
            });
        }
        UnlockMethodCommand::Add {
            key_file_out,
            password_stdin,
        } => {
            if let Some(out) = &key_file_out {
                crate::output::check_secret_destination(out, ctx.force_tty)?;
            }
            // Never over an existing regular file (a key file is not replaced by accident);
            // `-`, a FIFO or a device is written through.
            if let Some(out) = key_file_out
                .as_ref()
                .filter(|o| std::fs::metadata(o).is_ok_and(|m| m.is_file()))
            {
                return Err(Failure::local(format!("{} exists already", out.display())));
            }
            let req = match &key_file_out {
                Some(_) => AddUnlockMethodRequest {
                    password: None,
                    key_file: true,
                },
                None => AddUnlockMethodRequest {
                    password: Some(Secret::new(
                        read_secret("new start-up password", password_stdin, true)?.as_str(),
                    )),
                    key_file: false,
                },
            };
            let r = client.add_unlock_method(&req).map_err(fail)?;
            if let Some(out) = &key_file_out {
                let file = r.key_file.as_ref().ok_or_else(|| {
                    Failure::new(code::ANSWER, "the server's answer holds no key file")
                })?;
                let bytes =
                    Zeroizing::new(base64ct::Base64::decode_vec(file.expose()).map_err(|_| {
                        Failure::new(code::ANSWER, "the server's key file is not base64")
                    })?);
                write_private(out, &bytes, ctx.force_tty)?;
            }
            let shown = Added {
                method: r.method.clone(),
                key_file: key_file_out,
            };
            let human = |a: &Added| {
                outln!("added unlock method {} ({})", a.method.id, a.method.label);
                if let Some(out) = &a.key_file {
                    outln!("key file written to {} (keep a copy apart)", out.display());
                }
            };
            match &shown.key_file {
                Some(out) => ctx.show_beside(&out.clone(), &shown, human, |a| {
                    crate::errln!("added unlock method {} ({})", a.method.id, a.method.label)
                }),
                None => ctx.show(&shown, human),
            }
        }
        UnlockMethodCommand::Remove { id } => {
            let r = client.remove_unlock_method(id).map_err(fail)?;
            ctx.show(&r, |_| outln!("removed unlock method {id}"));
        }
    }
    Ok(())
}
