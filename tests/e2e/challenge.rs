//! `churn challenge`: a challenger trained on more customers is promoted (the champion's alias
//! moves to it, with the evidence on its version first), a weaker one is refused (it gets the
//! alias `challenger`, the champion stays), and the output says why. Against the default SQLite
//! store; the integration tier repeats it against a tracking server with Python reading it back.

use crate::support::*;
use serde_json::Value;

pub fn challenge(tracking: &str, champion: &str, challenger: &str, data: &std::path::Path) -> (bool, Value, String) {
    let (ok, out, err) = run(&[
        "challenge",
        "--champion",
        champion,
        "--challenger",
        challenger,
        "--data",
        s(data),
        "--promote",
        "--json",
        "--bootstrap",
        "300",
        "--tracking-uri",
        tracking,
    ]);
    (ok, serde_json::from_str(&out).unwrap_or(Value::Null), err)
}

pub fn probabilities(tracking: &str, model: &str, data: &std::path::Path, out: &std::path::Path) -> Vec<f64> {
    run_ok(&["predict", "--model", model, "--input", s(data), "--output", s(out), "--tracking-uri", tracking]);
    csv_column(out, "churn_probability")
}

#[test]
fn a_stronger_challenger_is_promoted_and_a_weaker_one_is_not() {
    let d = tmp();
    let tracking = format!("sqlite:///{}", d.path().join("mlflow.db").display());
    let weak = register_version(d.path(), &tracking, 600, 51, Some("champion"));
    let strong = register_version(d.path(), &tracking, 8000, 52, None);
    let fresh = synth(d.path(), 4000, 53);
    let scored = d.path().join("scored.csv");
    let strong_probs = probabilities(&tracking, &format!("models:/churn/{strong}"), &fresh, &scored);

    let (ok, r, err) = challenge(&tracking, "models:/churn@champion", &format!("models:/churn/{strong}"), &fresh);
    assert!(ok, "{err}");
    assert_eq!(r["winner"], "challenger", "{r}");
    assert_eq!((r["promoted"].as_bool(), r["alias"].as_str()), (Some(true), Some("champion")), "{r}");
    assert_eq!(r["champion"]["version"], weak.as_str());
    assert!(
        r["delta_roc_auc"]["low"].as_f64().unwrap() > 0.0 || r["delta_log_loss"]["high"].as_f64().unwrap() < 0.0,
        "{r}"
    );
    assert_eq!(
        probabilities(&tracking, "models:/churn@champion", &fresh, &scored),
        strong_probs,
        "@champion is the strong one"
    );

    // The weak version challenges the new champion: refused, with the reason, and @challenger.
    let (ok, r, err) = challenge(&tracking, "models:/churn@champion", &format!("models:/churn/{weak}"), &fresh);
    assert!(ok, "{err}");
    assert_eq!(r["winner"], "champion", "{r}");
    assert_eq!((r["promoted"].as_bool(), r["alias"].as_str()), (Some(false), Some("challenger")), "{r}");
    assert!(r["reasons"][0].as_str().unwrap().contains("worse"), "{r}");
    assert_eq!(
        probabilities(&tracking, "models:/churn@champion", &fresh, &scored),
        strong_probs,
        "the champion stayed"
    );
    assert_ne!(probabilities(&tracking, "models:/churn@challenger", &fresh, &scored), strong_probs);

    // --promote moves an alias: a champion given by version is refused, naming the form.
    let (ok, _, err) =
        challenge(&tracking, &format!("models:/churn/{strong}"), &format!("models:/churn/{weak}"), &fresh);
    assert!(!ok && err.contains("models:/<name>@<alias>"), "{err}");
}

/// A server started with `--watch-seconds` on `models:/churn@champion` follows a promotion by
/// itself: once `churn challenge --promote` moves the alias, `GET /` names the new version.
#[test]
fn a_watching_server_follows_the_promoted_champion() {
    let d = tmp();
    let tracking = format!("sqlite:///{}", d.path().join("mlflow.db").display());
    let weak = register_version(d.path(), &tracking, 600, 81, Some("champion"));
    let strong = register_version(d.path(), &tracking, 8000, 82, None);
    let srv = Server::start(
        "models:/churn@champion",
        &["--quiet", "--watch-seconds", "1"],
        &[("MLFLOW_TRACKING_URI", tracking.as_str())],
    );
    let version = || get_json(&srv, "/").1["model"]["version"].as_str().map(str::to_string);
    assert_eq!(version().as_deref(), Some(weak.as_str()));
    let fresh = synth(d.path(), 4000, 83);
    let (ok, r, err) = challenge(&tracking, "models:/churn@champion", &format!("models:/churn/{strong}"), &fresh);
    assert!(ok && r["promoted"] == true, "{err} {r}");
    let start = std::time::Instant::now();
    while version().as_deref() != Some(strong.as_str()) {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "the server still serves {:?}", version());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
