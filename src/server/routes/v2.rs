//! The Open Inference Protocol (KServe V2, REST), so clients written for Triton, MLServer,
//! TorchServe or KServe's runtimes call churn unchanged: `GET /v2/health/live`,
//! `/v2/health/ready`, `GET /v2`, `GET /v2/models/{name}[/versions/{v}]` and `.../ready`, and
//! `POST /v2/models/{name}[/versions/{v}]/infer`, where `{name}` is `GET /model`'s `model.name`.
//!
//! Inputs are one tensor per raw field (BYTES for text, any numeric type or BOOL for numbers,
//! shape `[n]` or `[n, 1]`), or one numeric tensor `[n, columns]` of the model's own input
//! columns, in JSON `data` or as binary tensor data (the protocol's extension tritonclient uses
//! by default). They pass the same gate, limits, shedding, metrics and drift as `/predict`, by
//! the same scoring loop. Outputs: `churn_probability` (FP32), `churn` (BOOL) and, when asked
//! for, `reasons` (BYTES: one JSON list per customer, as `/predict` words them). Errors answer
//! in the protocol's shape, `{"error": "..."}`.

use crate::ingest::mlflow::{self, Records};
use crate::server::error::{ApiError, Code};
use crate::server::input;
use crate::server::state::{AppState, Served};
use crate::server::work::{self, Cancel};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use utoipa::ToSchema;

/// The protocol's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct V2Error {
    pub error: String,
}

fn v2_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(V2Error { error: message.into() })).into_response()
}

/// Every answer of the V2 routes that is an error in churn's own shape (shedding, time-outs,
/// the API key, the gate's refusals) in the protocol's: `{"error": message}`, churn's `code`
/// kept beside it.
pub async fn protocol_errors(response: Response) -> Response {
    if response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if v.get("error").is_some_and(Value::is_string) {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let message = v.get("message").and_then(Value::as_str).unwrap_or("the request failed").to_string();
    let mut out = json!({ "error": message });
    if let Some(code) = v.get("code") {
        out["code"] = code.clone();
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(out.to_string()))
}

/// A path naming another model than the one in service: the protocol's 404.
struct NotServed(String);

impl IntoResponse for NotServed {
    fn into_response(self) -> Response {
        v2_error(StatusCode::NOT_FOUND, self.0)
    }
}

/// The model named in the path, or why it is not the one served.
fn the_model(served: &Served, name: &str, version: Option<&str>) -> Result<(), NotServed> {
    let ours = served.name();
    if name != ours {
        return Err(NotServed(format!("model '{name}' is not served here; this server serves '{ours}'")));
    }
    if let Some(v) = version {
        let have = served.version();
        if have.as_deref() != Some(v) {
            return Err(NotServed(format!(
                "version '{v}' of model '{ours}' is not served here; {}",
                have.map_or("the model in service has no registered version".to_string(), |h| format!(
                    "the version in service is '{h}'"
                ))
            )));
        }
    }
    Ok(())
}

#[derive(Serialize, ToSchema)]
pub struct Live {
    live: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Any other path under `/v2`: the protocol's 404.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    v2_error(StatusCode::NOT_FOUND, format!("no route {}: the Open Inference Protocol routes are /v2, /v2/health/live, /v2/health/ready, /v2/models/{{name}}[/ready|/infer]", uri.path()))
}

/// Liveness (Open Inference Protocol).
#[utoipa::path(get, path = "/v2/health/live", tag = "open inference protocol",
    responses((status = 200, description = "The server answers", body = Live)))]
pub async fn live() -> Response {
    axum::Json(Live { live: true }).into_response()
}

/// Readiness (Open Inference Protocol): the same rule as `/readyz`.
#[utoipa::path(get, path = "/v2/health/ready", tag = "open inference protocol",
    responses((status = 200, body = Ready), (status = 503, description = "Draining, or scoring keeps failing", body = Ready)))]
