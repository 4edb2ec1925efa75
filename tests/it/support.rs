//! Helpers shared by the suites that run the real binaries (`e2e`, `e2e_views`,
//! `console_browser`, `readme`): finding the workspace's binaries, running a command, starting
//! `kmsd serve` on loopback ports.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (this package lives in `tests/`).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The package that builds binary `name`.
fn package_of(name: &str) -> &str {
    match name {
        "lockbox" | "sectool" => "client",
        other => other,
    }
}

/// A binary of a workspace package, in this test's profile directory (`target/<profile>/`,
/// the parent of `deps/` where the test binary runs). `cargo test --workspace` has built
/// it already; when this package's tests run alone it is built on demand, in the same
/// profile.
pub(crate) fn sibling_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", package_of(name), "--bin", name]);
        if dir.file_name().is_some_and(|d| d == "release") {
            build.arg("--release");
        }
        let status = build.status().unwrap();
        assert!(status.success(), "building {name} failed");
    }
    assert!(path.exists(), "{} not found", path.display());
    path
}

/// The `kmsd` binary.
pub(crate) fn kmsd_bin() -> PathBuf {
    sibling_bin("kmsd")
}

pub(crate) fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
    // `lockbox enroll` fills a per-user CRL cache: never the real one of whoever runs the tests.
    if !cmd.get_envs().any(|(k, _)| k == "LOCKBOX_CRL_CACHE") {
        cmd.env(
            "LOCKBOX_CRL_CACHE",
            std::env::temp_dir().join(format!("kms-tests-crl-cache-{}", std::process::id())),
        );
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut si = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            // A command that exits before reading (a refused start-up, say) closes its end:
            // its output says why, so a broken pipe here is not the test's failure.
            let written = si
                .write_all(s.as_bytes())
                .and_then(|()| si.write_all(b"\n"));
            if let Err(e) = written {
                assert_eq!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe,
                    "writing stdin: {e}"
                );
            }
        }
    }
    child.wait_with_output().unwrap()
}

pub(crate) fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn start(
    data: &Path,
    ports: (u16, u16),
    https: bool,
    key_file: Option<&Path>,
    log: &Path,
) -> Server {
    let (port, public_port) = ports;
    let mut cmd = Command::new(kmsd_bin());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--public-listen")
        .arg(format!("127.0.0.1:{public_port}"));
    if !https {
        cmd.arg("--http");
    }
    if let Some(k) = key_file {
        cmd.arg("--key-file").arg(k);
    }
    let log = std::fs::File::create(log).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err()
        || TcpStream::connect(("127.0.0.1", public_port)).is_err()
    {
        assert!(Instant::now() < deadline, "kmsd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

pub(crate) fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().unwrap()
}

/// A small seeded random number generator (SplitMix64) for tests that replay a run from its
/// printed seed; not for secrets.
pub(crate) struct TestRng(u64);

impl TestRng {
    pub(crate) fn new(seed: u64) -> Self {
        TestRng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

/// Decodes standard base64 (padding optional, whitespace ignored); `None` on a character
/// outside the alphabet.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' | b' ' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Files under `dir` (recursively) that a finished operation must not leave behind: backup
/// temporaries (`.escrow-backup-*`), partial writes (`*.part`, `*.tmp`) and rollback
/// journals in `backups/` (`*-journal`).
pub(crate) fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let in_backups = d.file_name().is_some_and(|n| n == "backups");
            if name.starts_with(".escrow-backup-")
                || name.ends_with(".part")
                || name.ends_with(".tmp")
                || (in_backups && name.ends_with("-journal"))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// A serial as the store keeps it: lower-case hex without leading zeros.
pub(crate) fn canon(serial: &str) -> String {
    let s = serial.trim().to_ascii_lowercase().replace(':', "");
    let s = s.trim_start_matches('0');
    if s.is_empty() { "0".into() } else { s.into() }
}

/// The bytes of a hex string (an odd length gets a leading zero; bad digits are skipped).
pub(crate) fn hex_bytes(hex: &str) -> Vec<u8> {
    let hex = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex.to_string()
    };
    (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// The canonical serial of the certificate in `pem`.
pub(crate) fn serial_of_pem(pem: &str) -> Result<String, String> {
    let cert = pki::certificate::parse_certificate(pem.as_bytes()).map_err(|e| e.to_string())?;
    let info = pki::CertificateInfo::from_certificate(&cert).map_err(|e| e.to_string())?;
    Ok(canon(&info.serial_hex))
}

/// A client error as a test failure says it: `STATUS CODE: message`, or the error itself.
pub(crate) fn describe(e: &api::ClientError) -> String {
    match e {
        api::ClientError::Api {
            status,
            code,
            message,
        } => format!("{status} {code}: {message}"),
        other => other.to_string(),
    }
}
