//! Certificate profiles per the S/MIME Baseline Requirements against the real binaries: a
//! user of the `sponsored-strict` profile without given name and surname is refused when
//! the token would be issued, naming the rule (`AUTH-080`, `sbr.subject.person_name`); with
//! the names the user enrolls and the certificates' subjects carry organizationName,
//! organizationIdentifier, givenName, surname and the name as commonName; `kmsctl cert
//! lint` passes them as sponsored-strict and names the rules they break as mailbox-strict.

use std::process::Command;

use serde_json::Value;

use super::support::{free_port, kmsd_bin, ok, openssl, run, sibling_bin, start};

const ADMIN_PW: &str = "sbr admin password";
const USER_PW: &str = "alice bundle password";

#[test]
fn a_sponsored_profile_refuses_a_user_without_names_and_writes_them_when_given() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let key_file = t.join("kmsd.keyfile");
    let ports = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{}", ports.0);
    let public_url = format!("http://127.0.0.1:{}", ports.1);
    ok(
        run(
            Command::new(kmsd_bin())
                .args([
                    "init",
                    "--ca-key-bits",
                    "3072",
                    "--ca-subject",
                    "CN=Sponsor CA,O=Example Ltd",
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
    // The organisation's registration identifier, which sponsored subjects carry.
    let toml = data.join("kmsd.toml");
    let mut settings = std::fs::read_to_string(&toml).unwrap_or_default();
    settings.push_str("\norganization_identifier = \"NTRGB-12345678\"\n");
    std::fs::write(&toml, settings).unwrap();
    let _server = start(&data, ports, false, Some(&key_file), &t.join("kmsd.log"));

    let kmsctl_bin = sibling_bin("kmsctl");
    let kmsctl = || {
        let mut c = Command::new(&kmsctl_bin);
        c.env("KMS_URL", &url)
            .env_remove("KMS_CA_CERT")
            .env("KMS_SESSION_FILE", t.join("session.json"));
        c
    };
    ok(
        run(
            kmsctl().args(["login", "--admin", "admin", "--password-stdin"]),
            Some(ADMIN_PW),
        ),
        "login",
    );

    // Without names: refused, the rule named, nothing added.
    let out = run(
        kmsctl().args([
            "--json",
            "user",
            "add",
            "nameless@example.com",
            "--name",
            "Nameless",
            "--profile",
            "sponsored-strict",
        ]),
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["error"]["code"], "AUTH-080", "{stdout}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("sbr.subject.person_name"), "{message}");
    let out = run(
        kmsctl().args(["--json", "user", "show", "nameless@example.com"]),
        None,
    );
    assert_eq!(out.status.code(), Some(1), "the refused user was not added");

    // With names: added (the names and profile shown), enrolled.
    let v: Value = serde_json::from_str(&ok(
        run(
            kmsctl().args([
                "--json",
                "user",
                "add",
                "alice@example.com",
                "--name",
                "Alice",
                "--given-name",
                "Alice",
                "--surname",
                "Doe",
                "--profile",
                "sponsored-strict",
            ]),
            None,
        ),
        "user add",
    ))
    .unwrap();
    assert_eq!(v["user"]["given_name"], "Alice");
    assert_eq!(v["user"]["surname"], "Doe");
    assert_eq!(v["user"]["profile"], "sponsored-strict");
    let token = v["enrollment_token"].as_str().unwrap().to_string();
    ok(
        run(
            Command::new(sibling_bin("lockbox"))
                .current_dir(t)
                .env("KMS_ENROLL_TOKEN", &token)
                .env("KMS_URL", &url)
                .env_remove("KMS_CA_CERT")
                .args([
                    "enroll",
                    "--email",
                    "alice@example.com",
                    "--password-stdin",
                    "--out",
                ])
                .arg(t.join("alice.p12")),
            Some(USER_PW),
        ),
        "lockbox enroll",
    );

    let list: Value = serde_json::from_str(&ok(
        run(
            kmsctl().args(["--json", "cert", "list", "--email", "alice@example.com"]),
            None,
        ),
        "cert list",
    ))
    .unwrap();
    let certs = list["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2, "{list}");
    for c in certs {
        let serial = c["serial"].as_str().unwrap();
        let kind = c["kind"].as_str().unwrap();
        let file = t.join(format!("{kind}.der"));
        ok(
            run(
                kmsctl().args(["cert", "show", serial, "--out"]).arg(&file),
                None,
            ),
            "cert show --out",
        );
        let out = openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            file.to_str().unwrap(),
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253",
        ]);
        let subject = String::from_utf8(out.stdout).unwrap();
        for part in [
            "O=Example Ltd",
            "organizationIdentifier=NTRGB-12345678",
            "GN=Alice",
            "SN=Doe",
            "CN=Alice Doe",
        ] {
            assert!(subject.contains(part), "{kind}: {subject} lacks {part}");
        }
        // Our lint through kmsctl: passes as its own profile...
        let report: Value = serde_json::from_str(&ok(
            run(kmsctl().args(["--json", "cert", "lint"]).arg(&file), None),
            "cert lint",
        ))
        .unwrap();
        assert_eq!(report["profile"], "sponsored-strict", "{report}");
        assert_eq!(report["kind"], kind, "{report}");
        assert_eq!(report["passes"], true, "{report}");
        // ...and, judged as mailbox-strict, fails naming the rules.
        let out = run(
            kmsctl()
                .args(["cert", "lint", "--profile", "mailbox-strict"])
                .arg(&file),
            None,
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("ERROR sbr.profile:"), "{text}");
        assert!(text.contains("ERROR sbr.subject:"), "{text}");
    }
}
