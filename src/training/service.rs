//! Training as a library service: a labelled table in, a model bundle on disk out
//! ([`train_bundle`]), and the same procedure cross-validated ([`evaluate`]). The command line,
//! the demo and the tests call these; reports and MLflow tracking sit on top of the bundle.
//!
//! `train_bundle`: load and validate (the ingestion gate); split off a stratified held-out part;
//! fit the pipeline, tune and fit XGBoost, choose the threshold (`procedure::train`); score the
//! held-out part with the served scorer; compute importance and the training profile; write the
//! bundle atomically (a crash leaves the previous bundle or none, never half of one).

use super::procedure::{self, CvReport, TrainError, TrainOptions};
use crate::bundle::{self, BundleParts, DataInfo, Evaluation, Metadata};
use crate::drift::Profile;
use crate::evaluation::{split, tables, HeldOut, LearningCurves};
use crate::forest::reasons::Explainer;
use crate::ingest::{Dataset, Warning};
use crate::progress::Progress;
use crate::random::{streams, Rng};
use crate::schema::Schema;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to train on, and where the bundle goes.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub data: PathBuf,
    pub schema: Schema,
    pub output: PathBuf,
    /// The model's name (shown by the server and the UI).
    pub name: String,
    /// Share of rows held out for the reported metrics.
    pub test_fraction: f64,
    pub options: TrainOptions,
    /// Write the bundle even when the model ranks customers near perfectly (see
    /// [`NEAR_PERFECT_AUC`]): `--allow-near-perfect`.
    pub allow_near_perfect: bool,
}

/// Held-out and cross-validated ROC AUC from which a model is loudly suspected of leaning on a
/// field recorded after the customer left. The legitimate best of the development tables is
/// Bank churners' 0.994 (its transaction counts), so this warns there and trains on.
pub const SUSPICIOUS_AUC: f64 = 0.99;

/// ... and from which training refuses to write the bundle without `--allow-near-perfect`: no
/// churn table of the development set comes near it, and every leak met (a churn reason, a
/// closing date, a blank-for-stayers column) reached 1.000.
pub const NEAR_PERFECT_AUC: f64 = 0.999;

/// The loud warning for a model that looks too good, naming the fields that carry most of its
/// importance (mean |SHAP| by field).
fn too_good(evaluation: &Evaluation, rows: usize) -> Option<Warning> {
    let (held, cv) = (evaluation.held_out.metrics.roc_auc, evaluation.cross_validated.roc_auc);
    if held.max(cv) < SUSPICIOUS_AUC {
        return None;
    }
    let total: f64 = evaluation.importance.iter().map(|(_, v)| v).sum();
    let mut fields: Vec<&(String, f64)> = evaluation.importance.iter().collect();
    fields.sort_by(|a, b| b.1.total_cmp(&a.1));
    // The strongest fields up to nine tenths of the importance, at most three.
    let (mut top, mut covered) = (Vec::new(), 0.0);
    for (f, v) in fields.iter().take(3) {
        let share = v / total.max(f64::MIN_POSITIVE);
        top.push(format!("`{f}` {:.0}%", 100.0 * share));
        covered += share;
        if covered >= 0.9 {
            break;
        }
    }
    Some(Warning {
        kind: "SUSPICIOUSLY GOOD? a model this good usually leans on a field recorded after the customer left".into(),
        column: None,
        count: rows,
        example: format!(
            "held-out ROC AUC {held:.4}, cross-validated {cv:.4}; most of the importance: {}. Keep such a field only if it is known before the customer leaves (else `ignore` it in the schema)",
            top.join(", ")
        ),
    })
}

/// A bundle written, and what a caller reports about it.
#[derive(Debug, Clone)]
pub struct TrainedBundle {
    pub dir: PathBuf,
    pub metadata: Metadata,
    pub evaluation: Evaluation,
    pub warnings: Vec<Warning>,
    pub trials: usize,
    /// The training settings a tracked run records as params.
    pub settings: Vec<(String, String)>,
}

