//! `churn evaluate`: the training procedure cross-validated (the training service's `evaluate`).

use super::CliError;
use crate::progress::Bar;
use crate::schema::Schema;
use crate::training::TrainOptions;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Labelled customer table (.csv or .parquet).
    #[arg(long)]
    pub data: PathBuf,
    /// Schema TOML (default: the built-in IBM Telco schema).
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// Folds per repeat.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Repeats, each with its own shuffle.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Seed of the fold assignment (and of each fold's training).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Parameter sets each fold's tuning tries (as `train --trials`).
    #[arg(long, default_value_t = 12)]
    pub trials: usize,
    /// Folds of each fold's own tuning cross-validation (as `train --folds`).
    #[arg(long, default_value_t = 5)]
    pub tuning_folds: usize,
    #[command(flatten)]
    pub boosting: super::train::BoostingArgs,
    /// Threads for everything: the leakage screen while the table is read, then the outer folds in
    /// parallel.
    #[arg(long, default_value_t = crate::parallel::default_threads())]
    pub threads: usize,
    /// Write the outer fold of every row here first (CSV: one column per repeat, one line per
    /// data row in file order), to score another stack on the same folds (bench/tables.py).
    #[arg(long, value_name = "FILE")]
    pub folds_out: Option<PathBuf>,
    /// Print one JSON object (each metric as {"mean": .., "std": ..}) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> Result<(), CliError> {
    crate::parallel::choose_threads(a.threads);
    let schema = Schema::load_or_default(a.schema.as_deref())?;
    let opts = TrainOptions {
        trials: a.trials,
        folds: a.tuning_folds,
        seed: a.seed,
        threads: a.threads,
        max_rounds: a.boosting.max_rounds,
        early_stopping: a.boosting.early_stopping,
        base_params: a.boosting.base_params()?,
        time_budget: a.boosting.time_budget(),
        seeds: a.boosting.seeds.map(|s| s as usize),
        blend: a.boosting.blend,
        max_explain_us: a.boosting.max_explain_us,
        ..TrainOptions::default()
    };
    let (report, warnings) = crate::training::evaluate(
        &a.data,
        &schema,
        &opts,
        a.folds,
        a.repeats,
        a.seed,
        a.folds_out.as_deref(),
        &Bar::new(),
    )?;
    for w in &warnings {
        eprintln!("warning: {}: {w}", a.data.display());
    }
    if report.roc_auc.mean >= crate::training::SUSPICIOUS_AUC {
        eprintln!(
            "warning: SUSPICIOUSLY GOOD? cross-validated ROC AUC {:.4}: a model this good usually leans on a field recorded after the customer left; `churn train` names the fields that carry it",
            report.roc_auc.mean
        );
    }
    if a.json {
        println!("{}", serde_json::to_string(&report).expect("the report serialises"));
    } else {
        println!(
            "{}x{} stratified CV of `churn train` on {} ({} rows, {} trials per fold, {:.1} s)",
            a.repeats,
            a.folds,
            a.data.display(),
            report.rows,
            report.trials,
            report.seconds
        );
        for (name, m) in [
            ("roc_auc", report.roc_auc),
            ("pr_auc", report.pr_auc),
            ("log_loss", report.log_loss),
            ("brier", report.brier),
            ("accuracy", report.accuracy),
            ("f1", report.f1),
            ("accuracy@0.5", report.accuracy_at_0_5),
            ("f1@0.5", report.f1_at_0_5),
            ("threshold", report.threshold),
        ] {
            println!("  {name:<13} {:.4} +- {:.4}", m.mean, m.std);
        }
    }
    Ok(())
}
