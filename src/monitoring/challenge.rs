//! Champion against challenger on the same labelled customers: each model's ROC AUC and log
//! loss, and paired bootstrap intervals of their differences (the same resampled customers for
//! both, so what they share cancels). The challenger wins only when it is better beyond the
//! interval on one figure and not worse beyond it on the other.

use crate::evaluation::metrics::{log_loss, roc_auc};
use crate::random::Rng;
use serde::Serialize;

/// A difference (challenger minus champion) with its 95% paired bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Difference {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub rows: usize,
    pub champion_roc_auc: f64,
    pub challenger_roc_auc: f64,
    pub champion_log_loss: f64,
    pub challenger_log_loss: f64,
    /// Challenger minus champion: higher is better.
    pub delta_roc_auc: Difference,
    /// Challenger minus champion: lower is better.
    pub delta_log_loss: Difference,
    pub bootstrap: usize,
    /// `challenger` or `champion`.
    pub winner: String,
    pub reasons: Vec<String>,
}

/// Compares two models' probabilities for the same customers (`labels`, which must hold both
/// outcomes: the caller checks), with `rounds` paired bootstrap resamples drawn from `seed`.
pub fn compare(labels: &[u8], champion: &[f64], challenger: &[f64], rounds: usize, seed: u64) -> Comparison {
    let n = labels.len();
    let auc = |p: &[f64], y: &[u8]| roc_auc(y, p);
    let (a0, a1) = (auc(champion, labels), auc(challenger, labels));
    let (l0, l1) = (log_loss(labels, champion), log_loss(labels, challenger));
    let mut rng = Rng::stream(seed, crate::random::streams::BOOTSTRAP);
    let (mut d_auc, mut d_ll) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    let (mut y, mut p0, mut p1) = (vec![0u8; n], vec![0f64; n], vec![0f64; n]);
    for _ in 0..rounds {
        for k in 0..n {
            let i = rng.below(n);
            y[k] = labels[i];
            p0[k] = champion[i];
            p1[k] = challenger[i];
        }
        if y.iter().all(|&v| v == y[0]) {
            continue;
        }
        d_auc.push(auc(&p1, &y) - auc(&p0, &y));
        d_ll.push(log_loss(&y, &p1) - log_loss(&y, &p0));
    }
    let interval = |value: f64, mut draws: Vec<f64>| {
        draws.sort_by(f64::total_cmp);
        let at = |q: f64| draws.get(((draws.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(value);
        Difference { value, low: at(0.025), high: at(0.975) }
    };
    let delta_roc_auc = interval(a1 - a0, d_auc);
    let delta_log_loss = interval(l1 - l0, d_ll);
    let (winner, reasons) = decide(&delta_roc_auc, &delta_log_loss);
    Comparison {
        rows: n,
        champion_roc_auc: a0,
        challenger_roc_auc: a1,
        champion_log_loss: l0,
        challenger_log_loss: l1,
        delta_roc_auc,
        delta_log_loss,
        bootstrap: rounds,
        winner: winner.to_string(),
        reasons,
    }
}

fn decide(auc: &Difference, ll: &Difference) -> (&'static str, Vec<String>) {
    let auc_text = format!("ROC AUC {:+.4} (95% interval {:+.4} to {:+.4})", auc.value, auc.low, auc.high);
    let ll_text = format!("log loss {:+.4} (95% interval {:+.4} to {:+.4})", ll.value, ll.low, ll.high);
    let better = auc.low > 0.0 || ll.high < 0.0;
    let worse = auc.high < 0.0 || ll.low > 0.0;
    if better && !worse {
        ("challenger", vec![format!("the challenger is better beyond the interval: {auc_text}, {ll_text}")])
    } else if worse {
        ("champion", vec![format!("the challenger is worse beyond the interval: {auc_text}, {ll_text}")])
    } else {
        (
            "champion",
            vec![format!("the difference is within the interval, so the champion stays: {auc_text}, {ll_text}")],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customers(n: usize, noise: f64, seed: u64) -> (Vec<u8>, Vec<f64>) {
        let mut rng = Rng::stream(seed, 1);
        let mut y = Vec::with_capacity(n);
        let mut p = Vec::with_capacity(n);
        for _ in 0..n {
            let truth = rng.uniform();
            y.push((rng.uniform() < truth) as u8);
            let guess = (truth + noise * (rng.uniform() - 0.5)).clamp(0.01, 0.99);
            p.push(guess);
        }
        (y, p)
    }

    #[test]
    fn a_sharper_model_wins_and_an_equal_one_does_not() {
        let (y, good) = customers(3000, 0.2, 3);
        let mut rng = Rng::stream(9, 2);
        let blurred: Vec<f64> = good.iter().map(|p| (p + 0.8 * (rng.uniform() - 0.5)).clamp(0.01, 0.99)).collect();
        let c = compare(&y, &blurred, &good, 300, 0);
        assert_eq!(c.winner, "challenger", "{c:?}");
        assert!(c.delta_roc_auc.low > 0.0 && c.delta_roc_auc.value > 0.0);
        let c = compare(&y, &good, &blurred, 300, 0);
        assert_eq!(c.winner, "champion");
        assert!(c.reasons[0].contains("worse"), "{:?}", c.reasons);
        let c = compare(&y, &good, &good, 300, 0);
        assert_eq!(c.winner, "champion");
        assert!(c.reasons[0].contains("within"), "{:?}", c.reasons);
    }
}
