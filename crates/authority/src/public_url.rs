//! The public URL (`settings` row `public_url`): the base of the CRL distribution point and
//! authority information access URLs written into certificates, its rules, and changing it
//! under the `public-url` quorum.

use super::*;

/// The longest public URL accepted.
pub const MAX_PUBLIC_URL: usize = 200;

/// What a later change to the public URL does, said by the answer and the docs.
pub const PUBLIC_URL_NOTE: &str = "certificates issued from now on name the new URL; \
     certificates issued before keep the old one until renewed (kmsctl renew --all moves \
     them), so keep the old URL answering until then";

/// The public URL after a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublicUrlChange {
    /// The public URL in effect now.
    pub public_url: String,
    /// The one before.
    pub previous: String,
}

/// True when `host` names this machine only: `localhost`, `*.localhost`, a loopback or
/// unspecified address.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    h.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

/// The host and port (`None`: the scheme's default) of an `http://` or `https://` URL with
/// nothing but a host, an optional port and an optional path.
pub fn url_host_port(url: &str) -> Option<(String, Option<u16>)> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split('/').next()?;
    if authority.is_empty() || authority.contains(['@', '?', '#']) {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        h.parse::<std::net::Ipv6Addr>().ok()?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && (host.parse::<std::net::IpAddr>().is_ok()
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    if !host_ok {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => None,
    };
    Some((host, port))
}

/// Checks a public URL for certificates and returns it without a trailing `/`: plain
/// `http://` (relying parties fetch CRLs and CA certificates without TLS, which would need
/// the very revocation data it fetches), a host and optional port and path, no query, and
/// not loopback unless `allow_loopback`.
pub fn check_public_url(url: &str, allow_loopback: bool) -> Result<String> {
    let url = url.trim_end_matches('/');
    let refuse = |why: String| Err(Error::invalid("public URL", format!("{url:?}: {why}")));
    if url.len() > MAX_PUBLIC_URL || url.contains(char::is_whitespace) || url.contains(['?', '#']) {
        return refuse(format!(
            "give http://HOST[:PORT][/PATH], at most {MAX_PUBLIC_URL} characters, without \
             spaces, query or fragment"
        ));
    }
    if !url.starts_with("http://") {
        return refuse(
            "give a plain http:// URL: relying parties fetch CRLs and the CA certificate \
             without TLS (kmsd serves them on its public listener, public_listen)"
                .into(),
        );
    }
    let Some((host, _)) = url_host_port(url) else {
        return refuse("give http://HOST[:PORT][/PATH]".into());
    };
    if !allow_loopback && is_loopback_host(&host) {
        return refuse(format!(
            "{host} is this machine only: relying parties elsewhere cannot fetch from it; give \
             a name or address they reach (loopback is allowed only with kmsd serve --dev or \
             allow_loopback_public_url = true in kmsd.toml)"
        ));
    }
    Ok(url.to_string())
}

impl Authority {
    /// Changes the public URL (administrator role, under the `public-url` quorum; audited as
    /// `settings.public-url` with the new URL as its target). Certificates issued afterwards
    /// name it; the CRLs are re-signed at once so that they name the new delta CRL URL.
    pub fn set_public_url(&self, actor: &Admin, url: &str) -> Result<PublicUrlChange> {
        let target: String = url.chars().take(MAX_PUBLIC_URL + 1).collect();
        self.audit_op(&actor.name, "settings.public-url", &target, |rec| {
            actor.require_administrator()?;
            let url = check_public_url(url, self.config.allow_loopback_public_url)?;
            self.gate(rec, actor, "public-url", &url)?;
            let previous = {
                let mut st = self.lock();
                let tx = st
                    .store
                    .connection_mut()
                    .transaction()?;
                let previous = setting(&tx, "public_url")?;
                tx.execute(
                    "UPDATE settings SET value = ?1 WHERE key = 'public_url'",
                    [&url],
                )?;
                audit::commit(tx, rec, unix(self.now()))?;
                if let Err(e) = self.rebuild_crl(&mut st) {
                    // The publisher re-signs on its own schedule; the change stands.
                    tracing::warn!(error = %e, "cannot re-sign the CRLs after the public URL change");
                }
                previous
            };
            tracing::info!(admin = %actor.name, public_url = %url, %previous, "public URL changed");
            Ok(PublicUrlChange {
                public_url: url,
                previous,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_plain_http_and_not_loopback() {
        assert_eq!(
            check_public_url("http://kms.example.com:8081/", false).unwrap(),
            "http://kms.example.com:8081"
        );
        assert!(check_public_url("http://10.0.0.5/pki", false).is_ok());
        for bad in [
            "https://kms.example.com",
            "http://127.0.0.1:8081",
            "http://localhost",
            "http://a.localhost:80",
            "http://[::1]:8081",
            "http://0.0.0.0:8081",
            "http://user@kms.example.com",
            "http://kms.example.com/?x=1",
            "http://kms example.com",
            "http://kms.example.com:0",
            "http://kms.example.com:99999",
            "ftp://kms.example.com",
            "http://",
        ] {
            assert!(check_public_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_public_url("http://127.0.0.1:8081", true).is_ok());
        assert!(check_public_url("https://127.0.0.1:8081", true).is_err());
    }

    #[test]
    fn hosts_and_ports_are_read() {
        assert_eq!(
            url_host_port("http://[2001:db8::1]:8081/x"),
            Some(("2001:db8::1".into(), Some(8081)))
        );
        assert_eq!(
            url_host_port("http://kms.example.com"),
            Some(("kms.example.com".into(), None))
        );
        assert!(is_loopback_host("[::1]") && is_loopback_host("LOCALHOST"));
        assert!(!is_loopback_host("kms.example.com"));
    }
}
