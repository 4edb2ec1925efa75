//! The client's CRL cache (`lockbox crl sync`, and `lockbox verify` without `--crl`): a
//! per-user directory of the newest full and delta CRL of each known CA, each checked against
//! its CA's signature before it is stored, for offline revocation checks.
//!
//! # Where
//!
//! `--crl-cache DIR`, else `$LOCKBOX_CRL_CACHE`, else `$XDG_CACHE_HOME/lockbox/crls`, else
//! `~/.cache/lockbox/crls`. The directory is created mode 0700; every file is written
//! atomically (temporary file, fsync, rename) with mode 0600.
//!
//! # Layout
//!
//! For each CA, named by the first 16 octets of the SHA-256 of its certificate (`FP`):
//! `FP.ca.der` (the CA certificate CRLs are checked against), `FP.json` (where its CRLs come
//! from), `FP.full.crl` and `FP.delta.crl` (DER). `remembered.json` lists the CAs remembered
//! at `lockbox enroll` (the organisation's CA and the authority's URL).
//!
//! # Where CRLs come from
//!
//! A CA certificate names its *own* issuer's CRL, not the CRL it signs, and the authority's
//! CA certificate names none; the end-entity certificates name it. So the sources of a CA's
//! CRLs are, in order: the authority's `/crl` and `/crl/delta` (for a CA remembered at
//! enrollment, or every CA when `KMS_URL` is set), the CRL distribution points and freshest
//! CRL URLs in the CA certificate (a self-issued root may name its own CRL there), and the
//! freshest CRL URL in a full CRL fetched (for its delta). Whatever a source answers is kept
//! only if it is a CRL signed by that CA and naming it as issuer, and only if it is newer (CRL
//! number, then thisUpdate) than the one cached.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use pki::Certificate;
use pki::crl::Crl;
use serde::{Deserialize, Serialize};

/// The environment variable naming the cache directory.
pub const ENV: &str = "LOCKBOX_CRL_CACHE";

/// Largest CRL fetched.
const MAX_CRL: u64 = 64 * 1024 * 1024;

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

/// The cache directory: `explicit`, else [`ENV`], else the XDG cache directory.
pub fn directory(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p).join("lockbox").join("crls"));
    }
    match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".cache").join("lockbox").join("crls")),
        None => Err(anyhow!(
            "no CRL cache directory: set HOME, XDG_CACHE_HOME or {ENV}, or give --crl-cache"
        )),
    }
}

/// Where a CA's CRLs come from (`FP.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Sources {
    /// The authority's URL (its `/crl` and `/crl/delta`), if known.
    server: Option<String>,
    /// A CA certificate (PEM) to trust for HTTPS to the server, if one was given.
    tls_ca_pem: Option<String>,
}

/// One remembered CA (`remembered.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Remembered {
    fingerprint: String,
    subject: String,
    server: Option<String>,
}

/// A CRL in the cache.
#[derive(Debug)]
pub struct Cached {
    /// The CRL.
    pub crl: Crl,
    /// True for a delta CRL.
    pub delta: bool,
    /// The CA's subject (the CRL's issuer).
    pub issuer: String,
}

/// What syncing one CA did.
#[derive(Clone, Debug, Serialize)]
pub struct CaSync {
    /// The CA's subject.
    pub ca: String,
    /// Its fingerprint (cache file names).
    pub fingerprint: String,
    /// The full CRL now cached: number and thisUpdate (Unix seconds), if any.
    pub full: Option<CrlState>,
    /// The delta CRL now cached, if any.
    pub delta: Option<CrlState>,
    /// Sources that failed, with why.
    pub errors: Vec<String>,
}

/// A cached CRL, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct CrlState {
    /// The CRL number.
    pub number: Option<u64>,
    /// thisUpdate, Unix seconds.
    pub this_update: u64,
    /// nextUpdate, Unix seconds.
    pub next_update: Option<u64>,
    /// True when this sync stored it (false: the cached one was as new or newer).
    pub updated: bool,
    /// Where it came from (this sync), if fetched.
    pub source: Option<String>,
}

