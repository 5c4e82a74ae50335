//! What the server holds: the model in service (swapped atomically on reload), configuration,
//! metrics, the request log and the concurrency limit.

use super::log::RequestLog;
use super::metrics::Metrics;
use crate::scoring::Scorer;
use crate::tracking::LoadError;
use crate::tracking::TrackingUri;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub model_uri: String,
    pub tracking: TrackingUri,
    pub host: String,
    pub port: u16,
    pub max_concurrency: usize,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_batch_rows: usize,
    pub api_key: Option<String>,
    pub admin_key: Option<String>,
    pub log_requests: bool,
    pub default_reasons: usize,
    pub drain_timeout: Duration,
}

/// The model in service.
pub struct Served {
    pub scorer: Scorer,
    pub loaded_at_ms: u64,
    pub load_seconds: f64,
    /// 1 for the model loaded at start, +1 per successful reload.
    pub generation: u64,
}

impl Served {
    pub fn name(&self) -> String {
        self.scorer
            .source
            .name
            .clone()
            .or_else(|| self.scorer.model.metadata.as_ref().map(|m| m.name.clone()))
            .unwrap_or_else(|| "model".into())
    }

    pub fn version(&self) -> Option<String> {
        self.scorer.source.version.clone().or_else(|| {
            self.scorer
                .model
                .metadata
                .as_ref()
                .and_then(|m| m.run.as_ref())
                .and_then(|r| r.registered.as_ref())
                .map(|(_, v)| v.clone())
        })
    }

    pub fn run_id(&self) -> Option<String> {
        self.scorer.source.run_id.clone().or_else(|| self.scorer.model.run_id())
    }
}

pub struct AppState {
    pub model: ArcSwap<Served>,
    pub config: ServeConfig,
    pub metrics: Metrics,
    pub started: Instant,
    /// False once shutdown began: /readyz answers 503 so load balancers stop routing here.
    pub ready: AtomicBool,
    pub scoring_slots: tokio::sync::Semaphore,
    pub reload_lock: tokio::sync::Mutex<()>,
    pub last_reload_error: Mutex<Option<String>>,
    pub log: RequestLog,
    request_ids: AtomicU64,
    /// The OpenAPI document for the model in service (rebuilt on reload).
    pub openapi: ArcSwap<String>,
}

impl AppState {
    pub fn new(config: ServeConfig, served: Served) -> Arc<AppState> {
        let metrics = Metrics::default();
        metrics.reset_drift(served.scorer.model.profile.as_ref());
        let openapi = super::openapi::document(&served.scorer);
        Arc::new(AppState {
            scoring_slots: tokio::sync::Semaphore::new(config.max_concurrency),
            log: RequestLog::start(),
            model: ArcSwap::from_pointee(served),
            config,
            metrics,
            started: Instant::now(),
            ready: AtomicBool::new(true),
            reload_lock: tokio::sync::Mutex::new(()),
            last_reload_error: Mutex::new(None),
            request_ids: AtomicU64::new(1),
            openapi: ArcSwap::from_pointee(openapi),
        })
    }

    pub fn next_request_id(&self) -> u64 {
        self.request_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Re-resolves the model URI (e.g. an alias that moved) and swaps the model in. A model
    /// that fails to load leaves the old one serving; the error is returned and remembered.
    pub async fn reload(self: &Arc<Self>) -> Result<Arc<Served>, String> {
        let _guard = self.reload_lock.lock().await;
        let (uri, tracking) = (self.config.model_uri.clone(), self.config.tracking.clone());
        let generation = self.model.load().generation + 1;
        let loaded = tokio::task::spawn_blocking(move || load(&uri, &tracking, generation))
            .await
            .map_err(|e| format!("the loading task failed: {e}"))
            .and_then(|r| r.map_err(|e| e.to_string()));
        match loaded {
            Ok(served) => {
                self.metrics.reset_drift(served.scorer.model.profile.as_ref());
                self.openapi.store(Arc::new(super::openapi::document(&served.scorer)));
                let served = Arc::new(served);
                self.model.store(served.clone());
                *self.last_reload_error.lock().expect("reload error lock") = None;
                self.metrics.reload(true);
                self.log.event(
                    "model_reloaded",
                    &[("uri", &served.scorer.source.uri), ("generation", &served.generation.to_string())],
                );
                Ok(served)
            }
            Err(e) => {
                *self.last_reload_error.lock().expect("reload error lock") = Some(e.clone());
                self.metrics.reload(false);
                self.log.event("model_reload_failed", &[("error", &e)]);
                Err(e)
            }
        }
    }
}

/// Resolves and loads a model, timing it.
pub fn load(uri: &str, tracking: &TrackingUri, generation: u64) -> Result<Served, LoadError> {
    let start = Instant::now();
    let scorer = crate::tracking::load_scorer(uri, tracking)?;
    Ok(Served {
        scorer,
        loaded_at_ms: crate::tracking::now_ms(),
        load_seconds: start.elapsed().as_secs_f64(),
        generation,
    })
}
