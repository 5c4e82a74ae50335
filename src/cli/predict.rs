//! `churn predict`: a whole customer file scored, streaming, with rejects kept apart.

use super::CliError;
use crate::scoring::batch;
use crate::tracking::TrackingUri;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model: a bundle folder, runs:/<run_id>/model, models:/<name>/<version>,
    /// models:/<name>@<alias> or models:/m-<id>.
    #[arg(long, env = "MODEL_URI")]
    pub model: String,
    /// Customers to score (.csv or .parquet); the target column may be present (ignored).
    #[arg(long)]
    pub input: PathBuf,
    /// Scored output (.csv or .parquet): id, churn_probability, churn, risk_decile, risk_band [, reasons].
    #[arg(long)]
    pub output: PathBuf,
    /// Where rejected rows go, with line and reason (default: beside the output, `<output stem>.rejects.csv`: `--output s2.csv` rejects to `s2.rejects.csv`).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Append the top K reasons per customer (reason_k, reason_k_points).
    #[arg(long, default_value_t = 0)]
    pub explain: usize,
    /// Also write the model's input columns (what XGBoost sees), e.g. to compare with Python.
    #[arg(long)]
    pub with_features: bool,
    /// MLflow tracking store or server for runs:/ and models:/ URIs (default: MLflow's, sqlite:///mlflow.db here).
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: Option<String>,
    #[arg(long, default_value_t = crate::parallel::default_threads())]
    pub threads: usize,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `scored.csv` -> `scored.csv.model.json`: the model that scored the file and when.
pub fn provenance_path(output: &std::path::Path) -> PathBuf {
    let mut name = output.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".model.json");
    output.with_file_name(name)
}

pub fn run(a: Args) -> Result<(), CliError> {
    let tracking = TrackingUri::from_flag_or_env(a.tracking_uri.as_deref())?;
    let scorer = crate::tracking::load_scorer(&a.model, &tracking)?;
    let rejects = a.rejects.clone().unwrap_or_else(|| batch::default_rejects_path(&a.output));
    let bar = crate::progress::Bar::rows("scoring", None);
    let opts = batch::BatchOptions {
        explain: a.explain,
        with_features: a.with_features,
        threads: a.threads,
        batch_rows: 8_192,
    };
    let summary = batch::score_file(&scorer, &a.input, &a.output, &rejects, &opts, &|rows| bar.set_position(rows))?;
    crate::progress::Progress::finish(&bar);
    // Beside the scores, which model made them and when: outcomes join by id months later.
    let sidecar = provenance_path(&a.output);
    let provenance = serde_json::json!({
        "model": scorer.provenance(),
        "input": a.input.display().to_string(),
        "output": a.output.display().to_string(),
        "rows": summary.rows,
        "scored": summary.scored,
        "rejected": summary.rejected,
        "churn_version": env!("CARGO_PKG_VERSION"),
    });
    let text = serde_json::to_string_pretty(&provenance).expect("the provenance serialises");
    crate::atomic::write_file(&sidecar, text.as_bytes())
        .map_err(|source| CliError::Io { context: format!("cannot write {}", sidecar.display()), source })?;
    if a.json {
        println!("{}", serde_json::to_string(&summary).expect("the summary serialises"));
    } else {
        println!(
            "scored {} of {} with {} in {:.2} s ({:.0} rows/s): {} predicted to churn -> {}",
            summary.scored,
            super::count(summary.rows, "row"),
            scorer.source.uri,
            summary.seconds,
            summary.rows_per_second,
            summary.predicted_churners,
            summary.output
        );
        if let Some(r) = &summary.rejects {
            println!("rejected {} (line and reason in {r})", super::count(summary.rejected, "row"));
        }
    }
    Ok(())
}