/// The CRL cache in one directory.
pub struct CrlCache {
    dir: PathBuf,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn fingerprint(ca: &Certificate) -> anyhow::Result<String> {
    let der = pki::certificate::to_der(ca)?;
    let digest = pki::DigestAlgorithm::Sha256.digest(&der);
    Ok(pki::certificate::hex_bytes(&digest[..16]))
}

fn newer(a: &Crl, b: &Crl) -> bool {
    (a.number(), a.this_update()) > (b.number(), b.this_update())
}

impl CrlCache {
    /// The cache at [`directory`]`(explicit)` (not created until something is stored).
    pub fn open(explicit: Option<&Path>) -> anyhow::Result<Self> {
        Ok(Self {
            dir: directory(explicit)?,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn create_dir(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create the CRL cache {}", self.dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        self.create_dir()?;
        crate::files::write(
            &self.path(name),
            bytes,
            crate::files::Content::Private,
            false,
        )
    }

    fn read_json<T: for<'de> Deserialize<'de> + Default>(&self, name: &str) -> T {
        std::fs::read(self.path(name))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The CA certificates the cache holds CRLs for (or was told about), with their sources.
    fn cas(&self) -> Vec<(String, Certificate)> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(fp) = name.strip_suffix(".ca.der")
                && let Ok(bytes) = std::fs::read(e.path())
                && let Ok(cert) = pki::certificate::parse_certificate(&bytes)
            {
                out.push((fp.to_string(), cert));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Records `ca` (and where its CRLs come from) so that [`CrlCache::sync`] and
    /// [`CrlCache::refresh_stale`] find it; `remember` also lists it in `remembered.json`.
    pub fn add_ca(
        &self,
        ca: &Certificate,
        server: Option<&str>,
        tls_ca_pem: Option<&[u8]>,
        remember: bool,
    ) -> anyhow::Result<String> {
        let fp = fingerprint(ca)?;
        self.write(&format!("{fp}.ca.der"), &pki::certificate::to_der(ca)?)?;
        let mut sources: Sources = self.read_json(&format!("{fp}.json"));
        if let Some(s) = server {
            sources.server = Some(s.trim_end_matches('/').to_string());
            sources.tls_ca_pem = tls_ca_pem.map(|p| String::from_utf8_lossy(p).into_owned());
        }
        self.write(&format!("{fp}.json"), &serde_json::to_vec_pretty(&sources)?)?;
        if remember {
            let mut list: Vec<Remembered> = self.read_json("remembered.json");
            list.retain(|r| r.fingerprint != fp);
            list.push(Remembered {
                fingerprint: fp.clone(),
                subject: ca.tbs_certificate().subject().to_string(),
                server: sources.server.clone(),
            });
            self.write("remembered.json", &serde_json::to_vec_pretty(&list)?)?;
        }
        Ok(fp)
    }

    /// Fetches the CRLs of every CA the cache knows, and of `extra` (`--ca`, added to the
    /// cache), from their sources (module documentation); `kms_url` is `KMS_URL`, tried for
    /// every CA. Failures are reported per CA, never fatal.
    pub fn sync(
        &self,
        extra: &[Certificate],
        kms_url: Option<&str>,
        tls_ca_pem: Option<&[u8]>,
    ) -> anyhow::Result<Vec<CaSync>> {
        for ca in extra {
            self.add_ca(ca, None, None, false)?;
        }
        let mut out = Vec::new();
        for (fp, ca) in self.cas() {
            out.push(self.sync_one(&fp, &ca, kms_url, tls_ca_pem));
        }
        Ok(out)
    }

    fn sync_one(
        &self,
        fp: &str,
        ca: &Certificate,
        kms_url: Option<&str>,
        kms_tls: Option<&[u8]>,
    ) -> CaSync {
        let sources: Sources = self.read_json(&format!("{fp}.json"));
        let urls = pki::crl::distribution_urls(ca);
        // (url, TLS CA) for full and delta CRLs.
        let mut full: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let mut delta: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let mut add_server = |base: &str, tls: Option<Vec<u8>>| {
            let base = base.trim_end_matches('/');
            full.push((format!("{base}/crl"), tls.clone()));
            delta.push((format!("{base}/crl/delta"), tls));
        };
        if let Some(s) = &sources.server {
            add_server(s, sources.tls_ca_pem.clone().map(String::into_bytes));
        }
        if let Some(k) = kms_url
            && sources.server.as_deref() != Some(k.trim_end_matches('/'))
        {
            add_server(k, kms_tls.map(<[u8]>::to_vec));
        }
        full.extend(urls.full.into_iter().map(|u| (u, None)));
        delta.extend(urls.delta.into_iter().map(|u| (u, None)));

        let mut errors = Vec::new();
        let full_state = self.fetch_best(fp, ca, false, &full, &mut errors);
        // A fetched full CRL may name its deltas.
        if let Ok(Some(c)) = self.cached_crl(fp, false) {
            for u in c.freshest_urls() {
                if !delta.iter().any(|(d, _)| *d == u) {
                    delta.push((u, None));
                }
            }
        }
        let delta_state = self.fetch_best(fp, ca, true, &delta, &mut errors);
        if full.is_empty() {
            errors.push(
                "no source known for its CRLs (no distribution point in the CA certificate, and \
                 no authority URL: set KMS_URL or give the CRL with --crl)"
                    .into(),
            );
        }
        CaSync {
            ca: ca.tbs_certificate().subject().to_string(),
            fingerprint: fp.to_string(),
            full: full_state,
            delta: delta_state,
            errors,
        }
    }

    fn cached_crl(&self, fp: &str, delta: bool) -> anyhow::Result<Option<Crl>> {
        let name = format!("{fp}.{}.crl", if delta { "delta" } else { "full" });
        match std::fs::read(self.path(&name)) {
            Ok(b) => Ok(Some(Crl::parse_lenient(&b)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Fetches every source, keeps the newest authentic CRL of the kind, stores it if newer
    /// than the cached one; returns the state of the cached one.
    fn fetch_best(
        &self,
        fp: &str,
        ca: &Certificate,
        delta: bool,
        sources: &[(String, Option<Vec<u8>>)],
        errors: &mut Vec<String>,
    ) -> Option<CrlState> {
        let kind = if delta { "delta CRL" } else { "CRL" };
        let mut best: Option<(Crl, Vec<u8>, String)> = None;
        for (url, tls) in sources {
            let got = fetch(url, tls.as_deref()).and_then(|der| {
                let crl = check(&der, ca, delta)?;
                Ok((crl, der))
            });
            match got {
                Ok((crl, der)) => {
                    if best.as_ref().is_none_or(|(b, _, _)| newer(&crl, b)) {
                        best = Some((crl, der, url.clone()));
                    }
                }
                // An authority without delta CRLs answers 404 or an empty body: not an error
                // worth reporting when a full CRL came.
                Err(e) => errors.push(format!("{kind} from {url}: {e:#}")),
            }
        }
        let cached = self.cached_crl(fp, delta).ok().flatten();
        let name = format!("{fp}.{}.crl", if delta { "delta" } else { "full" });
        let (crl, updated, source) = match (best, cached) {
            (Some((new, der, url)), old) if old.as_ref().is_none_or(|o| newer(&new, o)) => {
                if let Err(e) = self.write(&name, &der) {
                    errors.push(format!("cannot store the {kind}: {e:#}"));
                    return None;
                }
                (new, true, Some(url))
            }
            (_, Some(old)) => (old, false, None),
            (None, None) => return None,
            (Some((new, _, url)), None) => (new, false, Some(url)),
        };
        Some(CrlState {
            number: crl.number(),
            this_update: unix(crl.this_update()),
            next_update: crl.next_update().map(unix),
            updated,
            source,
        })
    }

    /// Every cached CRL whose CA certificate is also cached (the CRL was checked against it
    /// when stored; it is checked again here, so a file edited in the cache is ignored).
    pub fn load(&self) -> Vec<Cached> {
        let mut out = Vec::new();
        for (fp, ca) in self.cas() {
            for delta in [false, true] {
                if let Ok(Some(crl)) = self.cached_crl(&fp, delta)
                    && crl.verify_signature(&ca).is_ok()
                {
                    out.push(Cached {
                        crl,
                        delta,
                        issuer: ca.tbs_certificate().subject().to_string(),
                    });
                }
            }
        }
        out
    }

    /// Re-syncs each CA whose cached full CRL is past its nextUpdate at `now` (when the network
    /// allows); returns the CAs it tried and whether each now has a fresh CRL.
    pub fn refresh_stale(&self, now: SystemTime) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for (fp, ca) in self.cas() {
            let stale = match self.cached_crl(&fp, false) {
                Ok(Some(c)) => c.next_update().is_none_or(|n| n < now),
                _ => true,
            };
            if !stale {
                continue;
            }
            let sources: Sources = self.read_json(&format!("{fp}.json"));
            let urls = pki::crl::distribution_urls(&ca);
            if sources.server.is_none() && urls.full.is_empty() {
                continue;
            }
            let r = self.sync_one(&fp, &ca, None, None);
            let fresh = r
                .full
                .as_ref()
                .and_then(|f| f.next_update)
                .is_some_and(|n| n >= unix(now));
            out.push((r.ca, fresh));
        }
        out
    }

    /// True when a CA with this subject is in the cache.
    pub fn knows_issuer(&self, subject: &str) -> bool {
        self.cas()
            .iter()
            .any(|(_, c)| c.tbs_certificate().subject().to_string() == subject)
    }
}

/// Parses `der` as a CRL of `ca` of the expected kind, checking its signature and issuer.
fn check(der: &[u8], ca: &Certificate, delta: bool) -> anyhow::Result<Crl> {
    let crl = Crl::parse_lenient(der)?;
    if crl.issuer_name() != ca.tbs_certificate().subject() {
        anyhow::bail!(
            "it is issued by {}, not by {}",
            crl.issuer(),
            ca.tbs_certificate().subject()
        );
    }
    crl.verify_signature(ca)
        .context("its signature does not verify with the CA's key")?;
    match (delta, crl.delta_base().is_some()) {
        (true, false) => anyhow::bail!("it is a full CRL, not a delta CRL"),
        (false, true) => anyhow::bail!("it is a delta CRL, not a full CRL"),
        _ => Ok(crl),
    }
}

/// GETs `url` (with `tls_ca_pem` as the only HTTPS roots when given), bounded in size and time.
fn fetch(url: &str, tls_ca_pem: Option<&[u8]>) -> anyhow::Result<Vec<u8>> {
    let agent = crate::server::agent_with_timeout(tls_ca_pem, Some(FETCH_TIMEOUT))?;
    let mut resp = agent.get(url).call().map_err(|e| anyhow!("{e}"))?;
    if !resp.status().is_success() {
        anyhow::bail!("the server answered {}", resp.status());
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_CRL)
        .read_to_vec()
        .map_err(|e| anyhow!("{e}"))?;
    if body.is_empty() {
        anyhow::bail!("the answer is empty");
    }
    Ok(body)
}

/// What [`remember_ca`] did.
#[derive(Debug)]
pub struct RememberedCa {
    /// The cache directory.
    pub dir: PathBuf,
    /// The sync of the remembered CA.
    pub sync: Option<CaSync>,
}

/// Remembers the organisation's CA (`ca_der`) and its authority (`server_url`, reached with
/// `tls_ca_pem` as HTTPS roots when given) in the default cache, and fills the cache with its
/// CRLs: the one call `lockbox enroll` makes. Never fails the enrollment: problems come back
/// as a warning text.
pub fn remember_ca(
    ca_der: &[u8],
    server_url: &str,
    tls_ca_pem: Option<&[u8]>,
) -> Result<RememberedCa, String> {
    let go = || -> anyhow::Result<RememberedCa> {
        let ca = pki::certificate::parse_certificate(ca_der)?;
        let cache = CrlCache::open(None)?;
        let fp = cache.add_ca(&ca, Some(server_url), tls_ca_pem, true)?;
        let sync = cache.sync_one(&fp, &ca, None, None);
        Ok(RememberedCa {
            dir: cache.dir.clone(),
            sync: Some(sync),
        })
    };
    go().map_err(|e| format!("the CRL cache was not filled: {e:#}"))
}

/// The one call `lockbox enroll` makes: [`remember_ca`], then a line on standard error (a
/// warning when the cache could not be filled; nothing on standard output, which may carry
/// `--json`).
pub fn after_enroll(ca_der: &[u8], server_url: &str, tls_ca_pem: Option<&[u8]>, json: bool) {
    match remember_ca(ca_der, server_url, tls_ca_pem) {
        Ok(r) => {
            let filled = r.sync.as_ref().is_some_and(|s| s.full.is_some());
            if !filled {
                let why = r.sync.map(|s| s.errors.join("; ")).unwrap_or_default();
                eprintln!(
                    "lockbox: warning: the CA's CRL could not be fetched ({why}); run `lockbox \
                     crl sync` later"
                );
            } else if !json {
                eprintln!(
                    "lockbox: the CA is remembered for revocation checks; its CRL is cached in {}",
                    r.dir.display()
                );
            }
        }
        Err(e) => eprintln!("lockbox: warning: {e}"),
    }
}

/// Age of `t` at `now` in words ("3 h", "2 days").
pub fn age(t: SystemTime, now: SystemTime) -> String {
    let secs = now.duration_since(t).map_or(0, |d| d.as_secs());
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        7200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}
