//! `POST /predict`: one customer (raw fields, as in the CSV) or an array of them, or a CSV body;
//! answers the churn probability, the label at the model's threshold, the risk decile and band,
//! and the top reasons (exact TreeSHAP, summed back onto the raw fields).

use crate::forest::reasons::{Explanation, Scratch};
use crate::ingest::mlflow::Carried;
use crate::ingest::{body, Location, Row};
use crate::scoring::{Score, Scorer};
use crate::server::error::{ApiError, Code, FieldProblem};
use crate::server::input::{self, Media};
use crate::server::state::{AppState, Served};
use crate::server::work::{self, Cancel};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::ser::SerializeMap;
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

/// One scored customer.
pub struct Prediction<'a> {
    id_key: &'a str,
    id: Option<String>,
    score: Score,
    label: &'a str,
    threshold: f64,
    explanation: Option<Explanation>,
    line: Option<u64>,
}

impl Serialize for Prediction<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(id) = &self.id {
            m.serialize_entry(self.id_key, id)?;
        }
        if let Some(line) = self.line {
            m.serialize_entry("line", &line)?;
        }
        m.serialize_entry("churn_probability", &self.score.probability)?;
        m.serialize_entry("churn", &self.score.churn)?;
        m.serialize_entry("label", self.label)?;
        m.serialize_entry("threshold", &self.threshold)?;
        m.serialize_entry("risk_decile", &self.score.risk_decile)?;
        m.serialize_entry("risk_band", self.score.risk_band.as_str())?;
        if let Some(e) = &self.explanation {
            m.serialize_entry("base_probability", &e.base_probability)?;
            m.serialize_entry("reasons", &e.reasons)?;
        }
        m.end()
    }
}

/// Placeholder for the request schema: replaced in the served document by the model's own
/// `Customer` schema (see `openapi.rs`).
#[derive(ToSchema)]
#[schema(as = Customer)]
#[allow(dead_code)]
pub struct CustomerDoc {}

/// Documentation of a prediction (the id key is the schema's id column, e.g. `customerID`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PredictionDoc {
    /// Echoed back when the request carried it.
    #[schema(rename = "customerID")]
    customer_id: Option<String>,
    /// CSV bodies: the line of the row.
    line: Option<u64>,
    churn_probability: f32,
    /// churn_probability >= threshold.
    churn: bool,
    /// The target's label for the prediction (e.g. "Yes").
    label: String,
    /// The model's decision threshold (F1- or profit-optimal, chosen at training).
    threshold: f64,
    /// 1 = the riskiest tenth of held-out customers, 10 = the safest.
    risk_decile: Option<u8>,
    /// high (deciles 1-2), medium (3-5), low (6-10).
    risk_band: String,
    /// The model's probability for an average customer; with `explain`.
    base_probability: Option<f64>,
    /// Top reasons, largest first; with `explain`.
    reasons: Option<Vec<ReasonDoc>>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReasonDoc {
    field: String,
    label: String,
    value: String,
    /// Exact SHAP value in log-odds (XGBoost's pred_contribs, summed over the field's columns).
    contribution: f64,
    /// The same in percentage points of churn probability.
    points: f64,
    /// raises or lowers.
    direction: String,
    text: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BatchDoc {
    predictions: Vec<PredictionDoc>,
    /// CSV bodies: rows that were not scored, with their line and reason.
    errors: Option<Vec<FieldProblem>>,
    rows: usize,
    scored: usize,
    rejected: usize,
}

impl Prediction<'_> {
    pub(crate) fn score(&self) -> &Score {
        &self.score
    }

    pub(crate) fn explanation(&self) -> Option<&Explanation> {
        self.explanation.as_ref()
    }
}

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
        let score = scorer.score(&x);
        st.metrics.prediction(score.probability, score.churn);
        let explanation = (explain && fields).then(|| scorer.explain(&x, &c.values, top, &mut scratch));
        out.push(Prediction {
            id_key,
            id: c.id.clone(),
            score,
            label: scorer.label_text(score.churn),
            threshold,
            explanation,
            line: match (with_line, c.location) {
                (true, Some(Location::Line(l))) => Some(l),
                _ => None,
            },
        });
    }
    if carried == Carried::Customers {
        served.observe(customers.iter().map(|c| c.values.as_slice()));
    }
    Ok(out)
}

