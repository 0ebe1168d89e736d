//! The `/v1` routes: imports, the activity feed, results, templates, destinations.
//!
//! Every handler takes the verified [`Caller`]: the tenant and environment come from the
//! credential, so another tenant's id, or an import of another environment, answers 404.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::BodyExt as _;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use sluice_app::model::{Import, ImportFilter, ImportId, TemplateId};
use sluice_app::{CreateImport, keys};
use sluice_core::ImportStatus;
use sluice_core::settings::SettingsPatch;
use sluice_core::template::{FieldSpec, MAX_TEMPLATE_BYTES, Schema, TemplateSpec, TemplateSyntax, parse_template};
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::auth::{Caller, valid_environment};
use crate::extract::{JsonBody, Query, limited_bytes, parse_json};
use crate::problem::Problem;

type ApiResult<T> = Result<T, Problem>;

fn import_id(raw: &str) -> ApiResult<ImportId> {
    ImportId::parse(raw).ok_or_else(|| Problem::not_found(format!("import {raw} not found")))
}

fn template_id(raw: &str) -> ApiResult<TemplateId> {
    TemplateId::parse(raw).ok_or_else(|| Problem::not_found(format!("template {raw} not found")))
}

/// An import of the caller's tenant and environment, else 404.
async fn own_import(state: &ApiState, caller: &Caller, id: &str) -> ApiResult<Import> {
    let id = import_id(id)?;
    let import = state.app.get_import(&caller.tenant, &id).await?;
    if import.environment != caller.environment {
        return Err(Problem::not_found(format!("import {id} not found")));
    }
    Ok(import)
}

fn check_environment(caller: &Caller, requested: Option<&str>) -> ApiResult<String> {
    match requested {
        Some(env) if !valid_environment(env) => {
            Err(Problem::bad_request(format!("environment: {env:?} is not an environment name")))
        }
        Some(env) if env != caller.environment => Err(Problem::forbidden(format!(
            "this credential acts in the {} environment, not {env}",
            caller.environment
        ))),
        _ => Ok(caller.environment.clone()),
    }
}

/// The body of `POST /v1/imports`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateImportRequest {
    /// A stored template (its snapshot pushed to the environment is used). Exclusive with `fields`.
    #[serde(default)]
    pub template_id: Option<String>,
    /// Inline template fields, as in a template file. Exclusive with `template_id`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub fields: Option<Vec<FieldSpec>>,
    /// Name of an inline template.
    #[serde(default)]
    pub name: Option<String>,
    /// Settings laid over the template's (`invalid_data_behavior`, `mapping`, ...).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<SettingsPatch>,
    /// Environment; the credential's, which is also the default.
    #[serde(default)]
    pub environment: Option<String>,
    /// A webhook destination key, or `none` (metadata only, the default).
    #[serde(default)]
    pub destination: Option<String>,
    /// Name of the file to upload. Exclusive with `initial_data`.
    #[serde(default)]
    pub original_filename: Option<String>,
    /// Exact size of the file to upload, in bytes; the upload URL accepts only that size.
    #[serde(default)]
    pub file_size: Option<u64>,
    /// The data itself, an array of objects (at most 15 MB). Exclusive with `original_filename`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub initial_data: Option<Box<RawValue>>,
    /// Who starts the import.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub user: Option<Value>,
    /// Free-form metadata kept on the import.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// Where to upload the file.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadInfo {
    /// URL to send the file to.
    pub url: String,
    /// Method (`PUT`).
    pub method: String,
    /// Headers to send.
    pub headers: BTreeMap<String, String>,
    /// When the URL expires.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// An import as the API shows it: without the storage keys behind its files (the results are
/// read through their own routes).
fn import_view(state: &ApiState, import: &Import) -> Value {
    let mut view = import.to_view(state.app.clock.now());
    if let Some(results) = view.get_mut("results").and_then(Value::as_object_mut) {
        results.retain(|name, _| !name.ends_with("_key"));
    }
    if let Some(upload) = view.get_mut("upload").and_then(Value::as_object_mut) {
        upload.remove("key");
    }
    view
}

