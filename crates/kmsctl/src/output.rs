//! What `kmsctl` prints: the failure type and its exit codes, JSON or human output (aligned
//! tables, local dates with relative times), and writes to standard output that end quietly
//! on a closed pipe (`kmsctl … | head`).

use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;
use serde_json::{Value, json};

/// Exit codes (the design's registry; listed in `--help`).
pub mod exit {
    /// The operation failed.
    pub const FAILED: u8 = 1;
    /// Bad usage.
    pub const USAGE: u8 = 2;
    /// Waiting for approvals.
    pub const WAITING: u8 = 3;
    /// The authority is locked.
    pub const LOCKED: u8 = 5;
    /// Not signed in, or the session expired.
    pub const NOT_SIGNED_IN: u8 = 6;
    /// Confirmation required and no terminal to ask on.
    pub const CONFIRM: u8 = 7;
}

/// The codes of errors `kmsctl` finds itself (the server's errors keep the server's code).
pub mod code {
    /// Bad usage: an unknown flag, a missing argument, no terminal to ask a password on.
    pub const USAGE: &str = "CLI-001";
    /// A local failure: a file that cannot be read or written, no server configured.
    pub const LOCAL: &str = "CLI-002";
    /// The server cannot be reached (connection, TLS).
    pub const UNREACHABLE: &str = "CLI-003";
    /// No session on this machine, or a damaged session file.
    pub const NO_SESSION: &str = "CLI-004";
    /// A destructive command was not confirmed.
    pub const CONFIRM: &str = "CLI-005";
    /// The server's answer is not what kmsctl expects (an older or newer server).
    pub const ANSWER: &str = "CLI-006";
    /// A check found damage (audit log, backup).
    pub const DAMAGED: &str = "CLI-007";
    /// Confirmation was asked for and refused.
    pub const DECLINED: &str = "CLI-008";
    /// An agent key file is not one, or its password is wrong.
    pub const AGENT_KEY: &str = "CLI-020";
    /// The fetched shares do not open with this agent key (not this agent's, or altered).
    pub const AGENT_SHARES: &str = "CLI-021";
}

/// A failure with its exit code, stable code and message.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code.
    pub exit: u8,
    /// A stable code: the server's (`AUTH-009`) or kmsctl's own (`CLI-002`).
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// Printed instead of the error body with `--json` (a waiting approval's answer);
    /// `Some(Value::Null)` when the answer was printed already (a check that found damage).
    pub json: Option<Value>,
}

impl Failure {
    /// A failure with exit code 1 and kmsctl's own code.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Failure {
            exit: exit::FAILED,
            code: code.to_string(),
            message: message.into(),
            json: None,
        }
    }

    /// The same failure with another exit code.
    pub fn exit(mut self, exit: u8) -> Self {
        self.exit = exit;
        self
    }

    /// A local failure (`CLI-002`, exit 1).
    pub fn local(message: impl Into<String>) -> Self {
        Self::new(code::LOCAL, message)
    }

    /// Bad usage (`CLI-001`, exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(code::USAGE, message).exit(exit::USAGE)
    }

    /// The same failure, its answer already printed (nothing more on standard output).
    pub fn printed(mut self) -> Self {
        self.json = Some(Value::Null);
        self
    }

    /// What `--json` prints on standard output: the error body, a waiting answer, or
    /// nothing when the answer was printed already.
    pub fn body(&self) -> Option<Value> {
        match &self.json {
            None => Some(json!({"error": {"code": self.code, "message": self.message}})),
            Some(Value::Null) => None,
            Some(v) => Some(v.clone()),
        }
    }

    /// The line printed on standard error: one code, then the message. A message that
    /// carries a more specific code of its own (`certificate request refused: PKI-031 …`,
    /// `escrow store: [ESCROW-013] …`) shows that code instead of the outer one.
    pub fn human(&self) -> String {
        let (code, message) = split_code(&self.code, &self.message);
        if self.exit == exit::WAITING {
            // Not an error: the request waits for others.
            return format!("kmsctl: {message}");
        }
        format!("kmsctl: error: {code}: {message}")
    }
}

