//! An MLflow tracking server over its REST API: the sequence verified against MLflow 3.17.2,
//! one serde struct per request and answer. Artifacts go through the server's
//! `mlflow-artifacts` proxy (the default `--serve-artifacts`); models fetched from it are kept in
//! churn's cache (`<cache>/models`), reused while the same artifacts are asked for, and the
//! least recently used beyond [`KEEP_MODELS`] removed.

use super::client::{encode, encode_path, Client, Method};
use super::uri::{ModelUri, Resolved};
use super::{Experiment, Metric, ModelHandle, RunHandle, RunStatus, Store, TrackingError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Fetched models kept in the cache.
pub const KEEP_MODELS: usize = 16;

pub struct RestStore {
    client: Client,
    /// Artifact URI per run and per logged model created by this store.
    artifact_uris: HashMap<String, String>,
}

// ---- requests -----------------------------------------------------------------------------

#[derive(Serialize)]
struct KeyValue<'a> {
    key: &'a str,
    value: &'a str,
}

fn key_values(pairs: &[(String, String)]) -> Vec<KeyValue<'_>> {
    pairs.iter().map(|(k, v)| KeyValue { key: k, value: v }).collect()
}

#[derive(Serialize)]
struct CreateExperiment<'a> {
    name: &'a str,
    tags: Vec<KeyValue<'a>>,
}

#[derive(Serialize)]
struct CreateRun<'a> {
    experiment_id: &'a str,
    user_id: &'a str,
    run_name: &'a str,
    start_time: u64,
    tags: Vec<KeyValue<'a>>,
}

#[derive(Serialize)]
struct MetricOut<'a> {
    key: &'a str,
    /// A number, or the string "NaN" (JSON has no NaN).
    value: serde_json::Value,
    timestamp: u64,
    step: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_id: Option<&'a str>,
}

impl<'a> MetricOut<'a> {
    fn of(m: &'a Metric, model_id: Option<&'a str>) -> MetricOut<'a> {
        let value = if m.value.is_finite() { serde_json::json!(m.value) } else { serde_json::json!("NaN") };
        MetricOut { key: &m.key, value, timestamp: m.timestamp, step: m.step, model_id }
    }
}

#[derive(Serialize, Default)]
struct LogBatch<'a> {
    run_id: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    params: Vec<KeyValue<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    metrics: Vec<MetricOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<KeyValue<'a>>,
}

#[derive(Serialize)]
struct CreateLoggedModel<'a> {
    experiment_id: &'a str,
    name: &'a str,
    source_run_id: &'a str,
    model_type: &'a str,
    params: Vec<KeyValue<'a>>,
}

#[derive(Serialize)]
struct ModelOutput<'a> {
    model_id: &'a str,
    step: i64,
}

#[derive(Serialize)]
struct RunOutputs<'a> {
    run_id: &'a str,
    models: Vec<ModelOutput<'a>>,
}

#[derive(Serialize)]
struct UpdateLoggedModel<'a> {
    /// MLflow wants the id in the body as well as in the path.
    model_id: &'a str,
    status: &'a str,
}

#[derive(Serialize)]
struct UpdateRun<'a> {
    run_id: &'a str,
    status: &'a str,
    end_time: u64,
}

#[derive(Serialize)]
struct Name<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct CreateModelVersion<'a> {
    name: &'a str,
    source: String,
    run_id: &'a str,
    model_id: &'a str,
}

#[derive(Serialize)]
struct SetVersionTag<'a> {
    name: &'a str,
    version: &'a str,
    key: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct UpdateVersion<'a> {
    name: &'a str,
    version: &'a str,
    description: &'a str,
}

#[derive(Serialize)]
struct SetAlias<'a> {
    name: &'a str,
    alias: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
struct SearchLoggedModels<'a> {
    experiment_ids: Vec<&'a str>,
    filter: String,
    max_results: u32,
}

#[derive(Serialize)]
struct SearchExperiments {
    max_results: u32,
}

#[derive(Serialize)]
struct SearchRuns<'a> {
    experiment_ids: Vec<&'a str>,
    max_results: u32,
    order_by: Vec<&'a str>,
}

// ---- answers ------------------------------------------------------------------------------

/// An answer whose content does not matter (`{}`).
#[derive(Deserialize)]
struct Done {}

