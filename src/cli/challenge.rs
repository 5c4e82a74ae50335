//! `churn challenge`: should the new model replace the champion? Both score the same labelled
//! customers; paired bootstrap intervals of the ROC AUC and log-loss differences decide, and
//! `--promote` acts on the decision in the registry: the evidence is recorded on the
//! challenger's version first (tags and description), then the champion's alias moves to it, or,
//! for a refused challenger, the alias `challenger` does. A kill between the two steps leaves
//! the alias where it was, never on a version without its evidence.

use super::CliError;
use crate::ingest::Dataset;
use crate::monitoring::challenge::{self, Comparison};
use crate::scoring::Scorer;
use crate::tracking::{self, ModelUri, TrackingUri};
use serde_json::json;
use std::path::PathBuf;

/// The alias a refused challenger gets.
const REFUSED_ALIAS: &str = "challenger";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model in service, e.g. models:/churn@champion (with --promote, an alias URI).
    #[arg(long)]
    pub champion: String,
    /// The new model, e.g. models:/churn/7 (with --promote, a version of the same registered model).
    #[arg(long)]
    pub challenger: String,
    /// Labelled customers neither model was trained on, in the models' schema.
    #[arg(long)]
    pub data: PathBuf,
    /// Act on the decision: move the champion's alias to a winning challenger, or point the
    /// alias `challenger` at a refused one; the evidence goes on the challenger's version.
    #[arg(long)]
    pub promote: bool,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
    /// Paired bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=100_000))]
    pub bootstrap: u64,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// MLflow tracking (where models:/ URIs resolve and the registry is).
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: Option<String>,
}

/// A model's probabilities for the customers of `data`, read by its own schema.
fn score(scorer: &Scorer, uri: &str, data: &std::path::Path) -> Result<(Vec<u8>, Vec<f64>, String), CliError> {
    let pipeline = scorer
        .model
        .pipeline()
        .ok_or_else(|| CliError::Usage(format!("{uri}: a model without churn's schema cannot be challenged")))?;
    let d = Dataset::load(data, &pipeline.schema)?;
    let probs = scorer.probabilities(&d);
    Ok((d.labels, probs, d.source.sha256))
}

pub fn run(a: Args) -> Result<(), CliError> {
    let tracking = TrackingUri::from_flag_or_env(a.tracking_uri.as_deref())?;
    let alias = match (a.promote, ModelUri::parse(&a.champion)?) {
        (true, ModelUri::Alias { alias, .. }) if alias == REFUSED_ALIAS => {
            return Err(CliError::Usage(format!(
                "--promote points @{REFUSED_ALIAS} at a refused challenger: the champion's alias must be another one (e.g. @champion)"
            )))
        }
        (true, ModelUri::Alias { name, alias }) => Some((name, alias)),
        (true, _) => {
            return Err(CliError::Usage(format!(
                "--promote moves the champion's alias: give --champion as models:/<name>@<alias>, not {}",
                a.champion
            )))
        }
        (false, _) => None,
    };
    let champion = tracking::load_scorer(&a.champion, &tracking)?;
    let challenger = tracking::load_scorer(&a.challenger, &tracking)?;
    let (labels, p0, sha) = score(&champion, &a.champion, &a.data)?;
    let (labels1, p1, _) = score(&challenger, &a.challenger, &a.data)?;
    if labels != labels1 {
        return Err(CliError::Usage(format!(
            "{}: the two models' schemas read the customers differently ({} and {} rows); compare them on a table both read alike",
            a.data.display(),
            labels.len(),
            labels1.len()
        )));
    }
    let churned = labels.iter().filter(|&&y| y == 1).count();
    if churned == 0 || churned == labels.len() {
        return Err(CliError::Refused(format!(
            "{}: all {} customers have the same outcome; comparing rankings needs churners and stayers",
            a.data.display(),
            labels.len()
        )));
    }
    let c = challenge::compare(&labels, &p0, &p1, a.bootstrap as usize, a.seed);
    let promoted = match &alias {
        Some((name, alias)) => Some(promote(&tracking, name, alias, &champion, &challenger, &c, &sha)?),
        None => None,
    };
    let side = |s: &Scorer, uri: &str, auc: f64, ll: f64| json!({"uri": uri, "version": s.source.version, "run_id": s.source.run_id, "roc_auc": auc, "log_loss": ll});
    if a.json {
        let mut v = serde_json::to_value(&c).expect("the comparison serialises");
        v["champion"] = side(&champion, &a.champion, c.champion_roc_auc, c.champion_log_loss);
        v["challenger"] = side(&challenger, &a.challenger, c.challenger_roc_auc, c.challenger_log_loss);
        v["promoted"] = json!(promoted.as_ref().map(|(moved, _)| *moved));
        v["alias"] = json!(promoted.as_ref().map(|(_, alias)| alias));
        println!("{v}");
        return Ok(());
    }
    println!("on {} customers ({}):", c.rows, a.data.display());
    println!("  champion   {}: roc_auc {:.4}  log_loss {:.4}", a.champion, c.champion_roc_auc, c.champion_log_loss);
    println!(
        "  challenger {}: roc_auc {:.4}  log_loss {:.4}",
        a.challenger, c.challenger_roc_auc, c.challenger_log_loss
    );
    println!("  winner: {}", c.winner);
    for r in &c.reasons {
        println!("    - {r}");
    }
    if let Some((moved, alias)) = &promoted {
        let (name, _) = alias_of(&a.champion);
        let version = challenger.source.version.as_deref().unwrap_or("?");
        if *moved {
            println!("  promoted: models:/{name}@{alias} -> version {version} (the evidence is on that version)");
        } else {
            println!("  not promoted: models:/{name}@{alias} -> version {version}, the champion's alias stays");
        }
    }
    Ok(())
}

