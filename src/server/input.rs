//! Request bodies at the edge: the media type, the body read within its size limit, and the
//! ingestion gate's findings (`crate::ingest`) turned into the API's error shape.

use super::error::{ApiError, Code, FieldProblem};
use crate::ingest::body::BodyError;
use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Json,
    Csv,
}

/// The body's media type. A missing Content-Type is read as JSON; anything else but JSON and
/// CSV (with an optional utf-8 charset) is refused with 415.
pub fn media(headers: &HeaderMap) -> Result<Media, ApiError> {
    let Some(v) = headers.get(header::CONTENT_TYPE) else { return Ok(Media::Json) };
    let raw = v.to_str().unwrap_or("");
    let mut parts = raw.split(';').map(|p| p.trim().to_ascii_lowercase());
    let essence = parts.next().unwrap_or_default();
    for p in parts {
        if p.is_empty() {
            continue;
        }
        let ok = p.strip_prefix("charset=").is_some_and(|c| matches!(c.trim_matches('"'), "utf-8" | "utf8"));
        if !ok {
            return Err(ApiError::unsupported_media_type(raw, &["application/json", "text/csv"]));
        }
    }
    match essence.as_str() {
        "application/json" => Ok(Media::Json),
        "text/csv" => Ok(Media::Csv),
        _ => Err(ApiError::unsupported_media_type(raw, &["application/json", "text/csv"])),
    }
}

/// Bodies over the limit but under this are read and dropped before the 413 goes out, so a
/// client that sends its whole body first still gets the answer (instead of a broken pipe).
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// Reads the whole body, refusing (413) anything over `limit` bytes.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        if declared.is_some_and(|len| len <= DRAIN_LIMIT) {
            drain(body).await;
        }
        return Err(ApiError::too_large(limit));
    }
    let mut stream = body;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = stream.frame().await {
        let frame =
            frame.map_err(|e| ApiError::new(Code::BodyUnreadable, format!("the body could not be read: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                drain(stream).await;
                return Err(ApiError::too_large(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

async fn drain(mut body: Body) {
    use http_body_util::BodyExt;
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(d) = frame.into_data() {
            seen += d.len() as u64;
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    }
}

/// A refused body in the API's error shape; `status` for refused values (422 on churn's routes,
/// 400 on MLflow's).
pub fn body_error(e: BodyError, status: StatusCode) -> ApiError {
    match e {
        BodyError::Empty => ApiError::new(Code::EmptyBody, e.message()),
        BodyError::InvalidJson(detail) => ApiError::invalid_json(&detail),
        BodyError::WrongType(_) => ApiError::new(Code::WrongBodyType, e.message()),
        BodyError::NoCustomers(_) => ApiError::new(Code::EmptyBatch, e.message()),
        BodyError::TooMany { .. } => ApiError::new(Code::TooManyCustomers, e.message()),
        BodyError::InvalidCsv(_) => ApiError::new(Code::InvalidCsv, e.message()),
        BodyError::MissingColumns(m) => {
            ApiError::invalid_fields(m.problems("the CSV").iter().map(FieldProblem::from).collect(), status)
        }
        BodyError::Invalid(problems) => {
            ApiError::invalid_fields(problems.iter().map(FieldProblem::from).collect(), status)
        }
    }
}
