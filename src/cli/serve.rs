//! `churn serve`: the flags of the server and the runtime it runs on.

use super::CliError;
use crate::server::{self, ServeConfig};
use crate::tracking::TrackingUri;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model: a bundle folder, runs:/<run_id>/model, models:/<name>/<version>,
    /// models:/<name>@<alias> or models:/m-<id>. Re-resolved on SIGHUP or POST /admin/reload.
    #[arg(long, env = "MODEL_URI")]
    pub model: String,
    /// MLflow tracking store or server that resolves runs:/ and models:/ URIs (default: MLflow's, sqlite:///mlflow.db here).
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: Option<String>,
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: String,
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
    /// Scoring requests in progress at once; beyond it, 503 with Retry-After.
    #[arg(long, env = "CHURN_MAX_CONCURRENCY", default_value_t = 1024)]
    pub max_concurrency: usize,
    /// Requests taking longer get 504.
    #[arg(long, env = "CHURN_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Larger bodies get 413.
    #[arg(long, env = "CHURN_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most customers per request (JSON array or CSV body).
    #[arg(long, env = "CHURN_MAX_BATCH_ROWS", default_value_t = 50_000)]
    pub max_batch_rows: usize,
    /// When set, /predict and /invocations need `Authorization: Bearer <key>` or `X-API-Key`.
    #[arg(long, env = "CHURN_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Key for POST /admin/reload (defaults to the API key; without either, only SIGHUP reloads).
    #[arg(long, env = "CHURN_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Reasons per prediction when the request does not say.
    #[arg(long, default_value_t = 5)]
    pub reasons: usize,
    /// No JSON log line per request on stdout (start, reload and shutdown events stay). The
    /// log follows RUST_LOG as well (e.g. RUST_LOG=warn, or RUST_LOG=churn::access=off).
    #[arg(long, env = "CHURN_QUIET")]
    pub quiet: bool,
    /// Seconds to finish in-flight requests after SIGTERM.
    #[arg(long, default_value_t = 30)]
    pub drain_seconds: u64,
    /// Worker threads (default: the cores this process may use).
    #[arg(long, env = "CHURN_THREADS")]
    pub threads: Option<usize>,
    /// Re-resolve the model URI every this many seconds and reload when it names another model
    /// (e.g. `@champion` moved by `churn challenge --promote`), so every task behind a load
    /// balancer follows a promotion; 0 = only on SIGHUP or POST /admin/reload.
    #[arg(long, env = "CHURN_WATCH_SECONDS", default_value_t = 0)]
    pub watch_seconds: u64,
}

impl Args {
    /// The flags' defaults for a model and tracking store (what the demo serves).
    pub fn defaults(model: &str, tracking_uri: Option<String>, port: u16) -> Args {
        Args {
            model: model.to_string(),
            tracking_uri,
            host: "0.0.0.0".into(),
            port,
            max_concurrency: 1024,
            request_timeout_ms: 10_000,
            max_body_bytes: 8 * 1024 * 1024,
            max_batch_rows: 50_000,
            api_key: None,
            admin_key: None,
            reasons: 5,
            quiet: false,
            drain_seconds: 30,
            threads: None,
            watch_seconds: 0,
        }
    }

    pub fn config(self) -> Result<ServeConfig, CliError> {
        let a = self;
        let tracking = TrackingUri::from_flag_or_env(a.tracking_uri.as_deref())?;
        Ok(ServeConfig {
            model_uri: a.model,
            tracking,
            host: a.host,
            port: a.port,
            max_concurrency: a.max_concurrency.max(1),
            request_timeout: Duration::from_millis(a.request_timeout_ms.max(1)),
            max_body_bytes: a.max_body_bytes,
            max_batch_rows: a.max_batch_rows.max(1),
            api_key: a.api_key.filter(|k| !k.is_empty()),
            admin_key: a.admin_key.filter(|k| !k.is_empty()),
            scoring_threads: a.threads.unwrap_or_else(crate::parallel::default_threads),
            default_reasons: a.reasons,
            drain_timeout: Duration::from_secs(a.drain_seconds),
            watch: (a.watch_seconds > 0).then(|| Duration::from_secs(a.watch_seconds)),
        })
    }
}

pub fn run(a: Args) -> Result<(), CliError> {
    let (threads, quiet) = (a.threads, a.quiet);
    serve(a.config()?, threads, quiet)
}

/// The server's log: JSON lines on stdout (CloudWatch reads them as structured events), through
/// a background writer so a slow pipe never holds up a request (lines beyond its buffer are
/// dropped, not waited for). RUST_LOG filters as usual; `quiet` turns the access log off.
fn log_to_stdout(quiet: bool) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::EnvFilter;
    let (writer, guard) = tracing_appender::non_blocking(std::io::stdout());
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if quiet {
        filter = filter.add_directive("churn::access=off".parse().expect("a valid directive"));
    }
    // A panic is one JSON log line (the request's own line adds its id), not a backtrace on
    // stderr: a stuck stderr must never hold up a worker, and CloudWatch reads JSON.
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let message = crate::server::state::panic_text(info.payload());
        tracing::error!(event = "panic", location = %location, panic = %message, "panicked");
    }));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .with_env_filter(filter)
        .with_writer(writer)
        .try_init();
    guard
}

/// Runs the server until it is stopped.
pub fn serve(config: ServeConfig, threads: Option<usize>, quiet: bool) -> Result<(), CliError> {
    let _log = log_to_stdout(quiet);
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(t) = threads {
        rt.worker_threads(t.max(1));
    }
    let rt = rt.build().map_err(|source| CliError::Io { context: "cannot start the async runtime".into(), source })?;
    rt.block_on(server::run(config)).map_err(CliError::Serve)
}
