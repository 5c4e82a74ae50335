//! The training procedure on one table, as three stages with typed results: the parameter
//! search (`search`), the final margin (`final_margin`), the final fit (`final_fit`); and the
//! same repeated in k-fold CV.
//!
//! Before the stages, the pipeline is fitted from counts over the training rows (their roles
//! say which rows those are, `rows`), so the table is walked, never copied: it may be held in
//! memory or spilled to disk, and in a distributed job each worker walks its own shard and the
//! counts of all are merged (`peers`).

use super::final_fit::{self, Plan};
use super::final_margin;
use super::fitting::Fitting;
use super::peers::{self, Alone, Peers};
use super::rows::Roles;
use super::search::{self, TrialId};
use super::{BlendLimit, BoostParams, TrialResult};
use crate::evaluation::metrics::{MeanStd, Metrics};
use crate::evaluation::{split, threshold, ThresholdPolicy};
use crate::features::{Pipeline, PipelineStats};
use crate::forest::Forest;
use crate::ingest::{ranges, Dataset, LabelledRows};
use crate::parallel;
use crate::progress::{Progress, Silent};
use crate::training::xgboost::{self, Curves, XgbError};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Parameter sets tried by cross-validated search; 0 = the default, no search.
    pub trials: usize,
    /// Folds of the tuning cross-validation.
    pub folds: usize,
    pub max_rounds: usize,
    pub early_stopping: usize,
    pub seed: u64,
    pub threads: usize,
    pub policy: ThresholdPolicy,
    /// The first (default) parameter set; the search adds random ones after it.
    pub base_params: BoostParams,
    /// Wall time for the search: no new screening or promoted fit starts after it (the two
    /// fixed sets always finish). None: no limit (the search is then fully reproducible).
    pub time_budget: Option<std::time::Duration>,
    /// Models fitted under different seeds and averaged into the final one; None: as
    /// [`default_seeds`] decides.
    pub seeds: Option<usize>,
    /// How far the final margin may be blended beyond the chosen set.
    pub blend: BlendLimit,
    /// What one customer's reasons may cost with the final model, in microseconds on one
    /// thread: the search chooses among sets whose final model is estimated within it, and a
    /// stack that would exceed it is not taken (`--max-explain-us`). None: no cap.
    pub max_explain_us: Option<f64>,
    /// Keep XGBoost's quantised matrices in files under this folder (external memory).
    pub external_memory: Option<std::path::PathBuf>,
    /// Where training may keep files of its own: external memory chosen because the training
    /// matrix would not fit in the memory available goes there. None: never chosen.
    pub scratch_dir: Option<std::path::PathBuf>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            trials: 12,
            folds: 5,
            max_rounds: 5000,
            early_stopping: 50,
            seed: 0,
            threads: parallel::default_threads(),
            policy: ThresholdPolicy::F1,
            base_params: BoostParams::default(),
            time_budget: Some(std::time::Duration::from_secs(DEFAULT_TIME_BUDGET_SECS)),
            seeds: None,
            blend: BlendLimit::default(),
            max_explain_us: None,
            external_memory: None,
            scratch_dir: None,
        }
    }
}

impl TrainOptions {
    /// The options without what may differ between the machines of one job (threads, local
    /// folders), for checking that every worker trains alike.
    pub fn without_machine(&self) -> TrainOptions {
        TrainOptions { threads: 0, external_memory: None, scratch_dir: None, ..self.clone() }
    }
}

/// The default search budget per `churn train` (and per fold of `churn evaluate`): small tables
/// never reach it; on 50k-row tables it bounds the search on a 2-core laptop.
pub const DEFAULT_TIME_BUDGET_SECS: u64 = 120;

/// Training rows up to which a tuned model is the average of [`AVERAGED_SEEDS`] fits.
pub const AVERAGE_UP_TO_ROWS: usize = 200_000;
pub const AVERAGED_SEEDS: usize = 3;

/// Rounds of the final fit on all training rows, from the cross-validated rounds: each fold's
/// early stopping saw a fifth fewer rows, and more rows carry more rounds before over-fitting.
/// 1.2x, with three seeds averaged (5x3 CV, every default): log loss 0.0688 -> 0.0685 on Bank
/// churners, 0.5541 -> 0.5538 on Cell2Cell, 0.4104 -> 0.4103 on the IBM file, AV bank churn
/// unchanged (README).
fn refit_rounds(cv_rounds: usize) -> usize {
    ((cv_rounds as f64) * 1.2).round().max(1.0) as usize
}

