//! The admin console in a real browser: starts a real `kmsd` (init, then serve over HTTPS on
//! a loopback port) and runs the Node tests in `web/tests/` (Debian's Chromium driven by
//! playwright-core) against it. Fails, saying how to install them, when Node's modules or
//! Chromium are missing. Screenshots land in `target/console-artifacts/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::support::{free_port, kmsd_bin, ok, run, sibling_bin, start, workspace_root};

const ADMIN_PW: &str = "console admin password";
const CHROMIUM: &str = "/usr/bin/chromium";

/// `target/` (the test binary lives in `target/<profile>/deps/`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}

/// Panics with the install instructions when something the browser tests need is missing.
fn require_browser_tooling(tests: &Path) {
    let mut missing = Vec::new();
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("Node.js: apt-get install -y nodejs npm".to_string());
    }
    if !tests
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        missing.push(format!(
            "playwright-core: npm ci --prefix {}",
            tests.display()
        ));
    }
    if !Path::new(CHROMIUM).exists() {
        missing.push(format!(
            "Chromium at {CHROMIUM}: apt-get install -y chromium"
        ));
    }
    assert!(
        missing.is_empty(),
        "the console's browser tests cannot run; install (as .ci/run does):\n  {}",
        missing.join("\n  ")
    );
}

/// Runs `node --test FILE` against a fresh `kmsd` over HTTPS.
fn node_test(file: &str) {
    node_test_with(file, "");
}

/// [`node_test`] with `settings` appended to the server's `kmsd.toml` before it starts.
fn node_test_with(file: &str, settings: &str) {
    let root = workspace_root();
    let tests = root.join("web/tests");
    require_browser_tooling(&tests);

    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let key_file = t.join("kmsd.keyfile");
    let ports = (free_port(), free_port());
    let url = format!("https://127.0.0.1:{}", ports.0);
    // Certificates name the plain-HTTP public listener (the SBR want http:// CRL and AIA URLs).
    let public_url = format!("http://127.0.0.1:{}", ports.1);
    ok(
        run(
            Command::new(kmsd_bin())
                .args([
                    "init",
                    "--ca-key-bits",
                    "3072",
                    "--ca-subject",
                    "CN=Console CA,O=Example",
                ])
                .args(["--admin", "admin", "--admin-password-stdin"])
                .args(["--public-url", &public_url])
                .arg("--data-dir")
                .arg(&data)
                .arg("--key-file")
                .arg(&key_file),
            Some(ADMIN_PW),
        ),
        "kmsd init",
    );
    if !settings.is_empty() {
        let toml = data.join("kmsd.toml");
        let mut text = std::fs::read_to_string(&toml).unwrap_or_default();
        text.push_str(settings);
        std::fs::write(&toml, text).unwrap();
    }
    let _server = start(&data, ports, true, Some(&key_file), &t.join("kmsd.log"));

    let artifacts = target_dir().join("console-artifacts");
    let stem = file.trim_end_matches(".test.mjs");
    let shots = artifacts.join(stem);
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let scratch = t.join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();

    let out = Command::new("node")
        .arg("--test")
        .arg("--test-reporter=spec")
        .arg(tests.join(file))
        .current_dir(&tests)
        .env("KMS_CONSOLE_URL", &url)
        .env("KMS_ADMIN_NAME", "admin")
        .env("KMS_ADMIN_PASSWORD", ADMIN_PW)
        .env("KMS_LOCKBOX", sibling_bin("lockbox"))
        .env("KMS_KMSCTL", sibling_bin("kmsctl"))
        .env("KMS_SCRATCH", &scratch)
        .env("KMS_DATA_DIR", &data)
        .env("KMS_SCREENSHOTS", &shots)
        .env("KMS_CHROMIUM", CHROMIUM)
        .output()
        .expect("running node");
    let log = std::fs::read_to_string(t.join("kmsd.log")).unwrap_or_default();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(artifacts.join(format!("{stem}.log")), &report).unwrap();
    assert!(
        out.status.success(),
        "node --test {file} failed ({:?}):\n{report}\n--- kmsd log (tail) ---\n{}",
        out.status.code(),
        log.lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let pngs = std::fs::read_dir(&shots)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "png"))
        })
        .count();
    assert!(pngs >= 5, "only {pngs} screenshots in {}", shots.display());
}

#[test]
fn users_enrollment_revocation_and_crl_in_chromium() {
    node_test("console-users.test.mjs");
}

#[test]
fn governance_recovery_backups_and_audit_in_chromium() {
    node_test("console-governance.test.mjs");
}

#[test]
fn every_page_passes_axe_and_fits_1366px_and_bulk_renewal_asks_first_in_chromium() {
    node_test("console-pages.test.mjs");
}

#[test]
fn user_states_and_certificate_list_in_chromium() {
    node_test("console-states.test.mjs");
}

#[test]
fn public_url_card_and_its_quorum_in_chromium() {
    node_test("console-public-url.test.mjs");
}

#[test]
fn dashboard_warnings_and_backup_schedule_in_chromium() {
    // A CRL closer to its next update than the warning (168-hour CRLs), certificates that
    // expire within 30 days, and checks recomputed every second.
    node_test_with(
        "console-dashboard.test.mjs",
        "\ncrl_warning_hours = 200\ncert_validity_days = 20\nhealth_check_seconds = 1\n",
    );
}

#[test]
fn key_recovery_agents_page_and_waiting_recoveries_in_chromium() {
    node_test("console-agents.test.mjs");
}
