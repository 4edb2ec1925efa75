//! The API's OpenAPI 3.1 document, served at `/api/v1/openapi.json`: generated (`utoipa`)
//! from the `api` types and the `#[utoipa::path]` of each handler the router serves, so a
//! route or a field cannot be served undescribed. Only what is common to every operation
//! (the session scheme, 401 and 423 on signed-in routes) is added here.

use std::sync::OnceLock;

use utoipa::OpenApi as _;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};
use utoipa_axum::router::OpenApiRouter;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "kmsd",
        description = "Key management server and S/MIME certification authority. Errors are \
                       {\"error\": {\"code\", \"message\"}}; a quorum operation waiting for \
                       approvals answers 202 with the request's id. Request bodies are limited \
                       to 64 KiB (413, KMS-413). Times are Unix seconds, with RFC 3339 forms \
                       beside them in fields ending in _rfc3339."
    ),
    components(schemas(api::ErrorBody, api::Pending)),
    tags(
        (name = "public", description = "CA certificate, CRLs, health: no session"),
        (name = "session", description = "Unlocking the authority, signing in and out"),
        (name = "users", description = "Users, enrollment, the directory, revocation, renewal"),
        (name = "admins", description = "Administrator accounts"),
        (name = "governance", description = "Quorum policies, approvals, key recovery, start-up secrets"),
        (name = "backups", description = "Backups"),
        (name = "settings", description = "Authority settings: the public URL"),
        (name = "audit", description = "The audit log"),
        (name = "views", description = "Status and certificates"),
    )
)]
struct ApiDoc;

/// The document (built once).
pub fn document() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(build)
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

fn build() -> OpenApi {
    let (_, mut doc) =
        OpenApiRouter::<std::sync::Arc<crate::AppState>>::with_openapi(ApiDoc::openapi())
            .nest("/api/v1", crate::api_routes())
            .merge(crate::public_routes())
            .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "session",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("session token from POST /api/v1/login"))
                .build(),
        ),
    );
    for item in doc.paths.paths.values_mut() {
        let ops: [&mut Option<Operation>; 2] = [&mut item.get, &mut item.post];
        for op in ops.into_iter().flatten() {
            if op.security.is_none() {
                continue;
            }
            let responses = &mut op.responses.responses;
            responses
                .entry("401".into())
                .or_insert_with(|| error_response("not signed in (AUTH-003)").into());
            responses
                .entry("423".into())
                .or_insert_with(|| error_response("the authority is locked (KMS-423)").into());
        }
    }
    doc
}
