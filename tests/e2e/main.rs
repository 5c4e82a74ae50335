//! End-to-end tests: the real `churn` binary and library on real files in temp folders.
//! One test binary, one module per feature (see ripgrep's layout).

mod common;

mod api_snapshots;

mod bad_data;
mod deploy;
mod fuzz;
mod mlflow;
mod report;
mod round_trip;
pub mod serve;
mod synth;
mod train_cli;
mod ui;
