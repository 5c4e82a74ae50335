//! The training report: written by `churn train` into the bundle (HTML + one PNG per chart),
//! rebuilt by `churn report`, served at /report, and drawn completely in headless Chromium
//! with no request leaving the file.

use crate::support::*;

const CHARTS: [&str; 9] = ["roc", "pr", "calibration", "gains", "lift", "profit", "confusion", "importance", "scores"];

#[test]
fn train_writes_a_self_contained_report_and_serves_it() {
    let d = tmp();
    let data = synth(d.path(), 2500, 17);
    let bundle = d.path().join("bundle");
    run_ok(&[
        "train",
        "--data",
        s(&data),
        "--output",
        s(&bundle),
        "--trials",
        "0",
        "--no-track",
        "--offer-cost",
        "15",
        "--customer-value",
        "300",
    ]);
    let html = std::fs::read_to_string(bundle.join("report/report.html")).unwrap();
    for c in CHARTS {
        assert!(html.contains(&format!("id=\"chart-{c}\"")), "chart {c} missing");
        let png = std::fs::read(bundle.join(format!("report/{c}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{c}.png is not a PNG");
    }
    assert!(
        !html.contains("http://")
            || html.matches("http://").all(|_| html.contains("xmlns=\"http://www.w3.org/2000/svg\""))
    );
    assert!(
        !html.contains("<script") && !html.contains("src=") && !html.contains("<link"),
        "the report must not load anything"
    );
    assert!(
        html.contains("offer cost 15") && html.contains("profit-optimal"),
        "the profit chart uses the model's own economics"
    );

    // `churn report` rebuilds it elsewhere, with other economics.
    let out = d.path().join("again");
    run_ok(&["report", "--model", s(&bundle), "--output", s(&out), "--offer-cost", "5", "--customer-value", "50"]);
    assert!(std::fs::read_to_string(out.join("report.html")).unwrap().contains("offer cost of 5"));

    // Served at /report, drawn by Chromium with no failed request.
    let srv = Server::start(s(&bundle), &["--quiet"], &[]);
    let (st, _, _) = call("GET", &srv.url("/report"), None, b"", &[]);
    assert_eq!(st, 200);
    assert_eq!(call("GET", &srv.url("/report/roc.png"), None, b"", &[]).0, 200);
    assert_eq!(call("GET", &srv.url("/report/..%2Fmodel.ubj"), None, b"", &[]).0, 404);
    // The model card links to it.
    let (_, _, card) = call("GET", &srv.url("/model"), None, b"", &[]);
    assert!(String::from_utf8_lossy(&card).contains("\"report\":\"/report\""));
}

#[test]
fn a_model_without_churn_evaluation_gets_a_clear_message() {
    let d = tmp();
    let dir = d.path().join("foreign");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.json"), include_str!("../../src/forest/testdata/tiny_model.json")).unwrap();
    let (ok, _, err) = run(&["report", "--model", s(&dir)]);
    assert!(!ok && err.contains("not trained by churn"), "{err}");
}
