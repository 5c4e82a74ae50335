//! `churn report`: a model's training report, rebuilt for any model URI.

use super::CliError;
use crate::bundle;
use crate::evaluation::ThresholdPolicy;
use crate::report::{self, Economics};
use crate::tracking::{self, TrackingUri};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model: a bundle folder or an MLflow URI (runs:/, models:/).
    #[arg(long, env = "MODEL_URI")]
    pub model: String,
    /// Where to write report.html and the PNGs (default: the bundle's report/ for a folder,
    /// ./churn-report for an MLflow URI).
    #[arg(long)]
    pub output: Option<PathBuf>,
    // Redraws the profit chart for these economics (default: the model's own, or an
    // illustration when it was trained for F1).
    #[command(flatten)]
    pub offer: super::offer::OfferArgs,
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: Option<String>,
}

pub fn run(a: Args) -> Result<(), CliError> {
    let tracking = TrackingUri::from_flag_or_env(a.tracking_uri.as_deref())?;
    let resolved = tracking::resolve(&a.model, &tracking)?;
    let model = bundle::open(&resolved.dir)?;
    let economics = match a.offer.policy()? {
        ThresholdPolicy::Profit { offer_cost, customer_value, offer_acceptance } => {
            Some(Economics { offer_cost, customer_value, offer_acceptance, assumed: false })
        }
        ThresholdPolicy::F1 => None,
    };
    let built = report::build(&model, economics).map_err(|e| CliError::Usage(e.to_string()))?;
    let out = a.output.unwrap_or_else(|| match tracking::ModelUri::parse(&a.model) {
        Ok(tracking::ModelUri::Path(p)) => p.join("report"),
        _ => PathBuf::from("churn-report"),
    });
    let files = report::write(&built, &out).map_err(|e| CliError::Usage(e.to_string()))?;
    println!("report: {} ({} charts as PNG alongside)", out.join("report.html").display(), files.len() - 1);
    Ok(())
}
