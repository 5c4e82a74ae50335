//! One file per resource.

pub mod admin;
pub mod docs;
pub mod health;
pub mod invocations;
pub mod metrics;
pub mod model;
pub mod predict;
pub mod v2;
