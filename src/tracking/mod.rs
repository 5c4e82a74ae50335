//! MLflow: every training run tracked like a Python run, and models found by MLflow URIs.
//!
//! Three stores, one interface ([`Store`]): MLflow's own default, the SQLite database
//! `./mlflow.db` with artifacts in `./mlruns` (written in the pinned MLflow's schema), the MLflow
//! file store (a folder, MLflow's layout; its readers need `MLFLOW_ALLOW_FILE_STORE=true` since
//! 3.13), and any MLflow tracking server over its REST API. The contract was verified against
//! MLflow 3.17.2 (../shared/anchors/mlflow/README.md).
//!
//! A run is logged from a model bundle on disk ([`log_bundle`]), so `churn train` and
//! `churn track` (re-uploading a bundle whose tracking failed) are the same code path, and a
//! failed upload never loses the trained model.

pub mod client;
pub mod downloads;
pub mod filestore;
pub mod record;
pub mod registry;
pub mod rest;
pub mod sqlite;
pub mod uri;

use crate::bundle::RunInfo;
use std::path::{Path, PathBuf};

pub use uri::{resolve, ModelUri, Resolved};

/// MLflow's readers (>= 3.13) refuse the file store unless this is set.
pub const FILE_STORE_HINT: &str = "MLflow >= 3.13 reads a file store only with MLFLOW_ALLOW_FILE_STORE=true \
    (or convert it once: mlflow migrate-filestore --source ./mlruns --target sqlite:///mlflow.db)";

#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    #[error("tracking URI {uri:?} is not supported: use sqlite:///<file>.db (MLflow's database), a folder (a file store) or an http(s):// MLflow server")]
    UnsupportedUri { uri: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the MLflow store at {} cannot be used: {message}", path.display())]
    Store { path: PathBuf, message: String },
    #[error("MLflow server {url}: {message}")]
    Server { url: String, status: Option<u16>, code: Option<client::ErrorCode>, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("the model bundle at {}: {message}", path.display())]
    Bundle { path: PathBuf, message: String },
}

/// Why a model URI gave no model to score.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Resolve(#[from] TrackingError),
    #[error("{uri} resolved to {}, but the model there cannot be used: {source}", dir.display())]
    Bundle { uri: String, dir: PathBuf, source: crate::bundle::BundleError },
}

/// Resolves a model URI against a store and loads the model it points at, ready to score.
pub fn load_scorer(uri: &str, tracking: &TrackingUri) -> Result<crate::scoring::Scorer, LoadError> {
    let resolved = resolve(uri, tracking)?;
    let model = crate::bundle::open(&resolved.dir).map_err(|source| LoadError::Bundle {
        uri: uri.to_string(),
        dir: resolved.dir.clone(),
        source,
    })?;
    Ok(crate::scoring::Scorer::new(model, resolved))
}

impl TrackingError {
    /// Whether a server said the thing asked for does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(
            self,
            TrackingError::Server { code: Some(client::ErrorCode::ResourceDoesNotExist), .. }
                | TrackingError::Server { status: Some(404), .. }
        )
    }

    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrackingError + '_ {
        move |source| TrackingError::Io { path: path.to_path_buf(), source }
    }
}

/// Where runs go: `--tracking-uri`, else `MLFLOW_TRACKING_URI`, else where MLflow itself looks.
#[derive(Debug, Clone, PartialEq)]
pub enum TrackingUri {
    /// MLflow's SQLite database (`sqlite:///mlflow.db`).
    Sqlite(PathBuf),
    /// A file store folder.
    File(PathBuf),
    Server(String),
}

impl TrackingUri {
    pub fn parse(raw: &str) -> Result<TrackingUri, TrackingError> {
        let s = raw.trim();
        if s.starts_with("http://") || s.starts_with("https://") {
            return Ok(TrackingUri::Server(s.trim_end_matches('/').to_string()));
        }
        if let Some(p) = s.strip_prefix("sqlite:///") {
            // SQLAlchemy's spelling: sqlite:///relative.db, sqlite:////absolute/path.db.
            if p.is_empty() || p == ":memory:" {
                return Err(TrackingError::UnsupportedUri { uri: raw.to_string() });
            }
            return Ok(TrackingUri::Sqlite(PathBuf::from(p)));
        }
        if let Some(p) = s.strip_prefix("file://") {
            return Ok(TrackingUri::File(PathBuf::from(p)));
        }
        if let Some(p) = s.strip_prefix("file:") {
            return Ok(TrackingUri::File(PathBuf::from(p)));
        }
        if s.is_empty() || s.contains("://") || s.contains(':') && !s.starts_with('/') && !s.starts_with('.') {
            return Err(TrackingError::UnsupportedUri { uri: raw.to_string() });
        }
        Ok(TrackingUri::File(PathBuf::from(s)))
    }

