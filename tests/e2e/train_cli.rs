use crate::support::*;

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
    let t = |p: &std::path::Path| churn::bundle::open(p).unwrap().threshold();
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
    for f in ["customers.csv", "model/model.ubj", "model/report/report.html", "mlflow.db"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    // The registered champion resolves from the demo's folder with no flag (MLflow's default).
    let out = churn()
        .current_dir(&dir)
        .env_remove("MLFLOW_TRACKING_URI")
        .args(["predict", "--model", "models:/churn@champion", "--input", "customers.csv", "--output", "scored.csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("model/churn/metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["run"]["registered"], serde_json::json!(["churn", "1"]));
    // `pull` turns the registered champion into a plain folder (what the release bakes in), and
    // names what it looked for when the alias does not exist.
    let pull = |uri: &str| {
        churn()
            .current_dir(&dir)
            .env_remove("MLFLOW_TRACKING_URI")
            .args(["pull", "--model", uri, "--output", "baked"])
            .output()
            .unwrap()
    };
    let out = pull("models:/churn@champion");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read(dir.join("baked/model.ubj")).unwrap(),
        std::fs::read(dir.join("model/model.ubj")).unwrap()
    );
    run_ok(&[
        "predict",
        "--model",
        s(&dir.join("baked")),
        "--input",
        s(&dir.join("customers.csv")),
        "--output",
        s(&dir.join("b.csv")),
    ]);
    let out = pull("models:/churn@production");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("production") && err.contains("champion"), "{err}");
}
