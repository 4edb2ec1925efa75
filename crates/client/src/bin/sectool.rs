//! `sectool`: bulk re-encryption of stored S/MIME mail (a tree of `.eml` files, a Maildir or
//! an mbox) to a new algorithm or key, and a scan of what a mailbox holds. The engine is
//! `kms_client::reencrypt`; this file is arguments, output and exit codes.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kms_client::keyring::Keyring;
use kms_client::reencrypt::{self, Dest, Options, Report, ScanReport, Target};
use kms_client::{files, secret};
use pki::ContentAlgorithm;
use serde_json::json;

const EXIT_CODES: &str = "\
Exit codes:
  0   success: every message was processed (re-encrypted, or kept as it was)
  1   the run failed (wrong password, unreadable source, cannot write); the message says why.
      What was finished is journaled: run again with --resume to continue
  2   bad usage (unknown flag, missing argument)
  4   finished, but some messages could not be processed; they are kept unchanged (copied
      to the destination) and listed in the report

With --json, a failure prints {\"error\":{\"code\":\"CLIENT-0xx\",\"message\":\"...\"}} on
standard output (codes: 001 usage, 002 file, 003 password, 007 crypto or format, 009 other).";

#[derive(Parser)]
#[command(name = "sectool", version, about = "Bulk re-encryption of stored S/MIME mail", after_help = EXIT_CODES)]
struct Cli {
    /// Print the report as JSON on standard output (no progress bar).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Re-encrypt every encrypted message of a mailbox for the owner's newest key and the
    /// target algorithm. Plain and signed messages, and messages already at the target, keep
    /// their bytes; a failed message is kept unchanged and reported.
    #[command(after_help = EXIT_CODES)]
    Reencrypt {
        /// The PKCS#12 file with the user's keys (a recovery bundle may hold every old key).
        #[arg(long, value_name = "FILE")]
        p12: PathBuf,
        /// Read the PKCS#12 password from standard input.
        #[arg(
            long,
            required_unless_present = "no_password",
            conflicts_with = "no_password"
        )]
        password_stdin: bool,
        /// The PKCS#12 file has no password (or an empty one).
        #[arg(long)]
        no_password: bool,
        /// The mailbox: a directory tree of .eml files, a Maildir (cur/new/tmp) or an mbox file.
        #[arg(long = "in", value_name = "SOURCE")]
        input: PathBuf,
        /// A new mailbox of the same kind (must not exist, or be an empty directory).
        #[arg(
            long = "out",
            value_name = "DEST",
            required_unless_present = "in_place",
            conflicts_with = "in_place"
        )]
        output: Option<PathBuf>,
        /// Rewrite SOURCE itself; each original is kept under a backup name until the run ends.
        #[arg(long)]
        in_place: bool,
        /// Re-encrypt every encrypted message with this algorithm: aes256-gcm, aes128-gcm,
        /// aes256, aes192, aes128, 3des, cast128, rc2-128, cast64, rc2-64, des, cast40, rc2-40.
        /// A message already stronger in this ranking keeps its algorithm and is reported as
        /// "already stronger" (AES-GCM to AES-CBC is a downgrade), unless --allow-downgrade.
        #[arg(long, value_name = "NAME", conflicts_with = "min_algorithm")]
        algorithm: Option<String>,
        /// With --algorithm: re-encrypt stronger messages with it too (a downgrade).
        #[arg(long, requires = "algorithm")]
        allow_downgrade: bool,
        /// Raise messages below this algorithm to it; stronger ones keep theirs.
        #[arg(long, value_name = "NAME")]
        min_algorithm: Option<String>,
        /// The certificate of another recipient (PEM or DER); a message that was encrypted for
        /// this certificate is encrypted for it again. Repeat for more.
        #[arg(long = "to", value_name = "CERT")]
        to: Vec<PathBuf>,
        /// Worker threads (default: the number of cores).
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
        /// Report what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Continue an interrupted run from its journal (DEST.sectool-journal).
        #[arg(long)]
        resume: bool,
    },
    /// Report what a mailbox holds: messages per algorithm and recipient key, signed, plain,
    /// unreadable. Decrypts nothing.
    Scan {
        /// The mailbox: a directory tree of .eml files, a Maildir or an mbox file.
        #[arg(long = "in", value_name = "SOURCE")]
        input: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(e),
    };
    let json = cli.json;
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if json {
                println!("{}", kms_client::error::json(&e));
            }
            eprintln!("sectool: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// A command line clap refused: help and version as usual; with `--json`, the error body
/// (`CLIENT-001`) on standard output too; exit 2.
fn usage(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) || !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if std::env::args().any(|a| a == "--json") {
        let text = e.to_string();
        let first = text
            .lines()
            .next()
            .unwrap_or("bad usage")
            .trim_start_matches("error: ")
            .to_string();
        println!(
            "{}",
            kms_client::error::json(&kms_client::error::Error::Usage(first).into())
        );
    }
    let _ = e.print();
    ExitCode::from(2)
}

