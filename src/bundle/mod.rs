//! The model bundle: one folder that is both an MLflow model (MLmodel, model.ubj, environment
//! files, input example; Python's `mlflow.pyfunc.load_model(folder)` reads it) and churn's own
//! model (the feature pipeline, input schema, threshold, evaluation and training profile under
//! `churn/`). A folder holding only an MLflow xgboost model (e.g. logged by Python) loads too:
//! its inputs are then the model's own feature columns.

pub mod mlmodel;

use crate::drift::Profile;
use crate::evaluation::{HeldOut, LearningCurves, Metrics, ThresholdPolicy};
use crate::features::{Pipeline, PipelineError};
use crate::forest::{Forest, ForestError};
use crate::ingest::Warning;
use mlmodel::MlModel;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The bundle's file names: this module is the only one that spells them.
pub const CHURN_DIR: &str = "churn";
pub const MODEL_FILE: &str = "model.ubj";
pub const MLMODEL_FILE: &str = "MLmodel";
pub const PIPELINE_FILE: &str = "pipeline.json";
pub const SCHEMA_FILE: &str = "schema.toml";
pub const METADATA_FILE: &str = "metadata.json";
pub const EVALUATION_FILE: &str = "evaluation.json";
pub const PROFILE_FILE: &str = "profile.json";
/// churn's own files in its folder, as a tracked run logs them.
pub const CHURN_FILES: [&str; 5] = [EVALUATION_FILE, PIPELINE_FILE, PROFILE_FILE, SCHEMA_FILE, METADATA_FILE];
/// The model files an MLflow xgboost model may hold, in the order they are looked for.
pub const MODEL_FILES: [&str; 3] = [MODEL_FILE, "model.json", "model.xgb"];

/// Whether a folder holds a model: an MLmodel file or one of the model files.
pub fn holds_model(dir: &Path) -> bool {
    dir.join(MLMODEL_FILE).exists() || MODEL_FILES.iter().any(|f| dir.join(f).exists())
}

/// Whether a file of this name in a folder makes it a model folder ([`holds_model`]).
pub fn is_model_file(name: &str) -> bool {
    name == MLMODEL_FILE || MODEL_FILES.contains(&name)
}

/// What the bundle says about how and on what the model was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub name: String,
    pub churn_version: String,
    pub created_utc: String,
    pub created_ms: u64,
    pub threshold: f64,
    pub policy: ThresholdPolicy,
    /// The final fit's booster parameters, by XGBoost's names (training owns their meaning):
    /// after a search, the chosen trial's at half its rate.
    pub params: Params,
    pub xgboost_params: BTreeMap<String, String>,
    /// Boosting rounds of each averaged model.
    pub rounds: usize,
    /// Models (fits under different seeds) averaged into model.ubj (older bundles: one).
    #[serde(default = "one")]
    pub seeds: usize,
    /// How model.ubj's margin was made from the searched sets; absent: the chosen set alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blend: Option<BlendInfo>,
    pub xgboost_version: String,
    pub features: usize,
    /// Trees in model.ubj and the deepest of them (older bundles: 0).
    #[serde(default)]
    pub trees: usize,
    #[serde(default)]
    pub max_depth: usize,
    /// Microseconds one customer's exact reasons cost with this model on one thread of the
    /// training machine, measured at the end of training (older bundles: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explain_us: Option<f64>,
    pub data: DataInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
    pub seconds: BTreeMap<String, f64>,
}

fn one() -> usize {
    1
}

/// The final margin as `intercept + sum(weight * margin of a parameter set's final fit)`,
/// chosen on the search's out-of-fold margins (the training procedure in the README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlendInfo {
    /// `recalibrated` (the chosen set, rescaled and shifted) or `stacked` (several sets).
    pub kind: String,
    pub intercept: f64,
    pub members: Vec<BlendMember>,
    /// Mean out-of-fold log loss of the chosen set as it was, and of the blend (cross-fitted).
    pub oof_log_loss_before: f64,
    pub oof_log_loss_after: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlendMember {
    /// The parameter set's number in the search (1-based, as the report lists them).
    pub trial: usize,
    pub weight: f64,
    /// Rounds of each of its averaged fits.
    pub rounds: usize,
}