#[derive(Deserialize)]
struct ExperimentInfo {
    experiment_id: String,
    name: String,
}

#[derive(Deserialize)]
struct GetExperiment {
    experiment: ExperimentInfo,
}

#[derive(Deserialize)]
struct CreatedExperiment {
    experiment_id: String,
}

#[derive(Deserialize)]
struct RunInfo {
    run_id: String,
    #[serde(default)]
    run_name: String,
    experiment_id: String,
    artifact_uri: String,
    status: String,
}

#[derive(Deserialize)]
struct Run {
    info: RunInfo,
}

#[derive(Deserialize)]
struct GetRun {
    run: Run,
}

#[derive(Deserialize)]
struct LoggedModelInfo {
    model_id: String,
    artifact_uri: String,
    #[serde(default)]
    source_run_id: Option<String>,
}

#[derive(Deserialize)]
struct LoggedModel {
    info: LoggedModelInfo,
}

#[derive(Deserialize)]
struct GetLoggedModel {
    model: LoggedModel,
}

#[derive(Deserialize)]
struct FoundLoggedModels {
    #[serde(default)]
    models: Vec<LoggedModel>,
}

#[derive(Deserialize)]
struct ModelVersion {
    version: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    run_id: Option<String>,
}

#[derive(Deserialize)]
struct GetModelVersion {
    model_version: ModelVersion,
}

#[derive(Deserialize)]
struct AliasEntry {
    alias: String,
    version: String,
}

#[derive(Deserialize)]
struct RegisteredModel {
    name: String,
    #[serde(default)]
    latest_versions: Vec<ModelVersion>,
    #[serde(default)]
    aliases: Vec<AliasEntry>,
}

#[derive(Deserialize)]
struct GetRegisteredModel {
    registered_model: RegisteredModel,
}

#[derive(Deserialize)]
struct FoundRegisteredModels {
    #[serde(default)]
    registered_models: Vec<RegisteredModel>,
}

#[derive(Deserialize)]
struct FoundExperiments {
    #[serde(default)]
    experiments: Vec<ExperimentInfo>,
}

#[derive(Deserialize)]
struct FoundRuns {
    #[serde(default)]
    runs: Vec<Run>,
}

#[derive(Deserialize)]
struct DownloadUri {
    artifact_uri: String,
}

#[derive(Deserialize)]
struct ArtifactFile {
    path: String,
    #[serde(default)]
    is_dir: bool,
}

#[derive(Deserialize)]
struct ArtifactListing {
    #[serde(default)]
    files: Vec<ArtifactFile>,
}

/// `mlflow-artifacts:/1/<run>/artifacts` (optionally with `//host:port`) -> `1/<run>/artifacts`.
pub fn proxy_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("mlflow-artifacts:")?;
    let rest = match rest.strip_prefix("//") {
        Some(r) => r.split_once('/').map(|(_, p)| p).unwrap_or(""),
        None => rest.trim_start_matches('/'),
    };
    Some(rest.trim_matches('/').to_string())
}

impl RestStore {
    pub fn from_env(base: &str) -> RestStore {
        RestStore { client: Client::from_env(base), artifact_uris: HashMap::new() }
    }

    fn base(&self) -> &str {
        &self.client.base
    }

    fn proxy(&self, uri: &str) -> Result<String, TrackingError> {
        proxy_path(uri).ok_or_else(|| {
            self.client.err(
                None,
                format!("the server keeps artifacts at {uri}, which churn cannot reach; run the server with --serve-artifacts (the default) so artifacts go through its proxy"),
            )
        })
    }

    fn put_artifact(&self, artifact_uri: &str, rel: &str, bytes: &[u8]) -> Result<(), TrackingError> {
        let root = self.proxy(artifact_uri)?;
        let path = format!("/api/2.0/mlflow-artifacts/artifacts/{}/{}", encode_path(&root), encode_path(rel));
        let (status, body) = self.client.send(Method::Put, &path, Some(("application/octet-stream", bytes)))?;
        if (200..300).contains(&status) {
            return Ok(());
        }
        let hint = if status == 503 {
            " (is the server started with --no-serve-artifacts? churn uploads through the artifact proxy)"
        } else {
            ""
        };
        Err(self.client.err(
            Some(status),
            format!(
                "upload {path} failed: HTTP {status} {}{hint}",
                String::from_utf8_lossy(&body).chars().take(200).collect::<String>()
            ),
        ))
    }