/// Creates an import and hands out its upload URL.
#[utoipa::path(post, path = "/v1/imports", tag = "imports", request_body = CreateImportRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key and body: the same answer; different body: 422")),
    responses((status = 201, description = "The import, with `upload` {url, method, headers, expires_at}"),
        (status = 400, body = Problem), (status = 409, body = Problem, description = "No pushed changes"), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_import(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(req, raw): JsonBody<CreateImportRequest>,
) -> ApiResult<Response> {
    let env = check_environment(&caller, req.environment.as_deref())?;
    let idempotency = headers.get("idempotency-key").map(|v| v.to_str().unwrap_or_default().to_string());
    let work = || async { create(&state, &caller, &env, req).await.map_err(ProblemError) };
    let (status, body) = match idempotency {
        Some(key) if key.is_empty() || key.len() > 255 => {
            return Err(Problem::bad_request("Idempotency-Key must be 1 to 255 characters"));
        }
        Some(key) => {
            let hash: String = Sha256::digest(&raw).iter().map(|b| format!("{b:02x}")).collect();
            let scope = format!("{env}#{key}");
            match state
                .app
                .idempotent(&caller.tenant, &scope, &hash, || async { work().await.map_err(|e| e.into_app()) })
                .await
            {
                Ok(r) => r,
                Err(e) => return Err(unwrap_problem(e)),
            }
        }
        None => work().await.map_err(|e| e.0)?,
    };
    Ok((StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED), Json(body)).into_response())
}

/// A problem carried through the idempotency wrapper, which speaks `AppError`.
struct ProblemError(Problem);

impl ProblemError {
    fn into_app(self) -> sluice_app::AppError {
        sluice_app::AppError::Internal(format!("__problem__{}", serde_json::to_string(&self.0).unwrap_or_default()))
    }
}

fn unwrap_problem(e: sluice_app::AppError) -> Problem {
    if let sluice_app::AppError::Internal(text) = &e
        && let Some(json) = text.strip_prefix("__problem__")
        && let Ok(value) = serde_json::from_str::<Value>(json)
    {
        let status = StatusCode::from_u16(value["status"].as_u64().unwrap_or(500) as u16)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Problem::new(
            status,
            value["code"].as_str().unwrap_or("internal"),
            value["detail"].as_str().unwrap_or_default(),
        );
    }
    Problem::from(e)
}