impl BlendInfo {
    /// `stacked: 0.824 x #3 + 0.213 x #2 + 0.294 (out-of-fold log loss 0.07340 -> 0.07261)`.
    pub fn describe(&self) -> String {
        let terms: Vec<String> = self.members.iter().map(|m| format!("{:.3} x #{}", m.weight, m.trial)).collect();
        format!(
            "{}: {} {} {:.3} (out-of-fold log loss {:.5} -> {:.5})",
            self.kind,
            terms.join(" + "),
            if self.intercept < 0.0 { "-" } else { "+" },
            self.intercept.abs(),
            self.oof_log_loss_before,
            self.oof_log_loss_after
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    pub path: String,
    pub sha256: String,
    pub rows: usize,
    pub train_rows: usize,
    pub held_out_rows: usize,
    pub positive_rate: f64,
    pub warnings: Vec<Warning>,
    /// Rows the shipped model learnt from when it was refit on every row after the held-out
    /// evaluation (the held-out figures are those of the model fitted on `train_rows`); None:
    /// the shipped model is the one evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refit_rows: Option<usize>,
    /// The shards of a distributed job, one per worker in rank order (`path` and `sha256` above
    /// are the lead's); empty for a training on one machine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<crate::ingest::Source>,
}

/// Where the model was tracked, filled in by `churn train` once the run exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub tracking_uri: String,
    pub experiment_id: String,
    pub experiment_name: String,
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub held_out: HeldOut,
    /// Out-of-fold predictions of the chosen parameters on the training rows.
    pub cross_validated: Metrics,
    pub tuning: Vec<Trial>,
    pub chosen_trial: usize,
    #[serde(default)]
    pub curves: LearningCurves,
    /// Nine probability cut points splitting held-out customers into risk deciles (decile 1 =
    /// the riskiest tenth): how a new score is placed in a decile.
    #[serde(default)]
    pub risk_cuts: Vec<f64>,
    /// Held-out customers to try the model with (the riskiest and the safest).
    #[serde(default)]
    pub examples: Vec<Example>,
    /// Mean |SHAP| (log-odds) per raw field over the held-out customers, by field label.
    #[serde(default)]
    pub importance: Vec<(String, f64)>,
    /// Held-out probabilities in 20 equal bins, per true class.
    #[serde(default)]
    pub score_histogram: ScoreHistogram,
}

/// Parameters by name, in the order training lists them.
pub type Params = indexmap::IndexMap<String, serde_json::Value>;

/// One parameter set's cross-validated score during tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub params: Params,
    pub cv_log_loss: f64,
    pub cv_roc_auc: f64,
    /// Mean of the folds' early-stopped round counts (the final fit, if chosen, takes twice
    /// 1.2x them at half the rate).
    pub rounds: usize,
    #[serde(default)]
    pub fold_rounds: Vec<usize>,
    /// Scored on every fold (a draw screened out on the first fold is not, and cannot be chosen).
    #[serde(default = "yes")]
    pub complete: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScoreHistogram {
    pub churners: Vec<u64>,
    pub stayers: Vec<u64>,
}

impl ScoreHistogram {
    pub fn of(labels: &[u8], probs: &[f64], bins: usize) -> ScoreHistogram {
        let mut h = ScoreHistogram { churners: vec![0; bins], stayers: vec![0; bins] };
        for (&y, &p) in labels.iter().zip(probs) {
            let b = ((p * bins as f64) as usize).min(bins - 1);
            if y == 1 {
                h.churners[b] += 1;
            } else {
                h.stayers[b] += 1;
            }
        }
        h
    }
}

/// An example customer, as the raw fields a request carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub title: String,
    pub probability: f64,
    pub customer: serde_json::Map<String, serde_json::Value>,
}

