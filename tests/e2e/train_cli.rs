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

/// A table of another shape, as a new user brings one: no id, `NA` and `NaT` for missing
/// values, a date column, integer-coded levels written in quotes and as floats, a free-text
/// column and a leaky one. `schema --infer` drafts the schema; train and predict run on it.
#[test]
fn a_table_of_another_shape_goes_from_raw_csv_to_model_in_two_commands() {
    let d = tmp();
    let data = d.path().join("usage.csv");
    let mut csv = String::from("\"area\",plan,minutes,last_call,note,refund_issued,left\n");
    let mut next = uniforms(7);
    for i in 0..1200 {
        let (u, v) = (next(), next());
        let left = u + 0.3 * v > 0.8;
        let minutes = if i % 50 == 0 { "NA".to_string() } else { format!("{:.1}", 100.0 + 400.0 * v) };
        let last =
            if i % 40 == 0 { "NaT".to_string() } else { format!("2019-{:02}-{:02}", 1 + (i * 7) % 12, 1 + i % 28) };
        let area = ["\"415\"", "\"408\"", "510.0"][i % 3];
        let plan = ["basic", "plus"][(v > 0.5) as usize];
        csv.push_str(&format!(
            "{area},{plan},{minutes},{last},customer said {i},{},{}\n",
            if left { 1 } else { 0 },
            if left { "yes" } else { "no" }
        ));
    }
    std::fs::write(&data, csv).unwrap();
    let schema = d.path().join("usage.toml");
    run_ok(&["schema", "--infer", s(&data), "--output", s(&schema)]);
    let toml = std::fs::read_to_string(&schema).unwrap();
    assert!(toml.contains("kind = \"date\"") && toml.contains("missing = [\"NA\", \"NaT\"]"), "{toml}");
    assert!(toml.contains("refund_issued: leakage candidate") && toml.contains("\"note\""), "{toml}");
    assert!(!toml.contains("\nid ="), "no column is an id: {toml}");

    // Trained as drafted: quiet about the columns it ignores on purpose, no id assumed.
    let model = d.path().join("model");
    let (ok, _, err) = run(&[
        "train",
        "--data",
        s(&data),
        "--schema",
        s(&schema),
        "--output",
        s(&model),
        "--trials",
        "0",
        "--no-track",
    ]);
    assert!(ok, "{err}");
    assert!(!err.contains("not in the schema") && !err.contains("but for the id"), "{err}");
    // The leaky column put back in: training says so loudly.
    let leaky = toml
        .replace("ignore = [", "ignore = [\"nothing\", ")
        .replace("\"refund_issued\", ", "")
        .replace(", \"refund_issued\"", "");
    let leaky = format!("{leaky}\n[[field]]\nname = \"refund_issued\"\nkind = \"numeric\"\n");
    let leaky_schema = d.path().join("leaky.toml");
    std::fs::write(&leaky_schema, leaky).unwrap();
    let (ok, _, err) = run(&[
        "train",
        "--data",
        s(&data),
        "--schema",
        s(&leaky_schema),
        "--output",
        s(&d.path().join("m2")),
        "--trials",
        "0",
        "--no-track",
    ]);
    // The leak makes a perfect model: refused, naming the field the screen flagged.
    assert!(!ok, "{err}");
    assert!(err.contains("LEAKAGE?") && err.contains("refund_issued") && err.contains("--allow-near-perfect"), "{err}");

    let scored = d.path().join("scored.csv");
    let out = run_ok(&["predict", "--model", s(&model), "--input", s(&data), "--output", s(&scored)]);
    assert!(out.contains("scored 1200 of 1200 rows"), "{out}");
    let p = csv_column(&scored, "churn_probability");
    assert!(p.iter().all(|p| (0.0..=1.0).contains(p)));
}