pub async fn ready(State(st): State<Arc<AppState>>) -> Response {
    match st.ready() {
        Ok(()) => axum::Json(Ready { ready: true, error: None }).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(Ready { ready: false, error: Some(e) })).into_response(),
    }
}

/// Server metadata (Open Inference Protocol).
#[utoipa::path(get, path = "/v2", tag = "open inference protocol",
    responses((status = 200, description = "{name, version, extensions}", body = Object)))]
pub async fn server_metadata() -> Response {
    axum::Json(json!({"name": "churn", "version": env!("CARGO_PKG_VERSION"), "extensions": ["binary_tensor_data"]}))
        .into_response()
}

/// The tensors a model takes and gives.
fn metadata(served: &Served) -> Value {
    let scorer = &served.scorer;
    let inputs: Vec<Value> = match scorer.customer_gate() {
        Some(gate) => gate
            .schema()
            .fields
            .iter()
            .map(|f| {
                let datatype = match &f.kind {
                    crate::schema::FieldKind::Numeric(_) => "FP64",
                    crate::schema::FieldKind::Categorical(_) | crate::schema::FieldKind::Date(_) => "BYTES",
                };
                json!({"name": f.name, "datatype": datatype, "shape": [-1]})
            })
            .collect(),
        None => vec![json!({"name": "input-0", "datatype": "FP32", "shape": [-1, scorer.n_features()]})],
    };
    json!({
        "name": served.name(),
        "versions": served.version().into_iter().collect::<Vec<_>>(),
        "platform": "churn_xgboost",
        "inputs": inputs,
        "outputs": [
            {"name": "churn_probability", "datatype": "FP32", "shape": [-1]},
            {"name": "churn", "datatype": "BOOL", "shape": [-1]},
            {"name": "reasons", "datatype": "BYTES", "shape": [-1]}
        ],
        "parameters": {"threshold": scorer.threshold(), "model_columns": scorer.n_features()}
    })
}

/// Model metadata (Open Inference Protocol): its input tensors (one per raw field) and outputs.
#[utoipa::path(get, path = "/v2/models/{name}", tag = "open inference protocol",
    params(("name" = String, Path, description = "GET /model's model.name")),
    responses((status = 200, description = "{name, versions, platform, inputs, outputs}", body = Object), (status = 404, body = V2Error)))]
pub async fn model_metadata(State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let served = st.model.load_full();
    match the_model(&served, &name, None) {
        Ok(()) => axum::Json(metadata(&served)).into_response(),
        Err(r) => r.into_response(),
    }
}

pub async fn model_version_metadata(
    State(st): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    let served = st.model.load_full();
    match the_model(&served, &name, Some(&version)) {
        Ok(()) => axum::Json(metadata(&served)).into_response(),
        Err(r) => r.into_response(),
    }
}

fn model_ready_answer(st: &AppState, name: &str, version: Option<&str>) -> Response {
    let served = st.model.load_full();
    if let Err(r) = the_model(&served, name, version) {
        return r.into_response();
    }
    match st.ready() {
        Ok(()) => axum::Json(json!({"name": name, "ready": true})).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"name": name, "ready": false, "error": e})))
            .into_response(),
    }
}

/// Model readiness (Open Inference Protocol).
#[utoipa::path(get, path = "/v2/models/{name}/ready", tag = "open inference protocol",
    params(("name" = String, Path, description = "GET /model's model.name")),
    responses((status = 200, body = Object), (status = 404, body = V2Error), (status = 503, body = Object)))]
pub async fn model_ready(State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    model_ready_answer(&st, &name, None)
}

pub async fn model_version_ready(
    State(st): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    model_ready_answer(&st, &name, Some(&version))
}

/// Other keys (KServe's SDK sends `model_name`, `model_version`) are read past, as the
/// reference servers do.
#[derive(Debug, Deserialize)]
struct InferRequest {
    id: Option<String>,
    #[serde(default)]
    parameters: Map<String, Value>,
    inputs: Vec<InputTensor>,
    outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Debug, Deserialize)]