async fn create(state: &ApiState, caller: &Caller, env: &str, req: CreateImportRequest) -> ApiResult<(u16, Value)> {
    let (template, template_ref) = match (&req.template_id, req.fields) {
        (Some(_), Some(_)) => return Err(Problem::bad_request("give template_id or fields, not both")),
        (None, None) => {
            return Err(Problem::bad_request("give template_id (a stored template) or fields (an inline template)"));
        }
        (Some(id), None) => {
            let (spec, reference) = state.app.pushed_template(&caller.tenant, &template_id(id)?, env).await?;
            (spec, Some(reference))
        }
        (None, Some(fields)) => {
            let spec = TemplateSpec {
                name: req.name.unwrap_or_else(|| "inline".into()),
                description: None,
                fields,
                settings: SettingsPatch::default(),
            };
            (spec, None)
        }
    };
    if req.original_filename.is_some() && req.initial_data.is_some() {
        return Err(Problem::bad_request("give original_filename (a file to upload) or initial_data, not both"));
    }
    let destination = req.destination.filter(|d| d != "none");
    let initial = req.initial_data;
    if let Some(data) = &initial
        && !data.get().trim_start().starts_with('[')
    {
        return Err(Problem::bad_request("initial_data must be an array of objects, one per row"));
    }
    if let Some(data) = &initial
        && data.get().len() as u64 > state.config.max_json_bytes
    {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("initial_data is larger than {} bytes", state.config.max_json_bytes),
        ));
    }
    let original_filename =
        if initial.is_some() { Some("initial_data.json".to_string()) } else { req.original_filename };
    let import = state
        .app
        .create_import(CreateImport {
            tenant: caller.tenant.clone(),
            environment: env.to_string(),
            template,
            template_ref,
            settings: req.settings.unwrap_or_default(),
            original_filename,
            destination,
            user: req.user,
            metadata: req.metadata,
        })
        .await?;
    let mut view = import_view(state, &import);
    if let Some(data) = initial {
        state
            .app
            .blobs
            .put(&import.upload.key, Bytes::copy_from_slice(data.get().as_bytes()))
            .await
            .map_err(sluice_app::AppError::from)?;
        let meta = state.app.blobs.head(&import.upload.key).await.map_err(sluice_app::AppError::from)?;
        let meta = meta.ok_or_else(|| Problem::from(sluice_app::AppError::Internal("initial data vanished".into())))?;
        let accepted = state.app.accept_upload(&caller.tenant, &import.id, meta).await?;
        view = import_view(state, &accepted);
    } else {
        let now = state.app.clock.now();
        let expires_at =
            now.checked_add(jiff::SignedDuration::from_secs(state.config.upload_ttl_seconds)).unwrap_or(now);
        let target = state
            .uploads
            .upload_url(
                &caller.tenant,
                &import.id,
                &import.upload.key,
                req.file_size,
                state.config.max_upload_bytes,
                expires_at,
            )
            .await
            .map_err(|e| Problem::bad_request(e.message))?;
        let upload = UploadInfo {
            url: target.url,
            method: target.method,
            headers: target.headers.into_iter().collect(),
            expires_at: target.expires_at,
        };
        if let Some(obj) = view.as_object_mut() {
            obj.insert("upload".into(), serde_json::to_value(upload).unwrap_or_default());
        }
    }
    Ok((201, view))
}

/// Reads an import: status, progress, counts, chunks, timestamps, mapping, what was detected.
#[utoipa::path(get, path = "/v1/imports/{id}", tag = "imports",
    params(("id" = String, Path), ("If-None-Match" = Option<String>, Header)),
    responses((status = 200, description = "The import; `ETag`, and `Retry-After` while it runs"), (status = 304), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_import(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let import = own_import(&state, &caller, &id).await?;
    let view = import_view(&state, &import);
    // The tag of what is shown (counters of running imports move without a new version).
    let digest = Sha256::digest(serde_json::to_vec(&view).unwrap_or_default());
    let etag = format!("\"{}\"", digest[..12].iter().map(|b| format!("{b:02x}")).collect::<String>());
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")));
        return Ok(r);
    }
    let mut r = Json(view).into_response();
    r.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")));
    if matches!(import.status, ImportStatus::Running | ImportStatus::AwaitingUpload) {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    }
    Ok(r)
}

/// Filters and paging of the activity feed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only imports in this status.
    pub status: Option<String>,
    /// Only imports of this template.
    pub template_id: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_from: Option<String>,
    /// Created before (RFC 3339).
    pub created_to: Option<String>,
    /// From a previous page's `next_page_token`.
    pub page_token: Option<String>,
    /// Imports per page (1-200, default 50).
    pub limit: Option<usize>,
}

fn timestamp(name: &str, raw: &Option<String>) -> ApiResult<Option<Timestamp>> {
    raw.as_ref().map(|t| t.parse::<Timestamp>().map_err(|e| Problem::bad_request(format!("{name}: {e}")))).transpose()
}

