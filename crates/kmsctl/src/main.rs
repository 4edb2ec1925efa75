//! `kmsctl`: the administrator's command line. Reaches the authority only through its HTTP
//! API (server URL from `--server` or `KMS_URL`). The clap definitions are in [`cli`], one
//! module per noun beside them holds the handlers, [`output`] prints.
//!
//! Exit codes: 0 success, 1 the operation failed, 2 bad usage, 3 waiting for approvals, 5 the
//! authority is locked, 6 not signed in or the session expired, 7 confirmation required.

use std::process::ExitCode;

use clap::Parser;

mod admin;
mod agent;
mod approvals;
mod audit;
mod backup;
mod cert;
mod cli;
mod crl;
mod http;
mod output;
mod policy;
mod recover;
mod renew;
mod revoke;
mod secrets;
mod session;
mod settings;
mod status;
mod unlock_method;
mod user;

/// The completion scripts and man pages `build.rs` made from [`cli`].
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

use cli::{Cli, Command};
use output::{Failure, Printer};

/// What every handler needs: the server and how to print.
pub struct Ctx {
    /// The typed client, not signed in.
    pub client: api::KmsClient,
    /// JSON or text.
    pub printer: Printer,
    /// `--force-tty`: key material may be written to a terminal.
    pub force_tty: bool,
}

impl Ctx {
    /// Prints an answer for a command whose `--out` was `out`: as [`Ctx::show`], except when
    /// the document itself went to standard output (`-`): then the JSON goes to standard
    /// error and the human text is left out (`human_stderr` says what is worth saying there).
    pub fn show_beside<T: serde::Serialize>(
        &self,
        out: &std::path::Path,
        v: &T,
        human: impl FnOnce(&T),
        human_stderr: impl FnOnce(&T),
    ) {
        if !output::is_stdout(out) {
            self.show(v, human);
        } else if self.printer.json {
            errln!("{}", serde_json::to_string(v).unwrap_or_default());
        } else {
            human_stderr(v);
        }
    }
}

impl Ctx {
    /// Prints an answer (see [`Printer::show`]).
    pub fn show<T: serde::Serialize>(&self, v: &T, human: impl FnOnce(&T)) {
        self.printer.show(v, human);
    }

    /// The client signed in with the saved session (exit 6 without one).
    pub fn signed_in(&self) -> Result<api::KmsClient, Failure> {
        Ok(self.client.clone().with_token(session::token()?))
    }
}

/// The typed client of `server`, trusting the CA certificate in `ca_cert` for HTTPS.
fn connect(
    server: Option<&str>,
    ca_cert: Option<&std::path::Path>,
) -> Result<api::KmsClient, Failure> {
    let server =
        server.ok_or_else(|| Failure::local("no server: give --server URL or set KMS_URL"))?;
    let pem = ca_cert
        .map(|path| {
            std::fs::read(path)
                .map_err(|e| Failure::local(format!("reading {}: {e}", path.display())))
        })
        .transpose()?;
    let client = api::KmsClient::new(server, pem.as_deref()).map_err(|e| {
        let where_ = ca_cert
            .map(|p| format!(" ({})", p.display()))
            .unwrap_or_default();
        Failure::local(format!("{e}{where_}"))
    })?;
    Ok(client)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    let printer = Printer { json: cli.json };
    match run(cli, printer) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if let (true, Some(body)) = (printer.json, f.body()) {
                printer.show(&body, |_| {});
            }
            errln!("{}", f.human());
            ExitCode::from(f.exit)
        }
    }
}

/// clap's own errors: help and version exit 0; usage errors exit 2, as JSON on standard
/// output with `--json`.
fn usage_error(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
        output::out(&e.render().to_string());
        return ExitCode::SUCCESS;
    }
    if std::env::args().skip(1).any(|a| a == "--json") {
        let text = e.render().to_string();
        let message = text
            .lines()
            .next()
            .unwrap_or("bad usage")
            .trim_start_matches("error: ")
            .to_string();
        if let Some(body) = Failure::usage(message).body() {
            output::Printer { json: true }.show(&body, |_| {});
        }
    }
    let _ = e.print();
    ExitCode::from(output::exit::USAGE)
}

fn run(cli: Cli, printer: Printer) -> Result<(), Failure> {
    // Commands that need no server.
    match &cli.command {
        Command::Completions { shell } => {
            let name = shell.to_string();
            let script = embedded::COMPLETIONS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| *text)
                .ok_or_else(|| Failure::local(format!("no completions for {name}")))?;
            output::out(script);
            return Ok(());
        }
        Command::Man { out } => {
            let fail = |e: std::io::Error| {
                Failure::local(format!("writing man pages to {}: {e}", out.display()))
            };
            std::fs::create_dir_all(out).map_err(fail)?;
            for (name, text) in embedded::MAN_PAGES {
                std::fs::write(out.join(name), text).map_err(fail)?;
            }
            let v = serde_json::json!({"written": out, "pages": embedded::MAN_PAGES.len()});
            printer.show(&v, |_| {
                outln!(
                    "{} man pages written to {} (try: man -l {}/kmsctl.1)",
                    embedded::MAN_PAGES.len(),
                    out.display(),
                    out.display()
                )
            });
            return Ok(());
        }
        Command::Renew(a) => renew::check(a)?,
        Command::Agent(cli::agent::AgentCommand::Keygen {
            out,
            password_stdin,
        }) => return agent::keygen(&printer, out, *password_stdin),
        _ => {}
    }
    let client = connect(cli.server.as_deref(), cli.ca_cert.as_deref())?;
    let ctx = Ctx {
        client,
        printer,
        force_tty: cli.force_tty,
    };
    match cli.command {
        Command::Login(a) => session::login(&ctx, a),
        Command::Logout => session::logout(&ctx),
        Command::Unlock(a) => session::unlock(&ctx, a),
        Command::Admin(c) => admin::run(&ctx, c),
        Command::Policy(c) => policy::run(&ctx, c),
        Command::Approvals(c) => approvals::run(&ctx, c),
        Command::Approve(a) => approvals::approve(&ctx, a),
        Command::Agent(c) => agent::run(&ctx, c),
        Command::RecoverKey(a) => recover::run(&ctx, a),
        Command::UnlockMethod(c) => unlock_method::run(&ctx, c),
        Command::Backup(c) => backup::run(&ctx, c),
        Command::Audit(c) => audit::run(&ctx, c),
        Command::Settings(c) => settings::run(&ctx, c),
        Command::User(c) => user::run(&ctx, c),
        Command::Revoke(a) => revoke::run(&ctx, a),
        Command::Renew(a) => renew::run(&ctx, a),
        Command::Crl(a) => crl::crl(&ctx, a),
        Command::CaCert(a) => crl::ca_cert(&ctx, a),
        Command::Status => status::run(&ctx),
        Command::Cert(c) => cert::run(&ctx, c),
        Command::Completions { .. } | Command::Man { .. } => Ok(()),
    }
}
