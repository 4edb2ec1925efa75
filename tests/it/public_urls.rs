//! The URLs in certificates work: a deployment over HTTPS plus the plain-HTTP public listener
//! that `kmsd init` turns on (ports chosen free by the test, the rest from `init`'s
//! `kmsd.toml`). The CRL distribution point, freshest CRL and CA certificate URLs of an issued
//! certificate are read by `openssl x509`, fetched over plain HTTP and parsed and verified by
//! `openssl`; `gpgsm` (whose `dirmngr` follows CRL distribution points) verifies a message
//! signed by `lockbox` as good after fetching the CRL, and as revoked after `kmsctl revoke`.
//! Then `kmsctl settings public-url` changes the URL for certificates issued afterwards: at
//! once under a quorum of one, after an approval (exit 3 first) under two; the API's `Host`
//! check accepts the new URL's host as soon as the change applies, without a restart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::support::{Server, base64_decode, free_port, kmsd_bin, ok, openssl, run, sibling_bin};

const ADMIN_PW: &str = "public urls admin password";
const BOB_PW: &str = "public urls bob password";
const P12_PW: &str = "alice bundle password";

/// `GET url` over plain HTTP/1.0 (`http://HOST:PORT/PATH`): the status and the body.
fn http_get(url: &str) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("a plain http:// URL");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = TcpStream::connect(authority).unwrap_or_else(|e| panic!("{url}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{url}: no HTTP header end"));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{url}: bad status line in {head}"));
    (status, raw[split + 4..].to_vec())
}

/// The URIs of one extension as `openssl x509 -ext NAME` prints them.
fn ext_uris(cert: &Path, ext: &str) -> Vec<String> {
    let out = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-ext", ext]);
    assert!(out.status.success(), "openssl x509 -ext {ext}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.trim()
                .split_once("URI:")
                .map(|(_, u)| u.trim().to_string())
        })
        .collect()
}

/// The first certificate of a PKCS#12 file's user certificates, as PEM in `out`.
fn user_cert(p12: &Path, out: &Path) {
    let o = openssl(&[
        "pkcs12",
        "-in",
        p12.to_str().unwrap(),
        "-nokeys",
        "-clcerts",
        "-passin",
        &format!("pass:{P12_PW}"),
        "-out",
        out.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "openssl pkcs12: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `gpgsm` with its own home (and `dirmngr` logging every CRL it fetches there).
fn gpgsm(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new("gpgsm")
        .env("GNUPGHOME", home)
        .arg("--batch")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("gpgsm ({e}): apt-get install -y gpgsm dirmngr"))
}

/// Stops the `dirmngr` that `gpgsm` started for `home` (when the test ends, pass or fail).
struct Dirmngr<'a>(&'a Path);

impl Drop for Dirmngr<'_> {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.0)
            .args(["--kill", "dirmngr"])
            .output();
    }
}

#[test]
fn init_refuses_a_2048_bit_ca_key_before_writing_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = run(
        Command::new(kmsd_bin())
            .args([
                "init",
                "--ca-key-bits",
                "2048",
                "--ca-subject",
                "CN=Small CA",
            ])
            .args(["--admin", "admin", "--admin-password-stdin"])
            .arg("--data-dir")
            .arg(&data),
        Some(ADMIN_PW),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("2048-bit CA key is refused") && stderr.contains("RSA-3072 at least"),
        "{stderr}"
    );
    assert!(!data.exists(), "nothing is written");
}