/// The Import Activity feed: the caller's imports, newest first.
#[utoipa::path(get, path = "/v1/imports", tag = "imports", params(ListParams),
    responses((status = 200, description = "`{imports: [...], next_page_token}`"), (status = 400, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_imports(
    State(state): State<ApiState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<Value>> {
    let status = match &p.status {
        Some(s) => Some(
            serde_json::from_value::<ImportStatus>(Value::String(s.to_ascii_uppercase()))
                .map_err(|_| Problem::bad_request(format!("status: {s:?} is not a status")))?,
        ),
        None => None,
    };
    let filter = ImportFilter {
        status,
        template_id: p.template_id.clone(),
        environment: Some(caller.environment.clone()),
        created_from: timestamp("created_from", &p.created_from)?,
        created_to: timestamp("created_to", &p.created_to)?,
    };
    let page = state.app.list_imports(&caller.tenant, &filter, p.page_token.as_deref(), p.limit.unwrap_or(50)).await?;
    let imports: Vec<Value> = page.imports.iter().map(|i| import_view(&state, i)).collect();
    Ok(Json(serde_json::json!({ "imports": imports, "next_page_token": page.next_page_token })))
}

/// Paging of rows and errors.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// From a previous page's `next_page_token`.
    pub page_token: Option<String>,
    /// Lines per page (1-1000, default 100).
    pub limit: Option<usize>,
}

/// A page of a JSON-lines result file, by byte offset.
async fn lines_page(state: &ApiState, key: &str, params: &PageParams, name: &str) -> ApiResult<Json<Value>> {
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    let mut offset: u64 = match &params.page_token {
        Some(t) => URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Problem::bad_request("page_token: not a token of this list"))?,
        None => 0,
    };
    let size = state.app.blobs.head(key).await.map_err(sluice_app::AppError::from)?.map_or(0, |m| m.size);
    let mut items: Vec<Value> = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    while items.len() < limit && offset < size {
        let block = state
            .app
            .blobs
            .get_range(key, offset..(offset + 256 * 1024).min(size))
            .await
            .map_err(sluice_app::AppError::from)?;
        pending.extend_from_slice(&block);
        let read_to = offset + block.len() as u64;
        let mut consumed = 0;
        while items.len() < limit {
            let Some(end) = pending[consumed..].iter().position(|b| *b == b'\n') else { break };
            let line = &pending[consumed..consumed + end];
            if !line.is_empty() {
                items.push(serde_json::from_slice(line).unwrap_or(Value::Null));
            }
            consumed += end + 1;
        }
        offset = read_to - (pending.len() - consumed) as u64;
        pending.drain(..consumed);
        if block.is_empty() {
            break;
        }
    }
    let next = (offset < size).then(|| URL_SAFE_NO_PAD.encode(offset.to_string()));
    Ok(Json(serde_json::json!({ name: items, "next_page_token": next })))
}

/// Rows of a finished import (the same shape as webhook batches).
#[utoipa::path(get, path = "/v1/imports/{id}/rows", tag = "results", params(("id" = String, Path), PageParams),
    responses((status = 200, description = "`{rows: [...], next_page_token}`"), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn import_rows(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<PageParams>,
) -> ApiResult<Json<Value>> {
    let import = own_import(&state, &caller, &id).await?;
    let results = import.results.ok_or_else(|| not_finished(&import.id))?;
    lines_page(&state, &results.rows_key, &p, "rows").await
}

/// Errors and warnings of a finished import.
#[utoipa::path(get, path = "/v1/imports/{id}/errors", tag = "results", params(("id" = String, Path), PageParams),
    responses((status = 200, description = "`{errors: [...], next_page_token}`"), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn import_errors(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<PageParams>,
) -> ApiResult<Json<Value>> {
    let import = own_import(&state, &caller, &id).await?;
    let results = import.results.ok_or_else(|| not_finished(&import.id))?;
    lines_page(&state, &results.errors_key, &p, "errors").await
}

fn not_finished(id: &ImportId) -> Problem {
    Problem::new(StatusCode::CONFLICT, "not_finished", format!("import {id} has no results (yet)"))
}

/// The On Key results CSV (`Code,Message,Severity,LineNumber,Properties,EntityId`).
#[utoipa::path(get, path = "/v1/imports/{id}/results.csv", tag = "results", params(("id" = String, Path)),
    responses((status = 200, content_type = "text/csv"), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn results_csv(State(state): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let import = own_import(&state, &caller, &id).await?;
    let results = import.results.ok_or_else(|| not_finished(&import.id))?;
    let body = state.app.blobs.get(&results.results_key).await.map_err(sluice_app::AppError::from)?;
    let disposition = format!("attachment; filename=\"{}-results.csv\"", import.id);
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        body,
    )
        .into_response())
}

/// Cancels an import that has not finished.
#[utoipa::path(post, path = "/v1/imports/{id}/cancel", tag = "imports", params(("id" = String, Path)),
    responses((status = 200, description = "The cancelled import"), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn cancel_import(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let import = own_import(&state, &caller, &id).await?;
    let import = state.app.cancel_import(&caller.tenant, &import.id).await?;
    Ok(Json(import_view(&state, &import)))
}

/// A mapping for an import in `NEEDS_REVIEW`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingRequest {
    /// Header name or 1-based column number → field key (`null` ignores the column).
    #[schema(value_type = Object)]
    pub mapping: BTreeMap<String, Option<String>>,
}

/// Supplies a mapping to an import in `NEEDS_REVIEW` and resumes it.
#[utoipa::path(post, path = "/v1/imports/{id}/mapping", tag = "imports", params(("id" = String, Path)), request_body = MappingRequest,
    responses((status = 200, description = "The resumed import"), (status = 400, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn apply_mapping(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(req, _): JsonBody<MappingRequest>,
) -> ApiResult<Json<Value>> {
    let import = own_import(&state, &caller, &id).await?;
    let import = state.app.apply_mapping(&caller.tenant, &import.id, req.mapping).await?;
    Ok(Json(import_view(&state, &import)))
}

/// Delivers a finished import's rows to its destination again.
#[utoipa::path(post, path = "/v1/imports/{id}/redeliver", tag = "imports", params(("id" = String, Path)),
    responses((status = 202, description = "The import, its delivery pending"), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn redeliver(State(state): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let import = own_import(&state, &caller, &id).await?;
    let import = state.app.redeliver(&caller.tenant, &import.id).await?;
    Ok((StatusCode::ACCEPTED, Json(import_view(&state, &import))).into_response())
}

/// The delivery log of an import: every attempt, its time and the receiver's status code.
#[utoipa::path(get, path = "/v1/imports/{id}/deliveries", tag = "imports", params(("id" = String, Path)),
    responses((status = 200, description = "`{delivery, attempts: [...]}`"), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn deliveries(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let import = own_import(&state, &caller, &id).await?;
    let attempts = state.app.delivery_log(&caller.tenant, &import.id).await?;
    Ok(Json(serde_json::json!({ "delivery": import.delivery, "attempts": attempts })))
}

/// Which template validates a synchronous import.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncParams {
    /// Stored template, as pushed to the caller's environment.
    pub template_id: String,
    /// `BLOCK_SUBMIT`, `REMOVE_INVALID_ROWS` or `INCLUDE_INVALID_ROWS`.
    pub invalid_data_behavior: Option<String>,
}

/// Validates a small CSV (at most 5 MB) and answers every row at once; nothing is stored.
#[utoipa::path(post, path = "/v1/imports/sync", tag = "imports", params(SyncParams),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "`{status, counts, mapping, rows, errors}`"), (status = 413, body = Problem), (status = 415, body = Problem)),
    security(("bearer" = [])))]
pub async fn sync_import(
    State(state): State<ApiState>,
    caller: Caller,
    Query(p): Query<SyncParams>,
    req: Request,
) -> ApiResult<Json<Value>> {
    let csv = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv")));
    if !csv {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as text/csv",
        ));
    }
    let body = limited_bytes(req, state.config.max_sync_bytes).await?;
    let (spec, _) =
        state.app.pushed_template(&caller.tenant, &template_id(&p.template_id)?, &caller.environment).await?;
    let mut overrides = SettingsPatch::default();
    if let Some(b) = &p.invalid_data_behavior {
        overrides.invalid_data_behavior = Some(
            sluice_core::settings::InvalidDataBehavior::parse(b)
                .ok_or_else(|| Problem::bad_request(format!("invalid_data_behavior: {b:?} is not a behaviour")))?,
        );
    }
    let outcome = state.app.validate_sync(spec, overrides, body).await?;
    Ok(Json(serde_json::to_value(outcome).unwrap_or_default()))
}

// Templates.

/// A template as the API shows it.
fn template_json(view: &sluice_app::usecases::TemplateView) -> Value {
    serde_json::json!({
        "id": view.record.id,
        "name": view.record.name,
        "latest_version": view.record.latest_version,
        "version": view.version,
        "pushed": view.record.pushed,
        "created_at": view.record.created_at,
        "updated_at": view.record.updated_at,
        "template": view.spec,
    })
}

/// Reads a template body as JSON, or as YAML with `Content-Type: application/yaml`.
async fn template_body(req: Request) -> ApiResult<TemplateSpec> {
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let syntax = if content_type.starts_with("application/json") {
        TemplateSyntax::Json
    } else if content_type.starts_with("application/yaml")
        || content_type.starts_with("application/x-yaml")
        || content_type.starts_with("text/yaml")
    {
        TemplateSyntax::Yaml
    } else {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the template as application/json or application/yaml",
        ));
    };
    let body = limited_bytes(req, MAX_TEMPLATE_BYTES).await?;
    let text = std::str::from_utf8(&body).map_err(|_| Problem::bad_request("the template is not UTF-8"))?;
    let spec = parse_template(text, syntax)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid_template", e.to_string()))?;
    Schema::compile(spec.clone())
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid_template", e.to_string()))?;
    Ok(spec)
}

