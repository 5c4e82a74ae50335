//! An MLflow tracking server over its REST API: the sequence verified against MLflow 3.17.2,
//! one serde struct per request and answer. Artifacts go through the server's
//! `mlflow-artifacts` proxy (the default `--serve-artifacts`); models fetched from it are kept in
//! churn's cache ([`super::downloads`]).

use super::client::{encode, encode_path, Client, ErrorCode, Method};
use super::registry::{Place, Registry, RunModel, VersionRecord};
use super::{
    Batch, Evidence, Experiment, Metric, ModelDone, ModelHandle, NewModel, NewRun, NewVersion, RunHandle, RunStatus,
    Store, TrackingError,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: Option<String>,
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
    #[serde(default)]
    name: String,
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
    aliases: Vec<AliasEntry>,
}

#[derive(Deserialize)]
struct GetRegisteredModel {
    registered_model: RegisteredModel,
}

#[derive(Deserialize)]
struct FoundModelVersions {
    #[serde(default)]
    model_versions: Vec<ModelVersion>,
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

    /// The model folder behind a served artifact URI, from churn's cache or downloaded into it.
    fn download(&self, artifact_uri: &str) -> Result<PathBuf, TrackingError> {
        let root = self.proxy(artifact_uri)?;
        super::downloads::cached(self.base(), artifact_uri, |staging| {
            let n = self.download_tree(&root, staging)?;
            if n == 0 {
                return Err(TrackingError::NotFound(format!("{artifact_uri} on {} holds no files", self.base())));
            }
            Ok(())
        })
    }

    /// A run's info, or `None` when the server has no such run.
    fn run(&self, run_id: &str) -> Result<Option<RunInfo>, TrackingError> {
        Ok(absent(self.client.get::<GetRun>("runs/get", &[("run_id", run_id)]))?.map(|r| r.run.info))
    }