    fn list(&self, proxy: &str) -> Result<Option<Vec<ArtifactFile>>, TrackingError> {
        let (status, body) = self.client.send(
            Method::Get,
            &format!("/api/2.0/mlflow-artifacts/artifacts?path={}", encode(proxy)),
            None,
        )?;
        if status != 200 {
            return Ok(None);
        }
        let listing: ArtifactListing = serde_json::from_slice(&body)
            .map_err(|e| self.client.err(Some(status), format!("cannot read the listing of {proxy}: {e}")))?;
        Ok(Some(listing.files))
    }

    /// Downloads every file below a proxy path into `dest`.
    fn download_tree(&self, root: &str, dest: &Path) -> Result<usize, TrackingError> {
        let mut count = 0;
        let mut stack = vec![String::new()];
        while let Some(sub) = stack.pop() {
            let path = if sub.is_empty() { root.to_string() } else { format!("{root}/{sub}") };
            let files =
                self.list(&path)?.ok_or_else(|| self.client.err(None, format!("cannot list artifacts at {path}")))?;
            for f in files {
                let name = f.path.rsplit('/').next().unwrap_or(&f.path);
                if name.is_empty() || name == "." || name == ".." {
                    continue;
                }
                let rel = if sub.is_empty() { name.to_string() } else { format!("{sub}/{name}") };
                if f.is_dir {
                    stack.push(rel);
                    continue;
                }
                let (status, bytes) = self.client.send(
                    Method::Get,
                    &format!("/api/2.0/mlflow-artifacts/artifacts/{}/{}", encode_path(root), encode_path(&rel)),
                    None,
                )?;
                if status != 200 {
                    return Err(self.client.err(Some(status), format!("cannot download {root}/{rel}: HTTP {status}")));
                }
                let target = dest.join(&rel);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(TrackingError::io(parent))?;
                }
                std::fs::write(&target, bytes).map_err(TrackingError::io(&target))?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// The model folder behind an artifact URI, from the cache or downloaded into it. A folder
    /// is complete or absent: downloads land in a staging folder that is renamed when done.
    fn fetch(&self, artifact_uri: &str) -> Result<PathBuf, TrackingError> {
        if let Some(local) = artifact_uri.strip_prefix("file://") {
            // A server with --no-serve-artifacts on a shared disk.
            return Ok(PathBuf::from(local));
        }
        let root = self.proxy(artifact_uri)?;
        let models = crate::cache::dir().join("models");
        let key = crate::table::hex(&Sha256::digest(format!("{}\n{artifact_uri}", self.base()).as_bytes()));
        let dest = models.join(&key[..32]);
        let done = dest.join(".churn-complete");
        if done.is_file() {
            // Touched, so the least recently used entries are the ones removed.
            let _ = std::fs::write(&done, artifact_uri);
            return Ok(dest);
        }
        std::fs::create_dir_all(&models).map_err(TrackingError::io(&models))?;
        let staging =
            tempfile::Builder::new().prefix(".download-").tempdir_in(&models).map_err(TrackingError::io(&models))?;
        let n = self.download_tree(&root, staging.path())?;
        if n == 0 {
            return Err(TrackingError::NotFound(format!("{artifact_uri} on {} holds no files", self.base())));
        }
        std::fs::write(staging.path().join(".churn-complete"), artifact_uri)
            .map_err(TrackingError::io(staging.path()))?;
        let staged = staging.keep();
        if std::fs::rename(&staged, &dest).is_err() {
            // Another process cached it first (or a broken entry is in the way): use a whole one.
            let _ = std::fs::remove_dir_all(&staged);
            if !done.is_file() {
                let _ = std::fs::remove_dir_all(&dest);
                return Err(self.client.err(None, format!("cannot cache {artifact_uri} in {}", dest.display())));
            }
        }
        prune(&models, KEEP_MODELS);
        Ok(dest)
    }

    fn logged_model_uri(&self, id: &str) -> Result<String, TrackingError> {
        let found: GetLoggedModel =
            self.client.get(&format!("logged-models/{}", encode(id)), &[]).map_err(|e| match e {
                TrackingError::Server { status: Some(404), .. } => {
                    TrackingError::NotFound(format!("no logged model {id} on the MLflow server {}", self.base()))
                }
                other => other,
            })?;
        Ok(found.model.info.artifact_uri)
    }

    fn run_model(&self, run_id: &str, path: &str) -> Result<(String, Option<String>), TrackingError> {
        let run: GetRun = self.client.get("runs/get", &[("run_id", run_id)]).map_err(|e| match e {
            TrackingError::Server { status: Some(404), .. } => TrackingError::NotFound(format!(
                "run {run_id} not found on the MLflow server {}. What is there: {}",
                self.base(),
                self.inventory()
            )),
            other => other,
        })?;
        let info = run.run.info;
        if let Some(root) = proxy_path(&info.artifact_uri) {
            if self.list(&format!("{root}/{path}"))?.is_some_and(|f| !f.is_empty()) {
                return Ok((format!("{}/{path}", info.artifact_uri), None));
            }
        }
        let found: FoundLoggedModels = self.client.post(
            "logged-models/search",
            &SearchLoggedModels {
                experiment_ids: vec![&info.experiment_id],
                filter: format!("name = '{}'", path.replace('\'', "")),
                max_results: 100,
            },
        )?;
        if let Some(m) = found.models.into_iter().find(|m| m.info.source_run_id.as_deref() == Some(run_id)) {
            return Ok((m.info.artifact_uri, Some(m.info.model_id)));
        }
        Err(TrackingError::NotFound(format!(
            "run {run_id} on {} has no model at '{path}' (no files under {}/{path}, and no logged model named '{path}' from this run in experiment {})",
            self.base(),
            info.artifact_uri,
            info.experiment_id
        )))
    }

    /// Experiments and their latest runs, for "not found" messages.
    fn inventory(&self) -> String {
        let Ok(found) =
            self.client.post::<_, FoundExperiments>("experiments/search", &SearchExperiments { max_results: 20 })
        else {
            return "(cannot list experiments)".into();
        };
        let mut parts = Vec::new();
        for e in found.experiments {
            let runs: Vec<Run> = self
                .client
                .post::<_, FoundRuns>(
                    "runs/search",
                    &SearchRuns {
                        experiment_ids: vec![&e.experiment_id],
                        max_results: 5,
                        order_by: vec!["attributes.start_time DESC"],
                    },
                )
                .map(|r| r.runs)
                .unwrap_or_default();
            let latest: Vec<String> =
                runs.iter().map(|r| format!("{} ({}, {})", r.info.run_id, r.info.run_name, r.info.status)).collect();
            parts.push(format!(
                "experiment '{}' ({}){}",
                e.name,
                e.experiment_id,
                if latest.is_empty() {
                    ": no runs".to_string()
                } else {
                    format!(", latest runs: {}", latest.join("; "))
                }
            ));
        }
        if parts.is_empty() {
            "no experiments".into()
        } else {
            parts.join(", ")
        }
    }

    fn not_registered(&self, e: TrackingError, name: &str, version: Option<&str>) -> TrackingError {
        match e {
            TrackingError::Server { status: Some(s), .. } if s == 404 || s == 400 => {
                let names: Vec<String> = self
                    .client
                    .get::<FoundRegisteredModels>("registered-models/search", &[("max_results", "100")])
                    .map(|f| f.registered_models.into_iter().map(|m| m.name).collect())
                    .unwrap_or_default();
                let what = match version {
                    Some(v) => format!("version {v} of registered model '{name}'"),
                    None => format!("registered model '{name}'"),
                };
                TrackingError::NotFound(format!(
                    "{what} not found on the MLflow server {} (registered models: {})",
                    self.base(),
                    if names.is_empty() { "none".into() } else { names.join(", ") }
                ))
            }
            other => other,
        }
    }

    fn version_dir(&self, name: &str, version: &str) -> Result<Resolved, TrackingError> {
        let mv: GetModelVersion = self
            .client
            .get("model-versions/get", &[("name", name), ("version", version)])
            .map_err(|e| self.not_registered(e, name, Some(version)))?;
        let (artifact_uri, model_id) = match ModelUri::parse(&mv.model_version.source) {
            Ok(ModelUri::LoggedModel { id }) => (self.logged_model_uri(&id)?, Some(id)),
            Ok(ModelUri::Run { run_id, path }) => self.run_model(&run_id, &path)?,
            _ => {
                let d: DownloadUri =
                    self.client.get("model-versions/get-download-uri", &[("name", name), ("version", version)])?;
                (d.artifact_uri, None)
            }
        };
        Ok(Resolved {
            dir: self.fetch(&artifact_uri)?,
            uri: format!("models:/{name}/{version}"),
            name: Some(name.into()),
            version: Some(version.into()),
            run_id: mv.model_version.run_id,
            model_id,
        })
    }

    fn artifact_uri(&self, key: &str) -> Result<&str, TrackingError> {
        self.artifact_uris
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| self.client.err(None, format!("no artifact location known for {key}")))
    }
}

/// Keeps the `keep` most recently used cache entries (complete ones; staging folders of
/// downloads that died are removed too once they are an hour old).
fn prune(models: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(models) else { return };
    let mut complete = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let used = std::fs::metadata(path.join(".churn-complete")).and_then(|m| m.modified());
        match used {
            Ok(t) => complete.push((t, path)),
            Err(_) => {
                let stale = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600));
                if stale {
                    let _ = std::fs::remove_dir_all(&path);
                }
            }
        }
    }
    complete.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (_, path) in complete.into_iter().skip(keep) {
        let _ = std::fs::remove_dir_all(path);
    }
}