fn alias_of(uri: &str) -> (String, String) {
    match ModelUri::parse(uri) {
        Ok(ModelUri::Alias { name, alias }) => (name, alias),
        _ => (String::new(), String::new()),
    }
}

/// Records the evidence on the challenger's version, then moves the alias. Returns whether the
/// champion's alias moved, and the alias that now points at the challenger.
fn promote(
    tracking: &TrackingUri,
    name: &str,
    alias: &str,
    champion: &Scorer,
    challenger: &Scorer,
    c: &Comparison,
    sha: &str,
) -> Result<(bool, String), CliError> {
    let version = match (&challenger.source.name, &challenger.source.version) {
        (Some(n), Some(v)) if n == name => v.clone(),
        _ => {
            return Err(CliError::Usage(format!(
                "--promote needs the challenger to be a version of registered model `{name}` (models:/{name}/<version> or an alias of it), not {}",
                challenger.source.uri
            )))
        }
    };
    if champion.source.version.as_deref() == Some(version.as_str()) {
        return Err(CliError::Usage(format!("the challenger is the champion's own version {version}")));
    }
    let won = c.winner == "challenger";
    let target = if won { alias.to_string() } else { REFUSED_ALIAS.to_string() };
    let interval = |d: &challenge::Difference| format!("{:+.5} [{:+.5}, {:+.5}]", d.value, d.low, d.high);
    let decision = if won {
        format!("promoted to @{alias} over version {}", champion.source.version.as_deref().unwrap_or("?"))
    } else {
        format!("refused: @{alias} stays on version {}", champion.source.version.as_deref().unwrap_or("?"))
    };
    let tags = vec![
        ("churn.challenge.decision".to_string(), decision.clone()),
        ("churn.challenge.winner".to_string(), c.winner.clone()),
        ("churn.challenge.champion".to_string(), champion.source.uri.clone()),
        ("churn.challenge.champion_version".to_string(), champion.source.version.clone().unwrap_or_default()),
        ("churn.challenge.delta_roc_auc".to_string(), interval(&c.delta_roc_auc)),
        ("churn.challenge.delta_log_loss".to_string(), interval(&c.delta_log_loss)),
        ("churn.challenge.rows".to_string(), c.rows.to_string()),
        ("churn.challenge.data_sha256".to_string(), sha.to_string()),
        ("churn.challenge.decided_at".to_string(), tracking::iso_utc(tracking::now_ms())),
    ];
    let description = format!("churn challenge: {decision}. {}", c.reasons.join(" "));
    let fail = |e: tracking::TrackingError| CliError::Tracking {
        message: e.to_string(),
        retry: "nothing was moved; run `churn challenge --promote` again".into(),
    };
    let mut store = tracking.open()?;
    let evidence = tracking::Evidence { tags: &tags, description: Some(&description) };
    store.set_version_evidence(name, &version, &evidence).map_err(fail)?;
    store.set_alias(name, &target, &version).map_err(|e| CliError::Tracking {
        message: e.to_string(),
        retry: format!("the evidence is on version {version}; run `churn challenge --promote` again to move the alias"),
    })?;
    Ok((won, target))
}
