//! What the server holds. The model in service is one generation ([`Served`]): the scorer and
//! everything its profile and schema size (the drift window, the OpenAPI document), swapped in
//! atomically as a whole, so a request works with one generation from start to end and a
//! reload can never mix two. Nothing on a request path can be poisoned into uselessness: the
//! drift window's lock is recovered after a panic, and everything else is atomics.

use crate::drift::Window;
use crate::scoring::Scorer;
use crate::server::metrics::Metrics;
use crate::tracking::TrackingUri;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
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
    pub default_reasons: usize,
    pub drain_timeout: Duration,
    /// Threads that score large batches off the async workers (the cores by default).
    pub scoring_threads: usize,
    /// Re-resolve the model URI this often and reload when it names another model (an alias
    /// moved): every task behind a balancer follows a promotion without a call. None: off.
    pub watch: Option<Duration>,
}

/// Customers in a model's drift window.
pub const DRIFT_WINDOW: usize = 5000;

/// Scoring failures in a row (500s, panics) after which the server says it is not ready.
pub const UNHEALTHY_AFTER: u32 = 5;

/// A lock that a panicking holder cannot disable: the data it guards stays usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One generation of the model in service.
pub struct Served {
    pub scorer: Scorer,
    pub loaded_at_ms: u64,
    pub load_seconds: f64,
    /// 1 for the model loaded at start, +1 per successful reload.
    pub generation: u64,
    /// The OpenAPI document for this model's schema.
    pub openapi: String,
    /// Recent customers, binned by this model's training profile.
    drift: Option<Mutex<Window>>,
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

    /// Adds validated customers to this generation's drift window.
    pub fn observe<'a>(&self, rows: impl Iterator<Item = &'a [f64]>) {
        if let (Some(window), Some(profile)) = (&self.drift, self.scorer.model.profile.as_ref()) {
            lock(window).observe(profile, rows);
        }
    }

    /// PSI per field, and how many customers the window holds.
    pub fn drift(&self) -> Option<(Vec<(String, f64)>, usize)> {
        let (window, profile) = (self.drift.as_ref()?, self.scorer.model.profile.as_ref()?);
        let w = lock(window);
        Some((w.psi(profile), w.len()))
    }
}

/// Whether the server can score: it says not ready after [`UNHEALTHY_AFTER`] scoring failures
/// in a row, and ready again after a success or a reload that passed its check.
#[derive(Default)]
pub struct ScoringHealth {
    failures_in_a_row: AtomicU32,
    last_failure: Mutex<Option<String>>,
}

impl ScoringHealth {
    pub fn succeeded(&self) {
        if self.failures_in_a_row.load(Ordering::Relaxed) != 0 {
            self.failures_in_a_row.store(0, Ordering::Relaxed);
        }
    }

    pub fn failed(&self, why: &str) {
        self.failures_in_a_row.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_failure) = Some(why.to_string());
    }

    pub fn can_score(&self) -> bool {
        self.failures_in_a_row.load(Ordering::Relaxed) < UNHEALTHY_AFTER
    }

    /// Why the server is not ready, when it is not.
    pub fn problem(&self) -> Option<String> {
        (!self.can_score()).then(|| {
            format!(
                "the last {} scoring requests failed (last: {})",
                self.failures_in_a_row.load(Ordering::Relaxed),
                lock(&self.last_failure).clone().unwrap_or_default()
            )
        })
    }
}

pub struct AppState {
    pub model: ArcSwap<Served>,
    pub config: ServeConfig,
    pub metrics: Metrics,
    pub started: Instant,
    /// Set when shutdown began: scoring answers 503 and readiness says so.
    pub draining: AtomicBool,
    pub health: ScoringHealth,
    /// Permits for scoring large batches on blocking threads: at most one batch per thread.
    pub cpu: Arc<tokio::sync::Semaphore>,
    reload_lock: tokio::sync::Mutex<()>,
    last_reload_error: Mutex<Option<String>>,
}

impl AppState {
    pub fn new(config: ServeConfig, served: Served) -> Arc<AppState> {
        Arc::new(AppState {
            cpu: Arc::new(tokio::sync::Semaphore::new(config.scoring_threads.max(1))),
            model: ArcSwap::from_pointee(served),
            config,
            metrics: Metrics::default(),
            started: Instant::now(),
            draining: AtomicBool::new(false),
            health: ScoringHealth::default(),
            reload_lock: tokio::sync::Mutex::new(()),
            last_reload_error: Mutex::new(None),
        })
    }

    /// Ready: not draining, and scoring works.
    pub fn ready(&self) -> Result<(), String> {
        if self.draining.load(Ordering::Relaxed) {
            return Err("the server is shutting down".into());
        }
        match self.health.problem() {
            Some(p) => Err(p),
            None => Ok(()),
        }
    }

    pub fn last_reload_error(&self) -> Option<String> {
        lock(&self.last_reload_error).clone()
    }

    /// Re-resolves the model URI (e.g. an alias that moved), loads and checks the model there,
    /// and swaps it in. A model that fails leaves the old one serving; the error is returned
    /// and remembered.
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
                let served = Arc::new(served);
                self.model.store(served.clone());
                *lock(&self.last_reload_error) = None;
                self.health.succeeded();
                self.metrics.reload(true);
                tracing::info!(
                    event = "model_reloaded",
                    uri = %served.scorer.source.uri,
                    generation = served.generation,
                    "model reloaded"
                );
                Ok(served)
            }
            Err(e) => {
                *lock(&self.last_reload_error) = Some(e.clone());
                self.metrics.reload(false);
                tracing::warn!(event = "model_reload_failed", error = %e, "model reload failed");
                Err(e)
            }
        }
    }
}

/// Why a model could not be put in service.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Load(#[from] crate::tracking::LoadError),
    #[error("{uri} loaded, but scoring its own example failed: {message}")]
    SelfCheck { uri: String, message: String },
}

/// Resolves and loads a model, and scores its own example customer with reasons before it may
/// serve: a model that cannot score never goes into service.
pub fn load(uri: &str, tracking: &TrackingUri, generation: u64) -> Result<Served, LoadError> {
    let start = Instant::now();
    let scorer = crate::tracking::load_scorer(uri, tracking)?;
    scorer.self_check().map_err(|message| LoadError::SelfCheck { uri: uri.to_string(), message })?;
    let openapi = super::openapi::document(&scorer);
    let drift = scorer.model.profile.as_ref().map(|p| Mutex::new(Window::new(p, DRIFT_WINDOW)));
    Ok(Served {
        scorer,
        loaded_at_ms: crate::tracking::now_ms(),
        load_seconds: start.elapsed().as_secs_f64(),
        generation,
        openapi,
        drift,
    })
}

pub use crate::scoring::panic_text;
