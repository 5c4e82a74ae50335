//! `churn serve`: the REST API and the web UI, transport only. Scoring, validation and the
//! model live in the library; this folder maps HTTP onto them (one file per resource) and
//! every error onto one JSON shape (`error.rs`).
//!
//! The request pipeline is built from tower and tower-http layers, outermost first:
//! request id (`x-request-id`, set or kept) → trace span → metrics and the access log by
//! matched route → catch-panic (one 500 in the API's error shape; the next request is served
//! normally) → a hard body limit → the route; scoring routes (`/predict`, `/invocations`,
//! the Open Inference Protocol's `infer`) add
//! load shedding over a concurrency limit (503 + `Retry-After`), a timeout (504), and the API key
//! and drain checks. Health routes are never shed.

pub mod error;
pub mod input;
pub mod metrics;
pub mod openapi;
mod routes;
pub mod state;
mod ui;
pub mod work;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
pub use state::{AppState, ServeConfig, Served};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start: {0}")]
    Load(#[from] state::LoadError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("the server stopped: {0}")]
    Io(#[from] std::io::Error),
}

/// Bodies beyond this are cut by the transport whatever the routes allow; the routes refuse
/// what is over `--max-body-bytes` themselves, with the API's error (see `input::read_body`).
const HARD_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Request ids: a counter, unless the client sent `x-request-id` (kept, as a proxy's id).
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        Some(RequestId::new(HeaderValue::from(id)))
    }
}

/// The panic as the API answers it: one 500 in the error shape, marked so that `observe` counts
/// it and logs it with the request id.
fn panic_response(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let mut r = ApiError::internal("the request failed unexpectedly".into()).into_response();
    r.extensions_mut().insert(Panicked(state::panic_text(&*payload)));
    r
}

#[derive(Clone)]
struct Panicked(String);

/// Scoring routes' layers: load shedding over the concurrency limit (503 + `Retry-After`), the
/// request timeout (504), and the drain and API-key checks.
fn scoring_layers(routes: Router<Arc<AppState>>, state: &Arc<AppState>) -> Router<Arc<AppState>> {
    let st = state.clone();
    routes.route_layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(move |e: tower::BoxError| {
                let st = st.clone();
                async move {
                    if e.is::<tower::load_shed::error::Overloaded>() {
                        st.metrics.shed();
                        ApiError::overloaded(st.config.max_concurrency)
                    } else if e.is::<tower::timeout::error::Elapsed>() {
                        ApiError::timeout(st.config.request_timeout.as_millis() as u64)
                    } else {
                        ApiError::internal(format!("the request failed: {e}"))
                    }
                }
            }))
            .load_shed()
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(state.config.max_concurrency))
            .timeout(state.config.request_timeout)
            .layer(axum::middleware::from_fn_with_state(state.clone(), admit)),
    )
}

/// The whole HTTP surface for a state (used by `run` and by router tests without a socket).
pub fn router(state: Arc<AppState>) -> Router {
    use routes::v2;
    let scoring = scoring_layers(
        Router::new()
            .route("/predict", post(routes::predict::predict))
            .route("/invocations", post(routes::invocations::invocations)),
        &state,
    );
    // The Open Inference Protocol: its errors in its own shape, whichever layer answers.
    let v2_scoring = scoring_layers(
        Router::new()
            .route("/v2/models/{name}/infer", post(v2::infer))
            .route("/v2/models/{name}/versions/{version}/infer", post(v2::infer_version)),
        &state,
    );
    let v2 = Router::new()
        .route("/v2", get(v2::server_metadata))
        .route("/v2/health/live", get(v2::live))
        .route("/v2/health/ready", get(v2::ready))
        .route("/v2/models/{name}", get(v2::model_metadata))
        .route("/v2/models/{name}/ready", get(v2::model_ready))
        .route("/v2/models/{name}/versions/{version}", get(v2::model_version_metadata))
        .route("/v2/models/{name}/versions/{version}/ready", get(v2::model_version_ready))
        .merge(v2_scoring)
        .route("/v2/{*rest}", axum::routing::any(v2::not_found))
        .route_layer(axum::middleware::map_response(v2::protocol_errors));
    Router::new()
        .route("/", get(routes::health::root))
        .route("/healthz", get(routes::health::live))
        .route("/readyz", get(routes::health::ready))
        .route("/version", get(routes::health::version))
        .route("/ping", get(routes::health::mlflow_ping))
        .route("/health", get(routes::health::mlflow_ping))
        .route("/model", get(routes::model::card))
        .route("/metrics", get(routes::metrics::metrics))
        .route("/admin/reload", post(routes::admin::reload))
        .route("/openapi.json", get(routes::docs::openapi_json))
        .route("/docs", get(routes::docs::docs_page))
        .route("/docs/", get(routes::docs::docs_page))
        .route("/docs/{asset}", get(routes::docs::asset))
        .route("/report", get(routes::model::report))
        .route("/report/{file}", get(routes::model::report_file))
        .route("/ui", get(ui::page))
        .route("/ui/", get(ui::page))
        .route("/ui/{asset}", get(ui::asset))
        .merge(scoring)
        .merge(v2)
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(Counter::default()))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(
                    tower_http::trace::TraceLayer::new_for_http()
                        .make_span_with(|req: &Request| {
                            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                            // At debug level: off unless RUST_LOG asks, so a request costs no span by default.
                            tracing::debug_span!("request", id = %id, method = %req.method())
                        })
                        .on_request(())
                        .on_response(())
                        .on_failure(()),
                )
                .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
                .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
                .layer(tower_http::limit::RequestBodyLimitLayer::new(HARD_BODY_LIMIT)),
        )
        .with_state(state)
}

