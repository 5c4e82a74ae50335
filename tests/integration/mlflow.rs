//! Models cross the language line both ways, through the MLflow file store and a real
//! `mlflow server`: Python's mlflow loads churn's runs, churn serves Python's models.

use crate::support::*;
use std::path::Path;

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Writes the features of `scored` (churn predict --with-features output) with a label column,
/// as the training table of a Python model.
fn python_training_table(scored: &Path, out: &Path) {
    let mut r = csv::Reader::from_path(scored).unwrap();
    let headers: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let keep: Vec<usize> = (0..headers.len())
        .filter(|&i| !["customerID", "churn_probability", "churn", "risk_decile"].contains(&headers[i].as_str()))
        .collect();
    let p_idx = headers.iter().position(|h| h == "churn_probability").unwrap();
    let mut w = csv::Writer::from_path(out).unwrap();
    let mut head: Vec<&str> = keep.iter().map(|&i| headers[i].as_str()).collect();
    head.push("label");
    w.write_record(&head).unwrap();
    for (n, rec) in r.records().enumerate() {
        let rec = rec.unwrap();
        let mut row: Vec<String> = keep.iter().map(|&i| rec[i].to_string()).collect();
        let p: f64 = rec[p_idx].parse().unwrap();
        // A label loosely tied to churn's score, so the Python model learns something.
        row.push(if (p > 0.3) ^ (n % 7 == 0) { "1" } else { "0" }.to_string());
        w.write_record(&row).unwrap();
    }
    w.flush().unwrap();
}

/// The whole round trip against one tracking URI (a file store path or a server URL).
fn round_trip(tracking: &str, python_uri: &str, envs: &[(&str, &str)]) {
    let d = tmp();
    let data = synth(d.path(), 3000, 21);
    let bundle = d.path().join("bundle");
    let json = run_ok(&[
        "train",
        "--data",
        s(&data),
        "--output",
        s(&bundle),
        "--trials",
        "0",
        "--tracking-uri",
        tracking,
        "--experiment",
        "churn-tests",
        "--register",
        "churn",
        "--alias",
        "champion",
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_str(&json).unwrap();
    let run_id = summary["tracked"]["run_id"].as_str().unwrap().to_string();
    let model_id = summary["tracked"]["model_id"].as_str().unwrap().to_string();

    // Rust -> Python: 1,000 rows scored by churn, then by Python's mlflow on the same inputs.
    let customers = synth(d.path(), 1000, 99);
    let scored = d.path().join("scored.csv");
    run_ok(&[
        "predict",
        "--model",
        "models:/churn@champion",
        "--tracking-uri",
        tracking,
        "--input",
        s(&customers),
        "--output",
        s(&scored),
        "--with-features",
    ]);
    let checked = python_script(
        "check_model.py",
        &[
            python_uri,
            &run_id,
            s(&scored),
            &format!("runs:/{run_id}/model"),
            "models:/churn@champion",
            "models:/churn/1",
            &format!("models:/{model_id}"),
        ],
        envs,
    );
    assert!(checked.contains("\"rows\": 1000"), "{checked}");

    // The same model through every URI form, from churn's side.
    for uri in [
        format!("runs:/{run_id}/model"),
        format!("models:/{model_id}"),
        "models:/churn/1".into(),
        "models:/churn/latest".into(),
        s(&bundle).to_string(),
    ] {
        let out = d.path().join("again.csv");
        run_ok(&[
            "predict",
            "--model",
            &uri,
            "--tracking-uri",
            tracking,
            "--input",
            s(&customers),
            "--output",
            s(&out),
        ]);
        assert_eq!(csv_column(&out, "churn_probability"), csv_column(&scored, "churn_probability"), "{uri}");
    }

    // Python -> Rust: a model Python logged (UBJ, MLflow 3 logged model, no churn pipeline).
    let table = d.path().join("features.csv");
    python_training_table(&scored, &table);
    let py_preds = d.path().join("py.csv");
    let out = python_script("log_python_model.py", &[python_uri, s(&table), s(&py_preds), "py-churn"], envs);
    // MLflow prints its own lines ("View run at ..."); the script's answer is the last line.
    let ids: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or_default()).unwrap();
    let theirs = csv_column(&py_preds, "python_probability");
    for uri in [
        "models:/py-churn@champion".to_string(),
        format!("runs:/{}/model", ids["run_id"].as_str().unwrap()),
        format!("models:/{}", ids["model_id"].as_str().unwrap()),
    ] {
        let out = d.path().join("from-python.csv");
        run_ok(&["predict", "--model", &uri, "--tracking-uri", tracking, "--input", s(&table), "--output", s(&out)]);
        let ours = csv_column(&out, "churn_probability");
        assert!(max_diff(&ours, &theirs) <= 1e-6, "{uri}: {}", max_diff(&ours, &theirs));
    }

    // What cannot be found says what was looked for, where, and what exists.
    let (ok, _, err) = run(&[
        "predict",
        "--model",
        "models:/nope@champion",
        "--tracking-uri",
        tracking,
        "--input",
        s(&customers),
        "--output",
        s(&d.path().join("x.csv")),
    ]);
    assert!(!ok && err.contains("'nope'") && err.contains("churn") && err.contains("py-churn"), "{err}");
    let (ok, _, err) = run(&[
        "predict",
        "--model",
        "models:/churn@silver",
        "--tracking-uri",
        tracking,
        "--input",
        s(&customers),
        "--output",
        s(&d.path().join("x.csv")),
    ]);
    assert!(!ok && err.contains("no alias 'silver'") && err.contains("@champion"), "{err}");
}

#[test]
fn file_store_round_trip_with_python_mlflow() {
    let d = tmp();
    let store = d.path().join("mlruns");
    let uri = format!("file://{}", store.display());
    round_trip(s(&store), &uri, &[("MLFLOW_ALLOW_FILE_STORE", "true")]);
    // Unknown run: the error lists the experiments and their latest runs.
    let (ok, _, err) = run(&[
        "predict",
        "--model",
        "runs:/0123456789abcdef/model",
        "--tracking-uri",
        s(&store),
        "--input",
        "x.csv",
        "--output",
        "y.csv",
    ]);
    assert!(!ok && err.contains("run 0123456789abcdef not found") && err.contains("churn-tests"), "{err}");
}

#[test]
fn server_round_trip_failure_and_retry() {
    let server = MlflowServer::start();
    round_trip(&server.url, &server.url, &[]);

    // A server that cannot be reached: the bundle stays, and the message says how to upload it.
    let d = tmp();
    let data = synth(d.path(), 800, 5);
    let bundle = d.path().join("bundle");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = churn()
        .args(["train", "--data", s(&data), "--output", s(&bundle), "--trials", "0", "--tracking-uri", &dead])
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("churn track --model") && bundle.join("model.ubj").exists(), "{err}");
    let (ok, _, err) = run(&[
        "predict",
        "--model",
        "runs:/0123456789abcdef/model",
        "--tracking-uri",
        &server.url,
        "--input",
        "x.csv",
        "--output",
        "y.csv",
    ]);
    assert!(!ok && err.contains("run 0123456789abcdef not found") && err.contains("churn-tests"), "{err}");
    // ... and the upload then works against the live server.
    run_ok(&["track", "--model", s(&bundle), "--tracking-uri", &server.url, "--experiment", "retried"]);
    let model = churn::bundle::open(&bundle).unwrap();
    assert_eq!(model.metadata.unwrap().run.unwrap().experiment_name, "retried");
}
