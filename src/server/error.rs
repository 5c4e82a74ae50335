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

/// Every error the API answers with, in one table (as meilisearch keeps its codes): churn's
/// stable code, MLflow's `error_code`, the type and the HTTP status, decided here and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidJson,
    BodyUnreadable,
    EmptyBody,
    WrongBodyType,
    EmptyBatch,
    TooManyCustomers,
    InvalidCsv,
    InvalidQuery,
    InvalidInvocation,
    InvalidInferenceRequest,
    InvalidFields,
    BodyTooLarge,
    UnsupportedMediaType,
    NotFound,
    MethodNotAllowed,
    Unauthorized,
    Forbidden,
    Overloaded,
    ShuttingDown,
    NotReady,
    Timeout,
    ReloadFailed,
    Internal,
}

/// What kind of failure a code is, for clients that only branch on that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    InvalidRequest,
    Auth,
    Unavailable,
    Internal,
}

impl Code {
    /// Every code, for the table's tests and documentation.
    pub const ALL: [Code; 23] = [
        Code::InvalidJson,
        Code::BodyUnreadable,
        Code::EmptyBody,
        Code::WrongBodyType,
        Code::EmptyBatch,
        Code::TooManyCustomers,
        Code::InvalidCsv,
        Code::InvalidQuery,
        Code::InvalidInvocation,
        Code::InvalidInferenceRequest,
        Code::InvalidFields,
        Code::BodyTooLarge,
        Code::UnsupportedMediaType,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::Unauthorized,
        Code::Forbidden,
        Code::Overloaded,
        Code::ShuttingDown,
        Code::NotReady,
        Code::Timeout,
        Code::ReloadFailed,
        Code::Internal,
    ];

