//! The model: training through XGBoost (feature `train`), the saved bundle, and the pure-Rust
//! scorer with exact TreeSHAP reasons that serving and batch scoring use.

mod additive;
pub mod bundle;
pub mod forest;
pub mod mlmodel;
pub mod reasons;
pub mod shap;
pub mod ubjson;

pub use bundle::{open, LoadedModel};
