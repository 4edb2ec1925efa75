//! Throw-away SoftHSM2 tokens for tests ([`SoftHsm`], behind the `testing` feature): a
//! temporary token directory with its own `softhsm2.conf`, tokens initialised with
//! `softhsm2-util`, `pkcs11-tool` runs against them, and [`SoftHsm::fresh_process`] to run a
//! test body in a child process whose `SOFTHSM2_CONF` points at its own directory (SoftHSM
//! reads the variable once, when the module is initialised, and keeps process-global state).
//!
//! Fails (never skips) with "install softhsm2 (apt-get install softhsm2 opensc)" when
//! SoftHSM2 or OpenSC's `pkcs11-tool` is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::config::{Pin, TokenConfig};

/// What to do when SoftHSM2 is missing.
pub const INSTALL: &str = "install softhsm2 (apt-get install softhsm2 opensc)";

/// The security officer PIN of every test token.
pub const SO_PIN: &str = "so-pin-8642";

/// The user PIN of every test token.
pub const USER_PIN: &str = "user-pin-1357";

/// The variable SoftHSM2 reads its configuration file's path from.
pub const CONF_VAR: &str = "SOFTHSM2_CONF";

/// Set in the child process [`SoftHsm::fresh_process`] starts, to the test's name.
const CHILD_VAR: &str = "KMS_SOFTHSM_CHILD";

/// Where Debian and others install the SoftHSM2 module.
const MODULE_PATHS: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// A SoftHSM2 token directory in a temporary directory, removed when dropped (by the process
/// that made it).
pub struct SoftHsm {
    _dir: Option<tempfile::TempDir>,
    root: PathBuf,
    conf: PathBuf,
}

impl Default for SoftHsm {
    fn default() -> Self {
        SoftHsm::new()
    }
}

impl SoftHsm {
    /// A new, empty token directory and its `softhsm2.conf`. Panics with [`INSTALL`] when
    /// SoftHSM2 is not installed.
    pub fn new() -> SoftHsm {
        let _ = Self::module();
        let dir = tempfile::Builder::new()
            .prefix("softhsm-")
            .tempdir()
            .expect("a temporary directory for SoftHSM");
        let root = dir.path().to_path_buf();
        let conf = root.join("softhsm2.conf");
        std::fs::create_dir(root.join("tokens")).expect("the token directory");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                root.join("tokens").display()
            ),
        )
        .expect("writing softhsm2.conf");
        SoftHsm {
            _dir: Some(dir),
            root,
            conf,
        }
    }

    /// The SoftHSM2 module. Panics with [`INSTALL`] when it is missing.
    pub fn module() -> PathBuf {
        MODULE_PATHS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("no SoftHSM2 module in {MODULE_PATHS:?}: {INSTALL}"))
    }

    /// The configuration file (the value of `SOFTHSM2_CONF` for processes using this token
    /// directory).
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The directory the tokens live in (one subdirectory per token).
    pub fn token_dir(&self) -> PathBuf {
        self.root.join("tokens")
    }

    /// A command with `SOFTHSM2_CONF` set to this directory's configuration.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env(CONF_VAR, &self.conf);
        cmd
    }

    /// Runs `program args` with `SOFTHSM2_CONF` set; panics with [`INSTALL`] when it cannot
    /// be started.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}: {INSTALL}"))
    }

    /// Initialises a token labelled `label` in a free slot, with [`SO_PIN`] and [`USER_PIN`].
    pub fn init_token(&self, label: &str) {
        let out = self.run(
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                SO_PIN,
                "--pin",
                USER_PIN,
            ],
        );
        assert!(
            out.status.success(),
            "softhsm2-util --init-token failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs OpenSC's `pkcs11-tool --module SOFTHSM args` against this token directory.
    pub fn pkcs11_tool(&self, args: &[&str]) -> Output {
        let module = Self::module();
        let mut cmd = self.command("pkcs11-tool");
        cmd.arg("--module").arg(module).args(args);
        cmd.output()
            .unwrap_or_else(|e| panic!("running pkcs11-tool: {e}: {INSTALL}"))
    }

    /// The configuration naming the key `key_label` on the token `token_label` of SoftHSM.
    pub fn config(token_label: &str, key_label: &str) -> TokenConfig {
        TokenConfig {
            module: Self::module(),
            token_label: token_label.into(),
            key_label: key_label.into(),
        }
    }

    /// The test tokens' user PIN.
    pub fn pin() -> Pin {
        Pin::new(USER_PIN.into())
    }

    /// Runs the test `test` (its full name in this test binary, `module::name`) in a child
    /// process of its own, with a new token directory in `SOFTHSM2_CONF`: returns `None` in
    /// the parent once the child passed (panics, with the child's output, when it failed or
    /// did not run exactly that test), and `Some` in the child, which runs the test's body.
    ///
    /// ```ignore
    /// #[test]
    /// fn signs() {
    ///     let Some(hsm) = SoftHsm::fresh_process("token::signs") else { return };
    ///     hsm.init_token("T");
    ///     // ... TokenKey::open(...) now uses this token directory.
    /// }
    /// ```
    pub fn fresh_process(test: &str) -> Option<SoftHsm> {
        if std::env::var(CHILD_VAR).ok().as_deref() == Some(test) {
            let conf = PathBuf::from(
                std::env::var_os(CONF_VAR).expect("SOFTHSM2_CONF set by the parent process"),
            );
            let root = conf
                .parent()
                .expect("softhsm2.conf in a directory")
                .to_path_buf();
            return Some(SoftHsm {
                _dir: None,
                root,
                conf,
            });
        }
        let hsm = SoftHsm::new();
        let exe = std::env::current_exe().expect("the test binary's path");
        let out = hsm
            .command(exe)
            .args([test, "--exact", "--nocapture", "--test-threads", "1"])
            .env(CHILD_VAR, test)
            .output()
            .expect("starting the test binary again");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("test result: ok. 1 passed"),
            "{test} in its own process ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        );
        None
    }
}
