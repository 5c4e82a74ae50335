//! The training report: one self-contained HTML file (inline SVG charts, inline CSS, no script
//! and no external asset) plus a PNG copy of every chart, built from what the bundle already
//! holds (`churn/evaluation.json`, `churn/metadata.json`). `churn train` writes it into the
//! bundle's `report/`; `churn report` rebuilds it for any model URI.

pub mod charts;

use crate::bundle::{Evaluation, LoadedModel, Metadata};
use crate::evaluation::tables::CurvePoint;
use crate::evaluation::ThresholdPolicy;
use charts::{Canvas, BLUE, GREEN, GREY, RED};
use std::path::Path;

/// Offer economics for the profit chart.
#[derive(Debug, Clone, Copy)]
pub struct Economics {
    pub offer_cost: f64,
    pub customer_value: f64,
    pub offer_acceptance: f64,
    /// True when the numbers are the report's illustration, not the model's own policy.
    pub assumed: bool,
}

impl Economics {
    /// The model's profit policy when it has one, else an illustration (an offer costs 20, a
    /// kept churner is worth 200).
    pub fn for_model(policy: &ThresholdPolicy) -> Economics {
        match *policy {
            ThresholdPolicy::Profit { offer_cost, customer_value, offer_acceptance } => {
                Economics { offer_cost, customer_value, offer_acceptance, assumed: false }
            }
            ThresholdPolicy::F1 => {
                Economics { offer_cost: 20.0, customer_value: 200.0, offer_acceptance: 1.0, assumed: true }
            }
        }
    }
}

pub struct Chart {
    pub name: &'static str,
    pub title: String,
    pub caption: String,
    pub svg: String,
}

pub struct Report {
    pub html: String,
    pub charts: Vec<Chart>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the model at {0} has no churn evaluation (churn/evaluation.json and churn/metadata.json): it was not trained by churn, so there is nothing to report")]
    NoEvaluation(String),
    #[error("cannot write the report to {}: {source}", path.display())]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot draw {chart} as PNG: {message}")]
    Png { chart: String, message: String },
}

/// Profit of every point of the threshold sweep under the given economics.
fn profit_curve(curve: &[CurvePoint], positives: f64, negatives: f64, e: &Economics) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = curve
        .iter()
        .map(|p| {
            let tp = p.recall * positives;
            let fp = p.fpr * negatives;
            (p.threshold, tp * (e.offer_acceptance * e.customer_value - e.offer_cost) - fp * e.offer_cost)
        })
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts
}

pub fn build(model: &LoadedModel, economics: Option<Economics>) -> Result<Report, ReportError> {
    let (Some(meta), Some(eval)) = (model.metadata.as_ref(), model.evaluation.as_ref()) else {
        return Err(ReportError::NoEvaluation(model.dir.display().to_string()));
    };
    let e = economics.unwrap_or_else(|| Economics::for_model(&meta.policy));
    let labels = model
        .pipeline()
        .map(|p| (p.schema.target.negative.clone(), p.schema.target.positive.clone()))
        .unwrap_or(("0".into(), "1".into()));
    let charts = charts_for(meta, eval, &e, (&labels.0, &labels.1));
    let html = html(model, meta, eval, &e, &charts);
    Ok(Report { html, charts })
}

/// What every chart of the report reads.
#[derive(Clone, Copy)]
struct Context<'a> {
    meta: &'a Metadata,
    eval: &'a Evaluation,
    e: &'a Economics,
    labels: (&'a str, &'a str),
    h: &'a crate::evaluation::HeldOut,
    m: &'a crate::evaluation::Metrics,
    c: &'a crate::evaluation::Confusion,
    positives: f64,
    negatives: f64,
    base_rate: f64,
}

fn charts_for(meta: &Metadata, eval: &Evaluation, e: &Economics, labels: (&str, &str)) -> Vec<Chart> {
    let h = &eval.held_out;
    let c = &h.confusion;
    let positives = (c.tp + c.fn_) as f64;
    let negatives = (c.fp + c.tn) as f64;
    let base_rate = positives / (positives + negatives).max(1.0);
    let k = Context { meta, eval, e, labels, h, m: &h.metrics, c, positives, negatives, base_rate };
    vec![
        roc_chart(&k),
        pr_chart(&k),
        calibration_chart(&k),
        gains_chart(&k),
        lift_chart(&k),
        profit_chart(&k),
        confusion_chart(&k),
        importance_chart(&k),
        scores_chart(&k),
    ]
}