impl Store for RestStore {
    fn describe(&self) -> String {
        self.base().to_string()
    }

    fn experiment(&mut self, name: &str) -> Result<Experiment, TrackingError> {
        let by_name = || self.client.get::<GetExperiment>("experiments/get-by-name", &[("experiment_name", name)]);
        match by_name() {
            Ok(found) => return Ok(Experiment { id: found.experiment.experiment_id, name: name.to_string() }),
            Err(TrackingError::Server { status: Some(404), .. }) => {}
            Err(e) => return Err(e),
        }
        let note = [("mlflow.note.content".to_string(), "Churn models trained by `churn train`.".to_string())];
        match self
            .client
            .post::<_, CreatedExperiment>("experiments/create", &CreateExperiment { name, tags: key_values(&note) })
        {
            Ok(created) => Ok(Experiment { id: created.experiment_id, name: name.to_string() }),
            // Created by someone else in the meantime.
            Err(TrackingError::Server { status: Some(400), message, .. })
                if message.contains("RESOURCE_ALREADY_EXISTS") =>
            {
                Ok(Experiment { id: by_name()?.experiment.experiment_id, name: name.to_string() })
            }
            Err(e) => Err(e),
        }
    }

    fn create_run(
        &mut self,
        exp: &Experiment,
        name: &str,
        user: &str,
        start_ms: u64,
        tags: &[(String, String)],
    ) -> Result<RunHandle, TrackingError> {
        let created: GetRun = self.client.post(
            "runs/create",
            &CreateRun {
                experiment_id: &exp.id,
                user_id: user,
                run_name: name,
                start_time: start_ms,
                tags: key_values(tags),
            },
        )?;
        let info = created.run.info;
        self.proxy(&info.artifact_uri)?;
        self.artifact_uris.insert(info.run_id.clone(), info.artifact_uri);
        Ok(RunHandle { id: info.run_id, experiment_id: exp.id.clone() })
    }

