//! The parameter search: each candidate set scored by its early-stopped fits on the search
//! folds, successive halving over the random draws, and the choice of one set.
//!
//! The fixed sets (the user's or the stumps, and the two interaction sets) get every fold; each
//! random draw is screened on the first fold, and of the draws whose first-fold loss is at most
//! the best fixed set's there, the best ones (no more than a third of all draws) get the
//! remaining folds. A promoted draw's mean keeps the fold it was selected on, a slight optimism
//! the one-standard-error rule tempers. `--trials 0` is one fit of the given set, early-stopped
//! on a stratified fifth of the training rows.

use super::fitting::Fitting;
use super::peers::{self, Peers};
use super::procedure::{after_search, TrainError, TrainOptions};
use super::rows::Pick;
use super::{blending, BoostParams, TrialResult};
use crate::evaluation::metrics::{self, MeanStd};
use crate::forest::Forest;
use crate::parallel;
use crate::progress::Progress;
use crate::random::{streams, Rng};
use std::time::Instant;

/// Parameter sets every search scores on all folds: the user's (or the stumps) and the two
/// interaction sets.
const FIXED_SETS: usize = 3;

/// A candidate's place in the list of sets the search tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct CandidateId(pub usize);

/// A trial's place in the list of sets that ran (those started within the time budget): the
/// numbering the bundle's tuning table and the blend's members use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TrialId(pub usize);

/// One early-stopped fit of one set on one split.
pub(super) struct FoldOutcome<T> {
    pub trial: T,
    pub fold: usize,
    /// The validation rows' positions among the training rows.
    pub positions: Vec<usize>,
    /// XGBoost's margins of those rows (what blending fits on) and their probabilities.
    pub margins: Vec<f64>,
    pub probs: Vec<f64>,
    pub rounds: usize,
    pub log_loss: f64,
    pub roc_auc: f64,
    /// With a cap on the reasons' cost, on the first fold: what a row's reasons cost this model.
    pub explain_us: Option<ExplainCost>,
}

/// Microseconds per row of one model's reasons, and whether its stumps are folded into step
/// functions (a cost that does not grow with the trees).
#[derive(Debug, Clone, Copy)]
pub(super) struct ExplainCost {
    pub us: f64,
    pub folded: bool,
}

/// What the search found.
pub(super) struct Searched {
    pub trials: Vec<TrialResult>,
    pub outcomes: Vec<FoldOutcome<TrialId>>,
    pub chosen: TrialId,
}

/// The sets a search tries: the user's (or the stumps), the two interaction sets, then draws.
pub(super) fn candidates(opts: &TrainOptions) -> Vec<BoostParams> {
    if opts.trials <= 1 {
        return vec![opts.base_params.clone()];
    }
    let mut rng = Rng::stream(opts.seed, streams::SEARCH);
    [opts.base_params.clone(), BoostParams::interactions(), BoostParams::shallow_interactions()]
        .into_iter()
        .take(opts.trials)
        .chain((FIXED_SETS..opts.trials).map(|_| BoostParams::sample(&mut rng)))
        .collect()
}

/// The (fit, validation) rows of each split: the search folds, or the early-stopping split.
fn splits(fitting: &Fitting, opts: &TrainOptions) -> Vec<(Pick, Pick)> {
    if opts.trials == 0 {
        vec![(Pick::EarlyStoppingFit, Pick::EarlyStoppingValidation)]
    } else {
        (0..fitting.roles.folds as u8).map(|f| (Pick::OutsideFold(f), Pick::Fold(f))).collect()
    }
}

