//! The self-contained tier (`cargo test`): the real `churn` binary and library on synthetic data
//! in temp folders, and the HTTP API in process and on a real socket. Nothing outside Rust is
//! touched but the XGBoost library, which churn fetches once on first training.
//! One test binary, one module per feature (see ripgrep's layout); the tier that drives outside
//! tools (MLflow in Python, Chromium, Docker, linters, the IBM file) is `tests/integration`.

#[path = "../support/mod.rs"]
mod support;

mod bad_data;
mod challenge;
mod crash;
mod distributed;
mod monitor;
mod report;
mod round_trip;
mod serve;
mod synth;
mod train_cli;
