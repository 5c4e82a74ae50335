//! After the prediction: did it come true? A model scores customers whose outcome is now
//! known; their realized metrics are set beside the ones the model was trained with, every
//! field's drift (PSI against the training profile, the figure `/metrics` serves) and the
//! score's (PSI over the held-out risk deciles) are measured, and a verdict says whether the
//! model still holds, with its reasons. `churn monitor` prints, tracks and alerts on it.

use crate::drift::Window;
use crate::evaluation::tables::{self, CalibrationBin, LiftRow};
use crate::evaluation::{Metrics, ThresholdPolicy};
use crate::ingest::Dataset;
use crate::scoring::Scorer;
use serde::Serialize;
use std::collections::BTreeMap;

/// PSI from which a field (or the score) has moved enough to watch: the usual rule of thumb
/// (< 0.1 stable, 0.1-0.25 moderate, > 0.25 large), as Evidently and most monitoring tools use.
pub const PSI_WATCH: f64 = 0.1;
pub const PSI_RETRAIN: f64 = 0.25;
/// Realized ROC AUC this far below the held-out one: the ranking has decayed.
pub const AUC_WATCH: f64 = 0.02;
pub const AUC_RETRAIN: f64 = 0.05;

#[derive(Debug, Clone, Serialize)]
pub struct MonitorReport {
    pub model_uri: String,
    pub model_name: String,
    pub model_version: Option<String>,
    pub model_run_id: Option<String>,
    pub data: String,
    pub data_sha256: String,
    pub rows: usize,
    /// Share of these customers who churned, and the mean predicted probability.
    pub churn_rate: f64,
    pub mean_probability: f64,
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub log_loss: f64,
    pub brier: f64,
    /// At the model's threshold.
    pub threshold: f64,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Profit at the threshold under the model's offer economics (None for an F1 threshold).
    pub profit: Option<f64>,
    pub calibration: Vec<CalibrationBin>,
    pub lift: Vec<LiftRow>,
    /// The figures the model was trained with (its held-out part), side by side.
    pub trained: Option<Metrics>,
    /// PSI of every field against the training profile.
    pub drift: BTreeMap<String, f64>,
    /// PSI of the score over the held-out risk deciles (each held 10% at training).
    pub score_psi: Option<f64>,
    /// `ok`, `watch` or `retrain`.
    pub verdict: String,
    pub reasons: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("{0}")]
    Unusable(String),
}

/// Scores `data` (customers with known outcomes, validated by the model's schema) and measures
/// what came true.
pub fn monitor(scorer: &Scorer, data: &Dataset, data_path: &str) -> Result<MonitorReport, MonitorError> {
    if scorer.model.pipeline().is_none() {
        return Err(MonitorError::Unusable(
            "the model has no churn schema (a model logged by Python): nothing to validate the outcomes by".into(),
        ));
    }
    let positives = data.labels.iter().filter(|&&y| y == 1).count();
    if positives == 0 || positives == data.len() {
        return Err(MonitorError::Unusable(format!(
            "{data_path}: all {} customers have the same outcome; realized metrics need both churners and stayers",
            data.len()
        )));
    }
    let probs = scorer.probabilities(data);
    let threshold = scorer.threshold();
    let metrics = Metrics::compute(&data.labels, &probs, threshold);
    let policy = scorer.model.metadata.as_ref().map(|md| md.policy).unwrap_or(ThresholdPolicy::F1);
    let profit = match policy {
        ThresholdPolicy::F1 => None,
        p => Some(p.profit(&crate::evaluation::Confusion::at(&data.labels, &probs, threshold))),
    };
    let evaluation = scorer.model.evaluation.as_ref();
    let trained = evaluation.map(|e| e.held_out.metrics);
    let drift = match &scorer.model.profile {
        Some(profile) => {
            let mut window = Window::new(profile, data.len().max(1));
            window.observe(profile, data.values.chunks(data.schema.fields.len().max(1)));
            window.psi(profile).into_iter().collect()
        }
        None => BTreeMap::new(),
    };
    let score_psi = evaluation.map(|e| &e.risk_cuts).filter(|c| c.len() == 9).map(|cuts| score_psi(cuts, &probs));
    let n = data.len() as f64;
    let rates = (positives as f64 / n, probs.iter().sum::<f64>() / n);
    let (verdict, reasons) = verdict(&metrics, trained.as_ref(), &drift, score_psi, rates);
    Ok(MonitorReport {
        model_uri: scorer.source.uri.clone(),
        model_name: scorer.model.metadata.as_ref().map(|md| md.name.clone()).unwrap_or_else(|| "model".into()),
        model_version: scorer.source.version.clone(),
        model_run_id: scorer.source.run_id.clone(),
        data: data_path.to_string(),
        data_sha256: data.source.sha256.clone(),
        rows: data.len(),
        churn_rate: positives as f64 / n,
        mean_probability: probs.iter().sum::<f64>() / n,
        roc_auc: metrics.roc_auc,
        pr_auc: metrics.pr_auc,
        log_loss: metrics.log_loss,
        brier: metrics.brier,
        threshold,
        accuracy: metrics.accuracy,
        precision: metrics.precision,
        recall: metrics.recall,
        f1: metrics.f1,
        profit,
        calibration: tables::calibration(&data.labels, &probs, 10),
        lift: tables::decile_lift(&data.labels, &probs),
        trained,
        drift,
        score_psi,
        verdict: verdict.to_string(),
        reasons,
    })
}

