//! TLS to PostgreSQL through rustls (aws-lc-rs): the server's certificate verified against
//! the configured CA and its name (here the address 127.0.0.1) against the host; a server
//! whose certificate another CA signed is refused. The CA and server certificates are made
//! by the OpenSSL CLI from the test keys in `keys/` (see `keys/README.md`).

use std::path::{Path, PathBuf};
use std::process::Command;

use db::testing::PgCluster;
use db::{Connection, ErrorKind, TlsMode};

fn keys() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys")
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the OpenSSL CLI (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA certificate for `key` in `dir`.
fn ca(dir: &Path, key: &Path, name: &str) -> PathBuf {
    let out = dir.join(format!("{name}.pem"));
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        &format!("/CN={name}"),
        "-days",
        "2",
        "-out",
        out.to_str().unwrap(),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    out
}

#[test]
fn verified_tls_connects_and_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca_key = keys().join("ca-3072.key.pem");
    let server_key = keys().join("server-tls.key.pem");
    let ca_cert = ca(d, &ca_key, "db test CA");
    let other_ca = ca(d, &keys().join("ca2-4096.key.pem"), "another CA");
    let csr = d.join("server.csr");
    openssl(&[
        "req",
        "-new",
        "-key",
        server_key.to_str().unwrap(),
        "-subj",
        "/CN=127.0.0.1",
        "-out",
        csr.to_str().unwrap(),
    ]);
    let ext = d.join("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n\
         keyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    let cert = d.join("server.pem");
    openssl(&[
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        ca_cert.to_str().unwrap(),
        "-CAkey",
        ca_key.to_str().unwrap(),
        "-set_serial",
        "1",
        "-days",
        "2",
        "-extfile",
        ext.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);

    let cluster = PgCluster::start();
    cluster.enable_tls(&cert, &server_key);
    let mut cfg = cluster.fresh_db();
    cfg.tls = TlsMode::Verify {
        ca_file: ca_cert.clone(),
    };
    let conn = Connection::connect_postgres(&cfg).unwrap();
    let encrypted: bool = conn
        .query_row(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(encrypted);

    // A server certificate from another CA is refused before any password is sent.
    cfg.tls = TlsMode::Verify { ca_file: other_ca };
    let e = Connection::connect_postgres(&cfg).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    // A CA file that is not there is a TLS set-up error naming it.
    cfg.tls = TlsMode::Verify {
        ca_file: d.join("missing.pem"),
    };
    let e = Connection::connect_postgres(&cfg).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(e.message().contains("missing.pem"), "{e}");
}
