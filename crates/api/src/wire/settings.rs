//! Authority settings changed through the API: the public URL (`GET|POST
//! /settings/public-url`, under the `public-url` quorum).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /settings/public-url`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPublicUrlRequest {
    /// The new public URL: `http://HOST[:PORT][/PATH]`, not loopback (unless the server runs
    /// with `--dev` or `allow_loopback_public_url`).
    pub url: String,
}

/// `GET|POST /settings/public-url`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicUrlResponse {
    /// The public URL in effect: certificates issued from now on name URLs under it
    /// (`{public_url}/crl`, `{public_url}/crl/delta`).
    pub public_url: String,
    /// After a change: the public URL before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// What a change does to certificates already issued (renew --all moves them).
    pub note: String,
}