    pub fn from_flag_or_env(flag: Option<&str>) -> Result<TrackingUri, TrackingError> {
        match flag.map(str::to_string).or_else(|| std::env::var("MLFLOW_TRACKING_URI").ok().filter(|v| !v.is_empty())) {
            Some(u) => TrackingUri::parse(&u),
            None => Ok(TrackingUri::default_here(Path::new("."))),
        }
    }

    /// Where MLflow's own tools look in `dir` when told nothing: `sqlite:///mlflow.db` (since
    /// MLflow 3.7), unless `mlruns` there already holds a file store (an experiment folder with
    /// a `meta.yaml`), which MLflow then keeps using.
    pub fn default_here(dir: &Path) -> TrackingUri {
        let mlruns = dir.join("mlruns");
        let file_store = std::fs::read_dir(&mlruns).is_ok_and(|rd| {
            rd.flatten().any(|e| {
                e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit())
                    && e.path().join("meta.yaml").is_file()
            })
        });
        if file_store {
            TrackingUri::File(mlruns)
        } else {
            TrackingUri::Sqlite(dir.join("mlflow.db"))
        }
    }

    /// The URI as MLflow spells it (what to give `mlflow ui --backend-store-uri`).
    pub fn display(&self) -> String {
        match self {
            TrackingUri::Sqlite(p) => format!("sqlite:///{}", p.display()),
            TrackingUri::File(p) => p.display().to_string(),
            TrackingUri::Server(u) => u.clone(),
        }
    }

    pub fn open(&self) -> Result<Box<dyn Store>, TrackingError> {
        Ok(match self {
            TrackingUri::Sqlite(p) => Box::new(sqlite::SqliteStore::open(p)?),
            TrackingUri::File(p) => Box::new(filestore::FileStore::open(p)?),
            TrackingUri::Server(u) => Box::new(rest::RestStore::from_env(u)),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunHandle {
    pub id: String,
    pub experiment_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelHandle {
    pub id: String,
    pub experiment_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RunStatus {
    Finished,
    Failed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub step: i64,
    pub timestamp: u64,
}

/// A run to create (MLflow's `runs/create`).
#[derive(Debug, Clone, Copy)]
pub struct NewRun<'a> {
    pub name: &'a str,
    pub user: &'a str,
    pub start_ms: u64,
    pub tags: &'a [(String, String)],
}

/// What one `log-batch` carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Batch<'a> {
    pub params: &'a [(String, String)],
    pub metrics: &'a [Metric],
    pub tags: &'a [(String, String)],
}

/// An MLflow 3 logged model to create from a run.
#[derive(Debug, Clone, Copy)]
pub struct NewModel<'a> {
    pub name: &'a str,
    pub params: &'a [(String, String)],
    pub now_ms: u64,
}

/// How a run's logged model ended: its metrics, READY or FAILED.
#[derive(Debug, Clone, Copy)]
pub struct ModelDone<'a> {
    pub run: &'a RunHandle,
    pub metrics: &'a [Metric],
    pub ready: bool,
    pub now_ms: u64,
}

/// A new version of a registered model (created when missing), from a run's logged model, by
/// this user now.
#[derive(Debug, Clone, Copy)]
pub struct NewVersion<'a> {
    pub name: &'a str,
    pub model: &'a ModelHandle,
    pub run: &'a RunHandle,
}

/// Evidence recorded on a model version: tags (added or replaced) and, when given, its
/// description.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub tags: &'a [(String, String)],
    pub description: Option<&'a str>,
}

