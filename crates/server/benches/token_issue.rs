//! Certificates issued per second by the CA with its key in SoftHSM (a `hsm::TokenKey` behind
//! the issuer, as `kmsd` builds it from `[ca_key]`) against the same CA with its software key,
//! in one run: `Issuer::issue` of an S/MIME signing certificate (built, linted against the
//! SBR profile, signed with SHA-256), from 1 and 2 threads, RSA-3072 CA keys.
//!
//! `cargo bench -p kmsd --bench token_issue`. SoftHSM reads `SOFTHSM2_CONF` when it is
//! initialised, so the bench makes a throw-away token directory and runs itself again in a
//! child process that has the variable set. The token key is generated in SoftHSM; the CA
//! certificate is self-signed by it, and the software CA is made from the committed
//! `keys/ca-3072.key.pem`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, Throughput, criterion_group};
use hsm::TokenKey;
use hsm::testing::SoftHsm;
use pki::profile::{Profile, RevocationUrls, SmimeSubject};
use pki::{DigestAlgorithm, Issuer, Name, Period, PrivateKey, SbrProfile};

/// Set in the child process, which runs the benchmarks.
const CHILD: &str = "KMSD_TOKEN_BENCH_CHILD";

const CA_KEY: &str = include_str!("../../../keys/ca-3072.key.pem");
const USER_KEY: &str = include_str!("../../../keys/alice-sign.key.pem");

fn ca_profile() -> Profile {
    Profile::Ca {
        subject: Name::from_str("CN=Bench CA,O=Example").expect("name"),
        path_len: Some(0),
    }
}

fn period(days: u64) -> Period {
    let now = SystemTime::now();
    Period {
        not_before: now - Duration::from_secs(300),
        not_after: now + Duration::from_secs(days * 86400),
    }
}

fn subject() -> SmimeSubject {
    SmimeSubject {
        subject: Name::from_str("CN=alice@example.com").expect("name"),
        email: "alice@example.com".into(),
        capabilities: pki::algorithms::DEFAULT_CAPABILITIES.to_vec(),
        revocation: RevocationUrls {
            crl: Some("http://ca.example.com/crl".into()),
            delta_crl: None,
            ca_issuers: Some("http://ca.example.com/ca.der".into()),
            ocsp: Some("http://ca.example.com/ocsp".into()),
        },
        sbr: Some(SbrProfile::MAILBOX_STRICT),
        policy: pki::PolicyExtras::default(),
    }
}

/// `iters` issuances split over `threads` threads; the time they took.
fn timed(ca: &Issuer, threads: usize, iters: u64) -> Duration {
    let user = PrivateKey::from_pem_or_der(USER_KEY.as_bytes())
        .expect("committed key")
        .public_key();
    let profile = Profile::SmimeSigning(subject());
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads as u64 {
            let share = iters / threads as u64 + u64::from(t < iters % threads as u64);
            let (user, profile) = (&user, &profile);
            s.spawn(move || {
                let mut rng = pki::os_rng();
                for _ in 0..share {
                    ca.issue(profile, user, period(365), &mut rng)
                        .expect("issue");
                }
            });
        }
    });
    start.elapsed()
}

fn issue(c: &mut Criterion) {
    let software = Issuer::self_signed(
        PrivateKey::from_pem_or_der(CA_KEY.as_bytes()).expect("committed key"),
        &ca_profile(),
        period(3650),
        DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    )
    .expect("software CA");
    let token = TokenKey::generate(&SoftHsm::config("bench", "ca"), SoftHsm::pin(), 3072)
        .expect("a CA key in SoftHSM");
    let token = Issuer::self_signed_with_signing_key(
        Arc::new(token),
        &ca_profile(),
        period(3650),
        DigestAlgorithm::Sha256,
        &mut pki::os_rng(),
    )
    .expect("token CA");
    let mut g = c.benchmark_group("issue");
    g.throughput(Throughput::Elements(1));
    for threads in [1usize, 2] {
        g.bench_function(format!("softhsm rsa3072 {threads} threads"), |b| {
            b.iter_custom(|iters| timed(&token, threads, iters))
        });
        g.bench_function(format!("software rsa3072 {threads} threads"), |b| {
            b.iter_custom(|iters| timed(&software, threads, iters))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = issue
}

fn main() {
    if std::env::var_os(CHILD).is_none() {
        let hsm = SoftHsm::new();
        hsm.init_token("bench");
        let exe = std::env::current_exe().expect("the bench binary");
        let status = hsm
            .command(exe)
            .args(std::env::args_os().skip(1))
            .env(CHILD, "1")
            .status()
            .expect("running the bench again");
        drop(hsm); // removes the token directory
        std::process::exit(status.code().unwrap_or(1));
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