impl Example {
    pub fn new(
        title: &str,
        probability: f64,
        schema: &crate::schema::Schema,
        id: Option<&str>,
        values: &[f64],
    ) -> Example {
        use crate::schema::FieldKind;
        let mut customer = serde_json::Map::new();
        if let (Some(col), Some(id)) = (&schema.id, id) {
            customer.insert(col.clone(), id.into());
        }
        for (f, &v) in schema.fields.iter().zip(values) {
            let value = if v.is_nan() {
                serde_json::Value::Null
            } else {
                match &f.kind {
                    FieldKind::Categorical(c) => c.values[v as usize].clone().into(),
                    FieldKind::Date(_) => f.format_value(v).into(),
                    FieldKind::Numeric(n) if n.integer => (v as i64).into(),
                    FieldKind::Numeric(_) => serde_json::Number::from_f64(v)
                        .map(serde_json::Value::Number)
                        .unwrap_or(serde_json::Value::Null),
                }
            };
            customer.insert(f.name.clone(), value);
        }
        Example { title: title.to_string(), probability, customer }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("no model at {}: {reason}", path.display())]
    NotFound { path: PathBuf, reason: String },
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Model { path: PathBuf, source: ForestError },
    #[error("{}: {source}", path.display())]
    Pipeline { path: PathBuf, source: PipelineError },
}

/// How requests map to model inputs.
#[derive(Debug, Clone)]
// One per loaded model, never in a collection: boxing the pipeline would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Inputs {
    /// Raw customer fields through churn's feature pipeline.
    Customers(Pipeline),
    /// The model's own feature columns, by name (a model without churn's pipeline).
    Features(Vec<String>),
}

/// A model ready to score.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    pub dir: PathBuf,
    pub forest: Forest,
    pub inputs: Inputs,
    pub metadata: Option<Metadata>,
    pub evaluation: Option<Evaluation>,
    pub profile: Option<Profile>,
    pub mlmodel: Option<MlModel>,
}

impl LoadedModel {
    pub fn pipeline(&self) -> Option<&Pipeline> {
        match &self.inputs {
            Inputs::Customers(p) => Some(p),
            Inputs::Features(_) => None,
        }
    }

    /// The decision threshold: the bundle's chosen one, or 0.5 for a foreign model.
    pub fn threshold(&self) -> f64 {
        self.metadata.as_ref().map(|m| m.threshold).unwrap_or(0.5)
    }

    /// Names of the model's input columns (after the pipeline).
    pub fn feature_names(&self) -> Vec<String> {
        match &self.inputs {
            Inputs::Customers(p) => p.feature_names(),
            Inputs::Features(names) => names.clone(),
        }
    }

