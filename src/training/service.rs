//! Training as a library service: a labelled table in, a model bundle on disk out
//! ([`train_bundle`]), and the same procedure cross-validated ([`evaluate`]). The command line,
//! the demo and the tests call these; reports and MLflow tracking sit on top of the bundle.
//!
//! `train_bundle`: read and validate the table (the ingestion gate), into memory or, for a large
//! file, spilled to disk; give every row its role (a stratified held-out part, the search
//! folds); fit the pipeline, tune and fit XGBoost, choose the threshold (`procedure::train`);
//! score the held-out part with the served scorer; compute importance and the training profile;
//! write the bundle atomically (a crash leaves the previous bundle or none, never half of one).
//! As a worker of a distributed job ([`train_bundle_with`]) each step runs on the worker's shard
//! and its statistics are merged with the other workers'; only the lead writes the bundle.

use super::held_out::{self, Shipped};
use super::peers::{self, Alone, Peers};
use super::procedure::{self, CvReport, TrainError, TrainOptions};
use super::rows::Roles;
use crate::bundle::{self, BundleParts, DataInfo, Evaluation, Metadata};
use crate::evaluation::{tables, HeldOut, LearningCurves, ThresholdPolicy};
use crate::ingest::{findings::Findings, Dataset, LabelledRows, Source, Spilled, Warning};
use crate::progress::Progress;
use crate::schema::Schema;
use sha2::Digest;
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
    /// Where the validated rows are kept while training.
    pub storage: Storage,
    /// Whether the shipped model is fitted again on every row once the held-out rows are scored.
    pub refit: Refit,
}

/// What the shipped model learns from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refit {
    /// Every row when the table has at most [`REFIT_UP_TO_ROWS`] rows, else the training rows.
    Auto,
    /// Every row: after the held-out evaluation, the same plan (sets, rounds, seeds, blend) is
    /// fitted again on the whole table, held-out rows included.
    All,
    /// The training rows only: the shipped model is the one the held-out rows evaluated.
    None,
}

/// Tables up to this many rows ship a model refit on every row by default (`Refit::Auto`).
pub const REFIT_UP_TO_ROWS: usize = 1_000_000;

/// Where the validated rows of a training are kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Storage {
    /// In memory for a file under [`SPILL_ABOVE_BYTES`], else spilled beside the output folder.
    Auto,
    Memory,
    /// Spilled into a temporary folder under this one.
    Spill(PathBuf),
}

/// Files from this size on are spilled to disk while training (by default): a table in memory
/// takes eight bytes a cell, several times its CSV size.
pub const SPILL_ABOVE_BYTES: u64 = 32 << 20;

/// The table as training reads it.
enum Table {
    Memory(Dataset),
    Spilled(Spilled),
}

impl Table {
    fn rows(&self) -> &dyn LabelledRows {
        match self {
            Table::Memory(d) => d,
            Table::Spilled(s) => s,
        }
    }
}

/// Where a training keeps its own files by default: beside the output folder.
fn scratch_dir(req: &TrainRequest) -> PathBuf {
    match &req.storage {
        Storage::Spill(dir) => dir.clone(),
        _ => req
            .output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    }
}

