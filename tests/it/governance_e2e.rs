//! Governance through the real binaries: with `recover-key` at 2, a lone administrator driving
//! `kmsctl` gets no key bundle by any of the four routes of the governance review (a sock-puppet
//! administrator, lowering the policy, restoring a backup from before the raise, redeeming
//! someone else's approval); the honest two-administrator recovery works, for its opener only.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use super::support::{free_port, kmsd_bin, ok, run, sibling_bin, start};

const ROOT_PW: &str = "root's long admin password";
const BOB_PW: &str = "bob's long admin password";
const BUNDLE_PW: &str = "bundle password";

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A quorum operation that must wait: exit 3 and the waiting answer (`status`, `request_id`,
/// `operation`, `target`, `approved_by`, `needed`); its request id.
fn waits(out: Output, what: &str) -> i64 {
    assert_eq!(
        out.status.code(),
        Some(3),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["status"], "waiting", "{what}: {v}");
    v["request_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{what}: no request id in {v}"))
}

#[test]
fn a_lone_administrator_gets_no_bundle_through_kmsctl() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let key_file = t.join("kmsd.keyfile");
    let ports = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{}", ports.0);
    let p = |name: &str| t.join(name).to_str().unwrap().to_string();
    ok(
        run(
            Command::new(kmsd_bin())
                .args([
                    "init",
                    "--ca-key-bits",
                    "3072",
                    "--ca-subject",
                    "CN=Governance CA",
                    "--admin",
                    "root",
                ])
                .arg("--admin-password-stdin")
                .arg("--data-dir")
                .arg(&data)
                .arg("--key-file")
                .arg(&key_file)
                .arg("--key-file-copy")
                .arg(t.join("kmsd.keyfile.copy")),
            Some(ROOT_PW),
        ),
        "kmsd init",
    );
    let _server = start(&data, ports, false, Some(&key_file), &t.join("kmsd.log"));
    let kmsctl_bin = sibling_bin("kmsctl");
    let as_admin = |session: &str| {
        let mut c = Command::new(&kmsctl_bin);
        c.env("KMS_URL", &url)
            .env("KMS_SESSION_FILE", t.join(session))
            .env_remove("KMS_CA_CERT")
            .arg("--json");
        c
    };
    let root = || as_admin("root.json");
    let bob = || as_admin("bob.json");
    ok(
        run(
            root().args(["login", "--admin", "root", "--password-stdin"]),
            Some(ROOT_PW),
        ),
        "root login",
    );
    ok(
        run(
            root()
                .args(["admin", "add", "bob", "--role", "administrator"])
                .arg("--password-stdin"),
            Some(BOB_PW),
        ),
        "admin add bob",
    );
    ok(
        run(
            bob().args(["login", "--admin", "bob", "--password-stdin"]),
            Some(BOB_PW),
        ),
        "bob login",
    );

    // Alice enrolls: she has an escrowed key to recover.
    let v: Value = serde_json::from_str(&ok(
        run(
            root().args([
                "user",
                "add",
                "alice@example.com",
                "--name",
                "Alice Example",
            ]),
            None,
        ),
        "user add",
    ))
    .unwrap();
    std::fs::write(
        t.join("alice.token"),
        v["enrollment_token"].as_str().unwrap(),
    )
    .unwrap();
    ok(
        run(
            Command::new(sibling_bin("lockbox"))
                .args(["enroll", "--server", &url, "--email", "alice@example.com"])
                .args(["--token-file", &p("alice.token"), "--out", &p("alice.p12")])
                .arg("--password-stdin"),
            Some("alice's p12 password"),
        ),
        "lockbox enroll",
    );

    // A backup from before the raise: the "restore the past" route aims at it.
    let v: Value =
        serde_json::from_str(&ok(run(root().args(["backup", "now"]), None), "backup")).unwrap();
    let old_backup = v["backup"]["name"].as_str().unwrap().to_string();

    // recover-key 2 raises every governing quorum with it, and says so.
    let v: Value = serde_json::from_str(&ok(
        run(root().args(["policy", "set", "recover-key", "2"]), None),
        "policy set",
    ))
    .unwrap();
    let raised: Vec<&str> = v["raised"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["operation"].as_str())
        .collect();
    for op in ["admin-change", "policy-change", "restore", "reenroll"] {
        assert!(raised.contains(&op), "{op} not raised: {v}");
    }

    let bundle = t.join("bundle.p12");
    let recover = |who: &dyn Fn() -> Command| {
        run(
            who()
                .args(["recover-key", "alice@example.com", "--out"])
                .arg(&bundle)
                .arg("--password-stdin"),
            Some(BUNDLE_PW),
        )
    };
    // Alone, root waits.
    waits(recover(&root), "root alone");

    // 1. Sock puppet: a second account needs admin-change, now 2.
    waits(
        run(
            root()
                .args(["admin", "add", "mallory", "--role", "administrator"])
                .arg("--password-stdin"),
            Some("mallory's long password"),
        ),
        "admin add mallory",
    );
    // 2. Lower the policy: policy-change is 2 as well.
    waits(
        run(root().args(["policy", "set", "recover-key", "1"]), None),
        "policy set recover-key 1",
    );
    // 3. Restore the past: the restore quorum is the highest of all.
    waits(
        run(
            root().args(["backup", "restore", &old_backup, "--yes"]),
            None,
        ),
        "backup restore",
    );
    waits(recover(&root), "root alone after the three tries");
    assert!(!bundle.exists(), "a bundle was written");

    // 4. Redeem someone else's approval: bob opens, root approves bob's request, root's own
    // run opens a request of its own and gets nothing.
    let bobs = waits(recover(&bob), "bob opens");
    ok(
        run(root().args(["approve", &bobs.to_string()]), None),
        "root approves bob's request",
    );
    let roots = waits(recover(&root), "root redeems bob's approval");
    assert_ne!(roots, bobs, "root must not ride on bob's request");
    assert!(!bundle.exists(), "a bundle was written for root");

    // The honest path: bob, the opener, carries out his approved request.
    let out = ok(recover(&bob), "bob carries out his approved request");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["keys"], 1, "{v}");
    assert!(bundle_opens(&bundle), "openssl cannot read the bundle");

    // Nothing of the three tries took effect.
    let v: Value = serde_json::from_str(&ok(
        run(root().args(["policy", "list"]), None),
        "policy list",
    ))
    .unwrap();
    let quorum = |op: &str| {
        v["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["operation"] == op)
            .map(|p| p["quorum"].as_i64().unwrap())
    };
    assert_eq!(quorum("recover-key"), Some(2), "{v}");
    let v: Value =
        serde_json::from_str(&ok(run(root().args(["admin", "list"]), None), "admin list")).unwrap();
    assert!(!v.to_string().contains("mallory"), "{v}");
    let v: Value = serde_json::from_str(&ok(
        run(root().args(["audit", "verify"]), None),
        "audit verify",
    ))
    .unwrap();
    assert_eq!(v["ok"], true, "{v}");
}

fn bundle_opens(bundle: &Path) -> bool {
    super::support::openssl(&[
        "pkcs12",
        "-in",
        bundle.to_str().unwrap(),
        "-noout",
        "-passin",
        &format!("pass:{BUNDLE_PW}"),
    ])
    .status
    .success()
}