/// Trains on `req.data` and writes the bundle to `req.output`.
pub fn train_bundle(req: &TrainRequest, progress: &dyn Progress) -> Result<TrainedBundle, TrainError> {
    if !(0.05..=0.5).contains(&req.test_fraction) {
        return Err(TrainError::Settings("the held-out share (--test-fraction) must be between 0.05 and 0.5".into()));
    }
    let total = Instant::now();
    let mut seconds = BTreeMap::new();
    let t = Instant::now();
    let data = Dataset::load(&req.data, &req.schema)?;
    seconds.insert("load".to_string(), t.elapsed().as_secs_f64());

    let opts = &req.options;
    let (train_rows, test_rows) =
        split::train_test(&data.labels, req.test_fraction, &mut Rng::stream(opts.seed, streams::HELD_OUT));
    let train_part = data.subset(&train_rows);
    let test_part = data.subset(&test_rows);
    let trained = procedure::train(&train_part, opts, Some(&test_part), progress)?;
    seconds.insert("tuning".to_string(), trained.tuning_seconds);
    seconds.insert("fit".to_string(), trained.fit_seconds);

    let t = Instant::now();
    let probs = trained.score(&test_part);
    let x = trained.pipeline.encode_rows(&test_part.values);
    let evaluation = Evaluation {
        held_out: HeldOut::compute(&test_part.labels, &probs, trained.threshold, &opts.policy),
        cross_validated: trained.oof_metrics(),
        tuning: trained.trials.iter().map(|t| t.to_trial()).collect(),
        chosen_trial: trained.chosen_trial,
        curves: LearningCurves {
            rounds: trained.curves.rounds.clone(),
            train_log_loss: trained.curves.train.clone(),
            held_out_log_loss: trained.curves.valid.clone(),
        },
        risk_cuts: tables::risk_cuts(&probs),
        examples: examples(&test_part, &probs),
        importance: Explainer::for_pipeline(&trained.pipeline).importance(&trained.forest, &x, opts.threads),
        score_histogram: bundle::ScoreHistogram::of(&test_part.labels, &probs, 20),
    };
    let mut warnings = data.warnings.clone();
    if let Some(w) = too_good(&evaluation, test_part.len()) {
        let (held, cv) = (evaluation.held_out.metrics.roc_auc, evaluation.cross_validated.roc_auc);
        if held.min(cv) >= NEAR_PERFECT_AUC && !req.allow_near_perfect {
            let screened: Vec<String> =
                data.warnings.iter().filter(|w| w.kind.starts_with("LEAKAGE?")).map(|w| format!("\n  {w}")).collect();
            return Err(TrainError::NearPerfect(format!(
                "the model ranks customers near perfectly: {}.{}\nNo bundle was written; train with --allow-near-perfect to keep it anyway",
                w.example,
                if screened.is_empty() { String::new() } else { format!("\nThe leakage screen flagged:{}", screened.concat()) }
            )));
        }
        warnings.push(w);
    }
    let profile = Profile::fit(&req.schema, &train_part.values);
    seconds.insert("evaluate".to_string(), t.elapsed().as_secs_f64());
    let created = jiff::Timestamp::now();
    let mut metadata = Metadata {
        name: req.name.clone(),
        churn_version: env!("CARGO_PKG_VERSION").to_string(),
        created_utc: created.strftime("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        created_ms: created.as_millisecond() as u64,
        threshold: trained.threshold,
        policy: opts.policy,
        params: trained.params.to_params(),
        xgboost_params: trained.xgboost_params.iter().cloned().collect(),
        rounds: trained.rounds,
        seeds: trained.seeds,
        blend: trained.blend.clone(),
        xgboost_version: crate::bundle::mlmodel::XGBOOST_VERSION.to_string(),
        features: trained.pipeline.n_features(),
        trees: trained.forest.n_trees(),
        max_depth: trained.forest.max_depth(),
        explain_us: Some(trained.forest.explain_cost_us(&x)),
        data: DataInfo {
            path: req.data.display().to_string(),
            sha256: data.source.sha256.clone(),
            rows: data.len(),
            train_rows: train_part.len(),
            held_out_rows: test_part.len(),
            positive_rate: data.positive_rate(),
            warnings: warnings.clone(),
        },
        run: None,
        seconds: BTreeMap::new(),
    };
    let example_rows: Vec<Vec<f32>> = (0..2.min(test_part.len()))
        .map(|i| {
            let mut row = vec![0f32; trained.pipeline.n_features()];
            trained.pipeline.encode(test_part.row(i), &mut row);
            row
        })
        .collect();
    seconds.insert("total".to_string(), total.elapsed().as_secs_f64());
    metadata.seconds = seconds;
    bundle::write(
        &req.output,
        &BundleParts {
            model_ubj: &trained.model_ubj,
            pipeline: &trained.pipeline,
            metadata: &metadata,
            evaluation: &evaluation,
            profile: &profile,
            example_rows: &example_rows,
        },
    )?;
    let settings = vec![
        ("trials".to_string(), opts.trials.to_string()),
        ("trials_run".to_string(), trained.trials.len().to_string()),
        ("trials_complete".to_string(), trained.trials.iter().filter(|t| t.complete).count().to_string()),
        ("time_budget_s".to_string(), opts.time_budget.map_or("none".into(), |b| b.as_secs_f64().to_string())),
        ("tuning_folds".to_string(), opts.folds.to_string()),
        ("blend_limit".to_string(), opts.blend.as_str().to_string()),
        ("max_explain_us".to_string(), opts.max_explain_us.map_or("none".into(), |c| c.to_string())),
        ("test_fraction".to_string(), req.test_fraction.to_string()),
        ("early_stopping_rounds".to_string(), opts.early_stopping.to_string()),
        ("max_rounds".to_string(), opts.max_rounds.to_string()),
        ("split_seed".to_string(), opts.seed.to_string()),
        ("data_file".to_string(), req.data.display().to_string()),
        ("schema".to_string(), req.schema.name.clone()),
        ("pipeline_version".to_string(), crate::features::PIPELINE_VERSION.to_string()),
    ];
    Ok(TrainedBundle {
        dir: req.output.clone(),
        metadata,
        evaluation,
        warnings,
        trials: trained.trials.len(),
        settings,
    })
}

/// `churn evaluate`: repeated stratified k-fold of exactly what `train_bundle` does. With
/// `folds_out`, the outer fold of every row is written there first (CSV, one column per repeat,
/// one line per data row in file order) so that another stack can be scored on the same folds.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    data: &Path,
    schema: &Schema,
    opts: &TrainOptions,
    folds: usize,
    repeats: usize,
    seed: u64,
    folds_out: Option<&Path>,
    progress: &dyn Progress,
) -> Result<(CvReport, Vec<Warning>), TrainError> {
    if folds < 2 || repeats < 1 {
        return Err(TrainError::Settings("--folds must be at least 2 and --repeats at least 1".into()));
    }
    let data = Dataset::load(data, schema)?;
    if let Some(path) = folds_out {
        let ids = crate::evaluation::split::repeated_fold_ids(&data.labels, folds, repeats, seed);
        let mut csv = (1..=repeats).map(|r| format!("repeat_{r}")).collect::<Vec<_>>().join(",");
        csv.push('\n');
        for row in 0..data.len() {
            csv.push_str(&ids.iter().map(|f| f[row].to_string()).collect::<Vec<_>>().join(","));
            csv.push('\n');
        }
        crate::atomic::write_file(path, csv.as_bytes())
            .map_err(|e| TrainError::Settings(format!("--folds-out {}: {e}", path.display())))?;
    }
    let report = procedure::cross_validate(&data, opts, folds, repeats, seed, progress)?;
    Ok((report, data.warnings))
}

/// The riskiest and the safest held-out customers, for the UI's one-click examples.
fn examples(data: &Dataset, probs: &[f64]) -> Vec<bundle::Example> {
    let order = crate::evaluation::metrics::order_desc(probs);
    let (Some(&hi), Some(&lo)) = (order.first(), order.last()) else { return Vec::new() };
    let id = |i: usize| Some(data.ids[i].as_str()).filter(|s| !s.is_empty());
    vec![
        bundle::Example::new("Likely churner", probs[hi], &data.schema, id(hi), data.row(hi)),
        bundle::Example::new("Loyal customer", probs[lo], &data.schema, id(lo), data.row(lo)),
    ]
}
