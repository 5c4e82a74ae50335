//! Health: `GET /` (the ALB health check, with the model in service), liveness, readiness,
//! version, and MLflow's `/ping` and `/health`.

use crate::server::error::ApiError;
use crate::server::state::{AppState, Served};
use axum::extract::State;
use axum::http::{header, StatusCode};
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
    /// `ok`; `draining` after SIGTERM, or `unhealthy` when scoring keeps failing (both 503).
    pub status: String,
    /// Why the server is not ready, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    pub model: ModelStatus,
    pub uptime_seconds: f64,
    pub churn_version: String,
    /// Why the last reload failed (the previous model kept serving), if it did.
    pub last_reload_error: Option<String>,
}

/// The load balancer's health check: 200 with the model in service while the server can score;
/// 503 (same body) while it drains after SIGTERM or when scoring keeps failing, so the load
/// balancer stops sending customers here and ECS replaces the task.
#[utoipa::path(get, path = "/", tag = "health", responses((status = 200, description = "Serving", body = Health), (status = 503, description = "Draining, or scoring keeps failing", body = Health)))]
pub async fn root(State(st): State<Arc<AppState>>) -> Response {
    let m = st.model.load();
    let ready = st.ready();
    let draining = st.draining.load(Ordering::Relaxed);
    let health = Health {
        status: match (&ready, draining) {
            (Ok(()), _) => "ok".into(),
            (Err(_), true) => "draining".into(),
            (Err(_), false) => "unhealthy".into(),
        },
        problem: ready.as_ref().err().cloned(),
        model: ModelStatus::of(&m),
        uptime_seconds: st.started.elapsed().as_secs_f64(),
        churn_version: env!("CARGO_PKG_VERSION").into(),
        last_reload_error: st.last_reload_error(),
    };
    let status = if ready.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(health)).into_response()
}

/// Liveness: the process runs and answers (whatever the model does; a restart would not help
/// a model that cannot score, readiness says that).
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive")))]
pub async fn live() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], "{\"status\":\"alive\"}").into_response()
}

/// Readiness: a model that passed its self-check is in service, the server is not shutting
/// down, and scoring works (fewer than 5 failures in a row).
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "Ready"), (status = 503, description = "Shutting down, or scoring keeps failing", body = ApiError)))]
pub async fn ready(State(st): State<Arc<AppState>>) -> Response {
    match st.ready() {
        Ok(()) => ([(header::CONTENT_TYPE, "application/json")], "{\"status\":\"ready\"}").into_response(),
        Err(_) if st.draining.load(Ordering::Relaxed) => ApiError::draining().into_response(),
        Err(why) => ApiError::not_ready(why).into_response(),
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
