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
        .filter(|&i| {
            !["customerID", "churn_probability", "churn", "risk_decile", "risk_band"].contains(&headers[i].as_str())
        })
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
fn sqlite_round_trip_with_python_mlflow() {
    let d = tmp();
    let uri = format!("sqlite:///{}", d.path().join("mlflow.db").display());
    round_trip(&uri, &uri, &[]);
}

/// `churn train --register` with no flag and no environment variable writes where a bare
/// `mlflow ui` and `mlflow.search_runs()` look: `./mlflow.db`, artifacts in `./mlruns`.
#[test]
fn the_default_store_is_where_mlflow_looks_with_no_flag_and_no_environment() {
    let d = tmp();
    let here = |args: &[&str]| {
        let out = churn().current_dir(d.path()).env_remove("MLFLOW_TRACKING_URI").args(args).output().unwrap();
        assert!(out.status.success(), "churn {args:?}:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    synth(d.path(), 2000, 4);
    std::fs::rename(d.path().join("synth-2000-4.csv"), d.path().join("customers.csv")).unwrap();
    let json = here(&[
        "train",
        "--data",
        "customers.csv",
        "--output",
        "model",
        "--trials",
        "0",
        "--register",
        "churn",
        "--alias",
        "champion",
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_str(&json).unwrap();
    let run_id = summary["tracked"]["run_id"].as_str().unwrap().to_string();
    assert!(d.path().join("mlflow.db").is_file() && d.path().join("mlruns").is_dir());
    here(&[
        "predict",
        "--model",
        "models:/churn@champion",
        "--input",
        "customers.csv",
        "--output",
        "scored.csv",
        "--with-features",
    ]);

    // Python's mlflow, started in that folder with nothing set.
    let py = python();
    let out = std::process::Command::new(&py)
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mlflow/check_model.py"))
        .args(["", &run_id, "scored.csv", "models:/churn@champion", &format!("runs:/{run_id}/model")])
        .current_dir(d.path())
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("MLFLOW_ALLOW_FILE_STORE")
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));

    // A bare `mlflow ui` there serves the run and the registered model.
    let ui = MlflowServer::start_bare(d.path());
    let agent = agent();
    let get = |path: &str| {
        let mut r = agent.get(&format!("{}{path}", ui.url)).call().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.body_mut().read_to_string().unwrap()
    };
    assert!(get(&format!("/api/2.0/mlflow/runs/get?run_id={run_id}")).contains("test_roc_auc"));
    let alias: serde_json::Value =
        serde_json::from_str(&get("/api/2.0/mlflow/registered-models/alias?name=churn&alias=champion")).unwrap();
    assert_eq!(alias["model_version"]["version"], "1", "{alias}");
    assert_eq!(alias["model_version"]["run_id"], run_id.as_str(), "{alias}");
}

/// A database written by another MLflow (another Alembic revision) is refused, untouched.
#[test]
fn a_database_of_another_mlflow_revision_is_refused_untouched() {
    let d = tmp();
    let db = d.path().join("mlflow.db");
    let uri = format!("sqlite:///{}", db.display());
    let data = synth(d.path(), 800, 5);
    run_ok(&["train", "--data", s(&data), "--output", s(&d.path().join("m")), "--trials", "0", "--tracking-uri", &uri]);
    let py = python();
    let sql = "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"update alembic_version set version_num='0000older'\"); c.commit()";
    assert!(std::process::Command::new(&py).args(["-c", sql, s(&db)]).status().unwrap().success());
    let before = std::fs::read(&db).unwrap();
    let (ok, _, err) = run(&[
        "train",
        "--data",
        s(&data),
        "--output",
        s(&d.path().join("m2")),
        "--trials",
        "0",
        "--tracking-uri",
        &uri,
    ]);
    assert!(!ok && err.contains("schema revision 0000older") && err.contains("mlflow db upgrade"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database was written to");
}

/// The schema churn creates databases with is the one the pinned MLflow creates.
#[test]
fn the_committed_sqlite_schema_is_what_the_pinned_mlflow_creates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(python())
        .arg(root.join("scripts/mlflow-sqlite-schema.py"))
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let committed = std::fs::read_to_string(root.join("src/tracking/sqlite/mlflow-3.17.2.sql")).unwrap();
    // MLflow's migrations leave constraints and indexes in no fixed order: compare each
    // statement's lines as a set, and the statements as a set.
    let normal = |sql: &str| {
        let mut statements: Vec<Vec<String>> = sql
            .split(";\n")
            .map(|st| {
                let mut lines: Vec<String> = st.lines().map(|l| l.trim().trim_end_matches(',').to_string()).collect();
                lines.sort();
                lines
            })
            .collect();
        statements.sort();
        statements
    };
    assert!(
        normal(&String::from_utf8_lossy(&out.stdout)) == normal(&committed),
        "the pinned MLflow creates another schema: regenerate with scripts/mlflow-sqlite-schema.py"
    );
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

/// `churn challenge --promote` against a tracking server: the stronger challenger takes
/// @champion, a weaker one gets @challenger, and Python's client sees both decisions and their
/// evidence on the versions.
#[test]
fn challenge_decisions_on_a_tracking_server_are_what_python_reads() {
    let server = MlflowServer::start();
    let d = tmp();
    let tracking = server.url.clone();
    let weak = register_version(d.path(), &tracking, 600, 61, Some("champion"));
    let strong = register_version(d.path(), &tracking, 8000, 62, None);
    let fresh = synth(d.path(), 4000, 63);
    let challenge = |challenger: &str| -> serde_json::Value {
        let out = run_ok(&[
            "challenge",
            "--champion",
            "models:/churn@champion",
            "--challenger",
            challenger,
            "--data",
            s(&fresh),
            "--promote",
            "--json",
            "--bootstrap",
            "300",
            "--tracking-uri",
            &tracking,
        ]);
        serde_json::from_str(&out).unwrap()
    };
    assert_eq!(challenge(&format!("models:/churn/{strong}"))["winner"], "challenger");
    assert_eq!(challenge(&format!("models:/churn/{weak}"))["winner"], "champion");
    let read = python_script("check_registry.py", &[&tracking, "churn", "champion", "challenger"], &[]);
    let v: serde_json::Value = serde_json::from_str(&read).unwrap();
    assert_eq!(v["aliases"]["champion"], strong.as_str(), "{v}");
    assert_eq!(v["aliases"]["challenger"], weak.as_str(), "{v}");
    let promoted = &v["versions"][strong.as_str()];
    assert!(promoted["tags"]["churn.challenge.decision"].as_str().unwrap().starts_with("promoted"), "{v}");
    assert!(promoted["description"].as_str().unwrap().contains("better beyond the interval"), "{v}");
    let refused = &v["versions"][weak.as_str()];
    assert!(refused["tags"]["churn.challenge.decision"].as_str().unwrap().starts_with("refused"), "{v}");
}