/// Creates a template (version 1, pushed nowhere).
#[utoipa::path(post, path = "/v1/templates", tag = "templates",
    request_body(content = Object, description = "A template: `{name, fields, settings}`", content_type = "application/json"),
    responses((status = 201, description = "The template"), (status = 400, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_template(State(state): State<ApiState>, caller: Caller, req: Request) -> ApiResult<Response> {
    let spec = template_body(req).await?;
    let view = state.app.create_template(&caller.tenant, spec).await?;
    Ok((StatusCode::CREATED, Json(template_json(&view))).into_response())
}

/// Lists the tenant's templates.
#[utoipa::path(get, path = "/v1/templates", tag = "templates",
    responses((status = 200, description = "`{templates: [...]}`")), security(("bearer" = [])))]
pub async fn list_templates(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    let list = state.app.list_templates(&caller.tenant).await?;
    Ok(Json(serde_json::json!({ "templates": list })))
}

/// Which version to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionParams {
    /// A version number; the latest by default.
    pub version: Option<u32>,
}

/// Reads a template (the latest version, or `?version=N`).
#[utoipa::path(get, path = "/v1/templates/{id}", tag = "templates", params(("id" = String, Path), VersionParams),
    responses((status = 200, description = "The template"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_template(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<VersionParams>,
) -> ApiResult<Json<Value>> {
    let view = state.app.get_template(&caller.tenant, &template_id(&id)?, p.version).await?;
    Ok(Json(template_json(&view)))
}

/// Stores a new version of a template (earlier versions never change).
#[utoipa::path(put, path = "/v1/templates/{id}", tag = "templates", params(("id" = String, Path)),
    request_body(content = Object, description = "The new content", content_type = "application/json"),
    responses((status = 200, description = "The template at its new version"), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn update_template(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<Value>> {
    let id = template_id(&id)?;
    let spec = template_body(req).await?;
    let view = state.app.update_template(&caller.tenant, &id, spec).await?;
    Ok(Json(template_json(&view)))
}

/// Deletes a template; imports keep the snapshot they pinned.
#[utoipa::path(delete, path = "/v1/templates/{id}", tag = "templates", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete_template(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.app.delete_template(&caller.tenant, &template_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What to push.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Environment (the credential's).
    #[serde(default)]
    pub environment: Option<String>,
    /// Version (the latest by default).
    #[serde(default)]
    pub version: Option<u32>,
}

/// Pushes a template version to an environment: imports there use that snapshot.
#[utoipa::path(post, path = "/v1/templates/{id}/push", tag = "templates", params(("id" = String, Path)), request_body = PushRequest,
    responses((status = 200, description = "The template"), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn push_template(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(req, _): JsonBody<PushRequest>,
) -> ApiResult<Json<Value>> {
    let env = check_environment(&caller, req.environment.as_deref())?;
    let record = state.app.push_template(&caller.tenant, &template_id(&id)?, &env, req.version).await?;
    Ok(Json(serde_json::to_value(record).unwrap_or_default()))
}

/// The blank CSV template (the header row).
#[utoipa::path(get, path = "/v1/templates/{id}/template.csv", tag = "templates", params(("id" = String, Path), VersionParams),
    responses((status = 200, content_type = "text/csv"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn template_csv(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<VersionParams>,
) -> ApiResult<Response> {
    let view = state.app.get_template(&caller.tenant, &template_id(&id)?, p.version).await?;
    let schema =
        Schema::compile(view.spec).map_err(|e| Problem::from(sluice_app::AppError::Internal(e.to_string())))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], schema.blank_csv()).into_response())
}

// Destinations.

/// A new webhook destination.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestinationRequest {
    /// Key that imports name (`crm`).
    pub key: String,
    /// Where rows are sent.
    pub url: String,
}

fn destination_json(d: &sluice_app::items::Destination, with_secret: bool) -> Value {
    let mut v = serde_json::json!({
        "key": d.key,
        "environment": d.environment,
        "url": d.url,
        "disabled": d.disabled,
        "created_at": d.created_at,
    });
    if with_secret && let Some(obj) = v.as_object_mut() {
        obj.insert("secret".into(), Value::String(d.secrets.first().map(|s| s.value.clone()).unwrap_or_default()));
    }
    v
}

/// Registers a webhook destination; its `whsec_…` secret is shown in this answer only.
#[utoipa::path(post, path = "/v1/destinations", tag = "destinations", request_body = DestinationRequest,
    responses((status = 201, description = "The destination with its secret"), (status = 400, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_destination(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(req, _): JsonBody<DestinationRequest>,
) -> ApiResult<Response> {
    let d = state.app.create_destination(&caller.tenant, &caller.environment, &req.key, &req.url).await?;
    Ok((StatusCode::CREATED, Json(destination_json(&d, true))).into_response())
}

/// The environment's webhook destinations (without secrets).
#[utoipa::path(get, path = "/v1/destinations", tag = "destinations",
    responses((status = 200, description = "`{destinations: [...]}`")), security(("bearer" = [])))]
pub async fn list_destinations(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    let list = state.app.list_destinations(&caller.tenant, &caller.environment).await?;
    let list: Vec<Value> = list.iter().map(|d| destination_json(d, false)).collect();
    Ok(Json(serde_json::json!({ "destinations": list })))
}

/// Deletes a destination.
#[utoipa::path(delete, path = "/v1/destinations/{key}", tag = "destinations", params(("key" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete_destination(
    State(state): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
) -> ApiResult<StatusCode> {
    state.app.delete_destination(&caller.tenant, &caller.environment, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotates a destination's secret: the new one is shown once; the old one keeps signing for 24 h.
#[utoipa::path(post, path = "/v1/destinations/{key}/rotate", tag = "destinations", params(("key" = String, Path)),
    responses((status = 200, description = "The destination with its new secret"), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn rotate_destination(
    State(state): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
) -> ApiResult<Json<Value>> {
    let d = state.app.rotate_destination_secret(&caller.tenant, &caller.environment, &key).await?;
    Ok(Json(destination_json(&d, true)))
}

// API keys.

/// A new backend API key.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    /// A name to recognise it by.
    #[serde(default)]
    pub name: Option<String>,
}

/// Creates a backend API key for the caller's tenant and environment; the key is in this
/// answer only (Sluice keeps its SHA-256).
#[utoipa::path(post, path = "/v1/api-keys", tag = "keys", request_body = ApiKeyRequest,
    responses((status = 201, description = "`{id, key, prefix, environment, name, created_at}`"), (status = 400, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_api_key(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(req, _): JsonBody<ApiKeyRequest>,
) -> ApiResult<Response> {
    let (key, record) = state.app.create_api_key(&caller.tenant, &caller.environment, req.name).await?;
    let body = serde_json::json!({
        "id": record.id,
        "key": key,
        "prefix": record.prefix,
        "tenant": record.tenant,
        "environment": record.environment,
        "name": record.name,
        "created_at": record.created_at,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, description = "`{status: ok}`")))]
pub async fn healthz() -> Json<Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The upload stand-in of the local server: `PUT` the file to the URL `POST /v1/imports` gave.
#[utoipa::path(put, path = "/uploads/{token}", tag = "service", params(("token" = String, Path)),
    request_body(content = String, content_type = "application/octet-stream"),
    responses((status = 200, description = "Uploaded; processing starts"), (status = 403, body = Problem), (status = 413, body = Problem)))]
pub async fn upload(State(state): State<ApiState>, Path(token): Path<String>, req: Request) -> ApiResult<Json<Value>> {
    let uploads =
        state.local_uploads.clone().ok_or_else(|| Problem::not_found("uploads go to S3 in this deployment"))?;
    let grant = uploads.verify(&token, state.app.clock.now()).map_err(Problem::forbidden)?;
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let (Some(size), Some(length)) = (grant.size, declared)
        && size != length
    {
        return Err(Problem::forbidden(format!("this upload URL is for exactly {size} bytes, not {length}")));
    }
    let tenant =
        sluice_app::TenantId::parse(&grant.tenant).ok_or_else(|| Problem::forbidden("malformed upload token"))?;
    let id = import_id(&grant.import)?;
    let import = state.app.get_import(&tenant, &id).await?;
    if import.status != ImportStatus::AwaitingUpload {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("import {id} is {}, not awaiting its upload", import.status.as_str()),
        ));
    }
    // Stream to the store, counting, so an oversized upload is refused without buffering it.
    let mut writer = state.app.blobs.writer(&grant.key).await.map_err(sluice_app::AppError::from)?;
    let mut received: u64 = 0;
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Problem::bad_request(format!("the upload was cut off: {e}")))?;
        let Ok(piece) = frame.into_data() else { continue };
        received += piece.len() as u64;
        if received > grant.max {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the upload is larger than {} bytes", grant.max),
            ));
        }
        writer.write(piece).await.map_err(sluice_app::AppError::from)?;
    }
    if grant.size.is_some_and(|s| s != received) {
        return Err(Problem::forbidden(format!(
            "this upload URL is for exactly {} bytes, {received} arrived",
            grant.size.unwrap_or_default()
        )));
    }
    writer.finish().await.map_err(sluice_app::AppError::from)?;
    let meta = state.app.blobs.head(&grant.key).await.map_err(sluice_app::AppError::from)?;
    let meta = meta.ok_or_else(|| Problem::from(sluice_app::AppError::Internal("the upload vanished".into())))?;
    let accepted = state.app.accept_upload(&tenant, &id, meta).await?;
    Ok(Json(serde_json::json!({ "id": accepted.id, "status": accepted.status, "size": received })))
}

/// The key of an import's upload, for checks.
pub fn upload_key(import: &Import) -> String {
    keys::upload(&import.tenant, &import.id)
}

/// Parses JSON for tests and adapters with the same problem answers.
pub fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    parse_json(bytes)
}
