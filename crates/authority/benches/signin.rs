//! The cost of a refused sign-in: a locked-out account, an unknown name and a wrong password
//! must cost the same (one Argon2 verification each), so that timing does not tell them apart.
//!
//! `cargo bench -p authority --bench signin`. Uses Argon2id at 16 MiB, t=2 (cheaper than the
//! default, so the run stays short; the three cases share the cost either way). Compare the
//! three lines: they should agree within noise.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use authority::{Config, Error, InitParams, SignIn, SystemClock};
use criterion::{Criterion, criterion_group, criterion_main};
use escrow::{Argon2Params, InitOptions, Password};
use pki::PrivateKey;

const ADMIN_PW: &str = "admin password 1";

fn signin(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let key = PrivateKey::from_pem_or_der(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys/ca-3072.key.pem"))
            .unwrap(),
    )
    .unwrap();
    let config = Config {
        admin_argon2: Argon2Params::new(16 * 1024, 2, 1),
        key_pool_size: 0,
        // Only the cost of the answer is measured: no address is refused outright.
        login_failures_per_address: u32::MAX,
        ..Config::default()
    };
    let auth = authority::init(
        InitParams {
            data_dir: &tmp.path().join("data"),
            ca_subject: "CN=Bench CA,O=Example",
            admin_name: "admin",
            admin_password: &Password::new(ADMIN_PW),
            unlock: InitOptions {
                password: Some(Password::new("start-up password")),
                key_file: None,
                argon2: Argon2Params::new(64, 1, 1),
            },
            public_url: "http://127.0.0.1:9999",
            ca_key: Some(key),
        },
        config,
        Arc::new(SystemClock),
    )
    .unwrap();
    let right = Password::new(ADMIN_PW);
    let wrong = Password::new("not the password");
    let locked_from = SignIn::from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    for _ in 0..5 {
        let _ = auth.login_from("admin", &wrong, &locked_from);
    }
    let refused = |r: authority::Result<authority::Session>| {
        assert!(matches!(r, Err(Error::BadCredentials)));
    };
    let mut g = c.benchmark_group("refused sign-in");
    g.sample_size(20);
    g.bench_function("locked account, right password", |b| {
        b.iter(|| refused(auth.login_from("admin", &right, &locked_from)))
    });
    g.bench_function("unknown name", |b| {
        b.iter(|| refused(auth.login_from("nobody", &wrong, &locked_from)))
    });
    // A fresh address each time, so the account never locks for it.
    let mut n: u32 = 0x0a00_0000;
    g.bench_function("wrong password", |b| {
        b.iter(|| {
            n += 1;
            refused(auth.login_from(
                "admin",
                &wrong,
                &SignIn::from(IpAddr::from(n.to_be_bytes())),
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, signin);
criterion_main!(benches);
