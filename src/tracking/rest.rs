//! An MLflow tracking server over its REST API (the sequence verified against MLflow 3.17.2),
//! with `MLFLOW_TRACKING_TOKEN` / `MLFLOW_TRACKING_USERNAME` + `PASSWORD`, timeouts, and retries
//! with backoff on connection errors and 429/5xx answers. Artifacts go through the server's
//! `mlflow-artifacts` proxy (the default `--serve-artifacts`).

use super::uri::{ModelUri, Resolved};
use super::{Experiment, Metric, ModelHandle, RunHandle, RunStatus, Store, TrackingError};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct RestStore {
    base: String,
    agent: ureq::Agent,
    auth: Option<String>,
    /// Artifact root (proxy path) per run and per logged model.
    artifact_roots: HashMap<String, String>,
    attempts: u32,
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn encode_query(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn encode_path(p: &str) -> String {
    p.split('/').map(encode_query).collect::<Vec<_>>().join("/")
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
        let auth = match (
            std::env::var("MLFLOW_TRACKING_TOKEN"),
            std::env::var("MLFLOW_TRACKING_USERNAME"),
            std::env::var("MLFLOW_TRACKING_PASSWORD"),
        ) {
            (Ok(t), _, _) if !t.is_empty() => Some(format!("Bearer {t}")),
            (_, Ok(u), Ok(p)) if !u.is_empty() => Some(format!("Basic {}", base64(format!("{u}:{p}").as_bytes()))),
            _ => None,
        };
        let timeout = std::env::var("MLFLOW_HTTP_REQUEST_TIMEOUT").ok().and_then(|v| v.parse().ok()).unwrap_or(120u64);
        let attempts = std::env::var("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .map(|r| r + 1)
            .unwrap_or(5);
        let agent = crate::http_client::agent(Duration::from_secs(10), Duration::from_secs(timeout));
        RestStore {
            base: base.trim_end_matches('/').to_string(),
            agent,
            auth,
            artifact_roots: HashMap::new(),
            attempts: attempts.max(1),
        }
    }

    fn err(&self, status: Option<u16>, message: impl Into<String>) -> TrackingError {
        TrackingError::Server { url: self.base.clone(), status, message: message.into() }
    }

    /// One request with retries. Returns (status, body bytes).
    fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        content_type: &str,
    ) -> Result<(u16, Vec<u8>), TrackingError> {
        let url = format!("{}{}", self.base, path);
        let mut last = String::new();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(250 * (1 << (attempt - 1).min(5))));
            }
            let result = match (method, body) {
                (Method::Get, _) => {
                    let mut r = self.agent.get(&url);
                    if let Some(a) = &self.auth {
                        r = r.header("Authorization", a);
                    }
                    r.call()
                }
                (Method::Post, b) | (Method::Patch, b) => {
                    let mut r =
                        if matches!(method, Method::Post) { self.agent.post(&url) } else { self.agent.patch(&url) };
                    if let Some(a) = &self.auth {
                        r = r.header("Authorization", a);
                    }
                    r.header("Content-Type", content_type).send(b.unwrap_or(b""))
                }
            };
            match result {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let bytes = resp.body_mut().with_config().limit(2 << 30).read_to_vec().unwrap_or_default();
                    if matches!(status, 429 | 502 | 503 | 504) {
                        last = format!("HTTP {status}");
                        continue;
                    }
                    return Ok((status, bytes));
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(self.err(None, format!("{path}: no answer after {} attempts ({last})", self.attempts)))
    }

    fn put(&self, path: &str, bytes: &[u8]) -> Result<(), TrackingError> {
        let url = format!("{}{}", self.base, path);
        let mut last = String::new();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(250 * (1 << (attempt - 1).min(5))));
            }
            let mut r = self.agent.put(&url).header("Content-Type", "application/octet-stream");
            if let Some(a) = &self.auth {
                r = r.header("Authorization", a);
            }
            match r.send(bytes) {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    if status == 200 || status == 201 || status == 204 {
                        return Ok(());
                    }
                    let body = resp.body_mut().read_to_string().unwrap_or_default();
                    if matches!(status, 429 | 502 | 504) {
                        last = format!("HTTP {status}");
                        continue;
                    }
                    let hint = if status == 503 {
                        " (is the server started with --no-serve-artifacts? churn uploads through the artifact proxy)"
                    } else {
                        ""
                    };
                    return Err(self.err(Some(status), format!("upload {path} failed: HTTP {status} {body}{hint}")));
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(self.err(None, format!("upload {path}: no answer after {} attempts ({last})", self.attempts)))
    }

    /// A JSON API call; non-2xx answers become errors carrying MLflow's error code and message.
    fn api(&self, method: Method, endpoint: &str, body: Option<Value>) -> Result<Value, TrackingError> {
        let path = format!("/api/2.0/mlflow/{endpoint}");
        let bytes = body.map(|b| b.to_string().into_bytes());
        let (status, out) = self.send(method, &path, bytes.as_deref(), "application/json")?;
        let v: Value = serde_json::from_slice(&out).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(v);
        }
        let code = v.get("error_code").and_then(Value::as_str).unwrap_or("");
        let msg = v
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&out).chars().take(300).collect());
        Err(self.err(Some(status), format!("{endpoint}: HTTP {status} {code} {msg}").trim().to_string()))
    }

    fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value, TrackingError> {
        let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", encode_query(v))).collect();
        self.api(Method::Get, &format!("{endpoint}?{}", q.join("&")), None)
    }

    fn post(&self, endpoint: &str, body: Value) -> Result<Value, TrackingError> {
        self.api(Method::Post, endpoint, Some(body))
    }

    fn artifact_root(&self, key: &str) -> Result<&str, TrackingError> {
        self.artifact_roots
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| self.err(None, format!("no artifact location known for {key}")))
    }

    fn remember_root(&mut self, key: &str, uri: &str) -> Result<(), TrackingError> {
        let path = proxy_path(uri).ok_or_else(|| {
            self.err(
                None,
                format!("the server keeps artifacts at {uri}, which churn cannot upload to; run the server with --serve-artifacts (the default) so artifacts go through its proxy"),
            )
        })?;
        self.artifact_roots.insert(key.to_string(), path);
        Ok(())
    }

    fn put_artifact(&self, root: &str, rel: &str, bytes: &[u8]) -> Result<(), TrackingError> {
        self.put(&format!("/api/2.0/mlflow-artifacts/artifacts/{}/{}", encode_path(root), encode_path(rel)), bytes)
    }

    /// Downloads every file below a proxy path into `dest`.
    fn download_tree(&self, root: &str, dest: &Path) -> Result<usize, TrackingError> {
        let mut count = 0;
        let mut stack = vec![String::new()];
        while let Some(sub) = stack.pop() {
            let path = if sub.is_empty() { root.to_string() } else { format!("{root}/{sub}") };
            let (status, body) = self.send(
                Method::Get,
                &format!("/api/2.0/mlflow-artifacts/artifacts?path={}", encode_query(&path)),
                None,
                "",
            )?;
            if status != 200 {
                return Err(self.err(Some(status), format!("cannot list artifacts at {path}: HTTP {status}")));
            }
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            for f in v.get("files").and_then(Value::as_array).cloned().unwrap_or_default() {
                let Some(name) = f.get("path").and_then(Value::as_str) else { continue };
                let name = name.rsplit('/').next().unwrap_or(name);
                if name.contains("..") {
                    continue;
                }
                let rel = if sub.is_empty() { name.to_string() } else { format!("{sub}/{name}") };
                if f.get("is_dir").and_then(Value::as_bool).unwrap_or(false) {
                    stack.push(rel);
                    continue;
                }
                let (status, bytes) = self.send(
                    Method::Get,
                    &format!("/api/2.0/mlflow-artifacts/artifacts/{}/{}", encode_path(root), encode_path(&rel)),
                    None,
                    "",
                )?;
                if status != 200 {
                    return Err(self.err(Some(status), format!("cannot download {root}/{rel}: HTTP {status}")));
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

    /// Fetches a model folder (by its artifact URI) into a local cache folder.
    fn fetch(&self, artifact_uri: &str, cache_key: &str) -> Result<PathBuf, TrackingError> {
        if let Some(local) = artifact_uri.strip_prefix("file://") {
            // A server with --no-serve-artifacts on a shared disk.
            return Ok(PathBuf::from(local));
        }
        let root =
            proxy_path(artifact_uri).ok_or_else(|| self.err(None, format!("cannot download from {artifact_uri}")))?;
        let dest =
            std::env::temp_dir().join("churn-models").join(format!("{cache_key}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dest).map_err(TrackingError::io(&dest))?;
        let n = self.download_tree(&root, &dest)?;
        if n == 0 {
            return Err(TrackingError::NotFound(format!("{artifact_uri} on {} holds no files", self.base)));
        }
        Ok(dest)
    }

    fn logged_model_uri(&self, id: &str) -> Result<String, TrackingError> {
        let v = self.api(Method::Get, &format!("logged-models/{}", encode_query(id)), None).map_err(|e| match e {
            TrackingError::Server { status: Some(404), .. } => {
                TrackingError::NotFound(format!("no logged model {id} on the MLflow server {}", self.base))
            }
            other => other,
        })?;
        v.pointer("/model/info/artifact_uri")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| self.err(None, format!("logged model {id} has no artifact_uri")))
    }

    fn run_model(&self, run_id: &str, path: &str) -> Result<(String, Option<String>), TrackingError> {
        let run = self.get("runs/get", &[("run_id", run_id)]).map_err(|e| match e {
            TrackingError::Server { status: Some(404), .. } => TrackingError::NotFound(format!(
                "run {run_id} not found on the MLflow server {}. What is there: {}",
                self.base,
                self.inventory()
            )),
            other => other,
        })?;
        let info = run.pointer("/run/info").cloned().unwrap_or(Value::Null);
        let artifact_uri = info.get("artifact_uri").and_then(Value::as_str).unwrap_or("").to_string();
        let exp = info.get("experiment_id").and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(root) = proxy_path(&artifact_uri) {
            let (status, body) = self.send(
                Method::Get,
                &format!("/api/2.0/mlflow-artifacts/artifacts?path={}", encode_query(&format!("{root}/{path}"))),
                None,
                "",
            )?;
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let has_files = status == 200 && v.get("files").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
            if has_files {
                return Ok((format!("{artifact_uri}/{path}"), None));
            }
        }
        let found = self.post(
            "logged-models/search",
            json!({"experiment_ids": [exp], "filter": format!("name = '{path}'"), "max_results": 100}),
        )?;
        for m in found.get("models").and_then(Value::as_array).cloned().unwrap_or_default() {
            if m.pointer("/info/source_run_id").and_then(Value::as_str) == Some(run_id) {
                let id = m.pointer("/info/model_id").and_then(Value::as_str).map(str::to_string);
                let uri = m.pointer("/info/artifact_uri").and_then(Value::as_str).unwrap_or("").to_string();
                return Ok((uri, id));
            }
        }
        Err(TrackingError::NotFound(format!(
            "run {run_id} on {} has no model at '{path}' (no files under {artifact_uri}/{path}, and no logged model named '{path}' from this run in experiment {exp})",
            self.base
        )))
    }

    /// Experiments and their latest runs, for "not found" messages.
    fn inventory(&self) -> String {
        let Ok(v) = self.post("experiments/search", json!({"max_results": 20})) else {
            return "(cannot list experiments)".into();
        };
        let mut parts = Vec::new();
        for e in v.get("experiments").and_then(Value::as_array).cloned().unwrap_or_default() {
            let id = e.get("experiment_id").and_then(Value::as_str).unwrap_or("").to_string();
            let name = e.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            let runs = self
                .post(
                    "runs/search",
                    json!({"experiment_ids": [id], "max_results": 5, "order_by": ["attributes.start_time DESC"]}),
                )
                .ok()
                .and_then(|r| r.get("runs").and_then(Value::as_array).cloned())
                .unwrap_or_default();
            let latest: Vec<String> = runs
                .iter()
                .filter_map(|r| {
                    let i = r.get("info")?;
                    Some(format!(
                        "{} ({}, {})",
                        i.get("run_id")?.as_str()?,
                        i.get("run_name")?.as_str().unwrap_or(""),
                        i.get("status")?.as_str()?
                    ))
                })
                .collect();
            parts.push(format!(
                "experiment '{name}' ({id}){}",
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

    fn version_source(&self, name: &str, version: &str) -> Result<(String, Option<String>), TrackingError> {
        let v = self
            .get("model-versions/get", &[("name", name), ("version", version)])
            .map_err(|e| self.not_registered(e, name, Some(version)))?;
        let source = v.pointer("/model_version/source").and_then(Value::as_str).unwrap_or("").to_string();
        let run_id = v.pointer("/model_version/run_id").and_then(Value::as_str).map(str::to_string);
        Ok((source, run_id))
    }

    fn not_registered(&self, e: TrackingError, name: &str, version: Option<&str>) -> TrackingError {
        match e {
            TrackingError::Server { status: Some(s), .. } if s == 404 || s == 400 => {
                let names: Vec<String> = self
                    .get("registered-models/search", &[("max_results", "100")])
                    .ok()
                    .and_then(|v| v.get("registered_models").and_then(Value::as_array).cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|m| m.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect();
                let what = match version {
                    Some(v) => format!("version {v} of registered model '{name}'"),
                    None => format!("registered model '{name}'"),
                };
                TrackingError::NotFound(format!(
                    "{what} not found on the MLflow server {} (registered models: {})",
                    self.base,
                    if names.is_empty() { "none".into() } else { names.join(", ") }
                ))
            }
            other => other,
        }
    }

    fn version_dir(&self, name: &str, version: &str) -> Result<Resolved, TrackingError> {
        let (source, run_id) = self.version_source(name, version)?;
        let (artifact_uri, model_id) = match ModelUri::parse(&source) {
            Ok(ModelUri::LoggedModel { id }) => (self.logged_model_uri(&id)?, Some(id)),
            Ok(ModelUri::Run { run_id, path }) => self.run_model(&run_id, &path)?,
            _ => {
                let v = self.get("model-versions/get-download-uri", &[("name", name), ("version", version)])?;
                (v.get("artifact_uri").and_then(Value::as_str).unwrap_or(&source).to_string(), None)
            }
        };
        let dir = self.fetch(&artifact_uri, &format!("{name}-{version}"))?;
        Ok(Resolved {
            dir,
            uri: format!("models:/{name}/{version}"),
            name: Some(name.into()),
            version: Some(version.into()),
            run_id,
            model_id,
        })
    }
}

impl Store for RestStore {
    fn describe(&self) -> String {
        self.base.clone()
    }

    fn experiment(&mut self, name: &str) -> Result<Experiment, TrackingError> {
        match self.get("experiments/get-by-name", &[("experiment_name", name)]) {
            Ok(v) => {
                let id = v.pointer("/experiment/experiment_id").and_then(Value::as_str).unwrap_or_default().to_string();
                return Ok(Experiment { id, name: name.to_string() });
            }
            Err(TrackingError::Server { status: Some(404), .. }) => {}
            Err(e) => return Err(e),
        }
        let created = self.post(
            "experiments/create",
            json!({"name": name, "tags": [{"key": "mlflow.note.content", "value": "Churn models trained by `churn train`."}]}),
        );
        match created {
            Ok(v) => Ok(Experiment {
                id: v.get("experiment_id").and_then(Value::as_str).unwrap_or_default().to_string(),
                name: name.to_string(),
            }),
            Err(TrackingError::Server { status: Some(400), message, .. })
                if message.contains("RESOURCE_ALREADY_EXISTS") =>
            {
                let v = self.get("experiments/get-by-name", &[("experiment_name", name)])?;
                Ok(Experiment {
                    id: v.pointer("/experiment/experiment_id").and_then(Value::as_str).unwrap_or_default().to_string(),
                    name: name.to_string(),
                })
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
        let tags: Vec<Value> = tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let v = self.post(
            "runs/create",
            json!({"experiment_id": exp.id, "user_id": user, "run_name": name, "start_time": start_ms, "tags": tags}),
        )?;
        let id = v.pointer("/run/info/run_id").and_then(Value::as_str).unwrap_or_default().to_string();
        let uri = v.pointer("/run/info/artifact_uri").and_then(Value::as_str).unwrap_or_default().to_string();
        self.remember_root(&id, &uri)?;
        Ok(RunHandle { id, experiment_id: exp.id.clone() })
    }

    fn log_batch(
        &mut self,
        run: &RunHandle,
        params: &[(String, String)],
        metrics: &[Metric],
        tags: &[(String, String)],
    ) -> Result<(), TrackingError> {
        // MLflow's limits per call: 100 params + tags, 1000 metrics.
        let kv = |(k, v): &(String, String)| json!({"key": k, "value": v});
        for chunk in params.chunks(100) {
            self.post("runs/log-batch", json!({"run_id": run.id, "params": chunk.iter().map(kv).collect::<Vec<_>>()}))?;
        }
        for chunk in tags.chunks(100) {
            self.post("runs/log-batch", json!({"run_id": run.id, "tags": chunk.iter().map(kv).collect::<Vec<_>>()}))?;
        }
        for chunk in metrics.chunks(1000) {
            let ms: Vec<Value> = chunk.iter().map(|m| metric_json(m, None)).collect();
            self.post("runs/log-batch", json!({"run_id": run.id, "metrics": ms}))?;
        }
        Ok(())
    }

    fn log_artifact(&mut self, run: &RunHandle, rel: &str, bytes: &[u8]) -> Result<(), TrackingError> {
        let root = self.artifact_root(&run.id)?.to_string();
        self.put_artifact(&root, rel, bytes)
    }

    fn create_logged_model(
        &mut self,
        run: &RunHandle,
        name: &str,
        params: &[(String, String)],
        _now_ms: u64,
    ) -> Result<ModelHandle, TrackingError> {
        let params: Vec<Value> = params.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let v = self.post(
            "logged-models",
            json!({"experiment_id": run.experiment_id, "name": name, "source_run_id": run.id, "model_type": "xgboost", "params": params}),
        )?;
        let id = v.pointer("/model/info/model_id").and_then(Value::as_str).unwrap_or_default().to_string();
        let uri = v.pointer("/model/info/artifact_uri").and_then(Value::as_str).unwrap_or_default().to_string();
        self.remember_root(&id, &uri)?;
        self.artifact_roots.insert(format!("uri:{id}"), uri);
        Ok(ModelHandle { id, experiment_id: run.experiment_id.clone() })
    }

    fn log_model_artifact(&mut self, model: &ModelHandle, rel: &str, bytes: &[u8]) -> Result<(), TrackingError> {
        let root = self.artifact_root(&model.id)?.to_string();
        self.put_artifact(&root, rel, bytes)
    }

    fn model_artifact_location(&self, model: &ModelHandle) -> String {
        self.artifact_roots.get(&format!("uri:{}", model.id)).cloned().unwrap_or_default()
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
            let ms: Vec<Value> = metrics.iter().map(|m| metric_json(m, Some(&model.id))).collect();
            self.post("runs/log-batch", json!({"run_id": run.id, "metrics": ms}))?;
        }
        self.post("runs/outputs", json!({"run_id": run.id, "models": [{"model_id": model.id, "step": 0}]}))?;
        let status = if ready { "LOGGED_MODEL_READY" } else { "LOGGED_MODEL_UPLOAD_FAILED" };
        self.api(
            Method::Patch,
            &format!("logged-models/{}", model.id),
            Some(json!({"model_id": model.id, "status": status})),
        )?;
        Ok(())
    }

    fn end_run(&mut self, run: &RunHandle, status: RunStatus, end_ms: u64) -> Result<(), TrackingError> {
        let s = match status {
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
        };
        self.post("runs/update", json!({"run_id": run.id, "status": s, "end_time": end_ms}))?;
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
        match self.post("registered-models/create", json!({"name": name})) {
            Ok(_) => {}
            Err(TrackingError::Server { message, .. }) if message.contains("RESOURCE_ALREADY_EXISTS") => {}
            Err(e) => return Err(e),
        }
        let v = self.post(
            "model-versions/create",
            json!({"name": name, "source": format!("models:/{}", model.id), "run_id": run.id, "model_id": model.id}),
        )?;
        Ok(v.pointer("/model_version/version").and_then(Value::as_str).unwrap_or_default().to_string())
    }

    fn set_alias(&mut self, name: &str, alias: &str, version: &str) -> Result<(), TrackingError> {
        self.post("registered-models/alias", json!({"name": name, "alias": alias, "version": version}))?;
        Ok(())
    }

    fn resolve(&self, uri: &ModelUri) -> Result<Resolved, TrackingError> {
        match uri {
            ModelUri::Path(p) => Ok(Resolved::local(p, &p.display().to_string())),
            ModelUri::LoggedModel { id } => {
                let artifact_uri = self.logged_model_uri(id)?;
                let dir = self.fetch(&artifact_uri, id)?;
                Ok(Resolved::logged_model(dir, id))
            }
            ModelUri::Run { run_id, path } => {
                let (artifact_uri, model_id) = self.run_model(run_id, path)?;
                let dir = self.fetch(&artifact_uri, run_id)?;
                Ok(Resolved {
                    dir,
                    uri: format!("runs:/{run_id}/{path}"),
                    name: None,
                    version: None,
                    run_id: Some(run_id.clone()),
                    model_id,
                })
            }
            ModelUri::Alias { name, alias } => {
                let v =
                    self.get("registered-models/alias", &[("name", name), ("alias", alias)]).map_err(|e| match e {
                        TrackingError::Server { status: Some(400), ref message, .. } if message.contains("alias") => {
                            let aliases: Vec<String> = self
                                .get("registered-models/get", &[("name", name)])
                                .ok()
                                .and_then(|v| v.pointer("/registered_model/aliases").and_then(Value::as_array).cloned())
                                .unwrap_or_default()
                                .iter()
                                .filter_map(|a| {
                                    Some(format!("@{} -> {}", a.get("alias")?.as_str()?, a.get("version")?.as_str()?))
                                })
                                .collect();
                            TrackingError::NotFound(format!(
                            "registered model '{name}' has no alias '{alias}' on the MLflow server {} (aliases: {})",
                            self.base,
                            if aliases.is_empty() { "none".into() } else { aliases.join(", ") }
                        ))
                        }
                        other => self.not_registered(other, name, None),
                    })?;
                let version =
                    v.pointer("/model_version/version").and_then(Value::as_str).unwrap_or_default().to_string();
                let mut r = self.version_dir(name, &version)?;
                r.uri = format!("models:/{name}@{alias}");
                Ok(r)
            }
            ModelUri::Latest { name } => {
                let v = self
                    .get("registered-models/get", &[("name", name)])
                    .map_err(|e| self.not_registered(e, name, None))?;
                let latest = v
                    .pointer("/registered_model/latest_versions")
                    .and_then(Value::as_array)
                    .and_then(|vs| vs.iter().filter_map(|x| x.get("version")?.as_str()?.parse::<u64>().ok()).max())
                    .ok_or_else(|| {
                        TrackingError::NotFound(format!("registered model '{name}' has no versions on {}", self.base))
                    })?;
                self.version_dir(name, &latest.to_string())
            }
            ModelUri::Version { name, version } => self.version_dir(name, version),
        }
    }
}

fn metric_json(m: &Metric, model_id: Option<&str>) -> Value {
    let value = if m.value.is_finite() { json!(m.value) } else { json!("NaN") };
    let mut v = json!({"key": m.key, "value": value, "timestamp": m.timestamp, "step": m.step});
    if let Some(id) = model_id {
        v["model_id"] = json!(id);
    }
    v
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
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
