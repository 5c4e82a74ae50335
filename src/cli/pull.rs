//! `churn pull`: a model URI fetched into a plain bundle folder, checked to load and score its
//! own input example first. The release workflow bakes the registered `@champion` into the
//! serving image this way.

use super::CliError;
use crate::tracking::{self, TrackingUri};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model: an MLflow URI (models:/<name>@<alias>, models:/<name>/<version>,
    /// runs:/<run_id>/model, models:/m-<id>) or a bundle folder.
    #[arg(long, env = "MODEL_URI")]
    pub model: String,
    /// The folder to write (replaced whole if it exists).
    #[arg(long)]
    pub output: PathBuf,
    /// Where the model is tracked (default: MLFLOW_TRACKING_URI, else ./mlflow.db as MLflow does).
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: Option<String>,
}

pub fn run(a: Args) -> Result<(), CliError> {
    let tracking = TrackingUri::from_flag_or_env(a.tracking_uri.as_deref())?;
    let resolved = tracking::resolve(&a.model, &tracking)?;
    // Refuse a model that would not serve, before anything is written.
    let scorer = tracking::load_scorer(&resolved.dir.display().to_string(), &TrackingUri::from_flag_or_env(None)?)?;
    scorer.self_check().map_err(|why| {
        CliError::Usage(format!("{} loads but cannot score its own example customers: {why}", a.model))
    })?;
    let io = |context: String| move |source| CliError::Io { context, source };
    let staged =
        crate::atomic::StagedDir::new(&a.output).map_err(io(format!("cannot write {}", a.output.display())))?;
    copy_tree(&resolved.dir, staged.path()).map_err(io(format!("cannot copy {}", resolved.dir.display())))?;
    staged.commit().map_err(io(format!("cannot write {}", a.output.display())))?;
    println!(
        "pulled {} ({} features, threshold {:.3}) -> {}",
        a.model,
        scorer.n_features(),
        scorer.threshold(),
        a.output.display()
    );
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