    fn log_batch(
        &mut self,
        run: &RunHandle,
        params: &[(String, String)],
        metrics: &[Metric],
        tags: &[(String, String)],
    ) -> Result<(), TrackingError> {
        // MLflow's limits per call: 100 params + tags, 1000 metrics.
        for chunk in params.chunks(100) {
            self.client.post::<_, Done>(
                "runs/log-batch",
                &LogBatch { run_id: &run.id, params: key_values(chunk), ..Default::default() },
            )?;
        }
        for chunk in tags.chunks(100) {
            self.client.post::<_, Done>(
                "runs/log-batch",
                &LogBatch { run_id: &run.id, tags: key_values(chunk), ..Default::default() },
            )?;
        }
        for chunk in metrics.chunks(1000) {
            let metrics = chunk.iter().map(|m| MetricOut::of(m, None)).collect();
            self.client
                .post::<_, Done>("runs/log-batch", &LogBatch { run_id: &run.id, metrics, ..Default::default() })?;
        }
        Ok(())
    }

    fn log_artifact(&mut self, run: &RunHandle, rel: &str, bytes: &[u8]) -> Result<(), TrackingError> {
        self.put_artifact(self.artifact_uri(&run.id)?, rel, bytes)
    }

    fn create_logged_model(
        &mut self,
        run: &RunHandle,
        name: &str,
        params: &[(String, String)],
        _now_ms: u64,
    ) -> Result<ModelHandle, TrackingError> {
        let created: GetLoggedModel = self.client.post(
            "logged-models",
            &CreateLoggedModel {
                experiment_id: &run.experiment_id,
                name,
                source_run_id: &run.id,
                model_type: "xgboost",
                params: key_values(params),
            },
        )?;
        let info = created.model.info;
        self.proxy(&info.artifact_uri)?;
        self.artifact_uris.insert(info.model_id.clone(), info.artifact_uri);
        Ok(ModelHandle { id: info.model_id, experiment_id: run.experiment_id.clone() })
    }

