//! The real `kmsd` under short limits from `kmsd.toml`: a client that sends half a request
//! header (plain HTTP) or nothing at all (HTTPS, the handshake never comes) is disconnected
//! after the header-read timeout, and connections beyond `max_connections` wait until one
//! closes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use super::support::{free_port, kmsd_bin, ok, run, start};

const ADMIN_PW: &str = "limits admin password";

/// Reads until the server closes the connection; how long that took (`None`: still open
/// after `within`).
fn closed_after(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(t0.elapsed()),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            // A reset is a close too.
            Err(_) => return Some(t0.elapsed()),
        }
    }
}

#[test]
fn half_sent_headers_are_closed_and_connections_beyond_the_cap_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let key_file = t.join("kmsd.keyfile");
    let ports = (free_port(), free_port());
    ok(
        run(
            Command::new(kmsd_bin())
                .args([
                    "init",
                    "--ca-key-bits",
                    "3072",
                    "--ca-subject",
                    "CN=Limits CA,O=Example",
                ])
                .args(["--admin", "admin", "--admin-password-stdin"])
                .args(["--public-url", &format!("http://127.0.0.1:{}", ports.1)])
                .arg("--data-dir")
                .arg(&data)
                .arg("--key-file")
                .arg(&key_file),
            Some(ADMIN_PW),
        ),
        "kmsd init",
    );
    std::fs::write(
        data.join("kmsd.toml"),
        "header_read_timeout_seconds = 1\nidle_timeout_seconds = 2\nmax_connections = 2\n",
    )
    .unwrap();
    let _server = start(&data, ports, true, Some(&key_file), &t.join("kmsd.log"));
    let public = ("127.0.0.1", ports.1);
    let api = ("127.0.0.1", ports.0);

    // Half a header on the public listener (plain HTTP): closed after about a second.
    let mut half = TcpStream::connect(public).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let took = closed_after(&mut half, Duration::from_secs(10))
        .expect("a half-sent header was not closed within 10 s");
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(8),
        "{took:?}"
    );

    // The HTTPS API listener: a client that never starts the handshake is closed too.
    let mut silent = TcpStream::connect(api).unwrap();
    let took = closed_after(&mut silent, Duration::from_secs(10))
        .expect("a silent HTTPS client was not closed within 10 s");
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(8),
        "{took:?}"
    );

    // A whole request is still answered.
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut whole = TcpStream::connect(public).unwrap();
    whole.write_all(request).unwrap();
    whole
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    whole.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Two connections hold the cap of two (half headers); a third waits, unanswered, until
    // the header-read timeout closes them, then it is served.
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(public).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    let t0 = Instant::now();
    let mut third = TcpStream::connect(public).unwrap();
    third.write_all(request).unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut buf = [0u8; 64];
    match third.read(&mut buf) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("the third connection was served beyond the cap: {other:?}"),
    }
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    third.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    for s in &mut held {
        assert!(closed_after(s, Duration::from_secs(10)).is_some());
    }
}