async fn fallback(req: Request) -> ApiError {
    ApiError::not_found(req.uri().path())
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::method_not_allowed(req.method().as_str(), req.uri().path())
}

/// Constant-time comparison of a presented key with the configured one.
fn key_matches(presented: &[u8], expected: &str) -> bool {
    let expected = expected.as_bytes();
    if presented.len() != expected.len() {
        return false;
    }
    presented.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

pub fn presented_key(req_headers: &axum::http::HeaderMap) -> Option<Vec<u8>> {
    if let Some(v) = req_headers.get("x-api-key") {
        return Some(v.as_bytes().to_vec());
    }
    let auth = req_headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer "))?;
    Some(token.trim().as_bytes().to_vec())
}

pub fn authorized(headers: &axum::http::HeaderMap, key: &str) -> bool {
    presented_key(headers).is_some_and(|k| key_matches(&k, key))
}

/// Scoring routes only: refuse while draining, and without the API key when one is set.
async fn admit(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if st.draining.load(Ordering::Relaxed) {
        return ApiError::draining().into_response();
    }
    if st.config.api_key.as_deref().is_some_and(|k| !authorized(req.headers(), k)) {
        return ApiError::unauthorized("this route needs the API key (CHURN_API_KEY)").into_response();
    }
    next.run(req).await
}

fn is_scoring(route: &'static str) -> bool {
    matches!(
        route,
        "/predict" | "/invocations" | "/v2/models/{name}/infer" | "/v2/models/{name}/versions/{version}/infer"
    )
}

/// Metrics by matched route and status, requests in flight, scoring health, and one access-log
/// line (route, status, latency; never customer fields) under `churn::access`.
async fn observe(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = metrics::route_label(req.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let method = req.method().clone();
    let scoring = is_scoring(route);
    let _in_flight = scoring.then(|| st.metrics.in_flight());
    let response = next.run(req).await;
    let status = response.status();
    let seconds = start.elapsed().as_secs_f64();
    if let Some(Panicked(message)) = response.extensions().get::<Panicked>() {
        st.metrics.panic();
        tracing::error!(event = "panic", request_id = %id, route, panic = %message, "a request panicked; it answered 500 and the server goes on");
    }
    if scoring {
        match status.as_u16() {
            // Shedding, draining and timeouts are the server protecting itself, not failing.
            503 | 504 => {}
            500..=599 => st.health.failed(&format!("{route} answered {status}")),
            _ => st.health.succeeded(),
        }
    }
    st.metrics.request(route, status.as_u16(), seconds);
    if route != "/metrics" {
        tracing::info!(target: "churn::access", request_id = %id, method = %method, route, status = status.as_u16(), latency_ms = seconds * 1e3);
    }
    response
}

/// Every `every`, resolves the model URI again and reloads when it names another model than
/// the one in service (another registered version, run or logged model): a moved alias is
/// followed by every server that watches it. A URI that fails to resolve leaves the model in
/// service, and says so in the log.
async fn watch(st: Arc<AppState>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let (uri, tracking) = (st.config.model_uri.clone(), st.config.tracking.clone());
        let found = tokio::task::spawn_blocking(move || crate::tracking::resolve(&uri, &tracking)).await;
        let now = match found {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::warn!(event = "model_watch_failed", error = %e, "the model URI did not resolve; the model in service stays");
                continue;
            }
            Err(_) => continue,
        };
        let serving = st.model.load();
        let s = &serving.scorer.source;
        if (now.version.as_ref(), now.run_id.as_ref(), now.model_id.as_ref())
            != (s.version.as_ref(), s.run_id.as_ref(), s.model_id.as_ref())
        {
            tracing::info!(event = "model_moved", uri = %now.uri, version = ?now.version, "the model URI names another model; reloading");
            let _ = st.reload().await;
        }
    }
}

/// Loads the model (refusing to start, with the reason, when it cannot or when it fails its
/// self-check), binds, serves until SIGTERM/SIGINT, reloads on SIGHUP, and drains in-flight
/// requests before exiting.
pub async fn run(config: ServeConfig) -> Result<(), ServeError> {
    let (uri, tracking) = (config.model_uri.clone(), config.tracking.clone());
    let served =
        tokio::task::spawn_blocking(move || state::load(&uri, &tracking, 1)).await.expect("the loading task runs")?;
    let addr = format!("{}:{}", config.host, config.port);
    let listener =
        tokio::net::TcpListener::bind(&addr).await.map_err(|source| ServeError::Bind { addr: addr.clone(), source })?;
    let local = listener.local_addr()?;
    let st = AppState::new(config, served);
    {
        let m = st.model.load();
        tracing::info!(
            event = "started",
            listen = %local,
            model_uri = %m.scorer.source.uri,
            model_dir = %m.scorer.source.dir.display(),
            load_seconds = m.load_seconds,
            churn_version = env!("CARGO_PKG_VERSION"),
            "serving"
        );
    }
    let hup = st.clone();
    tokio::spawn(async move {
        let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while s.recv().await.is_some() {
            let _ = hup.reload().await;
        }
    });
    if let Some(every) = st.config.watch {
        tokio::spawn(watch(st.clone(), every));
    }
    let drain = st.clone();
    let shutdown = async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        drain.draining.store(true, Ordering::Relaxed);
        tracing::info!(event = "draining", timeout_seconds = drain.config.drain_timeout.as_secs(), "draining");
        let limit = drain.config.drain_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            tracing::warn!(event = "drain_timeout", "requests still in flight at the drain timeout; exiting");
            std::process::exit(1);
        });
    };
    axum::serve(listener, router(st.clone())).with_graceful_shutdown(shutdown).await?;
    tracing::info!(event = "stopped", "stopped");
    Ok(())
}