#[test]
fn crl_and_ca_urls_in_certificates_answer_to_openssl_and_gpgsm() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let p = |name: &str| t.join(name).to_str().unwrap().to_string();
    let data = t.join("data");
    let key_file = t.join("kmsd.keyfile");
    let (api_port, public_port) = (free_port(), free_port());
    let url = format!("https://127.0.0.1:{api_port}");
    let public_url = format!("http://127.0.0.1:{public_port}");

    // init with the default CA key size (RSA-4096, the only e2e test that pays for it); the
    // public listener is on in kmsd.toml and the public URL is its address; a
    // loopback URL is warned about, not refused.
    let out = run(
        Command::new(kmsd_bin())
            .args(["init", "--ca-subject", "CN=Public URL CA,O=Example"])
            .args(["--admin", "admin", "--admin-password-stdin"])
            .args(["--public-listen", &format!("127.0.0.1:{public_port}")])
            .args(["--public-host", "127.0.0.1"])
            .arg("--data-dir")
            .arg(&data)
            .arg("--key-file")
            .arg(&key_file),
        Some(ADMIN_PW),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = ok(out, "kmsd init");
    assert!(
        stdout.contains(&format!("public URL (in certificates): {public_url};")),
        "{stdout}"
    );
    assert!(
        stderr.contains("warning: the public URL") && stderr.contains("is loopback"),
        "{stderr}"
    );
    assert!(stdout.contains("CA key: RSA-4096"), "{stdout}");
    let toml = std::fs::read_to_string(data.join("kmsd.toml")).unwrap();
    assert!(
        toml.lines()
            .any(|l| l == format!("public_listen = \"127.0.0.1:{public_port}\"")),
        "{toml}"
    );

    // serve over HTTPS; the public listener comes from kmsd.toml alone.
    let log = std::fs::File::create(t.join("kmsd.log")).unwrap();
    let _server = Server(
        Command::new(kmsd_bin())
            .arg("serve")
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{api_port}")])
            .arg("--key-file")
            .arg(&key_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", api_port)).is_err()
        || TcpStream::connect(("127.0.0.1", public_port)).is_err()
    {
        assert!(Instant::now() < deadline, "kmsd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, ca_der) = http_get(&format!("{public_url}/ca.der"));
    assert_eq!(status, 200);
    std::fs::write(t.join("ca.der"), &ca_der).unwrap();
    assert!(
        openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            &p("ca.der"),
            "-out",
            &p("ca.pem")
        ])
        .status
        .success()
    );
    // OpenSSL reads the default CA key size from the CA certificate.
    let text = openssl(&["x509", "-in", &p("ca.pem"), "-noout", "-text"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Public-Key: (4096 bit)"), "{text}");

    let kmsctl_bin = sibling_bin("kmsctl");
    let as_admin = |session: &str| {
        let mut c = Command::new(&kmsctl_bin);
        c.env("KMS_URL", &url)
            .env("KMS_CA_CERT", t.join("ca.pem"))
            .env("KMS_SESSION_FILE", t.join(session));
        c
    };
    let kmsctl = || as_admin("admin.json");
    ok(
        run(
            kmsctl().args(["login", "--admin", "admin", "--password-stdin"]),
            Some(ADMIN_PW),
        ),
        "login",
    );
    let enroll = |email: &str, p12: &str| {
        let v: Value = serde_json::from_str(&ok(
            run(
                kmsctl().args(["--json", "user", "add", email, "--name", "Someone"]),
                None,
            ),
            "user add",
        ))
        .unwrap();
        let token = v["enrollment_token"].as_str().unwrap().to_string();
        ok(
            run(
                Command::new(sibling_bin("lockbox"))
                    .env("KMS_ENROLL_TOKEN", &token)
                    .env("KMS_URL", &url)
                    .env("KMS_CA_CERT", t.join("ca.pem"))
                    .args(["enroll", "--email", email, "--password-stdin", "--out"])
                    .arg(t.join(p12)),
                Some(P12_PW),
            ),
            "lockbox enroll",
        );
    };
    enroll("alice@example.com", "alice.p12");
    let alice = t.join("alice.pem");
    user_cert(&t.join("alice.p12"), &alice);

    // openssl: the URLs the certificate names, fetched over plain HTTP, parse and verify.
    let crl_urls = ext_uris(&alice, "crlDistributionPoints");
    assert_eq!(crl_urls, [format!("{public_url}/crl")]);
    let delta_urls = ext_uris(&alice, "freshestCRL");
    assert_eq!(delta_urls, [format!("{public_url}/crl/delta")]);
    for (i, u) in crl_urls.iter().chain(&delta_urls).enumerate() {
        let (status, body) = http_get(u);
        assert_eq!(status, 200, "{u}");
        let f = p(&format!("crl-{i}.der"));
        std::fs::write(&f, &body).unwrap();
        let out = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            &f,
            "-CAfile",
            &p("ca.pem"),
            "-noout",
        ]);
        let said = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("verify OK"),
            "{u}: {said}"
        );
    }
    // The CA certificate: at the caIssuers URL when the certificate names one, and at
    // PUBLIC_URL/ca.der in any case.
    let mut ca_urls: Vec<String> = ext_uris(&alice, "authorityInfoAccess")
        .into_iter()
        .filter(|u| !u.ends_with("/ocsp"))
        .collect();
    ca_urls.push(format!("{public_url}/ca.der"));
    for u in &ca_urls {
        assert!(u.starts_with(&public_url), "{u}");
        let (status, body) = http_get(u);
        assert_eq!((status, &body), (200, &ca_der), "{u}");
    }

    // gpgsm: the CA trusted in a fresh home, CRL checks on (the default); dirmngr fetches the
    // CRL from the distribution point and the signature of lockbox is good.
    let home = t.join("gnupg");
    std::fs::create_dir(&home).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let _dirmngr = Dirmngr(&home);
    let dirmngr_log = home.join("dirmngr.log");
    std::fs::write(
        home.join("dirmngr.conf"),
        format!("log-file {}\nverbose\n", dirmngr_log.display()),
    )
    .unwrap();
    let out = gpgsm(&home, &["--import", &p("ca.der")]);
    assert!(
        out.status.success(),
        "gpgsm --import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fpr = String::from_utf8(
        openssl(&[
            "x509",
            "-in",
            &p("ca.pem"),
            "-noout",
            "-fingerprint",
            "-sha1",
        ])
        .stdout,
    )
    .unwrap();
    let fpr = fpr.trim().split_once('=').unwrap().1.to_string();
    std::fs::write(home.join("trustlist.txt"), format!("{fpr} S\n")).unwrap();

    std::fs::write(
        t.join("msg.txt"),
        "Content-Type: text/plain\r\n\r\nhello, relying party\r\n",
    )
    .unwrap();
    let sign = |p12: &str, out: &str| {
        ok(
            run(
                Command::new(sibling_bin("lockbox"))
                    .args(["sign", "--p12", &p(p12), "--password-stdin", "--opaque"])
                    .args(["--in", &p("msg.txt"), "--out", &p(out)]),
                Some(P12_PW),
            ),
            "lockbox sign",
        );
        // The opaque S/MIME message's body is the CMS SignedData, base64.
        let mime = std::fs::read_to_string(t.join(out)).unwrap();
        let mime = mime.replace("\r\n", "\n");
        let body = mime.split_once("\n\n").expect("a MIME body").1;
        let der = base64_decode(&body.split_whitespace().collect::<String>()).unwrap();
        let f = p(&format!("{out}.p7m"));
        std::fs::write(&f, der).unwrap();
        f
    };
    let signed = sign("alice.p12", "alice-signed.eml");
    let out = gpgsm(&home, &["--verify", &signed]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success() && said.contains("Good signature"),
        "gpgsm --verify: {said}"
    );
    let fetched = std::fs::read_to_string(&dirmngr_log).unwrap_or_default();
    assert!(
        fetched.contains(&format!("fetching CRL from '{public_url}/crl'")),
        "dirmngr did not fetch the CRL from the distribution point: {fetched}"
    );

    // Revoked: once dirmngr forgets the CRL it had, gpgsm fetches the new one and says so.
    ok(
        run(
            kmsctl().args([
                "revoke",
                "alice@example.com",
                "--reason",
                "keyCompromise",
                "--yes",
            ]),
            None,
        ),
        "kmsctl revoke",
    );
    let out = gpgsm(&home, &["--call-dirmngr", "flushcrls"]);
    assert!(out.status.success(), "flushcrls");
    let out = gpgsm(&home, &["--verify", &signed]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && said.contains("certificate has been revoked"),
        "gpgsm --verify after revoke: {said}"
    );

    // Changing the public URL: refused for loopback (this server was not made with --dev),
    // done at once under a quorum of one, for certificates issued afterwards.
    let out = run(
        kmsctl().args(["--json", "settings", "public-url", "http://localhost:1"]),
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "AUTH-009", "{v}");
    let moved = format!("http://kms.example.test:{public_port}");
    // The API's Host check (DNS rebinding) follows the public URL without a restart.
    let host_status = |host: &str| -> String {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(t.join("ca.pem"))
            .args(["-H", &format!("Host: {host}:{api_port}")])
            .arg(format!("{url}/api/v1/status"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(
        host_status("kms.example.test"),
        "421",
        "not yet a name of this server"
    );
    let said = ok(
        run(kmsctl().args(["settings", "public-url", &moved]), None),
        "settings public-url",
    );
    assert!(
        said.contains(&format!("changed from {public_url} to {moved}"))
            && said.contains("renew --all"),
        "{said}"
    );
    assert_eq!(
        host_status("kms.example.test"),
        "401",
        "the new public URL's host is accepted at once (not signed in: 401)"
    );
    assert_eq!(host_status("127.0.0.1"), "401");
    enroll("carol@example.com", "carol.p12");
    let carol = t.join("carol.pem");
    user_cert(&t.join("carol.p12"), &carol);
    assert_eq!(
        ext_uris(&carol, "crlDistributionPoints"),
        [format!("{moved}/crl")]
    );
    assert_eq!(
        ext_uris(&alice, "crlDistributionPoints"),
        [format!("{public_url}/crl")],
        "issued before: unchanged"
    );

    // Under a quorum of two: exit 3 until another administrator approves.
    ok(
        run(
            kmsctl()
                .args(["admin", "add", "bob", "--role", "administrator"])
                .arg("--password-stdin"),
            Some(BOB_PW),
        ),
        "admin add bob",
    );
    ok(
        run(
            as_admin("bob.json").args(["login", "--admin", "bob", "--password-stdin"]),
            Some(BOB_PW),
        ),
        "bob login",
    );
    ok(
        run(kmsctl().args(["policy", "set", "public-url", "2"]), None),
        "policy set public-url 2",
    );
    let later = "http://pki.example.test";
    let out = run(
        kmsctl().args(["--json", "settings", "public-url", later]),
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["operation"].as_str()),
        (Some("waiting"), Some("public-url")),
        "{v}"
    );
    let id = v["request_id"].as_i64().unwrap().to_string();
    let shown = ok(
        run(kmsctl().args(["settings", "public-url"]), None),
        "settings public-url (show)",
    );
    assert_eq!(shown.trim(), moved, "unchanged while waiting");
    assert_eq!(
        host_status("pki.example.test"),
        "421",
        "not before the approval"
    );
    ok(
        run(as_admin("bob.json").args(["approve", &id]), None),
        "bob approves",
    );
    let v: Value = serde_json::from_str(&ok(
        run(
            kmsctl().args(["--json", "settings", "public-url", later]),
            None,
        ),
        "settings public-url after approval",
    ))
    .unwrap();
    assert_eq!(
        (v["public_url"].as_str(), v["previous"].as_str()),
        (Some(later), Some(moved.as_str())),
        "{v}"
    );
    assert_eq!(
        host_status("pki.example.test"),
        "401",
        "applied after the approval"
    );
}
