//! `POST /invocations`: MLflow's scoring protocol, so clients written for `mlflow models serve`
//! work unchanged. The shapes and their validation live in the ingestion gate
//! (`crate::ingest::mlflow`); this maps them onto HTTP. The answer is `{"predictions": [...]}`:
//! probabilities, or 0/1 labels for a model logged as an `XGBClassifier`, as MLflow does.

use crate::ingest::mlflow::{self, InvocationError, Records};
use crate::server::error::{ApiError, Code, FieldProblem};
use crate::server::input::{self, Media};
use crate::server::state::{AppState, Served};
use crate::server::work::{self, Cancel};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;

fn bad(message: String) -> ApiError {
    ApiError::new(Code::InvalidInvocation, message)
}

/// MLflow's scoring protocol.
#[utoipa::path(
    post,
    path = "/invocations",
    tag = "mlflow",
    request_body(
        description = "MLflow's shapes: {\"dataframe_split\": {\"columns\": [...], \"data\": [[...]]}}, {\"dataframe_records\": [{...}]}, {\"instances\": [...]}, {\"inputs\": {...}}, or CSV",
        content((Object = "application/json"), (String = "text/csv"))
    ),
    responses(
        (status = 200, description = "{\"predictions\": [...]}", body = Object, example = json!({"predictions": [0.65, 0.02]})),
        (status = 400, description = "Malformed input or invalid values (as MLflow answers)", body = ApiError),
        (status = 413, description = "Body over --max-body-bytes", body = ApiError),
        (status = 415, description = "Content-Type other than application/json or text/csv", body = ApiError)
    ),
    security((), ("api_key" = []))
)]
pub async fn invocations(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let media = input::media(&headers)?;
    let bytes = input::read_body(&headers, body, st.config.max_body_bytes).await?;
    let served = st.model.load_full();
    let large = bytes.len() >= work::LARGE_BODY;
    let state = st.clone();
    work::run(&st, large, move |cancel| answer(&state, &served, media, bytes, cancel)).await
}

/// Parses the MLflow shape, validates and scores: the part of a request that costs CPU.
fn answer(
    st: &AppState,
    served: &Served,
    media: Media,
    bytes: axum::body::Bytes,
    cancel: &Cancel,
) -> Result<Response, ApiError> {
    work::injected_fault();
    let scorer = &served.scorer;
    let records = match media {
        Media::Json => {
            if bytes.iter().all(|b| b.is_ascii_whitespace()) {
                return Err(bad("the body is empty: send one of MLflow's input shapes".into()));
            }
            let v: Value =
                serde_json::from_slice(&bytes).map_err(|e| bad(format!("the body is not valid JSON: {e}")))?;
            Records::Json(mlflow::json_records(v, scorer.column_gate().names()).map_err(invocation_error)?)
        }
        Media::Csv => Records::Csv(bytes),
    };
    let (carried, rows) = mlflow::rows(scorer.customer_gate(), scorer.column_gate(), records, st.config.max_batch_rows)
        .map_err(invocation_error)?;
    let classifier = scorer
        .model
        .mlmodel
        .as_ref()
        .and_then(|m| m.model_class.as_deref())
        .is_some_and(|c| c.ends_with("XGBClassifier"));
    let preds = super::predict::score_rows(st, served, &rows, carried, false, 0, false, cancel)?;
    let values: Vec<Value> = preds
        .iter()
        .map(|p| {
            let probability = p.churn_probability;
            if classifier {
                Value::from((probability >= 0.5) as u8)
            } else {
                Value::from(probability as f64)
            }
        })
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({ "predictions": values })).expect("predictions serialise");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub(crate) fn invocation_error(e: InvocationError) -> ApiError {
    match e {
        InvocationError::Shape(m) => bad(m),
        InvocationError::TooMany { rows, max } => ApiError::new(
            Code::TooManyCustomers,
            format!("{rows} rows in one request; the limit is {max} (--max-batch-rows)"),
        ),
        InvocationError::Invalid(problems) => {
            ApiError::invalid_fields(problems.iter().map(FieldProblem::from).collect(), StatusCode::BAD_REQUEST)
        }
    }
}
