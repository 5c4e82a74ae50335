//! The training procedure on one table: fit the pipeline, tune XGBoost in cross-validation,
//! fit the final model, choose the threshold out of fold; and the same repeated in k-fold CV.

use super::blending::{self, BlendKind, BlendLimit};
use super::{BoostParams, TrialResult};
use crate::evaluation::metrics::{self, MeanStd, Metrics};
use crate::evaluation::{split, threshold, ThresholdPolicy};
use crate::features::Pipeline;
use crate::forest::Forest;
use crate::ingest::Dataset;
use crate::parallel;
use crate::progress::{Progress, Silent};
use crate::random::{streams, Rng};
use crate::training::xgboost::{self, Curves, FitOptions, Matrix, XgbError};
use serde::Serialize;
use std::time::Instant;

/// Parameter sets every search scores on all folds: the user's (or the stumps) and the two
/// interaction sets.
const FIXED_SETS: usize = 3;

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
        }
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
fn refit(chosen: &TrialResult, max_rounds: usize) -> (BoostParams, usize) {
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
}

pub struct Trained {
    pub pipeline: Pipeline,
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
    /// Per-round log loss of the final fit: on its training rows and, when given, on held-out rows.
    pub curves: Curves,
    pub tuning_seconds: f64,
    pub fit_seconds: f64,
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

fn check_trainable(data: &Dataset, folds: usize) -> Result<(), TrainError> {
    let pos = data.labels.iter().filter(|&&y| y == 1).count();
    let neg = data.len() - pos;
    let target = &data.schema.target;
    if pos < folds || neg < folds {
        return Err(TrainError::Untrainable(format!(
            "{}: {} rows with {pos} \"{}\" and {neg} \"{}\"; both labels need at least {folds} rows",
            data.source.path,
            data.len(),
            target.positive,
            target.negative
        )));
    }
    Ok(())
}

struct FoldOutcome {
    trial: usize,
    fold: usize,
    test_rows: Vec<usize>,
    /// XGBoost's margins of the test rows (what blending fits on) and their probabilities.
    margins: Vec<f64>,
    probs: Vec<f64>,
    rounds: usize,
    log_loss: f64,
    roc_auc: f64,
    /// With a cap on the reasons' cost, on the first fold: what a row's reasons cost this model.
    explain_us: Option<ExplainCost>,
}

/// Microseconds per row of one model's reasons, and whether its stumps are folded into step
/// functions (a cost that does not grow with the trees).
#[derive(Debug, Clone, Copy)]
struct ExplainCost {
    us: f64,
    folded: bool,
}

/// The trial with the lowest mean validation log loss, except that the default set (trial 0)
/// is kept when it is within one standard error of the best: with a few thousand rows the
/// scores of good sets differ by less than their noise, and picking the noisy winner costs more
/// than it gains (Breiman's one-standard-error rule).
/// With a cap on the reasons' cost, only sets estimated within it are chosen (the cheapest set
/// when none is).
fn choose_trial(trials: &[TrialResult], outcomes: &[FoldOutcome], cap: Option<f64>) -> usize {
    let affordable = |t: usize| cap.is_none_or(|c| trials[t].explain_us.is_none_or(|us| us <= c));
    let complete: Vec<usize> = (0..trials.len()).filter(|&t| trials[t].complete).collect();
    let within: Vec<usize> = complete.iter().copied().filter(|&t| affordable(t)).collect();
    let Some(best) = within.iter().copied().min_by(|&a, &b| trials[a].cv_log_loss.total_cmp(&trials[b].cv_log_loss))
    else {
        let cost = |t: usize| trials[t].explain_us.unwrap_or(0.0);
        return complete.into_iter().min_by(|&a, &b| cost(a).total_cmp(&cost(b))).expect("at least one trial");
    };
    if best == 0 || !affordable(0) || !trials[0].complete {
        return best;
    }
    let losses: Vec<f64> = outcomes.iter().filter(|o| o.trial == best).map(|o| o.log_loss).collect();
    let spread = MeanStd::of(&losses).std / (losses.len() as f64).sqrt();
    if trials[0].cv_log_loss <= trials[best].cv_log_loss + spread {
        0
    } else {
        best
    }
}

/// Fits the pipeline, tunes, fits the final model. `held_out` rows only feed the final fit's
/// learning curve, never a decision.
pub fn train(
    data: &Dataset,
    opts: &TrainOptions,
    held_out: Option<&Dataset>,
    progress: &dyn Progress,
) -> Result<Trained, TrainError> {
    if opts.trials > 0 && opts.folds < 2 {
        return Err(TrainError::Settings(format!(
            "the parameter search cross-validates on at least 2 folds, not {} (--folds of train, --tuning-folds of evaluate; --trials 0 needs none)",
            opts.folds
        )));
    }
    super::xgboost::library::ensure()?;
    check_trainable(data, opts.folds.max(2))?;
    let y = &data.labels;
    let pipeline = Pipeline::fit(&data.schema, &data.values, y);
    let m = pipeline.n_features();
    let names = pipeline.feature_names();
    // Level rates of training rows come from the other folds: the same folds the search
    // validates on, so a validation row's rate is computed from its fold's training rows only,
    // as a new customer's is from all of them.
    let fold_of = split::stratified_folds(y, opts.folds.max(2), &mut Rng::stream(opts.seed, streams::FOLDS));
    let x = pipeline.encode_training_rows(&data.values, y, &fold_of);
    let base_score = data.positive_rate();

    let tuning_start = Instant::now();
    let candidates: Vec<BoostParams> = if opts.trials <= 1 {
        vec![opts.base_params.clone()]
    } else {
        let mut rng = Rng::stream(opts.seed, streams::SEARCH);
        // The stumps (or the user's set) and the interaction sets always; random draws after.
        [opts.base_params.clone(), BoostParams::interactions(), BoostParams::shallow_interactions()]
            .into_iter()
            .take(opts.trials)
            .chain((FIXED_SETS..opts.trials).map(|_| BoostParams::sample(&mut rng)))
            .collect()
    };
    let splits: Vec<(Vec<usize>, Vec<usize>)> = if opts.trials == 0 {
        let (a, b) = split::train_test(y, 0.2, &mut Rng::stream(opts.seed, streams::EARLY_STOPPING));
        vec![(a, b)]
    } else {
        split::folds_of(&fold_of, opts.folds)
    };
    let fixed = candidates.len().min(FIXED_SETS);
    let n_folds = splits.len();
    let deadline = opts.time_budget.map(|b| tuning_start + b);
    // Fits run side by side, one thread each; fewer fits than threads (`--trials 0`, or the last
    // promoted draws) share the threads out instead of leaving cores idle.
    let fit_fold = |c: usize, f: usize, threads: usize| -> Result<Option<FoldOutcome>, TrainError> {
        if c >= fixed && deadline.is_some_and(|d| Instant::now() >= d) {
            progress.advance(1);
            return Ok(None);
        }
        let (tr, te) = &splits[f];
        let gather = |rows: &[usize]| {
            let mut xs = Vec::with_capacity(rows.len() * m);
            let mut ys = Vec::with_capacity(rows.len());
            for &r in rows {
                xs.extend_from_slice(&x[r * m..(r + 1) * m]);
                ys.push(y[r]);
            }
            (xs, ys)
        };
        let (xtr, ytr) = gather(tr);
        let (xte, yte) = gather(te);
        let fit_opts = FitOptions {
            params: &candidates[c],
            max_rounds: opts.max_rounds,
            early_stopping: Some(opts.early_stopping),
            seed: opts.seed,
            threads,
            base_score,
            feature_names: None,
            track_train_curve: false,
        };
        let fitted = xgboost::fit(
            &Matrix { x: &xtr, y: &ytr, n_features: m },
            Some(&Matrix { x: &xte, y: &yte, n_features: m }),
            &fit_opts,
            |_| {},
        )?;
        let margins: Vec<f64> =
            xgboost::predict_margin(&fitted.booster, &xte, yte.len())?.into_iter().map(f64::from).collect();
        // Per tree, except for a folded forest of stumps, whose cost does not grow with its trees.
        let explain_us = match opts.max_explain_us {
            Some(_) if f == 0 => {
                let forest = Forest::from_bytes(&xgboost::to_ubj(&fitted.booster)?)?;
                Some(ExplainCost { us: forest.explain_cost_us(&xte), folded: forest.is_folded() })
            }
            _ => None,
        };
        let probs: Vec<f64> = margins.iter().map(|&z| blending::sigmoid(z)).collect();
        progress.advance(1);
        Ok(Some(FoldOutcome {
            trial: c,
            fold: f,
            test_rows: te.clone(),
            log_loss: metrics::log_loss(&yte, &probs),
            roc_auc: metrics::roc_auc(&yte, &probs),
            margins,
            probs,
            rounds: fitted.rounds,
            explain_us,
        }))
    };
    let run = |jobs: Vec<(usize, usize)>| -> Result<Vec<FoldOutcome>, TrainError> {
        let per_fit = (opts.threads / jobs.len().max(1)).max(1);
        let done = parallel::map(jobs, opts.threads, |(c, f)| fit_fold(c, f, per_fit));
        Ok(done.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect())
    };
    // Successive halving over folds. The fixed sets (the user's or the stumps, and the two
    // interaction sets) get every fold; each random draw is screened on the first fold, and only
    // of the draws whose first-fold loss is at most the best fixed set's there, the best ones
    // (no more than a third of all draws) get the remaining folds. A promoted draw's mean keeps
    // the fold it was selected on, a slight optimism the one-standard-error rule tempers.
    let draws = candidates.len() - fixed;
    let promote = draws.div_ceil(3);
    progress.stage("tuning", ((fixed + promote) * n_folds + draws - promote) as u64);
    let jobs =
        (0..fixed).flat_map(|c| (0..n_folds).map(move |f| (c, f))).chain((fixed..candidates.len()).map(|c| (c, 0)));
    let mut outcomes = run(jobs.collect())?;
    let first_fold_bar =
        outcomes.iter().filter(|o| o.trial < fixed && o.fold == 0).map(|o| o.log_loss).fold(f64::INFINITY, f64::min);
    let mut screened: Vec<&FoldOutcome> =
        outcomes.iter().filter(|o| o.trial >= fixed && o.log_loss <= first_fold_bar).collect();
    screened.sort_by(|a, b| a.log_loss.total_cmp(&b.log_loss));
    let promoted: Vec<usize> = screened.iter().take(promote).map(|o| o.trial).collect();
    progress.advance(((promote - promoted.len()) * (n_folds - 1)) as u64);
    let rest = run(promoted.iter().flat_map(|&c| (1..n_folds).map(move |f| (c, f))).collect())?;
    outcomes.extend(rest);

    let seeds = opts.seeds.unwrap_or_else(|| default_seeds(opts.trials, data.len())).max(1);
    let mut trials = Vec::with_capacity(candidates.len());
    for (c, params) in candidates.iter().enumerate() {
        let mine: Vec<&FoldOutcome> = outcomes.iter().filter(|o| o.trial == c).collect();
        if mine.is_empty() {
            continue; // not started within the time budget
        }
        let fold_rounds: Vec<usize> = mine.iter().map(|o| o.rounds).collect();
        let mean = |f: &dyn Fn(&FoldOutcome) -> f64| mine.iter().map(|o| f(o)).sum::<f64>() / mine.len() as f64;
        let mut trial = TrialResult {
            params: params.clone(),
            cv_log_loss: mean(&|o| o.log_loss),
            cv_roc_auc: mean(&|o| o.roc_auc),
            rounds: (fold_rounds.iter().sum::<usize>() as f64 / fold_rounds.len() as f64).round().max(1.0) as usize,
            complete: mine.len() == n_folds,
            fold_rounds,
            explain_us: None,
        };
        // The final model's cost: the first fold's per tree, times the final fit's trees (a
        // folded forest of stumps costs the same whatever its trees).
        if let Some(first) = mine.iter().find(|o| o.fold == 0 && o.explain_us.is_some()) {
            let final_trees = if opts.trials > 0 { refit(&trial, opts.max_rounds).1 } else { trial.rounds } * seeds;
            trial.explain_us = first.explain_us.map(|c| {
                if c.folded {
                    c.us
                } else {
                    c.us / first.rounds.max(1) as f64 * final_trees as f64
                }
            });
        }
        trials.push(trial);
    }
    // Outcomes name trials by their index in `trials` from here on.
    let index: std::collections::HashMap<usize, usize> = candidates
        .iter()
        .enumerate()
        .filter(|(c, _)| outcomes.iter().any(|o| o.trial == *c))
        .enumerate()
        .map(|(i, (c, _))| (c, i))
        .collect();
    for o in &mut outcomes {
        o.trial = index[&o.trial];
    }
    let chosen = choose_trial(&trials, &outcomes, opts.max_explain_us);
    let mut oof_labels = Vec::new();
    let mut oof_probs = Vec::new();
    for o in outcomes.iter().filter(|o| o.trial == chosen) {
        for (k, &r) in o.test_rows.iter().enumerate() {
            oof_labels.push(y[r]);
            oof_probs.push(o.probs[k]);
        }
    }
    // How the final margin is made: the chosen set as it is, recalibrated, or stacked with the
    // other fully scored sets, judged on the search's out-of-fold margins (`blending`).
    let mut members: Vec<(usize, f64)> = vec![(chosen, 1.0)];
    let mut blend = None;
    if opts.trials > 0 {
        let sets: Vec<usize> = (0..trials.len()).filter(|&t| trials[t].complete).collect();
        let columns: Vec<Vec<f64>> = sets
            .iter()
            .map(|&t| {
                let mut margins = vec![0.0; y.len()];
                for o in outcomes.iter().filter(|o| o.trial == t) {
                    for (k, &r) in o.test_rows.iter().enumerate() {
                        margins[r] = o.margins[k];
                    }
                }
                margins
            })
            .collect();
        let at = sets.iter().position(|&t| t == chosen).expect("the chosen set is fully scored");
        let mut choice = blending::choose(&columns, at, opts.blend, chosen != 0, y, &fold_of, opts.folds);
        // A stack serves (and explains) every member's trees: beyond the cap, recalibrate only.
        let stack_cost: f64 = sets
            .iter()
            .zip(&choice.blend.weights)
            .filter(|(_, &w)| w > 0.0)
            .map(|(&t, _)| trials[t].explain_us.unwrap_or(0.0))
            .sum();
        if choice.kind == BlendKind::Stacked && opts.max_explain_us.is_some_and(|cap| stack_cost > cap) {
            choice = blending::choose(&columns, at, BlendLimit::Recalibrate, false, y, &fold_of, opts.folds);
        }
        if choice.kind != BlendKind::Plain {
            // The chosen set first (its fit draws the learning curves), then by weight.
            members = sets.iter().zip(&choice.blend.weights).filter(|(_, &w)| w > 0.0).map(|(&t, &w)| (t, w)).collect();
            members.sort_by(|a, b| (b.0 == chosen).cmp(&(a.0 == chosen)).then(b.1.total_cmp(&a.1)));
            oof_labels = y.to_vec();
            oof_probs = choice.margins.iter().map(|&z| blending::sigmoid(z)).collect();
            blend = Some(crate::bundle::BlendInfo {
                kind: if choice.kind == BlendKind::Stacked { "stacked" } else { "recalibrated" }.to_string(),
                intercept: choice.blend.intercept,
                members: members
                    .iter()
                    .map(|&(t, weight)| crate::bundle::BlendMember {
                        trial: t + 1,
                        weight,
                        rounds: refit(&trials[t], opts.max_rounds).1,
                    })
                    .collect(),
                oof_log_loss_before: choice.log_loss_before,
                oof_log_loss_after: choice.log_loss_after,
            });
        }
    }
    let threshold = threshold::choose(&oof_labels, &oof_probs, &opts.policy);
    let tuning_seconds = tuning_start.elapsed().as_secs_f64();

    let final_settings = |t: usize| {
        if opts.trials > 0 {
            refit(&trials[t], opts.max_rounds)
        } else {
            (trials[t].params.clone(), trials[t].rounds)
        }
    };
    let (params, rounds) = final_settings(members[0].0);
    let held = held_out.map(|h| (pipeline.encode_rows(&h.values), h.labels.clone()));
    let fit_start = Instant::now();
    let total_rounds: usize = members.iter().map(|&(t, _)| final_settings(t).1).sum();
    progress.stage("final fit", (total_rounds * seeds) as u64);
    let matrix = Matrix { x: &x, y, n_features: m };
    let mut curves = None;
    let mut tracked = Vec::new();
    let mut parts = Vec::with_capacity(members.len());
    for (i, &(t, weight)) in members.iter().enumerate() {
        let (params_t, rounds_t) = final_settings(t);
        let fit_opts = FitOptions {
            params: &params_t,
            max_rounds: rounds_t,
            early_stopping: None,
            seed: opts.seed,
            threads: opts.threads,
            base_score,
            feature_names: Some(&names),
            track_train_curve: i == 0,
        };
        if i == 0 {
            tracked = xgboost::tracked_params(&fit_opts);
        }
        let held_matrix = held.as_ref().filter(|_| i == 0).map(|(hx, hy)| Matrix { x: hx, y: hy, n_features: m });
        let fitted = xgboost::fit(&matrix, held_matrix.as_ref(), &fit_opts, |_| progress.advance(1))?;
        // The learning curves are the chosen set's first fit's (before any blending): the other
        // seeds differ only in their samples.
        if i == 0 {
            curves = Some(fitted.curves);
        }
        let mut boosters = vec![fitted.booster];
        for s in 1..seeds {
            let opts_s = FitOptions { seed: opts.seed.wrapping_add(s as u64), track_train_curve: false, ..fit_opts };
            boosters.push(xgboost::fit(&matrix, None, &opts_s, |_| progress.advance(1))?.booster);
        }
        parts.push((xgboost::average(boosters)?, weight));
    }
    let booster = xgboost::blend(parts, blend.as_ref().map_or(0.0, |b| b.intercept))?;
    let fit_seconds = fit_start.elapsed().as_secs_f64();
    progress.finish();
    let model_ubj = xgboost::to_ubj(&booster)?;
    let forest = Forest::from_bytes(&model_ubj)?;
    Ok(Trained {
        pipeline,
        xgboost_params: tracked,
        booster,
        model_ubj,
        forest,
        params,
        rounds,
        blend,
        seeds,
        base_score,
        threshold,
        policy: opts.policy,
        trials,
        chosen_trial: chosen,
        oof_labels,
        oof_probs,
        curves: curves.unwrap_or_default(),
        tuning_seconds,
        fit_seconds,
    })
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
    check_trainable(data, folds)?;
    let splits = split::repeated_kfold(&data.labels, folds, repeats, seed);
    progress.stage("folds", splits.len() as u64);
    // Outer folds run in parallel; each fold's own tuning then runs on one thread.
    let inner = TrainOptions { threads: 1, ..opts.clone() };
    let per_fold: Vec<Result<(Metrics, Metrics), TrainError>> = parallel::map(splits, opts.threads, |(tr, te)| {
        let train_part = data.subset(&tr);
        let test_part = data.subset(&te);
        let trained = train(&train_part, &inner, None, &Silent)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(loss: f64, explain_us: Option<f64>) -> TrialResult {
        TrialResult {
            params: BoostParams::default(),
            cv_log_loss: loss,
            cv_roc_auc: 0.8,
            rounds: 10,
            fold_rounds: vec![10; 3],
            complete: true,
            explain_us,
        }
    }

    fn outcomes(trial: usize, losses: &[f64]) -> Vec<FoldOutcome> {
        losses
            .iter()
            .enumerate()
            .map(|(fold, &log_loss)| FoldOutcome {
                trial,
                fold,
                test_rows: Vec::new(),
                margins: Vec::new(),
                probs: Vec::new(),
                rounds: 10,
                log_loss,
                roc_auc: 0.8,
                explain_us: None,
            })
            .collect()
    }

    #[test]
    fn the_default_set_is_kept_within_one_standard_error_of_the_best() {
        let trials = [trial(0.402, None), trial(0.400, None)];
        // The best's folds spread widely: 0.402 is within one standard error of 0.400.
        let o: Vec<FoldOutcome> = outcomes(1, &[0.38, 0.40, 0.42]);
        assert_eq!(choose_trial(&trials, &o, None), 0);
        // Tightly spread: the best wins.
        let o = outcomes(1, &[0.3999, 0.4000, 0.4001]);
        assert_eq!(choose_trial(&trials, &o, None), 1);
    }

    #[test]
    fn a_cap_on_the_reasons_cost_chooses_among_the_sets_within_it() {
        let trials = [trial(0.45, Some(1.0)), trial(0.40, Some(900.0)), trial(0.42, Some(80.0))];
        let o = outcomes(1, &[0.3999, 0.4000, 0.4001]);
        assert_eq!(choose_trial(&trials, &o, None), 1);
        assert_eq!(choose_trial(&trials, &o, Some(100.0)), 2);
        assert_eq!(choose_trial(&trials, &o, Some(10.0)), 0);
        // None within the cap: the cheapest.
        let dear = [trial(0.45, Some(50.0)), trial(0.40, Some(900.0))];
        assert_eq!(choose_trial(&dear, &o, Some(1.0)), 0);
    }

    #[test]
    fn a_set_screened_out_is_never_chosen() {
        let mut trials = vec![trial(0.45, None), trial(0.30, None)];
        trials[1].complete = false;
        assert_eq!(choose_trial(&trials, &outcomes(1, &[0.3]), None), 0);
    }
}
