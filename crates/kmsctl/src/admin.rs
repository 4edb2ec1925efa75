//! `kmsctl admin …`: administrator accounts and their roles.

use api::{AddAdminRequest, ChangePasswordRequest, Role, Secret};

use crate::cli::admin::{AdminCommand, TotpCommand};
use crate::http::fail;
use crate::output::{Failure, Table, when_opt};
use crate::secrets::{read_secret, read_stdin_line};
use crate::{Ctx, outln};

/// Runs one `admin` subcommand.
pub fn run(ctx: &Ctx, cmd: AdminCommand) -> Result<(), Failure> {
    let client = ctx.signed_in()?;
    match cmd {
        AdminCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let password = read_secret(&format!("password for {name}"), password_stdin, true)?;
            let r = client
                .add_admin(&AddAdminRequest {
                    name: name.clone(),
                    role: Role::parse(&role),
                    password: Secret::new(password.as_str()),
                })
                .map_err(fail)?;
            ctx.show(&r, |r| outln!("added {} ({})", r.admin.name, r.admin.role));
        }
        AdminCommand::Remove { name } => {
            let r = client.remove_admin(&name).map_err(fail)?;
            ctx.show(&r, |_| outln!("removed {name}"));
        }
        AdminCommand::Unlock { name } => {
            let r = client.unlock_admin(&name).map_err(fail)?;
            ctx.show(&r, |_| {
                outln!("unlocked {name}: it may sign in again from any address")
            });
        }
        AdminCommand::Passwd { password_stdin } => {
            let (current, new) = if password_stdin {
                let current = read_stdin_line("current password")?;
                (current, read_stdin_line("new password")?)
            } else {
                let current = read_secret("current password", false, false)?;
                (current, read_secret("new password", false, true)?)
            };
            let r = client
                .change_password(&ChangePasswordRequest {
                    current: Secret::new(current.as_str()),
                    new: Secret::new(new.as_str()),
                })
                .map_err(fail)?;
            ctx.show(&r, |_| {
                outln!("password changed; your other sessions are ended")
            });
        }
        AdminCommand::Role { name, role } => {
            let r = client.set_role(&name, Role::parse(&role)).map_err(fail)?;
            ctx.show(&r, |r| outln!("{name} is now {}", r.admin.role));
        }
        AdminCommand::Totp(TotpCommand::Enable) => {
            let r = client.enable_totp().map_err(fail)?;
            ctx.show(&r, |r| {
                outln!("second factor enabled; add this to an authenticator app (shown once):");
                outln!("{}", r.otpauth_uri.expose());
                outln!("from now on, sign in with: kmsctl login --admin NAME --totp CODE");
            });
        }
        AdminCommand::Totp(TotpCommand::Disable { name }) => {
            let r = match &name {
                Some(n) => client.disable_totp(n),
                None => client.disable_own_totp(),
            }
            .map_err(fail)?;
            ctx.show(&r, |r| {
                if r.had_totp {
                    outln!("second factor of {} disabled", r.name)
                } else {
                    outln!("{} had no second factor", r.name)
                }
            });
        }
        AdminCommand::List => {
            let r = client.admins().map_err(fail)?;
            ctx.show(&r, |r| {
                let mut t = Table::new(&["name", "role", "locked until"]);
                for a in &r.admins {
                    t.row(vec![
                        a.name.clone(),
                        a.role.to_string(),
                        when_opt(a.locked_until),
                    ]);
                }
                t.print_or("no administrators");
            });
        }
    }
    Ok(())
}