fn load(req: &TrainRequest) -> Result<(Table, Findings), TrainError> {
    let spill_dir = match &req.storage {
        Storage::Memory => None,
        Storage::Spill(dir) => Some(dir.clone()),
        Storage::Auto => (crate::table::table_bytes(&req.data) >= SPILL_ABOVE_BYTES).then(|| scratch_dir(req)),
    };
    Ok(match spill_dir {
        None => {
            let (data, findings) = Dataset::load_scanned(&req.data, &req.schema)?;
            (Table::Memory(data), findings)
        }
        Some(dir) => {
            let (data, scanned) = Spilled::load(&req.data, &req.schema, &dir)?;
            (Table::Spilled(data), scanned.findings)
        }
    })
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

/// In a job, every worker's shard must have loaded, under the same schema and settings, before
/// anyone trains: a worker whose shard was refused, or who trains otherwise, fails the job on
/// every worker, named with its shard. Returns every worker's source, in rank order (this one's alone).
fn agree_on_shards(
    req: &TrainRequest,
    mine: Result<&Source, String>,
    peers: &dyn Peers,
) -> Result<Vec<Source>, TrainError> {
    if peers.world() == 1 {
        return Ok(mine.ok().cloned().into_iter().collect());
    }
    let digest = |text: String| crate::table::hex(&sha2::Sha256::digest(text.as_bytes()));
    let schema = digest(serde_json::to_string(&req.schema).unwrap_or_default());
    let settings = digest(format!("{:?} {}", req.options.without_machine(), req.test_fraction));
    let path = req.data.display().to_string();
    let all = peers::gather(peers, (mine.cloned(), path, schema, settings))?;
    let (_, _, lead_schema, lead_settings) = &all[0];
    for (rank, (status, path, schema, settings)) in all.iter().enumerate() {
        let why = match status {
            Err(e) => Some(format!("its shard was refused: {e}")),
            Ok(_) if schema != lead_schema => {
                Some("it reads its shard with another schema than the lead's".to_string())
            }
            Ok(_) if settings != lead_settings => Some("it trains with other settings than the lead's".to_string()),
            Ok(_) => None,
        };
        if let Some(why) = why {
            return Err(TrainError::Job(format!("worker {rank} (shard {path}) cannot train: {why}; no worker trains")));
        }
    }
    Ok(all.into_iter().filter_map(|(source, ..)| source.ok()).collect())
}

/// Trains on `req.data` and writes the bundle to `req.output`.
pub fn train_bundle(req: &TrainRequest, progress: &dyn Progress) -> Result<TrainedBundle, TrainError> {
    Ok(train_bundle_with(req, &Alone, progress)?.expect("one process leads itself"))
}

/// [`train_bundle`] as one worker of a job, on its shard: every worker fits and evaluates the
/// same model; the lead writes the bundle and returns it, the others return None.
pub fn train_bundle_with(
    req: &TrainRequest,
    peers: &dyn Peers,
    progress: &dyn Progress,
) -> Result<Option<TrainedBundle>, TrainError> {
    if !(0.05..=0.5).contains(&req.test_fraction) {
        return Err(TrainError::Settings("the held-out share (--test-fraction) must be between 0.05 and 0.5".into()));
    }
    let total = Instant::now();
    let mut seconds = BTreeMap::new();
    let t = Instant::now();
    let loaded = load(req);
    let shards =
        agree_on_shards(req, loaded.as_ref().map(|(t, _)| t.rows().source()).map_err(|e| e.to_string()), peers)?;
    let (table, findings) = loaded?;
    let data = table.rows();
    let findings = peers::merged(peers, findings, Findings::merge)?;
    let warnings = findings.into_warnings(&req.schema);
    // Every worker's rows, counted once: each shard's source knows its own.
    let rows: usize = shards.iter().map(|s| s.rows).sum();
    seconds.insert("load".to_string(), t.elapsed().as_secs_f64());

    let mut opts = req.options.clone();
    opts.scratch_dir = opts.scratch_dir.or_else(|| Some(scratch_dir(req)));
    let opts = &opts;
    let roles = Roles::new(data.labels(), Some(req.test_fraction), opts.folds, opts.seed);
    let trained = procedure::train_with(data, &roles, opts, peers, progress)?;
    seconds.insert("tuning".to_string(), trained.tuning_seconds);
    seconds.insert("fit".to_string(), trained.fit_seconds);

    // The held-out rows have no say in anything fitted so far; from here on they are scored
    // (by the model that did not see them) and, with the refit, learnt from.
    let refitted = match req.refit.wanted(rows) {
        true => Some(refit_on_every_row(data, &roles, &trained, opts, peers, progress)?),
        false => None,
    };
    if let Some(r) = &refitted {
        seconds.insert("refit".to_string(), r.seconds);
    }
    let shipped = match &refitted {
        Some(r) => Shipped { pipeline: &r.pipeline, forest: &r.forest },
        None => Shipped { pipeline: &trained.pipeline, forest: &trained.forest },
    };
    let t = Instant::now();
    let scored = held_out::score(data, &roles, &trained, shipped, opts.threads, peers)?;
    let evaluation = evaluation_of(&trained, &scored, &opts.policy);
    let mut warnings = warnings;
    if let Some(w) = too_good_to_ship(&evaluation, scored.labels.len(), &warnings, req.allow_near_perfect)? {
        warnings.push(w);
    }
    seconds.insert("evaluate".to_string(), t.elapsed().as_secs_f64());
    let positives = peers::summed(peers, vec![data.labels().iter().map(|&y| y as u64).sum()])?[0];
    // Every collective call is behind: only the lead writes.
    if !peers.leads() {
        return Ok(None);
    }
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
        features: shipped.pipeline.n_features(),
        trees: shipped.forest.n_trees(),
        max_depth: shipped.forest.max_depth(),
        explain_us: Some(scored.explain_us),
        data: DataInfo {
            path: req.data.display().to_string(),
            sha256: data.source().sha256.clone(),
            rows,
            train_rows: scored.train_rows,
            refit_rows: refitted.as_ref().map(|r| r.rows),
            held_out_rows: scored.labels.len(),
            positive_rate: positives as f64 / rows.max(1) as f64,
            warnings: warnings.clone(),
            shards: if shards.len() > 1 { shards } else { Vec::new() },
        },
        run: None,
        seconds: BTreeMap::new(),
    };
    seconds.insert("total".to_string(), total.elapsed().as_secs_f64());
    metadata.seconds = seconds;
    bundle::write(
        &req.output,
        &BundleParts {
            model_ubj: refitted.as_ref().map_or(&trained.model_ubj, |r| &r.model_ubj),
            pipeline: shipped.pipeline,
            metadata: &metadata,
            evaluation: &evaluation,
            profile: &scored.profile,
            example_rows: &scored.example_rows,
        },
    )?;
    let storage = if matches!(table, Table::Spilled(_)) { "spilled" } else { "memory" };
    let settings = settings_of(req, opts, &trained, refitted.is_some(), peers.world(), storage);
    Ok(Some(TrainedBundle {
        dir: req.output.clone(),
        metadata,
        evaluation,
        warnings,
        trials: trained.trials.len(),
        settings,
    }))
}