/// PSI of the scores over the ten risk deciles of the held-out customers (10% each then).
fn score_psi(cuts: &[f64], probs: &[f64]) -> f64 {
    let mut counts = [0u64; 10];
    for &p in probs {
        let d = tables::risk_decile(cuts, p).unwrap_or(10) as usize;
        counts[d - 1] += 1;
    }
    let total = probs.len().max(1) as f64;
    counts
        .iter()
        .map(|&c| {
            let a = (c as f64 / total).max(1e-4);
            let e = 0.1;
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// `retrain` when the ranking decayed by [`AUC_RETRAIN`] or a field or the score moved by
/// [`PSI_RETRAIN`]; `watch` from the lower marks, or when the predicted churn rate is off the
/// realized one by a fifth; else `ok`. The reasons say which.
fn verdict(
    m: &Metrics,
    trained: Option<&Metrics>,
    drift: &BTreeMap<String, f64>,
    score_psi: Option<f64>,
    (churn_rate, mean_probability): (f64, f64),
) -> (&'static str, Vec<String>) {
    let mut retrain = Vec::new();
    let mut watch = Vec::new();
    if (mean_probability - churn_rate).abs() > 0.2 * churn_rate {
        watch.push(format!(
            "the model predicted {:.1}% churn where {:.1}% churned: its probabilities are off",
            100.0 * mean_probability,
            100.0 * churn_rate
        ));
    }
    if let Some(t) = trained {
        let drop = t.roc_auc - m.roc_auc;
        let line = format!("ROC AUC {:.4} against {:.4} at training ({:+.4})", m.roc_auc, t.roc_auc, -drop);
        if drop >= AUC_RETRAIN {
            retrain.push(line);
        } else if drop >= AUC_WATCH {
            watch.push(line);
        }
    }
    let mut moved: Vec<(&String, &f64)> = drift.iter().filter(|(_, &p)| p >= PSI_WATCH).collect();
    moved.sort_by(|a, b| b.1.total_cmp(a.1));
    for (field, &psi) in moved {
        let line = format!("`{field}` drifted: PSI {psi:.3}");
        if psi >= PSI_RETRAIN {
            retrain.push(line);
        } else {
            watch.push(line);
        }
    }
    if let Some(psi) = score_psi.filter(|&p| p >= PSI_WATCH) {
        let line = format!("the score's distribution moved: PSI {psi:.3} over the training risk deciles");
        if psi >= PSI_RETRAIN {
            retrain.push(line);
        } else {
            watch.push(line);
        }
    }
    if !retrain.is_empty() {
        retrain.extend(watch);
        return ("retrain", retrain);
    }
    if !watch.is_empty() {
        return ("watch", watch);
    }
    ("ok", vec!["the model ranks and is distributed as it was at training".into()])
}

/// One condition of `--fail-on`, e.g. `roc_auc<0.75` or `psi>0.25` (the largest field PSI), or
/// `psi:MonthlyCharges>0.2`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub figure: String,
    pub above: bool,
    pub inclusive: bool,
    pub bound: f64,
}

/// Figures `--fail-on` can name.
pub const FIGURES: &[&str] =
    &["rows", "roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "f1", "precision", "recall", "psi", "score_psi"];

pub fn parse_conditions(text: &str) -> Result<Vec<Condition>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            let at = c.find(['<', '>']).ok_or_else(|| format!("`{c}`: expected FIGURE<NUMBER or FIGURE>NUMBER"))?;
            let (figure, rest) = c.split_at(at);
            let above = rest.starts_with('>');
            let inclusive = rest[1..].starts_with('=');
            let number = rest[if inclusive { 2 } else { 1 }..].trim();
            let bound = number.parse::<f64>().map_err(|_| format!("`{c}`: {number:?} is not a number"))?;
            let figure = figure.trim().to_string();
            let known = FIGURES.contains(&figure.as_str()) || figure.starts_with("psi:");
            if !known {
                return Err(format!("`{c}`: unknown figure `{figure}` (one of {}, or psi:FIELD)", FIGURES.join(", ")));
            }
            Ok(Condition { figure, above, inclusive, bound })
        })
        .collect()
}

impl MonitorReport {
    /// A figure by its `--fail-on` name.
    pub fn figure(&self, name: &str) -> Option<f64> {
        Some(match name {
            "rows" => self.rows as f64,
            "roc_auc" => self.roc_auc,
            "pr_auc" => self.pr_auc,
            "log_loss" => self.log_loss,
            "brier" => self.brier,
            "accuracy" => self.accuracy,
            "f1" => self.f1,
            "precision" => self.precision,
            "recall" => self.recall,
            "psi" => self.drift.values().copied().reduce(f64::max)?,
            "score_psi" => self.score_psi?,
            other => *self.drift.get(other.strip_prefix("psi:")?)?,
        })
    }

