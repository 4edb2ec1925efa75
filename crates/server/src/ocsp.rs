//! The OCSP responder's HTTP side (RFC 6960 appendix A, RFC 5019 §5): `POST /ocsp` with an
//! `application/ocsp-request` body and `GET /ocsp/{base64}` with the request base64- then
//! URL-encoded in the path; answers are `application/ocsp-response` with `Cache-Control:
//! max-age` up to nextUpdate for cacheable answers. The responder itself is `authority`.
//! Requests that need a fresh signature (a nonce) take a token from the client address's
//! bucket and the global one (`limits::OcspFreshLimiter`); over either, the answer comes
//! from the cache without the nonce (why: `authority::Authority::ocsp_respond_limited`).

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64ct::{Base64, Base64Unpadded, Base64Url, Base64UrlUnpadded, Encoding};
use pki::ocsp::{self, ResponseStatus};

use crate::AppState;

const OCSP_RESPONSE: &str = "application/ocsp-response";

fn answer(s: &AppState, client: IpAddr, request: Vec<u8>) -> Response {
    let Ok(authority) = s.authority() else {
        // Locked: the registry's 503, with the OCSP body clients read (tryLater).
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::CONTENT_TYPE, OCSP_RESPONSE),
                (header::RETRY_AFTER, "60"),
            ],
            ocsp::error_response(ResponseStatus::TryLater),
        )
            .into_response();
    };
    let a = authority.ocsp_respond_limited(&request, || {
        s.ocsp_fresh.allow(client, std::time::Instant::now())
    });
    let cache = match a.max_age {
        Some(age) => format!("max-age={age}, public, no-transform, must-revalidate"),
        None => "no-cache, no-store".to_string(),
    };
    (
        [
            (header::CONTENT_TYPE, OCSP_RESPONSE.to_string()),
            (header::CACHE_CONTROL, cache),
        ],
        a.der.as_ref().clone(),
    )
        .into_response()
}

async fn answer_blocking(s: Arc<AppState>, client: IpAddr, request: Vec<u8>) -> Response {
    match tokio::task::spawn_blocking(move || answer(&s, client, request)).await {
        Ok(r) => r,
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, OCSP_RESPONSE)],
            ocsp::error_response(ResponseStatus::InternalError),
        )
            .into_response(),
    }
}

/// Decodes the base64 of a GET request: standard (RFC 5019) or URL-safe, padded or not.
fn decode_get(text: &str) -> Option<Vec<u8>> {
    let t = text.trim_start_matches('/');
    if t.len() > 2 * ocsp::MAX_REQUEST_SIZE {
        return None;
    }
    Base64::decode_vec(t)
        .or_else(|_| Base64Unpadded::decode_vec(t))
        .or_else(|_| Base64Url::decode_vec(t))
        .or_else(|_| Base64UrlUnpadded::decode_vec(t))
        .ok()
}

#[utoipa::path(
    post,
    path = "/ocsp",
    tag = "public",
    summary = "OCSP request (RFC 6960), DER body",
    request_body(content = Vec<u8>, content_type = "application/ocsp-request"),
    responses(
        (status = 200, description = "the OCSP response (also for malformedRequest and unauthorized)", body = Vec<u8>, content_type = "application/ocsp-response"),
        (status = 503, description = "locked: a tryLater OCSP response", body = Vec<u8>, content_type = "application/ocsp-response"),
    ),
)]
pub(crate) async fn ocsp_post(
    State(s): State<Arc<AppState>>,
    extensions: axum::http::Extensions,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > ocsp::MAX_REQUEST_SIZE {
        return (
            [(header::CONTENT_TYPE, OCSP_RESPONSE)],
            ocsp::error_response(ResponseStatus::MalformedRequest),
        )
            .into_response();
    }
    let client = s.client_addr(&extensions, &headers);
    answer_blocking(s, client, body.to_vec()).await
}

#[utoipa::path(
    get,
    path = "/ocsp/{request}",
    tag = "public",
    summary = "OCSP request (RFC 5019 GET): the DER request, base64, URL-encoded",
    params(("request" = String, Path, description = "the DER OCSPRequest, base64 then URL-encoded")),
    responses(
        (status = 200, description = "the OCSP response (also for malformedRequest and unauthorized)", body = Vec<u8>, content_type = "application/ocsp-response"),
        (status = 503, description = "locked: a tryLater OCSP response", body = Vec<u8>, content_type = "application/ocsp-response"),
    ),
)]
pub(crate) async fn ocsp_get(
    State(s): State<Arc<AppState>>,
    extensions: axum::http::Extensions,
    headers: axum::http::HeaderMap,
    Path(request): Path<String>,
) -> Response {
    match decode_get(&request) {
        Some(der) => {
            let client = s.client_addr(&extensions, &headers);
            answer_blocking(s, client, der).await
        }
        None => (
            [(header::CONTENT_TYPE, OCSP_RESPONSE)],
            ocsp::error_response(ResponseStatus::MalformedRequest),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_paths_decode_in_every_base64_form() {
        assert_eq!(decode_get("MAMCAQA="), Some(vec![0x30, 3, 2, 1, 0]));
        assert_eq!(decode_get("MAMCAQA"), Some(vec![0x30, 3, 2, 1, 0]));
        assert_eq!(decode_get("+/8="), Some(vec![0xfb, 0xff]));
        assert_eq!(decode_get("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(decode_get("not base64!"), None);
    }
}
