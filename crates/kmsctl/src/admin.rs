//! `kmsctl admin …`: administrator accounts and their roles.

use serde_json::json;

use crate::cli::admin::AdminCommand;
use crate::http::enc;
use crate::output::{Failure, Table, s};
use crate::secrets::{read_secret, read_stdin_line};
use crate::{Ctx, outln, session};

/// Runs one `admin` subcommand.
pub fn run(ctx: &Ctx, cmd: AdminCommand) -> Result<(), Failure> {
    let token = session::token()?;
    let http = &ctx.http;
    match cmd {
        AdminCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let password = read_secret(&format!("password for {name}"), password_stdin, true)?;
            let v = http.post(
                "/api/v1/admins",
                &token,
                Some(json!({"name": name, "role": role, "password": password.as_str()})),
            )?;
            ctx.print(&v, |v| {
                outln!(
                    "added {} ({})",
                    s(&v["admin"]["name"], &name),
                    s(&v["admin"]["role"], &role)
                )
            });
        }
        AdminCommand::Remove { name } => {
            let v = http.post(
                &format!("/api/v1/admins/{}/remove", enc(&name)),
                &token,
                None,
            )?;
            ctx.print(&v, |_| outln!("removed {name}"));
        }
        AdminCommand::Passwd { password_stdin } => {
            let (current, new) = if password_stdin {
                let current = read_stdin_line("current password")?;
                (current, read_stdin_line("new password")?)
            } else {
                let current = read_secret("current password", false, false)?;
                (current, read_secret("new password", false, true)?)
            };
            let v = http.post(
                "/api/v1/admins/me/password",
                &token,
                Some(json!({"current": current.as_str(), "new": new.as_str()})),
            )?;
            ctx.print(&v, |_| {
                outln!("password changed; your other sessions are ended")
            });
        }
        AdminCommand::Role { name, role } => {
            let v = http.post(
                &format!("/api/v1/admins/{}/role", enc(&name)),
                &token,
                Some(json!({"role": role})),
            )?;
            ctx.print(&v, |v| {
                outln!("{name} is now {}", s(&v["admin"]["role"], &role))
            });
        }
        AdminCommand::List => {
            let v = http.get("/api/v1/admins", &token)?;
            ctx.print(&v, |v| {
                let mut t = Table::new(&["name", "role"]);
                for a in v["admins"].as_array().into_iter().flatten() {
                    t.row(vec![s(&a["name"], "").into(), s(&a["role"], "").into()]);
                }
                t.print_or("no administrators");
            });
        }
    }
    Ok(())
}
