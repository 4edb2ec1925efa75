//! Arguments of `kmsctl agent …` (key recovery agents).

use std::path::PathBuf;

use clap::Subcommand;

/// Key recovery agents: people whose keys, M of N together, recover escrowed keys.
#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Make an agent key pair on this machine: the private key goes to --out (a
    /// password-encrypted PKCS#8 PEM, which `openssl pkey` reads); the public key is printed,
    /// for an administrator to run `kmsctl agent add NAME PUBLIC_KEY`.
    Keygen {
        /// The agent key file to write (mode 0600; refused if it exists).
        #[arg(long)]
        out: PathBuf,
        /// Read the key file's password from standard input (8 characters or more).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Designate an agent by their public key (under the agent-change quorum).
    Add {
        /// The agent's name.
        name: String,
        /// Their X25519 public key, 64 hex digits (`kmsctl agent keygen` printed it).
        public_key: String,
    },
    /// The agents, their threshold and the keys split among them.
    List,
    /// Remove an agent; their stored shares are deleted (under the agent-change quorum).
    Remove {
        /// The agent's name.
        name: String,
    },
    /// Set M, the agents needed to rebuild a key (under the agent-change quorum).
    Threshold {
        /// M: 2 or more, at most the number of agents.
        threshold: i64,
    },
    /// Split every collected key still under the master key only among the agents (for keys
    /// escrowed before there were agents; under the agent-change quorum).
    Reshare,
    /// Recoveries waiting for agents' shares (`kmsctl approve ID --agent-key FILE`).
    Requests,
}
