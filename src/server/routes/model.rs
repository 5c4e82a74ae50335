//! `GET /model`: the model card (what the UI shows, and the input schema its form is built
//! from), and the training report written into the bundle.

use crate::bundle::Inputs;
use crate::schema::{Blank, FieldKind};
use crate::server::error::ApiError;
use crate::server::routes::health::ModelStatus;
use crate::server::state::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// The model card: identity, training, held-out quality, threshold, decile lift, the input
/// fields (with allowed values and bounds) and example customers.
#[utoipa::path(get, path = "/model", tag = "model", responses((status = 200, description = "Model card and input schema", body = Object)))]
pub async fn card(State(st): State<Arc<AppState>>) -> Json<Value> {
    let served = st.model.load();
    let s = &served.scorer;
    let m = &s.model;
    let inputs: Vec<Value> = match &m.inputs {
        Inputs::Customers(p) => p
            .schema
            .fields
            .iter()
            .map(|f| match &f.kind {
                FieldKind::Date(d) => json!({
                    "name": f.name, "label": f.display_label(), "kind": "date", "default": Value::Null,
                    "blank": match d.blank { Blank::Error => json!("error"), Blank::Missing => json!("missing"), Blank::Fill(v) => json!(v) },
                }),
                FieldKind::Numeric(n) => json!({
                    "name": f.name, "label": f.display_label(), "kind": "numeric", "integer": n.integer,
                    "min": n.min, "max": n.max, "default": n.default.or(n.min).unwrap_or(0.0),
                    "blank": match n.blank { Blank::Error => json!("error"), Blank::Missing => json!("missing"), Blank::Fill(v) => json!(v) },
                }),
                FieldKind::Categorical(c) => json!({
                    "name": f.name, "label": f.display_label(), "kind": "categorical", "values": c.values,
                    "default": c.default.clone().unwrap_or_else(|| c.values[0].clone()),
                }),
            })
            .collect(),
        Inputs::Features(names) => names.iter().map(|n| json!({"name": n, "label": n, "kind": "numeric", "integer": false, "default": 0.0, "blank": "missing"})).collect(),
    };
    let meta = m.metadata.as_ref();
    let eval = m.evaluation.as_ref();
    Json(json!({
        "model": ModelStatus::of(&served),
        "trained_at": meta.map(|x| x.created_utc.clone()).or_else(|| m.mlmodel.as_ref().and_then(|x| x.utc_time_created.clone())),
        "policy": meta.map(|x| x.policy.describe()),
        "params": meta.map(|x| json!(x.params)),
        "rounds": meta.map(|x| x.rounds),
        "seeds": meta.map(|x| x.seeds),
        "blend": meta.and_then(|x| x.blend.as_ref()).map(|b| b.describe()),
        "data": meta.map(|x| json!({"rows": x.data.rows, "train_rows": x.data.train_rows, "held_out_rows": x.data.held_out_rows, "positive_rate": x.data.positive_rate, "sha256": x.data.sha256})),
        "held_out": eval.map(|e| json!(e.held_out.metrics)),
        "confusion": eval.map(|e| json!(e.held_out.confusion)),
        "cross_validated": eval.map(|e| json!(e.cross_validated)),
        "lift": eval.map(|e| json!(e.held_out.lift)),
        "examples": eval.map(|e| json!(e.examples)).unwrap_or(json!([])),
        "id_column": s.id_column(),
        "labels": {"churn": s.label_text(true), "stay": s.label_text(false)},
        "inputs": inputs,
        "report": m.dir.join("report").join("report.html").exists().then_some("/report"),
        "docs": "/docs",
    }))
}

fn report_path(st: &AppState, file: &str) -> Result<std::path::PathBuf, ApiError> {
    if file.contains('/') || file.contains("..") || file.starts_with('.') {
        return Err(ApiError::not_found(&format!("/report/{file}")));
    }
    let p = st.model.load().scorer.model.dir.join("report").join(file);
    if p.is_file() {
        Ok(p)
    } else {
        Err(ApiError::not_found(&format!("/report/{file}")))
    }
}

fn file_response(p: &std::path::Path) -> Result<Response, ApiError> {
    let bytes = std::fs::read(p).map_err(|e| ApiError::internal(format!("cannot read the report: {e}")))?;
    let ct = match p.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    Ok(([(header::CONTENT_TYPE, ct)], bytes).into_response())
}

/// The training report of the model in service (self-contained HTML).
#[utoipa::path(get, path = "/report", tag = "model", responses((status = 200, description = "HTML report", content_type = "text/html"), (status = 404, description = "No report in the bundle", body = ApiError)))]
pub async fn report(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    file_response(&report_path(&st, "report.html")?)
}

pub async fn report_file(State(st): State<Arc<AppState>>, Path(file): Path<String>) -> Result<Response, ApiError> {
    file_response(&report_path(&st, &file)?)
}
