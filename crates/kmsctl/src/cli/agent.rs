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
    /// Refused while some split key would keep fewer share holders than its threshold: add
    /// the replacement and re-share first.
    Remove {
        /// The agent's name.
        name: String,
    },
    /// Set M, the agents needed to rebuild a key (under the agent-change quorum).
    Threshold {
        /// M: 2 or more, at most the number of agents.
        threshold: i64,
    },
    /// Re-make the shares of keys split for another agent set or threshold (after agents were
    /// added, removed or M changed), and split every collected key still under the master key
    /// only (under the agent-change quorum). When shares must be re-made, the first run opens
    /// an agent request and exits 3; M agents of the old set each run `kmsctl approve ID
    /// --agent-key FILE`; then run this again to carry it out (old shares void).
    Reshare,
    /// Recoveries and re-shares waiting for agents' shares (`kmsctl approve ID --agent-key
    /// FILE`), with how many agents answered of those needed.
    Requests,
}