    /// Experiments and their latest runs, for "not found" messages.
    fn experiments_and_runs(&self) -> Vec<String> {
        let Ok(found) =
            self.client.post::<_, FoundExperiments>("experiments/search", &SearchExperiments { max_results: 20 })
        else {
            return vec!["(cannot list experiments)".into()];
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
        parts
    }

    /// Keeps where a run or model just created stores its artifacts (which must be reachable).
    fn remember(&mut self, id: String, artifact_uri: String) -> Result<String, TrackingError> {
        self.proxy(&artifact_uri)?;
        self.artifact_uris.insert(id.clone(), artifact_uri);
        Ok(id)
    }

    fn artifact_uri(&self, key: &str) -> Result<&str, TrackingError> {
        self.artifact_uris
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| self.client.err(None, format!("no artifact location known for {key}")))
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
            Err(e) if e.is_missing() => {}
            Err(e) => return Err(e),
        }
        let note = [("mlflow.note.content".to_string(), "Churn models trained by `churn train`.".to_string())];
        match self
            .client
            .post::<_, CreatedExperiment>("experiments/create", &CreateExperiment { name, tags: key_values(&note) })
        {
            Ok(created) => Ok(Experiment { id: created.experiment_id, name: name.to_string() }),
            // Created by someone else in the meantime.
            Err(TrackingError::Server { code: Some(ErrorCode::ResourceAlreadyExists), .. }) => {
                Ok(Experiment { id: by_name()?.experiment.experiment_id, name: name.to_string() })
            }
            Err(e) => Err(e),
        }
    }

    fn create_run(&mut self, exp: &Experiment, new: &NewRun) -> Result<RunHandle, TrackingError> {
        let NewRun { name, user, start_ms, tags } = *new;
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
        Ok(RunHandle { id: self.remember(info.run_id, info.artifact_uri)?, experiment_id: exp.id.clone() })
    }

    fn log_batch(&mut self, run: &RunHandle, batch: &Batch) -> Result<(), TrackingError> {
        let Batch { params, metrics, tags } = *batch;
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

    fn create_logged_model(&mut self, run: &RunHandle, new: &NewModel) -> Result<ModelHandle, TrackingError> {
        let NewModel { name, params, now_ms: _ } = *new;
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
        Ok(ModelHandle {
            id: self.remember(info.model_id, info.artifact_uri)?,
            experiment_id: run.experiment_id.clone(),
        })
    }

    fn log_model_artifact(&mut self, model: &ModelHandle, rel: &str, bytes: &[u8]) -> Result<(), TrackingError> {
        self.put_artifact(self.artifact_uri(&model.id)?, rel, bytes)
    }

    fn model_artifact_location(&self, model: &ModelHandle) -> String {
        self.artifact_uris.get(&model.id).cloned().unwrap_or_default()
    }

    fn finish_logged_model(&mut self, model: &ModelHandle, done: &ModelDone) -> Result<(), TrackingError> {
        let ModelDone { run, metrics, ready, now_ms: _ } = *done;
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

    fn register(&mut self, new: &NewVersion) -> Result<String, TrackingError> {
        let NewVersion { name, model, run } = *new;
        match self.client.post::<_, Done>("registered-models/create", &Name { name }) {
            Ok(_) => {}
            Err(TrackingError::Server { code: Some(ErrorCode::ResourceAlreadyExists), .. }) => {}
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

    fn set_version_evidence(&mut self, name: &str, version: &str, evidence: &Evidence) -> Result<(), TrackingError> {
        let Evidence { tags, description } = *evidence;
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
}

/// The answer, or `None` when MLflow says the thing asked for does not exist.
fn absent<T>(answer: Result<T, TrackingError>) -> Result<Option<T>, TrackingError> {
    match answer {
        Ok(found) => Ok(Some(found)),
        Err(e) if e.is_missing() => Ok(None),
        Err(e) => Err(e),
    }
}

impl Registry for RestStore {
    fn where_(&self) -> String {
        format!("the MLflow server {}", self.base())
    }

    fn run_artifacts(&self, run_id: &str) -> Result<Option<Place>, TrackingError> {
        Ok(self.run(run_id)?.map(|info| Place::of(&info.artifact_uri)))
    }

    fn run_models(&self, run_id: &str, name: Option<&str>) -> Result<Vec<RunModel>, TrackingError> {
        let Some(info) = self.run(run_id)? else { return Ok(Vec::new()) };
        // By name, as MLflow's client searches (not every server filters on source_run_id);
        // the run is checked here.
        let found: FoundLoggedModels = self.client.post(
            "logged-models/search",
            &SearchLoggedModels {
                experiment_ids: vec![&info.experiment_id],
                filter: name.map(|n| format!("name = '{}'", n.replace('\'', ""))),
                max_results: 100,
            },
        )?;
        Ok(found
            .models
            .into_iter()
            .filter(|m| m.info.source_run_id.as_deref() == Some(run_id))
            .map(|m| (m.info.model_id, m.info.name, Place::of(&m.info.artifact_uri)))
            .collect())
    }

    fn logged_model(&self, id: &str) -> Result<Option<Place>, TrackingError> {
        let found = absent(self.client.get::<GetLoggedModel>(&format!("logged-models/{}", encode(id)), &[]))?;
        Ok(found.map(|m| Place::of(&m.model.info.artifact_uri)))
    }

    fn registered_models(&self) -> Result<Vec<String>, TrackingError> {
        let found: FoundRegisteredModels = self.client.get("registered-models/search", &[("max_results", "1000")])?;
        Ok(found.registered_models.into_iter().map(|m| m.name).collect())
    }

    fn is_registered(&self, name: &str) -> Result<bool, TrackingError> {
        Ok(absent(self.client.get::<GetRegisteredModel>("registered-models/get", &[("name", name)]))?.is_some())
    }

    fn versions(&self, name: &str) -> Result<Vec<u64>, TrackingError> {
        let filter = format!("name = '{}'", name.replace('\'', ""));
        let found: FoundModelVersions =
            self.client.get("model-versions/search", &[("filter", &filter), ("max_results", "10000")])?;
        let mut versions: Vec<u64> = found.model_versions.iter().filter_map(|v| v.version.parse().ok()).collect();
        versions.sort_unstable();
        Ok(versions)
    }

    fn aliases(&self, name: &str) -> Result<Vec<(String, String)>, TrackingError> {
        let found: GetRegisteredModel = self.client.get("registered-models/get", &[("name", name)])?;
        Ok(found.registered_model.aliases.into_iter().map(|a| (a.alias, a.version)).collect())
    }

    fn version(&self, name: &str, version: &str) -> Result<VersionRecord, TrackingError> {
        let mv: GetModelVersion = self.client.get("model-versions/get", &[("name", name), ("version", version)])?;
        let storage = self
            .client
            .get::<DownloadUri>("model-versions/get-download-uri", &[("name", name), ("version", version)])
            .ok()
            .map(|d| Place::of(&d.artifact_uri));
        Ok(VersionRecord { source: mv.model_version.source, run_id: mv.model_version.run_id, storage })
    }

    fn inventory(&self) -> Result<Vec<String>, TrackingError> {
        Ok(self.experiments_and_runs())
    }

    fn listing(&self, place: &Place) -> Result<Vec<String>, TrackingError> {
        let uri = match place {
            Place::Here(dir) => return Ok(super::registry::names_in(dir)),
            Place::Served(uri) => uri,
        };
        let files = self.list(&self.proxy(uri)?)?.unwrap_or_default();
        Ok(files
            .iter()
            .filter_map(|f| f.path.rsplit('/').next().filter(|n| !n.is_empty()).map(str::to_string))
            .collect())
    }

    fn fetch(&self, place: &Place) -> Result<PathBuf, TrackingError> {
        match place {
            // A server with --no-serve-artifacts on a shared disk.
            Place::Here(dir) => Ok(dir.clone()),
            Place::Served(uri) => self.download(uri),
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
}