pub(super) fn search(
    fitting: &Fitting,
    candidates: &[BoostParams],
    seeds: usize,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<Searched, TrainError> {
    let splits = splits(fitting, opts);
    let n_folds = splits.len();
    let fixed = candidates.len().min(FIXED_SETS);
    let start = Instant::now();
    let deadline = opts.time_budget.map(|b| start + b);
    let labels = fitting.labels;
    let fit_fold = |c: usize, f: usize, threads: usize| -> Result<Option<FoldOutcome<CandidateId>>, TrainError> {
        // In a job every worker must run the same fits: the lead's clock decides for all.
        let late = c >= fixed && deadline.is_some_and(|d| Instant::now() >= d);
        if agreed(fitting.peers, late)? {
            progress.advance(1);
            return Ok(None);
        }
        let (fit, valid) = splits[f];
        let mut o = fitting.options(&candidates[c], opts.max_rounds, threads);
        o.early_stopping = Some(opts.early_stopping);
        let v = fitting.fit_validated(fit, valid, &o)?;
        // Per tree, except for a folded forest of stumps, whose cost does not grow with its trees.
        let explain_us = match opts.max_explain_us {
            Some(_) if f == 0 => {
                let forest = Forest::from_bytes(&super::xgboost::to_ubj(&v.fitted.booster)?)?;
                let sample = fitting.sample(valid, 100)?;
                Some(ExplainCost { us: forest.explain_cost_us(&sample), folded: forest.is_folded() })
            }
            _ => None,
        };
        let (positions, margins) = gathered(fitting.peers, v.positions, v.margins)?;
        let y: Vec<u8> = positions.iter().map(|&p| labels[p]).collect();
        let probs: Vec<f64> = margins.iter().map(|&z| blending::sigmoid(z)).collect();
        progress.advance(1);
        Ok(Some(FoldOutcome {
            trial: CandidateId(c),
            fold: f,
            log_loss: metrics::log_loss(&y, &probs),
            roc_auc: metrics::roc_auc(&y, &probs),
            positions,
            margins,
            probs,
            rounds: v.fitted.rounds,
            explain_us,
        }))
    };
    let run = |jobs: Vec<(usize, usize)>| -> Result<Vec<FoldOutcome<CandidateId>>, TrainError> {
        // Fits run side by side, one thread each; fewer fits than threads (`--trials 0`, or the
        // last promoted draws) share the threads out instead of leaving cores idle.
        let threads = if fitting.peers.parallel_fits() { opts.threads } else { 1 };
        let per_fit = (opts.threads / jobs.len().clamp(1, threads)).max(1);
        let done = parallel::map(jobs, threads, |(c, f)| fit_fold(c, f, per_fit));
        Ok(done.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect())
    };
    let draws = candidates.len() - fixed;
    let promote = draws.div_ceil(3);
    progress.stage("tuning", ((fixed + promote) * n_folds + draws - promote) as u64);
    let jobs =
        (0..fixed).flat_map(|c| (0..n_folds).map(move |f| (c, f))).chain((fixed..candidates.len()).map(|c| (c, 0)));
    let mut outcomes = run(jobs.collect())?;
    let first_fold_bar =
        outcomes.iter().filter(|o| o.trial.0 < fixed && o.fold == 0).map(|o| o.log_loss).fold(f64::INFINITY, f64::min);
    let mut screened: Vec<&FoldOutcome<CandidateId>> =
        outcomes.iter().filter(|o| o.trial.0 >= fixed && o.log_loss <= first_fold_bar).collect();
    screened.sort_by(|a, b| a.log_loss.total_cmp(&b.log_loss));
    let promoted: Vec<usize> = screened.iter().take(promote).map(|o| o.trial.0).collect();
    progress.advance(((promote - promoted.len()) * (n_folds - 1)) as u64);
    let rest = run(promoted.iter().flat_map(|&c| (1..n_folds).map(move |f| (c, f))).collect())?;
    outcomes.extend(rest);
    let (trials, outcomes) = summarise(candidates, outcomes, n_folds, seeds, opts);
    let chosen = choose_trial(&trials, &outcomes, opts.max_explain_us);
    Ok(Searched { trials, outcomes, chosen })
}

/// Whether the lead says yes (alone: whether this process does).
fn agreed(peers: &dyn Peers, mine: bool) -> Result<bool, TrainError> {
    Ok(peers::gather(peers, mine)?[0])
}

/// Every worker's validation positions and margins, in rank order (alone: this process's).
fn gathered(peers: &dyn Peers, positions: Vec<usize>, margins: Vec<f64>) -> Result<(Vec<usize>, Vec<f64>), TrainError> {
    let mut all = peers::gather(peers, (positions, margins))?.into_iter();
    let (mut positions, mut margins) = all.next().expect("at least this worker");
    for (p, m) in all {
        positions.extend(p);
        margins.extend(m);
    }
    Ok((positions, margins))
}

/// Each candidate that ran as a trial (its folds' mean loss, AUC and rounds, and the estimated
/// cost of its final model's reasons), and the outcomes renumbered by trial.
fn summarise(
    candidates: &[BoostParams],
    outcomes: Vec<FoldOutcome<CandidateId>>,
    n_folds: usize,
    seeds: usize,
    opts: &TrainOptions,
) -> (Vec<TrialResult>, Vec<FoldOutcome<TrialId>>) {
    let mut trials = Vec::with_capacity(candidates.len());
    let mut trial_of = std::collections::HashMap::new();
    for (c, params) in candidates.iter().enumerate() {
        let mine: Vec<&FoldOutcome<CandidateId>> = outcomes.iter().filter(|o| o.trial.0 == c).collect();
        if mine.is_empty() {
            continue; // not started within the time budget
        }
        let fold_rounds: Vec<usize> = mine.iter().map(|o| o.rounds).collect();
        let mean =
            |f: &dyn Fn(&FoldOutcome<CandidateId>) -> f64| mine.iter().map(|o| f(o)).sum::<f64>() / mine.len() as f64;
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
            let final_trees =
                if opts.trials > 0 { after_search(&trial, opts.max_rounds).1 } else { trial.rounds } * seeds;
            trial.explain_us = first.explain_us.map(|c| {
                if c.folded {
                    c.us
                } else {
                    c.us / first.rounds.max(1) as f64 * final_trees as f64
                }
            });
        }
        trial_of.insert(c, TrialId(trials.len()));
        trials.push(trial);
    }
    let outcomes = outcomes
        .into_iter()
        .map(|o| FoldOutcome {
            trial: trial_of[&o.trial.0],
            fold: o.fold,
            positions: o.positions,
            margins: o.margins,
            probs: o.probs,
            rounds: o.rounds,
            log_loss: o.log_loss,
            roc_auc: o.roc_auc,
            explain_us: o.explain_us,
        })
        .collect();
    (trials, outcomes)
}

