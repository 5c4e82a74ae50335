//! churn: a customer-churn system for telecom operators in one binary.
//!
//! The crate is laid out by responsibility:
//! - `schema`: the input schema (TOML) and validation of every raw value;
//! - `table`: reading and writing customer tables (CSV, Parquet);
//! - `synth`: the calibrated synthetic Telco generator (the embedded default data);
//! - `features`: the one feature pipeline shared by training, serving and batch scoring;
//! - `training`: tuning and fitting through the real XGBoost (feature `train`);
//! - `model`: the bundle, the pure-Rust scorer and exact TreeSHAP reasons;
//! - `scoring`: scoring with a loaded model, one customer or a whole file;
//! - `evaluation`: metrics, splits, thresholds, lift and calibration;
//! - `report`: the training report (HTML with inline SVG, PNG copies);
//! - `drift`: the training profile and PSI;
//! - `tracking`: MLflow file store, REST client and model URIs;
//! - `server`: the REST API and web UI (transport only);
//! - `cli`: the `churn` command line.

pub mod atomic;
pub mod bundle;
pub mod cache;
pub mod cli;
pub mod drift;
pub mod evaluation;
pub mod features;
pub mod forest;
pub mod http_client;
pub mod ingest;
pub mod parallel;
pub mod progress;
pub mod random;
#[cfg(feature = "report")]
pub mod report;
pub mod schema;
pub mod scoring;
pub mod server;
pub mod synth;
pub mod table;
pub mod tracking;
pub mod training;
