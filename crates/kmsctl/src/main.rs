//! `kmsctl`: the administrator's command line. Reaches the authority only through its HTTP
//! API (server URL from `--server` or `KMS_URL`).
//!
//! Exit codes: 0 success, 1 the operation failed, 2 bad usage, 3 waiting for approvals, 5 the
//! authority is locked, 6 not signed in or the session expired.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use base64ct::Encoding;
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "kmsctl",
    version,
    about = "Administer the key management server over its HTTP API",
    after_help = "Exit codes: 0 success, 1 failure, 2 bad usage, 3 waiting for approvals (a quorum \
                  operation was opened or counted, not yet carried out), 5 the authority is locked, \
                  6 not signed in or the session expired.\n\
                  Environment: KMS_URL (server), KMS_SESSION_FILE (where the session token is kept)."
)]
struct Cli {
    /// The server's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "KMS_URL", global = true)]
    server: Option<String>,
    /// Trust the server's HTTPS certificate when it chains to this CA certificate (PEM), e.g.
    /// the authority's own CA from its public /ca URL.
    #[arg(long, env = "KMS_CA_CERT", global = true, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Print the server's JSON answer (for scripts).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign in; the session token is kept in a 0600 file.
    Login {
        /// Administrator name.
        #[arg(long)]
        admin: String,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Sign out and forget the session.
    Logout,
    /// Unlock a locked authority.
    Unlock {
        /// Read the start-up password from standard input.
        #[arg(
            long,
            conflicts_with = "key_file",
            required_unless_present = "key_file"
        )]
        password_stdin: bool,
        /// Unlock with this key file (its content is sent to the server).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Administrator accounts and their roles (administrator, officer, auditor).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Quorum policies: how many administrators must approve an operation.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Approval requests of quorum operations.
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// Approve an approval request (then its opener runs the same command again).
    Approve {
        /// Request id (kmsctl approvals list).
        id: i64,
    },
    /// Recover every encryption key a user ever had into one PKCS#12 file (under the
    /// recover-key quorum; exit 3 while approvals are missing).
    RecoverKey {
        /// The user's e-mail address.
        email: String,
        /// Where to write the PKCS#12 (mode 0600).
        #[arg(long)]
        out: PathBuf,
        /// Read the bundle's password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Also issue a new enrollment token so the user can enroll again.
        #[arg(long)]
        reenroll: bool,
    },
    /// Start-up secrets (passwords, key files) that unlock the store.
    #[command(subcommand)]
    UnlockMethod(UnlockMethodCommand),
    /// Encrypted backups of the store, kept in the server's DATA_DIR/backups.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Users and their enrollment tokens.
    #[command(subcommand)]
    User(UserCommand),
    /// Revoke a user's certificates, or one certificate by serial.
    Revoke(RevokeArgs),
    /// Renew a user's certificates (or everyone's).
    Renew(RenewArgs),
    /// Download the CRL.
    Crl {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        /// PEM instead of DER.
        #[arg(long)]
        pem: bool,
        /// The delta CRL instead of the full one.
        #[arg(long)]
        delta: bool,
    },
    /// The authority at a glance: CA, counts, CRLs, last backup and its check, approvals.
    Status,
    /// Certificates: search and show.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Download the CA certificate (PEM).
    CaCert {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Add an administrator account (needs the administrator role).
    Add {
        /// Account name.
        name: String,
        /// administrator (everything), officer (users, tokens, revoke, renew) or auditor
        /// (reads only).
        #[arg(long)]
        role: String,
        /// Read the new account's password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Remove an administrator account and end its sessions (needs the administrator role).
    Remove {
        /// Account name.
        name: String,
    },
    /// List administrator accounts.
    List,
    /// Change your own password (reads the current and the new password from standard
    /// input, one per line); ends your other sessions.
    Passwd {
        /// Read both passwords from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Give an administrator another role (under the admin-change quorum; exit 3 while
    /// approvals are missing).
    Role {
        /// Account name.
        name: String,
        /// administrator, officer or auditor.
        role: String,
    },
}

#[derive(Subcommand)]
enum CertCommand {
    /// Search certificates, newest first.
    List {
        /// Part of the owner's e-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Serial in hex, or its start.
        #[arg(long)]
        serial: Option<String>,
        /// active, revoked, expired or superseded.
        #[arg(long)]
        status: Option<String>,
        /// signing, encryption or tls.
        #[arg(long)]
        kind: Option<String>,
        /// Rows to show (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Rows to skip.
        #[arg(long, default_value_t = 0)]
        offset: i64,
    },
    /// Show one certificate in full.
    Show {
        /// Serial (hex).
        serial: String,
        /// Also write the certificate (DER) here.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// `?a=b&c=d` from the pairs that have a value (values percent-encoded).
fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", enc(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[derive(Subcommand)]
enum UnlockMethodCommand {
    /// List them (no secret material).
    List,
    /// Add a start-up password or a new key file (under the admin-change quorum).
    Add {
        /// Read the new start-up password from standard input.
        #[arg(
            long,
            conflicts_with = "key_file_out",
            required_unless_present = "key_file_out"
        )]
        password_stdin: bool,
        /// Make a new key file and write it here (mode 0600).
        #[arg(long, value_name = "FILE")]
        key_file_out: Option<PathBuf>,
    },
    /// Remove one (under the admin-change quorum; never the last).
    Remove {
        /// Its id (unlock-method list).
        id: i64,
    },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Take a backup now; prints its path on the server.
    Now,
    /// List the backups.
    List,
    /// Check a backup on the server: every chunk, every key, the audit chain inside.
    Verify {
        /// A name from `backup list`, or a path on the server.
        name: String,
    },
    /// Restore a backup over the live store (under the restore quorum; exit 3 while
    /// approvals are missing). Checks it first and takes a safety backup; everything written
    /// after the backup is gone and every session ends (sign in again).
    Restore {
        /// A name from `backup list`.
        name: String,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Set an operation's quorum (needs the current policy-change quorum).
    Set {
        /// recover-key, admin-change, policy-change or restore.
        operation: String,
        /// Distinct administrators who must approve (1 to the number of administrators).
        quorum: i64,
    },
    /// List the policies.
    List,
}

#[derive(Subcommand)]
enum ApprovalsCommand {
    /// Open requests.
    List,
    /// Cancel an open request.
    Cancel {
        /// Request id.
        id: i64,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// List entries, oldest first.
    List {
        /// Only entries from this time on: Unix seconds, or an age such as 30m, 12h, 7d.
        #[arg(long, value_name = "T")]
        since: Option<String>,
    },
    /// Check the whole chain and its CA-signed checkpoints; names the first entry that was
    /// altered, removed or reordered (exit 1 then).
    Verify,
    /// Sign the chain head with the CA key now (administrator role).
    Sign,
}

/// `--since`: Unix seconds, or an age (`30s`, `30m`, `12h`, `7d`) before now.
fn parse_since(t: &str) -> anyhow::Result<i64> {
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    let (num, unit) = t.split_at(t.len().saturating_sub(1));
    let n: i64 = num
        .parse()
        .map_err(|_| anyhow!("--since {t:?}: give Unix seconds or an age like 30m, 12h, 7d"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => bail!("--since {t:?}: give Unix seconds or an age like 30m, 12h, 7d"),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Ok(now - n * secs)
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; prints their one-time enrollment token.
    Add {
        /// E-mail address.
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Content algorithms the user's client supports, e.g. aes256-gcm,aes128,3des.
        #[arg(long)]
        caps: Option<String>,
    },
    /// List users.
    List,
    /// Show a user and their certificates.
    Show {
        /// E-mail address.
        email: String,
    },
    /// Disable a user (outstanding tokens stop working).
    Disable {
        /// E-mail address.
        email: String,
    },
    /// Issue a new enrollment token (earlier ones stop working).
    Token {
        /// E-mail address.
        email: String,
    },
}

#[derive(Args)]
struct RevokeArgs {
    /// Revoke every unrevoked certificate of this user.
    #[arg(required_unless_present = "serial", conflicts_with = "serial")]
    email: Option<String>,
    /// Revoke one certificate by serial (hex).
    #[arg(long)]
    serial: Option<String>,
    /// RFC 5280 reason: unspecified, keyCompromise, caCompromise, affiliationChanged,
    /// superseded, cessationOfOperation, certificateHold, privilegeWithdrawn.
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Args)]
struct RenewArgs {
    /// The user to renew.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    email: Option<String>,
    /// Roll the encryption key over: a new escrowed key now, and an enrollment token with
    /// which the user collects it (old keys stay escrowed).
    #[arg(long, conflicts_with = "all")]
    new_key: bool,
    /// Renew every active enrolled user.
    #[arg(long)]
    all: bool,
}

/// A failure with its exit code.
struct Failure {
    code: u8,
    error: anyhow::Error,
    /// Printed on standard output with `--json` (a pending approval's request_id, status).
    json: Option<Value>,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure {
            code: 1,
            error,
            json: None,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let js = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if let (true, Some(v)) = (js, &f.json) {
                print(true, v, |_| {});
            }
            eprintln!("kmsctl: error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    fn new(server: Option<String>, ca_cert: Option<&Path>) -> anyhow::Result<Self> {
        let base = server
            .ok_or_else(|| anyhow!("no server: give --server URL or set KMS_URL"))?
            .trim_end_matches('/')
            .to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("the server URL must start with http:// or https://");
        }
        let mut config = ureq::Agent::config_builder().http_status_as_error(false);
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let mut roots = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                if let ureq::tls::PemItem::Certificate(c) =
                    item.map_err(|e| anyhow!("{}: {e}", path.display()))?
                {
                    roots.push(c);
                }
            }
            if roots.is_empty() {
                bail!("{} holds no PEM certificate", path.display());
            }
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(roots)))
                    .build(),
            );
        }
        let agent = config.build().into();
        Ok(Client { base, agent })
    }

    /// Sends a request; a non-2xx answer becomes a Failure with the server's message and
    /// the exit code its error code implies.
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Vec<u8>, Failure> {
        let url = format!("{}{}", self.base, path);
        let auth = token.map(|t| format!("Bearer {t}"));
        let result = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            (_, body) => {
                let mut r = self.agent.post(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.send_json(body.unwrap_or_else(|| json!({})))
            }
        };
        let mut resp =
            result.map_err(|e| anyhow!("cannot reach the server at {}: {e}", self.base))?;
        let status = resp.status();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| anyhow!("reading the server's answer: {e}"))?;
        let v: Value = if status.is_success() && status.as_u16() != 202 {
            return Ok(bytes);
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if v["status"] == "pending" {
            // A quorum operation was opened or counted: exit 3, and say what is missing.
            return Err(Failure {
                code: 3,
                error: anyhow!(
                    "{}",
                    v["error"]["message"]
                        .as_str()
                        .unwrap_or("waiting for approvals")
                ),
                json: Some(json!({
                    "status": "pending",
                    "request_id": v["request_id"],
                    "operation": v["operation"],
                    "target": v["target"],
                    "approved_by": v["approved_by"],
                    "needed": v["needed"],
                })),
            });
        }
        let code = v["error"]["code"].as_str().unwrap_or("").to_string();
        let message = v["error"]["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("the server answered {status}"));
        let exit = match code.as_str() {
            "KMS-423" => 5,
            "AUTH-003" => 6,
            _ => 1,
        };
        Err(Failure {
            code: exit,
            error: anyhow!("{message} [{code}]"),
            json: None,
        })
    }

    fn json(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let bytes = self.call(method, path, token, body)?;
        Ok(serde_json::from_slice(&bytes).context("the server's answer is not JSON")?)
    }
}

fn session_file() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("KMS_SESSION_FILE") {
        return Ok(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or_else(|| anyhow!("cannot find a config directory: set KMS_SESSION_FILE"))?;
    Ok(base.join("kmsctl").join("session.json"))
}

/// Writes `data` to `path` with mode 0600: a temporary file in the same directory, fsync,
/// rename.
fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
        std::process::id()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    // The rename itself reaches the disk too.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

fn session_token() -> Result<Zeroizing<String>, Failure> {
    let path = session_file()?;
    let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|_| Failure {
        code: 6,
        error: anyhow!(
            "not signed in (no session in {}): run kmsctl login",
            path.display()
        ),
        json: None,
    })?);
    let v: Value = serde_json::from_str(&text).map_err(|_| Failure {
        code: 6,
        error: anyhow!(
            "the session file {} is damaged: run kmsctl login",
            path.display()
        ),
        json: None,
    })?;
    Ok(Zeroizing::new(
        v["token"].as_str().unwrap_or("").to_string(),
    ))
}

fn read_stdin_line(what: &str) -> anyhow::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from standard input"))?;
    let p = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string());
    if p.is_empty() {
        bail!("the {what} on standard input is empty");
    }
    Ok(p)
}