/// What every store does: MLflow's database, a file store and a server. Writes follow MLflow's
/// Python client (minus its bookkeeping); reading models is the [`registry::Registry`].
pub trait Store {
    fn describe(&self) -> String;
    fn experiment(&mut self, name: &str) -> Result<Experiment, TrackingError>;
    fn create_run(&mut self, exp: &Experiment, new: &NewRun) -> Result<RunHandle, TrackingError>;
    fn log_batch(&mut self, run: &RunHandle, batch: &Batch) -> Result<(), TrackingError>;
    fn log_artifact(&mut self, run: &RunHandle, rel: &str, bytes: &[u8]) -> Result<(), TrackingError>;
    fn create_logged_model(&mut self, run: &RunHandle, new: &NewModel) -> Result<ModelHandle, TrackingError>;
    /// Stores a model file.
    fn log_model_artifact(&mut self, model: &ModelHandle, rel: &str, bytes: &[u8]) -> Result<(), TrackingError>;
    /// The model's artifact location (for the MLmodel file).
    fn model_artifact_location(&self, model: &ModelHandle) -> String;
    fn finish_logged_model(&mut self, model: &ModelHandle, done: &ModelDone) -> Result<(), TrackingError>;
    fn end_run(&mut self, run: &RunHandle, status: RunStatus, end_ms: u64) -> Result<(), TrackingError>;
    /// Returns the version created.
    fn register(&mut self, new: &NewVersion) -> Result<String, TrackingError>;
    fn set_alias(&mut self, name: &str, alias: &str, version: &str) -> Result<(), TrackingError>;
    /// The SQLite store writes tags and description in one transaction.
    fn set_version_evidence(&mut self, name: &str, version: &str, evidence: &Evidence) -> Result<(), TrackingError>;
}

/// What was tracked: the run as the bundle records it, the model's URI, and the time it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    pub run: RunInfo,
    pub model_uri: String,
    pub seconds: f64,
    /// Why the bundle could not be told where its run went (the run itself is complete).
    pub unrecorded: Option<String>,
}

/// `churn train --json`'s `tracked`: every key always present, `registered` null when not.
impl serde::Serialize for Tracked {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut m = s.serialize_struct("Tracked", 8)?;
        m.serialize_field("tracking_uri", &self.run.tracking_uri)?;
        m.serialize_field("experiment_id", &self.run.experiment_id)?;
        m.serialize_field("experiment_name", &self.run.experiment_name)?;
        m.serialize_field("run_id", &self.run.run_id)?;
        m.serialize_field("model_id", self.run.model_id.as_deref().unwrap_or_default())?;
        m.serialize_field("model_uri", &self.model_uri)?;
        m.serialize_field("registered", &self.run.registered)?;
        m.serialize_field("seconds", &self.seconds)?;
        m.end()
    }
}

pub struct LogOptions<'a> {
    pub experiment: &'a str,
    pub run_name: Option<&'a str>,
    pub register: Option<&'a str>,
    pub alias: Option<&'a str>,
    /// Extra key/values to log as params (the command line's settings).
    pub extra_params: Vec<(String, String)>,
    pub start_ms: u64,
}

/// A run opened before its bundle exists: a distributed job's lead opens it when the job
/// starts, so that a job that fails leaves a FAILED run in MLflow rather than nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenRun {
    pub experiment: Experiment,
    pub run: RunHandle,
    /// The name it was opened with, which the bundle's record keeps.
    pub name: String,
}

/// Opens a RUNNING run in `experiment` (created when missing).
pub fn open_run(
    store: &mut dyn Store,
    experiment: &str,
    run_name: &str,
    start_ms: u64,
    tags: &[(String, String)],
) -> Result<OpenRun, TrackingError> {
    let experiment = store.experiment(experiment)?;
    let user = current_user();
    let mut all = record::source_tags(run_name, &user);
    all.extend(tags.iter().cloned());
    let run = store.create_run(&experiment, &NewRun { name: run_name, user: &user, start_ms, tags: &all })?;
    Ok(OpenRun { experiment, run, name: run_name.to_string() })
}

/// Ends an open run as FAILED, with the reason as its `churn.error` tag.
pub fn fail_run(store: &mut dyn Store, open: &OpenRun, reason: &str) -> Result<(), TrackingError> {
    let reason: String = reason.chars().take(4000).collect();
    store.log_batch(&open.run, &Batch { tags: &[("churn.error".to_string(), reason)], ..Batch::default() })?;
    store.end_run(&open.run, RunStatus::Failed, now_ms())
}

/// Logs a bundle as a run: experiment, run, params/metrics/tags, the model as an MLflow 3
/// LoggedModel (all bundle files), reports as run artifacts, optional registration. On any
/// failure after the run exists, the run is marked FAILED before the error is returned.
pub fn log_bundle(store: &mut dyn Store, bundle_dir: &Path, opts: &LogOptions) -> Result<Tracked, TrackingError> {
    log_bundle_in(store, bundle_dir, opts, None)
}