/// The search: the two fixed sets on every fold, each draw screened on the first fold, at most a
/// third of the draws promoted to the rest, and only a fully scored set chosen. A budget that
/// is spent at once leaves the fixed sets alone.
#[test]
fn the_search_screens_draws_on_one_fold_and_keeps_to_its_time_budget() {
    let d = tmp();
    let data = synth(d.path(), 1500, 4);
    let tuning = |out: &str, budget: &str| {
        let dir = d.path().join(out);
        run_ok(&[
            "train",
            "--data",
            s(&data),
            "--output",
            s(&dir),
            "--trials",
            "8",
            "--no-track",
            "--time-budget",
            budget,
        ]);
        let e: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("churn/evaluation.json")).unwrap()).unwrap();
        let folds: Vec<usize> =
            e["tuning"].as_array().unwrap().iter().map(|t| t["fold_rounds"].as_array().unwrap().len()).collect();
        for (t, &f) in e["tuning"].as_array().unwrap().iter().zip(&folds) {
            assert_eq!(t["complete"].as_bool(), Some(f == 5), "{t}");
        }
        (folds, e["chosen_trial"].as_u64().unwrap() as usize)
    };
    let (folds, chosen) = tuning("free", "0");
    assert_eq!(folds.len(), 8, "{folds:?}");
    assert_eq!(&folds[..3], &[5, 5, 5], "{folds:?}");
    assert!(folds[3..].iter().all(|&f| f == 1 || f == 5), "{folds:?}");
    assert!(folds[3..].iter().filter(|&&f| f == 5).count() <= 2, "{folds:?}");
    assert_eq!(folds[chosen], 5, "a screened-out draw was chosen: {folds:?} / {chosen}");
    let (folds, chosen) = tuning("spent", "0.000001");
    assert_eq!(folds, vec![5, 5, 5]);
    assert!(chosen < 3);
}

/// A categorical field of many levels (an area code, a state) is its out-of-fold churn rate and
/// its share, not one indicator per level; the model uses it and scores new rows with it.
#[test]
fn a_many_level_field_becomes_its_churn_rate_and_share() {
    let d = tmp();
    let data = d.path().join("areas.csv");
    let mut csv = String::from("area,minutes,left\n");
    let mut next = uniforms(11);
    for _ in 0..3000 {
        // Forty areas; the first ten churn far more. Minutes add a little.
        let area = (next() * 40.0) as usize;
        let minutes = next();
        let risk = if area < 10 { 0.6 } else { 0.1 } + 0.2 * minutes;
        let left = next() < risk;
        csv.push_str(&format!("A{area:02},{:.3},{}\n", 100.0 * minutes, if left { "yes" } else { "no" }));
    }
    std::fs::write(&data, csv).unwrap();
    let schema = d.path().join("areas.toml");
    run_ok(&["schema", "--infer", s(&data), "--output", s(&schema)]);
    let model = d.path().join("model");
    run_ok(&[
        "train",
        "--data",
        s(&data),
        "--schema",
        s(&schema),
        "--output",
        s(&model),
        "--trials",
        "3",
        "--no-track",
    ]);
    let pipeline: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("churn/pipeline.json")).unwrap()).unwrap();
    let names: Vec<&str> =
        pipeline["features"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["area churn rate", "area share", "minutes"]);
    let e: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("churn/evaluation.json")).unwrap()).unwrap();
    let auc = e["held_out"]["metrics"]["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.72, "the area's rate carries the signal: held-out ROC AUC {auc}");
    let scored = d.path().join("scored.csv");
    run_ok(&["predict", "--model", s(&model), "--input", s(&data), "--output", s(&scored)]);
    let p = csv_column(&scored, "churn_probability");
    assert_eq!(p.len(), 3000);
    assert!(p.iter().all(|p| (0.0..=1.0).contains(p)));
}

/// `--folds-out` writes the outer fold of every row, one column per repeat, before evaluating;
/// a search that cannot cross-validate is refused with the flag's name, not a panic.
#[test]
fn evaluate_exports_its_folds_and_a_one_fold_search_is_refused() {
    let d = tmp();
    let data = synth(d.path(), 600, 5);
    let folds = d.path().join("folds.csv");
    run_ok(&[
        "evaluate",
        "--data",
        s(&data),
        "--folds",
        "3",
        "--repeats",
        "2",
        "--trials",
        "1",
        "--json",
        "--folds-out",
        s(&folds),
    ]);
    let text = std::fs::read_to_string(&folds).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("repeat_1,repeat_2"));
    let rows: Vec<Vec<usize>> = lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 600);
    for r in 0..2 {
        let mut sizes = [0usize; 3];
        rows.iter().for_each(|row| sizes[row[r]] += 1);
        assert!(sizes.iter().all(|&n| n == 200), "repeat {r}: {sizes:?}");
    }
    assert!(rows.iter().any(|row| row[0] != row[1]), "each repeat shuffles anew");
    for args in [
        vec!["train", "--data", s(&data), "--output", s(&d.path().join("m")), "--folds", "1", "--no-track"],
        vec!["evaluate", "--data", s(&data), "--tuning-folds", "0", "--trials", "2"],
    ] {
        let (ok, _, err) = run(&args);
        assert!(!ok && err.contains("at least 2 folds") && !err.contains("panicked"), "{err}");
    }
}