fn enc(s: &str) -> String {
    // Path segment encoding for e-mail addresses and the like.
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@+".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn print(json_mode: bool, v: &Value, human: impl FnOnce(&Value)) {
    if json_mode {
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(v).unwrap_or_default()
        );
    } else {
        human(v);
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let client = Client::new(cli.server, cli.ca_cert.as_deref())?;
    let js = cli.json;
    match cli.command {
        Command::Login { admin, .. } => {
            let password = read_stdin_line("password")?;
            let v = client.json(
                "POST",
                "/api/v1/login",
                None,
                Some(json!({"name": admin, "password": password.as_str()})),
            )?;
            let path = session_file()?;
            let saved = Zeroizing::new(serde_json::to_vec(&json!({"server": client.base, "token": v["token"], "expires_at": v["expires_at"]})).map_err(anyhow::Error::from)?);
            write_private(&path, &saved)?;
            let out =
                json!({"admin": v["admin"], "expires_at": v["expires_at"], "session_file": path});
            print(js, &out, |_| {
                println!("signed in as {admin}; session kept in {}", path.display())
            });
        }
        Command::Logout => {
            let token = session_token()?;
            let result = client.json("POST", "/api/v1/logout", Some(&token), None);
            let _ = std::fs::remove_file(session_file()?);
            let v = result?;
            print(js, &v, |_| println!("signed out"));
        }
        Command::Unlock { key_file, .. } => {
            let body = match key_file {
                Some(path) => {
                    let bytes = Zeroizing::new(
                        std::fs::read(&path)
                            .with_context(|| format!("reading {}", path.display()))?,
                    );
                    json!({"key_file": base64ct::Base64::encode_string(&bytes)})
                }
                None => json!({"password": read_stdin_line("start-up password")?.as_str()}),
            };
            let v = client.json("POST", "/api/v1/unlock", None, Some(body))?;
            print(js, &v, |_| println!("the authority is unlocked"));
        }
        Command::Admin(cmd) => {
            let token = session_token()?;
            match cmd {
                AdminCommand::Add { name, role, .. } => {
                    let password = read_stdin_line("password")?;
                    let v = client.json(
                        "POST",
                        "/api/v1/admins",
                        Some(&token),
                        Some(json!({"name": name, "role": role, "password": password.as_str()})),
                    )?;
                    print(js, &v, |v| {
                        println!(
                            "added {} ({})",
                            v["admin"]["name"].as_str().unwrap_or(""),
                            v["admin"]["role"].as_str().unwrap_or("")
                        )
                    });
                }
                AdminCommand::Remove { name } => {
                    let v = client.json(
                        "POST",
                        &format!("/api/v1/admins/{}/remove", enc(&name)),
                        Some(&token),
                        None,
                    )?;
                    print(js, &v, |_| println!("removed {name}"));
                }
                AdminCommand::Passwd { .. } => {
                    let current = read_stdin_line("current password")?;
                    let new = read_stdin_line("new password")?;
                    let v = client.json(
                        "POST",
                        "/api/v1/admins/me/password",
                        Some(&token),
                        Some(json!({"current": current.as_str(), "new": new.as_str()})),
                    )?;
                    print(js, &v, |_| {
                        println!("password changed; your other sessions are ended")
                    });
                }
                AdminCommand::Role { name, role } => {
                    let v = client.json(
                        "POST",
                        &format!("/api/v1/admins/{}/role", enc(&name)),
                        Some(&token),
                        Some(json!({"role": role})),
                    )?;
                    print(js, &v, |v| {
                        println!(
                            "{name} is now {}",
                            v["admin"]["role"].as_str().unwrap_or("")
                        )
                    });
                }
                AdminCommand::List => {
                    let v = client.json("GET", "/api/v1/admins", Some(&token), None)?;
                    print(js, &v, |v| {
                        for a in v["admins"].as_array().into_iter().flatten() {
                            println!(
                                "{}\t{}",
                                a["name"].as_str().unwrap_or(""),
                                a["role"].as_str().unwrap_or("")
                            );
                        }
                    });
                }
            }
        }
        Command::UnlockMethod(cmd) => {
            let token = session_token()?;
            match cmd {
                UnlockMethodCommand::List => {
                    let v = client.json("GET", "/api/v1/unlock-methods", Some(&token), None)?;
                    print(js, &v, |v| {
                        for m in v["methods"].as_array().into_iter().flatten() {
                            println!(
                                "{}\t{}\t{}",
                                m["id"],
                                m["kind"].as_str().unwrap_or(""),
                                m["label"].as_str().unwrap_or("")
                            );
                        }
                    });
                }
                UnlockMethodCommand::Add { key_file_out, .. } => {
                    if let Some(out) = key_file_out.as_ref().filter(|o| o.exists()) {
                        return Err(anyhow!("{} exists already", out.display()).into());
                    }
                    let body = match &key_file_out {
                        Some(_) => json!({"key_file": true}),
                        None => json!({"password": read_stdin_line("start-up password")?.as_str()}),
                    };
                    // The answer may carry a key file: kept in zeroizing memory.
                    let raw = Zeroizing::new(client.call(
                        "POST",
                        "/api/v1/unlock-methods",
                        Some(&token),
                        Some(body),
                    )?);
                    let v: Value =
                        serde_json::from_slice(&raw).context("the server's answer is not JSON")?;
                    if let Some(out) = &key_file_out {
                        let bytes = Zeroizing::new(
                            base64ct::Base64::decode_vec(v["key_file"].as_str().unwrap_or(""))
                                .map_err(|_| anyhow!("the server's key file is not base64"))?,
                        );
                        write_private(out, &bytes)?;
                    }
                    let shown = json!({"method": v["method"], "key_file": key_file_out});
                    print(js, &shown, |s| {
                        println!(
                            "added unlock method {} ({})",
                            s["method"]["id"],
                            s["method"]["label"].as_str().unwrap_or("")
                        );
                        if let Some(out) = &key_file_out {
                            println!("key file written to {} (keep a copy apart)", out.display());
                        }
                    });
                }
                UnlockMethodCommand::Remove { id } => {
                    let v = client.json(
                        "POST",
                        &format!("/api/v1/unlock-methods/{id}/remove"),
                        Some(&token),
                        None,
                    )?;
                    print(js, &v, |_| println!("removed unlock method {id}"));
                }
            }
        }
        Command::Backup(cmd) => {
            let token = session_token()?;
            match cmd {
                BackupCommand::Now => {
                    let v = client.json("POST", "/api/v1/backups", Some(&token), None)?;
                    print(js, &v, |v| println!("{}", v["path"].as_str().unwrap_or("")));
                }
                BackupCommand::List => {
                    let v = client.json("GET", "/api/v1/backups", Some(&token), None)?;
                    print(js, &v, |v| {
                        for b in v["backups"].as_array().into_iter().flatten() {
                            println!("{}\t{}", b["name"].as_str().unwrap_or(""), b["bytes"]);
                        }
                    });
                }
                BackupCommand::Verify { name } => {
                    let v = client.json(
                        "POST",
                        "/api/v1/backups/verify",
                        Some(&token),
                        Some(json!({"name": name})),
                    )?;
                    print(js, &v, |v| {
                        println!(
                            "{}: {} keys of {} owners decrypted, {} unlock methods, audit chain {} ({} entries)",
                            v["path"].as_str().unwrap_or(""),
                            v["keys"],
                            v["owners"],
                            v["unlock_methods"],
                            if v["audit"]["ok"] == true {
                                "intact"
                            } else {
                                "DAMAGED"
                            },
                            v["audit"]["entries"]
                        )
                    });
                    if v["audit"]["ok"] != true {
                        return Err(Failure {
                            code: 1,
                            error: anyhow!(
                                "the audit chain in the backup is damaged: {}",
                                v["audit"]["problem"]["message"].as_str().unwrap_or("")
                            ),
                            json: None,
                        });
                    }
                }
                BackupCommand::Restore { name } => {
                    let v = client.json(
                        "POST",
                        &format!("/api/v1/backups/{}/restore", enc(&name)),
                        Some(&token),
                        None,
                    )?;
                    print(js, &v, |v| {
                        println!(
                            "restored {} ({} keys); the store as it was is in {}; audit head {} replaced (entry {} records it); sign in again",
                            v["backup"].as_str().unwrap_or(""),
                            v["keys"],
                            v["safety_backup"].as_str().unwrap_or(""),
                            v["replaced_head_seq"],
                            v["restore_entry"]
                        )
                    });
                }
            }
        }
        Command::Policy(cmd) => {
            let token = session_token()?;
            match cmd {
                PolicyCommand::Set { operation, quorum } => {
                    let v = client.json(
                        "POST",
                        &format!("/api/v1/policies/{}", enc(&operation)),
                        Some(&token),
                        Some(json!({"quorum": quorum})),
                    )?;
                    print(js, &v, |_| {
                        println!("{operation} now needs {quorum} approvals")
                    });
                }
                PolicyCommand::List => {
                    let v = client.json("GET", "/api/v1/policies", Some(&token), None)?;
                    print(js, &v, |v| {
                        for p in v["policies"].as_array().into_iter().flatten() {
                            println!("{}\t{}", p["operation"].as_str().unwrap_or(""), p["quorum"]);
                        }
                    });
                }
            }
        }
        Command::Approvals(cmd) => {
            let token = session_token()?;
            match cmd {
                ApprovalsCommand::List => {
                    let v = client.json("GET", "/api/v1/approvals", Some(&token), None)?;
                    print(js, &v, |v| {
                        for r in v["requests"].as_array().into_iter().flatten() {
                            println!(
                                "{}\t{} {}\tby {}\t{}/{} approvals ({})\texpires {}",
                                r["id"],
                                r["operation"].as_str().unwrap_or(""),
                                r["target"].as_str().unwrap_or(""),
                                r["requested_by"].as_str().unwrap_or(""),
                                r["approved_by"].as_array().map_or(0, Vec::len),
                                r["needed"],
                                r["approved_by"]
                                    .as_array()
                                    .into_iter()
                                    .flatten()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                r["expires_at"]
                            );
                        }
                    });
                }
                ApprovalsCommand::Cancel { id } => {
                    let v = client.json(
                        "POST",
                        &format!("/api/v1/approvals/{id}/cancel"),
                        Some(&token),
                        None,
                    )?;
                    print(js, &v, |_| println!("request {id} cancelled"));
                }
            }
        }
        Command::Approve { id } => {
            let token = session_token()?;
            let v = client.json(
                "POST",
                &format!("/api/v1/approvals/{id}/approve"),
                Some(&token),
                None,
            )?;
            print(js, &v, |v| {
                let r = &v["request"];
                println!(
                    "approved request {id} ({} {}): {}/{} approvals",
                    r["operation"].as_str().unwrap_or(""),
                    r["target"].as_str().unwrap_or(""),
                    r["approved_by"].as_array().map_or(0, Vec::len),
                    r["needed"]
                )
            });
        }
        Command::RecoverKey {
            email,
            out,
            reenroll,
            ..
        } => {
            let token = session_token()?;
            let password = read_stdin_line("bundle password")?;
            let v = client.json(
                "POST",
                &format!("/api/v1/users/{}/recover", enc(&email)),
                Some(&token),
                Some(json!({"password": password.as_str(), "reenroll": reenroll})),
            )?;
            let p12 = Zeroizing::new(
                base64ct::Base64::decode_vec(v["pkcs12"].as_str().unwrap_or(""))
                    .map_err(|_| anyhow!("the server's bundle is not base64"))?,
            );
            write_private(&out, &p12)?;
            let mut shown = json!({"written": out, "keys": v["keys"], "status": "done"});
            if let Some(t) = v.get("enrollment_token") {
                shown["enrollment_token"] = t.clone();
                shown["token_expires_at"] = v["token_expires_at"].clone();
            }
            print(js, &shown, |s| {
                println!(
                    "wrote {} ({} encryption keys of {email})",
                    out.display(),
                    s["keys"]
                );
                if let Some(t) = s["enrollment_token"].as_str() {
                    println!("enrollment token for {email} (shown once): {t}");
                }
            });
        }
        Command::Audit(cmd) => {
            let token = session_token()?;
            match cmd {
                AuditCommand::List { since } => {
                    let path = match since {
                        Some(t) => format!("/api/v1/audit?since={}", parse_since(&t)?),
                        None => "/api/v1/audit".into(),
                    };
                    let v = client.json("GET", &path, Some(&token), None)?;
                    print(js, &v, |v| {
                        for e in v["entries"].as_array().into_iter().flatten() {
                            println!(
                                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                                e["seq"],
                                e["at"],
                                e["actor"].as_str().unwrap_or(""),
                                e["action"].as_str().unwrap_or(""),
                                e["target"].as_str().unwrap_or(""),
                                e["outcome"].as_str().unwrap_or(""),
                                e["detail"].as_str().unwrap_or("")
                            );
                        }
                    });
                }
                AuditCommand::Verify => {
                    let v = client.json("GET", "/api/v1/audit/verify", Some(&token), None)?;
                    print(js, &v, |v| {
                        if v["ok"].as_bool() == Some(true) {
                            println!(
                                "audit log intact: {} entries, {} signed checkpoints, signed through entry {}",
                                v["entries"], v["checkpoints"], v["signed_through"]
                            );
                        }
                    });
                    if v["ok"].as_bool() != Some(true) {
                        return Err(Failure {
                            code: 1,
                            error: anyhow!(
                                "audit log damaged: {} (entry {})",
                                v["problem"]["message"]
                                    .as_str()
                                    .unwrap_or("unknown problem"),
                                v["problem"]["seq"]
                            ),
                            json: None,
                        });
                    }
                }
                AuditCommand::Sign => {
                    let v = client.json("POST", "/api/v1/audit/sign", Some(&token), None)?;
                    print(js, &v, |v| {
                        println!(
                            "audit chain head signed through entry {}",
                            v["signed_through"]
                        )
                    });
                }
            }
        }
        Command::User(cmd) => {
            let token = session_token()?;
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
                    let v = client.json(
                        "POST",
                        "/api/v1/users",
                        Some(&token),
                        Some(json!({"email": email, "name": name, "capabilities": caps})),
                    )?;
                    print(js, &v, |v| {
                        println!(
                            "added {} ({})",
                            v["user"]["email"].as_str().unwrap_or(""),
                            v["user"]["capabilities"]
                        );
                        println!(
                            "enrollment token (shown once): {}",
                            v["enrollment_token"].as_str().unwrap_or("")
                        );
                    });
                }
                UserCommand::List => {
                    let v = client.json("GET", "/api/v1/users", Some(&token), None)?;
                    print(js, &v, |v| {
                        for u in v["users"].as_array().into_iter().flatten() {
                            println!(
                                "{}\t{}\t{}",
                                u["email"].as_str().unwrap_or(""),
                                u["status"].as_str().unwrap_or(""),
                                u["name"].as_str().unwrap_or("")
                            );
                        }
                    });
                }
                UserCommand::Show { email } => {
                    let v = client.json(
                        "GET",
                        &format!("/api/v1/users/{}", enc(&email)),
                        Some(&token),
                        None,
                    )?;
                    print(js, &v, |v| {
                        println!(
                            "{} <{}> {} caps={} escrowed keys={}",
                            v["name"].as_str().unwrap_or(""),
                            v["email"].as_str().unwrap_or(""),
                            v["status"].as_str().unwrap_or(""),
                            v["capabilities"],
                            v["escrowed_keys"]
                        );
                        for c in v["certificates"].as_array().into_iter().flatten() {
                            let state = if let Some(r) = c["revoked"].as_str() {
                                format!("revoked ({r})")
                            } else if c["superseded"].as_bool() == Some(true) {
                                "superseded".into()
                            } else {
                                "current".into()
                            };
                            println!(
                                "  {} {} {}",
                                c["kind"].as_str().unwrap_or(""),
                                c["serial"].as_str().unwrap_or(""),
                                state
                            );
                        }
                    });
                }
                UserCommand::Disable { email } => {
                    let v = client.json(
                        "POST",
                        &format!("/api/v1/users/{}/disable", enc(&email)),
                        Some(&token),
                        None,
                    )?;
                    print(js, &v, |_| println!("disabled {email}"));
                }
                UserCommand::Token { email } => {
                    let v = client.json(
                        "POST",
                        &format!("/api/v1/users/{}/token", enc(&email)),
                        Some(&token),
                        None,
                    )?;
                    print(js, &v, |v| {
                        println!(
                            "enrollment token for {email} (shown once): {}",
                            v["enrollment_token"].as_str().unwrap_or("")
                        )
                    });
                }
            }
        }
        Command::Revoke(a) => {
            let token = session_token()?;
            let mut body = json!({});
            if let Some(e) = a.email {
                body["email"] = json!(e);
            }
            if let Some(s) = a.serial {
                body["serial"] = json!(s);
            }
            if let Some(r) = a.reason {
                body["reason"] = json!(r);
            }
            let v = client.json("POST", "/api/v1/revoke", Some(&token), Some(body))?;
            print(js, &v, |v| {
                for s in v["revoked"].as_array().into_iter().flatten() {
                    println!(
                        "revoked {} ({})",
                        s.as_str().unwrap_or(""),
                        v["reason"].as_str().unwrap_or("")
                    );
                }
            });
        }
        Command::Renew(a) => {
            let token = session_token()?;
            let body = match a.email {
                Some(e) => json!({"email": e, "new_key": a.new_key}),
                None => json!({"all": true}),
            };
            let v = client.json("POST", "/api/v1/renew", Some(&token), Some(body))?;
            print(js, &v, |v| {
                for r in v["renewed"].as_array().into_iter().flatten() {
                    let email = r["email"].as_str().unwrap_or("");
                    if let Some(t) = r["enrollment_token"].as_str() {
                        println!(
                            "{email}: new encryption key escrowed and certified; collect it with this enrollment token (shown once): {t}"
                        );
                    } else {
                        for c in r["certificates"].as_array().into_iter().flatten() {
                            println!(
                                "{email}: new {} certificate {}",
                                c["kind"].as_str().unwrap_or(""),
                                c["serial"].as_str().unwrap_or("")
                            );
                        }
                    }
                }
                for f in v["failed"].as_array().into_iter().flatten() {
                    eprintln!(
                        "{}: not renewed: {}",
                        f["email"].as_str().unwrap_or(""),
                        f["message"].as_str().unwrap_or("")
                    );
                }
            });
        }
        Command::Status => {
            let token = session_token()?;
            let v = client.json("GET", "/api/v1/status", Some(&token), None)?;
            print(js, &v, |v| {
                let n = |x: &Value| x.as_i64().unwrap_or(0);
                println!(
                    "CA\t{} (until {})",
                    v["ca_subject"].as_str().unwrap_or(""),
                    n(&v["ca_not_after"])
                );
                println!(
                    "users\t{} active, {} disabled",
                    n(&v["users"]["active"]),
                    n(&v["users"]["disabled"])
                );
                let c = &v["certificates"];
                println!(
                    "certificates\t{} active, {} revoked, {} expired, {} superseded",
                    n(&c["active"]),
                    n(&c["revoked"]),
                    n(&c["expired"]),
                    n(&c["superseded"])
                );
                let crl = &v["crl"];
                println!(
                    "CRL\tnumber {} (delta {}), this update {}, next update {}",
                    n(&crl["number"]),
                    n(&crl["delta_number"]),
                    n(&crl["this_update"]),
                    n(&crl["next_update"])
                );
                match v["last_backup"].as_object() {
                    Some(b) => println!(
                        "last backup\t{} ({} bytes)",
                        b["name"].as_str().unwrap_or(""),
                        b["bytes"]
                    ),
                    None => println!("last backup\tnone"),
                }
                if let Some(c) = v["last_verification"].as_object() {
                    println!(
                        "last verification\t{} {}: {}",
                        c["backup"].as_str().unwrap_or(""),
                        if c["ok"] == true { "ok" } else { "FAILED" },
                        c["summary"].as_str().unwrap_or("")
                    );
                }
                println!("pending approvals\t{}", n(&v["pending_approvals"]));
            });
        }
        Command::Cert(cmd) => {
            let token = session_token()?;
            match cmd {
                CertCommand::List {
                    email,
                    serial,
                    status,
                    kind,
                    limit,
                    offset,
                } => {
                    let q = query_string(&[
                        ("email", email),
                        ("serial", serial),
                        ("status", status),
                        ("kind", kind),
                        ("limit", Some(limit.to_string())),
                        ("offset", Some(offset.to_string())),
                    ]);
                    let v = client.json(
                        "GET",
                        &format!("/api/v1/certificates{q}"),
                        Some(&token),
                        None,
                    )?;
                    print(js, &v, |v| {
                        for c in v["certificates"].as_array().into_iter().flatten() {
                            println!(
                                "{}\t{}\t{}\t{}\t{}",
                                c["serial"].as_str().unwrap_or(""),
                                c["email"].as_str().unwrap_or("-"),
                                c["kind"].as_str().unwrap_or(""),
                                c["status"].as_str().unwrap_or(""),
                                c["not_after"]
                            );
                        }
                        let shown = v["certificates"].as_array().map_or(0, Vec::len);
                        eprintln!("{shown} of {} shown", v["total"]);
                    });
                }
                CertCommand::Show { serial, out } => {
                    let v = client.json(
                        "GET",
                        &format!("/api/v1/certificates/{}", enc(&serial)),
                        Some(&token),
                        None,
                    )?;
                    if let Some(out) = &out {
                        let der = client.call(
                            "GET",
                            &format!("/api/v1/certificates/{}/der", enc(&serial)),
                            Some(&token),
                            None,
                        )?;
                        std::fs::write(out, der)
                            .with_context(|| format!("writing {}", out.display()))?;
                    }
                    print(js, &v, |v| {
                        let list = |x: &Value| {
                            x.as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(", ")
                        };
                        for (label, key) in [
                            ("serial", "serial"),
                            ("subject", "subject"),
                            ("issuer", "issuer"),
                            ("kind", "kind"),
                            ("status", "status"),
                            ("SHA-256", "sha256_fingerprint"),
                        ] {
                            println!("{label}\t{}", v[key].as_str().unwrap_or(""));
                        }
                        println!("validity\t{} to {}", v["not_before"], v["not_after"]);
                        println!("key usage\t{}", list(&v["key_usage"]));
                        println!("extended key usage\t{}", list(&v["extended_key_usage"]));
                        println!("e-mail\t{}", list(&v["emails"]));
                        println!("capabilities\t{}", list(&v["capabilities"]));
                        if let Some(r) = v["revocation_reason"].as_str() {
                            println!("revoked\t{r} at {}", v["revoked_at"]);
                        }
                    });
                }
            }
        }
        Command::Crl { out, pem, delta } => {
            let der = client.call("GET", if delta { "/crl/delta" } else { "/crl" }, None, None)?;
            let data = if pem {
                pem_encode("X509 CRL", &der).into_bytes()
            } else {
                der
            };
            std::fs::write(&out, &data).with_context(|| format!("writing {}", out.display()))?;
            print(js, &json!({"written": out, "bytes": data.len()}), |_| {
                println!("wrote {}", out.display())
            });
        }
        Command::CaCert { out } => {
            let pem = client.call("GET", "/ca", None, None)?;
            std::fs::write(&out, &pem).with_context(|| format!("writing {}", out.display()))?;
            print(js, &json!({"written": out}), |_| {
                println!("wrote {}", out.display())
            });
        }
    }
    Ok(())
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64ct::Base64::encode_string(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
