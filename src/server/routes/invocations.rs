//! `POST /invocations`: MLflow's scoring protocol, so clients written for `mlflow models serve`
//! work unchanged. JSON with exactly one of `dataframe_split`, `dataframe_records`, `instances`,
//! `inputs` (plus an optional, ignored `params`), or `text/csv`; columns are matched by name.
//! Rows may carry either the raw customer fields (churn's pipeline encodes them) or the model's
//! own input columns (what the MLmodel signature lists). The answer is `{"predictions": [...]}`:
//! probabilities, or 0/1 labels for a model logged as an `XGBClassifier`, as MLflow does.

use crate::model::bundle::Inputs as ModelInputs;
use crate::server::error::{ApiError, FieldProblem};
use crate::server::input::{self, raw_of, Customer, Media};
use crate::server::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::sync::Arc;

const KEYS: [&str; 4] = ["dataframe_split", "dataframe_records", "instances", "inputs"];

fn bad(message: String) -> ApiError {
    ApiError::bad_request("invalid_invocation", message)
}

/// Any of MLflow's JSON shapes as a list of records (column -> value).
fn records(v: Value, columns_hint: &[String]) -> Result<Vec<Map<String, Value>>, ApiError> {
    let Value::Object(mut top) = v else {
        return Err(bad("The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}".into()));
    };
    top.remove("params");
    let present: Vec<&str> = KEYS.iter().copied().filter(|k| top.contains_key(*k)).collect();
    if present.len() != 1 || top.len() != 1 {
        return Err(bad(format!(
            "The input must be a JSON dictionary with exactly one of the input fields {{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}}; found: {}",
            top.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let key = present[0];
    let body = top.remove(key).expect("checked above");
    let positional = |rows: Vec<Value>, columns: &[String]| -> Result<Vec<Map<String, Value>>, ApiError> {
        rows.into_iter()
            .enumerate()
            .map(|(i, row)| match row {
                Value::Array(cells) if cells.len() == columns.len() => Ok(columns.iter().cloned().zip(cells).collect()),
                Value::Array(cells) => {
                    Err(bad(format!("row {i} has {} values for {} columns", cells.len(), columns.len())))
                }
                Value::Object(m) => Ok(m),
                other => Err(bad(format!("row {i}: expected a list or an object, found {}", input::kind_of(&other)))),
            })
            .collect()
    };
    match (key, body) {
        ("dataframe_split", Value::Object(mut split)) => {
            let columns: Vec<String> = match split.remove("columns") {
                Some(Value::Array(cs)) => cs
                    .into_iter()
                    .map(|c| {
                        c.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| bad("dataframe_split.columns must be strings".into()))
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(bad(
                        "dataframe_split needs `columns` (a list of column names) and `data` (a list of rows)".into(),
                    ))
                }
            };
            match split.remove("data") {
                Some(Value::Array(rows)) => positional(rows, &columns),
                _ => Err(bad("dataframe_split needs `data`: a list of rows".into())),
            }
        }
        ("dataframe_records", Value::Array(rows)) | ("instances", Value::Array(rows)) => positional(rows, columns_hint),
        ("inputs", Value::Array(rows)) => positional(rows, columns_hint),
        ("inputs", Value::Object(cols)) => {
            let n = cols.values().map(|v| v.as_array().map(Vec::len).unwrap_or(1)).max().unwrap_or(0);
            let mut out = vec![Map::new(); n];
            for (name, v) in cols {
                match v {
                    Value::Array(cells) if cells.len() == n => {
                        for (row, cell) in out.iter_mut().zip(cells) {
                            row.insert(name.clone(), cell);
                        }
                    }
                    Value::Array(cells) => {
                        return Err(bad(format!(
                            "inputs.{name} has {} values where other columns have {n}",
                            cells.len()
                        )))
                    }
                    scalar => {
                        for row in out.iter_mut() {
                            row.insert(name.clone(), scalar.clone());
                        }
                    }
                }
            }
            Ok(out)
        }
        (k, other) => Err(bad(format!(
            "`{k}` must be {}, found {}",
            if k == "dataframe_split" { "an object" } else { "a list" },
            input::kind_of(&other)
        ))),
    }
}

fn csv_records(bytes: &[u8]) -> Result<Vec<Map<String, Value>>, ApiError> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let headers: Vec<String> = r
        .headers()
        .map_err(|e| bad(format!("the CSV header cannot be read: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| bad(format!("invalid CSV: {e}")))?;
        out.push(headers.iter().cloned().zip(rec.iter().map(|c| Value::String(c.to_string()))).collect());
    }
    Ok(out)
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
    let scorer = &served.scorer;
    let feature_names = scorer.model.feature_names();
    let rows = match media {
        Media::Json => records(input::parse_json(&bytes).map_err(|e| bad(e.message))?, &feature_names)?,
        Media::Csv => csv_records(&bytes)?,
    };
    if rows.is_empty() {
        return Err(bad("the input holds no rows".into()));
    }
    if rows.len() > st.config.max_batch_rows {
        return Err(ApiError::bad_request(
            "too_many_customers",
            format!("{} rows in one request; the limit is {} (--max-batch-rows)", rows.len(), st.config.max_batch_rows),
        ));
    }
    let has_all = |names: &[String]| rows.first().is_some_and(|r| names.iter().all(|n| r.contains_key(n)));
    let mut predictions = Vec::with_capacity(rows.len());
    let classifier = scorer
        .model
        .mlmodel
        .as_ref()
        .and_then(|m| m.model_class.as_deref())
        .is_some_and(|c| c.ends_with("XGBClassifier"));
    let mut problems = Vec::new();
    let mut x = vec![0f32; scorer.n_features()];
    if matches!(scorer.model.inputs, ModelInputs::Customers(_)) && !has_all(&feature_names) {
        // Raw customer fields, through churn's pipeline; extra columns are ignored, as MLflow does.
        let inputs = input::Inputs::new(scorer, &served.request);
        let mut customers = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let mut values = vec![0f64; inputs.names.len()];
            let before = problems.len();
            for (k, name) in inputs.names.iter().enumerate() {
                match row.get(name) {
                    Some(v) => match scorer.parse_input(k, raw_of(v)) {
                        Ok(x) => values[k] = x,
                        Err(e) => problems.push(FieldProblem::from_field_error(name, e)),
                    },
                    None => problems.push(FieldProblem::simple(
                        name,
                        "missing_field",
                        format!("Model is missing inputs ['{name}']"),
                    )),
                }
            }
            for p in &mut problems[before..] {
                p.row = Some(i);
            }
            if problems.len() == before {
                customers.push(Customer { id: None, values, line: None });
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid_fields(problems, StatusCode::BAD_REQUEST));
        }
        for c in &customers {
            scorer.encode(&c.values, &mut x);
            predictions.push(scorer.score(&x));
        }
    } else {
        // The model's own input columns, by name.
        for (i, row) in rows.iter().enumerate() {
            let before = problems.len();
            for (j, name) in feature_names.iter().enumerate() {
                let v = match row.get(name) {
                    None => {
                        problems.push(FieldProblem::simple(
                            name,
                            "missing_field",
                            format!("Model is missing inputs ['{name}']"),
                        ));
                        continue;
                    }
                    Some(Value::Null) => f32::NAN,
                    Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN) as f32,
                    Some(Value::Bool(b)) => *b as u8 as f32,
                    Some(Value::String(s)) if s.trim().is_empty() => f32::NAN,
                    Some(Value::String(s)) => match s.trim().parse::<f64>() {
                        Ok(v) if v.is_finite() => v as f32,
                        _ => {
                            problems.push(FieldProblem::simple(
                                name,
                                "not_a_number",
                                format!("`{name}`: expected a number, found \"{}\"", crate::schema::value_preview(s)),
                            ));
                            continue;
                        }
                    },
                    Some(other) => {
                        problems.push(FieldProblem::simple(
                            name,
                            "wrong_type",
                            format!("`{name}`: expected a number, found {}", input::kind_of(other)),
                        ));
                        continue;
                    }
                };
                x[j] = v;
            }
            for p in &mut problems[before..] {
                p.row = Some(i);
            }
            if problems.len() == before {
                predictions.push(scorer.score(&x));
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid_fields(problems, StatusCode::BAD_REQUEST));
        }
    }
    for p in &predictions {
        st.metrics.prediction(p.probability, p.churn);
    }
    let values: Vec<Value> = predictions
        .iter()
        .map(|p| if classifier { Value::from((p.probability >= 0.5) as u8) } else { Value::from(p.probability as f64) })
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({ "predictions": values })).expect("predictions serialise");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
