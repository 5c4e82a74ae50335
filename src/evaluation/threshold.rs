//! Choosing the decision threshold from out-of-fold predictions (never from the held-out rows).
//!
//! - F1 (default): the threshold with the best F1 score.
//! - Profit, when `--offer-cost C` and `--customer-value V` are given: every customer at or above
//!   the threshold gets a retention offer costing C; a churner who gets it stays with probability
//!   `--offer-acceptance A` (default 1) and is worth V. Expected profit of a threshold:
//!   `profit(t) = TP(t) * (A * V - C) - FP(t) * C`
//!   and the threshold with the highest profit wins (if no threshold makes money, nobody is
//!   targeted and the threshold is 1).

use super::metrics::{order_desc, Confusion};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "snake_case")]
pub enum ThresholdPolicy {
    F1,
    Profit { offer_cost: f64, customer_value: f64, offer_acceptance: f64 },
}

impl ThresholdPolicy {
    pub fn describe(&self) -> String {
        match self {
            ThresholdPolicy::F1 => "F1-optimal".into(),
            ThresholdPolicy::Profit { offer_cost, customer_value, offer_acceptance } => format!(
                "profit-optimal (offer cost {offer_cost}, customer value {customer_value}, acceptance {offer_acceptance})"
            ),
        }
    }

    /// Profit of a confusion matrix under this policy (0 for F1).
    pub fn profit(&self, c: &Confusion) -> f64 {
        match self {
            ThresholdPolicy::F1 => 0.0,
            ThresholdPolicy::Profit { offer_cost, customer_value, offer_acceptance } => {
                c.tp as f64 * (offer_acceptance * customer_value - offer_cost) - c.fp as f64 * offer_cost
            }
        }
    }
}

/// Lowers the threshold through every distinct score, highest first, and hands `visit` the
/// confusion matrix at each one (everything at or above it predicted to churn). Returns the
/// matrix before any threshold, with nobody predicted to churn.
pub(crate) fn each_threshold(labels: &[u8], probs: &[f64], mut visit: impl FnMut(&Confusion, f64)) -> Confusion {
    let idx = order_desc(probs);
    let pos = labels.iter().filter(|&&y| y == 1).count() as u64;
    let neg = labels.len() as u64 - pos;
    let start = Confusion { tp: 0, fp: 0, tn: neg, fn_: pos };
    let mut c = start;
    let mut i = 0;
    while i < idx.len() {
        let t = probs[idx[i]];
        while i < idx.len() && probs[idx[i]] == t {
            if labels[idx[i]] == 1 {
                c.tp += 1;
                c.fn_ -= 1;
            } else {
                c.fp += 1;
                c.tn -= 1;
            }
            i += 1;
        }
        visit(&c, t);
    }
    start
}

/// Sweeps every distinct score as a threshold and returns the best one.
pub fn choose(labels: &[u8], probs: &[f64], policy: &ThresholdPolicy) -> f64 {
    let (mut best_t, mut best) = (1.0f64, 0.0f64);
    each_threshold(labels, probs, |c, t| {
        let score = match policy {
            ThresholdPolicy::F1 => c.f1(),
            ThresholdPolicy::Profit { .. } => policy.profit(c),
        };
        if score > best {
            best = score;
            best_t = t;
        }
    });
    best_t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f1_threshold_separates_a_clean_split() {
        let y = [0, 0, 0, 1, 1];
        let p = [0.1, 0.2, 0.3, 0.7, 0.8];
        assert_eq!(choose(&y, &p, &ThresholdPolicy::F1), 0.7);
    }

    #[test]
    fn profit_threshold_reaches_further_when_offers_are_cheap() {
        let y = [0, 0, 1, 0, 1, 1];
        let p = [0.1, 0.2, 0.3, 0.4, 0.8, 0.9];
        let cheap = ThresholdPolicy::Profit { offer_cost: 1.0, customer_value: 100.0, offer_acceptance: 1.0 };
        let dear = ThresholdPolicy::Profit { offer_cost: 60.0, customer_value: 100.0, offer_acceptance: 1.0 };
        assert_eq!(choose(&y, &p, &cheap), 0.3);
        assert_eq!(choose(&y, &p, &dear), 0.8);
        let hopeless = ThresholdPolicy::Profit { offer_cost: 200.0, customer_value: 100.0, offer_acceptance: 1.0 };
        assert_eq!(choose(&y, &p, &hopeless), 1.0);
    }
}
