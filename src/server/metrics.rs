//! Prometheus metrics through `prometheus-client` (OpenMetrics text): requests and latency by
//! route (the router's matched path) and status, predictions and the score distribution, model
//! reloads, shed requests, panics, requests in flight, and, drawn from the model in service at
//! each scrape, its identity, readiness and per-field drift (PSI of its own window of recent
//! customers against its own training profile).

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

const LATENCY_BUCKETS: [f64; 14] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0];
const SCORE_BUCKETS: [f64; 10] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// Labels are the router's own route patterns (a fixed set, so no allocation per request).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: &'static str,
}

/// Every route pattern the router matches; anything else (404s) is `other`.
const ROUTES: [&str; 27] = [
    "/",
    "/healthz",
    "/readyz",
    "/version",
    "/ping",
    "/health",
    "/predict",
    "/invocations",
    "/model",
    "/metrics",
    "/admin/reload",
    "/openapi.json",
    "/docs",
    "/docs/",
    "/docs/{asset}",
    "/report",
    "/report/{file}",
    "/ui",
    "/ui/{asset}",
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/models/{name}",
    "/v2/models/{name}/ready",
    "/v2/models/{name}/infer",
    "/v2/models/{name}/versions/{version}",
    "/v2/models/{name}/versions/{version}/infer",
];

/// The metric label of a matched route pattern.
pub fn route_label(matched: Option<&str>) -> &'static str {
    match matched {
        Some("/ui/") => "/ui",
        Some(m) => ROUTES.iter().find(|r| **r == m).copied().unwrap_or("other"),
        None => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Label {
    label: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Field {
    field: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelInfo {
    name: String,
    version: String,
    run_id: String,
    uri: String,
    generation: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    latency: Family<Route, Histogram>,
    predictions: Family<Label, Counter>,
    scores: Histogram,
    reloads: Family<Outcome, Counter>,
    shed: Counter,
    panics: Counter,
    inflight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RouteStatus, Counter>::default();
        registry.register("churn_http_requests", "HTTP requests by route and status", requests.clone());
        let latency =
            Family::<Route, Histogram>::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS.iter().copied()));
        registry.register("churn_http_request_duration_seconds", "Request latency by route", latency.clone());
        let predictions = Family::<Label, Counter>::default();
        registry.register("churn_predictions", "Customers scored, by predicted label", predictions.clone());
        let scores = Histogram::new(SCORE_BUCKETS.iter().copied());
        registry.register("churn_prediction_score", "Distribution of churn probabilities served", scores.clone());
        let reloads = Family::<Outcome, Counter>::default();
        registry.register("churn_model_reloads", "Model reloads by result", reloads.clone());
        let shed = Counter::default();
        registry.register(
            "churn_requests_shed",
            "Scoring requests refused with 503 at the concurrency limit",
            shed.clone(),
        );
        let panics = Counter::default();
        registry.register(
            "churn_panics",
            "Requests that panicked (each answered 500; the server went on)",
            panics.clone(),
        );
        let inflight = Gauge::default();
        registry.register("churn_inflight_requests", "Scoring requests in progress", inflight.clone());
        Metrics { registry, requests, latency, predictions, scores, reloads, shed, panics, inflight }
    }
}

/// What a scrape reports about the model in service.
pub struct ModelView<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub run_id: &'a str,
    pub uri: &'a str,
    pub generation: u64,
    /// PSI per field of the model's window, and how many customers the window holds.
    pub drift: Option<(Vec<(String, f64)>, usize)>,
    pub ready: bool,
    pub uptime_seconds: f64,
}

/// Decrements the in-flight gauge when dropped, also when the request is abandoned (a client
/// that disconnects mid-request drops the future that holds it).
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    pub fn request(&self, route: &'static str, status: u16, seconds: f64) {
        self.requests.get_or_create(&RouteStatus { route, status }).inc();
        self.latency.get_or_create(&Route { route }).observe(seconds);
    }

    pub fn prediction(&self, probability: f32, churn: bool) {
        self.predictions.get_or_create(&Label { label: if churn { "churn" } else { "stay" } }).inc();
        self.scores.observe(probability as f64);
    }

    pub fn shed(&self) {
        self.shed.inc();
    }

    pub fn panic(&self) {
        self.panics.inc();
    }

    pub fn in_flight(&self) -> InFlight<'_> {
        self.inflight.inc();
        InFlight(&self.inflight)
    }

    pub fn inflight_now(&self) -> i64 {
        self.inflight.get()
    }

    pub fn reload(&self, ok: bool) {
        self.reloads.get_or_create(&Outcome { result: if ok { "ok" } else { "failed" } }).inc();
    }

    /// The OpenMetrics text of everything, the model in service included.
    pub fn render(&self, model: &ModelView) -> String {
        let mut now = Registry::default();
        let info = Family::<ModelInfo, Gauge>::default();
        info.get_or_create(&ModelInfo {
            name: model.name.to_string(),
            version: model.version.to_string(),
            run_id: model.run_id.to_string(),
            uri: model.uri.to_string(),
            generation: model.generation.to_string(),
        })
        .set(1);
        now.register("churn_model_info", "The model in service", info);
        let ready = Gauge::<i64>::default();
        ready.set(model.ready as i64);
        now.register("churn_ready", "1 when the server can score (what /readyz and / answer)", ready);
        let uptime = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        uptime.set(model.uptime_seconds);
        now.register("churn_uptime_seconds", "Seconds since start", uptime);
        if let Some((fields, customers)) = &model.drift {
            let psi = Family::<Field, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
            for (field, v) in fields {
                psi.get_or_create(&Field { field: field.clone() }).set(*v);
            }
            now.register(
                "churn_feature_drift_psi",
                "Population stability index of the recent customers against the training profile, per field (0.1 watch, 0.25 investigate)",
                psi,
            );
            let window = Gauge::<i64>::default();
            window.set(*customers as i64);
            now.register("churn_drift_window_customers", "Customers in the drift window", window);
        }
        let mut out = String::with_capacity(16 * 1024);
        let _ = encode_registry(&mut out, &self.registry);
        let _ = encode_registry(&mut out, &now);
        let _ = encode_eof(&mut out);
        out
    }
}
