//! Prometheus metrics, kept in atomics so recording a request costs a few nanoseconds:
//! requests and latency by route and status, predictions and the score distribution, model
//! reloads, and per-field drift (PSI of a window of recent customers against the training
//! profile in the bundle).

use crate::drift::Profile;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

pub const ROUTES: [&str; 16] = [
    "/",
    "/healthz",
    "/readyz",
    "/version",
    "/ping",
    "/health",
    "/predict",
    "/invocations",
    "/metrics",
    "/model",
    "/openapi.json",
    "/docs",
    "/admin/reload",
    "/ui",
    "/report",
    "other",
];
const STATUSES: [u16; 15] = [200, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 500, 503, 504, 0];
const LATENCY_BUCKETS: [f64; 14] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0];
const SCORE_BUCKETS: usize = 10;
/// Customers in the drift window.
pub const DRIFT_WINDOW: usize = 5000;

pub fn route_index(path: &str) -> usize {
    let p = if path.starts_with("/docs") {
        "/docs"
    } else if path.starts_with("/ui") {
        "/ui"
    } else if path.starts_with("/report") {
        "/report"
    } else {
        path
    };
    ROUTES.iter().position(|r| *r == p).unwrap_or(ROUTES.len() - 1)
}

fn status_index(code: u16) -> usize {
    STATUSES.iter().position(|&s| s == code).unwrap_or(STATUSES.len() - 1)
}

struct Latency {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

/// A sliding window of recent customers' bins, per field.
struct DriftWindow {
    bins: Vec<u16>,
    fields: usize,
    next: usize,
    filled: usize,
    counts: Vec<Vec<u64>>,
}

pub struct Metrics {
    requests: Vec<AtomicU64>,
    latency: Vec<Latency>,
    predictions: [AtomicU64; 2],
    scores: [AtomicU64; SCORE_BUCKETS],
    score_sum_micros: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    shed: AtomicU64,
    inflight: AtomicU64,
    drift: Mutex<Option<DriftWindow>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: (0..ROUTES.len() * STATUSES.len()).map(|_| AtomicU64::new(0)).collect(),
            latency: (0..ROUTES.len()).map(|_| Latency::default()).collect(),
            predictions: [AtomicU64::new(0), AtomicU64::new(0)],
            scores: std::array::from_fn(|_| AtomicU64::new(0)),
            score_sum_micros: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            inflight: AtomicU64::new(0),
            drift: Mutex::new(None),
        }
    }
}

/// What the rendering needs to know about the model in service.
pub struct ModelLabels<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub run_id: &'a str,
    pub uri: &'a str,
    pub profile: Option<&'a Profile>,
}

impl Metrics {
    pub fn request(&self, route: usize, status: u16, seconds: f64) {
        self.requests[route * STATUSES.len() + status_index(status)].fetch_add(1, Relaxed);
        let l = &self.latency[route];
        if let Some(b) = LATENCY_BUCKETS.iter().position(|&b| seconds <= b) {
            l.buckets[b].fetch_add(1, Relaxed);
        }
        l.count.fetch_add(1, Relaxed);
        l.sum_micros.fetch_add((seconds * 1e6) as u64, Relaxed);
    }

    pub fn prediction(&self, probability: f32, churn: bool) {
        self.predictions[churn as usize].fetch_add(1, Relaxed);
        let b = ((probability * SCORE_BUCKETS as f32) as usize).min(SCORE_BUCKETS - 1);
        self.scores[b].fetch_add(1, Relaxed);
        self.score_sum_micros.fetch_add((probability as f64 * 1e6) as u64, Relaxed);
    }

    pub fn shed(&self) {
        self.shed.fetch_add(1, Relaxed);
    }

    pub fn inflight(&self, delta: i64) {
        if delta >= 0 {
            self.inflight.fetch_add(delta as u64, Relaxed);
        } else {
            self.inflight.fetch_sub((-delta) as u64, Relaxed);
        }
    }

    pub fn reload(&self, ok: bool) {
        if ok {
            self.reloads_ok.fetch_add(1, Relaxed);
        } else {
            self.reloads_failed.fetch_add(1, Relaxed);
        }
    }

    /// Starts (or restarts, after a reload) the drift window for a profile.
    pub fn reset_drift(&self, profile: Option<&Profile>) {
        let w = profile.map(|p| DriftWindow {
            bins: vec![0; DRIFT_WINDOW * p.fields.len()],
            fields: p.fields.len(),
            next: 0,
            filled: 0,
            counts: p.fields.iter().map(|f| vec![0; f.bins.len()]).collect(),
        });
        *self.drift.lock().expect("drift lock") = w;
    }

    /// Adds customers' validated values to the drift window.
    pub fn observe(&self, profile: &Profile, rows: &[&[f64]]) {
        let mut guard = self.drift.lock().expect("drift lock");
        let Some(w) = guard.as_mut() else { return };
        if w.fields != profile.fields.len() {
            return;
        }
        for values in rows {
            let slot = w.next * w.fields;
            for (k, f) in profile.fields.iter().enumerate() {
                let b = f.bin_of(values[k]);
                if w.filled == DRIFT_WINDOW {
                    let old = w.bins[slot + k] as usize;
                    w.counts[k][old] -= 1;
                }
                w.bins[slot + k] = b as u16;
                w.counts[k][b] += 1;
            }
            w.next = (w.next + 1) % DRIFT_WINDOW;
            w.filled = (w.filled + 1).min(DRIFT_WINDOW);
        }
    }