/// A batch's answer, serialised straight from the predictions (not through `serde_json::Value`,
/// which would widen every f32 to 17 digits): one number format for every input shape.
#[derive(Serialize)]
struct BatchAnswer<'a> {
    predictions: &'a [Prediction<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldProblem]>,
    rows: usize,
    scored: usize,
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

fn csv_response(scorer: &Scorer, preds: &[Prediction], problems: &[FieldProblem], top: usize) -> Response {
    let mut w = csv::Writer::from_writer(Vec::new());
    let id_key = scorer.id_column().unwrap_or("id");
    let mut header = vec![
        id_key.to_string(),
        "line".into(),
        "churn_probability".into(),
        "churn".into(),
        "risk_decile".into(),
        "risk_band".into(),
    ];
    for k in 1..=top {
        header.push(format!("reason_{k}"));
        header.push(format!("reason_{k}_points"));
    }
    header.push("error".into());
    // Which model scored each row and when, so the file joins with outcomes learned later.
    header.extend(["model_uri".to_string(), "model_version".into(), "scored_at".into()]);
    let provenance = scorer.provenance();
    let stamp = [
        provenance.model_uri.clone(),
        provenance.model_version.clone().unwrap_or_default(),
        provenance.scored_at.clone(),
    ];
    let _ = w.write_record(&header);
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    for p in preds {
        let mut r = vec![
            p.id.clone().unwrap_or_default(),
            p.line.map(|l| l.to_string()).unwrap_or_default(),
            p.score.probability.to_string(),
            p.label.to_string(),
            p.score.risk_decile.map(|d| d.to_string()).unwrap_or_default(),
            p.score.risk_band.as_str().to_string(),
        ];
        for k in 0..top {
            match p.explanation.as_ref().and_then(|e| e.reasons.get(k)) {
                Some(reason) => {
                    r.push(format!("{} = {}", reason.label, reason.value));
                    r.push(format!("{:.2}", reason.points));
                }
                None => {
                    r.push(String::new());
                    r.push(String::new());
                }
            }
        }
        r.push(String::new());
        r.extend(stamp.iter().cloned());
        rows.push((p.line.unwrap_or(0), r));
    }
    let mut by_line: std::collections::BTreeMap<u64, Vec<String>> = std::collections::BTreeMap::new();
    for p in problems {
        by_line.entry(p.line.unwrap_or(0)).or_default().push(p.message.clone());
    }
    for (line, msgs) in by_line {
        let mut r = vec![String::new(), line.to_string()];
        r.resize(header.len() - 4, String::new());
        r.push(msgs.join("; "));
        r.extend(stamp.iter().cloned());
        rows.push((line, r));
    }
    rows.sort_by_key(|(l, _)| *l);
    for (_, r) in rows {
        let _ = w.write_record(&r);
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
            (CustomerDoc = "application/json", example = json!({"customerID": "7590-VHVEG", "gender": "Female", "SeniorCitizen": 0, "Partner": "Yes", "Dependents": "No", "tenure": 1, "PhoneService": "No", "MultipleLines": "No phone service", "InternetService": "DSL", "OnlineSecurity": "No", "OnlineBackup": "Yes", "DeviceProtection": "No", "TechSupport": "No", "StreamingTV": "No", "StreamingMovies": "No", "Contract": "Month-to-month", "PaperlessBilling": "Yes", "PaymentMethod": "Electronic check", "MonthlyCharges": 29.85, "TotalCharges": 29.85})),
            (String = "text/csv")
        )
    ),
    responses(
        (status = 200, description = "One prediction for an object; {predictions: [...]} for an array or CSV", body = PredictionDoc),
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