#[test]
fn blend_none_keeps_the_chosen_set_as_fitted_and_a_bad_blend_names_the_choices() {
    let d = tmp();
    let data = synth(d.path(), 1500, 7);
    let dir = d.path().join("plain");
    let out = run_ok(&[
        "train",
        "--data",
        s(&data),
        "--output",
        s(&dir),
        "--trials",
        "3",
        "--no-track",
        "--blend",
        "none",
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(summary["blend"].is_null(), "{out}");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("churn/metadata.json")).unwrap()).unwrap();
    assert!(meta.get("blend").is_none(), "{meta}");
    let (ok, _, err) = run(&["train", "--data", s(&data), "--output", s(&dir), "--blend", "sideways"]);
    assert!(!ok && err.contains("--blend") && err.contains("recalibrate") && err.contains("stack"), "{err}");
}

/// `churn train` measures what one customer's reasons cost with the model it ships, and a cap
/// (`--max-explain-us`) makes the search choose among sets estimated within it: deep sets are
/// dearer than the folded stumps, so a cap under the depth-6 model's cost leaves a shallow one.
#[test]
fn the_reasons_cost_is_measured_and_a_cap_keeps_the_model_within_it() {
    let d = tmp();
    let data = synth(d.path(), 1500, 8);
    let train = |name: &str, extra: &[&str]| -> (serde_json::Value, serde_json::Value) {
        let dir = d.path().join(name);
        let mut args = vec!["train", "--data", s(&data), "--output", s(&dir), "--no-track", "--json"];
        args.extend_from_slice(&["--param", "max_depth=6", "--time-budget", "0"]);
        args.extend_from_slice(extra);
        let summary: serde_json::Value = serde_json::from_str(&run_ok(&args)).unwrap();
        let meta = serde_json::from_slice(&std::fs::read(dir.join("churn/metadata.json")).unwrap()).unwrap();
        (summary, meta)
    };
    // The depth-6 set alone (no search: on this additive table a search may well prefer stumps).
    let (free, meta) = train("free", &["--trials", "1"]);
    let us = free["explain_us"].as_f64().expect("the summary has the cost");
    assert!(us > 0.0 && meta["explain_us"].as_f64() == Some(us), "{free}");
    assert_eq!(meta["max_depth"], 6, "the set asked for is depth 6: {meta}");
    let cap = us / 4.0;
    let (capped, meta) = train("capped", &["--trials", "4", "--max-explain-us", &cap.to_string()]);
    assert!(meta["max_depth"].as_u64().unwrap() < 6, "the cap {cap} us left {meta}");
    assert!(capped["explain_us"].as_f64().unwrap() < us, "{capped}");
    let (ok, _, err) = run(&["train", "--data", s(&data), "--output", s(&d.path().join("x")), "--max-explain-us", "0"]);
    assert!(!ok && err.contains("microseconds"), "{err}");
}

/// A table spilled to disk while training trains the model it trains in memory, byte for byte,
/// and leaves no spilled file behind.
#[test]
fn a_spilled_table_trains_the_same_model_as_one_in_memory() {
    let d = tmp();
    let data = synth(d.path(), 4000, 5);
    let spill = d.path().join("spill");
    let (memory, disk) = (d.path().join("memory"), d.path().join("disk"));
    let common = ["--trials", "3", "--time-budget", "0", "--threads", "2", "--no-track"];
    run_ok(&[&["train", "--data", s(&data), "--output", s(&memory), "--in-memory"][..], &common[..]].concat());
    run_ok(&[&["train", "--data", s(&data), "--output", s(&disk), "--spill-dir", s(&spill)][..], &common[..]].concat());
    let read = |p: &std::path::Path| std::fs::read(p.join("model.ubj")).unwrap();
    assert_eq!(read(&memory), read(&disk));
    let eval = |p: &std::path::Path| std::fs::read_to_string(p.join("churn").join("evaluation.json")).unwrap();
    assert_eq!(eval(&memory), eval(&disk));
    assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 0, "the spilled table is removed");
}

