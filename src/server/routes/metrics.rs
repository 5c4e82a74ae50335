//! `GET /metrics`: Prometheus text for the model in service.

use crate::server::metrics::ModelLabels;
use crate::server::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Prometheus metrics: requests and latency by route and status, predictions, the score
/// distribution, per-field drift (PSI) and the model in service.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let m = st.model.load();
    let name = m.name();
    let version = m.version().unwrap_or_default();
    let run_id = m.run_id().unwrap_or_default();
    let labels = ModelLabels {
        name: &name,
        version: &version,
        run_id: &run_id,
        uri: &m.scorer.source.uri,
        profile: m.scorer.model.profile.as_ref(),
    };
    let body = st.metrics.render(&labels, st.started.elapsed().as_secs_f64());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}