    /// The conditions that hold (each worded), and those naming a figure the report lacks.
    pub fn failed(&self, conditions: &[Condition]) -> Vec<String> {
        conditions
            .iter()
            .filter_map(|c| {
                let op = match (c.above, c.inclusive) {
                    (true, false) => ">",
                    (true, true) => ">=",
                    (false, false) => "<",
                    (false, true) => "<=",
                };
                match self.figure(&c.figure) {
                    None => Some(format!("{}{op}{}: the report has no {}", c.figure, c.bound, c.figure)),
                    Some(v) => {
                        let holds = match (c.above, c.inclusive) {
                            (true, false) => v > c.bound,
                            (true, true) => v >= c.bound,
                            (false, false) => v < c.bound,
                            (false, true) => v <= c.bound,
                        };
                        holds.then(|| format!("{}{op}{} (it is {v:.4})", c.figure, c.bound))
                    }
                }
            })
            .collect()
    }

    /// The report's figures as MLflow metrics (prefix `realized_`, drift `psi_<field>`).
    pub fn metrics(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = [
            ("realized_roc_auc", self.roc_auc),
            ("realized_pr_auc", self.pr_auc),
            ("realized_log_loss", self.log_loss),
            ("realized_brier", self.brier),
            ("realized_accuracy", self.accuracy),
            ("realized_f1", self.f1),
            ("realized_churn_rate", self.churn_rate),
            ("mean_probability", self.mean_probability),
            ("rows", self.rows as f64),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
        if let Some(p) = self.profit {
            out.push(("realized_profit".into(), p));
        }
        if let Some(p) = self.score_psi {
            out.push(("score_psi".into(), p));
        }
        for (field, psi) in &self.drift {
            out.push((format!("psi_{}", metric_key(field)), *psi));
        }
        out
    }
}

/// A field name as an MLflow metric key (letters, digits, `_ - . /` and spaces are allowed).
fn metric_key(name: &str) -> String {
    name.chars().map(|c| if c.is_alphanumeric() || "_-./ ".contains(c) { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_and_name_what_is_wrong() {
        let c = parse_conditions("roc_auc<0.75, psi>0.25,psi:MonthlyCharges>=0.2").unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0], Condition { figure: "roc_auc".into(), above: false, inclusive: false, bound: 0.75 });
        assert!(c[2].above && c[2].inclusive && c[2].figure == "psi:MonthlyCharges");
        assert!(parse_conditions("auc<0.7").unwrap_err().contains("unknown figure `auc`"));
        assert!(parse_conditions("roc_auc=0.7").unwrap_err().contains("expected"));
        assert!(parse_conditions("roc_auc<high").unwrap_err().contains("not a number"));
    }

    #[test]
    fn the_verdict_names_decay_and_drift() {
        let m = |auc: f64| Metrics {
            roc_auc: auc,
            pr_auc: 0.6,
            log_loss: 0.4,
            brier: 0.13,
            accuracy: 0.8,
            f1: 0.6,
            precision: 0.6,
            recall: 0.6,
            threshold: 0.3,
        };
        let none = BTreeMap::new();
        let calibrated = (0.26, 0.25);
        assert_eq!(verdict(&m(0.85), Some(&m(0.851)), &none, Some(0.01), calibrated).0, "ok");
        let (v, why) = verdict(&m(0.85), Some(&m(0.85)), &none, None, (0.26, 0.40));
        assert_eq!(v, "watch");
        assert!(why[0].contains("predicted 40.0% churn where 26.0% churned"), "{why:?}");
        let (v, why) = verdict(&m(0.82), Some(&m(0.85)), &none, None, calibrated);
        assert_eq!(v, "watch");
        assert!(why[0].contains("0.8200 against 0.8500"), "{why:?}");
        let drift: BTreeMap<String, f64> = [("MonthlyCharges".to_string(), 0.4), ("tenure".to_string(), 0.02)].into();
        let (v, why) = verdict(&m(0.85), Some(&m(0.85)), &drift, Some(0.15), calibrated);
        assert_eq!(v, "retrain");
        assert!(why.iter().any(|w| w.contains("`MonthlyCharges` drifted: PSI 0.400")), "{why:?}");
        assert!(why.iter().any(|w| w.contains("score")), "{why:?}");
        assert!(!why.iter().any(|w| w.contains("tenure")), "{why:?}");
    }

    #[test]
    fn the_score_psi_is_zero_on_the_training_deciles() {
        let probs: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        let cuts = tables::risk_cuts(&probs);
        assert!(score_psi(&cuts, &probs) < 1e-3);
        let shifted: Vec<f64> = probs.iter().map(|p| (p + 0.3).min(1.0)).collect();
        assert!(score_psi(&cuts, &shifted) > PSI_RETRAIN);
    }
}

pub mod challenge;
