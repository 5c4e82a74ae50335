//! `churn monitor`: a model against customers whose outcome is now known. Prints (or `--json`)
//! the realized figures beside the trained ones, every field's drift and the verdict; tracks it
//! as an MLflow run in the model's experiment, tagged with the model it judged (metrics, the
//! JSON and an HTML report as artifacts); `--fail-on` exits 3 when a condition holds, so a
//! scheduler alerts.

use super::CliError;
use crate::ingest::Dataset;
use crate::monitoring::{self, MonitorReport};
use crate::tracking::{self, Metric, RunStatus, TrackingUri};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model: a bundle folder or an MLflow URI (runs:/, models:/NAME@ALIAS, ...).
    #[arg(long, env = "MODEL_URI")]
    pub model: String,
    /// Customers whose outcome is now known, in the model's schema (CSV or Parquet, with the
    /// target column): e.g. last quarter's scored base joined with who left since.
    #[arg(long)]
    pub data: PathBuf,
    /// Print the report as JSON (rows, roc_auc, log_loss, drift: field -> PSI, verdict, ...).
    #[arg(long)]
    pub json: bool,
    /// Exit 3 when any of these holds, e.g. "roc_auc<0.75,psi>0.25" (figures: rows, roc_auc,
    /// pr_auc, log_loss, brier, accuracy, f1, precision, recall, psi = the largest field PSI,
    /// score_psi, psi:FIELD; operators < <= > >=).
    #[arg(long, value_name = "CONDITIONS")]
    pub fail_on: Option<String>,
    /// MLflow tracking (where the run goes, and where models:/ URIs resolve).
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: Option<String>,
    /// Experiment of the monitoring run (default: the model's own, else telco-churn).
    #[arg(long)]
    pub experiment: Option<String>,
    /// Do not track the monitoring run.
    #[arg(long)]
    pub no_track: bool,
}

pub fn run(a: Args) -> Result<(), CliError> {
    let start = tracking::now_ms();
    let conditions = match &a.fail_on {
        Some(text) => monitoring::parse_conditions(text).map_err(|e| CliError::Usage(format!("--fail-on {e}")))?,
        None => Vec::new(),
    };
    let tracking = TrackingUri::from_flag_or_env(a.tracking_uri.as_deref())?;
    let scorer = tracking::load_scorer(&a.model, &tracking)?;
    let schema =
        scorer.model.pipeline().map(|p| p.schema.clone()).ok_or_else(|| {
            CliError::Usage(format!("{}: a model without churn's schema cannot be monitored", a.model))
        })?;
    let data = Dataset::load(&a.data, &schema)?;
    for w in &data.warnings {
        eprintln!("warning: {}: {w}", a.data.display());
    }
    let mut report = monitoring::monitor(&scorer, &data, &a.data.display().to_string())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if report.model_name == "model" {
        report.model_name = scorer.source.name.clone().unwrap_or(report.model_name);
    }
    let failed = report.failed(&conditions);
    let tracked = if a.no_track {
        None
    } else {
        let experiment = a
            .experiment
            .clone()
            .or_else(|| scorer.model.metadata.as_ref().and_then(|m| m.run.as_ref()).map(|r| r.experiment_name.clone()))
            .unwrap_or_else(|| "telco-churn".to_string());
        Some(track(&tracking, &experiment, &report, &failed, start).map_err(|e| CliError::Tracking {
            message: e.to_string(),
            retry: "the report above is complete; run `churn monitor` again to track it".into(),
        })?)
    };
    if a.json {
        let mut v = serde_json::to_value(&report).expect("the report serialises");
        v["failed"] = serde_json::json!(failed);
        v["run_id"] = serde_json::json!(tracked);
        println!("{v}");
    } else {
        print_text(&report, tracked.as_deref());
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Alert(format!("--fail-on: {}", failed.join("; "))))
    }
}

