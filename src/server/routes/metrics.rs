//! `GET /metrics`: Prometheus text for the model in service.

use crate::server::metrics::ModelView;
use crate::server::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Prometheus metrics (OpenMetrics text): requests and latency by route and status,
/// predictions, the score distribution, per-field drift (PSI), panics, readiness and the model
/// in service.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "OpenMetrics text format", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let m = st.model.load();
    let name = m.name();
    let version = m.version().unwrap_or_default();
    let run_id = m.run_id().unwrap_or_default();
    let view = ModelView {
        name: &name,
        version: &version,
        run_id: &run_id,
        uri: &m.scorer.source.uri,
        generation: m.generation,
        drift: m.drift(),
        ready: st.ready().is_ok(),
        uptime_seconds: st.started.elapsed().as_secs_f64(),
    };
    let body = st.metrics.render(&view);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}
