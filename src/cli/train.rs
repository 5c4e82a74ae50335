//! `churn train`: the training service, then the report and the MLflow run of the bundle it
//! wrote. The demo runs the same steps through [`train_report_track`].

use super::CliError;
use crate::progress::Bar;
use crate::schema::Schema;
use crate::training::job::Job;
use crate::training::peers::Peers;
use crate::training::xgboost::collective::WorkerConfig;
use crate::training::{train_bundle, train_bundle_with, Refit, Storage, TrainOptions, TrainRequest, TrainedBundle};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How the booster is fitted; shared by `train` and `evaluate`.
#[derive(clap::Args, Debug, Clone)]
pub struct BoostingArgs {
    /// Override a parameter of the default set, e.g. `--param max_depth=2` (repeatable).
    /// With `--trials 0` exactly these parameters are used.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Seconds after which the parameter search starts no new fit (per training, so per fold
    /// of `evaluate`); 0 = no limit. The three fixed sets always finish, and fits already running
    /// end normally, so a search can run past it.
    #[arg(long, value_name = "SECONDS", value_parser = seconds, default_value_t = crate::training::DEFAULT_TIME_BUDGET_SECS as f64)]
    pub time_budget: f64,
    /// Upper bound on boosting rounds (early stopping usually ends sooner). After a search the
    /// final fit runs at half the chosen rate, so with up to twice as many.
    #[arg(long, default_value_t = 5000)]
    pub max_rounds: usize,
    /// Rounds without improvement of the validation log loss before stopping.
    #[arg(long, default_value_t = 50)]
    pub early_stopping: usize,
    /// Fits of the chosen parameters under different seeds, averaged into the one saved model.
    /// Default: 3 after a search on up to 200,000 training rows, otherwise 1.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=20))]
    pub seeds: Option<u64>,
    /// How far the final margin may go beyond the chosen set, judged on the search's
    /// out-of-fold margins: `stack` (recalibrate it, or stack it with the other fully scored
    /// sets, whichever cross-fits best), `recalibrate` (at most rescale and shift it: no extra
    /// trees to serve or explain), `none`.
    #[arg(long, value_enum, default_value_t = crate::training::BlendLimit::Stack)]
    pub blend: crate::training::BlendLimit,
    /// Microseconds one customer's exact reasons may cost with the final model (one thread):
    /// the search chooses among parameter sets whose final model is estimated within it (from
    /// each set's first-fold model), and a stack beyond it is not taken. `churn train` reports
    /// the cost it measured. Default: no cap.
    #[arg(long, value_name = "MICROSECONDS", value_parser = microseconds)]
    pub max_explain_us: Option<f64>,
}

fn microseconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{text:?} is not a number of microseconds > 0")),
    }
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{text:?} is not a number of seconds >= 0")),
    }
}

impl BoostingArgs {
    pub fn time_budget(&self) -> Option<std::time::Duration> {
        (self.time_budget > 0.0).then(|| std::time::Duration::from_secs_f64(self.time_budget.min(1e9)))
    }

