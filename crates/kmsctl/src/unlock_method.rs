//! `kmsctl unlock-method …`: the start-up secrets that unlock the store.

use base64ct::Encoding;
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::unlock_method::UnlockMethodCommand;
use crate::http::parse;
use crate::output::{Failure, Table, code, num, s, when};
use crate::secrets::{read_secret, write_private};
use crate::{Ctx, outln, session};

/// Runs one `unlock-method` subcommand.
pub fn run(ctx: &Ctx, cmd: UnlockMethodCommand) -> Result<(), Failure> {
    let token = session::token()?;
    match cmd {
        UnlockMethodCommand::List => {
            let v = ctx.http.get("/api/v1/unlock-methods", &token)?;
            ctx.print(&v, |v| {
                let mut t = Table::new(&["id", "kind", "label", "added"]);
                for m in v["methods"].as_array().into_iter().flatten() {
                    t.row(vec![
                        num(&m["id"]),
                        s(&m["kind"], "").into(),
                        s(&m["label"], "").into(),
                        when(&m["created_at"]),
                    ]);
                }
                t.print_or("no unlock methods");
            });
        }
        UnlockMethodCommand::Add {
            key_file_out,
            password_stdin,
        } => {
            if let Some(out) = key_file_out.as_ref().filter(|o| o.exists()) {
                return Err(Failure::local(format!("{} exists already", out.display())));
            }
            let body = match &key_file_out {
                Some(_) => json!({"key_file": true}),
                None => json!({"password":
                    read_secret("new start-up password", password_stdin, true)?.as_str()}),
            };
            // The answer may carry a key file: kept in zeroizing memory.
            let raw = Zeroizing::new(ctx.http.call(
                "POST",
                "/api/v1/unlock-methods",
                Some(&token),
                Some(body),
            )?);
            let v = parse(&raw)?;
            if let Some(out) = &key_file_out {
                let bytes =
                    Zeroizing::new(base64ct::Base64::decode_vec(s(&v["key_file"], "")).map_err(
                        |_| Failure::new(code::ANSWER, "the server's key file is not base64"),
                    )?);
                write_private(out, &bytes)?;
            }
            let shown = json!({"method": v["method"], "key_file": key_file_out});
            ctx.print(&shown, |sh| {
                outln!(
                    "added unlock method {} ({})",
                    num(&sh["method"]["id"]),
                    s(&sh["method"]["label"], "")
                );
                if let Some(out) = &key_file_out {
                    outln!("key file written to {} (keep a copy apart)", out.display());
                }
            });
        }
        UnlockMethodCommand::Remove { id } => {
            let v = ctx
                .http
                .post(&format!("/api/v1/unlock-methods/{id}/remove"), &token, None)?;
            ctx.print(&v, |_| outln!("removed unlock method {id}"));
        }
    }
    Ok(())
}