fn print_text(r: &MonitorReport, run: Option<&str>) {
    println!(
        "model {}{} on {} customers with known outcomes ({}; {:.1}% churned, {:.1}% predicted)",
        r.model_uri,
        r.model_version.as_ref().map(|v| format!(" (version {v})")).unwrap_or_default(),
        r.rows,
        r.data,
        100.0 * r.churn_rate,
        100.0 * r.mean_probability
    );
    let t = r.trained.as_ref();
    let line = |name: &str, now: f64, then: Option<f64>| match then {
        Some(v) => println!("  {name:<10} {now:.4}   at training {v:.4}   ({:+.4})", now - v),
        None => println!("  {name:<10} {now:.4}"),
    };
    line("roc_auc", r.roc_auc, t.map(|m| m.roc_auc));
    line("pr_auc", r.pr_auc, t.map(|m| m.pr_auc));
    line("log_loss", r.log_loss, t.map(|m| m.log_loss));
    line("brier", r.brier, t.map(|m| m.brier));
    line("f1", r.f1, t.map(|m| m.f1));
    if let Some(p) = r.profit {
        println!("  profit at the threshold {:.3}: {p:.0}", r.threshold);
    }
    let mut drift: Vec<(&String, &f64)> = r.drift.iter().collect();
    drift.sort_by(|a, b| b.1.total_cmp(a.1));
    let shown: Vec<String> = drift.iter().take(5).map(|(f, p)| format!("{f} {p:.3}")).collect();
    println!("  drift (PSI, largest first): {}", shown.join(", "));
    if let Some(p) = r.score_psi {
        println!("  score drift (PSI over the training risk deciles): {p:.3}");
    }
    println!("  verdict: {}", r.verdict.to_uppercase());
    for reason in &r.reasons {
        println!("    - {reason}");
    }
    if let Some(run) = run {
        println!("  MLflow run {run}");
    }
}

/// The monitoring run: tagged with the model it judged, its figures as metrics, the JSON and the
/// HTML report as artifacts.
fn track(
    uri: &TrackingUri,
    experiment: &str,
    r: &MonitorReport,
    failed: &[String],
    start_ms: u64,
) -> Result<String, tracking::TrackingError> {
    let mut store = uri.open()?;
    let exp = store.experiment(experiment)?;
    let mut tags = vec![
        ("mlflow.runName".to_string(), format!("monitor-{}", r.model_name)),
        ("mlflow.user".to_string(), tracking::current_user()),
        ("churn.kind".to_string(), "monitor".to_string()),
        ("churn.model_uri".to_string(), r.model_uri.clone()),
        ("churn.verdict".to_string(), r.verdict.clone()),
        ("churn.data_sha256".to_string(), r.data_sha256.clone()),
    ];
    if let Some(v) = &r.model_version {
        tags.push(("churn.model_version".to_string(), v.clone()));
    }
    if let Some(id) = &r.model_run_id {
        tags.push(("churn.model_run_id".to_string(), id.clone()));
    }
    if !failed.is_empty() {
        tags.push(("churn.failed".to_string(), failed.join("; ")));
    }
    let (name, user) = (format!("monitor-{}", r.model_name), tracking::current_user());
    let run = store.create_run(&exp, &tracking::NewRun { name: &name, user: &user, start_ms, tags: &tags })?;
    let result = (|| {
        let now = tracking::now_ms();
        let metrics: Vec<Metric> =
            r.metrics().into_iter().map(|(key, value)| Metric { key, value, step: 0, timestamp: now }).collect();
        let params = vec![
            ("data".to_string(), r.data.clone()),
            ("model_uri".to_string(), r.model_uri.clone()),
            ("rows".to_string(), r.rows.to_string()),
        ];
        store.log_batch(&run, &tracking::Batch { params: &params, metrics: &metrics, tags: &[] })?;
        let json = serde_json::to_vec_pretty(r).expect("the report serialises");
        store.log_artifact(&run, "monitor/monitor.json", &json)?;
        store.log_artifact(&run, "monitor/report.html", html(r).as_bytes())?;
        Ok(())
    })();
    let status = if result.is_ok() { RunStatus::Finished } else { RunStatus::Failed };
    store.end_run(&run, status, tracking::now_ms())?;
    result.map(|()| run.id)
}