    pub fn run_id(&self) -> Option<String> {
        self.metadata
            .as_ref()
            .and_then(|m| m.run.as_ref().map(|r| r.run_id.clone()))
            .or_else(|| self.mlmodel.as_ref().and_then(|m| m.run_id.clone()))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, BundleError> {
    std::fs::read(path).map_err(|source| BundleError::Io { path: path.to_path_buf(), source })
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, BundleError> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read(path)?;
    serde_json::from_slice(&bytes).map(Some).map_err(|e| BundleError::Corrupt {
        path: path.to_path_buf(),
        message: format!("not the JSON churn writes: {e}"),
    })
}

/// Opens a model folder (a churn bundle or an MLflow xgboost model).
pub fn open(dir: &Path) -> Result<LoadedModel, BundleError> {
    if !dir.is_dir() {
        return Err(BundleError::NotFound {
            path: dir.to_path_buf(),
            reason: if dir.exists() {
                "it is a file, not a model folder".into()
            } else {
                "the folder does not exist".into()
            },
        });
    }
    let mlmodel_path = dir.join("MLmodel");
    let mlmodel = if mlmodel_path.exists() {
        let text = String::from_utf8_lossy(&read(&mlmodel_path)?).into_owned();
        Some(mlmodel::parse(&text).map_err(|message| BundleError::Corrupt { path: mlmodel_path.clone(), message })?)
    } else {
        None
    };
    let model_file = match mlmodel.as_ref().and_then(|m| m.model_file.clone()) {
        Some(f) => dir.join(f),
        None => MODEL_FILES.iter().map(|f| dir.join(f)).find(|p| p.exists()).ok_or_else(|| BundleError::NotFound {
            path: dir.to_path_buf(),
            reason: "it holds neither an MLmodel file nor model.ubj / model.json".into(),
        })?,
    };
    if !model_file.exists() {
        return Err(BundleError::NotFound {
            path: model_file,
            reason: "MLmodel names this model file, but it is missing".into(),
        });
    }
    let forest = Forest::from_bytes(&read(&model_file)?)
        .map_err(|source| BundleError::Model { path: model_file.clone(), source })?;

    let churn = dir.join(CHURN_DIR);
    let pipeline: Option<Pipeline> = read_json(&churn.join(PIPELINE_FILE))?;
    let inputs = match pipeline {
        Some(p) => {
            p.validate().map_err(|source| BundleError::Pipeline { path: churn.join(PIPELINE_FILE), source })?;
            if p.n_features() != forest.num_feature {
                return Err(BundleError::Corrupt {
                    path: churn.join(PIPELINE_FILE),
                    message: format!(
                        "the pipeline makes {} features but the model takes {}",
                        p.n_features(),
                        forest.num_feature
                    ),
                });
            }
            Inputs::Customers(p)
        }
        None => {
            let names = forest
                .feature_names
                .clone()
                .or_else(|| {
                    mlmodel.as_ref().and_then(|m| m.signature_inputs.clone()).filter(|s| s.len() == forest.num_feature)
                })
                .unwrap_or_else(|| (0..forest.num_feature).map(|i| format!("f{i}")).collect());
            Inputs::Features(names)
        }
    };
    let profile: Option<Profile> = read_json(&churn.join(PROFILE_FILE))?;
    if let (Some(p), Inputs::Customers(pipeline)) = (&profile, &inputs) {
        p.validate(&pipeline.schema).map_err(|message| BundleError::Corrupt {
            path: churn.join(PROFILE_FILE),
            message: format!("the training profile does not fit the model's schema: {message}"),
        })?;
    }
    let evaluation: Option<Evaluation> = read_json(&churn.join(EVALUATION_FILE))?;
    if let Some(e) = &evaluation {
        if e.risk_cuts.iter().any(|c| !c.is_finite()) || e.risk_cuts.windows(2).any(|w| w[0] < w[1]) {
            return Err(BundleError::Corrupt {
                path: churn.join(EVALUATION_FILE),
                message: "risk_cuts must be probabilities from the riskiest decile down".into(),
            });
        }
    }
    let profile = profile.filter(|_| matches!(inputs, Inputs::Customers(_)));
    Ok(LoadedModel {
        dir: dir.to_path_buf(),
        forest,
        inputs,
        metadata: read_json(&churn.join(METADATA_FILE))?,
        evaluation,
        profile,
        mlmodel,
    })
}

/// Where a model was found: the folder holding its files, and how it was reached (the URI, and
/// for models from MLflow the registered name, version, run and logged model).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub dir: PathBuf,
    pub uri: String,
    /// Registered model name and version, when reached through the registry.
    pub name: Option<String>,
    pub version: Option<String>,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
}

impl Resolved {
    pub fn local(dir: &Path, uri: &str) -> Resolved {
        Resolved {
            dir: dir.to_path_buf(),
            uri: uri.to_string(),
            name: None,
            version: None,
            run_id: None,
            model_id: None,
        }
    }

    /// A logged model fetched (or found) at `dir`, addressed as `models:/<id>`.
    pub fn logged_model(dir: PathBuf, id: &str) -> Resolved {
        Resolved { model_id: Some(id.to_string()), ..Resolved::local(&dir, &format!("models:/{id}")) }
    }
}

/// Everything `churn train` writes into a bundle.
pub struct BundleParts<'a> {
    pub model_ubj: &'a [u8],
    pub pipeline: &'a Pipeline,
    pub metadata: &'a Metadata,
    pub evaluation: &'a Evaluation,
    pub profile: &'a Profile,
    /// Two rows of model inputs for the MLflow input example.
    pub example_rows: &'a [Vec<f32>],
}