struct InputTensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    data: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

const OUTPUTS: [&str; 3] = ["churn_probability", "churn", "reasons"];

/// Inference (Open Inference Protocol).
///
/// One input tensor per raw customer field (`BYTES` for text, a numeric type for numbers, shape
/// `[n]`), or one numeric tensor `[n, columns]` of the model's own input columns; JSON `data` or
/// binary tensor data (`Inference-Header-Content-Length`). Outputs `churn_probability` (FP32) and
/// `churn` (BOOL) by default; ask for `reasons` (BYTES, a JSON list per customer) in `outputs`
/// (parameter `reasons`: how many, default 5).
#[utoipa::path(post, path = "/v2/models/{name}/infer", tag = "open inference protocol",
    params(("name" = String, Path, description = "GET /model's model.name")),
    request_body(description = "{\"inputs\": [{\"name\": field, \"shape\": [n], \"datatype\": \"BYTES\"|\"FP64\"|..., \"data\": [...]}], \"outputs\": [{\"name\": ...}]}",
        content((Object = "application/json"), (String = "application/octet-stream"))),
    responses(
        (status = 200, description = "{model_name, model_version, id, outputs: [{name, datatype, shape, data}]}", body = Object),
        (status = 400, description = "Malformed request, or invalid values (each named)", body = V2Error),
        (status = 404, description = "Another model's name", body = V2Error),
        (status = 413, body = V2Error),
        (status = 503, description = "Over the concurrency limit (Retry-After)", body = V2Error)
    ),
    security((), ("api_key" = [])))]
pub async fn infer(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    infer_answer(st, name, None, headers, body).await
}

pub async fn infer_version(
    State(st): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    infer_answer(st, name, Some(version), headers, body).await
}

async fn infer_answer(
    st: Arc<AppState>,
    name: String,
    version: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let served = st.model.load_full();
    if let Err(r) = the_model(&served, &name, version.as_deref()) {
        return Ok(r.into_response());
    }
    let header_length =
        match headers.get("inference-header-content-length") {
            None => None,
            Some(v) => Some(v.to_str().ok().and_then(|s| s.trim().parse::<usize>().ok()).ok_or_else(|| {
                bad("Inference-Header-Content-Length must be the byte length of the JSON header".into())
            })?),
        };
    let bytes = input::read_body(&headers, body, st.config.max_body_bytes).await?;
    let large = bytes.len() >= work::LARGE_BODY;
    let state = st.clone();
    work::run(&st, large, move |cancel| answer(&state, &served, &bytes, header_length, cancel)).await
}

fn bad(message: String) -> ApiError {
    ApiError::new(Code::InvalidInferenceRequest, message)
}

/// Each input tensor's elements, from the JSON or from the binary part of the body (taken in
/// order), checked against its shape.
fn input_columns(inputs: &[InputTensor], mut binary: &[u8]) -> Result<Vec<(String, Vec<Value>)>, ApiError> {
    let mut columns: Vec<(String, Vec<Value>)> = Vec::with_capacity(inputs.len());
    for t in inputs {
        let data = match t.parameters.get("binary_data_size") {
            Some(size) => {
                let size =
                    size.as_u64().ok_or_else(|| bad(format!("input `{}`: binary_data_size must be a count", t.name)))?
                        as usize;
                if size > binary.len() {
                    return Err(bad(format!(
                        "input `{}`: binary_data_size {size} is more than the {} bytes left in the body",
                        t.name,
                        binary.len()
                    )));
                }
                let (mine, rest) = binary.split_at(size);
                binary = rest;
                tensor::decode_binary(&t.name, &t.datatype, mine)?
            }
            None => match &t.data {
                Some(v) => tensor::flatten_json(&t.name, &t.datatype, v)?,
                None => return Err(bad(format!("input `{}` has neither `data` nor binary data", t.name))),
            },
        };
        // Checked: a shape is the client's word, and its product must not wrap.
        let count = t.shape.iter().try_fold(1usize, |acc, &d| usize::try_from(d).ok().and_then(|d| acc.checked_mul(d)));
        if count != Some(data.len()) {
            return Err(bad(format!(
                "input `{}`: shape {:?} does not hold the {} elements that came",
                t.name,
                t.shape,
                data.len()
            )));
        }
        columns.push((t.name.clone(), data));
    }
    Ok(columns)
}

