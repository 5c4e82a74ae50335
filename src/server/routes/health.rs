//! Health: `GET /` (the ALB health check, with the model in service), liveness, readiness,
//! version, and MLflow's `/ping` and `/health`.

use crate::server::error::ApiError;
use crate::server::state::{AppState, Served};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use utoipa::ToSchema;

/// The model in service.
#[derive(Serialize, ToSchema)]
pub struct ModelStatus {
    pub name: String,
    /// Registered version, when the model came from the registry.
    pub version: Option<String>,
    /// The URI the server was started with (re-resolved on reload).
    pub uri: String,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
    pub threshold: f64,
    pub features: usize,
    pub trees: usize,
    /// `customer fields` (churn's pipeline) or `model columns` (a model without it).
    pub inputs: String,
    pub loaded_at: String,
    pub load_seconds: f64,
    /// 1 at start, +1 per successful reload.
    pub generation: u64,
}

impl ModelStatus {
    pub fn of(m: &Served) -> ModelStatus {
        let s = &m.scorer;
        ModelStatus {
            name: m.name(),
            version: m.version(),
            uri: s.source.uri.clone(),
            run_id: m.run_id(),
            model_id: s
                .source
                .model_id
                .clone()
                .or_else(|| s.model.metadata.as_ref().and_then(|x| x.run.as_ref()).and_then(|r| r.model_id.clone())),
            threshold: s.threshold(),
            features: s.n_features(),
            trees: s.model.forest.n_trees(),
            inputs: if s.model.pipeline().is_some() { "customer fields".into() } else { "model columns".into() },
            loaded_at: crate::tracking::iso_utc(m.loaded_at_ms),
            load_seconds: m.load_seconds,
            generation: m.generation,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `draining` after SIGTERM.
    pub status: String,
    pub model: ModelStatus,
    pub uptime_seconds: f64,
    pub churn_version: String,
    /// Why the last reload failed (the previous model kept serving), if it did.
    pub last_reload_error: Option<String>,
}

/// Health and the model in service (the load balancer's health check).
#[utoipa::path(get, path = "/", tag = "health", responses((status = 200, description = "Serving", body = Health)))]
pub async fn root(State(st): State<Arc<AppState>>) -> Json<Health> {
    let m = st.model.load();
    Json(Health {
        status: if st.ready.load(Ordering::Relaxed) { "ok".into() } else { "draining".into() },
        model: ModelStatus::of(&m),
        uptime_seconds: st.started.elapsed().as_secs_f64(),
        churn_version: env!("CARGO_PKG_VERSION").into(),
        last_reload_error: st.last_reload_error.lock().expect("reload error lock").clone(),
    })
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive")))]
pub async fn live() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], "{\"status\":\"alive\"}").into_response()
}

/// Readiness: a model is loaded and the server is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "Ready"), (status = 503, description = "Shutting down", body = ApiError)))]
pub async fn ready(State(st): State<Arc<AppState>>) -> Response {
    if st.ready.load(Ordering::Relaxed) {
        ([(header::CONTENT_TYPE, "application/json")], "{\"status\":\"ready\"}").into_response()
    } else {
        ApiError::draining().into_response()
    }
}

#[derive(Serialize, ToSchema)]
pub struct Version {
    pub churn: String,
    /// The MLflow scoring protocol `/invocations` follows.
    pub mlflow_protocol: String,
    /// The XGBoost version that saved the model in service.
    pub model_xgboost: String,
}

#[utoipa::path(get, path = "/version", tag = "health", responses((status = 200, description = "Versions", body = Version)))]
pub async fn version(State(st): State<Arc<AppState>>) -> Json<Version> {
    Json(Version {
        churn: env!("CARGO_PKG_VERSION").into(),
        mlflow_protocol: crate::bundle::mlmodel::MLFLOW_VERSION.into(),
        model_xgboost: st.model.load().scorer.model.forest.xgboost_version.clone(),
    })
}

/// MLflow's scoring-server health check (`/ping` and `/health`).
#[utoipa::path(get, path = "/ping", tag = "mlflow", responses((status = 200, description = "Healthy")))]
pub async fn mlflow_ping() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], "\n").into_response()
}