fn progress(json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() || !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {percent:>3}% {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

fn algorithm(name: &str) -> anyhow::Result<ContentAlgorithm> {
    Ok(name.parse::<ContentAlgorithm>()?)
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Reencrypt {
            p12,
            password_stdin: _,
            no_password,
            input,
            output,
            in_place,
            algorithm: alg,
            allow_downgrade,
            min_algorithm,
            to,
            jobs,
            dry_run,
            resume,
        } => {
            let target = match (alg, min_algorithm) {
                (Some(a), _) if allow_downgrade => Target::ExactlyAllowingDowngrade(algorithm(&a)?),
                (Some(a), _) => Target::Exactly(algorithm(&a)?),
                (None, Some(f)) => Target::AtLeast(algorithm(&f)?),
                (None, None) => Target::Keep,
            };
            let mut certs = Vec::new();
            for path in &to {
                let bytes = files::read(path, "recipient certificate")?;
                certs.push(
                    pki::certificate::parse_certificate(&bytes)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
                );
            }
            let bytes = files::read(&p12, "PKCS#12 file")?;
            let password = if no_password {
                zeroize::Zeroizing::new(String::new())
            } else {
                secret::read_password(std::io::stdin().lock())?
            };
            let keyring = Keyring::from_pkcs12(&bytes, &password)
                .with_context(|| p12.display().to_string())?;
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            if jobs == 0 {
                return Err(
                    kms_client::error::Error::Usage("--jobs must be at least 1".into()).into(),
                );
            }
            let opts = Options {
                source: input,
                dest: match output {
                    Some(p) if !in_place => Dest::Path(p),
                    _ => Dest::InPlace,
                },
                target,
                to: certs,
                jobs,
                dry_run,
                resume,
                progress: progress(cli.json),
            };
            let report = reencrypt::run(&keyring, &opts)?;
            if cli.json {
                let mut v = serde_json::to_value(&report)?;
                v["ok"] = json!(report.failed == 0);
                println!("{v}");
            } else {
                print_report(&report);
            }
            Ok(if report.failed > 0 { 4 } else { 0 })
        }
        Command::Scan { input } => {
            let report = reencrypt::scan(&input, &progress(cli.json))?;
            if cli.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print_scan(&report);
            }
            Ok(0)
        }
    }
}

fn counts(title: &str, map: &std::collections::BTreeMap<String, usize>) {
    if map.is_empty() {
        return;
    }
    println!("{title}:");
    for (k, v) in map {
        println!("  {v:>8}  {k}");
    }
}

fn print_report(r: &Report) {
    let verb = if r.dry_run { "would be " } else { "" };
    println!(
        "{} ({}): {} messages; {} {verb}re-encrypted, {} {verb}unchanged, {} failed{}",
        r.source,
        r.layout,
        r.total,
        r.reencrypted,
        r.unchanged,
        r.failed,
        if r.resumed > 0 {
            format!(" ({} finished before the resumed run)", r.resumed)
        } else {
            String::new()
        }
    );
    if r.already_stronger > 0 {
        println!(
            "{} already stronger than --algorithm: kept their algorithm (--allow-downgrade to \
             downgrade them)",
            r.already_stronger
        );
    }
    counts("algorithm before", &r.from);
    counts("algorithm after", &r.to);
    counts("re-encrypted", &r.transitions);
    counts("unchanged", &r.skipped);
    if !r.notes.is_empty() {
        println!("notes:");
        for n in &r.notes {
            println!("  {}: {}", n.message, n.reason);
        }
    }
    if !r.failures.is_empty() {
        println!("failed (kept unchanged):");
        for n in &r.failures {
            println!("  {}: {}", n.message, n.reason);
        }
    }
}

fn print_scan(r: &ScanReport) {
    println!(
        "{} ({}): {} messages; {} encrypted, {} signed, {} plain, {} other, {} unreadable",
        r.source, r.layout, r.total, r.encrypted, r.signed, r.plain, r.other, r.unreadable
    );
    counts("algorithm", &r.by_algorithm);
    counts("recipient key", &r.by_recipient);
    for n in &r.unreadable_messages {
        println!("  unreadable {}: {}", n.message, n.reason);
    }
}
