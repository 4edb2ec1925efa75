//! `kmsctl user …`: users and their enrollment tokens.

use api::{AddUserRequest, ContentAlgorithm, Secret, UserList, UserListQuery};

use crate::cli::user::UserCommand;
use crate::http::fail;
use crate::output::{Failure, Table, fields, joined, when};
use crate::{Ctx, outln};

/// Every user in `state`, a page of 500 at a time (as one list, like a plain `user list`).
fn users_in_state(client: &api::KmsClient, state: &str) -> Result<UserList, Failure> {
    const PAGE: i64 = 500;
    let mut users = Vec::new();
    loop {
        let page = client
            .users(&UserListQuery {
                state: Some(state.to_string()),
                limit: Some(PAGE),
                offset: Some(users.len() as i64),
                ..UserListQuery::default()
            })
            .map_err(fail)?;
        let n = page.users.len();
        users.extend(page.users);
        if n == 0 || users.len() as i64 >= page.total {
            return Ok(UserList {
                total: users.len() as i64,
                offset: None,
                limit: None,
                users,
            });
        }
    }
}

/// Runs one `user` subcommand.
pub fn run(ctx: &Ctx, cmd: UserCommand) -> Result<(), Failure> {
    let client = ctx.signed_in()?;
    match cmd {
        UserCommand::Add {
            email,
            name,
            caps,
            given_name,
            surname,
            profile,
        } => {
            let capabilities: Vec<ContentAlgorithm> = caps
                .map(|c| {
                    c.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(ContentAlgorithm::parse)
                        .collect()
                })
                .unwrap_or_default();
            let r = client
                .add_user(&AddUserRequest {
                    email: email.clone(),
                    name,
                    capabilities,
                    given_name,
                    surname,
                    pseudonym: None,
                    profile,
                })
                .map_err(fail)?;
            ctx.show(&r, |r| {
                outln!(
                    "added {} (content algorithms: {})",
                    r.user.email,
                    joined(&r.user.capabilities)
                );
                print_token(&email, &r.enrollment_token, r.token_expires_at);
            });
        }
        UserCommand::List { state } => {
            let r = match state {
                None => client.users(&UserListQuery::default()).map_err(fail)?,
                Some(s) => users_in_state(&client, s.as_str())?,
            };
            ctx.show(&r, |r| {
                let mut t = Table::new(&["email", "status", "state", "until", "name", "added"]);
                for u in &r.users {
                    t.row(vec![
                        u.email.clone(),
                        u.status.to_string(),
                        u.state
                            .as_ref()
                            .map_or_else(|| "-".to_string(), ToString::to_string),
                        u.state_expires_at.map_or_else(|| "-".to_string(), when),
                        u.name.clone(),
                        when(u.created_at),
                    ]);
                }
                t.print_or("no users");
            });
        }
        UserCommand::Show { email } => {
            let r = client.user(&email).map_err(fail)?;
            ctx.show(&r, |r| {
                outln!(
                    "{}",
                    fields(&[
                        ("name", r.user.name.clone()),
                        ("e-mail", r.user.email.clone()),
                        ("status", r.user.status.to_string()),
                        (
                            "given name",
                            r.user.given_name.clone().unwrap_or_else(|| "-".into())
                        ),
                        (
                            "surname",
                            r.user.surname.clone().unwrap_or_else(|| "-".into())
                        ),
                        (
                            "profile",
                            r.user
                                .profile
                                .clone()
                                .unwrap_or_else(|| "(the authority's)".into()),
                        ),
                        ("content algorithms", joined(&r.user.capabilities)),
                        ("escrowed keys", r.escrowed_keys.to_string()),
                    ])
                    .trim_end()
                );
                let mut t = Table::new(&["kind", "serial", "state", "expires"]);
                for c in &r.certificates {
                    let state = match (&c.revoked, c.superseded) {
                        (Some(reason), _) => format!("revoked ({reason})"),
                        (None, true) => "superseded".into(),
                        (None, false) => "current".into(),
                    };
                    t.row(vec![
                        c.kind.to_string(),
                        c.serial.clone(),
                        state,
                        when(c.not_after),
                    ]);
                }
                outln!("");
                t.print_or("no certificates");
            });
        }
        UserCommand::Disable { email } => {
            let r = client.disable_user(&email).map_err(fail)?;
            ctx.show(&r, |_| outln!("disabled {email}"));
        }
        UserCommand::Token { email } => {
            let r = client.new_token(&email).map_err(fail)?;
            ctx.show(&r, |r| {
                print_token(&email, &r.enrollment_token, r.token_expires_at)
            });
        }
    }
    Ok(())
}

/// The one-time enrollment token, and when it expires.
fn print_token(email: &str, token: &Secret, expires_at: i64) {
    outln!(
        "enrollment token for {email}, shown once, valid until {}: {}",
        when(expires_at),
        token.expose()
    );
}