/// The outputs asked for (all by default but the reasons), and whether each goes as binary.
fn wanted_outputs(request: &InferRequest) -> Result<Vec<(&str, bool)>, ApiError> {
    Ok(match &request.outputs {
        Some(outs) => outs
            .iter()
            .map(|o| {
                if !OUTPUTS.contains(&o.name.as_str()) {
                    return Err(bad(format!("unknown output `{}`; the model gives {}", o.name, OUTPUTS.join(", "))));
                }
                let binary = o.parameters.get("binary_data").and_then(Value::as_bool).unwrap_or(false);
                Ok((o.name.as_str(), binary))
            })
            .collect::<Result<_, _>>()?,
        None => {
            let binary = request.parameters.get("binary_data_output").and_then(Value::as_bool).unwrap_or(false);
            vec![("churn_probability", binary), ("churn", binary)]
        }
    })
}

/// Parses the request, validates and scores: the part that costs CPU.
fn answer(
    st: &AppState,
    served: &Served,
    bytes: &[u8],
    header_length: Option<usize>,
    cancel: &Cancel,
) -> Result<Response, ApiError> {
    work::injected_fault();
    let (head, binary) = match header_length {
        Some(n) if n > bytes.len() => {
            return Err(bad(format!("Inference-Header-Content-Length is {n} but the body holds {} bytes", bytes.len())))
        }
        Some(n) => (&bytes[..n], &bytes[n..]),
        None => (bytes, &bytes[bytes.len()..]),
    };
    let head = nan_as_null(head);
    let request: InferRequest = serde_json::from_slice(&head)
        .map_err(|e| bad(format!("the body is not an inference request of the Open Inference Protocol: {e}")))?;
    let scorer = &served.scorer;
    let columns = input_columns(&request.inputs, binary)?;
    let records = records_of(served, &request.inputs, columns)?;
    let (carried, rows) =
        mlflow::rows(scorer.customer_gate(), scorer.column_gate(), Records::Json(records), st.config.max_batch_rows)
            .map_err(super::invocations::invocation_error)?;
    let wanted = wanted_outputs(&request)?;
    let explain = wanted.iter().any(|(n, _)| *n == "reasons");
    let top = match request.parameters.get("reasons") {
        None => st.config.default_reasons,
        Some(v) => v.as_u64().ok_or_else(|| bad("parameter `reasons` must be a count".into()))? as usize,
    }
    .min(50);
    if explain && carried == mlflow::Carried::ModelColumns && scorer.customer_gate().is_some() {
        return Err(bad("reasons are worded on the customer fields: send one tensor per field to get them".into()));
    }
    let preds = super::predict::score_rows(st, served, &rows, carried, explain, top, false, cancel)?;
    let mut outputs = Vec::with_capacity(wanted.len());
    let mut payload: Vec<u8> = Vec::new();
    for (name, as_binary) in wanted {
        let n = preds.len();
        let (datatype, data): (&str, tensor::Data) = match name {
            "churn_probability" => ("FP32", tensor::Data::F32(preds.iter().map(|p| p.churn_probability).collect())),
            "churn" => ("BOOL", tensor::Data::Bool(preds.iter().map(|p| p.churn).collect())),
            _ => (
                "BYTES",
                tensor::Data::Bytes(
                    preds.iter().map(|p| serde_json::to_string(&p.reasons).expect("reasons serialise")).collect(),
                ),
            ),
        };
        let mut out = json!({"name": name, "datatype": datatype, "shape": [n]});
        if as_binary {
            let raw = data.to_binary();
            out["parameters"] = json!({"binary_data_size": raw.len()});
            payload.extend(raw);
        } else {
            out["data"] = data.to_json();
        }
        outputs.push(out);
    }
    let mut answer = json!({"model_name": served.name(), "outputs": outputs});
    if let Some(v) = served.version() {
        answer["model_version"] = json!(v);
    }
    if let Some(id) = &request.id {
        answer["id"] = json!(id);
    }
    let head = answer.to_string().into_bytes();
    if payload.is_empty() {
        return Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], head).into_response());
    }
    let length = head.len();
    let mut body = head;
    body.extend(payload);
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (axum::http::HeaderName::from_static("inference-header-content-length"), HeaderValue::from(length)),
        ],
        body,
    )
        .into_response())
}