    fn log_model_artifact(&mut self, model: &ModelHandle, rel: &str, bytes: &[u8]) -> Result<(), TrackingError> {
        self.put_artifact(self.artifact_uri(&model.id)?, rel, bytes)
    }

    fn model_artifact_location(&self, model: &ModelHandle) -> String {
        self.artifact_uris.get(&model.id).cloned().unwrap_or_default()
    }

    fn finish_logged_model(
        &mut self,
        run: &RunHandle,
        model: &ModelHandle,
        metrics: &[Metric],
        ready: bool,
        _now_ms: u64,
    ) -> Result<(), TrackingError> {
        if !metrics.is_empty() {
            let metrics = metrics.iter().map(|m| MetricOut::of(m, Some(&model.id))).collect();
            self.client
                .post::<_, Done>("runs/log-batch", &LogBatch { run_id: &run.id, metrics, ..Default::default() })?;
        }
        self.client.post::<_, Done>(
            "runs/outputs",
            &RunOutputs { run_id: &run.id, models: vec![ModelOutput { model_id: &model.id, step: 0 }] },
        )?;
        let status = if ready { "LOGGED_MODEL_READY" } else { "LOGGED_MODEL_UPLOAD_FAILED" };
        self.client.call::<_, Done>(
            Method::Patch,
            &format!("logged-models/{}", encode(&model.id)),
            &[],
            Some(&UpdateLoggedModel { model_id: &model.id, status }),
        )?;
        Ok(())
    }

    fn end_run(&mut self, run: &RunHandle, status: RunStatus, end_ms: u64) -> Result<(), TrackingError> {
        let status = match status {
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
        };
        self.client.post::<_, Done>("runs/update", &UpdateRun { run_id: &run.id, status, end_time: end_ms })?;
        Ok(())
    }

    fn register(
        &mut self,
        name: &str,
        model: &ModelHandle,
        run: &RunHandle,
        _user: &str,
        _now_ms: u64,
    ) -> Result<String, TrackingError> {
        match self.client.post::<_, Done>("registered-models/create", &Name { name }) {
            Ok(_) => {}
            Err(TrackingError::Server { message, .. }) if message.contains("RESOURCE_ALREADY_EXISTS") => {}
            Err(e) => return Err(e),
        }
        let created: GetModelVersion = self.client.post(
            "model-versions/create",
            &CreateModelVersion { name, source: format!("models:/{}", model.id), run_id: &run.id, model_id: &model.id },
        )?;
        Ok(created.model_version.version)
    }

    fn set_alias(&mut self, name: &str, alias: &str, version: &str) -> Result<(), TrackingError> {
        self.client.post::<_, Done>("registered-models/alias", &SetAlias { name, alias, version })?;
        Ok(())
    }

    fn set_version_evidence(
        &mut self,
        name: &str,
        version: &str,
        tags: &[(String, String)],
        description: Option<&str>,
    ) -> Result<(), TrackingError> {
        for (key, value) in tags {
            self.client.post::<_, Done>("model-versions/set-tag", &SetVersionTag { name, version, key, value })?;
        }
        if let Some(description) = description {
            self.client.call::<_, Done>(
                super::client::Method::Patch,
                "model-versions/update",
                &[],
                Some(&UpdateVersion { name, version, description }),
            )?;
        }
        Ok(())
    }