    /// PSI per field over the window: (field, psi, customers in the window).
    pub fn drift(&self, profile: &Profile) -> Vec<(String, f64, usize)> {
        let guard = self.drift.lock().expect("drift lock");
        let Some(w) = guard.as_ref() else { return Vec::new() };
        profile
            .fields
            .iter()
            .zip(&w.counts)
            .filter_map(|(f, c)| f.psi(c).map(|psi| (f.name.clone(), psi, w.filled)))
            .collect()
    }

    pub fn render(&self, model: &ModelLabels, uptime: f64) -> String {
        let mut o = String::with_capacity(16 * 1024);
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', " ");
        let _ = writeln!(o, "# HELP churn_http_requests_total HTTP requests by route and status.\n# TYPE churn_http_requests_total counter");
        for (r, route) in ROUTES.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let n = self.requests[r * STATUSES.len() + s].load(Relaxed);
                if n > 0 {
                    let status = if *status == 0 { "other".to_string() } else { status.to_string() };
                    let _ = writeln!(o, "churn_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
                }
            }
        }
        let _ = writeln!(o, "# HELP churn_http_request_duration_seconds Request latency by route.\n# TYPE churn_http_request_duration_seconds histogram");
        for (r, route) in ROUTES.iter().enumerate() {
            let l = &self.latency[r];
            let count = l.count.load(Relaxed);
            if count == 0 {
                continue;
            }
            let mut cum = 0;
            for (b, le) in LATENCY_BUCKETS.iter().enumerate() {
                cum += l.buckets[b].load(Relaxed);
                let _ =
                    writeln!(o, "churn_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cum}");
            }
            let _ = writeln!(o, "churn_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(
                o,
                "churn_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                l.sum_micros.load(Relaxed) as f64 / 1e6
            );
            let _ = writeln!(o, "churn_http_request_duration_seconds_count{{route=\"{route}\"}} {count}");
        }
        let _ = writeln!(o, "# HELP churn_predictions_total Customers scored, by predicted label.\n# TYPE churn_predictions_total counter");
        let _ = writeln!(o, "churn_predictions_total{{label=\"stay\"}} {}", self.predictions[0].load(Relaxed));
        let _ = writeln!(o, "churn_predictions_total{{label=\"churn\"}} {}", self.predictions[1].load(Relaxed));
        let _ = writeln!(o, "# HELP churn_prediction_score Distribution of churn probabilities served.\n# TYPE churn_prediction_score histogram");
        let mut cum = 0;
        for (b, n) in self.scores.iter().enumerate() {
            cum += n.load(Relaxed);
            let _ = writeln!(
                o,
                "churn_prediction_score_bucket{{le=\"{:.1}\"}} {cum}",
                (b + 1) as f64 / SCORE_BUCKETS as f64
            );
        }
        let _ = writeln!(o, "churn_prediction_score_bucket{{le=\"+Inf\"}} {cum}");
        let _ = writeln!(o, "churn_prediction_score_sum {}", self.score_sum_micros.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(o, "churn_prediction_score_count {cum}");
        if let Some(p) = model.profile {
            let d = self.drift(p);
            let _ = writeln!(
                o,
                "# HELP churn_feature_drift_psi Population stability index of the last {DRIFT_WINDOW} customers against the training profile, per field (0.1 watch, 0.25 investigate).\n# TYPE churn_feature_drift_psi gauge"
            );
            for (field, psi, _) in &d {
                let _ = writeln!(o, "churn_feature_drift_psi{{field=\"{}\"}} {psi:.6}", esc(field));
            }
            let _ = writeln!(o, "# HELP churn_drift_window_customers Customers in the drift window.\n# TYPE churn_drift_window_customers gauge");
            let _ = writeln!(o, "churn_drift_window_customers {}", d.first().map(|x| x.2).unwrap_or(0));
        }
        let _ = writeln!(o, "# HELP churn_model_info The model in service.\n# TYPE churn_model_info gauge");
        let _ = writeln!(
            o,
            "churn_model_info{{name=\"{}\",version=\"{}\",run_id=\"{}\",uri=\"{}\"}} 1",
            esc(model.name),
            esc(model.version),
            esc(model.run_id),
            esc(model.uri)
        );
        let _ = writeln!(
            o,
            "# HELP churn_model_reloads_total Model reloads by result.\n# TYPE churn_model_reloads_total counter"
        );
        let _ = writeln!(o, "churn_model_reloads_total{{result=\"ok\"}} {}", self.reloads_ok.load(Relaxed));
        let _ = writeln!(o, "churn_model_reloads_total{{result=\"failed\"}} {}", self.reloads_failed.load(Relaxed));
        let _ = writeln!(o, "# HELP churn_requests_shed_total Scoring requests refused with 503 at the concurrency limit.\n# TYPE churn_requests_shed_total counter");
        let _ = writeln!(o, "churn_requests_shed_total {}", self.shed.load(Relaxed));
        let _ = writeln!(
            o,
            "# HELP churn_inflight_requests Scoring requests in progress.\n# TYPE churn_inflight_requests gauge"
        );
        let _ = writeln!(o, "churn_inflight_requests {}", self.inflight.load(Relaxed));
        let _ = writeln!(o, "# HELP churn_uptime_seconds Seconds since start.\n# TYPE churn_uptime_seconds gauge");
        let _ = writeln!(o, "churn_uptime_seconds {uptime:.3}");
        o
    }
}
