//! What `churn train` does to a table of labelled customers, and what `churn evaluate` repeats on
//! every fold: fit the feature pipeline, tune XGBoost inside cross-validation, fit the final
//! model, and choose the decision threshold from out-of-fold predictions.
//!
//! Tuning (`--trials N`, default 12): N parameter sets are scored by k-fold cross-validation on
//! the training rows only, each fold early-stopped on its own validation fold; the first set is
//! always the measured default (shallow, additive trees: on the IBM file, depth-1 and depth-2
//! models beat deeper ones), the others are drawn from a bounded space. The set with the lowest
//! mean validation log loss wins unless the default is within one standard error of it (of the
//! fold-by-fold difference); the final model is refit on all training rows at half its rate, with
//! twice 1.2x the mean of its early-stopped round counts, averaged over three seeds on up to
//! 200k rows; its margin may be recalibrated or stacked with the other fully scored sets
//! (`blending`, judged on the search's out-of-fold margins), and the out-of-fold predictions
//! choose the threshold. Nothing here ever sees a held-out or outer-test row. `--trials 0`
//! skips the search: default parameters, early-stopped on one stratified validation split.

#[cfg(feature = "train")]
mod blending;
#[cfg(feature = "train")]
mod final_fit;
#[cfg(feature = "train")]
mod final_margin;
#[cfg(feature = "train")]
mod fitting;
#[cfg(feature = "train")]
mod held_out;
#[cfg(feature = "train")]
pub mod job;
mod params;
#[cfg(feature = "train")]
pub mod peers;
#[cfg(feature = "train")]
mod procedure;
#[cfg(feature = "train")]
pub mod rows;
#[cfg(feature = "train")]
mod search;
#[cfg(feature = "train")]
pub mod service;
#[cfg(feature = "train")]
pub use blending::BlendLimit;
#[cfg(feature = "train")]
pub mod watch;
#[cfg(feature = "train")]
pub mod xgboost;

pub use params::{BoostParams, TrialResult};
#[cfg(feature = "train")]
pub use procedure::{
    cross_validate, train, train_with, CvReport, TrainError, TrainOptions, Trained, DEFAULT_TIME_BUDGET_SECS,
};
#[cfg(feature = "train")]
pub use service::{
    evaluate, train_bundle, train_bundle_with, Refit, Storage, TrainRequest, TrainedBundle, NEAR_PERFECT_AUC,
    REFIT_UP_TO_ROWS, SPILL_ABOVE_BYTES, SUSPICIOUS_AUC,
};