    fn resolve(&self, uri: &ModelUri) -> Result<Resolved, TrackingError> {
        match uri {
            ModelUri::Path(p) => Ok(Resolved::local(p, &p.display().to_string())),
            ModelUri::LoggedModel { id } => Ok(Resolved::logged_model(self.fetch(&self.logged_model_uri(id)?)?, id)),
            ModelUri::Run { run_id, path } => {
                let (artifact_uri, model_id) = self.run_model(run_id, path)?;
                Ok(Resolved {
                    dir: self.fetch(&artifact_uri)?,
                    uri: format!("runs:/{run_id}/{path}"),
                    name: None,
                    version: None,
                    run_id: Some(run_id.clone()),
                    model_id,
                })
            }
            ModelUri::Alias { name, alias } => {
                let found: Result<GetModelVersion, _> =
                    self.client.get("registered-models/alias", &[("name", name), ("alias", alias)]);
                let mv = found.map_err(|e| match e {
                    TrackingError::Server { status: Some(400), ref message, .. } if message.contains("alias") => {
                        let aliases: Vec<String> = self
                            .client
                            .get::<GetRegisteredModel>("registered-models/get", &[("name", name)])
                            .map(|r| {
                                r.registered_model
                                    .aliases
                                    .iter()
                                    .map(|a| format!("@{} -> {}", a.alias, a.version))
                                    .collect()
                            })
                            .unwrap_or_default();
                        TrackingError::NotFound(format!(
                            "registered model '{name}' has no alias '{alias}' on the MLflow server {} (aliases: {})",
                            self.base(),
                            if aliases.is_empty() { "none".into() } else { aliases.join(", ") }
                        ))
                    }
                    other => self.not_registered(other, name, None),
                })?;
                let mut r = self.version_dir(name, &mv.model_version.version)?;
                r.uri = format!("models:/{name}@{alias}");
                Ok(r)
            }
            ModelUri::Latest { name } => {
                let found: GetRegisteredModel = self
                    .client
                    .get("registered-models/get", &[("name", name)])
                    .map_err(|e| self.not_registered(e, name, None))?;
                let latest = found
                    .registered_model
                    .latest_versions
                    .iter()
                    .filter_map(|v| v.version.parse::<u64>().ok())
                    .max()
                    .ok_or_else(|| {
                        TrackingError::NotFound(format!("registered model '{name}' has no versions on {}", self.base()))
                    })?;
                self.version_dir(name, &latest.to_string())
            }
            ModelUri::Version { name, version } => self.version_dir(name, version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths_drop_scheme_and_host() {
        assert_eq!(proxy_path("mlflow-artifacts:/1/abc/artifacts").unwrap(), "1/abc/artifacts");
        assert_eq!(
            proxy_path("mlflow-artifacts://host:5000/1/models/m-1/artifacts").unwrap(),
            "1/models/m-1/artifacts"
        );
        assert!(proxy_path("s3://bucket/x").is_none());
    }

    #[test]
    fn answers_missing_what_mlflow_always_sends_are_errors_not_empty_ids() {
        assert!(serde_json::from_str::<GetRun>(r#"{"run": {"info": {"experiment_id": "1"}}}"#).is_err());
        let ok: GetRun = serde_json::from_str(
            r#"{"run": {"info": {"run_id": "r", "experiment_id": "1", "artifact_uri": "mlflow-artifacts:/1/r/artifacts", "status": "RUNNING", "extra": 1}}}"#,
        )
        .unwrap();
        assert_eq!(ok.run.info.run_id, "r");
    }

    #[test]
    fn the_cache_keeps_the_most_recently_used_models() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..5 {
            let e = d.path().join(format!("m{i}"));
            std::fs::create_dir_all(&e).unwrap();
            std::fs::write(e.join(".churn-complete"), "x").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::fs::create_dir_all(d.path().join(".download-fresh")).unwrap();
        prune(d.path(), 2);
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        left.sort();
        assert_eq!(left, vec![".download-fresh", "m3", "m4"]);
    }
}
