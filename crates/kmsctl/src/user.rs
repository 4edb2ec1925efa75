//! `kmsctl user …`: users and their enrollment tokens.

use serde_json::{Value, json};

use crate::cli::user::UserCommand;
use crate::http::enc;
use crate::output::{Failure, Table, fields, list, num, s, when};
use crate::{Ctx, outln, session};

/// Runs one `user` subcommand.
pub fn run(ctx: &Ctx, cmd: UserCommand) -> Result<(), Failure> {
    let token = session::token()?;
    let http = &ctx.http;
    match cmd {
        UserCommand::Add { email, name, caps } => {
            let caps: Vec<String> = caps
                .map(|c| {
                    c.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let v = http.post(
                "/api/v1/users",
                &token,
                Some(json!({"email": email, "name": name, "capabilities": caps})),
            )?;
            ctx.print(&v, |v| {
                outln!(
                    "added {} (content algorithms: {})",
                    s(&v["user"]["email"], &email),
                    list(&v["user"]["capabilities"])
                );
                print_token(&email, v);
            });
        }
        UserCommand::List => {
            let v = http.get("/api/v1/users", &token)?;
            ctx.print(&v, |v| {
                let mut t = Table::new(&["email", "status", "name", "added"]);
                for u in v["users"].as_array().into_iter().flatten() {
                    t.row(vec![
                        s(&u["email"], "").into(),
                        s(&u["status"], "").into(),
                        s(&u["name"], "").into(),
                        when(&u["created_at"]),
                    ]);
                }
                t.print_or("no users");
            });
        }
        UserCommand::Show { email } => {
            let v = http.get(&format!("/api/v1/users/{}", enc(&email)), &token)?;
            ctx.print(&v, |v| {
                outln!(
                    "{}",
                    fields(&[
                        ("name", s(&v["name"], "").into()),
                        ("e-mail", s(&v["email"], "").into()),
                        ("status", s(&v["status"], "").into()),
                        ("content algorithms", list(&v["capabilities"])),
                        ("escrowed keys", num(&v["escrowed_keys"])),
                    ])
                    .trim_end()
                );
                let mut t = Table::new(&["kind", "serial", "state", "expires"]);
                for c in v["certificates"].as_array().into_iter().flatten() {
                    let state = if let Some(r) = c["revoked"].as_str() {
                        format!("revoked ({r})")
                    } else if c["superseded"].as_bool() == Some(true) {
                        "superseded".into()
                    } else {
                        "current".into()
                    };
                    t.row(vec![
                        s(&c["kind"], "").into(),
                        s(&c["serial"], "").into(),
                        state,
                        when(&c["not_after"]),
                    ]);
                }
                outln!("");
                t.print_or("no certificates");
            });
        }
        UserCommand::Disable { email } => {
            let v = http.post(
                &format!("/api/v1/users/{}/disable", enc(&email)),
                &token,
                None,
            )?;
            ctx.print(&v, |_| outln!("disabled {email}"));
        }
        UserCommand::Token { email } => {
            let v = http.post(
                &format!("/api/v1/users/{}/token", enc(&email)),
                &token,
                None,
            )?;
            ctx.print(&v, |v| print_token(&email, v));
        }
    }
    Ok(())
}

/// The one-time enrollment token of an answer, and when it expires.
fn print_token(email: &str, v: &Value) {
    let expires = match v.get("token_expires_at").or_else(|| v.get("expires_at")) {
        Some(t) if !t.is_null() => format!(", expires {}", when(t)),
        _ => String::new(),
    };
    outln!(
        "enrollment token for {email} (shown once{expires}): {}",
        s(&v["enrollment_token"], "")
    );
}