/// What the bundle records of a training's evaluation: the held-out rows' figures (of the model
/// that did not see them), the out-of-fold ones, the search, the curves, and what the UI shows.
fn evaluation_of(trained: &procedure::Trained, scored: &held_out::Scored, policy: &ThresholdPolicy) -> Evaluation {
    Evaluation {
        held_out: HeldOut::compute(&scored.labels, &scored.probs, trained.threshold, policy),
        cross_validated: trained.oof_metrics(),
        tuning: trained.trials.iter().map(|t| t.to_trial()).collect(),
        chosen_trial: trained.chosen_trial,
        curves: LearningCurves {
            rounds: trained.curves.rounds.clone(),
            train_log_loss: trained.curves.train.clone(),
            held_out_log_loss: scored.curve.clone(),
        },
        risk_cuts: tables::risk_cuts(&scored.probs),
        examples: scored.examples.clone(),
        importance: scored.importance.clone(),
        score_histogram: bundle::ScoreHistogram::of(&scored.labels, &scored.probs, 20),
    }
}

/// The loud warning for a model that looks too good, or the refusal to ship a near-perfect one
/// without `--allow-near-perfect` (quoting what the leakage screen flagged).
fn too_good_to_ship(
    evaluation: &Evaluation,
    rows: usize,
    warnings: &[Warning],
    allow: bool,
) -> Result<Option<Warning>, TrainError> {
    let Some(w) = too_good(evaluation, rows) else { return Ok(None) };
    let (held, cv) = (evaluation.held_out.metrics.roc_auc, evaluation.cross_validated.roc_auc);
    if held.min(cv) >= NEAR_PERFECT_AUC && !allow {
        let screened: Vec<String> =
            warnings.iter().filter(|w| w.kind.starts_with("LEAKAGE?")).map(|w| format!("\n  {w}")).collect();
        return Err(TrainError::NearPerfect(format!(
            "the model ranks customers near perfectly: {}.{}\nNo bundle was written; train with --allow-near-perfect to keep it anyway",
            w.example,
            if screened.is_empty() { String::new() } else { format!("\nThe leakage screen flagged:{}", screened.concat()) }
        )));
    }
    Ok(Some(w))
}

impl Refit {
    /// Whether a table of `rows` (every worker's) is refit on every row: asked for, or by default
    /// up to [`REFIT_UP_TO_ROWS`] rows.
    fn wanted(self, rows: usize) -> bool {
        match self {
            Refit::All => true,
            Refit::None => false,
            Refit::Auto => rows <= REFIT_UP_TO_ROWS,
        }
    }
}

/// The refit on every row.
fn refit_on_every_row(
    data: &dyn LabelledRows,
    roles: &Roles,
    trained: &procedure::Trained,
    opts: &TrainOptions,
    peers: &dyn Peers,
    progress: &dyn Progress,
) -> Result<procedure::Refitted, TrainError> {
    let every = roles.with_every_row(data.labels(), opts.seed);
    procedure::refit(data, &every, &trained.plan, opts, peers, progress)
}

/// The training settings a tracked run records as params.
fn settings_of(
    req: &TrainRequest,
    opts: &TrainOptions,
    trained: &procedure::Trained,
    refit: bool,
    workers: usize,
    storage: &str,
) -> Vec<(String, String)> {
    let none_or = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    [
        ("trials", opts.trials.to_string()),
        ("trials_run", trained.trials.len().to_string()),
        ("trials_complete", trained.trials.iter().filter(|t| t.complete).count().to_string()),
        ("time_budget_s", none_or(opts.time_budget.map(|b| b.as_secs_f64().to_string()))),
        ("tuning_folds", opts.folds.to_string()),
        ("blend_limit", opts.blend.as_str().to_string()),
        ("max_explain_us", none_or(opts.max_explain_us.map(|c| c.to_string()))),
        ("test_fraction", req.test_fraction.to_string()),
        ("early_stopping_rounds", opts.early_stopping.to_string()),
        ("max_rounds", opts.max_rounds.to_string()),
        ("split_seed", opts.seed.to_string()),
        ("data_file", req.data.display().to_string()),
        ("schema", req.schema.name.clone()),
        ("pipeline_version", crate::features::PIPELINE_VERSION.to_string()),
        ("workers", workers.to_string()),
        ("external_memory", trained.external_memory.to_string()),
        ("refit", refit.to_string()),
        ("storage", storage.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
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