/// [`log_bundle`] into a run opened earlier ([`open_run`]), or a new one.
pub fn log_bundle_in(
    store: &mut dyn Store,
    bundle_dir: &Path,
    opts: &LogOptions,
    open: Option<OpenRun>,
) -> Result<Tracked, TrackingError> {
    let started = std::time::Instant::now();
    let rec = record::RunRecord::from_bundle(bundle_dir, opts)?;
    let opened_earlier = open.is_some();
    let (exp, run) = match open {
        Some(o) => (o.experiment, o.run),
        None => {
            let exp = store.experiment(opts.experiment)?;
            let new = NewRun { name: &rec.run_name, user: &rec.user, start_ms: opts.start_ms, tags: &rec.tags };
            let run = store.create_run(&exp, &new)?;
            (exp, run)
        }
    };
    let result = (|| -> Result<(ModelHandle, RunInfo), TrackingError> {
        let tags: &[(String, String)] = if opened_earlier { &rec.tags } else { &[] };
        store.log_batch(&run, &Batch { params: &rec.params, metrics: &rec.metrics, tags })?;
        for (rel, bytes) in &rec.run_artifacts {
            store.log_artifact(&run, rel, bytes)?;
        }
        let now = now_ms();
        let model =
            store.create_logged_model(&run, &NewModel { name: "model", params: &rec.model_params, now_ms: now })?;
        let location = store.model_artifact_location(&model);
        let mut info = RunInfo {
            tracking_uri: store.describe(),
            experiment_id: exp.id.clone(),
            experiment_name: exp.name.clone(),
            run_id: run.id.clone(),
            model_id: Some(model.id.clone()),
            registered: None,
        };
        for (rel, bytes) in rec.model_files(&info, &location)? {
            store.log_model_artifact(&model, &rel, &bytes)?;
        }
        store.finish_logged_model(
            &model,
            &ModelDone { run: &run, metrics: &rec.model_metrics, ready: true, now_ms: now_ms() },
        )?;
        if let Some(name) = opts.register {
            let version = store.register(&NewVersion { name, model: &model, run: &run })?;
            if let Some(alias) = opts.alias {
                store.set_alias(name, alias, &version)?;
            }
            info.registered = Some((name.to_string(), version));
        }
        Ok((model, info))
    })();
    match result {
        Ok((model, info)) => {
            store.end_run(&run, RunStatus::Finished, now_ms())?;
            // The run is complete from here: a bundle that cannot be updated is said, not retried.
            let unrecorded = rec.record_in_bundle(&info).err().map(|e| e.to_string());
            Ok(Tracked {
                run: info,
                model_uri: format!("models:/{}", model.id),
                seconds: started.elapsed().as_secs_f64(),
                unrecorded,
            })
        }
        Err(e) => {
            let _ = store.end_run(&run, RunStatus::Failed, now_ms());
            Err(e)
        }
    }
}

/// Milliseconds since the epoch, as MLflow stamps runs, metrics and models.
pub fn now_ms() -> u64 {
    jiff::Timestamp::now().as_millisecond() as u64
}

/// `2026-11-26T12:00:00Z`.
pub fn iso_utc(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `2026-11-26 12:00:00.123000`, as MLflow writes `utc_time_created`.
pub fn mlflow_utc(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S%.6f").to_string())
        .unwrap_or_default()
}

/// Who runs this, as Python's `getpass.getuser()` finds it.
pub fn current_user() -> String {
    ["LOGNAME", "USER", "LNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .or_else(user_from_passwd)
        .unwrap_or_else(|| "unknown".into())
}

/// The login name of this process's uid, from /etc/passwd (what getpass falls back to).
fn user_from_passwd() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut parts = l.split(':');
        let name = parts.next()?;
        (parts.nth(1)? == uid).then(|| name.to_string())
    })
}

/// The git commit of the working directory's repository, when there is one.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && s.len() == 40).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_mlflow_writes_them() {
        assert_eq!(mlflow_utc(0), "1970-01-01 00:00:00.000000");
        assert_eq!(mlflow_utc(1_795_677_515_675), "2026-11-26 07:18:35.675000");
        assert_eq!(iso_utc(1_795_677_515_675), "2026-11-26T07:18:35Z");
    }
}
