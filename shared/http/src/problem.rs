//! RFC 9457 problem details: every error the API answers, as `application/problem+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sluice_app::{AppError, StoreErrorKind};
use utoipa::ToSchema;

/// A problem: what went wrong, for people and machines.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine code.
    pub code: String,
}

impl Problem {
    /// A problem with a status, a code and a detail.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("https://sluice.dev/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            code: code.to_string(),
        }
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not_found", detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Problem {
        match e {
            AppError::NotFound(what) => Problem::not_found(format!("{what} not found")),
            AppError::Invalid(detail) => Problem::new(StatusCode::BAD_REQUEST, "invalid", detail),
            AppError::Conflict(detail) if detail.starts_with("No pushed changes") => {
                Problem::new(StatusCode::CONFLICT, "no_pushed_changes", detail)
            }
            AppError::Conflict(detail) => Problem::new(StatusCode::CONFLICT, "conflict", detail),
            AppError::Unprocessable(detail) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", detail),
            AppError::Store(s) => match s.kind {
                StoreErrorKind::NotFound => Problem::not_found(s.message),
                StoreErrorKind::Conflict => {
                    Problem::new(StatusCode::CONFLICT, "conflict", "the resource changed; try again")
                }
                StoreErrorKind::Transient => {
                    tracing::warn!(error = %s, "store unavailable");
                    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "storage is unavailable; try again")
                }
                StoreErrorKind::Permanent => {
                    tracing::error!(error = %s, "store failure");
                    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
                }
            },
            AppError::Internal(detail) => {
                tracing::error!(detail = detail.as_str(), "internal error");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}