fn roc_chart(k: &Context) -> Chart {
    let Context { h, m, .. } = *k;
    let mut roc = Canvas::new(
        "chart-roc",
        "ROC curve (held-out)",
        "false positive rate",
        "true positive rate",
        (0.0, 1.0),
        (0.0, 1.0),
    );
    roc.line(&[(0.0, 0.0), (1.0, 1.0)], GREY, 1.0, true);
    roc.line(&h.curve.iter().map(|p| (p.fpr, p.tpr)).collect::<Vec<_>>(), BLUE, 2.5, false);
    roc.legend_at(&[(&format!("model, AUC {:.3}", m.roc_auc), BLUE), ("random", GREY)], true);
    Chart {
        name: "roc",
        title: "ROC curve".into(),
        caption: format!("ROC AUC {:.4} on {} held-out customers.", m.roc_auc, h.rows),
        svg: roc.finish(),
    }
}

fn pr_chart(k: &Context) -> Chart {
    let Context { h, m, base_rate, .. } = *k;
    let mut pr =
        Canvas::new("chart-pr", "Precision-recall curve (held-out)", "recall", "precision", (0.0, 1.0), (0.0, 1.0));
    pr.line(&[(0.0, base_rate), (1.0, base_rate)], GREY, 1.0, true);
    pr.line(
        &h.curve.iter().filter(|p| p.recall > 0.0).map(|p| (p.recall, p.precision)).collect::<Vec<_>>(),
        BLUE,
        2.5,
        false,
    );
    pr.legend(&[
        (&format!("model, AP {:.3}", m.pr_auc), BLUE),
        (&format!("churn rate {:.1}%", 100.0 * base_rate), GREY),
    ]);
    Chart {
        name: "pr",
        title: "Precision-recall curve".into(),
        caption: format!("Average precision {:.4}; churn rate {:.1}%.", m.pr_auc, 100.0 * base_rate),
        svg: pr.finish(),
    }
}

fn calibration_chart(k: &Context) -> Chart {
    let Context { h, m, .. } = *k;
    let mut cal = Canvas::new(
        "chart-calibration",
        "Calibration (reliability)",
        "mean predicted probability",
        "observed churn rate",
        (0.0, 1.0),
        (0.0, 1.0),
    );
    cal.line(&[(0.0, 0.0), (1.0, 1.0)], GREY, 1.0, true);
    let bins: Vec<_> = h.calibration.iter().filter(|b| b.customers > 0).collect();
    let max_n = bins.iter().map(|b| b.customers).max().unwrap_or(1) as f64;
    cal.line(&bins.iter().map(|b| (b.mean_predicted, b.observed_rate)).collect::<Vec<_>>(), BLUE, 2.0, false);
    cal.dots(
        &bins
            .iter()
            .map(|b| (b.mean_predicted, b.observed_rate, 3.0 + 7.0 * (b.customers as f64 / max_n).sqrt()))
            .collect::<Vec<_>>(),
        BLUE,
    );
    cal.legend_at(&[(&format!("model (Brier {:.3})", m.brier), BLUE), ("perfectly calibrated", GREY)], true);
    Chart {
        name: "calibration",
        title: "Calibration".into(),
        caption: "Predicted probability against the observed churn rate, in ten bins (dot size = customers).".into(),
        svg: cal.finish(),
    }
}

fn gains_chart(k: &Context) -> Chart {
    let Context { h, positives, base_rate, .. } = *k;
    let mut gains = Canvas::new(
        "chart-gains",
        "Cumulative gains",
        "share of customers contacted (highest risk first)",
        "share of churners reached",
        (0.0, 1.0),
        (0.0, 1.0),
    );
    gains.line(&[(0.0, 0.0), (1.0, 1.0)], GREY, 1.0, true);
    gains.line(&[(0.0, 0.0), (base_rate, 1.0), (1.0, 1.0)], GREEN, 1.0, true);
    gains.line(&h.curve.iter().map(|p| (p.targeted, p.recall)).collect::<Vec<_>>(), BLUE, 2.5, false);
    let top = h.lift.iter().take(2).map(|l| l.churners).sum::<u64>() as f64 / positives.max(1.0);
    gains.legend_at(&[("model", BLUE), ("random", GREY), ("perfect", GREEN)], true);
    Chart {
        name: "gains",
        title: "Cumulative gains".into(),
        caption: format!("Contacting the riskiest 20% reaches {:.0}% of churners.", 100.0 * top),
        svg: gains.finish(),
    }
}

fn lift_chart(k: &Context) -> Chart {
    let Context { h, .. } = *k;
    let max_lift = h.lift.iter().map(|l| l.lift).fold(1.0, f64::max);
    let mut lift = Canvas::new(
        "chart-lift",
        "Decile lift",
        "risk decile (1 = riskiest tenth)",
        "lift over the average churn rate",
        (0.5, 10.5),
        (0.0, (max_lift * 1.15).ceil()),
    );
    for l in &h.lift {
        lift.bar(l.decile as f64, 0.7, l.lift, BLUE, 0.85);
        lift.text(l.decile as f64, l.lift, &format!("{:.2}", l.lift), 10.0, "#1d2330", "middle");
    }
    lift.line(&[(0.5, 1.0), (10.5, 1.0)], GREY, 1.0, true);
    Chart {
        name: "lift",
        title: "Decile lift".into(),
        caption: format!(
            "The riskiest tenth churns {:.1}x as often as the average customer.",
            h.lift.first().map(|l| l.lift).unwrap_or(0.0)
        ),
        svg: lift.finish(),
    }
}

