//! `churn synth`: synthetic customers in the IBM Telco schema, to a CSV or Parquet file.

use super::CliError;
use crate::synth;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of customers to generate.
    #[arg(long, default_value_t = 7043)]
    pub rows: u64,
    /// Seed: the same seed gives the same customers, byte for byte.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output file, .csv or .parquet.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Worker threads (the output does not depend on it).
    #[arg(long, default_value_t = crate::parallel::default_threads())]
    pub threads: usize,
}

pub fn run(a: Args) -> Result<(), CliError> {
    let start = Instant::now();
    let bar = crate::progress::Bar::rows("synth", Some(a.rows));
    let summary = synth::write(&a.output, a.rows, a.seed, a.threads, |done| bar.set_position(done))?;
    crate::progress::Progress::finish(&bar);
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} customers ({:.2} % churners) to {} in {:.2} s ({:.0} rows/s)",
        summary.rows,
        100.0 * summary.churners as f64 / summary.rows.max(1) as f64,
        a.output.display(),
        secs,
        summary.rows as f64 / secs.max(1e-9)
    );
    Ok(())
}
