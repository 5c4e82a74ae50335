//! The `churn` command line: one file per subcommand, each a thin layer over the library.

mod challenge;
#[cfg(feature = "train")]
mod demo;
#[cfg(feature = "train")]
mod evaluate;
mod healthcheck;
mod monitor;
#[cfg(feature = "report")]
pub(crate) mod offer;
mod predict;
mod pull;
#[cfg(feature = "report")]
mod report;
mod schema;
mod serve;
mod synth;
mod track;
#[cfg(feature = "train")]
mod tracker;
#[cfg(feature = "train")]
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "churn",
    version,
    about = "Customer churn for telecom operators: train XGBoost, track in MLflow, serve with reasons.",
    long_about = "Customer churn for telecom operators, in one binary.\n\n\
        Typical flow:\n  \
        churn synth --rows 7043 --output customers.csv       # synthetic Telco customers\n  \
        churn evaluate --data customers.csv --json          # honest cross-validated quality\n  \
        churn train --data customers.csv --output model      # model bundle (+ MLflow run)\n  \
        churn predict --model model --input customers.csv --output scored.csv\n  \
        churn serve --model model                            # REST API + web UI on :8000\n\n\
        Tables are CSV (the IBM Telco file as published) or Parquet. The IBM Telco schema is\n\
        built in; any other churn table works with --schema FILE (see `churn schema`)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Generate synthetic customers in the IBM Telco schema (deterministic, streaming).
    Synth(synth::Args),
    /// Train a model bundle: validation, features, tuned XGBoost, held-out evaluation.
    #[cfg(feature = "train")]
    #[command(after_help = "A worker of a distributed job (started beside `churn tracker`) is named by:\n  \
        DMLC_TRACKER_URI, DMLC_TRACKER_PORT   where the tracker is (Kubeflow's names)\n  \
        DMLC_TASK_ID, DMLC_NUM_WORKER         this worker's name and the job's size (optional)\n  \
        CHURN_WATCH_PORT                      the tracker's watch port (default: its port + 1; `off`: none)\n  \
        CHURN_TRACKER_WAIT                    seconds to wait for the tracker to answer (default 30)\n  \
        CHURN_JOIN_TIMEOUT                    seconds to wait for the job to form (default 360)")]
    Train(Box<train::Args>),
    /// Cross-validate exactly what `train` does and report mean and std of each metric.
    #[cfg(feature = "train")]
    Evaluate(evaluate::Args),
    /// Score a customer file with a model (CSV or Parquet in and out, streaming).
    Predict(predict::Args),
    /// Write a model's training report (HTML with charts, PNG copies).
    #[cfg(feature = "report")]
    Report(report::Args),
    /// Did the predictions come true: a model on customers whose outcome is now known, realized
    /// metrics beside the trained ones, drift of every field and of the score, a verdict.
    Monitor(monitor::Args),
    /// Should the new model replace the champion: both on the same labelled customers, paired
    /// bootstrap intervals, and with --promote the alias moved (or not) with the evidence.
    Challenge(challenge::Args),
    /// Fetch a model (a registered alias, a run's model) into a bundle folder, checked to load.
    Pull(pull::Args),
    /// Serve the REST API (/predict, /invocations, /metrics, /docs) and the web UI (/ui).
    Serve(serve::Args),
    /// Log a model bundle to MLflow as a run (again, e.g. after a failed upload).
    Track(track::Args),
    /// Print the built-in Telco schema as TOML (a template for --schema), or draft one from a
    /// table with --infer FILE.
    Schema(schema::Args),
    /// Run XGBoost's tracker for a distributed training job of N `churn train` workers, until
    /// the job ends (exit 0 when every worker finished).
    #[cfg(feature = "train")]
    Tracker(tracker::Args),
    /// Exit 0 when the server answers GET / with 200 (the container's HEALTHCHECK).
    Healthcheck(healthcheck::Args),
    /// The main job end to end on synthetic data: customers, a tracked model, then the API + UI.
    #[cfg(feature = "train")]
    Demo(demo::Args),
}

/// Every failure a command can end with; `main` prints it with its causes and exits with
/// [`CliError::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Schema(#[from] crate::schema::SchemaError),
    #[error(transparent)]
    Data(#[from] crate::ingest::DataError),
    #[error(transparent)]
    Table(#[from] crate::table::TableError),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[cfg(feature = "train")]
    #[error(transparent)]
    Train(#[from] crate::training::TrainError),
    #[error(transparent)]
    TrackingSetup(#[from] crate::tracking::TrackingError),
    #[error(transparent)]
    Load(#[from] crate::tracking::LoadError),
    #[error("MLflow tracking failed: {message}\n{retry}")]
    Tracking { message: String, retry: String },
    #[error(transparent)]
    Serve(crate::server::ServeError),
    #[error("{0}")]
    Usage(String),
    /// A condition the user asked to be told about holds (`churn monitor --fail-on`).
    #[error("{0}")]
    Alert(String),
    /// Data that cannot answer the question asked of it (e.g. outcomes of one class only).
    #[error("{0}")]
    Refused(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// A distributed job that failed or could not form.
    #[error("{0}")]
    Job(String),
}

impl CliError {
    /// The process's exit code: 2 for a wrong command line (as clap's own), 3 for an alert
    /// (`--fail-on`), 4 for data or a schema that is refused, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Alert(_) => 3,
            CliError::Schema(_) | CliError::Data(_) | CliError::Table(_) | CliError::Refused(_) => 4,
            #[cfg(feature = "train")]
            CliError::Train(crate::training::TrainError::Data(_)) => 4,
            _ => 1,
        }
    }
}

/// "1 row", "2 rows": counts as a person writes them.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The message `main` prints: the error, then each cause that adds something. Many errors
/// already quote their cause (`cannot start: run abc not found ...`), and repeating it as a
/// `caused by` line only buries the part that says what to do.
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut out = format!("error: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(&format!("\n  caused by: {text}"));
        }
        source = s.source();
    }
    out
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Synth(a) => synth::run(a),
        #[cfg(feature = "train")]
        Command::Train(a) => train::run(*a),
        #[cfg(feature = "train")]
        Command::Evaluate(a) => evaluate::run(a),
        #[cfg(feature = "train")]
        Command::Demo(a) => demo::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Pull(a) => pull::run(a),
        Command::Monitor(a) => monitor::run(a),
        Command::Challenge(a) => challenge::run(a),
        #[cfg(feature = "report")]
        Command::Report(a) => report::run(a),
        Command::Track(a) => track::run(a),
        Command::Healthcheck(a) => healthcheck::run(a),
        #[cfg(feature = "train")]
        Command::Tracker(a) => tracker::run(a),
        Command::Schema(a) => schema::run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_keeps_causes_that_add_something_and_drops_repeats() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let quoted = CliError::Io { context: "cannot read a.csv".into(), source: io };
        assert_eq!(describe(&quoted), "error: cannot read a.csv: No such file or directory");

        #[derive(Debug, thiserror::Error)]
        #[error("cannot start")]
        struct Outer(#[source] std::io::Error);
        let bare = Outer(std::io::Error::new(std::io::ErrorKind::NotFound, "no model at m/"));
        assert_eq!(describe(&bare), "error: cannot start\n  caused by: no model at m/");
    }
}
