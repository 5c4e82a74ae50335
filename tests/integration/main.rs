//! The integration tier (`cargo test --features integration`, run by scripts/test.sh and CI):
//! churn against the real outside world. A missing tool is a failure here, never a skip:
//! scripts/test-env.sh installs each one.
//! - MLflow 3.17.2 in Python, as a library and as `mlflow server` (both directions);
//! - headless Chromium driving the web UI and the report;
//! - schemathesis fuzzing the served OpenAPI document;
//! - hadolint, actionlint, cfn-lint, checkov, moto and a real Docker build of the image;
//! - the compose stack (PostgreSQL, an MLflow server, churn) started, trained against and reloaded;
//! - tritonclient and KServe's SDK calling the Open Inference Protocol routes;
//! - the real IBM Telco file (quality bar, a bundle, the generator's calibration).
//! - the README's "Using it" block, verbatim, after the demo.

#[path = "../support/mod.rs"]
mod support;

mod compose;
mod deploy;
mod faults;
mod fuzz;
mod mlflow;
mod oip_clients;
mod readme;
mod real_data;
mod report_browser;
mod ui;
