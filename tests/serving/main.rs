//! The serving build's own tier (`cargo test --no-default-features`, and part of every `cargo
//! test`): the HTTP API driven in process against a committed model bundle
//! (`tests/fixtures/model`), so it needs no training, no XGBoost and no network.

mod api_snapshots;
mod fuzz_inputs;
