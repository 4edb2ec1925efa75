//! Secrets and confirmations from the person at the keyboard: hidden password prompts on a
//! terminal, `--password-stdin` for scripts, "are you sure" for destructive commands, and
//! files written through [`crate::output::write_file`] (secrets with mode 0600).

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use zeroize::Zeroizing;

use crate::output::{Failure, code, exit};

/// Reads a secret: one line of standard input with `--password-stdin`, otherwise asked on the
/// terminal without echo (`twice` asks again and compares, for a new secret).
pub fn read_secret(
    what: &str,
    from_stdin: bool,
    twice: bool,
) -> Result<Zeroizing<String>, Failure> {
    if from_stdin {
        return read_stdin_line(what);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "no terminal to ask the {what} on: give --password-stdin and write it to standard \
             input"
        )));
    }
    let first = prompt(&format!("{}: ", capitalised(what)))?;
    if first.is_empty() {
        return Err(Failure::local(format!("the {what} is empty")));
    }
    if twice {
        let again = prompt(&format!("The {what} again: "))?;
        if *again != *first {
            return Err(Failure::local(format!("the two {what}s differ")));
        }
    }
    Ok(first)
}

fn prompt(text: &str) -> Result<Zeroizing<String>, Failure> {
    rpassword::prompt_password(text)
        .map(Zeroizing::new)
        .map_err(|e| Failure::local(format!("reading from the terminal: {e}")))
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// One line of standard input, without its line end; an empty line is refused.
pub fn read_stdin_line(what: &str) -> Result<Zeroizing<String>, Failure> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::local(format!("reading the {what} from standard input: {e}")))?;
    let p = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string());
    if p.is_empty() {
        return Err(Failure::local(format!(
            "the {what} on standard input is missing or empty"
        )));
    }
    Ok(p)
}

/// Asks before a destructive step: passes with `--yes`; asks `question` on a terminal;
/// without a terminal fails with exit 7 (confirmation required).
pub fn confirm(question: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(Failure::new(
            code::CONFIRM,
            format!("{question} Confirmation required: add --yes (there is no terminal to ask on)"),
        )
        .exit(exit::CONFIRM));
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "{question} [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::local(format!("reading the answer: {e}")))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Failure::new(
            code::DECLINED,
            "not confirmed; nothing was changed",
        )),
    }
}

/// Writes key material (a PKCS#12, a key file) to `path`: mode 0600, atomically for a
/// regular file, through a FIFO or link, `-` for standard output (never a terminal unless
/// `force_tty`).
pub fn write_private(path: &Path, data: &[u8], force_tty: bool) -> Result<(), Failure> {
    if !crate::output::is_stdout(path) {
        // The session file's directory may not exist yet.
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::local(format!("creating {}: {e}", dir.display())))?;
        }
    }
    crate::output::write_file(path, data, api::outfile::Content::Secret, force_tty)
}

/// Writes a public file (a certificate, a CRL) by the same rule (`-` for standard output).
pub fn write_public(path: &Path, data: &[u8]) -> Result<(), Failure> {
    crate::output::write_file(path, data, api::outfile::Content::Public, false)
}
