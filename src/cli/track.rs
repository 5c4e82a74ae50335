//! `churn track`: log a model bundle to MLflow as a run (what `churn train` does after
//! training, and the way to upload a bundle again when tracking failed).

use super::CliError;
use crate::tracking::{self, LogOptions, TrackingUri, FILE_STORE_HINT};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone)]
pub struct TrackingArgs {
    /// MLflow tracking: sqlite:///<file>.db, a folder (a file store) or an http(s):// server.
    /// Default: where MLflow looks, sqlite:///mlflow.db here (or ./mlruns if a file store is there).
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: Option<String>,
    /// MLflow experiment (created when missing).
    #[arg(long, env = "MLFLOW_EXPERIMENT_NAME", default_value = "telco-churn")]
    pub experiment: String,
    /// Run name (default: <model name>-<UTC time>).
    #[arg(long)]
    pub run_name: Option<String>,
    /// Register the model under this name (a new version each run).
    #[arg(long)]
    pub register: Option<String>,
    /// Point this alias (e.g. champion) at the new version; needs --register.
    #[arg(long, requires = "register")]
    pub alias: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The bundle folder written by `churn train`.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub tracking: TrackingArgs,
}

pub fn run(a: Args) -> Result<(), CliError> {
    let start = crate::tracking::now_ms();
    log(&a.model, &a.tracking, start, Vec::new(), None)?;
    Ok(())
}

/// A run opened before training, with the store it lives in.
pub struct Opened {
    store: Box<dyn tracking::Store>,
    run: tracking::OpenRun,
}

/// Opens a RUNNING run for a training about to start (a distributed job's lead does).
#[cfg(feature = "train")]
pub fn open(t: &TrackingArgs, name: &str, start_ms: u64, tags: &[(String, String)]) -> Result<Opened, CliError> {
    let uri = TrackingUri::from_flag_or_env(t.tracking_uri.as_deref())?;
    let mut store = uri.open()?;
    let run_name = t.run_name.clone().unwrap_or_else(|| tracking::record::run_name(name, start_ms));
    let run = tracking::open_run(store.as_mut(), &t.experiment, &run_name, start_ms, tags)
        .map_err(|e| CliError::Tracking { message: e.to_string(), retry: String::new() })?;
    eprintln!("MLflow run {} opened in experiment '{}' ({})", run.run.id, run.experiment.name, store.describe());
    Ok(Opened { store, run })
}

/// Ends a run opened before training as FAILED, saying why.
#[cfg(feature = "train")]
pub fn fail(mut opened: Opened, reason: &str) {
    match tracking::fail_run(opened.store.as_mut(), &opened.run, reason) {
        Ok(()) => eprintln!("MLflow run {} marked FAILED", opened.run.run.id),
        Err(e) => eprintln!("warning: MLflow run {} could not be marked FAILED: {e}", opened.run.run.id),
    }
}

/// Marks a run opened before training FAILED from another thread (a distributed job stopped
/// by its tracker), through a store of its own.
#[cfg(feature = "train")]
pub fn failer(t: &TrackingArgs, opened: &Opened) -> crate::training::watch::OnStop {
    let (flag, run) = (t.tracking_uri.clone(), opened.run.clone());
    Box::new(move |why: &str| {
        let store = TrackingUri::from_flag_or_env(flag.as_deref())
            .map_err(|e| e.to_string())
            .and_then(|uri| uri.open().map_err(|e| e.to_string()));
        match store.and_then(|mut s| tracking::fail_run(s.as_mut(), &run, why).map_err(|e| e.to_string())) {
            Ok(()) => eprintln!("MLflow run {} marked FAILED", run.run.id),
            Err(e) => eprintln!("warning: MLflow run {} could not be marked FAILED: {e}", run.run.id),
        }
    })
}

/// Logs the bundle, records the run in it, and tells the user where it went.
pub fn log(
    dir: &Path,
    t: &TrackingArgs,
    start_ms: u64,
    extra_params: Vec<(String, String)>,
    opened: Option<Opened>,
) -> Result<tracking::Tracked, CliError> {
    let uri = TrackingUri::from_flag_or_env(t.tracking_uri.as_deref())?;
    let fail = |e: tracking::TrackingError| {
        CliError::Tracking {
        message: e.to_string(),
        retry: format!(
            "the model bundle is safe in {}; upload it again with:\n  churn track --model {} --tracking-uri {} --experiment {}{}{}",
            dir.display(),
            dir.display(),
            uri.display(),
            t.experiment,
            t.register.as_ref().map(|r| format!(" --register {r}")).unwrap_or_default(),
            t.alias.as_ref().map(|a| format!(" --alias {a}")).unwrap_or_default(),
        ),
    }
    };
    let (mut store, open) = match opened {
        Some(o) => (o.store, Some(o.run)),
        None => (uri.open().map_err(fail)?, None),
    };
    // A run opened before training keeps the name it was opened with.
    let opened_as = open.as_ref().map(|o| o.name.clone());
    let opts = LogOptions {
        experiment: &t.experiment,
        run_name: opened_as.as_deref().or(t.run_name.as_deref()),
        register: t.register.as_deref(),
        alias: t.alias.as_deref(),
        extra_params,
        start_ms,
    };
    let tracked = tracking::log_bundle_in(store.as_mut(), dir, &opts, open).map_err(fail)?;
    if let Some(why) = &tracked.unrecorded {
        eprintln!("warning: the run is complete in MLflow, but the bundle could not record it: {why}");
    }
    eprintln!(
        "tracked run {} in experiment '{}' ({}) at {} in {:.2} s; model {}{}",
        tracked.run.run_id,
        tracked.run.experiment_name,
        tracked.run.experiment_id,
        tracked.run.tracking_uri,
        tracked.seconds,
        tracked.model_uri,
        tracked
            .run
            .registered
            .as_ref()
            .map(|(n, v)| format!(
                ", registered as {n} version {v}{}",
                t.alias.as_ref().map(|a| format!(" (@{a})")).unwrap_or_default()
            ))
            .unwrap_or_default()
    );
    match &uri {
        TrackingUri::File(_) => eprintln!("note: {FILE_STORE_HINT}"),
        TrackingUri::Sqlite(db) => {
            let here = db.parent().is_none_or(|p| p.as_os_str().is_empty() || p == std::path::Path::new("."))
                && db.file_name().is_some_and(|n| n == "mlflow.db");
            if here {
                eprintln!("see it: `mlflow ui` in this folder (MLflow's default store)");
            } else {
                eprintln!("see it: mlflow ui --backend-store-uri {}", uri.display());
            }
        }
        TrackingUri::Server(u) => eprintln!("see it: {u}"),
    }
    Ok(tracked)
}