/// Finds a code like `PKI-031` or `[ESCROW-013]` inside `message`; returns it and the message
/// without it, or `outer` and the message unchanged.
pub fn split_code(outer: &str, message: &str) -> (String, String) {
    let words: Vec<&str> = message.split(' ').collect();
    for (i, w) in words.iter().enumerate() {
        let bare = w.trim_matches(|c| matches!(c, '[' | ']' | ':' | ',' | '(' | ')'));
        if is_code(bare) {
            let mut rest: Vec<&str> = words.clone();
            rest.remove(i);
            let text = rest.join(" ").replace(":  ", ": ").trim().to_string();
            return (bare.to_string(), text);
        }
    }
    (outer.to_string(), message.to_string())
}

fn is_code(s: &str) -> bool {
    match s.split_once('-') {
        Some((prefix, number)) => {
            !prefix.is_empty()
                && prefix.bytes().all(|b| b.is_ascii_uppercase())
                && number.len() == 3
                && number.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Writes text to standard output; a closed pipe ends the process quietly with exit 0 (the
/// reader has what it wanted).
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    if let Err(e) = result {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        // Nowhere left to report it but standard error.
        let _ = writeln!(std::io::stderr(), "kmsctl: writing the output: {e}");
        std::process::exit(i32::from(exit::FAILED));
    }
}

/// Whether `path` is `-`, standard output.
pub fn is_stdout(path: &std::path::Path) -> bool {
    path.as_os_str() == "-"
}

/// Refuses, before any work is done, to put key material on standard output when it is a
/// terminal and `--force-tty` was not given (so a recovery is not spent on a refusal).
pub fn check_secret_destination(path: &std::path::Path, force_tty: bool) -> Result<(), Failure> {
    use std::io::IsTerminal;
    if is_stdout(path) && std::io::stdout().is_terminal() && !force_tty {
        return Err(Failure::local(format!(
            "{} (standard output is a terminal): redirect it to a file, or pass --force-tty if \
             you mean it",
            api::outfile::TERMINAL_REFUSAL
        )));
    }
    Ok(())
}

/// Writes a file for `--out` by the clients' one rule ([`api::outfile`]): `-` is standard
/// output, a FIFO, device or symbolic link is written through (never replaced), a regular file
/// is replaced atomically; key material ([`api::outfile::Content::Secret`]: PKCS#12, key
/// files) is mode 0600 and never written to a terminal without `--force-tty`.
pub fn write_file(
    path: &std::path::Path,
    data: &[u8],
    content: api::outfile::Content,
    force_tty: bool,
) -> Result<(), Failure> {
    api::outfile::write(path, data, content, force_tty)
        .map(|_| ())
        .map_err(|e| Failure::local(e.to_string()))
}

/// One line on standard output (see [`out`]).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::out(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// One line on standard error; a failure to write it is ignored.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// How answers are printed: JSON for scripts, or text for people.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    /// `--json` was given.
    pub json: bool,
}

impl Printer {
    /// Prints `v` as JSON, or runs `human` on it.
    pub fn show<T: Serialize>(&self, v: &T, human: impl FnOnce(&T)) {
        if self.json {
            match serde_json::to_string_pretty(v) {
                Ok(text) => out(&format!("{text}\n")),
                Err(e) => errln!("kmsctl: cannot print the answer as JSON: {e}"),
            }
        } else {
            human(v);
        }
    }
}

/// An aligned table: columns separated by two spaces, the last one not padded.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(headings: &[&str]) -> Self {
        Table {
            rows: vec![headings.iter().map(|h| h.to_uppercase()).collect()],
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The rows, headings excluded.
    pub fn len(&self) -> usize {
        self.rows.len() - 1
    }

    /// The table as text.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut text = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }

    /// Prints the table, or `empty` when it has no rows.
    pub fn print_or(&self, empty: &str) {
        if self.len() == 0 {
            out(&format!("{empty}\n"));
        } else {
            out(&self.render());
        }
    }
}

/// Label and value lines, the labels padded to one width and followed by a tab (scripts that
/// split on the tab keep working).
pub fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    pairs
        .iter()
        .map(|(l, v)| format!("{l:<w$}\t{v}\n"))
        .collect()
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A Unix time as a local date and a relative time: `2026-12-08 14:03 CET (in 6 days)`.
pub fn when(t: i64) -> String {
    when_at(t, now())
}

/// [`when`], or `-` for a missing time.
pub fn when_opt(t: Option<i64>) -> String {
    t.map_or_else(|| "-".into(), when)
}

/// [`when`] against a given now (tests).
pub fn when_at(t: i64, now: i64) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(t) else {
        return t.to_string();
    };
    let local = ts.to_zoned(jiff::tz::TimeZone::system());
    format!(
        "{} ({})",
        local.strftime("%Y-%m-%d %H:%M %Z"),
        relative(t - now)
    )
}

/// A signed number of seconds from now as `in 6 days`, `3 hours ago`, `just now`.
pub fn relative(delta: i64) -> String {
    let n = delta.unsigned_abs();
    if n < 45 {
        return "just now".into();
    }
    let (count, unit) = match n {
        0..90 => (1, "minute"),
        90..5_400 => ((n + 30) / 60, "minute"),
        5_400..129_600 => ((n + 1_800) / 3_600, "hour"),
        129_600..63_072_000 => ((n + 43_200) / 86_400, "day"),
        _ => ((n + 15_778_800) / 31_557_600, "year"),
    };
    let unit = if count == 1 {
        unit.to_string()
    } else {
        format!("{unit}s")
    };
    if delta > 0 {
        format!("in {count} {unit}")
    } else {
        format!("{count} {unit} ago")
    }
}

/// A byte count for people: `532 B`, `1.4 MB`.
pub fn bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.1} GB", n as f64 / 1e9),
    }
}

