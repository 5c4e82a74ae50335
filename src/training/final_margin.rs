//! The second stage: what the final model's margin is made of (the chosen set as it is,
//! recalibrated, or stacked with the other fully scored sets), judged on the search's
//! out-of-fold margins (`blending`), and the out-of-fold predictions the threshold is chosen on.

use super::blending::{self, BlendKind, BlendLimit};
use super::procedure::{after_search, TrainOptions};
use super::search::{Searched, TrialId};
use crate::bundle::{BlendInfo, BlendMember};

pub(super) struct FinalMargin {
    /// The trials whose final fits make the model, with their weights; the chosen one first.
    pub members: Vec<(TrialId, f64)>,
    /// How the margin was made; None: the chosen set alone.
    pub blend: Option<BlendInfo>,
    /// Labels and out-of-fold probabilities of the final margin (the threshold's source).
    pub oof_labels: Vec<u8>,
    pub oof_probs: Vec<f64>,
}

/// `labels` and `fold_of` are the training rows' (every worker's in a job), in the order the
/// outcomes' positions index.
pub(super) fn choose(searched: &Searched, labels: &[u8], fold_of: &[u8], opts: &TrainOptions) -> FinalMargin {
    let chosen = searched.chosen;
    let mut oof_labels = Vec::new();
    let mut oof_probs = Vec::new();
    for o in searched.outcomes.iter().filter(|o| o.trial == chosen) {
        for (k, &p) in o.positions.iter().enumerate() {
            oof_labels.push(labels[p]);
            oof_probs.push(o.probs[k]);
        }
    }
    let plain = FinalMargin { members: vec![(chosen, 1.0)], blend: None, oof_labels, oof_probs };
    if opts.trials == 0 {
        return plain;
    }
    let trials = &searched.trials;
    let sets: Vec<TrialId> = (0..trials.len()).map(TrialId).filter(|t| trials[t.0].complete).collect();
    let columns: Vec<Vec<f64>> = sets
        .iter()
        .map(|&t| {
            let mut margins = vec![0.0; labels.len()];
            for o in searched.outcomes.iter().filter(|o| o.trial == t) {
                for (k, &p) in o.positions.iter().enumerate() {
                    margins[p] = o.margins[k];
                }
            }
            margins
        })
        .collect();
    let at = sets.iter().position(|&t| t == chosen).expect("the chosen set is fully scored");
    let folds = opts.folds;
    let mut choice = blending::choose(&columns, at, opts.blend, chosen != TrialId(0), labels, fold_of, folds);
    // A stack serves (and explains) every member's trees: beyond the cap, recalibrate only.
    let stack_cost: f64 = sets
        .iter()
        .zip(&choice.blend.weights)
        .filter(|(_, &w)| w > 0.0)
        .map(|(&t, _)| trials[t.0].explain_us.unwrap_or(0.0))
        .sum();
    if choice.kind == BlendKind::Stacked && opts.max_explain_us.is_some_and(|cap| stack_cost > cap) {
        choice = blending::choose(&columns, at, BlendLimit::Recalibrate, false, labels, fold_of, folds);
    }
    if choice.kind == BlendKind::Plain {
        return plain;
    }
    // The chosen set first (its fit draws the learning curves), then by weight.
    let mut members: Vec<(TrialId, f64)> =
        sets.iter().zip(&choice.blend.weights).filter(|(_, &w)| w > 0.0).map(|(&t, &w)| (t, w)).collect();
    members.sort_by(|a, b| (b.0 == chosen).cmp(&(a.0 == chosen)).then(b.1.total_cmp(&a.1)));
    let blend = BlendInfo {
        kind: if choice.kind == BlendKind::Stacked { "stacked" } else { "recalibrated" }.to_string(),
        intercept: choice.blend.intercept,
        members: members
            .iter()
            .map(|&(t, weight)| BlendMember {
                trial: t.0 + 1,
                weight,
                rounds: after_search(&trials[t.0], opts.max_rounds).1,
            })
            .collect(),
        oof_log_loss_before: choice.log_loss_before,
        oof_log_loss_after: choice.log_loss_after,
    };
    FinalMargin {
        members,
        blend: Some(blend),
        oof_labels: labels.to_vec(),
        oof_probs: choice.margins.iter().map(|&z| blending::sigmoid(z)).collect(),
    }
}
