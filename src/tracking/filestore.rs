//! The MLflow file store (`./mlruns`), written in the layout MLflow 3.17.2 itself writes:
//! `<exp>/meta.yaml`, `<exp>/<run>/{meta.yaml, params/, metrics/, tags/, artifacts/, outputs/}`,
//! `<exp>/models/<m-id>/...` for MLflow 3 logged models, and `models/<name>/...` for the
//! registry. Readers ignore files they do not know (MLflow adds some when it opens a store).

use super::registry::{Place, Registry, RunModel, VersionRecord};
use super::{
    Batch, Evidence, Experiment, Metric, ModelDone, ModelHandle, NewModel, NewRun, NewVersion, RunHandle, RunStatus,
    Store, TrackingError,
};
use serde::Serialize;
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct FileStore {
    root: PathBuf,
}

fn file_uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// `<exp>/meta.yaml`.
#[derive(Serialize)]
struct ExperimentMeta<'a> {
    artifact_location: String,
    creation_time: u64,
    experiment_id: &'a str,
    last_update_time: u64,
    lifecycle_stage: &'static str,
    name: &'a str,
}

/// `<exp>/<run>/meta.yaml` (`tags: []` and the `source_*` keys are leftovers MLflow still writes).
#[derive(Serialize)]
struct RunMeta<'a> {
    artifact_uri: String,
    end_time: Option<u64>,
    entry_point_name: &'static str,
    experiment_id: &'a str,
    lifecycle_stage: &'static str,
    run_id: &'a str,
    run_name: &'a str,
    source_name: &'static str,
    source_type: u8,
    source_version: &'static str,
    start_time: u64,
    status: u8,
    tags: [u8; 0],
    user_id: &'a str,
}

/// `<exp>/models/<m-id>/meta.yaml`.
#[derive(Serialize)]
struct ModelMeta<'a> {
    artifact_location: String,
    creation_timestamp: u64,
    experiment_id: &'a str,
    last_updated_timestamp: u64,
    model_id: &'a str,
    model_type: Option<&'static str>,
    name: &'a str,
    source_run_id: &'a str,
    status: u8,
    status_message: Option<&'static str>,
}

/// `<exp>/<run>/outputs/<m-id>/meta.yaml`: the run -> logged model link.
#[derive(Serialize)]
struct OutputMeta<'a> {
    destination_id: &'a str,
    destination_type: &'static str,
    source_id: &'a str,
    source_type: &'static str,
    step: u8,
    tags: BTreeMap<String, String>,
}

/// `models/<name>/meta.yaml`.
#[derive(Serialize)]
struct RegisteredMeta<'a> {
    creation_timestamp: u64,
    deployment_job_id: Option<&'static str>,
    deployment_job_state: Option<&'static str>,
    description: Option<&'static str>,
    last_updated_timestamp: u64,
    name: &'a str,
    workspace: &'static str,
}

/// `models/<name>/version-<n>/meta.yaml` (`current_stage` is the string "None").
#[derive(Serialize)]
struct VersionMeta<'a> {
    creation_timestamp: u64,
    current_stage: &'static str,
    deployment_job_state: Option<&'static str>,
    description: Option<&'static str>,
    last_updated_timestamp: u64,
    model_id: &'a str,
    name: &'a str,
    run_id: &'a str,
    run_link: Option<&'static str>,
    source: String,
    status: &'static str,
    status_message: Option<&'static str>,
    storage_location: String,
    user_id: &'a str,
    version: u64,
    workspace: &'static str,
}

fn write_yaml<T: Serialize>(path: &Path, value: &T) -> Result<(), TrackingError> {
    write(path, &serde_yaml_ng::to_string(value).expect("MLflow metadata serialises"))
}

fn write(path: &Path, text: &str) -> Result<(), TrackingError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(TrackingError::io(parent))?;
    }
    std::fs::write(path, text).map_err(TrackingError::io(path))
}

fn read_yaml(path: &Path) -> Result<Yaml, TrackingError> {
    let text = std::fs::read_to_string(path).map_err(TrackingError::io(path))?;
    serde_yaml_ng::from_str(&text)
        .map_err(|e| TrackingError::Store { path: path.to_path_buf(), message: e.to_string() })
}

