//! `kill -9` at any moment of `churn predict` or `churn train` (which tracks its run) leaves no
//! output that looks complete but is not: a scored file is whole or absent, a bundle opens
//! whole or is absent, and every run the MLflow database calls FINISHED has its model.

use crate::support::*;
use std::path::Path;
use std::time::Duration;

/// A pseudo-random delay in [0, max_ms): the kill lands at a different point each round.
fn delay(round: u64, max_ms: u64) -> Duration {
    let mut x = round.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xDEAD_BEEF;
    x ^= x >> 29;
    Duration::from_millis(x % max_ms)
}

fn kill_after(mut cmd: std::process::Command, after: Duration) -> bool {
    let mut child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    std::thread::sleep(after);
    let finished = matches!(child.try_wait(), Ok(Some(_)));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
    finished
}

fn lines(p: &Path) -> usize {
    std::fs::read_to_string(p).unwrap().lines().count()
}

#[test]
fn killed_batch_scoring_leaves_a_whole_file_or_none() {
    let d = tmp();
    let data = synth(d.path(), 150_000, 3);
    let model = d.path().join("model");
    run_ok(&["train", "--data", s(&synth(d.path(), 2000, 4)), "--output", s(&model), "--trials", "0", "--no-track"]);
    let out = d.path().join("scored.csv");
    let (mut whole, mut absent) = (0, 0);
    for round in 0..12 {
        let _ = std::fs::remove_file(&out);
        let mut cmd = churn();
        cmd.args(["predict", "--model", s(&model), "--input", s(&data), "--output", s(&out), "--explain", "2"]);
        kill_after(cmd, delay(round, 900));
        if out.exists() {
            assert_eq!(lines(&out), 150_001, "round {round}: a scored file that looks complete but is not");
            whole += 1;
        } else {
            absent += 1;
        }
    }
    // The next run says what it found, and finishes.
    let (ok, _, err) = run(&["predict", "--model", s(&model), "--input", s(&data), "--output", s(&out)]);
    assert!(ok, "{err}");
    assert_eq!(lines(&out), 150_001);
    let leftovers: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".scored.csv.part-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    eprintln!("killed runs: {whole} had finished, {absent} left no file");
}

#[test]
fn killed_training_leaves_a_whole_bundle_or_none_and_no_finished_run_without_its_model() {
    let d = tmp();
    let data = synth(d.path(), 3000, 5);
    let model = d.path().join("model");
    let db = d.path().join("mlflow.db");
    let uri = format!("sqlite:///{}", db.display());
    for round in 0..10 {
        let mut cmd = churn();
        cmd.args(["train", "--data", s(&data), "--output", s(&model), "--trials", "0", "--tracking-uri", &uri]);
        kill_after(cmd, delay(round, 1500));
        if model.exists() {
            let m = churn::bundle::open(&model).unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert!(m.metadata.is_some() && m.evaluation.is_some() && m.profile.is_some(), "round {round}");
        }
    }
    // Whatever was killed, the database (if one was made) opens, and a finished run has its
    // model's files.
    run_ok(&["train", "--data", s(&data), "--output", s(&model), "--trials", "0", "--tracking-uri", &uri]);
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = conn
        .prepare("SELECT r.run_uuid, m.artifact_location, m.status FROM runs r JOIN logged_models m ON m.source_run_id = r.run_uuid WHERE r.status = 'FINISHED'")
        .unwrap();
    let rows: Vec<(String, String, i64)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(|r| r.unwrap()).collect();
    assert!(!rows.is_empty());
    for (run, location, status) in &rows {
        assert_eq!(*status, 2, "run {run} is FINISHED but its model is not READY");
        assert!(Path::new(location).join("model.ubj").is_file(), "run {run}: no model.ubj in {location}");
    }
    assert!(churn::bundle::open(&model).is_ok());
}

/// `kill -9` at any moment of `churn challenge --promote` never leaves the champion's alias on
/// a version whose evidence is not recorded: the evidence goes first, in one transaction.
#[test]
fn a_killed_promotion_never_leaves_the_alias_without_its_evidence() {
    let d = tmp();
    let base = d.path().join("base.db");
    let tracking = format!("sqlite:///{}", base.display());
    for (rows, seed, alias) in [(600u64, 71u64, Some("champion")), (8000, 72, None)] {
        let data = synth(d.path(), rows, seed);
        let mut args = vec![
            "train".to_string(),
            "--data".into(),
            s(&data).into(),
            "--output".into(),
            s(&d.path().join(format!("m{seed}"))).into(),
            "--trials".into(),
            "0".into(),
            "--tracking-uri".into(),
            tracking.clone(),
            "--register".into(),
            "churn".into(),
        ];
        if let Some(a) = alias {
            args.extend(["--alias".to_string(), a.to_string()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run_ok(&refs);
    }
    let fresh = synth(d.path(), 4000, 73);
    let (mut promoted, mut stayed) = (0, 0);
    for round in 0..10 {
        let db = d.path().join(format!("round-{round}.db"));
        std::fs::copy(&base, &db).unwrap();
        let mut cmd = churn();
        cmd.args(["challenge", "--champion", "models:/churn@champion", "--challenger", "models:/churn/2", "--data"])
            .arg(&fresh)
            .args(["--promote", "--bootstrap", "2000", "--tracking-uri", &format!("sqlite:///{}", db.display())]);
        kill_after(cmd, delay(round, 1500));
        let conn = rusqlite::Connection::open(&db).unwrap();
        let champion: i64 = conn
            .query_row(
                "SELECT version FROM registered_model_aliases WHERE name = 'churn' AND alias = 'champion'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let evidence: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM model_version_tags WHERE name = 'churn' AND version = 2 AND key = 'churn.challenge.decision'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if champion == 2 {
            assert_eq!(evidence, 1, "round {round}: @champion moved to version 2 without its evidence");
            promoted += 1;
        } else {
            assert_eq!(champion, 1, "round {round}");
            stayed += 1;
        }
    }
    eprintln!("killed promotions: {promoted} moved the alias, {stayed} left it");
    assert_eq!(promoted + stayed, 10);
}
