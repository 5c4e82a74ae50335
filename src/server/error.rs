//! The one error shape of the API. Every failure, from a malformed body to an overloaded
//! server, answers with this JSON; HTTP statuses are decided here and nowhere else.
//!
//! ```json
//! {"error_code": "INVALID_PARAMETER_VALUE", "code": "invalid_fields", "type": "invalid_request",
//!  "message": "1 invalid field: `Contract`: expected one of [...], found \"Weekly\"",
//!  "errors": [{"field": "Contract", "code": "unknown_category", "message": "...",
//!              "expected": ["Month-to-month", "One year", "Two year"], "received": "Weekly"}]}
//! ```
//! `error_code` uses MLflow's names, so clients written for `mlflow models serve` read it too.

use crate::ingest::{Location, Problem};
use crate::schema::FieldError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// One refused input value.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The field (JSON key or CSV column) the problem is about.
    pub field: String,
    /// Stable snake_case code: missing_field, unknown_field, unknown_category, not_a_number,
    /// not_an_integer, out_of_range, blank_value, wrong_type.
    pub code: String,
    pub message: String,
    /// Allowed values of a categorical field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// What came (shortened when long).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<String>,
    /// Index of the customer in a JSON array, when the request held several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    /// Line of a CSV body (the header is line 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

impl From<&Problem> for FieldProblem {
    fn from(p: &Problem) -> FieldProblem {
        let e: &FieldError = &p.error;
        let message = match (&p.location, p.field.is_empty()) {
            (Some(l), true) => format!("{l}: {}", e.message),
            _ => p.message(),
        };
        FieldProblem {
            field: p.field.clone(),
            code: serde_json::to_value(e.code).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            message,
            expected: e.expected.clone(),
            min: e.min,
            max: e.max,
            received: e.received.clone(),
            row: match p.location {
                Some(Location::Index(i)) => Some(i as usize),
                _ => None,
            },
            line: match p.location {
                Some(Location::Line(l)) => Some(l),
                _ => None,
            },
        }
    }
}

impl FieldProblem {
    pub fn simple(field: &str, code: &str, message: String) -> FieldProblem {
        FieldProblem {
            field: field.to_string(),
            code: code.into(),
            message,
            expected: None,
            min: None,
            max: None,
            received: None,
            row: None,
            line: None,
        }
    }
}

/// The error body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiError {
    /// MLflow-style error code (BAD_REQUEST, INVALID_PARAMETER_VALUE, ...).
    pub error_code: &'static str,
    /// churn's stable snake_case code.
    pub code: &'static str,
    /// invalid_request, auth, unavailable or internal.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    #[serde(skip)]
    pub status: StatusCode,
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        error_code: &'static str,
        code: &'static str,
        kind: &'static str,
        message: String,
    ) -> ApiError {
        ApiError { error_code, code, kind, message, errors: Vec::new(), status, retry_after: None }
    }

    pub fn invalid_json(detail: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "invalid_json",
            "invalid_request",
            format!("the body is not valid JSON: {detail}"),
        )
    }

    pub fn bad_request(code: &'static str, message: String) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", code, "invalid_request", message)
    }

    /// Invalid values: 422 on churn's own routes, 400 on MLflow's `/invocations`.
    pub fn invalid_fields(mut problems: Vec<FieldProblem>, status: StatusCode) -> ApiError {
        problems.sort_by_key(|p| (p.row, p.line));
        let shown: Vec<String> = problems.iter().take(5).map(|p| p.message.clone()).collect();
        let more = if problems.len() > 5 { format!(" (and {} more)", problems.len() - 5) } else { String::new() };
        let mut e = ApiError::new(
            status,
            "INVALID_PARAMETER_VALUE",
            "invalid_fields",
            "invalid_request",
            format!(
                "{} invalid field{}: {}{more}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                shown.join("; ")
            ),
        );
        e.errors = problems;
        e
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "REQUEST_LIMIT_EXCEEDED",
            "body_too_large",
            "invalid_request",
            format!("the body is larger than the limit of {limit} bytes (--max-body-bytes)"),
        )
    }

    pub fn unsupported_media_type(got: &str, allowed: &[&str]) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            "unsupported_media_type",
            "invalid_request",
            format!("Content-Type {got:?} is not accepted here; send one of: {}", allowed.join(", ")),
        )
    }

    pub fn not_found(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ENDPOINT_NOT_FOUND",
            "not_found",
            "invalid_request",
            format!("no route {path}; see /docs for the API (/predict, /invocations, /, /metrics, /ui)"),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_REQUEST",
            "method_not_allowed",
            "invalid_request",
            format!("{method} is not allowed on {path}"),
        )
    }

    pub fn unauthorized(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "unauthorized",
            "auth",
            format!("{what}: send the key as `Authorization: Bearer <key>` or `X-API-Key: <key>`"),
        )
    }

    pub fn forbidden(message: String) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "PERMISSION_DENIED", "forbidden", "auth", message)
    }

    pub fn overloaded(limit: usize) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TEMPORARILY_UNAVAILABLE",
            "overloaded",
            "unavailable",
            format!("the server is at its limit of {limit} concurrent scoring requests; retry shortly"),
        );
        e.retry_after = Some(1);
        e
    }

    pub fn draining() -> ApiError {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TEMPORARILY_UNAVAILABLE",
            "shutting_down",
            "unavailable",
            "the server is shutting down".into(),
        );
        e.retry_after = Some(1);
        e
    }

    pub fn not_ready(why: String) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TEMPORARILY_UNAVAILABLE",
            "not_ready",
            "unavailable",
            format!("the server cannot score: {why}"),
        );
        e.retry_after = Some(5);
        e
    }

    pub fn timeout(ms: u64) -> ApiError {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "DEADLINE_EXCEEDED",
            "timeout",
            "unavailable",
            format!("the request took longer than {ms} ms (--request-timeout-ms)"),
        )
    }

    pub fn reload_failed(message: String) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "INVALID_STATE", "reload_failed", "invalid_request", message)
    }

    pub fn internal(message: String) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "internal", "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{\"code\":\"internal\"}".to_vec());
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(s) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}