/// After a search the final fit learns this many times slower than the chosen set, with as
/// many times its rounds: smaller steps over the same path fit a little closer without the
/// search paying for them (its fits stop early at the set's own rate). 5x3 CV, every default,
/// the search's choices held fixed: log loss 0.0685 -> 0.0682 on Bank churners, 0.3377 ->
/// 0.3375 on AV bank churn, the IBM file unchanged; a quarter of the rate was worse on Bank
/// churners (0.0684) (README).
const REFIT_SLOWDOWN: usize = 2;

/// The final fit's parameters and rounds after a search: the chosen set at [`REFIT_SLOWDOWN`]
/// times its rate and rounds, the rounds capped at `max_rounds` times the same factor (the cap
/// the search ran under, at its rate).
pub(super) fn after_search(chosen: &TrialResult, max_rounds: usize) -> (BoostParams, usize) {
    let k = REFIT_SLOWDOWN;
    let params = BoostParams { eta: chosen.params.eta / k as f64, ..chosen.params.clone() };
    (params, refit_rounds(chosen.rounds).min(max_rounds) * k)
}

/// Final models averaged when `--seeds` is not given. After a search (`trials` > 0), on tables
/// of up to [`AVERAGE_UP_TO_ROWS`] rows, three fits under different seeds (their row and column
/// samples differ) are averaged: one fit's sampling noise costs more there than the two extra
/// fits. 5x3 CV, every default: log loss 0.0695 -> 0.0688 on Bank churners, 0.3385 -> 0.3377 on
/// AV bank churn, 0.4105 -> 0.4104 on the IBM file (README). `--trials 0` stays one quick fit,
/// and above that many rows one fit is steady enough for its cost.
pub fn default_seeds(trials: usize, rows: usize) -> usize {
    if trials > 0 && rows <= AVERAGE_UP_TO_ROWS {
        AVERAGED_SEEDS
    } else {
        1
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Xgb(#[from] XgbError),
    #[error(transparent)]
    Data(#[from] crate::ingest::DataError),
    #[error("cannot train on {0}")]
    Untrainable(String),
    #[error("{0}")]
    Settings(String),
    #[error("the trained model could not be read back: {0}")]
    ReadBack(#[from] crate::forest::ForestError),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error("{0}")]
    NearPerfect(String),
    /// A distributed job that cannot go on (a worker lost, shards that disagree).
    #[error("{0}")]
    Job(String),
}

pub struct Trained {
    pub pipeline: Pipeline,
    /// What the final fit fitted, to fit it again on every row (`refit`).
    pub plan: Plan,
    pub booster: xgboost::Booster,
    /// The model as XGBoost saved it (UBJSON): the bundle's `model.ubj`.
    pub model_ubj: Vec<u8>,
    pub forest: Forest,
    /// The final fit's parameters: after a search, the chosen set at its refit rate.
    pub params: BoostParams,
    /// Every parameter sent to XGBoost for the final fit (for tracking).
    pub xgboost_params: Vec<(String, String)>,
    /// Rounds of each averaged model (the model holds `seeds` x `rounds` trees).
    pub rounds: usize,
    /// How the margin was made from the searched sets; None: the chosen set alone.
    pub blend: Option<crate::bundle::BlendInfo>,
    pub seeds: usize,
    pub base_score: f64,
    pub threshold: f64,
    pub policy: ThresholdPolicy,
    pub trials: Vec<TrialResult>,
    pub chosen_trial: usize,
    /// Labels and out-of-fold probabilities of the chosen parameters (threshold source).
    pub oof_labels: Vec<u8>,
    pub oof_probs: Vec<f64>,
    /// Log loss of the chosen set's first final fit by round, on its training rows (the held-out
    /// rows' are drawn when they are scored, from `curve_model`).
    pub curves: Curves,
    /// That fit, as UBJSON.
    pub curve_model: Vec<u8>,
    pub tuning_seconds: f64,
    pub fit_seconds: f64,
    /// Whether XGBoost kept the training matrices in files (asked for, or chosen for the size).
    pub external_memory: bool,
}

impl Trained {
    /// Probabilities of the served scorer for validated rows.
    pub fn score(&self, data: &Dataset) -> Vec<f64> {
        let x = self.pipeline.encode_rows(&data.values);
        let m = self.pipeline.n_features();
        x.chunks(m).map(|row| self.forest.predict(row) as f64).collect()
    }

    /// Metrics of the out-of-fold predictions at the chosen threshold.
    pub fn oof_metrics(&self) -> Metrics {
        Metrics::compute(&self.oof_labels, &self.oof_probs, self.threshold)
    }
}

/// Both labels need a row in every fold (counted over every worker's training rows).
fn check_trainable(data: &dyn LabelledRows, labels: &[u8], folds: usize) -> Result<(), TrainError> {
    let pos = labels.iter().filter(|&&y| y == 1).count();
    let neg = labels.len() - pos;
    let target = &data.schema().target;
    if pos < folds || neg < folds {
        return Err(TrainError::Untrainable(format!(
            "{}: {} rows with {pos} \"{}\" and {neg} \"{}\"; both labels need at least {folds} rows",
            data.source().path,
            labels.len(),
            target.positive,
            target.negative
        )));
    }
    Ok(())
}

/// The pipeline's counts over the training rows (every worker's).
fn pipeline_stats(data: &dyn LabelledRows, roles: &Roles, peers: &dyn Peers) -> Result<PipelineStats, TrainError> {
    let d = data.schema().fields.len();
    let labels = data.labels();
    let mut stats = PipelineStats::new(data.schema(), roles.folds);
    // Row numbers are unique across workers: the rank sits above any row count.
    let base = (peers.rank() as u64) << 40;
    let mut buf = Vec::new();
    for range in ranges(data.len()) {
        let values = data.read(range.clone(), &mut buf)?;
        for (i, r) in range.enumerate() {
            if roles.is_training(r) {
                stats.add(&values[i * d..(i + 1) * d], labels[r], roles.fold[r] as usize, base + r as u64);
            }
        }
    }
    peers::merged(peers, stats, |a, b| a.merge(&b))
}

/// Bytes a training row takes in XGBoost's memory while it trains on it, by model input: the
/// quantised matrix keeps a 4-byte bin per input of a table with missing values, and the fit
/// gradients, predictions and row positions (measured: 175-222 bytes a row at 33 inputs).
fn bytes_per_row(features: usize) -> u64 {
    4 * features as u64 + 48
}

/// Chooses XGBoost's external memory when the training matrices would take more than 70 % of
/// the memory available (and the user chose no folder), in a temporary folder under the scratch
/// folder, and says so.
fn external_memory(
    rows: usize,
    features: usize,
    searching: bool,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<Option<tempfile::TempDir>, TrainError> {
    let (None, Some(scratch), Some(available)) = (&opts.external_memory, &opts.scratch_dir, crate::heap::available())
    else {
        return Ok(None);
    };
    // A search fits side by side, one per thread; a final fit or a refit one at a time.
    let side_by_side = if searching { opts.threads.max(1) as u64 } else { 1 };
    let need = rows as u64 * bytes_per_row(features) * side_by_side;
    if need * 10 <= available * 7 {
        return Ok(None);
    }
    let dir = tempfile::Builder::new().prefix(".churn-external-memory-").tempdir_in(scratch).map_err(|e| {
        TrainError::Settings(format!("cannot make a folder for external memory in {}: {e}", scratch.display()))
    })?;
    progress.note(&format!(
        "the training matrices of {rows} rows would take about {:.1} GB of the {:.1} GB available: XGBoost keeps them in files under {} (external memory); --external-memory DIR chooses the folder",
        need as f64 / 1e9,
        available as f64 / 1e9,
        scratch.display()
    ));
    Ok(Some(dir))
}

/// Fits the pipeline, tunes, fits the final model, on the training rows of `data` (`roles`);
/// held-out rows only feed the final fit's learning curve, never a decision.
pub fn train(
    data: &dyn LabelledRows,
    roles: &Roles,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<Trained, TrainError> {
    train_with(data, roles, opts, &Alone, progress)
}

/// [`train`] as one worker of a job: every worker calls it on its own shard, in step.
pub fn train_with(
    data: &dyn LabelledRows,
    roles: &Roles,
    opts: &TrainOptions,
    peers: &dyn Peers,
    progress: &dyn Progress,
) -> Result<Trained, TrainError> {
    if opts.trials > 0 && opts.folds < 2 {
        return Err(TrainError::Settings(format!(
            "the parameter search cross-validates on at least 2 folds, not {} (--folds of train, --tuning-folds of evaluate; --trials 0 needs none)",
            opts.folds
        )));
    }
    super::xgboost::library::ensure()?;
    let p = prepare(data, roles, opts, opts.trials > 0, peers, progress)?;
    let fitting = p.fitting(data, roles, opts, peers);
    let (labels, fold_of) = (&p.labels, &p.fold_of);

    let tuning_start = Instant::now();
    let candidates = search::candidates(opts);
    let seeds = opts.seeds.unwrap_or_else(|| default_seeds(opts.trials, labels.len())).max(1);
    let searched = search::search(&fitting, &candidates, seeds, opts, progress)?;
    let margin = final_margin::choose(&searched, labels, fold_of, opts);
    let threshold = threshold::choose(&margin.oof_labels, &margin.oof_probs, &opts.policy);
    let tuning_seconds = tuning_start.elapsed().as_secs_f64();

    let fit_start = Instant::now();
    let plan = Plan::of(&searched, &margin, seeds, opts);
    let model = final_fit::fit(&fitting, &plan, opts, true, progress)?;
    let fit_seconds = fit_start.elapsed().as_secs_f64();
    progress.finish();
    let model_ubj = xgboost::to_ubj(&model.booster)?;
    let forest = Forest::from_bytes(&model_ubj)?;
    let TrialId(chosen_trial) = searched.chosen;
    let external_memory = opts.external_memory.is_some() || p.external.is_some();
    let base_score = p.base_score;
    Ok(Trained {
        pipeline: p.pipeline,
        plan,
        xgboost_params: model.xgboost_params,
        booster: model.booster,
        model_ubj,
        forest,
        params: model.params,
        rounds: model.rounds,
        blend: margin.blend,
        seeds,
        base_score,
        threshold,
        policy: opts.policy,
        trials: searched.trials,
        chosen_trial,
        oof_labels: margin.oof_labels,
        oof_probs: margin.oof_probs,
        curves: model.curves,
        curve_model: model.curve_model,
        tuning_seconds,
        fit_seconds,
        external_memory,
    })
}

/// What every fit of a training needs, from the training rows: every worker's labels and fold
/// numbers in rank order (the positions the search's predictions are gathered by), the fitted
/// pipeline and fold rates, the base score, and a folder for external memory when it was chosen.
struct Prepared {
    labels: Vec<u8>,
    fold_of: Vec<u8>,
    offset: usize,
    pipeline: Pipeline,
    rates: crate::features::FoldRates,
    base_score: f64,
    external: Option<tempfile::TempDir>,
}

fn prepare(
    data: &dyn LabelledRows,
    roles: &Roles,
    opts: &TrainOptions,
    searching: bool,
    peers: &dyn Peers,
    progress: &dyn Progress,
) -> Result<Prepared, TrainError> {
    let mine: (Vec<u8>, Vec<u8>) =
        (0..data.len()).filter(|&r| roles.is_training(r)).map(|r| (data.labels()[r], roles.fold[r])).unzip();
    let all = peers::gather(peers, mine)?;
    let offset: usize = all[..peers.rank()].iter().map(|p| p.0.len()).sum();
    let (labels, fold_of): (Vec<u8>, Vec<u8>) =
        all.into_iter().fold((Vec::new(), Vec::new()), |(mut l, mut f), (a, b)| {
            l.extend(a);
            f.extend(b);
            (l, f)
        });
    check_trainable(data, &labels, opts.folds.max(2))?;
    let stats = pipeline_stats(data, roles, peers)?;
    let pipeline = Pipeline::fit_from(data.schema(), &stats);
    let rates = pipeline.fold_rates(&stats);
    let base_score = labels.iter().map(|&y| y as f64).sum::<f64>() / labels.len().max(1) as f64;
    let external = external_memory(roles.counts().0, pipeline.n_features(), searching, opts, progress)?;
    Ok(Prepared { labels, fold_of, offset, pipeline, rates, base_score, external })
}

impl Prepared {
    fn fitting<'a>(
        &'a self,
        data: &'a dyn LabelledRows,
        roles: &'a Roles,
        opts: &'a TrainOptions,
        peers: &'a dyn Peers,
    ) -> Fitting<'a> {
        Fitting {
            data,
            roles,
            pipeline: &self.pipeline,
            rates: &self.rates,
            labels: &self.labels,
            offset: self.offset,
            base_score: self.base_score,
            seed: opts.seed,
            external_memory: opts.external_memory.as_deref().or(self.external.as_ref().map(|d| d.path())),
            peers,
        }
    }
}

/// A model fitted again on other rows by the plan of an earlier training: the refit on every
/// row of the table once the held-out rows have been scored.
pub struct Refitted {
    pub pipeline: Pipeline,
    pub model_ubj: Vec<u8>,
    pub forest: Forest,
    pub rows: usize,
    pub seconds: f64,
}

/// Fits `plan` on the training rows of `roles` (every row, for the refit), with the pipeline
/// fitted again on them: the same sets, rounds, seeds and blend, no search.
pub fn refit(
    data: &dyn LabelledRows,
    roles: &Roles,
    plan: &Plan,
    opts: &TrainOptions,
    peers: &dyn Peers,
    progress: &dyn Progress,
) -> Result<Refitted, TrainError> {
    let start = Instant::now();
    let p = prepare(data, roles, opts, false, peers, progress)?;
    let model = final_fit::fit(&p.fitting(data, roles, opts, peers), plan, opts, false, progress)?;
    progress.finish();
    let model_ubj = xgboost::to_ubj(&model.booster)?;
    let forest = Forest::from_bytes(&model_ubj)?;
    let rows = p.labels.len();
    Ok(Refitted { pipeline: p.pipeline, model_ubj, forest, rows, seconds: start.elapsed().as_secs_f64() })
}

/// `churn evaluate`: repeated stratified k-fold of exactly what `churn train` does.
#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    pub roc_auc: MeanStd,
    pub pr_auc: MeanStd,
    pub log_loss: MeanStd,
    pub brier: MeanStd,
    /// At each fold model's own chosen threshold, as deployed.
    pub accuracy: MeanStd,
    pub f1: MeanStd,
    /// At 0.5, as the Python reference reports them.
    pub accuracy_at_0_5: MeanStd,
    pub f1_at_0_5: MeanStd,
    pub threshold: MeanStd,
    pub folds: usize,
    pub repeats: usize,
    pub seed: u64,
    pub trials: usize,
    pub rows: usize,
    pub data_sha256: String,
    pub seconds: f64,
}

pub fn cross_validate(
    data: &Dataset,
    opts: &TrainOptions,
    folds: usize,
    repeats: usize,
    seed: u64,
    progress: &dyn Progress,
) -> Result<CvReport, TrainError> {
    let start = Instant::now();
    super::xgboost::library::ensure()?;
    check_trainable(data, &data.labels, folds)?;
    let splits = split::repeated_kfold(&data.labels, folds, repeats, seed);
    progress.stage("folds", splits.len() as u64);
    // Outer folds run in parallel; each fold's own tuning then runs on one thread.
    let inner = TrainOptions { threads: 1, ..opts.clone() };
    let per_fold: Vec<Result<(Metrics, Metrics), TrainError>> = parallel::map(splits, opts.threads, |(tr, te)| {
        let train_part = data.subset(&tr);
        let test_part = data.subset(&te);
        let roles = Roles::new(&train_part.labels, None, inner.folds, inner.seed);
        let trained = train(&train_part, &roles, &inner, &Silent)?;
        let probs = trained.score(&test_part);
        progress.advance(1);
        Ok((
            Metrics::compute(&test_part.labels, &probs, trained.threshold),
            Metrics::compute(&test_part.labels, &probs, 0.5),
        ))
    });
    let per_fold: Vec<(Metrics, Metrics)> = per_fold.into_iter().collect::<Result<_, _>>()?;
    progress.finish();
    let col = |f: &dyn Fn(&(Metrics, Metrics)) -> f64| MeanStd::of(&per_fold.iter().map(f).collect::<Vec<_>>());
    Ok(CvReport {
        roc_auc: col(&|m| m.0.roc_auc),
        pr_auc: col(&|m| m.0.pr_auc),
        log_loss: col(&|m| m.0.log_loss),
        brier: col(&|m| m.0.brier),
        accuracy: col(&|m| m.0.accuracy),
        f1: col(&|m| m.0.f1),
        accuracy_at_0_5: col(&|m| m.1.accuracy),
        f1_at_0_5: col(&|m| m.1.f1),
        threshold: col(&|m| m.0.threshold),
        folds,
        repeats,
        seed,
        trials: opts.trials,
        rows: data.len(),
        data_sha256: data.source.sha256.clone(),
        seconds: start.elapsed().as_secs_f64(),
    })
}