/// A self-contained HTML page: the figures side by side, calibration and drift as bar charts.
fn html(r: &MonitorReport) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut rows = String::new();
    let t = r.trained.as_ref();
    for (name, now, then) in [
        ("ROC AUC", r.roc_auc, t.map(|m| m.roc_auc)),
        ("PR AUC", r.pr_auc, t.map(|m| m.pr_auc)),
        ("log loss", r.log_loss, t.map(|m| m.log_loss)),
        ("Brier", r.brier, t.map(|m| m.brier)),
        ("F1 at the threshold", r.f1, t.map(|m| m.f1)),
    ] {
        rows += &format!(
            "<tr><td>{name}</td><td>{now:.4}</td><td>{}</td></tr>",
            then.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into())
        );
    }
    let bars = |items: &[(String, f64)], scale: f64, mark: Option<f64>| {
        let h = 22 * items.len() + 10;
        let mut svg = format!("<svg xmlns='http://www.w3.org/2000/svg' width='640' height='{h}' role='img'>");
        for (i, (label, v)) in items.iter().enumerate() {
            let w = (v / scale).clamp(0.0, 1.0) * 380.0;
            let y = 5 + 22 * i;
            svg += &format!(
                "<text x='0' y='{}' font-size='12'>{}</text><rect x='200' y='{y}' width='{w:.1}' height='16' fill='#4a78b5'/><text x='{:.1}' y='{}' font-size='12'>{v:.3}</text>",
                y + 12,
                esc(label),
                205.0 + w,
                y + 12
            );
        }
        if let Some(m) = mark {
            let x = 200.0 + (m / scale).clamp(0.0, 1.0) * 380.0;
            svg += &format!("<line x1='{x:.1}' x2='{x:.1}' y1='0' y2='{h}' stroke='#c33' stroke-dasharray='4'/>");
        }
        svg + "</svg>"
    };
    let mut drift: Vec<(String, f64)> = r.drift.iter().map(|(k, v)| (k.clone(), *v)).collect();
    drift.sort_by(|a, b| b.1.total_cmp(&a.1));
    let scale = drift.first().map_or(0.3, |d| d.1.max(0.3));
    let calibration: Vec<(String, f64)> = r
        .calibration
        .iter()
        .filter(|b| b.customers > 0)
        .map(|b| (format!("predicted {:.2} ({} customers)", b.mean_predicted, b.customers), b.observed_rate))
        .collect();
    let reasons: String = r.reasons.iter().map(|x| format!("<li>{}</li>", esc(x))).collect();
    format!(
        "<!doctype html><html><head><meta charset='utf-8'><title>churn monitor: {name}</title>\
         <style>body{{font-family:sans-serif;max-width:760px;margin:2em auto}}td,th{{padding:2px 12px;text-align:left}}</style></head><body>\
         <h1>{name}: {verdict}</h1><p>{rows_n} customers with known outcomes from {data}; {churned:.1}% churned, {predicted:.1}% predicted.</p>\
         <ul>{reasons}</ul><h2>Realized against trained</h2><table><tr><th></th><th>now</th><th>at training</th></tr>{rows}</table>\
         <h2>Drift by field (PSI; the dashed line is {watch})</h2>{drift}\
         <h2>Calibration: observed churn rate by predicted decile</h2>{calibration}</body></html>",
        name = esc(&r.model_name),
        verdict = r.verdict,
        rows_n = r.rows,
        data = esc(&r.data),
        churned = 100.0 * r.churn_rate,
        predicted = 100.0 * r.mean_probability,
        watch = monitoring::PSI_WATCH,
        drift = bars(&drift, scale, Some(monitoring::PSI_WATCH)),
        calibration = bars(&calibration, 1.0, None),
    )
}