    pub fn base_params(&self) -> Result<crate::training::BoostParams, CliError> {
        crate::training::BoostParams::default().with_overrides(&self.params).map_err(CliError::Usage)
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefitArg {
    Auto,
    All,
    None,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Labelled customer table: a .csv or .parquet file, or a folder or glob of parts. A
    /// worker of a distributed job trains on its shard; `{rank}` in the path becomes its rank.
    #[arg(long)]
    pub data: PathBuf,
    /// Schema TOML (default: the built-in IBM Telco schema).
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// Folder for the model bundle (created; files in it are replaced).
    #[arg(long, short, default_value = "churn-model")]
    pub output: PathBuf,
    /// Parameter sets to try by cross-validated search; 0 = fixed default parameters.
    #[arg(long, default_value_t = 12)]
    pub trials: usize,
    /// Folds of the tuning cross-validation.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Share of rows held out for the reported metrics (0.05 to 0.5): the model fitted without
    /// them is evaluated on them; with --refit the shipped model then learns from them too.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// What the shipped model learns from: `all` rows (after the held-out evaluation the same
    /// sets, rounds and seeds are fitted again on every row), the training rows only (`none`),
    /// or `auto` (all on tables of up to 1,000,000 rows).
    #[arg(long, value_enum, default_value_t = RefitArg::Auto)]
    pub refit: RefitArg,
    /// Write the bundle even when held-out and cross-validated ROC AUC are both >= 0.999, which
    /// almost always means a field recorded after the customer left (training refuses such a
    /// model otherwise, naming the fields that carry it; from 0.99 it warns).
    #[arg(long)]
    pub allow_near_perfect: bool,
    /// Seed of the held-out split, the tuning folds and XGBoost's row sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub boosting: BoostingArgs,
    /// Threads for everything: tuning, the final fit, the held-out evaluation.
    #[arg(long, default_value_t = crate::parallel::default_threads())]
    pub threads: usize,
    /// Keep the validated table in a temporary folder under DIR while training (default: a
    /// file of 32 MiB or more is kept beside the output folder, a smaller one in memory).
    #[arg(long, value_name = "DIR", conflicts_with = "in_memory")]
    pub spill_dir: Option<PathBuf>,
    /// Hold the validated table in memory whatever its size.
    #[arg(long)]
    pub in_memory: bool,
    /// Keep XGBoost's quantised training matrices in files under DIR (XGBoost's external
    /// memory) instead of in memory: for tables whose matrix will not fit.
    #[arg(long, value_name = "DIR")]
    pub external_memory: Option<PathBuf>,
    #[command(flatten)]
    pub offer: super::offer::OfferArgs,
    /// Model name (shown by the server and the UI).
    #[arg(long, default_value = "churn")]
    pub name: String,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub tracking: super::track::TrackingArgs,
    /// Do not track the run in MLflow (only write the bundle).
    #[arg(long)]
    pub no_track: bool,
}

#[derive(Serialize)]
struct Summary<'a> {
    bundle: String,
    report: Option<String>,
    threshold: f64,
    policy: String,
    held_out: &'a crate::evaluation::Metrics,
    cross_validated: &'a crate::evaluation::Metrics,
    params: &'a crate::bundle::Params,
    rounds: usize,
    seeds: usize,
    /// How the margin was made from the searched sets; null: the chosen set alone.
    blend: Option<&'a crate::bundle::BlendInfo>,
    /// Microseconds one customer's reasons cost with the model, measured at the end of training.
    explain_us: Option<f64>,
    seconds: &'a std::collections::BTreeMap<String, f64>,
    tracked: Option<&'a crate::tracking::Tracked>,
}

/// A trained bundle with its report and (unless `track` is None) its MLflow run.
pub struct Outcome {
    pub trained: TrainedBundle,
    pub report: Option<PathBuf>,
    pub tracked: Option<crate::tracking::Tracked>,
}

/// Train, write the report into the bundle, track the run: `churn train` and the demo.
pub fn train_report_track(
    request: &TrainRequest,
    track: Option<&super::track::TrackingArgs>,
) -> Result<Outcome, CliError> {
    let start_ms = jiff::Timestamp::now().as_millisecond() as u64;
    let trained = train_bundle(request, &Bar::new())?;
    report_and_track(request, trained, track, start_ms, None)
}

/// The report and the MLflow run of a bundle just trained.
fn report_and_track(
    request: &TrainRequest,
    mut trained: TrainedBundle,
    track: Option<&super::track::TrackingArgs>,
    start_ms: u64,
    opened: Option<super::track::Opened>,
) -> Result<Outcome, CliError> {
    // A job's findings are counted over every worker's shard, not the lead's alone.
    let data = match trained.metadata.data.shards.len() {
        n if n > 1 => format!("the job's {n} shards"),
        _ => request.data.display().to_string(),
    };
    for w in &trained.warnings {
        eprintln!("warning: {data}: {w}");
    }
    let t = Instant::now();
    // Written before tracking, so that the run carries it among its artifacts, and again after,
    // so that the bundle's copy names the run and the registered version.
    let report = match write_report(&trained.dir) {
        Ok(path) => Some(path),
        Err(e) => {
            eprintln!("warning: the training report was not written: {e}");
            None
        }
    };
    trained.metadata.seconds.insert("report".to_string(), t.elapsed().as_secs_f64());
    let tracked = match track {
        None => None,
        Some(args) => {
            let t = Instant::now();
            let tracked = super::track::log(&trained.dir, args, start_ms, trained.settings.clone(), opened)?;
            trained.metadata.seconds.insert("tracking".to_string(), t.elapsed().as_secs_f64());
            if report.is_some() {
                if let Err(e) = write_report(&trained.dir) {
                    eprintln!("warning: the training report does not name its MLflow run: {e}");
                }
            }
            Some(tracked)
        }
    };
    Ok(Outcome { trained, report, tracked })
}

/// Writes the bundle's training report from the bundle as it is on disk.
fn write_report(dir: &Path) -> Result<PathBuf, String> {
    let report_dir = dir.join("report");
    let model = crate::bundle::open(dir).map_err(|e| e.to_string())?;
    let report = crate::report::build(&model, None).map_err(|e| e.to_string())?;
    crate::report::write(&report, &report_dir).map_err(|e| e.to_string())?;
    Ok(report_dir.join("report.html"))
}

/// `churn train` as a worker of a distributed job: joins it, trains on its shard in step with
/// the others; the lead (rank 0) writes the bundle, its report and the MLflow run and returns
/// them, the others return None. A worker that fails tells the others, so none waits for it.
fn run_worker(
    cfg: &WorkerConfig,
    request: &TrainRequest,
    track: Option<&super::track::TrackingArgs>,
) -> Result<Option<Outcome>, CliError> {
    let start_ms = jiff::Timestamp::now().as_millisecond() as u64;
    eprintln!(
        "worker {}: joining the job at {}:{} ({})",
        cfg.task_id,
        cfg.tracker_host,
        cfg.tracker_port,
        cfg.workers.map_or("its size from the tracker".to_string(), |n| format!("{n} workers"))
    );
    let job = Job::join(cfg, &request.data.display().to_string())?;
    let request = &TrainRequest { data: PathBuf::from(&job.shard), ..request.clone() };
    eprintln!("worker {}: rank {} of {}, training on {}", cfg.task_id, job.rank(), job.world(), request.data.display());
    if let Some(why) = &job.unwatched {
        eprintln!(
            "warning: worker {}: {why}; a lost worker is then noticed only by the collective's own timeout",
            cfg.task_id
        );
    }
    // The lead's run exists from the start, so that a job that fails leaves a FAILED run; a
    // store that cannot be reached now is tried again at the end, as on one machine.
    let tags = [("churn.job.workers".to_string(), job.world().to_string())];
    let opened = match track.filter(|_| job.leads()) {
        Some(t) => super::track::open(t, &request.name, start_ms, &tags)
            .map_err(|e| eprintln!("warning: the MLflow run could not be opened now ({e}); it is logged at the end"))
            .ok(),
        None => None,
    };
    let mut opened = opened;
    if let (Some(t), Some(o)) = (track, &opened) {
        job.on_stop(super::track::failer(t, o));
    }
    let trained = train_bundle_with(request, &job, &Bar::new());
    job.ends_on_its_own();
    let outcome = match trained {
        Err(e) => Err(CliError::Job(format!(
            "worker {} (rank {} of {}): {e}\nthe job stopped on every worker; `churn tracker` names the worker that failed or was lost",
            cfg.task_id,
            job.rank(),
            job.world()
        ))),
        Ok(None) => {
            eprintln!("worker {}: done; the lead (rank 0) wrote the bundle", cfg.task_id);
            Ok(None)
        }
        Ok(Some(trained)) => report_and_track(request, trained, track, start_ms, opened.take()).map(Some),
    };
    match &outcome {
        Ok(_) => job.finish(),
        Err(e) => {
            job.fail(&e.to_string());
            if let Some(o) = opened {
                super::track::fail(o, &e.to_string());
            }
        }
    }
    outcome
}

/// The training a command line asks for.
fn request_of(a: &Args) -> Result<TrainRequest, CliError> {
    Ok(TrainRequest {
        data: a.data.clone(),
        schema: Schema::load_or_default(a.schema.as_deref())?,
        output: a.output.clone(),
        name: a.name.clone(),
        test_fraction: a.test_fraction,
        allow_near_perfect: a.allow_near_perfect,
        refit: match a.refit {
            RefitArg::Auto => Refit::Auto,
            RefitArg::All => Refit::All,
            RefitArg::None => Refit::None,
        },
        storage: match (&a.spill_dir, a.in_memory) {
            (Some(dir), _) => Storage::Spill(dir.clone()),
            (None, true) => Storage::Memory,
            (None, false) => Storage::Auto,
        },
        options: TrainOptions {
            trials: a.trials,
            folds: a.folds,
            max_rounds: a.boosting.max_rounds,
            early_stopping: a.boosting.early_stopping,
            seed: a.seed,
            threads: a.threads,
            policy: a.offer.policy()?,
            base_params: a.boosting.base_params()?,
            time_budget: a.boosting.time_budget(),
            seeds: a.boosting.seeds.map(|s| s as usize),
            blend: a.boosting.blend,
            max_explain_us: a.boosting.max_explain_us,
            external_memory: a.external_memory.clone(),
            scratch_dir: None,
        },
    })
}

pub fn run(a: Args) -> Result<(), CliError> {
    crate::parallel::choose_threads(a.threads);
    let total = Instant::now();
    let request = request_of(&a)?;
    let track = (!a.no_track).then_some(&a.tracking);
    let job = WorkerConfig::from_env(|k| std::env::var(k).ok()).map_err(CliError::Usage)?;
    let outcome = match job {
        None => train_report_track(&request, track)?,
        Some(cfg) => match run_worker(&cfg, &request, track)? {
            Some(outcome) => outcome,
            None => return Ok(()),
        },
    };
    let Outcome { trained, report, tracked } = outcome;
    let mut seconds = trained.metadata.seconds.clone();
    seconds.insert("total".to_string(), total.elapsed().as_secs_f64());
    let (meta, eval) = (&trained.metadata, &trained.evaluation);
    let m = &eval.held_out.metrics;
    if a.json {
        let summary = Summary {
            bundle: trained.dir.display().to_string(),
            report: report.as_ref().map(|r| r.display().to_string()),
            threshold: meta.threshold,
            policy: meta.policy.describe(),
            held_out: m,
            cross_validated: &eval.cross_validated,
            params: &meta.params,
            rounds: meta.rounds,
            seeds: meta.seeds,
            blend: meta.blend.as_ref(),
            explain_us: meta.explain_us,
            seconds: &seconds,
            tracked: tracked.as_ref(),
        };
        println!("{}", serde_json::to_string(&summary).expect("the summary serialises"));
        return Ok(());
    }
    println!("model bundle: {}", trained.dir.display());
    println!(
        "  trained on {} of {} rows{}, {} features, {} rounds{} (trial {} of {}), threshold {:.3} ({})",
        meta.data.train_rows,
        meta.data.rows,
        meta.data
            .refit_rows
            .map_or(String::new(), |n| format!(", then refit on all {n} once the held-out rows were scored")),
        meta.features,
        meta.rounds,
        if meta.seeds > 1 { format!(" x {} seeds averaged", meta.seeds) } else { String::new() },
        eval.chosen_trial + 1,
        trained.trials,
        meta.threshold,
        meta.policy.describe()
    );
    if let Some(blend) = &meta.blend {
        println!("  final margin: {}", blend.describe());
    }
    if let Some(us) = meta.explain_us {
        println!(
            "  reasons: {us:.1} us per customer on one thread ({} trees, up to depth {})",
            meta.trees, meta.max_depth
        );
    }
    if a.trials > 1 && trained.trials < a.trials {
        println!(
            "  search: {} of {} parameter sets started within --time-budget {} s (which ran depends on the machine's speed; --time-budget 0 makes it reproducible)",
            trained.trials, a.trials, a.boosting.time_budget
        );
    }
    println!(
        "  held-out ({} rows): roc_auc {:.4}  pr_auc {:.4}  log_loss {:.4}  brier {:.4}  accuracy {:.4}  f1 {:.4}",
        meta.data.held_out_rows, m.roc_auc, m.pr_auc, m.log_loss, m.brier, m.accuracy, m.f1
    );
    let secs = |k: &str| seconds.get(k).copied().unwrap_or(0.0);
    println!(
        "  time: load {:.2}s  tuning {:.2}s  fit {:.2}s  report {:.2}s  tracking {:.2}s  total {:.2}s",
        secs("load"),
        secs("tuning"),
        secs("fit"),
        secs("report"),
        secs("tracking"),
        secs("total")
    );
    if let Some(r) = &report {
        println!("  report: {}", r.display());
    }
    if let Some(t) = &tracked {
        println!("  MLflow run {} ({}), model {}", t.run.run_id, t.run.tracking_uri, t.model_uri);
        if let Some((name, version)) = &t.run.registered {
            let alias =
                a.tracking.alias.as_ref().map(|x| format!(", alias @{x} -> version {version}")).unwrap_or_default();
            println!("  registered: models:/{name}/{version}{alias}");
        }
    }
    Ok(())
}