    /// (churn's code, MLflow's error_code, kind, status). `invalid_fields` answers 422 on
    /// churn's routes; MLflow's `/invocations` answers it with 400 as MLflow does.
    const fn row(self) -> (&'static str, &'static str, Kind, StatusCode) {
        use Kind::*;
        match self {
            Code::InvalidJson => ("invalid_json", "BAD_REQUEST", InvalidRequest, StatusCode::BAD_REQUEST),
            Code::BodyUnreadable => ("body_unreadable", "BAD_REQUEST", InvalidRequest, StatusCode::BAD_REQUEST),
            Code::EmptyBody => ("empty_body", "BAD_REQUEST", InvalidRequest, StatusCode::BAD_REQUEST),
            Code::WrongBodyType => ("wrong_body_type", "BAD_REQUEST", InvalidRequest, StatusCode::BAD_REQUEST),
            Code::EmptyBatch => ("empty_batch", "BAD_REQUEST", InvalidRequest, StatusCode::BAD_REQUEST),
            Code::TooManyCustomers => ("too_many_customers", "BAD_REQUEST", InvalidRequest, StatusCode::BAD_REQUEST),
            Code::InvalidCsv => ("invalid_csv", "BAD_REQUEST", InvalidRequest, StatusCode::BAD_REQUEST),
            Code::InvalidQuery => ("invalid_query", "BAD_REQUEST", InvalidRequest, StatusCode::BAD_REQUEST),
            Code::InvalidInvocation => ("invalid_invocation", "BAD_REQUEST", InvalidRequest, StatusCode::BAD_REQUEST),
            Code::InvalidInferenceRequest => {
                ("invalid_inference_request", "BAD_REQUEST", InvalidRequest, StatusCode::BAD_REQUEST)
            }
            Code::InvalidFields => {
                ("invalid_fields", "INVALID_PARAMETER_VALUE", InvalidRequest, StatusCode::UNPROCESSABLE_ENTITY)
            }
            Code::BodyTooLarge => {
                ("body_too_large", "REQUEST_LIMIT_EXCEEDED", InvalidRequest, StatusCode::PAYLOAD_TOO_LARGE)
            }
            Code::UnsupportedMediaType => {
                ("unsupported_media_type", "BAD_REQUEST", InvalidRequest, StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
            Code::NotFound => ("not_found", "ENDPOINT_NOT_FOUND", InvalidRequest, StatusCode::NOT_FOUND),
            Code::MethodNotAllowed => {
                ("method_not_allowed", "BAD_REQUEST", InvalidRequest, StatusCode::METHOD_NOT_ALLOWED)
            }
            Code::Unauthorized => ("unauthorized", "UNAUTHENTICATED", Auth, StatusCode::UNAUTHORIZED),
            Code::Forbidden => ("forbidden", "PERMISSION_DENIED", Auth, StatusCode::FORBIDDEN),
            Code::Overloaded => ("overloaded", "TEMPORARILY_UNAVAILABLE", Unavailable, StatusCode::SERVICE_UNAVAILABLE),
            Code::ShuttingDown => {
                ("shutting_down", "TEMPORARILY_UNAVAILABLE", Unavailable, StatusCode::SERVICE_UNAVAILABLE)
            }
            Code::NotReady => ("not_ready", "TEMPORARILY_UNAVAILABLE", Unavailable, StatusCode::SERVICE_UNAVAILABLE),
            Code::Timeout => ("timeout", "DEADLINE_EXCEEDED", Unavailable, StatusCode::GATEWAY_TIMEOUT),
            Code::ReloadFailed => ("reload_failed", "INVALID_STATE", InvalidRequest, StatusCode::CONFLICT),
            Code::Internal => ("internal", "INTERNAL_ERROR", Internal, StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl Kind {
    const fn name(self) -> &'static str {
        match self {
            Kind::InvalidRequest => "invalid_request",
            Kind::Auth => "auth",
            Kind::Unavailable => "unavailable",
            Kind::Internal => "internal",
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
    pub fn new(code: Code, message: String) -> ApiError {
        let (name, error_code, kind, status) = code.row();
        ApiError { error_code, code: name, kind: kind.name(), message, errors: Vec::new(), status, retry_after: None }
    }

    fn retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    pub fn invalid_json(detail: &str) -> ApiError {
        ApiError::new(Code::InvalidJson, format!("the body is not valid JSON: {detail}"))
    }

    /// Invalid values: 422 on churn's own routes, 400 on MLflow's `/invocations`.
    pub fn invalid_fields(mut problems: Vec<FieldProblem>, status: StatusCode) -> ApiError {
        problems.sort_by_key(|p| (p.row, p.line));
        let shown: Vec<String> = problems.iter().take(5).map(|p| p.message.clone()).collect();
        let more = if problems.len() > 5 { format!(" (and {} more)", problems.len() - 5) } else { String::new() };
        let mut e = ApiError::new(
            Code::InvalidFields,
            format!(
                "{} invalid field{}: {}{more}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                shown.join("; ")
            ),
        );
        e.status = status;
        e.errors = problems;
        e
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            Code::BodyTooLarge,
            format!("the body is larger than the limit of {limit} bytes (--max-body-bytes)"),
        )
    }

    pub fn unsupported_media_type(got: &str, allowed: &[&str]) -> ApiError {
        ApiError::new(
            Code::UnsupportedMediaType,
            format!("Content-Type {got:?} is not accepted here; send one of: {}", allowed.join(", ")),
        )
    }

    pub fn not_found(path: &str) -> ApiError {
        ApiError::new(
            Code::NotFound,
            format!("no route {path}; see /docs for the API (/predict, /invocations, /, /metrics, /ui)"),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> ApiError {
        ApiError::new(Code::MethodNotAllowed, format!("{method} is not allowed on {path}"))
    }

    pub fn unauthorized(what: &str) -> ApiError {
        ApiError::new(
            Code::Unauthorized,
            format!("{what}: send the key as `Authorization: Bearer <key>` or `X-API-Key: <key>`"),
        )
    }

    pub fn forbidden(message: String) -> ApiError {
        ApiError::new(Code::Forbidden, message)
    }

    pub fn overloaded(limit: usize) -> ApiError {
        ApiError::new(
            Code::Overloaded,
            format!("the server is at its limit of {limit} concurrent scoring requests; retry shortly"),
        )
        .retry_after(1)
    }

    pub fn draining() -> ApiError {
        ApiError::new(Code::ShuttingDown, "the server is shutting down".into()).retry_after(1)
    }

    pub fn not_ready(why: String) -> ApiError {
        ApiError::new(Code::NotReady, format!("the server cannot score: {why}")).retry_after(5)
    }

    pub fn timeout(ms: u64) -> ApiError {
        ApiError::new(Code::Timeout, format!("the request took longer than {ms} ms (--request-timeout-ms)"))
    }

    pub fn reload_failed(message: String) -> ApiError {
        ApiError::new(Code::ReloadFailed, message)
    }

    pub fn internal(message: String) -> ApiError {
        ApiError::new(Code::Internal, message)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_named_once_and_its_status_matches_its_kind() {
        let names: std::collections::HashSet<&str> = Code::ALL.iter().map(|c| c.row().0).collect();
        assert_eq!(names.len(), Code::ALL.len(), "two codes share a name");
        for code in Code::ALL {
            let (name, _, kind, status) = code.row();
            let expected = match kind {
                Kind::InvalidRequest => status.is_client_error(),
                Kind::Auth => status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
                Kind::Unavailable => status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::GATEWAY_TIMEOUT,
                Kind::Internal => status.is_server_error(),
            };
            assert!(expected, "{name}: {status} does not fit {}", kind.name());
        }
    }

    #[test]
    fn the_body_carries_the_tables_row() {
        let e = ApiError::overloaded(4);
        let body = serde_json::to_value(&e).unwrap();
        assert_eq!(
            (body["code"].as_str(), body["error_code"].as_str()),
            (Some("overloaded"), Some("TEMPORARILY_UNAVAILABLE"))
        );
        assert_eq!(body["type"], "unavailable");
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        let fields = ApiError::invalid_fields(
            vec![FieldProblem::simple("x", "missing_field", "x".into())],
            StatusCode::BAD_REQUEST,
        );
        assert_eq!((fields.status, fields.code), (StatusCode::BAD_REQUEST, "invalid_fields"));
    }
}
