//! Key recovery agents through the real binaries: three agents made with `kmsctl agent
//! keygen`, threshold 2; alice's keys (enrolled, then renewed with a new key) are split when
//! she collects them; one agent alone gets nothing; two agents' `kmsctl approve ID --agent-key`
//! give a bundle whose keys open her old and new mail with `openssl cms -decrypt`. Then agent2
//! is replaced by agent3: `kmsctl agent reshare` waits for two old agents, re-makes the shares,
//! and agent3 with agent1 recover her keys; agent2's key opens nothing any more.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::support::{free_port, kmsd_bin, ok, openssl, run, sibling_bin, start};

const ROOT_PW: &str = "root's long admin password";
const ALICE_PW: &str = "alice's p12 password";
const AGENT_PW: &str = "agent key password";
const BUNDLE_PW: &str = "bundle password";

/// Keys of a PKCS#12 (OpenSSL reads it), each written to its own PEM file.
fn keys_of(p12: &Path, pw: &str, dir: &Path, prefix: &str) -> Vec<std::path::PathBuf> {
    let pem = dir.join(format!("{prefix}.pem"));
    let out = openssl(&[
        "pkcs12",
        "-in",
        p12.to_str().unwrap(),
        "-nocerts",
        "-nodes",
        "-passin",
        &format!("pass:{pw}"),
        "-out",
        pem.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&pem).unwrap();
    text.split("-----BEGIN PRIVATE KEY-----")
        .skip(1)
        .enumerate()
        .map(|(i, k)| {
            let f = dir.join(format!("{prefix}-{i}.key"));
            std::fs::write(&f, format!("-----BEGIN PRIVATE KEY-----{k}")).unwrap();
            f
        })
        .collect()
}

fn opens(msg: &Path, keys: &[std::path::PathBuf]) -> bool {
    keys.iter().any(|k| {
        let out = openssl(&[
            "cms",
            "-decrypt",
            "-in",
            msg.to_str().unwrap(),
            "-inkey",
            k.to_str().unwrap(),
        ]);
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("hello Alice")
    })
}

#[test]
fn two_of_three_agents_recover_alices_keys_one_alone_gets_nothing_and_a_replaced_agent_is_reshared_out()
 {
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
                .args(["init", "--ca-subject", "CN=Agents CA", "--admin", "root"])
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
    let kmsctl = || {
        let mut c = Command::new(&kmsctl_bin);
        c.env("KMS_URL", &url)
            .env("KMS_SESSION_FILE", t.join("root.json"))
            .env_remove("KMS_CA_CERT")
            .arg("--json");
        c
    };
    let lockbox = || Command::new(sibling_bin("lockbox"));
    ok(
        run(
            kmsctl().args(["login", "--admin", "root", "--password-stdin"]),
            Some(ROOT_PW),
        ),
        "login",
    );

    // Three agents make their keys on "their machines"; an administrator designates them.
    for i in 0..3 {
        let v: Value = serde_json::from_str(&ok(
            run(
                kmsctl()
                    .args(["agent", "keygen", "--out", &p(&format!("agent{i}.key"))])
                    .arg("--password-stdin"),
                Some(AGENT_PW),
            ),
            "agent keygen",
        ))
        .unwrap();
        let pk = v["public_key"].as_str().unwrap().to_string();
        ok(
            run(
                kmsctl().args(["agent", "add", &format!("agent{i}"), &pk]),
                None,
            ),
            "agent add",
        );
    }
    ok(
        run(kmsctl().args(["agent", "threshold", "2"]), None),
        "agent threshold",
    );

    // Alice enrolls, receives mail, renews with a new key, receives mail again.
    let v: Value = serde_json::from_str(&ok(
        run(
            kmsctl().args([
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
    let token = v["enrollment_token"].as_str().unwrap().to_string();
    let enroll = |out: &str, token: &str| {
        ok(
            run(
                lockbox()
                    .env("KMS_ENROLL_TOKEN", token)
                    .args(["enroll", "--server", &url, "--email", "alice@example.com"])
                    .args(["--out", out])
                    .arg("--password-stdin"),
                Some(ALICE_PW),
            ),
            "lockbox enroll",
        )
    };
    let mail = |to: &str| {
        let plain =
            "From: bob@example.com\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nhello Alice\r\n";
        std::fs::write(t.join("msg.eml"), plain).unwrap();
        ok(
            run(
                lockbox()
                    .args([
                        "encrypt",
                        "--server",
                        &url,
                        "--to-email",
                        "alice@example.com",
                    ])
                    .args(["--in", &p("msg.eml"), "--out", to]),
                None,
            ),
            "lockbox encrypt",
        );
    };
    enroll(&p("alice.p12"), &token);
    mail(&p("old.eml"));
    let v: Value = serde_json::from_str(&ok(
        run(
            kmsctl().args(["renew", "alice@example.com", "--new-key"]),
            None,
        ),
        "renew --new-key",
    ))
    .unwrap();
    let token2 = v["renewed"][0]["enrollment_token"]
        .as_str()
        .unwrap()
        .to_string();
    enroll(&p("alice-new.p12"), &token2);
    mail(&p("new.eml"));
    let v: Value = serde_json::from_str(&ok(
        run(kmsctl().args(["agent", "list"]), None),
        "agent list",
    ))
    .unwrap();
    assert_eq!(v["split_keys"], 2, "{v}");
    assert_eq!(v["master_only_keys"], 0, "{v}");

    // Recovery waits for agents (exit 3, the agent request's id).
    let recover = || {
        run(
            kmsctl()
                .args([
                    "recover-key",
                    "alice@example.com",
                    "--out",
                    &p("recovered.p12"),
                ])
                .arg("--password-stdin"),
            Some(BUNDLE_PW),
        )
    };
    let out = recover();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v["request_id"].as_i64().unwrap().to_string();
    let approve = |i: usize, pw: &str| {
        run(
            kmsctl()
                .args(["approve", &id, "--agent-key", &p(&format!("agent{i}.key"))])
                .arg("--password-stdin"),
            Some(pw),
        )
    };
    // A wrong agent key password: refused on the agent's machine.
    let out = approve(0, "not the password");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("CLI-020"));
    ok(approve(0, AGENT_PW), "agent0 releases");
    // One agent alone: still waiting, no bundle.
    assert_eq!(recover().status.code(), Some(3));
    assert!(!t.join("recovered.p12").exists());
    ok(approve(2, AGENT_PW), "agent2 releases");
    ok(recover(), "recover-key with two agents");

    let keys = keys_of(&t.join("recovered.p12"), BUNDLE_PW, t, "recovered");
    assert_eq!(keys.len(), 2, "the old and the new encryption key");
    assert!(opens(&t.join("old.eml"), &keys), "the old mail opens");
    assert!(opens(&t.join("new.eml"), &keys), "the new mail opens");

    // agent2 is replaced by agent3: added, then agent2 removed (agent0 and agent1 still hold
    // two shares of each key). Removing agent1 as well would strand her keys: refused.
    let v: Value = serde_json::from_str(&ok(
        run(
            kmsctl()
                .args(["agent", "keygen", "--out", &p("agent3.key")])
                .arg("--password-stdin"),
            Some(AGENT_PW),
        ),
        "agent keygen",
    ))
    .unwrap();
    let pk3 = v["public_key"].as_str().unwrap().to_string();
    ok(
        run(kmsctl().args(["agent", "add", "agent3", &pk3]), None),
        "agent add",
    );
    ok(
        run(kmsctl().args(["agent", "remove", "agent2"]), None),
        "agent remove",
    );
    let out = run(kmsctl().args(["agent", "remove", "agent1"]), None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("AUTH-133"));
    let v: Value = serde_json::from_str(&ok(
        run(kmsctl().args(["agent", "list"]), None),
        "agent list",
    ))
    .unwrap();
    assert_eq!(v["needs_reshare"], 2, "{v}");

    // The re-share waits for two agents of the old set (exit 3, its agent request).
    let reshare = || run(kmsctl().args(["agent", "reshare"]), None);
    let out = reshare();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["operation"], "agent-change", "{v}");
    let rid = v["request_id"].as_i64().unwrap().to_string();
    let approve_as = |key: &str, id: &str| {
        run(
            kmsctl()
                .args(["approve", id, "--agent-key", &p(key)])
                .arg("--password-stdin"),
            Some(AGENT_PW),
        )
    };
    // The new agent holds no old share; the removed one is no agent any more.
    let out = approve_as("agent3.key", &rid);
    assert!(String::from_utf8_lossy(&out.stdout).contains("AUTH-132"));
    let out = approve_as("agent2.key", &rid);
    assert!(String::from_utf8_lossy(&out.stdout).contains("AUTH-131"));
    ok(
        approve_as("agent0.key", &rid),
        "agent0 answers the re-share",
    );
    let v: Value = serde_json::from_str(&ok(
        run(kmsctl().args(["agent", "requests"]), None),
        "agent requests",
    ))
    .unwrap();
    let r = &v["requests"][0];
    assert_eq!(
        (&r["kind"], &r["keys"], &r["needed"]),
        (&"reshare".into(), &2.into(), &2.into()),
        "{v}"
    );
    assert_eq!(r["released_by"], serde_json::json!(["agent0"]));
    assert_eq!(
        reshare().status.code(),
        Some(3),
        "one old agent is not enough"
    );
    ok(
        approve_as("agent1.key", &rid),
        "agent1 answers the re-share",
    );
    let v: Value = serde_json::from_str(&ok(reshare(), "agent reshare")).unwrap();
    assert_eq!(v["remade"], 2, "{v}");

    // agent3 and agent1 recover both keys; agent2's key is no agent's any more.
    std::fs::remove_file(t.join("recovered.p12")).unwrap();
    let out = recover();
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v["request_id"].as_i64().unwrap().to_string();
    let out = approve_as("agent2.key", &id);
    assert!(String::from_utf8_lossy(&out.stdout).contains("AUTH-131"));
    ok(approve_as("agent3.key", &id), "agent3 releases");
    ok(approve_as("agent1.key", &id), "agent1 releases");
    ok(recover(), "recover-key after the re-share");
    let keys = keys_of(&t.join("recovered.p12"), BUNDLE_PW, t, "after");
    assert_eq!(keys.len(), 2);
    assert!(opens(&t.join("old.eml"), &keys), "the old mail opens");
}