/// A duration in seconds for people: `24h`, `7d`, `90m`.
pub fn duration(secs: u64) -> String {
    for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// Items joined with `, `.
pub fn joined<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(6 * 86_400 + 100), "in 6 days");
        assert_eq!(relative(-3 * 3_600 - 20), "3 hours ago");
        assert_eq!(relative(10), "just now");
        assert_eq!(relative(-60), "1 minute ago");
        assert_eq!(relative(25 * 60), "in 25 minutes");
        assert_eq!(relative(86_400 * 2), "in 2 days");
        assert_eq!(relative(10 * 31_557_600), "in 10 years");
    }

    #[test]
    fn one_code_then_the_message() {
        let (c, m) = split_code(
            "AUTH-009",
            "certificate request refused: PKI-031 the key is too small",
        );
        assert_eq!(c, "PKI-031");
        assert_eq!(m, "certificate request refused: the key is too small");
        let (c, m) = split_code("ESCROW-013", "escrow store: [ESCROW-013] damaged");
        assert_eq!(
            (c.as_str(), m.as_str()),
            ("ESCROW-013", "escrow store: damaged")
        );
        let (c, m) = split_code("AUTH-009", "invalid status: lost");
        assert_eq!(
            (c.as_str(), m.as_str()),
            ("AUTH-009", "invalid status: lost")
        );
    }

    #[test]
    fn tables_align_their_columns() {
        let mut t = Table::new(&["email", "status"]);
        t.row(vec!["a@example.com".into(), "active".into()]);
        t.row(vec!["bob@example.org".into(), "disabled".into()]);
        assert_eq!(
            t.render(),
            "EMAIL            STATUS\na@example.com    active\nbob@example.org  disabled\n"
        );
    }

    #[test]
    fn durations_and_dates() {
        assert_eq!(duration(86_400), "1d");
        assert_eq!(duration(90 * 60), "90m");
        assert_eq!(duration(7 * 86_400), "1w");
        assert!(when_at(0, 6 * 86_400).ends_with("(6 days ago)"));
        assert_eq!(when_opt(None), "-");
        assert_eq!(bytes(1_400_000), "1.4 MB");
    }
}
