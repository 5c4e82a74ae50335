//! `churn demo`: the main job end to end on the embedded default data.

use super::{synth, train, CliError};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Working folder for the synthetic data and the model bundle.
    #[arg(long, default_value = "churn-demo")]
    pub dir: PathBuf,
    /// Synthetic customers to generate (the IBM file has 7043).
    #[arg(long, default_value_t = 7043)]
    pub rows: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub fn run(a: Args) -> Result<(), CliError> {
    std::fs::create_dir_all(&a.dir)
        .map_err(|source| CliError::Io { context: format!("cannot create {}", a.dir.display()), source })?;
    let data = a.dir.join("customers.csv");
    let model = a.dir.join("model");
    eprintln!("[1/2] synthetic customers -> {}", data.display());
    synth::run(synth::Args {
        rows: a.rows,
        seed: a.seed,
        output: data.clone(),
        threads: crate::parallel::default_threads(),
    })?;
    eprintln!("[2/2] training -> {}", model.display());
    train::run(train::Args::for_demo(data, model))?;
    Ok(())
}