fn profit_chart(k: &Context) -> Chart {
    let Context { meta, e, h, positives, negatives, .. } = *k;
    let profit = profit_curve(&h.curve, positives, negatives, e);
    let (lo, hi) = profit.iter().fold((0.0f64, 0.0f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let pad = (hi - lo).max(1.0) * 0.08;
    let mut pc = Canvas::new(
        "chart-profit",
        "Profit by threshold (held-out)",
        "threshold (offer to customers at or above it)",
        "profit",
        (0.0, 1.0),
        (lo - pad, hi + pad),
    );
    pc.line(&[(0.0, 0.0), (1.0, 0.0)], GREY, 1.0, true);
    pc.line(&profit, BLUE, 2.5, false);
    pc.vline(meta.threshold, RED, &format!("chosen {:.3}", meta.threshold));
    let best = profit.iter().copied().fold((0.0, f64::NEG_INFINITY), |b, p| if p.1 > b.1 { p } else { b });
    pc.dots(&[(best.0, best.1, 5.0)], GREEN);
    let assumption = format!(
        "offer cost {}, value of a kept churner {}, acceptance {}{}",
        e.offer_cost,
        e.customer_value,
        e.offer_acceptance,
        if e.assumed { " (illustration: train with --offer-cost and --customer-value for yours)" } else { "" }
    );
    Chart {
        name: "profit",
        title: "Profit by threshold".into(),
        caption: format!("Profit = TP x (acceptance x value - cost) - FP x cost, with {assumption}. Best threshold {:.3} ({:.0}); chosen {:.3} ({}).", best.0, best.1, meta.threshold, meta.policy.describe()),
        svg: pc.finish(),
    }
}

fn confusion_chart(k: &Context) -> Chart {
    let Context { meta, labels, m, c, .. } = *k;
    Chart {
        name: "confusion",
        title: "Confusion matrix".into(),
        caption: format!(
            "At the chosen threshold {:.3}: precision {:.3}, recall {:.3}, accuracy {:.3}.",
            meta.threshold, m.precision, m.recall, m.accuracy
        ),
        svg: charts::confusion(
            "chart-confusion",
            &format!("Confusion matrix at threshold {:.3}", meta.threshold),
            c.tp,
            c.fp,
            c.tn,
            c.fn_,
            labels,
        ),
    }
}

fn importance_chart(k: &Context) -> Chart {
    let Context { eval, .. } = *k;
    let mut imp: Vec<(String, f64)> = eval.importance.clone();
    imp.sort_by(|a, b| b.1.total_cmp(&a.1));
    imp.truncate(15);
    Chart {
        name: "importance",
        title: "Global feature importance".into(),
        caption: "Mean absolute SHAP value (log-odds) per raw field over the held-out customers: how much each field moves predictions.".into(),
        svg: charts::hbars("chart-importance", "Feature importance (mean |SHAP| per field)", "mean |SHAP| (log-odds)", &imp, BLUE),
    }
}

fn scores_chart(k: &Context) -> Chart {
    let Context { meta, eval, labels, .. } = *k;
    let sh = &eval.score_histogram;
    let n = sh.churners.len().max(1);
    let width = 1.0 / n as f64;
    let share = |v: &[u64]| {
        let t = v.iter().sum::<u64>().max(1) as f64;
        v.iter().map(|&c| c as f64 / t).collect::<Vec<_>>()
    };
    let (ch, st) = (share(&sh.churners), share(&sh.stayers));
    let top_y = ch.iter().chain(st.iter()).fold(0.0f64, |a, &b| a.max(b)) * 1.15;
    let mut sc = Canvas::new(
        "chart-scores",
        "Scores of churners and stayers (held-out)",
        "predicted churn probability",
        "share of the group",
        (0.0, 1.0),
        (0.0, top_y.max(0.05)),
    );
    for (i, (a, b)) in ch.iter().zip(&st).enumerate() {
        let x = (i as f64 + 0.5) * width;
        sc.bar(x, width * 0.95, *b, GREEN, 0.45);
        sc.bar(x, width * 0.95, *a, RED, 0.45);
    }
    sc.vline(meta.threshold, "#1d2330", "threshold");
    sc.legend(&[(&format!("churners ({})", labels.1), RED), (&format!("stayers ({})", labels.0), GREEN)]);
    Chart {
        name: "scores",
        title: "Score distribution".into(),
        caption: "How far apart the model puts churners and stayers; overlap is where it errs.".into(),
        svg: sc.finish(),
    }
}

/// The page, filled by the template `templates/report.html` (every value HTML-escaped; the
/// charts are SVG drawn by `charts`).
#[derive(askama::Template)]
#[template(path = "report.html")]
struct Page<'a> {
    meta: &'a Metadata,
    eval: &'a Evaluation,
    policy: String,
    quality: Vec<(&'static str, f64, f64)>,
    facts: Vec<(&'static str, String)>,
    charts: &'a [Chart],
    /// (number, chosen, trial, parameters)
    tuning: Vec<(usize, bool, &'a crate::bundle::Trial, String)>,
    assumption: String,
}

fn html(model: &LoadedModel, meta: &Metadata, eval: &Evaluation, e: &Economics, charts: &[Chart]) -> String {
    use askama::Template;
    let run = meta.run.as_ref();
    let facts: Vec<(&str, String)> = vec![
        ("model folder", model.dir.display().to_string()),
        ("MLflow run", run.map(|r| r.run_id.clone()).unwrap_or_else(|| "not tracked".into())),
        (
            "registered",
            run.and_then(|r| r.registered.clone()).map(|(n, v)| format!("{n} v{v}")).unwrap_or_else(|| "-".into()),
        ),
        ("features", meta.features.to_string()),
        ("XGBoost", meta.xgboost_version.clone()),
        (
            "training rows",
            match meta.data.refit_rows {
                Some(all) => format!(
                    "{} (+{} held out, scored by the model fitted without them); the shipped model was then refit on all {all}",
                    meta.data.train_rows, meta.data.held_out_rows
                ),
                None => format!("{} (+{} held out)", meta.data.train_rows, meta.data.held_out_rows),
            },
        ),
        ("churn rate", format!("{:.2}%", 100.0 * meta.data.positive_rate)),
        ("data sha256", meta.data.sha256.chars().take(16).collect::<String>() + "…"),
        ("tuning", format!("{} parameter sets, chose #{}", eval.tuning.len(), eval.chosen_trial + 1)),
        ("final margin", meta.blend.as_ref().map_or_else(|| "the chosen set's".into(), |b| b.describe())),
    ];
    let quality = eval
        .held_out
        .metrics
        .pairs()
        .iter()
        .zip(eval.cross_validated.pairs().iter())
        .map(|((k, v), (_, w))| (*k, *v, *w))
        .collect();
    // A draw screened out on its first fold has a one-fold score: said so, not ranked with the rest.
    let folds = eval.tuning.iter().map(|t| t.fold_rounds.len()).max().unwrap_or(0);
    let tuning = eval
        .tuning
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut params: Vec<String> = t.params.iter().map(|(k, v)| format!("{k} {v}")).collect();
            if t.fold_rounds.len() < folds {
                params.insert(0, format!("(screened out on {} of {folds} folds)", t.fold_rounds.len()));
            }
            (i + 1, i == eval.chosen_trial, t, params.join(" · "))
        })
        .collect();
    let assumption = format!(
        "an offer cost of {}, a kept churner worth {} and an acceptance of {}{}",
        e.offer_cost,
        e.customer_value,
        e.offer_acceptance,
        if e.assumed { " (an illustration)" } else { "" }
    );
    let page = Page { meta, eval, policy: meta.policy.describe(), quality, facts, charts, tuning, assumption };
    page.render().expect("the report template renders")
}

/// Writes report.html and one PNG per chart into `dir`, replacing it whole.
pub fn write(report: &Report, dir: &Path) -> Result<Vec<std::path::PathBuf>, ReportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    let staged = crate::atomic::StagedDir::new(dir).map_err(io(dir))?;
    let mut written = Vec::new();
    std::fs::write(staged.path().join("report.html"), &report.html).map_err(io(dir))?;
    written.push(dir.join("report.html"));
    for c in &report.charts {
        let png = png(&c.svg).map_err(|message| ReportError::Png { chart: c.name.into(), message })?;
        let name = format!("{}.png", c.name);
        std::fs::write(staged.path().join(&name), png).map_err(io(dir))?;
        written.push(dir.join(name));
    }
    staged.commit().map_err(io(dir))?;
    Ok(written)
}

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Rasterises a chart at twice its size with the embedded DejaVu Sans (no system fonts needed).
pub fn png(svg: &str) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    let mut opt = usvg::Options::default();
    opt.fontdb_mut().load_font_data(FONT.to_vec());
    opt.fontdb_mut().set_sans_serif_family("DejaVu Sans");
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| e.to_string())?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width() * 2, size.height() * 2).ok_or("empty chart")?;
    resvg::render(&tree, tiny_skia::Transform::from_scale(2.0, 2.0), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| e.to_string())
}
