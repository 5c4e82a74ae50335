//! `POST /predict`: one customer (raw fields, as in the CSV) or an array of them, or a CSV body;
//! answers the churn probability, the label at the model's threshold, the risk decile and band,
//! and the top reasons (exact TreeSHAP, summed back onto the raw fields).

use crate::forest::reasons::Scratch;
use crate::ingest::mlflow::Carried;
use crate::ingest::{body, Location, Row};
use crate::scoring::output::{CustomerId, Flat, Prediction};
use crate::scoring::Scorer;
use crate::server::error::{ApiError, Code, FieldProblem};
use crate::server::input::{self, Media};
use crate::server::state::{AppState, Served};
use crate::server::work::{self, Cancel};
use crate::table::writer::{Cell, CellText};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PredictQuery {
    /// Compute the reasons (default true); `false` skips them for the fastest answer.
    pub explain: Option<bool>,
    /// How many reasons per customer (default 5, at most 50).
    pub reasons: Option<usize>,
}

/// Placeholder for the request schema: replaced in the served document by the model's own
/// `Customer` schema (see `openapi.rs`).
#[derive(ToSchema)]
#[schema(as = Customer)]
#[allow(dead_code)]
pub struct CustomerDoc {}

/// Scores validated rows, the one scoring loop of every route (`/predict`, `/invocations`,
/// `/v2/.../infer`): probability, label, decile and band, and the reasons when asked; counts
/// the predictions and feeds the drift window with customers' fields. Rows carry the customer
/// fields, or the model's own input columns (`carried`), which have no fields to word reasons
/// with on a model that has churn's pipeline. Checks `cancel` as it goes, so abandoned work stops.
#[allow(clippy::too_many_arguments)]
pub(crate) fn score_rows<'a>(
    st: &AppState,
    served: &'a Served,
    customers: &[Row],
    carried: Carried,
    explain: bool,
    top: usize,
    with_line: bool,
    cancel: &Cancel,
) -> Result<Vec<Prediction<'a>>, ApiError> {
    let scorer: &Scorer = &served.scorer;
    let mut x = vec![0f32; scorer.n_features()];
    let mut scratch = Scratch::default();
    let id_key = scorer.id_column().unwrap_or("id");
    let threshold = scorer.threshold();
    let fields = carried == Carried::Customers || scorer.customer_gate().is_none();
    let mut out = Vec::with_capacity(customers.len());
    for (i, c) in customers.iter().enumerate() {
        if i % 256 == 255 && cancel.is_cancelled() {
            return Err(ApiError::timeout(st.config.request_timeout.as_millis() as u64));
        }
        match carried {
            Carried::Customers => scorer.encode(&c.values, &mut x),
            Carried::ModelColumns => {
                for (o, v) in x.iter_mut().zip(&c.values) {
                    *o = *v as f32;
                }
            }
        }
        let (score, explanation) =
            scorer.score_maybe_explained(&x, &c.values, (explain && fields).then_some(top), &mut scratch);
        st.metrics.prediction(score.probability, score.churn);
        let line = match (with_line, c.location) {
            (true, Some(Location::Line(l))) => Some(l),
            _ => None,
        };
        let id = CustomerId { key: id_key, value: c.id.clone().map(std::borrow::Cow::Owned) };
        out.push(Prediction::new(id, line, score, scorer.label_text(score.churn), threshold).explained(explanation));
    }
    if carried == Carried::Customers {
        served.observe(customers.iter().map(|c| c.values.as_slice()));
    }
    Ok(out)
}

// Serialised straight from the predictions (not through `serde_json::Value`, which would widen
// every f32 to 17 digits): one number format for every input shape.
/// The answer for an array of customers or a CSV body.
#[derive(Serialize, ToSchema)]
pub struct BatchAnswer<'a> {
    predictions: &'a [Prediction<'a>],
    /// CSV bodies: rows that were not scored, with their line and reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldProblem]>,
    /// Rows in the body.
    rows: usize,
    scored: usize,
    /// CSV bodies: rows refused (each named in `errors`).
    rejected: usize,
}

