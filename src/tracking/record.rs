//! What a tracked run holds, read off a model bundle.

use super::{LogOptions, Metric, TrackingError};
use crate::bundle::mlmodel;
use crate::bundle::{
    Evaluation, Metadata, RunInfo, CHURN_DIR, CHURN_FILES, EVALUATION_FILE, METADATA_FILE, MLMODEL_FILE, MODEL_FILE,
    PIPELINE_FILE,
};
use std::path::{Path, PathBuf};

pub struct RunRecord {
    pub bundle: PathBuf,
    pub run_name: String,
    pub user: String,
    pub params: Vec<(String, String)>,
    pub metrics: Vec<Metric>,
    pub tags: Vec<(String, String)>,
    pub run_artifacts: Vec<(String, Vec<u8>)>,
    pub model_params: Vec<(String, String)>,
    pub model_metrics: Vec<Metric>,
    pub metadata: Metadata,
}

fn read_json<T: for<'de> serde::Deserialize<'de>>(path: &Path) -> Result<T, TrackingError> {
    let bytes = std::fs::read(path).map_err(TrackingError::io(path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| TrackingError::Bundle { path: path.to_path_buf(), message: e.to_string() })
}

/// MLflow keeps at most 6000 characters of a param value.
fn param(k: &str, v: impl ToString) -> (String, String) {
    let mut v = v.to_string();
    if v.len() > 6000 {
        let mut end = 6000;
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        v.truncate(end);
    }
    (k.to_string(), v)
}

impl RunRecord {
    pub fn from_bundle(dir: &Path, opts: &LogOptions) -> Result<RunRecord, TrackingError> {
        let churn = dir.join(CHURN_DIR);
        if !dir.join(MODEL_FILE).exists() || !churn.join(METADATA_FILE).exists() {
            return Err(TrackingError::Bundle {
                path: dir.to_path_buf(),
                message: "not a churn model bundle (model.ubj and churn/metadata.json are needed)".into(),
            });
        }
        let metadata: Metadata = read_json(&churn.join(METADATA_FILE))?;
        let evaluation: Evaluation = read_json(&churn.join(EVALUATION_FILE))?;
        let ts = metadata.created_ms;
        let user = super::current_user();
        let run_name = opts.run_name.map(str::to_string).unwrap_or_else(|| run_name(&metadata.name, ts));

        let params = params_of(&metadata, &evaluation, &opts.extra_params);
        let metrics = metrics_of(&metadata, &evaluation);
        let tags = tags_of(&metadata, &evaluation, &run_name, &user);
        let run_artifacts = run_artifacts_of(dir)?;
        let m = |key: &str, value: f64, step: i64| Metric {
            key: key.to_string(),
            value,
            step,
            timestamp: metadata.created_ms,
        };
        let model_params = metadata.xgboost_params.iter().map(|(k, v)| param(k, v)).collect();
        let model_metrics =
            evaluation.held_out.metrics.pairs().iter().map(|(k, v)| m(&format!("test_{k}"), *v, 0)).collect();
        Ok(RunRecord {
            bundle: dir.to_path_buf(),
            run_name,
            user,
            params,
            metrics,
            tags,
            run_artifacts,
            model_params,
            model_metrics,
            metadata,
        })
    }

    /// The bundle's files as the logged model holds them: MLmodel and metadata name the run
    /// and the model id.
    pub fn model_files(&self, run: &RunInfo, location: &str) -> Result<Vec<(String, Vec<u8>)>, TrackingError> {
        let mut out = Vec::new();
        let mut metadata = self.metadata.clone();
        metadata.run = Some(run.clone());
        let run_id = run.run_id.as_str();
        let model_id = run.model_id.as_deref().unwrap_or_default();
        let features: Vec<String> = read_features(&self.bundle)?;
        let model_size = std::fs::metadata(self.bundle.join(MODEL_FILE)).map(|m| m.len()).unwrap_or(0);
        for path in walk(&self.bundle)? {
            let rel = path
                .strip_prefix(&self.bundle)
                .expect("walk stays inside the bundle")
                .to_string_lossy()
                .replace('\\', "/");
            let bytes = match rel.as_str() {
                MLMODEL_FILE => mlmodel::mlmodel_yaml(&mlmodel::Info {
                    model_file: MODEL_FILE,
                    model_size,
                    features: &features,
                    run_id: Some(run_id),
                    model_id: Some(model_id),
                    artifact_path: Some(location),
                    created_utc: &self.metadata.created_utc,
                })
                .into_bytes(),
                rel if rel == format!("{CHURN_DIR}/{METADATA_FILE}") => {
                    serde_json::to_vec_pretty(&metadata).expect("metadata serialises")
                }
                _ => std::fs::read(&path).map_err(TrackingError::io(&path))?,
            };
            out.push((rel, bytes));
        }
        Ok(out)
    }
}

impl RunRecord {
    /// Writes where the run went into the bundle's metadata and MLmodel, so the bundle names its
    /// run (from what the record read, without loading the model).
    pub fn record_in_bundle(&self, run: &RunInfo) -> Result<(), TrackingError> {
        let mut metadata = self.metadata.clone();
        metadata.run = Some(run.clone());
        let size = std::fs::metadata(self.bundle.join(MODEL_FILE)).map(|m| m.len()).unwrap_or(0);
        crate::bundle::record_run(&self.bundle, &metadata, size, &read_features(&self.bundle)?)
            .map_err(|e| TrackingError::Bundle { path: self.bundle.clone(), message: e.to_string() })
    }
}

fn read_features(dir: &Path) -> Result<Vec<String>, TrackingError> {
    let p: crate::features::Pipeline = read_json(&dir.join(CHURN_DIR).join(PIPELINE_FILE))?;
    Ok(p.feature_names())
}

/// Every file below `dir` (none when it does not exist), in a stable order.
pub fn walk(dir: &Path) -> Result<Vec<PathBuf>, TrackingError> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(&d).map_err(TrackingError::io(&d))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The run's params: XGBoost's, then what churn decided, then the command line's settings.
fn params_of(metadata: &Metadata, evaluation: &Evaluation, extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = metadata.xgboost_params.iter().map(|(k, v)| param(k, v)).collect();
    params.push(param("num_boost_round", metadata.rounds));
    params.push(param("seeds", metadata.seeds));
    params.push(param("blend", metadata.blend.as_ref().map_or("plain".to_string(), |b| b.describe())));
    params.push(param("threshold_policy", metadata.policy.describe()));
    params.push(param("n_features", metadata.features));
    params.push(param("data_rows", metadata.data.rows));
    params.push(param("train_rows", metadata.data.train_rows));
    params.push(param("held_out_rows", metadata.data.held_out_rows));
    params.push(param("tuning_chosen_trial", evaluation.chosen_trial + 1));
    params.push(param("tuning_trials", evaluation.tuning.len()));
    params.push(param("xgboost_version", &metadata.xgboost_version));
    for (k, v) in extra {
        if !params.iter().any(|(p, _)| p == k) {
            params.push(param(k, v));
        }
    }

    params
}

/// The run's metrics: held-out and out-of-fold figures, the search, the curves, the timings.
fn metrics_of(metadata: &Metadata, evaluation: &Evaluation) -> Vec<Metric> {
    let ts = metadata.created_ms;
    let m = |key: &str, value: f64, step: i64| Metric { key: key.to_string(), value, step, timestamp: ts };
    let mut metrics = Vec::new();
    for (k, v) in evaluation.held_out.metrics.pairs() {
        metrics.push(m(&format!("test_{k}"), v, 0));
    }
    for (k, v) in evaluation.cross_validated.pairs() {
        metrics.push(m(&format!("cv_{k}"), v, 0));
    }
    metrics.push(m("threshold", metadata.threshold, 0));
    if let Some(us) = metadata.explain_us {
        metrics.push(m("explain_us", us, 0));
    }
    if let Some(top) = evaluation.held_out.lift.first() {
        metrics.push(m("test_top_decile_lift", top.lift, 0));
    }
    for (i, t) in evaluation.tuning.iter().enumerate() {
        metrics.push(m("tuning_cv_log_loss", t.cv_log_loss, i as i64));
        metrics.push(m("tuning_cv_roc_auc", t.cv_roc_auc, i as i64));
    }
    // Step = rounds done - 1, so a curve with a point every round has steps 0, 1, 2, ...
    let curves = &evaluation.curves;
    for (i, v) in curves.train_log_loss.iter().enumerate() {
        metrics.push(m("train_log_loss", *v, curves.round_of(i) as i64 - 1));
    }
    for (i, v) in curves.held_out_log_loss.iter().enumerate() {
        metrics.push(m("held_out_log_loss", *v, curves.round_of(i) as i64 - 1));
    }
    for (k, v) in &metadata.seconds {
        metrics.push(m(&format!("seconds_{k}"), *v, 0));
    }

    metrics
}

/// A training run's default name: the model's name and when it started.
pub fn run_name(model: &str, start_ms: u64) -> String {
    format!("{model}-{}", crate::tracking::iso_utc(start_ms).replace([':', 'T'], "-").trim_end_matches('Z'))
}

/// The tags MLflow's Python client sets on every run.
pub fn source_tags(run_name: &str, user: &str) -> Vec<(String, String)> {
    vec![
        ("mlflow.runName".to_string(), run_name.to_string()),
        ("mlflow.user".to_string(), user.to_string()),
        ("mlflow.source.name".to_string(), "churn train".to_string()),
        ("mlflow.source.type".to_string(), "LOCAL".to_string()),
    ]
}

/// The run's tags, as MLflow's Python client sets them, and churn's own.
fn tags_of(metadata: &Metadata, evaluation: &Evaluation, run_name: &str, user: &str) -> Vec<(String, String)> {
    let mut tags = source_tags(run_name, user);
    tags.extend([
        ("churn.version".to_string(), metadata.churn_version.clone()),
        ("churn.model_name".to_string(), metadata.name.clone()),
        ("data.path".to_string(), metadata.data.path.clone()),
        ("data.sha256".to_string(), metadata.data.sha256.clone()),
        ("data.rows".to_string(), metadata.data.rows.to_string()),
        ("data.positive_rate".to_string(), format!("{:.6}", metadata.data.positive_rate)),
        (
            "mlflow.note.content".to_string(),
            format!(
                "churn model `{}`: held-out ROC AUC {:.4}, threshold {:.3} ({}).",
                metadata.name,
                evaluation.held_out.metrics.roc_auc,
                metadata.threshold,
                metadata.policy.describe()
            ),
        ),
    ]);
    if let Some(commit) = super::git_commit() {
        tags.push(("mlflow.source.git.commit".to_string(), commit));
    }
    if !metadata.data.warnings.is_empty() {
        let w: Vec<String> = metadata.data.warnings.iter().map(|w| w.to_string()).collect();
        tags.push(("data.warnings".to_string(), w.join("; ")));
    }

    tags
}

/// The run's own artifacts: churn's files and the report.
fn run_artifacts_of(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, TrackingError> {
    let churn = dir.join(CHURN_DIR);
    let mut run_artifacts = Vec::new();
    for f in CHURN_FILES {
        let p = churn.join(f);
        if p.exists() {
            run_artifacts.push((format!("{CHURN_DIR}/{f}"), std::fs::read(&p).map_err(TrackingError::io(&p))?));
        }
    }
    for entry in walk(&dir.join("report"))? {
        let rel = entry.strip_prefix(dir).expect("walk stays inside the bundle").to_string_lossy().replace('\\', "/");
        run_artifacts.push((rel, std::fs::read(&entry).map_err(TrackingError::io(&entry))?));
    }

    Ok(run_artifacts)
}
