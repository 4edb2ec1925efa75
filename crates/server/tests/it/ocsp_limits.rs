//! The OCSP responder's limit on fresh signatures: requests with a nonce beyond the client
//! address's burst are answered from the cache without the nonce (each costs no signature),
//! requests about several certificates beyond it `tryLater`, and requests without a nonce
//! are never limited.

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use pki::DigestAlgorithm;
use pki::ocsp::{self, CertId, ResponseStatus};
use tower::ServiceExt;

use super::fixture;

async fn post_ocsp(app: &axum::Router, der: Vec<u8>) -> Vec<u8> {
    let req = Request::builder()
        .method("POST")
        .uri("/ocsp")
        .header(header::CONTENT_TYPE, "application/ocsp-request")
        .body(Body::from(der))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()
}

#[tokio::test]
async fn nonce_requests_beyond_the_burst_are_answered_from_the_cache_without_the_nonce() {
    let f = fixture();
    let auth = f.state.authority().unwrap();
    let ca = pki::certificate::parse_certificate(&auth.published().ca_der).unwrap();
    let id = CertId::new(DigestAlgorithm::Sha1, &ca, &[0x12, 0x34, 0x56]).unwrap();
    let other = CertId::new(DigestAlgorithm::Sha1, &ca, &[0x65, 0x43, 0x21]).unwrap();
    let burst = kmsd::limits::OCSP_FRESH_BURST as usize;

    // Many nonce requests at once from one address: the burst is echoed (signed fresh),
    // then the cached answer comes without the nonce.
    let signs_before = auth.ocsp_signs();
    let mut echoed = Vec::new();
    for i in 0..3 * burst {
        let nonce = [i as u8 + 1; 16];
        let der = post_ocsp(
            &f.app,
            ocsp::encode_request(&[id.clone()], Some(&nonce)).unwrap(),
        )
        .await;
        let r = ocsp::parse_response(&der, &ca).unwrap();
        assert_eq!(r.statuses.len(), 1);
        echoed.push(r.nonce.is_some());
    }
    let n = echoed.iter().filter(|e| **e).count();
    // The bucket refills at OCSP_FRESH_PER_SECOND while the loop runs: a little slack.
    assert!(
        n >= burst && n <= burst + 3,
        "{n} of {} echoed: {echoed:?}",
        echoed.len()
    );
    assert!(echoed[..burst].iter().all(|e| *e), "{echoed:?}");
    assert!(!echoed[echoed.len() - 1], "{echoed:?}");
    let signed = auth.ocsp_signs() - signs_before;
    assert!(
        signed <= n as u64 + 1,
        "{signed} signatures for {n} echoed nonces: the rest came from the cache"
    );

    // Over the limit, a request about two certificates (no cached form) is tryLater.
    let der = post_ocsp(
        &f.app,
        ocsp::encode_request(&[id.clone(), other], Some(&[9; 16])).unwrap(),
    )
    .await;
    assert_eq!(der, ocsp::error_response(ResponseStatus::TryLater));

    // Requests without a nonce are not limited, and cost no signature once cached.
    let signs_before = auth.ocsp_signs();
    for _ in 0..3 * burst {
        let der = post_ocsp(&f.app, ocsp::encode_request(&[id.clone()], None).unwrap()).await;
        let r = ocsp::parse_response(&der, &ca).unwrap();
        assert!(r.nonce.is_none());
        assert_eq!(r.statuses.len(), 1);
    }
    assert_eq!(auth.ocsp_signs(), signs_before);
}
