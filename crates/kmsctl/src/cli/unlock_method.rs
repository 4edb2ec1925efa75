//! Arguments of `kmsctl unlock-method …`.

use std::path::PathBuf;

use clap::Subcommand;

/// Start-up secrets.
#[derive(Subcommand, Debug)]
pub enum UnlockMethodCommand {
    /// List them (no secret material).
    List,
    /// Add a start-up password or a new key file (under the unlock-method quorum).
    Add {
        /// Read the new start-up password from standard input (without it or
        /// --key-file-out, it is asked twice on the terminal).
        #[arg(long, conflicts_with = "key_file_out")]
        password_stdin: bool,
        /// Make a new key file and write it here (mode 0600; never over an existing regular
        /// file; `-`: standard output, never a terminal without --force-tty).
        #[arg(long, value_name = "FILE")]
        key_file_out: Option<PathBuf>,
    },
    /// Remove one (under the unlock-method quorum; never the last).
    Remove {
        /// Its id (unlock-method list).
        id: i64,
    },
}
