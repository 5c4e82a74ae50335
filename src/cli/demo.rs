//! `churn demo`: the main job end to end on the embedded default data: synthetic customers, a
//! tuned model bundle with its report, the run tracked in the folder's MLflow database and registered,
//! then the API and UI on port 8000.

use super::track::TrackingArgs;
use super::{serve, synth, train, CliError};
use crate::schema::Schema;
use crate::training::{TrainOptions, TrainRequest};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Working folder for the data, the bundle and the MLflow database (mlflow.db, mlruns/).
    #[arg(long, default_value = "churn-demo")]
    pub dir: PathBuf,
    /// Synthetic customers to generate (the IBM file has 7043).
    #[arg(long, default_value_t = 7043)]
    pub rows: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Port for the API and UI.
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
    /// Stop after training (do not serve).
    #[arg(long)]
    pub no_serve: bool,
}

pub fn run(a: Args) -> Result<(), CliError> {
    std::fs::create_dir_all(&a.dir)
        .map_err(|source| CliError::Io { context: format!("cannot create {}", a.dir.display()), source })?;
    let data = a.dir.join("customers.csv");
    let model = a.dir.join("model");
    // MLflow's default store of the demo folder: `mlflow ui` started there shows the run.
    let store = crate::tracking::TrackingUri::Sqlite(a.dir.join("mlflow.db"));
    eprintln!("[1/3] synthetic customers -> {}", data.display());
    synth::run(synth::Args {
        rows: a.rows,
        seed: a.seed,
        output: data.clone(),
        threads: crate::parallel::default_threads(),
    })?;
    eprintln!("[2/3] training (tuned XGBoost, report, MLflow run) -> {}", model.display());
    let request = TrainRequest {
        data,
        schema: Schema::telco(),
        output: model,
        name: "churn".into(),
        test_fraction: 0.2,
        allow_near_perfect: false,
        options: TrainOptions::default(),
        storage: crate::training::Storage::Auto,
        refit: crate::training::Refit::Auto,
    };
    let tracking = TrackingArgs {
        tracking_uri: Some(store.display()),
        experiment: "telco-churn".into(),
        run_name: None,
        register: Some("churn".into()),
        alias: Some("champion".into()),
    };
    let outcome = train::train_report_track(&request, Some(&tracking))?;
    let m = &outcome.trained.evaluation.held_out.metrics;
    eprintln!("      held-out ROC AUC {:.4}, log loss {:.4}", m.roc_auc, m.log_loss);
    if a.no_serve {
        // Every path the next commands take is relative to the demo folder: its customers,
        // bundle and MLflow store are where `churn` and `mlflow ui` look from there.
        eprintln!(
            "next: cd {dir}   then, as in the README's \"Using it\": churn predict --model models:/churn@champion \
             --input customers.csv --output scored.csv; churn serve --model models:/churn@champion; \
             mlflow ui (shows the run)",
            dir = a.dir.display()
        );
        return Ok(());
    }
    eprintln!(
        "[3/3] serving models:/churn@champion on http://localhost:{port} (UI: http://localhost:{port}/ui, docs: /docs, metrics: /metrics; Ctrl-C stops)",
        port = a.port
    );
    let config = serve::Args::defaults("models:/churn@champion", Some(store.display()), a.port).config()?;
    serve::serve(config, None, false)
}
