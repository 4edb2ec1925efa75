//! The OCSP responder of a real `kmsd` with `openssl ocsp` as the client: good, revoked (time
//! and reason) within 2 s of `kmsctl revoke` answering, unknown for a made-up serial,
//! unauthorized for another CA; POST (with the nonce echoed) and the RFC 5019 GET (the request
//! from `-reqout`, fetched by URL, the answer read back with `-respin`); the delegated
//! responder certificate verifies against the CA; a malformed request gets malformedRequest.

use std::process::Command;
use std::time::{Duration, Instant};

use super::support::{free_port, kmsd_bin, ok, openssl, run, sibling_bin, start, workspace_root};

const ADMIN_PW: &str = "ocsp e2e admin password";
const PW: &str = "user p12 password";

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// base64, then the URL encoding of `+`, `/` and `=` (RFC 5019 §5).
fn get_path(der: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |a, (i, b)| a | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    b64.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[test]
fn openssl_ocsp_against_kmsd() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let p = |name: &str| t.join(name).to_str().unwrap().to_string();
    let data = t.join("data");
    let key_file = t.join("kmsd.keyfile");
    let ports = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{}", ports.0);
    let public_url = format!("http://127.0.0.1:{}", ports.1);
    let ocsp_url = format!("{public_url}/ocsp");
    ok(
        run(
            Command::new(kmsd_bin())
                .args([
                    "init",
                    "--ca-key-bits",
                    "3072",
                    "--ca-subject",
                    "CN=OCSP CA,O=Example",
                    "--admin",
                ])
                .args([
                    "admin",
                    "--admin-password-stdin",
                    "--public-url",
                    &public_url,
                ])
                .arg("--data-dir")
                .arg(&data)
                .arg("--key-file")
                .arg(&key_file)
                .arg("--key-file-copy")
                .arg(t.join("kmsd.keyfile.copy")),
            Some(ADMIN_PW),
        ),
        "kmsd init",
    );
    let _server = start(&data, ports, false, Some(&key_file), &t.join("kmsd.log"));
    let kmsctl_bin = sibling_bin("kmsctl");
    let kmsctl = || {
        let mut c = Command::new(&kmsctl_bin);
        c.env("KMS_URL", &url)
            .env("KMS_SESSION_FILE", t.join("session.json"))
            .env_remove("KMS_CA_CERT");
        c
    };
    let lockbox_bin = sibling_bin("lockbox");
    let lockbox = || {
        let mut c = Command::new(&lockbox_bin);
        c.env("LOCKBOX_CRL_CACHE", t.join("cache"))
            .env_remove("KMS_URL")
            .env_remove("KMS_CA_CERT");
        c
    };
    ok(
        run(
            kmsctl().args(["login", "--admin", "admin", "--password-stdin"]),
            Some(ADMIN_PW),
        ),
        "login",
    );
    ok(
        run(kmsctl().args(["ca-cert", "--out", &p("ca.pem")]), None),
        "ca-cert",
    );
    let mut serials = Vec::new();
    for who in ["good", "bad"] {
        let email = format!("{who}@example.com");
        let out = ok(
            run(
                kmsctl().args(["--json", "user", "add", &email, "--name", who]),
                None,
            ),
            "user add",
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        std::fs::write(
            t.join(format!("{who}.token")),
            v["enrollment_token"].as_str().unwrap(),
        )
        .unwrap();
        ok(
            run(
                lockbox()
                    .args(["enroll", "--server", &url, "--email", &email])
                    .args([
                        "--password-stdin",
                        "--token-file",
                        &p(&format!("{who}.token")),
                    ])
                    .args(["--out", &p(&format!("{who}.p12"))]),
                Some(PW),
            ),
            "enroll",
        );
        let out = ok(
            run(
                kmsctl().args([
                    "--json", "cert", "list", "--email", &email, "--kind", "signing",
                ]),
                None,
            ),
            "cert list",
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let serial = v["certificates"][0]["serial"].as_str().unwrap().to_string();
        ok(
            run(
                kmsctl()
                    .args(["cert", "show", &serial, "--out"])
                    .arg(t.join(format!("{who}.der"))),
                None,
            ),
            "cert show",
        );
        let o = openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            &p(&format!("{who}.der")),
            "-out",
            &p(&format!("{who}.pem")),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        serials.push(serial);
    }
    let query = |cert: &str, extra: &[&str]| {
        let mut args = vec![
            "ocsp",
            "-issuer",
            &p("ca.pem"),
            "-url",
            &ocsp_url,
            "-CAfile",
            &p("ca.pem"),
            "-resp_text",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        if !cert.is_empty() {
            args.extend(["-cert".into(), p(cert)]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = Command::new("openssl").args(&args).output().unwrap();
        text(&o)
    };

    // POST, good, with a nonce (openssl sends one by default and checks the echo).
    let out = query("good.pem", &[]);
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains("good.pem: good"), "{out}");
    assert!(out.contains("OCSP Nonce"), "{out}");
    assert!(!out.contains("nonce"), "{out}"); // no "WARNING: no nonce in response"
    // The delegated responder: its certificate is in the response and says what it is.
    assert!(out.contains("OCSP Signing"), "{out}");
    assert!(out.contains("OCSP No Check"), "{out}");
    assert!(out.contains("Responder Id: "), "{out}");
    assert!(
        out.contains("Signature Algorithm: sha256WithRSAEncryption"),
        "{out}"
    );
    // The responder certificate, taken from the response, verifies against the CA.
    let o = openssl(&[
        "ocsp",
        "-issuer",
        &p("ca.pem"),
        "-cert",
        &p("good.pem"),
        "-url",
        &ocsp_url,
        "-CAfile",
        &p("ca.pem"),
        "-no_nonce",
        "-respout",
        &p("good.resp"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = openssl(&[
        "ocsp",
        "-respin",
        &p("good.resp"),
        "-resp_text",
        "-noverify",
    ]);
    let printed = text(&o);
    let begin = printed.find("-----BEGIN CERTIFICATE-----").expect(&printed);
    let end = printed.find("-----END CERTIFICATE-----").expect(&printed) + 25;
    std::fs::write(t.join("responder.pem"), &printed[begin..end]).unwrap();
    let o = openssl(&[
        "verify",
        "-CAfile",
        &p("ca.pem"),
        "-purpose",
        "ocsphelper",
        &p("responder.pem"),
    ]);
    assert!(text(&o).contains("responder.pem: OK"), "{}", text(&o));
    let o = openssl(&[
        "ocsp",
        "-respin",
        &p("good.resp"),
        "-issuer",
        &p("ca.pem"),
        "-cert",
        &p("good.pem"),
        "-CAfile",
        &p("ca.pem"),
        "-verify_other",
        &p("responder.pem"),
    ]);
    let out = text(&o);
    assert!(
        out.contains("Response verify OK") && out.contains("good.pem: good"),
        "{out}"
    );

    // GET (RFC 5019): the request from -reqout, fetched by URL, read back with -respin.
    let o = openssl(&[
        "ocsp",
        "-issuer",
        &p("ca.pem"),
        "-cert",
        &p("good.pem"),
        "-no_nonce",
        "-reqout",
        &p("good.req"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let req = std::fs::read(t.join("good.req")).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(format!("{ocsp_url}/{}", get_path(&req)))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "application/ocsp-response"
    );
    let cache = resp
        .headers()
        .get("cache-control")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let max_age: u64 = cache
        .strip_prefix("max-age=")
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .expect(&cache);
    assert!(max_age > 3600 && max_age <= 4 * 86400, "{cache}");
    let body = resp.body_mut().read_to_vec().unwrap();
    std::fs::write(t.join("get.resp"), &body).unwrap();
    let o = openssl(&[
        "ocsp",
        "-respin",
        &p("get.resp"),
        "-issuer",
        &p("ca.pem"),
        "-cert",
        &p("good.pem"),
        "-CAfile",
        &p("ca.pem"),
        "-resp_text",
    ]);
    let out = text(&o);
    assert!(
        out.contains("Response verify OK") && out.contains("good.pem: good"),
        "{out}"
    );
    // The same request again comes from the cache: byte for byte the same answer.
    let mut again = agent
        .get(format!("{ocsp_url}/{}", get_path(&req)))
        .call()
        .unwrap();
    assert_eq!(again.body_mut().read_to_vec().unwrap(), body);

    // Unknown: a serial this CA never issued.
    let out = query("", &["-serial", "0x1234567890abcdef"]);
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains("0x1234567890abcdef: unknown"), "{out}");

    // Another CA's certificate: unauthorized.
    let o = openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        workspace_root()
            .join("keys/bob-sign.key.pem")
            .to_str()
            .unwrap(),
        "-subj",
        "/CN=Other CA",
        "-days",
        "2",
        "-out",
        &p("other.pem"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = openssl(&[
        "ocsp",
        "-issuer",
        &p("other.pem"),
        "-serial",
        "0x01",
        "-url",
        &ocsp_url,
    ]);
    assert!(text(&o).contains("unauthorized"), "{}", text(&o));

    // A malformed request: malformedRequest (an unsigned OCSPResponse).
    let mut resp = agent
        .post(&ocsp_url)
        .header("Content-Type", "application/ocsp-request")
        .send(&b"not an OCSP request"[..])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.body_mut().read_to_vec().unwrap(),
        vec![0x30, 0x03, 0x0a, 0x01, 0x01]
    );

    // bad is good until revoked (the cache holds a good answer for it now) ...
    let out = query("bad.pem", &[]);
    assert!(out.contains("bad.pem: good"), "{out}");
    let o = openssl(&[
        "ocsp",
        "-issuer",
        &p("ca.pem"),
        "-cert",
        &p("bad.pem"),
        "-no_nonce",
        "-reqout",
        &p("bad.req"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let bad_req = std::fs::read(t.join("bad.req")).unwrap();
    let mut r = agent
        .get(format!("{ocsp_url}/{}", get_path(&bad_req)))
        .call()
        .unwrap();
    let cached_good = r.body_mut().read_to_vec().unwrap();
    // ... and revoked, with time and reason, within 2 s of `kmsctl revoke` answering.
    ok(
        run(
            kmsctl().args([
                "revoke",
                "--serial",
                &serials[1],
                "--reason",
                "keyCompromise",
                "--yes",
            ]),
            None,
        ),
        "revoke",
    );
    let revoked_at = Instant::now();
    let out = loop {
        let mut r = agent
            .get(format!("{ocsp_url}/{}", get_path(&bad_req)))
            .call()
            .unwrap();
        let body = r.body_mut().read_to_vec().unwrap();
        if body != cached_good {
            std::fs::write(t.join("bad.resp"), &body).unwrap();
            break text(&openssl(&[
                "ocsp",
                "-respin",
                &p("bad.resp"),
                "-issuer",
                &p("ca.pem"),
                "-cert",
                &p("bad.pem"),
                "-CAfile",
                &p("ca.pem"),
            ]));
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(2),
            "the cached good answer was still served 2 s after the revocation"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains("bad.pem: revoked"), "{out}");
    assert!(out.contains("Reason: keyCompromise"), "{out}");
    assert!(out.contains("Revocation Time: "), "{out}");
    let out = query("bad.pem", &[]);
    assert!(out.contains("bad.pem: revoked"), "{out}");
    // good stays good.
    let out = query("good.pem", &[]);
    assert!(out.contains("good.pem: good"), "{out}");

    // lockbox verify with no CRL at hand (an empty cache, no --crl) asks the OCSP responder
    // the signer's certificate names (AIA): valid for good, revoked for bad.
    let empty = t.join("empty-cache");
    for who in ["good", "bad"] {
        std::fs::write(
            t.join(format!("{who}.eml")),
            format!("From: {who}@example.com\r\nSubject: hello\r\n\r\nfrom {who}\r\n"),
        )
        .unwrap();
        ok(
            run(
                lockbox()
                    .args([
                        "sign",
                        "--p12",
                        &p(&format!("{who}.p12")),
                        "--password-stdin",
                    ])
                    .args(["--in", &p(&format!("{who}.eml"))])
                    .args(["--out", &p(&format!("{who}.signed.eml"))]),
                Some(PW),
            ),
            "sign",
        );
    }
    let verify = |who: &str| {
        let mut c = Command::new(&lockbox_bin);
        c.env("LOCKBOX_CRL_CACHE", &empty)
            .env_remove("KMS_URL")
            .env_remove("KMS_CA_CERT")
            .args(["--json", "verify", "--ca", &p("ca.pem"), "--in"])
            .arg(t.join(format!("{who}.signed.eml")));
        run(&mut c, None)
    };
    let good = verify("good");
    let j: serde_json::Value = serde_json::from_slice(&good.stdout).unwrap();
    assert_eq!(good.status.code(), Some(0), "{j}");
    assert_eq!(j["verdict"], "valid", "{j}");
    let bad = verify("bad");
    let j: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(bad.status.code(), Some(11), "{j}");
    assert_eq!(j["verdict"], "revoked", "{j}");
    // No CRL was fetched or cached on the way: the verdicts came from OCSP.
    let crls = std::fs::read_dir(&empty)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "crl"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(crls, 0);
}
