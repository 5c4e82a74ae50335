//! Honest evaluation: metrics as scikit-learn computes them, stratified splits, the decision
//! threshold, and the tables (lift, calibration, curves) a retention team reads.

pub mod metrics;
pub mod split;
pub mod tables;
pub mod threshold;

pub use metrics::{Confusion, MeanStd, Metrics};
pub use threshold::ThresholdPolicy;

use serde::{Deserialize, Serialize};
use tables::{CalibrationBin, CurvePoint, LiftRow};

/// Log loss of the final fit by boosting round: on its training rows and on the held-out rows.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LearningCurves {
    /// The round (1-based) of each point: every round, or every few on tables above 100k
    /// training rows. Empty in bundles written before it: then one point per round.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<usize>,
    pub train_log_loss: Vec<f64>,
    pub held_out_log_loss: Vec<f64>,
}

impl LearningCurves {
    /// The boosting round (1-based) of point `i`.
    pub fn round_of(&self, i: usize) -> usize {
        self.rounds.get(i).copied().unwrap_or(i + 1)
    }
}

/// What the held-out rows say about a trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldOut {
    pub rows: usize,
    pub metrics: Metrics,
    pub confusion: Confusion,
    pub lift: Vec<LiftRow>,
    pub calibration: Vec<CalibrationBin>,
    pub curve: Vec<CurvePoint>,
}

impl HeldOut {
    pub fn compute(labels: &[u8], probs: &[f64], threshold: f64, policy: &ThresholdPolicy) -> HeldOut {
        HeldOut {
            rows: labels.len(),
            metrics: Metrics::compute(labels, probs, threshold),
            confusion: Confusion::at(labels, probs, threshold),
            lift: tables::decile_lift(labels, probs),
            calibration: tables::calibration(labels, probs, 10),
            curve: tables::sweep(labels, probs, policy, 200),
        }
    }
}
