//! `churn monitor`: fresh customers from the training distribution hold their ground (no field
//! drifts, realized ROC AUC near the trained one); the same customers with monthly charges raised
//! by 40 drift on that field alone, the verdict says so, `--fail-on` exits 3, and the run lands
//! in the model's experiment with its figures and report.

use crate::support::*;
use serde_json::Value;

fn raise_monthly_charges(from: &std::path::Path, to: &std::path::Path) {
    let text = std::fs::read_to_string(from).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let k = header.split(',').position(|h| h == "MonthlyCharges").unwrap();
    let mut out = format!("{header}\n");
    for line in lines {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        cells[k] = format!("{:.2}", cells[k].parse::<f64>().unwrap() + 40.0);
        out += &cells.join(",");
        out.push('\n');
    }
    std::fs::write(to, out).unwrap();
}

#[test]
fn fresh_customers_hold_and_raised_charges_drift_alone() {
    let d = tmp();
    let train = synth(d.path(), 6000, 31);
    let model = d.path().join("model");
    let db = d.path().join("mlflow.db");
    let tracking = format!("sqlite:///{}", db.display());
    run_ok(&["train", "--data", s(&train), "--output", s(&model), "--trials", "0", "--tracking-uri", &tracking]);
    let fresh = synth(d.path(), 4000, 32);
    let monitor = |data: &std::path::Path, extra: &[&str]| -> (bool, Value, String) {
        let mut args = vec!["monitor", "--model", s(&model), "--data", s(data), "--json", "--tracking-uri", &tracking];
        args.extend_from_slice(extra);
        let (ok, out, err) = run(&args);
        (ok, serde_json::from_str(&out).unwrap_or(Value::Null), err)
    };
    let (ok, r, err) = monitor(&fresh, &[]);
    assert!(ok, "{err}");
    assert_eq!(r["rows"], 4000);
    let trained = r["trained"]["roc_auc"].as_f64().unwrap();
    assert!((r["roc_auc"].as_f64().unwrap() - trained).abs() < 0.03, "{r}");
    for (field, psi) in r["drift"].as_object().unwrap() {
        assert!(psi.as_f64().unwrap() < 0.1, "{field} drifted on fresh customers: {psi}");
    }
    assert!(r["log_loss"].as_f64().unwrap() > 0.0 && r["verdict"] != "retrain", "{r}");

    let raised = d.path().join("raised.csv");
    raise_monthly_charges(&fresh, &raised);
    let (ok, r, err) = monitor(&raised, &["--fail-on", "roc_auc<0.5,psi>0.25"]);
    assert!(!ok && err.contains("psi>0.25"), "{err}");
    for (field, psi) in r["drift"].as_object().unwrap() {
        let psi = psi.as_f64().unwrap();
        if field == "MonthlyCharges" {
            assert!(psi >= 0.2, "{psi}");
        } else {
            assert!(psi < 0.1, "{field}: {psi}");
        }
    }
    assert_eq!(r["verdict"], "retrain");
    assert!(r["reasons"][0].as_str().unwrap().contains("MonthlyCharges"), "{r}");
    assert_eq!(r["failed"].as_array().unwrap().len(), 1, "{r}");
    // The exit code a scheduler sees.
    let status = churn()
        .args(["monitor", "--model", s(&model), "--data", s(&raised), "--no-track", "--fail-on", "psi>0.25"])
        .output()
        .unwrap()
        .status;
    assert_eq!(status.code(), Some(3));

    // The run is in the store with its report.
    assert!(run_has_report(&db, &r["run_id"]), "the monitoring run's report is in the store: {r}");
    let (ok, _, err) = run(&["monitor", "--model", s(&model), "--data", s(&raised), "--fail-on", "auc<3"]);
    assert!(!ok && err.contains("unknown figure `auc`"), "{err}");
}

/// Whether the store's artifacts hold the run's HTML report (the SQLite store keeps them in
/// `mlruns/` beside the database).
fn run_has_report(db: &std::path::Path, run_id: &Value) -> bool {
    let id = run_id.as_str().unwrap();
    let root = db.parent().unwrap().join("mlruns");
    walk(&root).iter().any(|p| p.ends_with("monitor/report.html") && p.to_string_lossy().contains(id))
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A scored file says which model scored it and when (`scored.csv.model.json`), so outcomes
/// learned later join by customer id and are judged against that model.
#[test]
fn scored_files_name_the_model_and_the_time_beside_them() {
    let d = tmp();
    let data = synth(d.path(), 1500, 35);
    let tracking = format!("sqlite:///{}", d.path().join("mlflow.db").display());
    run_ok(&[
        "train",
        "--data",
        s(&data),
        "--output",
        s(&d.path().join("m")),
        "--trials",
        "0",
        "--tracking-uri",
        &tracking,
        "--register",
        "churn",
        "--alias",
        "champion",
    ]);
    let scored = d.path().join("scored.csv");
    run_ok(&[
        "predict",
        "--model",
        "models:/churn@champion",
        "--input",
        s(&data),
        "--output",
        s(&scored),
        "--tracking-uri",
        &tracking,
    ]);
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(d.path().join("scored.csv.model.json")).unwrap()).unwrap();
    let m = &sidecar["model"];
    assert_eq!(m["model_uri"], "models:/churn@champion", "{sidecar}");
    assert_eq!((m["model_name"].as_str(), m["model_version"].as_str()), (Some("churn"), Some("1")), "{sidecar}");
    assert_eq!(m["run_id"].as_str().map(str::len), Some(32), "{sidecar}");
    assert!(m["scored_at"].as_str().unwrap().ends_with('Z'), "{sidecar}");
    assert_eq!(sidecar["scored"], 1500);
    // The scores keep the id to join on.
    let text = std::fs::read_to_string(&scored).unwrap();
    assert!(text.starts_with("customerID,churn_probability"), "{}", &text[..80]);
}
