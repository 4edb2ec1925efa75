//! An OCSP query for `lockbox verify` when no fresh CRL is at hand: asks the responder a
//! certificate's authorityInfoAccess names (POST, RFC 6960 appendix A) and accepts the answer
//! only when it is signed by the issuer or its delegated responder, is about this
//! certificate, and is current (thisUpdate not in the future, nextUpdate not past).

use std::time::{Duration, SystemTime};

use pki::Certificate;
use pki::ocsp::{self, CertId, CertStatus};

/// Clock skew tolerated on thisUpdate.
const SKEW: Duration = Duration::from_secs(300);

/// The status of `cert` (issued by `issuer`) from the first OCSP URL it names; `Ok(None)`
/// when it names none. A response that is unusable, about another certificate or not
/// current is an error.
pub fn query(
    cert: &Certificate,
    issuer: &Certificate,
    now: SystemTime,
) -> anyhow::Result<Option<CertStatus>> {
    let Some(url) = ocsp::ocsp_urls(cert).into_iter().next() else {
        return Ok(None);
    };
    let serial = cert.tbs_certificate().serial_number().as_bytes().to_vec();
    let id = CertId::new(pki::DigestAlgorithm::Sha1, issuer, &serial)?;
    let request = ocsp::encode_request(std::slice::from_ref(&id), None)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .tls_config(api::tls_config().build())
        .build()
        .into();
    let body = agent
        .post(&url)
        .header("Content-Type", "application/ocsp-request")
        .send(&request[..])
        .map_err(|e| anyhow::anyhow!("OCSP responder {url}: {e}"))?
        .body_mut()
        .with_config()
        .limit(ocsp::MAX_RESPONSE_SIZE as u64)
        .read_to_vec()
        .map_err(|e| anyhow::anyhow!("OCSP responder {url}: {e}"))?;
    let response = ocsp::parse_response(&body, issuer)?;
    status_for(&response, &id, now).map(Some).ok_or_else(|| {
        anyhow::anyhow!("the OCSP response of {url} is not a current answer about this certificate")
    })
}

/// The status `response` gives for `id`, if it gives a current one at `now`.
fn status_for(response: &ocsp::Response, id: &CertId, now: SystemTime) -> Option<CertStatus> {
    response
        .statuses
        .iter()
        .find(|s| s.id == *id && s.this_update <= now + SKEW && s.next_update >= now)
        .map(|s| s.status)
}