/// `--data` takes a folder of Parquet parts or a glob of them, read in name order as one table:
/// the model is the one trained on the parts' rows in one CSV file, and a part that does not
/// share the others' header is named.
#[test]
fn a_folder_or_glob_of_parquet_parts_trains_as_one_table() {
    let d = tmp();
    let parts = d.path().join("parts");
    std::fs::create_dir_all(&parts).unwrap();
    let mut csv = String::new();
    for k in 0..3u64 {
        let part = parts.join(format!("p-{k}.parquet"));
        run_ok(&["synth", "--rows", "1500", "--seed", &(40 + k).to_string(), "--output", s(&part)]);
        let text = std::fs::read_to_string(synth(d.path(), 1500, 40 + k)).unwrap();
        let skip = if k == 0 { 0 } else { 1 };
        csv.extend(text.lines().skip(skip).map(|l| format!("{l}\n")));
    }
    let whole = d.path().join("whole.csv");
    std::fs::write(&whole, csv).unwrap();
    let glob = parts.join("p-*.parquet");
    let model = |data: &std::path::Path, name: &str| {
        let out = d.path().join(name);
        run_ok(&["train", "--data", s(data), "--output", s(&out), "--trials", "0", "--threads", "1", "--no-track"]);
        std::fs::read(out.join("model.ubj")).unwrap()
    };
    let from_folder = model(&parts, "folder");
    assert_eq!(from_folder, model(&glob, "glob"));
    assert_eq!(from_folder, model(&whole, "csv"));
    let meta = churn::bundle::open(&d.path().join("folder")).unwrap().metadata.unwrap();
    assert_eq!(meta.data.rows, 4500);

    std::fs::write(parts.join("p-9.csv"), "customerID,tenure\nx,1\n").unwrap();
    let (ok, _, err) = run(&["train", "--data", s(&parts), "--output", s(&d.path().join("bad")), "--no-track"]);
    assert!(!ok && err.contains("p-9.csv") && err.contains("share one header"), "{err}");
}

/// When the training matrices would not fit in the memory available (here capped by
/// CHURN_MEMORY_LIMIT), XGBoost's external memory is chosen and said, and trains a model as good;
/// `--external-memory DIR` asks for it. Its files are gone afterwards.
#[test]
fn external_memory_is_chosen_when_the_matrix_would_not_fit_and_said() {
    let d = tmp();
    let data = synth(d.path(), 6000, 8);
    let score = synth(d.path(), 3000, 9);
    let train = |out: &str, envs: &[(&str, &str)], more: &[&str]| {
        let out = d.path().join(out);
        let o = churn()
            .args(["train", "--data", s(&data), "--output", s(&out), "--trials", "0", "--threads", "1", "--no-track"])
            .args(more)
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{err}");
        (roc_auc_on(&out, &score), err)
    };
    let (plain, said) = train("plain", &[], &[]);
    assert!(!said.contains("external memory"), "{said}");
    let (capped, said) = train("capped", &[("CHURN_MEMORY_LIMIT", "100K")], &[]);
    assert!(said.contains("external memory") && said.contains("--external-memory DIR"), "{said}");
    assert!((plain - capped).abs() < 0.002, "{plain} against {capped}");
    let cache = d.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let (asked, _) = train("asked", &[], &["--external-memory", s(&cache)]);
    assert!((plain - asked).abs() < 0.002, "{plain} against {asked}");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
    assert!(std::fs::read_dir(d.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".churn-")));
}

/// The shipped model learns from every row: after the held-out rows are scored by the model that
/// did not see them, the same plan is fitted again on the whole table. The held-out figures are
/// the first model's either way; the bundle, the report and the output say which model shipped.
#[test]
fn the_refit_ships_a_model_of_every_row_and_keeps_the_held_out_figures() {
    let d = tmp();
    let data = synth(d.path(), 3000, 12);
    let train = |refit: &str| {
        let out = d.path().join(refit);
        let stdout = run_ok(&[
            "train",
            "--data",
            s(&data),
            "--output",
            s(&out),
            "--trials",
            "0",
            "--no-track",
            "--refit",
            refit,
        ]);
        (churn::bundle::open(&out).unwrap(), stdout)
    };
    let (all, said) = train("all");
    let (none, _) = train("none");
    let (meta_all, meta_none) = (all.metadata.clone().unwrap(), none.metadata.clone().unwrap());
    assert_eq!(meta_all.data.refit_rows, Some(3000));
    assert_eq!(meta_none.data.refit_rows, None);
    assert_eq!(meta_all.data.train_rows, meta_none.data.train_rows);
    assert!(said.contains("then refit on all 3000"), "{said}");
    let (ea, en) = (all.evaluation.clone().unwrap(), none.evaluation.clone().unwrap());
    assert_eq!(ea.held_out.metrics, en.held_out.metrics, "the held-out rows score the model that did not see them");
    assert_eq!(meta_all.threshold, meta_none.threshold, "chosen out of fold either way");
    let model = |p: &str| std::fs::read(d.path().join(p).join("model.ubj")).unwrap();
    assert_ne!(model("all"), model("none"), "the shipped model learnt from more rows");
    let report = std::fs::read_to_string(d.path().join("all/report/report.html")).unwrap();
    assert!(report.contains("refit on all 3000"), "the report says which model shipped");
    // Tables up to a million rows refit by default.
    let (auto, _) = train("auto");
    assert_eq!(auto.metadata.unwrap().data.refit_rows, Some(3000));
}
