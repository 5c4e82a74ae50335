use crate::common::*;

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
    let model = churn::model::open(&out).unwrap();
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

#[test]
fn profit_threshold_is_used_when_costs_are_given() {
    let d = tmp();
    let data = synth(d.path(), 3000, 2);
    let cheap = d.path().join("cheap");
    let dear = d.path().join("dear");
    run_ok(&[
        "train",
        "--data",
        s(&data),
        "--output",
        s(&cheap),
        "--trials",
        "0",
        "--offer-cost",
        "1",
        "--customer-value",
        "500",
    ]);
    run_ok(&[
        "train",
        "--data",
        s(&data),
        "--output",
        s(&dear),
        "--trials",
        "0",
        "--offer-cost",
        "300",
        "--customer-value",
        "500",
    ]);
    let t = |p: &std::path::Path| churn::model::open(p).unwrap().threshold();
    assert!(t(&cheap) < t(&dear), "cheap offers reach more customers: {} vs {}", t(&cheap), t(&dear));
    let (ok, _, err) = run(&["train", "--data", s(&data), "--output", s(&cheap), "--offer-cost", "5"]);
    assert!(!ok && err.contains("--customer-value"), "{err}");
}

#[test]
fn evaluate_prints_the_six_metrics_as_mean_and_std() {
    let d = tmp();
    let data = synth(d.path(), 1500, 4);
    let out = run_ok(&[
        "evaluate",
        "--data",
        s(&data),
        "--folds",
        "3",
        "--repeats",
        "2",
        "--seed",
        "0",
        "--trials",
        "2",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for k in ["roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "f1"] {
        let m = v[k]["mean"].as_f64().unwrap_or_else(|| panic!("{k} missing in {out}"));
        assert!(m.is_finite() && v[k]["std"].as_f64().unwrap() >= 0.0, "{k}");
    }
    assert!(v["roc_auc"]["mean"].as_f64().unwrap() > 0.75);
    // Same seed, same numbers.
    let again = run_ok(&[
        "evaluate",
        "--data",
        s(&data),
        "--folds",
        "3",
        "--repeats",
        "2",
        "--seed",
        "0",
        "--trials",
        "2",
        "--json",
    ]);
    let w: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(v["roc_auc"], w["roc_auc"]);
}

/// The quality bar of the training-pipeline issue, on the real file with every default (5x3 CV,
/// seed 0, 12 trials): deterministic for any thread count, so a change that loses it fails here.
#[test]
fn evaluate_with_defaults_meets_the_quality_bar_on_the_ibm_file() {
    let out = run_ok(&["evaluate", "--data", s(&telco_csv()), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["folds"].as_u64(), v["repeats"].as_u64(), v["seed"].as_u64()), (Some(5), Some(3), Some(0)));
    let auc = v["roc_auc"]["mean"].as_f64().unwrap();
    let log_loss = v["log_loss"]["mean"].as_f64().unwrap();
    assert!(auc >= 0.850, "ROC AUC {auc} < 0.850");
    assert!(log_loss <= 0.412, "log loss {log_loss} > 0.412");
}

#[test]
fn help_teaches_the_commands() {
    let out = run_ok(&["--help"]);
    for c in ["synth", "train", "evaluate", "Typical flow"] {
        assert!(out.contains(c), "{c}");
    }
    let out = run_ok(&["train", "--help"]);
    assert!(out.contains("--offer-cost") && out.contains("--trials"));
}

#[test]
fn demo_runs_the_main_job_on_synthetic_data() {
    let d = tmp();
    let dir = d.path().join("demo");
    run_ok(&["demo", "--dir", s(&dir), "--rows", "2500", "--no-serve"]);
    for f in ["customers.csv", "model/model.ubj", "model/report/report.html", "mlruns/models/churn/aliases/champion"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("model/churn/metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["run"]["registered"], serde_json::json!(["churn", "1"]));
}
