//! What a retention team reads off a model: decile lift, calibration, and the curves behind the
//! report's charts (ROC, precision-recall, cumulative gains, profit by threshold).

use super::metrics::{order_desc, Confusion};
use super::threshold::{each_threshold, ThresholdPolicy};
use serde::{Deserialize, Serialize};

/// One decile of customers ranked by risk (decile 1 = the riskiest 10 %).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiftRow {
    pub decile: u32,
    pub customers: u64,
    pub churners: u64,
    pub churn_rate: f64,
    pub lift: f64,
    pub cumulative_gain: f64,
    pub min_probability: f64,
    pub max_probability: f64,
}

pub fn decile_lift(labels: &[u8], probs: &[f64]) -> Vec<LiftRow> {
    let n = labels.len();
    let total_pos = labels.iter().filter(|&&y| y == 1).count() as f64;
    let base_rate = total_pos / n.max(1) as f64;
    let idx = order_desc(probs);
    let mut rows = Vec::new();
    let mut cum = 0.0;
    for d in 0..10 {
        let (a, b) = (d * n / 10, (d + 1) * n / 10);
        if a == b {
            continue;
        }
        let part = &idx[a..b];
        let churners = part.iter().filter(|&&i| labels[i] == 1).count() as u64;
        cum += churners as f64;
        let rate = churners as f64 / part.len() as f64;
        rows.push(LiftRow {
            decile: d as u32 + 1,
            customers: part.len() as u64,
            churners,
            churn_rate: rate,
            lift: if base_rate > 0.0 { rate / base_rate } else { 0.0 },
            cumulative_gain: if total_pos > 0.0 { cum / total_pos } else { 0.0 },
            min_probability: part.iter().map(|&i| probs[i]).fold(f64::INFINITY, f64::min),
            max_probability: part.iter().map(|&i| probs[i]).fold(f64::NEG_INFINITY, f64::max),
        });
    }
    rows
}

/// Nine cut points (descending) that split these probabilities into ten equal groups.
pub fn risk_cuts(probs: &[f64]) -> Vec<f64> {
    if probs.is_empty() {
        return Vec::new();
    }
    let mut sorted = probs.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    (1..10).map(|d| sorted[(d * sorted.len() / 10).min(sorted.len() - 1)]).collect()
}

/// Risk decile of a probability given `risk_cuts` (1 = the riskiest tenth); None without cuts.
pub fn risk_decile(cuts: &[f64], p: f64) -> Option<u8> {
    if cuts.len() != 9 {
        return None;
    }
    Some(cuts.iter().position(|&c| p > c).map(|i| i as u8 + 1).unwrap_or(10))
}

/// One reliability bin: predicted vs observed churn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub lower: f64,
    pub upper: f64,
    pub customers: u64,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

pub fn calibration(labels: &[u8], probs: &[f64], bins: usize) -> Vec<CalibrationBin> {
    let mut count = vec![0u64; bins];
    let mut sum_p = vec![0f64; bins];
    let mut pos = vec![0u64; bins];
    for (&y, &p) in labels.iter().zip(probs) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        sum_p[b] += p;
        pos[b] += y as u64;
    }
    (0..bins)
        .map(|b| CalibrationBin {
            lower: b as f64 / bins as f64,
            upper: (b + 1) as f64 / bins as f64,
            customers: count[b],
            mean_predicted: if count[b] > 0 { sum_p[b] / count[b] as f64 } else { 0.0 },
            observed_rate: if count[b] > 0 { pos[b] as f64 / count[b] as f64 } else { 0.0 },
        })
        .collect()
}

/// A point of a threshold sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub threshold: f64,
    pub tpr: f64,
    pub fpr: f64,
    pub precision: f64,
    pub recall: f64,
    /// Share of customers at or above the threshold.
    pub targeted: f64,
    pub f1: f64,
    pub profit: f64,
}

/// The threshold sweep behind ROC, PR, gains and profit charts, thinned to at most `max_points`.
pub fn sweep(labels: &[u8], probs: &[f64], policy: &ThresholdPolicy, max_points: usize) -> Vec<CurvePoint> {
    let neg = labels.iter().filter(|&&y| y != 1).count() as u64;
    let point = |c: &Confusion, t: f64| CurvePoint {
        threshold: t,
        tpr: c.recall(),
        fpr: if neg > 0 { c.fp as f64 / neg as f64 } else { 0.0 },
        precision: if c.tp + c.fp > 0 { c.precision() } else { 1.0 },
        recall: c.recall(),
        targeted: (c.tp + c.fp) as f64 / labels.len().max(1) as f64,
        f1: c.f1(),
        profit: policy.profit(c),
    };
    let mut all = Vec::new();
    let start = each_threshold(labels, probs, |c, t| all.push(point(c, t)));
    all.insert(0, point(&start, 1.0));
    if all.len() <= max_points {
        return all;
    }
    let step = all.len() as f64 / (max_points - 1) as f64;
    let mut thinned: Vec<CurvePoint> = (0..max_points - 1).map(|k| all[(k as f64 * step) as usize]).collect();
    thinned.push(*all.last().expect("a sweep has points"));
    thinned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lift_ranks_the_riskiest_first() {
        let labels: Vec<u8> = (0..100).map(|i| (i < 20) as u8).collect();
        let probs: Vec<f64> = (0..100).map(|i| 1.0 - i as f64 / 100.0).collect();
        let lift = decile_lift(&labels, &probs);
        assert_eq!(lift.len(), 10);
        assert_eq!(lift[0].churners, 10);
        assert!((lift[0].lift - 5.0).abs() < 1e-12);
        assert!((lift[1].cumulative_gain - 1.0).abs() < 1e-12);
    }

    #[test]
    fn calibration_bins_count_everyone() {
        let labels = [0, 1, 1, 0];
        let probs = [0.05, 0.95, 0.5, 0.55];
        let bins = calibration(&labels, &probs, 10);
        assert_eq!(bins.iter().map(|b| b.customers).sum::<u64>(), 4);
        assert_eq!(bins[9].observed_rate, 1.0);
    }

    #[test]
    fn sweep_runs_from_nobody_to_everybody() {
        let labels = [0, 1, 1, 0];
        let probs = [0.1, 0.9, 0.6, 0.4];
        let s = sweep(&labels, &probs, &ThresholdPolicy::F1, 100);
        assert_eq!(s.first().unwrap().targeted, 0.0);
        assert_eq!(s.last().unwrap().targeted, 1.0);
        assert_eq!(s.last().unwrap().tpr, 1.0);
    }
}
