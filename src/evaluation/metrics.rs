//! Classification metrics on probabilities, computed the way scikit-learn does so numbers can be
//! compared with the Python reference side by side.

use serde::{Deserialize, Serialize};

/// The six headline metrics (plus precision and recall) at a decision threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub log_loss: f64,
    pub brier: f64,
    pub accuracy: f64,
    pub f1: f64,
    pub precision: f64,
    pub recall: f64,
    pub threshold: f64,
}

impl Metrics {
    pub fn compute(labels: &[u8], probs: &[f64], threshold: f64) -> Metrics {
        let c = Confusion::at(labels, probs, threshold);
        Metrics {
            roc_auc: roc_auc(labels, probs),
            pr_auc: average_precision(labels, probs),
            log_loss: log_loss(labels, probs),
            brier: brier(labels, probs),
            accuracy: c.accuracy(),
            f1: c.f1(),
            precision: c.precision(),
            recall: c.recall(),
            threshold,
        }
    }

    /// Name/value pairs, for tracking and JSON summaries.
    pub fn pairs(&self) -> [(&'static str, f64); 8] {
        [
            ("roc_auc", self.roc_auc),
            ("pr_auc", self.pr_auc),
            ("log_loss", self.log_loss),
            ("brier", self.brier),
            ("accuracy", self.accuracy),
            ("f1", self.f1),
            ("precision", self.precision),
            ("recall", self.recall),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    pub fn_: u64,
}

impl Confusion {
    /// Predicts churn when the probability is at or above the threshold.
    pub fn at(labels: &[u8], probs: &[f64], threshold: f64) -> Confusion {
        let mut c = Confusion::default();
        for (&y, &p) in labels.iter().zip(probs) {
            match (y == 1, p >= threshold) {
                (true, true) => c.tp += 1,
                (false, true) => c.fp += 1,
                (false, false) => c.tn += 1,
                (true, false) => c.fn_ += 1,
            }
        }
        c
    }
    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }
    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.total())
    }
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Indices sorted by descending score.
pub fn order_desc(probs: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    idx
}

/// ROC AUC (Mann-Whitney, ties counted half). NaN when only one class is present.
pub fn roc_auc(labels: &[u8], probs: &[f64]) -> f64 {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[a].total_cmp(&probs[b]));
    let (mut rank_sum, mut pos) = (0.0f64, 0u64);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && probs[idx[j + 1]] == probs[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] == 1 {
                rank_sum += avg_rank;
                pos += 1;
            }
        }
        i = j + 1;
    }
    let neg = labels.len() as u64 - pos;
    if pos == 0 || neg == 0 {
        return f64::NAN;
    }
    (rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos as f64 * neg as f64)
}

/// Average precision, as scikit-learn's `average_precision_score`: sum over distinct thresholds
/// of (recall step) x precision.
pub fn average_precision(labels: &[u8], probs: &[f64]) -> f64 {
    let total_pos = labels.iter().filter(|&&y| y == 1).count() as f64;
    if total_pos == 0.0 {
        return f64::NAN;
    }
    let idx = order_desc(probs);
    let (mut tp, mut fp, mut ap, mut prev_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && probs[idx[j]] == probs[idx[i]] {
            if labels[idx[j]] == 1 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            j += 1;
        }
        let recall = tp / total_pos;
        let precision = tp / (tp + fp);
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
        i = j;
    }
    ap
}

pub fn log_loss(labels: &[u8], probs: &[f64]) -> f64 {
    const EPS: f64 = 1e-15;
    let s: f64 = labels
        .iter()
        .zip(probs)
        .map(|(&y, &p)| {
            let p = p.clamp(EPS, 1.0 - EPS);
            if y == 1 {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    s / labels.len().max(1) as f64
}

pub fn brier(labels: &[u8], probs: &[f64]) -> f64 {
    let s: f64 = labels.iter().zip(probs).map(|(&y, &p)| (p - y as f64).powi(2)).sum();
    s / labels.len().max(1) as f64
}

/// Mean and sample standard deviation (ddof = 1, as pandas and the Python anchors report).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    pub mean: f64,
    pub std: f64,
}

impl MeanStd {
    pub fn of(values: &[f64]) -> MeanStd {
        let n = values.len() as f64;
        if values.is_empty() {
            return MeanStd { mean: f64::NAN, std: f64::NAN };
        }
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        MeanStd { mean, std }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_matches_hand_computed_values() {
        // sklearn: roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.75
        assert!((roc_auc(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8]) - 0.75).abs() < 1e-12);
        // ties count half: roc_auc_score([0,1],[0.5,0.5]) = 0.5
        assert_eq!(roc_auc(&[0, 1], &[0.5, 0.5]), 0.5);
        assert!(roc_auc(&[1, 1], &[0.2, 0.3]).is_nan());
    }

    #[test]
    fn average_precision_matches_sklearn() {
        // sklearn: average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.8333...
        assert!((average_precision(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8]) - 0.833_333_333_333_333_4).abs() < 1e-12);
    }

    #[test]
    fn log_loss_and_brier() {
        // sklearn: log_loss([0,1],[0.2,0.7]) = 0.2899092476264711
        assert!((log_loss(&[0, 1], &[0.2, 0.7]) - 0.289_909_247_626_471_1).abs() < 1e-12);
        assert!((brier(&[0, 1], &[0.2, 0.7]) - 0.065).abs() < 1e-12);
    }

    #[test]
    fn confusion_counts_at_threshold() {
        let c = Confusion::at(&[1, 0, 1, 0], &[0.9, 0.6, 0.4, 0.1], 0.5);
        assert_eq!(c, Confusion { tp: 1, fp: 1, tn: 1, fn_: 1 });
        assert_eq!(c.f1(), 0.5);
    }

    #[test]
    fn mean_std_uses_sample_std() {
        let m = MeanStd::of(&[1.0, 2.0, 3.0]);
        assert_eq!(m.mean, 2.0);
        assert_eq!(m.std, 1.0);
    }
}
