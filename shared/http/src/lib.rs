//! Sluice's HTTP API: one axum [`Router`] that the Lambda `api` function and `sluice serve`
//! both serve.
//!
//! - [`api`]: the `/v1` handlers (imports, activity feed, results, templates, destinations).
//! - [`auth`]: bearer JWTs and API keys; the tenant and environment come from the credential.
//! - [`problem`]: every error is RFC 9457 `application/problem+json`.
//! - [`uploads`]: the local server's stand-in for S3 presigned PUT URLs.
//! - [`webhooks`]: the HTTP webhook transport with its SSRF guard.
//!
//! The OpenAPI document is generated from the routes themselves ([`router`] registers each
//! handler with its `#[utoipa::path]`), so `/openapi.json` cannot drift from what is served.

pub mod api;
pub mod auth;
pub mod docs;
pub mod extract;
pub mod problem;
pub mod uploads;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use sluice_app::App;
use sluice_app::ports::UploadUrls;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{Caller, Claims, JwtConfig};
pub use problem::Problem;
pub use uploads::LocalUploads;
pub use webhooks::HttpWebhookSender;

/// Limits of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiConfig {
    /// Largest file an upload URL accepts (when no exact size is declared).
    pub max_upload_bytes: u64,
    /// How long an upload URL stays valid (at most 30 minutes).
    pub upload_ttl_seconds: i64,
    /// Largest `initial_data` of `POST /v1/imports`.
    pub max_json_bytes: u64,
    /// Largest body of `POST /v1/imports/sync`.
    pub max_sync_bytes: u64,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            max_upload_bytes: 5 * 1024 * 1024 * 1024,
            upload_ttl_seconds: 15 * 60,
            max_json_bytes: 15 * 1024 * 1024,
            max_sync_bytes: 5 * 1024 * 1024,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    /// The use cases.
    pub app: App,
    /// How bearer tokens are verified.
    pub jwt: Arc<JwtConfig>,
    /// Where uploads go (S3 presigned URLs, or the local stand-in).
    pub uploads: Arc<dyn UploadUrls>,
    /// The local upload stand-in, when this server accepts uploads itself.
    pub local_uploads: Option<Arc<LocalUploads>>,
    /// Limits.
    pub config: ApiConfig,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").field("jwt", &self.jwt).field("config", &self.config).finish_non_exhaustive()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sluice",
        description = "Self-hosted headless data import: typed templates, uploads, validation, results and signed webhook delivery.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "imports", description = "Create imports, follow them, cancel, map, redeliver"),
        (name = "results", description = "Rows, errors and the results CSV of finished imports"),
        (name = "templates", description = "Typed templates, their versions and pushes to environments"),
        (name = "destinations", description = "Webhook destinations and their signing secrets"),
        (name = "keys", description = "Backend API keys"),
        (name = "service", description = "Health, uploads")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT or sk_ API key".into());
        scheme.description = Some(
            "A JWT (HS256 or RS256, with exp, iss, aud, sub, tenant and environment claims) or a backend API key (sk_...)."
                .into(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

fn api_router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::create_import, api::list_imports))
        .routes(routes!(api::sync_import))
        .routes(routes!(api::get_import))
        .routes(routes!(api::import_rows))
        .routes(routes!(api::import_errors))
        .routes(routes!(api::results_csv))
        .routes(routes!(api::cancel_import))
        .routes(routes!(api::apply_mapping))
        .routes(routes!(api::redeliver))
        .routes(routes!(api::deliveries))
        .routes(routes!(api::create_template, api::list_templates))
        .routes(routes!(api::get_template, api::update_template, api::delete_template))
        .routes(routes!(api::push_template))
        .routes(routes!(api::template_csv))
        .routes(routes!(api::create_destination, api::list_destinations))
        .routes(routes!(api::delete_destination))
        .routes(routes!(api::rotate_destination))
        .routes(routes!(api::create_api_key))
        .routes(routes!(api::healthz))
        .routes(routes!(api::upload))
}

/// The OpenAPI document of every route [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    finish(api_router().into_openapi())
}

/// Problem answers are `application/problem+json`, and every answer says what it means.
fn finish(spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let Ok(mut doc) = serde_json::to_value(&spec) else { return spec };
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for operation in paths.values_mut().filter_map(|item| item.as_object_mut()).flat_map(|item| item.values_mut()) {
            let Some(responses) = operation.get_mut("responses").and_then(|r| r.as_object_mut()) else { continue };
            for (status, response) in responses.iter_mut() {
                let Some(response) = response.as_object_mut() else { continue };
                if response.get("description").and_then(|d| d.as_str()).is_some_and(str::is_empty) {
                    let reason = status
                        .parse::<u16>()
                        .ok()
                        .and_then(|s| StatusCode::from_u16(s).ok())
                        .and_then(|s| s.canonical_reason());
                    response.insert("description".into(), reason.unwrap_or("Answer").into());
                }
                let Some(content) = response.get_mut("content").and_then(|c| c.as_object_mut()) else { continue };
                let problem = content.get("application/json").is_some_and(|c| {
                    c.pointer("/schema/$ref").and_then(|r| r.as_str()) == Some("#/components/schemas/Problem")
                });
                if problem && let Some(body) = content.remove("application/json") {
                    content.insert("application/problem+json".into(), body);
                }
            }
        }
    }
    serde_json::from_value(doc).unwrap_or(spec)
}

/// The whole API, ready for a server or for `lambda_http`.
pub fn router(state: ApiState) -> Router {
    let (routes, spec) = api_router().split_for_parts();
    let spec = finish(spec);
    let spec_json = Arc::new(spec.to_pretty_json().unwrap_or_default());
    let docs = Arc::new(docs::render(&spec));
    // JSON bodies may carry `initial_data` up to its limit, plus the rest of the request.
    let body_limit = usize::try_from(state.config.max_json_bytes + 1024 * 1024).unwrap_or(usize::MAX);
    routes
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let spec_json = spec_json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], spec_json.as_bytes().to_vec()) }
            }),
        )
        .route(
            "/docs",
            axum::routing::get(move || {
                let docs = docs.clone();
                async move { Html(docs.as_str().to_owned()) }
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> Response {
    Problem::not_found(format!("no route for {}", uri.path())).into_response()
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}", uri.path()),
    )
    .into_response()
}