fn json_response<T: Serialize>(v: &T) -> Response {
    let body = serde_json::to_vec(v).expect("responses serialise");
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

pub(crate) fn query_error(e: QueryRejection) -> ApiError {
    ApiError::new(Code::InvalidQuery, format!("invalid query string: {}", e.body_text()))
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"))
}

/// The scored CSV: each prediction's flat row (`scoring::output::Flat`), the refused rows by
/// line with their `error`, and which model scored them and when.
fn csv_response(scorer: &Scorer, preds: &[Prediction], problems: &[FieldProblem], top: usize) -> Response {
    let flat = Flat { id: Some(scorer.id_column().unwrap_or("id").to_string()), line: true, reasons: top };
    let mut header: Vec<String> = flat.columns().into_iter().map(|(name, _)| name).collect();
    header.push("error".into());
    // Which model scored each row and when, so the file joins with outcomes learned later.
    header.extend(["model_uri".to_string(), "model_version".into(), "scored_at".into()]);
    let provenance = scorer.provenance();
    let stamp = [
        provenance.model_uri.as_str(),
        provenance.model_version.as_deref().unwrap_or_default(),
        provenance.scored_at.as_str(),
    ];
    let mut errors: std::collections::BTreeMap<u64, Vec<&str>> = std::collections::BTreeMap::new();
    for p in problems {
        errors.entry(p.line.unwrap_or(0)).or_default().push(&p.message);
    }
    let errors: Vec<(u64, String)> = errors.into_iter().map(|(line, m)| (line, m.join("; "))).collect();
    // Scored and refused rows, in the order of their lines.
    let mut rows: Vec<(u64, Vec<Cell>)> = Vec::with_capacity(preds.len() + errors.len());
    for p in preds {
        let mut cells = Vec::with_capacity(header.len());
        flat.cells(p, &mut cells);
        cells.push(Cell::Null);
        cells.extend(stamp.iter().map(|s| Cell::Text(s)));
        rows.push((p.line.unwrap_or(0), cells));
    }
    for (line, message) in &errors {
        let mut cells = Vec::with_capacity(header.len());
        flat.unscored(Some(*line), &mut cells);
        cells.push(Cell::Text(message));
        cells.extend(stamp.iter().map(|s| Cell::Text(s)));
        rows.push((*line, cells));
    }
    rows.sort_by_key(|(l, _)| *l);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut text = CellText::default();
    let _ = w.write_record(&header);
    for (_, cells) in &rows {
        for c in cells {
            let _ = w.write_field(text.format(c));
        }
        let _ = w.write_record(None::<&[u8]>);
    }
    let body = w.into_inner().unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"scored.csv\"")),
        ],
        body,
    )
        .into_response()
}

/// Score customers.
///
/// Send one customer object (the raw fields, as in the CSV; the schema's id column is echoed
/// back), a JSON array of them, or a CSV body with a header line (`Content-Type: text/csv`).
/// Every value is validated against the model's schema: a refused value answers 422 naming the
/// field, what was expected (the allowed categories, the bounds) and what came. In a CSV body,
/// bad rows are reported with their line in `errors` and the others are scored; with
/// `Accept: text/csv` the answer is the scored CSV.
#[utoipa::path(
    post,
    path = "/predict",
    tag = "scoring",
    params(PredictQuery),
    request_body(
        description = "A customer, an array of customers, or CSV text with a header line",
        content(
            (CustomerDoc = "application/json"),
            (String = "text/csv")
        )
    ),
    responses(
        (status = 200, description = "One prediction for an object; {predictions: [...]} for an array or CSV", body = Prediction),
        (status = 400, description = "Malformed JSON or CSV, wrong body type, too many customers", body = ApiError),
        (status = 401, description = "API key required (CHURN_API_KEY)", body = ApiError),
        (status = 413, description = "Body over --max-body-bytes", body = ApiError),
        (status = 415, description = "Content-Type other than application/json or text/csv", body = ApiError),
        (status = 422, description = "Invalid field values", body = ApiError),
        (status = 503, description = "Over the concurrency limit (Retry-After)", body = ApiError)
    ),
    security((), ("api_key" = []))
)]
pub async fn predict(
    State(st): State<Arc<AppState>>,
    query: Result<Query<PredictQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let media = input::media(&headers)?;
    let bytes = input::read_body(&headers, body, st.config.max_body_bytes).await?;
    let served = st.model.load_full();
    let explain = q.explain.unwrap_or(true);
    let top = q.reasons.unwrap_or(st.config.default_reasons).min(50);
    let as_csv = wants_csv(&headers);
    let large = bytes.len() >= work::LARGE_BODY;
    let state = st.clone();
    work::run(&st, large, move |cancel| answer(&state, &served, media, bytes, explain, top, as_csv, cancel)).await
}

/// Parses, validates and scores a body: the part of a request that costs CPU.
#[allow(clippy::too_many_arguments)]
fn answer(
    st: &AppState,
    served: &Served,
    media: Media,
    bytes: axum::body::Bytes,
    explain: bool,
    top: usize,
    as_csv: bool,
    cancel: &Cancel,
) -> Result<Response, ApiError> {
    work::injected_fault();
    let gate = served.scorer.gate();
    let refused = |e| input::body_error(e, StatusCode::UNPROCESSABLE_ENTITY);
    match media {
        Media::Json => {
            let body::JsonCustomers { rows: customers, is_array } =
                body::json(gate, &bytes, st.config.max_batch_rows).map_err(refused)?;
            let preds = score_rows(st, served, &customers, Carried::Customers, explain, top, false, cancel)?;
            if is_array {
                Ok(json_response(&BatchAnswer {
                    predictions: &preds,
                    errors: None,
                    rows: customers.len(),
                    scored: preds.len(),
                    rejected: 0,
                }))
            } else {
                Ok(json_response(&preds[0]))
            }
        }
        Media::Csv => {
            let (customers, problems) = body::csv(gate, bytes, st.config.max_batch_rows).map_err(refused)?;
            let problems: Vec<FieldProblem> = problems.iter().map(FieldProblem::from).collect();
            let preds = score_rows(st, served, &customers, Carried::Customers, explain, top, true, cancel)?;
            if as_csv {
                return Ok(csv_response(&served.scorer, &preds, &problems, if explain { top.min(3) } else { 0 }));
            }
            let rejected = problems.iter().filter_map(|p| p.line).collect::<std::collections::BTreeSet<_>>().len();
            Ok(json_response(&BatchAnswer {
                predictions: &preds,
                errors: Some(&problems),
                rows: preds.len() + rejected,
                scored: preds.len(),
                rejected,
            }))
        }
    }
}
