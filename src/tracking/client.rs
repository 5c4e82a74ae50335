//! The HTTP side of an MLflow tracking server: authentication (`MLFLOW_TRACKING_TOKEN`, or
//! `MLFLOW_TRACKING_USERNAME` + `PASSWORD`), timeouts (`MLFLOW_HTTP_REQUEST_TIMEOUT`), and one
//! retry policy for every request, API call, upload and download alike: connection failures and
//! 429/502/503/504 answers are retried with exponential backoff
//! (`MLFLOW_HTTP_REQUEST_MAX_RETRIES`, 4 by default, as MLflow's client does). Answers are read
//! into typed structs; an answer missing a field MLflow always sends is an error, not an empty id.

use super::TrackingError;
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Characters kept as they are in a query value or path segment (RFC 3986 unreserved).
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub fn encode(v: &str) -> String {
    utf8_percent_encode(v, ENCODE).to_string()
}

/// A path of segments, each encoded, `/` kept between them.
pub fn encode_path(p: &str) -> String {
    p.split('/').map(encode).collect::<Vec<_>>().join("/")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
    Put,
}

/// MLflow's `error_code`s that churn acts on, typed; any other is kept as sent.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorCode {
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    InvalidParameterValue,
    Other(String),
}

impl ErrorCode {
    fn parse(code: &str) -> Option<ErrorCode> {
        Some(match code {
            "" => return None,
            "RESOURCE_ALREADY_EXISTS" => ErrorCode::ResourceAlreadyExists,
            "RESOURCE_DOES_NOT_EXIST" => ErrorCode::ResourceDoesNotExist,
            "INVALID_PARAMETER_VALUE" => ErrorCode::InvalidParameterValue,
            other => ErrorCode::Other(other.to_string()),
        })
    }
}

/// What MLflow answers on an error.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error_code: String,
    #[serde(default)]
    message: String,
}

pub struct Client {
    pub base: String,
    agent: ureq::Agent,
    auth: Option<String>,
    attempts: u32,
}

/// Statuses worth another try: the server (or a proxy before it) is busy or restarting.
fn retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

impl Client {
    pub fn from_env(base: &str) -> Client {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let auth =
            match (var("MLFLOW_TRACKING_TOKEN"), var("MLFLOW_TRACKING_USERNAME"), var("MLFLOW_TRACKING_PASSWORD")) {
                (Some(t), _, _) => Some(format!("Bearer {t}")),
                (_, Some(u), p) => Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{}", p.unwrap_or_default()))
                )),
                _ => None,
            };
        let timeout = var("MLFLOW_HTTP_REQUEST_TIMEOUT").and_then(|v| v.parse().ok()).unwrap_or(120u64);
        let retries = var("MLFLOW_HTTP_REQUEST_MAX_RETRIES").and_then(|v| v.parse::<u32>().ok()).unwrap_or(4);
        Client {
            base: base.trim_end_matches('/').to_string(),
            agent: crate::http_client::agent(Duration::from_secs(10), Duration::from_secs(timeout)),
            auth,
            attempts: retries + 1,
        }
    }

    pub fn err(&self, status: Option<u16>, message: impl Into<String>) -> TrackingError {
        TrackingError::Server { url: self.base.clone(), status, code: None, message: message.into() }
    }

    /// One request under the retry policy: (status, body). `path` starts with `/`.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<(u16, Vec<u8>), TrackingError> {
        let url = format!("{}{path}", self.base);
        let mut last = String::new();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(250 * (1 << (attempt - 1).min(5))));
            }
            let result = match method {
                Method::Get => {
                    let mut r = self.agent.get(&url);
                    if let Some(a) = &self.auth {
                        r = r.header("Authorization", a);
                    }
                    r.call()
                }
                Method::Post | Method::Patch | Method::Put => {
                    let mut r = match method {
                        Method::Post => self.agent.post(&url),
                        Method::Patch => self.agent.patch(&url),
                        _ => self.agent.put(&url),
                    };
                    if let Some(a) = &self.auth {
                        r = r.header("Authorization", a);
                    }
                    let (content_type, bytes) = body.unwrap_or(("application/json", b""));
                    r.header("Content-Type", content_type).send(bytes)
                }
            };
            match result {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let bytes = resp.body_mut().with_config().limit(2 << 30).read_to_vec();
                    match bytes {
                        Ok(b) if !retryable(status) || attempt + 1 == self.attempts => return Ok((status, b)),
                        Ok(_) => last = format!("HTTP {status}"),
                        Err(e) => last = format!("the answer broke off: {e}"),
                    }
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(self.err(None, format!("{path}: no answer after {} attempts ({last})", self.attempts)))
    }

    /// An API call (`/api/2.0/mlflow/<endpoint>`) with a typed answer; a non-2xx answer becomes
    /// an error carrying MLflow's error code and message.
    pub fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: Method,
        endpoint: &str,
        query: &[(&str, &str)],
        body: Option<&Req>,
    ) -> Result<Resp, TrackingError> {
        let mut path = format!("/api/2.0/mlflow/{endpoint}");
        if !query.is_empty() {
            let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
            path.push('?');
            path.push_str(&q.join("&"));
        }
        let bytes = body.map(|b| serde_json::to_vec(b).expect("requests serialise"));
        let (status, out) = self.send(method, &path, bytes.as_deref().map(|b| ("application/json", b)))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(if out.is_empty() { b"{}" } else { &out }).map_err(|e| {
                self.err(Some(status), format!("{endpoint}: an answer churn cannot read ({e}): {}", preview(&out)))
            });
        }
        let e: ErrorBody = serde_json::from_slice(&out).unwrap_or_default();
        let message = if e.message.is_empty() { preview(&out) } else { e.message };
        Err(TrackingError::Server {
            url: self.base.clone(),
            status: Some(status),
            code: ErrorCode::parse(&e.error_code),
            message: format!("{endpoint}: HTTP {status} {} {message}", e.error_code).replace("  ", " "),
        })
    }

    pub fn get<Resp: DeserializeOwned>(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Resp, TrackingError> {
        self.call::<(), Resp>(Method::Get, endpoint, query, None)
    }

    pub fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: &Req,
    ) -> Result<Resp, TrackingError> {
        self.call(Method::Post, endpoint, &[], Some(body))
    }
}

fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_encoded_as_uri_components() {
        assert_eq!(encode("a b/c@d"), "a%20b%2Fc%40d");
        assert_eq!(encode_path("1/m-x/artifacts/model file.ubj"), "1/m-x/artifacts/model%20file.ubj");
    }

    #[test]
    fn error_codes_are_typed() {
        assert_eq!(ErrorCode::parse("RESOURCE_ALREADY_EXISTS"), Some(ErrorCode::ResourceAlreadyExists));
        assert_eq!(ErrorCode::parse("RESOURCE_DOES_NOT_EXIST"), Some(ErrorCode::ResourceDoesNotExist));
        assert_eq!(ErrorCode::parse("PERMISSION_DENIED"), Some(ErrorCode::Other("PERMISSION_DENIED".into())));
        assert_eq!(ErrorCode::parse(""), None);
    }

    #[test]
    fn only_busy_answers_are_retried() {
        assert!(retryable(503) && retryable(429) && retryable(504));
        assert!(!retryable(400) && !retryable(404) && !retryable(500));
    }
}
