//! The third stage: the final model, fitted on every training row. Each member of the final
//! margin is fitted with its final settings (after a search: half its rate, twice 1.2x its
//! rounds) under each seed; the seeds are averaged and the members blended into one XGBoost
//! model. The chosen set's first fit draws the learning curves. The same plan fits the model
//! again on every row of the table, held-out rows included ([`Plan`], the refit).

use super::final_margin::FinalMargin;
use super::fitting::Fitting;
use super::peers::Summing;
use super::procedure::{after_search, TrainError, TrainOptions};
use super::rows::Pick;
use super::search::Searched;
use super::xgboost::{self, Booster, Curves, DMatrix};
use super::BoostParams;
use crate::progress::Progress;

/// What the final fit fits: each member's parameters, rounds and weight (the chosen set first),
/// the blend's intercept, the seeds averaged.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub members: Vec<(BoostParams, usize, f64)>,
    pub intercept: f64,
    pub seeds: usize,
}

impl Plan {
    pub(super) fn of(searched: &Searched, margin: &FinalMargin, seeds: usize, opts: &TrainOptions) -> Plan {
        let members = margin
            .members
            .iter()
            .map(|&(t, weight)| {
                let (params, rounds) = final_settings(searched, t.0, opts);
                (params, rounds, weight)
            })
            .collect();
        Plan { members, intercept: margin.blend.as_ref().map_or(0.0, |b| b.intercept), seeds }
    }
}

pub(super) struct FinalModel {
    pub booster: Booster,
    /// The chosen set's final parameters and rounds (each averaged model has that many).
    pub params: BoostParams,
    pub rounds: usize,
    /// Every parameter sent to XGBoost for the chosen set's fit (for tracking).
    pub xgboost_params: Vec<(String, String)>,
    /// The rounds of the learning curves and the training rows' log loss at each.
    pub curves: Curves,
    /// The model the curves are of (the chosen set's first fit), as UBJSON.
    pub curve_model: Vec<u8>,
}

/// The parameters and rounds a trial is fitted with at the end.
pub(super) fn final_settings(searched: &Searched, t: usize, opts: &TrainOptions) -> (BoostParams, usize) {
    let trial = &searched.trials[t];
    if opts.trials > 0 {
        after_search(trial, opts.max_rounds)
    } else {
        (trial.params.clone(), trial.rounds)
    }
}

/// Fits `plan`; with `curves`, the first member's learning curves and model are kept for the
/// report (a refit, whose figures are the first model's, draws none).
pub(super) fn fit(
    fitting: &Fitting,
    plan: &Plan,
    opts: &TrainOptions,
    curves: bool,
    progress: &dyn Progress,
) -> Result<FinalModel, TrainError> {
    let names = fitting.pipeline.feature_names();
    let seeds = plan.seeds;
    let total_rounds: usize = plan.members.iter().map(|m| m.1).sum();
    progress.stage("final fit", (total_rounds * seeds) as u64);
    let mut learning = None;
    let mut curve_model = Vec::new();
    let mut tracked = Vec::new();
    let mut parts = Vec::with_capacity(plan.members.len());
    // Members of one bin count share a matrix; it is built when first needed and kept only
    // while members need it (they come sorted by weight, not by bins).
    let mut matrices: Vec<(u32, DMatrix)> = Vec::new();
    for (i, (params, rounds, weight)) in plan.members.iter().enumerate() {
        let bins = params.max_bin;
        if !matrices.iter().any(|(b, _)| *b == bins) {
            matrices.push((bins, fitting.matrix(Pick::Training, bins, opts.threads, None)?));
        }
        let dtrain = &matrices.iter().find(|(b, _)| *b == bins).expect("built above").1;
        let mut fit_opts = fitting.options(params, *rounds, opts.threads);
        fit_opts.feature_names = Some(&names);
        fit_opts.track_train_curve = curves && i == 0;
        if i == 0 {
            tracked = xgboost::tracked_params(&fit_opts);
        }
        let fitted = xgboost::fit_matrices(dtrain, None, &fit_opts, &Summing(fitting.peers), |_| progress.advance(1))?;
        // The learning curves are the chosen set's first fit's (before any blending): the other
        // seeds differ only in their samples. Its held-out curve is drawn once the held-out rows
        // are scored (`held_out`), from this model.
        if curves && i == 0 {
            learning = Some(fitted.curves);
            curve_model = xgboost::to_ubj(&fitted.booster)?;
        }
        let mut boosters = vec![fitted.booster];
        for s in 1..seeds {
            let opts_s =
                xgboost::FitOptions { seed: opts.seed.wrapping_add(s as u64), track_train_curve: false, ..fit_opts };
            boosters.push(
                xgboost::fit_matrices(dtrain, None, &opts_s, &Summing(fitting.peers), |_| progress.advance(1))?.booster,
            );
        }
        parts.push((xgboost::average(boosters)?, *weight));
        let later = &plan.members[i + 1..];
        matrices.retain(|(b, _)| later.iter().any(|m| m.0.max_bin == *b));
        crate::heap::release();
    }
    let booster = xgboost::blend(parts, plan.intercept)?;
    let (params, rounds, _) = plan.members[0].clone();
    Ok(FinalModel {
        booster,
        params,
        rounds,
        xgboost_params: tracked,
        curves: learning.unwrap_or_default(),
        curve_model,
    })
}
