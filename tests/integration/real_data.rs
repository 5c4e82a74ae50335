//! The real IBM Telco file (never in the repository: $TELCO_CSV or ../shared/data/telco): a
//! bundle trained on it, the quality bar, and the synthetic generator's calibration against it.

use crate::support::*;
use churn::ingest::Dataset;
use churn::schema::Schema;

#[test]
fn train_writes_a_complete_bundle_on_the_real_file() {
    let d = tmp();
    let out = d.path().join("model");
    let json = run_ok(&["train", "--data", s(&telco_csv()), "--output", s(&out), "--trials", "0", "--json"]);
    let summary: serde_json::Value = serde_json::from_str(&json).unwrap();
    let auc = summary["held_out"]["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.82 && auc < 0.90, "held-out AUC {auc}");
    for f in [
        "MLmodel",
        "model.ubj",
        "requirements.txt",
        "python_env.yaml",
        "input_example.json",
        "serving_input_example.json",
        "churn/pipeline.json",
        "churn/schema.toml",
        "churn/metadata.json",
        "churn/evaluation.json",
        "churn/profile.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let model = churn::bundle::open(&out).unwrap();
    let meta = model.metadata.as_ref().unwrap();
    assert_eq!(meta.data.rows, 7043);
    assert_eq!(meta.data.sha256, "88be4b93fbe0cc83421af1c503794c97c342eca914c1576db7c276e61d61358a");
    let eval = model.evaluation.as_ref().unwrap();
    assert_eq!(eval.held_out.lift.len(), 10);
    assert_eq!(eval.held_out.calibration.len(), 10);
    assert_eq!(eval.held_out.confusion.total() as usize, eval.held_out.rows);
    assert!(eval.held_out.lift[0].lift > 2.0, "the riskiest decile churns far above average");
    assert!(model.profile.as_ref().unwrap().fields.len() == 19);
    assert!((0.05..0.95).contains(&meta.threshold));
}

/// The quality bar of the training-pipeline issue, on the real file with every default (5x3 CV,
/// seed 0): deterministic for any thread count, so a change that loses it fails here.
#[test]
fn evaluate_with_defaults_meets_the_quality_bar_on_the_ibm_file() {
    let out = run_ok(&["evaluate", "--data", s(&telco_csv()), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["folds"].as_u64(), v["repeats"].as_u64(), v["seed"].as_u64()), (Some(5), Some(3), Some(0)));
    let auc = v["roc_auc"]["mean"].as_f64().unwrap();
    let log_loss = v["log_loss"]["mean"].as_f64().unwrap();
    // A band, not the exact bar: on this file the fold assignment alone moves the fourth digit
    // (docs/quality.md), so harmless changes would make an exact 0.850 a coin flip. The exact
    // figure is tracked by bench/tables.py and docs/quality.md.
    assert!(auc >= 0.848, "ROC AUC {auc} fell below the 0.850 bar's tolerance band (0.848)");
    assert!(log_loss <= 0.412, "log loss {log_loss} > 0.412");
}

#[test]
fn synthetic_statistics_match_the_real_file() {
    let d = tmp();
    let schema = Schema::telco();
    let syn = Dataset::load(&synth(d.path(), 100_000, 3), &schema).unwrap();
    let real = Dataset::load(&telco_csv(), &schema).unwrap();
    let share = |data: &Dataset, field: &str, level: f64| {
        let k = schema.field_index(field).unwrap();
        (0..data.len()).filter(|&i| data.row(i)[k] == level).count() as f64 / data.len() as f64
    };
    let mean = |data: &Dataset, field: &str| {
        let k = schema.field_index(field).unwrap();
        (0..data.len()).map(|i| data.row(i)[k]).sum::<f64>() / data.len() as f64
    };
    let close =
        |what: &str, a: f64, b: f64, tol: f64| assert!((a - b).abs() <= tol, "{what}: synthetic {a:.4} vs real {b:.4}");
    close("churn rate", syn.positive_rate(), real.positive_rate(), 0.015);
    for (field, level) in [
        ("Contract", 0.0),
        ("Contract", 2.0),
        ("InternetService", 1.0),
        ("InternetService", 2.0),
        ("PaymentMethod", 2.0),
        ("SeniorCitizen", 1.0),
        ("PaperlessBilling", 1.0),
    ] {
        close(&format!("{field} level {level}"), share(&syn, field, level), share(&real, field, level), 0.03);
    }
    close("mean tenure", mean(&syn, "tenure"), mean(&real, "tenure"), 1.5);
    close("mean MonthlyCharges", mean(&syn, "MonthlyCharges"), mean(&real, "MonthlyCharges"), 3.0);
    // The main driver: churn is far higher on month-to-month contracts.
    let k = schema.field_index("Contract").unwrap();
    let rate = |data: &Dataset, c: f64| {
        let rows: Vec<usize> = (0..data.len()).filter(|&i| data.row(i)[k] == c).collect();
        rows.iter().filter(|&&i| data.labels[i] == 1).count() as f64 / rows.len() as f64
    };
    close("churn | month-to-month", rate(&syn, 0.0), rate(&real, 0.0), 0.06);
    close("churn | two year", rate(&syn, 2.0), rate(&real, 2.0), 0.03);
}