/// The JSON text with every bare `NaN` outside strings read as `null` (a missing value): Python's
/// `json.dumps`, and so tritonclient's JSON tensors, write a missing float as `NaN`, which JSON
/// itself has no word for.
fn nan_as_null(text: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !text.windows(3).any(|w| w == b"NaN") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped, mut i) = (false, false, 0);
    while i < text.len() {
        let b = text[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if text[i..].starts_with(b"NaN") {
            out.extend_from_slice(b"null");
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// The request's tensors as records (field -> value) for the gate: one tensor per field, or one
/// tensor of the model's input columns.
fn records_of(
    served: &Served,
    inputs: &[InputTensor],
    columns: Vec<(String, Vec<Value>)>,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    let scorer = &served.scorer;
    let column_names = scorer.column_gate().names();
    let fields: Vec<String> = match scorer.customer_gate() {
        Some(g) => g.names().iter().cloned().chain(g.id_column().map(str::to_string)).collect(),
        None => column_names.to_vec(),
    };
    let m = column_names.len();
    if let [t] = inputs {
        let is_matrix = t.shape.len() == 2 && t.shape[1] as usize == m && !fields.contains(&t.name);
        if is_matrix && t.datatype != "BYTES" {
            let (_, data) = columns.into_iter().next().expect("one input");
            // The element count was checked against the shape: rows x m elements.
            let rows = data.len() / m.max(1);
            return Ok((0..rows)
                .map(|r| column_names.iter().cloned().zip(data[r * m..(r + 1) * m].iter().cloned()).collect())
                .collect());
        }
    }
    let mut n = None;
    for t in inputs {
        if !fields.contains(&t.name) {
            return Err(bad(format!(
                "unknown input `{}`: send one tensor per field ({}) or one tensor [n, {m}] of the model's columns",
                t.name,
                fields.join(", ")
            )));
        }
        let rows = match t.shape.as_slice() {
            [r] | [r, 1] => *r as usize,
            other => {
                return Err(bad(format!(
                    "input `{}` has shape {other:?}; a field's tensor has shape [n] or [n, 1]",
                    t.name
                )))
            }
        };
        if *n.get_or_insert(rows) != rows {
            return Err(bad(format!("input `{}` has {rows} rows where another has {}", t.name, n.unwrap_or(0))));
        }
    }
    let n = n.unwrap_or(0);
    let mut out = vec![Map::new(); n];
    for (name, data) in columns {
        for (row, v) in out.iter_mut().zip(data) {
            row.insert(name.clone(), v);
        }
    }
    Ok(out)
}

/// Tensor data in and out: the protocol's datatypes, JSON (nested or flat, row-major) and the
/// binary extension (little-endian; BYTES elements prefixed by their 4-byte length).
mod tensor {
    use super::bad;
    use crate::server::error::ApiError;
    use serde_json::Value;

    /// Every element of a tensor's JSON `data` in row-major order, checked against its datatype.
    pub fn flatten_json(name: &str, datatype: &str, data: &Value) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        let mut stack = vec![data];
        while let Some(v) = stack.pop() {
            match v {
                Value::Array(items) => stack.extend(items.iter().rev()),
                scalar => out.push(check(name, datatype, scalar)?),
            }
        }
        Ok(out)
    }

    fn check(name: &str, datatype: &str, v: &Value) -> Result<Value, ApiError> {
        let ok = match (datatype, v) {
            ("BYTES", Value::String(_)) | ("BOOL", Value::Bool(_)) => true,
            ("BYTES" | "BOOL", _) => false,
            // null: a missing value (what a float's NaN is sent as), as the field's schema reads it.
            (_, Value::Number(_) | Value::Null) => is_numeric(datatype),
            _ => false,
        };
        if !is_known(datatype) {
            return Err(bad(format!("input `{name}`: unknown datatype `{datatype}`")));
        }
        if !ok {
            return Err(bad(format!("input `{name}`: {} in a {datatype} tensor", crate::ingest::mlflow::kind_of(v))));
        }
        Ok(v.clone())
    }

    fn is_numeric(datatype: &str) -> bool {
        matches!(
            datatype,
            "UINT8" | "UINT16" | "UINT32" | "UINT64" | "INT8" | "INT16" | "INT32" | "INT64" | "FP16" | "FP32" | "FP64"
        )
    }

    fn is_known(datatype: &str) -> bool {
        is_numeric(datatype) || datatype == "BYTES" || datatype == "BOOL"
    }

    /// A tensor's binary data as JSON values.
    pub fn decode_binary(name: &str, datatype: &str, raw: &[u8]) -> Result<Vec<Value>, ApiError> {
        let width = match datatype {
            "BOOL" | "UINT8" | "INT8" => 1,
            "UINT16" | "INT16" | "FP16" => 2,
            "UINT32" | "INT32" | "FP32" => 4,
            "UINT64" | "INT64" | "FP64" => 8,
            "BYTES" => return decode_bytes(name, raw),
            other => return Err(bad(format!("input `{name}`: unknown datatype `{other}`"))),
        };
        if raw.len() % width != 0 {
            return Err(bad(format!(
                "input `{name}`: {} bytes is not a whole number of {datatype} elements",
                raw.len()
            )));
        }
        Ok(raw
            .chunks(width)
            .map(|b| {
                let a = |n: usize| -> [u8; 8] {
                    let mut x = [0u8; 8];
                    x[..n].copy_from_slice(&b[..n]);
                    x
                };
                match datatype {
                    "BOOL" => Value::Bool(b[0] != 0),
                    "UINT8" => Value::from(b[0]),
                    "INT8" => Value::from(b[0] as i8),
                    "UINT16" => Value::from(u16::from_le_bytes([b[0], b[1]])),
                    "INT16" => Value::from(i16::from_le_bytes([b[0], b[1]])),
                    "FP16" => number(half_to_f32(u16::from_le_bytes([b[0], b[1]])) as f64),
                    "UINT32" => Value::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    "INT32" => Value::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    "FP32" => number(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
                    "UINT64" => Value::from(u64::from_le_bytes(a(8))),
                    "INT64" => Value::from(i64::from_le_bytes(a(8))),
                    _ => number(f64::from_le_bytes(a(8))),
                }
            })
            .collect())
    }

    /// A number as JSON; NaN (a missing value in a float tensor) becomes null, which the gate
    /// reads as a blank cell.
    fn number(v: f64) -> Value {
        serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
    }

    fn decode_bytes(name: &str, mut raw: &[u8]) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        while !raw.is_empty() {
            if raw.len() < 4 {
                return Err(bad(format!("input `{name}`: a BYTES element's 4-byte length is cut short")));
            }
            let n = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
            let rest = &raw[4..];
            if n > rest.len() {
                return Err(bad(format!("input `{name}`: a BYTES element of {n} bytes is cut short")));
            }
            let text = std::str::from_utf8(&rest[..n])
                .map_err(|_| bad(format!("input `{name}`: a BYTES element is not UTF-8 text")))?;
            out.push(Value::String(text.to_string()));
            raw = &rest[n..];
        }
        Ok(out)
    }

    /// IEEE half precision to single.
    fn half_to_f32(h: u16) -> f32 {
        let sign = ((h >> 15) as u32) << 31;
        let exp = ((h >> 10) & 0x1f) as u32;
        let frac = (h & 0x3ff) as u32;
        let bits = match (exp, frac) {
            (0, 0) => sign,
            (0, f) => {
                // Subnormal: normalise.
                let shift = f.leading_zeros() - 21;
                sign | ((113 - shift) << 23) | (((f << shift) & 0x3ff) << 13)
            }
            (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
            (e, f) => sign | ((e + 112) << 23) | (f << 13),
        };
        f32::from_bits(bits)
    }

    /// An output tensor's elements.
    pub enum Data {
        F32(Vec<f32>),
        Bool(Vec<bool>),
        Bytes(Vec<String>),
    }

    impl Data {
        pub fn to_json(&self) -> Value {
            match self {
                Data::F32(v) => Value::from(v.iter().map(|&x| x as f64).collect::<Vec<_>>()),
                Data::Bool(v) => Value::from(v.clone()),
                Data::Bytes(v) => Value::from(v.clone()),
            }
        }

        pub fn to_binary(&self) -> Vec<u8> {
            match self {
                Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                Data::Bool(v) => v.iter().map(|&b| b as u8).collect(),
                Data::Bytes(v) => {
                    v.iter().flat_map(|s| (s.len() as u32).to_le_bytes().into_iter().chain(s.bytes())).collect()
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn nan_outside_strings_is_a_missing_value() {
            let text = br#"{"data": [1.5, NaN, -2], "name": "NaN \" NaN"}"#;
            let v: Value = serde_json::from_slice(&super::super::nan_as_null(text)).unwrap();
            assert_eq!(v["data"], serde_json::json!([1.5, null, -2]));
            assert_eq!(v["name"], "NaN \" NaN");
        }

        #[test]
        fn half_floats_decode() {
            assert_eq!(half_to_f32(0x3c00), 1.0);
            assert_eq!(half_to_f32(0xc000), -2.0);
            assert_eq!(half_to_f32(0x3555), 0.33325195);
            assert_eq!(half_to_f32(0x0001), 5.9604645e-8);
            assert!(half_to_f32(0x7e00).is_nan());
        }

        #[test]
        fn binary_tensors_decode_and_encode() {
            let raw: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
            assert_eq!(decode_binary("a", "FP32", &raw).unwrap(), vec![Value::from(1.5), Value::from(-2.0)]);
            let bytes = Data::Bytes(vec!["Yes".into(), "".into()]).to_binary();
            assert_eq!(decode_binary("b", "BYTES", &bytes).unwrap(), vec![Value::from("Yes"), Value::from("")]);
            assert!(decode_binary("c", "FP64", &[0u8; 7]).is_err());
            assert!(decode_binary("d", "BYTES", &[9, 0, 0, 0, b'x']).is_err());
            assert_eq!(decode_binary("e", "FP64", &f64::NAN.to_le_bytes()).unwrap(), vec![Value::Null]);
        }

        #[test]
        fn json_data_flattens_row_major_and_checks_types() {
            let v = serde_json::json!([[1, 2], [3, 4]]);
            assert_eq!(
                flatten_json("x", "INT64", &v).unwrap(),
                vec![1, 2, 3, 4].into_iter().map(Value::from).collect::<Vec<_>>()
            );
            assert!(flatten_json("x", "FP32", &serde_json::json!(["a"])).is_err());
            assert!(flatten_json("x", "BYTES", &serde_json::json!([1])).is_err());
            assert!(flatten_json("x", "FP128", &serde_json::json!([1])).is_err());
        }
    }
}