fn ystr(v: &Yaml, key: &str) -> Option<String> {
    match v.get(key)? {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Keys become file names; MLflow allows `/` (sub-folders) but nothing that climbs out.
fn safe_key(key: &str) -> Result<&str, TrackingError> {
    let ok = !key.is_empty()
        && key.len() <= 250
        && !key.split('/').any(|part| part.is_empty() || part == "." || part == "..")
        && key.chars().all(|c| c.is_alphanumeric() || " _-./:".contains(c));
    if ok {
        Ok(key)
    } else {
        Err(TrackingError::NotFound(format!("invalid MLflow key {key:?} (letters, digits, _ - . / : and spaces)")))
    }
}

/// A new experiment id: decimal digits, as MLflow makes them (a random 18-digit number).
fn experiment_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    let n = u64::from_str_radix(&hex[..15], 16).unwrap_or(1);
    format!("{}", 100_000_000_000_000_000 + n % 800_000_000_000_000_000)
}

impl FileStore {
    /// Opens (creating when absent) a file store; the root becomes absolute, as MLflow's URIs are.
    pub fn open(root: &Path) -> Result<FileStore, TrackingError> {
        let fresh = !root.exists();
        std::fs::create_dir_all(root).map_err(TrackingError::io(root))?;
        let root = root.canonicalize().map_err(TrackingError::io(root))?;
        let store = FileStore { root };
        if fresh {
            // MLflow creates the Default experiment 0 when it makes a store.
            let now = crate::tracking::now_ms();
            let dir = store.root.join("0");
            write_yaml(
                &dir.join("meta.yaml"),
                &ExperimentMeta {
                    artifact_location: file_uri(&dir),
                    creation_time: now,
                    experiment_id: "0",
                    last_update_time: now,
                    lifecycle_stage: "active",
                    name: "Default",
                },
            )?;
            std::fs::create_dir_all(store.root.join(".trash")).map_err(TrackingError::io(&store.root))?;
        }
        Ok(store)
    }

    /// Opens an existing store for reading, without creating anything.
    pub fn existing(root: &Path) -> Result<FileStore, TrackingError> {
        if !root.is_dir() {
            return Err(TrackingError::NotFound(format!("there is no MLflow file store at {}", root.display())));
        }
        Ok(FileStore { root: root.canonicalize().map_err(TrackingError::io(root))? })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// (id, name, folder) of every active experiment.
    pub fn experiments(&self) -> Result<Vec<(String, String, PathBuf)>, TrackingError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(TrackingError::io(&self.root))?.flatten() {
            let dir = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if !name.bytes().all(|b| b.is_ascii_digit()) || !dir.join("meta.yaml").exists() {
                continue;
            }
            let meta = read_yaml(&dir.join("meta.yaml"))?;
            if ystr(&meta, "lifecycle_stage").as_deref() == Some("deleted") {
                continue;
            }
            out.push((name, ystr(&meta, "name").unwrap_or_default(), dir));
        }
        out.sort();
        Ok(out)
    }

    fn run_dir(&self, run: &RunHandle) -> PathBuf {
        self.root.join(&run.experiment_id).join(&run.id)
    }

    fn model_dir(&self, model: &ModelHandle) -> PathBuf {
        self.root.join(&model.experiment_id).join("models").join(&model.id)
    }

    /// Finds a run folder by id in any experiment.
    pub fn find_run(&self, run_id: &str) -> Result<Option<(String, PathBuf)>, TrackingError> {
        for (id, _, dir) in self.experiments()? {
            let d = dir.join(run_id);
            if d.join("meta.yaml").exists() {
                return Ok(Some((id, d)));
            }
        }
        Ok(None)
    }

    /// Finds a logged model's artifact folder by id in any experiment.
    pub fn find_logged_model(&self, model_id: &str) -> Result<Option<PathBuf>, TrackingError> {
        for (_, _, dir) in self.experiments()? {
            let d = dir.join("models").join(model_id);
            if d.join("meta.yaml").exists() {
                let meta = read_yaml(&d.join("meta.yaml"))?;
                let loc =
                    ystr(&meta, "artifact_location").map(|l| local_path(&l)).unwrap_or_else(|| d.join("artifacts"));
                return Ok(Some(loc));
            }
        }
        Ok(None)
    }

    /// Logged models of an experiment: (model id, name, source run id, artifact folder).
    pub fn logged_models(&self, exp_dir: &Path) -> Result<Vec<(String, String, String, PathBuf)>, TrackingError> {
        let mut out = Vec::new();
        let models = exp_dir.join("models");
        if !models.is_dir() {
            return Ok(out);
        }
        for entry in std::fs::read_dir(&models).map_err(TrackingError::io(&models))?.flatten() {
            let d = entry.path();
            if !d.join("meta.yaml").exists() {
                continue;
            }
            let meta = read_yaml(&d.join("meta.yaml"))?;
            out.push((
                ystr(&meta, "model_id").unwrap_or_default(),
                ystr(&meta, "name").unwrap_or_default(),
                ystr(&meta, "source_run_id").unwrap_or_default(),
                ystr(&meta, "artifact_location").map(|l| local_path(&l)).unwrap_or_else(|| d.join("artifacts")),
            ));
        }
        out.sort();
        Ok(out)
    }

    /// Runs of an experiment, newest first: (run id, run name, status).
    pub fn runs(&self, exp_dir: &Path) -> Result<Vec<(String, String, String)>, TrackingError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(exp_dir).map_err(TrackingError::io(exp_dir))?.flatten() {
            let d = entry.path();
            if entry.file_name() == "models" || !d.join("meta.yaml").exists() {
                continue;
            }
            let meta = read_yaml(&d.join("meta.yaml"))?;
            let status = match meta.get("status").and_then(Yaml::as_i64) {
                Some(1) => "RUNNING",
                Some(3) => "FINISHED",
                Some(4) => "FAILED",
                Some(5) => "KILLED",
                _ => "UNKNOWN",
            };
            let start = meta.get("start_time").and_then(Yaml::as_u64).unwrap_or(0);
            out.push((
                start,
                ystr(&meta, "run_id").unwrap_or_default(),
                ystr(&meta, "run_name").unwrap_or_default(),
                status.to_string(),
            ));
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.0));
        Ok(out.into_iter().map(|(_, a, b, c)| (a, b, c)).collect())
    }

    fn registry_dir(&self, name: &str) -> PathBuf {
        self.root.join("models").join(name)
    }

    /// Registered model names.
    pub fn registered_models(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join("models"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().join("meta.yaml").exists())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Versions of a registered model, ascending.
    pub fn versions(&self, name: &str) -> Vec<u64> {
        let mut v: Vec<u64> = std::fs::read_dir(self.registry_dir(name))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        e.file_name().to_string_lossy().strip_prefix("version-").and_then(|n| n.parse().ok())
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    pub fn aliases(&self, name: &str) -> Vec<(String, String)> {
        let mut a: Vec<(String, String)> = std::fs::read_dir(self.registry_dir(name).join("aliases"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().to_string(),
                            std::fs::read_to_string(e.path()).unwrap_or_default().trim().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        a.sort();
        a
    }
}

/// A `file://` URI (or plain path) as a local path.
pub fn local_path(uri: &str) -> PathBuf {
    PathBuf::from(uri.strip_prefix("file://").or_else(|| uri.strip_prefix("file:")).unwrap_or(uri))
}

impl Store for FileStore {
    fn describe(&self) -> String {
        file_uri(&self.root)
    }

    fn experiment(&mut self, name: &str) -> Result<Experiment, TrackingError> {
        if let Some((id, name, _)) = self.experiments()?.into_iter().find(|(_, n, _)| n == name) {
            return Ok(Experiment { id, name });
        }
        let id = experiment_id();
        let dir = self.root.join(&id);
        let now = crate::tracking::now_ms();
        write_yaml(
            &dir.join("meta.yaml"),
            &ExperimentMeta {
                artifact_location: file_uri(&dir),
                creation_time: now,
                experiment_id: &id,
                last_update_time: now,
                lifecycle_stage: "active",
                name,
            },
        )?;
        write(&dir.join("tags").join("mlflow.note.content"), "Churn models trained by `churn train`.")?;
        Ok(Experiment { id, name: name.to_string() })
    }

    fn create_run(&mut self, exp: &Experiment, new: &NewRun) -> Result<RunHandle, TrackingError> {
        let NewRun { name, user, start_ms, tags } = *new;
        let run = RunHandle { id: uuid::Uuid::new_v4().simple().to_string(), experiment_id: exp.id.clone() };
        let dir = self.run_dir(&run);
        for sub in ["metrics", "params", "tags", "artifacts"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(TrackingError::io(&dir))?;
        }
        write_run_meta(&dir, &run, name, user, start_ms, None, 1)?;
        for (k, v) in tags {
            write(&dir.join("tags").join(safe_key(k)?), v)?;
        }
        Ok(run)
    }

    fn log_batch(&mut self, run: &RunHandle, batch: &Batch) -> Result<(), TrackingError> {
        let Batch { params, metrics, tags } = *batch;
        let dir = self.run_dir(run);
        for (k, v) in params {
            let p = dir.join("params").join(safe_key(k)?);
            if let Ok(old) = std::fs::read_to_string(&p) {
                if &old != v {
                    return Err(TrackingError::Store {
                        path: p,
                        message: format!("param {k} already logged as {old:?}; changing params is not allowed"),
                    });
                }
            }
            write(&p, v)?;
        }
        append_metrics(&dir.join("metrics"), metrics, None)?;
        for (k, v) in tags {
            write(&dir.join("tags").join(safe_key(k)?), v)?;
        }
        Ok(())
    }

    fn log_artifact(&mut self, run: &RunHandle, rel: &str, bytes: &[u8]) -> Result<(), TrackingError> {
        let p = self.run_dir(run).join("artifacts").join(safe_key(rel)?);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(TrackingError::io(parent))?;
        }
        std::fs::write(&p, bytes).map_err(TrackingError::io(&p))
    }

    fn create_logged_model(&mut self, run: &RunHandle, new: &NewModel) -> Result<ModelHandle, TrackingError> {
        let NewModel { name, params, now_ms } = *new;
        let model = ModelHandle {
            id: format!("m-{}", uuid::Uuid::new_v4().simple()),
            experiment_id: run.experiment_id.clone(),
        };
        let dir = self.model_dir(&model);
        for sub in ["artifacts", "metrics", "params", "tags"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(TrackingError::io(&dir))?;
        }
        write_model_meta(&dir, &model, name, &run.id, now_ms, now_ms, 1)?;
        for (k, v) in params {
            write(&dir.join("params").join(safe_key(k)?), v)?;
        }
        write(&dir.join("tags").join("mlflow.source.name"), "churn train")?;
        write(&dir.join("tags").join("mlflow.source.type"), "LOCAL")?;
        Ok(model)
    }

    fn log_model_artifact(&mut self, model: &ModelHandle, rel: &str, bytes: &[u8]) -> Result<(), TrackingError> {
        let p = self.model_dir(model).join("artifacts").join(safe_key(rel)?);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(TrackingError::io(parent))?;
        }
        std::fs::write(&p, bytes).map_err(TrackingError::io(&p))
    }

    fn model_artifact_location(&self, model: &ModelHandle) -> String {
        file_uri(&self.model_dir(model).join("artifacts"))
    }

    fn finish_logged_model(&mut self, model: &ModelHandle, done: &ModelDone) -> Result<(), TrackingError> {
        let ModelDone { run, metrics, ready, now_ms } = *done;
        let dir = self.model_dir(model);
        let meta = read_yaml(&dir.join("meta.yaml"))?;
        let created = meta.get("creation_timestamp").and_then(Yaml::as_u64).unwrap_or(now_ms);
        let name = ystr(&meta, "name").unwrap_or_else(|| "model".into());
        write_model_meta(&dir, model, &name, &run.id, created, now_ms, if ready { 2 } else { 3 })?;
        append_metrics(&dir.join("metrics"), metrics, Some(&run.id))?;
        write_yaml(
            &self.run_dir(run).join("outputs").join(&model.id).join("meta.yaml"),
            &OutputMeta {
                destination_id: &model.id,
                destination_type: "MODEL_OUTPUT",
                source_id: &model.id,
                source_type: "RUN_OUTPUT",
                step: 0,
                tags: BTreeMap::new(),
            },
        )
    }

    fn end_run(&mut self, run: &RunHandle, status: RunStatus, end_ms: u64) -> Result<(), TrackingError> {
        let dir = self.run_dir(run);
        let meta = read_yaml(&dir.join("meta.yaml"))?;
        let start = meta.get("start_time").and_then(Yaml::as_u64).unwrap_or(end_ms);
        let name = ystr(&meta, "run_name").unwrap_or_default();
        let user = ystr(&meta, "user_id").unwrap_or_default();
        let code = match status {
            RunStatus::Finished => 3,
            RunStatus::Failed => 4,
        };
        write_run_meta(&dir, run, &name, &user, start, Some(end_ms), code)
    }

    fn register(&mut self, new: &NewVersion) -> Result<String, TrackingError> {
        let NewVersion { name, model, run } = *new;
        let (user, now_ms) = (super::current_user(), super::now_ms());
        safe_key(name)?;
        let dir = self.registry_dir(name);
        if !dir.join("meta.yaml").exists() {
            write_yaml(
                &dir.join("meta.yaml"),
                &RegisteredMeta {
                    creation_timestamp: now_ms,
                    deployment_job_id: None,
                    deployment_job_state: None,
                    description: None,
                    last_updated_timestamp: now_ms,
                    name,
                    workspace: "default",
                },
            )?;
        }
        let version = self.versions(name).last().copied().unwrap_or(0) + 1;
        write_yaml(
            &dir.join(format!("version-{version}")).join("meta.yaml"),
            &VersionMeta {
                creation_timestamp: now_ms,
                current_stage: "None",
                deployment_job_state: None,
                description: None,
                last_updated_timestamp: now_ms,
                model_id: &model.id,
                name,
                run_id: &run.id,
                run_link: None,
                source: format!("models:/{}", model.id),
                status: "READY",
                status_message: None,
                storage_location: self.model_artifact_location(model),
                user_id: &user,
                version,
                workspace: "default",
            },
        )?;
        write(
            &self.model_dir(model).join("tags").join("mlflow.modelVersions"),
            &serde_json::json!([{"name": name, "version": version.to_string()}]).to_string(),
        )?;
        Ok(version.to_string())
    }

    fn set_alias(&mut self, name: &str, alias: &str, version: &str) -> Result<(), TrackingError> {
        write(&self.registry_dir(name).join("aliases").join(safe_key(alias)?), version)
    }

    fn set_version_evidence(&mut self, name: &str, version: &str, evidence: &Evidence) -> Result<(), TrackingError> {
        let Evidence { tags, description } = *evidence;
        let dir = self.registry_dir(name).join(format!("version-{version}"));
        let meta = dir.join("meta.yaml");
        if !meta.exists() {
            return Err(TrackingError::NotFound(format!(
                "model {name} has no version {version} in {}",
                self.root.display()
            )));
        }
        for (k, v) in tags {
            write(&dir.join("tags").join(safe_key(k)?), v)?;
        }
        if let Some(d) = description {
            let text = std::fs::read_to_string(&meta).map_err(TrackingError::io(&meta))?;
            let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
                .map_err(|e| TrackingError::Store { path: meta.clone(), message: e.to_string() })?;
            doc["description"] = serde_yaml_ng::Value::String(d.to_string());
            doc["last_updated_timestamp"] = serde_yaml_ng::Value::from(crate::tracking::now_ms());
            // Written whole to a temporary file and renamed: a kill leaves the old or the new.
            let tmp = dir.join("meta.yaml.tmp");
            write(&tmp, &serde_yaml_ng::to_string(&doc).expect("YAML serialises"))?;
            std::fs::rename(&tmp, &meta).map_err(TrackingError::io(&meta))?;
        }
        Ok(())
    }
}

impl Registry for FileStore {
    fn where_(&self) -> String {
        format!("the MLflow file store {}", self.root.display())
    }

    fn run_artifacts(&self, run_id: &str) -> Result<Option<Place>, TrackingError> {
        Ok(self.find_run(run_id)?.map(|(_, dir)| Place::Here(dir.join("artifacts"))))
    }

    fn run_models(&self, run_id: &str, _: Option<&str>) -> Result<Vec<RunModel>, TrackingError> {
        let Some((_, run_dir)) = self.find_run(run_id)? else { return Ok(Vec::new()) };
        let exp_dir = run_dir.parent().expect("a run folder sits in its experiment");
        Ok(self
            .logged_models(exp_dir)?
            .into_iter()
            .filter(|(_, _, src, _)| src == run_id)
            .map(|(id, name, _, dir)| (id, name, Place::Here(dir)))
            .collect())
    }

    fn logged_model(&self, id: &str) -> Result<Option<Place>, TrackingError> {
        Ok(self.find_logged_model(id)?.map(Place::Here))
    }

    fn registered_models(&self) -> Result<Vec<String>, TrackingError> {
        Ok(FileStore::registered_models(self))
    }

    fn versions(&self, name: &str) -> Result<Vec<u64>, TrackingError> {
        Ok(FileStore::versions(self, name))
    }

    fn aliases(&self, name: &str) -> Result<Vec<(String, String)>, TrackingError> {
        Ok(FileStore::aliases(self, name))
    }

    fn version(&self, name: &str, version: &str) -> Result<VersionRecord, TrackingError> {
        let meta = read_yaml(&self.registry_dir(name).join(format!("version-{version}")).join("meta.yaml"))?;
        Ok(VersionRecord {
            source: ystr(&meta, "source").unwrap_or_default(),
            run_id: ystr(&meta, "run_id").filter(|r| !r.is_empty()),
            storage: ystr(&meta, "storage_location").map(|l| Place::of(&l)),
        })
    }

    fn inventory(&self) -> Result<Vec<String>, TrackingError> {
        let mut seen = Vec::new();
        for (id, name, dir) in self.experiments()? {
            let runs = self.runs(&dir)?;
            let recent: Vec<String> = runs.iter().take(5).map(|(r, n, s)| format!("{r} ({n}, {s})")).collect();
            seen.push(format!(
                "experiment '{name}' ({id}): {} run(s){}",
                runs.len(),
                if recent.is_empty() { String::new() } else { format!(", latest: {}", recent.join("; ")) }
            ));
        }
        Ok(seen)
    }
}

fn write_run_meta(
    dir: &Path,
    run: &RunHandle,
    name: &str,
    user: &str,
    start: u64,
    end: Option<u64>,
    status: u8,
) -> Result<(), TrackingError> {
    write_yaml(
        &dir.join("meta.yaml"),
        &RunMeta {
            artifact_uri: file_uri(&dir.join("artifacts")),
            end_time: end,
            entry_point_name: "",
            experiment_id: &run.experiment_id,
            lifecycle_stage: "active",
            run_id: &run.id,
            run_name: name,
            source_name: "",
            source_type: 4,
            source_version: "",
            start_time: start,
            status,
            tags: [],
            user_id: user,
        },
    )
}

fn write_model_meta(
    dir: &Path,
    model: &ModelHandle,
    name: &str,
    run_id: &str,
    created: u64,
    updated: u64,
    status: u8,
) -> Result<(), TrackingError> {
    write_yaml(
        &dir.join("meta.yaml"),
        &ModelMeta {
            artifact_location: file_uri(&dir.join("artifacts")),
            creation_timestamp: created,
            experiment_id: &model.experiment_id,
            last_updated_timestamp: updated,
            model_id: &model.id,
            model_type: None,
            name,
            source_run_id: run_id,
            status,
            status_message: None,
        },
    )
}

/// One line per point; run metrics take `ts value step`, logged-model metrics add the run id.
fn append_metrics(dir: &Path, metrics: &[Metric], run_id: Option<&str>) -> Result<(), TrackingError> {
    use std::collections::BTreeMap;
    use std::io::Write;
    let mut by_key: BTreeMap<&str, String> = BTreeMap::new();
    for m in metrics {
        let line = by_key.entry(m.key.as_str()).or_default();
        let value = if m.value.is_nan() { "NaN".to_string() } else { m.value.to_string() };
        match run_id {
            None => line.push_str(&format!("{} {} {}\n", m.timestamp, value, m.step)),
            Some(r) => line.push_str(&format!("{} {} {} {r}\n", m.timestamp, value, m.step)),
        }
    }
    for (key, lines) in by_key {
        let p = dir.join(safe_key(key)?);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(TrackingError::io(parent))?;
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&p).map_err(TrackingError::io(&p))?;
        f.write_all(lines.as_bytes()).map_err(TrackingError::io(&p))?;
    }
    Ok(())
}