/// The trial with the lowest mean validation log loss, except that the default set (trial 0)
/// is kept when it is within one standard error of the best: with a few thousand rows the
/// scores of good sets differ by less than their noise, and picking the noisy winner costs more
/// than it gains (after Breiman's one-standard-error rule).
///
/// The error is that of the paired difference: fold by fold, the default's validation loss
/// minus the best's. Both are scored on the same folds, so what makes one fold harder than
/// another is shared and cancels, while how much the fitted models vary from fold to fold is
/// kept. (The spread of the best's own fold losses counted the folds' difficulty: on a table of
/// interacting usage columns, 2,133 rows, the stumps were kept 0.018 behind depth 4.)
///
/// With a cap on the reasons' cost, only sets estimated within it are chosen (the cheapest set
/// when none is).
pub(super) fn choose_trial(trials: &[TrialResult], outcomes: &[FoldOutcome<TrialId>], cap: Option<f64>) -> TrialId {
    let affordable = |t: usize| cap.is_none_or(|c| trials[t].explain_us.is_none_or(|us| us <= c));
    let complete: Vec<usize> = (0..trials.len()).filter(|&t| trials[t].complete).collect();
    let within: Vec<usize> = complete.iter().copied().filter(|&t| affordable(t)).collect();
    let Some(best) = within.iter().copied().min_by(|&a, &b| trials[a].cv_log_loss.total_cmp(&trials[b].cv_log_loss))
    else {
        let cost = |t: usize| trials[t].explain_us.unwrap_or(0.0);
        return TrialId(complete.into_iter().min_by(|&a, &b| cost(a).total_cmp(&cost(b))).expect("at least one trial"));
    };
    if best == 0 || !affordable(0) || !trials[0].complete {
        return TrialId(best);
    }
    let default_loss = |fold: usize| outcomes.iter().find(|o| o.trial == TrialId(0) && o.fold == fold);
    let differences: Option<Vec<f64>> = outcomes
        .iter()
        .filter(|o| o.trial == TrialId(best))
        .map(|o| Some(default_loss(o.fold)?.log_loss - o.log_loss))
        .collect();
    match differences {
        Some(d) if d.len() > 1 => {
            let gap = MeanStd::of(&d);
            if gap.mean <= gap.std / (d.len() as f64).sqrt() {
                TrialId(0)
            } else {
                TrialId(best)
            }
        }
        // One split (no search) or folds missing: nothing to pair, the lower loss wins.
        _ => TrialId(best),
    }
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

    fn outcomes(trial: usize, losses: &[f64]) -> Vec<FoldOutcome<TrialId>> {
        losses
            .iter()
            .enumerate()
            .map(|(fold, &log_loss)| FoldOutcome {
                trial: TrialId(trial),
                fold,
                positions: Vec::new(),
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
    fn the_default_set_is_kept_within_one_paired_standard_error_of_the_best() {
        // Five folds of very different difficulty, the same for both sets.
        let hard = [0.30, 0.36, 0.42, 0.48, 0.54];
        let run = |default: &[f64], best: &[f64]| {
            let mean = |l: &[f64]| l.iter().sum::<f64>() / l.len() as f64;
            let trials = [trial(mean(default), None), trial(mean(best), None)];
            let mut o = outcomes(0, default);
            o.extend(outcomes(1, best));
            choose_trial(&trials, &o, None)
        };
        // Behind by 0.01 on every fold: far less than the folds' spread (the error of the
        // best's own fold losses is 0.04), and yet a difference that never changes sign.
        let behind: Vec<f64> = hard.iter().map(|h| h + 0.01).collect();
        assert_eq!(run(&behind, &hard), TrialId(1));
        // Behind by 0.002 on the whole, ahead on two folds of five: within the error.
        let wobble = [0.012, -0.006, 0.010, -0.008, 0.002];
        let close: Vec<f64> = hard.iter().zip(wobble).map(|(h, w)| h + w).collect();
        assert_eq!(run(&close, &hard), TrialId(0));
    }

    #[test]
    fn a_cap_on_the_reasons_cost_chooses_among_the_sets_within_it() {
        let trials = [trial(0.45, Some(1.0)), trial(0.40, Some(900.0)), trial(0.42, Some(80.0))];
        let o = outcomes(1, &[0.3999, 0.4000, 0.4001]);
        assert_eq!(choose_trial(&trials, &o, None), TrialId(1));
        assert_eq!(choose_trial(&trials, &o, Some(100.0)), TrialId(2));
        assert_eq!(choose_trial(&trials, &o, Some(10.0)), TrialId(0));
        // None within the cap: the cheapest.
        let dear = [trial(0.45, Some(50.0)), trial(0.40, Some(900.0))];
        assert_eq!(choose_trial(&dear, &o, Some(1.0)), TrialId(0));
    }

    #[test]
    fn a_set_screened_out_is_never_chosen() {
        let mut trials = vec![trial(0.45, None), trial(0.30, None)];
        trials[1].complete = false;
        assert_eq!(choose_trial(&trials, &outcomes(1, &[0.3]), None), TrialId(0));
    }

    #[test]
    fn candidates_are_the_fixed_sets_then_reproducible_draws() {
        let opts = TrainOptions { trials: 6, ..TrainOptions::default() };
        let c = candidates(&opts);
        assert_eq!(c.len(), 6);
        assert_eq!(c[0], BoostParams::default());
        assert_eq!(c[1], BoostParams::interactions());
        assert_eq!(c[2], BoostParams::shallow_interactions());
        assert_eq!(c, candidates(&opts));
        assert_eq!(candidates(&TrainOptions { trials: 0, ..opts }), vec![BoostParams::default()]);
    }
}
