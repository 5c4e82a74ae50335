use super::CliError;
use crate::drift::Profile;
use crate::evaluation::{split, HeldOut, LearningCurves};
use crate::ids;
use crate::model::bundle::{self, BundleParts, DataInfo, Evaluation, Metadata};
use crate::progress::Bar;
use crate::schema::Schema;
use crate::synth::rng::Rng;
use crate::table::Dataset;
use crate::training::{train, TrainOptions};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// How the booster is fitted; shared by `train` and `evaluate`.
#[derive(clap::Args, Debug, Clone)]
pub struct BoostingArgs {
    /// Override a parameter of the default set, e.g. `--param max_depth=2` (repeatable).
    /// With `--trials 0` exactly these parameters are used.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Upper bound on boosting rounds (early stopping usually ends sooner).
    #[arg(long, default_value_t = 5000)]
    pub max_rounds: usize,
    /// Rounds without improvement of the validation log loss before stopping.
    #[arg(long, default_value_t = 50)]
    pub early_stopping: usize,
}

impl BoostingArgs {
    pub fn base_params(&self) -> Result<crate::training::BoostParams, CliError> {
        crate::training::BoostParams::default().with_overrides(&self.params).map_err(CliError::Usage)
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Labelled customer table (.csv or .parquet).
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
    /// Share of rows held out for the reported metrics.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Seed of the held-out split, the tuning folds and XGBoost's row sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub boosting: BoostingArgs,
    /// Threads for tuning and the final fit.
    #[arg(long, default_value_t = crate::parallel::default_threads())]
    pub threads: usize,
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
    threshold: f64,
    policy: String,
    held_out: &'a crate::evaluation::Metrics,
    cross_validated: &'a crate::evaluation::Metrics,
    params: &'a crate::training::BoostParams,
    rounds: usize,
    seconds: &'a BTreeMap<String, f64>,
    tracked: Option<&'a crate::tracking::Tracked>,
}

/// The riskiest and the safest held-out customers, for the UI's one-click examples.
fn examples(data: &Dataset, probs: &[f64]) -> Vec<bundle::Example> {
    let order = crate::evaluation::metrics::order_desc(probs);
    let (Some(&hi), Some(&lo)) = (order.first(), order.last()) else { return Vec::new() };
    vec![
        bundle::Example::new("Likely churner", probs[hi], &data.schema, &data.ids[hi], data.row(hi)),
        bundle::Example::new("Loyal customer", probs[lo], &data.schema, &data.ids[lo], data.row(lo)),
    ]
}

pub fn run(a: Args) -> Result<(), CliError> {
    if !(0.05..=0.5).contains(&a.test_fraction) {
        return Err(CliError::Usage("--test-fraction must be between 0.05 and 0.5".into()));
    }
    let policy = a.offer.policy()?;
    let total = Instant::now();
    let start_ms = ids::now_ms();
    let mut seconds = BTreeMap::new();

    let t = Instant::now();
    let schema = Schema::load_or_default(a.schema.as_deref())?;
    let data = Dataset::load(&a.data, &schema)?;
    seconds.insert("load".to_string(), t.elapsed().as_secs_f64());
    for w in &data.warnings {
        eprintln!("warning: {}: {w}", a.data.display());
    }

    let (train_rows, test_rows) = split::train_test(&data.labels, a.test_fraction, &mut Rng::stream(a.seed, 3));
    let train_part = data.subset(&train_rows);
    let test_part = data.subset(&test_rows);
    let opts = TrainOptions {
        trials: a.trials,
        folds: a.folds,
        max_rounds: a.boosting.max_rounds,
        early_stopping: a.boosting.early_stopping,
        seed: a.seed,
        threads: a.threads,
        policy,
        base_params: a.boosting.base_params()?,
    };
    let trained = train(&train_part, &opts, Some(&test_part), &Bar::new())?;
    seconds.insert("tuning".to_string(), trained.tuning_seconds);
    seconds.insert("fit".to_string(), trained.fit_seconds);

    let t = Instant::now();
    let probs = trained.score(&test_part);
    let held_out = HeldOut::compute(&test_part.labels, &probs, trained.threshold, &policy);
    let evaluation = Evaluation {
        held_out,
        cross_validated: trained.oof_metrics(),
        tuning: trained.trials.clone(),
        chosen_trial: trained.chosen_trial,
        curves: LearningCurves {
            train_log_loss: trained.curves.train.clone(),
            held_out_log_loss: trained.curves.valid.clone(),
        },
        risk_cuts: crate::evaluation::tables::risk_cuts(&probs),
        examples: examples(&test_part, &probs),
        importance: Vec::new(),
        score_histogram: bundle::ScoreHistogram::of(&test_part.labels, &probs, 20),
    };
    let mut evaluation = evaluation;
    {
        let model = crate::model::bundle::LoadedModel {
            dir: a.output.clone(),
            forest: trained.forest.clone(),
            inputs: crate::model::bundle::Inputs::Customers(trained.pipeline.clone()),
            metadata: None,
            evaluation: None,
            profile: None,
            mlmodel: None,
        };
        let x = trained.pipeline.encode_rows(&test_part.values);
        evaluation.importance = crate::model::reasons::Explainer::new(&model).importance(&trained.forest, &x);
    }
    let profile = Profile::fit(&schema, &train_part.values);
    let created_ms = ids::now_ms();
    seconds.insert("evaluate".to_string(), t.elapsed().as_secs_f64());
    let mut metadata = Metadata {
        name: a.name.clone(),
        churn_version: env!("CARGO_PKG_VERSION").to_string(),
        created_utc: ids::utc_string(created_ms),
        created_ms,
        threshold: trained.threshold,
        policy,
        params: trained.params.clone(),
        xgboost_params: trained.xgboost_params.iter().cloned().collect(),
        rounds: trained.rounds,
        xgboost_version: crate::model::mlmodel::XGBOOST_VERSION.to_string(),
        features: trained.pipeline.n_features(),
        data: DataInfo {
            path: a.data.display().to_string(),
            sha256: data.source.sha256.clone(),
            rows: data.len(),
            train_rows: train_part.len(),
            held_out_rows: test_part.len(),
            positive_rate: data.positive_rate(),
            warnings: data.warnings.clone(),
        },
        run: None,
        seconds: BTreeMap::new(),
    };
    let example_rows: Vec<Vec<f32>> = (0..2.min(test_part.len()))
        .map(|i| {
            let mut row = vec![0f32; trained.pipeline.n_features()];
            trained.pipeline.encode(test_part.row(i), &mut row);
            row
        })
        .collect();
    let t = Instant::now();
    metadata.seconds = seconds.clone();
    bundle::write(
        &a.output,
        &BundleParts {
            model_ubj: &trained.model_ubj,
            pipeline: &trained.pipeline,
            metadata: &metadata,
            evaluation: &evaluation,
            profile: &profile,
            example_rows: &example_rows,
        },
    )?;
    let report = crate::report::build(&bundle::open(&a.output)?, None)
        .and_then(|r| crate::report::write(&r, &a.output.join("report")));
    if let Err(e) = report {
        eprintln!("warning: the training report was not written: {e}");
    }
    seconds.insert("bundle".to_string(), t.elapsed().as_secs_f64());
    let tracked = if a.no_track {
        None
    } else {
        let t = Instant::now();
        let extra = vec![
            ("trials".to_string(), a.trials.to_string()),
            ("tuning_folds".to_string(), a.folds.to_string()),
            ("test_fraction".to_string(), a.test_fraction.to_string()),
            ("early_stopping_rounds".to_string(), a.boosting.early_stopping.to_string()),
            ("max_rounds".to_string(), a.boosting.max_rounds.to_string()),
            ("split_seed".to_string(), a.seed.to_string()),
            ("data_file".to_string(), a.data.display().to_string()),
            ("schema".to_string(), schema.name.clone()),
            ("pipeline_version".to_string(), crate::features::PIPELINE_VERSION.to_string()),
        ];
        let tracked = super::track::log(&a.output, &a.tracking, metadata.created_ms.min(start_ms), extra)?;
        seconds.insert("tracking".to_string(), t.elapsed().as_secs_f64());
        Some(tracked)
    };
    seconds.insert("total".to_string(), total.elapsed().as_secs_f64());

    let m = &evaluation.held_out.metrics;
    if a.json {
        let summary = Summary {
            bundle: a.output.display().to_string(),
            threshold: trained.threshold,
            policy: policy.describe(),
            held_out: m,
            cross_validated: &evaluation.cross_validated,
            params: &trained.params,
            rounds: trained.rounds,
            seconds: &seconds,
            tracked: tracked.as_ref(),
        };
        println!("{}", serde_json::to_string(&summary).expect("the summary serialises"));
    } else {
        println!("model bundle: {}", a.output.display());
        println!(
            "  trained on {} of {} rows, {} features, {} rounds (trial {} of {}), threshold {:.3} ({})",
            train_part.len(),
            data.len(),
            trained.pipeline.n_features(),
            trained.rounds,
            trained.chosen_trial + 1,
            trained.trials.len(),
            trained.threshold,
            policy.describe()
        );
        println!(
            "  held-out ({} rows): roc_auc {:.4}  pr_auc {:.4}  log_loss {:.4}  brier {:.4}  accuracy {:.4}  f1 {:.4}",
            test_part.len(),
            m.roc_auc,
            m.pr_auc,
            m.log_loss,
            m.brier,
            m.accuracy,
            m.f1
        );
        println!(
            "  time: load {:.2}s  tuning {:.2}s  fit {:.2}s  tracking {:.2}s  total {:.2}s",
            seconds["load"],
            seconds["tuning"],
            seconds["fit"],
            seconds.get("tracking").copied().unwrap_or(0.0),
            seconds["total"]
        );
        if let Some(t) = &tracked {
            println!("  MLflow run {} ({}), model {}", t.run_id, t.tracking_uri, t.model_uri);
        }
    }
    Ok(())
}
