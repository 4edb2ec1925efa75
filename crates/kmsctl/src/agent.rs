//! `kmsctl agent …` and `kmsctl approve ID --agent-key FILE`: key recovery agents. The agent's
//! key pair is made here, on the agent's machine; releasing shares opens them here with the
//! agent's key and re-seals them to the request, so no share crosses the network in the
//! clear and the server never sees the agent's private key.

use std::path::Path;

use api::agent::{AGENT_KEY_ITERATIONS, AgentSecretKey};
use serde::Serialize;

use crate::cli::agent::AgentCommand;
use crate::http::fail;
use crate::output::{Failure, Table, code, joined, when};
use crate::secrets::{read_secret, write_private};
use crate::{Ctx, Printer, outln};

/// The shortest agent key file password.
const PASSWORD_MIN: usize = 8;

#[derive(Serialize)]
struct Generated {
    written: std::path::PathBuf,
    public_key: String,
}

/// Runs one `agent` subcommand.
pub fn run(ctx: &Ctx, cmd: AgentCommand) -> Result<(), Failure> {
    let client = ctx.signed_in()?;
    match cmd {
        AgentCommand::Keygen { .. } => unreachable!("run before connecting: see main.rs"),
        AgentCommand::Add { name, public_key } => {
            let r = client
                .add_agent(&api::AddAgentRequest { name, public_key })
                .map_err(fail)?;
            ctx.show(&r, |r| {
                outln!("agent {} added (key {})", r.agent.name, r.agent.public_key)
            });
        }
        AgentCommand::List => {
            let r = client.agents().map_err(fail)?;
            ctx.show(&r, |r| {
                match r.threshold {
                    Some(m) => outln!("threshold: {m} of {} agents", r.agents.len()),
                    None => outln!("threshold: not set ({} agents)", r.agents.len()),
                }
                outln!(
                    "escrowed keys: {} split among the agents, {} under the master key only",
                    r.split_keys,
                    r.master_only_keys
                );
                if r.needs_reshare > 0 {
                    outln!(
                        "{} split keys have shares made for another agent set or threshold: \
                         kmsctl agent reshare re-makes them",
                        r.needs_reshare
                    );
                }
                let mut t = Table::new(&["name", "public key", "shares", "added", "by"]);
                for g in &r.agents {
                    t.row(vec![
                        g.name.clone(),
                        g.public_key.clone(),
                        g.shares.to_string(),
                        when(g.added_at),
                        g.added_by.clone(),
                    ]);
                }
                t.print_or("no key recovery agents");
            });
        }
        AgentCommand::Remove { name } => {
            let r = client.remove_agent(&name).map_err(fail)?;
            ctx.show(&r, |_| {
                outln!("agent {name} removed; their shares are deleted")
            });
        }
        AgentCommand::Threshold { threshold } => {
            let r = client.set_agent_threshold(threshold).map_err(fail)?;
            ctx.show(&r, |r| {
                outln!(
                    "threshold: {threshold} of {} agents (keys split from now on)",
                    r.agents.len()
                )
            });
        }
        AgentCommand::Reshare => {
            let r = client.agent_reshare().map_err(fail)?;
            ctx.show(&r, |r| {
                if r.remade > 0 {
                    outln!(
                        "{} keys' shares re-made for the current agents (their old shares open \
                         nothing any more)",
                        r.remade
                    );
                }
                outln!(
                    "{} keys split among the agents; {} wait for their owner (split when collected)",
                    r.split,
                    r.waiting_for_owner
                )
            });
        }
        AgentCommand::Requests => {
            let r = client.agent_requests().map_err(fail)?;
            ctx.show(&r, |r| {
                let mut t = Table::new(&[
                    "id",
                    "kind",
                    "target",
                    "keys",
                    "opened by",
                    "agents",
                    "released by",
                    "expires",
                    "status",
                ]);
                for q in &r.requests {
                    t.row(vec![
                        q.id.to_string(),
                        q.kind.clone(),
                        q.target.clone(),
                        q.keys.to_string(),
                        q.opener.clone(),
                        format!("{}/{}", q.released_by.len(), q.needed),
                        joined(&q.released_by),
                        when(q.expires_at),
                        q.status.clone(),
                    ]);
                }
                t.print_or("no recovery or re-share waits for agent shares");
            });
        }
    }
    Ok(())
}

/// `kmsctl agent keygen`: made on the agent's machine, with no server (run before `main`
/// connects, so no `--server`/`KMS_URL` is needed).
pub fn keygen(printer: &Printer, out: &Path, password_stdin: bool) -> Result<(), Failure> {
    if out.exists() {
        return Err(Failure::local(format!(
            "{} exists: an agent key is never overwritten",
            out.display()
        )));
    }
    let password = read_secret("agent key password", password_stdin, true)?;
    if password.chars().count() < PASSWORD_MIN {
        return Err(Failure::local(format!(
            "the agent key password is shorter than {PASSWORD_MIN} characters"
        )));
    }
    let key = AgentSecretKey::generate().map_err(|e| Failure::local(e.to_string()))?;
    let pem = key
        .to_encrypted_pem(password.as_bytes(), AGENT_KEY_ITERATIONS)
        .map_err(|e| Failure::local(e.to_string()))?;
    let public_key = key
        .public_key()
        .map_err(|e| Failure::local(e.to_string()))?
        .to_hex();
    write_private(out, pem.as_bytes(), false)?;
    let shown = Generated {
        written: out.to_path_buf(),
        public_key,
    };
    printer.show(&shown, |g| {
        outln!("agent key written to {}", g.written.display());
        outln!("public key: {}", g.public_key);
        outln!(
            "an administrator designates you with: kmsctl agent add NAME {}",
            g.public_key
        );
    });
    Ok(())
}

/// `kmsctl approve ID --agent-key FILE`: fetch this agent's shares of exactly the request's
/// keys, open them here, re-seal them to the request's one-time key, release them.
pub fn release(ctx: &Ctx, id: i64, file: &Path, password_stdin: bool) -> Result<(), Failure> {
    let pem = zeroize::Zeroizing::new(
        std::fs::read(file)
            .map_err(|e| Failure::local(format!("reading {}: {e}", file.display())))?,
    );
    let password = read_secret("agent key password", password_stdin, false)?;
    let key = AgentSecretKey::from_encrypted_pem(&pem, password.as_bytes())
        .map_err(|e| Failure::new(code::AGENT_KEY, format!("{}: {e}", file.display())))?;
    let public_key = key
        .public_key()
        .map_err(|e| Failure::local(e.to_string()))?
        .to_hex();
    let client = ctx.signed_in()?;
    let fetched = client.fetch_agent_shares(id, &public_key).map_err(fail)?;
    let req = api::agent::reseal(&key, &fetched)
        .map_err(|e| Failure::new(code::AGENT_SHARES, e.to_string()))?;
    let r = client.release_agent_shares(id, &req).map_err(fail)?;
    ctx.show(&r, |r| {
        let q = &r.request;
        let what = if q.kind == "reshare" {
            "the re-share".to_string()
        } else {
            q.target.clone()
        };
        outln!(
            "released {} share{} to agent request {id} ({what}): {}/{} agents",
            req.shares.len(),
            if req.shares.len() == 1 { "" } else { "s" },
            q.released_by.len(),
            q.needed
        )
    });
    Ok(())
}
