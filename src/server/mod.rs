//! `churn serve`: the REST API and the web UI, transport only. Scoring, validation and the
//! model live in the library; this folder maps HTTP onto them (one file per resource) and
//! maps every error onto one JSON shape (`error.rs`).

pub mod error;
pub mod input;
mod log;
pub mod metrics;
pub mod openapi;
mod routes;
pub mod state;
mod ui;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
pub use state::{AppState, ServeConfig, Served};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start: {0}")]
    Load(#[from] crate::tracking::LoadError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("the server stopped: {0}")]
    Io(#[from] std::io::Error),
}

/// The whole HTTP surface for a state (used by `run` and by router tests without a socket).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(routes::health::root))
        .route("/healthz", get(routes::health::live))
        .route("/readyz", get(routes::health::ready))
        .route("/version", get(routes::health::version))
        .route("/ping", get(routes::health::mlflow_ping))
        .route("/health", get(routes::health::mlflow_ping))
        .route("/predict", post(routes::predict::predict))
        .route("/invocations", post(routes::invocations::invocations))
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
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), frame))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::internal("the request failed unexpectedly".into()).into_response()
        }))
        .with_state(state)
}

async fn fallback(req: Request) -> ApiError {
    ApiError::not_found(req.uri().path())
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::method_not_allowed(req.method().as_str(), req.uri().path())
}

fn is_scoring(path: &str) -> bool {
    path == "/predict" || path == "/invocations"
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

/// Around every request: id, API key on scoring routes, load shedding, timeout, metrics and
/// one JSON log line (id, route, status, latency; never customer fields).
async fn frame(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = st.next_request_id();
    let method = req.method().clone();
    let route = metrics::route_index(req.uri().path());
    let scoring = is_scoring(req.uri().path()) && method == Method::POST;
    let mut _permit = None;
    let response = if scoring && !st.ready.load(Ordering::Relaxed) {
        ApiError::draining().into_response()
    } else if scoring && st.config.api_key.as_deref().is_some_and(|k| !authorized(req.headers(), k)) {
        ApiError::unauthorized("this route needs the API key (CHURN_API_KEY)").into_response()
    } else {
        let shed = if scoring {
            match st.scoring_slots.try_acquire() {
                Ok(p) => {
                    _permit = Some(p);
                    false
                }
                Err(_) => true,
            }
        } else {
            false
        };
        if shed {
            st.metrics.shed();
            ApiError::overloaded(st.config.max_concurrency).into_response()
        } else {
            if scoring {
                st.metrics.inflight(1);
            }
            let r = match tokio::time::timeout(st.config.request_timeout, next.run(req)).await {
                Ok(r) => r,
                Err(_) => ApiError::timeout(st.config.request_timeout.as_millis() as u64).into_response(),
            };
            if scoring {
                st.metrics.inflight(-1);
            }
            r
        }
    };
    let mut response = response;
    let status = response.status().as_u16();
    let seconds = start.elapsed().as_secs_f64();
    st.metrics.request(route, status, seconds);
    response.headers_mut().insert("x-request-id", HeaderValue::from(id));
    if st.config.log_requests && route != metrics::route_index("/metrics") {
        let method = method.as_str();
        let route = metrics::ROUTES[route];
        st.log.write(|buf| {
            use std::io::Write as _;
            buf.extend_from_slice(b"{\"ts\":\"");
            log::timestamp(buf);
            let _ = writeln!(
                buf,
                "\",\"id\":{id},\"method\":\"{method}\",\"route\":\"{route}\",\"status\":{status},\"latency_ms\":{:.3}}}",
                seconds * 1e3
            );
        });
    }
    response
}

/// Loads the model (refusing to start when it cannot), binds, serves until SIGTERM/SIGINT,
/// reloads on SIGHUP, and drains in-flight requests before exiting.
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
        st.log.event(
            "started",
            &[
                ("listen", &local.to_string()),
                ("model_uri", &m.scorer.source.uri),
                ("model_dir", &m.scorer.source.dir.display().to_string()),
                ("load_seconds", &format!("{:.4}", m.load_seconds)),
                ("churn_version", env!("CARGO_PKG_VERSION")),
            ],
        );
    }
    let hup = st.clone();
    tokio::spawn(async move {
        let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while s.recv().await.is_some() {
            let _ = hup.reload().await;
        }
    });
    let drain = st.clone();
    let shutdown = async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        drain.ready.store(false, Ordering::Relaxed);
        drain.log.event("draining", &[("timeout_seconds", &drain.config.drain_timeout.as_secs().to_string())]);
        let limit = drain.config.drain_timeout;
        let log = drain.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            log.log.event("drain_timeout", &[]);
            log.log.flush();
            std::process::exit(1);
        });
    };
    axum::serve(listener, router(st.clone())).with_graceful_shutdown(shutdown).await?;
    st.log.event("stopped", &[]);
    st.log.flush();
    Ok(())
}