/// Writes the bundle into `out`, whole: it is filled beside `out` and swapped in (see
/// `crate::atomic`), so a killed `churn train` leaves the previous bundle or none.
pub fn write(out: &Path, parts: &BundleParts) -> Result<(), BundleError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BundleError::Io { path, source }
    };
    let staged = crate::atomic::StagedDir::new(out).map_err(io(out))?;
    let dir = staged.path();
    let churn = dir.join(CHURN_DIR);
    std::fs::create_dir_all(&churn).map_err(io(&churn))?;
    let put = |name: &Path, bytes: &[u8]| std::fs::write(name, bytes).map_err(io(name));
    put(&dir.join(MODEL_FILE), parts.model_ubj)?;
    put(&churn.join(PIPELINE_FILE), pretty(parts.pipeline).as_bytes())?;
    put(&churn.join(SCHEMA_FILE), parts.pipeline.schema.to_toml().as_bytes())?;
    put(&churn.join(METADATA_FILE), pretty(parts.metadata).as_bytes())?;
    put(&churn.join(EVALUATION_FILE), pretty(parts.evaluation).as_bytes())?;
    put(&churn.join(PROFILE_FILE), pretty(parts.profile).as_bytes())?;
    let features = parts.pipeline.feature_names();
    let info = mlmodel::Info {
        model_file: MODEL_FILE,
        model_size: parts.model_ubj.len() as u64,
        features: &features,
        run_id: parts.metadata.run.as_ref().map(|r| r.run_id.as_str()),
        model_id: parts.metadata.run.as_ref().and_then(|r| r.model_id.as_deref()),
        artifact_path: None,
        created_utc: &parts.metadata.created_utc,
    };
    for (name, text) in mlmodel::files(&info, parts.example_rows) {
        put(&dir.join(name), text.as_bytes())?;
    }
    staged.commit().map_err(io(out))
}

/// Rewrites the bundle's metadata (and MLmodel) once the run is known.
pub fn record_run(dir: &Path, metadata: &Metadata, model_size: u64, features: &[String]) -> Result<(), BundleError> {
    let path = dir.join(CHURN_DIR).join(METADATA_FILE);
    crate::atomic::write_file(&path, pretty(metadata).as_bytes())
        .map_err(|source| BundleError::Io { path: path.clone(), source })?;
    let info = mlmodel::Info {
        model_file: MODEL_FILE,
        model_size,
        features,
        run_id: metadata.run.as_ref().map(|r| r.run_id.as_str()),
        model_id: metadata.run.as_ref().and_then(|r| r.model_id.as_deref()),
        artifact_path: None,
        created_utc: &metadata.created_utc,
    };
    let path = dir.join("MLmodel");
    crate::atomic::write_file(&path, mlmodel::mlmodel_yaml(&info).as_bytes())
        .map_err(|source| BundleError::Io { path, source })
}

fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("bundle parts serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blend_describes_itself_as_its_formula() {
        let b = BlendInfo {
            kind: "stacked".into(),
            intercept: -0.29351,
            members: vec![
                BlendMember { trial: 3, weight: 0.82483, rounds: 900 },
                BlendMember { trial: 2, weight: 0.2127, rounds: 400 },
            ],
            oof_log_loss_before: 0.073401,
            oof_log_loss_after: 0.072614,
        };
        assert_eq!(b.describe(), "stacked: 0.825 x #3 + 0.213 x #2 - 0.294 (out-of-fold log loss 0.07340 -> 0.07261)");
        let text = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<BlendInfo>(&text).unwrap(), b);
    }

    #[test]
    fn metadata_without_a_blend_still_reads() {
        // The committed fixture bundle was written before blends existed.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/model/churn/metadata.json");
        let text = std::fs::read_to_string(path).unwrap();
        assert!(!text.contains("\"blend\""), "the fixture should predate blends");
        let meta: Metadata = serde_json::from_str(&text).unwrap();
        assert_eq!(meta.blend, None);
        assert!(!serde_json::to_string(&meta).unwrap().contains("\"blend\""), "a plain model writes no blend");
    }
}
